// Partial aggregates as plain Values and back (ExportPartial,
// ImportPartial): how a shard's accumulator travels from a worker to the
// composing executor that merges it.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "executors/aggregators.h"
#include "executors/aggregators_internal.h"

namespace fedexec::exec {
namespace aggregators_internal {

// ------------------------------------------------------------ partials

absl::StatusOr<ExportedPartial> Access::Export(Accumulator&& acc) {
  FEDEXEC_RETURN_IF_ERROR(CheckFinishable(acc));
  ExportedPartial out;
  out.op = acc.op_;
  out.count = acc.count_;
  out.total_weight = acc.total_weight_;
  std::vector<Tensor> sums;
  sums.reserve(acc.leaves_.size());
  for (MutableTensor& leaf : acc.leaves_)
    sums.push_back(std::move(leaf).Freeze());
  Value value = Build(acc, sums);
  if (IsSecure(acc.op_)) {
    std::vector<Tensor> dtypes;
    dtypes.reserve(acc.leaves_.size());
    for (size_t l = 0; l < acc.leaves_.size(); ++l) {
      const DType d = LeafDType(acc, NodeOfLeafFast(acc, l));
      FEDEXEC_ASSIGN_OR_RETURN(MutableTensor empty,
                               MutableTensor::Zeros(d, {0}));
      dtypes.push_back(std::move(empty).Freeze());
    }
    Value kinds = Build(acc, dtypes);
    std::vector<std::pair<std::string, Value>> elements;
    elements.emplace_back("sums", std::move(value));
    elements.emplace_back("dtypes", std::move(kinds));
    value = Value::Struct(std::move(elements));
  }
  out.value = std::move(value);
  acc.Reset();
  return out;
}

absl::StatusOr<Accumulator> Access::Import(AggregateOp op, int64_t count,
                                           double total_weight,
                                           const Value& value,
                                           const SecureBound* bound) {
  const std::string head = absl::StrCat("partial ", OpStr(op), " aggregate: ");
  if (count < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(head, "count ", count, " must be at least 1"));
  }
  if (!std::isfinite(total_weight) || total_weight < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        head, "total weight ", total_weight, " must be finite and >= 0"));
  }
  Accumulator acc;
  if (!IsSecure(op)) {
    absl::Status s = Adopt(op, acc, value, [](const Tensor& t) {
      return MutableTensor::CopyOf(t);
    });
    if (!s.ok())
      return absl::InvalidArgumentError(absl::StrCat(head, s.message()));
    acc.count_ = count;
    acc.total_weight_ = total_weight;
    return acc;
  }
  if (bound == nullptr || bound->rep_ == nullptr || bound->rep_->op != op) {
    return absl::FailedPreconditionError(
        absl::StrCat(head, "needs the bound the values were folded with"));
  }
  if (!value.is_struct() || value.struct_value().elements.size() != 2 ||
      value.struct_value().elements[0].name != "sums" ||
      value.struct_value().elements[1].name != "dtypes") {
    return absl::InvalidArgumentError(absl::StrCat(
        head, "expected <sums=..., dtypes=...>, found ", DescribeValue(value)));
  }
  const Value& sums = *value.struct_value().elements[0].value;
  const Value& kinds = *value.struct_value().elements[1].value;
  // The structure and the values' dtypes from `kinds`, the running sums
  // from `sums`, which must have the same structure with int64 leaves.
  absl::Status s = Adopt(op, acc, kinds, [](const Tensor& t) {
    return MutableTensor::Zeros(DType::kInt64, {0});
  });
  if (!s.ok())
    return absl::InvalidArgumentError(absl::StrCat(head, s.message()));
  Accumulator running;
  s = Adopt(op, running, sums,
            [](const Tensor& t) { return MutableTensor::CopyOf(t); });
  if (!s.ok())
    return absl::InvalidArgumentError(absl::StrCat(head, s.message()));
  const bool same_shape =
      (acc.layout_ == nullptr) == (running.layout_ == nullptr) &&
      acc.leaves_.size() == running.leaves_.size() &&
      (acc.layout_ == nullptr ||
       acc.layout_->nodes.size() == running.layout_->nodes.size());
  bool same = same_shape;
  for (size_t i = 0;
       same && acc.layout_ != nullptr && i < acc.layout_->nodes.size(); ++i) {
    const LayoutNode& a = acc.layout_->nodes[i];
    const LayoutNode& b = running.layout_->nodes[i];
    same = a.name == b.name && a.parent == b.parent &&
           a.num_children == b.num_children && a.leaf == b.leaf;
  }
  if (!same) {
    return absl::InvalidArgumentError(absl::StrCat(
        head, "sums and dtypes differ in structure: ", DescribeValue(sums),
        " and ", DescribeValue(kinds)));
  }
  for (size_t l = 0; l < running.leaves_.size(); ++l) {
    if (running.leaves_[l].dtype() != DType::kInt64) {
      return absl::InvalidArgumentError(
          absl::StrCat(head, "the running sums must be int64 tensors, found ",
                       DescribeValue(sums)));
    }
  }
  acc.leaves_ = std::move(running.leaves_);
  s = ResolveBound(acc, *bound->rep_, &acc.bound_leaf_);
  if (!s.ok())
    return absl::InvalidArgumentError(absl::StrCat(head, s.message()));
  acc.bound_ = bound->rep_;
  for (size_t l = 0; l < acc.leaves_.size(); ++l) {
    const BoundLeaf& bl =
        acc.bound_->leaves[static_cast<size_t>(acc.bound_leaf_[l])];
    const int64_t* sum = acc.leaves_[l].data<int64_t>().data();
    for (int64_t i = 0; i < acc.leaves_[l].num_elements(); ++i) {
      // A running sum is never negative; a modular one is below M.
      if (sum[i] < 0 || (op == AggregateOp::kSecureModularSum &&
                         static_cast<uint64_t>(sum[i]) > bl.limit(i))) {
        return absl::InvalidArgumentError(absl::StrCat(
            head, "the running sum ", sum[i],
            Location(Path(acc, NodeOfLeafFast(acc, l)), acc.leaves_[l].rank(),
                     i),
            " is outside ",
            op == AggregateOp::kSecureModularSum ? RangeString(op, bl.limit(i))
                                                 : std::string("[0, 2^63)")));
      }
    }
  }
  acc.count_ = count;
  acc.total_weight_ = total_weight;
  return acc;
}

}  // namespace aggregators_internal

using aggregators_internal::Access;

absl::StatusOr<ExportedPartial> ExportPartial(Accumulator&& acc) {
  return Access::Export(std::move(acc));
}

absl::StatusOr<Accumulator> ImportPartial(AggregateOp op, int64_t count,
                                          double total_weight,
                                          const Value& value,
                                          const SecureBound* bound) {
  return Access::Import(op, count, total_weight, value, bound);
}

}  // namespace fedexec::exec
