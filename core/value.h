// In-memory values of fedexec: tensors, structs, sequences, federated
// values and (inside executors) functions. A Value is a cheap handle (shared,
// immutable contents): copying it never copies tensor data.
//
// Values that users build and read are concrete: every tensor, element and
// member is present. Inside an execution stack two lazy forms also occur,
// so that whole mapped sequences and whole per-client datasets need not be
// held in memory at once:
// - a lazy sequence (SequenceValue::lazy) produces its elements one by one
//   each time it is traversed (sequence_map over a client's dataset);
// - lazy members (FederatedValue::lazy) produce member i on demand
//   (federated_eval_at_clients), so an aggregation over them holds only the
//   members of the clients it is folding.
// Executors hand users concrete values only (materializing turns lazy forms
// into concrete ones). Code that reads values produced inside a stack uses
// SequenceValue::ForEach and FederatedValue::Member, which work for both.
//
// Thread-safety: immutable once built; safe to read and copy from any thread.
#ifndef FEDEXEC_CORE_VALUE_H_
#define FEDEXEC_CORE_VALUE_H_

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/placement.h"
#include "core/tensor.h"

namespace fedexec {

class Value;

// A function value: opaque here. Executors define what calling one means
// (executors/function.h); core only carries it through structs and
// placements.
class FunctionValue {
 public:
  virtual ~FunctionValue() = default;
  // For messages: the function's type and what it is, e.g.
  // "(float32 -> float32) lambda at 3:5".
  virtual std::string Describe() const = 0;
};

// Elements of a lazy sequence, produced again on each traversal.
class LazyElements {
 public:
  virtual ~LazyElements() = default;
  // Calls fn on each element in order; stops at and returns the first error
  // (of fn or of producing an element).
  virtual absl::Status ForEach(
      absl::FunctionRef<absl::Status(const Value&)> fn) const = 0;
};

// Members of a lazy federated value, produced on demand (again on each
// request: Get(i) must return the same value each time it is asked).
class LazyMembers {
 public:
  virtual ~LazyMembers() = default;
  virtual int64_t size() const = 0;
  // REQUIRES: 0 <= i < size(). Safe to call concurrently.
  virtual absl::StatusOr<Value> Get(int64_t i) const = 0;
};

struct StructValue {
  struct Element {
    std::string name;  // empty when unnamed
    std::shared_ptr<const Value> value;
  };
  std::vector<Element> elements;
};

// A sequence (for example a client's dataset): its elements in order, or
// (when `lazy` is set, and then `elements` is empty) a producer of them.
struct SequenceValue {
  std::vector<Value> elements;
  std::shared_ptr<const LazyElements> lazy;

  // Calls fn on each element in order, for both forms.
  absl::Status ForEach(absl::FunctionRef<absl::Status(const Value&)> fn) const;
};

// A value placed at SERVER or CLIENTS. All-equal values hold one member;
// otherwise one member per placed participant: in `members`, or (when
// `lazy` is set, and then `members` is empty) produced on demand.
struct FederatedValue {
  Placement placement = Placement::kServer;
  bool all_equal = true;
  std::vector<Value> members;
  std::shared_ptr<const LazyMembers> lazy;

  // The number of members, for both forms.
  int64_t size() const;
  // Member i, for both forms. REQUIRES: 0 <= i < size().
  absl::StatusOr<Value> Member(int64_t i) const;
};

class Value {
 public:
  enum class Kind { kTensor, kStruct, kSequence, kFederated, kFunction };

  Value() : rep_(Tensor()) {}
  Value(Tensor tensor) : rep_(std::move(tensor)) {}  // NOLINT: implicit

  static Value Struct(std::vector<std::pair<std::string, Value>> elements);
  static Value Sequence(std::vector<Value> elements);
  static Value Federated(Placement placement, bool all_equal,
                         std::vector<Value> members);
  static Value LazySequence(std::shared_ptr<const LazyElements> elements);
  // Not all-equal, members produced on demand.
  static Value LazyFederated(Placement placement,
                             std::shared_ptr<const LazyMembers> members);
  static Value Function(std::shared_ptr<const FunctionValue> function);

  Kind kind() const { return static_cast<Kind>(rep_.index()); }
  bool is_tensor() const { return kind() == Kind::kTensor; }
  bool is_struct() const { return kind() == Kind::kStruct; }
  bool is_sequence() const { return kind() == Kind::kSequence; }
  bool is_federated() const { return kind() == Kind::kFederated; }
  bool is_function() const { return kind() == Kind::kFunction; }

  // REQUIRES: the matching kind.
  const Tensor& tensor() const { return std::get<Tensor>(rep_); }
  const StructValue& struct_value() const {
    return *std::get<std::shared_ptr<const StructValue>>(rep_);
  }
  const SequenceValue& sequence() const {
    return *std::get<std::shared_ptr<const SequenceValue>>(rep_);
  }
  const FederatedValue& federated() const {
    return *std::get<std::shared_ptr<const FederatedValue>>(rep_);
  }
  const std::shared_ptr<const FunctionValue>& function() const {
    return std::get<std::shared_ptr<const FunctionValue>>(rep_);
  }

  // Whether this value is concrete: no lazy sequence or lazy members
  // anywhere inside (functions count as concrete).
  bool IsConcrete() const;

  // Structural equality: same kinds, names, and bit-identical tensors.
  // Lazy forms and functions compare by identity.
  bool Equals(const Value& other) const;
  friend bool operator==(const Value& a, const Value& b) { return a.Equals(b); }

 private:
  std::variant<Tensor, std::shared_ptr<const StructValue>,
               std::shared_ptr<const SequenceValue>,
               std::shared_ptr<const FederatedValue>,
               std::shared_ptr<const FunctionValue>>
      rep_;
};

}  // namespace fedexec

#endif  // FEDEXEC_CORE_VALUE_H_
