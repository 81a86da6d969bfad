// LeafExecutor: leaves compiled by external runtimes.
#include "executors/leaf_executor.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace fedexec::exec {
namespace {

// A compiled leaf as a function value.
class LeafFunctionValue : public Function {
 public:
  LeafFunctionValue(std::shared_ptr<const LeafFunction> leaf, std::string what,
                    ir::NodePtr node)
      : Function(leaf->type()),
        leaf_(std::move(leaf)),
        what_(std::move(what)),
        node_(std::move(node)) {}

  // The leaf node it was compiled from: compiled again where it is sent.
  absl::StatusOr<ir::NodePtr> ToNode() const override { return node_; }

  absl::StatusOr<Value> Call(const Value* argument) const override {
    return leaf_->Call(argument != nullptr ? *argument : Value());
  }

 protected:
  std::string What() const override { return what_; }

 private:
  std::shared_ptr<const LeafFunction> leaf_;
  std::string what_;
  ir::NodePtr node_;
};

std::string LeafName(const ir::Node& node) {
  if (node.Is<ir::NativeNode>()) {
    return absl::StrCat("native '", node.As<ir::NativeNode>().name, "'");
  }
  if (node.Is<ir::TorchScriptNode>()) {
    const auto& t = node.As<ir::TorchScriptNode>();
    return absl::StrCat("torchscript '", t.module, "'::", t.method);
  }
  return ir::NodeKindName(node.kind());
}

}  // namespace

LeafExecutor::LeafExecutor(
    std::shared_ptr<ExecutionContext> context,
    std::vector<std::shared_ptr<const ExternalRuntime>> runtimes)
    : LocalExecutor(std::move(context), nullptr) {
  for (auto& runtime : runtimes) {
    std::string kind = runtime->kind();
    runtimes_[kind] = std::move(runtime);
  }
}

absl::StatusOr<Value> LeafExecutor::EmbedLeaf(const ir::NodePtr& node) {
  switch (node->kind()) {
    case ir::NodeKind::kLiteral:
      return Value(node->As<ir::LiteralNode>().value);
    case ir::NodeKind::kNative:
    case ir::NodeKind::kTorchScript: {
      // The runtime that declared this leaf's kind (ExternalRuntime::kind()
      // is the node kind's name in the text syntax).
      const std::string kind = ir::NodeKindName(node->kind());
      auto it = runtimes_.find(kind);
      if (it == runtimes_.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            LeafName(*node), ": no ", kind, " runtime in this fedexec build"));
      }
      FEDEXEC_ASSIGN_OR_RETURN(std::shared_ptr<const LeafFunction> leaf,
                               it->second->Compile(*node));
      return Value::Function(std::make_shared<LeafFunctionValue>(
          std::move(leaf), LeafName(*node), node));
    }
    case ir::NodeKind::kData:
      return absl::InvalidArgumentError(absl::StrCat(
          "data '", node->As<ir::DataNode>().uri,
          "': no data root here to resolve it (fedexec run --data-root, "
          "fedexec worker --data-root)"));
    default:
      return LocalExecutor::EmbedLeaf(node);
  }
}

}  // namespace fedexec::exec
