#include "ir/text_syntax.h"
// STUB
namespace fedexec::ir {
absl::StatusOr<NodePtr> ParseComputation(absl::string_view text) {
  return absl::UnimplementedError("ParseComputation");
}
}  // namespace fedexec::ir
