// Specification of Tensor: construction, sharing, equality, and the Array
// proto encodings (typed lists and raw content), including the compat
// vectors of the executor protocol.
#include "core/tensor.h"

#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "core/limits.h"
#include "federated_language/array.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tensorflow_federated/v0/executor.pb.h"
#include "testing/test_files.h"

namespace fedexec {
namespace {

namespace fl = federated_language;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr DType kAllDTypes[] = {
    DType::kFloat32,    DType::kFloat64, DType::kInt32,    DType::kUInt8,
    DType::kInt16,      DType::kInt8,    DType::kString,   DType::kComplex64,
    DType::kInt64,      DType::kBool,    DType::kBFloat16, DType::kUInt16,
    DType::kComplex128, DType::kFloat16, DType::kUInt32,   DType::kUInt64,
};

// Checks that `result` failed with INVALID_ARGUMENT and exactly `message`.
template <typename T>
void ExpectInvalid(const absl::StatusOr<T>& result,
                   const std::string& message) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message(), message);
}

bool IsAligned(const void* p, size_t alignment) {
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

// ------------------------------------------------------------ construction

TEST(TensorTest, DefaultIsInvalidAndEmpty) {
  Tensor t;
  EXPECT_EQ(t.dtype(), DType::kInvalid);
  EXPECT_FALSE(t.valid());
  EXPECT_EQ(t.rank(), 0);
  EXPECT_EQ(t.num_elements(), 0);
  EXPECT_EQ(t.byte_size(), 0u);
  EXPECT_EQ(t.raw_data(), nullptr);
  EXPECT_TRUE(t.strings().empty());
  EXPECT_EQ(t.TypeString(), "invalid");
  EXPECT_EQ(t, Tensor());
  EXPECT_FALSE(t.SharesBufferWith(Tensor()));
}

TEST(TensorTest, ScalarHasRankZeroAndOneElement) {
  Tensor t = Tensor::Scalar(2.5f);
  EXPECT_TRUE(t.valid());
  EXPECT_EQ(t.dtype(), DType::kFloat32);
  EXPECT_EQ(t.rank(), 0);
  EXPECT_TRUE(t.shape().empty());
  EXPECT_EQ(t.num_elements(), 1);
  EXPECT_EQ(t.byte_size(), 4u);
  EXPECT_THAT(t.data<float>(), ElementsAre(2.5f));
  EXPECT_EQ(t.TypeString(), "float32");
}

TEST(TensorTest, VectorIsOneDimensional) {
  Tensor t = Tensor::Vector<int64_t>({1, -2, 3});
  EXPECT_EQ(t.dtype(), DType::kInt64);
  EXPECT_THAT(t.shape(), ElementsAre(3));
  EXPECT_THAT(t.data<int64_t>(), ElementsAre(1, -2, 3));
  EXPECT_EQ(t.TypeString(), "int64[3]");

  Tensor empty = Tensor::Vector<double>({});
  EXPECT_THAT(empty.shape(), ElementsAre(0));
  EXPECT_EQ(empty.num_elements(), 0);
  EXPECT_TRUE(empty.data<double>().empty());
  EXPECT_EQ(empty.TypeString(), "float64[0]");
}

TEST(TensorTest, FromSpanKeepsRowMajorOrderAndShape) {
  const std::vector<int32_t> values = {1, 2, 3, 4, 5, 6};
  auto t = Tensor::FromSpan<int32_t>(values, {2, 3});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->shape(), ElementsAre(2, 3));
  EXPECT_EQ(t->rank(), 2);
  EXPECT_EQ(t->num_elements(), 6);
  EXPECT_THAT(t->data<int32_t>(), ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_EQ(t->TypeString(), "int32[2,3]");
}

TEST(TensorTest, FromSpanCopiesTheValues) {
  std::vector<float> values = {1, 2};
  Tensor t = Tensor::Vector<float>(values);
  values[0] = 99;
  EXPECT_THAT(t.data<float>(), ElementsAre(1, 2));
  EXPECT_NE(t.raw_data(), values.data());
}

TEST(TensorTest, FromSpanAcceptsZeroSizeShapes) {
  auto t = Tensor::FromSpan<float>({}, {2, 0});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->num_elements(), 0);
  EXPECT_EQ(t->byte_size(), 0u);
  EXPECT_EQ(t->TypeString(), "float32[2,0]");
  EXPECT_NE(t->raw_data(), nullptr);
}

TEST(TensorTest, FromSpanRejectsAWrongCount) {
  const std::vector<float> values = {1, 2, 3, 4, 5};
  ExpectInvalid(Tensor::FromSpan<float>(values, {2, 3}),
                "shape [2,3] needs 6 elements, given 5 values");
  ExpectInvalid(Tensor::FromSpan<float>(values, {}),
                "shape [] needs 1 elements, given 5 values");
}

TEST(TensorTest, FromSpanRejectsABadShape) {
  const std::vector<float> values = {1, 2};
  ExpectInvalid(Tensor::FromSpan<float>(values, {2, -1}),
                "shape [2,-1]: dim 1 is -1, must be >= 0");
}

TEST(TensorTest, EveryElementTypeHasAScalar) {
  EXPECT_EQ(Tensor::Scalar(true).dtype(), DType::kBool);
  EXPECT_THAT(Tensor::Scalar(true).data<bool>(), ElementsAre(true));
  EXPECT_EQ(Tensor::Scalar(int8_t{-3}).dtype(), DType::kInt8);
  EXPECT_EQ(Tensor::Scalar(uint16_t{3}).dtype(), DType::kUInt16);
  EXPECT_EQ(Tensor::Scalar(uint64_t{3}).dtype(), DType::kUInt64);
  Tensor half = Tensor::Scalar(Float16{0x3c00});
  EXPECT_EQ(half.dtype(), DType::kFloat16);
  EXPECT_EQ(half.byte_size(), 2u);
  EXPECT_EQ(half.data<Float16>()[0].bits, 0x3c00);
  Tensor bhalf = Tensor::Scalar(BFloat16{0x3f80});
  EXPECT_EQ(bhalf.dtype(), DType::kBFloat16);
  EXPECT_EQ(bhalf.data<BFloat16>()[0].bits, 0x3f80);
  Tensor c = Tensor::Scalar(std::complex<double>(1, -2));
  EXPECT_EQ(c.dtype(), DType::kComplex128);
  EXPECT_EQ(c.byte_size(), 16u);
  EXPECT_EQ(c.data<std::complex<double>>()[0], std::complex<double>(1, -2));
}

TEST(TensorTest, BoolElementsAreOneByteEach) {
  Tensor t = Tensor::Vector<bool>({true, false, true});
  EXPECT_EQ(t.byte_size(), 3u);
  const auto* bytes = static_cast<const uint8_t*>(t.raw_data());
  EXPECT_EQ(bytes[0], 1);
  EXPECT_EQ(bytes[1], 0);
  EXPECT_EQ(bytes[2], 1);
}

// ----------------------------------------------------------------- sharing

TEST(TensorTest, CopiesShareTheBuffer) {
  Tensor a = Tensor::Vector<float>({1, 2, 3});
  Tensor b = a;
  EXPECT_TRUE(a.SharesBufferWith(b));
  EXPECT_EQ(a.raw_data(), b.raw_data());
  Tensor c = std::move(b);
  EXPECT_TRUE(a.SharesBufferWith(c));
  Tensor d = Tensor::Vector<float>({1, 2, 3});
  EXPECT_FALSE(a.SharesBufferWith(d));
  EXPECT_EQ(a, d);
}

TEST(TensorTest, BuffersAre64ByteAligned) {
  for (size_t n : {0, 1, 3, 16, 17, 1000, 300000}) {
    std::vector<uint8_t> values(n, 7);
    Tensor t = Tensor::Vector<uint8_t>(values);
    EXPECT_TRUE(IsAligned(t.raw_data(), 64)) << n;
  }
  for (size_t bytes : {0, 1, 64, 65, 1 << 20, (1 << 20) + 1, 3 << 20}) {
    std::shared_ptr<void> b = AllocateBuffer(bytes);
    ASSERT_NE(b, nullptr) << bytes;
    EXPECT_TRUE(IsAligned(b.get(), 64)) << bytes;
  }
}

TEST(TensorTest, AllocateBufferZeroFillsUpToTheNextBlock) {
  for (size_t bytes : {0, 5, 64, 100, (1 << 20) + 3}) {
    std::shared_ptr<void> b = AllocateBuffer(bytes);
    ASSERT_NE(b, nullptr);
    const size_t padded = bytes == 0 ? 64 : (bytes + 63) / 64 * 64;
    const auto* p = static_cast<const uint8_t*>(b.get());
    size_t nonzero = 0;
    for (size_t i = 0; i < padded; ++i) nonzero += p[i] != 0;
    EXPECT_EQ(nonzero, 0u) << bytes;
  }
  std::shared_ptr<void> u = AllocateUninitializedBuffer(5);
  ASSERT_NE(u, nullptr);
  const auto* p = static_cast<const uint8_t*>(u.get());
  for (size_t i = 5; i < 64; ++i) EXPECT_EQ(p[i], 0) << i;
}

TEST(TensorTest, FromBufferViewsWithoutCopyingAndKeepsTheOwnerAlive) {
  auto storage = std::make_shared<std::vector<float>>(
      std::vector<float>{1, 2, 3, 4, 5, 6});
  std::weak_ptr<std::vector<float>> watch = storage;
  const float* data = storage->data();
  absl::StatusOr<Tensor> t = Tensor::FromBuffer(
      DType::kFloat32, {3, 2}, storage, data, 6 * sizeof(float));
  ASSERT_TRUE(t.ok()) << t.status();
  storage.reset();
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(t->raw_data(), data);
  EXPECT_THAT(t->data<float>(), ElementsAre(1, 2, 3, 4, 5, 6));
  Tensor copy = *t;
  EXPECT_TRUE(copy.SharesBufferWith(*t));
  t = Tensor();
  EXPECT_FALSE(watch.expired());
  copy = Tensor();
  EXPECT_TRUE(watch.expired());
}

TEST(TensorTest, FromBufferAcceptsAnEmptyNullBuffer) {
  auto t = Tensor::FromBuffer(DType::kInt32, {0, 4}, nullptr, nullptr, 0);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->num_elements(), 0);
  EXPECT_EQ(t->TypeString(), "int32[0,4]");
}

TEST(TensorTest, FromBufferRejectsBadArguments) {
  alignas(64) static const uint8_t kBytes[64] = {1, 0, 2};
  ExpectInvalid(Tensor::FromBuffer(DType::kString, {1}, nullptr, kBytes, 32),
                "Tensor::FromBuffer: dtype string cannot view a raw buffer");
  ExpectInvalid(Tensor::FromBuffer(DType::kInvalid, {1}, nullptr, kBytes, 0),
                "Tensor::FromBuffer: dtype invalid cannot view a raw buffer");
  ExpectInvalid(
      Tensor::FromBuffer(DType::kFloat32, {2, 3}, nullptr, kBytes, 20),
      "Tensor::FromBuffer: float32[2,3] needs 24 bytes, buffer has 20");
  ExpectInvalid(Tensor::FromBuffer(DType::kFloat32, {-2}, nullptr, kBytes, 8),
                "shape [-2]: dim 0 is -2, must be >= 0");
  ExpectInvalid(Tensor::FromBuffer(DType::kFloat32, {2}, nullptr, nullptr, 8),
                "Tensor::FromBuffer: data is null");
  ExpectInvalid(
      Tensor::FromBuffer(DType::kFloat32, {2}, nullptr, kBytes + 2, 8),
      "Tensor::FromBuffer: data is not aligned to 4 bytes as float32 needs");
  ExpectInvalid(
      Tensor::FromBuffer(DType::kComplex128, {1}, nullptr, kBytes + 4, 16),
      "Tensor::FromBuffer: data is not aligned to 8 bytes as complex128 "
      "needs");
  ExpectInvalid(Tensor::FromBuffer(DType::kBool, {3}, nullptr, kBytes, 3),
                "Tensor::FromBuffer: byte 2 is 2, not a bool (0 or 1)");
  EXPECT_TRUE(Tensor::FromBuffer(DType::kBool, {2}, nullptr, kBytes, 2).ok());
}

// ----------------------------------------------------------------- strings

TEST(TensorTest, StringTensorsHoldTheirStrings) {
  auto t = Tensor::FromStrings({"a", "", std::string("x\0y", 3), "d"}, {2, 2});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype(), DType::kString);
  EXPECT_EQ(t->num_elements(), 4);
  EXPECT_EQ(t->byte_size(), 0u);
  EXPECT_THAT(t->strings(), ElementsAre("a", "", std::string("x\0y", 3), "d"));
  EXPECT_EQ(t->TypeString(), "string[2,2]");
  Tensor copy = *t;
  EXPECT_TRUE(copy.SharesBufferWith(*t));
  EXPECT_EQ(copy.strings().data(), t->strings().data());

  Tensor s = Tensor::StringScalar("hello");
  EXPECT_EQ(s.rank(), 0);
  EXPECT_THAT(s.strings(), ElementsAre("hello"));
  EXPECT_EQ(s.TypeString(), "string");
}

TEST(TensorTest, StringTensorsCompareByValue) {
  Tensor a = Tensor::StringScalar("abc");
  Tensor b = Tensor::StringScalar("abc");
  EXPECT_FALSE(a.SharesBufferWith(b));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, Tensor::StringScalar("abd"));
  EXPECT_NE(a, *Tensor::FromStrings({"abc"}, {1}));
  auto empty1 = Tensor::FromStrings({}, {0});
  auto empty2 = Tensor::FromStrings({}, {0});
  EXPECT_EQ(*empty1, *empty2);
}

TEST(TensorTest, FromStringsChecksTheShape) {
  ExpectInvalid(Tensor::FromStrings({"a", "b"}, {3}),
                "shape [3] needs 3 elements, given 2 values");
  ExpectInvalid(Tensor::FromStrings({}, {-5}),
                "shape [-5]: dim 0 is -5, must be >= 0");
}

// ------------------------------------------------------------------- zeros

TEST(TensorTest, ZerosOfEveryDType) {
  for (DType dtype : kAllDTypes) {
    SCOPED_TRACE(DTypeName(dtype));
    auto t = Tensor::Zeros(dtype, {2, 3});
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->dtype(), dtype);
    EXPECT_EQ(t->num_elements(), 6);
    if (dtype == DType::kString) {
      EXPECT_THAT(t->strings(), ElementsAre("", "", "", "", "", ""));
      continue;
    }
    EXPECT_EQ(t->byte_size(), 6 * DTypeSize(dtype));
    const auto* p = static_cast<const uint8_t*>(t->raw_data());
    for (size_t i = 0; i < t->byte_size(); ++i) ASSERT_EQ(p[i], 0) << i;
  }
  auto scalar = Tensor::Zeros(DType::kFloat64, {});
  ASSERT_TRUE(scalar.ok());
  EXPECT_THAT(scalar->data<double>(), ElementsAre(0.0));
  auto empty = Tensor::Zeros(DType::kInt8, {2, 0});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->num_elements(), 0);
}

TEST(TensorTest, ZerosRejectsBadArguments) {
  ExpectInvalid(Tensor::Zeros(DType::kInvalid, {2}),
                "Tensor::Zeros: dtype invalid has no elements");
  ExpectInvalid(Tensor::Zeros(DType::kFloat32, {3, -1}),
                "shape [3,-1]: dim 1 is -1, must be >= 0");
}

// ---------------------------------------------------------------- equality

TEST(TensorTest, EqualityNeedsDTypeShapeAndBits) {
  Tensor a = *Tensor::FromSpan<int32_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(a, *Tensor::FromSpan<int32_t>({1, 2, 3, 4, 5, 6}, {2, 3}));
  EXPECT_NE(a, *Tensor::FromSpan<int32_t>({1, 2, 3, 4, 5, 6}, {3, 2}));
  EXPECT_NE(a, *Tensor::FromSpan<int32_t>({1, 2, 3, 4, 5, 6}, {6}));
  EXPECT_NE(a, *Tensor::FromSpan<int32_t>({1, 2, 3, 4, 5, 7}, {2, 3}));
  EXPECT_NE(a, *Tensor::FromSpan<uint32_t>({1, 2, 3, 4, 5, 6}, {2, 3}));
  EXPECT_NE(Tensor::Scalar(1.0f), Tensor::Vector<float>({1.0f}));
  EXPECT_NE(a, Tensor());
}

TEST(TensorTest, FloatEqualityIsBitwise) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(Tensor::Scalar(nan), Tensor::Scalar(nan));
  EXPECT_NE(Tensor::Scalar(0.0f), Tensor::Scalar(-0.0f));
}

TEST(TensorTest, ZeroSizeTensorsOfOneTypeAreEqual) {
  EXPECT_EQ(*Tensor::Zeros(DType::kFloat32, {2, 0}),
            *Tensor::FromSpan<float>({}, {2, 0}));
  EXPECT_NE(*Tensor::Zeros(DType::kFloat32, {2, 0}),
            *Tensor::Zeros(DType::kFloat32, {0, 2}));
}

// ------------------------------------------------------------------ shapes

TEST(CheckedNumElementsTest, CountsElements) {
  EXPECT_EQ(*CheckedNumElements({}), 1);
  EXPECT_EQ(*CheckedNumElements({7}), 7);
  EXPECT_EQ(*CheckedNumElements({2, 3, 4}), 24);
  EXPECT_EQ(*CheckedNumElements({0}), 0);
  EXPECT_EQ(*CheckedNumElements({2, 0}), 0);
  EXPECT_EQ(*CheckedNumElements({kMaxTensorElements}), kMaxTensorElements);
  EXPECT_EQ(*CheckedNumElements({kMaxTensorElements / 2, 2}),
            kMaxTensorElements);
  // A zero dim anywhere makes the count 0, even after huge dims.
  EXPECT_EQ(*CheckedNumElements({kMaxTensorElements, kMaxTensorElements, 0}),
            0);
}

TEST(CheckedNumElementsTest, NamesTheOffendingDim) {
  ExpectInvalid(CheckedNumElements({2, -3}),
                "shape [2,-3]: dim 1 is -3, must be >= 0");
  ExpectInvalid(CheckedNumElements({0, -1}),
                "shape [0,-1]: dim 1 is -1, must be >= 0");
  ExpectInvalid(CheckedNumElements({kMaxTensorElements + 1}),
                "shape [1099511627777]: dim 0 is 1099511627777, more than the "
                "limit of 1099511627776 elements");
  ExpectInvalid(CheckedNumElements({kMaxTensorElements, 2}),
                "shape [1099511627776,2]: dim 1 (2) takes the element count "
                "over the limit of 1099511627776");
  ExpectInvalid(CheckedNumElements({1 << 20, 1 << 20, 1 << 20}),
                "shape [1048576,1048576,1048576]: dim 2 (1048576) takes the "
                "element count over the limit of 1099511627776");
  // Products that would overflow int64 are caught before they do.
  ExpectInvalid(
      CheckedNumElements({kMaxTensorElements, kMaxTensorElements}),
      "shape [1099511627776,1099511627776]: dim 1 (1099511627776) takes the "
      "element count over the limit of 1099511627776");
  ExpectInvalid(CheckedNumElements({std::numeric_limits<int64_t>::min()}),
                "shape [-9223372036854775808]: dim 0 is -9223372036854775808, "
                "must be >= 0");
}

TEST(ShapeStringTest, Brackets) {
  EXPECT_EQ(ShapeString({}), "[]");
  EXPECT_EQ(ShapeString({0}), "[0]");
  EXPECT_EQ(ShapeString({2, 3}), "[2,3]");
}

// ---------------------------------------------------------- Array encoding

// Distinctive values of every type, including the extremes.
template <typename T>
T SampleValue(int i) {
  if constexpr (std::is_same_v<T, bool>) {
    return i % 3 == 0;
  } else if constexpr (std::is_same_v<T, Float16> ||
                       std::is_same_v<T, BFloat16>) {
    constexpr uint16_t kBits[] = {0, 0xffff, 0x3c00, 0x8000, 0x7e00, 1};
    return T{kBits[i % 6]};
  } else if constexpr (std::is_floating_point_v<T>) {
    const T values[] = {T(1.5),
                        T(-0.0),
                        std::numeric_limits<T>::infinity(),
                        std::numeric_limits<T>::quiet_NaN(),
                        std::numeric_limits<T>::max(),
                        std::numeric_limits<T>::denorm_min()};
    return values[i % 6];
  } else if constexpr (std::is_integral_v<T>) {
    const T values[] = {std::numeric_limits<T>::min(),
                        std::numeric_limits<T>::max(),
                        T(0),
                        T(1),
                        static_cast<T>(-1),
                        T(42)};
    return values[i % 6];
  } else {  // complex
    using P = typename T::value_type;
    return T(SampleValue<P>(i), SampleValue<P>(i + 1));
  }
}

Tensor Sample(DType dtype, const std::vector<int64_t>& shape) {
  const int64_t count = *CheckedNumElements(shape);
  if (dtype == DType::kString) {
    std::vector<std::string> values;
    for (int64_t i = 0; i < count; ++i) {
      values.push_back(i % 2 ? std::string("\0\xff", 2)
                             : "s" + std::to_string(i));
    }
    return *Tensor::FromStrings(std::move(values), shape);
  }
  return VisitDType(dtype, [&](auto zero) -> Tensor {
    using T = decltype(zero);
    if constexpr (std::is_same_v<T, std::string>) {
      return Tensor();
    } else {
      // Not std::vector, which packs bools into bits.
      auto values = std::make_unique<T[]>(count);
      for (int64_t i = 0; i < count; ++i) values[i] = SampleValue<T>(i);
      return *Tensor::FromSpan<T>(absl::MakeConstSpan(values.get(), count),
                                  shape);
    }
  });
}

// Encodes, serializes, parses and decodes.
absl::StatusOr<Tensor> ThroughWire(const fl::Array& array) {
  fl::Array parsed;
  if (!parsed.ParseFromString(array.SerializeAsString())) {
    return absl::InternalError("parse failed");
  }
  return TensorFromArray(parsed);
}

TEST(ArrayTest, EveryDTypeRoundTripsThroughBothEncodings) {
  const std::vector<std::vector<int64_t>> shapes = {{},  {0},    {2, 0},   {1},
                                                    {6}, {2, 3}, {2, 1, 3}};
  for (DType dtype : kAllDTypes) {
    for (const auto& shape : shapes) {
      const Tensor t = Sample(dtype, shape);
      SCOPED_TRACE(t.TypeString());
      fl::Array listed;
      TensorToArray(t, &listed);
      EXPECT_FALSE(listed.has_content());
      EXPECT_TRUE(listed.has_shape());
      EXPECT_NE(listed.kind_case(), fl::Array::KIND_NOT_SET);
      absl::StatusOr<Tensor> back = ThroughWire(listed);
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_EQ(*back, t);

      fl::Array content;
      TensorToArrayContent(t, &content);
      EXPECT_TRUE(content.has_shape());
      if (dtype == DType::kString) {
        EXPECT_EQ(content.SerializeAsString(), listed.SerializeAsString());
      } else {
        EXPECT_TRUE(content.has_content());
        EXPECT_EQ(content.kind_case(), fl::Array::KIND_NOT_SET);
        EXPECT_EQ(content.content().size(), t.byte_size());
      }
      back = ThroughWire(content);
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_EQ(*back, t);
    }
  }
}

TEST(ArrayTest, EachDTypeUsesItsOwnList) {
  const std::pair<DType, fl::Array::KindCase> table[] = {
      {DType::kBool, fl::Array::kBoolList},
      {DType::kInt8, fl::Array::kInt8List},
      {DType::kInt16, fl::Array::kInt16List},
      {DType::kInt32, fl::Array::kInt32List},
      {DType::kInt64, fl::Array::kInt64List},
      {DType::kUInt8, fl::Array::kUint8List},
      {DType::kUInt16, fl::Array::kUint16List},
      {DType::kUInt32, fl::Array::kUint32List},
      {DType::kUInt64, fl::Array::kUint64List},
      {DType::kFloat16, fl::Array::kFloat16List},
      {DType::kBFloat16, fl::Array::kBfloat16List},
      {DType::kFloat32, fl::Array::kFloat32List},
      {DType::kFloat64, fl::Array::kFloat64List},
      {DType::kComplex64, fl::Array::kComplex64List},
      {DType::kComplex128, fl::Array::kComplex128List},
      {DType::kString, fl::Array::kStringList},
  };
  for (const auto& [dtype, kind] : table) {
    SCOPED_TRACE(DTypeName(dtype));
    fl::Array array;
    TensorToArray(Sample(dtype, {2}), &array);
    EXPECT_EQ(array.kind_case(), kind);
    EXPECT_EQ(static_cast<int>(array.dtype()), static_cast<int>(dtype));
  }
}

TEST(ArrayTest, NarrowTypesAreWidenedValueByValue) {
  fl::Array array;
  TensorToArray(Tensor::Vector<int8_t>({-128, 127, -1}), &array);
  EXPECT_THAT(array.int8_list().value(), ElementsAre(-128, 127, -1));
  TensorToArray(Tensor::Vector<uint8_t>({0, 255}), &array);
  EXPECT_THAT(array.uint8_list().value(), ElementsAre(0, 255));
  TensorToArray(Tensor::Vector<int16_t>({-32768, 32767}), &array);
  EXPECT_THAT(array.int16_list().value(), ElementsAre(-32768, 32767));
  TensorToArray(Tensor::Vector<uint16_t>({65535}), &array);
  EXPECT_THAT(array.uint16_list().value(), ElementsAre(65535));
  TensorToArray(Tensor::Vector<Float16>({{0xffff}, {0x3c00}}), &array);
  EXPECT_THAT(array.float16_list().value(), ElementsAre(65535, 0x3c00));
  TensorToArray(Tensor::Vector<BFloat16>({{0x8000}}), &array);
  EXPECT_THAT(array.bfloat16_list().value(), ElementsAre(0x8000));
}

TEST(ArrayTest, ComplexListsInterleaveRealAndImaginaryParts) {
  fl::Array array;
  TensorToArray(Tensor::Vector<std::complex<float>>({{1, 2}, {3, -4}}), &array);
  EXPECT_THAT(array.complex64_list().value(), ElementsAre(1, 2, 3, -4));

  array.Clear();
  array.set_dtype(fl::DT_COMPLEX128);
  array.mutable_shape()->add_dim(2);
  for (double v : {1.0, 2.0, 3.0, -4.0}) {
    array.mutable_complex128_list()->add_value(v);
  }
  auto t = TensorFromArray(array);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(
      t->data<std::complex<double>>(),
      ElementsAre(std::complex<double>(1, 2), std::complex<double>(3, -4)));
}

TEST(ArrayTest, ScalarsAreEncodedWithAnEmptyShape) {
  fl::Array array;
  TensorToArray(Tensor::Scalar(1.0f), &array);
  EXPECT_TRUE(array.has_shape());
  EXPECT_EQ(array.shape().dim_size(), 0);
  // dtype=1 (DT_FLOAT), shape {} (field 2, empty), float32_list (field 13)
  // holding one packed float 1.0.
  EXPECT_EQ(
      array.SerializeAsString(),
      std::string("\x08\x01\x12\x00\x6a\x06\x0a\x04\x00\x00\x80\x3f", 12));
}

TEST(ArrayTest, EncodingReplacesWhatTheArrayHeld) {
  fl::Array array;
  array.set_content("junk");
  array.mutable_shape()->set_unknown_rank(true);
  array.mutable_shape()->add_dim(9);
  TensorToArray(Tensor::Scalar(int32_t{5}), &array);
  fl::Array fresh;
  TensorToArray(Tensor::Scalar(int32_t{5}), &fresh);
  EXPECT_EQ(array.SerializeAsString(), fresh.SerializeAsString());

  array.mutable_float32_list()->add_value(1);
  TensorToArrayContent(Tensor::Scalar(int32_t{5}), &array);
  EXPECT_EQ(array.kind_case(), fl::Array::KIND_NOT_SET);
  EXPECT_EQ(array.content(), std::string("\x05\x00\x00\x00", 4));
}

TEST(ArrayTest, DefaultTensorEncodesAsInvalidDType) {
  fl::Array array;
  TensorToArray(Tensor(), &array);
  EXPECT_EQ(array.dtype(), fl::DT_INVALID);
  EXPECT_EQ(array.kind_case(), fl::Array::KIND_NOT_SET);
  ExpectInvalid(TensorFromArray(array),
                "Array: dtype DT_INVALID is not a valid element type");
}

TEST(ArrayTest, DecodesRawLittleEndianContent) {
  fl::Array array;
  array.set_dtype(fl::DT_INT32);
  array.mutable_shape()->add_dim(2);
  array.set_content(std::string("\x01\x00\x00\x00\xfe\xff\xff\xff", 8));
  auto t = TensorFromArray(array);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->data<int32_t>(), ElementsAre(1, -2));
  EXPECT_TRUE(IsAligned(t->raw_data(), 64));
}

TEST(ArrayTest, AbsentElementsAreFineForZeroSizeTensors) {
  for (DType dtype : kAllDTypes) {
    SCOPED_TRACE(DTypeName(dtype));
    fl::Array array;
    array.set_dtype(static_cast<fl::DataType>(dtype));
    array.mutable_shape()->add_dim(2);
    array.mutable_shape()->add_dim(0);
    auto t = TensorFromArray(array);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->dtype(), dtype);
    EXPECT_THAT(t->shape(), ElementsAre(2, 0));
  }
  fl::Array empty_content;
  empty_content.set_dtype(fl::DT_FLOAT);
  empty_content.mutable_shape()->add_dim(0);
  empty_content.set_content("");
  EXPECT_TRUE(TensorFromArray(empty_content).ok());
}

TEST(ArrayTest, AnAbsentShapeIsAScalar) {
  fl::Array array;
  array.set_dtype(fl::DT_INT64);
  array.mutable_int64_list()->add_value(-7);
  auto t = TensorFromArray(array);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, Tensor::Scalar(int64_t{-7}));
}

// ------------------------------------------------------- Array decode errors

fl::Array FloatArray(std::vector<int64_t> dims, int values) {
  fl::Array array;
  array.set_dtype(fl::DT_FLOAT);
  for (int64_t d : dims) array.mutable_shape()->add_dim(d);
  auto* list = array.mutable_float32_list();
  for (int i = 0; i < values; ++i) list->add_value(i);
  return array;
}

TEST(ArrayErrorTest, DTypeMustBeValid) {
  fl::Array array = FloatArray({}, 1);
  array.set_dtype(fl::DT_INVALID);
  ExpectInvalid(TensorFromArray(array),
                "Array: dtype DT_INVALID is not a valid element type");
  array.set_dtype(static_cast<fl::DataType>(11));
  ExpectInvalid(TensorFromArray(array),
                "Array: dtype 11 is not a valid element type");
  array.set_dtype(static_cast<fl::DataType>(-4));
  ExpectInvalid(TensorFromArray(array),
                "Array: dtype -4 is not a valid element type");
}

TEST(ArrayErrorTest, ShapeMustBeKnown) {
  fl::Array array = FloatArray({}, 1);
  array.mutable_shape()->set_unknown_rank(true);
  ExpectInvalid(TensorFromArray(array),
                "Array: shape has unknown_rank set; a value needs a known "
                "shape");
  ExpectInvalid(TensorFromArray(FloatArray({2, -1}, 2)),
                "Array: shape [2,-1]: dim 1 is unknown (-1); a value needs a "
                "known shape");
  ExpectInvalid(TensorFromArray(FloatArray({-2, 3}, 0)),
                "Array: shape [-2,3]: dim 0 is -2, must be >= 0");
  ExpectInvalid(TensorFromArray(FloatArray({1 << 30, 1 << 30, 1 << 30}, 0)),
                "Array: shape [1073741824,1073741824,1073741824]: dim 1 "
                "(1073741824) takes the element count over the limit of "
                "1099511627776");
}

TEST(ArrayErrorTest, ListMustMatchTheDType) {
  fl::Array array;
  array.set_dtype(fl::DT_FLOAT);
  array.mutable_int32_list()->add_value(1);
  ExpectInvalid(TensorFromArray(array),
                "Array: dtype DT_FLOAT but int32_list given");

  array.set_dtype(fl::DT_INT8);
  ExpectInvalid(TensorFromArray(array),
                "Array: dtype DT_INT8 but int32_list given");
  array.set_dtype(fl::DT_INT32);
  array.mutable_int8_list()->add_value(1);
  ExpectInvalid(TensorFromArray(array),
                "Array: dtype DT_INT32 but int8_list given");
  array.set_dtype(fl::DT_INT16);
  ExpectInvalid(TensorFromArray(array),
                "Array: dtype DT_INT16 but int8_list given");
  array.set_dtype(fl::DT_BFLOAT16);
  array.mutable_float16_list()->add_value(1);
  ExpectInvalid(TensorFromArray(array),
                "Array: dtype DT_BFLOAT16 but float16_list given");
  array.set_dtype(fl::DT_HALF);
  array.mutable_bfloat16_list()->add_value(1);
  ExpectInvalid(TensorFromArray(array),
                "Array: dtype DT_HALF but bfloat16_list given");
  array.set_dtype(fl::DT_COMPLEX64);
  array.mutable_float32_list()->add_value(1);
  array.mutable_float32_list()->add_value(2);
  ExpectInvalid(TensorFromArray(array),
                "Array: dtype DT_COMPLEX64 but float32_list given");
  array.set_dtype(fl::DT_UINT8);
  array.mutable_uint16_list()->add_value(1);
  ExpectInvalid(TensorFromArray(array),
                "Array: dtype DT_UINT8 but uint16_list given");
  array.set_dtype(fl::DT_STRING);
  array.mutable_uint8_list()->add_value(1);
  ExpectInvalid(TensorFromArray(array),
                "Array: dtype DT_STRING but uint8_list given");
  array.set_dtype(fl::DT_BOOL);
  array.mutable_string_list()->add_value("x");
  ExpectInvalid(TensorFromArray(array),
                "Array: dtype DT_BOOL but string_list given");
}

TEST(ArrayErrorTest, ElementCountMustMatchTheShape) {
  ExpectInvalid(TensorFromArray(FloatArray({2, 3}, 5)),
                "Array: shape [2,3] needs 6 elements, float32_list has 5");
  ExpectInvalid(TensorFromArray(FloatArray({}, 2)),
                "Array: shape [] needs 1 elements, float32_list has 2");
  ExpectInvalid(TensorFromArray(FloatArray({0}, 1)),
                "Array: shape [0] needs 0 elements, float32_list has 1");

  fl::Array missing;
  missing.set_dtype(fl::DT_INT64);
  missing.mutable_shape()->add_dim(3);
  ExpectInvalid(TensorFromArray(missing),
                "Array: shape [3] needs 3 elements, but neither int64_list "
                "nor content is given");

  fl::Array complex;
  complex.set_dtype(fl::DT_COMPLEX64);
  complex.mutable_shape()->add_dim(2);
  for (int i = 0; i < 3; ++i) complex.mutable_complex64_list()->add_value(i);
  ExpectInvalid(TensorFromArray(complex),
                "Array: shape [2] needs 2 elements (4 interleaved real and "
                "imaginary parts), complex64_list has 3");
}

TEST(ArrayErrorTest, ContentRules) {
  fl::Array both = FloatArray({}, 1);
  both.set_content(std::string(4, '\0'));
  ExpectInvalid(TensorFromArray(both),
                "Array: both content and float32_list given; set only one");

  fl::Array strings;
  strings.set_dtype(fl::DT_STRING);
  strings.mutable_shape()->add_dim(1);
  strings.set_content("abc");
  ExpectInvalid(TensorFromArray(strings),
                "Array: content is not allowed for DT_STRING; use string_list");

  fl::Array short_content;
  short_content.set_dtype(fl::DT_FLOAT);
  short_content.mutable_shape()->add_dim(2);
  short_content.mutable_shape()->add_dim(3);
  short_content.set_content(std::string(20, '\0'));
  ExpectInvalid(TensorFromArray(short_content),
                "Array: shape [2,3] of DT_FLOAT needs 24 bytes of content, "
                "content has 20");
  short_content.set_content(std::string(25, '\0'));
  ExpectInvalid(TensorFromArray(short_content),
                "Array: shape [2,3] of DT_FLOAT needs 24 bytes of content, "
                "content has 25");

  fl::Array bools;
  bools.set_dtype(fl::DT_BOOL);
  bools.mutable_shape()->add_dim(3);
  bools.set_content(std::string("\x01\x00\x02", 3));
  ExpectInvalid(TensorFromArray(bools),
                "Array: content byte 2 is 2, not a bool (0 or 1)");
}

TEST(ArrayErrorTest, WidenedValuesMustFit) {
  struct Case {
    fl::DataType dtype;
    int32_t value;
    std::string message;
  };
  const Case cases[] = {
      {fl::DT_INT8, 128,
       "Array: int8_list value 128 at index 1 is out of range [-128, 127]"},
      {fl::DT_INT8, -129,
       "Array: int8_list value -129 at index 1 is out of range [-128, 127]"},
      {fl::DT_INT16, 32768,
       "Array: int16_list value 32768 at index 1 is out of range [-32768, "
       "32767]"},
      {fl::DT_UINT8, -1,
       "Array: uint8_list value -1 at index 1 is out of range [0, 255]"},
      {fl::DT_UINT8, 256,
       "Array: uint8_list value 256 at index 1 is out of range [0, 255]"},
      {fl::DT_UINT16, 65536,
       "Array: uint16_list value 65536 at index 1 is out of range [0, "
       "65535]"},
      {fl::DT_HALF, -1,
       "Array: float16_list value -1 at index 1 is out of range [0, 65535]"},
      {fl::DT_BFLOAT16, 70000,
       "Array: bfloat16_list value 70000 at index 1 is out of range [0, "
       "65535]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    fl::Array array;
    array.set_dtype(c.dtype);
    array.mutable_shape()->add_dim(2);
    google::protobuf::RepeatedField<int32_t>* list = nullptr;
    switch (c.dtype) {
      case fl::DT_INT8:
        list = array.mutable_int8_list()->mutable_value();
        break;
      case fl::DT_INT16:
        list = array.mutable_int16_list()->mutable_value();
        break;
      case fl::DT_UINT8:
        list = array.mutable_uint8_list()->mutable_value();
        break;
      case fl::DT_UINT16:
        list = array.mutable_uint16_list()->mutable_value();
        break;
      case fl::DT_HALF:
        list = array.mutable_float16_list()->mutable_value();
        break;
      default:
        list = array.mutable_bfloat16_list()->mutable_value();
        break;
    }
    list->Add(0);
    list->Add(c.value);
    ExpectInvalid(TensorFromArray(array), c.message);
  }
}

// ---------------------------------------------------------- compat vectors

std::string ReadCompatFile(const std::string& name) {
  return fedexec::test_util::ReadFile(fedexec::test_util::SourceDir() /
                                      "testdata" / "compat" / "protocol" /
                                      name);
}

TEST(CompatTest, CreateValueRequestWithContent) {
  const std::string bytes = ReadCompatFile("create_value_request.pb");
  ASSERT_FALSE(bytes.empty()) << "set FEDEXEC_SOURCE_DIR to the repo";
  tensorflow_federated::v0::CreateValueRequest request;
  ASSERT_TRUE(request.ParseFromString(bytes));
  const fl::Array& array = request.value().array();
  ASSERT_TRUE(array.has_content());
  auto t = TensorFromArray(array);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->TypeString(), "float32[3]");
  EXPECT_THAT(t->data<float>(), ElementsAre(1.0f, 2.0f, 3.0f));

  // Re-encoding as content reproduces the vector byte for byte.
  tensorflow_federated::v0::CreateValueRequest again = request;
  TensorToArrayContent(*t, again.mutable_value()->mutable_array());
  EXPECT_EQ(again.SerializeAsString(), bytes);
}

TEST(CompatTest, CreateValueFederatedRequestWithTypedLists) {
  const std::string bytes = ReadCompatFile("create_value_federated_request.pb");
  ASSERT_FALSE(bytes.empty()) << "set FEDEXEC_SOURCE_DIR to the repo";
  tensorflow_federated::v0::CreateValueRequest request;
  ASSERT_TRUE(request.ParseFromString(bytes));
  const auto& members = request.value().federated().value();
  ASSERT_EQ(members.size(), 3);
  tensorflow_federated::v0::CreateValueRequest again = request;
  for (int i = 0; i < 3; ++i) {
    auto t = TensorFromArray(members[i].array());
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(*t, Tensor::Scalar(static_cast<float>(i + 1)));
    TensorToArray(*t, again.mutable_value()
                          ->mutable_federated()
                          ->mutable_value(i)
                          ->mutable_array());
  }
  // The canonical encoding (with `shape { }` for scalars) matches exactly.
  EXPECT_EQ(again.SerializeAsString(), bytes);
}

}  // namespace
}  // namespace fedexec
