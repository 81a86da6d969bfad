// Fuzzes the value decoders of ir/value_proto.h. Any bytes are read two
// ways:
// - as one tensorflow_federated.v0.Value: ValueFromProto must give a value
//   or a clean error;
// - as a stream of fedexec.v1.ValueChunk messages, each written as field 1
//   of a message (tag 0x0a, varint length, bytes: what a repeated field of
//   chunks looks like): ChunkAssembler must give a value or a clean error.
// A value either way must survive a round trip: encoded whole and in
// chunks (of a size taken from the input), it decodes to an equal value.
#include <cstddef>
#include <cstdint>
#include <string>

#include "google/protobuf/io/coded_stream.h"
#include "ir/value_proto.h"

namespace {

namespace v0 = ::tensorflow_federated::v0;
namespace v1 = ::fedexec::v1;

// Bytes a value may announce in chunks: keeps allocations small.
constexpr int64_t kMaxBytes = int64_t{1} << 24;

void CheckRoundTrips(const fedexec::Value& value, int64_t chunk_bytes) {
  v0::Value proto;
  if (!fedexec::ir::ValueToProto(value, &proto).ok()) {
    // Some decodable values have no canonical type to encode (members
    // that are empty sequences): a clean error is fine.
    return;
  }
  auto again = fedexec::ir::ValueFromProto(proto);
  if (!again.ok() || !(*again == value)) __builtin_trap();

  fedexec::ir::ChunkAssembler assembler;
  const absl::Status sent = fedexec::ir::ValueToChunks(
      value, chunk_bytes,
      [&](v1::ValueChunk&& chunk) { return assembler.Add(chunk); });
  if (!sent.ok()) __builtin_trap();
  auto assembled = assembler.Finish();
  if (!assembled.ok() || !(*assembled == value)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int64_t chunk_bytes = size == 0 ? 1 : 1 + data[0] % 64;

  v0::Value proto;
  if (proto.ParseFromArray(data, static_cast<int>(size))) {
    auto value = fedexec::ir::ValueFromProto(proto);
    if (value.ok()) CheckRoundTrips(*value, chunk_bytes);
    // Must not crash whatever the message holds.
    (void)fedexec::ir::ContainsComputation(proto);
  }

  google::protobuf::io::CodedInputStream in(data, static_cast<int>(size));
  fedexec::ir::ChunkAssembler assembler(kMaxBytes);
  bool ok = true;
  while (ok) {
    const uint32_t tag = in.ReadTag();
    if (tag != 0x0a) break;
    uint32_t length = 0;
    if (!in.ReadVarint32(&length)) break;
    const auto limit = in.PushLimit(static_cast<int>(length));
    v1::ValueChunk chunk;
    if (!chunk.ParseFromCodedStream(&in) || !in.ConsumedEntireMessage()) break;
    in.PopLimit(limit);
    ok = assembler.Add(chunk).ok();
  }
  if (ok) {
    auto value = assembler.Finish();
    if (value.ok()) CheckRoundTrips(*value, chunk_bytes);
  }
  return 0;
}
