#include "tools/cli_common.h"

#include <pthread.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <utility>

namespace fedexec::cli {
namespace {

sigset_t Signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

void PrintError(absl::string_view message) {
  std::string line(message);
  for (char& c : line) {
    if (c == '\n') c = ' ';
  }
  std::cerr << "fedexec: " << line << "\n";
}

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      return kExitBadInput;
    case absl::StatusCode::kCancelled:
      return kExitInterrupted;
    default:
      return kExitRuntimeError;
  }
}

void InterruptWatcher::BlockInterrupts() {
  sigset_t set = Signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

InterruptWatcher::InterruptWatcher(std::function<void()> on_interrupt)
    : on_interrupt_(std::move(on_interrupt)), thread_([this] { Watch(); }) {}

InterruptWatcher::~InterruptWatcher() {
  stopping_.store(true);
  pthread_kill(thread_.native_handle(), SIGTERM);
  thread_.join();
}

void InterruptWatcher::Watch() {
  const sigset_t set = Signals();
  while (true) {
    int signal = 0;
    if (!interrupted_.load()) {
      if (sigwait(&set, &signal) != 0) continue;
    } else {
      const timespec period = {0, 50'000'000};
      signal = sigtimedwait(&set, nullptr, &period);
      if (signal < 0) {
        if (!stopping_.load()) on_interrupt_();
        continue;
      }
    }
    if (stopping_.load()) return;
    if (interrupted_.exchange(true)) {
      // A second interrupt: the user does not want to wait.
      constexpr char kMessage[] = "fedexec: interrupted\n";
      [[maybe_unused]] ssize_t n =
          write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
      _exit(kExitInterrupted);
    }
    on_interrupt_();
  }
}

}  // namespace fedexec::cli
