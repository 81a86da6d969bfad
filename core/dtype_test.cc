// Specification of the element types: wire numbers, names, sizes and the
// C++ types that hold them.
#include "core/dtype.h"

#include <complex>
#include <string>
#include <type_traits>

#include "federated_language/data_type.pb.h"
#include "gtest/gtest.h"

namespace fedexec {
namespace {

namespace fl = federated_language;

constexpr DType kAllDTypes[] = {
    DType::kFloat32,    DType::kFloat64, DType::kInt32,    DType::kUInt8,
    DType::kInt16,      DType::kInt8,    DType::kString,   DType::kComplex64,
    DType::kInt64,      DType::kBool,    DType::kBFloat16, DType::kUInt16,
    DType::kComplex128, DType::kFloat16, DType::kUInt32,   DType::kUInt64,
};

TEST(DTypeTest, NumbersAreTheWireNumbers) {
  EXPECT_EQ(static_cast<int>(DType::kInvalid), fl::DT_INVALID);
  EXPECT_EQ(static_cast<int>(DType::kFloat32), fl::DT_FLOAT);
  EXPECT_EQ(static_cast<int>(DType::kFloat64), fl::DT_DOUBLE);
  EXPECT_EQ(static_cast<int>(DType::kInt32), fl::DT_INT32);
  EXPECT_EQ(static_cast<int>(DType::kUInt8), fl::DT_UINT8);
  EXPECT_EQ(static_cast<int>(DType::kInt16), fl::DT_INT16);
  EXPECT_EQ(static_cast<int>(DType::kInt8), fl::DT_INT8);
  EXPECT_EQ(static_cast<int>(DType::kString), fl::DT_STRING);
  EXPECT_EQ(static_cast<int>(DType::kComplex64), fl::DT_COMPLEX64);
  EXPECT_EQ(static_cast<int>(DType::kInt64), fl::DT_INT64);
  EXPECT_EQ(static_cast<int>(DType::kBool), fl::DT_BOOL);
  EXPECT_EQ(static_cast<int>(DType::kBFloat16), fl::DT_BFLOAT16);
  EXPECT_EQ(static_cast<int>(DType::kUInt16), fl::DT_UINT16);
  EXPECT_EQ(static_cast<int>(DType::kComplex128), fl::DT_COMPLEX128);
  EXPECT_EQ(static_cast<int>(DType::kFloat16), fl::DT_HALF);
  EXPECT_EQ(static_cast<int>(DType::kUInt32), fl::DT_UINT32);
  EXPECT_EQ(static_cast<int>(DType::kUInt64), fl::DT_UINT64);
}

TEST(DTypeTest, NamesOfTheTextSyntax) {
  EXPECT_EQ(DTypeName(DType::kFloat32), "float32");
  EXPECT_EQ(DTypeName(DType::kFloat64), "float64");
  EXPECT_EQ(DTypeName(DType::kFloat16), "float16");
  EXPECT_EQ(DTypeName(DType::kBFloat16), "bfloat16");
  EXPECT_EQ(DTypeName(DType::kInt8), "int8");
  EXPECT_EQ(DTypeName(DType::kUInt64), "uint64");
  EXPECT_EQ(DTypeName(DType::kComplex128), "complex128");
  EXPECT_EQ(DTypeName(DType::kBool), "bool");
  EXPECT_EQ(DTypeName(DType::kString), "string");
  EXPECT_EQ(DTypeName(DType::kInvalid), "invalid");
}

TEST(DTypeTest, EveryNameParsesBackToItsDType) {
  for (DType dtype : kAllDTypes) {
    SCOPED_TRACE(DTypeName(dtype));
    EXPECT_EQ(DTypeFromName(DTypeName(dtype)), dtype);
  }
}

TEST(DTypeTest, UnknownNamesDoNotParse) {
  EXPECT_EQ(DTypeFromName("invalid"), std::nullopt);
  EXPECT_EQ(DTypeFromName(""), std::nullopt);
  EXPECT_EQ(DTypeFromName("float"), std::nullopt);
  EXPECT_EQ(DTypeFromName("Float32"), std::nullopt);
  EXPECT_EQ(DTypeFromName("float32 "), std::nullopt);
  EXPECT_EQ(DTypeFromName("DT_FLOAT"), std::nullopt);
}

TEST(DTypeTest, ValidWireNumbersAreExactlyTheNamedOnes) {
  for (DType dtype : kAllDTypes) {
    EXPECT_TRUE(IsValidWireDType(static_cast<int>(dtype))) << DTypeName(dtype);
  }
  for (int wire : {0, 11, 12, 13, 15, 16, 20, 21, 24, -1, 100, 1 << 30}) {
    EXPECT_FALSE(IsValidWireDType(wire)) << wire;
  }
}

TEST(DTypeTest, SizesAreTheSizesOfTheCppTypes) {
  for (DType dtype : kAllDTypes) {
    SCOPED_TRACE(DTypeName(dtype));
    if (dtype == DType::kString) continue;
    const size_t size =
        VisitDType(dtype, [](auto v) { return sizeof(decltype(v)); });
    EXPECT_EQ(DTypeSize(dtype), size);
  }
  EXPECT_EQ(DTypeSize(DType::kBool), 1u);
  EXPECT_EQ(DTypeSize(DType::kFloat16), 2u);
  EXPECT_EQ(DTypeSize(DType::kBFloat16), 2u);
  EXPECT_EQ(DTypeSize(DType::kComplex64), 8u);
  EXPECT_EQ(DTypeSize(DType::kComplex128), 16u);
  EXPECT_EQ(DTypeSize(DType::kString), 0u);
  EXPECT_EQ(DTypeSize(DType::kInvalid), 0u);
}

TEST(DTypeTest, VisitGivesTheTypeOfTheDType) {
  for (DType dtype : kAllDTypes) {
    SCOPED_TRACE(DTypeName(dtype));
    const DType visited =
        VisitDType(dtype, [](auto v) { return DTypeOf<decltype(v)>::value; });
    EXPECT_EQ(visited, dtype);
  }
}

TEST(DTypeTest, Categories) {
  struct Expected {
    DType dtype;
    bool floating, complex, integer;
  };
  const Expected table[] = {
      {DType::kFloat16, true, false, false},
      {DType::kBFloat16, true, false, false},
      {DType::kFloat32, true, false, false},
      {DType::kFloat64, true, false, false},
      {DType::kComplex64, false, true, false},
      {DType::kComplex128, false, true, false},
      {DType::kInt8, false, false, true},
      {DType::kInt16, false, false, true},
      {DType::kInt32, false, false, true},
      {DType::kInt64, false, false, true},
      {DType::kUInt8, false, false, true},
      {DType::kUInt16, false, false, true},
      {DType::kUInt32, false, false, true},
      {DType::kUInt64, false, false, true},
      {DType::kBool, false, false, false},
      {DType::kString, false, false, false},
      {DType::kInvalid, false, false, false},
  };
  for (const Expected& e : table) {
    SCOPED_TRACE(DTypeName(e.dtype));
    EXPECT_EQ(IsFloating(e.dtype), e.floating);
    EXPECT_EQ(IsComplex(e.dtype), e.complex);
    EXPECT_EQ(IsInteger(e.dtype), e.integer);
    EXPECT_EQ(IsNumeric(e.dtype), e.floating || e.complex || e.integer);
  }
}

TEST(DTypeTest, HalfPrecisionTypesAreTheirBitPatterns) {
  static_assert(sizeof(Float16) == 2 && sizeof(BFloat16) == 2);
  static_assert(std::is_trivially_copyable_v<Float16>);
  static_assert(std::is_trivially_copyable_v<BFloat16>);
  EXPECT_EQ(Float16{0x3c00}, Float16{0x3c00});
  EXPECT_NE(Float16{0x3c00}, Float16{0xbc00});
  EXPECT_EQ(BFloat16{0x3f80}, BFloat16{0x3f80});
  EXPECT_NE(BFloat16{0x3f80}, BFloat16{0});
}

}  // namespace
}  // namespace fedexec
