// A factory of composing stacks: each computation's clients spread across
// child factories (local stacks on their own pools, remote workers, or
// composing factories again for hierarchical aggregation), in proportion to
// each child's capacity, in shards of whole aggregation blocks
// (exec::PlanShards). The stack for a client count is built lazily, when a
// computation with that many clients is called, and kept like the local
// factory keeps its stacks (LocalExecutorFactory, the most recently used
// `cache_size`).
//
// Results are bit-identical to a single local stack's
// (executors/composing_executor.h).
//
// Thread-safety: as ExecutorFactory.
#ifndef FEDEXEC_STACKS_COMPOSING_FACTORY_H_
#define FEDEXEC_STACKS_COMPOSING_FACTORY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "stacks/executor_factory.h"

namespace fedexec::stacks {

struct ChildFactory {
  std::shared_ptr<ExecutorFactory> factory;
  // The share of clients this child takes, relative to the others (> 0).
  double capacity = 1;
  // For messages: "worker 10.0.0.2:5001", "shard 1".
  std::string name;
  // Known to be unreachable already: left out until every other child is
  // lost too.
  bool lost = false;
};

// A factory whose stacks run server-side work on `options.threads` threads
// and per-client work in `children`. INVALID_ARGUMENT for no children, a
// child without a factory, a capacity that is not positive, or bad options.
//
// Lost children: when a child's executor is lost mid-computation
// (exec::ComposingOptions), its shard is re-run on the next child that is
// not lost (in order after it), at most `max_replacements` times per shard
// of a stack; lost children are left out of the stacks built afterwards
// (until every child is lost: then all are tried again).
//
// Shards are made of whole aggregation blocks (exec::AggregationBlockSize of
// the stack's client count), and of whole groups of `shard_alignment`
// clients when that is larger. A composing factory that is itself the child
// of another (hierarchical aggregation) should pass
// exec::kMaxAggregationBlockSize: its stacks are then shards that the outer
// stack aggregates block by block, whatever its client count. (Without it
// the result is the same, but the outer stack reads the members of such a
// shard to aggregate it.)
absl::StatusOr<std::unique_ptr<ExecutorFactory>> CreateComposingFactory(
    std::vector<ChildFactory> children,
    LocalExecutorFactoryOptions options = {}, int max_replacements = 3,
    int64_t shard_alignment = 1);

}  // namespace fedexec::stacks

#endif  // FEDEXEC_STACKS_COMPOSING_FACTORY_H_
