// Tests of the built-in tensor kernels: every kernel on several dtypes and
// shapes with hand-checked values, each error case, matmul against a naive
// loop, the struct-recursive forms and the accumulation kernels.
#include "runtimes/native/kernels.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedexec::native {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using c64 = std::complex<float>;

template <typename T>
Tensor Vec(std::vector<T> v) {
  return Tensor::Vector<T>(v);
}
template <typename T>
Tensor Mat(std::vector<T> v, std::vector<int64_t> shape) {
  absl::StatusOr<Tensor> t = Tensor::FromSpan<T>(v, std::move(shape));
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}
Tensor Bools(std::vector<int> v, std::vector<int64_t> shape = {}) {
  if (shape.empty() && v.size() != 1) shape = {static_cast<int64_t>(v.size())};
  auto data = std::make_unique<bool[]>(v.size() + 1);
  for (size_t i = 0; i < v.size(); ++i) data[i] = v[i] != 0;
  return *Tensor::FromSpan<bool>(absl::MakeConstSpan(data.get(), v.size()),
                                 shape);
}
template <typename T>
std::vector<T> Data(const absl::StatusOr<Tensor>& t) {
  EXPECT_TRUE(t.ok()) << t.status();
  if (!t.ok()) return {};
  EXPECT_EQ(t->dtype(), DTypeOf<T>::value) << t->TypeString();
  auto span = t->data<T>();
  return std::vector<T>(span.begin(), span.end());
}
std::vector<int> BoolData(const absl::StatusOr<Tensor>& t) {
  EXPECT_TRUE(t.ok()) << t.status();
  if (!t.ok()) return {};
  EXPECT_EQ(t->dtype(), DType::kBool);
  std::vector<int> out;
  for (bool b : t->data<bool>()) out.push_back(b);
  return out;
}
void ExpectInvalid(const absl::Status& status, const std::string& substr) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(substr));
}
Float16 H(uint16_t bits) { return Float16{bits}; }
BFloat16 B(uint16_t bits) { return BFloat16{bits}; }

// ------------------------------------------------- element-wise, typed

template <typename T>
class RealKernelTest : public ::testing::Test {};
using RealTypes = ::testing::Types<int8_t, int16_t, int32_t, int64_t, uint8_t,
                                   uint16_t, uint32_t, uint64_t, float, double>;
TYPED_TEST_SUITE(RealKernelTest, RealTypes);

TYPED_TEST(RealKernelTest, Arithmetic) {
  using T = TypeParam;
  const Tensor a = Vec<T>({6, 4, 9, 0});
  const Tensor b = Vec<T>({3, 2, 1, 5});
  EXPECT_THAT(Data<T>(Add(a, b)), ElementsAre(9, 6, 10, 5));
  EXPECT_THAT(Data<T>(Subtract(a, Vec<T>({1, 2, 3, 0}))),
              ElementsAre(5, 2, 6, 0));
  EXPECT_THAT(Data<T>(Multiply(a, b)), ElementsAre(18, 8, 9, 0));
  EXPECT_THAT(Data<T>(Divide(a, b)), ElementsAre(2, 2, 9, 0));
  EXPECT_THAT(Data<T>(Minimum(a, b)), ElementsAre(3, 2, 1, 0));
  EXPECT_THAT(Data<T>(Maximum(a, b)), ElementsAre(6, 4, 9, 5));
}

TYPED_TEST(RealKernelTest, ScalarBroadcastsOnEitherSide) {
  using T = TypeParam;
  const Tensor m = Mat<T>({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor two = Tensor::Scalar<T>(2);
  absl::StatusOr<Tensor> r = Multiply(m, two);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_THAT(Data<T>(r), ElementsAre(2, 4, 6, 8, 10, 12));
  EXPECT_THAT(Data<T>(Add(two, m)), ElementsAre(3, 4, 5, 6, 7, 8));
  EXPECT_THAT(Data<T>(Subtract(Tensor::Scalar<T>(9), Vec<T>({1, 9}))),
              ElementsAre(8, 0));
  EXPECT_THAT(Data<T>(Maximum(m, Tensor::Scalar<T>(4))),
              ElementsAre(4, 4, 4, 4, 5, 6));
  EXPECT_THAT(BoolData(Less(m, Tensor::Scalar<T>(3))),
              ElementsAre(1, 1, 0, 0, 0, 0));
}

TYPED_TEST(RealKernelTest, ScalarsAndEmptyTensors) {
  using T = TypeParam;
  absl::StatusOr<Tensor> s = Add(Tensor::Scalar<T>(2), Tensor::Scalar<T>(3));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->rank(), 0);
  EXPECT_THAT(Data<T>(s), ElementsAre(5));
  absl::StatusOr<Tensor> e = Add(Vec<T>({}), Vec<T>({}));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->shape(), (std::vector<int64_t>{0}));
  absl::StatusOr<Tensor> e2 =
      Multiply(Mat<T>({}, {3, 0}), Tensor::Scalar<T>(1));
  ASSERT_TRUE(e2.ok());
  EXPECT_EQ(e2->shape(), (std::vector<int64_t>{3, 0}));
  EXPECT_TRUE(Negate(Vec<T>({})).ok());
}

TYPED_TEST(RealKernelTest, Comparisons) {
  using T = TypeParam;
  const Tensor a = Vec<T>({1, 2, 3});
  const Tensor b = Vec<T>({2, 2, 2});
  EXPECT_THAT(BoolData(Equal(a, b)), ElementsAre(0, 1, 0));
  EXPECT_THAT(BoolData(NotEqual(a, b)), ElementsAre(1, 0, 1));
  EXPECT_THAT(BoolData(Less(a, b)), ElementsAre(1, 0, 0));
  EXPECT_THAT(BoolData(LessEqual(a, b)), ElementsAre(1, 1, 0));
  EXPECT_THAT(BoolData(Greater(a, b)), ElementsAre(0, 0, 1));
  EXPECT_THAT(BoolData(GreaterEqual(a, b)), ElementsAre(0, 1, 1));
}

TYPED_TEST(RealKernelTest, NegateScaleCast) {
  using T = TypeParam;
  if constexpr (std::is_signed_v<T>) {
    EXPECT_THAT(Data<T>(Negate(Vec<T>({1, -2, 0}))), ElementsAre(-1, 2, 0));
  } else {
    EXPECT_THAT(Data<T>(Negate(Vec<T>({0, 1}))),
                ElementsAre(0, std::numeric_limits<T>::max()));
  }
  EXPECT_THAT(Data<T>(Scale(Vec<T>({2, 4, 10}), 1.5)), ElementsAre(3, 6, 15));
  EXPECT_THAT(Data<double>(Cast(Vec<T>({1, 2, 100}), DType::kFloat64)),
              ElementsAre(1.0, 2.0, 100.0));
  EXPECT_THAT(Data<T>(Cast(Vec<double>({1.9, 0, 100}), DTypeOf<T>::value)),
              ElementsAre(T(1.9), 0, 100));
  EXPECT_THAT(BoolData(Cast(Vec<T>({0, 3}), DType::kBool)), ElementsAre(0, 1));
  EXPECT_THAT(Data<T>(Cast(Bools({1, 0}), DTypeOf<T>::value)),
              ElementsAre(1, 0));
}

TYPED_TEST(RealKernelTest, Reductions) {
  using T = TypeParam;
  const Tensor m = Mat<T>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_THAT(Data<T>(ReduceSum(m)), ElementsAre(21));
  EXPECT_THAT(Data<T>(ReduceSum(m, {0})), ElementsAre(5, 7, 9));
  EXPECT_THAT(Data<T>(ReduceSum(m, {1})), ElementsAre(6, 15));
  EXPECT_THAT(Data<T>(ReduceSum(m, {-1})), ElementsAre(6, 15));
  EXPECT_THAT(Data<T>(ReduceSum(m, {1, 0})), ElementsAre(21));
  EXPECT_THAT(Data<T>(ReduceMean(m, {0})), ElementsAre(T(2.5), T(3.5), T(4.5)));
  EXPECT_THAT(Data<T>(ReduceMean(m, {1})), ElementsAre(2, 5));
  EXPECT_THAT(Data<T>(ReduceMean(Vec<T>({4, 8}))), ElementsAre(6));
  EXPECT_THAT(Data<T>(ReduceSum(Vec<T>({}))), ElementsAre(0));
}

TYPED_TEST(RealKernelTest, Accumulate) {
  using T = TypeParam;
  absl::StatusOr<MutableTensor> acc =
      MutableTensor::Zeros(DTypeOf<T>::value, {3});
  ASSERT_TRUE(acc.ok());
  ASSERT_TRUE(AccumulateAdd(*acc, Vec<T>({1, 2, 3})).ok());
  ASSERT_TRUE(AccumulateAdd(*acc, Vec<T>({4, 5, 6})).ok());
  EXPECT_THAT(acc->data<T>(), ElementsAre(5, 7, 9));
  ASSERT_TRUE(AccumulateScaledAdd(*acc, Vec<T>({1, 2, 3}), 2).ok());
  EXPECT_THAT(acc->data<T>(), ElementsAre(7, 11, 15));
  ASSERT_TRUE(AccumulateMin(*acc, Vec<T>({8, 1, 20})).ok());
  EXPECT_THAT(acc->data<T>(), ElementsAre(7, 1, 15));
  ASSERT_TRUE(AccumulateMax(*acc, Vec<T>({8, 0, 10})).ok());
  EXPECT_THAT(acc->data<T>(), ElementsAre(8, 1, 15));
  Tensor frozen = std::move(*acc).Freeze();
  EXPECT_THAT(frozen.data<T>(), ElementsAre(8, 1, 15));

  absl::StatusOr<MutableTensor> empty =
      MutableTensor::Zeros(DTypeOf<T>::value, {0});
  EXPECT_TRUE(AccumulateAdd(*empty, Vec<T>({})).ok());
  absl::StatusOr<MutableTensor> scalar =
      MutableTensor::Zeros(DTypeOf<T>::value, {});
  EXPECT_TRUE(AccumulateAdd(*scalar, Tensor::Scalar<T>(3)).ok());
  EXPECT_THAT(scalar->data<T>(), ElementsAre(3));
}

// Long enough for the vectorized loop bodies and their remainders.
TYPED_TEST(RealKernelTest, LongVectorsCoverVectorLoopsAndTails) {
  using T = TypeParam;
  for (int n : {1, 15, 16, 17, 63, 64, 100}) {
    std::vector<T> x(n), y(n);
    for (int i = 0; i < n; ++i) {
      x[i] = static_cast<T>(i % 50);
      y[i] = static_cast<T>((i * 7) % 50);
    }
    absl::StatusOr<MutableTensor> acc = MutableTensor::CopyOf(Vec<T>(x));
    ASSERT_TRUE(acc.ok());
    ASSERT_TRUE(AccumulateAdd(*acc, Vec<T>(y)).ok());
    std::vector<T> sum = Data<T>(Add(Vec<T>(x), Vec<T>(y)));
    T total = 0;
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(acc->data<T>()[i], static_cast<T>(x[i] + y[i]));
      EXPECT_EQ(sum[i], static_cast<T>(x[i] + y[i]));
      total = static_cast<T>(total + x[i]);
    }
    EXPECT_THAT(Data<T>(ReduceSum(Vec<T>(x))), ElementsAre(total)) << n;
  }
}

// ------------------------------------------------- element-wise, specifics

TEST(ElementwiseTest, IntegerArithmeticWraps) {
  EXPECT_THAT(Data<int8_t>(Add(Vec<int8_t>({127}), Vec<int8_t>({1}))),
              ElementsAre(-128));
  EXPECT_THAT(Data<uint8_t>(Subtract(Vec<uint8_t>({0}), Vec<uint8_t>({1}))),
              ElementsAre(255));
  EXPECT_THAT(
      Data<uint16_t>(Multiply(Vec<uint16_t>({65535}), Vec<uint16_t>({65535}))),
      ElementsAre(1));
  const int32_t kMin = std::numeric_limits<int32_t>::min();
  EXPECT_THAT(Data<int32_t>(Divide(Vec<int32_t>({kMin, -7, 7}),
                                   Vec<int32_t>({-1, 2, -2}))),
              ElementsAre(kMin, -3, -3));
  EXPECT_THAT(Data<int32_t>(Negate(Vec<int32_t>({kMin}))), ElementsAre(kMin));
  const int64_t kMax64 = std::numeric_limits<int64_t>::max();
  EXPECT_THAT(Data<int64_t>(Add(Vec<int64_t>({kMax64}), Vec<int64_t>({1}))),
              ElementsAre(std::numeric_limits<int64_t>::min()));
}

TEST(ElementwiseTest, IntegerDivisionByZeroIsAnError) {
  ExpectInvalid(Divide(Vec<int32_t>({1, 2}), Vec<int32_t>({1, 0})).status(),
                "divide: integer division by zero (operands int32[2] and "
                "int32[2])");
  ExpectInvalid(Divide(Vec<uint8_t>({1}), Tensor::Scalar<uint8_t>(0)).status(),
                "divide: integer division by zero");
}

TEST(ElementwiseTest, FloatFollowsIeee) {
  std::vector<float> r =
      Data<float>(Divide(Vec<float>({1, -1, 0}), Vec<float>({0, 0, 0})));
  EXPECT_EQ(r[0], std::numeric_limits<float>::infinity());
  EXPECT_EQ(r[1], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(r[2]));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(
      BoolData(Equal(Vec<float>({nan, 0.0f}), Vec<float>({nan, -0.0f}))),
      ElementsAre(0, 1));
  EXPECT_THAT(BoolData(NotEqual(Vec<float>({nan}), Vec<float>({nan}))),
              ElementsAre(1));
  std::vector<float> mn =
      Data<float>(Minimum(Vec<float>({nan, 1, 2}), Vec<float>({1, nan, 3})));
  EXPECT_TRUE(std::isnan(mn[0]));
  EXPECT_TRUE(std::isnan(mn[1]));
  EXPECT_EQ(mn[2], 2);
  std::vector<double> mx =
      Data<double>(Maximum(Vec<double>({1, 5}), Vec<double>({double(nan), 3})));
  EXPECT_TRUE(std::isnan(mx[0]));
  EXPECT_EQ(mx[1], 5);
}

TEST(ElementwiseTest, HalfPrecisionComputesInFloat) {
  // float16: 1.0 = 0x3C00, 2.0 = 0x4000, 3.0 = 0x4200, 0.5 = 0x3800.
  EXPECT_THAT(
      Data<Float16>(Add(Vec<Float16>({H(0x3C00)}), Vec<Float16>({H(0x4000)}))),
      ElementsAre(H(0x4200)));
  EXPECT_THAT(Data<Float16>(
                  Divide(Vec<Float16>({H(0x3C00)}), Vec<Float16>({H(0x4000)}))),
              ElementsAre(H(0x3800)));
  EXPECT_THAT(
      BoolData(Less(Vec<Float16>({H(0x3C00)}), Vec<Float16>({H(0x4000)}))),
      ElementsAre(1));
  // bfloat16: 1.0 = 0x3F80, 2.0 = 0x4000, 3.0 = 0x4040, -1.0 = 0xBF80.
  EXPECT_THAT(Data<BFloat16>(
                  Add(Vec<BFloat16>({B(0x3F80)}), Vec<BFloat16>({B(0x4000)}))),
              ElementsAre(B(0x4040)));
  EXPECT_THAT(Data<BFloat16>(Negate(Vec<BFloat16>({B(0x3F80)}))),
              ElementsAre(B(0xBF80)));
  EXPECT_THAT(Data<Float16>(Cast(Vec<float>({1.5f}), DType::kFloat16)),
              ElementsAre(H(0x3E00)));
  EXPECT_THAT(Data<float>(Cast(Vec<BFloat16>({B(0x4040)}), DType::kFloat32)),
              ElementsAre(3.0f));
  EXPECT_THAT(Data<Float16>(Scale(Vec<Float16>({H(0x4000)}), 1.5)),
              ElementsAre(H(0x4200)));
}

TEST(ElementwiseTest, Complex) {
  const Tensor a = Vec<c64>({{1, 2}, {3, -1}});
  const Tensor b = Vec<c64>({{0, 1}, {1, 1}});
  EXPECT_THAT(Data<c64>(Add(a, b)), ElementsAre(c64(1, 3), c64(4, 0)));
  EXPECT_THAT(Data<c64>(Multiply(a, b)), ElementsAre(c64(-2, 1), c64(4, 2)));
  EXPECT_THAT(Data<c64>(Negate(a)), ElementsAre(c64(-1, -2), c64(-3, 1)));
  EXPECT_THAT(Data<c64>(Scale(a, 2)), ElementsAre(c64(2, 4), c64(6, -2)));
  EXPECT_THAT(BoolData(Equal(a, a)), ElementsAre(1, 1));
  ExpectInvalid(Less(a, b).status(), "less: not defined for complex64");
  ExpectInvalid(Minimum(a, b).status(), "minimum: not defined for complex64");
  EXPECT_THAT(
      Data<std::complex<double>>(Cast(Vec<int32_t>({3}), DType::kComplex128)),
      ElementsAre(std::complex<double>(3, 0)));
  ExpectInvalid(Cast(a, DType::kFloat32).status(),
                "cast_float32: cannot cast complex complex64[2] to float32");
}

TEST(ElementwiseTest, BoolSupportsOnlyEquality) {
  EXPECT_THAT(BoolData(Equal(Bools({1, 0, 1}), Bools({1, 1, 1}))),
              ElementsAre(1, 0, 1));
  EXPECT_THAT(BoolData(NotEqual(Bools({1, 0}), Bools({1}, {}))),
              ElementsAre(0, 1));
  ExpectInvalid(Add(Bools({1}), Bools({1})).status(),
                "add: not defined for bool");
  ExpectInvalid(Less(Bools({1}), Bools({1})).status(),
                "less: not defined for bool");
  ExpectInvalid(Negate(Bools({1})).status(), "negate: not defined for bool");
}

TEST(ElementwiseTest, OperandErrorsNameKernelAndBothTypes) {
  ExpectInvalid(Add(Vec<float>({1, 2, 3}), Vec<int32_t>({1, 2, 3})).status(),
                "add: operands float32[3] and int32[3] have different dtypes");
  ExpectInvalid(
      Multiply(Vec<float>({1, 2, 3}), Vec<float>({1, 2})).status(),
      "multiply: operands float32[3] and float32[2] have incompatible shapes");
  ExpectInvalid(Less(Mat<float>({1, 2}, {1, 2}), Vec<float>({1, 2})).status(),
                "less: operands float32[1,2] and float32[2]");
  ExpectInvalid(
      Add(Tensor::StringScalar("a"), Tensor::StringScalar("b")).status(),
      "add: not defined for string");
  ExpectInvalid(Add(Tensor(), Tensor()).status(),
                "add: an operand is not a tensor");
  ExpectInvalid(Negate(Tensor()).status(), "negate: not defined for no tensor");
}

TEST(ScaleTest, IntegersRoundAndCheckRange) {
  EXPECT_THAT(Data<int32_t>(Scale(Vec<int32_t>({3, -3, 4}), 0.5)),
              ElementsAre(2, -2, 2));
  EXPECT_THAT(Data<float>(Scale(Vec<float>({1, -2}), 0.25)),
              ElementsAre(0.25f, -0.5f));
  ExpectInvalid(Scale(Vec<int8_t>({1, 100}), 2).status(),
                "scale: element 1 of int8[2] (100) times 2 is out of range of "
                "int8");
  ExpectInvalid(Scale(Vec<int32_t>({1}), std::nan("")).status(),
                "out of range");
  ExpectInvalid(Scale(Bools({1}), 2).status(), "scale: not defined for bool");
}

TEST(CastTest, ConversionsAndRangeErrors) {
  EXPECT_THAT(Data<int32_t>(Cast(Vec<float>({2.7f, -2.7f}), DType::kInt32)),
              ElementsAre(2, -2));
  EXPECT_THAT(Data<uint8_t>(Cast(Vec<int32_t>({300, -1}), DType::kUInt8)),
              ElementsAre(44, 255));
  EXPECT_THAT(Data<int8_t>(Cast(Vec<double>({-128.9, 127.9}), DType::kInt8)),
              ElementsAre(-128, 127));
  ExpectInvalid(Cast(Vec<float>({3e10f}), DType::kInt32).status(),
                "cast_int32: element 0 of float32[1] (3e+10) is out of range "
                "of int32");
  ExpectInvalid(Cast(Vec<double>({1, std::nan("")}), DType::kInt64).status(),
                "cast_int64: element 1 of float64[2]");
  ExpectInvalid(Cast(Vec<double>({-1}), DType::kUInt32).status(),
                "out of range of uint32");
  ExpectInvalid(Cast(Vec<double>({9.3e18}), DType::kInt64).status(),
                "out of range of int64");
  const Tensor same = Vec<float>({1});
  absl::StatusOr<Tensor> c = Cast(same, DType::kFloat32);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->SharesBufferWith(same));
  ExpectInvalid(Cast(Tensor::StringScalar("1"), DType::kInt32).status(),
                "cast_int32: cannot cast string to int32");
  ExpectInvalid(Cast(same, DType::kString).status(),
                "cast_string: cannot cast float32 to string");
  absl::StatusOr<Tensor> scalar =
      Cast(Tensor::Scalar<int16_t>(5), DType::kFloat32);
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(scalar->rank(), 0);
}

// ------------------------------------------------------------ reductions

TEST(ReduceTest, AxesOfARank3Tensor) {
  std::vector<int32_t> v(24);
  for (int i = 0; i < 24; ++i) v[i] = i;
  const Tensor t = Mat<int32_t>(v, {2, 3, 4});
  absl::StatusOr<Tensor> r = ReduceSum(t, {0, 2});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->shape(), (std::vector<int64_t>{3}));
  // Row j: sum over i, k of 12i + 4j + k = 2*(6+16j) + 12*4 = 60 + 32j.
  EXPECT_THAT(Data<int32_t>(r), ElementsAre(60, 92, 124));
  absl::StatusOr<Tensor> r1 = ReduceSum(t, {1});
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1->shape(), (std::vector<int64_t>{2, 4}));
  EXPECT_THAT(Data<int32_t>(r1), ElementsAre(12, 15, 18, 21, 48, 51, 54, 57));
  absl::StatusOr<Tensor> none = ReduceSum(t, {});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, t);
}

TEST(ReduceTest, ScalarsEmptyAndMeans) {
  EXPECT_THAT(Data<float>(ReduceSum(Tensor::Scalar<float>(2.5f))),
              ElementsAre(2.5f));
  EXPECT_THAT(Data<float>(ReduceMean(Tensor::Scalar<float>(2.5f))),
              ElementsAre(2.5f));
  EXPECT_THAT(Data<int32_t>(ReduceMean(Vec<int32_t>({-1, -2}))),
              ElementsAre(-1));
  EXPECT_TRUE(std::isnan(Data<float>(ReduceMean(Vec<float>({})))[0]));
  ExpectInvalid(ReduceMean(Vec<int32_t>({})).status(),
                "reduce_mean: mean of zero elements of int32[0]");
  ExpectInvalid(ReduceMean(Mat<int32_t>({}, {2, 0}), {1}).status(),
                "mean of zero elements");
  // Reducing a non-empty axis of an empty tensor averages nothing: fine.
  absl::StatusOr<Tensor> ok = ReduceMean(Mat<int32_t>({}, {0, 3}), {1});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->shape(), (std::vector<int64_t>{0}));
  absl::StatusOr<Tensor> zeros = ReduceSum(Mat<float>({}, {0, 3}), {0});
  EXPECT_THAT(Data<float>(zeros), ElementsAre(0, 0, 0));
  EXPECT_THAT(Data<c64>(ReduceMean(Vec<c64>({{1, 1}, {3, -1}}))),
              ElementsAre(c64(2, 0)));
  EXPECT_THAT(Data<int8_t>(ReduceSum(Vec<int8_t>({100, 100}))),
              ElementsAre(-56));
  EXPECT_THAT(Data<int8_t>(ReduceMean(Vec<int8_t>({100, 100}))),
              ElementsAre(100));
}

TEST(ReduceTest, LargeFloatSumIsAccurate) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> v(1 << 20);
  double expected = 0;
  for (float& x : v) {
    x = dist(rng);
    expected += x;
  }
  const float got = Data<float>(ReduceSum(Vec<float>(v)))[0];
  EXPECT_NEAR(got, expected, 1e-2);
  const float mean = Data<float>(ReduceMean(Vec<float>(v)))[0];
  EXPECT_NEAR(mean, expected / v.size(), 1e-7);
}

TEST(ReduceTest, Errors) {
  const Tensor m = Mat<float>({1, 2, 3, 4}, {2, 2});
  ExpectInvalid(ReduceSum(m, {2}).status(),
                "reduce_sum: axis 2 is out of range for float32[2,2] (rank 2)");
  ExpectInvalid(ReduceMean(m, {-3}).status(), "reduce_mean: axis -3");
  ExpectInvalid(ReduceSum(m, {0, -2}).status(),
                "reduce_sum: axis -2 is given twice");
  ExpectInvalid(ReduceSum(Bools({1, 0})).status(),
                "reduce_sum: not defined for bool");
  ExpectInvalid(ReduceMean(Tensor::StringScalar("x")).status(),
                "reduce_mean: not defined for string");
}

// ---------------------------------------------------------------- matmul

template <typename T>
std::vector<T> NaiveMatMul(const std::vector<T>& a, const std::vector<T>& b,
                           int m, int k, int n) {
  std::vector<T> c(m * n, T{});
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      T s{};
      for (int p = 0; p < k; ++p) s += a[i * k + p] * b[p * n + j];
      c[i * n + j] = s;
    }
  }
  return c;
}

template <typename T>
class MatMulTest : public ::testing::Test {};
using MatMulTypes =
    ::testing::Types<float, double, int32_t, int64_t, uint8_t, c64>;
TYPED_TEST_SUITE(MatMulTest, MatMulTypes);

TYPED_TEST(MatMulTest, MatchesNaiveLoop) {
  using T = TypeParam;
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> dist(-3, 3);
  for (auto [m, k, n] : std::vector<std::array<int, 3>>{{1, 1, 1},
                                                        {2, 3, 4},
                                                        {5, 1, 7},
                                                        {17, 33, 9},
                                                        {64, 64, 64},
                                                        {3, 0, 2},
                                                        {0, 4, 3},
                                                        {3, 4, 0}}) {
    std::vector<T> a(m * k), b(k * n);
    for (T& x : a) x = static_cast<T>(dist(rng));
    for (T& x : b) x = static_cast<T>(dist(rng));
    absl::StatusOr<Tensor> c = MatMul(Mat<T>(a, {m, k}), Mat<T>(b, {k, n}));
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->shape(), (std::vector<int64_t>{m, n}));
    // Small integer values: exact in every type.
    EXPECT_EQ(Data<T>(c), NaiveMatMul(a, b, m, k, n))
        << m << "x" << k << "x" << n;
  }
}

TEST(MatMulErrorsTest, HalfAndErrors) {
  // [1,2] x [2,1] in float16: 1*2 + 2*1 = 4 (0x4400).
  EXPECT_THAT(
      Data<Float16>(MatMul(Mat<Float16>({H(0x3C00), H(0x4000)}, {1, 2}),
                           Mat<Float16>({H(0x4000), H(0x3C00)}, {2, 1}))),
      ElementsAre(H(0x4400)));
  ExpectInvalid(MatMul(Vec<float>({1, 2}), Vec<float>({1, 2})).status(),
                "matmul: operands float32[2] and float32[2] do not multiply");
  ExpectInvalid(
      MatMul(Mat<float>({1, 2}, {1, 2}), Mat<float>({1, 2, 3}, {3, 1}))
          .status(),
      "matmul: operands float32[1,2] and float32[3,1] do not multiply");
  ExpectInvalid(
      MatMul(Mat<float>({1}, {1, 1}), Mat<double>({1}, {1, 1})).status(),
      "matmul: operands float32[1,1] and float64[1,1] have different dtypes");
  ExpectInvalid(MatMul(Bools({1}, {1, 1}), Bools({1}, {1, 1})).status(),
                "matmul: not defined for bool");
}

// ------------------------------------------------------------ shape ops

TEST(ReshapeTest, SharesTheBufferAndInfersOneDim) {
  const Tensor t = Mat<int32_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  absl::StatusOr<Tensor> r = Reshape(t, {3, -1});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->shape(), (std::vector<int64_t>{3, 2}));
  EXPECT_TRUE(r->SharesBufferWith(t));
  EXPECT_THAT(Data<int32_t>(r), ElementsAre(1, 2, 3, 4, 5, 6));
  absl::StatusOr<Tensor> s = Reshape(Vec<float>({7}), {});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->rank(), 0);
  absl::StatusOr<Tensor> e = Reshape(Vec<float>({}), {0, 5});
  ASSERT_TRUE(e.ok());
  absl::StatusOr<Tensor> str =
      Reshape(*Tensor::FromStrings({"a", "b"}, {2}), {1, 2});
  ASSERT_TRUE(str.ok());
  EXPECT_EQ(str->strings()[1], "b");
  ExpectInvalid(Reshape(t, {-1, -1}).status(),
                "reshape: shape [-1,-1] has more than one -1");
  ExpectInvalid(Reshape(t, {4, 2}).status(),
                "reshape: int32[2,3] has 6 elements, shape [4,2] needs 8");
  ExpectInvalid(Reshape(t, {4, -1}).status(), "cannot infer the -1 of [4,-1]");
  ExpectInvalid(Reshape(Vec<float>({}), {0, -1}).status(), "cannot infer");
  ExpectInvalid(Reshape(t, {-2, -3}).status(), "dim 0 is -2");
  ExpectInvalid(Reshape(t, {1LL << 40, 1LL << 40}).status(), "has 6 elements");
}

TEST(ConcatTest, AlongEachAxis) {
  const Tensor a = Mat<int32_t>({1, 2, 3, 4}, {2, 2});
  const Tensor b = Mat<int32_t>({5, 6}, {1, 2});
  absl::StatusOr<Tensor> r0 = Concat({a, b}, 0);
  ASSERT_TRUE(r0.ok()) << r0.status();
  EXPECT_EQ(r0->shape(), (std::vector<int64_t>{3, 2}));
  EXPECT_THAT(Data<int32_t>(r0), ElementsAre(1, 2, 3, 4, 5, 6));
  const Tensor c = Mat<int32_t>({7, 8}, {2, 1});
  absl::StatusOr<Tensor> r1 = Concat({a, c, Mat<int32_t>({}, {2, 0})}, -1);
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_THAT(Data<int32_t>(r1), ElementsAre(1, 2, 7, 3, 4, 8));
  EXPECT_THAT(Data<double>(Concat(
                  {Vec<double>({1}), Vec<double>({}), Vec<double>({2, 3})}, 0)),
              ElementsAre(1, 2, 3));
  ExpectInvalid(Concat({}, 0).status(), "concat: no tensors to join");
  ExpectInvalid(Concat({Tensor::Scalar<int32_t>(1)}, 0).status(),
                "concat: cannot join scalars");
  ExpectInvalid(Concat({a, b}, 1).status(),
                "concat: part 1 is int32[1,2], part 0 is int32[2,2]");
  ExpectInvalid(Concat({a, Mat<float>({1, 2}, {1, 2})}, 0).status(),
                "part 1 is float32[1,2]");
  ExpectInvalid(Concat({a}, 2).status(),
                "concat: axis 2 is out of range for rank 2");
  ExpectInvalid(Concat({Tensor::StringScalar("a")}, 0).status(),
                "concat: not defined for string");
}

TEST(SliceTest, BlocksAndErrors) {
  std::vector<int32_t> v(12);
  for (int i = 0; i < 12; ++i) v[i] = i;
  const Tensor t = Mat<int32_t>(v, {3, 4});
  absl::StatusOr<Tensor> s = Slice(t, {1, 1}, {2, 2});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->shape(), (std::vector<int64_t>{2, 2}));
  EXPECT_THAT(Data<int32_t>(s), ElementsAre(5, 6, 9, 10));
  EXPECT_THAT(Data<int32_t>(Slice(t, {2, 1}, {-1, -1})),
              ElementsAre(9, 10, 11));
  absl::StatusOr<Tensor> e = Slice(t, {3, 0}, {0, 4});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->shape(), (std::vector<int64_t>{0, 4}));
  EXPECT_THAT(Data<float>(Slice(Tensor::Scalar<float>(3), {}, {})),
              ElementsAre(3));
  EXPECT_THAT(Data<double>(Slice(Vec<double>({1, 2, 3}), {1}, {2})),
              ElementsAre(2, 3));
  ExpectInvalid(Slice(t, {0}, {1}).status(),
                "slice: int32[3,4] has rank 2, given begin [0] and size [1]");
  ExpectInvalid(Slice(t, {2, 0}, {2, 1}).status(),
                "slice: begin [2,0] size [2,1] is out of bounds of int32[3,4] "
                "at dim 0");
  ExpectInvalid(Slice(t, {-1, 0}, {1, 1}).status(), "out of bounds");
  ExpectInvalid(Slice(t, {0, 0}, {1, -2}).status(), "at dim 1");
}

TEST(ClipByNormTest, ScalesOnlyAboveTheNorm) {
  const Tensor t = Vec<float>({3, 4});
  EXPECT_THAT(Data<float>(ClipByNorm(t, 1)), ElementsAre(0.6f, 0.8f));
  absl::StatusOr<Tensor> same = ClipByNorm(t, 5);
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->SharesBufferWith(t));
  EXPECT_THAT(Data<float>(ClipByNorm(t, 0)), ElementsAre(0, 0));
  EXPECT_THAT(Data<double>(ClipByNorm(Mat<double>({0, 6, 8, 0}, {2, 2}), 5)),
              ElementsAre(0, 3, 4, 0));
  EXPECT_TRUE(ClipByNorm(Vec<float>({}), 1).ok());
  ExpectInvalid(ClipByNorm(t, -1).status(),
                "clip_by_norm: max_norm is -1, must be >= 0");
  ExpectInvalid(ClipByNorm(t, std::nan("")).status(), "max_norm is nan");
  ExpectInvalid(ClipByNorm(Vec<int32_t>({3, 4}), 1).status(),
                "clip_by_norm: needs a floating tensor, found int32[2]");
}

// ------------------------------------------------------ struct values

Value S(std::vector<std::pair<std::string, Value>> e) {
  return Value::Struct(std::move(e));
}

TEST(ValueOpsTest, RecurseThroughStructs) {
  const Value a = S({{"w", Value(Vec<float>({1, 2}))},
                     {"", S({{"b", Value(Tensor::Scalar<int32_t>(3))}})}});
  const Value b = S({{"w", Value(Vec<float>({10, 20}))},
                     {"x", S({{"", Value(Tensor::Scalar<int32_t>(4))}})}});
  absl::StatusOr<Value> sum = AddValues(a, b);
  ASSERT_TRUE(sum.ok()) << sum.status();
  const Value expected =
      S({{"w", Value(Vec<float>({11, 22}))},
         {"x", S({{"b", Value(Tensor::Scalar<int32_t>(7))}})}});
  EXPECT_EQ(*sum, expected);
  absl::StatusOr<Value> product = MultiplyValues(a, b);
  ASSERT_TRUE(product.ok());
  EXPECT_THAT(product->struct_value().elements[0].value->tensor().data<float>(),
              ElementsAre(10, 40));
  absl::StatusOr<Value> quotient = DivideValues(b, a);
  ASSERT_TRUE(quotient.ok());
  EXPECT_THAT(
      quotient->struct_value().elements[0].value->tensor().data<float>(),
      ElementsAre(10, 10));
  absl::StatusOr<Value> diff = SubtractValues(b, a);
  ASSERT_TRUE(diff.ok());
  absl::StatusOr<Value> mn = MinimumValues(a, b);
  ASSERT_TRUE(mn.ok());
  EXPECT_EQ(*mn->struct_value().elements[0].value, Value(Vec<float>({1, 2})));
  EXPECT_EQ(mn->struct_value().elements[1].name, "x");
  absl::StatusOr<Value> mx = MaximumValues(a, b);
  ASSERT_TRUE(mx.ok());
  // Tensors alone, and a scalar leaf broadcasting.
  absl::StatusOr<Value> t =
      AddValues(Value(Vec<float>({1, 2})), Value(Tensor::Scalar<float>(1)));
  ASSERT_TRUE(t.ok());
  EXPECT_THAT(t->tensor().data<float>(), ElementsAre(2, 3));
  // Empty structs.
  absl::StatusOr<Value> empty = AddValues(S({}), S({}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->struct_value().elements.empty());
}

TEST(ValueOpsTest, ErrorsNameThePath) {
  const Value a = S({{"w", Value(Vec<float>({1, 2}))},
                     {"", S({{"b", Value(Vec<float>({1, 2, 3}))}})}});
  const Value b = S({{"w", Value(Vec<float>({1, 2}))},
                     {"", S({{"b", Value(Vec<float>({1, 2, 3, 4}))}})}});
  ExpectInvalid(AddValues(a, b).status(),
                "add: at [1].b: operands float32[3] and float32[4] have "
                "incompatible shapes");
  ExpectInvalid(AddValues(a, Value(Vec<float>({1}))).status(),
                "add: operands have different structures: a struct of 2 "
                "elements and float32[1]");
  ExpectInvalid(
      MultiplyValues(S({{"a", Value(Vec<float>({1}))}}),
                     S({{"b", Value(Vec<float>({1}))}}))
          .status(),
      "multiply: element 0 is named 'a' in one operand and 'b' in the other");
  ExpectInvalid(DivideValues(S({{"a", Value(Vec<int32_t>({1}))}}),
                             S({{"a", Value(Vec<int32_t>({0}))}}))
                    .status(),
                "divide: at .a: integer division by zero");
  ExpectInvalid(AddValues(Value::Sequence({}), Value::Sequence({})).status(),
                "add: operands have different structures: a sequence and a "
                "sequence");
}

TEST(ValueOpsTest, ScaleValue) {
  const Value v = S({{"w", Value(Vec<float>({1, 2}))},
                     {"n", Value(Tensor::Scalar<int32_t>(3))}});
  absl::StatusOr<Value> scaled = ScaleValue(v, 2);
  ASSERT_TRUE(scaled.ok()) << scaled.status();
  EXPECT_EQ(*scaled, S({{"w", Value(Vec<float>({2, 4}))},
                        {"n", Value(Tensor::Scalar<int32_t>(6))}}));
  ExpectInvalid(
      ScaleValue(S({{"s", Value(Tensor::StringScalar("x"))}}), 2).status(),
      "scale: at .s: not defined for string");
  ExpectInvalid(ScaleValue(Value::Sequence({}), 2).status(),
                "scale: expected a tensor or a struct of tensors, found a "
                "sequence");
}

// ------------------------------------------------------- accumulation

TEST(AccumulateTest, HalfComplexAndNaN) {
  absl::StatusOr<MutableTensor> h = MutableTensor::Zeros(DType::kFloat16, {1});
  ASSERT_TRUE(AccumulateAdd(*h, Vec<Float16>({H(0x3C00)})).ok());
  ASSERT_TRUE(AccumulateScaledAdd(*h, Vec<Float16>({H(0x3C00)}), 2).ok());
  EXPECT_THAT(h->data<Float16>(), ElementsAre(H(0x4200)));
  ASSERT_TRUE(AccumulateMax(*h, Vec<Float16>({H(0x4400)})).ok());
  EXPECT_THAT(h->data<Float16>(), ElementsAre(H(0x4400)));

  absl::StatusOr<MutableTensor> c =
      MutableTensor::Zeros(DType::kComplex64, {1});
  ASSERT_TRUE(AccumulateAdd(*c, Vec<c64>({{1, 2}})).ok());
  ASSERT_TRUE(AccumulateScaledAdd(*c, Vec<c64>({{1, 1}}), 0.5).ok());
  EXPECT_THAT(c->data<c64>(), ElementsAre(c64(1.5, 2.5)));
  ExpectInvalid(AccumulateMin(*c, Vec<c64>({{1, 1}})),
                "AccumulateMin: not defined for complex64");

  absl::StatusOr<MutableTensor> f = MutableTensor::CopyOf(Vec<float>({1, 2}));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  ASSERT_TRUE(AccumulateMin(*f, Vec<float>({nan, 0})).ok());
  EXPECT_TRUE(std::isnan(f->data<float>()[0]));
  ASSERT_TRUE(AccumulateMin(*f, Vec<float>({0, 5})).ok());
  EXPECT_TRUE(std::isnan(f->data<float>()[0]));  // stays NaN
  EXPECT_EQ(f->data<float>()[1], 0);
  ASSERT_TRUE(AccumulateScaledAdd(*f, Vec<float>({1, 1}), 0.25).ok());
  EXPECT_EQ(f->data<float>()[1], 0.25f);
}

TEST(AccumulateTest, Errors) {
  absl::StatusOr<MutableTensor> acc =
      MutableTensor::Zeros(DType::kFloat32, {3});
  ExpectInvalid(AccumulateAdd(*acc, Vec<float>({1, 2})),
                "AccumulateAdd: accumulator float32[3] and operand float32[2] "
                "differ");
  ExpectInvalid(AccumulateMax(*acc, Vec<double>({1, 2, 3})),
                "AccumulateMax: accumulator float32[3] and operand float64[3]");
  MutableTensor none;
  ExpectInvalid(AccumulateAdd(none, Tensor()), "AccumulateAdd: accumulator");
  absl::StatusOr<MutableTensor> b = MutableTensor::Zeros(DType::kBool, {1});
  ExpectInvalid(AccumulateAdd(*b, Bools({1}, {1})),
                "AccumulateAdd: not defined for bool");
  absl::StatusOr<MutableTensor> i = MutableTensor::Zeros(DType::kInt8, {1});
  ExpectInvalid(AccumulateScaledAdd(*i, Vec<int8_t>({1}), 0.5),
                "AccumulateScaledAdd: weight 0.5 for int8[1] must be a whole "
                "number within int8");
  ExpectInvalid(AccumulateScaledAdd(*i, Vec<int8_t>({1}), 300), "weight 300");
  EXPECT_TRUE(AccumulateScaledAdd(*i, Vec<int8_t>({1}), -3).ok());
  EXPECT_THAT(i->data<int8_t>(), ElementsAre(-3));
}

// Many operands into one accumulator: every element sums exactly (speed is
// measured in bench/accumulate_bench.cc).
TEST(AccumulateTest, ManyOperandsSumExactly) {
  constexpr int64_t kN = 4099;  // not a multiple of any vector width
  constexpr int kOperands = 16;
  absl::StatusOr<MutableTensor> acc =
      MutableTensor::Zeros(DType::kFloat32, {kN});
  ASSERT_TRUE(acc.ok());
  for (int i = 0; i < kOperands; ++i) {
    std::vector<float> v(kN, 1.0f + i);
    ASSERT_TRUE(AccumulateAdd(*acc, Vec<float>(v)).ok());
  }
  for (float x : acc->data<float>()) {
    ASSERT_EQ(x, kOperands * (kOperands + 1) / 2);
  }
}

// The range kernels applied tile by tile, with several operands per tile,
// give the bits of the whole-tensor kernels applied operand by operand.
template <typename T>
void ExpectRangesMatchWhole(DType dtype) {
  constexpr int64_t kN = 1031;  // odd: tiles end mid-vector
  constexpr int kOperands = 5;
  std::mt19937 rng(7);
  std::vector<Tensor> xs;
  for (int k = 0; k < kOperands; ++k) {
    std::vector<T> v(kN);
    for (T& e : v) {
      if constexpr (std::is_floating_point_v<T>) {
        e = std::uniform_real_distribution<T>(-100, 100)(rng);
      } else {
        e = static_cast<T>(std::uniform_int_distribution<int64_t>(
            -1000000000, 1000000000)(rng));
      }
    }
    xs.push_back(Vec<T>(v));
  }
  const double weights[kOperands] = {0.5, 3, 1.25, 7, 2};
  const double int_weights[kOperands] = {1, 3, 2, 7, 5};
  for (int op = 0; op < 4; ++op) {
    for (int64_t tile : {int64_t{1}, int64_t{7}, int64_t{256}, kN, kN + 5}) {
      absl::StatusOr<MutableTensor> whole = MutableTensor::CopyOf(xs[0]);
      absl::StatusOr<MutableTensor> tiled = MutableTensor::CopyOf(xs[0]);
      ASSERT_TRUE(whole.ok() && tiled.ok());
      auto weight = [&](int k) {
        return std::is_floating_point_v<T> ? weights[k] : int_weights[k];
      };
      for (int k = 1; k < kOperands; ++k) {
        absl::Status s;
        switch (op) {
          case 0:
            s = AccumulateAdd(*whole, xs[k]);
            break;
          case 1:
            s = AccumulateScaledAdd(*whole, xs[k], weight(k));
            break;
          case 2:
            s = AccumulateMin(*whole, xs[k]);
            break;
          default:
            s = AccumulateMax(*whole, xs[k]);
            break;
        }
        ASSERT_TRUE(s.ok()) << s;
      }
      for (int64_t b = 0; b < kN; b += tile) {
        const int64_t e = std::min(kN, b + tile);
        for (int k = 1; k < kOperands; ++k) {
          absl::Status s;
          switch (op) {
            case 0:
              s = AccumulateAddRange(*tiled, xs[k], b, e);
              break;
            case 1:
              s = AccumulateScaledAddRange(*tiled, xs[k], weight(k), b, e);
              break;
            case 2:
              s = AccumulateMinRange(*tiled, xs[k], b, e);
              break;
            default:
              s = AccumulateMaxRange(*tiled, xs[k], b, e);
              break;
          }
          ASSERT_TRUE(s.ok()) << s;
        }
      }
      ASSERT_EQ(tiled->dtype(), dtype);
      EXPECT_EQ(
          std::memcmp(whole->raw_data(), tiled->raw_data(), whole->byte_size()),
          0)
          << "op " << op << " tile " << tile;
    }
  }
}

TEST(AccumulateTest, RangesGiveTheBitsOfTheWholeKernels) {
  ExpectRangesMatchWhole<float>(DType::kFloat32);
  ExpectRangesMatchWhole<double>(DType::kFloat64);
  ExpectRangesMatchWhole<int32_t>(DType::kInt32);
  ExpectRangesMatchWhole<int8_t>(DType::kInt8);
}

TEST(AccumulateTest, RangesTouchOnlyTheirElements) {
  absl::StatusOr<MutableTensor> acc =
      MutableTensor::CopyOf(Vec<float>({1, 2, 3, 4, 5}));
  ASSERT_TRUE(acc.ok());
  const Tensor x = Vec<float>({10, 10, 10, 10, 10});
  ASSERT_TRUE(AccumulateAddRange(*acc, x, 1, 3).ok());
  EXPECT_THAT(acc->data<float>(), ElementsAre(1, 12, 13, 4, 5));
  ASSERT_TRUE(AccumulateScaledAddRange(*acc, x, 0.5, 4, 5).ok());
  EXPECT_THAT(acc->data<float>(), ElementsAre(1, 12, 13, 4, 10));
  ASSERT_TRUE(AccumulateMaxRange(*acc, x, 0, 2).ok());
  EXPECT_THAT(acc->data<float>(), ElementsAre(10, 12, 13, 4, 10));
  ASSERT_TRUE(AccumulateMinRange(*acc, x, 1, 5).ok());
  EXPECT_THAT(acc->data<float>(), ElementsAre(10, 10, 10, 4, 10));
  // Empty ranges change nothing, anywhere.
  ASSERT_TRUE(AccumulateAddRange(*acc, x, 0, 0).ok());
  ASSERT_TRUE(AccumulateAddRange(*acc, x, 5, 5).ok());
  EXPECT_THAT(acc->data<float>(), ElementsAre(10, 10, 10, 4, 10));
}

TEST(AccumulateTest, RangeErrors) {
  absl::StatusOr<MutableTensor> acc =
      MutableTensor::Zeros(DType::kFloat32, {8});
  ASSERT_TRUE(acc.ok());
  const Tensor x = Vec<float>(std::vector<float>(8, 1.0f));
  ExpectInvalid(AccumulateAddRange(*acc, x, 0, 9),
                "AccumulateAdd: range [0, 9) is outside the 8 elements of "
                "float32[8]");
  ExpectInvalid(AccumulateMinRange(*acc, x, -1, 2),
                "AccumulateMin: range [-1, 2)");
  ExpectInvalid(AccumulateMaxRange(*acc, x, 3, 2),
                "AccumulateMax: range [3, 2)");
  ExpectInvalid(AccumulateScaledAddRange(*acc, x, 1.0, 9, 9),
                "AccumulateScaledAdd: range [9, 9)");
  for (float v : acc->data<float>()) EXPECT_EQ(v, 0.0f);
  // The whole-tensor checks come first, even for an empty range.
  ExpectInvalid(AccumulateAddRange(*acc, Vec<float>({1, 2}), 0, 0),
                "AccumulateAdd: accumulator float32[8] and operand float32[2] "
                "differ");
  absl::StatusOr<MutableTensor> i = MutableTensor::Zeros(DType::kInt8, {1});
  ExpectInvalid(AccumulateScaledAddRange(*i, Vec<int8_t>({1}), 0.5, 0, 0),
                "AccumulateScaledAdd: weight 0.5 for int8[1] must be a whole "
                "number within int8");
  absl::StatusOr<MutableTensor> c =
      MutableTensor::Zeros(DType::kComplex64, {1});
  ExpectInvalid(AccumulateMinRange(*c, Vec<c64>({{1, 1}}), 0, 0),
                "AccumulateMin: not defined for complex64");
}

// The many-operand kernels give the bits of the single kernels applied one
// operand after another, for every group size around the pass width.
template <typename T>
void ExpectManyMatchSingles() {
  constexpr int64_t kN = 1031;
  std::mt19937 rng(11);
  std::vector<Tensor> xs;
  std::vector<double> weights;
  for (int k = 0; k < 13; ++k) {
    std::vector<T> v(kN);
    for (T& e : v) {
      if constexpr (std::is_floating_point_v<T>) {
        e = std::uniform_real_distribution<T>(-100, 100)(rng);
        if (std::uniform_int_distribution<int>(0, 50)(rng) == 0) {
          e = std::numeric_limits<T>::quiet_NaN();
        }
      } else {
        e = static_cast<T>(std::uniform_int_distribution<int64_t>(
            std::numeric_limits<T>::min(), std::numeric_limits<T>::max())(rng));
      }
    }
    xs.push_back(Vec<T>(v));
    weights.push_back(std::is_floating_point_v<T> ? 0.3 * k + 0.05 : k % 5);
  }
  for (int op = 0; op < 4; ++op) {
    for (size_t count : {1, 4, 5, 6, 10, 12}) {
      for (auto [b, e] : {std::pair<int64_t, int64_t>{0, kN}, {3, 700}}) {
        absl::StatusOr<MutableTensor> single = MutableTensor::CopyOf(xs[12]);
        absl::StatusOr<MutableTensor> many = MutableTensor::CopyOf(xs[12]);
        ASSERT_TRUE(single.ok() && many.ok());
        std::vector<const Tensor*> ptrs;
        for (size_t k = 0; k < count; ++k) {
          ptrs.push_back(&xs[k]);
          absl::Status s;
          switch (op) {
            case 0:
              s = AccumulateAddRange(*single, xs[k], b, e);
              break;
            case 1:
              s = AccumulateScaledAddRange(*single, xs[k], weights[k], b, e);
              break;
            case 2:
              s = AccumulateMinRange(*single, xs[k], b, e);
              break;
            default:
              s = AccumulateMaxRange(*single, xs[k], b, e);
              break;
          }
          ASSERT_TRUE(s.ok()) << s;
        }
        absl::Status s;
        switch (op) {
          case 0:
            s = AccumulateAddMany(*many, ptrs, b, e);
            break;
          case 1:
            s = AccumulateScaledAddMany(
                *many, ptrs, absl::MakeConstSpan(weights).subspan(0, count), b,
                e);
            break;
          case 2:
            s = AccumulateMinMany(*many, ptrs, b, e);
            break;
          default:
            s = AccumulateMaxMany(*many, ptrs, b, e);
            break;
        }
        ASSERT_TRUE(s.ok()) << s;
        EXPECT_EQ(std::memcmp(single->raw_data(), many->raw_data(),
                              single->byte_size()),
                  0)
            << "op " << op << " count " << count << " range " << b;
      }
    }
  }
}

TEST(AccumulateTest, ManyGiveTheBitsOfOneAfterAnother) {
  ExpectManyMatchSingles<float>();
  ExpectManyMatchSingles<double>();
  ExpectManyMatchSingles<int32_t>();
  ExpectManyMatchSingles<int8_t>();
}

TEST(AccumulateTest, ManyHalfPrecisionRoundsAtEveryStep) {
  // 1 + 2^-11 rounds back to 1 in float16 at every step: five of them added
  // one by one leave 1, not 1 + 5 * 2^-11.
  absl::StatusOr<MutableTensor> one_by_one =
      MutableTensor::CopyOf(Vec<Float16>({H(0x3C00)}));
  absl::StatusOr<MutableTensor> many =
      MutableTensor::CopyOf(Vec<Float16>({H(0x3C00)}));
  const Tensor tiny = Vec<Float16>({H(0x1000)});  // 2^-11
  std::vector<const Tensor*> ptrs(5, &tiny);
  for (int k = 0; k < 5; ++k)
    ASSERT_TRUE(AccumulateAdd(*one_by_one, tiny).ok());
  ASSERT_TRUE(AccumulateAddMany(*many, ptrs, 0, 1).ok());
  EXPECT_EQ(one_by_one->data<Float16>()[0].bits, many->data<Float16>()[0].bits);
  EXPECT_EQ(many->data<Float16>()[0].bits, 0x3C00);
}

TEST(AccumulateTest, ManyErrors) {
  absl::StatusOr<MutableTensor> acc =
      MutableTensor::Zeros(DType::kFloat32, {3});
  ASSERT_TRUE(acc.ok());
  const Tensor good = Vec<float>({1, 2, 3});
  const Tensor bad = Vec<float>({1, 2});
  std::vector<const Tensor*> xs = {&good, &good, &bad, &good};
  ExpectInvalid(AccumulateAddMany(*acc, xs, 0, 3),
                "AccumulateAdd: accumulator float32[3] and operand float32[2] "
                "differ");
  for (float v : acc->data<float>()) EXPECT_EQ(v, 0.0f);  // nothing written
  xs[2] = &good;
  ExpectInvalid(AccumulateMaxMany(*acc, xs, 0, 4),
                "AccumulateMax: range [0, 4) is outside the 3 elements");
  ExpectInvalid(AccumulateScaledAddMany(*acc, xs, {1.0, 2.0}, 0, 3),
                "AccumulateScaledAdd: 2 weights for 4 operands");
  absl::StatusOr<MutableTensor> i = MutableTensor::Zeros(DType::kInt8, {1});
  const Tensor one = Vec<int8_t>({1});
  const Tensor* ones[] = {&one, &one};
  ExpectInvalid(AccumulateScaledAddMany(*i, ones, {1.0, 0.5}, 0, 1),
                "AccumulateScaledAdd: weight 0.5 for int8[1]");
  EXPECT_EQ(i->data<int8_t>()[0], 0);
  std::vector<const Tensor*> none;
  EXPECT_TRUE(AccumulateMinMany(*acc, none, 0, 99).ok());
  xs[1] = nullptr;
  ExpectInvalid(AccumulateAddMany(*acc, xs, 0, 3),
                "AccumulateAdd: operand 1 is null");
}

}  // namespace
}  // namespace fedexec::native
