// Specification of the value syntax: what each form means, the canonical
// text, parsing guided by an expected type, the types of values, file
// references, errors and limits.
#include "ir/value_syntax.h"

#include <chrono>
#include <complex>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/limits.h"
#include "core/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/text_syntax.h"
#include "testing/test_files.h"
#include "testing/types.h"

namespace fedexec::ir {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Value P(absl::string_view text, const ValueSyntaxOptions& options = {}) {
  absl::StatusOr<Value> v = ParseValue(text, options);
  EXPECT_TRUE(v.ok()) << text << "\n" << v.status();
  return v.ok() ? *v : Value();
}

using ::fedexec::test_util::T;

Value PAs(absl::string_view text, absl::string_view type) {
  absl::StatusOr<Value> v = ParseValueAs(text, T(type));
  EXPECT_TRUE(v.ok()) << text << " as " << type << "\n" << v.status();
  return v.ok() ? *v : Value();
}

// The INVALID_ARGUMENT message of text that must not parse.
std::string Error(absl::string_view text,
                  const ValueSyntaxOptions& options = {}) {
  absl::StatusOr<Value> v = ParseValue(text, options);
  EXPECT_FALSE(v.ok()) << text;
  if (v.ok()) return "";
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << text;
  return std::string(v.status().message());
}

std::string ErrorAs(absl::string_view text, absl::string_view type) {
  absl::StatusOr<Value> v = ParseValueAs(text, T(type));
  EXPECT_FALSE(v.ok()) << text << " as " << type;
  if (v.ok()) return "";
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << text;
  return std::string(v.status().message());
}

// Parses, prints, and checks the canonical text and the round trip.
void ExpectCanonical(absl::string_view text, absl::string_view canonical) {
  Value v = P(text);
  const std::string printed = PrintValue(v);
  EXPECT_EQ(printed, canonical) << "input: " << text;
  absl::StatusOr<Value> again = ParseValue(printed);
  ASSERT_TRUE(again.ok()) << printed << "\n" << again.status();
  EXPECT_EQ(*again, v) << printed;
  EXPECT_EQ(PrintValue(*again), printed);
}

std::string TypeText(const Value& v) {
  absl::StatusOr<Type> t = ValueTypeOf(v);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? t->ToString() : "";
}

std::string TypeError(const Value& v) {
  absl::StatusOr<Type> t = ValueTypeOf(v);
  EXPECT_FALSE(t.ok());
  if (t.ok()) return "";
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(t.status().message());
}

using ::fedexec::test_util::TempDir;

// ------------------------------------------------------------ tensors

TEST(ValueSyntaxTest, TensorLiteralsAreTheComputationSyntaxLiterals) {
  for (const char* text : {"3",
                           "-2",
                           "1.5",
                           "-0.0",
                           "2e-3",
                           "inf",
                           "-inf",
                           "nan",
                           "-nan",
                           "nan(5)",
                           "true",
                           "false",
                           "\"text\\n\"",
                           "[[1, 2], [3, 4]]",
                           "[1.5, 2]",
                           "int64([1, 2])",
                           "float64(1.5)",
                           "string([\"a\", \"b\"])",
                           "float32[2,2]([1, 2, 3, 4])",
                           "float32[0,3]([])",
                           "complex64([1.5, -2])",
                           "complex128[2]([1, 2, 3, 4])",
                           "float16(0.1)",
                           "bfloat16(-3)",
                           "uint64(18446744073709551615)",
                           "int8([-128, 127])",
                           "bool([[true]])",
                           "float32(1e-45)"}) {
    absl::StatusOr<NodePtr> node = ParseComputation(text);
    ASSERT_TRUE(node.ok()) << text << node.status();
    const Tensor& expected = (*node)->As<LiteralNode>().value;
    Value v = P(text);
    ASSERT_TRUE(v.is_tensor()) << text;
    EXPECT_EQ(v.tensor(), expected) << text;
    EXPECT_EQ(PrintValue(v), PrintTensorLiteral(expected)) << text;
  }
}

TEST(ValueSyntaxTest, LiteralErrorsAreTheComputationSyntaxErrors) {
  for (const char* text :
       {"int8(300)", "uint8(-1)", "float32(1e39)", "[1, true]", "[[1], [2, 3]]",
        "[]", "int32(1.5)", "float32[2]([1])", "complex64([1, 2, 3])", "- x",
        "nan(0)", "float16(1e-10)"}) {
    absl::StatusOr<NodePtr> node = ParseComputation(text);
    ASSERT_FALSE(node.ok()) << text;
    EXPECT_EQ(Error(text), node.status().message()) << text;
  }
  EXPECT_EQ(Error("int8(300)"), "1:6: 300 is out of range for int8");
}

TEST(ValueSyntaxTest, PrintsTensorsCanonically) {
  ExpectCanonical("[ 1 ,2 ]", "[1, 2]");
  ExpectCanonical("float32(2)", "2.0");
  ExpectCanonical("float64[2]([1, 2])", "float64([1.0, 2.0])");
  ExpectCanonical("float32[2,0]([])", "float32[2,0]([])");
  ExpectCanonical("-0.0", "-0.0");
  ExpectCanonical("nan(7)", "nan(7)");
  ExpectCanonical("float16(0.1)", "float16(0.0999755859375)");
  ExpectCanonical("complex64([1, -2])", "complex64([1.0, -2.0])");
  ExpectCanonical("\"tab\\there\"", "\"tab\\there\"");
  ExpectCanonical("# a comment\n 5 # another\n", "5");
}

// ------------------------------------------------------------ structs

TEST(ValueSyntaxTest, Structs) {
  Value v = P("<a=1, b=[2, 3]>");
  ASSERT_TRUE(v.is_struct());
  const auto& e = v.struct_value().elements;
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].name, "a");
  EXPECT_EQ(e[0].value->tensor(), Tensor::Scalar<int32_t>(1));
  EXPECT_EQ(e[1].name, "b");
  EXPECT_EQ(e[1].value->tensor(), Tensor::Vector<int32_t>({2, 3}));

  ExpectCanonical("<a=1,b=[2,3]>", "<a=1, b=[2, 3]>");
  ExpectCanonical("<1, x=2.5, \"s\">", "<1, x=2.5, \"s\">");
  ExpectCanonical("< >", "<>");
  ExpectCanonical("<<>, <<1>>>", "<<>, <<1>>>");
  // Names that are not plain identifiers, or reserved words, are quoted.
  ExpectCanonical("<`a b`=1, `in`=2, `x`=3>", "<`a b`=1, `in`=2, x=3>");
  ExpectCanonical("<in=1, seq=2>", "<`in`=1, seq=2>");
}

TEST(ValueSyntaxTest, StructErrors) {
  EXPECT_EQ(Error("<a=1, a=2>"), "1:7: duplicate name 'a' in a struct");
  EXPECT_EQ(Error("<1, 2"),
            "1:6: expected '>' or ',' after a struct element, found end of "
            "input");
  EXPECT_EQ(Error("<a=>"),
            "1:4: expected a value (a tensor literal, <...>, seq[...], "
            "{...}@CLIENTS or @file), found '>'");
  EXPECT_EQ(Error("<1 2>"),
            "1:4: expected '>' or ',' after a struct element, found '2'");
}

// ------------------------------------------------------------ sequences

TEST(ValueSyntaxTest, Sequences) {
  Value v = P("seq[1, 2, 3]");
  ASSERT_TRUE(v.is_sequence());
  ASSERT_EQ(v.sequence().elements.size(), 3u);
  EXPECT_EQ(v.sequence().elements[2].tensor(), Tensor::Scalar<int32_t>(3));
  // A sequence is not a tensor list: [1, 2, 3] is one int32[3] tensor.
  EXPECT_TRUE(P("[1, 2, 3]").is_tensor());

  ExpectCanonical("seq[]", "seq[]");
  ExpectCanonical("seq [ <x=1>, <x=2> ]", "seq[<x=1>, <x=2>]");
  ExpectCanonical("seq[[1, 2], [3]]", "seq[[1, 2], [3]]");
}

TEST(ValueSyntaxTest, SequenceErrors) {
  EXPECT_EQ(Error("seq[seq[1]]"), "1:5: a sequence cannot hold a sequence");
  EXPECT_EQ(Error("seq[<seq[]>]"), "1:6: a sequence cannot hold a sequence");
  EXPECT_EQ(Error("seq[1@SERVER]"),
            "1:6: a sequence cannot hold a federated value");
  EXPECT_EQ(Error("seq[1, 2"),
            "1:9: expected ']' or ',' after a sequence element, found end of "
            "input");
  EXPECT_EQ(Error("seq"),
            "1:1: expected a value (a tensor literal, <...>, seq[...], "
            "{...}@CLIENTS or @file), found 'seq'");
}

// ------------------------------------------------------------ federated

TEST(ValueSyntaxTest, FederatedValues) {
  Value server = P("0.5@SERVER");
  ASSERT_TRUE(server.is_federated());
  EXPECT_EQ(server.federated().placement, Placement::kServer);
  EXPECT_TRUE(server.federated().all_equal);
  EXPECT_EQ(server.federated().members[0].tensor(), Tensor::Scalar(0.5f));

  Value all = P("1@CLIENTS");
  EXPECT_EQ(all.federated().placement, Placement::kClients);
  EXPECT_TRUE(all.federated().all_equal);
  ASSERT_EQ(all.federated().members.size(), 1u);

  Value each = P("{1, 2, 3}@CLIENTS");
  EXPECT_FALSE(each.federated().all_equal);
  ASSERT_EQ(each.federated().members.size(), 3u);
  EXPECT_EQ(each.federated().members[1].tensor(), Tensor::Scalar<int32_t>(2));

  Value none = P("{}@CLIENTS");
  EXPECT_FALSE(none.federated().all_equal);
  EXPECT_TRUE(none.federated().members.empty());

  ExpectCanonical("1 @ SERVER", "1@SERVER");
  ExpectCanonical("{ }@CLIENTS", "{}@CLIENTS");
  ExpectCanonical("{<a=1>,<a=2>}@CLIENTS", "{<a=1>, <a=2>}@CLIENTS");
  ExpectCanonical("{7}@SERVER", "{7}@SERVER");
  ExpectCanonical("seq[1, 2]@CLIENTS", "seq[1, 2]@CLIENTS");
  ExpectCanonical("<w=[1.0, 2.0]@SERVER, x={seq[], seq[1]}@CLIENTS>",
                  "<w=[1.0, 2.0]@SERVER, x={seq[], seq[1]}@CLIENTS>");
}

TEST(ValueSyntaxTest, FederatedErrors) {
  EXPECT_EQ(Error("{1, 2}"),
            "1:7: expected '@SERVER' or '@CLIENTS' after '}' ({v1, "
            "v2}@CLIENTS is one value per client), found end of input");
  EXPECT_EQ(Error("1@NOWHERE"),
            "1:3: expected SERVER or CLIENTS after '@', found 'NOWHERE'");
  EXPECT_EQ(Error("1@SERVER@CLIENTS"),
            "1:9: expected end of input after the value, found '@'");
  EXPECT_EQ(Error("{1@SERVER}@CLIENTS"),
            "1:11: a federated value cannot hold a federated value");
  EXPECT_EQ(Error("<1@SERVER>@CLIENTS"),
            "1:11: a federated value cannot hold a federated value");
  EXPECT_EQ(Error("{1, 2}@SERVER"),
            "1:1: {...}@SERVER holds one member (the server's), found 2");
  EXPECT_EQ(Error("{}@SERVER"),
            "1:1: {...}@SERVER holds one member (the server's), found 0");
}

TEST(ValueSyntaxTest, TenThousandClientsPrintAndParseInLinearTime) {
  constexpr int kClients = 10000;
  std::vector<Value> members;
  std::string expected = "{";
  for (int i = 0; i < kClients; ++i) {
    members.push_back(Value::Struct(
        {{"x", Tensor::Vector<float>({static_cast<float>(i), 0.5f})}}));
    if (i > 0) expected += ", ";
    expected += "<x=[" + std::to_string(i) + ".0, 0.5]>";
  }
  expected += "}@CLIENTS";
  Value v = Value::Federated(Placement::kClients, false, std::move(members));
  const auto start = std::chrono::steady_clock::now();
  const std::string printed = PrintValue(v);
  absl::StatusOr<Value> back = ParseValue(printed);
  const auto seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_EQ(printed, expected);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, v);
  // Generous even for sanitizer builds; a quadratic printer takes minutes.
  EXPECT_LT(seconds, 20.0);
}

// ------------------------------------------------------------ errors

TEST(ValueSyntaxTest, SyntaxErrorsNameLineAndColumn) {
  EXPECT_EQ(Error(""),
            "1:1: expected a value (a tensor literal, <...>, seq[...], "
            "{...}@CLIENTS or @file), found end of input");
  EXPECT_EQ(Error("1 2"),
            "1:3: expected end of input after the value, found "
            "'2'");
  EXPECT_EQ(Error("<a=1,\n  b=x>"),
            "2:5: expected a value (a tensor literal, <...>, seq[...], "
            "{...}@CLIENTS or @file), found 'x'");
  EXPECT_EQ(Error("\"open"), "1:1: unterminated string");
  EXPECT_EQ(Error("1 $"), "1:3: unexpected character '$'");
  EXPECT_EQ(Error("SERVER"),
            "1:1: expected a value (a tensor literal, <...>, seq[...], "
            "{...}@CLIENTS or @file), found 'SERVER'");
}

TEST(ValueSyntaxTest, DeepNestingIsACleanError) {
  const int n = 10000;
  for (const std::string& text :
       {std::string(n, '<') + "1" + std::string(n, '>'),
        std::string(n, '[') + "1" + std::string(n, ']'),
        std::string(n, '{') + "1",
        "<" + std::string(n, '[') + "1" + std::string(n, ']') + ">"}) {
    EXPECT_THAT(Error(text), HasSubstr("nesting deeper than 1000 levels"));
  }
  // Exactly the limit: kMaxNestingDepth levels, the leaf included.
  const int ok = kMaxNestingDepth - 1;
  Value deep = P(std::string(ok, '<') + "1" + std::string(ok, '>'));
  EXPECT_TRUE(deep.is_struct());
  EXPECT_EQ(Error(std::string(ok + 1, '<') + "1" + std::string(ok + 1, '>')),
            "1:1001: nesting deeper than 1000 levels, found '1'");
  // A struct of lists counts both.
  EXPECT_TRUE(
      P("<" + std::string(ok - 1, '[') + "1" + std::string(ok - 1, ']') + ">")
          .is_struct());
  EXPECT_THAT(
      Error("<" + std::string(ok, '[') + "1" + std::string(ok, ']') + ">"),
      HasSubstr("nesting deeper than 1000 levels"));
}

// ------------------------------------------------------------ files

TEST(ValueSyntaxFileTest, ReadsNpyFilesRelativeToTheBaseDirectory) {
  TempDir dir;
  std::filesystem::create_directory(dir.File("sub"));
  Tensor w = *Tensor::FromSpan<float>({1, 2, 3, 4}, {2, 2});
  Tensor b = Tensor::Vector<int64_t>({7});
  ASSERT_TRUE(WriteNpyFile(dir.File("sub/w.npy"), w).ok());
  ASSERT_TRUE(WriteNpyFile(dir.File("my b.npy"), b).ok());
  ValueSyntaxOptions options;
  options.base_dir = dir.path();

  EXPECT_EQ(P("@sub/w.npy", options).tensor(), w);
  EXPECT_EQ(P("@\"my b.npy\"", options).tensor(), b);
  // An absolute path ignores the base directory.
  EXPECT_EQ(P("@" + dir.File("sub/w.npy")).tensor(), w);

  Value v =
      P("<w=@sub/w.npy@SERVER, b={@\"my b.npy\", @./sub/w.npy}@CLIENTS, "
        "s=seq[@sub/w.npy]>",
        options);
  const auto& e = v.struct_value().elements;
  EXPECT_EQ(e[0].value->federated().members[0].tensor(), w);
  EXPECT_EQ(e[1].value->federated().members[0].tensor(), b);
  EXPECT_EQ(e[1].value->federated().members[1].tensor(), w);
  EXPECT_EQ(e[2].value->sequence().elements[0].tensor(), w);
  // Printing gives the literal, not the file.
  EXPECT_EQ(PrintValue(*e[0].value), "[[1.0, 2.0], [3.0, 4.0]]@SERVER");
}

TEST(ValueSyntaxFileTest, FileErrorsNameThePathAndWhere) {
  TempDir dir;
  ValueSyntaxOptions options;
  options.base_dir = dir.path();
  absl::StatusOr<Value> missing = ParseValue("<a=@nope.npy>", options);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "1:4: " + dir.File("nope.npy") +
                ": cannot open: No such file or directory");

  std::ofstream(dir.File("bad.npy")) << "not numpy";
  EXPECT_EQ(Error("@bad.npy", options),
            "1:1: " + dir.File("bad.npy") +
                ": not a .npy file (it does not start with \\x93NUMPY)");

  EXPECT_EQ(Error("@"),
            "1:2: expected a file path after '@' (quote a path holding blanks "
            "or any of ,<>[]{}()@\"`#: @\"my file.npy\"), found end of input");
  EXPECT_EQ(Error("@ x.npy"),
            "1:3: expected a file path after '@' (quote a path holding blanks "
            "or any of ,<>[]{}()@\"`#: @\"my file.npy\"), found 'x'");
  EXPECT_EQ(Error("@\"\""), "1:2: empty file path");

  ValueSyntaxOptions no_files;
  no_files.allow_files = false;
  EXPECT_EQ(Error("<@w.npy>", no_files),
            "1:2: file references (@path) are not allowed here");
}

TEST(ValueSyntaxFileTest, PathsDoNotDisturbLocationsOrStrings) {
  TempDir dir;
  std::filesystem::create_directory(dir.File("a"));
  ASSERT_TRUE(WriteNpyFile(dir.File("a/b.npy"), Tensor::Scalar(1.0f)).ok());
  ValueSyntaxOptions options;
  options.base_dir = dir.path();
  // A bare path is hidden from the lexer without moving what follows.
  EXPECT_EQ(Error("<@a/b.npy, x>", options),
            "1:12: expected a value (a tensor literal, <...>, seq[...], "
            "{...}@CLIENTS or @file), found 'x'");
  // '@' inside strings, quoted names and comments is left alone.
  ExpectCanonical("<`a@b`=\"@x/y\"> # @z/w", "<`a@b`=\"@x/y\">");
}

// ------------------------------------------------------------ expected type

TEST(ValueSyntaxAsTest, LiteralsTakeTheExpectedDType) {
  EXPECT_EQ(PAs("2", "float32").tensor(), Tensor::Scalar(2.0f));
  EXPECT_EQ(PAs("2", "float64").tensor(), Tensor::Scalar(2.0));
  EXPECT_EQ(PAs("-2", "int8").tensor(), Tensor::Scalar<int8_t>(-2));
  EXPECT_EQ(PAs("3000000000", "uint32").tensor(),
            Tensor::Scalar<uint32_t>(3000000000u));
  EXPECT_EQ(PAs("2", "float16").tensor(), Tensor::Scalar(Float16{0x4000}));
  EXPECT_EQ(PAs("[1, 2.5]", "complex64[2]").tensor(),
            Tensor::Vector<std::complex<float>>({{1, 0}, {2.5f, 0}}));
  // 0.1 rounds straight to float64, not through float32.
  EXPECT_EQ(PAs("0.1", "float64").tensor(), Tensor::Scalar(0.1));
  EXPECT_EQ(PAs("[[1, 2]]", "float32[?,?]").tensor(),
            *Tensor::FromSpan<float>({1, 2}, {1, 2}));
  EXPECT_EQ(PAs("[1]", "int64[*]").tensor(), Tensor::Vector<int64_t>({1}));
  EXPECT_EQ(PAs("[true]", "bool[1]").tensor(), Tensor::Vector<bool>({true}));
  EXPECT_EQ(PAs("\"a\"", "string").tensor(), Tensor::StringScalar("a"));
  // A literal with its own dtype keeps it and must match.
  EXPECT_EQ(PAs("int64(3)", "int64").tensor(), Tensor::Scalar<int64_t>(3));
}

TEST(ValueSyntaxAsTest, EmptyListsTakeTheExpectedShape) {
  EXPECT_EQ(PAs("[]", "float32[0]").tensor(),
            *Tensor::Zeros(DType::kFloat32, {0}));
  EXPECT_EQ(PAs("[]", "float32[0,3]").tensor(),
            *Tensor::Zeros(DType::kFloat32, {0, 3}));
  EXPECT_EQ(PAs("[]", "int32[?]").tensor(), *Tensor::Zeros(DType::kInt32, {0}));
  EXPECT_EQ(ErrorAs("[]", "float32[2]"),
            "1:1: expected float32[2], found [] (shape [0])");
}

TEST(ValueSyntaxAsTest, LiteralMismatchesNameBothTypes) {
  EXPECT_EQ(ErrorAs("[1, 2]", "float32[3]"),
            "1:1: expected float32[3], found int32[2]");
  EXPECT_EQ(ErrorAs("1.5", "int32"), "1:1: expected int32, found float32");
  EXPECT_EQ(ErrorAs("[1.5]", "int64[1]"),
            "1:1: expected int64[1], found float32[1]");
  EXPECT_EQ(ErrorAs("true", "int32"), "1:1: expected int32, found bool");
  EXPECT_EQ(ErrorAs("1", "bool"), "1:1: expected bool, found int32");
  EXPECT_EQ(ErrorAs("\"s\"", "float32"), "1:1: expected float32, found string");
  EXPECT_EQ(ErrorAs("int64(3)", "float32"),
            "1:1: expected float32, found int64");
  EXPECT_EQ(ErrorAs("float32[2]([1, 2])", "float32[3]"),
            "1:1: expected float32[3], found float32[2]");
  EXPECT_EQ(ErrorAs("[[1]]", "int32[1]"),
            "1:1: expected int32[1], found int32[1,1]");
  EXPECT_EQ(ErrorAs("300", "int8"), "1:1: 300 is out of range for int8");
  EXPECT_EQ(ErrorAs("-1", "uint8"), "1:1: -1 is out of range for uint8");
  EXPECT_EQ(ErrorAs("1", "<int32>"), "1:1: expected <int32>, found a tensor");
  EXPECT_EQ(ErrorAs("int32(1)", "int32*"), "1:1: expected int32*, found int32");
}

TEST(ValueSyntaxAsTest, IntegersConvertToFloatsOnlyExactly) {
  EXPECT_EQ(ErrorAs("16777217", "float32"),
            "1:1: 16777217 is not exactly representable in float32 (write "
            "16777217.0 to round it)");
  EXPECT_EQ(PAs("16777217", "float64").tensor(), Tensor::Scalar(16777217.0));
  EXPECT_EQ(PAs("16777216", "float32").tensor(), Tensor::Scalar(16777216.0f));
  EXPECT_EQ(PAs("16777217.0", "float32").tensor(), Tensor::Scalar(16777216.0f));
  EXPECT_EQ(ErrorAs("[1, 2049]", "float16[2]"),
            "1:5: 2049 is not exactly representable in float16 (write 2049.0 "
            "to round it)");
  EXPECT_EQ(ErrorAs("257", "bfloat16"),
            "1:1: 257 is not exactly representable in bfloat16 (write 257.0 "
            "to round it)");
  EXPECT_EQ(ErrorAs("9007199254740993", "complex128"),
            "1:1: 9007199254740993 is not exactly representable in complex128 "
            "(write 9007199254740993.0 to round it)");
  // The computation syntax's own explicit dtypes still round, as before.
  EXPECT_EQ(P("float32(16777217)").tensor(), Tensor::Scalar(16777216.0f));
}

TEST(ValueSyntaxAsTest, StructsMatchElementByElement) {
  Value v = PAs("<a=1, b=[2, 3]>", "<a=float32,b=int64[2]>");
  EXPECT_EQ(PrintValue(v), "<a=1.0, b=int64([2, 3])>");
  // An unnamed expected element accepts a named one; names are kept.
  EXPECT_EQ(PrintValue(PAs("<x=1, 2>", "<float64,float64>")),
            "<x=float64(1.0), float64(2.0)>");
  // An unnamed element takes the expected name (names must agree only
  // where both sides name the element, as in federated_language).
  EXPECT_EQ(PrintValue(PAs("<1, b=2>", "<a=int32,b=int32>")), "<a=1, b=2>");
  EXPECT_EQ(ErrorAs("<a=1, c=2>", "<a=int32,b=int32>"),
            "1:7: expected element 1 of <a=int32,b=int32> to be named 'b', "
            "found 'c'");
  EXPECT_EQ(ErrorAs("<1>", "<int32,int32>"),
            "1:1: expected <int32,int32>, found a struct of 1 element");
  EXPECT_EQ(ErrorAs("<1, 2, 3>", "<int32,int32>"),
            "1:8: expected <int32,int32>, found a struct of more than 2 "
            "elements");
  EXPECT_EQ(ErrorAs("<1>", "int32"), "1:1: expected int32, found a struct");
  EXPECT_EQ(ErrorAs("<a=<1.5>>", "<a=<int32>>"),
            "1:5: expected int32, found float32");
}

TEST(ValueSyntaxAsTest, SequencesTakeTheElementType) {
  Value empty = PAs("seq[]", "float32[3]*");
  ASSERT_TRUE(empty.is_sequence());
  EXPECT_TRUE(empty.sequence().elements.empty());
  EXPECT_EQ(PrintValue(PAs("seq[1, 2]", "float32*")), "seq[1.0, 2.0]");
  EXPECT_EQ(ErrorAs("seq[1]", "int32"),
            "1:1: expected int32, found a sequence");
  EXPECT_EQ(ErrorAs("seq[[1]]", "int32[2]*"),
            "1:5: expected int32[2], found int32[1]");
}

TEST(ValueSyntaxAsTest, PlacementAndAllEqualMustMatch) {
  EXPECT_EQ(PrintValue(PAs("2@SERVER", "float32@SERVER")), "2.0@SERVER");
  EXPECT_EQ(PrintValue(PAs("2@CLIENTS", "float32@CLIENTS")), "2.0@CLIENTS");
  EXPECT_EQ(PrintValue(PAs("{1, 2.5}@CLIENTS", "{float32}@CLIENTS")),
            "{1.0, 2.5}@CLIENTS");
  EXPECT_EQ(PrintValue(PAs("{}@CLIENTS", "{float32}@CLIENTS")), "{}@CLIENTS");
  EXPECT_EQ(PrintValue(PAs("<n=3>@SERVER", "<n=int64>@SERVER")),
            "<n=int64(3)>@SERVER");

  EXPECT_EQ(ErrorAs("2", "float32@SERVER"),
            "1:1: expected float32@SERVER, found float32 without a placement");
  EXPECT_EQ(ErrorAs("2@SERVER", "float32@CLIENTS"),
            "1:1: expected float32@CLIENTS, found float32@SERVER");
  EXPECT_EQ(ErrorAs("2@CLIENTS", "{float32}@CLIENTS"),
            "1:1: expected {float32}@CLIENTS, found float32@CLIENTS (an "
            "all-equal value; one value per client is written {v1, "
            "v2}@CLIENTS)");
  EXPECT_EQ(ErrorAs("{2, 3}@CLIENTS", "float32@CLIENTS"),
            "1:1: expected float32@CLIENTS, found {float32}@CLIENTS (one value "
            "per client; an all-equal value is written v@CLIENTS)");
  EXPECT_EQ(ErrorAs("2@SERVER", "float32"),
            "1:1: expected float32, found float32@SERVER");
  EXPECT_EQ(ErrorAs("{1.5}@CLIENTS", "{int32}@CLIENTS"),
            "1:2: expected int32, found float32");
}

TEST(ValueSyntaxAsTest, AbstractTypesAcceptAnythingAndFunctionsNothing) {
  EXPECT_EQ(PrintValue(PAs("<1, 2.5>", "T")), "<1, 2.5>");
  EXPECT_EQ(PrintValue(PAs("<1, 2.5>", "<T,float64>")), "<1, float64(2.5)>");
  EXPECT_EQ(ErrorAs("1", "(int32 -> int32)"),
            "1:1: a value of type (int32 -> int32) cannot be written in text");
  EXPECT_EQ(ErrorAs("<1>", "<placement>"),
            "1:2: a value of type placement cannot be written in text");
}

TEST(ValueSyntaxAsTest, FilesMustHaveTheExpectedType) {
  TempDir dir;
  ASSERT_TRUE(
      WriteNpyFile(dir.File("w.npy"), Tensor::Vector<double>({1, 2, 3})).ok());
  ValueSyntaxOptions options;
  options.base_dir = dir.path();
  absl::StatusOr<Value> ok = ParseValueAs("@w.npy", T("float64[?]"), options);
  ASSERT_TRUE(ok.ok()) << ok.status();
  absl::StatusOr<Value> bad = ParseValueAs("@w.npy", T("float32[3]"), options);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "1:1: expected float32[3], found "
            "float64[3] in " +
                dir.File("w.npy"));
}

// ------------------------------------------------------------ types of values

TEST(ValueTypeOfTest, ExactTypes) {
  EXPECT_EQ(TypeText(P("1.5")), "float32");
  EXPECT_EQ(TypeText(P("float32[0,3]([])")), "float32[0,3]");
  EXPECT_EQ(TypeText(P("<a=1, [true]>")), "<a=int32,bool[1]>");
  EXPECT_EQ(TypeText(P("seq[1, 2]")), "int32*");
  EXPECT_EQ(TypeText(P("1@SERVER")), "int32@SERVER");
  EXPECT_EQ(TypeText(P("{1}@SERVER")), "{int32}@SERVER");
  EXPECT_EQ(TypeText(P("<a=1>@CLIENTS")), "<a=int32>@CLIENTS");
  EXPECT_EQ(TypeText(P("{1, 2}@CLIENTS")), "{int32}@CLIENTS");
}

TEST(ValueTypeOfTest, ElementsOfDifferentSizesGeneralize) {
  EXPECT_EQ(TypeText(P("seq[[1, 2], [3]]")), "int32[?]*");
  EXPECT_EQ(TypeText(P("seq[[[1, 2]], [[3, 4]], [[5, 6], [7, 8]]]")),
            "int32[?,2]*");
  EXPECT_EQ(TypeText(P("seq[1, [2]]")), "int32[*]*");
  EXPECT_EQ(TypeText(P("{<x=[1.0]>, <x=[1.0, 2.0]>}@CLIENTS")),
            "{<x=float32[?]>}@CLIENTS");
  EXPECT_EQ(TypeText(P("{seq[[1]], seq[[1, 2]]}@CLIENTS")),
            "{int32[?]*}@CLIENTS");
}

TEST(ValueTypeOfTest, ValuesWithoutOneTypeAreErrors) {
  EXPECT_EQ(TypeError(P("seq[]")),
            "an empty sequence has no element type (parse it with its "
            "expected type)");
  EXPECT_EQ(TypeError(P("{}@CLIENTS")),
            "{}@CLIENTS (no member) has no member type (parse it with its "
            "expected type)");
  EXPECT_EQ(TypeError(P("seq[1, 2.0]")),
            "sequence element 1 has type float32, unlike the ones before it "
            "(int32)");
  EXPECT_EQ(TypeError(P("{<a=1>, <b=1>}@CLIENTS")),
            "member 1 has type <b=int32>, unlike the ones before it "
            "(<a=int32>)");
  EXPECT_EQ(TypeError(Value()), "a default (invalid) tensor has no type");
  EXPECT_EQ(TypeError(Value::Federated(Placement::kServer, true, {})),
            "an all-equal value at SERVER has 0 members, not 1");
  EXPECT_EQ(PrintValue(Value::Federated(Placement::kServer, true, {})),
            "invalid");
}

TEST(ValueTypeOfTest, ParseValueAsAcceptsWhatValueTypeOfSays) {
  for (const char* text :
       {"<a=1, b=[2.5, 3]>", "seq[[1, 2], [3]]", "{1, 2}@CLIENTS",
        "{<x=[1.0]>, <x=[]>}@CLIENTS", "<w=int64([1])@SERVER>"}) {
    absl::StatusOr<Value> v = ParseValue(text);
    if (!v.ok()) continue;  // some of these need the expected type
    absl::StatusOr<Type> t = ValueTypeOf(*v);
    if (!t.ok()) continue;
    absl::StatusOr<Value> again = ParseValueAs(PrintValue(*v), *t);
    ASSERT_TRUE(again.ok()) << text << ": " << again.status();
    EXPECT_EQ(*again, *v) << text;
  }
}

// ------------------------------------------------------------ ExpandAllEqual

std::string Expand(absl::string_view value, absl::string_view type,
                   int64_t clients) {
  absl::StatusOr<Value> v = ParseValue(value);
  EXPECT_TRUE(v.ok()) << v.status();
  if (!v.ok()) return "";
  return PrintValue(ExpandAllEqual(*v, T(type), clients));
}

TEST(ExpandAllEqualTest,
     AnAllEqualValueOfAPerClientTypeGetsOneMemberPerClient) {
  EXPECT_EQ(Expand("<1, 2>@CLIENTS", "{<int32,int32>}@CLIENTS", 3),
            "{<1, 2>, <1, 2>, <1, 2>}@CLIENTS");
  EXPECT_EQ(Expand("1@CLIENTS", "{int32}@CLIENTS", 0), "{}@CLIENTS");
  // The rare SERVER value that is not marked all-equal: one member.
  EXPECT_EQ(Expand("1@SERVER", "{int32}@SERVER", 3), "{1}@SERVER");
}

TEST(ExpandAllEqualTest, StructsAreWalkedAndOtherPartsKept) {
  EXPECT_EQ(
      Expand("<a=1@CLIENTS, b=2@CLIENTS, c=3@SERVER, d=4>",
             "<a={int32}@CLIENTS,b=int32@CLIENTS,c=int32@SERVER,d=int32>", 2),
      "<a={1, 1}@CLIENTS, b=2@CLIENTS, c=3@SERVER, d=4>");
  EXPECT_EQ(Expand("<<1@CLIENTS>>", "<<{int32}@CLIENTS>>", 2),
            "<<{1, 1}@CLIENTS>>");
  // Already per-client, an abstract type, a type of another shape: kept.
  EXPECT_EQ(Expand("{1, 2}@CLIENTS", "{int32}@CLIENTS", 5), "{1, 2}@CLIENTS");
  EXPECT_EQ(Expand("1@CLIENTS", "T", 3), "1@CLIENTS");
  EXPECT_EQ(Expand("<1@CLIENTS>", "<{int32}@CLIENTS,int32>", 3), "<1@CLIENTS>");
}

TEST(ExpandAllEqualTest, MembersAreSharedNotCopied) {
  const Value v = Value::Federated(Placement::kClients, true,
                                   {Value(Tensor::Vector<float>({1, 2}))});
  const Value e = ExpandAllEqual(v, T("{float32[2]}@CLIENTS"), 4);
  ASSERT_EQ(e.federated().members.size(), 4u);
  EXPECT_FALSE(e.federated().all_equal);
  for (const Value& m : e.federated().members) {
    EXPECT_TRUE(m.tensor().SharesBufferWith(v.federated().members[0].tensor()));
  }
}

}  // namespace
}  // namespace fedexec::ir
