// Data backends: what turns the uri of a `data` building block
// (ir::DataNode, `data("uri", T)` in the text syntax) into a Value, on the
// machine that holds the data. The data executor (executors/data_executor.h)
// asks its backend for each data node it embeds; client data never leaves that
// machine except as the results of the computation.
//
// DataBackend is the interface: Resolve(uri, type), where `type` is the
// data node's declared type (the type checker requires one), and the value
// returned must be an instance of it.
//
// FileBackend resolves uris against one root directory.
//
//   Uris      `file:<path>`, `file://<path>` or a bare `<path>`, each with
//             an optional query `?batch_size=N`. <path> is relative to the
//             root, '/'-separated, taken literally (no percent-decoding;
//             a '?' always starts the query). A prefix `name:` before any
//             '/' is a scheme: any scheme other than `file` is refused
//             (write `file:a:b.npy` for a file named `a:b.npy`).
//             `file:///x` and `file:/x` are absolute paths (refused).
//   Query     `batch_size=N`, N a positive decimal integer, at most once,
//             and only for sequence types. `batches=i,j,...` (with
//             batch_size only): the batches at these indices (from 0), in
//             this order, instead of all in file order; an index may repeat,
//             the list may be empty (no batch), an index past the last batch
//             is INVALID_ARGUMENT. Parameters are separated by '&'; an
//             unknown key, a parameter without '=', an empty parameter, a
//             repeated key or a bad number is INVALID_ARGUMENT.
//   Formats   A regular file named `*.npy` is one tensor (core/npy.h; mapped,
//             zero-copy). A directory is a table: a struct type's field
//             `f` is the file `f.npy` in it (other files are ignored);
//             fields must be named, their names usable as file names (no
//             '/', not "." or ".."), their types tensor types. Anything
//             else (another extension, a device, a fifo) is refused.
//   Types     tensor T               a .npy file holding a T
//             <f=T1,g=T2,...>        a directory; each field is its whole
//                                    column (columns need not have the same
//                                    number of rows here)
//             E* with E a tensor or such a struct: a sequence over the ROWS
//                                    (leading dim) of the .npy file or of
//                                    the directory's columns, which must
//                                    all have the same number of rows:
//                                    - with ?batch_size=N, batches of N rows
//                                      (the last one holds the rest; no
//                                      empty batch), leading dim kept:
//                                      <x=float32[?,784],y=int32[?]>*
//                                    - without it, one element per row,
//                                      leading dim dropped:
//                                      <x=float32[784],y=int32>*
//             Anything else (federated, function, nested structs, a
//             sequence of sequences) is INVALID_ARGUMENT.
//             Elements are zero-copy views of the columns (they keep them
//             alive): of the mapped file, or of the copy core/npy.h makes
//             when it must convert (byte order, Fortran order). A mapped
//             file must not change while values of it live (replace it by
//             renaming a new file over it).
//   Checks    The value is checked against the type, with errors that name
//             the field and the file: "data 'train': field 'x'
//             (train/x.npy): expected float32[?,784] (rows of batches),
//             found float32[100,785]". A fixed leading dim of a batch type
//             (float32[32,784]) must hold for every batch, the last
//             included.
//   Security  A uri never reads outside the root: absolute paths, `..`
//             components that climb above the root and symbolic links
//             (anywhere on the path, and for a table each column file)
//             whose target lies outside the root are INVALID_ARGUMENT
//             "data 'x': resolves outside the data root". The root is
//             canonical; `..` in the uri is resolved lexically first (a/../b
//             is b); then the path is resolved component by component as
//             realpath does, each component examined with lstat and every
//             symbolic link followed (at most 40), and the resolved path,
//             which holds no link, must lie inside the root, compared by
//             components (/data-root2 is not inside /data-root). That
//             resolved path is what is opened. An escape is refused whether
//             or not its target exists (a dangling link out included),
//             before anything is read, so a uri cannot probe what exists
//             outside the root.
//             Not defended: a tree changed while it is being read (a
//             component swapped for a symbolic link between the check and
//             the open); the root's contents are trusted, the uris are not.
//   Messages  Name the uri and paths relative to the root ("train/x.npy"),
//             never the root's host path. A missing file or directory is
//             NOT_FOUND ("data 'w.npy': no file or directory 'w.npy' in
//             the data root"); a refused one PERMISSION_DENIED; a
//             malformed .npy INVALID_ARGUMENT with core/npy.h's message.
//   Keyed     A data node of function type (K -> T), K a string, int32 or
//             int64 scalar, names a keyed collection: calling it with a key
//             resolves the uri KeyedDataUri(uri, key) as a T, wherever the
//             call runs (the data executor makes the function: see
//             executors/data_executor.h). For the file backend the key is a
//             path below the node's path, and may add query parameters:
//             data("clients?batch_size=10", (string -> <x=...,y=...>*))
//             called with "17?batches=2,0,1" reads the table clients/17 in
//             batches 2, 0 and 1.
//   Caching   The columns (.npy files) read are kept, up to `cache_bytes`
//             of them (least recently used out first), and reused while
//             the file is the same one: same device, inode, size and
//             modification time. So data read every round (a client's
//             files, whenever it is sampled) is read once, and a file
//             replaced between two computations (renamed over, or
//             rewritten) is read again. Where a path led is kept too (up
//             to 65,536 paths): a path resolved again costs one stat per
//             file, and is walked and checked afresh whenever that stat
//             finds another file there than the one found inside the
//             root (a component replaced by a link out of it, say).
//             (Note: the reference resolving executor keeps the compiled
//             programs of recent trees, data leaves included, so a tree
//             run again reuses the value its leaf resolved to.)
//
// Thread-safety: DataBackend::Resolve is const and may be called from any
// number of threads at once; FileBackend's cache has a lock of its own.
#ifndef FEDEXEC_DATA_DATA_BACKEND_H_
#define FEDEXEC_DATA_DATA_BACKEND_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/value.h"
#include "ir/type.h"

namespace fedexec::data {

class DataBackend {
 public:
  virtual ~DataBackend() = default;

  // The value `uri` names, an instance of `type` (the data node's type).
  // Errors start with "data '<uri>': ".
  virtual absl::StatusOr<Value> Resolve(std::string_view uri,
                                        const ir::Type& type) const = 0;
};

// A file backend uri, parsed (see the file comment): the path as written
// after the scheme (not normalized) and the query.
struct FileDataUri {
  std::string path;
  std::optional<int64_t> batch_size;
  // `batches=`: the batches to give, in order.
  std::optional<std::vector<int64_t>> batches;
};

// Parses a uri of the file backend. INVALID_ARGUMENT "data '<uri>': ..."
// for another scheme, an empty path, a NUL byte, and a bad query. An
// absolute path parses (FileBackend refuses it).
absl::StatusOr<FileDataUri> ParseFileDataUri(std::string_view uri);

// The uri a keyed data node (one of function type, see "Keyed" above)
// names for `key`: `key` is a relative reference, a path (may be empty)
// and an optional query; its path is appended to the uri's path after a
// '/', its query parameters to the uri's (the uri's first). Applies to
// every backend. INVALID_ARGUMENT "data '<uri>': key '<key>': ..." for an
// empty key, a key with a scheme, an absolute path, a '..' component or a
// NUL byte.
absl::StatusOr<std::string> KeyedDataUri(std::string_view uri,
                                         std::string_view key);

class ColumnCache;    // data_backend.cc
class LocationCache;  // data_backend.cc

class FileBackend final : public DataBackend {
 public:
  // A backend reading below `root`, an existing directory (a relative
  // root is taken from the current directory now). NOT_FOUND when it does
  // not exist, INVALID_ARGUMENT when it is not a directory; these name the
  // root as given.
  // `cache_bytes`: the most bytes of columns kept (0: none).
  static absl::StatusOr<std::shared_ptr<const FileBackend>> Create(
      const std::string& root, int64_t cache_bytes = kDefaultCacheBytes);
  static constexpr int64_t kDefaultCacheBytes = int64_t{1} << 30;

  // The canonical root.
  const std::filesystem::path& root() const { return root_; }

  absl::StatusOr<Value> Resolve(std::string_view uri,
                                const ir::Type& type) const override;

 private:
  FileBackend(std::filesystem::path root, int64_t cache_bytes);

  std::filesystem::path root_;
  std::shared_ptr<ColumnCache> cache_;
  std::shared_ptr<LocationCache> locations_;
};

}  // namespace fedexec::data

// The executors' names for the backend, from before it had a folder of its
// own (executors/data_executor.h and the stacks use them).
namespace fedexec::exec {
using data::DataBackend;
using data::FileBackend;
using data::FileDataUri;
using data::KeyedDataUri;
using data::ParseFileDataUri;
}  // namespace fedexec::exec

#endif  // FEDEXEC_DATA_DATA_BACKEND_H_
