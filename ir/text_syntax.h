// fedexec's text syntax for computations (`.fed` files), for people who
// write computations by hand. docs/syntax.md is the full description.
//
//   # FedAvg-shaped round: broadcast, local work, weighted mean.
//   (state: <w=float32[10], n=int32>@SERVER) ->
//     let
//       w = federated_broadcast(state.w),
//       ...
//     in federated_weighted_mean(updates, weights)
//
// PrintComputation gives the canonical text: ParseComputation(Print(x)) is
// the same tree, and printing is a fixed point: Print(Parse(Print(x))) ==
// Print(x). Comments are kept.
//
// Thread-safety: stateless functions.
#ifndef FEDEXEC_IR_TEXT_SYNTAX_H_
#define FEDEXEC_IR_TEXT_SYNTAX_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ir/ast.h"
#include "ir/lexer.h"
#include "ir/type.h"

namespace fedexec::ir {

// Parses one computation. Identifiers resolve at parse time: a bound name
// (lambda parameter or block local, innermost first) is a reference, else a
// known intrinsic name is an intrinsic, else an "unknown reference" error.
// Errors are INVALID_ARGUMENT and start with "LINE:COLUMN: ". Nesting deeper
// than kMaxNestingDepth is an error, not a stack overflow.
absl::StatusOr<NodePtr> ParseComputation(absl::string_view text);

// The canonical text of a computation (ends with a newline). Types the
// checker inferred are not printed, except where the syntax needs them
// (lambda parameters, native leaves, intrinsics outside call position).
std::string PrintComputation(const NodePtr& root);

// How ParseTensorLiteralAt reads a literal.
struct TensorLiteralOptions {
  // Nesting levels the caller has already used: the literal's lists count
  // on from there toward kMaxNestingDepth.
  int depth = 0;
  // When set, the type the literal must have (unknown dims and unknown rank
  // accept any size). A literal written without a dtype takes the expected
  // one when its values allow: integers for any numeric dtype if exactly
  // representable, floats for floating and complex dtypes (a real number is
  // a complex number with a zero imaginary part), bools and strings only
  // for their own dtype; `[]` takes the expected dims when they are all
  // known and hold no element. A literal with its own dtype must name the
  // expected one. A mismatch is "LINE:COL: expected float32[3], found
  // int32[2]" (found: the literal's type as written). A non-tensor expected
  // type is a mismatch with "a tensor".
  std::optional<Type> expected;
};

// Parses one tensor literal (the "Tensor literals" of docs/syntax.md) at the
// cursor and leaves the cursor after it. The computation syntax reads its
// literals with it; so does the value syntax (ir/value_syntax.h). Errors as
// ParseComputation's. Comments inside the literal are skipped.
absl::StatusOr<Tensor> ParseTensorLiteralAt(
    TokenCursor& cursor, const TensorLiteralOptions& options = {});

// Prints a tensor as a literal of the text syntax: 1.5, 3, true, "s",
// [[1, 2], [3, 4]] with default dtypes (float32, int32), else with the dtype:
// int64([1, 2]), float32[0,3]([]).
std::string PrintTensorLiteral(const Tensor& tensor);

// Whether `word` is reserved in the text syntax (let, in, true, false, nan,
// inf, SERVER, CLIENTS, native, data, torchscript, placement and every dtype
// name): it cannot be bound, and names spelled like it are printed in
// backquotes.
bool IsReservedWord(absl::string_view word);

}  // namespace fedexec::ir

#endif  // FEDEXEC_IR_TEXT_SYNTAX_H_
