// Loading Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017) from its IDX files:
// 28x28 grey-scale images of clothing in 10 classes, 60,000 for training
// and 10,000 for testing.
//
// Files: <dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte, each either
// gzip-compressed with a ".gz" suffix (as Debian's dataset-fashion-mnist
// package installs them under kDefaultFashionMnistDir) or plain without
// it; the .gz name is tried first.
//
// Checks (INVALID_ARGUMENT naming the file): images are uint8 [n,28,28],
// labels uint8 [n] with the same n, every label in [0, 10). A missing file
// is NOT_FOUND with a hint on how to get the data.
//
// Thread-safety: stateless; the tensors returned are immutable.
#ifndef FEDEXEC_DEMO_FASHION_MNIST_H_
#define FEDEXEC_DEMO_FASHION_MNIST_H_

#include <string>

#include "absl/status/statusor.h"
#include "core/tensor.h"

namespace fedexec::demo {

inline constexpr char kDefaultFashionMnistDir[] =
    "/usr/share/datasets/fashion-mnist";
inline constexpr int kFashionMnistClasses = 10;
inline constexpr int kFashionMnistPixels = 28 * 28;

enum class Split { kTrain, kTest };

struct Dataset {
  Tensor images;  // float32 [n, 784], pixel / 255, row-major per image
  Tensor labels;  // int32 [n], each in [0, 10)
  int64_t size() const { return labels.num_elements(); }
};

absl::StatusOr<Dataset> LoadFashionMnist(const std::string& dir, Split split);

}  // namespace fedexec::demo

#endif  // FEDEXEC_DEMO_FASHION_MNIST_H_
