// The intrinsics fedexec knows: one identity (Intrinsic) per intrinsic,
// with its uri, family and type signature in one table row.
//
// Executors switch over Intrinsic (no default case), so that an intrinsic
// added here and not handled by an executor that claims its family does
// not compile (-Wswitch). Uris are strings only where a computation is
// read or written.
//
// Thread-safety: the table is immutable after static initialisation.
#ifndef FEDEXEC_IR_INTRINSICS_H_
#define FEDEXEC_IR_INTRINSICS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ir/type.h"

namespace fedexec::ir {

// Every intrinsic, in the order of the table in intrinsics.cc.
enum class Intrinsic {
  kFederatedAggregate,
  kFederatedApply,
  kFederatedBroadcast,
  kFederatedEvalAtClients,
  kFederatedEvalAtServer,
  kFederatedMap,
  kFederatedMapAllEqual,
  kFederatedMean,
  kFederatedWeightedMean,
  kFederatedMin,
  kFederatedMax,
  kFederatedSum,
  kFederatedSecureSum,
  kFederatedSecureSumBitwidth,
  kFederatedSecureModularSum,
  kFederatedSelect,
  kFederatedSecureSelect,
  kFederatedValueAtClients,
  kFederatedValueAtServer,
  kFederatedZipAtClients,
  kFederatedZipAtServer,
  kGenericPlus,
  kGenericMultiply,
  kGenericDivide,
  kGenericZero,
  kSequenceMap,
  kSequenceReduce,
  kSequenceSum,
};

// Which executor implements an intrinsic: federated_* and generic_* the
// federating executor, sequence_* the sequence executor.
enum class IntrinsicFamily { kFederated, kGeneric, kSequence };

// The intrinsic named `uri`, or nullopt for an unknown uri.
std::optional<Intrinsic> FindIntrinsic(absl::string_view uri);
// The uri of `intrinsic` ("federated_sum").
absl::string_view IntrinsicUri(Intrinsic intrinsic);
IntrinsicFamily FamilyOf(Intrinsic intrinsic);

// Whether `uri` names a known intrinsic.
bool IsIntrinsic(absl::string_view uri);
// Every known intrinsic uri, sorted.
const std::vector<std::string>& IntrinsicUris();

// The concrete function type of intrinsic `uri` applied to an argument of
// type `argument` (nullptr: no argument), or INVALID_ARGUMENT saying what
// the intrinsic expects and what it found. For example federated_sum with
// {float32[3]}@CLIENTS gives ({float32[3]}@CLIENTS -> float32[3]@SERVER).
absl::StatusOr<Type> InferIntrinsicType(absl::string_view uri,
                                        const Type* argument);

// The declared signature in the notation of ir/type.h with abstract types,
// for help texts and error messages: "({T}@CLIENTS -> T@SERVER)".
// "" for an unknown uri. generic_zero, which is a value and not a function,
// has the signature "T".
std::string IntrinsicSignature(absl::string_view uri);

// generic_zero has no argument to infer from, so its type is always
// declared: OK when it is numeric tensors (or structs of them), possibly as
// one federated value; else INVALID_ARGUMENT saying what was found.
absl::Status CheckGenericZeroType(const Type& type);

}  // namespace fedexec::ir

#endif  // FEDEXEC_IR_INTRINSICS_H_
