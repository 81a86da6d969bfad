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

// Where a value sits inside the checked value: built on the stack as the
// check descends, turned into text ("[1].b{2}") only for an error, so a
// successful check allocates nothing.
struct PathStep {
  const PathStep* parent = nullptr;
  enum class Kind { kElement, kSequence, kMember } kind = Kind::kElement;
  const std::string* name = nullptr;  // a named struct element
  size_t index = 0;
};

std::string PathText(const PathStep* step) {
  std::vector<const PathStep*> steps;
  for (; step != nullptr; step = step->parent) steps.push_back(step);
  std::string out;
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    const PathStep& s = **it;
    switch (s.kind) {
      case PathStep::Kind::kElement:
        if (s.name != nullptr && !s.name->empty()) {
          absl::StrAppend(&out, ".", *s.name);
        } else {
          absl::StrAppend(&out, "[", s.index, "]");
        }
        break;
      case PathStep::Kind::kSequence:
        absl::StrAppend(&out, "{", s.index, "}");
        break;
      case PathStep::Kind::kMember:
        absl::StrAppend(&out, "@", s.index);
        break;
    }
  }
  return out;
}

absl::Status MismatchAt(const PathStep* step, const ir::Type& type,
                        const Value& value) {
  const std::string path = PathText(step);
  return absl::InvalidArgumentError(absl::StrCat(
      path.empty() ? "" : absl::StrCat("at ", path, ": "), "expected ",
      type.ToString(), ", found ", DescribeValue(value)));
}

absl::Status MatchAt(const Value& value, const ir::Type& type,
                     const PathStep* path) {
  switch (type.kind()) {
    case ir::TypeKind::kTensor: {
      if (!value.is_tensor() || !value.tensor().valid() ||
          value.tensor().dtype() != type.dtype()) {
        return MismatchAt(path, type, value);
      }
      if (type.unknown_rank()) return absl::OkStatus();
      const std::vector<int64_t>& shape = value.tensor().shape();
      if (shape.size() != type.dims().size()) {
        return MismatchAt(path, type, value);
      }
      for (size_t i = 0; i < shape.size(); ++i) {
        if (type.dims()[i] != ir::kUnknownDim && type.dims()[i] != shape[i]) {
          return MismatchAt(path, type, value);
        }
      }
      return absl::OkStatus();
    }
    case ir::TypeKind::kStruct: {
      if (!value.is_struct() ||
          value.struct_value().elements.size() != type.elements().size()) {
        return MismatchAt(path, type, value);
      }
      const auto& elements = value.struct_value().elements;
      for (size_t i = 0; i < elements.size(); ++i) {
        const std::string& name = type.elements()[i].name;
        if (!name.empty() && elements[i].name != name) {
          return MismatchAt(path, type, value);
        }
        const PathStep step{path, PathStep::Kind::kElement,
                            &elements[i].name, i};
        FEDEXEC_RETURN_IF_ERROR(
            MatchAt(*elements[i].value, type.elements()[i].type, &step));
      }
      return absl::OkStatus();
    }
    case ir::TypeKind::kSequence: {
      if (!value.is_sequence()) return MismatchAt(path, type, value);
      // A lazy sequence's elements are checked by whoever traverses it.
      const auto& elements = value.sequence().elements;
      for (size_t i = 0; i < elements.size(); ++i) {
        const PathStep step{path, PathStep::Kind::kSequence, nullptr, i};
        FEDEXEC_RETURN_IF_ERROR(MatchAt(elements[i], type.element(), &step));
      }
      return absl::OkStatus();
    }
    case ir::TypeKind::kFederated: {
      if (!value.is_federated() ||
          value.federated().placement != type.placement() ||
          (type.all_equal() && !value.federated().all_equal)) {
        return MismatchAt(path, type, value);
      }
      const auto& members = value.federated().members;
      for (size_t i = 0; i < members.size(); ++i) {
        const PathStep step{path, PathStep::Kind::kMember, nullptr, i};
        FEDEXEC_RETURN_IF_ERROR(MatchAt(members[i], type.member(), &step));
      }
      return absl::OkStatus();
    }
    default:
      // Functions, placements and abstract types have no Value.
      return MismatchAt(path, type, value);
  }
}

bool IsEmptyValue(const Value& value) {
  return value.is_tensor() && !value.tensor().valid();
}

}  // namespace

std::string DescribeValue(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kTensor:
      if (!value.tensor().valid()) return "<none>";
      return value.tensor().TypeString();
    case Value::Kind::kStruct: {
      std::string out = "<";
      const auto& elements = value.struct_value().elements;
      for (size_t i = 0; i < elements.size(); ++i) {
        if (i > 0) out += ",";
        if (!elements[i].name.empty())
          absl::StrAppend(&out, elements[i].name, "=");
        out += DescribeValue(*elements[i].value);
      }
      return out + ">";
    }
    case Value::Kind::kSequence: {
      const auto& elements = value.sequence().elements;
      if (value.sequence().lazy != nullptr) return "<lazy>*";
      if (elements.empty()) return "<empty>*";
      return DescribeValue(elements[0]) + "*";
    }
    case Value::Kind::kFederated: {
      const FederatedValue& f = value.federated();
      const std::string member =
          f.lazy != nullptr ? "<lazy>"
          : f.members.empty() ? "<none>"
                              : DescribeValue(f.members[0]);
      const std::string placement =
          f.placement == Placement::kServer ? "SERVER" : "CLIENTS";
      if (f.all_equal) return absl::StrCat(member, "@", placement);
      return absl::StrCat("{", member, "}@", placement);
    }
    case Value::Kind::kFunction:
      return value.function() != nullptr ? value.function()->Describe()
                                         : "<function>";
  }
  return "<unknown>";
}

absl::Status CheckValueMatchesType(const Value& value, const ir::Type& type) {
  return MatchAt(value, type, nullptr);
}

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
