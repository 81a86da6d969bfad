// Tests of MutableTensor: allocation, writing, and the zero-copy freeze.
#include "core/mutable_tensor.h"

#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedexec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(MutableTensorTest, ZerosWriteAndFreezeWithoutCopy) {
  absl::StatusOr<MutableTensor> m = MutableTensor::Zeros(DType::kInt32, {2, 2});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->TypeString(), "int32[2,2]");
  EXPECT_EQ(m->num_elements(), 4);
  EXPECT_EQ(m->byte_size(), 16u);
  EXPECT_THAT(m->data<int32_t>(), ElementsAre(0, 0, 0, 0));
  m->mutable_data<int32_t>()[3] = 7;
  const void* buffer = m->raw_data();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer) % 64, 0u);
  Tensor t = std::move(*m).Freeze();
  EXPECT_EQ(t.raw_data(), buffer);  // zero-copy
  EXPECT_EQ(t.shape(), (std::vector<int64_t>{2, 2}));
  EXPECT_THAT(t.data<int32_t>(), ElementsAre(0, 0, 0, 7));
  EXPECT_FALSE(m->valid());  // moved into the tensor
}

TEST(MutableTensorTest, CopyOfScalarsAndEmpty) {
  const Tensor src = Tensor::Vector<float>({1, 2});
  absl::StatusOr<MutableTensor> c = MutableTensor::CopyOf(src);
  ASSERT_TRUE(c.ok());
  c->mutable_data<float>()[0] = 5;
  EXPECT_THAT(src.data<float>(), ElementsAre(1, 2));  // a real copy
  EXPECT_THAT(std::move(*c).Freeze().data<float>(), ElementsAre(5, 2));

  absl::StatusOr<MutableTensor> s =
      MutableTensor::Uninitialized(DType::kFloat64, {});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->TypeString(), "float64");
  s->mutable_data<double>()[0] = 1.5;
  EXPECT_EQ(std::move(*s).Freeze(), Tensor::Scalar<double>(1.5));

  absl::StatusOr<MutableTensor> e = MutableTensor::Zeros(DType::kUInt8, {0, 3});
  ASSERT_TRUE(e.ok());
  Tensor et = std::move(*e).Freeze();
  EXPECT_EQ(et.num_elements(), 0);
  EXPECT_TRUE(et.valid());
  EXPECT_FALSE(MutableTensor().Freeze().valid());
}

TEST(MutableTensorTest, BoolBytesAreNormalizedOnFreeze) {
  absl::StatusOr<MutableTensor> b = MutableTensor::Zeros(DType::kBool, {3});
  ASSERT_TRUE(b.ok());
  static_cast<unsigned char*>(b->raw_mutable_data())[1] = 7;
  Tensor t = std::move(*b).Freeze();
  EXPECT_THAT(t.data<bool>(), ElementsAre(false, true, false));
}

TEST(MutableTensorTest, Errors) {
  absl::StatusOr<MutableTensor> s = MutableTensor::Zeros(DType::kString, {1});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("MutableTensor: dtype string has no raw buffer"));
  EXPECT_FALSE(MutableTensor::Zeros(DType::kInvalid, {}).ok());
  absl::StatusOr<MutableTensor> neg =
      MutableTensor::Zeros(DType::kFloat32, {2, -3});
  EXPECT_THAT(std::string(neg.status().message()), HasSubstr("dim 1 is -3"));
  EXPECT_FALSE(MutableTensor::CopyOf(Tensor::StringScalar("x")).ok());
  EXPECT_FALSE(MutableTensor::CopyOf(Tensor()).ok());
}

}  // namespace
}  // namespace fedexec
