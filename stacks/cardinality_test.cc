#include "stacks/cardinality.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/value_syntax.h"

namespace fedexec::stacks {
namespace {

using ::testing::HasSubstr;

Value Parse(const std::string& text) {
  absl::StatusOr<Value> value = ir::ParseValue(text);
  EXPECT_TRUE(value.ok()) << text << ": " << value.status();
  return value.ok() ? *value : Value();
}

std::optional<int64_t> Infer(const std::string& text) {
  absl::StatusOr<std::optional<int64_t>> count = InferClientCount(Parse(text));
  EXPECT_TRUE(count.ok()) << text << ": " << count.status();
  return count.ok() ? *count : std::optional<int64_t>(-12345);
}

TEST(InferClientCountTest, PerClientValueGivesItsLength) {
  EXPECT_EQ(Infer("{1.0, 2.0, 3.0}@CLIENTS"), 3);
  EXPECT_EQ(Infer("{[1, 2]}@CLIENTS"), 1);
}

TEST(InferClientCountTest, ZeroClientsCounts) {
  // {}@CLIENTS parses only with an expected type.
  absl::StatusOr<ir::Type> type = ir::ParseType("{float32}@CLIENTS");
  ASSERT_TRUE(type.ok());
  absl::StatusOr<Value> value = ir::ParseValueAs("{}@CLIENTS", *type);
  ASSERT_TRUE(value.ok()) << value.status();
  absl::StatusOr<std::optional<int64_t>> count = InferClientCount(*value);
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 0);
}

TEST(InferClientCountTest, NothingToInferFrom) {
  EXPECT_EQ(Infer("1.0"), std::nullopt);
  EXPECT_EQ(Infer("[1.0, 2.0]@SERVER"), std::nullopt);
  EXPECT_EQ(Infer("{1.0}@SERVER"), std::nullopt) << "SERVER never counts";
  EXPECT_EQ(Infer("seq[1, 2, 3]"), std::nullopt);
  EXPECT_EQ(Infer("<a=1, b=<c=2.0@SERVER>>"), std::nullopt);
  EXPECT_EQ(Infer("<>"), std::nullopt);
}

TEST(InferClientCountTest, AllEqualValuesAreIgnored) {
  EXPECT_EQ(Infer("5.0@CLIENTS"), std::nullopt);
  EXPECT_EQ(Infer("<5.0@CLIENTS, {1, 2}@CLIENTS>"), 2);
  EXPECT_EQ(Infer("<{1, 2}@CLIENTS, 5.0@CLIENTS, seq[1]@CLIENTS>"), 2);
}

TEST(InferClientCountTest, NestedStructs) {
  EXPECT_EQ(Infer("<model=[1.0, 2.0]@SERVER, "
                  "data=<x={seq[1], seq[2, 3], seq[]}@CLIENTS, "
                  "y=<{1, 2, 3}@CLIENTS>>>"),
            3);
  EXPECT_EQ(Infer("<<<<{1, 2, 3, 4}@CLIENTS>>>>"), 4);
}

TEST(InferClientCountTest, ConflictNamesBothPathsAndCounts) {
  absl::StatusOr<std::optional<int64_t>> count = InferClientCount(
      Parse("<<x={1, 2, 3}@CLIENTS>, {1, 2, 3, 4, 5}@CLIENTS>"));
  ASSERT_FALSE(count.ok());
  EXPECT_EQ(count.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(count.status().message(),
            "argument [0].x has 3 clients but [1] has 5");

  count = InferClientCount(
      Parse("<a={1, 2}@CLIENTS, b=<c={1}@CLIENTS>, d={1, 2}@CLIENTS>"));
  ASSERT_FALSE(count.ok());
  EXPECT_EQ(count.status().message(), "argument a has 2 clients but b.c has 1");
}

TEST(InferClientCountTest, AgreeingValuesAreFine) {
  EXPECT_EQ(
      Infer("<a={1, 2}@CLIENTS, b=<{3, 4}@CLIENTS>, c={5.0, 6.0}@CLIENTS>"), 2);
}

TEST(InferClientCountTest, DeepNestingDoesNotRecurse) {
  // Built in code: far deeper than the value syntax allows.
  Value value = Value::Federated(Placement::kClients, /*all_equal=*/false,
                                 {Value(), Value(), Value()});
  for (int i = 0; i < 100000; ++i) value = Value::Struct({{"", value}});
  absl::StatusOr<std::optional<int64_t>> count = InferClientCount(value);
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 3);
  // Freed from the outside in: destroying the whole chain at once would
  // recurse as deep as it nests.
  while (value.is_struct()) {
    Value inner = *value.struct_value().elements[0].value;
    value = inner;
  }
}

}  // namespace
}  // namespace fedexec::stacks
