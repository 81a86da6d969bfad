// Paths that name a node inside a computation tree in error messages. The
// proto decoder (ir/proto_codec.h) and the type checker (ir/type_checker.h)
// build them the same way, so an error names the same node whichever of them
// reports it.
//
// Format: the root alone is "root"; below it, steps joined by '/', starting
// with the root's child (the "root" prefix is dropped). Steps:
//   "lambda.result"
//   "block.local[I]"   I = index of the local (0-based)
//   "block.result"
//   "call.function", "call.argument"
//   "struct[I]"        I = index of the element (0-based)
//   "selection.source"
// Example: "lambda.result/call.argument/struct[1]".
//
// Thread-safety: stateless functions.
#ifndef FEDEXEC_IR_NODE_PATH_H_
#define FEDEXEC_IR_NODE_PATH_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace fedexec::ir {

// The path of the root node.
inline constexpr absl::string_view kRootPath = "root";

// Step names (use the functions below for indexed steps).
inline constexpr absl::string_view kLambdaResultStep = "lambda.result";
inline constexpr absl::string_view kBlockResultStep = "block.result";
inline constexpr absl::string_view kCallFunctionStep = "call.function";
inline constexpr absl::string_view kCallArgumentStep = "call.argument";
inline constexpr absl::string_view kSelectionSourceStep = "selection.source";

// "block.local[I]" and "struct[I]".
std::string BlockLocalStep(size_t index);
std::string StructElementStep(size_t index);

// The path of a child reached from `parent` by `step`: `step` itself when
// parent is the root path, else parent + "/" + step.
std::string ChildPath(const std::string& parent, absl::string_view step);

// The path of the node reached from the root by `steps` (in order): the
// same string as applying ChildPath step by step. Lets a recursive walker
// keep a stack of steps and build the string only when it reports an error.
std::string JoinPath(const std::vector<std::string>& steps);

// "PATH: message": the form of every error that names a node.
std::string AtPath(const std::string& path, absl::string_view message);

}  // namespace fedexec::ir

#endif  // FEDEXEC_IR_NODE_PATH_H_
