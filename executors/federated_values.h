// Internal to the federating executor and its aggregations
// (federating_executor.cc, federated_aggregation.cc): the state intrinsic
// functions share, federated values read client by client, and the error
// messages that name an intrinsic and where in it an error arose.
//
// Thread-safety: everything here is immutable or a pure function; Clients
// may be read from any number of threads.
#ifndef FEDEXEC_EXECUTORS_FEDERATED_VALUES_H_
#define FEDEXEC_EXECUTORS_FEDERATED_VALUES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/tree_reduce.h"
#include "core/value.h"
#include "executors/function.h"

namespace fedexec::exec::federating_internal {

// What intrinsic functions and lazy values need of the executor: never the
// executor itself.
struct Core {
  std::shared_ptr<ExecutionContext> context;
  int64_t num_clients = 0;
};

// ------------------------------------------------------------- messages

// absl::StrCat takes absl::string_view, which this Abseil keeps distinct
// from std::string_view.
absl::string_view AV(std::string_view s);

std::string Describe(const Value& value);

std::string DescribeFunction(const Value& fn);

absl::Status Expects(std::string_view intrinsic, std::string_view what,
                     const Value& got);

// "<intrinsic>: <where>: <message>", for an error that does not say where
// it arose yet; cancellation and located errors pass unchanged. When the
// message already starts with "<intrinsic>: " (the secure aggregators'
// do), it is not repeated.
absl::Status Located(std::string_view intrinsic, std::string_view where,
                     const absl::Status& status);

// The error of merging two sibling nodes of an aggregation over
// `num_clients` clients in blocks of `block`: what disagrees lies in one of
// the two runs of clients, named ("clients [0, 16) and [16, 20)").
absl::Status MergeError(std::string_view intrinsic, const absl::Status& status,
                        TreeNodeId left, TreeNodeId right, int64_t block,
                        int64_t num_clients);

absl::Status ClientError(std::string_view intrinsic, int64_t client,
                         const absl::Status& status);

absl::Status ClientFunctionError(std::string_view intrinsic, int64_t client,
                                 const Value& fn, const absl::Status& status);

absl::Status FunctionError(std::string_view intrinsic, std::string_view role,
                           const Value& fn, const absl::Status& status);

// ------------------------------------------------------------ arguments

// The elements of a struct argument of exactly `arity` elements.
absl::StatusOr<std::vector<const Value*>> Unpack(std::string_view intrinsic,
                                                 const Value& argument,
                                                 size_t arity);

std::string Ordinal(int index);

// Checks that `fn` is a function value taking a parameter iff
// `with_parameter`.
absl::Status CheckFunction(std::string_view intrinsic, int index,
                           const Value& fn, bool with_parameter);

// The names the parameter of a function of two arguments gives them, so
// that an argument struct built here matches the declared parameter type.
std::pair<std::string, std::string> PairNames(const Value& fn);

Value Pair(const std::pair<std::string, std::string>& names, Value a, Value b);

// The one member of a SERVER value.
absl::StatusOr<Value> ServerMember(std::string_view intrinsic, int index,
                                   const Value& value);

// A value that may be given unplaced or at SERVER (bounds of secure sums).
absl::StatusOr<Value> UnplacedOrServer(std::string_view intrinsic, int index,
                                       const Value& value);

bool ContainsFederated(const Value& value, int depth = 0);

// A CLIENTS value as a function of the client index: all-equal (one member
// read for every client), per-client concrete, or lazy.
class Clients {
 public:
  static absl::StatusOr<Clients> Of(std::string_view intrinsic, int index,
                                    const Value& value, int64_t num_clients) {
    if (!value.is_federated() ||
        value.federated().placement != Placement::kClients) {
      return Expects(intrinsic, absl::StrCat(Ordinal(index), " at CLIENTS"),
                     value);
    }
    const FederatedValue& f = value.federated();
    const int64_t size = f.size();
    if (f.all_equal) {
      if (size != 1 || f.lazy != nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(AV(intrinsic), ": ", Ordinal(index),
                         " is an all-equal CLIENTS value with ", size,
                         " members; it must have exactly 1"));
      }
    } else if (size != num_clients) {
      return absl::InvalidArgumentError(absl::StrCat(
          AV(intrinsic), ": ", Ordinal(index), " is a CLIENTS value with ",
          size, " members, but this stack has ", num_clients, " clients"));
    }
    return Clients(value);
  }

  bool all_equal() const { return f_->all_equal; }
  bool lazy() const { return f_->lazy != nullptr; }
  const Value& value() const { return value_; }
  // REQUIRES: all_equal().
  const Value& single() const { return f_->members[0]; }

  // Member of client i (a copy of a handle; lazy members are produced).
  absl::StatusOr<Value> Member(int64_t i) const {
    if (f_->lazy != nullptr) return f_->lazy->Get(i);
    return f_->members[f_->all_equal ? 0 : static_cast<size_t>(i)];
  }

  // The member of client i, in place. REQUIRES: !lazy().
  const Value* Concrete(int64_t i) const {
    return &f_->members[f_->all_equal ? 0 : static_cast<size_t>(i)];
  }

  // Calls fn(member of client i) without copying concrete members.
  template <typename F>
  absl::Status With(int64_t i, F&& fn) const {
    if (f_->lazy != nullptr) {
      absl::StatusOr<Value> m = f_->lazy->Get(i);
      if (!m.ok()) return std::move(m).status();
      return fn(*m);
    }
    return fn(f_->members[f_->all_equal ? 0 : static_cast<size_t>(i)]);
  }

 private:
  explicit Clients(Value value)
      : value_(std::move(value)), f_(&value_.federated()) {}

  Value value_;
  // Points into the shared contents of value_, which never move.
  const FederatedValue* f_;
};

Value AtServer(Value v);

Value AllEqualAtClients(Value v);

// A CANCELLED result of a parallel loop or reduction, in the stack's
// words.
absl::Status Normalized(const Core& core, const absl::Status& status);

}  // namespace fedexec::exec::federating_internal

#endif  // FEDEXEC_EXECUTORS_FEDERATED_VALUES_H_
