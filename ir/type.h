// The type system of federated computations: tensor, struct, sequence,
// function, federated, placement and abstract types.
//
// Text notation (printed by ToString, read by ParseType):
//   float32             a scalar          int32[?,3]   unknown first dim
//   float32[10]         a vector          float32[*]   unknown rank
//   <a=int32,b=float32[?]>  a struct with names; <int32,float32> without
//   float32*            a sequence of float32
//   (int32 -> float32)  a function;  ( -> float32) one without parameter
//   {float32}@CLIENTS   one float32 per client
//   float32@CLIENTS     one float32 equal at every client (all-equal)
//   float32@SERVER      a value at the server (always all-equal);
//   {float32}@SERVER    the rare server value that is not marked all-equal
//   placement           the type of a placement literal
//   T, U, Acc           abstract types (intrinsic signatures only)
//
// Details of the notation:
// - Dims are non-negative integers or `?`; `[*]` alone is unknown rank; a
//   scalar has no brackets (`float32[]` is an error).
// - Postfix `*` and `@P` apply left to right to the preceding primary:
//   `float32*@CLIENTS` is a sequence placed at the clients. A federated
//   type is never followed by a postfix: write `(float32@SERVER)*` and
//   `(float32@CLIENTS)@SERVER` (both ill-formed but representable).
//   Parentheses group; `{M}@P` needs its `@P`.
// - Any identifier other than a dtype name and `placement` is an abstract
//   type, but an abstract type takes no dims: `float33[2]` is an error.
// - Struct names and abstract labels that are not plain identifiers (or
//   labels spelled like a dtype or `placement`) print backquoted:
//   <`a b`=int32>, `float32`.
// - Printing is canonical: no blanks except " -> " in functions.
//   ParseType(t.ToString()) == t for every type whose dtypes are valid,
//   dims >= -1 and abstract labels non-empty, up to kMaxNestingDepth levels.
//
// Thread-safety: a Type is immutable and cheap to copy (a shared pointer);
// safe to share between threads.
#ifndef FEDEXEC_IR_TYPE_H_
#define FEDEXEC_IR_TYPE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/dtype.h"
#include "core/placement.h"

namespace federated_language {
class Type;
}

namespace fedexec::ir {

class TokenCursor;

enum class TypeKind {
  kTensor,
  kStruct,
  kSequence,
  kFunction,
  kFederated,
  kPlacement,
  kAbstract
};

// A dimension of unknown size.
inline constexpr int64_t kUnknownDim = -1;

class Type;

struct StructElementType;

class Type {
 public:
  // A float32 scalar; prefer the named constructors. A moved-from Type may
  // only be assigned to or destroyed.
  Type();

  static Type Tensor(DType dtype, std::vector<int64_t> dims = {});
  static Type TensorUnknownRank(DType dtype);
  static Type Struct(std::vector<StructElementType> elements);
  static Type Sequence(Type element);
  static Type Function(std::optional<Type> parameter, Type result);
  static Type Federated(Type member, Placement placement, bool all_equal);
  static Type PlacementType();
  static Type Abstract(std::string label);

  TypeKind kind() const;

  // Tensor. REQUIRES: kind() == kTensor.
  DType dtype() const;
  const std::vector<int64_t>& dims() const;
  bool unknown_rank() const;
  // Struct.
  const std::vector<StructElementType>& elements() const;
  // Sequence element.
  const Type& element() const;
  // Function: parameter() is nullptr when the function takes none.
  const Type* parameter() const;
  const Type& result() const;
  // Federated.
  const Type& member() const;
  Placement placement() const;
  bool all_equal() const;
  // Abstract.
  const std::string& label() const;

  // 1 for a leaf type, 1 + the deepest child otherwise. Computed once.
  int depth() const;

  // The text notation above.
  std::string ToString() const;

  // Structural equality (names included).
  friend bool operator==(const Type& a, const Type& b);
  friend bool operator!=(const Type& a, const Type& b) { return !(a == b); }
  friend bool ContainsAbstract(const Type& type);  // O(1): cached

  // Node layout and lifetime are private to type.cc; the destructor of a
  // node is iterative, so a type of any depth is freed in constant stack.

  struct Node;

 private:
  explicit Type(std::shared_ptr<const Node> node) : node_(std::move(node)) {}
  std::shared_ptr<const Node> node_;
};

struct StructElementType {
  std::string name;  // empty when unnamed
  Type type;
};

// Whether a value of type `source` may be used where `target` is expected:
// equal types; unknown dims (or unknown rank) in target accept known ones;
// an all-equal CLIENTS value is assignable to a per-client one; struct
// elements pairwise, their names agreeing where both sides name the element
// (an unnamed element is assignable to a named one and the other way
// round: federated_language calls a function with named parameters through
// an unnamed argument, as in the accumulate and merge of an aggregate);
// functions contravariant in the parameter, covariant in the result.
bool IsAssignableFrom(const Type& target, const Type& source);

// The names of two struct elements agree: equal, or either one empty.
bool NamesAgree(const std::string& a, const std::string& b);

// Checks the rules every type obeys: no federated type inside a federated
// member; sequence elements contain no sequence, federated or function type;
// dtype is valid; dims are -1 or >= 0; struct names are unique; abstract
// labels are non-empty; nesting at most kMaxNestingDepth. The message names
// the offending type, e.g. "federated type {float32@SERVER}@CLIENTS has a
// federated member".
absl::Status CheckWellFormed(const Type& type);

// Parses the text notation; the error names the line and column. Types are
// not checked for well-formedness (use CheckWellFormed); nesting deeper than
// kMaxNestingDepth and trailing input are errors.
absl::StatusOr<Type> ParseType(absl::string_view text);
// Parses one type at the cursor and leaves it after the type: for parsers
// that embed types (the computation syntax).
absl::StatusOr<Type> ParseTypeAt(TokenCursor& cursor);

// Proto conversion. Decoding checks well-formedness and depth; a federated
// placement may be given by uri (value) or by label ("server"/"clients");
// TypeToProto writes the uri. Errors name the path inside the message, e.g.
// "type.struct.element[1].value: no type kind set"; well-formedness errors
// are "type: " and the CheckWellFormed message. TypeToProto works at any
// depth.
absl::StatusOr<Type> TypeFromProto(const federated_language::Type& proto);
void TypeToProto(const Type& type, federated_language::Type* proto);

// Abstract type bindings produced by unification, by label.
using TypeBindings = absl::flat_hash_map<std::string, Type>;

// Unifies `pattern` (which may contain abstract types) with `actual`: binds
// every abstract label so that Substitute(pattern) is assignable from
// `actual`. A label bound twice must bind assignable types (the more general
// one is kept). The error says what was expected and what was found.
absl::Status Unify(const Type& pattern, const Type& actual,
                   TypeBindings* bindings);
// Replaces bound abstract types in `pattern`; unbound ones stay abstract.
Type Substitute(const Type& pattern, const TypeBindings& bindings);
// Whether the type contains an abstract type anywhere.
bool ContainsAbstract(const Type& type);

}  // namespace fedexec::ir

#endif  // FEDEXEC_IR_TYPE_H_
