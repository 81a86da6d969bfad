// RegisterNativeFunctions: the demos' natives in the default registry.
#include "tools/native_functions.h"

#include "demo/analytics.h"
#include "demo/model.h"
#include "runtimes/native/registry.h"

namespace fedexec::cli {

absl::Status RegisterNativeFunctions() {
  native::NativeRegistry& registry = native::NativeRegistry::Default();
  // One entry per group: the name that shows the group is registered, and
  // the function that registers it.
  if (!registry.Contains("logreg_client_update")) {
    if (absl::Status s = demo::RegisterDemoFunctions(registry); !s.ok()) {
      return s;
    }
  }
  if (!registry.Contains(demo::kAnalyticsHistogramFunction)) {
    if (absl::Status s = demo::RegisterAnalyticsFunctions(registry); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace fedexec::cli
