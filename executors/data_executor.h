// DataExecutor: resolves `data` building blocks (ir::DataNode, written
// `data("uri", T)`) on the machine that holds the data, through a
// DataBackend (data_backend.h; FileBackend reads .npy files and tables
// below a root directory). Client data stay where they are: a worker
// resolves the data nodes of the computations it runs, and only results
// leave it.
//
// A layer of an execution stack: EmbedLeaf turns a data node into the value
// its backend resolves (checked against the node's declared type) and hands
// every other node to the child. Without a backend, data nodes other than
// keyed ones go to the child too (the leaf executor then refuses them:
// "no data root here to resolve it").
//
// Keyed data. A data node of function type (K -> T), K a string, int32 or
// int64 scalar, embeds as a function: called with a key, it resolves the
// uri KeyedDataUri(uri, key) (data_backend.h) as a T through the backend
// of the stack that embedded it. Such a function crosses a process boundary
// as its node, so a coordinator without data (no backend) can hand it to
// workers, in a federated_map say, and each worker resolves the keys of its
// own clients: client data never leave the workers. Called where there is
// no backend it is INVALID_ARGUMENT ("this process has no data root").
//
// No caching: each embedding of a data node asks the backend again. (The
// reference resolving executor above keeps the compiled programs of
// recently used trees, and with them the values of their leaves, so a tree
// called again does not re-embed its data nodes; a new tree does.)
//
// Errors: "data '<uri>': ..." as the backend says, INVALID_ARGUMENT for a
// data node without a uri (an Any payload: "data leaf with content
// '<type url>': the data executor resolves uris only") or without a
// declared type, and for a value that is not an instance of the declared
// type ("data 'x': resolved to float32[3], not an instance of int32[3]:
// ..."). A node read from text adds its line and column ("4:7: data 'x':
// ...", function.h WithLocation); for other nodes the executor above adds
// the node path. Cancellation of the stack's context is checked before
// resolving.
//
// Thread-safety: as Executor; the backend is fixed at construction and its
// Resolve is called concurrently.
#ifndef FEDEXEC_EXECUTORS_DATA_EXECUTOR_H_
#define FEDEXEC_EXECUTORS_DATA_EXECUTOR_H_

#include <memory>

#include "absl/status/statusor.h"
#include "data/data_backend.h"
#include "executors/local_executor.h"
#include "ir/ast.h"

namespace fedexec::exec {

class DataExecutor : public LocalExecutor {
 public:
  // `backend` may be null: then every node but a keyed data node goes to
  // `child`.
  DataExecutor(std::shared_ptr<ExecutionContext> context,
               std::shared_ptr<LocalExecutor> child,
               std::shared_ptr<const DataBackend> backend);

  // Data nodes through the backend; everything else from the child.
  absl::StatusOr<Value> EmbedLeaf(const ir::NodePtr& node) override;

  const std::shared_ptr<const DataBackend>& backend() const { return backend_; }

 private:
  absl::StatusOr<Value> Resolve(const ir::NodePtr& node) const;

  std::shared_ptr<const DataBackend> backend_;
};

}  // namespace fedexec::exec

#endif  // FEDEXEC_EXECUTORS_DATA_EXECUTOR_H_
