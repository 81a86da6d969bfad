// `fedexec demo fedavg` and `fedexec demo analytics` as a user meets them:
// the progress lines and the summary, the --out files, the flags' checks
// (exit 2 and one line naming the flag, nothing written), --print-computation,
// Ctrl-C (exit 130 with the completed rounds written) and the analytics
// aggregates. Runs the built binary as a child process, on the Fashion-MNIST
// files of Debian's dataset-fashion-mnist (installed by the setup script).
// Every training run is short (a few dozen rounds at most).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/subprocess.h"
#include "testing/test_files.h"

namespace {

namespace fs = std::filesystem;
using ::fedexec::test_util::KillChild;
using ::fedexec::test_util::PollChild;
using ::fedexec::test_util::ReadFile;
using ::fedexec::test_util::SpawnRedirected;
using ::fedexec::test_util::WaitOutcome;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

using RunResult = ::fedexec::test_util::ProgramRun;

// The lines of `text`, without their '\n' (a last line without one counts).
std::vector<std::string> SplitLines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

int CountLines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

// The lines of `text` that start with `prefix`.
std::vector<std::string> LinesStartingWith(const std::string& text,
                                           const std::string& prefix) {
  std::vector<std::string> found;
  for (const std::string& line : SplitLines(text)) {
    if (absl::StartsWith(line, prefix)) found.push_back(line);
  }
  return found;
}

// The text of the test accuracy in a progress line ("71.43" of
// "... test acc  71.43% ..."), or "" if the line has none.
std::string AccuracyOf(const std::string& line) {
  const std::string key = "test acc ";
  size_t at = line.find(key);
  if (at == std::string::npos) return "";
  at = line.find_first_not_of(' ', at + key.size());
  if (at == std::string::npos) return "";
  return line.substr(at, line.find('%', at) - at);
}

// metrics.csv as rows of fields (the header included); empty fields kept.
std::vector<std::vector<std::string>> ReadCsv(const fs::path& path) {
  std::vector<std::vector<std::string>> rows;
  for (const std::string& line : SplitLines(ReadFile(path))) {
    rows.push_back(absl::StrSplit(line, ','));
  }
  return rows;
}

constexpr char kCsvHeader[] =
    "round,train_loss,test_loss,test_accuracy,round_seconds,"
    "clients_per_second,elapsed_seconds";

// A run small enough to take well under a second of training.
constexpr char kSmallRun[] =
    "--population 100 --cohort 5 --rounds 5 --eval-every 5 --threads 2";

class DemoCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = ::fedexec::test_util::ProgramUnderTest(FEDEXEC_BINARY_PATH);
    tmp_ = fs::temp_directory_path() /
           absl::StrCat(
               "fedexec_demo_command_test_", getpid(), "_",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  // Runs `fedexec ARGS` (ARGS is shell text) in the scratch directory.
  RunResult Fedexec(const std::string& args) {
    return ::fedexec::test_util::RunProgram(binary_, args, tmp_, tmp_);
  }

  // The names in `dir` (not recursive), sorted.
  static std::vector<std::string> Entries(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string binary_;
  fs::path tmp_;
};

// ------------------------------------------------------------------ fedavg

TEST_F(DemoCommandTest, FedAvgPrintsRoundsAndSummaryAndWritesOutputs) {
  const fs::path out = tmp_ / "out";
  RunResult run = Fedexec(
      "demo fedavg --rounds 20 --eval-every 5 --threads 2 "
      "--out '" +
      out.string() + "'");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.err, "");

  // One progress line per round, in order, with the test accuracy on the
  // evaluated rounds only.
  const std::vector<std::string> rounds = LinesStartingWith(run.out, "round ");
  ASSERT_EQ(rounds.size(), 20u) << run.out;
  for (int r = 1; r <= 20; ++r) {
    const std::string& line = rounds[r - 1];
    EXPECT_THAT(line, StartsWith(absl::StrCat("round ", r < 10 ? " " : "", r,
                                              "/20  train loss ")));
    if (r % 5 == 0) {
      EXPECT_THAT(line, HasSubstr("test loss ")) << line;
      EXPECT_NE(AccuracyOf(line), "") << line;
    } else {
      EXPECT_THAT(line, Not(HasSubstr("test"))) << line;
    }
  }

  // The summary: its accuracy is the one of the last evaluation.
  const std::vector<std::string> final_lines =
      LinesStartingWith(run.out, "Final test accuracy: ");
  ASSERT_EQ(final_lines.size(), 1u) << run.out;
  EXPECT_THAT(final_lines[0],
              HasSubstr(absl::StrCat(AccuracyOf(rounds.back()), "%")));
  EXPECT_THAT(final_lines[0], EndsWith("after 20 of 20 rounds"));
  EXPECT_EQ(LinesStartingWith(run.out, "Time:").size(), 1u) << run.out;
  const std::vector<std::string> overhead =
      LinesStartingWith(run.out, "Runtime overhead");
  ASSERT_EQ(overhead.size(), 1u) << run.out;
  EXPECT_THAT(overhead[0], HasSubstr("the same 20 rounds"));
  EXPECT_THAT(overhead[0], HasSubstr("bit-identical"));
  EXPECT_THAT(run.out,
              HasSubstr(absl::StrCat("Wrote ", out.string(), "/metrics.csv")));

  // metrics.csv: a header and one row per round; the accuracy fields are
  // set on the evaluated rounds only, and training improved the model.
  const std::vector<std::vector<std::string>> csv =
      ReadCsv(out / "metrics.csv");
  ASSERT_EQ(csv.size(), 21u);
  EXPECT_EQ(absl::StrJoin(csv[0], ","), kCsvHeader);
  std::vector<double> accuracies;
  for (int r = 1; r <= 20; ++r) {
    const std::vector<std::string>& row = csv[r];
    ASSERT_EQ(row.size(), 7u) << absl::StrJoin(row, ",");
    EXPECT_EQ(row[0], absl::StrCat(r));
    double train_loss = 0;
    EXPECT_TRUE(absl::SimpleAtod(row[1], &train_loss)) << row[1];
    EXPECT_GT(train_loss, 0);
    if (r % 5 == 0) {
      double accuracy = -1;
      ASSERT_TRUE(absl::SimpleAtod(row[3], &accuracy)) << "round " << r;
      EXPECT_GE(accuracy, 0);
      EXPECT_LE(accuracy, 1);
      accuracies.push_back(accuracy);
    } else {
      EXPECT_EQ(row[2], "") << "round " << r;
      EXPECT_EQ(row[3], "") << "round " << r;
    }
  }
  ASSERT_EQ(accuracies.size(), 4u);
  EXPECT_GT(accuracies.back(), accuracies.front());
  // The file and the progress line agree (both rounded to 0.01%).
  char percent[32];
  std::snprintf(percent, sizeof(percent), "%.2f", 100.0 * accuracies.back());
  EXPECT_EQ(AccuracyOf(rounds.back()), percent);

  const std::string svg = ReadFile(out / "plot.svg");
  EXPECT_THAT(svg, StartsWith("<svg"));
  EXPECT_THAT(svg, EndsWith("</svg>\n"));
  // Only the two outputs: no temporary file left behind.
  EXPECT_EQ(Entries(out),
            (std::vector<std::string>{"metrics.csv", "plot.svg"}));
}

TEST_F(DemoCommandTest, NoCompareLeavesOutTheOverheadLine) {
  RunResult run =
      Fedexec(absl::StrCat("demo fedavg ", kSmallRun, " --no-compare"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(LinesStartingWith(run.out, "round ").size(), 5u);
  EXPECT_EQ(LinesStartingWith(run.out, "Final test accuracy").size(), 1u);
  EXPECT_THAT(run.out, Not(HasSubstr("Runtime overhead")));
  EXPECT_THAT(run.out, Not(HasSubstr("Replaying")));
  EXPECT_THAT(run.out, Not(HasSubstr("Wrote "))) << "no --out";
}

TEST_F(DemoCommandTest, SameMetricsWithAnyThreadCount) {
  // The model is a function of the options other than --threads.
  std::vector<std::vector<std::vector<std::string>>> tables;
  for (int threads : {1, 2}) {
    const fs::path out = tmp_ / absl::StrCat("out", threads);
    RunResult run = Fedexec(absl::StrCat(
        "demo fedavg --population 200 --cohort 8 --rounds 6 --eval-every 3 "
        "--no-compare --threads ",
        threads, " --out '", out.string(), "'"));
    ASSERT_EQ(run.exit_code, 0) << run.err;
    std::vector<std::vector<std::string>> csv = ReadCsv(out / "metrics.csv");
    ASSERT_EQ(csv.size(), 7u);
    for (auto& row : csv) row.resize(4);  // drop the timings
    tables.push_back(std::move(csv));
  }
  EXPECT_EQ(tables[0], tables[1]);
}

TEST_F(DemoCommandTest, PartitionsIidAndShards) {
  RunResult iid =
      Fedexec(absl::StrCat("demo fedavg ", kSmallRun, " --partition iid"));
  EXPECT_EQ(iid.exit_code, 0) << iid.err;
  EXPECT_THAT(iid.out, HasSubstr("over 100 clients (iid: 600 to 600 examples"));
  EXPECT_EQ(LinesStartingWith(iid.out, "round ").size(), 5u);
  EXPECT_THAT(iid.out, HasSubstr("(IID; "));
  EXPECT_THAT(iid.out, HasSubstr("bit-identical"));

  RunResult shards = Fedexec(absl::StrCat(
      "demo fedavg ", kSmallRun, " --partition shards --shards-per-client 2"));
  EXPECT_EQ(shards.exit_code, 0) << shards.err;
  EXPECT_THAT(shards.out, HasSubstr("over 100 clients (shards: "));
  EXPECT_THAT(shards.out, HasSubstr("(2 label shards each; "));
  EXPECT_EQ(LinesStartingWith(shards.out, "round ").size(), 5u);
  EXPECT_THAT(shards.out, HasSubstr("bit-identical"));
}

TEST_F(DemoCommandTest, MlpTrains) {
  RunResult run = Fedexec(
      "demo fedavg --model mlp --population 100 --cohort 3 --rounds 2 "
      "--threads 2");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("a multi-layer perceptron"));
  EXPECT_EQ(LinesStartingWith(run.out, "round ").size(), 2u);
  EXPECT_THAT(run.out, HasSubstr("bit-identical"));
}

TEST_F(DemoCommandTest, PrintComputationPrintsACheckableComputation) {
  const fs::path out = tmp_ / "out";
  for (const char* model : {"logreg", "mlp"}) {
    SCOPED_TRACE(model);
    RunResult run =
        Fedexec(absl::StrCat("demo fedavg --print-computation ", "--model ",
                             model, " --out '", out.string(), "'"));
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(run.err, "");
    EXPECT_THAT(run.out, StartsWith("#"));
    EXPECT_THAT(run.out, HasSubstr("federated_weighted_mean"));
    EXPECT_THAT(run.out, HasSubstr(absl::StrCat(model, "_client_update")));
    // No training.
    EXPECT_THAT(run.out, Not(HasSubstr("Loading")));
    EXPECT_THAT(run.out, Not(HasSubstr("\nround ")));
    EXPECT_THAT(run.out, Not(HasSubstr("test accuracy")));
    EXPECT_FALSE(fs::exists(out)) << "--print-computation writes nothing";

    const fs::path file = tmp_ / absl::StrCat(model, ".fed");
    std::ofstream(file, std::ios::binary) << run.out;
    RunResult check = Fedexec("check '" + file.string() + "'");
    EXPECT_EQ(check.exit_code, 0) << check.err;
    EXPECT_THAT(check.out, StartsWith(file.string() + ": (<model="));
    // It is printed in canonical form.
    RunResult fmt = Fedexec("fmt '" + file.string() + "'");
    EXPECT_EQ(fmt.exit_code, 0) << fmt.err;
    EXPECT_EQ(fmt.out, run.out);
  }
  RunResult logreg = Fedexec("demo fedavg --print-computation");
  EXPECT_THAT(logreg.out, Not(HasSubstr("mlp_client_update")));
}

TEST_F(DemoCommandTest, BadFlagsExitWithTwoAndOneLineNamingTheFlag) {
  struct BadRun {
    std::string args;
    std::string flag;  // expected in the error line
    bool loads_data;   // fails only once the data set is read
  };
  const std::vector<BadRun> cases = {
      {"--cohort 0", "--cohort", false},
      {"--population 50 --cohort 51", "--cohort", false},
      {"--population 0", "--population", false},
      {"--population -5", "--population", false},
      {"--population 70000", "--population", true},
      {"--alpha 0", "--alpha", false},
      {"--alpha -1", "--alpha", false},
      {"--alpha nan", "--alpha", false},
      {"--rounds 0", "--rounds", false},
      {"--rounds -3", "--rounds", false},
      {"--rounds abc", "--rounds", false},
      {"--epochs 0", "--epochs", false},
      {"--batch-size 0", "--batch-size", false},
      {"--client-lr -1", "--client-lr", false},
      {"--client-lr inf", "--client-lr", false},
      {"--server-lr nan", "--server-lr", false},
      {"--threads -1", "--threads", false},
      {"--threads 100000", "--threads", false},
      {"--eval-every 0", "--eval-every", false},
      {"--model foo", "--model", false},
      {"--partition foo", "--partition", false},
      {"--partition shards --shards-per-client 0", "--shards-per-client",
       false},
      {"--partition shards --shards-per-client 100", "--shards-per-client",
       true},
      {"--data-dir ''", "--data-dir", false},
      {"--no-such-flag", "--no-such-flag", false},
  };
  const fs::path out = tmp_ / "out";
  for (const BadRun& c : cases) {
    SCOPED_TRACE(c.args);
    RunResult run =
        Fedexec("demo fedavg " + c.args + " --out '" + out.string() + "'");
    EXPECT_EQ(run.exit_code, 2) << run.err;
    EXPECT_EQ(CountLines(run.err), 1) << run.err;
    EXPECT_THAT(run.err, StartsWith("fedexec: "));
    EXPECT_THAT(run.err, HasSubstr(c.flag));
    EXPECT_THAT(run.out, Not(HasSubstr("\nround ")));
    if (!c.loads_data) {
      EXPECT_EQ(run.out, "");
    }
    // KNOWN BUG (demo_command.cc): for the cases that fail only once the
    // data is loaded (--population 70000, --shards-per-client 100), --out is
    // created with an empty metrics.csv and plot.svg before the failure.
    EXPECT_FALSE(fs::exists(out)) << "a bad flag must write nothing";
    fs::remove_all(out);
  }
}

TEST_F(DemoCommandTest, MissingDataSetNamesTheDebianPackage) {
  const fs::path out = tmp_ / "out";
  RunResult run = Fedexec("demo fedavg --data-dir /nonexistent --out '" +
                          out.string() + "'");
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_EQ(CountLines(run.err), 1) << run.err;
  EXPECT_THAT(run.err, StartsWith("fedexec: "));
  EXPECT_THAT(run.err, HasSubstr("/nonexistent"));
  EXPECT_THAT(run.err, HasSubstr("dataset-fashion-mnist"));
  // KNOWN BUG (demo/fashion_mnist.cc): the message says "pass --data DIR",
  // a flag the program does not have; the flag is --data-dir.
  EXPECT_THAT(run.err, HasSubstr("--data-dir"));
  EXPECT_THAT(run.err, Not(HasSubstr("--data DIR")));
  EXPECT_THAT(run.out, Not(HasSubstr("\nround ")));
  // KNOWN BUG (demo_command.cc): --out is created with empty outputs
  // before the data set is found missing.
  EXPECT_FALSE(fs::exists(out)) << "a failed run must write nothing";
}

TEST_F(DemoCommandTest, OutOnARegularFileExitsWithTwoNamingOut) {
  const fs::path file = tmp_ / "taken";
  std::ofstream(file) << "keep me\n";
  RunResult run = Fedexec(
      absl::StrCat("demo fedavg ", kSmallRun, " --out '", file.string(), "'"));
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_EQ(CountLines(run.err), 1) << run.err;
  EXPECT_THAT(run.err, StartsWith("fedexec: --out"));
  EXPECT_THAT(run.err, HasSubstr(file.string()));
  EXPECT_THAT(run.out, Not(HasSubstr("round "))) << "fails before training";
  EXPECT_EQ(ReadFile(file), "keep me\n");
  EXPECT_EQ(Entries(tmp_), std::vector<std::string>{"taken"});

  // A directory below a regular file cannot be created.
  run = Fedexec(absl::StrCat("demo fedavg ", kSmallRun, " --out '",
                             (file / "sub").string(), "'"));
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_EQ(CountLines(run.err), 1) << run.err;
  EXPECT_THAT(run.err, HasSubstr((file / "sub").string()));
  EXPECT_THAT(run.out, Not(HasSubstr("round ")));
  EXPECT_EQ(ReadFile(file), "keep me\n");
}

// Whether `text` has a whole line (ended by '\n') starting with "round "
// after the first line.
bool HasRoundLine(const std::string& text) {
  const size_t at = text.find("\nround ");
  return at != std::string::npos &&
         text.find('\n', at + 1) != std::string::npos;
}

TEST_F(DemoCommandTest, InterruptWritesTheCompletedRoundsAndExitsWith130) {
  const fs::path out_dir = tmp_ / "out";
  const fs::path out = tmp_ / "stdout", err = tmp_ / "stderr";
  const pid_t pid =
      SpawnRedirected({binary_, "demo", "fedavg", "--rounds", "100000",
                       "--threads", "2", "--out", out_dir.string()},
                      out.string(), err.string());
  ASSERT_GE(pid, 0);
  // Wait for a progress line: by then the program blocks the signal and
  // leaves it to its watcher.
  int status = 0;
  WaitOutcome outcome = PollChild(
      pid, 60000, [&] { return HasRoundLine(ReadFile(out)); }, &status);
  ASSERT_NE(outcome, WaitOutcome::kExited) << "exited early: " << ReadFile(err);
  if (outcome == WaitOutcome::kTimedOut) {
    KillChild(pid);
    FAIL() << "no progress line within a minute: " << ReadFile(out);
  }
  kill(pid, SIGINT);
  outcome = PollChild(pid, 60000, nullptr, &status);
  if (outcome != WaitOutcome::kExited) {
    KillChild(pid);
    FAIL() << "not stopped within a minute of SIGINT";
  }
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_EQ(ReadFile(err), "fedexec: interrupted\n");

  const std::string stdout_text = ReadFile(out);
  const size_t done = LinesStartingWith(stdout_text, "round ").size();
  ASSERT_GE(done, 1u);
  EXPECT_THAT(stdout_text,
              HasSubstr(absl::StrCat("Interrupted; test accuracy: ")));
  EXPECT_THAT(stdout_text,
              HasSubstr(absl::StrCat("after ", done, " of 100000 rounds")));
  EXPECT_THAT(stdout_text, Not(HasSubstr("Final test accuracy")));
  EXPECT_THAT(stdout_text, Not(HasSubstr("Runtime overhead")));

  // The outputs hold exactly the completed rounds; the last one carries
  // the evaluation of the final model.
  const std::vector<std::vector<std::string>> csv =
      ReadCsv(out_dir / "metrics.csv");
  ASSERT_EQ(csv.size(), done + 1) << "header + one row per progress line";
  EXPECT_EQ(absl::StrJoin(csv[0], ","), kCsvHeader);
  for (size_t r = 1; r < csv.size(); ++r) {
    EXPECT_EQ(csv[r][0], absl::StrCat(r));
  }
  double accuracy = -1;
  EXPECT_TRUE(absl::SimpleAtod(csv.back()[3], &accuracy))
      << absl::StrJoin(csv.back(), ",");
  EXPECT_GT(accuracy, 0);
  EXPECT_THAT(ReadFile(out_dir / "plot.svg"), StartsWith("<svg"));
}

// --------------------------------------------------------------- analytics

// The output of `demo analytics` without its Time line.
std::string WithoutTime(const std::string& text) {
  std::string kept;
  for (const std::string& line : SplitLines(text)) {
    if (!absl::StartsWith(line, "Time:")) absl::StrAppend(&kept, line, "\n");
  }
  return kept;
}

TEST_F(DemoCommandTest, AnalyticsPrintsTheAggregates) {
  RunResult run = Fedexec("demo analytics --clients 1000 --seed 3");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.err, "");
  EXPECT_THAT(run.out,
              StartsWith("Federated analytics over 1000 clients (seed 3, "));

  // "  mean M   min A   max B" with A <= M <= B.
  const std::vector<std::string> stats = LinesStartingWith(run.out, "  mean ");
  ASSERT_EQ(stats.size(), 1u) << run.out;
  std::vector<std::string> words =
      absl::StrSplit(stats[0], ' ', absl::SkipEmpty());
  ASSERT_EQ(words.size(), 6u) << stats[0];
  EXPECT_EQ(words[0], "mean");
  EXPECT_EQ(words[2], "min");
  EXPECT_EQ(words[4], "max");
  double mean = 0, min = 0, max = 0;
  ASSERT_TRUE(absl::SimpleAtod(words[1], &mean));
  ASSERT_TRUE(absl::SimpleAtod(words[3], &min));
  ASSERT_TRUE(absl::SimpleAtod(words[5], &max));
  EXPECT_GT(min, 0);
  EXPECT_LE(min, mean);
  EXPECT_LE(mean, max);

  // The histogram: ten buckets "[a, b)" whose counts add up to the clients.
  EXPECT_THAT(run.out, HasSubstr("Histogram"));
  const std::vector<std::string> buckets = LinesStartingWith(run.out, "  [");
  ASSERT_EQ(buckets.size(), 10u) << run.out;
  EXPECT_THAT(buckets.back(), StartsWith("  [55, inf)"));
  int64_t total = 0;
  for (const std::string& line : buckets) {
    std::vector<std::string> parts =
        absl::StrSplit(line.substr(line.find(')') + 1), ' ', absl::SkipEmpty());
    ASSERT_GE(parts.size(), 2u) << line;
    int64_t n = -1;
    ASSERT_TRUE(absl::SimpleAtoi(parts[0], &n)) << line;
    EXPECT_GE(n, 0);
    total += n;
  }
  EXPECT_EQ(total, 1000);
  EXPECT_EQ(LinesStartingWith(run.out, "Time:").size(), 1u);
}

TEST_F(DemoCommandTest, AnalyticsIsDeterministic) {
  RunResult first = Fedexec("demo analytics --clients 1000 --seed 3");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string expected = WithoutTime(first.out);
  for (const char* threads : {"", " --threads 1", " --threads 3"}) {
    RunResult again = Fedexec(
        absl::StrCat("demo analytics --clients 1000 --seed 3", threads));
    EXPECT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(WithoutTime(again.out), expected) << threads;
  }
  // Another seed, other data.
  RunResult other = Fedexec("demo analytics --clients 1000 --seed 4");
  EXPECT_EQ(other.exit_code, 0) << other.err;
  EXPECT_NE(WithoutTime(other.out), expected);
}

TEST_F(DemoCommandTest, AnalyticsBadFlagsExitWithTwoNamingTheFlag) {
  struct BadRun {
    std::string args;
    std::string flag;
  };
  const std::vector<BadRun> cases = {
      {"--clients 0", "--clients"},        {"--clients -1", "--clients"},
      {"--clients 10000001", "--clients"}, {"--clients many", "--clients"},
      {"--threads -1", "--threads"},       {"--threads 100000", "--threads"},
  };
  for (const BadRun& c : cases) {
    SCOPED_TRACE(c.args);
    RunResult run = Fedexec("demo analytics " + c.args);
    EXPECT_EQ(run.exit_code, 2) << run.err;
    EXPECT_EQ(CountLines(run.err), 1) << run.err;
    EXPECT_THAT(run.err, StartsWith("fedexec: "));
    EXPECT_THAT(run.err, HasSubstr(c.flag));
    EXPECT_EQ(run.out, "");
  }
}

// -------------------------------------------------------------- demo, help

TEST_F(DemoCommandTest, DemoNeedsASubCommand) {
  for (const char* args : {"demo", "demo frobnicate"}) {
    SCOPED_TRACE(args);
    RunResult run = Fedexec(args);
    EXPECT_EQ(run.exit_code, 2) << run.err;
    EXPECT_EQ(CountLines(run.err), 1) << run.err;
    EXPECT_THAT(run.err, StartsWith("fedexec: "));
    EXPECT_EQ(run.out, "");
  }
}

TEST_F(DemoCommandTest, HelpListsTheSubCommandsAndFlags) {
  RunResult demo = Fedexec("demo --help");
  EXPECT_EQ(demo.exit_code, 0) << demo.err;
  EXPECT_THAT(demo.out, HasSubstr("fedavg"));
  EXPECT_THAT(demo.out, HasSubstr("analytics"));
  EXPECT_THAT(Fedexec("--help").out, HasSubstr("demo"));

  RunResult fedavg = Fedexec("demo fedavg --help");
  EXPECT_EQ(fedavg.exit_code, 0) << fedavg.err;
  EXPECT_THAT(fedavg.out, HasSubstr("Usage"));
  EXPECT_THAT(fedavg.out, HasSubstr("dataset-fashion-mnist"));
  for (const char* flag :
       {"--population", "--partition", "--alpha", "--shards-per-client",
        "--cohort", "--rounds", "--epochs", "--batch-size", "--client-lr",
        "--server-lr", "--model", "--seed", "--threads", "--eval-every",
        "--data-dir", "--out", "--print-computation", "--no-compare"}) {
    EXPECT_THAT(fedavg.out, HasSubstr(flag)) << flag;
  }
  EXPECT_THAT(fedavg.out, Not(HasSubstr("Loading"))) << "help trains nothing";

  RunResult analytics = Fedexec("demo analytics --help");
  EXPECT_EQ(analytics.exit_code, 0) << analytics.err;
  for (const char* flag : {"--clients", "--seed", "--threads"}) {
    EXPECT_THAT(analytics.out, HasSubstr(flag)) << flag;
  }
}

}  // namespace
