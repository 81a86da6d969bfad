#include "stacks/runtime.h"

#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "executors/local_executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/computation_file.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"
#include "ir/value_syntax.h"
#include "testing/sanitizers.h"
#include "testing/test_files.h"

namespace fedexec::stacks {
namespace {

using ::fedexec::test_util::SourceDir;
using ::testing::HasSubstr;

std::unique_ptr<Runtime> MakeRuntime(RuntimeOptions options = {}) {
  if (options.threads == 0) options.threads = 2;
  auto runtime = Runtime::Create(options);
  EXPECT_TRUE(runtime.ok()) << runtime.status();
  return runtime.ok() ? *std::move(runtime) : nullptr;
}

ir::NodePtr LoadExample(const std::string& name) {
  auto computation =
      ir::LoadCheckedComputation((SourceDir() / "examples" / name).string());
  EXPECT_TRUE(computation.ok()) << computation.status();
  return computation.ok() ? *computation : nullptr;
}

ir::NodePtr Compile(const std::string& text) {
  auto parsed = ir::ParseComputation(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  if (!parsed.ok()) return nullptr;
  auto checked = ir::CheckComputation(*parsed);
  EXPECT_TRUE(checked.ok()) << checked.status();
  return checked.ok() ? *checked : nullptr;
}

// The value `text` as the type `type_text` reads it.
Value ValueAs(const std::string& text, const ir::Type& type) {
  auto value = ir::ParseValueAs(text, type);
  EXPECT_TRUE(value.ok()) << text << ": " << value.status();
  return value.ok() ? *value : Value();
}

const ir::Type& Parameter(const ir::NodePtr& computation) {
  return *computation->type()->parameter();
}
const ir::Type& Result(const ir::NodePtr& computation) {
  const ir::Type& type = *computation->type();
  return type.kind() == ir::TypeKind::kFunction ? type.result() : type;
}

struct ExampleCase {
  std::string file;
  std::string argument;  // empty: none
  std::string expected;
};

class ExamplesTest : public ::testing::TestWithParam<ExampleCase> {};

TEST_P(ExamplesTest, RunsToTheExpectedResult) {
  const ExampleCase& c = GetParam();
  std::unique_ptr<Runtime> runtime = MakeRuntime();
  ir::NodePtr computation = LoadExample(c.file);
  ASSERT_NE(computation, nullptr);
  std::optional<Value> argument;
  if (!c.argument.empty())
    argument = ValueAs(c.argument, Parameter(computation));
  absl::StatusOr<Value> result = runtime->Call(computation, argument);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, ValueAs(c.expected, Result(computation)))
      << ir::PrintValue(*result);
  // The same again on the cached stack.
  absl::StatusOr<Value> again = runtime->Call(computation, argument);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *result);
}

// Every example whose natives are built in (the others call native
// functions a program registers, or read data).
INSTANTIATE_TEST_SUITE_P(
    BuiltinExamples, ExamplesTest,
    ::testing::Values(
        ExampleCase{"mean.fed", "{1.0, 2.0, 6.0}@CLIENTS", "3.0@SERVER"},
        ExampleCase{"aggregate.fed", "{1.0, 2.0, 6.0, 3.0}@CLIENTS",
                    "3.0@SERVER"},
        ExampleCase{"generic_plus_structs.fed",
                    "<a=<x=[1.0, 2.0], y=3>, b=<x=[10.0, 20.0], y=4>>",
                    "<x=[11.0, 22.0], y=7>"},
        ExampleCase{"map_all_equal.fed",
                    "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]@SERVER",
                    "[1, 4, 9, 16, 25, 36, 49, 64, 81, 100]@SERVER"},
        ExampleCase{"nested_structs.fed", "<a=<b=1, c=[2.0, 3.0]>, d=true>",
                    "<1, [2.0, 3.0], c=[2.0, 3.0], flag=true, true>"},
        ExampleCase{"scoping.fed", "5", "<12, 5>"},
        ExampleCase{"secure_sum.fed",
                    "{[1, 0, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0]}@CLIENTS",
                    "[2, 1, 0, 0]@SERVER"},
        ExampleCase{"sequence_reduce.fed",
                    "{seq[1, 2, 3], seq[], seq[10]}@CLIENTS", "16@SERVER"},
        ExampleCase{"zip_and_map.fed",
                    "<a={[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]}@CLIENTS, "
                    "b={[2.0, 2.0, 2.0], [4.0, 5.0, 6.0]}@CLIENTS>",
                    "{[2.0, 4.0, 6.0], [4.0, 5.0, 6.0]}@CLIENTS"}),
    [](const ::testing::TestParamInfo<ExampleCase>& info) {
      std::string name = info.param.file.substr(0, info.param.file.find('.'));
      return name;
    });

// The example of runtime.h and the README, as written there.
TEST(RuntimeTest, ReadmeExample) {
  std::filesystem::current_path(SourceDir());
  auto runtime = fedexec::stacks::Runtime::Create().value();
  auto mean = fedexec::ir::LoadCheckedComputation("examples/mean.fed");
  auto x = fedexec::ir::ParseValue("{20.5, 22.0, 19.5}@CLIENTS");
  auto result = runtime->Call(*mean, *x);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(fedexec::ir::PrintValue(*result), "20.666666@SERVER");
}

TEST(RuntimeTest, ComputationWithoutParameter) {
  std::unique_ptr<Runtime> runtime = MakeRuntime();
  ir::NodePtr computation =
      Compile("() -> federated_sum(federated_value_at_clients(2))");
  RuntimeOptions options;
  options.default_clients = 5;
  std::unique_ptr<Runtime> five = MakeRuntime(options);
  absl::StatusOr<Value> one = runtime->Call(computation, std::nullopt);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(ir::PrintValue(*one), "2@SERVER") << "one client by default";
  absl::StatusOr<Value> result = five->Call(computation, std::nullopt);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(ir::PrintValue(*result), "10@SERVER");
}

TEST(RuntimeTest, ComputationThatIsNotAFunctionIsEvaluated) {
  std::unique_ptr<Runtime> runtime = MakeRuntime();
  ir::NodePtr computation =
      Compile("<federated_value_at_server(3), generic_plus(1.5, 2.0)>");
  absl::StatusOr<Value> result = runtime->Call(computation, std::nullopt);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(ir::PrintValue(*result), "<3@SERVER, 3.5>");

  absl::StatusOr<Value> with_argument =
      runtime->Call(computation, Value(Tensor::Scalar<float>(1)));
  ASSERT_FALSE(with_argument.ok());
  EXPECT_EQ(with_argument.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(with_argument.status().message()),
              HasSubstr("takes no argument, given float32"));
}

// A per-client result that the executors hold as one all-equal member
// (a zip of broadcast values) reaches the caller with one member per
// client, as its type {<T,T>}@CLIENTS says; an all-equal one stays one.
TEST(RuntimeTest, PerClientResultsHaveOneMemberPerClient) {
  std::unique_ptr<Runtime> runtime = MakeRuntime();
  ir::NodePtr zip = Compile(
      "(x: int32@SERVER) -> <z=federated_zip_at_clients("
      "federated_broadcast(x), federated_broadcast(x)), "
      "b=federated_broadcast(x)>");
  Runtime::CallOptions three;
  three.num_clients = 3;
  absl::StatusOr<Value> result =
      runtime->Call(zip, ir::ParseValue("7@SERVER").value(), three);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(ir::PrintValue(*result),
            "<z={<7, 7>, <7, 7>, <7, 7>}@CLIENTS, b=7@CLIENTS>");
}

TEST(RuntimeTest, UntypedComputationIsCheckedFirst) {
  std::unique_ptr<Runtime> runtime = MakeRuntime();
  auto parsed = ir::ParseComputation("(x: int32) -> generic_plus(x, x)");
  ASSERT_TRUE(parsed.ok());
  absl::StatusOr<Value> result =
      runtime->Call(*parsed, Value(Tensor::Scalar<int32_t>(21)));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(ir::PrintValue(*result), "42");

  auto bad = ir::ParseComputation("(x: int32) -> federated_sum(x)");
  ASSERT_TRUE(bad.ok());
  absl::StatusOr<Value> error =
      runtime->Call(*bad, Value(Tensor::Scalar<int32_t>(21)));
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(error.status().message()),
              HasSubstr("federated_sum"));
  EXPECT_EQ(runtime->Call(nullptr, std::nullopt).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RuntimeTest, ArgumentMustMatchTheParameterType) {
  std::unique_ptr<Runtime> runtime = MakeRuntime();
  ir::NodePtr mean = LoadExample("mean.fed");
  auto at_server = ir::ParseValue("1.0@SERVER");
  ASSERT_TRUE(at_server.ok());
  absl::StatusOr<Value> result = runtime->Call(mean, *at_server);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message(),
            "argument does not match the parameter type {float32}@CLIENTS: "
            "expected {float32}@CLIENTS, found float32@SERVER");

  ir::NodePtr plus = LoadExample("generic_plus_structs.fed");
  auto wrong_element =
      ir::ParseValue("<a=<x=[1.0, 2.0], y=3>, b=<x=[10.0, 20.0], y=4.0>>");
  ASSERT_TRUE(wrong_element.ok());
  result = runtime->Call(plus, *wrong_element);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("b.y: expected int32, found float32"));

  result = runtime->Call(plus, std::nullopt);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("takes an argument of type <a=<x=float32[2],y=int32>"));
}

TEST(RuntimeTest, ClientCountsThatDisagree) {
  std::unique_ptr<Runtime> runtime = MakeRuntime();
  ir::NodePtr zip = LoadExample("zip_and_map.fed");
  Value argument = ValueAs(
      "<a={[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]}@CLIENTS, "
      "b={[2.0, 2.0, 2.0], [4.0, 5.0, 6.0], [0.0, 0.0, 0.0]}@CLIENTS>",
      Parameter(zip));
  absl::StatusOr<Value> result = runtime->Call(zip, argument);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message(), "argument a has 2 clients but b has 3");
}

TEST(RuntimeTest, NumClientsOverridesInference) {
  std::unique_ptr<Runtime> runtime = MakeRuntime();
  ir::NodePtr squares = LoadExample("map_all_equal.fed");
  Value w =
      ValueAs("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]@SERVER", Parameter(squares));
  Runtime::CallOptions options;
  options.num_clients = 3;
  absl::StatusOr<Value> result = runtime->Call(squares, w, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(ir::PrintValue(*result),
            "[3.0, 12.0, 27.0, 48.0, 75.0, 108.0, 147.0, 192.0, 243.0, "
            "300.0]@SERVER");

  // An all-equal CLIENTS argument fits any number of clients.
  ir::NodePtr mean = LoadExample("mean.fed");
  options.num_clients = 7;
  result = runtime->Call(mean, *ir::ParseValue("2.5@CLIENTS"), options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(ir::PrintValue(*result), "2.5@SERVER");

  // Per-client values must agree with the count asked for.
  result = runtime->Call(mean, ValueAs("{1.0, 2.0}@CLIENTS", Parameter(mean)),
                         options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message(),
            "the call is for 7 clients but the argument has per-client "
            "values for 2");

  options.num_clients = -1;
  result = runtime->Call(squares, w, options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RuntimeTest, ErrorsOfTheComputationComeBack) {
  std::unique_ptr<Runtime> runtime = MakeRuntime();
  ir::NodePtr mean = LoadExample("mean.fed");
  absl::StatusOr<Value> result =
      runtime->Call(mean, ValueAs("{}@CLIENTS", Parameter(mean)));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("federated_mean"));
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("zero clients"));
}

TEST(RuntimeTest, BadOptions) {
  RuntimeOptions options;
  options.threads = -3;
  EXPECT_EQ(Runtime::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = {};
  options.default_clients = -1;
  EXPECT_EQ(Runtime::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = {};
  options.cache_size = -1;
  EXPECT_EQ(Runtime::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Runtime::CreateWithFactory(nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RuntimeTest, ConcurrentCalls) {
  std::unique_ptr<Runtime> runtime = MakeRuntime();
  ir::NodePtr mean = LoadExample("mean.fed");
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        // t + 1 clients holding 0, 2, 4, ...: the mean is t.
        std::vector<Value> members;
        for (int c = 0; c <= t; ++c) {
          members.push_back(Value(Tensor::Scalar<float>(2.0f * c)));
        }
        Value x = Value::Federated(Placement::kClients, false, members);
        absl::StatusOr<Value> result = runtime->Call(mean, x);
        if (!result.ok() ||
            ir::PrintValue(*result) !=
                ir::PrintValue(Value::Federated(
                    Placement::kServer, true,
                    {Value(Tensor::Scalar<float>(static_cast<float>(t)))}))) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

// A computation that runs for minutes unless cancelled.
std::string LongComputation() {
  return test_util::ReadFile(SourceDir() /
                             "testdata/computations/long_running.fed");
}

TEST(RuntimeTest, CancelRunningStopsCallsAndLaterCallsRun) {
  std::unique_ptr<Runtime> runtime = MakeRuntime();
  ir::NodePtr computation = Compile(LongComputation());
  ASSERT_NE(computation, nullptr);
  auto zeros = Tensor::Zeros(DType::kFloat32, {64, 64});
  ASSERT_TRUE(zeros.ok());
  Value m = Value::Federated(Placement::kServer, true, {Value(*zeros)});
  Runtime::CallOptions options;
  options.num_clients = 100'000'000;

  constexpr int kCalls = 2;
  std::vector<absl::StatusOr<Value>> results(kCalls);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back(
        [&, i] { results[i] = runtime->Call(computation, m, options); });
  }
  while (runtime->NumRunning() < kCalls) std::this_thread::yield();
  runtime->CancelRunning();
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_FALSE(results[i].ok());
    EXPECT_EQ(results[i].status().code(), absl::StatusCode::kCancelled)
        << results[i].status();
  }
  EXPECT_EQ(runtime->NumRunning(), 0);

  // A later call of the same client count runs on a fresh stack.
  options.num_clients = 3;
  ASSERT_TRUE(runtime->Call(computation, m, options).ok());
  std::thread later([&] {
    results[0] =
        runtime->Call(computation, m, Runtime::CallOptions{100'000'000});
  });
  while (runtime->NumRunning() < 1) std::this_thread::yield();
  runtime->CancelRunning();
  later.join();
  EXPECT_EQ(results[0].status().code(), absl::StatusCode::kCancelled);
  absl::StatusOr<Value> small = runtime->Call(computation, m, options);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(*small,
            Value::Federated(Placement::kServer, true, {Value(*zeros)}));
}

// Resident set size in bytes (/proc/self/statm: pages), after giving the
// free memory of malloc's arenas back to the system: so that it measures
// what is live, not the high-water mark of whichever thread's arena served
// a call's temporaries.
int64_t ResidentBytes() {
  malloc_trim(0);
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

using ::fedexec::test_util::kSanitized;

TEST(RuntimeTest, MemoryStaysFlatOverManyCalls) {
  std::unique_ptr<Runtime> runtime = MakeRuntime();
  // 100 clients with 10,000 floats each: every call makes 4 MB of
  // per-client results and a 40 KB mean, so anything kept per call shows.
  ir::NodePtr computation = Compile(
      "(x: {float32[10000]}@CLIENTS) ->\n"
      "  federated_mean(\n"
      "    federated_map((v: float32[10000]) -> generic_multiply(v, v), x)\n"
      "  )\n");
  ASSERT_NE(computation, nullptr);
  std::vector<Value> members;
  for (int c = 0; c < 100; ++c) {
    std::vector<float> data(10000, static_cast<float>(c % 7));
    members.push_back(Value(Tensor::Vector<float>(data)));
  }
  const Value x = Value::Federated(Placement::kClients, false, members);
  const int64_t live_before = exec::LocalExecutor::NumLiveStatesForTesting();

  auto call = [&] {
    absl::StatusOr<Value> result = runtime->Call(computation, x);
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->federated().members[0].tensor().num_elements(), 10000);
  };
  for (int i = 0; i < 10; ++i) call();
  const int64_t after_10 = ResidentBytes();
  // Under a sanitizer resident size means nothing (see below) and calls are
  // 10-50x slower: 100 calls suffice for the lifetime check there.
  const int calls = kSanitized ? 100 : 1000;
  for (int i = 10; i < calls; ++i) {
    call();
    if (HasFatalFailure()) return;
  }
  const int64_t after_1000 = ResidentBytes();
  // The tasks that computed a call's values may hold them for a moment
  // after the call returned: wait for them to let go.
  for (int i = 0; i < 10000 &&
                  exec::LocalExecutor::NumLiveStatesForTesting() > live_before;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(exec::LocalExecutor::NumLiveStatesForTesting(), live_before)
      << "values outlived their calls";
  if (kSanitized) {
    GTEST_SKIP() << "resident size under a sanitizer includes its quarantine "
                    "(leaks are the sanitizer's to find); after 10 calls "
                 << after_10 << " bytes, after " << calls << " " << after_1000;
  }
  EXPECT_LE(after_1000, after_10 + after_10 / 20)
      << "resident memory after 10 calls " << after_10 << " bytes, after 1000 "
      << after_1000;
}

}  // namespace
}  // namespace fedexec::stacks
