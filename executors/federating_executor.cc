// FederatingExecutor: intrinsic function values and their implementations.
//
// Layout of this file: the shared core and small helpers (argument
// unpacking, reading members, error messages), then per-client results
// (eager in parallel chunks, or lazy), aggregations on TreeReduce, and
// finally one function per intrinsic, dispatched by IntrinsicFunction.
#include "executors/federating_executor.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/limits.h"
#include "core/status.h"
#include "core/tree_reduce.h"
#include "core/value_description.h"
#include "executors/aggregators.h"
#include "ir/intrinsics.h"
#include "runtimes/native/kernels.h"

namespace fedexec::exec {

int64_t AggregationBlockSize(int64_t num_clients) {
  int64_t block = 1;
  while (block < kMaxAggregationBlockSize && block * 64 < num_clients) {
    block *= 2;
  }
  return block;
}
namespace federating_internal {

// What intrinsic functions and lazy values need of the executor: never the
// executor itself.
struct Core {
  std::shared_ptr<ExecutionContext> context;
  int64_t num_clients = 0;
};

}  // namespace federating_internal

namespace {

using federating_internal::Core;
using CorePtr = std::shared_ptr<const Core>;

using ir::Intrinsic;

// ------------------------------------------------------------- messages

// absl::StrCat takes absl::string_view, which this Abseil keeps distinct
// from std::string_view.
absl::string_view AV(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

std::string_view Uri(Intrinsic intrinsic) {
  absl::string_view uri = ir::IntrinsicUri(intrinsic);
  return std::string_view(uri.data(), uri.size());
}

std::string Describe(const Value& value) {
  return DescribeValue(value);
}

std::string DescribeFunction(const Value& fn) {
  if (fn.is_function() && fn.function() != nullptr) {
    return fn.function()->Describe();
  }
  return Describe(fn);
}

absl::Status Expects(std::string_view intrinsic, std::string_view what,
                     const Value& got) {
  return absl::InvalidArgumentError(absl::StrCat(
      AV(intrinsic), " expects ", AV(what), ", got ", Describe(got)));
}

// "<intrinsic>: <where>: <message>", for an error that does not say where
// it arose yet; cancellation and located errors pass unchanged. When the
// message already starts with "<intrinsic>: " (the secure aggregators'
// do), it is not repeated.
absl::Status Located(std::string_view intrinsic, std::string_view where,
                     const absl::Status& status) {
  if (status.ok() || HasLocation(status) ||
      status.code() == absl::StatusCode::kCancelled) {
    return CopyStatus(status);
  }
  absl::string_view message = status.message();
  const std::string head = absl::StrCat(AV(intrinsic), ": ");
  if (absl::StartsWith(message, head)) message.remove_prefix(head.size());
  std::string text = head;
  if (!where.empty()) absl::StrAppend(&text, AV(where), ": ");
  absl::StrAppend(&text, message);
  return absl::Status(status.code(), text);
}

// The error of merging two sibling nodes of an aggregation over
// `num_clients` clients in blocks of `block`: what disagrees lies in one of
// the two runs of clients, named ("clients [0, 16) and [16, 20)").
absl::Status MergeError(std::string_view intrinsic, const absl::Status& status,
                        TreeNodeId left, TreeNodeId right, int64_t block,
                        int64_t num_clients) {
  const int64_t num_blocks = (num_clients + block - 1) / block;
  const auto first = [&](TreeNodeId id) {
    return std::min(num_clients, TreeNodeFirstBlock(id) * block);
  };
  const int64_t end = std::min(num_clients,
                               TreeNodeEndBlock(right, num_blocks) * block);
  return Located(intrinsic,
                 absl::StrCat("clients [", first(left), ", ", first(right),
                              ") and [", first(right), ", ", end, ")"),
                 status);
}

absl::Status ClientError(std::string_view intrinsic, int64_t client,
                         const absl::Status& status) {
  if (status.ok() || HasLocation(status) ||
      status.code() == absl::StatusCode::kCancelled) {
    return CopyStatus(status);
  }
  return Located(intrinsic, absl::StrCat("client ", client), status);
}

absl::Status ClientFunctionError(std::string_view intrinsic, int64_t client,
                                 const Value& fn, const absl::Status& status) {
  if (status.ok() || HasLocation(status) ||
      status.code() == absl::StatusCode::kCancelled) {
    return CopyStatus(status);
  }
  return Located(intrinsic,
                 absl::StrCat("client ", client, ": ", DescribeFunction(fn)),
                 status);
}

absl::Status FunctionError(std::string_view intrinsic, std::string_view role,
                           const Value& fn, const absl::Status& status) {
  if (status.ok() || HasLocation(status) ||
      status.code() == absl::StatusCode::kCancelled) {
    return CopyStatus(status);
  }
  std::string where = role.empty()
                          ? DescribeFunction(fn)
                          : absl::StrCat(AV(role), ": ", DescribeFunction(fn));
  return Located(intrinsic, where, status);
}

// ------------------------------------------------------------ arguments

// The elements of a struct argument of exactly `arity` elements.
absl::StatusOr<std::vector<const Value*>> Unpack(std::string_view intrinsic,
                                                 const Value& argument,
                                                 size_t arity) {
  if (!argument.is_struct() ||
      argument.struct_value().elements.size() != arity) {
    return Expects(intrinsic, absl::StrCat("a struct of ", arity, " arguments"),
                   argument);
  }
  std::vector<const Value*> out;
  out.reserve(arity);
  for (const auto& e : argument.struct_value().elements) {
    out.push_back(e.value.get());
  }
  return out;
}

std::string Ordinal(int index) {
  return index < 0 ? "the argument" : absl::StrCat("argument ", index + 1);
}

// Checks that `fn` is a function value taking a parameter iff
// `with_parameter`.
absl::Status CheckFunction(std::string_view intrinsic, int index,
                           const Value& fn, bool with_parameter) {
  absl::StatusOr<const Function*> f = AsFunction(fn);
  if (!f.ok() || (*f)->has_parameter() != with_parameter) {
    return Expects(
        intrinsic,
        absl::StrCat(Ordinal(index), " to be a function ",
                     with_parameter ? "with" : "without", " a parameter"),
        fn);
  }
  return absl::OkStatus();
}

// The names the parameter of a function of two arguments gives them, so
// that an argument struct built here matches the declared parameter type.
std::pair<std::string, std::string> PairNames(const Value& fn) {
  absl::StatusOr<const Function*> f = AsFunction(fn);
  if (f.ok() && (*f)->type().parameter() != nullptr) {
    const ir::Type& p = *(*f)->type().parameter();
    if (p.kind() == ir::TypeKind::kStruct && p.elements().size() == 2) {
      return {p.elements()[0].name, p.elements()[1].name};
    }
  }
  return {};
}

Value Pair(const std::pair<std::string, std::string>& names, Value a, Value b) {
  std::vector<std::pair<std::string, Value>> elements;
  elements.reserve(2);
  elements.emplace_back(names.first, std::move(a));
  elements.emplace_back(names.second, std::move(b));
  return Value::Struct(std::move(elements));
}

// The one member of a SERVER value.
absl::StatusOr<Value> ServerMember(std::string_view intrinsic, int index,
                                   const Value& value) {
  if (!value.is_federated() ||
      value.federated().placement != Placement::kServer ||
      value.federated().size() != 1) {
    return Expects(intrinsic, absl::StrCat(Ordinal(index), " at SERVER"),
                   value);
  }
  return value.federated().Member(0);
}

// A value that may be given unplaced or at SERVER (bounds of secure sums).
absl::StatusOr<Value> UnplacedOrServer(std::string_view intrinsic, int index,
                                       const Value& value) {
  if (!value.is_federated()) return value;
  return ServerMember(intrinsic, index, value);
}

bool ContainsFederated(const Value& value, int depth = 0) {
  if (value.is_federated()) return true;
  if (!value.is_struct() || depth > kMaxNestingDepth) return false;
  for (const auto& e : value.struct_value().elements) {
    if (ContainsFederated(*e.value, depth + 1)) return true;
  }
  return false;
}

// A CLIENTS value as a function of the client index: all-equal (one member
// read for every client), per-client concrete, or lazy.
class Clients {
 public:
  static absl::StatusOr<Clients> Of(std::string_view intrinsic, int index,
                                    const Value& value, int64_t num_clients) {
    if (!value.is_federated() ||
        value.federated().placement != Placement::kClients) {
      return Expects(intrinsic, absl::StrCat(Ordinal(index), " at CLIENTS"),
                     value);
    }
    const FederatedValue& f = value.federated();
    const int64_t size = f.size();
    if (f.all_equal) {
      if (size != 1 || f.lazy != nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(AV(intrinsic), ": ", Ordinal(index),
                         " is an all-equal CLIENTS value with ", size,
                         " members; it must have exactly 1"));
      }
    } else if (size != num_clients) {
      return absl::InvalidArgumentError(absl::StrCat(
          AV(intrinsic), ": ", Ordinal(index), " is a CLIENTS value with ",
          size, " members, but this stack has ", num_clients, " clients"));
    }
    return Clients(value);
  }

  bool all_equal() const { return f_->all_equal; }
  bool lazy() const { return f_->lazy != nullptr; }
  const Value& value() const { return value_; }
  // REQUIRES: all_equal().
  const Value& single() const { return f_->members[0]; }

  // Member of client i (a copy of a handle; lazy members are produced).
  absl::StatusOr<Value> Member(int64_t i) const {
    if (f_->lazy != nullptr) return f_->lazy->Get(i);
    return f_->members[f_->all_equal ? 0 : static_cast<size_t>(i)];
  }

  // The member of client i, in place. REQUIRES: !lazy().
  const Value* Concrete(int64_t i) const {
    return &f_->members[f_->all_equal ? 0 : static_cast<size_t>(i)];
  }

  // Calls fn(member of client i) without copying concrete members.
  template <typename F>
  absl::Status With(int64_t i, F&& fn) const {
    if (f_->lazy != nullptr) {
      absl::StatusOr<Value> m = f_->lazy->Get(i);
      if (!m.ok()) return std::move(m).status();
      return fn(*m);
    }
    return fn(f_->members[f_->all_equal ? 0 : static_cast<size_t>(i)]);
  }

 private:
  explicit Clients(Value value)
      : value_(std::move(value)), f_(&value_.federated()) {}

  Value value_;
  // Points into the shared contents of value_, which never move.
  const FederatedValue* f_;
};

Value AtServer(Value v) {
  std::vector<Value> members;
  members.push_back(std::move(v));
  return Value::Federated(Placement::kServer, true, std::move(members));
}

Value AllEqualAtClients(Value v) {
  std::vector<Value> members;
  members.push_back(std::move(v));
  return Value::Federated(Placement::kClients, true, std::move(members));
}

// ------------------------------------------------- per-client results

// Members produced on demand by a function of the client index.
class LazyByIndex : public LazyMembers {
 public:
  using Fn = std::function<absl::StatusOr<Value>(int64_t)>;
  LazyByIndex(int64_t size, Fn fn) : size_(size), fn_(std::move(fn)) {}
  int64_t size() const override { return size_; }
  absl::StatusOr<Value> Get(int64_t i) const override { return fn_(i); }

 private:
  const int64_t size_;
  const Fn fn_;
};

// A CANCELLED result of a parallel loop or reduction, in the stack's
// words.
absl::Status Normalized(const Core& core, const absl::Status& status) {
  if (status.code() == absl::StatusCode::kCancelled &&
      core.context->cancel.IsCancelled()) {
    return core.context->CheckCancelled();
  }
  return CopyStatus(status);
}

// A per-client CLIENTS value whose member i is member(i): lazy when `lazy`,
// else computed now in parallel chunks of clients (ParallelFor's default
// grain: about 4 chunks per participating thread, so thousands of cheap
// clients per chunk; cancellation is checked at every client).
template <typename F>
absl::StatusOr<Value> PerClient(const Core& core, bool lazy, F member) {
  const int64_t n = core.num_clients;
  if (lazy) {
    return Value::LazyFederated(
        Placement::kClients,
        std::make_shared<LazyByIndex>(n, LazyByIndex::Fn(std::move(member))));
  }
  std::vector<Value> out(static_cast<size_t>(n));
  const CancellationToken& cancel = core.context->cancel;
  absl::Status status = ParallelForWithStatus(
      core.context->pool, n, /*grain=*/0,
      [&](int64_t begin, int64_t end) -> absl::Status {
        for (int64_t i = begin; i < end; ++i) {
          if (cancel.IsCancelled()) [[unlikely]] {
            return core.context->CheckCancelled();
          }
          absl::StatusOr<Value> m = member(i);
          if (!m.ok()) [[unlikely]] {
            return std::move(m).status();
          }
          out[static_cast<size_t>(i)] = *std::move(m);
        }
        return absl::OkStatus();
      },
      &cancel);
  if (!status.ok()) return Normalized(core, status);
  return Value::Federated(Placement::kClients, false, std::move(out));
}

// ------------------------------------------------------- aggregations

TreeReduceOptions AggregationOptions(const Core& core,
                                     int64_t total_clients) {
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
          return MergeError(intrinsic, s, left_id, right_id,
                            options.block_size, core.num_clients);
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
    if (op == Intrinsic::kFederatedSum) return ZeroResult(intrinsic, result_type);
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
      AggregationOptions(core, core.num_clients),
      [&] { return zero; },
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
  const std::string head = absl::StrCat("partial aggregate over clients [",
                                        spec.first_client, ", ",
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
        absl::StrCat(head, ": block size ", spec.block_size, " must be ",
                     block, " for ", spec.total_clients, " clients"));
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
      core.context->pool, spec.total_clients, options, first_block,
      last_block, make_zero,
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

absl::StatusOr<std::vector<PartialNode>> AggregateShardImpl(
    const Core& core, const PartialAggregateSpec& spec, const Value& value,
    const Value* operand, const Value* function, const Value* merge) {
  const std::string intrinsic(ir::IntrinsicUri(ShardIntrinsic(spec.op)));
  FEDEXEC_RETURN_IF_ERROR(CheckShardSpec(spec, core.num_clients));
  FEDEXEC_ASSIGN_OR_RETURN(
      Clients in, Clients::Of(intrinsic, 0, value, core.num_clients));
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
              if (!s.ok()) [[unlikely]] return s;
            }
            return in.With(local, [&](const Value& x) -> absl::Status {
              absl::Status s;
              if (bound.has_value()) {
                s = FoldWithBound(acc, x, *bound);
              } else {
                s = Fold(op, acc, x, weight);
              }
              if (!s.ok()) [[unlikely]] return ClientError(intrinsic, c, s);
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

// ------------------------------------------------------------- select

// select_fn(<server_val, key>) computed once per distinct key, from any
// thread. A key's first caller computes it; others asking for the same key
// meanwhile wait for that (running) computation.
class SelectMemo {
 public:
  SelectMemo(CorePtr core, std::string intrinsic, Value server_value,
             Value select_fn)
      : core_(std::move(core)),
        intrinsic_(std::move(intrinsic)),
        server_value_(std::move(server_value)),
        select_fn_(std::move(select_fn)),
        names_(PairNames(select_fn_)) {}

  absl::StatusOr<Value> Get(int32_t key) const {
    std::shared_ptr<Slot> slot;
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::shared_ptr<Slot>& s = slots_[key];
      if (s == nullptr) s = std::make_shared<Slot>();
      slot = s;
    }
    std::lock_guard<std::mutex> lock(slot->mu);
    if (!slot->done) {
      Value pair = Pair(names_, server_value_, Value(Tensor::Scalar(key)));
      absl::StatusOr<Value> r = CallFunction(select_fn_, &pair);
      if (r.ok()) {
        slot->result = *std::move(r);
      } else {
        slot->result = FunctionError(intrinsic_, absl::StrCat("key ", key),
                                     select_fn_, r.status());
      }
      slot->done = true;
    }
    if (!slot->result.ok()) return CopyStatus(slot->result.status());
    return *slot->result;
  }

 private:
  struct Slot {
    std::mutex mu;
    bool done = false;
    absl::StatusOr<Value> result{absl::UnknownError("not computed")};
  };

  const CorePtr core_;
  const std::string intrinsic_;
  const Value server_value_;
  const Value select_fn_;
  const std::pair<std::string, std::string> names_;
  mutable std::mutex mu_;
  mutable absl::flat_hash_map<int32_t, std::shared_ptr<Slot>> slots_;
};

// The keys of federated_select lie in [0, max_key], as federated_language
// documents; those of federated_secure_select in [0, max_key).
struct KeyRange {
  int32_t max_key = 0;
  bool inclusive = true;
};

// The sequence of one client: select_fn(<server_val, k>) for each key k.
absl::StatusOr<Value> SelectFor(const SelectMemo& memo,
                                std::string_view intrinsic, int64_t client,
                                const Value& keys, KeyRange range) {
  if (!keys.is_tensor() || keys.tensor().dtype() != DType::kInt32 ||
      keys.tensor().rank() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(intrinsic), ": client ", client,
                     ": keys must be an int32 vector, got ", Describe(keys)));
  }
  absl::Span<const int32_t> k = keys.tensor().data<int32_t>();
  std::vector<Value> elements;
  elements.reserve(k.size());
  for (int32_t key : k) {
    if (key < 0 || key > range.max_key ||
        (!range.inclusive && key == range.max_key)) {
      return absl::InvalidArgumentError(absl::StrCat(
          AV(intrinsic), ": client ", client, " has key ", key,
          ", outside [0, ", range.max_key, range.inclusive ? "]" : ")"));
    }
    FEDEXEC_ASSIGN_OR_RETURN(Value v, memo.Get(key));
    elements.push_back(std::move(v));
  }
  return Value::Sequence(std::move(elements));
}

absl::StatusOr<Value> Select(const CorePtr& core, const std::string& intrinsic,
                             bool secure, const Value& argument) {
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<const Value*> args,
                           Unpack(intrinsic, argument, 4));
  FEDEXEC_ASSIGN_OR_RETURN(
      Clients keys, Clients::Of(intrinsic, 0, *args[0], core->num_clients));
  FEDEXEC_ASSIGN_OR_RETURN(Value max_key_value,
                           ServerMember(intrinsic, 1, *args[1]));
  if (!max_key_value.is_tensor() ||
      max_key_value.tensor().dtype() != DType::kInt32 ||
      max_key_value.tensor().rank() != 0) {
    return Expects(intrinsic, "argument 2 (max_key) to be an int32 scalar",
                   max_key_value);
  }
  const KeyRange range{max_key_value.tensor().data<int32_t>()[0],
                       /*inclusive=*/!secure};
  FEDEXEC_ASSIGN_OR_RETURN(Value server_value,
                           ServerMember(intrinsic, 2, *args[2]));
  FEDEXEC_RETURN_IF_ERROR(CheckFunction(intrinsic, 3, *args[3], true));
  auto memo = std::make_shared<const SelectMemo>(
      core, intrinsic, std::move(server_value), *args[3]);
  if (keys.all_equal()) {
    FEDEXEC_ASSIGN_OR_RETURN(
        Value seq, SelectFor(*memo, intrinsic, 0, keys.single(), range));
    return AllEqualAtClients(std::move(seq));
  }
  return PerClient(
      *core, keys.lazy(),
      [memo, keys, intrinsic, range](int64_t i) -> absl::StatusOr<Value> {
        FEDEXEC_ASSIGN_OR_RETURN(Value k, keys.Member(i));
        return SelectFor(*memo, intrinsic, i, k, range);
      });
}

// ------------------------------------------------------ the intrinsics

absl::StatusOr<Value> MapOver(const CorePtr& core, const std::string& intrinsic,
                              const Value& fn, const Clients& in) {
  if (in.all_equal()) {
    absl::StatusOr<Value> r = CallFunction(fn, &in.single());
    if (!r.ok()) return FunctionError(intrinsic, "", fn, r.status());
    return AllEqualAtClients(*std::move(r));
  }
  return PerClient(
      *core, in.lazy(),
      [core, fn, in, intrinsic](int64_t i) -> absl::StatusOr<Value> {
        FEDEXEC_ASSIGN_OR_RETURN(Value m, in.Member(i));
        absl::StatusOr<Value> r = CallFunction(fn, &m);
        if (!r.ok()) [[unlikely]] {
          return ClientFunctionError(intrinsic, i, fn, r.status());
        }
        return r;
      });
}

absl::StatusOr<Value> Map(const CorePtr& core, const std::string& intrinsic,
                          bool all_equal_only, const Value& argument) {
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<const Value*> args,
                           Unpack(intrinsic, argument, 2));
  FEDEXEC_RETURN_IF_ERROR(CheckFunction(intrinsic, 0, *args[0], true));
  FEDEXEC_ASSIGN_OR_RETURN(
      Clients in, Clients::Of(intrinsic, 1, *args[1], core->num_clients));
  if (all_equal_only && !in.all_equal()) {
    return Expects(intrinsic, "argument 2 to be an all-equal CLIENTS value",
                   *args[1]);
  }
  return MapOver(core, intrinsic, *args[0], in);
}

absl::StatusOr<Value> EvalAtClients(const CorePtr& core,
                                    const std::string& intrinsic,
                                    const Value& fn) {
  FEDEXEC_RETURN_IF_ERROR(CheckFunction(intrinsic, -1, fn, false));
  return PerClient(*core, /*lazy=*/true,
                   [core, fn, intrinsic](int64_t i) -> absl::StatusOr<Value> {
                     absl::StatusOr<Value> r = CallFunction(fn, nullptr);
                     if (!r.ok()) [[unlikely]] {
                       return ClientFunctionError(intrinsic, i, fn, r.status());
                     }
                     return r;
                   });
}

// The argument of a zip: a struct, possibly nested (federated_language
// zips <x, <y, z>> in one call), whose leaves are federated values. Its
// nodes in preorder; each leaf is one part of the zip.
struct ZipNode {
  std::string name;          // as an element of its parent; "" if unnamed
  int32_t num_children = -1;  // -1: a part
  int32_t part = -1;          // parts: index into the parts
};

struct ZipShape {
  std::vector<ZipNode> nodes;
  std::vector<const Value*> parts;  // point into the argument
};

absl::StatusOr<ZipShape> ZipShapeOf(const std::string& intrinsic,
                                    const Value& argument,
                                    std::string_view placement) {
  if (!argument.is_struct() || argument.struct_value().elements.empty()) {
    return Expects(intrinsic,
                   absl::StrCat("a non-empty struct of ", AV(placement),
                                " values"),
                   argument);
  }
  ZipShape shape;
  std::vector<std::pair<const Value*, const std::string*>> stack = {
      {&argument, nullptr}};
  while (!stack.empty()) {
    auto [v, name] = stack.back();
    stack.pop_back();
    ZipNode node;
    if (name != nullptr) node.name = *name;
    if (v->is_struct()) {
      const auto& elements = v->struct_value().elements;
      node.num_children = static_cast<int32_t>(elements.size());
      for (size_t i = elements.size(); i-- > 0;) {
        stack.emplace_back(elements[i].value.get(), &elements[i].name);
      }
    } else {
      node.part = static_cast<int32_t>(shape.parts.size());
      shape.parts.push_back(v);
    }
    shape.nodes.push_back(std::move(node));
  }
  if (shape.parts.empty()) {
    return Expects(intrinsic,
                   absl::StrCat("a struct with at least one ", AV(placement),
                                " value"),
                   argument);
  }
  return shape;
}

// The struct of `shape` with `parts` (one per part, moved from) at its
// leaves.
Value BuildZip(const std::vector<ZipNode>& nodes, std::vector<Value>& parts) {
  // Built bottom-up over the reversed preorder: when a struct node comes,
  // its elements are on top of the stack, the first one on top.
  std::vector<std::pair<const std::string*, Value>> stack;
  stack.reserve(nodes.size());
  for (size_t k = nodes.size(); k-- > 0;) {
    const ZipNode& n = nodes[k];
    if (n.num_children < 0) {
      stack.emplace_back(&n.name,
                         std::move(parts[static_cast<size_t>(n.part)]));
      continue;
    }
    const size_t count = static_cast<size_t>(n.num_children);
    std::vector<std::pair<std::string, Value>> elements;
    elements.reserve(count);
    for (size_t j = 0; j < count; ++j) {
      auto& [name, value] = stack[stack.size() - 1 - j];
      elements.emplace_back(*name, std::move(value));
    }
    stack.erase(stack.end() - static_cast<ptrdiff_t>(count), stack.end());
    stack.emplace_back(&n.name, Value::Struct(std::move(elements)));
  }
  return std::move(stack.back().second);
}

absl::StatusOr<Value> ZipAtServer(const std::string& intrinsic,
                                  const Value& argument) {
  FEDEXEC_ASSIGN_OR_RETURN(ZipShape shape,
                           ZipShapeOf(intrinsic, argument, "SERVER"));
  std::vector<Value> members;
  members.reserve(shape.parts.size());
  for (size_t i = 0; i < shape.parts.size(); ++i) {
    FEDEXEC_ASSIGN_OR_RETURN(
        Value m, ServerMember(intrinsic, static_cast<int>(i), *shape.parts[i]));
    members.push_back(std::move(m));
  }
  return AtServer(BuildZip(shape.nodes, members));
}

absl::StatusOr<Value> ZipAtClients(const CorePtr& core,
                                   const std::string& intrinsic,
                                   const Value& argument) {
  FEDEXEC_ASSIGN_OR_RETURN(ZipShape shape,
                           ZipShapeOf(intrinsic, argument, "CLIENTS"));
  std::vector<Clients> parts;
  parts.reserve(shape.parts.size());
  bool all_equal = true;
  bool lazy = false;
  for (size_t i = 0; i < shape.parts.size(); ++i) {
    FEDEXEC_ASSIGN_OR_RETURN(
        Clients c, Clients::Of(intrinsic, static_cast<int>(i), *shape.parts[i],
                               core->num_clients));
    all_equal = all_equal && c.all_equal();
    lazy = lazy || c.lazy();
    parts.push_back(std::move(c));
  }
  auto nodes = std::make_shared<const std::vector<ZipNode>>(
      std::move(shape.nodes));
  auto member = [nodes, parts](int64_t i) -> absl::StatusOr<Value> {
    std::vector<Value> members;
    members.reserve(parts.size());
    for (const Clients& part : parts) {
      FEDEXEC_ASSIGN_OR_RETURN(Value m, part.Member(i));
      members.push_back(std::move(m));
    }
    return BuildZip(*nodes, members);
  };
  if (all_equal) {
    FEDEXEC_ASSIGN_OR_RETURN(Value v, member(0));
    return AllEqualAtClients(std::move(v));
  }
  return PerClient(*core, lazy, std::move(member));
}

using BinaryKernel = absl::StatusOr<Value> (*)(const Value&, const Value&);

absl::StatusOr<Value> Generic(const CorePtr& core, const std::string& intrinsic,
                              BinaryKernel kernel, const Value& argument) {
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<const Value*> args,
                           Unpack(intrinsic, argument, 2));
  const Value& a = *args[0];
  const Value& b = *args[1];
  if (!a.is_federated() && !b.is_federated()) {
    absl::StatusOr<Value> r = kernel(a, b);
    if (!r.ok()) return Located(intrinsic, "", r.status());
    return r;
  }
  if (!a.is_federated() || !b.is_federated() ||
      a.federated().placement != b.federated().placement) {
    return absl::InvalidArgumentError(absl::StrCat(
        AV(intrinsic),
        " expects two unplaced values or two federated values at one "
        "placement, got ",
        Describe(a), " and ", Describe(b)));
  }
  if (a.federated().placement == Placement::kServer) {
    FEDEXEC_ASSIGN_OR_RETURN(Value x, ServerMember(intrinsic, 0, a));
    FEDEXEC_ASSIGN_OR_RETURN(Value y, ServerMember(intrinsic, 1, b));
    absl::StatusOr<Value> r = kernel(x, y);
    if (!r.ok()) return Located(intrinsic, "", r.status());
    return AtServer(*std::move(r));
  }
  FEDEXEC_ASSIGN_OR_RETURN(Clients x,
                           Clients::Of(intrinsic, 0, a, core->num_clients));
  FEDEXEC_ASSIGN_OR_RETURN(Clients y,
                           Clients::Of(intrinsic, 1, b, core->num_clients));
  if (x.all_equal() && y.all_equal()) {
    absl::StatusOr<Value> r = kernel(x.single(), y.single());
    if (!r.ok()) return Located(intrinsic, "", r.status());
    return AllEqualAtClients(*std::move(r));
  }
  return PerClient(
      *core, x.lazy() || y.lazy(),
      [x, y, kernel, intrinsic](int64_t i) -> absl::StatusOr<Value> {
        FEDEXEC_ASSIGN_OR_RETURN(Value u, x.Member(i));
        FEDEXEC_ASSIGN_OR_RETURN(Value v, y.Member(i));
        absl::StatusOr<Value> r = kernel(u, v);
        if (!r.ok()) [[unlikely]] {
          return ClientError(intrinsic, i, r.status());
        }
        return r;
      });
}

absl::StatusOr<Value> ZeroValue(const ir::Type& type) {
  FEDEXEC_RETURN_IF_ERROR(ir::CheckGenericZeroType(type));
  if (type.kind() == ir::TypeKind::kFederated) {
    absl::StatusOr<Value> zero = ZeroOf(type.member());
    if (!zero.ok()) return Located(Uri(Intrinsic::kGenericZero), "", zero.status());
    std::vector<Value> members;
    members.push_back(*std::move(zero));
    return Value::Federated(type.placement(), true, std::move(members));
  }
  absl::StatusOr<Value> zero = ZeroOf(type);
  if (!zero.ok()) return Located(Uri(Intrinsic::kGenericZero), "", zero.status());
  return zero;
}

class IntrinsicFunction : public Function {
 public:
  IntrinsicFunction(ir::Type type, Intrinsic op, std::string uri,
                    CorePtr core)
      : Function(std::move(type)),
        op_(op),
        uri_(std::move(uri)),
        core_(std::move(core)) {}

  absl::StatusOr<ir::NodePtr> ToNode() const override {
    return ir::MakeNode(ir::IntrinsicNode{uri_}, type());
  }

  absl::StatusOr<Value> Call(const Value* argument) const override {
    FEDEXEC_RETURN_IF_ERROR(core_->context->CheckCancelled());
    if (argument == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(uri_, " needs an argument"));
    }
    const Value& arg = *argument;
    const std::string& name = uri_;
    const Core& core = *core_;
    switch (op_) {
      case Intrinsic::kFederatedValueAtServer:
      case Intrinsic::kFederatedValueAtClients:
        if (ContainsFederated(arg)) {
          return Expects(name, "an unplaced value", arg);
        }
        return op_ == Intrinsic::kFederatedValueAtServer ? AtServer(arg)
                                         : AllEqualAtClients(arg);
      case Intrinsic::kFederatedEvalAtServer: {
        FEDEXEC_RETURN_IF_ERROR(CheckFunction(name, -1, arg, false));
        absl::StatusOr<Value> r = CallFunction(arg, nullptr);
        if (!r.ok()) return FunctionError(name, "", arg, r.status());
        return AtServer(*std::move(r));
      }
      case Intrinsic::kFederatedEvalAtClients:
        return EvalAtClients(core_, name, arg);
      case Intrinsic::kFederatedBroadcast: {
        FEDEXEC_ASSIGN_OR_RETURN(Value m, ServerMember(name, -1, arg));
        return AllEqualAtClients(std::move(m));
      }
      case Intrinsic::kFederatedMap:
        return Map(core_, name, /*all_equal_only=*/false, arg);
      case Intrinsic::kFederatedMapAllEqual:
        return Map(core_, name, /*all_equal_only=*/true, arg);
      case Intrinsic::kFederatedApply: {
        FEDEXEC_ASSIGN_OR_RETURN(std::vector<const Value*> args,
                                 Unpack(name, arg, 2));
        FEDEXEC_RETURN_IF_ERROR(CheckFunction(name, 0, *args[0], true));
        FEDEXEC_ASSIGN_OR_RETURN(Value m, ServerMember(name, 1, *args[1]));
        absl::StatusOr<Value> r = CallFunction(*args[0], &m);
        if (!r.ok()) return FunctionError(name, "", *args[0], r.status());
        return AtServer(*std::move(r));
      }
      case Intrinsic::kFederatedZipAtServer:
        return ZipAtServer(name, arg);
      case Intrinsic::kFederatedZipAtClients:
        return ZipAtClients(core_, name, arg);
      case Intrinsic::kFederatedSum:
      case Intrinsic::kFederatedMean:
      case Intrinsic::kFederatedMin:
      case Intrinsic::kFederatedMax:
        return PlainAggregate(core, name, op_, type().result(), arg);
      case Intrinsic::kFederatedWeightedMean:
        return WeightedMean(core, name, arg);
      case Intrinsic::kFederatedSecureSum:
        return SecureSum(core, name, AggregateOp::kSecureSum, type().result(),
                         arg);
      case Intrinsic::kFederatedSecureSumBitwidth:
        return SecureSum(core, name, AggregateOp::kSecureSumBitwidth,
                         type().result(), arg);
      case Intrinsic::kFederatedSecureModularSum:
        return SecureSum(core, name, AggregateOp::kSecureModularSum,
                         type().result(), arg);
      case Intrinsic::kFederatedAggregate:
        return Aggregate(core, name, arg);
      case Intrinsic::kFederatedSelect:
        return Select(core_, name, /*secure=*/false, arg);
      case Intrinsic::kFederatedSecureSelect:
        return Select(core_, name, /*secure=*/true, arg);
      case Intrinsic::kGenericPlus:
        return Generic(core_, name, &native::AddValues, arg);
      case Intrinsic::kGenericMultiply:
        return Generic(core_, name, &native::MultiplyValues, arg);
      case Intrinsic::kGenericDivide:
        return Generic(core_, name, &native::DivideValues, arg);
      case Intrinsic::kGenericZero:
      // A value (EmbedLeaf), and the sequence executor's intrinsics.
      case Intrinsic::kSequenceMap:
      case Intrinsic::kSequenceReduce:
      case Intrinsic::kSequenceSum:
        break;
    }
    return absl::InternalError(absl::StrCat(uri_, " is not a function"));
  }

 protected:
  std::string What() const override { return absl::StrCat("intrinsic ", uri_); }

 private:
  const Intrinsic op_;
  const std::string uri_;
  const CorePtr core_;
};

// ------------------------------------------------------ validation

absl::Status AtPath(const std::string& step, const absl::Status& inner) {
  absl::string_view message = inner.message();
  if (absl::StartsWith(message, "at ")) {
    message.remove_prefix(3);
    return absl::Status(inner.code(), absl::StrCat("at ", step, message));
  }
  return absl::Status(inner.code(), absl::StrCat("at ", step, ": ", message));
}

absl::Status CheckFits(const Value& value, int64_t num_clients, int depth) {
  if (depth > kMaxNestingDepth) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a value nested more than ", kMaxNestingDepth, " levels deep"));
  }
  if (value.is_struct()) {
    const auto& elements = value.struct_value().elements;
    for (size_t i = 0; i < elements.size(); ++i) {
      absl::Status s = CheckFits(*elements[i].value, num_clients, depth + 1);
      if (!s.ok()) {
        return AtPath(elements[i].name.empty()
                          ? absl::StrCat("[", i, "]")
                          : absl::StrCat(".", elements[i].name),
                      s);
      }
    }
    return absl::OkStatus();
  }
  if (!value.is_federated()) return absl::OkStatus();
  const FederatedValue& f = value.federated();
  const int64_t size = f.size();
  if (f.placement == Placement::kServer) {
    if (size != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a SERVER value with ", size, " members; it must have exactly 1"));
    }
  } else if (f.all_equal) {
    if (size != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("an all-equal CLIENTS value with ", size,
                       " members; it must have exactly 1"));
    }
  } else if (size != num_clients) {
    return absl::InvalidArgumentError(
        absl::StrCat("a CLIENTS value with ", size,
                     " members, but this stack has ", num_clients, " clients"));
  }
  for (size_t i = 0; i < f.members.size(); ++i) {
    if (ContainsFederated(f.members[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("member ", i, " of ", Describe(value),
                       " is itself federated (or contains a federated value)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

// ------------------------------------------------------ FederatingExecutor

FederatingExecutor::FederatingExecutor(
    std::shared_ptr<ExecutionContext> context, int64_t num_clients,
    std::shared_ptr<LocalExecutor> child)
    : LocalExecutor(context, std::move(child)) {
  auto core = std::make_shared<Core>();
  core->context = std::move(context);
  core->num_clients = std::max<int64_t>(0, num_clients);
  core_ = std::move(core);
}

int64_t FederatingExecutor::num_clients() const { return core_->num_clients; }

absl::StatusOr<Value> FederatingExecutor::EmbedLeaf(const ir::NodePtr& node) {
  if (node == nullptr) {
    return absl::InvalidArgumentError("EmbedLeaf: null node");
  }
  if (!node->Is<ir::IntrinsicNode>()) return LocalExecutor::EmbedLeaf(node);
  const std::string& uri = node->As<ir::IntrinsicNode>().uri;
  std::optional<Intrinsic> op = ir::FindIntrinsic(uri);
  if (!op.has_value() ||
      ir::FamilyOf(*op) == ir::IntrinsicFamily::kSequence) {
    return LocalExecutor::EmbedLeaf(node);
  }
  if (!node->type().has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "intrinsic ", uri, " has no type (type-check the computation first)"));
  }
  const ir::Type& type = *node->type();
  if (*op == Intrinsic::kGenericZero) return ZeroValue(type);
  if (type.kind() != ir::TypeKind::kFunction || type.parameter() == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("intrinsic ", uri, " has type ", type.ToString(),
                     ", which is not a function type with a parameter"));
  }
  return Value::Function(
      std::make_shared<IntrinsicFunction>(type, *op, uri, core_));
}

absl::StatusOr<std::vector<PartialNode>> FederatingExecutor::AggregateShard(
    const PartialAggregateSpec& spec, const Value& value, const Value* operand,
    const Value* function, const Value* merge) {
  return AggregateShardImpl(*core_, spec, value, operand, function, merge);
}

absl::Status FederatingExecutor::ValidateValue(const Value& value) {
  FEDEXEC_RETURN_IF_ERROR(CheckFits(value, core_->num_clients, 0));
  return LocalExecutor::ValidateValue(value);
}

}  // namespace fedexec::exec
