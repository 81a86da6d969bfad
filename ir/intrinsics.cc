#include "ir/intrinsics.h"
// STUB
namespace fedexec::ir {
bool IsIntrinsic(absl::string_view uri) { return false; }
const std::vector<std::string>& IntrinsicUris() {
  static const auto* uris = new std::vector<std::string>();
  return *uris;
}
absl::StatusOr<Type> InferIntrinsicType(absl::string_view uri,
                                        const Type* argument) {
  return absl::UnimplementedError("InferIntrinsicType");
}
std::string IntrinsicSignature(absl::string_view uri) { return ""; }
}  // namespace fedexec::ir
