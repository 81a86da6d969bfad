// Specification of client partitioning and cohort sampling: every example
// goes to exactly one client and no client is empty; results are a pure
// function of the seed; Dirichlet skew follows alpha; shards give each
// client few labels; cohorts are distinct, in range and reproducible.
#include "demo/partition.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedexec::demo {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Labels 0..classes-1, `per_class` of each, interleaved (i % classes).
std::vector<int32_t> BalancedLabels(int classes, int per_class) {
  std::vector<int32_t> labels(classes * per_class);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = i % classes;
  return labels;
}

// Every index in [0, n) exactly once, every client non-empty and sorted.
void ExpectValidPartition(const Partition& p, int64_t n, int64_t clients) {
  ASSERT_EQ(static_cast<int64_t>(p.size()), clients);
  std::vector<int> seen(n);
  for (size_t c = 0; c < p.size(); ++c) {
    EXPECT_FALSE(p[c].empty()) << "client " << c;
    EXPECT_TRUE(std::is_sorted(p[c].begin(), p[c].end())) << "client " << c;
    for (int32_t i : p[c]) {
      ASSERT_GE(i, 0);
      ASSERT_LT(i, n);
      ++seen[i];
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(seen[i], 1) << "example " << i;
  }
}

// The share of a client's examples held by its `top` most frequent labels.
double TopLabelShare(const std::vector<int32_t>& part,
                     const std::vector<int32_t>& labels, int top) {
  std::map<int32_t, int> counts;
  for (int32_t i : part) ++counts[labels[i]];
  std::vector<int> c;
  for (const auto& [label, count] : counts) c.push_back(count);
  std::sort(c.rbegin(), c.rend());
  int held = 0;
  for (int k = 0; k < top && k < static_cast<int>(c.size()); ++k) held += c[k];
  return static_cast<double>(held) / part.size();
}

// ------------------------------------------------------------------ DemoRng

TEST(DemoRngTest, EngineIsTheStandardMt19937_64) {
  // The C++ standard fixes the 10000th output of a default-seeded
  // mt19937_64 (seed 5489).
  DemoRng rng(5489);
  uint64_t x = 0;
  for (int i = 0; i < 10000; ++i) x = rng.Next();
  EXPECT_EQ(x, 9981545732273789042ULL);
}

TEST(DemoRngTest, UniformRanges) {
  DemoRng rng(1);
  for (int i = 0; i < 10000; ++i) {
    const double u = rng.Uniform();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
    const double v = rng.UniformOpen();
    EXPECT_GT(v, 0.0);
    EXPECT_LT(v, 1.0);
    EXPECT_LT(rng.UniformInt(7), 7u);
  }
  EXPECT_EQ(rng.UniformInt(1), 0u);
}

TEST(DemoRngTest, UniformIntCoversRangeEvenly) {
  DemoRng rng(2);
  std::vector<int> counts(6);
  for (int i = 0; i < 60000; ++i) ++counts[rng.UniformInt(6)];
  for (int c : counts) EXPECT_NEAR(c, 10000, 600);  // ~6.5 sigma
}

TEST(DemoRngTest, GammaMeanAndVariance) {
  // Gamma(k, 1) has mean k and variance k.
  for (double shape : {0.1, 0.5, 1.0, 2.5, 30.0}) {
    DemoRng rng(3);
    const int n = 200000;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < n; ++i) {
      const double g = std::exp(rng.LogGamma(shape));
      sum += g;
      sum2 += g * g;
    }
    const double mean = sum / n;
    const double var = sum2 / n - mean * mean;
    // Standard error of the mean: sqrt(k / n); allow 6 of them.
    EXPECT_NEAR(mean, shape, 6 * std::sqrt(shape / n)) << "shape " << shape;
    EXPECT_NEAR(var, shape, 0.05 * shape + 0.01) << "shape " << shape;
  }
}

TEST(DemoRngTest, TinyShapeGammaDoesNotUnderflowInLogs) {
  DemoRng rng(4);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(std::isfinite(rng.LogGamma(0.001)));
  }
}

TEST(DemoRngTest, DirichletIsADistribution) {
  DemoRng rng(5);
  for (double alpha : {0.001, 0.1, 1.0, 100.0}) {
    std::vector<double> p = rng.Dirichlet(alpha, 50);
    ASSERT_EQ(p.size(), 50u);
    double sum = 0;
    for (double x : p) {
      EXPECT_GE(x, 0.0);
      sum += x;
    }
    EXPECT_NEAR(sum, 1.0, 1e-12);
  }
}

TEST(DemoRngTest, DeriveSeedSeparatesStreams) {
  std::set<uint64_t> seeds;
  for (uint64_t s = 0; s < 10; ++s) {
    for (uint64_t stream = 0; stream < 100; ++stream) {
      seeds.insert(DeriveSeed(s, stream));
    }
  }
  EXPECT_EQ(seeds.size(), 1000u);
  EXPECT_EQ(DeriveSeed(7, 3), DeriveSeed(7, 3));
}

// ---------------------------------------------------------------------- IID

TEST(IidPartitionTest, CoversAllWithBalancedSizes) {
  absl::StatusOr<Partition> p = IidPartition(1003, 10, 42);
  ASSERT_TRUE(p.ok()) << p.status();
  ExpectValidPartition(*p, 1003, 10);
  for (int c = 0; c < 10; ++c) {
    EXPECT_EQ((*p)[c].size(), c < 3 ? 101u : 100u) << c;
  }
}

TEST(IidPartitionTest, DeterministicPerSeed) {
  EXPECT_EQ(*IidPartition(500, 7, 1), *IidPartition(500, 7, 1));
  EXPECT_NE(*IidPartition(500, 7, 1), *IidPartition(500, 7, 2));
}

TEST(IidPartitionTest, IsShuffled) {
  // Client 0 does not just get the first block.
  absl::StatusOr<Partition> p = IidPartition(1000, 10, 9);
  ASSERT_TRUE(p.ok());
  EXPECT_GT((*p)[0].back(), 200);
}

TEST(IidPartitionTest, OneClientAndOneExampleEach) {
  absl::StatusOr<Partition> one = IidPartition(5, 1, 0);
  ASSERT_TRUE(one.ok());
  EXPECT_THAT((*one)[0], ElementsAre(0, 1, 2, 3, 4));
  absl::StatusOr<Partition> each = IidPartition(5, 5, 0);
  ASSERT_TRUE(each.ok());
  ExpectValidPartition(*each, 5, 5);
}

TEST(IidPartitionTest, InvalidClients) {
  for (int64_t clients : {0, -1, 11}) {
    absl::StatusOr<Partition> p = IidPartition(10, clients, 0);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(p.status().message(), HasSubstr("--population"));
  }
}

// ---------------------------------------------------------------- Dirichlet

TEST(DirichletPartitionTest, CoversAllEveryClientNonEmpty) {
  const std::vector<int32_t> labels = BalancedLabels(10, 600);
  for (double alpha : {0.01, 0.1, 1.0, 100.0}) {
    absl::StatusOr<Partition> p = DirichletPartition(labels, 100, alpha, 3);
    ASSERT_TRUE(p.ok()) << p.status();
    ExpectValidPartition(*p, labels.size(), 100);
  }
}

TEST(DirichletPartitionTest, NonEmptyEvenWithClientsNearN) {
  const std::vector<int32_t> labels = BalancedLabels(10, 20);  // n = 200
  for (uint64_t seed = 0; seed < 5; ++seed) {
    absl::StatusOr<Partition> p = DirichletPartition(labels, 190, 0.05, seed);
    ASSERT_TRUE(p.ok()) << p.status();
    ExpectValidPartition(*p, 200, 190);
  }
  absl::StatusOr<Partition> p = DirichletPartition(labels, 200, 0.05, 0);
  ASSERT_TRUE(p.ok());
  ExpectValidPartition(*p, 200, 200);
  for (const auto& part : *p) EXPECT_EQ(part.size(), 1u);
}

TEST(DirichletPartitionTest, SmallAlphaSkewsLabels) {
  const std::vector<int32_t> labels = BalancedLabels(10, 1000);
  absl::StatusOr<Partition> p = DirichletPartition(labels, 50, 0.1, 11);
  ASSERT_TRUE(p.ok());
  int dominated = 0;
  for (const auto& part : *p) {
    if (TopLabelShare(part, labels, 2) >= 0.8) ++dominated;
  }
  // With alpha = 0.1 most clients hold mostly one or two labels.
  EXPECT_GE(dominated, 35) << "of 50";
}

TEST(DirichletPartitionTest, LargeAlphaIsNearUniform) {
  const std::vector<int32_t> labels = BalancedLabels(10, 1000);
  absl::StatusOr<Partition> p = DirichletPartition(labels, 20, 1000.0, 11);
  ASSERT_TRUE(p.ok());
  for (const auto& part : *p) {
    // ~500 examples, ~50 per label: no label much above its 10% share, and
    // every label present.
    EXPECT_LT(TopLabelShare(part, labels, 1), 0.16);
    std::set<int32_t> present;
    for (int32_t i : part) present.insert(labels[i]);
    EXPECT_EQ(present.size(), 10u);
    EXPECT_NEAR(static_cast<double>(part.size()), 500.0, 100.0);
  }
}

// A client at its mean share gets nothing of later classes: with two
// classes of 100 and alpha tiny, class 0 goes (almost surely) to one
// client, so class 1 must go to the other one, for every seed. Without the
// cap the two would often land on the same client.
TEST(DirichletPartitionTest, ClientsAtTheirShareTakeNoMore) {
  const std::vector<int32_t> labels = BalancedLabels(2, 100);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    absl::StatusOr<Partition> p = DirichletPartition(labels, 2, 0.001, seed);
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_EQ((*p)[0].size(), 100u) << "seed " << seed;
    ASSERT_EQ((*p)[1].size(), 100u) << "seed " << seed;
    for (const std::vector<int32_t>& client : *p) {
      for (int32_t i : client) EXPECT_EQ(labels[i], labels[client[0]]);
    }
  }
}

TEST(DirichletPartitionTest, DeterministicPerSeed) {
  const std::vector<int32_t> labels = BalancedLabels(10, 100);
  EXPECT_EQ(*DirichletPartition(labels, 20, 0.5, 8),
            *DirichletPartition(labels, 20, 0.5, 8));
  EXPECT_NE(*DirichletPartition(labels, 20, 0.5, 8),
            *DirichletPartition(labels, 20, 0.5, 9));
}

TEST(DirichletPartitionTest, GapsInLabelsAreFine) {
  std::vector<int32_t> labels = {0, 5, 5, 0, 9, 9, 9, 0};
  absl::StatusOr<Partition> p = DirichletPartition(labels, 3, 1.0, 0);
  ASSERT_TRUE(p.ok()) << p.status();
  ExpectValidPartition(*p, 8, 3);
}

TEST(DirichletPartitionTest, InvalidArguments) {
  const std::vector<int32_t> labels = BalancedLabels(2, 5);
  for (double alpha : {0.0, -1.0, std::nan(""), double{INFINITY}}) {
    absl::StatusOr<Partition> p = DirichletPartition(labels, 2, alpha, 0);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(p.status().message(), HasSubstr("--alpha"));
  }
  absl::StatusOr<Partition> p = DirichletPartition(labels, 11, 1.0, 0);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("--population is 11"));
  p = DirichletPartition({}, 1, 1.0, 0);
  EXPECT_THAT(p.status().message(), HasSubstr("--population"));
  p = DirichletPartition({1, -2, 0}, 1, 1.0, 0);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("label of example 1 is -2"));
}

// ------------------------------------------------------------------- Shards

TEST(ShardPartitionTest, TwoShardsGiveAtMostTwoLabels) {
  const std::vector<int32_t> labels = BalancedLabels(10, 600);
  absl::StatusOr<Partition> p = ShardPartition(labels, 100, 2, 5);
  ASSERT_TRUE(p.ok()) << p.status();
  ExpectValidPartition(*p, 6000, 100);
  int two_labels = 0;
  for (const auto& part : *p) {
    EXPECT_EQ(part.size(), 60u);
    std::set<int32_t> present;
    for (int32_t i : part) present.insert(labels[i]);
    EXPECT_LE(present.size(), 2u);
    if (present.size() == 2) ++two_labels;
  }
  // Random dealing pairs most clients' shards across labels.
  EXPECT_GT(two_labels, 50);
}

TEST(ShardPartitionTest, UnevenSizes) {
  const std::vector<int32_t> labels = BalancedLabels(3, 11);  // n = 33
  absl::StatusOr<Partition> p = ShardPartition(labels, 4, 2, 1);
  ASSERT_TRUE(p.ok()) << p.status();
  ExpectValidPartition(*p, 33, 4);
  for (const auto& part : *p) {
    EXPECT_GE(part.size(), 8u);
    EXPECT_LE(part.size(), 10u);
  }
}

TEST(ShardPartitionTest, DeterministicPerSeed) {
  const std::vector<int32_t> labels = BalancedLabels(10, 100);
  EXPECT_EQ(*ShardPartition(labels, 10, 3, 4),
            *ShardPartition(labels, 10, 3, 4));
  EXPECT_NE(*ShardPartition(labels, 10, 3, 4),
            *ShardPartition(labels, 10, 3, 5));
}

TEST(ShardPartitionTest, InvalidArguments) {
  const std::vector<int32_t> labels = BalancedLabels(2, 5);  // n = 10
  absl::StatusOr<Partition> p = ShardPartition(labels, 5, 3, 0);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("--shards-per-client is 3"));
  p = ShardPartition(labels, 5, 0, 0);
  EXPECT_THAT(p.status().message(), HasSubstr("--shards-per-client is 0"));
  p = ShardPartition(labels, 0, 1, 0);
  EXPECT_THAT(p.status().message(), HasSubstr("--population is 0"));
  ASSERT_TRUE(ShardPartition(labels, 5, 2, 0).ok());
}

// ------------------------------------------------------------------- Cohort

TEST(SampleCohortTest, DistinctSortedInRange) {
  for (int64_t round = 0; round < 50; ++round) {
    absl::StatusOr<std::vector<int64_t>> c = SampleCohort(1000, 37, round, 6);
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_EQ(c->size(), 37u);
    EXPECT_TRUE(std::is_sorted(c->begin(), c->end()));
    EXPECT_EQ(std::set<int64_t>(c->begin(), c->end()).size(), 37u);
    EXPECT_GE(c->front(), 0);
    EXPECT_LT(c->back(), 1000);
  }
}

TEST(SampleCohortTest, DeterministicInSeedAndRound) {
  EXPECT_EQ(*SampleCohort(500, 10, 3, 1), *SampleCohort(500, 10, 3, 1));
  EXPECT_NE(*SampleCohort(500, 10, 3, 1), *SampleCohort(500, 10, 4, 1));
  EXPECT_NE(*SampleCohort(500, 10, 3, 1), *SampleCohort(500, 10, 3, 2));
}

TEST(SampleCohortTest, WholePopulation) {
  absl::StatusOr<std::vector<int64_t>> c = SampleCohort(5, 5, 0, 0);
  ASSERT_TRUE(c.ok());
  EXPECT_THAT(*c, ElementsAre(0, 1, 2, 3, 4));
}

TEST(SampleCohortTest, EachClientEquallyLikely) {
  std::vector<int> counts(10);
  const int rounds = 3000;
  for (int r = 0; r < rounds; ++r) {
    absl::StatusOr<std::vector<int64_t>> cohort = SampleCohort(10, 3, r, 77);
    ASSERT_TRUE(cohort.ok());
    for (int64_t id : *cohort) ++counts[id];
  }
  // Expected 900 each, sd ~25.
  for (int c : counts) EXPECT_NEAR(c, 900, 150);
}

TEST(SampleCohortTest, InvalidArguments) {
  EXPECT_THAT(SampleCohort(0, 1, 0, 0).status().message(),
              HasSubstr("--population is 0"));
  EXPECT_THAT(SampleCohort(10, 11, 0, 0).status().message(),
              HasSubstr("--cohort is 11"));
  EXPECT_THAT(SampleCohort(10, 0, 0, 0).status().message(),
              HasSubstr("--cohort is 0"));
  EXPECT_THAT(SampleCohort(10, 2, -1, 0).status().message(),
              HasSubstr("--round is -1"));
  EXPECT_EQ(SampleCohort(10, 11, 0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fedexec::demo
