// The fedexec program as a user meets it: sub-commands, --help, --version,
// exit codes (0 ok, 2 bad input, 130 interrupted) and one-line errors on
// stderr. Runs the built binary as a child process.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/subprocess.h"
#include "testing/test_files.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using RunResult = ::fedexec::test_util::ProgramRun;

using ::fedexec::test_util::BlocksSignal;
using ::fedexec::test_util::KillChild;
using ::fedexec::test_util::PollChild;
using ::fedexec::test_util::ReadFile;
using ::fedexec::test_util::SourceDir;
using ::fedexec::test_util::SpawnRedirected;
using ::fedexec::test_util::WaitOutcome;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = ::fedexec::test_util::ProgramUnderTest(FEDEXEC_BINARY_PATH);
    tmp_ = fs::temp_directory_path() /
           absl::StrCat(
               "fedexec_cli_test_", getpid(), "_",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(tmp_);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  // Runs `fedexec ARGS` (ARGS is shell text) in the source directory.
  RunResult Fedexec(const std::string& args) {
    return ::fedexec::test_util::RunProgram(binary_, args, SourceDir(), tmp_);
  }

  fs::path Write(const std::string& name, const std::string& contents) {
    fs::path path = tmp_ / name;
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  static int Lines(const std::string& text) {
    return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  }

  std::string binary_;
  fs::path tmp_;
};

TEST_F(CliTest, VersionAndHelp) {
  RunResult version = Fedexec("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, StartsWith("fedexec "));

  for (const char* args :
       {"--help", "check --help", "fmt --help", "run --help"}) {
    RunResult help = Fedexec(args);
    EXPECT_EQ(help.exit_code, 0) << args;
    EXPECT_THAT(help.out, HasSubstr("Usage")) << args;
  }
  EXPECT_THAT(Fedexec("--help").out, HasSubstr("--log-level"));
}

TEST_F(CliTest, GlobalFlagsGoBeforeOrAfterTheSubcommand) {
  for (const char* args : {"--log-level debug check examples/mean.fed",
                           "check --log-level debug examples/mean.fed",
                           "check examples/mean.fed --log-level=info"}) {
    RunResult run = Fedexec(args);
    EXPECT_EQ(run.exit_code, 0) << args << ": " << run.err;
  }
}

TEST_F(CliTest, BadFlagsExitWithTwoAndOneLine) {
  for (const char* args :
       {"", "frobnicate", "check", "--log-level=loud check x.fed",
        "check examples/mean.fed --log-level loud",
        "check --no-such-flag examples/mean.fed", "fmt"}) {
    RunResult run = Fedexec(args);
    EXPECT_EQ(run.exit_code, 2) << args;
    EXPECT_EQ(Lines(run.err), 1) << args << ": " << run.err;
    EXPECT_THAT(run.err, StartsWith("fedexec: ")) << args;
  }
}

TEST_F(CliTest, CheckPrintsEachSignature) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(SourceDir() / "examples")) {
    if (entry.path().extension() == ".fed") {
      files.push_back("examples/" + entry.path().filename().string());
    }
  }
  ASSERT_GE(files.size(), 10u);
  std::sort(files.begin(), files.end());
  RunResult run = Fedexec("check " + absl::StrJoin(files, " "));
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.err, "");
  std::vector<std::string> lines =
      absl::StrSplit(run.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_THAT(lines[i], StartsWith(files[i] + ": "));
  }
}

TEST_F(CliTest, CheckReadsEveryFormat) {
  RunResult run = Fedexec(
      "check testdata/compat/computations/apply_double.pb "
      "testdata/compat/computations/apply_double.textproto");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(
      run.out,
      "testdata/compat/computations/apply_double.pb: ( -> float32@SERVER)\n"
      "testdata/compat/computations/apply_double.textproto: ( -> "
      "float32@SERVER)\n");
}

TEST_F(CliTest, BadInputFilesExitWithTwoAndOneLineNamingTheFile) {
  struct BadFile {
    std::string name;
    std::string contents;
  };
  std::vector<BadFile> files = {
      {"unknown_ref.fed", "(x: float32) -> y\n"},
      {"type_error.fed", "(x: float32@SERVER) -> federated_sum(x)\n"},
      {"garbage.pb", "\xff\xff\xff\xff\x01\x02 not a proto"},
      {"deep.textproto", std::string(30000, '{')},
      {"bad_utf8.fed", "\xc3\x28\n"},
      {"tf_leaf.textproto", "tensorflow { initialize_op: \"x\" }"},
      {"wrong.extension", "1\n"},
  };
  for (const BadFile& f : files) {
    fs::path path = Write(f.name, f.contents);
    RunResult run = Fedexec("check '" + path.string() + "'");
    EXPECT_EQ(run.exit_code, 2) << f.name << ": " << run.err;
    EXPECT_EQ(Lines(run.err), 1) << f.name << ": " << run.err;
    EXPECT_THAT(run.err, StartsWith("fedexec: " + path.string())) << f.name;
    EXPECT_EQ(run.out, "") << f.name;
  }
  RunResult missing = Fedexec("check no/such/file.fed");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("no/such/file.fed"));
}

TEST_F(CliTest, CheckGoesOnAfterABadFile) {
  fs::path bad = Write("bad.fed", "(x: float32) -> y\n");
  RunResult run = Fedexec("check '" + bad.string() + "' examples/mean.fed");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.out, StartsWith("examples/mean.fed: "));
  EXPECT_EQ(Lines(run.err), 1);
}

TEST_F(CliTest, FmtOfCanonicalExampleIsIdentity) {
  // Every example is canonical (ir/text_syntax_test.cc); fmt prints it as is.
  RunResult run = Fedexec("fmt examples/fedavg_round.fed");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, ReadFile(SourceDir() / "examples/fedavg_round.fed"));
}

TEST_F(CliTest, FmtConvertsBetweenFormats) {
  const std::string pb = "testdata/compat/computations/weighted_mean.pb";
  RunResult to_pb = Fedexec("fmt " + pb + " --to pb");
  EXPECT_EQ(to_pb.exit_code, 0) << to_pb.err;
  EXPECT_EQ(to_pb.out, ReadFile(SourceDir() / pb));

  RunResult to_text = Fedexec("fmt " + pb);
  ASSERT_EQ(to_text.exit_code, 0) << to_text.err;
  fs::path fed = Write("weighted_mean.fed", to_text.out);
  RunResult back = Fedexec("fmt '" + fed.string() + "' --to pb");
  EXPECT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(back.out, to_pb.out) << "text -> proto must give the same bytes";

  RunResult to_textproto = Fedexec("fmt '" + fed.string() + "' --to textproto");
  EXPECT_EQ(to_textproto.exit_code, 0);
  fs::path tp = Write("weighted_mean.textproto", to_textproto.out);
  RunResult checked = Fedexec("check '" + tp.string() + "'");
  EXPECT_EQ(checked.exit_code, 0) << checked.err;
  EXPECT_THAT(checked.out, HasSubstr("( -> float32@SERVER)"));

  EXPECT_EQ(Fedexec("fmt " + pb + " --to yaml").exit_code, 2);
}

TEST_F(CliTest, FmtWriteRewritesInPlace) {
  fs::path file = Write("messy.fed", "(x:float32)->   x  # keep me\n");
  RunResult run = Fedexec("fmt -w '" + file.string() + "'");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  std::string formatted = ReadFile(file);
  EXPECT_THAT(formatted, HasSubstr("keep me"));
  EXPECT_EQ(Fedexec("fmt '" + file.string() + "'").out, formatted);
}

// ------------------------------------------------------------------- run

TEST_F(CliTest, RunWithOneArgPrintsTheResult) {
  RunResult run =
      Fedexec("run examples/mean.fed --arg '{1.0, 2.0, 6.0}@CLIENTS'");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "3.0@SERVER\n");
  EXPECT_EQ(run.err, "");

  // Literals take the parameter's dtype; negative numbers are values.
  run = Fedexec("run examples/scoping.fed --arg -4");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "<-6, -4>\n");

  // One --arg binds a whole struct parameter.
  run = Fedexec(
      "run examples/generic_plus_structs.fed "
      "--arg '<a=<x=[1, 2], y=3>, b=<x=[10, 20], y=4>>'");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "<x=[11.0, 22.0], y=7>\n");
}

TEST_F(CliTest, RunWithSeveralArgsBindsTheStructElements) {
  RunResult run = Fedexec(
      "run examples/zip_and_map.fed --arg '{[1, 2, 3], [1, 1, 1]}@CLIENTS' "
      "--arg '{[2, 2, 2], [4, 5, 6]}@CLIENTS'");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "{[2.0, 4.0, 6.0], [4.0, 5.0, 6.0]}@CLIENTS\n");

  run = Fedexec(
      "run examples/generic_plus_structs.fed --arg '<x=[1, 2], y=3>' "
      "--arg='<x=[10, 20], y=4>'");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "<x=[11.0, 22.0], y=7>\n");
}

TEST_F(CliTest, RunWithoutParameterAndClients) {
  fs::path file =
      Write("twos.fed", "() -> federated_sum(federated_value_at_clients(2))\n");
  RunResult run = Fedexec("run '" + file.string() + "'");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "2@SERVER\n") << "one client by default";

  run = Fedexec("run '" + file.string() + "' --clients 4");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "8@SERVER\n");

  run = Fedexec("run '" + file.string() + "' --clients 0");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "0@SERVER\n");

  // The server's vector squared at each of 3 clients, summed.
  run = Fedexec(
      "run examples/map_all_equal.fed --clients 3 "
      "--arg '[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]@SERVER'");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out,
            "[3.0, 12.0, 27.0, 48.0, 75.0, 108.0, 147.0, 192.0, 243.0, "
            "300.0]@SERVER\n");
}

TEST_F(CliTest, RunGivesTheSameResultOnAnyThreadCount) {
  // 1,000 clients' values: the mean is folded as a tree over blocks of
  // clients, the same tree at every thread count.
  std::string values;
  for (int i = 0; i < 1000; ++i) {
    absl::StrAppend(&values, i > 0 ? ", " : "", 0.1 * i * i);
  }
  fs::path arg = Write("values.txt", "{" + values + "}@CLIENTS");
  std::string command =
      "run examples/mean.fed --arg \"$(cat '" + arg.string() + "')\"";
  RunResult one = Fedexec(command + " --threads 1");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_THAT(one.out, StartsWith("33283."));  // sum(0.1 i^2) / 1000
  for (int threads : {2, 3, 8}) {
    RunResult run = Fedexec(absl::StrCat(command, " --threads ", threads));
    EXPECT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(run.out, one.out) << threads << " threads";
  }
}

// A per-client result prints with one member per client, as its type
// {<int32,int32>}@CLIENTS says, even where the executors hold it as one
// all-equal member; in --out text files too.
TEST_F(CliTest, RunPrintsPerClientResultsWithOneMemberPerClient) {
  const fs::path file = Write(
      "zip.fed",
      "(x: int32@SERVER) -> <federated_zip_at_clients(federated_broadcast(x), "
      "federated_broadcast(x)), federated_broadcast(x)>\n");
  const std::string expected = "<{<7, 7>, <7, 7>, <7, 7>}@CLIENTS, 7@CLIENTS>";
  RunResult run =
      Fedexec("run '" + file.string() + "' --arg 7@SERVER --clients 3");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, expected + "\n");
  const fs::path out = tmp_ / "zip.txt";
  run = Fedexec("run '" + file.string() +
                "' --arg 7@SERVER --clients 3 "
                "--out '" +
                out.string() + "'");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(ReadFile(out), expected + "\n");
}

// `fedexec --log-level debug worker`: every call a line, every refused
// call a warning naming the method, the peer, the code and the message.
TEST_F(CliTest, TheWorkerLogsCallsAtDebugAndRefusalsAtWarning) {
  const fs::path token = Write("token", "s3cret\n");
  const std::string out = (tmp_ / "worker.out").string();
  const std::string err = (tmp_ / "worker.err").string();
  const pid_t pid =
      SpawnRedirected({binary_, "--log-level", "debug", "worker", "--port", "0",
                       "--token-file", token.string()},
                      out, err);
  ASSERT_GT(pid, 0);
  int status = 0;
  const std::string marker = "listening on ";
  ASSERT_EQ(PollChild(
                pid, 20000,
                [&] { return ReadFile(out).find(marker) != std::string::npos; },
                &status),
            WaitOutcome::kReady)
      << ReadFile(err);
  std::string address = ReadFile(out);
  address = address.substr(address.find(marker) + marker.size());
  address = address.substr(0, address.find_first_of(" \n"));

  RunResult run = Fedexec(
      "run examples/mean.fed --arg '{1.0, 2.0, 6.0}@CLIENTS' --workers " +
      address + " --token-file '" + token.string() + "'");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "3.0@SERVER\n");
  run = Fedexec("run examples/mean.fed --arg '{1.0}@CLIENTS' --workers " +
                address);
  EXPECT_NE(run.exit_code, 0);
  KillChild(pid);

  const std::string log = ReadFile(err);
  EXPECT_THAT(log, HasSubstr("GetExecutor from ipv4:127.0.0.1:"));
  EXPECT_THAT(log, HasSubstr(": OK"));
  EXPECT_THAT(log, HasSubstr("] refused GetWorkerInfo from ipv4:127.0.0.1:"));
  EXPECT_THAT(log, HasSubstr(": UNAUTHENTICATED: missing or invalid token"));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("s3cret")));
}

TEST_F(CliTest, RunOutWritesNpyOrText) {
  const std::string squares =
      "run examples/map_all_equal.fed --arg '[1, 2, 3, 4, 5, 6, 7, 8, 9, "
      "10]@SERVER'";
  fs::path npy = tmp_ / "squares.npy";
  RunResult run = Fedexec(squares + " --out '" + npy.string() + "'");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "");
  absl::StatusOr<fedexec::Tensor> tensor = fedexec::ReadNpyFile(npy.string());
  ASSERT_TRUE(tensor.ok()) << tensor.status();
  ASSERT_EQ(tensor->dtype(), fedexec::DType::kFloat32);
  ASSERT_EQ(tensor->shape(), std::vector<int64_t>{10});
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(tensor->data<float>()[i], static_cast<float>((i + 1) * (i + 1)));
  }

  // The .npy file is an argument too.
  run = Fedexec("run examples/map_all_equal.fed --arg '@" + npy.string() +
                "@SERVER'");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, StartsWith("[1.0, 16.0, 81.0, 256.0,"));

  fs::path text = tmp_ / "squares.txt";
  run = Fedexec(squares + " --out '" + text.string() + "'");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(ReadFile(text),
            "[1.0, 4.0, 9.0, 16.0, 25.0, 36.0, 49.0, 64.0, 81.0, "
            "100.0]@SERVER\n");

  // A plain tensor result.
  fs::path scalar = tmp_ / "scalar.npy";
  run = Fedexec("run examples/scoping.fed --arg 1 --out '" + scalar.string() +
                "'");
  EXPECT_EQ(run.exit_code, 2) << "a struct result";
  fs::path plain = Write("plain.fed", "(x: int32) -> generic_plus(x, x)\n");
  run = Fedexec("run '" + plain.string() + "' --arg 21 --out '" +
                scalar.string() + "'");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  tensor = fedexec::ReadNpyFile(scalar.string());
  ASSERT_TRUE(tensor.ok()) << tensor.status();
  EXPECT_EQ(tensor->rank(), 0);
  EXPECT_EQ(tensor->data<int32_t>()[0], 42);
}

TEST_F(CliTest, RunResolvesDataInTheDataRoot) {
  fs::create_directories(tmp_ / "root");
  std::vector<float> w = {1.5f, 2.5f, 3.5f};
  ASSERT_TRUE(fedexec::WriteNpyFile((tmp_ / "root" / "w.npy").string(),
                                    fedexec::Tensor::Vector<float>(w))
                  .ok());
  fs::path file = Write(
      "data.fed",
      "(x: float32[3]) -> generic_plus(x, data(\"w.npy\", float32[3]))\n");
  const std::string run = "run '" + file.string() + "' --arg '[1, 1, 1]'";
  RunResult good =
      Fedexec(run + " --data-root '" + (tmp_ / "root").string() + "'");
  EXPECT_EQ(good.exit_code, 0) << good.err;
  EXPECT_EQ(good.out, "[2.5, 3.5, 4.5]\n");
  struct Bad {
    std::string flags;
    std::string message;
  };
  for (const Bad& b : std::vector<Bad>{
           {"", "data 'w.npy': no data root here to resolve it"},
           {"--data-root '" + (tmp_ / "none").string() + "'",
            "--data-root: data root '"},
           {"--data-root '" + file.string() + "'", "is not a directory"},
           {"--data-root '" + (tmp_ / "root").string() +
                "' --workers 127.0.0.1:1",
            "--data-root applies to in-process runs"},
       }) {
    RunResult bad = Fedexec(run + " " + b.flags);
    EXPECT_EQ(bad.exit_code, 2) << b.flags << ": " << bad.err;
    EXPECT_EQ(Lines(bad.err), 1) << bad.err;
    EXPECT_THAT(bad.err, HasSubstr(b.message)) << b.flags;
  }
}

TEST_F(CliTest, RunBadInputExitsWithTwoAndOneLineNamingTheProblem) {
  fs::path no_param = Write(
      "no_param.fed", "() -> federated_sum(federated_value_at_clients(2))\n");
  struct BadRun {
    std::string args;
    std::string message;  // expected in the error line
  };
  const std::vector<BadRun> cases = {
      {"run examples/mean.fed --arg '{1.0, 2.0@CLIENTS'",
       "fedexec: --arg (x: {float32}@CLIENTS): 1:"},
      {"run examples/mean.fed --arg '1.0@SERVER'",
       "--arg (x: {float32}@CLIENTS): 1:1: expected {float32}@CLIENTS, found "
       "float32@SERVER"},
      {"run examples/generic_plus_structs.fed --arg '<x=[1, 2], y=3>' "
       "--arg '<x=[1, 2], y=3.5>'",
       "--arg 2 (p.b: <x=float32[2],y=int32>): 1:"},
      {"run examples/zip_and_map.fed --arg '{[1, 2, 3]}@CLIENTS' "
       "--arg '{[1, 2, 3]}@CLIENTS' --arg '{[1, 2, 3]}@CLIENTS'",
       "3 --arg given, but the parameter p "
       "(<a={float32[3]}@CLIENTS,b={float32[3]}@CLIENTS>) has 2 elements"},
      {"run examples/mean.fed --arg '{1.0}@CLIENTS' --arg '{2.0}@CLIENTS'",
       "2 --arg given, but the parameter x ({float32}@CLIENTS) is not a "
       "struct"},
      {"run examples/mean.fed",
       "missing --arg: examples/mean.fed takes an argument x: "
       "{float32}@CLIENTS"},
      {"run '" + no_param.string() + "' --arg 1",
       "takes no argument (its type is ( -> int32@SERVER)), given 1 --arg"},
      {"run examples/nested_structs.fed --arg '<a=<b=1, c=[2.0, 3.0]>, "
       "d=true>' --out x.npy",
       "--out x.npy needs a tensor result, got "
       "<int32,float32[2],c=float32[2],flag=bool,bool>"},
      {"run examples/zip_and_map.fed --arg '{[1, 2, 3]}@CLIENTS' "
       "--arg '{[1, 2, 3], [4, 5, 6]}@CLIENTS'",
       "argument a has 1 clients but b has 2"},
      {"run examples/mean.fed --arg '{1.0, 2.0}@CLIENTS' --clients 3",
       "the call is for 3 clients but the argument has per-client values "
       "for 2"},
      {"run examples/mean.fed --arg '@no/such/file.npy@CLIENTS'",
       "no/such/file.npy"},
      {"run examples/mean.fed --arg '{}@CLIENTS'",
       "federated_mean over zero clients"},
      {"run examples/mean.fed --arg '{1.0}@CLIENTS' --threads 0", "--threads"},
      {"run examples/mean.fed --arg '{1.0}@CLIENTS' --threads -2", "--threads"},
      {"run examples/mean.fed --arg '{1.0}@CLIENTS' --threads many",
       "--threads"},
      {"run examples/mean.fed --arg '{1.0}@CLIENTS' --clients=-1", "--clients"},
      {"run examples/mean.fed --arg '{1.0}@CLIENTS' --clients x", "--clients"},
      {"run no/such/file.fed", "no/such/file.fed"},
      {"run examples/mean.fed --arg 1 2", "2"},
      {"run", "file"},
  };
  for (const BadRun& c : cases) {
    RunResult run = Fedexec(c.args);
    EXPECT_EQ(run.exit_code, 2) << c.args << ": " << run.err;
    EXPECT_EQ(Lines(run.err), 1) << c.args << ": " << run.err;
    EXPECT_THAT(run.err, StartsWith("fedexec: ")) << c.args;
    EXPECT_THAT(run.err, HasSubstr(c.message)) << c.args;
    EXPECT_EQ(run.out, "") << c.args;
  }
}

TEST_F(CliTest, RunInterruptedExitsWith130) {
  fs::path file =
      Write("long.fed",
            ReadFile(SourceDir() / "testdata/computations/long_running.fed"));
  absl::StatusOr<fedexec::Tensor> m =
      fedexec::Tensor::Zeros(fedexec::DType::kFloat32, {64, 64});
  ASSERT_TRUE(m.ok());
  fs::path npy = tmp_ / "m.npy";
  ASSERT_TRUE(fedexec::WriteNpyFile(npy.string(), *m).ok());
  const std::string arg = "@" + npy.string() + "@SERVER";

  for (int signal : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(strsignal(signal));
    fs::path err = tmp_ / "stderr";
    const pid_t pid =
        SpawnRedirected({binary_, "run", file.string(), "--arg", arg,
                         "--clients", "100000000", "--threads", "2"},
                        "", err.string());
    ASSERT_GE(pid, 0);
    // Signals are blocked (and left to the watcher) once the computation is
    // about to start; before that a signal would just kill the program.
    int status = 0;
    WaitOutcome outcome = PollChild(
        pid, 60000, [&] { return BlocksSignal(pid, signal); }, &status);
    ASSERT_NE(outcome, WaitOutcome::kExited)
        << "exited early: " << ReadFile(err);
    usleep(200 * 1000);  // let the computation get going
    kill(pid, signal);
    // Cancellation is prompt.
    outcome = PollChild(pid, 60000, nullptr, &status);
    if (outcome != WaitOutcome::kExited) {
      KillChild(pid);
      FAIL() << "not stopped within a minute of the signal";
    }
    ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 130);
    EXPECT_EQ(ReadFile(err), "fedexec: interrupted\n");
  }
}

}  // namespace
