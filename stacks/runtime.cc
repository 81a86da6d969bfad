#include "stacks/runtime.h"

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/cancellation.h"
#include "core/status.h"
#include "ir/type_checker.h"
#include "ir/value_syntax.h"
#include "runtimes/native/registry.h"
#include "stacks/cardinality.h"

namespace fedexec::stacks {

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::Create(
    RuntimeOptions options) {
  LocalExecutorFactoryOptions factory_options;
  factory_options.threads = options.threads;
  factory_options.cache_size = options.cache_size;
  factory_options.data_backend = std::move(options.data_backend);
  FEDEXEC_ASSIGN_OR_RETURN(std::unique_ptr<LocalExecutorFactory> factory,
                           LocalExecutorFactory::Create(factory_options));
  return CreateWithFactory(std::move(factory), options.default_clients);
}

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::CreateWithFactory(
    std::unique_ptr<ExecutorFactory> factory, int64_t default_clients) {
  if (factory == nullptr) {
    return absl::InvalidArgumentError("Runtime: no executor factory (null)");
  }
  if (default_clients < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the default number of clients must be 0 or more, got ",
                     default_clients));
  }
  return std::unique_ptr<Runtime>(
      new Runtime(std::move(factory), default_clients));
}

Runtime::Runtime(std::unique_ptr<ExecutorFactory> factory,
                 int64_t default_clients)
    : factory_(std::move(factory)), default_clients_(default_clients) {}

Runtime::~Runtime() = default;

absl::StatusOr<Value> Runtime::Call(const ir::NodePtr& computation,
                                    std::optional<Value> argument,
                                    CallOptions options) {
  if (computation == nullptr) {
    return absl::InvalidArgumentError("no computation to call (null)");
  }
  ir::NodePtr checked = computation;
  if (!checked->type().has_value()) {
    FEDEXEC_ASSIGN_OR_RETURN(checked, ir::CheckComputation(computation));
  }
  const ir::Type& type = *checked->type();
  const bool is_function = type.kind() == ir::TypeKind::kFunction;
  const ir::Type* parameter = is_function ? type.parameter() : nullptr;
  if (parameter == nullptr && argument.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the computation ", type.ToString(), " takes no argument, given ",
        native::DescribeValue(*argument)));
  }
  if (parameter != nullptr) {
    if (!argument.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the computation takes an argument of type ",
                       parameter->ToString(), ", none given"));
    }
    if (absl::Status s = native::CheckValueMatchesType(*argument, *parameter);
        !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("argument does not match the parameter type ",
                       parameter->ToString(), ": ", s.message()));
    }
  }

  std::optional<int64_t> inferred;
  if (argument.has_value()) {
    FEDEXEC_ASSIGN_OR_RETURN(inferred, InferClientCount(*argument));
  }
  int64_t num_clients = inferred.value_or(default_clients_);
  if (options.num_clients.has_value()) {
    if (*options.num_clients < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("the number of clients must be 0 or more, got ",
                       *options.num_clients));
    }
    if (inferred.has_value() && *inferred != *options.num_clients) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the call is for ", *options.num_clients,
          " clients but the argument has per-client values for ", *inferred));
    }
    num_clients = *options.num_clients;
  }

  // The call is registered as running before its stack is taken, so that a
  // CancelRunning reaches it while the stack is being built (a remote one
  // waits for its workers): the builder runs under the call's cancel
  // signal (core/cancellation.h), and neither runs under the lock.
  auto call = std::make_shared<RunningCall>();
  uint64_t call_id;
  {
    MutexLock lock(mu_);
    call_id = next_call_++;
    running_.emplace(call_id, call);
  }
  absl::StatusOr<Value> result =
      RunCall(*call, num_clients, checked, argument, is_function);
  {
    MutexLock lock(mu_);
    running_.erase(call_id);
  }
  if (!result.ok()) return result;
  // The executors may hold a per-client result as one all-equal member; the
  // caller gets one member per client, as the type says.
  return ir::ExpandAllEqual(*result, is_function ? type.result() : type,
                            num_clients);
}

absl::StatusOr<Value> Runtime::RunCall(RunningCall& call, int64_t num_clients,
                                       const ir::NodePtr& computation,
                                       const std::optional<Value>& argument,
                                       bool is_function) {
  absl::StatusOr<std::shared_ptr<Executor>> executor;
  {
    CancelScope scope(&call.signal);
    executor = factory_->ExecutorFor(num_clients);
  }
  if (!executor.ok()) {
    if (call.signal.cancelled()) {
      return absl::CancelledError(
          absl::StrCat("the call was cancelled while its stack was built: ",
                       executor.status().message()));
    }
    return executor.status();
  }
  // A cancellation from now on reaches the executor (at once, when it came
  // while the stack was built).
  const uint64_t subscription =
      call.signal.Subscribe([e = *executor] { e->Cancel(); });
  absl::StatusOr<Value> result =
      Run(**executor, computation, argument, is_function);
  call.signal.Unsubscribe(subscription);
  return result;
}

absl::StatusOr<Value> Runtime::Run(Executor& executor,
                                   const ir::NodePtr& computation,
                                   const std::optional<Value>& argument,
                                   bool is_function) {
  // Handles are disposed of (in reverse order) before the executor is let
  // go by the caller.
  FEDEXEC_ASSIGN_OR_RETURN(OwnedValue function,
                           executor.CreateValue(computation));
  if (!is_function) return executor.Materialize(function);
  OwnedValue arg;
  if (argument.has_value()) {
    FEDEXEC_ASSIGN_OR_RETURN(arg, executor.CreateValue(*argument));
  }
  FEDEXEC_ASSIGN_OR_RETURN(
      OwnedValue call,
      executor.CreateCall(function.id(), argument.has_value()
                                             ? std::optional<ValueId>(arg.id())
                                             : std::nullopt));
  return executor.Materialize(call);
}

void Runtime::CancelRunning() {
  // Signalled without the lock: cancelling a remote executor starts calls.
  std::vector<std::shared_ptr<RunningCall>> calls;
  {
    MutexLock lock(mu_);
    for (auto& [id, call] : running_) calls.push_back(call);
  }
  for (const auto& call : calls) call->signal.Cancel();
}

int Runtime::NumRunning() const {
  MutexLock lock(mu_);
  return static_cast<int>(running_.size());
}

}  // namespace fedexec::stacks
