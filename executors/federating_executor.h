// FederatingExecutor: placements and every federated intrinsic, natively.
//
// The federating executor of a stack knows the two placements: one SERVER
// and `num_clients` CLIENTS. It turns intrinsic nodes (federated_* and
// generic_*) into function values that run the intrinsic in-process, and
// hands every other leaf (literals, native leaves, sequence intrinsics, ...)
// to its child (the LocalExecutor child of the base class).
//
// Representation of federated values (core/value.h):
// - an ALL-EQUAL value (every SERVER value, and T@CLIENTS) holds exactly one
//   member, whatever the number of clients; reading client i of it reads
//   that member;
// - a per-client CLIENTS value ({T}@CLIENTS) holds num_clients members, or
//   is LAZY (FederatedValue::lazy): federated_eval_at_clients returns lazy
//   members that call the function when asked for, and federated_map or
//   federated_zip_at_clients (and generic ops and selects) over a lazy
//   input stay lazy. So federated_mean(federated_eval_at_clients(f)) over
//   many clients holds only the members of the clients being folded, not
//   all of them. A lazy member is computed again each time it is read.
//   Maps over concrete inputs run eagerly, in parallel chunks of clients;
//   over an all-equal input they run once and the result stays all-equal
//   in representation (its type is still the intrinsic's result type).
//
// Functions, per-client and server-side alike (map's function, apply,
// eval_at_server, aggregate's accumulate, merge and report, select's
// select_fn), run themselves (CallFunction, executors/function.h): a
// function value carries what it needs, so no child runs them.
//
// Aggregations (sum, mean, weighted_mean, min, max, secure_sum,
// secure_sum_bitwidth, secure_modular_sum, aggregate) fold clients with
// TreeReduce (core/tree_reduce.h) in blocks of
// AggregationBlockSize(num_clients) clients: that block size is part of the
// definition of every aggregate this executor computes (float results depend on
// it), and every executor that shards an aggregation across workers must use
// the same one. Results are bit-identical for any thread count; memory is
// O(member x window).
//
// Zero clients: a sum (secure ones too) is the zero of the member type
// (which must then have a fully known shape); mean, weighted_mean, min and
// max have no result (INVALID_ARGUMENT "federated_mean over zero clients
// has no result"); aggregate is report(zero).
//
// Errors are INVALID_ARGUMENT naming the intrinsic: a value of the wrong
// kind or placement ("federated_sum expects the argument at CLIENTS, got
// float32@SERVER"), an error of a per-client function ("federated_map:
// client 3: (int32 -> int32) native 'f': ..."; an error that already says
// where it arose, see HasLocation, passes unchanged, and so does the error
// of producing a lazy member, which names its own intrinsic and client),
// aggregation errors ("federated_sum: client 2: sum needs numeric tensors,
// found bool"). The checks are cheap ones (placement, all-equal, member
// count, function or not); member types are checked by the aggregators
// and functions as they meet them. Bounds of secure sums are accepted
// unplaced (their type) or at SERVER.
// Cancellation of the context stops per-client loops and reductions
// (CANCELLED).
//
// Lifetime: intrinsic function values and lazy values hold the executor's
// internal state (context and children) by shared pointer, never the
// executor itself, so they stay callable after it is gone.
//
// Thread-safety: as LocalExecutor; intrinsic functions may be called from
// any number of threads at once.
#ifndef FEDEXEC_EXECUTORS_FEDERATING_EXECUTOR_H_
#define FEDEXEC_EXECUTORS_FEDERATING_EXECUTOR_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executors/local_executor.h"

namespace fedexec::exec {

// Clients per TreeReduce block in every aggregation over `num_clients`
// clients (see the file comment): the least power of two that makes at
// most 64 blocks, and at most kMaxAggregationBlockSize (1 up to 64
// clients, 2 up to 128, ..., 16 from 513). A few clients get blocks of
// one, so that their aggregation spreads over threads and workers as their
// map does (10 clients over 2 workers: 5 each); many get blocks of 16, so
// that the tree costs little per client. Powers of two, so that shards
// aligned to 16 clients are whole blocks for every client count (nested
// composing stacks). A function of the client count alone, never of the
// machine: part of the definition of the results.
inline constexpr int64_t kMaxAggregationBlockSize = 16;
int64_t AggregationBlockSize(int64_t num_clients);

namespace federating_internal {
struct Core;
}  // namespace federating_internal

class FederatingExecutor : public LocalExecutor {
 public:
  // num_clients >= 0 (a negative count is taken as 0). `child` (the base
  // class's child) gets every leaf that is not a federated or generic
  // intrinsic.
  FederatingExecutor(std::shared_ptr<ExecutionContext> context,
                     int64_t num_clients, std::shared_ptr<LocalExecutor> child);

  int64_t num_clients() const;

  // Intrinsic nodes federated_* and generic_* become intrinsic function
  // values of the node's (concrete, type-checked) type; generic_zero is a
  // value: the zero of its type (for a federated type, one all-equal
  // member). Every other node goes to the child.
  absl::StatusOr<Value> EmbedLeaf(const ir::NodePtr& node) override;

  // Federated values, also inside structs, must fit this stack: a SERVER
  // value has exactly one member, an all-equal CLIENTS value one member, a
  // per-client CLIENTS value exactly num_clients members ("a CLIENTS value
  // with 3 members, but this stack has 5 clients"); no member is itself
  // federated. Then the child's check.
  absl::Status ValidateValue(const Value& value) override;

  // This stack's share of an aggregation (Executor::PartialAggregate):
  // `value` holds clients [spec.first_client, spec.first_client +
  // num_clients()) of spec.total_clients; they are folded exactly as the
  // aggregation over all clients folds them (same blocks, same tree), and
  // errors name clients by their index among all clients. The spec must
  // use AggregationBlockSize(spec.total_clients), start at a whole block
  // and, unless it is the last shard, hold whole blocks (INVALID_ARGUMENT
  // otherwise).
  absl::StatusOr<std::vector<PartialNode>> AggregateShard(
      const PartialAggregateSpec& spec, const Value& value,
      const Value* operand, const Value* function, const Value* merge) override;

 private:
  std::shared_ptr<const federating_internal::Core> core_;
};

}  // namespace fedexec::exec

#endif  // FEDEXEC_EXECUTORS_FEDERATING_EXECUTOR_H_
