// Function values, the shared execution context and error helpers.
#include "executors/function.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "core/value_description.h"

namespace fedexec::exec {
namespace {

// The payload that marks a status whose message names its origin.
constexpr char kLocationPayload[] = "fedexec.dev/where";

}  // namespace

absl::Status ExecutionContext::CheckCancelled() const {
  if (!cancel.IsCancelled()) return absl::OkStatus();
  return absl::CancelledError("the computation was cancelled");
}

std::string Function::Describe() const {
  return absl::StrCat(type_.ToString(), " ", What());
}

absl::StatusOr<ir::NodePtr> Function::ToNode() const {
  return absl::InvalidArgumentError(absl::StrCat(
      Describe(), " has no form that can be sent to another process"));
}

absl::StatusOr<const Function*> AsFunction(const Value& value) {
  const Function* f = nullptr;
  if (value.is_function()) {
    f = dynamic_cast<const Function*>(value.function().get());
  }
  if (f == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a function, found ", DescribeValue(value)));
  }
  return f;
}

absl::StatusOr<Value> CallFunction(const Value& function,
                                   const Value* argument) {
  absl::StatusOr<const Function*> f = AsFunction(function);
  if (!f.ok()) return f.status();
  if ((*f)->has_parameter() != (argument != nullptr)) {
    return absl::InvalidArgumentError(absl::StrCat(
        (*f)->Describe(), (*f)->has_parameter()
                              ? " needs an argument and was called without"
                              : " takes no argument and was called with one"));
  }
  return (*f)->Call(argument);
}

bool HasLocation(const absl::Status& status) {
  return status.GetPayload(kLocationPayload).has_value();
}

absl::Status WithLocation(const absl::Status& status, std::string_view where) {
  if (status.ok() || HasLocation(status) || where.empty()) {
    return CopyStatus(status);
  }
  absl::Status out(status.code(),
                   absl::StrCat(absl::string_view(where.data(), where.size()),
                                ": ", status.message()));
  out.SetPayload(kLocationPayload, absl::Cord("1"));
  return out;
}

absl::Status CopyStatus(const absl::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(status.code(), std::string(status.message()));
  if (HasLocation(status)) out.SetPayload(kLocationPayload, absl::Cord("1"));
  return out;
}

}  // namespace fedexec::exec
