// Conformance with the executor protocol as a foreign client speaks it:
// the request vectors of testdata/compat/protocol (encoded with the
// upstream schema) and a computation of testdata/compat/computations are
// sent as they are (only the ids are the ones this worker handed out),
// without token or request ids, and the answers are read with the
// protocol's own messages (typed lists, which is all such a client reads;
// raw content only for a client that asks for it). Then malformed and
// out-of-order requests, each followed by a good one that must succeed.
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/service_test_util.h"
#include "service/worker.h"
#include "testing/test_files.h"

namespace fedexec::service {
namespace {

using ::testing::HasSubstr;
using namespace ::fedexec::service::test;  // NOLINT

namespace fs = std::filesystem;

template <typename Message>
Message Vector(const std::string& name) {
  const fs::path path =
      test_util::SourceDir() / "testdata/compat/protocol" / name;
  Message m;
  EXPECT_TRUE(m.ParseFromString(test_util::ReadFile(path))) << path;
  return m;
}

class ConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    factory_ = LocalFactory();
    absl::StatusOr<std::unique_ptr<Worker>> worker =
        Worker::Start({}, SourceOf(factory_.get()));
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = *std::move(worker);
    // A plain channel with gRPC's defaults, as a foreign client has.
    channel_ = grpc::CreateChannel(worker_->target(),
                                   grpc::InsecureChannelCredentials());
    stub_ = v0::ExecutorGroup::NewStub(channel_);
  }

  std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + kCallDeadline);
    return ctx;
  }

  absl::StatusOr<std::string> GetExecutor() {
    v0::GetExecutorResponse response;
    FEDEXEC_RETURN_IF_ERROR(FromGrpc(stub_->GetExecutor(
        Ctx().get(), Vector<v0::GetExecutorRequest>("get_executor_request.pb"),
        &response)));
    return response.executor().id();
  }

  absl::StatusOr<std::string> CreateValue(v0::CreateValueRequest request,
                                          const std::string& executor) {
    request.mutable_executor()->set_id(executor);
    v0::CreateValueResponse response;
    FEDEXEC_RETURN_IF_ERROR(
        FromGrpc(stub_->CreateValue(Ctx().get(), request, &response)));
    return response.value_ref().id();
  }

  absl::StatusOr<std::string> CreateComputation(const std::string& file,
                                                const std::string& executor) {
    v0::CreateValueRequest request;
    EXPECT_TRUE(request.mutable_value()->mutable_computation()->ParseFromString(
        test_util::ReadFile(test_util::SourceDir() /
                            "testdata/compat/computations" / file)));
    return CreateValue(request, executor);
  }

  absl::StatusOr<std::string> Call(const std::string& executor,
                                   const std::string& function,
                                   const std::string& argument) {
    v0::CreateCallRequest request =
        Vector<v0::CreateCallRequest>("create_call_request.pb");
    request.mutable_executor()->set_id(executor);
    request.mutable_function_ref()->set_id(function);
    if (argument.empty()) {
      request.clear_argument_ref();
    } else {
      request.mutable_argument_ref()->set_id(argument);
    }
    v0::CreateCallResponse response;
    FEDEXEC_RETURN_IF_ERROR(
        FromGrpc(stub_->CreateCall(Ctx().get(), request, &response)));
    return response.value_ref().id();
  }

  // `reads_content`: as a fedexec client, which says that it reads raw
  // content (ir::kArrayContentMetadataKey); a foreign client does not.
  absl::StatusOr<v0::ComputeResponse> Compute(const std::string& executor,
                                              const std::string& ref,
                                              bool reads_content = false) {
    v0::ComputeRequest request;
    request.mutable_executor()->set_id(executor);
    request.mutable_value_ref()->set_id(ref);
    v0::ComputeResponse response;
    std::unique_ptr<grpc::ClientContext> ctx = Ctx();
    if (reads_content) {
      ctx->AddMetadata(ir::kArrayContentMetadataKey,
                       ir::kArrayContentMetadataValue);
    }
    FEDEXEC_RETURN_IF_ERROR(
        FromGrpc(stub_->Compute(ctx.get(), request, &response)));
    return response;
  }

  // The whole exchange of the vectors; after any bad request this must
  // still succeed.
  void ExpectSumOfTheVectors() {
    absl::StatusOr<std::string> e = GetExecutor();
    ASSERT_TRUE(e.ok()) << e.status();
    absl::StatusOr<std::string> x = CreateValue(
        Vector<v0::CreateValueRequest>("create_value_federated_request.pb"),
        *e);
    ASSERT_TRUE(x.ok()) << x.status();
    absl::StatusOr<std::string> f = CreateComputation("sum_parameter.pb", *e);
    ASSERT_TRUE(f.ok()) << f.status();
    absl::StatusOr<std::string> c = Call(*e, *f, *x);
    ASSERT_TRUE(c.ok()) << c.status();
    absl::StatusOr<v0::ComputeResponse> r = Compute(*e, *c);
    ASSERT_TRUE(r.ok()) << r.status();
    // Read as a foreign client does: 6.0 at SERVER, all-equal.
    const v0::Value::Federated& fed = r->value().federated();
    EXPECT_EQ(fed.type().placement().value().uri(), "server");
    EXPECT_TRUE(fed.type().all_equal());
    EXPECT_EQ(fed.type().member().tensor().dtype(),
              federated_language::DT_FLOAT);
    ASSERT_EQ(fed.value_size(), 1);
    const federated_language::Array& a = fed.value(0).array();
    EXPECT_EQ(a.dtype(), federated_language::DT_FLOAT);
    EXPECT_EQ(a.shape().dim_size(), 0);
    // TensorFlow Federated's client reads only the typed lists.
    EXPECT_FALSE(a.has_content());
    ASSERT_EQ(a.float32_list().value_size(), 1);
    EXPECT_EQ(a.float32_list().value(0), 6.0f);
    v0::DisposeExecutorRequest dispose;
    dispose.mutable_executor()->set_id(*e);
    v0::DisposeExecutorResponse disposed;
    EXPECT_TRUE(stub_->DisposeExecutor(Ctx().get(), dispose, &disposed).ok());
  }

  std::unique_ptr<stacks::LocalExecutorFactory> factory_;
  std::unique_ptr<Worker> worker_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v0::ExecutorGroup::Stub> stub_;
};

TEST_F(ConformanceTest, TheVectorsComputeTheSum) { ExpectSumOfTheVectors(); }

TEST_F(ConformanceTest, RawContentAndStructResults) {
  const std::string e = *GetExecutor();
  EXPECT_EQ(e.rfind("clients=3/", 0), 0u) << e;
  // float32[3] in raw content: answered as a typed list to a foreign
  // client, as the same raw content to a fedexec client.
  const std::string x = *CreateValue(
      Vector<v0::CreateValueRequest>("create_value_request.pb"), e);
  absl::StatusOr<v0::ComputeResponse> r = Compute(e, x);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*ir::ValueFromProto(r->value()), P("[1.0, 2.0, 3.0]"));
  EXPECT_THAT(r->value().array().float32_list().value(),
              ::testing::ElementsAre(1.0f, 2.0f, 3.0f));
  r = Compute(e, x, /*reads_content=*/true);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->value().array().content(),
            Vector<v0::CreateValueRequest>("create_value_request.pb")
                .value()
                .array()
                .content());

  // The struct of compute_response.pb, from a function without parameter.
  v0::CreateValueRequest request;
  *request.mutable_value()->mutable_computation() =
      ComputationProto("() -> <a=6.0, b=[1, 2]>");
  const std::string f = *CreateValue(request, e);
  const std::string c = *Call(e, f, "");
  r = Compute(e, c);
  ASSERT_TRUE(r.ok()) << r.status();
  const v0::ComputeResponse expected =
      Vector<v0::ComputeResponse>("compute_response.pb");
  EXPECT_EQ(*ir::ValueFromProto(r->value()),
            *ir::ValueFromProto(expected.value()));
  EXPECT_EQ(r->value().struct_().element(0).name(), "a");
  EXPECT_EQ(r->value().struct_().element(1).name(), "b");

  // The other vector computations.
  for (const auto& [file, result] :
       {std::pair{"apply_double.pb", "3.0@SERVER"},
        std::pair{"min_value_at_clients.pb", "7.0@SERVER"}}) {
    SCOPED_TRACE(file);
    const std::string fn = *CreateComputation(file, e);
    r = Compute(e, *Call(e, fn, ""));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*ir::ValueFromProto(r->value()), P(result));
  }
}

TEST_F(ConformanceTest, BadRequestsAreRefusedAndTheWorkerServesOn) {
  const std::string e = *GetExecutor();
  const std::string x = *CreateValue(
      Vector<v0::CreateValueRequest>("create_value_federated_request.pb"), e);
  const std::string f = *CreateComputation("sum_parameter.pb", e);

  // The vector's own refs ("7", "8") and executor id were never handed out
  // by this worker.
  {
    v0::CreateCallRequest request =
        Vector<v0::CreateCallRequest>("create_call_request.pb");
    v0::CreateCallResponse response;
    absl::Status s =
        FromGrpc(stub_->CreateCall(Ctx().get(), request, &response));
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("executor 'clients=3/1' is unknown"));
    request.mutable_executor()->set_id(e);
    s = FromGrpc(stub_->CreateCall(Ctx().get(), request, &response));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("unknown value ref '7'"));
  }
  ExpectSumOfTheVectors();

  // Garbage bytes where a message should be.
  for (const char* method :
       {"/tensorflow_federated.v0.ExecutorGroup/CreateValue",
        "/tensorflow_federated.v0.ExecutorGroup/Compute",
        "/fedexec.v1.ExecutorStream/PartialAggregate"}) {
    SCOPED_TRACE(method);
    absl::Status s =
        RawCall(channel_, method, std::string("\xff\xff\xff\x0f\x01", 5));
    EXPECT_FALSE(s.ok());
    ExpectSumOfTheVectors();
  }
  // A method that does not exist.
  EXPECT_EQ(RawCall(channel_, "/tensorflow_federated.v0.ExecutorGroup/Nope", "")
                .code(),
            absl::StatusCode::kUnimplemented);

  // A computation called with an argument of the wrong type: the call is
  // created, computing it fails with the type error.
  {
    const std::string raw = *CreateValue(
        Vector<v0::CreateValueRequest>("create_value_request.pb"), e);
    absl::StatusOr<std::string> c = Call(e, f, raw);
    absl::Status s = c.ok() ? Compute(e, *c).status() : c.status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  }
  ExpectSumOfTheVectors();

  // A value that does not fit the executor (3 clients): 2 members.
  {
    v0::CreateValueRequest request =
        Vector<v0::CreateValueRequest>("create_value_federated_request.pb");
    request.mutable_value()->mutable_federated()->mutable_value()->RemoveLast();
    EXPECT_EQ(CreateValue(request, e).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  // Raw content of the wrong length.
  {
    v0::CreateValueRequest request =
        Vector<v0::CreateValueRequest>("create_value_request.pb");
    request.mutable_value()->mutable_array()->mutable_content()->pop_back();
    absl::Status s = CreateValue(request, e).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(
        std::string(s.message()),
        HasSubstr("CreateValueRequest.value: Array: shape [3] of "
                  "DT_FLOAT needs 12 bytes of content, content has 11"));
  }
  ExpectSumOfTheVectors();

  // Compute of a disposed value; Compute before the call exists.
  {
    const std::string c = *Call(e, f, x);
    v0::DisposeRequest request;
    request.mutable_executor()->set_id(e);
    request.add_value_ref()->set_id(c);
    v0::DisposeResponse response;
    ASSERT_TRUE(stub_->Dispose(Ctx().get(), request, &response).ok());
    absl::Status s = Compute(e, c).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr(absl::StrCat("unknown value ref '", c, "'")));
    EXPECT_EQ(Compute(e, "1000").status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  ExpectSumOfTheVectors();

  // Everything on an executor after it was disposed of.
  {
    v0::DisposeExecutorRequest request;
    request.mutable_executor()->set_id(e);
    v0::DisposeExecutorResponse response;
    ASSERT_TRUE(stub_->DisposeExecutor(Ctx().get(), request, &response).ok());
    EXPECT_EQ(Compute(e, x).status().code(),
              absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(Call(e, f, x).status().code(),
              absl::StatusCode::kFailedPrecondition);
  }
  ExpectSumOfTheVectors();
}

}  // namespace
}  // namespace fedexec::service
