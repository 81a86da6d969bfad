// End-to-end tests of the RemoteExecutor (executors/remote_executor.h)
// against a real worker (service/worker.h) serving local stacks: real
// computations compared bit for bit with an in-process stack, large values
// both ways in chunks, remote disposal, a restarted and a lost worker, an
// unusable executor, cancellation, tokens. Its tests against a scripted
// fake worker are beside it (executors/remote_executor_test.cc).
// Waits are bounded (WaitFor, RunWithDeadline) so that a bug fails the run
// instead of hanging it; nothing asserts on timing.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/channel_arguments.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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
#include "executors/local_executor.h"
#include "executors/remote_executor.h"
#include "executors/remote_executor_test_util.h"
#include "fedexec/v1/executor_stream.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/computation_file.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"
#include "ir/value_proto.h"
#include "ir/value_syntax.h"
#include "net/grpc_channel.h"
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

using remote_test::Compile;
using remote_test::FastReconnectChannel;
using remote_test::RawListener;
using remote_test::Scalar;
using remote_test::WaitFor;

// ------------------------------------------------------------- helpers

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

// Calls `computation` (with `argument`, if any) on `executor`: every
// Create at once, then one Materialize.
absl::StatusOr<Value> RunComputation(Executor& executor,
                                     const ir::NodePtr& computation,
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
  const Value argument = ValueAs(c.argument, *computation->type()->parameter());
  auto clients = stacks::InferClientCount(argument);
  ASSERT_TRUE(clients.ok()) << clients.status();
  const int64_t n = clients->value_or(0);

  absl::StatusOr<Value> local = RunLocally(computation, argument, n);
  ASSERT_TRUE(local.ok()) << local.status();
  std::unique_ptr<RemoteExecutor> remote = Connect(n);
  ASSERT_NE(remote, nullptr);
  absl::StatusOr<Value> result = RunComputation(*remote, computation, argument);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, *local)
      << ir::PrintValue(*result) << " vs " << ir::PrintValue(*local);
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
  ir::NodePtr divide =
      Compile("(p: <int32, int32>) -> generic_divide(p[0], p[1])");
  ASSERT_NE(divide, nullptr);
  const Value argument =
      Value::Struct({{"", Value(Tensor::Scalar<int32_t>(1))},
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
  absl::StatusOr<Value> ok =
      RunComputation(*remote, Compile("(x: float32) -> x"), Scalar(2.0f));
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

  ir::NodePtr twice =
      Compile(absl::StrCat("(x: float32[", kElements,
                           "]) -> generic_plus(x, generic_multiply(x, x))"));
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
    EXPECT_TRUE(WaitFor([&] {
      return server->NumValues() == before + kValues;
    })) << server->NumValues();
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
  absl::StatusOr<Value> mean =
      RunComputation(**remote, LoadExample("mean.fed"),
                     Value::Federated(Placement::kClients, false,
                                      {Scalar(1), Scalar(2), Scalar(6)}));
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
    EXPECT_THAT(std::string(result.status().message()),
                HasSubstr("(after 3 attempts)"));
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
    EXPECT_THAT(std::string(remote.status().message()),
                StartsWith("worker hole: "));
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
    EXPECT_THAT(std::string(refused.status().message()),
                StartsWith("worker w: "));
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
          absl::StatusOr<Value> result = RunComputation(
              *remote, mean,
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

}  // namespace
}  // namespace fedexec::exec
