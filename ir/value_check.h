// Whether a Value is an instance of a (concrete) type: the check the native
// runtime runs on every argument and result, and executors run where a
// value enters a computation (data, federated_value, sequence elements).
//
// Tensors match by dtype and shape (an unknown dim or rank accepts any),
// structs by element count, names (where the type names them) and
// elements, sequences by their elements (a lazy sequence's elements are
// checked by whoever traverses it), federated values by placement,
// all-equality and members. Functions, placements and abstract types have
// no values: nothing matches them.
//
// Thread-safety: a pure function of its (immutable) arguments; safe from
// any thread.
#ifndef FEDEXEC_IR_VALUE_CHECK_H_
#define FEDEXEC_IR_VALUE_CHECK_H_

#include "absl/status/status.h"
#include "core/value.h"
#include "ir/type.h"

namespace fedexec::ir {

// OK, or INVALID_ARGUMENT saying what was found where, e.g. "at [1].b:
// expected float32[3], found float32[4]" (the path: [i] or .name a struct
// element, {i} a sequence element, @i a federated member; none at the top).
// A successful check allocates nothing.
absl::Status CheckValueMatchesType(const Value& value, const Type& type);

}  // namespace fedexec::ir

#endif  // FEDEXEC_IR_VALUE_CHECK_H_
