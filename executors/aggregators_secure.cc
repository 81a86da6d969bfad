// The secure sums (federated_secure_sum, _sum_bitwidth, _modular_sum):
// bounds checked into unsigned inclusive limits (M, 2^B - 1 or M - 1), int64
// running sums with every value checked against its limit and every sum
// against overflow, and the merge of two such partial sums. The plain ops
// and everything shared are in aggregators.cc.
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/large_stack.h"
#include "core/status.h"
#include "executors/aggregators.h"
#include "executors/aggregators_internal.h"

namespace fedexec::exec {
namespace aggregators_internal {

// ----------------------------------------------------------- secure ops

// Maps every leaf of acc to the leaf of `bound` that covers it, checking
// the bound's structure and shapes.
absl::Status Access::ResolveBound(const Accumulator& acc, const BoundRep& b,
                                  absl::InlinedVector<int32_t, 1>* out) {
  const AggregateOp op = b.op;
  const std::string label = absl::StrCat("the ", BoundLabel(op));
  out->assign(acc.leaves_.size(), -1);
  auto check_leaf = [&](size_t leaf, int32_t bound_leaf,
                        int32_t node) -> absl::Status {
    const BoundLeaf& bl = b.leaves[static_cast<size_t>(bound_leaf)];
    const std::vector<int64_t>& shape = acc.leaves_[leaf].shape();
    if (!bl.shape.empty() && bl.shape != shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          Head(op), PathPrefix(Path(acc, node)), label, " has shape ",
          ShapeString(bl.shape), ", expected a scalar or the value's shape ",
          ShapeString(shape)));
    }
    (*out)[leaf] = bound_leaf;
    return absl::OkStatus();
  };
  auto struct_problem = [&](int32_t node, const BoundNode& bn) {
    return absl::InvalidArgumentError(
        absl::StrCat(Head(op), PathPrefix(Path(acc, node)), label, " is ",
                     StructOf(static_cast<size_t>(bn.num_children)),
                     ", but the value is ", DescribeNode(acc, node)));
  };
  if (acc.layout_ == nullptr) {
    const BoundNode& root = b.nodes[0];
    if (root.num_children >= 0) return struct_problem(-1, root);
    return check_leaf(0, root.leaf, -1);
  }
  const std::vector<LayoutNode>& nodes = acc.layout_->nodes;
  absl::InlinedVector<int32_t, 16> bound_node(nodes.size(), 0);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const LayoutNode& n = nodes[i];
    int32_t index = 0;
    if (i > 0) {
      const int32_t up = bound_node[static_cast<size_t>(n.parent)];
      const BoundNode& parent = b.nodes[static_cast<size_t>(up)];
      index = parent.num_children < 0 ? up
                                      : b.children[static_cast<size_t>(
                                            parent.first_child + n.position)];
    }
    bound_node[i] = index;
    const BoundNode& bn = b.nodes[static_cast<size_t>(index)];
    if (bn.num_children >= 0 && bn.num_children != n.num_children) {
      return struct_problem(static_cast<int32_t>(i), bn);
    }
    if (n.num_children < 0) {
      FEDEXEC_RETURN_IF_ERROR(check_leaf(static_cast<size_t>(n.leaf), bn.leaf,
                                         static_cast<int32_t>(i)));
    }
  }
  return absl::OkStatus();
}

// Whether two moduli give every leaf element of acc the same limit.
absl::Status Access::CheckSameLimits(
    const Accumulator& acc, const BoundRep& a,
    const absl::InlinedVector<int32_t, 1>& map_a, const BoundRep& b,
    const absl::InlinedVector<int32_t, 1>& map_b) {
  for (size_t l = 0; l < acc.leaves_.size(); ++l) {
    const BoundLeaf& x = a.leaves[static_cast<size_t>(map_a[l])];
    const BoundLeaf& y = b.leaves[static_cast<size_t>(map_b[l])];
    const int64_t n = acc.leaves_[l].num_elements();
    for (int64_t i = 0; i < n; ++i) {
      if (x.limit(i) != y.limit(i)) {
        return absl::InvalidArgumentError(absl::StrCat(
            Head(a.op), "the moduli",
            Location(Path(acc, NodeOfLeaf(acc, l)), acc.leaves_[l].rank(), i),
            " differ (", x.limit(i) + 1, " and ", y.limit(i) + 1,
            "): every fold and merge of one sum must use the same"));
      }
    }
  }
  return absl::OkStatus();
}

template <typename T, bool kScalar, bool kModular>
Access::LoopFailure Access::SecureAddLoop(int64_t* __restrict acc,
                                          const T* __restrict x, int64_t n,
                                          const uint64_t* limits) {
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t limit = kScalar ? limits[0] : limits[i];
    if constexpr (std::is_signed_v<T>) {
      if (x[i] < 0) return LoopFailure{i, false};
    }
    const uint64_t v = static_cast<uint64_t>(x[i]);
    if (v > limit) return LoopFailure{i, false};
    if constexpr (kModular) {
      // Both terms are at most limit < 2^63: no overflow in uint64.
      uint64_t sum = static_cast<uint64_t>(acc[i]) + v;
      if (sum > limit) sum -= limit + 1;
      acc[i] = static_cast<int64_t>(sum);
    } else {
      int64_t sum;
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          __builtin_add_overflow(acc[i], static_cast<int64_t>(v), &sum)) {
        return LoopFailure{i, true};
      }
      acc[i] = sum;
    }
  }
  return LoopFailure{};
}

absl::Status Access::SecureAddLeaf(AggregateOp op, Accumulator& acc,
                                   size_t leaf, int32_t node, const Tensor& t,
                                   const BoundLeaf& bl) {
  int64_t* a = acc.leaves_[leaf].mutable_data<int64_t>().data();
  const int64_t n = t.num_elements();
  const bool scalar = bl.shape.empty();
  const bool modular = op == AggregateOp::kSecureModularSum;
  const LoopFailure f = VisitDType(t.dtype(), [&](auto tag) -> LoopFailure {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      const T* x = t.data<T>().data();
      const uint64_t* lim = bl.limits.data();
      if (modular) {
        return scalar ? SecureAddLoop<T, true, true>(a, x, n, lim)
                      : SecureAddLoop<T, false, true>(a, x, n, lim);
      }
      return scalar ? SecureAddLoop<T, true, false>(a, x, n, lim)
                    : SecureAddLoop<T, false, false>(a, x, n, lim);
    } else {
      return LoopFailure{0, false};  // excluded at adoption
    }
  });
  if (f.index < 0) [[likely]] {
    return absl::OkStatus();
  }
  const std::string where = Location(Path(acc, node), t.rank(), f.index);
  if (f.overflow) {
    return absl::InvalidArgumentError(
        absl::StrCat(Head(op), "the sum", where, " overflows int64"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(Head(op), "value ", IntElementString(t, f.index), where,
                   " is outside ", RangeString(op, bl.limit(f.index))));
}

absl::Status Access::FoldSecureImpl(Accumulator& acc, const Value& x,
                                    const std::shared_ptr<const BoundRep>& b) {
  const AggregateOp op = b->op;
  if (acc.empty()) {
    FEDEXEC_RETURN_IF_ERROR(Adopt(op, acc, x, [](const Tensor& t) {
      return MutableTensor::Zeros(DType::kInt64, t.shape());
    }));
    FEDEXEC_RETURN_IF_ERROR(ResolveBound(acc, *b, &acc.bound_leaf_));
    acc.bound_ = b;
  } else if (acc.op_ != op) [[unlikely]] {
    return OpMismatch("fold", op, acc.op_);
  } else if (acc.bound_ != b) {
    absl::InlinedVector<int32_t, 1> mapping;
    FEDEXEC_RETURN_IF_ERROR(ResolveBound(acc, *b, &mapping));
    if (op == AggregateOp::kSecureModularSum) {
      FEDEXEC_RETURN_IF_ERROR(
          CheckSameLimits(acc, *acc.bound_, acc.bound_leaf_, *b, mapping));
    }
    acc.bound_ = b;
    acc.bound_leaf_ = std::move(mapping);
  }
  const BoundRep& rep = *acc.bound_;
  FEDEXEC_RETURN_IF_ERROR(
      ForEachLeaf(op, acc, x, [&](size_t leaf, const Tensor& t, int32_t node) {
        return SecureAddLeaf(
            op, acc, leaf, node, t,
            rep.leaves[static_cast<size_t>(acc.bound_leaf_[leaf])]);
      }));
  ++acc.count_;
  acc.total_weight_ += 1.0;
  return absl::OkStatus();
}

absl::Status Access::FoldSecure(AggregateOp op, Accumulator& acc,
                                const Value& x, const SecureBound& bound) {
  if (acc.failed_) return UnusableError();
  const std::shared_ptr<const BoundRep>& b = bound.rep_;
  absl::Status s;
  if (b == nullptr || b->op != op) {
    s = absl::FailedPreconditionError(absl::StrCat(
        OpStr(op),
        " needs a bound made by SecureBound::", SecureBoundMaker(op)));
  } else {
    s = FoldSecureImpl(acc, x, b);
  }
  if (!s.ok()) [[unlikely]] {
    Poison(acc);
  }
  return s;
}

absl::Status Access::MergeSecureLeaf(AggregateOp op, Accumulator& left,
                                     size_t leaf, const MutableTensor& r) {
  int64_t* __restrict a = left.leaves_[leaf].mutable_data<int64_t>().data();
  const int64_t* __restrict b = r.data<int64_t>().data();
  const int64_t n = r.num_elements();
  if (op == AggregateOp::kSecureModularSum) {
    const BoundLeaf& bl =
        left.bound_->leaves[static_cast<size_t>(left.bound_leaf_[leaf])];
    for (int64_t i = 0; i < n; ++i) {
      // Both sides are below the modulus (at most 2^63 - 1).
      const uint64_t limit = bl.limit(i);
      uint64_t sum = static_cast<uint64_t>(a[i]) + static_cast<uint64_t>(b[i]);
      if (sum > limit) sum -= limit + 1;
      a[i] = static_cast<int64_t>(sum);
    }
    return absl::OkStatus();
  }
  for (int64_t i = 0; i < n; ++i) {
    if (__builtin_add_overflow(a[i], b[i], &a[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          Head(op), "the sum",
          Location(Path(left, NodeOfLeaf(left, leaf)), r.rank(), i),
          " overflows int64"));
    }
  }
  return absl::OkStatus();
}

// Converts a secure sum's int64 leaf to the values' dtype.
absl::StatusOr<Tensor> Access::SecureLeafResult(AggregateOp op,
                                                Accumulator& acc, size_t l) {
  const int32_t node = NodeOfLeafFast(acc, l);
  const DType dtype = LeafDType(acc, node);
  MutableTensor& sum = acc.leaves_[l];
  if (dtype == DType::kInt64) return std::move(sum).Freeze();
  FEDEXEC_ASSIGN_OR_RETURN(MutableTensor out,
                           MutableTensor::Uninitialized(dtype, sum.shape()));
  const int64_t* s = sum.data<int64_t>().data();
  const int64_t n = sum.num_elements();
  const int64_t bad = VisitDType(dtype, [&](auto tag) -> int64_t {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      T* o = out.mutable_data<T>().data();
      constexpr uint64_t kMax =
          static_cast<uint64_t>(std::numeric_limits<T>::max());
      for (int64_t i = 0; i < n; ++i) {
        // Secure sums are never negative.
        if (static_cast<uint64_t>(s[i]) > kMax) return i;
        o[i] = static_cast<T>(s[i]);
      }
      return -1;
    } else {
      return 0;  // excluded at adoption
    }
  });
  if (bad >= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(Head(op), "the sum ", s[bad],
                     Location(Path(acc, node), sum.rank(), bad),
                     " does not fit ", std::string(DTypeName(dtype))));
  }
  return std::move(out).Freeze();
}

// Checks and converts one leaf of a secure bound.
absl::StatusOr<BoundLeaf> MakeBoundLeaf(AggregateOp op, const Value& v,
                                        const std::string& path) {
  const char* label = BoundLabel(op);
  const std::string at = path.empty() ? "" : absl::StrCat(" at ", path);
  if (!v.is_tensor() || !IsInteger(v.tensor().dtype())) {
    return absl::InvalidArgumentError(absl::StrCat(Head(op), label, at, " is ",
                                                   DescribeValue(v),
                                                   ", not an integer tensor"));
  }
  const Tensor& t = v.tensor();
  BoundLeaf leaf;
  leaf.shape = t.shape();
  leaf.limits.resize(static_cast<size_t>(t.num_elements()));
  const int64_t n = t.num_elements();
  std::string problem;
  int64_t bad = -1;
  VisitDType(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      const T* x = t.data<T>().data();
      for (int64_t i = 0; i < n && bad < 0; ++i) {
        bool negative = false;
        if constexpr (std::is_signed_v<T>) negative = x[i] < 0;
        if (op == AggregateOp::kSecureSum) {
          if (negative) {
            bad = i;
            problem = ", must be >= 0";
          } else {
            leaf.limits[static_cast<size_t>(i)] = static_cast<uint64_t>(x[i]);
          }
        } else if (op == AggregateOp::kSecureModularSum) {
          if (negative || x[i] < 1 ||
              static_cast<uint64_t>(x[i]) >
                  static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            bad = i;
            problem = absl::StrCat(", must be in [1, ",
                                   std::numeric_limits<int64_t>::max(), "]");
          } else {
            leaf.limits[static_cast<size_t>(i)] =
                static_cast<uint64_t>(x[i]) - 1;
          }
        } else if (negative || x[i] < 1 || x[i] > 62) {
          bad = i;
          problem = ", must be in [1, 62]";
        } else {
          leaf.limits[static_cast<size_t>(i)] =
              (uint64_t{1} << static_cast<int>(x[i])) - 1;
        }
      }
    }
  });
  if (bad >= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(Head(op), label, Location(path, t.rank(), bad), " is ",
                     IntElementString(t, bad), problem));
  }
  return leaf;
}

absl::StatusOr<SecureBound> MakeSecureBound(AggregateOp op,
                                            const Value& bound) {
  auto rep = std::make_shared<BoundRep>();
  rep->op = op;
  struct Frame {
    const Elements* elements;
    size_t next;
    int32_t node;
    std::string path;
  };
  std::vector<Frame> stack;
  const Value* v = &bound;
  std::string path;
  int32_t parent = -1;
  size_t position = 0;
  for (;;) {
    const int32_t i = static_cast<int32_t>(rep->nodes.size());
    rep->nodes.emplace_back();
    if (parent >= 0) {
      rep->children[static_cast<size_t>(
                        rep->nodes[static_cast<size_t>(parent)].first_child) +
                    position] = i;
    }
    if (v->is_struct()) {
      const Elements& elements = v->struct_value().elements;
      BoundNode& n = rep->nodes.back();
      n.num_children = static_cast<int32_t>(elements.size());
      n.first_child = static_cast<int32_t>(rep->children.size());
      rep->children.resize(rep->children.size() + elements.size(), -1);
      if (!elements.empty()) stack.push_back(Frame{&elements, 0, i, path});
    } else {
      FEDEXEC_ASSIGN_OR_RETURN(BoundLeaf leaf, MakeBoundLeaf(op, *v, path));
      rep->nodes.back().leaf = static_cast<int32_t>(rep->leaves.size());
      rep->leaves.push_back(std::move(leaf));
    }
    while (!stack.empty() &&
           stack.back().next == stack.back().elements->size()) {
      stack.pop_back();
    }
    if (stack.empty()) break;
    Frame& f = stack.back();
    const StructValue::Element& e = (*f.elements)[f.next];
    path = f.path + ElementStep(e.name, f.next);
    parent = f.node;
    position = f.next;
    ++f.next;
    v = e.value.get();
  }
  return Access::MakeBound(std::move(rep));
}

}  // namespace aggregators_internal

using aggregators_internal::Access;

absl::StatusOr<SecureBound> SecureBound::ForSecureSum(const Value& bound) {
  return aggregators_internal::MakeSecureBound(AggregateOp::kSecureSum, bound);
}

absl::StatusOr<SecureBound> SecureBound::ForBitwidth(const Value& bits) {
  return aggregators_internal::MakeSecureBound(AggregateOp::kSecureSumBitwidth,
                                               bits);
}

absl::StatusOr<SecureBound> SecureBound::ForModularSum(const Value& modulus) {
  return aggregators_internal::MakeSecureBound(AggregateOp::kSecureModularSum,
                                               modulus);
}

absl::Status FoldSecure(Accumulator& acc, const Value& x,
                        const SecureBound& bound) {
  return Access::FoldSecure(AggregateOp::kSecureSum, acc, x, bound);
}

absl::Status FoldBitwidth(Accumulator& acc, const Value& x,
                          const SecureBound& bits) {
  return Access::FoldSecure(AggregateOp::kSecureSumBitwidth, acc, x, bits);
}

absl::Status FoldModular(Accumulator& acc, const Value& x,
                         const SecureBound& modulus) {
  return Access::FoldSecure(AggregateOp::kSecureModularSum, acc, x, modulus);
}

absl::Status FoldSecure(Accumulator& acc, const Value& x, const Value& bound) {
  if (acc.failed()) return aggregators_internal::UnusableError();
  absl::StatusOr<SecureBound> b = SecureBound::ForSecureSum(bound);
  if (!b.ok()) {
    Access::Poison(acc);
    return b.status();
  }
  return FoldSecure(acc, x, *b);
}

absl::Status FoldBitwidth(Accumulator& acc, const Value& x, const Value& bits) {
  if (acc.failed()) return aggregators_internal::UnusableError();
  absl::StatusOr<SecureBound> b = SecureBound::ForBitwidth(bits);
  if (!b.ok()) {
    Access::Poison(acc);
    return b.status();
  }
  return FoldBitwidth(acc, x, *b);
}

absl::Status FoldModular(Accumulator& acc, const Value& x,
                         const Value& modulus) {
  if (acc.failed()) return aggregators_internal::UnusableError();
  absl::StatusOr<SecureBound> m = SecureBound::ForModularSum(modulus);
  if (!m.ok()) {
    Access::Poison(acc);
    return m.status();
  }
  return FoldModular(acc, x, *m);
}

absl::Status FoldWithBound(Accumulator& acc, const Value& x,
                           const SecureBound& bound) {
  return Access::FoldSecure(bound.op(), acc, x, bound);
}

}  // namespace fedexec::exec
