// `fedexec worker` processes and `--workers`, end to end with the real
// program: the FedAvg demo gives the same metrics, bit for bit, in-process
// and with 1, 2 and 3 workers; killing a worker mid-run changes nothing;
// killing them all gives a clear error, not a hang; bad worker flags exit
// with 2; SIGTERM drains and exits 0.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/sanitizers.h"
#include "testing/subprocess.h"
#include "testing/test_files.h"

namespace fedexec::cli {
namespace {

using ::fedexec::test_util::KillChild;
using ::fedexec::test_util::PollChild;
using ::fedexec::test_util::ProgramRun;
using ::fedexec::test_util::ProgramUnderTest;
using ::fedexec::test_util::ReadFile;
using ::fedexec::test_util::RunProgram;
using ::fedexec::test_util::SourceDir;
using ::fedexec::test_util::SpawnRedirected;
using ::fedexec::test_util::WaitOutcome;
using ::testing::HasSubstr;

const std::string& Program() {
  static const std::string program = ProgramUnderTest(FEDEXEC_BINARY_PATH);
  return program;
}

// Whether a TCP port on 127.0.0.1 can be bound now.
bool PortIsFree(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool free =
      bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return free;
}

// The lowest port of the kernel's ephemeral range (what binding port 0
// hands out): no other test's server (they bind port 0) takes a port below.
int EphemeralPortsStart() {
  int low = 32768;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  range >> low;
  return low;
}

// A port p such that p and p + 1 are free now and below the ephemeral
// range (0 if none was found).
int TwoFreePorts() {
  const int low = 10000;
  const int high = EphemeralPortsStart() - 1;
  if (high <= low) return 0;
  for (int i = 0; i < 2000; ++i) {
    const int p = low + (getpid() * 131 + i * 7919) % (high - low);
    if (PortIsFree(p) && PortIsFree(p + 1)) return p;
  }
  return 0;
}

bool HaveFashionMnist() {
  return std::filesystem::exists(
      "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
}

class DistributedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = std::filesystem::path(::testing::TempDir()) /
               absl::StrCat("distributed-", getpid(), "-", counter_++);
    std::filesystem::create_directories(scratch_);
  }
  void TearDown() override {
    for (const Worker& w : workers_) {
      if (w.pid > 0) KillChild(w.pid);
    }
    std::filesystem::remove_all(scratch_);
  }

  struct Worker {
    pid_t pid = -1;
    std::string address;
    std::string log;
  };

  // Starts `fedexec worker --port 0 EXTRA` and waits for its address.
  Worker StartWorker(std::vector<std::string> extra = {}) {
    Worker w;
    w.log =
        (scratch_ / absl::StrCat("worker-", workers_.size(), ".log")).string();
    std::vector<std::string> argv = {Program(), "worker", "--port", "0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    w.pid = SpawnRedirected(argv, w.log, w.log + ".err");
    int status = 0;
    const std::string marker = "listening on ";
    WaitOutcome outcome = PollChild(
        w.pid, 20000,
        [&] { return ReadFile(w.log).find(marker) != std::string::npos; },
        &status);
    EXPECT_EQ(outcome, WaitOutcome::kReady) << ReadFile(w.log + ".err");
    std::string line = ReadFile(w.log);
    line = line.substr(line.find(marker) + marker.size());
    w.address = line.substr(0, line.find_first_of(" \n"));
    workers_.push_back(w);
    return w;
  }

  std::string WorkerList(size_t first, size_t count) const {
    std::vector<std::string> addresses;
    for (size_t i = first; i < first + count; ++i) {
      addresses.push_back(workers_[i].address);
    }
    return absl::StrJoin(addresses, ",");
  }

  ProgramRun Run(const std::string& args) {
    return RunProgram(Program(), args, SourceDir(), scratch_);
  }

  // round, train_loss, test_loss, test_accuracy of metrics.csv (the model's
  // numbers, printed exactly; not the timings).
  static std::vector<std::string> ModelColumns(
      const std::filesystem::path& dir) {
    std::vector<std::string> rows;
    std::istringstream in(ReadFile(dir / "metrics.csv"));
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> fields = absl::StrSplit(line, ',');
      if (fields.size() < 4) continue;
      fields.resize(4);
      rows.push_back(absl::StrJoin(fields, ","));
    }
    return rows;
  }

  std::string FedAvgArgs(int rounds, const std::filesystem::path& out) const {
    return absl::StrCat("demo fedavg --rounds ", rounds,
                        " --eval-every 10 --no-compare --threads 2 --out '",
                        out.string(), "'");
  }

  // Rounds the demo printed as done in its progress lines.
  static int RoundsDone(const std::string& log) {
    const std::string text = ReadFile(log);
    int n = 0;
    for (size_t at = text.find("train loss"); at != std::string::npos;
         at = text.find("train loss", at + 1)) {
      ++n;
    }
    return n;
  }

  static inline int counter_ = 0;
  std::filesystem::path scratch_;
  std::vector<Worker> workers_;
};

// Rounds of the FedAvg runs: fewer where sanitizers slow every process.
constexpr int kRounds = test_util::kSanitized ? 10 : 30;

TEST_F(DistributedTest, FedAvgSameMetricsInProcessAndWithOneTwoThreeWorkers) {
  if (!HaveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist missing";
  for (int i = 0; i < 3; ++i) StartWorker({"--threads", "1"});
  const auto local = scratch_ / "local";
  ProgramRun run = Run(FedAvgArgs(kRounds, local));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::vector<std::string> expected = ModelColumns(local);
  ASSERT_EQ(expected.size(), kRounds + 1u);
  for (size_t n = 1; n <= 3; ++n) {
    const auto out = scratch_ / absl::StrCat("workers-", n);
    run = Run(absl::StrCat(FedAvgArgs(kRounds, out), " --workers ",
                           WorkerList(0, n)));
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(ModelColumns(out), expected) << n << " workers";
  }
}

TEST_F(DistributedTest, FedAvgWithTheClientsDataOnTheWorkers) {
  if (!HaveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist missing";
  const auto root = scratch_ / "data-root";
  std::filesystem::create_directories(root);
  ProgramRun exported =
      Run("demo fedavg --export-clients '" + root.string() + "'");
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_TRUE(
      std::filesystem::exists(
          root / "fedavg-fashion-mnist/dirichlet-alpha0.5-population1000-seed0/"
                 "999/x.npy"));
  for (int i = 0; i < 2; ++i) {
    StartWorker({"--threads", "1", "--data-root", root.string()});
  }
  const auto local = scratch_ / "local";
  ProgramRun run = Run(FedAvgArgs(kRounds, local));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto out = scratch_ / "on-workers";
  run = Run(absl::StrCat(FedAvgArgs(kRounds, out), " --workers ",
                         WorkerList(0, 2), " --data-on-workers"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(ModelColumns(out), ModelColumns(local));

  // Another split was not exported: the workers say which folder is
  // missing (bad input: exit 2).
  run =
      Run(absl::StrCat(FedAvgArgs(3, scratch_ / "other"), " --seed 1",
                       " --workers ", WorkerList(0, 2), " --data-on-workers"));
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_THAT(run.err, HasSubstr("dirichlet-alpha0.5-population1000-seed1"));
  EXPECT_THAT(run.err, HasSubstr("no file or directory"));
  EXPECT_THAT(run.err, HasSubstr("--export-clients ROOT"));
  // Workers without a data root cannot resolve the clients' data.
  StartWorker({"--threads", "1"});
  run = Run(absl::StrCat(FedAvgArgs(3, scratch_ / "no-root"), " --workers ",
                         WorkerList(2, 1), " --data-on-workers"));
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_THAT(run.err, HasSubstr("has no data root"));
  // --data-on-workers needs workers; an empty --export-clients is refused.
  run = Run("demo fedavg --rounds 1 --data-on-workers");
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_THAT(run.err, HasSubstr("--data-on-workers needs --workers"));
  run = Run("demo fedavg --export-clients ''");
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_THAT(run.err, HasSubstr("--export-clients"));
  run = Run("demo fedavg --export-clients /nonexistent/root");
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_THAT(run.err, HasSubstr("/nonexistent/root: not a directory"));
}

TEST_F(DistributedTest, KillingAWorkerMidRunGivesTheSameResult) {
  if (!HaveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist missing";
  for (int i = 0; i < 3; ++i) StartWorker({"--threads", "1"});
  const int rounds = test_util::kSanitized ? 60 : 300;
  const int kill_after = test_util::kSanitized ? 10 : 20;
  const auto local = scratch_ / "local";
  ProgramRun run = Run(FedAvgArgs(rounds, local));
  ASSERT_EQ(run.exit_code, 0) << run.err;

  const auto out = scratch_ / "killed";
  const std::string log = (scratch_ / "coordinator.log").string();
  std::vector<std::string> argv = {Program(),
                                   "demo",
                                   "fedavg",
                                   "--rounds",
                                   std::to_string(rounds),
                                   "--eval-every",
                                   "10",
                                   "--no-compare",
                                   "--threads",
                                   "2",
                                   "--out",
                                   out.string(),
                                   "--workers",
                                   WorkerList(0, 3),
                                   "--worker-timeout",
                                   "10"};
  const pid_t coordinator = SpawnRedirected(argv, log, log + ".err");
  int status = 0;
  // Once round 20 is done, kill worker 1 (the rounds run back to back:
  // the kill lands inside a round).
  ASSERT_EQ(PollChild(
                coordinator, 60000,
                [&] { return RoundsDone(log) >= kill_after; }, &status),
            WaitOutcome::kReady)
      << ReadFile(log + ".err");
  kill(workers_[1].pid, SIGKILL);
  ASSERT_EQ(PollChild(coordinator, 120000, nullptr, &status),
            WaitOutcome::kExited);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << ReadFile(log + ".err");
  EXPECT_EQ(ModelColumns(out), ModelColumns(local));
}

TEST_F(DistributedTest, KillingEveryWorkerGivesAClearErrorWithinTheDeadline) {
  if (!HaveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist missing";
  for (int i = 0; i < 2; ++i) StartWorker({"--threads", "1"});
  const std::string log = (scratch_ / "coordinator.log").string();
  std::vector<std::string> argv = {Program(),          "demo",
                                   "fedavg",           "--rounds",
                                   "100000",           "--no-compare",
                                   "--workers",        WorkerList(0, 2),
                                   "--worker-timeout", "3"};
  const pid_t coordinator = SpawnRedirected(argv, log, log + ".err");
  int status = 0;
  ASSERT_EQ(
      PollChild(
          coordinator, 60000, [&] { return RoundsDone(log) >= 5; }, &status),
      WaitOutcome::kReady);
  const auto start = std::chrono::steady_clock::now();
  for (Worker& w : workers_) {
    KillChild(w.pid);
    w.pid = -1;
  }
  ASSERT_EQ(PollChild(coordinator, 120000, nullptr, &status),
            WaitOutcome::kExited)
      << "the coordinator hangs";
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  const std::string err = ReadFile(log + ".err");
  EXPECT_THAT(err, HasSubstr("lost")) << err;
  // A few deadlines of 3 s, not a hang.
  EXPECT_LT(seconds, 60) << err;
}

TEST_F(DistributedTest, RunWithWorkersPrintsTheSameResult) {
  StartWorker();
  StartWorker({"--capacity", "2"});
  const std::string args =
      "run examples/zip_and_map.fed --arg "
      "'<a={[1.0,2.0,3.0],[1.0,1.0,1.0]}@CLIENTS,b={[2.0,2.0,2.0],"
      "[3.0,3.0,3.0]}@CLIENTS>'";
  ProgramRun local = Run(args);
  ASSERT_EQ(local.exit_code, 0) << local.err;
  ProgramRun remote = Run(args + " --workers " + WorkerList(0, 2));
  ASSERT_EQ(remote.exit_code, 0) << remote.err;
  EXPECT_EQ(remote.out, local.out);
  // The same through a worker file.
  const auto file = scratch_ / "workers.txt";
  std::ofstream(file) << "# two\n"
                      << workers_[0].address << "\n"
                      << workers_[1].address << " 3\n";
  ProgramRun listed = Run(args + " --workers-file '" + file.string() + "'");
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(listed.out, local.out);
}

TEST_F(DistributedTest, TokenRequiredByTheWorker) {
  const auto token = scratch_ / "token";
  std::ofstream(token) << "let-me-in\n";
  const auto wrong = scratch_ / "wrong";
  std::ofstream(wrong) << "guess\n";
  StartWorker({"--token-file", token.string()});
  const std::string args =
      "run examples/mean.fed --arg '{1.0, 2.0}@CLIENTS' "
      "--worker-timeout 5 --workers " +
      WorkerList(0, 1);
  ProgramRun none = Run(args);
  EXPECT_NE(none.exit_code, 0);
  EXPECT_THAT(none.err, HasSubstr("token"));
  ProgramRun bad = Run(args + " --token-file '" + wrong.string() + "'");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("token"));
  ProgramRun good = Run(args + " --token-file '" + token.string() + "'");
  EXPECT_EQ(good.exit_code, 0) << good.err;
  EXPECT_EQ(good.out, "1.5@SERVER\n");
  // The worker logged the refusals.
  EXPECT_THAT(ReadFile(workers_[0].log + ".err"), HasSubstr("token"));
}

TEST_F(DistributedTest, BadWorkerFlagsExitWithTwo) {
  struct Bad {
    std::string args;
    std::string says;
  };
  const std::vector<Bad> cases = {
      {"worker --port 70000", "--port"},
      {"worker", "--port"},
      {"worker --port 0 --capacity 0", "--capacity"},
      {"worker --port 0 --data-root /nonexistent/dir", "--data-root"},
      {"worker --port 0 --tls-cert /nonexistent.pem", "key"},
      {"worker --port 0 --token-file /nonexistent/token", "/nonexistent/token"},
      {"run examples/mean.fed --arg '{1.0}@CLIENTS' --workers nohost",
       "--workers"},
      {"run examples/mean.fed --arg '{1.0}@CLIENTS' --workers-file "
       "/nonexistent",
       "--workers-file"},
  };
  for (const Bad& b : cases) {
    ProgramRun run = Run(b.args);
    EXPECT_EQ(run.exit_code, 2) << b.args << "\n" << run.err;
    EXPECT_THAT(run.err, HasSubstr(b.says)) << b.args;
  }
}

TEST_F(DistributedTest, UnreachableWorkersExitWithOne) {
  // A port nobody listens on: below the ephemeral range, so that no other
  // test's server (they bind port 0) takes it meanwhile.
  const int port = TwoFreePorts();
  ASSERT_NE(port, 0);
  Worker w;
  w.address = absl::StrCat("127.0.0.1:", port);
  ProgramRun run =
      Run("run examples/mean.fed --arg '{1.0}@CLIENTS' "
          "--worker-timeout 1 --workers " +
          w.address);
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_THAT(run.err,
              HasSubstr("no worker answers (worker " + w.address +
                        ": no answer within 1s (is a fedexec worker serving "
                        "there?))"));
}

TEST_F(DistributedTest, PortInUseExitsWithOne) {
  Worker w = StartWorker();
  const std::string port = w.address.substr(w.address.rfind(':') + 1);
  ProgramRun run = Run("worker --port " + port);
  EXPECT_EQ(run.exit_code, 1) << run.err;
}

TEST_F(DistributedTest, LocalWorkersScriptStartsAndStopsWorkers) {
  const int first = TwoFreePorts();
  ASSERT_NE(first, 0);
  const std::string log = (scratch_ / "script.log").string();
  const pid_t script = SpawnRedirected(
      {"/bin/bash", (SourceDir() / "scripts/local_workers.sh").string(), "2",
       "--port", std::to_string(first), "--fedexec", Program(), "--",
       "--threads", "1"},
      log, log + ".err");
  int status = 0;
  const std::string expected =
      absl::StrCat("--workers 127.0.0.1:", first, ",127.0.0.1:", first + 1);
  ASSERT_EQ(
      PollChild(
          script, 30000,
          [&] { return ReadFile(log).find(expected) != std::string::npos; },
          &status),
      WaitOutcome::kReady)
      << ReadFile(log) << ReadFile(log + ".err");
  ProgramRun run =
      Run("run examples/mean.fed --arg '{1.0, 2.0, 6.0}@CLIENTS' " + expected);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "3.0@SERVER\n");
  // SIGTERM stops the script and its workers.
  kill(script, SIGTERM);
  ASSERT_EQ(PollChild(script, 30000, nullptr, &status), WaitOutcome::kExited);
  run = Run("run examples/mean.fed --arg '{1.0}@CLIENTS' --worker-timeout 1 " +
            expected);
  EXPECT_EQ(run.exit_code, 1) << run.err;
  // Bad arguments: exit 2.
  ProgramRun bad = RunProgram("bash", "scripts/local_workers.sh zero",
                              SourceDir(), scratch_);
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

TEST_F(DistributedTest, SigtermDrainsAndExitsZero) {
  Worker w = StartWorker();
  kill(w.pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(PollChild(w.pid, 20000, nullptr, &status), WaitOutcome::kExited);
  workers_.back().pid = -1;
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << ReadFile(w.log + ".err");
}

}  // namespace
}  // namespace fedexec::cli
