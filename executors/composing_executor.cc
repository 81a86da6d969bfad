// ComposingExecutor: per-client values sharded across child executors,
// forwarded intrinsics, and aggregations merged from the children's
// partials by the canonical tree.
#include "executors/composing_executor.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/limits.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "core/tree_reduce.h"
#include "executors/aggregators.h"
#include "executors/function.h"
#include "ir/intrinsics.h"

namespace fedexec::exec {

namespace {

absl::string_view AV(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

// The executor that holds a shard now. Replaced when the one before is lost;
// `generation` counts the replacements.
struct Slot {
  mutable std::mutex mu;
  std::shared_ptr<Executor> executor;  // guarded by mu
  std::string name;                    // guarded by mu
  uint64_t generation = 0;             // guarded by mu
  int replacements = 0;                // guarded by mu
};

// A shard's executor as of one generation.
struct Current {
  std::shared_ptr<Executor> executor;
  std::string name;
  uint64_t generation = 0;
};

}  // namespace

struct ComposingExecutor::State {
  std::shared_ptr<ExecutionContext> context;
  // first, count and the first name of each shard; executors live in slots.
  std::vector<ClientShard> shards;
  std::vector<std::unique_ptr<Slot>> slots;
  int64_t num_clients = 0;
  ShardReplacer replace;
  int max_replacements = 0;

  Current CurrentOf(size_t k) const {
    const Slot& slot = *slots[k];
    std::lock_guard<std::mutex> lock(slot.mu);
    return Current{slot.executor, slot.name, slot.generation};
  }

  std::string Label(size_t k, const std::string& name) const {
    const ClientShard& shard = shards[k];
    return absl::StrCat("clients [", shard.first, ", ",
                        shard.first + shard.count, ") on ", name);
  }

  // Replaces the executor of shard k, lost at `generation` for `why`, unless
  // that was done already. Errors when no replacement is allowed or found.
  absl::Status Replace(size_t k, uint64_t generation,
                       const absl::Status& why) const {
    Slot& slot = *slots[k];
    std::lock_guard<std::mutex> lock(slot.mu);
    if (slot.generation != generation) return absl::OkStatus();
    const std::string lost =
        absl::StrCat(Label(k, slot.name), " lost (", why.message(), ")");
    if (replace == nullptr) {
      return absl::UnavailableError(
          absl::StrCat(lost, "; no other executor can take them"));
    }
    if (slot.replacements >= max_replacements) {
      return absl::UnavailableError(absl::StrCat(
          lost, "; gave up after ", slot.replacements, " replacements"));
    }
    ClientShard wanted = shards[k];
    wanted.executor = slot.executor;
    wanted.name = slot.name;
    absl::StatusOr<ClientShard> next = replace(wanted, why);
    if (!next.ok()) {
      return absl::Status(
          next.status().code(),
          absl::StrCat(lost, "; no replacement: ", next.status().message()));
    }
    slot.executor = std::move(next->executor);
    slot.name = std::move(next->name);
    ++slot.generation;
    ++slot.replacements;
    return absl::OkStatus();
  }
};

namespace {

using State = ComposingExecutor::State;
using StatePtr = std::shared_ptr<const State>;

// An error of shard k, with the shard named.
absl::Status ShardError(const State& state, size_t k, const std::string& name,
                        const absl::Status& status) {
  if (status.code() == absl::StatusCode::kCancelled) return CopyStatus(status);
  return absl::Status(status.code(), absl::StrCat(state.Label(k, name), ": ",
                                                  status.message()));
}

// What a lost executor answers: the worker is gone or does not know the
// executor any more (the protocol's FAILED_PRECONDITION).
bool IsLost(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition:
      return true;
    default:
      return false;
  }
}

// Runs op(executor, generation) on shard k's current executor; when the
// executor is lost, replaces it (bounded by max_replacements) and runs op
// again. Errors name the shard.
template <typename T, typename Op>
absl::StatusOr<T> OnShard(const State& state, size_t k, Op op) {
  for (;;) {
    FEDEXEC_RETURN_IF_ERROR(state.context->CheckCancelled());
    Current current = state.CurrentOf(k);
    absl::StatusOr<T> result = op(current);
    if (result.ok()) return result;
    if (!IsLost(result.status()) || state.context->cancel.IsCancelled()) {
      return ShardError(state, k, current.name, result.status());
    }
    FEDEXEC_RETURN_IF_ERROR(
        state.Replace(k, current.generation, result.status()));
  }
}

// ------------------------------------------------------- sharded values

// How a sharded value's part is made on a shard's executor: the members of
// a value of this process, or an intrinsic called on an argument (whose own
// sharded parts are made first). Replaying it rebuilds a part on the
// executor that replaces a lost one.
struct Recipe {
  Value source;          // members: a per-client value of this process
  ir::NodePtr function;  // or: the intrinsic node ...
  Value argument;        // ... and its argument
};

// A value sent to shard k: owned by this call, or a part of a sharded
// value (borrowed: the sharded value outlives the call).
struct Pushed {
  OwnedValue owned;
  ValueId id = 0;
};

absl::StatusOr<Pushed> Push(const State& state, size_t k,
                            const Current& current, const Value& value,
                            int depth = 0);

// The members of a sharded CLIENTS value: part k is a value of shard k's
// executor. Reading members one by one materializes a part once and keeps
// it.
class ShardedMembers final : public LazyMembers {
 public:
  ShardedMembers(StatePtr state, Recipe recipe)
      : state_(std::move(state)),
        recipe_(std::move(recipe)),
        parts_(state_->shards.size()),
        cache_(state_->shards.size()) {
    for (size_t k = 0; k < parts_.size(); ++k) {
      locks_.push_back(std::make_unique<std::mutex>());
    }
  }

  int64_t size() const override { return state_->num_clients; }

  absl::StatusOr<Value> Get(int64_t i) const override {
    const std::vector<ClientShard>& shards = state_->shards;
    // The last shard whose first client is <= i.
    auto it = std::upper_bound(
        shards.begin(), shards.end(), i,
        [](int64_t c, const ClientShard& s) { return c < s.first; });
    const size_t k = static_cast<size_t>(it - shards.begin()) - 1;
    const ClientShard& shard = shards[k];
    {
      std::lock_guard<std::mutex> lock(*locks_[k]);
      if (cache_[k].has_value()) {
        return cache_[k]->federated().Member(i - shard.first);
      }
    }
    absl::StatusOr<Value> v = OnShard<Value>(
        *state_, k, [&](const Current& current) -> absl::StatusOr<Value> {
          FEDEXEC_ASSIGN_OR_RETURN(ValueId id, PartOn(k, current));
          return current.executor->Materialize(id);
        });
    if (!v.ok()) return v.status();
    if (!v->is_federated() || v->federated().placement != Placement::kClients ||
        (!v->federated().all_equal && v->federated().size() != shard.count)) {
      return absl::InternalError(absl::StrCat(
          state_->Label(k, shard.name), ": expected a CLIENTS value with ",
          shard.count, " members"));
    }
    std::lock_guard<std::mutex> lock(*locks_[k]);
    if (!cache_[k].has_value()) cache_[k] = *std::move(v);
    return cache_[k]->federated().Member(i - shard.first);
  }

  const State& state() const { return *state_; }

  // The id of part k on `current`'s executor, made there (from the recipe)
  // unless it was made for that generation already.
  absl::StatusOr<ValueId> PartOn(size_t k, const Current& current) const {
    std::lock_guard<std::mutex> lock(*locks_[k]);
    Part& part = parts_[k];
    if (part.value.valid() && part.generation == current.generation &&
        part.executor == current.executor) {
      return part.value.id();
    }
    FEDEXEC_ASSIGN_OR_RETURN(OwnedValue made, Make(k, current));
    Part fresh;
    fresh.executor = current.executor;
    fresh.generation = current.generation;
    fresh.value = std::move(made);
    std::swap(part, fresh);  // the old part is disposed of below
    return part.value.id();
  }

 private:
  struct Part {
    // Declared first, destroyed last: the value's handle needs it.
    std::shared_ptr<Executor> executor;
    uint64_t generation = 0;
    OwnedValue value;
  };

  absl::StatusOr<OwnedValue> Make(size_t k, const Current& current) const {
    Executor& child = *current.executor;
    if (recipe_.function == nullptr) {
      const ClientShard& shard = state_->shards[k];
      std::vector<Value> members;
      members.reserve(static_cast<size_t>(shard.count));
      const FederatedValue& f = recipe_.source.federated();
      for (int64_t i = shard.first; i < shard.first + shard.count; ++i) {
        FEDEXEC_ASSIGN_OR_RETURN(Value m, f.Member(i));
        members.push_back(std::move(m));
      }
      return child.CreateValue(
          Value::Federated(Placement::kClients, false, std::move(members)));
    }
    FEDEXEC_ASSIGN_OR_RETURN(OwnedValue fn,
                             child.CreateValue(recipe_.function));
    FEDEXEC_ASSIGN_OR_RETURN(Pushed arg,
                             Push(*state_, k, current, recipe_.argument));
    return child.CreateCall(fn.id(), arg.id);
  }

  const StatePtr state_;
  const Recipe recipe_;
  std::vector<std::unique_ptr<std::mutex>> locks_;
  mutable std::vector<Part> parts_;                  // guarded by locks_[k]
  mutable std::vector<std::optional<Value>> cache_;  // guarded by locks_[k]
};

const ShardedMembers* ShardedOf(const Value& value) {
  if (!value.is_federated() || value.federated().lazy == nullptr) {
    return nullptr;
  }
  return dynamic_cast<const ShardedMembers*>(value.federated().lazy.get());
}

bool ContainsSharded(const Value& value, int depth = 0) {
  if (ShardedOf(value) != nullptr) return true;
  if (!value.is_struct() || depth > kMaxNestingDepth) return false;
  for (const auto& e : value.struct_value().elements) {
    if (ContainsSharded(*e.value, depth + 1)) return true;
  }
  return false;
}

// A per-client CLIENTS value that is not sharded (concrete members or lazy
// ones of this process).
bool IsLocalPerClient(const Value& value) {
  return value.is_federated() &&
         value.federated().placement == Placement::kClients &&
         !value.federated().all_equal && ShardedOf(value) == nullptr;
}

bool ContainsLocalPerClient(const Value& value, int depth = 0) {
  if (IsLocalPerClient(value)) return true;
  if (!value.is_struct() || depth > kMaxNestingDepth) return false;
  for (const auto& e : value.struct_value().elements) {
    if (ContainsLocalPerClient(*e.value, depth + 1)) return true;
  }
  return false;
}

// Members [first, first + count) of a per-client value of this process.
absl::StatusOr<Value> Slice(const Value& value, int64_t first, int64_t count) {
  const FederatedValue& f = value.federated();
  std::vector<Value> members;
  members.reserve(static_cast<size_t>(count));
  for (int64_t i = first; i < first + count; ++i) {
    FEDEXEC_ASSIGN_OR_RETURN(Value m, f.Member(i));
    members.push_back(std::move(m));
  }
  return Value::Federated(Placement::kClients, false, std::move(members));
}

absl::StatusOr<Pushed> Push(const State& state, size_t k,
                            const Current& current, const Value& value,
                            int depth) {
  Executor& child = *current.executor;
  if (const ShardedMembers* s = ShardedOf(value)) {
    if (&s->state() != &state) {
      return absl::InvalidArgumentError(
          "a sharded value of another composing executor");
    }
    FEDEXEC_ASSIGN_OR_RETURN(ValueId id, s->PartOn(k, current));
    return Pushed{OwnedValue(), id};
  }
  if (IsLocalPerClient(value)) {
    if (value.federated().size() != state.num_clients) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a CLIENTS value with ", value.federated().size(),
          " members, but this stack has ", state.num_clients, " clients"));
    }
    const ClientShard& shard = state.shards[k];
    FEDEXEC_ASSIGN_OR_RETURN(Value slice,
                             Slice(value, shard.first, shard.count));
    FEDEXEC_ASSIGN_OR_RETURN(OwnedValue owned, child.CreateValue(slice));
    const ValueId id = owned.id();
    return Pushed{std::move(owned), id};
  }
  if (value.is_struct() && depth <= kMaxNestingDepth &&
      (ContainsSharded(value) || ContainsLocalPerClient(value))) {
    std::vector<Pushed> parts;
    std::vector<StructElementId> elements;
    for (const auto& e : value.struct_value().elements) {
      FEDEXEC_ASSIGN_OR_RETURN(Pushed p,
                               Push(state, k, current, *e.value, depth + 1));
      elements.push_back(StructElementId{e.name, p.id});
      parts.push_back(std::move(p));
    }
    FEDEXEC_ASSIGN_OR_RETURN(OwnedValue owned, child.CreateStruct(elements));
    const ValueId id = owned.id();
    return Pushed{std::move(owned), id};
  }
  FEDEXEC_ASSIGN_OR_RETURN(OwnedValue owned, child.CreateValue(value));
  const ValueId id = owned.id();
  return Pushed{std::move(owned), id};
}

// A sharded value made by `recipe`, its parts made now on every shard (the
// children's Creates return at once).
absl::StatusOr<Value> Sharded(const StatePtr& state, Recipe recipe) {
  auto members = std::make_shared<ShardedMembers>(state, std::move(recipe));
  for (size_t k = 0; k < state->shards.size(); ++k) {
    FEDEXEC_RETURN_IF_ERROR(
        OnShard<ValueId>(*state, k, [&](const Current& current) {
          return members->PartOn(k, current);
        }).status());
  }
  return Value::LazyFederated(Placement::kClients, std::move(members));
}

// ------------------------------------------------------------ intrinsics

enum class Kind {
  kLocal,    // runs here (FederatingExecutor's intrinsic)
  kForward,  // each child runs it on its shard
  kEvalAtClients,
  kAggregate,  // partials merged here
};

struct Entry {
  ir::Intrinsic intrinsic;
  std::string_view uri;
  Kind kind;
  // kAggregate: the op of Executor::PartialAggregate.
  PartialAggregateOp op = PartialAggregateOp::kSum;
};

// How a composing executor runs `intrinsic`.
Entry EntryOf(ir::Intrinsic intrinsic) {
  using ir::Intrinsic;
  const absl::string_view uri = ir::IntrinsicUri(intrinsic);
  Entry entry{intrinsic, std::string_view(uri.data(), uri.size()),
              Kind::kLocal};
  auto aggregate = [&](PartialAggregateOp op) {
    entry.kind = Kind::kAggregate;
    entry.op = op;
    return entry;
  };
  switch (intrinsic) {
    case Intrinsic::kFederatedMap:
    case Intrinsic::kFederatedMapAllEqual:
    case Intrinsic::kFederatedZipAtClients:
    case Intrinsic::kFederatedSelect:
    case Intrinsic::kFederatedSecureSelect:
    case Intrinsic::kGenericPlus:
    case Intrinsic::kGenericMultiply:
    case Intrinsic::kGenericDivide:
      entry.kind = Kind::kForward;
      return entry;
    case Intrinsic::kFederatedEvalAtClients:
      entry.kind = Kind::kEvalAtClients;
      return entry;
    case Intrinsic::kFederatedSum:
    case Intrinsic::kFederatedMean:
      return aggregate(PartialAggregateOp::kSum);
    case Intrinsic::kFederatedMin:
      return aggregate(PartialAggregateOp::kMin);
    case Intrinsic::kFederatedMax:
      return aggregate(PartialAggregateOp::kMax);
    case Intrinsic::kFederatedWeightedMean:
      return aggregate(PartialAggregateOp::kWeightedSum);
    case Intrinsic::kFederatedSecureSum:
      return aggregate(PartialAggregateOp::kSecureSum);
    case Intrinsic::kFederatedSecureSumBitwidth:
      return aggregate(PartialAggregateOp::kSecureSumBitwidth);
    case Intrinsic::kFederatedSecureModularSum:
      return aggregate(PartialAggregateOp::kSecureModularSum);
    case Intrinsic::kFederatedAggregate:
      return aggregate(PartialAggregateOp::kAggregate);
    case Intrinsic::kFederatedApply:
    case Intrinsic::kFederatedBroadcast:
    case Intrinsic::kFederatedEvalAtServer:
    case Intrinsic::kFederatedValueAtClients:
    case Intrinsic::kFederatedValueAtServer:
    case Intrinsic::kFederatedZipAtServer:
    case Intrinsic::kGenericZero:
    case Intrinsic::kSequenceMap:
    case Intrinsic::kSequenceReduce:
    case Intrinsic::kSequenceSum:
      return entry;  // kLocal
  }
  return entry;
}

AggregateOp OpOf(PartialAggregateOp op) {
  switch (op) {
    case PartialAggregateOp::kSum:
    case PartialAggregateOp::kAggregate:  // not an accumulator op
      return AggregateOp::kSum;
    case PartialAggregateOp::kMin:
      return AggregateOp::kMin;
    case PartialAggregateOp::kMax:
      return AggregateOp::kMax;
    case PartialAggregateOp::kWeightedSum:
      return AggregateOp::kWeightedSum;
    case PartialAggregateOp::kSecureSum:
      return AggregateOp::kSecureSum;
    case PartialAggregateOp::kSecureSumBitwidth:
      return AggregateOp::kSecureSumBitwidth;
    case PartialAggregateOp::kSecureModularSum:
      return AggregateOp::kSecureModularSum;
  }
  return AggregateOp::kSum;
}

Value AtServer(Value v) {
  std::vector<Value> members;
  members.push_back(std::move(v));
  return Value::Federated(Placement::kServer, true, std::move(members));
}

// The member of a SERVER value, or an unplaced value as it is.
absl::StatusOr<Value> Unplaced(std::string_view intrinsic, const Value& value) {
  if (!value.is_federated()) return value;
  if (value.federated().placement != Placement::kServer ||
      value.federated().size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(intrinsic), ": expected an unplaced or SERVER value"));
  }
  return value.federated().Member(0);
}

Value Pair(const Value& fn, Value a, Value b) {
  std::string first, second;
  absl::StatusOr<const Function*> f = AsFunction(fn);
  if (f.ok() && (*f)->type().parameter() != nullptr) {
    const ir::Type& p = *(*f)->type().parameter();
    if (p.kind() == ir::TypeKind::kStruct && p.elements().size() == 2) {
      first = p.elements()[0].name;
      second = p.elements()[1].name;
    }
  }
  std::vector<std::pair<std::string, Value>> elements;
  elements.emplace_back(first, std::move(a));
  elements.emplace_back(second, std::move(b));
  return Value::Struct(std::move(elements));
}

// What one aggregation sends each child and merges here.
struct AggregationInputs {
  const Value* value = nullptr;
  const Value* operand = nullptr;   // weights, bound, zero
  const Value* function = nullptr;  // accumulate
  const Value* merge = nullptr;
  const Value* report = nullptr;
};

absl::StatusOr<AggregationInputs> Inputs(std::string_view uri,
                                         PartialAggregateOp op,
                                         const Value& argument) {
  AggregationInputs in;
  size_t arity = 1;
  switch (op) {
    case PartialAggregateOp::kSum:
    case PartialAggregateOp::kMin:
    case PartialAggregateOp::kMax:
      break;
    case PartialAggregateOp::kWeightedSum:
    case PartialAggregateOp::kSecureSum:
    case PartialAggregateOp::kSecureSumBitwidth:
    case PartialAggregateOp::kSecureModularSum:
      arity = 2;
      break;
    case PartialAggregateOp::kAggregate:
      arity = 5;
      break;
  }
  if (arity == 1) {
    in.value = &argument;
    return in;
  }
  if (!argument.is_struct() ||
      argument.struct_value().elements.size() != arity) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(uri), " expects a struct of ", arity, " arguments"));
  }
  const auto& e = argument.struct_value().elements;
  in.value = e[0].value.get();
  in.operand = e[1].value.get();
  if (arity == 5) {
    in.function = e[2].value.get();
    in.merge = e[3].value.get();
    in.report = e[4].value.get();
  }
  return in;
}

// Whether a child's PartialAggregate error says that it cannot aggregate a
// shard at all (a worker without fedexec's extension, an executor without
// federated values), rather than that this aggregation failed.
bool CannotAggregateShard(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnimplemented &&
         !HasLocation(status);
}

// Every shard's partial for `spec_base` (value ids filled per shard),
// gathered in parallel across shards. When a child cannot aggregate its
// shard (CannotAggregateShard), sets *unsupported and fails: the caller
// then reads the members and folds them itself.
absl::StatusOr<std::vector<std::vector<PartialNode>>> GatherPartials(
    const State& state, const AggregationInputs& in,
    const PartialAggregateSpec& spec_base, int64_t offset, bool* unsupported) {
  std::atomic<bool> cannot{false};
  const size_t n = state.shards.size();
  std::vector<std::vector<PartialNode>> out(n);
  absl::Status status = ParallelForWithStatus(
      state.context->pool, static_cast<int64_t>(n), /*grain=*/1,
      [&](int64_t begin, int64_t end) -> absl::Status {
        for (int64_t i = begin; i < end; ++i) {
          const size_t k = static_cast<size_t>(i);
          absl::StatusOr<std::vector<PartialNode>> nodes =
              OnShard<std::vector<PartialNode>>(
                  state, k,
                  [&](const Current& current)
                      -> absl::StatusOr<std::vector<PartialNode>> {
                    PartialAggregateSpec spec = spec_base;
                    spec.first_client = offset + state.shards[k].first;
                    std::vector<Pushed> held;
                    auto push = [&](const Value* v) -> absl::StatusOr<ValueId> {
                      FEDEXEC_ASSIGN_OR_RETURN(Pushed p,
                                               Push(state, k, current, *v));
                      const ValueId id = p.id;
                      held.push_back(std::move(p));
                      return id;
                    };
                    FEDEXEC_ASSIGN_OR_RETURN(spec.value, push(in.value));
                    for (auto [v, slot] :
                         {std::pair{in.operand, &spec.operand},
                          std::pair{in.function, &spec.function},
                          std::pair{in.merge, &spec.merge}}) {
                      if (v == nullptr) continue;
                      FEDEXEC_ASSIGN_OR_RETURN(*slot, push(v));
                    }
                    absl::StatusOr<std::vector<PartialNode>> nodes =
                        current.executor->PartialAggregate(spec);
                    if (!nodes.ok() && CannotAggregateShard(nodes.status())) {
                      cannot = true;
                    }
                    return nodes;
                  });
          if (!nodes.ok()) return nodes.status();
          out[k] = *std::move(nodes);
        }
        return absl::OkStatus();
      },
      &state.context->cancel);
  if (!status.ok()) {
    if (state.context->cancel.IsCancelled()) {
      return state.context->CheckCancelled();
    }
    *unsupported = cannot;
    return status;
  }
  return out;
}

// The partials as accumulators (plain and secure ops).
absl::StatusOr<std::vector<TreeNode<Accumulator>>> ImportAll(
    std::string_view uri, AggregateOp op, const SecureBound* bound,
    std::vector<std::vector<PartialNode>> partials) {
  std::vector<TreeNode<Accumulator>> nodes;
  for (auto& list : partials) {
    for (PartialNode& p : list) {
      if (!p.value.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat(AV(uri), ": a child's partial node (level ", p.level,
                         ", index ", p.index, ") has no value"));
      }
      absl::StatusOr<Accumulator> acc =
          ImportPartial(op, p.count, p.total_weight, *p.value, bound);
      if (!acc.ok()) {
        return absl::Status(
            acc.status().code(),
            absl::StrCat(AV(uri), ": ", acc.status().message()));
      }
      nodes.push_back(TreeNode<Accumulator>{p.level, p.index, *std::move(acc)});
    }
  }
  return nodes;
}

absl::StatusOr<std::optional<SecureBound>> BoundOf(std::string_view uri,
                                                   PartialAggregateOp op,
                                                   const Value* operand) {
  absl::StatusOr<SecureBound> (*make)(const Value&) = nullptr;
  switch (op) {
    case PartialAggregateOp::kSum:
    case PartialAggregateOp::kMin:
    case PartialAggregateOp::kMax:
    case PartialAggregateOp::kWeightedSum:
    case PartialAggregateOp::kAggregate:
      return std::nullopt;
    case PartialAggregateOp::kSecureSum:
      make = &SecureBound::ForSecureSum;
      break;
    case PartialAggregateOp::kSecureSumBitwidth:
      make = &SecureBound::ForBitwidth;
      break;
    case PartialAggregateOp::kSecureModularSum:
      make = &SecureBound::ForModularSum;
      break;
  }
  FEDEXEC_ASSIGN_OR_RETURN(Value b, Unplaced(uri, *operand));
  absl::StatusOr<SecureBound> bound = make(b);
  if (!bound.ok()) {
    return absl::Status(bound.status().code(),
                        absl::StrCat(AV(uri), ": ", bound.status().message()));
  }
  return std::optional<SecureBound>(*std::move(bound));
}

class ComposingIntrinsic final : public Function {
 public:
  ComposingIntrinsic(ir::Type type, Entry entry, ir::NodePtr node, Value inner,
                     StatePtr state)
      : Function(std::move(type)),
        entry_(entry),
        node_(std::move(node)),
        inner_(std::move(inner)),
        state_(std::move(state)) {}

  absl::StatusOr<ir::NodePtr> ToNode() const override { return node_; }

  absl::StatusOr<Value> Call(const Value* argument) const override {
    FEDEXEC_RETURN_IF_ERROR(state_->context->CheckCancelled());
    const bool sharded =
        argument != nullptr &&
        (ContainsSharded(*argument) || ContainsLocalPerClient(*argument));
    const bool forward =
        !state_->shards.empty() &&
        (sharded || (entry_.kind == Kind::kEvalAtClients && argument));
    if (!forward) return CallFunction(inner_, argument);
    if (entry_.kind == Kind::kAggregate) return Aggregate(*argument);
    return Forward(*argument);
  }

 protected:
  std::string What() const override {
    return absl::StrCat("intrinsic ", AV(entry_.uri));
  }

 private:
  absl::StatusOr<Value> Forward(const Value& argument) const {
    Recipe recipe;
    recipe.function = node_;
    recipe.argument = argument;
    return Sharded(state_, std::move(recipe));
  }

  absl::StatusOr<Value> Aggregate(const Value& argument) const {
    const State& state = *state_;
    const std::string_view uri = entry_.uri;
    const PartialAggregateOp op = entry_.op;
    FEDEXEC_ASSIGN_OR_RETURN(AggregationInputs in, Inputs(uri, op, argument));
    if (ShardedOf(*in.value) == nullptr && !IsLocalPerClient(*in.value)) {
      return CallFunction(inner_, &argument);
    }
    FEDEXEC_ASSIGN_OR_RETURN(std::optional<SecureBound> bound,
                             BoundOf(uri, op, in.operand));
    PartialAggregateSpec spec;
    spec.op = op;
    spec.total_clients = state.num_clients;
    spec.block_size = AggregationBlockSize(state.num_clients);
    bool unsupported = false;
    absl::StatusOr<std::vector<std::vector<PartialNode>>> gathered =
        GatherPartials(state, in, spec, 0, &unsupported);
    if (unsupported) {
      // A child without partial aggregates (TensorFlow Federated's
      // worker): the members are read from the children and folded here,
      // by the same block tree, so the bits are the same.
      return CallFunction(inner_, &argument);
    }
    FEDEXEC_ASSIGN_OR_RETURN(std::vector<std::vector<PartialNode>> partials,
                             std::move(gathered));
    const int64_t num_blocks =
        (state.num_clients + spec.block_size - 1) / spec.block_size;
    if (op == PartialAggregateOp::kAggregate) {
      std::vector<TreeNode<Value>> nodes;
      for (auto& list : partials) {
        for (PartialNode& p : list) {
          if (!p.value.has_value()) {
            return absl::InvalidArgumentError(
                absl::StrCat(AV(uri), ": a child's partial node has no value"));
          }
          nodes.push_back(
              TreeNode<Value>{p.level, p.index, *std::move(p.value)});
        }
      }
      const Value& merge = *in.merge;
      absl::StatusOr<Value> root = MergeTreeNodes(
          std::move(nodes), num_blocks, [&] { return *in.operand; },
          [&](Value& left, Value&& right) -> absl::Status {
            Value pair = Pair(merge, std::move(left), std::move(right));
            absl::StatusOr<Value> merged = CallFunction(merge, &pair);
            if (!merged.ok()) {
              return absl::Status(merged.status().code(),
                                  absl::StrCat(AV(uri), ": merge: ",
                                               merged.status().message()));
            }
            left = *std::move(merged);
            return absl::OkStatus();
          });
      if (!root.ok()) return root.status();
      absl::StatusOr<Value> result = CallFunction(*in.report, &*root);
      if (!result.ok()) {
        return absl::Status(
            result.status().code(),
            absl::StrCat(AV(uri), ": report: ", result.status().message()));
      }
      return AtServer(*std::move(result));
    }
    const AggregateOp agg = OpOf(op);
    FEDEXEC_ASSIGN_OR_RETURN(
        std::vector<TreeNode<Accumulator>> nodes,
        ImportAll(uri, agg, bound ? &*bound : nullptr, std::move(partials)));
    absl::StatusOr<Accumulator> root = MergeTreeNodes(
        std::move(nodes), num_blocks, [] { return Accumulator(); },
        [&](Accumulator& left, Accumulator&& right) -> absl::Status {
          absl::Status s = Merge(agg, left, std::move(right));
          if (!s.ok()) {
            return absl::Status(s.code(),
                                absl::StrCat(AV(uri), ": ", s.message()));
          }
          return s;
        });
    if (!root.ok()) return root.status();
    absl::StatusOr<Value> result =
        entry_.intrinsic == ir::Intrinsic::kFederatedMean
            ? FinishMean(*std::move(root), false)
        : entry_.intrinsic == ir::Intrinsic::kFederatedWeightedMean
            ? FinishMean(*std::move(root), true)
            : Finish(*std::move(root));
    if (!result.ok()) {
      return absl::Status(
          result.status().code(),
          absl::StrCat(AV(uri), ": ", result.status().message()));
    }
    return AtServer(*std::move(result));
  }

  const Entry entry_;
  ir::NodePtr node_;
  Value inner_;
  StatePtr state_;
};

// Splits every per-client value inside `value` across the shards.
absl::StatusOr<Value> ShardValue(const StatePtr& state, const Value& value,
                                 int depth) {
  if (IsLocalPerClient(value)) {
    if (value.federated().size() != state->num_clients) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a CLIENTS value with ", value.federated().size(),
          " members, but this stack has ", state->num_clients, " clients"));
    }
    Recipe recipe;
    recipe.source = value;
    return Sharded(state, std::move(recipe));
  }
  if (value.is_struct() && depth <= kMaxNestingDepth &&
      ContainsLocalPerClient(value)) {
    std::vector<std::pair<std::string, Value>> elements;
    for (const auto& e : value.struct_value().elements) {
      FEDEXEC_ASSIGN_OR_RETURN(Value v, ShardValue(state, *e.value, depth + 1));
      elements.emplace_back(e.name, std::move(v));
    }
    return Value::Struct(std::move(elements));
  }
  return value;
}

}  // namespace

bool IsSharded(const Value& value) { return ShardedOf(value) != nullptr; }

absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> PlanShards(
    int64_t num_clients, const std::vector<double>& weights,
    int64_t block_size) {
  if (block_size == 0) block_size = AggregationBlockSize(num_clients);
  if (num_clients < 0 || block_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PlanShards: ", num_clients, " clients in blocks of ", block_size));
  }
  if (weights.empty()) {
    return absl::InvalidArgumentError("PlanShards: no shard to plan");
  }
  double total = 0;
  for (double w : weights) {
    if (!(w > 0) || !std::isfinite(w)) {
      return absl::InvalidArgumentError(
          absl::StrCat("PlanShards: weight ", w, " must be positive"));
    }
    total += w;
  }
  const int64_t blocks = (num_clients + block_size - 1) / block_size;
  // Blocks by largest remainder: each shard's quota rounded down, the rest
  // to the largest fractional parts (ties to the earlier shard).
  std::vector<int64_t> count(weights.size());
  std::vector<std::pair<double, size_t>> remainder;
  int64_t given = 0;
  for (size_t k = 0; k < weights.size(); ++k) {
    const double quota = static_cast<double>(blocks) * weights[k] / total;
    count[k] = static_cast<int64_t>(std::floor(quota));
    given += count[k];
    remainder.emplace_back(quota - std::floor(quota), k);
  }
  std::stable_sort(
      remainder.begin(), remainder.end(),
      [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t r = 0; given < blocks; ++r, ++given) {
    ++count[remainder[r % remainder.size()].second];
  }
  std::vector<std::pair<int64_t, int64_t>> out;
  int64_t first = 0;
  for (size_t k = 0; k < weights.size(); ++k) {
    const int64_t end = std::min(num_clients, first + count[k] * block_size);
    out.emplace_back(first, end - first);
    first = end;
  }
  return out;
}

absl::StatusOr<std::shared_ptr<ComposingExecutor>> ComposingExecutor::Create(
    std::shared_ptr<ExecutionContext> context, int64_t num_clients,
    std::shared_ptr<LocalExecutor> server, std::vector<ClientShard> shards,
    ComposingOptions options) {
  if (num_clients < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("ComposingExecutor: ", num_clients, " clients"));
  }
  auto state = std::make_shared<State>();
  state->context = context;
  state->num_clients = num_clients;
  state->replace = std::move(options.replace);
  state->max_replacements = std::max(0, options.max_replacements);
  int64_t next = 0;
  for (ClientShard& shard : shards) {
    if (shard.executor == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("ComposingExecutor: ", shard.name, " has no executor"));
    }
    if (shard.first != next || shard.count < 0 ||
        shard.first % AggregationBlockSize(num_clients) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ComposingExecutor: clients [", shard.first, ", ",
          shard.first + shard.count, ") on ", shard.name,
          " does not continue the shards before it at a whole block (next "
          "client ",
          next, ")"));
    }
    next += shard.count;
    if (shard.count > 0) {
      auto slot = std::make_unique<Slot>();
      slot->executor = shard.executor;
      slot->name = shard.name;
      state->slots.push_back(std::move(slot));
      state->shards.push_back(std::move(shard));
    }
  }
  if (next != num_clients) {
    return absl::InvalidArgumentError(
        absl::StrCat("ComposingExecutor: the shards hold ", next,
                     " clients, expected ", num_clients));
  }
  return std::make_shared<ComposingExecutor>(
      std::move(context), num_clients, std::move(server), std::move(state));
}

ComposingExecutor::ComposingExecutor(std::shared_ptr<ExecutionContext> context,
                                     int64_t num_clients,
                                     std::shared_ptr<LocalExecutor> server,
                                     std::shared_ptr<const State> state)
    : FederatingExecutor(std::move(context), num_clients, server),
      state_(std::move(state)) {}

void ComposingExecutor::Cancel() {
  FederatingExecutor::Cancel();
  for (size_t k = 0; k < state_->shards.size(); ++k) {
    state_->CurrentOf(k).executor->Cancel();
  }
}

absl::StatusOr<Value> ComposingExecutor::ImportValue(const Value& value) {
  if (state_->shards.empty() || !ContainsLocalPerClient(value)) return value;
  return ShardValue(state_, value, 0);
}

absl::StatusOr<Value> ComposingExecutor::EmbedLeaf(const ir::NodePtr& node) {
  FEDEXEC_ASSIGN_OR_RETURN(Value inner, FederatingExecutor::EmbedLeaf(node));
  if (node == nullptr || !node->Is<ir::IntrinsicNode>() ||
      !inner.is_function()) {
    return inner;
  }
  const std::optional<ir::Intrinsic> intrinsic =
      ir::FindIntrinsic(node->As<ir::IntrinsicNode>().uri);
  if (!intrinsic.has_value()) return inner;
  const Entry entry = EntryOf(*intrinsic);
  if (entry.kind == Kind::kLocal) return inner;
  FEDEXEC_ASSIGN_OR_RETURN(const Function* f, AsFunction(inner));
  ir::Type type = f->type();
  return Value::Function(std::make_shared<ComposingIntrinsic>(
      std::move(type), entry, node, std::move(inner), state_));
}

absl::StatusOr<std::vector<PartialNode>> ComposingExecutor::AggregateShard(
    const PartialAggregateSpec& spec, const Value& value, const Value* operand,
    const Value* function, const Value* merge) {
  if (ShardedOf(value) == nullptr || state_->shards.empty()) {
    return FederatingExecutor::AggregateShard(spec, value, operand, function,
                                              merge);
  }
  const State& state = *state_;
  // The children can answer for their shards only if each starts at a
  // block of the enclosing aggregation; otherwise the members are read here
  // and folded by FederatingExecutor (same result, more traffic).
  bool aligned = spec.block_size == AggregationBlockSize(spec.total_clients) &&
                 spec.first_client >= 0 && spec.block_size > 0 &&
                 spec.total_clients >= spec.first_client + state.num_clients;
  for (const ClientShard& shard : state.shards) {
    aligned =
        aligned && (spec.first_client + shard.first) % spec.block_size == 0;
  }
  if (!aligned) {
    return FederatingExecutor::AggregateShard(spec, value, operand, function,
                                              merge);
  }
  AggregationInputs in;
  in.value = &value;
  in.operand = operand;
  in.function = function;
  in.merge = merge;
  bool unsupported = false;
  absl::StatusOr<std::vector<std::vector<PartialNode>>> gathered =
      GatherPartials(state, in, spec, spec.first_client, &unsupported);
  if (unsupported) {
    // A child without partial aggregates: its members are read here.
    return FederatingExecutor::AggregateShard(spec, value, operand, function,
                                              merge);
  }
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<std::vector<PartialNode>> partials,
                           std::move(gathered));
  const int64_t b = spec.block_size;
  const int64_t num_blocks = (spec.total_clients + b - 1) / b;
  const int64_t first_block = spec.first_client / b;
  const int64_t last_block =
      (spec.first_client + state.num_clients + b - 1) / b;
  if (spec.op == PartialAggregateOp::kAggregate) {
    if (merge == nullptr) {
      return absl::InvalidArgumentError(
          "federated_aggregate: partial aggregate needs the merge function");
    }
    // Counts travel with the values: a node's count is its clients.
    std::vector<TreeNode<std::pair<Value, int64_t>>> nodes;
    for (auto& list : partials) {
      for (PartialNode& p : list) {
        if (!p.value.has_value()) {
          return absl::InvalidArgumentError(
              "federated_aggregate: a child's partial node has no value");
        }
        nodes.push_back(TreeNode<std::pair<Value, int64_t>>{
            p.level, p.index, {*std::move(p.value), p.count}});
      }
    }
    FEDEXEC_ASSIGN_OR_RETURN(
        auto merged,
        MergeIntoTiling(std::move(nodes), first_block, last_block, num_blocks,
                        [&](std::pair<Value, int64_t>& left,
                            std::pair<Value, int64_t>&& right) -> absl::Status {
                          Value pair = Pair(*merge, std::move(left.first),
                                            std::move(right.first));
                          FEDEXEC_ASSIGN_OR_RETURN(left.first,
                                                   CallFunction(*merge, &pair));
                          left.second += right.second;
                          return absl::OkStatus();
                        }));
    std::vector<PartialNode> out;
    for (auto& node : merged) {
      PartialNode p;
      p.level = node.level;
      p.index = node.index;
      p.count = node.value.second;
      p.total_weight = static_cast<double>(p.count);
      p.value = std::move(node.value.first);
      out.push_back(std::move(p));
    }
    return out;
  }
  const AggregateOp agg = OpOf(spec.op);
  // Messages name the shard's op ("secure_sum: ..."), as the wire does.
  const std::string_view op_name = PartialAggregateOpName(spec.op);
  FEDEXEC_ASSIGN_OR_RETURN(std::optional<SecureBound> bound,
                           BoundOf(op_name, spec.op, operand));
  FEDEXEC_ASSIGN_OR_RETURN(
      std::vector<TreeNode<Accumulator>> nodes,
      ImportAll(op_name, agg, bound ? &*bound : nullptr, std::move(partials)));
  FEDEXEC_ASSIGN_OR_RETURN(
      std::vector<TreeNode<Accumulator>> merged,
      MergeIntoTiling(std::move(nodes), first_block, last_block, num_blocks,
                      [&](Accumulator& left, Accumulator&& right) {
                        return Merge(agg, left, std::move(right));
                      }));
  std::vector<PartialNode> out;
  for (TreeNode<Accumulator>& node : merged) {
    FEDEXEC_ASSIGN_OR_RETURN(ExportedPartial e,
                             ExportPartial(std::move(node.value)));
    PartialNode p;
    p.level = node.level;
    p.index = node.index;
    p.count = e.count;
    p.total_weight = e.total_weight;
    p.value = std::move(e.value);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace fedexec::exec
