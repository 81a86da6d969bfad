// Specification of the deterministic block-tree reduction
// (core/tree_reduce.h): geometry of the canonical tree, bit-identical float
// sums across thread counts, completion orders, windows and shards, the
// memory bound, errors, cancellation and nesting.
#include "core/tree_reduce.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/concurrency.h"

namespace fedexec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using ::fedexec::test_util::OccupiedPool;
using ::fedexec::test_util::RunWithDeadline;

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

// n floats of both signs spanning 1e-8 .. 1e8, in cancelling pairs (x and
// -x, shuffled apart): the exact sum is 0, so the float sum is made of
// rounding errors alone and any change of summation order shows in its bits.
std::vector<float> WideRangeValues(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> exponent(-8.0, 8.0);
  std::bernoulli_distribution negative(0.5);
  std::vector<float> v(n);
  for (int i = 0; i + 1 < n; i += 2) {
    float x = static_cast<float>(std::pow(10.0, exponent(rng)));
    if (negative(rng)) x = -x;
    v[i] = x;
    v[i + 1] = -x;
  }
  if (n % 2 == 1) v[n - 1] = 1.0f;
  std::shuffle(v.begin(), v.end(), rng);
  return v;
}

// The canonical tree, written plainly and sequentially.
float ReferenceNode(const std::vector<float>& v, int64_t block_size,
                    int64_t num_blocks, int level, int64_t index) {
  if (level == 0) {
    float acc = 0.0f;
    const int64_t begin = index * block_size;
    const int64_t end =
        std::min<int64_t>(begin + block_size, static_cast<int64_t>(v.size()));
    for (int64_t c = begin; c < end; ++c) acc += v[c];
    return acc;
  }
  const float left =
      ReferenceNode(v, block_size, num_blocks, level - 1, 2 * index);
  const int64_t right_first = (2 * index + 1) << (level - 1);
  if (right_first >= num_blocks) return left;
  return left +
         ReferenceNode(v, block_size, num_blocks, level - 1, 2 * index + 1);
}

float ReferenceSum(const std::vector<float>& v, int64_t block_size) {
  const int64_t n = v.size();
  const int64_t num_blocks = (n + block_size - 1) / block_size;
  if (num_blocks == 0) return 0.0f;
  int height = 0;
  while ((int64_t{1} << height) < num_blocks) ++height;
  return ReferenceNode(v, block_size, num_blocks, height, 0);
}

// A float-sum reduction over `v` whose Fold sleeps, at the first client of
// some blocks, for a seeded random time: blocks then finish in random
// orders.
struct DelayedSum {
  DelayedSum(const std::vector<float>& v, int64_t block_size, uint32_t seed)
      : values(v), block_size(block_size) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> us(0, 400);
    std::bernoulli_distribution delayed(1.0 / 12);
    const int64_t num_blocks = (v.size() + block_size - 1) / block_size;
    delay_us.resize(num_blocks);
    for (int& d : delay_us) d = delayed(rng) ? us(rng) : 0;
  }

  absl::StatusOr<float> Run(ThreadPool& pool, int64_t window) const {
    TreeReduceOptions options;
    options.block_size = block_size;
    options.window = window;
    return TreeReduce(
        pool, values.size(), options, [] { return 0.0f; }, Fold(), Combine());
  }

  std::function<absl::Status(float&, int64_t)> Fold() const {
    return [this](float& acc, int64_t client) {
      if (client % block_size == 0 && delay_us[client / block_size] > 0) {
        std::this_thread::sleep_for(
            std::chrono::microseconds(delay_us[client / block_size]));
      }
      acc += values[client];
      return absl::OkStatus();
    };
  }
  static std::function<absl::Status(float&, float&&)> Combine() {
    return [](float& left, float&& right) {
      left += right;
      return absl::OkStatus();
    };
  }

  const std::vector<float>& values;
  const int64_t block_size;
  std::vector<int> delay_us;
};

// ---------------------------------------------------------------------------
// Geometry of the canonical tree

TEST(TreeGeometryTest, NumBlocksIsTheCeilingOfClientsOverBlockSize) {
  EXPECT_EQ(*TreeNumBlocks(0, 4), 0);
  EXPECT_EQ(*TreeNumBlocks(1, 4), 1);
  EXPECT_EQ(*TreeNumBlocks(8, 4), 2);
  EXPECT_EQ(*TreeNumBlocks(9, 4), 3);
  EXPECT_EQ(*TreeNumBlocks(std::numeric_limits<int64_t>::max(),
                           std::numeric_limits<int64_t>::max()),
            1);
}

TEST(TreeGeometryTest, NumBlocksRejectsBadInput) {
  EXPECT_EQ(TreeNumBlocks(-1, 4).status(),
            absl::InvalidArgumentError(
                "TreeReduce: the number of clients must be >= 0, got -1"));
  EXPECT_EQ(
      TreeNumBlocks(10, 0).status(),
      absl::InvalidArgumentError("TreeReduce: block_size must be >= 1, got 0"));
  absl::StatusOr<int64_t> too_many =
      TreeNumBlocks(std::numeric_limits<int64_t>::max(), 1);
  EXPECT_EQ(too_many.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_many.status().message(), HasSubstr("more than the limit"));
}

TEST(TreeGeometryTest, HeightIsCeilLog2OfTheBlockCount) {
  EXPECT_EQ(TreeHeight(0), 0);
  EXPECT_EQ(TreeHeight(1), 0);
  EXPECT_EQ(TreeHeight(2), 1);
  EXPECT_EQ(TreeHeight(3), 2);
  EXPECT_EQ(TreeHeight(4), 2);
  EXPECT_EQ(TreeHeight(5), 3);
  EXPECT_EQ(TreeHeight(1024), 10);
  EXPECT_EQ(TreeHeight(1025), 11);
  EXPECT_EQ(TreeHeight(kMaxTreeReduceBlocks), 62);
}

TEST(TreeGeometryTest, NodesCoverAlignedBlockRangesClippedToTheBlockCount) {
  EXPECT_EQ(TreeNodeFirstBlock({3, 2}), 16);
  EXPECT_EQ(TreeNodeEndBlock({3, 2}, 100), 24);
  EXPECT_EQ(TreeNodeEndBlock({3, 2}, 20), 20);
  // With 5 blocks, node (3, 0) has children (2, 0) = [0, 4) and
  // (2, 1) = [4, 5); (2, 1) has no right child: its value is (1, 2)'s,
  // which is (0, 4)'s.
  EXPECT_TRUE(TreeNodeHasRightChild({3, 0}, 5));
  EXPECT_FALSE(TreeNodeHasRightChild({2, 1}, 5));
  EXPECT_FALSE(TreeNodeHasRightChild({1, 2}, 5));
  EXPECT_TRUE(TreeNodeHasRightChild({1, 1}, 5));
  EXPECT_FALSE(TreeNodeHasRightChild({0, 1}, 5));  // blocks have no children
}

std::vector<std::pair<int, int64_t>> Tiles(int64_t first, int64_t last,
                                           int64_t num_blocks) {
  std::vector<std::pair<int, int64_t>> out;
  const absl::StatusOr<std::vector<TreeNodeId>> tiles =
      TileBlockRange(first, last, num_blocks);
  EXPECT_TRUE(tiles.ok()) << tiles.status();
  if (!tiles.ok()) return out;
  for (const TreeNodeId& id : *tiles) {
    out.emplace_back(id.level, id.index);
  }
  return out;
}

TEST(TreeGeometryTest, TilingIsTheMaximalAlignedNodesInsideTheRange) {
  using P = std::pair<int, int64_t>;
  EXPECT_THAT(Tiles(0, 8, 8), ElementsAre(P{3, 0}));
  EXPECT_THAT(Tiles(0, 5, 5), ElementsAre(P{3, 0}));  // the root
  EXPECT_THAT(Tiles(0, 1, 1), ElementsAre(P{0, 0}));
  EXPECT_THAT(Tiles(1, 7, 8), ElementsAre(P{0, 1}, P{1, 1}, P{1, 2}, P{0, 6}));
  // At the end of the blocks a node is inside when its existing blocks are.
  EXPECT_THAT(Tiles(4, 5, 5), ElementsAre(P{2, 1}));
  EXPECT_THAT(Tiles(3, 5, 5), ElementsAre(P{0, 3}, P{2, 1}));
  EXPECT_THAT(Tiles(0, 4, 5), ElementsAre(P{2, 0}));
  EXPECT_TRUE(Tiles(3, 3, 5).empty());
}

TEST(TreeGeometryTest, TilingRejectsRangesOutsideTheBlocks) {
  for (auto [first, last] :
       std::vector<std::pair<int64_t, int64_t>>{{-1, 2}, {3, 2}, {0, 6}}) {
    absl::StatusOr<std::vector<TreeNodeId>> tiles =
        TileBlockRange(first, last, 5);
    ASSERT_FALSE(tiles.ok());
    EXPECT_EQ(tiles.status(),
              absl::InvalidArgumentError(
                  absl::StrCat("TreeReduce: block range [", first, ", ", last,
                               ") is not within the 5 blocks [0, 5)")));
  }
}

// ---------------------------------------------------------------------------
// Determinism

TEST(TreeReduceTest, TheValuesAreOrderSensitive) {
  // Guards the meaning of the tests below: with these values, summing in
  // another order or with another block size gives other bits.
  const std::vector<float> v = WideRangeValues(10000, 1);
  float forward = 0.0f, backward = 0.0f;
  for (float x : v) forward += x;
  for (auto it = v.rbegin(); it != v.rend(); ++it) backward += *it;
  EXPECT_NE(Bits(forward), Bits(backward));
  EXPECT_NE(Bits(ReferenceSum(v, 1)), Bits(ReferenceSum(v, 7)));
  EXPECT_NE(Bits(ReferenceSum(v, 7)), Bits(ReferenceSum(v, 64)));
  EXPECT_NE(Bits(ReferenceSum(v, 64)), Bits(forward));
}

TEST(TreeReduceTest,
     FloatSumIsBitIdenticalToTheReferenceForAnyThreadsAndOrder) {
  const std::vector<float> v = WideRangeValues(10000, 1);
  for (int64_t block_size : {1, 7, 64}) {
    const float expected = ReferenceSum(v, block_size);
    for (int size : {1, 2, 8}) {
      ThreadPool pool(size);
      for (int64_t window : {1, 3, 0, 64}) {
        for (uint32_t seed : {11u, 12u}) {
          DelayedSum sum(v, block_size, seed + size);
          absl::StatusOr<float> got = sum.Run(pool, window);
          ASSERT_TRUE(got.ok()) << got.status();
          EXPECT_EQ(Bits(*got), Bits(expected))
              << "block_size " << block_size << " pool " << size << " window "
              << window << " seed " << seed << ": " << *got << " vs "
              << expected;
        }
      }
    }
  }
}

TEST(TreeReduceTest, ZeroClientsGiveTheZeroAccumulator) {
  ThreadPool pool(2);
  bool folded = false;
  absl::StatusOr<float> got = TreeReduce(
      pool, 0, TreeReduceOptions{}, [] { return 42.5f; },
      [&](float&, int64_t) {
        folded = true;
        return absl::OkStatus();
      },
      [](float& l, float&& r) { l += r; });
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, 42.5f);
  EXPECT_FALSE(folded);
}

TEST(TreeReduceTest, OneClientIsFoldedIntoOneFreshAccumulator) {
  for (int size : {1, 2}) {
    ThreadPool pool(size);
    for (int64_t block_size : {1, 16}) {
      int combines = 0;
      TreeReduceOptions options;
      options.block_size = block_size;
      absl::StatusOr<std::vector<int64_t>> got = TreeReduce(
          pool, 1, options, [] { return std::vector<int64_t>{-1}; },
          [](std::vector<int64_t>& acc, int64_t client) {
            acc.push_back(client);
          },
          [&](std::vector<int64_t>&, std::vector<int64_t>&&) { ++combines; });
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_THAT(*got, ElementsAre(-1, 0));
      EXPECT_EQ(combines, 0);
    }
  }
}

// The canonical tree as a string: blocks fold clients in order into "[...]"
// and combines write "(left right)"; the shape of the whole tree shows.
TEST(TreeReduceTest, CombinesFollowTheCanonicalTreeExactly) {
  ThreadPool pool(3);
  TreeReduceOptions options;
  options.block_size = 2;
  absl::StatusOr<std::string> got = TreeReduce(
      pool, 11, options, [] { return std::string(); },
      [](std::string& acc, int64_t client) {
        absl::StrAppend(&acc, acc.empty() ? "" : ",", client);
      },
      [](std::string& left, std::string&& right) {
        left = absl::StrCat("(", left, " ", right, ")");
      });
  ASSERT_TRUE(got.ok()) << got.status();
  // 6 blocks: [0,1] [2,3] [4,5] [6,7] [8,9] [10]; height 3; node (2, 1)
  // combines (1, 2) = blocks 4 and 5 with nothing on its right.
  EXPECT_EQ(*got, "(((0,1 2,3) (4,5 6,7)) (8,9 10))");
}

TEST(TreeReduceTest, VoidAndStatusCallablesAreBothAccepted) {
  ThreadPool pool(2);
  TreeReduceOptions options;
  options.block_size = 3;
  absl::StatusOr<int64_t> got = TreeReduce(
      pool, 100, options, [] { return int64_t{0}; },
      [](int64_t& acc, int64_t client) { acc += client; },
      [](int64_t& l, int64_t&& r) {
        l += r;
        return absl::OkStatus();
      });
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, 99 * 100 / 2);
}

TEST(TreeReduceTest, HugeWindowIsClampedToTheBlocks) {
  ThreadPool pool(2);
  TreeReduceOptions options;
  options.block_size = 1;
  options.window = int64_t{1} << 50;
  absl::StatusOr<int64_t> got = TreeReduce(
      pool, 1000, options, [] { return int64_t{0}; },
      [](int64_t& acc, int64_t client) { acc += client; },
      [](int64_t& l, int64_t&& r) { l += r; });
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, 999 * 1000 / 2);
}

TEST(TreeReduceTest, RejectsBadOptionsForAnyClientCount) {
  ThreadPool pool(1);
  auto zero = [] { return 0; };
  auto fold = [](int&, int64_t) {};
  auto combine = [](int&, int&&) {};
  for (int64_t n : {0, 10}) {
    TreeReduceOptions options;
    options.block_size = 0;
    EXPECT_EQ(TreeReduce(pool, n, options, zero, fold, combine).status(),
              absl::InvalidArgumentError(
                  "TreeReduce: block_size must be >= 1, got 0"));
    options.block_size = 4;
    options.window = -2;
    EXPECT_EQ(TreeReduce(pool, n, options, zero, fold, combine).status(),
              absl::InvalidArgumentError("TreeReduce: window must be >= 1 (or "
                                         "0 for the default), got -2"));
  }
  EXPECT_EQ(
      TreeReduce(pool, -5, TreeReduceOptions{}, zero, fold, combine).status(),
      absl::InvalidArgumentError(
          "TreeReduce: the number of clients must be >= 0, got -5"));
}

// ---------------------------------------------------------------------------
// Shards: ReduceBlockRange and MergeTreeNodes

TEST(TreeReduceShardTest, EachRangeReturnsItsCanonicalTilingWithExactValues) {
  const std::vector<float> v = WideRangeValues(1000, 3);
  const int64_t block_size = 5;
  const int64_t num_blocks = 200;
  ThreadPool pool(2);
  TreeReduceOptions options;
  options.block_size = block_size;
  for (auto [first, last] : std::vector<std::pair<int64_t, int64_t>>{{0, 200},
                                                                     {0, 1},
                                                                     {13, 14},
                                                                     {13, 157},
                                                                     {64, 128},
                                                                     {1, 199},
                                                                     {150, 200},
                                                                     {7, 7}}) {
    absl::StatusOr<std::vector<TreeNode<float>>> nodes = ReduceBlockRange(
        pool, v.size(), options, first, last, [] { return 0.0f; },
        [&](float& acc, int64_t c) { acc += v[c]; },
        [](float& l, float&& r) { l += r; });
    ASSERT_TRUE(nodes.ok()) << nodes.status();
    const std::vector<TreeNodeId> tiles =
        *TileBlockRange(first, last, num_blocks);
    ASSERT_EQ(nodes->size(), tiles.size());
    for (size_t i = 0; i < tiles.size(); ++i) {
      EXPECT_EQ((*nodes)[i].id(), tiles[i]);
      EXPECT_EQ(Bits((*nodes)[i].value),
                Bits(ReferenceNode(v, block_size, num_blocks, tiles[i].level,
                                   tiles[i].index)))
          << "range [" << first << ", " << last << ") tile " << i;
    }
  }
}

TEST(TreeReduceShardTest, MergingShardsOfAnySplitGivesTheIdenticalRoot) {
  const std::vector<float> v = WideRangeValues(10000, 5);
  ThreadPool pool1(1), pool2(2), pool8(8);
  ThreadPool* pools[] = {&pool1, &pool2, &pool8};
  std::mt19937 rng(99);
  for (int64_t block_size : {1, 7, 64}) {
    const int64_t num_blocks = (10000 + block_size - 1) / block_size;
    const float expected = ReferenceSum(v, block_size);
    for (int shards : {1, 2, 3, 7}) {
      for (int round = 0; round < 3; ++round) {
        // Random cut points: contiguous ranges of random (maybe empty) size.
        std::vector<int64_t> cuts = {0, num_blocks};
        for (int s = 1; s < shards; ++s) {
          cuts.push_back(
              std::uniform_int_distribution<int64_t>(0, num_blocks)(rng));
        }
        std::sort(cuts.begin(), cuts.end());
        std::vector<TreeNode<float>> all;
        for (int s = 0; s < shards; ++s) {
          TreeReduceOptions options;
          options.block_size = block_size;
          options.window = 1 + s;
          DelayedSum delayed(v, block_size, 1000 + s + round);
          absl::StatusOr<std::vector<TreeNode<float>>> nodes = ReduceBlockRange(
              *pools[s % 3], v.size(), options, cuts[s], cuts[s + 1],
              [] { return 0.0f; }, delayed.Fold(), DelayedSum::Combine());
          ASSERT_TRUE(nodes.ok()) << nodes.status();
          for (auto& node : *nodes) all.push_back(std::move(node));
        }
        std::shuffle(all.begin(), all.end(), rng);  // any arrival order
        absl::StatusOr<float> root = MergeTreeNodes(
            std::move(all), num_blocks, [] { return 0.0f; },
            DelayedSum::Combine());
        ASSERT_TRUE(root.ok()) << root.status();
        EXPECT_EQ(Bits(*root), Bits(expected))
            << "block_size " << block_size << " shards " << shards << " round "
            << round;
      }
    }
  }
}

TEST(TreeReduceShardTest, EquivalentNodesAtTheEndMergeTheSame) {
  // With 5 blocks, (0, 4), (1, 2) and (2, 1) all hold block 4 alone.
  auto combine = [](std::string& l, std::string&& r) {
    l = absl::StrCat("(", l, " ", r, ")");
  };
  auto zero = [] { return std::string(); };
  for (int level : {0, 1, 2}) {
    std::vector<TreeNode<std::string>> nodes;
    nodes.push_back({level, int64_t{4} >> level, "b4"});
    nodes.push_back({2, 0, "b0-3"});
    absl::StatusOr<std::string> root =
        MergeTreeNodes(std::move(nodes), 5, zero, combine);
    ASSERT_TRUE(root.ok()) << root.status();
    EXPECT_EQ(*root, "(b0-3 b4)");
  }
}

TEST(TreeReduceShardTest, MergeOfNoBlocksIsTheZeroAccumulator) {
  absl::StatusOr<int> root = MergeTreeNodes(
      std::vector<TreeNode<int>>{}, 0, [] { return 7; }, [](int&, int&&) {});
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(*root, 7);
  ThreadPool pool(1);
  absl::StatusOr<std::vector<TreeNode<int>>> none = ReduceBlockRange(
      pool, 0, TreeReduceOptions{}, 0, 0, [] { return 7; },
      [](int&, int64_t) {}, [](int&, int&&) {});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
}

TEST(TreeReduceShardTest, MergeRejectsNodesThatDoNotTileTheBlocks) {
  auto zero = [] { return 0; };
  auto combine = [](int& l, int&& r) { l += r; };
  auto merge = [&](std::vector<TreeNode<int>> nodes, int64_t num_blocks) {
    return MergeTreeNodes(std::move(nodes), num_blocks, zero, combine).status();
  };
  // 5 blocks: levels 0..3.
  EXPECT_EQ(merge({{4, 0, 1}}, 5),
            absl::InvalidArgumentError(
                "MergeTreeNodes: node (level 4, index 0) does not exist in "
                "the tree over 5 blocks (levels 0..3, a node must cover a "
                "block)"));
  EXPECT_THAT(merge({{0, 5, 1}}, 5).message(),
              HasSubstr("node (level 0, index 5) does not exist"));
  EXPECT_THAT(merge({{2, 2, 1}}, 5).message(),
              HasSubstr("node (level 2, index 2) does not exist"));
  EXPECT_THAT(merge({{0, -1, 1}}, 5).message(),
              HasSubstr("node (level 0, index -1) does not exist"));
  EXPECT_THAT(merge({{-1, 0, 1}}, 5).message(),
              HasSubstr("node (level -1, index 0) does not exist"));
  EXPECT_THAT(merge({{0, 0, 1}}, 0).message(),
              HasSubstr("does not exist in the tree over 0 blocks"));
  EXPECT_EQ(merge({{2, 0, 1}, {1, 1, 1}, {2, 1, 1}}, 5),
            absl::InvalidArgumentError(
                "MergeTreeNodes: node (level 1, index 1) covering blocks "
                "[2, 4) overlaps node (level 2, index 0) covering blocks "
                "[0, 4)"));
  EXPECT_EQ(merge({{2, 0, 1}, {2, 0, 1}, {2, 1, 1}}, 5).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(merge({{0, 4, 1}, {1, 2, 1}, {2, 0, 1}}, 5).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(merge({{1, 0, 1}, {2, 1, 1}}, 5),
            absl::InvalidArgumentError(
                "MergeTreeNodes: blocks [2, 4) are not covered by any node"));
  EXPECT_EQ(merge({{2, 0, 1}}, 5),
            absl::InvalidArgumentError(
                "MergeTreeNodes: blocks [4, 5) are not covered by any node"));
  EXPECT_EQ(merge({}, 5),
            absl::InvalidArgumentError(
                "MergeTreeNodes: blocks [0, 5) are not covered by any node"));
  EXPECT_EQ(merge({}, -1).code(), absl::StatusCode::kInvalidArgument);
}

TEST(TreeReduceShardTest, ReduceBlockRangeRejectsRangesOutsideTheBlocks) {
  ThreadPool pool(1);
  TreeReduceOptions options;
  options.block_size = 10;
  for (auto [first, last] : std::vector<std::pair<int64_t, int64_t>>{
           {-1, 3}, {4, 3}, {0, 11}, {11, 11}}) {
    EXPECT_EQ(ReduceBlockRange(
                  pool, 100, options, first, last, [] { return 0; },
                  [](int&, int64_t) {}, [](int&, int&&) {})
                  .status(),
              absl::InvalidArgumentError(
                  absl::StrCat("TreeReduce: block range [", first, ", ", last,
                               ") is not within the 10 blocks [0, 10)")));
  }
}

// ---------------------------------------------------------------------------
// Bounded memory

// An accumulator that counts live instances (constructed minus destroyed)
// and the peak of that count. Move-only: the reduction never copies.
struct CountedAcc {
  static std::atomic<int64_t> live;
  static std::atomic<int64_t> peak;
  static void Reset() {
    live = 0;
    peak = 0;
  }
  static void Born() {
    const int64_t now = live.fetch_add(1) + 1;
    int64_t seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  }

  CountedAcc() { Born(); }
  CountedAcc(CountedAcc&& other) : sum(other.sum) { Born(); }
  CountedAcc& operator=(CountedAcc&& other) {
    sum = other.sum;
    return *this;
  }
  CountedAcc(const CountedAcc&) = delete;
  CountedAcc& operator=(const CountedAcc&) = delete;
  ~CountedAcc() { live.fetch_sub(1); }

  float sum = 0.0f;
};
std::atomic<int64_t> CountedAcc::live{0};
std::atomic<int64_t> CountedAcc::peak{0};

TEST(TreeReduceMemoryTest, LiveAccumulatorsStayWithinWindowPlusHeight) {
  const std::vector<float> v = WideRangeValues(2000, 8);
  const int64_t block_size = 4;  // 500 blocks, height 9
  const int height = TreeHeight(500);
  const float expected = ReferenceSum(v, block_size);
  for (int size : {1, 2, 8}) {
    ThreadPool pool(size);
    for (int64_t window : {1, 2, 3, 8, 32}) {
      DelayedSum delayed(v, block_size, 77 + window);
      auto fold = delayed.Fold();
      CountedAcc::Reset();
      TreeReduceOptions options;
      options.block_size = block_size;
      options.window = window;
      {
        absl::StatusOr<CountedAcc> got = TreeReduce(
            pool, v.size(), options, [] { return CountedAcc(); },
            [&](CountedAcc& acc, int64_t c) { return fold(acc.sum, c); },
            [](CountedAcc& l, CountedAcc&& r) { l.sum += r.sum; });
        ASSERT_TRUE(got.ok()) << got.status();
        EXPECT_EQ(Bits(got->sum), Bits(expected));
        EXPECT_EQ(CountedAcc::live.load(), 1);  // the result only
      }
      EXPECT_EQ(CountedAcc::live.load(), 0);
      // window + height, plus one while the result is moved out.
      EXPECT_LE(CountedAcc::peak.load(), window + height + 1)
          << "pool " << size << " window " << window;
    }
  }
}

TEST(TreeReduceMemoryTest, RangeReductionAlsoHoldsItsFinishedTiles) {
  const std::vector<float> v = WideRangeValues(2000, 9);
  ThreadPool pool(8);
  const int height = TreeHeight(500);
  for (int64_t window : {1, 4}) {
    CountedAcc::Reset();
    TreeReduceOptions options;
    options.block_size = 4;
    options.window = window;
    const size_t tiles = TileBlockRange(3, 497, 500)->size();
    {
      absl::StatusOr<std::vector<TreeNode<CountedAcc>>> got = ReduceBlockRange(
          pool, v.size(), options, 3, 497, [] { return CountedAcc(); },
          [&](CountedAcc& acc, int64_t c) { acc.sum += v[c]; },
          [](CountedAcc& l, CountedAcc&& r) { l.sum += r.sum; });
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->size(), tiles);
      EXPECT_EQ(CountedAcc::live.load(), static_cast<int64_t>(tiles));
    }
    EXPECT_EQ(CountedAcc::live.load(), 0);
    EXPECT_LE(CountedAcc::peak.load(),
              window + height + static_cast<int64_t>(tiles) + 1);
  }
}

TEST(TreeReduceMemoryTest, FailedAndCancelledRunsReleaseEveryAccumulator) {
  ThreadPool pool(4);
  for (bool cancel_it : {false, true}) {
    CountedAcc::Reset();
    CancellationToken cancel;
    TreeReduceOptions options;
    options.block_size = 3;
    options.window = 6;
    options.cancel = &cancel;
    absl::StatusOr<CountedAcc> got = TreeReduce(
        pool, 3000, options, [] { return CountedAcc(); },
        [&](CountedAcc& acc, int64_t c) {
          if (c == 1500) {
            if (cancel_it) {
              cancel.Cancel();
            } else {
              return absl::InternalError("boom");
            }
          }
          acc.sum += 1.0f;
          return absl::OkStatus();
        },
        [](CountedAcc& l, CountedAcc&& r) { l.sum += r.sum; });
    EXPECT_EQ(got.status().code(), cancel_it ? absl::StatusCode::kCancelled
                                             : absl::StatusCode::kInternal);
    EXPECT_EQ(CountedAcc::live.load(), 0);
  }
}

// ---------------------------------------------------------------------------
// Errors

// An accumulator that knows which blocks it covers, so that Combine can fail
// on a chosen node.
struct BlockSpan {
  int64_t first = -1;
  int64_t last = -1;  // inclusive
};

struct FailurePlan {
  std::vector<int64_t> fold_fails_at;     // clients
  std::vector<int64_t> combine_fails_at;  // first block of the right operand
};

absl::Status ReduceWithFailures(ThreadPool& pool, int64_t n, int64_t block_size,
                                int64_t window, const FailurePlan& plan,
                                uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int> delay_us((n + block_size - 1) / block_size);
  for (int& d : delay_us) d = std::uniform_int_distribution<int>(0, 200)(rng);
  TreeReduceOptions options;
  options.block_size = block_size;
  options.window = window;
  return TreeReduce(
             pool, n, options, [] { return BlockSpan(); },
             [&](BlockSpan& acc, int64_t client) -> absl::Status {
               const int64_t block = client / block_size;
               if (client % block_size == 0) {
                 std::this_thread::sleep_for(
                     std::chrono::microseconds(delay_us[block]));
                 acc.first = block;
               }
               acc.last = block;
               for (int64_t c : plan.fold_fails_at) {
                 if (c == client) {
                   return absl::InvalidArgumentError(
                       absl::StrCat("fold of client ", client));
                 }
               }
               return absl::OkStatus();
             },
             [&](BlockSpan& left, BlockSpan&& right) -> absl::Status {
               for (int64_t b : plan.combine_fails_at) {
                 if (right.first == b) {
                   return absl::FailedPreconditionError(absl::StrCat(
                       "combine of [", left.first, ", ", left.last, "] with [",
                       right.first, ", ", right.last, "]"));
                 }
               }
               left.last = right.last;
               return absl::OkStatus();
             })
      .status();
}

TEST(TreeReduceErrorTest,
     TheFirstErrorInSequentialOrderWinsWhateverTheThreads) {
  // 50 clients in blocks of 2: 25 blocks, height 5. An operation's position
  // is its block for a fold, and the last block of the node it makes for a
  // combine; a fold comes before a combine at the same position.
  struct Case {
    FailurePlan plan;
    absl::Status expected;
  };
  const std::vector<Case> cases = {
      {{{11, 37}, {}}, absl::InvalidArgumentError("fold of client 11")},
      {{{37, 11}, {}}, absl::InvalidArgumentError("fold of client 11")},
      {{{10, 11}, {}},  // both in block 5: folding stops at client 10
       absl::InvalidArgumentError("fold of client 10")},
      // The combine making node (1, 1) = blocks [2, 3] is at position 3,
      // before the fold of block 5 (clients 10, 11).
      {{{10}, {3}},
       absl::FailedPreconditionError("combine of [2, 2] with [3, 3]")},
      // The fold of block 3 (client 6) precedes that combine.
      {{{6}, {3}}, absl::InvalidArgumentError("fold of client 6")},
      // Node (3, 1) = blocks [8, 15] combines (2, 2) and (2, 3) at position
      // 15; node (2, 4) = blocks [16, 19] at position 19.
      {{{}, {16, 12}},
       absl::FailedPreconditionError("combine of [8, 11] with [12, 15]")},
      // Root (5, 0) combines (4, 0) with (4, 1) = blocks [16, 24] at
      // position 24, after the fold of client 47 (block 23).
      {{{47}, {16}}, absl::InvalidArgumentError("fold of client 47")},
      {{{}, {16}},
       absl::FailedPreconditionError("combine of [0, 15] with [16, 24]")},
  };
  for (int size : {1, 2, 8}) {
    ThreadPool pool(size);
    for (int64_t window : {1, 4, 0}) {
      for (size_t i = 0; i < cases.size(); ++i) {
        for (uint32_t seed : {1u, 2u, 3u}) {
          EXPECT_EQ(
              ReduceWithFailures(pool, 50, 2, window, cases[i].plan, seed),
              cases[i].expected)
              << "case " << i << " pool " << size << " window " << window
              << " seed " << seed;
        }
      }
    }
  }
}

TEST(TreeReduceErrorTest, NoBlockStartsAfterAnError) {
  ThreadPool pool(2);
  OccupiedPool occupied(pool);  // the caller runs blocks in order
  std::vector<int64_t> folded;
  TreeReduceOptions options;
  options.block_size = 4;
  options.window = 8;
  absl::StatusOr<int> got = TreeReduce(
      pool, 100, options, [] { return 0; },
      [&](int&, int64_t client) {
        folded.push_back(client);
        return client == 9 ? absl::UnavailableError("client 9")
                           : absl::OkStatus();
      },
      [](int&, int&&) {});
  EXPECT_EQ(got.status(), absl::UnavailableError("client 9"));
  ASSERT_EQ(folded.size(), 10u);  // clients 0..9, then nothing
  EXPECT_EQ(folded.back(), 9);
}

// ---------------------------------------------------------------------------
// Cancellation

TEST(TreeReduceCancellationTest, CancelledBeforehandFoldsNothing) {
  ThreadPool pool(2);
  CancellationToken cancel;
  cancel.Cancel();
  TreeReduceOptions options;
  options.cancel = &cancel;
  std::atomic<int> folds{0};
  absl::StatusOr<int> got = TreeReduce(
      pool, 1000, options, [] { return 0; },
      [&](int&, int64_t) { folds.fetch_add(1); }, [](int&, int&&) {});
  EXPECT_EQ(got.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(got.status().message(), HasSubstr("TreeReduce cancelled"));
  EXPECT_EQ(folds.load(), 0);
}

TEST(TreeReduceCancellationTest, RunningBlocksStopAndNoNewBlockStarts) {
  // The flags are looked at every 64 clients of a block: a block of 10
  // clients runs to its end, a block of 1000 stops at the next multiple of
  // 64; no block starts after the cancellation.
  for (auto [block_size, expected_folds] :
       std::vector<std::pair<int64_t, int64_t>>{{10, 240}, {1000, 256}}) {
    ThreadPool pool(2);
    OccupiedPool occupied(pool);
    CancellationToken cancel;
    TreeReduceOptions options;
    options.block_size = block_size;
    options.cancel = &cancel;
    int64_t folds = 0;
    absl::StatusOr<int> got = TreeReduce(
        pool, 5000, options, [] { return 0; },
        [&](int&, int64_t client) {
          ++folds;
          if (client == 234) cancel.Cancel();
        },
        [](int&, int&&) {});
    EXPECT_EQ(got.status().code(), absl::StatusCode::kCancelled);
    EXPECT_EQ(folds, expected_folds) << "block_size " << block_size;
  }
}

TEST(TreeReduceCancellationTest, CancellingAfterTheLastFoldIsTooLate) {
  ThreadPool pool(1);
  OccupiedPool occupied(pool);
  CancellationToken cancel;
  TreeReduceOptions options;
  options.block_size = 10;
  options.cancel = &cancel;
  absl::StatusOr<int64_t> got = TreeReduce(
      pool, 100, options, [] { return int64_t{0}; },
      [&](int64_t& acc, int64_t client) {
        acc += client;
        if (client == 99) cancel.Cancel();
      },
      [](int64_t& l, int64_t&& r) { l += r; });
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, 99 * 100 / 2);
}

TEST(TreeReduceCancellationTest, CancellationFromAnotherThread) {
  for (int size : {1, 2, 8}) {
    ThreadPool pool(size);
    CancellationToken cancel;
    TreeReduceOptions options;
    options.block_size = 1;
    options.cancel = &cancel;
    std::atomic<int64_t> folds{0};
    absl::StatusOr<int> got = TreeReduce(
        pool, 1000000, options, [] { return 0; },
        [&](int&, int64_t client) {
          folds.fetch_add(1);
          if (client == 500) cancel.Cancel();
        },
        [](int&, int&&) {});
    EXPECT_EQ(got.status().code(), absl::StatusCode::kCancelled);
    EXPECT_LT(folds.load(), 1000000);
  }
}

// ---------------------------------------------------------------------------
// Nesting: no deadlock at any pool size

TEST(TreeReduceNestingTest, ReductionsInsidePoolTasksWithNestedParallelism) {
  for (int size : {1, 2, 8}) {
    RunWithDeadline(absl::StrCat("nested TreeReduce, pool of ", size), [size] {
      ThreadPool pool(size);
      // Each client's value is itself a reduction, whose folds run a
      // ParallelFor.
      auto client_value = [&pool](int64_t client) -> int64_t {
        TreeReduceOptions inner;
        inner.block_size = 2;
        absl::StatusOr<int64_t> v = TreeReduce(
            pool, 5, inner, [] { return int64_t{0}; },
            [&](int64_t& acc, int64_t i) {
              std::atomic<int64_t> part{0};
              ParallelFor(pool, 3, 1,
                          [&](int64_t b, int64_t e) { part.fetch_add(e - b); });
              acc += part.load() * (client + i);
            },
            [](int64_t& l, int64_t&& r) { l += r; });
        return v.ok() ? *v : -1;
      };
      auto outer = [&]() -> int64_t {
        TreeReduceOptions options;
        options.block_size = 3;
        options.window = 2;
        absl::StatusOr<int64_t> v = TreeReduce(
            pool, 20, options, [] { return int64_t{0}; },
            [&](int64_t& acc, int64_t c) { acc += client_value(c); },
            [](int64_t& l, int64_t&& r) { l += r; });
        return v.ok() ? *v : -1;
      };
      // sum over c < 20, i < 5 of 3 * (c + i) = 3 * (5 * 190 + 20 * 10).
      const int64_t expected = 3 * (5 * 190 + 20 * 10);
      const int tasks = size + 1;
      std::vector<std::promise<int64_t>> results(tasks);
      for (int t = 0; t < tasks; ++t) {
        pool.Schedule([&, t] { results[t].set_value(outer()); });
      }
      EXPECT_EQ(outer(), expected);
      for (auto& r : results) EXPECT_EQ(r.get_future().get(), expected);
    });
  }
}

}  // namespace
}  // namespace fedexec
