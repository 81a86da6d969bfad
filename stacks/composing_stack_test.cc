// Composing stacks (executors/composing_executor.h, stacks/composing_factory.h)
// give bit-identical results to one local stack, for every intrinsic, with
// 1, 2 and 3 children of unequal capacity and with nested composing
// executors; children that receive functions as IR (as remote workers do)
// give the same bits too.
#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/value.h"
#include "executors/composing_executor.h"
#include "executors/function.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"
#include "ir/value_syntax.h"
#include "stacks/composing_factory.h"
#include "stacks/executor_factory.h"
#include "stacks/runtime.h"
#include "testing/intrinsic_cases.h"

namespace fedexec::stacks {
namespace {

using ::testing::HasSubstr;
using namespace ::fedexec::test_util;  // NOLINT: the cases and values

// An executor that receives function values as their IR, the way a remote
// worker does: every other call passes through.
//
// Faults: once `fault->dead` is set every call fails with UNAVAILABLE, as a
// worker that was killed; `fault->die_at_aggregate` sets it at the first
// PartialAggregate (the shard's values were made, its aggregation is lost).
// `no_partials`: PartialAggregate is UNIMPLEMENTED, as for a worker of the
// plain protocol (TensorFlow Federated's), whose members are read instead.
struct Fault {
  std::atomic<bool> dead{false};
  std::atomic<bool> die_at_aggregate{false};
  std::atomic<int> aggregates{0};
  std::atomic<bool> no_partials{false};
};

class AsIfRemote : public Executor {
 public:
  explicit AsIfRemote(std::shared_ptr<Executor> inner,
                      std::shared_ptr<Fault> fault = nullptr)
      : inner_(std::move(inner)), fault_(std::move(fault)) {}

  absl::Status Killed() const {
    if (fault_ != nullptr && fault_->dead.load()) {
      return absl::UnavailableError("connection refused (killed in the test)");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<OwnedValue> CreateValue(const Value& value) override {
    FEDEXEC_RETURN_IF_ERROR(Killed());
    if (value.is_function()) {
      auto f = exec::AsFunction(value);
      if (!f.ok()) return f.status();
      auto node = (*f)->ToNode();
      if (!node.ok()) return node.status();
      ++functions_sent_;
      return Wrap(inner_->CreateValue(*node));
    }
    return Wrap(inner_->CreateValue(value));
  }
  absl::StatusOr<OwnedValue> CreateValue(const ir::NodePtr& node) override {
    FEDEXEC_RETURN_IF_ERROR(Killed());
    return Wrap(inner_->CreateValue(node));
  }
  absl::StatusOr<OwnedValue> CreateCall(
      ValueId function, std::optional<ValueId> argument) override {
    FEDEXEC_RETURN_IF_ERROR(Killed());
    return Wrap(inner_->CreateCall(function, argument));
  }
  absl::StatusOr<OwnedValue> CreateStruct(
      const std::vector<StructElementId>& elements) override {
    FEDEXEC_RETURN_IF_ERROR(Killed());
    return Wrap(inner_->CreateStruct(elements));
  }
  absl::StatusOr<OwnedValue> CreateSelection(ValueId source,
                                             int index) override {
    FEDEXEC_RETURN_IF_ERROR(Killed());
    return Wrap(inner_->CreateSelection(source, index));
  }
  absl::StatusOr<Value> Materialize(ValueId value) override {
    FEDEXEC_RETURN_IF_ERROR(Killed());
    return inner_->Materialize(value);
  }
  absl::Status Dispose(ValueId value) override {
    return inner_->Dispose(value);
  }
  void Cancel() override { inner_->Cancel(); }
  int64_t NumValues() const override { return inner_->NumValues(); }
  absl::StatusOr<std::vector<PartialNode>> PartialAggregate(
      const PartialAggregateSpec& spec) override {
    if (fault_ != nullptr) {
      ++fault_->aggregates;
      if (fault_->die_at_aggregate.load()) fault_->dead.store(true);
    }
    FEDEXEC_RETURN_IF_ERROR(Killed());
    if (fault_ != nullptr && fault_->no_partials.load()) {
      ++refused_partials_;
      return absl::UnimplementedError("no PartialAggregate (plain protocol)");
    }
    return inner_->PartialAggregate(spec);
  }

  static inline std::atomic<int64_t> functions_sent_{0};
  static inline std::atomic<int64_t> refused_partials_{0};

 private:
  // Handles of the inner executor become handles of this one (same ids).
  absl::StatusOr<OwnedValue> Wrap(absl::StatusOr<OwnedValue> v) {
    if (!v.ok()) return v.status();
    return OwnedValue(this, v->Release());
  }

  std::shared_ptr<Executor> inner_;
  std::shared_ptr<Fault> fault_;
};

class AsIfRemoteFactory : public ExecutorFactory {
 public:
  explicit AsIfRemoteFactory(std::unique_ptr<ExecutorFactory> inner,
                             std::shared_ptr<Fault> fault = nullptr)
      : inner_(std::move(inner)), fault_(std::move(fault)) {}
  absl::StatusOr<std::shared_ptr<Executor>> ExecutorFor(
      int64_t num_clients) override {
    if (fault_ != nullptr && fault_->dead.load()) {
      return absl::UnavailableError("connection refused (killed in the test)");
    }
    auto e = inner_->ExecutorFor(num_clients);
    if (!e.ok()) return e.status();
    return std::shared_ptr<Executor>(std::make_shared<AsIfRemote>(*e, fault_));
  }
  void Release() override { inner_->Release(); }

 private:
  std::unique_ptr<ExecutorFactory> inner_;
  std::shared_ptr<Fault> fault_;
};

std::shared_ptr<ExecutorFactory> LocalChild(
    int threads, bool as_remote, std::shared_ptr<Fault> fault = nullptr) {
  auto local = LocalExecutorFactory::Create({.threads = threads});
  EXPECT_TRUE(local.ok()) << local.status();
  if (!as_remote && fault == nullptr) {
    return std::shared_ptr<ExecutorFactory>(*std::move(local));
  }
  return std::make_shared<AsIfRemoteFactory>(*std::move(local),
                                             std::move(fault));
}

// A layout of children: capacities, and whether the second child is itself
// a composing factory of two.
struct Layout {
  std::string name;
  std::vector<double> capacities;
  bool nested = false;
  bool as_remote = false;
  // Child 0 and the nested children cannot aggregate their shards.
  bool no_partials = false;
};

std::shared_ptr<Fault> NoPartials(bool no_partials) {
  if (!no_partials) return nullptr;
  auto fault = std::make_shared<Fault>();
  fault->no_partials = true;
  return fault;
}

std::unique_ptr<Runtime> MakeComposing(const Layout& layout) {
  std::vector<ChildFactory> children;
  for (size_t i = 0; i < layout.capacities.size(); ++i) {
    std::shared_ptr<ExecutorFactory> factory;
    if (layout.nested && i == 1) {
      // Aligned to every block size of the outer stack, or (as_remote)
      // not, so that the outer stack reads the inner members.
      auto inner = CreateComposingFactory(
          {ChildFactory{
               LocalChild(1, layout.as_remote, NoPartials(layout.no_partials)),
               1, "inner 0"},
           ChildFactory{
               LocalChild(1, layout.as_remote, NoPartials(layout.no_partials)),
               2, "inner 1"}},
          {.threads = 2}, 3,
          layout.as_remote ? 1 : exec::kMaxAggregationBlockSize);
      EXPECT_TRUE(inner.ok()) << inner.status();
      factory = std::shared_ptr<ExecutorFactory>(*std::move(inner));
    } else {
      factory = LocalChild(1 + static_cast<int>(i % 2), layout.as_remote,
                           NoPartials(layout.no_partials && i == 0));
    }
    children.push_back(
        ChildFactory{factory, layout.capacities[i], absl::StrCat("child ", i)});
  }
  auto factory = CreateComposingFactory(std::move(children), {.threads = 2});
  EXPECT_TRUE(factory.ok()) << factory.status();
  auto runtime = Runtime::CreateWithFactory(*std::move(factory));
  EXPECT_TRUE(runtime.ok()) << runtime.status();
  return *std::move(runtime);
}

std::unique_ptr<Runtime> MakeLocal() {
  auto runtime = Runtime::Create({.threads = 2});
  EXPECT_TRUE(runtime.ok()) << runtime.status();
  return *std::move(runtime);
}

std::vector<Layout> Layouts() {
  return {
      {"one_child", {1}},
      {"two_children", {1, 1}},
      {"three_unequal", {1, 2, 3}},
      {"nested", {1, 1}, /*nested=*/true},
      {"three_as_remote", {3, 1, 2}, false, /*as_remote=*/true},
      {"nested_as_remote", {2, 1}, true, true},
      // Children that cannot aggregate (workers of the plain protocol):
      // their members are read and folded by the same tree.
      {"one_without_partials", {2, 1, 1}, false, true, /*no_partials=*/true},
      {"nested_without_partials", {1, 1}, true, false, true},
  };
}

TEST(ComposingStackTest, BitIdenticalToOneLocalStack) {
  auto local = MakeLocal();
  for (const Layout& layout : Layouts()) {
    auto composing = MakeComposing(layout);
    const int64_t refused = AsIfRemote::refused_partials_.load();
    for (const Case& c : Cases()) {
      ir::NodePtr computation = Compile(c.text);
      ASSERT_NE(computation, nullptr) << c.name;
      for (int64_t n : {1000, 37, 5, 16, 17}) {
        SCOPED_TRACE(absl::StrCat(layout.name, " ", c.name, " n=", n));
        std::optional<Value> argument = c.argument(n);
        Runtime::CallOptions options;
        options.num_clients = n;
        auto expected = local->Call(computation, argument, options);
        ASSERT_TRUE(expected.ok()) << expected.status();
        auto got = composing->Call(computation, argument, options);
        ASSERT_TRUE(got.ok()) << got.status();
        EXPECT_TRUE(*got == *expected) << ir::PrintValue(*got) << "\nvs\n"
                                       << ir::PrintValue(*expected);
      }
    }
    if (layout.no_partials) {
      // The fallback was taken (the children were asked, and refused).
      EXPECT_GT(AsIfRemote::refused_partials_.load(), refused) << layout.name;
    }
  }
}

TEST(ComposingStackTest, FunctionsReachRemoteChildrenAsIR) {
  const int64_t before = AsIfRemote::functions_sent_.load();
  auto composing = MakeComposing({"remote", {1, 1}, false, true});
  ir::NodePtr computation = Compile(
      "(x: {float32}@CLIENTS) -> let k = 3.0 in "
      "federated_sum(federated_map((v: float32) -> generic_multiply(v, k), "
      "x))");
  auto got = composing->Call(computation, ScalarClients(64, 1, 0, 1));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_GT(AsIfRemote::functions_sent_.load(), before);
}

TEST(ComposingStackTest, ZeroClients) {
  auto local = MakeLocal();
  auto composing = MakeComposing({"two", {1, 1}});
  ir::NodePtr sum = Compile("(x: {float32[8]}@CLIENTS) -> federated_sum(x)");
  Value none = Value::Federated(Placement::kClients, false, {});
  auto expected = local->Call(sum, none);
  auto got = composing->Call(sum, none);
  ASSERT_TRUE(expected.ok() && got.ok()) << got.status();
  EXPECT_TRUE(*got == *expected);
  ir::NodePtr mean = Compile("(x: {float32[8]}@CLIENTS) -> federated_mean(x)");
  auto error = composing->Call(mean, none);
  EXPECT_EQ(error.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(error.status().message(), HasSubstr("zero clients"));
}

TEST(ComposingStackTest, ChildErrorsNameTheShardAndGlobalClient) {
  auto composing = MakeComposing({"two", {1, 1}});
  ir::NodePtr sum = Compile("(x: {float32[8]}@CLIENTS) -> federated_sum(x)");
  // Client 40 (in the second child's shard) has the wrong shape.
  Value x = FloatClients(64, 3);
  std::vector<Value> members;
  for (int64_t i = 0; i < 64; ++i) {
    members.push_back(i == 40 ? Value(Tensor::Vector<float>({1.f}))
                              : *x.federated().Member(i));
  }
  // The argument does not match the parameter type: refused up front.
  auto refused = composing->Call(
      sum, Value::Federated(Placement::kClients, false, members));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  // Inside a computation the shape is open, and the fold finds it.
  ir::NodePtr open = Compile("(x: {float32[?]}@CLIENTS) -> federated_sum(x)");
  auto error = composing->Call(
      open, Value::Federated(Placement::kClients, false, members));
  ASSERT_FALSE(error.ok());
  // 64 clients: blocks of one; client 40 disagrees with its neighbour.
  EXPECT_THAT(error.status().message(),
              HasSubstr("clients [40, 41) and [41, 42)"));
  EXPECT_THAT(error.status().message(),
              HasSubstr("clients [32, 64) on child 1"));
}

// Three children whose faults the test controls.
struct FaultyComposing {
  std::vector<std::shared_ptr<Fault>> faults;
  std::unique_ptr<Runtime> runtime;
};

FaultyComposing MakeFaulty(int children, int max_replacements = 3) {
  FaultyComposing out;
  std::vector<ChildFactory> list;
  for (int i = 0; i < children; ++i) {
    out.faults.push_back(std::make_shared<Fault>());
    list.push_back(ChildFactory{LocalChild(1, true, out.faults.back()), 1,
                                absl::StrCat("worker ", i)});
  }
  auto factory =
      CreateComposingFactory(std::move(list), {.threads = 2}, max_replacements);
  EXPECT_TRUE(factory.ok()) << factory.status();
  out.runtime = *Runtime::CreateWithFactory(*std::move(factory));
  return out;
}

TEST(ComposingStackTest, ChildLostMidComputationIsReplacedWithSameBits) {
  auto local = MakeLocal();
  int lost = 0;
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    ir::NodePtr computation = Compile(c.text);
    ASSERT_NE(computation, nullptr);
    Runtime::CallOptions options;
    options.num_clients = 1000;
    std::optional<Value> argument = c.argument(1000);
    auto expected = local->Call(computation, argument, options);
    ASSERT_TRUE(expected.ok()) << expected.status();
    FaultyComposing faulty = MakeFaulty(3);
    // Worker 1 made its share of every value, then dies when asked for its
    // partial aggregate (or when its members are read).
    faulty.faults[1]->die_at_aggregate = true;
    auto got = faulty.runtime->Call(computation, argument, options);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(*got == *expected);
    if (faulty.faults[1]->dead.load()) ++lost;
    // The next call of the same size avoids the lost worker.
    auto again = faulty.runtime->Call(computation, argument, options);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_TRUE(*again == *expected);
  }
  // Every case with an aggregation of per-client values lost worker 1.
  EXPECT_GE(lost, 11);
}

TEST(ComposingStackTest, ChildDeadBeforeTheCallIsLeftOut) {
  auto local = MakeLocal();
  FaultyComposing faulty = MakeFaulty(3);
  faulty.faults[0]->dead = true;
  ir::NodePtr sum = Compile("(x: {float32[8]}@CLIENTS) -> federated_sum(x)");
  Value x = FloatClients(500, 21);
  auto expected = local->Call(sum, x);
  auto got = faulty.runtime->Call(sum, x);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got == *expected);
  EXPECT_EQ(faulty.faults[0]->aggregates.load(), 0);
}

TEST(ComposingStackTest, AllChildrenLostGivesAClearError) {
  FaultyComposing faulty = MakeFaulty(2);
  for (auto& f : faulty.faults) f->die_at_aggregate = true;
  ir::NodePtr sum = Compile("(x: {float32[8]}@CLIENTS) -> federated_sum(x)");
  auto got = faulty.runtime->Call(sum, FloatClients(100, 22));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(got.status().message(), HasSubstr("lost"));
  EXPECT_THAT(got.status().message(), HasSubstr("no live child left"));
}

TEST(ComposingStackTest, ReplacementsAreBounded) {
  // Every executor a replacement gets dies too: the shard gives up after
  // max_replacements, with an error, not a loop.
  FaultyComposing faulty = MakeFaulty(3, /*max_replacements=*/1);
  for (auto& f : faulty.faults) f->die_at_aggregate = true;
  ir::NodePtr sum = Compile("(x: {float32[8]}@CLIENTS) -> federated_sum(x)");
  auto got = faulty.runtime->Call(sum, FloatClients(100, 23));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
}

// The composing executor's own refusals (bad shards) and its shard plans
// are tested beside it, in executors/composing_executor_test.cc.
TEST(ComposingStackTest, AFactoryWithoutChildrenIsRefused) {
  auto empty = CreateComposingFactory({});
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fedexec::stacks
