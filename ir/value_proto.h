// Values on the wire: core Values <-> tensorflow_federated.v0.Value (the
// executor protocol of docs/wire-format.md), whole or in chunks
// (fedexec.v1.ValueChunk, proto/fedexec/v1/executor_stream.proto).
//
// Protobuf appears only at a process boundary: executors in one process
// pass core Values by shared reference; these functions run where a value
// leaves or enters a process (the executor service and the remote
// executor).
//
// Mapping:
//   tensor           Array{dtype, shape} and its elements as
//                    ValueToProtoOptions::arrays says: `content` (raw
//                    little-endian bytes, the default) or the dtype's
//                    typed list (int32_list for 8- and 16-bit ints,
//                    float16 and bfloat16 bit patterns in int32 lists,
//                    complex lists interleaved); strings are always a
//                    string_list. Decoding accepts both forms.
//   struct           Value.Struct, names kept ("" for an unnamed element)
//   sequence         Value.Sequence: element_type, then per element the
//                    flat_value list of its tensors in depth-first order
//                    (an element that is a tensor has one flat_value)
//   federated        Value.Federated: type {placement, all_equal, member
//                    type}, then the members (one when all_equal)
//   function         Computation: only through ValueToProtoOptions::
//                    encode_function (a closed IR node); decoding never
//                    yields a function (see ValueFromProto)
// Lazy sequences and lazy members are produced while encoding.
//
// Errors are INVALID_ARGUMENT and name the path of the offending part,
// written as in the kernels' messages ("[1].w", "member 3", "element 2"):
// an unsupported dtype, an Array whose content length does not match its
// dtype and shape, a list of the wrong kind for the dtype, an unknown dim
// in a value's shape, a struct or sequence element that does not match
// element_type, a federated value whose member count does not fit its
// all_equal flag, a computation where a value was expected, nesting deeper
// than kMaxValueDepth. Nothing in a malformed message crashes the decoder.
//
// Thread-safety: the free functions are stateless; a ChunkAssembler is used
// by one thread at a time.
#ifndef FEDEXEC_IR_VALUE_PROTO_H_
#define FEDEXEC_IR_VALUE_PROTO_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/value.h"
#include "fedexec/v1/executor_stream.pb.h"
#include "ir/ast.h"
#include "tensorflow_federated/v0/executor.pb.h"

namespace fedexec::ir {

// Deeper values are refused (keeps decoding iterative-depth safe).
inline constexpr int kMaxValueDepth = 512;

// The default most bytes of array data per chunk.
inline constexpr int64_t kDefaultChunkBytes = int64_t{1} << 20;

// How tensors are written into Array messages. TensorFlow Federated's
// client and worker read only the typed lists (float32_list, int32_list,
// ...); fedexec peers also read the raw `content` bytes, which are cheaper.
enum class ArrayEncoding {
  kContent,     // Array.content: raw little-endian bytes
  kTypedLists,  // the typed list of the dtype (what every reader accepts)
};

// The request metadata entry by which a fedexec client tells a fedexec
// service on the tensorflow_federated.v0 protocol that it reads `content`.
// A request without it (TensorFlow Federated's client) gets typed lists.
inline constexpr char kArrayContentMetadataKey[] = "fedexec-array-content";
inline constexpr char kArrayContentMetadataValue[] = "1";

struct ValueToProtoOptions {
  // How to send a function value: its closed IR node (the remote executor
  // passes exec::Function::ToNode). Unset: a function is an error.
  std::function<absl::StatusOr<NodePtr>(const FunctionValue&)> encode_function;
  // How tensors are written.
  ArrayEncoding arrays = ArrayEncoding::kContent;
};

// Encodes `value` into `out` (cleared first). With ArrayEncoding::
// kTypedLists, a tensor of 2^31 or more list values is RESOURCE_EXHAUSTED
// (as is one of more than 2 GiB in either encoding).
absl::Status ValueToProto(const Value& value,
                          tensorflow_federated::v0::Value* out,
                          const ValueToProtoOptions& options = {});

// Decodes a value without computations; a Computation anywhere in it is
// INVALID_ARGUMENT naming its path (callers that accept computations look
// for them first: see ContainsComputation).
absl::StatusOr<Value> ValueFromProto(
    const tensorflow_federated::v0::Value& proto);

// Whether any part of `proto` is a Computation.
bool ContainsComputation(const tensorflow_federated::v0::Value& proto);

// The bytes ValueToProto would produce for the arrays' contents, without
// encoding (to choose between a unary call and a stream).
int64_t ArrayBytes(const Value& value);

// ---------------------------------------------------------------- chunks

// Calls `sink` with the chunks of `value`: first the header, then data
// chunks of at most `chunk_bytes` (>= 1) each, copied straight from the
// tensors' buffers. Stops at the first error of `sink` and returns it.
// Chunks are fedexec's own extension: their data is always raw bytes, so
// `options.arrays` does not apply to them.
absl::Status ValueToChunks(
    const Value& value, int64_t chunk_bytes,
    const std::function<absl::Status(fedexec::v1::ValueChunk&&)>& sink,
    const ValueToProtoOptions& options = {});

// The same one chunk at a time, for writers with flow control (a gRPC
// stream writes the next chunk when the previous one is sent): Create
// encodes the header at once and keeps the value's tensors (shared, not
// copied); each Next copies the next at most `chunk_bytes` bytes of them.
// Arrays of strings have no raw bytes: they stay whole in the header
// (string_list), and total_bytes counts fixed-size arrays only.
class ValueChunker {
 public:
  // Errors: as ValueToProto; chunk_bytes < 1 is INVALID_ARGUMENT.
  static absl::StatusOr<ValueChunker> Create(
      const Value& value, int64_t chunk_bytes,
      const ValueToProtoOptions& options = {});
  ValueChunker(ValueChunker&&) noexcept;
  ValueChunker& operator=(ValueChunker&&) noexcept;
  ~ValueChunker();

  // The bytes that the data chunks add up to.
  int64_t total_bytes() const;
  // Writes the next chunk into `chunk` (cleared first): the header first,
  // then the data chunks. False, and `chunk` untouched, when all chunks
  // were given.
  bool Next(fedexec::v1::ValueChunk* chunk);

 private:
  struct State;
  explicit ValueChunker(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Rebuilds a value from its chunks, allocating each tensor once (from the
// header) and copying data chunks into place, so memory is the value plus
// one chunk. `max_bytes` bounds the total the header may announce
// (RESOURCE_EXHAUSTED above it). Errors (INVALID_ARGUMENT): data before
// the header, a second header, more or fewer bytes than announced, a
// malformed header (as ValueFromProto).
class ChunkAssembler {
 public:
  explicit ChunkAssembler(int64_t max_bytes = INT64_MAX);
  ~ChunkAssembler();
  ChunkAssembler(const ChunkAssembler&) = delete;
  ChunkAssembler& operator=(const ChunkAssembler&) = delete;

  // After an error, every later Add and Finish returns that error.
  absl::Status Add(const fedexec::v1::ValueChunk& chunk);
  // The value, once every announced byte has arrived. Once only
  // (FAILED_PRECONDITION after that).
  absl::StatusOr<Value> Finish();

  // The header has arrived.
  bool has_header() const;
  // Bytes announced by the header (0 before it) and received so far.
  int64_t total_bytes() const;
  int64_t received_bytes() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace fedexec::ir

#endif  // FEDEXEC_IR_VALUE_PROTO_H_
