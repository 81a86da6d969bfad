// Tests of the type system: construction, the text notation, equality,
// assignability, well-formedness, proto conversion and unification.
#include "ir/type.h"

#include <memory>
#include <string>
#include <vector>

#include "core/limits.h"
#include "federated_language/computation.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "ir/lexer.h"
#include "testing/types.h"

namespace fedexec::ir {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
namespace pb = ::federated_language;

using ::fedexec::test_util::T;

std::string ParseError(absl::string_view text) {
  absl::StatusOr<Type> t = ParseType(text);
  if (t.ok()) return "parsed as " + t->ToString();
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(t.status().message());
}

std::string Repeat(absl::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.append(s.data(), s.size());
  return out;
}

pb::Type ProtoFromText(const std::string& text) {
  pb::Type proto;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &proto))
      << text;
  return proto;
}

std::string DecodeError(const pb::Type& proto) {
  absl::StatusOr<Type> t = TypeFromProto(proto);
  if (t.ok()) return "decoded as " + t->ToString();
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(t.status().message());
}

// Every dtype that has a name.
std::vector<DType> AllDTypes() {
  std::vector<DType> out;
  for (int wire = 0; wire < 64; ++wire) {
    if (IsValidWireDType(wire)) out.push_back(static_cast<DType>(wire));
  }
  return out;
}

// A type of exactly `depth` levels that cycles through every kind of
// nesting, including those the printer must parenthesize.
Type MixedDeepType(int depth) {
  Type t = Type::Tensor(DType::kInt32, {kUnknownDim, 2});
  for (int level = 2; level <= depth; ++level) {
    switch (level % 9) {
      case 0:
        t = Type::Struct({{"a", t}, {"", Type::Abstract("T")}});
        break;
      case 1:
        t = Type::Sequence(t);
        break;
      case 2:
        t = Type::Function(Type::PlacementType(), t);
        break;
      case 3:
        t = Type::Federated(t, Placement::kServer, /*all_equal=*/true);
        break;
      case 4:
        t = Type::Sequence(t);  // of a federated type: "(...)*"
        break;
      case 5:
        t = Type::Federated(t, Placement::kClients, /*all_equal=*/false);
        break;
      case 6:
        t = Type::Federated(t, Placement::kServer, true);  // "(...)@SERVER"
        break;
      case 7:
        t = Type::Function(t, Type::Struct({}));
        break;
      case 8:
        t = Type::Function(std::nullopt, t);
        break;
    }
  }
  EXPECT_EQ(t.depth(), depth);
  return t;
}

// Frees a deep chain of proto messages from the top, one level at a time
// (the generated destructors recurse).
std::unique_ptr<pb::Type> ReleaseChild(pb::Type& t) {
  switch (t.type_case()) {
    case pb::Type::kSequence:
      return std::unique_ptr<pb::Type>(t.mutable_sequence()->release_element());
    case pb::Type::kFederated:
      return std::unique_ptr<pb::Type>(t.mutable_federated()->release_member());
    case pb::Type::kFunction:
      return std::unique_ptr<pb::Type>(t.mutable_function()->release_result());
    case pb::Type::kStruct:
      if (t.struct_().element_size() == 0) return nullptr;
      return std::unique_ptr<pb::Type>(
          t.mutable_struct_()->mutable_element(0)->release_value());
    default:
      return nullptr;
  }
}
void FreeDeepProto(pb::Type& root) {
  std::unique_ptr<pb::Type> next = ReleaseChild(root);
  while (next != nullptr) next = ReleaseChild(*next);
}

// ------------------------------------------------------------ construction

TEST(TypeTest, DefaultIsFloat32Scalar) {
  Type t;
  EXPECT_EQ(t.kind(), TypeKind::kTensor);
  EXPECT_EQ(t.dtype(), DType::kFloat32);
  EXPECT_TRUE(t.dims().empty());
  EXPECT_FALSE(t.unknown_rank());
  EXPECT_EQ(t.depth(), 1);
  EXPECT_EQ(t, Type::Tensor(DType::kFloat32));
}

TEST(TypeTest, Accessors) {
  Type tensor = Type::Tensor(DType::kInt32, {kUnknownDim, 3});
  EXPECT_EQ(tensor.dtype(), DType::kInt32);
  EXPECT_EQ(tensor.dims(), (std::vector<int64_t>{-1, 3}));

  Type unknown = Type::TensorUnknownRank(DType::kBool);
  EXPECT_TRUE(unknown.unknown_rank());
  EXPECT_TRUE(unknown.dims().empty());

  Type s = Type::Struct({{"a", tensor}, {"", unknown}});
  ASSERT_EQ(s.elements().size(), 2u);
  EXPECT_EQ(s.elements()[0].name, "a");
  EXPECT_EQ(s.elements()[1].name, "");
  EXPECT_EQ(s.elements()[1].type, unknown);

  EXPECT_EQ(Type::Sequence(tensor).element(), tensor);

  Type f = Type::Function(tensor, unknown);
  ASSERT_NE(f.parameter(), nullptr);
  EXPECT_EQ(*f.parameter(), tensor);
  EXPECT_EQ(f.result(), unknown);
  Type g = Type::Function(std::nullopt, unknown);
  EXPECT_EQ(g.parameter(), nullptr);
  EXPECT_EQ(g.result(), unknown);

  Type fed = Type::Federated(tensor, Placement::kClients, false);
  EXPECT_EQ(fed.member(), tensor);
  EXPECT_EQ(fed.placement(), Placement::kClients);
  EXPECT_FALSE(fed.all_equal());

  EXPECT_EQ(Type::PlacementType().kind(), TypeKind::kPlacement);
  EXPECT_EQ(Type::Abstract("Acc").label(), "Acc");
}

TEST(TypeTest, Depth) {
  EXPECT_EQ(T("float32").depth(), 1);
  EXPECT_EQ(T("<>").depth(), 1);
  EXPECT_EQ(T("placement").depth(), 1);
  EXPECT_EQ(T("T").depth(), 1);
  EXPECT_EQ(T("float32*").depth(), 2);
  EXPECT_EQ(T("( -> int32)").depth(), 2);
  EXPECT_EQ(T("<a=<b=int32>,c=int32>").depth(), 3);
  EXPECT_EQ(T("(int32 -> <int32*>)").depth(), 4);
  EXPECT_EQ(T("{float32}@CLIENTS").depth(), 2);
  EXPECT_EQ(T("(float32@SERVER)*").depth(), 3);
}

TEST(TypeTest, EqualityIsStructuralWithNames) {
  EXPECT_EQ(T("<a=int32,b=float32[?]>"), T("<a=int32,b=float32[?]>"));
  EXPECT_NE(T("<a=int32>"), T("<int32>"));
  EXPECT_NE(T("<a=int32>"), T("<b=int32>"));
  EXPECT_NE(T("float32@CLIENTS"), T("{float32}@CLIENTS"));
  EXPECT_NE(T("float32@CLIENTS"), T("float32@SERVER"));
  EXPECT_NE(T("float32[*]"), T("float32"));
  EXPECT_NE(T("float32[?]"), T("float32[1]"));
  EXPECT_NE(T("float32"), T("float64"));
  EXPECT_NE(T("T"), T("U"));
  EXPECT_NE(T("( -> int32)"), T("(int32 -> int32)"));
  EXPECT_NE(T("(int32 -> int32)"), T("(int32 -> int64)"));
  EXPECT_NE(T("<int32>"), T("<int32,int32>"));
  EXPECT_NE(T("float32*"), T("float32"));
  EXPECT_EQ(T("placement"), Type::PlacementType());
}

TEST(TypeTest, ContainsAbstract) {
  EXPECT_TRUE(ContainsAbstract(T("T")));
  EXPECT_TRUE(ContainsAbstract(T("<int32,(int32 -> {U}@CLIENTS)>")));
  EXPECT_TRUE(ContainsAbstract(T("T*")));
  EXPECT_FALSE(ContainsAbstract(T("<int32,(int32 -> {int32}@CLIENTS)>")));
  EXPECT_FALSE(ContainsAbstract(T("placement")));
}

// ------------------------------------------------------------ text notation

// Canonical spellings: each parses and prints back unchanged.
const char* const kCanonical[] = {
    "float32",
    "float32[10]",
    "int32[?,3]",
    "float32[*]",
    "float32[0]",
    "float32[0,0,?]",
    "string[2,?]",
    "int64[9223372036854775807]",
    "<a=int32,b=float32[?]>",
    "<int32,float32>",
    "<a=int32,float32>",
    "<>",
    "<<>>",
    "<<<int32>>,<>>",
    "float32*",
    "float32**",
    "<a=int32>*",
    "<>*",
    "(int32 -> float32)",
    "( -> float32)",
    "( -> ( -> int32))",
    "((int32 -> float32) -> float32)",
    "(<a=int32,b=int32> -> <>)",
    "(int32 -> float32)*",
    "(int32 -> float32)@SERVER",
    "{float32}@CLIENTS",
    "float32@CLIENTS",
    "float32@SERVER",
    "{float32}@SERVER",
    "{float32*}@CLIENTS",
    "float32*@CLIENTS",
    "{<a=float32,b=int32[2]>}@CLIENTS",
    "<a=float32@SERVER,b={int32}@CLIENTS>",
    "(int32@CLIENTS -> float32@SERVER)",
    "({int32}@CLIENTS -> <float32,int32>@SERVER)",
    "placement",
    "<placement,placement>",
    "T",
    "U",
    "Acc",
    "_x1",
    "SERVER",
    "{T}@CLIENTS",
    "T@CLIENTS",
    "(<T,U> -> T)",
    "<x=<y=<z=T>>>",
    // Ill-formed but representable: printed with parentheses.
    "(float32@SERVER)*",
    "({float32}@CLIENTS)*",
    "(float32@CLIENTS)@SERVER",
    "({int32}@CLIENTS)@SERVER",
    "((float32@SERVER)@SERVER)*",
    "{float32@SERVER}@CLIENTS",
    "{{float32}@SERVER}@CLIENTS",
    "<a=int32,a=int32>",
    // Names that are not plain identifiers, and labels that would read as
    // another kind of type, are backquoted.
    "`a b`",
    "`float32`",
    "`placement`",
    "`x\\n`",
    "<`a b`=int32,`1`=float32>",
    "<float32=int32,placement=int32,T=T>",
    "<`\\``=int32>",
};

TEST(TypePrintTest, CanonicalFormsRoundTrip) {
  for (const char* text : kCanonical) {
    SCOPED_TRACE(text);
    absl::StatusOr<Type> t = ParseType(text);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->ToString(), text);
    absl::StatusOr<Type> again = ParseType(t->ToString());
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, *t);
  }
}

TEST(TypePrintTest, EveryDTypeName) {
  std::vector<DType> dtypes = AllDTypes();
  EXPECT_EQ(dtypes.size(), 16u);
  for (DType d : dtypes) {
    std::string name(DTypeName(d));
    SCOPED_TRACE(name);
    EXPECT_EQ(T(name), Type::Tensor(d));
    EXPECT_EQ(Type::Tensor(d).ToString(), name);
    EXPECT_EQ(T(name + "[?,2]"), Type::Tensor(d, {kUnknownDim, 2}));
    EXPECT_EQ(T(name + "[*]"), Type::TensorUnknownRank(d));
    EXPECT_EQ(T(name + "[*]").ToString(), name + "[*]");
  }
}

TEST(TypePrintTest, ParsesToTheExpectedStructure) {
  EXPECT_EQ(T("int32[?,3]"), Type::Tensor(DType::kInt32, {kUnknownDim, 3}));
  EXPECT_EQ(T("float32[*]"), Type::TensorUnknownRank(DType::kFloat32));
  EXPECT_EQ(T("<a=int32,float32>"),
            Type::Struct({{"a", Type::Tensor(DType::kInt32)},
                          {"", Type::Tensor(DType::kFloat32)}}));
  EXPECT_EQ(T("<>"), Type::Struct({}));
  EXPECT_EQ(T("float32*"), Type::Sequence(Type::Tensor(DType::kFloat32)));
  EXPECT_EQ(T("(int32 -> float32)"),
            Type::Function(Type::Tensor(DType::kInt32),
                           Type::Tensor(DType::kFloat32)));
  EXPECT_EQ(T("( -> float32)"),
            Type::Function(std::nullopt, Type::Tensor(DType::kFloat32)));
  EXPECT_EQ(T("{float32}@CLIENTS"),
            Type::Federated(Type(), Placement::kClients, false));
  EXPECT_EQ(T("float32@CLIENTS"),
            Type::Federated(Type(), Placement::kClients, true));
  EXPECT_EQ(T("float32@SERVER"),
            Type::Federated(Type(), Placement::kServer, true));
  EXPECT_EQ(T("{float32}@SERVER"),
            Type::Federated(Type(), Placement::kServer, false));
  // Postfixes apply left to right: a sequence placed at the clients.
  EXPECT_EQ(T("float32*@CLIENTS"),
            Type::Federated(Type::Sequence(Type()), Placement::kClients, true));
  EXPECT_EQ(T("(float32@SERVER)*"),
            Type::Sequence(Type::Federated(Type(), Placement::kServer, true)));
  EXPECT_EQ(T("`float32`"), Type::Abstract("float32"));
  EXPECT_EQ(T("placement"), Type::PlacementType());
  EXPECT_EQ(T("Acc"), Type::Abstract("Acc"));
  // A lowercase word that is not a dtype name is an abstract type too.
  EXPECT_EQ(T("float33"), Type::Abstract("float33"));
}

TEST(TypePrintTest, NonCanonicalInputIsNormalized) {
  EXPECT_EQ(T("  < a = int32 ,\n b=float32 [ ? ] >  ").ToString(),
            "<a=int32,b=float32[?]>");
  EXPECT_EQ(T("(float32)").ToString(), "float32");
  EXPECT_EQ(T("((int32->float32))").ToString(), "(int32 -> float32)");
  EXPECT_EQ(T("(->float32)").ToString(), "( -> float32)");
  EXPECT_EQ(T("# a comment\nfloat32 # another\n").ToString(), "float32");
  EXPECT_EQ(T("{ float32 } @ CLIENTS").ToString(), "{float32}@CLIENTS");
  EXPECT_EQ(T("`T`").ToString(), "T");
  EXPECT_EQ(T("<`a`=int32>").ToString(), "<a=int32>");
}

TEST(TypePrintTest, TypesBuiltInCodeRoundTrip) {
  std::vector<Type> types = {
      Type::Abstract("with space"),
      Type::Abstract("int32"),
      Type::Abstract("tab\there"),
      Type::Abstract("\xc3\xa9t\xc3\xa9"),  // UTF-8
      Type::Struct({{"x y", Type()}, {"", Type::Abstract("placement")}}),
      Type::Sequence(
          Type::Federated(Type::Federated(Type(), Placement::kClients, false),
                          Placement::kServer, true)),
      Type::Federated(Type::Federated(Type(), Placement::kClients, true),
                      Placement::kClients, true),
      Type::Function(Type::Federated(Type(), Placement::kServer, true),
                     Type::Sequence(Type::Sequence(Type()))),
      MixedDeepType(40),
  };
  for (const Type& t : types) {
    SCOPED_TRACE(t.ToString());
    absl::StatusOr<Type> again = ParseType(t.ToString());
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, t);
  }
}

TEST(TypePrintTest, DeepestAllowedTypeRoundTrips) {
  Type t = MixedDeepType(kMaxNestingDepth);
  absl::StatusOr<Type> again = ParseType(t.ToString());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, t);
  EXPECT_EQ(again->depth(), kMaxNestingDepth);
}

TEST(TypePrintTest, NestingAtTheLimitParses) {
  const int n = kMaxNestingDepth - 1;  // wrappers around one leaf
  EXPECT_EQ(T("float32" + Repeat("*", n)).depth(), kMaxNestingDepth);
  EXPECT_EQ(T(Repeat("<", n) + "float32" + Repeat(">", n)).depth(),
            kMaxNestingDepth);
  EXPECT_EQ(T(Repeat("( -> ", n) + "int32" + Repeat(")", n)).depth(),
            kMaxNestingDepth);
  EXPECT_EQ(T(Repeat("(int32 -> ", n) + "int32" + Repeat(")", n)).depth(),
            kMaxNestingDepth);
  EXPECT_EQ(T(Repeat("{", n) + "T" + Repeat("}@CLIENTS", n)).depth(),
            kMaxNestingDepth);
  EXPECT_EQ(T("float32" + Repeat("*", n - 1) + "@SERVER").depth(),
            kMaxNestingDepth);
}

TEST(TypeParseTest, NestingOneBeyondTheLimitFails) {
  const int n = kMaxNestingDepth;
  const std::string limit = "type nesting deeper than 1000 levels";
  EXPECT_THAT(ParseError("float32" + Repeat("*", n)), HasSubstr(limit));
  EXPECT_THAT(ParseError(Repeat("<", n) + "float32" + Repeat(">", n)),
              HasSubstr(limit));
  EXPECT_THAT(ParseError(Repeat("( -> ", n) + "int32" + Repeat(")", n)),
              HasSubstr(limit));
  EXPECT_THAT(ParseError(Repeat("(int32 -> ", n) + "int32" + Repeat(")", n)),
              HasSubstr(limit));
  EXPECT_THAT(ParseError(Repeat("{", n) + "T" + Repeat("}@CLIENTS", n)),
              HasSubstr(limit));
  EXPECT_THAT(ParseError("float32" + Repeat("*", n - 1) + "@SERVER"),
              HasSubstr(limit));
  // A deep parameter counts for the function around it.
  EXPECT_THAT(ParseError("(<" + Repeat("<", n - 2) + "int32" +
                         Repeat(">", n - 2) + "> -> int32)"),
              HasSubstr(limit));
  Type too_deep = MixedDeepType(kMaxNestingDepth + 1);
  EXPECT_THAT(ParseError(too_deep.ToString()), HasSubstr(limit));
}

TEST(TypeParseTest, TenThousandLevelsFailCleanly) {
  const int n = 10000;
  const std::string limit = "type nesting deeper than 1000 levels";
  EXPECT_THAT(ParseError(Repeat("<", n) + "float32" + Repeat(">", n)),
              HasSubstr(limit));
  EXPECT_THAT(ParseError(Repeat("(", n) + "float32" + Repeat(")", n)),
              HasSubstr(limit));
  EXPECT_THAT(ParseError(Repeat("( -> ", n) + "int32" + Repeat(")", n)),
              HasSubstr(limit));
  EXPECT_THAT(ParseError(Repeat("{", n) + "T" + Repeat("}@CLIENTS", n)),
              HasSubstr(limit));
  EXPECT_THAT(ParseError("float32" + Repeat("*", n)), HasSubstr(limit));
  // Unbalanced input fails the same way, before running out of stack.
  EXPECT_THAT(ParseError(Repeat("<", n)), HasSubstr(limit));
  // The limit error is located at the token where it is found.
  EXPECT_EQ(ParseError(Repeat("<", n)),
            "1:1001: type nesting deeper than 1000 levels, found '<'");
}

TEST(TypeParseTest, Errors) {
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {"", "1:1: expected a type, found end of input"},
      {"float33[2]",
       "1:8: 'float33' is not a dtype name (an abstract type takes no "
       "dimensions), found '['"},
      {"T[?]",
       "1:2: 'T' is not a dtype name (an abstract type takes no dimensions), "
       "found '['"},
      {"float32[",
       "1:9: expected a dimension (a non-negative integer, '?' or '*'), found "
       "end of input"},
      {"float32[]",
       "1:9: expected a dimension (a non-negative integer, '?' or '*'), found "
       "']'"},
      {"float32[-1]",
       "1:9: expected a dimension (a non-negative integer, '?' or '*'), found "
       "'-'"},
      {"float32[2,]",
       "1:11: expected a dimension (a non-negative integer or '?'), found "
       "']'"},
      {"float32[1.5]",
       "1:9: expected a dimension (a non-negative integer, '?' or '*'), found "
       "'1.5'"},
      {"float32[2", "1:10: expected ',' or ']', found end of input"},
      {"float32[2 3]", "1:11: expected ',' or ']', found '3'"},
      {"float32[*,2]", "1:10: expected ']', found ','"},
      {"float32[99999999999999999999]",
       "1:9: dimension out of range, found '99999999999999999999'"},
      {"<a=int32", "1:9: expected ',' or '>', found end of input"},
      {"<a=>", "1:4: expected a type, found '>'"},
      {"<int32,>", "1:8: expected a type, found '>'"},
      {"<,>", "1:2: expected a type, found ','"},
      {"<a=int32,\n  b=>", "2:5: expected a type, found '>'"},
      {"{float32}",
       "1:10: expected '@' and a placement after '{...}', found end of input"},
      {"{float32}*",
       "1:10: expected '@' and a placement after '{...}', found '*'"},
      {"{float32", "1:9: expected '}', found end of input"},
      {"float32@",
       "1:9: expected a placement (SERVER or CLIENTS), found end "
       "of input"},
      {"float32@clients",
       "1:9: expected a placement (SERVER or CLIENTS), found 'clients'"},
      {"float32@`SERVER`",
       "1:9: expected a placement (SERVER or CLIENTS), found 'SERVER'"},
      {"float32@SERVER*",
       "1:15: expected end of input after the type (parenthesize a federated "
       "type before '*' or '@'), found '*'"},
      {"float32@CLIENTS@SERVER",
       "1:16: expected end of input after the type (parenthesize a federated "
       "type before '*' or '@'), found '@'"},
      {"{float32}@CLIENTS*",
       "1:18: expected end of input after the type (parenthesize a federated "
       "type before '*' or '@'), found '*'"},
      {"float32 int32",
       "1:9: expected end of input after the type, found 'int32'"},
      {"float32>", "1:8: expected end of input after the type, found '>'"},
      {"(int32", "1:7: expected '->' or ')', found end of input"},
      {"(int32 -> float32", "1:18: expected ')', found end of input"},
      {"( -> )", "1:6: expected a type, found ')'"},
      {"()", "1:2: expected a type, found ')'"},
      {"(int32 -> float32 -> int32)", "1:19: expected ')', found '->'"},
      {"\"float32\"", "1:1: expected a type, found a string"},
      {"42", "1:1: expected a type, found '42'"},
      {"float32$", "1:8: unexpected character '$'"},
      {"->", "1:1: expected a type, found '->'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(ParseError(c.text), c.error);
  }
}

TEST(TypeParseTest, ParseTypeAtStopsAfterTheType) {
  absl::StatusOr<std::vector<Token>> tokens =
      Tokenize("{int32[2]}@CLIENTS, x) float32* = T");
  ASSERT_TRUE(tokens.ok());
  TokenCursor cursor(*std::move(tokens));
  absl::StatusOr<Type> first = ParseTypeAt(cursor);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->ToString(), "{int32[2]}@CLIENTS");
  EXPECT_TRUE(cursor.Accept(","));
  EXPECT_TRUE(cursor.Peek().IsWord("x"));
  cursor.Next();
  EXPECT_TRUE(cursor.Accept(")"));
  absl::StatusOr<Type> second = ParseTypeAt(cursor);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->ToString(), "float32*");
  EXPECT_TRUE(cursor.Peek().Is("="));
  cursor.Next();
  absl::StatusOr<Type> third = ParseTypeAt(cursor);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(*third, Type::Abstract("T"));
  EXPECT_TRUE(cursor.AtEnd());
  // At the end there is no type to read.
  EXPECT_EQ(ParseTypeAt(cursor).status().message(),
            "1:36: expected a type, found end of input");
}

// ------------------------------------------------------------ assignability

TEST(TypeAssignTest, Matrix) {
  struct Case {
    const char* target;
    const char* source;
    bool assignable;
  };
  const Case cases[] = {
      // Tensors.
      {"float32", "float32", true},
      {"float32", "float64", false},
      {"float32", "float32[1]", false},
      {"float32[?]", "float32[3]", true},
      {"float32[3]", "float32[?]", false},
      {"float32[?,3]", "float32[5,3]", true},
      {"float32[?,3]", "float32[5,4]", false},
      {"float32[?]", "float32[?,?]", false},
      {"float32[0]", "float32[0]", true},
      {"float32[*]", "float32[2,3]", true},
      {"float32[*]", "float32", true},
      {"float32[*]", "float32[*]", true},
      {"float32[2]", "float32[*]", false},
      {"float32[*]", "int32[2]", false},
      // Structs.
      {"<>", "<>", true},
      {"<a=int32>", "<a=int32>", true},
      {"<a=int32>", "<b=int32>", false},
      {"<int32>", "<a=int32>", true},
      // Names must agree only where both sides name the element:
      // federated_language passes unnamed arguments to named parameters.
      {"<a=int32>", "<int32>", true},
      {"<a=int32,b=float32>", "<int32,b=float32>", true},
      {"<a=int32,b=float32>", "<int32,c=float32>", false},
      {"<a=<x=int32>>", "<<int32>>", true},
      {"<a=<x=int32>>", "<<y=int32>>", false},
      {"(<int32,int32> -> int32)", "(<a=int32,b=int32> -> int32)", true},
      {"(<a=int32,b=int32> -> int32)", "(<int32,int32> -> int32)", true},
      {"(<a=int32> -> int32)", "(<b=int32> -> int32)", false},
      {"<int32,int32>", "<int32>", false},
      {"<a=int32,b=float32>", "<a=int32,b=float32,c=int32>", false},
      {"<a=float32[?]>", "<a=float32[2]>", true},
      {"<a=float32[2]>", "<a=float32[?]>", false},
      {"<int32>", "int32", false},
      // Sequences.
      {"float32*", "float32*", true},
      {"float32[?]*", "float32[2]*", true},
      {"float32*", "float32", false},
      // Functions: contravariant parameter, covariant result.
      {"(int32 -> float32)", "(int32 -> float32)", true},
      {"(int32[2] -> float32[?])", "(int32[?] -> float32[3])", true},
      {"(int32[?] -> float32)", "(int32[2] -> float32)", false},
      {"(int32 -> float32[3])", "(int32 -> float32[?])", false},
      {"( -> int32)", "(int32 -> int32)", false},
      {"(int32 -> int32)", "( -> int32)", false},
      {"( -> float32[?])", "( -> float32[1])", true},
      // Federated: all-equal is a special case of per-placement.
      {"{float32}@CLIENTS", "{float32}@CLIENTS", true},
      {"{float32}@CLIENTS", "float32@CLIENTS", true},
      {"float32@CLIENTS", "{float32}@CLIENTS", false},
      {"{float32}@SERVER", "float32@SERVER", true},
      {"float32@SERVER", "{float32}@SERVER", false},
      {"float32@SERVER", "float32@CLIENTS", false},
      {"{float32[?]}@CLIENTS", "float32[3]@CLIENTS", true},
      {"{float32[3]}@CLIENTS", "{float32[?]}@CLIENTS", false},
      {"float32@SERVER", "float32", false},
      {"float32", "float32@SERVER", false},
      // Placements and abstract types.
      {"placement", "placement", true},
      {"placement", "int32", false},
      {"T", "T", true},
      {"T", "U", false},
      {"T", "float32", false},
      {"float32", "T", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.target, " <- ", c.source));
    EXPECT_EQ(IsAssignableFrom(T(c.target), T(c.source)), c.assignable);
  }
}

TEST(TypeAssignTest, EveryTypeIsAssignableFromItself) {
  for (const char* text : kCanonical) {
    SCOPED_TRACE(text);
    EXPECT_TRUE(IsAssignableFrom(T(text), T(text)));
  }
}

// ------------------------------------------------------------ well-formedness

TEST(TypeWellFormedTest, AcceptsOrdinaryTypes) {
  for (const char* text : {"float32",
                           "int32[?,3]",
                           "float32[*]",
                           "float32[0]",
                           "<>",
                           "<a=int32,b=float32[?]>",
                           "<int32,int32>",
                           "<a=int32,int32,b=int32>",
                           "float32*",
                           "<a=int32,b=<float32,string>>*",
                           "<>*",
                           "(int32 -> float32)",
                           "( -> float32)",
                           "{float32}@CLIENTS",
                           "float32@CLIENTS",
                           "float32@SERVER",
                           "{float32}@SERVER",
                           "float32*@CLIENTS",
                           "{float32*}@CLIENTS",
                           "(int32@CLIENTS -> float32@SERVER)",
                           "<a=float32@SERVER,b={int32}@CLIENTS>",
                           "(int32 -> float32)@SERVER",
                           "placement",
                           "T",
                           "{T}@CLIENTS",
                           "(<T,T> -> T)"}) {
    SCOPED_TRACE(text);
    EXPECT_TRUE(CheckWellFormed(T(text)).ok()) << CheckWellFormed(T(text));
  }
  EXPECT_TRUE(CheckWellFormed(MixedDeepType(1)).ok());
}

TEST(TypeWellFormedTest, Failures) {
  struct Case {
    Type type;
    std::string error;
  };
  const Case cases[] = {
      {Type::Tensor(DType::kInvalid), "tensor type has invalid dtype 0"},
      {Type::Tensor(static_cast<DType>(11)),
       "tensor type has invalid dtype 11"},
      {Type::Struct({{"x", Type::Tensor(static_cast<DType>(99), {2})}}),
       "tensor type has invalid dtype 99"},
      {Type::Tensor(DType::kFloat32, {2, -2}),
       "tensor type float32[2,-2] has invalid dimension -2"},
      {T("<a=int32,a=float32>"),
       "struct type <a=int32,a=float32> has duplicate element name 'a'"},
      {T("<b=<a=int32,int32,a=int32>>"),
       "struct type <a=int32,int32,a=int32> has duplicate element name 'a'"},
      {T("{float32@SERVER}@CLIENTS"),
       "federated type {float32@SERVER}@CLIENTS has a federated member"},
      {T("(float32@CLIENTS)@SERVER"),
       "federated type (float32@CLIENTS)@SERVER has a federated member"},
      {T("{<a=float32@SERVER>}@CLIENTS"),
       "federated type {<a=float32@SERVER>}@CLIENTS has federated type "
       "float32@SERVER inside its member"},
      {T("{( -> int32@SERVER)}@CLIENTS"),
       "federated type {( -> int32@SERVER)}@CLIENTS has federated type "
       "int32@SERVER inside its member"},
      {T("float32**"),
       "sequence type float32** has sequence type float32* in its element"},
      {T("(float32@SERVER)*"),
       "sequence type (float32@SERVER)* has federated type float32@SERVER in "
       "its element"},
      {T("(int32 -> int32)*"),
       "sequence type (int32 -> int32)* has function type (int32 -> int32) "
       "in its element"},
      {T("<a=float32*>*"),
       "sequence type <a=float32*>* has sequence type float32* in its "
       "element"},
      {T("{<float32**>}@CLIENTS"),
       "sequence type float32** has sequence type float32* in its element"},
      {Type::Abstract(""), "abstract type with an empty label"},
      {MixedDeepType(kMaxNestingDepth + 1),
       "type nesting depth 1001 exceeds the limit of 1000"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.type.ToString());
    absl::Status status = CheckWellFormed(c.type);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(), c.error);
  }
}

// ------------------------------------------------------------ proto

TEST(TypeProtoTest, RoundTripsWellFormedTypes) {
  for (const char* text : kCanonical) {
    Type t = T(text);
    if (!CheckWellFormed(t).ok()) continue;
    SCOPED_TRACE(text);
    pb::Type proto;
    TypeToProto(t, &proto);
    absl::StatusOr<Type> back = TypeFromProto(proto);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, t);
  }
  for (DType d : AllDTypes()) {
    pb::Type proto;
    TypeToProto(Type::Tensor(d, {3, kUnknownDim}), &proto);
    EXPECT_EQ(*TypeFromProto(proto), Type::Tensor(d, {3, kUnknownDim}));
  }
}

TEST(TypeProtoTest, EncodesEveryField) {
  pb::Type proto;
  TypeToProto(T("<a=int32[?,3],b=float32[*]>"), &proto);
  EXPECT_EQ(proto.DebugString(),
            ProtoFromText(R"pb(
              struct {
                element {
                  name: "a"
                  value { tensor { dtype: DT_INT32 dims: -1 dims: 3 } }
                }
                element {
                  name: "b"
                  value { tensor { dtype: DT_FLOAT unknown_rank: true } }
                }
              })pb")
                .DebugString());

  TypeToProto(T("( -> {string}@CLIENTS)"), &proto);
  EXPECT_FALSE(proto.function().has_parameter());
  EXPECT_EQ(proto.DebugString(), ProtoFromText(R"pb(
                                   function {
                                     result {
                                       federated {
                                         placement { value { uri: "clients" } }
                                         member { tensor { dtype: DT_STRING } }
                                       }
                                     }
                                   })pb")
                                     .DebugString());

  TypeToProto(T("(placement -> T@SERVER)*"), &proto);
  EXPECT_EQ(proto.DebugString(),
            ProtoFromText(R"pb(
              sequence {
                element {
                  function {
                    parameter { placement {} }
                    result {
                      federated {
                        placement { value { uri: "server" } }
                        all_equal: true
                        member { abstract { label: "T" } }
                      }
                    }
                  }
                }
              })pb")
                .DebugString());
}

TEST(TypeProtoTest, DecodesPlacementLabels) {
  EXPECT_EQ(*TypeFromProto(ProtoFromText(R"pb(
    federated {
      placement { label { label: "server" } }
      all_equal: true
      member { tensor { dtype: DT_FLOAT } }
    })pb")),
            T("float32@SERVER"));
  EXPECT_EQ(*TypeFromProto(ProtoFromText(R"pb(
    federated {
      placement { label { label: "clients" } }
      member { tensor { dtype: DT_INT64 dims: 2 } }
    })pb")),
            T("{int64[2]}@CLIENTS"));
  // The instance label of a placement type carries nothing fedexec uses.
  EXPECT_EQ(*TypeFromProto(ProtoFromText(R"pb(placement {
                                                instance_label { label: "x" }
                                              })pb")),
            T("placement"));
}

TEST(TypeProtoTest, DecodeErrors) {
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {"", "type: no type kind set"},
      {R"pb(struct {
              element { value { tensor { dtype: DT_FLOAT } } }
              element { name: "b" }
            })pb",
       "type.struct.element[1].value: no type kind set"},
      {R"pb(tensor { dtype: 11 })pb",
       "type.tensor.dtype: unknown dtype number 11"},
      {R"pb(tensor { dtype: DT_INVALID })pb",
       "type.tensor.dtype: unknown dtype number 0"},
      {R"pb(tensor { dtype: 999 })pb",
       "type.tensor.dtype: unknown dtype number 999"},
      {R"pb(tensor { dtype: DT_FLOAT dims: 2 dims: -2 })pb",
       "type.tensor.dims[1]: invalid dimension -2"},
      {R"pb(tensor { dtype: DT_FLOAT dims: 2 unknown_rank: true })pb",
       "type.tensor: unknown_rank is set with 1 dims"},
      {R"pb(federated {
              placement { value { uri: "worker" } }
              member { tensor { dtype: DT_FLOAT } }
            })pb",
       "type.federated.placement.value.uri: unknown placement uri 'worker'"},
      {R"pb(federated {
              placement { label { label: "SERVER" } }
              member { tensor { dtype: DT_FLOAT } }
            })pb",
       "type.federated.placement.label.label: unknown placement label "
       "'SERVER'"},
      {R"pb(federated { member { tensor { dtype: DT_FLOAT } } })pb",
       "type.federated.placement: no placement set"},
      {R"pb(federated { placement { value { uri: "server" } } })pb",
       "type.federated.member: no type kind set"},
      {R"pb(sequence {})pb", "type.sequence.element: no type kind set"},
      {R"pb(function { parameter { tensor { dtype: DT_FLOAT } } })pb",
       "type.function.result: no type kind set"},
      {R"pb(function {
              parameter {}
              result { tensor { dtype: DT_FLOAT } }
            })pb",
       "type.function.parameter: no type kind set"},
      {R"pb(abstract {})pb", "type.abstract.label: empty abstract type label"},
      {R"pb(function {
              result {
                federated {
                  placement { value { uri: "clients" } }
                  member {
                    struct { element { value { tensor { dtype: 12 } } } }
                  }
                }
              }
            })pb",
       "type.function.result.federated.member.struct.element[0].value.tensor."
       "dtype: unknown dtype number 12"},
      // Well-formedness.
      {R"pb(struct {
              element {
                name: "a"
                value { tensor { dtype: DT_INT32 } }
              }
              element {
                name: "a"
                value { tensor { dtype: DT_INT32 } }
              }
            })pb",
       "type: struct type <a=int32,a=int32> has duplicate element name 'a'"},
      {R"pb(federated {
              placement { value { uri: "clients" } }
              member {
                federated {
                  placement { value { uri: "server" } }
                  all_equal: true
                  member { tensor { dtype: DT_FLOAT } }
                }
              }
            })pb",
       "type: federated type {float32@SERVER}@CLIENTS has a federated "
       "member"},
      {R"pb(sequence {
              element { sequence { element { abstract { label: "T" } } } }
            })pb",
       "type: sequence type T** has sequence type T* in its element"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(DecodeError(ProtoFromText(c.text)), c.error);
  }
}

TEST(TypeProtoTest, DepthLimit) {
  // Chains of exactly kMaxNestingDepth levels decode; one more fails.
  for (int levels : {kMaxNestingDepth, kMaxNestingDepth + 1}) {
    pb::Type root;
    pb::Type* leaf = &root;
    for (int i = 1; i < levels; ++i) {
      leaf = i % 2 == 0
                 ? leaf->mutable_function()->mutable_result()
                 : leaf->mutable_struct_()->add_element()->mutable_value();
    }
    leaf->mutable_abstract()->set_label("T");
    absl::StatusOr<Type> t = TypeFromProto(root);
    if (levels == kMaxNestingDepth) {
      ASSERT_TRUE(t.ok()) << t.status();
      EXPECT_EQ(t->depth(), kMaxNestingDepth);
      EXPECT_TRUE(ContainsAbstract(*t));
    } else {
      EXPECT_THAT(std::string(t.status().message()),
                  HasSubstr("type nesting deeper than 1000 levels"));
    }
  }
  for (int levels : {kMaxNestingDepth, kMaxNestingDepth + 1}) {
    pb::Type root;
    pb::Type* leaf = &root;
    for (int i = 1; i < levels; ++i) {
      leaf = leaf->mutable_struct_()->add_element()->mutable_value();
    }
    leaf->mutable_tensor()->set_dtype(pb::DT_FLOAT);
    absl::StatusOr<Type> t = TypeFromProto(root);
    if (levels == kMaxNestingDepth) {
      ASSERT_TRUE(t.ok()) << t.status();
      EXPECT_EQ(t->depth(), kMaxNestingDepth);
      pb::Type again;
      TypeToProto(*t, &again);
      EXPECT_EQ(again.SerializeAsString(), root.SerializeAsString());
    } else {
      EXPECT_EQ(t.status().message(),
                "type.struct.element[0].value.struct.element[0].value.struct."
                "element[0].value.struct.element[0].value...(992 more "
                "levels)....struct.element[0].value.struct.element[0].value."
                "struct.element[0].value.struct.element[0].value: type "
                "nesting deeper than 1000 levels");
    }
  }
}

TEST(TypeProtoTest, TenThousandLevelsFailCleanly) {
  pb::Type root;
  pb::Type* leaf = &root;
  for (int i = 0; i < 10000; ++i) {
    leaf = leaf->mutable_sequence()->mutable_element();
  }
  leaf->mutable_tensor()->set_dtype(pb::DT_FLOAT);
  absl::StatusOr<Type> t = TypeFromProto(root);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()),
              StartsWith("type.sequence.element.sequence.element"));
  EXPECT_THAT(std::string(t.status().message()),
              HasSubstr("type nesting deeper than 1000 levels"));
  FreeDeepProto(root);
}

// ------------------------------------------------------------ deep C++ types

TEST(TypeDeepTest, VeryDeepTypesAreSafe) {
  const int n = 100000;
  Type a = Type::Tensor(DType::kInt32, {2});
  Type b = Type::Tensor(DType::kInt32, {kUnknownDim});
  for (int i = 0; i < n; ++i) {
    a = Type::Sequence(std::move(a));
    b = Type::Sequence(std::move(b));
  }
  EXPECT_EQ(a.depth(), n + 1);
  EXPECT_FALSE(ContainsAbstract(a));
  EXPECT_TRUE(a == a);
  EXPECT_FALSE(a == b);
  EXPECT_TRUE(IsAssignableFrom(b, a));
  EXPECT_FALSE(IsAssignableFrom(a, b));
  EXPECT_EQ(a.ToString(), "int32[2]" + Repeat("*", n));
  EXPECT_EQ(CheckWellFormed(a).message(),
            "type nesting depth 100001 exceeds the limit of 1000");
  EXPECT_THAT(ParseError(a.ToString()),
              HasSubstr("type nesting deeper than 1000 levels"));
  TypeBindings bindings;
  EXPECT_TRUE(Unify(b, a, &bindings).ok());
  EXPECT_EQ(Substitute(a, bindings), a);
}

TEST(TypeDeepTest, DeepProtoEncodingIsIterative) {
  Type t = T("float32");
  for (int i = 0; i < 10000; ++i) {
    t = i % 2 == 0 ? Type::Struct({{"", t}}) : Type::Function(std::nullopt, t);
  }
  pb::Type proto;
  TypeToProto(t, &proto);
  absl::StatusOr<Type> back = TypeFromProto(proto);
  EXPECT_THAT(std::string(back.status().message()),
              HasSubstr("type nesting deeper than 1000 levels"));
  FreeDeepProto(proto);
}

TEST(TypeDeepTest, DestroyingAMillionLevelsDoesNotOverflow) {
  Type t;
  for (int i = 0; i < 1000000; ++i) {
    switch (i % 4) {
      case 0:
        t = Type::Sequence(std::move(t));
        break;
      case 1:
        t = Type::Struct({{"a", std::move(t)}});
        break;
      case 2:
        t = Type::Function(Type(), std::move(t));
        break;
      case 3:
        t = Type::Federated(std::move(t), Placement::kClients, false);
        break;
    }
  }
  EXPECT_EQ(t.depth(), 1000001);
  t = Type();  // frees the chain
  EXPECT_EQ(t.depth(), 1);
}

TEST(TypeDeepTest, SharedSubtreesSurviveTheirParents) {
  Type shared = Type::Tensor(DType::kInt32, {3});
  for (int i = 0; i < 100000; ++i) shared = Type::Sequence(std::move(shared));
  Type keep = shared;
  {
    Type parent1 = Type::Struct({{"x", shared}});
    Type parent2 = Type::Federated(shared, Placement::kServer, true);
    shared = Type();
  }
  EXPECT_EQ(keep.depth(), 100001);
  const Type* leaf = &keep;
  while (leaf->kind() == TypeKind::kSequence) leaf = &leaf->element();
  EXPECT_EQ(leaf->dims(), (std::vector<int64_t>{3}));
}

// ------------------------------------------------------------ unification

TEST(TypeUnifyTest, BindsAbstractTypes) {
  TypeBindings b;
  ASSERT_TRUE(Unify(T("T"), T("float32[2]"), &b).ok());
  EXPECT_EQ(b.at("T"), T("float32[2]"));

  b.clear();
  ASSERT_TRUE(Unify(T("(T -> U)"), T("(int32 -> <a=float32>)"), &b).ok());
  EXPECT_EQ(b.at("T"), T("int32"));
  EXPECT_EQ(b.at("U"), T("<a=float32>"));

  // A label may bind to any type, federated ones included.
  b.clear();
  ASSERT_TRUE(Unify(T("T"), T("float32@SERVER"), &b).ok());
  EXPECT_EQ(b.at("T"), T("float32@SERVER"));

  b.clear();
  ASSERT_TRUE(Unify(T("T*"), T("<a=int32>*"), &b).ok());
  EXPECT_EQ(b.at("T"), T("<a=int32>"));

  b.clear();
  ASSERT_TRUE(Unify(T("( -> T)"), T("( -> int32)"), &b).ok());
  EXPECT_EQ(b.at("T"), T("int32"));
}

TEST(TypeUnifyTest, FederatedMapSignature) {
  Type pattern = T("<(T -> U),{T}@CLIENTS>");
  TypeBindings b;
  ASSERT_TRUE(
      Unify(pattern, T("<(int32 -> float32),{int32}@CLIENTS>"), &b).ok());
  EXPECT_EQ(Substitute(T("{U}@CLIENTS"), b), T("{float32}@CLIENTS"));
  EXPECT_EQ(Substitute(pattern, b), T("<(int32 -> float32),{int32}@CLIENTS>"));

  b.clear();
  EXPECT_EQ(
      Unify(pattern, T("<(int32 -> float32),{float32}@CLIENTS>"), &b).message(),
      "T bound to int32 and float32");
}

TEST(TypeUnifyTest, RepeatedLabelKeepsTheMoreGeneralType) {
  TypeBindings b;
  ASSERT_TRUE(Unify(T("<T,T>"), T("<float32[2],float32[?]>"), &b).ok());
  EXPECT_EQ(b.at("T"), T("float32[?]"));  // rebound to the more general

  b.clear();
  ASSERT_TRUE(Unify(T("<T,T>"), T("<float32[?],float32[2]>"), &b).ok());
  EXPECT_EQ(b.at("T"), T("float32[?]"));  // kept

  b.clear();
  ASSERT_TRUE(
      Unify(T("<T,T,T>"), T("<float32[2],float32[?],float32[*]>"), &b).ok());
  EXPECT_EQ(b.at("T"), T("float32[*]"));

  b.clear();
  ASSERT_TRUE(
      Unify(T("<T,T>"), T("<float32@CLIENTS,{float32}@CLIENTS>"), &b).ok());
  EXPECT_EQ(b.at("T"), T("{float32}@CLIENTS"));
}

TEST(TypeUnifyTest, NamesAgreeWhereBothSidesNameAnElement) {
  TypeBindings b;
  ASSERT_TRUE(Unify(T("<x=T,U>"), T("<int32,y=float32>"), &b).ok());
  EXPECT_EQ(b.at("T"), T("int32"));
  EXPECT_EQ(b.at("U"), T("float32"));
  EXPECT_EQ(Unify(T("<x=T>"), T("<y=int32>"), &b).message(),
            "expected <x=T>, found <y=int32>");
}

TEST(TypeUnifyTest, ConflictingBindings) {
  TypeBindings b;
  EXPECT_EQ(Unify(T("<T,T>"), T("<float32,int32>"), &b).message(),
            "T bound to float32 and int32");
  b.clear();
  EXPECT_EQ(Unify(T("<T,T>"), T("<float32[2],float32[3]>"), &b).message(),
            "T bound to float32[2] and float32[3]");
  // Bindings from an earlier call count.
  b.clear();
  b.emplace("T", T("int32"));
  EXPECT_EQ(Unify(T("T@SERVER"), T("float32@SERVER"), &b).message(),
            "T bound to int32 and float32");
}

TEST(TypeUnifyTest, PerClientAndAllEqualPatterns) {
  TypeBindings b;
  ASSERT_TRUE(Unify(T("{T}@CLIENTS"), T("{float32}@CLIENTS"), &b).ok());
  EXPECT_EQ(b.at("T"), T("float32"));
  b.clear();
  ASSERT_TRUE(Unify(T("{T}@CLIENTS"), T("float32@CLIENTS"), &b).ok());
  EXPECT_EQ(b.at("T"), T("float32"));
  b.clear();
  ASSERT_TRUE(Unify(T("T@CLIENTS"), T("float32@CLIENTS"), &b).ok());
  EXPECT_EQ(b.at("T"), T("float32"));
  b.clear();
  ASSERT_TRUE(Unify(T("T@SERVER"), T("float32@SERVER"), &b).ok());

  b.clear();
  EXPECT_EQ(Unify(T("T@CLIENTS"), T("{float32}@CLIENTS"), &b).message(),
            "expected T@CLIENTS, found {float32}@CLIENTS");
  EXPECT_EQ(Unify(T("{T}@CLIENTS"), T("float32@SERVER"), &b).message(),
            "expected {T}@CLIENTS, found float32@SERVER");
  EXPECT_EQ(Unify(T("{T}@CLIENTS"), T("float32"), &b).message(),
            "expected {T}@CLIENTS, found float32");
  EXPECT_EQ(Unify(T("T@SERVER"), T("{float32}@SERVER"), &b).message(),
            "expected T@SERVER, found {float32}@SERVER");
}

TEST(TypeUnifyTest, StructuralMismatches) {
  TypeBindings b;
  EXPECT_EQ(Unify(T("<T,U>"), T("<float32>"), &b).message(),
            "expected <T,U>, found <float32>");
  EXPECT_EQ(Unify(T("<T,T>"), T("float32"), &b).message(),
            "expected <T,T>, found float32");
  EXPECT_EQ(Unify(T("<a=T>"), T("<b=float32>"), &b).message(),
            "expected <a=T>, found <b=float32>");
  EXPECT_EQ(Unify(T("T*"), T("float32"), &b).message(),
            "expected T*, found float32");
  EXPECT_EQ(Unify(T("(T -> T)"), T("( -> int32)"), &b).message(),
            "expected (T -> T), found ( -> int32)");
  EXPECT_TRUE(b.empty());

  // An unnamed pattern element accepts a named one.
  ASSERT_TRUE(Unify(T("<T>"), T("<a=float32>"), &b).ok());
  EXPECT_EQ(b.at("T"), T("float32"));
}

TEST(TypeUnifyTest, ConcretePartsMustAcceptTheActual) {
  TypeBindings b;
  EXPECT_EQ(Unify(T("<T,int32>"), T("<float32,int64>"), &b).message(),
            "expected int32, found int64");
  b.clear();
  ASSERT_TRUE(Unify(T("<T,int32[?]>"), T("<float32,int32[3]>"), &b).ok());
  EXPECT_EQ(b.at("T"), T("float32"));
  b.clear();
  EXPECT_EQ(Unify(T("<T,int32[3]>"), T("<float32,int32[?]>"), &b).message(),
            "expected int32[3], found int32[?]");
  // A pattern without abstract types is plain assignability.
  b.clear();
  EXPECT_TRUE(Unify(T("{int32}@CLIENTS"), T("int32@CLIENTS"), &b).ok());
  EXPECT_EQ(Unify(T("int32@CLIENTS"), T("{int32}@CLIENTS"), &b).message(),
            "expected int32@CLIENTS, found {int32}@CLIENTS");
  EXPECT_TRUE(b.empty());
}

TEST(TypeUnifyTest, Substitute) {
  TypeBindings b;
  b.emplace("T", T("int32[2]"));
  EXPECT_EQ(Substitute(T("<a=T,b=U,c=(T -> T*)>"), b),
            T("<a=int32[2],b=U,c=(int32[2] -> int32[2]*)>"));
  EXPECT_EQ(Substitute(T("{T}@CLIENTS"), b), T("{int32[2]}@CLIENTS"));
  EXPECT_EQ(Substitute(T("T@SERVER"), b), T("int32[2]@SERVER"));
  EXPECT_EQ(Substitute(T("( -> T)"), b), T("( -> int32[2])"));
  EXPECT_EQ(Substitute(T("U"), b), T("U"));
  EXPECT_EQ(Substitute(T("float32"), b), T("float32"));
  EXPECT_TRUE(ContainsAbstract(Substitute(T("<T,U>"), b)));
  EXPECT_FALSE(ContainsAbstract(Substitute(T("<T,T>"), b)));
}

}  // namespace
}  // namespace fedexec::ir
