// The one list of native functions (runtimes/native/registry.h) that the
// fedexec program offers to computations beyond the built-in kernels: the
// demos' model and analytics functions, so that a computation that `fedexec
// demo` writes runs under `fedexec run` and on a `fedexec worker` alike. A
// new native function that the program should serve is added here.
//
// Thread-safety: call from the main thread before execution starts (the
// registry itself is thread-safe; the first call registers, later calls
// find the functions there and return OK).
#ifndef FEDEXEC_TOOLS_NATIVE_FUNCTIONS_H_
#define FEDEXEC_TOOLS_NATIVE_FUNCTIONS_H_

#include "absl/status/status.h"

namespace fedexec::cli {

// Registers the list into native::NativeRegistry::Default(), skipping
// groups already there. Returns the first registration error.
absl::Status RegisterNativeFunctions();

}  // namespace fedexec::cli

#endif  // FEDEXEC_TOOLS_NATIVE_FUNCTIONS_H_
