// Specification of the worker (service/worker.h) and of the client's
// channel (net/grpc_channel.h): listening on a free port, health,
// shutdown with and without grace, a taken port, option and file errors,
// the token file, TLS with a certificate generated here (openssl), client
// certificates, and the channel's own checks.
#include "service/worker.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/grpc_channel.h"
#include "service/service_test_util.h"
#include "testing/test_files.h"

namespace fedexec::service {
namespace {

using ::testing::HasSubstr;
using namespace ::fedexec::service::test;  // NOLINT

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary) << contents;
}

// Runs a small exchange: get an executor, sum two clients' values.
absl::Status Exchange(TestClient& client) {
  FEDEXEC_ASSIGN_OR_RETURN(std::string e, client.GetExecutor(2));
  FEDEXEC_ASSIGN_OR_RETURN(
      std::string f,
      client.CreateComputation(e, "(x: {int32}@CLIENTS) -> federated_sum(x)"));
  FEDEXEC_ASSIGN_OR_RETURN(std::string x,
                           client.CreateValue(e, P("{4, 5}@CLIENTS")));
  FEDEXEC_ASSIGN_OR_RETURN(std::string c, client.CreateCall(e, f, x));
  FEDEXEC_ASSIGN_OR_RETURN(Value v, client.Compute(e, c));
  if (!(v == P("9@SERVER"))) return absl::InternalError("wrong sum");
  return client.DisposeExecutor(e);
}

class WorkerTest : public ::testing::Test {
 protected:
  WorkerTest() : factory_(LocalFactory()) {}

  absl::StatusOr<std::unique_ptr<Worker>> StartWorker(
      WorkerOptions options = {}) {
    return Worker::Start(std::move(options), SourceOf(factory_.get()));
  }

  // A source of gated local stacks.
  ExecutorSource Gated(std::shared_ptr<Gate> gate) {
    auto* f = factory_.get();
    return [f, gate](int64_t n) -> absl::StatusOr<std::shared_ptr<Executor>> {
      FEDEXEC_ASSIGN_OR_RETURN(std::shared_ptr<Executor> ex, f->ExecutorFor(n));
      return std::make_shared<GatedExecutor>(ex, gate);
    };
  }

  std::unique_ptr<stacks::LocalExecutorFactory> factory_;
  test_util::TempDir dir_;
};

TEST_F(WorkerTest, ListensOnAFreePortAndReportsHealth) {
  absl::StatusOr<std::unique_ptr<Worker>> worker = StartWorker();
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_GT((*worker)->port(), 0);
  EXPECT_EQ((*worker)->target(), absl::StrCat("127.0.0.1:", (*worker)->port()));
  EXPECT_FALSE((*worker)->tls());
  auto channel = Channel((*worker)->target());
  EXPECT_EQ(*HealthStatus(channel), 1);
  EXPECT_EQ(*HealthStatus(channel, "tensorflow_federated.v0.ExecutorGroup"), 1);
  EXPECT_EQ(*HealthStatus(channel, "fedexec.v1.ExecutorStream"), 1);
  EXPECT_EQ(HealthStatus(channel, "no.such.Service").status().code(),
            absl::StatusCode::kNotFound);
  TestClient client(channel);
  EXPECT_TRUE(Exchange(client).ok());
}

TEST_F(WorkerTest, ShutdownLetsCallsInFlightFinishWithinTheGrace) {
  auto gate = std::make_shared<Gate>();
  absl::StatusOr<std::unique_ptr<Worker>> worker =
      Worker::Start({}, Gated(gate));
  ASSERT_TRUE(worker.ok()) << worker.status();
  TestClient client(Channel((*worker)->target()));
  const std::string e = *client.GetExecutor(1);
  const std::string x = *client.CreateValue(e, P("[1, 2, 3]"));
  absl::StatusOr<Value> result;
  std::thread computing([&] { result = client.Compute(e, x); });
  ASSERT_TRUE(gate->AwaitWaiting(1));

  std::thread waiting([&] { (*worker)->Wait(); });
  std::thread stopping([&] { (*worker)->Shutdown(absl::Seconds(600)); });
  // Once shutdown has begun, new calls are refused ...
  TestClient late(Channel((*worker)->target()));
  absl::Status refused;
  for (int i = 0; i < 10000; ++i) {
    refused = late.GetExecutor(1).status();
    if (!refused.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_FALSE(refused.ok());
  // ... while the call in flight still gets its answer.
  gate->Open();
  computing.join();
  stopping.join();
  waiting.join();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, P("[1, 2, 3]"));
}

TEST_F(WorkerTest, ShutdownAfterTheGraceCancelsComputations) {
  auto gate = std::make_shared<Gate>();
  absl::StatusOr<std::unique_ptr<Worker>> worker =
      Worker::Start({}, Gated(gate));
  ASSERT_TRUE(worker.ok()) << worker.status();
  TestClient client(Channel((*worker)->target()));
  const std::string e = *client.GetExecutor(1);
  const std::string x = *client.CreateValue(e, P("[1, 2, 3]"));
  absl::Status computed;
  absl::Status streamed;
  std::thread computing([&] { computed = client.Compute(e, x).status(); });
  std::thread streaming(
      [&] { streamed = client.ComputeStream(e, x, 4).status(); });
  ASSERT_TRUE(gate->AwaitWaiting(2));
  // The gate never opens: only the cancellation ends the waits.
  (*worker)->Shutdown(absl::Milliseconds(100));
  computing.join();
  streaming.join();
  EXPECT_FALSE(computed.ok());
  EXPECT_FALSE(streamed.ok());
  (*worker)->Wait();
  // Shutting down twice is fine.
  (*worker)->Shutdown(absl::ZeroDuration());
}

TEST_F(WorkerTest, ATakenPortIsRefused) {
  absl::StatusOr<std::unique_ptr<Worker>> first = StartWorker();
  ASSERT_TRUE(first.ok()) << first.status();
  WorkerOptions options;
  options.port = (*first)->port();
  absl::StatusOr<std::unique_ptr<Worker>> second = StartWorker(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(
      std::string(second.status().message()),
      HasSubstr(absl::StrCat("cannot listen on 127.0.0.1:", (*first)->port())));
  // The first one still serves.
  TestClient client(Channel((*first)->target()));
  EXPECT_TRUE(Exchange(client).ok());
}

TEST_F(WorkerTest, RefusesBadOptionsNamingFiles) {
  struct Case {
    WorkerOptions options;
    absl::StatusCode code;
    std::string message;
  };
  const std::string missing = dir_.File("missing.pem");
  const std::string empty = dir_.File("empty");
  const std::string not_pem = dir_.File("not.pem");
  const std::string blank = dir_.File("blank");
  WriteFile(empty, "");
  WriteFile(not_pem, "hello");
  WriteFile(blank, " \n\t\n");
  auto with = [](auto f) {
    WorkerOptions o;
    f(o);
    return o;
  };
  const Case cases[] = {
      {with([](WorkerOptions& o) { o.port = -1; }),
       absl::StatusCode::kInvalidArgument, "port -1 is outside [0, 65535]"},
      {with([](WorkerOptions& o) { o.port = 65536; }),
       absl::StatusCode::kInvalidArgument, "port 65536"},
      {with([&](WorkerOptions& o) { o.tls_cert_file = not_pem; }),
       absl::StatusCode::kInvalidArgument, "a TLS certificate needs its key"},
      {with([&](WorkerOptions& o) { o.tls_client_ca_file = not_pem; }),
       absl::StatusCode::kInvalidArgument, "a TLS client CA file needs"},
      {with([&](WorkerOptions& o) {
         o.tls_cert_file = missing;
         o.tls_key_file = missing;
       }),
       absl::StatusCode::kNotFound,
       absl::StrCat("TLS certificate file ", missing, ": cannot open")},
      {with([&](WorkerOptions& o) {
         o.tls_cert_file = not_pem;
         o.tls_key_file = not_pem;
       }),
       absl::StatusCode::kInvalidArgument,
       absl::StrCat("TLS certificate file ", not_pem,
                    ": not PEM (no -----BEGIN line)")},
      {with([&](WorkerOptions& o) {
         o.tls_cert_file = empty;
         o.tls_key_file = empty;
       }),
       absl::StatusCode::kInvalidArgument,
       absl::StrCat("TLS certificate file ", empty, ": the file is empty")},
      {with([&](WorkerOptions& o) { o.token_file = missing; }),
       absl::StatusCode::kNotFound, absl::StrCat("token file ", missing)},
      {with([&](WorkerOptions& o) { o.token_file = blank; }),
       absl::StatusCode::kInvalidArgument,
       absl::StrCat("token file ", blank, ": holds only whitespace")},
      {with([&](WorkerOptions& o) { o.token_file = dir_.path(); }),
       absl::StatusCode::kInvalidArgument, "not a regular file"},
      {with([&](WorkerOptions& o) {
         o.token_file = blank;
         o.service.token = "t";
       }),
       absl::StatusCode::kInvalidArgument,
       "give the token or the token file, not both"},
      {with([](WorkerOptions& o) { o.service.max_executors = 0; }),
       absl::StatusCode::kInvalidArgument, "max_executors is 0"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    absl::StatusOr<std::unique_ptr<Worker>> worker = StartWorker(c.options);
    ASSERT_FALSE(worker.ok());
    EXPECT_EQ(worker.status().code(), c.code) << worker.status();
    EXPECT_THAT(std::string(worker.status().message()), HasSubstr(c.message));
  }
}

TEST_F(WorkerTest, TokenFromAFile) {
  const std::string path = dir_.File("token");
  WriteFile(path, "  abc.DEF-123\n");
  WorkerOptions options;
  options.token_file = path;
  absl::StatusOr<std::unique_ptr<Worker>> worker = StartWorker(options);
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_EQ((*worker)->service().options().token, "abc.DEF-123");
  TestClient client(Channel((*worker)->target()));
  EXPECT_EQ(Exchange(client).code(), absl::StatusCode::kUnauthenticated);
  client.set_token(*ReadTokenFile(path));
  EXPECT_TRUE(Exchange(client).ok());

  WriteFile(path, "abc def");
  EXPECT_THAT(std::string(ReadTokenFile(path).status().message()),
              HasSubstr("character 3 is not printable ASCII"));
}

// ------------------------------------------------------------------- TLS

class TlsTest : public WorkerTest {
 protected:
  void SetUp() override {
    if (std::system("openssl version >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "openssl is not available";
    }
    MakeCert("server", "/CN=localhost",
             "-addext subjectAltName=DNS:localhost,IP:127.0.0.1");
    MakeCert("client", "/CN=fedexec-test-client", "");
    MakeCert("other", "/CN=someone-else", "");
  }

  // A self-signed certificate (a CA for itself) and its key.
  void MakeCert(const std::string& name, const std::string& subject,
                const std::string& extra) {
    const std::string command = absl::StrCat(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
        "-nodes -days 2 -subj ",
        subject, " ", extra, " -keyout '", Key(name), "' -out '", Cert(name),
        "' >/dev/null 2>&1");
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  std::string Cert(const std::string& name) { return dir_.File(name + ".crt"); }
  std::string Key(const std::string& name) { return dir_.File(name + ".key"); }

  absl::Status ExchangeOver(const std::string& target, ChannelOptions options) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        MakeChannel(target, options);
    if (!channel.ok()) return channel.status();
    TestClient client(*channel);
    return Exchange(client);
  }
};

TEST_F(TlsTest, ServesOverTls) {
  WorkerOptions options;
  options.tls_cert_file = Cert("server");
  options.tls_key_file = Key("server");
  absl::StatusOr<std::unique_ptr<Worker>> worker = StartWorker(options);
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_TRUE((*worker)->tls());
  const std::string target = (*worker)->target();

  ChannelOptions tls;
  tls.tls_root_cert_file = Cert("server");
  EXPECT_TRUE(ExchangeOver(target, tls).ok());
  // Checked against a name the certificate holds (not resolving
  // "localhost": c-ares leaks a few bytes per process under LSan).
  ChannelOptions by_name = tls;
  by_name.tls_server_name = "localhost";
  EXPECT_TRUE(ExchangeOver(target, by_name).ok());
  // A plain client, or one that trusts another root, gets nowhere.
  EXPECT_FALSE(ExchangeOver(target, {}).ok());
  ChannelOptions wrong;
  wrong.tls_root_cert_file = Cert("other");
  EXPECT_FALSE(ExchangeOver(target, wrong).ok());
  // A name the certificate does not hold.
  ChannelOptions renamed = tls;
  renamed.tls_server_name = "elsewhere.example";
  EXPECT_FALSE(ExchangeOver(target, renamed).ok());
  EXPECT_TRUE(ExchangeOver(target, tls).ok());
}

TEST_F(TlsTest, RequiresClientCertificatesWhenGivenACa) {
  WorkerOptions options;
  options.tls_cert_file = Cert("server");
  options.tls_key_file = Key("server");
  options.tls_client_ca_file = Cert("client");
  absl::StatusOr<std::unique_ptr<Worker>> worker = StartWorker(options);
  ASSERT_TRUE(worker.ok()) << worker.status();
  const std::string target = (*worker)->target();

  ChannelOptions no_cert;
  no_cert.tls_root_cert_file = Cert("server");
  EXPECT_FALSE(ExchangeOver(target, no_cert).ok());
  ChannelOptions stranger = no_cert;
  stranger.tls_client_cert_file = Cert("other");
  stranger.tls_client_key_file = Key("other");
  EXPECT_FALSE(ExchangeOver(target, stranger).ok());
  ChannelOptions known = no_cert;
  known.tls_client_cert_file = Cert("client");
  known.tls_client_key_file = Key("client");
  EXPECT_TRUE(ExchangeOver(target, known).ok());
}

TEST_F(TlsTest, AKeyThatDoesNotFitIsRefused) {
  WorkerOptions options;
  options.tls_cert_file = Cert("server");
  options.tls_key_file = Key("client");
  absl::StatusOr<std::unique_ptr<Worker>> worker = StartWorker(options);
  ASSERT_FALSE(worker.ok());
  EXPECT_EQ(worker.status().code(), absl::StatusCode::kUnavailable);
}

// --------------------------------------------------------------- channels

TEST(MakeChannelTest, RefusesBadOptions) {
  EXPECT_EQ(MakeChannel("").status().code(),
            absl::StatusCode::kInvalidArgument);
  ChannelOptions o;
  o.max_message_bytes = 0;
  EXPECT_THAT(std::string(MakeChannel("localhost:1", o).status().message()),
              HasSubstr("max_message_bytes is 0"));
  o = {};
  o.tls_client_cert_file = "c.pem";
  EXPECT_THAT(std::string(MakeChannel("localhost:1", o).status().message()),
              HasSubstr("a TLS client certificate needs its key"));
  o = {};
  o.tls_root_cert_file = "/nonexistent/roots.pem";
  absl::Status s = MakeChannel("localhost:1", o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("TLS root certificate file /nonexistent/roots.pem"));
  o = {};
  o.keepalive_ms = -1;
  EXPECT_EQ(MakeChannel("localhost:1", o).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MakeChannel("localhost:1").ok());
}

TEST(MakeChannelTest, RaisesTheReceiveLimitAboveGrpcsDefault) {
  auto factory = LocalFactory();
  absl::StatusOr<std::unique_ptr<Worker>> worker =
      Worker::Start({}, SourceOf(factory.get()));
  ASSERT_TRUE(worker.ok()) << worker.status();
  // 8 MB answers: more than gRPC's default 4 MB receive limit.
  const Value big =
      Value(Tensor::Vector<float>(std::vector<float>(2 << 20, 1)));
  TestClient client(Channel((*worker)->target()));
  const std::string e = *client.GetExecutor(0);
  const std::string ref = *client.CreateValue(e, big);
  EXPECT_EQ(*client.Compute(e, ref), big);
  TestClient plain(grpc::CreateChannel((*worker)->target(),
                                       grpc::InsecureChannelCredentials()));
  EXPECT_EQ(plain.Compute(e, ref).status().code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace fedexec::service
