// Helpers for tests of code that runs on the thread pool. Tests only.
#ifndef FEDEXEC_TESTING_CONCURRENCY_H_
#define FEDEXEC_TESTING_CONCURRENCY_H_

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <string>
#include <thread>

#include "core/thread_pool.h"

namespace fedexec::test_util {

// Runs `body` on a thread of its own and aborts the whole test binary with
// a clear message if it has not finished in time, so that a deadlock fails
// the run instead of hanging it.
inline void RunWithDeadline(
    const std::string& what, std::function<void()> body,
    std::chrono::seconds limit = std::chrono::seconds(180)) {
  std::future<void> done = std::async(std::launch::async, std::move(body));
  if (done.wait_for(limit) != std::future_status::ready) {
    std::fprintf(stderr,
                 "DEADLOCK: '%s' did not finish within %lld s; aborting.\n",
                 what.c_str(), static_cast<long long>(limit.count()));
    std::fflush(stderr);
    std::abort();
  }
  done.get();
}

// Occupies every worker of `pool` until destroyed, so that work submitted to
// that pool is run entirely by its calling thread: the deterministic way to
// observe what happens chunk by chunk, block by block.
class OccupiedPool {
 public:
  explicit OccupiedPool(ThreadPool& pool)
      : release_(release_promise_.get_future().share()) {
    for (int i = 0; i < pool.num_threads(); ++i) {
      pool.Schedule([this, release = release_] {
        started_.fetch_add(1);
        release.wait();
      });
    }
    while (started_.load() < pool.num_threads()) std::this_thread::yield();
  }
  ~OccupiedPool() { release_promise_.set_value(); }

 private:
  std::promise<void> release_promise_;
  std::shared_future<void> release_;
  std::atomic<int> started_{0};
};

}  // namespace fedexec::test_util

#endif  // FEDEXEC_TESTING_CONCURRENCY_H_
