// What the local execution stack costs and how fast it moves data, each
// figure printed beside the baseline it is judged against, measured in the
// same run:
//
//   BM_MapSum/N        federated_sum(federated_map(x -> x + 1, xs)) over N
//                      scalar float32 clients, on a pool of one thread.
//                      per_client_intrinsic = time / (2 N).
//   BM_Sum/N           federated_sum alone over the same clients.
//   BM_BareMapSum/N    the same map and sum as a plain C++ loop over the
//                      same client values, one thread.
//   BM_FederatedMean   federated_mean over 1,000 clients of 1M float32
//                      (4 GB of client data) on a pool of T threads; bytes
//                      per second count the client data read.
//   BM_MemoryRead      a plain parallel read of the same 4 GB with the same
//                      T threads.
//   BM_EvalAtClientsMean  (runs first)
//   federated_mean(federated_eval_at_clients(f)) over
//                      10,000 clients whose 1M-float32 values f produces on
//                      the clients (40 GB if all were held at once);
//                      peak_rss_mb is the process's peak resident memory.
//
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE build/bench/executor_bench
//
// T is the machine's hardware concurrency (FEDEXEC_BENCH_THREADS overrides).
#include <sys/resource.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "core/mutable_tensor.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "core/value.h"
#include "executors/local_executor.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"
#include "runtimes/native/registry.h"
#include "stacks/local_stack.h"

namespace fedexec {
namespace {

constexpr int64_t kModel = int64_t{1} << 20;  // 1M float32 = 4 MB

int BenchThreads() {
  if (const char* t = std::getenv("FEDEXEC_BENCH_THREADS")) {
    return std::max(1, std::atoi(t));
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

ir::NodePtr Compile(const std::string& text) {
  absl::StatusOr<ir::NodePtr> parsed = ir::ParseComputation(text);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n", parsed.status().ToString().c_str());
    std::abort();
  }
  absl::StatusOr<ir::NodePtr> checked = ir::CheckComputation(*parsed);
  if (!checked.ok()) {
    std::fprintf(stderr, "%s\n", checked.status().ToString().c_str());
    std::abort();
  }
  return *checked;
}

// One call of `computation` on `argument` per iteration, on a local stack
// of `clients` clients over a pool of `threads` threads.
void RunCalls(benchmark::State& state, const ir::NodePtr& computation,
              const Value* argument, int64_t clients, int threads) {
  ThreadPool pool(threads);
  auto context = std::make_shared<exec::ExecutionContext>(pool);
  std::shared_ptr<exec::LocalExecutor> stack =
      stacks::CreateLocalStack(context, clients);
  absl::StatusOr<OwnedValue> fn = stack->CreateValue(computation);
  absl::StatusOr<OwnedValue> arg;
  if (argument != nullptr) arg = stack->CreateValue(*argument);
  if (!fn.ok() || (argument != nullptr && !arg.ok())) {
    state.SkipWithError("could not create the computation or its argument");
    return;
  }
  for (auto _ : state) {
    absl::StatusOr<OwnedValue> call =
        argument != nullptr ? stack->CreateCall(fn->id(), arg->id())
                            : stack->CreateCall(fn->id(), std::nullopt);
    absl::StatusOr<Value> result =
        call.ok() ? stack->Materialize(*call) : call.status();
    if (!result.ok()) {
      state.SkipWithError(result.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(result);
  }
}

// The client-side producer of BM_EvalAtClientsMean: a fresh 1M-float32
// tensor per call, as a client's model update would be.
absl::StatusOr<Value> MakeUpdate(const Value&) {
  FEDEXEC_ASSIGN_OR_RETURN(
      MutableTensor t, MutableTensor::Uninitialized(DType::kFloat32, {kModel}));
  auto data = t.mutable_data<float>();
  for (int64_t i = 0; i < kModel; ++i) data[i] = static_cast<float>(i % 5);
  return Value(std::move(t).Freeze());
}
FEDEXEC_NATIVE_FUNCTION("bench_make_update", "( -> float32[1048576])",
                        &MakeUpdate);

// Registered first, so that its peak resident memory is not the 4 GB of
// BM_FederatedMean's clients.
void BM_EvalAtClientsMean(benchmark::State& state) {
  static const ir::NodePtr computation = Compile(
      "() -> federated_mean(federated_eval_at_clients("
      "native(\"bench_make_update\", ( -> float32[1048576]))))");
  constexpr int64_t kClients = 10000;
  RunCalls(state, computation, nullptr, kClients, BenchThreads());
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  state.counters["peak_rss_mb"] = static_cast<double>(usage.ru_maxrss) / 1024;
  state.counters["clients"] = kClients;
}
BENCHMARK(BM_EvalAtClientsMean)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// A counter of seconds per unit of work, `units` units per iteration
// (printed with an SI prefix: 250n).
benchmark::Counter SecondsPer(double units) {
  return benchmark::Counter(units,
                            benchmark::Counter::kIsIterationInvariantRate |
                                benchmark::Counter::kInvert);
}

std::vector<Value> ScalarClients(int64_t n) {
  std::vector<Value> members;
  members.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    members.emplace_back(Tensor::Scalar(static_cast<float>(i % 1000) * 0.5f));
  }
  return members;
}

void BM_MapSum(benchmark::State& state) {
  const int64_t n = state.range(0);
  static const ir::NodePtr computation = Compile(
      "(xs: {float32}@CLIENTS) -> federated_sum(federated_map("
      "(x: float32) -> native(\"add\", (<float32, float32> -> float32))"
      "(<x, 1.0>), xs))");
  const Value argument =
      Value::Federated(Placement::kClients, false, ScalarClients(n));
  RunCalls(state, computation, &argument, n, /*threads=*/1);
  state.counters["per_client_intrinsic"] = SecondsPer(2.0 * n);
}
BENCHMARK(BM_MapSum)
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000)
    ->Arg(1000000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_Sum(benchmark::State& state) {
  const int64_t n = state.range(0);
  static const ir::NodePtr computation =
      Compile("(xs: {float32}@CLIENTS) -> federated_sum(xs)");
  const Value argument =
      Value::Federated(Placement::kClients, false, ScalarClients(n));
  RunCalls(state, computation, &argument, n, /*threads=*/1);
  state.counters["per_client"] = SecondsPer(1.0 * n);
}
BENCHMARK(BM_Sum)
    ->Arg(1000)
    ->Arg(1000000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_BareMapSum(benchmark::State& state) {
  const int64_t n = state.range(0);
  const std::vector<Value> members = ScalarClients(n);
  for (auto _ : state) {
    float sum = 0;
    for (const Value& m : members) {
      sum += m.tensor().data<float>()[0] + 1.0f;
    }
    benchmark::DoNotOptimize(sum);
  }
  // Seconds per client (one map and one add), SI prefix as above.
  state.counters["per_client"] = SecondsPer(1.0 * n);
}
BENCHMARK(BM_BareMapSum)
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000)
    ->Arg(1000000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

constexpr int64_t kMeanClients = 1000;

// 1,000 distinct client tensors (4 GB): built once, shared by the mean and
// the read benchmarks.
const std::vector<Value>& MeanClients() {
  static const std::vector<Value>* clients = [] {
    auto* out = new std::vector<Value>();
    out->reserve(kMeanClients);
    for (int64_t c = 0; c < kMeanClients; ++c) {
      MutableTensor t =
          *MutableTensor::Uninitialized(DType::kFloat32, {kModel});
      auto data = t.mutable_data<float>();
      for (int64_t i = 0; i < kModel; ++i) {
        data[i] = static_cast<float>((c + i) % 7);
      }
      out->emplace_back(std::move(t).Freeze());
    }
    return out;
  }();
  return *clients;
}

void BM_FederatedMean(benchmark::State& state) {
  static const ir::NodePtr computation =
      Compile("(xs: {float32[1048576]}@CLIENTS) -> federated_mean(xs)");
  const Value argument =
      Value::Federated(Placement::kClients, false, MeanClients());
  const int threads = BenchThreads();
  RunCalls(state, computation, &argument, kMeanClients, threads);
  state.SetBytesProcessed(state.iterations() * kMeanClients * kModel *
                          static_cast<int64_t>(sizeof(float)));
  state.counters["threads"] = threads;
}
BENCHMARK(BM_FederatedMean)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_MemoryRead(benchmark::State& state) {
  const std::vector<Value>& clients = MeanClients();
  const int threads = BenchThreads();
  ThreadPool pool(threads);
  for (auto _ : state) {
    std::vector<float> sums(clients.size());
    ParallelFor(pool, static_cast<int64_t>(clients.size()), 1,
                [&](int64_t begin, int64_t end) {
                  for (int64_t c = begin; c < end; ++c) {
                    const float* p = clients[c].tensor().data<float>().data();
                    float partial[16] = {};
                    for (int64_t i = 0; i < kModel; i += 16) {
                      for (int j = 0; j < 16; ++j) partial[j] += p[i + j];
                    }
                    float s = 0;
                    for (float v : partial) s += v;
                    sums[c] = s;
                  }
                });
    benchmark::DoNotOptimize(sums);
  }
  state.SetBytesProcessed(state.iterations() * kMeanClients * kModel *
                          static_cast<int64_t>(sizeof(float)));
  state.counters["threads"] = threads;
}
BENCHMARK(BM_MemoryRead)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace fedexec
