// Golden tests over examples/*.fed: each example type checks to the
// signature recorded in
// testdata/golden/example_types.txt, and survives text -> proto -> text and
// proto -> AST -> proto unchanged. FEDEXEC_UPDATE_GOLDEN=1 rewrites the
// golden file from the current results (review the diff before committing).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "ir/computation_file.h"
#include "ir/proto_codec.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"
#include "testing/test_files.h"

namespace fedexec::ir {
namespace {

namespace fs = std::filesystem;

using ::fedexec::test_util::ReadFile;
using ::fedexec::test_util::SourceDir;

std::map<std::string, std::string> Examples() {
  std::map<std::string, std::string> examples;
  for (const auto& entry : fs::directory_iterator(SourceDir() / "examples")) {
    if (entry.path().extension() == ".fed") {
      examples[entry.path().filename().string()] = ReadFile(entry.path());
    }
  }
  return examples;
}

const fs::path kGolden = "testdata/golden/example_types.txt";

std::map<std::string, std::string> GoldenTypes() {
  std::map<std::string, std::string> types;
  for (absl::string_view line : absl::StrSplit(ReadFile(SourceDir() / kGolden),
                                               '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(line, absl::MaxSplits(": ", 1));
    types[kv.first] = kv.second;
  }
  return types;
}

std::string Bytes(const NodePtr& checked) {
  auto serialized =
      SerializeComputation(checked, ComputationFormat::kBinaryProto);
  EXPECT_TRUE(serialized.ok()) << serialized.status();
  return serialized.ok() ? *serialized : "";
}

TEST(ExamplesTest, AtLeastTen) { EXPECT_GE(Examples().size(), 10u); }

TEST(ExamplesTest, TypesMatchGolden) {
  std::map<std::string, std::string> found;
  for (const auto& [name, text] : Examples()) {
    auto root = ParseComputation(text);
    ASSERT_TRUE(root.ok()) << name << ": " << root.status();
    auto checked = CheckComputation(*root);
    ASSERT_TRUE(checked.ok()) << name << ": " << checked.status();
    found[name] = (*checked)->type()->ToString();
  }
  if (std::getenv("FEDEXEC_UPDATE_GOLDEN")) {
    std::ofstream out(SourceDir() / kGolden);
    for (const auto& [name, type] : found) out << name << ": " << type << "\n";
    GTEST_SKIP() << "golden file rewritten";
  }
  EXPECT_EQ(found, GoldenTypes());
}

TEST(ExamplesTest, ProtoRoundTrips) {
  for (const auto& [name, text] : Examples()) {
    SCOPED_TRACE(name);
    auto root = ParseComputation(text);
    ASSERT_TRUE(root.ok()) << root.status();
    auto checked = CheckComputation(*root);
    ASSERT_TRUE(checked.ok()) << checked.status();
    std::string bytes = Bytes(*checked);

    // proto -> AST -> proto gives the same bytes.
    auto decoded = ParseComputationAs(bytes, ComputationFormat::kBinaryProto);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    auto rechecked = CheckComputation(*decoded);
    ASSERT_TRUE(rechecked.ok()) << rechecked.status();
    EXPECT_EQ(Bytes(*rechecked), bytes);
    EXPECT_EQ((*rechecked)->type(), (*checked)->type());

    // The proto, printed as text and parsed again, is the same computation.
    auto reparsed = ParseComputation(PrintComputation(*rechecked));
    ASSERT_TRUE(reparsed.ok()) << reparsed.status();
    auto rechecked_text = CheckComputation(*reparsed);
    ASSERT_TRUE(rechecked_text.ok()) << rechecked_text.status();
    EXPECT_EQ(Bytes(*rechecked_text), bytes);
  }
}

TEST(CompatComputationsTest, TypesAndByteExactRoundTrip) {
  const std::map<std::string, std::string> expected = {
      {"apply_double", "( -> float32@SERVER)"},
      {"min_value_at_clients", "( -> float32@SERVER)"},
      {"weighted_mean", "( -> float32@SERVER)"},
      {"sum_parameter", "({float32}@CLIENTS -> float32@SERVER)"},
  };
  for (const auto& [stem, type] : expected) {
    SCOPED_TRACE(stem);
    fs::path dir = SourceDir() / "testdata/compat/computations";
    std::string bytes = ReadFile(dir / (stem + ".pb"));
    auto from_pb = LoadCheckedComputation((dir / (stem + ".pb")).string());
    ASSERT_TRUE(from_pb.ok()) << from_pb.status();
    EXPECT_EQ((*from_pb)->type()->ToString(), type);
    EXPECT_EQ(Bytes(*from_pb), bytes);
    auto from_text =
        LoadCheckedComputation((dir / (stem + ".textproto")).string());
    ASSERT_TRUE(from_text.ok()) << from_text.status();
    EXPECT_EQ(Bytes(*from_text), bytes);
    // Through the text syntax and back: still the same bytes.
    auto parsed = ParseComputation(PrintComputation(*from_pb));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    auto via_fed = CheckComputation(*parsed);
    ASSERT_TRUE(via_fed.ok()) << via_fed.status();
    EXPECT_EQ(Bytes(*via_fed), bytes);
  }
}

}  // namespace
}  // namespace fedexec::ir
