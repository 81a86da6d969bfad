// Tests of DescribeValue: each kind of value in the type notation.
#include "core/value_description.h"

#include <memory>

#include "gtest/gtest.h"

namespace fedexec {
namespace {

TEST(DescribeValueTest, TensorsAndTheEmptyValue) {
  EXPECT_EQ(DescribeValue(Value(Tensor::Vector<float>({1, 2, 3}))),
            "float32[3]");
  EXPECT_EQ(DescribeValue(Value(Tensor::Scalar<int32_t>(1))), "int32");
  EXPECT_EQ(DescribeValue(Value()), "<none>");
}

TEST(DescribeValueTest, StructsNameTheirNamedElements) {
  const Value f3(Tensor::Vector<float>({1, 2, 3}));
  EXPECT_EQ(DescribeValue(Value::Struct(
                {{"a", f3}, {"", Value(Tensor::Scalar<int32_t>(1))}})),
            "<a=float32[3],int32>");
  EXPECT_EQ(DescribeValue(Value::Struct({})), "<>");
}

TEST(DescribeValueTest, SequencesByTheirFirstElement) {
  const Value f3(Tensor::Vector<float>({1, 2, 3}));
  EXPECT_EQ(DescribeValue(Value::Sequence({f3, f3})), "float32[3]*");
  EXPECT_EQ(DescribeValue(Value::Sequence({})), "<empty>*");
  class Nothing : public LazyElements {
   public:
    absl::Status ForEach(
        absl::FunctionRef<absl::Status(const Value&)>) const override {
      return absl::OkStatus();
    }
  };
  EXPECT_EQ(DescribeValue(Value::LazySequence(std::make_shared<Nothing>())),
            "<lazy>*");
}

TEST(DescribeValueTest, FederatedValuesByPlacementAndAllEquality) {
  const Value f3(Tensor::Vector<float>({1, 2, 3}));
  EXPECT_EQ(
      DescribeValue(Value::Federated(Placement::kClients, false, {f3, f3})),
      "{float32[3]}@CLIENTS");
  EXPECT_EQ(DescribeValue(Value::Federated(Placement::kServer, true, {f3})),
            "float32[3]@SERVER");
  EXPECT_EQ(DescribeValue(Value::Federated(Placement::kClients, false, {})),
            "{<none>}@CLIENTS");
}

TEST(DescribeValueTest, FunctionsDescribeThemselves) {
  class Named : public FunctionValue {
   public:
    std::string Describe() const override { return "(int32 -> int32) f"; }
  };
  EXPECT_EQ(DescribeValue(Value::Function(std::make_shared<Named>())),
            "(int32 -> int32) f");
  EXPECT_EQ(DescribeValue(Value::Function(nullptr)), "<function>");
}

}  // namespace
}  // namespace fedexec
