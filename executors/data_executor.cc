// DataExecutor: data nodes resolved by a DataBackend.
#include "executors/data_executor.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "core/value_description.h"
#include "ir/value_check.h"

namespace fedexec::exec {
namespace {

// `uri` resolved by `backend`, checked to be an instance of `type`.
absl::StatusOr<Value> ResolveChecked(const DataBackend& backend,
                                     const std::string& uri,
                                     const ir::Type& type) {
  FEDEXEC_ASSIGN_OR_RETURN(Value value, backend.Resolve(uri, type));
  // The backend's contract, checked for every backend: what a computation
  // is given has its declared type.
  if (absl::Status s = ir::CheckValueMatchesType(value, type); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data '", uri, "': resolved to ", DescribeValue(value),
        ", not an instance of ", type.ToString(), ": ", s.message()));
  }
  return value;
}

// The key a keyed data function is called with, as text: a string scalar
// as it is, an int32 or int64 scalar in decimal.
absl::StatusOr<std::string> KeyText(const Value& key) {
  if (key.is_tensor() && key.tensor().valid() && key.tensor().rank() == 0) {
    const Tensor& t = key.tensor();
    switch (t.dtype()) {
      case DType::kString:
        return t.strings()[0];
      case DType::kInt32:
        return absl::StrCat(t.data<int32_t>()[0]);
      case DType::kInt64:
        return absl::StrCat(t.data<int64_t>()[0]);
      default:
        break;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("expected a string, int32 or int64 scalar key, found ",
                   DescribeValue(key)));
}

bool IsKeyType(const ir::Type& type) {
  return type.kind() == ir::TypeKind::kTensor && !type.unknown_rank() &&
         type.dims().empty() &&
         (type.dtype() == DType::kString || type.dtype() == DType::kInt32 ||
          type.dtype() == DType::kInt64);
}

// A keyed data node (function type (K -> T)) as a function: each call
// resolves the uri its key names through the backend of the stack that
// embedded it. Sent to another process, it goes as its node and resolves
// there; without a backend (a coordinator holding no data) a call is an
// error.
class KeyedDataFunction : public Function {
 public:
  KeyedDataFunction(ir::NodePtr node,
                    std::shared_ptr<const DataBackend> backend)
      : Function(*node->type()),
        node_(std::move(node)),
        backend_(std::move(backend)) {}

  absl::StatusOr<Value> Call(const Value* argument) const override {
    const std::string& uri = node_->As<ir::DataNode>().uri;
    if (argument == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("data '", uri, "': called without a key"));
    }
    absl::StatusOr<std::string> key = KeyText(*argument);
    if (!key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("data '", uri, "': ", key.status().message()));
    }
    if (backend_ == nullptr) {
      // Not FAILED_PRECONDITION: over the executor protocol that would
      // mean "this executor is unusable".
      return absl::InvalidArgumentError(absl::StrCat(
          "data '", uri, "' (key '", *key,
          "'): this process has no data root; keyed data is resolved where "
          "it is called, on workers started with --data-root"));
    }
    FEDEXEC_ASSIGN_OR_RETURN(const std::string resolved,
                             KeyedDataUri(uri, *key));
    return ResolveChecked(*backend_, resolved, type().result());
  }

  absl::StatusOr<ir::NodePtr> ToNode() const override { return node_; }

 protected:
  std::string What() const override {
    return absl::StrCat("data '", node_->As<ir::DataNode>().uri, "'");
  }

 private:
  ir::NodePtr node_;
  std::shared_ptr<const DataBackend> backend_;
};

}  // namespace

DataExecutor::DataExecutor(std::shared_ptr<ExecutionContext> context,
                           std::shared_ptr<LocalExecutor> child,
                           std::shared_ptr<const DataBackend> backend)
    : LocalExecutor(std::move(context), std::move(child)),
      backend_(std::move(backend)) {}

absl::StatusOr<Value> DataExecutor::EmbedLeaf(const ir::NodePtr& node) {
  if (node == nullptr) {
    return absl::InvalidArgumentError("EmbedLeaf: null node");
  }
  if (!node->Is<ir::DataNode>()) return LocalExecutor::EmbedLeaf(node);
  const bool keyed = node->type().has_value() &&
                     node->type()->kind() == ir::TypeKind::kFunction;
  if (backend_ == nullptr && !keyed) return LocalExecutor::EmbedLeaf(node);
  absl::StatusOr<Value> value = Resolve(node);
  if (value.ok()) return value;
  const ir::SourceLocation& at = node->location();
  if (at.line <= 0) return value.status();
  return WithLocation(value.status(), absl::StrCat(at.line, ":", at.column));
}

absl::StatusOr<Value> DataExecutor::Resolve(const ir::NodePtr& node_ptr) const {
  const ir::Node& node = *node_ptr;
  const ir::DataNode& data = node.As<ir::DataNode>();
  if (data.uri.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("data leaf with content '", data.content_type_url,
                     "': the data executor resolves uris only"));
  }
  if (!node.type().has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("data '", data.uri, "' has no declared type"));
  }
  FEDEXEC_RETURN_IF_ERROR(context()->CheckCancelled());
  const ir::Type& type = *node.type();
  if (type.kind() == ir::TypeKind::kFunction) {
    if (type.parameter() == nullptr || !IsKeyType(*type.parameter())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "data '", data.uri,
          "': a data node of function type takes a "
          "key: a string, int32 or int64 scalar, not ",
          type.parameter() == nullptr ? std::string("nothing")
                                      : type.parameter()->ToString()));
    }
    return Value::Function(
        std::make_shared<KeyedDataFunction>(node_ptr, backend_));
  }
  return ResolveChecked(*backend_, data.uri, type);
}

}  // namespace fedexec::exec
