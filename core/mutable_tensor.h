// MutableTensor: a writable, 64-byte-aligned tensor buffer that a kernel
// fills (or an aggregation accumulates into) and then freezes into an
// immutable Tensor without copying the elements.
//
// Thread-safety: a MutableTensor is a plain owned buffer with no internal
// synchronization: one thread writes it at a time. It is move-only so that
// no two handles can write the same buffer; Freeze() hands the buffer to a
// Tensor, which is then immutable and freely shareable.
#ifndef FEDEXEC_CORE_MUTABLE_TENSOR_H_
#define FEDEXEC_CORE_MUTABLE_TENSOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/dtype.h"
#include "core/tensor.h"

namespace fedexec {

class MutableTensor {
 public:
  // No buffer: dtype kInvalid, no elements.
  MutableTensor() = default;
  MutableTensor(MutableTensor&&) = default;
  MutableTensor& operator=(MutableTensor&&) = default;
  MutableTensor(const MutableTensor&) = delete;
  MutableTensor& operator=(const MutableTensor&) = delete;

  // A zero-filled buffer. INVALID_ARGUMENT for kInvalid or kString (strings
  // have no raw buffer) and for a bad shape (see CheckedNumElements);
  // RESOURCE_EXHAUSTED when the memory cannot be had.
  static absl::StatusOr<MutableTensor> Zeros(DType dtype,
                                             std::vector<int64_t> shape);
  // The same without zeroing: for callers that overwrite every element.
  static absl::StatusOr<MutableTensor> Uninitialized(
      DType dtype, std::vector<int64_t> shape);
  // A writable copy of `tensor` (one memcpy). INVALID_ARGUMENT for a string
  // or default tensor.
  static absl::StatusOr<MutableTensor> CopyOf(const Tensor& tensor);

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t num_elements() const { return num_elements_; }
  bool valid() const { return dtype_ != DType::kInvalid; }
  size_t byte_size() const { return num_elements_ * DTypeSize(dtype_); }
  // "float32[2,3]", as Tensor::TypeString.
  std::string TypeString() const;

  // REQUIRES: DTypeOf<T> == dtype(). For kBool, write only true or false.
  template <typename T>
  absl::Span<T> mutable_data() {
    return absl::MakeSpan(static_cast<T*>(buffer_.get()), num_elements_);
  }
  template <typename T>
  absl::Span<const T> data() const {
    return absl::MakeConstSpan(static_cast<const T*>(buffer_.get()),
                               num_elements_);
  }
  void* raw_mutable_data() { return buffer_.get(); }
  const void* raw_data() const { return buffer_.get(); }

  // Hands the buffer to an immutable Tensor (zero-copy) and leaves *this
  // invalid (a default MutableTensor). A default MutableTensor freezes to a
  // default Tensor. For kBool, any non-zero byte written through
  // raw_mutable_data() becomes true.
  Tensor Freeze() &&;

 private:
  MutableTensor(DType dtype, std::vector<int64_t> shape, int64_t num_elements,
                std::shared_ptr<void> buffer)
      : dtype_(dtype),
        shape_(std::move(shape)),
        num_elements_(num_elements),
        buffer_(std::move(buffer)) {}
  static absl::StatusOr<MutableTensor> Allocate(DType dtype,
                                                std::vector<int64_t> shape,
                                                bool zero);

  DType dtype_ = DType::kInvalid;
  std::vector<int64_t> shape_;
  int64_t num_elements_ = 0;
  std::shared_ptr<void> buffer_;
};

}  // namespace fedexec

#endif  // FEDEXEC_CORE_MUTABLE_TENSOR_H_
