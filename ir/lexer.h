// Tokens of fedexec's text syntax, shared by the type notation and the
// computation syntax. Comments run from '#' to the end of the line; the
// lexer keeps them, attached to the token that follows them, so that `fmt`
// can print them again.
//
// Thread-safety: a Lexer is used by one thread at a time.
#ifndef FEDEXEC_IR_LEXER_H_
#define FEDEXEC_IR_LEXER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fedexec::ir {

enum class TokenKind {
  kEnd,
  kIdentifier,  // [A-Za-z_][A-Za-z0-9_]*, or any name in backquotes:
                // `my name`, with the escapes of strings (quoted = true).
                // A quoted identifier is never a keyword.
  kInteger,     // 123
  kFloat,       // 1.5, 2e-3, 1.0e9
  kString,      // "..." with \n \t \r \\ \" \xNN escapes; text is unescaped
  kPunct,       // ( ) < > { } [ ] , : ; = . * @ ? - -> and the like
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;
  bool quoted = false;  // a `backquoted` identifier
  int line = 1;
  int column = 1;
  // Comment lines just before this token, without the leading '#'.
  std::vector<std::string> comments;

  bool Is(absl::string_view punct) const {
    return kind == TokenKind::kPunct && text == punct;
  }
  // An unquoted identifier spelled `word` (keywords are never quoted).
  bool IsWord(absl::string_view word) const {
    return kind == TokenKind::kIdentifier && !quoted && text == word;
  }
};

// Splits `text` into tokens, ending with one kEnd token (which carries the
// comments after the last token). Errors (invalid UTF-8, an unterminated
// string, a stray character) name the line and column.
absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view text);

// Whether `name` can be written as a plain identifier (else it needs
// backquotes). Does not know about keywords: callers check those.
bool IsPlainIdentifier(absl::string_view name);
// `name` as a backquoted identifier with escapes: `a b` or `x\x01`.
std::string QuoteIdentifier(absl::string_view name);
// "abc" with \n \t \r \\ \" and \xNN escapes (for bytes below 0x20, 0x7F,
// and bytes that are not valid UTF-8).
std::string QuoteString(absl::string_view value);

// "3:7" (line:column) location used in messages.
std::string Where(const Token& token);

// A cursor over tokens for recursive-descent parsers.
class TokenCursor {
 public:
  explicit TokenCursor(std::vector<Token> tokens)
      : tokens_(std::move(tokens)) {}

  const Token& Peek(int ahead = 0) const {
    size_t i = pos_ + ahead;
    return i < tokens_.size() ? tokens_[i] : tokens_.back();
  }
  const Token& Next() {
    const Token& t = Peek();
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool AtEnd() const { return Peek().kind == TokenKind::kEnd; }
  // Consumes the punctuation if it is next.
  bool Accept(absl::string_view punct) {
    if (!Peek().Is(punct)) return false;
    Next();
    return true;
  }
  // Consumes the punctuation or fails naming what was found instead.
  absl::Status Expect(absl::string_view punct);
  // An INVALID_ARGUMENT error located at the next token.
  absl::Status ErrorHere(absl::string_view message) const;

 private:
  std::vector<Token> tokens_;
  size_t pos_ = 0;
};

}  // namespace fedexec::ir

#endif  // FEDEXEC_IR_LEXER_H_
