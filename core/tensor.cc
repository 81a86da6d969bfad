// Tensor construction and comparison, buffer allocation, and the conversion
// between tensors and federated_language.Array protos.
#include "core/tensor.h"

#include <bit>
#include <complex>
#include <cstring>
#include <limits>
#include <new>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/limits.h"
#include "core/status.h"
#include "federated_language/array.pb.h"

namespace fedexec {

// Array `content` is little-endian; the buffers are copied as they are.
static_assert(std::endian::native == std::endian::little,
              "fedexec assumes a little-endian host");

namespace {

namespace fl = federated_language;

constexpr size_t kAlignment = 64;
// Buffers up to this size share one allocation with their reference count:
// the common case of many small per-client tensors then costs one malloc.
// Larger ones are allocated apart with a non-throwing allocation, so that a
// huge request fails with a status instead of aborting.
constexpr size_t kInlineBufferLimit = 1 << 20;

struct alignas(kAlignment) Block {
  std::byte bytes[kAlignment];
};

size_t PaddedSize(size_t bytes) {
  const size_t blocks = bytes / kAlignment + (bytes % kAlignment != 0);
  return blocks == 0 ? kAlignment : blocks * kAlignment;
}

struct AlignedDelete {
  void operator()(void* p) const {
    ::operator delete (p, std::align_val_t{kAlignment});
  }
};

// Abseil of this vintage has its own string_view; names go through here.
absl::string_view Name(DType dtype) {
  const std::string_view name = DTypeName(dtype);
  return absl::string_view(name.data(), name.size());
}

}  // namespace

std::shared_ptr<void> AllocateUninitializedBuffer(size_t bytes) {
  if (bytes > static_cast<size_t>(kMaxTensorElements) * 16) return nullptr;
  const size_t padded = PaddedSize(bytes);
  std::shared_ptr<void> buffer;
  if (padded == kAlignment) {
    // Scalars and short vectors: the cheapest form of the one allocation.
    buffer = std::make_shared_for_overwrite<Block>();
  } else if (padded <= kInlineBufferLimit) {
    buffer = std::make_shared_for_overwrite<Block[]>(padded / kAlignment);
  } else {
    void* p =
        ::operator new (padded, std::align_val_t{kAlignment}, std::nothrow);
    if (p == nullptr) return nullptr;
    buffer = std::shared_ptr<void>(p, AlignedDelete());
  }
  // Zero the padding so whole-block reads see defined bytes.
  std::memset(static_cast<std::byte*>(buffer.get()) + bytes, 0, padded - bytes);
  return buffer;
}

std::shared_ptr<void> AllocateBuffer(size_t bytes) {
  std::shared_ptr<void> buffer = AllocateUninitializedBuffer(bytes);
  if (buffer != nullptr && bytes > 0) std::memset(buffer.get(), 0, bytes);
  return buffer;
}

std::string ShapeString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

absl::StatusOr<int64_t> CheckedNumElements(absl::Span<const int64_t> shape) {
  bool has_zero = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeString(shape), ": dim ", i, " is ",
                       shape[i], ", must be >= 0"));
    }
    if (shape[i] > kMaxTensorElements) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shape ", ShapeString(shape), ": dim ", i, " is ", shape[i],
          ", more than the limit of ", kMaxTensorElements, " elements"));
    }
    has_zero |= shape[i] == 0;
  }
  // A zero dim makes the product 0 whatever the others are; checking the
  // running product would reject it spuriously.
  if (has_zero) return 0;
  int64_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    // count * dim > limit, without overflowing.
    if (count > kMaxTensorElements / shape[i]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shape ", ShapeString(shape), ": dim ", i, " (", shape[i],
          ") takes the element count over the limit of ", kMaxTensorElements));
    }
    count *= shape[i];
  }
  return count;
}

Tensor Tensor::Wrap(DType dtype, std::vector<int64_t> shape,
                    int64_t num_elements, std::shared_ptr<const void> owner,
                    const void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.num_elements_ = num_elements;
  t.owner_ = std::move(owner);
  t.data_ = data;
  return t;
}

absl::StatusOr<Tensor> Tensor::FromBuffer(DType dtype,
                                          std::vector<int64_t> shape,
                                          std::shared_ptr<const void> owner,
                                          const void* data, size_t bytes) {
  if (dtype == DType::kString || DTypeSize(dtype) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Tensor::FromBuffer: dtype ", Name(dtype),
                     " cannot view a raw buffer"));
  }
  FEDEXEC_ASSIGN_OR_RETURN(const int64_t count, CheckedNumElements(shape));
  const size_t element_size = DTypeSize(dtype);
  const size_t expected = static_cast<size_t>(count) * element_size;
  if (bytes != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("Tensor::FromBuffer: ", Name(dtype), ShapeString(shape),
                     " needs ", expected, " bytes, buffer has ", bytes));
  }
  if (data == nullptr && bytes > 0) {
    return absl::InvalidArgumentError("Tensor::FromBuffer: data is null");
  }
  // Every element type's alignment equals its size, except complex, which is
  // aligned like its parts.
  const size_t alignment = IsComplex(dtype) ? element_size / 2 : element_size;
  if (reinterpret_cast<uintptr_t>(data) % alignment != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Tensor::FromBuffer: data is not aligned to ", alignment,
                     " bytes as ", Name(dtype), " needs"));
  }
  if (dtype == DType::kBool) {
    // Reading a byte other than 0 or 1 as bool is undefined behaviour.
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < bytes; ++i) {
      if (p[i] > 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("Tensor::FromBuffer: byte ", i, " is ",
                         static_cast<int>(p[i]), ", not a bool (0 or 1)"));
      }
    }
  }
  return Wrap(dtype, std::move(shape), count, std::move(owner), data);
}

absl::StatusOr<Tensor> Tensor::FromStrings(std::vector<std::string> values,
                                           std::vector<int64_t> shape) {
  FEDEXEC_ASSIGN_OR_RETURN(const int64_t count, CheckedNumElements(shape));
  if (count != static_cast<int64_t>(values.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("shape ", ShapeString(shape), " needs ", count,
                     " elements, given ", values.size(), " values"));
  }
  auto strings =
      std::make_shared<const std::vector<std::string>>(std::move(values));
  const void* data = strings->data();
  return Wrap(DType::kString, std::move(shape), count, std::move(strings),
              data);
}

Tensor Tensor::StringScalar(std::string value) {
  std::vector<std::string> values;
  values.push_back(std::move(value));
  return *FromStrings(std::move(values), {});
}

absl::StatusOr<Tensor> Tensor::Zeros(DType dtype, std::vector<int64_t> shape) {
  FEDEXEC_ASSIGN_OR_RETURN(const int64_t count, CheckedNumElements(shape));
  if (dtype == DType::kString) {
    return FromStrings(std::vector<std::string>(count), std::move(shape));
  }
  if (DTypeSize(dtype) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Tensor::Zeros: dtype ", Name(dtype), " has no elements"));
  }
  const size_t bytes = static_cast<size_t>(count) * DTypeSize(dtype);
  std::shared_ptr<void> buffer = AllocateBuffer(bytes);
  if (buffer == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate ", bytes,
                                                     " bytes for ", Name(dtype),
                                                     ShapeString(shape)));
  }
  const void* data = buffer.get();
  return Wrap(dtype, std::move(shape), count, std::move(buffer), data);
}

absl::Span<const std::string> Tensor::strings() const {
  return absl::MakeConstSpan(static_cast<const std::string*>(data_),
                             dtype_ == DType::kString ? num_elements_ : 0);
}

bool Tensor::Equals(const Tensor& other) const {
  if (dtype_ != other.dtype_ || shape_ != other.shape_) return false;
  if (data_ == other.data_) return true;
  if (dtype_ == DType::kString) {
    const auto a = strings();
    const auto b = other.strings();
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  const size_t bytes = byte_size();
  return bytes == 0 || std::memcmp(data_, other.data_, bytes) == 0;
}

std::string Tensor::TypeString() const {
  if (shape_.empty()) return std::string(DTypeName(dtype_));
  return absl::StrCat(Name(dtype_), ShapeString(shape_));
}

// ------------------------------------------------------------ Array protos

namespace {

// The name of a wire dtype for messages: "DT_FLOAT", or the number when it
// has no name.
std::string WireDTypeName(int wire) {
  const std::string& name = fl::DataType_Name(static_cast<fl::DataType>(wire));
  return name.empty() ? absl::StrCat(wire) : name;
}

// The name of the field set in the `kind` oneof: "float32_list".
absl::string_view KindName(fl::Array::KindCase kind) {
  const auto* field = fl::Array::descriptor()->FindFieldByNumber(kind);
  return field == nullptr ? absl::string_view("no list")
                          : absl::string_view(field->name());
}

// The list that carries each dtype.
fl::Array::KindCase ListOf(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return fl::Array::kBoolList;
    case DType::kInt8:
      return fl::Array::kInt8List;
    case DType::kInt16:
      return fl::Array::kInt16List;
    case DType::kInt32:
      return fl::Array::kInt32List;
    case DType::kInt64:
      return fl::Array::kInt64List;
    case DType::kUInt8:
      return fl::Array::kUint8List;
    case DType::kUInt16:
      return fl::Array::kUint16List;
    case DType::kUInt32:
      return fl::Array::kUint32List;
    case DType::kUInt64:
      return fl::Array::kUint64List;
    case DType::kFloat16:
      return fl::Array::kFloat16List;
    case DType::kBFloat16:
      return fl::Array::kBfloat16List;
    case DType::kFloat32:
      return fl::Array::kFloat32List;
    case DType::kFloat64:
      return fl::Array::kFloat64List;
    case DType::kComplex64:
      return fl::Array::kComplex64List;
    case DType::kComplex128:
      return fl::Array::kComplex128List;
    case DType::kString:
      return fl::Array::kStringList;
    case DType::kInvalid:
      break;
  }
  return fl::Array::KIND_NOT_SET;
}

// Copies a list whose wire type is the element type (or, for complex, its
// interleaved parts) as one block.
template <typename W>
void CopyExact(const google::protobuf::RepeatedField<W>& values, void* out) {
  if (!values.empty()) {
    std::memcpy(out, values.data(), values.size() * sizeof(W));
  }
}

// Copies a list of int32-widened values into T, checking that each one fits
// in [lo, hi]. Convert maps the checked value to T.
template <typename T, typename Convert>
absl::Status CopyNarrowed(
    const google::protobuf::RepeatedField<int32_t>& values,
    absl::string_view field, int32_t lo, int32_t hi, Convert convert,
    void* out) {
  T* dst = static_cast<T*>(out);
  for (int i = 0; i < values.size(); ++i) {
    const int32_t v = values.Get(i);
    if (v < lo || v > hi) {
      return absl::InvalidArgumentError(
          absl::StrCat("Array: ", field, " value ", v, " at index ", i,
                       " is out of range [", lo, ", ", hi, "]"));
    }
    dst[i] = convert(v);
  }
  return absl::OkStatus();
}

// Fills `out` (num_elements * DTypeSize bytes) from the typed list, which
// has already been checked to be the dtype's list of the right length.
absl::Status CopyList(const fl::Array& array, DType dtype, void* out) {
  const absl::string_view field = KindName(array.kind_case());
  constexpr int32_t kMax16 = std::numeric_limits<uint16_t>::max();
  switch (dtype) {
    case DType::kBool:
      CopyExact(array.bool_list().value(), out);
      return absl::OkStatus();
    case DType::kInt32:
      CopyExact(array.int32_list().value(), out);
      return absl::OkStatus();
    case DType::kInt64:
      CopyExact(array.int64_list().value(), out);
      return absl::OkStatus();
    case DType::kUInt32:
      CopyExact(array.uint32_list().value(), out);
      return absl::OkStatus();
    case DType::kUInt64:
      CopyExact(array.uint64_list().value(), out);
      return absl::OkStatus();
    case DType::kFloat32:
      CopyExact(array.float32_list().value(), out);
      return absl::OkStatus();
    case DType::kFloat64:
      CopyExact(array.float64_list().value(), out);
      return absl::OkStatus();
    case DType::kComplex64:
      CopyExact(array.complex64_list().value(), out);
      return absl::OkStatus();
    case DType::kComplex128:
      CopyExact(array.complex128_list().value(), out);
      return absl::OkStatus();
    case DType::kInt8:
      return CopyNarrowed<int8_t>(
          array.int8_list().value(), field, -128, 127,
          [](int32_t v) { return static_cast<int8_t>(v); }, out);
    case DType::kInt16:
      return CopyNarrowed<int16_t>(
          array.int16_list().value(), field, -32768, 32767,
          [](int32_t v) { return static_cast<int16_t>(v); }, out);
    case DType::kUInt8:
      return CopyNarrowed<uint8_t>(
          array.uint8_list().value(), field, 0, 255,
          [](int32_t v) { return static_cast<uint8_t>(v); }, out);
    case DType::kUInt16:
      return CopyNarrowed<uint16_t>(
          array.uint16_list().value(), field, 0, kMax16,
          [](int32_t v) { return static_cast<uint16_t>(v); }, out);
    case DType::kFloat16:
      return CopyNarrowed<Float16>(
          array.float16_list().value(), field, 0, kMax16,
          [](int32_t v) { return Float16{static_cast<uint16_t>(v)}; }, out);
    case DType::kBFloat16:
      return CopyNarrowed<BFloat16>(
          array.bfloat16_list().value(), field, 0, kMax16,
          [](int32_t v) { return BFloat16{static_cast<uint16_t>(v)}; }, out);
    case DType::kString:
    case DType::kInvalid:
      break;
  }
  return absl::InternalError("CopyList: unexpected dtype");
}

// The number of wire values in the set list (interleaved parts for complex).
int ListSize(const fl::Array& array) {
  switch (array.kind_case()) {
    case fl::Array::kBoolList:
      return array.bool_list().value_size();
    case fl::Array::kInt8List:
      return array.int8_list().value_size();
    case fl::Array::kInt16List:
      return array.int16_list().value_size();
    case fl::Array::kInt32List:
      return array.int32_list().value_size();
    case fl::Array::kInt64List:
      return array.int64_list().value_size();
    case fl::Array::kUint8List:
      return array.uint8_list().value_size();
    case fl::Array::kUint16List:
      return array.uint16_list().value_size();
    case fl::Array::kUint32List:
      return array.uint32_list().value_size();
    case fl::Array::kUint64List:
      return array.uint64_list().value_size();
    case fl::Array::kFloat16List:
      return array.float16_list().value_size();
    case fl::Array::kFloat32List:
      return array.float32_list().value_size();
    case fl::Array::kFloat64List:
      return array.float64_list().value_size();
    case fl::Array::kComplex64List:
      return array.complex64_list().value_size();
    case fl::Array::kComplex128List:
      return array.complex128_list().value_size();
    case fl::Array::kStringList:
      return array.string_list().value_size();
    case fl::Array::kBfloat16List:
      return array.bfloat16_list().value_size();
    case fl::Array::KIND_NOT_SET:
      break;
  }
  return 0;
}

// Checks the shape of an Array and returns its element count.
absl::StatusOr<int64_t> ArrayNumElements(const fl::Array& array,
                                         std::vector<int64_t>& shape) {
  if (array.shape().unknown_rank()) {
    return absl::InvalidArgumentError(
        "Array: shape has unknown_rank set; a value needs a known shape");
  }
  shape.assign(array.shape().dim().begin(), array.shape().dim().end());
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      return absl::InvalidArgumentError(
          absl::StrCat("Array: shape ", ShapeString(shape), ": dim ", i,
                       " is unknown (-1); a value needs a known shape"));
    }
  }
  auto count = CheckedNumElements(shape);
  if (!count.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Array: ", count.status().message()));
  }
  return *count;
}

}  // namespace

absl::StatusOr<Tensor> TensorFromArray(const fl::Array& array) {
  const int wire = array.dtype();
  if (!IsValidWireDType(wire)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Array: dtype ", WireDTypeName(wire), " is not a valid element type"));
  }
  const DType dtype = static_cast<DType>(wire);
  std::vector<int64_t> shape;
  FEDEXEC_ASSIGN_OR_RETURN(const int64_t count, ArrayNumElements(array, shape));
  const fl::Array::KindCase kind = array.kind_case();
  const std::string dtype_name = WireDTypeName(wire);

  if (array.has_content()) {
    if (kind != fl::Array::KIND_NOT_SET) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Array: both content and ", KindName(kind), " given; set only one"));
    }
    if (dtype == DType::kString) {
      return absl::InvalidArgumentError(
          "Array: content is not allowed for DT_STRING; use string_list");
    }
    const std::string& content = array.content();
    const size_t bytes = static_cast<size_t>(count) * DTypeSize(dtype);
    if (content.size() != bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Array: shape ", ShapeString(shape), " of ", dtype_name, " needs ",
          bytes, " bytes of content, content has ", content.size()));
    }
    if (dtype == DType::kBool) {
      for (size_t i = 0; i < content.size(); ++i) {
        const auto b = static_cast<unsigned char>(content[i]);
        if (b > 1) {
          return absl::InvalidArgumentError(
              absl::StrCat("Array: content byte ", i, " is ",
                           static_cast<int>(b), ", not a bool (0 or 1)"));
        }
      }
    }
    std::shared_ptr<void> buffer = AllocateUninitializedBuffer(bytes);
    if (buffer == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("Array: cannot allocate ", bytes, " bytes"));
    }
    if (bytes > 0) std::memcpy(buffer.get(), content.data(), bytes);
    const void* data = buffer.get();
    return Tensor::Wrap(dtype, std::move(shape), count, std::move(buffer),
                        data);
  }

  if (kind != fl::Array::KIND_NOT_SET && kind != ListOf(dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Array: dtype ", dtype_name, " but ", KindName(kind), " given"));
  }
  const int64_t per_element = IsComplex(dtype) ? 2 : 1;
  const int64_t size = ListSize(array);
  if (size != count * per_element) {
    if (kind == fl::Array::KIND_NOT_SET) {
      return absl::InvalidArgumentError(
          absl::StrCat("Array: shape ", ShapeString(shape), " needs ", count,
                       " elements, but neither ", KindName(ListOf(dtype)),
                       " nor content is given"));
    }
    if (per_element == 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Array: shape ", ShapeString(shape), " needs ", count, " elements (",
          count * 2, " interleaved real and imaginary parts), ", KindName(kind),
          " has ", size));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("Array: shape ", ShapeString(shape), " needs ", count,
                     " elements, ", KindName(kind), " has ", size));
  }

  if (dtype == DType::kString) {
    const auto& values = array.string_list().value();
    return Tensor::FromStrings(
        std::vector<std::string>(values.begin(), values.end()),
        std::move(shape));
  }
  const size_t bytes = static_cast<size_t>(count) * DTypeSize(dtype);
  std::shared_ptr<void> buffer = AllocateUninitializedBuffer(bytes);
  if (buffer == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("Array: cannot allocate ", bytes, " bytes"));
  }
  if (count > 0) FEDEXEC_RETURN_IF_ERROR(CopyList(array, dtype, buffer.get()));
  const void* data = buffer.get();
  return Tensor::Wrap(dtype, std::move(shape), count, std::move(buffer), data);
}

namespace {

// Starts the canonical encoding: cleared, dtype, and the shape always
// present (a scalar is `shape { }`).
void WriteHeader(const Tensor& tensor, fl::Array* array) {
  array->Clear();
  array->set_dtype(static_cast<fl::DataType>(tensor.dtype()));
  auto* dims = array->mutable_shape()->mutable_dim();
  dims->Add(tensor.shape().begin(), tensor.shape().end());
}

template <typename T>
void AppendExact(absl::Span<const T> values,
                 google::protobuf::RepeatedField<T>* out) {
  out->Add(values.begin(), values.end());
}

// Appends each element widened to int32 by `widen`.
template <typename T, typename Widen>
void AppendWidened(absl::Span<const T> values, Widen widen,
                   google::protobuf::RepeatedField<int32_t>* out) {
  out->Reserve(static_cast<int>(values.size()));
  for (const T& v : values) out->AddAlreadyReserved(widen(v));
}

template <typename P>
void AppendComplex(absl::Span<const std::complex<P>> values,
                   google::protobuf::RepeatedField<P>* out) {
  const P* parts = reinterpret_cast<const P*>(values.data());
  out->Add(parts, parts + 2 * values.size());
}

}  // namespace

void TensorToArray(const Tensor& tensor, fl::Array* array) {
  WriteHeader(tensor, array);
  const auto to_int = [](auto v) { return static_cast<int32_t>(v); };
  const auto bits = [](auto v) { return static_cast<int32_t>(v.bits); };
  switch (tensor.dtype()) {
    case DType::kBool:
      AppendExact(tensor.data<bool>(),
                  array->mutable_bool_list()->mutable_value());
      return;
    case DType::kInt8:
      AppendWidened(tensor.data<int8_t>(), to_int,
                    array->mutable_int8_list()->mutable_value());
      return;
    case DType::kInt16:
      AppendWidened(tensor.data<int16_t>(), to_int,
                    array->mutable_int16_list()->mutable_value());
      return;
    case DType::kInt32:
      AppendExact(tensor.data<int32_t>(),
                  array->mutable_int32_list()->mutable_value());
      return;
    case DType::kInt64:
      AppendExact(tensor.data<int64_t>(),
                  array->mutable_int64_list()->mutable_value());
      return;
    case DType::kUInt8:
      AppendWidened(tensor.data<uint8_t>(), to_int,
                    array->mutable_uint8_list()->mutable_value());
      return;
    case DType::kUInt16:
      AppendWidened(tensor.data<uint16_t>(), to_int,
                    array->mutable_uint16_list()->mutable_value());
      return;
    case DType::kUInt32:
      AppendExact(tensor.data<uint32_t>(),
                  array->mutable_uint32_list()->mutable_value());
      return;
    case DType::kUInt64:
      AppendExact(tensor.data<uint64_t>(),
                  array->mutable_uint64_list()->mutable_value());
      return;
    case DType::kFloat16:
      AppendWidened(tensor.data<Float16>(), bits,
                    array->mutable_float16_list()->mutable_value());
      return;
    case DType::kBFloat16:
      AppendWidened(tensor.data<BFloat16>(), bits,
                    array->mutable_bfloat16_list()->mutable_value());
      return;
    case DType::kFloat32:
      AppendExact(tensor.data<float>(),
                  array->mutable_float32_list()->mutable_value());
      return;
    case DType::kFloat64:
      AppendExact(tensor.data<double>(),
                  array->mutable_float64_list()->mutable_value());
      return;
    case DType::kComplex64:
      AppendComplex(tensor.data<std::complex<float>>(),
                    array->mutable_complex64_list()->mutable_value());
      return;
    case DType::kComplex128:
      AppendComplex(tensor.data<std::complex<double>>(),
                    array->mutable_complex128_list()->mutable_value());
      return;
    case DType::kString: {
      auto* out = array->mutable_string_list()->mutable_value();
      out->Reserve(static_cast<int>(tensor.num_elements()));
      for (const std::string& s : tensor.strings()) out->Add()->assign(s);
      return;
    }
    case DType::kInvalid:
      return;
  }
}

void TensorToArrayContent(const Tensor& tensor, fl::Array* array) {
  if (tensor.dtype() == DType::kString) {
    TensorToArray(tensor, array);
    return;
  }
  WriteHeader(tensor, array);
  if (tensor.dtype() == DType::kInvalid) return;
  array->set_content(static_cast<const char*>(tensor.raw_data()),
                     tensor.byte_size());
}

}  // namespace fedexec
