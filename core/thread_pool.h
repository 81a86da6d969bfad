// ThreadPool: the one bounded pool of worker threads that runs fedexec's
// per-client work, and ParallelFor, which splits an index range into chunks
// and runs them on a pool with the calling thread taking part.
//
// Contract (what blocks, what never does):
// - A pool has a fixed number of worker threads, created in the constructor
//   and joined in the destructor. Nothing here ever creates a thread per
//   operation.
// - Schedule() never blocks on work: it appends to an unbounded FIFO queue.
// - ParallelFor and its variants block their caller until every chunk that
//   was started has finished. While it waits the caller runs chunks itself,
//   and once no chunk is left to claim it waits only for chunks that other
//   threads have already started (never for a task that sits in the queue).
//   Chunks are claimed in increasing index order. Hence ParallelFor may be
//   called from inside a pool task, nested to any depth, on a pool of any
//   size including 1, without deadlock: in the worst case the caller runs
//   every chunk itself.
// - A pool thread never waits for queued work; helper tasks that find no
//   chunk left return at once.
// - Wake-up latency: a worker that runs out of tasks keeps looking for new
//   ones for kSpinMicros (pausing the CPU between looks, yielding it now and
//   then) before it blocks. Blocking and being woken costs tens of
//   microseconds on virtual machines, which would otherwise be paid twice
//   by every short call (the stack's tasks hop from the caller to a worker
//   and back) and once by every ParallelFor helper.
//
// Thread-safety: ThreadPool, ParallelFor* and CancellationToken are safe to
// use from any number of threads. A pool must not be destroyed from one of
// its own tasks, nor while other threads may still call Schedule() on it.
#ifndef FEDEXEC_CORE_THREAD_POOL_H_
#define FEDEXEC_CORE_THREAD_POOL_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/mutex.h"

namespace fedexec {

// A one-way flag: once Cancel() is called, IsCancelled() is true forever.
// Work that observes it skips what has not started yet.
class CancellationToken {
 public:
  CancellationToken() = default;
  CancellationToken(const CancellationToken&) = delete;
  CancellationToken& operator=(const CancellationToken&) = delete;

  void Cancel() { cancelled_.store(true, std::memory_order_release); }
  bool IsCancelled() const {
    return cancelled_.load(std::memory_order_acquire);
  }

 private:
  std::atomic<bool> cancelled_{false};
};

class ThreadPool {
 public:
  using Task = absl::AnyInvocable<void() &&>;

  // The largest pool accepted by Create(); the constructor clamps to it.
  static constexpr int kMaxThreads = 4096;

  // Starts max(1, min(num_threads, kMaxThreads)) worker threads.
  explicit ThreadPool(int num_threads);

  // Like the constructor, but a size outside [1, kMaxThreads] is
  // INVALID_ARGUMENT instead of being clamped (for sizes that come from
  // users, e.g. a --threads flag).
  static absl::StatusOr<std::unique_ptr<ThreadPool>> Create(int num_threads);

  // The process-wide pool, sized by std::thread::hardware_concurrency()
  // (1 when unknown). Created on first use and never destroyed, so it is
  // usable until the process exits.
  static ThreadPool& Default();

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Runs every task still queued (including tasks that those tasks
  // schedule), then joins the workers.
  ~ThreadPool();

  int num_threads() const { return static_cast<int>(workers_.size()); }

  // Queues `task` to run once on some worker thread, in FIFO order.
  // Never blocks on other tasks.
  void Schedule(Task task);

  // How long an idle worker looks for work before it blocks.
  static constexpr int kSpinMicros = 50;

 private:
  void WorkerLoop();

  Mutex mu_;
  CondVar cv_;
  std::deque<Task> queue_ FEDEXEC_GUARDED_BY(mu_);
  bool stopping_ FEDEXEC_GUARDED_BY(mu_) = false;
  int sleeping_ FEDEXEC_GUARDED_BY(mu_) = 0;  // workers blocked on cv_
  // queue_.size(), readable without the lock by spinning workers.
  std::atomic<size_t> queued_{0};
  std::vector<std::thread> workers_;
};

// Splits [0, n) into chunks [i * grain, min((i + 1) * grain, n)) and calls
// fn(begin, end) once per chunk, on the pool's threads and on the calling
// thread, returning when all chunks are done. n <= 0 calls nothing.
// grain <= 0 picks a grain that gives about 4 chunks per participating
// thread. A single chunk runs inline without touching the pool.
void ParallelFor(ThreadPool& pool, int64_t n, int64_t grain,
                 absl::FunctionRef<void(int64_t, int64_t)> fn);

// As above, but once `cancel` is cancelled chunks that have not begun
// running are skipped (chunks already running finish). Returns OK when every
// chunk ran, even if the token was cancelled too late to skip any;
// otherwise CANCELLED with the number of chunks skipped. Which chunks ran is
// then timing dependent.
absl::Status ParallelFor(ThreadPool& pool, int64_t n, int64_t grain,
                         absl::FunctionRef<void(int64_t, int64_t)> fn,
                         const CancellationToken& cancel);

// As ParallelFor, for a fn that can fail. After an error no chunk above the
// lowest failing one starts (running chunks finish), while every chunk below
// it runs to its end (chunks are claimed in index order, so those were
// claimed already). Returns the error of the lowest failing chunk: for a fn
// whose failures depend only on its chunk, exactly the error a plain
// sequential loop would return, whatever the thread count.
// With `cancel` (may be null): as in the cancellable ParallelFor; an error
// takes precedence over CANCELLED.
absl::Status ParallelForWithStatus(
    ThreadPool& pool, int64_t n, int64_t grain,
    absl::FunctionRef<absl::Status(int64_t, int64_t)> fn,
    const CancellationToken* cancel = nullptr);

}  // namespace fedexec

#endif  // FEDEXEC_CORE_THREAD_POOL_H_
