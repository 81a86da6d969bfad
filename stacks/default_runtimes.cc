// DefaultRuntimes: the native runtime.
#include "stacks/default_runtimes.h"

#include "runtimes/native/native_runtime.h"

namespace fedexec::stacks {

std::vector<std::shared_ptr<const ExternalRuntime>> DefaultRuntimes() {
  return {std::make_shared<native::NativeRuntime>()};
}

}  // namespace fedexec::stacks
