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
#include <memory>
#include <string>
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
  // An empty float32 scalar-less tensor: dtype kInvalid, no elements.
  Tensor() = default;

  // A tensor viewing `data` (which must hold num_elements * DTypeSize bytes,
  // 64-byte alignment recommended); `owner` keeps the memory alive. Zero-copy.
  // REQUIRES: dtype is not kString.
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

  // A tensor of zeros (empty strings for kString).
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

  // Same dtype, shape and bit-identical elements.
  bool Equals(const Tensor& other) const;
  friend bool operator==(const Tensor& a, const Tensor& b) { return a.Equals(b); }

  // A short description for messages: "float32[2,3]".
  std::string TypeString() const;

 private:
  DType dtype_ = DType::kInvalid;
  std::vector<int64_t> shape_;
  int64_t num_elements_ = 0;
  std::shared_ptr<const void> owner_;
  const void* data_ = nullptr;
};

// Checks that every dim is >= 0 and the element count stays within
// kMaxTensorElements; returns the element count.
absl::StatusOr<int64_t> CheckedNumElements(absl::Span<const int64_t> shape);

// Allocates a zero-filled, 64-byte-aligned buffer of `bytes` bytes.
std::shared_ptr<void> AllocateBuffer(size_t bytes);

// Array proto (federated_language.Array) <-> Tensor. Decoding accepts every
// typed list and raw `content`, and checks that the dtype, the list kind and
// the element count agree with the shape (unknown dims or rank are an
// error: a value has a known shape). Encoding writes the canonical form: the
// typed list of the dtype, with `shape` always present.
absl::StatusOr<Tensor> TensorFromArray(const federated_language::Array& array);
void TensorToArray(const Tensor& tensor, federated_language::Array* array);
// The same tensor as raw little-endian `content` (not for kString).
void TensorToArrayContent(const Tensor& tensor, federated_language::Array* array);

// ---------------------------------------------------------------- templates

template <typename T>
absl::StatusOr<Tensor> Tensor::FromSpan(absl::Span<const T> values,
                                        std::vector<int64_t> shape) {
  static_assert(!std::is_same_v<T, std::string>, "use FromStrings");
  auto count = CheckedNumElements(shape);
  if (!count.ok()) return count.status();
  if (*count != static_cast<int64_t>(values.size())) {
    return absl::InvalidArgumentError(
        "tensor of " + std::to_string(*count) + " elements built from " +
        std::to_string(values.size()) + " values");
  }
  size_t bytes = values.size() * sizeof(T);
  std::shared_ptr<void> buffer = AllocateBuffer(bytes);
  T* out = static_cast<T*>(buffer.get());
  for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  return FromBuffer(DTypeOf<T>::value, std::move(shape), buffer, buffer.get(),
                    bytes);
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
