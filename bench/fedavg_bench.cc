// The runtime's overhead on the main job: the default `fedexec demo fedavg`
// setup run through fedexec (each round one federated computation on a
// local stack) beside the same rounds with the client update called
// directly in a plain C++ loop (demo/fedavg.h RunDirect: same cohorts, same
// batches, same thread count, same aggregation arithmetic). Evaluation is
// excluded from both. The two alternate within each repetition so that
// machine noise hits both alike. Printed: the medians and the minima (noise
// only ever adds time) of the runs' times, and the median time of a round
// over all rounds of all repetitions (unmoved by the few rounds that
// preemption or page faults slow down), with their ratios.
//
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE build/bench/fedavg_bench
//       [--threads 1,2] [--repetitions 5] [--rounds 500] [--model logreg]
//
// Also checks that both give bit-identical final weights (exit 1 if not).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "demo/fedavg.h"

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"FedAvg through fedexec vs the client updates in a plain loop"};
  std::vector<int> threads = {1, 2};
  int repetitions = 5;
  int64_t rounds = 500;
  std::string model = "logreg";
  std::string only;
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
      "rounds, 1 epoch, batch 10); seconds of training, evaluation "
      "excluded\n",
      model.c_str(), static_cast<long>(rounds));
  bool identical = true;
  for (int t : threads) {
    fedexec::demo::FedAvgOptions options;
    options.threads = t;
    options.rounds = rounds;
    options.eval_every = rounds;  // only the final evaluation (untimed)
    options.model = model == "mlp" ? fedexec::demo::ModelKind::kMlp
                                   : fedexec::demo::ModelKind::kLogReg;
    auto fedavg = fedexec::demo::FedAvg::Create(options);
    if (!fedavg.ok()) {
      std::cerr << fedavg.status() << "\n";
      return 1;
    }
    std::vector<double> runtime_s, direct_s, runtime_rounds, direct_rounds;
    for (int r = 0; r < repetitions; ++r) {
      if (!only.empty()) {
        absl::Status s = only == "runtime" ? (*fedavg)->Run().status()
                                           : (*fedavg)->RunDirect(rounds).status();
        if (!s.ok()) {
          std::cerr << s << "\n";
          return 1;
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
      runtime_s.push_back(run->train_seconds);
      direct_s.push_back(direct->train_seconds);
      for (const auto& m : run->rounds) runtime_rounds.push_back(m.round_seconds);
      direct_rounds.insert(direct_rounds.end(), direct->round_seconds.begin(),
                           direct->round_seconds.end());
      std::printf("  threads %d  repetition %d  fedexec %.3f s  direct %.3f s\n",
                  t, r + 1, run->train_seconds, direct->train_seconds);
    }
    if (!only.empty()) continue;
    const double a = Median(runtime_s);
    const double b = Median(direct_s);
    const double min_a = *std::min_element(runtime_s.begin(), runtime_s.end());
    const double min_b = *std::min_element(direct_s.begin(), direct_s.end());
    std::printf(
        "threads %d: fedexec %.3f s (%.3f ms/round), direct loop %.3f s "
        "(%.3f ms/round): overhead %+.1f%% (medians of %d); minima %.3f s "
        "and %.3f s: %+.1f%%\n",
        t, a, 1e3 * a / rounds, b, 1e3 * b / rounds, 100 * (a / b - 1),
        repetitions, min_a, min_b, 100 * (min_a / min_b - 1));
    const double ra = fedexec::demo::MedianRoundSeconds(runtime_rounds);
    const double rb = fedexec::demo::MedianRoundSeconds(direct_rounds);
    std::printf(
        "threads %d: median round over all repetitions: fedexec %.3f ms, "
        "direct loop %.3f ms: overhead %+.1f%%\n",
        t, 1e3 * ra, 1e3 * rb, 100 * (ra / rb - 1));
  }
  std::printf("final weights %s\n",
              identical ? "bit-identical in every repetition" : "DIFFER");
  return identical ? 0 : 1;
}
