#include "service/waiter_pool.h"

#include <utility>

namespace fedexec::service {

WaiterPool::~WaiterPool() {
  std::vector<std::thread> threads;
  {
    MutexLock lock(mu_);
    stopping_ = true;
    // No thread starts once stopping: the list is final.
    threads.swap(threads_);
  }
  cv_.SignalAll();
  for (std::thread& t : threads) t.join();
}

void WaiterPool::Schedule(Task task) {
  MutexLock lock(mu_);
  queue_.push_back(std::move(task));
  // Once stopping, the threads there drain the queue (a task scheduled by
  // a task runs on its thread's next turn) and no thread starts.
  if (!stopping_ && queue_.size() > static_cast<size_t>(idle_) &&
      threads_.size() < static_cast<size_t>(max_threads_)) {
    threads_.emplace_back([this] { Loop(); });
  } else {
    cv_.Signal();
  }
}

void WaiterPool::Loop() {
  for (;;) {
    Task task;
    {
      MutexLock lock(mu_);
      ++idle_;
      while (!stopping_ && queue_.empty()) cv_.Wait(mu_);
      --idle_;
      if (queue_.empty()) return;  // stopping
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(task)();
  }
}

}  // namespace fedexec::service
