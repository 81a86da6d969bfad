// FederatingExecutor: intrinsic function values and their implementations.
//
// Layout: the shared core and small helpers (argument unpacking, reading
// members, error messages) are in federated_values.h, the aggregations on
// TreeReduce and shards of them in federated_aggregation.h. This file has
// per-client results (eager in parallel chunks, or lazy), select, map, zip
// and the generic ops, and IntrinsicFunction, which dispatches over
// ir::Intrinsic.
#include "executors/federating_executor.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/limits.h"
#include "core/status.h"
#include "core/tree_reduce.h"
#include "core/value_description.h"
#include "executors/aggregators.h"
#include "executors/federated_aggregation.h"
#include "executors/federated_values.h"
#include "ir/intrinsics.h"
#include "runtimes/native/kernels.h"

namespace fedexec::exec {

int64_t AggregationBlockSize(int64_t num_clients) {
  int64_t block = 1;
  while (block < kMaxAggregationBlockSize && block * 64 < num_clients) {
    block *= 2;
  }
  return block;
}
namespace federating_internal {
namespace {

using CorePtr = std::shared_ptr<const Core>;

using ir::Intrinsic;

std::string_view Uri(Intrinsic intrinsic) {
  absl::string_view uri = ir::IntrinsicUri(intrinsic);
  return std::string_view(uri.data(), uri.size());
}

// Members produced on demand by a function of the client index.
class LazyByIndex : public LazyMembers {
 public:
  using Fn = std::function<absl::StatusOr<Value>(int64_t)>;
  LazyByIndex(int64_t size, Fn fn) : size_(size), fn_(std::move(fn)) {}
  int64_t size() const override { return size_; }
  absl::StatusOr<Value> Get(int64_t i) const override { return fn_(i); }

 private:
  const int64_t size_;
  const Fn fn_;
};

// A per-client CLIENTS value whose member i is member(i): lazy when `lazy`,
// else computed now in parallel chunks of clients (ParallelFor's default
// grain: about 4 chunks per participating thread, so thousands of cheap
// clients per chunk; cancellation is checked at every client).
template <typename F>
absl::StatusOr<Value> PerClient(const Core& core, bool lazy, F member) {
  const int64_t n = core.num_clients;
  if (lazy) {
    return Value::LazyFederated(
        Placement::kClients,
        std::make_shared<LazyByIndex>(n, LazyByIndex::Fn(std::move(member))));
  }
  std::vector<Value> out(static_cast<size_t>(n));
  const CancellationToken& cancel = core.context->cancel;
  absl::Status status = ParallelForWithStatus(
      core.context->pool, n, /*grain=*/0,
      [&](int64_t begin, int64_t end) -> absl::Status {
        for (int64_t i = begin; i < end; ++i) {
          if (cancel.IsCancelled()) [[unlikely]] {
            return core.context->CheckCancelled();
          }
          absl::StatusOr<Value> m = member(i);
          if (!m.ok()) [[unlikely]] {
            return std::move(m).status();
          }
          out[static_cast<size_t>(i)] = *std::move(m);
        }
        return absl::OkStatus();
      },
      &cancel);
  if (!status.ok()) return Normalized(core, status);
  return Value::Federated(Placement::kClients, false, std::move(out));
}

// ------------------------------------------------------------- select

// select_fn(<server_val, key>) computed once per distinct key, from any
// thread. A key's first caller computes it; others asking for the same key
// meanwhile wait for that (running) computation.
class SelectMemo {
 public:
  SelectMemo(CorePtr core, std::string intrinsic, Value server_value,
             Value select_fn)
      : core_(std::move(core)),
        intrinsic_(std::move(intrinsic)),
        server_value_(std::move(server_value)),
        select_fn_(std::move(select_fn)),
        names_(PairNames(select_fn_)) {}

  absl::StatusOr<Value> Get(int32_t key) const {
    std::shared_ptr<Slot> slot;
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::shared_ptr<Slot>& s = slots_[key];
      if (s == nullptr) s = std::make_shared<Slot>();
      slot = s;
    }
    std::lock_guard<std::mutex> lock(slot->mu);
    if (!slot->done) {
      Value pair = Pair(names_, server_value_, Value(Tensor::Scalar(key)));
      absl::StatusOr<Value> r = CallFunction(select_fn_, &pair);
      if (r.ok()) {
        slot->result = *std::move(r);
      } else {
        slot->result = FunctionError(intrinsic_, absl::StrCat("key ", key),
                                     select_fn_, r.status());
      }
      slot->done = true;
    }
    if (!slot->result.ok()) return CopyStatus(slot->result.status());
    return *slot->result;
  }

 private:
  struct Slot {
    std::mutex mu;
    bool done = false;
    absl::StatusOr<Value> result{absl::UnknownError("not computed")};
  };

  const CorePtr core_;
  const std::string intrinsic_;
  const Value server_value_;
  const Value select_fn_;
  const std::pair<std::string, std::string> names_;
  mutable std::mutex mu_;
  mutable absl::flat_hash_map<int32_t, std::shared_ptr<Slot>> slots_;
};

// The keys of federated_select lie in [0, max_key], as federated_language
// documents; those of federated_secure_select in [0, max_key).
struct KeyRange {
  int32_t max_key = 0;
  bool inclusive = true;
};

// The sequence of one client: select_fn(<server_val, k>) for each key k.
absl::StatusOr<Value> SelectFor(const SelectMemo& memo,
                                std::string_view intrinsic, int64_t client,
                                const Value& keys, KeyRange range) {
  if (!keys.is_tensor() || keys.tensor().dtype() != DType::kInt32 ||
      keys.tensor().rank() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(intrinsic), ": client ", client,
                     ": keys must be an int32 vector, got ", Describe(keys)));
  }
  absl::Span<const int32_t> k = keys.tensor().data<int32_t>();
  std::vector<Value> elements;
  elements.reserve(k.size());
  for (int32_t key : k) {
    if (key < 0 || key > range.max_key ||
        (!range.inclusive && key == range.max_key)) {
      return absl::InvalidArgumentError(absl::StrCat(
          AV(intrinsic), ": client ", client, " has key ", key,
          ", outside [0, ", range.max_key, range.inclusive ? "]" : ")"));
    }
    FEDEXEC_ASSIGN_OR_RETURN(Value v, memo.Get(key));
    elements.push_back(std::move(v));
  }
  return Value::Sequence(std::move(elements));
}

absl::StatusOr<Value> Select(const CorePtr& core, const std::string& intrinsic,
                             bool secure, const Value& argument) {
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<const Value*> args,
                           Unpack(intrinsic, argument, 4));
  FEDEXEC_ASSIGN_OR_RETURN(
      Clients keys, Clients::Of(intrinsic, 0, *args[0], core->num_clients));
  FEDEXEC_ASSIGN_OR_RETURN(Value max_key_value,
                           ServerMember(intrinsic, 1, *args[1]));
  if (!max_key_value.is_tensor() ||
      max_key_value.tensor().dtype() != DType::kInt32 ||
      max_key_value.tensor().rank() != 0) {
    return Expects(intrinsic, "argument 2 (max_key) to be an int32 scalar",
                   max_key_value);
  }
  const KeyRange range{max_key_value.tensor().data<int32_t>()[0],
                       /*inclusive=*/!secure};
  FEDEXEC_ASSIGN_OR_RETURN(Value server_value,
                           ServerMember(intrinsic, 2, *args[2]));
  FEDEXEC_RETURN_IF_ERROR(CheckFunction(intrinsic, 3, *args[3], true));
  auto memo = std::make_shared<const SelectMemo>(
      core, intrinsic, std::move(server_value), *args[3]);
  if (keys.all_equal()) {
    FEDEXEC_ASSIGN_OR_RETURN(
        Value seq, SelectFor(*memo, intrinsic, 0, keys.single(), range));
    return AllEqualAtClients(std::move(seq));
  }
  return PerClient(
      *core, keys.lazy(),
      [memo, keys, intrinsic, range](int64_t i) -> absl::StatusOr<Value> {
        FEDEXEC_ASSIGN_OR_RETURN(Value k, keys.Member(i));
        return SelectFor(*memo, intrinsic, i, k, range);
      });
}

// ------------------------------------------------------ the intrinsics

absl::StatusOr<Value> MapOver(const CorePtr& core, const std::string& intrinsic,
                              const Value& fn, const Clients& in) {
  if (in.all_equal()) {
    absl::StatusOr<Value> r = CallFunction(fn, &in.single());
    if (!r.ok()) return FunctionError(intrinsic, "", fn, r.status());
    return AllEqualAtClients(*std::move(r));
  }
  return PerClient(
      *core, in.lazy(),
      [core, fn, in, intrinsic](int64_t i) -> absl::StatusOr<Value> {
        FEDEXEC_ASSIGN_OR_RETURN(Value m, in.Member(i));
        absl::StatusOr<Value> r = CallFunction(fn, &m);
        if (!r.ok()) [[unlikely]] {
          return ClientFunctionError(intrinsic, i, fn, r.status());
        }
        return r;
      });
}

absl::StatusOr<Value> Map(const CorePtr& core, const std::string& intrinsic,
                          bool all_equal_only, const Value& argument) {
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<const Value*> args,
                           Unpack(intrinsic, argument, 2));
  FEDEXEC_RETURN_IF_ERROR(CheckFunction(intrinsic, 0, *args[0], true));
  FEDEXEC_ASSIGN_OR_RETURN(
      Clients in, Clients::Of(intrinsic, 1, *args[1], core->num_clients));
  if (all_equal_only && !in.all_equal()) {
    return Expects(intrinsic, "argument 2 to be an all-equal CLIENTS value",
                   *args[1]);
  }
  return MapOver(core, intrinsic, *args[0], in);
}

absl::StatusOr<Value> EvalAtClients(const CorePtr& core,
                                    const std::string& intrinsic,
                                    const Value& fn) {
  FEDEXEC_RETURN_IF_ERROR(CheckFunction(intrinsic, -1, fn, false));
  return PerClient(*core, /*lazy=*/true,
                   [core, fn, intrinsic](int64_t i) -> absl::StatusOr<Value> {
                     absl::StatusOr<Value> r = CallFunction(fn, nullptr);
                     if (!r.ok()) [[unlikely]] {
                       return ClientFunctionError(intrinsic, i, fn, r.status());
                     }
                     return r;
                   });
}

// The argument of a zip: a struct, possibly nested (federated_language
// zips <x, <y, z>> in one call), whose leaves are federated values. Its
// nodes in preorder; each leaf is one part of the zip.
struct ZipNode {
  std::string name;           // as an element of its parent; "" if unnamed
  int32_t num_children = -1;  // -1: a part
  int32_t part = -1;          // parts: index into the parts
};

struct ZipShape {
  std::vector<ZipNode> nodes;
  std::vector<const Value*> parts;  // point into the argument
};

absl::StatusOr<ZipShape> ZipShapeOf(const std::string& intrinsic,
                                    const Value& argument,
                                    std::string_view placement) {
  if (!argument.is_struct() || argument.struct_value().elements.empty()) {
    return Expects(
        intrinsic,
        absl::StrCat("a non-empty struct of ", AV(placement), " values"),
        argument);
  }
  ZipShape shape;
  std::vector<std::pair<const Value*, const std::string*>> stack = {
      {&argument, nullptr}};
  while (!stack.empty()) {
    auto [v, name] = stack.back();
    stack.pop_back();
    ZipNode node;
    if (name != nullptr) node.name = *name;
    if (v->is_struct()) {
      const auto& elements = v->struct_value().elements;
      node.num_children = static_cast<int32_t>(elements.size());
      for (size_t i = elements.size(); i-- > 0;) {
        stack.emplace_back(elements[i].value.get(), &elements[i].name);
      }
    } else {
      node.part = static_cast<int32_t>(shape.parts.size());
      shape.parts.push_back(v);
    }
    shape.nodes.push_back(std::move(node));
  }
  if (shape.parts.empty()) {
    return Expects(
        intrinsic,
        absl::StrCat("a struct with at least one ", AV(placement), " value"),
        argument);
  }
  return shape;
}

// The struct of `shape` with `parts` (one per part, moved from) at its
// leaves.
Value BuildZip(const std::vector<ZipNode>& nodes, std::vector<Value>& parts) {
  // Built bottom-up over the reversed preorder: when a struct node comes,
  // its elements are on top of the stack, the first one on top.
  std::vector<std::pair<const std::string*, Value>> stack;
  stack.reserve(nodes.size());
  for (size_t k = nodes.size(); k-- > 0;) {
    const ZipNode& n = nodes[k];
    if (n.num_children < 0) {
      stack.emplace_back(&n.name,
                         std::move(parts[static_cast<size_t>(n.part)]));
      continue;
    }
    const size_t count = static_cast<size_t>(n.num_children);
    std::vector<std::pair<std::string, Value>> elements;
    elements.reserve(count);
    for (size_t j = 0; j < count; ++j) {
      auto& [name, value] = stack[stack.size() - 1 - j];
      elements.emplace_back(*name, std::move(value));
    }
    stack.erase(stack.end() - static_cast<ptrdiff_t>(count), stack.end());
    stack.emplace_back(&n.name, Value::Struct(std::move(elements)));
  }
  return std::move(stack.back().second);
}

absl::StatusOr<Value> ZipAtServer(const std::string& intrinsic,
                                  const Value& argument) {
  FEDEXEC_ASSIGN_OR_RETURN(ZipShape shape,
                           ZipShapeOf(intrinsic, argument, "SERVER"));
  std::vector<Value> members;
  members.reserve(shape.parts.size());
  for (size_t i = 0; i < shape.parts.size(); ++i) {
    FEDEXEC_ASSIGN_OR_RETURN(
        Value m, ServerMember(intrinsic, static_cast<int>(i), *shape.parts[i]));
    members.push_back(std::move(m));
  }
  return AtServer(BuildZip(shape.nodes, members));
}

absl::StatusOr<Value> ZipAtClients(const CorePtr& core,
                                   const std::string& intrinsic,
                                   const Value& argument) {
  FEDEXEC_ASSIGN_OR_RETURN(ZipShape shape,
                           ZipShapeOf(intrinsic, argument, "CLIENTS"));
  std::vector<Clients> parts;
  parts.reserve(shape.parts.size());
  bool all_equal = true;
  bool lazy = false;
  for (size_t i = 0; i < shape.parts.size(); ++i) {
    FEDEXEC_ASSIGN_OR_RETURN(
        Clients c, Clients::Of(intrinsic, static_cast<int>(i), *shape.parts[i],
                               core->num_clients));
    all_equal = all_equal && c.all_equal();
    lazy = lazy || c.lazy();
    parts.push_back(std::move(c));
  }
  auto nodes =
      std::make_shared<const std::vector<ZipNode>>(std::move(shape.nodes));
  auto member = [nodes, parts](int64_t i) -> absl::StatusOr<Value> {
    std::vector<Value> members;
    members.reserve(parts.size());
    for (const Clients& part : parts) {
      FEDEXEC_ASSIGN_OR_RETURN(Value m, part.Member(i));
      members.push_back(std::move(m));
    }
    return BuildZip(*nodes, members);
  };
  if (all_equal) {
    FEDEXEC_ASSIGN_OR_RETURN(Value v, member(0));
    return AllEqualAtClients(std::move(v));
  }
  return PerClient(*core, lazy, std::move(member));
}

using BinaryKernel = absl::StatusOr<Value> (*)(const Value&, const Value&);

absl::StatusOr<Value> Generic(const CorePtr& core, const std::string& intrinsic,
                              BinaryKernel kernel, const Value& argument) {
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<const Value*> args,
                           Unpack(intrinsic, argument, 2));
  const Value& a = *args[0];
  const Value& b = *args[1];
  if (!a.is_federated() && !b.is_federated()) {
    absl::StatusOr<Value> r = kernel(a, b);
    if (!r.ok()) return Located(intrinsic, "", r.status());
    return r;
  }
  if (!a.is_federated() || !b.is_federated() ||
      a.federated().placement != b.federated().placement) {
    return absl::InvalidArgumentError(absl::StrCat(
        AV(intrinsic),
        " expects two unplaced values or two federated values at one "
        "placement, got ",
        Describe(a), " and ", Describe(b)));
  }
  if (a.federated().placement == Placement::kServer) {
    FEDEXEC_ASSIGN_OR_RETURN(Value x, ServerMember(intrinsic, 0, a));
    FEDEXEC_ASSIGN_OR_RETURN(Value y, ServerMember(intrinsic, 1, b));
    absl::StatusOr<Value> r = kernel(x, y);
    if (!r.ok()) return Located(intrinsic, "", r.status());
    return AtServer(*std::move(r));
  }
  FEDEXEC_ASSIGN_OR_RETURN(Clients x,
                           Clients::Of(intrinsic, 0, a, core->num_clients));
  FEDEXEC_ASSIGN_OR_RETURN(Clients y,
                           Clients::Of(intrinsic, 1, b, core->num_clients));
  if (x.all_equal() && y.all_equal()) {
    absl::StatusOr<Value> r = kernel(x.single(), y.single());
    if (!r.ok()) return Located(intrinsic, "", r.status());
    return AllEqualAtClients(*std::move(r));
  }
  return PerClient(
      *core, x.lazy() || y.lazy(),
      [x, y, kernel, intrinsic](int64_t i) -> absl::StatusOr<Value> {
        FEDEXEC_ASSIGN_OR_RETURN(Value u, x.Member(i));
        FEDEXEC_ASSIGN_OR_RETURN(Value v, y.Member(i));
        absl::StatusOr<Value> r = kernel(u, v);
        if (!r.ok()) [[unlikely]] {
          return ClientError(intrinsic, i, r.status());
        }
        return r;
      });
}

absl::StatusOr<Value> ZeroValue(const ir::Type& type) {
  FEDEXEC_RETURN_IF_ERROR(ir::CheckGenericZeroType(type));
  if (type.kind() == ir::TypeKind::kFederated) {
    absl::StatusOr<Value> zero = ZeroOf(type.member());
    if (!zero.ok())
      return Located(Uri(Intrinsic::kGenericZero), "", zero.status());
    std::vector<Value> members;
    members.push_back(*std::move(zero));
    return Value::Federated(type.placement(), true, std::move(members));
  }
  absl::StatusOr<Value> zero = ZeroOf(type);
  if (!zero.ok())
    return Located(Uri(Intrinsic::kGenericZero), "", zero.status());
  return zero;
}

class IntrinsicFunction : public Function {
 public:
  IntrinsicFunction(ir::Type type, Intrinsic op, std::string uri, CorePtr core)
      : Function(std::move(type)),
        op_(op),
        uri_(std::move(uri)),
        core_(std::move(core)) {}

  absl::StatusOr<ir::NodePtr> ToNode() const override {
    return ir::MakeNode(ir::IntrinsicNode{uri_}, type());
  }

  absl::StatusOr<Value> Call(const Value* argument) const override {
    FEDEXEC_RETURN_IF_ERROR(core_->context->CheckCancelled());
    if (argument == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(uri_, " needs an argument"));
    }
    const Value& arg = *argument;
    const std::string& name = uri_;
    const Core& core = *core_;
    switch (op_) {
      case Intrinsic::kFederatedValueAtServer:
      case Intrinsic::kFederatedValueAtClients:
        if (ContainsFederated(arg)) {
          return Expects(name, "an unplaced value", arg);
        }
        return op_ == Intrinsic::kFederatedValueAtServer
                   ? AtServer(arg)
                   : AllEqualAtClients(arg);
      case Intrinsic::kFederatedEvalAtServer: {
        FEDEXEC_RETURN_IF_ERROR(CheckFunction(name, -1, arg, false));
        absl::StatusOr<Value> r = CallFunction(arg, nullptr);
        if (!r.ok()) return FunctionError(name, "", arg, r.status());
        return AtServer(*std::move(r));
      }
      case Intrinsic::kFederatedEvalAtClients:
        return EvalAtClients(core_, name, arg);
      case Intrinsic::kFederatedBroadcast: {
        FEDEXEC_ASSIGN_OR_RETURN(Value m, ServerMember(name, -1, arg));
        return AllEqualAtClients(std::move(m));
      }
      case Intrinsic::kFederatedMap:
        return Map(core_, name, /*all_equal_only=*/false, arg);
      case Intrinsic::kFederatedMapAllEqual:
        return Map(core_, name, /*all_equal_only=*/true, arg);
      case Intrinsic::kFederatedApply: {
        FEDEXEC_ASSIGN_OR_RETURN(std::vector<const Value*> args,
                                 Unpack(name, arg, 2));
        FEDEXEC_RETURN_IF_ERROR(CheckFunction(name, 0, *args[0], true));
        FEDEXEC_ASSIGN_OR_RETURN(Value m, ServerMember(name, 1, *args[1]));
        absl::StatusOr<Value> r = CallFunction(*args[0], &m);
        if (!r.ok()) return FunctionError(name, "", *args[0], r.status());
        return AtServer(*std::move(r));
      }
      case Intrinsic::kFederatedZipAtServer:
        return ZipAtServer(name, arg);
      case Intrinsic::kFederatedZipAtClients:
        return ZipAtClients(core_, name, arg);
      case Intrinsic::kFederatedSum:
      case Intrinsic::kFederatedMean:
      case Intrinsic::kFederatedMin:
      case Intrinsic::kFederatedMax:
        return PlainAggregate(core, name, op_, type().result(), arg);
      case Intrinsic::kFederatedWeightedMean:
        return WeightedMean(core, name, arg);
      case Intrinsic::kFederatedSecureSum:
        return SecureSum(core, name, AggregateOp::kSecureSum, type().result(),
                         arg);
      case Intrinsic::kFederatedSecureSumBitwidth:
        return SecureSum(core, name, AggregateOp::kSecureSumBitwidth,
                         type().result(), arg);
      case Intrinsic::kFederatedSecureModularSum:
        return SecureSum(core, name, AggregateOp::kSecureModularSum,
                         type().result(), arg);
      case Intrinsic::kFederatedAggregate:
        return Aggregate(core, name, arg);
      case Intrinsic::kFederatedSelect:
        return Select(core_, name, /*secure=*/false, arg);
      case Intrinsic::kFederatedSecureSelect:
        return Select(core_, name, /*secure=*/true, arg);
      case Intrinsic::kGenericPlus:
        return Generic(core_, name, &native::AddValues, arg);
      case Intrinsic::kGenericMultiply:
        return Generic(core_, name, &native::MultiplyValues, arg);
      case Intrinsic::kGenericDivide:
        return Generic(core_, name, &native::DivideValues, arg);
      case Intrinsic::kGenericZero:
      // A value (EmbedLeaf), and the sequence executor's intrinsics.
      case Intrinsic::kSequenceMap:
      case Intrinsic::kSequenceReduce:
      case Intrinsic::kSequenceSum:
        break;
    }
    return absl::InternalError(absl::StrCat(uri_, " is not a function"));
  }

 protected:
  std::string What() const override { return absl::StrCat("intrinsic ", uri_); }

 private:
  const Intrinsic op_;
  const std::string uri_;
  const CorePtr core_;
};

// ------------------------------------------------------ validation

absl::Status AtPath(const std::string& step, const absl::Status& inner) {
  absl::string_view message = inner.message();
  if (absl::StartsWith(message, "at ")) {
    message.remove_prefix(3);
    return absl::Status(inner.code(), absl::StrCat("at ", step, message));
  }
  return absl::Status(inner.code(), absl::StrCat("at ", step, ": ", message));
}

absl::Status CheckFits(const Value& value, int64_t num_clients, int depth) {
  if (depth > kMaxNestingDepth) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a value nested more than ", kMaxNestingDepth, " levels deep"));
  }
  if (value.is_struct()) {
    const auto& elements = value.struct_value().elements;
    for (size_t i = 0; i < elements.size(); ++i) {
      absl::Status s = CheckFits(*elements[i].value, num_clients, depth + 1);
      if (!s.ok()) {
        return AtPath(elements[i].name.empty()
                          ? absl::StrCat("[", i, "]")
                          : absl::StrCat(".", elements[i].name),
                      s);
      }
    }
    return absl::OkStatus();
  }
  if (!value.is_federated()) return absl::OkStatus();
  const FederatedValue& f = value.federated();
  const int64_t size = f.size();
  if (f.placement == Placement::kServer) {
    if (size != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a SERVER value with ", size, " members; it must have exactly 1"));
    }
  } else if (f.all_equal) {
    if (size != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("an all-equal CLIENTS value with ", size,
                       " members; it must have exactly 1"));
    }
  } else if (size != num_clients) {
    return absl::InvalidArgumentError(
        absl::StrCat("a CLIENTS value with ", size,
                     " members, but this stack has ", num_clients, " clients"));
  }
  for (size_t i = 0; i < f.members.size(); ++i) {
    if (ContainsFederated(f.members[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("member ", i, " of ", Describe(value),
                       " is itself federated (or contains a federated value)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace federating_internal

// ------------------------------------------------------ FederatingExecutor

FederatingExecutor::FederatingExecutor(
    std::shared_ptr<ExecutionContext> context, int64_t num_clients,
    std::shared_ptr<LocalExecutor> child)
    : LocalExecutor(context, std::move(child)) {
  auto core = std::make_shared<federating_internal::Core>();
  core->context = std::move(context);
  core->num_clients = std::max<int64_t>(0, num_clients);
  core_ = std::move(core);
}

int64_t FederatingExecutor::num_clients() const { return core_->num_clients; }

absl::StatusOr<Value> FederatingExecutor::EmbedLeaf(const ir::NodePtr& node) {
  if (node == nullptr) {
    return absl::InvalidArgumentError("EmbedLeaf: null node");
  }
  if (!node->Is<ir::IntrinsicNode>()) return LocalExecutor::EmbedLeaf(node);
  const std::string& uri = node->As<ir::IntrinsicNode>().uri;
  std::optional<ir::Intrinsic> op = ir::FindIntrinsic(uri);
  if (!op.has_value() || ir::FamilyOf(*op) == ir::IntrinsicFamily::kSequence) {
    return LocalExecutor::EmbedLeaf(node);
  }
  if (!node->type().has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "intrinsic ", uri, " has no type (type-check the computation first)"));
  }
  const ir::Type& type = *node->type();
  if (*op == ir::Intrinsic::kGenericZero) {
    return federating_internal::ZeroValue(type);
  }
  if (type.kind() != ir::TypeKind::kFunction || type.parameter() == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("intrinsic ", uri, " has type ", type.ToString(),
                     ", which is not a function type with a parameter"));
  }
  return Value::Function(
      std::make_shared<federating_internal::IntrinsicFunction>(type, *op, uri,
                                                               core_));
}

absl::StatusOr<std::vector<PartialNode>> FederatingExecutor::AggregateShard(
    const PartialAggregateSpec& spec, const Value& value, const Value* operand,
    const Value* function, const Value* merge) {
  return federating_internal::AggregateShardImpl(*core_, spec, value, operand,
                                                 function, merge);
}

absl::Status FederatingExecutor::ValidateValue(const Value& value) {
  FEDEXEC_RETURN_IF_ERROR(
      federating_internal::CheckFits(value, core_->num_clients, 0));
  return LocalExecutor::ValidateValue(value);
}

}  // namespace fedexec::exec
