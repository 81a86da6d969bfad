// Remote stacks (stacks/remote_stack.h) over real workers on loopback
// (service/worker.h, in this process): every intrinsic gives the bits of an
// in-process run with 1, 2 and 3 workers; lost workers are replaced; worker
// lists are checked.
#include "stacks/remote_stack.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/mutable_tensor.h"
#include "core/npy.h"
#include "data/data_backend.h"
#include "executors/remote_executor.h"
#include "executors/remote_executor_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/value_syntax.h"
#include "net/grpc_channel.h"
#include "service/service_test_util.h"
#include "service/worker.h"
#include "stacks/composing_factory.h"
#include "stacks/executor_factory.h"
#include "stacks/runtime.h"
#include "testing/intrinsic_cases.h"
#include "testing/sanitizers.h"

namespace fedexec::stacks {
namespace {

using ::testing::HasSubstr;
using namespace ::fedexec::test_util;  // NOLINT: the cases and values

// A local factory whose stacks resolve data below `data_root` (none when
// empty).
std::unique_ptr<LocalExecutorFactory> LocalFactory(
    const std::string& data_root = "", int threads = 1, int cache_size = 0) {
  std::shared_ptr<const exec::DataBackend> backend;
  if (!data_root.empty()) {
    auto made = exec::FileBackend::Create(data_root);
    EXPECT_TRUE(made.ok()) << made.status();
    backend = *made;
  }
  auto made = LocalExecutorFactory::Create(
      {.threads = threads, .cache_size = cache_size, .data_backend = backend});
  EXPECT_TRUE(made.ok()) << made.status();
  return made.ok() ? *std::move(made) : nullptr;
}

// A worker serving local stacks on a free loopback port.
struct TestWorker {
  explicit TestWorker(std::string token = "", std::string data_root = "") {
    auto made = LocalFactory(data_root);
    factory = std::move(made);
    service::WorkerOptions options;
    options.service.token = std::move(token);
    LocalExecutorFactory* f = factory.get();
    auto started = service::Worker::Start(
        options, [f](int64_t n) { return f->ExecutorFor(n); });
    EXPECT_TRUE(started.ok()) << started.status();
    worker = *std::move(started);
  }
  std::string address() const { return worker->target(); }

  std::unique_ptr<LocalExecutorFactory> factory;
  std::unique_ptr<service::Worker> worker;
};

RemoteStackOptions FastOptions() {
  RemoteStackOptions options;
  options.threads = 2;
  options.connect_timeout = absl::Seconds(5);
  options.remote.call_timeout = absl::Seconds(5);
  options.remote.compute_timeout = absl::Seconds(30);
  options.remote.max_attempts = 2;
  options.remote.initial_backoff = absl::Milliseconds(10);
  return options;
}

std::unique_ptr<Runtime> RemoteRuntime(
    const std::vector<std::string>& addresses,
    RemoteStackOptions options = FastOptions()) {
  std::vector<WorkerSpec> specs;
  for (const std::string& a : addresses) specs.push_back(WorkerSpec{a, 0});
  auto factory = CreateRemoteFactory(specs, options);
  EXPECT_TRUE(factory.ok()) << factory.status();
  if (!factory.ok()) return nullptr;
  return *Runtime::CreateWithFactory(*std::move(factory));
}

TEST(RemoteStackTest, EveryIntrinsicBitIdenticalWithOneTwoAndThreeWorkers) {
  auto local = Runtime::Create({.threads = 2});
  ASSERT_TRUE(local.ok());
  TestWorker w0, w1, w2;
  const std::vector<std::string> all = {w0.address(), w1.address(),
                                        w2.address()};
  for (size_t workers = 1; workers <= 3; ++workers) {
    auto remote = RemoteRuntime(
        std::vector<std::string>(all.begin(), all.begin() + workers));
    ASSERT_NE(remote, nullptr);
    for (const Case& c : Cases()) {
      ir::NodePtr computation = Compile(c.text);
      ASSERT_NE(computation, nullptr) << c.name;
      for (int64_t n : {1000, 37, 5}) {
        SCOPED_TRACE(absl::StrCat(workers, " workers, ", c.name, " n=", n));
        std::optional<Value> argument = c.argument(n);
        Runtime::CallOptions options;
        options.num_clients = n;
        auto expected = (*local)->Call(computation, argument, options);
        ASSERT_TRUE(expected.ok()) << expected.status();
        auto got = remote->Call(computation, argument, options);
        ASSERT_TRUE(got.ok()) << got.status();
        EXPECT_TRUE(*got == *expected) << ir::PrintValue(*got) << "\nvs\n"
                                       << ir::PrintValue(*expected);
      }
    }
  }
}

TEST(RemoteStackTest, WorkersOfThePlainProtocolGiveTheSameBits) {
  // Driven as TensorFlow Federated's worker is (exec::WorkerProtocol::
  // kPlain): typed lists, one call per operation, no partial aggregates, so
  // every aggregation reads the clients' values from the workers and folds
  // them here, by the same block tree.
  auto local = Runtime::Create({.threads = 2});
  ASSERT_TRUE(local.ok());
  TestWorker w0, w1;
  RemoteStackOptions options = FastOptions();
  options.remote.protocol = exec::WorkerProtocol::kPlain;
  for (const std::vector<std::string>& workers :
       {std::vector<std::string>{w0.address()},
        std::vector<std::string>{w0.address(), w1.address()}}) {
    auto remote = RemoteRuntime(workers, options);
    ASSERT_NE(remote, nullptr);
    for (const Case& c : Cases()) {
      ir::NodePtr computation = Compile(c.text);
      ASSERT_NE(computation, nullptr) << c.name;
      for (int64_t n : {1000, 37}) {
        SCOPED_TRACE(
            absl::StrCat(workers.size(), " workers, ", c.name, " n=", n));
        std::optional<Value> argument = c.argument(n);
        Runtime::CallOptions call;
        call.num_clients = n;
        auto expected = (*local)->Call(computation, argument, call);
        ASSERT_TRUE(expected.ok()) << expected.status();
        auto got = remote->Call(computation, argument, call);
        ASSERT_TRUE(got.ok()) << got.status();
        EXPECT_TRUE(*got == *expected) << ir::PrintValue(*got) << "\nvs\n"
                                       << ir::PrintValue(*expected);
      }
    }
  }
}

TEST(RemoteStackTest, KeyedDataResolvesOnTheWorkers) {
  // clients/<k>/x.npy (float32[k % 5 + 1, 2]) and y.npy, for 40 clients:
  // on the workers' data root only.
  const std::string root = ::testing::TempDir() + "/keyed-data-root";
  std::filesystem::remove_all(root);
  for (int k = 0; k < 40; ++k) {
    const std::string dir = absl::StrCat(root, "/clients/", k);
    std::filesystem::create_directories(dir);
    const int64_t rows = k % 5 + 1;
    std::vector<float> x;
    std::vector<int32_t> y;
    for (int64_t r = 0; r < rows; ++r) {
      x.push_back(0.25f * k + r);
      x.push_back(-1.5f * r);
      y.push_back(static_cast<int32_t>(k * 10 + r));
    }
    ASSERT_TRUE(
        WriteNpyFile(dir + "/x.npy", *Tensor::FromSpan<float>(x, {rows, 2}))
            .ok());
    ASSERT_TRUE(WriteNpyFile(dir + "/y.npy", Tensor::Vector<int32_t>(y)).ok());
  }
  ir::NodePtr ragged_batches = Compile(
      "(keys: {int32}@CLIENTS) -> federated_sum(federated_map((k: int32) -> "
      "sequence_sum(data(\"clients?batch_size=2\", "
      "(int32 -> <x=float32[?,2],y=int32[?]>*))(k)), keys))");
  ASSERT_NE(ragged_batches, nullptr);
  // Client i holds key (7 i) % 40: the same data in another order.
  std::vector<Value> members;
  for (int i = 0; i < 40; ++i) {
    members.push_back(Value(Tensor::Scalar<int32_t>((7 * i) % 40)));
  }
  const Value keys = Value::Federated(Placement::kClients, false, members);
  // Batches of 2 rows sum only when every client has 2 rows per batch:
  // take the clients with 2 or 4 rows (k % 5 in {1, 3}).
  ir::NodePtr two_rows = Compile(
      "(keys: {int32}@CLIENTS) -> federated_sum(federated_map((k: int32) -> "
      "sequence_sum(data(\"clients?batch_size=2\", "
      "(int32 -> <x=float32[2,2],y=int32[2]>*))(k)), keys))");
  std::vector<Value> even;
  for (int k = 0; k < 40; ++k) {
    if (k % 5 == 1 || k % 5 == 3) {
      even.push_back(Value(Tensor::Scalar<int32_t>(k)));
    }
  }
  const Value even_keys = Value::Federated(Placement::kClients, false, even);
  auto local = Runtime::CreateWithFactory(LocalFactory(root, 2, 4));
  ASSERT_TRUE(local.ok()) << local.status();
  TestWorker w0("", root), w1("", root);
  auto remote = RemoteRuntime({w0.address(), w1.address()});
  ASSERT_NE(remote, nullptr);
  auto expected = (*local)->Call(two_rows, even_keys);
  ASSERT_TRUE(expected.ok()) << expected.status();
  auto got = remote->Call(two_rows, even_keys);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got == *expected) << ir::PrintValue(*got) << "\nvs\n"
                                 << ir::PrintValue(*expected);
  // Batches of different sizes do not sum: the error comes from a worker,
  // naming it.
  auto ragged = remote->Call(ragged_batches, keys);
  ASSERT_FALSE(ragged.ok());
  EXPECT_THAT(ragged.status().message(), HasSubstr("worker"));
  // This process has no data root: the same computation fails here.
  auto no_data = Runtime::Create({.threads = 2});
  ASSERT_TRUE(no_data.ok());
  auto refused = (*no_data)->Call(two_rows, even_keys);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("has no data root"));
  std::filesystem::remove_all(root);
}

TEST(RemoteStackTest, WorkerLostBetweenCallsIsReplaced) {
  auto local = Runtime::Create({.threads = 2});
  ASSERT_TRUE(local.ok());
  TestWorker w0, w1, w2;
  auto remote = RemoteRuntime({w0.address(), w1.address(), w2.address()});
  ASSERT_NE(remote, nullptr);
  ir::NodePtr mean = Compile("(x: {float32[8]}@CLIENTS) -> federated_mean(x)");
  Value x = FloatClients(1000, 31);
  auto expected = (*local)->Call(mean, x);
  ASSERT_TRUE(expected.ok());
  auto first = remote->Call(mean, x);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first == *expected);
  // The cached stack still holds executors of worker 1, which is gone.
  w1.worker->Shutdown(absl::ZeroDuration());
  w1.worker.reset();
  auto second = remote->Call(mean, x);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(*second == *expected);
}

TEST(RemoteStackTest, AllWorkersLostGivesAClearErrorWithinTheDeadline) {
  TestWorker w0, w1;
  auto remote = RemoteRuntime({w0.address(), w1.address()});
  ASSERT_NE(remote, nullptr);
  ir::NodePtr sum = Compile("(x: {float32[8]}@CLIENTS) -> federated_sum(x)");
  ASSERT_TRUE(remote->Call(sum, FloatClients(100, 1)).ok());
  w0.worker.reset();
  w1.worker.reset();
  const absl::Time start = absl::Now();
  auto got = remote->Call(sum, FloatClients(100, 1));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable)
      << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("lost"));
  // Within the calls' deadlines (5 s each, a few of them), not a hang.
  EXPECT_LT(absl::Now() - start, absl::Seconds(60));
}

TEST(RemoteStackTest, NoWorkerAnswering) {
  // A port nobody listens on, below the ephemeral range so that no other
  // test's server (they bind port 0) takes it meanwhile.
  const int port = service::test::FreePortBelowEphemeralRange();
  ASSERT_NE(port, 0);
  const std::string address = absl::StrCat("127.0.0.1:", port);
  RemoteStackOptions options = FastOptions();
  options.connect_timeout = absl::Milliseconds(300);
  auto factory = CreateRemoteFactory({WorkerSpec{address, 0}}, options);
  EXPECT_EQ(factory.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(factory.status().message(), HasSubstr(address));
}

// A child factory that asks the worker behind `channel` for an executor
// whenever a stack is built (as the remote stacks' do).
class DialingFactory : public ExecutorFactory {
 public:
  DialingFactory(std::shared_ptr<grpc::Channel> channel,
                 exec::RemoteOptions options)
      : channel_(std::move(channel)), options_(std::move(options)) {}
  absl::StatusOr<std::shared_ptr<Executor>> ExecutorFor(
      int64_t num_clients) override {
    auto made = exec::RemoteExecutor::Create(channel_, num_clients, options_);
    if (!made.ok()) return made.status();
    return std::shared_ptr<Executor>(*std::move(made));
  }
  void Release() override {}

 private:
  const std::shared_ptr<grpc::Channel> channel_;
  const exec::RemoteOptions options_;
};

TEST(RemoteStackTest, CancellingWhileAStackIsBuiltReturnsWithinTwoSeconds) {
  // A worker that accepts connections and never speaks gRPC: asking it for
  // an executor would wait for the whole deadline (a minute here).
  exec::remote_test::RawListener silent(0);
  ASSERT_TRUE(silent.ok());
  auto channel = MakeChannel(silent.target());
  ASSERT_TRUE(channel.ok()) << channel.status();
  exec::RemoteOptions remote;
  remote.name = silent.target();
  remote.protocol = exec::WorkerProtocol::kFedexec;
  remote.call_timeout = absl::Seconds(60);
  std::vector<ChildFactory> children(1);
  children[0].factory = std::make_shared<DialingFactory>(*channel, remote);
  children[0].name = "worker " + silent.target();
  auto factory = CreateComposingFactory(std::move(children), {.threads = 2});
  ASSERT_TRUE(factory.ok()) << factory.status();
  auto runtime = Runtime::CreateWithFactory(*std::move(factory));
  ASSERT_TRUE(runtime.ok()) << runtime.status();

  absl::StatusOr<Value> result;
  absl::Time returned;
  std::thread caller([&] {
    result = (*runtime)->Call(
        Compile("(x: {float32[8]}@CLIENTS) -> federated_sum(x)"),
        FloatClients(4, 1));
    returned = absl::Now();
  });
  // The call is running (its stack being built) before the cancel.
  while ((*runtime)->NumRunning() == 0) absl::SleepFor(absl::Milliseconds(1));
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Time cancelled = absl::Now();
  (*runtime)->CancelRunning();
  caller.join();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled)
      << result.status();
  EXPECT_LT(returned - cancelled, absl::Seconds(2));
}

TEST(RemoteStackTest, TokenIsChecked) {
  TestWorker w0("s3cret");
  RemoteStackOptions options = FastOptions();
  options.remote.token = "wrong";
  auto refused = CreateRemoteFactory({WorkerSpec{w0.address(), 0}}, options);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated)
      << refused.status();
  options.remote.token = "s3cret";
  auto runtime = RemoteRuntime({w0.address()}, options);
  ASSERT_NE(runtime, nullptr);
  auto got =
      runtime->Call(Compile("(x: {float32[8]}@CLIENTS) -> federated_sum(x)"),
                    FloatClients(40, 2));
  EXPECT_TRUE(got.ok()) << got.status();
}

// Bytes of memory available now (MemAvailable), or 0 if unknown.
int64_t AvailableMemory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib << 10;
  }
  return 0;
}

TEST(RemoteStackTest, ValueLargerThanTwoGigabytesGoesToAWorkerAndBack) {
  // 3 GiB of float32: the value here, the worker's copy, the copy that
  // comes back, and chunks in flight.
  const int64_t bytes = int64_t{3} << 30;
  if (test_util::kSanitized) GTEST_SKIP() << "too slow under sanitizers";
  if (AvailableMemory() < 4 * bytes) {
    GTEST_SKIP() << "needs " << (4 * bytes >> 30) << " GiB of free memory";
  }
  TestWorker w;
  auto channel = MakeChannel(w.address(), {});
  ASSERT_TRUE(channel.ok());
  exec::RemoteOptions options;
  options.name = w.address();
  auto remote = exec::RemoteExecutor::Create(*channel, 0, options);
  ASSERT_TRUE(remote.ok()) << remote.status();
  auto tensor = MutableTensor::Uninitialized(DType::kFloat32, {bytes / 4});
  ASSERT_TRUE(tensor.ok());
  float* p = static_cast<float*>(tensor->raw_mutable_data());
  for (int64_t i = 0; i < bytes / 4; ++i) p[i] = static_cast<float>(i);
  const Value value(std::move(*tensor).Freeze());
  auto id = (*remote)->CreateValue(value);
  ASSERT_TRUE(id.ok()) << id.status();
  auto back = (*remote)->Materialize(*id);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->is_tensor());
  EXPECT_EQ(back->tensor().shape(), value.tensor().shape());
  EXPECT_TRUE(*back == value);
}

TEST(RemoteStackTest, WorkerLists) {
  auto two = ParseWorkerList("a:1, b:65535");
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ((*two)[1].address, "b:65535");
  EXPECT_THAT(ParseWorkerList("a:1,,b:2").status().message(),
              HasSubstr("empty"));
  EXPECT_THAT(ParseWorkerList("a").status().message(), HasSubstr("host:port"));
  EXPECT_THAT(ParseWorkerList("a:0").status().message(), HasSubstr("1-65535"));
  EXPECT_THAT(ParseWorkerList("a:70000").status().message(),
              HasSubstr("1-65535"));
  EXPECT_THAT(ParseWorkerList("a:1,a:1").status().message(),
              HasSubstr("twice"));

  const std::string path = ::testing::TempDir() + "/workers.txt";
  {
    std::ofstream f(path);
    f << "# two workers\n\nhost1:5001 2\n  host2:5002\n";
  }
  auto listed = ReadWorkerFile(path);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].capacity, 2);
  EXPECT_EQ((*listed)[1].address, "host2:5002");
  {
    std::ofstream f(path);
    f << "host1:5001 -1\n";
  }
  EXPECT_THAT(ReadWorkerFile(path).status().message(),
              HasSubstr("workers.txt:1"));
  {
    std::ofstream f(path);
    f << "# nothing\n";
  }
  EXPECT_THAT(ReadWorkerFile(path).status().message(), HasSubstr("no worker"));
  EXPECT_EQ(ReadWorkerFile(path + ".missing").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace fedexec::stacks
