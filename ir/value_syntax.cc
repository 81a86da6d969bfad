// The value syntax (value_syntax.h): a recursive-descent parser over the
// shared lexer's tokens, reading tensor literals with the computation
// syntax's literal parser; an iterative printer; and the types of values.
//
// Bare file paths (`@dir/w.npy`) hold characters the lexer does not know
// ('/', '~', ...). Before tokenizing, each bare path is replaced by as many
// '_' bytes, which the lexer reads as one identifier at the same line and
// column, and the path is kept aside under that position.
#include "ir/value_syntax.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/large_stack.h"
#include "core/limits.h"
#include "core/npy.h"
#include "core/status.h"
#include "ir/lexer.h"
#include "ir/text_syntax.h"

namespace fedexec::ir {
namespace {

// PlacementName as the absl::string_view StrCat takes.
absl::string_view PName(Placement p) {
  const std::string_view name = PlacementName(p);
  return absl::string_view(name.data(), name.size());
}

absl::Status ErrorAt(const Token& token, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(Where(token), ": ", message));
}

// ------------------------------------------------------------ bare paths

using PathTable = std::map<std::pair<int, int>, std::string>;

// Characters that end a bare path.
bool EndsPath(char c) {
  switch (c) {
    case ' ':
    case '\t':
    case '\r':
    case '\n':
    case ',':
    case '<':
    case '>':
    case '[':
    case ']':
    case '{':
    case '}':
    case '(':
    case ')':
    case '@':
    case '"':
    case '`':
    case '#':
      return true;
    default:
      return false;
  }
}

// Replaces every bare path after a prefix '@' (one that starts a value: at
// the start or after one of , < [ { = ( ) by '_' bytes; records the paths
// by the line and column where they start.
std::string HidePaths(absl::string_view text, PathTable& paths) {
  std::string out(text);
  int line = 1;
  size_t line_start = 0;
  char prev = '\0';  // the last character outside blanks and comments
  for (size_t i = 0; i < out.size(); ++i) {
    const char c = out[i];
    if (c == '\n') {
      ++line;
      line_start = i + 1;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') continue;
    if (c == '#') {
      while (i + 1 < out.size() && out[i + 1] != '\n') ++i;
      continue;
    }
    if (c == '"' || c == '`') {
      // Skip the string or quoted name; the lexer reports a bad one.
      size_t j = i + 1;
      while (j < out.size() && out[j] != c && out[j] != '\n') {
        j += out[j] == '\\' ? 2 : 1;
      }
      if (j >= out.size() || out[j] == '\n') break;
      i = j;
      prev = c;
      continue;
    }
    const bool prefix = prev == '\0' || prev == ',' || prev == '<' ||
                        prev == '[' || prev == '{' || prev == '=' ||
                        prev == '(';
    prev = c;
    if (c != '@' || !prefix) continue;
    size_t end = i + 1;
    while (end < out.size() && !EndsPath(out[end])) ++end;
    if (end == i + 1) continue;
    const int column = static_cast<int>(i + 1 - line_start + 1);
    paths[{line, column}] = std::string(text.substr(i + 1, end - i - 1));
    for (size_t k = i + 1; k < end; ++k) out[k] = '_';
    prev = '_';
    i = end - 1;
  }
  return out;
}

// ------------------------------------------------------------ types

std::string KindText(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kTensor:
      return "a tensor";
    case Value::Kind::kStruct:
      return "a struct";
    case Value::Kind::kSequence:
      return "a sequence";
    case Value::Kind::kFederated:
      return "a federated value";
    case Value::Kind::kFunction:
      return "a function";
  }
  return "a value";
}

// The most specific type that both `a` and `b` have; nullopt if their
// difference is more than dims or rank.
std::optional<Type> Join(const Type& a, const Type& b) {
  if (a == b) return a;
  if (a.kind() != b.kind()) return std::nullopt;
  switch (a.kind()) {
    case TypeKind::kTensor: {
      if (a.dtype() != b.dtype()) return std::nullopt;
      if (a.unknown_rank() || b.unknown_rank() ||
          a.dims().size() != b.dims().size()) {
        return Type::TensorUnknownRank(a.dtype());
      }
      std::vector<int64_t> dims = a.dims();
      for (size_t i = 0; i < dims.size(); ++i) {
        if (dims[i] != b.dims()[i]) dims[i] = kUnknownDim;
      }
      return Type::Tensor(a.dtype(), std::move(dims));
    }
    case TypeKind::kStruct: {
      const auto& x = a.elements();
      const auto& y = b.elements();
      if (x.size() != y.size()) return std::nullopt;
      std::vector<StructElementType> elements;
      for (size_t i = 0; i < x.size(); ++i) {
        if (x[i].name != y[i].name) return std::nullopt;
        std::optional<Type> t = Join(x[i].type, y[i].type);
        if (!t.has_value()) return std::nullopt;
        elements.push_back({x[i].name, *std::move(t)});
      }
      return Type::Struct(std::move(elements));
    }
    case TypeKind::kSequence: {
      std::optional<Type> t = Join(a.element(), b.element());
      if (!t.has_value()) return std::nullopt;
      return Type::Sequence(*std::move(t));
    }
    case TypeKind::kFederated: {
      if (a.placement() != b.placement() || a.all_equal() != b.all_equal()) {
        return std::nullopt;
      }
      std::optional<Type> t = Join(a.member(), b.member());
      if (!t.has_value()) return std::nullopt;
      return Type::Federated(*std::move(t), a.placement(), a.all_equal());
    }
    default:
      return std::nullopt;
  }
}

absl::StatusOr<Type> TypeOf(const Value& value, int depth);

// The joined type of `values` (what: "sequence element", "member").
absl::StatusOr<Type> JoinedType(const std::vector<Value>& values,
                                absl::string_view what, int depth) {
  FEDEXEC_ASSIGN_OR_RETURN(Type joined, TypeOf(values[0], depth));
  for (size_t i = 1; i < values.size(); ++i) {
    FEDEXEC_ASSIGN_OR_RETURN(Type t, TypeOf(values[i], depth));
    std::optional<Type> j = Join(joined, t);
    if (!j.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " ", i, " has type ", t.ToString(),
          ", unlike the ones before it (", joined.ToString(), ")"));
    }
    joined = *std::move(j);
  }
  return joined;
}

absl::StatusOr<Type> TypeOf(const Value& value, int depth) {
  if (depth > kMaxNestingDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("value nested deeper than ", kMaxNestingDepth, " levels"));
  }
  switch (value.kind()) {
    case Value::Kind::kTensor: {
      const Tensor& t = value.tensor();
      if (!t.valid()) {
        return absl::InvalidArgumentError(
            "a default (invalid) tensor has no type");
      }
      return Type::Tensor(t.dtype(), t.shape());
    }
    case Value::Kind::kStruct: {
      std::vector<StructElementType> elements;
      for (const StructValue::Element& e : value.struct_value().elements) {
        FEDEXEC_ASSIGN_OR_RETURN(Type t, TypeOf(*e.value, depth + 1));
        elements.push_back({e.name, std::move(t)});
      }
      return Type::Struct(std::move(elements));
    }
    case Value::Kind::kSequence: {
      const auto& elements = value.sequence().elements;
      if (value.sequence().lazy != nullptr) {
        return absl::InvalidArgumentError(
            "a lazy sequence has no type until it is materialized");
      }
      if (elements.empty()) {
        return absl::InvalidArgumentError(
            "an empty sequence has no element type (parse it with "
            "its expected type)");
      }
      FEDEXEC_ASSIGN_OR_RETURN(
          Type element, JoinedType(elements, "sequence element", depth + 1));
      return Type::Sequence(std::move(element));
    }
    case Value::Kind::kFederated: {
      const FederatedValue& f = value.federated();
      const absl::string_view p = PName(f.placement);
      if (f.lazy != nullptr) {
        return absl::InvalidArgumentError(
            "lazy members have no type until they are materialized");
      }
      if (f.all_equal && f.members.size() != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("an all-equal value at ", p, " has ", f.members.size(),
                         " members, not 1"));
      }
      if (f.members.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("{}@", p,
                         " (no member) has no member type (parse it with "
                         "its expected type)"));
      }
      FEDEXEC_ASSIGN_OR_RETURN(Type member,
                               JoinedType(f.members, "member", depth + 1));
      return Type::Federated(std::move(member), f.placement, f.all_equal);
    }
    case Value::Kind::kFunction:
      return absl::InvalidArgumentError(
          "a function value has no type in the value syntax");
  }
  return absl::InternalError("unknown value kind");
}

bool TensorHasType(const Tensor& tensor, const Type& type) {
  if (type.kind() != TypeKind::kTensor || type.dtype() != tensor.dtype()) {
    return false;
  }
  if (type.unknown_rank()) return true;
  if (type.dims().size() != tensor.shape().size()) return false;
  for (size_t i = 0; i < type.dims().size(); ++i) {
    if (type.dims()[i] != kUnknownDim && type.dims()[i] != tensor.shape()[i]) {
      return false;
    }
  }
  return true;
}

// ------------------------------------------------------------ parser

// Where a value is: what it may not contain. (A federated value inside a
// federated one is noticed by counting the federated values built.)
struct Context {
  bool in_sequence = false;
};

class ValueParser {
 public:
  ValueParser(std::vector<Token> tokens, PathTable paths,
              const ValueSyntaxOptions& options)
      : cursor_(std::move(tokens)),
        paths_(std::move(paths)),
        options_(options) {}

  absl::StatusOr<Value> ParseAll(const Type* expected) {
    FEDEXEC_ASSIGN_OR_RETURN(Value v, Parse(expected, Context{}));
    if (!cursor_.AtEnd()) {
      return cursor_.ErrorHere("expected end of input after the value");
    }
    return v;
  }

 private:
  const Token& Peek(int ahead = 0) const { return cursor_.Peek(ahead); }

  absl::Status Expect(absl::string_view punct, absl::string_view context) {
    if (cursor_.Accept(punct)) return absl::OkStatus();
    return cursor_.ErrorHere(absl::StrCat("expected '", punct, "' ", context));
  }

  // "expected T, found F" at `at`.
  static absl::Status Mismatch(const Token& at, const Type& expected,
                               absl::string_view found) {
    return ErrorAt(
        at, absl::StrCat("expected ", expected.ToString(), ", found ", found));
  }

  // The value at the cursor and its optional `@P`. `expected` (null: any)
  // guides it.
  absl::StatusOr<Value> Parse(const Type* expected, Context context) {
    if (++depth_ > kMaxNestingDepth) {
      return cursor_.ErrorHere(
          absl::StrCat("nesting deeper than ", kMaxNestingDepth, " levels"));
    }
    absl::StatusOr<Value> v = ParsePlaced(expected, context);
    --depth_;
    return v;
  }

  absl::StatusOr<Value> ParsePlaced(const Type* expected, Context context) {
    const Token start = Peek();
    if (expected != nullptr && expected->kind() == TypeKind::kAbstract) {
      expected = nullptr;
    }
    if (expected != nullptr && (expected->kind() == TypeKind::kFunction ||
                                expected->kind() == TypeKind::kPlacement)) {
      return ErrorAt(start,
                     absl::StrCat("a value of type ", expected->ToString(),
                                  " cannot be written in text"));
    }
    const bool want_federated =
        expected != nullptr && expected->kind() == TypeKind::kFederated;
    const Type* member_expected =
        want_federated ? &expected->member() : expected;
    const bool per_member = Peek().Is("{");
    const int federated_before = federated_count_;
    std::vector<Value> members;
    Value primary;
    if (per_member) {
      FEDEXEC_ASSIGN_OR_RETURN(members, ParseMembers(member_expected, context));
    } else {
      FEDEXEC_ASSIGN_OR_RETURN(primary, ParsePrimary(member_expected, context));
    }
    if (!Peek().Is("@")) {
      if (per_member) {
        return cursor_.ErrorHere(
            "expected '@SERVER' or '@CLIENTS' after '}' ({v1, v2}@CLIENTS is "
            "one value per client)");
      }
      if (want_federated) {
        FEDEXEC_ASSIGN_OR_RETURN(std::string found, Describe(primary));
        return Mismatch(start, *expected,
                        absl::StrCat(found, " without a placement"));
      }
      return primary;
    }
    const Token at = cursor_.Next();  // @
    std::optional<Placement> placement;
    if (Peek().IsWord("SERVER")) placement = Placement::kServer;
    if (Peek().IsWord("CLIENTS")) placement = Placement::kClients;
    if (!placement.has_value()) {
      return cursor_.ErrorHere("expected SERVER or CLIENTS after '@'");
    }
    cursor_.Next();
    if (federated_count_ != federated_before) {
      return ErrorAt(at, "a federated value cannot hold a federated value");
    }
    ++federated_count_;
    if (context.in_sequence) {
      return ErrorAt(at, "a sequence cannot hold a federated value");
    }
    if (per_member && *placement == Placement::kServer && members.size() != 1) {
      return ErrorAt(start, absl::StrCat("{...}@SERVER holds one member (the "
                                         "server's), found ",
                                         members.size()));
    }
    if (!per_member) members.push_back(std::move(primary));
    Value v = Value::Federated(*placement, !per_member, std::move(members));
    if (expected != nullptr &&
        (!want_federated || expected->placement() != *placement ||
         expected->all_equal() != !per_member)) {
      FEDEXEC_ASSIGN_OR_RETURN(std::string found, Describe(v));
      if (want_federated && expected->placement() == *placement &&
          *placement == Placement::kClients) {
        absl::StrAppend(&found, per_member
                                    ? " (one value per client; an all-equal "
                                      "value is written v@CLIENTS)"
                                    : " (an all-equal value; one value per "
                                      "client is written {v1, v2}@CLIENTS)");
      }
      return Mismatch(start, *expected, found);
    }
    return v;
  }

  // How a parsed value is named in a mismatch: its type, else its kind.
  static absl::StatusOr<std::string> Describe(const Value& v) {
    absl::StatusOr<Type> t = TypeOf(v, 0);
    if (t.ok()) return t->ToString();
    if (v.is_federated()) {
      return absl::StrCat(v.federated().all_equal ? "an all-equal" : "a",
                          " value at ", PName(v.federated().placement));
    }
    return KindText(v);
  }

  // `{v1, ...}`: the members of a per-member federated value.
  absl::StatusOr<std::vector<Value>> ParseMembers(const Type* expected,
                                                  Context context) {
    cursor_.Next();  // {
    std::vector<Value> members;
    if (cursor_.Accept("}")) return members;
    while (true) {
      FEDEXEC_ASSIGN_OR_RETURN(Value m, Parse(expected, context));
      members.push_back(std::move(m));
      if (cursor_.Accept(",")) continue;
      FEDEXEC_RETURN_IF_ERROR(Expect("}", "or ',' after a member"));
      return members;
    }
  }

  absl::StatusOr<Value> ParsePrimary(const Type* expected, Context context) {
    const Token& t = Peek();
    if (t.Is("<")) return ParseStruct(expected, context);
    if (t.IsWord("seq") && Peek(1).Is("[")) {
      return ParseSequence(expected, context);
    }
    if (t.Is("@")) return ParseFile(expected);
    const bool literal = t.kind == TokenKind::kInteger ||
                         t.kind == TokenKind::kFloat ||
                         t.kind == TokenKind::kString || t.Is("-") ||
                         t.Is("[") || t.IsWord("true") || t.IsWord("false") ||
                         t.IsWord("nan") || t.IsWord("inf") ||
                         (t.kind == TokenKind::kIdentifier && !t.quoted &&
                          DTypeFromName(t.text).has_value());
    if (!literal) {
      return cursor_.ErrorHere(
          "expected a value (a tensor literal, <...>, seq[...], "
          "{...}@CLIENTS or @file)");
    }
    TensorLiteralOptions options;
    options.depth = depth_;
    if (expected != nullptr) options.expected = *expected;
    FEDEXEC_ASSIGN_OR_RETURN(Tensor tensor,
                             ParseTensorLiteralAt(cursor_, options));
    return Value(std::move(tensor));
  }

  absl::StatusOr<Value> ParseStruct(const Type* expected, Context context) {
    const Token start = cursor_.Next();  // <
    if (expected != nullptr && expected->kind() != TypeKind::kStruct) {
      return Mismatch(start, *expected, "a struct");
    }
    const std::vector<StructElementType>* want =
        expected != nullptr ? &expected->elements() : nullptr;
    std::vector<std::pair<std::string, Value>> elements;
    if (!cursor_.Accept(">")) {
      while (true) {
        std::string name;
        const Token name_token = Peek();
        const size_t index = elements.size();
        if (name_token.kind == TokenKind::kIdentifier && Peek(1).Is("=")) {
          name = name_token.text;
          for (const auto& e : elements) {
            if (e.first == name) {
              return ErrorAt(name_token, absl::StrCat("duplicate name '", name,
                                                      "' in a struct"));
            }
          }
          cursor_.Next();
          cursor_.Next();
        }
        const Type* element_type = nullptr;
        if (want != nullptr) {
          if (index >= want->size()) {
            return ErrorAt(name_token,
                           absl::StrCat("expected ", expected->ToString(),
                                        ", found a struct of more than ",
                                        want->size(), " elements"));
          }
          // Names must agree only where both sides name the element (the
          // rule of federated_language); an unnamed element takes the
          // declared name.
          const std::string& want_name = (*want)[index].name;
          if (name.empty()) {
            name = want_name;
          } else if (!want_name.empty() && want_name != name) {
            return ErrorAt(name_token,
                           absl::StrCat("expected element ", index, " of ",
                                        expected->ToString(), " to be named '",
                                        want_name, "', found '", name, "'"));
          }
          element_type = &(*want)[index].type;
        }
        FEDEXEC_ASSIGN_OR_RETURN(Value v, Parse(element_type, context));
        elements.emplace_back(std::move(name), std::move(v));
        if (cursor_.Accept(",")) continue;
        FEDEXEC_RETURN_IF_ERROR(Expect(">", "or ',' after a struct element"));
        break;
      }
    }
    if (want != nullptr && elements.size() != want->size()) {
      return Mismatch(
          start, *expected,
          absl::StrCat("a struct of ", elements.size(),
                       elements.size() == 1 ? " element" : " elements"));
    }
    return Value::Struct(std::move(elements));
  }

  absl::StatusOr<Value> ParseSequence(const Type* expected, Context context) {
    const Token start = Peek();
    if (context.in_sequence) {
      return ErrorAt(start, "a sequence cannot hold a sequence");
    }
    if (expected != nullptr && expected->kind() != TypeKind::kSequence) {
      return Mismatch(start, *expected, "a sequence");
    }
    cursor_.Next();  // seq
    cursor_.Next();  // [
    const Type* element = expected != nullptr ? &expected->element() : nullptr;
    context.in_sequence = true;
    std::vector<Value> elements;
    if (!cursor_.Accept("]")) {
      while (true) {
        FEDEXEC_ASSIGN_OR_RETURN(Value v, Parse(element, context));
        elements.push_back(std::move(v));
        if (cursor_.Accept(",")) continue;
        FEDEXEC_RETURN_IF_ERROR(Expect("]", "or ',' after a sequence element"));
        break;
      }
    }
    return Value::Sequence(std::move(elements));
  }

  absl::StatusOr<Value> ParseFile(const Type* expected) {
    const Token at = cursor_.Next();  // @
    const Token& t = Peek();
    std::string path;
    if (t.kind == TokenKind::kString) {
      path = t.text;
    } else if (auto it = paths_.find({t.line, t.column});
               t.kind == TokenKind::kIdentifier && !t.quoted &&
               it != paths_.end()) {
      path = it->second;
    } else {
      return cursor_.ErrorHere(
          "expected a file path after '@' (quote a path holding blanks or "
          "any of ,<>[]{}()@\"`#: @\"my file.npy\")");
    }
    if (!options_.allow_files) {
      return ErrorAt(at, "file references (@path) are not allowed here");
    }
    if (path.empty()) return ErrorAt(t, "empty file path");
    cursor_.Next();
    std::filesystem::path full(path);
    if (full.is_relative() && !options_.base_dir.empty()) {
      full = std::filesystem::path(options_.base_dir) / full;
    }
    absl::StatusOr<Tensor> tensor = ReadNpyFile(full.string());
    if (!tensor.ok()) {
      return absl::Status(
          tensor.status().code(),
          absl::StrCat(Where(at), ": ", tensor.status().message()));
    }
    if (expected != nullptr && !TensorHasType(*tensor, *expected)) {
      return Mismatch(
          at, *expected,
          absl::StrCat(tensor->TypeString(), " in ", full.string()));
    }
    return Value(*std::move(tensor));
  }

  TokenCursor cursor_;
  PathTable paths_;
  const ValueSyntaxOptions& options_;
  int depth_ = 0;
  int federated_count_ = 0;  // federated values built so far
};

absl::StatusOr<Value> Parse(absl::string_view text, const Type* expected,
                            const ValueSyntaxOptions& options) {
  PathTable paths;
  const std::string hidden = HidePaths(text, paths);
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(hidden));
  // Nesting is bounded by the number of tokens; deep input is parsed on a
  // stack of its own.
  const size_t bound = tokens.size();
  return CallWithStackFor(bound, [&]() -> absl::StatusOr<Value> {
    ValueParser parser(std::move(tokens), std::move(paths), options);
    return parser.ParseAll(expected);
  });
}

// ------------------------------------------------------------ printer

std::string NameText(const std::string& name) {
  if (IsPlainIdentifier(name) && !IsReservedWord(name)) return name;
  return QuoteIdentifier(name);
}

}  // namespace

absl::StatusOr<Value> ParseValue(absl::string_view text,
                                 const ValueSyntaxOptions& options) {
  return Parse(text, nullptr, options);
}

absl::StatusOr<Value> ParseValueAs(absl::string_view text, const Type& expected,
                                   const ValueSyntaxOptions& options) {
  return Parse(text, &expected, options);
}

std::string PrintValue(const Value& value) {
  // Work items, last first: a value to print or text to append.
  struct Work {
    const Value* value;
    std::string text;
  };
  std::string out;
  std::vector<Work> stack;
  stack.push_back({&value, {}});
  while (!stack.empty()) {
    Work w = std::move(stack.back());
    stack.pop_back();
    if (w.value == nullptr) {
      out += w.text;
      continue;
    }
    const Value& v = *w.value;
    switch (v.kind()) {
      case Value::Kind::kTensor:
        out += PrintTensorLiteral(v.tensor());
        break;
      case Value::Kind::kStruct: {
        const auto& elements = v.struct_value().elements;
        out += '<';
        stack.push_back({nullptr, ">"});
        for (size_t i = elements.size(); i-- > 0;) {
          stack.push_back({elements[i].value.get(), {}});
          std::string prefix = i > 0 ? ", " : "";
          if (!elements[i].name.empty()) {
            absl::StrAppend(&prefix, NameText(elements[i].name), "=");
          }
          if (!prefix.empty()) stack.push_back({nullptr, std::move(prefix)});
        }
        break;
      }
      case Value::Kind::kSequence: {
        const auto& elements = v.sequence().elements;
        out += "seq[";
        stack.push_back({nullptr, "]"});
        for (size_t i = elements.size(); i-- > 0;) {
          stack.push_back({&elements[i], {}});
          if (i > 0) stack.push_back({nullptr, ", "});
        }
        break;
      }
      case Value::Kind::kFederated: {
        const FederatedValue& f = v.federated();
        const std::string suffix = absl::StrCat("@", PName(f.placement));
        if (f.all_equal) {
          if (f.members.size() != 1) {
            out += "invalid";
            break;
          }
          stack.push_back({nullptr, suffix});
          stack.push_back({&f.members[0], {}});
          break;
        }
        out += '{';
        stack.push_back({nullptr, "}" + suffix});
        for (size_t i = f.members.size(); i-- > 0;) {
          stack.push_back({&f.members[i], {}});
          if (i > 0) stack.push_back({nullptr, ", "});
        }
        break;
      }
      case Value::Kind::kFunction:
        // Not part of the value syntax: executors never hand functions out.
        out += "function";
        break;
    }
  }
  return out;
}

absl::StatusOr<Type> ValueTypeOf(const Value& value) {
  return TypeOf(value, 0);
}

namespace {

// The expanded value, or nothing when `value` needs no change (so that
// structs without such parts are not rebuilt).
std::optional<Value> Expanded(const Value& value, const Type& type,
                              int64_t num_clients) {
  if (type.kind() == TypeKind::kFederated && value.is_federated()) {
    const FederatedValue& f = value.federated();
    if (type.all_equal() || !f.all_equal || f.members.size() != 1) {
      return std::nullopt;
    }
    const int64_t count = f.placement == Placement::kClients
                              ? std::max<int64_t>(num_clients, 0)
                              : 1;
    return Value::Federated(
        f.placement, false,
        std::vector<Value>(static_cast<size_t>(count), f.members[0]));
  }
  if (type.kind() != TypeKind::kStruct || !value.is_struct()) {
    return std::nullopt;
  }
  const std::vector<StructValue::Element>& elements =
      value.struct_value().elements;
  const std::vector<StructElementType>& types = type.elements();
  if (elements.size() != types.size()) return std::nullopt;
  std::vector<std::optional<Value>> parts(elements.size());
  bool changed = false;
  for (size_t i = 0; i < elements.size(); ++i) {
    parts[i] = Expanded(*elements[i].value, types[i].type, num_clients);
    changed = changed || parts[i].has_value();
  }
  if (!changed) return std::nullopt;
  std::vector<std::pair<std::string, Value>> out;
  out.reserve(elements.size());
  for (size_t i = 0; i < elements.size(); ++i) {
    out.emplace_back(elements[i].name, parts[i].has_value()
                                           ? *std::move(parts[i])
                                           : *elements[i].value);
  }
  return Value::Struct(std::move(out));
}

}  // namespace

Value ExpandAllEqual(const Value& value, const Type& type,
                     int64_t num_clients) {
  std::optional<Value> expanded = Expanded(value, type, num_clients);
  return expanded.has_value() ? *std::move(expanded) : value;
}

}  // namespace fedexec::ir
