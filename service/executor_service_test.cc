// Specification of the executor service (service/executor_service.h),
// driven over gRPC with the raw stubs against a worker on a free port that
// serves real local stacks: executors and cardinalities, values,
// computations and structs of them, every error and the worker serving on
// after it, cancelled executors, errors passed through, request-id
// retries, the bearer token, every limit, the streams and partial
// aggregation.
#include "service/executor_service.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "executors/federating_executor.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "service/service_test_util.h"
#include "service/worker.h"

namespace fedexec::service {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace ::fedexec::service::test;  // NOLINT

template <typename T>
T Must(absl::StatusOr<T> v) {
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *std::move(v) : T();
}

void ExpectError(const absl::Status& s, absl::StatusCode code,
                 const std::string& part) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(part));
}

class ServiceTest : public ::testing::Test {
 protected:
  void Start(ServiceOptions options = {}, ExecutorSource source = nullptr) {
    factory_ = LocalFactory();
    if (!source) source = SourceOf(factory_.get());
    WorkerOptions w;
    w.service = std::move(options);
    absl::StatusOr<std::unique_ptr<Worker>> worker =
        Worker::Start(std::move(w), std::move(source));
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = *std::move(worker);
    client_ = std::make_unique<TestClient>(Channel(worker_->target()));
  }

  // A whole round of good requests: after any bad request, the worker
  // still serves.
  void ExpectServing() {
    const std::string e = Must(client_->GetExecutor(2));
    const std::string f = Must(client_->CreateComputation(
        e, "(x: {int32}@CLIENTS) -> federated_sum(x)"));
    const std::string x = Must(client_->CreateValue(e, P("{1, 2}@CLIENTS")));
    const std::string call = Must(client_->CreateCall(e, f, x));
    EXPECT_EQ(Must(client_->Compute(e, call)), P("3@SERVER"));
    EXPECT_TRUE(client_->DisposeExecutor(e).ok());
  }

  ExecutorService& service() { return worker_->service(); }

  std::unique_ptr<stacks::LocalExecutorFactory> factory_;
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<TestClient> client_;
};

// --------------------------------------------------------------- executors

TEST_F(ServiceTest, GetExecutorReadsTheCardinalities) {
  Start();
  auto get = [&](const std::vector<std::pair<std::string, int>>& cards) {
    v0::GetExecutorRequest request;
    for (const auto& [uri, n] : cards) {
      auto* c = request.add_cardinalities();
      c->mutable_placement()->set_uri(uri);
      c->set_cardinality(n);
    }
    v0::GetExecutorResponse response;
    auto ctx = client_->Context();
    absl::Status s =
        FromGrpc(client_->group().GetExecutor(ctx.get(), request, &response));
    return s.ok() ? absl::StatusOr<std::string>(response.executor().id())
                  : absl::StatusOr<std::string>(s);
  };
  const std::string three = Must(get({{"clients", 3}, {"server", 1}}));
  EXPECT_THAT(three, StartsWith("clients=3/"));
  const std::string none = Must(get({}));
  EXPECT_THAT(none, StartsWith("clients=0/"));
  EXPECT_NE(Must(get({{"clients", 3}})), three);
  // A 3-client executor takes 3 members; the one without CLIENTS none.
  EXPECT_TRUE(client_->CreateValue(three, P("{1, 2, 3}@CLIENTS")).ok());
  ExpectError(client_->CreateValue(none, P("{1}@CLIENTS")).status(),
              absl::StatusCode::kInvalidArgument, "");
  EXPECT_TRUE(client_->CreateValue(none, P("{}@CLIENTS")).ok());

  ExpectError(get({{"server", 2}}).status(), absl::StatusCode::kInvalidArgument,
              "GetExecutorRequest.cardinalities[0]: SERVER cardinality is 2, "
              "must be 1");
  ExpectError(get({{"clients", 1}, {"moon", 1}}).status(),
              absl::StatusCode::kInvalidArgument,
              "GetExecutorRequest.cardinalities[1]: unknown placement 'moon'");
  ExpectError(get({{"clients", 1}, {"clients", 2}}).status(),
              absl::StatusCode::kInvalidArgument,
              "cardinalities[1]: a second CLIENTS cardinality");
  ExpectError(get({{"clients", -1}}).status(),
              absl::StatusCode::kInvalidArgument,
              "cardinalities[0]: CLIENTS cardinality is -1, must be >= 0");
  EXPECT_EQ(service().num_executors(), 3);
  ExpectServing();
}

TEST_F(ServiceTest, SourceErrorsAreGetExecutorsAnswer) {
  Start({}, [](int64_t n) -> absl::StatusOr<std::shared_ptr<Executor>> {
    return absl::ResourceExhaustedError(
        absl::StrCat("no stack for ", n, " clients"));
  });
  EXPECT_EQ(client_->GetExecutor(7).status(),
            absl::ResourceExhaustedError("no stack for 7 clients"));
}

TEST_F(ServiceTest, DisposeExecutorDropsItsValues) {
  Start();
  const std::string e = Must(client_->GetExecutor(1));
  Must(client_->CreateValue(e, P("[1, 2]")));
  Must(client_->CreateValue(e, P("3")));
  EXPECT_EQ(service().num_values(), 2);
  ASSERT_TRUE(client_->DisposeExecutor(e).ok());
  EXPECT_EQ(service().num_values(), 0);
  EXPECT_EQ(service().num_executors(), 0);
  ExpectError(client_->CreateValue(e, P("1")).status(),
              absl::StatusCode::kFailedPrecondition,
              absl::StrCat("executor '", e, "' is unknown or was disposed"));
  ExpectError(client_->DisposeExecutor(e),
              absl::StatusCode::kFailedPrecondition, e);
  ExpectServing();
}

// ------------------------------------------------------------------ values

TEST_F(ServiceTest, ComputesCallsStructsAndSelections) {
  Start();
  const std::string e = Must(client_->GetExecutor(3));
  const std::string mean = Must(client_->CreateComputation(
      e, "(x: {float32}@CLIENTS) -> federated_mean(x)"));
  const std::string x =
      Must(client_->CreateValue(e, P("{1.0, 2.0, 6.0}@CLIENTS")));
  const std::string m = Must(client_->CreateCall(e, mean, x));
  EXPECT_EQ(Must(client_->Compute(e, m)), P("3.0@SERVER"));

  // A function without parameter.
  const std::string lit =
      Must(client_->CreateComputation(e, "() -> <a=6.0, b=[1, 2]>"));
  const std::string s = Must(client_->CreateCall(e, lit));
  EXPECT_EQ(Must(client_->Compute(e, s)), P("<a=6.0, b=[1, 2]>"));
  const std::string b = Must(client_->CreateSelection(e, s, 1));
  EXPECT_EQ(Must(client_->Compute(e, b)), P("[1, 2]"));

  const std::string st = Must(client_->CreateStruct(e, {{"m", m}, {"", b}}));
  EXPECT_EQ(Must(client_->Compute(e, st)), P("<m=3.0@SERVER, [1, 2]>"));
  // Values stay until disposed of: compute again.
  EXPECT_EQ(Must(client_->Compute(e, m)), P("3.0@SERVER"));
  EXPECT_EQ(service().num_values(), 7);
  ASSERT_TRUE(client_->Dispose(e, {m, st, b}).ok());
  EXPECT_EQ(service().num_values(), 4);
}

TEST_F(ServiceTest, StructsOfComputationsAreCreatedElementByElement) {
  Start();
  const std::string e = Must(client_->GetExecutor(0));
  v0::Value value;
  auto* s = value.mutable_struct_();
  auto* f = s->add_element();
  f->set_name("f");
  *f->mutable_value()->mutable_computation() =
      ComputationProto("(x: int32) -> generic_plus(x, x)");
  auto* inner = s->add_element();
  inner->set_name("inner");
  auto* g = inner->mutable_value()->mutable_struct_()->add_element();
  *g->mutable_value()->mutable_computation() =
      ComputationProto("(x: int32) -> generic_multiply(x, x)");
  auto* x = s->add_element();
  x->set_name("x");
  *x->mutable_value() = Proto(P("5"));
  const std::string ref = Must(client_->CreateValueProto(e, value));

  const std::string fn = Must(client_->CreateSelection(e, ref, 0));
  const std::string arg = Must(client_->CreateSelection(e, ref, 2));
  EXPECT_EQ(Must(client_->Compute(e, Must(client_->CreateCall(e, fn, arg)))),
            P("10"));
  const std::string in = Must(client_->CreateSelection(e, ref, 1));
  const std::string gn = Must(client_->CreateSelection(e, in, 0));
  EXPECT_EQ(Must(client_->Compute(e, Must(client_->CreateCall(e, gn, arg)))),
            P("25"));
  // A value holding a function cannot be materialized: the executor's
  // error, passed through.
  ExpectError(client_->Compute(e, ref).status(),
              absl::StatusCode::kInvalidArgument, "");
  ExpectServing();
}

TEST_F(ServiceTest, RefusesMalformedValuesNamingTheField) {
  Start();
  const std::string e = Must(client_->GetExecutor(2));
  struct Case {
    std::string value;  // text proto of a v0.Value
    std::string message;
  };
  const Case cases[] = {
      {"", "CreateValueRequest.value: Value has no kind set"},
      {"struct { element { name: 'w' value { array { dtype: DT_FLOAT shape { "
       "dim: 2 } content: 'abc' } } } }",
       "CreateValueRequest.value: at w: Array: shape [2] of DT_FLOAT needs 8 "
       "bytes of content, content has 3"},
      {"federated { type { placement { value { uri: 'clients' } } member { "
       "tensor { dtype: DT_INT32 } } } value { computation { intrinsic { "
       "uri: 'federated_sum' } } } }",
       "CreateValueRequest.value: at member 0: a computation where a value "
       "was expected"},
      {"struct { element { value { array { dtype: DT_INT32 shape {} "
       "int32_list { value: 1 } } } } element { value { federated { type { "
       "placement { value { uri: 'clients' } } member { tensor { dtype: "
       "DT_INT32 } } } value { computation { intrinsic { uri: 'x' } } } } } "
       "} }",
       "CreateValueRequest.value: at [1] member 0: a computation where a "
       "value was expected"},
      {"computation { lambda { parameter_name: 'x' } }",
       "CreateValueRequest.value: computation: "},
      {"struct { element { name: 'f' value { computation { intrinsic { } } } "
       "} }",
       "CreateValueRequest.value: at f: computation: "},
      {"struct { element { name: 'a' value { computation { intrinsic { uri: "
       "'federated_sum' } } } } element { name: 'a' value { struct {} } } }",
       "struct elements 0 and 1 are both named 'a'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.value);
    v0::Value value;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(c.value, &value));
    ExpectError(client_->CreateValueProto(e, value).status(),
                absl::StatusCode::kInvalidArgument, c.message);
  }
  // No value at all, no executor id.
  {
    v0::CreateValueRequest request;
    request.mutable_executor()->set_id(e);
    v0::CreateValueResponse response;
    auto ctx = client_->Context();
    ExpectError(
        FromGrpc(client_->group().CreateValue(ctx.get(), request, &response)),
        absl::StatusCode::kInvalidArgument,
        "CreateValueRequest.value: no value given");
  }
  ExpectError(client_->CreateValue("", P("1")).status(),
              absl::StatusCode::kInvalidArgument,
              "CreateValueRequest.executor: no executor id given");
  // A computation whose declared type disagrees with its body.
  {
    v0::Value value;
    *value.mutable_computation() = ComputationProto("(x: int32) -> x");
    value.mutable_computation()
        ->mutable_type()
        ->mutable_function()
        ->mutable_result()
        ->mutable_tensor()
        ->set_dtype(federated_language::DT_FLOAT);
    ExpectError(client_->CreateValueProto(e, value).status(),
                absl::StatusCode::kInvalidArgument,
                "CreateValueRequest.value: computation: ");
  }
  EXPECT_EQ(service().num_values(), 0);
  ExpectServing();
}

TEST_F(ServiceTest, UnknownRefsAndIdsNameThem) {
  Start();
  const std::string e = Must(client_->GetExecutor(1));
  const std::string one = Must(client_->CreateValue(e, P("1")));
  ExpectError(client_->CreateCall(e, "99", one).status(),
              absl::StatusCode::kInvalidArgument,
              absl::StrCat("CreateCallRequest.function_ref: unknown value ref "
                           "'99' on executor '",
                           e, "'"));
  ExpectError(client_->CreateCall(e, "").status(),
              absl::StatusCode::kInvalidArgument,
              "CreateCallRequest.function_ref: no value ref given");
  ExpectError(
      client_->CreateStruct(e, {{"a", one}, {"b", "x"}}).status(),
      absl::StatusCode::kInvalidArgument,
      "CreateStructRequest.element[1].value_ref: unknown value ref 'x'");
  ExpectError(client_->CreateStruct(e, {{"a", one}, {"a", one}}).status(),
              absl::StatusCode::kInvalidArgument,
              "CreateStructRequest.element[1]: the name 'a'");
  ExpectError(client_->CreateSelection(e, one, -1).status(),
              absl::StatusCode::kInvalidArgument,
              "CreateSelectionRequest.index is -1, must be >= 0");
  ExpectError(client_->Compute(e, "77").status(),
              absl::StatusCode::kInvalidArgument,
              "ComputeRequest.value_ref: unknown value ref '77'");
  ExpectError(client_->Compute("clients=1/999-nope", one).status(),
              absl::StatusCode::kFailedPrecondition,
              "executor 'clients=1/999-nope' is unknown or was disposed");
  // Dispose is all or nothing.
  ExpectError(client_->Dispose(e, {one, "5"}),
              absl::StatusCode::kInvalidArgument,
              "DisposeRequest.value_ref[1]: unknown value ref '5'");
  ExpectError(client_->Dispose(e, {one, one}),
              absl::StatusCode::kInvalidArgument,
              "DisposeRequest.value_ref[1]: value ref '" + one +
                  "' is also value_ref[0]");
  EXPECT_EQ(Must(client_->Compute(e, one)), P("1"));
  ASSERT_TRUE(client_->Dispose(e, {one}).ok());
  ExpectError(client_->Compute(e, one).status(),
              absl::StatusCode::kInvalidArgument,
              "ComputeRequest.value_ref: unknown value ref '" + one + "'");
  ExpectServing();
}

// The status a local stack gives for the call of `function` (the tree the
// service decodes from its proto) with `argument`, run directly.
absl::Status DirectStatus(stacks::LocalExecutorFactory& factory, int clients,
                          std::string_view function, const Value& argument) {
  std::shared_ptr<Executor> ex = Must(factory.ExecutorFor(clients));
  absl::StatusOr<ir::NodePtr> node =
      ir::ComputationFromProto(ComputationProto(function));
  if (node.ok()) node = ir::CheckComputation(*node);
  OwnedValue f = Must(ex->CreateValue(*node));
  OwnedValue a = Must(ex->CreateValue(argument));
  OwnedValue c = Must(ex->CreateCall(f, a));
  return ex->Materialize(c).status();
}

TEST_F(ServiceTest, ErrorsOfAComputationPassThrough) {
  Start();
  const std::string e = Must(client_->GetExecutor(2));
  const char* fn = "(x: {int32}@CLIENTS) -> federated_sum(x)";
  const Value wrong = P("[1, 2]");  // not a federated value
  const std::string f = Must(client_->CreateComputation(e, fn));
  const std::string x = Must(client_->CreateValue(e, wrong));
  const std::string c = Must(client_->CreateCall(e, f, x));
  const absl::Status direct = DirectStatus(*factory_, 2, fn, wrong);
  ASSERT_FALSE(direct.ok());
  // Code and message (status payloads do not cross gRPC).
  const absl::Status served = client_->Compute(e, c).status();
  EXPECT_EQ(served.code(), direct.code());
  EXPECT_EQ(served.message(), direct.message());
  // The executor is still usable.
  const std::string ok = Must(client_->CreateValue(e, P("{1, 2}@CLIENTS")));
  EXPECT_EQ(Must(client_->Compute(e, Must(client_->CreateCall(e, f, ok)))),
            P("3@SERVER"));
  // Create-time errors pass through too.
  std::shared_ptr<Executor> direct_ex = Must(factory_->ExecutorFor(2));
  EXPECT_EQ(client_->CreateValue(e, P("{1, 2, 3}@CLIENTS")).status(),
            direct_ex->CreateValue(P("{1, 2, 3}@CLIENTS")).status());
}

TEST_F(ServiceTest, ACancelledExecutorIsUnusable) {
  auto made = std::make_shared<std::vector<std::shared_ptr<Executor>>>();
  auto mu = std::make_shared<std::mutex>();
  auto factory = LocalFactory();
  auto* f = factory.get();
  Start({},
        [f, made, mu](int64_t n) -> absl::StatusOr<std::shared_ptr<Executor>> {
          FEDEXEC_ASSIGN_OR_RETURN(std::shared_ptr<Executor> ex,
                                   f->ExecutorFor(n));
          std::lock_guard<std::mutex> lock(*mu);
          made->push_back(ex);
          return ex;
        });
  const std::string e = Must(client_->GetExecutor(1));
  const std::string other = Must(client_->GetExecutor(1));
  const std::string fn =
      Must(client_->CreateComputation(e, "(x: int32) -> generic_plus(x, x)"));
  {
    std::lock_guard<std::mutex> lock(*mu);
    ASSERT_EQ(made->size(), 2u);
    (*made)[0]->Cancel();
  }
  absl::Status s = [&]() -> absl::Status {
    FEDEXEC_ASSIGN_OR_RETURN(std::string x, client_->CreateValue(e, P("2")));
    FEDEXEC_ASSIGN_OR_RETURN(std::string c, client_->CreateCall(e, fn, x));
    return client_->Compute(e, c).status();
  }();
  ExpectError(s, absl::StatusCode::kFailedPrecondition,
              absl::StrCat("executor '", e, "' is unusable (it was cancelled"));
  // From then on every call on it says so.
  ExpectError(client_->CreateValue(e, P("1")).status(),
              absl::StatusCode::kFailedPrecondition, "is unusable");
  ExpectError(client_->Compute(e, fn).status(),
              absl::StatusCode::kFailedPrecondition, "is unusable");
  // Others are unaffected; the client drops it.
  const std::string y = Must(client_->CreateValue(other, P("4")));
  EXPECT_EQ(Must(client_->Compute(other, y)), P("4"));
  EXPECT_TRUE(client_->DisposeExecutor(e).ok());
  ExpectServing();
  worker_.reset();  // before the factory whose stacks it holds
}

// ----------------------------------------------------------------- retries

TEST_F(ServiceTest, RequestIdsMakeRetriesIdempotent) {
  ServiceOptions options;
  options.request_id_window = 3;
  Start(options);
  const std::string e = Must(client_->GetExecutor(1, "get-1"));
  EXPECT_EQ(Must(client_->GetExecutor(1, "get-1")), e);
  EXPECT_EQ(service().num_executors(), 1);
  EXPECT_NE(Must(client_->GetExecutor(1, "get-2")), e);

  const std::string a = Must(client_->CreateValue(e, P("1"), "a"));
  EXPECT_EQ(Must(client_->CreateValue(e, P("1"), "a")), a);
  // The answer is the first one's, whatever the retry carries.
  EXPECT_EQ(Must(client_->CreateValue(e, P("2"), "a")), a);
  EXPECT_EQ(service().num_values(), 1);
  const std::string fn =
      Must(client_->CreateComputation(e, "(x: int32) -> generic_plus(x, x)"));
  const std::string c = Must(client_->CreateCall(e, fn, a, "c"));
  EXPECT_EQ(Must(client_->CreateCall(e, fn, a, "c")), c);
  EXPECT_EQ(service().num_values(), 3);
  EXPECT_EQ(Must(client_->Compute(e, c)), P("2"));

  // Dispose retried: OK again, nothing more disposed.
  ASSERT_TRUE(client_->Dispose(e, {c}, "d").ok());
  EXPECT_TRUE(client_->Dispose(e, {c}, "d").ok());
  ExpectError(client_->Dispose(e, {c}), absl::StatusCode::kInvalidArgument,
              "unknown value ref");

  // Errors are not remembered: the retry runs again.
  ExpectError(client_->CreateCall(e, "nope", "", "bad").status(),
              absl::StatusCode::kInvalidArgument, "unknown value ref 'nope'");
  EXPECT_TRUE(client_->CreateCall(e, fn, a, "bad").ok());

  // The window: after 3 newer ids, "a" is forgotten.
  Must(client_->CreateValue(e, P("7"), "w1"));
  Must(client_->CreateValue(e, P("7"), "w2"));
  Must(client_->CreateValue(e, P("7"), "w3"));
  EXPECT_NE(Must(client_->CreateValue(e, P("1"), "a")), a);

  // Ids are per executor: the same key elsewhere is a new request.
  const std::string e2 = Must(client_->GetExecutor(1));
  EXPECT_TRUE(client_->CreateValue(e2, P("1"), "w3").ok());

  ASSERT_TRUE(client_->DisposeExecutor(e2, "de").ok());
  EXPECT_TRUE(client_->DisposeExecutor(e2, "de").ok());
  ExpectError(client_->DisposeExecutor(e2),
              absl::StatusCode::kFailedPrecondition, e2);
}

TEST_F(ServiceTest, ConcurrentRetriesCreateOnce) {
  Start();
  const std::string e = Must(client_->GetExecutor(1));
  std::vector<std::string> refs(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      refs[i] = Must(client_->CreateValue(e, P("[1, 2, 3]"), "same"));
    });
  }
  for (auto& t : threads) t.join();
  for (const std::string& r : refs) EXPECT_EQ(r, refs[0]);
  EXPECT_EQ(service().num_values(), 1);
}

// -------------------------------------------------------------------- auth

// The lines the service logs at warning level (lines()) and at info level
// and below (debug_lines(): VLOG lines, when FLAGS_v is set).
class CapturingSink : public google::LogSink {
 public:
  CapturingSink() { google::AddLogSink(this); }
  ~CapturingSink() override { google::RemoveLogSink(this); }

  void send(google::LogSeverity severity, const char*, const char*, int,
            const google::LogMessageTime&, const char* message,
            size_t length) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (severity == google::GLOG_WARNING) {
      lines_.emplace_back(message, length);
    } else if (severity == google::GLOG_INFO) {
      debug_lines_.emplace_back(message, length);
    }
  }
  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }
  std::vector<std::string> debug_lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return debug_lines_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
  std::vector<std::string> debug_lines_;
};

TEST_F(ServiceTest, TheTokenIsRequiredWhenSet) {
  ServiceOptions options;
  options.token = "s3cret-token";
  Start(options);
  std::optional<CapturingSink> sink_holder;
  CapturingSink& sink = sink_holder.emplace();

  ExpectError(client_->GetExecutor(1).status(),
              absl::StatusCode::kUnauthenticated, "missing or invalid token");
  client_->set_token("wrong");
  ExpectError(client_->GetExecutor(1).status(),
              absl::StatusCode::kUnauthenticated, "missing or invalid token");
  ExpectError(client_->Compute("x", "y").status(),
              absl::StatusCode::kUnauthenticated, "missing or invalid token");
  ExpectError(client_->CreateValueStream("x", P("1"), 4).status(),
              absl::StatusCode::kUnauthenticated, "missing or invalid token");
  ExpectError(client_->ComputeStream("x", "y", 4).status(),
              absl::StatusCode::kUnauthenticated, "missing or invalid token");
  EXPECT_EQ(service().num_executors(), 0);

  client_->set_token("s3cret-token");
  ExpectServing();

  const std::vector<std::string> lines = sink.lines();
  sink_holder.reset();
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_THAT(lines[0], HasSubstr("refused GetExecutor from "));
  EXPECT_THAT(lines[0], HasSubstr("127.0.0.1"));
  EXPECT_THAT(lines[0], HasSubstr("UNAUTHENTICATED: missing or invalid token"));
  EXPECT_THAT(lines[1], HasSubstr("refused GetExecutor from "));
  EXPECT_THAT(lines[2], HasSubstr("refused Compute from "));
  EXPECT_THAT(lines[3], HasSubstr("refused CreateValueStream from "));
  EXPECT_THAT(lines[4], HasSubstr("refused ComputeStream from "));
  for (const std::string& line : lines) {
    EXPECT_THAT(line, ::testing::Not(HasSubstr("s3cret")));
    EXPECT_THAT(line, ::testing::Not(HasSubstr("wrong")));
  }
}

// ------------------------------------------------------------------ limits

TEST_F(ServiceTest, MaxExecutors) {
  ServiceOptions options;
  options.max_executors = 2;
  Start(options);
  const std::string a = Must(client_->GetExecutor(1));
  Must(client_->GetExecutor(1));
  ExpectError(client_->GetExecutor(1).status(),
              absl::StatusCode::kResourceExhausted, "max_executors (2)");
  // Existing executors keep working; one disposed makes room.
  EXPECT_EQ(Must(client_->Compute(a, Must(client_->CreateValue(a, P("1"))))),
            P("1"));
  ASSERT_TRUE(client_->DisposeExecutor(a).ok());
  ExpectServing();
}

TEST_F(ServiceTest, MaxValuesPerExecutor) {
  ServiceOptions options;
  options.max_values_per_executor = 3;
  Start(options);
  const std::string a = Must(client_->GetExecutor(1));
  const std::string b = Must(client_->GetExecutor(1));
  const std::string v1 = Must(client_->CreateValue(a, P("1")));
  const std::string v2 = Must(client_->CreateValue(a, P("2")));
  Must(client_->CreateStruct(a, {{"", v1}, {"", v2}}));
  ExpectError(client_->CreateValue(a, P("3")).status(),
              absl::StatusCode::kResourceExhausted,
              absl::StrCat("max_values_per_executor (3) values are held on "
                           "executor '",
                           a, "'"));
  ExpectError(client_->CreateSelection(a, v1, 0).status(),
              absl::StatusCode::kResourceExhausted, "max_values_per_executor");
  ExpectError(client_->CreateValueStream(a, P("[1, 2]"), 3).status(),
              absl::StatusCode::kResourceExhausted, "max_values_per_executor");
  // The other executor is unaffected; computing needs no new value.
  EXPECT_TRUE(client_->CreateValue(b, P("3")).ok());
  EXPECT_EQ(Must(client_->Compute(a, v2)), P("2"));
  ASSERT_TRUE(client_->Dispose(a, {v1}).ok());
  EXPECT_TRUE(client_->CreateValue(a, P("3")).ok());
}

TEST_F(ServiceTest, MaxConcurrentComputations) {
  auto gate = std::make_shared<Gate>();
  auto factory = LocalFactory();
  auto* f = factory.get();
  ServiceOptions options;
  options.max_concurrent_computations = 2;
  Start(options,
        [f, gate](int64_t n) -> absl::StatusOr<std::shared_ptr<Executor>> {
          FEDEXEC_ASSIGN_OR_RETURN(std::shared_ptr<Executor> ex,
                                   f->ExecutorFor(n));
          return std::make_shared<GatedExecutor>(ex, gate);
        });
  const std::string e = Must(client_->GetExecutor(1));
  const std::string x = Must(client_->CreateValue(e, P("[1, 2]")));
  std::vector<std::thread> running;
  std::vector<absl::StatusOr<Value>> results(2);
  for (int i = 0; i < 2; ++i) {
    running.emplace_back([&, i] { results[i] = client_->Compute(e, x); });
  }
  ASSERT_TRUE(gate->AwaitWaiting(2));
  EXPECT_EQ(service().computations_in_flight(), 2);
  ExpectError(client_->Compute(e, x).status(),
              absl::StatusCode::kResourceExhausted,
              "max_concurrent_computations (2)");
  ExpectError(client_->ComputeStream(e, x, 4).status(),
              absl::StatusCode::kResourceExhausted,
              "max_concurrent_computations (2)");
  // Everything that does not wait is served meanwhile.
  const std::string e2 = Must(client_->GetExecutor(2));
  EXPECT_TRUE(client_->CreateValue(e2, P("{1, 2}@CLIENTS")).ok());
  gate->Open();
  for (auto& t : running) t.join();
  for (const auto& r : results) EXPECT_EQ(Must(r), P("[1, 2]"));
  EXPECT_EQ(service().computations_in_flight(), 0);
  EXPECT_EQ(Must(client_->Compute(e, x)), P("[1, 2]"));
  EXPECT_EQ(Must(client_->ComputeStream(e, x, 4)), P("[1, 2]"));
  worker_.reset();
}

TEST_F(ServiceTest, MaxMessageBytes) {
  ServiceOptions options;
  options.max_message_bytes = 100000;
  Start(options);
  const std::string e = Must(client_->GetExecutor(1));
  // 200 KB: too big for one message either way.
  const Value big = Value(Tensor::Vector<float>(std::vector<float>(50000, 1)));
  ExpectError(client_->CreateValue(e, big).status(),
              absl::StatusCode::kResourceExhausted, "");
  // In chunks it goes; whole it cannot come back, in chunks it can.
  const std::string ref = Must(client_->CreateValueStream(e, big, 65536));
  ExpectError(client_->Compute(e, ref).status(),
              absl::StatusCode::kResourceExhausted,
              "more than max_message_bytes (100000); fetch it with "
              "ComputeStream");
  int64_t largest = 0;
  EXPECT_EQ(Must(client_->ComputeStream(e, ref, 0, nullptr, &largest)), big);
  // The chunk size asked for is capped to fit a message.
  EXPECT_LE(largest, 100000);
  EXPECT_EQ(Must(client_->ComputeStream(e, ref, 1 << 20, nullptr, &largest)),
            big);
  EXPECT_LE(largest, 100000);
  ExpectServing();
}

TEST_F(ServiceTest, MaxStreamBytes) {
  ServiceOptions options;
  options.max_stream_bytes = 1000;
  Start(options);
  const std::string e = Must(client_->GetExecutor(1));
  ExpectError(
      client_
          ->CreateValueStream(
              e, Value(Tensor::Vector<float>(std::vector<float>(251, 1))), 64)
          .status(),
      absl::StatusCode::kResourceExhausted,
      "CreateValueStreamRequest.chunk: value header announces 1004 "
      "bytes, more than the limit of 1000");
  EXPECT_TRUE(
      client_
          ->CreateValueStream(
              e, Value(Tensor::Vector<float>(std::vector<float>(250, 1))), 64)
          .ok());
  ExpectServing();
}

TEST(ServiceOptionsTest, RefusesLimitsBelowOne) {
  auto source = [](int64_t) -> absl::StatusOr<std::shared_ptr<Executor>> {
    return nullptr;
  };
  EXPECT_EQ(ExecutorService::Create(nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  ServiceOptions o;
  o.max_concurrent_computations = 0;
  EXPECT_THAT(
      std::string(ExecutorService::Create(source, o).status().message()),
      HasSubstr("max_concurrent_computations is 0, must be >= 1"));
  o = {};
  o.max_message_bytes = int64_t{1} << 31;
  EXPECT_EQ(ExecutorService::Create(source, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = {};
  o.request_id_window = -1;
  EXPECT_EQ(ExecutorService::Create(source, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ExecutorService::Create(source).ok());
}

// ----------------------------------------------------------------- streams

TEST_F(ServiceTest, StreamsAValueOfFortyMegabytesBothWays) {
  Start();
  const std::string e = Must(client_->GetExecutor(2));
  std::vector<float> data(10 << 20);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<float>(i % 977);
  const Value big = Value::Struct({{"w", Value(Tensor::Vector<float>(data))},
                                   {"c", P("{[1.0, 2.0], [3.0, 4.0]}@CLIENTS")},
                                   {"s", P("[\"a\", \"bc\"]")}});
  const std::string ref = Must(client_->CreateValueStream(e, big, 1 << 20));
  int64_t chunks = 0;
  int64_t largest = 0;
  EXPECT_EQ(Must(client_->ComputeStream(e, ref, 1 << 20, &chunks, &largest)),
            big);
  EXPECT_EQ(largest, 1 << 20);
  EXPECT_EQ(chunks, 1 + 40 + 1);  // header, 40 MiB + 16 bytes
  // Computations use streamed values like any other.
  const std::string fn = Must(client_->CreateComputation(
      e,
      "(x: <w=float32[?], c={float32[2]}@CLIENTS, s=string[2]>) -> "
      "federated_sum(x.c)"));
  EXPECT_EQ(Must(client_->Compute(e, Must(client_->CreateCall(e, fn, ref)))),
            P("[4.0, 6.0]@SERVER"));
  // Small chunks, a small value.
  const std::string small = Must(client_->CreateValueStream(
      e, P("<a=int8([1, 2, 3]), b=seq[1.0, 2.0]>"), 1));
  EXPECT_EQ(Must(client_->ComputeStream(e, small, 3, &chunks)),
            P("<a=int8([1, 2, 3]), b=seq[1.0, 2.0]>"));
  EXPECT_EQ(chunks, 1 + 4);  // 11 bytes in chunks of 3
}

TEST_F(ServiceTest, StreamRetriesAndErrors) {
  Start();
  const std::string e = Must(client_->GetExecutor(1));
  const std::string a =
      Must(client_->CreateValueStream(e, P("[1, 2]"), 3, "s"));
  EXPECT_EQ(Must(client_->CreateValueStream(e, P("[1, 2]"), 3, "s")), a);
  EXPECT_EQ(service().num_values(), 1);

  auto chunk_requests = [&](const Value& v, int64_t chunk_bytes) {
    std::vector<v1::CreateValueStreamRequest> out;
    absl::Status s = ir::ValueToChunks(v, chunk_bytes, [&](v1::ValueChunk&& c) {
      v1::CreateValueStreamRequest r;
      *r.mutable_chunk() = std::move(c);
      out.push_back(std::move(r));
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok());
    return out;
  };
  {
    auto r = chunk_requests(P("[1, 2]"), 4);
    ExpectError(client_->CreateValueStreamRaw(r).status(),
                absl::StatusCode::kInvalidArgument,
                "CreateValueStreamRequest.executor: no executor id given");
  }
  {
    auto r = chunk_requests(P("[1, 2]"), 4);
    r[0].mutable_executor()->set_id(e);
    r[1].mutable_executor()->set_id("other");
    ExpectError(client_->CreateValueStreamRaw(r).status(),
                absl::StatusCode::kInvalidArgument,
                "CreateValueStreamRequest.executor: 'other' in message 2 "
                "differs from the first message's");
  }
  {
    auto r = chunk_requests(P("[1, 2]"), 4);
    r[0].mutable_executor()->set_id(e);
    r.pop_back();
    ExpectError(client_->CreateValueStreamRaw(r).status(),
                absl::StatusCode::kInvalidArgument,
                "CreateValueStreamRequest.chunk: the chunks ended after 4 of "
                "the 8 bytes");
  }
  {
    auto r = chunk_requests(P("[1, 2]"), 4);
    r[0].mutable_executor()->set_id(e);
    r[1].clear_chunk();
    ExpectError(client_->CreateValueStreamRaw(r).status(),
                absl::StatusCode::kInvalidArgument,
                "CreateValueStreamRequest.chunk: missing in message 2");
  }
  {
    auto r = chunk_requests(P("[1, 2]"), 4);
    std::swap(r[0], r[1]);
    r[0].mutable_executor()->set_id(e);
    ExpectError(client_->CreateValueStreamRaw(r).status(),
                absl::StatusCode::kInvalidArgument,
                "CreateValueStreamRequest.chunk: a data chunk arrived before "
                "the value header");
  }
  ExpectError(client_->CreateValueStreamRaw({}).status(),
              absl::StatusCode::kInvalidArgument,
              "CreateValueStream: no message");
  {
    auto r = chunk_requests(P("[1, 2]"), 4);
    r[0].mutable_executor()->set_id("clients=1/1-gone");
    ExpectError(client_->CreateValueStreamRaw(r).status(),
                absl::StatusCode::kFailedPrecondition,
                "executor 'clients=1/1-gone' is unknown");
  }
  ExpectError(client_->ComputeStream(e, "42", 4).status(),
              absl::StatusCode::kInvalidArgument,
              "ComputeStreamRequest.value_ref: unknown value ref '42'");
  ExpectError(client_->ComputeStream(e, a, -1).status(),
              absl::StatusCode::kInvalidArgument,
              "ComputeStreamRequest.chunk_bytes is -1, must be >= 0");
  EXPECT_EQ(service().num_values(), 1);
  ExpectServing();
}

// ----------------------------------------------------------------- batches

// A batch's raw answer.
absl::StatusOr<v1::ExecuteBatchResponse> Batch(
    TestClient& client, const v1::ExecuteBatchRequest& request,
    const std::string& request_id = "") {
  v1::ExecuteBatchResponse response;
  auto ctx = client.Context(request_id);
  FEDEXEC_RETURN_IF_ERROR(
      FromGrpc(client.stream().ExecuteBatch(ctx.get(), request, &response)));
  return response;
}

v1::BatchOperation ValueOp(const Value& value) {
  v1::BatchOperation op;
  EXPECT_TRUE(
      ir::ValueToProto(value, op.mutable_create_value()->mutable_value()).ok());
  return op;
}

v1::BatchOperation ComputationOp(const std::string& text) {
  v1::BatchOperation op;
  auto node = ir::ParseComputation(text);
  EXPECT_TRUE(node.ok()) << node.status();
  auto checked = ir::CheckComputation(*node);
  EXPECT_TRUE(checked.ok()) << checked.status();
  auto proto = ir::ComputationToProto(*checked);
  EXPECT_TRUE(proto.ok()) << proto.status();
  *op.mutable_create_value()->mutable_value()->mutable_computation() = *proto;
  return op;
}

v1::BatchOperation CallOp(const std::string& fn, const std::string& arg) {
  v1::BatchOperation op;
  op.mutable_create_call()->mutable_function_ref()->set_id(fn);
  op.mutable_create_call()->mutable_argument_ref()->set_id(arg);
  return op;
}

TEST_F(ServiceTest, ABatchCreatesInOrderAndAggregates) {
  Start();
  const std::string e = Must(client_->GetExecutor(3));
  v1::ExecuteBatchRequest request;
  request.mutable_executor()->set_id(e);
  *request.add_operation() = ComputationOp(
      "(x: {float32}@CLIENTS) -> federated_map((v: float32) -> "
      "generic_plus(v, v), x)");
  *request.add_operation() = ValueOp(P("{1.0, 2.0, 4.0}@CLIENTS"));
  *request.add_operation() = CallOp("#0", "#1");
  v1::PartialAggregateRequest* aggregate = request.mutable_aggregate();
  aggregate->set_op("sum");
  aggregate->mutable_value_ref()->set_id("#2");
  aggregate->set_total_clients(3);
  aggregate->set_block_size(exec::AggregationBlockSize(3));
  const v1::ExecuteBatchResponse response =
      Must(Batch(*client_, request, "b1"));
  ASSERT_EQ(response.result_size(), 3);
  for (const v1::BatchResult& r : response.result()) {
    EXPECT_EQ(r.code(), 0) << r.message();
    EXPECT_FALSE(r.value_ref().id().empty());
  }
  EXPECT_EQ(response.aggregate_error().code(), 0)
      << response.aggregate_error().message();
  ASSERT_EQ(response.aggregate().node_size(), 1);
  EXPECT_EQ(Must(ir::ValueFromProto(response.aggregate().node(0).value())),
            P("14.0"));
  // The call's value is a value of the executor like any other.
  EXPECT_EQ(Must(client_->Compute(e, response.result(2).value_ref().id())),
            P("{2.0, 4.0, 8.0}@CLIENTS"));
  EXPECT_EQ(service().num_values(), 3);

  // The same batch again (a retry): the same refs, nothing created twice.
  const v1::ExecuteBatchResponse again = Must(Batch(*client_, request, "b1"));
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(again.result(k).value_ref().id(),
              response.result(k).value_ref().id());
  }
  EXPECT_EQ(service().num_values(), 3);

  // Disposals ride in a batch; refs it does not hold are skipped.
  v1::ExecuteBatchRequest dispose;
  dispose.mutable_executor()->set_id(e);
  for (const v1::BatchResult& r : response.result()) {
    *dispose.add_dispose() = r.value_ref();
  }
  dispose.add_dispose()->set_id("no-such-ref");
  EXPECT_TRUE(Batch(*client_, dispose).ok());
  EXPECT_EQ(service().num_values(), 0);
}

TEST_F(ServiceTest, ErrorsInABatchAreTheOperationsOwn) {
  Start();
  const std::string e = Must(client_->GetExecutor(2));
  v1::ExecuteBatchRequest request;
  request.mutable_executor()->set_id(e);
  *request.add_operation() = ValueOp(P("1.0"));
  v1::BatchOperation bad_index;  // refused when created
  bad_index.mutable_create_selection()->mutable_source_ref()->set_id("#0");
  bad_index.mutable_create_selection()->set_index(-1);
  *request.add_operation() = bad_index;
  *request.add_operation() = CallOp("#1", "#0");  // on a failed operation
  *request.add_operation() = CallOp("#7", "#0");  // not before this one
  *request.add_operation() = CallOp("#x", "#0");  // not a batch ref
  *request.add_operation() = CallOp("unknown", "#0");
  request.add_operation();                       // no operation
  *request.add_operation() = ValueOp(P("2.0"));  // still created
  const v1::ExecuteBatchResponse response = Must(Batch(*client_, request));
  ASSERT_EQ(response.result_size(), 8);
  auto error = [&](int k) {
    return absl::Status(
        static_cast<absl::StatusCode>(response.result(k).code()),
        response.result(k).message());
  };
  EXPECT_EQ(response.result(0).code(), 0);
  ExpectError(error(1), absl::StatusCode::kInvalidArgument,
              "ExecuteBatchRequest.operation[1]: CreateSelectionRequest.index "
              "is -1, must be >= 0");
  ExpectError(error(2), absl::StatusCode::kInvalidArgument,
              "ExecuteBatchRequest.operation[2]: "
              "CreateCallRequest.function_ref: operation 1 failed: ");
  ExpectError(error(3), absl::StatusCode::kInvalidArgument,
              "'#7' names operation 7, which does not come before this one");
  ExpectError(error(4), absl::StatusCode::kInvalidArgument,
              "'#x' is not a batch ref");
  ExpectError(error(5), absl::StatusCode::kInvalidArgument,
              "unknown value ref 'unknown'");
  ExpectError(error(6), absl::StatusCode::kInvalidArgument,
              "ExecuteBatchRequest.operation[6]: no operation given");
  EXPECT_EQ(response.result(7).code(), 0);
  EXPECT_EQ(service().num_values(), 2);

  // An aggregate whose value failed; then a bad executor id and a missing
  // token fail the whole call.
  request.mutable_aggregate()->set_op("sum");
  request.mutable_aggregate()->mutable_value_ref()->set_id("#1");
  const v1::ExecuteBatchResponse with_aggregate =
      Must(Batch(*client_, request));
  ExpectError(absl::Status(static_cast<absl::StatusCode>(
                               with_aggregate.aggregate_error().code()),
                           with_aggregate.aggregate_error().message()),
              absl::StatusCode::kInvalidArgument,
              "ExecuteBatchRequest.aggregate: "
              "PartialAggregateRequest.value_ref: operation 1 failed");
  request.mutable_executor()->set_id("nope");
  ExpectError(Batch(*client_, request).status(),
              absl::StatusCode::kFailedPrecondition, "executor 'nope'");
  ExpectServing();
}

TEST_F(ServiceTest, BatchesNeedTheToken) {
  ServiceOptions options;
  options.token = "s3cret";
  Start(options);
  client_->set_token("s3cret");
  const std::string e = Must(client_->GetExecutor(1));
  v1::ExecuteBatchRequest request;
  request.mutable_executor()->set_id(e);
  *request.add_operation() = ValueOp(P("1.0"));
  EXPECT_TRUE(Batch(*client_, request).ok());
  client_->set_token("wrong");
  ExpectError(Batch(*client_, request).status(),
              absl::StatusCode::kUnauthenticated, "missing or invalid token");
}

// ------------------------------------------------------- partial aggregate

TEST_F(ServiceTest, PartialAggregateAnswersTheExecutorsNodes) {
  Start();
  // 40 clients (blocks of one), of which this shard holds the last 24.
  const int64_t total = 40;
  const int64_t block = exec::AggregationBlockSize(total);
  std::vector<Value> members;
  for (int i = 0; i < 24; ++i) {
    members.push_back(Value(Tensor::Scalar<float>(static_cast<float>(i))));
  }
  const Value shard =
      Value::Federated(Placement::kClients, false, std::move(members));
  const std::string e = Must(client_->GetExecutor(24));
  const std::string x = Must(client_->CreateValue(e, shard));
  v1::PartialAggregateRequest request;
  request.mutable_executor()->set_id(e);
  request.set_op("sum");
  request.mutable_value_ref()->set_id(x);
  request.set_first_client(16);
  request.set_total_clients(total);
  request.set_block_size(block);
  v1::PartialAggregateResponse response;
  {
    auto ctx = client_->Context();
    ASSERT_TRUE(FromGrpc(client_->stream().PartialAggregate(ctx.get(), request,
                                                            &response))
                    .ok());
  }
  // The same asked of a local stack directly.
  std::shared_ptr<Executor> direct = Must(factory_->ExecutorFor(24));
  OwnedValue dx = Must(direct->CreateValue(shard));
  PartialAggregateSpec spec;
  spec.op = PartialAggregateOp::kSum;
  spec.value = dx.id();
  spec.first_client = 16;
  spec.total_clients = total;
  spec.block_size = block;
  const std::vector<PartialNode> nodes = Must(direct->PartialAggregate(spec));
  ASSERT_FALSE(nodes.empty());
  ASSERT_EQ(response.node_size(), static_cast<int>(nodes.size()));
  for (size_t i = 0; i < nodes.size(); ++i) {
    const v1::PartialNode& n = response.node(static_cast<int>(i));
    EXPECT_EQ(n.level(), nodes[i].level);
    EXPECT_EQ(n.index(), nodes[i].index);
    EXPECT_EQ(n.count(), nodes[i].count);
    EXPECT_EQ(n.total_weight(), nodes[i].total_weight);
    ASSERT_EQ(n.has_value(), nodes[i].value.has_value());
    if (n.has_value()) {
      EXPECT_EQ(Must(ir::ValueFromProto(n.value())), *nodes[i].value);
    }
  }

  // The executor's errors pass through; malformed requests name the field.
  request.set_first_client(3);
  spec.first_client = 3;
  {
    auto ctx = client_->Context();
    EXPECT_EQ(FromGrpc(client_->stream().PartialAggregate(ctx.get(), request,
                                                          &response)),
              direct->PartialAggregate(spec).status());
  }
  request.set_op("");
  {
    auto ctx = client_->Context();
    ExpectError(FromGrpc(client_->stream().PartialAggregate(ctx.get(), request,
                                                            &response)),
                absl::StatusCode::kInvalidArgument,
                "PartialAggregateRequest.op: no operation given");
  }
  request.set_op("mean");
  {
    auto ctx = client_->Context();
    ExpectError(FromGrpc(client_->stream().PartialAggregate(ctx.get(), request,
                                                            &response)),
                absl::StatusCode::kInvalidArgument,
                "PartialAggregateRequest.op: unknown operation 'mean'");
  }
  request.set_op("sum");
  request.mutable_operand_ref()->set_id("zz");
  {
    auto ctx = client_->Context();
    ExpectError(FromGrpc(client_->stream().PartialAggregate(ctx.get(), request,
                                                            &response)),
                absl::StatusCode::kInvalidArgument,
                "PartialAggregateRequest.operand_ref: unknown value ref 'zz'");
  }
  ExpectServing();
}

// ------------------------------------------------------------ array encoding

absl::StatusOr<v0::Value> ComputeWithMetadata(TestClient& client,
                                              const std::string& executor,
                                              const std::string& ref,
                                              const std::string& key,
                                              const std::string& value) {
  v0::ComputeRequest request;
  request.mutable_executor()->set_id(executor);
  request.mutable_value_ref()->set_id(ref);
  v0::ComputeResponse response;
  auto ctx = client.Context();
  if (!key.empty()) ctx->AddMetadata(key, value);
  FEDEXEC_RETURN_IF_ERROR(
      FromGrpc(client.group().Compute(ctx.get(), request, &response)));
  return response.value();
}

// TensorFlow Federated's client reads only typed lists; a fedexec client
// says (metadata fedexec-array-content: 1) that it reads raw content.
TEST_F(ServiceTest, ComputeAnswersTypedListsUnlessTheClientReadsContent) {
  Start();
  const std::string e = Must(client_->GetExecutor(2));
  const Value value =
      P("<a=[1.5, 2.5], b={int8(-3), int8(4)}@CLIENTS, "
        "c=\"s\", d=float16(0.5)>");
  const std::string ref = Must(client_->CreateValue(e, value));

  const v0::Value lists = Must(ComputeWithMetadata(*client_, e, ref, "", ""));
  EXPECT_EQ(Must(ir::ValueFromProto(lists)), value);
  const auto& a = lists.struct_().element(0).value().array();
  EXPECT_FALSE(a.has_content());
  EXPECT_THAT(a.float32_list().value(), ::testing::ElementsAre(1.5f, 2.5f));
  EXPECT_THAT(lists.struct_()
                  .element(1)
                  .value()
                  .federated()
                  .value(0)
                  .array()
                  .int8_list()
                  .value(),
              ::testing::ElementsAre(-3));
  EXPECT_THAT(lists.struct_().element(3).value().array().float16_list().value(),
              ::testing::ElementsAre(0x3800));
  // Any other value of the entry is not fedexec's: typed lists too.
  EXPECT_TRUE(Must(ComputeWithMetadata(*client_, e, ref,
                                       ir::kArrayContentMetadataKey, "yes"))
                  .struct_()
                  .element(0)
                  .value()
                  .array()
                  .has_float32_list());

  const v0::Value content =
      Must(ComputeWithMetadata(*client_, e, ref, ir::kArrayContentMetadataKey,
                               ir::kArrayContentMetadataValue));
  EXPECT_EQ(Must(ir::ValueFromProto(content)), value);
  const auto& ac = content.struct_().element(0).value().array();
  EXPECT_TRUE(ac.has_content());
  EXPECT_EQ(ac.kind_case(), federated_language::Array::KIND_NOT_SET);
  // Strings have no raw form.
  EXPECT_TRUE(content.struct_().element(2).value().array().has_string_list());

  // A client may send either form.
  v0::Value sent = lists;
  const std::string back = Must(client_->CreateValueProto(e, sent));
  EXPECT_EQ(Must(client_->Compute(e, back)), value);
}

// ------------------------------------------------ all-equal values leaving

// federated_zip of two broadcast values has the type {<T,T>}@CLIENTS; the
// executors hold it as one all-equal member, and it must leave as one
// member per client wherever a value leaves the service.
constexpr char kZipOfBroadcasts[] =
    "(x: int32@SERVER) -> <z=federated_zip_at_clients(federated_broadcast(x), "
    "federated_broadcast(x)), b=federated_broadcast(x), s=x>";
constexpr char kExpanded[] =
    "<z={<7, 7>, <7, 7>, <7, 7>}@CLIENTS, b=7@CLIENTS, s=7@SERVER>";

TEST_F(ServiceTest, PerClientValuesLeaveWithOneMemberPerClient) {
  Start();
  const std::string e = Must(client_->GetExecutor(3));
  const std::string f = Must(client_->CreateComputation(e, kZipOfBroadcasts));
  const std::string x = Must(client_->CreateValue(e, P("7@SERVER")));
  const std::string call = Must(client_->CreateCall(e, f, x));

  // Compute of the struct, and its wire form: 3 members, not all-equal.
  const v0::Value proto = Must(client_->ComputeProto(e, call));
  const auto& zipped = proto.struct_().element(0).value().federated();
  EXPECT_FALSE(zipped.type().all_equal());
  EXPECT_EQ(zipped.value_size(), 3);
  EXPECT_EQ(proto.struct_().element(1).value().federated().value_size(), 1);
  EXPECT_EQ(Must(ir::ValueFromProto(proto)), P(kExpanded));

  // A selection of it (how TFF's client streams structs), ComputeStream.
  const std::string z = Must(client_->CreateSelection(e, call, 0));
  EXPECT_EQ(Must(client_->Compute(e, z)),
            P("{<7, 7>, <7, 7>, <7, 7>}@CLIENTS"));
  EXPECT_EQ(Must(client_->ComputeStream(e, call, 5)), P(kExpanded));
  EXPECT_EQ(Must(client_->ComputeStream(e, z, 0)),
            P("{<7, 7>, <7, 7>, <7, 7>}@CLIENTS"));

  // A struct made of such values, selections of selections.
  const std::string b = Must(client_->CreateSelection(e, call, 1));
  const std::string made =
      Must(client_->CreateStruct(e, {{"p", z}, {"q", b}, {"", call}}));
  EXPECT_EQ(Must(client_->Compute(e, made)),
            P(absl::StrCat("<p={<7, 7>, <7, 7>, <7, 7>}@CLIENTS, q=7@CLIENTS, ",
                           kExpanded, ">")));
  const std::string inner = Must(client_->CreateSelection(e, made, 2));
  const std::string inner_z = Must(client_->CreateSelection(e, inner, 0));
  EXPECT_EQ(Must(client_->Compute(e, inner_z)),
            P("{<7, 7>, <7, 7>, <7, 7>}@CLIENTS"));

  // A struct of computations sent as one value: each keeps its type.
  v0::Value pair;
  for (int i = 0; i < 2; ++i) {
    auto* element = pair.mutable_struct_()->add_element();
    *element->mutable_value()->mutable_computation() =
        ComputationProto(kZipOfBroadcasts);
  }
  const std::string fns = Must(client_->CreateValueProto(e, pair));
  const std::string second = Must(client_->CreateSelection(e, fns, 1));
  EXPECT_EQ(Must(client_->Compute(e, Must(client_->CreateCall(e, second, x)))),
            P(kExpanded));

  // Values sent as data keep their own form.
  const std::string data = Must(client_->CreateValue(e, P("5@CLIENTS")));
  EXPECT_EQ(Must(client_->Compute(e, data)), P("5@CLIENTS"));
}

TEST_F(ServiceTest, PerClientValuesMadeInABatchLeaveWithOneMemberPerClient) {
  Start();
  const std::string e = Must(client_->GetExecutor(2));
  v1::ExecuteBatchRequest request;
  request.mutable_executor()->set_id(e);
  *request.add_operation() = ComputationOp(kZipOfBroadcasts);
  *request.add_operation() = ValueOp(P("7@SERVER"));
  *request.add_operation() = CallOp("#0", "#1");
  v1::BatchOperation select;
  select.mutable_create_selection()->mutable_source_ref()->set_id("#2");
  select.mutable_create_selection()->set_index(0);
  *request.add_operation() = select;
  const v1::ExecuteBatchResponse response = Must(Batch(*client_, request));
  ASSERT_EQ(response.result_size(), 4);
  EXPECT_EQ(Must(client_->Compute(e, response.result(3).value_ref().id())),
            P("{<7, 7>, <7, 7>}@CLIENTS"));
  EXPECT_EQ(
      Must(client_->ComputeStream(e, response.result(2).value_ref().id(), 0)),
      P("<z={<7, 7>, <7, 7>}@CLIENTS, b=7@CLIENTS, s=7@SERVER>"));
}

// ------------------------------------------------------------------- logs

TEST_F(ServiceTest, RefusedCallsAreLoggedAtWarningAndEveryCallAtDebug) {
  Start();
  const int verbosity = FLAGS_v;
  FLAGS_v = 1;
  std::optional<CapturingSink> sink_holder;
  CapturingSink& sink = sink_holder.emplace();
  const std::string e = Must(client_->GetExecutor(2));
  ExpectError(client_->Compute(e, "no-such-ref").status(),
              absl::StatusCode::kInvalidArgument, "unknown value ref");
  const std::string f = Must(client_->CreateComputation(
      e, "(x: {int32}@CLIENTS) -> federated_sum(x)"));
  // A function cannot be materialized: refused at Compute.
  ExpectError(client_->Compute(e, f).status(),
              absl::StatusCode::kInvalidArgument, "");
  ExpectError(client_->ComputeStream("nope", "1", 0).status(),
              absl::StatusCode::kFailedPrecondition, "unknown");
  const std::vector<std::string> warnings = sink.lines();
  const std::vector<std::string> debug = sink.debug_lines();
  FLAGS_v = verbosity;
  sink_holder.reset();

  ASSERT_EQ(warnings.size(), 3u) << ::testing::PrintToString(warnings);
  EXPECT_THAT(warnings[0], StartsWith("refused Compute from ipv"));
  EXPECT_THAT(warnings[0], HasSubstr("127.0.0.1"));
  EXPECT_THAT(warnings[0],
              HasSubstr(": INVALID_ARGUMENT: ComputeRequest.value_ref: unknown "
                        "value ref 'no-such-ref'"));
  EXPECT_THAT(warnings[1], StartsWith("refused Compute from "));
  EXPECT_THAT(warnings[1], HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(warnings[2], StartsWith("refused ComputeStream from "));
  EXPECT_THAT(warnings[2],
              HasSubstr("FAILED_PRECONDITION: executor 'nope' is unknown"));
  // GetExecutor and CreateValue: answered OK, each one line.
  std::vector<std::string> ok;
  for (const std::string& line : debug) {
    if (absl::StrContains(line, " from ") && absl::EndsWith(line, ": OK")) {
      ok.push_back(line.substr(0, line.find(' ')));
    }
  }
  EXPECT_THAT(ok, ::testing::ElementsAre("GetExecutor", "CreateValue"));
}

}  // namespace
}  // namespace fedexec::service
