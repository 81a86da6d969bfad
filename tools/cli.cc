#include "tools/cli.h"

#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/npy.h"
#include "core/thread_pool.h"
#include "data/data_backend.h"
#include "glog/logging.h"
#include "google/protobuf/stubs/logging.h"
#include "ir/computation_file.h"
#include "ir/text_syntax.h"
#include "ir/value_syntax.h"
#include "runtimes/native/registry.h"
#include "stacks/runtime.h"
#include "tools/cli_common.h"
#include "tools/demo_command.h"
#include "tools/native_functions.h"
#include "tools/remote_flags.h"
#include "tools/worker_command.h"

namespace fedexec::cli {
namespace {

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

// ------------------------------------------------------------------- run

struct RunOptions {
  std::string file;
  std::vector<std::string> args;
  std::optional<int64_t> clients;
  std::optional<int> threads;
  std::string out;
  std::string data_root;
  RemoteFlags remote;
};

// "round" or "round.model" / "round[1]": the parameter element an --arg
// binds, for messages.
std::string ElementName(const std::string& parameter,
                        const ir::StructElementType& element, size_t index) {
  if (!element.name.empty()) return absl::StrCat(parameter, ".", element.name);
  return absl::StrCat(parameter, "[", index, "]");
}

// The computation's argument from the --arg texts: one binds the whole
// parameter, several bind the elements of a struct parameter in order.
absl::StatusOr<std::optional<Value>> ParseArguments(
    const RunOptions& options, const ir::NodePtr& computation) {
  const ir::Type& type = *computation->type();
  const ir::Type* parameter =
      type.kind() == ir::TypeKind::kFunction ? type.parameter() : nullptr;
  const size_t count = options.args.size();
  if (parameter == nullptr) {
    if (count == 0) return std::nullopt;
    return absl::InvalidArgumentError(
        absl::StrCat(options.file, " takes no argument (its type is ",
                     type.ToString(), "), given ", count, " --arg"));
  }
  std::string name = "the parameter";
  if (computation->Is<ir::LambdaNode>()) {
    name = computation->As<ir::LambdaNode>().parameter_name;
  }
  if (count == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing --arg: ", options.file, " takes an argument ",
                     name, ": ", parameter->ToString()));
  }
  if (count == 1) {
    absl::StatusOr<Value> value = ir::ParseValueAs(options.args[0], *parameter);
    if (!value.ok()) {
      return absl::Status(
          value.status().code(),
          absl::StrCat("--arg (", name, ": ", parameter->ToString(),
                       "): ", value.status().message()));
    }
    return std::optional<Value>(*std::move(value));
  }
  if (parameter->kind() != ir::TypeKind::kStruct) {
    return absl::InvalidArgumentError(absl::StrCat(
        count, " --arg given, but the parameter ", name, " (",
        parameter->ToString(), ") is not a struct: give one --arg"));
  }
  const std::vector<ir::StructElementType>& elements = parameter->elements();
  if (count != elements.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        count, " --arg given, but the parameter ", name, " (",
        parameter->ToString(), ") has ", elements.size(),
        " elements: give one --arg for the whole struct or one per element"));
  }
  std::vector<std::pair<std::string, Value>> values;
  values.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    absl::StatusOr<Value> value =
        ir::ParseValueAs(options.args[i], elements[i].type);
    if (!value.ok()) {
      return absl::Status(
          value.status().code(),
          absl::StrCat("--arg ", i + 1, " (", ElementName(name, elements[i], i),
                       ": ", elements[i].type.ToString(),
                       "): ", value.status().message()));
    }
    values.emplace_back(elements[i].name, *std::move(value));
  }
  return std::optional<Value>(Value::Struct(std::move(values)));
}

bool IsNpyPath(const std::string& path) { return absl::EndsWith(path, ".npy"); }

// The tensor an --out .npy file holds: the result itself, or the member of
// a SERVER-placed tensor.
std::optional<Tensor> NpyTensorOf(const Value& result) {
  if (result.is_tensor()) return result.tensor();
  if (result.is_federated() &&
      result.federated().placement == Placement::kServer &&
      result.federated().size() == 1) {
    absl::StatusOr<Value> member = result.federated().Member(0);
    if (member.ok() && member->is_tensor()) return member->tensor();
  }
  return std::nullopt;
}

bool IsTensorResultType(const ir::Type& type) {
  if (type.kind() == ir::TypeKind::kTensor) return true;
  return type.kind() == ir::TypeKind::kFederated &&
         type.placement() == Placement::kServer &&
         type.member().kind() == ir::TypeKind::kTensor;
}

int WriteResult(const RunOptions& options, const Value& result) {
  if (options.out.empty()) {
    std::cout << ir::PrintValue(result) << "\n";
    std::cout.flush();
    return std::cout.good() ? kExitOk : kExitRuntimeError;
  }
  if (IsNpyPath(options.out)) {
    std::optional<Tensor> tensor = NpyTensorOf(result);
    if (!tensor.has_value()) {
      PrintError(absl::StrCat("--out ", options.out,
                              " needs a tensor result, got ",
                              native::DescribeValue(result)));
      return kExitBadInput;
    }
    absl::Status written = WriteNpyFile(options.out, *tensor);
    if (!written.ok()) {
      PrintError(written.message());
      return written.code() == absl::StatusCode::kInvalidArgument
                 ? kExitBadInput
                 : kExitRuntimeError;
    }
    return kExitOk;
  }
  std::ofstream f(options.out, std::ios::binary | std::ios::trunc);
  f << ir::PrintValue(result) << "\n";
  f.close();
  if (!f) {
    PrintError(absl::StrCat(options.out, ": cannot write"));
    return kExitRuntimeError;
  }
  return kExitOk;
}

int RunRun(const RunOptions& options) {
  if (!options.data_root.empty() && options.remote.enabled()) {
    PrintError(
        "--data-root applies to in-process runs: with --workers, each worker "
        "resolves data in its own --data-root");
    return kExitBadInput;
  }
  auto computation = ir::LoadCheckedComputation(options.file);
  if (!computation.ok()) {
    PrintError(computation.status().message());
    return ExitCodeFor(computation.status());
  }
  const ir::Type& type = *(*computation)->type();
  const ir::Type& result_type =
      type.kind() == ir::TypeKind::kFunction ? type.result() : type;
  if (!options.out.empty() && IsNpyPath(options.out) &&
      !IsTensorResultType(result_type)) {
    PrintError(absl::StrCat("--out ", options.out,
                            " needs a tensor result, got ",
                            result_type.ToString()));
    return kExitBadInput;
  }
  absl::StatusOr<std::optional<Value>> argument =
      ParseArguments(options, *computation);
  if (!argument.ok()) {
    PrintError(argument.status().message());
    return ExitCodeFor(argument.status());
  }

  // Before the runtime starts its threads, so that they inherit the mask.
  InterruptWatcher::BlockInterrupts();
  absl::StatusOr<std::unique_ptr<stacks::Runtime>> runtime;
  if (options.remote.enabled()) {
    auto factory = options.remote.MakeFactory(options.threads.value_or(0));
    if (!factory.ok()) {
      PrintError(factory.status().message());
      return ExitCodeFor(factory.status());
    }
    runtime = stacks::Runtime::CreateWithFactory(*std::move(factory));
  } else {
    // The same native functions a worker offers (tools/native_functions.h).
    if (absl::Status s = RegisterNativeFunctions(); !s.ok()) {
      PrintError(s.message());
      return kExitRuntimeError;
    }
    stacks::RuntimeOptions runtime_options;
    runtime_options.threads = options.threads.value_or(0);
    if (!options.data_root.empty()) {
      auto backend = exec::FileBackend::Create(options.data_root);
      if (!backend.ok()) {
        PrintError(absl::StrCat("--data-root: ", backend.status().message()));
        return kExitBadInput;
      }
      runtime_options.data_backend = *std::move(backend);
    }
    runtime = stacks::Runtime::Create(runtime_options);
  }
  if (!runtime.ok()) {
    PrintError(runtime.status().message());
    return ExitCodeFor(runtime.status());
  }
  absl::StatusOr<Value> result;
  bool interrupted = false;
  {
    stacks::Runtime* r = runtime->get();
    InterruptWatcher watcher([r] { r->CancelRunning(); });
    stacks::Runtime::CallOptions call_options;
    call_options.num_clients = options.clients;
    result = r->Call(*computation, *std::move(argument), call_options);
    interrupted = watcher.interrupted();
  }
  if (interrupted) {
    PrintError("interrupted");
    return kExitInterrupted;
  }
  if (!result.ok()) {
    PrintError(result.status().message());
    return ExitCodeFor(result.status());
  }
  return WriteResult(options, *result);
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
  // Global options may also follow the sub-command
  // (`fedexec worker --log-level debug`).
  app.fallthrough();

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

  CLI::App* run = app.add_subcommand(
      "run", "Run a computation and print its result in the value syntax");
  RunOptions run_options;
  run->add_option("file", run_options.file, "A .fed, .pb or .textproto file")
      ->required();
  run->add_option("--arg", run_options.args,
                  "The argument, in the value syntax (docs/syntax.md); "
                  "repeat to give the elements of a struct parameter in "
                  "order. @file.npy reads a tensor")
      ->allow_extra_args(false)
      ->take_all();
  run->add_option("--clients", run_options.clients,
                  "Number of clients (default: the length of the argument's "
                  "per-client values, else 1)")
      ->check(CLI::NonNegativeNumber);
  run->add_option("--threads", run_options.threads,
                  "Worker threads (default: one per hardware thread)")
      ->check(CLI::Range(1, ThreadPool::kMaxThreads));
  run->add_option("--out", run_options.out,
                  "Write the result to this file instead of printing it: "
                  ".npy (a tensor result) or text (the value syntax)");

  run->add_option("--data-root", run_options.data_root,
                  "Resolve the computation's `data` URIs inside this "
                  "directory (in-process runs; workers resolve them in "
                  "their own --data-root)");
  run_options.remote.AddTo(run);

  DemoCommand demo(app);
  WorkerCommand worker(app);

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
  if (run->parsed()) return RunRun(run_options);
  if (demo.parsed()) return demo.Run();
  if (worker.parsed()) return worker.Run();
  return kExitBadInput;
}

}  // namespace fedexec::cli
