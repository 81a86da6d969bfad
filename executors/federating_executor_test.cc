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

// ------------------------------------------------ test native functions

std::atomic<int64_t> probe_calls{0};
std::atomic<int64_t> probe_live{0};
std::atomic<int64_t> probe_max_live{0};
std::atomic<int64_t> inc_calls{0};
std::atomic<int64_t> pick_calls{0};
std::atomic<int64_t> slow_started{0};

void ResetCounters() {
  probe_calls = 0;
  probe_live = 0;
  probe_max_live = 0;
  inc_calls = 0;
  pick_calls = 0;
  slow_started = 0;
}

// ( -> float32[4]) of ones, whose buffer counts itself alive: how many of
// its results exist at once.
absl::StatusOr<Value> Probe(const Value&) {
  probe_calls.fetch_add(1);
  const int64_t live = probe_live.fetch_add(1) + 1;
  int64_t seen = probe_max_live.load();
  while (live > seen && !probe_max_live.compare_exchange_weak(seen, live)) {
  }
  std::shared_ptr<void> buffer = AllocateBuffer(4 * sizeof(float));
  float* data = static_cast<float*>(buffer.get());
  for (int i = 0; i < 4; ++i) data[i] = 1.0f;
  std::shared_ptr<const void> owner(buffer.get(),
                                    [buffer](const void*) mutable {
                                      probe_live.fetch_sub(1);
                                      buffer.reset();
                                    });
  absl::StatusOr<Tensor> t = Tensor::FromBuffer(
      DType::kFloat32, {4}, std::move(owner), data, 4 * sizeof(float));
  if (!t.ok()) return t.status();
  return Value(*std::move(t));
}

// (float32 -> float32): x + 1, counted.
absl::StatusOr<Value> Inc(const Value& x) {
  inc_calls.fetch_add(1);
  return Value(Tensor::Scalar(x.tensor().data<float>()[0] + 1.0f));
}

// (<float32[?], int32> -> float32): the key-th element, counted.
absl::StatusOr<Value> Pick(const Value& arg) {
  pick_calls.fetch_add(1);
  const auto& e = arg.struct_value().elements;
  const Tensor& values = e[0].value->tensor();
  const int32_t key = e[1].value->tensor().data<int32_t>()[0];
  if (key >= values.num_elements()) {
    return absl::InvalidArgumentError("pick: key past the end");
  }
  return Value(Tensor::Scalar(values.data<float>()[key]));
}

// (float32 -> float32): x, slowly.
absl::StatusOr<Value> Slow(const Value& x) {
  slow_started.fetch_add(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return x;
}

// ( -> float32): always fails.
absl::StatusOr<Value> Fail(const Value&) {
  return absl::InvalidArgumentError("fail: boom");
}

void RegisterTestFunctions() {
  static const bool done = [] {
    native::NativeRegistry& r = native::NativeRegistry::Default();
    EXPECT_TRUE(r.Register("fed_test_probe", "( -> float32[4])", Probe).ok());
    EXPECT_TRUE(r.Register("fed_test_inc", "(float32 -> float32)", Inc).ok());
    EXPECT_TRUE(
        r.Register("fed_test_pick", "(<float32[?], int32> -> float32)", Pick)
            .ok());
    EXPECT_TRUE(r.Register("fed_test_slow", "(float32 -> float32)", Slow).ok());
    EXPECT_TRUE(r.Register("fed_test_fail", "( -> float32)", Fail).ok());
    return true;
  }();
  (void)done;
}

// ------------------------------------------------------------- helpers

Value V(std::string_view text) {
  absl::StatusOr<Value> v =
      ir::ParseValue(absl::string_view(text.data(), text.size()));
  EXPECT_TRUE(v.ok()) << text << ": " << v.status();
  return v.ok() ? *std::move(v) : Value();
}

Value PerClient(std::vector<Value> members) {
  return Value::Federated(Placement::kClients, false, std::move(members));
}

// An execution stack FederatingExecutor -> LeafExecutor with its own pool.
class Stack {
 public:
  explicit Stack(int64_t num_clients, int threads = 2)
      : pool_(threads),
        context_(std::make_shared<ExecutionContext>(pool_)),
        leaf_(std::make_shared<LeafExecutor>(context_, test_util::NativeRuntimes())),
        fed_(std::make_shared<FederatingExecutor>(context_, num_clients,
                                                  leaf_)) {
    RegisterTestFunctions();
  }

  FederatingExecutor& fed() { return *fed_; }

  OwnedValue Make(const Value& value) {
    absl::StatusOr<OwnedValue> h = fed_->CreateValue(value);
    EXPECT_TRUE(h.ok()) << h.status();
    return h.ok() ? *std::move(h) : OwnedValue();
  }
  OwnedValue Text(std::string_view text) { return Make(V(text)); }

  // The intrinsic typed for an argument of type `argument_type`.
  OwnedValue Intrinsic(const std::string& uri, std::string_view argument_type) {
    const ir::Type arg =
        T(absl::string_view(argument_type.data(), argument_type.size()));
    absl::StatusOr<ir::Type> type = ir::InferIntrinsicType(uri, &arg);
    EXPECT_TRUE(type.ok()) << type.status();
    return Node(ir::MakeNode(ir::IntrinsicNode{uri}, *type));
  }
  OwnedValue Native(const std::string& name, std::string_view type) {
    return Node(ir::MakeNode(ir::NativeNode{name},
                             T(absl::string_view(type.data(), type.size()))));
  }
  OwnedValue Node(const ir::NodePtr& node) {
    absl::StatusOr<OwnedValue> h = fed_->CreateValue(node);
    EXPECT_TRUE(h.ok()) << h.status();
    return h.ok() ? *std::move(h) : OwnedValue();
  }
  OwnedValue Struct(std::vector<const OwnedValue*> elements,
                    std::vector<std::string> names = {}) {
    std::vector<StructElementId> ids;
    for (size_t i = 0; i < elements.size(); ++i) {
      ids.push_back({i < names.size() ? names[i] : "", elements[i]->id()});
    }
    absl::StatusOr<OwnedValue> h = fed_->CreateStruct(ids);
    EXPECT_TRUE(h.ok()) << h.status();
    return h.ok() ? *std::move(h) : OwnedValue();
  }
  OwnedValue CallOf(const OwnedValue& fn, const OwnedValue& arg) {
    absl::StatusOr<OwnedValue> h = fed_->CreateCall(fn, arg);
    EXPECT_TRUE(h.ok()) << h.status();
    return h.ok() ? *std::move(h) : OwnedValue();
  }
  absl::StatusOr<Value> Get(const OwnedValue& v) {
    return fed_->Materialize(v);
  }
  absl::StatusOr<Value> Call(const OwnedValue& fn, const OwnedValue& arg) {
    return Get(CallOf(fn, arg));
  }
  // uri typed for `argument_type`, applied to `arg`.
  absl::StatusOr<Value> Run(const std::string& uri,
                            std::string_view argument_type,
                            const OwnedValue& arg) {
    OwnedValue fn = Intrinsic(uri, argument_type);
    return Call(fn, arg);
  }

 private:
  ThreadPool pool_;
  std::shared_ptr<ExecutionContext> context_;
  std::shared_ptr<LeafExecutor> leaf_;
  std::shared_ptr<FederatingExecutor> fed_;
};

#define EXPECT_VALUE(result, text)                                   \
  do {                                                               \
    const absl::StatusOr<Value>& r_ = (result);                      \
    ASSERT_TRUE(r_.ok()) << r_.status();                             \
    EXPECT_TRUE(r_->Equals(V(text)))                                 \
        << "got " << ir::PrintValue(*r_) << ", expected " << (text); \
  } while (0)

#define EXPECT_ERROR(result, want_code, substring)                         \
  do {                                                                     \
    const absl::StatusOr<Value>& r_ = (result);                            \
    ASSERT_FALSE(r_.ok()) << "got " << ir::PrintValue(*r_);                \
    EXPECT_EQ(r_.status().code(), (want_code)) << r_.status();             \
    EXPECT_THAT(std::string(r_.status().message()), HasSubstr(substring)); \
  } while (0)

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
  EXPECT_VALUE(s.Run("federated_zip_at_clients",
                     "<x={int32}@CLIENTS,<{float32}@CLIENTS,z=int32[2]@CLIENTS>>",
                     xyz),
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
  EXPECT_ERROR(s.Run("federated_zip_at_clients",
                     "<{int32}@CLIENTS,<{float32}@CLIENTS,{float32}@CLIENTS>>",
                     bad),
               absl::StatusCode::kInvalidArgument,
               "federated_zip_at_clients expects argument 3 at CLIENTS, got "
               "float32@SERVER");
  OwnedValue nothing = s.Struct({&empty});
  EXPECT_ERROR(s.Run("federated_zip_at_clients", "<{int32}@CLIENTS>", nothing),
               absl::StatusCode::kInvalidArgument,
               "federated_zip_at_clients expects a struct with at least one "
               "CLIENTS value");
}

// ----------------------------------------------------- aggregations

TEST(FederatingExecutorTest, SumMeanMinMax) {
  Stack s(3);
  OwnedValue x = s.Text("{1.0, -2.0, 4.0}@CLIENTS");
  EXPECT_VALUE(s.Run("federated_sum", "{float32}@CLIENTS", x), "3.0@SERVER");
  EXPECT_VALUE(s.Run("federated_mean", "{float32}@CLIENTS", x), "1.0@SERVER");
  EXPECT_VALUE(s.Run("federated_min", "{float32}@CLIENTS", x), "-2.0@SERVER");
  EXPECT_VALUE(s.Run("federated_max", "{float32}@CLIENTS", x), "4.0@SERVER");

  OwnedValue ints = s.Text("{[1, 5], [3, -2], [2, 2]}@CLIENTS");
  EXPECT_VALUE(s.Run("federated_sum", "{int32[2]}@CLIENTS", ints),
               "[6, 5]@SERVER");
  EXPECT_VALUE(s.Run("federated_min", "{int32[2]}@CLIENTS", ints),
               "[1, -2]@SERVER");
  EXPECT_VALUE(s.Run("federated_max", "{int32[2]}@CLIENTS", ints),
               "[3, 5]@SERVER");

  // All-equal x over 3 clients counts 3 times.
  OwnedValue same = s.Text("<a=1.5, b=<c=[1, 2]>>@CLIENTS");
  EXPECT_VALUE(
      s.Run("federated_sum", "{<a=float32,b=<c=int32[2]>>}@CLIENTS", same),
      "<a=4.5, b=<c=[3, 6]>>@SERVER");
  OwnedValue same_f = s.Text("2.5@CLIENTS");
  EXPECT_VALUE(s.Run("federated_mean", "{float32}@CLIENTS", same_f),
               "2.5@SERVER");

  // Nested named structs.
  OwnedValue nested = s.Text(
      "{<a=1.0, b=<c=[1.0, 2.0]>>, <a=2.0, b=<c=[3.0, 4.0]>>, "
      "<a=3.0, b=<c=[5.0, 0.0]>>}@CLIENTS");
  const char* nested_type = "{<a=float32,b=<c=float32[2]>>}@CLIENTS";
  EXPECT_VALUE(s.Run("federated_sum", nested_type, nested),
               "<a=6.0, b=<c=[9.0, 6.0]>>@SERVER");
  EXPECT_VALUE(s.Run("federated_mean", nested_type, nested),
               "<a=2.0, b=<c=[3.0, 2.0]>>@SERVER");
  // The mean is the sum divided by the count, not multiplied by the rounded
  // reciprocal: seven float32 1.5s give 1.5 (10.5f * (1.0f / 7) would be
  // 1.5000001).
  {
    Stack seven(7);
    OwnedValue v = seven.Text("{1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5}@CLIENTS");
    EXPECT_VALUE(seven.Run("federated_mean", "{float32}@CLIENTS", v),
                 "1.5@SERVER");
    OwnedValue h = seven.Text(
        "{float16(1.5), float16(1.5), float16(1.5), float16(1.5), "
        "float16(1.5), float16(1.5), float16(1.5)}@CLIENTS");
    EXPECT_VALUE(seven.Run("federated_mean", "{float16}@CLIENTS", h),
                 "float16(1.5)@SERVER");
  }
  EXPECT_VALUE(s.Run("federated_min", nested_type, nested),
               "<a=1.0, b=<c=[1.0, 0.0]>>@SERVER");
  EXPECT_VALUE(s.Run("federated_max", nested_type, nested),
               "<a=3.0, b=<c=[5.0, 4.0]>>@SERVER");
}

TEST(FederatingExecutorTest, WeightedMean) {
  Stack s(2);
  OwnedValue x =
      s.Text("{<a=1.0, b=[2.0, 0.0]>, <a=3.0, b=[6.0, 4.0]>}@CLIENTS");
  OwnedValue w = s.Text("{1.0, 3.0}@CLIENTS");
  OwnedValue xw = s.Struct({&x, &w});
  EXPECT_VALUE(
      s.Run("federated_weighted_mean",
            "<{<a=float32,b=float32[2]>}@CLIENTS,{float32}@CLIENTS>", xw),
      "<a=2.5, b=[5.0, 3.0]>@SERVER");
  OwnedValue bad_w = s.Text("{1.0, -3.0}@CLIENTS");
  OwnedValue xb = s.Struct({&x, &bad_w});
  EXPECT_ERROR(
      s.Run("federated_weighted_mean",
            "<{<a=float32,b=float32[2]>}@CLIENTS,{float32}@CLIENTS>", xb),
      absl::StatusCode::kInvalidArgument,
      "federated_weighted_mean: client 1: ");
  // Integer weights (example counts) as well.
  OwnedValue iw = s.Text("{1, 3}@CLIENTS");
  OwnedValue xiw = s.Struct({&x, &iw});
  EXPECT_VALUE(
      s.Run("federated_weighted_mean",
            "<{<a=float32,b=float32[2]>}@CLIENTS,{int32}@CLIENTS>", xiw),
      "<a=2.5, b=[5.0, 3.0]>@SERVER");
  OwnedValue neg = s.Text("{int64(1), int64(-2)}@CLIENTS");
  OwnedValue xneg = s.Struct({&x, &neg});
  EXPECT_ERROR(
      s.Run("federated_weighted_mean",
            "<{<a=float32,b=float32[2]>}@CLIENTS,{int64}@CLIENTS>", xneg),
      absl::StatusCode::kInvalidArgument,
      "federated_weighted_mean: client 1: weight -2 is negative");
  OwnedValue zero = s.Text("{0, 0}@CLIENTS");
  OwnedValue xzero = s.Struct({&x, &zero});
  EXPECT_ERROR(
      s.Run("federated_weighted_mean",
            "<{<a=float32,b=float32[2]>}@CLIENTS,{int32}@CLIENTS>", xzero),
      absl::StatusCode::kInvalidArgument,
      "federated_weighted_mean: the weights sum to 0");
  // A division by the total weight: seven weights of 1 give the mean 1.5.
  Stack seven(7);
  OwnedValue v = seven.Text("{1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5}@CLIENTS");
  OwnedValue ones = seven.Text("{1, 1, 1, 1, 1, 1, 1}@CLIENTS");
  OwnedValue vo = seven.Struct({&v, &ones});
  EXPECT_VALUE(seven.Run("federated_weighted_mean",
                         "<{float32}@CLIENTS,{int32}@CLIENTS>", vo),
               "1.5@SERVER");
}

TEST(FederatingExecutorTest, AggregationBlockSizeDependsOnTheClientCount) {
  EXPECT_EQ(AggregationBlockSize(0), 1);
  EXPECT_EQ(AggregationBlockSize(10), 1);
  EXPECT_EQ(AggregationBlockSize(64), 1);
  EXPECT_EQ(AggregationBlockSize(65), 2);
  EXPECT_EQ(AggregationBlockSize(129), 4);
  EXPECT_EQ(AggregationBlockSize(300), 8);
  EXPECT_EQ(AggregationBlockSize(512), 8);
  EXPECT_EQ(AggregationBlockSize(513), 16);
  EXPECT_EQ(AggregationBlockSize(1000), 16);
  EXPECT_EQ(AggregationBlockSize(int64_t{1} << 40), kMaxAggregationBlockSize);
}

TEST(FederatingExecutorTest, Aggregate) {
  // accumulate = subtract, merge = add, report = negate: each block of
  // AggregationBlockSize(n) clients starts from zero, so the result is
  // -(blocks * zero - sum of x).
  struct Case {
    int n;
    int blocks;
  };
  for (const Case c : {Case{20, 20}, Case{1100, 69}}) {
    SCOPED_TRACE(c.n);
    const int64_t block = AggregationBlockSize(c.n);
    ASSERT_EQ((c.n + block - 1) / block, c.blocks);
    Stack s(c.n);
    std::vector<Value> xs;
    float total = 0;
    for (int i = 0; i < c.n; ++i) {
      xs.push_back(Value(Tensor::Scalar(static_cast<float>(i))));
      total += static_cast<float>(i);
    }
    OwnedValue x = s.Make(PerClient(std::move(xs)));
    OwnedValue zero = s.Text("100.0");
    OwnedValue sub = s.Native("subtract", "(<float32,float32> -> float32)");
    OwnedValue add = s.Native("add", "(<float32,float32> -> float32)");
    OwnedValue neg = s.Native("negate", "(float32 -> float32)");
    OwnedValue arg = s.Struct({&x, &zero, &sub, &add, &neg});
    const char* type =
        "<{float32}@CLIENTS,float32,(<float32,float32> -> float32),"
        "(<float32,float32> -> float32),(float32 -> float32)>";
    // Integers below 2^24: every sum is exact.
    const auto at_server = [](float v) {
      return ir::PrintValue(Value::Federated(
          Placement::kServer, true, {Value(Tensor::Scalar(v))}));
    };
    EXPECT_VALUE(s.Run("federated_aggregate", type, arg),
                 at_server(-(100.0f * c.blocks - total)));

    // An all-equal value aggregates as that value at every client.
    OwnedValue same = s.Text("1.0@CLIENTS");
    OwnedValue arg2 = s.Struct({&same, &zero, &sub, &add, &neg});
    EXPECT_VALUE(s.Run("federated_aggregate", type, arg2),
                 at_server(-(100.0f * c.blocks - static_cast<float>(c.n))));
  }
}

TEST(FederatingExecutorTest, AggregateOverZeroClientsReportsZero) {
  Stack s(0);
  OwnedValue x = s.Text("{}@CLIENTS");
  OwnedValue zero = s.Text("100.0");
  OwnedValue add = s.Native("add", "(<float32,float32> -> float32)");
  OwnedValue neg = s.Native("negate", "(float32 -> float32)");
  OwnedValue arg = s.Struct({&x, &zero, &add, &add, &neg});
  EXPECT_VALUE(s.Run("federated_aggregate",
                     "<{float32}@CLIENTS,float32,(<float32,float32> -> "
                     "float32),(<float32,float32> -> float32),(float32 -> "
                     "float32)>",
                     arg),
               "-100.0@SERVER");
}

TEST(FederatingExecutorTest, SecureSum) {
  Stack s(3);
  OwnedValue x = s.Text("{<1, [0, 10]>, <2, [5, 1]>, <3, [10, 10]>}@CLIENTS");
  OwnedValue m = s.Text("10");
  OwnedValue xm = s.Struct({&x, &m});
  const char* type = "<{<int32,int32[2]>}@CLIENTS,int32>";
  EXPECT_VALUE(s.Run("federated_secure_sum", type, xm), "<6, [15, 21]>@SERVER");
  // The bound may also be given at SERVER.
  OwnedValue ms = s.Text("10@SERVER");
  OwnedValue xms = s.Struct({&x, &ms});
  EXPECT_VALUE(s.Run("federated_secure_sum", type, xms),
               "<6, [15, 21]>@SERVER");
  // Out of range.
  OwnedValue small = s.Text("5");
  OwnedValue xs = s.Struct({&x, &small});
  EXPECT_ERROR(s.Run("federated_secure_sum", type, xs),
               absl::StatusCode::kInvalidArgument,
               "federated_secure_sum: client 0: value 10 at [1] element 1 is "
               "outside [0, 5]");
}

TEST(FederatingExecutorTest, SecureSumBitwidth) {
  Stack s(3);
  OwnedValue x = s.Text("{5, 6, 7}@CLIENTS");
  OwnedValue b = s.Text("3");
  OwnedValue xb = s.Struct({&x, &b});
  // Each value in [0, 8); the sum is exact (its width grows with the
  // number of clients), not 18 mod 8.
  EXPECT_VALUE(
      s.Run("federated_secure_sum_bitwidth", "<{int32}@CLIENTS,int32>", xb),
      "18@SERVER");
  OwnedValue big = s.Text("{5, 8, 7}@CLIENTS");
  OwnedValue bigb = s.Struct({&big, &b});
  EXPECT_ERROR(
      s.Run("federated_secure_sum_bitwidth", "<{int32}@CLIENTS,int32>", bigb),
      absl::StatusCode::kInvalidArgument,
      "federated_secure_sum_bitwidth: client 1: value 8 is outside [0, 8) "
      "(bit width 3)");
  // A sum that does not fit the values' dtype is an error, not wrapped.
  OwnedValue bytes = s.Text("{uint8(200), uint8(50), uint8(10)}@CLIENTS");
  OwnedValue b8 = s.Text("8");
  OwnedValue bytes_b = s.Struct({&bytes, &b8});
  EXPECT_ERROR(s.Run("federated_secure_sum_bitwidth",
                     "<{uint8}@CLIENTS,int32>", bytes_b),
               absl::StatusCode::kInvalidArgument,
               "federated_secure_sum_bitwidth: the sum 260 does not fit uint8");
  OwnedValue wide = s.Text("70");
  OwnedValue xw = s.Struct({&x, &wide});
  EXPECT_ERROR(
      s.Run("federated_secure_sum_bitwidth", "<{int32}@CLIENTS,int32>", xw),
      absl::StatusCode::kInvalidArgument, "bit width");
}

TEST(FederatingExecutorTest, SecureModularSum) {
  Stack s(3);
  OwnedValue x = s.Text("{<5, [0, 1]>, <6, [2, 1]>, <4, [1, 1]>}@CLIENTS");
  OwnedValue m = s.Text("7");
  OwnedValue xm = s.Struct({&x, &m});
  const char* type = "<{<int32,int32[2]>}@CLIENTS,int32>";
  // 15 mod 7, [3, 3] mod 7.
  EXPECT_VALUE(s.Run("federated_secure_modular_sum", type, xm),
               "<1, [3, 3]>@SERVER");
  // A modulus per element, given at SERVER.
  OwnedValue per = s.Text("<10, [3, 2]>@SERVER");
  OwnedValue xper = s.Struct({&x, &per});
  EXPECT_VALUE(s.Run("federated_secure_modular_sum",
                     "<{<int32,int32[2]>}@CLIENTS,<int32,int32[2]>>", xper),
               "<5, [0, 1]>@SERVER");
  // Each value must lie in [0, M).
  OwnedValue small = s.Text("6");
  OwnedValue xs = s.Struct({&x, &small});
  EXPECT_ERROR(s.Run("federated_secure_modular_sum", type, xs),
               absl::StatusCode::kInvalidArgument,
               "federated_secure_modular_sum: client 1: value 6 at [0] is "
               "outside [0, 6)");
  OwnedValue neg = s.Text("{<1, [0, 0]>, <-1, [0, 0]>, <0, [0, 0]>}@CLIENTS");
  OwnedValue negm = s.Struct({&neg, &m});
  EXPECT_ERROR(s.Run("federated_secure_modular_sum", type, negm),
               absl::StatusCode::kInvalidArgument,
               "federated_secure_modular_sum: client 1: value -1 at [0] is "
               "outside [0, 7)");
  OwnedValue zero = s.Text("0");
  OwnedValue xz = s.Struct({&x, &zero});
  EXPECT_ERROR(s.Run("federated_secure_modular_sum", type, xz),
               absl::StatusCode::kInvalidArgument,
               "federated_secure_modular_sum: modulus M is 0, must be in [1, "
               "9223372036854775807]");
  // Over zero clients: the zero.
  Stack none(0);
  OwnedValue nx = none.Text("{}@CLIENTS");
  OwnedValue nm = none.Text("7");
  EXPECT_VALUE(none.Run("federated_secure_modular_sum",
                        "<{int32[2]}@CLIENTS,int32>", none.Struct({&nx, &nm})),
               "[0, 0]@SERVER");
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
    EXPECT_ERROR(s.Run(uri, type, arg3), absl::StatusCode::kInvalidArgument,
                 absl::StrCat(uri, ": client 1 has key 7, outside ",
                              std::string(uri) == "federated_select"
                                  ? "[0, 4]"
                                  : "[0, 5)"));
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

// ----------------------------------------------------- 10,000 clients

Value RandomClients(int64_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<Value> members;
  members.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    members.push_back(Value(Tensor::Scalar(dist(gen))));
  }
  return PerClient(std::move(members));
}

uint32_t Bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

TEST(FederatingExecutorTest, FloatSumAndMeanAreBitIdenticalAcrossThreads) {
  constexpr int64_t kClients = 10000;
  const Value data = RandomClients(kClients, 42);

  // The reference: TreeReduce over plain floats with the executor's block
  // size.
  ThreadPool ref_pool(3);
  absl::StatusOr<float> ref = TreeReduce(
      ref_pool, kClients,
      TreeReduceOptions{AggregationBlockSize(kClients), 0, nullptr},
      [] { return 0.0f; },
      [&](float& acc, int64_t c) {
        acc += data.federated().members[c].tensor().data<float>()[0];
      },
      [](float& left, float&& right) { left += right; });
  ASSERT_TRUE(ref.ok());
  const float ref_mean = *ref * static_cast<float>(1.0 / kClients);

  for (int threads : {1, 2, 8}) {
    SCOPED_TRACE(threads);
    Stack s(kClients, threads);
    OwnedValue x = s.Make(data);
    absl::StatusOr<Value> sum = s.Run("federated_sum", "{float32}@CLIENTS", x);
    ASSERT_TRUE(sum.ok()) << sum.status();
    EXPECT_EQ(Bits(sum->federated().members[0].tensor().data<float>()[0]),
              Bits(*ref));
    absl::StatusOr<Value> mean =
        s.Run("federated_mean", "{float32}@CLIENTS", x);
    ASSERT_TRUE(mean.ok()) << mean.status();
    EXPECT_EQ(Bits(mean->federated().members[0].tensor().data<float>()[0]),
              Bits(ref_mean));
  }
}

TEST(FederatingExecutorTest, MapThenSumOverTenThousandClients) {
  ResetCounters();
  constexpr int64_t kClients = 10000;
  Stack s(kClients, 4);
  std::vector<Value> members;
  int64_t expected = 0;
  for (int64_t i = 0; i < kClients; ++i) {
    members.push_back(Value(Tensor::Scalar(static_cast<float>(i % 7))));
    expected += i % 7 + 1;
  }
  OwnedValue x = s.Make(PerClient(std::move(members)));
  OwnedValue inc = s.Native("fed_test_inc", "(float32 -> float32)");
  OwnedValue arg = s.Struct({&inc, &x});
  OwnedValue mapped = s.CallOf(
      s.Intrinsic("federated_map", "<(float32 -> float32),{float32}@CLIENTS>"),
      arg);
  absl::StatusOr<Value> sum =
      s.Call(s.Intrinsic("federated_sum", "{float32}@CLIENTS"), mapped);
  ASSERT_TRUE(sum.ok()) << sum.status();
  // Small integers: every partial sum is exact in float32.
  EXPECT_EQ(sum->federated().members[0].tensor().data<float>()[0],
            static_cast<float>(expected));
  EXPECT_EQ(inc_calls.load(), kClients);
  absl::StatusOr<Value> m = s.Get(mapped);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->federated().members.size(), static_cast<size_t>(kClients));
  EXPECT_TRUE(m->federated().members[9].Equals(V("3.0")));
}

// Members handed in lazily, from a vector: the same data as a concrete
// value, through the unbuffered per-client folds.
class VectorMembers : public LazyMembers {
 public:
  explicit VectorMembers(std::vector<Value> members)
      : members_(std::move(members)) {}
  int64_t size() const override {
    return static_cast<int64_t>(members_.size());
  }
  absl::StatusOr<Value> Get(int64_t i) const override {
    return members_[static_cast<size_t>(i)];
  }

 private:
  const std::vector<Value> members_;
};

// The tensors of v, depth-first, as raw bytes (bit-identity).
std::string BitsOf(const Value& v) {
  if (v.is_federated()) return BitsOf(v.federated().members[0]);
  if (v.is_tensor()) {
    return absl::StrCat(
        v.tensor().TypeString(), ":",
        std::string(static_cast<const char*>(v.tensor().raw_data()),
                    v.tensor().byte_size()));
  }
  std::string out = "<";
  for (const auto& e : v.struct_value().elements) {
    absl::StrAppend(&out, e.name, "=", BitsOf(*e.value), ",");
  }
  return out + ">";
}

Value RandomFloats(std::mt19937& rng, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& e : v) e = std::uniform_real_distribution<float>(-10, 10)(rng);
  return Value(Tensor::Vector<float>(v));
}

// Large concrete members fold in blocks through FoldBlock; lazy ones one by
// one: the results and the errors must be the same.
TEST(FederatingExecutorTest, ConcreteAndLazyMembersAggregateBitIdentically) {
  constexpr int64_t kClients = 37;  // two full blocks and a partial one
  constexpr int64_t kBig = 20011;
  const std::string type = "<a=float32[20011],b=float32[3]>";
  std::mt19937 rng(77);
  std::vector<Value> members, weights;
  for (int64_t i = 0; i < kClients; ++i) {
    std::vector<std::pair<std::string, Value>> e;
    e.emplace_back("a", RandomFloats(rng, kBig));
    e.emplace_back("b", RandomFloats(rng, 3));
    members.push_back(Value::Struct(std::move(e)));
    weights.push_back(Value(Tensor::Scalar<float>(
        std::uniform_real_distribution<float>(0, 3)(rng))));
  }
  const Value concrete = PerClient(members);
  const Value lazy = Value::LazyFederated(
      Placement::kClients, std::make_shared<VectorMembers>(members));
  const Value concrete_w = PerClient(weights);
  for (int threads : {1, 3}) {
    SCOPED_TRACE(threads);
    Stack s(kClients, threads);
    OwnedValue c = s.Make(concrete);
    OwnedValue l = s.Make(lazy);
    OwnedValue w = s.Make(concrete_w);
    for (const char* uri : {"federated_sum", "federated_mean", "federated_min",
                            "federated_max"}) {
      SCOPED_TRACE(uri);
      const std::string arg_type = absl::StrCat("{", type, "}@CLIENTS");
      absl::StatusOr<Value> a = s.Run(uri, arg_type, c);
      absl::StatusOr<Value> b = s.Run(uri, arg_type, l);
      ASSERT_TRUE(a.ok()) << a.status();
      ASSERT_TRUE(b.ok()) << b.status();
      EXPECT_TRUE(BitsOf(*a) == BitsOf(*b));
    }
    const std::string wtype =
        absl::StrCat("<{", type, "}@CLIENTS,{float32}@CLIENTS>");
    OwnedValue cw = s.Struct({&c, &w});
    OwnedValue lw = s.Struct({&l, &w});
    absl::StatusOr<Value> a = s.Run("federated_weighted_mean", wtype, cw);
    absl::StatusOr<Value> b = s.Run("federated_weighted_mean", wtype, lw);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_TRUE(BitsOf(*a) == BitsOf(*b));

    // All-equal: one member for every client.
    OwnedValue same =
        s.Make(Value::Federated(Placement::kClients, true, {members[5]}));
    OwnedValue same_lazy = s.Make(Value::LazyFederated(
        Placement::kClients, std::make_shared<VectorMembers>(
                                 std::vector<Value>(kClients, members[5]))));
    absl::StatusOr<Value> x =
        s.Run("federated_sum", absl::StrCat("{", type, "}@CLIENTS"), same);
    absl::StatusOr<Value> y =
        s.Run("federated_sum", absl::StrCat("{", type, "}@CLIENTS"), same_lazy);
    ASSERT_TRUE(x.ok()) << x.status();
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_TRUE(BitsOf(*x) == BitsOf(*y));
  }
}

TEST(FederatingExecutorTest, ConcreteAndLazyMembersFailAlike) {
  constexpr int64_t kClients = 37;
  std::mt19937 rng(3);
  std::vector<Value> members, weights;
  for (int64_t i = 0; i < kClients; ++i) {
    members.push_back(RandomFloats(rng, 20000));
    weights.push_back(Value(Tensor::Scalar<float>(1.5f)));
  }
  auto run = [&](const char* uri, std::vector<Value> xs, std::vector<Value> ws,
                 bool lazy) -> absl::Status {
    Stack s(kClients, 2);
    const Value v =
        lazy ? Value::LazyFederated(Placement::kClients,
                                    std::make_shared<VectorMembers>(xs))
             : PerClient(xs);
    OwnedValue x = s.Make(v);
    if (ws.empty()) return s.Run(uri, "{float32[20000]}@CLIENTS", x).status();
    OwnedValue w = s.Make(PerClient(ws));
    OwnedValue xw = s.Struct({&x, &w});
    return s.Run(uri, "<{float32[20000]}@CLIENTS,{float32}@CLIENTS>", xw)
        .status();
  };
  // 37 clients: blocks of one. A member of another shape shows when its
  // block merges with its sibling, which names both; a bad weight when its
  // client is folded. Errors come in the tree's order: a block's fold, then
  // the merge that completes a node (core/tree_reduce.h).
  ASSERT_EQ(AggregationBlockSize(kClients), 1);
  struct Case {
    int64_t bad;        // the member of another shape
    std::string pair;   // the merge that finds it
    int64_t weight;     // the negative weight
    std::string first;  // the error reported with both
  };
  for (const Case& c : std::vector<Case>{
           {34, "clients [34, 35) and [35, 36): ", 35,
            "client 35: weight -1 is negative"},
           {34, "clients [34, 35) and [35, 36): ", 32,
            "client 32: weight -1 is negative"},
           {21, "clients [20, 21) and [21, 22): ", 22,
            "clients [20, 21) and [21, 22): expected float32[20000], found "
            "float32[19999]"},
           {21, "clients [20, 21) and [21, 22): ", 19,
            "client 19: weight -1 is negative"},
       }) {
    SCOPED_TRACE(absl::StrCat(c.bad, " ", c.weight));
    std::vector<Value> xs = members;
    xs[static_cast<size_t>(c.bad)] = RandomFloats(rng, 19999);
    absl::Status a = run("federated_mean", xs, {}, false);
    absl::Status b = run("federated_mean", xs, {}, true);
    EXPECT_EQ(a, b);
    EXPECT_THAT(std::string(a.message()),
                HasSubstr(absl::StrCat("federated_mean: ", c.pair)));
    std::vector<Value> ws = weights;
    ws[static_cast<size_t>(c.weight)] = Value(Tensor::Scalar<float>(-1.0f));
    absl::Status e = run("federated_weighted_mean", xs, ws, false);
    absl::Status f = run("federated_weighted_mean", xs, ws, true);
    EXPECT_EQ(e, f);
    EXPECT_THAT(std::string(e.message()),
                HasSubstr("federated_weighted_mean: " + c.first));
  }
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
