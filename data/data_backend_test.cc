// Tests of FileBackend and ParseFileDataUri: each format (a .npy tensor, a
// table as a struct of whole columns, sequences of rows and of batches with
// a partial last batch, zero-copy views), type mismatches naming the field
// and the file, escapes from the root (.., absolute paths, symbolic links
// out, a sibling directory sharing the root's name as a prefix), missing
// and malformed files, and the uri's query.
#include "data/data_backend.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_files.h"
#include "testing/types.h"

namespace fedexec::data {
namespace {

namespace fs = std::filesystem;
using ::fedexec::test_util::T;
using ::fedexec::test_util::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::string Message(const absl::Status& status) {
  return std::string(status.message());
}

void WriteNpy(const std::string& path, const Tensor& tensor) {
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_TRUE(WriteNpyFile(path, tensor).ok()) << path;
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// rows x cols float32 with element (r, c) = 10 r + c.
Tensor Floats(int64_t rows, int64_t cols) {
  std::vector<float> v;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) v.push_back(10.0f * r + c);
  }
  return *Tensor::FromSpan<float>(v, {rows, cols});
}

Tensor Ints(int64_t rows) {
  std::vector<int32_t> v;
  for (int64_t r = 0; r < rows; ++r) v.push_back(static_cast<int32_t>(r));
  return Tensor::Vector<int32_t>(v);
}

// A data root `<tmp>/data-root` holding:
//   w.npy         float32[2,3]
//   t/x.npy       float32[5,2]     t/y.npy  int32[5]    t/notes.txt
//   sub/          (empty directory)
// and, outside it, `<tmp>/data-root2/secret.npy` and `<tmp>/secret.npy`.
class FileBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.File("data-root");
    fs::create_directories(root_ + "/sub");
    WriteNpy(root_ + "/w.npy", Floats(2, 3));
    WriteNpy(root_ + "/t/x.npy", Floats(5, 2));
    WriteNpy(root_ + "/t/y.npy", Ints(5));
    WriteBytes(root_ + "/t/notes.txt", "not a column");
    WriteNpy(tmp_.File("data-root2/secret.npy"), Floats(1, 1));
    WriteNpy(tmp_.File("secret.npy"), Floats(1, 1));
    absl::StatusOr<std::shared_ptr<const FileBackend>> backend =
        FileBackend::Create(root_);
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *backend;
  }

  absl::StatusOr<Value> Resolve(const std::string& uri,
                                const std::string& type) {
    return backend_->Resolve(uri, T(type));
  }

  // Resolving fails with `code` and a message starting with `prefix`, which
  // never shows the root's host path.
  void ExpectError(const std::string& uri, const std::string& type,
                   absl::StatusCode code, const std::string& prefix) {
    absl::StatusOr<Value> v = Resolve(uri, type);
    ASSERT_FALSE(v.ok()) << uri;
    EXPECT_EQ(v.status().code(), code) << v.status();
    EXPECT_THAT(Message(v.status()), StartsWith(prefix));
    EXPECT_THAT(Message(v.status()), Not(HasSubstr(tmp_.path())));
  }

  void ExpectOutside(const std::string& uri, const std::string& type) {
    ExpectError(uri, type, absl::StatusCode::kInvalidArgument,
                "data '" + uri + "': resolves outside the data root");
  }

  TempDir tmp_;
  std::string root_;
  std::shared_ptr<const FileBackend> backend_;
};

// ------------------------------------------------------------------- uris

TEST(ParseFileDataUriTest, SchemesAndPaths) {
  struct Case {
    const char* uri;
    const char* path;
  };
  for (const Case& c :
       {Case{"w.npy", "w.npy"}, Case{"file:w.npy", "w.npy"},
        Case{"file://a/w.npy", "a/w.npy"}, Case{"FILE:w.npy", "w.npy"},
        Case{"file:///abs.npy", "/abs.npy"}, Case{"a/b:c.npy", "a/b:c.npy"},
        Case{"file:a:b.npy", "a:b.npy"},
        Case{"./a/../w.npy", "./a/../w.npy"}}) {
    absl::StatusOr<FileDataUri> u = ParseFileDataUri(c.uri);
    ASSERT_TRUE(u.ok()) << c.uri << ": " << u.status();
    EXPECT_EQ(u->path, c.path) << c.uri;
    EXPECT_FALSE(u->batch_size.has_value());
  }
  absl::StatusOr<FileDataUri> q = ParseFileDataUri("file:t?batch_size=32");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->path, "t");
  EXPECT_EQ(q->batch_size, 32);
}

TEST(ParseFileDataUriTest, Errors) {
  struct Case {
    std::string uri;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"s3://bucket/w.npy", "unsupported scheme 's3'"},
           {"http:w.npy", "unsupported scheme 'http'"},
           {"file:", "empty path"},
           {"file://", "empty path"},
           {"", "empty path"},
           {"?batch_size=2", "empty path"},
           {std::string("w.npy\0/../x", 11), "the path contains a NUL byte"},
           {"t?", "empty query after '?'"},
           {"t?&", "empty query parameter"},
           {"t?batch_size=2&", "empty query parameter"},
           {"t?batch_size", "query parameter 'batch_size' is not key=value"},
           {"t?junk", "query parameter 'junk' is not key=value"},
           {"t?shuffle=1", "unknown query parameter 'shuffle'"},
           {"t?batch_size=2&batch_size=3", "batch_size given twice"},
           {"t?batch_size=0",
            "batch_size must be a positive integer, "
            "found '0'"},
           {"t?batch_size=-2", "found '-2'"},
           {"t?batch_size=+2", "found '+2'"},
           {"t?batch_size= 2", "found ' 2'"},
           {"t?batch_size=2x", "found '2x'"},
           {"t?batch_size=", "found ''"},
           {"t?batch_size=99999999999999999999",
            "found '99999999999999999999'"},
           {"t?batches=1", "batches needs batch_size"},
           {"t?batch_size=2&batches=0&batches=1", "batches given twice"},
           {"t?batch_size=2&batches=0,,1", "found ''"},
           {"t?batch_size=2&batches=-1", "found '-1'"},
           {"t?batch_size=2&batches=0,x", "found 'x'"},
           {"t?batch_size=2&batches=1,", "found ''"},
           {"t?batch_size=2&batches=99999999999999999999",
            "found '99999999999999999999'"},
       }) {
    absl::StatusOr<FileDataUri> u = ParseFileDataUri(c.uri);
    ASSERT_FALSE(u.ok()) << c.uri;
    EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(u.status()), StartsWith("data '" + c.uri + "': "));
    EXPECT_THAT(Message(u.status()), HasSubstr(c.message)) << c.uri;
  }
}

TEST(ParseFileDataUriTest, BatchSelection) {
  absl::StatusOr<FileDataUri> u =
      ParseFileDataUri("t?batch_size=2&batches=2,0,2");
  ASSERT_TRUE(u.ok()) << u.status();
  ASSERT_TRUE(u->batches.has_value());
  EXPECT_EQ(*u->batches, (std::vector<int64_t>{2, 0, 2}));
  // Either order of the parameters; an empty list selects no batch.
  u = ParseFileDataUri("t?batches=&batch_size=2");
  ASSERT_TRUE(u.ok()) << u.status();
  ASSERT_TRUE(u->batches.has_value());
  EXPECT_TRUE(u->batches->empty());
  EXPECT_FALSE(ParseFileDataUri("t?batch_size=2")->batches.has_value());
}

TEST(KeyedDataUriTest, AppendsThePathAndTheQuery) {
  struct Case {
    const char* uri;
    const char* key;
    const char* joined;
  };
  for (const Case& c : {
           Case{"clients", "17", "clients/17"},
           Case{"clients/", "17", "clients/17"},
           Case{"file:clients", "a/b.npy", "file:clients/a/b.npy"},
           Case{"clients?batch_size=10", "17", "clients/17?batch_size=10"},
           Case{"clients?batch_size=10", "17?batches=2,0",
                "clients/17?batch_size=10&batches=2,0"},
           Case{"clients", "17?batch_size=3", "clients/17?batch_size=3"},
           Case{"t?batch_size=2", "?batches=1", "t?batch_size=2&batches=1"},
           Case{"clients", "./17", "clients/./17"},
       }) {
    absl::StatusOr<std::string> joined = KeyedDataUri(c.uri, c.key);
    ASSERT_TRUE(joined.ok())
        << c.uri << " " << c.key << ": " << joined.status();
    EXPECT_EQ(*joined, c.joined);
  }
}

TEST(KeyedDataUriTest, RefusesKeysThatLeaveTheCollection) {
  struct Case {
    std::string key;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"", "empty"},
           {"/etc/passwd", "a key is a relative path"},
           {"../secret.npy", "cannot climb out with '..'"},
           {"a/../../b", "cannot climb out with '..'"},
           {"file:x.npy", "a key cannot have a scheme"},
           {std::string("a\0b", 3), "contains a NUL byte"},
       }) {
    absl::StatusOr<std::string> joined = KeyedDataUri("clients", c.key);
    ASSERT_FALSE(joined.ok()) << c.key;
    EXPECT_EQ(joined.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(joined.status()),
                StartsWith("data 'clients': key '" + c.key + "': "));
    EXPECT_THAT(Message(joined.status()), HasSubstr(c.message)) << c.key;
  }
}

TEST_F(FileBackendTest, QueryErrorsComeFromResolveToo) {
  ExpectError("t?batch_size=0", "<x=float32[?,2],y=int32[?]>*",
              absl::StatusCode::kInvalidArgument,
              "data 't?batch_size=0': batch_size must be a positive integer");
  ExpectError("t?junk", "<x=float32[?,2],y=int32[?]>*",
              absl::StatusCode::kInvalidArgument,
              "data 't?junk': query parameter 'junk' is not key=value");
  // batch_size means nothing for a value that is not a sequence.
  ExpectError("w.npy?batch_size=2", "float32[2,3]",
              absl::StatusCode::kInvalidArgument,
              "data 'w.npy?batch_size=2': batch_size applies to sequence "
              "types only, the type is float32[2,3]");
}

// ---------------------------------------------------------------- tensors

TEST_F(FileBackendTest, NpyFileIsATensor) {
  for (const char* uri : {"w.npy", "file:w.npy", "file://w.npy", "./w.npy",
                          "sub/../w.npy", "sub//.././w.npy"}) {
    for (const char* type : {"float32[2,3]", "float32[?,3]", "float32[*]"}) {
      absl::StatusOr<Value> v = Resolve(uri, type);
      ASSERT_TRUE(v.ok()) << uri << " " << type << ": " << v.status();
      ASSERT_TRUE(v->is_tensor());
      EXPECT_TRUE(v->tensor().Equals(Floats(2, 3))) << uri;
    }
  }
}

TEST_F(FileBackendTest, TensorTypeMismatch) {
  ExpectError("w.npy", "float32[3]", absl::StatusCode::kInvalidArgument,
              "data 'w.npy': 'w.npy': expected float32[3], found "
              "float32[2,3]");
  ExpectError("w.npy", "int32[2,3]", absl::StatusCode::kInvalidArgument,
              "data 'w.npy': 'w.npy': expected int32[2,3], found "
              "float32[2,3]");
  ExpectError("w.npy", "float32[2,4]", absl::StatusCode::kInvalidArgument,
              "data 'w.npy': 'w.npy': expected float32[2,4]");
}

TEST_F(FileBackendTest, SymlinkInsideTheRootIsFollowed) {
  fs::create_symlink("../w.npy", root_ + "/sub/alias.npy");
  absl::StatusOr<Value> v = Resolve("sub/alias.npy", "float32[2,3]");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->tensor().Equals(Floats(2, 3)));
}

TEST_F(FileBackendTest, RootMayBeASymlink) {
  fs::create_directory_symlink(root_, tmp_.File("link-root"));
  absl::StatusOr<std::shared_ptr<const FileBackend>> b =
      FileBackend::Create(tmp_.File("link-root"));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->root(), fs::canonical(root_));
  absl::StatusOr<Value> v = (*b)->Resolve("w.npy", T("float32[2,3]"));
  ASSERT_TRUE(v.ok()) << v.status();
}

// ----------------------------------------------------------------- tables

TEST_F(FileBackendTest, StructTypeReadsWholeColumnsInTypeOrder) {
  absl::StatusOr<Value> v = Resolve("t", "<y=int32[5],x=float32[?,2]>");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_TRUE(v->is_struct());
  const auto& e = v->struct_value().elements;
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].name, "y");
  EXPECT_TRUE(e[0].value->tensor().Equals(Ints(5)));
  EXPECT_EQ(e[1].name, "x");
  EXPECT_TRUE(e[1].value->tensor().Equals(Floats(5, 2)));
  // A subset of the columns is fine; other files are ignored.
  absl::StatusOr<Value> only_y = Resolve("file:t/", "<y=int32[?]>");
  ASSERT_TRUE(only_y.ok()) << only_y.status();
  EXPECT_EQ(only_y->struct_value().elements.size(), 1u);
}

TEST_F(FileBackendTest, StructColumnsNeedNotHaveTheSameRows) {
  // A struct is a struct of tensors (model weights, say), not a table.
  WriteNpy(root_ + "/model/w.npy", Floats(4, 3));
  WriteNpy(root_ + "/model/b.npy", *Tensor::FromSpan<float>({1, 2, 3}, {3}));
  absl::StatusOr<Value> v = Resolve("model", "<w=float32[4,3],b=float32[3]>");
  ASSERT_TRUE(v.ok()) << v.status();
}

TEST_F(FileBackendTest, TheRootItselfIsATable) {
  WriteNpy(root_ + "/y.npy", Ints(2));
  absl::StatusOr<Value> v = Resolve("file:.", "<w=float32[2,3],y=int32[2]>");
  ASSERT_TRUE(v.ok()) << v.status();
}

TEST_F(FileBackendTest, FieldMismatchNamesFieldAndFile) {
  ExpectError("t", "<x=float32[5,3],y=int32[5]>",
              absl::StatusCode::kInvalidArgument,
              "data 't': field 'x' (t/x.npy): expected float32[5,3], found "
              "float32[5,2]");
  ExpectError("t", "<x=float32[5,2],y=int64[5]>",
              absl::StatusCode::kInvalidArgument,
              "data 't': field 'y' (t/y.npy): expected int64[5], found "
              "int32[5]");
}

TEST_F(FileBackendTest, MissingFieldFileIsNotFound) {
  ExpectError("t", "<x=float32[5,2],z=int32[5]>", absl::StatusCode::kNotFound,
              "data 't': field 'z': no file or directory 't/z.npy' in the "
              "data root");
}

TEST_F(FileBackendTest, FieldThatIsADirectoryIsRefused) {
  fs::create_directories(root_ + "/t/d.npy");
  ExpectError("t", "<d=float32>", absl::StatusCode::kInvalidArgument,
              "data 't': field 'd': 't/d.npy' is not a regular file");
}

// -------------------------------------------------------------- sequences

TEST_F(FileBackendTest, BatchesWithAPartialLastBatch) {
  absl::StatusOr<Value> v =
      Resolve("file:t?batch_size=2", "<x=float32[?,2],y=int32[?]>*");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_TRUE(v->is_sequence());
  const std::vector<Value>& batches = v->sequence().elements;
  ASSERT_EQ(batches.size(), 3u);
  const Tensor all_x = Floats(5, 2);
  const int64_t sizes[] = {2, 2, 1};
  for (int b = 0; b < 3; ++b) {
    const auto& e = batches[b].struct_value().elements;
    ASSERT_EQ(e.size(), 2u);
    EXPECT_EQ(e[0].name, "x");
    EXPECT_EQ(e[1].name, "y");
    const Tensor& x = e[0].value->tensor();
    const Tensor& y = e[1].value->tensor();
    ASSERT_EQ(x.shape(), (std::vector<int64_t>{sizes[b], 2}));
    ASSERT_EQ(y.shape(), (std::vector<int64_t>{sizes[b]}));
    for (int64_t r = 0; r < sizes[b]; ++r) {
      const int64_t row = 2 * b + r;
      EXPECT_EQ(y.data<int32_t>()[r], row);
      EXPECT_EQ(x.data<float>()[2 * r], all_x.data<float>()[2 * row]);
      EXPECT_EQ(x.data<float>()[2 * r + 1], all_x.data<float>()[2 * row + 1]);
    }
  }
  // A batch outlives the sequence and the backend (it keeps the mapping).
  Value kept = batches[2];
  v = absl::StatusOr<Value>(Value());
  backend_.reset();
  EXPECT_EQ(kept.struct_value().elements[0].value->tensor().data<float>()[1],
            41.0f);
}

TEST_F(FileBackendTest, SelectedBatchesInTheirOrder) {
  // t has 5 rows: batches of 2 are rows [0,2), [2,4), [4,5).
  absl::StatusOr<Value> v =
      Resolve("t?batch_size=2&batches=2,0,0", "<x=float32[?,2],y=int32[?]>*");
  ASSERT_TRUE(v.ok()) << v.status();
  const auto& elements = v->sequence().elements;
  ASSERT_EQ(elements.size(), 3u);
  const auto y = [&](size_t i) {
    return elements[i].struct_value().elements[1].value->tensor();
  };
  EXPECT_TRUE(y(0).Equals(Tensor::Vector<int32_t>({4})));
  EXPECT_TRUE(y(1).Equals(Tensor::Vector<int32_t>({0, 1})));
  EXPECT_TRUE(y(2).Equals(Tensor::Vector<int32_t>({0, 1})));
  absl::StatusOr<Value> none =
      Resolve("t?batch_size=2&batches=", "<x=float32[?,2],y=int32[?]>*");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->sequence().elements.empty());
  ExpectError("t?batch_size=2&batches=1,3", "<x=float32[?,2],y=int32[?]>*",
              absl::StatusCode::kInvalidArgument,
              "data 't?batch_size=2&batches=1,3': batches: there is no batch "
              "3 (5 rows in batches of 2 make 3)");
}

TEST_F(FileBackendTest, BatchesAreViewsOfOneBuffer) {
  absl::StatusOr<Value> v =
      Resolve("file:t?batch_size=2", "<x=float32[?,2],y=int32[?]>*");
  ASSERT_TRUE(v.ok()) << v.status();
  const std::vector<Value>& batches = v->sequence().elements;
  ASSERT_EQ(batches.size(), 3u);
  // Batch b starts 2 b rows after batch 0.
  const auto* x0 = static_cast<const char*>(
      batches[0].struct_value().elements[0].value->tensor().raw_data());
  for (int b = 1; b < 3; ++b) {
    EXPECT_EQ(batches[b].struct_value().elements[0].value->tensor().raw_data(),
              x0 + b * 2 * 2 * sizeof(float));
  }
}

TEST_F(FileBackendTest, BatchSizesAtAndBeyondTheRowCount) {
  for (const char* uri : {"t?batch_size=5", "t?batch_size=6",
                          "t?batch_size=9223372036854775807"}) {
    absl::StatusOr<Value> v = Resolve(uri, "<x=float32[?,2],y=int32[?]>*");
    ASSERT_TRUE(v.ok()) << uri << ": " << v.status();
    ASSERT_EQ(v->sequence().elements.size(), 1u) << uri;
    EXPECT_TRUE(v->sequence()
                    .elements[0]
                    .struct_value()
                    .elements[0]
                    .value->tensor()
                    .Equals(Floats(5, 2)));
  }
  absl::StatusOr<Value> ones = Resolve("t?batch_size=1", "<y=int32[?]>*");
  ASSERT_TRUE(ones.ok()) << ones.status();
  EXPECT_EQ(ones->sequence().elements.size(), 5u);
}

TEST_F(FileBackendTest, WithoutBatchSizeOneElementPerRow) {
  absl::StatusOr<Value> v = Resolve("t", "<x=float32[2],y=int32>*");
  ASSERT_TRUE(v.ok()) << v.status();
  const std::vector<Value>& rows = v->sequence().elements;
  ASSERT_EQ(rows.size(), 5u);
  for (int r = 0; r < 5; ++r) {
    const auto& e = rows[r].struct_value().elements;
    EXPECT_TRUE(e[0].value->tensor().Equals(
        *Tensor::FromSpan<float>({10.0f * r, 10.0f * r + 1}, {2})));
    EXPECT_TRUE(e[1].value->tensor().Equals(Tensor::Scalar<int32_t>(r)));
  }
}

TEST_F(FileBackendTest, SequenceOfTensorsFromOneNpyFile) {
  absl::StatusOr<Value> batches =
      Resolve("w.npy?batch_size=1", "float32[?,3]*");
  ASSERT_TRUE(batches.ok()) << batches.status();
  ASSERT_EQ(batches->sequence().elements.size(), 2u);
  EXPECT_EQ(batches->sequence().elements[1].tensor().shape(),
            (std::vector<int64_t>{1, 3}));
  absl::StatusOr<Value> rows = Resolve("w.npy", "float32[3]*");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->sequence().elements.size(), 2u);
  EXPECT_TRUE(rows->sequence().elements[1].tensor().Equals(
      *Tensor::FromSpan<float>({10, 11, 12}, {3})));
  absl::StatusOr<Value> any = Resolve("w.npy?batch_size=2", "float32[*]*");
  ASSERT_TRUE(any.ok()) << any.status();
}

TEST_F(FileBackendTest, EmptyTableIsAnEmptySequence) {
  WriteNpy(root_ + "/empty/x.npy", *Tensor::Zeros(DType::kFloat32, {0, 2}));
  absl::StatusOr<Value> v = Resolve("empty?batch_size=4", "<x=float32[?,2]>*");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->sequence().elements.empty());
}

TEST_F(FileBackendTest, BoolAndZeroWidthColumnsSplit) {
  const bool flags[] = {true, false, true};
  WriteNpy(root_ + "/b/f.npy", *Tensor::FromSpan<bool>(flags, {3}));
  WriteNpy(root_ + "/b/z.npy", *Tensor::Zeros(DType::kFloat32, {3, 0}));
  absl::StatusOr<Value> v =
      Resolve("b?batch_size=2", "<f=bool[?],z=float32[?,0]>*");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->sequence().elements.size(), 2u);
  const Tensor& last =
      v->sequence().elements[1].struct_value().elements[0].value->tensor();
  EXPECT_TRUE(last.Equals(*Tensor::FromSpan<bool>({true}, {1})));
}

TEST_F(FileBackendTest, FixedBatchDimMustHoldForEveryBatch) {
  // 5 rows in batches of 2: the last batch has 1 row.
  ExpectError("t?batch_size=2", "<x=float32[2,2],y=int32[?]>*",
              absl::StatusCode::kInvalidArgument,
              "data 't?batch_size=2': field 'x' (t/x.npy): batch 2 has 1 "
              "rows, the type float32[2,2] needs 2");
  ExpectError("t?batch_size=3", "<x=float32[?,2],y=int32[2]>*",
              absl::StatusCode::kInvalidArgument,
              "data 't?batch_size=3': field 'y' (t/y.npy): batch 0 has 3 "
              "rows, the type int32[2] needs 2");
  absl::StatusOr<Value> exact = Resolve("t?batch_size=5", "<x=float32[5,2]>*");
  ASSERT_TRUE(exact.ok()) << exact.status();
}

TEST_F(FileBackendTest, SequenceColumnMismatches) {
  ExpectError("t?batch_size=2", "<x=float32[?,3],y=int32[?]>*",
              absl::StatusCode::kInvalidArgument,
              "data 't?batch_size=2': field 'x' (t/x.npy): holds "
              "float32[5,2], which cannot give batches of float32[?,3]");
  ExpectError("t", "<x=float32[3],y=int32>*",
              absl::StatusCode::kInvalidArgument,
              "data 't': field 'x' (t/x.npy): holds float32[5,2], which "
              "cannot give rows of float32[3]");
  ExpectError("t", "<x=float32[2],y=float32>*",
              absl::StatusCode::kInvalidArgument,
              "data 't': field 'y' (t/y.npy): holds int32[5], which cannot "
              "give rows of float32");
  // A batch of scalars needs a leading dim in the type.
  ExpectError("t?batch_size=2", "<x=float32[?,2],y=int32>*",
              absl::StatusCode::kInvalidArgument,
              "data 't?batch_size=2': field 'y' (t/y.npy): the type int32 has "
              "no leading dim for a batch of rows (write int32[?])");
}

TEST_F(FileBackendTest, SequenceColumnsMustBeAligned) {
  WriteNpy(root_ + "/t/short.npy", Ints(4));
  ExpectError("t?batch_size=2", "<x=float32[?,2],short=int32[?]>*",
              absl::StatusCode::kInvalidArgument,
              "data 't?batch_size=2': field 'short' (t/short.npy) has 4 rows, "
              "field 'x' (t/x.npy) has 5");
}

TEST_F(FileBackendTest, ScalarColumnHasNoRows) {
  WriteNpy(root_ + "/s/v.npy", Tensor::Scalar<float>(1.5f));
  ExpectError("s", "<v=float32>*", absl::StatusCode::kInvalidArgument,
              "data 's': field 'v' (s/v.npy): a scalar (float32) has no rows "
              "to make a sequence of");
  absl::StatusOr<Value> whole = Resolve("s", "<v=float32>");
  ASSERT_TRUE(whole.ok()) << whole.status();
}

// ------------------------------------------------------- formats and types

TEST_F(FileBackendTest, FormatAndLayoutErrors) {
  ExpectError("t/notes.txt", "float32", absl::StatusCode::kInvalidArgument,
              "data 't/notes.txt': 't/notes.txt' is not a .npy file");
  ExpectError("t", "float32[5,2]", absl::StatusCode::kInvalidArgument,
              "data 't': 't' is a directory (a table); the type float32[5,2] "
              "needs a .npy file");
  ExpectError("w.npy", "<w=float32[2,3]>", absl::StatusCode::kInvalidArgument,
              "data 'w.npy': 'w.npy' is not a directory; the type "
              "<w=float32[2,3]> needs one with a .npy file per field");
}

TEST_F(FileBackendTest, FifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo((root_ + "/pipe.npy").c_str(), 0600), 0);
  ExpectError("pipe.npy", "float32", absl::StatusCode::kInvalidArgument,
              "data 'pipe.npy': 'pipe.npy' is not a regular file or a "
              "directory");
  ASSERT_EQ(::mkfifo((root_ + "/t/p.npy").c_str(), 0600), 0);
  ExpectError("t", "<p=float32>", absl::StatusCode::kInvalidArgument,
              "data 't': field 'p': 't/p.npy' is not a regular file");
}

TEST_F(FileBackendTest, UnsupportedTypes) {
  for (const char* type :
       {"float32@SERVER", "{float32[2,3]}@CLIENTS", "(float32 -> float32)",
        "<a=<b=float32>>", "<a=float32*>", "<x=float32[?,2]>**"}) {
    ExpectError("t", type, absl::StatusCode::kInvalidArgument,
                "data 't': the file backend cannot give a value of type ");
  }
  ExpectError("t", "<float32[5,2]>", absl::StatusCode::kInvalidArgument,
              "data 't': field 0 of <float32[5,2]> has no name");
  ExpectError("t", "<`..`=float32>", absl::StatusCode::kInvalidArgument,
              "data 't': field '..' cannot be a file name");
  ExpectError("t", "<`a/x`=float32>", absl::StatusCode::kInvalidArgument,
              "data 't': field 'a/x' cannot be a file name");
  ExpectError("t", "<>*", absl::StatusCode::kInvalidArgument,
              "data 't': a sequence of <> has no column to take rows from");
  absl::StatusOr<Value> empty = Resolve("t", "<>");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->struct_value().elements.empty());
}

// ---------------------------------------------------------------- escapes

TEST_F(FileBackendTest, DotDotThatEscapesIsRefused) {
  ExpectOutside("../secret.npy", "float32[1,1]");
  ExpectOutside("file:sub/../../secret.npy", "float32[1,1]");
  ExpectOutside("t/../../data-root2/secret.npy", "float32[1,1]");
  // Whether or not the target exists: nothing outside can be probed.
  ExpectOutside("../no-such-file.npy", "float32");
  ExpectOutside("..", "<x=float32>");
}

TEST_F(FileBackendTest, AbsolutePathsAreRefused) {
  const std::string inside = root_ + "/w.npy";  // even one inside the root
  for (const std::string& uri : std::vector<std::string>{
           "/etc/passwd", "file:///etc/passwd", "file:/etc/passwd",
           "file://" + inside, inside}) {
    absl::StatusOr<Value> v = Resolve(uri, "float32[2,3]");
    ASSERT_FALSE(v.ok()) << uri;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(v.status()),
                StartsWith("data '" + uri +
                           "': resolves outside the data root (an absolute "
                           "path)"));
  }
}

TEST_F(FileBackendTest, SymlinksOutOfTheRootAreRefused) {
  fs::create_symlink(tmp_.File("secret.npy"), root_ + "/out.npy");
  ExpectOutside("out.npy", "float32[1,1]");
  // A directory link out, and a missing file behind it.
  fs::create_directory_symlink(tmp_.path(), root_ + "/up");
  ExpectOutside("up/secret.npy", "float32[1,1]");
  ExpectOutside("up/no-such-file.npy", "float32");
  // A dangling link out is refused too, not reported missing.
  fs::create_symlink(tmp_.File("gone.npy"), root_ + "/gone.npy");
  ExpectOutside("gone.npy", "float32");
  // A relative link that climbs out.
  fs::create_symlink("../../secret.npy", root_ + "/sub/rel.npy");
  ExpectOutside("sub/rel.npy", "float32[1,1]");
  // A column of a table.
  fs::create_symlink(tmp_.File("secret.npy"), root_ + "/t/s.npy");
  ExpectError("t", "<x=float32[5,2],s=float32[1,1]>",
              absl::StatusCode::kInvalidArgument,
              "data 't': resolves outside the data root (field 's': "
              "'t/s.npy' leads out through a symbolic link)");
  // A table directory that is a link out.
  fs::create_directory_symlink(tmp_.File("data-root2"), root_ + "/other");
  ExpectOutside("other", "<secret=float32[1,1]>");
}

TEST_F(FileBackendTest, LinksThatStayInsideAreFollowed) {
  // Absolute, into the root.
  fs::create_symlink(fs::canonical(root_) / "w.npy", root_ + "/abs.npy");
  // A directory link inside, then `..` inside the link's target.
  fs::create_directory_symlink("t", root_ + "/table");
  fs::create_symlink("../w.npy", root_ + "/t/up.npy");
  for (const char* uri : {"abs.npy", "table/up.npy", "t/up.npy"}) {
    absl::StatusOr<Value> v = Resolve(uri, "float32[2,3]");
    ASSERT_TRUE(v.ok()) << uri << ": " << v.status();
  }
  absl::StatusOr<Value> table = Resolve("table", "<x=float32[5,2]>");
  ASSERT_TRUE(table.ok()) << table.status();
  // A dangling link inside the root is a missing file.
  fs::create_symlink("nothing.npy", root_ + "/dangling.npy");
  ExpectError("dangling.npy", "float32", absl::StatusCode::kNotFound,
              "data 'dangling.npy': no file or directory 'dangling.npy'");
}

TEST_F(FileBackendTest, SymlinkLoopsAreRefused) {
  fs::create_symlink("b.npy", root_ + "/a.npy");
  fs::create_symlink("a.npy", root_ + "/b.npy");
  ExpectError("a.npy", "float32", absl::StatusCode::kInvalidArgument,
              "data 'a.npy': 'a.npy': too many levels of symbolic links");
}

TEST_F(FileBackendTest, DanglingDirectoryLinkOutIsOutside) {
  fs::create_directory_symlink(tmp_.File("no-such-dir"), root_ + "/gonedir");
  ExpectOutside("gonedir/x.npy", "float32");
  ExpectOutside("gonedir", "<x=float32>");
}

TEST_F(FileBackendTest, SiblingWithTheRootAsNamePrefixIsOutside) {
  // <tmp>/data-root2 starts with the string <tmp>/data-root but is not
  // inside it.
  fs::create_symlink("../data-root2/secret.npy", root_ + "/sibling.npy");
  ExpectOutside("sibling.npy", "float32[1,1]");
  fs::create_directory_symlink(tmp_.File("data-root2"), root_ + "/sib");
  ExpectOutside("sib/secret.npy", "float32[1,1]");
  ExpectOutside("../data-root2/secret.npy", "float32[1,1]");
}

// ------------------------------------------------- missing and malformed

TEST_F(FileBackendTest, MissingFilesAreNotFound) {
  ExpectError("nope.npy", "float32", absl::StatusCode::kNotFound,
              "data 'nope.npy': no file or directory 'nope.npy' in the data "
              "root");
  ExpectError("file:sub/./nope.npy", "float32", absl::StatusCode::kNotFound,
              "data 'file:sub/./nope.npy': no file or directory "
              "'sub/nope.npy' in the data root");
  ExpectError("w.npy/x.npy", "float32", absl::StatusCode::kNotFound,
              "data 'w.npy/x.npy': no file or directory 'w.npy/x.npy'");
  ExpectError("nope", "<x=float32>", absl::StatusCode::kNotFound,
              "data 'nope': no file or directory 'nope' in the data root");
}

TEST_F(FileBackendTest, MalformedNpyNamesTheFileRelativeToTheRoot) {
  WriteBytes(root_ + "/bad.npy", "this is not an npy file at all");
  ExpectError("bad.npy", "float32", absl::StatusCode::kInvalidArgument,
              "data 'bad.npy': bad.npy: ");
  // Truncated data.
  std::string bytes = *EncodeNpy(Floats(4, 4));
  WriteBytes(root_ + "/t/trunc.npy", bytes.substr(0, bytes.size() - 8));
  ExpectError("t", "<trunc=float32[4,4]>", absl::StatusCode::kInvalidArgument,
              "data 't': field 'trunc': t/trunc.npy: truncated data");
  // An empty file.
  WriteBytes(root_ + "/empty.npy", "");
  ExpectError("empty.npy", "float32", absl::StatusCode::kInvalidArgument,
              "data 'empty.npy': empty.npy: ");
}

TEST_F(FileBackendTest, UnreadableFileIsPermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  fs::permissions(root_ + "/sub", fs::perms::none);
  ExpectError("sub/x.npy", "float32", absl::StatusCode::kPermissionDenied,
              "data 'sub/x.npy': 'sub/x.npy': permission denied");
  fs::permissions(root_ + "/sub", fs::perms::owner_all);
}

TEST_F(FileBackendTest, ResolvesEachTime) {
  absl::StatusOr<Value> first = Resolve("w.npy", "float32[?,3]");
  ASSERT_TRUE(first.ok()) << first.status();
  // Replaced (a new file, so the first value's mapping stays valid).
  const std::string tmp = root_ + "/w.npy.new";
  WriteNpy(tmp, Floats(1, 3));
  fs::rename(tmp, root_ + "/w.npy");
  absl::StatusOr<Value> second = Resolve("w.npy", "float32[?,3]");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(first->tensor().Equals(Floats(2, 3)));
  EXPECT_TRUE(second->tensor().Equals(Floats(1, 3)));
}

TEST_F(FileBackendTest, ColumnsAreKeptWhileTheFileIsTheSame) {
  absl::StatusOr<Value> first = Resolve("w.npy", "float32[?,3]");
  absl::StatusOr<Value> again = Resolve("w.npy", "float32[?,3]");
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_TRUE(first->tensor().SharesBufferWith(again->tensor()));
  // Rewritten in place (same inode, another size): read again.
  WriteNpy(root_ + "/w.npy", Floats(3, 3));
  absl::StatusOr<Value> rewritten = Resolve("w.npy", "float32[?,3]");
  ASSERT_TRUE(rewritten.ok()) << rewritten.status();
  EXPECT_TRUE(rewritten->tensor().Equals(Floats(3, 3)));
  EXPECT_TRUE(first->tensor().Equals(Floats(2, 3)));
  // Table columns too.
  absl::StatusOr<Value> t1 = Resolve("t", "<x=float32[5,2],y=int32[5]>");
  absl::StatusOr<Value> t2 =
      Resolve("t?batch_size=2", "<x=float32[?,2],y=int32[?]>*");
  ASSERT_TRUE(t1.ok() && t2.ok());
  EXPECT_TRUE(t1->struct_value().elements[0].value->tensor().SharesBufferWith(
      t2->sequence().elements[0].struct_value().elements[0].value->tensor()));
}

// Where a path led is remembered, but a path that now leads somewhere else
// is walked and checked again: out of the root, gone, or to another file.
TEST_F(FileBackendTest, RememberedPathsAreCheckedAgainWhenTheyChange) {
  WriteNpy(root_ + "/sub/x.npy", Floats(2, 2));
  WriteNpy(tmp_.File("elsewhere/x.npy"), Floats(2, 2));
  WriteNpy(tmp_.File("elsewhere-table/x.npy"), Floats(5, 2));
  WriteNpy(tmp_.File("elsewhere-table/y.npy"), Ints(5));
  for (int i = 0; i < 2; ++i) {  // the second time from the cache
    ASSERT_TRUE(Resolve("sub/x.npy", "float32[2,2]").ok());
    ASSERT_TRUE(Resolve("t", "<x=float32[5,2],y=int32[5]>").ok());
  }
  // A directory on the way replaced by a link out of the root.
  fs::rename(root_ + "/sub", root_ + "/sub.old");
  fs::create_directory_symlink(tmp_.File("elsewhere"), root_ + "/sub");
  ExpectOutside("sub/x.npy", "float32[2,2]");
  // A table replaced by a link out of the root.
  fs::rename(root_ + "/t", root_ + "/t.old");
  fs::create_directory_symlink(tmp_.File("elsewhere-table"), root_ + "/t");
  ExpectOutside("t", "<x=float32[5,2],y=int32[5]>");
  // Gone.
  fs::remove(root_ + "/sub");
  ExpectError("sub/x.npy", "float32[2,2]", absl::StatusCode::kNotFound,
              "data 'sub/x.npy': no file or directory 'sub/x.npy'");
  // Back, with other contents: read again.
  fs::remove(root_ + "/t");
  fs::rename(root_ + "/t.old", root_ + "/t");
  WriteNpy(root_ + "/t/y.npy.new", Ints(5));
  fs::remove(root_ + "/t/y.npy");
  fs::rename(root_ + "/t/y.npy.new", root_ + "/t/y.npy");
  ASSERT_TRUE(Resolve("t", "<x=float32[5,2],y=int32[5]>").ok());
  fs::rename(root_ + "/sub.old", root_ + "/sub");
  WriteNpy(root_ + "/sub/x.npy", Floats(3, 2));
  absl::StatusOr<Value> x = Resolve("sub/x.npy", "float32[3,2]");
  ASSERT_TRUE(x.ok()) << x.status();
  EXPECT_TRUE(x->tensor().Equals(Floats(3, 2)));
}

TEST_F(FileBackendTest, TheCacheKeepsWhatItsBudgetHolds) {
  // w.npy and t/x.npy are 24 and 40 bytes of data: room for one only.
  for (int64_t budget : {int64_t{0}, int64_t{40}}) {
    SCOPED_TRACE(budget);
    auto small = FileBackend::Create(root_, budget);
    ASSERT_TRUE(small.ok());
    auto w1 = (*small)->Resolve("w.npy", T("float32[2,3]"));
    auto x = (*small)->Resolve("t/x.npy", T("float32[5,2]"));
    auto x2 = (*small)->Resolve("t/x.npy", T("float32[5,2]"));
    auto w2 = (*small)->Resolve("w.npy", T("float32[2,3]"));
    ASSERT_TRUE(w1.ok() && x.ok() && x2.ok() && w2.ok());
    EXPECT_EQ(x->tensor().SharesBufferWith(x2->tensor()), budget > 0);
    EXPECT_FALSE(w1->tensor().SharesBufferWith(w2->tensor()));  // evicted
  }
}

// ----------------------------------------------------------------- Create

TEST(FileBackendCreateTest, RootMustBeAnExistingDirectory) {
  TempDir tmp;
  absl::StatusOr<std::shared_ptr<const FileBackend>> missing =
      FileBackend::Create(tmp.File("none"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(missing.status()), HasSubstr("does not exist"));
  WriteBytes(tmp.File("f"), "x");
  absl::StatusOr<std::shared_ptr<const FileBackend>> file =
      FileBackend::Create(tmp.File("f"));
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(file.status()), HasSubstr("is not a directory"));
}

}  // namespace
}  // namespace fedexec::data
