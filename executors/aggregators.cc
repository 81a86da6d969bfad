// Implementation notes. The structure of an accumulator is a preorder
// (depth-first) vector of nodes; a value is matched against it by one
// iterative walk that visits the value's elements in the same order, so a
// node's index advances with the walk and no recursion or string is needed
// unless something differs. Paths for messages are rebuilt from the parent
// links of the node at fault. Secure sums keep int64 running sums (the
// leaf dtype stays in the structure) and their bounds as unsigned inclusive
// limits: M itself, 2^B - 1 for a bit width B, or M - 1 for a modulus M.
// The secure sums are in aggregators_secure.cc; the structures and the
// class that reads the accumulator's insides in aggregators_internal.h.
#include "executors/aggregators.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/large_stack.h"
#include "core/status.h"
#include "executors/aggregators_internal.h"
#include "runtimes/native/kernels.h"

namespace fedexec::exec {
namespace aggregators_internal {

using Elements = std::vector<StructValue::Element>;

// AggregateOpName as a std::string, for absl::StrCat (this Abseil's
// string_view is not std::string_view).
std::string OpStr(AggregateOp op) { return std::string(AggregateOpName(op)); }

bool IsSecure(AggregateOp op) {
  return op == AggregateOp::kSecureSum ||
         op == AggregateOp::kSecureSumBitwidth ||
         op == AggregateOp::kSecureModularSum;
}

// The name of a secure op's bound, for messages.
const char* BoundLabel(AggregateOp op) {
  switch (op) {
    case AggregateOp::kSecureSumBitwidth:
      return "bit width B";
    case AggregateOp::kSecureModularSum:
      return "modulus M";
    default:
      return "bound M";
  }
}

// The function that folds values of a secure op.
const char* SecureFoldName(AggregateOp op) {
  switch (op) {
    case AggregateOp::kSecureSumBitwidth:
      return "FoldBitwidth";
    case AggregateOp::kSecureModularSum:
      return "FoldModular";
    default:
      return "FoldSecure";
  }
}

// The SecureBound constructor of a secure op.
const char* SecureBoundMaker(AggregateOp op) {
  switch (op) {
    case AggregateOp::kSecureSumBitwidth:
      return "ForBitwidth";
    case AggregateOp::kSecureModularSum:
      return "ForModularSum";
    default:
      return "ForSecureSum";
  }
}

// The start of every message of `op`: its intrinsic for the secure ops,
// nothing for the plain ones (the caller names the intrinsic).
std::string Head(AggregateOp op) {
  return IsSecure(op) ? absl::StrCat(OpStr(op), ": ") : "";
}

std::string PathPrefix(const std::string& path) {
  return path.empty() ? "" : absl::StrCat("at ", path, ": ");
}

std::string ElementStep(const std::string& name, size_t position) {
  return name.empty() ? absl::StrCat("[", position, "]")
                      : absl::StrCat(".", name);
}

// The path of node i ("" for the root, or when there is no layout: i < 0).
std::string LayoutPath(const Accumulator& acc, int32_t i);

std::string TypeStr(DType dtype, const std::vector<int64_t>& shape) {
  if (shape.empty()) return std::string(DTypeName(dtype));
  return absl::StrCat(std::string(DTypeName(dtype)), ShapeString(shape));
}

std::string StructOf(size_t n) {
  return absl::StrCat("a struct of ", n, n == 1 ? " element" : " elements");
}

std::string DescribeValue(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kTensor:
      return v.tensor().valid() ? v.tensor().TypeString() : "an empty tensor";
    case Value::Kind::kStruct:
      return StructOf(v.struct_value().elements.size());
    case Value::Kind::kSequence:
      return "a sequence";
    case Value::Kind::kFederated:
      return "a federated value";
    default:
      return "a value that is neither a tensor nor a struct";
  }
}

// The " at PATH element I" part of a message about one element ("" for
// the only element of a top-level scalar).
std::string Location(const std::string& path, int rank, int64_t element) {
  std::string out;
  if (!path.empty() || rank > 0) out = " at ";
  out += path;
  if (rank > 0) {
    absl::StrAppend(&out, path.empty() ? "" : " ", "element ", element);
  }
  return out;
}

// Element i of an integer tensor, printed.
std::string IntElementString(const Tensor& t, int64_t i) {
  return VisitDType(t.dtype(), [&](auto tag) -> std::string {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      const T v = t.data<T>()[static_cast<size_t>(i)];
      if constexpr (std::is_signed_v<T>) {
        return absl::StrCat(static_cast<int64_t>(v));
      } else {
        return absl::StrCat(static_cast<uint64_t>(v));
      }
    } else {
      return "?";
    }
  });
}

// "[0, 10]" for a secure sum, "[0, 8) (bit width 3)" for a bit width,
// "[0, 7)" for a modulus.
std::string RangeString(AggregateOp op, uint64_t limit) {
  if (op == AggregateOp::kSecureSumBitwidth) {
    return absl::StrCat("[0, ", limit + 1, ") (bit width ",
                        std::popcount(limit), ")");
  }
  if (op == AggregateOp::kSecureModularSum) {
    return absl::StrCat("[0, ", limit + 1, ")");
  }
  return absl::StrCat("[0, ", limit, "]");
}

absl::Status UnusableError() {
  return absl::FailedPreconditionError(
      "the accumulator is unusable after an earlier error");
}

absl::Status OpMismatch(const char* verb, AggregateOp op, AggregateOp held) {
  return absl::FailedPreconditionError(
      absl::StrCat("cannot ", verb, " a ", OpStr(op),
                   " into an accumulator of a ", OpStr(held)));
}

absl::Status CheckWeight(double weight) {
  if (std::isnan(weight)) {
    return absl::InvalidArgumentError("weight nan is not a number");
  }
  if (weight < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight ", weight, " is negative"));
  }
  if (std::isinf(weight)) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight ", weight, " is not finite"));
  }
  return absl::OkStatus();
}

// Why a leaf of `dtype` cannot take part in `op` ("" when it can).
std::string LeafDTypeProblem(AggregateOp op, DType dtype) {
  switch (op) {
    case AggregateOp::kSum:
    case AggregateOp::kWeightedSum:
      if (IsNumeric(dtype)) return "";
      return absl::StrCat(OpStr(op), " needs numeric tensors");
    case AggregateOp::kMin:
    case AggregateOp::kMax:
      if (IsInteger(dtype) || IsFloating(dtype)) return "";
      return absl::StrCat(OpStr(op),
                          " needs integer or floating-point tensors");
    case AggregateOp::kSecureSum:
    case AggregateOp::kSecureSumBitwidth:
    case AggregateOp::kSecureModularSum:
      if (IsInteger(dtype)) return "";
      return "expected an integer tensor";
  }
  return "unknown op";
}

// A kernel's error about the leaf at node `node`: the kernel's name is
// replaced by the op's head and the path.
absl::Status KernelError(AggregateOp op, const Accumulator& acc, int32_t node,
                         const absl::Status& status) {
  std::string message(status.message());
  const size_t colon = message.find(": ");
  if (colon != std::string::npos &&
      (message.rfind("Accumulate", 0) == 0 || message.rfind("scale", 0) == 0)) {
    message = message.substr(colon + 2);
  }
  return absl::Status(
      status.code(),
      absl::StrCat(Head(op), PathPrefix(LayoutPath(acc, node)), message));
}

std::string LayoutPath(const Accumulator& acc, int32_t i) {
  return Access::Path(acc, i);
}

// ------------------------------------------------------------------ Access

SecureBound Access::MakeBound(std::shared_ptr<const BoundRep> rep) {
  return SecureBound(std::move(rep));
}

void Access::Poison(Accumulator& acc) {
  acc.Reset();
  acc.failed_ = true;
}

std::string Access::Path(const Accumulator& acc, int32_t i) {
  if (acc.layout_ == nullptr || i <= 0) return "";
  const std::vector<LayoutNode>& nodes = acc.layout_->nodes;
  std::vector<int32_t> chain;
  for (; i > 0; i = nodes[static_cast<size_t>(i)].parent) chain.push_back(i);
  std::string path;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const LayoutNode& n = nodes[static_cast<size_t>(*it)];
    path += ElementStep(n.name, static_cast<size_t>(n.position));
  }
  return path;
}

// The node of leaf l (-1 without a layout). For messages only.
int32_t Access::NodeOfLeaf(const Accumulator& acc, size_t l) {
  if (acc.layout_ == nullptr) return -1;
  const std::vector<LayoutNode>& nodes = acc.layout_->nodes;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].leaf == static_cast<int32_t>(l)) {
      return static_cast<int32_t>(i);
    }
  }
  return -1;
}

// The values' dtype of the leaf at `node` (-1: the single tensor).
DType Access::LeafDType(const Accumulator& acc, int32_t node) {
  return node < 0 ? acc.dtype_
                  : acc.layout_->nodes[static_cast<size_t>(node)].dtype;
}

// What node i (-1: the single tensor) expects, for messages.
std::string Access::DescribeNode(const Accumulator& acc, int32_t i) {
  if (i < 0) return TypeStr(acc.dtype_, acc.leaves_[0].shape());
  const LayoutNode& n = acc.layout_->nodes[static_cast<size_t>(i)];
  if (n.num_children >= 0) {
    return StructOf(static_cast<size_t>(n.num_children));
  }
  return TypeStr(n.dtype, acc.leaves_[static_cast<size_t>(n.leaf)].shape());
}

absl::Status Access::Mismatch(AggregateOp op, const Accumulator& acc, int32_t i,
                              const std::string& found) {
  return absl::InvalidArgumentError(
      absl::StrCat(Head(op), PathPrefix(Path(acc, i)), "expected ",
                   DescribeNode(acc, i), ", found ", found));
}

absl::Status Access::NameMismatch(AggregateOp op, const Accumulator& acc,
                                  int32_t parent, size_t position,
                                  const std::string& found,
                                  const std::string& expected) {
  std::string what =
      found.empty()
          ? absl::StrCat("element ", position, " has no name")
          : absl::StrCat("element ", position, " is named '", found, "'");
  return absl::InvalidArgumentError(
      absl::StrCat(Head(op), PathPrefix(Path(acc, parent)), what, ", expected ",
                   expected.empty() ? std::string("no name")
                                    : absl::StrCat("'", expected, "'")));
}

// ------------------------------------------------------------ plain ops

absl::Status Access::FoldPlain(AggregateOp op, Accumulator& acc, const Value& x,
                               double weight) {
  if (IsSecure(op)) {
    return absl::FailedPreconditionError(
        absl::StrCat(OpStr(op), " folds through ", SecureFoldName(op)));
  }
  if (op == AggregateOp::kWeightedSum) {
    FEDEXEC_RETURN_IF_ERROR(CheckWeight(weight));
  }
  if (acc.empty()) {
    if (op != AggregateOp::kWeightedSum) {
      FEDEXEC_RETURN_IF_ERROR(Adopt(op, acc, x, [](const Tensor& t) {
        return MutableTensor::CopyOf(t);
      }));
      acc.count_ = 1;
      acc.total_weight_ = 1;
      return absl::OkStatus();
    }
    // weight * x: start from zeros and fold below.
    FEDEXEC_RETURN_IF_ERROR(Adopt(op, acc, x, [](const Tensor& t) {
      return MutableTensor::Zeros(t.dtype(), t.shape());
    }));
  } else if (acc.op_ != op) [[unlikely]] {
    return OpMismatch("fold", op, acc.op_);
  }
  FEDEXEC_RETURN_IF_ERROR(ForEachLeaf(
      op, acc, x,
      [&](size_t leaf, const Tensor& t, int32_t node) -> absl::Status {
        MutableTensor& a = acc.leaves_[leaf];
        absl::Status s;
        switch (op) {
          case AggregateOp::kSum:
            s = native::AccumulateAdd(a, t);
            break;
          case AggregateOp::kWeightedSum:
            s = native::AccumulateScaledAdd(a, t, weight);
            break;
          case AggregateOp::kMin:
            s = native::AccumulateMin(a, t);
            break;
          case AggregateOp::kMax:
            s = native::AccumulateMax(a, t);
            break;
          default:
            break;
        }
        if (!s.ok()) [[unlikely]] {
          return KernelError(op, acc, node, s);
        }
        return absl::OkStatus();
      }));
  ++acc.count_;
  acc.total_weight_ += op == AggregateOp::kWeightedSum ? weight : 1.0;
  return absl::OkStatus();
}

absl::Status Access::Fold(AggregateOp op, Accumulator& acc, const Value& x,
                          double weight) {
  if (acc.failed_) return UnusableError();
  absl::Status s = FoldPlain(op, acc, x, weight);
  if (!s.ok()) [[unlikely]] {
    Poison(acc);
  }
  return s;
}

// ------------------------------------------------------- block folds

// The range kernel of a plain op on leaf `leaf`, elements [begin, end).
absl::Status Access::FoldRange(AggregateOp op, MutableTensor& a,
                               const Tensor& t, double weight, int64_t begin,
                               int64_t end) {
  switch (op) {
    case AggregateOp::kSum:
      return native::AccumulateAddRange(a, t, begin, end);
    case AggregateOp::kWeightedSum:
      return native::AccumulateScaledAddRange(a, t, weight, begin, end);
    case AggregateOp::kMin:
      return native::AccumulateMinRange(a, t, begin, end);
    case AggregateOp::kMax:
      return native::AccumulateMaxRange(a, t, begin, end);
    default:
      return absl::InternalError("not a plain op");
  }
}

// Fold of xs[i] (weights[i]) for i in order, stopping at the first error.
absl::Status Access::FoldEach(AggregateOp op, Accumulator& acc,
                              absl::Span<const Value* const> xs,
                              absl::Span<const double> weights,
                              int64_t* failed_index) {
  for (size_t i = 0; i < xs.size(); ++i) {
    absl::Status s = Fold(op, acc, *xs[i], weights.empty() ? 1.0 : weights[i]);
    if (!s.ok()) [[unlikely]] {
      if (failed_index != nullptr) *failed_index = static_cast<int64_t>(i);
      return s;
    }
  }
  return absl::OkStatus();
}

// The tiled fold. Every x is checked first (weight, structure, and each
// leaf's kernel checks through an empty range): only when all would fold
// does it write anything; otherwise acc is restored and FoldEach
// reproduces the sequential outcome exactly, error included. Then each
// leaf tile by tile: the copy of xs[0] (or zeros) when acc was empty,
// and the many-operand kernel over the other values' tiles.
absl::Status Access::FoldBlock(AggregateOp op, Accumulator& acc,
                               absl::Span<const Value* const> xs,
                               absl::Span<const double> weights,
                               int64_t* failed_index) {
  if (failed_index != nullptr) *failed_index = -1;
  if (!weights.empty() && weights.size() != xs.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "FoldBlock: ", weights.size(), " weights for ", xs.size(), " values"));
  }
  if (xs.empty()) return absl::OkStatus();
  if (acc.failed_ || IsSecure(op) || (!acc.empty() && acc.op_ != op)) {
    return FoldEach(op, acc, xs, weights, failed_index);
  }
  const bool weighted = op == AggregateOp::kWeightedSum;
  auto weight_of = [&](size_t i) { return weights.empty() ? 1.0 : weights[i]; };
  // An empty acc adopts xs[0]'s structure with uninitialized leaves; the
  // tiles below fill them (a copy of xs[0], or zeros for a weighted sum).
  const bool adopted = acc.empty();
  if (adopted) {
    if (weighted && !CheckWeight(weight_of(0)).ok()) {
      return FoldEach(op, acc, xs, weights, failed_index);
    }
    if (!Adopt(op, acc, *xs[0], [](const Tensor& t) {
           return MutableTensor::Uninitialized(t.dtype(), t.shape());
         }).ok()) {
      acc.Reset();
      return FoldEach(op, acc, xs, weights, failed_index);
    }
  }
  const size_t num_leaves = acc.leaves_.size();
  const size_t count = xs.size();
  // tensors[l * count + i]: leaf l of xs[i].
  absl::InlinedVector<const Tensor*, 32> tensors(count * num_leaves, nullptr);
  bool ok = true;
  for (size_t i = 0; i < count && ok; ++i) {
    const double w = weight_of(i);
    if (weighted && !CheckWeight(w).ok()) {
      ok = false;
      break;
    }
    ok =
        ForEachLeaf(op, acc, *xs[i],
                    [&](size_t leaf, const Tensor& t, int32_t) -> absl::Status {
                      tensors[leaf * count + i] = &t;
                      return FoldRange(op, acc.leaves_[leaf], t, w, 0, 0);
                    })
            .ok();
  }
  if (!ok) {
    if (adopted) acc.Reset();
    return FoldEach(op, acc, xs, weights, failed_index);
  }
  absl::InlinedVector<double, 16> ws(count);
  for (size_t i = 0; i < count; ++i) ws[i] = weight_of(i);
  // An adopted plain op starts from a copy of xs[0]; the others fold all.
  const size_t first = adopted && !weighted ? 1 : 0;
  for (size_t l = 0; l < num_leaves; ++l) {
    MutableTensor& a = acc.leaves_[l];
    const int64_t n = a.num_elements();
    const size_t element = DTypeSize(a.dtype());
    const int64_t tile = std::max<int64_t>(
        1, kFoldBlockTileBytes / static_cast<int64_t>(element));
    char* bytes = static_cast<char*>(a.raw_mutable_data());
    const absl::Span<const Tensor* const> leaf_xs =
        absl::MakeConstSpan(tensors).subspan(l * count + first, count - first);
    for (int64_t begin = 0; begin < n; begin += tile) {
      const int64_t end = std::min(n, begin + tile);
      if (adopted) {
        char* dst = bytes + static_cast<size_t>(begin) * element;
        const size_t size = static_cast<size_t>(end - begin) * element;
        if (weighted) {
          std::memset(dst, 0, size);  // the zero of every numeric dtype
        } else {
          const char* src =
              static_cast<const char*>(tensors[l * count]->raw_data());
          std::memcpy(dst, src + static_cast<size_t>(begin) * element, size);
        }
      }
      absl::Status s;
      switch (op) {
        case AggregateOp::kSum:
          s = native::AccumulateAddMany(a, leaf_xs, begin, end);
          break;
        case AggregateOp::kWeightedSum:
          s = native::AccumulateScaledAddMany(
              a, leaf_xs, absl::MakeConstSpan(ws).subspan(first), begin, end);
          break;
        case AggregateOp::kMin:
          s = native::AccumulateMinMany(a, leaf_xs, begin, end);
          break;
        case AggregateOp::kMax:
          s = native::AccumulateMaxMany(a, leaf_xs, begin, end);
          break;
        default:
          s = absl::InternalError("not a plain op");
      }
      if (!s.ok()) [[unlikely]] {
        // Every value was checked above: not expected.
        absl::Status e = KernelError(op, acc, NodeOfLeafFast(acc, l), s);
        Poison(acc);
        return e;
      }
    }
  }
  for (size_t i = 0; i < xs.size(); ++i) {
    if (adopted && i == 0 && !weighted) {
      acc.count_ = 1;
      acc.total_weight_ = 1;
      continue;
    }
    ++acc.count_;
    acc.total_weight_ += weighted ? weight_of(i) : 1.0;
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- merge

// Whether left and right (both non-empty) have the same structure.
absl::Status Access::CompareStructure(AggregateOp op, const Accumulator& l,
                                      const Accumulator& r) {
  if (l.layout_ == nullptr || r.layout_ == nullptr) {
    if (l.layout_ != nullptr || r.layout_ != nullptr) {
      return Mismatch(op, l, l.layout_ == nullptr ? -1 : 0,
                      DescribeNode(r, r.layout_ == nullptr ? -1 : 0));
    }
    if (l.dtype_ != r.dtype_ || l.leaves_[0].shape() != r.leaves_[0].shape()) {
      return Mismatch(op, l, -1, DescribeNode(r, -1));
    }
    return absl::OkStatus();
  }
  if (l.layout_ != r.layout_) {
    const std::vector<LayoutNode>& a = l.layout_->nodes;
    const std::vector<LayoutNode>& b = r.layout_->nodes;
    // Equal child counts up to node i imply equal parents and positions.
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (a[i].name != b[i].name) {
        return NameMismatch(op, l, a[i].parent,
                            static_cast<size_t>(a[i].position), b[i].name,
                            a[i].name);
      }
      if (a[i].num_children != b[i].num_children || a[i].dtype != b[i].dtype) {
        return Mismatch(op, l, static_cast<int32_t>(i),
                        DescribeNode(r, static_cast<int32_t>(i)));
      }
    }
    if (a.size() != b.size()) {  // cannot happen after the loop above
      return absl::InternalError("structures of different sizes");
    }
  }
  for (size_t leaf = 0; leaf < l.leaves_.size(); ++leaf) {
    if (l.leaves_[leaf].shape() != r.leaves_[leaf].shape()) {
      const int32_t node = NodeOfLeaf(l, leaf);
      return Mismatch(op, l, node, DescribeNode(r, node));
    }
  }
  return absl::OkStatus();
}

absl::Status Access::MergeImpl(AggregateOp op, Accumulator& left,
                               Accumulator& right) {
  if (right.empty()) return absl::OkStatus();
  if (right.op_ != op) return OpMismatch("merge", op, right.op_);
  if (left.empty()) {
    left = std::move(right);
    return absl::OkStatus();
  }
  if (left.op_ != op) return OpMismatch("merge", op, left.op_);
  FEDEXEC_RETURN_IF_ERROR(CompareStructure(op, left, right));
  if (IsSecure(op)) {
    if (op == AggregateOp::kSecureModularSum && left.bound_ != right.bound_) {
      FEDEXEC_RETURN_IF_ERROR(CheckSameLimits(left, *left.bound_,
                                              left.bound_leaf_, *right.bound_,
                                              right.bound_leaf_));
    }
    for (size_t l = 0; l < left.leaves_.size(); ++l) {
      FEDEXEC_RETURN_IF_ERROR(MergeSecureLeaf(op, left, l, right.leaves_[l]));
    }
  } else {
    for (size_t l = 0; l < left.leaves_.size(); ++l) {
      const Tensor r = std::move(right.leaves_[l]).Freeze();
      absl::Status s;
      switch (op) {
        case AggregateOp::kSum:
        case AggregateOp::kWeightedSum:
          s = native::AccumulateAdd(left.leaves_[l], r);
          break;
        case AggregateOp::kMin:
          s = native::AccumulateMin(left.leaves_[l], r);
          break;
        case AggregateOp::kMax:
          s = native::AccumulateMax(left.leaves_[l], r);
          break;
        default:
          break;
      }
      if (!s.ok()) return KernelError(op, left, NodeOfLeaf(left, l), s);
    }
  }
  left.count_ += right.count_;
  left.total_weight_ += right.total_weight_;
  return absl::OkStatus();
}

absl::Status Access::Merge(AggregateOp op, Accumulator& left,
                           Accumulator&& right) {
  absl::Status s;
  if (left.failed_ || right.failed_) {
    s = UnusableError();
  } else {
    s = MergeImpl(op, left, right);
  }
  right.Reset();
  if (!s.ok()) Poison(left);
  return s;
}

// --------------------------------------------------------------- finish

absl::Status Access::CheckFinishable(const Accumulator& acc) {
  if (acc.failed_) return UnusableError();
  if (acc.empty()) {
    return absl::FailedPreconditionError(
        "no value was folded: a sum over zero clients is the zero of the "
        "member type (ZeroOf), built by the caller");
  }
  return absl::OkStatus();
}

// NodeOfLeaf, shortcut for the single tensor.
int32_t Access::NodeOfLeafFast(const Accumulator& acc, size_t l) {
  return acc.layout_ == nullptr ? -1 : NodeOfLeaf(acc, l);
}

// Rebuilds the value from acc's structure around `tensors` (one per leaf).
Value Access::Build(const Accumulator& acc, std::vector<Tensor>& tensors) {
  if (acc.layout_ == nullptr) return Value(std::move(tensors[0]));
  const std::vector<LayoutNode>& nodes = acc.layout_->nodes;
  // Built bottom-up over the reversed preorder: when a struct node comes,
  // its children's values are on top of the stack, first child on top.
  std::vector<std::pair<int32_t, Value>> stack;
  for (size_t k = nodes.size(); k-- > 0;) {
    const LayoutNode& n = nodes[k];
    if (n.num_children < 0) {
      stack.emplace_back(
          static_cast<int32_t>(k),
          Value(std::move(tensors[static_cast<size_t>(n.leaf)])));
      continue;
    }
    const size_t count = static_cast<size_t>(n.num_children);
    std::vector<std::pair<std::string, Value>> elements;
    elements.reserve(count);
    for (size_t j = 0; j < count; ++j) {
      auto& [child, value] = stack[stack.size() - 1 - j];
      elements.emplace_back(nodes[static_cast<size_t>(child)].name,
                            std::move(value));
    }
    stack.erase(stack.end() - static_cast<ptrdiff_t>(count), stack.end());
    stack.emplace_back(static_cast<int32_t>(k),
                       Value::Struct(std::move(elements)));
  }
  return std::move(stack.back().second);
}

absl::StatusOr<Value> Access::Finish(Accumulator&& acc) {
  FEDEXEC_RETURN_IF_ERROR(CheckFinishable(acc));
  std::vector<Tensor> tensors;
  tensors.reserve(acc.leaves_.size());
  absl::Status status;
  for (size_t l = 0; l < acc.leaves_.size() && status.ok(); ++l) {
    if (IsSecure(acc.op_)) {
      absl::StatusOr<Tensor> t = SecureLeafResult(acc.op_, acc, l);
      if (t.ok()) {
        tensors.push_back(*std::move(t));
      } else {
        status = t.status();
      }
    } else {
      tensors.push_back(std::move(acc.leaves_[l]).Freeze());
    }
  }
  if (!status.ok()) {
    acc.Reset();
    return status;
  }
  Value result = Build(acc, tensors);
  acc.Reset();
  return result;
}

// t / d, d rounded to t's dtype (a real part for complex dtypes).
absl::StatusOr<Tensor> Access::DivideBy(const Tensor& t, double d) {
  FEDEXEC_ASSIGN_OR_RETURN(Tensor divisor,
                           native::Cast(Tensor::Scalar<double>(d), t.dtype()));
  return native::Divide(t, divisor);
}

absl::StatusOr<Value> Access::FinishMean(Accumulator&& acc, bool weighted) {
  absl::StatusOr<Value> result = FinishMeanImpl(acc, weighted);
  if (!acc.failed_) acc.Reset();
  return result;
}

absl::StatusOr<Value> Access::FinishMeanImpl(Accumulator& acc, bool weighted) {
  const char* name = weighted ? "federated_weighted_mean" : "federated_mean";
  if (acc.failed_) return UnusableError();
  if (acc.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " over zero clients has no result"));
  }
  const AggregateOp expected =
      weighted ? AggregateOp::kWeightedSum : AggregateOp::kSum;
  if (acc.op_ != expected) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, " needs an accumulator of a ", OpStr(expected),
                     ", not of a ", OpStr(acc.op_)));
  }
  for (size_t l = 0; l < acc.leaves_.size(); ++l) {
    const DType d = acc.leaves_[l].dtype();
    if (!IsFloating(d) && !IsComplex(d)) {
      const int32_t node = NodeOfLeafFast(acc, l);
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": ", PathPrefix(Path(acc, node)), "the mean of ",
          DescribeNode(acc, node),
          " is not defined: only floating-point and complex tensors have "
          "one"));
    }
  }
  const double denominator =
      weighted ? acc.total_weight_ : static_cast<double>(acc.count_);
  if (weighted && denominator == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": the weights sum to 0"));
  }
  if (!std::isfinite(denominator)) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": the weights sum to ", denominator, " (overflow)"));
  }
  // A division, as the mean is defined (the float32 mean of seven 1.5s
  // is 1.5), not a multiplication by the rounded reciprocal; the count or
  // total weight is first rounded to the leaf's dtype.
  std::vector<Tensor> tensors;
  tensors.reserve(acc.leaves_.size());
  for (size_t l = 0; l < acc.leaves_.size(); ++l) {
    const Tensor sum = std::move(acc.leaves_[l]).Freeze();
    absl::StatusOr<Tensor> mean = DivideBy(sum, denominator);
    if (!mean.ok()) {
      absl::Status s = KernelError(AggregateOp::kSum, acc,
                                   NodeOfLeafFast(acc, l), mean.status());
      return absl::Status(s.code(), absl::StrCat(name, ": ", s.message()));
    }
    tensors.push_back(*std::move(mean));
  }
  return Build(acc, tensors);
}

namespace {

absl::StatusOr<Value> ZeroAt(const ir::Type& type, const std::string& path) {
  switch (type.kind()) {
    case ir::TypeKind::kTensor: {
      bool known = !type.unknown_rank();
      for (int64_t d : type.dims()) known = known && d >= 0;
      if (!known) {
        return absl::InvalidArgumentError(
            absl::StrCat(PathPrefix(path), "cannot build the zero of ",
                         type.ToString(), ": its shape is not fully known"));
      }
      if (!IsNumeric(type.dtype())) {
        return absl::InvalidArgumentError(
            absl::StrCat(PathPrefix(path), "cannot build the zero of ",
                         type.ToString(), ": not a numeric tensor"));
      }
      FEDEXEC_ASSIGN_OR_RETURN(Tensor zeros,
                               Tensor::Zeros(type.dtype(), type.dims()));
      return Value(std::move(zeros));
    }
    case ir::TypeKind::kStruct: {
      std::vector<std::pair<std::string, Value>> elements;
      elements.reserve(type.elements().size());
      for (size_t i = 0; i < type.elements().size(); ++i) {
        const ir::StructElementType& e = type.elements()[i];
        FEDEXEC_ASSIGN_OR_RETURN(Value v,
                                 ZeroAt(e.type, path + ElementStep(e.name, i)));
        elements.emplace_back(e.name, std::move(v));
      }
      return Value::Struct(std::move(elements));
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          PathPrefix(path), "cannot build the zero of ", type.ToString(),
          ": expected a tensor or a struct type"));
  }
}

}  // namespace
}  // namespace aggregators_internal

using aggregators_internal::Access;

std::string_view AggregateOpName(AggregateOp op) {
  switch (op) {
    case AggregateOp::kSum:
      return "sum";
    case AggregateOp::kMin:
      return "min";
    case AggregateOp::kMax:
      return "max";
    case AggregateOp::kWeightedSum:
      return "weighted sum";
    case AggregateOp::kSecureSum:
      return "federated_secure_sum";
    case AggregateOp::kSecureSumBitwidth:
      return "federated_secure_sum_bitwidth";
    case AggregateOp::kSecureModularSum:
      return "federated_secure_modular_sum";
  }
  return "unknown aggregation";
}

AggregateOp SecureBound::op() const { return rep_->op; }

absl::StatusOr<double> WeightOf(const Value& weight) {
  if (!weight.is_tensor() || weight.tensor().rank() != 0 ||
      !(IsInteger(weight.tensor().dtype()) ||
        IsFloating(weight.tensor().dtype()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weight must be an integer or floating-point scalar, found ",
        aggregators_internal::DescribeValue(weight)));
  }
  const Tensor& t = weight.tensor();
  double w = 0;
  if (t.dtype() == DType::kFloat16 || t.dtype() == DType::kBFloat16) {
    FEDEXEC_ASSIGN_OR_RETURN(Tensor wide, native::Cast(t, DType::kFloat64));
    w = wide.data<double>()[0];
  } else {
    w = VisitDType(t.dtype(), [&](auto tag) -> double {
      using T = decltype(tag);
      if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
        return static_cast<double>(t.data<T>()[0]);
      } else {
        return std::numeric_limits<double>::quiet_NaN();  // excluded above
      }
    });
  }
  FEDEXEC_RETURN_IF_ERROR(aggregators_internal::CheckWeight(w));
  return w;
}

absl::Status Fold(AggregateOp op, Accumulator& acc, const Value& x,
                  double weight) {
  return Access::Fold(op, acc, x, weight);
}

absl::Status FoldBlock(AggregateOp op, Accumulator& acc,
                       absl::Span<const Value* const> xs,
                       absl::Span<const double> weights,
                       int64_t* failed_index) {
  return Access::FoldBlock(op, acc, xs, weights, failed_index);
}

absl::Status Merge(AggregateOp op, Accumulator& left, Accumulator&& right) {
  return Access::Merge(op, left, std::move(right));
}

absl::StatusOr<Value> Finish(Accumulator&& acc) {
  return Access::Finish(std::move(acc));
}

absl::StatusOr<Value> FinishMean(Accumulator&& acc, bool weighted) {
  return Access::FinishMean(std::move(acc), weighted);
}

absl::StatusOr<Value> ZeroOf(const ir::Type& type) {
  return CallWithStackFor(static_cast<size_t>(type.depth()), [&] {
    return aggregators_internal::ZeroAt(type, "");
  });
}

}  // namespace fedexec::exec
