// Tests of SequenceExecutor: over a LeafExecutor through the Executor
// interface (intrinsic and native leaves as function values), and end to
// end under a ReferenceResolvingExecutor with lambdas. Counting native
// functions check that sequence_map is lazy: each element is mapped once
// per traversal and nothing before it is read.
#include "executors/sequence_executor.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/thread_pool.h"
#include "executors/leaf_executor.h"
#include "executors/reference_resolving_executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"
#include "ir/value_syntax.h"
#include "runtimes/native/native_runtime.h"
#include "runtimes/native/registry.h"
#include "testing/types.h"

namespace fedexec::exec {
namespace {

using ::fedexec::test_util::T;
using ::testing::HasSubstr;
using ::testing::StartsWith;

float ScalarOf(const Value& v) { return v.tensor().data<float>()[0]; }

// Sequence(Leaf) and ReferenceResolving(Sequence(Leaf)) over one registry
// holding the built-in kernels and a few counting functions.
struct Stack {
  Stack() : pool(2), context(std::make_shared<ExecutionContext>(pool)) {
    EXPECT_TRUE(native::RegisterBuiltinKernels(registry).ok());
    // x -> 2x, counted.
    EXPECT_TRUE(registry
                    .Register("count_double", "(float32 -> float32)",
                              [this](const Value& x) -> absl::StatusOr<Value> {
                                calls.fetch_add(1);
                                return Value(Tensor::Scalar(2 * ScalarOf(x)));
                              })
                    .ok());
    // Fails on negative numbers.
    EXPECT_TRUE(
        registry
            .Register("check_positive", "(float32 -> float32)",
                      [](const Value& x) -> absl::StatusOr<Value> {
                        if (ScalarOf(x) < 0) {
                          return absl::InvalidArgumentError(
                              "check_positive: found a negative number");
                        }
                        return x;
                      })
            .ok());
    // Cancels the stack on its third call.
    EXPECT_TRUE(registry
                    .Register("cancel_third", "(float32 -> float32)",
                              [this](const Value& x) -> absl::StatusOr<Value> {
                                if (calls.fetch_add(1) + 1 == 3) {
                                  context->cancel.Cancel();
                                }
                                return x;
                              })
                    .ok());
    leaf = std::make_shared<LeafExecutor>(
        context, std::vector<std::shared_ptr<const ExternalRuntime>>{
                     std::make_shared<native::NativeRuntime>(registry)});
    sequence = std::make_shared<SequenceExecutor>(context, leaf);
    top = std::make_shared<ReferenceResolvingExecutor>(context, sequence);
  }

  native::NativeRegistry registry;
  std::atomic<int> calls{0};
  ThreadPool pool;
  std::shared_ptr<ExecutionContext> context;
  std::shared_ptr<LeafExecutor> leaf;
  std::shared_ptr<SequenceExecutor> sequence;
  std::shared_ptr<ReferenceResolvingExecutor> top;
};

ir::NodePtr Intrinsic(const std::string& uri, const std::string& type) {
  return ir::MakeNode(ir::IntrinsicNode{uri}, T(type));
}
ir::NodePtr Native(const std::string& name, const std::string& type) {
  return ir::MakeNode(ir::NativeNode{name}, T(type));
}

Value V(const std::string& text) {
  absl::StatusOr<Value> v = ir::ParseValue(text);
  EXPECT_TRUE(v.ok()) << v.status() << ": " << text;
  return v.ok() ? *v : Value();
}

// Calls `function` (a leaf node) on `argument` through `executor`;
// returns the handle of the result.
OwnedValue CallLeaf(Executor& executor, const ir::NodePtr& function,
                    const OwnedValue& argument) {
  absl::StatusOr<OwnedValue> f = executor.CreateValue(function);
  EXPECT_TRUE(f.ok()) << f.status();
  absl::StatusOr<OwnedValue> r = executor.CreateCall(*f, argument);
  EXPECT_TRUE(r.ok()) << r.status();
  return std::move(r).value();
}

OwnedValue Make(Executor& executor, const Value& value) {
  absl::StatusOr<OwnedValue> v = executor.CreateValue(value);
  EXPECT_TRUE(v.ok()) << v.status();
  return std::move(v).value();
}

OwnedValue Make(Executor& executor, const ir::NodePtr& node) {
  absl::StatusOr<OwnedValue> v = executor.CreateValue(node);
  EXPECT_TRUE(v.ok()) << v.status();
  return std::move(v).value();
}

OwnedValue Struct(Executor& executor, const std::vector<const OwnedValue*>& e) {
  std::vector<StructElementId> elements;
  for (const OwnedValue* v : e) elements.push_back({"", v->id()});
  absl::StatusOr<OwnedValue> s = executor.CreateStruct(elements);
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(s).value();
}

absl::StatusOr<std::string> Printed(Executor& executor, const OwnedValue& v) {
  absl::StatusOr<Value> m = executor.Materialize(v);
  if (!m.ok()) return m.status();
  return ir::PrintValue(*m);
}

// ------------------------------------------------------------ sequence_sum

TEST(SequenceExecutorTest, SumOfScalarsAndStructs) {
  Stack stack;
  Executor& e = *stack.sequence;
  OwnedValue s1 = Make(e, V("seq[1.0, 2.0, 3.5]"));
  OwnedValue r1 =
      CallLeaf(e, Intrinsic("sequence_sum", "(float32* -> float32)"), s1);
  EXPECT_EQ(*Printed(e, r1), "6.5");

  OwnedValue s2 = Make(e, V("seq[<a=1, b=[1.0, 2.0]>, <a=2, b=[3.0, 4.5]>]"));
  OwnedValue r2 = CallLeaf(e,
                           Intrinsic("sequence_sum",
                                     "(<a=int32,b=float32[2]>* -> "
                                     "<a=int32,b=float32[2]>)"),
                           s2);
  EXPECT_EQ(*Printed(e, r2), "<a=3, b=[4.0, 6.5]>");
}

TEST(SequenceExecutorTest, SumAddsInOrder) {
  // 1e8 + 1 + ... + 1 - 1e8 in float32: the ones vanish one by one into
  // 1e8 when added left to right.
  Stack stack;
  Executor& e = *stack.sequence;
  OwnedValue s = Make(e, V("seq[1e8, 1.0, 1.0, 1.0, 1.0, -1e8]"));
  OwnedValue r =
      CallLeaf(e, Intrinsic("sequence_sum", "(float32* -> float32)"), s);
  EXPECT_EQ(*Printed(e, r), "0.0");
}

TEST(SequenceExecutorTest, SumOfEmptySequenceIsTheZeroOfT) {
  Stack stack;
  Executor& e = *stack.sequence;
  OwnedValue empty = Make(e, V("seq[]"));
  OwnedValue r =
      CallLeaf(e,
               Intrinsic("sequence_sum",
                         "(<a=int32,b=float32[2]>* -> <a=int32,b=float32[2]>)"),
               empty);
  EXPECT_EQ(*Printed(e, r), "<a=0, b=[0.0, 0.0]>");
  // A shape the type does not fix has no zero.
  OwnedValue r2 = CallLeaf(
      e, Intrinsic("sequence_sum", "(float32[?]* -> float32[?])"), empty);
  absl::StatusOr<std::string> p = Printed(e, r2);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()),
              StartsWith("sequence_sum: the sum of an empty sequence: "));
}

TEST(SequenceExecutorTest, SumErrorsNameTheElement) {
  Stack stack;
  Executor& e = *stack.sequence;
  OwnedValue s = Make(e, V("seq[[1.0, 2.0], [3.0, 4.0], [5.0]]"));
  OwnedValue r =
      CallLeaf(e, Intrinsic("sequence_sum", "(float32[?]* -> float32[?])"), s);
  absl::StatusOr<std::string> p = Printed(e, r);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()),
              StartsWith("sequence_sum: element 2: "));
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("float32[1]"));
}

// --------------------------------------------------------- sequence_reduce

TEST(SequenceExecutorTest, ReduceFoldsInOrderFromTheInitialValue) {
  Stack stack;
  Executor& e = *stack.sequence;
  OwnedValue s = Make(e, V("seq[1.0, 2.0, 3.0]"));
  OwnedValue init = Make(e, V("10.0"));
  OwnedValue subtract =
      Make(e, Native("subtract", "(<float32,float32> -> float32)"));
  OwnedValue arg = Struct(e, {&s, &init, &subtract});
  OwnedValue r = CallLeaf(
      e,
      Intrinsic("sequence_reduce",
                "(<float32*,float32,(<float32,float32> -> float32)> -> "
                "float32)"),
      arg);
  // ((10 - 1) - 2) - 3
  EXPECT_EQ(*Printed(e, r), "4.0");

  OwnedValue empty = Make(e, V("seq[]"));
  OwnedValue arg2 = Struct(e, {&empty, &init, &subtract});
  OwnedValue r2 = CallLeaf(
      e,
      Intrinsic("sequence_reduce",
                "(<float32*,float32,(<float32,float32> -> float32)> -> "
                "float32)"),
      arg2);
  EXPECT_EQ(*Printed(e, r2), "10.0");
}

TEST(SequenceExecutorTest, ReduceErrorsNameTheElement) {
  Stack stack;
  Executor& e = *stack.sequence;
  OwnedValue s = Make(e, V("seq[1, 2, 0, 4]"));
  OwnedValue init = Make(e, V("100"));
  OwnedValue divide = Make(e, Native("divide", "(<int32,int32> -> int32)"));
  OwnedValue arg = Struct(e, {&s, &init, &divide});
  OwnedValue r =
      CallLeaf(e,
               Intrinsic("sequence_reduce",
                         "(<int32*,int32,(<int32,int32> -> int32)> -> int32)"),
               arg);
  absl::StatusOr<std::string> p = Printed(e, r);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()),
              StartsWith("sequence_reduce: element 2: divide: integer "
                         "division by zero"));
}

// ------------------------------------------------------------ sequence_map

constexpr char kMapType[] = "(<(float32 -> float32),float32*> -> float32*)";
constexpr char kSumType[] = "(float32* -> float32)";

TEST(SequenceExecutorTest, MapIsLazyAndMaterializesToConcreteElements) {
  Stack stack;
  Executor& e = *stack.sequence;
  OwnedValue f = Make(e, Native("count_double", "(float32 -> float32)"));
  OwnedValue s = Make(e, V("seq[1.0, 2.0, 3.0]"));
  OwnedValue arg = Struct(e, {&f, &s});
  OwnedValue mapped = CallLeaf(e, Intrinsic("sequence_map", kMapType), arg);
  OwnedValue sum = CallLeaf(e, Intrinsic("sequence_sum", kSumType), mapped);
  EXPECT_EQ(*Printed(e, sum), "12.0");
  EXPECT_EQ(stack.calls.load(), 3);
  // Materializing traverses again: concrete elements.
  EXPECT_EQ(*Printed(e, mapped), "seq[2.0, 4.0, 6.0]");
  EXPECT_EQ(stack.calls.load(), 6);
}

TEST(SequenceExecutorTest, MappedSequenceIsALazyValue) {
  Stack stack;
  absl::StatusOr<Value> map =
      stack.sequence->EmbedLeaf(Intrinsic("sequence_map", kMapType));
  absl::StatusOr<Value> f =
      stack.sequence->EmbedLeaf(Native("count_double", "(float32 -> float32)"));
  ASSERT_TRUE(map.ok() && f.ok());
  const Value arg = Value::Struct({{"", *f}, {"", V("seq[1.0, 2.0]")}});
  absl::StatusOr<Value> mapped = CallFunction(*map, &arg);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  ASSERT_TRUE(mapped->is_sequence());
  EXPECT_NE(mapped->sequence().lazy, nullptr);
  EXPECT_TRUE(mapped->sequence().elements.empty());
  EXPECT_EQ(stack.calls.load(), 0);
  // Stopping a traversal early maps no further element.
  int seen = 0;
  absl::Status stopped = mapped->sequence().ForEach([&](const Value&) {
    ++seen;
    return absl::AbortedError("enough");
  });
  EXPECT_EQ(stopped.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(std::string(stopped.message()),
            "enough");  // the consumer's error, unchanged
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(stack.calls.load(), 1);
}

TEST(SequenceExecutorTest, ReduceOfMapCallsTheFunctionOncePerElement) {
  Stack stack;
  Executor& e = *stack.sequence;
  constexpr int kElements = 1000;
  std::vector<Value> elements;
  for (int i = 0; i < kElements; ++i) {
    elements.push_back(Value(Tensor::Scalar(static_cast<float>(i))));
  }
  OwnedValue s = Make(e, Value::Sequence(std::move(elements)));
  OwnedValue f = Make(e, Native("count_double", "(float32 -> float32)"));
  OwnedValue map_arg = Struct(e, {&f, &s});
  OwnedValue mapped = CallLeaf(e, Intrinsic("sequence_map", kMapType), map_arg);
  // A map of the map: two calls per element.
  OwnedValue map_arg2 = Struct(e, {&f, &mapped});
  OwnedValue mapped2 =
      CallLeaf(e, Intrinsic("sequence_map", kMapType), map_arg2);
  OwnedValue zero = Make(e, V("0.0"));
  OwnedValue add = Make(e, Native("add", "(<float32,float32> -> float32)"));
  OwnedValue reduce_arg = Struct(e, {&mapped2, &zero, &add});
  OwnedValue r = CallLeaf(
      e,
      Intrinsic("sequence_reduce",
                "(<float32*,float32,(<float32,float32> -> float32)> -> "
                "float32)"),
      reduce_arg);
  // 4 * (0 + 1 + ... + 999)
  EXPECT_EQ(*Printed(e, r), absl::StrCat(4 * 999 * 1000 / 2, ".0"));
  EXPECT_EQ(stack.calls.load(), 2 * kElements);
}

TEST(SequenceExecutorTest, MapErrorsNameTheElement) {
  Stack stack;
  Executor& e = *stack.sequence;
  OwnedValue f = Make(e, Native("check_positive", "(float32 -> float32)"));
  OwnedValue s = Make(e, V("seq[1.0, 2.0, -3.0, 4.0]"));
  OwnedValue arg = Struct(e, {&f, &s});
  OwnedValue mapped = CallLeaf(e, Intrinsic("sequence_map", kMapType), arg);
  // The error appears when the sequence is read: by a sum...
  OwnedValue sum = CallLeaf(e, Intrinsic("sequence_sum", kSumType), mapped);
  absl::StatusOr<std::string> p = Printed(e, sum);
  EXPECT_THAT(std::string(p.status().message()),
              StartsWith("sequence_map: element 2: check_positive: found a "
                         "negative number"));
  // ...or by materializing it.
  absl::StatusOr<std::string> m = Printed(e, mapped);
  EXPECT_THAT(std::string(m.status().message()),
              StartsWith("sequence_map: element 2: "));
}

// ------------------------------------------------------ other behaviours

TEST(SequenceExecutorTest, CancellationStopsAtTheNextElement) {
  Stack stack;
  Executor& e = *stack.sequence;
  OwnedValue f = Make(e, Native("cancel_third", "(float32 -> float32)"));
  OwnedValue s = Make(e, V("seq[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]"));
  OwnedValue arg = Struct(e, {&f, &s});
  OwnedValue mapped = CallLeaf(e, Intrinsic("sequence_map", kMapType), arg);
  OwnedValue sum = CallLeaf(e, Intrinsic("sequence_sum", kSumType), mapped);
  absl::StatusOr<std::string> p = Printed(e, sum);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(stack.calls.load(), 3);
}

TEST(SequenceExecutorTest, BadArgumentsAreErrors) {
  Stack stack;
  Executor& e = *stack.sequence;
  OwnedValue scalar = Make(e, V("1.0"));
  OwnedValue r1 = CallLeaf(e, Intrinsic("sequence_sum", kSumType), scalar);
  EXPECT_THAT(std::string(Printed(e, r1).status().message()),
              HasSubstr("sequence_sum: expected an argument T*, found "
                        "float32"));
  OwnedValue s = Make(e, V("seq[1.0]"));
  OwnedValue not_function = Struct(e, {&scalar, &s});
  OwnedValue r2 =
      CallLeaf(e, Intrinsic("sequence_map", kMapType), not_function);
  EXPECT_THAT(std::string(Printed(e, r2).status().message()),
              HasSubstr("sequence_map: the mapping function: expected a "
                        "function, found float32"));
  OwnedValue reversed = Struct(e, {&s, &scalar});
  OwnedValue r3 = CallLeaf(e, Intrinsic("sequence_map", kMapType), reversed);
  EXPECT_THAT(std::string(Printed(e, r3).status().message()),
              HasSubstr("sequence_map: expected an argument <(T -> U), T*>, "
                        "found <float32*,float32>"));
  OwnedValue r4 = CallLeaf(
      e,
      Intrinsic("sequence_reduce",
                "(<float32*,float32,(<float32,float32> -> float32)> -> "
                "float32)"),
      s);
  EXPECT_THAT(std::string(Printed(e, r4).status().message()),
              HasSubstr("sequence_reduce: expected an argument <T*, U, (<U, "
                        "T> -> U)>, found float32*"));
}

TEST(SequenceExecutorTest, OtherLeavesGoToTheChild) {
  Stack stack;
  // A native leaf reaches the leaf executor.
  EXPECT_TRUE(
      stack.sequence->EmbedLeaf(Native("add", "(<float32,float32> -> float32)"))
          .ok());
  // An intrinsic nobody in this stack knows.
  absl::StatusOr<Value> unknown = stack.sequence->EmbedLeaf(
      Intrinsic("federated_sum", "({float32}@CLIENTS -> float32@SERVER)"));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.status().message()),
              HasSubstr("intrinsic federated_sum"));
  // A sequence intrinsic needs its function type.
  absl::StatusOr<Value> untyped = stack.sequence->EmbedLeaf(
      ir::MakeNode(ir::IntrinsicNode{"sequence_sum"}));
  EXPECT_EQ(untyped.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(untyped.status().message()),
              HasSubstr("sequence_sum needs its concrete function type"));
}

// ------------------------------------------------------------- end to end

absl::StatusOr<std::string> RunNode(Executor& executor,
                                    absl::StatusOr<ir::NodePtr> node,
                                    const std::string& argument) {
  if (!node.ok()) return node.status();
  absl::StatusOr<OwnedValue> f = executor.CreateValue(*node);
  if (!f.ok()) return f.status();
  absl::StatusOr<OwnedValue> arg = executor.CreateValue(V(argument));
  if (!arg.ok()) return arg.status();
  absl::StatusOr<OwnedValue> r = executor.CreateCall(*f, *arg);
  if (!r.ok()) return r.status();
  return Printed(executor, *r);
}

absl::StatusOr<std::string> RunText(Executor& executor, const std::string& text,
                                    const std::string& argument) {
  absl::StatusOr<ir::NodePtr> parsed = ir::ParseComputation(text);
  if (!parsed.ok()) return parsed.status();
  return RunNode(executor, ir::CheckComputation(*parsed), argument);
}

TEST(SequenceExecutorEndToEndTest, ReduceWithALambda) {
  Stack stack;
  absl::StatusOr<std::string> r =
      RunText(*stack.top,
              "(ds: int32*) -> sequence_reduce(ds, 0, (p: <int32,int32>) -> "
              "native(\"add\", (<int32,int32> -> int32))(p[0], p[1]))",
              "seq[1, 2, 3, 4]");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "10");
}

TEST(SequenceExecutorEndToEndTest, MapWithAClosureCapturingTheParameter) {
  Stack stack;
  const std::string text =
      "(x: <s=float32*, k=float32>) ->\n"
      "  let scaled = sequence_map((e: float32) -> native(\"count_double\", "
      "(float32 -> float32))(native(\"add\", (<float32,float32> -> "
      "float32))(e, x.k)), x.s)\n"
      "  in <sequence_sum(scaled), scaled>";
  absl::StatusOr<std::string> r =
      RunText(*stack.top, text, "<s=seq[1.0, 2.0, 3.0], k=0.5>");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "<15.0, seq[3.0, 5.0, 7.0]>");
  // Once for the sum, once for the materialized sequence.
  EXPECT_EQ(stack.calls.load(), 6);
}

TEST(SequenceExecutorEndToEndTest, ErrorsNameTheCallAndTheElement) {
  Stack stack;
  const std::string text =
      "(s: float32*) ->\n"
      "  sequence_sum(sequence_map((e: float32) ->\n"
      "    native(\"check_positive\", (float32 -> float32))(e), s))";
  absl::StatusOr<std::string> r = RunText(*stack.top, text, "seq[1.0, -2.0]");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  // Read by sequence_sum at 2:3; mapped by the closure's call at 3:5.
  EXPECT_THAT(std::string(r.status().message()),
              StartsWith("2:3: sequence_sum: sequence_map: element 1: 3:5: "
                         "check_positive: found a negative number"));
}

TEST(SequenceExecutorEndToEndTest, ReduceErrorsInTheLambdaAreLocated) {
  Stack stack;
  const std::string text =
      "(ds: int32*) ->\n"
      "  sequence_reduce(ds, 100, (p: <int32,int32>) ->\n"
      "    native(\"divide\", (<int32,int32> -> int32))(p[0], p[1]))";
  absl::StatusOr<std::string> r = RunText(*stack.top, text, "seq[5, 0]");
  EXPECT_THAT(std::string(r.status().message()),
              StartsWith("2:3: sequence_reduce: element 1: 3:5: divide: "
                         "integer division by zero"));
}

// (s: float32*) -> let g0 = add, g(i) = (p) -> sequence_reduce(s, p[0],
// g(i-1)), ... in g(n)(<0.0, 0.0>) over a one-element s: calling g(n) nests
// n reduces, each calling a closure from inside an intrinsic (C++
// recursion through the interpreter). Built in code: the text parser is
// slow with very many names in scope.
absl::StatusOr<ir::NodePtr> NestedReduces(int n) {
  using ir::MakeNode;
  auto ref = [](const std::string& name) {
    return MakeNode(ir::ReferenceNode{name});
  };
  auto p_at = [&](int i) {
    return MakeNode(ir::SelectionNode{ref("p"), i, ""});
  };
  auto pair = [](ir::NodePtr a, ir::NodePtr b) {
    return MakeNode(ir::StructNode{{{"", std::move(a)}, {"", std::move(b)}}});
  };
  std::vector<ir::NamedNode> locals;
  locals.push_back(
      {"g0", MakeNode(ir::LambdaNode{
                 "p", T("<float32,float32>"),
                 MakeNode(ir::CallNode{
                     Native("add", "(<float32,float32> -> float32)"),
                     pair(p_at(0), p_at(1))})})});
  for (int i = 1; i <= n; ++i) {
    ir::NodePtr reduce = MakeNode(ir::CallNode{
        MakeNode(ir::IntrinsicNode{"sequence_reduce"}),
        MakeNode(ir::StructNode{{{"", ref("s")},
                                 {"", p_at(0)},
                                 {"", ref(absl::StrCat("g", i - 1))}}})});
    locals.push_back({absl::StrCat("g", i),
                      MakeNode(ir::LambdaNode{"p", T("<float32,float32>"),
                                              std::move(reduce)})});
  }
  ir::NodePtr zero = MakeNode(ir::LiteralNode{Tensor::Scalar(0.0f)});
  ir::NodePtr body = MakeNode(ir::BlockNode{
      std::move(locals),
      MakeNode(ir::CallNode{ref(absl::StrCat("g", n)), pair(zero, zero)})});
  return ir::CheckComputation(
      MakeNode(ir::LambdaNode{"s", T("float32*"), std::move(body)}));
}

TEST(SequenceExecutorEndToEndTest, ClosuresCalledThroughIntrinsicsNest) {
  Stack stack;
  absl::StatusOr<std::string> r =
      RunNode(*stack.top, NestedReduces(50), "seq[1.0]");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "1.0");
}

TEST(SequenceExecutorEndToEndTest, NestingBeyondTheStackIsAnErrorNotACrash) {
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer records the whole stack at every allocation: quadratic
  // at this depth. Nothing here is concurrent.
  GTEST_SKIP() << "too slow under ThreadSanitizer";
#endif
  Stack stack;
  absl::StatusOr<std::string> r =
      RunNode(*stack.top, NestedReduces(20000), "seq[1.0]");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted)
      << r.status();
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("calls nest too deeply"));
  EXPECT_LT(r.status().message().size(), 1000u);
}

}  // namespace
}  // namespace fedexec::exec
