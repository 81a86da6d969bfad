// Function values inside in-process executors, the context an execution
// stack shares, and the error helpers every executor uses.
//
// A function value (core/value.h's FunctionValue) made by an in-process
// executor is an exec::Function: it knows its concrete type and how to run
// itself, so a function made by one executor (a lambda closure, an
// intrinsic, a compiled leaf) can be called by any other executor of the
// same process without a round trip through the Executor interface. This is
// what lets the federating executor apply a client function to a chunk of
// clients in a plain loop.
//
// Thread-safety: a Function is immutable and Call may run concurrently from
// any number of threads.
#ifndef FEDEXEC_EXECUTORS_FUNCTION_H_
#define FEDEXEC_EXECUTORS_FUNCTION_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/thread_pool.h"
#include "core/value.h"
#include "ir/ast.h"
#include "ir/type.h"

namespace fedexec::exec {

// What the executors of one execution stack share: the bounded pool that
// runs all their work and the token that cancels it. Outlives every value
// of the stack (values hold it by shared_ptr).
struct ExecutionContext {
  explicit ExecutionContext(ThreadPool& pool) : pool(pool) {}
  ThreadPool& pool;
  CancellationToken cancel;

  // CANCELLED once cancel is set, else OK. Cheap (one atomic load).
  absl::Status CheckCancelled() const;
};

class Function : public FunctionValue {
 public:
  explicit Function(ir::Type type) : type_(std::move(type)) {}

  // The function's concrete type ((T -> U), or ( -> U) without parameter).
  const ir::Type& type() const { return type_; }
  bool has_parameter() const { return type_.parameter() != nullptr; }

  // Runs the function. `argument` is null exactly when it has no
  // parameter (CallFunction checks that).
  virtual absl::StatusOr<Value> Call(const Value* argument) const = 0;

  // "(float32 -> float32) lambda at 3:5"
  std::string Describe() const override;

  // A closed, type-checked IR node that evaluates to this function in a
  // fresh stack: what crosses a process boundary when a function is sent
  // to a worker (a lambda with the values it captured bound by a block
  // around it, a native leaf, an intrinsic). INVALID_ARGUMENT for a
  // function that has no such form ("lambda at 3:5 captures a federated
  // value and cannot be sent to a worker").
  virtual absl::StatusOr<ir::NodePtr> ToNode() const;

 protected:
  // What the function is, for messages: "lambda at 3:5", "native 'add'",
  // "intrinsic federated_sum".
  virtual std::string What() const = 0;

 private:
  ir::Type type_;
};

// The exec::Function inside `value`, or INVALID_ARGUMENT ("expected a
// function, found float32[3]").
absl::StatusOr<const Function*> AsFunction(const Value& value);

// Calls the function in `function` with `argument` (null: none).
// INVALID_ARGUMENT when it is not a function, or when an argument is
// missing or superfluous.
absl::StatusOr<Value> CallFunction(const Value& function,
                                   const Value* argument);

// ----------------------------------------------------------- error helpers

// Errors say where they arose: the innermost failing node adds its
// location ("mean.fed:4:7: federated_mean: ...") and marks the status so
// that enclosing nodes leave it alone.
bool HasLocation(const absl::Status& status);
absl::Status WithLocation(const absl::Status& status, std::string_view where);

// A copy of `status` that shares nothing with it (same code, message and
// location mark). Statuses cross threads in executors; a copy that shares
// the original's reference-counted representation would be freed by
// whichever thread drops it last, which ThreadSanitizer cannot follow into
// Debian's uninstrumented Abseil.
absl::Status CopyStatus(const absl::Status& status);

}  // namespace fedexec::exec

#endif  // FEDEXEC_EXECUTORS_FUNCTION_H_
