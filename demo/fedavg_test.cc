// Tests of the FedAvg demo driver (demo/fedavg.h) on the real Fashion-MNIST
// files (installed by scripts/setup.sh from Debian's dataset-fashion-mnist)
// and on small synthetic data sets for the error cases.
#include "demo/fedavg.h"

#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"

namespace fedexec::demo {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The data sets, loaded once for the whole test binary (tensors are
// immutable and shared).
const Dataset& Train() {
  static const Dataset* const d = [] {
    absl::StatusOr<Dataset> r =
        LoadFashionMnist(kDefaultFashionMnistDir, Split::kTrain);
    EXPECT_TRUE(r.ok()) << r.status();
    return new Dataset(r.ok() ? *std::move(r) : Dataset());
  }();
  return *d;
}

const Dataset& Test() {
  static const Dataset* const d = [] {
    absl::StatusOr<Dataset> r =
        LoadFashionMnist(kDefaultFashionMnistDir, Split::kTest);
    EXPECT_TRUE(r.ok()) << r.status();
    return new Dataset(r.ok() ? *std::move(r) : Dataset());
  }();
  return *d;
}

// A small, fast setup.
FedAvgOptions Small() {
  FedAvgOptions o;
  o.population = 200;
  o.cohort = 10;
  o.rounds = 10;
  o.eval_every = 5;
  o.threads = 2;
  return o;
}

std::unique_ptr<FedAvg> Make(const FedAvgOptions& options) {
  absl::StatusOr<std::unique_ptr<FedAvg>> f =
      FedAvg::CreateWithData(options, Train(), Test());
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? *std::move(f) : nullptr;
}

// A synthetic data set of n examples (labels c % 10).
Dataset Synthetic(int64_t n) {
  std::vector<float> x(static_cast<size_t>(n) * kModelInputs, 0.5f);
  std::vector<int32_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<int32_t>(i % 10);
  Dataset d;
  d.images = *Tensor::FromSpan<float>(x, {n, kModelInputs});
  d.labels = *Tensor::FromSpan<int32_t>(y, {n});
  return d;
}

TEST(FedAvgOptionsTest, DefaultsAreTheIssuedOnes) {
  const FedAvgOptions o;
  EXPECT_EQ(o.population, 1000);
  EXPECT_EQ(o.partition, PartitionKind::kDirichlet);
  EXPECT_EQ(o.alpha, 0.5);
  EXPECT_EQ(o.cohort, 10);
  EXPECT_EQ(o.rounds, 500);
  EXPECT_EQ(o.epochs, 1);
  EXPECT_EQ(o.batch_size, 10);
  EXPECT_FLOAT_EQ(o.client_lr, 0.05f);
  EXPECT_FLOAT_EQ(o.server_lr, 1.0f);
  EXPECT_EQ(o.model, ModelKind::kLogReg);
  EXPECT_TRUE(ValidateFedAvgOptions(o).ok());
}

TEST(FedAvgOptionsTest, EachBadOptionNamesItsFlag) {
  struct Case {
    void (*mutate)(FedAvgOptions&);
    const char* flag;
  };
  const Case cases[] = {
      {[](FedAvgOptions& o) { o.population = 0; }, "--population"},
      {[](FedAvgOptions& o) { o.alpha = 0; }, "--alpha"},
      {[](FedAvgOptions& o) { o.alpha = NAN; }, "--alpha"},
      {[](FedAvgOptions& o) { o.alpha = INFINITY; }, "--alpha"},
      {[](FedAvgOptions& o) {
         o.partition = PartitionKind::kShards;
         o.shards_per_client = 0;
       },
       "--shards-per-client"},
      {[](FedAvgOptions& o) { o.cohort = 0; }, "--cohort"},
      {[](FedAvgOptions& o) { o.cohort = 1001; }, "--cohort"},
      {[](FedAvgOptions& o) { o.rounds = 0; }, "--rounds"},
      {[](FedAvgOptions& o) { o.epochs = 0; }, "--epochs"},
      {[](FedAvgOptions& o) { o.batch_size = 0; }, "--batch-size"},
      {[](FedAvgOptions& o) { o.client_lr = -0.1f; }, "--client-lr"},
      {[](FedAvgOptions& o) { o.client_lr = NAN; }, "--client-lr"},
      {[](FedAvgOptions& o) { o.server_lr = INFINITY; }, "--server-lr"},
      {[](FedAvgOptions& o) { o.threads = -1; }, "--threads"},
      {[](FedAvgOptions& o) { o.threads = 5000; }, "--threads"},
      {[](FedAvgOptions& o) { o.eval_every = 0; }, "--eval-every"},
      {[](FedAvgOptions& o) { o.data_dir = ""; }, "--data-dir"},
  };
  for (const Case& c : cases) {
    FedAvgOptions o;
    c.mutate(o);
    const absl::Status s = ValidateFedAvgOptions(o);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.flag;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.flag));
  }
  // The alpha of an unused partition is not checked.
  FedAvgOptions iid;
  iid.partition = PartitionKind::kIid;
  iid.alpha = -1;
  EXPECT_TRUE(ValidateFedAvgOptions(iid).ok());
}

TEST(FedAvgSetupTest, MissingDataNamesThePackage) {
  FedAvgOptions o = Small();
  o.data_dir = "/nonexistent/fashion-mnist";
  absl::StatusOr<std::unique_ptr<FedAvg>> f = FedAvg::Create(o);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(f.status().message()),
              HasSubstr("dataset-fashion-mnist"));
}

TEST(FedAvgSetupTest, PopulationLargerThanTheData) {
  FedAvgOptions o = Small();
  o.population = 50;
  o.cohort = 5;
  absl::StatusOr<std::unique_ptr<FedAvg>> f =
      FedAvg::CreateWithData(o, Synthetic(40), Synthetic(10));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(f.status().message()),
              HasSubstr("--population is 50; the training set has only 40"));
  // Shards: 10 clients x 5 shards need 50 examples.
  o.population = 10;
  o.partition = PartitionKind::kShards;
  o.shards_per_client = 5;
  f = FedAvg::CreateWithData(o, Synthetic(40), Synthetic(10));
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(std::string(f.status().message()),
              HasSubstr("--shards-per-client"));
}

TEST(FedAvgSetupTest, MalformedDataSets) {
  const FedAvgOptions o = Small();
  Dataset bad = Synthetic(300);
  bad.labels = *Tensor::FromSpan<int32_t>(std::vector<int32_t>(299, 1), {299});
  absl::StatusOr<std::unique_ptr<FedAvg>> f =
      FedAvg::CreateWithData(o, bad, Synthetic(10));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(f.status().message()),
              HasSubstr("float32[300,784] and int32[299]"));
  Dataset empty_test = Synthetic(0);
  f = FedAvg::CreateWithData(o, Synthetic(300), empty_test);
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(std::string(f.status().message()),
              HasSubstr("test set is empty"));
}

TEST(FedAvgSetupTest, SplitCoversTheTrainingSet) {
  for (PartitionKind kind : {PartitionKind::kDirichlet, PartitionKind::kIid,
                             PartitionKind::kShards}) {
    FedAvgOptions o = Small();
    o.partition = kind;
    std::unique_ptr<FedAvg> f = Make(o);
    ASSERT_NE(f, nullptr);
    const SplitSummary& s = f->split();
    EXPECT_EQ(s.train_examples, 60000);
    EXPECT_EQ(s.test_examples, 10000);
    EXPECT_GE(s.min_examples, 1);
    EXPECT_LE(s.min_examples, s.max_examples);
    EXPECT_DOUBLE_EQ(s.mean_examples, 300.0);
    if (kind == PartitionKind::kIid) {
      EXPECT_EQ(s.min_examples, 300);
      EXPECT_EQ(s.max_examples, 300);
      EXPECT_GT(s.mean_labels, 9.9);
    }
    if (kind == PartitionKind::kShards) {
      EXPECT_LE(s.mean_labels, 2.0);
    }
    if (kind == PartitionKind::kDirichlet) {
      EXPECT_LT(s.mean_labels, 9.9);
    }
  }
}

TEST(FedAvgComputationTest, CanonicalAndWellTyped) {
  for (ModelKind kind : {ModelKind::kLogReg, ModelKind::kMlp}) {
    FedAvgOptions options;
    options.model = kind;
    absl::StatusOr<std::string> text = FedAvgComputationText(options);
    ASSERT_TRUE(text.ok()) << text.status();
    absl::StatusOr<ir::NodePtr> parsed = ir::ParseComputation(*text);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(ir::PrintComputation(*parsed), *text);  // fmt fixed point
    absl::StatusOr<ir::NodePtr> checked = ir::CheckComputation(*parsed);
    ASSERT_TRUE(checked.ok()) << checked.status();
    const std::string m = ModelTypeString(kind);
    EXPECT_EQ((*checked)->type()->ToString(),
              "(<model=" + m + "@SERVER,batches={" + BatchTypeString() +
                  "*}@CLIENTS,client_lr=float32@SERVER,epochs=int32@SERVER,"
                  "server_lr=float32@SERVER> -> <model=" +
                  m + "@SERVER,train_loss=float32@SERVER>)");
    EXPECT_THAT(*text,
                HasSubstr(std::string(ModelKindName(kind)) + "_client_update"));
    for (const char* intrinsic :
         {"federated_broadcast", "federated_map", "federated_zip_at_clients",
          "federated_weighted_mean", "federated_apply"}) {
      EXPECT_THAT(*text, HasSubstr(intrinsic));
    }
  }
}

TEST(FedAvgRunTest, AccuracyRisesAndMetricsAreComplete) {
  FedAvgOptions o = Small();
  o.rounds = 30;
  o.eval_every = 10;
  std::unique_ptr<FedAvg> f = Make(o);
  ASSERT_NE(f, nullptr);
  std::vector<RoundMetrics> seen;
  absl::StatusOr<FedAvgResult> r =
      f->Run([&](const RoundMetrics& m) { seen.push_back(m); });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->cancelled);
  ASSERT_EQ(r->rounds.size(), 30u);
  ASSERT_EQ(seen.size(), 30u);
  for (size_t i = 0; i < seen.size(); ++i) {
    const RoundMetrics& m = r->rounds[i];
    EXPECT_EQ(m.round, static_cast<int64_t>(i + 1));
    EXPECT_TRUE(std::isfinite(m.train_loss));
    EXPECT_GT(m.round_seconds, 0);
    EXPECT_GT(m.clients_per_second, 0);
    EXPECT_EQ(std::isnan(m.test_accuracy), m.round % 10 != 0) << m.round;
    EXPECT_EQ(seen[i].round, m.round);
  }
  // Zero-initialised logistic regression starts at chance (10%); after 10
  // rounds it is far above, and keeps improving.
  const double first = r->rounds[9].test_accuracy;
  const double last = r->rounds[29].test_accuracy;
  EXPECT_GT(first, 0.5);
  EXPECT_GT(last, first);
  EXPECT_FLOAT_EQ(r->test_accuracy, last);
  EXPECT_LT(r->rounds[29].test_loss, r->rounds[9].test_loss);
  // The clients of round 1 start from the zero model (loss log(10) on
  // their first batch) and learn within their epoch; later rounds start
  // from better models.
  EXPECT_LT(r->rounds[0].train_loss, std::log(10.0));
  double late = 0;
  for (size_t i = 20; i < 30; ++i) late += r->rounds[i].train_loss / 10;
  EXPECT_LT(late, r->rounds[0].train_loss);
  EXPECT_GT(r->train_seconds, 0);
  EXPECT_GT(r->eval_seconds, 0);
  EXPECT_GE(r->total_seconds, r->train_seconds);
}

TEST(FedAvgRunTest, SameWeightsWithOneAndTwoThreads) {
  for (ModelKind kind : {ModelKind::kLogReg, ModelKind::kMlp}) {
    SCOPED_TRACE(std::string(ModelKindName(kind)));
    Value models[2];
    for (int t : {1, 2}) {
      FedAvgOptions o = Small();
      o.model = kind;
      o.rounds = kind == ModelKind::kMlp ? 3 : 10;
      o.threads = t;
      o.seed = 7;
      std::unique_ptr<FedAvg> f = Make(o);
      ASSERT_NE(f, nullptr);
      EXPECT_EQ(f->threads(), t);
      absl::StatusOr<FedAvgResult> r = f->Run();
      ASSERT_TRUE(r.ok()) << r.status();
      models[t - 1] = r->model;
    }
    EXPECT_TRUE(models[0] == models[1]);
  }
}

TEST(FedAvgRunTest, DifferentSeedsGiveDifferentModels) {
  Value models[2];
  for (int s : {0, 1}) {
    FedAvgOptions o = Small();
    o.rounds = 3;
    o.seed = s;
    std::unique_ptr<FedAvg> f = Make(o);
    ASSERT_NE(f, nullptr);
    absl::StatusOr<FedAvgResult> r = f->Run();
    ASSERT_TRUE(r.ok()) << r.status();
    models[s] = r->model;
  }
  EXPECT_FALSE(models[0] == models[1]);
}

// The direct loop is the same arithmetic: identical weights, also for a
// cohort above the aggregation block size (16), where the tree merges
// blocks, several epochs, and a server learning rate other than 1.
TEST(FedAvgRunTest, DirectLoopGivesIdenticalWeights) {
  struct Case {
    ModelKind kind;
    int64_t cohort;
    int32_t epochs;
    float server_lr;
  };
  for (const Case& c : {Case{ModelKind::kLogReg, 10, 1, 1.0f},
                        Case{ModelKind::kLogReg, 37, 2, 0.7f},
                        Case{ModelKind::kMlp, 20, 1, 1.0f}}) {
    SCOPED_TRACE(testing::Message()
                 << ModelKindName(c.kind) << " cohort " << c.cohort);
    FedAvgOptions o = Small();
    o.model = c.kind;
    o.cohort = c.cohort;
    o.epochs = c.epochs;
    o.server_lr = c.server_lr;
    o.rounds = c.kind == ModelKind::kMlp ? 2 : 5;
    std::unique_ptr<FedAvg> f = Make(o);
    ASSERT_NE(f, nullptr);
    absl::StatusOr<FedAvgResult> r = f->Run();
    ASSERT_TRUE(r.ok()) << r.status();
    absl::StatusOr<DirectResult> d = f->RunDirect(o.rounds);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->rounds, o.rounds);
    EXPECT_GT(d->train_seconds, 0);
    EXPECT_TRUE(d->model == r->model);
    // A second run of either gives the same again.
    absl::StatusOr<FedAvgResult> again = f->Run();
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->model == r->model);
  }
}

TEST(FedAvgRunTest, CancelStopsAfterTheCurrentRound) {
  FedAvgOptions o = Small();
  o.rounds = 1000;
  std::unique_ptr<FedAvg> f = Make(o);
  ASSERT_NE(f, nullptr);
  absl::StatusOr<FedAvgResult> r = f->Run([&](const RoundMetrics& m) {
    if (m.round == 3) f->Cancel();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->cancelled);
  ASSERT_EQ(r->rounds.size(), 3u);
  // The model of the last completed round is evaluated.
  EXPECT_FALSE(std::isnan(r->rounds.back().test_accuracy));
  EXPECT_FLOAT_EQ(r->test_accuracy, r->rounds.back().test_accuracy);
  EXPECT_GT(r->test_accuracy, 0.2);
  // The direct loop stops too.
  absl::StatusOr<DirectResult> d = f->RunDirect(100);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->rounds, 0);
}

TEST(FedAvgRunTest, CancelFromAnotherThreadDuringARound) {
  FedAvgOptions o = Small();
  o.rounds = 1'000'000;
  std::unique_ptr<FedAvg> f = Make(o);
  ASSERT_NE(f, nullptr);
  std::atomic<int64_t> done{0};
  std::thread canceller([&] {
    while (done.load() < 2) std::this_thread::yield();
    f->Cancel();
  });
  absl::StatusOr<FedAvgResult> r =
      f->Run([&](const RoundMetrics& m) { done.store(m.round); });
  canceller.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->cancelled);
  EXPECT_GE(r->rounds.size(), 2u);
  EXPECT_LT(r->rounds.size(), 1000u);
}

TEST(FedAvgFormatTest, RoundLineAndSummary) {
  RoundMetrics m;
  m.round = 7;
  m.train_loss = 0.5;
  m.clients_per_second = 12345.4;
  m.elapsed_seconds = 1.5;
  std::string line = FormatRoundLine(m, 500);
  EXPECT_EQ(line.rfind("round   7/500  train loss 0.5000", 0), 0u) << line;
  EXPECT_THAT(line, HasSubstr("12,345 clients/s"));
  EXPECT_THAT(line, HasSubstr("1.50 s"));
  EXPECT_THAT(line, Not(HasSubstr("test")));
  m.test_loss = 0.25;
  m.test_accuracy = 0.8125;
  line = FormatRoundLine(m, 500);
  EXPECT_THAT(line, HasSubstr("test loss 0.2500  test acc  81.25%"));

  FedAvgOptions o = Small();
  o.rounds = 2;
  std::unique_ptr<FedAvg> f = Make(o);
  ASSERT_NE(f, nullptr);
  absl::StatusOr<FedAvgResult> r = f->Run();
  ASSERT_TRUE(r.ok());
  absl::StatusOr<DirectResult> d = f->RunDirect(2);
  ASSERT_TRUE(d.ok());
  const std::string summary = FormatFedAvgSummary(*f, *r, *d);
  EXPECT_THAT(summary, HasSubstr("multinomial logistic regression, 200 "
                                 "clients (Dirichlet alpha 0.5"));
  EXPECT_THAT(summary, HasSubstr("Final test accuracy: "));
  EXPECT_THAT(summary, HasSubstr("after 2 of 2 rounds"));
  EXPECT_THAT(summary, HasSubstr("final weights bit-identical"));
  EXPECT_THAT(FormatFedAvgSummary(*f, *r, std::nullopt),
              Not(HasSubstr("overhead")));
}

}  // namespace
}  // namespace fedexec::demo
