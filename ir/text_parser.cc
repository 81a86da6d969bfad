// The parser of fedexec's text syntax (docs/syntax.md): a recursive-descent
// parser over the shared lexer's tokens that builds the AST directly,
// resolving names while it goes and attaching comments to nodes.
//
// Comments: a token's comments become the leading comments of the outermost
// node that starts at that token (for the name of a struct element, call
// argument or block local: of its value). Comments before a token that
// follows a node (a closing bracket, ',', 'in', ':', a postfix, the end)
// are trailing comments of the innermost node that ends there. Any other
// comment (inside a type, a lambda header, a literal, a selection) becomes
// a leading comment of the innermost node being parsed around it.
//
// Tensor literals are read by LiteralParser, which works on a bare
// TokenCursor (ParseTensorLiteralAt) so that the value syntax
// (value_syntax.cc) reads exactly the same literals.
#include <charconv>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/large_stack.h"
#include "core/limits.h"
#include "core/status.h"
#include "ir/intrinsics.h"
#include "ir/lexer.h"
#include "ir/text_syntax.h"

namespace fedexec::ir {

bool IsReservedWord(absl::string_view word) {
  static constexpr absl::string_view kWords[] = {
      "let",    "in",      "true",   "false", "nan",         "inf",
      "SERVER", "CLIENTS", "native", "data",  "torchscript", "placement"};
  for (absl::string_view w : kWords) {
    if (w == word) return true;
  }
  return DTypeFromName(std::string_view(word.data(), word.size())).has_value();
}

namespace {

// Counts one level of a parser's recursion for as long as it lives;
// exceeded() once the count passes kMaxNestingDepth.
class NestingGuard {
 public:
  explicit NestingGuard(int& depth) : depth_(depth) { ++depth_; }
  ~NestingGuard() { --depth_; }
  NestingGuard(const NestingGuard&) = delete;
  NestingGuard& operator=(const NestingGuard&) = delete;
  bool exceeded() const { return depth_ > kMaxNestingDepth; }

 private:
  int& depth_;
};

std::string DepthMessage() {
  return absl::StrCat("nesting deeper than ", kMaxNestingDepth, " levels");
}

absl::Status ErrorAt(const Token& token, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(Where(token), ": ", message));
}
absl::Status ErrorAt(SourceLocation at, absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(at.line, ":", at.column, ": ", message));
}

absl::string_view DName(DType dtype) {
  std::string_view name = DTypeName(dtype);
  return absl::string_view(name.data(), name.size());
}

// ------------------------------------------------------------ numbers

// Decimal text as digits (no leading or trailing zeros) and an exponent:
// value = 0.DIGITS * 10^exponent. Zero has no digits.
struct Decimal {
  std::string digits;
  int64_t exponent = 0;
};

// REQUIRES: `text` is an unsigned decimal as the lexer or std::to_chars
// write it: digits, an optional fraction and an optional exponent.
Decimal NormalizeDecimal(absl::string_view text) {
  Decimal d;
  int64_t point = -1;  // digits before the decimal point
  size_t i = 0;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '.') {
      point = static_cast<int64_t>(d.digits.size());
    } else if (c >= '0' && c <= '9') {
      d.digits.push_back(c);
    } else {
      break;
    }
  }
  if (point < 0) point = static_cast<int64_t>(d.digits.size());
  int64_t exp = 0;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool negative = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
      negative = text[i] == '-';
      ++i;
    }
    for (; i < text.size(); ++i) {
      exp = std::min<int64_t>(exp * 10 + (text[i] - '0'), int64_t{1} << 40);
    }
    if (negative) exp = -exp;
  }
  size_t lead = 0;
  while (lead < d.digits.size() && d.digits[lead] == '0') ++lead;
  d.digits.erase(0, lead);
  while (!d.digits.empty() && d.digits.back() == '0') d.digits.pop_back();
  d.exponent = point - static_cast<int64_t>(lead) + exp;
  return d;
}

// Compares the exact value of an unsigned decimal text with a positive
// finite double: -1, 0 or 1.
int CompareDecimal(absl::string_view text, double value) {
  // A double's exact decimal expansion has at most 767 significant digits.
  char buf[1200];
  auto r = std::to_chars(buf, buf + sizeof(buf), value,
                         std::chars_format::scientific, 800);
  Decimal a = NormalizeDecimal(text);
  Decimal b = NormalizeDecimal(absl::string_view(buf, r.ptr - buf));
  if (a.digits.empty() || b.digits.empty()) {
    return a.digits.empty() == b.digits.empty() ? 0
                                                : (a.digits.empty() ? -1 : 1);
  }
  if (a.exponent != b.exponent) return a.exponent < b.exponent ? -1 : 1;
  int c = a.digits.compare(b.digits);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

// Rounds a double to a small binary float with `ebits` exponent bits and
// `mbits` fraction bits (float16: 5, 10; bfloat16: 8, 7), to nearest, ties
// to even. `tie` is asked only when `value` lies exactly halfway between
// two neighbours: it says whether the true value (of which `value` is
// itself a rounding) lies below (-1), on (0) or above (1) it.
uint16_t RoundToSmallFloat(double value, int ebits, int mbits,
                           absl::FunctionRef<int()> tie) {
  uint16_t sign = std::signbit(value) ? uint16_t{1} << (ebits + mbits) : 0;
  const int bias = (1 << (ebits - 1)) - 1;
  const uint16_t exp_all = static_cast<uint16_t>(((1 << ebits) - 1) << mbits);
  double a = std::fabs(value);
  if (std::isinf(a)) return sign | exp_all;
  if (a == 0) return sign;
  int e;
  std::frexp(a, &e);  // a = f * 2^e, f in [0.5, 1)
  int exp = std::max(e - 1, 1 - bias);
  double scaled = std::ldexp(a, mbits - exp);  // exact: a power-of-2 scale
  double whole = std::floor(scaled);
  double frac = scaled - whole;
  bool up = frac > 0.5;
  if (frac == 0.5) {
    int t = tie();
    up = t > 0 || (t == 0 && std::fmod(whole, 2.0) != 0);
  }
  if (up) whole += 1;
  if (whole >= std::ldexp(1.0, mbits + 1)) {
    whole /= 2;
    ++exp;
  }
  if (exp > bias) return sign | exp_all;
  uint32_t significand = static_cast<uint32_t>(whole);
  if (significand < (1u << mbits)) return sign | significand;  // subnormal
  return sign | static_cast<uint16_t>(((exp + bias) << mbits) |
                                      (significand - (1u << mbits)));
}

// ------------------------------------------------------------ literals

// One scalar of a literal, before its dtype is known.
struct Item {
  enum Kind { kInteger, kFloat, kBool, kString };
  Kind kind = kInteger;
  bool negative = false;
  bool is_inf = false;
  bool is_nan = false;
  uint64_t nan_payload = 0;  // 0: the canonical quiet NaN
  std::string text;          // digits of a number, or the string value
  bool boolean = false;
  Token token;  // where it is (comments cleared)
};

const char* KindWord(Item::Kind kind) {
  switch (kind) {
    case Item::kInteger:
    case Item::kFloat:
      return "a number";
    case Item::kBool:
      return "a bool";
    case Item::kString:
      return "a string";
  }
  return "a value";
}

std::string ItemText(const Item& item) {
  std::string out = item.negative ? "-" : "";
  if (item.is_inf) return out + "inf";
  if (item.is_nan) {
    return item.nan_payload == 0
               ? out + "nan"
               : absl::StrCat(out, "nan(", item.nan_payload, ")");
  }
  return out + item.text;
}

template <typename T>
struct FloatBits;
template <>
struct FloatBits<float> {
  using Bits = uint32_t;
  static constexpr int kMantissa = 23;
};
template <>
struct FloatBits<double> {
  using Bits = uint64_t;
  static constexpr int kMantissa = 52;
};

// A NaN with the given sign and fraction bits (0: the canonical quiet NaN).
template <typename F>
F MakeNaN(bool negative, uint64_t payload) {
  using Bits = typename FloatBits<F>::Bits;
  constexpr int m = FloatBits<F>::kMantissa;
  Bits bits = ~Bits{0} >> 1;  // all exponent and fraction bits
  bits &= ~((Bits{1} << m) - 1);
  bits |= payload == 0 ? Bits{1} << (m - 1) : static_cast<Bits>(payload);
  if (negative) bits |= Bits{1} << (sizeof(Bits) * 8 - 1);
  F f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

std::string InexactMessage(const Item& item, absl::string_view dtype) {
  return absl::StrCat(ItemText(item), " is not exactly representable in ",
                      dtype, " (write ", ItemText(item), ".0 to round it)");
}

// Converts one item to a float or double. `exact`: an integer item must
// convert without rounding.
template <typename F>
absl::StatusOr<F> ItemToFloat(const Item& item, absl::string_view dtype,
                              bool exact = false) {
  if (item.kind != Item::kInteger && item.kind != Item::kFloat) {
    return ErrorAt(item.token, absl::StrCat("expected a number for ", dtype,
                                            ", found ", KindWord(item.kind)));
  }
  if (item.is_inf) {
    F inf = std::numeric_limits<F>::infinity();
    return item.negative ? -inf : inf;
  }
  if (item.is_nan) return MakeNaN<F>(item.negative, item.nan_payload);
  std::string text = (item.negative ? "-" : "") + item.text;
  F value{};
  auto r = std::from_chars(text.data(), text.data() + text.size(), value);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size()) {
    return ErrorAt(item.token,
                   absl::StrCat(text, " is out of range for ", dtype));
  }
  if (exact && item.kind == Item::kInteger &&
      CompareDecimal(item.text, std::fabs(static_cast<double>(value))) != 0) {
    return ErrorAt(item.token, InexactMessage(item, dtype));
  }
  return value;
}

// The value of a 16-bit float pattern that is finite.
double SmallFloatValue(uint16_t bits, int ebits, int mbits) {
  const int exp = (bits >> mbits) & ((1 << ebits) - 1);
  const uint32_t fraction = bits & ((1u << mbits) - 1);
  const int bias = (1 << (ebits - 1)) - 1;
  return exp == 0 ? std::ldexp(static_cast<double>(fraction), 1 - bias - mbits)
                  : std::ldexp(static_cast<double>(fraction | (1u << mbits)),
                               exp - bias - mbits);
}

// Converts one item to a 16-bit float pattern (`exact`: as ItemToFloat).
absl::StatusOr<uint16_t> ItemToSmallFloat(const Item& item, DType dtype,
                                          bool exact = false) {
  const bool half = dtype == DType::kFloat16;
  const int ebits = half ? 5 : 8;
  const int mbits = half ? 10 : 7;
  absl::string_view name = DName(dtype);
  if (item.kind != Item::kInteger && item.kind != Item::kFloat) {
    return ErrorAt(item.token, absl::StrCat("expected a number for ", name,
                                            ", found ", KindWord(item.kind)));
  }
  uint16_t sign = item.negative ? uint16_t{1} << (ebits + mbits) : 0;
  if (item.is_nan) {
    if (item.nan_payload >= (uint64_t{1} << mbits)) {
      return ErrorAt(item.token, absl::StrCat("NaN payload ", item.nan_payload,
                                              " does not fit in ", name));
    }
    uint64_t fraction =
        item.nan_payload == 0 ? uint64_t{1} << (mbits - 1) : item.nan_payload;
    return static_cast<uint16_t>(sign | (((1 << ebits) - 1) << mbits) |
                                 fraction);
  }
  FEDEXEC_ASSIGN_OR_RETURN(double value, ItemToFloat<double>(item, name));
  uint16_t bits = RoundToSmallFloat(value, ebits, mbits, [&] {
    return CompareDecimal(item.text, std::fabs(value));
  });
  const uint16_t magnitude = bits & ~sign;
  const uint16_t exp_all = static_cast<uint16_t>(((1 << ebits) - 1) << mbits);
  if (!item.is_inf &&
      (magnitude == exp_all || (magnitude == 0 && value != 0))) {
    return ErrorAt(item.token,
                   absl::StrCat(ItemText(item), " is out of range for ", name));
  }
  if (exact && item.kind == Item::kInteger &&
      CompareDecimal(item.text, SmallFloatValue(magnitude, ebits, mbits)) !=
          0) {
    return ErrorAt(item.token, InexactMessage(item, name));
  }
  return bits;
}

// Converts one item to an integer of type T.
template <typename T>
absl::StatusOr<T> ItemToInteger(const Item& item, absl::string_view dtype) {
  if (item.kind != Item::kInteger) {
    return ErrorAt(item.token,
                   item.kind == Item::kFloat
                       ? absl::StrCat(ItemText(item), " is not an integer (",
                                      dtype, " needs one)")
                       : absl::StrCat("expected an integer for ", dtype,
                                      ", found ", KindWord(item.kind)));
  }
  uint64_t magnitude = 0;
  auto r = std::from_chars(item.text.data(),
                           item.text.data() + item.text.size(), magnitude);
  bool ok = r.ec == std::errc() && r.ptr == item.text.data() + item.text.size();
  T value{};
  if (ok) {
    if (item.negative) {
      if constexpr (std::is_signed_v<T>) {
        using U = std::make_unsigned_t<T>;
        ok = magnitude <= static_cast<U>(std::numeric_limits<T>::max()) + 1u;
        if (ok) value = static_cast<T>(0 - static_cast<U>(magnitude));
      } else {
        ok = magnitude == 0;
      }
    } else {
      ok = magnitude <= static_cast<uint64_t>(std::numeric_limits<T>::max());
      if (ok) value = static_cast<T>(magnitude);
    }
  }
  if (!ok) {
    return ErrorAt(item.token, absl::StrCat(ItemText(item),
                                            " is out of range for ", dtype));
  }
  return value;
}

// Converts one item to an element of C++ type T (the element type of dtype).
template <typename T>
absl::StatusOr<T> ItemTo(const Item& item, DType dtype, bool exact) {
  absl::string_view name = DName(dtype);
  if constexpr (std::is_same_v<T, bool>) {
    if (item.kind != Item::kBool) {
      return ErrorAt(item.token,
                     absl::StrCat("expected true or false for bool, "
                                  "found ",
                                  KindWord(item.kind)));
    }
    return item.boolean;
  } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    return ItemToFloat<T>(item, name, exact);
  } else if constexpr (std::is_same_v<T, Float16>) {
    FEDEXEC_ASSIGN_OR_RETURN(uint16_t bits,
                             ItemToSmallFloat(item, dtype, exact));
    return Float16{bits};
  } else if constexpr (std::is_same_v<T, BFloat16>) {
    FEDEXEC_ASSIGN_OR_RETURN(uint16_t bits,
                             ItemToSmallFloat(item, dtype, exact));
    return BFloat16{bits};
  } else {
    return ItemToInteger<T>(item, name);
  }
}

// How items become elements. The computation syntax uses the defaults; a
// literal whose dtype comes from an expected type converts integers only
// when exact and reads complex elements from one real item each.
struct Conversion {
  bool exact = false;
  bool real_complex = false;
};

// Builds the tensor of `dtype` and `shape` from items (two per element for
// complex dtypes, unless conversion.real_complex). REQUIRES: the count
// matches.
absl::StatusOr<Tensor> BuildTensorOrError(DType dtype,
                                          std::vector<int64_t> shape,
                                          const std::vector<Item>& items,
                                          Conversion conversion) {
  if (dtype == DType::kString) {
    std::vector<std::string> values;
    values.reserve(items.size());
    for (const Item& item : items) {
      if (item.kind != Item::kString) {
        return ErrorAt(item.token, absl::StrCat("expected a string for string, "
                                                "found ",
                                                KindWord(item.kind)));
      }
      values.push_back(item.text);
    }
    return Tensor::FromStrings(std::move(values), std::move(shape));
  }
  return VisitDType(dtype, [&](auto zero) -> absl::StatusOr<Tensor> {
    using T = decltype(zero);
    if constexpr (std::is_same_v<T, std::string>) {
      return absl::InternalError("unreachable");
    } else if constexpr (std::is_same_v<T, std::complex<float>> ||
                         std::is_same_v<T, std::complex<double>>) {
      using F = typename T::value_type;
      const size_t n =
          conversion.real_complex ? items.size() : items.size() / 2;
      auto values = std::make_unique<T[]>(n);
      for (size_t i = 0; i < n; ++i) {
        if (conversion.real_complex) {
          FEDEXEC_ASSIGN_OR_RETURN(
              F re, ItemToFloat<F>(items[i], DName(dtype), conversion.exact));
          values[i] = T(re, F{0});
          continue;
        }
        FEDEXEC_ASSIGN_OR_RETURN(F re,
                                 ItemToFloat<F>(items[2 * i], DName(dtype)));
        FEDEXEC_ASSIGN_OR_RETURN(
            F im, ItemToFloat<F>(items[2 * i + 1], DName(dtype)));
        values[i] = T(re, im);
      }
      return Tensor::FromSpan<T>(absl::MakeConstSpan(values.get(), n),
                                 std::move(shape));
    } else {
      const size_t n = items.size();
      auto values = std::make_unique<T[]>(n);
      for (size_t i = 0; i < n; ++i) {
        FEDEXEC_ASSIGN_OR_RETURN(values[i],
                                 ItemTo<T>(items[i], dtype, conversion.exact));
      }
      return Tensor::FromSpan<T>(absl::MakeConstSpan(values.get(), n),
                                 std::move(shape));
    }
  });
}

// As above; errors that do not name an element are located at `start`.
absl::StatusOr<Tensor> BuildTensor(DType dtype, std::vector<int64_t> shape,
                                   const std::vector<Item>& items,
                                   const Token& start,
                                   Conversion conversion = {}) {
  absl::StatusOr<Tensor> tensor =
      BuildTensorOrError(dtype, std::move(shape), items, conversion);
  if (tensor.ok() || absl::IsInvalidArgument(tensor.status())) return tensor;
  return ErrorAt(start, tensor.status().message());
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

// ------------------------------------------------------------ literal parser

// Reads one tensor literal at a cursor. Shared by the computation syntax
// (through Parser::ParseLiteral) and the value syntax (ir/value_syntax.cc),
// so both accept exactly the same literals.
class LiteralParser {
 public:
  LiteralParser(TokenCursor& cursor, const TensorLiteralOptions& options)
      : cursor_(cursor), options_(options), recursion_(options.depth) {}

  absl::StatusOr<Tensor> Parse() {
    const Token start = Peek();
    std::optional<DType> dtype;
    std::optional<std::vector<int64_t>> dims;
    std::vector<Item> items;
    std::vector<int64_t> shape;
    if (start.kind == TokenKind::kIdentifier && !start.quoted &&
        DTypeFromName(start.text).has_value()) {
      dtype = DTypeFromName(start.text);
      Advance();
      if (PeekPunct("[")) {
        FEDEXEC_ASSIGN_OR_RETURN(dims, ParseDims());
      }
      FEDEXEC_RETURN_IF_ERROR(Expect(
          "(", absl::StrCat("after '", start.text, "' (a literal is written ",
                            start.text, "(value))")));
      FEDEXEC_ASSIGN_OR_RETURN(shape, ParseList(items));
      FEDEXEC_RETURN_IF_ERROR(Expect(")", "after the literal's value"));
    } else {
      FEDEXEC_ASSIGN_OR_RETURN(shape, ParseList(items));
    }
    if (!dtype.has_value() && options_.expected.has_value()) {
      return BuildExpected(start, std::move(shape), items);
    }
    if (!dtype.has_value()) {
      if (items.empty()) {
        return ErrorAt(start,
                       "an empty list needs a dtype and dims, like "
                       "float32[0]([])");
      }
      FEDEXEC_RETURN_IF_ERROR(CheckOneKind(items));
      dtype = NaturalDType(items);
    }
    const int per_element = IsComplex(*dtype) ? 2 : 1;
    if (dims.has_value()) {
      absl::StatusOr<int64_t> count = CheckedNumElements(*dims);
      if (!count.ok()) return ErrorAt(start, count.status().message());
      if (static_cast<uint64_t>(*count) * per_element != items.size()) {
        return ErrorAt(start, absl::StrCat(start.text, ShapeText(*dims),
                                           " needs ", *count * per_element,
                                           " values, found ", items.size()));
      }
      shape = *dims;
    } else if (per_element == 2) {
      if (items.size() != 2) {
        return ErrorAt(
            start,
            absl::StrCat(start.text,
                         " without dims is a scalar written as "
                         "[real, imaginary]; found ",
                         items.size(), " values (give dims for more, like ",
                         start.text, "[2]([re0, im0, re1, im1]))"));
      }
      shape.clear();
    }
    FEDEXEC_ASSIGN_OR_RETURN(Tensor tensor,
                             BuildTensor(*dtype, shape, items, start));
    if (options_.expected.has_value() &&
        !Matches(*options_.expected, tensor.dtype(), tensor.shape())) {
      return Mismatch(start, tensor.TypeString());
    }
    return tensor;
  }

 private:
  const Token& Peek() const { return cursor_.Peek(); }
  bool PeekPunct(absl::string_view p) const { return Peek().Is(p); }
  const Token& Advance() { return cursor_.Next(); }
  absl::Status Expect(absl::string_view punct, absl::string_view context) {
    if (!PeekPunct(punct)) {
      return cursor_.ErrorHere(
          absl::StrCat("expected '", punct, "' ", context));
    }
    Advance();
    return absl::OkStatus();
  }

  // Numbers, bools and strings do not mix in one list.
  static absl::Status CheckOneKind(const std::vector<Item>& items) {
    for (const Item& item : items) {
      const bool number =
          item.kind == Item::kInteger || item.kind == Item::kFloat;
      const bool first_number =
          items[0].kind == Item::kInteger || items[0].kind == Item::kFloat;
      if (number != first_number || (!number && item.kind != items[0].kind)) {
        return ErrorAt(item.token, absl::StrCat("mixed kinds in a list: ",
                                                KindWord(item.kind), " after ",
                                                KindWord(items[0].kind)));
      }
    }
    return absl::OkStatus();
  }

  // The dtype of a literal written without one. REQUIRES: items of one kind.
  static DType NaturalDType(const std::vector<Item>& items) {
    switch (items[0].kind) {
      case Item::kBool:
        return DType::kBool;
      case Item::kString:
        return DType::kString;
      default:
        break;
    }
    for (const Item& item : items) {
      if (item.kind == Item::kFloat) return DType::kFloat32;
    }
    return DType::kInt32;
  }

  // Whether a tensor of `dtype` and `shape` has the tensor type `expected`
  // (unknown dims and unknown rank match anything).
  static bool Matches(const Type& expected, DType dtype,
                      const std::vector<int64_t>& shape) {
    if (expected.kind() != TypeKind::kTensor || expected.dtype() != dtype) {
      return false;
    }
    if (expected.unknown_rank()) return true;
    const std::vector<int64_t>& dims = expected.dims();
    if (dims.size() != shape.size()) return false;
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] != kUnknownDim && dims[i] != shape[i]) return false;
    }
    return true;
  }

  absl::Status Mismatch(const Token& start, absl::string_view found) const {
    return ErrorAt(start,
                   absl::StrCat("expected ", options_.expected->ToString(),
                                ", found ", found));
  }

  // A literal without a dtype of its own where a tensor type is expected:
  // it takes the expected dtype when its values allow (integers for any
  // numeric dtype, exactly; floats for floating and complex dtypes; bools
  // and strings for their own), and `[]` takes the expected dims when they
  // are known and hold no element.
  absl::StatusOr<Tensor> BuildExpected(const Token& start,
                                       std::vector<int64_t> shape,
                                       const std::vector<Item>& items) {
    const Type& expected = *options_.expected;
    if (expected.kind() != TypeKind::kTensor) {
      return Mismatch(start, "a tensor");
    }
    const DType want = expected.dtype();
    if (items.empty()) {
      if (want == DType::kInvalid) return Mismatch(start, "[]");
      if (!expected.unknown_rank()) {
        const std::vector<int64_t>& dims = expected.dims();
        bool known = true;
        int64_t count = 1;
        for (int64_t d : dims) {
          known = known && d != kUnknownDim;
          count = d == 0 ? 0 : count;
        }
        if (known && count == 0 && !dims.empty()) shape = dims;
      }
      if (!Matches(expected, want, shape)) {
        return Mismatch(start,
                        absl::StrCat("[] (shape ", ShapeText(shape), ")"));
      }
      return Tensor::Zeros(want, std::move(shape));
    }
    FEDEXEC_RETURN_IF_ERROR(CheckOneKind(items));
    const DType natural = NaturalDType(items);
    bool fits;
    switch (natural) {
      case DType::kBool:
      case DType::kString:
        fits = want == natural;
        break;
      case DType::kInt32:
        fits = IsNumeric(want);
        break;
      default:
        fits = IsFloating(want) || IsComplex(want);
    }
    const auto found = [&] {
      return absl::StrCat(DName(natural),
                          shape.empty() ? "" : ShapeText(shape));
    };
    if (!fits || !Matches(expected, want, shape)) {
      return Mismatch(start, found());
    }
    Conversion conversion;
    conversion.exact = true;
    conversion.real_complex = IsComplex(want);
    return BuildTensor(want, std::move(shape), items, start, conversion);
  }

  // `[2, 3]` after a dtype name.
  absl::StatusOr<std::vector<int64_t>> ParseDims() {
    Advance();  // [
    std::vector<int64_t> dims;
    while (true) {
      int64_t d;
      if (Peek().kind != TokenKind::kInteger ||
          !absl::SimpleAtoi(Peek().text, &d)) {
        return cursor_.ErrorHere(
            "expected a dimension (a non-negative integer)");
      }
      if (d > kMaxTensorElements) {
        return cursor_.ErrorHere(
            absl::StrCat("dimension larger than ", kMaxTensorElements));
      }
      dims.push_back(d);
      Advance();
      if (PeekPunct("]")) {
        Advance();
        return dims;
      }
      FEDEXEC_RETURN_IF_ERROR(Expect(",", "or ']' after a dimension"));
    }
  }

  // A scalar or a (nested) list; appends its scalars to `items` and
  // returns its shape.
  absl::StatusOr<std::vector<int64_t>> ParseList(std::vector<Item>& items) {
    if (PeekPunct("[")) {
      NestingGuard guard(recursion_);  // list nesting, on top of options.depth
      if (guard.exceeded()) return cursor_.ErrorHere(DepthMessage());
      Advance();
      std::vector<int64_t> shape = {0};
      if (PeekPunct("]")) {
        Advance();
        return shape;
      }
      std::vector<int64_t> first;
      while (true) {
        const Token at = Peek();
        FEDEXEC_ASSIGN_OR_RETURN(std::vector<int64_t> inner, ParseList(items));
        if (shape[0] == 0) {
          first = std::move(inner);
        } else if (inner != first) {
          return ErrorAt(at, absl::StrCat("ragged list: this element has "
                                          "shape ",
                                          ShapeText(inner), ", the first one ",
                                          ShapeText(first)));
        }
        ++shape[0];
        if (PeekPunct(",")) {
          Advance();
          continue;
        }
        FEDEXEC_RETURN_IF_ERROR(Expect("]", "or ',' in a list"));
        break;
      }
      shape.insert(shape.end(), first.begin(), first.end());
      return shape;
    }
    Item item;
    item.token = Peek();
    item.token.comments.clear();
    if (PeekPunct("-")) {
      item.negative = true;
      Advance();
    }
    const Token& t = Peek();
    if (t.kind == TokenKind::kInteger || t.kind == TokenKind::kFloat) {
      item.kind = t.kind == TokenKind::kInteger ? Item::kInteger : Item::kFloat;
      item.text = t.text;
      Advance();
    } else if (t.IsWord("inf")) {
      item.kind = Item::kFloat;
      item.is_inf = true;
      Advance();
    } else if (t.IsWord("nan")) {
      item.kind = Item::kFloat;
      item.is_nan = true;
      Advance();
      if (PeekPunct("(")) {
        Advance();
        uint64_t payload = 0;
        if (Peek().kind != TokenKind::kInteger ||
            !absl::SimpleAtoi(Peek().text, &payload) || payload == 0) {
          return cursor_.ErrorHere(
              "expected a NaN payload (a positive integer) after 'nan('");
        }
        item.nan_payload = payload;
        Advance();
        FEDEXEC_RETURN_IF_ERROR(Expect(")", "after the NaN payload"));
      }
    } else if (item.negative) {
      return cursor_.ErrorHere("expected a number after '-'");
    } else if (t.kind == TokenKind::kString) {
      item.kind = Item::kString;
      item.text = t.text;
      Advance();
    } else if (t.IsWord("true") || t.IsWord("false")) {
      item.kind = Item::kBool;
      item.boolean = t.IsWord("true");
      Advance();
    } else {
      return cursor_.ErrorHere(
          "expected a value (a number, true, false, a string or a list)");
    }
    items.push_back(std::move(item));
    return std::vector<int64_t>{};
  }

  TokenCursor& cursor_;
  const TensorLiteralOptions& options_;
  int recursion_;
};

// ------------------------------------------------------------ parser

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens)
      : used_(tokens.size(), false), cursor_(std::move(tokens)) {
    base_ = &cursor_.Peek();
  }

  absl::StatusOr<NodePtr> ParseFile() {
    FEDEXEC_ASSIGN_OR_RETURN(Parsed root, ParseExpression());
    if (!cursor_.AtEnd()) {
      return cursor_.ErrorHere("expected end of input after the computation");
    }
    return root.node;
  }

 private:
  // A parsed node and the depth of its tree.
  struct Parsed {
    NodePtr node;
    int depth = 1;
  };
  // Where a node starts: its location, the comments of its first token and
  // the position in loose_ from which inner comments belong to it.
  struct Start {
    SourceLocation location;
    std::vector<std::string> comments;
    size_t mark = 0;
  };

  const Token& Peek(int ahead = 0) const { return cursor_.Peek(ahead); }
  size_t Index() const { return &cursor_.Peek() - base_; }
  bool PeekPunct(absl::string_view p) const { return Peek().Is(p); }

  // The comments of the next token, unless already claimed.
  std::vector<std::string> TakeComments() {
    size_t i = Index();
    if (used_[i]) return {};
    used_[i] = true;
    return Peek().comments;
  }
  // Consumes the next token; its unclaimed comments go to the innermost node
  // being parsed.
  const Token& Advance() {
    for (std::string& c : TakeComments()) loose_.push_back(std::move(c));
    return cursor_.Next();
  }
  absl::Status Expect(absl::string_view punct, absl::string_view context = {}) {
    if (!PeekPunct(punct)) {
      return cursor_.ErrorHere(
          context.empty() ? absl::StrCat("expected '", punct, "'")
                          : absl::StrCat("expected '", punct, "' ", context));
    }
    Advance();
    return absl::OkStatus();
  }

  Start Begin() {
    Start s;
    s.location = {Peek().line, Peek().column};
    s.comments = TakeComments();
    s.mark = loose_.size();
    return s;
  }
  // Builds the node that began at `s`: it claims the loose comments since
  // then, and the comments of the token after it as trailing comments.
  NodePtr Finish(Start& s, NodePayload payload,
                 std::optional<Type> type = std::nullopt) {
    std::vector<std::string> leading = std::move(s.comments);
    ClaimLoose(s.mark, leading);
    std::vector<std::string> trailing = TakeComments();
    return std::make_shared<Node>(std::move(payload), std::move(type),
                                  s.location, std::move(leading),
                                  std::move(trailing));
  }
  void ClaimLoose(size_t mark, std::vector<std::string>& into) {
    if (mark >= loose_.size()) return;
    into.insert(into.end(), std::make_move_iterator(loose_.begin() + mark),
                std::make_move_iterator(loose_.end()));
    loose_.resize(mark);
  }
  static std::vector<std::string> Concat(std::vector<std::string> a,
                                         const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }

  absl::Status CheckDepth(int depth, SourceLocation at) {
    if (depth > kMaxNestingDepth) return ErrorAt(at, DepthMessage());
    return absl::OkStatus();
  }

  // A type at the cursor; the comments inside it are loose.
  absl::StatusOr<Type> ParseTypeHere() {
    size_t start = Index();
    absl::StatusOr<Type> type = ParseTypeAt(cursor_);
    ClaimTokenComments(start, Index());
    return type;
  }

  // The unclaimed comments of tokens [start, end), consumed by a parser
  // that does not track comments, become loose in token order.
  void ClaimTokenComments(size_t start, size_t end) {
    for (size_t i = start; i < end; ++i) {
      if (used_[i]) continue;
      used_[i] = true;
      loose_.insert(loose_.end(), base_[i].comments.begin(),
                    base_[i].comments.end());
    }
  }

  // The name at the cursor (not consumed). `binding`: it is bound (lambda
  // parameter, block local), so a reserved word is an error of its own.
  absl::StatusOr<std::string> PeekName(absl::string_view what, bool binding) {
    const Token& t = Peek();
    if (t.kind != TokenKind::kIdentifier) {
      return cursor_.ErrorHere(absl::StrCat("expected ", what));
    }
    if (!t.quoted && IsReservedWord(t.text)) {
      return ErrorAt(
          t, binding
                 ? absl::StrCat("cannot bind the reserved word '", t.text, "'")
                 : absl::StrCat("'", t.text, "' is a reserved word; write `",
                                t.text, "` to use it as a name"));
    }
    return t.text;
  }

  // ---------------------------------------------------------- expressions

  absl::StatusOr<Parsed> ParseExpression() {
    NestingGuard guard(recursion_);
    if (guard.exceeded()) return cursor_.ErrorHere(DepthMessage());
    if (Peek().IsWord("let")) return ParseBlock();
    return ParsePostfix();
  }

  absl::StatusOr<Parsed> ParseBlock() {
    Start s = Begin();
    Advance();  // let
    BlockNode block;
    int depth = 1;
    size_t scope_size = scope_.size();
    while (true) {
      FEDEXEC_ASSIGN_OR_RETURN(std::string name,
                               PeekName("a name to bind after 'let' or ','",
                                        /*binding=*/true));
      std::vector<std::string> comments = TakeComments();
      cursor_.Next();
      comments = Concat(std::move(comments), TakeComments());
      FEDEXEC_RETURN_IF_ERROR(
          Expect("=", absl::StrCat("after the name '", name, "'")));
      FEDEXEC_ASSIGN_OR_RETURN(Parsed value, ParseExpression());
      depth = std::max(depth, value.depth + 1);
      NodePtr v = value.node->WithComments(
          Concat(std::move(comments), value.node->comments()),
          value.node->trailing_comments());
      block.locals.push_back({name, std::move(v)});
      scope_.push_back(name);
      if (PeekPunct(",")) {
        Advance();
        continue;
      }
      if (Peek().IsWord("in")) {
        Advance();
        break;
      }
      scope_.resize(scope_size);
      return cursor_.ErrorHere(
          absl::StrCat("expected ',' or 'in' after the value of '", name, "'"));
    }
    absl::StatusOr<Parsed> result = ParseExpression();
    scope_.resize(scope_size);
    if (!result.ok()) return result.status();
    depth = std::max(depth, result->depth + 1);
    FEDEXEC_RETURN_IF_ERROR(CheckDepth(depth, s.location));
    block.result = std::move(result->node);
    return Parsed{Finish(s, std::move(block)), depth};
  }

  absl::StatusOr<Parsed> ParsePostfix() {
    FEDEXEC_ASSIGN_OR_RETURN(Parsed p, ParsePrimary());
    while (true) {
      const bool call = PeekPunct("(");
      if (!call && !PeekPunct("[") && !PeekPunct(".")) break;
      // The new node starts where its source does: it takes over the
      // source's leading comments.
      Start s;
      s.location = p.node->location();
      s.comments = p.node->comments();
      s.mark = loose_.size();
      NodePtr source = p.node->WithComments({}, p.node->trailing_comments());
      const Token& op = Advance();
      int depth = p.depth + 1;
      if (call) {
        FEDEXEC_ASSIGN_OR_RETURN(Parsed argument, ParseArguments(op));
        if (argument.node) depth = std::max(depth, argument.depth + 1);
        FEDEXEC_RETURN_IF_ERROR(CheckDepth(depth, s.location));
        p = {Finish(s, CallNode{std::move(source), std::move(argument.node)}),
             depth};
        continue;
      }
      FEDEXEC_RETURN_IF_ERROR(CheckDepth(depth, s.location));
      SelectionNode selection;
      selection.source = std::move(source);
      if (op.Is("[")) {
        const Token& index = Peek();
        if (index.kind != TokenKind::kInteger ||
            !absl::SimpleAtoi(index.text, &selection.index) ||
            selection.index < 0) {
          return cursor_.ErrorHere(
              "expected an index (a non-negative 32-bit integer) after '['");
        }
        Advance();
        FEDEXEC_RETURN_IF_ERROR(Expect("]", "after the index"));
      } else {
        FEDEXEC_ASSIGN_OR_RETURN(selection.name,
                                 PeekName("a name after '.'", false));
        Advance();
      }
      p = {Finish(s, std::move(selection)), depth};
    }
    return p;
  }

  // After the '(' of a call: the argument (null node for `f()`).
  absl::StatusOr<Parsed> ParseArguments(const Token& open) {
    if (PeekPunct(")")) {
      Advance();
      return Parsed{nullptr, 0};
    }
    Start s;
    s.location = {Peek().line, Peek().column};
    s.mark = loose_.size();
    FEDEXEC_ASSIGN_OR_RETURN(Parsed elements, ParseElements(")"));
    const auto& list = elements.node->As<StructNode>().elements;
    if (list.size() == 1) {
      if (!list[0].name.empty()) {
        return ErrorAt(s.location,
                       absl::StrCat("a call with one named argument is "
                                    "written with a struct: f(<",
                                    list[0].name, "=...>)"));
      }
      return Parsed{list[0].value, elements.depth - 1};
    }
    return elements;
  }

  // Struct elements up to `closing` (consumed): `a, b=c`. Returns a struct
  // node without comments of its own.
  absl::StatusOr<Parsed> ParseElements(absl::string_view closing) {
    SourceLocation location{Peek().line, Peek().column};
    StructNode result;
    int depth = 1;
    while (true) {
      std::string name;
      std::vector<std::string> comments;
      const Token name_token = Peek();
      if (Peek().kind == TokenKind::kIdentifier && Peek(1).Is("=")) {
        FEDEXEC_ASSIGN_OR_RETURN(name, PeekName("an element name", false));
        for (const NamedNode& e : result.elements) {
          if (e.name == name) {
            return ErrorAt(name_token, absl::StrCat("duplicate name '", name,
                                                    "' in a struct"));
          }
        }
        comments = TakeComments();
        cursor_.Next();
        comments = Concat(std::move(comments), TakeComments());
        cursor_.Next();  // '='
      }
      FEDEXEC_ASSIGN_OR_RETURN(Parsed value, ParseExpression());
      depth = std::max(depth, value.depth + 1);
      NodePtr v = value.node;
      if (!comments.empty()) {
        v = v->WithComments(Concat(std::move(comments), v->comments()),
                            v->trailing_comments());
      }
      result.elements.push_back({std::move(name), std::move(v)});
      if (PeekPunct(",")) {
        Advance();
        continue;
      }
      if (PeekPunct(closing)) {
        Advance();
        break;
      }
      return cursor_.ErrorHere(
          absl::StrCat("expected ',' or '", closing, "' after an element"));
    }
    return Parsed{
        std::make_shared<Node>(std::move(result), std::nullopt, location),
        depth};
  }

  absl::StatusOr<Parsed> ParsePrimary() {
    const Token& t = Peek();
    switch (t.kind) {
      case TokenKind::kInteger:
      case TokenKind::kFloat:
      case TokenKind::kString:
        return ParseLiteral();
      case TokenKind::kPunct:
        if (t.Is("-") || t.Is("[")) return ParseLiteral();
        if (t.Is("<")) return ParseStruct();
        if (t.Is("(")) return ParseParenthesized();
        return cursor_.ErrorHere("expected an expression");
      case TokenKind::kEnd:
        return cursor_.ErrorHere("expected an expression");
      case TokenKind::kIdentifier:
        break;
    }
    if (!t.quoted) {
      if (t.text == "true" || t.text == "false" || t.text == "inf" ||
          t.text == "nan" || DTypeFromName(t.text).has_value()) {
        return ParseLiteral();
      }
      if (t.text == "SERVER" || t.text == "CLIENTS") {
        Start s = Begin();
        Placement p =
            t.text == "SERVER" ? Placement::kServer : Placement::kClients;
        Advance();
        return Parsed{Finish(s, PlacementNode{p})};
      }
      if (t.text == "native") return ParseNative();
      if (t.text == "data") return ParseData();
      if (t.text == "torchscript") return ParseTorchScript();
      if (IsReservedWord(t.text)) {
        return cursor_.ErrorHere("expected an expression");
      }
    }
    return ParseName();
  }

  // A name in expression position: reference or intrinsic.
  absl::StatusOr<Parsed> ParseName() {
    const Token& t = Peek();
    for (auto it = scope_.rbegin(); it != scope_.rend(); ++it) {
      if (*it == t.text) {
        Start s = Begin();
        std::string name = Advance().text;
        return Parsed{Finish(s, ReferenceNode{std::move(name)})};
      }
    }
    if (IsIntrinsic(t.text)) {
      Start s = Begin();
      std::string uri = Advance().text;
      return Parsed{Finish(s, IntrinsicNode{std::move(uri)})};
    }
    return ErrorAt(t, absl::StrCat("unknown reference '", t.text, "'"));
  }

  absl::StatusOr<Parsed> ParseStruct() {
    Start s = Begin();
    Advance();  // <
    if (PeekPunct(">")) {
      Advance();
      return Parsed{Finish(s, StructNode{})};
    }
    FEDEXEC_ASSIGN_OR_RETURN(Parsed elements, ParseElements(">"));
    FEDEXEC_RETURN_IF_ERROR(CheckDepth(elements.depth, s.location));
    return Parsed{Finish(s, elements.node->As<StructNode>()), elements.depth};
  }

  // '(' starts a lambda `(x: T) -> e` or `() -> e`, an ascription `(e : T)`
  // or a parenthesized expression; which one is known after the ')'.
  absl::StatusOr<Parsed> ParseParenthesized() {
    Start s = Begin();
    Advance();  // (
    if (PeekPunct(")")) {
      Advance();
      FEDEXEC_RETURN_IF_ERROR(
          Expect("->", "after '()' (a lambda without parameter)"));
      return ParseLambdaBody(s, "", std::nullopt);
    }
    const Token& first = Peek();
    const bool reserved_first = first.kind == TokenKind::kIdentifier &&
                                !first.quoted && IsReservedWord(first.text);
    if (reserved_first && Peek(1).Is(":") && !first.IsWord("true") &&
        !first.IsWord("false") && !first.IsWord("nan") &&
        !first.IsWord("inf") && !first.IsWord("SERVER") &&
        !first.IsWord("CLIENTS")) {
      return ErrorAt(first, absl::StrCat("cannot bind the reserved word '",
                                         first.text, "'"));
    }
    const Token first_token = first;
    if (first.kind == TokenKind::kIdentifier && Peek(1).Is(":") &&
        !(IsReservedWord(first.text) && !first.quoted)) {
      const Token name_token = first;
      size_t before_name = loose_.size();
      Advance();  // name
      size_t before_colon = loose_.size();
      Advance();  // :
      size_t after_colon = loose_.size();
      FEDEXEC_ASSIGN_OR_RETURN(Type type, ParseTypeHere());
      if (PeekPunct(",")) {
        return cursor_.ErrorHere(
            "a lambda takes one parameter (pass several in a struct: "
            "(p: <a=T, b=U>) -> ...)");
      }
      FEDEXEC_RETURN_IF_ERROR(Expect(")", "after the type"));
      if (PeekPunct("->")) {
        Advance();
        return ParseLambdaBody(s, name_token.text, std::move(type));
      }
      // An ascribed name: its comments before ':' lead it, those on ':'
      // trail it, the rest (type, ')') lead it too.
      std::vector<std::string> leading = std::move(s.comments);
      leading.insert(leading.end(), loose_.begin() + before_name,
                     loose_.begin() + before_colon);
      std::vector<std::string> trailing(loose_.begin() + before_colon,
                                        loose_.begin() + after_colon);
      leading.insert(leading.end(), loose_.begin() + after_colon, loose_.end());
      loose_.resize(before_name);
      trailing = Concat(std::move(trailing), TakeComments());
      FEDEXEC_ASSIGN_OR_RETURN(NodePtr name, ResolveToken(name_token));
      return Parsed{std::make_shared<Node>(name->payload(), std::move(type),
                                           name->location(), std::move(leading),
                                           std::move(trailing))};
    }
    FEDEXEC_ASSIGN_OR_RETURN(Parsed inner, ParseExpression());
    std::optional<Type> type = inner.node->type();
    bool ascribed = false;
    if (PeekPunct(":")) {
      Advance();
      FEDEXEC_ASSIGN_OR_RETURN(type, ParseTypeHere());
      ascribed = true;
    }
    FEDEXEC_RETURN_IF_ERROR(
        Expect(")", ascribed ? "after the type" : "after the expression"));
    if (PeekPunct("->")) {
      if (reserved_first) {
        return ErrorAt(first_token,
                       absl::StrCat("cannot bind the reserved word '",
                                    first_token.text, "'"));
      }
      return ErrorAt(s.location,
                     "a lambda parameter must be one name with its type, "
                     "like (x: int32) -> ...");
    }
    std::vector<std::string> leading =
        Concat(std::move(s.comments), inner.node->comments());
    ClaimLoose(s.mark, leading);
    std::vector<std::string> trailing =
        Concat(inner.node->trailing_comments(), TakeComments());
    return Parsed{
        std::make_shared<Node>(inner.node->payload(), std::move(type),
                               inner.node->location(), std::move(leading),
                               std::move(trailing)),
        inner.depth};
  }

  // A name token already consumed, as an expression (for `(x : T)`).
  absl::StatusOr<NodePtr> ResolveToken(const Token& t) {
    SourceLocation at{t.line, t.column};
    if (!t.quoted && IsReservedWord(t.text)) {
      return ErrorAt(t, "expected an expression");
    }
    for (auto it = scope_.rbegin(); it != scope_.rend(); ++it) {
      if (*it == t.text) {
        return std::make_shared<Node>(ReferenceNode{t.text}, std::nullopt, at);
      }
    }
    if (IsIntrinsic(t.text)) {
      return std::make_shared<Node>(IntrinsicNode{t.text}, std::nullopt, at);
    }
    return ErrorAt(t, absl::StrCat("unknown reference '", t.text, "'"));
  }

  // After '->': the body, with `name` bound (none when empty).
  absl::StatusOr<Parsed> ParseLambdaBody(Start& s, const std::string& name,
                                         std::optional<Type> type) {
    if (!name.empty()) scope_.push_back(name);
    absl::StatusOr<Parsed> body = ParseExpression();
    if (!name.empty()) scope_.pop_back();
    if (!body.ok()) return body.status();
    int depth = body->depth + 1;
    FEDEXEC_RETURN_IF_ERROR(CheckDepth(depth, s.location));
    return Parsed{
        Finish(s, LambdaNode{name, std::move(type), std::move(body->node)}),
        depth};
  }

  // ---------------------------------------------------------- leaves

  absl::StatusOr<std::string> ExpectString(absl::string_view what) {
    if (Peek().kind != TokenKind::kString) {
      return cursor_.ErrorHere(absl::StrCat("expected ", what, " (a string)"));
    }
    return Advance().text;
  }

  absl::StatusOr<Type> ExpectFunctionType(absl::string_view leaf) {
    const Token at = Peek();
    FEDEXEC_ASSIGN_OR_RETURN(Type type, ParseTypeHere());
    if (type.kind() != TypeKind::kFunction) {
      return ErrorAt(at, absl::StrCat(leaf, " needs a function type, found ",
                                      type.ToString()));
    }
    return type;
  }

  absl::StatusOr<Parsed> ParseNative() {
    Start s = Begin();
    Advance();  // native
    FEDEXEC_RETURN_IF_ERROR(Expect("(", "after 'native'"));
    FEDEXEC_ASSIGN_OR_RETURN(std::string name,
                             ExpectString("the function's name"));
    FEDEXEC_RETURN_IF_ERROR(Expect(",", "after the function's name"));
    FEDEXEC_ASSIGN_OR_RETURN(Type type, ExpectFunctionType("native"));
    FEDEXEC_RETURN_IF_ERROR(Expect(")", "after the type"));
    return Parsed{Finish(s, NativeNode{std::move(name)}, std::move(type))};
  }

  absl::StatusOr<Parsed> ParseData() {
    Start s = Begin();
    Advance();  // data
    FEDEXEC_RETURN_IF_ERROR(Expect("(", "after 'data'"));
    DataNode data;
    FEDEXEC_ASSIGN_OR_RETURN(data.uri, ExpectString("the uri"));
    FEDEXEC_RETURN_IF_ERROR(Expect(",", "after the uri"));
    FEDEXEC_ASSIGN_OR_RETURN(Type type, ParseTypeHere());
    if (PeekPunct(",")) {
      Advance();
      FEDEXEC_ASSIGN_OR_RETURN(data.content_type_url,
                               ExpectString("the content's type url"));
      FEDEXEC_RETURN_IF_ERROR(Expect(",", "after the type url"));
      FEDEXEC_ASSIGN_OR_RETURN(data.content_value,
                               ExpectString("the content's bytes"));
      if (data.content_type_url.empty()) {
        return ErrorAt(s.location, "data content needs a non-empty type url");
      }
    }
    FEDEXEC_RETURN_IF_ERROR(Expect(")", "to close data(...)"));
    return Parsed{Finish(s, std::move(data), std::move(type))};
  }

  absl::StatusOr<Parsed> ParseTorchScript() {
    Start s = Begin();
    Advance();  // torchscript
    FEDEXEC_RETURN_IF_ERROR(Expect("(", "after 'torchscript'"));
    TorchScriptNode ts;
    FEDEXEC_ASSIGN_OR_RETURN(ts.method, ExpectString("the method's name"));
    FEDEXEC_RETURN_IF_ERROR(Expect(",", "after the method's name"));
    FEDEXEC_ASSIGN_OR_RETURN(ts.module, ExpectString("the module's bytes"));
    FEDEXEC_RETURN_IF_ERROR(Expect(",", "after the module"));
    FEDEXEC_ASSIGN_OR_RETURN(Type type, ExpectFunctionType("torchscript"));
    FEDEXEC_RETURN_IF_ERROR(Expect(")", "after the type"));
    return Parsed{Finish(s, std::move(ts), std::move(type))};
  }

  // ---------------------------------------------------------- literals

  // A literal at the cursor, read by the literal parser the value syntax
  // shares; the comments inside it are loose, as they were consumed.
  absl::StatusOr<Parsed> ParseLiteral() {
    Start s = Begin();
    const size_t start = Index();
    TensorLiteralOptions options;
    options.depth = recursion_;
    absl::StatusOr<Tensor> tensor = ParseTensorLiteralAt(cursor_, options);
    if (!tensor.ok()) return tensor.status();
    ClaimTokenComments(start, Index());
    return Parsed{Finish(s, LiteralNode{*std::move(tensor)})};
  }

  std::vector<bool> used_;  // per token: its comments are claimed
  TokenCursor cursor_;
  const Token* base_ = nullptr;  // the first token, to index tokens
  std::vector<std::string> loose_;
  std::vector<std::string> scope_;  // bound names, innermost last
  int recursion_ = 0;
};

}  // namespace

absl::StatusOr<Tensor> ParseTensorLiteralAt(
    TokenCursor& cursor, const TensorLiteralOptions& options) {
  return LiteralParser(cursor, options).Parse();
}

absl::StatusOr<NodePtr> ParseComputation(absl::string_view text) {
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(text));
  // The parser recurses once per nesting level, and nesting is bounded by
  // the number of tokens.
  const size_t bound = tokens.size();
  return CallWithStackFor(bound, [&]() -> absl::StatusOr<NodePtr> {
    Parser parser(std::move(tokens));
    return parser.ParseFile();
  });
}

}  // namespace fedexec::ir
