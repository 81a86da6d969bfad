// NativeRuntime: native leaves bound through the registry.
#include "runtimes/native/native_runtime.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace fedexec::native {
namespace {

class NativeLeafFunction : public LeafFunction {
 public:
  explicit NativeLeafFunction(BoundFunction bound) : bound_(std::move(bound)) {}
  const ir::Type& type() const override { return bound_.declared_type(); }
  absl::StatusOr<Value> Call(const Value& argument) const override {
    return bound_.Call(argument);
  }

 private:
  BoundFunction bound_;
};

}  // namespace

NativeRuntime::NativeRuntime() : registry_(NativeRegistry::Default()) {}

absl::StatusOr<std::shared_ptr<const LeafFunction>> NativeRuntime::Compile(
    const ir::Node& leaf) const {
  if (!leaf.Is<ir::NativeNode>()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the native runtime cannot run a ",
                     ir::NodeKindName(leaf.kind()), " leaf"));
  }
  if (!leaf.type().has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("native leaf '", leaf.As<ir::NativeNode>().name,
                     "' has no declared type"));
  }
  FEDEXEC_ASSIGN_OR_RETURN(
      BoundFunction bound,
      registry_.Bind(leaf.As<ir::NativeNode>().name, *leaf.type()));
  return std::make_shared<const NativeLeafFunction>(std::move(bound));
}

}  // namespace fedexec::native
