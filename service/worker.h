// Worker: a gRPC server that serves an ExecutorService (the executor
// protocol and fedexec's streaming extension) and the standard gRPC health
// service, plain or over TLS.
//
//   auto worker = Worker::Start(options, source);   // listening now
//   ... (*worker)->port() ...
//   (*worker)->Shutdown(absl::Seconds(10));         // or from a signal thread
//   (*worker)->Wait();
//
// Health: the server's overall status and the two services'
// ("tensorflow_federated.v0.ExecutorGroup", "fedexec.v1.ExecutorStream")
// are SERVING from Start until Shutdown begins, then NOT_SERVING.
//
// Shutdown(grace): stops accepting calls at once, lets the calls in flight
// finish for up to `grace`, then cancels every executor of the service (so
// that computations being waited for end, answering UNAVAILABLE) and
// gRPC cancels what is left. Returns when every call has ended; by then
// every executor the service holds has been cancelled.
//
// TLS: with a certificate and key the server speaks TLS only; with a
// client CA file too it requires client certificates signed by that CA.
//
// Thread-safety: Shutdown and Wait may be called from any thread, Shutdown
// more than once (the later calls wait for the first to finish). The
// destructor shuts down (no grace) if nobody did.
#ifndef FEDEXEC_SERVICE_WORKER_H_
#define FEDEXEC_SERVICE_WORKER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/mutex.h"
#include "service/executor_service.h"

namespace grpc {
class Server;
}

namespace fedexec::service {

struct WorkerOptions {
  // The address to listen on: an IPv4 or IPv6 address or a host name.
  std::string address = "127.0.0.1";
  // 0: a free port picked by the system (see Worker::port()).
  int port = 0;
  // TLS: the server's certificate chain and private key (PEM files); both
  // or neither. With tls_client_ca_file (PEM) too, clients must present a
  // certificate that it verifies.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // A file holding the bearer token (surrounding whitespace ignored); sets
  // service.token. Give the token either here or in service.token.
  std::string token_file;
  // The service's options; max_message_bytes also bounds every message the
  // server receives or sends.
  ServiceOptions service;
};

class Worker {
 public:
  // Builds the service and starts listening. Errors: INVALID_ARGUMENT for
  // bad options (a port outside [0, 65535], a certificate without its key,
  // a client CA without a certificate, both a token and a token file, a
  // file that is not PEM) and the ExecutorService's; the errors of
  // ReadSecretFile / ReadTokenFile naming the file; UNAVAILABLE when the
  // server cannot listen (port in use, unusable address, a certificate
  // that gRPC refuses).
  static absl::StatusOr<std::unique_ptr<Worker>> Start(WorkerOptions options,
                                                       ExecutorSource source);
  ~Worker();

  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // The port listened on (the one picked when options.port was 0).
  int port() const { return port_; }
  // "HOST:PORT" to dial ("[::1]:PORT" for IPv6).
  const std::string& target() const { return target_; }
  bool tls() const { return tls_; }
  ExecutorService& service() { return *service_; }

  void Shutdown(absl::Duration grace);
  // Returns once the server has shut down.
  void Wait();

 private:
  Worker() = default;

  // Declared before the server: the server is destroyed first.
  std::unique_ptr<ExecutorService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string target_;
  bool tls_ = false;

  Mutex shutdown_mu_;  // held for the whole of the first Shutdown
  bool shut_down_ FEDEXEC_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace fedexec::service

#endif  // FEDEXEC_SERVICE_WORKER_H_
