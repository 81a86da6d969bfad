#include "core/dtype.h"

#include <array>
#include <utility>

namespace fedexec {
namespace {

constexpr std::array<std::pair<DType, std::string_view>, 16> kNames = {{
    {DType::kFloat32, "float32"},
    {DType::kFloat64, "float64"},
    {DType::kInt32, "int32"},
    {DType::kUInt8, "uint8"},
    {DType::kInt16, "int16"},
    {DType::kInt8, "int8"},
    {DType::kString, "string"},
    {DType::kComplex64, "complex64"},
    {DType::kInt64, "int64"},
    {DType::kBool, "bool"},
    {DType::kBFloat16, "bfloat16"},
    {DType::kUInt16, "uint16"},
    {DType::kComplex128, "complex128"},
    {DType::kFloat16, "float16"},
    {DType::kUInt32, "uint32"},
    {DType::kUInt64, "uint64"},
}};

}  // namespace

std::string_view DTypeName(DType dtype) {
  for (const auto& [d, name] : kNames) {
    if (d == dtype) return name;
  }
  return "invalid";
}

std::optional<DType> DTypeFromName(std::string_view name) {
  for (const auto& [d, n] : kNames) {
    if (n == name) return d;
  }
  return std::nullopt;
}

bool IsValidWireDType(int wire) {
  for (const auto& [d, name] : kNames) {
    if (static_cast<int>(d) == wire) return true;
  }
  return false;
}

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kBool:
    case DType::kInt8:
    case DType::kUInt8:
      return 1;
    case DType::kInt16:
    case DType::kUInt16:
    case DType::kFloat16:
    case DType::kBFloat16:
      return 2;
    case DType::kInt32:
    case DType::kUInt32:
    case DType::kFloat32:
      return 4;
    case DType::kInt64:
    case DType::kUInt64:
    case DType::kFloat64:
    case DType::kComplex64:
      return 8;
    case DType::kComplex128:
      return 16;
    case DType::kString:
    case DType::kInvalid:
      return 0;
  }
  return 0;
}

bool IsFloating(DType dtype) {
  return dtype == DType::kFloat16 || dtype == DType::kBFloat16 ||
         dtype == DType::kFloat32 || dtype == DType::kFloat64;
}

bool IsComplex(DType dtype) {
  return dtype == DType::kComplex64 || dtype == DType::kComplex128;
}

bool IsInteger(DType dtype) {
  switch (dtype) {
    case DType::kInt8:
    case DType::kInt16:
    case DType::kInt32:
    case DType::kInt64:
    case DType::kUInt8:
    case DType::kUInt16:
    case DType::kUInt32:
    case DType::kUInt64:
      return true;
    default:
      return false;
  }
}

bool IsNumeric(DType dtype) {
  return IsInteger(dtype) || IsFloating(dtype) || IsComplex(dtype);
}

}  // namespace fedexec
