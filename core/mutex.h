// Mutex, MutexLock and CondVar: std::mutex and std::condition_variable with
// clang's thread-safety annotations (absl/base/thread_annotations.h), so
// that a clang build with -Wthread-safety (FEDEXEC_THREAD_SAFETY_ANALYSIS)
// checks that every field marked FEDEXEC_GUARDED_BY(mu_) is touched only
// with mu_ held, and that functions marked FEDEXEC_REQUIRES(mu_) are called
// with it.
//
// Why not absl::Mutex: Debian's Abseil is built without ThreadSanitizer
// instrumentation, so a TSan build would not see its locks and would report
// every access under one as a race. These wrap the standard types, whose
// locks TSan intercepts (pthread).
//
//   class Counter {
//    public:
//     void Add() {
//       MutexLock lock(mu_);
//       ++count_;
//     }
//    private:
//     Mutex mu_;
//     int count_ FEDEXEC_GUARDED_BY(mu_) = 0;
//   };
//
// Waiting: CondVar::Wait(mu) releases mu while it waits, as
// std::condition_variable does; the caller holds mu before and after. Loop
// on the condition around it (`while (!ready_) cv_.Wait(mu_);`), so the
// analysis sees the guarded reads under the lock.
//
// Thread-safety: as std::mutex and std::condition_variable.
#ifndef FEDEXEC_CORE_MUTEX_H_
#define FEDEXEC_CORE_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

// The annotations under fedexec's names (Abseil's macros; a no-op for
// compilers without the analysis).
#define FEDEXEC_GUARDED_BY(x) ABSL_GUARDED_BY(x)
#define FEDEXEC_PT_GUARDED_BY(x) ABSL_PT_GUARDED_BY(x)
#define FEDEXEC_REQUIRES(...) ABSL_EXCLUSIVE_LOCKS_REQUIRED(__VA_ARGS__)
#define FEDEXEC_EXCLUDES(...) ABSL_LOCKS_EXCLUDED(__VA_ARGS__)
#define FEDEXEC_ACQUIRED_AFTER(...) ABSL_ACQUIRED_AFTER(__VA_ARGS__)
#define FEDEXEC_NO_THREAD_SAFETY_ANALYSIS ABSL_NO_THREAD_SAFETY_ANALYSIS

namespace fedexec {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  // Tells the analysis that the caller holds the lock (where it cannot see
  // it, e.g. in a callback run under the lock). Checks nothing at run time.
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds a Mutex for its scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_.Lock();
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Releases `mu`, waits for a notification (or a spurious wake-up), takes
  // `mu` again.
  void Wait(Mutex& mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // As Wait, at most until `deadline`; false when it passed.
  bool WaitUntil(Mutex& mu, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    const std::cv_status status =
        deadline == absl::InfiniteFuture()
            ? (cv_.wait(lock), std::cv_status::no_timeout)
            : cv_.wait_until(lock, absl::ToChronoTime(deadline));
    lock.release();
    return status == std::cv_status::no_timeout;
  }
  // As Wait, at most for `timeout`; false when it passed.
  bool WaitFor(Mutex& mu, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return WaitUntil(mu, timeout == absl::InfiniteDuration()
                             ? absl::InfiniteFuture()
                             : absl::Now() + timeout);
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace fedexec

#endif  // FEDEXEC_CORE_MUTEX_H_
