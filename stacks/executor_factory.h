// ExecutorFactory: builds execution stacks lazily, one per number of
// clients, and owns their lifecycle.
//
// Lazily, because the number of clients is only known when a computation is
// called (stacks/cardinality.h infers it from the argument). A caller asks
// for the executor of a client count, uses it for one or more calls, and
// drops its reference; the factory decides how long stacks live.
//
// LocalExecutorFactory keeps the `cache_size` most recently used stacks
// (one per client count) and releases the rest: an evicted stack is
// destroyed as soon as no caller still holds it. A stack that was cancelled
// (Executor::Cancel) computes nothing more, so it is never handed out
// again: the next request for its client count builds a new one. All
// stacks of one factory run on one ThreadPool that the factory owns; a
// stack handed out keeps that pool alive, so it may outlive the factory.
//
// A stack is built without the factory's lock held: building a remote one
// waits for its workers, and meanwhile other client counts are served,
// Release returns, and the caller's cancellation (core/cancellation.h,
// installed by stacks::Runtime) reaches the builder. Two callers that miss
// the cache for one count at once may both build; the first cached is
// shared, the other is let go.
//
// Thread-safety: every method may be called concurrently from any thread.
#ifndef FEDEXEC_STACKS_EXECUTOR_FACTORY_H_
#define FEDEXEC_STACKS_EXECUTOR_FACTORY_H_

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/mutex.h"
#include "core/thread_pool.h"
#include "data/data_backend.h"
#include "executors/executor.h"
#include "executors/function.h"
#include "executors/local_executor.h"

namespace fedexec::stacks {

class ExecutorFactory {
 public:
  virtual ~ExecutorFactory() = default;

  // The executor of a stack for `num_clients` clients (>= 0; INVALID_ARGUMENT
  // otherwise), built now or reused.
  virtual absl::StatusOr<std::shared_ptr<Executor>> ExecutorFor(
      int64_t num_clients) = 0;

  // Drops every cached stack; stacks still held by callers are destroyed
  // when those let go.
  virtual void Release() = 0;
};

// Builds the top executor of a stack for `num_clients` clients whose
// executors all share `context` (see stacks/local_stack.h for the real
// one; tests pass fakes).
using StackBuilder =
    std::function<absl::StatusOr<std::shared_ptr<exec::LocalExecutor>>(
        std::shared_ptr<exec::ExecutionContext> context, int64_t num_clients)>;

struct LocalExecutorFactoryOptions {
  // Worker threads of the shared pool; 0 means one per hardware thread.
  // Otherwise 1 to ThreadPool::kMaxThreads (INVALID_ARGUMENT outside).
  int threads = 0;
  // Stacks kept (most recently used first); 0 keeps none (every request
  // builds a stack). Negative: INVALID_ARGUMENT.
  int cache_size = 4;
  // Resolves the computations' `data` nodes in the stacks the default
  // builder builds (CreateLocalStack); null: no data root here.
  std::shared_ptr<const exec::DataBackend> data_backend = nullptr;
};

class LocalExecutorFactory : public ExecutorFactory {
 public:
  // A factory of local stacks (CreateLocalStack), or of what `builder`
  // builds.
  static absl::StatusOr<std::unique_ptr<LocalExecutorFactory>> Create(
      LocalExecutorFactoryOptions options = {}, StackBuilder builder = nullptr);

  ~LocalExecutorFactory() override;

  absl::StatusOr<std::shared_ptr<Executor>> ExecutorFor(
      int64_t num_clients) override;
  void Release() override;

  int num_threads() const { return pool_->num_threads(); }
  // The number of stacks cached now (cancelled ones included until the
  // next request notices them).
  int NumCachedStacks() const;

 private:
  struct Stack;

  LocalExecutorFactory(LocalExecutorFactoryOptions options,
                       StackBuilder builder, std::shared_ptr<ThreadPool> pool);

  // The cached stack for `num_clients` (moved to the front), or null;
  // cancelled stacks met on the way go to `dropped`.
  std::shared_ptr<Stack> FindLocked(
      int64_t num_clients, std::vector<std::shared_ptr<Stack>>& dropped)
      FEDEXEC_REQUIRES(mu_);
  // The stack's top executor, keeping the whole stack alive.
  static std::shared_ptr<Executor> Top(std::shared_ptr<Stack> stack);

  const LocalExecutorFactoryOptions options_;
  const StackBuilder builder_;
  const std::shared_ptr<ThreadPool> pool_;

  mutable Mutex mu_;
  // Most recently used first.
  std::list<std::shared_ptr<Stack>> stacks_ FEDEXEC_GUARDED_BY(mu_);
};

}  // namespace fedexec::stacks

#endif  // FEDEXEC_STACKS_EXECUTOR_FACTORY_H_
