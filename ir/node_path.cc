// Building node paths for error messages (see ir/node_path.h).
#include "ir/node_path.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fedexec::ir {

std::string BlockLocalStep(size_t index) {
  return absl::StrCat("block.local[", index, "]");
}

std::string StructElementStep(size_t index) {
  return absl::StrCat("struct[", index, "]");
}

std::string ChildPath(const std::string& parent, absl::string_view step) {
  if (parent.empty() || parent == kRootPath) return std::string(step);
  return absl::StrCat(parent, "/", step);
}

std::string JoinPath(const std::vector<std::string>& steps) {
  if (steps.empty()) return std::string(kRootPath);
  return absl::StrJoin(steps, "/");
}

std::string AtPath(const std::string& path, absl::string_view message) {
  return absl::StrCat(path, ": ", message);
}

}  // namespace fedexec::ir
