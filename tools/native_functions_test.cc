// Tests of the program's list of native functions: what `fedexec run` and
// `fedexec worker` register.
#include "tools/native_functions.h"

#include "demo/analytics.h"
#include "gtest/gtest.h"
#include "runtimes/native/registry.h"

namespace fedexec::cli {
namespace {

TEST(NativeFunctionsTest, RegistersTheDemosFunctionsOnceIntoTheDefault) {
  const native::NativeRegistry& registry = native::NativeRegistry::Default();
  ASSERT_TRUE(RegisterNativeFunctions().ok());
  EXPECT_TRUE(registry.Contains("logreg_client_update"));
  EXPECT_TRUE(registry.Contains(demo::kAnalyticsHistogramFunction));
  // The built-in kernels stay, and a second call (run and worker in one
  // process, or a registration made earlier) finds the functions there.
  EXPECT_TRUE(registry.Contains("add"));
  EXPECT_TRUE(RegisterNativeFunctions().ok());
}

}  // namespace
}  // namespace fedexec::cli
