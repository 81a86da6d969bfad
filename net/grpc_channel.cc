// Channels to workers and the reading of secret files.
#include "net/grpc_channel.h"

#include <fcntl.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace fedexec {

namespace {

constexpr int64_t kMaxSecretFileBytes = int64_t{1} << 20;

absl::Status FileError(std::string_view what, const std::string& path,
                       std::string_view action, int error) {
  const absl::Status s =
      ErrnoError(path, absl::string_view(action.data(), action.size()), error);
  return absl::Status(
      s.code(), absl::StrCat(absl::string_view(what.data(), what.size()), " ",
                             s.message()));
}

}  // namespace

absl::StatusOr<std::string> ReadSecretFile(std::string_view what,
                                           const std::string& path) {
  const absl::string_view w(what.data(), what.size());
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(w, ": no file name given"));
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FileError(what, path, "cannot open", errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return FileError(what, path, "cannot stat", error);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(w, " ", path, ": not a regular file"));
  }
  if (st.st_size > kMaxSecretFileBytes) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(w, " ", path, ": ", st.st_size,
                     " bytes, more than the limit of ", kMaxSecretFileBytes));
  }
  std::string contents(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n =
        ::read(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      return FileError(what, path, "cannot read", error);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  contents.resize(done);
  if (contents.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(w, " ", path, ": the file is empty"));
  }
  return contents;
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  FEDEXEC_ASSIGN_OR_RETURN(std::string contents,
                           ReadSecretFile("token file", path));
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
  };
  size_t begin = 0;
  size_t end = contents.size();
  while (begin < end && is_space(contents[begin])) ++begin;
  while (end > begin && is_space(contents[end - 1])) --end;
  std::string token = contents.substr(begin, end - begin);
  if (token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token file ", path, ": holds only whitespace"));
  }
  for (size_t i = 0; i < token.size(); ++i) {
    const auto c = static_cast<unsigned char>(token[i]);
    if (c < 0x21 || c > 0x7e) {
      // Never echo the token itself.
      return absl::InvalidArgumentError(
          absl::StrCat("token file ", path, ": character ", begin + i,
                       " is not printable ASCII; a token must be sent as "
                       "metadata"));
    }
  }
  return token;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const std::string& address, const ChannelOptions& options) {
  if (address.empty()) {
    return absl::InvalidArgumentError("MakeChannel: the address is empty");
  }
  if (options.max_message_bytes < 1 || options.max_message_bytes > INT_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MakeChannel: max_message_bytes is ", options.max_message_bytes,
        ", must be in [1, ", INT_MAX, "]"));
  }
  if (options.keepalive_ms < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("MakeChannel: keepalive_ms is ", options.keepalive_ms,
                     ", must be >= 0"));
  }
  if (options.tls_client_cert_file.empty() !=
      options.tls_client_key_file.empty()) {
    return absl::InvalidArgumentError(
        "MakeChannel: a TLS client certificate needs its key and the "
        "reverse (set both tls_client_cert_file and tls_client_key_file)");
  }
  const bool tls = options.tls || !options.tls_root_cert_file.empty() ||
                   !options.tls_client_cert_file.empty();

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  args.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  if (options.keepalive_ms > 0) {
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, options.keepalive_ms);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    // Pings while a long call sends nothing are the point of keepalive.
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }

  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_root_cert_file.empty()) {
      FEDEXEC_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                               ReadSecretFile("TLS root certificate file",
                                              options.tls_root_cert_file));
    }
    if (!options.tls_client_cert_file.empty()) {
      FEDEXEC_ASSIGN_OR_RETURN(ssl.pem_cert_chain,
                               ReadSecretFile("TLS client certificate file",
                                              options.tls_client_cert_file));
      FEDEXEC_ASSIGN_OR_RETURN(
          ssl.pem_private_key,
          ReadSecretFile("TLS client key file", options.tls_client_key_file));
    }
    if (!options.tls_server_name.empty()) {
      args.SetSslTargetNameOverride(options.tls_server_name);
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(address, credentials, args);
  if (channel == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("MakeChannel: cannot create a channel to ", address));
  }
  return channel;
}

}  // namespace fedexec
