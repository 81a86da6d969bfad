// Specification of the node paths used in error messages (ir/node_path.h).
#include "ir/node_path.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace fedexec::ir {
namespace {

TEST(NodePathTest, RootIsNamedRoot) {
  EXPECT_EQ(kRootPath, "root");
  EXPECT_EQ(JoinPath({}), "root");
}

TEST(NodePathTest, ChildOfRootIsJustTheStep) {
  EXPECT_EQ(ChildPath(std::string(kRootPath), kLambdaResultStep),
            "lambda.result");
}

TEST(NodePathTest, DeeperChildrenAreJoinedWithSlashes) {
  std::string path = ChildPath("root", kLambdaResultStep);
  path = ChildPath(path, kCallArgumentStep);
  path = ChildPath(path, StructElementStep(1));
  EXPECT_EQ(path, "lambda.result/call.argument/struct[1]");
}

TEST(NodePathTest, StepNames) {
  EXPECT_EQ(kLambdaResultStep, "lambda.result");
  EXPECT_EQ(kBlockResultStep, "block.result");
  EXPECT_EQ(kCallFunctionStep, "call.function");
  EXPECT_EQ(kCallArgumentStep, "call.argument");
  EXPECT_EQ(kSelectionSourceStep, "selection.source");
  EXPECT_EQ(BlockLocalStep(2), "block.local[2]");
  EXPECT_EQ(StructElementStep(0), "struct[0]");
}

TEST(NodePathTest, JoinPathEqualsRepeatedChildPath) {
  const std::vector<std::string> steps = {BlockLocalStep(0),
                                          std::string(kCallFunctionStep),
                                          std::string(kSelectionSourceStep)};
  std::string path(kRootPath);
  for (const std::string& step : steps) path = ChildPath(path, step);
  EXPECT_EQ(JoinPath(steps), path);
  EXPECT_EQ(path, "block.local[0]/call.function/selection.source");
}

TEST(NodePathTest, AtPathPrefixesTheMessage) {
  EXPECT_EQ(AtPath("root", "computation has no kind"),
            "root: computation has no kind");
}

}  // namespace
}  // namespace fedexec::ir
