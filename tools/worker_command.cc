// `fedexec worker` (tools/worker_command.h).
#include "tools/worker_command.h"

#include <signal.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/thread_pool.h"
#include "data/data_backend.h"
#include "glog/logging.h"
#include "service/worker.h"
#include "stacks/executor_factory.h"
#include "tools/cli_common.h"
#include "tools/native_functions.h"

namespace fedexec::cli {

WorkerCommand::WorkerCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "worker",
      "Serve this machine's executors to other fedexec processes over gRPC "
      "(fedexec run/demo --workers)");
  command_
      ->add_option("--port", port_,
                   "The port to listen on (0: any free port, printed)")
      ->required()
      ->check(CLI::Range(0, 65535));
  command_
      ->add_option("--bind", bind_,
                   "The address to listen on; 0.0.0.0 or :: for every "
                   "interface")
      ->capture_default_str();
  command_
      ->add_option("--threads", threads_,
                   "Threads that run the computations (default: one per "
                   "hardware thread)")
      ->check(CLI::Range(0, ThreadPool::kMaxThreads));
  command_
      ->add_option("--capacity", capacity_,
                   "This worker's share of clients, relative to the other "
                   "workers'")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command_->add_option("--tls-cert", tls_cert_,
                       "Serve TLS with this certificate chain (PEM)");
  command_->add_option("--tls-key", tls_key_,
                       "The certificate's private key (PEM)");
  command_->add_option("--tls-client-ca", tls_client_ca_,
                       "Require client certificates signed by this CA (PEM)");
  command_->add_option("--token-file", token_file_,
                       "Refuse calls without this bearer token (a file)");
  command_->add_option("--data-root", data_root_,
                       "Resolve `data` URIs of computations inside this "
                       "directory (and nowhere else)");
  command_
      ->add_option("--drain-seconds", drain_seconds_,
                   "On SIGTERM, how long calls in flight may finish")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

int WorkerCommand::Run() {
  if (!data_root_.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(data_root_, ec)) {
      PrintError(absl::StrCat("--data-root ", data_root_, ": not a directory"));
      return kExitBadInput;
    }
  }
  // The program's native functions (tools/native_functions.h), so that
  // `fedexec demo --workers` runs here.
  if (absl::Status s = RegisterNativeFunctions(); !s.ok()) {
    PrintError(s.message());
    return kExitRuntimeError;
  }
  // Before any thread starts: only the sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  stacks::LocalExecutorFactoryOptions factory_options;
  factory_options.threads = threads_;
  // Every client gets a stack of its own (they share the pool): a client
  // that cancels its computation cancels nobody else's.
  factory_options.cache_size = 0;
  std::shared_ptr<const exec::DataBackend> backend;
  if (!data_root_.empty()) {
    auto made = exec::FileBackend::Create(data_root_);
    if (!made.ok()) {
      PrintError(absl::StrCat("--data-root: ", made.status().message()));
      return kExitBadInput;
    }
    backend = *std::move(made);
  }
  factory_options.data_backend = backend;
  auto factory = stacks::LocalExecutorFactory::Create(factory_options);
  if (!factory.ok()) {
    PrintError(absl::StrCat("--threads: ", factory.status().message()));
    return kExitBadInput;
  }
  std::shared_ptr<stacks::LocalExecutorFactory> shared = *std::move(factory);

  service::WorkerOptions options;
  options.address = bind_;
  options.port = port_;
  options.tls_cert_file = tls_cert_;
  options.tls_key_file = tls_key_;
  options.tls_client_ca_file = tls_client_ca_;
  options.token_file = token_file_;
  options.service.capacity = capacity_;
  options.service.has_data_root = backend != nullptr;
  auto worker = service::Worker::Start(options, [shared](int64_t num_clients) {
    return shared->ExecutorFor(num_clients);
  });
  if (!worker.ok()) {
    PrintError(worker.status().message());
    return worker.status().code() == absl::StatusCode::kUnavailable
               ? kExitRuntimeError
               : kExitBadInput;
  }
  std::cout << "fedexec worker listening on " << (*worker)->target()
            << (tls_cert_.empty() ? "" : " (TLS)") << std::endl;
  LOG(INFO) << "serving " << shared->num_threads() << " threads, capacity "
            << capacity_;

  int signal = 0;
  while (sigwait(&signals, &signal) != 0) {
  }
  LOG(INFO) << "signal " << signal << ": draining for up to " << drain_seconds_
            << " s";
  (*worker)->Shutdown(absl::Seconds(drain_seconds_));
  (*worker)->Wait();
  return kExitOk;
}

}  // namespace fedexec::cli
