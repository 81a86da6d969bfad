// FileBackend: data uris resolved to .npy tensors and tables of .npy
// columns below a root directory, never outside it.
#include "data/data_backend.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <list>
#include <mutex>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "core/npy.h"
#include "core/status.h"

namespace fedexec::data {
namespace {

namespace fs = std::filesystem;

absl::string_view Sv(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

std::string Prefix(std::string_view uri) {
  return absl::StrCat("data '", Sv(uri), "': ");
}

absl::Status Invalid(std::string_view uri, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(Prefix(uri), Sv(message)));
}

absl::Status Outside(std::string_view uri, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      Prefix(uri), "resolves outside the data root (", Sv(why), ")"));
}

// The scheme of `text` (what precedes a ':' that comes before any '/'),
// if it has one: a letter, then letters, digits, '+', '-' or '.'.
std::optional<std::string_view> SchemeOf(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const std::string_view scheme = text.substr(0, colon);
  if (!absl::ascii_isalpha(static_cast<unsigned char>(scheme[0]))) {
    return std::nullopt;
  }
  for (char c : scheme) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' &&
        c != '-' && c != '.') {
      return std::nullopt;  // a '/' (or anything else) before the ':'
    }
  }
  return scheme;
}

// Whether `text` is a non-empty run of decimal digits.
bool IsDecimal(absl::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
}

absl::Status ParseQuery(std::string_view uri, std::string_view query,
                        FileDataUri& out) {
  if (query.empty()) return Invalid(uri, "empty query after '?'");
  for (absl::string_view param : absl::StrSplit(Sv(query), '&')) {
    if (param.empty()) return Invalid(uri, "empty query parameter");
    const size_t eq = param.find('=');
    if (eq == absl::string_view::npos) {
      return Invalid(
          uri, absl::StrCat("query parameter '", param, "' is not key=value"));
    }
    const absl::string_view key = param.substr(0, eq);
    const absl::string_view value = param.substr(eq + 1);
    if (key == "batches") {
      if (out.batches.has_value()) {
        return Invalid(uri, "batches given twice");
      }
      std::vector<int64_t>& batches = out.batches.emplace();
      if (value.empty()) continue;  // no batch at all
      for (absl::string_view index : absl::StrSplit(value, ',')) {
        int64_t n = 0;
        if (!IsDecimal(index) || !absl::SimpleAtoi(index, &n)) {
          return Invalid(uri, absl::StrCat("batches must list batch indices "
                                           "(integers from 0), found '",
                                           index, "'"));
        }
        batches.push_back(n);
      }
      continue;
    }
    if (key != "batch_size") {
      return Invalid(uri, absl::StrCat("unknown query parameter '", key,
                                       "' (the file backend knows "
                                       "batch_size and batches)"));
    }
    if (out.batch_size.has_value()) {
      return Invalid(uri, "batch_size given twice");
    }
    int64_t n = 0;
    if (!IsDecimal(value) || !absl::SimpleAtoi(value, &n) || n <= 0) {
      return Invalid(uri, absl::StrCat("batch_size must be a positive "
                                       "integer, found '",
                                       value, "'"));
    }
    out.batch_size = n;
  }
  if (out.batches.has_value() && !out.batch_size.has_value()) {
    return Invalid(uri, "batches needs batch_size");
  }
  return absl::OkStatus();
}

// The components of a relative `path` with empty and "." components
// dropped and ".." applied; nullopt when a ".." climbs above the start.
std::optional<std::vector<std::string>> Normalize(std::string_view path) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(Sv(path), '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (out.empty()) return std::nullopt;
      out.pop_back();
      continue;
    }
    out.emplace_back(part);
  }
  return out;
}

// Whether `path` is `root` or inside it, component by component (both
// canonical).
bool IsWithin(const fs::path& root, const fs::path& path) {
  auto p = path.begin();
  for (const fs::path& r : root) {
    if (r.empty()) continue;  // a trailing separator
    if (p == path.end() || *p != r) return false;
    ++p;
  }
  return true;
}

// Symbolic links followed on one path at most (as Linux's realpath).
constexpr int kMaxSymlinks = 40;

// The path that `components` (relative to the canonical `root`, already
// free of "." and "..") name, resolved as realpath would, but with every
// component examined by lstat, so that a link whose target is missing is
// still seen as a link: the result contains no symbolic link, and it (or,
// for a missing file, the deepest existing directory reached) must lie
// inside the root. `display` names the path in messages, `label` (empty or
// "field 'x': ") says what it is.
absl::StatusOr<fs::path> Locate(const fs::path& root,
                                const std::vector<std::string>& components,
                                std::string_view uri,
                                const std::string& display,
                                const std::string& label) {
  const auto outside = [&] {
    return Outside(uri, absl::StrCat(label, "'", display,
                                     "' leads out through a symbolic link"));
  };
  const std::string what = absl::StrCat(Prefix(uri), label);
  std::deque<std::string> pending(components.begin(), components.end());
  fs::path path = root;
  int links = 0;
  while (!pending.empty()) {
    const std::string part = std::move(pending.front());
    pending.pop_front();
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      path = path.parent_path();
      continue;
    }
    fs::path next = path / part;
    struct stat st;
    if (::lstat(next.c_str(), &st) != 0) {
      const int error = errno;
      // Nothing outside the root may be probed: a missing target behind a
      // link out of the root is an escape, not a missing file.
      if (!IsWithin(root, path)) return outside();
      if (error == ENOENT || error == ENOTDIR) {
        return absl::NotFoundError(absl::StrCat(what, "no file or directory '",
                                                display, "' in the data root"));
      }
      if (error == EACCES) {
        return absl::PermissionDeniedError(
            absl::StrCat(what, "'", display, "': permission denied"));
      }
      return absl::InvalidArgumentError(absl::StrCat(
          what, "'", display,
          "': ", std::error_code(error, std::generic_category()).message()));
    }
    if (S_ISLNK(st.st_mode)) {
      if (++links > kMaxSymlinks) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, "'", display, "': too many levels of symbolic links"));
      }
      std::error_code ec;
      const fs::path target = fs::read_symlink(next, ec);
      if (ec) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, "'", display, "': ", ec.message()));
      }
      if (target.is_absolute()) path = target.root_path();
      std::vector<std::string> parts;
      for (const fs::path& p : target.relative_path()) parts.push_back(p);
      pending.insert(pending.begin(), parts.begin(), parts.end());
      continue;
    }
    if (!S_ISDIR(st.st_mode) && !pending.empty()) {
      if (!IsWithin(root, next)) return outside();
      return absl::NotFoundError(absl::StrCat(what, "no file or directory '",
                                              display, "' in the data root"));
    }
    path = std::move(next);
  }
  if (!IsWithin(root, path)) return outside();
  return path;
}

enum class FileKind { kRegular, kDirectory, kOther };

// Which file a path is now (FileBackend::Cache's validity check).
struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

struct FileInfo {
  FileKind kind = FileKind::kOther;
  FileIdentity identity;
};

FileKind KindOf(const struct stat& st) {
  return S_ISREG(st.st_mode)   ? FileKind::kRegular
         : S_ISDIR(st.st_mode) ? FileKind::kDirectory
                               : FileKind::kOther;
}

FileIdentity IdentityOf(const struct stat& st) {
  return FileIdentity{
      st.st_dev, st.st_ino, st.st_size,
      int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
}

absl::StatusOr<FileInfo> InfoOf(const fs::path& canonical, std::string_view uri,
                                const std::string& display,
                                const std::string& label) {
  struct stat st;
  if (::stat(canonical.c_str(), &st) != 0) {
    const std::error_code ec(errno, std::generic_category());
    return absl::InvalidArgumentError(
        absl::StrCat(Prefix(uri), label, "'", display, "': ", ec.message()));
  }
  return FileInfo{KindOf(st), IdentityOf(st)};
}

}  // namespace

// Columns read, by canonical path, least recently used first out.
class ColumnCache {
 public:
  explicit ColumnCache(int64_t max_bytes) : max_bytes_(max_bytes) {}

  std::optional<Tensor> Find(const std::string& path,
                             const FileIdentity& identity) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(path);
    if (it == entries_.end()) return std::nullopt;
    if (!(it->second.identity == identity)) {
      Erase(it);
      return std::nullopt;
    }
    order_.splice(order_.begin(), order_, it->second.position);
    return it->second.tensor;
  }

  void Insert(const std::string& path, const FileIdentity& identity,
              const Tensor& tensor) {
    const int64_t bytes = static_cast<int64_t>(tensor.byte_size());
    if (bytes > max_bytes_) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = entries_.find(path); it != entries_.end()) Erase(it);
    order_.push_front(path);
    entries_.emplace(path, Entry{identity, tensor, order_.begin()});
    bytes_ += bytes;
    while (bytes_ > max_bytes_) Erase(entries_.find(order_.back()));
  }

 private:
  struct Entry {
    FileIdentity identity;
    Tensor tensor;
    std::list<std::string>::iterator position;
  };

  // REQUIRES: mu_ held.
  void Erase(absl::flat_hash_map<std::string, Entry>::iterator it) {
    bytes_ -= static_cast<int64_t>(it->second.tensor.byte_size());
    order_.erase(it->second.position);
    entries_.erase(it);
  }

  const int64_t max_bytes_;
  std::mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_;  // guarded by mu_
  std::list<std::string> order_;                     // guarded by mu_
  int64_t bytes_ = 0;                                // guarded by mu_
};

// Where paths below the root were found to lead (Locate) and the file
// that was there then, by the path as written below the root ("a/b/x.npy").
// A hit still stats the recorded path: it stands only while the same file
// (device, inode, size, modification time) is there, so a path that now
// leads elsewhere (a component replaced by a link out of the root, a file
// renamed over) is walked and checked again. A bounded number of paths is
// kept; when full, the table starts afresh.
class LocationCache {
 public:
  struct Found {
    fs::path canonical;
    FileInfo info;
  };

  std::optional<Found> Find(const std::string& path) {
    Found found;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = entries_.find(path);
      if (it == entries_.end()) return std::nullopt;
      found = it->second;
    }
    struct stat st;
    if (::stat(found.canonical.c_str(), &st) != 0) return std::nullopt;
    if (!(IdentityOf(st) == found.info.identity) ||
        KindOf(st) != found.info.kind) {
      return std::nullopt;
    }
    return found;
  }

  void Insert(const std::string& path, Found found) {
    std::lock_guard<std::mutex> lock(mu_);
    if (entries_.size() >= kMaxEntries) entries_.clear();
    entries_.insert_or_assign(path, std::move(found));
  }

  static constexpr size_t kMaxEntries = 1 << 16;

 private:
  std::mutex mu_;
  absl::flat_hash_map<std::string, Found> entries_;  // guarded by mu_
};

namespace {

// Locate and InfoOf, through `cache`, keyed by `display` (the components
// joined by '/', or "." for the root itself).
absl::StatusOr<LocationCache::Found> LocateCached(
    LocationCache& cache, const fs::path& root,
    const std::vector<std::string>& components, std::string_view uri,
    const std::string& display, const std::string& label) {
  const std::string& key = display;
  if (std::optional<LocationCache::Found> hit = cache.Find(key)) {
    return *std::move(hit);
  }
  LocationCache::Found found;
  FEDEXEC_ASSIGN_OR_RETURN(found.canonical,
                           Locate(root, components, uri, display, label));
  FEDEXEC_ASSIGN_OR_RETURN(found.info,
                           InfoOf(found.canonical, uri, display, label));
  cache.Insert(key, found);
  return found;
}

// Reads the .npy file at `canonical` (or takes it from `cache`); messages
// name `display` instead of the host path.
absl::StatusOr<Tensor> ReadColumn(const fs::path& canonical,
                                  const FileIdentity& identity,
                                  ColumnCache* cache, std::string_view uri,
                                  const std::string& display,
                                  const std::string& label) {
  const std::string path = canonical.string();
  if (cache != nullptr) {
    if (std::optional<Tensor> kept = cache->Find(path, identity)) return *kept;
  }
  absl::StatusOr<Tensor> tensor = ReadNpyFile(path);
  if (tensor.ok()) {
    if (cache != nullptr) cache->Insert(path, identity, *tensor);
    return tensor;
  }
  const std::string message =
      absl::StrReplaceAll(tensor.status().message(), {{path, display}});
  return absl::Status(tensor.status().code(),
                      absl::StrCat(Prefix(uri), label, message));
}

// Whether a tensor of this dtype and shape is an instance of the tensor
// type `type`.
bool Matches(DType dtype, const std::vector<int64_t>& shape,
             const ir::Type& type) {
  if (dtype != type.dtype()) return false;
  if (type.unknown_rank()) return true;
  if (shape.size() != type.dims().size()) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (type.dims()[i] != ir::kUnknownDim && type.dims()[i] != shape[i]) {
      return false;
    }
  }
  return true;
}

// What the request asks for, from the type and the query.
struct Plan {
  bool sequence = false;
  std::optional<int64_t> batch_size;            // sequences only
  std::optional<std::vector<int64_t>> batches;  // with batch_size only
  bool table = false;  // a directory, else one .npy file
  ir::Type row;        // the type (or the sequence's element type)
};

absl::StatusOr<Plan> PlanFor(std::string_view uri, const ir::Type& type,
                             const FileDataUri& parsed) {
  const std::optional<int64_t>& batch_size = parsed.batch_size;
  Plan plan;
  plan.batches = parsed.batches;
  plan.sequence = type.kind() == ir::TypeKind::kSequence;
  plan.row = plan.sequence ? type.element() : type;
  if (batch_size.has_value() && !plan.sequence) {
    return Invalid(uri, absl::StrCat("batch_size applies to sequence types "
                                     "only, the type is ",
                                     type.ToString()));
  }
  plan.batch_size = batch_size;
  const auto unsupported = [&] {
    return Invalid(
        uri, absl::StrCat("the file backend cannot give a value of type ",
                          type.ToString(),
                          " (it gives a tensor, a struct of named tensors, "
                          "or a sequence of either)"));
  };
  if (plan.row.kind() == ir::TypeKind::kTensor) return plan;
  if (plan.row.kind() != ir::TypeKind::kStruct) return unsupported();
  plan.table = true;
  const auto& fields = plan.row.elements();
  if (fields.empty() && plan.sequence) {
    return Invalid(uri, absl::StrCat("a sequence of ", plan.row.ToString(),
                                     " has no column to take rows from"));
  }
  for (size_t i = 0; i < fields.size(); ++i) {
    const std::string& name = fields[i].name;
    if (fields[i].type.kind() != ir::TypeKind::kTensor) return unsupported();
    if (name.empty()) {
      return Invalid(uri, absl::StrCat("field ", i, " of ", type.ToString(),
                                       " has no name; a table's fields are "
                                       "named by their files"));
    }
    if (name == "." || name == ".." ||
        name.find_first_of(std::string_view("/\0", 2)) != std::string::npos) {
      return Invalid(uri,
                     absl::StrCat("field '", name, "' cannot be a file name"));
    }
  }
  return plan;
}

struct Column {
  std::string label;  // "field 'x' (t/x.npy)" or "'w.npy'"
  Tensor tensor;
  ir::Type type;  // of the field (or of the whole value / row)
};

// Rows [begin, end) of `column`, viewing its buffer (kept by `owner`); with
// the leading dim kept (a batch) or dropped (one row, end == begin + 1).
absl::StatusOr<Tensor> RowsOf(const Tensor& column,
                              const std::shared_ptr<const void>& owner,
                              int64_t begin, int64_t end, bool keep_leading) {
  const std::vector<int64_t>& shape = column.shape();
  int64_t row_elements = 1;
  for (size_t i = 1; i < shape.size(); ++i) row_elements *= shape[i];
  const size_t row_bytes =
      static_cast<size_t>(row_elements) * DTypeSize(column.dtype());
  std::vector<int64_t> out_shape;
  if (keep_leading) {
    out_shape = shape;
    out_shape[0] = end - begin;
  } else {
    out_shape.assign(shape.begin() + 1, shape.end());
  }
  const char* data = static_cast<const char*>(column.raw_data());
  const size_t offset = static_cast<size_t>(begin) * row_bytes;
  if (offset > 0) data += offset;
  return Tensor::FromBuffer(column.dtype(), std::move(out_shape), owner, data,
                            static_cast<size_t>(end - begin) * row_bytes);
}

// One element of a sequence: the tensor, or the struct of the columns.
Value Element(const Plan& plan, std::vector<Tensor> parts) {
  if (!plan.table) return Value(std::move(parts[0]));
  std::vector<std::pair<std::string, Value>> fields;
  fields.reserve(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    fields.emplace_back(plan.row.elements()[i].name,
                        Value(std::move(parts[i])));
  }
  return Value::Struct(std::move(fields));
}

absl::StatusOr<Value> WholeColumns(std::string_view uri, const Plan& plan,
                                   std::vector<Column> columns) {
  for (const Column& c : columns) {
    if (!Matches(c.tensor.dtype(), c.tensor.shape(), c.type)) {
      return Invalid(uri,
                     absl::StrCat(c.label, ": expected ", c.type.ToString(),
                                  ", found ", c.tensor.TypeString()));
    }
  }
  std::vector<Tensor> parts;
  for (Column& c : columns) parts.push_back(std::move(c.tensor));
  return Element(plan, std::move(parts));
}

absl::StatusOr<Value> SequenceOfRows(std::string_view uri, const Plan& plan,
                                     const std::vector<Column>& columns) {
  const bool batched = plan.batch_size.has_value();
  int64_t rows = -1;
  for (const Column& c : columns) {
    if (c.tensor.rank() == 0) {
      return Invalid(
          uri, absl::StrCat(c.label, ": a scalar (", c.tensor.TypeString(),
                            ") has no rows to make a sequence of"));
    }
    // The column's type: rows of the element type, or batches of it.
    const ir::Type& t = c.type;
    bool ok = true;
    if (batched && !t.unknown_rank() && t.dims().empty()) {
      return Invalid(uri, absl::StrCat(c.label, ": the type ", t.ToString(),
                                       " has no leading dim for a batch of "
                                       "rows (write ",
                                       t.ToString(), "[?])"));
    }
    if (t.unknown_rank()) {
      ok = c.tensor.dtype() == t.dtype();
    } else {
      std::vector<int64_t> dims = t.dims();
      if (batched) {
        dims[0] = ir::kUnknownDim;
      } else {
        dims.insert(dims.begin(), ir::kUnknownDim);
      }
      ok = Matches(c.tensor.dtype(), c.tensor.shape(),
                   ir::Type::Tensor(t.dtype(), std::move(dims)));
    }
    if (!ok) {
      return Invalid(
          uri,
          absl::StrCat(c.label, ": holds ", c.tensor.TypeString(),
                       ", which cannot give ",
                       batched ? "batches of " : "rows of ", t.ToString()));
    }
    if (rows < 0) {
      rows = c.tensor.shape()[0];
    } else if (c.tensor.shape()[0] != rows) {
      return Invalid(
          uri, absl::StrCat(c.label, " has ", c.tensor.shape()[0], " rows, ",
                            columns[0].label, " has ", rows));
    }
  }
  std::vector<std::shared_ptr<const void>> owners;
  owners.reserve(columns.size());
  for (const Column& c : columns) {
    owners.push_back(std::make_shared<const Tensor>(c.tensor));
  }
  const int64_t step = batched ? *plan.batch_size : 1;
  const int64_t count = rows / step + (rows % step != 0);
  std::vector<int64_t> order;
  if (plan.batches.has_value()) {
    order = *plan.batches;
    for (int64_t index : order) {
      if (index >= count) {
        return Invalid(uri, absl::StrCat("batches: there is no batch ", index,
                                         " (", rows, " rows in batches of ",
                                         step, " make ", count, ")"));
      }
    }
  } else {
    order.resize(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) order[static_cast<size_t>(i)] = i;
  }
  std::vector<Value> elements;
  elements.reserve(order.size());
  for (const int64_t index : order) {
    const int64_t begin = index * step;
    const int64_t end = begin + std::min(step, rows - begin);
    std::vector<Tensor> parts;
    parts.reserve(columns.size());
    for (size_t i = 0; i < columns.size(); ++i) {
      const ir::Type& t = columns[i].type;
      if (batched && !t.unknown_rank() && t.dims()[0] != ir::kUnknownDim &&
          t.dims()[0] != end - begin) {
        return Invalid(
            uri, absl::StrCat(columns[i].label, ": batch ", index, " has ",
                              end - begin, " rows, the type ", t.ToString(),
                              " needs ", t.dims()[0]));
      }
      absl::StatusOr<Tensor> part =
          RowsOf(columns[i].tensor, owners[i], begin, end, batched);
      if (!part.ok()) {
        return Invalid(uri, absl::StrCat(columns[i].label, ": row ", begin,
                                         ": ", part.status().message()));
      }
      parts.push_back(*std::move(part));
    }
    elements.push_back(Element(plan, std::move(parts)));
  }
  return Value::Sequence(std::move(elements));
}

}  // namespace

absl::StatusOr<FileDataUri> ParseFileDataUri(std::string_view uri) {
  std::string_view rest = uri;
  std::optional<std::string_view> query;
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (std::optional<std::string_view> scheme = SchemeOf(rest)) {
    if (!absl::EqualsIgnoreCase(Sv(*scheme), "file")) {
      return Invalid(uri, absl::StrCat("unsupported scheme '", Sv(*scheme),
                                       "' (the file backend reads file: uris "
                                       "and relative paths)"));
    }
    rest.remove_prefix(scheme->size() + 1);
    if (rest.substr(0, 2) == "//") rest.remove_prefix(2);
  }
  if (rest.find('\0') != std::string_view::npos) {
    return Invalid(uri, "the path contains a NUL byte");
  }
  if (rest.empty()) return Invalid(uri, "empty path");
  FileDataUri out;
  out.path = std::string(rest);
  if (query.has_value()) FEDEXEC_RETURN_IF_ERROR(ParseQuery(uri, *query, out));
  return out;
}

absl::StatusOr<std::string> KeyedDataUri(std::string_view uri,
                                         std::string_view key) {
  const auto bad = [&](std::string_view why) {
    return Invalid(uri, absl::StrCat("key '", Sv(key), "': ", Sv(why)));
  };
  if (key.empty()) return bad("empty");
  if (key.find('\0') != std::string_view::npos)
    return bad("contains a NUL byte");
  std::string_view key_path = key;
  std::string_view key_query;
  if (const size_t q = key.find('?'); q != std::string_view::npos) {
    key_path = key.substr(0, q);
    key_query = key.substr(q + 1);
  }
  if (SchemeOf(key_path).has_value()) return bad("a key cannot have a scheme");
  if (absl::StartsWith(Sv(key_path), "/")) {
    return bad("a key is a relative path");
  }
  for (absl::string_view part : absl::StrSplit(Sv(key_path), '/')) {
    if (part == "..") return bad("a key cannot climb out with '..'");
  }
  std::string_view base_path = uri;
  std::string_view base_query;
  bool base_has_query = false;
  if (const size_t q = uri.find('?'); q != std::string_view::npos) {
    base_path = uri.substr(0, q);
    base_query = uri.substr(q + 1);
    base_has_query = true;
  }
  std::string out(base_path);
  if (!key_path.empty()) {
    if (!out.empty() && out.back() != '/') out += '/';
    absl::StrAppend(&out, Sv(key_path));
  }
  const bool key_has_query = key_path.size() < key.size();
  if (base_has_query || key_has_query) {
    out += '?';
    absl::StrAppend(&out, Sv(base_query));
    if (base_has_query && key_has_query) out += '&';
    absl::StrAppend(&out, Sv(key_query));
  }
  return out;
}

FileBackend::FileBackend(fs::path root, int64_t cache_bytes)
    : root_(std::move(root)),
      cache_(cache_bytes > 0 ? std::make_shared<ColumnCache>(cache_bytes)
                             : nullptr),
      locations_(std::make_shared<LocationCache>()) {}

absl::StatusOr<std::shared_ptr<const FileBackend>> FileBackend::Create(
    const std::string& root, int64_t cache_bytes) {
  std::error_code ec;
  fs::path canonical = fs::canonical(root, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) {
      return absl::NotFoundError(
          absl::StrCat("data root '", root, "' does not exist"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("data root '", root, "': ", ec.message()));
  }
  if (!fs::is_directory(canonical, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("data root '", root, "' is not a directory"));
  }
  return std::shared_ptr<const FileBackend>(
      new FileBackend(std::move(canonical), cache_bytes));
}

absl::StatusOr<Value> FileBackend::Resolve(std::string_view uri,
                                           const ir::Type& type) const {
  const absl::StatusOr<FileDataUri> parsed = ParseFileDataUri(uri);
  if (!parsed.ok()) return parsed.status();
  if (absl::StartsWith(parsed->path, "/")) {
    return Outside(uri, "an absolute path");
  }
  std::optional<std::vector<std::string>> components = Normalize(parsed->path);
  if (!components.has_value()) {
    return Outside(uri, "'..' climbs above it");
  }
  FEDEXEC_ASSIGN_OR_RETURN(const Plan plan, PlanFor(uri, type, *parsed));

  const std::string display =
      components->empty() ? std::string(".") : absl::StrJoin(*components, "/");
  FEDEXEC_ASSIGN_OR_RETURN(
      const LocationCache::Found where,
      LocateCached(*locations_, root_, *components, uri, display, ""));
  const fs::path& target = where.canonical;
  const FileInfo& info = where.info;
  const FileKind kind = info.kind;

  std::vector<Column> columns;
  if (!plan.table) {
    if (kind == FileKind::kDirectory) {
      return Invalid(uri, absl::StrCat("'", display,
                                       "' is a directory (a table); the type ",
                                       type.ToString(), " needs a .npy file"));
    }
    if (kind != FileKind::kRegular) {
      return Invalid(uri, absl::StrCat("'", display,
                                       "' is not a regular file or a "
                                       "directory"));
    }
    if (!absl::EndsWith(display, ".npy")) {
      return Invalid(uri, absl::StrCat("'", display,
                                       "' is not a .npy file (the file "
                                       "backend reads .npy files and "
                                       "directories of them)"));
    }
    FEDEXEC_ASSIGN_OR_RETURN(
        Tensor tensor,
        ReadColumn(target, info.identity, cache_.get(), uri, display, ""));
    columns.push_back(
        {absl::StrCat("'", display, "'"), std::move(tensor), plan.row});
  } else {
    if (kind != FileKind::kDirectory) {
      return Invalid(
          uri, absl::StrCat("'", display, "' is not a directory; the type ",
                            type.ToString(),
                            " needs one with a .npy file per "
                            "field"));
    }
    for (const ir::StructElementType& field : plan.row.elements()) {
      const std::string file = absl::StrCat(field.name, ".npy");
      const std::string file_display =
          components->empty() ? file : absl::StrCat(display, "/", file);
      const std::string label = absl::StrCat("field '", field.name, "': ");
      std::vector<std::string> file_components = *components;
      file_components.push_back(file);
      FEDEXEC_ASSIGN_OR_RETURN(const LocationCache::Found found,
                               LocateCached(*locations_, root_, file_components,
                                            uri, file_display, label));
      const fs::path& path = found.canonical;
      const FileInfo& column = found.info;
      if (column.kind != FileKind::kRegular) {
        return Invalid(uri, absl::StrCat(label, "'", file_display,
                                         "' is not a regular file"));
      }
      FEDEXEC_ASSIGN_OR_RETURN(
          Tensor tensor, ReadColumn(path, column.identity, cache_.get(), uri,
                                    file_display, label));
      columns.push_back(
          {absl::StrCat("field '", field.name, "' (", file_display, ")"),
           std::move(tensor), field.type});
    }
  }
  if (!plan.sequence) return WholeColumns(uri, plan, std::move(columns));
  return SequenceOfRows(uri, plan, columns);
}

}  // namespace fedexec::data
