// Specification of the type checker (ir/type_checker.h): the type of every
// node kind, scoping, selection by name, intrinsics, declared types, and the
// path and text of each error.
#include "ir/type_checker.h"

#include <string>
#include <vector>

#include "core/limits.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/types.h"

namespace fedexec::ir {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using ::fedexec::test_util::T;

NodePtr Int(int32_t v) { return MakeNode(LiteralNode{Tensor::Scalar(v)}); }
NodePtr Float(float v) { return MakeNode(LiteralNode{Tensor::Scalar(v)}); }
NodePtr Ref(std::string name) { return MakeNode(ReferenceNode{name}); }
NodePtr Lambda(std::string parameter, absl::string_view type, NodePtr result) {
  return MakeNode(LambdaNode{parameter, T(type), std::move(result)});
}
NodePtr Thunk(NodePtr result) {
  return MakeNode(LambdaNode{"", std::nullopt, std::move(result)});
}
NodePtr Block(std::vector<NamedNode> locals, NodePtr result) {
  return MakeNode(BlockNode{std::move(locals), std::move(result)});
}
NodePtr Call(NodePtr function, NodePtr argument = nullptr) {
  return MakeNode(CallNode{std::move(function), std::move(argument)});
}
NodePtr Struct(std::vector<NamedNode> elements) {
  return MakeNode(StructNode{std::move(elements)});
}
NodePtr Select(NodePtr source, int index) {
  return MakeNode(SelectionNode{std::move(source), index, ""});
}
NodePtr SelectName(NodePtr source, std::string name) {
  return MakeNode(SelectionNode{std::move(source), -1, name});
}
NodePtr Intrinsic(std::string uri, std::optional<Type> type = std::nullopt) {
  return MakeNode(IntrinsicNode{uri}, std::move(type));
}

// The checked root's type as text, or "error: <message>".
std::string TypeOf(const NodePtr& root) {
  absl::StatusOr<NodePtr> checked = CheckComputation(root);
  if (!checked.ok()) {
    EXPECT_EQ(checked.status().code(), absl::StatusCode::kInvalidArgument);
    return "error: " + std::string(checked.status().message());
  }
  EXPECT_TRUE((*checked)->type().has_value());
  return (*checked)->type() ? (*checked)->type()->ToString() : "<none>";
}

// Whether every node of a checked tree has a type (and every selection an
// index), iteratively.
void ExpectFullyTyped(const NodePtr& root) {
  std::vector<const Node*> stack = {root.get()};
  while (!stack.empty()) {
    const Node* node = stack.back();
    stack.pop_back();
    EXPECT_TRUE(node->type().has_value()) << NodeKindName(node->kind());
    if (node->Is<SelectionNode>()) {
      EXPECT_GE(node->As<SelectionNode>().index, 0);
    }
    ForEachChild(*node, [&](const NodePtr& c) { stack.push_back(c.get()); });
  }
}

// ------------------------------------------------------------ leaves

TEST(TypeCheckerTest, Literals) {
  EXPECT_EQ(TypeOf(Int(3)), "int32");
  EXPECT_EQ(TypeOf(Float(1.5f)), "float32");
  std::vector<float> values = {1, 2, 3};
  EXPECT_EQ(TypeOf(MakeNode(LiteralNode{Tensor::Vector<float>(values)})),
            "float32[3]");
  absl::StatusOr<Tensor> empty = Tensor::Zeros(DType::kInt64, {0, 3});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(TypeOf(MakeNode(LiteralNode{*empty})), "int64[0,3]");
  EXPECT_EQ(TypeOf(MakeNode(LiteralNode{Tensor::StringScalar("s")})), "string");
  EXPECT_EQ(TypeOf(MakeNode(LiteralNode{Tensor::Scalar(true)})), "bool");
}

TEST(TypeCheckerTest, LiteralWithoutValue) {
  EXPECT_EQ(TypeOf(MakeNode(LiteralNode{})),
            "error: root: literal has no value");
}

TEST(TypeCheckerTest, Placement) {
  EXPECT_EQ(TypeOf(MakeNode(PlacementNode{Placement::kClients})), "placement");
}

TEST(TypeCheckerTest, LeavesNeedDeclaredTypes) {
  EXPECT_EQ(TypeOf(MakeNode(NativeNode{"f"})),
            "error: root: native leaf 'f' has no declared type");
  EXPECT_EQ(TypeOf(MakeNode(NativeNode{"f"}, T("(int32 -> float32[2])"))),
            "(int32 -> float32[2])");
  EXPECT_EQ(TypeOf(MakeNode(TorchScriptNode{"model", "forward"})),
            "error: root: torchscript leaf 'model.forward' has no declared "
            "type");
  EXPECT_EQ(TypeOf(MakeNode(TorchScriptNode{"model", "forward"},
                            T("(int32 -> int32)"))),
            "(int32 -> int32)");
  EXPECT_EQ(TypeOf(MakeNode(DataNode{"file:///x", "", ""})),
            "error: root: data leaf 'file:///x' has no declared type");
  EXPECT_EQ(TypeOf(MakeNode(DataNode{"", "type.googleapis.com/x", "v"})),
            "error: root: data leaf has no declared type");
  EXPECT_EQ(
      TypeOf(MakeNode(DataNode{"file:///x", "", ""}, T("{int32*}@CLIENTS"))),
      "{int32*}@CLIENTS");
}

TEST(TypeCheckerTest, EmptyRootAndMissingChildren) {
  EXPECT_EQ(TypeOf(nullptr), "error: root: missing computation");
  EXPECT_EQ(TypeOf(Thunk(nullptr)),
            "error: lambda.result: missing computation");
  EXPECT_EQ(TypeOf(Call(nullptr, Int(1))), "error: root: call has no function");
  EXPECT_EQ(TypeOf(Struct({{"a", Int(1)}, {"b", nullptr}})),
            "error: struct[1]: missing computation");
  EXPECT_EQ(TypeOf(Block({{"a", Int(1)}}, nullptr)),
            "error: block.result: missing computation");
}

// ------------------------------------------------------------ scopes

TEST(TypeCheckerTest, LambdaTypes) {
  EXPECT_EQ(TypeOf(Lambda("x", "int32[?]", Ref("x"))),
            "(int32[?] -> int32[?])");
  EXPECT_EQ(TypeOf(Thunk(Float(1))), "( -> float32)");
  EXPECT_EQ(TypeOf(Lambda("x", "int32", Thunk(Ref("x")))),
            "(int32 -> ( -> int32))");
}

TEST(TypeCheckerTest, LambdaParameterErrors) {
  EXPECT_EQ(TypeOf(MakeNode(LambdaNode{"x", std::nullopt, Ref("x")})),
            "error: root: lambda parameter 'x' has no type");
  EXPECT_EQ(TypeOf(MakeNode(LambdaNode{"", T("int32"), Int(1)})),
            "error: root: lambda has a parameter type (int32) but no "
            "parameter name");
  Type nested =
      Type::Federated(Type::Federated(T("int32"), Placement::kServer, true),
                      Placement::kClients, false);
  EXPECT_THAT(TypeOf(MakeNode(LambdaNode{"x", nested, Int(1)})),
              StartsWith("error: root: type of lambda parameter 'x' is not "
                         "valid: "));
}

TEST(TypeCheckerTest, UnknownReference) {
  EXPECT_EQ(TypeOf(Ref("x")), "error: root: unknown reference 'x'");
  EXPECT_EQ(TypeOf(Lambda("x", "int32", Ref("y"))),
            "error: lambda.result: unknown reference 'y'");
  // A parameter is out of scope after its lambda.
  EXPECT_EQ(
      TypeOf(Struct({{"", Lambda("x", "int32", Ref("x"))}, {"", Ref("x")}})),
      "error: struct[1]: unknown reference 'x'");
}

TEST(TypeCheckerTest, BlockIsLetStar) {
  NodePtr block =
      Block({{"a", Int(1)}, {"b", Struct({{"", Ref("a")}, {"", Float(2)}})}},
            Ref("b"));
  EXPECT_EQ(TypeOf(block), "<int32,float32>");
  // A local cannot see the ones after it.
  EXPECT_EQ(TypeOf(Block({{"a", Ref("b")}, {"b", Int(1)}}, Ref("a"))),
            "error: block.local[0]: unknown reference 'b'");
  // Nor itself.
  EXPECT_EQ(TypeOf(Block({{"a", Ref("a")}}, Ref("a"))),
            "error: block.local[0]: unknown reference 'a'");
  // Locals are out of scope after the block.
  EXPECT_EQ(
      TypeOf(Struct({{"", Block({{"a", Int(1)}}, Ref("a"))}, {"", Ref("a")}})),
      "error: struct[1]: unknown reference 'a'");
  EXPECT_EQ(TypeOf(Block({}, Float(1))), "float32");
}

TEST(TypeCheckerTest, BlockLocalWithoutName) {
  EXPECT_EQ(TypeOf(Block({{"a", Int(1)}, {"", Int(2)}}, Ref("a"))),
            "error: block.local[1]: block local has no name");
}

TEST(TypeCheckerTest, InnerNamesShadowOuterOnes) {
  // A local shadows the parameter...
  EXPECT_EQ(TypeOf(Lambda("x", "int32", Block({{"x", Float(1)}}, Ref("x")))),
            "(int32 -> float32)");
  // ... a later local an earlier one, which it may still use ...
  EXPECT_EQ(
      TypeOf(Block({{"x", Int(1)}, {"x", Struct({{"", Ref("x")}})}}, Ref("x"))),
      "<int32>");
  // ... an inner parameter an outer one ...
  EXPECT_EQ(TypeOf(Lambda("x", "int32", Lambda("x", "bool", Ref("x")))),
            "(int32 -> (bool -> bool))");
  // ... and the outer binding is visible again after the inner scope.
  EXPECT_EQ(TypeOf(Lambda("x", "int32",
                          Struct({{"", Block({{"x", Float(1)}}, Ref("x"))},
                                  {"", Ref("x")}}))),
            "(int32 -> <float32,int32>)");
}

// ------------------------------------------------------------ structs

TEST(TypeCheckerTest, Structs) {
  EXPECT_EQ(TypeOf(Struct({})), "<>");
  EXPECT_EQ(
      TypeOf(Struct(
          {{"a", Int(1)}, {"", Float(2)}, {"c", Struct({{"d", Int(3)}})}})),
      "<a=int32,float32,c=<d=int32>>");
  // Several unnamed elements are fine.
  EXPECT_EQ(TypeOf(Struct({{"", Int(1)}, {"", Int(2)}})), "<int32,int32>");
}

TEST(TypeCheckerTest, DuplicateStructNames) {
  EXPECT_EQ(TypeOf(Struct({{"a", Int(1)}, {"b", Int(2)}, {"a", Int(3)}})),
            "error: root: duplicate element name 'a' (elements 0 and 2)");
}

// ------------------------------------------------------------ selections

TEST(TypeCheckerTest, SelectionByIndex) {
  NodePtr s = Struct({{"a", Int(1)}, {"b", Float(2)}});
  EXPECT_EQ(TypeOf(Select(s, 0)), "int32");
  EXPECT_EQ(TypeOf(Select(s, 1)), "float32");
}

TEST(TypeCheckerTest, SelectionByNameResolvesTheIndex) {
  NodePtr s = Struct({{"a", Int(1)}, {"b", Float(2)}});
  absl::StatusOr<NodePtr> checked = CheckComputation(SelectName(s, "b"));
  ASSERT_TRUE(checked.ok()) << checked.status();
  const SelectionNode& selection = (*checked)->As<SelectionNode>();
  EXPECT_EQ(selection.index, 1);
  EXPECT_EQ(selection.name, "b");
  EXPECT_EQ((*checked)->type()->ToString(), "float32");
  // A name with the matching index is fine too.
  EXPECT_EQ(TypeOf(MakeNode(SelectionNode{s, 0, "a"})), "int32");
}

TEST(TypeCheckerTest, SelectionErrors) {
  NodePtr s = Struct({{"a", Int(1)}, {"", Float(2)}, {"c", Int(3)}});
  EXPECT_EQ(TypeOf(SelectName(s, "x")),
            "error: root: no element named 'x' in <a=int32,float32,c=int32> "
            "(available names: a, c)");
  EXPECT_EQ(TypeOf(SelectName(Struct({{"", Int(1)}}), "x")),
            "error: root: no element named 'x' in <int32> (available names: "
            "none)");
  EXPECT_EQ(TypeOf(Select(s, 3)),
            "error: root: selection index 3 out of range for "
            "<a=int32,float32,c=int32> with 3 elements");
  EXPECT_EQ(TypeOf(Select(s, -1)),
            "error: root: selection index -1 out of range for "
            "<a=int32,float32,c=int32> with 3 elements");
  EXPECT_EQ(TypeOf(Select(Struct({}), 0)),
            "error: root: selection index 0 out of range for <> with 0 "
            "elements");
  EXPECT_EQ(TypeOf(MakeNode(SelectionNode{s, 0, "c"})),
            "error: root: selection of 'c' at index 0, but that name is at "
            "index 2");
  EXPECT_EQ(TypeOf(Select(Int(1), 0)),
            "error: root: selection from a value of type int32, which is not "
            "a struct");
  EXPECT_EQ(TypeOf(Select(Ref("q"), 0)),
            "error: selection.source: unknown reference 'q'");
}

// ------------------------------------------------------------ calls

TEST(TypeCheckerTest, Calls) {
  EXPECT_EQ(
      TypeOf(Call(Lambda("x", "int32", Struct({{"", Ref("x")}})), Int(1))),
      "<int32>");
  EXPECT_EQ(TypeOf(Call(Thunk(Float(1)))), "float32");
  // Assignability: unknown dims accept known ones, per-client parameters
  // accept all-equal arguments, unnamed elements accept named ones.
  std::vector<float> values = {1, 2};
  EXPECT_EQ(TypeOf(Call(Lambda("x", "float32[?]", Ref("x")),
                        MakeNode(LiteralNode{Tensor::Vector<float>(values)}))),
            "float32[?]");
  EXPECT_EQ(
      TypeOf(Lambda("y", "int32@CLIENTS",
                    Call(Lambda("x", "{int32}@CLIENTS", Ref("x")), Ref("y")))),
      "(int32@CLIENTS -> {int32}@CLIENTS)");
  EXPECT_EQ(
      TypeOf(Call(Lambda("x", "<int32>", Ref("x")), Struct({{"a", Int(1)}}))),
      "<int32>");
}

TEST(TypeCheckerTest, CallErrors) {
  EXPECT_EQ(TypeOf(Call(Int(1), Int(2))),
            "error: root: called value has type int32, which is not a "
            "function");
  EXPECT_EQ(TypeOf(Call(Lambda("x", "int32", Ref("x")))),
            "error: root: function of type (int32 -> int32) needs an "
            "argument, found none");
  EXPECT_EQ(TypeOf(Call(Thunk(Int(1)), Float(2))),
            "error: root: function of type ( -> int32) takes no argument, "
            "found one of type float32");
  EXPECT_EQ(TypeOf(Call(Lambda("x", "int32", Ref("x")), Float(2))),
            "error: call.argument: expected int32, found float32");
  EXPECT_EQ(
      TypeOf(Lambda("y", "{int32}@CLIENTS",
                    Call(Lambda("x", "int32@CLIENTS", Ref("x")), Ref("y")))),
      "error: lambda.result/call.argument: expected int32@CLIENTS, "
      "found {int32}@CLIENTS");
  EXPECT_EQ(
      TypeOf(Call(Lambda("x", "<a=int32>", Ref("x")), Struct({{"b", Int(1)}}))),
      "error: call.argument: expected <a=int32>, found <b=int32>");
}

TEST(TypeCheckerTest, ErrorPathsNameTheNode) {
  NodePtr root = Lambda("x", "int32",
                        Call(Lambda("p", "<int32,int32>", Ref("p")),
                             Struct({{"", Ref("x")}, {"", Ref("z")}})));
  EXPECT_EQ(TypeOf(root),
            "error: lambda.result/call.argument/struct[1]: unknown reference "
            "'z'");
  root = Block({{"a", Int(1)}, {"b", Select(Ref("a"), 0)}}, Ref("b"));
  EXPECT_EQ(TypeOf(root),
            "error: block.local[1]: selection from a value of type int32, "
            "which is not a struct");
  root = Block({}, Select(Struct({{"", Call(Ref("f"))}}), 0));
  EXPECT_EQ(TypeOf(root),
            "error: block.result/selection.source/struct[0]/call.function: "
            "unknown reference 'f'");
}

TEST(TypeCheckerTest, ErrorsCarryTheTextLocation) {
  NodePtr bad = std::make_shared<Node>(ReferenceNode{"z"}, std::nullopt,
                                       SourceLocation{3, 7});
  EXPECT_EQ(TypeOf(Lambda("x", "int32", bad)),
            "error: lambda.result (line 3:7): unknown reference 'z'");
  NodePtr root = std::make_shared<Node>(ReferenceNode{"z"}, std::nullopt,
                                        SourceLocation{1, 1});
  EXPECT_EQ(TypeOf(root), "error: root (line 1:1): unknown reference 'z'");
}

// ------------------------------------------------------------ intrinsics

TEST(TypeCheckerTest, CalledIntrinsicIsTypedFromItsArgument) {
  NodePtr root = Lambda("v", "float32@CLIENTS",
                        Call(Intrinsic("federated_min"), Ref("v")));
  absl::StatusOr<NodePtr> checked = CheckComputation(root);
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_EQ((*checked)->type()->ToString(),
            "(float32@CLIENTS -> float32@SERVER)");
  const NodePtr& call = (*checked)->As<LambdaNode>().result;
  EXPECT_EQ(call->As<CallNode>().function->type()->ToString(),
            "({float32}@CLIENTS -> float32@SERVER)");
  ExpectFullyTyped(*checked);
}

TEST(TypeCheckerTest, FederatedWeightedMeanOfAllEqualValues) {
  NodePtr root = Lambda("p", "<float32@CLIENTS,float32@CLIENTS>",
                        Call(Intrinsic("federated_weighted_mean"), Ref("p")));
  absl::StatusOr<NodePtr> checked = CheckComputation(root);
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_EQ((*checked)
                ->As<LambdaNode>()
                .result->As<CallNode>()
                .function->type()
                ->ToString(),
            "(<{float32}@CLIENTS,{float32}@CLIENTS> -> float32@SERVER)");
}

TEST(TypeCheckerTest, ARoundOfFederatedAveraging) {
  // state -> mean(map(train, broadcast(state)))
  NodePtr train =
      MakeNode(NativeNode{"train"}, T("(float32[4] -> float32[4])"));
  NodePtr root = Lambda(
      "state", "float32[4]@SERVER",
      Block(
          {{"at_clients", Call(Intrinsic("federated_broadcast"), Ref("state"))},
           {"updates", Call(Intrinsic("federated_map"),
                            Struct({{"", train}, {"", Ref("at_clients")}}))}},
          Call(Intrinsic("federated_mean"), Ref("updates"))));
  absl::StatusOr<NodePtr> checked = CheckComputation(root);
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_EQ((*checked)->type()->ToString(),
            "(float32[4]@SERVER -> float32[4]@SERVER)");
  ExpectFullyTyped(*checked);
  const BlockNode& block = (*checked)->As<LambdaNode>().result->As<BlockNode>();
  EXPECT_EQ(block.locals[1].value->type()->ToString(), "{float32[4]}@CLIENTS");
  EXPECT_EQ(block.locals[1].value->As<CallNode>().function->type()->ToString(),
            "(<(float32[4] -> float32[4]),{float32[4]}@CLIENTS> -> "
            "{float32[4]}@CLIENTS)");
}

TEST(TypeCheckerTest, CalledIntrinsicErrors) {
  EXPECT_EQ(TypeOf(Lambda("v", "float32@SERVER",
                          Call(Intrinsic("federated_sum"), Ref("v")))),
            "error: lambda.result/call.function: federated_sum expects "
            "{T}@CLIENTS with numeric T, found float32@SERVER: the argument "
            "float32@SERVER is placed at SERVER, not CLIENTS");
  EXPECT_EQ(TypeOf(Call(Intrinsic("federated_sum"))),
            "error: call.function: federated_sum expects {T}@CLIENTS with "
            "numeric T, found no argument");
  EXPECT_EQ(TypeOf(Call(Intrinsic("federated_foo"), Int(1))),
            "error: call.function: unknown intrinsic 'federated_foo'");
  // The argument is checked first.
  EXPECT_EQ(TypeOf(Call(Intrinsic("federated_sum"), Ref("nope"))),
            "error: call.argument: unknown reference 'nope'");
}

TEST(TypeCheckerTest, CalledIntrinsicWithADeclaredType) {
  // A declared type that accepts the inferred one is kept.
  NodePtr root = Lambda(
      "v", "float32@CLIENTS",
      Call(Intrinsic("federated_sum", T("(float32@CLIENTS -> float32@SERVER)")),
           Ref("v")));
  absl::StatusOr<NodePtr> checked = CheckComputation(root);
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_EQ((*checked)
                ->As<LambdaNode>()
                .result->As<CallNode>()
                .function->type()
                ->ToString(),
            "(float32@CLIENTS -> float32@SERVER)");
  // One that does not is an error naming both.
  root = Lambda(
      "v", "{float32}@CLIENTS",
      Call(Intrinsic("federated_sum", T("({int32}@CLIENTS -> int32@SERVER)")),
           Ref("v")));
  EXPECT_EQ(TypeOf(root),
            "error: lambda.result/call.function: declared type "
            "({int32}@CLIENTS -> int32@SERVER) does not accept the inferred "
            "type ({float32}@CLIENTS -> float32@SERVER)");
}

TEST(TypeCheckerTest, IntrinsicOutsideACall) {
  EXPECT_EQ(TypeOf(Intrinsic("federated_sum")),
            "error: root: intrinsic 'federated_sum' needs a declared type "
            "where it is not called");
  EXPECT_EQ(TypeOf(Intrinsic("federated_sum",
                             T("({int32}@CLIENTS -> int32@SERVER)"))),
            "({int32}@CLIENTS -> int32@SERVER)");
  // Passed as an argument.
  NodePtr root =
      Call(Lambda("f", "({int32}@CLIENTS -> int32@SERVER)", Ref("f")),
           Intrinsic("federated_sum", T("({int32}@CLIENTS -> int32@SERVER)")));
  EXPECT_EQ(TypeOf(root), "({int32}@CLIENTS -> int32@SERVER)");
  EXPECT_EQ(TypeOf(Intrinsic("federated_sum", T("int32"))),
            "error: root: intrinsic 'federated_sum' is declared as int32, not "
            "as ({T}@CLIENTS -> T@SERVER)");
  EXPECT_EQ(
      TypeOf(Intrinsic("federated_sum", T("({bool}@CLIENTS -> bool@SERVER)"))),
      "error: root: federated_sum expects {T}@CLIENTS with numeric T, "
      "found {bool}@CLIENTS: T = bool is not a numeric tensor");
  EXPECT_EQ(TypeOf(Intrinsic("federated_sum",
                             T("({int32}@CLIENTS -> float32@SERVER)"))),
            "error: root: declared type ({int32}@CLIENTS -> float32@SERVER) "
            "does not accept the inferred type ({int32}@CLIENTS -> "
            "int32@SERVER)");
  EXPECT_EQ(TypeOf(Intrinsic("federated_foo", T("(int32 -> int32)"))),
            "error: root: unknown intrinsic 'federated_foo'");
}

TEST(TypeCheckerTest, GenericZero) {
  EXPECT_EQ(TypeOf(Intrinsic("generic_zero")),
            "error: root: generic_zero needs a declared type");
  EXPECT_EQ(TypeOf(Intrinsic("generic_zero", T("<a=float32[3],b=int32>"))),
            "<a=float32[3],b=int32>");
  EXPECT_EQ(TypeOf(Intrinsic("generic_zero", T("bool"))),
            "error: root: generic_zero is the zero of numeric T, found bool: "
            "T = bool is not a numeric tensor");
  // generic_zero is a value, not a function.
  EXPECT_EQ(TypeOf(Call(Intrinsic("generic_zero"), Int(1))),
            "error: call.function: generic_zero needs a declared type");
  EXPECT_EQ(TypeOf(Call(Intrinsic("generic_zero", T("int32")), Int(1))),
            "error: root: called value has type int32, which is not a "
            "function");
  // A zero used as an argument.
  EXPECT_EQ(TypeOf(Call(Intrinsic("generic_plus"),
                        Struct({{"", Intrinsic("generic_zero", T("int32"))},
                                {"", Int(1)}}))),
            "int32");
}

// ------------------------------------------------------------ declared types

TEST(TypeCheckerTest, DeclaredTypesThatAgreeAreKept) {
  EXPECT_EQ(
      TypeOf(MakeNode(LiteralNode{Tensor::Scalar(int32_t{1})}, T("int32"))),
      "int32");
  std::vector<float> values = {1, 2, 3};
  EXPECT_EQ(TypeOf(MakeNode(LiteralNode{Tensor::Vector<float>(values)},
                            T("float32[?]"))),
            "float32[?]");
  EXPECT_EQ(TypeOf(MakeNode(LambdaNode{"x", T("int32[3]"), Ref("x")},
                            T("(int32[3] -> int32[*])"))),
            "(int32[3] -> int32[*])");
  EXPECT_EQ(TypeOf(MakeNode(PlacementNode{Placement::kServer},
                            Type::PlacementType())),
            "placement");
  // A declared struct without names accepts named elements.
  EXPECT_EQ(TypeOf(MakeNode(StructNode{{{"a", Int(1)}}}, T("<int32>"))),
            "<int32>");
  // The declared type is what later nodes see.
  NodePtr declared = MakeNode(StructNode{{{"a", Int(1)}}}, T("<int32>"));
  EXPECT_THAT(TypeOf(SelectName(declared, "a")),
              HasSubstr("no element named 'a' in <int32>"));
}

TEST(TypeCheckerTest, DeclaredTypesThatDisagree) {
  EXPECT_EQ(
      TypeOf(MakeNode(LiteralNode{Tensor::Scalar(int32_t{1})}, T("float32"))),
      "error: root: declared type float32 does not accept the inferred "
      "type int32");
  EXPECT_EQ(
      TypeOf(Lambda("x", "int32", MakeNode(ReferenceNode{"x"}, T("int32[1]")))),
      "error: lambda.result: declared type int32[1] does not accept the "
      "inferred type int32");
  EXPECT_EQ(TypeOf(MakeNode(LambdaNode{"x", T("int32"), Ref("x")},
                            T("(float32 -> int32)"))),
            "error: root: declared type (float32 -> int32) does not accept "
            "the inferred type (int32 -> int32)");
  EXPECT_EQ(TypeOf(MakeNode(PlacementNode{Placement::kServer}, T("int32"))),
            "error: root: declared type int32 does not accept the inferred "
            "type placement");
}

TEST(TypeCheckerTest, DeclaredTypesMustBeWellFormed) {
  Type nested =
      Type::Federated(Type::Federated(T("int32"), Placement::kServer, true),
                      Placement::kClients, false);
  EXPECT_THAT(TypeOf(MakeNode(NativeNode{"f"}, nested)),
              StartsWith("error: root: declared type is not valid: "));
  EXPECT_THAT(
      TypeOf(Struct({{"", MakeNode(NativeNode{"f"},
                                   Type::Tensor(DType::kInt32, {-5}))}})),
      StartsWith("error: struct[0]: declared type is not valid: "));
}

TEST(TypeCheckerTest, InputIsNotModifiedAndMetadataIsKept) {
  NodePtr literal = std::make_shared<Node>(
      LiteralNode{Tensor::Scalar(int32_t{1})}, std::nullopt,
      SourceLocation{2, 4}, std::vector<std::string>{" a comment"},
      std::vector<std::string>{" after"});
  NodePtr root = Struct({{"a", literal}});
  absl::StatusOr<NodePtr> checked = CheckComputation(root);
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_FALSE(root->type().has_value());
  EXPECT_FALSE(literal->type().has_value());
  const NodePtr& out = (*checked)->As<StructNode>().elements[0].value;
  EXPECT_EQ(out->type()->ToString(), "int32");
  EXPECT_EQ(out->location().line, 2);
  EXPECT_EQ(out->location().column, 4);
  EXPECT_EQ(out->comments(), std::vector<std::string>{" a comment"});
  EXPECT_EQ(out->trailing_comments(), std::vector<std::string>{" after"});
}

// ------------------------------------------------------------ depth

TEST(TypeCheckerTest, TenThousandDeepTreesAreRejectedCleanly) {
  NodePtr structs = Int(1);
  NodePtr lambdas = Int(1);
  NodePtr selections = Struct({{"", Int(1)}});
  for (int i = 0; i < 10000; ++i) {
    structs = Struct({{"", structs}});
    lambdas = Thunk(lambdas);
    selections = Select(Struct({{"", selections}}), 0);
  }
  EXPECT_EQ(TypeOf(structs),
            "error: root: computation nests 10001 levels, more than the limit "
            "of 1000");
  EXPECT_THAT(TypeOf(lambdas), HasSubstr("more than the limit of 1000"));
  EXPECT_THAT(TypeOf(selections), HasSubstr("more than the limit of 1000"));
}

TEST(TypeCheckerTest, TreesAtTheDepthLimitAreChecked) {
  NodePtr structs = Int(1);
  NodePtr lambdas = Int(1);
  NodePtr blocks = Int(1);
  NodePtr calls = Int(1);
  NodePtr identity = Lambda("x", "int32", Ref("x"));
  for (int i = 1; i < kMaxNestingDepth; ++i) {
    structs = Struct({{"", structs}});
    lambdas = Lambda("x", "int32", lambdas);
    blocks = Block({{"x", Int(1)}}, blocks);
    // The innermost call's function (lambda, reference) is the deepest.
    if (i < kMaxNestingDepth - 1) calls = Call(identity, calls);
  }
  ASSERT_EQ(TreeDepth(calls), kMaxNestingDepth);
  ASSERT_EQ(TreeDepth(structs), kMaxNestingDepth);
  absl::StatusOr<NodePtr> checked = CheckComputation(structs);
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_EQ((*checked)->type()->depth(), kMaxNestingDepth);
  EXPECT_TRUE(CheckComputation(lambdas).ok());
  EXPECT_TRUE(CheckComputation(blocks).ok());
  EXPECT_EQ(TypeOf(calls), "int32");
  // One more level is too many.
  EXPECT_THAT(TypeOf(Struct({{"", structs}})),
              HasSubstr("computation nests 1001 levels"));
}

TEST(TypeCheckerTest, InferredTypesDeeperThanTheLimitAreRejected) {
  // Each lambda adds a level to the type: a parameter type 600 deep inside
  // 600 lambdas gives a type deeper than the limit, though the tree is not.
  std::string deep = "int32";
  for (int i = 0; i < 600; ++i) deep = "<" + deep + ">";
  NodePtr root = Ref("x");
  for (int i = 0; i < 600; ++i) root = Lambda("x", deep, root);
  EXPECT_THAT(TypeOf(root),
              HasSubstr("the type of this node nests 1001 levels, more than "
                        "the limit of 1000"));
}

TEST(TypeCheckerTest, WideTreesAreFine) {
  std::vector<NamedNode> locals;
  locals.push_back({"x0", Int(0)});
  for (int i = 1; i < 10000; ++i) {
    locals.push_back({"x" + std::to_string(i),
                      Struct({{"", Ref("x" + std::to_string(i - 1))}})});
    locals.back().value = Select(locals.back().value, 0);
  }
  EXPECT_EQ(TypeOf(Block(std::move(locals), Ref("x9999"))), "int32");
}

}  // namespace
}  // namespace fedexec::ir
