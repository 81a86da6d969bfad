// Fuzzes the file backend's uris: the parser, keyed uris, and Resolve
// against a small data root with a file and a directory link out of it
// beside the inputs. Any input gives a value or a clean error, never the
// file outside the root.
//
// Input: "<uri>" or "<uri>\n<key>" (the key is appended with KeyedDataUri);
// the first byte also picks the type asked for.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/npy.h"
#include "core/tensor.h"
#include "data/data_backend.h"
#include "ir/type.h"

namespace {

namespace fs = std::filesystem;
using fedexec::Tensor;

// The secret: a float32[7] that no file inside the root has.
Tensor Secret() { return Tensor::Vector<float>({42, 42, 42, 42, 42, 42, 42}); }

struct Root {
  Root() {
    char pattern[] = "/tmp/fedexec-data-uri-fuzz.XXXXXX";
    const char* made = ::mkdtemp(pattern);
    if (made == nullptr) std::abort();
    base = made;
    const fs::path root = base / "root";
    fs::create_directories(root / "t");
    fs::create_directories(root / "clients" / "t");
    fs::create_directories(base / "outside");
    const auto write = [](const fs::path& p, const Tensor& t) {
      if (!fedexec::WriteNpyFile(p.string(), t).ok()) std::abort();
    };
    write(root / "w.npy", Tensor::Vector<float>({1, 2, 3, 4}));
    write(root / "t" / "x.npy", Tensor::Vector<float>({1, 2, 3}));
    write(root / "t" / "y.npy", Tensor::Vector<int32_t>({4, 5, 6}));
    write(root / "clients" / "t" / "x.npy", Tensor::Vector<float>({7, 8}));
    write(root / "clients" / "t" / "y.npy", Tensor::Vector<int32_t>({9, 1}));
    write(base / "secret.npy", Secret());
    write(base / "outside" / "x.npy", Secret());
    fs::create_symlink(base / "secret.npy", root / "out.npy");
    fs::create_directory_symlink(base, root / "up");
    fs::create_directory_symlink(base / "outside", root / "t" / "away");
    auto backend = fedexec::exec::FileBackend::Create(root.string());
    if (!backend.ok()) std::abort();
    file_backend = *backend;
  }
  fs::path base;
  std::shared_ptr<const fedexec::exec::FileBackend> file_backend;
};

bool ContainsSecret(const fedexec::Value& v) {
  if (v.is_tensor()) return v.tensor().Equals(Secret());
  if (v.is_struct()) {
    for (const auto& e : v.struct_value().elements) {
      if (ContainsSecret(*e.value)) return true;
    }
  }
  if (v.is_sequence()) {
    bool found = false;
    const absl::Status s = v.sequence().ForEach([&](const fedexec::Value& e) {
      found = found || ContainsSecret(e);
      return absl::OkStatus();
    });
    return found;
  }
  return false;
}

const char* const kTypes[] = {
    "float32[?]",     "float32[7]",
    "<x=float32[?]>", "<x=float32[?],y=int32[?]>",
    "float32*",       "<x=float32,y=int32>*",
};

// Made once; removed when the fuzzer exits.
Root* TheRoot() {
  static Root* root = [] {
    Root* r = new Root();
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(TheRoot()->base, ec);
    });
    return r;
  }();
  return root;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Root* root = TheRoot();
  static std::vector<fedexec::ir::Type>* types = [] {
    auto* t = new std::vector<fedexec::ir::Type>();
    for (const char* text : kTypes) {
      auto type = fedexec::ir::ParseType(text);
      if (!type.ok()) std::abort();
      t->push_back(*type);
    }
    return t;
  }();
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string uri(input);
  if (const size_t nl = input.find('\n'); nl != std::string_view::npos) {
    auto keyed =
        fedexec::exec::KeyedDataUri(input.substr(0, nl), input.substr(nl + 1));
    if (!keyed.ok()) return 0;
    uri = *keyed;
  }
  auto parsed = fedexec::exec::ParseFileDataUri(uri);
  if (parsed.ok() && parsed->batch_size.has_value() &&
      *parsed->batch_size <= 0) {
    __builtin_trap();
  }
  const fedexec::ir::Type& type = (*types)[size == 0 ? 0 : data[0] % 6];
  auto value = root->file_backend->Resolve(uri, type);
  if (value.ok() && ContainsSecret(*value)) __builtin_trap();
  if (!value.ok() && value.status().message().empty()) __builtin_trap();
  return 0;
}
