// Tests of DataExecutor: data nodes resolved through a FileBackend over a
// LeafExecutor through the Executor interface, end to end under sequence,
// reference resolving and federating executors (the stack the local stack
// would build), nodes passed to the child, no backend, the backend's
// contract checked, error locations, resolution on every embedding,
// cancellation and concurrent use.
#include "executors/data_executor.h"

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/npy.h"
#include "core/thread_pool.h"
#include "executors/federating_executor.h"
#include "executors/function.h"
#include "executors/leaf_executor.h"
#include "executors/reference_resolving_executor.h"
#include "executors/sequence_executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/text_syntax.h"
#include "ir/value_syntax.h"
#include "testing/concurrency.h"
#include "testing/native_runtime.h"
#include "testing/test_files.h"
#include "testing/types.h"

namespace fedexec::exec {
namespace {

namespace fs = std::filesystem;
using ::fedexec::test_util::T;
using ::fedexec::test_util::TempDir;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Message(const absl::Status& status) {
  return std::string(status.message());
}

ir::NodePtr Parse(const std::string& text) {
  absl::StatusOr<ir::NodePtr> node = ir::ParseComputation(text);
  EXPECT_TRUE(node.ok()) << node.status() << ": " << text;
  return node.ok() ? *node : nullptr;
}

ir::NodePtr Data(const std::string& uri, const std::string& type) {
  return ir::MakeNode(ir::DataNode{uri, "", ""}, T(type));
}

// The value of `node` created in and materialized from `executor`.
absl::StatusOr<Value> Evaluated(Executor& executor, const ir::NodePtr& node) {
  absl::StatusOr<OwnedValue> v = executor.CreateValue(node);
  if (!v.ok()) return v.status();
  return executor.Materialize(*v);
}

absl::StatusOr<std::string> Printed(Executor& executor,
                                    const ir::NodePtr& node) {
  absl::StatusOr<Value> v = Evaluated(executor, node);
  if (!v.ok()) return v.status();
  return ir::PrintValue(*v);
}

// Returns `value` for every uri, counting the calls.
class FakeBackend : public DataBackend {
 public:
  explicit FakeBackend(Value value) : value_(std::move(value)) {}
  absl::StatusOr<Value> Resolve(std::string_view uri,
                                const ir::Type& type) const override {
    calls_.fetch_add(1);
    return value_;
  }
  int calls() const { return calls_.load(); }

 private:
  Value value_;
  mutable std::atomic<int> calls_{0};
};

// A data root with w.npy (float32[2,3], 0 1 2 / 10 11 12) and the table t
// (x float32[5,2] with rows (10 r, 10 r + 1), y int32[5] = 0..4), and a
// Data > Leaf executor over it.
class DataExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<float> w = {0, 1, 2, 10, 11, 12};
    ASSERT_TRUE(
        WriteNpyFile(dir_.File("w.npy"), *Tensor::FromSpan<float>(w, {2, 3}))
            .ok());
    fs::create_directories(dir_.File("t"));
    std::vector<float> x;
    std::vector<int32_t> y;
    for (int r = 0; r < 5; ++r) {
      x.push_back(10.0f * r);
      x.push_back(10.0f * r + 1);
      y.push_back(r);
    }
    ASSERT_TRUE(
        WriteNpyFile(dir_.File("t/x.npy"), *Tensor::FromSpan<float>(x, {5, 2}))
            .ok());
    ASSERT_TRUE(
        WriteNpyFile(dir_.File("t/y.npy"), Tensor::Vector<int32_t>(y)).ok());
    absl::StatusOr<std::shared_ptr<const FileBackend>> backend =
        FileBackend::Create(dir_.path());
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *backend;
    leaf_ =
        std::make_shared<LeafExecutor>(context_, test_util::NativeRuntimes());
    data_ = std::make_shared<DataExecutor>(context_, leaf_, backend_);
  }

  // RR > Sequence > Data > Leaf with `backend`: what runs at a placement.
  std::shared_ptr<LocalExecutor> PlacementStack(
      std::shared_ptr<const DataBackend> backend) {
    auto leaf =
        std::make_shared<LeafExecutor>(context_, test_util::NativeRuntimes());
    auto data = std::make_shared<DataExecutor>(context_, std::move(leaf),
                                               std::move(backend));
    auto sequence =
        std::make_shared<SequenceExecutor>(context_, std::move(data));
    return std::make_shared<ReferenceResolvingExecutor>(context_,
                                                        std::move(sequence));
  }

  TempDir dir_;
  ThreadPool pool_{2};
  std::shared_ptr<ExecutionContext> context_ =
      std::make_shared<ExecutionContext>(pool_);
  std::shared_ptr<const FileBackend> backend_;
  std::shared_ptr<LeafExecutor> leaf_;
  std::shared_ptr<DataExecutor> data_;
};

TEST_F(DataExecutorTest, ResolvesDataNodes) {
  absl::StatusOr<std::string> w =
      Printed(*data_, Parse("data(\"file:w.npy\", float32[?,3])"));
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(*w, "[[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]]");
  absl::StatusOr<std::string> batches =
      Printed(*data_, Data("t?batch_size=2", "<x=float32[?,2],y=int32[?]>*"));
  ASSERT_TRUE(batches.ok()) << batches.status();
  EXPECT_EQ(*batches,
            "seq[<x=[[0.0, 1.0], [10.0, 11.0]], y=[0, 1]>, "
            "<x=[[20.0, 21.0], [30.0, 31.0]], y=[2, 3]>, "
            "<x=[[40.0, 41.0]], y=[4]>]");
}

TEST_F(DataExecutorTest, OtherNodesGoToTheChild) {
  absl::StatusOr<std::string> literal = Printed(*data_, Parse("[1, 2]"));
  ASSERT_TRUE(literal.ok()) << literal.status();
  EXPECT_EQ(*literal, "[1, 2]");
  absl::StatusOr<Value> add = data_->EmbedLeaf(
      Parse("native(\"add\", (<float32,float32> -> float32))"));
  ASSERT_TRUE(add.ok()) << add.status();
  EXPECT_TRUE(add->is_function());
}

TEST_F(DataExecutorTest, WithoutBackendNothingChanges) {
  auto bare = std::make_shared<DataExecutor>(context_, leaf_, nullptr);
  absl::StatusOr<Value> v = Evaluated(*bare, Data("w.npy", "float32[2,3]"));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(v.status()),
            "data 'w.npy': no data root here to resolve it (fedexec run "
            "--data-root, fedexec worker --data-root)");
  absl::StatusOr<std::string> literal = Printed(*bare, Parse("3"));
  ASSERT_TRUE(literal.ok()) << literal.status();
  EXPECT_EQ(*literal, "3");
}

TEST_F(DataExecutorTest, EndToEndUnderSequenceAndReferenceResolving) {
  std::shared_ptr<LocalExecutor> top = PlacementStack(backend_);
  // The rows of t summed: x = (0+10+...+40, 1+11+...+41), y = 0+...+4.
  absl::StatusOr<std::string> sum = Printed(
      *top, Parse("sequence_sum(data(\"t\", <x=float32[2],y=int32>*))"));
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(*sum, "<x=[100.0, 105.0], y=10>");
  absl::StatusOr<std::string> local =
      Printed(*top, Parse("let w = data(\"w.npy\", float32[2,3]) in "
                          "native(\"add\", (<float32[2,3],float32[2,3]> -> "
                          "float32[2,3]))(w, w)"));
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(*local, "[[0.0, 2.0, 4.0], [20.0, 22.0, 24.0]]");
}

TEST_F(DataExecutorTest, EndToEndInAFederatedStack) {
  // The local stack with a data executor at both placements; each of 3
  // clients reads and sums the table.
  auto federating = std::make_shared<FederatingExecutor>(
      context_, 3, PlacementStack(backend_));
  auto top = std::make_shared<ReferenceResolvingExecutor>(context_, federating);
  absl::StatusOr<std::string> sum = Printed(
      *top, Parse("federated_sum(federated_eval_at_clients(() -> "
                  "sequence_sum(data(\"t\", <x=float32[2],y=int32>*))))"));
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(*sum, "<x=[300.0, 315.0], y=30>@SERVER");
}

TEST_F(DataExecutorTest, KeyedDataIsAFunctionOfTheKey) {
  // Two keyed entries, each a copy of the table t.
  for (const char* key : {"0", "7"}) {
    fs::create_directories(dir_.File(std::string("keyed/") + key));
    for (const char* f : {"x.npy", "y.npy"}) {
      fs::copy_file(dir_.File(std::string("t/") + f),
                    dir_.File(std::string("keyed/") + key + "/" + f));
    }
  }
  std::shared_ptr<LocalExecutor> top = PlacementStack(backend_);
  absl::StatusOr<std::string> by_int =
      Printed(*top, Parse("sequence_sum(data(\"keyed\", "
                          "(int32 -> <x=float32[2],y=int32>*))(7))"));
  ASSERT_TRUE(by_int.ok()) << by_int.status();
  EXPECT_EQ(*by_int, "<x=[100.0, 105.0], y=10>");
  // A string key may add query parameters: batch 2 of key 0 only.
  absl::StatusOr<std::string> by_string = Printed(
      *top,
      Parse("data(\"keyed?batch_size=2\", "
            "(string -> <x=float32[?,2],y=int32[?]>*))(\"0?batches=2\")"));
  ASSERT_TRUE(by_string.ok()) << by_string.status();
  EXPECT_EQ(*by_string, "seq[<x=[[40.0, 41.0]], y=[4]>]");
  // Over clients: each client reads the entry its key names.
  auto federating = std::make_shared<FederatingExecutor>(
      context_, 2, PlacementStack(backend_));
  auto fed = std::make_shared<ReferenceResolvingExecutor>(context_, federating);
  absl::StatusOr<OwnedValue> fn = fed->CreateValue(Parse(
      "(keys: {int64}@CLIENTS) -> federated_sum(federated_map((k: int64) -> "
      "sequence_sum(data(\"keyed\", (int64 -> <x=float32[2],y=int32>*))(k)), "
      "keys))"));
  ASSERT_TRUE(fn.ok()) << fn.status();
  absl::StatusOr<Value> keys = ir::ParseValue("{int64(0), int64(7)}@CLIENTS");
  ASSERT_TRUE(keys.ok()) << keys.status();
  absl::StatusOr<OwnedValue> arg = fed->CreateValue(*keys);
  ASSERT_TRUE(arg.ok()) << arg.status();
  absl::StatusOr<OwnedValue> call = fed->CreateCall(*fn, *arg);
  ASSERT_TRUE(call.ok()) << call.status();
  absl::StatusOr<Value> sum = fed->Materialize(*call);
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(ir::PrintValue(*sum), "<x=[200.0, 210.0], y=20>@SERVER");
}

TEST_F(DataExecutorTest, KeyedDataErrors) {
  std::shared_ptr<LocalExecutor> top = PlacementStack(backend_);
  struct Case {
    std::string text;
    absl::StatusCode code;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"data(\"keyed\", (float32 -> int32[?]))",
            absl::StatusCode::kInvalidArgument,
            "data 'keyed': a data node of function type takes a key: a "
            "string, int32 or int64 scalar, not float32"},
           {"data(\"keyed\", (string[2] -> int32[?]))",
            absl::StatusCode::kInvalidArgument, "not string[2]"},
           {"data(\"keyed\", ( -> int32[?]))",
            absl::StatusCode::kInvalidArgument, "not nothing"},
           {"data(\"t\", (string -> int32[?]))(\"../w.npy\")",
            absl::StatusCode::kInvalidArgument,
            "data 't': key '../w.npy': a key cannot climb out with '..'"},
           {"data(\"keyed\", (int32 -> <x=float32[2],y=int32>*))(3)",
            absl::StatusCode::kNotFound,
            "data 'keyed/3': no file or directory 'keyed/3' in the data root"},
       }) {
    absl::StatusOr<Value> v = Evaluated(*top, Parse(c.text));
    ASSERT_FALSE(v.ok()) << c.text;
    EXPECT_EQ(v.status().code(), c.code) << v.status();
    EXPECT_THAT(Message(v.status()), HasSubstr(c.message)) << c.text;
  }
}

TEST_F(DataExecutorTest, KeyedDataWithoutBackendResolvesWhereItIsSent) {
  auto bare = std::make_shared<DataExecutor>(context_, leaf_, nullptr);
  const ir::NodePtr node = Data("keyed", "(int32 -> float32[?])");
  absl::StatusOr<Value> fn = bare->EmbedLeaf(node);
  ASSERT_TRUE(fn.ok()) << fn.status();
  absl::StatusOr<const Function*> f = AsFunction(*fn);
  ASSERT_TRUE(f.ok()) << f.status();
  absl::StatusOr<ir::NodePtr> sent = (*f)->ToNode();
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(sent->get(), node.get());
  EXPECT_EQ((*f)->Describe(), "(int32 -> float32[?]) data 'keyed'");
  const Value key(Tensor::Scalar<int32_t>(3));
  absl::StatusOr<Value> called = (*f)->Call(&key);
  ASSERT_FALSE(called.ok());
  EXPECT_EQ(called.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(called.status()),
              StartsWith("data 'keyed' (key '3'): this process has no data "
                         "root"));
}

TEST_F(DataExecutorTest, ErrorsCarryTheNodeLocation) {
  // Through the data executor itself: line and column from the text.
  absl::StatusOr<Value> missing =
      Evaluated(*data_, Parse("\n  data(\"nope.npy\", float32)"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Message(missing.status()),
            "2:3: data 'nope.npy': no file or directory 'nope.npy' in the "
            "data root");
  EXPECT_TRUE(HasLocation(missing.status()));
  // Under a reference resolving executor: still where the data node is.
  std::shared_ptr<LocalExecutor> top = PlacementStack(backend_);
  absl::StatusOr<Value> nested = Evaluated(
      *top, Parse("let a = 1,\n    b = data(\"../x.npy\", float32)\nin b"));
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(nested.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(nested.status()),
              StartsWith("2:9: data '../x.npy': resolves outside the data "
                         "root"));
  // A node that was not read from text has no location of its own.
  absl::StatusOr<Value> bare = Evaluated(*data_, Data("nope.npy", "float32"));
  ASSERT_FALSE(bare.ok());
  EXPECT_THAT(Message(bare.status()), StartsWith("data 'nope.npy': "));
}

TEST_F(DataExecutorTest, TypeMismatchFromTheFileBackend) {
  absl::StatusOr<Value> v =
      Evaluated(*data_, Data("t", "<x=float32[5,3],y=int32[5]>"));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(Message(v.status()),
            "data 't': field 'x' (t/x.npy): expected float32[5,3], found "
            "float32[5,2]");
}

TEST_F(DataExecutorTest, BackendResultIsCheckedAgainstTheType) {
  auto fake = std::make_shared<FakeBackend>(Value(Tensor::Scalar<int32_t>(7)));
  auto data = std::make_shared<DataExecutor>(context_, leaf_, fake);
  absl::StatusOr<Value> v = Evaluated(*data, Data("anything", "float32"));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(v.status()),
              StartsWith("data 'anything': resolved to int32, not an "
                         "instance of float32: "));
  absl::StatusOr<Value> ok = Evaluated(*data, Data("anything", "int32"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(fake->calls(), 2);
}

TEST_F(DataExecutorTest, ResolvesOnEveryEmbedding) {
  auto fake = std::make_shared<FakeBackend>(Value(Tensor::Scalar<int32_t>(7)));
  auto data = std::make_shared<DataExecutor>(context_, leaf_, fake);
  const ir::NodePtr node = Data("x", "int32");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(data->EmbedLeaf(node).ok());
  EXPECT_EQ(fake->calls(), 3);
  // A file replaced between two embeddings is read again.
  std::vector<float> one = {5, 6, 7};
  const ir::NodePtr w = Data("w.npy", "float32[?,3]");
  ASSERT_TRUE(data_->EmbedLeaf(w).ok());
  ASSERT_TRUE(
      WriteNpyFile(dir_.File("w2.npy"), *Tensor::FromSpan<float>(one, {1, 3}))
          .ok());
  fs::rename(dir_.File("w2.npy"), dir_.File("w.npy"));
  absl::StatusOr<Value> again = data_->EmbedLeaf(w);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(ir::PrintValue(*again), "[[5.0, 6.0, 7.0]]");
}

TEST_F(DataExecutorTest, NodesWithoutUriOrType) {
  absl::StatusOr<Value> content = data_->EmbedLeaf(ir::MakeNode(
      ir::DataNode{"", "type.googleapis.com/x.Y", "bytes"}, T("float32")));
  ASSERT_FALSE(content.ok());
  EXPECT_EQ(Message(content.status()),
            "data leaf with content 'type.googleapis.com/x.Y': the data "
            "executor resolves uris only");
  absl::StatusOr<Value> untyped =
      data_->EmbedLeaf(ir::MakeNode(ir::DataNode{"w.npy", "", ""}));
  ASSERT_FALSE(untyped.ok());
  EXPECT_EQ(Message(untyped.status()), "data 'w.npy' has no declared type");
  absl::StatusOr<Value> null = data_->EmbedLeaf(nullptr);
  ASSERT_FALSE(null.ok());
}

TEST_F(DataExecutorTest, CancelledStackDoesNotResolve) {
  auto fake = std::make_shared<FakeBackend>(Value(Tensor::Scalar<int32_t>(7)));
  auto data = std::make_shared<DataExecutor>(context_, leaf_, fake);
  context_->cancel.Cancel();
  absl::StatusOr<Value> v = data->EmbedLeaf(Data("x", "int32"));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(fake->calls(), 0);
}

TEST_F(DataExecutorTest, ConcurrentResolution) {
  test_util::RunWithDeadline("concurrent data resolution", [&] {
    const ir::NodePtr node =
        Data("t?batch_size=2", "<x=float32[?,2],y=int32[?]>*");
    std::atomic<int> good{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 25; ++i) {
          absl::StatusOr<Value> v = Evaluated(*data_, node);
          if (v.ok() && v->sequence().elements.size() == 3) good.fetch_add(1);
        }
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(good.load(), 100);
  });
}

}  // namespace
}  // namespace fedexec::exec
