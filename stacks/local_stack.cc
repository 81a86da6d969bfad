#include "stacks/local_stack.h"

#include <utility>

#include "executors/federating_executor.h"
#include "executors/leaf_executor.h"
#include "executors/reference_resolving_executor.h"
#include "executors/sequence_executor.h"

namespace fedexec::stacks {
namespace {

// ReferenceResolving > Sequence > Leaf: what runs at one placement.
std::shared_ptr<exec::LocalExecutor> PlacementStack(
    const std::shared_ptr<exec::ExecutionContext>& context) {
  auto leaf =
      std::make_shared<exec::LeafExecutor>(context, exec::DefaultRuntimes());
  auto sequence =
      std::make_shared<exec::SequenceExecutor>(context, std::move(leaf));
  return std::make_shared<exec::ReferenceResolvingExecutor>(
      context, std::move(sequence));
}

}  // namespace

std::shared_ptr<exec::LocalExecutor> CreateLocalStack(
    std::shared_ptr<exec::ExecutionContext> context, int64_t num_clients) {
  auto federating = std::make_shared<exec::FederatingExecutor>(
      context, num_clients, PlacementStack(context), PlacementStack(context));
  return std::make_shared<exec::ReferenceResolvingExecutor>(
      context, std::move(federating));
}

}  // namespace fedexec::stacks
