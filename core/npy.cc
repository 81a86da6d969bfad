// .npy reading and writing (see npy.h). The header is a Python dict literal;
// a small parser here reads the subset NumPy writes (strings, True/False,
// integers and tuples, nested to a small depth) and nothing else.
#include "core/npy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/limits.h"
#include "core/status.h"

namespace fedexec {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
// NumPy pads the header so that the data starts at a multiple of this.
constexpr size_t kAlignment = 64;
// The deepest nesting of tuples and lists read in a header.
constexpr int kMaxHeaderNesting = 8;

absl::Status Error(absl::string_view name, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(name, ": ", message));
}

// A Python value of a header: the kinds NumPy writes.
struct PyValue {
  enum Kind { kString, kBool, kInt, kTuple, kList, kNone };
  Kind kind = kNone;
  std::string text;  // kString: the string; kInt: the digits (with '-')
  bool boolean = false;
  std::vector<PyValue> items;  // kTuple, kList
};

const char* KindName(PyValue::Kind kind) {
  switch (kind) {
    case PyValue::kString:
      return "a string";
    case PyValue::kBool:
      return "a bool";
    case PyValue::kInt:
      return "an integer";
    case PyValue::kTuple:
      return "a tuple";
    case PyValue::kList:
      return "a list";
    case PyValue::kNone:
      return "None";
  }
  return "a value";
}

// Reads a Python literal dict with string keys.
class HeaderParser {
 public:
  explicit HeaderParser(absl::string_view text) : text_(text) {}

  // The dict's entries in order; error messages (without the file name)
  // say where the header stops making sense.
  absl::StatusOr<std::vector<std::pair<std::string, PyValue>>> ParseDict() {
    std::vector<std::pair<std::string, PyValue>> entries;
    SkipBlanks();
    if (!Accept('{')) return Fail("expected '{'");
    while (true) {
      SkipBlanks();
      if (Accept('}')) break;
      FEDEXEC_ASSIGN_OR_RETURN(PyValue key, ParseValue(0));
      if (key.kind != PyValue::kString) {
        return Fail(absl::StrCat("a key is ", KindName(key.kind),
                                 ", expected a string"));
      }
      SkipBlanks();
      if (!Accept(':')) return Fail("expected ':' after a key");
      SkipBlanks();
      FEDEXEC_ASSIGN_OR_RETURN(PyValue value, ParseValue(0));
      for (const auto& [k, v] : entries) {
        if (k == key.text) return Fail(absl::StrCat("duplicate key '", k, "'"));
      }
      entries.emplace_back(std::move(key.text), std::move(value));
      SkipBlanks();
      if (Accept(',')) continue;
      if (Accept('}')) break;
      return Fail("expected ',' or '}' after a value");
    }
    SkipBlanks();
    if (pos_ != text_.size()) return Fail("text after the dict");
    return entries;
  }

 private:
  absl::Status Fail(absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(
        "header is not a valid dict (at byte ", pos_, ": ", message, ")"));
  }
  bool Accept(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool AcceptWord(absl::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    const size_t end = pos_ + word.size();
    if (end < text_.size() &&
        (std::isalnum(static_cast<unsigned char>(text_[end])) != 0 ||
         text_[end] == '_')) {
      return false;
    }
    pos_ = end;
    return true;
  }
  void SkipBlanks() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
            text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  absl::StatusOr<PyValue> ParseValue(int depth) {
    if (depth > kMaxHeaderNesting) return Fail("nested too deeply");
    if (pos_ >= text_.size()) return Fail("unexpected end");
    PyValue v;
    const char c = text_[pos_];
    if (c == '\'' || c == '"') {
      ++pos_;
      v.kind = PyValue::kString;
      while (true) {
        if (pos_ >= text_.size()) return Fail("unterminated string");
        const char d = text_[pos_++];
        if (d == c) break;
        if (d == '\\') return Fail("escapes in strings are not supported");
        v.text.push_back(d);
      }
      return v;
    }
    if (c == '(' || c == '[') {
      const char close = c == '(' ? ')' : ']';
      ++pos_;
      v.kind = c == '(' ? PyValue::kTuple : PyValue::kList;
      bool comma = false;
      while (true) {
        SkipBlanks();
        if (Accept(close)) break;
        FEDEXEC_ASSIGN_OR_RETURN(PyValue item, ParseValue(depth + 1));
        v.items.push_back(std::move(item));
        SkipBlanks();
        if (Accept(',')) {
          comma = true;
          continue;
        }
        if (Accept(close)) break;
        return Fail(
            absl::StrCat("expected ',' or '", std::string(1, close), "'"));
      }
      // `(3)` is the integer 3 in Python, not a tuple.
      if (v.kind == PyValue::kTuple && v.items.size() == 1 && !comma) {
        PyValue inner = std::move(v.items[0]);
        return inner;
      }
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = PyValue::kInt;
      if (c == '-') v.text.push_back(text_[pos_++]);
      const size_t start = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        v.text.push_back(text_[pos_++]);
      }
      if (pos_ == start) return Fail("expected digits after '-'");
      // Python 2 wrote long integers with an L suffix.
      if (pos_ < text_.size() && (text_[pos_] == 'L' || text_[pos_] == 'l')) {
        ++pos_;
      }
      return v;
    }
    if (AcceptWord("True") || AcceptWord("False")) {
      v.kind = PyValue::kBool;
      v.boolean = text_[pos_ - 1] == 'e' && text_[pos_ - 2] == 'u';
      return v;
    }
    if (AcceptWord("None")) return v;
    return Fail(absl::StrCat("unexpected character '", std::string(1, c), "'"));
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

// What the header says.
struct Header {
  size_t data_offset = 0;
  std::string descr;
  DType dtype = DType::kInvalid;
  bool big_endian = false;
  bool fortran_order = false;
  std::vector<int64_t> shape;
  int64_t count = 0;
  size_t data_bytes = 0;
};

std::string ShapeTuple(const std::vector<int64_t>& shape) {
  if (shape.size() == 1) return absl::StrCat("(", shape[0], ",)");
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

// Maps a descr such as '<f4' to a dtype and byte order.
absl::Status ParseDescr(absl::string_view name, Header& h) {
  const std::string& d = h.descr;
  auto unsupported = [&](absl::string_view why) {
    return Error(name, absl::StrCat("unsupported dtype '", d, "'",
                                    why.empty() ? "" : " (", why,
                                    why.empty() ? "" : ")"));
  };
  if (d.size() < 2) return unsupported("");
  const char order = d[0];
  if (order != '<' && order != '>' && order != '|' && order != '=') {
    return unsupported("no byte order");
  }
  const absl::string_view type = absl::string_view(d).substr(1);
  struct Entry {
    absl::string_view code;
    DType dtype;
  };
  static constexpr Entry kTypes[] = {
      {"b1", DType::kBool},      {"i1", DType::kInt8},
      {"i2", DType::kInt16},     {"i4", DType::kInt32},
      {"i8", DType::kInt64},     {"u1", DType::kUInt8},
      {"u2", DType::kUInt16},    {"u4", DType::kUInt32},
      {"u8", DType::kUInt64},    {"f2", DType::kFloat16},
      {"f4", DType::kFloat32},   {"f8", DType::kFloat64},
      {"c8", DType::kComplex64}, {"c16", DType::kComplex128},
  };
  for (const Entry& e : kTypes) {
    if (e.code != type) continue;
    h.dtype = e.dtype;
    if (DTypeSize(e.dtype) > 1) {
      if (order == '|') {
        return unsupported("byte order '|' is for 1-byte types only");
      }
      const bool native_little = std::endian::native == std::endian::little;
      h.big_endian = order == '>' || (order == '=' && !native_little);
    }
    return absl::OkStatus();
  }
  switch (type.empty() ? ' ' : type[0]) {
    case 'U':
    case 'S':
    case 'a':
      return unsupported("strings are not supported");
    case 'O':
      return unsupported("Python objects are not supported");
    default:
      return unsupported("");
  }
}

// Reads and checks the magic, version and header of `bytes`. `name` names
// the source in messages.
absl::StatusOr<Header> ParseHeader(absl::string_view bytes,
                                   absl::string_view name) {
  if (bytes.size() < kMagicSize ||
      bytes.substr(0, kMagicSize) != absl::string_view(kMagic, kMagicSize)) {
    return Error(name, "not a .npy file (it does not start with \\x93NUMPY)");
  }
  if (bytes.size() < 8) {
    return Error(name, absl::StrCat("truncated header: the file has ",
                                    bytes.size(), " bytes"));
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  size_t prefix;
  if (major == 1 && minor == 0) {
    prefix = 10;
  } else if ((major == 2 || major == 3) && minor == 0) {
    prefix = 12;
  } else {
    return Error(name,
                 absl::StrCat("unsupported format version ", major, ".", minor,
                              " (1.0, 2.0 and 3.0 are supported)"));
  }
  if (bytes.size() < prefix) {
    return Error(name, absl::StrCat("truncated header: the file has ",
                                    bytes.size(), " bytes"));
  }
  size_t header_len = 0;
  for (size_t i = prefix; i-- > 8;) {
    header_len = header_len * 256 + static_cast<unsigned char>(bytes[i]);
  }
  if (header_len > bytes.size() - prefix) {
    return Error(name,
                 absl::StrCat("truncated header: it declares ", header_len,
                              " bytes, the file holds ", bytes.size() - prefix,
                              " after the prefix"));
  }
  Header h;
  h.data_offset = prefix + header_len;
  HeaderParser parser(bytes.substr(prefix, header_len));
  auto entries = parser.ParseDict();
  if (!entries.ok()) return Error(name, entries.status().message());
  const PyValue* descr = nullptr;
  const PyValue* fortran = nullptr;
  const PyValue* shape = nullptr;
  for (const auto& [key, value] : *entries) {
    if (key == "descr") {
      descr = &value;
    } else if (key == "fortran_order") {
      fortran = &value;
    } else if (key == "shape") {
      shape = &value;
    } else {
      return Error(name, absl::StrCat("header has an unexpected key '", key,
                                      "' (expected descr, fortran_order and "
                                      "shape)"));
    }
  }
  for (auto [value, key] :
       {std::pair{descr, "descr"}, std::pair{fortran, "fortran_order"},
        std::pair{shape, "shape"}}) {
    if (value == nullptr) {
      return Error(name, absl::StrCat("header has no '", key, "'"));
    }
  }
  if (descr->kind != PyValue::kString) {
    return Error(name, absl::StrCat("unsupported dtype: 'descr' is ",
                                    KindName(descr->kind),
                                    " (structured dtypes are not supported)"));
  }
  h.descr = descr->text;
  FEDEXEC_RETURN_IF_ERROR(ParseDescr(name, h));
  if (fortran->kind != PyValue::kBool) {
    return Error(name,
                 absl::StrCat("'fortran_order' is ", KindName(fortran->kind),
                              ", expected True or False"));
  }
  h.fortran_order = fortran->boolean;
  if (shape->kind != PyValue::kTuple) {
    return Error(name, absl::StrCat("'shape' is ", KindName(shape->kind),
                                    ", expected a tuple of integers"));
  }
  for (size_t i = 0; i < shape->items.size(); ++i) {
    const PyValue& dim = shape->items[i];
    if (dim.kind != PyValue::kInt) {
      return Error(
          name, absl::StrCat("'shape' element ", i, " is ", KindName(dim.kind),
                             ", expected an integer"));
    }
    if (dim.text[0] == '-') {
      return Error(name, absl::StrCat("'shape' element ", i, " is ", dim.text,
                                      ", must be >= 0"));
    }
    int64_t value = 0;
    for (char c : dim.text) {
      value = value * 10 + (c - '0');
      if (value > kMaxTensorElements) {
        return Error(name, absl::StrCat("'shape' element ", i, " is ", dim.text,
                                        ", more than ", kMaxTensorElements));
      }
    }
    h.shape.push_back(value);
  }
  absl::StatusOr<int64_t> count = CheckedNumElements(h.shape);
  if (!count.ok()) return Error(name, count.status().message());
  h.count = *count;
  h.data_bytes = static_cast<size_t>(h.count) * DTypeSize(h.dtype);
  return h;
}

// Reverses the bytes of every `unit`-byte word of `data`.
void SwapBytes(char* data, size_t bytes, size_t unit) {
  for (size_t i = 0; i + unit <= bytes; i += unit) {
    std::reverse(data + i, data + i + unit);
  }
}

// Rearranges `count` elements of `size` bytes from column-major `src` into
// row-major `dst`, both of `shape`. REQUIRES: count > 0.
void FortranToC(const char* src, char* dst, const std::vector<int64_t>& shape,
                int64_t count, size_t size) {
  const size_t rank = shape.size();
  std::vector<int64_t> strides(rank);  // column-major, in elements
  int64_t stride = 1;
  for (size_t k = 0; k < rank; ++k) {
    strides[k] = stride;
    stride *= shape[k];
  }
  std::vector<int64_t> index(rank, 0);
  int64_t offset = 0;
  for (int64_t n = 0; n < count; ++n) {
    std::memcpy(dst + n * size, src + offset * size, size);
    for (size_t k = rank; k-- > 0;) {
      if (++index[k] < shape[k]) {
        offset += strides[k];
        break;
      }
      offset -= (shape[k] - 1) * strides[k];
      index[k] = 0;
    }
  }
}

absl::StatusOr<Tensor> Decode(std::shared_ptr<const void> owner,
                              absl::string_view bytes, absl::string_view name) {
  FEDEXEC_ASSIGN_OR_RETURN(Header h, ParseHeader(bytes, name));
  const size_t available = bytes.size() - h.data_offset;
  if (available < h.data_bytes) {
    return Error(name,
                 absl::StrCat("truncated data: shape ", ShapeTuple(h.shape),
                              " of '", h.descr, "' needs ", h.data_bytes,
                              " bytes, the file holds ", available));
  }
  if (available > h.data_bytes) {
    return Error(name, absl::StrCat(available - h.data_bytes,
                                    " bytes after the data of shape ",
                                    ShapeTuple(h.shape), " of '", h.descr,
                                    "' (a .npy file holds one array)"));
  }
  const char* data = bytes.data() + h.data_offset;
  if (h.dtype == DType::kBool) {
    for (size_t i = 0; i < h.data_bytes; ++i) {
      const unsigned char b = static_cast<unsigned char>(data[i]);
      if (b > 1) {
        return Error(name, absl::StrCat("bool element ", i, " is the byte ",
                                        static_cast<int>(b), ", not 0 or 1"));
      }
    }
  }
  const size_t size = DTypeSize(h.dtype);
  const bool little = std::endian::native == std::endian::little;
  const bool swap = size > 1 && h.big_endian == little;
  const bool transpose = h.fortran_order && h.shape.size() > 1 && h.count > 0;
  if (owner != nullptr && !swap && !transpose &&
      reinterpret_cast<uintptr_t>(data) % kAlignment == 0) {
    absl::StatusOr<Tensor> view = Tensor::FromBuffer(
        h.dtype, h.shape, std::move(owner), data, h.data_bytes);
    if (!view.ok()) return Error(name, view.status().message());
    return view;
  }
  std::shared_ptr<void> buffer = AllocateUninitializedBuffer(h.data_bytes);
  if (buffer == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(
        name, ": cannot allocate ", h.data_bytes, " bytes for the data"));
  }
  char* out = static_cast<char*>(buffer.get());
  if (transpose) {
    FortranToC(data, out, h.shape, h.count, size);
  } else if (h.data_bytes > 0) {
    std::memcpy(out, data, h.data_bytes);
  }
  if (swap) SwapBytes(out, h.data_bytes, IsComplex(h.dtype) ? size / 2 : size);
  absl::StatusOr<Tensor> tensor = Tensor::FromBuffer(
      h.dtype, h.shape, std::move(buffer), out, h.data_bytes);
  if (!tensor.ok()) return Error(name, tensor.status().message());
  return tensor;
}

// Appends up to `n` more bytes of `fd` to `out`; stops early at the end.
// Grows `out` by what arrives, not by `n`, so that a header that claims
// terabytes costs nothing until they come.
absl::Status ReadSome(int fd, const std::string& path, size_t n,
                      std::string& out) {
  constexpr size_t kChunk = size_t{1} << 20;
  while (n > 0) {
    const size_t start = out.size();
    const size_t want = std::min(n, kChunk);
    out.resize(start + want);
    const ssize_t r = ::read(fd, out.data() + start, want);
    if (r < 0 && errno == EINTR) {
      out.resize(start);
      continue;
    }
    if (r < 0) {
      const int error = errno;
      out.resize(start);
      return ErrnoError(path, "cannot read", error);
    }
    out.resize(start + static_cast<size_t>(r));
    if (r == 0) break;
    n -= static_cast<size_t>(r);
  }
  return absl::OkStatus();
}

// A file that cannot be mapped (a pipe, a device): reads just the bytes the
// header asks for, plus one more to notice trailing data, so that an endless
// source cannot make the reader hang.
absl::StatusOr<Tensor> ReadStream(int fd, const std::string& path) {
  std::string bytes;
  FEDEXEC_RETURN_IF_ERROR(ReadSome(fd, path, 12, bytes));
  absl::StatusOr<Header> header;
  const bool magic = bytes.size() >= 8 &&
                     absl::string_view(bytes).substr(0, kMagicSize) ==
                         absl::string_view(kMagic, kMagicSize) &&
                     bytes[7] == 0;
  if (!magic) {
    // Not a header this reader knows: ParseHeader says why.
  } else if (bytes.size() >= 10 && bytes[6] == 1) {
    // Version 1.0: the header length ends at byte 10, and the two bytes read
    // past it already belong to the header.
    const size_t len =
        static_cast<unsigned char>(bytes[8]) +
        256 * static_cast<size_t>(static_cast<unsigned char>(bytes[9]));
    if (10 + len > bytes.size()) {
      FEDEXEC_RETURN_IF_ERROR(
          ReadSome(fd, path, 10 + len - bytes.size(), bytes));
    }
  } else if (bytes.size() == 12 && (bytes[6] == 2 || bytes[6] == 3)) {
    size_t len = 0;
    for (size_t i = 12; i-- > 8;) {
      len = len * 256 + static_cast<unsigned char>(bytes[i]);
    }
    // A header longer than this is not a header (NumPy's own limit is far
    // smaller); reading it all could exhaust memory.
    constexpr size_t kMaxHeader = size_t{1} << 30;
    if (len > kMaxHeader) {
      return Error(path, absl::StrCat("header of ", len, " bytes is too long"));
    }
    FEDEXEC_RETURN_IF_ERROR(ReadSome(fd, path, len, bytes));
  }
  header = ParseHeader(bytes, path);
  if (header.ok()) {
    const size_t have = bytes.size() - header->data_offset;
    if (header->data_bytes + 1 > have) {
      FEDEXEC_RETURN_IF_ERROR(
          ReadSome(fd, path, header->data_bytes + 1 - have, bytes));
    }
  }
  return Decode(nullptr, bytes, path);
}

}  // namespace

absl::StatusOr<Tensor> DecodeNpy(absl::string_view bytes,
                                 absl::string_view name) {
  return Decode(nullptr, bytes, name);
}

absl::StatusOr<Tensor> DecodeNpyShared(std::shared_ptr<const void> owner,
                                       absl::string_view bytes,
                                       absl::string_view name) {
  return Decode(std::move(owner), bytes, name);
}

absl::StatusOr<Tensor> ReadNpyFile(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoError(path, "cannot open", errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError(path, "cannot stat", errno);
  if (S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": is a directory, not a .npy file"));
  }
  if (!S_ISREG(st.st_mode) || st.st_size < kNpyMapBytes) {
    return ReadStream(fd, path);
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) return ReadStream(fd, path);
  std::shared_ptr<const void> owner(
      map, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
  return Decode(std::move(owner),
                absl::string_view(static_cast<const char*>(map), size), path);
}

absl::StatusOr<std::string> EncodeNpy(const Tensor& tensor) {
  const char* descr = nullptr;
  switch (tensor.dtype()) {
    case DType::kBool:
      descr = "|b1";
      break;
    case DType::kInt8:
      descr = "|i1";
      break;
    case DType::kUInt8:
      descr = "|u1";
      break;
    case DType::kInt16:
      descr = "<i2";
      break;
    case DType::kInt32:
      descr = "<i4";
      break;
    case DType::kInt64:
      descr = "<i8";
      break;
    case DType::kUInt16:
      descr = "<u2";
      break;
    case DType::kUInt32:
      descr = "<u4";
      break;
    case DType::kUInt64:
      descr = "<u8";
      break;
    case DType::kFloat16:
      descr = "<f2";
      break;
    case DType::kFloat32:
      descr = "<f4";
      break;
    case DType::kFloat64:
      descr = "<f8";
      break;
    case DType::kComplex64:
      descr = "<c8";
      break;
    case DType::kComplex128:
      descr = "<c16";
      break;
    case DType::kString:
    case DType::kBFloat16:
    case DType::kInvalid:
      break;
  }
  if (descr == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot write a ", tensor.valid() ? tensor.TypeString() : "default",
        " tensor as .npy (no NumPy dtype holds it)"));
  }
  std::string header =
      absl::StrCat("{'descr': '", descr, "', 'fortran_order': False, 'shape': ",
                   ShapeTuple(tensor.shape()), ", }");
  // Pad with blanks and a final newline so that the data starts on a
  // 64-byte boundary. Version 1.0 stores the header length in 16 bits.
  const auto padded = [&](size_t prefix) {
    const size_t unpadded = prefix + header.size() + 1;
    return header.size() + 1 +
           (kAlignment - unpadded % kAlignment) % kAlignment;
  };
  size_t prefix = 10;
  int major = 1;
  if (padded(prefix) > 65535) {
    prefix = 12;
    major = 2;
  }
  header.append(padded(prefix) - header.size() - 1, ' ');
  header.push_back('\n');
  const size_t len = header.size();
  std::string out(kMagic, kMagicSize);
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  for (size_t i = 0; i < prefix - 8; ++i) {
    out.push_back(static_cast<char>((len >> (8 * i)) & 0xFF));
  }
  out += header;
  const size_t data_offset = out.size();
  out.resize(data_offset + tensor.byte_size());
  if (tensor.byte_size() > 0) {
    std::memcpy(out.data() + data_offset, tensor.raw_data(),
                tensor.byte_size());
  }
  if (std::endian::native != std::endian::little) {
    const size_t size = DTypeSize(tensor.dtype());
    SwapBytes(out.data() + data_offset, tensor.byte_size(),
              IsComplex(tensor.dtype()) ? size / 2 : size);
  }
  return out;
}

absl::Status WriteNpyFile(const std::string& path, const Tensor& tensor) {
  absl::StatusOr<std::string> bytes = EncodeNpy(tensor);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", bytes.status().message()));
  }
  int fd;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoError(path, "cannot create", errno);
  size_t done = 0;
  while (done < bytes->size()) {
    const ssize_t w = ::write(fd, bytes->data() + done, bytes->size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      const int error = errno;
      ::close(fd);
      return ErrnoError(path, "cannot write", error);
    }
    done += static_cast<size_t>(w);
  }
  if (::close(fd) != 0) return ErrnoError(path, "cannot write", errno);
  return absl::OkStatus();
}

}  // namespace fedexec
