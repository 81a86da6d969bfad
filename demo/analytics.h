// Federated analytics without machine learning (`fedexec demo analytics`):
// the mean, the minimum, the maximum and a histogram of a per-client
// statistic over a large simulated population, computed as ONE federated
// computation on a local stack.
//
// The data. Client c (0 <= c < clients) of a run with seed s holds the
// durations, in minutes, of its sessions with some app. They come from
// DemoRng(DeriveSeed(DeriveSeed(s, kAnalyticsStream), c)) (demo/partition.h:
// std::mt19937_64 with portable sampling code), drawn in this order:
//   1. the number of sessions k = 1 + UniformInt(kMaxSessionsPerClient);
//   2. the client's typical log-duration mu = log(8) + 0.75 * Normal();
//   3. k durations, each float32(exp(mu + 0.5 * Normal())).
// So durations are log-normal per client (median e^mu minutes), and clients
// differ in how long their sessions typically last. A client's data is a
// pure function of (seed, c): the same with any thread count, client count
// or standard library (std::exp and std::log are glibc's, correctly
// rounded; another libm could differ in the last bit).
//
// The computation (AnalyticsComputationText, embedded in the library):
//   (sessions: {float32[?]}@CLIENTS) -> let
//     stat = federated_map(native("reduce_mean", ...), sessions),
//     buckets = federated_map(native("analytics_histogram", ...), stat)
//   in <mean=federated_mean(stat), min=federated_min(stat),
//       max=federated_max(stat), histogram=federated_sum(buckets)>
// The statistic is each client's mean session length (float32, the native
// reduce_mean kernel). analytics_histogram (registered by
// RegisterAnalyticsFunctions) maps it to a one-hot int64[kAnalyticsBuckets]
// over the fixed edges kAnalyticsBucketEdges; the server sums them. Only
// these aggregates leave the clients.
//
// Determinism: the result is bit-identical for every thread count and run
// (the stack aggregates along a fixed block tree, core/tree_reduce.h).
//
// Errors: INVALID_ARGUMENT naming the demo flag (--clients, --threads).
//
// Thread-safety: the functions are stateless and may run concurrently.
#ifndef FEDEXEC_DEMO_ANALYTICS_H_
#define FEDEXEC_DEMO_ANALYTICS_H_

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/value.h"
#include "runtimes/native/registry.h"

namespace fedexec::demo {

// The DeriveSeed stream of the analytics data (unrelated to the FedAvg
// demo's streams).
inline constexpr uint64_t kAnalyticsStream = 0x616e616c79746963ULL;
inline constexpr int kMaxSessionsPerClient = 16;
// The most clients a run accepts (about 1 GB of data at that size).
inline constexpr int64_t kMaxAnalyticsClients = 10'000'000;

// Histogram buckets of the statistic (minutes): bucket b holds values in
// [edges[b], edges[b + 1]), the last one everything from edges[kBuckets-1]
// on; values below edges[0] = 0 (there are none) fall in bucket 0.
inline constexpr int kAnalyticsBuckets = 10;
inline constexpr std::array<float, kAnalyticsBuckets> kAnalyticsBucketEdges = {
    0.0f, 1.0f, 2.0f, 3.0f, 5.0f, 8.0f, 13.0f, 21.0f, 34.0f, 55.0f};

// The name of the native bucketing function.
inline constexpr char kAnalyticsHistogramFunction[] = "analytics_histogram";

struct AnalyticsOptions {
  // Simulated clients, 1 to kMaxAnalyticsClients (--clients).
  int64_t clients = 100000;
  // Seed of the data generator (--seed).
  uint64_t seed = 0;
  // Worker threads of the runtime: 0 for one per hardware thread, else 1 to
  // ThreadPool::kMaxThreads (--threads).
  int threads = 0;
};

struct AnalyticsResult {
  int64_t clients = 0;
  uint64_t seed = 0;
  int threads = 0;       // as requested (0: one per hardware thread)
  int64_t sessions = 0;  // over all clients
  // Over the clients' mean session lengths, in minutes.
  float mean = 0;
  float min = 0;
  float max = 0;
  // Clients per bucket of kAnalyticsBucketEdges; sums to `clients`.
  std::vector<int64_t> histogram;
  // Wall-clock seconds: building the per-client data; loading and checking
  // the computation and creating the runtime; the federated call itself.
  double generate_seconds = 0;
  double setup_seconds = 0;
  double compute_seconds = 0;
};

// The durations of client `client`'s sessions (see the file comment).
// REQUIRES: client >= 0.
std::vector<float> ClientSessions(uint64_t seed, int64_t client);

// The CLIENTS value {float32[?]}@CLIENTS of `clients` clients: client c's
// member is a float32[k] tensor of ClientSessions(seed, c). The tensors
// view one shared buffer (no allocation per client besides the tensor
// handle). `sessions`, if not null, receives the total number of sessions.
// INVALID_ARGUMENT when clients is outside [1, kMaxAnalyticsClients].
absl::StatusOr<Value> GenerateSessionsValue(int64_t clients, uint64_t seed,
                                            int64_t* sessions = nullptr);

// The bucket of a statistic value: the largest b with
// kAnalyticsBucketEdges[b] <= x, 0 below the first edge. INVALID_ARGUMENT
// for NaN.
absl::StatusOr<int> AnalyticsBucket(float x);

// Registers analytics_histogram, signature (float32 -> int64[10]): the
// one-hot of AnalyticsBucket(x). ALREADY_EXISTS if `registry` has it.
absl::Status RegisterAnalyticsFunctions(native::NativeRegistry& registry);

// The federated computation, in the text syntax (docs/syntax.md).
std::string_view AnalyticsComputationText();

// Generates the data, registers analytics_histogram into
// NativeRegistry::Default() (once per process), runs the computation on a
// stacks::Runtime and returns its aggregates with timings.
absl::StatusOr<AnalyticsResult> RunAnalytics(const AnalyticsOptions& options);

// A human-readable summary, several lines ending in '\n': the population,
// the mean/min/max, the histogram with bars, and the timings.
std::string FormatAnalytics(const AnalyticsResult& result);

}  // namespace fedexec::demo

#endif  // FEDEXEC_DEMO_ANALYTICS_H_
