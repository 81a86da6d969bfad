// Helpers shared by the aggregators' tests (aggregators_test.cc,
// aggregators_secure_test.cc): values from the value syntax, exact
// comparisons, and folds of lists of values.
#ifndef FEDEXEC_EXECUTORS_AGGREGATORS_TEST_UTIL_H_
#define FEDEXEC_EXECUTORS_AGGREGATORS_TEST_UTIL_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/value.h"
#include "executors/aggregators.h"
#include "gtest/gtest.h"
#include "ir/value_syntax.h"

namespace fedexec::exec::aggregators_test {

// The value `text` denotes in the value syntax (ir/value_syntax.h).
inline Value V(absl::string_view text) {
  absl::StatusOr<Value> v = ir::ParseValue(text);
  EXPECT_TRUE(v.ok()) << text << ": " << v.status();
  return v.ok() ? *v : Value();
}

// Prints a result, or its error, for readable comparisons.
inline std::string Show(const absl::StatusOr<Value>& v) {
  if (!v.ok()) return absl::StrCat("error: ", v.status().ToString());
  return ir::PrintValue(*v);
}

// Expects `result` to be exactly (bit for bit, names included) `expected`.
inline void ExpectValue(const absl::StatusOr<Value>& result,
                        absl::string_view expected) {
  ASSERT_TRUE(result.ok()) << result.status();
  const Value want = V(expected);
  EXPECT_TRUE(result->Equals(want))
      << "got " << Show(result) << ", want " << ir::PrintValue(want);
}

inline void ExpectError(const absl::Status& status, absl::StatusCode code,
                        absl::string_view message) {
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_EQ(std::string(status.message()), std::string(message)) << status;
}
inline void ExpectInvalid(const absl::Status& status,
                          absl::string_view message) {
  ExpectError(status, absl::StatusCode::kInvalidArgument, message);
}

// Folds every value (with its weight, default 1) into one accumulator.
inline absl::Status FoldAll(AggregateOp op, Accumulator& acc,
                            const std::vector<Value>& xs,
                            const std::vector<double>& weights = {}) {
  for (size_t i = 0; i < xs.size(); ++i) {
    absl::Status s = Fold(op, acc, xs[i], weights.empty() ? 1.0 : weights[i]);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

inline absl::StatusOr<Value> Aggregate(
    AggregateOp op, const std::vector<Value>& xs,
    const std::vector<double>& weights = {}) {
  Accumulator acc;
  absl::Status s = FoldAll(op, acc, xs, weights);
  if (!s.ok()) return s;
  return Finish(std::move(acc));
}

inline std::vector<Value> Vs(std::vector<const char*> texts) {
  std::vector<Value> out;
  for (const char* t : texts) out.push_back(V(t));
  return out;
}

}  // namespace fedexec::exec::aggregators_test

#endif  // FEDEXEC_EXECUTORS_AGGREGATORS_TEST_UTIL_H_
