// Client side of the executor service's transport: a gRPC channel to a
// worker (service/worker.h), plain or TLS, with the message size limits
// raised (gRPC's default receive limit is 4 MB), and keepalive pings so a
// lost worker is noticed during a long call.
//
// Also the reading of secret files (certificates, keys, bearer tokens)
// shared by the worker and its clients: errors name the file.
//
// gRPC appears only in this header's declarations of grpc::Channel; the
// remote executor and the service include it, nothing else should. The
// folder net/ is the transport layer under both (it depends on core/ and
// gRPC only).
//
// Thread-safety: stateless functions; a grpc::Channel is thread-safe.
#ifndef FEDEXEC_NET_GRPC_CHANNEL_H_
#define FEDEXEC_NET_GRPC_CHANNEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace grpc {
class Channel;
}

namespace fedexec {

// The metadata key that carries the bearer token, and the prefix of its
// value: `authorization: Bearer <token>`.
inline constexpr char kAuthorizationMetadataKey[] = "authorization";
inline constexpr char kBearerPrefix[] = "Bearer ";
// The metadata key of an idempotency key: a request repeated with the same
// value gets the answer of the first (service/executor_service.h).
inline constexpr char kRequestIdMetadataKey[] = "fedexec-request-id";
// The error details (grpc::Status::error_details) of an error that says
// where in a computation it arose (exec::HasLocation): the client keeps its
// message as it is.
inline constexpr char kLocatedErrorDetails[] = "fedexec.dev/where";

// The default most bytes of one message either way (both the worker and
// MakeChannel): 64 MiB. Values larger than this travel in chunks
// (fedexec.v1.ExecutorStream).
inline constexpr int64_t kDefaultMaxMessageBytes = int64_t{64} << 20;

struct ChannelOptions {
  // TLS: when any of the three files is set, or `tls` is true, the channel
  // uses TLS. The root certificates that verify the worker (PEM); empty:
  // the system's roots.
  bool tls = false;
  std::string tls_root_cert_file;
  // Client certificate and key (PEM), for workers that require client
  // certificates; both or neither.
  std::string tls_client_cert_file;
  std::string tls_client_key_file;
  // Overrides the name checked against the worker's certificate (tests,
  // or workers addressed by IP whose certificate names a host). Empty: the
  // host of `address`.
  std::string tls_server_name;
  // The most bytes of one message sent or received; 1 to 2^31 - 1
  // (INVALID_ARGUMENT outside).
  int64_t max_message_bytes = kDefaultMaxMessageBytes;
  // Interval of keepalive pings while the channel is open (the worker
  // accepts one every 5 s or less often); 0: no pings.
  int keepalive_ms = 30000;
};

// A channel to `address` ("host:port", "[::1]:port", "unix:/path", any
// gRPC target). Connects lazily (the first call connects). Errors:
// INVALID_ARGUMENT for bad options (an empty address, a client certificate
// without its key, a size out of range); the errors of ReadSecretFile for
// files that cannot be read.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const std::string& address, const ChannelOptions& options = {});

// The contents of a file holding a certificate, a key or a token. `what`
// names it in messages ("TLS certificate file"). Errors: NOT_FOUND /
// PERMISSION_DENIED / INVALID_ARGUMENT "<what> <path>: ..." when it cannot
// be read, INVALID_ARGUMENT when it is empty, or larger than 1 MiB.
absl::StatusOr<std::string> ReadSecretFile(std::string_view what,
                                           const std::string& path);

// A bearer token from a file: its contents without surrounding whitespace
// (a trailing newline is usual). INVALID_ARGUMENT when nothing is left, or
// when it holds a character that cannot be sent in metadata (outside
// printable ASCII).
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

}  // namespace fedexec

#endif  // FEDEXEC_NET_GRPC_CHANNEL_H_
