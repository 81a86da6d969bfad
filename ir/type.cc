// The type system: type nodes, printing and parsing of the text notation,
// equality, assignability, well-formedness, proto conversion and the
// unification used by intrinsic signatures.
//
// Functions that may see very deep types built through the C++ API
// (destruction, equality, assignability, printing, encoding, ContainsAbstract)
// walk them with explicit work lists; the others first check the depth or
// recurse only along the small pattern types of intrinsic signatures.
#include "ir/type.h"

#include <algorithm>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/large_stack.h"
#include "core/limits.h"
#include "core/status.h"
#include "federated_language/computation.pb.h"
#include "ir/lexer.h"

namespace fedexec::ir {

// One immutable node. Children live in `children` (sequence: {element};
// function: {parameter, result} or {result}; federated: {member}) or in
// `elements` (struct), so that no field holds a default-constructed Type.
struct Type::Node {
  TypeKind kind = TypeKind::kTensor;
  int depth = 1;
  bool contains_abstract = false;
  // Tensor.
  DType dtype = DType::kFloat32;
  std::vector<int64_t> dims;
  bool unknown_rank = false;
  // Struct.
  std::vector<StructElementType> elements;
  // Sequence, function, federated.
  std::vector<Type> children;
  bool has_parameter = false;
  // Federated.
  Placement placement = Placement::kServer;
  bool all_equal = false;
  // Abstract.
  std::string label;

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  ~Node();

  // Sets depth and contains_abstract from the children.
  void Finish();
  // Moves the child handles of this node into `out`.
  void TakeChildren(std::vector<std::shared_ptr<const Node>>& out);
};

void Type::Node::TakeChildren(std::vector<std::shared_ptr<const Node>>& out) {
  for (Type& child : children) {
    if (child.node_ != nullptr) out.push_back(std::move(child.node_));
  }
  for (StructElementType& e : elements) {
    if (e.type.node_ != nullptr) out.push_back(std::move(e.type.node_));
  }
}

// Iterative so that freeing a chain of any depth uses constant stack: a child
// whose last owner is this node has its own children moved out before it is
// released, so no destructor below this one has anything left to recurse
// into. A child with other owners is simply released (its count drops). With
// no weak pointers, use_count() == 1 means no other thread can obtain a new
// reference, so the check is race-free.
Type::Node::~Node() {
  std::vector<std::shared_ptr<const Node>> work;
  TakeChildren(work);
  while (!work.empty()) {
    std::shared_ptr<const Node> node = std::move(work.back());
    work.pop_back();
    if (node.use_count() == 1) {
      // Every node is created non-const by make_shared, so this is allowed.
      const_cast<Node&>(*node).TakeChildren(work);
    }
  }
}

void Type::Node::Finish() {
  int deepest = 0;
  bool abstract = kind == TypeKind::kAbstract;
  for (const Type& child : children) {
    deepest = std::max(deepest, child.node_->depth);
    abstract = abstract || child.node_->contains_abstract;
  }
  for (const StructElementType& e : elements) {
    deepest = std::max(deepest, e.type.node_->depth);
    abstract = abstract || e.type.node_->contains_abstract;
  }
  depth = 1 + deepest;
  contains_abstract = abstract;
}

namespace {

const Type& FallbackType() {
  static const Type* const kType = new Type();
  return *kType;
}

bool IsFederated(const Type& t) { return t.kind() == TypeKind::kFederated; }

}  // namespace

Type::Type() {
  static const auto* const kScalar =
      new std::shared_ptr<const Node>(std::make_shared<Node>());
  node_ = *kScalar;
}

Type Type::Tensor(DType dtype, std::vector<int64_t> dims) {
  auto node = std::make_shared<Node>();
  node->kind = TypeKind::kTensor;
  node->dtype = dtype;
  node->dims = std::move(dims);
  node->Finish();
  return Type(std::move(node));
}

Type Type::TensorUnknownRank(DType dtype) {
  auto node = std::make_shared<Node>();
  node->kind = TypeKind::kTensor;
  node->dtype = dtype;
  node->unknown_rank = true;
  node->Finish();
  return Type(std::move(node));
}

Type Type::Struct(std::vector<StructElementType> elements) {
  auto node = std::make_shared<Node>();
  node->kind = TypeKind::kStruct;
  node->elements = std::move(elements);
  node->Finish();
  return Type(std::move(node));
}

Type Type::Sequence(Type element) {
  auto node = std::make_shared<Node>();
  node->kind = TypeKind::kSequence;
  node->children.push_back(std::move(element));
  node->Finish();
  return Type(std::move(node));
}

Type Type::Function(std::optional<Type> parameter, Type result) {
  auto node = std::make_shared<Node>();
  node->kind = TypeKind::kFunction;
  if (parameter.has_value()) {
    node->has_parameter = true;
    node->children.push_back(*std::move(parameter));
  }
  node->children.push_back(std::move(result));
  node->Finish();
  return Type(std::move(node));
}

Type Type::Federated(Type member, Placement placement, bool all_equal) {
  auto node = std::make_shared<Node>();
  node->kind = TypeKind::kFederated;
  node->children.push_back(std::move(member));
  node->placement = placement;
  node->all_equal = all_equal;
  node->Finish();
  return Type(std::move(node));
}

Type Type::PlacementType() {
  auto node = std::make_shared<Node>();
  node->kind = TypeKind::kPlacement;
  node->Finish();
  return Type(std::move(node));
}

Type Type::Abstract(std::string label) {
  auto node = std::make_shared<Node>();
  node->kind = TypeKind::kAbstract;
  node->label = std::move(label);
  node->Finish();
  return Type(std::move(node));
}

TypeKind Type::kind() const { return node_->kind; }
DType Type::dtype() const { return node_->dtype; }
const std::vector<int64_t>& Type::dims() const { return node_->dims; }
bool Type::unknown_rank() const { return node_->unknown_rank; }
const std::vector<StructElementType>& Type::elements() const {
  return node_->elements;
}
const Type& Type::element() const {
  return node_->kind == TypeKind::kSequence ? node_->children[0]
                                            : FallbackType();
}
const Type* Type::parameter() const {
  return node_->has_parameter ? &node_->children[0] : nullptr;
}
const Type& Type::result() const {
  return node_->kind == TypeKind::kFunction ? node_->children.back()
                                            : FallbackType();
}
const Type& Type::member() const {
  return node_->kind == TypeKind::kFederated ? node_->children[0]
                                             : FallbackType();
}
Placement Type::placement() const { return node_->placement; }
bool Type::all_equal() const { return node_->all_equal; }
const std::string& Type::label() const { return node_->label; }
int Type::depth() const { return node_->depth; }

// ---------------------------------------------------------------- printing

namespace {

// Whether an abstract label can be printed bare: a plain identifier that the
// parser would not read as a dtype or as `placement`.
bool IsBareLabel(const std::string& label) {
  return IsPlainIdentifier(label) && !DTypeFromName(label).has_value() &&
         label != "placement";
}

std::string TensorString(const Type& t) {
  std::string out(DTypeName(t.dtype()));
  if (t.unknown_rank()) {
    out += "[*]";
  } else if (!t.dims().empty()) {
    out += '[';
    for (size_t i = 0; i < t.dims().size(); ++i) {
      if (i > 0) out += ',';
      int64_t d = t.dims()[i];
      if (d == kUnknownDim) {
        out += '?';
      } else {
        absl::StrAppend(&out, d);
      }
    }
    out += ']';
  }
  return out;
}

}  // namespace

std::string Type::ToString() const {
  // A work list of pieces still to print, last first: either a type or
  // literal text.
  using Piece = std::variant<const Type*, std::string>;
  std::vector<Piece> stack;
  std::vector<Piece> pieces;  // the current type's pieces, in order
  std::string out;
  stack.emplace_back(this);
  while (!stack.empty()) {
    Piece piece = std::move(stack.back());
    stack.pop_back();
    if (auto* text = std::get_if<std::string>(&piece)) {
      out += *text;
      continue;
    }
    const Type& t = *std::get<const Type*>(piece);
    pieces.clear();
    switch (t.kind()) {
      case TypeKind::kTensor:
        out += TensorString(t);
        break;
      case TypeKind::kPlacement:
        out += "placement";
        break;
      case TypeKind::kAbstract:
        out += IsBareLabel(t.label()) ? t.label() : QuoteIdentifier(t.label());
        break;
      case TypeKind::kStruct:
        pieces.emplace_back("<");
        for (size_t i = 0; i < t.elements().size(); ++i) {
          const StructElementType& e = t.elements()[i];
          std::string prefix = i > 0 ? "," : "";
          if (!e.name.empty()) {
            absl::StrAppend(
                &prefix,
                IsPlainIdentifier(e.name) ? e.name : QuoteIdentifier(e.name),
                "=");
          }
          if (!prefix.empty()) pieces.emplace_back(std::move(prefix));
          pieces.emplace_back(&e.type);
        }
        pieces.emplace_back(">");
        break;
      case TypeKind::kSequence:
        // A federated operand of a postfix needs parentheses.
        if (IsFederated(t.element())) {
          pieces.emplace_back("(");
          pieces.emplace_back(&t.element());
          pieces.emplace_back(")*");
        } else {
          pieces.emplace_back(&t.element());
          pieces.emplace_back("*");
        }
        break;
      case TypeKind::kFunction:
        if (t.parameter() != nullptr) {
          pieces.emplace_back("(");
          pieces.emplace_back(t.parameter());
          pieces.emplace_back(" -> ");
        } else {
          pieces.emplace_back("( -> ");
        }
        pieces.emplace_back(&t.result());
        pieces.emplace_back(")");
        break;
      case TypeKind::kFederated: {
        std::string at =
            absl::StrCat("@", std::string(PlacementName(t.placement())));
        if (!t.all_equal()) {
          pieces.emplace_back("{");
          pieces.emplace_back(&t.member());
          pieces.emplace_back(absl::StrCat("}", at));
        } else if (IsFederated(t.member())) {
          pieces.emplace_back("(");
          pieces.emplace_back(&t.member());
          pieces.emplace_back(absl::StrCat(")", at));
        } else {
          pieces.emplace_back(&t.member());
          pieces.emplace_back(std::move(at));
        }
        break;
      }
    }
    for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
      stack.push_back(std::move(*it));
    }
  }
  return out;
}

// ---------------------------------------------------------------- equality

bool operator==(const Type& a, const Type& b) {
  std::vector<std::pair<const Type*, const Type*>> work = {{&a, &b}};
  while (!work.empty()) {
    auto [x, y] = work.back();
    work.pop_back();
    if (x->node_ == y->node_) continue;
    const Type::Node& p = *x->node_;
    const Type::Node& q = *y->node_;
    if (p.kind != q.kind || p.depth != q.depth) return false;
    switch (p.kind) {
      case TypeKind::kTensor:
        if (p.dtype != q.dtype || p.unknown_rank != q.unknown_rank ||
            p.dims != q.dims) {
          return false;
        }
        break;
      case TypeKind::kStruct:
        if (p.elements.size() != q.elements.size()) return false;
        for (size_t i = 0; i < p.elements.size(); ++i) {
          if (p.elements[i].name != q.elements[i].name) return false;
          work.emplace_back(&p.elements[i].type, &q.elements[i].type);
        }
        break;
      case TypeKind::kFederated:
        if (p.placement != q.placement || p.all_equal != q.all_equal) {
          return false;
        }
        [[fallthrough]];
      case TypeKind::kSequence:
      case TypeKind::kFunction:
        if (p.has_parameter != q.has_parameter) return false;
        for (size_t i = 0; i < p.children.size(); ++i) {
          work.emplace_back(&p.children[i], &q.children[i]);
        }
        break;
      case TypeKind::kPlacement:
        break;
      case TypeKind::kAbstract:
        if (p.label != q.label) return false;
        break;
    }
  }
  return true;
}

// ----------------------------------------------------------------
// assignability

namespace {

bool TensorAssignable(const Type& target, const Type& source) {
  if (target.dtype() != source.dtype()) return false;
  if (target.unknown_rank()) return true;
  if (source.unknown_rank()) return false;
  if (target.dims().size() != source.dims().size()) return false;
  for (size_t i = 0; i < target.dims().size(); ++i) {
    if (target.dims()[i] != kUnknownDim &&
        target.dims()[i] != source.dims()[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool NamesAgree(const std::string& a, const std::string& b) {
  return a.empty() || b.empty() || a == b;
}

bool IsAssignableFrom(const Type& target, const Type& source) {
  // Pairs (target, source) that must all be assignable.
  std::vector<std::pair<const Type*, const Type*>> work = {{&target, &source}};
  while (!work.empty()) {
    auto [t, s] = work.back();
    work.pop_back();
    if (t->kind() != s->kind()) return false;
    switch (t->kind()) {
      case TypeKind::kTensor:
        if (!TensorAssignable(*t, *s)) return false;
        break;
      case TypeKind::kStruct:
        if (t->elements().size() != s->elements().size()) return false;
        for (size_t i = 0; i < t->elements().size(); ++i) {
          const StructElementType& te = t->elements()[i];
          const StructElementType& se = s->elements()[i];
          if (!NamesAgree(te.name, se.name)) return false;
          work.emplace_back(&te.type, &se.type);
        }
        break;
      case TypeKind::kSequence:
        work.emplace_back(&t->element(), &s->element());
        break;
      case TypeKind::kFunction:
        if ((t->parameter() == nullptr) != (s->parameter() == nullptr)) {
          return false;
        }
        // Contravariant: the source must accept every argument the target
        // accepts.
        if (t->parameter() != nullptr) {
          work.emplace_back(s->parameter(), t->parameter());
        }
        work.emplace_back(&t->result(), &s->result());
        break;
      case TypeKind::kFederated:
        if (t->placement() != s->placement()) return false;
        // An all-equal value is a special case of a per-placement one.
        if (t->all_equal() && !s->all_equal()) return false;
        work.emplace_back(&t->member(), &s->member());
        break;
      case TypeKind::kPlacement:
        break;
      case TypeKind::kAbstract:
        if (t->label() != s->label()) return false;
        break;
    }
  }
  return true;
}

// ----------------------------------------------------------------
// well-formedness

namespace {

std::string KindWord(TypeKind kind) {
  switch (kind) {
    case TypeKind::kSequence:
      return "sequence";
    case TypeKind::kFunction:
      return "function";
    case TypeKind::kFederated:
      return "federated";
    default:
      return "other";
  }
}

std::string DepthError(int depth) {
  return absl::StrCat("type nesting depth ", depth, " exceeds the limit of ",
                      kMaxNestingDepth);
}

// `federated` and `sequence` are the nearest enclosing types of those kinds
// (nullptr when none). Recursion is bounded by the depth checked before.
absl::Status CheckNode(const Type& t, const Type* federated,
                       const Type* sequence) {
  switch (t.kind()) {
    case TypeKind::kTensor:
      if (!IsValidWireDType(static_cast<int>(t.dtype()))) {
        return absl::InvalidArgumentError(absl::StrCat(
            "tensor type has invalid dtype ", static_cast<int>(t.dtype())));
      }
      for (int64_t d : t.dims()) {
        if (d < kUnknownDim) {
          return absl::InvalidArgumentError(absl::StrCat(
              "tensor type ", t.ToString(), " has invalid dimension ", d));
        }
      }
      return absl::OkStatus();
    case TypeKind::kStruct: {
      absl::flat_hash_set<absl::string_view> names;
      for (const StructElementType& e : t.elements()) {
        if (!e.name.empty() && !names.insert(e.name).second) {
          return absl::InvalidArgumentError(
              absl::StrCat("struct type ", t.ToString(),
                           " has duplicate element name '", e.name, "'"));
        }
      }
      for (const StructElementType& e : t.elements()) {
        FEDEXEC_RETURN_IF_ERROR(CheckNode(e.type, federated, sequence));
      }
      return absl::OkStatus();
    }
    case TypeKind::kSequence:
    case TypeKind::kFunction:
    case TypeKind::kFederated: {
      if (sequence != nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            "sequence type ", sequence->ToString(), " has ", KindWord(t.kind()),
            " type ", t.ToString(), " in its element"));
      }
      if (t.kind() == TypeKind::kFederated && federated != nullptr) {
        if (&federated->member() == &t) {
          return absl::InvalidArgumentError(
              absl::StrCat("federated type ", federated->ToString(),
                           " has a federated member"));
        }
        return absl::InvalidArgumentError(absl::StrCat(
            "federated type ", federated->ToString(), " has federated type ",
            t.ToString(), " inside its member"));
      }
      if (t.kind() == TypeKind::kSequence) {
        return CheckNode(t.element(), federated, &t);
      }
      if (t.kind() == TypeKind::kFederated) {
        return CheckNode(t.member(), &t, sequence);
      }
      if (t.parameter() != nullptr) {
        FEDEXEC_RETURN_IF_ERROR(CheckNode(*t.parameter(), federated, sequence));
      }
      return CheckNode(t.result(), federated, sequence);
    }
    case TypeKind::kPlacement:
      return absl::OkStatus();
    case TypeKind::kAbstract:
      if (t.label().empty()) {
        return absl::InvalidArgumentError("abstract type with an empty label");
      }
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckWellFormed(const Type& type) {
  if (type.depth() > kMaxNestingDepth) {
    return absl::InvalidArgumentError(DepthError(type.depth()));
  }
  return CheckNode(type, nullptr, nullptr);
}

// ---------------------------------------------------------------- parsing

namespace {

std::string LimitMessage() {
  return absl::StrCat("type nesting deeper than ", kMaxNestingDepth, " levels");
}

class TypeParser {
 public:
  explicit TypeParser(TokenCursor& cursor) : c_(cursor) {}

  // `calls` counts the parser's own recursion (one per nested type or
  // parenthesized group); `enclosing` counts the type levels that will
  // surround the result.
  absl::StatusOr<Type> ParseType(int calls, int enclosing) {
    if (calls > kMaxNestingDepth) return c_.ErrorHere(LimitMessage());
    if (c_.Accept("{")) {
      FEDEXEC_ASSIGN_OR_RETURN(Type member,
                               ParseType(calls + 1, enclosing + 1));
      FEDEXEC_RETURN_IF_ERROR(c_.Expect("}"));
      if (!c_.Peek().Is("@")) {
        return c_.ErrorHere("expected '@' and a placement after '{...}'");
      }
      return ParsePlacementSuffix(std::move(member), /*all_equal=*/false,
                                  enclosing);
    }
    FEDEXEC_ASSIGN_OR_RETURN(Type t, ParsePrimary(calls, enclosing));
    while (c_.Peek().Is("*")) {
      t = Type::Sequence(std::move(t));
      FEDEXEC_RETURN_IF_ERROR(CheckLevels(t, enclosing));
      c_.Next();
    }
    if (c_.Peek().Is("@")) {
      return ParsePlacementSuffix(std::move(t), /*all_equal=*/true, enclosing);
    }
    return t;
  }

 private:
  absl::Status CheckLevels(const Type& t, int enclosing) {
    if (enclosing + t.depth() > kMaxNestingDepth) {
      return c_.ErrorHere(LimitMessage());
    }
    return absl::OkStatus();
  }

  // At '@': reads the placement and wraps `member`.
  absl::StatusOr<Type> ParsePlacementSuffix(Type member, bool all_equal,
                                            int enclosing) {
    c_.Next();  // '@'
    std::optional<Placement> placement;
    if (c_.Peek().IsWord("SERVER")) placement = Placement::kServer;
    if (c_.Peek().IsWord("CLIENTS")) placement = Placement::kClients;
    if (!placement.has_value()) {
      return c_.ErrorHere("expected a placement (SERVER or CLIENTS)");
    }
    Type t = Type::Federated(std::move(member), *placement, all_equal);
    FEDEXEC_RETURN_IF_ERROR(CheckLevels(t, enclosing));
    c_.Next();
    return t;
  }

  absl::StatusOr<Type> ParsePrimary(int calls, int enclosing) {
    const Token& token = c_.Peek();
    if (token.kind == TokenKind::kIdentifier) {
      if (!token.quoted) {
        if (std::optional<DType> dtype = DTypeFromName(token.text)) {
          c_.Next();
          return ParseDims(*dtype);
        }
        if (token.text == "placement") {
          c_.Next();
          return Type::PlacementType();
        }
      }
      Type t = Type::Abstract(token.text);
      c_.Next();
      if (c_.Peek().Is("[")) {
        return c_.ErrorHere(absl::StrCat(
            "'", t.label(),
            "' is not a dtype name (an abstract type takes no dimensions)"));
      }
      return t;
    }
    if (c_.Accept("<")) return ParseStruct(calls, enclosing);
    if (c_.Accept("(")) {
      if (c_.Accept("->")) {
        FEDEXEC_ASSIGN_OR_RETURN(Type result,
                                 ParseType(calls + 1, enclosing + 1));
        FEDEXEC_RETURN_IF_ERROR(c_.Expect(")"));
        return Type::Function(std::nullopt, std::move(result));
      }
      // A parenthesized group adds no level of its own; the postfix that
      // follows it is counted when it is applied.
      FEDEXEC_ASSIGN_OR_RETURN(Type first, ParseType(calls + 1, enclosing));
      if (c_.Accept("->")) {
        if (enclosing + 1 + first.depth() > kMaxNestingDepth) {
          return c_.ErrorHere(LimitMessage());
        }
        FEDEXEC_ASSIGN_OR_RETURN(Type result,
                                 ParseType(calls + 1, enclosing + 1));
        FEDEXEC_RETURN_IF_ERROR(c_.Expect(")"));
        return Type::Function(std::move(first), std::move(result));
      }
      if (!c_.Accept(")")) return c_.ErrorHere("expected '->' or ')'");
      return first;
    }
    return c_.ErrorHere("expected a type");
  }

  absl::StatusOr<Type> ParseDims(DType dtype) {
    if (!c_.Accept("[")) return Type::Tensor(dtype);
    if (c_.Accept("*")) {
      FEDEXEC_RETURN_IF_ERROR(c_.Expect("]"));
      return Type::TensorUnknownRank(dtype);
    }
    std::vector<int64_t> dims;
    while (true) {
      const Token& token = c_.Peek();
      if (token.Is("?")) {
        dims.push_back(kUnknownDim);
      } else if (token.kind == TokenKind::kInteger) {
        int64_t d;
        if (!absl::SimpleAtoi(token.text, &d)) {
          return c_.ErrorHere("dimension out of range");
        }
        dims.push_back(d);
      } else {
        return c_.ErrorHere(
            dims.empty()
                ? "expected a dimension (a non-negative integer, '?' or '*')"
                : "expected a dimension (a non-negative integer or '?')");
      }
      c_.Next();
      if (c_.Accept("]")) break;
      if (!c_.Accept(",")) return c_.ErrorHere("expected ',' or ']'");
    }
    return Type::Tensor(dtype, std::move(dims));
  }

  // After '<'.
  absl::StatusOr<Type> ParseStruct(int calls, int enclosing) {
    std::vector<StructElementType> elements;
    if (c_.Accept(">")) return Type::Struct({});
    while (true) {
      StructElementType e;
      if (c_.Peek().kind == TokenKind::kIdentifier && c_.Peek(1).Is("=")) {
        e.name = c_.Next().text;
        c_.Next();
      }
      FEDEXEC_ASSIGN_OR_RETURN(e.type, ParseType(calls + 1, enclosing + 1));
      elements.push_back(std::move(e));
      if (c_.Accept(">")) break;
      if (!c_.Accept(",")) return c_.ErrorHere("expected ',' or '>'");
    }
    return Type::Struct(std::move(elements));
  }

  TokenCursor& c_;
};

}  // namespace

absl::StatusOr<Type> ParseTypeAt(TokenCursor& cursor) {
  return TypeParser(cursor).ParseType(/*calls=*/1, /*enclosing=*/0);
}

namespace {

// Parses a whole token stream as one type.
absl::StatusOr<Type> ParseTokens(std::vector<Token> tokens) {
  TokenCursor cursor(std::move(tokens));
  FEDEXEC_ASSIGN_OR_RETURN(Type type, ParseTypeAt(cursor));
  if (!cursor.AtEnd()) {
    if (IsFederated(type) && (cursor.Peek().Is("*") || cursor.Peek().Is("@"))) {
      return cursor.ErrorHere(
          "expected end of input after the type (parenthesize a federated "
          "type before '*' or '@')");
    }
    return cursor.ErrorHere("expected end of input after the type");
  }
  return type;
}

}  // namespace

absl::StatusOr<Type> ParseType(absl::string_view text) {
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(text));
  // Nesting is bounded by the number of tokens; deep input is parsed on a
  // stack of its own.
  const size_t bound = tokens.size();
  return CallWithStackFor(bound,
                          [&] { return ParseTokens(std::move(tokens)); });
}

// ---------------------------------------------------------------- proto

namespace {

// The location inside the type being decoded, as field names.
class ProtoPath {
 public:
  void Push(std::string segment) { segments_.push_back(std::move(segment)); }
  void Pop() { segments_.pop_back(); }

  // Long paths keep their ends and elide the middle.
  std::string ToString() const {
    constexpr size_t kEnds = 4;
    std::string out = "type";
    if (segments_.size() <= 3 * kEnds) {
      for (const std::string& s : segments_) out += s;
      return out;
    }
    for (size_t i = 0; i < kEnds; ++i) out += segments_[i];
    absl::StrAppend(&out, "...(", segments_.size() - 2 * kEnds,
                    " more levels)...");
    for (size_t i = segments_.size() - kEnds; i < segments_.size(); ++i) {
      out += segments_[i];
    }
    return out;
  }

  absl::Status Error(absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(ToString(), ": ", message));
  }

 private:
  std::vector<std::string> segments_;
};

absl::StatusOr<Type> DecodeType(const federated_language::Type& proto,
                                int depth, ProtoPath& path);

// Decodes a child message under `segment`.
absl::StatusOr<Type> DecodeChild(const federated_language::Type& proto,
                                 int depth, ProtoPath& path,
                                 std::string segment) {
  path.Push(std::move(segment));
  absl::StatusOr<Type> t = DecodeType(proto, depth, path);
  if (t.ok()) path.Pop();
  return t;
}

absl::StatusOr<Placement> DecodePlacement(
    const federated_language::PlacementSpec& spec, ProtoPath& path) {
  using Spec = federated_language::PlacementSpec;
  switch (spec.placement_case()) {
    case Spec::kValue: {
      std::optional<Placement> p = PlacementFromUri(spec.value().uri());
      if (!p.has_value()) {
        path.Push(".federated.placement.value.uri");
        return path.Error(
            absl::StrCat("unknown placement uri '", spec.value().uri(), "'"));
      }
      return *p;
    }
    case Spec::kLabel: {
      std::optional<Placement> p = PlacementFromUri(spec.label().label());
      if (!p.has_value()) {
        path.Push(".federated.placement.label.label");
        return path.Error(absl::StrCat("unknown placement label '",
                                       spec.label().label(), "'"));
      }
      return *p;
    }
    case Spec::PLACEMENT_NOT_SET:
      break;
  }
  path.Push(".federated.placement");
  return path.Error("no placement set");
}

// `depth` is the type level of `proto` (1 at the root); recursion stops at
// kMaxNestingDepth + 1.
absl::StatusOr<Type> DecodeType(const federated_language::Type& proto,
                                int depth, ProtoPath& path) {
  using P = federated_language::Type;
  if (depth > kMaxNestingDepth) return path.Error(LimitMessage());
  switch (proto.type_case()) {
    case P::kTensor: {
      const auto& tensor = proto.tensor();
      int wire = static_cast<int>(tensor.dtype());
      if (!IsValidWireDType(wire)) {
        path.Push(".tensor.dtype");
        return path.Error(absl::StrCat("unknown dtype number ", wire));
      }
      DType dtype = static_cast<DType>(wire);
      for (int i = 0; i < tensor.dims_size(); ++i) {
        if (tensor.dims(i) < kUnknownDim) {
          path.Push(absl::StrCat(".tensor.dims[", i, "]"));
          return path.Error(absl::StrCat("invalid dimension ", tensor.dims(i)));
        }
      }
      if (tensor.unknown_rank()) {
        if (tensor.dims_size() > 0) {
          path.Push(".tensor");
          return path.Error(absl::StrCat("unknown_rank is set with ",
                                         tensor.dims_size(), " dims"));
        }
        return Type::TensorUnknownRank(dtype);
      }
      return Type::Tensor(dtype, std::vector<int64_t>(tensor.dims().begin(),
                                                      tensor.dims().end()));
    }
    case P::kStruct: {
      std::vector<StructElementType> elements;
      elements.reserve(proto.struct_().element_size());
      for (int i = 0; i < proto.struct_().element_size(); ++i) {
        const auto& e = proto.struct_().element(i);
        FEDEXEC_ASSIGN_OR_RETURN(
            Type t,
            DecodeChild(e.value(), depth + 1, path,
                        absl::StrCat(".struct.element[", i, "].value")));
        elements.push_back({e.name(), std::move(t)});
      }
      return Type::Struct(std::move(elements));
    }
    case P::kSequence: {
      FEDEXEC_ASSIGN_OR_RETURN(
          Type element, DecodeChild(proto.sequence().element(), depth + 1, path,
                                    ".sequence.element"));
      return Type::Sequence(std::move(element));
    }
    case P::kFunction: {
      const auto& f = proto.function();
      std::optional<Type> parameter;
      if (f.has_parameter()) {
        FEDEXEC_ASSIGN_OR_RETURN(
            parameter,
            DecodeChild(f.parameter(), depth + 1, path, ".function.parameter"));
      }
      FEDEXEC_ASSIGN_OR_RETURN(
          Type result,
          DecodeChild(f.result(), depth + 1, path, ".function.result"));
      return Type::Function(std::move(parameter), std::move(result));
    }
    case P::kFederated: {
      const auto& f = proto.federated();
      FEDEXEC_ASSIGN_OR_RETURN(Placement placement,
                               DecodePlacement(f.placement(), path));
      FEDEXEC_ASSIGN_OR_RETURN(
          Type member,
          DecodeChild(f.member(), depth + 1, path, ".federated.member"));
      return Type::Federated(std::move(member), placement, f.all_equal());
    }
    case P::kPlacement:
      return Type::PlacementType();
    case P::kAbstract:
      if (proto.abstract().label().empty()) {
        path.Push(".abstract.label");
        return path.Error("empty abstract type label");
      }
      return Type::Abstract(proto.abstract().label());
    case P::TYPE_NOT_SET:
      break;
  }
  return path.Error("no type kind set");
}

}  // namespace

absl::StatusOr<Type> TypeFromProto(const federated_language::Type& proto) {
  ProtoPath path;
  FEDEXEC_ASSIGN_OR_RETURN(Type type, DecodeType(proto, 1, path));
  absl::Status status = CheckWellFormed(type);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("type: ", status.message()));
  }
  return type;
}

void TypeToProto(const Type& type, federated_language::Type* proto) {
  // Top-down with a work list, so that any depth is safe.
  std::vector<std::pair<const Type*, federated_language::Type*>> work = {
      {&type, proto}};
  while (!work.empty()) {
    auto [t, p] = work.back();
    work.pop_back();
    p->Clear();
    switch (t->kind()) {
      case TypeKind::kTensor: {
        auto* tensor = p->mutable_tensor();
        tensor->set_dtype(
            static_cast<federated_language::DataType>(t->dtype()));
        for (int64_t d : t->dims()) tensor->add_dims(d);
        tensor->set_unknown_rank(t->unknown_rank());
        break;
      }
      case TypeKind::kStruct: {
        auto* s = p->mutable_struct_();
        for (const StructElementType& e : t->elements()) {
          auto* pe = s->add_element();
          pe->set_name(e.name);
          work.emplace_back(&e.type, pe->mutable_value());
        }
        break;
      }
      case TypeKind::kSequence:
        work.emplace_back(&t->element(),
                          p->mutable_sequence()->mutable_element());
        break;
      case TypeKind::kFunction: {
        auto* f = p->mutable_function();
        if (t->parameter() != nullptr) {
          work.emplace_back(t->parameter(), f->mutable_parameter());
        }
        work.emplace_back(&t->result(), f->mutable_result());
        break;
      }
      case TypeKind::kFederated: {
        auto* f = p->mutable_federated();
        f->mutable_placement()->mutable_value()->set_uri(
            std::string(PlacementUri(t->placement())));
        f->set_all_equal(t->all_equal());
        work.emplace_back(&t->member(), f->mutable_member());
        break;
      }
      case TypeKind::kPlacement:
        p->mutable_placement();
        break;
      case TypeKind::kAbstract:
        p->mutable_abstract()->set_label(t->label());
        break;
    }
  }
}

// ---------------------------------------------------------------- unification

bool ContainsAbstract(const Type& type) {
  return type.node_->contains_abstract;
}

namespace {

absl::Status Mismatch(const Type& pattern, const Type& actual) {
  return absl::InvalidArgumentError(absl::StrCat(
      "expected ", pattern.ToString(), ", found ", actual.ToString()));
}

absl::Status Bind(const Type& abstract, const Type& actual,
                  TypeBindings* bindings) {
  auto [it, inserted] = bindings->try_emplace(abstract.label(), actual);
  if (inserted) return absl::OkStatus();
  const Type& bound = it->second;
  if (IsAssignableFrom(bound, actual)) return absl::OkStatus();
  // The new type is more general: it accepts everything matched so far.
  if (IsAssignableFrom(actual, bound)) {
    it->second = actual;
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(abstract.label(), " bound to ",
                                                 bound.ToString(), " and ",
                                                 actual.ToString()));
}

// Recurses only through the parts of `pattern` that contain abstract types,
// so the depth is that of the pattern (an intrinsic signature).
absl::Status UnifyImpl(const Type& pattern, const Type& actual,
                       TypeBindings* bindings) {
  if (!ContainsAbstract(pattern)) {
    if (IsAssignableFrom(pattern, actual)) return absl::OkStatus();
    return Mismatch(pattern, actual);
  }
  if (pattern.kind() == TypeKind::kAbstract) {
    return Bind(pattern, actual, bindings);
  }
  if (pattern.kind() != actual.kind()) return Mismatch(pattern, actual);
  switch (pattern.kind()) {
    case TypeKind::kStruct: {
      const auto& pe = pattern.elements();
      const auto& ae = actual.elements();
      if (pe.size() != ae.size()) return Mismatch(pattern, actual);
      for (size_t i = 0; i < pe.size(); ++i) {
        if (!NamesAgree(pe[i].name, ae[i].name)) {
          return Mismatch(pattern, actual);
        }
      }
      for (size_t i = 0; i < pe.size(); ++i) {
        FEDEXEC_RETURN_IF_ERROR(UnifyImpl(pe[i].type, ae[i].type, bindings));
      }
      return absl::OkStatus();
    }
    case TypeKind::kSequence:
      return UnifyImpl(pattern.element(), actual.element(), bindings);
    case TypeKind::kFunction:
      if ((pattern.parameter() == nullptr) != (actual.parameter() == nullptr)) {
        return Mismatch(pattern, actual);
      }
      if (pattern.parameter() != nullptr) {
        FEDEXEC_RETURN_IF_ERROR(
            UnifyImpl(*pattern.parameter(), *actual.parameter(), bindings));
      }
      return UnifyImpl(pattern.result(), actual.result(), bindings);
    case TypeKind::kFederated:
      if (pattern.placement() != actual.placement() ||
          (pattern.all_equal() && !actual.all_equal())) {
        return Mismatch(pattern, actual);
      }
      return UnifyImpl(pattern.member(), actual.member(), bindings);
    default:
      // Leaves other than abstract types contain none.
      return Mismatch(pattern, actual);
  }
}

}  // namespace

absl::Status Unify(const Type& pattern, const Type& actual,
                   TypeBindings* bindings) {
  return UnifyImpl(pattern, actual, bindings);
}

Type Substitute(const Type& pattern, const TypeBindings& bindings) {
  if (!ContainsAbstract(pattern)) return pattern;
  switch (pattern.kind()) {
    case TypeKind::kAbstract: {
      auto it = bindings.find(pattern.label());
      return it == bindings.end() ? pattern : it->second;
    }
    case TypeKind::kStruct: {
      std::vector<StructElementType> elements;
      elements.reserve(pattern.elements().size());
      for (const StructElementType& e : pattern.elements()) {
        elements.push_back({e.name, Substitute(e.type, bindings)});
      }
      return Type::Struct(std::move(elements));
    }
    case TypeKind::kSequence:
      return Type::Sequence(Substitute(pattern.element(), bindings));
    case TypeKind::kFunction: {
      std::optional<Type> parameter;
      if (pattern.parameter() != nullptr) {
        parameter = Substitute(*pattern.parameter(), bindings);
      }
      return Type::Function(std::move(parameter),
                            Substitute(pattern.result(), bindings));
    }
    case TypeKind::kFederated:
      return Type::Federated(Substitute(pattern.member(), bindings),
                             pattern.placement(), pattern.all_equal());
    default:
      return pattern;
  }
}

}  // namespace fedexec::ir
