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

// Decodes the binary wire form. Truncated or garbage bytes, a known field
// with the wrong wire type, invalid UTF-8 in a string field, or messages
// nested more than kMaxProtoRecursion deep give INVALID_ARGUMENT
// "malformed Computation proto: REASON (at byte N)"; nothing is logged.
// Unknown field numbers are skipped (a newer writer may add fields). The
// result can be up to kMaxProtoRecursion messages deep; its (recursive)
// destructor needs well under 1 MB of stack for that (about 4 MB in an
// unoptimized sanitizer build).
absl::StatusOr<federated_language::Computation> ParseComputationProto(
    absl::string_view bytes);
// Decodes the protobuf text form with the same limits (the parse runs on a
// thread with a 64 MB stack: protobuf's text parser needs about 10 MB at the
// limit). Errors: "malformed Computation text proto: LINE:COL: message"
// (1-based) for syntax, unknown names and nesting ("Message is too deep");
// "malformed Computation text proto: invalid UTF-8 in string field F".
// RESOURCE_EXHAUSTED if the parser thread cannot be started.
absl::StatusOr<federated_language::Computation> ParseComputationTextProto(
    absl::string_view text);

// Proto -> AST. Every node keeps the type the proto gives it (if any).
// Rejected with INVALID_ARGUMENT "PATH: reason", PATH as in ir/node_path.h:
// an unset computation ("computation has no kind"), tensorflow and xla
// leaves ("unsupported leaf kind 'xla' (...)"), a lambda whose type is not a
// function, a lambda with a parameter name without a function type taking a
// parameter (or the reverse), empty reference/local/intrinsic/native names,
// duplicate struct element names, a negative selection index, an unknown
// placement uri, data with neither uri nor content (or content without
// type_url), a native leaf without a function type, a malformed literal
// ("PATH: literal: " + the tensor decoder's error), a malformed type
// ("PATH: type: " + the type decoder's error), and nesting deeper than
// kMaxNestingDepth ("PATH: nesting deeper than 1000 levels"). Recurses once
// per level, under 1 KB of stack each.
absl::StatusOr<NodePtr> ComputationFromProto(
    const federated_language::Computation& proto);

// AST -> proto. REQUIRES a tree in which every node has a type and every
// selection an index (the type checker's output); otherwise
// INVALID_ARGUMENT "PATH: node has no type; run the type checker first" (or
// "PATH: selection of 'a' has no index; ..."). Null children, an invalid
// literal tensor, data without uri or content and trees deeper than
// kMaxNestingDepth are also INVALID_ARGUMENT. Literals are written in the
// canonical form (typed list, shape always present). The message has no
// maps, so its serialization is deterministic.
absl::StatusOr<federated_language::Computation> ComputationToProto(
    const NodePtr& root);

}  // namespace fedexec::ir

#endif  // FEDEXEC_IR_PROTO_CODEC_H_
