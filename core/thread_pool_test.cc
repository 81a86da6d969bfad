// Specification of ThreadPool, ParallelFor, ParallelForWithStatus and
// CancellationToken (core/thread_pool.h).
#include "core/thread_pool.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/concurrency.h"

namespace fedexec {
namespace {

using ::testing::HasSubstr;

using ::fedexec::test_util::OccupiedPool;
using ::fedexec::test_util::RunWithDeadline;

// ---------------------------------------------------------------------------
// ThreadPool

TEST(ThreadPoolTest, CreateAcceptsSizesFromOneToTheMaximum) {
  for (int size : {1, 3, 8}) {
    absl::StatusOr<std::unique_ptr<ThreadPool>> pool = ThreadPool::Create(size);
    ASSERT_TRUE(pool.ok()) << pool.status();
    EXPECT_EQ((*pool)->num_threads(), size);
  }
}

TEST(ThreadPoolTest, CreateRejectsSizesOutsideTheRange) {
  for (int size : {0, -1, ThreadPool::kMaxThreads + 1}) {
    absl::StatusOr<std::unique_ptr<ThreadPool>> pool = ThreadPool::Create(size);
    ASSERT_FALSE(pool.ok()) << size;
    EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(
        pool.status().message(),
        HasSubstr(absl::StrCat("num_threads must be in [1, ",
                               ThreadPool::kMaxThreads, "], got ", size)));
  }
}

TEST(ThreadPoolTest, ConstructorClampsToAtLeastOneThread) {
  EXPECT_EQ(ThreadPool(0).num_threads(), 1);
  EXPECT_EQ(ThreadPool(-7).num_threads(), 1);
}

TEST(ThreadPoolTest, DefaultPoolIsOneSharedPoolSizedByTheHardware) {
  ThreadPool& pool = ThreadPool::Default();
  EXPECT_EQ(&pool, &ThreadPool::Default());
  const unsigned hw = std::thread::hardware_concurrency();
  EXPECT_EQ(pool.num_threads(), hw == 0 ? 1 : static_cast<int>(hw));
  std::atomic<int64_t> sum{0};
  ParallelFor(pool, 1000, 10, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) sum += i;
  });
  EXPECT_EQ(sum.load(), 999 * 1000 / 2);
}

// Idle workers look for work for kSpinMicros and then block: tasks
// scheduled while they look, and after they blocked, both run.
TEST(ThreadPoolTest, TasksRunWhetherWorkersAreLookingOrBlocked) {
  ThreadPool pool(3);
  for (int round = 0; round < 20; ++round) {
    // Every other round, leave the workers idle well past the spin period,
    // so that they block and must be woken.
    if (round % 2 == 1) {
      std::this_thread::sleep_for(
          std::chrono::microseconds(20 * ThreadPool::kSpinMicros));
    }
    std::promise<void> done;
    std::atomic<int> left{4};
    for (int i = 0; i < 4; ++i) {
      pool.Schedule([&] {
        if (left.fetch_sub(1) == 1) done.set_value();
      });
    }
    done.get_future().wait();
  }
}

TEST(ThreadPoolTest, EveryScheduledTaskRunsOnceOnAFixedSetOfWorkers) {
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<int> runs{0};
  std::mutex mu;
  std::set<std::thread::id> threads;
  {
    ThreadPool pool(4);
    for (int i = 0; i < 2000; ++i) {
      pool.Schedule([&] {
        runs.fetch_add(1);
        std::lock_guard<std::mutex> lock(mu);
        threads.insert(std::this_thread::get_id());
      });
    }
  }
  EXPECT_EQ(runs.load(), 2000);
  // No thread per operation: 2000 tasks ran on at most the 4 workers.
  EXPECT_LE(threads.size(), 4u);
  EXPECT_EQ(threads.count(caller), 0u);
}

TEST(ThreadPoolTest, SingleWorkerRunsTasksInFifoOrder) {
  std::vector<int> order;  // touched by the one worker only
  {
    ThreadPool pool(1);
    for (int i = 0; i < 100; ++i)
      pool.Schedule([&order, i] { order.push_back(i); });
  }
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

TEST(ThreadPoolTest, DestructionFinishesQueuedTasksAndTheTasksTheySchedule) {
  std::atomic<int> runs{0};
  {
    ThreadPool pool(2);
    OccupiedPool occupied(pool);  // everything below stays queued
    for (int i = 0; i < 50; ++i) {
      pool.Schedule([&] {
        runs.fetch_add(1);
        pool.Schedule([&] { runs.fetch_add(1); });
      });
    }
    // `occupied` releases the workers first, then the pool drains.
  }
  EXPECT_EQ(runs.load(), 100);
}

TEST(ThreadPoolTest, AcceptsMoveOnlyTasks) {
  std::atomic<int> seen{0};
  {
    ThreadPool pool(2);
    auto value = std::make_unique<int>(42);
    pool.Schedule([v = std::move(value), &seen] { seen = *v; });
  }
  EXPECT_EQ(seen.load(), 42);
}

// ---------------------------------------------------------------------------
// ParallelFor

TEST(ParallelForTest, CallsFnOnceForEveryIndexInChunksOfGrain) {
  for (int size : {1, 2, 8}) {
    ThreadPool pool(size);
    for (int64_t n : {1, 7, 1000, 12345}) {
      for (int64_t grain : {1, 3, 64, 100000}) {
        std::vector<std::atomic<int>> hits(n);
        std::mutex mu;
        std::set<std::pair<int64_t, int64_t>> chunks;
        ParallelFor(pool, n, grain, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) hits[i].fetch_add(1);
          std::lock_guard<std::mutex> lock(mu);
          chunks.emplace(begin, end);
        });
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(hits[i].load(), 1) << "index " << i << " n " << n;
        }
        // Chunks are exactly [i*grain, min((i+1)*grain, n)).
        const int64_t num_chunks = (n + grain - 1) / grain;
        ASSERT_EQ(static_cast<int64_t>(chunks.size()), num_chunks);
        for (int64_t c = 0; c < num_chunks; ++c) {
          EXPECT_EQ(chunks.count({c * grain, std::min(n, (c + 1) * grain)}),
                    1u);
        }
      }
    }
  }
}

TEST(ParallelForTest, NonPositiveGrainPicksOneThatCoversEveryIndex) {
  ThreadPool pool(3);
  for (int64_t grain : {0, -1, -100}) {
    std::vector<std::atomic<int>> hits(1001);
    std::atomic<int> calls{0};
    ParallelFor(pool, 1001, grain, [&](int64_t begin, int64_t end) {
      EXPECT_LT(begin, end);
      calls.fetch_add(1);
      for (int64_t i = begin; i < end; ++i) hits[i].fetch_add(1);
    });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1);
    // About 4 chunks per participating thread (3 workers + the caller).
    EXPECT_GE(calls.load(), 8);
    EXPECT_LE(calls.load(), 17);
  }
}

TEST(ParallelForTest, EmptyOrNegativeRangeCallsNothing) {
  ThreadPool pool(2);
  for (int64_t n : {0, -1, -1000}) {
    bool called = false;
    ParallelFor(pool, n, 4, [&](int64_t, int64_t) { called = true; });
    EXPECT_FALSE(called);
  }
}

TEST(ParallelForTest, SingleChunkRunsOnTheCallingThread) {
  ThreadPool pool(4);
  std::thread::id ran_on;
  ParallelFor(pool, 5, 10, [&](int64_t begin, int64_t end) {
    EXPECT_EQ(begin, 0);
    EXPECT_EQ(end, 5);
    ran_on = std::this_thread::get_id();
  });
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(ParallelForTest, CallerRunsEveryChunkWhenAllWorkersAreBusy) {
  ThreadPool pool(2);
  OccupiedPool occupied(pool);
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<int> on_caller{0};
  RunWithDeadline("ParallelFor with every worker busy", [&] {
    const std::thread::id me = std::this_thread::get_id();
    ParallelFor(pool, 100, 1, [&](int64_t, int64_t) {
      if (std::this_thread::get_id() == me) on_caller.fetch_add(1);
    });
  });
  EXPECT_EQ(on_caller.load(), 100);
  (void)caller;
}

TEST(ParallelForTest, SpreadsChunksOverWorkersAndCaller) {
  ThreadPool pool(4);
  std::mutex mu;
  std::set<std::thread::id> threads;
  ParallelFor(pool, 64, 1, [&](int64_t, int64_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::lock_guard<std::mutex> lock(mu);
    threads.insert(std::this_thread::get_id());
  });
  EXPECT_GE(threads.size(), 2u);
  EXPECT_LE(threads.size(), 5u);
}

// Three levels of ParallelFor inside pool tasks that occupy every worker:
// only caller participation keeps this from deadlocking.
void NestedSums(ThreadPool& pool, std::atomic<int64_t>& total) {
  ParallelFor(pool, 6, 1, [&](int64_t, int64_t) {
    ParallelFor(pool, 5, 2, [&](int64_t, int64_t) {
      ParallelFor(pool, 40, 3, [&](int64_t begin, int64_t end) {
        total.fetch_add(end - begin);
      });
    });
  });
}

TEST(ParallelForTest, NestedCallsFromPoolTasksNeverDeadlock) {
  for (int size : {1, 2, 8}) {
    RunWithDeadline(absl::StrCat("nested ParallelFor, pool of ", size), [size] {
      ThreadPool pool(size);
      std::atomic<int64_t> total{0};
      const int tasks = 2 * size + 1;
      std::vector<std::promise<void>> done(tasks);
      for (int t = 0; t < tasks; ++t) {
        pool.Schedule([&, t] {
          NestedSums(pool, total);
          done[t].set_value();
        });
      }
      NestedSums(pool, total);  // the outside caller joins in too
      for (auto& d : done) d.get_future().wait();
      // 6 * 3 inner chunks, each covering 40 indices.
      EXPECT_EQ(total.load(), int64_t{tasks + 1} * 6 * 3 * 40);
    });
  }
}

// ---------------------------------------------------------------------------
// ParallelForWithStatus

TEST(ParallelForWithStatusTest, OkWhenEveryChunkSucceeds) {
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  absl::Status status =
      ParallelForWithStatus(pool, 100, 7, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) sum += i;
        return absl::OkStatus();
      });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(sum.load(), 99 * 100 / 2);
}

TEST(ParallelForWithStatusTest, ReturnsTheErrorOfTheLowestFailingChunk) {
  for (int size : {1, 2, 8}) {
    ThreadPool pool(size);
    std::mt19937 rng(size);
    for (int round = 0; round < 20; ++round) {
      std::vector<int> delay_us(40);
      for (int& d : delay_us)
        d = std::uniform_int_distribution<int>(0, 300)(rng);
      std::vector<std::atomic<int>> ran(40);
      absl::Status status =
          ParallelForWithStatus(pool, 40, 1, [&](int64_t begin, int64_t) {
            // The later failing chunk tends to fail first in time.
            std::this_thread::sleep_for(
                std::chrono::microseconds(begin == 11 ? 0 : delay_us[begin]));
            ran[begin].fetch_add(1);
            if (begin == 5) return absl::NotFoundError("chunk 5 failed");
            if (begin == 11) return absl::InternalError("chunk 11 failed");
            return absl::OkStatus();
          });
      EXPECT_EQ(status, absl::NotFoundError("chunk 5 failed"))
          << "pool " << size << " round " << round;
      // Every chunk below a failing one started, so it ran to its end.
      for (int i = 0; i <= 5; ++i) EXPECT_EQ(ran[i].load(), 1) << i;
    }
  }
}

TEST(ParallelForWithStatusTest, NoChunkStartsAfterTheFirstError) {
  ThreadPool pool(2);
  OccupiedPool occupied(pool);  // the caller runs chunks in index order
  std::vector<int64_t> ran;
  absl::Status status =
      ParallelForWithStatus(pool, 10, 1, [&](int64_t begin, int64_t) {
        ran.push_back(begin);
        if (begin == 2) return absl::DataLossError("chunk 2");
        return absl::OkStatus();
      });
  EXPECT_EQ(status, absl::DataLossError("chunk 2"));
  EXPECT_EQ(ran, (std::vector<int64_t>{0, 1, 2}));
}

TEST(ParallelForWithStatusTest, ErrorTakesPrecedenceOverCancellation) {
  ThreadPool pool(2);
  OccupiedPool occupied(pool);
  CancellationToken cancel;
  absl::Status status = ParallelForWithStatus(
      pool, 10, 1,
      [&](int64_t begin, int64_t) {
        if (begin == 3) {
          cancel.Cancel();
          return absl::AbortedError("chunk 3");
        }
        return absl::OkStatus();
      },
      &cancel);
  EXPECT_EQ(status, absl::AbortedError("chunk 3"));
}

// ---------------------------------------------------------------------------
// Cancellation

TEST(CancellationTokenTest, IsAOneWayFlag) {
  CancellationToken token;
  EXPECT_FALSE(token.IsCancelled());
  token.Cancel();
  EXPECT_TRUE(token.IsCancelled());
  token.Cancel();
  EXPECT_TRUE(token.IsCancelled());
}

TEST(ParallelForCancellationTest, CancelledBeforeTheCallRunsNoChunk) {
  ThreadPool pool(2);
  CancellationToken cancel;
  cancel.Cancel();
  std::atomic<int> calls{0};
  absl::Status status = ParallelFor(
      pool, 10, 1, [&](int64_t, int64_t) { calls.fetch_add(1); }, cancel);
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(status.message(), HasSubstr("10 of 10 chunks skipped"));
  EXPECT_EQ(calls.load(), 0);
}

TEST(ParallelForCancellationTest, ChunksNotYetStartedAreSkipped) {
  ThreadPool pool(2);
  OccupiedPool occupied(pool);
  CancellationToken cancel;
  std::vector<int64_t> ran;
  absl::Status status = ParallelFor(
      pool, 10, 1,
      [&](int64_t begin, int64_t) {
        ran.push_back(begin);
        if (begin == 4) cancel.Cancel();
      },
      cancel);
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(status.message(), HasSubstr("5 of 10 chunks skipped"));
  EXPECT_EQ(ran, (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(ParallelForCancellationTest, CancellingDuringTheLastChunkIsTooLateToSkip) {
  ThreadPool pool(2);
  OccupiedPool occupied(pool);
  CancellationToken cancel;
  int calls = 0;
  absl::Status status = ParallelFor(
      pool, 10, 1,
      [&](int64_t begin, int64_t) {
        ++calls;
        if (begin == 9) cancel.Cancel();
      },
      cancel);
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(calls, 10);
}

TEST(ParallelForCancellationTest, CancellationFromAnotherThreadStopsTheLoop) {
  for (int size : {1, 2, 8}) {
    ThreadPool pool(size);
    CancellationToken cancel;
    std::atomic<int64_t> calls{0};
    absl::Status status = ParallelFor(
        pool, 100000, 1,
        [&](int64_t begin, int64_t) {
          calls.fetch_add(1);
          if (begin == 100) cancel.Cancel();
        },
        cancel);
    EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
    EXPECT_LT(calls.load(), 100000);
  }
}

TEST(ParallelForCancellationTest, NotCancelledRunsEverythingAndReturnsOk) {
  ThreadPool pool(3);
  CancellationToken cancel;
  std::atomic<int> calls{0};
  absl::Status status = ParallelFor(
      pool, 50, 3, [&](int64_t, int64_t) { calls.fetch_add(1); }, cancel);
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(calls.load(), 17);
}

}  // namespace
}  // namespace fedexec
