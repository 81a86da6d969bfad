// The external runtimes every stack that fedexec assembles hands its leaves
// to (runtimes/external_runtime.h): today the native runtime over the
// process-wide registry (runtimes/native/registry.h). This is the one place
// that chooses them: executors see runtimes only through the interface, and
// a new runtime is added here, next to the native one.
//
// Thread-safety: safe from any thread; the runtimes returned are shared and
// themselves thread-safe.
#ifndef FEDEXEC_STACKS_DEFAULT_RUNTIMES_H_
#define FEDEXEC_STACKS_DEFAULT_RUNTIMES_H_

#include <memory>
#include <vector>

#include "runtimes/external_runtime.h"

namespace fedexec::stacks {

// One runtime per leaf kind, for exec::LeafExecutor.
std::vector<std::shared_ptr<const ExternalRuntime>> DefaultRuntimes();

}  // namespace fedexec::stacks

#endif  // FEDEXEC_STACKS_DEFAULT_RUNTIMES_H_
