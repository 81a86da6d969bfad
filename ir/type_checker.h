// The type checker: infers and checks the type of every node of a
// computation.
//
// Thread-safety: stateless functions.
#ifndef FEDEXEC_IR_TYPE_CHECKER_H_
#define FEDEXEC_IR_TYPE_CHECKER_H_

#include "absl/status/statusor.h"
#include "ir/ast.h"

namespace fedexec::ir {

// Returns a new tree in which every node has its type and every selection
// by name has its index. A type a node already carries (from a proto or an
// ascription) must agree with the inferred one. An error is INVALID_ARGUMENT
// naming the node's path from the root (e.g.
// "lambda.result/call.argument/struct[1]"), its text location when known,
// and the expected and found types. Nesting deeper than kMaxNestingDepth is
// an error.
absl::StatusOr<NodePtr> CheckComputation(const NodePtr& root);

}  // namespace fedexec::ir

#endif  // FEDEXEC_IR_TYPE_CHECKER_H_
