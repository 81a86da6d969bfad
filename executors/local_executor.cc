// LocalExecutor: ids, futures and scheduling for in-process executors.
#include "executors/local_executor.h"

#include <deque>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "core/value_description.h"
#include "ir/type_checker.h"

namespace fedexec::exec {

namespace {
std::atomic<int64_t> live_states{0};

// Waiters of values completed while an earlier completion on this thread is
// running its waiters: that outermost completion runs them, one after the
// other, so a chain of structs, selections or failed calls waiting on one
// value completes in constant stack instead of recursing once per link.
thread_local std::deque<absl::AnyInvocable<void()&&>>* deferred_waiters =
    nullptr;
}  // namespace

// A value that is or will be computed: completed once with its result.
// Waiters registered before completion run on the completing thread, after
// the lock is released.
class ValueState {
 public:
  ValueState() { live_states.fetch_add(1, std::memory_order_relaxed); }
  explicit ValueState(absl::StatusOr<Value> result) : ValueState() {
    result_ = std::move(result);
    done_ = true;
  }
  ~ValueState() { live_states.fetch_sub(1, std::memory_order_relaxed); }
  ValueState(const ValueState&) = delete;
  ValueState& operator=(const ValueState&) = delete;

  void Complete(absl::StatusOr<Value> result) {
    std::vector<absl::AnyInvocable<void() &&>> waiters;
    {
      std::lock_guard<std::mutex> lock(mu_);
      result_ = std::move(result);
      done_ = true;
      waiters.swap(waiters_);
    }
    cv_.notify_all();
    if (deferred_waiters != nullptr) {
      for (auto& w : waiters) deferred_waiters->push_back(std::move(w));
      return;
    }
    std::deque<absl::AnyInvocable<void() &&>> queue(
        std::make_move_iterator(waiters.begin()),
        std::make_move_iterator(waiters.end()));
    deferred_waiters = &queue;
    while (!queue.empty()) {
      absl::AnyInvocable<void()&&> w = std::move(queue.front());
      queue.pop_front();
      std::move(w)();
    }
    deferred_waiters = nullptr;
  }

  // Runs fn once the state is complete: now if it is.
  void OnReady(absl::AnyInvocable<void() &&> fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!done_) {
        waiters_.push_back(std::move(fn));
        return;
      }
    }
    std::move(fn)();
  }

  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_; });
  }

  // REQUIRES: complete (observed through OnReady or Wait). The result is
  // never modified after completion. Errors are copied so that no two
  // threads share one status representation.
  absl::StatusOr<Value> result() const {
    if (!result_.ok()) return CopyStatus(result_.status());
    return *result_;
  }
  const absl::StatusOr<Value>& result_ref() const { return result_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  absl::StatusOr<Value> result_{absl::UnknownError("not computed")};
  std::vector<absl::AnyInvocable<void() &&>> waiters_;
};

namespace {

// Calls fn once every state in `deps` is complete (now if they are).
void WhenAllReady(const std::vector<std::shared_ptr<ValueState>>& deps,
                  absl::AnyInvocable<void() &&> fn) {
  if (deps.empty()) {
    std::move(fn)();
    return;
  }
  struct Join {
    std::atomic<size_t> remaining;
    absl::AnyInvocable<void() &&> fn;
  };
  auto join = std::make_shared<Join>();
  join->remaining.store(deps.size());
  join->fn = std::move(fn);
  for (const auto& dep : deps) {
    dep->OnReady([join] {
      if (join->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::move(join->fn)();
        join->fn = nullptr;
      }
    });
  }
}

absl::Status FunctionInside(const Value& value) {
  return absl::InvalidArgumentError(absl::StrCat(
      "cannot materialize a function value: ", DescribeValue(value)));
}

absl::StatusOr<Value> Concrete(const Value& value, ExecutionContext& context,
                               int depth);

absl::StatusOr<std::vector<Value>> ConcreteAll(std::vector<Value> values,
                                               ExecutionContext& context,
                                               int depth) {
  for (Value& v : values) {
    if (!v.IsConcrete() || v.is_function() || v.is_struct()) {
      FEDEXEC_ASSIGN_OR_RETURN(v, Concrete(v, context, depth + 1));
    }
  }
  return values;
}

absl::StatusOr<Value> Concrete(const Value& value, ExecutionContext& context,
                               int depth) {
  FEDEXEC_RETURN_IF_ERROR(context.CheckCancelled());
  switch (value.kind()) {
    case Value::Kind::kTensor:
      return value;
    case Value::Kind::kFunction:
      return FunctionInside(value);
    case Value::Kind::kStruct: {
      std::vector<std::pair<std::string, Value>> elements;
      elements.reserve(value.struct_value().elements.size());
      for (const auto& e : value.struct_value().elements) {
        FEDEXEC_ASSIGN_OR_RETURN(Value v,
                                 Concrete(*e.value, context, depth + 1));
        elements.emplace_back(e.name, std::move(v));
      }
      return Value::Struct(std::move(elements));
    }
    case Value::Kind::kSequence: {
      const SequenceValue& s = value.sequence();
      std::vector<Value> elements;
      if (s.lazy != nullptr) {
        FEDEXEC_RETURN_IF_ERROR(s.ForEach([&](const Value& e) {
          elements.push_back(e);
          return context.CheckCancelled();
        }));
      } else {
        elements = s.elements;
      }
      FEDEXEC_ASSIGN_OR_RETURN(
          elements, ConcreteAll(std::move(elements), context, depth));
      return Value::Sequence(std::move(elements));
    }
    case Value::Kind::kFederated: {
      const FederatedValue& f = value.federated();
      std::vector<Value> members;
      if (f.lazy != nullptr) {
        members.resize(static_cast<size_t>(f.size()));
        FEDEXEC_RETURN_IF_ERROR(ParallelForWithStatus(
            context.pool, f.size(), /*grain=*/0,
            [&](int64_t begin, int64_t end) -> absl::Status {
              for (int64_t i = begin; i < end; ++i) {
                FEDEXEC_ASSIGN_OR_RETURN(members[i], f.lazy->Get(i));
              }
              return absl::OkStatus();
            },
            &context.cancel));
      } else {
        members = f.members;
      }
      FEDEXEC_ASSIGN_OR_RETURN(members,
                               ConcreteAll(std::move(members), context, depth));
      return Value::Federated(f.placement, f.all_equal, std::move(members));
    }
  }
  return absl::InternalError("unknown value kind");
}

bool ContainsFunction(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kFunction:
      return true;
    case Value::Kind::kStruct:
      for (const auto& e : value.struct_value().elements) {
        if (ContainsFunction(*e.value)) return true;
      }
      return false;
    case Value::Kind::kFederated:
      for (const Value& m : value.federated().members) {
        if (ContainsFunction(m)) return true;
      }
      return false;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<Value> MaterializeValue(const Value& value,
                                       ExecutionContext& context) {
  if (value.IsConcrete()) {
    // The common case: nothing to produce, only functions to refuse.
    if (ContainsFunction(value)) return FunctionInside(value);
    return value;
  }
  return Concrete(value, context, 0);
}

// ------------------------------------------------------------ LocalExecutor

LocalExecutor::LocalExecutor(std::shared_ptr<ExecutionContext> context,
                             std::shared_ptr<LocalExecutor> child)
    : context_(std::move(context)), child_(std::move(child)) {}

LocalExecutor::~LocalExecutor() {
  std::unique_lock<std::mutex> lock(tasks_mu_);
  if (tasks_in_flight_ > 0) {
    context_->cancel.Cancel();
    tasks_cv_.wait(lock, [&] { return tasks_in_flight_ == 0; });
  }
}

int64_t LocalExecutor::NumLiveStatesForTesting() {
  return live_states.load(std::memory_order_relaxed);
}

void LocalExecutor::Schedule(absl::AnyInvocable<void() &&> task) {
  {
    std::lock_guard<std::mutex> lock(tasks_mu_);
    ++tasks_in_flight_;
  }
  context_->pool.Schedule([this, task = std::move(task)]() mutable {
    std::move(task)();
    task = nullptr;  // release captured values before signalling
    std::lock_guard<std::mutex> lock(tasks_mu_);
    if (--tasks_in_flight_ == 0) tasks_cv_.notify_all();
  });
}

absl::StatusOr<std::shared_ptr<ValueState>> LocalExecutor::Lookup(
    ValueId id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = values_.find(id);
  if (it == values_.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown value id ", id,
                     " (never created by this executor, or disposed of)"));
  }
  return it->second;
}

OwnedValue LocalExecutor::Register(std::shared_ptr<ValueState> state) {
  std::lock_guard<std::mutex> lock(mu_);
  const ValueId id = next_id_++;
  values_.emplace(id, std::move(state));
  return OwnedValue(this, id);
}

absl::StatusOr<OwnedValue> LocalExecutor::CreateValue(const Value& value) {
  FEDEXEC_RETURN_IF_ERROR(ValidateValue(value));
  FEDEXEC_ASSIGN_OR_RETURN(Value imported, ImportValue(value));
  return Register(std::make_shared<ValueState>(std::move(imported)));
}

absl::StatusOr<Value> LocalExecutor::ImportValue(const Value& value) {
  if (child_ != nullptr) return child_->ImportValue(value);
  return value;
}

absl::StatusOr<OwnedValue> LocalExecutor::CreateValue(
    const ir::NodePtr& computation) {
  if (computation == nullptr) {
    return absl::InvalidArgumentError("CreateValue: null computation");
  }
  ir::NodePtr checked = computation;
  if (!computation->type().has_value()) {
    FEDEXEC_ASSIGN_OR_RETURN(checked, ir::CheckComputation(computation));
  }
  auto state = std::make_shared<ValueState>();
  OwnedValue handle = Register(state);
  Schedule([this, state, checked = std::move(checked)]() {
    absl::Status cancelled = context_->CheckCancelled();
    if (!cancelled.ok()) return state->Complete(cancelled);
    state->Complete(Evaluate(checked));
  });
  return handle;
}

absl::StatusOr<OwnedValue> LocalExecutor::CreateCall(
    ValueId function, std::optional<ValueId> argument) {
  FEDEXEC_ASSIGN_OR_RETURN(std::shared_ptr<ValueState> fn, Lookup(function));
  std::shared_ptr<ValueState> arg;
  if (argument.has_value()) {
    FEDEXEC_ASSIGN_OR_RETURN(arg, Lookup(*argument));
  }
  auto state = std::make_shared<ValueState>();
  OwnedValue handle = Register(state);
  std::vector<std::shared_ptr<ValueState>> deps = {fn};
  if (arg != nullptr) deps.push_back(arg);
  WhenAllReady(deps, [this, state, fn, arg]() mutable {
    // An input's error is the call's error, without running anything.
    for (const ValueState* dep : {fn.get(), arg.get()}) {
      if (dep != nullptr && !dep->result_ref().ok()) {
        return state->Complete(dep->result());
      }
    }
    Schedule([this, state, fn = std::move(fn), arg = std::move(arg)]() {
      absl::Status cancelled = context_->CheckCancelled();
      if (!cancelled.ok()) return state->Complete(cancelled);
      const Value& f = *fn->result_ref();
      state->Complete(
          CallFunction(f, arg != nullptr ? &*arg->result_ref() : nullptr));
    });
  });
  return handle;
}

absl::StatusOr<OwnedValue> LocalExecutor::CreateStruct(
    const std::vector<StructElementId>& elements) {
  std::vector<std::shared_ptr<ValueState>> deps;
  deps.reserve(elements.size());
  for (const StructElementId& e : elements) {
    FEDEXEC_ASSIGN_OR_RETURN(std::shared_ptr<ValueState> dep, Lookup(e.value));
    deps.push_back(std::move(dep));
  }
  std::vector<std::string> names;
  names.reserve(elements.size());
  for (const StructElementId& e : elements) names.push_back(e.name);
  auto state = std::make_shared<ValueState>();
  OwnedValue handle = Register(state);
  WhenAllReady(deps, [state, deps, names = std::move(names)]() {
    std::vector<std::pair<std::string, Value>> values;
    values.reserve(deps.size());
    for (size_t i = 0; i < deps.size(); ++i) {
      if (!deps[i]->result_ref().ok())
        return state->Complete(deps[i]->result());
      values.emplace_back(names[i], *deps[i]->result_ref());
    }
    state->Complete(Value::Struct(std::move(values)));
  });
  return handle;
}

absl::StatusOr<OwnedValue> LocalExecutor::CreateSelection(ValueId source,
                                                          int index) {
  if (index < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("CreateSelection: index ", index, " is negative"));
  }
  FEDEXEC_ASSIGN_OR_RETURN(std::shared_ptr<ValueState> src, Lookup(source));
  auto state = std::make_shared<ValueState>();
  OwnedValue handle = Register(state);
  src->OnReady([state, src, index]() {
    if (!src->result_ref().ok()) return state->Complete(src->result());
    const Value& v = *src->result_ref();
    if (!v.is_struct()) {
      return state->Complete(absl::InvalidArgumentError(
          absl::StrCat("selection [", index, "] from ", DescribeValue(v),
                       ", which is not a struct")));
    }
    const auto& elements = v.struct_value().elements;
    if (static_cast<size_t>(index) >= elements.size()) {
      return state->Complete(absl::InvalidArgumentError(
          absl::StrCat("selection [", index, "] from a struct of ",
                       elements.size(), " elements")));
    }
    state->Complete(*elements[index].value);
  });
  return handle;
}

absl::StatusOr<Value> LocalExecutor::Materialize(ValueId value) {
  FEDEXEC_ASSIGN_OR_RETURN(std::shared_ptr<ValueState> state, Lookup(value));
  state->Wait();
  FEDEXEC_ASSIGN_OR_RETURN(Value v, state->result());
  return MaterializeValue(v, *context_);
}

absl::StatusOr<Value> LocalExecutor::Resolve(ValueId value) {
  FEDEXEC_ASSIGN_OR_RETURN(std::shared_ptr<ValueState> state, Lookup(value));
  state->Wait();
  return state->result();
}

absl::StatusOr<std::vector<PartialNode>> LocalExecutor::PartialAggregate(
    const PartialAggregateSpec& spec) {
  FEDEXEC_ASSIGN_OR_RETURN(Value value, Resolve(spec.value));
  std::optional<Value> operand, function, merge;
  if (spec.operand.has_value()) {
    FEDEXEC_ASSIGN_OR_RETURN(operand, Resolve(*spec.operand));
  }
  if (spec.function.has_value()) {
    FEDEXEC_ASSIGN_OR_RETURN(function, Resolve(*spec.function));
  }
  if (spec.merge.has_value()) {
    FEDEXEC_ASSIGN_OR_RETURN(merge, Resolve(*spec.merge));
  }
  return AggregateShard(spec, value, operand ? &*operand : nullptr,
                        function ? &*function : nullptr,
                        merge ? &*merge : nullptr);
}

absl::StatusOr<std::vector<PartialNode>> LocalExecutor::AggregateShard(
    const PartialAggregateSpec& spec, const Value& value, const Value* operand,
    const Value* function, const Value* merge) {
  if (child_ != nullptr) {
    return child_->AggregateShard(spec, value, operand, function, merge);
  }
  return Executor::PartialAggregate(spec);
}

absl::Status LocalExecutor::Dispose(ValueId value) {
  std::shared_ptr<ValueState> state;  // released outside the lock
  std::lock_guard<std::mutex> lock(mu_);
  auto it = values_.find(value);
  if (it == values_.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Dispose: unknown value id ", value));
  }
  state = std::move(it->second);
  values_.erase(it);
  return absl::OkStatus();
}

void LocalExecutor::Cancel() {
  context_->cancel.Cancel();
  // Executors below that run elsewhere (a composing executor's children)
  // hear of it too.
  if (child_ != nullptr) child_->Cancel();
}

int64_t LocalExecutor::NumValues() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(values_.size());
}

absl::StatusOr<Value> LocalExecutor::Evaluate(const ir::NodePtr& node) {
  return EmbedLeaf(node);
}

absl::StatusOr<Value> LocalExecutor::EmbedLeaf(const ir::NodePtr& node) {
  if (child_ != nullptr) return child_->EmbedLeaf(node);
  if (node->Is<ir::PlacementNode>()) {
    const std::string_view name =
        PlacementName(node->As<ir::PlacementNode>().placement);
    return absl::InvalidArgumentError(absl::StrCat(
        "placement literal ", absl::string_view(name.data(), name.size()),
        " has no value at run time"));
  }
  std::string what = ir::NodeKindName(node->kind());
  if (node->Is<ir::IntrinsicNode>()) {
    what = absl::StrCat("intrinsic ", node->As<ir::IntrinsicNode>().uri);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("no executor of this stack can run a ", what, " node"));
}

absl::Status LocalExecutor::ValidateValue(const Value& value) {
  if (child_ != nullptr) return child_->ValidateValue(value);
  return absl::OkStatus();
}

}  // namespace fedexec::exec
