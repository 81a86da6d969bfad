// Tests of the RemoteExecutor (executors/remote_executor.h), in two parts:
// - against a real worker (service/worker.h) serving local stacks: real
//   computations compared bit for bit with an in-process stack, large
//   values both ways in chunks, remote disposal, a restarted and a lost
//   worker, an unusable executor, cancellation, tokens;
// - against a scripted fake worker, for what a real worker cannot be made
//   to do on cue: fail an attempt, hold an answer, answer with a chosen
//   status, lack the stream extension.
// Waits are bounded (WaitFor, RunWithDeadline) so that a bug fails the run
// instead of hanging it; nothing asserts on timing.
#include "executors/remote_executor.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/channel_arguments.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/mutable_tensor.h"
#include "executors/federating_executor.h"
#include "executors/function.h"
#include "executors/grpc_channel.h"
#include "executors/local_executor.h"
#include "fedexec/v1/executor_stream.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/computation_file.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"
#include "ir/value_proto.h"
#include "ir/value_syntax.h"
#include "service/service_test_util.h"
#include "service/worker.h"
#include "stacks/cardinality.h"
#include "stacks/executor_factory.h"
#include "tensorflow_federated/v0/executor.grpc.pb.h"
#include "testing/concurrency.h"
#include "testing/test_files.h"

namespace fedexec::exec {
namespace {

namespace v0 = ::tensorflow_federated::v0;

using ::fedexec::test_util::RunWithDeadline;
using ::fedexec::test_util::SourceDir;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// ------------------------------------------------------------- helpers

ir::NodePtr Compile(const std::string& text) {
  auto parsed = ir::ParseComputation(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  if (!parsed.ok()) return nullptr;
  auto checked = ir::CheckComputation(*parsed);
  EXPECT_TRUE(checked.ok()) << checked.status();
  return checked.ok() ? *checked : nullptr;
}

ir::NodePtr LoadExample(const std::string& name) {
  auto computation =
      ir::LoadCheckedComputation((SourceDir() / "examples" / name).string());
  EXPECT_TRUE(computation.ok()) << computation.status();
  return computation.ok() ? *computation : nullptr;
}

Value ValueAs(const std::string& text, const ir::Type& type) {
  auto value = ir::ParseValueAs(text, type);
  EXPECT_TRUE(value.ok()) << text << ": " << value.status();
  return value.ok() ? *value : Value();
}

Value Scalar(float x) { return Value(Tensor::Scalar<float>(x)); }

// Calls `computation` (with `argument`, if any) on `executor`: every
// Create at once, then one Materialize.
absl::StatusOr<Value> RunComputation(Executor& executor, const ir::NodePtr& computation,
                          const std::optional<Value>& argument) {
  absl::StatusOr<OwnedValue> fn = executor.CreateValue(computation);
  if (!fn.ok()) return fn.status();
  std::optional<ValueId> arg_id;
  OwnedValue arg;
  if (argument.has_value()) {
    absl::StatusOr<OwnedValue> created = executor.CreateValue(*argument);
    if (!created.ok()) return created.status();
    arg = *std::move(created);
    arg_id = arg.id();
  }
  absl::StatusOr<OwnedValue> call = executor.CreateCall(fn->id(), arg_id);
  if (!call.ok()) return call.status();
  return executor.Materialize(*call);
}

// Polls `condition` until it holds or `limit` passes (a bound against
// hangs, not a timing assertion).
bool WaitFor(const std::function<bool()>& condition,
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
std::shared_ptr<grpc::Channel> FastReconnectChannel(const std::string& target) {
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

// =============================================== against a real worker

class RemoteWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto factory = stacks::LocalExecutorFactory::Create({.threads = 2});
    ASSERT_TRUE(factory.ok()) << factory.status();
    factory_ = *std::move(factory);
    auto local = stacks::LocalExecutorFactory::Create({.threads = 2});
    ASSERT_TRUE(local.ok()) << local.status();
    local_ = *std::move(local);
    ASSERT_TRUE(StartWorker().ok());
  }

  void TearDown() override {
    if (worker_ != nullptr) worker_->Shutdown(absl::ZeroDuration());
    worker_.reset();
  }

  absl::Status StartWorker(int port = 0, std::string token = "") {
    service::WorkerOptions options;
    options.port = port;
    options.service.token = std::move(token);
    stacks::LocalExecutorFactory* factory = factory_.get();
    auto worker = service::Worker::Start(
        options, [factory](int64_t n) { return factory->ExecutorFor(n); });
    if (!worker.ok()) return worker.status();
    worker_ = *std::move(worker);
    return absl::OkStatus();
  }

  std::unique_ptr<RemoteExecutor> Connect(int64_t num_clients,
                                          RemoteOptions options = {}) {
    if (options.name.empty()) options.name = worker_->target();
    auto channel = MakeChannel(worker_->target());
    EXPECT_TRUE(channel.ok()) << channel.status();
    if (!channel.ok()) return nullptr;
    auto remote = RemoteExecutor::Create(*channel, num_clients, options);
    EXPECT_TRUE(remote.ok()) << remote.status();
    return remote.ok() ? *std::move(remote) : nullptr;
  }

  // The worker's executor for `num_clients` (the factory caches stacks, so
  // it is the one the worker serves).
  std::shared_ptr<Executor> WorkerExecutor(int64_t num_clients) {
    auto executor = factory_->ExecutorFor(num_clients);
    EXPECT_TRUE(executor.ok()) << executor.status();
    return executor.ok() ? *executor : nullptr;
  }

  // The same computation in process, for comparison.
  absl::StatusOr<Value> RunLocally(const ir::NodePtr& computation,
                                   const std::optional<Value>& argument,
                                   int64_t num_clients) {
    absl::StatusOr<std::shared_ptr<Executor>> executor =
        local_->ExecutorFor(num_clients);
    if (!executor.ok()) return executor.status();
    return RunComputation(**executor, computation, argument);
  }

  std::unique_ptr<stacks::LocalExecutorFactory> factory_;  // the worker's
  std::unique_ptr<stacks::LocalExecutorFactory> local_;    // in-process
  std::unique_ptr<service::Worker> worker_;
};

struct ExampleCase {
  std::string file;
  std::string argument;
};

class RemoteExamplesTest : public RemoteWorkerTest,
                           public ::testing::WithParamInterface<ExampleCase> {};

TEST_P(RemoteExamplesTest, GivesTheInProcessResultBitForBit) {
  const ExampleCase& c = GetParam();
  ir::NodePtr computation = LoadExample(c.file);
  ASSERT_NE(computation, nullptr);
  const Value argument =
      ValueAs(c.argument, *computation->type()->parameter());
  auto clients = stacks::InferClientCount(argument);
  ASSERT_TRUE(clients.ok()) << clients.status();
  const int64_t n = clients->value_or(0);

  absl::StatusOr<Value> local = RunLocally(computation, argument, n);
  ASSERT_TRUE(local.ok()) << local.status();
  std::unique_ptr<RemoteExecutor> remote = Connect(n);
  ASSERT_NE(remote, nullptr);
  absl::StatusOr<Value> result = RunComputation(*remote, computation, argument);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, *local) << ir::PrintValue(*result) << " vs "
                             << ir::PrintValue(*local);
  EXPECT_EQ(remote->NumValues(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Examples, RemoteExamplesTest,
    ::testing::Values(
        ExampleCase{"mean.fed", "{1.0, 2.0, 6.0}@CLIENTS"},
        ExampleCase{"aggregate.fed", "{1.0, 2.0, 6.0, 3.0}@CLIENTS"},
        ExampleCase{"generic_plus_structs.fed",
                    "<a=<x=[1.0, 2.0], y=3>, b=<x=[10.0, 20.0], y=4>>"},
        ExampleCase{"map_all_equal.fed",
                    "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]@SERVER"},
        ExampleCase{"nested_structs.fed", "<a=<b=1, c=[2.0, 3.0]>, d=true>"},
        ExampleCase{"scoping.fed", "5"},
        ExampleCase{"secure_sum.fed",
                    "{[1, 0, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0]}@CLIENTS"},
        ExampleCase{"sequence_reduce.fed",
                    "{seq[1, 2, 3], seq[4], seq[10]}@CLIENTS"},
        ExampleCase{"zip_and_map.fed",
                    "<a={[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]}@CLIENTS, "
                    "b={[2.0, 2.0, 2.0], [4.0, 5.0, 6.0]}@CLIENTS>"}),
    [](const ::testing::TestParamInfo<ExampleCase>& info) {
      std::string name = info.param.file.substr(0, info.param.file.find('.'));
      for (char& ch : name) {
        if (ch == '-') ch = '_';
      }
      return name;
    });

TEST_F(RemoteWorkerTest, StructsAndSelectionsOfValuesNotYetCreated) {
  std::unique_ptr<RemoteExecutor> remote = Connect(0);
  ASSERT_NE(remote, nullptr);
  auto a = remote->CreateValue(Scalar(1.5f));
  auto b = remote->CreateValue(Value(Tensor::Vector<int32_t>({1, 2, 3})));
  ASSERT_TRUE(a.ok() && b.ok());
  auto s = remote->CreateStruct({{"x", a->id()}, {"", b->id()}});
  ASSERT_TRUE(s.ok()) << s.status();
  auto second = remote->CreateSelection(*s, 1);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(remote->NumValues(), 4);

  auto selected = remote->Materialize(*second);
  ASSERT_TRUE(selected.ok()) << selected.status();
  EXPECT_EQ(*selected, Value(Tensor::Vector<int32_t>({1, 2, 3})));
  auto whole = remote->Materialize(*s);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(*whole,
            Value::Struct({{"x", Scalar(1.5f)},
                           {"", Value(Tensor::Vector<int32_t>({1, 2, 3}))}}));
}

TEST_F(RemoteWorkerTest, FunctionValuesAreSentAsTheirIr) {
  // A closure made in process (it captures `k`), sent to the worker alone
  // and inside a struct.
  ir::NodePtr make = Compile(
      "(k: float32) -> (x: float32) -> generic_multiply(generic_plus(x, k), "
      "2.0)");
  ASSERT_NE(make, nullptr);
  auto stack = local_->ExecutorFor(0);
  ASSERT_TRUE(stack.ok());
  auto* local = dynamic_cast<LocalExecutor*>(stack->get());
  ASSERT_NE(local, nullptr);
  auto maker = local->CreateValue(make);
  auto k = local->CreateValue(Scalar(0.25f));
  ASSERT_TRUE(maker.ok() && k.ok());
  auto closure = local->CreateCall(*maker, *k);
  ASSERT_TRUE(closure.ok());
  absl::StatusOr<Value> function = local->Resolve(closure->id());
  ASSERT_TRUE(function.ok()) << function.status();
  ASSERT_TRUE(function->is_function());
  auto x = local->CreateValue(Scalar(3.0f));
  ASSERT_TRUE(x.ok());
  auto local_call = local->CreateCall(*closure, *x);
  ASSERT_TRUE(local_call.ok());
  absl::StatusOr<Value> expected = local->Materialize(*local_call);
  ASSERT_TRUE(expected.ok()) << expected.status();

  std::unique_ptr<RemoteExecutor> remote = Connect(0);
  ASSERT_NE(remote, nullptr);
  auto f = remote->CreateValue(*function);
  ASSERT_TRUE(f.ok()) << f.status();
  auto rx = remote->CreateValue(Scalar(3.0f));
  ASSERT_TRUE(rx.ok());
  auto call = remote->CreateCall(*f, *rx);
  ASSERT_TRUE(call.ok());
  absl::StatusOr<Value> result = remote->Materialize(*call);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, *expected);

  auto pair = remote->CreateValue(
      Value::Struct({{"f", *function}, {"x", Scalar(3.0f)}}));
  ASSERT_TRUE(pair.ok()) << pair.status();
  auto pf = remote->CreateSelection(*pair, 0);
  auto px = remote->CreateSelection(*pair, 1);
  ASSERT_TRUE(pf.ok() && px.ok());
  auto call2 = remote->CreateCall(*pf, *px);
  ASSERT_TRUE(call2.ok());
  result = remote->Materialize(*call2);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, *expected);

  // A function cannot be materialized, remotely as locally.
  result = remote->Materialize(*f);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
      << result.status();
}

TEST_F(RemoteWorkerTest, ComputationErrorsReachDependentsNamedAfterTheWorker) {
  ir::NodePtr divide = Compile("(p: <int32, int32>) -> generic_divide(p[0], p[1])");
  ASSERT_NE(divide, nullptr);
  const Value argument = Value::Struct(
      {{"", Value(Tensor::Scalar<int32_t>(1))},
       {"", Value(Tensor::Scalar<int32_t>(0))}});
  absl::StatusOr<Value> local = RunLocally(divide, argument, 0);
  ASSERT_FALSE(local.ok());

  std::unique_ptr<RemoteExecutor> remote = Connect(0);
  ASSERT_NE(remote, nullptr);
  auto fn = remote->CreateValue(divide);
  auto arg = remote->CreateValue(argument);
  ASSERT_TRUE(fn.ok() && arg.ok());
  auto call = remote->CreateCall(*fn, *arg);
  ASSERT_TRUE(call.ok());
  auto wrapped = remote->CreateStruct({{"q", call->id()}});
  ASSERT_TRUE(wrapped.ok());
  auto selected = remote->CreateSelection(*wrapped, 0);
  ASSERT_TRUE(selected.ok());

  // The worker reports the same error. Where it arose is the node's path
  // there: source positions do not travel with the IR.
  const std::string what =
      "generic_divide: divide: integer division by zero (operands int32 and "
      "int32)";
  ASSERT_THAT(std::string(local.status().message()), HasSubstr(what));
  absl::StatusOr<Value> result = remote->Materialize(*call);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), local.status().code());
  // A located error keeps its message; any other gets the worker's name.
  const std::string prefix =
      HasLocation(result.status())
          ? ""
          : absl::StrCat("worker ", worker_->target(), ": ");
  EXPECT_EQ(result.status().message(),
            absl::StrCat(prefix, "lambda.result: ", what));
  EXPECT_EQ(WorkerOf(result.status()), worker_->target());
  // The worker's error reaches what was computed from it.
  absl::StatusOr<Value> dependent = remote->Materialize(*selected);
  EXPECT_EQ(dependent.status().code(), result.status().code());
  EXPECT_EQ(dependent.status().message(), result.status().message());
  // The executor is still usable.
  EXPECT_TRUE(remote->health().ok());
  absl::StatusOr<Value> ok = RunComputation(*remote, Compile("(x: float32) -> x"),
                                 Scalar(2.0f));
  ASSERT_TRUE(ok.ok()) << ok.status();
}

TEST_F(RemoteWorkerTest, ARejectedCreateIsTheValuesResultAndItsDependents) {
  std::unique_ptr<RemoteExecutor> remote = Connect(2);
  ASSERT_NE(remote, nullptr);
  // Three members for an executor of two clients: the worker refuses it.
  auto bad = remote->CreateValue(Value::Federated(
      Placement::kClients, false, {Scalar(1), Scalar(2), Scalar(3)}));
  ASSERT_TRUE(bad.ok()) << bad.status();
  auto wrapped = remote->CreateStruct({{"", bad->id()}});
  ASSERT_TRUE(wrapped.ok());
  auto result = remote->Materialize(*bad);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              StartsWith(absl::StrCat("worker ", worker_->target(), ": ")));
  auto dependent = remote->Materialize(*wrapped);
  EXPECT_EQ(dependent.status(), result.status());
  EXPECT_TRUE(remote->health().ok());
}

TEST_F(RemoteWorkerTest, RequestsThatAreMalformedFailAtOnce) {
  std::unique_ptr<RemoteExecutor> remote = Connect(0);
  ASSERT_NE(remote, nullptr);
  auto a = remote->CreateValue(Scalar(1.0f));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(remote->CreateCall(12345, a->id()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(remote->CreateSelection(*a, -1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(remote->CreateStruct({{"", 999}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(remote->Materialize(999).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(remote->Dispose(999).code(), absl::StatusCode::kInvalidArgument);
  PartialAggregateSpec spec;
  spec.op = PartialAggregateOp::kSum;
  spec.value = 999;
  EXPECT_EQ(remote->PartialAggregate(spec).status().code(),
            absl::StatusCode::kInvalidArgument);
  // An untyped computation is checked here.
  auto parsed = ir::ParseComputation("(x: float32) -> generic_plus(x, true)");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(remote->CreateValue(*parsed).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(remote->NumValues(), 1);
}

TEST_F(RemoteWorkerTest, Moves64MiBBothWaysInSmallChunks) {
  constexpr int64_t kElements = int64_t{16} << 20;  // 64 MiB of float32
  auto buffer = MutableTensor::Uninitialized(DType::kFloat32, {kElements});
  ASSERT_TRUE(buffer.ok());
  absl::Span<float> data = buffer->mutable_data<float>();
  uint32_t bits = 12345;
  for (int64_t i = 0; i < kElements; ++i) {
    bits = bits * 1664525u + 1013904223u;
    data[i] = static_cast<float>(bits >> 8) * 0x1p-24f - 0.5f;
  }
  const Value big(std::move(*buffer).Freeze());

  RemoteOptions options;
  options.chunk_bytes = 256 << 10;
  std::unique_ptr<RemoteExecutor> remote = Connect(0, options);
  ASSERT_NE(remote, nullptr);
  auto sent = remote->CreateValue(big);
  ASSERT_TRUE(sent.ok()) << sent.status();
  absl::StatusOr<Value> back = remote->Materialize(*sent);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == big);

  ir::NodePtr twice = Compile(absl::StrCat(
      "(x: float32[", kElements, "]) -> generic_plus(x, generic_multiply(x, x))"));
  ASSERT_NE(twice, nullptr);
  absl::StatusOr<Value> local = RunLocally(twice, big, 0);
  ASSERT_TRUE(local.ok()) << local.status();
  absl::StatusOr<Value> result = RunComputation(*remote, twice, big);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(*result == *local);

  const RemoteStats stats = remote->stats();
  EXPECT_EQ(stats.streamed_uploads, 2);
  EXPECT_EQ(stats.streamed_downloads, 2);
}

TEST_F(RemoteWorkerTest, DisposedValuesAreFreedOnTheWorker) {
  // Each operation its own call: values reach the worker at once, and
  // their disposals go out at once.
  constexpr int kValues = 200;
  RemoteOptions unbatched;
  unbatched.batch = false;
  std::unique_ptr<RemoteExecutor> remote = Connect(2, unbatched);
  ASSERT_NE(remote, nullptr);
  std::shared_ptr<Executor> server = WorkerExecutor(2);
  ASSERT_NE(server, nullptr);
  const int64_t before = server->NumValues();
  {
    std::vector<OwnedValue> values;
    for (int i = 0; i < kValues; ++i) {
      auto value = remote->CreateValue(Scalar(static_cast<float>(i)));
      ASSERT_TRUE(value.ok());
      values.push_back(*std::move(value));
    }
    EXPECT_EQ(remote->NumValues(), kValues);
    EXPECT_TRUE(
        WaitFor([&] { return server->NumValues() == before + kValues; }))
        << server->NumValues();
    EXPECT_EQ(worker_->service().num_values(), kValues);
  }
  EXPECT_EQ(remote->NumValues(), 0);
  EXPECT_TRUE(WaitFor([&] { return server->NumValues() == before; }))
      << server->NumValues();
  EXPECT_EQ(worker_->service().num_values(), 0);
  const RemoteStats stats = remote->stats();
  EXPECT_EQ(stats.released_refs, kValues);
  EXPECT_EQ(stats.disposed_refs, kValues);
  EXPECT_LE(stats.dispose_rpcs, kValues);

  // Values dropped before their refs arrive are freed too, and so are the
  // operands of a computation once it is done.
  for (int i = 0; i < kValues; ++i) {
    auto fn = remote->CreateValue(Compile("(x: float32) -> x"));
    auto x = remote->CreateValue(Scalar(1.0f));
    ASSERT_TRUE(fn.ok() && x.ok());
    ASSERT_TRUE(remote->CreateCall(*fn, *x).ok());
  }
  EXPECT_EQ(remote->NumValues(), 0);
  EXPECT_TRUE(WaitFor([&] {
    return remote->stats().disposed_refs == 4 * kValues &&
           server->NumValues() == before;
  })) << server->NumValues();
}

TEST_F(RemoteWorkerTest, BatchesCarryCreatesAndDisposals) {
  constexpr int kValues = 200;
  std::unique_ptr<RemoteExecutor> remote = Connect(2);
  ASSERT_NE(remote, nullptr);
  std::shared_ptr<Executor> server = WorkerExecutor(2);
  ASSERT_NE(server, nullptr);
  const int64_t before = server->NumValues();
  ir::NodePtr twice = Compile("(x: float32) -> generic_plus(x, x)");
  {
    // A chain of calls, each on the one before: nothing goes out until
    // the last is materialized, then all of it in one batch.
    std::vector<OwnedValue> values;
    auto fn = remote->CreateValue(twice);
    ASSERT_TRUE(fn.ok());
    auto x = remote->CreateValue(Scalar(1.0f));
    ASSERT_TRUE(x.ok());
    values.push_back(*std::move(x));
    for (int i = 0; i < 10; ++i) {
      auto next = remote->CreateCall(*fn, values.back());
      ASSERT_TRUE(next.ok());
      values.push_back(*std::move(next));
    }
    EXPECT_EQ(remote->stats().batches, 0);
    EXPECT_EQ(worker_->service().num_values(), 0);
    auto result = remote->Materialize(values.back());
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(ir::PrintValue(*result), "1024.0");
    EXPECT_EQ(remote->stats().batches, 1);
    EXPECT_EQ(remote->stats().batched_operations, 12);
    EXPECT_EQ(worker_->service().num_values(), 12);
  }
  // The handles are gone: their refs ride in the next batch.
  EXPECT_EQ(remote->stats().released_refs, 12);
  EXPECT_EQ(worker_->service().num_values(), 12);
  auto one = remote->CreateValue(Scalar(3.0f));
  ASSERT_TRUE(one.ok());
  ASSERT_TRUE(remote->Materialize(*one).ok());
  EXPECT_EQ(remote->stats().batches, 2);
  EXPECT_EQ(remote->stats().disposed_refs, 12);
  EXPECT_EQ(worker_->service().num_values(), 1);
  EXPECT_EQ(server->NumValues(), before + 1);

  // Many operations go out without waiting for demand.
  std::vector<OwnedValue> many;
  for (int i = 0; i < 3 * kValues; ++i) {
    auto v = remote->CreateValue(Scalar(static_cast<float>(i)));
    ASSERT_TRUE(v.ok());
    many.push_back(*std::move(v));
  }
  // 600 values: two full batches of 256 go out, 88 wait.
  EXPECT_TRUE(
      WaitFor([&] { return worker_->service().num_values() == 1 + 512; }));
  EXPECT_EQ(remote->stats().batches, 4);
}

TEST_F(RemoteWorkerTest, ErrorsInABatchFailTheirValueAndItsDependents) {
  std::unique_ptr<RemoteExecutor> remote = Connect(2);
  ASSERT_NE(remote, nullptr);
  auto fn = remote->CreateValue(Compile("(x: float32) -> generic_plus(x, x)"));
  auto good = remote->CreateValue(Scalar(2.0f));
  ASSERT_TRUE(fn.ok() && good.ok());
  // Selecting from a tensor fails on the worker; the call on it fails with
  // that error; the value beside it is fine.
  auto bad = remote->CreateSelection(*good, 3);
  ASSERT_TRUE(bad.ok());
  auto dependent = remote->CreateCall(*fn, *bad);
  auto fine = remote->CreateCall(*fn, *good);
  ASSERT_TRUE(dependent.ok() && fine.ok());
  absl::StatusOr<Value> d = remote->Materialize(*dependent);
  ASSERT_FALSE(d.ok());
  absl::StatusOr<Value> b = remote->Materialize(*bad);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(d.status(), b.status());
  EXPECT_THAT(std::string(b.status().message()),
              HasSubstr("worker " + worker_->target()));
  absl::StatusOr<Value> f = remote->Materialize(*fine);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(ir::PrintValue(*f), "4.0");
  EXPECT_EQ(remote->stats().batches, 1);
}

TEST_F(RemoteWorkerTest, DestroyingWithCallsInFlightDisposesOfTheExecutor) {
  for (int round = 0; round < 5; ++round) {
    std::unique_ptr<RemoteExecutor> remote = Connect(3);
    ASSERT_NE(remote, nullptr);
    EXPECT_EQ(worker_->service().num_executors(), 1);
    ir::NodePtr mean = LoadExample("mean.fed");
    for (int i = 0; i < 20; ++i) {
      auto fn = remote->CreateValue(mean);
      auto x = remote->CreateValue(Value::Federated(
          Placement::kClients, false, {Scalar(1), Scalar(2), Scalar(i)}));
      ASSERT_TRUE(fn.ok() && x.ok());
      auto call = remote->CreateCall(*fn, *x);
      ASSERT_TRUE(call.ok());
      call->Release();  // dropped with the executor
    }
    remote.reset();
    EXPECT_EQ(worker_->service().num_executors(), 0);
  }
}

TEST_F(RemoteWorkerTest, PartialAggregatesMatchTheInProcessOnes) {
  // The last shard of 1048 clients (blocks of 16): clients [1008, 1048),
  // two whole blocks and a part of one.
  constexpr int64_t kClients = 40;
  constexpr int64_t kFirst = 1008;
  std::vector<Value> members;
  for (int i = 0; i < kClients; ++i) {
    members.push_back(Value(Tensor::Vector<float>({0.1f * i, 1.0f / (i + 1)})));
  }
  const Value clients = Value::Federated(Placement::kClients, false, members);
  auto local_stack = local_->ExecutorFor(kClients);
  ASSERT_TRUE(local_stack.ok());
  std::unique_ptr<RemoteExecutor> remote = Connect(kClients);
  ASSERT_NE(remote, nullptr);

  for (const PartialAggregateOp op :
       {PartialAggregateOp::kSum, PartialAggregateOp::kMax}) {
    PartialAggregateSpec spec;
    spec.op = op;
    spec.first_client = kFirst;
    spec.total_clients = kClients + kFirst;
    spec.block_size = AggregationBlockSize(kClients + kFirst);
    auto lv = (*local_stack)->CreateValue(clients);
    ASSERT_TRUE(lv.ok());
    spec.value = lv->id();
    auto expected = (*local_stack)->PartialAggregate(spec);
    ASSERT_TRUE(expected.ok()) << expected.status();

    auto rv = remote->CreateValue(clients);
    ASSERT_TRUE(rv.ok());
    spec.value = rv->id();
    auto nodes = remote->PartialAggregate(spec);
    ASSERT_TRUE(nodes.ok()) << nodes.status();
    ASSERT_EQ(nodes->size(), expected->size());
    for (size_t i = 0; i < nodes->size(); ++i) {
      const PartialNode& a = (*nodes)[i];
      const PartialNode& b = (*expected)[i];
      EXPECT_EQ(a.level, b.level);
      EXPECT_EQ(a.index, b.index);
      EXPECT_EQ(a.count, b.count);
      EXPECT_EQ(a.total_weight, b.total_weight);
      ASSERT_EQ(a.value.has_value(), b.value.has_value());
      if (a.value.has_value()) {
        EXPECT_TRUE(*a.value == *b.value) << PartialAggregateOpName(op);
      }
    }
  }
}

TEST_F(RemoteWorkerTest, AWorkerRestartedWithinTheRetryWindowIsReached) {
  // The worker listens on a port below the ephemeral range, which no other
  // test's server (they bind port 0) can take while it is down.
  worker_->Shutdown(absl::ZeroDuration());
  worker_.reset();
  absl::Status started = absl::UnavailableError("no free port");
  for (int tries = 0; tries < 5 && !started.ok(); ++tries) {
    const int free_port = service::test::FreePortBelowEphemeralRange();
    if (free_port != 0) started = StartWorker(free_port);
  }
  ASSERT_TRUE(started.ok()) << started;
  const int port = worker_->port();
  const std::string target = worker_->target();
  worker_->Shutdown(absl::ZeroDuration());
  worker_.reset();

  // Until the worker is back, the port refuses gRPC: the first connection
  // the client makes is accepted and closed, so its first attempt fails
  // for sure before the worker restarts.
  RawListener refuser(port);
  ASSERT_TRUE(refuser.ok());
  absl::Status restarted = absl::UnknownError("not restarted");
  std::thread restarter([&] {
    if (!refuser.AcceptAndClose()) return;
    refuser.Close();
    restarted = StartWorker(port);
  });
  RemoteOptions options;
  options.name = target;
  options.max_attempts = 1000;
  options.initial_backoff = absl::Milliseconds(5);
  options.max_backoff = absl::Milliseconds(50);
  auto remote =
      RemoteExecutor::Create(FastReconnectChannel(target), 3, options);
  restarter.join();
  ASSERT_TRUE(restarted.ok()) << restarted;
  ASSERT_TRUE(remote.ok()) << remote.status();
  EXPECT_GE((*remote)->stats().retries, 1);
  absl::StatusOr<Value> mean = RunComputation(**remote, LoadExample("mean.fed"),
                                   Value::Federated(Placement::kClients, false,
                                                    {Scalar(1), Scalar(2),
                                                     Scalar(6)}));
  ASSERT_TRUE(mean.ok()) << mean.status();
  EXPECT_EQ(*mean, Value::Federated(Placement::kServer, true, {Scalar(3)}));
}

TEST_F(RemoteWorkerTest, ALostWorkerIsAnErrorWithinTheDeadline) {
  RemoteOptions options;
  options.max_attempts = 3;
  options.initial_backoff = absl::Milliseconds(10);
  std::unique_ptr<RemoteExecutor> remote = Connect(1, options);
  ASSERT_NE(remote, nullptr);
  auto before = remote->CreateValue(Scalar(1.0f));
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(remote->Materialize(*before).ok());
  worker_->Shutdown(absl::ZeroDuration());
  worker_.reset();

  RunWithDeadline("lost worker", [&] {
    auto value = remote->CreateValue(Scalar(2.0f));
    ASSERT_TRUE(value.ok());
    auto result = remote->Materialize(*value);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable)
        << result.status();
    EXPECT_THAT(std::string(result.status().message()), StartsWith("worker "));
    EXPECT_THAT(std::string(result.status().message()), HasSubstr("(after 3 attempts)"));
    result = remote->Materialize(*before);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable)
        << result.status();
  });
}

TEST_F(RemoteWorkerTest, AWorkerThatNeverAnswersIsAnErrorWithinTheDeadline) {
  RawListener hole(0);  // connections complete, nothing ever answers
  ASSERT_TRUE(hole.ok());
  RemoteOptions options;
  options.name = "hole";
  options.attempt_timeout = absl::Milliseconds(100);
  options.call_timeout = absl::Seconds(2);
  options.max_attempts = 3;
  options.initial_backoff = absl::Milliseconds(10);
  RunWithDeadline("black hole", [&] {
    auto remote =
        RemoteExecutor::Create(FastReconnectChannel(hole.target()), 1, options);
    ASSERT_FALSE(remote.ok());
    // gRPC gives up on the connection (UNAVAILABLE) or the attempts run out
    // of time (DEADLINE_EXCEEDED), whichever comes first.
    EXPECT_THAT(remote.status().code(),
                ::testing::AnyOf(absl::StatusCode::kUnavailable,
                                 absl::StatusCode::kDeadlineExceeded))
        << remote.status();
    EXPECT_THAT(std::string(remote.status().message()), StartsWith("worker hole: "));
  });
}

TEST_F(RemoteWorkerTest, AnExecutorTheWorkerDroppedBecomesUnusable) {
  std::unique_ptr<RemoteExecutor> remote = Connect(1);
  ASSERT_NE(remote, nullptr);
  auto kept = remote->CreateValue(Scalar(1.0f));
  ASSERT_TRUE(kept.ok());
  ASSERT_TRUE(remote->Materialize(*kept).ok());

  // Another client disposes of the executor behind this one's back.
  auto channel = MakeChannel(worker_->target());
  ASSERT_TRUE(channel.ok());
  auto stub = v0::ExecutorGroup::NewStub(*channel);
  grpc::ClientContext context;
  v0::DisposeExecutorRequest request;
  request.mutable_executor()->set_id(remote->executor_id());
  v0::DisposeExecutorResponse response;
  ASSERT_TRUE(stub->DisposeExecutor(&context, request, &response).ok());

  auto value = remote->CreateValue(Scalar(2.0f));
  ASSERT_TRUE(value.ok());
  auto result = remote->Materialize(*value);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition)
      << result.status();
  EXPECT_THAT(std::string(result.status().message()),
              StartsWith(absl::StrCat("worker ", worker_->target(),
                                      ": the worker's executor is unusable")));
  EXPECT_EQ(remote->health().code(), absl::StatusCode::kFailedPrecondition);
  // Everything later fails the same way, without asking the worker.
  const int64_t attempts = remote->stats().attempts;
  EXPECT_EQ(remote->Materialize(*kept).status(), remote->health());
  auto later = remote->CreateValue(Scalar(3.0f));
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(remote->Materialize(*later).status(), remote->health());
  EXPECT_EQ(remote->stats().attempts, attempts);
}

TEST_F(RemoteWorkerTest, CancelStopsARunningComputation) {
  constexpr int64_t kClients = 100'000'000;
  std::shared_ptr<Executor> server = WorkerExecutor(kClients);
  ASSERT_NE(server, nullptr);
  std::unique_ptr<RemoteExecutor> remote = Connect(kClients);
  ASSERT_NE(remote, nullptr);
  ir::NodePtr computation = Compile(test_util::ReadFile(
      SourceDir() / "testdata/computations/long_running.fed"));
  ASSERT_NE(computation, nullptr);
  auto zeros = Tensor::Zeros(DType::kFloat32, {64, 64});
  ASSERT_TRUE(zeros.ok());
  auto fn = remote->CreateValue(computation);
  auto m = remote->CreateValue(
      Value::Federated(Placement::kServer, true, {Value(*zeros)}));
  ASSERT_TRUE(fn.ok() && m.ok());
  auto call = remote->CreateCall(*fn, *m);
  ASSERT_TRUE(call.ok());

  RunWithDeadline("cancel", [&] {
    absl::StatusOr<Value> result;
    std::thread waiter([&] { result = remote->Materialize(*call); });
    // The creates went out and the worker computes.
    EXPECT_TRUE(WaitFor(
        [&] { return worker_->service().computations_in_flight() >= 1; }));
    remote->Cancel();
    waiter.join();
    EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled)
        << result.status();
    EXPECT_EQ(remote->health().code(), absl::StatusCode::kCancelled);
    auto later = remote->CreateValue(Scalar(1.0f));
    ASSERT_TRUE(later.ok());
    EXPECT_EQ(remote->Materialize(*later).status().code(),
              absl::StatusCode::kCancelled);
    // Cancel disposed of the worker's executor.
    EXPECT_TRUE(
        WaitFor([&] { return worker_->service().num_executors() == 0; }));
  });
  server->Cancel();  // the worker's computation (DisposeExecutor keeps it)
}

TEST_F(RemoteWorkerTest, TheTokenIsSentAndChecked) {
  worker_->Shutdown(absl::ZeroDuration());
  worker_.reset();
  ASSERT_TRUE(StartWorker(0, "s3cret").ok());

  RemoteOptions options;
  options.token = "s3cret";
  std::unique_ptr<RemoteExecutor> remote = Connect(0, options);
  ASSERT_NE(remote, nullptr);
  absl::StatusOr<Value> result =
      RunComputation(*remote, Compile("(x: float32) -> x"), Scalar(2.0f));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, Scalar(2.0f));

  auto channel = MakeChannel(worker_->target());
  ASSERT_TRUE(channel.ok());
  for (const std::string token : {"", "wrong"}) {
    RemoteOptions bad;
    bad.name = "w";
    bad.token = token;
    auto refused = RemoteExecutor::Create(*channel, 0, bad);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated)
        << refused.status();
    EXPECT_THAT(std::string(refused.status().message()), StartsWith("worker w: "));
  }
}

TEST_F(RemoteWorkerTest, ConcurrentCallersGetTheirOwnResults) {
  std::unique_ptr<RemoteExecutor> remote = Connect(3);
  ASSERT_NE(remote, nullptr);
  ir::NodePtr mean = LoadExample("mean.fed");
  ASSERT_NE(mean, nullptr);
  RunWithDeadline("concurrent", [&] {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 10; ++i) {
          const float x = static_cast<float>(t * 100 + i);
          absl::StatusOr<Value> result =
              RunComputation(*remote, mean,
                  Value::Federated(Placement::kClients, false,
                                   {Scalar(x), Scalar(x), Scalar(x)}));
          ASSERT_TRUE(result.ok()) << result.status();
          EXPECT_EQ(*result,
                    Value::Federated(Placement::kServer, true, {Scalar(x)}));
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
  });
  EXPECT_EQ(remote->NumValues(), 0);
}

TEST(RemoteExecutorCreateTest, RefusesBadArguments) {
  EXPECT_EQ(RemoteExecutor::Create(nullptr, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto channel = MakeChannel("127.0.0.1:1");
  ASSERT_TRUE(channel.ok());
  EXPECT_EQ(RemoteExecutor::Create(*channel, -1).status().code(),
            absl::StatusCode::kInvalidArgument);
  RemoteOptions options;
  options.max_attempts = 0;
  EXPECT_EQ(RemoteExecutor::Create(*channel, 1, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = {};
  options.chunk_bytes = 0;
  EXPECT_EQ(RemoteExecutor::Create(*channel, 1, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ================================================ against a fake worker

// A worker that answers the executor protocol from a script: for each call
// (the n-th of its method, from 0) an answer (OK or an error) or a hold
// (answered OK by Release). Create calls answer refs "v1", "v2", ...;
// Compute answers float32 1.5, or what set_compute_answer gave. It serves no
// stream extension, as a foreign worker of the plain protocol.
class FakeWorker final : public v0::ExecutorGroup::CallbackService {
 public:
  struct Reply {
    grpc::Status status = grpc::Status::OK;
    bool hold = false;
  };
  using Script = std::function<Reply(const std::string& method, int n)>;

  struct Call {
    std::string method;
    std::string request_id;
    std::string authorization;
    std::vector<std::string> refs;  // the refs the request names
    std::optional<Value> value;     // CreateValue's value, decoded
    std::string answer;             // the ref answered, once answered
    std::string array_content;      // metadata ir::kArrayContentMetadataKey
    std::optional<v0::Value> proto; // CreateValue's value as sent
  };

  explicit FakeWorker(Script script) : script_(std::move(script)) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    // Its own port, never shared with another test's listener.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    // Listening (and so serving) once BuildAndStart returns.
    EXPECT_NE(server_, nullptr);
    EXPECT_NE(port_, 0);
  }
  ~FakeWorker() override {
    Release();
    if (server_ == nullptr) return;
    server_->Shutdown();
    server_->Wait();
  }

  std::string target() const { return absl::StrCat("127.0.0.1:", port_); }

  // What Compute answers from now on.
  void set_compute_answer(v0::Value answer) {
    std::lock_guard<std::mutex> lock(mu_);
    compute_answer_ = std::move(answer);
  }

  std::vector<Call> calls(const std::string& method) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Call> out;
    for (const Call& call : calls_) {
      if (call.method == method) out.push_back(call);
    }
    return out;
  }
  int count(const std::string& method) const {
    return static_cast<int>(calls(method).size());
  }
  // Answers every held call (OK).
  void Release() {
    std::vector<std::function<void()>> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      held.swap(held_);
    }
    for (auto& finish : held) finish();
  }

  grpc::ServerUnaryReactor* GetExecutor(
      grpc::CallbackServerContext* context, const v0::GetExecutorRequest*,
      v0::GetExecutorResponse* response) override {
    return Handle(context, "GetExecutor", {}, std::nullopt, [response] {
      response->mutable_executor()->set_id("ex");
      return std::string("ex");
    });
  }
  grpc::ServerUnaryReactor* CreateValue(
      grpc::CallbackServerContext* context,
      const v0::CreateValueRequest* request,
      v0::CreateValueResponse* response) override {
    std::optional<Value> value;
    if (!ir::ContainsComputation(request->value())) {
      auto decoded = ir::ValueFromProto(request->value());
      if (decoded.ok()) value = *decoded;
    }
    return Handle(context, "CreateValue", {}, value, NewRef(response),
                  request->value());
  }
  grpc::ServerUnaryReactor* CreateCall(
      grpc::CallbackServerContext* context,
      const v0::CreateCallRequest* request,
      v0::CreateCallResponse* response) override {
    return Handle(context, "CreateCall",
                  {request->function_ref().id(), request->argument_ref().id()},
                  std::nullopt, NewRef(response));
  }
  grpc::ServerUnaryReactor* CreateStruct(
      grpc::CallbackServerContext* context,
      const v0::CreateStructRequest* request,
      v0::CreateStructResponse* response) override {
    std::vector<std::string> refs;
    for (const auto& element : request->element()) {
      refs.push_back(element.value_ref().id());
    }
    return Handle(context, "CreateStruct", refs, std::nullopt,
                  NewRef(response));
  }
  grpc::ServerUnaryReactor* CreateSelection(
      grpc::CallbackServerContext* context,
      const v0::CreateSelectionRequest* request,
      v0::CreateSelectionResponse* response) override {
    return Handle(context, "CreateSelection", {request->source_ref().id()},
                  std::nullopt, NewRef(response));
  }
  grpc::ServerUnaryReactor* Compute(grpc::CallbackServerContext* context,
                                    const v0::ComputeRequest* request,
                                    v0::ComputeResponse* response) override {
    return Handle(context, "Compute", {request->value_ref().id()},
                  std::nullopt, [this, response] {
                    std::lock_guard<std::mutex> lock(mu_);
                    if (compute_answer_.has_value()) {
                      *response->mutable_value() = *compute_answer_;
                    } else {
                      EXPECT_TRUE(ir::ValueToProto(Scalar(1.5f),
                                                   response->mutable_value())
                                      .ok());
                    }
                    return std::string();
                  });
  }
  grpc::ServerUnaryReactor* Dispose(grpc::CallbackServerContext* context,
                                    const v0::DisposeRequest* request,
                                    v0::DisposeResponse*) override {
    std::vector<std::string> refs;
    for (const auto& ref : request->value_ref()) refs.push_back(ref.id());
    return Handle(context, "Dispose", refs, std::nullopt,
                  [] { return std::string(); });
  }
  grpc::ServerUnaryReactor* DisposeExecutor(
      grpc::CallbackServerContext* context,
      const v0::DisposeExecutorRequest* request,
      v0::DisposeExecutorResponse*) override {
    return Handle(context, "DisposeExecutor", {request->executor().id()},
                  std::nullopt, [] { return std::string(); });
  }

 private:
  template <typename Response>
  std::function<std::string()> NewRef(Response* response) {
    return [this, response] {
      std::string ref;
      {
        std::lock_guard<std::mutex> lock(mu_);
        ref = absl::StrCat("v", ++next_ref_);
      }
      response->mutable_value_ref()->set_id(ref);
      return ref;
    };
  }

  static std::string Metadata(const grpc::CallbackServerContext* context,
                              const std::string& key) {
    const auto& metadata = context->client_metadata();
    auto it = metadata.find(key);
    if (it == metadata.end()) return "";
    return std::string(it->second.data(), it->second.size());
  }

  // Records the call, then answers it (`answer` fills an OK response and
  // returns the ref it answered) or holds it, as the script says.
  grpc::ServerUnaryReactor* Handle(
      grpc::CallbackServerContext* context, const std::string& method,
      std::vector<std::string> refs, std::optional<Value> value,
      std::function<std::string()> answer,
      std::optional<v0::Value> proto = std::nullopt) {
    size_t index = 0;
    int n = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      n = counts_[method]++;
      index = calls_.size();
      calls_.push_back(Call{method, Metadata(context, kRequestIdMetadataKey),
                            Metadata(context, kAuthorizationMetadataKey),
                            std::move(refs), std::move(value), "",
                            Metadata(context, ir::kArrayContentMetadataKey),
                            std::move(proto)});
    }
    const Reply reply = script_(method, n);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    auto finish = [this, reactor, index, answer = std::move(answer),
                   status = reply.status] {
      if (status.ok()) {
        std::string ref = answer();
        std::lock_guard<std::mutex> lock(mu_);
        calls_[index].answer = std::move(ref);
      }
      reactor->Finish(status);
    };
    if (reply.hold) {
      std::lock_guard<std::mutex> lock(mu_);
      held_.push_back(std::move(finish));
    } else {
      finish();
    }
    return reactor;
  }

  const Script script_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  mutable std::mutex mu_;
  std::vector<Call> calls_;
  std::map<std::string, int> counts_;
  std::vector<std::function<void()>> held_;
  int next_ref_ = 0;
  std::optional<v0::Value> compute_answer_;  // guarded by mu_
};

void ExpectStatus(const absl::Status& status, absl::StatusCode code,
                  const std::string& message) {
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_EQ(status.message(), message);
}

FakeWorker::Reply Answer() { return {}; }
FakeWorker::Reply Fail(grpc::StatusCode code, const std::string& message,
                       const std::string& details = "") {
  return {grpc::Status(code, message, details), false};
}
FakeWorker::Reply Hold() { return {grpc::Status::OK, true}; }

// The fake speaks the plain protocol: each operation its own call (the
// fallback from batches has a test of its own).
RemoteOptions Unbatched() {
  RemoteOptions options;
  options.batch = false;
  return options;
}

std::unique_ptr<RemoteExecutor> ConnectFake(const FakeWorker& fake,
                                            RemoteOptions options = Unbatched()) {
  options.name = "fake";
  if (options.initial_backoff == RemoteOptions().initial_backoff) {
    options.initial_backoff = absl::Milliseconds(1);
  }
  auto remote = RemoteExecutor::Create(FastReconnectChannel(fake.target()), 1,
                                       options);
  EXPECT_TRUE(remote.ok()) << remote.status();
  return remote.ok() ? *std::move(remote) : nullptr;
}

TEST(RemoteFakeTest, RetriesUnavailableWithTheSameRequestIdAndToken) {
  FakeWorker fake([](const std::string& method, int n) {
    if (method == "CreateValue" && n < 2) {
      return Fail(grpc::StatusCode::UNAVAILABLE, "down");
    }
    return Answer();
  });
  RemoteOptions options = Unbatched();
  options.token = "tok";
  std::unique_ptr<RemoteExecutor> remote = ConnectFake(fake, options);
  ASSERT_NE(remote, nullptr);
  auto first = remote->CreateValue(Scalar(1.0f));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(remote->Materialize(*first).ok());
  auto second = remote->CreateValue(Scalar(2.0f));
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(remote->Materialize(*second).ok());

  const std::vector<FakeWorker::Call> creates = fake.calls("CreateValue");
  ASSERT_EQ(creates.size(), 4u);
  EXPECT_FALSE(creates[0].request_id.empty());
  EXPECT_EQ(creates[1].request_id, creates[0].request_id);
  EXPECT_EQ(creates[2].request_id, creates[0].request_id);
  EXPECT_NE(creates[3].request_id, creates[0].request_id);
  for (const std::string method :
       {"GetExecutor", "CreateValue", "Compute"}) {
    for (const FakeWorker::Call& call : fake.calls(method)) {
      EXPECT_EQ(call.authorization, "Bearer tok") << method;
    }
  }
  EXPECT_EQ(remote->stats().retries, 2);
}

TEST(RemoteFakeTest, RetriesAnAttemptThatOutlivesItsDeadline) {
  FakeWorker fake([](const std::string& method, int n) {
    if (method == "CreateValue" && n == 0) return Hold();
    return Answer();
  });
  RemoteOptions options = Unbatched();
  options.attempt_timeout = absl::Milliseconds(100);
  std::unique_ptr<RemoteExecutor> remote = ConnectFake(fake, options);
  ASSERT_NE(remote, nullptr);
  auto value = remote->CreateValue(Scalar(1.0f));
  ASSERT_TRUE(value.ok());
  EXPECT_TRUE(remote->Materialize(*value).ok());
  const std::vector<FakeWorker::Call> creates = fake.calls("CreateValue");
  ASSERT_EQ(creates.size(), 2u);
  EXPECT_EQ(creates[1].request_id, creates[0].request_id);
}

TEST(RemoteFakeTest, GivesUpAfterMaxAttempts) {
  FakeWorker fake([](const std::string& method, int) {
    if (method == "CreateValue") {
      return Fail(grpc::StatusCode::UNAVAILABLE, "down");
    }
    return Answer();
  });
  RemoteOptions options = Unbatched();
  options.max_attempts = 3;
  std::unique_ptr<RemoteExecutor> remote = ConnectFake(fake, options);
  ASSERT_NE(remote, nullptr);
  auto value = remote->CreateValue(Scalar(1.0f));
  ASSERT_TRUE(value.ok());
  auto result = remote->Materialize(*value);
  ExpectStatus(result.status(), absl::StatusCode::kUnavailable,
               "worker fake: down (after 3 attempts)");
  EXPECT_EQ(WorkerOf(result.status()), "fake");
  EXPECT_EQ(fake.count("CreateValue"), 3);
  EXPECT_TRUE(remote->health().ok());
}

TEST(RemoteFakeTest, OtherCodesPassThroughWithoutRetry) {
  FakeWorker fake([](const std::string& method, int) {
    if (method == "CreateCall") {
      return Fail(grpc::StatusCode::INVALID_ARGUMENT, "bad call");
    }
    return Answer();
  });
  std::unique_ptr<RemoteExecutor> remote = ConnectFake(fake);
  ASSERT_NE(remote, nullptr);
  auto f = remote->CreateValue(Scalar(1.0f));
  ASSERT_TRUE(f.ok());
  auto call = remote->CreateCall(*f);
  ASSERT_TRUE(call.ok());
  ExpectStatus(remote->Materialize(*call).status(),
               absl::StatusCode::kInvalidArgument, "worker fake: bad call");
  EXPECT_EQ(fake.count("CreateCall"), 1);
  EXPECT_TRUE(remote->health().ok());
}

TEST(RemoteFakeTest, FailedPreconditionMakesTheExecutorUnusable) {
  FakeWorker fake([](const std::string& method, int) {
    if (method == "CreateCall") {
      return Fail(grpc::StatusCode::FAILED_PRECONDITION,
                  "unknown executor id ex");
    }
    return Answer();
  });
  std::unique_ptr<RemoteExecutor> remote = ConnectFake(fake);
  ASSERT_NE(remote, nullptr);
  auto f = remote->CreateValue(Scalar(1.0f));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(remote->Materialize(*f).ok());
  auto call = remote->CreateCall(*f);
  ASSERT_TRUE(call.ok());
  const std::string unusable =
      "worker fake: the worker's executor is unusable: unknown executor id "
      "ex";
  const auto kCode = absl::StatusCode::kFailedPrecondition;
  ExpectStatus(remote->Materialize(*call).status(), kCode, unusable);
  ExpectStatus(remote->health(), kCode, unusable);
  ExpectStatus(remote->Materialize(*f).status(), kCode, unusable);
  auto later = remote->CreateValue(Scalar(2.0f));
  ASSERT_TRUE(later.ok());
  ExpectStatus(remote->Materialize(*later).status(), kCode, unusable);
  EXPECT_EQ(fake.count("CreateValue"), 1);
  EXPECT_EQ(fake.count("Compute"), 1);
}

TEST(RemoteFakeTest, ErrorsWithALocationKeepTheirMessage) {
  FakeWorker fake([](const std::string& method, int n) {
    if (method == "Compute") {
      return Fail(n == 0 ? grpc::StatusCode::INVALID_ARGUMENT
                         : grpc::StatusCode::FAILED_PRECONDITION,
                  "mean.fed:1:2: federated_mean: boom", "fedexec.dev/where");
    }
    return Answer();
  });
  std::unique_ptr<RemoteExecutor> remote = ConnectFake(fake);
  ASSERT_NE(remote, nullptr);
  auto value = remote->CreateValue(Scalar(1.0f));
  ASSERT_TRUE(value.ok());
  for (int i = 0; i < 2; ++i) {
    absl::Status status = remote->Materialize(*value).status();
    EXPECT_EQ(status.message(), "mean.fed:1:2: federated_mean: boom");
    EXPECT_TRUE(HasLocation(status));
    EXPECT_EQ(WorkerOf(status), "fake");
  }
  // A function's FAILED_PRECONDITION is not the executor's.
  EXPECT_TRUE(remote->health().ok());
}

TEST(RemoteFakeTest, FallsBackToUnaryCallsWithoutTheStreamExtension) {
  FakeWorker fake([](const std::string&, int) { return Answer(); });
  RemoteOptions options = Unbatched();
  options.stream_threshold_bytes = 16;
  // Told it is a fedexec worker: the fallback is what is tested.
  options.protocol = WorkerProtocol::kFedexec;
  std::unique_ptr<RemoteExecutor> remote = ConnectFake(fake, options);
  ASSERT_NE(remote, nullptr);
  const Value large(Tensor::Vector<float>(std::vector<float>(100, 2.0f)));
  for (int i = 0; i < 2; ++i) {
    auto value = remote->CreateValue(large);
    ASSERT_TRUE(value.ok());
    absl::StatusOr<Value> result = remote->Materialize(*value);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(*result, Scalar(1.5f));  // the fake's answer
  }
  const std::vector<FakeWorker::Call> creates = fake.calls("CreateValue");
  ASSERT_EQ(creates.size(), 2u);
  EXPECT_TRUE(creates[0].value.has_value() && *creates[0].value == large);
  EXPECT_EQ(fake.count("Compute"), 2);
  EXPECT_EQ(remote->stats().streamed_uploads, 0);
  EXPECT_EQ(remote->stats().streamed_downloads, 0);
}

TEST(RemoteFakeTest, FallsBackToOneCallPerOperationWithoutBatches) {
  FakeWorker fake([](const std::string&, int) { return Answer(); });
  RemoteOptions options;
  // Told it is a fedexec worker: the fallback is what is tested.
  options.protocol = WorkerProtocol::kFedexec;
  std::unique_ptr<RemoteExecutor> remote = ConnectFake(fake, options);
  ASSERT_NE(remote, nullptr);
  // A chain gathered into a batch that the fake does not know: the
  // operations go out one by one, in order, each on the refs of the ones
  // before.
  auto fn = remote->CreateValue(Scalar(1.0f));
  auto x = remote->CreateValue(Scalar(2.0f));
  ASSERT_TRUE(fn.ok() && x.ok());
  auto call = remote->CreateCall(*fn, *x);
  ASSERT_TRUE(call.ok());
  absl::StatusOr<Value> result = remote->Materialize(*call);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, Scalar(1.5f));  // the fake's answer
  EXPECT_EQ(remote->stats().batches, 1);  // tried once
  const std::vector<FakeWorker::Call> creates = fake.calls("CreateValue");
  ASSERT_EQ(creates.size(), 2u);
  // The two creates went out at once: which came first varies.
  std::string fn_ref, x_ref;
  for (const FakeWorker::Call& c : creates) {
    ASSERT_TRUE(c.value.has_value());
    (*c.value == Scalar(1.0f) ? fn_ref : x_ref) = c.answer;
  }
  const std::vector<FakeWorker::Call> calls = fake.calls("CreateCall");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].refs, (std::vector<std::string>{fn_ref, x_ref}));
  // From then on each operation is its own call at once.
  auto later = remote->CreateValue(Scalar(3.0f));
  ASSERT_TRUE(later.ok());
  EXPECT_TRUE(WaitFor([&] { return fake.count("CreateValue") == 3; }));
  EXPECT_EQ(remote->stats().batches, 1);
}

// ---------------------------------------- a worker of the plain protocol

Value ClientsOf(std::vector<Value> members, bool all_equal = false) {
  return Value::Federated(Placement::kClients, all_equal, std::move(members));
}

Value Vector(std::vector<float> v) { return Value(Tensor::Vector<float>(v)); }

// What TensorFlow Federated's worker answers for a federated value: the
// placement, no member type, all_equal unset.
v0::Value AsTffWorkerSends(const Value& value) {
  v0::Value proto;
  EXPECT_TRUE(ir::ValueToProto(value, &proto).ok());
  proto.mutable_federated()->mutable_type()->clear_member();
  proto.mutable_federated()->mutable_type()->clear_all_equal();
  return proto;
}

TEST(RemoteFakeTest, AWorkerWithoutTheExtensionGetsThePlainProtocolOnly) {
  FakeWorker fake([](const std::string&, int) { return Answer(); });
  // Batches on and the protocol asked: the fake answers UNIMPLEMENTED to
  // GetWorkerInfo (it serves no fedexec.v1 service).
  std::unique_ptr<RemoteExecutor> remote = ConnectFake(fake, RemoteOptions());
  ASSERT_NE(remote, nullptr);
  EXPECT_EQ(remote->protocol(), WorkerProtocol::kPlain);
  auto member = [](float a, std::vector<float> b) {
    return Value::Struct({{"a", Scalar(a)}, {"b", Vector(std::move(b))}});
  };
  const Value clients =
      ClientsOf({member(1.0f, {2.0f, 3.0f}), member(4.0f, {5.0f, 6.0f})});
  auto value = remote->CreateValue(clients);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_TRUE(WaitFor([&] { return fake.count("CreateValue") == 1; }));
  const std::vector<FakeWorker::Call> creates = fake.calls("CreateValue");
  ASSERT_EQ(creates.size(), 1u);
  // What TFF 0.87's worker reads: a member's scalars as typed lists, its
  // other arrays as content.
  ASSERT_TRUE(creates[0].proto.has_value());
  ASSERT_TRUE(creates[0].proto->has_federated());
  const v0::Value::Struct& sent = creates[0].proto->federated().value(1).struct_();
  ASSERT_EQ(sent.element_size(), 2);
  EXPECT_FALSE(sent.element(0).value().array().has_content());
  EXPECT_THAT(sent.element(0).value().array().float32_list().value(),
              ::testing::ElementsAre(4.0f));
  EXPECT_TRUE(sent.element(1).value().array().has_content());
  EXPECT_TRUE(creates[0].value.has_value() && *creates[0].value == clients);
  // Outside federated values, typed lists only.
  auto plain = remote->CreateValue(Vector({7.0f, 8.0f}));
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(WaitFor([&] { return fake.count("CreateValue") == 2; }));
  for (const FakeWorker::Call& c : fake.calls("CreateValue")) {
    ASSERT_TRUE(c.proto.has_value());
    if (!c.proto->has_array()) continue;
    EXPECT_FALSE(c.proto->array().has_content());
    EXPECT_THAT(c.proto->array().float32_list().value(),
                ::testing::ElementsAre(7.0f, 8.0f));
  }
  EXPECT_EQ(creates[0].array_content, "");
  EXPECT_EQ(remote->stats().batches, 0);  // never tried

  // No partial aggregates: UNIMPLEMENTED at once, marked for the caller
  // (which reads the members instead), and no call is made.
  PartialAggregateSpec spec;
  spec.op = PartialAggregateOp::kSum;
  spec.value = value->id();
  spec.total_clients = 2;
  spec.block_size = 1;
  absl::StatusOr<std::vector<PartialNode>> nodes =
      remote->PartialAggregate(spec);
  EXPECT_EQ(nodes.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(
      nodes.status().GetPayload(kNoPartialAggregatePayload).has_value());
  EXPECT_THAT(std::string(nodes.status().message()),
              HasSubstr("worker fake: "));
}

TEST(RemoteFakeTest, AFedexecWorkerIsToldThatTheClientReadsContent) {
  FakeWorker fake([](const std::string&, int) { return Answer(); });
  RemoteOptions options = Unbatched();
  options.protocol = WorkerProtocol::kFedexec;
  std::unique_ptr<RemoteExecutor> remote = ConnectFake(fake, options);
  ASSERT_NE(remote, nullptr);
  auto value = remote->CreateValue(Vector({1.0f, 2.0f}));
  ASSERT_TRUE(value.ok());
  ASSERT_TRUE(remote->Materialize(*value).ok());
  const std::vector<FakeWorker::Call> creates = fake.calls("CreateValue");
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_EQ(creates[0].array_content, ir::kArrayContentMetadataValue);
  ASSERT_TRUE(creates[0].proto.has_value());
  EXPECT_TRUE(creates[0].proto->array().has_content());
  const std::vector<FakeWorker::Call> computes = fake.calls("Compute");
  ASSERT_EQ(computes.size(), 1u);
  EXPECT_EQ(computes[0].array_content, ir::kArrayContentMetadataValue);
}

TEST(RemoteFakeTest, AnEmptyWorkerMessageNamesTheMethodAndTheCode) {
  FakeWorker fake([](const std::string& method, int) {
    if (method == "CreateCall") return Fail(grpc::StatusCode::INTERNAL, "");
    if (method == "Compute") return Fail(grpc::StatusCode::UNIMPLEMENTED, "");
    return Answer();
  });
  std::unique_ptr<RemoteExecutor> remote = ConnectFake(fake);
  ASSERT_NE(remote, nullptr);
  auto fn = remote->CreateValue(Scalar(1.0f));
  auto x = remote->CreateValue(Scalar(2.0f));
  ASSERT_TRUE(fn.ok() && x.ok());
  auto call = remote->CreateCall(*fn, *x);
  ASSERT_TRUE(call.ok());
  ExpectStatus(remote->Materialize(*call).status(),
               absl::StatusCode::kInternal,
               "worker fake: CreateCall failed with INTERNAL, the worker gave "
               "no message");
  absl::Status computed = remote->Materialize(*x).status();
  ExpectStatus(computed, absl::StatusCode::kUnimplemented,
               "worker fake: Compute failed with UNIMPLEMENTED, the worker "
               "gave no message");
  EXPECT_EQ(WorkerOf(computed), "fake");
  // A message the worker gave is kept as it is.
  FakeWorker talking([](const std::string& method, int) {
    return method == "Compute" ? Fail(grpc::StatusCode::INTERNAL, "boom")
                               : Answer();
  });
  std::unique_ptr<RemoteExecutor> other = ConnectFake(talking);
  ASSERT_NE(other, nullptr);
  auto y = other->CreateValue(Scalar(2.0f));
  ASSERT_TRUE(y.ok());
  ExpectStatus(other->Materialize(*y).status(), absl::StatusCode::kInternal,
               "worker fake: boom");
}

TEST(RemoteFakeTest, AForeignComputeAnswerGetsWhatItLeavesOutFromTheType) {
  FakeWorker fake([](const std::string&, int) { return Answer(); });
  std::unique_ptr<RemoteExecutor> remote = ConnectFake(fake);
  ASSERT_NE(remote, nullptr);
  ASSERT_EQ(remote->protocol(), WorkerProtocol::kPlain);

  // {float32[2]}@CLIENTS, answered with the placement only: the member
  // type is the one the value was created with.
  const Value clients =
      ClientsOf({Vector({1.0f, 2.0f}), Vector({3.0f, 4.0f})});
  const v0::Value bare = AsTffWorkerSends(clients);
  EXPECT_FALSE(ir::ValueFromProto(bare).ok());  // undecodable as it is
  fake.set_compute_answer(bare);
  auto value = remote->CreateValue(clients);
  ASSERT_TRUE(value.ok());
  absl::StatusOr<Value> got = remote->Materialize(*value);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, clients);

  // An all-equal CLIENTS value comes back as one member per client: its
  // first member, all-equal again.
  const Value all_equal = ClientsOf({Scalar(2.5f)}, /*all_equal=*/true);
  fake.set_compute_answer(AsTffWorkerSends(
      ClientsOf({Scalar(2.5f), Scalar(2.5f), Scalar(2.5f)})));
  auto broadcast = remote->CreateValue(all_equal);
  ASSERT_TRUE(broadcast.ok());
  got = remote->Materialize(*broadcast);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, all_equal);

  // The SERVER result of a call, inside a struct: typed from the
  // function's result type.
  ir::NodePtr fn = Compile(
      "(x: {float32}@CLIENTS) -> <total=federated_sum(x), n=3>");
  ASSERT_NE(fn, nullptr);
  const Value at_server = Value::Federated(Placement::kServer, true,
                                           std::vector<Value>{Scalar(3.0f)});
  v0::Value answer;
  ASSERT_TRUE(ir::ValueToProto(
                  Value::Struct({{"total", at_server},
                                 {"n", Value(Tensor::Scalar<int32_t>(3))}}),
                  &answer)
                  .ok());
  *answer.mutable_struct_()->mutable_element(0)->mutable_value() =
      AsTffWorkerSends(at_server);
  fake.set_compute_answer(answer);
  auto f = remote->CreateValue(fn);
  auto arg = remote->CreateValue(ClientsOf({Scalar(1.0f), Scalar(2.0f)}));
  ASSERT_TRUE(f.ok() && arg.ok());
  auto call = remote->CreateCall(*f, *arg);
  ASSERT_TRUE(call.ok());
  auto total = remote->CreateSelection(*call, 0);
  ASSERT_TRUE(total.ok());
  got = remote->Materialize(*call);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, Value::Struct({{"total", at_server},
                                 {"n", Value(Tensor::Scalar<int32_t>(3))}}));
  // A selection of it is typed too.
  fake.set_compute_answer(AsTffWorkerSends(at_server));
  got = remote->Materialize(*total);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, at_server);
}

TEST(RemoteFakeTest, CreatesOnPendingOperandsReturnAtOnceAndWait) {
  FakeWorker fake([](const std::string& method, int) {
    return method == "CreateValue" ? Hold() : Answer();
  });
  std::unique_ptr<RemoteExecutor> remote = ConnectFake(fake);
  ASSERT_NE(remote, nullptr);
  auto a = remote->CreateValue(Scalar(1.0f));
  auto b = remote->CreateValue(Scalar(2.0f));
  ASSERT_TRUE(a.ok() && b.ok());
  auto call = remote->CreateCall(*a, *b);
  ASSERT_TRUE(call.ok());
  auto tuple = remote->CreateStruct({{"c", call->id()}, {"a", a->id()}});
  ASSERT_TRUE(tuple.ok());
  auto selected = remote->CreateSelection(*tuple, 0);
  ASSERT_TRUE(selected.ok());
  ASSERT_TRUE(WaitFor([&] { return fake.count("CreateValue") == 2; }));
  // Nothing that needs a's and b's refs has been sent.
  EXPECT_EQ(fake.count("CreateCall"), 0);
  EXPECT_EQ(fake.count("CreateStruct"), 0);

  fake.Release();
  ASSERT_TRUE(remote->Materialize(*selected).ok());
  std::map<float, std::string> ref_of;
  for (const FakeWorker::Call& create : fake.calls("CreateValue")) {
    ASSERT_TRUE(create.value.has_value());
    ref_of[create.value->tensor().data<float>()[0]] = create.answer;
  }
  const auto calls = fake.calls("CreateCall");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].refs,
            (std::vector<std::string>{ref_of[1.0f], ref_of[2.0f]}));
  const auto structs = fake.calls("CreateStruct");
  ASSERT_EQ(structs.size(), 1u);
  EXPECT_EQ(structs[0].refs,
            (std::vector<std::string>{calls[0].answer, ref_of[1.0f]}));
  const auto selections = fake.calls("CreateSelection");
  ASSERT_EQ(selections.size(), 1u);
  EXPECT_EQ(selections[0].refs,
            (std::vector<std::string>{structs[0].answer}));
}

TEST(RemoteFakeTest, DisposalsAreBatchedAndWaitForLateRefs) {
  constexpr int kValues = 50;
  FakeWorker fake([](const std::string& method, int n) {
    if (method == "CreateValue") return Hold();
    if (method == "Dispose" && n == 0) return Hold();
    return Answer();
  });
  std::unique_ptr<RemoteExecutor> remote = ConnectFake(fake);
  ASSERT_NE(remote, nullptr);
  {
    std::vector<OwnedValue> values;
    for (int i = 0; i < kValues; ++i) {
      auto value = remote->CreateValue(Scalar(static_cast<float>(i)));
      ASSERT_TRUE(value.ok());
      values.push_back(*std::move(value));
    }
    ASSERT_TRUE(WaitFor([&] { return fake.count("CreateValue") == kValues; }));
  }
  // The handles are gone before any ref arrived.
  EXPECT_EQ(remote->NumValues(), 0);
  EXPECT_EQ(remote->stats().released_refs, 0);

  // Answering the creates (the first Dispose is then held at the fake):
  // every ref is released; the first goes out alone, the rest wait for it.
  fake.Release();
  ASSERT_TRUE(
      WaitFor([&] { return remote->stats().released_refs == kValues; }));
  ASSERT_TRUE(WaitFor([&] { return fake.count("Dispose") == 1; }));
  EXPECT_EQ(remote->stats().dispose_rpcs, 1);
  fake.Release();
  ASSERT_TRUE(
      WaitFor([&] { return remote->stats().disposed_refs == kValues; }));
  // Counted when sent; wait until the fake has it too.
  ASSERT_TRUE(WaitFor([&] { return fake.count("Dispose") == 2; }));
  const auto disposals = fake.calls("Dispose");
  ASSERT_EQ(disposals.size(), 2u);
  EXPECT_EQ(disposals[0].refs.size(), 1u);
  EXPECT_EQ(disposals[1].refs.size(), kValues - 1u);
  std::vector<std::string> disposed = disposals[0].refs;
  disposed.insert(disposed.end(), disposals[1].refs.begin(),
                  disposals[1].refs.end());
  std::vector<std::string> created;
  for (const auto& create : fake.calls("CreateValue")) {
    created.push_back(create.answer);
  }
  EXPECT_THAT(disposed, ::testing::UnorderedElementsAreArray(created));
}

TEST(RemoteFakeTest, CancelEndsPendingCalls) {
  FakeWorker fake([](const std::string& method, int) {
    return method == "CreateValue" ? Hold() : Answer();
  });
  std::unique_ptr<RemoteExecutor> remote = ConnectFake(fake);
  ASSERT_NE(remote, nullptr);
  RunWithDeadline("cancel", [&] {
    auto held = remote->CreateValue(Scalar(1.0f));
    ASSERT_TRUE(held.ok());
    ASSERT_TRUE(WaitFor([&] { return fake.count("CreateValue") == 1; }));
    auto chained = remote->CreateSelection(*held, 0);
    ASSERT_TRUE(chained.ok());
    absl::StatusOr<Value> held_result;
    std::thread waiter([&] { held_result = remote->Materialize(*held); });
    remote->Cancel();
    waiter.join();
    EXPECT_EQ(held_result.status().code(), absl::StatusCode::kCancelled);
    EXPECT_EQ(remote->Materialize(*chained).status().code(),
              absl::StatusCode::kCancelled);
    EXPECT_TRUE(WaitFor([&] { return fake.count("DisposeExecutor") == 1; }));
    EXPECT_EQ(fake.calls("DisposeExecutor")[0].refs,
              (std::vector<std::string>{"ex"}));
  });
}

TEST(RemoteFakeTest, CancelWakesABlockingCallInBackoff) {
  FakeWorker fake([](const std::string& method, int) {
    if (method == "Compute") return Fail(grpc::StatusCode::UNAVAILABLE, "x");
    return Answer();
  });
  RemoteOptions options = Unbatched();
  options.initial_backoff = absl::Seconds(600);
  options.max_backoff = absl::Seconds(600);
  std::unique_ptr<RemoteExecutor> remote = ConnectFake(fake, options);
  ASSERT_NE(remote, nullptr);
  RunWithDeadline("cancel backoff", [&] {
    auto value = remote->CreateValue(Scalar(1.0f));
    ASSERT_TRUE(value.ok());
    absl::StatusOr<Value> result;
    std::thread waiter([&] { result = remote->Materialize(*value); });
    ASSERT_TRUE(WaitFor([&] { return fake.count("Compute") == 1; }));
    remote->Cancel();
    waiter.join();
    EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled)
        << result.status();
    EXPECT_EQ(fake.count("Compute"), 1);
  });
}

TEST(RemoteFakeTest, DestructionEndsHeldCallsAndBackoffs) {
  FakeWorker fake([](const std::string& method, int n) {
    if (method == "CreateValue") {
      return n % 2 == 0 ? Hold()
                        : Fail(grpc::StatusCode::UNAVAILABLE, "later");
    }
    return Answer();
  });
  RemoteOptions options = Unbatched();
  options.initial_backoff = absl::Seconds(600);
  options.max_backoff = absl::Seconds(600);
  RunWithDeadline("destroy", [&] {
    std::unique_ptr<RemoteExecutor> remote = ConnectFake(fake, options);
    ASSERT_NE(remote, nullptr);
    for (int i = 0; i < 10; ++i) {
      auto value = remote->CreateValue(Scalar(static_cast<float>(i)));
      ASSERT_TRUE(value.ok());
      auto selected = remote->CreateSelection(*value, 0);
      ASSERT_TRUE(selected.ok());
      value->Release();
      selected->Release();
    }
    ASSERT_TRUE(WaitFor([&] { return fake.count("CreateValue") == 10; }));
    remote.reset();
    EXPECT_EQ(fake.count("DisposeExecutor"), 1);
    EXPECT_EQ(fake.count("Dispose"), 0);
  });
}

}  // namespace
}  // namespace fedexec::exec
