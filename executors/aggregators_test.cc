// Specification of the aggregation building blocks (executors/aggregators.h):
// hand-checked sums, minima, maxima and means of scalars, vectors and nested
// named structs; merges with empty sides; structure errors and their paths;
// dtype coverage (integer sums wrap); the zero of a type; and determinism
// under TreeReduce. The secure sums are specified in
// aggregators_secure_test.cc.
#include "executors/aggregators.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/thread_pool.h"
#include "core/tree_reduce.h"
#include "executors/aggregators_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/value_syntax.h"
#include "testing/types.h"

namespace fedexec::exec {
namespace {

using ::fedexec::test_util::T;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using aggregators_test::Aggregate;
using aggregators_test::ExpectError;
using aggregators_test::ExpectInvalid;
using aggregators_test::ExpectValue;
using aggregators_test::FoldAll;
using aggregators_test::Show;
using aggregators_test::V;
using aggregators_test::Vs;

uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

// ------------------------------------------------------- sum, min, max

TEST(AggregatorsTest, SumMinMaxOfScalars) {
  const std::vector<Value> ints = Vs({"3", "-1", "7"});
  ExpectValue(Aggregate(AggregateOp::kSum, ints), "9");
  ExpectValue(Aggregate(AggregateOp::kMin, ints), "-1");
  ExpectValue(Aggregate(AggregateOp::kMax, ints), "7");
  const std::vector<Value> floats = Vs({"0.5", "-2.25", "4.0"});
  ExpectValue(Aggregate(AggregateOp::kSum, floats), "2.25");
  ExpectValue(Aggregate(AggregateOp::kMin, floats), "-2.25");
  ExpectValue(Aggregate(AggregateOp::kMax, floats), "4.0");
  // A single value is its own sum, min and max.
  ExpectValue(Aggregate(AggregateOp::kSum, Vs({"float64(1.5)"})),
              "float64(1.5)");
}

TEST(AggregatorsTest, SumMinMaxOfVectorsAndMatrices) {
  const std::vector<Value> xs =
      Vs({"[1.0, 5.0, -3.0]", "[2.0, -1.0, 0.5]", "[0.0, 4.0, 10.0]"});
  ExpectValue(Aggregate(AggregateOp::kSum, xs), "[3.0, 8.0, 7.5]");
  ExpectValue(Aggregate(AggregateOp::kMin, xs), "[0.0, -1.0, -3.0]");
  ExpectValue(Aggregate(AggregateOp::kMax, xs), "[2.0, 5.0, 10.0]");
  const std::vector<Value> ms =
      Vs({"[[1, 2], [3, 4]]", "[[10, 20], [30, 40]]"});
  ExpectValue(Aggregate(AggregateOp::kSum, ms), "[[11, 22], [33, 44]]");
  ExpectValue(Aggregate(AggregateOp::kMax, ms), "[[10, 20], [30, 40]]");
  // Zero-size tensors aggregate to zero-size tensors.
  ExpectValue(
      Aggregate(AggregateOp::kSum, Vs({"float32[0]([])", "float32[0]([])"})),
      "float32[0]([])");
}

TEST(AggregatorsTest, NestedNamedStructs) {
  const std::vector<Value> xs = Vs({
      "<a=[1.0, 2.0], b=<c=3, d=[[1, 2], [3, 4]]>, 0.5>",
      "<a=[10.0, -2.0], b=<c=-5, d=[[0, 0], [7, 1]]>, 1.5>",
      "<a=[0.5, 0.0], b=<c=4, d=[[2, 9], [1, 1]]>, -1.0>",
  });
  ExpectValue(Aggregate(AggregateOp::kSum, xs),
              "<a=[11.5, 0.0], b=<c=2, d=[[3, 11], [11, 6]]>, 1.0>");
  ExpectValue(Aggregate(AggregateOp::kMin, xs),
              "<a=[0.5, -2.0], b=<c=-5, d=[[0, 0], [1, 1]]>, -1.0>");
  ExpectValue(Aggregate(AggregateOp::kMax, xs),
              "<a=[10.0, 2.0], b=<c=4, d=[[2, 9], [7, 4]]>, 1.5>");
  // The empty struct is a structure like any other.
  ExpectValue(Aggregate(AggregateOp::kSum, Vs({"<>", "<>"})), "<>");
  ExpectValue(Aggregate(AggregateOp::kSum, Vs({"<a=<>, b=1>", "<a=<>, b=2>"})),
              "<a=<>, b=3>");
}

TEST(AggregatorsTest, CountsWeightsAndEmptiness) {
  Accumulator acc;
  EXPECT_TRUE(acc.empty());
  EXPECT_EQ(acc.count(), 0);
  EXPECT_EQ(acc.op(), std::nullopt);
  ASSERT_TRUE(Fold(AggregateOp::kSum, acc, V("1.0")).ok());
  ASSERT_TRUE(Fold(AggregateOp::kSum, acc, V("2.0")).ok());
  EXPECT_FALSE(acc.empty());
  EXPECT_EQ(acc.count(), 2);
  EXPECT_EQ(acc.total_weight(), 2.0);
  EXPECT_EQ(acc.op(), AggregateOp::kSum);

  Accumulator w;
  ASSERT_TRUE(Fold(AggregateOp::kWeightedSum, w, V("1.0"), 0.25).ok());
  ASSERT_TRUE(Fold(AggregateOp::kWeightedSum, w, V("1.0"), 2.5).ok());
  EXPECT_EQ(w.count(), 2);
  EXPECT_EQ(w.total_weight(), 2.75);
  ExpectValue(Finish(std::move(w)), "2.75");
  EXPECT_TRUE(w.empty());  // Finish leaves it empty
}

TEST(AggregatorsTest, TheFirstValueIsCopiedAndInputsStayUnchanged) {
  const Value x = V("[1.0, 2.0, 3.0]");
  Accumulator acc;
  ASSERT_TRUE(Fold(AggregateOp::kSum, acc, x).ok());
  ASSERT_TRUE(Fold(AggregateOp::kSum, acc, x).ok());
  absl::StatusOr<Value> sum = Finish(std::move(acc));
  ExpectValue(sum, "[2.0, 4.0, 6.0]");
  EXPECT_FALSE(sum->tensor().SharesBufferWith(x.tensor()));
  EXPECT_TRUE(x.Equals(V("[1.0, 2.0, 3.0]")));
}

// ----------------------------------------------------------------- means

TEST(AggregatorsTest, Mean) {
  Accumulator acc;
  ASSERT_TRUE(FoldAll(AggregateOp::kSum, acc,
                      Vs({"[1.0, 2.0]", "[3.0, 4.0]", "[5.0, 9.0]"}))
                  .ok());
  ExpectValue(FinishMean(std::move(acc), /*weighted=*/false), "[3.0, 5.0]");
  EXPECT_TRUE(acc.empty());

  Accumulator s;
  ASSERT_TRUE(FoldAll(AggregateOp::kSum, s,
                      Vs({"<a=float64(1.0), b=<c=[2.0]>>",
                          "<a=float64(2.0), b=<c=[4.0]>>"}))
                  .ok());
  ExpectValue(FinishMean(std::move(s), false), "<a=float64(1.5), b=<c=[3.0]>>");

  // Complex tensors have a mean too.
  Accumulator c;
  const Value c1 = Tensor::Scalar(std::complex<float>(1, 2));
  const Value c2 = Tensor::Scalar(std::complex<float>(3, -4));
  ASSERT_TRUE(FoldAll(AggregateOp::kSum, c, {c1, c2}).ok());
  absl::StatusOr<Value> mean = FinishMean(std::move(c), false);
  ASSERT_TRUE(mean.ok()) << mean.status();
  EXPECT_EQ(mean->tensor().data<std::complex<float>>()[0],
            std::complex<float>(2, -1));
}

// The mean divides the sum by the count; multiplying by the reciprocal
// rounded to float32 would give 10.5f * (1.0f / 7) = 1.5000001.
TEST(AggregatorsTest, MeanIsADivisionByTheCount) {
  const float reciprocal = 1.0f / 7.0f;
  ASSERT_NE(10.5f * reciprocal, 1.5f);  // what the division avoids
  Accumulator acc;
  ASSERT_TRUE(FoldAll(AggregateOp::kSum, acc,
                      Vs({"1.5", "1.5", "1.5", "1.5", "1.5", "1.5", "1.5"}))
                  .ok());
  absl::StatusOr<Value> mean = FinishMean(std::move(acc), false);
  ASSERT_TRUE(mean.ok()) << mean.status();
  EXPECT_EQ(mean->tensor().data<float>()[0], 1.5f);

  // Every element is sum / count in its dtype.
  Accumulator many;
  std::vector<Value> xs;
  for (int i = 0; i < 7; ++i) {
    xs.push_back(V("<a=[0.1, 0.7, 3.3], b=float64([0.1, 2.9])>"));
  }
  ASSERT_TRUE(FoldAll(AggregateOp::kSum, many, xs).ok());
  Accumulator copy;
  ASSERT_TRUE(FoldAll(AggregateOp::kSum, copy, xs).ok());
  absl::StatusOr<Value> sum = Finish(std::move(copy));
  ASSERT_TRUE(sum.ok());
  absl::StatusOr<Value> m = FinishMean(std::move(many), false);
  ASSERT_TRUE(m.ok()) << m.status();
  const auto& se = sum->struct_value().elements;
  const auto& me = m->struct_value().elements;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(me[0].value->tensor().data<float>()[i],
              se[0].value->tensor().data<float>()[i] / 7.0f);
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(me[1].value->tensor().data<double>()[i],
              se[1].value->tensor().data<double>()[i] / 7.0);
  }
}

TEST(AggregatorsTest, WeightedMeanIsADivisionByTheTotalWeight) {
  Accumulator acc;
  ASSERT_TRUE(FoldAll(AggregateOp::kWeightedSum, acc,
                      Vs({"1.5", "1.5", "1.5", "1.5", "1.5", "1.5", "1.5"}),
                      {1, 1, 1, 1, 1, 1, 1})
                  .ok());
  absl::StatusOr<Value> mean = FinishMean(std::move(acc), true);
  ASSERT_TRUE(mean.ok()) << mean.status();
  EXPECT_EQ(mean->tensor().data<float>()[0], 1.5f);
  // Integer weights are read as their values.
  EXPECT_EQ(*WeightOf(V("int64(3)")), 3.0);
  EXPECT_EQ(*WeightOf(V("uint8(200)")), 200.0);
}

TEST(AggregatorsTest, WeightedMean) {
  Accumulator acc;
  ASSERT_TRUE(FoldAll(AggregateOp::kWeightedSum, acc,
                      Vs({"[1.0, 2.0]", "[3.0, 6.0]"}), {1.0, 3.0})
                  .ok());
  EXPECT_EQ(acc.total_weight(), 4.0);
  // (1*1 + 3*3) / 4 and (1*2 + 3*6) / 4.
  ExpectValue(FinishMean(std::move(acc), /*weighted=*/true), "[2.5, 5.0]");

  // A zero weight removes a client from the mean.
  Accumulator z;
  ASSERT_TRUE(FoldAll(AggregateOp::kWeightedSum, z, Vs({"8.0", "100.0", "2.0"}),
                      {1.0, 0.0, 1.0})
                  .ok());
  ExpectValue(FinishMean(std::move(z), true), "5.0");
}

TEST(AggregatorsTest, MeanErrors) {
  ExpectInvalid(FinishMean(Accumulator(), false).status(),
                "federated_mean over zero clients has no result");
  ExpectInvalid(FinishMean(Accumulator(), true).status(),
                "federated_weighted_mean over zero clients has no result");

  Accumulator zero;
  ASSERT_TRUE(
      FoldAll(AggregateOp::kWeightedSum, zero, Vs({"1.0", "2.0"}), {0.0, 0.0})
          .ok());
  ExpectInvalid(FinishMean(std::move(zero), true).status(),
                "federated_weighted_mean: the weights sum to 0");

  Accumulator ints;
  ASSERT_TRUE(FoldAll(AggregateOp::kSum, ints,
                      Vs({"<a=1.0, b=[1, 2, 3]>", "<a=2.0, b=[4, 5, 6]>"}))
                  .ok());
  ExpectInvalid(FinishMean(std::move(ints), false).status(),
                "federated_mean: at .b: the mean of int32[3] is not defined: "
                "only floating-point and complex tensors have one");
  EXPECT_TRUE(ints.empty());  // consumed, even on error

  // The op must be the mean's.
  Accumulator sum;
  ASSERT_TRUE(Fold(AggregateOp::kSum, sum, V("1.0")).ok());
  EXPECT_EQ(FinishMean(std::move(sum), true).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(AggregatorsTest, BadWeights) {
  for (double w :
       {-1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    Accumulator acc;
    absl::Status s = Fold(AggregateOp::kWeightedSum, acc, V("1.0"), w);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << w;
    EXPECT_THAT(std::string(s.message()), HasSubstr("weight ")) << s;
    EXPECT_TRUE(acc.failed());
  }
  Accumulator acc;
  ExpectInvalid(Fold(AggregateOp::kWeightedSum, acc, V("1.0"), -1.0),
                "weight -1 is negative");
  // The other ops ignore the weight.
  Accumulator sum;
  EXPECT_TRUE(Fold(AggregateOp::kSum, sum, V("1.0"), -1.0).ok());
  EXPECT_EQ(sum.total_weight(), 1.0);
}

TEST(AggregatorsTest, WeightOf) {
  EXPECT_EQ(*WeightOf(V("3")), 3.0);
  EXPECT_EQ(*WeightOf(V("0.5")), 0.5);
  EXPECT_EQ(*WeightOf(V("uint8(200)")), 200.0);
  EXPECT_EQ(*WeightOf(V("float64(0.25)")), 0.25);
  EXPECT_EQ(*WeightOf(Value(Tensor::Scalar(Float16{0x3C00}))), 1.0);
  ExpectInvalid(WeightOf(V("-2")).status(), "weight -2 is negative");
  ExpectInvalid(WeightOf(V("nan")).status(), "weight nan is not a number");
  ExpectInvalid(WeightOf(V("inf")).status(), "weight inf is not finite");
  ExpectInvalid(WeightOf(V("[1.0]")).status(),
                "weight must be an integer or floating-point scalar, found "
                "float32[1]");
  ExpectInvalid(WeightOf(V("true")).status(),
                "weight must be an integer or floating-point scalar, found "
                "bool");
  ExpectInvalid(WeightOf(V("<1.0>")).status(),
                "weight must be an integer or floating-point scalar, found a "
                "struct of 1 element");
}

// ---------------------------------------------------------------- merges

TEST(AggregatorsTest, MergeWithEmptySides) {
  // Both empty: still empty.
  Accumulator a, b;
  ASSERT_TRUE(Merge(AggregateOp::kSum, a, std::move(b)).ok());
  EXPECT_TRUE(a.empty());

  // Empty right: nothing changes.
  ASSERT_TRUE(Fold(AggregateOp::kSum, a, V("<x=[1, 2]>")).ok());
  ASSERT_TRUE(Merge(AggregateOp::kSum, a, Accumulator()).ok());
  EXPECT_EQ(a.count(), 1);

  // Empty left: takes the right side.
  Accumulator left;
  ASSERT_TRUE(Merge(AggregateOp::kSum, left, std::move(a)).ok());
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(left.count(), 1);
  ExpectValue(Finish(std::move(left)), "<x=[1, 2]>");
}

TEST(AggregatorsTest, MergeCombinesEveryOp) {
  const std::vector<Value> xs =
      Vs({"<a=[1.0, 8.0], b=2>", "<a=[3.0, -1.0], b=5>", "<a=[0.0, 2.0], b=-4>",
          "<a=[7.0, 1.0], b=1>"});
  for (AggregateOp op : {AggregateOp::kSum, AggregateOp::kMin,
                         AggregateOp::kMax, AggregateOp::kWeightedSum}) {
    const std::vector<double> w = {1, 2, 3, 4};
    Accumulator left, right;
    ASSERT_TRUE(Fold(op, left, xs[0], w[0]).ok());
    ASSERT_TRUE(Fold(op, left, xs[1], w[1]).ok());
    ASSERT_TRUE(Fold(op, right, xs[2], w[2]).ok());
    ASSERT_TRUE(Fold(op, right, xs[3], w[3]).ok());
    ASSERT_TRUE(Merge(op, left, std::move(right)).ok());
    EXPECT_TRUE(right.empty());
    EXPECT_EQ(left.count(), 4);
    absl::StatusOr<Value> merged = Finish(std::move(left));
    // These values are exact in float32, so any grouping agrees.
    absl::StatusOr<Value> sequential = Aggregate(op, xs, w);
    ASSERT_TRUE(merged.ok() && sequential.ok());
    EXPECT_TRUE(merged->Equals(*sequential))
        << AggregateOpName(op) << ": " << Show(merged) << " vs "
        << Show(sequential);
  }
  Accumulator l, r;
  ASSERT_TRUE(FoldAll(AggregateOp::kWeightedSum, l, Vs({"1.0"}), {2.0}).ok());
  ASSERT_TRUE(FoldAll(AggregateOp::kWeightedSum, r, Vs({"4.0"}), {6.0}).ok());
  ASSERT_TRUE(Merge(AggregateOp::kWeightedSum, l, std::move(r)).ok());
  EXPECT_EQ(l.total_weight(), 8.0);
  ExpectValue(FinishMean(std::move(l), true), "3.25");  // (2 + 24) / 8
}

// ------------------------------------------------------------- structure

struct MismatchCase {
  const char* first;
  const char* second;
  const char* message;
};

TEST(AggregatorsTest, StructureMismatchesNameThePath) {
  const MismatchCase cases[] = {
      {"<1.0, <a=[1.0, 2.0, 3.0], b=[1.0, 2.0, 3.0]>>",
       "<1.0, <a=[1.0, 2.0, 3.0], b=[1.0, 2.0, 3.0, 4.0]>>",
       "at [1].b: expected float32[3], found float32[4]"},
      {"[1, 2]", "[1.0, 2.0]", "expected int32[2], found float32[2]"},
      {"1", "[1]", "expected int32, found int32[1]"},
      {"<a=1, b=2>", "<a=1, c=2>", "element 1 is named 'c', expected 'b'"},
      {"<x=<1, 2>>", "<x=<a=1, 2>>",
       "at .x: element 0 is named 'a', expected no name"},
      {"<a=1, b=2>", "<a=1, 2>", "element 1 has no name, expected 'b'"},
      {"1", "<1>", "expected int32, found a struct of 1 element"},
      {"<1>", "1", "expected a struct of 1 element, found int32"},
      {"<a=<1, 2>>", "<a=3>",
       "at .a: expected a struct of 2 elements, found "
       "int32"},
      {"<1, 2>", "<1, 2, 3>",
       "expected a struct of 2 elements, found a struct of 3 elements"},
      {"<a=[1.0], b=<c=2.0>>", "<a=[1.0], b=<c=seq[2.0]>>",
       "at .b.c: expected float32, found a sequence"},
  };
  for (const MismatchCase& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.first, " then ", c.second));
    // Folding the second value into an accumulator of the first.
    Accumulator acc;
    ASSERT_TRUE(Fold(AggregateOp::kSum, acc, V(c.first)).ok());
    ExpectInvalid(Fold(AggregateOp::kSum, acc, V(c.second)), c.message);
    EXPECT_TRUE(acc.failed());
    EXPECT_EQ(Fold(AggregateOp::kSum, acc, V(c.first)).code(),
              absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(Finish(std::move(acc)).status().code(),
              absl::StatusCode::kFailedPrecondition);

    // Merging a partial of the second into a partial of the first: the same
    // message (except where the second value is no valid partial at all).
    Accumulator left, right;
    ASSERT_TRUE(Fold(AggregateOp::kSum, left, V(c.first)).ok());
    if (Fold(AggregateOp::kSum, right, V(c.second)).ok()) {
      ExpectInvalid(Merge(AggregateOp::kSum, left, std::move(right)),
                    c.message);
      EXPECT_TRUE(left.failed());
      EXPECT_TRUE(right.empty());
    }
  }
}

TEST(AggregatorsTest, ResetMakesAFailedAccumulatorUsable) {
  Accumulator acc;
  ASSERT_TRUE(Fold(AggregateOp::kSum, acc, V("1")).ok());
  EXPECT_FALSE(Fold(AggregateOp::kSum, acc, V("1.0")).ok());
  EXPECT_TRUE(acc.failed());
  Accumulator other;
  ASSERT_TRUE(Fold(AggregateOp::kSum, other, V("1")).ok());
  EXPECT_EQ(Merge(AggregateOp::kSum, other, std::move(acc)).code(),
            absl::StatusCode::kFailedPrecondition);
  acc.Reset();
  EXPECT_FALSE(acc.failed());
  ASSERT_TRUE(Fold(AggregateOp::kSum, acc, V("1.0")).ok());
  ExpectValue(Finish(std::move(acc)), "1.0");
}

TEST(AggregatorsTest, ValuesThatAreNotTensorsOrStructs) {
  Accumulator acc;
  ExpectInvalid(Fold(AggregateOp::kSum, acc, V("seq[1, 2]")),
                "expected a tensor or a struct of tensors, found a sequence");
  Accumulator nested;
  ExpectInvalid(Fold(AggregateOp::kSum, nested, V("<a=1, b=<1@SERVER>>")),
                "at .b[0]: expected a tensor or a struct of tensors, found a "
                "federated value");
  Accumulator empty_tensor;
  ExpectInvalid(Fold(AggregateOp::kSum, empty_tensor, Value()),
                "sum needs numeric tensors, found an empty tensor");
}

TEST(AggregatorsTest, OpsCannotBeMixed) {
  Accumulator acc;
  ASSERT_TRUE(Fold(AggregateOp::kSum, acc, V("1")).ok());
  ExpectError(Fold(AggregateOp::kMin, acc, V("1")),
              absl::StatusCode::kFailedPrecondition,
              "cannot fold a min into an accumulator of a sum");
  Accumulator a, b;
  ASSERT_TRUE(Fold(AggregateOp::kMax, a, V("1")).ok());
  ASSERT_TRUE(Fold(AggregateOp::kMin, b, V("1")).ok());
  ExpectError(Merge(AggregateOp::kMax, a, std::move(b)),
              absl::StatusCode::kFailedPrecondition,
              "cannot merge a max into an accumulator of a min");
  Accumulator s;
  EXPECT_EQ(Fold(AggregateOp::kSecureSum, s, V("1")).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(AggregatorsTest, FinishOfNothing) {
  ExpectError(Finish(Accumulator()).status(),
              absl::StatusCode::kFailedPrecondition,
              "no value was folded: a sum over zero clients is the zero of "
              "the member type (ZeroOf), built by the caller");
}

// ---------------------------------------------------------------- dtypes

template <typename T>
class RealDTypeTest : public ::testing::Test {};
using RealTypes = ::testing::Types<int8_t, int16_t, int32_t, int64_t, uint8_t,
                                   uint16_t, uint32_t, uint64_t, float, double>;
TYPED_TEST_SUITE(RealDTypeTest, RealTypes);

TYPED_TEST(RealDTypeTest, SumMinMaxAndWeightedSum) {
  using E = TypeParam;
  const std::vector<Value> xs = {
      Value(Tensor::Vector<E>(std::vector<E>{1, 9, 3})),
      Value(Tensor::Vector<E>(std::vector<E>{4, 5, 6})),
      Value(Tensor::Vector<E>(std::vector<E>{2, 7, 0}))};
  auto data = [](const absl::StatusOr<Value>& v) {
    EXPECT_TRUE(v.ok()) << v.status();
    if (!v.ok()) return std::vector<E>{};
    EXPECT_EQ(v->tensor().dtype(), DTypeOf<E>::value);
    auto span = v->tensor().template data<E>();
    return std::vector<E>(span.begin(), span.end());
  };
  EXPECT_THAT(data(Aggregate(AggregateOp::kSum, xs)), ElementsAre(7, 21, 9));
  EXPECT_THAT(data(Aggregate(AggregateOp::kMin, xs)), ElementsAre(1, 5, 0));
  EXPECT_THAT(data(Aggregate(AggregateOp::kMax, xs)), ElementsAre(4, 9, 6));
  // Whole weights work for every dtype (integers need them whole).
  EXPECT_THAT(data(Aggregate(AggregateOp::kWeightedSum, xs, {2, 1, 0})),
              ElementsAre(6, 23, 12));
}

TEST(AggregatorsTest, IntegerSumsWrapLikeTheKernels) {
  ExpectValue(Aggregate(AggregateOp::kSum, Vs({"2147483647", "1"})),
              "-2147483648");
  ExpectValue(Aggregate(AggregateOp::kSum, Vs({"uint8(200)", "uint8(100)"})),
              "uint8(44)");
  ExpectValue(Aggregate(AggregateOp::kSum, Vs({"int8(-128)", "int8(-1)"})),
              "int8(127)");
  // Through a merge, too.
  Accumulator a, b;
  ASSERT_TRUE(Fold(AggregateOp::kSum, a, V("uint16(65535)")).ok());
  ASSERT_TRUE(Fold(AggregateOp::kSum, b, V("uint16(2)")).ok());
  ASSERT_TRUE(Merge(AggregateOp::kSum, a, std::move(b)).ok());
  ExpectValue(Finish(std::move(a)), "uint16(1)");
}

TEST(AggregatorsTest, HalfPrecisionAndComplex) {
  const Value one16 = Tensor::Scalar(Float16{0x3C00});
  absl::StatusOr<Value> h = Aggregate(AggregateOp::kSum, {one16, one16});
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->tensor().data<Float16>()[0].bits, 0x4000);  // 2.0
  const Value oneb = Tensor::Scalar(BFloat16{0x3F80});
  absl::StatusOr<Value> b = Aggregate(AggregateOp::kSum, {oneb, oneb, oneb});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->tensor().data<BFloat16>()[0].bits, 0x4040);  // 3.0
  absl::StatusOr<Value> bmax = Aggregate(
      AggregateOp::kMax, {oneb, Value(Tensor::Scalar(BFloat16{0x4000}))});
  ASSERT_TRUE(bmax.ok()) << bmax.status();
  EXPECT_EQ(bmax->tensor().data<BFloat16>()[0].bits, 0x4000);

  using c128 = std::complex<double>;
  absl::StatusOr<Value> c = Aggregate(
      AggregateOp::kSum, {Value(Tensor::Vector<c128>({{1, 2}, {0, 1}})),
                          Value(Tensor::Vector<c128>({{3, -1}, {5, 5}}))});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->tensor().data<c128>(), ElementsAre(c128(4, 1), c128(5, 6)));
}

TEST(AggregatorsTest, DTypesAnOpDoesNotTake) {
  Accumulator a;
  ExpectInvalid(Fold(AggregateOp::kSum, a, V("<x=[true, false]>")),
                "at .x: sum needs numeric tensors, found bool[2]");
  Accumulator b;
  ExpectInvalid(Fold(AggregateOp::kMax, b, V("\"s\"")),
                "max needs integer or floating-point tensors, found string");
  Accumulator c;
  ExpectInvalid(
      Fold(AggregateOp::kMin, c,
           Value::Struct({{"", V("1.0")},
                          {"", Tensor::Scalar(std::complex<float>(1, 1))}})),
      "at [1]: min needs integer or floating-point tensors, found complex64");
  Accumulator d;
  ExpectInvalid(Fold(AggregateOp::kWeightedSum, d, V("true"), 1.0),
                "weighted sum needs numeric tensors, found bool");
  // An integer leaf needs a whole weight (AccumulateScaledAdd's rule).
  Accumulator e;
  ExpectInvalid(Fold(AggregateOp::kWeightedSum, e, V("<a=1.0, b=[1, 2]>"), 0.5),
                "at .b: weight 0.5 for int32[2] must be a whole number within "
                "int32");
}

// ----------------------------------------------------------------- zeros

TEST(AggregatorsTest, ZeroOf) {
  ExpectValue(ZeroOf(T("float32[2,3]")), "[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]");
  ExpectValue(ZeroOf(T("int64")), "int64(0)");
  ExpectValue(ZeroOf(T("<a=int32,b=<float64[2],c=uint8>>")),
              "<a=0, b=<float64([0.0, 0.0]), c=uint8(0)>>");
  ExpectValue(ZeroOf(T("<>")), "<>");
  ExpectValue(ZeroOf(T("float32[0,4]")), "float32[0,4]([])");
  absl::StatusOr<Value> c = ZeroOf(T("complex64[2]"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(
      c->tensor().data<std::complex<float>>(),
      ElementsAre(std::complex<float>(0, 0), std::complex<float>(0, 0)));
  absl::StatusOr<Value> h = ZeroOf(T("float16"));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->tensor().data<Float16>()[0].bits, 0);
}

TEST(AggregatorsTest, ZeroOfErrors) {
  ExpectInvalid(ZeroOf(T("float32[?]")).status(),
                "cannot build the zero of float32[?]: its shape is not fully "
                "known");
  ExpectInvalid(ZeroOf(T("int32[*]")).status(),
                "cannot build the zero of int32[*]: its shape is not fully "
                "known");
  ExpectInvalid(ZeroOf(T("<a=<float32,b=float32[2,?]>>")).status(),
                "at .a.b: cannot build the zero of float32[2,?]: its shape is "
                "not fully known");
  ExpectInvalid(ZeroOf(T("bool")).status(),
                "cannot build the zero of bool: not a numeric tensor");
  ExpectInvalid(
      ZeroOf(T("<string>")).status(),
      "at [0]: cannot build the zero of string: not a numeric tensor");
  ExpectInvalid(ZeroOf(T("int32*")).status(),
                "cannot build the zero of int32*: expected a tensor or a "
                "struct type");
  ExpectInvalid(ZeroOf(T("{float32}@CLIENTS")).status(),
                "cannot build the zero of {float32}@CLIENTS: expected a tensor "
                "or a struct type");
}

TEST(AggregatorsTest, DeepNesting) {
  // The deepest structure fedexec accepts: folds, merges, results and zeros
  // work without deep recursion.
  constexpr int kDepth = 1000;
  ir::Type type = ir::Type::Tensor(DType::kFloat32, {2});
  Value x = V("[1.0, 2.0]");
  Value doubled = V("[2.0, 4.0]");
  for (int i = 1; i < kDepth; ++i) {
    type = ir::Type::Struct({{"n", type}});
    x = Value::Struct({{"n", x}});
    doubled = Value::Struct({{"n", doubled}});
  }
  Accumulator a, b;
  ASSERT_TRUE(Fold(AggregateOp::kSum, a, x).ok());
  ASSERT_TRUE(Fold(AggregateOp::kSum, b, x).ok());
  ASSERT_TRUE(Merge(AggregateOp::kSum, a, std::move(b)).ok());
  absl::StatusOr<Value> sum = Finish(std::move(a));
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_TRUE(sum->Equals(doubled));
  absl::StatusOr<Value> zero = ZeroOf(type);
  ASSERT_TRUE(zero.ok()) << zero.status();
  const Value* leaf = &*zero;
  for (int i = 1; i < kDepth; ++i) {
    ASSERT_TRUE(leaf->is_struct());
    leaf = leaf->struct_value().elements[0].value.get();
  }
  EXPECT_TRUE(leaf->Equals(V("[0.0, 0.0]")));
}

// ----------------------------------------------------------- performance

TEST(AggregatorsTest, LargeTensors) {
  // One million float32 per value: folded in place, the first one copied.
  constexpr int64_t kSize = 1 << 20;
  std::vector<float> ones(kSize, 1.0f);
  std::vector<float> twos(kSize, 2.0f);
  const Value a = Tensor::Vector<float>(ones);
  const Value b = Tensor::Vector<float>(twos);
  Accumulator left, right;
  ASSERT_TRUE(Fold(AggregateOp::kSum, left, a).ok());
  ASSERT_TRUE(Fold(AggregateOp::kSum, left, b).ok());
  ASSERT_TRUE(Fold(AggregateOp::kSum, right, b).ok());
  ASSERT_TRUE(Merge(AggregateOp::kSum, left, std::move(right)).ok());
  absl::StatusOr<Value> sum = Finish(std::move(left));
  ASSERT_TRUE(sum.ok()) << sum.status();
  auto data = sum->tensor().data<float>();
  ASSERT_EQ(data.size(), static_cast<size_t>(kSize));
  for (int64_t i = 0; i < kSize; i += 4099) EXPECT_EQ(data[i], 5.0f) << i;
  EXPECT_EQ(data[kSize - 1], 5.0f);
}

// ----------------------------------------------------------- determinism

TEST(AggregatorsTest, FloatResultsDependOnTheGrouping) {
  // In float32, 1e8 + 1 rounds to 1e8: the grouping changes the result,
  // which is why TreeReduce fixes it.
  const std::vector<Value> xs = Vs({"1e8", "1.0", "-1e8", "1.0"});
  absl::StatusOr<Value> sequential = Aggregate(AggregateOp::kSum, xs);
  ExpectValue(sequential, "1.0");  // ((1e8 + 1) - 1e8) + 1
  Accumulator left, right;
  ASSERT_TRUE(FoldAll(AggregateOp::kSum, left, {xs[0], xs[1]}).ok());
  ASSERT_TRUE(FoldAll(AggregateOp::kSum, right, {xs[2], xs[3]}).ok());
  ASSERT_TRUE(Merge(AggregateOp::kSum, left, std::move(right)).ok());
  ExpectValue(Finish(std::move(left)), "0.0");  // (1e8 + 1) + (-1e8 + 1)
}

// Client values spanning many magnitudes, so that any change of the order
// of operations shows in the bits of a float sum.
std::vector<Value> WideRangeClients(int n, int width, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> exponent(-6.0, 6.0);
  std::bernoulli_distribution negative(0.5);
  std::vector<Value> out;
  for (int c = 0; c < n; ++c) {
    std::vector<float> v(static_cast<size_t>(width));
    for (float& f : v) {
      f = static_cast<float>(std::pow(10.0, exponent(rng)));
      if (negative(rng)) f = -f;
    }
    out.push_back(Value::Struct(
        {{"w", Tensor::Vector<float>(v)}, {"b", Tensor::Scalar(v[0] / 3)}}));
  }
  return out;
}

// The canonical tree of core/tree_reduce.h, by hand: blocks of `block`
// clients folded in order, then node (L, k) = merge of (L-1, 2k) and
// (L-1, 2k+1) when the right child exists.
Accumulator CanonicalNode(AggregateOp op, const std::vector<Value>& xs,
                          const std::vector<double>& w, int64_t block,
                          int64_t num_blocks, int level, int64_t index) {
  Accumulator acc;
  if (level == 0) {
    const int64_t end =
        std::min<int64_t>(static_cast<int64_t>(xs.size()), (index + 1) * block);
    for (int64_t c = index * block; c < end; ++c) {
      EXPECT_TRUE(Fold(op, acc, xs[c], w[c]).ok());
    }
    return acc;
  }
  acc = CanonicalNode(op, xs, w, block, num_blocks, level - 1, 2 * index);
  if ((2 * index + 1) << (level - 1) < num_blocks) {
    EXPECT_TRUE(Merge(op, acc,
                      CanonicalNode(op, xs, w, block, num_blocks, level - 1,
                                    2 * index + 1))
                    .ok());
  }
  return acc;
}

TEST(AggregatorsTest, BitIdenticalUnderTreeReduceAtAnyThreadCount) {
  constexpr int kClients = 1000;
  const std::vector<Value> xs = WideRangeClients(kClients, 7, 42);
  std::vector<double> w(kClients);
  for (int c = 0; c < kClients; ++c) w[c] = 1 + c % 5;
  for (AggregateOp op :
       {AggregateOp::kSum, AggregateOp::kWeightedSum, AggregateOp::kMin}) {
    SCOPED_TRACE(AggregateOpName(op));
    TreeReduceOptions options;  // blocks of 16
    const int64_t num_blocks =
        (kClients + options.block_size - 1) / options.block_size;
    int height = 0;
    while ((int64_t{1} << height) < num_blocks) ++height;
    absl::StatusOr<Value> expected = Finish(
        CanonicalNode(op, xs, w, options.block_size, num_blocks, height, 0));
    ASSERT_TRUE(expected.ok()) << expected.status();
    for (int threads : {1, 2, 4}) {
      for (int64_t window : {1, 3, 0}) {
        ThreadPool pool(threads);
        options.window = window;
        absl::StatusOr<Accumulator> root = TreeReduce(
            pool, kClients, options, [] { return Accumulator(); },
            [&](Accumulator& acc, int64_t c) {
              return Fold(op, acc, xs[c], w[c]);
            },
            [op](Accumulator& left, Accumulator&& right) {
              return Merge(op, left, std::move(right));
            });
        ASSERT_TRUE(root.ok()) << root.status();
        EXPECT_EQ(root->count(), kClients);
        absl::StatusOr<Value> got = Finish(*std::move(root));
        ASSERT_TRUE(got.ok()) << got.status();
        EXPECT_TRUE(got->Equals(*expected))
            << "threads " << threads << " window " << window;
      }
    }
  }
  // The sum really is order-sensitive for these values: a left-to-right
  // loop gives other bits than the tree.
  absl::StatusOr<Value> loop = Aggregate(AggregateOp::kSum, xs);
  absl::StatusOr<Value> tree = Finish(
      CanonicalNode(AggregateOp::kSum, xs, w, 16, (kClients + 15) / 16, 6, 0));
  ASSERT_TRUE(loop.ok() && tree.ok());
  EXPECT_FALSE(loop->Equals(*tree));
  EXPECT_NE(
      FloatBits(
          loop->struct_value().elements[0].value->tensor().data<float>()[0]),
      FloatBits(
          tree->struct_value().elements[0].value->tensor().data<float>()[0]));
}

TEST(AggregatorsTest, TreeReduceReportsTheFirstClientError) {
  // Client 37 has another shape; the error is the one a sequential run
  // would report, whatever the thread count.
  std::vector<Value> xs;
  for (int c = 0; c < 100; ++c)
    xs.push_back(V(c == 37 ? "[1.0]" : "[1.0, 2.0]"));
  for (int threads : {1, 4}) {
    ThreadPool pool(threads);
    absl::StatusOr<Accumulator> root = TreeReduce(
        pool, static_cast<int64_t>(xs.size()), TreeReduceOptions(),
        [] { return Accumulator(); },
        [&](Accumulator& acc, int64_t c) {
          return Fold(AggregateOp::kSum, acc, xs[c]);
        },
        [](Accumulator& left, Accumulator&& right) {
          return Merge(AggregateOp::kSum, left, std::move(right));
        });
    ExpectInvalid(root.status(), "expected float32[2], found float32[1]");
  }
}

// ------------------------------------------------------------ FoldBlock

// Every tensor of v, depth-first, as names + dtype + shape + raw bytes: equal
// strings mean bit-identical values (NaN payloads and -0 included).
std::string BitsOf(const Value& v) {
  if (v.is_tensor()) {
    const Tensor& t = v.tensor();
    return absl::StrCat(
        t.TypeString(), ":",
        std::string(static_cast<const char*>(t.raw_data()), t.byte_size()));
  }
  std::string out = "<";
  for (const auto& e : v.struct_value().elements) {
    absl::StrAppend(&out, e.name, "=", BitsOf(*e.value), ",");
  }
  return out + ">";
}

// A random tensor of n elements; floats include NaN, -0 and +0 now and then.
template <typename E>
Value RandomLeaf(std::mt19937& rng, int64_t n) {
  std::vector<E> v(static_cast<size_t>(n));
  std::uniform_int_distribution<int> special(0, 99);
  for (E& e : v) {
    if constexpr (std::is_floating_point_v<E>) {
      e = std::uniform_real_distribution<E>(-1000, 1000)(rng);
      const int k = special(rng);
      if (k == 0) e = std::numeric_limits<E>::quiet_NaN();
      if (k == 1) e = -0.0;
      if (k == 2) e = 0.0;
    } else {
      e = static_cast<E>(std::uniform_int_distribution<int64_t>(
          std::numeric_limits<E>::min(), std::numeric_limits<E>::max())(rng));
    }
  }
  absl::StatusOr<Tensor> t = Tensor::FromSpan<E>(v, {n});
  EXPECT_TRUE(t.ok());
  return Value(*std::move(t));
}

// A value with leaves of the given sizes: a single tensor for one size,
// else a nested named struct <l0=..., s=<l1=..., ...>>.
template <typename E>
Value RandomValue(std::mt19937& rng, const std::vector<int64_t>& sizes) {
  if (sizes.size() == 1) return RandomLeaf<E>(rng, sizes[0]);
  std::vector<std::pair<std::string, Value>> inner;
  for (size_t i = 1; i < sizes.size(); ++i) {
    inner.emplace_back(i % 2 == 0 ? "" : absl::StrCat("l", i),
                       RandomLeaf<E>(rng, sizes[i]));
  }
  std::vector<std::pair<std::string, Value>> outer;
  outer.emplace_back("l0", RandomLeaf<E>(rng, sizes[0]));
  outer.emplace_back("s", Value::Struct(std::move(inner)));
  return Value::Struct(std::move(outer));
}

// FoldBlock over consecutive groups of xs (group sizes cycling through
// `groups`) vs Fold one by one: same bits, counts and weights. `prefold`
// values are folded one by one into both accumulators first.
void ExpectBlocksMatchFolds(AggregateOp op, const std::vector<Value>& xs,
                            const std::vector<double>& weights, size_t prefold,
                            const std::vector<size_t>& groups) {
  Accumulator seq, blk;
  for (size_t i = 0; i < xs.size(); ++i) {
    ASSERT_TRUE(Fold(op, seq, xs[i], weights[i]).ok());
  }
  for (size_t i = 0; i < prefold; ++i) {
    ASSERT_TRUE(Fold(op, blk, xs[i], weights[i]).ok());
  }
  std::vector<const Value*> ptrs;
  for (const Value& x : xs) ptrs.push_back(&x);
  const bool weighted = op == AggregateOp::kWeightedSum;
  for (size_t i = prefold, g = 0; i < xs.size(); ++g) {
    const size_t size = std::min(groups[g % groups.size()], xs.size() - i);
    int64_t failed = 7;
    absl::Status s =
        FoldBlock(op, blk, absl::MakeConstSpan(ptrs).subspan(i, size),
                  weighted ? absl::MakeConstSpan(weights).subspan(i, size)
                           : absl::Span<const double>(),
                  &failed);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(failed, -1);
    i += size;
  }
  EXPECT_EQ(blk.count(), seq.count());
  EXPECT_EQ(blk.total_weight(), seq.total_weight());
  absl::StatusOr<Value> a = Finish(std::move(seq));
  absl::StatusOr<Value> b = Finish(std::move(blk));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(BitsOf(*a) == BitsOf(*b));
}

template <typename E>
void CheckFoldBlockDType() {
  const int64_t tile = kFoldBlockTileBytes / static_cast<int64_t>(sizeof(E));
  const std::vector<std::vector<int64_t>> shapes = {{1},
                                                    {100},
                                                    {tile - 1},
                                                    {tile},
                                                    {tile + 1},
                                                    {3 * tile + 17},
                                                    {5, 2 * tile + 3, 0, tile}};
  std::mt19937 rng(1234);
  for (const std::vector<int64_t>& sizes : shapes) {
    std::vector<Value> xs;
    std::vector<double> weights;
    for (int i = 0; i < 19; ++i) {
      xs.push_back(RandomValue<E>(rng, sizes));
      weights.push_back(std::is_floating_point_v<E>
                            ? 0.25 * (i % 5) + 0.1
                            : static_cast<double>(i % 4));
    }
    for (AggregateOp op : {AggregateOp::kSum, AggregateOp::kWeightedSum,
                           AggregateOp::kMin, AggregateOp::kMax}) {
      for (size_t prefold : {0, 1, 3}) {
        SCOPED_TRACE(absl::StrCat(
            std::string(DTypeName(DTypeOf<E>::value)), " ", sizes.size(),
            " leaves, first ", sizes[0], " op ",
            std::string(AggregateOpName(op)), " prefold ", prefold));
        ExpectBlocksMatchFolds(op, xs, weights, prefold, {16});
        ExpectBlocksMatchFolds(op, xs, weights, prefold, {1, 2, 5});
      }
    }
  }
}

TEST(FoldBlockTest, BitIdenticalToFoldFloat32) { CheckFoldBlockDType<float>(); }
TEST(FoldBlockTest, BitIdenticalToFoldFloat64) {
  CheckFoldBlockDType<double>();
}
TEST(FoldBlockTest, BitIdenticalToFoldInt32) { CheckFoldBlockDType<int32_t>(); }

TEST(FoldBlockTest, TheSameValueRepeated) {
  std::mt19937 rng(5);
  const Value x = RandomLeaf<float>(rng, 20000);
  const std::string before = BitsOf(x);
  std::vector<const Value*> ptrs(16, &x);
  Accumulator seq, blk;
  for (int i = 0; i < 16; ++i)
    ASSERT_TRUE(Fold(AggregateOp::kSum, seq, x).ok());
  ASSERT_TRUE(FoldBlock(AggregateOp::kSum, blk, ptrs).ok());
  EXPECT_EQ(blk.count(), 16);
  absl::StatusOr<Value> a = Finish(std::move(seq));
  absl::StatusOr<Value> b = Finish(std::move(blk));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(BitsOf(*a) == BitsOf(*b));
  // The input is unchanged.
  EXPECT_TRUE(BitsOf(x) == before);
}

TEST(FoldBlockTest, NothingToFold) {
  Accumulator acc;
  int64_t failed = 3;
  ASSERT_TRUE(FoldBlock(AggregateOp::kSum, acc, {}, {}, &failed).ok());
  EXPECT_EQ(failed, -1);
  EXPECT_TRUE(acc.empty());
  EXPECT_FALSE(acc.failed());
}

// One error case: FoldBlock gives Fold's outcome one by one.
struct BlockErrorCase {
  const char* label;
  AggregateOp op;
  std::vector<Value> prefold;  // folded one by one into both first
  std::vector<Value> xs;
  std::vector<double> weights;                           // empty: none
  std::optional<AggregateOp> prefold_op = std::nullopt;  // default: op
};

void ExpectErrorParity(const BlockErrorCase& c) {
  SCOPED_TRACE(c.label);
  Accumulator seq, blk;
  for (const Value& p : c.prefold) {
    ASSERT_TRUE(Fold(c.prefold_op.value_or(c.op), seq, p).ok());
    ASSERT_TRUE(Fold(c.prefold_op.value_or(c.op), blk, p).ok());
  }
  absl::Status want;
  int64_t want_index = -1;
  for (size_t i = 0; i < c.xs.size(); ++i) {
    want = Fold(c.op, seq, c.xs[i], c.weights.empty() ? 1.0 : c.weights[i]);
    if (!want.ok()) {
      want_index = static_cast<int64_t>(i);
      break;
    }
  }
  ASSERT_FALSE(want.ok()) << "the case must fail";
  std::vector<const Value*> ptrs;
  for (const Value& x : c.xs) ptrs.push_back(&x);
  int64_t failed = -7;
  absl::Status got = FoldBlock(c.op, blk, ptrs, c.weights, &failed);
  EXPECT_EQ(got, want);
  EXPECT_EQ(failed, want_index);
  EXPECT_TRUE(blk.failed());
  EXPECT_EQ(Fold(c.op, blk, c.xs[0]).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Finish(std::move(blk)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(FoldBlockTest, ErrorsAreThoseOfFoldingOneByOne) {
  std::mt19937 rng(9);
  const int64_t big = 3 * kFoldBlockTileBytes / 4 + 5;
  std::vector<Value> good;
  for (int i = 0; i < 8; ++i) {
    good.push_back(RandomValue<float>(rng, {big, 3, big}));
  }
  auto with = [&](size_t i, Value bad) {
    std::vector<Value> xs = good;
    xs[i] = std::move(bad);
    return xs;
  };
  const Value wrong_shape = RandomValue<float>(rng, {big, 4, big});
  const Value wrong_dtype = RandomValue<double>(rng, {big, 3, big});
  const std::vector<double> w8 = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<double> negative = w8;
  negative[3] = -1;
  std::vector<double> nan = w8;
  nan[0] = std::nan("");
  std::vector<Value> ints;
  for (int i = 0; i < 6; ++i) ints.push_back(RandomLeaf<int32_t>(rng, big));
  const std::vector<BlockErrorCase> cases = {
      {"shape at x5", AggregateOp::kSum, {}, with(5, wrong_shape), {}},
      {"shape at x5, prefolded",
       AggregateOp::kMax,
       {good[0]},
       with(5, wrong_shape),
       {}},
      {"dtype at x0, prefolded",
       AggregateOp::kMin,
       {good[1]},
       with(0, wrong_dtype),
       {}},
      {"dtype at x1", AggregateOp::kWeightedSum, {}, with(1, wrong_dtype), w8},
      {"negative weight at x3", AggregateOp::kWeightedSum, {}, good, negative},
      {"NaN weight at x0", AggregateOp::kWeightedSum, {}, good, nan},
      {"fractional weight for ints at x2",
       AggregateOp::kWeightedSum,
       {},
       ints,
       {1, 2, 2.5, 3, 4, 5}},
      {"complex min",
       AggregateOp::kMin,
       {},
       {Value(Tensor::Vector<std::complex<float>>({{1, 2}})), V("[1.0]")},
       {}},
      {"bool sum", AggregateOp::kSum, {}, {V("[true]"), V("[true]")}, {}},
      {"not a tensor", AggregateOp::kSum, {}, {good[0], V("seq[1.0]")}, {}},
      {"op mismatch",
       AggregateOp::kMin,
       {good[0]},
       good,
       {},
       AggregateOp::kSum},
      {"secure op", AggregateOp::kSecureSum, {}, {V("1")}, {}},
  };
  for (const BlockErrorCase& c : cases) ExpectErrorParity(c);

  // A failed accumulator stays failed, at the first value.
  Accumulator failed_acc;
  ASSERT_TRUE(Fold(AggregateOp::kSum, failed_acc, V("1")).ok());
  ASSERT_FALSE(Fold(AggregateOp::kSum, failed_acc, V("1.0")).ok());
  const Value one = V("1");
  const Value* ptr = &one;
  int64_t index = -1;
  EXPECT_EQ(
      FoldBlock(AggregateOp::kSum, failed_acc, {&ptr, 1}, {}, &index).code(),
      absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(index, 0);

  // Weights that do not pair with the values: acc untouched.
  Accumulator acc;
  ASSERT_TRUE(Fold(AggregateOp::kWeightedSum, acc, one, 2).ok());
  const double two[] = {1, 2};
  ExpectInvalid(
      FoldBlock(AggregateOp::kWeightedSum, acc, {&ptr, 1}, two, &index),
      "FoldBlock: 2 weights for 1 values");
  EXPECT_EQ(index, -1);
  EXPECT_FALSE(acc.failed());
  EXPECT_EQ(acc.count(), 1);
}

}  // namespace
}  // namespace fedexec::exec
