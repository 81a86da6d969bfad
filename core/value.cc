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
  v.rep_ =
      std::make_shared<const SequenceValue>(SequenceValue{std::move(elements)});
  return v;
}

Value Value::Federated(Placement placement, bool all_equal,
                       std::vector<Value> members) {
  Value v;
  v.rep_ = std::make_shared<const FederatedValue>(
      FederatedValue{placement, all_equal, std::move(members)});
  return v;
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
      return AllEqual(sequence().elements, other.sequence().elements);
    case Kind::kFederated: {
      const FederatedValue& a = federated();
      const FederatedValue& b = other.federated();
      return a.placement == b.placement && a.all_equal == b.all_equal &&
             AllEqual(a.members, b.members);
    }
  }
  return false;
}

}  // namespace fedexec
