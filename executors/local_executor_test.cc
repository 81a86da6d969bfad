// Tests of LocalExecutor, the asynchronous base of in-process executors:
// ids and handles, disposal, malformed requests, structs and selections,
// errors reaching every dependent value, lifetimes, cancellation, the
// destructor waiting for running work, materializing lazy values, and
// freedom from deadlock on pools of one and of four threads.
//
// The executor under test is a plain LocalExecutor over a LeafExecutor;
// native functions from a local registry give calls that count themselves
// or wait at a gate the test opens.
#include "executors/local_executor.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/thread_pool.h"
#include "executors/leaf_executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/value_syntax.h"
#include "runtimes/native/native_runtime.h"
#include "runtimes/native/registry.h"
#include "testing/concurrency.h"
#include "testing/native_runtime.h"
#include "testing/types.h"

namespace fedexec::exec {
namespace {

using ::fedexec::test_util::T;
using ::testing::HasSubstr;

// Calls wait here until the test opens it.
class Gate {
 public:
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // Blocks until `n` calls wait (or have waited) at the gate.
  void AwaitWaiters(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return waiting_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int waiting_ = 0;
};

float ScalarOf(const Value& v) { return v.tensor().data<float>()[0]; }

// A lazy sequence 0, 1, ..., n-1 (float32), failing at `fail_at` if >= 0.
class Range : public LazyElements {
 public:
  Range(int n, int fail_at) : n_(n), fail_at_(fail_at) {}
  absl::Status ForEach(
      absl::FunctionRef<absl::Status(const Value&)> fn) const override {
    for (int i = 0; i < n_; ++i) {
      if (i == fail_at_) return absl::DataLossError("element went missing");
      absl::Status s = fn(Value(Tensor::Scalar(static_cast<float>(i))));
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

 private:
  int n_;
  int fail_at_;
};

// Members i -> 10 * i (float32), produced on demand.
class Members : public LazyMembers {
 public:
  explicit Members(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  absl::StatusOr<Value> Get(int64_t i) const override {
    return Value(Tensor::Scalar(10.0f * static_cast<float>(i)));
  }

 private:
  int64_t n_;
};

// Rejects every string tensor handed in.
class NoStrings : public LocalExecutor {
 public:
  using LocalExecutor::LocalExecutor;
  absl::Status ValidateValue(const Value& value) override {
    if (value.is_tensor() && value.tensor().dtype() == DType::kString) {
      return absl::InvalidArgumentError("no strings here");
    }
    return LocalExecutor::ValidateValue(value);
  }
};

class LocalExecutorTest : public ::testing::TestWithParam<int> {
 protected:
  LocalExecutorTest()
      : pool_(GetParam()), context_(std::make_shared<ExecutionContext>(pool_)) {
    EXPECT_TRUE(native::RegisterBuiltinKernels(registry_).ok());
    EXPECT_TRUE(registry_
                    .Register("gate", "(float32 -> float32)",
                              [this](const Value& x) -> absl::StatusOr<Value> {
                                gate_.Wait();
                                return x;
                              })
                    .ok());
    EXPECT_TRUE(registry_
                    .Register("count", "(float32 -> float32)",
                              [this](const Value& x) -> absl::StatusOr<Value> {
                                counted_.fetch_add(1);
                                return Value(Tensor::Scalar(ScalarOf(x) + 1));
                              })
                    .ok());
    // Spreads work over the stack's pool from inside a pool task.
    EXPECT_TRUE(registry_
                    .Register("nested_sum", "(float32 -> float32)",
                              [this](const Value& x) -> absl::StatusOr<Value> {
                                std::atomic<int64_t> sum{0};
                                ParallelFor(pool_, 1000, 1,
                                            [&](int64_t b, int64_t e) {
                                              for (int64_t i = b; i < e; ++i) {
                                                sum.fetch_add(i);
                                              }
                                            });
                                return Value(Tensor::Scalar(
                                    ScalarOf(x) + static_cast<float>(sum)));
                              })
                    .ok());
    leaf_ = std::make_shared<LeafExecutor>(
        context_, std::vector<std::shared_ptr<const ExternalRuntime>>{
                      std::make_shared<native::NativeRuntime>(registry_)});
    executor_ = std::make_shared<LocalExecutor>(context_, leaf_);
  }
  ~LocalExecutorTest() override { gate_.Open(); }

  Executor& e() { return *executor_; }

  OwnedValue Fn(const std::string& name,
                const std::string& type = "(float32 -> float32)") {
    absl::StatusOr<OwnedValue> f =
        e().CreateValue(ir::MakeNode(ir::NativeNode{name}, T(type)));
    EXPECT_TRUE(f.ok()) << f.status();
    return std::move(f).value();
  }
  OwnedValue Val(const std::string& text) {
    absl::StatusOr<Value> v = ir::ParseValue(text);
    EXPECT_TRUE(v.ok()) << v.status();
    absl::StatusOr<OwnedValue> h = e().CreateValue(*v);
    EXPECT_TRUE(h.ok()) << h.status();
    return std::move(h).value();
  }
  OwnedValue Call(const OwnedValue& f, const OwnedValue& x) {
    absl::StatusOr<OwnedValue> r = e().CreateCall(f, x);
    EXPECT_TRUE(r.ok()) << r.status();
    return std::move(r).value();
  }
  absl::StatusOr<std::string> Printed(const OwnedValue& v) {
    absl::StatusOr<Value> m = e().Materialize(v);
    if (!m.ok()) return m.status();
    return ir::PrintValue(*m);
  }

  native::NativeRegistry registry_;
  Gate gate_;
  std::atomic<int> counted_{0};
  ThreadPool pool_;
  std::shared_ptr<ExecutionContext> context_;
  std::shared_ptr<LeafExecutor> leaf_;
  std::shared_ptr<LocalExecutor> executor_;
};

INSTANTIATE_TEST_SUITE_P(PoolSizes, LocalExecutorTest, ::testing::Values(1, 4),
                         [](const auto& info) {
                           return absl::StrCat("threads", info.param);
                         });

TEST_P(LocalExecutorTest, IdsAreDistinctAndHandlesDispose) {
  std::vector<OwnedValue> values;
  for (int i = 0; i < 10; ++i) values.push_back(Val(absl::StrCat(i, ".0")));
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(values[i].executor(), executor_.get());
    for (int j = 0; j < i; ++j) EXPECT_NE(values[i].id(), values[j].id());
  }
  EXPECT_EQ(e().NumValues(), 10);
  EXPECT_EQ(*Printed(values[7]), "7.0");
  // Moving a handle moves the duty to dispose.
  OwnedValue moved = std::move(values[3]);
  EXPECT_FALSE(values[3].valid());
  values.clear();
  EXPECT_EQ(e().NumValues(), 1);
  moved.Reset();
  EXPECT_FALSE(moved.valid());
  EXPECT_EQ(e().NumValues(), 0);
}

TEST_P(LocalExecutorTest, DisposeOfUnknownOrDisposedIds) {
  absl::Status unknown = e().Dispose(123456);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(unknown.message()), "Dispose: unknown value id 123456");
  OwnedValue v = Val("1.0");
  const ValueId id = v.Release();
  EXPECT_FALSE(v.valid());
  EXPECT_EQ(e().NumValues(), 1);
  EXPECT_TRUE(e().Dispose(id).ok());
  EXPECT_EQ(e().NumValues(), 0);
  EXPECT_EQ(e().Dispose(id).code(), absl::StatusCode::kInvalidArgument);
  // A disposed id is unknown to every operation.
  EXPECT_THAT(std::string(e().Materialize(id).status().message()),
              HasSubstr(absl::StrCat("unknown value id ", id)));
}

TEST_P(LocalExecutorTest, MalformedRequestsFailAtOnce) {
  OwnedValue x = Val("1.0");
  OwnedValue f = Fn("count");
  const int64_t before = e().NumValues();
  const ValueId bad = 987654;
  EXPECT_EQ(e().CreateCall(bad, std::nullopt).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e().CreateCall(f.id(), bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e().CreateStruct({{"a", x.id()}, {"b", bad}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e().CreateSelection(bad, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<OwnedValue> negative = e().CreateSelection(x.id(), -1);
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(negative.status().message()),
              HasSubstr("index -1 is negative"));
  EXPECT_EQ(e().Materialize(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e().CreateValue(ir::NodePtr()).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Nothing was registered by the failed requests.
  EXPECT_EQ(e().NumValues(), before);
}

TEST_P(LocalExecutorTest, StructsAndSelections) {
  OwnedValue a = Val("1.0");
  OwnedValue b = Val("<2, 3>");
  absl::StatusOr<OwnedValue> s =
      e().CreateStruct({{"a", a.id()}, {"b", b.id()}});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*Printed(*s), "<a=1.0, b=<2, 3>>");
  absl::StatusOr<OwnedValue> empty = e().CreateStruct({});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*Printed(*empty), "<>");
  absl::StatusOr<OwnedValue> sel = e().CreateSelection(*s, 1);
  ASSERT_TRUE(sel.ok());
  EXPECT_EQ(*Printed(*sel), "<2, 3>");
  absl::StatusOr<OwnedValue> sel2 = e().CreateSelection(*sel, 0);
  EXPECT_EQ(*Printed(*sel2), "2");
  // Index out of range and a non-struct source: errors of the value.
  absl::StatusOr<OwnedValue> far = e().CreateSelection(*s, 5);
  ASSERT_TRUE(far.ok());
  EXPECT_EQ(std::string(Printed(*far).status().message()),
            "selection [5] from a struct of 2 elements");
  absl::StatusOr<OwnedValue> tensor = e().CreateSelection(a, 0);
  ASSERT_TRUE(tensor.ok());
  EXPECT_EQ(std::string(Printed(*tensor).status().message()),
            "selection [0] from float32, which is not a struct");
}

TEST_P(LocalExecutorTest, CallsWaitForTheirInputs) {
  OwnedValue x = Val("1.0");
  OwnedValue gated = Call(Fn("gate"), x);
  OwnedValue count = Fn("count");
  // Created while their input is still being computed.
  OwnedValue c1 = Call(count, gated);
  OwnedValue c2 = Call(count, c1);
  absl::StatusOr<OwnedValue> s =
      e().CreateStruct({{"", c2.id()}, {"", gated.id()}});
  ASSERT_TRUE(s.ok());
  gate_.AwaitWaiters(1);
  EXPECT_EQ(counted_.load(), 0);
  gate_.Open();
  EXPECT_EQ(*Printed(*s), "<3.0, 1.0>");
  EXPECT_EQ(counted_.load(), 2);
}

TEST_P(LocalExecutorTest, ErrorsReachEveryDependentValue) {
  OwnedValue divide = Fn("divide", "(<int32,int32> -> int32)");
  OwnedValue arg = Val("<1, 0>");
  OwnedValue bad = Call(divide, arg);
  OwnedValue ok = Val("2.0");
  absl::StatusOr<OwnedValue> s =
      e().CreateStruct({{"", ok.id()}, {"", bad.id()}});
  ASSERT_TRUE(s.ok());
  absl::StatusOr<OwnedValue> sel = e().CreateSelection(*s, 0);
  ASSERT_TRUE(sel.ok());
  OwnedValue count = Fn("count");
  OwnedValue call = Call(count, *sel);  // the argument failed
  OwnedValue applied = Call(bad, ok);   // the function failed
  for (const OwnedValue* v : {&bad, &*s, &*sel, &call, &applied}) {
    absl::StatusOr<Value> m = e().Materialize(*v);
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(m.status().message()),
              "divide: integer division by zero (operands int32 and int32)")
        << m.status();
  }
  EXPECT_EQ(counted_.load(), 0);  // nothing ran on a failed input
}

TEST_P(LocalExecutorTest, InputsOutliveTheirHandles) {
  const int64_t states = LocalExecutor::NumLiveStatesForTesting();
  {
    OwnedValue x = Val("1.0");
    OwnedValue gated = Call(Fn("gate"), x);
    OwnedValue count = Fn("count");
    OwnedValue c = Call(count, gated);
    absl::StatusOr<OwnedValue> s = e().CreateStruct({{"", gated.id()}});
    ASSERT_TRUE(s.ok());
    absl::StatusOr<OwnedValue> sel = e().CreateSelection(*s, 0);
    ASSERT_TRUE(sel.ok());
    // Drop the inputs' handles while the computation is still pending.
    x.Reset();
    gated.Reset();
    count.Reset();
    s->Reset();
    EXPECT_EQ(e().NumValues(), 2);
    gate_.Open();
    EXPECT_EQ(*Printed(c), "2.0");
    EXPECT_EQ(*Printed(*sel), "1.0");
  }
  EXPECT_EQ(e().NumValues(), 0);
  // Pool tasks release what they captured right after completing their
  // value: wait for that, then everything is gone.
  test_util::RunWithDeadline("value states released", [&] {
    while (LocalExecutor::NumLiveStatesForTesting() != states) {
      std::this_thread::yield();
    }
  });
  EXPECT_EQ(LocalExecutor::NumLiveStatesForTesting(), states);
}

TEST_P(LocalExecutorTest, LifetimeCountersReturnToTheirStart) {
  const int64_t states = LocalExecutor::NumLiveStatesForTesting();
  {
    ThreadPool pool(GetParam());
    auto context = std::make_shared<ExecutionContext>(pool);
    auto leaf =
        std::make_shared<LeafExecutor>(context, test_util::NativeRuntimes());
    LocalExecutor executor(context, leaf);
    {
      absl::StatusOr<OwnedValue> add = executor.CreateValue(ir::MakeNode(
          ir::NativeNode{"add"}, T("(<float32,float32> -> float32)")));
      absl::StatusOr<OwnedValue> x = executor.CreateValue(
          Value::Struct({{"", Value(Tensor::Scalar(1.0f))},
                         {"", Value(Tensor::Scalar(2.0f))}}));
      std::vector<OwnedValue> held;
      for (int i = 0; i < 50; ++i) {
        absl::StatusOr<OwnedValue> r = executor.CreateCall(*add, *x);
        ASSERT_TRUE(r.ok());
        absl::StatusOr<OwnedValue> s =
            executor.CreateStruct({{"r", r->id()}, {"x", x->id()}});
        absl::StatusOr<OwnedValue> sel = executor.CreateSelection(*s, 1);
        absl::StatusOr<OwnedValue> bad = executor.CreateCall(*x, *x);
        held.push_back(std::move(*r));
        held.push_back(std::move(*s));
        held.push_back(std::move(*sel));
        held.push_back(std::move(*bad));
      }
      EXPECT_EQ(executor.NumValues(), 2 + 4 * 50);
      EXPECT_EQ(ir::PrintValue(*executor.Materialize(held[0])), "3.0");
      EXPECT_FALSE(executor.Materialize(held[3]).ok());
    }
    EXPECT_EQ(executor.NumValues(), 0);
  }
  EXPECT_EQ(LocalExecutor::NumLiveStatesForTesting(), states);
}

TEST_P(LocalExecutorTest, CancelStopsWorkNotYetStarted) {
  OwnedValue x = Val("1.0");
  OwnedValue gated = Call(Fn("gate"), x);
  OwnedValue count = Fn("count");
  OwnedValue after = Call(count, gated);
  gate_.AwaitWaiters(1);
  e().Cancel();
  gate_.Open();
  // The running call finishes; what waited for it does not run.
  EXPECT_EQ(*Printed(gated), "1.0");
  absl::StatusOr<Value> cancelled = e().Materialize(after);
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);
  // Nor does anything created later.
  OwnedValue later = Call(count, x);
  EXPECT_EQ(e().Materialize(later).status().code(),
            absl::StatusCode::kCancelled);
  absl::StatusOr<OwnedValue> node = e().CreateValue(
      ir::MakeNode(ir::NativeNode{"count"}, T("(float32 -> float32)")));
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(e().Materialize(*node).status().code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(counted_.load(), 0);
}

TEST_P(LocalExecutorTest, DestructorWaitsForRunningWork) {
  OwnedValue x = Val("1.0");
  OwnedValue gated = Call(Fn("gate"), x);
  OwnedValue count = Fn("count");
  OwnedValue after = Call(count, gated);
  gate_.AwaitWaiters(1);
  // An executor must outlive its handles: give up theirs first.
  x.Release();
  gated.Release();
  count.Release();
  after.Release();
  std::atomic<bool> destroyed{false};
  std::thread destroyer([&] {
    executor_.reset();
    destroyed.store(true);
  });
  // While the gated call runs, the destructor cannot return.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(destroyed.load());
  gate_.Open();
  destroyer.join();
  EXPECT_TRUE(destroyed.load());
  // Destroying cancelled the stack: the dependent call never ran.
  EXPECT_TRUE(context_->cancel.IsCancelled());
  EXPECT_EQ(counted_.load(), 0);
}

TEST_P(LocalExecutorTest, MaterializeProducesLazyValues) {
  absl::StatusOr<OwnedValue> seq =
      e().CreateValue(Value::LazySequence(std::make_shared<Range>(4, -1)));
  ASSERT_TRUE(seq.ok());
  absl::StatusOr<Value> m = e().Materialize(*seq);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->IsConcrete());
  EXPECT_EQ(ir::PrintValue(*m), "seq[0.0, 1.0, 2.0, 3.0]");

  absl::StatusOr<OwnedValue> members = e().CreateValue(Value::LazyFederated(
      Placement::kClients, std::make_shared<Members>(100)));
  ASSERT_TRUE(members.ok());
  absl::StatusOr<Value> fm = e().Materialize(*members);
  ASSERT_TRUE(fm.ok()) << fm.status();
  ASSERT_TRUE(fm->IsConcrete());
  ASSERT_EQ(fm->federated().members.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(ScalarOf(fm->federated().members[i]), 10.0f * i);
  }

  // Inside a struct, and failing while produced.
  absl::StatusOr<OwnedValue> failing =
      e().CreateValue(Value::LazySequence(std::make_shared<Range>(4, 2)));
  absl::StatusOr<OwnedValue> s =
      e().CreateStruct({{"ok", seq->id()}, {"bad", failing->id()}});
  absl::StatusOr<Value> ms = e().Materialize(*s);
  EXPECT_EQ(ms.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(std::string(ms.status().message()), "element went missing");

  // A value holding a function cannot be materialized.
  OwnedValue f = Fn("count");
  absl::StatusOr<OwnedValue> with_function =
      e().CreateStruct({{"f", f.id()}, {"seq", seq->id()}});
  absl::StatusOr<Value> mf = e().Materialize(*with_function);
  EXPECT_EQ(mf.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(mf.status().message()),
              HasSubstr("cannot materialize a function value: (float32 -> "
                        "float32) native 'count'"));
}

TEST_P(LocalExecutorTest, ValuesHandedInAreValidatedDownTheStack) {
  auto top = std::make_shared<LocalExecutor>(
      context_, std::make_shared<NoStrings>(context_, leaf_));
  const int64_t before = top->NumValues();
  absl::StatusOr<OwnedValue> s =
      top->CreateValue(Value(Tensor::StringScalar("x")));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(s.status().message()), "no strings here");
  EXPECT_EQ(top->NumValues(), before);
  EXPECT_TRUE(top->CreateValue(Value(Tensor::Scalar(1.0f))).ok());
}

TEST_P(LocalExecutorTest, NestedParallelWorkDoesNotDeadlock) {
  test_util::RunWithDeadline("nested parallel work", [&] {
    OwnedValue nested = Fn("nested_sum");
    OwnedValue x = Val("0.0");
    std::vector<OwnedValue> results;
    for (int i = 0; i < 16; ++i) results.push_back(Call(nested, x));
    for (const OwnedValue& r : results) {
      EXPECT_EQ(*Printed(r), "499500.0");
    }
  });
}

TEST_P(LocalExecutorTest, LongChainsCreatedBeforeTheirSourceIsReady) {
  test_util::RunWithDeadline("long chains", [&] {
    OwnedValue x = Val("0.0");
    OwnedValue gated = Call(Fn("gate"), x);
    OwnedValue count = Fn("count");
    constexpr int kCalls = 2000;
    std::vector<OwnedValue> chain;
    chain.push_back(std::move(gated));
    for (int i = 0; i < kCalls; ++i) chain.push_back(Call(count, chain.back()));
    gate_.Open();
    EXPECT_EQ(*Printed(chain.back()), absl::StrCat(kCalls, ".0"));
  });
}

// A chain of `levels` struct/selection pairs over one gated call, all
// created before the call completes; the last selection is 5.0.
void StructSelectionChain(Executor& e, Gate& gate, OwnedValue gated,
                          int levels) {
  std::vector<OwnedValue> chain;
  chain.push_back(std::move(gated));
  for (int i = 0; i < levels; ++i) {
    absl::StatusOr<OwnedValue> s = e.CreateStruct({{"", chain.back().id()}});
    ASSERT_TRUE(s.ok());
    absl::StatusOr<OwnedValue> sel = e.CreateSelection(*s, 0);
    ASSERT_TRUE(sel.ok());
    chain.push_back(std::move(*s));
    chain.push_back(std::move(*sel));
  }
  gate.Open();
  absl::StatusOr<Value> last = e.Materialize(chain.back());
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(ir::PrintValue(*last), "5.0");
}

TEST_P(LocalExecutorTest, LongStructSelectionChainsCompleteInline) {
  // Structs and selections complete on the thread that completes their
  // input: a chain of them waiting for one call completes in one go.
  test_util::RunWithDeadline("struct/selection chain", [&] {
    OwnedValue x = Val("5.0");
    StructSelectionChain(e(), gate_, Call(Fn("gate"), x), 1000);
  });
}

// Disabled: overflows the completing pool thread's stack today, since
// ValueState::Complete runs each waiter (and so the completion of the next
// struct or selection) recursively. See the report for a fix.
TEST_P(LocalExecutorTest, VeryLongStructSelectionChains) {
  test_util::RunWithDeadline("very long struct/selection chain", [&] {
    OwnedValue x = Val("5.0");
    StructSelectionChain(e(), gate_, Call(Fn("gate"), x), 100000);
  });
}

TEST_P(LocalExecutorTest, ConcurrentClientsOfOneExecutor) {
  test_util::RunWithDeadline("concurrent clients", [&] {
    OwnedValue count = Fn("count");
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 100; ++i) {
          absl::StatusOr<OwnedValue> x =
              e().CreateValue(Value(Tensor::Scalar(static_cast<float>(t))));
          absl::StatusOr<OwnedValue> r = e().CreateCall(count, *x);
          absl::StatusOr<OwnedValue> s =
              e().CreateStruct({{"", r->id()}, {"", x->id()}});
          absl::StatusOr<OwnedValue> sel = e().CreateSelection(*s, 0);
          absl::StatusOr<Value> v = e().Materialize(*sel);
          if (!v.ok() || ScalarOf(*v) != t + 1.0f) ++wrong;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(counted_.load(), 800);
  });
  EXPECT_EQ(e().NumValues(), 0);
}

}  // namespace
}  // namespace fedexec::exec
