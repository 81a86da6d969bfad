// Runtime: the C++ API for running federated computations in-process.
//
//   auto runtime = fedexec::stacks::Runtime::Create().value();
//   auto mean = fedexec::ir::LoadCheckedComputation("examples/mean.fed");
//   auto x = fedexec::ir::ParseValue("{20.5, 22.0, 19.5}@CLIENTS");
//   auto result = runtime->Call(*mean, *x);
//   std::cout << fedexec::ir::PrintValue(*result) << "\n";  // 20.666666@SERVER
//
// A call runs on a local stack (stacks/local_stack.h) for its number of
// clients, taken from an ExecutorFactory that keeps recently used stacks
// (stacks/executor_factory.h). The number of clients is, in this order:
// CallOptions::num_clients; the length of the argument's per-client values
// (stacks/cardinality.h); RuntimeOptions::default_clients.
//
// Errors. Bad input is INVALID_ARGUMENT naming what is wrong: an argument
// that does not match the parameter type ("argument does not match the
// parameter type {float32}@CLIENTS: expected {float32}@CLIENTS, found
// float32@SERVER"), a missing or superfluous argument, per-client
// values of different lengths, a client count that the argument does not
// fit. Errors of the computation are returned as the executors report them
// (with the source location where they arose). A cancelled call returns
// CANCELLED.
//
// Cancellation reaches a call at every stage: while its stack is being
// built (a remote stack waits for its workers; see core/cancellation.h) and
// while it runs. No network call runs under the runtime's lock.
//
// Thread-safety: Call and CancelRunning may be called concurrently from
// any number of threads (calls run in parallel, on one shared pool). A
// Runtime must outlive the calls running on it.
#ifndef FEDEXEC_STACKS_RUNTIME_H_
#define FEDEXEC_STACKS_RUNTIME_H_

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/cancellation.h"
#include "core/mutex.h"
#include "core/value.h"
#include "executors/executor.h"
#include "ir/ast.h"
#include "stacks/executor_factory.h"

namespace fedexec::stacks {

struct RuntimeOptions {
  // Worker threads; 0: one per hardware thread. Otherwise 1 to
  // ThreadPool::kMaxThreads (INVALID_ARGUMENT outside).
  int threads = 0;
  // The number of clients of a call whose argument has no per-client value
  // (no argument, only SERVER or all-equal values) and that does not set
  // CallOptions::num_clients. 0 or more.
  int64_t default_clients = 1;
  // Stacks kept for reuse, one per client count (most recently used).
  int cache_size = 4;
  // Resolves the computations' `data` nodes (exec::FileBackend over a
  // data root, say); null: a data node is an error.
  std::shared_ptr<const exec::DataBackend> data_backend = nullptr;
};

class Runtime {
 public:
  static absl::StatusOr<std::unique_ptr<Runtime>> Create(
      RuntimeOptions options = {});
  // A runtime over another factory (a remote or a composing one, or a fake
  // in tests).
  static absl::StatusOr<std::unique_ptr<Runtime>> CreateWithFactory(
      std::unique_ptr<ExecutorFactory> factory, int64_t default_clients = 1);

  ~Runtime();

  struct CallOptions {
    // The number of clients, overriding inference (0 or more).
    std::optional<int64_t> num_clients;
  };

  // Calls `computation` with `argument` (std::nullopt when it takes none)
  // and returns the result, concrete, shaped as the computation's result
  // type says: a per-client part ({T}@CLIENTS) has one member per client
  // even where the executors hold it as one all-equal member.
  // `computation` is normally type-checked (ir::LoadCheckedComputation,
  // ir::CheckComputation); an untyped tree is checked first. A computation that
  // is not a function (a block or a struct of intrinsic calls, say) is
  // evaluated, and takes no argument.
  absl::StatusOr<Value> Call(const ir::NodePtr& computation,
                             std::optional<Value> argument,
                             CallOptions options = {});

  // Cancels every call running now: they return CANCELLED. Calls that start
  // later run normally (on fresh stacks). Callable from any thread, e.g. one
  // that watches for signals.
  void CancelRunning();

  // The number of calls running now.
  int NumRunning() const;

 private:
  Runtime(std::unique_ptr<ExecutorFactory> factory, int64_t default_clients);

  // A call in progress: cancelling it fires its signal, which reaches the
  // stack's builder while the stack is built and the executor afterwards.
  struct RunningCall {
    CancelSignal signal;
  };

  // Takes the stack (under the call's signal) and runs the call on it.
  absl::StatusOr<Value> RunCall(RunningCall& call, int64_t num_clients,
                                const ir::NodePtr& computation,
                                const std::optional<Value>& argument,
                                bool is_function);
  absl::StatusOr<Value> Run(Executor& executor, const ir::NodePtr& computation,
                            const std::optional<Value>& argument,
                            bool is_function);

  const std::unique_ptr<ExecutorFactory> factory_;
  const int64_t default_clients_;

  mutable Mutex mu_;
  uint64_t next_call_ FEDEXEC_GUARDED_BY(mu_) = 0;
  // The calls running now, by call.
  absl::flat_hash_map<uint64_t, std::shared_ptr<RunningCall>> running_
      FEDEXEC_GUARDED_BY(mu_);
};

}  // namespace fedexec::stacks

#endif  // FEDEXEC_STACKS_RUNTIME_H_
