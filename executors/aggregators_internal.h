// Internal to the aggregators (aggregators.cc, aggregators_secure.cc): the
// structure of an accumulator and of a secure bound, the helpers that word
// their errors, and Access, the one class that reads and writes
// Accumulator's and SecureBound's insides.
//
// Thread-safety: as aggregators.h; everything here is a pure function of
// its arguments.
#ifndef FEDEXEC_EXECUTORS_AGGREGATORS_INTERNAL_H_
#define FEDEXEC_EXECUTORS_AGGREGATORS_INTERNAL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "core/dtype.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/value.h"
#include "executors/aggregators.h"

namespace fedexec::exec::aggregators_internal {

// One node of an accumulator's structure.
struct LayoutNode {
  std::string name;               // as an element of its parent; "" if unnamed
  int32_t parent = -1;            // -1 for the root
  int32_t position = 0;           // index among the parent's elements
  int32_t num_children = -1;      // -1: a tensor leaf
  int32_t leaf = -1;              // leaves: index into Accumulator::leaves_
  DType dtype = DType::kInvalid;  // leaves: the values' dtype
};

struct Layout {
  std::vector<LayoutNode> nodes;  // preorder; nodes[0] is the root struct
};

// One tensor of a secure bound: inclusive upper limits, one for every
// element of the leaf it covers when `shape` is a scalar's, else one per
// element of that shape.
struct BoundLeaf {
  std::vector<int64_t> shape;
  std::vector<uint64_t> limits;
  uint64_t limit(int64_t i) const {
    return shape.empty() ? limits[0] : limits[static_cast<size_t>(i)];
  }
};

struct BoundNode {
  int32_t num_children = -1;  // -1: a tensor
  int32_t first_child = 0;    // structs: index into BoundRep::children
  int32_t leaf = -1;          // tensors: index into BoundRep::leaves
};

struct BoundRep {
  AggregateOp op = AggregateOp::kSecureSum;
  std::vector<BoundNode> nodes;   // preorder; nodes[0] is the root
  std::vector<int32_t> children;  // node indices, each struct's contiguous
  std::vector<BoundLeaf> leaves;
};

using Elements = std::vector<StructValue::Element>;

// AggregateOpName as a std::string, for absl::StrCat (this Abseil's
// string_view is not std::string_view).
std::string OpStr(AggregateOp op);

bool IsSecure(AggregateOp op);

// The name of a secure op's bound, for messages.
const char* BoundLabel(AggregateOp op);

// The function that folds values of a secure op.
const char* SecureFoldName(AggregateOp op);

// The SecureBound constructor of a secure op.
const char* SecureBoundMaker(AggregateOp op);

// The start of every message of `op`: its intrinsic for the secure ops,
// nothing for the plain ones (the caller names the intrinsic).
std::string Head(AggregateOp op);

std::string PathPrefix(const std::string& path);

std::string ElementStep(const std::string& name, size_t position);

// The path of node i ("" for the root, or when there is no layout: i < 0).
std::string LayoutPath(const Accumulator& acc, int32_t i);

std::string TypeStr(DType dtype, const std::vector<int64_t>& shape);

std::string StructOf(size_t n);

std::string DescribeValue(const Value& v);

// The " at PATH element I" part of a message about one element ("" for
// the only element of a top-level scalar).
std::string Location(const std::string& path, int rank, int64_t element);

// Element i of an integer tensor, printed.
std::string IntElementString(const Tensor& t, int64_t i);

// "[0, 10]" for a secure sum, "[0, 8) (bit width 3)" for a bit width,
// "[0, 7)" for a modulus.
std::string RangeString(AggregateOp op, uint64_t limit);

absl::Status UnusableError();

absl::Status OpMismatch(const char* verb, AggregateOp op, AggregateOp held);

absl::Status CheckWeight(double weight);

// Why a leaf of `dtype` cannot take part in `op` ("" when it can).
std::string LeafDTypeProblem(AggregateOp op, DType dtype);

// A kernel's error about the leaf at node `node`: the kernel's name is
// replaced by the op's head and the path.
absl::Status KernelError(AggregateOp op, const Accumulator& acc, int32_t node,
                         const absl::Status& status);

// Everything that touches Accumulator's and SecureBound's insides. The
// secure sums' members are defined in aggregators_secure.cc, the others in
// aggregators.cc.
class Access {
 public:
  static SecureBound MakeBound(std::shared_ptr<const BoundRep> rep);

  static void Poison(Accumulator& acc);

  static std::string Path(const Accumulator& acc, int32_t i);

  // The node of leaf l (-1 without a layout). For messages only.
  static int32_t NodeOfLeaf(const Accumulator& acc, size_t l);

  // The values' dtype of the leaf at `node` (-1: the single tensor).
  static DType LeafDType(const Accumulator& acc, int32_t node);

  // What node i (-1: the single tensor) expects, for messages.
  static std::string DescribeNode(const Accumulator& acc, int32_t i);

  static absl::Status Mismatch(AggregateOp op, const Accumulator& acc,
                               int32_t i, const std::string& found);

  static absl::Status NameMismatch(AggregateOp op, const Accumulator& acc,
                                   int32_t parent, size_t position,
                                   const std::string& found,
                                   const std::string& expected);

  // Matches x against acc's structure (acc not empty) and calls
  // leaf_fn(leaf index, tensor, node index) on each leaf in depth-first
  // order; stops at the first error. Leaves before a mismatch have been
  // handed to leaf_fn already.
  template <typename LeafFn>
  static absl::Status ForEachLeaf(AggregateOp op, const Accumulator& acc,
                                  const Value& x, LeafFn&& leaf_fn) {
    if (acc.layout_ == nullptr) {
      if (!x.is_tensor() || x.tensor().dtype() != acc.dtype_ ||
          x.tensor().shape() != acc.leaves_[0].shape()) [[unlikely]] {
        return Mismatch(op, acc, -1, DescribeValue(x));
      }
      return leaf_fn(size_t{0}, x.tensor(), int32_t{-1});
    }
    const std::vector<LayoutNode>& nodes = acc.layout_->nodes;
    struct Frame {
      const Elements* elements;
      size_t next;
      int32_t node;
    };
    absl::InlinedVector<Frame, 8> stack;
    const Value* v = &x;
    for (int32_t i = 0;;) {
      const LayoutNode& n = nodes[static_cast<size_t>(i)];
      if (n.num_children < 0) {
        const size_t leaf = static_cast<size_t>(n.leaf);
        if (!v->is_tensor() || v->tensor().dtype() != n.dtype ||
            v->tensor().shape() != acc.leaves_[leaf].shape()) [[unlikely]] {
          return Mismatch(op, acc, i, DescribeValue(*v));
        }
        FEDEXEC_RETURN_IF_ERROR(leaf_fn(leaf, v->tensor(), i));
      } else {
        if (!v->is_struct() || v->struct_value().elements.size() !=
                                   static_cast<size_t>(n.num_children))
            [[unlikely]] {
          return Mismatch(op, acc, i, DescribeValue(*v));
        }
        if (n.num_children > 0) {
          stack.push_back(Frame{&v->struct_value().elements, 0, i});
        }
      }
      ++i;
      while (!stack.empty() &&
             stack.back().next == stack.back().elements->size()) {
        stack.pop_back();
      }
      if (stack.empty()) return absl::OkStatus();
      Frame& f = stack.back();
      const StructValue::Element& e = (*f.elements)[f.next];
      const std::string& expected = nodes[static_cast<size_t>(i)].name;
      if (e.name != expected) [[unlikely]] {
        return NameMismatch(op, acc, f.node, f.next, e.name, expected);
      }
      ++f.next;
      v = e.value.get();
    }
  }

  // Gives the empty acc the structure of x, each leaf made by
  // make_leaf(tensor) -> StatusOr<MutableTensor>. Sets op_; count_ stays 0.
  template <typename MakeLeaf>
  static absl::Status Adopt(AggregateOp op, Accumulator& acc, const Value& x,
                            MakeLeaf&& make_leaf) {
    acc.op_ = op;
    if (x.is_tensor()) {
      const Tensor& t = x.tensor();
      std::string problem = LeafDTypeProblem(op, t.dtype());
      if (!problem.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(Head(op), problem, ", found ", DescribeValue(x)));
      }
      FEDEXEC_ASSIGN_OR_RETURN(MutableTensor leaf, make_leaf(t));
      acc.dtype_ = t.dtype();
      acc.leaves_.push_back(std::move(leaf));
      return absl::OkStatus();
    }
    auto layout = std::make_shared<Layout>();
    std::vector<LayoutNode>& nodes = layout->nodes;
    // The layout is published before it is complete so that paths can be
    // computed from it; on error the caller poisons acc.
    acc.layout_ = layout;
    struct Frame {
      const Elements* elements;
      size_t next;
      int32_t node;
    };
    absl::InlinedVector<Frame, 8> stack;
    const Value* v = &x;
    LayoutNode next;
    for (;;) {
      const int32_t i = static_cast<int32_t>(nodes.size());
      nodes.push_back(std::move(next));
      LayoutNode& n = nodes.back();
      if (v->is_tensor()) {
        const Tensor& t = v->tensor();
        std::string problem = LeafDTypeProblem(op, t.dtype());
        if (!problem.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat(Head(op), PathPrefix(Path(acc, i)), problem,
                           ", found ", DescribeValue(*v)));
        }
        FEDEXEC_ASSIGN_OR_RETURN(MutableTensor leaf, make_leaf(t));
        n.leaf = static_cast<int32_t>(acc.leaves_.size());
        n.dtype = t.dtype();
        acc.leaves_.push_back(std::move(leaf));
      } else if (v->is_struct()) {
        const Elements& elements = v->struct_value().elements;
        n.num_children = static_cast<int32_t>(elements.size());
        if (!elements.empty()) stack.push_back(Frame{&elements, 0, i});
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat(Head(op), PathPrefix(Path(acc, i)),
                         "expected a tensor or a struct of tensors, found ",
                         DescribeValue(*v)));
      }
      while (!stack.empty() &&
             stack.back().next == stack.back().elements->size()) {
        stack.pop_back();
      }
      if (stack.empty()) return absl::OkStatus();
      Frame& f = stack.back();
      const StructValue::Element& e = (*f.elements)[f.next];
      next = LayoutNode();
      next.name = e.name;
      next.parent = f.node;
      next.position = static_cast<int32_t>(f.next);
      ++f.next;
      v = e.value.get();
    }
  }

  // ------------------------------------------------------------ plain ops
  static absl::Status FoldPlain(AggregateOp op, Accumulator& acc,
                                const Value& x, double weight);

  static absl::Status Fold(AggregateOp op, Accumulator& acc, const Value& x,
                           double weight);

  // ------------------------------------------------------- block folds
  // The range kernel of a plain op on leaf `leaf`, elements [begin, end).
  static absl::Status FoldRange(AggregateOp op, MutableTensor& a,
                                const Tensor& t, double weight, int64_t begin,
                                int64_t end);

  // Fold of xs[i] (weights[i]) for i in order, stopping at the first error.
  static absl::Status FoldEach(AggregateOp op, Accumulator& acc,
                               absl::Span<const Value* const> xs,
                               absl::Span<const double> weights,
                               int64_t* failed_index);

  // The tiled fold. Every x is checked first (weight, structure, and each
  // leaf's kernel checks through an empty range): only when all would fold
  // does it write anything; otherwise acc is restored and FoldEach
  // reproduces the sequential outcome exactly, error included. Then each
  // leaf tile by tile: the copy of xs[0] (or zeros) when acc was empty,
  // and the many-operand kernel over the other values' tiles.
  static absl::Status FoldBlock(AggregateOp op, Accumulator& acc,
                                absl::Span<const Value* const> xs,
                                absl::Span<const double> weights,
                                int64_t* failed_index);

  // ----------------------------------------------------------- secure ops
  // Maps every leaf of acc to the leaf of `bound` that covers it, checking
  // the bound's structure and shapes.
  static absl::Status ResolveBound(const Accumulator& acc, const BoundRep& b,
                                   absl::InlinedVector<int32_t, 1>* out);

  // Whether two moduli give every leaf element of acc the same limit.
  static absl::Status CheckSameLimits(
      const Accumulator& acc, const BoundRep& a,
      const absl::InlinedVector<int32_t, 1>& map_a, const BoundRep& b,
      const absl::InlinedVector<int32_t, 1>& map_b);

  struct LoopFailure {
    int64_t index = -1;     // -1: none
    bool overflow = false;  // else out of range
  };

  template <typename T, bool kScalar, bool kModular>
  static LoopFailure SecureAddLoop(int64_t* __restrict acc,
                                   const T* __restrict x, int64_t n,
                                   const uint64_t* limits);

  static absl::Status SecureAddLeaf(AggregateOp op, Accumulator& acc,
                                    size_t leaf, int32_t node, const Tensor& t,
                                    const BoundLeaf& bl);

  static absl::Status FoldSecureImpl(Accumulator& acc, const Value& x,
                                     const std::shared_ptr<const BoundRep>& b);

  static absl::Status FoldSecure(AggregateOp op, Accumulator& acc,
                                 const Value& x, const SecureBound& bound);

  // ---------------------------------------------------------------- merge
  // Whether left and right (both non-empty) have the same structure.
  static absl::Status CompareStructure(AggregateOp op, const Accumulator& l,
                                       const Accumulator& r);

  static absl::Status MergeSecureLeaf(AggregateOp op, Accumulator& left,
                                      size_t leaf, const MutableTensor& r);

  static absl::Status MergeImpl(AggregateOp op, Accumulator& left,
                                Accumulator& right);

  static absl::Status Merge(AggregateOp op, Accumulator& left,
                            Accumulator&& right);

  // --------------------------------------------------------------- finish
  static absl::Status CheckFinishable(const Accumulator& acc);

  // Converts a secure sum's int64 leaf to the values' dtype.
  static absl::StatusOr<Tensor> SecureLeafResult(AggregateOp op,
                                                 Accumulator& acc, size_t l);

  // NodeOfLeaf, shortcut for the single tensor.
  static int32_t NodeOfLeafFast(const Accumulator& acc, size_t l);

  // Rebuilds the value from acc's structure around `tensors` (one per leaf).
  static Value Build(const Accumulator& acc, std::vector<Tensor>& tensors);

  static absl::StatusOr<Value> Finish(Accumulator&& acc);

  // ------------------------------------------------------------ partials
  static absl::StatusOr<ExportedPartial> Export(Accumulator&& acc);

  static absl::StatusOr<Accumulator> Import(AggregateOp op, int64_t count,
                                            double total_weight,
                                            const Value& value,
                                            const SecureBound* bound);

  // t / d, d rounded to t's dtype (a real part for complex dtypes).
  static absl::StatusOr<Tensor> DivideBy(const Tensor& t, double d);

  static absl::StatusOr<Value> FinishMean(Accumulator&& acc, bool weighted);

  static absl::StatusOr<Value> FinishMeanImpl(Accumulator& acc, bool weighted);
};

// The path of node i of acc's structure, for messages ("" for the root).
std::string LayoutPath(const Accumulator& acc, int32_t i);

// The checked bound of a secure op (aggregators_secure.cc).
absl::StatusOr<SecureBound> MakeSecureBound(AggregateOp op, const Value& bound);

}  // namespace fedexec::exec::aggregators_internal

#endif  // FEDEXEC_EXECUTORS_AGGREGATORS_INTERNAL_H_
