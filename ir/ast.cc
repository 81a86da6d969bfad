#include "ir/ast.h"

#include <utility>

namespace fedexec::ir {
namespace {

// Moves the child pointers out of a payload, leaving it without children.
void StealChildren(NodePayload& payload, std::vector<NodePtr>& out) {
  std::visit(
      [&](auto& p) {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, LambdaNode>) {
          out.push_back(std::move(p.result));
        } else if constexpr (std::is_same_v<P, BlockNode>) {
          for (auto& l : p.locals) out.push_back(std::move(l.value));
          out.push_back(std::move(p.result));
        } else if constexpr (std::is_same_v<P, CallNode>) {
          out.push_back(std::move(p.function));
          out.push_back(std::move(p.argument));
        } else if constexpr (std::is_same_v<P, StructNode>) {
          for (auto& e : p.elements) out.push_back(std::move(e.value));
        } else if constexpr (std::is_same_v<P, SelectionNode>) {
          out.push_back(std::move(p.source));
        }
      },
      payload);
}

}  // namespace

Node::~Node() {
  // Iterative teardown: a child that only this node owns has its own
  // children moved onto the work list before it is released, so releasing
  // it never recurses.
  std::vector<NodePtr> pending;
  StealChildren(payload_, pending);
  while (!pending.empty()) {
    NodePtr child = std::move(pending.back());
    pending.pop_back();
    if (child && child.use_count() == 1) {
      StealChildren(const_cast<Node&>(*child).payload_, pending);
    }
  }
}

NodePtr Node::WithType(std::optional<Type> type) const {
  return std::make_shared<Node>(payload_, std::move(type), location_, comments_,
                                trailing_comments_);
}

NodePtr Node::WithPayload(NodePayload payload) const {
  return std::make_shared<Node>(std::move(payload), type_, location_, comments_,
                                trailing_comments_);
}

NodePtr Node::WithComments(std::vector<std::string> comments,
                           std::vector<std::string> trailing_comments) const {
  return std::make_shared<Node>(payload_, type_, location_, std::move(comments),
                                std::move(trailing_comments));
}

NodePtr MakeNode(NodePayload payload, std::optional<Type> type) {
  return std::make_shared<Node>(std::move(payload), std::move(type));
}

const char* NodeKindName(NodeKind kind) {
  switch (kind) {
    case NodeKind::kLiteral:
      return "literal";
    case NodeKind::kData:
      return "data";
    case NodeKind::kReference:
      return "reference";
    case NodeKind::kLambda:
      return "lambda";
    case NodeKind::kBlock:
      return "block";
    case NodeKind::kCall:
      return "call";
    case NodeKind::kStruct:
      return "struct";
    case NodeKind::kSelection:
      return "selection";
    case NodeKind::kIntrinsic:
      return "intrinsic";
    case NodeKind::kPlacement:
      return "placement";
    case NodeKind::kNative:
      return "native";
    case NodeKind::kTorchScript:
      return "torchscript";
  }
  return "unknown";
}

int TreeDepth(const NodePtr& root) {
  if (!root) return 0;
  int deepest = 0;
  std::vector<std::pair<const Node*, int>> stack = {{root.get(), 1}};
  while (!stack.empty()) {
    const Node* node = stack.back().first;
    const int depth = stack.back().second;
    stack.pop_back();
    deepest = std::max(deepest, depth);
    ForEachChild(*node, [&](const NodePtr& c) {
      stack.push_back({c.get(), depth + 1});
    });
  }
  return deepest;
}

}  // namespace fedexec::ir
