#include "ir/type_checker.h"
// STUB
namespace fedexec::ir {
absl::StatusOr<NodePtr> CheckComputation(const NodePtr& root) {
  return absl::UnimplementedError("CheckComputation");
}
}  // namespace fedexec::ir
