// A short way to write types in tests: T("{float32}@CLIENTS"). Tests only.
#ifndef FEDEXEC_TESTING_TYPES_H_
#define FEDEXEC_TESTING_TYPES_H_

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "ir/type.h"

namespace fedexec::test_util {

// The type `text` denotes; a parse error fails the current test (and gives
// the default type).
inline ir::Type T(absl::string_view text) {
  absl::StatusOr<ir::Type> type = ir::ParseType(text);
  EXPECT_TRUE(type.ok()) << text << ": " << type.status();
  return type.ok() ? *type : ir::Type();
}

}  // namespace fedexec::test_util

#endif  // FEDEXEC_TESTING_TYPES_H_
