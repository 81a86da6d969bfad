#include "tools/cli.h"

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "google/protobuf/stubs/logging.h"
#include "ir/computation_file.h"
#include "ir/text_syntax.h"

namespace fedexec::cli {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitRuntimeError = 1;
constexpr int kExitBadInput = 2;

// Protobuf writes its own complaints to stderr; fedexec reports errors as one
// line of its own, so protobuf's messages go to the log (shown with
// --log-level=info or debug) instead.
void RouteProtobufLog(google::protobuf::LogLevel level, const char* filename,
                      int line, const std::string& message) {
  LOG(INFO) << "protobuf " << filename << ":" << line << ": " << message;
}

void SetUpLogging(const char* argv0, const std::string& level) {
  static bool initialised = false;
  if (!initialised) {
    google::InitGoogleLogging(argv0);
    initialised = true;
  }
  FLAGS_logtostderr = true;
  FLAGS_v = level == "debug" ? 1 : 0;
  if (level == "debug" || level == "info") {
    FLAGS_minloglevel = google::GLOG_INFO;
  } else if (level == "warning") {
    FLAGS_minloglevel = google::GLOG_WARNING;
  } else {
    FLAGS_minloglevel = google::GLOG_ERROR;
  }
  google::protobuf::SetLogHandler(&RouteProtobufLog);
}

// One line on stderr: errors never span lines, so scripts can grep them.
void PrintError(absl::string_view message) {
  std::string line(message);
  for (char& c : line) {
    if (c == '\n') c = ' ';
  }
  std::cerr << "fedexec: " << line << "\n";
}

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      return kExitBadInput;
    case absl::StatusCode::kCancelled:
      return 130;
    default:
      return kExitRuntimeError;
  }
}

int RunCheck(const std::vector<std::string>& files) {
  int exit_code = kExitOk;
  for (const std::string& file : files) {
    auto checked = ir::LoadCheckedComputation(file);
    if (!checked.ok()) {
      PrintError(checked.status().message());
      exit_code = std::max(exit_code, ExitCodeFor(checked.status()));
      continue;
    }
    std::cout << file << ": " << (*checked)->type()->ToString() << "\n";
  }
  return exit_code;
}

int RunFmt(const std::string& file, const std::string& to, bool write) {
  auto format = ir::FormatFromName(to);
  if (!format.ok()) {
    PrintError(format.status().message());
    return kExitBadInput;
  }
  std::string out;
  if (*format == ir::ComputationFormat::kText) {
    // Formatting needs only the syntax, not a well-typed computation.
    auto root = ir::LoadComputation(file);
    if (!root.ok()) {
      PrintError(root.status().message());
      return ExitCodeFor(root.status());
    }
    out = ir::PrintComputation(*root);
  } else {
    auto checked = ir::LoadCheckedComputation(file);
    if (!checked.ok()) {
      PrintError(checked.status().message());
      return ExitCodeFor(checked.status());
    }
    auto serialized = ir::SerializeComputation(*checked, *format);
    if (!serialized.ok()) {
      PrintError(serialized.status().message());
      return ExitCodeFor(serialized.status());
    }
    out = *std::move(serialized);
  }
  if (!write) {
    std::cout << out;
    return std::cout.good() ? kExitOk : kExitRuntimeError;
  }
  auto in_format = ir::FormatFromPath(file);
  if (!in_format.ok() || *in_format != *format) {
    PrintError(absl::StrCat("--write needs the output format (", to,
                            ") to be the file's own: ", file));
    return kExitBadInput;
  }
  std::ofstream f(file, std::ios::binary | std::ios::trunc);
  f << out;
  f.close();
  if (!f) {
    PrintError(absl::StrCat(file, ": cannot write"));
    return kExitRuntimeError;
  }
  return kExitOk;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{
      "fedexec runs federated computations: typed programs whose values live "
      "at SERVER and CLIENTS placements."};
  app.name("fedexec");
  app.set_version_flag("--version", std::string("fedexec ") + FEDEXEC_VERSION);
  std::string log_level = "warning";
  app.add_option("--log-level", log_level,
                 "Log verbosity: debug, info, warning or error")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}))
      ->capture_default_str();
  app.require_subcommand(1);

  CLI::App* check = app.add_subcommand(
      "check", "Type check computations and print each one's type signature");
  std::vector<std::string> check_files;
  check
      ->add_option("files", check_files,
                   "Computation files: .fed (text), .pb (binary proto) or "
                   ".textproto (proto text)")
      ->required();

  CLI::App* fmt = app.add_subcommand(
      "fmt", "Print a computation in canonical form (comments are kept)");
  std::string fmt_file;
  std::string fmt_to = "fed";
  bool fmt_write = false;
  fmt->add_option("file", fmt_file, "A .fed, .pb or .textproto file")
      ->required();
  fmt->add_option("--to", fmt_to,
                  "Output form: fed (text syntax), textproto or pb (binary); "
                  "the proto forms need a well-typed computation")
      ->capture_default_str();
  fmt->add_flag("-w,--write", fmt_write,
                "Rewrite the file in place instead of printing");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    PrintError(absl::StrCat(e.what(), " (see fedexec --help)"));
    return kExitBadInput;
  }
  SetUpLogging(argc > 0 ? argv[0] : "fedexec", log_level);

  if (check->parsed()) return RunCheck(check_files);
  if (fmt->parsed()) return RunFmt(fmt_file, fmt_to, fmt_write);
  return kExitBadInput;
}

}  // namespace fedexec::cli
