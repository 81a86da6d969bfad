// The local (in-process) execution stack:
//
//   ReferenceResolvingExecutor            lambdas, blocks, references, calls
//     FederatingExecutor(num_clients)     placements and intrinsics
//       server:  ReferenceResolving > Sequence > Leaf
//       clients: ReferenceResolving > Sequence > Leaf
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

#include "executors/function.h"
#include "executors/local_executor.h"

namespace fedexec::stacks {

// The top executor of a local stack for `num_clients` clients (>= 0).
std::shared_ptr<exec::LocalExecutor> CreateLocalStack(
    std::shared_ptr<exec::ExecutionContext> context, int64_t num_clients);

}  // namespace fedexec::stacks

#endif  // FEDEXEC_STACKS_LOCAL_STACK_H_
