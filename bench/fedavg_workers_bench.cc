// The FedAvg demo over workers on loopback against in-process, with the
// same total thread count: in-process on T threads, and over W workers
// (`fedexec worker` processes started by this program) of T / W threads
// each, the coordinator's own threads mostly waiting on them. Runs
// alternate (in-process, then workers, per repetition); printed: the median
// training time of each side (rounds without evaluation) and their ratio.
// Exits 1 if the two ever end with different models. With
// --data-on-workers the clients' data are exported once into a temporary
// data root that the workers read (fedexec demo fedavg --data-on-workers),
// instead of travelling with every round.
//
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
//   build/bench/fedavg_workers_bench
//       [--workers 2] [--threads 2] [--repetitions 3] [--rounds 200]
//       [--model logreg|mlp] [--cohort 10] [--data-on-workers]
//       [--fedexec build/fedexec]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "demo/fedavg.h"
#include "stacks/remote_stack.h"

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Worker {
  pid_t pid = -1;
  std::string address;
};

// Starts `fedexec worker --port 0 --threads T`; its first line is its
// address.
Worker StartWorker(const std::string& fedexec, int threads, int index,
                   const std::string& data_root) {
  const std::string log =
      absl::StrCat("/tmp/fedavg_workers_bench.", getpid(), ".", index, ".log");
  Worker w;
  w.pid = fork();
  if (w.pid == 0) {
    freopen(log.c_str(), "w", stdout);
    const std::string t = std::to_string(threads);
    if (data_root.empty()) {
      execl(fedexec.c_str(), fedexec.c_str(), "worker", "--port", "0",
            "--threads", t.c_str(), static_cast<char*>(nullptr));
    } else {
      execl(fedexec.c_str(), fedexec.c_str(), "worker", "--port", "0",
            "--threads", t.c_str(), "--data-root", data_root.c_str(),
            static_cast<char*>(nullptr));
    }
    _exit(127);
  }
  const std::string marker = "listening on ";
  for (int i = 0; i < 2000; ++i) {
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    const std::string s = text.str();
    const size_t at = s.find(marker);
    if (at != std::string::npos && s.find('\n', at) != std::string::npos) {
      w.address = s.substr(
          at + marker.size(),
          s.find_first_of(" \n", at + marker.size()) - at - marker.size());
      std::remove(log.c_str());
      return w;
    }
    usleep(10000);
  }
  std::cerr << "worker " << index << " did not start (" << fedexec << ")\n";
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"FedAvg over loopback workers against in-process"};
  int workers = 2;
  int threads = 2;
  int repetitions = 3;
  int64_t rounds = 200;
  int64_t cohort = 10;
  std::string model = "logreg";
  std::string fedexec = "build/fedexec";
  bool data_on_workers = false;
  app.add_option("--workers", workers)->check(CLI::Range(1, 64));
  app.add_option("--threads", threads,
                 "Total threads: in-process, and split over the workers")
      ->check(CLI::Range(1, 256));
  app.add_option("--repetitions", repetitions)->check(CLI::PositiveNumber);
  app.add_option("--rounds", rounds)->check(CLI::PositiveNumber);
  app.add_option("--cohort", cohort)->check(CLI::PositiveNumber);
  app.add_option("--model", model)->check(CLI::IsMember({"logreg", "mlp"}));
  app.add_option("--fedexec", fedexec, "The fedexec program (for the workers)");
  app.add_flag("--data-on-workers", data_on_workers,
               "The workers read the clients' data from a data root");
  CLI11_PARSE(app, argc, argv);

  fedexec::demo::FedAvgOptions options;
  options.rounds = rounds;
  options.cohort = cohort;
  options.threads = threads;
  options.eval_every = rounds;  // once, at the end (not timed)
  options.model = model == "mlp" ? fedexec::demo::ModelKind::kMlp
                                 : fedexec::demo::ModelKind::kLogReg;

  std::string data_root;
  if (data_on_workers) {
    data_root = absl::StrCat("/tmp/fedavg_workers_bench.", getpid(), ".data");
    std::filesystem::create_directories(data_root);
    auto exporter = fedexec::demo::FedAvg::Create(options);
    absl::Status exported = exporter.ok()
                                ? (*exporter)->ExportClientData(data_root)
                                : exporter.status();
    if (!exported.ok()) {
      std::cerr << exported << "\n";
      return 1;
    }
  }
  const int per_worker = std::max(1, threads / workers);
  std::vector<Worker> started;
  std::vector<std::string> addresses;
  for (int i = 0; i < workers; ++i) {
    started.push_back(StartWorker(fedexec, per_worker, i, data_root));
    addresses.push_back(started.back().address);
  }
  const std::string list = absl::StrJoin(addresses, ",");

  fedexec::demo::FedAvgOptions remote = options;
  remote.data_on_workers = data_on_workers;
  remote.make_factory = [&] {
    auto specs = fedexec::stacks::ParseWorkerList(list);
    fedexec::stacks::RemoteStackOptions o;
    o.threads = threads;
    return fedexec::stacks::CreateRemoteFactory(*specs, o);
  };

  std::printf(
      "FedAvg %s, cohort %lld, %lld rounds: in-process on %d threads "
      "vs %d workers of %d thread(s) on loopback, client data %s\n",
      model.c_str(), static_cast<long long>(cohort),
      static_cast<long long>(rounds), threads, workers, per_worker,
      data_on_workers ? "on the workers" : "sent with each round");
  std::vector<double> local_s, remote_s;
  int status = 0;
  for (int r = 0; r < repetitions; ++r) {
    auto a = fedexec::demo::FedAvg::Create(options);
    auto b = fedexec::demo::FedAvg::Create(remote);
    if (!a.ok() || !b.ok()) {
      std::cerr << (a.ok() ? b.status() : a.status()) << "\n";
      status = 1;
      break;
    }
    auto ra = (*a)->Run();
    auto rb = (*b)->Run();
    if (!ra.ok() || !rb.ok()) {
      std::cerr << (ra.ok() ? rb.status() : ra.status()) << "\n";
      status = 1;
      break;
    }
    local_s.push_back(ra->train_seconds);
    remote_s.push_back(rb->train_seconds);
    const bool same = ra->model == rb->model;
    std::printf(
        "  repetition %d: in-process %.3f s, workers %.3f s (%.2fx)%s\n", r + 1,
        ra->train_seconds, rb->train_seconds,
        rb->train_seconds / ra->train_seconds, same ? "" : "  MODELS DIFFER");
    if (!same) status = 1;
  }
  if (!local_s.empty()) {
    std::printf(
        "median: in-process %.3f s (%.2f ms/round), workers %.3f s "
        "(%.2f ms/round): %.2fx\n",
        Median(local_s), 1e3 * Median(local_s) / rounds, Median(remote_s),
        1e3 * Median(remote_s) / rounds, Median(remote_s) / Median(local_s));
  }
  for (const Worker& w : started) {
    kill(w.pid, SIGTERM);
    waitpid(w.pid, nullptr, 0);
  }
  if (!data_root.empty()) std::filesystem::remove_all(data_root);
  return status;
}
