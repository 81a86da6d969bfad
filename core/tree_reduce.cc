// Geometry of the canonical reduction tree and input validation for
// TreeReduce, ReduceBlockRange and MergeTreeNodes (core/tree_reduce.h).
#include "core/tree_reduce.h"

#include <bit>

namespace fedexec {
namespace {

std::string NodeName(TreeNodeId id, int64_t num_blocks) {
  return absl::StrCat("node (level ", id.level, ", index ", id.index,
                      ") covering blocks [", TreeNodeFirstBlock(id), ", ",
                      TreeNodeEndBlock(id, num_blocks), ")");
}

// One past the last existing block of the level-`level` node starting at
// block p (p aligned, p < num_blocks, level <= 62).
int64_t ClippedEnd(int64_t p, int level, int64_t num_blocks) {
  const int64_t span = int64_t{1} << level;
  return num_blocks - p <= span ? num_blocks : p + span;
}

}  // namespace

absl::StatusOr<int64_t> TreeNumBlocks(int64_t n, int64_t block_size) {
  if (n < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TreeReduce: the number of clients must be >= 0, got ", n));
  }
  if (block_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("TreeReduce: block_size must be >= 1, got ", block_size));
  }
  const int64_t num_blocks = n / block_size + (n % block_size != 0);
  if (num_blocks > kMaxTreeReduceBlocks) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TreeReduce: ", n, " clients in blocks of ", block_size, " make ",
        num_blocks, " blocks, more than the limit of ", kMaxTreeReduceBlocks));
  }
  return num_blocks;
}

int TreeHeight(int64_t num_blocks) {
  if (num_blocks <= 1) return 0;
  return static_cast<int>(
      std::bit_width(static_cast<uint64_t>(num_blocks - 1)));
}

int64_t TreeNodeEndBlock(TreeNodeId id, int64_t num_blocks) {
  const int64_t first = TreeNodeFirstBlock(id);
  if (first >= num_blocks) return first;
  return ClippedEnd(first, id.level, num_blocks);
}

bool TreeNodeHasRightChild(TreeNodeId id, int64_t num_blocks) {
  if (id.level < 1 || num_blocks < 1) return false;
  // (2k + 1) * 2^(L-1) < num_blocks, without overflow.
  return 2 * id.index + 1 <= ((num_blocks - 1) >> (id.level - 1));
}

absl::StatusOr<std::vector<TreeNodeId>> TileBlockRange(int64_t first,
                                                       int64_t last,
                                                       int64_t num_blocks) {
  if (num_blocks < 0 || num_blocks > kMaxTreeReduceBlocks) {
    return absl::InvalidArgumentError(
        absl::StrCat("TreeReduce: the number of blocks must be in [0, ",
                     kMaxTreeReduceBlocks, "], got ", num_blocks));
  }
  if (first < 0 || first > last || last > num_blocks) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TreeReduce: block range [", first, ", ", last, ") is not within the ",
        num_blocks, " blocks [0, ", num_blocks, ")"));
  }
  const int height = TreeHeight(num_blocks);
  std::vector<TreeNodeId> tiles;
  int64_t p = first;
  while (p < last) {
    int level = 0;
    while (level < height && (p & ((int64_t{1} << (level + 1)) - 1)) == 0 &&
           ClippedEnd(p, level + 1, num_blocks) <= last) {
      ++level;
    }
    tiles.push_back(TreeNodeId{level, p >> level});
    p = ClippedEnd(p, level, num_blocks);
  }
  return tiles;
}

absl::StatusOr<std::vector<size_t>> CheckTreeNodeCover(
    absl::Span<const TreeNodeId> ids, int64_t num_blocks) {
  if (num_blocks < 0 || num_blocks > kMaxTreeReduceBlocks) {
    return absl::InvalidArgumentError(
        absl::StrCat("MergeTreeNodes: the number of blocks must be in [0, ",
                     kMaxTreeReduceBlocks, "], got ", num_blocks));
  }
  const int height = TreeHeight(num_blocks);
  for (const TreeNodeId& id : ids) {
    if (id.level < 0 || id.level > height || id.index < 0 || num_blocks == 0 ||
        id.index > ((num_blocks - 1) >> id.level)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "MergeTreeNodes: node (level ", id.level, ", index ", id.index,
          ") does not exist in the tree over ", num_blocks,
          " blocks (levels 0..", height, ", a node must cover a block)"));
    }
  }
  std::vector<size_t> order(ids.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return TreeNodeFirstBlock(ids[a]) < TreeNodeFirstBlock(ids[b]);
  });
  int64_t covered = 0;  // blocks [0, covered) are covered
  for (size_t i = 0; i < order.size(); ++i) {
    const TreeNodeId id = ids[order[i]];
    const int64_t first = TreeNodeFirstBlock(id);
    if (first < covered) {
      return absl::InvalidArgumentError(
          absl::StrCat("MergeTreeNodes: ", NodeName(id, num_blocks),
                       " overlaps ", NodeName(ids[order[i - 1]], num_blocks)));
    }
    if (first > covered) {
      return absl::InvalidArgumentError(
          absl::StrCat("MergeTreeNodes: blocks [", covered, ", ", first,
                       ") are not covered by any node"));
    }
    covered = TreeNodeEndBlock(id, num_blocks);
  }
  if (covered < num_blocks) {
    return absl::InvalidArgumentError(
        absl::StrCat("MergeTreeNodes: blocks [", covered, ", ", num_blocks,
                     ") are not covered by any node"));
  }
  return order;
}

namespace tree_reduce_internal {

absl::StatusOr<Plan> MakePlan(const ThreadPool& pool, int64_t n,
                              const TreeReduceOptions& options,
                              int64_t first_block, int64_t last_block) {
  Plan plan;
  FEDEXEC_ASSIGN_OR_RETURN(plan.num_blocks,
                           TreeNumBlocks(n, options.block_size));
  if (options.window < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TreeReduce: window must be >= 1 (or 0 for the default), got ",
        options.window));
  }
  plan.window = options.window == 0 ? 2 * (int64_t{pool.num_threads()} + 1)
                                    : options.window;
  // More blocks than the range holds can never be in flight; clamping also
  // keeps the window's bookkeeping small whatever the caller asked for.
  plan.window =
      std::min(plan.window, std::max<int64_t>(1, last_block - first_block));
  FEDEXEC_ASSIGN_OR_RETURN(
      plan.tiles, TileBlockRange(first_block, last_block, plan.num_blocks));
  return plan;
}

}  // namespace tree_reduce_internal
}  // namespace fedexec
