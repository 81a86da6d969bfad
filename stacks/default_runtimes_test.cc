// Tests of DefaultRuntimes: the leaf kinds a stack serves.
#include "stacks/default_runtimes.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace fedexec::stacks {
namespace {

TEST(DefaultRuntimesTest, ServeNativeLeavesOnceEach) {
  std::set<std::string> kinds;
  for (const auto& runtime : DefaultRuntimes()) {
    ASSERT_NE(runtime, nullptr);
    EXPECT_TRUE(kinds.insert(runtime->kind()).second) << runtime->kind();
  }
  EXPECT_EQ(kinds, std::set<std::string>{"native"});
}

}  // namespace
}  // namespace fedexec::stacks
