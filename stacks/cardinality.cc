#include "stacks/cardinality.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace fedexec::stacks {
namespace {

std::string ElementPath(const std::string& parent,
                        const StructValue::Element& element, size_t index) {
  if (element.name.empty()) return absl::StrCat(parent, "[", index, "]");
  if (parent.empty()) return element.name;
  return absl::StrCat(parent, ".", element.name);
}

std::string Describe(const std::string& path) {
  return path.empty() ? "argument" : absl::StrCat("argument ", path);
}

}  // namespace

absl::StatusOr<std::optional<int64_t>> InferClientCount(const Value& argument) {
  std::optional<int64_t> count;
  std::string count_path;
  // Iterative depth-first search in element order (structs may nest
  // deeply), so the first CLIENTS value found is the leftmost one.
  std::vector<std::pair<const Value*, std::string>> stack;
  stack.emplace_back(&argument, "");
  while (!stack.empty()) {
    auto [value, path] = std::move(stack.back());
    stack.pop_back();
    if (value->is_struct()) {
      const auto& elements = value->struct_value().elements;
      for (size_t i = elements.size(); i-- > 0;) {
        if (elements[i].value == nullptr) continue;
        stack.emplace_back(elements[i].value.get(),
                           ElementPath(path, elements[i], i));
      }
      continue;
    }
    if (!value->is_federated()) continue;
    const FederatedValue& federated = value->federated();
    if (federated.placement != Placement::kClients || federated.all_equal) {
      continue;
    }
    const int64_t size = federated.size();
    if (!count.has_value()) {
      count = size;
      count_path = std::move(path);
    } else if (*count != size) {
      return absl::InvalidArgumentError(
          absl::StrCat(Describe(count_path), " has ", *count, " clients but ",
                       path, " has ", size));
    }
  }
  return count;
}

}  // namespace fedexec::stacks
