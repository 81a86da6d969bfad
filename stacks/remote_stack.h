// The remote execution stack: one computation over worker processes
// (`fedexec worker`, service/worker.h), reached over gRPC.
//
//   ReferenceResolvingExecutor               (this process)
//     ComposingExecutor(num_clients)         server-side work here
//       worker 1: RemoteExecutor             clients [0, a)
//       worker 2: RemoteExecutor             clients [a, b)
//       ...
//
// Clients are spread across the workers in proportion to each worker's
// capacity (what it declares with `fedexec worker --capacity N`, unless the
// list gives one), in shards of whole aggregation blocks, so results are
// bit-identical to an in-process run (executors/composing_executor.h). The
// stack for a number of clients is built when a computation with that many
// clients is called, and kept for the next calls.
//
// Foreign workers. A worker that serves only the plain executor protocol
// (TensorFlow Federated's worker_binary: it answers UNIMPLEMENTED to
// GetWorkerInfo) takes a share of 1 and is driven through that protocol
// alone (exec::WorkerProtocol::kPlain): arrays as typed lists, and its
// shard's aggregations folded here from its clients' values, by the same
// block tree (same bits, more traffic).
//
// Lost workers. A worker that dies or stops answering mid-computation has
// its shard re-run on the next worker that is alive (bounded: at most
// max_replacements per shard); a lost worker is left out of the stacks
// built afterwards. When no worker is left the call fails with UNAVAILABLE
// naming the workers and why, within the remote calls' deadlines
// (exec::RemoteOptions): never a hang.
//
// Thread-safety: the factory is thread-safe (ExecutorFactory).
#ifndef FEDEXEC_STACKS_REMOTE_STACK_H_
#define FEDEXEC_STACKS_REMOTE_STACK_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "executors/remote_executor.h"
#include "net/grpc_channel.h"
#include "stacks/executor_factory.h"

namespace fedexec::stacks {

struct WorkerSpec {
  std::string address;  // "host:port" (any gRPC target)
  // The share of clients; 0: what the worker declares.
  double capacity = 0;
};

// "host:port,host:port,..." (spaces around entries ignored). Errors
// (INVALID_ARGUMENT) name the entry: empty, no port, a port outside
// 1-65535, a duplicate.
absl::StatusOr<std::vector<WorkerSpec>> ParseWorkerList(std::string_view list);

// A file listing workers, one per line: "host:port" or "host:port
// capacity"; blank lines and lines starting with '#' are skipped. Errors
// name the file and line.
absl::StatusOr<std::vector<WorkerSpec>> ReadWorkerFile(const std::string& path);

struct RemoteStackOptions {
  // Threads of this process's pool (server-side work, waiting on workers);
  // 0: one per hardware thread.
  int threads = 0;
  int cache_size = 4;
  ChannelOptions channel;
  // Token, deadlines, retries, chunking (exec::RemoteOptions); `name` is
  // set per worker, and `protocol`, when it is kAsk, from each worker's
  // answer.
  exec::RemoteOptions remote;
  // How long to wait for each worker's answer when the factory is made.
  absl::Duration connect_timeout = absl::Seconds(10);
  int max_replacements = 3;
};

// A factory of remote stacks over `workers`. Asks every worker for its
// declared capacity first (in parallel, connect_timeout each); workers
// that do not answer are left out (with a warning in the log) and tried
// again only when all others are lost. Errors: INVALID_ARGUMENT for no
// workers or bad options; UNAVAILABLE when no worker answers (naming each
// and why); UNAUTHENTICATED when a worker refuses the token.
absl::StatusOr<std::unique_ptr<ExecutorFactory>> CreateRemoteFactory(
    std::vector<WorkerSpec> workers, RemoteStackOptions options = {});

}  // namespace fedexec::stacks

#endif  // FEDEXEC_STACKS_REMOTE_STACK_H_
