// Status helpers used across fedexec: errors are values (absl::Status), and
// these macros keep the propagation of them to one line.
//
// Thread-safety: stateless.
#ifndef FEDEXEC_CORE_STATUS_H_
#define FEDEXEC_CORE_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#define FEDEXEC_STATUS_CONCAT_INNER_(a, b) a##b
#define FEDEXEC_STATUS_CONCAT_(a, b) FEDEXEC_STATUS_CONCAT_INNER_(a, b)

// Returns from the current function if `expr` is not OK.
#define FEDEXEC_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::absl::Status fedexec_status_ = (expr);           \
    if (!fedexec_status_.ok()) return fedexec_status_; \
  } while (0)

// `lhs = value of rexpr`, or returns its status if it is an error.
// lhs may declare a variable: FEDEXEC_ASSIGN_OR_RETURN(auto x, F());
#define FEDEXEC_ASSIGN_OR_RETURN(lhs, rexpr) \
  FEDEXEC_ASSIGN_OR_RETURN_IMPL_(            \
      FEDEXEC_STATUS_CONCAT_(fedexec_statusor_, __LINE__), lhs, rexpr)

#define FEDEXEC_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();   \
  lhs = std::move(statusor).value()

namespace fedexec {

// The status for a failed file operation with errno `error`:
// "<path>: <what>: <strerror>", NOT_FOUND for a missing file or directory,
// PERMISSION_DENIED for a refused one, INVALID_ARGUMENT otherwise (the
// path is the user's input).
absl::Status ErrnoError(const std::string& path, absl::string_view what,
                        int error);

}  // namespace fedexec

#endif  // FEDEXEC_CORE_STATUS_H_
