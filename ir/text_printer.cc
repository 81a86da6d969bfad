#include "ir/text_syntax.h"
// STUB
namespace fedexec::ir {
std::string PrintComputation(const NodePtr& root) { return "STUB\n"; }
std::string PrintTensorLiteral(const Tensor& tensor) { return "STUB"; }
}  // namespace fedexec::ir
