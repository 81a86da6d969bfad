// Fuzzes the proto decoders and the type checker: any bytes, read both as a
// binary and as a text Computation, must give a tree or a clean error; a
// tree that type checks must encode to a proto that decodes and checks
// again, and must print as text that parses.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ir/proto_codec.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"

namespace {

void CheckDecoded(const federated_language::Computation& proto) {
  auto root = fedexec::ir::ComputationFromProto(proto);
  if (!root.ok()) return;
  auto checked = fedexec::ir::CheckComputation(*root);
  if (!checked.ok()) return;
  auto encoded = fedexec::ir::ComputationToProto(*checked);
  if (!encoded.ok()) __builtin_trap();
  auto again = fedexec::ir::ComputationFromProto(*encoded);
  if (!again.ok() || !fedexec::ir::CheckComputation(*again).ok()) {
    __builtin_trap();
  }
  std::string text = fedexec::ir::PrintComputation(*checked);
  if (!fedexec::ir::ParseComputation(text).ok()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto proto = fedexec::ir::ParseComputationProto(bytes); proto.ok()) {
    CheckDecoded(*proto);
  }
  if (auto proto = fedexec::ir::ParseComputationTextProto(bytes); proto.ok()) {
    CheckDecoded(*proto);
  }
  return 0;
}
