// The type checker: a post-order walk that rebuilds the tree with every
// node's type. The walk keeps its own stack of frames on the heap, so the
// machine stack stays flat whatever the depth; the depth is still limited
// to kMaxNestingDepth (checked first) like every other reader of input.
#include "ir/type_checker.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/limits.h"
#include "core/status.h"
#include "ir/intrinsics.h"
#include "ir/node_path.h"

namespace fedexec::ir {
namespace {

// A checked node before agreement with its declared type: its new payload
// and its inferred type.
struct Checked {
  NodePayload payload;
  Type type;
};

// A node being checked: its children are checked one by one (in `checked`),
// then the node itself is built from them.
struct Frame {
  NodePtr node;
  std::vector<NodePtr> checked;
};

class Checker {
 public:
  absl::StatusOr<NodePtr> Run(const NodePtr& root);

 private:
  // The children to check before the node itself, in order. Called with the
  // number already checked; nullopt when there are no more.
  struct Child {
    const NodePtr* node;
    std::string step;
  };
  static std::optional<Child> NextChild(const Node& node, size_t done);

  // Checks made when a node is reached, before its children: its declared
  // type, and what its children's scope needs (a lambda's parameter).
  absl::Status Enter(const Node& node);
  // After child `index` is checked: a block local enters the scope.
  void ChildDone(const Node& node, size_t index, const NodePtr& child);
  // Builds the node from its checked children and leaves its scope.
  absl::StatusOr<NodePtr> Leave(const Node& node,
                                std::vector<NodePtr> children);

  absl::StatusOr<Checked> BuildLeaf(const Node& node);
  absl::StatusOr<Checked> BuildLambda(const Node& node,
                                      std::vector<NodePtr> children);
  absl::StatusOr<Checked> BuildBlock(const Node& node,
                                     std::vector<NodePtr> children);
  absl::StatusOr<Checked> BuildCall(const Node& node,
                                    std::vector<NodePtr> children);
  absl::StatusOr<Checked> BuildStruct(const Node& node,
                                      std::vector<NodePtr> children);
  absl::StatusOr<Checked> BuildSelection(const Node& node,
                                         std::vector<NodePtr> children);
  absl::StatusOr<Checked> BuildIntrinsic(const Node& node);
  // An intrinsic in call position, typed from its argument.
  absl::StatusOr<NodePtr> CheckCalledIntrinsic(const NodePtr& function,
                                               const Type* argument);
  // Gives `node` its final type: `inferred`, or the declared one when the
  // node has one that accepts `inferred`.
  absl::StatusOr<NodePtr> Finish(const Node& node, NodePayload payload,
                                 const Type& inferred);

  // The node's declared type, if any, must be well-formed.
  absl::Status CheckDeclaredType(const Node& node) const;
  // INVALID_ARGUMENT naming the current path and the node's location.
  absl::Status Error(const Node* node, absl::string_view message) const;

  void Bind(const std::string& name, const Type& type) {
    scope_[name].push_back(type);
  }
  void Unbind(const std::string& name) { scope_[name].pop_back(); }

  // Steps from the root to the node being checked.
  std::vector<std::string> path_;
  // Names in scope, innermost binding last.
  absl::flat_hash_map<std::string, std::vector<Type>> scope_;
};

absl::Status Checker::Error(const Node* node, absl::string_view message) const {
  std::string where = JoinPath(path_);
  if (node != nullptr && node->location().line > 0) {
    absl::StrAppend(&where, " (line ", node->location().line, ":",
                    node->location().column, ")");
  }
  return absl::InvalidArgumentError(AtPath(where, message));
}

absl::Status Checker::CheckDeclaredType(const Node& node) const {
  if (!node.type()) return absl::OkStatus();
  absl::Status well_formed = CheckWellFormed(*node.type());
  if (well_formed.ok()) return well_formed;
  return Error(&node, absl::StrCat("declared type is not valid: ",
                                   well_formed.message()));
}

absl::StatusOr<NodePtr> Checker::Run(const NodePtr& root) {
  if (root == nullptr) return Error(nullptr, "missing computation");
  std::vector<Frame> stack;
  FEDEXEC_RETURN_IF_ERROR(Enter(*root));
  stack.push_back({root, {}});
  while (true) {
    Frame& frame = stack.back();
    std::optional<Child> child = NextChild(*frame.node, frame.checked.size());
    if (child) {
      path_.push_back(std::move(child->step));
      const NodePtr& next = *child->node;
      if (next == nullptr) return Error(nullptr, "missing computation");
      FEDEXEC_RETURN_IF_ERROR(Enter(*next));
      stack.push_back({next, {}});  // invalidates `frame`
      continue;
    }
    FEDEXEC_ASSIGN_OR_RETURN(NodePtr done,
                             Leave(*frame.node, std::move(frame.checked)));
    stack.pop_back();
    if (stack.empty()) return done;
    path_.pop_back();
    Frame& parent = stack.back();
    ChildDone(*parent.node, parent.checked.size(), done);
    parent.checked.push_back(std::move(done));
  }
}

std::optional<Checker::Child> Checker::NextChild(const Node& node,
                                                 size_t done) {
  switch (node.kind()) {
    case NodeKind::kLambda:
      if (done == 0) {
        return Child{&node.As<LambdaNode>().result,
                     std::string(kLambdaResultStep)};
      }
      return std::nullopt;
    case NodeKind::kBlock: {
      const BlockNode& block = node.As<BlockNode>();
      if (done < block.locals.size()) {
        return Child{&block.locals[done].value, BlockLocalStep(done)};
      }
      if (done == block.locals.size()) {
        return Child{&block.result, std::string(kBlockResultStep)};
      }
      return std::nullopt;
    }
    case NodeKind::kCall: {
      const CallNode& call = node.As<CallNode>();
      // An intrinsic's type depends on its argument: the argument is
      // checked first and the intrinsic when the call is built.
      const bool intrinsic = call.function != nullptr &&
                             call.function->kind() == NodeKind::kIntrinsic;
      if (!intrinsic && done == 0) {
        return Child{&call.function, std::string(kCallFunctionStep)};
      }
      if (call.argument != nullptr && done == (intrinsic ? 0u : 1u)) {
        return Child{&call.argument, std::string(kCallArgumentStep)};
      }
      return std::nullopt;
    }
    case NodeKind::kStruct: {
      const StructNode& s = node.As<StructNode>();
      if (done < s.elements.size()) {
        return Child{&s.elements[done].value, StructElementStep(done)};
      }
      return std::nullopt;
    }
    case NodeKind::kSelection:
      if (done == 0) {
        return Child{&node.As<SelectionNode>().source,
                     std::string(kSelectionSourceStep)};
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

absl::Status Checker::Enter(const Node& node) {
  FEDEXEC_RETURN_IF_ERROR(CheckDeclaredType(node));
  switch (node.kind()) {
    case NodeKind::kLambda: {
      const LambdaNode& lambda = node.As<LambdaNode>();
      if (lambda.parameter_name.empty()) {
        if (lambda.parameter_type) {
          return Error(&node, absl::StrCat("lambda has a parameter type (",
                                           lambda.parameter_type->ToString(),
                                           ") but no parameter name"));
        }
        return absl::OkStatus();
      }
      if (!lambda.parameter_type) {
        return Error(&node,
                     absl::StrCat("lambda parameter '", lambda.parameter_name,
                                  "' has no type"));
      }
      absl::Status well_formed = CheckWellFormed(*lambda.parameter_type);
      if (!well_formed.ok()) {
        return Error(
            &node,
            absl::StrCat("type of lambda parameter '", lambda.parameter_name,
                         "' is not valid: ", well_formed.message()));
      }
      Bind(lambda.parameter_name, *lambda.parameter_type);
      return absl::OkStatus();
    }
    case NodeKind::kBlock: {
      const BlockNode& block = node.As<BlockNode>();
      for (size_t i = 0; i < block.locals.size(); ++i) {
        if (block.locals[i].name.empty()) {
          path_.push_back(BlockLocalStep(i));
          return Error(block.locals[i].value.get(), "block local has no name");
        }
      }
      return absl::OkStatus();
    }
    case NodeKind::kCall:
      if (node.As<CallNode>().function == nullptr) {
        return Error(&node, "call has no function");
      }
      return absl::OkStatus();
    case NodeKind::kStruct: {
      absl::flat_hash_map<absl::string_view, size_t> seen;
      const StructNode& s = node.As<StructNode>();
      for (size_t i = 0; i < s.elements.size(); ++i) {
        const std::string& name = s.elements[i].name;
        if (name.empty()) continue;
        auto [it, inserted] = seen.try_emplace(name, i);
        if (!inserted) {
          return Error(
              &node, absl::StrCat("duplicate element name '", name,
                                  "' (elements ", it->second, " and ", i, ")"));
        }
      }
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();
  }
}

void Checker::ChildDone(const Node& node, size_t index, const NodePtr& child) {
  // let*: a checked local is in scope for the locals after it and for the
  // result (the last child, which binds nothing).
  if (node.kind() != NodeKind::kBlock) return;
  const BlockNode& block = node.As<BlockNode>();
  if (index < block.locals.size())
    Bind(block.locals[index].name, *child->type());
}

absl::StatusOr<NodePtr> Checker::Leave(const Node& node,
                                       std::vector<NodePtr> children) {
  absl::StatusOr<Checked> checked;
  switch (node.kind()) {
    case NodeKind::kLambda:
      checked = BuildLambda(node, std::move(children));
      break;
    case NodeKind::kBlock:
      checked = BuildBlock(node, std::move(children));
      break;
    case NodeKind::kCall:
      checked = BuildCall(node, std::move(children));
      break;
    case NodeKind::kStruct:
      checked = BuildStruct(node, std::move(children));
      break;
    case NodeKind::kSelection:
      checked = BuildSelection(node, std::move(children));
      break;
    default:
      checked = BuildLeaf(node);
      break;
  }
  if (!checked.ok()) return checked.status();
  return Finish(node, std::move(checked->payload), checked->type);
}

absl::StatusOr<NodePtr> Checker::Finish(const Node& node, NodePayload payload,
                                        const Type& inferred) {
  std::optional<Type> type = inferred;
  if (node.type()) {
    if (!IsAssignableFrom(*node.type(), inferred)) {
      return Error(&node,
                   absl::StrCat("declared type ", node.type()->ToString(),
                                " does not accept the inferred type ",
                                inferred.ToString()));
    }
    type = node.type();
  }
  if (type->depth() > kMaxNestingDepth) {
    return Error(
        &node,
        absl::StrCat("the type of this node nests ", type->depth(),
                     " levels, more than the limit of ", kMaxNestingDepth));
  }
  return std::make_shared<Node>(std::move(payload), std::move(type),
                                node.location(), node.comments(),
                                node.trailing_comments());
}

absl::StatusOr<Checked> Checker::BuildLeaf(const Node& node) {
  std::string needs_type;  // what lacks a declared type, if anything
  switch (node.kind()) {
    case NodeKind::kLiteral: {
      const Tensor& value = node.As<LiteralNode>().value;
      if (!value.valid()) return Error(&node, "literal has no value");
      return Checked{node.payload(),
                     Type::Tensor(value.dtype(), value.shape())};
    }
    case NodeKind::kReference: {
      const std::string& name = node.As<ReferenceNode>().name;
      auto it = scope_.find(name);
      if (it == scope_.end() || it->second.empty()) {
        return Error(&node, absl::StrCat("unknown reference '", name, "'"));
      }
      return Checked{node.payload(), it->second.back()};
    }
    case NodeKind::kPlacement:
      return Checked{node.payload(), Type::PlacementType()};
    case NodeKind::kIntrinsic:
      return BuildIntrinsic(node);
    case NodeKind::kData: {
      // The same rules as the proto codec's, so a checked tree encodes.
      const DataNode& data = node.As<DataNode>();
      if (data.uri.empty() && data.content_type_url.empty()) {
        return Error(&node, "data leaf has neither a uri nor content");
      }
      if (data.content_type_url.empty() && !data.content_value.empty()) {
        return Error(&node, "data leaf content has a value but no type url");
      }
      needs_type = data.uri.empty()
                       ? std::string("data leaf")
                       : absl::StrCat("data leaf '", data.uri, "'");
      break;
    }
    case NodeKind::kNative:
      if (node.As<NativeNode>().name.empty()) {
        return Error(&node, "native leaf has an empty name");
      }
      needs_type =
          absl::StrCat("native leaf '", node.As<NativeNode>().name, "'");
      break;
    case NodeKind::kTorchScript: {
      const TorchScriptNode& ts = node.As<TorchScriptNode>();
      needs_type =
          absl::StrCat("torchscript leaf '", ts.module, ".", ts.method, "'");
      break;
    }
    default:
      return absl::InternalError(
          absl::StrCat("not a leaf: ", NodeKindName(node.kind())));
  }
  // The checker cannot see into these leaves: their type is declared.
  if (!node.type()) {
    return Error(&node, absl::StrCat(needs_type, " has no declared type"));
  }
  return Checked{node.payload(), *node.type()};
}

absl::StatusOr<Checked> Checker::BuildLambda(const Node& node,
                                             std::vector<NodePtr> children) {
  const LambdaNode& lambda = node.As<LambdaNode>();
  if (!lambda.parameter_name.empty()) Unbind(lambda.parameter_name);
  LambdaNode out = lambda;
  out.result = std::move(children[0]);
  Type type = Type::Function(lambda.parameter_type, *out.result->type());
  return Checked{std::move(out), std::move(type)};
}

absl::StatusOr<Checked> Checker::BuildBlock(const Node& node,
                                            std::vector<NodePtr> children) {
  const BlockNode& block = node.As<BlockNode>();
  BlockNode out;
  out.locals.reserve(block.locals.size());
  for (size_t i = 0; i < block.locals.size(); ++i) {
    Unbind(block.locals[i].name);
    out.locals.push_back({block.locals[i].name, std::move(children[i])});
  }
  out.result = std::move(children.back());
  Type type = *out.result->type();
  return Checked{std::move(out), std::move(type)};
}

absl::StatusOr<NodePtr> Checker::CheckCalledIntrinsic(const NodePtr& function,
                                                      const Type* argument) {
  const std::string& uri = function->As<IntrinsicNode>().uri;
  FEDEXEC_RETURN_IF_ERROR(CheckDeclaredType(*function));
  if (uri == "generic_zero") {
    // Not a function: typed as anywhere else (and then rejected by the
    // call).
    FEDEXEC_ASSIGN_OR_RETURN(Checked checked, BuildIntrinsic(*function));
    return Finish(*function, std::move(checked.payload), checked.type);
  }
  absl::StatusOr<Type> type = InferIntrinsicType(uri, argument);
  if (!type.ok()) return Error(function.get(), type.status().message());
  return Finish(*function, function->payload(), *type);
}

absl::StatusOr<Checked> Checker::BuildCall(const Node& node,
                                           std::vector<NodePtr> children) {
  const CallNode& call = node.As<CallNode>();
  CallNode out;
  if (call.function->kind() == NodeKind::kIntrinsic) {
    if (call.argument != nullptr) out.argument = std::move(children[0]);
    path_.emplace_back(kCallFunctionStep);
    absl::StatusOr<NodePtr> function = CheckCalledIntrinsic(
        call.function, out.argument ? &*out.argument->type() : nullptr);
    path_.pop_back();
    if (!function.ok()) return function.status();
    out.function = *std::move(function);
  } else {
    out.function = std::move(children[0]);
    if (call.argument != nullptr) out.argument = std::move(children[1]);
  }
  const Type& function_type = *out.function->type();
  if (function_type.kind() != TypeKind::kFunction) {
    return Error(
        &node, absl::StrCat("called value has type ", function_type.ToString(),
                            ", which is not a function"));
  }
  const Type* parameter = function_type.parameter();
  if (parameter != nullptr && out.argument == nullptr) {
    return Error(&node,
                 absl::StrCat("function of type ", function_type.ToString(),
                              " needs an argument, found none"));
  }
  if (parameter == nullptr && out.argument != nullptr) {
    return Error(&node,
                 absl::StrCat("function of type ", function_type.ToString(),
                              " takes no argument, found one of type ",
                              out.argument->type()->ToString()));
  }
  if (parameter != nullptr &&
      !IsAssignableFrom(*parameter, *out.argument->type())) {
    path_.emplace_back(kCallArgumentStep);
    absl::Status error =
        Error(out.argument.get(),
              absl::StrCat("expected ", parameter->ToString(), ", found ",
                           out.argument->type()->ToString()));
    path_.pop_back();
    return error;
  }
  Type type = function_type.result();
  return Checked{std::move(out), std::move(type)};
}

absl::StatusOr<Checked> Checker::BuildStruct(const Node& node,
                                             std::vector<NodePtr> children) {
  const StructNode& s = node.As<StructNode>();
  StructNode out;
  std::vector<StructElementType> types;
  out.elements.reserve(s.elements.size());
  types.reserve(s.elements.size());
  for (size_t i = 0; i < s.elements.size(); ++i) {
    types.push_back({s.elements[i].name, *children[i]->type()});
    out.elements.push_back({s.elements[i].name, std::move(children[i])});
  }
  return Checked{std::move(out), Type::Struct(std::move(types))};
}

absl::StatusOr<Checked> Checker::BuildSelection(const Node& node,
                                                std::vector<NodePtr> children) {
  const SelectionNode& selection = node.As<SelectionNode>();
  NodePtr source = std::move(children[0]);
  const Type& source_type = *source->type();
  if (source_type.kind() != TypeKind::kStruct) {
    return Error(
        &node, absl::StrCat("selection from a value of type ",
                            source_type.ToString(), ", which is not a struct"));
  }
  const std::vector<StructElementType>& elements = source_type.elements();
  int index = selection.index;
  if (!selection.name.empty()) {
    int found = -1;
    for (size_t i = 0; i < elements.size(); ++i) {
      if (elements[i].name == selection.name) {
        found = static_cast<int>(i);
        break;
      }
    }
    if (found < 0) {
      std::vector<absl::string_view> names;
      for (const StructElementType& e : elements) {
        if (!e.name.empty()) names.push_back(e.name);
      }
      return Error(
          &node, absl::StrCat(
                     "no element named '", selection.name, "' in ",
                     source_type.ToString(), " (available names: ",
                     names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
    }
    if (index >= 0 && index != found) {
      return Error(&node,
                   absl::StrCat("selection of '", selection.name, "' at index ",
                                index, ", but that name is at index ", found));
    }
    index = found;
  } else if (index < 0 || static_cast<size_t>(index) >= elements.size()) {
    return Error(&node,
                 absl::StrCat("selection index ", index, " out of range for ",
                              source_type.ToString(), " with ", elements.size(),
                              " elements"));
  }
  Type type = elements[index].type;
  return Checked{SelectionNode{std::move(source), index, selection.name},
                 std::move(type)};
}

absl::StatusOr<Checked> Checker::BuildIntrinsic(const Node& node) {
  const std::string& uri = node.As<IntrinsicNode>().uri;
  if (!IsIntrinsic(uri)) {
    return Error(&node, absl::StrCat("unknown intrinsic '", uri, "'"));
  }
  if (!node.type()) {
    if (uri == "generic_zero") {
      return Error(&node, "generic_zero needs a declared type");
    }
    return Error(&node, absl::StrCat("intrinsic '", uri,
                                     "' needs a declared type where it is "
                                     "not called"));
  }
  const Type& declared = *node.type();
  if (uri == "generic_zero") {
    absl::Status zero = CheckGenericZeroType(declared);
    if (!zero.ok()) return Error(&node, zero.message());
    return Checked{node.payload(), declared};
  }
  if (declared.kind() != TypeKind::kFunction ||
      declared.parameter() == nullptr) {
    return Error(&node, absl::StrCat("intrinsic '", uri, "' is declared as ",
                                     declared.ToString(), ", not as ",
                                     IntrinsicSignature(uri)));
  }
  // The declared parameter stands for the argument it will be called with.
  absl::StatusOr<Type> inferred = InferIntrinsicType(uri, declared.parameter());
  if (!inferred.ok()) return Error(&node, inferred.status().message());
  return Checked{node.payload(), *std::move(inferred)};
}

}  // namespace

absl::StatusOr<NodePtr> CheckComputation(const NodePtr& root) {
  if (root == nullptr) {
    return absl::InvalidArgumentError(
        AtPath(std::string(kRootPath), "missing computation"));
  }
  // The walk needs no machine stack, but deeper input is rejected all the
  // same, as every reader of computations does.
  const int depth = TreeDepth(root);
  if (depth > kMaxNestingDepth) {
    std::string where(kRootPath);
    if (root->location().line > 0) {
      absl::StrAppend(&where, " (line ", root->location().line, ":",
                      root->location().column, ")");
    }
    return absl::InvalidArgumentError(AtPath(
        where,
        absl::StrCat("computation nests ", depth,
                     " levels, more than the limit of ", kMaxNestingDepth)));
  }
  Checker checker;
  return checker.Run(root);
}

}  // namespace fedexec::ir
