// A short description of a Value in the type notation of ir/type.h, for
// error messages: "float32[3]", "<a=int32,float32[2]>", "float32*"
// ("<empty>*" for an empty sequence, "<lazy>*" for a lazy one),
// "{float32}@CLIENTS", "float32@SERVER" (all-equal), "<none>" for the empty
// Value(), and a function's own Describe() text. Sequences and federated
// values are described by their first element or member only.
//
// Thread-safety: a pure function of its (immutable) argument; safe from any
// thread.
#ifndef FEDEXEC_CORE_VALUE_DESCRIPTION_H_
#define FEDEXEC_CORE_VALUE_DESCRIPTION_H_

#include <string>

#include "core/value.h"

namespace fedexec {

std::string DescribeValue(const Value& value);

}  // namespace fedexec

#endif  // FEDEXEC_CORE_VALUE_DESCRIPTION_H_
