// Helpers for the service tests: a source of real local stacks, an
// executor whose Materialize waits at a gate (to hold computations in
// flight), a client over the raw gRPC stubs, and raw calls with arbitrary
// bytes. Tests only.
#ifndef FEDEXEC_SERVICE_SERVICE_TEST_UTIL_H_
#define FEDEXEC_SERVICE_SERVICE_TEST_UTIL_H_

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/status.h"
#include "fedexec/v1/executor_stream.grpc.pb.h"
#include "gtest/gtest.h"
#include "ir/proto_codec.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"
#include "ir/value_proto.h"
#include "ir/value_syntax.h"
#include "net/grpc_channel.h"
#include "service/executor_service.h"
#include "service/worker.h"
#include "stacks/executor_factory.h"
#include "tensorflow_federated/v0/executor.grpc.pb.h"

namespace fedexec::service::test {

namespace v0 = ::tensorflow_federated::v0;
namespace v1 = ::fedexec::v1;

// The lowest port of the kernel's ephemeral range (what binding port 0
// hands out): ports below it are never given to another test's server.
inline int EphemeralPortsStart() {
  int low = 32768;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  range >> low;
  return low;
}

// A port on 127.0.0.1 that a server can bind now, below the ephemeral
// range, so that no server that binds port 0 (every other test's) can take
// it while this test stops its server and binds the port again. 0 if none
// was found.
inline int FreePortBelowEphemeralRange() {
  const int low = 10000;
  const int high = EphemeralPortsStart();
  if (high <= low) return 0;
  for (int i = 0; i < 2000; ++i) {
    const int port = low + (getpid() * 131 + i * 7919) % (high - low);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    const bool free =
        ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    ::close(fd);
    if (free) return port;
  }
  return 0;
}

// Every call of a test gives up after this long, so that a hang fails.
inline constexpr std::chrono::seconds kCallDeadline{120};

inline absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

inline Value P(std::string_view text) {
  absl::StatusOr<Value> v =
      ir::ParseValue(absl::string_view(text.data(), text.size()));
  EXPECT_TRUE(v.ok()) << text << "\n" << v.status();
  return v.ok() ? *v : Value();
}

// A source of fresh local stacks (one per GetExecutor) on one shared pool.
// The factory must outlive the service (the test fixture holds it).
inline std::unique_ptr<stacks::LocalExecutorFactory> LocalFactory() {
  stacks::LocalExecutorFactoryOptions options;
  options.threads = 2;
  options.cache_size = 0;
  absl::StatusOr<std::unique_ptr<stacks::LocalExecutorFactory>> factory =
      stacks::LocalExecutorFactory::Create(options);
  EXPECT_TRUE(factory.ok()) << factory.status();
  return factory.ok() ? *std::move(factory) : nullptr;
}

inline ExecutorSource SourceOf(stacks::LocalExecutorFactory* factory) {
  return [factory](int64_t n) { return factory->ExecutorFor(n); };
}

// A gate that Materialize waits at while closed.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
  }
  // Waits until open; CANCELLED if CancelWaits came first.
  absl::Status Pass() {
    std::unique_lock<std::mutex> lock(mu_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_ || cancelled_; });
    --waiting_;
    return open_ ? absl::OkStatus()
                 : absl::CancelledError("cancelled at the gate");
  }
  void CancelWaits() {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }
  // Waits (bounded: a broken build fails instead of hanging) until `n`
  // calls wait at the gate.
  bool AwaitWaiting(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kCallDeadline, [&] { return waiting_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  bool cancelled_ = false;
  int waiting_ = 0;
};

// Forwards to `inner`; Materialize and PartialAggregate first pass the
// gate (CANCELLED when the executor is cancelled while they wait there).
// Handles are the inner executor's.
class GatedExecutor : public Executor {
 public:
  GatedExecutor(std::shared_ptr<Executor> inner, std::shared_ptr<Gate> gate)
      : inner_(std::move(inner)), gate_(std::move(gate)) {}

  absl::StatusOr<OwnedValue> CreateValue(const Value& value) override {
    return inner_->CreateValue(value);
  }
  absl::StatusOr<OwnedValue> CreateValue(
      const ir::NodePtr& computation) override {
    return inner_->CreateValue(computation);
  }
  absl::StatusOr<OwnedValue> CreateCall(
      ValueId function, std::optional<ValueId> argument) override {
    return inner_->CreateCall(function, argument);
  }
  absl::StatusOr<OwnedValue> CreateStruct(
      const std::vector<StructElementId>& elements) override {
    return inner_->CreateStruct(elements);
  }
  absl::StatusOr<OwnedValue> CreateSelection(ValueId source,
                                             int index) override {
    return inner_->CreateSelection(source, index);
  }
  absl::StatusOr<Value> Materialize(ValueId value) override {
    FEDEXEC_RETURN_IF_ERROR(gate_->Pass());
    return inner_->Materialize(value);
  }
  absl::Status Dispose(ValueId value) override {
    return inner_->Dispose(value);
  }
  void Cancel() override {
    inner_->Cancel();
    gate_->CancelWaits();
  }
  int64_t NumValues() const override { return inner_->NumValues(); }
  absl::StatusOr<std::vector<PartialNode>> PartialAggregate(
      const PartialAggregateSpec& spec) override {
    FEDEXEC_RETURN_IF_ERROR(gate_->Pass());
    return inner_->PartialAggregate(spec);
  }

 private:
  std::shared_ptr<Executor> inner_;
  std::shared_ptr<Gate> gate_;
};

inline v0::Value Proto(const Value& value) {
  v0::Value proto;
  absl::Status s = ir::ValueToProto(value, &proto);
  EXPECT_TRUE(s.ok()) << s;
  return proto;
}

// The proto of a checked computation written in the text syntax.
inline federated_language::Computation ComputationProto(std::string_view text) {
  absl::StatusOr<ir::NodePtr> node =
      ir::ParseComputation(absl::string_view(text.data(), text.size()));
  if (node.ok()) node = ir::CheckComputation(*node);
  EXPECT_TRUE(node.ok()) << text << "\n" << node.status();
  if (!node.ok()) return {};
  absl::StatusOr<federated_language::Computation> proto =
      ir::ComputationToProto(*node);
  EXPECT_TRUE(proto.ok()) << proto.status();
  return proto.ok() ? *proto : federated_language::Computation();
}

// A client over the raw stubs, as the remote executor or a foreign client
// would use them. Every call carries the token (if set) and, if given, a
// request id.
class TestClient {
 public:
  explicit TestClient(std::shared_ptr<grpc::Channel> channel)
      : channel_(std::move(channel)),
        group_(v0::ExecutorGroup::NewStub(channel_)),
        stream_(v1::ExecutorStream::NewStub(channel_)) {}

  void set_token(std::string token) { token_ = std::move(token); }
  v0::ExecutorGroup::Stub& group() { return *group_; }
  v1::ExecutorStream::Stub& stream() { return *stream_; }
  const std::shared_ptr<grpc::Channel>& channel() { return channel_; }

  std::unique_ptr<grpc::ClientContext> Context(
      const std::string& request_id = "") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + kCallDeadline);
    if (!token_.empty()) {
      ctx->AddMetadata(kAuthorizationMetadataKey, kBearerPrefix + token_);
    }
    if (!request_id.empty())
      ctx->AddMetadata(kRequestIdMetadataKey, request_id);
    return ctx;
  }

  absl::StatusOr<std::string> GetExecutor(int clients,
                                          const std::string& request_id = "") {
    v0::GetExecutorRequest request;
    auto* c = request.add_cardinalities();
    c->mutable_placement()->set_uri("clients");
    c->set_cardinality(clients);
    v0::GetExecutorResponse response;
    auto ctx = Context(request_id);
    FEDEXEC_RETURN_IF_ERROR(
        FromGrpc(group_->GetExecutor(ctx.get(), request, &response)));
    return response.executor().id();
  }

  absl::StatusOr<std::string> CreateValueProto(
      const std::string& executor, const v0::Value& value,
      const std::string& request_id = "") {
    v0::CreateValueRequest request;
    request.mutable_executor()->set_id(executor);
    *request.mutable_value() = value;
    v0::CreateValueResponse response;
    auto ctx = Context(request_id);
    FEDEXEC_RETURN_IF_ERROR(
        FromGrpc(group_->CreateValue(ctx.get(), request, &response)));
    return response.value_ref().id();
  }

  absl::StatusOr<std::string> CreateValue(const std::string& executor,
                                          const Value& value,
                                          const std::string& request_id = "") {
    return CreateValueProto(executor, Proto(value), request_id);
  }

  absl::StatusOr<std::string> CreateComputation(const std::string& executor,
                                                std::string_view text) {
    v0::Value value;
    *value.mutable_computation() = ComputationProto(text);
    return CreateValueProto(executor, value);
  }

  absl::StatusOr<std::string> CreateCall(const std::string& executor,
                                         const std::string& function,
                                         const std::string& argument = "",
                                         const std::string& request_id = "") {
    v0::CreateCallRequest request;
    request.mutable_executor()->set_id(executor);
    request.mutable_function_ref()->set_id(function);
    if (!argument.empty()) request.mutable_argument_ref()->set_id(argument);
    v0::CreateCallResponse response;
    auto ctx = Context(request_id);
    FEDEXEC_RETURN_IF_ERROR(
        FromGrpc(group_->CreateCall(ctx.get(), request, &response)));
    return response.value_ref().id();
  }

  absl::StatusOr<std::string> CreateStruct(
      const std::string& executor,
      const std::vector<std::pair<std::string, std::string>>& elements) {
    v0::CreateStructRequest request;
    request.mutable_executor()->set_id(executor);
    for (const auto& [name, ref] : elements) {
      auto* e = request.add_element();
      e->set_name(name);
      e->mutable_value_ref()->set_id(ref);
    }
    v0::CreateStructResponse response;
    auto ctx = Context();
    FEDEXEC_RETURN_IF_ERROR(
        FromGrpc(group_->CreateStruct(ctx.get(), request, &response)));
    return response.value_ref().id();
  }

  absl::StatusOr<std::string> CreateSelection(const std::string& executor,
                                              const std::string& source,
                                              int index) {
    v0::CreateSelectionRequest request;
    request.mutable_executor()->set_id(executor);
    request.mutable_source_ref()->set_id(source);
    request.set_index(index);
    v0::CreateSelectionResponse response;
    auto ctx = Context();
    FEDEXEC_RETURN_IF_ERROR(
        FromGrpc(group_->CreateSelection(ctx.get(), request, &response)));
    return response.value_ref().id();
  }

  absl::StatusOr<v0::Value> ComputeProto(const std::string& executor,
                                         const std::string& ref) {
    v0::ComputeRequest request;
    request.mutable_executor()->set_id(executor);
    request.mutable_value_ref()->set_id(ref);
    v0::ComputeResponse response;
    auto ctx = Context();
    FEDEXEC_RETURN_IF_ERROR(
        FromGrpc(group_->Compute(ctx.get(), request, &response)));
    return response.value();
  }

  absl::StatusOr<Value> Compute(const std::string& executor,
                                const std::string& ref) {
    FEDEXEC_ASSIGN_OR_RETURN(v0::Value proto, ComputeProto(executor, ref));
    return ir::ValueFromProto(proto);
  }

  absl::Status Dispose(const std::string& executor,
                       const std::vector<std::string>& refs,
                       const std::string& request_id = "") {
    v0::DisposeRequest request;
    request.mutable_executor()->set_id(executor);
    for (const std::string& r : refs) request.add_value_ref()->set_id(r);
    v0::DisposeResponse response;
    auto ctx = Context(request_id);
    return FromGrpc(group_->Dispose(ctx.get(), request, &response));
  }

  absl::Status DisposeExecutor(const std::string& executor,
                               const std::string& request_id = "") {
    v0::DisposeExecutorRequest request;
    request.mutable_executor()->set_id(executor);
    v0::DisposeExecutorResponse response;
    auto ctx = Context(request_id);
    return FromGrpc(group_->DisposeExecutor(ctx.get(), request, &response));
  }

  // Sends `value` in chunks of `chunk_bytes`, one message per chunk, the
  // executor named in the first.
  absl::StatusOr<std::string> CreateValueStream(
      const std::string& executor, const Value& value, int64_t chunk_bytes,
      const std::string& request_id = "") {
    FEDEXEC_ASSIGN_OR_RETURN(ir::ValueChunker chunker,
                             ir::ValueChunker::Create(value, chunk_bytes));
    v1::CreateValueStreamRequest request;
    v0::CreateValueResponse response;
    auto ctx = Context(request_id);
    auto writer = stream_->CreateValueStream(ctx.get(), &response);
    bool first = true;
    while (chunker.Next(request.mutable_chunk())) {
      if (first) request.mutable_executor()->set_id(executor);
      first = false;
      if (!writer->Write(request)) break;
      request.Clear();
    }
    writer->WritesDone();
    FEDEXEC_RETURN_IF_ERROR(FromGrpc(writer->Finish()));
    return response.value_ref().id();
  }

  // Sends the given messages as they are.
  absl::StatusOr<std::string> CreateValueStreamRaw(
      const std::vector<v1::CreateValueStreamRequest>& requests) {
    v0::CreateValueResponse response;
    auto ctx = Context();
    auto writer = stream_->CreateValueStream(ctx.get(), &response);
    for (const auto& r : requests) {
      if (!writer->Write(r)) break;
    }
    writer->WritesDone();
    FEDEXEC_RETURN_IF_ERROR(FromGrpc(writer->Finish()));
    return response.value_ref().id();
  }

  // Reads the value in chunks; `chunks` (if set) gets their number.
  absl::StatusOr<Value> ComputeStream(const std::string& executor,
                                      const std::string& ref,
                                      int64_t chunk_bytes,
                                      int64_t* chunks = nullptr,
                                      int64_t* largest = nullptr) {
    v1::ComputeStreamRequest request;
    request.mutable_executor()->set_id(executor);
    request.mutable_value_ref()->set_id(ref);
    request.set_chunk_bytes(chunk_bytes);
    auto ctx = Context();
    auto reader = stream_->ComputeStream(ctx.get(), request);
    ir::ChunkAssembler assembler;
    v1::ValueChunk chunk;
    absl::Status added = absl::OkStatus();
    int64_t n = 0;
    int64_t max = 0;
    while (reader->Read(&chunk)) {
      ++n;
      if (chunk.has_data()) {
        max = std::max<int64_t>(max, static_cast<int64_t>(chunk.data().size()));
      }
      if (added.ok()) added = assembler.Add(chunk);
    }
    FEDEXEC_RETURN_IF_ERROR(FromGrpc(reader->Finish()));
    FEDEXEC_RETURN_IF_ERROR(added);
    if (chunks != nullptr) *chunks = n;
    if (largest != nullptr) *largest = max;
    return assembler.Finish();
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v0::ExecutorGroup::Stub> group_;
  std::unique_ptr<v1::ExecutorStream::Stub> stream_;
  std::string token_;
};

inline std::shared_ptr<grpc::Channel> Channel(const std::string& target,
                                              ChannelOptions options = {}) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      MakeChannel(target, options);
  EXPECT_TRUE(channel.ok()) << channel.status();
  return channel.ok() ? *channel : nullptr;
}

// A unary call of `method` ("/package.Service/Method") with raw request
// bytes; the response bytes go to *response.
inline absl::Status RawCall(const std::shared_ptr<grpc::Channel>& channel,
                            const std::string& method,
                            const std::string& request,
                            std::string* response = nullptr,
                            const std::string& token = "") {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
  if (!token.empty()) {
    ctx.AddMetadata(kAuthorizationMetadataKey, kBearerPrefix + token);
  }
  grpc::Slice slice(request);
  grpc::ByteBuffer in(&slice, 1);
  grpc::ByteBuffer out;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &in, &out,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  grpc::Status status = done.get_future().get();
  if (status.ok() && response != nullptr) {
    std::vector<grpc::Slice> slices;
    (void)out.Dump(&slices);
    response->clear();
    for (const grpc::Slice& s : slices) {
      response->append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  return FromGrpc(status);
}

// grpc.health.v1.Health/Check for `service` ("" for the whole server):
// the ServingStatus number (1 SERVING, 2 NOT_SERVING) or the call's error.
inline absl::StatusOr<int> HealthStatus(
    const std::shared_ptr<grpc::Channel>& channel,
    const std::string& service = "") {
  std::string request;
  if (!service.empty()) {
    request.push_back('\x0a');
    request.push_back(static_cast<char>(service.size()));
    request += service;
  }
  std::string response;
  FEDEXEC_RETURN_IF_ERROR(
      RawCall(channel, "/grpc.health.v1.Health/Check", request, &response));
  if (response.size() == 2 && response[0] == '\x08') return response[1];
  return response.empty() ? 0 : -1;  // status 0 (UNKNOWN) is not written
}

}  // namespace fedexec::service::test

#endif  // FEDEXEC_SERVICE_SERVICE_TEST_UTIL_H_
