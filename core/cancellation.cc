#include "core/cancellation.h"

#include <utility>
#include <vector>

namespace fedexec {
namespace {
thread_local CancelSignal* current_signal = nullptr;
}  // namespace

void CancelSignal::Cancel() {
  std::vector<std::function<void()>> callbacks;
  {
    MutexLock lock(mu_);
    if (cancelled_) return;
    cancelled_ = true;
    running_ = true;
    runner_ = std::this_thread::get_id();
    for (auto& [id, callback] : callbacks_) {
      callbacks.push_back(std::move(callback));
    }
    callbacks_.clear();
  }
  for (auto& callback : callbacks) callback();
  MutexLock lock(mu_);
  running_ = false;
  done_.SignalAll();
}

bool CancelSignal::cancelled() const {
  MutexLock lock(mu_);
  return cancelled_;
}

uint64_t CancelSignal::Subscribe(std::function<void()> callback) {
  {
    MutexLock lock(mu_);
    if (!cancelled_) {
      const uint64_t id = next_id_++;
      callbacks_.emplace(id, std::move(callback));
      return id;
    }
  }
  callback();
  return 0;
}

void CancelSignal::Unsubscribe(uint64_t id) {
  MutexLock lock(mu_);
  callbacks_.erase(id);
  // A callback of Cancel may be running on another thread: wait for it
  // (not on the thread that runs it, which would wait for itself).
  while (running_ && runner_ != std::this_thread::get_id()) done_.Wait(mu_);
}

CancelSignal* CurrentCancelSignal() { return current_signal; }

CancelScope::CancelScope(CancelSignal* signal) : previous_(current_signal) {
  current_signal = signal;
}

CancelScope::~CancelScope() { current_signal = previous_; }

CancelSubscription::CancelSubscription(std::function<void()> callback)
    : signal_(CurrentCancelSignal()) {
  if (signal_ != nullptr) id_ = signal_->Subscribe(std::move(callback));
}

CancelSubscription::~CancelSubscription() {
  if (signal_ != nullptr) signal_->Unsubscribe(id_);
}

}  // namespace fedexec
