// Executor: the abstract interface that executes a computation's AST.
//
// An executor holds values identified by ValueIds. Its operations mirror the
// executor protocol of docs/wire-format.md:
//   CreateValue      an in-memory Value, or an IR node (a computation)
//   CreateCall       a function value applied to an argument value
//   CreateStruct     a struct of values
//   CreateSelection  an element of a struct value
//   Materialize      wait for a value and return it as a concrete Value
//   Dispose          forget a value
// plus Cancel, which stops everything the executor is running.
//
// Usage: the sum over three clients, on a local stack
// (stacks/local_stack.h; the computation's text as in ir/text_syntax.h,
// type-checked by ir/type_checker.h; FEDEXEC_ASSIGN_OR_RETURN from
// core/status.h):
//
//   auto context = std::make_shared<exec::ExecutionContext>(pool);
//   std::shared_ptr<Executor> ex = stacks::CreateLocalStack(context, 3);
//   FEDEXEC_ASSIGN_OR_RETURN(
//       ir::NodePtr parsed,
//       ir::ParseComputation("(x: {float32}@CLIENTS) -> federated_sum(x)"));
//   FEDEXEC_ASSIGN_OR_RETURN(ir::NodePtr typed, ir::CheckComputation(parsed));
//   FEDEXEC_ASSIGN_OR_RETURN(OwnedValue fn, ex->CreateValue(typed));
//   FEDEXEC_ASSIGN_OR_RETURN(
//       OwnedValue x, ex->CreateValue(Value::Federated(
//                         Placement::kClients, /*all_equal=*/false,
//                         {Value(Tensor::Scalar(1.0f)),
//                          Value(Tensor::Scalar(2.0f)),
//                          Value(Tensor::Scalar(3.0f))})));
//   FEDEXEC_ASSIGN_OR_RETURN(OwnedValue sum, ex->CreateCall(fn, x));
//   FEDEXEC_ASSIGN_OR_RETURN(Value out, ex->Materialize(sum));  // 6.0@SERVER
//
// The handles dispose of their values when they go out of scope.
//
// Asynchrony. Every Create returns at once with the id of a value that may
// still be being computed; the work runs on the executor's thread pool.
// Materialize is the only operation that waits. A Create fails at once
// (INVALID_ARGUMENT) only when its request itself is malformed (an unknown
// id, a selection index below 0); an error that arises while computing a
// value (a type mismatch, a kernel error, cancellation) is that value's
// result instead: it reaches every value computed from it and is returned
// by Materialize, as a Status whose message says where it arose
// ("fedavg.fed:12:5: federated_mean: ...").
//
// Ownership. Create returns an OwnedValue: a move-only handle that disposes
// of its value when destroyed (Release() gives up that duty, for holders
// such as the executor service that keep ids in their own tables). Values
// that other values are computed from stay alive inside the executor until
// those computations are done, whatever happens to their handles. An
// executor must outlive the handles it gave out.
//
// In-process values are never serialized: tensors pass by shared reference
// in and out of an in-process executor.
//
// Thread-safety: every method may be called concurrently from any thread,
// except that Materialize must not be called from a thread of the pool the
// executor runs on (it blocks).
#ifndef FEDEXEC_EXECUTORS_EXECUTOR_H_
#define FEDEXEC_EXECUTORS_EXECUTOR_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/value.h"
#include "ir/ast.h"

namespace fedexec {

using ValueId = uint64_t;

class Executor;

// A value held by an executor, disposed of when the handle is destroyed.
class OwnedValue {
 public:
  OwnedValue() = default;
  OwnedValue(Executor* executor, ValueId id) : executor_(executor), id_(id) {}
  OwnedValue(OwnedValue&& other) noexcept
      : executor_(std::exchange(other.executor_, nullptr)), id_(other.id_) {}
  OwnedValue& operator=(OwnedValue&& other) noexcept;
  OwnedValue(const OwnedValue&) = delete;
  OwnedValue& operator=(const OwnedValue&) = delete;
  ~OwnedValue() { Reset(); }

  ValueId id() const { return id_; }
  Executor* executor() const { return executor_; }
  bool valid() const { return executor_ != nullptr; }

  // Disposes of the value now (no-op for an empty handle).
  void Reset();
  // Gives up ownership: the caller disposes of id() itself.
  ValueId Release() {
    executor_ = nullptr;
    return id_;
  }

 private:
  Executor* executor_ = nullptr;
  ValueId id_ = 0;
};

// One element of CreateStruct: an optional name and a value.
struct StructElementId {
  std::string name;
  ValueId value = 0;
};

// Partial aggregation over a shard of clients, for composing executors
// (executors/composing_executor.h): the executor holds clients
// [first_client, first_client + n) of a computation over total_clients
// clients, folds them in the aligned blocks of the canonical tree
// (core/tree_reduce.h, blocks of block_size clients counted from client 0
// of the whole computation; first_client must be a multiple of block_size)
// and returns the nodes of the canonical tiling of its block range, left
// to right. Merging every shard's nodes by that tree gives the result an
// executor holding all clients computes, bit for bit.
//
// The operation of a partial aggregate. On the wire (PartialAggregateRequest
// .op of proto/fedexec/v1/executor_stream.proto) it is the name that
// PartialAggregateOpName gives: "sum", "min", "max", "weighted_sum",
// "secure_sum", "secure_sum_bitwidth", "secure_modular_sum", "aggregate".
enum class PartialAggregateOp {
  kSum,                // federated_sum and federated_mean
  kMin,                // federated_min
  kMax,                // federated_max
  kWeightedSum,        // federated_weighted_mean
  kSecureSum,          // federated_secure_sum
  kSecureSumBitwidth,  // federated_secure_sum_bitwidth
  kSecureModularSum,   // federated_secure_modular_sum
  kAggregate,          // federated_aggregate
};

// The wire name of `op`.
constexpr std::string_view PartialAggregateOpName(PartialAggregateOp op) {
  switch (op) {
    case PartialAggregateOp::kSum:
      return "sum";
    case PartialAggregateOp::kMin:
      return "min";
    case PartialAggregateOp::kMax:
      return "max";
    case PartialAggregateOp::kWeightedSum:
      return "weighted_sum";
    case PartialAggregateOp::kSecureSum:
      return "secure_sum";
    case PartialAggregateOp::kSecureSumBitwidth:
      return "secure_sum_bitwidth";
    case PartialAggregateOp::kSecureModularSum:
      return "secure_modular_sum";
    case PartialAggregateOp::kAggregate:
      return "aggregate";
  }
  return "";
}

// The op whose wire name is `name`, or nullopt for an unknown name.
constexpr std::optional<PartialAggregateOp> ParsePartialAggregateOp(
    std::string_view name) {
  for (PartialAggregateOp op :
       {PartialAggregateOp::kSum, PartialAggregateOp::kMin,
        PartialAggregateOp::kMax, PartialAggregateOp::kWeightedSum,
        PartialAggregateOp::kSecureSum, PartialAggregateOp::kSecureSumBitwidth,
        PartialAggregateOp::kSecureModularSum,
        PartialAggregateOp::kAggregate}) {
    if (PartialAggregateOpName(op) == name) return op;
  }
  return std::nullopt;
}

struct PartialAggregateSpec {
  PartialAggregateOp op = PartialAggregateOp::kSum;
  // The clients' values ({T}@CLIENTS or T@CLIENTS).
  ValueId value = 0;
  // weighted_sum: the weights ({W}@CLIENTS); secure sums: the bound;
  // aggregate: the zero.
  std::optional<ValueId> operand;
  // aggregate: the accumulate function (<U, T> -> U) and the merge
  // function (<U, U> -> U) that combines blocks inside the shard.
  std::optional<ValueId> function;
  std::optional<ValueId> merge;
  int64_t first_client = 0;
  int64_t total_clients = 0;
  int64_t block_size = 0;
};

// One node of a shard's tiling: its place in the canonical tree, what was
// folded into it, and the partial aggregate (a Value: for sum, min, max and
// weighted_sum the running value with the leaves' dtypes; for secure sums
// int64 leaves; for aggregate the accumulator U). `value` is empty when no
// client was folded (cannot happen for a node that covers clients).
struct PartialNode {
  int level = 0;
  int64_t index = 0;
  int64_t count = 0;
  double total_weight = 0;
  std::optional<Value> value;
};

class Executor {
 public:
  virtual ~Executor() = default;

  // A value from memory: tensors are shared, not copied. A federated value
  // must fit the executor (for example, a CLIENTS value that is not
  // all-equal needs one member per client); INVALID_ARGUMENT otherwise.
  virtual absl::StatusOr<OwnedValue> CreateValue(const Value& value) = 0;

  // A value from an IR node: usually a whole computation (a lambda). The
  // tree should be type-checked (ir/type_checker.h); an untyped tree is
  // checked first. Its free references are errors.
  virtual absl::StatusOr<OwnedValue> CreateValue(
      const ir::NodePtr& computation) = 0;

  // function(argument); argument is nullopt for a function without
  // parameter.
  virtual absl::StatusOr<OwnedValue> CreateCall(
      ValueId function, std::optional<ValueId> argument) = 0;

  virtual absl::StatusOr<OwnedValue> CreateStruct(
      const std::vector<StructElementId>& elements) = 0;

  // Element `index` (from 0) of a struct value.
  virtual absl::StatusOr<OwnedValue> CreateSelection(ValueId source,
                                                     int index) = 0;

  // Waits for the value and returns it, concrete (lazy sequences and
  // members produced). A value that is or contains a function cannot be
  // materialized (INVALID_ARGUMENT).
  virtual absl::StatusOr<Value> Materialize(ValueId value) = 0;

  // Forgets the value. INVALID_ARGUMENT for an unknown id.
  virtual absl::Status Dispose(ValueId value) = 0;

  // Stops every computation of this executor: work not yet started is
  // skipped, running per-client loops and reductions stop at their next
  // check, and every value not yet computed (and every later one) becomes
  // CANCELLED. Permanent: a cancelled executor computes nothing more.
  virtual void Cancel() = 0;

  // The number of values the executor holds (for lifetime checks).
  virtual int64_t NumValues() const = 0;

  // See PartialAggregateSpec. The default: UNIMPLEMENTED (an executor
  // without federated values cannot aggregate a shard).
  virtual absl::StatusOr<std::vector<PartialNode>> PartialAggregate(
      const PartialAggregateSpec& spec) {
    (void)spec;
    return absl::UnimplementedError(
        "this executor cannot aggregate a shard of clients");
  }

  // Shorthands taking handles.
  absl::StatusOr<OwnedValue> CreateCall(const OwnedValue& function,
                                        const OwnedValue& argument) {
    return CreateCall(function.id(), argument.id());
  }
  absl::StatusOr<OwnedValue> CreateCall(const OwnedValue& function) {
    return CreateCall(function.id(), std::nullopt);
  }
  absl::StatusOr<OwnedValue> CreateSelection(const OwnedValue& source,
                                             int index) {
    return CreateSelection(source.id(), index);
  }
  absl::StatusOr<Value> Materialize(const OwnedValue& value) {
    return Materialize(value.id());
  }
};

inline OwnedValue& OwnedValue::operator=(OwnedValue&& other) noexcept {
  if (this != &other) {
    Reset();
    executor_ = std::exchange(other.executor_, nullptr);
    id_ = other.id_;
  }
  return *this;
}

inline void OwnedValue::Reset() {
  if (executor_ != nullptr) {
    // Disposing of a value this handle owns cannot fail.
    executor_->Dispose(id_).IgnoreError();
    executor_ = nullptr;
  }
}

}  // namespace fedexec

#endif  // FEDEXEC_EXECUTORS_EXECUTOR_H_
