// Conversion between the computation AST and federated_language.Computation,
// and decoding of serialized computations (binary and text proto) with the
// project's nesting limit enforced.
//
// Thread-safety: stateless functions.
#ifndef FEDEXEC_IR_PROTO_CODEC_H_
#define FEDEXEC_IR_PROTO_CODEC_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "federated_language/computation.pb.h"
#include "ir/ast.h"

namespace fedexec::ir {

// Decodes the binary wire form. Truncated or garbage bytes, or nesting
// deeper than the limit, give INVALID_ARGUMENT; nothing is logged.
absl::StatusOr<federated_language::Computation> ParseComputationProto(
    absl::string_view bytes);
// Decodes the protobuf text form, with the same limits; the error names the
// line and column.
absl::StatusOr<federated_language::Computation> ParseComputationTextProto(
    absl::string_view text);

// Proto -> AST. Every node keeps the type the proto gives it (if any).
// Rejected with INVALID_ARGUMENT naming the node's path: an unset
// computation, tensorflow and xla leaves ("unsupported leaf kind"), a lambda
// with a parameter whose type is not given, an unknown placement uri, a
// malformed literal, nesting deeper than kMaxNestingDepth.
absl::StatusOr<NodePtr> ComputationFromProto(
    const federated_language::Computation& proto);

// AST -> proto. REQUIRES a tree in which every node has a type and every
// selection an index (the type checker's output); otherwise
// INVALID_ARGUMENT. Literals are written in the canonical form (typed list,
// shape always present).
absl::StatusOr<federated_language::Computation> ComputationToProto(
    const NodePtr& root);

}  // namespace fedexec::ir

#endif  // FEDEXEC_IR_PROTO_CODEC_H_
