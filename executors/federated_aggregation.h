// The aggregating intrinsics of the federating executor (sum, mean,
// weighted_mean, min, max, the secure sums and federated_aggregate) and
// its share of a sharded aggregation (Executor::PartialAggregate), all
// folded with TreeReduce (core/tree_reduce.h) in the blocks of
// AggregationBlockSize (see federating_executor.h for what is computed and
// how errors read). Internal to the federating executor.
//
// Thread-safety: every function may be called from any number of threads
// at once; they spread their work over the context's pool.
#ifndef FEDEXEC_EXECUTORS_FEDERATED_AGGREGATION_H_
#define FEDEXEC_EXECUTORS_FEDERATED_AGGREGATION_H_

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/value.h"
#include "executors/aggregators.h"
#include "executors/executor.h"
#include "executors/federated_values.h"
#include "ir/intrinsics.h"
#include "ir/type.h"

namespace fedexec::exec::federating_internal {

// federated_sum, federated_mean, federated_min or federated_max (`op`) of
// the CLIENTS value `argument`; `result_type` gives the zero of a sum over
// no clients.
absl::StatusOr<Value> PlainAggregate(const Core& core,
                                     std::string_view intrinsic,
                                     ir::Intrinsic op,
                                     const ir::Type& result_type,
                                     const Value& argument);

// federated_weighted_mean of <values, weights>.
absl::StatusOr<Value> WeightedMean(const Core& core, std::string_view intrinsic,
                                   const Value& argument);

// federated_secure_sum, _sum_bitwidth and _modular_sum (`op`: kSecureSum,
// kSecureSumBitwidth or kSecureModularSum) of <values, bound>.
absl::StatusOr<Value> SecureSum(const Core& core, std::string_view intrinsic,
                                AggregateOp op, const ir::Type& result_type,
                                const Value& argument);

// federated_aggregate of <values, zero, accumulate, merge, report>.
absl::StatusOr<Value> Aggregate(const Core& core, std::string_view intrinsic,
                                const Value& argument);

// FederatingExecutor::AggregateShard (see federating_executor.h).
absl::StatusOr<std::vector<PartialNode>> AggregateShardImpl(
    const Core& core, const PartialAggregateSpec& spec, const Value& value,
    const Value* operand, const Value* function, const Value* merge);

}  // namespace fedexec::exec::federating_internal

#endif  // FEDEXEC_EXECUTORS_FEDERATED_AGGREGATION_H_
