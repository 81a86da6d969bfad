// Latency of the remote executor over loopback (Google Benchmark): one
// small value to a worker and back, and a chain of dependent calls (each
// needs the one before) materialized at the end, against a worker in this
// process. What a round of a federated computation over workers waits for
// when its per-client work is small.
//
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
//   build/bench/remote_latency_bench
#include <memory>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/tensor.h"
#include "core/value.h"
#include "executors/remote_executor.h"
#include "fedexec/v1/executor_stream.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"
#include "net/grpc_channel.h"
#include "service/worker.h"
#include "stacks/executor_factory.h"
#include "stacks/remote_stack.h"
#include "stacks/runtime.h"

namespace fedexec {
namespace {

struct Fixture {
  Fixture() {
    factory =
        *stacks::LocalExecutorFactory::Create({.threads = 1, .cache_size = 0});
    stacks::LocalExecutorFactory* f = factory.get();
    worker = *service::Worker::Start(
        service::WorkerOptions(), [f](int64_t n) { return f->ExecutorFor(n); });
    auto channel = *MakeChannel(worker->target(), {});
    exec::RemoteOptions options;
    options.name = worker->target();
    remote = *exec::RemoteExecutor::Create(channel, 0, options);
    add = *ir::CheckComputation(*ir::ParseComputation(
        "(x: float32) -> native(\"add\", (<float32,float32> -> float32))(x, "
        "x)"));
  }
  std::unique_ptr<stacks::LocalExecutorFactory> factory;
  std::unique_ptr<service::Worker> worker;
  std::unique_ptr<exec::RemoteExecutor> remote;
  ir::NodePtr add;
};

Fixture& Shared() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

// The floor: one unary call that does nothing (GetWorkerInfo), blocking.
void BM_EmptyUnaryCall(benchmark::State& state) {
  Fixture& f = Shared();
  auto stub = fedexec::v1::ExecutorStream::NewStub(
      *MakeChannel(f.worker->target(), {}));
  for (auto _ : state) {
    grpc::ClientContext context;
    fedexec::v1::WorkerInfo info;
    grpc::Status status = stub->GetWorkerInfo(
        &context, fedexec::v1::GetWorkerInfoRequest(), &info);
    if (!status.ok()) state.SkipWithError(status.error_message().c_str());
  }
}
BENCHMARK(BM_EmptyUnaryCall)->UseRealTime();

void BM_ValueThereAndBack(benchmark::State& state) {
  Fixture& f = Shared();
  const Value one(Tensor::Scalar<float>(1.0f));
  for (auto _ : state) {
    auto id = f.remote->CreateValue(one);
    auto back = f.remote->Materialize(*id);
    benchmark::DoNotOptimize(back);
  }
}
BENCHMARK(BM_ValueThereAndBack)->UseRealTime();

// `range(0)` dependent calls of x -> x + x, then Materialize.
void BM_DependentCalls(benchmark::State& state) {
  Fixture& f = Shared();
  const Value one(Tensor::Scalar<float>(1.0f));
  for (auto _ : state) {
    auto fn = f.remote->CreateValue(f.add);
    auto x = f.remote->CreateValue(one);
    std::vector<OwnedValue> held;
    ValueId last = x->id();
    for (int64_t i = 0; i < state.range(0); ++i) {
      auto next = f.remote->CreateCall(fn->id(), last);
      last = next->id();
      held.push_back(*std::move(next));
    }
    auto back = f.remote->Materialize(last);
    benchmark::DoNotOptimize(back);
  }
  state.counters["per_call_us"] = benchmark::Counter(
      static_cast<double>(state.iterations() * state.range(0)) * 1e-6,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_DependentCalls)->Arg(1)->Arg(10)->Arg(20)->UseRealTime();

// A round shaped like federated averaging's (broadcast, zip, map, weighted
// mean, apply) over 10 clients with tiny per-client work: in-process, and
// over 2 workers in this process (stacks/remote_stack.h).
constexpr char kRound[] = R"fed(
(p: <m=float32[4]@SERVER,x={float32[4]}@CLIENTS>) ->
  let
    z = federated_zip_at_clients(m=federated_broadcast(p.m), x=p.x),
    d = federated_map((q: <m=float32[4],x=float32[4]>) -> <d=generic_plus(q.m, q.x), w=1.0>, z),
    mean = federated_weighted_mean(
      federated_map((q: <d=float32[4],w=float32>) -> q.d, d),
      federated_map((q: <d=float32[4],w=float32>) -> q.w, d))
  in federated_apply((v: float32[4]) -> generic_plus(v, v), mean)
)fed";

struct RoundFixture {
  RoundFixture() {
    for (int i = 0; i < 2; ++i) {
      factories.push_back(*stacks::LocalExecutorFactory::Create(
          {.threads = 1, .cache_size = 0}));
      stacks::LocalExecutorFactory* f = factories.back().get();
      workers.push_back(*service::Worker::Start(
          service::WorkerOptions(),
          [f](int64_t n) { return f->ExecutorFor(n); }));
      specs.push_back(stacks::WorkerSpec{workers.back()->target(), 0});
    }
    stacks::RemoteStackOptions options;
    options.threads = 2;
    remote = *stacks::Runtime::CreateWithFactory(
        *stacks::CreateRemoteFactory(specs, options));
    local = *stacks::Runtime::Create({.threads = 2});
    round = *ir::CheckComputation(*ir::ParseComputation(kRound));
    std::vector<Value> members;
    for (int c = 0; c < 10; ++c) {
      members.push_back(Value(Tensor::Vector<float>({1.f * c, 2, 3, 4})));
    }
    argument = Value::Struct(
        {{"m", Value::Federated(Placement::kServer, true,
                                {Value(Tensor::Vector<float>({1, 1, 1, 1}))})},
         {"x", Value::Federated(Placement::kClients, false, members)}});
  }
  std::vector<std::unique_ptr<stacks::LocalExecutorFactory>> factories;
  std::vector<std::unique_ptr<service::Worker>> workers;
  std::vector<stacks::WorkerSpec> specs;
  std::unique_ptr<stacks::Runtime> remote;
  std::unique_ptr<stacks::Runtime> local;
  ir::NodePtr round;
  Value argument;
};

RoundFixture& Round() {
  static RoundFixture* fixture = new RoundFixture();
  return *fixture;
}

void BM_RoundInProcess(benchmark::State& state) {
  RoundFixture& f = Round();
  for (auto _ : state) {
    auto result = f.local->Call(f.round, f.argument);
    if (!result.ok()) state.SkipWithError(result.status().ToString().c_str());
  }
}
BENCHMARK(BM_RoundInProcess)->UseRealTime();

void BM_RoundOverTwoWorkers(benchmark::State& state) {
  RoundFixture& f = Round();
  for (auto _ : state) {
    auto result = f.remote->Call(f.round, f.argument);
    if (!result.ok()) state.SkipWithError(result.status().ToString().c_str());
  }
}
BENCHMARK(BM_RoundOverTwoWorkers)->UseRealTime();

}  // namespace
}  // namespace fedexec

BENCHMARK_MAIN();
