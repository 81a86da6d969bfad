// The aggregation hot path: adding client tensors into an accumulator
// (what federated_sum and federated_mean do per client), printed beside a
// plain read of the same memory measured in the same run. Operands are 1M
// float32 (4 MB) each and 16 of them are cycled, so they come from memory,
// not from cache.
//
//   build/bench/accumulate_bench
//
// bytes_per_second counts the operand bytes read (the accumulator's own
// read and write are extra traffic, not counted).
#include <cstdint>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/mutable_tensor.h"
#include "core/tensor.h"
#include "runtimes/native/kernels.h"

namespace fedexec {
namespace {

constexpr int64_t kElements = int64_t{1} << 20;
constexpr int kOperands = 16;

std::vector<Tensor> Operands() {
  std::vector<Tensor> operands;
  for (int i = 0; i < kOperands; ++i) {
    std::vector<float> values(kElements, 1.0f + i);
    operands.push_back(*Tensor::FromSpan<float>(values, {kElements}));
  }
  return operands;
}

// Memory-read bandwidth: a sum with independent partial sums, so the loop
// is bound by memory, not by the add latency.
void BM_MemoryRead(benchmark::State& state) {
  const std::vector<Tensor> operands = Operands();
  int next = 0;
  for (auto _ : state) {
    const float* p = operands[next].data<float>().data();
    next = (next + 1) % kOperands;
    float partial[16] = {};
    for (int64_t i = 0; i < kElements; i += 16) {
      for (int j = 0; j < 16; ++j) partial[j] += p[i + j];
    }
    float sum = 0;
    for (float v : partial) sum += v;
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(state.iterations() * kElements * sizeof(float));
}
BENCHMARK(BM_MemoryRead);

void BM_AccumulateAdd(benchmark::State& state) {
  const std::vector<Tensor> operands = Operands();
  MutableTensor acc = *MutableTensor::Zeros(DType::kFloat32, {kElements});
  int next = 0;
  for (auto _ : state) {
    absl::Status status = native::AccumulateAdd(acc, operands[next]);
    if (!status.ok()) state.SkipWithError(status.ToString().c_str());
    next = (next + 1) % kOperands;
  }
  state.SetBytesProcessed(state.iterations() * kElements * sizeof(float));
}
BENCHMARK(BM_AccumulateAdd);

void BM_AccumulateScaledAdd(benchmark::State& state) {
  const std::vector<Tensor> operands = Operands();
  MutableTensor acc = *MutableTensor::Zeros(DType::kFloat32, {kElements});
  int next = 0;
  for (auto _ : state) {
    absl::Status status = native::AccumulateScaledAdd(acc, operands[next], 0.5);
    if (!status.ok()) state.SkipWithError(status.ToString().c_str());
    next = (next + 1) % kOperands;
  }
  state.SetBytesProcessed(state.iterations() * kElements * sizeof(float));
}
BENCHMARK(BM_AccumulateScaledAdd);

}  // namespace
}  // namespace fedexec
