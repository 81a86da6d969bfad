// Whole-stack properties of the in-process executors, through the Executor
// interface: aggregations give the same bits whatever the thread count and
// whatever order client results arrive in, and in-process values are shared,
// never copied, on the way in and out.
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "core/value.h"
#include "executors/federating_executor.h"
#include "executors/leaf_executor.h"
#include "executors/reference_resolving_executor.h"
#include "executors/sequence_executor.h"
#include "gtest/gtest.h"
#include "ir/intrinsics.h"
#include "ir/type.h"
#include "testing/native_runtime.h"

namespace fedexec::exec {
namespace {

constexpr int64_t kClients = 10000;

// The full local stack shape, on its own pool.
struct Stack {
  explicit Stack(int threads, int64_t clients)
      : pool(threads), context(std::make_shared<ExecutionContext>(pool)) {
    auto child = [&] {
      auto leaf =
          std::make_shared<LeafExecutor>(context, test_util::NativeRuntimes());
      auto seq = std::make_shared<SequenceExecutor>(context, leaf);
      return std::make_shared<ReferenceResolvingExecutor>(context, seq);
    };
    auto fed = std::make_shared<FederatingExecutor>(context, clients, child());
    top = std::make_shared<ReferenceResolvingExecutor>(context, fed);
  }
  ~Stack() { top.reset(); }

  ThreadPool pool;
  std::shared_ptr<ExecutionContext> context;
  std::shared_ptr<LocalExecutor> top;
};

// Client values: float32[8] of varied magnitudes, so that the rounding of a
// sum depends on the order of its additions.
std::vector<Value> ClientValues(uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> mantissa(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-20, 20);
  std::vector<Value> members;
  members.reserve(kClients);
  for (int64_t c = 0; c < kClients; ++c) {
    std::vector<float> v(8);
    for (float& x : v) x = std::ldexp(mantissa(rng), exponent(rng));
    members.emplace_back(Tensor::Vector<float>(v));
  }
  return members;
}

// Members that arrive late, each after a pseudo-random pause, so that with
// several threads the blocks of a reduction finish in a shuffled order.
class JitteredMembers : public LazyMembers {
 public:
  JitteredMembers(std::vector<Value> members, uint32_t seed)
      : members_(std::move(members)), pauses_(members_.size()) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> pause(0, 40);
    for (int& p : pauses_) p = pause(rng) < 38 ? 0 : pause(rng) * 10;
  }
  int64_t size() const override {
    return static_cast<int64_t>(members_.size());
  }
  absl::StatusOr<Value> Get(int64_t i) const override {
    if (pauses_[i] > 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(pauses_[i]));
    }
    return members_[i];
  }

 private:
  std::vector<Value> members_;
  std::vector<int> pauses_;
};

ir::NodePtr Intrinsic(const std::string& uri, const ir::Type& argument) {
  absl::StatusOr<ir::Type> type = ir::InferIntrinsicType(uri, &argument);
  EXPECT_TRUE(type.ok()) << type.status();
  return ir::MakeNode(ir::IntrinsicNode{uri}, *type);
}

// uri applied to `argument` on a stack of `threads` threads.
Value Aggregate(const std::string& uri, const Value& argument, int threads) {
  Stack stack(threads, kClients);
  const ir::Type member = ir::Type::Tensor(DType::kFloat32, {8});
  auto fn = stack.top->CreateValue(
      Intrinsic(uri, ir::Type::Federated(member, Placement::kClients, false)));
  auto arg = stack.top->CreateValue(argument);
  EXPECT_TRUE(fn.ok() && arg.ok());
  auto call = stack.top->CreateCall(*fn, *arg);
  EXPECT_TRUE(call.ok());
  absl::StatusOr<Value> result = stack.top->Materialize(*call);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : Value();
}

std::vector<uint32_t> Bits(const Value& server_value) {
  const Tensor& t = server_value.federated().members[0].tensor();
  std::vector<uint32_t> bits(t.num_elements());
  std::memcpy(bits.data(), t.data<float>().data(), bits.size() * 4);
  return bits;
}

class DeterminismTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DeterminismTest, SameBitsForAnyThreadCountAndArrivalOrder) {
  const std::string uri = GetParam();
  const std::vector<Value> members = ClientValues(7);
  const Value concrete = Value::Federated(Placement::kClients, false, members);
  const std::vector<uint32_t> reference = Bits(Aggregate(uri, concrete, 1));

  // The same sum folded in plain client order differs in its last bits:
  // the fixed tree, not luck, makes the results agree.
  for (int threads : {2, 8}) {
    EXPECT_EQ(Bits(Aggregate(uri, concrete, threads)), reference)
        << uri << " with " << threads << " threads";
  }
  for (uint32_t seed : {1u, 2u, 3u}) {
    const Value shuffled = Value::LazyFederated(
        Placement::kClients, std::make_shared<JitteredMembers>(members, seed));
    EXPECT_EQ(Bits(Aggregate(uri, shuffled, 8)), reference)
        << uri << " with results arriving in shuffled order (seed " << seed
        << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(Aggregations, DeterminismTest,
                         ::testing::Values("federated_sum", "federated_mean",
                                           "federated_min", "federated_max"));

TEST(DeterminismTest, PlainClientOrderWouldDiffer) {
  // Guards the test above: with these values the order of additions shows.
  const std::vector<Value> members = ClientValues(7);
  std::vector<float> sequential(8, 0.0f);
  for (const Value& m : members) {
    for (int i = 0; i < 8; ++i) sequential[i] += m.tensor().data<float>()[i];
  }
  const Value tree =
      Aggregate("federated_sum",
                Value::Federated(Placement::kClients, false, members), 1);
  const Tensor& t = tree.federated().members[0].tensor();
  EXPECT_NE(std::memcmp(sequential.data(), t.data<float>().data(), 32), 0);
}

TEST(SharingTest, TensorsPassByReferenceInAndOut) {
  Stack stack(2, 3);
  std::vector<Value> members;
  for (int c = 0; c < 3; ++c) {
    members.emplace_back(Tensor::Vector<float>({1.0f * c, 2.0f, 3.0f}));
  }
  const Value x = Value::Federated(Placement::kClients, false, members);
  auto handle = stack.top->CreateValue(x);
  ASSERT_TRUE(handle.ok());
  absl::StatusOr<Value> out = stack.top->Materialize(*handle);
  ASSERT_TRUE(out.ok()) << out.status();
  for (int c = 0; c < 3; ++c) {
    EXPECT_TRUE(out->federated().members[c].tensor().SharesBufferWith(
        members[c].tensor()))
        << "member " << c << " was copied";
  }

  // Through a computation too: zipping and selecting move references only.
  auto arg = stack.top->CreateValue(
      Value::Struct({{"a", x}, {"b", Value(Tensor::Scalar(1.0f))}}));
  ASSERT_TRUE(arg.ok());
  auto a = stack.top->CreateSelection(*arg, 0);
  ASSERT_TRUE(a.ok());
  absl::StatusOr<Value> selected = stack.top->Materialize(*a);
  ASSERT_TRUE(selected.ok());
  EXPECT_TRUE(selected->federated().members[2].tensor().SharesBufferWith(
      members[2].tensor()));
}

}  // namespace
}  // namespace fedexec::exec
