// Reading computations from files in any of the three forms fedexec
// understands: the text syntax (.fed), the binary proto (.pb) and the proto
// text form (.textproto), and writing them back in each form.
//
// Thread-safety: stateless functions.
#ifndef FEDEXEC_IR_COMPUTATION_FILE_H_
#define FEDEXEC_IR_COMPUTATION_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ir/ast.h"

namespace fedexec::ir {

enum class ComputationFormat { kText, kBinaryProto, kTextProto };

// The format a file name's extension names: .fed, .pb or .textproto
// (INVALID_ARGUMENT for any other).
absl::StatusOr<ComputationFormat> FormatFromPath(absl::string_view path);
// "fed", "pb", "textproto" <-> format.
absl::StatusOr<ComputationFormat> FormatFromName(absl::string_view name);

// Parses `contents` in the given format into an AST (not yet type checked).
absl::StatusOr<NodePtr> ParseComputationAs(absl::string_view contents,
                                           ComputationFormat format);

// Reads and parses a file; errors are prefixed with the path. A file that
// cannot be read is INVALID_ARGUMENT (bad input), naming the reason.
absl::StatusOr<NodePtr> LoadComputation(const std::string& path);

// Reads, parses and type checks a file.
absl::StatusOr<NodePtr> LoadCheckedComputation(const std::string& path);

// Serializes a type-checked computation in `format` (canonical text, binary
// proto, or proto text).
absl::StatusOr<std::string> SerializeComputation(const NodePtr& checked,
                                                 ComputationFormat format);

}  // namespace fedexec::ir

#endif  // FEDEXEC_IR_COMPUTATION_FILE_H_
