// The helpers of federated_values.h.
#include "executors/federated_values.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/limits.h"
#include "core/status.h"
#include "core/value_description.h"

namespace fedexec::exec::federating_internal {

// ------------------------------------------------------------- messages

// absl::StrCat takes absl::string_view, which this Abseil keeps distinct
// from std::string_view.
absl::string_view AV(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

std::string Describe(const Value& value) { return DescribeValue(value); }

std::string DescribeFunction(const Value& fn) {
  if (fn.is_function() && fn.function() != nullptr) {
    return fn.function()->Describe();
  }
  return Describe(fn);
}

absl::Status Expects(std::string_view intrinsic, std::string_view what,
                     const Value& got) {
  return absl::InvalidArgumentError(absl::StrCat(
      AV(intrinsic), " expects ", AV(what), ", got ", Describe(got)));
}

// "<intrinsic>: <where>: <message>", for an error that does not say where
// it arose yet; cancellation and located errors pass unchanged. When the
// message already starts with "<intrinsic>: " (the secure aggregators'
// do), it is not repeated.
absl::Status Located(std::string_view intrinsic, std::string_view where,
                     const absl::Status& status) {
  if (status.ok() || HasLocation(status) ||
      status.code() == absl::StatusCode::kCancelled) {
    return CopyStatus(status);
  }
  absl::string_view message = status.message();
  const std::string head = absl::StrCat(AV(intrinsic), ": ");
  if (absl::StartsWith(message, head)) message.remove_prefix(head.size());
  std::string text = head;
  if (!where.empty()) absl::StrAppend(&text, AV(where), ": ");
  absl::StrAppend(&text, message);
  return absl::Status(status.code(), text);
}

// The error of merging two sibling nodes of an aggregation over
// `num_clients` clients in blocks of `block`: what disagrees lies in one of
// the two runs of clients, named ("clients [0, 16) and [16, 20)").
absl::Status MergeError(std::string_view intrinsic, const absl::Status& status,
                        TreeNodeId left, TreeNodeId right, int64_t block,
                        int64_t num_clients) {
  const int64_t num_blocks = (num_clients + block - 1) / block;
  const auto first = [&](TreeNodeId id) {
    return std::min(num_clients, TreeNodeFirstBlock(id) * block);
  };
  const int64_t end =
      std::min(num_clients, TreeNodeEndBlock(right, num_blocks) * block);
  return Located(intrinsic,
                 absl::StrCat("clients [", first(left), ", ", first(right),
                              ") and [", first(right), ", ", end, ")"),
                 status);
}

absl::Status ClientError(std::string_view intrinsic, int64_t client,
                         const absl::Status& status) {
  if (status.ok() || HasLocation(status) ||
      status.code() == absl::StatusCode::kCancelled) {
    return CopyStatus(status);
  }
  return Located(intrinsic, absl::StrCat("client ", client), status);
}

absl::Status ClientFunctionError(std::string_view intrinsic, int64_t client,
                                 const Value& fn, const absl::Status& status) {
  if (status.ok() || HasLocation(status) ||
      status.code() == absl::StatusCode::kCancelled) {
    return CopyStatus(status);
  }
  return Located(intrinsic,
                 absl::StrCat("client ", client, ": ", DescribeFunction(fn)),
                 status);
}

absl::Status FunctionError(std::string_view intrinsic, std::string_view role,
                           const Value& fn, const absl::Status& status) {
  if (status.ok() || HasLocation(status) ||
      status.code() == absl::StatusCode::kCancelled) {
    return CopyStatus(status);
  }
  std::string where = role.empty()
                          ? DescribeFunction(fn)
                          : absl::StrCat(AV(role), ": ", DescribeFunction(fn));
  return Located(intrinsic, where, status);
}

// ------------------------------------------------------------ arguments

// The elements of a struct argument of exactly `arity` elements.
absl::StatusOr<std::vector<const Value*>> Unpack(std::string_view intrinsic,
                                                 const Value& argument,
                                                 size_t arity) {
  if (!argument.is_struct() ||
      argument.struct_value().elements.size() != arity) {
    return Expects(intrinsic, absl::StrCat("a struct of ", arity, " arguments"),
                   argument);
  }
  std::vector<const Value*> out;
  out.reserve(arity);
  for (const auto& e : argument.struct_value().elements) {
    out.push_back(e.value.get());
  }
  return out;
}

std::string Ordinal(int index) {
  return index < 0 ? "the argument" : absl::StrCat("argument ", index + 1);
}

// Checks that `fn` is a function value taking a parameter iff
// `with_parameter`.
absl::Status CheckFunction(std::string_view intrinsic, int index,
                           const Value& fn, bool with_parameter) {
  absl::StatusOr<const Function*> f = AsFunction(fn);
  if (!f.ok() || (*f)->has_parameter() != with_parameter) {
    return Expects(
        intrinsic,
        absl::StrCat(Ordinal(index), " to be a function ",
                     with_parameter ? "with" : "without", " a parameter"),
        fn);
  }
  return absl::OkStatus();
}

// The names the parameter of a function of two arguments gives them, so
// that an argument struct built here matches the declared parameter type.
std::pair<std::string, std::string> PairNames(const Value& fn) {
  absl::StatusOr<const Function*> f = AsFunction(fn);
  if (f.ok() && (*f)->type().parameter() != nullptr) {
    const ir::Type& p = *(*f)->type().parameter();
    if (p.kind() == ir::TypeKind::kStruct && p.elements().size() == 2) {
      return {p.elements()[0].name, p.elements()[1].name};
    }
  }
  return {};
}

Value Pair(const std::pair<std::string, std::string>& names, Value a, Value b) {
  std::vector<std::pair<std::string, Value>> elements;
  elements.reserve(2);
  elements.emplace_back(names.first, std::move(a));
  elements.emplace_back(names.second, std::move(b));
  return Value::Struct(std::move(elements));
}

// The one member of a SERVER value.
absl::StatusOr<Value> ServerMember(std::string_view intrinsic, int index,
                                   const Value& value) {
  if (!value.is_federated() ||
      value.federated().placement != Placement::kServer ||
      value.federated().size() != 1) {
    return Expects(intrinsic, absl::StrCat(Ordinal(index), " at SERVER"),
                   value);
  }
  return value.federated().Member(0);
}

// A value that may be given unplaced or at SERVER (bounds of secure sums).
absl::StatusOr<Value> UnplacedOrServer(std::string_view intrinsic, int index,
                                       const Value& value) {
  if (!value.is_federated()) return value;
  return ServerMember(intrinsic, index, value);
}

bool ContainsFederated(const Value& value, int depth) {
  if (value.is_federated()) return true;
  if (!value.is_struct() || depth > kMaxNestingDepth) return false;
  for (const auto& e : value.struct_value().elements) {
    if (ContainsFederated(*e.value, depth + 1)) return true;
  }
  return false;
}

Value AtServer(Value v) {
  std::vector<Value> members;
  members.push_back(std::move(v));
  return Value::Federated(Placement::kServer, true, std::move(members));
}

Value AllEqualAtClients(Value v) {
  std::vector<Value> members;
  members.push_back(std::move(v));
  return Value::Federated(Placement::kClients, true, std::move(members));
}

// A CANCELLED result of a parallel loop or reduction, in the stack's
// words.
absl::Status Normalized(const Core& core, const absl::Status& status) {
  if (status.code() == absl::StatusCode::kCancelled &&
      core.context->cancel.IsCancelled()) {
    return core.context->CheckCancelled();
  }
  return CopyStatus(status);
}

}  // namespace fedexec::exec::federating_internal
