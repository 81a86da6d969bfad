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
#include <optional>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace fedexec {

inline constexpr size_t kLargeStackBytes = size_t{64} << 20;

// Runs `task` to completion on a thread with a kLargeStackBytes stack.
// RESOURCE_EXHAUSTED if the thread cannot be started.
absl::Status RunOnLargeStack(absl::FunctionRef<void()> task);

// Input whose nesting cannot exceed this many levels is parsed inline: a
// recursive-descent parser needs at most a few kilobytes per level even with
// sanitizers, so this stays far below any thread's stack.
inline constexpr size_t kInlineNestingBound = 256;

// Calls `task` (returning absl::StatusOr<T> or absl::Status) inline when the
// input's nesting is bounded by `nesting_bound` <= kInlineNestingBound (for
// example its number of tokens), else on a large stack.
template <typename F>
auto CallWithStackFor(size_t nesting_bound, F&& task) -> decltype(task()) {
  if (nesting_bound <= kInlineNestingBound) return task();
  std::optional<decltype(task())> result;
  absl::Status started = RunOnLargeStack([&] { result.emplace(task()); });
  if (!started.ok()) return started;
  return *std::move(result);
}

}  // namespace fedexec

#endif  // FEDEXEC_CORE_LARGE_STACK_H_
