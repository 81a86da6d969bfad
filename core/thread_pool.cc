// ThreadPool workers and the shared chunk loop behind ParallelFor.
#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace fedexec {

ThreadPool::ThreadPool(int num_threads) {
  const int n = std::clamp(num_threads, 1, kMaxThreads);
  workers_.reserve(n);
  for (int i = 0; i < n; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

absl::StatusOr<std::unique_ptr<ThreadPool>> ThreadPool::Create(
    int num_threads) {
  if (num_threads < 1 || num_threads > kMaxThreads) {
    return absl::InvalidArgumentError(
        absl::StrCat("ThreadPool: num_threads must be in [1, ", kMaxThreads,
                     "], got ", num_threads));
  }
  return std::make_unique<ThreadPool>(num_threads);
}

ThreadPool& ThreadPool::Default() {
  // Leaked on purpose: tasks may still run during static destruction.
  static ThreadPool* const pool = [] {
    const unsigned hw = std::thread::hardware_concurrency();
    return new ThreadPool(
        hw == 0 ? 1 : static_cast<int>(std::min<unsigned>(hw, kMaxThreads)));
  }();
  return *pool;
}

ThreadPool::~ThreadPool() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.SignalAll();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::Schedule(Task task) {
  bool wake = false;
  {
    MutexLock lock(mu_);
    queue_.push_back(std::move(task));
    queued_.store(queue_.size(), std::memory_order_release);
    // Spinning workers see the task without a notification.
    wake = sleeping_ > 0;
  }
  if (wake) cv_.Signal();
}

namespace {

void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

void ThreadPool::WorkerLoop() {
  using Clock = std::chrono::steady_clock;
  for (;;) {
    // Look for work without blocking for a while (see the header).
    if (queued_.load(std::memory_order_acquire) == 0) {
      const Clock::time_point until =
          Clock::now() + std::chrono::microseconds(kSpinMicros);
      for (int i = 1; queued_.load(std::memory_order_acquire) == 0; ++i) {
        if (i % 64 != 0) {
          CpuRelax();
          continue;
        }
        if (Clock::now() >= until) break;
        std::this_thread::yield();
      }
    }
    Task task;
    {
      MutexLock lock(mu_);
      while (!stopping_ && queue_.empty()) {
        ++sleeping_;
        cv_.Wait(mu_);
        --sleeping_;
      }
      // Draining before exiting: a stopping pool still runs what is queued,
      // including tasks scheduled by the tasks it runs.
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
      queued_.store(queue_.size(), std::memory_order_release);
    }
    std::move(task)();
  }
}

namespace {

// State shared by the caller of a ParallelFor and its helper tasks. Helpers
// may run long after the call returned (they wait in the queue); they hold
// the state alive and touch `fn` and `cancel` only after claiming a chunk,
// which the caller waits for, so those never dangle.
struct ForState {
  ForState(int64_t n, int64_t grain, int64_t num_chunks,
           absl::FunctionRef<absl::Status(int64_t, int64_t)> fn,
           const CancellationToken* cancel, bool stop_on_error)
      : n(n),
        grain(grain),
        num_chunks(num_chunks),
        fn(fn),
        cancel(cancel),
        stop_on_error(stop_on_error) {}

  const int64_t n;
  const int64_t grain;
  const int64_t num_chunks;
  const absl::FunctionRef<absl::Status(int64_t, int64_t)> fn;
  const CancellationToken* const cancel;
  const bool stop_on_error;

  std::atomic<int64_t> next{0};      // next chunk to claim
  std::atomic<int64_t> finished{0};  // chunks run or skipped
  std::atomic<int64_t> skipped{0};
  // Lowest failing chunk so far (when stopping on errors): chunks above it
  // are skipped, chunks below it never are, which makes the returned error
  // independent of timing.
  std::atomic<int64_t> stop_above{std::numeric_limits<int64_t>::max()};

  Mutex mu;
  CondVar cv;
  bool all_finished FEDEXEC_GUARDED_BY(mu) = false;
  int64_t error_chunk FEDEXEC_GUARDED_BY(mu) = -1;
  absl::Status error FEDEXEC_GUARDED_BY(mu);
};

// Claims chunks in index order and runs (or skips) them until none is left.
// Never waits for anything.
void RunChunks(ForState& s) {
  for (;;) {
    const int64_t i = s.next.fetch_add(1, std::memory_order_relaxed);
    if (i >= s.num_chunks) return;
    const bool skip = i > s.stop_above.load(std::memory_order_relaxed) ||
                      (s.cancel != nullptr && s.cancel->IsCancelled());
    if (skip) {
      s.skipped.fetch_add(1, std::memory_order_relaxed);
    } else {
      const int64_t begin = i * s.grain;
      const int64_t end = s.n - begin <= s.grain ? s.n : begin + s.grain;
      absl::Status status = s.fn(begin, end);
      if (!status.ok()) {
        MutexLock lock(s.mu);
        if (s.error_chunk < 0 || i < s.error_chunk) {
          s.error_chunk = i;
          s.error = std::move(status);
        }
        if (s.stop_on_error) {
          s.stop_above.store(s.error_chunk, std::memory_order_relaxed);
        }
      }
    }
    if (s.finished.fetch_add(1, std::memory_order_acq_rel) + 1 ==
        s.num_chunks) {
      MutexLock lock(s.mu);
      s.all_finished = true;
      s.cv.SignalAll();
    }
  }
}

absl::Status ParallelForImpl(
    ThreadPool& pool, int64_t n, int64_t grain,
    absl::FunctionRef<absl::Status(int64_t, int64_t)> fn,
    const CancellationToken* cancel, bool stop_on_error) {
  if (n <= 0) return absl::OkStatus();
  if (grain <= 0) {
    const int64_t target_chunks = 4 * (int64_t{pool.num_threads()} + 1);
    grain = std::max<int64_t>(1, n / target_chunks + (n % target_chunks != 0));
  }
  const int64_t num_chunks = n / grain + (n % grain != 0);
  auto state = std::make_shared<ForState>(n, grain, num_chunks, fn, cancel,
                                          stop_on_error);
  const int64_t helpers =
      std::min<int64_t>(num_chunks - 1, int64_t{pool.num_threads()});
  for (int64_t h = 0; h < helpers; ++h) {
    pool.Schedule([state] { RunChunks(*state); });
  }
  RunChunks(*state);
  {
    // Every chunk is claimed by now; the ones still running were started by
    // other threads, so this wait is for work in progress only.
    MutexLock lock(state->mu);
    while (!state->all_finished) state->cv.Wait(state->mu);
    // Moved, not copied: helpers may destroy the state later on another
    // thread, and a shared status payload must not outlive it there.
    if (state->error_chunk >= 0) return std::move(state->error);
  }
  const int64_t skipped = state->skipped.load(std::memory_order_relaxed);
  if (skipped > 0) {
    return absl::CancelledError(absl::StrCat("ParallelFor cancelled: ", skipped,
                                             " of ", num_chunks,
                                             " chunks skipped"));
  }
  return absl::OkStatus();
}

}  // namespace

void ParallelFor(ThreadPool& pool, int64_t n, int64_t grain,
                 absl::FunctionRef<void(int64_t, int64_t)> fn) {
  auto wrapped = [fn](int64_t begin, int64_t end) {
    fn(begin, end);
    return absl::OkStatus();
  };
  ParallelForImpl(pool, n, grain, wrapped, nullptr, false).IgnoreError();
}

absl::Status ParallelFor(ThreadPool& pool, int64_t n, int64_t grain,
                         absl::FunctionRef<void(int64_t, int64_t)> fn,
                         const CancellationToken& cancel) {
  auto wrapped = [fn](int64_t begin, int64_t end) {
    fn(begin, end);
    return absl::OkStatus();
  };
  return ParallelForImpl(pool, n, grain, wrapped, &cancel, false);
}

absl::Status ParallelForWithStatus(
    ThreadPool& pool, int64_t n, int64_t grain,
    absl::FunctionRef<absl::Status(int64_t, int64_t)> fn,
    const CancellationToken* cancel) {
  return ParallelForImpl(pool, n, grain, fn, cancel, true);
}

}  // namespace fedexec
