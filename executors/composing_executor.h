// ComposingExecutor: one computation over clients spread across child
// executors (local stacks, remote workers, or other composing executors).
//
// The composing executor is the federating executor of a stack whose
// CLIENTS live elsewhere. It holds SERVER values and all-equal values
// itself and runs what only involves them exactly as FederatingExecutor
// does (it is one, for all clients). Per-client values are SHARDED: shard
// k of the executor's clients, clients [first_k, first_k + count_k), lives
// in child k as a value of its own stack (which has count_k clients), and
// the composing executor holds a handle: a lazy CLIENTS value whose members
// are fetched from the children only if someone reads them one by one
// (materializing a per-client result, say).
//
// Where work runs:
// - CreateValue of a value with per-client members sends each shard its
//   members (the tensors are shared with in-process children, encoded for
//   remote ones).
// - federated_map, federated_map_all_equal, federated_zip_at_clients,
//   federated_eval_at_clients, federated_select, federated_secure_select
//   and generic_plus/multiply/divide with a sharded argument (and
//   federated_eval_at_clients always) are forwarded: each child runs the
//   same intrinsic on its shard, with the other arguments (SERVER values,
//   all-equal values, functions) sent along. Functions are sent as
//   themselves to in-process children and as their IR (Function::ToNode)
//   to remote ones.
// - Aggregations (sum, mean, weighted_mean, min, max, secure_sum,
//   secure_sum_bitwidth, aggregate) of a sharded value ask every child for
//   its partial aggregate (Executor::PartialAggregate): the nodes of the
//   canonical block tree (core/tree_reduce.h) that tile the child's shard,
//   and merge them by that same tree here. Shards are unions of whole
//   aligned blocks of AggregationBlockSize(clients) clients, so the result
//   is bit-identical to a single in-process stack's, whatever the number
//   of children and the order their answers arrive in.
//   A child that cannot aggregate its shard (PartialAggregate answers
//   UNIMPLEMENTED without a location mark: TensorFlow Federated's worker,
//   which has no fedexec extension) has its members read instead, and the
//   aggregation is folded here over all clients by the same block tree:
//   the same bits, more traffic.
// Creating a forwarded value returns at once (the children's Creates are
// asynchronous); an aggregation waits for its children's partials, in
// parallel across children.
//
// Composing executors nest: a composing executor answers PartialAggregate
// for its own range by merging its children's nodes into the tiling of that
// range (MergeIntoTiling), which gives hierarchical aggregation with the
// same bits.
//
// Lost children. Every per-client value remembers how its parts were made
// (the members it was created from, or the intrinsic and argument it was
// forwarded with). When a child's executor is lost (UNAVAILABLE,
// DEADLINE_EXCEEDED, ABORTED, FAILED_PRECONDITION), the composing executor
// asks ComposingOptions::replace for another executor for that shard's
// clients, and the parts that are needed again are rebuilt there by
// replaying how they were made: only the lost shard is re-run, and the
// result has the same bits. Replacements are bounded (max_replacements per
// shard); without a replacer, or when none is found, the computation fails
// with UNAVAILABLE naming the shard and why.
//
// Errors of a child are returned with the shard named ("clients [16, 32)
// on worker 127.0.0.1:5001: federated_map: client 3: ..."; client indices
// inside a forwarded op's message are the child's own, from 0).
//
// Thread-safety: as LocalExecutor. Children must be thread-safe executors
// that outlive nothing of this one: the composing executor holds them.
#ifndef FEDEXEC_EXECUTORS_COMPOSING_EXECUTOR_H_
#define FEDEXEC_EXECUTORS_COMPOSING_EXECUTOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "executors/executor.h"
#include "executors/federating_executor.h"

namespace fedexec::exec {

// One child of a composing executor and its share of the clients.
struct ClientShard {
  // A stack for `count` clients (its federating executor has count
  // clients), thread-safe.
  std::shared_ptr<Executor> executor;
  int64_t first = 0;
  int64_t count = 0;
  // For messages: "worker 127.0.0.1:5001", "shard 2".
  std::string name;
};

// Splits clients 0..num_clients-1 into consecutive ranges, one per weight,
// sized in proportion to the weights (> 0) and made of whole blocks of
// `block_size` clients (0: AggregationBlockSize(num_clients), the blocks of
// the aggregations; only the last range may end inside a block; ranges may
// be empty when there are fewer blocks than weights). Returns (first,
// count) per weight. Deterministic: the same inputs give the same split.
absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> PlanShards(
    int64_t num_clients, const std::vector<double>& weights,
    int64_t block_size = 0);

// Finds an executor to take over a shard whose executor was lost (it
// answered UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED or FAILED_PRECONDITION):
// given the shard as it was (first, count, the lost executor and its name)
// and why it was given up, returns the shard with a new executor (for
// `count` clients) and its name. An error means no executor can take it.
using ShardReplacer = std::function<absl::StatusOr<ClientShard>(
    const ClientShard& lost, const absl::Status& why)>;

struct ComposingOptions {
  // Unset: a lost executor fails the computation (UNAVAILABLE naming it).
  ShardReplacer replace;
  // Replacements of one shard at most, over the composing executor's life.
  int max_replacements = 3;
};

class ComposingExecutor : public FederatingExecutor {
 public:
  // `shards` must tile clients [0, num_clients) in order (first of each is
  // the end of the one before), each starting at a multiple of
  // AggregationBlockSize(num_clients); shards with no clients are dropped.
  // `server` is the child that gets every unplaced leaf, as for
  // FederatingExecutor (functions run themselves). Fails (INVALID_ARGUMENT)
  // when the shards do not have that form.
  static absl::StatusOr<std::shared_ptr<ComposingExecutor>> Create(
      std::shared_ptr<ExecutionContext> context, int64_t num_clients,
      std::shared_ptr<LocalExecutor> server, std::vector<ClientShard> shards,
      ComposingOptions options = {});

  // A value with per-client members is split across the children.
  absl::StatusOr<Value> ImportValue(const Value& value) override;

  // Intrinsics become composing intrinsic functions (see above).
  absl::StatusOr<Value> EmbedLeaf(const ir::NodePtr& node) override;

  // Cancels this stack and every child.
  void Cancel() override;

  // Nesting: the children's partials merged into the tiling of this
  // executor's range.
  absl::StatusOr<std::vector<PartialNode>> AggregateShard(
      const PartialAggregateSpec& spec, const Value& value,
      const Value* operand, const Value* function, const Value* merge) override;

  struct State;

  ComposingExecutor(std::shared_ptr<ExecutionContext> context,
                    int64_t num_clients, std::shared_ptr<LocalExecutor> server,
                    std::shared_ptr<const State> state);

 private:
  std::shared_ptr<const State> state_;
};

// Whether `value` is a CLIENTS value whose members live in the children of
// a composing executor.
bool IsSharded(const Value& value);

}  // namespace fedexec::exec

#endif  // FEDEXEC_EXECUTORS_COMPOSING_EXECUTOR_H_
