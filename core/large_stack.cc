#include "core/large_stack.h"

#include <pthread.h>

#include "absl/strings/str_cat.h"

namespace fedexec {
namespace {

void* RunTask(void* task) {
  (*static_cast<absl::FunctionRef<void()>*>(task))();
  return nullptr;
}

}  // namespace

absl::Status RunOnLargeStack(absl::FunctionRef<void()> task) {
  pthread_attr_t attributes;
  if (pthread_attr_init(&attributes) != 0) {
    return absl::ResourceExhaustedError("cannot start a large-stack thread");
  }
  pthread_t thread;
  int error = pthread_attr_setstacksize(&attributes, kLargeStackBytes);
  if (error == 0) {
    error = pthread_create(&thread, &attributes, &RunTask, &task);
  }
  pthread_attr_destroy(&attributes);
  if (error != 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot start a large-stack thread (error ", error, ")"));
  }
  pthread_join(thread, nullptr);
  return absl::OkStatus();
}

}  // namespace fedexec
