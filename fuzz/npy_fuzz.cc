// Fuzzes the .npy reader: any bytes give a tensor or a clean error, both
// when copied and when viewed in place; a decoded tensor encodes to a file
// that decodes to an equal tensor (the writer takes every dtype the reader
// gives).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "core/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto copied = fedexec::DecodeNpy(bytes, "fuzz");

  // The zero-copy path needs 64-byte-aligned memory that outlives the view.
  std::shared_ptr<void> owner = fedexec::AllocateUninitializedBuffer(size);
  if (owner == nullptr) return 0;
  if (size > 0) std::memcpy(owner.get(), data, size);
  auto viewed = fedexec::DecodeNpyShared(
      owner, absl::string_view(static_cast<const char*>(owner.get()), size),
      "fuzz");
  if (copied.ok() != viewed.ok()) __builtin_trap();
  if (!copied.ok()) {
    if (copied.status() != viewed.status()) __builtin_trap();
    return 0;
  }
  if (!(*copied == *viewed)) __builtin_trap();

  auto encoded = fedexec::EncodeNpy(*copied);
  if (!encoded.ok()) __builtin_trap();
  auto decoded = fedexec::DecodeNpy(*encoded, "fuzz");
  if (!decoded.ok()) __builtin_trap();
  if (!(*decoded == *copied)) __builtin_trap();
  return 0;
}
