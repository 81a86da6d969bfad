// Tests of CheckValueMatchesType: which values are instances of which
// types, and where a mismatch is reported.
#include "ir/value_check.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/types.h"

namespace fedexec::ir {
namespace {

using ::fedexec::test_util::T;
using ::testing::HasSubstr;

void ExpectInvalid(const absl::Status& status, const std::string& substr) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(substr));
}

TEST(CheckValueMatchesTypeTest, TensorsStructsSequencesFederated) {
  const Value f3(Tensor::Vector<float>({1, 2, 3}));
  EXPECT_TRUE(CheckValueMatchesType(f3, T("float32[3]")).ok());
  EXPECT_TRUE(CheckValueMatchesType(f3, T("float32[?]")).ok());
  EXPECT_TRUE(CheckValueMatchesType(f3, T("float32[*]")).ok());
  ExpectInvalid(CheckValueMatchesType(f3, T("float32[4]")),
                "expected float32[4], found float32[3]");
  ExpectInvalid(CheckValueMatchesType(f3, T("float32[3,1]")), "expected");
  ExpectInvalid(CheckValueMatchesType(f3, T("float64[3]")), "expected");

  const Value s =
      Value::Struct({{"a", f3}, {"", Value(Tensor::Scalar<int32_t>(1))}});
  EXPECT_TRUE(CheckValueMatchesType(s, T("<a=float32[3],int32>")).ok());
  EXPECT_TRUE(CheckValueMatchesType(s, T("<float32[3],int32>")).ok());
  ExpectInvalid(CheckValueMatchesType(s, T("<b=float32[3],int32>")),
                "expected <b=float32[3],int32>");
  ExpectInvalid(CheckValueMatchesType(s, T("<a=float32[3],int64>")),
                "at [1]: expected int64, found int32");
  ExpectInvalid(CheckValueMatchesType(s, T("<a=float32[3]>")), "expected");

  const Value seq = Value::Sequence({f3, f3});
  EXPECT_TRUE(CheckValueMatchesType(seq, T("float32[3]*")).ok());
  ExpectInvalid(CheckValueMatchesType(seq, T("float32[2]*")), "at {0}");

  const Value fed = Value::Federated(Placement::kClients, false, {f3, f3});
  EXPECT_TRUE(CheckValueMatchesType(fed, T("{float32[3]}@CLIENTS")).ok());
  ExpectInvalid(CheckValueMatchesType(fed, T("float32[3]@CLIENTS")),
                "expected float32[3]@CLIENTS");
  ExpectInvalid(CheckValueMatchesType(fed, T("{float32[3]}@SERVER")),
                "expected");
  ExpectInvalid(CheckValueMatchesType(f3, T("(float32 -> float32)")),
                "expected (float32 -> float32), found float32[3]");
  ExpectInvalid(CheckValueMatchesType(Value(), T("float32")), "found <none>");
}

TEST(CheckValueMatchesTypeTest, PathsNameNestedElementsAndMembers) {
  const Value f3(Tensor::Vector<float>({1, 2, 3}));
  const Value nested = Value::Struct(
      {{"a", Value::Struct({{"b", f3}})},
       {"", Value::Federated(Placement::kClients, false, {f3, f3})}});
  ExpectInvalid(CheckValueMatchesType(
                    nested, T("<a=<b=float32[4]>,{float32[3]}@CLIENTS>")),
                "at .a.b: expected float32[4], found float32[3]");
  ExpectInvalid(
      CheckValueMatchesType(nested, T("<a=<b=float32[3]>,{int32[3]}@CLIENTS>")),
      "at [1]@0: expected int32[3], found float32[3]");
}

TEST(CheckValueMatchesTypeTest, LazySequencesAreNotTraversed) {
  class Failing : public LazyElements {
   public:
    absl::Status ForEach(
        absl::FunctionRef<absl::Status(const Value&)>) const override {
      return absl::InternalError("traversed");
    }
  };
  EXPECT_TRUE(
      CheckValueMatchesType(Value::LazySequence(std::make_shared<Failing>()),
                            T("float32[3]*"))
          .ok());
}

}  // namespace
}  // namespace fedexec::ir
