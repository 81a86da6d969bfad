#include "demo/analytics.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "demo/partition.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"
#include "stacks/runtime.h"

namespace fedexec::demo {
namespace {

// In canonical form (`fedexec fmt`; the test checks it).
constexpr char kComputation[] = R"fed(
# Federated analytics (fedexec demo analytics): each client's statistic is
# the mean length of its sessions; the server learns its mean, minimum and
# maximum over all clients and a histogram of it in fixed buckets.
(sessions: {float32[?]}@CLIENTS) ->
  let
    stat = federated_map(
      native("reduce_mean", (float32[?] -> float32)),
      sessions
    ),
    buckets = federated_map(
      native("analytics_histogram", (float32 -> int64[10])),
      stat
    )
  in <
    mean=federated_mean(stat),
    min=federated_min(stat),
    max=federated_max(stat),
    histogram=federated_sum(buckets)
  >
)fed";

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

absl::Status CheckClients(int64_t clients) {
  if (clients < 1 || clients > kMaxAnalyticsClients) {
    return absl::InvalidArgumentError(absl::StrCat("--clients must be in [1, ",
                                                   kMaxAnalyticsClients,
                                                   "], found ", clients));
  }
  return absl::OkStatus();
}

// Appends client `client`'s sessions to `out` and returns how many.
int AppendClientSessions(uint64_t seed, int64_t client,
                         std::vector<float>& out) {
  DemoRng rng(DeriveSeed(DeriveSeed(seed, kAnalyticsStream),
                         static_cast<uint64_t>(client)));
  const int k = 1 + static_cast<int>(rng.UniformInt(kMaxSessionsPerClient));
  const double mu = std::log(8.0) + 0.75 * rng.Normal();
  for (int j = 0; j < k; ++j) {
    out.push_back(static_cast<float>(std::exp(mu + 0.5 * rng.Normal())));
  }
  return k;
}

// The statistic of a result element: a float32 scalar, possibly placed at
// SERVER.
absl::StatusOr<Value> Unplace(const Value& v) {
  if (!v.is_federated()) return v;
  const FederatedValue& f = v.federated();
  if (f.placement != Placement::kServer || f.size() != 1) {
    return absl::InternalError(
        absl::StrCat("analytics: expected a SERVER value, found ",
                     native::DescribeValue(v)));
  }
  return f.Member(0);
}

absl::StatusOr<Tensor> ResultTensor(const Value& result, std::string_view name,
                                    DType dtype, int64_t elements) {
  for (const StructValue::Element& e : result.struct_value().elements) {
    if (e.name != name) continue;
    FEDEXEC_ASSIGN_OR_RETURN(Value v, Unplace(*e.value));
    if (!v.is_tensor() || v.tensor().dtype() != dtype ||
        v.tensor().num_elements() != elements) {
      return absl::InternalError(absl::StrCat("analytics: result element '",
                                              std::string(name), "' is ",
                                              native::DescribeValue(v)));
    }
    return v.tensor();
  }
  return absl::InternalError(absl::StrCat(
      "analytics: the result has no element '", std::string(name), "'"));
}

// Registers analytics_histogram into the default registry once per
// process; later calls return the first outcome.
absl::Status EnsureRegistered() {
  static const absl::Status* const status = [] {
    native::NativeRegistry& registry = native::NativeRegistry::Default();
    absl::Status s;
    if (!registry.Contains(kAnalyticsHistogramFunction)) {
      s = RegisterAnalyticsFunctions(registry);
    }
    return new absl::Status(std::move(s));
  }();
  return *status;
}

}  // namespace

std::vector<float> ClientSessions(uint64_t seed, int64_t client) {
  std::vector<float> out;
  AppendClientSessions(seed, client, out);
  return out;
}

absl::StatusOr<Value> GenerateSessionsValue(int64_t clients, uint64_t seed,
                                            int64_t* sessions) {
  FEDEXEC_RETURN_IF_ERROR(CheckClients(clients));
  auto buffer = std::make_shared<std::vector<float>>();
  buffer->reserve(static_cast<size_t>(clients) * (kMaxSessionsPerClient + 1) /
                  2);
  std::vector<int64_t> offsets(static_cast<size_t>(clients) + 1, 0);
  for (int64_t c = 0; c < clients; ++c) {
    offsets[c + 1] = offsets[c] + AppendClientSessions(seed, c, *buffer);
  }
  buffer->shrink_to_fit();
  const float* data = buffer->data();
  std::vector<Value> members;
  members.reserve(clients);
  for (int64_t c = 0; c < clients; ++c) {
    const int64_t k = offsets[c + 1] - offsets[c];
    FEDEXEC_ASSIGN_OR_RETURN(
        Tensor t, Tensor::FromBuffer(DType::kFloat32, {k}, buffer,
                                     data + offsets[c], k * sizeof(float)));
    members.emplace_back(std::move(t));
  }
  if (sessions != nullptr) *sessions = offsets[clients];
  return Value::Federated(Placement::kClients, /*all_equal=*/false,
                          std::move(members));
}

absl::StatusOr<int> AnalyticsBucket(float x) {
  if (std::isnan(x)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kAnalyticsHistogramFunction, ": the value is NaN"));
  }
  // The first edge greater than x; the bucket is the one before it.
  const auto it = std::upper_bound(kAnalyticsBucketEdges.begin(),
                                   kAnalyticsBucketEdges.end(), x);
  return std::max(0, static_cast<int>(it - kAnalyticsBucketEdges.begin()) - 1);
}

absl::Status RegisterAnalyticsFunctions(native::NativeRegistry& registry) {
  return registry.Register(
      kAnalyticsHistogramFunction,
      absl::StrCat("(float32 -> int64[", kAnalyticsBuckets, "])"),
      [](const Value& argument) -> absl::StatusOr<Value> {
        // The registry has checked the argument against float32.
        FEDEXEC_ASSIGN_OR_RETURN(
            int bucket, AnalyticsBucket(argument.tensor().data<float>()[0]));
        std::array<int64_t, kAnalyticsBuckets> one_hot{};
        one_hot[bucket] = 1;
        return Value(Tensor::Vector<int64_t>(one_hot));
      });
}

std::string_view AnalyticsComputationText() {
  return std::string_view(kComputation).substr(1);  // without the first '\n'
}

absl::StatusOr<AnalyticsResult> RunAnalytics(const AnalyticsOptions& options) {
  FEDEXEC_RETURN_IF_ERROR(CheckClients(options.clients));
  if (options.threads < 0 || options.threads > ThreadPool::kMaxThreads) {
    return absl::InvalidArgumentError(
        absl::StrCat("--threads must be 0 (one per hardware thread) or in "
                     "[1, ",
                     ThreadPool::kMaxThreads, "], found ", options.threads));
  }
  AnalyticsResult result;
  result.clients = options.clients;
  result.seed = options.seed;
  result.threads = options.threads;

  auto start = std::chrono::steady_clock::now();
  FEDEXEC_ASSIGN_OR_RETURN(
      Value sessions,
      GenerateSessionsValue(options.clients, options.seed, &result.sessions));
  result.generate_seconds = SecondsSince(start);

  start = std::chrono::steady_clock::now();
  FEDEXEC_RETURN_IF_ERROR(EnsureRegistered());
  FEDEXEC_ASSIGN_OR_RETURN(ir::NodePtr parsed,
                           ir::ParseComputation(kComputation + 1));
  FEDEXEC_ASSIGN_OR_RETURN(ir::NodePtr computation,
                           ir::CheckComputation(parsed));
  stacks::RuntimeOptions runtime_options;
  runtime_options.threads = options.threads;
  runtime_options.cache_size = 1;
  FEDEXEC_ASSIGN_OR_RETURN(std::unique_ptr<stacks::Runtime> runtime,
                           stacks::Runtime::Create(runtime_options));
  result.setup_seconds = SecondsSince(start);

  start = std::chrono::steady_clock::now();
  FEDEXEC_ASSIGN_OR_RETURN(Value value,
                           runtime->Call(computation, std::move(sessions)));
  result.compute_seconds = SecondsSince(start);

  FEDEXEC_ASSIGN_OR_RETURN(value, Unplace(value));
  if (!value.is_struct()) {
    return absl::InternalError(
        absl::StrCat("analytics: expected a struct result, found ",
                     native::DescribeValue(value)));
  }
  FEDEXEC_ASSIGN_OR_RETURN(Tensor mean,
                           ResultTensor(value, "mean", DType::kFloat32, 1));
  FEDEXEC_ASSIGN_OR_RETURN(Tensor min,
                           ResultTensor(value, "min", DType::kFloat32, 1));
  FEDEXEC_ASSIGN_OR_RETURN(Tensor max,
                           ResultTensor(value, "max", DType::kFloat32, 1));
  FEDEXEC_ASSIGN_OR_RETURN(
      Tensor histogram,
      ResultTensor(value, "histogram", DType::kInt64, kAnalyticsBuckets));
  result.mean = mean.data<float>()[0];
  result.min = min.data<float>()[0];
  result.max = max.data<float>()[0];
  const auto counts = histogram.data<int64_t>();
  result.histogram.assign(counts.begin(), counts.end());
  return result;
}

std::string FormatAnalytics(const AnalyticsResult& r) {
  std::string out = absl::StrFormat(
      "Federated analytics over %d clients (seed %d, %d sessions)\n"
      "Statistic: each client's mean session length, in minutes\n"
      "  mean %.4f   min %.4f   max %.4f\n"
      "Histogram (clients per bucket):\n",
      r.clients, r.seed, r.sessions, r.mean, r.min, r.max);
  int64_t largest = 1;
  for (int64_t n : r.histogram) largest = std::max(largest, n);
  for (size_t b = 0; b < r.histogram.size(); ++b) {
    const std::string range =
        b + 1 < kAnalyticsBucketEdges.size()
            ? absl::StrFormat("[%g, %g)", kAnalyticsBucketEdges[b],
                              kAnalyticsBucketEdges[b + 1])
            : absl::StrFormat("[%g, inf)", kAnalyticsBucketEdges[b]);
    const int64_t n = r.histogram[b];
    const int bar = static_cast<int>((n * 40 + largest - 1) / largest);
    absl::StrAppendFormat(&out, "  %-10s %9d %6.2f%%  %s\n", range, n,
                          r.clients > 0 ? 100.0 * n / r.clients : 0.0,
                          std::string(bar, '#'));
  }
  absl::StrAppendFormat(
      &out,
      "Time: data generation %.3f s, setup %.3f s, federated computation "
      "%.3f s (%s)\n",
      r.generate_seconds, r.setup_seconds, r.compute_seconds,
      r.threads == 0 ? std::string("threads: one per hardware thread")
                     : absl::StrCat("threads: ", r.threads));
  return out;
}

}  // namespace fedexec::demo
