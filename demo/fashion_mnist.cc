#include "demo/fashion_mnist.h"

#include <sys/stat.h>

#include <cerrno>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/mutable_tensor.h"
#include "demo/idx.h"

namespace fedexec::demo {
namespace {

// The path of `base` in `dir`: base.gz if it exists, else base if it
// exists, else NOT_FOUND with the hint.
absl::StatusOr<std::string> FindFile(const std::string& dir,
                                     const std::string& base) {
  const std::string prefix = dir.empty() || dir.back() == '/' ? dir : dir + "/";
  const std::string gz = prefix + base + ".gz";
  const std::string plain = prefix + base;
  struct stat st;
  if (::stat(gz.c_str(), &st) == 0) return gz;
  if (::stat(plain.c_str(), &st) == 0) return plain;
  return absl::NotFoundError(absl::StrCat(
      "Fashion-MNIST file ", gz, " (or ", base,
      " uncompressed) not found: install Debian's dataset-fashion-mnist "
      "package (apt-get install dataset-fashion-mnist) or pass --data-dir "
      "DIR"));
}

}  // namespace

absl::StatusOr<Dataset> LoadFashionMnist(const std::string& dir, Split split) {
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  absl::StatusOr<std::string> images_path =
      FindFile(dir, prefix + "-images-idx3-ubyte");
  if (!images_path.ok()) return images_path.status();
  absl::StatusOr<std::string> labels_path =
      FindFile(dir, prefix + "-labels-idx1-ubyte");
  if (!labels_path.ok()) return labels_path.status();

  absl::StatusOr<Tensor> images = ReadIdxFile(*images_path);
  if (!images.ok()) return images.status();
  absl::StatusOr<Tensor> labels = ReadIdxFile(*labels_path);
  if (!labels.ok()) return labels.status();

  if (images->dtype() != DType::kUInt8 || images->rank() != 3 ||
      images->shape()[1] != 28 || images->shape()[2] != 28) {
    return absl::InvalidArgumentError(
        absl::StrCat(*images_path, ": expected uint8[n,28,28] images, found ",
                     images->TypeString()));
  }
  if (labels->dtype() != DType::kUInt8 || labels->rank() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(*labels_path, ": expected uint8[n] labels, found ",
                     labels->TypeString()));
  }
  const int64_t n = images->shape()[0];
  if (labels->shape()[0] != n) {
    return absl::InvalidArgumentError(
        absl::StrCat(*labels_path, ": ", labels->shape()[0], " labels for ", n,
                     " images in ", *images_path));
  }

  absl::StatusOr<MutableTensor> image_floats =
      MutableTensor::Uninitialized(DType::kFloat32, {n, kFashionMnistPixels});
  if (!image_floats.ok()) return image_floats.status();
  absl::StatusOr<MutableTensor> label_ints =
      MutableTensor::Uninitialized(DType::kInt32, {n});
  if (!label_ints.ok()) return label_ints.status();

  absl::Span<int32_t> label_out = label_ints->mutable_data<int32_t>();
  absl::Span<const uint8_t> label_in = labels->data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (label_in[i] >= kFashionMnistClasses) {
      return absl::InvalidArgumentError(
          absl::StrCat(*labels_path, ": label ", i, " is ", int{label_in[i]},
                       ", must be in [0, ", kFashionMnistClasses, ")"));
    }
    label_out[i] = label_in[i];
  }
  absl::Span<float> image_out = image_floats->mutable_data<float>();
  absl::Span<const uint8_t> image_in = images->data<uint8_t>();
  constexpr float kScale = 1.0f / 255.0f;
  for (size_t i = 0; i < image_in.size(); ++i) {
    image_out[i] = static_cast<float>(image_in[i]) * kScale;
  }
  return Dataset{std::move(*image_floats).Freeze(),
                 std::move(*label_ints).Freeze()};
}

}  // namespace fedexec::demo
