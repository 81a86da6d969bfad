// Specification of the Fashion-MNIST loader: synthetic files in a temp dir
// (gzip and plain names) load with scaling and label conversion; mismatched
// or out-of-range files are errors naming the file; a missing file says how
// to get the data; the real data set (when installed) has 60,000 / 10,000
// examples and 6,000 training examples per class.
#include "demo/fashion_mnist.h"

#include <stdlib.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_files.h"

namespace fedexec::demo {
namespace {

using ::testing::AllOf;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using ::fedexec::test_util::TempDir;

std::string IdxUInt8(const std::vector<uint32_t>& dims,
                     const std::vector<uint8_t>& values) {
  std::string out = {0, 0, 0x08, static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>(d >> (8 * i)));
  }
  out.append(values.begin(), values.end());
  return out;
}

void Write(const std::string& path, const std::string& bytes, bool gzip) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
    ASSERT_EQ(gzclose(f), Z_OK);
  } else {
    std::ofstream(path, std::ios::binary) << bytes;
  }
}

// Writes n synthetic images (pixel i of image k is (k + i) % 256) and the
// given labels under the `prefix` names.
void WriteSplit(const TempDir& dir, const std::string& prefix,
                const std::vector<uint8_t>& labels, bool gzip,
                int64_t images = -1) {
  const uint32_t n = static_cast<uint32_t>(images < 0 ? labels.size() : images);
  std::vector<uint8_t> pixels(static_cast<size_t>(n) * 784);
  for (size_t k = 0; k < n; ++k) {
    for (size_t i = 0; i < 784; ++i) pixels[k * 784 + i] = (k + i) % 256;
  }
  const std::string suffix = gzip ? ".gz" : "";
  Write(dir.File(prefix + "-images-idx3-ubyte" + suffix),
        IdxUInt8({n, 28, 28}, pixels), gzip);
  Write(dir.File(prefix + "-labels-idx1-ubyte" + suffix),
        IdxUInt8({static_cast<uint32_t>(labels.size())}, labels), gzip);
}

TEST(FashionMnistTest, LoadsSyntheticGzipFiles) {
  TempDir dir;
  WriteSplit(dir, "train", {3, 0, 9}, /*gzip=*/true);
  absl::StatusOr<Dataset> d = LoadFashionMnist(dir.path(), Split::kTrain);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size(), 3);
  EXPECT_EQ(d->images.dtype(), DType::kFloat32);
  EXPECT_THAT(d->images.shape(), ElementsAre(3, 784));
  EXPECT_EQ(d->labels.dtype(), DType::kInt32);
  EXPECT_THAT(d->labels.data<int32_t>(), ElementsAre(3, 0, 9));
  absl::Span<const float> px = d->images.data<float>();
  EXPECT_FLOAT_EQ(px[0], 0.0f);
  EXPECT_FLOAT_EQ(px[1], 1.0f / 255.0f);
  EXPECT_FLOAT_EQ(px[255], 1.0f);                     // image 0, pixel 255
  EXPECT_FLOAT_EQ(px[2 * 784 + 10], 12.0f / 255.0f);  // image 2, pixel 10
}

TEST(FashionMnistTest, LoadsPlainTestSplitAndDirWithSlash) {
  TempDir dir;
  WriteSplit(dir, "t10k", {1, 2}, /*gzip=*/false);
  absl::StatusOr<Dataset> d = LoadFashionMnist(dir.path() + "/", Split::kTest);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_THAT(d->labels.data<int32_t>(), ElementsAre(1, 2));
}

TEST(FashionMnistTest, MissingFileSaysHowToGetTheData) {
  TempDir dir;
  absl::StatusOr<Dataset> d = LoadFashionMnist(dir.path(), Split::kTrain);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(
      d.status().message(),
      AllOf(HasSubstr(dir.File("train-images-idx3-ubyte.gz")),
            HasSubstr("not found: install Debian's "
                      "dataset-fashion-mnist package (apt-get install "
                      "dataset-fashion-mnist) or pass --data-dir DIR")));
}

TEST(FashionMnistTest, MissingLabelsFile) {
  TempDir dir;
  WriteSplit(dir, "t10k", {1, 2}, /*gzip=*/true);
  std::filesystem::remove(dir.File("t10k-labels-idx1-ubyte.gz"));
  absl::StatusOr<Dataset> d = LoadFashionMnist(dir.path(), Split::kTest);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(d.status().message(),
              HasSubstr("t10k-labels-idx1-ubyte.gz (or "
                        "t10k-labels-idx1-ubyte uncompressed) not found"));
}

TEST(FashionMnistTest, CountMismatch) {
  TempDir dir;
  WriteSplit(dir, "train", {1, 2, 3}, /*gzip=*/true, /*images=*/4);
  absl::StatusOr<Dataset> d = LoadFashionMnist(dir.path(), Split::kTrain);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(d.status().message(),
              AllOf(HasSubstr("train-labels-idx1-ubyte.gz"),
                    HasSubstr("3 labels for 4 images")));
}

TEST(FashionMnistTest, LabelOutOfRange) {
  TempDir dir;
  WriteSplit(dir, "train", {1, 10, 3}, /*gzip=*/false);
  absl::StatusOr<Dataset> d = LoadFashionMnist(dir.path(), Split::kTrain);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(d.status().message(),
              AllOf(HasSubstr("train-labels-idx1-ubyte"),
                    HasSubstr("label 1 is 10, must be in [0, 10)")));
}

TEST(FashionMnistTest, WrongImageShape) {
  TempDir dir;
  WriteSplit(dir, "train", {1}, /*gzip=*/false);
  Write(dir.File("train-images-idx3-ubyte"),
        IdxUInt8({1, 27, 29}, std::vector<uint8_t>(27 * 29)), false);
  absl::StatusOr<Dataset> d = LoadFashionMnist(dir.path(), Split::kTrain);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(d.status().message(),
              AllOf(HasSubstr("train-images-idx3-ubyte"),
                    HasSubstr("expected uint8[n,28,28] images, found "
                              "uint8[1,27,29]")));
}

TEST(FashionMnistTest, CorruptFileErrorPassesThrough) {
  TempDir dir;
  WriteSplit(dir, "train", {1}, /*gzip=*/false);
  Write(dir.File("train-labels-idx1-ubyte"), "\x01\x02", false);
  absl::StatusOr<Dataset> d = LoadFashionMnist(dir.path(), Split::kTrain);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(d.status().message(), HasSubstr("truncated header"));
}

bool RealDataInstalled() {
  return std::filesystem::exists(std::string(kDefaultFashionMnistDir) +
                                 "/train-images-idx3-ubyte.gz") ||
         std::filesystem::exists(std::string(kDefaultFashionMnistDir) +
                                 "/train-images-idx3-ubyte");
}

TEST(FashionMnistRealDataTest, Train) {
  if (!RealDataInstalled())
    GTEST_SKIP() << "dataset-fashion-mnist not installed";
  absl::StatusOr<Dataset> d =
      LoadFashionMnist(kDefaultFashionMnistDir, Split::kTrain);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size(), 60000);
  EXPECT_THAT(d->images.shape(), ElementsAre(60000, 784));
  std::vector<int> histogram(10);
  for (int32_t label : d->labels.data<int32_t>()) ++histogram[label];
  EXPECT_THAT(histogram, Each(6000));
  float lo = 1.0f, hi = 0.0f;
  double sum = 0.0;
  for (float p : d->images.data<float>()) {
    lo = std::min(lo, p);
    hi = std::max(hi, p);
    sum += p;
  }
  EXPECT_EQ(lo, 0.0f);
  EXPECT_EQ(hi, 1.0f);
  // The known mean pixel intensity of Fashion-MNIST's training set, 0.286.
  EXPECT_NEAR(sum / (60000.0 * 784), 0.286, 0.001);
}

TEST(FashionMnistRealDataTest, Test) {
  if (!RealDataInstalled())
    GTEST_SKIP() << "dataset-fashion-mnist not installed";
  absl::StatusOr<Dataset> d =
      LoadFashionMnist(kDefaultFashionMnistDir, Split::kTest);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size(), 10000);
  EXPECT_THAT(d->images.shape(), ElementsAre(10000, 784));
  std::vector<int> histogram(10);
  for (int32_t label : d->labels.data<int32_t>()) ++histogram[label];
  EXPECT_THAT(histogram, Each(1000));
}

}  // namespace
}  // namespace fedexec::demo
