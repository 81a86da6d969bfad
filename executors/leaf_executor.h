// LeafExecutor: the bottom of an execution stack. It hands each leaf
// computation to the external runtime that declared the leaf's kind
// (runtimes/external_runtime.h: ExternalRuntime::kind() is the node kind's
// name, ir::NodeKindName: `native`, `torchscript`). It knows runtimes only
// through that interface: which ones a stack has is chosen where stacks are
// assembled (stacks/default_runtimes.h). Tensor literals become tensor
// values.
//
// Each leaf is compiled once when its node is embedded; the resulting
// function value is then called any number of times, from any thread.
//
// Thread-safety: as Executor; runtimes are fixed at construction.
#ifndef FEDEXEC_EXECUTORS_LEAF_EXECUTOR_H_
#define FEDEXEC_EXECUTORS_LEAF_EXECUTOR_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "executors/local_executor.h"
#include "runtimes/external_runtime.h"

namespace fedexec::exec {

class LeafExecutor : public LocalExecutor {
 public:
  // One runtime per leaf kind (ExternalRuntime::kind()); a later runtime of
  // the same kind replaces an earlier one.
  LeafExecutor(std::shared_ptr<ExecutionContext> context,
               std::vector<std::shared_ptr<const ExternalRuntime>> runtimes);

  // Literals, and leaves of a kind with a runtime. A leaf kind without a
  // runtime is INVALID_ARGUMENT naming the leaf ("torchscript leaf
  // 'model.pt'::forward: no torchscript runtime in this fedexec build").
  absl::StatusOr<Value> EmbedLeaf(const ir::NodePtr& node) override;

 private:
  std::map<std::string, std::shared_ptr<const ExternalRuntime>> runtimes_;
};

}  // namespace fedexec::exec

#endif  // FEDEXEC_EXECUTORS_LEAF_EXECUTOR_H_
