#include "ir/intrinsics.h"

#include <algorithm>

// STUB for InferIntrinsicType and IntrinsicSignature: the type-checker work
// replaces them. The uri list is final.
namespace fedexec::ir {

const std::vector<std::string>& IntrinsicUris() {
  static const auto* uris = [] {
    auto* v = new std::vector<std::string>{
        "federated_aggregate",      "federated_apply",
        "federated_broadcast",      "federated_eval_at_clients",
        "federated_eval_at_server", "federated_map",
        "federated_map_all_equal",  "federated_mean",
        "federated_weighted_mean",  "federated_min",
        "federated_max",            "federated_sum",
        "federated_secure_sum",     "federated_secure_sum_bitwidth",
        "federated_select",         "federated_secure_select",
        "federated_value_at_clients", "federated_value_at_server",
        "federated_zip_at_clients", "federated_zip_at_server",
        "generic_plus",             "generic_multiply",
        "generic_divide",           "generic_zero",
        "sequence_map",             "sequence_reduce",
        "sequence_sum",
    };
    std::sort(v->begin(), v->end());
    return v;
  }();
  return *uris;
}

bool IsIntrinsic(absl::string_view uri) {
  const auto& uris = IntrinsicUris();
  return std::binary_search(uris.begin(), uris.end(), uri);
}

absl::StatusOr<Type> InferIntrinsicType(absl::string_view uri,
                                        const Type* argument) {
  return absl::UnimplementedError("InferIntrinsicType");
}
std::string IntrinsicSignature(absl::string_view uri) { return ""; }
}  // namespace fedexec::ir
