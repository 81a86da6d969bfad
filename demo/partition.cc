#include "demo/partition.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace fedexec::demo {
namespace {

absl::Status CheckClients(int64_t n, int64_t clients) {
  if (n > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        n, " examples are more than a partition can index (2^31 - 1)"));
  }
  if (clients < 1 || clients > n) {
    return absl::InvalidArgumentError(
        absl::StrCat("--population is ", clients, "; must be in [1, ", n,
                     "] (at least one example per client)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int32_t> CheckLabels(absl::Span<const int32_t> labels) {
  int32_t max_label = -1;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "label of example ", i, " is ", labels[i], "; must be >= 0"));
    }
    max_label = std::max(max_label, labels[i]);
  }
  return max_label;
}

void SortEach(Partition& partition) {
  for (auto& part : partition) std::sort(part.begin(), part.end());
}

// Splits `total` items in proportions `p` (summing to ~1) by the largest
// remainder method: floors first, then one more to the largest fractional
// parts (ties to the lower index) until the sum is `total`.
std::vector<int64_t> Apportion(int64_t total, const std::vector<double>& p) {
  const size_t k = p.size();
  std::vector<int64_t> counts(k);
  std::vector<std::pair<double, size_t>> remainders(k);
  int64_t assigned = 0;
  for (size_t j = 0; j < k; ++j) {
    const double exact = p[j] * static_cast<double>(total);
    int64_t whole = static_cast<int64_t>(std::floor(exact));
    whole = std::clamp<int64_t>(whole, 0, total);
    counts[j] = whole;
    assigned += whole;
    remainders[j] = {exact - static_cast<double>(whole), j};
  }
  // Rounding could in principle overshoot; take back from the largest.
  while (assigned > total) {
    size_t big =
        std::max_element(counts.begin(), counts.end()) - counts.begin();
    --counts[big];
    --assigned;
  }
  std::stable_sort(
      remainders.begin(), remainders.end(),
      [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t r = 0; assigned < total; r = (r + 1) % k) {
    ++counts[remainders[r].second];
    ++assigned;
  }
  return counts;
}

}  // namespace

// ------------------------------------------------------------------ DemoRng

double DemoRng::Uniform() {
  return static_cast<double>(engine_() >> 11) * 0x1.0p-53;
}

double DemoRng::UniformOpen() {
  // (k + 0.5) / 2^53 for k in [0, 2^53): strictly inside (0, 1).
  return (static_cast<double>(engine_() >> 11) + 0.5) * 0x1.0p-53;
}

uint64_t DemoRng::UniformInt(uint64_t n) {
  // Reject the lowest 2^64 mod n values so that the rest, a multiple of n
  // in number, map evenly onto [0, n).
  const uint64_t threshold = (0 - n) % n;
  while (true) {
    const uint64_t x = engine_();
    if (x >= threshold) return x % n;
  }
}

double DemoRng::Normal() {
  while (true) {
    const double u = 2.0 * Uniform() - 1.0;
    const double v = 2.0 * Uniform() - 1.0;
    const double s = u * u + v * v;
    if (s > 0.0 && s < 1.0) return u * std::sqrt(-2.0 * std::log(s) / s);
  }
}

double DemoRng::LogGamma(double shape) {
  if (shape < 1.0) {
    // Gamma(a) = Gamma(a + 1) * U^(1/a).
    return LogGamma(shape + 1.0) + std::log(UniformOpen()) / shape;
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    double x;
    double v;
    do {
      x = Normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = UniformOpen();
    const double x2 = x * x;
    if (u < 1.0 - 0.0331 * x2 * x2 ||
        std::log(u) < 0.5 * x2 + d * (1.0 - v + std::log(v))) {
      return std::log(d) + std::log(v);
    }
  }
}

std::vector<double> DemoRng::Dirichlet(double alpha, int k) {
  std::vector<double> logs(k);
  for (int j = 0; j < k; ++j) logs[j] = LogGamma(alpha);
  const double top = *std::max_element(logs.begin(), logs.end());
  double sum = 0.0;
  for (double& l : logs) {
    l = std::exp(l - top);
    sum += l;
  }
  for (double& l : logs) l /= sum;
  return logs;
}

uint64_t DeriveSeed(uint64_t seed, uint64_t stream) {
  auto mix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  return mix(seed ^ mix(stream));
}

// --------------------------------------------------------------- partitions

absl::StatusOr<Partition> IidPartition(int64_t n, int64_t clients,
                                       uint64_t seed) {
  if (absl::Status s = CheckClients(n, clients); !s.ok()) return s;
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  DemoRng rng(seed);
  rng.Shuffle(order);
  Partition partition(clients);
  const int64_t base = n / clients;
  const int64_t extra = n % clients;
  int64_t next = 0;
  for (int64_t c = 0; c < clients; ++c) {
    const int64_t size = base + (c < extra ? 1 : 0);
    partition[c].assign(order.begin() + next, order.begin() + next + size);
    next += size;
  }
  SortEach(partition);
  return partition;
}

absl::StatusOr<Partition> DirichletPartition(absl::Span<const int32_t> labels,
                                             int64_t clients, double alpha,
                                             uint64_t seed) {
  const int64_t n = static_cast<int64_t>(labels.size());
  if (absl::Status s = CheckClients(n, clients); !s.ok()) return s;
  if (!(alpha > 0.0) || !std::isfinite(alpha)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--alpha is ", alpha, "; must be > 0 and finite"));
  }
  absl::StatusOr<int32_t> max_label = CheckLabels(labels);
  if (!max_label.ok()) return max_label.status();

  std::vector<std::vector<int32_t>> by_class(*max_label + 1);
  for (int64_t i = 0; i < n; ++i) {
    by_class[labels[i]].push_back(static_cast<int32_t>(i));
  }
  DemoRng rng(seed);
  Partition partition(clients);
  for (auto& members : by_class) {
    if (members.empty()) continue;
    rng.Shuffle(members);
    std::vector<double> p = rng.Dirichlet(alpha, static_cast<int>(clients));
    // Clients that already hold their share of the data (n / clients
    // examples) take no more: sizes stay near the mean while each client's
    // labels stay skewed.
    // (Some client is always below its share while examples remain to be
    // dealt. Proportions that underflowed to 0 for every such client, as
    // tiny alphas give, become equal ones.)
    std::vector<double> capped(p.size(), 0.0);
    double total = 0;
    int64_t below = 0;
    for (int64_t c = 0; c < clients; ++c) {
      if (static_cast<int64_t>(partition[c].size()) * clients < n) {
        capped[c] = p[c];
        total += p[c];
        ++below;
      }
    }
    if (below > 0) {
      for (int64_t c = 0; c < clients; ++c) {
        if (static_cast<int64_t>(partition[c].size()) * clients >= n) continue;
        capped[c] = total > 0 ? capped[c] / total : 1.0 / below;
      }
      p = std::move(capped);
    }
    const std::vector<int64_t> counts =
        Apportion(static_cast<int64_t>(members.size()), p);
    size_t next = 0;
    for (int64_t c = 0; c < clients; ++c) {
      partition[c].insert(partition[c].end(), members.begin() + next,
                          members.begin() + next + counts[c]);
      next += counts[c];
    }
  }
  SortEach(partition);
  // No client may be empty: each empty one takes the highest index of the
  // (lowest-numbered) largest client. n >= clients makes this terminate
  // with every client non-empty; a donor always keeps at least one.
  for (int64_t c = 0; c < clients; ++c) {
    if (!partition[c].empty()) continue;
    size_t donor = 0;
    for (size_t d = 1; d < partition.size(); ++d) {
      if (partition[d].size() > partition[donor].size()) donor = d;
    }
    partition[c].push_back(partition[donor].back());
    partition[donor].pop_back();
  }
  return partition;
}

absl::StatusOr<Partition> ShardPartition(absl::Span<const int32_t> labels,
                                         int64_t clients,
                                         int64_t shards_per_client,
                                         uint64_t seed) {
  const int64_t n = static_cast<int64_t>(labels.size());
  if (absl::Status s = CheckClients(n, clients); !s.ok()) return s;
  if (shards_per_client < 1 || shards_per_client > n / clients) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--shards-per-client is ", shards_per_client, "; must be in [1, ",
        n / clients, "] for ", n, " examples and ", clients, " clients"));
  }
  absl::StatusOr<int32_t> max_label = CheckLabels(labels);
  if (!max_label.ok()) return max_label.status();

  std::vector<int32_t> sorted(n);
  std::iota(sorted.begin(), sorted.end(), 0);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [&](int32_t a, int32_t b) { return labels[a] < labels[b]; });
  const int64_t shards = clients * shards_per_client;
  std::vector<int64_t> shard_ids(shards);
  std::iota(shard_ids.begin(), shard_ids.end(), 0);
  DemoRng rng(seed);
  rng.Shuffle(shard_ids);
  // Shard s is sorted[begin(s), begin(s + 1)) with begin(s) = s * n /
  // shards: sizes differ by at most one and none is empty as shards <= n.
  auto begin = [&](int64_t s) { return s * n / shards; };
  Partition partition(clients);
  for (int64_t c = 0; c < clients; ++c) {
    for (int64_t k = 0; k < shards_per_client; ++k) {
      const int64_t s = shard_ids[c * shards_per_client + k];
      partition[c].insert(partition[c].end(), sorted.begin() + begin(s),
                          sorted.begin() + begin(s + 1));
    }
  }
  SortEach(partition);
  return partition;
}

absl::StatusOr<std::vector<int64_t>> SampleCohort(int64_t clients,
                                                  int64_t cohort, int64_t round,
                                                  uint64_t seed) {
  if (clients < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--population is ", clients, "; must be >= 1"));
  }
  if (cohort < 1 || cohort > clients) {
    return absl::InvalidArgumentError(
        absl::StrCat("--cohort is ", cohort,
                     "; must be in [1, --population = ", clients, "]"));
  }
  if (round < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--round is ", round, "; must be >= 0"));
  }
  DemoRng rng(DeriveSeed(seed, static_cast<uint64_t>(round)));
  // Floyd: for j in [clients - cohort, clients), draw t in [0, j]; take t,
  // or j if t is already taken. Every cohort-subset is equally likely.
  absl::flat_hash_set<int64_t> chosen;
  chosen.reserve(cohort);
  std::vector<int64_t> result;
  result.reserve(cohort);
  for (int64_t j = clients - cohort; j < clients; ++j) {
    const int64_t t =
        static_cast<int64_t>(rng.UniformInt(static_cast<uint64_t>(j) + 1));
    const int64_t pick = chosen.insert(t).second ? t : j;
    if (pick == j) chosen.insert(j);
    result.push_back(pick);
  }
  std::sort(result.begin(), result.end());
  return result;
}

}  // namespace fedexec::demo
