// Fuzzes the text syntax: any input must give a tree or a clean error; a
// parsed tree must print to text that parses back and prints identically
// (fmt is a fixed point); a tree that type checks must convert to a proto
// and back.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ir/proto_codec.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto root = fedexec::ir::ParseComputation(text);
  if (!root.ok()) return 0;
  std::string printed = fedexec::ir::PrintComputation(*root);
  auto reparsed = fedexec::ir::ParseComputation(printed);
  if (!reparsed.ok()) __builtin_trap();
  if (fedexec::ir::PrintComputation(*reparsed) != printed) __builtin_trap();

  auto checked = fedexec::ir::CheckComputation(*root);
  if (!checked.ok()) return 0;
  auto proto = fedexec::ir::ComputationToProto(*checked);
  if (!proto.ok()) __builtin_trap();
  auto decoded = fedexec::ir::ComputationFromProto(*proto);
  if (!decoded.ok()) __builtin_trap();
  if (!fedexec::ir::CheckComputation(*decoded).ok()) __builtin_trap();
  return 0;
}
