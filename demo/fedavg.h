// Federated averaging on Fashion-MNIST (`fedexec demo fedavg`): the main
// job of fedexec, in-process on a local stack.
//
// Setup (FedAvg::Create). The 60,000 training images are split over
// `population` simulated clients (demo/partition.h: Dirichlet(alpha) over
// labels, IID, or label shards; seeded). The training set is then copied
// once into client order, so that each client's examples are contiguous
// rows, and each client's data becomes a sequence of batches of
// `batch_size` examples (demo/model.h MakeBatches): zero-copy views of that
// copy, built once. In each round that samples a client, its sequence holds
// those batches in a fresh seeded order (the examples of a batch stay
// together, so nothing is copied), as SGD reshuffles its data every epoch.
// The 10,000 test images evaluate the server model.
//
// A round is ONE federated computation (FedAvgComputationText, the text
// syntax of docs/syntax.md), called on a stacks::Runtime with
//   <model=M@SERVER, batches={B*}@CLIENTS, client_lr=float32@SERVER,
//    epochs=int32@SERVER, server_lr=float32@SERVER>
// (M the model type, B the batch type of demo/model.h). The server
// broadcasts its model and the clients' hyper-parameters; each client of the
// cohort runs the native client update (E epochs of minibatch SGD) on its
// batches; the server takes the mean of the deltas weighted by the clients'
// example counts (federated_weighted_mean, which also averages the clients'
// training losses with the same weights) and moves its model by server_lr
// times the mean delta. The result is <model, train_loss> at SERVER. The
// cohort of round r
// (0-based) is SampleCohort(population, cohort, r, seed'); CLIENTS member i
// of the call is the i-th sampled client (ascending ids).
//
// Data on the workers (FedAvgOptions::data_on_workers, for --workers). The
// clients' examples, exported once by ExportClientData into the workers'
// data roots, stay there: the round's argument carries for each sampled
// client only its key, "<id>?batches=<order>", which names its folder and
// the round's batch order, and the round computation maps the keyed data
// node over the keys on the workers (executors/data_executor.h). The
// batches are the same rows in the same order as in-process, so the model
// is the same bit for bit. This process still loads the data set: to split
// it (each client's example count gives its batch order), for the test set
// it evaluates on, and for the direct loop.
//
// Evaluation (test loss and accuracy) runs on the server model every
// `eval_every` rounds and after the last round, in plain C++ on fixed
// chunks of the test set (so its result does not depend on the thread
// count); it is timed apart from the rounds.
//
// The direct loop (FedAvg::RunDirect) replays the same rounds without the
// runtime: the same cohorts, the same client update called as a C++
// function on the same batches in the same order (in parallel over the cohort
// with the same number of threads), and the same aggregation arithmetic in the
// same order (exec::Fold along the canonical block tree, core/tree_reduce.h).
// It is the limit of what the runtime can do for this work, and, as a check,
// gives bit-identical weights. It evaluates the model on Run's schedule too,
// and like Run leaves evaluation out of its time, so that both meet the same
// disruptions between rounds.
//
// Determinism: the final model is a function of the options other than
// `threads` (and of the data): the same bits with any thread count.
//
// Random streams: DeriveSeed(seed, kPartitionStream) splits the data,
// DeriveSeed(seed, kCohortStream) samples cohorts, DeriveSeed(seed,
// kModelStream) initialises the MLP, and DeriveSeed(seed, kBatchOrderStream)
// orders each client's batches per round.
//
// Errors: options out of range are INVALID_ARGUMENT naming the demo flag
// (--population, --alpha, --cohort, ...); a missing data set is NOT_FOUND
// naming the Debian package (demo/fashion_mnist.h).
//
// Thread-safety: one thread runs a FedAvg (Run, RunDirect); Cancel may be
// called from any thread at any time.
#ifndef FEDEXEC_DEMO_FEDAVG_H_
#define FEDEXEC_DEMO_FEDAVG_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/thread_pool.h"
#include "core/value.h"
#include "demo/fashion_mnist.h"
#include "demo/model.h"
#include "demo/plot.h"
#include "ir/ast.h"
#include "stacks/runtime.h"

namespace fedexec::demo {

inline constexpr uint64_t kPartitionStream = 1;
inline constexpr uint64_t kCohortStream = 2;
inline constexpr uint64_t kModelStream = 3;
inline constexpr uint64_t kBatchOrderStream = 4;

enum class PartitionKind { kDirichlet, kIid, kShards };

// "dirichlet", "iid", "shards".
std::string_view PartitionKindName(PartitionKind kind);

struct FedAvgOptions {
  std::string data_dir = kDefaultFashionMnistDir;       // --data-dir
  int64_t population = 1000;                            // --population
  PartitionKind partition = PartitionKind::kDirichlet;  // --partition
  double alpha = 0.5;                                   // --alpha (Dirichlet)
  int64_t shards_per_client = 2;         // --shards-per-client (shards)
  int64_t cohort = 10;                   // --cohort
  int64_t rounds = 500;                  // --rounds
  int32_t epochs = 1;                    // --epochs
  int64_t batch_size = 10;               // --batch-size
  float client_lr = 0.05f;               // --client-lr
  float server_lr = 1.0f;                // --server-lr
  ModelKind model = ModelKind::kLogReg;  // --model
  uint64_t seed = 0;                     // --seed
  // Worker threads: 0 for one per hardware thread (--threads).
  int threads = 0;
  // Evaluate the server model every this many rounds (--eval-every), and
  // after the last round.
  int64_t eval_every = 10;
  // When set, the rounds run on the execution stacks of the factory it
  // makes (remote workers: --workers) instead of in-process; `threads`
  // still sizes this process's share of the work.
  std::function<absl::StatusOr<std::unique_ptr<stacks::ExecutorFactory>>()>
      make_factory;
  // When true (--data-on-workers), the clients' training data are not sent
  // with each round: the round computation resolves them where it runs,
  // from the keyed data collection ClientDataName(options) below the data
  // root of each worker (written by ExportClientData), and the argument
  // carries only each sampled client's key.
  bool data_on_workers = false;
};

// The folder, relative to a data root, that ExportClientData writes for
// the split `options` describes (its partition flags and seed), e.g.
// "fedavg-fashion-mnist/dirichlet-alpha0.5-population1000-seed0".
std::string ClientDataName(const FedAvgOptions& options);

// OK, or INVALID_ARGUMENT naming the first flag out of range. The
// population must not exceed the training examples (60,000) and, for
// shards, population x shards-per-client must not either; the caller
// checks that against the loaded data (Create does).
absl::Status ValidateFedAvgOptions(const FedAvgOptions& options);

// The round computation for `options.model`, in canonical text form (what
// `--print-computation` prints). With options.data_on_workers its
// parameter has clients={string}@CLIENTS (each sampled client's key) in
// place of batches, and the clients' batches come from the keyed data
// node data("<ClientDataName>?batch_size=<B>", (string -> B*)).
absl::StatusOr<std::string> FedAvgComputationText(const FedAvgOptions& options);

// The outcome of a training run.
struct FedAvgResult {
  Value model;                       // the final server model
  std::vector<RoundMetrics> rounds;  // one per completed round
  bool cancelled = false;            // stopped early by Cancel()
  float test_loss = 0;               // of the final model
  float test_accuracy = 0;
  // Wall-clock seconds: every round through the runtime (sampling the
  // cohort, building the argument, the call, reading the result), without
  // evaluation; evaluation alone; the whole of Run.
  double train_seconds = 0;
  double eval_seconds = 0;
  double total_seconds = 0;
};

// The outcome of the direct loop.
struct DirectResult {
  Value model;
  int64_t rounds = 0;
  // The same span of work as FedAvgResult::train_seconds: the rounds
  // without evaluation.
  double train_seconds = 0;
  std::vector<double> round_seconds;  // per round
};

// Rounds timed in pairs (RunPaired): each round once through the runtime
// and once directly, from the same model, one right after the other.
struct PairedResult {
  int64_t rounds = 0;
  std::vector<double> runtime_seconds;  // per round
  std::vector<double> direct_seconds;
  // Whether every pair gave the same model and training loss, bit for bit.
  bool identical = true;
};

// Statistics of the split, for the summary.
struct SplitSummary {
  int64_t train_examples = 0;
  int64_t test_examples = 0;
  int64_t min_examples = 0;  // per client
  int64_t max_examples = 0;
  double mean_examples = 0;
  double mean_labels = 0;  // distinct labels per client, averaged
};

class FedAvg {
 public:
  // Loads the data, splits it, builds the clients' batches, the round
  // computation and the runtime.
  static absl::StatusOr<std::unique_ptr<FedAvg>> Create(
      const FedAvgOptions& options);
  // The same over data sets given by the caller (tests).
  static absl::StatusOr<std::unique_ptr<FedAvg>> CreateWithData(
      const FedAvgOptions& options, Dataset train, Dataset test);

  ~FedAvg();

  // Trains for options.rounds rounds, calling on_round (if set) after each
  // with its metrics. After Cancel() the rounds stop (a round that is
  // running is abandoned) and the result holds the rounds completed, with
  // cancelled = true and the model of the last completed round evaluated.
  absl::StatusOr<FedAvgResult> Run(
      const std::function<void(const RoundMetrics&)>& on_round = nullptr);

  // The first `rounds` rounds again as plain C++ calls (see the file
  // comment), from the initial model. Stops early (rounds < requested)
  // after Cancel().
  absl::StatusOr<DirectResult> RunDirect(int64_t rounds);

  // The first `rounds` rounds, each run through the runtime and directly
  // from the same model, in alternating order, timed separately: machine
  // noise that drifts over seconds hits both sides of a pair alike (the
  // overhead benchmark). No evaluation.
  absl::StatusOr<PairedResult> RunPaired(int64_t rounds);

  // Stops Run, RunDirect and RunPaired as soon as possible. Thread-safe.
  void Cancel();

  // Test loss and accuracy of `model`.
  absl::StatusOr<EvaluationResult> EvaluateOnTest(const Value& model);

  // Writes every client's training examples for workers' data roots:
  // <root>/<ClientDataName(options)>/<client>/x.npy (float32[n,784]) and
  // y.npy (int32[n]), client ids from 0. Written into a fresh folder next
  // to it, then renamed into place (replacing an earlier export), so that
  // an interrupted export leaves no partial collection. Errors name the
  // path.
  absl::Status ExportClientData(const std::string& root) const;

  const FedAvgOptions& options() const { return options_; }
  // The worker threads actually used (options.threads resolved).
  int threads() const { return threads_; }
  const ir::NodePtr& computation() const { return computation_; }
  const SplitSummary& split() const { return split_; }
  // Seconds spent loading the data (Create only) and preparing the rest.
  double load_seconds() const { return load_seconds_; }
  double setup_seconds() const { return setup_seconds_; }

 private:
  FedAvg() = default;
  absl::Status Init(const FedAvgOptions& options, Dataset train, Dataset test);
  struct RoundOutput {
    Value model;
    float train_loss = 0;
  };
  // The client ids of round r's cohort (0-based r), ascending.
  absl::StatusOr<std::vector<int64_t>> Cohort(int64_t r) const;
  // Round r (0-based) from `model`: one call of the round computation, or
  // the same work as plain C++ calls.
  absl::StatusOr<RoundOutput> RuntimeRound(const Value& model, int64_t r);
  absl::StatusOr<RoundOutput> DirectRound(const Value& model, int64_t r);
  // The order in which `client` visits its batches in round `round` (a
  // seeded permutation), and its data in that order.
  std::vector<size_t> BatchOrder(int64_t client, int64_t round) const;
  Value ClientData(int64_t client, int64_t round) const;
  // Runs `n` tasks of fn(i) on `threads_` threads (the caller included).
  absl::Status ForEachIndex(int64_t n,
                            const std::function<absl::Status(int64_t)>& fn);

  FedAvgOptions options_;
  int threads_ = 1;
  double load_seconds_ = 0;
  double setup_seconds_ = 0;
  SplitSummary split_;

  Dataset test_;
  // Per client: its batches as a sequence Value (for the runtime) and as
  // Batch structs (for the direct loop), viewing the same buffers.
  std::vector<Value> client_data_;
  std::vector<std::vector<Batch>> client_batches_;
  // The training set in client order, and each client's first row.
  Tensor train_x_;
  Tensor train_y_;
  std::vector<int64_t> client_first_row_;

  Value initial_model_;
  ir::NodePtr computation_;
  std::unique_ptr<stacks::Runtime> runtime_;
  // threads_ - 1 workers (the caller is the last thread); null for 1.
  std::unique_ptr<ThreadPool> pool_;
  std::atomic<bool> cancelled_{false};
};

// The median of the rounds' times (0 for none): a measure of the
// steady-state cost of a round that a few rounds slowed down by the machine
// (preemption, page faults) do not move.
double MedianRoundSeconds(const std::vector<double>& round_seconds);

// One progress line (no '\n'): round, train loss, test loss and accuracy
// when evaluated that round, clients per second and elapsed time.
std::string FormatRoundLine(const RoundMetrics& m, int64_t total_rounds);

// The summary after training, several lines ending in '\n': the setup, the
// final test accuracy, the times, and, when `direct` is set, the runtime's
// overhead over the direct loop (median round and total) and whether the
// weights are identical.
std::string FormatFedAvgSummary(const FedAvg& fedavg,
                                const FedAvgResult& result,
                                const std::optional<DirectResult>& direct);

}  // namespace fedexec::demo

#endif  // FEDEXEC_DEMO_FEDAVG_H_
