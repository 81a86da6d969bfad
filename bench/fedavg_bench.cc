// The runtime's overhead on the main job: the default `fedexec demo fedavg`
// setup run through fedexec (each round one call of the round computation
// on a local stack) beside the same rounds with the client update called
// directly in a plain C++ loop (same cohorts, batches and thread count, and
// the same aggregation arithmetic), evaluation excluded from both.
//
// Two ways to time them, as this project's machines are shared virtual
// machines whose speed drifts:
// - by default, whole runs alternate (Run, then RunDirect, per
//   repetition): each side runs as it would alone, its threads kept busy
//   round after round;
// - --paired: each round runs through fedexec and directly from the same
//   model, one right after the other, in alternating order (RunPaired), so
//   drift hits both sides of a pair alike; but each side's idle threads
//   fall asleep while the other side runs, and wake up slower.
// Printed per thread count, over all rounds of all repetitions: the total
// time of each side, the median round of each, and (paired) the median of
// the per-round ratios.
//
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE build/bench/fedavg_bench
//       [--threads 1,2] [--repetitions 3] [--rounds 500] [--model logreg]
//       [--paired]
//
// `--only runtime|direct` runs one side alone (Run or RunDirect), e.g. to
// count instructions under `valgrind --tool=callgrind`. Exits 1 if a pair
// ever gives different weights.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "demo/fedavg.h"

namespace {

double Median(std::vector<double> v) {
  return fedexec::demo::MedianRoundSeconds(v);
}

double Sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"FedAvg through fedexec vs the client updates in a plain loop"};
  std::vector<int> threads = {1, 2};
  int repetitions = 3;
  int64_t rounds = 500;
  std::string model = "logreg";
  std::string only;
  bool paired = false;
  app.add_flag("--paired", paired, "Time the rounds in pairs (see above)");
  app.add_option("--threads", threads, "Thread counts to measure")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--repetitions", repetitions)->capture_default_str();
  app.add_option("--rounds", rounds)->capture_default_str();
  app.add_option("--model", model)
      ->check(CLI::IsMember({"logreg", "mlp"}))
      ->capture_default_str();
  app.add_option("--only", only,
                 "Run one side only (for profiling): runtime or direct")
      ->check(CLI::IsMember({"runtime", "direct"}));
  CLI11_PARSE(app, argc, argv);

  std::printf(
      "Default FedAvg setup (%s, 1000 clients, Dirichlet 0.5, cohort 10, %ld "
      "rounds, 1 epoch, batch 10), evaluation excluded; %d repetitions\n",
      model.c_str(), static_cast<long>(rounds), repetitions);
  bool identical = true;
  for (int t : threads) {
    fedexec::demo::FedAvgOptions options;
    options.threads = t;
    options.rounds = rounds;
    options.eval_every = rounds;
    options.model = model == "mlp" ? fedexec::demo::ModelKind::kMlp
                                   : fedexec::demo::ModelKind::kLogReg;
    auto fedavg = fedexec::demo::FedAvg::Create(options);
    if (!fedavg.ok()) {
      std::cerr << fedavg.status() << "\n";
      return 1;
    }
    if (!only.empty()) {
      for (int r = 0; r < repetitions; ++r) {
        absl::Status s = only == "runtime"
                             ? (*fedavg)->Run().status()
                             : (*fedavg)->RunDirect(rounds).status();
        if (!s.ok()) {
          std::cerr << s << "\n";
          return 1;
        }
      }
      continue;
    }
    std::vector<double> runtime_s, direct_s, ratios;
    for (int r = 0; r < repetitions; ++r) {
      if (paired) {
        auto result = (*fedavg)->RunPaired(rounds);
        if (!result.ok()) {
          std::cerr << result.status() << "\n";
          return 1;
        }
        identical = identical && result->identical;
        for (size_t i = 0; i < result->runtime_seconds.size(); ++i) {
          runtime_s.push_back(result->runtime_seconds[i]);
          direct_s.push_back(result->direct_seconds[i]);
          ratios.push_back(result->runtime_seconds[i] /
                           result->direct_seconds[i]);
        }
        continue;
      }
      auto run = (*fedavg)->Run();
      auto direct = (*fedavg)->RunDirect(rounds);
      if (!run.ok() || !direct.ok()) {
        std::cerr << (run.ok() ? direct.status() : run.status()) << "\n";
        return 1;
      }
      identical = identical && run->model == direct->model;
      for (const auto& m : run->rounds) runtime_s.push_back(m.round_seconds);
      direct_s.insert(direct_s.end(), direct->round_seconds.begin(),
                      direct->round_seconds.end());
    }
    const double a = Sum(runtime_s), b = Sum(direct_s);
    std::printf(
        "threads %d (%s): total fedexec %.3f s, direct loop %.3f s "
        "(%+.1f%%); median round fedexec %.3f ms, direct loop %.3f ms "
        "(%+.1f%%)",
        t, paired ? "paired rounds" : "alternated runs", a, b,
        100 * (a / b - 1), 1e3 * Median(runtime_s), 1e3 * Median(direct_s),
        100 * (Median(runtime_s) / Median(direct_s) - 1));
    if (paired) {
      std::printf("; median per-round ratio %+.1f%%",
                  100 * (Median(ratios) - 1));
    }
    std::printf(" (%zu rounds)\n", runtime_s.size());
  }
  if (only.empty()) {
    std::printf("weights %s\n",
                identical ? "bit-identical in every comparison" : "DIFFER");
  }
  return identical ? 0 : 1;
}
