// DescribeValue: values in the type notation, for messages.
#include "core/value_description.h"

#include "absl/strings/str_cat.h"

namespace fedexec {

std::string DescribeValue(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kTensor:
      if (!value.tensor().valid()) return "<none>";
      return value.tensor().TypeString();
    case Value::Kind::kStruct: {
      std::string out = "<";
      const auto& elements = value.struct_value().elements;
      for (size_t i = 0; i < elements.size(); ++i) {
        if (i > 0) out += ",";
        if (!elements[i].name.empty())
          absl::StrAppend(&out, elements[i].name, "=");
        out += DescribeValue(*elements[i].value);
      }
      return out + ">";
    }
    case Value::Kind::kSequence: {
      const auto& elements = value.sequence().elements;
      if (value.sequence().lazy != nullptr) return "<lazy>*";
      if (elements.empty()) return "<empty>*";
      return DescribeValue(elements[0]) + "*";
    }
    case Value::Kind::kFederated: {
      const FederatedValue& f = value.federated();
      const std::string member = f.lazy != nullptr ? "<lazy>"
                                 : f.members.empty()
                                     ? "<none>"
                                     : DescribeValue(f.members[0]);
      const std::string placement =
          f.placement == Placement::kServer ? "SERVER" : "CLIENTS";
      if (f.all_equal) return absl::StrCat(member, "@", placement);
      return absl::StrCat("{", member, "}@", placement);
    }
    case Value::Kind::kFunction:
      return value.function() != nullptr ? value.function()->Describe()
                                         : "<function>";
  }
  return "<unknown>";
}

}  // namespace fedexec
