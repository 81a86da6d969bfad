// The local (in-process) execution stack:
//
//   ReferenceResolvingExecutor            lambdas, blocks, references, calls
//     FederatingExecutor(num_clients)     placements, federated_* and generic_*
//       ReferenceResolvingExecutor        what runs unplaced: lambdas, ...
//         SequenceExecutor                sequence_*
//           DataExecutor                  data nodes
//             LeafExecutor                native (and external) leaves
//
// One placement stack serves SERVER and CLIENTS alike: functions run
// themselves (executors/function.h), so the federating executor calls a
// function for a client or for the server in the same way.
//
// The data executor (executors/data_executor.h) resolves the computation's
// `data` nodes on this machine through `data_backend`. Without a backend a
// data node is an error, except a keyed one (of function type), which
// becomes a function that resolves its keys where it is called: on the
// workers, when the stack is a coordinator's.
//
// Every executor of the stack shares `context` (its thread pool and its
// cancellation token), and values pass between them as shared core Values:
// nothing is copied or serialized between layers.
//
// Thread-safety: the returned executor is thread-safe (Executor).
#ifndef FEDEXEC_STACKS_LOCAL_STACK_H_
#define FEDEXEC_STACKS_LOCAL_STACK_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "data/data_backend.h"
#include "executors/composing_executor.h"
#include "executors/function.h"
#include "executors/local_executor.h"

namespace fedexec::stacks {

// The top executor of a local stack for `num_clients` clients (>= 0);
// `data_backend` (may be null) resolves data nodes.
std::shared_ptr<exec::LocalExecutor> CreateLocalStack(
    std::shared_ptr<exec::ExecutionContext> context, int64_t num_clients,
    std::shared_ptr<const exec::DataBackend> data_backend = nullptr);

// The top executor of a composing stack for `num_clients` clients whose
// per-client work runs in `shards` (executors/composing_executor.h):
//
//   ReferenceResolvingExecutor
//     ComposingExecutor(num_clients, shards)  SERVER values, merging partials
//       child:   ReferenceResolving > Sequence > Data > Leaf (no backend)
//       shards:  the shards' executors (local stacks, remote workers, or
//                composing stacks again), which hold the clients' values
//
// INVALID_ARGUMENT when the shards do not tile the clients in whole
// blocks.
absl::StatusOr<std::shared_ptr<exec::LocalExecutor>> CreateComposingStack(
    std::shared_ptr<exec::ExecutionContext> context, int64_t num_clients,
    std::vector<exec::ClientShard> shards, exec::ComposingOptions options = {});

}  // namespace fedexec::stacks

#endif  // FEDEXEC_STACKS_LOCAL_STACK_H_
