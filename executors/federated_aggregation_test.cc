// Tests of the federating executor's aggregations
// (executors/federated_aggregation.h), through the Executor interface:
// sum, mean, min, max, weighted mean, federated_aggregate and the secure
// sums by hand-checked values; bit-identical results across thread counts
// and between concrete and lazy members over thousands of clients.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "core/tree_reduce.h"
#include "core/value.h"
#include "executors/federating_executor.h"
#include "executors/federating_executor_test_util.h"
#include "executors/leaf_executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/ast.h"
#include "ir/intrinsics.h"
#include "ir/value_syntax.h"
#include "runtimes/native/registry.h"
#include "testing/concurrency.h"
#include "testing/native_runtime.h"
#include "testing/types.h"

namespace fedexec::exec {
namespace {

using federating_test::Fail;
using federating_test::Inc;
using federating_test::inc_calls;
using federating_test::PerClient;
using federating_test::Pick;
using federating_test::pick_calls;
using federating_test::Probe;
using federating_test::probe_calls;
using federating_test::probe_live;
using federating_test::probe_max_live;
using federating_test::RegisterTestFunctions;
using federating_test::ResetCounters;
using federating_test::Slow;
using federating_test::slow_started;
using federating_test::Stack;
using federating_test::V;
using ::fedexec::test_util::T;
using ::testing::HasSubstr;

// ----------------------------------------------------- aggregations

TEST(FederatingExecutorTest, SumMeanMinMax) {
  Stack s(3);
  OwnedValue x = s.Text("{1.0, -2.0, 4.0}@CLIENTS");
  EXPECT_VALUE(s.Run("federated_sum", "{float32}@CLIENTS", x), "3.0@SERVER");
  EXPECT_VALUE(s.Run("federated_mean", "{float32}@CLIENTS", x), "1.0@SERVER");
  EXPECT_VALUE(s.Run("federated_min", "{float32}@CLIENTS", x), "-2.0@SERVER");
  EXPECT_VALUE(s.Run("federated_max", "{float32}@CLIENTS", x), "4.0@SERVER");

  OwnedValue ints = s.Text("{[1, 5], [3, -2], [2, 2]}@CLIENTS");
  EXPECT_VALUE(s.Run("federated_sum", "{int32[2]}@CLIENTS", ints),
               "[6, 5]@SERVER");
  EXPECT_VALUE(s.Run("federated_min", "{int32[2]}@CLIENTS", ints),
               "[1, -2]@SERVER");
  EXPECT_VALUE(s.Run("federated_max", "{int32[2]}@CLIENTS", ints),
               "[3, 5]@SERVER");

  // All-equal x over 3 clients counts 3 times.
  OwnedValue same = s.Text("<a=1.5, b=<c=[1, 2]>>@CLIENTS");
  EXPECT_VALUE(
      s.Run("federated_sum", "{<a=float32,b=<c=int32[2]>>}@CLIENTS", same),
      "<a=4.5, b=<c=[3, 6]>>@SERVER");
  OwnedValue same_f = s.Text("2.5@CLIENTS");
  EXPECT_VALUE(s.Run("federated_mean", "{float32}@CLIENTS", same_f),
               "2.5@SERVER");

  // Nested named structs.
  OwnedValue nested = s.Text(
      "{<a=1.0, b=<c=[1.0, 2.0]>>, <a=2.0, b=<c=[3.0, 4.0]>>, "
      "<a=3.0, b=<c=[5.0, 0.0]>>}@CLIENTS");
  const char* nested_type = "{<a=float32,b=<c=float32[2]>>}@CLIENTS";
  EXPECT_VALUE(s.Run("federated_sum", nested_type, nested),
               "<a=6.0, b=<c=[9.0, 6.0]>>@SERVER");
  EXPECT_VALUE(s.Run("federated_mean", nested_type, nested),
               "<a=2.0, b=<c=[3.0, 2.0]>>@SERVER");
  // The mean is the sum divided by the count, not multiplied by the rounded
  // reciprocal: seven float32 1.5s give 1.5 (10.5f * (1.0f / 7) would be
  // 1.5000001).
  {
    Stack seven(7);
    OwnedValue v = seven.Text("{1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5}@CLIENTS");
    EXPECT_VALUE(seven.Run("federated_mean", "{float32}@CLIENTS", v),
                 "1.5@SERVER");
    OwnedValue h = seven.Text(
        "{float16(1.5), float16(1.5), float16(1.5), float16(1.5), "
        "float16(1.5), float16(1.5), float16(1.5)}@CLIENTS");
    EXPECT_VALUE(seven.Run("federated_mean", "{float16}@CLIENTS", h),
                 "float16(1.5)@SERVER");
  }
  EXPECT_VALUE(s.Run("federated_min", nested_type, nested),
               "<a=1.0, b=<c=[1.0, 0.0]>>@SERVER");
  EXPECT_VALUE(s.Run("federated_max", nested_type, nested),
               "<a=3.0, b=<c=[5.0, 4.0]>>@SERVER");
}

TEST(FederatingExecutorTest, WeightedMean) {
  Stack s(2);
  OwnedValue x =
      s.Text("{<a=1.0, b=[2.0, 0.0]>, <a=3.0, b=[6.0, 4.0]>}@CLIENTS");
  OwnedValue w = s.Text("{1.0, 3.0}@CLIENTS");
  OwnedValue xw = s.Struct({&x, &w});
  EXPECT_VALUE(
      s.Run("federated_weighted_mean",
            "<{<a=float32,b=float32[2]>}@CLIENTS,{float32}@CLIENTS>", xw),
      "<a=2.5, b=[5.0, 3.0]>@SERVER");
  OwnedValue bad_w = s.Text("{1.0, -3.0}@CLIENTS");
  OwnedValue xb = s.Struct({&x, &bad_w});
  EXPECT_ERROR(
      s.Run("federated_weighted_mean",
            "<{<a=float32,b=float32[2]>}@CLIENTS,{float32}@CLIENTS>", xb),
      absl::StatusCode::kInvalidArgument,
      "federated_weighted_mean: client 1: ");
  // Integer weights (example counts) as well.
  OwnedValue iw = s.Text("{1, 3}@CLIENTS");
  OwnedValue xiw = s.Struct({&x, &iw});
  EXPECT_VALUE(
      s.Run("federated_weighted_mean",
            "<{<a=float32,b=float32[2]>}@CLIENTS,{int32}@CLIENTS>", xiw),
      "<a=2.5, b=[5.0, 3.0]>@SERVER");
  OwnedValue neg = s.Text("{int64(1), int64(-2)}@CLIENTS");
  OwnedValue xneg = s.Struct({&x, &neg});
  EXPECT_ERROR(
      s.Run("federated_weighted_mean",
            "<{<a=float32,b=float32[2]>}@CLIENTS,{int64}@CLIENTS>", xneg),
      absl::StatusCode::kInvalidArgument,
      "federated_weighted_mean: client 1: weight -2 is negative");
  OwnedValue zero = s.Text("{0, 0}@CLIENTS");
  OwnedValue xzero = s.Struct({&x, &zero});
  EXPECT_ERROR(
      s.Run("federated_weighted_mean",
            "<{<a=float32,b=float32[2]>}@CLIENTS,{int32}@CLIENTS>", xzero),
      absl::StatusCode::kInvalidArgument,
      "federated_weighted_mean: the weights sum to 0");
  // A division by the total weight: seven weights of 1 give the mean 1.5.
  Stack seven(7);
  OwnedValue v = seven.Text("{1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5}@CLIENTS");
  OwnedValue ones = seven.Text("{1, 1, 1, 1, 1, 1, 1}@CLIENTS");
  OwnedValue vo = seven.Struct({&v, &ones});
  EXPECT_VALUE(seven.Run("federated_weighted_mean",
                         "<{float32}@CLIENTS,{int32}@CLIENTS>", vo),
               "1.5@SERVER");
}

TEST(FederatingExecutorTest, AggregationBlockSizeDependsOnTheClientCount) {
  EXPECT_EQ(AggregationBlockSize(0), 1);
  EXPECT_EQ(AggregationBlockSize(10), 1);
  EXPECT_EQ(AggregationBlockSize(64), 1);
  EXPECT_EQ(AggregationBlockSize(65), 2);
  EXPECT_EQ(AggregationBlockSize(129), 4);
  EXPECT_EQ(AggregationBlockSize(300), 8);
  EXPECT_EQ(AggregationBlockSize(512), 8);
  EXPECT_EQ(AggregationBlockSize(513), 16);
  EXPECT_EQ(AggregationBlockSize(1000), 16);
  EXPECT_EQ(AggregationBlockSize(int64_t{1} << 40), kMaxAggregationBlockSize);
}

TEST(FederatingExecutorTest, Aggregate) {
  // accumulate = subtract, merge = add, report = negate: each block of
  // AggregationBlockSize(n) clients starts from zero, so the result is
  // -(blocks * zero - sum of x).
  struct Case {
    int n;
    int blocks;
  };
  for (const Case c : {Case{20, 20}, Case{1100, 69}}) {
    SCOPED_TRACE(c.n);
    const int64_t block = AggregationBlockSize(c.n);
    ASSERT_EQ((c.n + block - 1) / block, c.blocks);
    Stack s(c.n);
    std::vector<Value> xs;
    float total = 0;
    for (int i = 0; i < c.n; ++i) {
      xs.push_back(Value(Tensor::Scalar(static_cast<float>(i))));
      total += static_cast<float>(i);
    }
    OwnedValue x = s.Make(PerClient(std::move(xs)));
    OwnedValue zero = s.Text("100.0");
    OwnedValue sub = s.Native("subtract", "(<float32,float32> -> float32)");
    OwnedValue add = s.Native("add", "(<float32,float32> -> float32)");
    OwnedValue neg = s.Native("negate", "(float32 -> float32)");
    OwnedValue arg = s.Struct({&x, &zero, &sub, &add, &neg});
    const char* type =
        "<{float32}@CLIENTS,float32,(<float32,float32> -> float32),"
        "(<float32,float32> -> float32),(float32 -> float32)>";
    // Integers below 2^24: every sum is exact.
    const auto at_server = [](float v) {
      return ir::PrintValue(Value::Federated(Placement::kServer, true,
                                             {Value(Tensor::Scalar(v))}));
    };
    EXPECT_VALUE(s.Run("federated_aggregate", type, arg),
                 at_server(-(100.0f * c.blocks - total)));

    // An all-equal value aggregates as that value at every client.
    OwnedValue same = s.Text("1.0@CLIENTS");
    OwnedValue arg2 = s.Struct({&same, &zero, &sub, &add, &neg});
    EXPECT_VALUE(s.Run("federated_aggregate", type, arg2),
                 at_server(-(100.0f * c.blocks - static_cast<float>(c.n))));
  }
}

TEST(FederatingExecutorTest, AggregateOverZeroClientsReportsZero) {
  Stack s(0);
  OwnedValue x = s.Text("{}@CLIENTS");
  OwnedValue zero = s.Text("100.0");
  OwnedValue add = s.Native("add", "(<float32,float32> -> float32)");
  OwnedValue neg = s.Native("negate", "(float32 -> float32)");
  OwnedValue arg = s.Struct({&x, &zero, &add, &add, &neg});
  EXPECT_VALUE(s.Run("federated_aggregate",
                     "<{float32}@CLIENTS,float32,(<float32,float32> -> "
                     "float32),(<float32,float32> -> float32),(float32 -> "
                     "float32)>",
                     arg),
               "-100.0@SERVER");
}

TEST(FederatingExecutorTest, SecureSum) {
  Stack s(3);
  OwnedValue x = s.Text("{<1, [0, 10]>, <2, [5, 1]>, <3, [10, 10]>}@CLIENTS");
  OwnedValue m = s.Text("10");
  OwnedValue xm = s.Struct({&x, &m});
  const char* type = "<{<int32,int32[2]>}@CLIENTS,int32>";
  EXPECT_VALUE(s.Run("federated_secure_sum", type, xm), "<6, [15, 21]>@SERVER");
  // The bound may also be given at SERVER.
  OwnedValue ms = s.Text("10@SERVER");
  OwnedValue xms = s.Struct({&x, &ms});
  EXPECT_VALUE(s.Run("federated_secure_sum", type, xms),
               "<6, [15, 21]>@SERVER");
  // Out of range.
  OwnedValue small = s.Text("5");
  OwnedValue xs = s.Struct({&x, &small});
  EXPECT_ERROR(s.Run("federated_secure_sum", type, xs),
               absl::StatusCode::kInvalidArgument,
               "federated_secure_sum: client 0: value 10 at [1] element 1 is "
               "outside [0, 5]");
}

TEST(FederatingExecutorTest, SecureSumBitwidth) {
  Stack s(3);
  OwnedValue x = s.Text("{5, 6, 7}@CLIENTS");
  OwnedValue b = s.Text("3");
  OwnedValue xb = s.Struct({&x, &b});
  // Each value in [0, 8); the sum is exact (its width grows with the
  // number of clients), not 18 mod 8.
  EXPECT_VALUE(
      s.Run("federated_secure_sum_bitwidth", "<{int32}@CLIENTS,int32>", xb),
      "18@SERVER");
  OwnedValue big = s.Text("{5, 8, 7}@CLIENTS");
  OwnedValue bigb = s.Struct({&big, &b});
  EXPECT_ERROR(
      s.Run("federated_secure_sum_bitwidth", "<{int32}@CLIENTS,int32>", bigb),
      absl::StatusCode::kInvalidArgument,
      "federated_secure_sum_bitwidth: client 1: value 8 is outside [0, 8) "
      "(bit width 3)");
  // A sum that does not fit the values' dtype is an error, not wrapped.
  OwnedValue bytes = s.Text("{uint8(200), uint8(50), uint8(10)}@CLIENTS");
  OwnedValue b8 = s.Text("8");
  OwnedValue bytes_b = s.Struct({&bytes, &b8});
  EXPECT_ERROR(s.Run("federated_secure_sum_bitwidth", "<{uint8}@CLIENTS,int32>",
                     bytes_b),
               absl::StatusCode::kInvalidArgument,
               "federated_secure_sum_bitwidth: the sum 260 does not fit uint8");
  OwnedValue wide = s.Text("70");
  OwnedValue xw = s.Struct({&x, &wide});
  EXPECT_ERROR(
      s.Run("federated_secure_sum_bitwidth", "<{int32}@CLIENTS,int32>", xw),
      absl::StatusCode::kInvalidArgument, "bit width");
}

TEST(FederatingExecutorTest, SecureModularSum) {
  Stack s(3);
  OwnedValue x = s.Text("{<5, [0, 1]>, <6, [2, 1]>, <4, [1, 1]>}@CLIENTS");
  OwnedValue m = s.Text("7");
  OwnedValue xm = s.Struct({&x, &m});
  const char* type = "<{<int32,int32[2]>}@CLIENTS,int32>";
  // 15 mod 7, [3, 3] mod 7.
  EXPECT_VALUE(s.Run("federated_secure_modular_sum", type, xm),
               "<1, [3, 3]>@SERVER");
  // A modulus per element, given at SERVER.
  OwnedValue per = s.Text("<10, [3, 2]>@SERVER");
  OwnedValue xper = s.Struct({&x, &per});
  EXPECT_VALUE(s.Run("federated_secure_modular_sum",
                     "<{<int32,int32[2]>}@CLIENTS,<int32,int32[2]>>", xper),
               "<5, [0, 1]>@SERVER");
  // Each value must lie in [0, M).
  OwnedValue small = s.Text("6");
  OwnedValue xs = s.Struct({&x, &small});
  EXPECT_ERROR(s.Run("federated_secure_modular_sum", type, xs),
               absl::StatusCode::kInvalidArgument,
               "federated_secure_modular_sum: client 1: value 6 at [0] is "
               "outside [0, 6)");
  OwnedValue neg = s.Text("{<1, [0, 0]>, <-1, [0, 0]>, <0, [0, 0]>}@CLIENTS");
  OwnedValue negm = s.Struct({&neg, &m});
  EXPECT_ERROR(s.Run("federated_secure_modular_sum", type, negm),
               absl::StatusCode::kInvalidArgument,
               "federated_secure_modular_sum: client 1: value -1 at [0] is "
               "outside [0, 7)");
  OwnedValue zero = s.Text("0");
  OwnedValue xz = s.Struct({&x, &zero});
  EXPECT_ERROR(s.Run("federated_secure_modular_sum", type, xz),
               absl::StatusCode::kInvalidArgument,
               "federated_secure_modular_sum: modulus M is 0, must be in [1, "
               "9223372036854775807]");
  // Over zero clients: the zero.
  Stack none(0);
  OwnedValue nx = none.Text("{}@CLIENTS");
  OwnedValue nm = none.Text("7");
  EXPECT_VALUE(none.Run("federated_secure_modular_sum",
                        "<{int32[2]}@CLIENTS,int32>", none.Struct({&nx, &nm})),
               "[0, 0]@SERVER");
}

// ----------------------------------------------------- 10,000 clients

Value RandomClients(int64_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<Value> members;
  members.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    members.push_back(Value(Tensor::Scalar(dist(gen))));
  }
  return PerClient(std::move(members));
}

uint32_t Bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

TEST(FederatingExecutorTest, FloatSumAndMeanAreBitIdenticalAcrossThreads) {
  constexpr int64_t kClients = 10000;
  const Value data = RandomClients(kClients, 42);

  // The reference: TreeReduce over plain floats with the executor's block
  // size.
  ThreadPool ref_pool(3);
  absl::StatusOr<float> ref = TreeReduce(
      ref_pool, kClients,
      TreeReduceOptions{AggregationBlockSize(kClients), 0, nullptr},
      [] { return 0.0f; },
      [&](float& acc, int64_t c) {
        acc += data.federated().members[c].tensor().data<float>()[0];
      },
      [](float& left, float&& right) { left += right; });
  ASSERT_TRUE(ref.ok());
  const float ref_mean = *ref * static_cast<float>(1.0 / kClients);

  for (int threads : {1, 2, 8}) {
    SCOPED_TRACE(threads);
    Stack s(kClients, threads);
    OwnedValue x = s.Make(data);
    absl::StatusOr<Value> sum = s.Run("federated_sum", "{float32}@CLIENTS", x);
    ASSERT_TRUE(sum.ok()) << sum.status();
    EXPECT_EQ(Bits(sum->federated().members[0].tensor().data<float>()[0]),
              Bits(*ref));
    absl::StatusOr<Value> mean =
        s.Run("federated_mean", "{float32}@CLIENTS", x);
    ASSERT_TRUE(mean.ok()) << mean.status();
    EXPECT_EQ(Bits(mean->federated().members[0].tensor().data<float>()[0]),
              Bits(ref_mean));
  }
}

TEST(FederatingExecutorTest, MapThenSumOverTenThousandClients) {
  ResetCounters();
  constexpr int64_t kClients = 10000;
  Stack s(kClients, 4);
  std::vector<Value> members;
  int64_t expected = 0;
  for (int64_t i = 0; i < kClients; ++i) {
    members.push_back(Value(Tensor::Scalar(static_cast<float>(i % 7))));
    expected += i % 7 + 1;
  }
  OwnedValue x = s.Make(PerClient(std::move(members)));
  OwnedValue inc = s.Native("fed_test_inc", "(float32 -> float32)");
  OwnedValue arg = s.Struct({&inc, &x});
  OwnedValue mapped = s.CallOf(
      s.Intrinsic("federated_map", "<(float32 -> float32),{float32}@CLIENTS>"),
      arg);
  absl::StatusOr<Value> sum =
      s.Call(s.Intrinsic("federated_sum", "{float32}@CLIENTS"), mapped);
  ASSERT_TRUE(sum.ok()) << sum.status();
  // Small integers: every partial sum is exact in float32.
  EXPECT_EQ(sum->federated().members[0].tensor().data<float>()[0],
            static_cast<float>(expected));
  EXPECT_EQ(inc_calls.load(), kClients);
  absl::StatusOr<Value> m = s.Get(mapped);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->federated().members.size(), static_cast<size_t>(kClients));
  EXPECT_TRUE(m->federated().members[9].Equals(V("3.0")));
}

// Members handed in lazily, from a vector: the same data as a concrete
// value, through the unbuffered per-client folds.
class VectorMembers : public LazyMembers {
 public:
  explicit VectorMembers(std::vector<Value> members)
      : members_(std::move(members)) {}
  int64_t size() const override {
    return static_cast<int64_t>(members_.size());
  }
  absl::StatusOr<Value> Get(int64_t i) const override {
    return members_[static_cast<size_t>(i)];
  }

 private:
  const std::vector<Value> members_;
};

// The tensors of v, depth-first, as raw bytes (bit-identity).
std::string BitsOf(const Value& v) {
  if (v.is_federated()) return BitsOf(v.federated().members[0]);
  if (v.is_tensor()) {
    return absl::StrCat(
        v.tensor().TypeString(), ":",
        std::string(static_cast<const char*>(v.tensor().raw_data()),
                    v.tensor().byte_size()));
  }
  std::string out = "<";
  for (const auto& e : v.struct_value().elements) {
    absl::StrAppend(&out, e.name, "=", BitsOf(*e.value), ",");
  }
  return out + ">";
}

Value RandomFloats(std::mt19937& rng, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& e : v) e = std::uniform_real_distribution<float>(-10, 10)(rng);
  return Value(Tensor::Vector<float>(v));
}

// Large concrete members fold in blocks through FoldBlock; lazy ones one by
// one: the results and the errors must be the same.
TEST(FederatingExecutorTest, ConcreteAndLazyMembersAggregateBitIdentically) {
  constexpr int64_t kClients = 37;  // two full blocks and a partial one
  constexpr int64_t kBig = 20011;
  const std::string type = "<a=float32[20011],b=float32[3]>";
  std::mt19937 rng(77);
  std::vector<Value> members, weights;
  for (int64_t i = 0; i < kClients; ++i) {
    std::vector<std::pair<std::string, Value>> e;
    e.emplace_back("a", RandomFloats(rng, kBig));
    e.emplace_back("b", RandomFloats(rng, 3));
    members.push_back(Value::Struct(std::move(e)));
    weights.push_back(Value(Tensor::Scalar<float>(
        std::uniform_real_distribution<float>(0, 3)(rng))));
  }
  const Value concrete = PerClient(members);
  const Value lazy = Value::LazyFederated(
      Placement::kClients, std::make_shared<VectorMembers>(members));
  const Value concrete_w = PerClient(weights);
  for (int threads : {1, 3}) {
    SCOPED_TRACE(threads);
    Stack s(kClients, threads);
    OwnedValue c = s.Make(concrete);
    OwnedValue l = s.Make(lazy);
    OwnedValue w = s.Make(concrete_w);
    for (const char* uri : {"federated_sum", "federated_mean", "federated_min",
                            "federated_max"}) {
      SCOPED_TRACE(uri);
      const std::string arg_type = absl::StrCat("{", type, "}@CLIENTS");
      absl::StatusOr<Value> a = s.Run(uri, arg_type, c);
      absl::StatusOr<Value> b = s.Run(uri, arg_type, l);
      ASSERT_TRUE(a.ok()) << a.status();
      ASSERT_TRUE(b.ok()) << b.status();
      EXPECT_TRUE(BitsOf(*a) == BitsOf(*b));
    }
    const std::string wtype =
        absl::StrCat("<{", type, "}@CLIENTS,{float32}@CLIENTS>");
    OwnedValue cw = s.Struct({&c, &w});
    OwnedValue lw = s.Struct({&l, &w});
    absl::StatusOr<Value> a = s.Run("federated_weighted_mean", wtype, cw);
    absl::StatusOr<Value> b = s.Run("federated_weighted_mean", wtype, lw);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_TRUE(BitsOf(*a) == BitsOf(*b));

    // All-equal: one member for every client.
    OwnedValue same =
        s.Make(Value::Federated(Placement::kClients, true, {members[5]}));
    OwnedValue same_lazy = s.Make(Value::LazyFederated(
        Placement::kClients, std::make_shared<VectorMembers>(
                                 std::vector<Value>(kClients, members[5]))));
    absl::StatusOr<Value> x =
        s.Run("federated_sum", absl::StrCat("{", type, "}@CLIENTS"), same);
    absl::StatusOr<Value> y =
        s.Run("federated_sum", absl::StrCat("{", type, "}@CLIENTS"), same_lazy);
    ASSERT_TRUE(x.ok()) << x.status();
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_TRUE(BitsOf(*x) == BitsOf(*y));
  }
}

TEST(FederatingExecutorTest, ConcreteAndLazyMembersFailAlike) {
  constexpr int64_t kClients = 37;
  std::mt19937 rng(3);
  std::vector<Value> members, weights;
  for (int64_t i = 0; i < kClients; ++i) {
    members.push_back(RandomFloats(rng, 20000));
    weights.push_back(Value(Tensor::Scalar<float>(1.5f)));
  }
  auto run = [&](const char* uri, std::vector<Value> xs, std::vector<Value> ws,
                 bool lazy) -> absl::Status {
    Stack s(kClients, 2);
    const Value v =
        lazy ? Value::LazyFederated(Placement::kClients,
                                    std::make_shared<VectorMembers>(xs))
             : PerClient(xs);
    OwnedValue x = s.Make(v);
    if (ws.empty()) return s.Run(uri, "{float32[20000]}@CLIENTS", x).status();
    OwnedValue w = s.Make(PerClient(ws));
    OwnedValue xw = s.Struct({&x, &w});
    return s.Run(uri, "<{float32[20000]}@CLIENTS,{float32}@CLIENTS>", xw)
        .status();
  };
  // 37 clients: blocks of one. A member of another shape shows when its
  // block merges with its sibling, which names both; a bad weight when its
  // client is folded. Errors come in the tree's order: a block's fold, then
  // the merge that completes a node (core/tree_reduce.h).
  ASSERT_EQ(AggregationBlockSize(kClients), 1);
  struct Case {
    int64_t bad;        // the member of another shape
    std::string pair;   // the merge that finds it
    int64_t weight;     // the negative weight
    std::string first;  // the error reported with both
  };
  for (const Case& c : std::vector<Case>{
           {34, "clients [34, 35) and [35, 36): ", 35,
            "client 35: weight -1 is negative"},
           {34, "clients [34, 35) and [35, 36): ", 32,
            "client 32: weight -1 is negative"},
           {21, "clients [20, 21) and [21, 22): ", 22,
            "clients [20, 21) and [21, 22): expected float32[20000], found "
            "float32[19999]"},
           {21, "clients [20, 21) and [21, 22): ", 19,
            "client 19: weight -1 is negative"},
       }) {
    SCOPED_TRACE(absl::StrCat(c.bad, " ", c.weight));
    std::vector<Value> xs = members;
    xs[static_cast<size_t>(c.bad)] = RandomFloats(rng, 19999);
    absl::Status a = run("federated_mean", xs, {}, false);
    absl::Status b = run("federated_mean", xs, {}, true);
    EXPECT_EQ(a, b);
    EXPECT_THAT(std::string(a.message()),
                HasSubstr(absl::StrCat("federated_mean: ", c.pair)));
    std::vector<Value> ws = weights;
    ws[static_cast<size_t>(c.weight)] = Value(Tensor::Scalar<float>(-1.0f));
    absl::Status e = run("federated_weighted_mean", xs, ws, false);
    absl::Status f = run("federated_weighted_mean", xs, ws, true);
    EXPECT_EQ(e, f);
    EXPECT_THAT(std::string(e.message()),
                HasSubstr("federated_weighted_mean: " + c.first));
  }
}

}  // namespace
}  // namespace fedexec::exec
