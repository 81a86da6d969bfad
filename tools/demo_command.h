// `fedexec demo fedavg` and `fedexec demo analytics`: the demos of
// demo/fedavg.h and demo/analytics.h as sub-commands, with their flags.
//
//   fedexec demo fedavg [--rounds N] [--model logreg|mlp] [--out DIR] ...
//     prints a progress line per round and a summary (final test accuracy,
//     times, the runtime's overhead over the direct C++ loop); --out DIR
//     writes DIR/metrics.csv and DIR/plot.svg (after every evaluation and at
//     the end); --print-computation prints the round computation and exits.
//     Ctrl-C cancels the round that is running, writes the outputs of the
//     completed rounds and exits with 130.
//   fedexec demo analytics [--clients N] [--seed S] [--threads T]
//     prints the aggregates and their times.
//
// Exit codes as the rest of the program (tools/cli_common.h): a flag out of
// range is 2 with a message naming it; a missing data set is 2 naming the
// package to install.
//
// Thread-safety: one DemoCommand per program; Run runs on the main thread.
#ifndef FEDEXEC_TOOLS_DEMO_COMMAND_H_
#define FEDEXEC_TOOLS_DEMO_COMMAND_H_

#include <string>

#include "CLI/CLI.hpp"
#include "demo/analytics.h"
#include "demo/fedavg.h"

namespace fedexec::cli {

class DemoCommand {
 public:
  // Adds the `demo` sub-command (with its own sub-commands) to `app`.
  explicit DemoCommand(CLI::App& app);

  // Whether the command line chose `demo`.
  bool parsed() const { return demo_->parsed(); }
  // Runs the chosen demo; returns the exit code.
  int Run();

 private:
  int RunFedAvg();
  int RunAnalytics();

  CLI::App* demo_ = nullptr;
  CLI::App* fedavg_ = nullptr;
  CLI::App* analytics_ = nullptr;

  demo::FedAvgOptions fedavg_options_;
  std::string partition_ = "dirichlet";
  std::string model_ = "logreg";
  std::string out_;
  bool print_computation_ = false;
  bool no_compare_ = false;

  demo::AnalyticsOptions analytics_options_;
};

}  // namespace fedexec::cli

#endif  // FEDEXEC_TOOLS_DEMO_COMMAND_H_
