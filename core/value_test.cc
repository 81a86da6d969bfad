// Specification of Value: the kinds, their accessors, sharing on copy,
// structural equality, and the lazy forms executors use.
#include "core/value.h"

#include <atomic>
#include <memory>
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

// Elements 0..n-1 as float32 scalars, counting how often they are produced.
class CountingElements : public LazyElements {
 public:
  explicit CountingElements(int n) : n_(n) {}
  absl::Status ForEach(
      absl::FunctionRef<absl::Status(const Value&)> fn) const override {
    for (int i = 0; i < n_; ++i) {
      produced.fetch_add(1);
      absl::Status s = fn(F(static_cast<float>(i)));
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  mutable std::atomic<int> produced{0};

 private:
  int n_;
};

class SquareMembers : public LazyMembers {
 public:
  explicit SquareMembers(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  absl::StatusOr<Value> Get(int64_t i) const override {
    gets.fetch_add(1);
    if (i == 13) return absl::InvalidArgumentError("unlucky");
    return F(static_cast<float>(i * i));
  }
  mutable std::atomic<int> gets{0};

 private:
  int64_t n_;
};

class NamedFunction : public FunctionValue {
 public:
  std::string Describe() const override { return "(float32 -> float32) f"; }
};

TEST(LazyValueTest, LazySequenceProducesElementsOnEachTraversal) {
  auto elements = std::make_shared<CountingElements>(3);
  Value v = Value::LazySequence(elements);
  ASSERT_TRUE(v.is_sequence());
  EXPECT_TRUE(v.sequence().elements.empty());
  EXPECT_FALSE(v.IsConcrete());
  std::vector<float> seen;
  for (int pass = 0; pass < 2; ++pass) {
    ASSERT_TRUE(v.sequence()
                    .ForEach([&](const Value& e) {
                      seen.push_back(e.tensor().data<float>()[0]);
                      return absl::OkStatus();
                    })
                    .ok());
  }
  EXPECT_THAT(seen, ::testing::ElementsAre(0, 1, 2, 0, 1, 2));
  EXPECT_EQ(elements->produced.load(), 6);
}

TEST(LazyValueTest, ForEachStopsAtTheFirstError) {
  Value concrete = Value::Sequence({F(1), F(2), F(3)});
  int calls = 0;
  absl::Status s = concrete.sequence().ForEach([&](const Value&) {
    return ++calls == 2 ? absl::InvalidArgumentError("stop") : absl::OkStatus();
  });
  EXPECT_EQ(s.message(), "stop");
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(concrete.IsConcrete());
}

TEST(LazyValueTest, LazyMembersAreProducedOnDemand) {
  auto members = std::make_shared<SquareMembers>(20);
  Value v = Value::LazyFederated(Placement::kClients, members);
  const FederatedValue& f = v.federated();
  EXPECT_FALSE(f.all_equal);
  EXPECT_EQ(f.size(), 20);
  EXPECT_EQ(members->gets.load(), 0);
  absl::StatusOr<Value> m = f.Member(4);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, F(16));
  EXPECT_EQ(f.Member(13).status().message(), "unlucky");
  EXPECT_EQ(members->gets.load(), 2);
  EXPECT_FALSE(v.IsConcrete());
  // A struct holding a lazy value is not concrete either.
  EXPECT_FALSE(Value::Struct({{"x", v}}).IsConcrete());
}

TEST(LazyValueTest, ConcreteMembersThroughTheSameAccessors) {
  Value v = Value::Federated(Placement::kClients, false, {F(1), F(2)});
  EXPECT_EQ(v.federated().size(), 2);
  EXPECT_EQ(*v.federated().Member(1), F(2));
  EXPECT_TRUE(v.IsConcrete());
}

TEST(LazyValueTest, LazyFormsCompareByIdentity) {
  auto members = std::make_shared<SquareMembers>(2);
  Value a = Value::LazyFederated(Placement::kClients, members);
  Value b = Value::LazyFederated(Placement::kClients, members);
  Value c = Value::LazyFederated(Placement::kClients,
                                 std::make_shared<SquareMembers>(2));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, Value::Federated(Placement::kClients, false, {F(0), F(1)}));
}

TEST(FunctionValueTest, FunctionsAreOpaqueAndCompareByIdentity) {
  auto fn = std::make_shared<NamedFunction>();
  Value a = Value::Function(fn);
  EXPECT_EQ(a.kind(), Value::Kind::kFunction);
  EXPECT_TRUE(a.is_function());
  EXPECT_EQ(a.function()->Describe(), "(float32 -> float32) f");
  EXPECT_TRUE(a.IsConcrete());
  EXPECT_EQ(a, Value::Function(fn));
  EXPECT_NE(a, Value::Function(std::make_shared<NamedFunction>()));
  EXPECT_NE(a, F(1));
}

}  // namespace
}  // namespace fedexec
