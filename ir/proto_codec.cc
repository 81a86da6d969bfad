#include "ir/proto_codec.h"
// STUB
namespace fedexec::ir {
absl::StatusOr<federated_language::Computation> ParseComputationProto(
    absl::string_view bytes) {
  return absl::UnimplementedError("ParseComputationProto");
}
absl::StatusOr<federated_language::Computation> ParseComputationTextProto(
    absl::string_view text) {
  return absl::UnimplementedError("ParseComputationTextProto");
}
absl::StatusOr<NodePtr> ComputationFromProto(
    const federated_language::Computation& proto) {
  return absl::UnimplementedError("ComputationFromProto");
}
absl::StatusOr<federated_language::Computation> ComputationToProto(
    const NodePtr& root) {
  return absl::UnimplementedError("ComputationToProto");
}
}  // namespace fedexec::ir
