#include "demo/analytics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>
#include <limits>
#include <numeric>
#include <vector>

#include "absl/status/status.h"
#include "core/tensor.h"
#include "demo/partition.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"
#include "runtimes/native/kernels.h"
#include "runtimes/native/registry.h"

namespace fedexec::demo {
namespace {

using ::testing::HasSubstr;

// The population (a few seconds under ASan, so kept there too).
constexpr int64_t kLargeRun = 100000;

uint32_t Bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

// The bucket by a linear scan over the edges (the library uses a binary
// search).
int ReferenceBucket(float x) {
  int b = 0;
  for (int i = 0; i < kAnalyticsBuckets; ++i) {
    if (x >= kAnalyticsBucketEdges[i]) b = i;
  }
  return b;
}

struct Reference {
  int64_t sessions = 0;
  double mean = 0;  // in double, exact enough to judge the float32 tree sum
  float min = std::numeric_limits<float>::infinity();
  float max = -std::numeric_limits<float>::infinity();
  std::vector<int64_t> histogram = std::vector<int64_t>(kAnalyticsBuckets);
};

// The aggregates computed in plain C++ from the generator. The per-client
// statistic is the native reduce_mean kernel (what the computation calls),
// checked against a mean in double.
Reference ComputeReference(int64_t clients, uint64_t seed) {
  Reference r;
  double sum = 0;
  for (int64_t c = 0; c < clients; ++c) {
    std::vector<float> s = ClientSessions(seed, c);
    r.sessions += static_cast<int64_t>(s.size());
    Tensor t = Tensor::Vector<float>(s);
    absl::StatusOr<Tensor> m = native::ReduceMean(t);
    EXPECT_TRUE(m.ok()) << m.status();
    const float stat = m->data<float>()[0];
    double exact = 0;
    for (float x : s) exact += x;
    exact /= static_cast<double>(s.size());
    EXPECT_NEAR(stat, exact, 1e-5 * exact) << "client " << c;
    sum += stat;
    r.min = std::min(r.min, stat);
    r.max = std::max(r.max, stat);
    ++r.histogram[ReferenceBucket(stat)];
  }
  r.mean = sum / static_cast<double>(clients);
  return r;
}

void ExpectMatchesReference(const AnalyticsResult& got, const Reference& ref) {
  EXPECT_EQ(got.sessions, ref.sessions);
  EXPECT_NEAR(got.mean, ref.mean, 1e-5 * ref.mean);
  EXPECT_EQ(Bits(got.min), Bits(ref.min)) << got.min << " vs " << ref.min;
  EXPECT_EQ(Bits(got.max), Bits(ref.max)) << got.max << " vs " << ref.max;
  EXPECT_EQ(got.histogram, ref.histogram);
  EXPECT_EQ(
      std::accumulate(got.histogram.begin(), got.histogram.end(), int64_t{0}),
      got.clients);
}

void ExpectIdentical(const AnalyticsResult& a, const AnalyticsResult& b) {
  EXPECT_EQ(a.sessions, b.sessions);
  EXPECT_EQ(Bits(a.mean), Bits(b.mean));
  EXPECT_EQ(Bits(a.min), Bits(b.min));
  EXPECT_EQ(Bits(a.max), Bits(b.max));
  EXPECT_EQ(a.histogram, b.histogram);
}

AnalyticsResult RunOk(int64_t clients, uint64_t seed, int threads) {
  absl::StatusOr<AnalyticsResult> r =
      RunAnalytics({.clients = clients, .seed = seed, .threads = threads});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : AnalyticsResult{};
}

// The generator follows the recipe the header documents, step by step.
TEST(AnalyticsGeneratorTest, FollowsTheDocumentedRecipe) {
  for (uint64_t seed : {0ull, 7ull}) {
    for (int64_t c : {0, 1, 2, 99999}) {
      DemoRng rng(DeriveSeed(DeriveSeed(seed, kAnalyticsStream), c));
      const int k = 1 + static_cast<int>(rng.UniformInt(16));
      const double mu = std::log(8.0) + 0.75 * rng.Normal();
      std::vector<float> expected;
      for (int j = 0; j < k; ++j) {
        expected.push_back(
            static_cast<float>(std::exp(mu + 0.5 * rng.Normal())));
      }
      EXPECT_EQ(ClientSessions(seed, c), expected) << seed << " " << c;
    }
  }
}

TEST(AnalyticsGeneratorTest, SessionsArePlausible) {
  int64_t total = 0;
  std::vector<int> count_seen(kMaxSessionsPerClient + 1);
  for (int64_t c = 0; c < 5000; ++c) {
    std::vector<float> s = ClientSessions(3, c);
    ASSERT_GE(s.size(), 1u);
    ASSERT_LE(s.size(), static_cast<size_t>(kMaxSessionsPerClient));
    ++count_seen[s.size()];
    total += static_cast<int64_t>(s.size());
    for (float x : s) {
      ASSERT_TRUE(std::isfinite(x) && x > 0) << x;
    }
  }
  for (int k = 1; k <= kMaxSessionsPerClient; ++k) EXPECT_GT(count_seen[k], 0);
  // E[k] = 8.5.
  EXPECT_NEAR(static_cast<double>(total) / 5000, 8.5, 0.3);
}

TEST(AnalyticsGeneratorTest, ValueHoldsEachClientsSessions) {
  int64_t sessions = -1;
  absl::StatusOr<Value> v = GenerateSessionsValue(300, 11, &sessions);
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_TRUE(v->is_federated());
  const FederatedValue& f = v->federated();
  EXPECT_EQ(f.placement, Placement::kClients);
  EXPECT_FALSE(f.all_equal);
  ASSERT_EQ(f.size(), 300);
  int64_t total = 0;
  for (int64_t c = 0; c < 300; ++c) {
    absl::StatusOr<Value> m = f.Member(c);
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE(m->is_tensor());
    const Tensor& t = m->tensor();
    EXPECT_EQ(t.dtype(), DType::kFloat32);
    ASSERT_EQ(t.rank(), 1);
    std::vector<float> got(t.data<float>().begin(), t.data<float>().end());
    EXPECT_EQ(got, ClientSessions(11, c)) << "client " << c;
    total += t.num_elements();
  }
  EXPECT_EQ(sessions, total);
}

TEST(AnalyticsGeneratorTest, RejectsBadClientCounts) {
  for (int64_t clients : {int64_t{0}, int64_t{-5}, kMaxAnalyticsClients + 1}) {
    absl::StatusOr<Value> v = GenerateSessionsValue(clients, 0);
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(v.status().message(), HasSubstr("--clients"));
  }
}

TEST(AnalyticsBucketTest, Edges) {
  const std::vector<std::pair<float, int>> cases = {
      {0.0f, 0},
      {0.999f, 0},
      {1.0f, 1},
      {2.5f, 2},
      {4.99f, 3},
      {5.0f, 4},
      {12.0f, 5},
      {13.0f, 6},
      {33.9f, 7},
      {34.0f, 8},
      {54.99f, 8},
      {55.0f, 9},
      {1e30f, 9},
      {-1.0f, 0},
      {-0.0f, 0},
      {std::numeric_limits<float>::infinity(), 9},
      {-std::numeric_limits<float>::infinity(), 0}};
  for (const auto& [x, bucket] : cases) {
    absl::StatusOr<int> b = AnalyticsBucket(x);
    ASSERT_TRUE(b.ok()) << x;
    EXPECT_EQ(*b, bucket) << x;
    EXPECT_EQ(ReferenceBucket(x), bucket) << x;
  }
  absl::StatusOr<int> nan = AnalyticsBucket(std::nanf(""));
  EXPECT_EQ(nan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(nan.status().message(), HasSubstr("analytics_histogram"));
}

TEST(AnalyticsFunctionsTest, HistogramIsOneHot) {
  native::NativeRegistry registry;
  ASSERT_TRUE(RegisterAnalyticsFunctions(registry).ok());
  EXPECT_EQ(RegisterAnalyticsFunctions(registry).code(),
            absl::StatusCode::kAlreadyExists);
  absl::StatusOr<ir::Type> type = ir::ParseType("(float32 -> int64[10])");
  ASSERT_TRUE(type.ok()) << type.status();
  absl::StatusOr<native::BoundFunction> fn =
      registry.Bind(kAnalyticsHistogramFunction, *type);
  ASSERT_TRUE(fn.ok()) << fn.status();
  absl::StatusOr<Value> out = fn->Call(Value(Tensor::Scalar<float>(9.5f)));
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<int64_t> one_hot(10, 0);
  one_hot[5] = 1;
  EXPECT_EQ(*out, Value(Tensor::Vector<int64_t>(one_hot)));
  absl::StatusOr<Value> bad =
      fn->Call(Value(Tensor::Scalar<float>(std::nanf(""))));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  // A wrong declared type is refused at binding.
  absl::StatusOr<ir::Type> wrong = ir::ParseType("(float32 -> int32[10])");
  ASSERT_TRUE(wrong.ok());
  EXPECT_FALSE(registry.Bind(kAnalyticsHistogramFunction, *wrong).ok());
}

TEST(AnalyticsComputationTest, ParsesAndTypeChecks) {
  const std::string_view text = AnalyticsComputationText();
  absl::StatusOr<ir::NodePtr> parsed =
      ir::ParseComputation(absl::string_view(text.data(), text.size()));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  absl::StatusOr<ir::NodePtr> checked = ir::CheckComputation(*parsed);
  ASSERT_TRUE(checked.ok()) << checked.status();
  // Canonical form, as `fedexec fmt` prints it.
  EXPECT_EQ(ir::PrintComputation(*parsed), text);
  ASSERT_TRUE((*checked)->type().has_value());
  EXPECT_EQ((*checked)->type()->ToString(),
            "({float32[?]}@CLIENTS -> <mean=float32@SERVER,min=float32@SERVER,"
            "max=float32@SERVER,histogram=int64[10]@SERVER>)");
}

TEST(RunAnalyticsTest, MatchesThePlainReference) {
  for (uint64_t seed : {0ull, 42ull}) {
    for (int64_t clients : {int64_t{1}, int64_t{17}, int64_t{3001}}) {
      SCOPED_TRACE(testing::Message()
                   << "seed " << seed << " clients " << clients);
      const AnalyticsResult got = RunOk(clients, seed, 2);
      EXPECT_EQ(got.clients, clients);
      EXPECT_EQ(got.seed, seed);
      ExpectMatchesReference(got, ComputeReference(clients, seed));
    }
  }
}

TEST(RunAnalyticsTest, OneClientIsItsOwnStatistic) {
  const AnalyticsResult got = RunOk(1, 5, 1);
  std::vector<float> s = ClientSessions(5, 0);
  absl::StatusOr<Tensor> stat = native::ReduceMean(Tensor::Vector<float>(s));
  ASSERT_TRUE(stat.ok());
  const float x = stat->data<float>()[0];
  EXPECT_EQ(Bits(got.mean), Bits(x));
  EXPECT_EQ(Bits(got.min), Bits(x));
  EXPECT_EQ(Bits(got.max), Bits(x));
}

TEST(RunAnalyticsTest, DeterministicAcrossThreadsAndRuns) {
  const AnalyticsResult one = RunOk(5000, 9, 1);
  const AnalyticsResult two = RunOk(5000, 9, 2);
  const AnalyticsResult three = RunOk(5000, 9, 3);
  const AnalyticsResult again = RunOk(5000, 9, 2);
  ExpectIdentical(one, two);
  ExpectIdentical(one, three);
  ExpectIdentical(two, again);
}

TEST(RunAnalyticsTest, DifferentSeedsDiffer) {
  const AnalyticsResult a = RunOk(2000, 1, 2);
  const AnalyticsResult b = RunOk(2000, 2, 2);
  EXPECT_NE(a.sessions, b.sessions);
  EXPECT_NE(Bits(a.mean), Bits(b.mean));
  EXPECT_NE(a.histogram, b.histogram);
}

TEST(RunAnalyticsTest, RejectsBadOptions) {
  struct Case {
    AnalyticsOptions options;
    const char* flag;
  };
  const Case cases[] = {{{.clients = 0}, "--clients"},
                        {{.clients = -1}, "--clients"},
                        {{.clients = kMaxAnalyticsClients + 1}, "--clients"},
                        {{.clients = 10, .threads = -1}, "--threads"},
                        {{.clients = 10, .threads = 1 << 20}, "--threads"}};
  for (const Case& c : cases) {
    absl::StatusOr<AnalyticsResult> r = RunAnalytics(c.options);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr(c.flag));
  }
}

TEST(RunAnalyticsTest, LargePopulation) {
  const AnalyticsResult got = RunOk(kLargeRun, 0, 0);
  const std::string text = FormatAnalytics(got);
  std::cout << text;
  ExpectMatchesReference(got, ComputeReference(kLargeRun, 0));
  // The default options are the population.
  EXPECT_EQ(AnalyticsOptions{}.clients, 100000);
}

TEST(FormatAnalyticsTest, ShowsEverything) {
  AnalyticsResult r;
  r.clients = 10;
  r.seed = 3;
  r.threads = 2;
  r.sessions = 85;
  r.mean = 9.25f;
  r.min = 0.5f;
  r.max = 60.0f;
  r.histogram = {1, 0, 0, 2, 3, 1, 1, 1, 0, 1};
  r.generate_seconds = 0.125;
  r.setup_seconds = 0.0625;
  r.compute_seconds = 0.5;
  const std::string text = FormatAnalytics(r);
  EXPECT_THAT(text, HasSubstr("10 clients (seed 3, 85 sessions)"));
  EXPECT_THAT(text, HasSubstr("mean 9.2500"));
  EXPECT_THAT(text, HasSubstr("min 0.5000"));
  EXPECT_THAT(text, HasSubstr("max 60.0000"));
  EXPECT_THAT(text, HasSubstr("[5, 8)"));
  EXPECT_THAT(text, HasSubstr("[55, inf)"));
  EXPECT_THAT(text, HasSubstr("30.00%"));
  EXPECT_THAT(text, HasSubstr("data generation 0.125 s"));
  EXPECT_THAT(text, HasSubstr("federated computation 0.500 s"));
  EXPECT_THAT(text, HasSubstr("threads: 2"));
  EXPECT_EQ(text.back(), '\n');
  // One line per bucket plus five.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), kAnalyticsBuckets + 5);
}

}  // namespace
}  // namespace fedexec::demo
