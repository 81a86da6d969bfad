// The native external runtime: serves `native` leaves (ir::NativeNode) by
// binding them to functions of a NativeRegistry (registry.h).
//
// Thread-safety: as ExternalRuntime; the registry must outlive the runtime.
#ifndef FEDEXEC_RUNTIMES_NATIVE_NATIVE_RUNTIME_H_
#define FEDEXEC_RUNTIMES_NATIVE_NATIVE_RUNTIME_H_

#include <memory>
#include <string>

#include "runtimes/external_runtime.h"
#include "runtimes/native/registry.h"

namespace fedexec::native {

class NativeRuntime : public ExternalRuntime {
 public:
  // Uses NativeRegistry::Default().
  NativeRuntime();
  explicit NativeRuntime(const NativeRegistry& registry)
      : registry_(registry) {}

  std::string kind() const override { return "native"; }

  // Binds the leaf's name to its declared type (NativeRegistry::Bind). The
  // resulting function checks arguments and results against that type.
  absl::StatusOr<std::shared_ptr<const LeafFunction>> Compile(
      const ir::Node& leaf) const override;

 private:
  const NativeRegistry& registry_;
};

}  // namespace fedexec::native

#endif  // FEDEXEC_RUNTIMES_NATIVE_NATIVE_RUNTIME_H_
