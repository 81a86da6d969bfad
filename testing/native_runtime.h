// The native runtime over the process-wide registry, as the runtime list of
// an executor test's LeafExecutor (stacks choose theirs in
// stacks/default_runtimes.h, above the executors). Tests only.
#ifndef FEDEXEC_TESTING_NATIVE_RUNTIME_H_
#define FEDEXEC_TESTING_NATIVE_RUNTIME_H_

#include <memory>
#include <vector>

#include "runtimes/external_runtime.h"
#include "runtimes/native/native_runtime.h"

namespace fedexec::test_util {

inline std::vector<std::shared_ptr<const ExternalRuntime>> NativeRuntimes() {
  return {std::make_shared<native::NativeRuntime>()};
}

}  // namespace fedexec::test_util

#endif  // FEDEXEC_TESTING_NATIVE_RUNTIME_H_
