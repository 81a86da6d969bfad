// Tensor: an immutable n-dimensional array of one dtype with a fully known
// shape. Its elements live in one buffer shared by reference: copying a
// Tensor copies a pointer, never the data, so values pass between executors
// of one process without serialization. Buffers are 64-byte aligned.
//
// Thread-safety: a Tensor is immutable; any number of threads may read it
// and copy it concurrently.
#ifndef FEDEXEC_CORE_TENSOR_H_
#define FEDEXEC_CORE_TENSOR_H_

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/dtype.h"

namespace federated_language {
class Array;
}

namespace fedexec {

class Tensor {
 public:
  // No tensor at all: dtype kInvalid, rank 0, no elements.
  Tensor() = default;

  // A tensor viewing `data` (which must hold exactly num_elements * DTypeSize
  // bytes, aligned at least to the element type; 64-byte alignment
  // recommended); `owner` keeps the memory alive. Zero-copy. Errors
  // (INVALID_ARGUMENT): kInvalid or kString dtype, a bad shape, a size
  // mismatch, a null or misaligned `data`, and for kBool a byte other than 0
  // or 1 (the only check that reads the elements).
  static absl::StatusOr<Tensor> FromBuffer(DType dtype,
                                           std::vector<int64_t> shape,
                                           std::shared_ptr<const void> owner,
                                           const void* data, size_t bytes);

  // Copies `values` into a new buffer of the given shape (product of the
  // dims must equal values.size(); every dim >= 0).
  template <typename T>
  static absl::StatusOr<Tensor> FromSpan(absl::Span<const T> values,
                                         std::vector<int64_t> shape);
  // A 1-D tensor holding `values`.
  template <typename T>
  static Tensor Vector(absl::Span<const T> values);
  template <typename T>
  static Tensor Scalar(T value);

  static absl::StatusOr<Tensor> FromStrings(std::vector<std::string> values,
                                            std::vector<int64_t> shape);
  static Tensor StringScalar(std::string value);

  // A tensor of zeros (empty strings for kString). RESOURCE_EXHAUSTED when
  // the buffer cannot be allocated.
  static absl::StatusOr<Tensor> Zeros(DType dtype, std::vector<int64_t> shape);

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t num_elements() const { return num_elements_; }
  bool valid() const { return dtype_ != DType::kInvalid; }

  // The elements in row-major order. REQUIRES: DTypeOf<T> == dtype().
  template <typename T>
  absl::Span<const T> data() const {
    return absl::MakeConstSpan(static_cast<const T*>(data_), num_elements_);
  }
  // REQUIRES: dtype() == kString.
  absl::Span<const std::string> strings() const;
  const void* raw_data() const { return data_; }
  size_t byte_size() const { return num_elements_ * DTypeSize(dtype_); }

  // Whether both tensors view the same memory (a zero-copy share).
  bool SharesBufferWith(const Tensor& other) const {
    return data_ != nullptr && data_ == other.data_;
  }

  // Same dtype, shape and bit-identical elements (so NaN equals the same NaN
  // and -0.0 differs from 0.0); strings are compared by value. Two default
  // tensors are equal.
  bool Equals(const Tensor& other) const;
  friend bool operator==(const Tensor& a, const Tensor& b) {
    return a.Equals(b);
  }

  // A short description for messages: "float32[2,3]"; a scalar is
  // "float32", a zero-size vector "float32[0]".
  std::string TypeString() const;

 private:
  friend absl::StatusOr<Tensor> TensorFromArray(
      const federated_language::Array& array);

  // Assembles a tensor from parts the caller has already checked.
  static Tensor Wrap(DType dtype, std::vector<int64_t> shape,
                     int64_t num_elements, std::shared_ptr<const void> owner,
                     const void* data);

  DType dtype_ = DType::kInvalid;
  std::vector<int64_t> shape_;
  int64_t num_elements_ = 0;
  std::shared_ptr<const void> owner_;
  const void* data_ = nullptr;
};

// Checks that every dim is >= 0 and the element count stays within
// kMaxTensorElements; returns the element count. The INVALID_ARGUMENT
// message starts with the shape and names the offending dim:
// "shape [2,-3]: dim 1 is -3, must be >= 0".
absl::StatusOr<int64_t> CheckedNumElements(absl::Span<const int64_t> shape);

// "[2,3]"; "[]" for a scalar.
std::string ShapeString(absl::Span<const int64_t> shape);

// Allocates a zero-filled, 64-byte-aligned buffer of `bytes` bytes (the
// padding up to the next multiple of 64 is zero too, so vector loops may
// read whole 64-byte blocks). Never null for bytes == 0. Returns null when
// the memory cannot be had.
std::shared_ptr<void> AllocateBuffer(size_t bytes);
// The same without zeroing the first `bytes` bytes, for callers that
// overwrite all of them.
std::shared_ptr<void> AllocateUninitializedBuffer(size_t bytes);

// Array proto (federated_language.Array) <-> Tensor.
//
// Decoding accepts every typed list and raw little-endian `content` and
// copies the elements into a new aligned buffer. It checks, with
// INVALID_ARGUMENT errors that start with "Array: " and name the field: the
// dtype is a valid DataType; the shape is known (no unknown_rank, no -1
// dims; an absent shape is a scalar) and within kMaxTensorElements; content
// and a list are not both set; the list is the dtype's own (int8_list for
// DT_INT8, float16_list for DT_HALF, ...); the element count matches the
// shape (complex lists hold 2 values per element, content exactly
// count * DTypeSize bytes; nothing at all is fine for zero elements);
// widened values fit their type (int8 in [-128, 127], 16-bit patterns in
// [0, 65535], ...); bool content bytes are 0 or 1; no content for
// DT_STRING.
absl::StatusOr<Tensor> TensorFromArray(const federated_language::Array& array);
// Encoding clears `array` and writes the canonical form: dtype, `shape`
// always present (a scalar is `shape { }`), then the typed list of the dtype
// (present even when empty). A default tensor writes only DT_INVALID and an
// empty shape. REQUIRES: the tensor fits in one proto (< 2 GiB, < 2^31 list
// values); larger values must be sent in chunks.
void TensorToArray(const Tensor& tensor, federated_language::Array* array);
// The same with the elements as raw little-endian `content` in place of the
// list. String tensors have no raw form and are written as by TensorToArray.
void TensorToArrayContent(const Tensor& tensor,
                          federated_language::Array* array);

// ---------------------------------------------------------------- templates

template <typename T>
absl::StatusOr<Tensor> Tensor::FromSpan(absl::Span<const T> values,
                                        std::vector<int64_t> shape) {
  static_assert(!std::is_same_v<T, std::string>, "use FromStrings");
  auto count = CheckedNumElements(shape);
  if (!count.ok()) return count.status();
  if (*count != static_cast<int64_t>(values.size())) {
    return absl::InvalidArgumentError(
        "shape " + ShapeString(shape) + " needs " + std::to_string(*count) +
        " elements, given " + std::to_string(values.size()) + " values");
  }
  static_assert(std::is_trivially_copyable_v<T>);
  const size_t bytes = values.size() * sizeof(T);
  std::shared_ptr<void> buffer = AllocateUninitializedBuffer(bytes);
  if (buffer == nullptr) {
    return absl::ResourceExhaustedError(
        "cannot allocate " + std::to_string(bytes) + " bytes for a tensor");
  }
  if (bytes > 0) std::memcpy(buffer.get(), values.data(), bytes);
  const void* data = buffer.get();
  return Wrap(DTypeOf<T>::value, std::move(shape), *count, std::move(buffer),
              data);
}

template <typename T>
Tensor Tensor::Vector(absl::Span<const T> values) {
  return *FromSpan<T>(values, {static_cast<int64_t>(values.size())});
}

template <typename T>
Tensor Tensor::Scalar(T value) {
  return *FromSpan<T>(absl::MakeConstSpan(&value, 1), {});
}

}  // namespace fedexec

#endif  // FEDEXEC_CORE_TENSOR_H_
