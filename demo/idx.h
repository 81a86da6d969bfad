// Reading IDX files, the format of the MNIST and Fashion-MNIST data sets.
//
// Format: a 4-byte magic number 0x00 0x00 <dtype> <rank>, then `rank`
// dimension sizes as big-endian unsigned 32-bit integers, then the elements
// in row-major order, big-endian. Supported dtypes and the tensor dtypes
// they become:
//   0x08 unsigned byte -> uint8     0x0C int32   -> int32
//   0x09 signed byte   -> int8      0x0D float32 -> float32
//   0x0B int16         -> int16     0x0E float64 -> float64
// The file may be gzip-compressed (as distributed: "*-ubyte.gz") or plain;
// the reader tells them apart by content, not by name.
//
// Contract: rank is 1..8 (rank 0 is rejected; the format has no scalars in
// practice) and a tensor holds at most kMaxIdxElements elements. The file
// must end exactly after the data. Every problem with the bytes is
// INVALID_ARGUMENT with a message that starts with the path and says what
// is wrong: bad magic, unknown dtype, bad rank, truncated header, dims
// whose product exceeds the limit, truncated data (bytes expected vs
// found), trailing bytes, a corrupt or truncated gzip stream. A file that
// does not exist is NOT_FOUND, one that may not be read PERMISSION_DENIED.
//
// Memory: the declared dims are checked against the limit before anything
// is allocated, and data is read in chunks as it arrives, so a tiny file
// that claims a huge tensor costs only what it actually holds before it is
// rejected as truncated. Peak memory for a good file is about twice the
// tensor (the chunks and the final aligned buffer).
//
// Thread-safety: stateless; safe to call concurrently.
#ifndef FEDEXEC_DEMO_IDX_H_
#define FEDEXEC_DEMO_IDX_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "core/tensor.h"

namespace fedexec::demo {

// The most elements an IDX tensor may declare (2^31).
inline constexpr int64_t kMaxIdxElements = int64_t{1} << 31;

// The largest rank accepted.
inline constexpr int kMaxIdxRank = 8;

// Reads the IDX file (plain or gzip) at `path` into a new tensor of the
// file's dims and matching dtype (see above).
absl::StatusOr<Tensor> ReadIdxFile(const std::string& path);

// The IDX dtype code of a tensor dtype (0x08 for uint8, ...); 0 for dtypes
// IDX cannot hold.
uint8_t IdxDTypeCode(DType dtype);

}  // namespace fedexec::demo

#endif  // FEDEXEC_DEMO_IDX_H_
