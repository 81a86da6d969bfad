// Helpers shared by the remote executor's tests (executors/
// remote_executor_test.cc, against a scripted fake worker) and its
// end-to-end tests against real workers (stacks/remote_worker_test.cc):
// compiling a computation, scalars, bounded waits, a channel that
// reconnects quickly, a TCP listener that never speaks gRPC. Tests only.
#ifndef FEDEXEC_EXECUTORS_REMOTE_EXECUTOR_TEST_UTIL_H_
#define FEDEXEC_EXECUTORS_REMOTE_EXECUTOR_TEST_UTIL_H_

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/tensor.h"
#include "core/value.h"
#include "gtest/gtest.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"

namespace fedexec::exec::remote_test {

inline ir::NodePtr Compile(const std::string& text) {
  auto parsed = ir::ParseComputation(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  if (!parsed.ok()) return nullptr;
  auto checked = ir::CheckComputation(*parsed);
  EXPECT_TRUE(checked.ok()) << checked.status();
  return checked.ok() ? *checked : nullptr;
}

inline Value Scalar(float x) { return Value(Tensor::Scalar<float>(x)); }

// Polls `condition` until it holds or `limit` passes (a bound against
// hangs, not a timing assertion).
inline bool WaitFor(const std::function<bool()>& condition,
                    absl::Duration limit = absl::Seconds(60)) {
  const absl::Time end = absl::Now() + limit;
  while (!condition()) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

// A channel that reconnects quickly after a failed connection (gRPC's
// default first backoff is 1 s, growing to 2 min).
inline std::shared_ptr<grpc::Channel> FastReconnectChannel(
    const std::string& target) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 20);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 20);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

// A plain TCP socket listening on 127.0.0.1:port (0: a free port) that
// speaks no gRPC: connections to it complete (the kernel accepts them into
// the backlog) and then either hang or are closed by AcceptAndClose.
class RawListener {
 public:
  explicit RawListener(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return;
    const int one = 1;
    // SO_REUSEADDR only (a port left in TIME_WAIT binds again); never
    // SO_REUSEPORT, which would let it share a port that a server of another
    // test holds and take that server's connections.
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    socklen_t length = sizeof(address);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
            0 ||
        ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) !=
            0) {
      Close();
      return;
    }
    port_ = ntohs(address.sin_port);
  }
  ~RawListener() { Close(); }

  bool ok() const { return fd_ >= 0; }
  int port() const { return port_; }
  std::string target() const { return absl::StrCat("127.0.0.1:", port_); }

  // Accepts one connection and closes it at once.
  bool AcceptAndClose() {
    const int connection = ::accept(fd_, nullptr, nullptr);
    if (connection < 0) return false;
    ::close(connection);
    return true;
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace fedexec::exec::remote_test

#endif  // FEDEXEC_EXECUTORS_REMOTE_EXECUTOR_TEST_UTIL_H_
