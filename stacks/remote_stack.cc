// The remote stack (stacks/remote_stack.h): worker lists, one factory of
// RemoteExecutors per worker, and a composing factory over them.
#include "stacks/remote_stack.h"

#include <charconv>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/mutex.h"
#include "core/status.h"
#include "fedexec/v1/executor_stream.grpc.pb.h"
#include "glog/logging.h"
#include "grpcpp/grpcpp.h"
#include "stacks/composing_factory.h"

namespace fedexec::stacks {
namespace {

absl::Status CheckAddress(std::string_view entry) {
  if (entry.empty()) {
    return absl::InvalidArgumentError("empty worker address");
  }
  if (entry.substr(0, 5) == "unix:") return absl::OkStatus();
  const size_t colon = entry.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "worker address '", std::string(entry), "' must be host:port"));
  }
  std::string_view port = entry.substr(colon + 1);
  int value = 0;
  auto [end, ec] =
      std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value < 1 ||
      value > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker address '", std::string(entry), "': port '",
                     std::string(port), "' is not in 1-65535"));
  }
  return absl::OkStatus();
}

absl::Status CheckUnique(const std::vector<WorkerSpec>& workers) {
  std::set<std::string> seen;
  for (const WorkerSpec& w : workers) {
    if (!seen.insert(w.address).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("worker '", w.address, "' is listed twice"));
    }
  }
  return absl::OkStatus();
}

// RemoteExecutors of one worker, one per client count, made on demand and
// replaced once unusable.
class WorkerFactory : public ExecutorFactory {
 public:
  WorkerFactory(std::shared_ptr<grpc::Channel> channel,
                exec::RemoteOptions options)
      : channel_(std::move(channel)), options_(std::move(options)) {}

  absl::StatusOr<std::shared_ptr<Executor>> ExecutorFor(
      int64_t num_clients) override {
    {
      MutexLock lock(mu_);
      auto it = executors_.find(num_clients);
      if (it != executors_.end()) {
        if (it->second->health().ok()) return it->second;
        executors_.erase(it);
      }
    }
    FEDEXEC_ASSIGN_OR_RETURN(
        std::unique_ptr<exec::RemoteExecutor> made,
        exec::RemoteExecutor::Create(channel_, num_clients, options_));
    std::shared_ptr<exec::RemoteExecutor> executor = std::move(made);
    MutexLock lock(mu_);
    // A few client counts at a time (one per cohort size in use).
    if (executors_.size() >= 8) executors_.clear();
    executors_[num_clients] = executor;
    return std::shared_ptr<Executor>(executor);
  }

  void Release() override {
    MutexLock lock(mu_);
    executors_.clear();
  }

 private:
  const std::shared_ptr<grpc::Channel> channel_;
  const exec::RemoteOptions options_;
  Mutex mu_;
  std::map<int64_t, std::shared_ptr<exec::RemoteExecutor>> executors_
      FEDEXEC_GUARDED_BY(mu_);
};

// What the worker declares (GetWorkerInfo), within `timeout`, and whether
// it is a fedexec worker.
struct WorkerAnswer {
  fedexec::v1::WorkerInfo info;
  exec::WorkerProtocol protocol = exec::WorkerProtocol::kFedexec;
};

absl::StatusOr<WorkerAnswer> AskWorker(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& token,
    absl::Duration timeout) {
  auto stub = fedexec::v1::ExecutorStream::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  context.set_wait_for_ready(true);
  if (!token.empty()) {
    context.AddMetadata(kAuthorizationMetadataKey,
                        absl::StrCat(kBearerPrefix, token));
  }
  WorkerAnswer answer;
  grpc::Status status = stub->GetWorkerInfo(
      &context, fedexec::v1::GetWorkerInfoRequest(), &answer.info);
  if (status.ok()) return answer;
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    // A server of the plain protocol (TensorFlow Federated's worker, say):
    // capacity 1.
    WorkerAnswer plain;
    plain.info.set_capacity(1);
    plain.protocol = exec::WorkerProtocol::kPlain;
    return plain;
  }
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    // Nothing listens there, or it does not speak gRPC.
    return absl::DeadlineExceededError(
        absl::StrCat("no answer within ", absl::FormatDuration(timeout),
                     " (is a fedexec worker serving there?)"));
  }
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

}  // namespace

absl::StatusOr<std::vector<WorkerSpec>> ParseWorkerList(std::string_view list) {
  std::vector<WorkerSpec> workers;
  for (absl::string_view piece :
       absl::StrSplit(absl::string_view(list.data(), list.size()), ',')) {
    std::string entry(absl::StripAsciiWhitespace(piece));
    FEDEXEC_RETURN_IF_ERROR(CheckAddress(entry));
    workers.push_back(WorkerSpec{entry, 0});
  }
  FEDEXEC_RETURN_IF_ERROR(CheckUnique(workers));
  return workers;
}

absl::StatusOr<std::vector<WorkerSpec>> ReadWorkerFile(
    const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("worker file ", path, ": cannot be opened"));
  }
  std::vector<WorkerSpec> workers;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::string text(absl::StripAsciiWhitespace(line));
    if (text.empty() || text[0] == '#') continue;
    std::vector<std::string> fields =
        absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    const std::string where = absl::StrCat("worker file ", path, ":", number);
    if (fields.size() > 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected 'host:port [capacity]'"));
    }
    absl::Status s = CheckAddress(fields[0]);
    if (!s.ok())
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", s.message()));
    WorkerSpec spec{fields[0], 0};
    if (fields.size() == 2) {
      const char* b = fields[1].data();
      const char* e = b + fields[1].size();
      double capacity = 0;
      auto [end, ec] = std::from_chars(b, e, capacity);
      if (ec != std::errc() || end != e || !(capacity > 0)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": capacity '", fields[1], "' must be a positive number"));
      }
      spec.capacity = capacity;
    }
    workers.push_back(spec);
  }
  if (workers.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker file ", path, " lists no worker"));
  }
  FEDEXEC_RETURN_IF_ERROR(CheckUnique(workers));
  return workers;
}

absl::StatusOr<std::unique_ptr<ExecutorFactory>> CreateRemoteFactory(
    std::vector<WorkerSpec> workers, RemoteStackOptions options) {
  if (workers.empty()) {
    return absl::InvalidArgumentError("no workers given");
  }
  FEDEXEC_RETURN_IF_ERROR(CheckUnique(workers));
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (const WorkerSpec& w : workers) {
    FEDEXEC_RETURN_IF_ERROR(CheckAddress(w.address));
    FEDEXEC_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                             MakeChannel(w.address, options.channel));
    channels.push_back(std::move(channel));
  }
  // Ask every worker at once.
  std::vector<std::future<absl::StatusOr<WorkerAnswer>>> answers;
  for (size_t i = 0; i < workers.size(); ++i) {
    answers.push_back(std::async(std::launch::async, [&, i] {
      return AskWorker(channels[i], options.remote.token,
                       options.connect_timeout);
    }));
  }
  std::vector<ChildFactory> children;
  std::string unreachable;
  int reachable = 0;
  for (size_t i = 0; i < workers.size(); ++i) {
    absl::StatusOr<WorkerAnswer> info = answers[i].get();
    const std::string name = absl::StrCat("worker ", workers[i].address);
    if (!info.ok() &&
        info.status().code() == absl::StatusCode::kUnauthenticated) {
      return absl::UnauthenticatedError(
          absl::StrCat(name, " refused the token: ", info.status().message()));
    }
    double capacity = workers[i].capacity;
    if (info.ok()) {
      ++reachable;
      if (capacity <= 0) {
        capacity = info->info.capacity() > 0 ? info->info.capacity() : 1;
      }
    } else {
      LOG(WARNING) << name << " does not answer: " << info.status().message();
      absl::StrAppend(&unreachable, unreachable.empty() ? "" : "; ", name, ": ",
                      info.status().message());
      if (capacity <= 0) capacity = 1;
    }
    exec::RemoteOptions remote = options.remote;
    remote.name = workers[i].address;
    // Known now (unless the options say); a worker that did not answer is
    // asked when reached.
    if (remote.protocol == exec::WorkerProtocol::kAsk && info.ok()) {
      remote.protocol = info->protocol;
    }
    ChildFactory child;
    child.factory = std::make_shared<WorkerFactory>(channels[i], remote);
    child.capacity = capacity;
    child.name = name;
    child.lost = !info.ok();
    children.push_back(std::move(child));
  }
  if (reachable == 0) {
    return absl::UnavailableError(
        absl::StrCat("no worker answers (", unreachable, ")"));
  }
  LocalExecutorFactoryOptions local;
  local.threads = options.threads;
  local.cache_size = options.cache_size;
  return CreateComposingFactory(std::move(children), local,
                                options.max_replacements);
}

}  // namespace fedexec::stacks
