// Specification of the .npy reader and writer: the files NumPy wrote in
// testdata/npy (made by testdata/npy/make_npy.py) read exactly; written
// files match NumPy's bytes; every malformed input is a clean error naming
// the file and the problem; zero-copy reading maps the file.
#include "core/npy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "core/limits.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_files.h"

namespace fedexec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string DataFile(const std::string& name) {
  return (test_util::SourceDir() / "testdata" / "npy" / name).string();
}

using ::fedexec::test_util::TempDir;

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// A .npy file from its parts: `header` is the dict text (padded here so the
// data starts on a 64-byte boundary unless `pad` is false).
std::string Npy(const std::string& header, const std::string& data = "",
                int major = 1, bool pad = true) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string h = header;
  if (pad) {
    while ((prefix + h.size() + 1) % 64 != 0) h += ' ';
    h += '\n';
  }
  std::string out = "\x93NUMPY";
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  for (size_t i = 0; i < prefix - 8; ++i) {
    out.push_back(static_cast<char>((h.size() >> (8 * i)) & 0xFF));
  }
  return out + h + data;
}

std::string Dict(const std::string& descr, const std::string& shape,
                 const std::string& fortran = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran +
         ", 'shape': " + shape + ", }";
}

template <typename T>
std::string Bytes(std::vector<T> values) {
  return std::string(reinterpret_cast<const char*>(values.data()),
                     values.size() * sizeof(T));
}

// Expects INVALID_ARGUMENT with exactly `message`.
template <typename T>
void ExpectError(const absl::StatusOr<T>& result, const std::string& message) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
      << result.status();
  EXPECT_EQ(std::string(result.status().message()), message);
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  auto span = t.data<T>();
  return std::vector<T>(span.begin(), span.end());
}

uint32_t FloatBits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// ------------------------------------------------------------ NumPy's files

TEST(NpyReadTest, ReadsEveryIntegerAndBoolDTypeNumPyWrites) {
  auto b = ReadNpyFile(DataFile("bool.npy"));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->dtype(), DType::kBool);
  EXPECT_THAT(Values<bool>(*b), ElementsAre(true, false, true));

  auto i8 = ReadNpyFile(DataFile("int8.npy"));
  ASSERT_TRUE(i8.ok()) << i8.status();
  EXPECT_THAT(Values<int8_t>(*i8), ElementsAre(-128, 0, 127));
  auto u8 = ReadNpyFile(DataFile("uint8.npy"));
  ASSERT_TRUE(u8.ok()) << u8.status();
  EXPECT_THAT(Values<uint8_t>(*u8), ElementsAre(0, 1, 255));
  auto i16 = ReadNpyFile(DataFile("int16.npy"));
  ASSERT_TRUE(i16.ok()) << i16.status();
  EXPECT_THAT(Values<int16_t>(*i16), ElementsAre(-32768, 2, 32767));
  auto u16 = ReadNpyFile(DataFile("uint16.npy"));
  ASSERT_TRUE(u16.ok()) << u16.status();
  EXPECT_THAT(Values<uint16_t>(*u16), ElementsAre(0, 3, 65535));
  auto i32 = ReadNpyFile(DataFile("int32.npy"));
  ASSERT_TRUE(i32.ok()) << i32.status();
  EXPECT_EQ(i32->dtype(), DType::kInt32);
  EXPECT_THAT(i32->shape(), ElementsAre(2, 3));
  EXPECT_THAT(Values<int32_t>(*i32), ElementsAre(-2, -1, 0, 1, 2, 3));
  auto u32 = ReadNpyFile(DataFile("uint32.npy"));
  ASSERT_TRUE(u32.ok()) << u32.status();
  EXPECT_THAT(Values<uint32_t>(*u32), ElementsAre(0, 4, 4294967295u));
  auto i64 = ReadNpyFile(DataFile("int64.npy"));
  ASSERT_TRUE(i64.ok()) << i64.status();
  EXPECT_THAT(Values<int64_t>(*i64),
              ElementsAre(std::numeric_limits<int64_t>::min(), 5,
                          std::numeric_limits<int64_t>::max()));
  auto u64 = ReadNpyFile(DataFile("uint64.npy"));
  ASSERT_TRUE(u64.ok()) << u64.status();
  EXPECT_THAT(Values<uint64_t>(*u64),
              ElementsAre(0, 6, std::numeric_limits<uint64_t>::max()));
}

TEST(NpyReadTest, ReadsEveryFloatingAndComplexDTypeNumPyWrites) {
  auto f16 = ReadNpyFile(DataFile("float16.npy"));
  ASSERT_TRUE(f16.ok()) << f16.status();
  EXPECT_EQ(f16->dtype(), DType::kFloat16);
  // 0.5, -2.0, 65504.0 (the largest float16), inf.
  EXPECT_THAT(Values<Float16>(*f16),
              ElementsAre(Float16{0x3800}, Float16{0xC000}, Float16{0x7BFF},
                          Float16{0x7C00}));

  auto f32 = ReadNpyFile(DataFile("float32.npy"));
  ASSERT_TRUE(f32.ok()) << f32.status();
  EXPECT_EQ(f32->TypeString(), "float32[2,2]");
  std::vector<float> v = Values<float>(*f32);
  EXPECT_EQ(v[0], 1.5f);
  EXPECT_EQ(FloatBits(v[1]), 0x80000000u);  // -0.0
  EXPECT_TRUE(std::isnan(v[2]));
  EXPECT_EQ(v[3], -std::numeric_limits<float>::infinity());

  auto f64 = ReadNpyFile(DataFile("float64.npy"));
  ASSERT_TRUE(f64.ok()) << f64.status();
  EXPECT_THAT(Values<double>(*f64), ElementsAre(0.1, 1e300, -2.5));

  auto c64 = ReadNpyFile(DataFile("complex64.npy"));
  ASSERT_TRUE(c64.ok()) << c64.status();
  EXPECT_THAT(Values<std::complex<float>>(*c64),
              ElementsAre(std::complex<float>(1, 2),
                          std::complex<float>(-3.5f, -0.5f)));
  auto c128 = ReadNpyFile(DataFile("complex128.npy"));
  ASSERT_TRUE(c128.ok()) << c128.status();
  EXPECT_THAT(c128->shape(), ElementsAre(1, 1));
  EXPECT_THAT(Values<std::complex<double>>(*c128),
              ElementsAre(std::complex<double>(0.25, -1)));
}

TEST(NpyReadTest, ReadsScalarsZeroSizeAndHigherRanks) {
  auto scalar = ReadNpyFile(DataFile("scalar_float64.npy"));
  ASSERT_TRUE(scalar.ok()) << scalar.status();
  EXPECT_EQ(scalar->rank(), 0);
  EXPECT_THAT(Values<double>(*scalar), ElementsAre(3.25));

  auto empty = ReadNpyFile(DataFile("empty_0x3.npy"));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->TypeString(), "float32[0,3]");
  EXPECT_EQ(empty->num_elements(), 0);

  auto rank4 = ReadNpyFile(DataFile("rank4.npy"));
  ASSERT_TRUE(rank4.ok()) << rank4.status();
  EXPECT_THAT(rank4->shape(), ElementsAre(1, 2, 3, 4));
  std::vector<int16_t> v = Values<int16_t>(*rank4);
  for (int i = 0; i < 24; ++i) EXPECT_EQ(v[i], i);
}

TEST(NpyReadTest, SwapsBigEndianData) {
  auto i32 = ReadNpyFile(DataFile("big_endian_int32.npy"));
  ASSERT_TRUE(i32.ok()) << i32.status();
  EXPECT_EQ(i32->dtype(), DType::kInt32);
  EXPECT_THAT(Values<int32_t>(*i32), ElementsAre(1, -2, 0x01020304));
  auto f64 = ReadNpyFile(DataFile("big_endian_float64.npy"));
  ASSERT_TRUE(f64.ok()) << f64.status();
  EXPECT_THAT(Values<double>(*f64), ElementsAre(1.5, -0.25));
  // Each part of a complex number is swapped on its own.
  auto c64 = ReadNpyFile(DataFile("big_endian_complex64.npy"));
  ASSERT_TRUE(c64.ok()) << c64.status();
  EXPECT_THAT(Values<std::complex<float>>(*c64),
              ElementsAre(std::complex<float>(1, -2)));
}

TEST(NpyReadTest, TransposesFortranOrderToRowMajor) {
  auto m = ReadNpyFile(DataFile("fortran_int32.npy"));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_THAT(m->shape(), ElementsAre(2, 3));
  EXPECT_THAT(Values<int32_t>(*m), ElementsAre(0, 1, 2, 3, 4, 5));
  auto r3 = ReadNpyFile(DataFile("fortran_rank3.npy"));
  ASSERT_TRUE(r3.ok()) << r3.status();
  EXPECT_THAT(r3->shape(), ElementsAre(2, 3, 4));
  std::vector<float> v = Values<float>(*r3);
  for (int i = 0; i < 24; ++i) EXPECT_EQ(v[i], static_cast<float>(i));
}

TEST(NpyReadTest, FortranOrderOfRankOneOrZeroSizeNeedsNothing) {
  auto vec =
      DecodeNpy(Npy(Dict("<i4", "(2,)", "True"), Bytes<int32_t>({7, 8})));
  ASSERT_TRUE(vec.ok()) << vec.status();
  EXPECT_THAT(Values<int32_t>(*vec), ElementsAre(7, 8));
  auto empty = DecodeNpy(Npy(Dict("<i4", "(0, 5)", "True")));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->TypeString(), "int32[0,5]");
}

TEST(NpyReadTest, ReadsFormatVersionsTwoAndThree) {
  auto v2 = ReadNpyFile(DataFile("version2.npy"));
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_THAT(Values<int64_t>(*v2), ElementsAre(7, 8, 9));
  auto v3 = ReadNpyFile(DataFile("version3.npy"));
  ASSERT_TRUE(v3.ok()) << v3.status();
  EXPECT_THAT(Values<float>(*v3), ElementsAre(1.0f, 2.0f));
}

TEST(NpyReadTest, UnsupportedNumPyDTypesAreErrorsNamingTheFile) {
  const std::string u = DataFile("unicode.npy");
  ExpectError(ReadNpyFile(u), u + ": unsupported dtype '<U2' (strings are not "
                                  "supported)");
  const std::string s = DataFile("bytes.npy");
  ExpectError(ReadNpyFile(s), s + ": unsupported dtype '|S2' (strings are not "
                                  "supported)");
  const std::string o = DataFile("object.npy");
  ExpectError(ReadNpyFile(o), o + ": unsupported dtype '|O' (Python objects "
                                  "are not supported)");
  const std::string st = DataFile("structured.npy");
  ExpectError(ReadNpyFile(st),
              st + ": unsupported dtype: 'descr' is a list (structured "
                   "dtypes are not supported)");
  const std::string dt = DataFile("datetime.npy");
  ExpectError(ReadNpyFile(dt), dt + ": unsupported dtype '<M8[D]'");
}

// ------------------------------------------------------------ zero copy

// Whether /proc/self/maps lists `path` (a file mapped into memory).
bool IsMapped(const std::string& path) {
  const std::string maps = test_util::ReadFile("/proc/self/maps");
  return maps.find(std::filesystem::canonical(path).string()) !=
         std::string::npos;
}

TEST(NpyZeroCopyTest, AlignedFileIsMappedAndKeptAliveByTheTensor) {
  TempDir dir;
  const std::string path = dir.File("w.npy");
  // Large enough to be mapped.
  std::vector<double> values(kNpyMapBytes / sizeof(double));
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.5 * i;
  ASSERT_TRUE(WriteNpyFile(path, Tensor::Vector<double>(values)).ok());
  {
    auto t = ReadNpyFile(path);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(IsMapped(path));
    Tensor copy = *t;  // shares the mapping
    t = Tensor();
    EXPECT_TRUE(IsMapped(path));
    EXPECT_EQ(Values<double>(copy), values);
  }
  EXPECT_FALSE(IsMapped(path));
}

TEST(NpyZeroCopyTest, SmallFilesAreRead) {
  TempDir dir;
  const std::string path = dir.File("w.npy");
  WriteBytes(path, test_util::ReadFile(DataFile("float64.npy")));
  auto t = ReadNpyFile(path);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_FALSE(IsMapped(path));
  EXPECT_THAT(Values<double>(*t), ElementsAre(0.1, 1e300, -2.5));
}

TEST(NpyZeroCopyTest, SwappedOrTransposedDataIsCopied) {
  for (const char* name : {"big_endian_int32.npy", "fortran_int32.npy"}) {
    TempDir dir;
    const std::string path = dir.File(name);
    WriteBytes(path, test_util::ReadFile(DataFile(name)));
    auto t = ReadNpyFile(path);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_FALSE(IsMapped(path)) << name;
  }
}

TEST(NpyZeroCopyTest, SharedDecodingViewsAlignedBytes) {
  // Memory aligned to 64 bytes, holding a file whose data is at offset 128.
  auto owner = std::shared_ptr<void>(AllocateBuffer(256));
  const std::string file = Npy(Dict("<f4", "(2,)"), Bytes<float>({1.0f, 2.0f}));
  ASSERT_EQ(file.size(), 128u + 8u);
  std::memcpy(owner.get(), file.data(), file.size());
  absl::string_view bytes(static_cast<const char*>(owner.get()), file.size());
  auto t = DecodeNpyShared(owner, bytes, "mem");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->raw_data(), bytes.data() + 128);
  EXPECT_THAT(Values<float>(*t), ElementsAre(1.0f, 2.0f));

  // DecodeNpy always copies.
  auto copied = DecodeNpy(bytes);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_NE(copied->raw_data(), bytes.data() + 128);
  EXPECT_EQ(*copied, *t);
}

TEST(NpyZeroCopyTest, MisalignedDataIsCopiedCorrectly) {
  // A header not padded to 64 bytes: the data starts at an odd offset.
  std::string header = Dict("<f8", "(2,)") + "\n";
  const std::string file =
      Npy(header, Bytes<double>({0.5, -4.0}), 1, /*pad=*/false);
  ASSERT_NE((10 + header.size()) % 8, 0u);
  auto owner = std::shared_ptr<void>(AllocateBuffer(file.size()));
  std::memcpy(owner.get(), file.data(), file.size());
  absl::string_view bytes(static_cast<const char*>(owner.get()), file.size());
  auto t = DecodeNpyShared(owner, bytes, "mem");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_NE(t->raw_data(), bytes.data() + 10 + header.size());
  EXPECT_THAT(Values<double>(*t), ElementsAre(0.5, -4.0));
}

// ------------------------------------------------------------ header forms

TEST(NpyHeaderTest, AcceptsTheVariantsPythonAllows) {
  // Double quotes, no trailing comma, other key order, blanks, Python 2
  // long integers, an unpadded header without a newline.
  const std::string data = Bytes<int16_t>({1, 2, 3, 4, 5, 6});
  for (const std::string& header :
       {std::string("{\"descr\":\"<i2\",\"fortran_order\":False,"
                    "\"shape\":(2,3)}"),
        std::string("{ 'shape' : ( 2 , 3 ) , 'descr' : '<i2' , "
                    "'fortran_order' : False }"),
        std::string("{'descr': '<i2', 'fortran_order': False, "
                    "'shape': (2L, 3L), }")}) {
    auto t = DecodeNpy(Npy(header, data, 1, /*pad=*/false));
    ASSERT_TRUE(t.ok()) << header << ": " << t.status();
    EXPECT_EQ(t->TypeString(), "int16[2,3]");
    EXPECT_THAT(Values<int16_t>(*t), ElementsAre(1, 2, 3, 4, 5, 6));
  }
}

TEST(NpyHeaderTest, OneByteTypesTakeAnyByteOrder) {
  for (const char* descr : {"|u1", "<u1", ">u1", "=u1"}) {
    auto t = DecodeNpy(Npy(Dict(descr, "(1,)"), "\x07"));
    ASSERT_TRUE(t.ok()) << descr << ": " << t.status();
    EXPECT_THAT(Values<uint8_t>(*t), ElementsAre(7));
  }
  auto native = DecodeNpy(Npy(Dict("=i2", "()"), Bytes<int16_t>({-3})));
  ASSERT_TRUE(native.ok()) << native.status();
  EXPECT_THAT(Values<int16_t>(*native), ElementsAre(-3));
}

// ------------------------------------------------------------ malformed

TEST(NpyMalformedTest, BadMagic) {
  ExpectError(DecodeNpy("PK\x03\x04 not numpy", "x.npy"),
              "x.npy: not a .npy file (it does not start with \\x93NUMPY)");
  ExpectError(DecodeNpy("", "x.npy"),
              "x.npy: not a .npy file (it does not start with \\x93NUMPY)");
}

TEST(NpyMalformedTest, UnknownVersion) {
  std::string file = Npy(Dict("<f4", "()"), Bytes<float>({1}));
  file[6] = 4;
  ExpectError(DecodeNpy(file, "x.npy"),
              "x.npy: unsupported format version 4.0 (1.0, 2.0 and 3.0 are "
              "supported)");
  file[6] = 1;
  file[7] = 1;
  ExpectError(DecodeNpy(file, "x.npy"),
              "x.npy: unsupported format version 1.1 (1.0, 2.0 and 3.0 are "
              "supported)");
}

TEST(NpyMalformedTest, TruncatedHeader) {
  ExpectError(DecodeNpy(std::string("\x93NUMPY\x01\x00\x10", 9), "x.npy"),
              "x.npy: truncated header: the file has 9 bytes");
  ExpectError(DecodeNpy(std::string("\x93NUMPY\x02\x00\x10\x00", 10), "x.npy"),
              "x.npy: truncated header: the file has 10 bytes");
  const std::string file = Npy(Dict("<f4", "()"), Bytes<float>({1}));
  ExpectError(DecodeNpy(file.substr(0, 40), "x.npy"),
              "x.npy: truncated header: it declares 118 bytes, the file holds "
              "30 after the prefix");
}

TEST(NpyMalformedTest, HeaderThatIsNotADict) {
  ExpectError(DecodeNpy(Npy("[1, 2]"), "x.npy"),
              "x.npy: header is not a valid dict (at byte 0: expected '{')");
  ExpectError(DecodeNpy(Npy("{'descr': '<f4'", "", 1, false), "x.npy"),
              "x.npy: header is not a valid dict (at byte 15: expected ',' or "
              "'}' after a value)");
  ExpectError(DecodeNpy(Npy("{'descr: '<f4'}", "", 1, false), "x.npy"),
              "x.npy: header is not a valid dict (at byte 10: expected ':' "
              "after a key)");
  ExpectError(DecodeNpy(Npy("{'a': 'b'} x"), "x.npy"),
              "x.npy: header is not a valid dict (at byte 11: text after the "
              "dict)");
  ExpectError(DecodeNpy(Npy("{1: 2}"), "x.npy"),
              "x.npy: header is not a valid dict (at byte 2: a key is an "
              "integer, expected a string)");
  ExpectError(DecodeNpy(Npy("{'descr': '<f\\x34'}"), "x.npy"),
              "x.npy: header is not a valid dict (at byte 14: escapes in "
              "strings are not supported)");
  ExpectError(DecodeNpy(Npy("{'descr': np.float32}"), "x.npy"),
              "x.npy: header is not a valid dict (at byte 10: unexpected "
              "character 'n')");
  ExpectError(DecodeNpy(Npy("{'descr': '<f4', 'descr': '<f4'}"), "x.npy"),
              "x.npy: header is not a valid dict (at byte 31: duplicate key "
              "'descr')");
  ExpectError(DecodeNpy(Npy("{'shape': (-)}"), "x.npy"),
              "x.npy: header is not a valid dict (at byte 12: expected digits "
              "after '-')");
  ExpectError(DecodeNpy(Npy("{'descr"), "x.npy"),
              "x.npy: header is not a valid dict (at byte 54: unterminated "
              "string)");
}

TEST(NpyMalformedTest, DeeplyNestedHeaderIsAnErrorNotARecursion) {
  const std::string deep =
      "{'shape': " + std::string(100000, '(') + std::string(100000, ')') + "}";
  ExpectError(DecodeNpy(Npy(deep), "x.npy"),
              "x.npy: header is not a valid dict (at byte 19: nested too "
              "deeply)");
}

TEST(NpyMalformedTest, MissingOrUnexpectedKeys) {
  ExpectError(DecodeNpy(Npy("{'fortran_order': False, 'shape': ()}"), "x.npy"),
              "x.npy: header has no 'descr'");
  ExpectError(DecodeNpy(Npy("{'descr': '<f4', 'shape': ()}"), "x.npy"),
              "x.npy: header has no 'fortran_order'");
  ExpectError(
      DecodeNpy(Npy("{'descr': '<f4', 'fortran_order': False}"), "x.npy"),
      "x.npy: header has no 'shape'");
  ExpectError(
      DecodeNpy(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), "
                    "'extra': 1}"),
                "x.npy"),
      "x.npy: header has an unexpected key 'extra' (expected descr, "
      "fortran_order and shape)");
}

TEST(NpyMalformedTest, UnsupportedDTypes) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"<U10", "unsupported dtype '<U10' (strings are not supported)"},
      {"|S3", "unsupported dtype '|S3' (strings are not supported)"},
      {"|O", "unsupported dtype '|O' (Python objects are not supported)"},
      {"<i3", "unsupported dtype '<i3'"},
      {"<V8", "unsupported dtype '<V8'"},
      {"<", "unsupported dtype '<'"},
      {"", "unsupported dtype ''"},
      {"f4", "unsupported dtype 'f4' (no byte order)"},
      {"|f4",
       "unsupported dtype '|f4' (byte order '|' is for 1-byte types "
       "only)"},
  };
  for (const auto& [descr, message] : cases) {
    ExpectError(DecodeNpy(Npy(Dict(descr, "()")), "x.npy"),
                "x.npy: " + message);
  }
  ExpectError(DecodeNpy(Npy("{'descr': 4, 'fortran_order': False, 'shape': "
                            "()}"),
                        "x.npy"),
              "x.npy: unsupported dtype: 'descr' is an integer (structured "
              "dtypes are not supported)");
}

TEST(NpyMalformedTest, BadFortranOrderOrShapeValues) {
  ExpectError(DecodeNpy(Npy(Dict("<f4", "()", "0")), "x.npy"),
              "x.npy: 'fortran_order' is an integer, expected True or False");
  ExpectError(DecodeNpy(Npy(Dict("<f4", "[2]")), "x.npy"),
              "x.npy: 'shape' is a list, expected a tuple of integers");
  // `(3)` is the integer 3 in Python.
  ExpectError(DecodeNpy(Npy(Dict("<f4", "(3)")), "x.npy"),
              "x.npy: 'shape' is an integer, expected a tuple of integers");
  ExpectError(DecodeNpy(Npy(Dict("<f4", "(2, None)")), "x.npy"),
              "x.npy: 'shape' element 1 is None, expected an integer");
  ExpectError(DecodeNpy(Npy(Dict("<f4", "(2, -1)")), "x.npy"),
              "x.npy: 'shape' element 1 is -1, must be >= 0");
}

TEST(NpyMalformedTest, HugeShapesAreErrorsNotOverflows) {
  ExpectError(
      DecodeNpy(Npy(Dict("<f4", "(99999999999999999999999999,)")), "x.npy"),
      "x.npy: 'shape' element 0 is 99999999999999999999999999, more "
      "than 1099511627776");
  auto product =
      DecodeNpy(Npy(Dict("<f4", "(1048576, 1048576, 1048576)")), "x.npy");
  ASSERT_FALSE(product.ok());
  EXPECT_EQ(product.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(product.status().message(),
              HasSubstr("x.npy: shape [1048576,1048576,1048576]"));
  // The largest allowed count with no data: truncated, not allocated.
  ExpectError(DecodeNpy(Npy(Dict("<c16", "(1099511627776,)")), "x.npy"),
              "x.npy: truncated data: shape (1099511627776,) of '<c16' needs "
              "17592186044416 bytes, the file holds 0");
}

TEST(NpyMalformedTest, DataSizeMustMatchTheShape) {
  ExpectError(
      DecodeNpy(Npy(Dict("<f4", "(3, 4)"), std::string(40, '\0')), "x.npy"),
      "x.npy: truncated data: shape (3, 4) of '<f4' needs 48 bytes, "
      "the file holds 40");
  ExpectError(DecodeNpy(Npy(Dict("<f4", "()"), std::string(5, '\0')), "x.npy"),
              "x.npy: 1 bytes after the data of shape () of '<f4' (a .npy "
              "file holds one array)");
}

TEST(NpyMalformedTest, BoolBytesMustBeZeroOrOne) {
  ExpectError(
      DecodeNpy(Npy(Dict("|b1", "(3,)"), std::string("\x01\x00\x02", 3)),
                "x.npy"),
      "x.npy: bool element 2 is the byte 2, not 0 or 1");
}

// ------------------------------------------------------------ files

TEST(NpyFileTest, MissingFileIsNotFoundNamingThePath) {
  TempDir dir;
  const std::string path = dir.File("absent.npy");
  auto t = ReadNpyFile(path);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(t.status().message(),
            path + ": cannot open: No such file or directory");
}

TEST(NpyFileTest, DirectoryAndEmptyFileAreErrors) {
  TempDir dir;
  ExpectError(ReadNpyFile(dir.File("")),
              dir.File("") + ": is a directory, not a .npy file");
  const std::string empty = dir.File("empty.npy");
  WriteBytes(empty, "");
  ExpectError(ReadNpyFile(empty),
              empty + ": not a .npy file (it does not start with \\x93NUMPY)");
}

TEST(NpyFileTest, EndlessDeviceDoesNotHang) {
  ExpectError(ReadNpyFile("/dev/zero"),
              "/dev/zero: not a .npy file (it does not start with \\x93NUMPY)");
}

// Reads `bytes` through a pipe (a FIFO), which cannot be mapped.
absl::StatusOr<Tensor> ReadThroughPipe(const std::string& bytes) {
  TempDir dir;
  const std::string fifo = dir.File("pipe.npy");
  EXPECT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] {
    int fd = open(fifo.c_str(), O_WRONLY);
    size_t done = 0;
    while (fd >= 0 && done < bytes.size()) {
      ssize_t w = write(fd, bytes.data() + done, bytes.size() - done);
      if (w <= 0) break;
      done += static_cast<size_t>(w);
    }
    if (fd >= 0) close(fd);
  });
  absl::StatusOr<Tensor> t = ReadNpyFile(fifo);
  writer.join();
  return t;
}

TEST(NpyFileTest, ReadsFromAPipe) {
  for (const char* name : {"int32.npy", "version2.npy", "fortran_int32.npy"}) {
    const std::string bytes = test_util::ReadFile(DataFile(name));
    auto piped = ReadThroughPipe(bytes);
    ASSERT_TRUE(piped.ok()) << name << ": " << piped.status();
    auto direct = DecodeNpy(bytes);
    ASSERT_TRUE(direct.ok());
    EXPECT_EQ(*piped, *direct) << name;
  }
}

TEST(NpyFileTest, PipeErrorsAreTheSame) {
  const std::string file = Npy(Dict("<f4", "(3,)"), Bytes<float>({1, 2}));
  auto short_data = ReadThroughPipe(file);
  ASSERT_FALSE(short_data.ok());
  EXPECT_THAT(short_data.status().message(),
              HasSubstr("truncated data: shape (3,) of '<f4' needs 12 bytes, "
                        "the file holds 8"));
  auto trailing =
      ReadThroughPipe(Npy(Dict("<f4", "(1,)"), Bytes<float>({1, 2, 3})));
  ASSERT_FALSE(trailing.ok());
  // Only one byte past the data is read to notice it.
  EXPECT_THAT(trailing.status().message(),
              HasSubstr("1 bytes after the data of shape (1,)"));
  auto bad = ReadThroughPipe(std::string("\x93NUMPY\x05\x00", 8));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(),
              HasSubstr("unsupported format version 5.0"));
}

// ------------------------------------------------------------ writing

TEST(NpyWriteTest, WritesTheBytesNumPyWrites) {
  for (const char* name :
       {"bool.npy", "int8.npy", "uint8.npy", "int16.npy", "uint16.npy",
        "int32.npy", "uint32.npy", "int64.npy", "uint64.npy", "float16.npy",
        "float32.npy", "float64.npy", "complex64.npy", "complex128.npy",
        "scalar_float64.npy", "empty_0x3.npy", "rank4.npy"}) {
    const std::string bytes = test_util::ReadFile(DataFile(name));
    auto t = DecodeNpy(bytes);
    ASSERT_TRUE(t.ok()) << name << ": " << t.status();
    auto written = EncodeNpy(*t);
    ASSERT_TRUE(written.ok()) << written.status();
    EXPECT_EQ(*written, bytes) << name;
  }
}

TEST(NpyWriteTest, HeaderIsVersionOnePaddedToSixtyFourBytes) {
  auto bytes = EncodeNpy(Tensor::Vector<int32_t>({1, 2, 3}));
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t header_len = static_cast<unsigned char>((*bytes)[8]) +
                            256 * static_cast<unsigned char>((*bytes)[9]);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  EXPECT_EQ(bytes->size(), 10 + header_len + 12);
  EXPECT_EQ((*bytes)[10 + header_len - 1], '\n');
  EXPECT_EQ(bytes->substr(10, 57),
            "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }");
}

TEST(NpyWriteTest, HugeHeaderUsesVersionTwo) {
  // Rank 30000 with every dim 1: "1, " 30000 times needs more than 64 KiB.
  auto t = Tensor::Zeros(DType::kUInt8, std::vector<int64_t>(30000, 1));
  ASSERT_TRUE(t.ok()) << t.status();
  auto bytes = EncodeNpy(*t);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->substr(0, 8), std::string("\x93NUMPY\x02\x00", 8));
  size_t header_len = 0;
  for (int i = 11; i >= 8; --i) {
    header_len = header_len * 256 + static_cast<unsigned char>((*bytes)[i]);
  }
  EXPECT_GT(header_len, 65535u);
  EXPECT_EQ((12 + header_len) % 64, 0u);
  auto back = DecodeNpy(*bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, *t);
}

TEST(NpyWriteTest, RoundTripsEveryDTypeBitForBit) {
  const float nan_payload = [] {
    uint32_t bits = 0x7F800001;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }();
  std::vector<Tensor> tensors = {
      Tensor::Vector<bool>({true, false}),
      Tensor::Vector<int8_t>({-1, 2}),
      Tensor::Vector<uint8_t>({255}),
      Tensor::Vector<int16_t>({-300}),
      Tensor::Vector<uint16_t>({60000}),
      Tensor::Vector<int32_t>({-70000}),
      Tensor::Vector<uint32_t>({4000000000u}),
      Tensor::Vector<int64_t>({-5000000000}),
      Tensor::Vector<uint64_t>({18000000000000000000u}),
      Tensor::Vector<Float16>({Float16{0x7E01}, Float16{0x8000}}),
      Tensor::Vector<float>({nan_payload, -0.0f}),
      Tensor::Scalar<double>(1e-310),
      Tensor::Vector<std::complex<float>>({{1, -1}}),
      Tensor::Vector<std::complex<double>>({{0.5, 2}}),
      *Tensor::Zeros(DType::kInt64, {2, 0, 3}),
  };
  for (const Tensor& t : tensors) {
    auto bytes = EncodeNpy(t);
    ASSERT_TRUE(bytes.ok()) << t.TypeString();
    auto back = DecodeNpy(*bytes);
    ASSERT_TRUE(back.ok()) << t.TypeString() << ": " << back.status();
    EXPECT_EQ(*back, t) << t.TypeString();
  }
}

TEST(NpyWriteTest, TensorsWithoutANumPyDTypeAreErrors) {
  ExpectError(EncodeNpy(Tensor::StringScalar("a")),
              "cannot write a string tensor as .npy (no NumPy dtype holds it)");
  ExpectError(EncodeNpy(Tensor::Vector<BFloat16>({BFloat16{0}})),
              "cannot write a bfloat16[1] tensor as .npy (no NumPy dtype "
              "holds it)");
  ExpectError(EncodeNpy(Tensor()),
              "cannot write a default tensor as .npy (no NumPy dtype holds "
              "it)");
}

TEST(NpyWriteTest, WriteFileThenReadFile) {
  TempDir dir;
  const std::string path = dir.File("out.npy");
  Tensor t = *Tensor::FromSpan<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  ASSERT_TRUE(WriteNpyFile(path, t).ok());
  auto back = ReadNpyFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, t);
  // Writing again replaces the file.
  Tensor u = Tensor::Scalar<int64_t>(9);
  ASSERT_TRUE(WriteNpyFile(path, u).ok());
  auto again = ReadNpyFile(path);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, u);
}

TEST(NpyWriteTest, WriteErrorsNameThePath) {
  TempDir dir;
  const std::string path = dir.File("no/such/dir/out.npy");
  absl::Status s = WriteNpyFile(path, Tensor::Scalar<float>(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), path + ": cannot create: No such file or directory");
  absl::Status str = WriteNpyFile(dir.File("s.npy"), Tensor::StringScalar("x"));
  EXPECT_EQ(str.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(str.message(), dir.File("s.npy") +
                               ": cannot write a string tensor as .npy (no "
                               "NumPy dtype holds it)");
}

}  // namespace
}  // namespace fedexec
