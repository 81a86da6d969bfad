// Value factories and structural equality.
#include "core/value.h"

#include <utility>

namespace fedexec {

Value Value::Struct(std::vector<std::pair<std::string, Value>> elements) {
  auto rep = std::make_shared<StructValue>();
  rep->elements.reserve(elements.size());
  for (auto& [name, value] : elements) {
    rep->elements.push_back(
        {std::move(name), std::make_shared<const Value>(std::move(value))});
  }
  Value v;
  v.rep_ = std::shared_ptr<const StructValue>(std::move(rep));
  return v;
}

Value Value::Sequence(std::vector<Value> elements) {
  Value v;
  v.rep_ = std::make_shared<const SequenceValue>(
      SequenceValue{std::move(elements), nullptr});
  return v;
}

Value Value::Federated(Placement placement, bool all_equal,
                       std::vector<Value> members) {
  Value v;
  v.rep_ = std::make_shared<const FederatedValue>(
      FederatedValue{placement, all_equal, std::move(members), nullptr});
  return v;
}

Value Value::LazySequence(std::shared_ptr<const LazyElements> elements) {
  Value v;
  v.rep_ = std::make_shared<const SequenceValue>(
      SequenceValue{{}, std::move(elements)});
  return v;
}

Value Value::LazyFederated(Placement placement,
                           std::shared_ptr<const LazyMembers> members) {
  Value v;
  v.rep_ = std::make_shared<const FederatedValue>(
      FederatedValue{placement, false, {}, std::move(members)});
  return v;
}

Value Value::Function(std::shared_ptr<const FunctionValue> function) {
  Value v;
  v.rep_ = std::move(function);
  return v;
}

absl::Status SequenceValue::ForEach(
    absl::FunctionRef<absl::Status(const Value&)> fn) const {
  if (lazy != nullptr) return lazy->ForEach(fn);
  for (const Value& element : elements) {
    absl::Status status = fn(element);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

int64_t FederatedValue::size() const {
  return lazy != nullptr ? lazy->size() : static_cast<int64_t>(members.size());
}

absl::StatusOr<Value> FederatedValue::Member(int64_t i) const {
  if (lazy != nullptr) return lazy->Get(i);
  return members[static_cast<size_t>(i)];
}

bool Value::IsConcrete() const {
  switch (kind()) {
    case Kind::kTensor:
    case Kind::kFunction:
      return true;
    case Kind::kStruct:
      for (const auto& e : struct_value().elements) {
        if (!e.value->IsConcrete()) return false;
      }
      return true;
    case Kind::kSequence:
      if (sequence().lazy != nullptr) return false;
      for (const Value& e : sequence().elements) {
        if (!e.IsConcrete()) return false;
      }
      return true;
    case Kind::kFederated:
      if (federated().lazy != nullptr) return false;
      for (const Value& m : federated().members) {
        if (!m.IsConcrete()) return false;
      }
      return true;
  }
  return true;
}

namespace {

bool AllEqual(const std::vector<Value>& a, const std::vector<Value>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].Equals(b[i])) return false;
  }
  return true;
}

}  // namespace

bool Value::Equals(const Value& other) const {
  if (kind() != other.kind()) return false;
  switch (kind()) {
    case Kind::kTensor:
      return tensor().Equals(other.tensor());
    case Kind::kStruct: {
      const auto& a = struct_value().elements;
      const auto& b = other.struct_value().elements;
      if (&a == &b) return true;
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i) {
        if (a[i].name != b[i].name || !a[i].value->Equals(*b[i].value)) {
          return false;
        }
      }
      return true;
    }
    case Kind::kSequence:
      return sequence().lazy == other.sequence().lazy &&
             AllEqual(sequence().elements, other.sequence().elements);
    case Kind::kFederated: {
      const FederatedValue& a = federated();
      const FederatedValue& b = other.federated();
      return a.placement == b.placement && a.all_equal == b.all_equal &&
             a.lazy == b.lazy && AllEqual(a.members, b.members);
    }
    case Kind::kFunction:
      return function() == other.function();
  }
  return false;
}

}  // namespace fedexec
