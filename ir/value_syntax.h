// fedexec's text syntax for values: the arguments and results of a
// computation as people type and read them (`fedexec run f.fed --arg ...`).
// docs/syntax.md ("Values") is the full description:
//
//   3   1.5   true   "s"   [[1, 2], [3, 4]]   int64([1, 2])   float32[0]([])
//   <a=1, b=[2.0, 3.0]>        a struct (names optional, unique)
//   seq[1, 2, 3]   seq[]       a sequence
//   0.5@SERVER                 a value at the server
//   1@CLIENTS                  one value, equal at every client
//   {1, 2, 3}@CLIENTS          one value per client ({}@CLIENTS: no client)
//   @weights.npy               a tensor read from a .npy file
//   @"my dir/w.npy"@SERVER     quoted path, placed at the server
//
// Tensor literals are exactly those of the computation syntax (the same
// parser, ParseTensorLiteralAt; printed by PrintTensorLiteral).
//
// PrintValue is canonical: ParseValue(PrintValue(v)) equals v bit for bit
// and PrintValue(ParseValue(PrintValue(v))) == PrintValue(v), for every
// well-formed value (see ValueTypeOf) of valid tensors.
//
// Thread-safety: stateless functions (files are read with ReadNpyFile).
#ifndef FEDEXEC_IR_VALUE_SYNTAX_H_
#define FEDEXEC_IR_VALUE_SYNTAX_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/value.h"
#include "ir/type.h"

namespace fedexec::ir {

struct ValueSyntaxOptions {
  // The directory relative `@path`s are read from; empty: the current one.
  std::string base_dir;
  // Whether `@path` may read files at all (false: the error "file
  // references (@path) are not allowed here"), for text from untrusted
  // sources.
  bool allow_files = true;
};

// Parses one value. Syntax errors are INVALID_ARGUMENT "LINE:COL: ...".
// Errors of a file reference are "LINE:COL: " and ReadNpyFile's message,
// which names the path, with its code (NOT_FOUND for a missing file). The
// value obeys the rules of types (CheckWellFormed): no federated value
// inside a federated value, no sequence or federated value inside a
// sequence. Nesting deeper than kMaxNestingDepth is an error.
absl::StatusOr<Value> ParseValue(absl::string_view text,
                                 const ValueSyntaxOptions& options = {});

// Parses one value of type `expected`, which guides the literals: `2` for
// float32 gives float32 2.0 (the conversions of TensorLiteralOptions:
// integers to any numeric dtype when exact, floats to floating and complex
// dtypes). Structure must match: struct element count and names (an
// unnamed expected element accepts a named one), sequence, placement, and
// all-equal (`v@CLIENTS`) against per-client (`{...}@CLIENTS`). Unknown
// dims and unknown rank accept any size; an abstract type accepts any
// value. A mismatch is "LINE:COL: expected float32[3], found int32[2]".
absl::StatusOr<Value> ParseValueAs(absl::string_view text, const Type& expected,
                                   const ValueSyntaxOptions& options = {});

// The canonical text of a value, on one line except for tensor literals
// long enough for PrintTensorLiteral to break. Linear in the size of the
// value; no recursion. Parts that have no text (a default tensor, an
// all-equal federated value without exactly one member) print as
// `invalid`, which does not parse.
std::string PrintValue(const Value& value);

// The type of a value: tensors their dtype and shape; structs with their
// names; `v@P` is all-equal, `{...}@P` not. The type of a sequence's
// elements, and of the members of a per-client value, is the most specific
// type all of them have: dims that differ become unknown (`float32[?]`),
// and so does the rank when ranks differ; any other difference is an
// error. INVALID_ARGUMENT too for what has no type: an empty sequence
// (`seq[]`), a per-client value without clients (`{}@CLIENTS`), a default
// tensor, an all-equal value without exactly one member. Callers that know
// the type (a computation's parameter) use ParseValueAs instead.
absl::StatusOr<Type> ValueTypeOf(const Value& value);

// `value` as its declared `type` says it leaves fedexec: executors may
// hold a value whose type is per-client ({T}@CLIENTS) as one all-equal
// member (federated_zip of broadcast values, say), which is the same value
// inside fedexec but not to a reader that counts members. Each federated
// part whose type is not all-equal but whose value is becomes
// `num_clients` copies of its member at CLIENTS (one at SERVER), not
// all-equal; structs are walked element by element. Members are shared,
// not copied. Parts whose type is abstract, or does not match the value's
// shape, are kept as they are. Linear in the size of the type.
Value ExpandAllEqual(const Value& value, const Type& type, int64_t num_clients);

}  // namespace fedexec::ir

#endif  // FEDEXEC_IR_VALUE_SYNTAX_H_
