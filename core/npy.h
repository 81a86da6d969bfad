// Reading and writing NumPy .npy files: one tensor per file.
//
// Read: format versions 1.0, 2.0 and 3.0; dtypes |b1 (bool), i1 i2 i4 i8,
// u1 u2 u4 u8, f2 (float16), f4, f8, c8 (complex64), c16 (complex128), in
// little-endian ('<'; '|' for 1-byte types) or big-endian ('>', swapped
// while reading) byte order; any rank, including () for a scalar and
// zero-size dims. Fortran-order arrays are accepted and transposed to
// row-major order (rank 0 and 1 need nothing). Not supported (each an
// error): strings ('<U10', '|S5'), objects ('O'), structured and other
// dtypes, and bfloat16 (NumPy has no dtype for it).
//
// Zero copy: ReadNpyFile maps a file of kNpyMapBytes or more and the tensor
// views the mapping (which it keeps alive) when the data needs no
// conversion (native byte order, C order or rank <= 1) and starts on a
// 64-byte boundary, as NumPy pads its headers so that it does. Anything
// else is copied into an aligned buffer; so are smaller files, which are
// read: for them the page faults of a fresh mapping and its unmapping
// (which interrupts every core) cost more than the copy (a data root of
// many small per-client files is read every round). The file must not be
// changed while a tensor that views it lives.
//
// Every problem with the bytes is INVALID_ARGUMENT with a message that
// starts with the file's name: "w.npy: unsupported dtype '<U10' (strings
// are not supported)", "w.npy: truncated data: shape (3,4) of <f4 needs 48
// bytes, the file holds 40". A file holding more than one array (bytes
// after the data) is an error too.
//
// Write: version 1.0, or 2.0 when the header does not fit in 1.0's 64 KiB;
// little-endian, C order, the header padded so the data starts on a 64-byte
// boundary (as NumPy writes).
//
// Thread-safety: stateless functions; the tensors returned are immutable.
#ifndef FEDEXEC_CORE_NPY_H_
#define FEDEXEC_CORE_NPY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tensor.h"

namespace fedexec {

// Files smaller than this are read, larger ones mapped (see above).
inline constexpr int64_t kNpyMapBytes = int64_t{1} << 20;

// Reads the .npy file at `path` (zero-copy when possible, see above).
// Errors name the path; one that cannot be opened or read is NOT_FOUND /
// PERMISSION_DENIED / INVALID_ARGUMENT as the system says, with its reason.
absl::StatusOr<Tensor> ReadNpyFile(const std::string& path);

// Decodes .npy bytes held in memory; `name` stands for the source in
// messages. The elements are copied.
absl::StatusOr<Tensor> DecodeNpy(absl::string_view bytes,
                                 absl::string_view name = "<npy bytes>");

// The same without a copy where possible: the tensor may view `bytes`
// (which must stay valid and unchanged while `owner` is alive; the tensor
// keeps `owner`).
absl::StatusOr<Tensor> DecodeNpyShared(std::shared_ptr<const void> owner,
                                       absl::string_view bytes,
                                       absl::string_view name);

// The .npy encoding of a tensor. INVALID_ARGUMENT for a default (invalid)
// tensor, a string tensor and a bfloat16 tensor, which .npy cannot hold.
absl::StatusOr<std::string> EncodeNpy(const Tensor& tensor);

// Writes EncodeNpy(tensor) to `path`, replacing the file. Errors name the
// path.
absl::Status WriteNpyFile(const std::string& path, const Tensor& tensor);

}  // namespace fedexec

#endif  // FEDEXEC_CORE_NPY_H_
