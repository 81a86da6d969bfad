// Tests of the RemoteExecutor (executors/remote_executor.h) against a
// scripted fake worker, for what a real worker cannot be made to do on cue:
// fail an attempt, hold an answer, answer with a chosen status, lack the
// stream extension. The fake is a real gRPC server, so these run in a
// binary of their own (remote_executor_tests), which the TSan build leaves
// out (Debian's gRPC is not instrumented). Its runs against real workers
// are in stacks/remote_worker_test.cc.
// Waits are bounded (WaitFor, RunWithDeadline) so that a bug fails the run
// instead of hanging it; nothing asserts on timing.
#include "executors/remote_executor.h"

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
#include "executors/function.h"
#include "executors/remote_executor_test_util.h"
#include "fedexec/v1/executor_stream.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"
#include "ir/value_proto.h"
#include "ir/value_syntax.h"
#include "net/grpc_channel.h"
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
using remote_test::Scalar;
using remote_test::WaitFor;

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
    std::vector<std::string> refs;   // the refs the request names
    std::optional<Value> value;      // CreateValue's value, decoded
    std::string answer;              // the ref answered, once answered
    std::string array_content;       // metadata ir::kArrayContentMetadataKey
    std::optional<v0::Value> proto;  // CreateValue's value as sent
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
    return Handle(
        context, "Compute", {request->value_ref().id()}, std::nullopt,
        [this, response] {
          std::lock_guard<std::mutex> lock(mu_);
          if (compute_answer_.has_value()) {
            *response->mutable_value() = *compute_answer_;
          } else {
            EXPECT_TRUE(
                ir::ValueToProto(Scalar(1.5f), response->mutable_value()).ok());
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

std::unique_ptr<RemoteExecutor> ConnectFake(
    const FakeWorker& fake, RemoteOptions options = Unbatched()) {
  options.name = "fake";
  if (options.initial_backoff == RemoteOptions().initial_backoff) {
    options.initial_backoff = absl::Milliseconds(1);
  }
  auto remote =
      RemoteExecutor::Create(FastReconnectChannel(fake.target()), 1, options);
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
  for (const std::string method : {"GetExecutor", "CreateValue", "Compute"}) {
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
  EXPECT_EQ(*result, Scalar(1.5f));       // the fake's answer
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
  const v0::Value::Struct& sent =
      creates[0].proto->federated().value(1).struct_();
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
  ExpectStatus(remote->Materialize(*call).status(), absl::StatusCode::kInternal,
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
  const Value clients = ClientsOf({Vector({1.0f, 2.0f}), Vector({3.0f, 4.0f})});
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
  fake.set_compute_answer(
      AsTffWorkerSends(ClientsOf({Scalar(2.5f), Scalar(2.5f), Scalar(2.5f)})));
  auto broadcast = remote->CreateValue(all_equal);
  ASSERT_TRUE(broadcast.ok());
  got = remote->Materialize(*broadcast);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, all_equal);

  // The SERVER result of a call, inside a struct: typed from the
  // function's result type.
  ir::NodePtr fn =
      Compile("(x: {float32}@CLIENTS) -> <total=federated_sum(x), n=3>");
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
  EXPECT_EQ(selections[0].refs, (std::vector<std::string>{structs[0].answer}));
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
      return n % 2 == 0 ? Hold() : Fail(grpc::StatusCode::UNAVAILABLE, "later");
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
