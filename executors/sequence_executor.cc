// SequenceExecutor: sequence_map (lazy), sequence_reduce and sequence_sum.
#include "executors/sequence_executor.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "core/value_description.h"
#include "executors/aggregators.h"
#include "ir/intrinsics.h"

namespace fedexec::exec {
namespace {

enum class SequenceOp { kMap, kReduce, kSum };

absl::string_view OpName(SequenceOp op) {
  switch (op) {
    case SequenceOp::kMap:
      return ir::IntrinsicUri(ir::Intrinsic::kSequenceMap);
    case SequenceOp::kReduce:
      return ir::IntrinsicUri(ir::Intrinsic::kSequenceReduce);
    case SequenceOp::kSum:
      return ir::IntrinsicUri(ir::Intrinsic::kSequenceSum);
  }
  return "?";
}

// "sequence_sum: element 3: <message>". The element's own location mark
// is not kept: the message keeps its text, and the call of the intrinsic
// adds where it is. Cancellation and exhausted resources (a stack too
// small for calls nested through intrinsics) pass unchanged, so that they
// do not grow a prefix per level of nesting.
absl::Status ElementError(SequenceOp op, int64_t index,
                          const absl::Status& status) {
  if (status.code() == absl::StatusCode::kCancelled ||
      status.code() == absl::StatusCode::kResourceExhausted) {
    return CopyStatus(status);
  }
  return absl::Status(
      status.code(),
      absl::StrCat(OpName(op), ": element ", index, ": ", status.message()));
}

absl::Status BadArgument(SequenceOp op, const char* expected,
                         const Value& found) {
  return absl::InvalidArgumentError(
      absl::StrCat(OpName(op), ": expected an argument ", expected, ", found ",
                   DescribeValue(found)));
}

// The elements of sequence_map(f, source), produced on each traversal.
class MappedElements : public LazyElements {
 public:
  MappedElements(Value function, Value source,
                 std::shared_ptr<ExecutionContext> context)
      : function_(std::move(function)),
        source_(std::move(source)),
        context_(std::move(context)) {}

  absl::Status ForEach(
      absl::FunctionRef<absl::Status(const Value&)> fn) const override {
    int64_t index = 0;
    return source_.sequence().ForEach(
        [&](const Value& element) -> absl::Status {
          FEDEXEC_RETURN_IF_ERROR(context_->CheckCancelled());
          absl::StatusOr<Value> mapped = CallFunction(function_, &element);
          if (!mapped.ok()) {
            return ElementError(SequenceOp::kMap, index, mapped.status());
          }
          ++index;
          return fn(*mapped);  // the consumer's errors pass unchanged
        });
  }

 private:
  Value function_;
  Value source_;
  std::shared_ptr<ExecutionContext> context_;
};

class SequenceIntrinsic : public Function {
 public:
  SequenceIntrinsic(SequenceOp op, ir::Type type,
                    std::shared_ptr<ExecutionContext> context)
      : Function(std::move(type)), op_(op), context_(std::move(context)) {}

  absl::StatusOr<Value> Call(const Value* argument) const override {
    if (argument == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(OpName(op_), ": called without argument"));
    }
    FEDEXEC_RETURN_IF_ERROR(context_->CheckCancelled());
    switch (op_) {
      case SequenceOp::kMap:
        return Map(*argument);
      case SequenceOp::kReduce:
        return Reduce(*argument);
      case SequenceOp::kSum:
        return Sum(*argument);
    }
    return absl::InternalError("unknown sequence intrinsic");
  }

 protected:
  std::string What() const override {
    return absl::StrCat("intrinsic ", OpName(op_));
  }

 private:
  // Element i of a struct argument with n elements, or null.
  static const Value* Element(const Value& argument, size_t n, size_t i) {
    if (!argument.is_struct()) return nullptr;
    const auto& elements = argument.struct_value().elements;
    if (elements.size() != n) return nullptr;
    return elements[i].value.get();
  }

  absl::Status CheckFunction(const Value& value, const char* role) const {
    absl::StatusOr<const Function*> f = AsFunction(value);
    if (!f.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          OpName(op_), ": the ", role, ": ", f.status().message()));
    }
    if (!(*f)->has_parameter()) {
      return absl::InvalidArgumentError(
          absl::StrCat(OpName(op_), ": the ", role, " ", (*f)->Describe(),
                       " takes no parameter"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Value> Map(const Value& argument) const {
    const Value* function = Element(argument, 2, 0);
    const Value* source = Element(argument, 2, 1);
    if (function == nullptr || !source->is_sequence()) {
      return BadArgument(op_, "<(T -> U), T*>", argument);
    }
    FEDEXEC_RETURN_IF_ERROR(CheckFunction(*function, "mapping function"));
    return Value::LazySequence(
        std::make_shared<MappedElements>(*function, *source, context_));
  }

  absl::StatusOr<Value> Reduce(const Value& argument) const {
    const Value* source = Element(argument, 3, 0);
    const Value* initial = Element(argument, 3, 1);
    const Value* function = Element(argument, 3, 2);
    if (source == nullptr || !source->is_sequence()) {
      return BadArgument(op_, "<T*, U, (<U, T> -> U)>", argument);
    }
    FEDEXEC_RETURN_IF_ERROR(CheckFunction(*function, "reducing function"));
    Value accumulator = *initial;
    int64_t index = 0;
    FEDEXEC_RETURN_IF_ERROR(
        source->sequence().ForEach([&](const Value& element) -> absl::Status {
          FEDEXEC_RETURN_IF_ERROR(context_->CheckCancelled());
          std::vector<std::pair<std::string, Value>> pair;
          pair.reserve(2);
          pair.emplace_back(std::string(), std::move(accumulator));
          pair.emplace_back(std::string(), element);
          const Value operands = Value::Struct(std::move(pair));
          absl::StatusOr<Value> next = CallFunction(*function, &operands);
          if (!next.ok()) return ElementError(op_, index, next.status());
          accumulator = *std::move(next);
          ++index;
          return absl::OkStatus();
        }));
    return accumulator;
  }

  absl::StatusOr<Value> Sum(const Value& argument) const {
    if (!argument.is_sequence()) return BadArgument(op_, "T*", argument);
    Accumulator sum;
    int64_t index = 0;
    FEDEXEC_RETURN_IF_ERROR(
        argument.sequence().ForEach([&](const Value& element) -> absl::Status {
          FEDEXEC_RETURN_IF_ERROR(context_->CheckCancelled());
          absl::Status folded = Fold(AggregateOp::kSum, sum, element);
          if (!folded.ok()) return ElementError(op_, index, folded);
          ++index;
          return absl::OkStatus();
        }));
    if (sum.empty()) {
      absl::StatusOr<Value> zero = ZeroOf(type().result());
      if (!zero.ok()) {
        return absl::Status(
            zero.status().code(),
            absl::StrCat(OpName(op_), ": the sum of an empty sequence: ",
                         zero.status().message()));
      }
      return zero;
    }
    absl::StatusOr<Value> result = Finish(std::move(sum));
    if (!result.ok()) {
      return absl::Status(
          result.status().code(),
          absl::StrCat(OpName(op_), ": ", result.status().message()));
    }
    return result;
  }

  SequenceOp op_;
  std::shared_ptr<ExecutionContext> context_;
};

// The sequence op of `intrinsic`; nullopt for the intrinsics of other
// executors.
std::optional<SequenceOp> SequenceOpOf(ir::Intrinsic intrinsic) {
  using ir::Intrinsic;
  switch (intrinsic) {
    case Intrinsic::kSequenceMap:
      return SequenceOp::kMap;
    case Intrinsic::kSequenceReduce:
      return SequenceOp::kReduce;
    case Intrinsic::kSequenceSum:
      return SequenceOp::kSum;
    case Intrinsic::kFederatedAggregate:
    case Intrinsic::kFederatedApply:
    case Intrinsic::kFederatedBroadcast:
    case Intrinsic::kFederatedEvalAtClients:
    case Intrinsic::kFederatedEvalAtServer:
    case Intrinsic::kFederatedMap:
    case Intrinsic::kFederatedMapAllEqual:
    case Intrinsic::kFederatedMean:
    case Intrinsic::kFederatedWeightedMean:
    case Intrinsic::kFederatedMin:
    case Intrinsic::kFederatedMax:
    case Intrinsic::kFederatedSum:
    case Intrinsic::kFederatedSecureSum:
    case Intrinsic::kFederatedSecureSumBitwidth:
    case Intrinsic::kFederatedSecureModularSum:
    case Intrinsic::kFederatedSelect:
    case Intrinsic::kFederatedSecureSelect:
    case Intrinsic::kFederatedValueAtClients:
    case Intrinsic::kFederatedValueAtServer:
    case Intrinsic::kFederatedZipAtClients:
    case Intrinsic::kFederatedZipAtServer:
    case Intrinsic::kGenericPlus:
    case Intrinsic::kGenericMultiply:
    case Intrinsic::kGenericDivide:
    case Intrinsic::kGenericZero:
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

SequenceExecutor::SequenceExecutor(std::shared_ptr<ExecutionContext> context,
                                   std::shared_ptr<LocalExecutor> child)
    : LocalExecutor(std::move(context), std::move(child)) {}

absl::StatusOr<Value> SequenceExecutor::EmbedLeaf(const ir::NodePtr& node) {
  if (node->Is<ir::IntrinsicNode>()) {
    const std::string& uri = node->As<ir::IntrinsicNode>().uri;
    const std::optional<ir::Intrinsic> intrinsic = ir::FindIntrinsic(uri);
    std::optional<SequenceOp> op;
    if (intrinsic.has_value()) op = SequenceOpOf(*intrinsic);
    if (op.has_value()) {
      if (!node->type().has_value() ||
          node->type()->kind() != ir::TypeKind::kFunction ||
          node->type()->parameter() == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            "intrinsic ", uri, " needs its concrete function type, found ",
            node->type().has_value() ? node->type()->ToString()
                                     : std::string("no type")));
      }
      return Value::Function(
          std::make_shared<SequenceIntrinsic>(*op, *node->type(), context()));
    }
  }
  return LocalExecutor::EmbedLeaf(node);
}

}  // namespace fedexec::exec
