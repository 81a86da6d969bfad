// WaiterPool: the threads of the executor service (service/
// executor_service.h) for the calls that wait (Materialize,
// PartialAggregate): started on demand up to `max_threads`, then reused;
// joined by the destructor after every queued task ran. Apart from the
// executors' pool, whose threads must never block on the network.
//
// Thread-safety: Schedule may be called concurrently from any thread
// (tasks too); the destructor must not run on one of the pool's threads.
#ifndef FEDEXEC_SERVICE_WAITER_POOL_H_
#define FEDEXEC_SERVICE_WAITER_POOL_H_

#include <deque>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "core/mutex.h"

namespace fedexec::service {

class WaiterPool {
 public:
  using Task = absl::AnyInvocable<void() &&>;

  explicit WaiterPool(int max_threads) : max_threads_(max_threads) {}
  ~WaiterPool();
  WaiterPool(const WaiterPool&) = delete;
  WaiterPool& operator=(const WaiterPool&) = delete;

  void Schedule(Task task);

 private:
  void Loop();

  const int max_threads_;
  Mutex mu_;
  CondVar cv_;
  std::deque<Task> queue_ FEDEXEC_GUARDED_BY(mu_);
  int idle_ FEDEXEC_GUARDED_BY(mu_) = 0;
  bool stopping_ FEDEXEC_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ FEDEXEC_GUARDED_BY(mu_);
};

}  // namespace fedexec::service

#endif  // FEDEXEC_SERVICE_WAITER_POOL_H_
