// RemoteFlags (tools/remote_flags.h).
#include "tools/remote_flags.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/status.h"
#include "net/grpc_channel.h"
#include "stacks/remote_stack.h"

namespace fedexec::cli {

void RemoteFlags::AddTo(CLI::App* command) {
  command->add_option("--workers", workers_,
                      "Run on these workers (host:port,host:port,...; see "
                      "fedexec worker) instead of in this process");
  command->add_option("--workers-file", workers_file_,
                      "Run on the workers listed in this file, one per line: "
                      "host:port [capacity]");
  command->add_option("--token-file", token_file_,
                      "The bearer token the workers expect (a file)");
  command->add_flag("--tls", tls_,
                    "Reach the workers over TLS (system root certificates)");
  command->add_option("--tls-root-cert", tls_root_cert_,
                      "Reach the workers over TLS, verifying them with this "
                      "CA certificate (PEM)");
  command->add_option("--tls-client-cert", tls_client_cert_,
                      "Client certificate (PEM) for workers that require one");
  command->add_option("--tls-client-key", tls_client_key_,
                      "The client certificate's private key (PEM)");
  command
      ->add_option("--worker-timeout", timeout_seconds_,
                   "Seconds each remote call that creates or disposes of "
                   "values may take, and to reach the workers at start")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

absl::StatusOr<std::unique_ptr<stacks::ExecutorFactory>>
RemoteFlags::MakeFactory(int threads) const {
  if (!workers_.empty() && !workers_file_.empty()) {
    return absl::InvalidArgumentError(
        "give --workers or --workers-file, not both");
  }
  absl::StatusOr<std::vector<stacks::WorkerSpec>> workers =
      workers_.empty() ? stacks::ReadWorkerFile(workers_file_)
                       : stacks::ParseWorkerList(workers_);
  if (!workers.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(workers_.empty() ? "--workers-file: " : "--workers: ",
                     workers.status().message()));
  }
  stacks::RemoteStackOptions options;
  options.threads = threads;
  if (!token_file_.empty()) {
    absl::StatusOr<std::string> token = ReadTokenFile(token_file_);
    if (!token.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token-file: ", token.status().message()));
    }
    options.remote.token = *std::move(token);
  }
  options.channel.tls = tls_ || !tls_root_cert_.empty() ||
                        !tls_client_cert_.empty() || !tls_client_key_.empty();
  options.channel.tls_root_cert_file = tls_root_cert_;
  options.channel.tls_client_cert_file = tls_client_cert_;
  options.channel.tls_client_key_file = tls_client_key_;
  options.remote.call_timeout = absl::Seconds(timeout_seconds_);
  options.connect_timeout = absl::Seconds(timeout_seconds_);
  return stacks::CreateRemoteFactory(*std::move(workers), std::move(options));
}

}  // namespace fedexec::cli
