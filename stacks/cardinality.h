// Cardinality inference: how many clients a call needs, read from its
// argument.
//
// A CLIENTS value that is not all-equal holds one member per client, so its
// length is the number of clients. An all-equal CLIENTS value (one member,
// equal at every client) and SERVER values say nothing about it. Federated
// values do not nest, so the search descends only through structs (and
// stops at federated values, tensors, sequences and functions).
//
// Thread-safety: a stateless function.
#ifndef FEDEXEC_STACKS_CARDINALITY_H_
#define FEDEXEC_STACKS_CARDINALITY_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "core/value.h"

namespace fedexec::stacks {

// The number of clients `argument` implies: the length of every CLIENTS
// value inside it that is not all-equal (the argument itself, or an element
// of nested structs). All of them must agree; otherwise INVALID_ARGUMENT
// naming two that differ by their paths, e.g. "argument [0].x has 3
// clients but [1] has 5" (named elements by name, unnamed ones by index;
// the argument itself is "argument"). std::nullopt when there is none.
absl::StatusOr<std::optional<int64_t>> InferClientCount(const Value& argument);

}  // namespace fedexec::stacks

#endif  // FEDEXEC_STACKS_CARDINALITY_H_
