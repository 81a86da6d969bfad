// Tests of the composing executor on its own: how clients are split into
// shards, and which shards it refuses. Its behaviour over whole stacks
// (bit-identical results, lost children, foreign workers) is tested end to
// end in stacks/composing_stack_test.cc.
#include "executors/composing_executor.h"

#include <cstdint>
#include <memory>
#include <utility>

#include "core/thread_pool.h"
#include "executors/leaf_executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/native_runtime.h"

namespace fedexec::exec {
namespace {

using ::testing::HasSubstr;

TEST(ComposingExecutorTest, PlanShardsSplitsWholeBlocksByCapacity) {
  auto plan = PlanShards(1000, {1, 2, 1});
  ASSERT_TRUE(plan.ok());
  // 63 blocks: 15.75, 31.5, 15.75 -> 16, 31, 16 (largest remainders).
  ASSERT_EQ(plan->size(), 3u);
  EXPECT_EQ((*plan)[0], std::make_pair(int64_t{0}, int64_t{256}));
  EXPECT_EQ((*plan)[1], std::make_pair(int64_t{256}, int64_t{496}));
  EXPECT_EQ((*plan)[2], std::make_pair(int64_t{752}, int64_t{248}));
  auto few = PlanShards(5, {1, 1, 1});
  ASSERT_TRUE(few.ok());
  EXPECT_EQ((*few)[0].second + (*few)[1].second + (*few)[2].second, 5);
  EXPECT_FALSE(PlanShards(10, {}).ok());
  EXPECT_FALSE(PlanShards(10, {1, 0}).ok());
  EXPECT_FALSE(PlanShards(-1, {1}).ok());
}

TEST(ComposingExecutorTest, BadShardsAreRefused) {
  ThreadPool pool(1);
  auto context = std::make_shared<ExecutionContext>(pool);
  // Any executor serves as a shard's here: the shards are refused before
  // any is used.
  std::shared_ptr<Executor> child =
      std::make_shared<LeafExecutor>(context, test_util::NativeRuntimes());
  // Not starting at a block boundary (1000 clients: blocks of 16).
  auto bad = ComposingExecutor::Create(
      context, 1000, nullptr,
      {ClientShard{child, 0, 10, "a"}, ClientShard{child, 10, 990, "b"}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("whole block"));
  // Not covering every client.
  auto short_of = ComposingExecutor::Create(context, 20, nullptr,
                                            {ClientShard{child, 0, 16, "a"}});
  EXPECT_EQ(short_of.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(short_of.status().message(), HasSubstr("hold 16 clients"));
  // A shard without an executor, and a negative client count.
  auto no_executor = ComposingExecutor::Create(
      context, 16, nullptr, {ClientShard{nullptr, 0, 16, "a"}});
  EXPECT_EQ(no_executor.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_executor.status().message(), HasSubstr("a has no executor"));
  auto negative = ComposingExecutor::Create(context, -1, nullptr, {});
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fedexec::exec
