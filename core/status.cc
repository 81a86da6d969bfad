// Status helpers.
#include "core/status.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace fedexec {

absl::Status ErrnoError(const std::string& path, absl::string_view what,
                        int error) {
  const std::string message =
      absl::StrCat(path, ": ", what, ": ", std::strerror(error));
  switch (error) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InvalidArgumentError(message);
  }
}

}  // namespace fedexec
