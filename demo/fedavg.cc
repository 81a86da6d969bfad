#include "demo/fedavg.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/substitute.h"
#include "core/mutable_tensor.h"
#include "core/npy.h"
#include "core/status.h"
#include "core/tree_reduce.h"
#include "demo/partition.h"
#include "executors/aggregators.h"
#include "executors/federating_executor.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"
#include "runtimes/native/kernels.h"
#include "runtimes/native/registry.h"

namespace fedexec::demo {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Rows of the test set evaluated per task: fixed, so that the combined
// result does not depend on the thread count.
constexpr int64_t kEvalChunkRows = 1000;

// The round computation; $0 the model type, $1 the batch type, $2 the type
// of a client's update, $3 the client update's native name, $4 its
// signature, $5 the model's description; $6 the parameter element holding
// the clients' data, $7 the binding that resolves it (or nothing), $8 the
// clients' batches.
constexpr char kComputationTemplate[] = R"fed(
# One round of federated averaging (fedexec demo fedavg).
# The model: $5.
# The server broadcasts its model and the clients' hyper-parameters; each
# client of the cohort trains on its own batches (E epochs of minibatch SGD)
# and returns its model delta, its number of examples and its training loss;
# the server averages the deltas weighted by the example counts and moves its
# model by server_lr times the mean delta.
(round: <model=$0@SERVER,$6,client_lr=float32@SERVER,epochs=int32@SERVER,server_lr=float32@SERVER>) ->
  let
$7    updates = federated_map(
      native("$3", $4),
      federated_zip_at_clients(
        model=federated_broadcast(round.model),
        batches=$8,
        lr=federated_broadcast(round.client_lr),
        epochs=federated_broadcast(round.epochs)
      )
    ),
    # Each client's delta and training loss, and its example count.
    results = federated_map((u: $2) -> <delta=u.delta, loss=u.loss>, updates),
    weights = federated_map((u: $2) -> u.weight, updates),
    # The means of both, weighted by the clients' example counts.
    means = federated_weighted_mean(results, weights),
    # The server update runs at the server only.
    new_model = federated_apply(
      (p: <model=$0,means=<delta=$0,loss=float32>,lr=float32>) -> generic_plus(p.model, native("scale", (<$0,float32> -> $0))(p.means.delta, p.lr)),
      federated_zip_at_server(model=round.model, means=means, lr=round.server_lr)
    )
  in <
    model=new_model,
    train_loss=federated_apply((m: <delta=$0,loss=float32>) -> m.loss, means)
  >
)fed";

std::string_view ModelDescription(ModelKind kind) {
  return kind == ModelKind::kLogReg
             ? "multinomial logistic regression"
             : "a multi-layer perceptron (784-200-10, ReLU)";
}

absl::Status Invalid(std::string_view flag, std::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(flag), " ", std::string(message)));
}

// Registers the demo's natives into the default registry once per process.
absl::Status EnsureRegistered() {
  static const absl::Status* const status = [] {
    native::NativeRegistry& registry = native::NativeRegistry::Default();
    absl::Status s;
    if (!registry.Contains("logreg_client_update")) {
      s = RegisterDemoFunctions(registry);
    }
    return new absl::Status(std::move(s));
  }();
  return *status;
}

Value AtServer(Value v) {
  std::vector<Value> members;
  members.push_back(std::move(v));
  return Value::Federated(Placement::kServer, /*all_equal=*/true,
                          std::move(members));
}

// Element `name` of the round's result, without its SERVER placement.
absl::StatusOr<Value> ResultElement(const Value& result,
                                    std::string_view name) {
  if (result.is_struct()) {
    for (const StructValue::Element& e : result.struct_value().elements) {
      if (e.name != name) continue;
      const Value& v = *e.value;
      if (v.is_federated() && v.federated().placement == Placement::kServer &&
          v.federated().size() == 1) {
        return v.federated().Member(0);
      }
      return absl::InternalError(absl::StrCat("fedavg: result element '",
                                              std::string(name), "' is ",
                                              native::DescribeValue(v)));
    }
  }
  return absl::InternalError(
      absl::StrCat("fedavg: the round's result has no '", std::string(name),
                   "': ", native::DescribeValue(result)));
}

absl::StatusOr<float> ScalarOf(const Value& v, std::string_view name) {
  if (!v.is_tensor() || v.tensor().dtype() != DType::kFloat32 ||
      v.tensor().num_elements() != 1) {
    return absl::InternalError(
        absl::StrCat("fedavg: '", std::string(name),
                     "' is not a float32 scalar: ", native::DescribeValue(v)));
  }
  return v.tensor().data<float>()[0];
}

// Mean of weighted values along the aggregation tree of the federating
// executor (blocks of exec::AggregationBlockSize(clients), exec::Fold/Merge):
// the same operations in the same order, so the same bits.
absl::StatusOr<Value> TreeWeightedMean(ThreadPool& pool,
                                       const std::vector<const Value*>& values,
                                       const std::vector<double>& weights) {
  TreeReduceOptions options;
  options.block_size =
      exec::AggregationBlockSize(static_cast<int64_t>(values.size()));
  FEDEXEC_ASSIGN_OR_RETURN(
      exec::Accumulator root,
      TreeReduce(
          pool, static_cast<int64_t>(values.size()), options,
          [] { return exec::Accumulator(); },
          [&](exec::Accumulator& acc, int64_t c) -> absl::Status {
            return exec::Fold(exec::AggregateOp::kWeightedSum, acc, *values[c],
                              weights[c]);
          },
          [](exec::Accumulator& left,
             exec::Accumulator&& right) -> absl::Status {
            return exec::Merge(exec::AggregateOp::kWeightedSum, left,
                               std::move(right));
          }));
  return exec::FinishMean(std::move(root), /*weighted=*/true);
}

std::string WithThousands(int64_t n) {
  std::string digits = absl::StrCat(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string Seconds(double s) {
  return s < 10 ? absl::StrFormat("%.2f s", s) : absl::StrFormat("%.1f s", s);
}

}  // namespace

std::string_view PartitionKindName(PartitionKind kind) {
  switch (kind) {
    case PartitionKind::kDirichlet:
      return "dirichlet";
    case PartitionKind::kIid:
      return "iid";
    case PartitionKind::kShards:
      return "shards";
  }
  return "?";
}

absl::Status ValidateFedAvgOptions(const FedAvgOptions& o) {
  if (o.data_dir.empty()) return Invalid("--data-dir", "is empty");
  if (o.population < 1) {
    return Invalid("--population",
                   absl::StrCat("is ", o.population, "; must be >= 1"));
  }
  if (o.partition == PartitionKind::kDirichlet &&
      !(o.alpha > 0 && std::isfinite(o.alpha))) {
    return Invalid("--alpha", absl::StrCat("is ", o.alpha,
                                           "; must be positive and finite"));
  }
  if (o.partition == PartitionKind::kShards && o.shards_per_client < 1) {
    return Invalid("--shards-per-client",
                   absl::StrCat("is ", o.shards_per_client, "; must be >= 1"));
  }
  if (o.cohort < 1 || o.cohort > o.population) {
    return Invalid("--cohort", absl::StrCat("is ", o.cohort,
                                            "; must be in [1, --population = ",
                                            o.population, "]"));
  }
  if (o.rounds < 1) {
    return Invalid("--rounds", absl::StrCat("is ", o.rounds, "; must be >= 1"));
  }
  if (o.epochs < 1) {
    return Invalid("--epochs", absl::StrCat("is ", o.epochs, "; must be >= 1"));
  }
  if (o.batch_size < 1) {
    return Invalid("--batch-size",
                   absl::StrCat("is ", o.batch_size, "; must be >= 1"));
  }
  if (!(o.client_lr >= 0 && std::isfinite(o.client_lr))) {
    return Invalid(
        "--client-lr",
        absl::StrCat("is ", o.client_lr, "; must be non-negative and finite"));
  }
  if (!std::isfinite(o.server_lr)) {
    return Invalid("--server-lr",
                   absl::StrCat("is ", o.server_lr, "; must be finite"));
  }
  if (o.threads < 0 || o.threads > ThreadPool::kMaxThreads) {
    return Invalid("--threads",
                   absl::StrCat("is ", o.threads,
                                "; must be 0 (one per hardware thread) or in "
                                "[1, ",
                                ThreadPool::kMaxThreads, "]"));
  }
  if (o.eval_every < 1) {
    return Invalid("--eval-every",
                   absl::StrCat("is ", o.eval_every, "; must be >= 1"));
  }
  return absl::OkStatus();
}

std::string ClientDataName(const FedAvgOptions& options) {
  std::string split(PartitionKindName(options.partition));
  if (options.partition == PartitionKind::kDirichlet) {
    absl::StrAppend(&split, "-alpha", options.alpha);
  } else if (options.partition == PartitionKind::kShards) {
    absl::StrAppend(&split, "-shards", options.shards_per_client);
  }
  return absl::StrCat("fedavg-fashion-mnist/", split, "-population",
                      options.population, "-seed", options.seed);
}

absl::StatusOr<std::string> FedAvgComputationText(
    const FedAvgOptions& options) {
  const ModelKind kind = options.model;
  const std::string model = ModelTypeString(kind);
  const std::string update =
      absl::StrCat("<delta=", model, ",weight=float32,loss=float32>");
  const std::string batch = BatchTypeString();
  std::string parameter = absl::StrCat("batches={", batch, "*}@CLIENTS");
  std::string binding;
  std::string batches = "round.batches";
  if (options.data_on_workers) {
    parameter = "clients={string}@CLIENTS";
    binding = absl::StrCat(
        "    # Each client's batches, resolved where the client runs: its key\n"
        "    # names its folder and the round's batch order.\n"
        "    batches = federated_map(data(\"",
        ClientDataName(options), "?batch_size=", options.batch_size,
        "\", (string -> ", batch, "*)), round.clients),\n");
    batches = "batches";
  }
  const std::string raw = absl::Substitute(
      kComputationTemplate + 1, model, batch, update,
      absl::StrCat(std::string(ModelKindName(kind)), "_client_update"),
      ClientUpdateSignature(kind), std::string(ModelDescription(kind)),
      parameter, binding, batches);
  FEDEXEC_ASSIGN_OR_RETURN(ir::NodePtr parsed, ir::ParseComputation(raw));
  return ir::PrintComputation(parsed);
}

FedAvg::~FedAvg() = default;

absl::StatusOr<std::unique_ptr<FedAvg>> FedAvg::Create(
    const FedAvgOptions& options) {
  FEDEXEC_RETURN_IF_ERROR(ValidateFedAvgOptions(options));
  const Clock::time_point start = Clock::now();
  FEDEXEC_ASSIGN_OR_RETURN(Dataset train,
                           LoadFashionMnist(options.data_dir, Split::kTrain));
  FEDEXEC_ASSIGN_OR_RETURN(Dataset test,
                           LoadFashionMnist(options.data_dir, Split::kTest));
  const double load_seconds = SecondsSince(start);
  FEDEXEC_ASSIGN_OR_RETURN(
      std::unique_ptr<FedAvg> fedavg,
      CreateWithData(options, std::move(train), std::move(test)));
  fedavg->load_seconds_ = load_seconds;
  return fedavg;
}

absl::StatusOr<std::unique_ptr<FedAvg>> FedAvg::CreateWithData(
    const FedAvgOptions& options, Dataset train, Dataset test) {
  std::unique_ptr<FedAvg> fedavg(new FedAvg());
  FEDEXEC_RETURN_IF_ERROR(
      fedavg->Init(options, std::move(train), std::move(test)));
  return fedavg;
}

absl::Status FedAvg::Init(const FedAvgOptions& options, Dataset train,
                          Dataset test) {
  const Clock::time_point start = Clock::now();
  FEDEXEC_RETURN_IF_ERROR(ValidateFedAvgOptions(options));
  options_ = options;
  threads_ =
      options.threads > 0
          ? options.threads
          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  for (const Dataset* d : {&train, &test}) {
    if (d->images.dtype() != DType::kFloat32 || d->images.rank() != 2 ||
        d->images.shape()[1] != kModelInputs ||
        d->labels.dtype() != DType::kInt32 || d->labels.rank() != 1 ||
        d->labels.shape()[0] != d->images.shape()[0]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "fedavg: a data set must be images float32[n,784] and labels "
          "int32[n], found ",
          d->images.TypeString(), " and ", d->labels.TypeString()));
    }
  }
  const int64_t n = train.size();
  if (options.population > n) {
    return Invalid(
        "--population",
        absl::StrCat("is ", options.population, "; the training set has only ",
                     n, " examples (each client needs one)"));
  }
  if (test.size() == 0) {
    return absl::InvalidArgumentError("fedavg: the test set is empty");
  }

  // The split.
  const auto labels = train.labels.data<int32_t>();
  const uint64_t split_seed = DeriveSeed(options.seed, kPartitionStream);
  absl::StatusOr<Partition> partition;
  switch (options.partition) {
    case PartitionKind::kDirichlet:
      partition = DirichletPartition(labels, options.population, options.alpha,
                                     split_seed);
      break;
    case PartitionKind::kIid:
      partition = IidPartition(n, options.population, split_seed);
      break;
    case PartitionKind::kShards:
      partition = ShardPartition(labels, options.population,
                                 options.shards_per_client, split_seed);
      break;
  }
  if (!partition.ok()) return partition.status();

  // The training set in client order: client c's examples are the rows
  // [offsets[c], offsets[c + 1]).
  FEDEXEC_ASSIGN_OR_RETURN(
      MutableTensor images,
      MutableTensor::Uninitialized(DType::kFloat32, {n, kModelInputs}));
  FEDEXEC_ASSIGN_OR_RETURN(MutableTensor ordered_labels,
                           MutableTensor::Uninitialized(DType::kInt32, {n}));
  {
    const float* from = train.images.data<float>().data();
    float* to = images.mutable_data<float>().data();
    int32_t* to_label = ordered_labels.mutable_data<int32_t>().data();
    int64_t row = 0;
    for (const std::vector<int32_t>& client : *partition) {
      for (int32_t index : client) {
        std::memcpy(to + row * kModelInputs, from + index * kModelInputs,
                    kModelInputs * sizeof(float));
        to_label[row] = labels[index];
        ++row;
      }
    }
    if (row != n) {
      return absl::InternalError(absl::StrCat("fedavg: the split covers ", row,
                                              " of ", n, " examples"));
    }
  }
  train_x_ = std::move(images).Freeze();
  train_y_ = std::move(ordered_labels).Freeze();
  const Tensor& x = train_x_;
  const Tensor& y = train_y_;
  train = Dataset();  // the copy in client order replaces it

  split_.train_examples = n;
  split_.test_examples = test.size();
  split_.min_examples = n;
  int64_t row = 0;
  int64_t label_count = 0;
  client_data_.reserve(partition->size());
  client_batches_.reserve(partition->size());
  const auto y_data = y.data<int32_t>();
  client_first_row_.reserve(partition->size() + 1);
  for (const std::vector<int32_t>& client : *partition) {
    const int64_t size = static_cast<int64_t>(client.size());
    client_first_row_.push_back(row);
    FEDEXEC_ASSIGN_OR_RETURN(
        Value data, MakeBatches(x, y, row, row + size, options.batch_size));
    std::vector<Batch> batches;
    batches.reserve(data.sequence().elements.size());
    for (const Value& b : data.sequence().elements) {
      const auto& e = b.struct_value().elements;
      batches.push_back(Batch{e[0].value->tensor(), e[1].value->tensor()});
    }
    client_data_.push_back(std::move(data));
    client_batches_.push_back(std::move(batches));
    bool seen[kModelClasses] = {};
    for (int64_t i = row; i < row + size; ++i) {
      if (!seen[y_data[i]]) ++label_count;
      seen[y_data[i]] = true;
    }
    split_.min_examples = std::min(split_.min_examples, size);
    split_.max_examples = std::max(split_.max_examples, size);
    row += size;
  }
  client_first_row_.push_back(row);
  split_.mean_examples = static_cast<double>(n) / options.population;
  split_.mean_labels = static_cast<double>(label_count) / options.population;
  test_ = std::move(test);

  FEDEXEC_ASSIGN_OR_RETURN(
      initial_model_,
      InitialModel(options.model, DeriveSeed(options.seed, kModelStream)));
  FEDEXEC_RETURN_IF_ERROR(EnsureRegistered());
  FEDEXEC_ASSIGN_OR_RETURN(const std::string text,
                           FedAvgComputationText(options));
  FEDEXEC_ASSIGN_OR_RETURN(ir::NodePtr parsed, ir::ParseComputation(text));
  FEDEXEC_ASSIGN_OR_RETURN(computation_, ir::CheckComputation(parsed));
  stacks::RuntimeOptions runtime_options;
  runtime_options.threads = threads_;
  runtime_options.default_clients = options.cohort;
  runtime_options.cache_size = 1;
  if (options.make_factory) {
    FEDEXEC_ASSIGN_OR_RETURN(std::unique_ptr<stacks::ExecutorFactory> factory,
                             options.make_factory());
    FEDEXEC_ASSIGN_OR_RETURN(runtime_, stacks::Runtime::CreateWithFactory(
                                           std::move(factory), options.cohort));
  } else {
    FEDEXEC_ASSIGN_OR_RETURN(runtime_,
                             stacks::Runtime::Create(runtime_options));
  }
  pool_ = std::make_unique<ThreadPool>(std::max(1, threads_ - 1));
  setup_seconds_ = SecondsSince(start);
  return absl::OkStatus();
}

std::vector<size_t> FedAvg::BatchOrder(int64_t client, int64_t round) const {
  std::vector<size_t> order(client_batches_[client].size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  // Fisher-Yates driven by a SplitMix64 stream of (seed, round, client):
  // cheap to start (this runs for every client of every round) and
  // portable. Multiply-shift maps a draw to [0, i]; its bias (below
  // i / 2^64) does not matter for an order of a few batches.
  uint64_t state =
      DeriveSeed(DeriveSeed(options_.seed, kBatchOrderStream),
                 static_cast<uint64_t>(round) *
                         static_cast<uint64_t>(options_.population) +
                     static_cast<uint64_t>(client));
  for (size_t i = order.size(); i > 1; --i) {
    state = DeriveSeed(state, i);
    const auto j =
        static_cast<size_t>((static_cast<unsigned __int128>(state) * i) >> 64);
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

Value FedAvg::ClientData(int64_t client, int64_t round) const {
  const std::vector<Value>& all = client_data_[client].sequence().elements;
  std::vector<Value> batches;
  batches.reserve(all.size());
  for (size_t b : BatchOrder(client, round)) batches.push_back(all[b]);
  return Value::Sequence(std::move(batches));
}

absl::Status FedAvg::ExportClientData(const std::string& root) const {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--export-clients ", root, ": not a directory"));
  }
  const fs::path target = fs::path(root) / ClientDataName(options_);
  const fs::path fresh =
      fs::path(target.string() + absl::StrCat(".partial-", ::getpid()));
  const auto failed = [&](const fs::path& path, const std::error_code& e) {
    fs::remove_all(fresh, ec);
    return absl::InternalError(absl::StrCat(path.string(), ": ", e.message()));
  };
  fs::remove_all(fresh, ec);
  if (fs::create_directories(fresh, ec); ec) return failed(fresh, ec);
  const int64_t clients = static_cast<int64_t>(client_first_row_.size()) - 1;
  for (int64_t c = 0; c < clients; ++c) {
    const fs::path dir = fresh / absl::StrCat(c);
    if (fs::create_directory(dir, ec); ec) return failed(dir, ec);
    const int64_t begin = client_first_row_[c];
    const int64_t end = client_first_row_[c + 1];
    FEDEXEC_ASSIGN_OR_RETURN(Tensor x, SliceRows(train_x_, begin, end));
    FEDEXEC_ASSIGN_OR_RETURN(Tensor y, SliceRows(train_y_, begin, end));
    for (const auto& [name, tensor] :
         {std::pair{"x.npy", &x}, std::pair{"y.npy", &y}}) {
      if (absl::Status s = WriteNpyFile((dir / name).string(), *tensor);
          !s.ok()) {
        fs::remove_all(fresh, ec);
        return s;
      }
    }
  }
  // Into place: an earlier export of the same split is replaced.
  const fs::path old =
      fs::path(target.string() + absl::StrCat(".old-", ::getpid()));
  if (fs::exists(target, ec)) {
    if (fs::rename(target, old, ec); ec) return failed(target, ec);
  }
  if (fs::rename(fresh, target, ec); ec) return failed(target, ec);
  fs::remove_all(old, ec);
  return absl::OkStatus();
}

void FedAvg::Cancel() {
  cancelled_.store(true);
  if (runtime_ != nullptr) runtime_->CancelRunning();
}

absl::Status FedAvg::ForEachIndex(
    int64_t n, const std::function<absl::Status(int64_t)>& fn) {
  auto chunk = [&](int64_t begin, int64_t end) -> absl::Status {
    for (int64_t i = begin; i < end; ++i) FEDEXEC_RETURN_IF_ERROR(fn(i));
    return absl::OkStatus();
  };
  if (threads_ == 1) return chunk(0, n);
  return ParallelForWithStatus(*pool_, n, /*grain=*/0, chunk);
}

absl::StatusOr<EvaluationResult> FedAvg::EvaluateOnTest(const Value& model) {
  const int64_t n = test_.size();
  const int64_t chunks = (n + kEvalChunkRows - 1) / kEvalChunkRows;
  std::vector<EvaluationResult> parts(static_cast<size_t>(chunks));
  FEDEXEC_RETURN_IF_ERROR(ForEachIndex(chunks, [&](int64_t c) -> absl::Status {
    const int64_t begin = c * kEvalChunkRows;
    const int64_t end = std::min(n, begin + kEvalChunkRows);
    FEDEXEC_ASSIGN_OR_RETURN(Tensor x, SliceRows(test_.images, begin, end));
    FEDEXEC_ASSIGN_OR_RETURN(Tensor y, SliceRows(test_.labels, begin, end));
    FEDEXEC_ASSIGN_OR_RETURN(parts[c], Evaluate(options_.model, model, x, y));
    return absl::OkStatus();
  }));
  double loss = 0;
  int64_t correct = 0;
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t rows =
        std::min(n, (c + 1) * kEvalChunkRows) - c * kEvalChunkRows;
    loss += static_cast<double>(parts[c].loss) * rows;
    correct += std::llround(static_cast<double>(parts[c].accuracy) * rows);
  }
  EvaluationResult result;
  result.loss = static_cast<float>(loss / n);
  result.accuracy = static_cast<float>(static_cast<double>(correct) / n);
  return result;
}

absl::StatusOr<std::vector<int64_t>> FedAvg::Cohort(int64_t r) const {
  return SampleCohort(options_.population, options_.cohort, r,
                      DeriveSeed(options_.seed, kCohortStream));
}

absl::StatusOr<FedAvg::RoundOutput> FedAvg::RuntimeRound(const Value& model,
                                                         int64_t r) {
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<int64_t> cohort, Cohort(r));
  std::vector<Value> members;
  members.reserve(cohort.size());
  for (int64_t id : cohort) {
    if (options_.data_on_workers) {
      members.push_back(Tensor::StringScalar(absl::StrCat(
          id, "?batches=", absl::StrJoin(BatchOrder(id, r), ","))));
    } else {
      members.push_back(ClientData(id, r));
    }
  }
  Value argument = Value::Struct(
      {{"model", AtServer(model)},
       {options_.data_on_workers ? "clients" : "batches",
        Value::Federated(Placement::kClients, false, std::move(members))},
       {"client_lr", AtServer(Tensor::Scalar<float>(options_.client_lr))},
       {"epochs", AtServer(Tensor::Scalar<int32_t>(options_.epochs))},
       {"server_lr", AtServer(Tensor::Scalar<float>(options_.server_lr))}});
  stacks::Runtime::CallOptions call_options;
  call_options.num_clients = options_.cohort;
  absl::StatusOr<Value> out =
      runtime_->Call(computation_, std::move(argument), call_options);
  if (!out.ok()) {
    if (out.status().code() == absl::StatusCode::kCancelled) {
      return out.status();
    }
    return absl::Status(
        out.status().code(),
        absl::StrCat("round ", r + 1, ": ", out.status().message()));
  }
  RoundOutput result;
  FEDEXEC_ASSIGN_OR_RETURN(result.model, ResultElement(*out, "model"));
  FEDEXEC_ASSIGN_OR_RETURN(Value loss, ResultElement(*out, "train_loss"));
  FEDEXEC_ASSIGN_OR_RETURN(result.train_loss, ScalarOf(loss, "train_loss"));
  return result;
}

absl::StatusOr<FedAvg::RoundOutput> FedAvg::DirectRound(const Value& model,
                                                        int64_t r) {
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<int64_t> cohort, Cohort(r));
  const int64_t k = static_cast<int64_t>(cohort.size());
  std::vector<ClientUpdateResult> updates(static_cast<size_t>(k));
  FEDEXEC_RETURN_IF_ERROR(ForEachIndex(k, [&](int64_t i) -> absl::Status {
    const std::vector<Batch>& all = client_batches_[cohort[i]];
    std::vector<Batch> batches;
    batches.reserve(all.size());
    for (size_t b : BatchOrder(cohort[i], r)) batches.push_back(all[b]);
    FEDEXEC_ASSIGN_OR_RETURN(updates[i],
                             ClientUpdate(options_.model, model, batches,
                                          options_.client_lr, options_.epochs));
    return absl::OkStatus();
  }));
  // As the computation: one weighted mean of <delta, loss> structs.
  std::vector<Value> results;
  std::vector<double> weights;
  results.reserve(updates.size());
  for (ClientUpdateResult& u : updates) {
    results.push_back(
        Value::Struct({{"delta", std::move(u.delta)},
                       {"loss", Value(Tensor::Scalar<float>(u.loss))}}));
    weights.push_back(u.weight);
  }
  std::vector<const Value*> result_ptrs;
  for (const Value& v : results) result_ptrs.push_back(&v);
  FEDEXEC_ASSIGN_OR_RETURN(Value means,
                           TreeWeightedMean(*pool_, result_ptrs, weights));
  const auto& elements = means.struct_value().elements;
  FEDEXEC_ASSIGN_OR_RETURN(
      Value step, native::ScaleValue(*elements[0].value, options_.server_lr));
  RoundOutput result;
  FEDEXEC_ASSIGN_OR_RETURN(result.model, native::AddValues(model, step));
  FEDEXEC_ASSIGN_OR_RETURN(result.train_loss,
                           ScalarOf(*elements[1].value, "train_loss"));
  return result;
}

absl::StatusOr<FedAvgResult> FedAvg::Run(
    const std::function<void(const RoundMetrics&)>& on_round) {
  FedAvgResult result;
  Value model = initial_model_;
  const Clock::time_point start = Clock::now();
  bool last_evaluated = false;
  for (int64_t r = 0; r < options_.rounds; ++r) {
    if (cancelled_.load()) {
      result.cancelled = true;
      break;
    }
    const Clock::time_point round_start = Clock::now();
    absl::StatusOr<RoundOutput> out = RuntimeRound(model, r);
    if (!out.ok()) {
      if (out.status().code() == absl::StatusCode::kCancelled &&
          cancelled_.load()) {
        result.cancelled = true;
        break;
      }
      return out.status();
    }
    model = std::move(out->model);
    const float train_loss = out->train_loss;
    const double round_seconds = SecondsSince(round_start);
    result.train_seconds += round_seconds;

    RoundMetrics m;
    m.round = r + 1;
    m.train_loss = train_loss;
    m.round_seconds = round_seconds;
    m.clients_per_second =
        round_seconds > 0 ? options_.cohort / round_seconds : 0;
    last_evaluated =
        (r + 1) % options_.eval_every == 0 || r + 1 == options_.rounds;
    if (last_evaluated) {
      const Clock::time_point eval_start = Clock::now();
      FEDEXEC_ASSIGN_OR_RETURN(EvaluationResult e, EvaluateOnTest(model));
      result.eval_seconds += SecondsSince(eval_start);
      m.test_loss = e.loss;
      m.test_accuracy = e.accuracy;
      result.test_loss = e.loss;
      result.test_accuracy = e.accuracy;
    }
    m.elapsed_seconds = SecondsSince(start);
    result.rounds.push_back(m);
    if (on_round) on_round(m);
  }
  if (!last_evaluated) {
    // Cancelled: evaluate the model of the last completed round (or the
    // initial one).
    const Clock::time_point eval_start = Clock::now();
    FEDEXEC_ASSIGN_OR_RETURN(EvaluationResult e, EvaluateOnTest(model));
    result.eval_seconds += SecondsSince(eval_start);
    result.test_loss = e.loss;
    result.test_accuracy = e.accuracy;
    if (!result.rounds.empty()) {
      result.rounds.back().test_loss = e.loss;
      result.rounds.back().test_accuracy = e.accuracy;
    }
  }
  result.model = std::move(model);
  result.total_seconds = SecondsSince(start);
  return result;
}

absl::StatusOr<DirectResult> FedAvg::RunDirect(int64_t rounds) {
  DirectResult result;
  Value model = initial_model_;
  for (int64_t r = 0; r < rounds; ++r) {
    if (cancelled_.load()) break;
    const Clock::time_point round_start = Clock::now();
    FEDEXEC_ASSIGN_OR_RETURN(RoundOutput out, DirectRound(model, r));
    model = std::move(out.model);
    const double round_seconds = SecondsSince(round_start);
    result.train_seconds += round_seconds;
    result.round_seconds.push_back(round_seconds);
    result.rounds = r + 1;
    // Evaluated on Run's schedule, untimed, so that both runs see the same
    // interruptions (caches, idle workers) between rounds.
    if ((r + 1) % options_.eval_every == 0 || r + 1 == options_.rounds) {
      FEDEXEC_RETURN_IF_ERROR(EvaluateOnTest(model).status());
    }
  }
  result.model = std::move(model);
  return result;
}

absl::StatusOr<PairedResult> FedAvg::RunPaired(int64_t rounds) {
  PairedResult result;
  Value model = initial_model_;
  for (int64_t r = 0; r < rounds; ++r) {
    if (cancelled_.load()) break;
    // Alternate which goes first: the second finds the cohort's data warm.
    absl::StatusOr<RoundOutput> outputs[2];
    double seconds[2] = {0, 0};
    for (int k = 0; k < 2; ++k) {
      const bool runtime = (k == 0) == (r % 2 == 0);
      const Clock::time_point start = Clock::now();
      absl::StatusOr<RoundOutput> out =
          runtime ? RuntimeRound(model, r) : DirectRound(model, r);
      seconds[runtime ? 0 : 1] = SecondsSince(start);
      outputs[runtime ? 0 : 1] = std::move(out);
    }
    for (const auto& out : outputs) {
      if (!out.ok()) {
        if (out.status().code() == absl::StatusCode::kCancelled &&
            cancelled_.load()) {
          return result;
        }
        return out.status();
      }
    }
    result.runtime_seconds.push_back(seconds[0]);
    result.direct_seconds.push_back(seconds[1]);
    result.identical = result.identical &&
                       outputs[0]->model == outputs[1]->model &&
                       outputs[0]->train_loss == outputs[1]->train_loss;
    model = std::move(outputs[0]->model);
    result.rounds = r + 1;
  }
  return result;
}

double MedianRoundSeconds(const std::vector<double>& round_seconds) {
  if (round_seconds.empty()) return 0;
  std::vector<double> v = round_seconds;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + mid, v.end());
  if (v.size() % 2 == 1) return v[mid];
  const double upper = v[mid];
  return (upper + *std::max_element(v.begin(), v.begin() + mid)) / 2;
}

std::string FormatRoundLine(const RoundMetrics& m, int64_t total_rounds) {
  const int width = static_cast<int>(absl::StrCat(total_rounds).size());
  std::string line = absl::StrFormat("round %*d/%d  train loss %.4f", width,
                                     m.round, total_rounds, m.train_loss);
  if (std::isnan(m.test_accuracy)) {
    absl::StrAppend(&line, std::string(35, ' '));
  } else {
    absl::StrAppendFormat(&line, "  test loss %.4f  test acc %6.2f%%",
                          m.test_loss, 100.0 * m.test_accuracy);
  }
  absl::StrAppendFormat(&line, "  %7s clients/s  %s",
                        WithThousands(std::llround(m.clients_per_second)),
                        Seconds(m.elapsed_seconds));
  return line;
}

std::string FormatFedAvgSummary(const FedAvg& fedavg,
                                const FedAvgResult& result,
                                const std::optional<DirectResult>& direct) {
  const FedAvgOptions& o = fedavg.options();
  const SplitSummary& s = fedavg.split();
  std::string partition;
  switch (o.partition) {
    case PartitionKind::kDirichlet:
      partition = absl::StrFormat("Dirichlet alpha %g", o.alpha);
      break;
    case PartitionKind::kIid:
      partition = "IID";
      break;
    case PartitionKind::kShards:
      partition = absl::StrFormat("%d label shards each", o.shards_per_client);
      break;
  }
  const int64_t done = static_cast<int64_t>(result.rounds.size());
  std::string out = absl::StrFormat(
      "FedAvg on Fashion-MNIST: %s, %s clients (%s; %d to %d examples, %.1f "
      "labels on average), cohort %d, %d epoch%s of batch %d, client lr %g, "
      "server lr %g, seed %d, %d thread%s\n",
      ModelDescription(o.model), WithThousands(o.population), partition,
      s.min_examples, s.max_examples, s.mean_labels, o.cohort, o.epochs,
      o.epochs == 1 ? "" : "s", o.batch_size, o.client_lr, o.server_lr, o.seed,
      fedavg.threads(), fedavg.threads() == 1 ? "" : "s");
  absl::StrAppendFormat(
      &out, "%s test accuracy: %.2f%% (test loss %.4f) after %d of %d rounds\n",
      result.cancelled ? "Interrupted;" : "Final", 100.0 * result.test_accuracy,
      result.test_loss, done, o.rounds);
  const double clients_per_second =
      result.train_seconds > 0 ? done * o.cohort / result.train_seconds : 0;
  absl::StrAppendFormat(
      &out,
      "Time: data loading %s, setup %s, rounds %s (%s clients/s), evaluation "
      "%s\n",
      Seconds(fedavg.load_seconds()), Seconds(fedavg.setup_seconds()),
      Seconds(result.train_seconds),
      WithThousands(std::llround(clients_per_second)),
      Seconds(result.eval_seconds));
  if (direct.has_value() && direct->rounds > 0) {
    const bool same_rounds = direct->rounds == done;
    std::vector<double> ours;
    for (const RoundMetrics& m : result.rounds) ours.push_back(m.round_seconds);
    const double median = MedianRoundSeconds(ours);
    const double direct_median = MedianRoundSeconds(direct->round_seconds);
    auto percent = [](double a, double b) {
      return b > 0 ? 100.0 * (a / b - 1) : 0.0;
    };
    absl::StrAppendFormat(
        &out,
        "Runtime overhead: the same %d rounds with the client update called "
        "directly in a C++ loop (%d thread%s): median round %.3f ms, through "
        "fedexec %.3f ms (%+.1f%%); in all %s and %s (%+.1f%%)%s\n",
        direct->rounds, fedavg.threads(), fedavg.threads() == 1 ? "" : "s",
        1e3 * direct_median, 1e3 * median, percent(median, direct_median),
        Seconds(direct->train_seconds), Seconds(result.train_seconds),
        percent(result.train_seconds, direct->train_seconds),
        same_rounds
            ? (direct->model == result.model ? "; final weights bit-identical"
                                             : "; final weights DIFFER")
            : "");
  }
  return out;
}

}  // namespace fedexec::demo
