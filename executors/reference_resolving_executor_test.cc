// Tests of ReferenceResolvingExecutor over a LeafExecutor, through the
// Executor interface: lambdas and closures, blocks and shadowing, calls,
// structs and selections, where errors are reported, free references,
// trees at the nesting limit, and one closure called from many threads.
#include "executors/reference_resolving_executor.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/limits.h"
#include "core/thread_pool.h"
#include "executors/leaf_executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"
#include "ir/value_syntax.h"
#include "runtimes/native/native_runtime.h"
#include "testing/concurrency.h"
#include "testing/native_runtime.h"
#include "testing/types.h"

namespace fedexec::exec {
namespace {

using ::fedexec::test_util::T;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kAdd[] = R"(native("add", (<float32,float32> -> float32)))";

// A runtime that counts the leaves it compiles.
class CountingRuntime : public ExternalRuntime {
 public:
  explicit CountingRuntime(std::shared_ptr<const ExternalRuntime> inner)
      : inner_(std::move(inner)) {}
  std::string kind() const override { return inner_->kind(); }
  absl::StatusOr<std::shared_ptr<const LeafFunction>> Compile(
      const ir::Node& leaf) const override {
    compiled_.fetch_add(1);
    return inner_->Compile(leaf);
  }
  int compiled() const { return compiled_.load(); }

 private:
  std::shared_ptr<const ExternalRuntime> inner_;
  mutable std::atomic<int> compiled_{0};
};

// A ReferenceResolving(Leaf) stack on a pool of its own.
struct Stack {
  explicit Stack(int threads = 2,
                 std::vector<std::shared_ptr<const ExternalRuntime>> runtimes =
                     test_util::NativeRuntimes())
      : pool(threads), context(std::make_shared<ExecutionContext>(pool)) {
    leaf = std::make_shared<LeafExecutor>(context, std::move(runtimes));
    executor = std::make_shared<ReferenceResolvingExecutor>(context, leaf);
  }
  ThreadPool pool;
  std::shared_ptr<ExecutionContext> context;
  std::shared_ptr<LeafExecutor> leaf;
  std::shared_ptr<ReferenceResolvingExecutor> executor;
};

ir::NodePtr Parse(const std::string& text) {
  absl::StatusOr<ir::NodePtr> node = ir::ParseComputation(text);
  EXPECT_TRUE(node.ok()) << node.status() << "\n" << text;
  if (!node.ok()) return nullptr;
  absl::StatusOr<ir::NodePtr> checked = ir::CheckComputation(*node);
  EXPECT_TRUE(checked.ok()) << checked.status() << "\n" << text;
  return checked.ok() ? *checked : nullptr;
}

Value V(const std::string& text) {
  absl::StatusOr<Value> v = ir::ParseValue(text);
  EXPECT_TRUE(v.ok()) << v.status() << ": " << text;
  return v.ok() ? *v : Value();
}

// Creates `computation` (text), calls it with `argument` (value syntax;
// nullopt: no argument) and returns the printed result.
absl::StatusOr<std::string> RunText(Executor& executor, const std::string& text,
                                    std::optional<std::string> argument) {
  ir::NodePtr node = Parse(text);
  if (node == nullptr) return absl::InternalError("does not parse");
  absl::StatusOr<OwnedValue> f = executor.CreateValue(node);
  if (!f.ok()) return f.status();
  absl::StatusOr<OwnedValue> result;
  if (argument.has_value()) {
    absl::StatusOr<OwnedValue> arg = executor.CreateValue(V(*argument));
    if (!arg.ok()) return arg.status();
    result = executor.CreateCall(*f, *arg);
  } else {
    result = executor.CreateCall(*f);
  }
  if (!result.ok()) return result.status();
  absl::StatusOr<Value> value = executor.Materialize(*result);
  if (!value.ok()) return value.status();
  return ir::PrintValue(*value);
}

std::string Add(const std::string& a, const std::string& b) {
  return absl::StrCat(kAdd, "(<", a, ", ", b, ">)");
}

TEST(ReferenceResolvingExecutorTest, CallsANativeFunctionOnTheParameter) {
  Stack stack;
  absl::StatusOr<std::string> r =
      RunText(*stack.executor,
              absl::StrCat("(x: float32) -> ", Add("x", "1.0")), "2.0");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "3.0");
}

TEST(ReferenceResolvingExecutorTest, ValueOfANonFunctionComputation) {
  Stack stack;
  ir::NodePtr node = Parse(absl::StrCat("let a = 1.5, b = ", Add("a", "a"),
                                        " in <a=a, b=b, c=<b, 2>>"));
  absl::StatusOr<OwnedValue> v = stack.executor->CreateValue(node);
  ASSERT_TRUE(v.ok()) << v.status();
  absl::StatusOr<Value> m = stack.executor->Materialize(*v);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(ir::PrintValue(*m), "<a=1.5, b=3.0, c=<3.0, 2>>");
}

TEST(ReferenceResolvingExecutorTest, ClosureCapturesOuterParameter) {
  Stack stack;
  ir::NodePtr node =
      Parse(absl::StrCat("(x: float32) -> (y: float32) -> ", Add("x", "y")));
  Executor& e = *stack.executor;
  absl::StatusOr<OwnedValue> f = e.CreateValue(node);
  absl::StatusOr<OwnedValue> two = e.CreateValue(V("2.0"));
  absl::StatusOr<OwnedValue> ten = e.CreateValue(V("10.0"));
  ASSERT_TRUE(f.ok() && two.ok() && ten.ok());
  // The closure outlives the call that made it, and the handles of the
  // values it was made from.
  absl::StatusOr<OwnedValue> add_two = e.CreateCall(*f, *two);
  ASSERT_TRUE(add_two.ok());
  f->Reset();
  two->Reset();
  absl::StatusOr<OwnedValue> r1 = e.CreateCall(*add_two, *ten);
  absl::StatusOr<OwnedValue> r2 = e.CreateCall(*add_two, *ten);
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ(ir::PrintValue(*e.Materialize(*r1)), "12.0");
  EXPECT_EQ(ir::PrintValue(*e.Materialize(*r2)), "12.0");
  // A closure cannot be materialized.
  absl::StatusOr<Value> closure = e.Materialize(*add_two);
  EXPECT_EQ(closure.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(closure.status().message()),
              HasSubstr("cannot materialize a function value"));
}

TEST(ReferenceResolvingExecutorTest, ClosureCapturesBlockLocals) {
  Stack stack;
  Executor& e = *stack.executor;
  ir::NodePtr node = Parse(absl::StrCat(
      "(x: float32) -> let a = ", Add("x", "1.0"), ", b = ", Add("a", "a"),
      ", g = (y: float32) -> <", Add("a", "y"), ", b, x> in g"));
  absl::StatusOr<OwnedValue> f = e.CreateValue(node);
  absl::StatusOr<OwnedValue> arg = e.CreateValue(V("1.0"));
  absl::StatusOr<OwnedValue> g = e.CreateCall(*f, *arg);
  absl::StatusOr<OwnedValue> y = e.CreateValue(V("100.0"));
  ASSERT_TRUE(g.ok() && y.ok());
  absl::StatusOr<OwnedValue> r = e.CreateCall(*g, *y);
  ASSERT_TRUE(r.ok());
  absl::StatusOr<Value> v = e.Materialize(*r);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(ir::PrintValue(*v), "<102.0, 4.0, 1.0>");
}

TEST(ReferenceResolvingExecutorTest, BlocksSeeEarlierLocalsAndShadow) {
  // examples/scoping.fed with native kernels: <2 * (x + 1), x>.
  Stack stack;
  const std::string text = R"(
(x: int32) ->
  let
    y = x,
    x = native("add", (<int32,int32> -> int32))(x, 1),
    double = (x: int32) -> native("multiply", (<int32,int32> -> int32))(x, 2),
    x = double(x)
  in <x, y>)";
  absl::StatusOr<std::string> r = RunText(*stack.executor, text, "5");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "<12, 5>");
}

TEST(ReferenceResolvingExecutorTest, InnerBlockShadowsAndOuterNameReturns) {
  Stack stack;
  const std::string text =
      absl::StrCat("(x: float32) -> let a = x, b = (let a = ", Add("a", "a"),
                   ", a = ", Add("a", "a"), " in a) in <a, b, x>");
  absl::StatusOr<std::string> r = RunText(*stack.executor, text, "1.5");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "<1.5, 6.0, 1.5>");
}

TEST(ReferenceResolvingExecutorTest, ReferencesReadManyTimes) {
  // Every read but a slot's last copies it; the last may move it: each
  // read must still see the value.
  Stack stack;
  const std::string text = absl::StrCat(
      "(x: float32) -> let f = (y: float32) -> ", Add("x", "y"),
      ", z = x in <x, ", Add("x", "x"), ", f(x), f(z), z, <x, z>, f(1.0)>");
  absl::StatusOr<std::string> r = RunText(*stack.executor, text, "2.0");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "<2.0, 4.0, 4.0, 4.0, 2.0, <2.0, 2.0>, 3.0>");
}

TEST(ReferenceResolvingExecutorTest, UnusedLocalsAreStillEvaluated) {
  // A local nobody reads is computed (its error is the result's error).
  Stack stack;
  const std::string text = R"((x: int32) ->
  let unused = native("divide", (<int32,int32> -> int32))(1, x)
  in 7)";
  absl::StatusOr<std::string> ok = RunText(*stack.executor, text, "1");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, "7");
  absl::StatusOr<std::string> err = RunText(*stack.executor, text, "0");
  EXPECT_THAT(std::string(err.status().message()),
              HasSubstr("division by zero"));
}

TEST(ReferenceResolvingExecutorTest, LambdasWithoutParameter) {
  Stack stack;
  absl::StatusOr<std::string> r1 =
      RunText(*stack.executor, "() -> <1.0, 2>", std::nullopt);
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(*r1, "<1.0, 2>");
  absl::StatusOr<std::string> r2 =
      RunText(*stack.executor,
              absl::StrCat("(x: float32) -> let f = () -> ", Add("x", "x"),
                           " in <f(), f()>"),
              "0.25");
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(*r2, "<0.5, 0.5>");
}

TEST(ReferenceResolvingExecutorTest, HigherOrderFunctionsInsideAProgram) {
  Stack stack;
  const std::string text = absl::StrCat(
      "(x: float32) -> let twice = (f: (float32 -> float32)) -> (y: float32) "
      "-> f(f(y)), inc = (y: float32) -> ",
      Add("y", "1.0"), " in <twice(inc)(x), twice(twice(inc))(x), twice>[1]");
  absl::StatusOr<std::string> r = RunText(*stack.executor, text, "10.0");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "14.0");
}

TEST(ReferenceResolvingExecutorTest, FunctionsPassedThroughTheInterface) {
  Stack stack;
  Executor& e = *stack.executor;
  absl::StatusOr<OwnedValue> twice = e.CreateValue(
      Parse("(f: (float32 -> float32)) -> (y: float32) -> f(f(y))"));
  absl::StatusOr<OwnedValue> inc =
      e.CreateValue(Parse(absl::StrCat("(y: float32) -> ", Add("y", "0.5"))));
  ASSERT_TRUE(twice.ok() && inc.ok());
  absl::StatusOr<OwnedValue> inc2 = e.CreateCall(*twice, *inc);
  absl::StatusOr<OwnedValue> inc4 = e.CreateCall(*twice, *inc2);
  absl::StatusOr<OwnedValue> x = e.CreateValue(V("1.0"));
  ASSERT_TRUE(inc4.ok() && x.ok());
  absl::StatusOr<OwnedValue> r = e.CreateCall(*inc4, *x);
  ASSERT_TRUE(r.ok());
  absl::StatusOr<Value> v = e.Materialize(*r);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(ir::PrintValue(*v), "3.0");

  // A struct of functions made with CreateStruct, selected in a program.
  absl::StatusOr<OwnedValue> pair =
      e.CreateStruct({{"f", inc->id()}, {"g", inc4->id()}});
  absl::StatusOr<OwnedValue> apply =
      e.CreateValue(Parse("(p: <f=(float32 -> float32), g=(float32 -> "
                          "float32)>) -> p.g(p.f(0.0))"));
  ASSERT_TRUE(pair.ok() && apply.ok());
  absl::StatusOr<OwnedValue> r2 = e.CreateCall(*apply, *pair);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(ir::PrintValue(*e.Materialize(*r2)), "2.5");
}

TEST(ReferenceResolvingExecutorTest, StructsKeepNamesAndSelectionsByIndex) {
  Stack stack;
  const std::string text =
      "(p: <a=float32, b=<float32, c=int32>>) -> "
      "<x=p.b.c, y=p.a, z=<p.b[0]>, w=<>, p=p>";
  absl::StatusOr<std::string> r =
      RunText(*stack.executor, text, "<a=1.0, b=<2.0, c=3>>");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "<x=3, y=1.0, z=<2.0>, w=<>, p=<a=1.0, b=<2.0, c=3>>>");
}

TEST(ReferenceResolvingExecutorTest, InlineLambdaCalls) {
  Stack stack;
  const std::string text =
      absl::StrCat("(x: float32) -> ((y: float32) -> ((z: float32) -> ",
                   Add("y", "z"), ")(", Add("y", "y"), "))(x)");
  absl::StatusOr<std::string> r = RunText(*stack.executor, text, "1.0");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "3.0");
}

TEST(ReferenceResolvingExecutorTest, EachLeafIsCompiledOnce) {
  auto runtime = std::make_shared<CountingRuntime>(
      std::make_shared<native::NativeRuntime>());
  Stack stack(2, {runtime});
  Executor& e = *stack.executor;
  // Two native leaves; the inner closure is made and called many times.
  absl::StatusOr<OwnedValue> f = e.CreateValue(Parse(absl::StrCat(
      "(x: float32) -> let g = (y: float32) -> ", Add("y", "1.0"),
      " in <g(x), g(g(x)), ",
      R"(native("multiply", (<float32,float32> -> float32))(x, x)>)")));
  ASSERT_TRUE(f.ok());
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<OwnedValue> x = e.CreateValue(V("3.0"));
    absl::StatusOr<OwnedValue> r = e.CreateCall(*f, *x);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(ir::PrintValue(*e.Materialize(*r)), "<4.0, 5.0, 9.0>");
  }
  EXPECT_EQ(runtime->compiled(), 2);
}

// ------------------------------------------------------------------ errors

// The column of the first occurrence of `what` in line `line` (1-based).
std::string At(const std::string& text, int line, const std::string& what) {
  size_t start = 0;
  for (int i = 1; i < line; ++i) start = text.find('\n', start) + 1;
  const size_t pos = text.find(what, start);
  return absl::StrCat(line, ":", pos - start + 1);
}

TEST(ReferenceResolvingExecutorTest, ErrorsNameLineAndColumnOfTheCall) {
  Stack stack;
  const std::string text =
      "(x: int32) ->\n"
      "  let y = x\n"
      "  in native(\"divide\", (<int32,int32> -> int32))(<1, y>)";
  absl::StatusOr<std::string> r = RunText(*stack.executor, text, "0");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      std::string(r.status().message()),
      StartsWith(At(text, 3, "native") + ": divide: integer division by zero"));
}

TEST(ReferenceResolvingExecutorTest, ErrorsNameTheInnermostCallOnly) {
  Stack stack;
  const std::string text =
      "(x: int32) ->\n"
      "  let f = (y: int32) -> native(\"divide\", (<int32,int32> -> "
      "int32))(<1, y>),\n"
      "      g = (y: int32) -> f(y)\n"
      "  in g(x)";
  absl::StatusOr<std::string> r = RunText(*stack.executor, text, "0");
  const std::string message(r.status().message());
  EXPECT_THAT(message, StartsWith(At(text, 2, "native") + ": divide: "));
  // Once: the enclosing calls of f and g leave it alone.
  EXPECT_EQ(message.find(At(text, 3, "f(y)")), std::string::npos) << message;
  EXPECT_EQ(message.find(At(text, 4, "g(x)")), std::string::npos) << message;
}

TEST(ReferenceResolvingExecutorTest, ErrorsNameTheCalleeWhenTheMessageDoesNot) {
  Stack stack;
  const std::string text =
      "(x: int32) ->\n"
      "  let quotient = native(\"divide\", (<int32,int32> -> int32))\n"
      "  in quotient(1, x)";
  absl::StatusOr<std::string> r = RunText(*stack.executor, text, "0");
  EXPECT_THAT(std::string(r.status().message()),
              StartsWith(At(text, 3, "quotient") +
                         ": quotient: divide: integer division by zero"));
}

TEST(ReferenceResolvingExecutorTest, ErrorsOfTreesNotFromTextNameTheNodePath) {
  Stack stack;
  using ir::MakeNode;
  // (x: int32) -> <0, divide(<1, x>)>, built in code: no locations.
  ir::NodePtr divide =
      MakeNode(ir::NativeNode{"divide"}, T("(<int32,int32> -> int32)"));
  ir::NodePtr call = MakeNode(ir::CallNode{
      divide, MakeNode(ir::StructNode{
                  {{"", MakeNode(ir::LiteralNode{Tensor::Scalar<int32_t>(1)})},
                   {"", MakeNode(ir::ReferenceNode{"x"})}}})});
  ir::NodePtr lambda = MakeNode(ir::LambdaNode{
      "x", T("int32"),
      MakeNode(ir::StructNode{
          {{"", MakeNode(ir::LiteralNode{Tensor::Scalar<int32_t>(0)})},
           {"", call}}})});
  absl::StatusOr<ir::NodePtr> checked = ir::CheckComputation(lambda);
  ASSERT_TRUE(checked.ok()) << checked.status();
  Executor& e = *stack.executor;
  absl::StatusOr<OwnedValue> f = e.CreateValue(*checked);
  absl::StatusOr<OwnedValue> zero = e.CreateValue(V("0"));
  absl::StatusOr<OwnedValue> r = e.CreateCall(*f, *zero);
  ASSERT_TRUE(r.ok());
  absl::StatusOr<Value> v = e.Materialize(*r);
  EXPECT_THAT(std::string(v.status().message()),
              StartsWith("lambda.result/struct[1]: divide: integer division"));
  // The closure describes itself by its path too.
  absl::StatusOr<Value> closure = e.Materialize(*f);
  EXPECT_THAT(std::string(closure.status().message()),
              HasSubstr("(int32 -> <int32,int32>) lambda at root"));
}

TEST(ReferenceResolvingExecutorTest, FreeReferenceIsAnError) {
  Stack stack;
  using ir::MakeNode;
  // A typed tree (so not re-checked) whose body names an unbound 'y'.
  ir::NodePtr lambda = MakeNode(
      ir::LambdaNode{
          "x", T("float32"),
          MakeNode(
              ir::StructNode{
                  {{"", MakeNode(ir::ReferenceNode{"x"}, T("float32"))},
                   {"", MakeNode(ir::ReferenceNode{"y"}, T("float32"))}}},
              T("<float32,float32>"))},
      T("(float32 -> <float32,float32>)"));
  absl::StatusOr<OwnedValue> f = stack.executor->CreateValue(lambda);
  ASSERT_TRUE(f.ok());
  absl::StatusOr<Value> v = stack.executor->Materialize(*f);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(v.status().message()),
              StartsWith("lambda.result/struct[1]: free reference 'y'"));
}

TEST(ReferenceResolvingExecutorTest, LeafErrorsAreReportedWhenCompiling) {
  Stack stack;
  absl::StatusOr<std::string> r =
      RunText(*stack.executor,
              "(x: float32) ->\n  native(\"no_such_function\", (float32 -> "
              "float32))(x)",
              "1.0");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), StartsWith("2:3: "));
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("unknown native function 'no_such_function'"));
}

TEST(ReferenceResolvingExecutorTest, BadArgumentsFromOutsideDoNotCrash) {
  Stack stack;
  Executor& e = *stack.executor;
  absl::StatusOr<OwnedValue> f =
      e.CreateValue(Parse("(p: <float32, float32>) -> p[1]"));
  absl::StatusOr<OwnedValue> scalar = e.CreateValue(V("1.0"));
  absl::StatusOr<OwnedValue> single = e.CreateValue(V("<1.0>"));
  ASSERT_TRUE(f.ok() && scalar.ok() && single.ok());
  absl::StatusOr<Value> r1 = e.Materialize(*e.CreateCall(*f, *scalar));
  EXPECT_THAT(std::string(r1.status().message()),
              HasSubstr("selection [1] from float32, which is not a struct"));
  absl::StatusOr<Value> r2 = e.Materialize(*e.CreateCall(*f, *single));
  EXPECT_THAT(std::string(r2.status().message()),
              HasSubstr("selection [1] from a struct of 1 elements"));
  // Missing and superfluous arguments.
  absl::StatusOr<Value> r3 = e.Materialize(*e.CreateCall(*f));
  EXPECT_THAT(std::string(r3.status().message()),
              HasSubstr("needs an argument"));
  absl::StatusOr<OwnedValue> g = e.CreateValue(Parse("() -> 1"));
  absl::StatusOr<Value> r4 = e.Materialize(*e.CreateCall(*g, *scalar));
  EXPECT_THAT(std::string(r4.status().message()),
              HasSubstr("takes no argument"));
  // Calling a non-function.
  absl::StatusOr<Value> r5 = e.Materialize(*e.CreateCall(*scalar, *scalar));
  EXPECT_THAT(std::string(r5.status().message()),
              HasSubstr("expected a function, found float32"));
  // A function parameter given a tensor: the call inside fails, located.
  absl::StatusOr<OwnedValue> apply =
      e.CreateValue(Parse("(f: (float32 -> float32)) ->\n  f(1.0)"));
  absl::StatusOr<Value> r6 = e.Materialize(*e.CreateCall(*apply, *scalar));
  EXPECT_THAT(std::string(r6.status().message()),
              StartsWith("2:3: f: expected a function, found float32"));
}

TEST(ReferenceResolvingExecutorTest, UntypedTreesAreCheckedFirst) {
  Stack stack;
  absl::StatusOr<ir::NodePtr> node =
      ir::ParseComputation(absl::StrCat("(x: float32) -> ", Add("x", "x")));
  ASSERT_TRUE(node.ok());
  Executor& e = *stack.executor;
  absl::StatusOr<OwnedValue> f = e.CreateValue(*node);
  absl::StatusOr<OwnedValue> x = e.CreateValue(V("4.0"));
  ASSERT_TRUE(f.ok() && x.ok());
  EXPECT_EQ(ir::PrintValue(*e.Materialize(*e.CreateCall(*f, *x))), "8.0");
  // An ill-typed one is refused at once.
  absl::StatusOr<ir::NodePtr> bad =
      ir::ParseComputation(absl::StrCat("(x: int32) -> ", Add("x", "x")));
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(e.CreateValue(*bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ReferenceResolvingExecutorTest, CancelledExecutorRunsNoClosure) {
  Stack stack;
  Executor& e = *stack.executor;
  absl::StatusOr<OwnedValue> f =
      e.CreateValue(Parse(absl::StrCat("(x: float32) -> ", Add("x", "x"))));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(e.Materialize(*f).status().code() ==
              absl::StatusCode::kInvalidArgument);  // computed: a function
  e.Cancel();
  absl::StatusOr<OwnedValue> x = e.CreateValue(V("4.0"));
  ASSERT_TRUE(x.ok());
  absl::StatusOr<Value> r = e.Materialize(*e.CreateCall(*f, *x));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
}

TEST(ReferenceResolvingExecutorTest, HandlesReleaseEverything) {
  const int64_t states_before = LocalExecutor::NumLiveStatesForTesting();
  {
    Stack stack;
    Executor& e = *stack.executor;
    {
      absl::StatusOr<OwnedValue> f = e.CreateValue(Parse(
          absl::StrCat("(x: float32) -> (y: float32) -> ", Add("x", "y"))));
      absl::StatusOr<OwnedValue> x = e.CreateValue(V("1.0"));
      absl::StatusOr<OwnedValue> g = e.CreateCall(*f, *x);
      absl::StatusOr<OwnedValue> r = e.CreateCall(*g, *x);
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(ir::PrintValue(*e.Materialize(*r)), "2.0");
      EXPECT_EQ(e.NumValues(), 4);
    }
    EXPECT_EQ(e.NumValues(), 0);
  }
  EXPECT_EQ(LocalExecutor::NumLiveStatesForTesting(), states_before);
}

// -------------------------------------------------------------- nesting

using ir::MakeNode;

ir::NodePtr Ref(const std::string& name) {
  return MakeNode(ir::ReferenceNode{name});
}
ir::NodePtr Lit(float v) {
  return MakeNode(ir::LiteralNode{Tensor::Scalar(v)});
}
ir::NodePtr AddNode(ir::NodePtr a, ir::NodePtr b) {
  return MakeNode(ir::CallNode{
      MakeNode(ir::NativeNode{"add"}, T("(<float32,float32> -> float32)")),
      MakeNode(ir::StructNode{{{"", std::move(a)}, {"", std::move(b)}}})});
}
ir::NodePtr Lambda(const std::string& parameter, ir::NodePtr body) {
  return MakeNode(ir::LambdaNode{parameter, T("float32"), std::move(body)});
}

// Calls `lambda` (a float32 -> float32 computation) on `x` through the
// executor, on a pool of one thread (its default stack).
absl::StatusOr<std::string> CallDeep(const ir::NodePtr& lambda, float x) {
  EXPECT_EQ(ir::TreeDepth(lambda), kMaxNestingDepth);
  absl::StatusOr<ir::NodePtr> checked = ir::CheckComputation(lambda);
  if (!checked.ok()) return checked.status();
  Stack stack(1);
  Executor& e = *stack.executor;
  absl::StatusOr<OwnedValue> f = e.CreateValue(*checked);
  absl::StatusOr<OwnedValue> arg = e.CreateValue(Value(Tensor::Scalar(x)));
  if (!f.ok()) return f.status();
  absl::StatusOr<OwnedValue> r = e.CreateCall(*f, *arg);
  if (!r.ok()) return r.status();
  absl::StatusOr<Value> v = e.Materialize(*r);
  if (!v.ok()) return v.status();
  return ir::PrintValue(*v);
}

TEST(ReferenceResolvingExecutorDeepTest, NestedCallsAtTheNestingLimit) {
  // add(<add(<... add(<x, 1>) ...>, 1>), 1>): two levels per add.
  const int n = (kMaxNestingDepth - 2) / 2;
  ir::NodePtr body = Ref("x");
  for (int i = 0; i < n; ++i) body = AddNode(body, Lit(1.0f));
  absl::StatusOr<std::string> r = CallDeep(Lambda("x", body), 0.5f);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, absl::StrCat(n, ".5"));
}

TEST(ReferenceResolvingExecutorDeepTest, NestedLambdaCallsAtTheNestingLimit) {
  // ((y) -> ((y) -> ... add(<y, 1>) ...)(add(<y, 1>)))(add(<x, 1>)): each
  // level a call of a lambda taking the enclosing parameter plus one.
  const int n = (kMaxNestingDepth - 4) / 2;
  ir::NodePtr body = AddNode(Ref("y"), Lit(1.0f));
  for (int i = 0; i < n; ++i) {
    const std::string outer = i == n - 1 ? "x" : "y";
    body = MakeNode(
        ir::CallNode{Lambda("y", body), AddNode(Ref(outer), Lit(1.0f))});
  }
  absl::StatusOr<std::string> r = CallDeep(Lambda("x", body), 0.0f);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, absl::StrCat(n + 1, ".0"));
}

TEST(ReferenceResolvingExecutorDeepTest, NestedBlocksAtTheNestingLimit) {
  // let a = (let a = ... in add(a, 1)) in add(a, 1), innermost x.
  const int n = kMaxNestingDepth - 4;
  ir::NodePtr body = Ref("x");
  for (int i = 0; i < n; ++i) {
    body = MakeNode(ir::BlockNode{{{"a", body}}, AddNode(Ref("a"), Lit(1.0f))});
  }
  absl::StatusOr<std::string> r = CallDeep(Lambda("x", body), 0.0f);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, absl::StrCat(n, ".0"));
}

TEST(ReferenceResolvingExecutorDeepTest, NestedLambdasCapturingAtTheLimit) {
  // (x) -> ((a1) -> ((a2) -> ... <x + a1 + ...> ...)(1))(1): the innermost
  // body captures x through every lambda in between.
  const int n = (kMaxNestingDepth - 4) / 2;
  ir::NodePtr body = AddNode(Ref("x"), Ref(absl::StrCat("a", n)));
  for (int i = n; i >= 1; --i) {
    body =
        MakeNode(ir::CallNode{Lambda(absl::StrCat("a", i), body), Lit(1.0f)});
  }
  absl::StatusOr<std::string> r = CallDeep(Lambda("x", body), 2.0f);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "3.0");
}

TEST(ReferenceResolvingExecutorDeepTest, NestedSelectionsAtTheNestingLimit) {
  // <<...<x>...>>[0]...[0]
  const int n = (kMaxNestingDepth - 2) / 2;
  ir::NodePtr body = Ref("x");
  for (int i = 0; i < n; ++i) body = MakeNode(ir::StructNode{{{"", body}}});
  for (int i = 0; i < n; ++i) {
    body = MakeNode(ir::SelectionNode{body, 0, ""});
  }
  absl::StatusOr<std::string> r = CallDeep(Lambda("x", body), 1.5f);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "1.5");
}

TEST(ReferenceResolvingExecutorDeepTest, LongChainsOfClosureCalls) {
  // f0 = add one; f(i) = (y) -> f(i-1)(y): calling f(N) nests N calls, far
  // more than the tree's depth. Built in code: the text parser is slow
  // with very many names in scope.
  constexpr int kChain = 20000;
  std::vector<ir::NamedNode> locals;
  locals.push_back({"f0", Lambda("y", AddNode(Ref("y"), Lit(1.0f)))});
  for (int i = 1; i <= kChain; ++i) {
    locals.push_back(
        {absl::StrCat("f", i),
         Lambda("y", MakeNode(ir::CallNode{Ref(absl::StrCat("f", i - 1)),
                                           Ref("y")}))});
  }
  ir::NodePtr body = MakeNode(ir::BlockNode{
      std::move(locals),
      MakeNode(ir::CallNode{Ref(absl::StrCat("f", kChain)), Ref("x")})});
  absl::StatusOr<ir::NodePtr> checked =
      ir::CheckComputation(Lambda("x", std::move(body)));
  ASSERT_TRUE(checked.ok()) << checked.status();
  Stack stack(1);
  Executor& e = *stack.executor;
  absl::StatusOr<OwnedValue> f = e.CreateValue(*checked);
  absl::StatusOr<OwnedValue> x = e.CreateValue(V("1.0"));
  ASSERT_TRUE(f.ok() && x.ok());
  absl::StatusOr<Value> r = e.Materialize(*e.CreateCall(*f, *x));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ir::PrintValue(*r), "2.0");
}

// ----------------------------------------------------------- concurrency

TEST(ReferenceResolvingExecutorConcurrencyTest, OneClosureManyThreads) {
  test_util::RunWithDeadline("one closure, many threads", [] {
    Stack stack(8);
    // Captures a block local and a parameter, builds structs, calls natives
    // and an inner closure.
    ir::NodePtr node = Parse(absl::StrCat(
        "(c: float32) -> let k = ", Add("c", "c"), ", inner = (z: float32) -> ",
        Add("z", "k"), " in (x: float32) -> <inner(x), ", Add("x", "c"), ">"));
    absl::StatusOr<Value> make = stack.executor->Evaluate(node);
    ASSERT_TRUE(make.ok()) << make.status();
    const Value c(Tensor::Scalar(1.0f));
    absl::StatusOr<Value> closure = CallFunction(*make, &c);
    ASSERT_TRUE(closure.ok()) << closure.status();
    constexpr int64_t kCalls = 20000;
    std::vector<float> first(kCalls), second(kCalls);
    absl::Status status = ParallelForWithStatus(
        stack.pool, kCalls, 16,
        [&](int64_t begin, int64_t end) -> absl::Status {
          for (int64_t i = begin; i < end; ++i) {
            const Value x(Tensor::Scalar(static_cast<float>(i)));
            absl::StatusOr<Value> r = CallFunction(*closure, &x);
            if (!r.ok()) return r.status();
            const auto& e = r->struct_value().elements;
            first[i] = e[0].value->tensor().data<float>()[0];
            second[i] = e[1].value->tensor().data<float>()[0];
          }
          return absl::OkStatus();
        });
    ASSERT_TRUE(status.ok()) << status;
    for (int64_t i = 0; i < kCalls; ++i) {
      ASSERT_EQ(first[i], static_cast<float>(i) + 2.0f) << i;
      ASSERT_EQ(second[i], static_cast<float>(i) + 1.0f) << i;
    }
  });
}

TEST(ReferenceResolvingExecutorConcurrencyTest,
     ConcurrentCallsThroughTheInterface) {
  test_util::RunWithDeadline("concurrent CreateCall", [] {
    Stack stack(4);
    Executor& e = *stack.executor;
    absl::StatusOr<OwnedValue> f = e.CreateValue(
        Parse(absl::StrCat("(x: float32) -> let g = (y: float32) -> ",
                           Add("y", "x"), " in g(g(x))")));
    ASSERT_TRUE(f.ok());
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) {
          const float x = static_cast<float>(t * 100 + i);
          absl::StatusOr<OwnedValue> arg =
              e.CreateValue(Value(Tensor::Scalar(x)));
          absl::StatusOr<OwnedValue> r = e.CreateCall(*f, *arg);
          absl::StatusOr<Value> v = e.Materialize(*r);
          if (!v.ok() || v->tensor().data<float>()[0] != 3 * x) ++failures;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
  });
}

}  // namespace
}  // namespace fedexec::exec

namespace fedexec::exec {
namespace {

// Evaluates `node` on `executor` and calls the result with 2.0.
std::string CallWithTwo(ReferenceResolvingExecutor& executor,
                        const ir::NodePtr& node) {
  absl::StatusOr<OwnedValue> f = executor.CreateValue(node);
  EXPECT_TRUE(f.ok()) << f.status();
  absl::StatusOr<OwnedValue> arg = executor.CreateValue(V("2.0"));
  EXPECT_TRUE(arg.ok());
  absl::StatusOr<OwnedValue> call = executor.CreateCall(*f, *arg);
  EXPECT_TRUE(call.ok());
  absl::StatusOr<Value> v = executor.Materialize(*call);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? ir::PrintValue(*v) : "";
}

TEST(ProgramCacheTest, ACallableComputationIsCompiledAndBoundOnce) {
  auto counting =
      std::make_shared<CountingRuntime>(test_util::NativeRuntimes()[0]);
  Stack stack(2, {counting});
  const ir::NodePtr node =
      Parse(absl::StrCat("(x: float32) -> ", Add("x", "1.0")));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(CallWithTwo(*stack.executor, node), "3.0");
  }
  EXPECT_EQ(stack.executor->NumCompilationsForTesting(), 1);
  EXPECT_EQ(counting->compiled(), 1);
  // An equal tree that is another object is compiled on its own.
  const ir::NodePtr same_text =
      Parse(absl::StrCat("(x: float32) -> ", Add("x", "1.0")));
  EXPECT_EQ(CallWithTwo(*stack.executor, same_text), "3.0");
  EXPECT_EQ(stack.executor->NumCompilationsForTesting(), 2);
}

TEST(ProgramCacheTest, KeepsTheMostRecentlyUsedTrees) {
  Stack stack;
  const size_t n = ReferenceResolvingExecutor::kProgramCacheSize;
  std::vector<ir::NodePtr> nodes;
  for (size_t i = 0; i <= n; ++i) {
    nodes.push_back(Parse(
        absl::StrCat("(x: float32) -> ", Add("x", absl::StrCat(i, ".0")))));
  }
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(CallWithTwo(*stack.executor, nodes[i]),
              absl::StrCat(i + 2, ".0"));
  }
  EXPECT_EQ(stack.executor->NumCompilationsForTesting(), static_cast<int>(n));
  // Using tree 0 again keeps it; adding tree n then evicts tree 1, the
  // least recently used.
  CallWithTwo(*stack.executor, nodes[0]);
  CallWithTwo(*stack.executor, nodes[n]);
  EXPECT_EQ(stack.executor->NumCompilationsForTesting(),
            static_cast<int>(n + 1));
  CallWithTwo(*stack.executor, nodes[0]);
  EXPECT_EQ(stack.executor->NumCompilationsForTesting(),
            static_cast<int>(n + 1));
  EXPECT_EQ(CallWithTwo(*stack.executor, nodes[1]), "3.0");
  EXPECT_EQ(stack.executor->NumCompilationsForTesting(),
            static_cast<int>(n + 2));
}

// A cached tree stays alive in the cache even when the caller drops it, so
// a new tree never reuses a cached address by accident.
TEST(ProgramCacheTest, TheCacheHoldsItsTrees) {
  Stack stack;
  ir::NodePtr node = Parse(absl::StrCat("(x: float32) -> ", Add("x", "5.0")));
  std::weak_ptr<const ir::Node> weak = node;
  EXPECT_EQ(CallWithTwo(*stack.executor, node), "7.0");
  node.reset();
  EXPECT_FALSE(weak.expired());
}

// Failed compilations are not cached: the error comes again.
TEST(ProgramCacheTest, ErrorsAreNotCached) {
  Stack stack;
  const ir::NodePtr node = Parse(
      R"((x: float32) -> native("no_such_function", (float32 -> float32))(x))");
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<OwnedValue> f = stack.executor->CreateValue(node);
    ASSERT_TRUE(f.ok());
    absl::StatusOr<Value> v = stack.executor->Materialize(*f);
    ASSERT_FALSE(v.ok());
    EXPECT_THAT(std::string(v.status().message()),
                HasSubstr("no_such_function"));
  }
  EXPECT_EQ(stack.executor->NumCompilationsForTesting(), 0);
}

}  // namespace
}  // namespace fedexec::exec
