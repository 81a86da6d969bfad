// Tests of the text syntax: parsing, canonical printing, comments, tensor
// literals, errors and nesting limits.
#include "ir/text_syntax.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/limits.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_files.h"

namespace fedexec::ir {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

NodePtr Parse(absl::string_view text) {
  absl::StatusOr<NodePtr> root = ParseComputation(text);
  EXPECT_TRUE(root.ok()) << text << "\n" << root.status();
  return root.ok() ? *root : nullptr;
}

std::string Fmt(absl::string_view text) {
  NodePtr root = Parse(text);
  return root ? PrintComputation(root) : "";
}

// The error message of a text that must not parse.
std::string Error(absl::string_view text) {
  absl::StatusOr<NodePtr> root = ParseComputation(text);
  EXPECT_FALSE(root.ok()) << text;
  if (root.ok()) return "";
  EXPECT_EQ(root.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(root.status().message());
}

// fmt is a fixed point, and the second parse gives the same tree.
void ExpectFixedPoint(absl::string_view text) {
  std::string once = Fmt(text);
  std::string twice = Fmt(once);
  EXPECT_EQ(once, twice) << "input:\n" << text;
}

// The test texts have no '#' inside strings.
int CountComments(absl::string_view text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '#'));
}

Tensor LiteralOf(absl::string_view text) {
  NodePtr root = Parse(text);
  if (!root || !root->Is<LiteralNode>()) {
    ADD_FAILURE() << text << " is not a literal";
    return Tensor();
  }
  return root->As<LiteralNode>().value;
}

// ---------------------------------------------------------------- parsing

TEST(ParseTest, LambdaWithParameter) {
  NodePtr root = Parse("(x: int32) -> x");
  ASSERT_TRUE(root->Is<LambdaNode>());
  const auto& lambda = root->As<LambdaNode>();
  EXPECT_EQ(lambda.parameter_name, "x");
  ASSERT_TRUE(lambda.parameter_type.has_value());
  EXPECT_EQ(*lambda.parameter_type, Type::Tensor(DType::kInt32));
  ASSERT_TRUE(lambda.result->Is<ReferenceNode>());
  EXPECT_EQ(lambda.result->As<ReferenceNode>().name, "x");
  EXPECT_EQ(root->location().line, 1);
  EXPECT_EQ(root->location().column, 1);
  EXPECT_EQ(lambda.result->location().column, 15);
}

TEST(ParseTest, LambdaWithoutParameter) {
  NodePtr root = Parse("() -> SERVER");
  ASSERT_TRUE(root->Is<LambdaNode>());
  EXPECT_EQ(root->As<LambdaNode>().parameter_name, "");
  EXPECT_FALSE(root->As<LambdaNode>().parameter_type.has_value());
  EXPECT_EQ(root->As<LambdaNode>().result->As<PlacementNode>().placement,
            Placement::kServer);
}

TEST(ParseTest, BlockLocalsSeeEarlierOnesAndShadow) {
  NodePtr root = Parse("(x: int32) -> let a = x, x = a, b = x in <a, b>");
  const auto& block = root->As<LambdaNode>().result->As<BlockNode>();
  ASSERT_EQ(block.locals.size(), 3u);
  EXPECT_EQ(block.locals[0].name, "a");
  EXPECT_EQ(block.locals[0].value->As<ReferenceNode>().name, "x");
  EXPECT_EQ(block.locals[1].name, "x");
  EXPECT_EQ(block.locals[1].value->As<ReferenceNode>().name, "a");
  EXPECT_EQ(block.locals[2].value->As<ReferenceNode>().name, "x");
  EXPECT_TRUE(block.result->Is<StructNode>());
}

TEST(ParseTest, BlockLocalsGoOutOfScope) {
  EXPECT_EQ(Error("<let a = 1 in a, a>"), "1:18: unknown reference 'a'");
  EXPECT_EQ(Error("<(x: int32) -> x, x>"), "1:19: unknown reference 'x'");
}

TEST(ParseTest, NamesResolveToBindingsBeforeIntrinsics) {
  NodePtr root = Parse("(federated_sum: int32) -> federated_sum");
  EXPECT_TRUE(root->As<LambdaNode>().result->Is<ReferenceNode>());
  NodePtr intrinsic = Parse("federated_sum");
  ASSERT_TRUE(intrinsic->Is<IntrinsicNode>());
  EXPECT_EQ(intrinsic->As<IntrinsicNode>().uri, "federated_sum");
}

TEST(ParseTest, CallForms) {
  NodePtr none = Parse("(f: ( -> int32)) -> f()");
  EXPECT_EQ(none->As<LambdaNode>().result->As<CallNode>().argument, nullptr);

  NodePtr one = Parse("federated_mean(federated_value_at_clients(1.0))");
  EXPECT_TRUE(one->As<CallNode>().argument->Is<CallNode>());

  NodePtr two = Parse("generic_plus(1, 2)");
  const auto& s = two->As<CallNode>().argument->As<StructNode>();
  ASSERT_EQ(s.elements.size(), 2u);
  EXPECT_EQ(s.elements[0].name, "");

  NodePtr named = Parse("generic_plus(a=1, b=2)");
  const auto& n = named->As<CallNode>().argument->As<StructNode>();
  EXPECT_EQ(n.elements[0].name, "a");
  EXPECT_EQ(n.elements[1].name, "b");

  NodePtr single = Parse("federated_sum(<1>)");
  EXPECT_EQ(single->As<CallNode>().argument->As<StructNode>().elements.size(),
            1u);
  NodePtr empty = Parse("federated_sum(<>)");
  EXPECT_TRUE(
      empty->As<CallNode>().argument->As<StructNode>().elements.empty());
}

TEST(ParseTest, StructsAndSelections) {
  NodePtr root = Parse("(s: <a=int32, b=<c=bool>>) -> <s.b.c, x=s[0], <>>");
  const auto& elements =
      root->As<LambdaNode>().result->As<StructNode>().elements;
  ASSERT_EQ(elements.size(), 3u);
  const auto& by_name = elements[0].value->As<SelectionNode>();
  EXPECT_EQ(by_name.name, "c");
  EXPECT_EQ(by_name.index, -1);
  EXPECT_EQ(by_name.source->As<SelectionNode>().name, "b");
  EXPECT_EQ(elements[1].name, "x");
  EXPECT_EQ(elements[1].value->As<SelectionNode>().index, 0);
  EXPECT_EQ(elements[1].value->As<SelectionNode>().name, "");
  EXPECT_TRUE(elements[2].value->As<StructNode>().elements.empty());
}

TEST(ParseTest, PostfixChains) {
  NodePtr root = Parse("(f: (int32 -> (int32 -> <int32>))) -> f(1)(2)[0]");
  const auto& sel = root->As<LambdaNode>().result->As<SelectionNode>();
  const auto& outer = sel.source->As<CallNode>();
  const auto& inner = outer.function->As<CallNode>();
  EXPECT_EQ(inner.function->As<ReferenceNode>().name, "f");
}

TEST(ParseTest, AscriptionSetsTheType) {
  NodePtr zero = Parse("(generic_zero : float32[3])");
  ASSERT_TRUE(zero->Is<IntrinsicNode>());
  ASSERT_TRUE(zero->type().has_value());
  EXPECT_EQ(*zero->type(), Type::Tensor(DType::kFloat32, {3}));
  NodePtr lit = Parse("(3 : int32)");
  ASSERT_TRUE(lit->Is<LiteralNode>());
  EXPECT_EQ(*lit->type(), Type::Tensor(DType::kInt32));
  NodePtr ref = Parse("(x: int32) -> (x: int32)");
  EXPECT_TRUE(ref->As<LambdaNode>().result->Is<ReferenceNode>());
  EXPECT_TRUE(ref->As<LambdaNode>().result->type().has_value());
  NodePtr parens = Parse("((((1))))");
  EXPECT_TRUE(parens->Is<LiteralNode>());
  EXPECT_FALSE(parens->type().has_value());
}

TEST(ParseTest, Leaves) {
  NodePtr native = Parse("native(\"client_update\", (int32 -> float32))");
  EXPECT_EQ(native->As<NativeNode>().name, "client_update");
  EXPECT_EQ(native->type()->ToString(), "(int32 -> float32)");

  NodePtr data = Parse("data(\"file:///x\", {float32}@CLIENTS)");
  EXPECT_EQ(data->As<DataNode>().uri, "file:///x");
  EXPECT_EQ(data->As<DataNode>().content_type_url, "");
  EXPECT_EQ(data->type()->ToString(), "{float32}@CLIENTS");

  NodePtr any = Parse("data(\"\", int32, \"type.example/T\", \"\\x00\\xff\")");
  EXPECT_EQ(any->As<DataNode>().content_type_url, "type.example/T");
  EXPECT_EQ(any->As<DataNode>().content_value, std::string("\0\xff", 2));

  NodePtr ts =
      Parse("torchscript(\"forward\", \"PK\\x03\", (float32 -> float32))");
  EXPECT_EQ(ts->As<TorchScriptNode>().method, "forward");
  EXPECT_EQ(ts->As<TorchScriptNode>().module, "PK\x03");
}

TEST(ParseTest, QuotedNamesAreNeverKeywords) {
  NodePtr root = Parse("(`in`: int32) -> <`let`=`in`, `a b`=1>.`a b`");
  const auto& lambda = root->As<LambdaNode>();
  EXPECT_EQ(lambda.parameter_name, "in");
  EXPECT_EQ(lambda.result->As<SelectionNode>().name, "a b");
  EXPECT_EQ(PrintComputation(root),
            "(`in`: int32) -> <`let`=`in`, `a b`=1>.`a b`\n");
}

TEST(ParseTest, EveryNodeHasALocation) {
  NodePtr root = Parse(
      "(x: <a=int32>@SERVER) ->\n"
      "  let y = federated_broadcast(x.a) in\n"
      "  <y, [1, 2], native(\"f\", (int32 -> int32)), CLIENTS, (z: int32) "
      "-> z>[0]");
  std::vector<const Node*> stack = {root.get()};
  int count = 0;
  while (!stack.empty()) {
    const Node* node = stack.back();
    stack.pop_back();
    ++count;
    EXPECT_GT(node->location().line, 0) << NodeKindName(node->kind());
    EXPECT_GT(node->location().column, 0) << NodeKindName(node->kind());
    ForEachChild(*node, [&](const NodePtr& c) { stack.push_back(c.get()); });
  }
  EXPECT_GE(count, 12);
  const auto& block = root->As<LambdaNode>().result->As<BlockNode>();
  EXPECT_EQ(block.locals[0].value->location().line, 2);
  EXPECT_EQ(block.locals[0].value->location().column, 11);
}

// ---------------------------------------------------------------- literals

TEST(LiteralTest, DefaultDtypes) {
  EXPECT_EQ(LiteralOf("3"), Tensor::Scalar<int32_t>(3));
  EXPECT_EQ(LiteralOf("-2"), Tensor::Scalar<int32_t>(-2));
  EXPECT_EQ(LiteralOf("1.5"), Tensor::Scalar<float>(1.5f));
  EXPECT_EQ(LiteralOf("2e3"), Tensor::Scalar<float>(2000.0f));
  EXPECT_EQ(LiteralOf("true"), Tensor::Scalar<bool>(true));
  EXPECT_EQ(LiteralOf("\"a\\tb\""), Tensor::StringScalar("a\tb"));
  EXPECT_EQ(LiteralOf("-inf"),
            Tensor::Scalar<float>(-std::numeric_limits<float>::infinity()));
  EXPECT_TRUE(std::isnan(LiteralOf("nan").data<float>()[0]));
  Tensor matrix = LiteralOf("[[1, 2], [3, 4]]");
  EXPECT_EQ(matrix.dtype(), DType::kInt32);
  EXPECT_THAT(matrix.shape(), ElementsAre(2, 2));
  EXPECT_EQ(LiteralOf("[1, 2.5]"), Tensor::Vector<float>({1.0f, 2.5f}));
  EXPECT_EQ(LiteralOf("[\"a\", \"b\"]").dtype(), DType::kString);
}

TEST(LiteralTest, ExplicitDtypesAndDims) {
  EXPECT_EQ(LiteralOf("int64([1, -2])"), Tensor::Vector<int64_t>({1, -2}));
  EXPECT_EQ(LiteralOf("float64(1.5)"), Tensor::Scalar<double>(1.5));
  EXPECT_EQ(LiteralOf("float32(2)"), Tensor::Scalar<float>(2.0f));
  EXPECT_EQ(LiteralOf("uint64(18446744073709551615)"),
            Tensor::Scalar<uint64_t>(UINT64_MAX));
  EXPECT_EQ(LiteralOf("int64(-9223372036854775808)"),
            Tensor::Scalar<int64_t>(INT64_MIN));
  EXPECT_EQ(LiteralOf("int8([-128, 127])"),
            Tensor::Vector<int8_t>({-128, 127}));
  EXPECT_EQ(LiteralOf("uint8(-0)"), Tensor::Scalar<uint8_t>(0));
  Tensor flat = LiteralOf("float32[2,2]([1, 2, 3, 4])");
  EXPECT_THAT(flat.shape(), ElementsAre(2, 2));
  EXPECT_EQ(flat, LiteralOf("float32([[1, 2], [3, 4]])"));
  Tensor empty = LiteralOf("float32[0,3]([])");
  EXPECT_THAT(empty.shape(), ElementsAre(0, 3));
  EXPECT_EQ(empty.num_elements(), 0);
  EXPECT_EQ(LiteralOf("string[0]([])").dtype(), DType::kString);
  Tensor c = LiteralOf("complex64[2]([1, 2, 3, -4])");
  ASSERT_EQ(c.dtype(), DType::kComplex64);
  EXPECT_EQ(c.data<std::complex<float>>()[1], std::complex<float>(3, -4));
  Tensor scalar_c = LiteralOf("complex128([0.5, -1])");
  EXPECT_EQ(scalar_c.rank(), 0);
  EXPECT_EQ(scalar_c.data<std::complex<double>>()[0],
            std::complex<double>(0.5, -1));
  EXPECT_EQ(LiteralOf("bool([true, false])"),
            Tensor::Vector<bool>({true, false}));
}

TEST(LiteralTest, NanPayloadsAndSigns) {
  uint32_t bits;
  float f = LiteralOf("-nan(5)").data<float>()[0];
  std::memcpy(&bits, &f, 4);
  EXPECT_EQ(bits, 0xFF800005u);
  f = LiteralOf("nan").data<float>()[0];
  std::memcpy(&bits, &f, 4);
  EXPECT_EQ(bits, 0x7FC00000u);
  EXPECT_EQ(LiteralOf("float16(-nan(1))").data<Float16>()[0].bits, 0xFC01);
  EXPECT_THAT(Error("nan(0)"), HasSubstr("expected a NaN payload"));
  EXPECT_THAT(Error("float16(nan(1024))"),
              HasSubstr("NaN payload 1024 does not fit in float16"));
}

TEST(LiteralTest, Float16RoundsToNearestEven) {
  auto half = [](absl::string_view text) {
    return LiteralOf(absl::StrCat("float16(", text, ")"))
        .data<Float16>()[0]
        .bits;
  };
  EXPECT_EQ(half("1"), 0x3C00);
  EXPECT_EQ(half("0.1"), 0x2E66);
  EXPECT_EQ(half("65504"), 0x7BFF);
  EXPECT_EQ(half("-0.0"), 0x8000);
  EXPECT_EQ(half("5.960464477539063e-08"), 0x0001);  // smallest denormal
  EXPECT_EQ(half("2049"), 0x6800);                   // tie: to even 2048
  EXPECT_EQ(half("2051"), 0x6802);                   // tie: to even 2052
  // 1 + 2^-11 is halfway between 1 and the next float16; a decimal just
  // above or below it is no tie, though it reads as exactly the halfway
  // double.
  EXPECT_EQ(half("1.00048828125"), 0x3C00);
  EXPECT_EQ(half("1.000488281250000000000000001"), 0x3C01);
  EXPECT_EQ(half("1.000488281249999999999999999"), 0x3C00);
  EXPECT_EQ(LiteralOf("bfloat16(1.00390625)").data<BFloat16>()[0].bits,
            0x3F80);  // tie to even
  EXPECT_EQ(
      LiteralOf("bfloat16(1.0039062500000000001)").data<BFloat16>()[0].bits,
      0x3F81);
  EXPECT_THAT(Error("float16(65520)"),
              HasSubstr("65520 is out of range for float16"));
  EXPECT_THAT(Error("float16(1e-10)"),
              HasSubstr("1e-10 is out of range for float16"));
}

TEST(LiteralTest, Errors) {
  EXPECT_EQ(Error("int8(300)"), "1:6: 300 is out of range for int8");
  EXPECT_EQ(Error("uint8(-1)"), "1:7: -1 is out of range for uint8");
  EXPECT_EQ(Error("3000000000"), "1:1: 3000000000 is out of range for int32");
  EXPECT_EQ(Error("int32(1.5)"),
            "1:7: 1.5 is not an integer (int32 needs one)");
  EXPECT_EQ(Error("float32(1e39)"), "1:9: 1e39 is out of range for float32");
  EXPECT_EQ(Error("[[1, 2], [3]]"),
            "1:10: ragged list: this element has shape [1], the first one [2]");
  EXPECT_EQ(Error("[1, [2]]"),
            "1:5: ragged list: this element has shape [1], the first one []");
  EXPECT_EQ(Error("[1, \"a\"]"),
            "1:5: mixed kinds in a list: a string after a number");
  EXPECT_EQ(Error("[true, 1]"),
            "1:8: mixed kinds in a list: a number after a bool");
  EXPECT_EQ(Error("[]"),
            "1:1: an empty list needs a dtype and dims, like float32[0]([])");
  EXPECT_EQ(Error("float32[2,2]([1, 2, 3])"),
            "1:1: float32[2,2] needs 4 values, found 3");
  EXPECT_EQ(Error("complex64([1, 2, 3, 4])"),
            "1:1: complex64 without dims is a scalar written as [real, "
            "imaginary]; found 4 values (give dims for more, like "
            "complex64[2]([re0, im0, re1, im1]))");
  EXPECT_EQ(Error("bool(1)"),
            "1:6: expected true or false for bool, found a number");
  EXPECT_EQ(Error("int32(\"a\")"),
            "1:7: expected an integer for int32, found a string");
  EXPECT_EQ(Error("-true"), "1:2: expected a number after '-', found 'true'");
  EXPECT_EQ(Error("float32[?](1)"),
            "1:9: expected a dimension (a non-negative integer), found '?'");
  EXPECT_EQ(Error("float32 1"),
            "1:9: expected '(' after 'float32' (a literal is written "
            "float32(value)), found '1'");
}

// PrintTensorLiteral then parsing gives back the same bits.
void ExpectRoundTrip(const Tensor& t) {
  std::string text = PrintTensorLiteral(t);
  absl::StatusOr<NodePtr> root = ParseComputation(text);
  ASSERT_TRUE(root.ok()) << text << "\n" << root.status();
  ASSERT_TRUE((*root)->Is<LiteralNode>()) << text;
  EXPECT_EQ((*root)->As<LiteralNode>().value, t) << text;
}

template <typename F>
F FromBits(uint64_t bits) {
  F f;
  std::memcpy(&f, &bits, sizeof(F));
  return f;
}

TEST(PrintTensorLiteralTest, Forms) {
  EXPECT_EQ(PrintTensorLiteral(Tensor::Scalar<int32_t>(3)), "3");
  EXPECT_EQ(PrintTensorLiteral(Tensor::Scalar<float>(1.0f)), "1.0");
  EXPECT_EQ(PrintTensorLiteral(Tensor::Scalar<float>(1e20f)), "1e+20");
  EXPECT_EQ(PrintTensorLiteral(Tensor::Scalar<float>(-0.0f)), "-0.0");
  EXPECT_EQ(PrintTensorLiteral(Tensor::Scalar<bool>(false)), "false");
  EXPECT_EQ(PrintTensorLiteral(Tensor::StringScalar("a\"\n\x01\xff")),
            "\"a\\\"\\n\\x01\\xff\"");
  EXPECT_EQ(PrintTensorLiteral(Tensor::Scalar<double>(0.1)), "float64(0.1)");
  EXPECT_EQ(PrintTensorLiteral(Tensor::Vector<int64_t>({1, 2})),
            "int64([1, 2])");
  EXPECT_EQ(PrintTensorLiteral(*Tensor::FromSpan<int32_t>(
                std::vector<int32_t>{1, 2, 3, 4}, {2, 2})),
            "[[1, 2], [3, 4]]");
  EXPECT_EQ(PrintTensorLiteral(*Tensor::Zeros(DType::kFloat32, {0, 3})),
            "float32[0,3]([])");
  EXPECT_EQ(PrintTensorLiteral(*Tensor::Zeros(DType::kInt32, {2, 0})),
            "int32[2,0]([])");
  EXPECT_EQ(PrintTensorLiteral(Tensor::Scalar(std::complex<float>(1, -2))),
            "complex64([1.0, -2.0])");
  EXPECT_EQ(PrintTensorLiteral(Tensor::Scalar(Float16{0x3C00})),
            "float16(1.0)");
  EXPECT_EQ(PrintTensorLiteral(Tensor::Scalar(FromBits<float>(0x7FC00001))),
            "nan(4194305)");
  EXPECT_EQ(PrintTensorLiteral(Tensor::Scalar(FromBits<float>(0xFFC00000))),
            "-nan");
}

TEST(PrintTensorLiteralTest, LongVectorsWrapWithinTheWidth) {
  std::vector<int32_t> values(100);
  for (int i = 0; i < 100; ++i) values[i] = 1000 + i;
  std::string text = PrintTensorLiteral(Tensor::Vector<int32_t>(values));
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    EXPECT_LE(line.size(), 80u) << line;
  }
  EXPECT_THAT(text, StartsWith("[\n  1000, 1001,"));
  ExpectRoundTrip(Tensor::Vector<int32_t>(values));
}

TEST(PrintTensorLiteralTest, RoundTripsEveryDtypeBitExactly) {
  ExpectRoundTrip(Tensor::Vector<int8_t>({-128, 0, 127}));
  ExpectRoundTrip(Tensor::Vector<int16_t>({-32768, 32767}));
  ExpectRoundTrip(Tensor::Vector<int32_t>({INT32_MIN, INT32_MAX}));
  ExpectRoundTrip(Tensor::Vector<int64_t>({INT64_MIN, INT64_MAX}));
  ExpectRoundTrip(Tensor::Vector<uint8_t>({0, 255}));
  ExpectRoundTrip(Tensor::Vector<uint16_t>({0, 65535}));
  ExpectRoundTrip(Tensor::Vector<uint32_t>({0, UINT32_MAX}));
  ExpectRoundTrip(Tensor::Vector<uint64_t>({0, UINT64_MAX}));
  ExpectRoundTrip(Tensor::Vector<bool>({true, false}));
  ExpectRoundTrip(
      *Tensor::FromStrings({"", "a\\b", "\t\"", "\xc3\xa9"}, {2, 2}));
  ExpectRoundTrip(Tensor::Scalar(std::complex<double>(-0.0, 1e-310)));
  ExpectRoundTrip(*Tensor::FromSpan<std::complex<float>>(
      std::vector<std::complex<float>>{{1, 2}, {NAN, -INFINITY}}, {2}));
  for (DType d : {DType::kFloat32, DType::kInt8, DType::kString,
                  DType::kComplex128, DType::kBool}) {
    ExpectRoundTrip(*Tensor::Zeros(d, {0}));
    ExpectRoundTrip(*Tensor::Zeros(d, {3, 0, 2}));
    ExpectRoundTrip(*Tensor::Zeros(d, {}));
  }
  ExpectRoundTrip(*Tensor::Zeros(DType::kFloat64, {1, 1, 1, 1}));
}

TEST(PrintTensorLiteralTest, FloatSpecialValuesRoundTrip) {
  std::vector<uint32_t> f32 = {0x00000000, 0x80000000, 0x00000001, 0x807FFFFF,
                               0x00800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000,
                               0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001,
                               0x7FFFFFFF, 0x3DCCCCCD, 0x3F800001};
  std::vector<float> floats;
  for (uint32_t b : f32) floats.push_back(FromBits<float>(b));
  std::mt19937_64 rng(42);
  for (int i = 0; i < 2000; ++i) {
    floats.push_back(FromBits<float>(static_cast<uint32_t>(rng())));
  }
  ExpectRoundTrip(Tensor::Vector<float>(floats));
  std::vector<double> doubles = {0.0,
                                 -0.0,
                                 5e-324,
                                 -5e-324,
                                 2.2250738585072014e-308,
                                 1.7976931348623157e308,
                                 0.1,
                                 FromBits<double>(0x7FF8000000000000),
                                 FromBits<double>(0xFFF0000000000001),
                                 FromBits<double>(0x7FFFFFFFFFFFFFFF)};
  for (int i = 0; i < 2000; ++i) doubles.push_back(FromBits<double>(rng()));
  ExpectRoundTrip(Tensor::Vector<double>(doubles));
}

TEST(PrintTensorLiteralTest, EverySixteenBitFloatRoundTrips) {
  std::vector<Float16> halves;
  std::vector<BFloat16> brains;
  for (uint32_t b = 0; b < 65536; ++b) {
    halves.push_back(Float16{static_cast<uint16_t>(b)});
    brains.push_back(BFloat16{static_cast<uint16_t>(b)});
  }
  ExpectRoundTrip(Tensor::Vector<Float16>(halves));
  ExpectRoundTrip(Tensor::Vector<BFloat16>(brains));
}

// ---------------------------------------------------------------- printing

TEST(PrintTest, ShortThingsStayOnOneLine) {
  EXPECT_EQ(Fmt("(x:int32)->x"), "(x: int32) -> x\n");
  EXPECT_EQ(Fmt("let a=1,b=a in <a,b=b>"), "let a = 1, b = a in <a, b=b>\n");
  EXPECT_EQ(Fmt("generic_plus(<1, 2>)"), "generic_plus(1, 2)\n");
  EXPECT_EQ(Fmt("federated_sum(<1>)"), "federated_sum(<1>)\n");
  EXPECT_EQ(Fmt("federated_sum(<>)"), "federated_sum(<>)\n");
  EXPECT_EQ(Fmt("(f: ( -> int32)) -> f()"), "(f: ( -> int32)) -> f()\n");
  EXPECT_EQ(Fmt("(s: <a=int32>) -> <s.a, s[0]>"),
            "(s: <a=int32>) -> <s.a, s[0]>\n");
  EXPECT_EQ(Fmt("((generic_zero : float32[3]))"),
            "(generic_zero : float32[3])\n");
  EXPECT_EQ(Fmt("((x: int32) -> x)(3)"), "((x: int32) -> x)(3)\n");
  EXPECT_EQ(Fmt("(let a = <1> in a)[0]"), "(let a = <1> in a)[0]\n");
  EXPECT_EQ(Fmt("(3 : int32)"), "3\n");
  EXPECT_EQ(Fmt("(() -> CLIENTS)"), "() -> CLIENTS\n");
}

TEST(PrintTest, CheckerTypesAreNotPrinted) {
  NodePtr call = Parse("federated_sum(federated_value_at_clients(1))");
  // As the type checker would: every node typed.
  const auto& c = call->As<CallNode>();
  NodePtr typed = call->WithPayload(
      CallNode{c.function->WithType(
                   ParseType("({int32}@CLIENTS -> int32@SERVER)").value()),
               c.argument->WithType(ParseType("int32@CLIENTS").value())});
  typed = typed->WithType(ParseType("int32@SERVER").value());
  EXPECT_EQ(PrintComputation(typed),
            "federated_sum(federated_value_at_clients(1))\n");
  // Outside call position a typed intrinsic prints as an ascription.
  NodePtr zero = MakeNode(IntrinsicNode{"generic_zero"},
                          ParseType("<int32,float32>").value());
  EXPECT_EQ(PrintComputation(zero), "(generic_zero : <int32,float32>)\n");
}

TEST(PrintTest, LongThingsBreak) {
  std::string text =
      "(round: <model=float32[784,10]@SERVER, n=int32@SERVER>) -> "
      "federated_apply((p: <float32[784,10], int32>) -> p[0], "
      "federated_zip_at_server(round.model, round.n))";
  EXPECT_EQ(Fmt(text),
            "(round: <model=float32[784,10]@SERVER,n=int32@SERVER>) ->\n"
            "  federated_apply(\n"
            "    (p: <float32[784,10],int32>) -> p[0],\n"
            "    federated_zip_at_server(round.model, round.n)\n"
            "  )\n");
  EXPECT_EQ(
      Fmt("let aaaaaaaaaaaaaaaaaaaa = 1, bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb = 2, "
          "ccccccccccccccccc = 3 in aaaaaaaaaaaaaaaaaaaa"),
      "let\n"
      "  aaaaaaaaaaaaaaaaaaaa = 1,\n"
      "  bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb = 2,\n"
      "  ccccccccccccccccc = 3\n"
      "in aaaaaaaaaaaaaaaaaaaa\n");
}

TEST(PrintTest, NamesThatAreNotPlainAreQuoted) {
  NodePtr root =
      MakeNode(StructNode{{{"in", Parse("1")}, {"a b", Parse("2")}}});
  EXPECT_EQ(PrintComputation(root), "<`in`=1, `a b`=2>\n");
  NodePtr sel = MakeNode(SelectionNode{root, -1, "float32"});
  EXPECT_EQ(PrintComputation(sel), "<`in`=1, `a b`=2>.`float32`\n");
}

TEST(PrintTest, StructArgumentWithCommentsIsNotSugared) {
  EXPECT_EQ(Fmt("generic_plus(\n# both\n<1, 2>)"),
            "generic_plus(\n  # both\n  <1, 2>\n)\n");
}

// ---------------------------------------------------------------- comments

TEST(CommentTest, LeadingAndTrailing) {
  NodePtr root = Parse(
      "# header\n"
      "(x: int32) ->\n"
      "  # before the call\n"
      "  generic_plus(x, # after x\n"
      "    1 # after 1\n"
      "  ) # at the end\n");
  EXPECT_THAT(root->comments(), ElementsAre(" header"));
  const auto& call = root->As<LambdaNode>().result;
  EXPECT_THAT(call->comments(), ElementsAre(" before the call"));
  EXPECT_THAT(call->trailing_comments(), ElementsAre(" at the end"));
  const auto& args = call->As<CallNode>().argument->As<StructNode>().elements;
  // After the ',' the comment is before a node: it leads that node.
  EXPECT_THAT(args[1].value->comments(), ElementsAre(" after x"));
  EXPECT_THAT(args[1].value->trailing_comments(), ElementsAre(" after 1"));
}

TEST(CommentTest, CommentsBeforeNamesLeadTheirValue) {
  NodePtr root = Parse("let\n  # about a\n  a = 1,\n  b # odd\n  = 2\nin a");
  const auto& block = root->As<BlockNode>();
  EXPECT_THAT(block.locals[0].value->comments(), ElementsAre(" about a"));
  EXPECT_THAT(block.locals[1].value->comments(), ElementsAre(" odd"));
}

TEST(CommentTest, CommentsInsideTypesAndEmptyBracketsAreKept) {
  NodePtr root = Parse("(x: <# inside\nint32>) -> <# empty\n>");
  EXPECT_THAT(root->comments(), ElementsAre(" inside"));
  EXPECT_THAT(root->As<LambdaNode>().result->comments(), ElementsAre(" empty"));
}

TEST(CommentTest, OutermostNodeAtATokenGetsItsComments) {
  NodePtr root = Parse("(s: <<int32>>) ->\n  # c\n  s[0][0]");
  const auto& sel = root->As<LambdaNode>().result;
  EXPECT_THAT(sel->comments(), ElementsAre(" c"));
  EXPECT_TRUE(sel->As<SelectionNode>().source->comments().empty());
}

TEST(CommentTest, FmtKeepsEveryComment) {
  const char* texts[] = {
      "# a\n1 # b\n",
      "# a\n(x: # b\n int32 # c\n) # d\n -> # e\n x # f\n",
      "let # a\n a # b\n = # c\n 1 # d\n , # e\n b = 2 # f\n in # g\n b # h\n",
      "generic_plus( # a\n 1 # b\n , # c\n 2 # d\n ) # e\n",
      "federated_sum # a\n ( # b\n) # c\n",
      "(s: <a=int32>) -> s # a\n . # b\n a # c\n",
      "(s: <int32>) -> s # a\n [ # b\n 0 # c\n ] # d\n",
      "< # a\n x # b\n = # c\n 1 # d\n , # e\n 2 # f\n > # g\n",
      "[ # a\n 1, # b\n 2 # c\n ] # d\n",
      "float32 # a\n [ # b\n 2 # c\n ] # d\n ( # e\n [1, 2] # f\n ) # g\n",
      "( # a\n generic_zero # b\n : # c\n int32 # d\n ) # e\n",
      "native( # a\n \"f\" # b\n , # c\n (int32 -> int32) # d\n ) # e\n",
      "((x: int32) -> x # a\n)(1) # b\n",
      "<(x: int32) -> x # a\n, (y: int32) -> let z = y in z # b\n, 3>\n",
      "let a = (x: int32) -> x # a\n , b = 1 in a # b\n",
      "federated_map((x: int32) -> x # a\n, federated_value_at_clients(1))\n",
  };
  for (const char* text : texts) {
    SCOPED_TRACE(text);
    std::string once = Fmt(text);
    EXPECT_EQ(CountComments(once), CountComments(text)) << once;
    EXPECT_EQ(Fmt(once), once);
  }
}

TEST(CommentTest, CommentsFromCodeInOddPlacesStillPrintAFixedPoint) {
  NodePtr x = Parse("1")->WithComments({"lead x"}, {"trail x"});
  NodePtr f = MakeNode(IntrinsicNode{"federated_sum"})
                  ->WithComments({"lead f"}, {"trail f"});
  NodePtr call = MakeNode(CallNode{f, x})->WithComments({"lead call"}, {});
  NodePtr block = MakeNode(BlockNode{{{"a", call}}, call});
  NodePtr lambda =
      MakeNode(LambdaNode{"", std::nullopt, block})->WithComments({}, {"end"});
  NodePtr root = MakeNode(StructNode{{{"", lambda}, {"b", lambda}}});
  std::string once = PrintComputation(root);
  // The lambda prints twice, and in each the call twice: 4 * 5 + 2.
  EXPECT_EQ(CountComments(once), 22) << once;
  EXPECT_EQ(Fmt(once), once);
}

TEST(CommentTest, MultiLineCommentFromCodeStaysComment) {
  NodePtr root = Parse("1")->WithComments({"a\nb"}, {});
  EXPECT_EQ(PrintComputation(root), "#a\n#b\n1\n");
}

// ---------------------------------------------------------------- fixed point

TEST(FixedPointTest, TrickyInputs) {
  const char* texts[] = {
      "1",
      "<>",
      "<<>>",
      "<<<1>>>",
      "[[[1]]]",
      "-0.0",
      "float16([-0.0, 65504, 6e-08])",
      "bfloat16([1e38, -3])",
      "complex128[1,2]([1, 2, 3, 4])",
      "string(\"\")",
      "uint64([0, 18446744073709551615])",
      "(x: int32) -> (y: int32) -> (z: int32) -> <x, y, z>",
      "() -> () -> ()->SERVER",
      "let a = let b = 1 in b in let c = a in c",
      "((x: int32) -> x)((let y = 1 in (z: int32) -> z)(2))",
      "(f: (int32 -> (int32 -> int32))) -> f(1)(2)",
      "(s: <<<int32>>>) -> s[0][0][0]",
      "(s: <a=<b=<c=int32>>>) -> s.a.b.c",
      "(generic_zero : <a=float32[2], b=<int32, bool>>)",
      "generic_plus((generic_zero : int32), (generic_zero : int32))",
      "(generic_zero : int32).x",
      "generic_plus(a=1, b=<c=2, d=3>)",
      "native(\"a\\nb\", ( -> <>))",
      "data(\"\", <>, \"t\", \"\\x00\")",
      "torchscript(\"forward\", \"\", (float32 -> float32))",
      "(`x y`: int32) -> let `let` = `x y` in `let`",
      "[\"a\", \"\\u\"]",
      "float32[0]([])",
      "(p: <a={float32[?,784]}@CLIENTS, b=float32[784,10]@SERVER>) -> "
      "federated_map(native(\"client_update_with_a_long_name\", "
      "(<float32[784,10], float32[?,784]> -> <float32[784,10], float32>)), "
      "federated_zip_at_clients(federated_broadcast(p.b), p.a))",
      "let a = [1000000, 2000000, 3000000, 4000000, 5000000, 6000000, 7000000, "
      "8000000, 9000000, 10000000, 11000000, 12000000, 13000000] in a",
      "[[1000000, 2000000, 3000000, 4000000, 5000000, 6000000, 7000000], "
      "[8000000, 9000000, 10000000, 11000000, 12000000, 13000000, 1]]",
  };
  for (const char* text : texts) {
    absl::StatusOr<NodePtr> root = ParseComputation(text);
    if (!root.ok()) {
      // Only the deliberately bad escape is rejected (by the lexer).
      EXPECT_THAT(std::string(root.status().message()), HasSubstr("escape"))
          << text;
      continue;
    }
    ExpectFixedPoint(text);
  }
}

// ---------------------------------------------------------------- errors

TEST(ErrorTest, MessagesNameWhatAndWhere) {
  EXPECT_EQ(Error("x"), "1:1: unknown reference 'x'");
  EXPECT_EQ(Error("\n  (a: int32) -> b"), "2:17: unknown reference 'b'");
  EXPECT_EQ(Error("<a=1, a=2>"), "1:7: duplicate name 'a' in a struct");
  EXPECT_EQ(Error("generic_plus(a=1, a=2)"),
            "1:19: duplicate name 'a' in a struct");
  EXPECT_EQ(Error("let in = 1 in 2"),
            "1:5: cannot bind the reserved word 'in'");
  EXPECT_EQ(Error("let float32 = 1 in 2"),
            "1:5: cannot bind the reserved word 'float32'");
  EXPECT_EQ(Error("(let: int32) -> 1"),
            "1:2: cannot bind the reserved word 'let'");
  EXPECT_EQ(Error("(SERVER: placement) -> 1"),
            "1:2: cannot bind the reserved word 'SERVER'");
  EXPECT_EQ(Error("(int32: int32) -> 1"),
            "1:2: cannot bind the reserved word 'int32'");
  EXPECT_EQ(Error("let a = 1 a"),
            "1:11: expected ',' or 'in' after the value of 'a', found 'a'");
  EXPECT_EQ(Error("let a = 1"),
            "1:10: expected ',' or 'in' after the value of 'a', found end of "
            "input");
  EXPECT_EQ(Error("1 2"),
            "1:3: expected end of input after the computation, found '2'");
  EXPECT_EQ(Error("\"abc"), "1:1: unterminated string");
  EXPECT_THAT(Error("<\xff>"), HasSubstr("1:2: invalid UTF-8"));
  EXPECT_EQ(Error("(x: int32, y: int32) -> x"),
            "1:10: a lambda takes one parameter (pass several in a struct: "
            "(p: <a=T, b=U>) -> ...), found ','");
  EXPECT_EQ(Error("(1) -> 2"),
            "1:1: a lambda parameter must be one name with its type, like "
            "(x: int32) -> ...");
  EXPECT_EQ(Error("(x) -> x"), "1:2: unknown reference 'x'");
  EXPECT_EQ(Error("federated_sum(a=1)"),
            "1:15: a call with one named argument is written with a struct: "
            "f(<a=...>)");
  EXPECT_EQ(Error("()"),
            "1:3: expected '->' after '()' (a lambda without parameter), found "
            "end of input");
  EXPECT_EQ(Error(""), "1:1: expected an expression, found end of input");
  EXPECT_EQ(Error("in"), "1:1: expected an expression, found 'in'");
  EXPECT_EQ(Error("<1, 2"),
            "1:6: expected ',' or '>' after an element, found end of input");
  EXPECT_EQ(
      Error("federated_sum[x]"),
      "1:15: expected an index (a non-negative 32-bit integer) after '[', "
      "found 'x'");
  EXPECT_EQ(Error("federated_sum.in"),
            "1:15: 'in' is a reserved word; write `in` to use it as a name");
  EXPECT_EQ(Error("native(\"f\", int32)"),
            "1:13: native needs a function type, found int32");
  EXPECT_EQ(Error("native(f, (int32 -> int32))"),
            "1:8: expected the function's name (a string), found 'f'");
  EXPECT_EQ(Error("data(\"u\", int32, \"\", \"x\")"),
            "1:1: data content needs a non-empty type url");
  EXPECT_THAT(Error("(x: int32 -> x"), HasSubstr("1:"));
}

// ---------------------------------------------------------------- nesting

std::string Repeat(absl::string_view s, int n) {
  std::string out;
  out.reserve(s.size() * n);
  for (int i = 0; i < n; ++i) out.append(s.data(), s.size());
  return out;
}

void ExpectTooDeep(const std::string& text) {
  absl::StatusOr<NodePtr> root = ParseComputation(text);
  ASSERT_FALSE(root.ok());
  EXPECT_EQ(root.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(root.status().message()),
              HasSubstr("nesting deeper than 1000 levels"));
}

TEST(NestingTest, TenThousandLevelsAreRejectedCleanly) {
  constexpr int n = 10000;
  ExpectTooDeep(Repeat("(", n) + "1" + Repeat(")", n));
  ExpectTooDeep(Repeat("[", n) + "1" + Repeat("]", n));
  ExpectTooDeep(Repeat("<", n) + "1" + Repeat(">", n));
  ExpectTooDeep(Repeat("let a = ", n) + "1" + Repeat(" in a", n));
  ExpectTooDeep("let a = 1 in " + Repeat("let a = a in ", n) + "a");
  ExpectTooDeep(Repeat("federated_sum(", n) + "1" + Repeat(")", n));
  ExpectTooDeep("(s: int32) -> s" + Repeat("[0]", n));
  ExpectTooDeep("(s: int32) -> s" + Repeat(".a", n));
  ExpectTooDeep("(f: int32) -> f" + Repeat("(1)", n));
  ExpectTooDeep("(f: int32) -> f" + Repeat("()", n));
  ExpectTooDeep(Repeat("(x: int32) -> ", n) + "x");
  ExpectTooDeep(Repeat("() -> ", n) + "1");
  ExpectTooDeep(Repeat("generic_plus(1, ", n) + "1" + Repeat(")", n));
  ExpectTooDeep(Repeat("(", n) + "x: int32) -> x" + Repeat(")", n - 1));
}

TEST(NestingTest, TheLimitItselfIsAccepted) {
  // A tree exactly kMaxNestingDepth deep: structs around a literal.
  const int n = kMaxNestingDepth - 1;
  std::string text = Repeat("<", n) + "1" + Repeat(">", n);
  NodePtr root = Parse(text);
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(TreeDepth(root), kMaxNestingDepth);
  ExpectTooDeep("<" + text + ">");
  // A chain of selections at the limit prints and parses again.
  std::string chain = "(s: int32) -> s" + Repeat("[0]", kMaxNestingDepth - 2);
  NodePtr selections = Parse(chain);
  ASSERT_NE(selections, nullptr);
  EXPECT_EQ(TreeDepth(selections), kMaxNestingDepth);
  EXPECT_EQ(Fmt(PrintComputation(selections)), PrintComputation(selections));
  ExpectTooDeep(chain + "[0]");
  // The deepest recursion per level (lambdas, calls, parentheses) is fine
  // at the limit too.
  const int m = kMaxNestingDepth - 1;
  EXPECT_NE(Parse(Repeat("(x: int32) -> ", m) + "x"), nullptr);
  EXPECT_NE(Parse(Repeat("generic_plus(1, ", m / 2) + "1" + Repeat(")", m / 2)),
            nullptr);
  EXPECT_NE(Parse(Repeat("(", m) + "1" + Repeat(")", m)), nullptr);
  EXPECT_NE(Parse(Repeat("[", m) + "1" + Repeat("]", m)), nullptr);
}

TEST(NestingTest, PrintingAVeryDeepTreeDoesNotRecurse) {
  // Deeper than any parsed tree can be; these chains print on one line.
  constexpr int kDepth = 100000;
  NodePtr selections = MakeNode(ReferenceNode{"x"});
  NodePtr calls = MakeNode(ReferenceNode{"f"});
  for (int i = 0; i < kDepth; ++i) {
    selections = MakeNode(SelectionNode{selections, 0, ""});
    calls = MakeNode(CallNode{calls, nullptr});
  }
  EXPECT_EQ(PrintComputation(selections), "x" + Repeat("[0]", kDepth) + "\n");
  EXPECT_EQ(PrintComputation(calls), "f" + Repeat("()", kDepth) + "\n");
}

// ---------------------------------------------------------------- examples

using ::fedexec::test_util::ReadFile;
using ::fedexec::test_util::SourceDir;

TEST(ExampleFilesTest, ParseAreCanonicalAndKeepComments) {
  int count = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(SourceDir() / "examples")) {
    if (entry.path().extension() != ".fed") continue;
    ++count;
    SCOPED_TRACE(entry.path().string());
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    EXPECT_TRUE(absl::StartsWith(text, "# ")) << "needs a header comment";
    std::string once = Fmt(text);
    EXPECT_EQ(once, text) << "not in canonical form";
    EXPECT_EQ(Fmt(once), once);
    EXPECT_EQ(CountComments(once), CountComments(text));
  }
  EXPECT_GE(count, 12);
}

}  // namespace
}  // namespace fedexec::ir
