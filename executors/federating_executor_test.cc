// Tests of the federating executor, through the Executor interface alone:
// a stack FederatingExecutor -> LeafExecutor, intrinsic nodes typed with
// ir::InferIntrinsicType, native leaves as the per-client functions.
#include "executors/federating_executor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "core/tree_reduce.h"
#include "core/value.h"
#include "executors/federating_executor_test_util.h"
#include "executors/leaf_executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/ast.h"
#include "ir/intrinsics.h"
#include "ir/value_syntax.h"
#include "runtimes/native/registry.h"
#include "testing/concurrency.h"
#include "testing/native_runtime.h"
#include "testing/types.h"

namespace fedexec::exec {
namespace {

using ::fedexec::test_util::T;
using ::testing::HasSubstr;

using federating_test::Fail;
using federating_test::Inc;
using federating_test::inc_calls;
using federating_test::PerClient;
using federating_test::Pick;
using federating_test::pick_calls;
using federating_test::Probe;
using federating_test::probe_calls;
using federating_test::probe_live;
using federating_test::probe_max_live;
using federating_test::RegisterTestFunctions;
using federating_test::ResetCounters;
using federating_test::Slow;
using federating_test::slow_started;
using federating_test::Stack;
using federating_test::V;

// ----------------------------------------------------- placement moves

TEST(FederatingExecutorTest, ValueAtServerAndClients) {
  Stack s(3);
  OwnedValue x = s.Text("<a=1.5, b=[1, 2]>");
  EXPECT_VALUE(s.Run("federated_value_at_server", "<a=float32,b=int32[2]>", x),
               "<a=1.5, b=[1, 2]>@SERVER");
  EXPECT_VALUE(s.Run("federated_value_at_clients", "<a=float32,b=int32[2]>", x),
               "<a=1.5, b=[1, 2]>@CLIENTS");
  // A federated value cannot be placed again.
  OwnedValue placed = s.Text("1.0@SERVER");
  EXPECT_ERROR(s.Run("federated_value_at_server", "float32", placed),
               absl::StatusCode::kInvalidArgument, "federated_value_at_server");
}

TEST(FederatingExecutorTest, BroadcastAndApply) {
  Stack s(4);
  OwnedValue x = s.Text("2.0@SERVER");
  EXPECT_VALUE(s.Run("federated_broadcast", "float32@SERVER", x),
               "2.0@CLIENTS");
  OwnedValue negate = s.Native("negate", "(float32 -> float32)");
  OwnedValue arg = s.Struct({&negate, &x});
  EXPECT_VALUE(
      s.Run("federated_apply", "<(float32 -> float32),float32@SERVER>", arg),
      "-2.0@SERVER");
  // Broadcast of a CLIENTS value: named intrinsic, what it got.
  OwnedValue c = s.Text("{1.0, 2.0, 3.0, 4.0}@CLIENTS");
  EXPECT_ERROR(s.Run("federated_broadcast", "float32@SERVER", c),
               absl::StatusCode::kInvalidArgument,
               "federated_broadcast expects the argument at SERVER, got "
               "{float32}@CLIENTS");
}

TEST(FederatingExecutorTest, EvalAtServerAndClients) {
  ResetCounters();
  Stack s(3);
  OwnedValue probe = s.Native("fed_test_probe", "( -> float32[4])");
  EXPECT_VALUE(s.Run("federated_eval_at_server", "( -> float32[4])", probe),
               "[1.0, 1.0, 1.0, 1.0]@SERVER");
  EXPECT_VALUE(
      s.Run("federated_eval_at_clients", "( -> float32[4])", probe),
      "{[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]}"
      "@CLIENTS");
  EXPECT_EQ(probe_calls.load(), 4);
  // Not a function.
  OwnedValue x = s.Text("1.0");
  EXPECT_ERROR(s.Run("federated_eval_at_clients", "( -> float32[4])", x),
               absl::StatusCode::kInvalidArgument,
               "federated_eval_at_clients expects the argument to be a "
               "function without a parameter, got float32");
}

// ------------------------------------------------------------- maps

TEST(FederatingExecutorTest, MapPerClientAllEqualAndNamedStructs) {
  ResetCounters();
  Stack s(3);
  OwnedValue inc = s.Native("fed_test_inc", "(float32 -> float32)");
  OwnedValue per = s.Text("{1.0, 2.0, 3.0}@CLIENTS");
  OwnedValue a1 = s.Struct({&inc, &per});
  EXPECT_VALUE(
      s.Run("federated_map", "<(float32 -> float32),{float32}@CLIENTS>", a1),
      "{2.0, 3.0, 4.0}@CLIENTS");
  EXPECT_EQ(inc_calls.load(), 3);

  // All-equal input: computed once, still all-equal.
  OwnedValue same = s.Text("5.0@CLIENTS");
  OwnedValue a2 = s.Struct({&inc, &same});
  EXPECT_VALUE(
      s.Run("federated_map", "<(float32 -> float32),{float32}@CLIENTS>", a2),
      "6.0@CLIENTS");
  EXPECT_EQ(inc_calls.load(), 4);

  // A named struct member through a struct-recursive native function.
  OwnedValue scale = s.Native("scale",
                              "(<<a=float32,b=<c=float32[2]>>,float32> -> "
                              "<a=float32,b=<c=float32[2]>>)");
  OwnedValue zipped = s.Text(
      "{<<a=1.0, b=<c=[1.0, 2.0]>>, 2.0>, <<a=2.0, b=<c=[3.0, 4.0]>>, 0.5>, "
      "<<a=3.0, b=<c=[0.0, 1.0]>>, -1.0>}@CLIENTS");
  OwnedValue a3 = s.Struct({&scale, &zipped});
  EXPECT_VALUE(s.Run("federated_map",
                     "<(<<a=float32,b=<c=float32[2]>>,float32> -> "
                     "<a=float32,b=<c=float32[2]>>),"
                     "{<<a=float32,b=<c=float32[2]>>,float32>}@CLIENTS>",
                     a3),
               "{<a=2.0, b=<c=[2.0, 4.0]>>, <a=1.0, b=<c=[1.5, 2.0]>>, "
               "<a=-3.0, b=<c=[-0.0, -1.0]>>}@CLIENTS");
}

TEST(FederatingExecutorTest, MapAllEqual) {
  Stack s(2);
  OwnedValue negate = s.Native("negate", "(float32 -> float32)");
  OwnedValue same = s.Text("2.0@CLIENTS");
  OwnedValue a = s.Struct({&negate, &same});
  EXPECT_VALUE(s.Run("federated_map_all_equal",
                     "<(float32 -> float32),float32@CLIENTS>", a),
               "-2.0@CLIENTS");
  OwnedValue per = s.Text("{1.0, 2.0}@CLIENTS");
  OwnedValue b = s.Struct({&negate, &per});
  EXPECT_ERROR(s.Run("federated_map_all_equal",
                     "<(float32 -> float32),float32@CLIENTS>", b),
               absl::StatusCode::kInvalidArgument,
               "federated_map_all_equal expects argument 2 to be an "
               "all-equal CLIENTS value, got {float32}@CLIENTS");
}

TEST(FederatingExecutorTest, ErrorOfAClientFunctionNamesClientAndFunction) {
  Stack s(3);
  OwnedValue divide = s.Native("divide", "(<int32,int32> -> int32)");
  OwnedValue pairs = s.Text("{<6, 2>, <1, 0>, <4, 2>}@CLIENTS");
  OwnedValue a = s.Struct({&divide, &pairs});
  OwnedValue mapped = s.CallOf(
      s.Intrinsic("federated_map",
                  "<(<int32,int32> -> int32),{<int32,int32>}@CLIENTS>"),
      a);
  // The error flows through a dependent value to Materialize.
  OwnedValue sum =
      s.CallOf(s.Intrinsic("federated_sum", "{int32}@CLIENTS"), mapped);
  absl::StatusOr<Value> r = s.Get(sum);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("federated_map: client 1: "
                        "(<int32,int32> -> int32) native 'divide': "));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("divide"));
}

TEST(FederatingExecutorTest, ErrorOfALazyMemberReachesTheAggregateOnce) {
  Stack s(40);
  OwnedValue fail = s.Native("fed_test_fail", "( -> float32)");
  OwnedValue lazy =
      s.CallOf(s.Intrinsic("federated_eval_at_clients", "( -> float32)"), fail);
  OwnedValue inc = s.Native("fed_test_inc", "(float32 -> float32)");
  OwnedValue arg = s.Struct({&inc, &lazy});
  OwnedValue mapped = s.CallOf(
      s.Intrinsic("federated_map", "<(float32 -> float32),{float32}@CLIENTS>"),
      arg);
  absl::StatusOr<Value> r =
      s.Call(s.Intrinsic("federated_mean", "{float32}@CLIENTS"), mapped);
  ASSERT_FALSE(r.ok());
  // Where it arose (the first client, whatever the thread count), once.
  EXPECT_EQ(r.status().message(),
            "federated_eval_at_clients: client 0: ( -> float32) native "
            "'fed_test_fail': fail: boom");
  EXPECT_EQ(s.Get(lazy).status().message(), r.status().message());
}

// ------------------------------------------------------------- zips

TEST(FederatingExecutorTest, ZipAtServerAndClients) {
  Stack s(2);
  OwnedValue x = s.Text("1.0@SERVER");
  OwnedValue y = s.Text("[1, 2]@SERVER");
  OwnedValue xy = s.Struct({&x, &y}, {"x", ""});
  EXPECT_VALUE(s.Run("federated_zip_at_server",
                     "<x=float32@SERVER,int32[2]@SERVER>", xy),
               "<x=1.0, [1, 2]>@SERVER");

  OwnedValue a = s.Text("{1.0, 2.0}@CLIENTS");
  OwnedValue b = s.Text("7@CLIENTS");
  OwnedValue ab = s.Struct({&a, &b}, {"a", "b"});
  EXPECT_VALUE(s.Run("federated_zip_at_clients",
                     "<a={float32}@CLIENTS,b=int32@CLIENTS>", ab),
               "{<a=1.0, b=7>, <a=2.0, b=7>}@CLIENTS");
  // All-equal inputs stay all-equal.
  OwnedValue c = s.Text("3.0@CLIENTS");
  OwnedValue bc = s.Struct({&b, &c});
  EXPECT_VALUE(
      s.Run("federated_zip_at_clients", "<int32@CLIENTS,float32@CLIENTS>", bc),
      "<7, 3.0>@CLIENTS");
  // Wrong placement of an element.
  OwnedValue bad = s.Struct({&a, &x});
  EXPECT_ERROR(s.Run("federated_zip_at_clients",
                     "<{float32}@CLIENTS,{float32}@CLIENTS>", bad),
               absl::StatusCode::kInvalidArgument,
               "federated_zip_at_clients expects argument 2 at CLIENTS, got "
               "float32@SERVER");
}

// federated_language zips a nested struct of federated values in one call
// (and inserts such a zip for federated_map(f, (x, (y, z)))).
TEST(FederatingExecutorTest, ZipOfNestedStructs) {
  Stack s(2);
  OwnedValue x = s.Text("{1, 2}@CLIENTS");
  OwnedValue y = s.Text("{1.5, 2.5}@CLIENTS");
  OwnedValue z = s.Text("[7, 8]@CLIENTS");
  OwnedValue yz = s.Struct({&y, &z}, {"", "z"});
  OwnedValue xyz = s.Struct({&x, &yz}, {"x", ""});
  EXPECT_VALUE(
      s.Run("federated_zip_at_clients",
            "<x={int32}@CLIENTS,<{float32}@CLIENTS,z=int32[2]@CLIENTS>>", xyz),
      "{<x=1, <1.5, z=[7, 8]>>, <x=2, <2.5, z=[7, 8]>>}@CLIENTS");
  // All-equal parts stay all-equal, however deep.
  OwnedValue deep = s.Struct({&z});
  OwnedValue deeper = s.Struct({&deep});
  OwnedValue all = s.Struct({&z, &deeper});
  EXPECT_VALUE(s.Run("federated_zip_at_clients",
                     "<int32[2]@CLIENTS,<<int32[2]@CLIENTS>>>", all),
               "<[7, 8], <<[7, 8]>>>@CLIENTS");

  OwnedValue a = s.Text("1.0@SERVER");
  OwnedValue b = s.Text("[1, 2]@SERVER");
  OwnedValue empty = s.Struct({});
  OwnedValue inner = s.Struct({&b, &empty}, {"b", "e"});
  OwnedValue ab = s.Struct({&a, &inner});
  EXPECT_VALUE(s.Run("federated_zip_at_server",
                     "<float32@SERVER,<b=int32[2]@SERVER,e=<>>>", ab),
               "<1.0, <b=[1, 2], e=<>>>@SERVER");

  // A part at the wrong placement, at any depth.
  OwnedValue bad_inner = s.Struct({&y, &a});
  OwnedValue bad = s.Struct({&x, &bad_inner});
  EXPECT_ERROR(
      s.Run("federated_zip_at_clients",
            "<{int32}@CLIENTS,<{float32}@CLIENTS,{float32}@CLIENTS>>", bad),
      absl::StatusCode::kInvalidArgument,
      "federated_zip_at_clients expects argument 3 at CLIENTS, got "
      "float32@SERVER");
  OwnedValue nothing = s.Struct({&empty});
  EXPECT_ERROR(s.Run("federated_zip_at_clients", "<{int32}@CLIENTS>", nothing),
               absl::StatusCode::kInvalidArgument,
               "federated_zip_at_clients expects a struct with at least one "
               "CLIENTS value");
}

// ------------------------------------------------------------- select

TEST(FederatingExecutorTest, SelectAndSecureSelect) {
  for (const char* uri : {"federated_select", "federated_secure_select"}) {
    SCOPED_TRACE(uri);
    ResetCounters();
    Stack s(3);
    OwnedValue keys = s.Text("{[0, 2], int32[0]([]), [4, 4]}@CLIENTS");
    OwnedValue max_key = s.Text(
        std::string(uri) == "federated_select" ? "4@SERVER" : "5@SERVER");
    OwnedValue server = s.Text("[10.0, 20.0, 30.0, 40.0, 50.0]@SERVER");
    OwnedValue pick =
        s.Native("fed_test_pick", "(<float32[5],int32> -> float32)");
    OwnedValue arg = s.Struct({&keys, &max_key, &server, &pick});
    const char* type =
        "<{int32[?]}@CLIENTS,int32@SERVER,float32[5]@SERVER,"
        "(<float32[5],int32> -> float32)>";
    EXPECT_VALUE(s.Run(uri, type, arg),
                 "{seq[10.0, 30.0], seq[], seq[50.0, 50.0]}@CLIENTS");
    // Key 4 asked for twice, computed once.
    EXPECT_EQ(pick_calls.load(), 3);

    OwnedValue same = s.Text("[1]@CLIENTS");
    OwnedValue arg2 = s.Struct({&same, &max_key, &server, &pick});
    EXPECT_VALUE(s.Run(uri, type, arg2), "seq[20.0]@CLIENTS");

    OwnedValue bad = s.Text("{[0], [7], [-1]}@CLIENTS");
    OwnedValue arg3 = s.Struct({&bad, &max_key, &server, &pick});
    EXPECT_ERROR(
        s.Run(uri, type, arg3), absl::StatusCode::kInvalidArgument,
        absl::StrCat(
            uri, ": client 1 has key 7, outside ",
            std::string(uri) == "federated_select" ? "[0, 4]" : "[0, 5)"));
    OwnedValue negative = s.Text("{[0], [1], [-1]}@CLIENTS");
    OwnedValue arg4 = s.Struct({&negative, &max_key, &server, &pick});
    EXPECT_ERROR(s.Run(uri, type, arg4), absl::StatusCode::kInvalidArgument,
                 ": client 2 has key -1, outside [0, ");
  }
}

// federated_select's keys lie in [0, max_key] inclusive, as
// federated_language documents; federated_secure_select's in [0, max_key).
TEST(FederatingExecutorTest, SelectKeyRangeAtMaxKey) {
  Stack s(2);
  OwnedValue keys = s.Text("{[3], [0, 3]}@CLIENTS");
  OwnedValue max_key = s.Text("3@SERVER");
  OwnedValue server = s.Text("[10.0, 20.0, 30.0, 40.0, 50.0]@SERVER");
  OwnedValue pick =
      s.Native("fed_test_pick", "(<float32[5],int32> -> float32)");
  OwnedValue arg = s.Struct({&keys, &max_key, &server, &pick});
  const char* type =
      "<{int32[?]}@CLIENTS,int32@SERVER,float32[5]@SERVER,"
      "(<float32[5],int32> -> float32)>";
  EXPECT_VALUE(s.Run("federated_select", type, arg),
               "{seq[40.0], seq[10.0, 40.0]}@CLIENTS");
  EXPECT_ERROR(s.Run("federated_secure_select", type, arg),
               absl::StatusCode::kInvalidArgument,
               "federated_secure_select: client 0 has key 3, outside [0, 3)");
}

TEST(FederatingExecutorTest, SelectMemoizesAcrossManyClients) {
  ResetCounters();
  constexpr int64_t kClients = 10000;
  Stack s(kClients, 4);
  std::vector<Value> keys;
  for (int64_t i = 0; i < kClients; ++i) {
    const int32_t k[2] = {static_cast<int32_t>(i % 5),
                          static_cast<int32_t>((i + 1) % 5)};
    keys.push_back(Value(Tensor::Vector<int32_t>(k)));
  }
  OwnedValue k = s.Make(PerClient(std::move(keys)));
  OwnedValue max_key = s.Text("5@SERVER");
  OwnedValue server = s.Text("[10.0, 20.0, 30.0, 40.0, 50.0]@SERVER");
  OwnedValue pick =
      s.Native("fed_test_pick", "(<float32[5],int32> -> float32)");
  OwnedValue arg = s.Struct({&k, &max_key, &server, &pick});
  absl::StatusOr<Value> r =
      s.Run("federated_select",
            "<{int32[2]}@CLIENTS,int32@SERVER,float32[5]@SERVER,"
            "(<float32[5],int32> -> float32)>",
            arg);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(pick_calls.load(), 5);
  ASSERT_EQ(r->federated().members.size(), static_cast<size_t>(kClients));
  EXPECT_TRUE(r->federated().members[7].Equals(V("seq[30.0, 40.0]")));
  EXPECT_TRUE(r->federated().members[9999].Equals(V("seq[50.0, 10.0]")));
}

// ----------------------------------------------------------- generic

TEST(FederatingExecutorTest, GenericArithmetic) {
  Stack s(2);
  OwnedValue a = s.Text("<x=[1.0, 2.0], y=3>");
  OwnedValue b = s.Text("<x=[4.0, 4.0], y=2>");
  OwnedValue ab = s.Struct({&a, &b});
  const char* t = "<<x=float32[2],y=int32>,<x=float32[2],y=int32>>";
  EXPECT_VALUE(s.Run("generic_plus", t, ab), "<x=[5.0, 6.0], y=5>");
  EXPECT_VALUE(s.Run("generic_multiply", t, ab), "<x=[4.0, 8.0], y=6>");
  EXPECT_VALUE(s.Run("generic_divide", t, ab), "<x=[0.25, 0.5], y=1>");

  OwnedValue sa = s.Text("1.0@SERVER");
  OwnedValue sb = s.Text("2.0@SERVER");
  OwnedValue sab = s.Struct({&sa, &sb});
  EXPECT_VALUE(s.Run("generic_plus", "<float32@SERVER,float32@SERVER>", sab),
               "3.0@SERVER");

  OwnedValue ca = s.Text("1.0@CLIENTS");
  OwnedValue cb = s.Text("2.0@CLIENTS");
  OwnedValue cab = s.Struct({&ca, &cb});
  EXPECT_VALUE(
      s.Run("generic_multiply", "<float32@CLIENTS,float32@CLIENTS>", cab),
      "2.0@CLIENTS");
  OwnedValue cp = s.Text("{1.0, 2.0}@CLIENTS");
  OwnedValue mixed = s.Struct({&cp, &cb});
  EXPECT_VALUE(
      s.Run("generic_plus", "<{float32}@CLIENTS,{float32}@CLIENTS>", mixed),
      "{3.0, 4.0}@CLIENTS");

  OwnedValue wrong = s.Struct({&sa, &cb});
  EXPECT_ERROR(
      s.Run("generic_plus", "<float32@SERVER,float32@SERVER>", wrong),
      absl::StatusCode::kInvalidArgument,
      "generic_plus expects two unplaced values or two federated values at "
      "one placement, got float32@SERVER and float32@CLIENTS");
  OwnedValue i = s.Text("{1, 2}@CLIENTS");
  OwnedValue z = s.Text("{1, 0}@CLIENTS");
  OwnedValue iz = s.Struct({&i, &z});
  EXPECT_ERROR(s.Run("generic_divide", "<{int32}@CLIENTS,{int32}@CLIENTS>", iz),
               absl::StatusCode::kInvalidArgument,
               "generic_divide: client 1: divide");
}

TEST(FederatingExecutorTest, GenericZeroIsAValue) {
  Stack s(3);
  EXPECT_VALUE(s.Get(s.Node(ir::MakeNode(ir::IntrinsicNode{"generic_zero"},
                                         T("<a=float32[2],b=int32>")))),
               "<a=[0.0, 0.0], b=0>");
  EXPECT_VALUE(s.Get(s.Node(ir::MakeNode(ir::IntrinsicNode{"generic_zero"},
                                         T("{float32[2]}@CLIENTS")))),
               "[0.0, 0.0]@CLIENTS");
  EXPECT_VALUE(s.Get(s.Node(ir::MakeNode(ir::IntrinsicNode{"generic_zero"},
                                         T("int64@SERVER")))),
               "int64(0)@SERVER");
}

// ------------------------------------------- client counts and errors

TEST(FederatingExecutorTest, ZeroClients) {
  Stack s(0);
  EXPECT_EQ(s.fed().num_clients(), 0);
  OwnedValue none = s.Text("{}@CLIENTS");
  EXPECT_VALUE(s.Run("federated_sum", "{float32[2]}@CLIENTS", none),
               "[0.0, 0.0]@SERVER");
  EXPECT_ERROR(s.Run("federated_mean", "{float32[2]}@CLIENTS", none),
               absl::StatusCode::kInvalidArgument,
               "federated_mean over zero clients has no result");
  EXPECT_ERROR(s.Run("federated_min", "{float32[2]}@CLIENTS", none),
               absl::StatusCode::kInvalidArgument,
               "federated_min over zero clients has no result");
  EXPECT_ERROR(s.Run("federated_max", "{float32[2]}@CLIENTS", none),
               absl::StatusCode::kInvalidArgument,
               "federated_max over zero clients has no result");
  OwnedValue nn = s.Struct({&none, &none});
  EXPECT_ERROR(s.Run("federated_weighted_mean",
                     "<{float32[2]}@CLIENTS,{float32}@CLIENTS>", nn),
               absl::StatusCode::kInvalidArgument,
               "federated_weighted_mean over zero clients has no result");
  OwnedValue m = s.Text("3");
  OwnedValue nm = s.Struct({&none, &m});
  EXPECT_VALUE(s.Run("federated_secure_sum", "<{int32}@CLIENTS,int32>", nm),
               "0@SERVER");
  OwnedValue negate = s.Native("negate", "(float32[2] -> float32[2])");
  OwnedValue map_arg = s.Struct({&negate, &none});
  EXPECT_VALUE(
      s.Run("federated_map",
            "<(float32[2] -> float32[2]),{float32[2]}@CLIENTS>", map_arg),
      "{}@CLIENTS");
  OwnedValue probe = s.Native("fed_test_probe", "( -> float32[4])");
  EXPECT_VALUE(s.Run("federated_eval_at_clients", "( -> float32[4])", probe),
               "{}@CLIENTS");
  // An all-equal CLIENTS value still has its one member.
  OwnedValue x = s.Text("1.0@SERVER");
  EXPECT_VALUE(s.Run("federated_broadcast", "float32@SERVER", x),
               "1.0@CLIENTS");
  // A per-client value with members does not fit.
  EXPECT_FALSE(s.fed().CreateValue(V("{1.0}@CLIENTS")).ok());
}

TEST(FederatingExecutorTest, OneClient) {
  Stack s(1);
  OwnedValue x = s.Text("{[1.0, 2.0]}@CLIENTS");
  EXPECT_VALUE(s.Run("federated_sum", "{float32[2]}@CLIENTS", x),
               "[1.0, 2.0]@SERVER");
  EXPECT_VALUE(s.Run("federated_mean", "{float32[2]}@CLIENTS", x),
               "[1.0, 2.0]@SERVER");
  EXPECT_VALUE(s.Run("federated_max", "{float32[2]}@CLIENTS", x),
               "[1.0, 2.0]@SERVER");
}

TEST(FederatingExecutorTest, CreateValueChecksClientCounts) {
  Stack s(5);
  absl::StatusOr<OwnedValue> three =
      s.fed().CreateValue(V("{1.0, 2.0, 3.0}@CLIENTS"));
  ASSERT_FALSE(three.ok());
  EXPECT_EQ(three.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(three.status().message()),
              HasSubstr("a CLIENTS value with 3 members, but this stack has "
                        "5 clients"));
  absl::StatusOr<OwnedValue> nested =
      s.fed().CreateValue(V("<a=1.0, b=<2.0@SERVER, {1, 2}@CLIENTS>>"));
  ASSERT_FALSE(nested.ok());
  EXPECT_THAT(std::string(nested.status().message()),
              HasSubstr("at .b[1]: a CLIENTS value with 2 members"));
  Value two_server =
      Value::Federated(Placement::kServer, true, {V("1.0"), V("2.0")});
  EXPECT_FALSE(s.fed().CreateValue(two_server).ok());
  Value two_all_equal =
      Value::Federated(Placement::kClients, true, {V("1.0"), V("2.0")});
  EXPECT_FALSE(s.fed().CreateValue(two_all_equal).ok());
  EXPECT_TRUE(s.fed().CreateValue(V("{1, 2, 3, 4, 5}@CLIENTS")).ok());
  EXPECT_TRUE(s.fed().CreateValue(V("<1@CLIENTS, 2.0@SERVER>")).ok());
}

TEST(FederatingExecutorTest, WrongValuesThroughTheInterface) {
  Stack s(3);
  OwnedValue server = s.Text("1.0@SERVER");
  EXPECT_ERROR(s.Run("federated_sum", "{float32}@CLIENTS", server),
               absl::StatusCode::kInvalidArgument,
               "federated_sum expects the argument at CLIENTS, got "
               "float32@SERVER");
  OwnedValue tensor = s.Text("1.0");
  EXPECT_ERROR(s.Run("federated_mean", "{float32}@CLIENTS", tensor),
               absl::StatusCode::kInvalidArgument,
               "federated_mean expects the argument at CLIENTS, got float32");
  OwnedValue bools = s.Text("{true, false, true}@CLIENTS");
  EXPECT_ERROR(s.Run("federated_sum", "{float32}@CLIENTS", bools),
               absl::StatusCode::kInvalidArgument, "federated_sum: client 0: ");
  OwnedValue strings = s.Text(R"({"a", "b", "c"}@CLIENTS)");
  EXPECT_ERROR(s.Run("federated_max", "{float32}@CLIENTS", strings),
               absl::StatusCode::kInvalidArgument, "federated_max: client 0: ");
  OwnedValue ints = s.Text("{1, 2, 3}@CLIENTS");
  EXPECT_ERROR(s.Run("federated_mean", "{float32}@CLIENTS", ints),
               absl::StatusCode::kInvalidArgument, "federated_mean");
  OwnedValue mixed = s.Text("{1.0, [1.0, 2.0], 3.0}@CLIENTS");
  EXPECT_ERROR(s.Run("federated_sum", "{float32}@CLIENTS", mixed),
               absl::StatusCode::kInvalidArgument,
               "federated_sum: clients [0, 1) and [1, 2): expected float32, "
               "found float32[2]");
  // Not a struct where arguments are due.
  OwnedValue negate = s.Native("negate", "(float32 -> float32)");
  EXPECT_ERROR(s.Run("federated_map",
                     "<(float32 -> float32),{float32}@CLIENTS>", negate),
               absl::StatusCode::kInvalidArgument,
               "federated_map expects a struct of 2 arguments");
  // Not a function where one is due.
  OwnedValue x = s.Text("{1.0, 2.0, 3.0}@CLIENTS");
  OwnedValue xx = s.Struct({&x, &x});
  EXPECT_ERROR(
      s.Run("federated_map", "<(float32 -> float32),{float32}@CLIENTS>", xx),
      absl::StatusCode::kInvalidArgument,
      "federated_map expects argument 1 to be a function with a "
      "parameter, got {float32}@CLIENTS");
}

TEST(FederatingExecutorTest, UnknownNodesGoToTheServerChild) {
  Stack s(2);
  // A literal and a native leaf are the leaf executor's.
  EXPECT_VALUE(s.Get(s.Node(ir::MakeNode(ir::LiteralNode{Tensor::Scalar(3)},
                                         T("int32")))),
               "3");
  // An intrinsic that is not the federating executor's goes down too and
  // fails there, by name.
  absl::StatusOr<OwnedValue> seq = s.fed().CreateValue(ir::MakeNode(
      ir::IntrinsicNode{"sequence_sum"}, T("(float32* -> float32)")));
  ASSERT_TRUE(seq.ok());
  absl::StatusOr<Value> r = s.Get(*seq);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("sequence_sum"));
}

// --------------------------------------------------------- laziness

TEST(FederatingExecutorTest, EvalAtClientsIsLazyAndStreamsIntoMean) {
  ResetCounters();
  constexpr int64_t kClients = 10000;
  Stack s(kClients, 4);
  OwnedValue probe = s.Native("fed_test_probe", "( -> float32[4])");
  OwnedValue members = s.CallOf(
      s.Intrinsic("federated_eval_at_clients", "( -> float32[4])"), probe);
  OwnedValue mean = s.Intrinsic("federated_mean", "{float32[4]}@CLIENTS");
  EXPECT_VALUE(s.Call(mean, members), "[1.0, 1.0, 1.0, 1.0]@SERVER");
  EXPECT_EQ(probe_calls.load(), kClients);
  // Members were produced as they were folded and dropped: only a handful
  // (about one per folding thread) ever existed at once.
  EXPECT_LE(probe_max_live.load(), 16);
  EXPECT_EQ(probe_live.load(), 0);

  // A map over lazy members is lazy too: nothing is stored, so a second
  // aggregation produces every member again.
  OwnedValue scale = s.Native("negate", "(float32[4] -> float32[4])");
  OwnedValue arg = s.Struct({&scale, &members});
  OwnedValue mapped =
      s.CallOf(s.Intrinsic("federated_map",
                           "<(float32[4] -> float32[4]),{float32[4]}@CLIENTS>"),
               arg);
  OwnedValue sum = s.Intrinsic("federated_sum", "{float32[4]}@CLIENTS");
  EXPECT_VALUE(s.Call(sum, mapped),
               "[-10000.0, -10000.0, -10000.0, -10000.0]@SERVER");
  EXPECT_VALUE(s.Call(mean, mapped), "[-1.0, -1.0, -1.0, -1.0]@SERVER");
  EXPECT_EQ(probe_calls.load(), 3 * kClients);
  EXPECT_LE(probe_max_live.load(), 16);

  // Materializing produces them all.
  absl::StatusOr<Value> all = s.Get(mapped);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->federated().members.size(), static_cast<size_t>(kClients));
  EXPECT_TRUE(all->IsConcrete());
}

// Members handed in lazily: each read once by an aggregation.
class CountingMembers : public LazyMembers {
 public:
  explicit CountingMembers(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  absl::StatusOr<Value> Get(int64_t i) const override {
    gets_.fetch_add(1);
    return Value(Tensor::Scalar(static_cast<int32_t>(i)));
  }
  int64_t gets() const { return gets_.load(); }

 private:
  const int64_t n_;
  mutable std::atomic<int64_t> gets_{0};
};

TEST(FederatingExecutorTest, LazyMembersHandedInAreReadOnDemand) {
  constexpr int64_t kClients = 10000;
  Stack s(kClients, 2);
  auto lazy = std::make_shared<CountingMembers>(kClients);
  OwnedValue x = s.Make(Value::LazyFederated(Placement::kClients, lazy));
  EXPECT_EQ(lazy->gets(), 0);
  OwnedValue zipped_arg = s.Struct({&x, &x});
  OwnedValue zipped = s.CallOf(s.Intrinsic("federated_zip_at_clients",
                                           "<{int32}@CLIENTS,{int32}@CLIENTS>"),
                               zipped_arg);
  EXPECT_VALUE(
      s.Call(s.Intrinsic("federated_sum", "{<int32,int32>}@CLIENTS"), zipped),
      "<49995000, 49995000>@SERVER");
  EXPECT_EQ(lazy->gets(), 2 * kClients);
  // A lazy value of the wrong size does not fit.
  EXPECT_FALSE(
      s.fed()
          .CreateValue(Value::LazyFederated(
              Placement::kClients, std::make_shared<CountingMembers>(3)))
          .ok());
}

// ------------------------------------------------------ cancellation

TEST(FederatingExecutorTest, CancelStopsALongMap) {
  ResetCounters();
  test_util::RunWithDeadline("cancel a long map", [] {
    constexpr int64_t kClients = 10000;
    Stack s(kClients, 2);
    std::vector<Value> members(kClients, V("1.0"));
    OwnedValue x = s.Make(PerClient(std::move(members)));
    OwnedValue slow = s.Native("fed_test_slow", "(float32 -> float32)");
    OwnedValue arg = s.Struct({&slow, &x});
    OwnedValue mapped =
        s.CallOf(s.Intrinsic("federated_map",
                             "<(float32 -> float32),{float32}@CLIENTS>"),
                 arg);
    while (slow_started.load() == 0) std::this_thread::yield();
    s.fed().Cancel();
    absl::StatusOr<Value> r = s.Get(mapped);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
    EXPECT_LT(slow_started.load(), kClients);
  });
}

// Lazy float32 members that take a while to produce.
class SlowMembers : public LazyMembers {
 public:
  explicit SlowMembers(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  absl::StatusOr<Value> Get(int64_t i) const override {
    slow_started.fetch_add(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return Value(Tensor::Scalar(1.0f));
  }

 private:
  const int64_t n_;
};

TEST(FederatingExecutorTest, CancelStopsAnAggregationOverLazyMembers) {
  ResetCounters();
  test_util::RunWithDeadline("cancel a long mean", [] {
    constexpr int64_t kClients = 10000;
    Stack s(kClients, 2);
    OwnedValue x = s.Make(Value::LazyFederated(
        Placement::kClients, std::make_shared<SlowMembers>(kClients)));
    OwnedValue mean =
        s.CallOf(s.Intrinsic("federated_mean", "{float32}@CLIENTS"), x);
    while (slow_started.load() == 0) std::this_thread::yield();
    s.fed().Cancel();
    absl::StatusOr<Value> r = s.Get(mean);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
    EXPECT_LT(slow_started.load(), kClients);
  });
}

}  // namespace
}  // namespace fedexec::exec
