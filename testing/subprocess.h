// Running the built program as a child process in tests: start it with its
// output in files, wait for it (or for a condition) with a bound, and see
// whether it blocks a signal yet.
//
// The bounds only keep a broken build from hanging a test; nothing here
// asserts on timing.
#ifndef FEDEXEC_TESTING_SUBPROCESS_H_
#define FEDEXEC_TESTING_SUBPROCESS_H_

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "testing/test_files.h"

namespace fedexec::test_util {

// The program under test: $FEDEXEC_BINARY when set (to test an installed
// build), else `built` (the path the build made).
inline std::string ProgramUnderTest(const char* built) {
  const char* binary = std::getenv("FEDEXEC_BINARY");
  return binary != nullptr ? binary : built;
}

struct ProgramRun {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
};

// Runs `program ARGS` (ARGS is shell text, quoted by the caller) through the
// shell in directory `cwd`, its stdout and stderr captured through files in
// `scratch` (removed afterwards).
inline ProgramRun RunProgram(const std::string& program,
                             const std::string& args,
                             const std::filesystem::path& cwd,
                             const std::filesystem::path& scratch) {
  const std::filesystem::path out = scratch / "stdout";
  const std::filesystem::path err = scratch / "stderr";
  const std::string command = "cd '" + cwd.string() + "' && '" + program +
                              "' " + args + " >'" + out.string() + "' 2>'" +
                              err.string() + "'";
  const int status = std::system(command.c_str());
  ProgramRun run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.out = ReadFile(out);
  run.err = ReadFile(err);
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  return run;
}

// Starts argv[0] with arguments argv[1..], its stdout and stderr written to
// the given files ("" for /dev/null). Returns the pid, or -1 if fork fails.
inline pid_t SpawnRedirected(const std::vector<std::string>& argv,
                             const std::string& stdout_path,
                             const std::string& stderr_path) {
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid != 0) return pid;
  auto redirect = [](const std::string& path, int fd) {
    const int f = open(path.empty() ? "/dev/null" : path.c_str(),
                       O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (f >= 0) dup2(f, fd);
  };
  redirect(stdout_path, STDOUT_FILENO);
  redirect(stderr_path, STDERR_FILENO);
  execv(args[0], args.data());
  _exit(127);
}

enum class WaitOutcome { kExited, kReady, kTimedOut };

// Polls every millisecond until child `pid` exits (kExited, *status set),
// `ready` (if set) returns true (kReady), or `timeout_ms` pass (kTimedOut).
inline WaitOutcome PollChild(pid_t pid, int timeout_ms,
                             const std::function<bool()>& ready, int* status) {
  for (int i = 0; i < timeout_ms; ++i) {
    if (ready && ready()) return WaitOutcome::kReady;
    if (waitpid(pid, status, WNOHANG) == pid) return WaitOutcome::kExited;
    usleep(1000);
  }
  return WaitOutcome::kTimedOut;
}

// Kills child `pid` and reaps it.
inline void KillChild(pid_t pid) {
  int status = 0;
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
}

// Whether process `pid` blocks `signal` in its main thread
// (/proc/PID/status, SigBlk: a hex mask, bit signal - 1).
inline bool BlocksSignal(pid_t pid, int signal) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("SigBlk:", 0) == 0) {
      const uint64_t mask = std::stoull(line.substr(7), nullptr, 16);
      return (mask >> (signal - 1)) & 1;
    }
  }
  return false;
}

}  // namespace fedexec::test_util

#endif  // FEDEXEC_TESTING_SUBPROCESS_H_
