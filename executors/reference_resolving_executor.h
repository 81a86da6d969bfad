// ReferenceResolvingExecutor: runs the lambda calculus of a computation
// (lambdas, blocks, references, calls, structs, selections) and hands every
// leaf (literal, intrinsic, native, torchscript, data, placement) to its
// child executor.
//
// Evaluate(node) takes a type-checked tree (an untyped one is checked
// first) and compiles it once into an immutable program:
// - every reference is resolved to a slot: a slot of the frame of the
//   innermost enclosing lambda call (its parameter and the block locals of
//   its body), or one of the values the closure captured. A free reference
//   is INVALID_ARGUMENT naming it and where it is;
// - every leaf is embedded once, with child()->EmbedLeaf(leaf), so a native
//   function is bound once and an intrinsic made once, however many times
//   (and from however many clients) the code around it runs;
// - each frame slot's last read moves the value out instead of copying it,
//   and a local nobody reads is dropped as soon as it is computed, so
//   values are released as early as the code allows.
// Programs are cached per executor (the kProgramCacheSize most recently
// used trees, by node identity: the cache holds the tree, so a pointer is
// never reused while cached), so calling one computation again and again,
// as a training loop does every round, compiles and binds it once.
// The program then runs in an empty scope. A lambda evaluates to a closure
// (an exec::Function) holding the compiled body, the values it references
// from enclosing scopes (flat closure conversion: a closure keeps only what
// it uses, and closures never form reference cycles with the frames that
// hold them) and the stack's ExecutionContext. Calling it binds the
// parameter in a fresh frame and runs the body.
//
// The interpreter is iterative: nesting of the tree and chains of calls
// between closures of this executor use no C++ recursion, so a tree at the
// nesting limit (core/limits.h) runs on a pool thread of any stack size.
// Compilation recurses, on a large stack (core/large_stack.h) for deep
// trees. A closure called by another executor (federated_map calls it per
// client) re-enters the interpreter; such re-entries are bounded by a
// check of the thread's remaining stack (RESOURCE_EXHAUSTED, never a
// crash).
//
// Errors say where they arose: the innermost failing call (or selection)
// adds "LINE:COL" of its node (or, for a tree not read from text, its node
// path, ir/node_path.h) and the callee ("4:7: federated_mean: ..."); calls
// around it leave a located status alone (function.h HasLocation).
// Cancellation is checked at every closure call.
//
// Thread-safety: as Executor. Compiled programs and closures are immutable;
// a closure may be called from any number of threads at once (frames are
// per call).
#ifndef FEDEXEC_EXECUTORS_REFERENCE_RESOLVING_EXECUTOR_H_
#define FEDEXEC_EXECUTORS_REFERENCE_RESOLVING_EXECUTOR_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "executors/local_executor.h"
#include "ir/ast.h"

namespace fedexec::exec {

namespace reference_resolving_internal {
class ProgramCache;
}  // namespace reference_resolving_internal

class ReferenceResolvingExecutor : public LocalExecutor {
 public:
  // Compiled trees kept per executor.
  static constexpr size_t kProgramCacheSize = 16;

  // `child` embeds the leaves (required).
  ReferenceResolvingExecutor(std::shared_ptr<ExecutionContext> context,
                             std::shared_ptr<LocalExecutor> child);
  ~ReferenceResolvingExecutor() override;

  absl::StatusOr<Value> Evaluate(const ir::NodePtr& node) override;

  // Compilations done so far (cache misses), for tests.
  int64_t NumCompilationsForTesting() const;

 private:
  const std::unique_ptr<reference_resolving_internal::ProgramCache> cache_;
};

}  // namespace fedexec::exec

#endif  // FEDEXEC_EXECUTORS_REFERENCE_RESOLVING_EXECUTOR_H_
