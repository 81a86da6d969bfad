// Splitting a data set's examples among a population of simulated clients,
// and sampling each round's cohort, for the FedAvg demo.
//
// Determinism: every function is a pure function of its arguments. The
// random numbers come from std::mt19937_64 (whose output sequence the C++
// standard fixes) through DemoRng's own sampling code (the std::
// distributions are implementation-defined, so they are not used): the same
// seed gives the same partition with any standard library. Gamma variates
// use std::log/std::sqrt/std::exp, which glibc computes correctly rounded;
// another libm could in principle differ in the last bit of a Dirichlet
// proportion, which can move at most an example at a rounding boundary.
//
// Results: a Partition lists, per client, the indices of its examples in
// ascending order; every index in [0, n) appears exactly once over all
// clients, and every client has at least one example.
//
// Errors: INVALID_ARGUMENT naming the demo flag the argument comes from
// (--population, --alpha, --shards-per-client, --cohort, --round).
//
// Thread-safety: the functions are stateless; a DemoRng is not thread-safe.
#ifndef FEDEXEC_DEMO_PARTITION_H_
#define FEDEXEC_DEMO_PARTITION_H_

#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace fedexec::demo {

// Example indices per client.
using Partition = std::vector<std::vector<int32_t>>;

// A seeded random source with portable sampling.
class DemoRng {
 public:
  explicit DemoRng(uint64_t seed) : engine_(seed) {}

  uint64_t Next() { return engine_(); }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform();
  // Uniform in (0, 1): never 0, so its log is finite.
  double UniformOpen();
  // Uniform integer in [0, n), without modulo bias. REQUIRES: n >= 1.
  uint64_t UniformInt(uint64_t n);
  // Standard normal (Marsaglia's polar method).
  double Normal();
  // log of a Gamma(shape, 1) variate, shape > 0 (Marsaglia & Tsang 2000;
  // for shape < 1 the boost Gamma(shape + 1) * U^(1/shape), done in logs so
  // that tiny shapes do not underflow to 0).
  double LogGamma(double shape);
  // A Dirichlet(alpha, ..., alpha) draw of dimension k >= 1 (normalised
  // gammas, computed from their logs).
  std::vector<double> Dirichlet(double alpha, int k);
  // Fisher-Yates shuffle.
  template <typename T>
  void Shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) {
      std::swap(v[i - 1], v[UniformInt(i)]);
    }
  }

 private:
  std::mt19937_64 engine_;
};

// A seed for stream `stream` derived from `seed` (SplitMix64 mixing), so
// that streams for different purposes or rounds are unrelated.
uint64_t DeriveSeed(uint64_t seed, uint64_t stream);

// Shuffles [0, n) and deals it into `clients` parts whose sizes differ by at
// most one (the first n % clients clients get the larger size).
// REQUIRES (else INVALID_ARGUMENT): 1 <= clients <= n.
absl::StatusOr<Partition> IidPartition(int64_t n, int64_t clients,
                                       uint64_t seed);

// Label-skewed split: for each class, its examples (shuffled) are divided
// among the clients in proportions drawn from Dirichlet(alpha) (sizes by
// the largest-remainder method). Small alpha gives each client few labels;
// large alpha approaches an IID split. Classes are dealt in label order, and
// a client that already holds at least the mean share (n / clients
// examples) when a class is dealt gets none of it (the other proportions
// are renormalised, or made equal when they all underflowed to 0): label
// skew stays while client sizes stay near the mean.
// An empty client then takes one
// example from the client holding the most (the lowest-numbered of those,
// its highest index), repeated until no client is empty; this moves at
// most `clients` examples. Labels must be >= 0.
// REQUIRES: 1 <= clients <= labels.size(), alpha > 0 and finite.
absl::StatusOr<Partition> DirichletPartition(absl::Span<const int32_t> labels,
                                             int64_t clients, double alpha,
                                             uint64_t seed);

// Pathological non-IID split (McMahan et al. 2017): examples sorted by
// (label, index) are cut into clients * shards_per_client contiguous shards
// of near-equal size, and each client gets shards_per_client shards chosen
// at random without replacement.
// REQUIRES: clients >= 1, shards_per_client >= 1, clients *
// shards_per_client <= labels.size(); labels >= 0.
absl::StatusOr<Partition> ShardPartition(absl::Span<const int32_t> labels,
                                         int64_t clients,
                                         int64_t shards_per_client,
                                         uint64_t seed);

// The cohort of round `round`: `cohort` distinct client ids in [0, clients)
// drawn uniformly without replacement (Floyd's algorithm, O(cohort) time
// and memory), ascending. A deterministic function of (clients, cohort,
// round, seed). REQUIRES: 1 <= cohort <= clients, round >= 0.
absl::StatusOr<std::vector<int64_t>> SampleCohort(int64_t clients,
                                                  int64_t cohort, int64_t round,
                                                  uint64_t seed);

}  // namespace fedexec::demo

#endif  // FEDEXEC_DEMO_PARTITION_H_
