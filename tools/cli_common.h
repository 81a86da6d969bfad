// What the sub-commands of the `fedexec` program share: exit codes, the
// one-line error report, and the Ctrl-C / SIGTERM watcher that turns an
// interrupt into cancellation.
//
// Thread-safety: PrintError and ExitCodeFor are stateless; an
// InterruptWatcher is owned by one thread (its callback runs on the
// watcher's own thread).
#ifndef FEDEXEC_TOOLS_CLI_COMMON_H_
#define FEDEXEC_TOOLS_CLI_COMMON_H_

#include <signal.h>

#include <atomic>
#include <functional>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fedexec::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeError = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitInterrupted = 130;

// "fedexec: <message>" on stderr, on one line (newlines become blanks), so
// that scripts can grep errors.
void PrintError(absl::string_view message);

// 2 for bad input (INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE,
// FAILED_PRECONDITION), 130 for CANCELLED, else 1.
int ExitCodeFor(const absl::Status& status);

// Ctrl-C (SIGINT) and SIGTERM while work runs: the first one calls
// on_interrupt (which cancels the work; the program then exits with 130),
// and calls it again every 50 ms until the watcher stops, so that work that
// had not started when the signal came is cancelled too; a second signal
// exits at once. The signals must be blocked in every thread before any
// thread starts (BlockInterrupts), so that only the watcher's sigwait
// receives them.
class InterruptWatcher {
 public:
  // Blocks SIGINT and SIGTERM in the calling thread; threads created later
  // inherit the mask.
  static void BlockInterrupts();

  explicit InterruptWatcher(std::function<void()> on_interrupt);
  // Stops the watcher: wakes its sigwait with a signal aimed at its thread
  // alone, then joins it.
  ~InterruptWatcher();

  bool interrupted() const { return interrupted_.load(); }

 private:
  void Watch();

  std::function<void()> on_interrupt_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> interrupted_{false};
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace fedexec::cli

#endif  // FEDEXEC_TOOLS_CLI_COMMON_H_
