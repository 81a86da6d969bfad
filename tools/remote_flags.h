// The flags that send a computation to workers instead of running it
// in-process, shared by `fedexec run` and `fedexec demo`:
//
//   --workers host:port,host:port,...   the workers (fedexec worker)
//   --workers-file FILE                 or a file listing them, one per line
//                                       ("host:port [capacity]")
//   --token-file FILE                   the bearer token the workers expect
//   --tls                               TLS with the system's root certificates
//   --tls-root-cert FILE                TLS, verifying workers with this CA
//   --tls-client-cert FILE --tls-client-key FILE
//                                       a client certificate, for workers
//                                       that require one
//   --worker-timeout SECONDS            deadline of each remote call that
//                                       creates or disposes of values, and of
//                                       reaching the workers at start
//
// Thread-safety: used by one thread (the command line's).
#ifndef FEDEXEC_TOOLS_REMOTE_FLAGS_H_
#define FEDEXEC_TOOLS_REMOTE_FLAGS_H_

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "stacks/executor_factory.h"

namespace fedexec::cli {

class RemoteFlags {
 public:
  // Adds the flags to `command`.
  void AddTo(CLI::App* command);

  // Whether --workers or --workers-file was given.
  bool enabled() const { return !workers_.empty() || !workers_file_.empty(); }

  // A factory of remote stacks over the workers, whose server-side work
  // runs on `threads` threads (0: one per hardware thread). Errors name the
  // flag at fault (INVALID_ARGUMENT), or the workers that do not answer
  // (UNAVAILABLE).
  absl::StatusOr<std::unique_ptr<stacks::ExecutorFactory>> MakeFactory(
      int threads) const;

 private:
  std::string workers_;
  std::string workers_file_;
  std::string token_file_;
  bool tls_ = false;
  std::string tls_root_cert_;
  std::string tls_client_cert_;
  std::string tls_client_key_;
  double timeout_seconds_ = 60;
};

}  // namespace fedexec::cli

#endif  // FEDEXEC_TOOLS_REMOTE_FLAGS_H_
