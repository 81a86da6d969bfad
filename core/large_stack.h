// Running a deeply recursive task (a parser) on a stack large enough for
// the deepest input fedexec accepts, whatever the caller's own stack is.
//
// Readers of untrusted input bound their nesting (kMaxNestingDepth), but
// recursive-descent code at that depth can need several megabytes of stack
// with sanitizers on; a caller may be a thread with a small stack. Such
// readers hand the deep case to RunOnLargeStack, which runs the task on a
// fresh thread with a 64 MB stack (only the pages touched are committed)
// and waits for it. Shallow input should be handled inline: starting a
// thread costs tens of microseconds.
//
// Thread-safety: safe to call from any thread; `task` runs on another
// thread while the caller blocks, so it may use the caller's locals.
#ifndef FEDEXEC_CORE_LARGE_STACK_H_
#define FEDEXEC_CORE_LARGE_STACK_H_

#include <cstddef>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace fedexec {

inline constexpr size_t kLargeStackBytes = size_t{64} << 20;

// Runs `task` to completion on a thread with a kLargeStackBytes stack.
// RESOURCE_EXHAUSTED if the thread cannot be started.
absl::Status RunOnLargeStack(absl::FunctionRef<void()> task);

}  // namespace fedexec

#endif  // FEDEXEC_CORE_LARGE_STACK_H_
