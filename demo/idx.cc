#include "demo/idx.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"

namespace fedexec::demo {
namespace {

absl::Status Error(const std::string& path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

// The tensor dtype of an IDX dtype code; kInvalid for an unknown code.
DType DTypeOfCode(uint8_t code) {
  switch (code) {
    case 0x08:
      return DType::kUInt8;
    case 0x09:
      return DType::kInt8;
    case 0x0B:
      return DType::kInt16;
    case 0x0C:
      return DType::kInt32;
    case 0x0D:
      return DType::kFloat32;
    case 0x0E:
      return DType::kFloat64;
    default:
      return DType::kInvalid;
  }
}

std::string Hex(uint8_t byte) {
  static constexpr char kDigits[] = "0123456789abcdef";
  return std::string{'0', 'x', kDigits[byte >> 4], kDigits[byte & 15]};
}

// A zlib reader over an open descriptor. zlib reads plain files
// transparently, so one path serves both encodings.
class GzReader {
 public:
  GzReader(gzFile file, std::string path)
      : file_(file), path_(std::move(path)) {}
  ~GzReader() {
    if (file_ != nullptr) gzclose_r(file_);
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to `n` bytes into `out`; fewer only at the end of the data.
  // Sets *got to the number read. A corrupt or truncated gzip stream is an
  // error.
  absl::Status Read(void* out, size_t n, size_t* got) {
    *got = 0;
    char* dst = static_cast<char*>(out);
    while (n > 0) {
      const unsigned want =
          static_cast<unsigned>(std::min<size_t>(n, size_t{1} << 30));
      const int r = gzread(file_, dst, want);
      if (r < 0) return StreamError();
      if (r == 0) {
        // End of data, or a gzip stream cut short (Z_BUF_ERROR).
        int errnum = Z_OK;
        gzerror(file_, &errnum);
        if (errnum != Z_OK) return StreamError();
        break;
      }
      dst += r;
      *got += static_cast<size_t>(r);
      n -= static_cast<size_t>(r);
    }
    return absl::OkStatus();
  }

  bool compressed() const { return gzdirect(file_) == 0; }

 private:
  absl::Status StreamError() {
    const int saved_errno = errno;
    int errnum = Z_OK;
    const char* message = gzerror(file_, &errnum);
    if (errnum == Z_ERRNO) {
      return ErrnoError(path_, "cannot read", saved_errno);
    }
    if (errnum == Z_MEM_ERROR) {
      return absl::ResourceExhaustedError(
          absl::StrCat(path_, ": out of memory while decompressing"));
    }
    // zlib prefixes its message with the file's name, "<fd:3>" here.
    std::string_view text = message != nullptr ? message : "unknown error";
    if (text.starts_with("<fd:")) {
      if (const size_t colon = text.find(": "); colon != text.npos) {
        text.remove_prefix(colon + 2);
      }
    }
    return Error(path_,
                 absl::StrCat("corrupt gzip stream: ", std::string(text)));
  }

  gzFile file_;
  std::string path_;
};

// Reads exactly `n` bytes or says how many there were.
absl::Status ReadExactly(GzReader& reader, const std::string& path,
                         absl::string_view what, void* out, size_t n) {
  size_t got = 0;
  if (absl::Status s = reader.Read(out, n, &got); !s.ok()) return s;
  if (got != n) {
    return Error(path, absl::StrCat("truncated ", what, ": expected ", n,
                                    " bytes, found ", got));
  }
  return absl::OkStatus();
}

uint32_t LoadBigEndian32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Converts `count` big-endian elements of `size` bytes in place.
void BigEndianToNative(unsigned char* data, size_t count, size_t size) {
  if constexpr (std::endian::native == std::endian::big) return;
  if (size == 1) return;
  for (size_t i = 0; i < count; ++i) {
    std::reverse(data + i * size, data + (i + 1) * size);
  }
}

}  // namespace

uint8_t IdxDTypeCode(DType dtype) {
  switch (dtype) {
    case DType::kUInt8:
      return 0x08;
    case DType::kInt8:
      return 0x09;
    case DType::kInt16:
      return 0x0B;
    case DType::kInt32:
      return 0x0C;
    case DType::kFloat32:
      return 0x0D;
    case DType::kFloat64:
      return 0x0E;
    default:
      return 0;
  }
}

absl::StatusOr<Tensor> ReadIdxFile(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoError(path, "cannot open", errno);
  gzFile file = gzdopen(fd, "rb");
  if (file == nullptr) {
    ::close(fd);
    return absl::ResourceExhaustedError(
        absl::StrCat(path, ": cannot set up zlib to read the file"));
  }
  gzbuffer(file, 1 << 17);
  GzReader reader(file, path);

  // Magic: 0x00 0x00 <dtype> <rank>.
  unsigned char magic[4];
  if (absl::Status s = ReadExactly(reader, path, "header", magic, 4); !s.ok()) {
    return s;
  }
  if (magic[0] != 0 || magic[1] != 0) {
    return Error(
        path,
        absl::StrCat("bad magic: an IDX file starts with two zero "
                     "bytes, this one with ",
                     Hex(magic[0]), " ", Hex(magic[1]),
                     reader.compressed() ? " (after gzip decompression)" : ""));
  }
  const DType dtype = DTypeOfCode(magic[2]);
  if (dtype == DType::kInvalid) {
    return Error(path,
                 absl::StrCat("unknown IDX dtype code ", Hex(magic[2]),
                              " (known: 0x08 uint8, 0x09 int8, 0x0b int16, "
                              "0x0c int32, 0x0d float32, 0x0e float64)"));
  }
  const int rank = magic[3];
  if (rank == 0 || rank > kMaxIdxRank) {
    return Error(path, absl::StrCat("rank ", rank,
                                    " is not supported (must "
                                    "be 1 to ",
                                    kMaxIdxRank, ")"));
  }

  unsigned char dim_bytes[4 * kMaxIdxRank];
  if (absl::Status s = ReadExactly(reader, path, "header (dims)", dim_bytes,
                                   4 * static_cast<size_t>(rank));
      !s.ok()) {
    return s;
  }
  std::vector<int64_t> shape(rank);
  bool any_zero = false;
  for (int i = 0; i < rank; ++i) {
    shape[i] = LoadBigEndian32(dim_bytes + 4 * i);
    any_zero = any_zero || shape[i] == 0;
  }
  int64_t count = 0;
  if (!any_zero) {
    count = 1;
    for (int64_t dim : shape) {
      // count <= kMaxIdxElements and dim < 2^32: the product fits in int64.
      count *= dim;
      if (count > kMaxIdxElements) {
        return Error(path, absl::StrCat("dims ", ShapeString(shape),
                                        " hold more than the limit of ",
                                        kMaxIdxElements, " elements"));
      }
    }
  }
  const size_t element_size = DTypeSize(dtype);
  const size_t total = static_cast<size_t>(count) * element_size;

  // Read the data in chunks as it arrives, so that the claim in the header
  // costs nothing until the bytes are really there.
  constexpr size_t kChunk = size_t{8} << 20;
  std::vector<std::unique_ptr<unsigned char[]>> chunks;
  size_t have = 0;
  while (have < total) {
    const size_t want = std::min(kChunk, total - have);
    auto chunk = std::make_unique_for_overwrite<unsigned char[]>(want);
    size_t got = 0;
    if (absl::Status s = reader.Read(chunk.get(), want, &got); !s.ok()) {
      return s;
    }
    have += got;
    chunks.push_back(std::move(chunk));
    if (got < want) {
      return Error(path,
                   absl::StrCat("truncated data: dims ", ShapeString(shape),
                                " of ", std::string(DTypeName(dtype)), " need ",
                                total, " bytes, found ", have));
    }
  }

  // Nothing may follow the data; count what does (up to a bound, so a
  // decompression bomb after the data cannot keep us busy).
  {
    constexpr size_t kMaxCounted = size_t{1} << 20;
    unsigned char scratch[4096];
    size_t trailing = 0;
    size_t got = 0;
    do {
      if (absl::Status s = reader.Read(scratch, sizeof(scratch), &got);
          !s.ok()) {
        return s;
      }
      trailing += got;
    } while (got == sizeof(scratch) && trailing < kMaxCounted);
    if (trailing > 0) {
      return Error(
          path, absl::StrCat(got == sizeof(scratch) ? "at least " : "",
                             trailing, " trailing bytes after the data of ",
                             std::string(DTypeName(dtype)), ShapeString(shape),
                             " (", total, " bytes)"));
    }
  }

  std::shared_ptr<void> buffer = AllocateUninitializedBuffer(total);
  if (buffer == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(
        path, ": cannot allocate ", total, " bytes for the tensor"));
  }
  auto* out = static_cast<unsigned char*>(buffer.get());
  size_t offset = 0;
  for (auto& chunk : chunks) {
    const size_t n = std::min(kChunk, total - offset);
    std::memcpy(out + offset, chunk.get(), n);
    chunk.reset();
    offset += n;
  }
  BigEndianToNative(out, static_cast<size_t>(count), element_size);
  const void* data = buffer.get();
  absl::StatusOr<Tensor> tensor = Tensor::FromBuffer(
      dtype, std::move(shape), std::move(buffer), data, total);
  if (!tensor.ok()) return Error(path, tensor.status().message());
  return tensor;
}

}  // namespace fedexec::demo
