// MutableTensor: writable buffers that freeze into Tensors without a copy.
#include "core/mutable_tensor.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace fedexec {

absl::StatusOr<MutableTensor> MutableTensor::Allocate(
    DType dtype, std::vector<int64_t> shape, bool zero) {
  if (DTypeSize(dtype) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("MutableTensor: dtype ", std::string(DTypeName(dtype)),
                     " has no raw buffer"));
  }
  FEDEXEC_ASSIGN_OR_RETURN(const int64_t count, CheckedNumElements(shape));
  const size_t bytes = static_cast<size_t>(count) * DTypeSize(dtype);
  std::shared_ptr<void> buffer =
      zero ? AllocateBuffer(bytes) : AllocateUninitializedBuffer(bytes);
  if (buffer == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", bytes, " bytes for a tensor"));
  }
  return MutableTensor(dtype, std::move(shape), count, std::move(buffer));
}

absl::StatusOr<MutableTensor> MutableTensor::Zeros(DType dtype,
                                                   std::vector<int64_t> shape) {
  return Allocate(dtype, std::move(shape), /*zero=*/true);
}

absl::StatusOr<MutableTensor> MutableTensor::Uninitialized(
    DType dtype, std::vector<int64_t> shape) {
  return Allocate(dtype, std::move(shape), /*zero=*/false);
}

absl::StatusOr<MutableTensor> MutableTensor::CopyOf(const Tensor& tensor) {
  FEDEXEC_ASSIGN_OR_RETURN(
      MutableTensor copy,
      Allocate(tensor.dtype(), tensor.shape(), /*zero=*/false));
  if (copy.byte_size() > 0) {
    std::memcpy(copy.raw_mutable_data(), tensor.raw_data(), copy.byte_size());
  }
  return copy;
}

std::string MutableTensor::TypeString() const {
  if (shape_.empty()) return std::string(DTypeName(dtype_));
  return absl::StrCat(std::string(DTypeName(dtype_)), ShapeString(shape_));
}

Tensor MutableTensor::Freeze() && {
  if (!valid()) return Tensor();
  if (dtype_ == DType::kBool) {
    // Tensor's invariant: bool bytes are 0 or 1.
    auto* bytes = static_cast<unsigned char*>(buffer_.get());
    for (int64_t i = 0; i < num_elements_; ++i) bytes[i] = bytes[i] != 0;
  }
  const void* data = buffer_.get();
  const size_t bytes = byte_size();
  absl::StatusOr<Tensor> tensor = Tensor::FromBuffer(
      dtype_, std::move(shape_), std::move(buffer_), data, bytes);
  *this = MutableTensor();
  // Cannot fail: dtype, shape, size and alignment were checked on
  // allocation and bool bytes were normalized above.
  return *std::move(tensor);
}

}  // namespace fedexec
