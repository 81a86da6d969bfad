// Deterministic block-tree reduction over client indices: the primitive
// every fedexec aggregation (sum, mean, aggregate, ...) runs on, so that its
// result is bit-identical whatever the thread count, the order in which
// partial results arrive, or how the clients are split across workers.
//
// The canonical tree. Clients 0..n-1 are grouped in aligned blocks of
// `block_size` consecutive indices: block b = [b*B, min((b+1)*B, n)), and
// there are num_blocks = ceil(n / B) of them. Each block's partial is
// folded in client order into a fresh accumulator (MakeZero()). Blocks then
// combine along one fixed binary tree over block indices: node (level L,
// index k) covers blocks [k*2^L, (k+1)*2^L) (clipped to num_blocks); a level
// 0 node is a block's partial; a higher node's value is
// Combine(left child, right child), or just the left child's value when the
// right child covers no existing block. A node exists when it covers at
// least one block. The root is (H, 0) with H = ceil(log2(num_blocks)).
// Every operation has fixed operands, so floating-point results do not
// depend on scheduling. The block size is part of the result's definition:
// every shard of one reduction must use the same one.
//
// Shards. The canonical tiling of a block range [first, last) is the list
// of maximal nodes, at most level H, whose (clipped) blocks lie inside the
// range, left to right. ReduceBlockRange returns the values of those nodes;
// MergeTreeNodes takes the nodes of disjoint ranges that together cover all
// blocks (in any order) and returns the root, bit-identical to TreeReduce.
//
// Scheduling and memory. Blocks start in index order, on the pool's threads
// and on the calling thread. A finished block combines upward as soon as
// its sibling is ready; otherwise it waits. With U the lowest block not yet
// finished, block b may start only if b < U + window. Proven bound: inside
// TreeReduce at most window + H accumulators are alive at any time (each of
// the at most `window` blocks in [U, U + window) accounts for one, and the
// finished prefix below U holds at most one waiting node per level), plus
// one while the result is moved out. ReduceBlockRange holds in addition the
// finished nodes of its tiling (at most 2H). Accumulators are heap-held and
// never copied or moved by the reduction itself. Memory is thus
// O(accumulator x (window + log2(blocks))), independent of n.
//
// Blocking contract (as for ParallelFor in core/thread_pool.h): the caller
// runs blocks itself and waits only for blocks that other threads have
// already started; its helper tasks never wait. TreeReduce may therefore be
// called from a pool task, and MakeZero/Fold/Combine may themselves call
// ParallelFor or TreeReduce, at any pool size including 1. No lock is held
// while user code runs.
//
// Errors. Fold and Combine return absl::Status (or void: always OK). Each
// operation has a position: Fold of block b is (b, 0); the combine that
// makes node (L, k) is (last block of the node, L). The first error in that
// order wins, which (when failures depend only on the arguments) is exactly
// the error a sequential run in block order would report, whatever the
// thread count. After an error no new block
// starts, running blocks above the error's block stop, and work that cannot
// change the outcome is dropped. With options.cancel: once cancelled no new
// block starts and running blocks stop; the call returns CANCELLED unless an
// error was found first or the result was already complete. Running blocks
// look at these flags every 64 clients (a look per client would cost more
// than a cheap fold).
//
// Thread-safety: the functions are safe to call concurrently. MakeZero,
// Fold and Combine are called concurrently from several threads (on
// different accumulators); they must be safe for that.
#ifndef FEDEXEC_CORE_TREE_REDUCE_H_
#define FEDEXEC_CORE_TREE_REDUCE_H_

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "core/status.h"
#include "core/thread_pool.h"

namespace fedexec {

// A block size that suits cheap per-client folds. Callers with heavy
// per-client work pick smaller blocks (more parallelism); the value is part
// of the result's definition, so it must not depend on the machine.
inline constexpr int64_t kDefaultTreeReduceBlockSize = 16;

// The most blocks one reduction may have; keeps every node's block range
// representable in int64_t.
inline constexpr int64_t kMaxTreeReduceBlocks = int64_t{1} << 62;

struct TreeReduceOptions {
  // Clients per block, >= 1.
  int64_t block_size = kDefaultTreeReduceBlockSize;
  // Blocks in flight or waiting at most, >= 1; 0 picks
  // 2 * (pool threads + 1). Does not affect the result.
  int64_t window = 0;
  // Optional; must outlive the call.
  const CancellationToken* cancel = nullptr;
};

// A node of the canonical tree: covers blocks [index*2^level,
// (index+1)*2^level) clipped to the number of blocks.
struct TreeNodeId {
  int level = 0;
  int64_t index = 0;

  friend bool operator==(const TreeNodeId& a, const TreeNodeId& b) {
    return a.level == b.level && a.index == b.index;
  }
  friend bool operator!=(const TreeNodeId& a, const TreeNodeId& b) {
    return !(a == b);
  }
  template <typename H>
  friend H AbslHashValue(H h, const TreeNodeId& id) {
    return H::combine(std::move(h), id.level, id.index);
  }
};

// A node and its value, as produced by ReduceBlockRange.
template <typename Acc>
struct TreeNode {
  int level = 0;
  int64_t index = 0;
  Acc value;

  TreeNodeId id() const { return TreeNodeId{level, index}; }
};

// ceil(n / block_size), or INVALID_ARGUMENT when n < 0, block_size < 1 or
// there would be more than kMaxTreeReduceBlocks blocks.
absl::StatusOr<int64_t> TreeNumBlocks(int64_t n, int64_t block_size);

// ceil(log2(num_blocks)): the root's level; 0 for 0 or 1 block.
int TreeHeight(int64_t num_blocks);

// First block of a node, and one past its last existing block.
inline int64_t TreeNodeFirstBlock(TreeNodeId id) {
  return id.index << id.level;
}
int64_t TreeNodeEndBlock(TreeNodeId id, int64_t num_blocks);

// Whether node `id` (level >= 1) has a right child covering an existing
// block; if not its value is its left child's.
bool TreeNodeHasRightChild(TreeNodeId id, int64_t num_blocks);

// The canonical tiling of blocks [first, last) (see above), or
// INVALID_ARGUMENT unless 0 <= first <= last <= num_blocks.
absl::StatusOr<std::vector<TreeNodeId>> TileBlockRange(int64_t first,
                                                       int64_t last,
                                                       int64_t num_blocks);

// Checks that `ids` are existing nodes of the tree over num_blocks blocks
// that cover every block exactly once; returns their positions in `ids`
// sorted by first block. INVALID_ARGUMENT names the offending node.
absl::StatusOr<std::vector<size_t>> CheckTreeNodeCover(
    absl::Span<const TreeNodeId> ids, int64_t num_blocks);

namespace tree_reduce_internal {

// What a reduction needs beyond the callables, validated up front.
struct Plan {
  int64_t num_blocks = 0;
  int64_t window = 0;
  std::vector<TreeNodeId> tiles;
};

absl::StatusOr<Plan> MakePlan(const ThreadPool& pool, int64_t n,
                              const TreeReduceOptions& options,
                              int64_t first_block, int64_t last_block);

// Calls f(args...) and returns its status; a void f always succeeds.
template <typename F, typename... Args>
absl::Status InvokeToStatus(F& f, Args&&... args) {
  if constexpr (std::is_void_v<std::invoke_result_t<F&, Args...>>) {
    std::invoke(f, std::forward<Args>(args)...);
    return absl::OkStatus();
  } else {
    return std::invoke(f, std::forward<Args>(args)...);
  }
}

// Calls combine(left, right, left_id, right_id) when combine takes the
// nodes' ids (to name what they cover in an error), else combine(left,
// right).
template <typename C, typename Acc>
absl::Status InvokeCombine(C& combine, Acc& left, Acc&& right,
                           TreeNodeId left_id, TreeNodeId right_id) {
  if constexpr (std::is_invocable_v<C&, Acc&, Acc&&, TreeNodeId, TreeNodeId>) {
    return InvokeToStatus(combine, left, std::move(right), left_id, right_id);
  } else {
    return InvokeToStatus(combine, left, std::move(right));
  }
}

// Runs one reduction of the tiles of a plan. Shared (shared_ptr) between the
// caller and helper tasks, which may run after the call returned: helpers
// touch the callables only after claiming a block, and the caller returns
// only once no block is in flight and none can be claimed.
template <typename Acc, typename MakeZero, typename Fold, typename Combine>
class BlockReducer : public std::enable_shared_from_this<
                         BlockReducer<Acc, MakeZero, Fold, Combine>> {
 public:
  BlockReducer(ThreadPool& pool, int64_t n, int64_t block_size, Plan plan,
               int64_t first_block, int64_t last_block,
               const CancellationToken* cancel, MakeZero& make_zero, Fold& fold,
               Combine& combine)
      : pool_(pool),
        n_(n),
        block_size_(block_size),
        num_blocks_(plan.num_blocks),
        window_(plan.window),
        last_(last_block),
        tiles_(std::move(plan.tiles)),
        cancel_(cancel),
        make_zero_(make_zero),
        fold_(fold),
        combine_(combine),
        max_helpers_(std::min<int64_t>(pool.num_threads(), window_ - 1)),
        next_(first_block),
        low_(first_block),
        finished_ring_(static_cast<size_t>(window_), false),
        tile_values_(tiles_.size()) {
    tile_firsts_.reserve(tiles_.size());
    for (const TreeNodeId& t : tiles_) {
      tile_firsts_.push_back(TreeNodeFirstBlock(t));
    }
  }

  // Runs the reduction with the calling thread taking part; returns the
  // tiles' nodes in order.
  absl::StatusOr<std::vector<TreeNode<Acc>>> Run() {
    int64_t spawn = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const int64_t startable = std::min(last_, next_ + window_) - next_;
      spawn = std::clamp<int64_t>(startable - 1, 0, max_helpers_);
      helpers_ += spawn;
    }
    SpawnHelpers(spawn);
    for (;;) {
      int64_t block = -1;
      {
        std::unique_lock<std::mutex> lock(mu_);
        while (!TryClaimLocked(&block)) {
          if (in_flight_ == 0 && (stopped_ || next_ >= last_)) break;
          // Whatever we wait for is a block already started by another
          // thread: the window is full (block low_ is running) or every
          // block has been claimed.
          caller_waiting_ = true;
          cv_.wait(lock);
          caller_waiting_ = false;
        }
      }
      if (block < 0) break;
      RunBlock(block);
    }
    return Collect();
  }

 private:
  // (position, stage): see "Errors" in the file comment.
  struct ErrorKey {
    int64_t position;
    int stage;
    bool operator<(const ErrorKey& o) const {
      return position != o.position ? position < o.position : stage < o.stage;
    }
  };

  // Clients folded between two looks at the stop and cancel flags.
  static constexpr int64_t kCheckEvery = 64;

  bool CancelRequested() const {
    return cancel_ != nullptr && cancel_->IsCancelled();
  }

  bool TryClaimLocked(int64_t* block) {
    if (stopped_ || next_ >= last_) return false;
    if (CancelRequested()) {
      stopped_ = true;
      cancelled_ = true;
      return false;
    }
    if (next_ - low_ >= window_) return false;
    *block = next_++;
    ++in_flight_;
    return true;
  }

  void SpawnHelpers(int64_t count) {
    for (int64_t i = 0; i < count; ++i) {
      pool_.Schedule([self = this->shared_from_this()] { self->HelperLoop(); });
    }
  }

  void HelperLoop() {
    for (;;) {
      int64_t block = -1;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!TryClaimLocked(&block)) {
          --helpers_;
          return;
        }
      }
      RunBlock(block);
    }
  }

  void RecordErrorLocked(ErrorKey key, absl::Status status) {
    if (!has_error_ || key < error_key_) {
      has_error_ = true;
      error_key_ = key;
      error_ = std::move(status);
      stop_block_.store(key.position, std::memory_order_relaxed);
    }
    stopped_ = true;
  }

  void RunBlock(int64_t b) {
    // Direct initialisation from the prvalue: no temporary accumulator.
    std::unique_ptr<Acc> acc(new Acc(make_zero_()));
    const int64_t begin = b * block_size_;
    const int64_t end = n_ - begin <= block_size_ ? n_ : begin + block_size_;
    bool complete = true;
    bool cancelled = false;
    Acc& a = *acc;
    for (int64_t c = begin; c < end && complete;) {
      if (b > stop_block_.load(std::memory_order_relaxed)) {
        complete = false;  // a lower block failed: this one cannot matter
        break;
      }
      if (CancelRequested()) {
        complete = false;
        cancelled = true;
        break;
      }
      const int64_t stride_end = end - c <= kCheckEvery ? end : c + kCheckEvery;
      for (; c < stride_end; ++c) {
        absl::Status status = InvokeToStatus(fold_, a, c);
        if (!status.ok()) [[unlikely]] {
          std::lock_guard<std::mutex> lock(mu_);
          RecordErrorLocked(ErrorKey{b, 0}, std::move(status));
          complete = false;
          break;
        }
      }
    }
    if (complete) {
      Ascend(b, std::move(acc));
    } else {
      acc.reset();
    }
    FinishBlock(b, cancelled);
  }

  // Carries block b's partial up the tree until it must wait for a sibling
  // or reaches its tile. Combines run outside the lock.
  void Ascend(int64_t b, std::unique_ptr<Acc> acc) {
    const size_t tile = static_cast<size_t>(
        std::upper_bound(tile_firsts_.begin(), tile_firsts_.end(), b) -
        tile_firsts_.begin() - 1);
    const int tile_level = tiles_[tile].level;
    TreeNodeId node{0, b};
    while (node.level < tile_level) {
      const TreeNodeId parent{node.level + 1, node.index >> 1};
      if ((node.index & 1) == 0 &&
          !TreeNodeHasRightChild(parent, num_blocks_)) {
        node = parent;  // no right sibling: the parent's value is ours
        continue;
      }
      const ErrorKey key{TreeNodeEndBlock(parent, num_blocks_) - 1,
                         parent.level};
      std::unique_ptr<Acc> sibling;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (has_error_ && error_key_ < key) break;  // cannot matter: drop
        auto it = waiting_.find(TreeNodeId{node.level, node.index ^ 1});
        if (it == waiting_.end()) {
          waiting_.emplace(node, std::move(acc));
          return;
        }
        sibling = std::move(it->second);
        waiting_.erase(it);
      }
      absl::Status status;
      const TreeNodeId left{node.level, node.index & ~int64_t{1}};
      const TreeNodeId right{node.level, node.index | 1};
      if ((node.index & 1) == 0) {
        status =
            InvokeCombine(combine_, *acc, std::move(*sibling), left, right);
      } else {
        status =
            InvokeCombine(combine_, *sibling, std::move(*acc), left, right);
        acc = std::move(sibling);
      }
      sibling.reset();
      if (!status.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        RecordErrorLocked(key, std::move(status));
        break;
      }
      node = parent;
    }
    if (node.level == tile_level) {
      std::lock_guard<std::mutex> lock(mu_);
      tile_values_[tile] = std::move(acc);
    }
    // Otherwise acc (if any) is dropped here, outside the lock.
  }

  void FinishBlock(int64_t b, bool cancelled) {
    int64_t spawn = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      --in_flight_;
      if (cancelled) {
        cancelled_ = true;
        stopped_ = true;
      }
      finished_ring_[static_cast<size_t>(b % window_)] = true;
      bool advanced = false;
      while (low_ < next_ &&
             finished_ring_[static_cast<size_t>(low_ % window_)]) {
        finished_ring_[static_cast<size_t>(low_ % window_)] = false;
        ++low_;
        advanced = true;
      }
      if (advanced && !stopped_) {
        // This thread claims one of the newly startable blocks itself and a
        // waiting caller another; helpers take the rest.
        const int64_t startable = std::min(last_, low_ + window_) - next_;
        const int64_t wanted = startable - 1 - (caller_waiting_ ? 1 : 0);
        spawn = std::clamp<int64_t>(std::min(wanted, max_helpers_ - helpers_),
                                    0, max_helpers_);
        helpers_ += spawn;
      }
      if (caller_waiting_ && (advanced || in_flight_ == 0)) cv_.notify_one();
    }
    SpawnHelpers(spawn);
  }

  absl::StatusOr<std::vector<TreeNode<Acc>>> Collect() {
    std::unique_lock<std::mutex> lock(mu_);
    waiting_.clear();  // leftovers of an error or a cancellation
    if (has_error_) {
      tile_values_.clear();
      // Moved, not copied: the reducer may be destroyed later by a helper
      // on another thread, which must not share the status payload.
      return std::move(error_);
    }
    for (const std::unique_ptr<Acc>& v : tile_values_) {
      if (v == nullptr) {
        tile_values_.clear();
        return absl::CancelledError(
            absl::StrCat("TreeReduce cancelled before blocks [", low_, ", ",
                         last_, ") were reduced"));
      }
    }
    std::vector<TreeNode<Acc>> out;
    out.reserve(tiles_.size());
    for (size_t i = 0; i < tiles_.size(); ++i) {
      out.push_back(TreeNode<Acc>{tiles_[i].level, tiles_[i].index,
                                  std::move(*tile_values_[i])});
      tile_values_[i].reset();
    }
    return out;
  }

  ThreadPool& pool_;
  const int64_t n_;
  const int64_t block_size_;
  const int64_t num_blocks_;
  const int64_t window_;
  const int64_t last_;
  const std::vector<TreeNodeId> tiles_;
  std::vector<int64_t> tile_firsts_;
  const CancellationToken* const cancel_;
  MakeZero& make_zero_;
  Fold& fold_;
  Combine& combine_;
  const int64_t max_helpers_;

  // Lowest block with an error: blocks above it stop folding.
  std::atomic<int64_t> stop_block_{std::numeric_limits<int64_t>::max()};

  std::mutex mu_;
  std::condition_variable cv_;  // the caller waits here
  // All guarded by mu_:
  int64_t next_;           // next block to start
  int64_t low_;            // lowest block not finished (U)
  int64_t in_flight_ = 0;  // blocks started, not finished
  int64_t helpers_ = 0;    // helper tasks scheduled or running
  bool caller_waiting_ = false;
  bool stopped_ = false;  // no block starts any more
  bool cancelled_ = false;
  bool has_error_ = false;
  ErrorKey error_key_{0, 0};
  absl::Status error_;
  std::vector<bool> finished_ring_;  // finished flags of [low_, low_+window_)
  absl::flat_hash_map<TreeNodeId, std::unique_ptr<Acc>> waiting_;
  std::vector<std::unique_ptr<Acc>> tile_values_;
};

template <typename Acc, typename Combine>
absl::StatusOr<Acc> EvalMergedNode(
    TreeNodeId id, int64_t num_blocks,
    const absl::flat_hash_map<TreeNodeId, size_t>& where,
    std::vector<TreeNode<Acc>>& nodes, Combine& combine) {
  if (auto it = where.find(id); it != where.end()) {
    return std::move(nodes[it->second].value);
  }
  if (id.level == 0) {
    // CheckTreeNodeCover guarantees every block is covered.
    return absl::InternalError(
        absl::StrCat("MergeTreeNodes: block ", id.index, " not covered"));
  }
  const TreeNodeId left{id.level - 1, id.index * 2};
  if (!TreeNodeHasRightChild(id, num_blocks)) {
    return EvalMergedNode(left, num_blocks, where, nodes, combine);
  }
  FEDEXEC_ASSIGN_OR_RETURN(
      Acc left_value, EvalMergedNode(left, num_blocks, where, nodes, combine));
  const TreeNodeId right{id.level - 1, id.index * 2 + 1};
  FEDEXEC_ASSIGN_OR_RETURN(
      Acc right_value,
      EvalMergedNode(right, num_blocks, where, nodes, combine));
  FEDEXEC_RETURN_IF_ERROR(
      InvokeCombine(combine, left_value, std::move(right_value), left, right));
  return left_value;
}

}  // namespace tree_reduce_internal

// Reduces the canonical nodes tiling blocks [first_block, last_block) of a
// reduction over clients 0..n-1 and returns them left to right. An empty
// range gives no nodes. INVALID_ARGUMENT for bad options or a range outside
// [0, num_blocks].
//   make_zero() -> Acc
//   fold(Acc&, int64_t client) -> absl::Status (or void)
//   combine(Acc& left, Acc&& right) -> absl::Status (or void); the result
//     is left; right may be left in any valid state. A combine may also
//     take the two nodes' ids after them (TreeNodeId left_id, TreeNodeId
//     right_id): siblings, left_id's index even.
template <typename MakeZero, typename Fold, typename Combine,
          typename Acc = std::decay_t<std::invoke_result_t<MakeZero&>>>
absl::StatusOr<std::vector<TreeNode<Acc>>> ReduceBlockRange(
    ThreadPool& pool, int64_t n, const TreeReduceOptions& options,
    int64_t first_block, int64_t last_block, MakeZero&& make_zero, Fold&& fold,
    Combine&& combine) {
  FEDEXEC_ASSIGN_OR_RETURN(tree_reduce_internal::Plan plan,
                           tree_reduce_internal::MakePlan(
                               pool, n, options, first_block, last_block));
  if (first_block == last_block) return std::vector<TreeNode<Acc>>{};
  using Reducer =
      tree_reduce_internal::BlockReducer<Acc, std::remove_reference_t<MakeZero>,
                                         std::remove_reference_t<Fold>,
                                         std::remove_reference_t<Combine>>;
  auto reducer = std::make_shared<Reducer>(
      pool, n, options.block_size, std::move(plan), first_block, last_block,
      options.cancel, make_zero, fold, combine);
  return reducer->Run();
}

// Reduces clients 0..n-1 to the root of the canonical tree. n == 0 gives
// make_zero(). See ReduceBlockRange for the callables.
template <typename MakeZero, typename Fold, typename Combine,
          typename Acc = std::decay_t<std::invoke_result_t<MakeZero&>>>
absl::StatusOr<Acc> TreeReduce(ThreadPool& pool, int64_t n,
                               const TreeReduceOptions& options,
                               MakeZero&& make_zero, Fold&& fold,
                               Combine&& combine) {
  FEDEXEC_ASSIGN_OR_RETURN(const int64_t num_blocks,
                           TreeNumBlocks(n, options.block_size));
  if (num_blocks == 0) {
    // Still validate the other options, so bad input fails for every n.
    FEDEXEC_RETURN_IF_ERROR(
        tree_reduce_internal::MakePlan(pool, n, options, 0, 0).status());
    return make_zero();
  }
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<TreeNode<Acc>> nodes,
                           ReduceBlockRange(pool, n, options, 0, num_blocks,
                                            make_zero, fold, combine));
  // The tiling of all blocks is the root alone.
  return std::move(nodes.front().value);
}

// Merges the nodes of disjoint block ranges that together cover all
// num_blocks blocks (nodes in any order, e.g. the concatenated results of
// ReduceBlockRange on each shard) into the root, bit-identical to
// TreeReduce over the same blocks. num_blocks == 0 with no nodes gives
// make_zero(). INVALID_ARGUMENT when a node does not exist in the tree, two
// nodes overlap or a block is not covered.
template <typename Acc, typename MakeZero, typename Combine>
absl::StatusOr<Acc> MergeTreeNodes(std::vector<TreeNode<Acc>> nodes,
                                   int64_t num_blocks, MakeZero&& make_zero,
                                   Combine&& combine) {
  std::vector<TreeNodeId> ids;
  ids.reserve(nodes.size());
  for (const TreeNode<Acc>& node : nodes) ids.push_back(node.id());
  FEDEXEC_RETURN_IF_ERROR(CheckTreeNodeCover(ids, num_blocks).status());
  if (num_blocks == 0) return make_zero();
  absl::flat_hash_map<TreeNodeId, size_t> where;
  for (size_t i = 0; i < ids.size(); ++i) where.emplace(ids[i], i);
  return tree_reduce_internal::EvalMergedNode<Acc>(
      TreeNodeId{TreeHeight(num_blocks), 0}, num_blocks, where, nodes, combine);
}

// Merges the nodes of disjoint ranges that together cover blocks
// [first_block, last_block) exactly (in any order) into the canonical
// tiling of that range, left to right: what ReduceBlockRange over the whole
// range returns, bit for bit. Lets a shard made of sub-shards (nested
// composing executors) answer for its range. INVALID_ARGUMENT when a node
// does not exist, lies outside the range, overlaps another or leaves a
// block uncovered.
template <typename Acc, typename Combine>
absl::StatusOr<std::vector<TreeNode<Acc>>> MergeIntoTiling(
    std::vector<TreeNode<Acc>> nodes, int64_t first_block, int64_t last_block,
    int64_t num_blocks, Combine&& combine) {
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<TreeNodeId> tiles,
                           TileBlockRange(first_block, last_block, num_blocks));
  std::vector<std::pair<int64_t, int64_t>> spans;  // (first, end) per node
  spans.reserve(nodes.size());
  absl::flat_hash_map<TreeNodeId, size_t> where;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const TreeNodeId id = nodes[i].id();
    const int64_t first = id.level >= 0 && id.level < 63 && id.index >= 0
                              ? TreeNodeFirstBlock(id)
                              : -1;
    if (first < first_block || first >= last_block ||
        TreeNodeEndBlock(id, num_blocks) > last_block) {
      return absl::InvalidArgumentError(absl::StrCat(
          "MergeIntoTiling: node (level ", id.level, ", index ", id.index,
          ") is not inside blocks [", first_block, ", ", last_block, ")"));
    }
    spans.emplace_back(first, TreeNodeEndBlock(id, num_blocks));
    where.emplace(id, i);
  }
  std::sort(spans.begin(), spans.end());
  int64_t covered = first_block;
  for (const auto& [first, end] : spans) {
    if (first != covered) {
      return absl::InvalidArgumentError(
          absl::StrCat("MergeIntoTiling: blocks [", std::min(first, covered),
                       ", ", std::max(first, covered), ") are ",
                       first < covered ? "covered twice" : "not covered"));
    }
    covered = end;
  }
  if (covered != last_block) {
    return absl::InvalidArgumentError(absl::StrCat("MergeIntoTiling: blocks [",
                                                   covered, ", ", last_block,
                                                   ") are not covered"));
  }
  std::vector<TreeNode<Acc>> out;
  out.reserve(tiles.size());
  for (const TreeNodeId& tile : tiles) {
    FEDEXEC_ASSIGN_OR_RETURN(Acc value,
                             tree_reduce_internal::EvalMergedNode<Acc>(
                                 tile, num_blocks, where, nodes, combine));
    out.push_back(TreeNode<Acc>{tile.level, tile.index, std::move(value)});
  }
  return out;
}

}  // namespace fedexec

#endif  // FEDEXEC_CORE_TREE_REDUCE_H_
