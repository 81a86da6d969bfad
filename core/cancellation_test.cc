#include "core/cancellation.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"

namespace fedexec {
namespace {

TEST(CancelSignalTest, CancelRunsEverySubscriberOnce) {
  CancelSignal signal;
  int runs = 0;
  signal.Subscribe([&] { ++runs; });
  signal.Subscribe([&] { ++runs; });
  EXPECT_FALSE(signal.cancelled());
  signal.Cancel();
  signal.Cancel();
  EXPECT_TRUE(signal.cancelled());
  EXPECT_EQ(runs, 2);
}

TEST(CancelSignalTest, ASubscriberAfterCancelRunsAtOnce) {
  CancelSignal signal;
  signal.Cancel();
  bool ran = false;
  signal.Subscribe([&] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST(CancelSignalTest, AnUnsubscribedCallbackDoesNotRun) {
  CancelSignal signal;
  bool ran = false;
  const uint64_t id = signal.Subscribe([&] { ran = true; });
  signal.Unsubscribe(id);
  signal.Cancel();
  EXPECT_FALSE(ran);
}

TEST(CancelSignalTest, UnsubscribeWaitsForARunningCallback) {
  CancelSignal signal;
  std::atomic<bool> started = false;
  std::atomic<bool> finished = false;
  const uint64_t id = signal.Subscribe([&] {
    started = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    finished = true;
  });
  std::thread canceller([&] { signal.Cancel(); });
  while (!started) std::this_thread::yield();
  signal.Unsubscribe(id);
  EXPECT_TRUE(finished);
  canceller.join();
}

TEST(CancelScopeTest, InstallsAndRestoresTheThreadsSignal) {
  EXPECT_EQ(CurrentCancelSignal(), nullptr);
  CancelSignal outer, inner;
  {
    CancelScope a(&outer);
    EXPECT_EQ(CurrentCancelSignal(), &outer);
    {
      CancelScope b(&inner);
      EXPECT_EQ(CurrentCancelSignal(), &inner);
      std::thread other([] { EXPECT_EQ(CurrentCancelSignal(), nullptr); });
      other.join();
    }
    EXPECT_EQ(CurrentCancelSignal(), &outer);
  }
  EXPECT_EQ(CurrentCancelSignal(), nullptr);
}

TEST(CancelSubscriptionTest, FollowsTheCurrentSignalForItsScope) {
  CancelSignal signal;
  int runs = 0;
  {
    CancelSubscription none([&] { ++runs; });  // no signal: nothing
  }
  CancelScope scope(&signal);
  {
    CancelSubscription gone([&] { ++runs; });
  }
  CancelSubscription live([&] { ++runs; });
  signal.Cancel();
  EXPECT_EQ(runs, 1);
}

}  // namespace
}  // namespace fedexec
