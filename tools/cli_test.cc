// The fedexec program as a user meets it: sub-commands, --help, --version,
// exit codes (0 ok, 2 bad input) and one-line errors on stderr. Runs the
// built binary as a child process.
#include <sys/wait.h>

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
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_files.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct RunResult {
  int exit_code;
  std::string out;
  std::string err;
};

using ::fedexec::test_util::ReadFile;
using ::fedexec::test_util::SourceDir;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // FEDEXEC_BINARY overrides the program the build made.
    const char* binary = std::getenv("FEDEXEC_BINARY");
    binary_ = binary ? binary : FEDEXEC_BINARY_PATH;
    tmp_ = fs::temp_directory_path() /
           absl::StrCat(
               "fedexec_cli_test_", getpid(), "_",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(tmp_);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  // Runs `fedexec ARGS` (ARGS is shell text) in the source directory.
  RunResult Fedexec(const std::string& args) {
    fs::path out = tmp_ / "stdout", err = tmp_ / "stderr";
    std::string command =
        absl::StrCat("cd '", SourceDir().string(), "' && '", binary_, "' ",
                     args, " >'", out.string(), "' 2>'", err.string(), "'");
    int status = std::system(command.c_str());
    RunResult run;
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.out = ReadFile(out);
    run.err = ReadFile(err);
    return run;
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

  for (const char* args : {"--help", "check --help", "fmt --help"}) {
    RunResult help = Fedexec(args);
    EXPECT_EQ(help.exit_code, 0) << args;
    EXPECT_THAT(help.out, HasSubstr("Usage")) << args;
  }
  EXPECT_THAT(Fedexec("--help").out, HasSubstr("--log-level"));
}

TEST_F(CliTest, BadFlagsExitWithTwoAndOneLine) {
  for (const char* args :
       {"", "frobnicate", "check", "--log-level=loud check x.fed",
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

}  // namespace
