// CancelSignal: a one-shot cancellation that work in progress subscribes
// to, and CancelScope, which makes a signal the current one of a thread.
//
// Why: some work cannot be handed a cancellation through its arguments
// without changing every interface between the caller and it: building an
// execution stack (stacks::ExecutorFactory::ExecutorFor) runs the factory's
// builder, which may ask remote workers for executors (blocking calls that
// can take as long as their deadlines). stacks::Runtime makes a signal per
// call and installs it with a CancelScope while the stack is built;
// blocking operations that can stop early (exec::RemoteExecutor::Create)
// subscribe to CurrentCancelSignal() and stop when it fires, so that
// cancelling a call (Ctrl-C) reaches a stack still being built.
//
// Thread-safety: every method of CancelSignal may be called concurrently
// from any thread. CancelScope is per thread.
#ifndef FEDEXEC_CORE_CANCELLATION_H_
#define FEDEXEC_CORE_CANCELLATION_H_

#include <cstdint>
#include <functional>
#include <map>
#include <thread>

#include "core/mutex.h"

namespace fedexec {

class CancelSignal {
 public:
  CancelSignal() = default;
  CancelSignal(const CancelSignal&) = delete;
  CancelSignal& operator=(const CancelSignal&) = delete;

  // Fires the signal: runs every subscribed callback once, on this thread,
  // without the signal's lock. Later calls do nothing.
  void Cancel() FEDEXEC_EXCLUDES(mu_);
  bool cancelled() const FEDEXEC_EXCLUDES(mu_);

  // Runs `callback` when the signal fires (at once, on this thread, when
  // it fired already). The id is for Unsubscribe.
  uint64_t Subscribe(std::function<void()> callback) FEDEXEC_EXCLUDES(mu_);
  // After this returns, the callback of `id` is not running and will not
  // run (it waits for a callback running on another thread).
  void Unsubscribe(uint64_t id) FEDEXEC_EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  CondVar done_;  // the callbacks of Cancel have run
  bool cancelled_ FEDEXEC_GUARDED_BY(mu_) = false;
  bool running_ FEDEXEC_GUARDED_BY(mu_) = false;
  std::thread::id runner_ FEDEXEC_GUARDED_BY(mu_);
  uint64_t next_id_ FEDEXEC_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, std::function<void()>> callbacks_ FEDEXEC_GUARDED_BY(mu_);
};

// The signal installed on this thread by the innermost CancelScope, or
// null.
CancelSignal* CurrentCancelSignal();

// Installs `signal` (may be null) as this thread's current one for its
// scope, then restores the previous one.
class CancelScope {
 public:
  explicit CancelScope(CancelSignal* signal);
  ~CancelScope();
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

 private:
  CancelSignal* previous_;
};

// Subscribes `callback` to this thread's current signal (if any) for its
// scope: unsubscribed (waiting for a running callback) when it ends.
class CancelSubscription {
 public:
  explicit CancelSubscription(std::function<void()> callback);
  ~CancelSubscription();
  CancelSubscription(const CancelSubscription&) = delete;
  CancelSubscription& operator=(const CancelSubscription&) = delete;

 private:
  CancelSignal* signal_;
  uint64_t id_ = 0;
};

}  // namespace fedexec

#endif  // FEDEXEC_CORE_CANCELLATION_H_
