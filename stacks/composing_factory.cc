// CreateComposingFactory (stacks/composing_factory.h).
#include "stacks/composing_factory.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "executors/composing_executor.h"
#include "executors/federating_executor.h"
#include "stacks/local_stack.h"

namespace fedexec::stacks {
namespace {

// The children and which of them were lost, shared by the factory's
// stacks (and their replacers).
struct Children {
  explicit Children(std::vector<ChildFactory> c)
      : children(std::move(c)), lost(children.size()) {
    for (size_t i = 0; i < children.size(); ++i) {
      lost[i].store(children[i].lost);
    }
  }

  std::vector<ChildFactory> children;
  std::vector<std::atomic<bool>> lost;

  // The children to plan a stack over: the ones not lost, or all of them
  // when every one was (they may be back).
  std::vector<size_t> Live() const {
    std::vector<size_t> live;
    for (size_t i = 0; i < children.size(); ++i) {
      if (!lost[i].load()) live.push_back(i);
    }
    if (live.empty()) {
      for (size_t i = 0; i < children.size(); ++i) live.push_back(i);
    }
    return live;
  }

  // Another child's executor for the clients of `shard`, whose child was
  // lost: the next child after it that is not lost and builds one.
  absl::StatusOr<exec::ClientShard> Replace(const exec::ClientShard& shard,
                                            const absl::Status& why) {
    size_t from = 0;
    for (size_t i = 0; i < children.size(); ++i) {
      if (children[i].name == shard.name) {
        lost[i].store(true);
        from = i;
      }
    }
    std::string tried;
    for (size_t step = 1; step <= children.size(); ++step) {
      const size_t i = (from + step) % children.size();
      if (lost[i].load()) continue;
      absl::StatusOr<std::shared_ptr<Executor>> executor =
          children[i].factory->ExecutorFor(shard.count);
      if (executor.ok()) {
        return exec::ClientShard{*std::move(executor), shard.first, shard.count,
                                 children[i].name};
      }
      lost[i].store(true);
      absl::StrAppend(&tried, tried.empty() ? "" : "; ", children[i].name, ": ",
                      executor.status().message());
    }
    return absl::UnavailableError(
        tried.empty() ? std::string("no live child left")
                      : absl::StrCat("no live child left (", tried, ")"));
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<ExecutorFactory>> CreateComposingFactory(
    std::vector<ChildFactory> children, LocalExecutorFactoryOptions options,
    int max_replacements, int64_t shard_alignment) {
  if (shard_alignment < 1 || shard_alignment > exec::kMaxAggregationBlockSize ||
      (shard_alignment & (shard_alignment - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "composing factory: shard alignment ", shard_alignment,
        " must be a power of two from 1 to ", exec::kMaxAggregationBlockSize));
  }
  if (children.empty()) {
    return absl::InvalidArgumentError(
        "a composing factory needs at least one child");
  }
  for (size_t i = 0; i < children.size(); ++i) {
    ChildFactory& child = children[i];
    if (child.name.empty()) child.name = absl::StrCat("shard ", i);
    if (child.factory == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("composing factory: ", child.name, " has no factory"));
    }
    if (!(child.capacity > 0) || !std::isfinite(child.capacity)) {
      return absl::InvalidArgumentError(
          absl::StrCat("composing factory: the capacity of ", child.name,
                       " must be positive, got ", child.capacity));
    }
  }
  auto shared = std::make_shared<Children>(std::move(children));
  StackBuilder builder = [shared, max_replacements, shard_alignment](
                             std::shared_ptr<exec::ExecutionContext> context,
                             int64_t num_clients)
      -> absl::StatusOr<std::shared_ptr<exec::LocalExecutor>> {
    const std::vector<size_t> live = shared->Live();
    std::vector<double> weights;
    for (size_t i : live) weights.push_back(shared->children[i].capacity);
    // Powers of two: the larger is a multiple of the smaller.
    const int64_t granularity =
        std::max(exec::AggregationBlockSize(num_clients), shard_alignment);
    FEDEXEC_ASSIGN_OR_RETURN(
        auto plan, exec::PlanShards(num_clients, weights, granularity));
    std::vector<exec::ClientShard> shards;
    for (size_t j = 0; j < live.size(); ++j) {
      const auto [first, count] = plan[j];
      if (count == 0) continue;
      const ChildFactory& child = shared->children[live[j]];
      absl::StatusOr<std::shared_ptr<Executor>> executor =
          child.factory->ExecutorFor(count);
      exec::ClientShard shard{nullptr, first, count, child.name};
      if (executor.ok()) {
        shard.executor = *std::move(executor);
      } else {
        // Another child takes these clients now, if one can.
        absl::StatusOr<exec::ClientShard> other =
            shared->Replace(shard, executor.status());
        if (!other.ok()) {
          return absl::Status(
              executor.status().code(),
              absl::StrCat(child.name, ": ", executor.status().message(), "; ",
                           other.status().message()));
        }
        shard = *std::move(other);
      }
      shards.push_back(std::move(shard));
    }
    exec::ComposingOptions composing;
    composing.max_replacements = max_replacements;
    composing.replace = [shared](const exec::ClientShard& lost,
                                 const absl::Status& why) {
      return shared->Replace(lost, why);
    };
    return CreateComposingStack(std::move(context), num_clients,
                                std::move(shards), std::move(composing));
  };
  FEDEXEC_ASSIGN_OR_RETURN(
      std::unique_ptr<LocalExecutorFactory> factory,
      LocalExecutorFactory::Create(options, std::move(builder)));
  return std::unique_ptr<ExecutorFactory>(std::move(factory));
}

}  // namespace fedexec::stacks
