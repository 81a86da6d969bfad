#include "stacks/local_stack.h"

#include <utility>

#include "core/status.h"
#include "executors/composing_executor.h"
#include "executors/data_executor.h"
#include "executors/federating_executor.h"
#include "executors/leaf_executor.h"
#include "executors/reference_resolving_executor.h"
#include "executors/sequence_executor.h"
#include "stacks/default_runtimes.h"

namespace fedexec::stacks {
namespace {

// ReferenceResolving > Sequence > Data > Leaf: what runs unplaced, for the
// server and the clients alike.
std::shared_ptr<exec::LocalExecutor> PlacementStack(
    const std::shared_ptr<exec::ExecutionContext>& context,
    const std::shared_ptr<const exec::DataBackend>& data_backend) {
  auto leaf = std::make_shared<exec::LeafExecutor>(context, DefaultRuntimes());
  // Also without a backend: keyed data nodes become functions that resolve
  // where they are sent (executors/data_executor.h).
  auto data = std::make_shared<exec::DataExecutor>(context, std::move(leaf),
                                                   data_backend);
  auto sequence =
      std::make_shared<exec::SequenceExecutor>(context, std::move(data));
  return std::make_shared<exec::ReferenceResolvingExecutor>(
      context, std::move(sequence));
}

}  // namespace

std::shared_ptr<exec::LocalExecutor> CreateLocalStack(
    std::shared_ptr<exec::ExecutionContext> context, int64_t num_clients,
    std::shared_ptr<const exec::DataBackend> data_backend) {
  auto federating = std::make_shared<exec::FederatingExecutor>(
      context, num_clients, PlacementStack(context, data_backend));
  return std::make_shared<exec::ReferenceResolvingExecutor>(
      context, std::move(federating));
}

absl::StatusOr<std::shared_ptr<exec::LocalExecutor>> CreateComposingStack(
    std::shared_ptr<exec::ExecutionContext> context, int64_t num_clients,
    std::vector<exec::ClientShard> shards, exec::ComposingOptions options) {
  FEDEXEC_ASSIGN_OR_RETURN(
      std::shared_ptr<exec::ComposingExecutor> composing,
      exec::ComposingExecutor::Create(context, num_clients,
                                      PlacementStack(context, nullptr),
                                      std::move(shards), std::move(options)));
  return std::shared_ptr<exec::LocalExecutor>(
      std::make_shared<exec::ReferenceResolvingExecutor>(context,
                                                         std::move(composing)));
}

}  // namespace fedexec::stacks
