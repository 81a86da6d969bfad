// In-memory values of fedexec: tensors, structs, sequences and federated
// values. A Value is a cheap handle (shared, immutable contents): copying it
// never copies tensor data.
//
// Thread-safety: immutable once built; safe to read and copy from any thread.
#ifndef FEDEXEC_CORE_VALUE_H_
#define FEDEXEC_CORE_VALUE_H_

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "core/placement.h"
#include "core/tensor.h"

namespace fedexec {

class Value;

struct StructValue {
  struct Element {
    std::string name;  // empty when unnamed
    std::shared_ptr<const Value> value;
  };
  std::vector<Element> elements;
};

// A sequence (for example a client's dataset): its elements in order.
struct SequenceValue {
  std::vector<Value> elements;
};

// A value placed at SERVER or CLIENTS. All-equal values hold one member;
// otherwise one member per placed participant.
struct FederatedValue {
  Placement placement = Placement::kServer;
  bool all_equal = true;
  std::vector<Value> members;
};

class Value {
 public:
  enum class Kind { kTensor, kStruct, kSequence, kFederated };

  Value() : rep_(Tensor()) {}
  Value(Tensor tensor) : rep_(std::move(tensor)) {}  // NOLINT: implicit

  static Value Struct(std::vector<std::pair<std::string, Value>> elements);
  static Value Sequence(std::vector<Value> elements);
  static Value Federated(Placement placement, bool all_equal,
                         std::vector<Value> members);

  Kind kind() const { return static_cast<Kind>(rep_.index()); }
  bool is_tensor() const { return kind() == Kind::kTensor; }
  bool is_struct() const { return kind() == Kind::kStruct; }
  bool is_sequence() const { return kind() == Kind::kSequence; }
  bool is_federated() const { return kind() == Kind::kFederated; }

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

  // Structural equality: same kinds, names, and bit-identical tensors.
  bool Equals(const Value& other) const;
  friend bool operator==(const Value& a, const Value& b) { return a.Equals(b); }

 private:
  std::variant<Tensor, std::shared_ptr<const StructValue>,
               std::shared_ptr<const SequenceValue>,
               std::shared_ptr<const FederatedValue>>
      rep_;
};

}  // namespace fedexec

#endif  // FEDEXEC_CORE_VALUE_H_
