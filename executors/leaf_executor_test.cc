// Tests of LeafExecutor through the Executor interface: literals, native
// leaves compiled once and called many times (also concurrently), leaves
// without a runtime, nodes that are not leaves, and runtimes chosen by
// kind.
#include "executors/leaf_executor.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/value_syntax.h"
#include "runtimes/native/native_runtime.h"
#include "runtimes/native/registry.h"
#include "testing/concurrency.h"
#include "testing/native_runtime.h"
#include "testing/types.h"

namespace fedexec::exec {
namespace {

using ::fedexec::test_util::T;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Counts the leaves it compiles; serves `kind` with the native runtime.
class CountingRuntime : public ExternalRuntime {
 public:
  explicit CountingRuntime(std::string kind = "native")
      : kind_(std::move(kind)) {}
  std::string kind() const override { return kind_; }
  absl::StatusOr<std::shared_ptr<const LeafFunction>> Compile(
      const ir::Node& leaf) const override {
    compiled_.fetch_add(1);
    if (leaf.Is<ir::TorchScriptNode>()) {
      // Pretend to be a torch runtime: the leaf returns its argument.
      class Identity : public LeafFunction {
       public:
        explicit Identity(ir::Type type) : type_(std::move(type)) {}
        const ir::Type& type() const override { return type_; }
        absl::StatusOr<Value> Call(const Value& argument) const override {
          return argument;
        }

       private:
        ir::Type type_;
      };
      return std::make_shared<Identity>(*leaf.type());
    }
    return native_.Compile(leaf);
  }
  int compiled() const { return compiled_.load(); }

 private:
  std::string kind_;
  native::NativeRuntime native_;
  mutable std::atomic<int> compiled_{0};
};

struct Stack {
  explicit Stack(std::vector<std::shared_ptr<const ExternalRuntime>> runtimes =
                     test_util::NativeRuntimes(),
                 int threads = 2)
      : pool(threads), context(std::make_shared<ExecutionContext>(pool)) {
    executor = std::make_shared<LeafExecutor>(context, std::move(runtimes));
  }
  ThreadPool pool;
  std::shared_ptr<ExecutionContext> context;
  std::shared_ptr<LeafExecutor> executor;
};

ir::NodePtr Native(const std::string& name, const std::string& type) {
  return ir::MakeNode(ir::NativeNode{name}, T(type));
}

Value V(const std::string& text) {
  absl::StatusOr<Value> v = ir::ParseValue(text);
  EXPECT_TRUE(v.ok()) << v.status() << ": " << text;
  return v.ok() ? *v : Value();
}

absl::StatusOr<Value> CallLeaf(Executor& e, const ir::NodePtr& leaf,
                               const Value& argument) {
  absl::StatusOr<OwnedValue> f = e.CreateValue(leaf);
  if (!f.ok()) return f.status();
  absl::StatusOr<OwnedValue> arg = e.CreateValue(argument);
  if (!arg.ok()) return arg.status();
  absl::StatusOr<OwnedValue> r = e.CreateCall(*f, *arg);
  if (!r.ok()) return r.status();
  return e.Materialize(*r);
}

TEST(LeafExecutorTest, LiteralsBecomeTensors) {
  Stack stack;
  Executor& e = *stack.executor;
  const Tensor t = Tensor::Vector<float>({1.0f, 2.5f});
  absl::StatusOr<OwnedValue> v =
      e.CreateValue(ir::MakeNode(ir::LiteralNode{t}, T("float32[2]")));
  ASSERT_TRUE(v.ok()) << v.status();
  absl::StatusOr<Value> m = e.Materialize(*v);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->is_tensor());
  EXPECT_TRUE(m->tensor().SharesBufferWith(t));  // not copied
}

TEST(LeafExecutorTest, NativeLeafIsAFunctionOfItsDeclaredType) {
  Stack stack;
  absl::StatusOr<Value> f = stack.executor->EmbedLeaf(
      Native("add", "(<float32,float32> -> float32)"));
  ASSERT_TRUE(f.ok()) << f.status();
  absl::StatusOr<const Function*> function = AsFunction(*f);
  ASSERT_TRUE(function.ok());
  EXPECT_EQ((*function)->type(), T("(<float32,float32> -> float32)"));
  EXPECT_EQ((*function)->Describe(),
            "(<float32,float32> -> float32) native 'add'");

  absl::StatusOr<Value> r =
      CallLeaf(*stack.executor, Native("add", "(<float32,float32> -> float32)"),
               V("<1.5, 2.0>"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ir::PrintValue(*r), "3.5");
}

TEST(LeafExecutorTest, FunctionWithoutParameter) {
  native::NativeRegistry registry;
  ASSERT_TRUE(registry
                  .Register("seven", "( -> int32)",
                            [](const Value&) -> absl::StatusOr<Value> {
                              return Value(Tensor::Scalar<int32_t>(7));
                            })
                  .ok());
  Stack stack({std::make_shared<native::NativeRuntime>(registry)});
  Executor& e = *stack.executor;
  absl::StatusOr<OwnedValue> f = e.CreateValue(Native("seven", "( -> int32)"));
  ASSERT_TRUE(f.ok());
  absl::StatusOr<OwnedValue> r = e.CreateCall(*f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ir::PrintValue(*e.Materialize(*r)), "7");
  // With an argument it refuses.
  absl::StatusOr<OwnedValue> x = e.CreateValue(V("1"));
  absl::StatusOr<Value> bad = e.Materialize(*e.CreateCall(*f, *x));
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("takes no argument"));
}

TEST(LeafExecutorTest, EachEmbeddedLeafIsCompiledOnce) {
  auto runtime = std::make_shared<CountingRuntime>();
  Stack stack({runtime});
  Executor& e = *stack.executor;
  absl::StatusOr<OwnedValue> f =
      e.CreateValue(Native("multiply", "(<int32,int32> -> int32)"));
  ASSERT_TRUE(f.ok());
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<OwnedValue> x =
        e.CreateValue(Value::Struct({{"", Value(Tensor::Scalar<int32_t>(i))},
                                     {"", Value(Tensor::Scalar<int32_t>(i))}}));
    absl::StatusOr<OwnedValue> r = e.CreateCall(*f, *x);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(ir::PrintValue(*e.Materialize(*r)), std::to_string(i * i));
  }
  EXPECT_EQ(runtime->compiled(), 1);
}

TEST(LeafExecutorTest, NativeErrorsAreTheValuesErrors) {
  Stack stack;
  // A declared type the signature does not admit: an error of the value.
  absl::StatusOr<OwnedValue> bad =
      stack.executor->CreateValue(Native("negate", "(<int32> -> float32)"));
  ASSERT_TRUE(bad.ok());
  absl::StatusOr<Value> m = stack.executor->Materialize(*bad);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("negate"));
  // Unknown functions.
  absl::StatusOr<OwnedValue> unknown =
      stack.executor->CreateValue(Native("nope", "(int32 -> int32)"));
  ASSERT_TRUE(unknown.ok());
  EXPECT_THAT(
      std::string(stack.executor->Materialize(*unknown).status().message()),
      HasSubstr("unknown native function 'nope'"));
  // An argument that does not match the declared parameter type.
  absl::StatusOr<Value> r =
      CallLeaf(*stack.executor, Native("add", "(<float32,float32> -> float32)"),
               V("<1, 2>"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("native function 'add': argument <int32,int32> does "
                        "not match"));
  // A kernel error.
  absl::StatusOr<Value> d =
      CallLeaf(*stack.executor, Native("divide", "(<int32,int32> -> int32)"),
               V("<1, 0>"));
  EXPECT_THAT(std::string(d.status().message()),
              StartsWith("divide: integer division by zero"));
}

TEST(LeafExecutorTest, LeavesWithoutARuntime) {
  Stack stack;
  absl::StatusOr<Value> torch = stack.executor->EmbedLeaf(ir::MakeNode(
      ir::TorchScriptNode{"model.pt", "forward"}, T("(float32 -> float32)")));
  EXPECT_EQ(torch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(torch.status().message()),
            "torchscript 'model.pt'::forward: no torchscript runtime in this "
            "fedexec build");
  absl::StatusOr<Value> data = stack.executor->EmbedLeaf(
      ir::MakeNode(ir::DataNode{"file:///x", "", ""}, T("float32")));
  EXPECT_THAT(std::string(data.status().message()),
              HasSubstr("data 'file:///x': no data root here to resolve it"));
  // Without any runtime, native leaves have none either.
  Stack bare(std::vector<std::shared_ptr<const ExternalRuntime>>{});
  absl::StatusOr<Value> native =
      bare.executor->EmbedLeaf(Native("add", "(<int32,int32> -> int32)"));
  EXPECT_EQ(std::string(native.status().message()),
            "native 'add': no native runtime in this fedexec build");
}

TEST(LeafExecutorTest, NodesThatAreNotLeavesAreRefused) {
  Stack stack;
  Executor& e = *stack.executor;
  struct Case {
    ir::NodePtr node;
    std::string message;
  };
  const std::vector<Case> cases = {
      {ir::MakeNode(ir::IntrinsicNode{"federated_sum"},
                    T("({float32}@CLIENTS -> float32@SERVER)")),
       "no executor of this stack can run a intrinsic federated_sum node"},
      {ir::MakeNode(ir::PlacementNode{Placement::kClients},
                    ir::Type::PlacementType()),
       "placement"},
      {ir::MakeNode(
           ir::LambdaNode{"x", T("int32"),
                          ir::MakeNode(ir::ReferenceNode{"x"}, T("int32"))},
           T("(int32 -> int32)")),
       "no executor of this stack can run a lambda node"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<OwnedValue> v = e.CreateValue(c.node);
    ASSERT_TRUE(v.ok()) << v.status();
    absl::StatusOr<Value> m = e.Materialize(*v);
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(m.status().message()), HasSubstr(c.message));
  }
}

TEST(LeafExecutorTest, RuntimesAreChosenByKindAndTheLastOneWins) {
  auto first = std::make_shared<CountingRuntime>("native");
  auto second = std::make_shared<CountingRuntime>("native");
  auto torch = std::make_shared<CountingRuntime>("torchscript");
  Stack stack({first, second, torch});
  absl::StatusOr<Value> r = CallLeaf(
      *stack.executor, Native("add", "(<int32,int32> -> int32)"), V("<1, 2>"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ir::PrintValue(*r), "3");
  EXPECT_EQ(first->compiled(), 0);
  EXPECT_EQ(second->compiled(), 1);
  // A torchscript runtime serves torchscript leaves.
  absl::StatusOr<Value> t =
      CallLeaf(*stack.executor,
               ir::MakeNode(ir::TorchScriptNode{"m", "forward"},
                            T("(float32 -> float32)")),
               V("2.5"));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(ir::PrintValue(*t), "2.5");
  EXPECT_EQ(torch->compiled(), 1);
}

TEST(LeafExecutorTest, ALeafFunctionRunsOnManyThreadsAtOnce) {
  test_util::RunWithDeadline("leaf function on many threads", [] {
    Stack stack(test_util::NativeRuntimes(), 4);
    absl::StatusOr<Value> f = stack.executor->EmbedLeaf(
        Native("multiply", "(<int64,int64> -> int64)"));
    ASSERT_TRUE(f.ok());
    constexpr int64_t kCalls = 10000;
    std::vector<int64_t> results(kCalls);
    absl::Status status = ParallelForWithStatus(
        stack.pool, kCalls, 8, [&](int64_t begin, int64_t end) -> absl::Status {
          for (int64_t i = begin; i < end; ++i) {
            const Value arg = Value::Struct({{"", Value(Tensor::Scalar(i))},
                                             {"", Value(Tensor::Scalar(i))}});
            absl::StatusOr<Value> r = CallFunction(*f, &arg);
            if (!r.ok()) return r.status();
            results[i] = r->tensor().data<int64_t>()[0];
          }
          return absl::OkStatus();
        });
    ASSERT_TRUE(status.ok()) << status;
    for (int64_t i = 0; i < kCalls; ++i) ASSERT_EQ(results[i], i * i);
  });
}

}  // namespace
}  // namespace fedexec::exec
