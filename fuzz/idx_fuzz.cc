// Fuzzes the IDX reader of the demo's dataset loader (plain and gzip
// files): any bytes give a tensor whose size matches its dims, or a clean
// INVALID_ARGUMENT; never a crash, a hang or an allocation the input does
// not justify. The reader takes a path, so the input goes through an
// in-memory file.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "demo/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memfd_create("idx_fuzz", 0);
  if (fd < 0) return 0;
  size_t written = 0;
  while (written < size) {
    const ssize_t n = write(fd, data + written, size - written);
    if (n <= 0) {
      close(fd);
      return 0;
    }
    written += static_cast<size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  absl::StatusOr<fedexec::Tensor> t = fedexec::demo::ReadIdxFile(path);
  close(fd);
  if (!t.ok()) {
    if (t.status().code() != absl::StatusCode::kInvalidArgument) {
      __builtin_trap();
    }
    return 0;
  }
  int64_t elements = 1;
  for (int64_t d : t->shape()) elements *= d;
  if (elements != t->num_elements()) __builtin_trap();
  return 0;
}
