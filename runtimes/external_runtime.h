// The interface between the fedexec runtime and an external runtime: a
// system that leaf computations are handed to (the tensor maths inside a
// computation). The leaf executor (executors/leaf_executor.h) keeps one
// ExternalRuntime per leaf kind and asks it to compile each leaf once; the
// compiled LeafFunction is then called many times (once per client, per
// sequence element, ...).
//
// Adding an external runtime (TorchScript, XLA, ONNX Runtime) means one new
// folder under runtimes/ with an implementation of this interface, and a
// line in stacks/default_runtimes.cc that gives it to every stack.
//
// Thread-safety: implementations must allow Compile and LeafFunction::Call
// from any number of threads at once.
#ifndef FEDEXEC_RUNTIMES_EXTERNAL_RUNTIME_H_
#define FEDEXEC_RUNTIMES_EXTERNAL_RUNTIME_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/value.h"
#include "ir/ast.h"
#include "ir/type.h"

namespace fedexec {

// A leaf computation compiled by an external runtime.
class LeafFunction {
 public:
  virtual ~LeafFunction() = default;
  // The leaf's (concrete) function type.
  virtual const ir::Type& type() const = 0;
  // Runs it; a function without parameter takes Value(). Errors are the
  // external runtime's, with a message that names the leaf.
  virtual absl::StatusOr<Value> Call(const Value& argument) const = 0;
};

class ExternalRuntime {
 public:
  virtual ~ExternalRuntime() = default;
  // The leaf kind this runtime serves: the name of its ir::NodeKind as the
  // text syntax writes it (ir::NodeKindName: "native" for ir::NativeNode,
  // "torchscript" for ir::TorchScriptNode). The leaf executor hands each
  // leaf to the runtime whose kind() is its node kind's name.
  virtual std::string kind() const = 0;
  // Compiles one leaf node of that kind (its type is the node's type).
  // INVALID_ARGUMENT names the leaf and what is wrong with it.
  virtual absl::StatusOr<std::shared_ptr<const LeafFunction>> Compile(
      const ir::Node& leaf) const = 0;
};

}  // namespace fedexec

#endif  // FEDEXEC_RUNTIMES_EXTERNAL_RUNTIME_H_
