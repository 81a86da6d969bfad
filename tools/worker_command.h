// `fedexec worker`: serves this process's executors to other fedexec
// processes (and to any client of the executor protocol) over gRPC.
//
//   fedexec worker --port P [--bind ADDR] [--threads T] [--capacity N]
//                  [--tls-cert F --tls-key F [--tls-client-ca F]]
//                  [--token-file F] [--data-root DIR]
//
// Binds 127.0.0.1 unless --bind says otherwise; prints one line
// "fedexec worker listening on HOST:PORT" once it serves (PORT is the one
// picked when --port is 0); serves the gRPC health service. SIGTERM or
// Ctrl-C: stops accepting calls, lets the ones in flight finish (up to
// --drain-seconds), and exits 0. Bad flags or files: exit 2 naming them; a
// port that cannot be bound: exit 1.
//
// Thread-safety: one WorkerCommand per program, run on the main thread.
#ifndef FEDEXEC_TOOLS_WORKER_COMMAND_H_
#define FEDEXEC_TOOLS_WORKER_COMMAND_H_

#include <string>

#include "CLI/CLI.hpp"

namespace fedexec::cli {

class WorkerCommand {
 public:
  explicit WorkerCommand(CLI::App& app);
  bool parsed() const { return command_->parsed(); }
  int Run();

 private:
  CLI::App* command_ = nullptr;
  int port_ = -1;
  std::string bind_ = "127.0.0.1";
  int threads_ = 0;
  double capacity_ = 1;
  std::string tls_cert_;
  std::string tls_key_;
  std::string tls_client_ca_;
  std::string token_file_;
  std::string data_root_;
  double drain_seconds_ = 30;
};

}  // namespace fedexec::cli

#endif  // FEDEXEC_TOOLS_WORKER_COMMAND_H_
