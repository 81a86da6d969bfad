#include "ir/lexer.h"

#include <cctype>

#include "absl/strings/str_cat.h"

namespace fedexec::ir {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 if it is not valid.
int Utf8Length(absl::string_view s, size_t i) {
  unsigned char c = s[i];
  int n;
  uint32_t min;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  uint32_t cp = c & (0xFF >> (n + 1));
  for (int k = 1; k < n; ++k) {
    unsigned char d = s[i + k];
    if ((d & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

bool IsIdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool IsIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool IsPlainIdentifier(absl::string_view name) {
  if (name.empty() || !IsIdentStart(name[0])) return false;
  for (char c : name) {
    if (!IsIdentChar(c)) return false;
  }
  return true;
}

namespace {

std::string Quote(absl::string_view value, char quote) {
  std::string out(1, quote);
  for (size_t i = 0; i < value.size();) {
    unsigned char c = value[i];
    int n = Utf8Length(value, i);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == static_cast<unsigned char>(quote)) {
      out += '\\';
      out += quote;
    } else if (c < 0x20 || c == 0x7F || n == 0) {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    } else {
      out.append(value.data() + i, n);
      i += n;
      continue;
    }
    ++i;
  }
  out += quote;
  return out;
}

}  // namespace

std::string QuoteIdentifier(absl::string_view name) { return Quote(name, '`'); }
std::string QuoteString(absl::string_view value) { return Quote(value, '"'); }

std::string Where(const Token& token) {
  return absl::StrCat(token.line, ":", token.column);
}

absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view text) {
  std::vector<Token> tokens;
  std::vector<std::string> pending_comments;
  int line = 1;
  size_t line_start = 0;
  size_t i = 0;
  auto error = [&](size_t at, absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(line, ":", at - line_start + 1, ": ", what));
  };
  // Validate the encoding first, so that every later message is about
  // well-formed text.
  for (size_t k = 0; k < text.size();) {
    int n = Utf8Length(text, k);
    if (n == 0) {
      int bad_line = 1;
      size_t bad_start = 0;
      for (size_t j = 0; j < k; ++j) {
        if (text[j] == '\n') {
          ++bad_line;
          bad_start = j + 1;
        }
      }
      return absl::InvalidArgumentError(absl::StrCat(
          bad_line, ":", k - bad_start + 1, ": invalid UTF-8 byte 0x",
          absl::Hex(static_cast<unsigned char>(text[k]))));
    }
    k += n;
  }
  while (true) {
    // Skip blanks and collect comments.
    while (i < text.size()) {
      char c = text[i];
      if (c == '\n') {
        ++line;
        line_start = ++i;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++i;
      } else if (c == '#') {
        size_t end = text.find('\n', i);
        if (end == absl::string_view::npos) end = text.size();
        absl::string_view body = text.substr(i + 1, end - i - 1);
        while (!body.empty() && (body.back() == '\r' || body.back() == ' '))
          body.remove_suffix(1);
        pending_comments.emplace_back(body);
        i = end;
      } else {
        break;
      }
    }
    Token token;
    token.line = line;
    token.column = static_cast<int>(i - line_start + 1);
    token.comments = std::move(pending_comments);
    pending_comments.clear();
    if (i >= text.size()) {
      token.kind = TokenKind::kEnd;
      tokens.push_back(std::move(token));
      return tokens;
    }
    char c = text[i];
    if (IsIdentStart(c)) {
      size_t start = i;
      while (i < text.size() && IsIdentChar(text[i])) ++i;
      token.kind = TokenKind::kIdentifier;
      token.text = std::string(text.substr(start, i - start));
    } else if (IsDigit(c)) {
      size_t start = i;
      bool is_float = false;
      while (i < text.size() && IsDigit(text[i])) ++i;
      if (i + 1 < text.size() && text[i] == '.' && IsDigit(text[i + 1])) {
        is_float = true;
        ++i;
        while (i < text.size() && IsDigit(text[i])) ++i;
      }
      if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
        size_t j = i + 1;
        if (j < text.size() && (text[j] == '+' || text[j] == '-')) ++j;
        if (j < text.size() && IsDigit(text[j])) {
          is_float = true;
          i = j;
          while (i < text.size() && IsDigit(text[i])) ++i;
        }
      }
      if (i < text.size() && IsIdentChar(text[i])) {
        return error(i, absl::StrCat("unexpected '", text.substr(i, 1),
                                     "' after a number"));
      }
      token.kind = is_float ? TokenKind::kFloat : TokenKind::kInteger;
      token.text = std::string(text.substr(start, i - start));
    } else if (c == '"' || c == '`') {
      const char quote = c;
      size_t start = i++;
      std::string value;
      while (true) {
        if (i >= text.size() || text[i] == '\n') {
          return error(start, quote == '"' ? "unterminated string"
                                           : "unterminated quoted name");
        }
        char d = text[i++];
        if (d == quote) break;
        if (d != '\\') {
          value.push_back(d);
          continue;
        }
        if (i >= text.size()) return error(start, "unterminated string");
        char e = text[i++];
        switch (e) {
          case 'n':
            value.push_back('\n');
            break;
          case 't':
            value.push_back('\t');
            break;
          case 'r':
            value.push_back('\r');
            break;
          case '\\':
            value.push_back('\\');
            break;
          case '"':
            value.push_back('"');
            break;
          case '`':
            value.push_back('`');
            break;
          case 'x': {
            int hi = i < text.size() ? HexValue(text[i]) : -1;
            int lo = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
            if (hi < 0 || lo < 0) {
              return error(i - 2, "\\x needs two hex digits");
            }
            value.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
            break;
          }
          default:
            return error(i - 2, absl::StrCat("unknown escape '\\",
                                             text.substr(i - 1, 1), "'"));
        }
      }
      if (quote == '`') {
        if (value.empty()) return error(start, "empty quoted name");
        token.kind = TokenKind::kIdentifier;
        token.quoted = true;
      } else {
        token.kind = TokenKind::kString;
      }
      token.text = std::move(value);
    } else if (c == '-' && i + 1 < text.size() && text[i + 1] == '>') {
      token.kind = TokenKind::kPunct;
      token.text = "->";
      i += 2;
    } else if (absl::string_view("()<>{}[],:;=.*@?-+").find(c) !=
               absl::string_view::npos) {
      token.kind = TokenKind::kPunct;
      token.text = std::string(1, c);
      ++i;
    } else {
      int n = Utf8Length(text, i);
      return error(
          i, absl::StrCat("unexpected character '", text.substr(i, n), "'"));
    }
    tokens.push_back(std::move(token));
  }
}

absl::Status TokenCursor::Expect(absl::string_view punct) {
  if (Accept(punct)) return absl::OkStatus();
  return ErrorHere(absl::StrCat("expected '", punct, "'"));
}

absl::Status TokenCursor::ErrorHere(absl::string_view message) const {
  const Token& t = Peek();
  std::string found;
  switch (t.kind) {
    case TokenKind::kEnd:
      found = "end of input";
      break;
    case TokenKind::kString:
      found = "a string";
      break;
    default:
      found = absl::StrCat("'", t.text, "'");
  }
  return absl::InvalidArgumentError(
      absl::StrCat(Where(t), ": ", message, ", found ", found));
}

}  // namespace fedexec::ir
