// The fixture of the federating executor's tests
// (federating_executor_test.cc, federated_aggregation_test.cc): a stack
// FederatingExecutor -> LeafExecutor with native test functions (counting
// probes, increments, a slow and a failing function), and helpers to build
// and read values through the Executor interface.
#ifndef FEDEXEC_EXECUTORS_FEDERATING_EXECUTOR_TEST_UTIL_H_
#define FEDEXEC_EXECUTORS_FEDERATING_EXECUTOR_TEST_UTIL_H_

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
#include "executors/federating_executor.h"
#include "executors/leaf_executor.h"
#include "gtest/gtest.h"
#include "ir/ast.h"
#include "ir/intrinsics.h"
#include "ir/value_syntax.h"
#include "runtimes/native/registry.h"
#include "testing/concurrency.h"
#include "testing/native_runtime.h"
#include "testing/types.h"

namespace fedexec::exec::federating_test {

using ::fedexec::test_util::T;

// ------------------------------------------------ test native functions

inline std::atomic<int64_t> probe_calls{0};
inline std::atomic<int64_t> probe_live{0};
inline std::atomic<int64_t> probe_max_live{0};
inline std::atomic<int64_t> inc_calls{0};
inline std::atomic<int64_t> pick_calls{0};
inline std::atomic<int64_t> slow_started{0};

inline void ResetCounters() {
  probe_calls = 0;
  probe_live = 0;
  probe_max_live = 0;
  inc_calls = 0;
  pick_calls = 0;
  slow_started = 0;
}

// ( -> float32[4]) of ones, whose buffer counts itself alive: how many of
// its results exist at once.
inline absl::StatusOr<Value> Probe(const Value&) {
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
inline absl::StatusOr<Value> Inc(const Value& x) {
  inc_calls.fetch_add(1);
  return Value(Tensor::Scalar(x.tensor().data<float>()[0] + 1.0f));
}

// (<float32[?], int32> -> float32): the key-th element, counted.
inline absl::StatusOr<Value> Pick(const Value& arg) {
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
inline absl::StatusOr<Value> Slow(const Value& x) {
  slow_started.fetch_add(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return x;
}

// ( -> float32): always fails.
inline absl::StatusOr<Value> Fail(const Value&) {
  return absl::InvalidArgumentError("fail: boom");
}

inline void RegisterTestFunctions() {
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

inline Value V(std::string_view text) {
  absl::StatusOr<Value> v =
      ir::ParseValue(absl::string_view(text.data(), text.size()));
  EXPECT_TRUE(v.ok()) << text << ": " << v.status();
  return v.ok() ? *std::move(v) : Value();
}

inline Value PerClient(std::vector<Value> members) {
  return Value::Federated(Placement::kClients, false, std::move(members));
}

// An execution stack FederatingExecutor -> LeafExecutor with its own pool.
class Stack {
 public:
  explicit Stack(int64_t num_clients, int threads = 2)
      : pool_(threads),
        context_(std::make_shared<ExecutionContext>(pool_)),
        leaf_(std::make_shared<LeafExecutor>(context_,
                                             test_util::NativeRuntimes())),
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

}  // namespace fedexec::exec::federating_test

#endif  // FEDEXEC_EXECUTORS_FEDERATING_EXECUTOR_TEST_UTIL_H_
