// Specification of the intrinsic signatures (ir/intrinsics.h): the concrete
// function type each intrinsic takes for an argument, and the error for each
// kind of wrong argument.
#include "ir/intrinsics.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>

#include "core/limits.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/types.h"

namespace fedexec::ir {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using ::fedexec::test_util::T;

// The inferred function type as text, or "error: <message>".
std::string Infer(absl::string_view uri, absl::string_view argument) {
  Type arg = T(argument);
  absl::StatusOr<Type> type = InferIntrinsicType(uri, &arg);
  if (!type.ok()) {
    EXPECT_EQ(type.status().code(), absl::StatusCode::kInvalidArgument);
    return "error: " + std::string(type.status().message());
  }
  return type->ToString();
}

// ------------------------------------------------------------ the table

TEST(IntrinsicsTest, UrisAreSortedAndKnown) {
  const auto& uris = IntrinsicUris();
  EXPECT_EQ(uris.size(), 28u);
  EXPECT_TRUE(std::is_sorted(uris.begin(), uris.end()));
  for (const std::string& uri : uris) EXPECT_TRUE(IsIntrinsic(uri)) << uri;
  EXPECT_FALSE(IsIntrinsic("federated_foo"));
  EXPECT_FALSE(IsIntrinsic(""));
}

TEST(IntrinsicsTest, EveryUriNamesOneIntrinsicOfItsFamily) {
  std::set<Intrinsic> seen;
  for (const std::string& uri : IntrinsicUris()) {
    std::optional<Intrinsic> intrinsic = FindIntrinsic(uri);
    ASSERT_TRUE(intrinsic.has_value()) << uri;
    EXPECT_EQ(IntrinsicUri(*intrinsic), uri);
    EXPECT_TRUE(seen.insert(*intrinsic).second) << uri;
    const IntrinsicFamily family = FamilyOf(*intrinsic);
    const std::string prefix =
        family == IntrinsicFamily::kFederated ? "federated_"
        : family == IntrinsicFamily::kGeneric ? "generic_"
                                              : "sequence_";
    EXPECT_THAT(uri, StartsWith(prefix));
  }
  EXPECT_EQ(seen.size(), IntrinsicUris().size());
  EXPECT_EQ(FindIntrinsic("federated_sum"), Intrinsic::kFederatedSum);
  EXPECT_EQ(IntrinsicUri(Intrinsic::kSequenceReduce), "sequence_reduce");
  EXPECT_EQ(FindIntrinsic("federated_foo"), std::nullopt);
  EXPECT_EQ(FindIntrinsic(""), std::nullopt);
}

TEST(IntrinsicsTest, EveryIntrinsicHasASignatureInTheTypeNotation) {
  for (const std::string& uri : IntrinsicUris()) {
    const std::string signature = IntrinsicSignature(uri);
    ASSERT_FALSE(signature.empty()) << uri;
    if (uri == "federated_zip_at_clients" || uri == "federated_zip_at_server") {
      EXPECT_THAT(signature, HasSubstr("..."));  // variadic
      continue;
    }
    EXPECT_TRUE(ParseType(signature).ok()) << uri << ": " << signature;
  }
}

TEST(IntrinsicsTest, SignatureTexts) {
  EXPECT_EQ(IntrinsicSignature("federated_sum"), "({T}@CLIENTS -> T@SERVER)");
  EXPECT_EQ(IntrinsicSignature("federated_map"),
            "(<(T -> U), {T}@CLIENTS> -> {U}@CLIENTS)");
  EXPECT_EQ(IntrinsicSignature("federated_eval_at_server"),
            "(( -> T) -> T@SERVER)");
  EXPECT_EQ(IntrinsicSignature("federated_zip_at_clients"),
            "(<{T1}@CLIENTS, {T2}@CLIENTS, ...> -> {<T1, T2, ...>}@CLIENTS)");
  EXPECT_EQ(IntrinsicSignature("generic_zero"), "T");
  EXPECT_EQ(IntrinsicSignature("federated_foo"), "");
}

TEST(IntrinsicsTest, UnknownIntrinsic) {
  Type arg = T("int32");
  absl::StatusOr<Type> type = InferIntrinsicType("federated_foo", &arg);
  ASSERT_FALSE(type.ok());
  EXPECT_EQ(type.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(type.status().message(), "unknown intrinsic 'federated_foo'");
}

TEST(IntrinsicsTest, MissingArgument) {
  absl::StatusOr<Type> type = InferIntrinsicType("federated_sum", nullptr);
  ASSERT_FALSE(type.ok());
  EXPECT_EQ(type.status().message(),
            "federated_sum expects {T}@CLIENTS with numeric T, found no "
            "argument");
}

TEST(IntrinsicsTest, TooDeepArgumentIsRejectedBeforeMatching) {
  Type deep = T("int32");
  for (int i = 0; i < kMaxNestingDepth + 5; ++i) {
    deep = Type::Struct({{"", deep}});
  }
  absl::StatusOr<Type> type =
      InferIntrinsicType("federated_value_at_server", &deep);
  ASSERT_FALSE(type.ok());
  EXPECT_THAT(type.status().message(), HasSubstr("more than the limit"));
}

// ------------------------------------------------------------ aggregate

TEST(IntrinsicsTest, FederatedAggregate) {
  EXPECT_EQ(Infer("federated_aggregate",
                  "<{int32}@CLIENTS, float32, (<float32,int32> -> float32),"
                  " (<float32,float32> -> float32), (float32 -> float64)>"),
            "(<{int32}@CLIENTS,float32,(<float32,int32> -> float32),"
            "(<float32,float32> -> float32),(float32 -> float64)> -> "
            "float64@SERVER)");
  // An all-equal CLIENTS value is aggregated like a per-client one.
  EXPECT_EQ(Infer("federated_aggregate",
                  "<int32@CLIENTS, int64, (<int64,int32> -> int64),"
                  " (<int64,int64> -> int64), (int64 -> int64)>"),
            "(<{int32}@CLIENTS,int64,(<int64,int32> -> int64),"
            "(<int64,int64> -> int64),(int64 -> int64)> -> int64@SERVER)");
}

TEST(IntrinsicsTest, FederatedAggregateErrors) {
  EXPECT_EQ(Infer("federated_aggregate",
                  "<{int32}@CLIENTS, float32, (<float32,int32> -> float32),"
                  " (<float32,float32> -> float32)>"),
            "error: federated_aggregate expects 5 arguments <{T}@CLIENTS, U, "
            "(<U, T> -> U), (<U, U> -> U), (U -> R)>, found 4");
  // The merge does not work on accumulators.
  EXPECT_THAT(Infer("federated_aggregate",
                    "<{int32}@CLIENTS, float32, (<float32,int32> -> float32),"
                    " (<int32,int32> -> int32), (float32 -> float64)>"),
              StartsWith("error: federated_aggregate expects <{T}@CLIENTS, "
                         "U, (<U, T> -> U), (<U, U> -> U), (U -> R)>, found "));
  // The values are at the server.
  EXPECT_THAT(Infer("federated_aggregate",
                    "<int32@SERVER, float32, (<float32,int32> -> float32),"
                    " (<float32,float32> -> float32), (float32 -> float64)>"),
              HasSubstr("argument 1 int32@SERVER is placed at SERVER, not "
                        "CLIENTS"));
  // A federated zero.
  EXPECT_THAT(
      Infer("federated_aggregate",
            "<{int32}@CLIENTS, float32@SERVER, (<float32@SERVER,int32> -> "
            "float32@SERVER), (<float32@SERVER,float32@SERVER> -> "
            "float32@SERVER), (float32@SERVER -> float64)>"),
      HasSubstr("U = float32@SERVER is federated"));
}

// ------------------------------------------------------------ placement moves

TEST(IntrinsicsTest, FederatedApply) {
  EXPECT_EQ(Infer("federated_apply", "<(int32 -> float32[2]), int32@SERVER>"),
            "(<(int32 -> float32[2]),int32@SERVER> -> float32[2]@SERVER)");
  EXPECT_THAT(Infer("federated_apply", "<(int32 -> float32), {int32}@CLIENTS>"),
              HasSubstr("argument 2 {int32}@CLIENTS is placed at CLIENTS, not "
                        "SERVER"));
  EXPECT_THAT(Infer("federated_apply", "<(float32 -> float32), int32@SERVER>"),
              StartsWith("error: federated_apply expects <(T -> U), "
                         "T@SERVER>, found <(float32 -> float32),"
                         "int32@SERVER>: "));
  EXPECT_THAT(Infer("federated_apply", "<(int32 -> float32), int32>"),
              HasSubstr("argument 2 int32 is not a federated value"));
  EXPECT_THAT(Infer("federated_apply", "(int32 -> float32)"),
              StartsWith("error: federated_apply expects 2 arguments"));
}

TEST(IntrinsicsTest, FederatedBroadcast) {
  EXPECT_EQ(Infer("federated_broadcast", "float32[3]@SERVER"),
            "(float32[3]@SERVER -> float32[3]@CLIENTS)");
  EXPECT_EQ(Infer("federated_broadcast", "<a=int32,b=<float32>>@SERVER"),
            "(<a=int32,b=<float32>>@SERVER -> <a=int32,b=<float32>>@CLIENTS)");
  EXPECT_EQ(Infer("federated_broadcast", "float32@CLIENTS"),
            "error: federated_broadcast expects T@SERVER, found "
            "float32@CLIENTS: the argument float32@CLIENTS is placed at "
            "CLIENTS, not SERVER");
  EXPECT_THAT(Infer("federated_broadcast", "float32"),
              HasSubstr("the argument float32 is not a federated value"));
}

TEST(IntrinsicsTest, FederatedEval) {
  EXPECT_EQ(Infer("federated_eval_at_clients", "( -> int32[?])"),
            "(( -> int32[?]) -> {int32[?]}@CLIENTS)");
  EXPECT_EQ(Infer("federated_eval_at_server", "( -> <x=float32>)"),
            "(( -> <x=float32>) -> <x=float32>@SERVER)");
  EXPECT_THAT(Infer("federated_eval_at_clients", "(int32 -> int32)"),
              StartsWith("error: federated_eval_at_clients expects ( -> T), "
                         "found (int32 -> int32)"));
  EXPECT_THAT(Infer("federated_eval_at_server", "int32"),
              StartsWith("error: federated_eval_at_server expects ( -> T), "
                         "found int32"));
  EXPECT_THAT(Infer("federated_eval_at_server", "( -> int32@SERVER)"),
              HasSubstr("T = int32@SERVER is federated"));
}

TEST(IntrinsicsTest, FederatedValue) {
  EXPECT_EQ(Infer("federated_value_at_clients", "<a=int32,b=float32>"),
            "(<a=int32,b=float32> -> <a=int32,b=float32>@CLIENTS)");
  EXPECT_EQ(Infer("federated_value_at_server", "string[2]"),
            "(string[2] -> string[2]@SERVER)");
  EXPECT_EQ(Infer("federated_value_at_server", "int32@SERVER"),
            "error: federated_value_at_server expects T with non-federated "
            "T, found int32@SERVER: T = int32@SERVER is federated, which T "
            "must not be");
  EXPECT_THAT(Infer("federated_value_at_clients", "<int32, {int32}@CLIENTS>"),
              HasSubstr("is federated"));
}

// ------------------------------------------------------------ map

TEST(IntrinsicsTest, FederatedMapPerClientAndAllEqual) {
  EXPECT_EQ(Infer("federated_map", "<(int32 -> float32), {int32}@CLIENTS>"),
            "(<(int32 -> float32),{int32}@CLIENTS> -> {float32}@CLIENTS)");
  // The parameter is per-client even for an all-equal argument.
  EXPECT_EQ(Infer("federated_map", "<(int32 -> float32), int32@CLIENTS>"),
            "(<(int32 -> float32),{int32}@CLIENTS> -> {float32}@CLIENTS)");
  // Names of the arguments are accepted (the parameter is positional).
  EXPECT_EQ(
      Infer("federated_map", "<fn=(int32 -> float32), arg={int32}@CLIENTS>"),
      "(<(int32 -> float32),{int32}@CLIENTS> -> {float32}@CLIENTS)");
  // A function over unknown dims accepts known ones.
  EXPECT_EQ(Infer("federated_map", "<(int32[?] -> int32), {int32[4]}@CLIENTS>"),
            "(<(int32[?] -> int32),{int32[?]}@CLIENTS> -> {int32}@CLIENTS)");
}

TEST(IntrinsicsTest, FederatedMapErrors) {
  EXPECT_EQ(
      Infer("federated_map", "<(int32 -> float32), {int32}@CLIENTS, int32>"),
      "error: federated_map expects 2 arguments <(T -> U), "
      "{T}@CLIENTS>, found 3");
  EXPECT_EQ(Infer("federated_map", "{int32}@CLIENTS"),
            "error: federated_map expects 2 arguments <(T -> U), "
            "{T}@CLIENTS>, found one of type {int32}@CLIENTS");
  EXPECT_THAT(Infer("federated_map", "<(int32 -> float32), {float32}@CLIENTS>"),
              StartsWith("error: federated_map expects <(T -> U), "
                         "{T}@CLIENTS>, found <(int32 -> float32),"
                         "{float32}@CLIENTS>: "));
  EXPECT_THAT(Infer("federated_map", "<(int32 -> float32), int32@SERVER>"),
              HasSubstr("argument 2 int32@SERVER is placed at SERVER, not "
                        "CLIENTS"));
  EXPECT_THAT(Infer("federated_map", "<int32, {int32}@CLIENTS>"),
              StartsWith("error: federated_map expects"));
  EXPECT_THAT(
      Infer("federated_map", "<(int32 -> float32@SERVER), {int32}@CLIENTS>"),
      HasSubstr("U = float32@SERVER is federated"));
}

TEST(IntrinsicsTest, FederatedMapAllEqual) {
  EXPECT_EQ(
      Infer("federated_map_all_equal", "<(int32 -> float32), int32@CLIENTS>"),
      "(<(int32 -> float32),int32@CLIENTS> -> float32@CLIENTS)");
  EXPECT_THAT(
      Infer("federated_map_all_equal", "<(int32 -> float32), {int32}@CLIENTS>"),
      HasSubstr("argument 2 {int32}@CLIENTS is one value per client, "
                "not one all-equal value"));
}

// ------------------------------------------------------------ mean

TEST(IntrinsicsTest, FederatedMean) {
  EXPECT_EQ(Infer("federated_mean", "{float32[2]}@CLIENTS"),
            "({float32[2]}@CLIENTS -> float32[2]@SERVER)");
  EXPECT_EQ(Infer("federated_mean", "float64@CLIENTS"),
            "({float64}@CLIENTS -> float64@SERVER)");
  EXPECT_EQ(Infer("federated_mean",
                  "{<w=float32[?,3],b=<float16,bfloat16>>}@CLIENTS"),
            "({<w=float32[?,3],b=<float16,bfloat16>>}@CLIENTS -> "
            "<w=float32[?,3],b=<float16,bfloat16>>@SERVER)");
  EXPECT_EQ(Infer("federated_mean", "{int32}@CLIENTS"),
            "error: federated_mean expects {T}@CLIENTS with floating-point T, "
            "found {int32}@CLIENTS: T = int32 is not a floating-point tensor");
  EXPECT_EQ(Infer("federated_mean", "{<float32,<int64>>}@CLIENTS"),
            "error: federated_mean expects {T}@CLIENTS with floating-point T, "
            "found {<float32,<int64>>}@CLIENTS: T = <float32,<int64>> "
            "contains int64, which is not a floating-point tensor");
  EXPECT_THAT(Infer("federated_mean", "float32@SERVER"),
              HasSubstr("placed at SERVER, not CLIENTS"));
}

TEST(IntrinsicsTest, FederatedWeightedMean) {
  EXPECT_EQ(
      Infer("federated_weighted_mean", "<float32@CLIENTS, float32@CLIENTS>"),
      "(<{float32}@CLIENTS,{float32}@CLIENTS> -> float32@SERVER)");
  EXPECT_EQ(Infer("federated_weighted_mean",
                  "<{<a=float32[10],b=float64>}@CLIENTS, {float64}@CLIENTS>"),
            "(<{<a=float32[10],b=float64>}@CLIENTS,{float64}@CLIENTS> -> "
            "<a=float32[10],b=float64>@SERVER)");
  // Integer weights (example counts) as well as floating-point ones.
  EXPECT_EQ(
      Infer("federated_weighted_mean", "<{float32}@CLIENTS, {int32}@CLIENTS>"),
      "(<{float32}@CLIENTS,{int32}@CLIENTS> -> float32@SERVER)");
  EXPECT_EQ(Infer("federated_weighted_mean",
                  "<{float64[2]}@CLIENTS, {uint64}@CLIENTS>"),
            "(<{float64[2]}@CLIENTS,{uint64}@CLIENTS> -> float64[2]@SERVER)");
}

TEST(IntrinsicsTest, FederatedWeightedMeanErrors) {
  EXPECT_THAT(
      Infer("federated_weighted_mean", "<{float32}@CLIENTS, {bool}@CLIENTS>"),
      HasSubstr("W = bool is not an integer or floating-point scalar"));
  EXPECT_THAT(Infer("federated_weighted_mean",
                    "<{float32}@CLIENTS, {complex64}@CLIENTS>"),
              HasSubstr("W = complex64 is not an integer or floating-point "
                        "scalar"));
  EXPECT_THAT(Infer("federated_weighted_mean",
                    "<{float32}@CLIENTS, {float32[1]}@CLIENTS>"),
              HasSubstr("W = float32[1] is not an integer or floating-point "
                        "scalar"));
  EXPECT_THAT(Infer("federated_weighted_mean",
                    "<{float32}@CLIENTS, {int32[*]}@CLIENTS>"),
              HasSubstr("W = int32[*] is not an integer or floating-point "
                        "scalar"));
  EXPECT_THAT(
      Infer("federated_weighted_mean", "<{int32}@CLIENTS, {float32}@CLIENTS>"),
      HasSubstr("T = int32 is not a floating-point tensor"));
  EXPECT_THAT(
      Infer("federated_weighted_mean", "<{float32}@CLIENTS, float32@SERVER>"),
      HasSubstr("argument 2 float32@SERVER is placed at SERVER"));
  EXPECT_THAT(Infer("federated_weighted_mean", "{float32}@CLIENTS"),
              StartsWith("error: federated_weighted_mean expects 2 arguments "
                         "<{T}@CLIENTS, {W}@CLIENTS>, found one of type"));
}

// ------------------------------------------------------------ sum, min, max

TEST(IntrinsicsTest, FederatedSumMinMax) {
  for (const char* uri : {"federated_sum", "federated_min", "federated_max"}) {
    SCOPED_TRACE(uri);
    EXPECT_EQ(Infer(uri, "{int32}@CLIENTS"),
              "({int32}@CLIENTS -> int32@SERVER)");
    EXPECT_EQ(Infer(uri, "float32@CLIENTS"),
              "({float32}@CLIENTS -> float32@SERVER)");
    EXPECT_EQ(Infer(uri, "{uint8[0,?]}@CLIENTS"),
              "({uint8[0,?]}@CLIENTS -> uint8[0,?]@SERVER)");
    EXPECT_EQ(Infer(uri, "{<a=int64,b=<c=float64[2],d=<>>>}@CLIENTS"),
              "({<a=int64,b=<c=float64[2],d=<>>>}@CLIENTS -> "
              "<a=int64,b=<c=float64[2],d=<>>>@SERVER)");
  }
  EXPECT_EQ(Infer("federated_sum", "{complex64}@CLIENTS"),
            "({complex64}@CLIENTS -> complex64@SERVER)");
}

TEST(IntrinsicsTest, FederatedSumErrors) {
  EXPECT_THAT(Infer("federated_sum", "float32@SERVER"),
              StartsWith("error: federated_sum expects {T}@CLIENTS with "
                         "numeric T, found float32@SERVER"));
  EXPECT_EQ(Infer("federated_sum", "{bool}@CLIENTS"),
            "error: federated_sum expects {T}@CLIENTS with numeric T, found "
            "{bool}@CLIENTS: T = bool is not a numeric tensor");
  EXPECT_THAT(Infer("federated_min", "{<int32,string>}@CLIENTS"),
              HasSubstr("T = <int32,string> contains string, which is not a "
                        "numeric tensor"));
  EXPECT_THAT(Infer("federated_max", "{int32*}@CLIENTS"),
              HasSubstr("T = int32* is not a numeric tensor"));
  EXPECT_THAT(Infer("federated_sum", "int32"),
              HasSubstr("the argument int32 is not a federated value"));
  EXPECT_THAT(Infer("federated_sum", "<{int32}@CLIENTS>"),
              StartsWith("error: federated_sum expects {T}@CLIENTS"));
}

// ------------------------------------------------------------ secure sums

TEST(IntrinsicsTest, FederatedSecureSum) {
  EXPECT_EQ(Infer("federated_secure_sum", "<{int32[3]}@CLIENTS, int32>"),
            "(<{int32[3]}@CLIENTS,int32> -> int32[3]@SERVER)");
  // A bound per element of a struct.
  EXPECT_EQ(Infer("federated_secure_sum",
                  "<{<a=int32,b=<int64[2]>>}@CLIENTS, <int32,<int64[2]>>>"),
            "(<{<a=int32,b=<int64[2]>>}@CLIENTS,<int32,<int64[2]>>> -> "
            "<a=int32,b=<int64[2]>>@SERVER)");
  // One bound shared by a struct.
  EXPECT_EQ(Infer("federated_secure_sum", "<{<int32,uint64>}@CLIENTS, int64>"),
            "(<{<int32,uint64>}@CLIENTS,int64> -> <int32,uint64>@SERVER)");
}

TEST(IntrinsicsTest, FederatedSecureSumErrors) {
  EXPECT_EQ(Infer("federated_secure_sum", "<{float32}@CLIENTS, int32>"),
            "error: federated_secure_sum expects <{V}@CLIENTS, M> with "
            "integer V and an integer bound M, shared or per element of V, "
            "found <{float32}@CLIENTS,int32>: V = float32 is not an integer "
            "tensor");
  EXPECT_THAT(Infer("federated_secure_sum", "<{int32}@CLIENTS, float32>"),
              HasSubstr("M = float32 is neither one integer tensor nor "
                        "integers in the structure of V = int32"));
  EXPECT_THAT(
      Infer("federated_secure_sum", "<{<int32,int32>}@CLIENTS, <int32>>"),
      HasSubstr("M = <int32> is neither"));
  EXPECT_THAT(Infer("federated_secure_sum", "<{int32}@CLIENTS, int32@SERVER>"),
              HasSubstr("M = int32@SERVER is federated"));
  EXPECT_THAT(Infer("federated_secure_sum", "<{bool}@CLIENTS, int32>"),
              HasSubstr("V = bool is not an integer tensor"));
  EXPECT_THAT(Infer("federated_secure_sum", "{int32}@CLIENTS"),
              HasSubstr("expects 2 arguments"));
}

TEST(IntrinsicsTest, FederatedSecureSumBitwidth) {
  EXPECT_EQ(
      Infer("federated_secure_sum_bitwidth", "<{int64[2]}@CLIENTS, int32>"),
      "(<{int64[2]}@CLIENTS,int32> -> int64[2]@SERVER)");
  EXPECT_EQ(Infer("federated_secure_sum_bitwidth", "<int32@CLIENTS, int32>"),
            "(<{int32}@CLIENTS,int32> -> int32@SERVER)");
  EXPECT_THAT(
      Infer("federated_secure_sum_bitwidth", "<{int32}@CLIENTS, float64>"),
      HasSubstr("B = float64 is neither one integer tensor nor"));
  EXPECT_THAT(
      Infer("federated_secure_sum_bitwidth", "<{float64}@CLIENTS, int32>"),
      HasSubstr("V = float64 is not an integer tensor"));
}

TEST(IntrinsicsTest, FederatedSecureModularSum) {
  EXPECT_EQ(
      Infer("federated_secure_modular_sum", "<{int32[3]}@CLIENTS, int32>"),
      "(<{int32[3]}@CLIENTS,int32> -> int32[3]@SERVER)");
  EXPECT_EQ(Infer("federated_secure_modular_sum",
                  "<{<a=int64,b=uint8[2]>}@CLIENTS, <int64,int32[2]>>"),
            "(<{<a=int64,b=uint8[2]>}@CLIENTS,<int64,int32[2]>> -> "
            "<a=int64,b=uint8[2]>@SERVER)");
  EXPECT_EQ(IntrinsicSignature("federated_secure_modular_sum"),
            "(<{V}@CLIENTS, M> -> V@SERVER)");
}

TEST(IntrinsicsTest, FederatedSecureModularSumErrors) {
  EXPECT_EQ(
      Infer("federated_secure_modular_sum", "<{float32}@CLIENTS, int32>"),
      "error: federated_secure_modular_sum expects <{V}@CLIENTS, M> with "
      "integer V and an integer modulus M, shared or per element of V, found "
      "<{float32}@CLIENTS,int32>: V = float32 is not an integer tensor");
  EXPECT_THAT(
      Infer("federated_secure_modular_sum", "<{int32}@CLIENTS, float32>"),
      HasSubstr("M = float32 is neither one integer tensor nor integers in "
                "the structure of V = int32"));
  EXPECT_THAT(
      Infer("federated_secure_modular_sum", "<{int32}@CLIENTS, int32@SERVER>"),
      HasSubstr("M = int32@SERVER is federated"));
  EXPECT_THAT(Infer("federated_secure_modular_sum", "<int32@SERVER, int32>"),
              HasSubstr("argument 1 int32@SERVER is placed at SERVER"));
  EXPECT_THAT(Infer("federated_secure_modular_sum", "{int32}@CLIENTS"),
              HasSubstr("expects 2 arguments"));
}

// ------------------------------------------------------------ select

TEST(IntrinsicsTest, FederatedSelect) {
  for (const char* uri : {"federated_select", "federated_secure_select"}) {
    SCOPED_TRACE(uri);
    EXPECT_EQ(Infer(uri,
                    "<{int32[?]}@CLIENTS, int32@SERVER, float32[10,4]@SERVER,"
                    " (<float32[10,4],int32> -> float32[4])>"),
              "(<{int32[?]}@CLIENTS,int32@SERVER,float32[10,4]@SERVER,"
              "(<float32[10,4],int32> -> float32[4])> -> "
              "{float32[4]*}@CLIENTS)");
    EXPECT_EQ(Infer(uri,
                    "<{int32[3]}@CLIENTS, int32@SERVER, <a=string>@SERVER,"
                    " (<<a=string>,int32> -> string)>"),
              "(<{int32[3]}@CLIENTS,int32@SERVER,<a=string>@SERVER,"
              "(<<a=string>,int32> -> string)> -> {string*}@CLIENTS)");
  }
}

TEST(IntrinsicsTest, FederatedSelectErrors) {
  const std::string rest =
      ", int32@SERVER, float32@SERVER, (<float32,int32> -> float32)>";
  EXPECT_THAT(Infer("federated_select", "<{int64[?]}@CLIENTS" + rest),
              HasSubstr("Ks = int64[?] is not an int32 vector"));
  EXPECT_THAT(Infer("federated_select", "<{int32}@CLIENTS" + rest),
              HasSubstr("Ks = int32 is not an int32 vector"));
  EXPECT_THAT(Infer("federated_select", "<{int32[2,2]}@CLIENTS" + rest),
              HasSubstr("Ks = int32[2,2] is not an int32 vector"));
  EXPECT_THAT(
      Infer("federated_select",
            "<{int32[?]}@CLIENTS, int32@CLIENTS, float32@SERVER, "
            "(<float32,int32> -> float32)>"),
      HasSubstr("argument 2 int32@CLIENTS is placed at CLIENTS, not SERVER"));
  EXPECT_THAT(Infer("federated_select",
                    "<{int32[?]}@CLIENTS, int64@SERVER, float32@SERVER, "
                    "(<float32,int32> -> float32)>"),
              StartsWith("error: federated_select expects <{Ks}@CLIENTS, "
                         "int32@SERVER, T@SERVER, (<T, int32> -> U)> with an "
                         "int32 vector of keys Ks, found "));
  // The selected values form a sequence, which cannot hold sequences.
  EXPECT_THAT(Infer("federated_select",
                    "<{int32[?]}@CLIENTS, int32@SERVER, float32@SERVER, "
                    "(<float32,int32> -> float32*)>"),
              StartsWith("error: federated_select expects"));
  EXPECT_THAT(Infer("federated_secure_select", "<{int32[?]}@CLIENTS>"),
              HasSubstr("expects 4 arguments"));
}

// ------------------------------------------------------------ zips

TEST(IntrinsicsTest, FederatedZipAtClients) {
  EXPECT_EQ(Infer("federated_zip_at_clients",
                  "<a={int32}@CLIENTS, b=float32[2]@CLIENTS>"),
            "(<a={int32}@CLIENTS,b={float32[2]}@CLIENTS> -> "
            "{<a=int32,b=float32[2]>}@CLIENTS)");
  EXPECT_EQ(Infer("federated_zip_at_clients",
                  "<{int32}@CLIENTS, {<x=bool>}@CLIENTS, {string*}@CLIENTS>"),
            "(<{int32}@CLIENTS,{<x=bool>}@CLIENTS,{string*}@CLIENTS> -> "
            "{<int32,<x=bool>,string*>}@CLIENTS)");
  EXPECT_EQ(Infer("federated_zip_at_clients", "<{int32}@CLIENTS>"),
            "(<{int32}@CLIENTS> -> {<int32>}@CLIENTS)");
}

// federated_language zips a nested struct of federated values in one call,
// as it does for federated_map(f, (x, (y, z))).
TEST(IntrinsicsTest, FederatedZipOfNestedStructs) {
  EXPECT_EQ(Infer("federated_zip_at_clients",
                  "<{int32}@CLIENTS, <{float32}@CLIENTS, b=bool@CLIENTS>>"),
            "(<{int32}@CLIENTS,<{float32}@CLIENTS,b={bool}@CLIENTS>> -> "
            "{<int32,<float32,b=bool>>}@CLIENTS)");
  EXPECT_EQ(
      Infer("federated_zip_at_clients", "<a=<<{int32[2]}@CLIENTS>>, b=<>>"),
      "(<a=<<{int32[2]}@CLIENTS>>,b=<>> -> "
      "{<a=<<int32[2]>>,b=<>>}@CLIENTS)");
  EXPECT_EQ(Infer("federated_zip_at_server",
                  "<int32@SERVER, <x=float32@SERVER, y=int64@SERVER>>"),
            "(<int32@SERVER,<x=float32@SERVER,y=int64@SERVER>> -> "
            "<int32,<x=float32,y=int64>>@SERVER)");
}

TEST(IntrinsicsTest, FederatedZipOfNestedStructsErrors) {
  EXPECT_THAT(Infer("federated_zip_at_clients",
                    "<{int32}@CLIENTS, <{int32}@CLIENTS, int32@SERVER>>"),
              HasSubstr("element 1.1 (int32@SERVER) is placed at SERVER, "
                        "not CLIENTS"));
  EXPECT_THAT(
      Infer("federated_zip_at_clients", "<{int32}@CLIENTS, <<float32>>>"),
      HasSubstr("element 1.0.0 (float32) is not a federated value"));
  EXPECT_THAT(Infer("federated_zip_at_server", "<<>, <<>>>"),
              HasSubstr("there is nothing to zip (no federated values)"));
}

TEST(IntrinsicsTest, FederatedZipAtClientsErrors) {
  EXPECT_EQ(
      Infer("federated_zip_at_clients", "<{int32}@CLIENTS, float32@SERVER>"),
      "error: federated_zip_at_clients expects <{T1}@CLIENTS, "
      "{T2}@CLIENTS, ...>, found <{int32}@CLIENTS,float32@SERVER>: "
      "element 1 (float32@SERVER) is placed at SERVER, not CLIENTS");
  EXPECT_THAT(Infer("federated_zip_at_clients", "<{int32}@CLIENTS, int32>"),
              HasSubstr("element 1 (int32) is not a federated value"));
  EXPECT_THAT(Infer("federated_zip_at_clients", "<>"),
              HasSubstr("no elements"));
  EXPECT_THAT(Infer("federated_zip_at_clients", "{int32}@CLIENTS"),
              HasSubstr("the argument is not a struct"));
}

TEST(IntrinsicsTest, FederatedZipAtServer) {
  EXPECT_EQ(
      Infer("federated_zip_at_server", "<int32@SERVER, b=float32[2]@SERVER>"),
      "(<int32@SERVER,b=float32[2]@SERVER> -> "
      "<int32,b=float32[2]>@SERVER)");
  EXPECT_THAT(
      Infer("federated_zip_at_server", "<int32@SERVER, {int32}@CLIENTS>"),
      HasSubstr("element 1 ({int32}@CLIENTS) is placed at CLIENTS, "
                "not SERVER"));
}

// ------------------------------------------------------------ generic

TEST(IntrinsicsTest, GenericArithmetic) {
  for (const char* uri :
       {"generic_plus", "generic_multiply", "generic_divide"}) {
    SCOPED_TRACE(uri);
    EXPECT_EQ(Infer(uri, "<float32, float32>"),
              "(<float32,float32> -> float32)");
    EXPECT_EQ(
        Infer(uri, "<<a=int32,b=<float64[2]>>, <a=int32,b=<float64[2]>>>"),
        "(<<a=int32,b=<float64[2]>>,<a=int32,b=<float64[2]>>> -> "
        "<a=int32,b=<float64[2]>>)");
    EXPECT_EQ(Infer(uri, "<{float32}@CLIENTS, {float32}@CLIENTS>"),
              "(<{float32}@CLIENTS,{float32}@CLIENTS> -> {float32}@CLIENTS)");
    // All-equal and per-client values combine per client.
    EXPECT_EQ(Infer(uri, "<float32@CLIENTS, {float32}@CLIENTS>"),
              "(<{float32}@CLIENTS,{float32}@CLIENTS> -> {float32}@CLIENTS)");
    EXPECT_EQ(Infer(uri, "<<int32>@SERVER, <int32>@SERVER>"),
              "(<<int32>@SERVER,<int32>@SERVER> -> <int32>@SERVER)");
    // Unknown dims are the more general type.
    EXPECT_EQ(Infer(uri, "<float32[3], float32[?]>"),
              "(<float32[?],float32[?]> -> float32[?])");
  }
}

TEST(IntrinsicsTest, GenericArithmeticErrors) {
  EXPECT_THAT(Infer("generic_plus", "<int32, float32>"),
              StartsWith("error: generic_plus expects <T, T> with numeric T "
                         "(or federated values of it at one placement), found "
                         "<int32,float32>: "));
  EXPECT_THAT(Infer("generic_plus", "<{int32}@CLIENTS, int32@SERVER>"),
              StartsWith("error: generic_plus expects <T, T>"));
  EXPECT_THAT(Infer("generic_plus", "<{int32}@CLIENTS, int32>"),
              StartsWith("error: generic_plus expects <T, T>"));
  EXPECT_THAT(Infer("generic_multiply", "<bool, bool>"),
              HasSubstr("T = bool is not a numeric tensor"));
  EXPECT_THAT(Infer("generic_divide", "<<string>, <string>>"),
              HasSubstr("T = <string> contains string"));
  EXPECT_THAT(Infer("generic_plus", "<{bool}@CLIENTS, {bool}@CLIENTS>"),
              HasSubstr("T = bool is not a numeric tensor"));
  EXPECT_THAT(Infer("generic_plus", "<int32>"),
              HasSubstr("expects 2 arguments <T, T>, found 1"));
  EXPECT_THAT(Infer("generic_plus", "int32"),
              HasSubstr("expects 2 arguments <T, T>, found one of type int32"));
}

TEST(IntrinsicsTest, GenericZeroHasNoInferredType) {
  Type arg = T("int32");
  absl::StatusOr<Type> type = InferIntrinsicType("generic_zero", &arg);
  ASSERT_FALSE(type.ok());
  EXPECT_EQ(type.status().message(), "generic_zero needs a declared type");
  type = InferIntrinsicType("generic_zero", nullptr);
  ASSERT_FALSE(type.ok());
  EXPECT_EQ(type.status().message(), "generic_zero needs a declared type");
}

TEST(IntrinsicsTest, GenericZeroDeclaredTypes) {
  EXPECT_TRUE(CheckGenericZeroType(T("float32")).ok());
  EXPECT_TRUE(CheckGenericZeroType(T("<a=int32[3],b=<float64>>")).ok());
  EXPECT_TRUE(CheckGenericZeroType(T("{float32[2]}@CLIENTS")).ok());
  EXPECT_TRUE(CheckGenericZeroType(T("int32@SERVER")).ok());
  absl::Status bad = CheckGenericZeroType(T("<int32,bool>"));
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(),
            "generic_zero is the zero of numeric T, found <int32,bool>: T = "
            "<int32,bool> contains bool, which is not a numeric tensor");
  EXPECT_FALSE(CheckGenericZeroType(T("(int32 -> int32)")).ok());
  EXPECT_FALSE(CheckGenericZeroType(T("int32*")).ok());
}

// ------------------------------------------------------------ sequences

TEST(IntrinsicsTest, SequenceMap) {
  EXPECT_EQ(Infer("sequence_map", "<(int32 -> float32[2]), int32*>"),
            "(<(int32 -> float32[2]),int32*> -> float32[2]*)");
  EXPECT_THAT(Infer("sequence_map", "<(int32 -> float32), int32>"),
              StartsWith("error: sequence_map expects <(T -> U), T*>, found "
                         "<(int32 -> float32),int32>"));
  EXPECT_THAT(Infer("sequence_map", "<(int32 -> float32), float32*>"),
              StartsWith("error: sequence_map expects"));
  EXPECT_THAT(Infer("sequence_map", "<(int32 -> float32*), int32*>"),
              StartsWith("error: sequence_map expects"));
}

TEST(IntrinsicsTest, SequenceReduce) {
  EXPECT_EQ(
      Infer("sequence_reduce", "<int32*, int64, (<int64,int32> -> int64)>"),
      "(<int32*,int64,(<int64,int32> -> int64)> -> int64)");
  EXPECT_EQ(Infer("sequence_reduce",
                  "<<x=float32[2]>*, <float32[2],int32>, "
                  "(<<float32[2],int32>,<x=float32[2]>> -> "
                  "<float32[2],int32>)>"),
            "(<<x=float32[2]>*,<float32[2],int32>,(<<float32[2],int32>,"
            "<x=float32[2]>> -> <float32[2],int32>)> -> <float32[2],int32>)");
  EXPECT_THAT(
      Infer("sequence_reduce", "<int32*, int64, (<int32,int32> -> int32)>"),
      StartsWith("error: sequence_reduce expects <T*, U, (<U, T> -> "
                 "U)>, found "));
  EXPECT_THAT(Infer("sequence_reduce", "<int32*, int64>"),
              HasSubstr("expects 3 arguments"));
}

TEST(IntrinsicsTest, SequenceSum) {
  EXPECT_EQ(Infer("sequence_sum", "float32[2]*"),
            "(float32[2]* -> float32[2])");
  EXPECT_EQ(Infer("sequence_sum", "<a=int32,b=float64>*"),
            "(<a=int32,b=float64>* -> <a=int32,b=float64>)");
  EXPECT_EQ(Infer("sequence_sum", "bool*"),
            "error: sequence_sum expects T* with numeric T, found bool*: T = "
            "bool is not a numeric tensor");
  EXPECT_THAT(Infer("sequence_sum", "float32"),
              StartsWith("error: sequence_sum expects T* with numeric T, found "
                         "float32"));
}

}  // namespace
}  // namespace fedexec::ir
