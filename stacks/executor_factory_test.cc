#include "stacks/executor_factory.h"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedexec::stacks {
namespace {

using ::testing::HasSubstr;

// A stack builder that builds a bare LocalExecutor (enough to hold and
// materialize tensors) and remembers every stack it built.
class CountingBuilder {
 public:
  StackBuilder builder() {
    return [this](std::shared_ptr<exec::ExecutionContext> context,
                  int64_t num_clients) {
      auto top =
          std::make_shared<exec::LocalExecutor>(std::move(context), nullptr);
      std::lock_guard<std::mutex> lock(mu_);
      built_.push_back({num_clients, top});
      return top;
    };
  }
  int builds() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(built_.size());
  }
  int builds_for(int64_t num_clients) const {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const Built& b : built_) n += b.num_clients == num_clients;
    return n;
  }
  // Stacks built that are still alive.
  int alive() const {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const Built& b : built_) n += !b.top.expired();
    return n;
  }
  bool alive(int index) const {
    std::lock_guard<std::mutex> lock(mu_);
    return !built_.at(index).top.expired();
  }

 private:
  struct Built {
    int64_t num_clients;
    std::weak_ptr<exec::LocalExecutor> top;
  };
  mutable std::mutex mu_;
  std::vector<Built> built_;
};

std::unique_ptr<LocalExecutorFactory> MakeFactory(CountingBuilder& builder,
                                                  int cache_size,
                                                  int threads = 2) {
  LocalExecutorFactoryOptions options;
  options.threads = threads;
  options.cache_size = cache_size;
  auto factory = LocalExecutorFactory::Create(options, builder.builder());
  EXPECT_TRUE(factory.ok()) << factory.status();
  return factory.ok() ? *std::move(factory) : nullptr;
}

std::shared_ptr<Executor> Get(ExecutorFactory& factory, int64_t clients) {
  auto executor = factory.ExecutorFor(clients);
  EXPECT_TRUE(executor.ok()) << executor.status();
  return executor.ok() ? *executor : nullptr;
}

// The executor works: holds a tensor and gives it back.
void ExpectWorks(Executor& executor) {
  Value value(Tensor::Scalar<float>(2.5f));
  auto held = executor.CreateValue(value);
  ASSERT_TRUE(held.ok()) << held.status();
  auto back = executor.Materialize(*held);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, value);
}

TEST(LocalExecutorFactoryTest, SameClientCountReusesTheStack) {
  CountingBuilder builder;
  auto factory = MakeFactory(builder, 4);
  std::shared_ptr<Executor> a = Get(*factory, 3);
  std::shared_ptr<Executor> b = Get(*factory, 3);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(builder.builds(), 1);
  std::shared_ptr<Executor> c = Get(*factory, 5);
  EXPECT_NE(a.get(), c.get());
  EXPECT_EQ(builder.builds(), 2);
  a = b = c = nullptr;
  // Unused stacks stay cached.
  EXPECT_EQ(builder.alive(), 2);
  EXPECT_EQ(Get(*factory, 5) != nullptr, true);
  EXPECT_EQ(builder.builds(), 2);
}

TEST(LocalExecutorFactoryTest, KeepsTheMostRecentlyUsedStacks) {
  CountingBuilder builder;
  auto factory = MakeFactory(builder, 2);
  Get(*factory, 1);  // built 0
  Get(*factory, 2);  // built 1
  Get(*factory, 1);  // reused: 1 is now the most recent
  EXPECT_EQ(builder.builds(), 2);
  Get(*factory, 3);  // built 2; evicts 2, the least recently used
  EXPECT_EQ(builder.builds(), 3);
  EXPECT_TRUE(builder.alive(0));
  EXPECT_FALSE(builder.alive(1)) << "the evicted stack must be destroyed";
  EXPECT_TRUE(builder.alive(2));
  EXPECT_EQ(factory->NumCachedStacks(), 2);

  Get(*factory, 1);  // still cached
  EXPECT_EQ(builder.builds_for(1), 1);
  Get(*factory, 2);  // built again; evicts 3
  EXPECT_EQ(builder.builds_for(2), 2);
  EXPECT_FALSE(builder.alive(2));
  EXPECT_EQ(builder.alive(), 2);
}

TEST(LocalExecutorFactoryTest, ManyClientCountsKeepOnlyCacheSizeStacks) {
  CountingBuilder builder;
  auto factory = MakeFactory(builder, 4);
  for (int round = 0; round < 3; ++round) {
    for (int64_t clients = 0; clients < 50; ++clients) {
      ExpectWorks(*Get(*factory, clients));
    }
  }
  EXPECT_EQ(builder.builds(), 150) << "a cycle of 50 counts defeats LRU of 4";
  EXPECT_EQ(builder.alive(), 4);
  EXPECT_EQ(factory->NumCachedStacks(), 4);
}

TEST(LocalExecutorFactoryTest, EvictedStackLivesWhileHeld) {
  CountingBuilder builder;
  auto factory = MakeFactory(builder, 1);
  std::shared_ptr<Executor> held = Get(*factory, 7);
  Get(*factory, 8);  // evicts 7 from the cache
  EXPECT_TRUE(builder.alive(0));
  ExpectWorks(*held);
  held.reset();
  EXPECT_FALSE(builder.alive(0));
}

TEST(LocalExecutorFactoryTest, CancelledStackIsNotReused) {
  CountingBuilder builder;
  auto factory = MakeFactory(builder, 4);
  std::shared_ptr<Executor> first = Get(*factory, 3);
  first->Cancel();
  std::shared_ptr<Executor> second = Get(*factory, 3);
  EXPECT_NE(first.get(), second.get());
  EXPECT_EQ(builder.builds(), 2);
  ExpectWorks(*second);
  // The cancelled stack left the cache: it dies with its last holder.
  first.reset();
  EXPECT_FALSE(builder.alive(0));
  EXPECT_EQ(factory->NumCachedStacks(), 1);

  // A cancelled stack of another count is dropped too, at the next request.
  std::shared_ptr<Executor> other = Get(*factory, 9);
  other->Cancel();
  other.reset();
  EXPECT_TRUE(builder.alive(2)) << "still cached until the next request";
  Get(*factory, 3);
  EXPECT_FALSE(builder.alive(2));
  EXPECT_EQ(factory->NumCachedStacks(), 1);
}

TEST(LocalExecutorFactoryTest, CacheSizeZeroBuildsEveryTime) {
  CountingBuilder builder;
  auto factory = MakeFactory(builder, 0);
  std::shared_ptr<Executor> a = Get(*factory, 2);
  std::shared_ptr<Executor> b = Get(*factory, 2);
  EXPECT_NE(a.get(), b.get());
  ExpectWorks(*a);
  a = b = nullptr;
  EXPECT_EQ(builder.alive(), 0);
  EXPECT_EQ(factory->NumCachedStacks(), 0);
}

TEST(LocalExecutorFactoryTest, ReleaseDropsCachedStacks) {
  CountingBuilder builder;
  auto factory = MakeFactory(builder, 4);
  Get(*factory, 1);
  std::shared_ptr<Executor> held = Get(*factory, 2);
  factory->Release();
  EXPECT_EQ(factory->NumCachedStacks(), 0);
  EXPECT_FALSE(builder.alive(0));
  EXPECT_TRUE(builder.alive(1));
  ExpectWorks(*held);
  Get(*factory, 1);
  EXPECT_EQ(builder.builds_for(1), 2);
}

TEST(LocalExecutorFactoryTest, StackOutlivesTheFactory) {
  CountingBuilder builder;
  auto factory = MakeFactory(builder, 4, /*threads=*/3);
  std::shared_ptr<Executor> held = Get(*factory, 2);
  factory.reset();
  // The pool lives on with the stack.
  ExpectWorks(*held);
  held.reset();
  EXPECT_EQ(builder.alive(), 0);
}

TEST(LocalExecutorFactoryTest, BadOptionsAndCounts) {
  for (int threads : {-1, ThreadPool::kMaxThreads + 1}) {
    LocalExecutorFactoryOptions options;
    options.threads = threads;
    auto factory = LocalExecutorFactory::Create(options);
    ASSERT_FALSE(factory.ok()) << threads;
    EXPECT_EQ(factory.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(factory.status().message()), HasSubstr("threads"));
  }
  LocalExecutorFactoryOptions options;
  options.cache_size = -1;
  auto factory = LocalExecutorFactory::Create(options);
  ASSERT_FALSE(factory.ok());
  EXPECT_THAT(std::string(factory.status().message()), HasSubstr("cache size"));

  CountingBuilder builder;
  auto good = MakeFactory(builder, 4);
  auto executor = good->ExecutorFor(-2);
  ASSERT_FALSE(executor.ok());
  EXPECT_EQ(executor.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(executor.status().message()), HasSubstr("-2"));
  EXPECT_EQ(builder.builds(), 0);
}

TEST(LocalExecutorFactoryTest, ThreadsDefaultToTheHardware) {
  CountingBuilder builder;
  auto factory = MakeFactory(builder, 4, /*threads=*/0);
  int expected = static_cast<int>(std::thread::hardware_concurrency());
  EXPECT_EQ(factory->num_threads(), expected > 0 ? expected : 1);
  EXPECT_EQ(MakeFactory(builder, 4, /*threads=*/3)->num_threads(), 3);
}

TEST(LocalExecutorFactoryTest, ConcurrentRequests) {
  CountingBuilder builder;
  auto factory = MakeFactory(builder, 2);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        auto executor = factory->ExecutorFor((t + i) % 4);
        if (!executor.ok()) {
          ++failures;
          continue;
        }
        if (i % 50 == 7) (*executor)->Cancel();
        auto held = (*executor)->CreateValue(Value(Tensor::Scalar<int32_t>(i)));
        if (!held.ok()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(factory->NumCachedStacks(), 2);
  factory->Release();
  EXPECT_EQ(builder.alive(), 0);
}

}  // namespace
}  // namespace fedexec::stacks
