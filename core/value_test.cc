// Specification of Value: the four kinds, their accessors, sharing on copy,
// and structural equality.
#include "core/value.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedexec {
namespace {

Value F(float x) { return Value(Tensor::Scalar(x)); }

TEST(ValueTest, DefaultIsAnInvalidTensor) {
  Value v;
  EXPECT_EQ(v.kind(), Value::Kind::kTensor);
  EXPECT_TRUE(v.is_tensor());
  EXPECT_FALSE(v.tensor().valid());
  EXPECT_EQ(v, Value());
}

TEST(ValueTest, TensorsConvertImplicitly) {
  Value v = Tensor::Vector<int32_t>({1, 2});
  EXPECT_TRUE(v.is_tensor());
  EXPECT_FALSE(v.is_struct() || v.is_sequence() || v.is_federated());
  EXPECT_THAT(v.tensor().data<int32_t>(), ::testing::ElementsAre(1, 2));
}

TEST(ValueTest, StructKeepsNamesAndOrder) {
  Value v = Value::Struct({{"a", F(1)}, {"", F(2)}, {"c", F(3)}});
  EXPECT_EQ(v.kind(), Value::Kind::kStruct);
  EXPECT_TRUE(v.is_struct());
  const auto& elements = v.struct_value().elements;
  ASSERT_EQ(elements.size(), 3u);
  EXPECT_EQ(elements[0].name, "a");
  EXPECT_EQ(elements[1].name, "");
  EXPECT_EQ(elements[2].name, "c");
  EXPECT_EQ(*elements[0].value, F(1));
  EXPECT_EQ(*elements[1].value, F(2));
  EXPECT_EQ(*elements[2].value, F(3));
}

TEST(ValueTest, EmptyStruct) {
  Value v = Value::Struct({});
  EXPECT_TRUE(v.is_struct());
  EXPECT_TRUE(v.struct_value().elements.empty());
  EXPECT_EQ(v, Value::Struct({}));
}

TEST(ValueTest, SequenceKeepsItsElements) {
  Value v = Value::Sequence({F(1), F(2)});
  EXPECT_EQ(v.kind(), Value::Kind::kSequence);
  ASSERT_EQ(v.sequence().elements.size(), 2u);
  EXPECT_EQ(v.sequence().elements[1], F(2));
  EXPECT_TRUE(Value::Sequence({}).sequence().elements.empty());
}

TEST(ValueTest, FederatedKeepsPlacementAndMembers) {
  Value server = Value::Federated(Placement::kServer, true, {F(7)});
  EXPECT_EQ(server.kind(), Value::Kind::kFederated);
  EXPECT_EQ(server.federated().placement, Placement::kServer);
  EXPECT_TRUE(server.federated().all_equal);
  ASSERT_EQ(server.federated().members.size(), 1u);
  EXPECT_EQ(server.federated().members[0], F(7));

  Value clients =
      Value::Federated(Placement::kClients, false, {F(1), F(2), F(3)});
  EXPECT_EQ(clients.federated().placement, Placement::kClients);
  EXPECT_FALSE(clients.federated().all_equal);
  EXPECT_EQ(clients.federated().members.size(), 3u);
}

TEST(ValueTest, CopiesShareContents) {
  Tensor big = Tensor::Vector<float>({1, 2, 3, 4});
  Value s = Value::Struct({{"w", big}});
  Value copy = s;
  EXPECT_EQ(&copy.struct_value(), &s.struct_value());
  EXPECT_TRUE(
      copy.struct_value().elements[0].value->tensor().SharesBufferWith(big));

  Value fed = Value::Federated(Placement::kClients, false, {big, big});
  Value fed_copy = fed;
  EXPECT_EQ(&fed_copy.federated(), &fed.federated());
  EXPECT_TRUE(fed.federated().members[1].tensor().SharesBufferWith(big));

  Value seq = Value::Sequence({big});
  Value seq_copy = seq;
  EXPECT_EQ(&seq_copy.sequence(), &seq.sequence());
}

TEST(ValueEqualsTest, TensorsCompareByContents) {
  EXPECT_EQ(F(1), F(1));
  EXPECT_NE(F(1), F(2));
  EXPECT_NE(F(1), Value(Tensor::Scalar(1.0)));
}

TEST(ValueEqualsTest, KindsMustMatch) {
  EXPECT_NE(Value::Struct({{"", F(1)}}), Value::Sequence({F(1)}));
  EXPECT_NE(Value::Struct({}), Value::Sequence({}));
  EXPECT_NE(Value::Sequence({F(1)}),
            Value::Federated(Placement::kServer, true, {F(1)}));
  EXPECT_NE(F(1), Value::Struct({{"", F(1)}}));
  EXPECT_NE(Value(), Value::Struct({}));
}

TEST(ValueEqualsTest, StructsCompareNamesAndElementsInOrder) {
  Value ab = Value::Struct({{"a", F(1)}, {"b", F(2)}});
  EXPECT_EQ(ab, Value::Struct({{"a", F(1)}, {"b", F(2)}}));
  EXPECT_NE(ab, Value::Struct({{"b", F(2)}, {"a", F(1)}}));
  EXPECT_NE(ab, Value::Struct({{"a", F(1)}, {"c", F(2)}}));
  EXPECT_NE(ab, Value::Struct({{"a", F(1)}, {"", F(2)}}));
  EXPECT_NE(ab, Value::Struct({{"a", F(1)}, {"b", F(3)}}));
  EXPECT_NE(ab, Value::Struct({{"a", F(1)}}));
  EXPECT_NE(ab, Value::Struct({{"a", F(1)}, {"b", F(2)}, {"c", F(3)}}));
}

TEST(ValueEqualsTest, SequencesCompareElementsInOrder) {
  EXPECT_EQ(Value::Sequence({F(1), F(2)}), Value::Sequence({F(1), F(2)}));
  EXPECT_NE(Value::Sequence({F(1), F(2)}), Value::Sequence({F(2), F(1)}));
  EXPECT_NE(Value::Sequence({F(1)}), Value::Sequence({F(1), F(1)}));
  EXPECT_EQ(Value::Sequence({}), Value::Sequence({}));
}

TEST(ValueEqualsTest, FederatedComparesPlacementAllEqualAndMembers) {
  Value v = Value::Federated(Placement::kClients, false, {F(1), F(2)});
  EXPECT_EQ(v, Value::Federated(Placement::kClients, false, {F(1), F(2)}));
  EXPECT_NE(v, Value::Federated(Placement::kServer, false, {F(1), F(2)}));
  EXPECT_NE(v, Value::Federated(Placement::kClients, true, {F(1), F(2)}));
  EXPECT_NE(v, Value::Federated(Placement::kClients, false, {F(2), F(1)}));
  EXPECT_NE(v, Value::Federated(Placement::kClients, false, {F(1)}));
  EXPECT_EQ(Value::Federated(Placement::kClients, false, {}),
            Value::Federated(Placement::kClients, false, {}));
}

TEST(ValueEqualsTest, NestedValuesCompareAllTheWayDown) {
  auto make = [](float leaf) {
    return Value::Federated(
        Placement::kClients, false,
        {Value::Struct({{"x", Value::Sequence({F(1), F(leaf)})},
                        {"y", Tensor::StringScalar("s")}})});
  };
  EXPECT_EQ(make(2), make(2));
  EXPECT_NE(make(2), make(3));
}

TEST(ValueEqualsTest, DeepValuesCompare) {
  Value a = F(0);
  Value b = F(0);
  for (int i = 0; i < 200; ++i) {
    a = Value::Struct({{"n", std::move(a)}});
    b = Value::Struct({{"n", std::move(b)}});
  }
  EXPECT_EQ(a, b);
  EXPECT_NE(a, Value::Struct({{"n", a}}));
}

}  // namespace
}  // namespace fedexec
