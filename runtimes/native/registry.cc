// The native function registry: registration, binding to declared types,
// and the argument and result checks around every call.
#include "runtimes/native/registry.h"

#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"

namespace fedexec::native {

struct BoundFunction::Entry {
  std::string name;
  std::string signature_text;
  ir::Type signature;
  NativeImpl impl;
  NativeTypeCheck check;
};

namespace {

// Names listed at most in an "unknown native function" message.
constexpr size_t kMaxListedNames = 20;

bool IsEmptyValue(const Value& value) {
  return value.is_tensor() && !value.tensor().valid();
}

}  // namespace

// ------------------------------------------------------------ BoundFunction

const std::string& BoundFunction::name() const { return entry_->name; }
const ir::Type& BoundFunction::declared_type() const { return declared_; }
const std::string& BoundFunction::signature() const {
  return entry_->signature_text;
}

absl::StatusOr<Value> BoundFunction::Call(const Value& argument) const {
  const ir::Type* parameter = declared_.parameter();
  if (parameter == nullptr) {
    if (!IsEmptyValue(argument)) {
      return absl::InvalidArgumentError(
          absl::StrCat("native function '", entry_->name,
                       "' takes no argument, given ", DescribeValue(argument)));
    }
  } else if (absl::Status s = CheckValueMatchesType(argument, *parameter);
             !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "native function '", entry_->name, "': argument ",
        DescribeValue(argument), " does not match the declared parameter type ",
        parameter->ToString(), " (", s.message(), ")"));
  }
  FEDEXEC_ASSIGN_OR_RETURN(Value result, entry_->impl(argument));
  if (absl::Status s = CheckValueMatchesType(result, declared_.result());
      !s.ok()) {
    return absl::InternalError(
        absl::StrCat("native function '", entry_->name, "' returned ",
                     DescribeValue(result), "; declared result type ",
                     declared_.result().ToString(), " (", s.message(), ")"));
  }
  return result;
}

// ----------------------------------------------------------- NativeRegistry

NativeRegistry& NativeRegistry::Default() {
  static NativeRegistry* const registry = [] {
    auto* r = new NativeRegistry();
    // Cannot fail on a fresh registry; a failure would be a bug in the
    // kernel table and is kept for startup_status().
    absl::Status status = RegisterBuiltinKernels(*r);
    if (!status.ok()) r->RecordStartupError(status);
    return r;
  }();
  return *registry;
}

absl::Status NativeRegistry::Register(std::string name,
                                      std::string_view signature,
                                      NativeImpl impl, NativeTypeCheck check) {
  if (name.empty()) {
    return absl::InvalidArgumentError("native function with an empty name");
  }
  if (impl == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "native function '", name, "' has no implementation (null)"));
  }
  const absl::string_view sig(signature.data(), signature.size());
  absl::StatusOr<ir::Type> type =
      ir::ParseType(absl::string_view(signature.data(), signature.size()));
  if (!type.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("native function '", name, "': signature '", sig,
                     "' does not parse: ", type.status().message()));
  }
  if (type->kind() != ir::TypeKind::kFunction) {
    return absl::InvalidArgumentError(absl::StrCat("native function '", name,
                                                   "': signature '", sig,
                                                   "' is not a function type"));
  }
  if (absl::Status s = ir::CheckWellFormed(*type); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("native function '", name, "': signature '", sig,
                     "' is ill-formed: ", s.message()));
  }
  auto entry = std::make_shared<BoundFunction::Entry>();
  entry->name = name;
  entry->signature_text = std::string(signature);
  entry->signature = *std::move(type);
  entry->impl = std::move(impl);
  entry->check = std::move(check);
  std::unique_lock lock(mutex_);
  auto [it, inserted] = functions_.emplace(std::move(name), std::move(entry));
  if (!inserted) {
    return absl::AlreadyExistsError(absl::StrCat("native function '", it->first,
                                                 "' is already registered"));
  }
  return absl::OkStatus();
}

absl::StatusOr<BoundFunction> NativeRegistry::Bind(
    std::string_view name, const ir::Type& declared) const {
  std::shared_ptr<const BoundFunction::Entry> entry;
  {
    std::shared_lock lock(mutex_);
    auto it = functions_.find(name);
    if (it != functions_.end()) entry = it->second;
  }
  if (entry == nullptr) {
    std::vector<std::string> names = Names();
    std::string listed;
    if (names.empty()) {
      listed = "none";
    } else {
      const size_t shown = std::min(names.size(), kMaxListedNames);
      listed = absl::StrJoin(names.begin(), names.begin() + shown, ", ");
      if (names.size() > shown) {
        absl::StrAppend(&listed, ", ... and ", names.size() - shown, " more");
      }
    }
    std::string message =
        absl::StrCat("unknown native function '",
                     absl::string_view(name.data(), name.size()),
                     "' (registered: ", listed, ")");
    absl::Status startup = startup_status();
    if (!startup.ok()) {
      absl::StrAppend(
          &message, "; a registration at start-up failed: ", startup.message());
    }
    return absl::InvalidArgumentError(message);
  }
  const std::string prefix =
      absl::StrCat("native function '", entry->name, "' has signature ",
                   entry->signature_text, "; declared ", declared.ToString(),
                   " does not match: ");
  if (declared.kind() != ir::TypeKind::kFunction) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "not a function type"));
  }
  if (ir::ContainsAbstract(declared)) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, "a declared type must not contain abstract types"));
  }
  if (absl::Status s = ir::CheckWellFormed(declared); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, s.message()));
  }
  const ir::Type& signature = entry->signature;
  if ((signature.parameter() == nullptr) != (declared.parameter() == nullptr)) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, signature.parameter() == nullptr
                                 ? "the function takes no parameter"
                                 : "the function takes a parameter"));
  }
  // Parameter and result unify separately, the signature being the general
  // side of both: the declared type is an instance of the signature.
  ir::TypeBindings bindings;
  if (signature.parameter() != nullptr) {
    if (absl::Status s =
            ir::Unify(*signature.parameter(), *declared.parameter(), &bindings);
        !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, "parameter: ", s.message()));
    }
  }
  if (absl::Status s =
          ir::Unify(signature.result(), declared.result(), &bindings);
      !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "result: ", s.message()));
  }
  if (entry->check != nullptr) {
    if (absl::Status s = entry->check(declared, bindings); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(prefix, s.message()));
    }
  }
  return BoundFunction(std::move(entry), declared);
}

bool NativeRegistry::Contains(std::string_view name) const {
  std::shared_lock lock(mutex_);
  return functions_.find(name) != functions_.end();
}

std::vector<std::string> NativeRegistry::Names() const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> names;
  names.reserve(functions_.size());
  for (const auto& [name, entry] : functions_) names.push_back(name);
  return names;
}

absl::StatusOr<std::string> NativeRegistry::Signature(
    std::string_view name) const {
  std::shared_lock lock(mutex_);
  auto it = functions_.find(name);
  if (it == functions_.end()) {
    return absl::NotFoundError(
        absl::StrCat("unknown native function '",
                     absl::string_view(name.data(), name.size()), "'"));
  }
  return it->second->signature_text;
}

absl::Status NativeRegistry::startup_status() const {
  std::shared_lock lock(mutex_);
  return startup_status_;
}

void NativeRegistry::RecordStartupError(const absl::Status& status) {
  std::unique_lock lock(mutex_);
  if (startup_status_.ok()) startup_status_ = status;
}

namespace internal {

bool RegisterAtStartup(const char* name, const char* signature,
                       NativeImpl impl) {
  NativeRegistry& registry = NativeRegistry::Default();
  absl::Status status = registry.Register(name, signature, std::move(impl));
  if (!status.ok()) registry.RecordStartupError(status);
  return status.ok();
}

}  // namespace internal

}  // namespace fedexec::native
