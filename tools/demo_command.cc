#include "tools/demo_command.h"

#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/thread_pool.h"
#include "demo/plot.h"
#include "tools/cli_common.h"

namespace fedexec::cli {
namespace {

// The title of the plot: what was trained, on what split.
std::string PlotTitle(const demo::FedAvgOptions& o) {
  return absl::StrFormat(
      "FedAvg on Fashion-MNIST: %s, %d clients (%s), cohort %d, seed %d",
      std::string(demo::ModelKindName(o.model)), o.population,
      std::string(demo::PartitionKindName(o.partition)), o.cohort, o.seed);
}

int Fail(const absl::Status& status) {
  PrintError(status.message());
  return ExitCodeFor(status);
}

}  // namespace

DemoCommand::DemoCommand(CLI::App& app) {
  demo_ = app.add_subcommand(
      "demo",
      "Run a demo in-process: federated learning (fedavg) or "
      "federated analytics (analytics)");
  demo_->require_subcommand(1);

  fedavg_ = demo_->add_subcommand(
      "fedavg",
      "Federated averaging on Fashion-MNIST: each round samples a cohort of "
      "simulated clients, trains on their data and averages the updates "
      "(needs Debian's dataset-fashion-mnist)");
  demo::FedAvgOptions& o = fedavg_options_;
  fedavg_
      ->add_option("--population", o.population,
                   "Simulated clients the 60,000 training images are "
                   "split over")
      ->capture_default_str();
  fedavg_
      ->add_option("--partition", partition_,
                   "How the images are split: dirichlet (label skew, see "
                   "--alpha), iid, or shards (see --shards-per-client)")
      ->check(CLI::IsMember({"dirichlet", "iid", "shards"}))
      ->capture_default_str();
  fedavg_
      ->add_option("--alpha", o.alpha,
                   "Dirichlet concentration: small values give each client "
                   "few labels")
      ->capture_default_str();
  fedavg_
      ->add_option("--shards-per-client", o.shards_per_client,
                   "Label shards per client (--partition shards)")
      ->capture_default_str();
  fedavg_->add_option("--cohort", o.cohort, "Clients sampled per round")
      ->capture_default_str();
  fedavg_->add_option("--rounds", o.rounds, "Training rounds")
      ->capture_default_str();
  fedavg_->add_option("--epochs", o.epochs, "Local epochs per client and round")
      ->capture_default_str();
  fedavg_
      ->add_option("--batch-size", o.batch_size,
                   "Examples per minibatch on the clients")
      ->capture_default_str();
  fedavg_->add_option("--client-lr", o.client_lr, "Client learning rate (SGD)")
      ->capture_default_str();
  fedavg_
      ->add_option("--server-lr", o.server_lr,
                   "Server learning rate: the model moves by this times "
                   "the mean client delta")
      ->capture_default_str();
  fedavg_
      ->add_option("--model", model_,
                   "logreg (multinomial logistic regression) or mlp "
                   "(784-200-10, ReLU)")
      ->check(CLI::IsMember({"logreg", "mlp"}))
      ->capture_default_str();
  fedavg_
      ->add_option("--seed", o.seed,
                   "Seed of the split, the cohorts and the initial model")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  fedavg_
      ->add_option("--threads", o.threads,
                   "Worker threads (0: one per hardware thread)")
      ->capture_default_str();
  fedavg_
      ->add_option("--eval-every", o.eval_every,
                   "Evaluate on the test set every this many rounds (and "
                   "after the last)")
      ->capture_default_str();
  fedavg_
      ->add_option("--data-dir", o.data_dir,
                   "Directory of the Fashion-MNIST IDX files")
      ->capture_default_str();
  fedavg_->add_option("--out", out_,
                      "Directory to write metrics.csv and plot.svg to");
  fedavg_->add_flag("--print-computation", print_computation_,
                    "Print the round computation in the text syntax and exit");
  fedavg_->add_flag("--no-compare", no_compare_,
                    "Skip the replay of the rounds as direct C++ calls that "
                    "measures the runtime's overhead");
  remote_.AddTo(fedavg_);
  fedavg_->add_flag("--data-on-workers", o.data_on_workers,
                    "With --workers: the clients' data are read on the "
                    "workers, from their --data-root (written there by "
                    "--export-clients with the same split flags); rounds "
                    "carry only the sampled clients' keys");
  fedavg_->add_option("--export-clients", export_clients_,
                      "Write every client's training data below this "
                      "directory (a workers' --data-root) and exit");

  analytics_ = demo_->add_subcommand(
      "analytics",
      "Federated analytics over simulated clients: mean, min, max and a "
      "histogram of each client's mean session length, as one federated "
      "computation");
  analytics_
      ->add_option("--clients", analytics_options_.clients, "Simulated clients")
      ->capture_default_str();
  analytics_
      ->add_option("--seed", analytics_options_.seed,
                   "Seed of the data generator")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  analytics_
      ->add_option("--threads", analytics_options_.threads,
                   "Worker threads (0: one per hardware thread)")
      ->capture_default_str();
}

int DemoCommand::Run() {
  if (fedavg_->parsed()) return RunFedAvg();
  if (analytics_->parsed()) return RunAnalytics();
  return kExitBadInput;
}

int DemoCommand::RunAnalytics() {
  absl::StatusOr<demo::AnalyticsResult> result =
      demo::RunAnalytics(analytics_options_);
  if (!result.ok()) return Fail(result.status());
  std::cout << demo::FormatAnalytics(*result);
  std::cout.flush();
  return std::cout.good() ? kExitOk : kExitRuntimeError;
}

int DemoCommand::ExportClients(demo::FedAvgOptions options) {
  // The split alone: no runtime, no workers.
  options.make_factory = nullptr;
  options.data_on_workers = false;
  std::error_code ec;
  if (!std::filesystem::is_directory(export_clients_, ec)) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "--export-clients ", export_clients_, ": not a directory")));
  }
  std::cout << "Loading Fashion-MNIST from " << options.data_dir << " ..."
            << std::endl;
  absl::StatusOr<std::unique_ptr<demo::FedAvg>> created =
      demo::FedAvg::Create(options);
  if (!created.ok()) return Fail(created.status());
  if (absl::Status s = (*created)->ExportClientData(export_clients_); !s.ok()) {
    return Fail(s);
  }
  const std::string name = demo::ClientDataName(options);
  std::cout << "Wrote the training data of " << options.population
            << " clients to " << export_clients_ << "/" << name << "\n"
            << "Start workers with --data-root " << export_clients_
            << " (or copy " << name << " into theirs), then run with the "
            << "same split flags and --workers ... --data-on-workers"
            << std::endl;
  return std::cout.good() ? kExitOk : kExitRuntimeError;
}

int DemoCommand::RunFedAvg() {
  demo::FedAvgOptions options = fedavg_options_;
  options.model =
      model_ == "mlp" ? demo::ModelKind::kMlp : demo::ModelKind::kLogReg;
  options.partition = partition_ == "iid" ? demo::PartitionKind::kIid
                      : partition_ == "shards"
                          ? demo::PartitionKind::kShards
                          : demo::PartitionKind::kDirichlet;
  if (options.data_on_workers && !remote_.enabled()) {
    return Fail(absl::InvalidArgumentError(
        "--data-on-workers needs --workers (or --workers-file): the data "
        "are read on the workers"));
  }
  if (fedavg_->count("--export-clients") > 0 && export_clients_.empty()) {
    return Fail(absl::InvalidArgumentError(
        "--export-clients is empty; give a workers' data root"));
  }
  if (print_computation_) {
    absl::StatusOr<std::string> text = demo::FedAvgComputationText(options);
    if (!text.ok()) return Fail(text.status());
    std::cout << *text;
    std::cout.flush();
    return std::cout.good() ? kExitOk : kExitRuntimeError;
  }
  if (absl::Status s = demo::ValidateFedAvgOptions(options); !s.ok()) {
    return Fail(s);
  }
  if (fedavg_->count("--out") > 0 && out_.empty()) {
    return Fail(absl::InvalidArgumentError(
        "--out is empty; give a directory to write metrics.csv and plot.svg "
        "to"));
  }

  if (!export_clients_.empty()) return ExportClients(options);
  if (remote_.enabled()) {
    const RemoteFlags* remote = &remote_;
    const int threads = options.threads;
    options.make_factory = [remote, threads] {
      return remote->MakeFactory(threads);
    };
  }
  // Before any thread starts, so that every thread inherits the mask.
  InterruptWatcher::BlockInterrupts();
  std::cout << "Loading Fashion-MNIST from " << options.data_dir << " ..."
            << std::endl;
  absl::StatusOr<std::unique_ptr<demo::FedAvg>> created =
      demo::FedAvg::Create(options);
  if (!created.ok()) return Fail(created.status());
  const std::string title = PlotTitle(options);
  if (!out_.empty()) {
    // Fail before training, not after it (and only once the options have
    // been checked against the data, so that bad flags write nothing).
    if (absl::Status s = demo::WriteMetrics(out_, {}, title); !s.ok()) {
      return Fail(s);
    }
  }
  demo::FedAvg& fedavg = **created;
  const demo::SplitSummary& split = fedavg.split();
  std::cout << absl::StrFormat(
                   "%d training images over %d clients (%s: %d to %d "
                   "examples, %.1f labels per client on average), %d test "
                   "images; loaded in %.2f s, set up in %.2f s; %d threads",
                   split.train_examples, options.population, partition_,
                   split.min_examples, split.max_examples, split.mean_labels,
                   split.test_examples, fedavg.load_seconds(),
                   fedavg.setup_seconds(), fedavg.threads())
            << std::endl;

  absl::StatusOr<demo::FedAvgResult> result;
  std::optional<demo::DirectResult> direct;
  absl::Status direct_status;
  bool interrupted = false;
  {
    InterruptWatcher watcher([&fedavg] { fedavg.Cancel(); });
    std::vector<demo::RoundMetrics> so_far;
    absl::Status write_status;
    result = fedavg.Run([&](const demo::RoundMetrics& m) {
      std::cout << demo::FormatRoundLine(m, options.rounds) << std::endl;
      so_far.push_back(m);
      if (!out_.empty() && !std::isnan(m.test_accuracy) && write_status.ok()) {
        write_status = demo::WriteMetrics(out_, so_far, title);
      }
    });
    if (result.ok() && !result->cancelled && !no_compare_) {
      std::cout << "Replaying the " << result->rounds.size()
                << " rounds as direct C++ calls to measure the runtime's "
                   "overhead (--no-compare skips this) ..."
                << std::endl;
      absl::StatusOr<demo::DirectResult> d =
          fedavg.RunDirect(static_cast<int64_t>(result->rounds.size()));
      if (d.ok()) {
        direct = *std::move(d);
      } else {
        direct_status = d.status();
      }
    }
    interrupted = watcher.interrupted();
  }
  if (!result.ok()) {
    if (options.data_on_workers &&
        result.status().code() == absl::StatusCode::kNotFound) {
      return Fail(absl::NotFoundError(absl::StrCat(
          result.status().message(),
          " (write this split into the workers' "
          "data roots with: fedexec demo fedavg --export-clients ROOT and the "
          "same split flags)")));
    }
    return Fail(result.status());
  }
  int exit_code = kExitOk;
  if (!out_.empty()) {
    absl::Status s = demo::WriteMetrics(out_, result->rounds, title);
    if (!s.ok()) {
      PrintError(s.message());
      exit_code = ExitCodeFor(s);
    }
  }
  if (!direct_status.ok()) {
    PrintError(
        absl::StrCat("the direct loop failed: ", direct_status.message()));
    exit_code = kExitRuntimeError;
  }
  std::cout << demo::FormatFedAvgSummary(fedavg, *result, direct);
  if (!out_.empty() && exit_code == kExitOk) {
    std::cout << "Wrote " << out_ << "/metrics.csv and " << out_
              << "/plot.svg\n";
  }
  std::cout.flush();
  if (interrupted || result->cancelled) {
    PrintError("interrupted");
    return kExitInterrupted;
  }
  return exit_code;
}

}  // namespace fedexec::cli
