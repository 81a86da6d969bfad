// The C++ side of python/bench/bench.py: the same two figures measured
// through stacks::Runtime from C++, so that the Python figures have a
// baseline from the same build, machine and moment.
//
//   call        Runtime::Call of `(x: int32) -> x` with a scalar argument:
//               microseconds per call (the median of 7 rounds of N calls).
//   mean        federated_mean over 10^6 scalar float32 clients whose
//               tensors view one buffer (as the Python package's rows do):
//               nanoseconds per client (the median of 7 calls).
//
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
//       BUILD/python/fedexec_call_bench [threads]
//
// Prints one line per figure, `name value unit`, for bench.py to read.
// Thread-safety: a single-threaded program (the runtime has its pool).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "core/tensor.h"
#include "core/value.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"
#include "stacks/runtime.h"

namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

fedexec::ir::NodePtr Compile(const char* text) {
  auto parsed = fedexec::ir::ParseComputation(text);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n", parsed.status().ToString().c_str());
    std::exit(1);
  }
  auto checked = fedexec::ir::CheckComputation(*parsed);
  if (!checked.ok()) {
    std::fprintf(stderr, "%s\n", checked.status().ToString().c_str());
    std::exit(1);
  }
  return *checked;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedexec;
  stacks::RuntimeOptions options;
  options.threads = argc > 1 ? std::atoi(argv[1]) : 0;
  auto runtime = stacks::Runtime::Create(options);
  if (!runtime.ok()) {
    std::fprintf(stderr, "%s\n", runtime.status().ToString().c_str());
    return 1;
  }

  const ir::NodePtr identity = Compile("(x: int32) -> x");
  const Value one(Tensor::Scalar<int32_t>(1));
  constexpr int kCalls = 2000;
  std::vector<double> per_call;
  for (int round = 0; round < 7; ++round) {
    const auto start = Clock::now();
    for (int i = 0; i < kCalls; ++i) {
      if (!(*runtime)->Call(identity, one).ok()) return 1;
    }
    per_call.push_back(
        std::chrono::duration<double, std::micro>(Clock::now() - start)
            .count() /
        kCalls);
  }
  std::printf("call %.3f us\n", Median(per_call));

  constexpr int64_t kClients = 1'000'000;
  auto buffer = std::shared_ptr<float[]>(new float[kClients]);
  for (int64_t i = 0; i < kClients; ++i) buffer[i] = static_cast<float>(i % 7);
  const ir::NodePtr mean =
      Compile("(x: {float32}@CLIENTS) -> federated_mean(x)");
  std::vector<double> per_client;
  for (int round = 0; round < 7; ++round) {
    // Building the argument is part of the figure, as converting the array
    // is part of Python's.
    const auto start = Clock::now();
    std::vector<Value> members;
    members.reserve(kClients);
    for (int64_t i = 0; i < kClients; ++i) {
      members.emplace_back(*Tensor::FromBuffer(
          DType::kFloat32, {}, buffer, buffer.get() + i, sizeof(float)));
    }
    auto result = (*runtime)->Call(
        mean, Value::Federated(Placement::kClients, false, std::move(members)));
    if (!result.ok()) {
      std::fprintf(stderr, "%s\n", result.status().ToString().c_str());
      return 1;
    }
    per_client.push_back(
        std::chrono::duration<double, std::nano>(Clock::now() - start).count() /
        kClients);
  }
  std::printf("mean %.1f ns\n", Median(per_client));
  return 0;
}
