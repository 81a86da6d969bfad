// Helpers for tests that read files of the source tree (examples, compat
// vectors, golden files) or write scratch files. Tests only.
//
// Thread-safety: stateless.
#ifndef FEDEXEC_TESTING_TEST_FILES_H_
#define FEDEXEC_TESTING_TEST_FILES_H_

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace fedexec::test_util {

// The source tree: $FEDEXEC_SOURCE_DIR (ctest sets it), else the current
// directory (ctest runs tests there too).
inline std::filesystem::path SourceDir() {
  const char* dir = std::getenv("FEDEXEC_SOURCE_DIR");
  return dir ? std::filesystem::path(dir) : std::filesystem::current_path();
}

// The whole file as bytes; empty if it cannot be read.
inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// A fresh directory under the system's temporary directory, removed with
// everything in it when the object is destroyed.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "fedexec_test_XXXXXX")
            .string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // The path of `name` (which may contain directories) inside it.
  std::string File(const std::string& name) const {
    return (std::filesystem::path(path_) / name).string();
  }

 private:
  std::string path_;
};

}  // namespace fedexec::test_util

#endif  // FEDEXEC_TESTING_TEST_FILES_H_
