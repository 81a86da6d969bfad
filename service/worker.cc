// The worker's gRPC server: listening, TLS, health, limits and shutdown.
#include "service/worker.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>

#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/status.h"
#include "net/grpc_channel.h"

namespace fedexec::service {
namespace {

constexpr const char* kServiceNames[] = {
    "tensorflow_federated.v0.ExecutorGroup",
    "fedexec.v1.ExecutorStream",
};

absl::StatusOr<std::string> ReadPem(std::string_view what,
                                    const std::string& path) {
  FEDEXEC_ASSIGN_OR_RETURN(std::string pem, ReadSecretFile(what, path));
  if (pem.find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(absl::string_view(what.data(), what.size()), " ", path,
                     ": not PEM (no -----BEGIN line)"));
  }
  return pem;
}

// "host:port", bracketing an IPv6 address.
std::string HostPort(const std::string& host, int port) {
  const bool ipv6 = host.find(':') != std::string::npos && host[0] != '[';
  return ipv6 ? absl::StrCat("[", host, "]:", port)
              : absl::StrCat(host, ":", port);
}

void SetServing(grpc::Server& server, bool serving) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(serving);
  for (const char* name : kServiceNames) {
    health->SetServingStatus(name, serving);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Worker>> Worker::Start(WorkerOptions options,
                                                      ExecutorSource source) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker: port ", options.port, " is outside [0, 65535]"));
  }
  if (options.address.empty()) {
    return absl::InvalidArgumentError("worker: the address is empty");
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "worker: a TLS certificate needs its key and the reverse (give both "
        "the certificate file and the key file)");
  }
  if (!options.tls_client_ca_file.empty() && options.tls_cert_file.empty()) {
    return absl::InvalidArgumentError(
        "worker: a TLS client CA file needs the server's own certificate and "
        "key");
  }
  if (!options.token_file.empty()) {
    if (!options.service.token.empty()) {
      return absl::InvalidArgumentError(
          "worker: give the token or the token file, not both");
    }
    FEDEXEC_ASSIGN_OR_RETURN(options.service.token,
                             ReadTokenFile(options.token_file));
  }

  std::shared_ptr<grpc::ServerCredentials> credentials;
  const bool tls = !options.tls_cert_file.empty();
  if (tls) {
    grpc::SslServerCredentialsOptions ssl(
        options.tls_client_ca_file.empty()
            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    FEDEXEC_ASSIGN_OR_RETURN(pair.cert_chain, ReadPem("TLS certificate file",
                                                      options.tls_cert_file));
    FEDEXEC_ASSIGN_OR_RETURN(pair.private_key,
                             ReadPem("TLS key file", options.tls_key_file));
    ssl.pem_key_cert_pairs.push_back(std::move(pair));
    if (!options.tls_client_ca_file.empty()) {
      FEDEXEC_ASSIGN_OR_RETURN(
          ssl.pem_root_certs,
          ReadPem("TLS client CA file", options.tls_client_ca_file));
    }
    credentials = grpc::SslServerCredentials(ssl);
  } else {
    credentials = grpc::InsecureServerCredentials();
  }

  const int64_t max_message_bytes = options.service.max_message_bytes;
  FEDEXEC_ASSIGN_OR_RETURN(
      std::unique_ptr<ExecutorService> service,
      ExecutorService::Create(std::move(source), std::move(options.service)));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  const std::string listen = HostPort(options.address, options.port);
  builder.AddListeningPort(listen, credentials, &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(max_message_bytes));
  // Clients ping to notice a lost worker during long calls (MakeChannel
  // pings every 30 s by default); accept pings down to 5 s apart.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  // Two workers on one port would share its calls: refuse a taken port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(service->executor_group_service());
  builder.RegisterService(service->executor_stream_service());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat(
        "worker: cannot listen on ", listen,
        tls ? " (port in use, an unusable address, or a TLS certificate and "
              "key that do not fit)"
            : " (port in use or an unusable address)"));
  }
  SetServing(*server, true);

  std::unique_ptr<Worker> worker(new Worker());
  worker->service_ = std::move(service);
  worker->server_ = std::move(server);
  worker->port_ = port;
  worker->target_ = HostPort(options.address, port);
  worker->tls_ = tls;
  return worker;
}

Worker::~Worker() {
  Shutdown(absl::ZeroDuration());
  server_.reset();
  service_.reset();
}

void Worker::Shutdown(absl::Duration grace) {
  MutexLock lock(shutdown_mu_);
  if (shut_down_) return;
  SetServing(*server_, false);

  const absl::Time until = absl::Now() + std::max(grace, absl::ZeroDuration());
  Mutex mu;
  CondVar cv;
  bool done = false;
  // grpc::Server::Shutdown returns once every call has ended; calls that
  // wait for a computation end only when the computation does, so the
  // executors are cancelled once the grace period is over.
  std::thread stopper([&] {
    server_->Shutdown(absl::ToChronoTime(until));
    MutexLock l(mu);
    done = true;
    cv.SignalAll();
  });
  bool stopped_in_time;
  {
    MutexLock l(mu);
    while (!done && cv.WaitUntil(mu, until)) {
    }
    stopped_in_time = done;
  }
  if (!stopped_in_time) service_->CancelAll();
  stopper.join();
  // Nothing is served any more: stop every executor still held.
  service_->CancelAll();
  shut_down_ = true;
}

void Worker::Wait() { server_->Wait(); }

}  // namespace fedexec::service
