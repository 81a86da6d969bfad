// CheckValueMatchesType: a value against a concrete type, with the path of
// the first mismatch.
#include "ir/value_check.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "core/value_description.h"

namespace fedexec::ir {
namespace {

// Where a value sits inside the checked value: built on the stack as the
// check descends, turned into text ("[1].b{2}") only for an error, so a
// successful check allocates nothing.
struct PathStep {
  const PathStep* parent = nullptr;
  enum class Kind { kElement, kSequence, kMember } kind = Kind::kElement;
  const std::string* name = nullptr;  // a named struct element
  size_t index = 0;
};

std::string PathText(const PathStep* step) {
  std::vector<const PathStep*> steps;
  for (; step != nullptr; step = step->parent) steps.push_back(step);
  std::string out;
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    const PathStep& s = **it;
    switch (s.kind) {
      case PathStep::Kind::kElement:
        if (s.name != nullptr && !s.name->empty()) {
          absl::StrAppend(&out, ".", *s.name);
        } else {
          absl::StrAppend(&out, "[", s.index, "]");
        }
        break;
      case PathStep::Kind::kSequence:
        absl::StrAppend(&out, "{", s.index, "}");
        break;
      case PathStep::Kind::kMember:
        absl::StrAppend(&out, "@", s.index);
        break;
    }
  }
  return out;
}

absl::Status MismatchAt(const PathStep* step, const Type& type,
                        const Value& value) {
  const std::string path = PathText(step);
  return absl::InvalidArgumentError(absl::StrCat(
      path.empty() ? "" : absl::StrCat("at ", path, ": "), "expected ",
      type.ToString(), ", found ", DescribeValue(value)));
}

absl::Status MatchAt(const Value& value, const Type& type,
                     const PathStep* path) {
  switch (type.kind()) {
    case TypeKind::kTensor: {
      if (!value.is_tensor() || !value.tensor().valid() ||
          value.tensor().dtype() != type.dtype()) {
        return MismatchAt(path, type, value);
      }
      if (type.unknown_rank()) return absl::OkStatus();
      const std::vector<int64_t>& shape = value.tensor().shape();
      if (shape.size() != type.dims().size()) {
        return MismatchAt(path, type, value);
      }
      for (size_t i = 0; i < shape.size(); ++i) {
        if (type.dims()[i] != kUnknownDim && type.dims()[i] != shape[i]) {
          return MismatchAt(path, type, value);
        }
      }
      return absl::OkStatus();
    }
    case TypeKind::kStruct: {
      if (!value.is_struct() ||
          value.struct_value().elements.size() != type.elements().size()) {
        return MismatchAt(path, type, value);
      }
      const auto& elements = value.struct_value().elements;
      for (size_t i = 0; i < elements.size(); ++i) {
        const std::string& name = type.elements()[i].name;
        if (!name.empty() && elements[i].name != name) {
          return MismatchAt(path, type, value);
        }
        const PathStep step{path, PathStep::Kind::kElement, &elements[i].name,
                            i};
        FEDEXEC_RETURN_IF_ERROR(
            MatchAt(*elements[i].value, type.elements()[i].type, &step));
      }
      return absl::OkStatus();
    }
    case TypeKind::kSequence: {
      if (!value.is_sequence()) return MismatchAt(path, type, value);
      // A lazy sequence's elements are checked by whoever traverses it.
      const auto& elements = value.sequence().elements;
      for (size_t i = 0; i < elements.size(); ++i) {
        const PathStep step{path, PathStep::Kind::kSequence, nullptr, i};
        FEDEXEC_RETURN_IF_ERROR(MatchAt(elements[i], type.element(), &step));
      }
      return absl::OkStatus();
    }
    case TypeKind::kFederated: {
      if (!value.is_federated() ||
          value.federated().placement != type.placement() ||
          (type.all_equal() && !value.federated().all_equal)) {
        return MismatchAt(path, type, value);
      }
      const auto& members = value.federated().members;
      for (size_t i = 0; i < members.size(); ++i) {
        const PathStep step{path, PathStep::Kind::kMember, nullptr, i};
        FEDEXEC_RETURN_IF_ERROR(MatchAt(members[i], type.member(), &step));
      }
      return absl::OkStatus();
    }
    default:
      // Functions, placements and abstract types have no Value.
      return MismatchAt(path, type, value);
  }
}

}  // namespace

absl::Status CheckValueMatchesType(const Value& value, const Type& type) {
  return MatchAt(value, type, nullptr);
}

}  // namespace fedexec::ir
