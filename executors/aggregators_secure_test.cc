// Specification of the secure sums of the aggregators
// (executors/aggregators.h, implemented in aggregators_secure.cc):
// federated_secure_sum's bounds (shared, per leaf, per element), its exact
// int64 sums and their overflow, bit widths, moduli, the errors naming the
// path and element at fault, and merges of secure partials.
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "executors/aggregators.h"
#include "executors/aggregators_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/value_syntax.h"

namespace fedexec::exec {
namespace {

using aggregators_test::ExpectInvalid;
using aggregators_test::ExpectValue;
using aggregators_test::V;
using aggregators_test::Vs;

SecureBound Bound(const char* text) {
  absl::StatusOr<SecureBound> b = SecureBound::ForSecureSum(V(text));
  EXPECT_TRUE(b.ok()) << b.status();
  return *b;
}
SecureBound Bits(const char* text) {
  absl::StatusOr<SecureBound> b = SecureBound::ForBitwidth(V(text));
  EXPECT_TRUE(b.ok()) << b.status();
  return *b;
}
SecureBound Modulus(const char* text) {
  absl::StatusOr<SecureBound> b = SecureBound::ForModularSum(V(text));
  EXPECT_TRUE(b.ok()) << b.status();
  return *b;
}

absl::StatusOr<Value> SecureSum(const std::vector<Value>& xs,
                                const SecureBound& bound) {
  Accumulator acc;
  for (const Value& x : xs) {
    absl::Status s = bound.op() == AggregateOp::kSecureSum
                         ? FoldSecure(acc, x, bound)
                     : bound.op() == AggregateOp::kSecureSumBitwidth
                         ? FoldBitwidth(acc, x, bound)
                         : FoldModular(acc, x, bound);
    if (!s.ok()) return s;
  }
  return Finish(std::move(acc));
}

// ----------------------------------------------------------- secure sums

TEST(AggregatorsTest, SecureSumInRange) {
  ExpectValue(SecureSum(Vs({"1", "2", "10"}), Bound("10")), "13");
  ExpectValue(
      SecureSum(Vs({"<a=[0, 5], b=uint8(7)>", "<a=[10, 5], b=uint8(3)>"}),
                Bound("int64(10)")),
      "<a=[10, 10], b=uint8(10)>");
  // The result keeps every leaf's dtype.
  ExpectValue(SecureSum(Vs({"<int8(1), uint64(2), int64(3), uint16(4)>",
                            "<int8(1), uint64(2), int64(3), uint16(4)>"}),
                        Bound("100")),
              "<int8(2), uint64(4), int64(6), uint16(8)>");
  // The Value overload.
  Accumulator acc;
  ASSERT_TRUE(FoldSecure(acc, V("[1, 2]"), V("5")).ok());
  ASSERT_TRUE(FoldSecure(acc, V("[3, 3]"), V("5")).ok());
  ExpectValue(Finish(std::move(acc)), "[4, 5]");
}

TEST(AggregatorsTest, SecureSumOutOfRange) {
  ExpectInvalid(
      SecureSum(Vs({"<[1, 2, 3, 4], 0>", "<[1, 2, 3, 12], 0>"}), Bound("10"))
          .status(),
      "federated_secure_sum: value 12 at [0] element 3 is outside "
      "[0, 10]");
  ExpectInvalid(
      SecureSum(Vs({"<a=[1, 2]>", "<a=[-1, 2]>"}), Bound("10")).status(),
      "federated_secure_sum: value -1 at .a element 0 is outside "
      "[0, 10]");
  // The first value is checked as well, and scalars have no element index.
  ExpectInvalid(SecureSum(Vs({"11"}), Bound("10")).status(),
                "federated_secure_sum: value 11 is outside [0, 10]");
  ExpectInvalid(
      SecureSum(Vs({"[0, 1]", "[-5, 1]"}), Bound("3")).status(),
      "federated_secure_sum: value -5 at element 0 is outside [0, 3]");
  Accumulator acc;
  EXPECT_FALSE(FoldSecure(acc, V("11"), Bound("10")).ok());
  EXPECT_TRUE(acc.failed());
}

TEST(AggregatorsTest, SecureSumPerLeafAndPerElementBounds) {
  const std::vector<Value> xs =
      Vs({"<a=[1, 2], b=<c=5, d=[7, 8]>>", "<a=[3, 0], b=<c=0, d=[0, 0]>>"});
  const char* sum = "<a=[4, 2], b=<c=5, d=[7, 8]>>";
  ExpectValue(SecureSum(xs, Bound("<3, <5, 8>>")), sum);
  // A tensor covers the whole subtree below it.
  ExpectValue(SecureSum(xs, Bound("<3, 8>")), sum);
  // A tensor of the leaf's shape bounds element by element.
  ExpectValue(SecureSum(xs, Bound("<[3, 2], <5, [7, 8]>>")), sum);
  ExpectInvalid(SecureSum(xs, Bound("<3, <5, [8, 7]>>")).status(),
                "federated_secure_sum: value 8 at .b.d element 1 is outside "
                "[0, 7]");
  ExpectInvalid(SecureSum(xs, Bound("<2, 8>")).status(),
                "federated_secure_sum: value 3 at .a element 0 is outside "
                "[0, 2]");
  // Names in the bound are not compared.
  ExpectValue(SecureSum(xs, Bound("<p=3, q=<r=5, s=8>>")), sum);
}

TEST(AggregatorsTest, SecureBoundErrors) {
  ExpectInvalid(SecureBound::ForSecureSum(V("<1, [2, -1]>")).status(),
                "federated_secure_sum: bound M at [1] element 1 is -1, must be "
                ">= 0");
  ExpectInvalid(SecureBound::ForSecureSum(V("<a=1.0>")).status(),
                "federated_secure_sum: bound M at .a is float32, not an "
                "integer tensor");
  ExpectInvalid(SecureBound::ForSecureSum(V("seq[1]")).status(),
                "federated_secure_sum: bound M is a sequence, not an integer "
                "tensor");
  // Bounds that do not fit the value's structure.
  ExpectInvalid(
      SecureSum(Vs({"<a=1, b=<2, 3>>"}), Bound("<1, <5, 5, 5>>")).status(),
      "federated_secure_sum: at .b: the bound M is a struct of 3 "
      "elements, but the value is a struct of 2 elements");
  ExpectInvalid(SecureSum(Vs({"<a=1, b=2>"}), Bound("<1, <2>>")).status(),
                "federated_secure_sum: at .b: the bound M is a struct of 1 "
                "element, but the value is int32");
  ExpectInvalid(SecureSum(Vs({"1"}), Bound("<1>")).status(),
                "federated_secure_sum: the bound M is a struct of 1 element, "
                "but the value is int32");
  ExpectInvalid(SecureSum(Vs({"[1, 2, 3]"}), Bound("[5, 5]")).status(),
                "federated_secure_sum: the bound M has shape [2], expected a "
                "scalar or the value's shape [3]");
  // Values must be integers.
  ExpectInvalid(SecureSum(Vs({"<1, 1.5>"}), Bound("3")).status(),
                "federated_secure_sum: at [1]: expected an integer tensor, "
                "found float32");
  // A bit-width bound is not a secure-sum bound.
  Accumulator acc;
  EXPECT_EQ(FoldSecure(acc, V("1"), Bits("3")).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(AggregatorsTest, SecureSumIsExactAndChecksOverflow) {
  // 2^62 + 2^62 = 2^63 does not fit int64.
  const char* big = "int64(4611686018427387904)";
  const SecureBound any = Bound("int64(9223372036854775807)");
  ExpectInvalid(SecureSum(Vs({big, big}), any).status(),
                "federated_secure_sum: the sum overflows int64");
  Accumulator a, b;
  const Value pair = V("<x=int64([1, 4611686018427387904])>");
  ASSERT_TRUE(FoldSecure(a, pair, any).ok());
  ASSERT_TRUE(FoldSecure(b, pair, any).ok());
  ExpectInvalid(
      Merge(AggregateOp::kSecureSum, a, std::move(b)),
      "federated_secure_sum: the sum at .x element 1 overflows int64");
  // uint64 values above int64's range cannot be summed exactly.
  ExpectInvalid(SecureSum(Vs({"uint64(9223372036854775808)"}),
                          Bound("uint64(18446744073709551615)"))
                    .status(),
                "federated_secure_sum: the sum overflows int64");
  // A sum that does not fit the value's dtype is an error, not a wrap.
  ExpectInvalid(
      SecureSum(Vs({"2000000000", "1000000000"}), Bound("2000000000")).status(),
      "federated_secure_sum: the sum 3000000000 does not fit int32");
  ExpectInvalid(
      SecureSum(Vs({"<a=uint8([200, 1])>", "<a=uint8([100, 1])>"}),
                Bound("255"))
          .status(),
      "federated_secure_sum: the sum 300 at .a element 0 does not fit "
      "uint8");
  // Sums past 2^31 are fine in int64.
  ExpectValue(SecureSum(Vs({"int64(2000000000)", "int64(2000000000)"}),
                        Bound("2000000000")),
              "int64(4000000000)");
}

TEST(AggregatorsTest, SecureSumMerges) {
  const SecureBound m = Bound("<10, [5, 6]>");
  Accumulator a, b, c;
  ASSERT_TRUE(FoldSecure(a, V("<int8(3), [1, 2]>"), m).ok());
  ASSERT_TRUE(FoldSecure(b, V("<int8(4), [5, 6]>"), m).ok());
  ASSERT_TRUE(FoldSecure(b, V("<int8(9), [0, 6]>"), m).ok());
  ASSERT_TRUE(Merge(AggregateOp::kSecureSum, c, std::move(a)).ok());
  ASSERT_TRUE(Merge(AggregateOp::kSecureSum, c, std::move(b)).ok());
  EXPECT_EQ(c.count(), 3);
  ExpectValue(Finish(std::move(c)), "<int8(16), [6, 14]>");
  // Folds with another (equal) bound object are fine.
  Accumulator d;
  ASSERT_TRUE(FoldSecure(d, V("1"), Bound("3")).ok());
  ASSERT_TRUE(FoldSecure(d, V("3"), Bound("3")).ok());
  ASSERT_TRUE(FoldSecure(d, V("5"), Bound("5")).ok());
  ExpectValue(Finish(std::move(d)), "9");
}

TEST(AggregatorsTest, SecureSumBitwidth) {
  // B = 3: each value in [0, 8); the sum is exact, not reduced modulo 2^B
  // (federated_language: its width grows with the number of clients).
  ExpectValue(SecureSum(Vs({"5", "6"}), Bits("3")), "11");
  ExpectValue(SecureSum(Vs({"[7, 7, 1]", "[7, 1, 1]", "[7, 0, 1]"}), Bits("3")),
              "[21, 8, 3]");
  // Per leaf: a in [0, 4), b in [0, 16).
  ExpectValue(SecureSum(Vs({"<a=3, b=uint8(15)>", "<a=3, b=uint8(15)>"}),
                        Bits("<2, 4>")),
              "<a=6, b=uint8(30)>");
  // Per element.
  ExpectValue(SecureSum(Vs({"[3, 7]", "[3, 7]"}), Bits("[2, 3]")), "[6, 14]");
  // Merges add exactly too.
  Accumulator a, b;
  ASSERT_TRUE(FoldBitwidth(a, V("5"), Bits("3")).ok());
  ASSERT_TRUE(FoldBitwidth(b, V("6"), Bits("3")).ok());
  ASSERT_TRUE(Merge(AggregateOp::kSecureSumBitwidth, a, std::move(b)).ok());
  ExpectValue(Finish(std::move(a)), "11");
  // Large widths: 2^61 + 2^61 = 2^62.
  ExpectValue(SecureSum(Vs({"int64(2305843009213693951)",
                            "int64(2305843009213693951)"}),
                        Bits("62")),
              "int64(4611686018427387902)");
  // The Value overload.
  Accumulator v;
  ASSERT_TRUE(FoldBitwidth(v, V("[1, 2]"), V("2")).ok());
  ASSERT_TRUE(FoldBitwidth(v, V("[3, 3]"), V("2")).ok());
  ExpectValue(Finish(std::move(v)), "[4, 5]");
  // Each fold checks its own bit widths; the sum does not depend on them.
  Accumulator w;
  ASSERT_TRUE(FoldBitwidth(w, V("[1, 1]"), Bits("3")).ok());
  ASSERT_TRUE(FoldBitwidth(w, V("[9, 1]"), Bits("[4, 3]")).ok());
  ExpectValue(Finish(std::move(w)), "[10, 2]");
}

TEST(AggregatorsTest, SecureSumBitwidthErrors) {
  ExpectInvalid(SecureSum(Vs({"5", "8"}), Bits("3")).status(),
                "federated_secure_sum_bitwidth: value 8 is outside [0, 8) "
                "(bit width 3)");
  ExpectInvalid(SecureSum(Vs({"<a=[1, -1]>"}), Bits("3")).status(),
                "federated_secure_sum_bitwidth: value -1 at .a element 1 is "
                "outside [0, 8) (bit width 3)");
  for (const char* bad : {"0", "63", "-1", "int64(100)"}) {
    EXPECT_EQ(SecureBound::ForBitwidth(V(bad)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  ExpectInvalid(SecureBound::ForBitwidth(V("63")).status(),
                "federated_secure_sum_bitwidth: bit width B is 63, must be in "
                "[1, 62]");
  ExpectInvalid(SecureBound::ForBitwidth(V("<a=3, b=[4, 0]>")).status(),
                "federated_secure_sum_bitwidth: bit width B at .b element 1 is "
                "0, must be in [1, 62]");
  ExpectInvalid(SecureBound::ForBitwidth(V("3.0")).status(),
                "federated_secure_sum_bitwidth: bit width B is float32, not an "
                "integer tensor");
  // The exact sum must fit the values' dtype: an error, not a wrap.
  ExpectInvalid(SecureSum(Vs({"int8(100)", "int8(100)"}), Bits("7")).status(),
                "federated_secure_sum_bitwidth: the sum 200 does not fit int8");
  ExpectInvalid(
      SecureSum(Vs({"<x=uint8([255, 1])>", "<x=uint8([1, 1])>"}), Bits("8"))
          .status(),
      "federated_secure_sum_bitwidth: the sum 256 at .x element 0 does not "
      "fit uint8");
  // ... and int64 itself.
  ExpectInvalid(
      SecureSum(Vs({"int64(4611686018427387903)", "int64(4611686018427387903)",
                    "int64(4611686018427387903)"}),
                Bits("62"))
          .status(),
      "federated_secure_sum_bitwidth: the sum overflows int64");
  Accumulator l, r;
  ASSERT_TRUE(
      FoldBitwidth(l, V("<x=int64(4611686018427387903)>"), Bits("62")).ok());
  ASSERT_TRUE(
      FoldBitwidth(l, V("<x=int64(4611686018427387903)>"), Bits("62")).ok());
  ASSERT_TRUE(
      FoldBitwidth(r, V("<x=int64(4611686018427387903)>"), Bits("62")).ok());
  ExpectInvalid(Merge(AggregateOp::kSecureSumBitwidth, l, std::move(r)),
                "federated_secure_sum_bitwidth: the sum at .x overflows int64");
  // A secure-sum bound is not a bit width.
  Accumulator s;
  EXPECT_EQ(FoldBitwidth(s, V("1"), Bound("3")).code(),
            absl::StatusCode::kFailedPrecondition);
  // Secure and plain accumulators do not mix.
  Accumulator p;
  ASSERT_TRUE(FoldSecure(p, V("1"), Bound("3")).ok());
  EXPECT_EQ(Fold(AggregateOp::kSum, p, V("1")).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(AggregatorsTest, SecureModularSum) {
  // M = 7: each value in [0, 7), the sum modulo 7.
  ExpectValue(SecureSum(Vs({"5", "6", "4"}), Modulus("7")), "1");
  ExpectValue(SecureSum(Vs({"[6, 0, 1]", "[6, 0, 6]"}), Modulus("7")),
              "[5, 0, 0]");
  // Per leaf and per element; the values keep their dtype.
  ExpectValue(SecureSum(Vs({"<a=uint8(9), b=int64([2, 4])>",
                            "<a=uint8(9), b=int64([2, 4])>"}),
                        Modulus("<10, [3, 5]>")),
              "<a=uint8(8), b=int64([1, 3])>");
  // Merges reduce modulo M too.
  Accumulator a, b;
  ASSERT_TRUE(FoldModular(a, V("5"), Modulus("7")).ok());
  ASSERT_TRUE(FoldModular(b, V("6"), Modulus("7")).ok());
  ASSERT_TRUE(Merge(AggregateOp::kSecureModularSum, a, std::move(b)).ok());
  EXPECT_EQ(a.count(), 2);
  ExpectValue(Finish(std::move(a)), "4");
  // The largest modulus: sums near 2^63 do not overflow.
  const char* big = "int64(9223372036854775806)";  // 2^63 - 2
  ExpectValue(
      SecureSum(Vs({big, big, big}), Modulus("int64(9223372036854775807)")),
      "int64(9223372036854775804)");
  // The Value overload, and FoldWithBound.
  Accumulator v;
  ASSERT_TRUE(FoldModular(v, V("[1, 2]"), V("3")).ok());
  ASSERT_TRUE(FoldWithBound(v, V("[2, 2]"), Modulus("3")).ok());
  ExpectValue(Finish(std::move(v)), "[0, 1]");
  // M = 1: every value is 0.
  ExpectValue(SecureSum(Vs({"0", "0"}), Modulus("1")), "0");
}

TEST(AggregatorsTest, SecureModularSumErrors) {
  ExpectInvalid(SecureSum(Vs({"5", "7"}), Modulus("7")).status(),
                "federated_secure_modular_sum: value 7 is outside [0, 7)");
  ExpectInvalid(SecureSum(Vs({"<a=[1, -1]>"}), Modulus("7")).status(),
                "federated_secure_modular_sum: value -1 at .a element 1 is "
                "outside [0, 7)");
  ExpectInvalid(SecureBound::ForModularSum(V("0")).status(),
                "federated_secure_modular_sum: modulus M is 0, must be in [1, "
                "9223372036854775807]");
  ExpectInvalid(
      SecureBound::ForModularSum(V("<a=3, b=[4, -2]>")).status(),
      "federated_secure_modular_sum: modulus M at .b element 1 is -2, "
      "must be in [1, 9223372036854775807]");
  ExpectInvalid(
      SecureBound::ForModularSum(V("uint64(9223372036854775808)")).status(),
      "federated_secure_modular_sum: modulus M is 9223372036854775808, must "
      "be in [1, 9223372036854775807]");
  ExpectInvalid(SecureBound::ForModularSum(V("7.0")).status(),
                "federated_secure_modular_sum: modulus M is float32, not an "
                "integer tensor");
  ExpectInvalid(SecureSum(Vs({"[1, 2]"}), Modulus("[3, 4, 5]")).status(),
                "federated_secure_modular_sum: the modulus M has shape [3], "
                "expected a scalar or the value's shape [2]");
  ExpectInvalid(SecureSum(Vs({"1.0"}), Modulus("3")).status(),
                "federated_secure_modular_sum: expected an integer tensor, "
                "found float32");
  // Every fold and merge of one sum uses the same moduli.
  Accumulator a;
  ASSERT_TRUE(FoldModular(a, V("[1, 1]"), Modulus("3")).ok());
  ASSERT_TRUE(FoldModular(a, V("[1, 1]"), Modulus("[3, 3]")).ok());  // same
  ExpectInvalid(FoldModular(a, V("[1, 1]"), Modulus("[3, 4]")),
                "federated_secure_modular_sum: the moduli at element 1 differ "
                "(3 and 4): every fold and merge of one sum must use the same");
  Accumulator l, r;
  ASSERT_TRUE(FoldModular(l, V("<x=1>"), Modulus("3")).ok());
  ASSERT_TRUE(FoldModular(r, V("<x=1>"), Modulus("5")).ok());
  ExpectInvalid(Merge(AggregateOp::kSecureModularSum, l, std::move(r)),
                "federated_secure_modular_sum: the moduli at .x differ (3 and "
                "5): every fold and merge of one sum must use the same");
  // Bounds of the other secure sums are not moduli, and the other way round.
  Accumulator s;
  EXPECT_EQ(FoldModular(s, V("1"), Bound("3")).code(),
            absl::StatusCode::kFailedPrecondition);
  Accumulator t;
  EXPECT_EQ(FoldSecure(t, V("1"), Modulus("3")).code(),
            absl::StatusCode::kFailedPrecondition);
  Accumulator u;
  EXPECT_EQ(Fold(AggregateOp::kSecureModularSum, u, V("1")).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(AggregatorsTest, SecureModularPartialsRoundTrip) {
  const SecureBound m = Modulus("<7, [5, 6]>");
  Accumulator a, b;
  ASSERT_TRUE(FoldModular(a, V("<int8(3), [1, 2]>"), m).ok());
  ASSERT_TRUE(FoldModular(a, V("<int8(6), [4, 5]>"), m).ok());
  ASSERT_TRUE(FoldModular(b, V("<int8(6), [4, 5]>"), m).ok());
  absl::StatusOr<ExportedPartial> e = ExportPartial(std::move(a));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->op, AggregateOp::kSecureModularSum);
  absl::StatusOr<Accumulator> back = ImportPartial(
      AggregateOp::kSecureModularSum, e->count, e->total_weight, e->value, &m);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(Merge(AggregateOp::kSecureModularSum, *back, std::move(b)).ok());
  EXPECT_EQ(back->count(), 3);
  ExpectValue(Finish(*std::move(back)), "<int8(1), [4, 0]>");
  // A running sum that is not below its modulus is refused.
  absl::StatusOr<Accumulator> bad = ImportPartial(
      AggregateOp::kSecureModularSum, 1, 1,
      V("<sums=<int64(7), int64([0, 0])>, dtypes=<int8[0]([]), int32[0]([])>>"),
      &m);
  ExpectInvalid(bad.status(),
                "partial federated_secure_modular_sum aggregate: the running "
                "sum 7 at [0] is outside [0, 7)");
}

}  // namespace
}  // namespace fedexec::exec
