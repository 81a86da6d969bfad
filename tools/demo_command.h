// `fedexec demo fedavg` and `fedexec demo analytics`: the demos of
// demo/fedavg.h and demo/analytics.h as sub-commands, with their flags.
//
//   fedexec demo fedavg [--rounds N] [--model logreg|mlp] [--out DIR] ...
//     prints a progress line per round and a summary (final test accuracy,
//     times, the runtime's overhead over the direct C++ loop); --out DIR
//     writes DIR/metrics.csv and DIR/plot.svg (after every evaluation and at
//     the end); --print-computation prints the round computation and exits.
//     Ctrl-C cancels the round that is running, writes the outputs of the
//     completed rounds and exits with 130. With --workers the rounds run
//     on worker processes (tools/remote_flags.h); --export-clients DIR
//     writes the clients' data for workers' data roots and exits, and
//     --data-on-workers makes the rounds read it there.
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
#include "tools/remote_flags.h"

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
  int ExportClients(demo::FedAvgOptions options);
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
  RemoteFlags remote_;
  std::string export_clients_;
};

}  // namespace fedexec::cli

#endif  // FEDEXEC_TOOLS_DEMO_COMMAND_H_
