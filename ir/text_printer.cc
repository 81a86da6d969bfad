// The canonical printer of fedexec's text syntax (docs/syntax.md).
//
// The AST becomes a document of text, line breaks, nesting and groups; a
// group is printed on one line when it fits in kWidth columns, else its line
// breaks become newlines (a small Wadler-style layout). Comments force the
// groups around them to break. Both the AST walk and the layout use explicit
// work lists, so no input depth can overflow the stack.
#include <charconv>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "ir/lexer.h"
#include "ir/text_syntax.h"

namespace fedexec::ir {
namespace {

constexpr int kWidth = 80;
constexpr int kIndent = 2;
constexpr int kInfinite = 1 << 29;

// ------------------------------------------------------------ documents

enum class DocKind {
  kText,
  kLine,      // a space, or a newline when its group breaks
  kSoftLine,  // nothing, or a newline when its group breaks
  kComment,   // "#text" on a line of its own
  kNest,      // its child, indented one more level after newlines
  kGroup,     // its child on one line if it fits, else broken
  kConcat,
  kFill,  // texts separated by ", ", wrapped as needed when broken
};

struct Doc {
  DocKind kind;
  std::string text;                // kText, kComment
  std::vector<int> children;       // kNest, kGroup: one; kConcat: any
  std::vector<std::string> items;  // kFill
  int flat_width = 0;  // width on one line, kInfinite if it cannot be
};

int TextWidth(absl::string_view s) {
  int w = 0;
  for (char c : s) w += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return w;
}

int AddWidths(int a, int b) { return std::min(kInfinite, a + b); }

class Layout {
 public:
  int Text(std::string text) {
    int w = TextWidth(text);
    return Add({DocKind::kText, std::move(text), {}, {}, w});
  }
  int Line() { return Add({DocKind::kLine, "", {}, {}, 1}); }
  int SoftLine() { return Add({DocKind::kSoftLine, "", {}, {}, 0}); }
  int Comment(std::string text) {
    return Add({DocKind::kComment, std::move(text), {}, {}, kInfinite});
  }
  int Nest(int child) {
    return Add({DocKind::kNest, "", {child}, {}, docs_[child].flat_width});
  }
  int Group(int child) {
    return Add({DocKind::kGroup, "", {child}, {}, docs_[child].flat_width});
  }
  int Concat(std::vector<int> children) {
    int w = 0;
    for (int c : children) w = AddWidths(w, docs_[c].flat_width);
    return Add({DocKind::kConcat, "", std::move(children), {}, w});
  }
  int Fill(std::vector<std::string> items) {
    int w = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      w = AddWidths(w, TextWidth(items[i]) + (i > 0 ? 2 : 0));
    }
    return Add({DocKind::kFill, "", {}, std::move(items), w});
  }
  // Comment lines, each on its own line.
  int Comments(const std::vector<std::string>& comments) {
    std::vector<int> parts;
    for (const std::string& c : comments) {
      // A comment from code may hold newlines; each line stays a comment.
      for (absl::string_view line : absl::StrSplit(c, '\n')) {
        parts.push_back(Comment(std::string(line)));
      }
    }
    return Concat(std::move(parts));
  }

  // Lays out `root` starting at column 0.
  std::string Render(int root) {
    out_.clear();
    stack_.clear();
    col_ = 0;
    line_has_text_ = false;
    need_newline_ = false;
    pending_indent_ = 0;
    stack_.push_back({0, false, root});
    while (!stack_.empty()) {
      Cmd cmd = stack_.back();
      stack_.pop_back();
      const Doc& doc = docs_[cmd.doc];
      switch (doc.kind) {
        case DocKind::kText:
          Emit(doc.text, cmd.indent);
          break;
        case DocKind::kLine:
        case DocKind::kSoftLine:
          if (!cmd.flat) {
            Newline(cmd.indent);
          } else if (doc.kind == DocKind::kLine && !need_newline_) {
            Emit(" ", cmd.indent);
          }
          break;
        case DocKind::kComment:
          if (line_has_text_ || need_newline_) Newline(cmd.indent);
          Emit("#" + doc.text, cmd.indent);
          need_newline_ = true;
          break;
        case DocKind::kNest:
          stack_.push_back({cmd.indent + kIndent, cmd.flat, doc.children[0]});
          break;
        case DocKind::kGroup: {
          bool flat = cmd.flat;
          if (!flat && doc.flat_width < kInfinite) {
            flat = Fits(kWidth - CurrentColumn(cmd.indent),
                        {cmd.indent, true, doc.children[0]});
          }
          stack_.push_back({cmd.indent, flat, doc.children[0]});
          break;
        }
        case DocKind::kConcat:
          for (auto it = doc.children.rbegin(); it != doc.children.rend();
               ++it) {
            stack_.push_back({cmd.indent, cmd.flat, *it});
          }
          break;
        case DocKind::kFill:
          for (size_t i = 0; i < doc.items.size(); ++i) {
            const std::string& item = doc.items[i];
            if (i > 0) {
              Emit(",", cmd.indent);
              // Keep one column for the ',' or bracket after the item.
              if (cmd.flat || col_ + 1 + TextWidth(item) + 1 <= kWidth) {
                Emit(" ", cmd.indent);
              } else {
                Newline(cmd.indent);
              }
            }
            Emit(item, cmd.indent);
          }
          break;
      }
    }
    TrimTrailingSpaces();
    return out_;
  }

 private:
  struct Cmd {
    int indent;
    bool flat;
    int doc;
  };

  int Add(Doc doc) {
    docs_.push_back(std::move(doc));
    return static_cast<int>(docs_.size()) - 1;
  }

  int CurrentColumn(int indent) const {
    if (need_newline_) return indent;
    return line_has_text_ ? col_ : pending_indent_;
  }

  void TrimTrailingSpaces() {
    while (!out_.empty() && out_.back() == ' ') out_.pop_back();
  }
  void Newline(int indent) {
    TrimTrailingSpaces();
    out_ += '\n';
    col_ = 0;
    line_has_text_ = false;
    need_newline_ = false;
    pending_indent_ = indent;
  }
  void Emit(absl::string_view text, int indent) {
    if (need_newline_) Newline(indent);
    if (!line_has_text_) {
      out_.append(pending_indent_, ' ');
      col_ = pending_indent_;
      line_has_text_ = true;
    }
    out_.append(text.data(), text.size());
    col_ += TextWidth(text);
  }

  // Whether `first` printed flat, and what follows it up to the next
  // possible line break, fits in `remaining` columns.
  bool Fits(int remaining, Cmd first) const {
    std::vector<Cmd> local = {first};
    size_t rest = stack_.size();
    while (remaining >= 0) {
      Cmd cmd;
      if (!local.empty()) {
        cmd = local.back();
        local.pop_back();
      } else if (rest > 0) {
        cmd = stack_[--rest];
      } else {
        return true;
      }
      const Doc& doc = docs_[cmd.doc];
      switch (doc.kind) {
        case DocKind::kText:
          remaining -= doc.flat_width;
          break;
        case DocKind::kLine:
        case DocKind::kSoftLine:
          if (!cmd.flat) return true;
          remaining -= doc.flat_width;
          break;
        case DocKind::kComment:
          return true;
        case DocKind::kNest:
        case DocKind::kGroup:
          local.push_back({cmd.indent, cmd.flat, doc.children[0]});
          break;
        case DocKind::kConcat:
          for (auto it = doc.children.rbegin(); it != doc.children.rend();
               ++it) {
            local.push_back({cmd.indent, cmd.flat, *it});
          }
          break;
        case DocKind::kFill:
          if (cmd.flat || doc.items.empty()) {
            remaining -= doc.flat_width;
          } else {
            return remaining - TextWidth(doc.items[0]) >= 0;
          }
          break;
      }
    }
    return false;
  }

  std::vector<Doc> docs_;
  std::vector<Cmd> stack_;
  std::string out_;
  int col_ = 0;
  bool line_has_text_ = false;
  bool need_newline_ = false;  // a comment ended the line's content
  int pending_indent_ = 0;     // indentation of the line being started
};

// ------------------------------------------------------------ literals

// The fraction-bit mask and quiet bit of a float's bit pattern.
template <typename F>
std::string FloatText(F value) {
  if (std::isnan(value)) {
    using Bits = std::conditional_t<sizeof(F) == 4, uint32_t, uint64_t>;
    constexpr int kMantissa = sizeof(F) == 4 ? 23 : 52;
    Bits bits;
    std::memcpy(&bits, &value, sizeof(bits));
    Bits fraction = bits & ((Bits{1} << kMantissa) - 1);
    std::string out = std::signbit(value) ? "-nan" : "nan";
    if (fraction != Bits{1} << (kMantissa - 1)) {
      absl::StrAppend(&out, "(", fraction, ")");
    }
    return out;
  }
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), value);
  std::string out(buf, r.ptr);
  if (out.find_first_of(".e") == std::string::npos) out += ".0";
  return out;
}

// A 16-bit float pattern (float16: 5 exponent bits, 10 fraction bits;
// bfloat16: 8 and 7) as text of its exact value.
std::string SmallFloatText(uint16_t bits, int ebits, int mbits) {
  const bool negative = (bits >> (ebits + mbits)) & 1;
  const int exp = (bits >> mbits) & ((1 << ebits) - 1);
  const uint32_t fraction = bits & ((1u << mbits) - 1);
  const int bias = (1 << (ebits - 1)) - 1;
  if (exp == (1 << ebits) - 1) {
    if (fraction == 0) return negative ? "-inf" : "inf";
    std::string out = negative ? "-nan" : "nan";
    if (fraction != 1u << (mbits - 1))
      absl::StrAppend(&out, "(", fraction, ")");
    return out;
  }
  double value =
      exp == 0 ? std::ldexp(static_cast<double>(fraction), 1 - bias - mbits)
               : std::ldexp(static_cast<double>(fraction | (1u << mbits)),
                            exp - bias - mbits);
  return FloatText(negative ? -value : value);
}

// The elements of a tensor as literal texts (two per complex element).
std::vector<std::string> ElementTexts(const Tensor& t) {
  std::vector<std::string> out;
  if (t.dtype() == DType::kString) {
    for (const std::string& s : t.strings()) out.push_back(QuoteString(s));
    return out;
  }
  VisitDType(t.dtype(), [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_same_v<T, std::string>) {
      return;
    } else {
      for (const T& v : t.data<T>()) {
        if constexpr (std::is_same_v<T, bool>) {
          out.push_back(v ? "true" : "false");
        } else if constexpr (std::is_same_v<T, float> ||
                             std::is_same_v<T, double>) {
          out.push_back(FloatText(v));
        } else if constexpr (std::is_same_v<T, Float16>) {
          out.push_back(SmallFloatText(v.bits, 5, 10));
        } else if constexpr (std::is_same_v<T, BFloat16>) {
          out.push_back(SmallFloatText(v.bits, 8, 7));
        } else if constexpr (std::is_same_v<T, std::complex<float>> ||
                             std::is_same_v<T, std::complex<double>>) {
          out.push_back(FloatText(v.real()));
          out.push_back(FloatText(v.imag()));
        } else {
          out.push_back(absl::StrCat(v));
        }
      }
    }
  });
  return out;
}

std::string DimsText(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

// "[" items "]", broken with each item on its own line.
int BracketDoc(Layout& l, absl::string_view open, const std::vector<int>& items,
               absl::string_view close) {
  std::vector<int> inner = {l.SoftLine()};
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) {
      inner.push_back(l.Text(","));
      inner.push_back(l.Line());
    }
    inner.push_back(items[i]);
  }
  return l.Group(l.Concat({l.Text(std::string(open)), l.Nest(l.Concat(inner)),
                           l.SoftLine(), l.Text(std::string(close))}));
}

// A flat list of texts, "[" and "]" around a fill.
int FlatListDoc(Layout& l, std::vector<std::string> items) {
  return l.Group(l.Concat(
      {l.Text("["), l.Nest(l.Concat({l.SoftLine(), l.Fill(std::move(items))})),
       l.SoftLine(), l.Text("]")}));
}

int TensorDoc(Layout& l, const Tensor& t) {
  if (!t.valid()) return l.Text("invalid");
  const DType dtype = t.dtype();
  const std::string name(DTypeName(dtype));
  if (t.num_elements() == 0) {
    return l.Text(absl::StrCat(name, DimsText(t.shape()), "([])"));
  }
  std::vector<std::string> texts = ElementTexts(t);
  if (IsComplex(dtype)) {
    std::string prefix = t.rank() > 0 ? name + DimsText(t.shape()) : name;
    return l.Concat(
        {l.Text(prefix + "("), FlatListDoc(l, std::move(texts)), l.Text(")")});
  }
  const bool implicit = dtype == DType::kInt32 || dtype == DType::kFloat32 ||
                        dtype == DType::kBool || dtype == DType::kString;
  int value;
  if (t.rank() == 0) {
    value = l.Text(texts[0]);
  } else {
    // Innermost lists first, then each outer level from the ones inside it.
    const std::vector<int64_t>& shape = t.shape();
    std::vector<int> level;
    const size_t inner = static_cast<size_t>(shape.back());
    for (size_t i = 0; i < texts.size(); i += inner) {
      level.push_back(
          FlatListDoc(l, std::vector<std::string>(texts.begin() + i,
                                                  texts.begin() + i + inner)));
    }
    for (int d = t.rank() - 2; d >= 0; --d) {
      std::vector<int> outer;
      const size_t n = static_cast<size_t>(shape[d]);
      for (size_t i = 0; i < level.size(); i += n) {
        outer.push_back(BracketDoc(
            l, "[", std::vector<int>(level.begin() + i, level.begin() + i + n),
            "]"));
      }
      level = std::move(outer);
    }
    value = level[0];
  }
  if (implicit) return value;
  return l.Concat({l.Text(name + "("), value, l.Text(")")});
}

// ------------------------------------------------------------ the AST

std::string NameText(const std::string& name) {
  return IsPlainIdentifier(name) && !IsReservedWord(name)
             ? name
             : QuoteIdentifier(name);
}

std::string TypeText(const Node& node) {
  // A node that needs a type and has none cannot be printed faithfully;
  // '?' makes the text fail to parse instead of meaning something else.
  return node.type().has_value() ? node.type()->ToString() : "?";
}

class Printer {
 public:
  int Build(const NodePtr& root) {
    // Post-order over the tree: each node's pieces are built from its
    // children's, which are done first.
    std::vector<std::pair<const Node*, bool>> work = {{root.get(), false}};
    while (!work.empty()) {
      auto [node, expanded] = work.back();
      work.pop_back();
      if (done_.count(node)) continue;
      if (!expanded) {
        work.push_back({node, true});
        ForEachChild(*node, [&](const NodePtr& child) {
          if (!done_.count(child.get())) work.push_back({child.get(), false});
        });
        continue;
      }
      done_[node] = Make(*node);
    }
    const Pieces& p = done_.at(root.get());
    return l_.Concat({l_.Comments(p.lead), p.core, l_.Comments(p.trail)});
  }

  Layout& layout() { return l_; }

 private:
  // A node's document without the comments that belong at its edges:
  // `lead` goes before the whole node (it also holds the leading comments of
  // a child that starts where the node starts), `trail` after it (it also
  // holds those of a lambda's body or a block's result, which end where the
  // node ends).
  struct Pieces {
    int core;
    std::vector<std::string> lead;
    std::vector<std::string> trail;
  };

  const Pieces& Of(const NodePtr& node) { return done_.at(node.get()); }

  static std::vector<std::string> Join(std::vector<std::string> a,
                                       const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }

  // A child at the start of its parent (called function, selection
  // source): its lead is hoisted by the caller.
  int Head(const NodePtr& child, bool function_position) {
    const Pieces& p = Of(child);
    if (function_position && child->Is<IntrinsicNode>()) {
      return l_.Concat(
          {l_.Text(child->As<IntrinsicNode>().uri), l_.Comments(p.trail)});
    }
    if (child->Is<LambdaNode>() || child->Is<BlockNode>()) {
      return l_.Concat(
          {l_.Text("("), p.core, l_.Comments(p.trail), l_.Text(")")});
    }
    return l_.Concat({p.core, l_.Comments(p.trail)});
  }

  // `open e1, name=e2 close`. The trailing comments of an element that is
  // not the last go after its ','.
  int Elements(absl::string_view open, const std::vector<NamedNode>& elements,
               absl::string_view close) {
    if (elements.empty()) return l_.Text(absl::StrCat(open, close));
    std::vector<int> items;
    for (size_t i = 0; i < elements.size(); ++i) {
      const Pieces& p = Of(elements[i].value);
      std::vector<int> parts = {l_.Comments(p.lead)};
      if (!elements[i].name.empty()) {
        parts.push_back(l_.Text(NameText(elements[i].name) + "="));
      }
      parts.push_back(p.core);
      if (i + 1 == elements.size()) parts.push_back(l_.Comments(p.trail));
      items.push_back(l_.Concat(std::move(parts)));
    }
    std::vector<int> inner = {l_.SoftLine()};
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) {
        inner.push_back(l_.Text(","));
        inner.push_back(l_.Comments(Of(elements[i - 1].value).trail));
        inner.push_back(l_.Line());
      }
      inner.push_back(items[i]);
    }
    return l_.Group(l_.Concat({l_.Text(std::string(open)),
                               l_.Nest(l_.Concat(std::move(inner))),
                               l_.SoftLine(), l_.Text(std::string(close))}));
  }

  Pieces Make(const Node& node) {
    Pieces p;
    p.lead = node.comments();
    p.trail = node.trailing_comments();
    std::visit(
        [&](const auto& n) {
          using N = std::decay_t<decltype(n)>;
          if constexpr (std::is_same_v<N, LiteralNode>) {
            p.core = TensorDoc(l_, n.value);
          } else if constexpr (std::is_same_v<N, DataNode>) {
            std::vector<int> args = {l_.Text(QuoteString(n.uri)),
                                     l_.Text(TypeText(node))};
            if (!n.content_type_url.empty() || !n.content_value.empty()) {
              args.push_back(l_.Text(QuoteString(n.content_type_url)));
              args.push_back(l_.Text(QuoteString(n.content_value)));
            }
            p.core = BracketDoc(l_, "data(", args, ")");
          } else if constexpr (std::is_same_v<N, ReferenceNode>) {
            p.core = l_.Text(NameText(n.name));
          } else if constexpr (std::is_same_v<N, LambdaNode>) {
            const Pieces& body = Of(n.result);
            std::string header =
                n.parameter_name.empty()
                    ? "() ->"
                    : absl::StrCat("(", NameText(n.parameter_name), ": ",
                                   n.parameter_type.has_value()
                                       ? n.parameter_type->ToString()
                                       : "?",
                                   ") ->");
            p.core = l_.Group(
                l_.Concat({l_.Text(header),
                           l_.Nest(l_.Concat({l_.Line(), l_.Comments(body.lead),
                                              body.core}))}));
            p.trail = Join(body.trail, p.trail);
          } else if constexpr (std::is_same_v<N, BlockNode>) {
            std::vector<int> inner;
            for (size_t i = 0; i < n.locals.size(); ++i) {
              const Pieces& v = Of(n.locals[i].value);
              if (i > 0) inner.push_back(l_.Text(","));
              if (i > 0) {
                inner.push_back(l_.Comments(Of(n.locals[i - 1].value).trail));
              }
              inner.push_back(l_.Line());
              inner.push_back(l_.Comments(v.lead));
              inner.push_back(
                  l_.Text(absl::StrCat(NameText(n.locals[i].name), " = ")));
              inner.push_back(v.core);
            }
            if (!n.locals.empty()) {
              inner.push_back(l_.Comments(Of(n.locals.back().value).trail));
            }
            const Pieces& result = Of(n.result);
            int result_doc = result.lead.empty()
                                 ? l_.Concat({l_.Text(" "), result.core})
                                 : l_.Nest(l_.Concat({l_.Comments(result.lead),
                                                      result.core}));
            p.core = l_.Group(
                l_.Concat({l_.Text("let"), l_.Nest(l_.Concat(std::move(inner))),
                           l_.Line(), l_.Text("in"), result_doc}));
            p.trail = Join(result.trail, p.trail);
          } else if constexpr (std::is_same_v<N, CallNode>) {
            p.lead = Join(p.lead, Of(n.function).lead);
            int function = Head(n.function, /*function_position=*/true);
            int args;
            if (!n.argument) {
              args = l_.Text("()");
            } else if (n.argument->template Is<StructNode>() &&
                       n.argument->template As<StructNode>().elements.size() >=
                           2 &&
                       n.argument->comments().empty() &&
                       n.argument->trailing_comments().empty()) {
              args = Elements(
                  "(", n.argument->template As<StructNode>().elements, ")");
            } else {
              args = Elements("(", {NamedNode{"", n.argument}}, ")");
            }
            p.core = l_.Concat({function, args});
          } else if constexpr (std::is_same_v<N, StructNode>) {
            p.core = Elements("<", n.elements, ">");
          } else if constexpr (std::is_same_v<N, SelectionNode>) {
            p.lead = Join(p.lead, Of(n.source).lead);
            int source = Head(n.source, /*function_position=*/false);
            std::string suffix = !n.name.empty()
                                     ? "." + NameText(n.name)
                                     : absl::StrCat("[", n.index, "]");
            p.core = l_.Concat({source, l_.Text(suffix)});
          } else if constexpr (std::is_same_v<N, IntrinsicNode>) {
            p.core = node.type().has_value()
                         ? l_.Text(absl::StrCat("(", n.uri, " : ",
                                                node.type()->ToString(), ")"))
                         : l_.Text(n.uri);
          } else if constexpr (std::is_same_v<N, PlacementNode>) {
            p.core = l_.Text(std::string(PlacementName(n.placement)));
          } else if constexpr (std::is_same_v<N, NativeNode>) {
            p.core = BracketDoc(
                l_, "native(",
                {l_.Text(QuoteString(n.name)), l_.Text(TypeText(node))}, ")");
          } else if constexpr (std::is_same_v<N, TorchScriptNode>) {
            p.core = BracketDoc(
                l_, "torchscript(",
                {l_.Text(QuoteString(n.method)), l_.Text(QuoteString(n.module)),
                 l_.Text(TypeText(node))},
                ")");
          }
        },
        node.payload());
    return p;
  }

  Layout l_;
  std::unordered_map<const Node*, Pieces> done_;
};

}  // namespace

std::string PrintComputation(const NodePtr& root) {
  if (!root) return "\n";
  Printer printer;
  int doc = printer.Build(root);
  return printer.layout().Render(doc) + "\n";
}

std::string PrintTensorLiteral(const Tensor& tensor) {
  Layout layout;
  return layout.Render(TensorDoc(layout, tensor));
}

}  // namespace fedexec::ir
