// Specification of the IDX reader: files written here (plain and gzip, with
// an independent big-endian writer) read back exactly in every supported
// dtype; every malformed file is an INVALID_ARGUMENT naming the file and
// the problem; a missing file is NOT_FOUND.
#include "demo/idx.h"

#include <stdlib.h>
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_files.h"

namespace fedexec::demo {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

using ::fedexec::test_util::TempDir;

void WritePlain(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

void WriteGzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  if (!bytes.empty()) {
    ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
  }
  ASSERT_EQ(gzclose(f), Z_OK);
}

std::string Gzip(const std::string& bytes) {
  TempDir dir;
  WriteGzip(dir.File("x.gz"), bytes);
  std::ifstream in(dir.File("x.gz"), std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void AppendBigEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
}

std::string Header(uint8_t code, const std::vector<uint32_t>& dims) {
  std::string out;
  out.push_back(0);
  out.push_back(0);
  out.push_back(static_cast<char>(code));
  out.push_back(static_cast<char>(dims.size()));
  for (uint32_t d : dims) AppendBigEndian(out, d, 4);
  return out;
}

// An IDX file of `values` (converted to the element type's bits).
template <typename T>
std::string Idx(uint8_t code, const std::vector<uint32_t>& dims,
                const std::vector<T>& values) {
  std::string out = Header(code, dims);
  for (T v : values) {
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    AppendBigEndian(out, bits, sizeof(T));
  }
  return out;
}

class IdxRoundTrip : public ::testing::TestWithParam<bool> {
 protected:
  // Writes `bytes` (gzip-compressed when the parameter says so) and reads it.
  absl::StatusOr<Tensor> WriteAndRead(const std::string& bytes) {
    const std::string path = dir_.File(GetParam() ? "f.idx.gz" : "f.idx");
    if (GetParam()) {
      WriteGzip(path, bytes);
    } else {
      WritePlain(path, bytes);
    }
    return ReadIdxFile(path);
  }
  TempDir dir_;
};

TEST_P(IdxRoundTrip, UInt8Images) {
  std::vector<uint8_t> values(2 * 3 * 4);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 10 * i + 3;
  absl::StatusOr<Tensor> t =
      WriteAndRead(Idx<uint8_t>(0x08, {2, 3, 4}, values));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype(), DType::kUInt8);
  EXPECT_THAT(t->shape(), ElementsAre(2, 3, 4));
  EXPECT_THAT(t->data<uint8_t>(), ElementsAreArray(values));
}

TEST_P(IdxRoundTrip, Int8) {
  const std::vector<int8_t> values = {-128, -1, 0, 1, 127};
  absl::StatusOr<Tensor> t = WriteAndRead(Idx<int8_t>(0x09, {5}, values));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype(), DType::kInt8);
  EXPECT_THAT(t->data<int8_t>(), ElementsAreArray(values));
}

TEST_P(IdxRoundTrip, Int16) {
  const std::vector<int16_t> values = {-32768, -2, 258, 32767};
  absl::StatusOr<Tensor> t = WriteAndRead(Idx<int16_t>(0x0B, {2, 2}, values));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype(), DType::kInt16);
  EXPECT_THAT(t->shape(), ElementsAre(2, 2));
  EXPECT_THAT(t->data<int16_t>(), ElementsAreArray(values));
}

TEST_P(IdxRoundTrip, Int32) {
  const std::vector<int32_t> values = {std::numeric_limits<int32_t>::min(), -1,
                                       0x01020304,
                                       std::numeric_limits<int32_t>::max()};
  absl::StatusOr<Tensor> t = WriteAndRead(Idx<int32_t>(0x0C, {4}, values));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype(), DType::kInt32);
  EXPECT_THAT(t->data<int32_t>(), ElementsAreArray(values));
}

TEST_P(IdxRoundTrip, Float32) {
  const std::vector<float> values = {
      0.0f, -1.5f, 3.25e10f, 1e-30f, std::numeric_limits<float>::infinity(),
      -0.0f};
  absl::StatusOr<Tensor> t = WriteAndRead(Idx<float>(0x0D, {3, 2}, values));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype(), DType::kFloat32);
  EXPECT_TRUE(t->Equals(*Tensor::FromSpan<float>(values, {3, 2})));
}

TEST_P(IdxRoundTrip, Float64) {
  const std::vector<double> values = {3.141592653589793, -2e300, 5e-324};
  absl::StatusOr<Tensor> t = WriteAndRead(Idx<double>(0x0E, {1, 1, 3}, values));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype(), DType::kFloat64);
  EXPECT_THAT(t->shape(), ElementsAre(1, 1, 3));
  EXPECT_THAT(t->data<double>(), ElementsAreArray(values));
}

TEST_P(IdxRoundTrip, ZeroSizeDim) {
  absl::StatusOr<Tensor> t = WriteAndRead(Idx<uint8_t>(0x08, {0, 28, 28}, {}));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->shape(), ElementsAre(0, 28, 28));
  EXPECT_EQ(t->num_elements(), 0);
}

TEST_P(IdxRoundTrip, ZeroDimWithHugeOtherDimsIsFine) {
  absl::StatusOr<Tensor> t =
      WriteAndRead(Idx<float>(0x0D, {0xffffffff, 0, 0xffffffff}, {}));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->num_elements(), 0);
}

TEST_P(IdxRoundTrip, Rank8) {
  std::vector<int16_t> values(256);
  for (int i = 0; i < 256; ++i)
    values[i] = static_cast<int16_t>(i * 100 - 9000);
  absl::StatusOr<Tensor> t =
      WriteAndRead(Idx<int16_t>(0x0B, {2, 2, 2, 2, 2, 2, 2, 2}, values));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->rank(), 8);
  EXPECT_THAT(t->data<int16_t>(), ElementsAreArray(values));
}

TEST_P(IdxRoundTrip, LargerThanOneChunk) {
  // 9 MiB crosses the reader's 8 MiB chunk size.
  const size_t n = (size_t{9} << 20) / 4;
  std::vector<int32_t> values(n);
  for (size_t i = 0; i < n; ++i)
    values[i] = static_cast<int32_t>(i * 2654435761u);
  absl::StatusOr<Tensor> t =
      WriteAndRead(Idx<int32_t>(0x0C, {static_cast<uint32_t>(n)}, values));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->data<int32_t>(), ElementsAreArray(values));
}

// Each malformed case, both plain and gzip-compressed.
TEST_P(IdxRoundTrip, EmptyFile) {
  absl::StatusOr<Tensor> t = WriteAndRead("");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(),
              AllOf(HasSubstr("f.idx"),
                    HasSubstr("truncated header: expected 4 bytes, found 0")));
}

TEST_P(IdxRoundTrip, BadMagic) {
  std::string bytes = Idx<uint8_t>(0x08, {2}, {1, 2});
  bytes[1] = 0x08;
  absl::StatusOr<Tensor> t = WriteAndRead(bytes);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(),
              AllOf(HasSubstr("f.idx"), HasSubstr("bad magic"),
                    HasSubstr("0x00 0x08")));
}

TEST_P(IdxRoundTrip, UnknownDType) {
  absl::StatusOr<Tensor> t = WriteAndRead(Idx<uint8_t>(0x0A, {2}, {1, 2}));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      t.status().message(),
      AllOf(HasSubstr("f.idx"), HasSubstr("unknown IDX dtype code 0x0a")));
}

TEST_P(IdxRoundTrip, RankZero) {
  absl::StatusOr<Tensor> t = WriteAndRead(Idx<uint8_t>(0x08, {}, {7}));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(),
              AllOf(HasSubstr("f.idx"), HasSubstr("rank 0 is not supported")));
}

TEST_P(IdxRoundTrip, RankNine) {
  absl::StatusOr<Tensor> t =
      WriteAndRead(Idx<uint8_t>(0x08, {1, 1, 1, 1, 1, 1, 1, 1, 1}, {7}));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(),
              AllOf(HasSubstr("f.idx"), HasSubstr("rank 9 is not supported")));
}

TEST_P(IdxRoundTrip, TruncatedDims) {
  std::string bytes = Header(0x08, {60000, 28, 28});
  bytes.resize(4 + 9);
  absl::StatusOr<Tensor> t = WriteAndRead(bytes);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(),
              AllOf(HasSubstr("f.idx"),
                    HasSubstr("truncated header (dims): expected 12 bytes, "
                              "found 9")));
}

TEST_P(IdxRoundTrip, DimsOverflow) {
  // 2^16 * 2^16 = 2^32 elements, beyond the 2^31 limit; nothing follows,
  // so an allocation trusting the dims would be the only way to fail
  // differently.
  absl::StatusOr<Tensor> t = WriteAndRead(Header(0x08, {65536, 65536}));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(),
              AllOf(HasSubstr("f.idx"), HasSubstr("dims [65536,65536]"),
                    HasSubstr("more than the limit of 2147483648 elements")));
}

TEST_P(IdxRoundTrip, DimsProductOverflowsUInt64) {
  absl::StatusOr<Tensor> t = WriteAndRead(
      Header(0x0E, {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 2, 3}));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("more than the limit"));
}

TEST_P(IdxRoundTrip, HugeClaimWithLittleDataIsTruncatedNotAllocated) {
  // 2^31 float64 elements (16 GiB) claimed, 10 bytes present.
  std::string bytes = Header(0x0E, {32768, 65536});
  bytes += std::string(10, '\x01');
  absl::StatusOr<Tensor> t = WriteAndRead(bytes);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(),
              AllOf(HasSubstr("f.idx"),
                    HasSubstr("truncated data: dims [32768,65536] of float64 "
                              "need 17179869184 bytes, found 10")));
}

TEST_P(IdxRoundTrip, TruncatedData) {
  std::string bytes = Idx<int32_t>(0x0C, {2, 3}, {1, 2, 3, 4, 5, 6});
  bytes.resize(bytes.size() - 3);
  absl::StatusOr<Tensor> t = WriteAndRead(bytes);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(),
              AllOf(HasSubstr("f.idx"),
                    HasSubstr("truncated data: dims [2,3] of int32 need 24 "
                              "bytes, found 21")));
}

TEST_P(IdxRoundTrip, TrailingBytes) {
  std::string bytes = Idx<uint8_t>(0x08, {3}, {1, 2, 3});
  bytes += "xyz!";
  absl::StatusOr<Tensor> t = WriteAndRead(bytes);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(),
              AllOf(HasSubstr("f.idx"),
                    HasSubstr("4 trailing bytes after the data of uint8[3] "
                              "(3 bytes)")));
}

TEST_P(IdxRoundTrip, ManyTrailingBytesAreCountedUpToABound) {
  std::string bytes = Idx<uint8_t>(0x08, {1}, {1});
  bytes += std::string(3 << 20, 'x');
  absl::StatusOr<Tensor> t = WriteAndRead(bytes);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(),
              HasSubstr("at least 1048576 trailing bytes"));
}

INSTANTIATE_TEST_SUITE_P(PlainAndGzip, IdxRoundTrip, ::testing::Bool(),
                         [](const auto& info) {
                           return info.param ? "Gzip" : "Plain";
                         });

TEST(IdxTest, MissingFileIsNotFound) {
  TempDir dir;
  const std::string path = dir.File("absent-idx1-ubyte.gz");
  absl::StatusOr<Tensor> t = ReadIdxFile(path);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(t.status().message(), HasSubstr(path));
}

TEST(IdxTest, DirectoryIsAnError) {
  TempDir dir;
  absl::StatusOr<Tensor> t = ReadIdxFile(dir.File(""));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("Is a directory"));
}

TEST(IdxTest, CorruptGzipData) {
  TempDir dir;
  std::vector<uint8_t> values(1000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = (i * 7919) & 0xff;
  std::string gz = Gzip(Idx<uint8_t>(0x08, {10, 100}, values));
  // Flip bits in the middle of the deflate data.
  for (size_t i = 20; i < 40 && i < gz.size() - 8; ++i) gz[i] ^= 0x5a;
  const std::string path = dir.File("bad.gz");
  WritePlain(path, gz);
  absl::StatusOr<Tensor> t = ReadIdxFile(path);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("bad.gz"));
  EXPECT_THAT(t.status().message(), HasSubstr("gzip")) << t.status();
}

TEST(IdxTest, GzipChecksumMismatch) {
  TempDir dir;
  std::string gz = Gzip(Idx<uint8_t>(0x08, {4}, {1, 2, 3, 4}));
  // The CRC-32 is the trailer's first 4 bytes.
  gz[gz.size() - 8] ^= 0x01;
  const std::string path = dir.File("crc.gz");
  WritePlain(path, gz);
  absl::StatusOr<Tensor> t = ReadIdxFile(path);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(),
              AllOf(HasSubstr("crc.gz"), HasSubstr("corrupt gzip stream")));
}

TEST(IdxTest, TruncatedGzipStream) {
  TempDir dir;
  std::vector<uint8_t> values(5000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = (i * i) & 0xff;
  std::string gz = Gzip(Idx<uint8_t>(0x08, {5000}, values));
  gz.resize(gz.size() / 2);
  const std::string path = dir.File("cut.gz");
  WritePlain(path, gz);
  absl::StatusOr<Tensor> t = ReadIdxFile(path);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(),
              AllOf(HasSubstr("cut.gz"), HasSubstr("corrupt gzip stream"),
                    HasSubstr("unexpected end of file")));
}

TEST(IdxTest, GzipMagicAlone) {
  TempDir dir;
  const std::string path = dir.File("magic.gz");
  WritePlain(path, "\x1f\x8b");
  absl::StatusOr<Tensor> t = ReadIdxFile(path);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t.status().message(),
            path + ": corrupt gzip stream: unexpected end of file");
}

TEST(IdxTest, BadMagicInsideGzipSaysSo) {
  TempDir dir;
  const std::string path = dir.File("text.gz");
  WriteGzip(path, "hello, world");
  absl::StatusOr<Tensor> t = ReadIdxFile(path);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(),
              AllOf(HasSubstr("bad magic"), HasSubstr("0x68 0x65"),
                    HasSubstr("after gzip decompression")));
}

TEST(IdxTest, IdxDTypeCodes) {
  EXPECT_EQ(IdxDTypeCode(DType::kUInt8), 0x08);
  EXPECT_EQ(IdxDTypeCode(DType::kInt8), 0x09);
  EXPECT_EQ(IdxDTypeCode(DType::kInt16), 0x0B);
  EXPECT_EQ(IdxDTypeCode(DType::kInt32), 0x0C);
  EXPECT_EQ(IdxDTypeCode(DType::kFloat32), 0x0D);
  EXPECT_EQ(IdxDTypeCode(DType::kFloat64), 0x0E);
  EXPECT_EQ(IdxDTypeCode(DType::kInt64), 0);
  EXPECT_EQ(IdxDTypeCode(DType::kString), 0);
}

}  // namespace
}  // namespace fedexec::demo
