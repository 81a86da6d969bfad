#include "stacks/executor_factory.h"

#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "stacks/local_stack.h"

namespace fedexec::stacks {

// One stack and what it runs on. Members are destroyed in reverse order:
// the executors first (waiting for their tasks), then the context, then
// the pool (whose threads the executors' tasks ran on).
struct LocalExecutorFactory::Stack {
  int64_t num_clients = 0;
  std::shared_ptr<ThreadPool> pool;
  std::shared_ptr<exec::ExecutionContext> context;
  std::shared_ptr<exec::LocalExecutor> top;

  ~Stack() {
    top.reset();
    context.reset();
  }
  bool cancelled() const { return context->cancel.IsCancelled(); }
};

absl::StatusOr<std::unique_ptr<LocalExecutorFactory>>
LocalExecutorFactory::Create(LocalExecutorFactoryOptions options,
                             StackBuilder builder) {
  if (options.cache_size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cache size must be 0 or more, got ", options.cache_size));
  }
  int threads = options.threads;
  if (threads == 0) {
    threads = static_cast<int>(std::thread::hardware_concurrency());
    if (threads <= 0) threads = 1;
  }
  absl::StatusOr<std::unique_ptr<ThreadPool>> pool =
      ThreadPool::Create(threads);
  if (!pool.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads must be 0 (one per hardware thread) or 1 to ",
                     ThreadPool::kMaxThreads, ", got ", options.threads));
  }
  if (builder == nullptr) {
    builder = [backend = options.data_backend](
                  std::shared_ptr<exec::ExecutionContext> context,
                  int64_t num_clients) {
      return CreateLocalStack(std::move(context), num_clients, backend);
    };
  }
  return std::unique_ptr<LocalExecutorFactory>(
      new LocalExecutorFactory(options, std::move(builder),
                               std::shared_ptr<ThreadPool>(*std::move(pool))));
}

LocalExecutorFactory::LocalExecutorFactory(LocalExecutorFactoryOptions options,
                                           StackBuilder builder,
                                           std::shared_ptr<ThreadPool> pool)
    : options_(options), builder_(std::move(builder)), pool_(std::move(pool)) {}

LocalExecutorFactory::~LocalExecutorFactory() { Release(); }

absl::StatusOr<std::shared_ptr<Executor>> LocalExecutorFactory::ExecutorFor(
    int64_t num_clients) {
  if (num_clients < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the number of clients must be 0 or more, got ", num_clients));
  }
  // Stacks dropped from the cache are destroyed after the lock is released:
  // destroying one waits for its running tasks.
  std::vector<std::shared_ptr<Stack>> dropped;
  {
    MutexLock lock(mu_);
    std::shared_ptr<Stack> cached = FindLocked(num_clients, dropped);
    if (cached != nullptr) return Top(std::move(cached));
  }
  // Not cached: built without the lock, so that a slow builder (a remote
  // stack asks its workers for executors over the network) holds up
  // neither other client counts nor Release, and a cancellation of the
  // caller (CurrentCancelSignal) reaches it.
  auto built = std::make_shared<Stack>();
  built->num_clients = num_clients;
  built->pool = pool_;
  built->context = std::make_shared<exec::ExecutionContext>(*pool_);
  absl::StatusOr<std::shared_ptr<exec::LocalExecutor>> top =
      builder_(built->context, num_clients);
  if (!top.ok()) return top.status();
  built->top = *std::move(top);
  if (built->top == nullptr) {
    return absl::InternalError(absl::StrCat(
        "the stack builder built nothing for ", num_clients, " clients"));
  }
  if (options_.cache_size == 0) return Top(std::move(built));
  MutexLock lock(mu_);
  // Another caller may have built one for this count meanwhile: the first
  // cached is the one every caller shares; this one is let go.
  std::shared_ptr<Stack> cached = FindLocked(num_clients, dropped);
  if (cached != nullptr) {
    dropped.push_back(std::move(built));
    return Top(std::move(cached));
  }
  stacks_.push_front(built);
  while (stacks_.size() > static_cast<size_t>(options_.cache_size)) {
    dropped.push_back(std::move(stacks_.back()));
    stacks_.pop_back();
  }
  return Top(std::move(built));
}

std::shared_ptr<LocalExecutorFactory::Stack> LocalExecutorFactory::FindLocked(
    int64_t num_clients, std::vector<std::shared_ptr<Stack>>& dropped) {
  for (auto it = stacks_.begin(); it != stacks_.end();) {
    if ((*it)->cancelled()) {
      dropped.push_back(std::move(*it));
      it = stacks_.erase(it);
    } else if ((*it)->num_clients == num_clients) {
      stacks_.splice(stacks_.begin(), stacks_, it);
      return *it;
    } else {
      ++it;
    }
  }
  return nullptr;
}

std::shared_ptr<Executor> LocalExecutorFactory::Top(
    std::shared_ptr<Stack> stack) {
  Executor* top = stack->top.get();
  return std::shared_ptr<Executor>(std::move(stack), top);
}

void LocalExecutorFactory::Release() {
  std::list<std::shared_ptr<Stack>> dropped;
  {
    MutexLock lock(mu_);
    dropped.swap(stacks_);
  }
}

int LocalExecutorFactory::NumCachedStacks() const {
  MutexLock lock(mu_);
  return static_cast<int>(stacks_.size());
}

}  // namespace fedexec::stacks
