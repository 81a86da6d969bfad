// The computation AST: the building blocks of federated_language (literal,
// data, reference, lambda, block, call, struct, selection, intrinsic,
// placement) and fedexec's leaf kinds (native; torchscript reserved).
//
// Nodes are immutable once built and shared by pointer (NodePtr). Every node
// may carry a type: declared (from a proto, or a text ascription) or filled
// in by the type checker (ir/type_checker.h), which returns a new tree in
// which every node has one. Destruction is iterative, so a tree of any depth
// is freed without recursion.
//
// Thread-safety: immutable; safe to share between threads.
#ifndef FEDEXEC_IR_AST_H_
#define FEDEXEC_IR_AST_H_

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/placement.h"
#include "core/tensor.h"
#include "ir/type.h"

namespace fedexec::ir {

class Node;
using NodePtr = std::shared_ptr<const Node>;

// Where a node came from in a text file (line 0 when not from text).
struct SourceLocation {
  int line = 0;
  int column = 0;
};

struct NamedNode {
  std::string name;  // empty when unnamed
  NodePtr value;
};

// A tensor constant.
struct LiteralNode {
  Tensor value;
};
// Data resolved by the executor that owns it: a uri, or an Any payload.
struct DataNode {
  std::string uri;
  std::string content_type_url;  // empty when there is no content
  std::string content_value;
};
// A lambda parameter or block local, by name.
struct ReferenceNode {
  std::string name;
};
// A function. parameter_name is empty when it takes no parameter; then
// parameter_type is nullopt. A lambda with a parameter always has its type.
struct LambdaNode {
  std::string parameter_name;
  std::optional<Type> parameter_type;
  NodePtr result;
};
// let*: each local sees the ones before it; inner names shadow outer ones.
struct BlockNode {
  std::vector<NamedNode> locals;
  NodePtr result;
};
// argument is null when the function takes no parameter.
struct CallNode {
  NodePtr function;
  NodePtr argument;
};
struct StructNode {
  std::vector<NamedNode> elements;
};
// Selection by position. The text syntax may select by name: then `name` is
// set and index is -1 until the type checker resolves it.
struct SelectionNode {
  NodePtr source;
  int index = -1;
  std::string name;
};
// A federated or generic intrinsic, by uri ("federated_sum", ...).
struct IntrinsicNode {
  std::string uri;
};
struct PlacementNode {
  Placement placement;
};
// A function of the native external runtime, found by name in its registry.
// Its declared type is the node's type (always present).
struct NativeNode {
  std::string name;
};
// A TorchScript method (reserved for the torch external runtime).
struct TorchScriptNode {
  std::string module;
  std::string method;
};

enum class NodeKind {
  kLiteral,
  kData,
  kReference,
  kLambda,
  kBlock,
  kCall,
  kStruct,
  kSelection,
  kIntrinsic,
  kPlacement,
  kNative,
  kTorchScript,
};

// The order of alternatives follows NodeKind.
using NodePayload =
    std::variant<LiteralNode, DataNode, ReferenceNode, LambdaNode, BlockNode,
                 CallNode, StructNode, SelectionNode, IntrinsicNode,
                 PlacementNode, NativeNode, TorchScriptNode>;

class Node {
 public:
  Node(NodePayload payload, std::optional<Type> type = std::nullopt,
       SourceLocation location = {}, std::vector<std::string> comments = {},
       std::vector<std::string> trailing_comments = {})
      : payload_(std::move(payload)),
        type_(std::move(type)),
        location_(location),
        comments_(std::move(comments)),
        trailing_comments_(std::move(trailing_comments)) {}
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  NodeKind kind() const { return static_cast<NodeKind>(payload_.index()); }
  const NodePayload& payload() const { return payload_; }
  // REQUIRES: the matching kind.
  template <typename T>
  const T& As() const {
    return std::get<T>(payload_);
  }
  template <typename T>
  bool Is() const {
    return std::holds_alternative<T>(payload_);
  }

  const std::optional<Type>& type() const { return type_; }
  const SourceLocation& location() const { return location_; }
  // Comment lines written just before this node in text (without '#').
  const std::vector<std::string>& comments() const { return comments_; }
  // Comment lines written after this node and before whatever follows it
  // (a closing bracket, `in`, the end of the file), without '#'.
  const std::vector<std::string>& trailing_comments() const {
    return trailing_comments_;
  }

  // A copy of this node with another payload, type or comments (children
  // are shared, not copied).
  NodePtr WithType(std::optional<Type> type) const;
  NodePtr WithPayload(NodePayload payload) const;
  NodePtr WithComments(std::vector<std::string> comments,
                       std::vector<std::string> trailing_comments) const;

 private:
  NodePayload payload_;
  std::optional<Type> type_;
  SourceLocation location_;
  std::vector<std::string> comments_;
  std::vector<std::string> trailing_comments_;
};

// Shorthands for building trees in code and tests.
NodePtr MakeNode(NodePayload payload, std::optional<Type> type = std::nullopt);

// The name of a node kind as the wire format spells it ("call", "lambda").
const char* NodeKindName(NodeKind kind);

// Calls f(child) for each direct child, in source order.
template <typename F>
void ForEachChild(const Node& node, F&& f) {
  std::visit(
      [&](const auto& p) {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, LambdaNode>) {
          if (p.result) f(p.result);
        } else if constexpr (std::is_same_v<P, BlockNode>) {
          for (const auto& l : p.locals)
            if (l.value) f(l.value);
          if (p.result) f(p.result);
        } else if constexpr (std::is_same_v<P, CallNode>) {
          if (p.function) f(p.function);
          if (p.argument) f(p.argument);
        } else if constexpr (std::is_same_v<P, StructNode>) {
          for (const auto& e : p.elements)
            if (e.value) f(e.value);
        } else if constexpr (std::is_same_v<P, SelectionNode>) {
          if (p.source) f(p.source);
        }
      },
      node.payload());
}

// The number of nodes on the longest root-to-leaf path (iterative).
int TreeDepth(const NodePtr& root);

}  // namespace fedexec::ir

#endif  // FEDEXEC_IR_AST_H_
