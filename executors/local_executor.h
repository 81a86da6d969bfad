// LocalExecutor: the base of every in-process executor. It implements the
// asynchronous Executor interface once (ids, futures, dependencies,
// scheduling on the stack's pool, cancellation, materializing) on top of a
// few synchronous hooks that each concrete executor overrides:
//
//   Evaluate(node)      the value of an IR node (default: EmbedLeaf)
//   EmbedLeaf(node)     the value of a leaf node this executor knows
//                       (default: ask the child; without child an error)
//   ValidateValue(v)    check a value handed in by CreateValue (default: ask
//                       the child)
//
// An executor of a stack delegates to its child through these hooks,
// synchronously and in-process: values are shared core Values, so nothing
// is copied or serialized between layers, and per-client work never goes
// through the asynchronous interface one client at a time.
//
// Scheduling. CreateValue(node) and CreateCall each schedule one task on
// the pool once the values they need are computed (never before: no task
// waits for another). A task runs its hook to the end; hooks spread
// per-client work over the pool with ParallelFor or TreeReduce
// (core/thread_pool.h, core/tree_reduce.h), in which the calling thread
// takes part, so no pool thread ever waits for work that is not running,
// at any pool size including 1. CreateStruct and CreateSelection are done
// inline by whichever thread completes their last input.
//
// Errors: a value whose input failed fails with the same status (copied, see
// CopyStatus), so the first error reaches every dependent value and
// Materialize unchanged.
//
// Thread-safety: as Executor. Hooks run on pool threads, concurrently.
#ifndef FEDEXEC_EXECUTORS_LOCAL_EXECUTOR_H_
#define FEDEXEC_EXECUTORS_LOCAL_EXECUTOR_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "executors/executor.h"
#include "executors/function.h"

namespace fedexec::exec {

class ValueState;

class LocalExecutor : public Executor {
 public:
  // `child` may be null for the bottom of a stack. Every executor of a
  // stack shares one context.
  LocalExecutor(std::shared_ptr<ExecutionContext> context,
                std::shared_ptr<LocalExecutor> child);
  // Cancels the stack's context (nothing of a stack being destroyed is
  // wanted any more) and waits for the tasks this executor scheduled.
  ~LocalExecutor() override;

  // ------------------------------------------------------------ Executor
  absl::StatusOr<OwnedValue> CreateValue(const Value& value) override;
  absl::StatusOr<OwnedValue> CreateValue(
      const ir::NodePtr& computation) override;
  absl::StatusOr<OwnedValue> CreateCall(
      ValueId function, std::optional<ValueId> argument) override;
  absl::StatusOr<OwnedValue> CreateStruct(
      const std::vector<StructElementId>& elements) override;
  absl::StatusOr<OwnedValue> CreateSelection(ValueId source,
                                             int index) override;
  absl::StatusOr<Value> Materialize(ValueId value) override;
  absl::Status Dispose(ValueId value) override;
  void Cancel() override;
  int64_t NumValues() const override;
  // Resolves the values of `spec` (waiting for them) and hands them to
  // AggregateShard.
  absl::StatusOr<std::vector<PartialNode>> PartialAggregate(
      const PartialAggregateSpec& spec) override;
  using Executor::CreateCall;
  using Executor::CreateSelection;
  using Executor::Materialize;

  // ----------------------------------------- in-process hooks (see above)
  virtual absl::StatusOr<Value> Evaluate(const ir::NodePtr& node);
  virtual absl::StatusOr<Value> EmbedLeaf(const ir::NodePtr& node);
  virtual absl::Status ValidateValue(const Value& value);
  // The form in which a validated value from CreateValue is held: the value
  // itself, unless an executor of the stack keeps some of it elsewhere (a
  // composing executor sends per-client members to its children). The
  // default asks the child.
  virtual absl::StatusOr<Value> ImportValue(const Value& value);
  // Executor::PartialAggregate over resolved values (operand and the
  // functions null when absent). The default passes it to the child;
  // UNIMPLEMENTED at the bottom. The federating executor implements it.
  virtual absl::StatusOr<std::vector<PartialNode>> AggregateShard(
      const PartialAggregateSpec& spec, const Value& value,
      const Value* operand, const Value* function, const Value* merge);

  // Waits for a value and returns it as this executor holds it (lazy
  // members and functions included), for executors of the same process.
  absl::StatusOr<Value> Resolve(ValueId value);

  const std::shared_ptr<ExecutionContext>& context() const { return context_; }
  LocalExecutor* child() const { return child_.get(); }

  // Value states alive in this process (all executors): with NumValues, lets
  // tests check that nothing outlives its handles.
  static int64_t NumLiveStatesForTesting();

 protected:
  // Queues `task` on the pool, counted so that the destructor can wait.
  void Schedule(absl::AnyInvocable<void() &&> task);

 private:
  absl::StatusOr<std::shared_ptr<ValueState>> Lookup(ValueId id) const;
  OwnedValue Register(std::shared_ptr<ValueState> state);

  std::shared_ptr<ExecutionContext> context_;
  std::shared_ptr<LocalExecutor> child_;

  mutable std::mutex mu_;
  absl::flat_hash_map<ValueId, std::shared_ptr<ValueState>> values_;
  ValueId next_id_ = 1;

  std::mutex tasks_mu_;
  std::condition_variable tasks_cv_;
  int64_t tasks_in_flight_ = 0;
};

// A concrete copy of `value`: lazy sequences and lazy members produced
// (members in parallel on the context's pool). INVALID_ARGUMENT when the
// value is or contains a function ("cannot materialize a function value:
// ..."); errors of producing an element are returned as they are.
absl::StatusOr<Value> MaterializeValue(const Value& value,
                                       ExecutionContext& context);

}  // namespace fedexec::exec

#endif  // FEDEXEC_EXECUTORS_LOCAL_EXECUTOR_H_
