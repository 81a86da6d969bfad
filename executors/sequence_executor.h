// SequenceExecutor: the sequence intrinsics (docs/wire-format.md), streamed
// element by element so that no client dataset and no mapped sequence has
// to be held in memory whole:
//
//   sequence_map     <(T -> U), T*> -> U*   a LAZY sequence: each traversal
//                    traverses the source and applies the function to one
//                    element at a time (Value::LazySequence); nothing is
//                    computed before it is read
//   sequence_reduce  <T*, U, (<U, T> -> U)> -> U   folds in order, starting
//                    from the initial value
//   sequence_sum     T* -> T   element-wise sum in order (the aggregators'
//                    kSum accumulator); the empty sequence sums to the
//                    zero of T, T being the intrinsic's concrete result type
//
// Each intrinsic leaf becomes an exec::Function of the node's concrete
// type; every other leaf goes to the child executor. Sources may be
// concrete or lazy sequences (SequenceValue::ForEach).
//
// Errors are INVALID_ARGUMENT naming the intrinsic and, for an element's
// failure, its index from 0: "sequence_sum: element 3: at [1]: expected
// float32[2], found float32[3]". An error produced while traversing the
// source (say by a sequence_map underneath) is passed on unchanged.
// Cancellation (the stack's context) is checked at every element.
//
// Thread-safety: as Executor. The function values and lazy sequences are
// immutable; a lazy sequence may be traversed by several threads at once.
#ifndef FEDEXEC_EXECUTORS_SEQUENCE_EXECUTOR_H_
#define FEDEXEC_EXECUTORS_SEQUENCE_EXECUTOR_H_

#include <memory>

#include "absl/status/statusor.h"
#include "executors/local_executor.h"
#include "ir/ast.h"

namespace fedexec::exec {

class SequenceExecutor : public LocalExecutor {
 public:
  SequenceExecutor(std::shared_ptr<ExecutionContext> context,
                   std::shared_ptr<LocalExecutor> child);

  // The intrinsics sequence_map, sequence_reduce and sequence_sum as
  // function values (INVALID_ARGUMENT for a node without a function type);
  // everything else from the child.
  absl::StatusOr<Value> EmbedLeaf(const ir::NodePtr& node) override;
};

}  // namespace fedexec::exec

#endif  // FEDEXEC_EXECUTORS_SEQUENCE_EXECUTOR_H_
