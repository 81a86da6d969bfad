// The aggregating intrinsics of federated_aggregation.h: folds of every
// client on TreeReduce (buffered for large concrete members), and shards
// of them for Executor::PartialAggregate.
#include "executors/federated_aggregation.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "core/limits.h"
#include "core/status.h"
#include "core/tree_reduce.h"
#include "executors/federating_executor.h"

namespace fedexec::exec::federating_internal {

using ir::Intrinsic;

namespace {

// ------------------------------------------------------- aggregations

TreeReduceOptions AggregationOptions(const Core& core, int64_t total_clients) {
  TreeReduceOptions options;
  options.block_size = AggregationBlockSize(total_clients);
  options.cancel = &core.context->cancel;
  return options;
}

// Folds every client with fold_one(acc, client) and merges with
// `op`. Errors of reading a member pass unchanged; fold errors are the
// caller's to word.
template <typename FoldOne>
absl::StatusOr<Accumulator> ReduceClients(const Core& core,
                                          std::string_view intrinsic,
                                          AggregateOp op, FoldOne fold_one) {
  const CancellationToken& cancel = core.context->cancel;
  const TreeReduceOptions options = AggregationOptions(core, core.num_clients);
  absl::StatusOr<Accumulator> root = TreeReduce(
      core.context->pool, core.num_clients, options,
      [] { return Accumulator(); },
      [&](Accumulator& acc, int64_t c) -> absl::Status {
        // Per client: folds may produce lazy members, which can be slow.
        if (cancel.IsCancelled()) [[unlikely]] {
          return core.context->CheckCancelled();
        }
        return fold_one(acc, c);
      },
      [&](Accumulator& left, Accumulator&& right, TreeNodeId left_id,
          TreeNodeId right_id) -> absl::Status {
        absl::Status s = Merge(op, left, std::move(right));
        if (!s.ok()) [[unlikely]] {
          return MergeError(intrinsic, s, left_id, right_id, options.block_size,
                            core.num_clients);
        }
        return s;
      });
  if (!root.ok()) return Normalized(core, root.status());
  return root;
}

// Buffered folds for large concrete members. Fold (one client at a time)
// streams the whole accumulator through the cache for every client; with
// members of megabytes that triples the memory traffic. Instead a block's
// fold only records its clients' member pointers (the members live in the
// input value, which outlives the reduction) and the block's last client
// folds them all with FoldBlock, tile by tile. The result bits, counts and
// errors are those of folding client by client (FoldBlock's contract), and
// every block still folds within its own Fold calls, so TreeReduce sees
// errors at the same positions. Lazy members are never buffered: holding a
// block of produced members would break the memory bound.
struct BufferedAcc {
  Accumulator acc;
  absl::InlinedVector<const Value*, kMaxAggregationBlockSize> pending;
  absl::InlinedVector<double, kMaxAggregationBlockSize> weights;
  absl::InlinedVector<int64_t, kMaxAggregationBlockSize> clients;
};

// Whether members like client 0's are large enough for buffered folds: at
// least one FoldBlock tile of tensor data (smaller ones fold as fast one by
// one). Only a choice of speed: both ways give the same outcome.
bool WorthBuffering(const Clients& values, int64_t num_clients) {
  if (values.lazy() || num_clients < 2) return false;
  int64_t bytes = 0;
  std::vector<std::pair<const Value*, int>> stack = {{values.Concrete(0), 0}};
  while (!stack.empty() && bytes < kFoldBlockTileBytes) {
    auto [v, depth] = stack.back();
    stack.pop_back();
    if (v->is_tensor()) {
      bytes += static_cast<int64_t>(v->tensor().byte_size());
    } else if (v->is_struct() && depth < kMaxNestingDepth) {
      for (const auto& e : v->struct_value().elements) {
        stack.emplace_back(e.value.get(), depth + 1);
      }
    }
  }
  return bytes >= kFoldBlockTileBytes;
}

// Folds the pending clients of b into b.acc.
absl::Status Flush(std::string_view intrinsic, AggregateOp op, BufferedAcc& b) {
  if (b.pending.empty()) return absl::OkStatus();
  int64_t failed = -1;
  absl::Status s = FoldBlock(op, b.acc, b.pending,
                             op == AggregateOp::kWeightedSum
                                 ? absl::Span<const double>(b.weights)
                                 : absl::Span<const double>(),
                             &failed);
  const int64_t client =
      failed >= 0 ? b.clients[static_cast<size_t>(failed)] : -1;
  b.pending.clear();
  b.weights.clear();
  b.clients.clear();
  if (!s.ok()) [[unlikely]] {
    return client >= 0 ? ClientError(intrinsic, client, s)
                       : Located(intrinsic, "", s);
  }
  return s;
}

// ReduceClients for concrete `values` (and weights for kWeightedSum, any
// form), through buffered folds.
absl::StatusOr<Accumulator> ReduceBuffered(const Core& core,
                                           std::string_view intrinsic,
                                           AggregateOp op,
                                           const Clients& values,
                                           const Clients* weights) {
  const CancellationToken& cancel = core.context->cancel;
  const int64_t n = core.num_clients;
  const TreeReduceOptions options = AggregationOptions(core, n);
  const int64_t block = options.block_size;
  absl::StatusOr<BufferedAcc> root = TreeReduce(
      core.context->pool, n, options, [] { return BufferedAcc(); },
      [&](BufferedAcc& b, int64_t c) -> absl::Status {
        if (cancel.IsCancelled()) [[unlikely]] {
          return core.context->CheckCancelled();
        }
        double weight = 1.0;
        if (weights != nullptr) {
          // As in the unbuffered fold: a bad weight names the client, an
          // error reading a lazy weight passes unchanged.
          absl::Status s = weights->With(c, [&](const Value& w) {
            absl::StatusOr<double> got = WeightOf(w);
            if (!got.ok()) [[unlikely]] {
              return ClientError(intrinsic, c, got.status());
            }
            weight = *got;
            return absl::OkStatus();
          });
          if (!s.ok()) [[unlikely]] {
            // The clients before c come first.
            FEDEXEC_RETURN_IF_ERROR(Flush(intrinsic, op, b));
            return s;
          }
        }
        b.pending.push_back(values.Concrete(c));
        b.weights.push_back(weight);
        b.clients.push_back(c);
        if ((c + 1) % block == 0 || c + 1 == n ||
            static_cast<int64_t>(b.pending.size()) >= block) {
          return Flush(intrinsic, op, b);
        }
        return absl::OkStatus();
      },
      [&](BufferedAcc& left, BufferedAcc&& right, TreeNodeId left_id,
          TreeNodeId right_id) -> absl::Status {
        // Blocks flush at their last client; these are no-ops then.
        FEDEXEC_RETURN_IF_ERROR(Flush(intrinsic, op, left));
        FEDEXEC_RETURN_IF_ERROR(Flush(intrinsic, op, right));
        absl::Status s = Merge(op, left.acc, std::move(right.acc));
        if (!s.ok()) [[unlikely]] {
          return MergeError(intrinsic, s, left_id, right_id, block, n);
        }
        return s;
      });
  if (!root.ok()) return Normalized(core, root.status());
  absl::Status s = Flush(intrinsic, op, *root);
  if (!s.ok()) return Normalized(core, s);
  return std::move(root->acc);
}

absl::StatusOr<Value> ZeroResult(std::string_view intrinsic,
                                 const ir::Type& result_type) {
  const ir::Type& member = result_type.kind() == ir::TypeKind::kFederated
                               ? result_type.member()
                               : result_type;
  absl::StatusOr<Value> zero = ZeroOf(member);
  if (!zero.ok()) {
    return Located(intrinsic, "over zero clients", zero.status());
  }
  return AtServer(*std::move(zero));
}

absl::Status NoClients(std::string_view intrinsic) {
  return absl::InvalidArgumentError(
      absl::StrCat(AV(intrinsic), " over zero clients has no result"));
}

}  // namespace

// sum, mean, min, max.
absl::StatusOr<Value> PlainAggregate(const Core& core,
                                     std::string_view intrinsic, Intrinsic op,
                                     const ir::Type& result_type,
                                     const Value& argument) {
  FEDEXEC_ASSIGN_OR_RETURN(
      Clients in, Clients::Of(intrinsic, -1, argument, core.num_clients));
  const AggregateOp agg = op == Intrinsic::kFederatedMin   ? AggregateOp::kMin
                          : op == Intrinsic::kFederatedMax ? AggregateOp::kMax
                                                           : AggregateOp::kSum;
  if (core.num_clients == 0) {
    if (op == Intrinsic::kFederatedSum)
      return ZeroResult(intrinsic, result_type);
    return NoClients(intrinsic);
  }
  absl::StatusOr<Accumulator> reduced =
      WorthBuffering(in, core.num_clients)
          ? ReduceBuffered(core, intrinsic, agg, in, nullptr)
          : ReduceClients(core, intrinsic, agg,
                          [&](Accumulator& acc, int64_t c) -> absl::Status {
                            return in.With(
                                c, [&](const Value& x) -> absl::Status {
                                  absl::Status s = Fold(agg, acc, x);
                                  if (!s.ok()) [[unlikely]] {
                                    return ClientError(intrinsic, c, s);
                                  }
                                  return s;
                                });
                          });
  FEDEXEC_ASSIGN_OR_RETURN(Accumulator root, std::move(reduced));
  absl::StatusOr<Value> result = op == Intrinsic::kFederatedMean
                                     ? FinishMean(std::move(root), false)
                                     : Finish(std::move(root));
  if (!result.ok()) return Located(intrinsic, "", result.status());
  return AtServer(*std::move(result));
}

absl::StatusOr<Value> WeightedMean(const Core& core, std::string_view intrinsic,
                                   const Value& argument) {
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<const Value*> args,
                           Unpack(intrinsic, argument, 2));
  FEDEXEC_ASSIGN_OR_RETURN(
      Clients values, Clients::Of(intrinsic, 0, *args[0], core.num_clients));
  FEDEXEC_ASSIGN_OR_RETURN(
      Clients weights, Clients::Of(intrinsic, 1, *args[1], core.num_clients));
  if (core.num_clients == 0) return NoClients(intrinsic);
  if (WorthBuffering(values, core.num_clients)) {
    FEDEXEC_ASSIGN_OR_RETURN(
        Accumulator root,
        ReduceBuffered(core, intrinsic, AggregateOp::kWeightedSum, values,
                       &weights));
    absl::StatusOr<Value> result = FinishMean(std::move(root), true);
    if (!result.ok()) return Located(intrinsic, "", result.status());
    return AtServer(*std::move(result));
  }
  FEDEXEC_ASSIGN_OR_RETURN(
      Accumulator root,
      ReduceClients(
          core, intrinsic, AggregateOp::kWeightedSum,
          [&](Accumulator& acc, int64_t c) -> absl::Status {
            return weights.With(c, [&](const Value& w) -> absl::Status {
              absl::StatusOr<double> weight = WeightOf(w);
              if (!weight.ok()) [[unlikely]] {
                return ClientError(intrinsic, c, weight.status());
              }
              return values.With(c, [&](const Value& x) -> absl::Status {
                absl::Status s =
                    Fold(AggregateOp::kWeightedSum, acc, x, *weight);
                if (!s.ok()) [[unlikely]] {
                  return ClientError(intrinsic, c, s);
                }
                return s;
              });
            });
          }));
  absl::StatusOr<Value> result = FinishMean(std::move(root), true);
  if (!result.ok()) return Located(intrinsic, "", result.status());
  return AtServer(*std::move(result));
}
namespace {

// The checked bound of a secure op (kSecureSum, kSecureSumBitwidth or
// kSecureModularSum).
absl::StatusOr<SecureBound> MakeBound(AggregateOp op, const Value& bound) {
  switch (op) {
    case AggregateOp::kSecureSumBitwidth:
      return SecureBound::ForBitwidth(bound);
    case AggregateOp::kSecureModularSum:
      return SecureBound::ForModularSum(bound);
    default:
      return SecureBound::ForSecureSum(bound);
  }
}

}  // namespace

// federated_secure_sum, _sum_bitwidth and _modular_sum, by `op`.
absl::StatusOr<Value> SecureSum(const Core& core, std::string_view intrinsic,
                                AggregateOp op, const ir::Type& result_type,
                                const Value& argument) {
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<const Value*> args,
                           Unpack(intrinsic, argument, 2));
  FEDEXEC_ASSIGN_OR_RETURN(
      Clients values, Clients::Of(intrinsic, 0, *args[0], core.num_clients));
  FEDEXEC_ASSIGN_OR_RETURN(Value bound_value,
                           UnplacedOrServer(intrinsic, 1, *args[1]));
  absl::StatusOr<SecureBound> bound = MakeBound(op, bound_value);
  if (!bound.ok()) return Located(intrinsic, "", bound.status());
  if (core.num_clients == 0) return ZeroResult(intrinsic, result_type);
  const SecureBound& b = *bound;
  FEDEXEC_ASSIGN_OR_RETURN(
      Accumulator root,
      ReduceClients(core, intrinsic, op,
                    [&](Accumulator& acc, int64_t c) -> absl::Status {
                      return values.With(c, [&](const Value& x) {
                        absl::Status s = FoldWithBound(acc, x, b);
                        if (!s.ok()) [[unlikely]] {
                          return ClientError(intrinsic, c, s);
                        }
                        return s;
                      });
                    }));
  absl::StatusOr<Value> result = Finish(std::move(root));
  if (!result.ok()) return Located(intrinsic, "", result.status());
  return AtServer(*std::move(result));
}

// federated_aggregate: the accumulator is a value of type U.
absl::StatusOr<Value> Aggregate(const Core& core, std::string_view intrinsic,
                                const Value& argument) {
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<const Value*> args,
                           Unpack(intrinsic, argument, 5));
  FEDEXEC_ASSIGN_OR_RETURN(
      Clients values, Clients::Of(intrinsic, 0, *args[0], core.num_clients));
  const Value& zero = *args[1];
  const Value& accumulate = *args[2];
  const Value& merge = *args[3];
  const Value& report = *args[4];
  FEDEXEC_RETURN_IF_ERROR(CheckFunction(intrinsic, 2, accumulate, true));
  FEDEXEC_RETURN_IF_ERROR(CheckFunction(intrinsic, 3, merge, true));
  FEDEXEC_RETURN_IF_ERROR(CheckFunction(intrinsic, 4, report, true));
  const auto accumulate_names = PairNames(accumulate);
  const auto merge_names = PairNames(merge);
  absl::StatusOr<Value> root = TreeReduce(
      core.context->pool, core.num_clients,
      AggregationOptions(core, core.num_clients), [&] { return zero; },
      [&](Value& acc, int64_t c) -> absl::Status {
        if (core.context->cancel.IsCancelled()) [[unlikely]] {
          return core.context->CheckCancelled();
        }
        return values.With(c, [&](const Value& x) -> absl::Status {
          Value pair = Pair(accumulate_names, std::move(acc), x);
          absl::StatusOr<Value> next = CallFunction(accumulate, &pair);
          if (!next.ok()) [[unlikely]] {
            return ClientFunctionError(intrinsic, c, accumulate, next.status());
          }
          acc = *std::move(next);
          return absl::OkStatus();
        });
      },
      [&](Value& left, Value&& right) -> absl::Status {
        Value pair = Pair(merge_names, std::move(left), std::move(right));
        absl::StatusOr<Value> merged = CallFunction(merge, &pair);
        if (!merged.ok()) [[unlikely]] {
          return FunctionError(intrinsic, "merge", merge, merged.status());
        }
        left = *std::move(merged);
        return absl::OkStatus();
      });
  if (!root.ok()) return Normalized(core, root.status());
  absl::StatusOr<Value> result = CallFunction(report, &*root);
  if (!result.ok()) {
    return FunctionError(intrinsic, "report", report, result.status());
  }
  return AtServer(*std::move(result));
}

// ----------------------------------------------- shards of aggregations

namespace {

// The intrinsic whose shard an op of Executor::PartialAggregate computes,
// for messages (kSum: federated_sum, also for a shard of federated_mean).
Intrinsic ShardIntrinsic(PartialAggregateOp op) {
  switch (op) {
    case PartialAggregateOp::kSum:
      return Intrinsic::kFederatedSum;
    case PartialAggregateOp::kMin:
      return Intrinsic::kFederatedMin;
    case PartialAggregateOp::kMax:
      return Intrinsic::kFederatedMax;
    case PartialAggregateOp::kWeightedSum:
      return Intrinsic::kFederatedWeightedMean;
    case PartialAggregateOp::kSecureSum:
      return Intrinsic::kFederatedSecureSum;
    case PartialAggregateOp::kSecureSumBitwidth:
      return Intrinsic::kFederatedSecureSumBitwidth;
    case PartialAggregateOp::kSecureModularSum:
      return Intrinsic::kFederatedSecureModularSum;
    case PartialAggregateOp::kAggregate:
      return Intrinsic::kFederatedAggregate;
  }
  return Intrinsic::kFederatedAggregate;
}

absl::Status CheckShardSpec(const PartialAggregateSpec& spec,
                            int64_t num_clients) {
  const std::string head =
      absl::StrCat("partial aggregate over clients [", spec.first_client, ", ",
                   spec.first_client + num_clients, ")");
  if (spec.first_client < 0 ||
      spec.total_clients < spec.first_client + num_clients ||
      spec.total_clients > (int64_t{1} << 62)) {
    return absl::InvalidArgumentError(
        absl::StrCat(head, ": the total of ", spec.total_clients,
                     " clients does not cover this shard"));
  }
  const int64_t block = AggregationBlockSize(spec.total_clients);
  if (spec.block_size != block) {
    return absl::InvalidArgumentError(
        absl::StrCat(head, ": block size ", spec.block_size, " must be ", block,
                     " for ", spec.total_clients, " clients"));
  }
  if (spec.first_client % spec.block_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        head, ": the first client must be a multiple of the block size"));
  }
  if (spec.first_client + num_clients < spec.total_clients &&
      num_clients % spec.block_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        head, ": a shard that is not the last must hold whole blocks"));
  }
  return absl::OkStatus();
}

// The tiling nodes of a shard: blocks [first_block, last_block) of the
// tree over all clients; fold(acc, global client) folds one client.
template <typename Acc, typename MakeZero, typename FoldOne, typename Combine>
absl::StatusOr<std::vector<TreeNode<Acc>>> ReduceShard(
    const Core& core, const PartialAggregateSpec& spec, MakeZero make_zero,
    FoldOne fold_one, Combine combine) {
  const int64_t b = spec.block_size;
  const int64_t first_block = spec.first_client / b;
  const int64_t last_block = (spec.first_client + core.num_clients + b - 1) / b;
  TreeReduceOptions options = AggregationOptions(core, spec.total_clients);
  const CancellationToken& cancel = core.context->cancel;
  absl::StatusOr<std::vector<TreeNode<Acc>>> nodes = ReduceBlockRange(
      core.context->pool, spec.total_clients, options, first_block, last_block,
      make_zero,
      [&](Acc& acc, int64_t c) -> absl::Status {
        if (cancel.IsCancelled()) [[unlikely]] {
          return core.context->CheckCancelled();
        }
        return fold_one(acc, c);
      },
      combine);
  if (!nodes.ok()) return Normalized(core, nodes.status());
  return nodes;
}

absl::StatusOr<std::vector<PartialNode>> ExportNodes(
    std::string_view intrinsic, std::vector<TreeNode<Accumulator>> nodes) {
  std::vector<PartialNode> out;
  out.reserve(nodes.size());
  for (TreeNode<Accumulator>& node : nodes) {
    PartialNode p;
    p.level = node.level;
    p.index = node.index;
    absl::StatusOr<ExportedPartial> e = ExportPartial(std::move(node.value));
    if (!e.ok()) return Located(intrinsic, "", e.status());
    p.count = e->count;
    p.total_weight = e->total_weight;
    p.value = std::move(e->value);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<PartialNode>> AggregateShardImpl(
    const Core& core, const PartialAggregateSpec& spec, const Value& value,
    const Value* operand, const Value* function, const Value* merge) {
  const std::string intrinsic(ir::IntrinsicUri(ShardIntrinsic(spec.op)));
  FEDEXEC_RETURN_IF_ERROR(CheckShardSpec(spec, core.num_clients));
  FEDEXEC_ASSIGN_OR_RETURN(Clients in,
                           Clients::Of(intrinsic, 0, value, core.num_clients));
  const int64_t first = spec.first_client;
  auto missing = [&](std::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(intrinsic, ": partial aggregate needs ", AV(what)));
  };
  if (spec.op == PartialAggregateOp::kAggregate) {
    if (operand == nullptr || function == nullptr || merge == nullptr) {
      return missing("the zero, accumulate and merge");
    }
    FEDEXEC_RETURN_IF_ERROR(CheckFunction(intrinsic, 2, *function, true));
    FEDEXEC_RETURN_IF_ERROR(CheckFunction(intrinsic, 3, *merge, true));
    const auto accumulate_names = PairNames(*function);
    const auto merge_names = PairNames(*merge);
    FEDEXEC_ASSIGN_OR_RETURN(
        std::vector<TreeNode<Value>> nodes,
        (ReduceShard<Value>(
            core, spec, [&] { return *operand; },
            [&](Value& acc, int64_t c) -> absl::Status {
              return in.With(c - first, [&](const Value& x) -> absl::Status {
                Value pair = Pair(accumulate_names, std::move(acc), x);
                absl::StatusOr<Value> next = CallFunction(*function, &pair);
                if (!next.ok()) [[unlikely]] {
                  return ClientFunctionError(intrinsic, c, *function,
                                             next.status());
                }
                acc = *std::move(next);
                return absl::OkStatus();
              });
            },
            [&](Value& left, Value&& right) -> absl::Status {
              Value pair = Pair(merge_names, std::move(left), std::move(right));
              absl::StatusOr<Value> merged = CallFunction(*merge, &pair);
              if (!merged.ok()) [[unlikely]] {
                return FunctionError(intrinsic, "merge", *merge,
                                     merged.status());
              }
              left = *std::move(merged);
              return absl::OkStatus();
            })));
    std::vector<PartialNode> out;
    out.reserve(nodes.size());
    for (TreeNode<Value>& node : nodes) {
      PartialNode p;
      p.level = node.level;
      p.index = node.index;
      const int64_t b = spec.block_size;
      const int64_t begin = std::max(first, TreeNodeFirstBlock(node.id()) * b);
      const int64_t end = std::min(
          first + core.num_clients,
          TreeNodeEndBlock(node.id(), (spec.total_clients + b - 1) / b) * b);
      p.count = end - begin;
      p.total_weight = static_cast<double>(p.count);
      p.value = std::move(node.value);
      out.push_back(std::move(p));
    }
    return out;
  }
  AggregateOp op = AggregateOp::kSum;
  std::optional<SecureBound> bound;
  std::optional<Clients> weights;
  switch (spec.op) {
    case PartialAggregateOp::kSum:
    case PartialAggregateOp::kAggregate:  // handled above
      break;
    case PartialAggregateOp::kMin:
      op = AggregateOp::kMin;
      break;
    case PartialAggregateOp::kMax:
      op = AggregateOp::kMax;
      break;
    case PartialAggregateOp::kWeightedSum: {
      op = AggregateOp::kWeightedSum;
      if (operand == nullptr) return missing("the weights");
      FEDEXEC_ASSIGN_OR_RETURN(
          weights, Clients::Of(intrinsic, 1, *operand, core.num_clients));
      break;
    }
    case PartialAggregateOp::kSecureSum:
    case PartialAggregateOp::kSecureSumBitwidth:
    case PartialAggregateOp::kSecureModularSum: {
      op = spec.op == PartialAggregateOp::kSecureSum ? AggregateOp::kSecureSum
           : spec.op == PartialAggregateOp::kSecureSumBitwidth
               ? AggregateOp::kSecureSumBitwidth
               : AggregateOp::kSecureModularSum;
      if (operand == nullptr) return missing("the bound");
      FEDEXEC_ASSIGN_OR_RETURN(Value bound_value,
                               UnplacedOrServer(intrinsic, 1, *operand));
      absl::StatusOr<SecureBound> b = MakeBound(op, bound_value);
      if (!b.ok()) return Located(intrinsic, "", b.status());
      bound = *std::move(b);
      break;
    }
  }
  FEDEXEC_ASSIGN_OR_RETURN(
      std::vector<TreeNode<Accumulator>> nodes,
      (ReduceShard<Accumulator>(
          core, spec, [] { return Accumulator(); },
          [&](Accumulator& acc, int64_t c) -> absl::Status {
            const int64_t local = c - first;
            double weight = 1.0;
            if (weights.has_value()) {
              absl::Status s = weights->With(local, [&](const Value& w) {
                absl::StatusOr<double> got = WeightOf(w);
                if (!got.ok()) [[unlikely]] {
                  return ClientError(intrinsic, c, got.status());
                }
                weight = *got;
                return absl::OkStatus();
              });
              if (!s.ok()) [[unlikely]]
                return s;
            }
            return in.With(local, [&](const Value& x) -> absl::Status {
              absl::Status s;
              if (bound.has_value()) {
                s = FoldWithBound(acc, x, *bound);
              } else {
                s = Fold(op, acc, x, weight);
              }
              if (!s.ok()) [[unlikely]]
                return ClientError(intrinsic, c, s);
              return s;
            });
          },
          [&](Accumulator& left, Accumulator&& right, TreeNodeId left_id,
              TreeNodeId right_id) -> absl::Status {
            absl::Status s = Merge(op, left, std::move(right));
            if (!s.ok()) [[unlikely]] {
              return MergeError(intrinsic, s, left_id, right_id,
                                spec.block_size, spec.total_clients);
            }
            return s;
          })));
  return ExportNodes(intrinsic, std::move(nodes));
}

}  // namespace fedexec::exec::federating_internal
