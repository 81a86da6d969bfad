// The table of malformed computations: every one, in whichever form it comes
// (text, binary proto, proto text), must give INVALID_ARGUMENT with a message
// that names the problem; none may crash, hang or overflow the stack. The
// CLI's behaviour on the same files (exit code 2, one line on stderr) is in
// cli_test.cc.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "federated_language/computation.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "ir/computation_file.h"
#include "ir/type_checker.h"

namespace fedexec::ir {
namespace {

using ::testing::HasSubstr;

struct MalformedCase {
  std::string name;
  ComputationFormat format;
  std::string contents;
  std::string expected;  // a part of the error message
};

std::string Repeat(absl::string_view s, int n) {
  std::string out;
  out.reserve(s.size() * n);
  for (int i = 0; i < n; ++i) out.append(s.data(), s.size());
  return out;
}

// A binary Computation nested `depth` levels deep through call.argument,
// built from the inside out.
std::string DeepBinaryProto(int depth) {
  federated_language::Computation leaf;
  leaf.mutable_reference()->set_name("x");
  std::string bytes = leaf.SerializeAsString();
  for (int i = 0; i < depth; ++i) {
    // Computation.call (field 7) { Call.argument (field 2) { bytes } }
    auto wrap = [](int field, const std::string& inner) {
      std::string out;
      out.push_back(static_cast<char>((field << 3) | 2));
      uint64_t n = inner.size();
      while (n >= 0x80) {
        out.push_back(static_cast<char>((n & 0x7F) | 0x80));
        n >>= 7;
      }
      out.push_back(static_cast<char>(n));
      return out + inner;
    };
    bytes = wrap(7, wrap(2, bytes));
  }
  return bytes;
}

std::string Binary(const std::string& textproto) {
  // Built through the protobuf API so the bytes are exactly the message.
  federated_language::Computation c;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(textproto, &c));
  return c.SerializeAsString();
}

const char kFloat[] = "tensor { dtype: DT_FLOAT }";

std::vector<MalformedCase> Cases() {
  using F = ComputationFormat;
  std::vector<MalformedCase> cases = {
      // ---- text syntax
      {"text_unknown_reference", F::kText, "(x: float32) -> y\n",
       "unknown reference 'y'"},
      {"text_unknown_intrinsic", F::kText,
       "(x: {float32}@CLIENTS) -> federated_summ(x)\n",
       "unknown reference 'federated_summ'"},
      {"text_wrong_arity", F::kText,
       "(x: {float32}@CLIENTS) -> federated_map(x)\n", "federated_map"},
      {"text_placement_mismatch", F::kText,
       "(x: float32@SERVER) -> federated_sum(x)\n", "federated_sum"},
      {"text_duplicate_struct_names", F::kText, "<a=1, a=2>\n", "'a'"},
      {"text_negative_dim", F::kText, "(x: float32[-2]) -> x\n",
       "1:13: expected a dimension"},
      {"text_huge_dim", F::kText, "float32[99999999999,99999999999]([])\n",
       "over the limit"},
      {"text_unterminated_string", F::kText, "\"abc\n", "unterminated string"},
      {"text_invalid_utf8", F::kText, "(x: float32) -> x # \xff\xfe\n",
       "invalid UTF-8"},
      {"text_missing_in", F::kText, "let a = 1, b = 2\n",
       "expected ',' or 'in'"},
      {"text_trailing_input", F::kText, "1 2\n", "1:3"},
      {"text_ragged_list", F::kText, "[[1, 2], [3]]\n", "1:10: ragged list"},
      {"text_int8_out_of_range", F::kText, "int8(300)\n",
       "300 is out of range for int8"},
      {"text_call_non_function", F::kText, "(x: float32) -> x(x)\n",
       "function"},
      {"text_select_out_of_range", F::kText, "(x: <float32>) -> x[3]\n",
       "selection index 3 out of range"},
      {"text_select_unknown_name", F::kText, "(x: <a=float32>) -> x.b\n",
       "'b'"},
      {"text_mean_of_int", F::kText,
       "(x: {int32}@CLIENTS) -> federated_mean(x)\n", "federated_mean"},
      {"text_reserved_word_bound", F::kText, "(let: float32) -> 1\n",
       "1:2: cannot bind the reserved word 'let'"},
      {"text_data_without_uri", F::kText, "data(\"\", {float32}@CLIENTS)\n",
       "data leaf has neither a uri nor content"},
      {"text_native_without_name", F::kText,
       "native(\"\", (float32 -> float32))\n", "native leaf has an empty name"},
      {"text_deep_parens", F::kText,
       Repeat("(", 10000) + "1" + Repeat(")", 10000), "deep"},
      {"text_deep_lists", F::kText, Repeat("[", 10000) + Repeat("]", 10000),
       "deep"},
      {"text_deep_selection", F::kText,
       "(x: <float32>) -> x" + Repeat("[0]", 10000), "deep"},
      {"text_deep_type", F::kText,
       "(x: " + Repeat("<", 10000) + Repeat(">", 10000) + ") -> x", "deep"},
      // ---- binary proto
      {"pb_garbage", F::kBinaryProto, "\xff\xff\xff\xff garbage", "malformed"},
      {"pb_truncated", F::kBinaryProto,
       Binary("lambda { parameter_name: \"x\" }").substr(0, 3), "malformed"},
      {"pb_empty_computation", F::kBinaryProto, "", "no kind"},
      {"pb_tensorflow_leaf", F::kBinaryProto,
       Binary("tensorflow { initialize_op: \"init\" }"),
       "unsupported leaf kind 'tensorflow'"},
      {"pb_xla_leaf", F::kBinaryProto, Binary("xla { }"),
       "unsupported leaf kind 'xla'"},
      {"pb_deep_nesting", F::kBinaryProto, DeepBinaryProto(10000), "deep"},
      {"pb_invalid_utf8_name", F::kBinaryProto,
       std::string("\x32\x04\x0a\x02\xff\xfe", 6), "malformed"},
      // ---- proto text
      {"textproto_syntax_error", F::kTextProto, "lambda { parameter_name: }",
       "1:26: Expected string"},
      {"textproto_unknown_field", F::kTextProto, "lambdaa { }", "lambdaa"},
      {"textproto_unknown_intrinsic", F::kTextProto,
       absl::StrCat("type { function { result { ", kFloat,
                    " } } } intrinsic { uri: \"federated_foo\" }"),
       "federated_foo"},
      {"textproto_lambda_without_type", F::kTextProto,
       "lambda { parameter_name: \"x\" result { reference { name: \"x\" } } }",
       "lambda"},
      {"textproto_bad_dtype", F::kTextProto,
       "literal { value { dtype: DT_INVALID shape { } } }", "dtype"},
      {"textproto_literal_count_mismatch", F::kTextProto,
       "literal { value { dtype: DT_FLOAT shape { dim: 3 } float32_list { "
       "value: 1 } } }",
       "shape [3] needs 3 elements"},
      {"textproto_unknown_placement", F::kTextProto,
       "placement { uri: \"moon\" }", "moon"},
      {"textproto_negative_selection", F::kTextProto,
       "selection { source { reference { name: \"x\" } } index: -1 }", "-1"},
      {"textproto_unknown_reference", F::kTextProto,
       absl::StrCat("type { ", kFloat, " } reference { name: \"nope\" }"),
       "unknown reference 'nope'"},
      {"textproto_deep_nesting", F::kTextProto,
       Repeat("call { argument { ", 10000) + Repeat("} } ", 10000), "deep"},
      {"textproto_very_deep_nesting", F::kTextProto,
       Repeat("call { argument { ", 100000) + Repeat("} } ", 100000), "deep"},
  };
  return cases;
}

// Test names come from the table; keep gtest from dumping the bytes.
void PrintTo(const MalformedCase& c, std::ostream* os) { *os << c.name; }

class MalformedInputTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedInputTest, GivesCleanInvalidArgument) {
  const MalformedCase& c = GetParam();
  absl::StatusOr<NodePtr> result = ParseComputationAs(c.contents, c.format);
  if (result.ok()) result = CheckComputation(*result);
  ASSERT_FALSE(result.ok()) << c.name << " was accepted";
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
      << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr(c.expected));
  EXPECT_LT(result.status().message().size(), 2000u)
      << "an error message should be one readable line";
}

INSTANTIATE_TEST_SUITE_P(
    Table, MalformedInputTest, ::testing::ValuesIn(Cases()),
    [](const ::testing::TestParamInfo<MalformedCase>& info) {
      return info.param.name;
    });

TEST(MalformedInputTableTest, HasAtLeastThirtyCases) {
  EXPECT_GE(Cases().size(), 30u);
}

}  // namespace
}  // namespace fedexec::ir
