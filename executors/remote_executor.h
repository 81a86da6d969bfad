// RemoteExecutor: an Executor whose values live in another process. It
// drives one executor of a worker (service/worker.h) through the executor
// protocol (tensorflow_federated.v0.ExecutorGroup) and fedexec's streaming
// extension (fedexec.v1.ExecutorStream), over a gRPC channel that the
// RemoteExecutors of one worker share.
//
// Values. Each Create returns at once with a local ValueId; the remote ref
// of a value arrives later, and no Create ever blocks on the network. Only
// Materialize and PartialAggregate wait (on the calling thread). An error
// of a Create (after retries) becomes that value's result: Materialize
// returns it, and every value created from it fails with it.
//
// Batches (RemoteOptions::batch, on by default). Creates are not sent one
// by one: they gather in a pending batch, where an operation refers to an
// earlier one of the same batch by its position, and the whole batch goes
// to the worker in one ExecuteBatch call (fedexec.v1.ExecutorStream) when
// something waits for it: a Materialize or PartialAggregate (which rides
// in the batch itself), or 256 operations or 1 MiB gathered. A round of a
// federated computation is then one call per worker, where it would be
// one call per operation, most of them waiting for the one before. A
// Create whose operand is in a batch still in flight waits for its answer
// (chained, on the thread that receives it) and then joins the pending
// batch. Refs released for disposal ride in the next batch (or go in a
// Dispose call once 4096 gather). A worker without ExecuteBatch (a server
// of the plain protocol) answers UNIMPLEMENTED; from then on every
// operation is its own call.
//
// One call per operation (batch off, or a plain server). Each Create's RPC
// runs asynchronously (gRPC's callback API, no thread per request); an
// operation whose operands' refs are not known yet is chained: registered
// on them, its RPC is started by whichever thread resolves the last
// operand (a gRPC callback thread).
//
// What crosses the wire. CreateValue(Value) encodes with ir::ValueToProto
// (functions as their closed IR node, exec::Function::ToNode); a value whose
// array bytes (ir::ArrayBytes) exceed stream_threshold_bytes goes through
// CreateValueStream in chunks of chunk_bytes instead. Streams are written by
// one uploader thread of the executor (started on the first large value),
// one stream at a time: the chunk encoder (ir::ValueToChunks) pushes chunks
// and a blocking writer gives flow control, so memory stays one chunk.
// Materialize reads ComputeStream chunks into an ir::ChunkAssembler (never
// the whole value as one message); a server that answers UNIMPLEMENTED to a
// stream (a foreign server of the plain protocol) gets unary Compute and
// CreateValue instead, from then on.
//
// Errors made at once: INVALID_ARGUMENT for an unknown local id, a negative
// selection index, a computation that does not type-check, a value that
// cannot be encoded (a function without a sendable form; only for values
// sent unary: a streamed value's encoding error is its result).
//
// Retries. Calls safe to repeat are retried on UNAVAILABLE, and on
// DEADLINE_EXCEEDED of one attempt while the call's overall deadline has
// not passed, with exponential backoff and jitter, at most max_attempts
// attempts in all: every Create (each carries metadata
// `fedexec-request-id: <id unique to the value>`, the same in every attempt,
// so the service answers a repeated request with the ref it already made),
// Compute and its stream, Dispose, PartialAggregate, GetExecutor. The
// overall deadline of a Create, Dispose or GetExecutor is call_timeout from
// its first attempt; that of Compute and PartialAggregate compute_timeout
// (infinite by default), counted once the operands' refs are known.
//
// Failure. FAILED_PRECONDITION from the worker means its executor is
// unusable (the protocol's signal): the RemoteExecutor becomes unusable,
// and every later value and operation fails with FAILED_PRECONDITION
// ("worker NAME: the worker's executor is unusable: <cause>"); health()
// reports it, so that its owner can drop it and ask for a new one. Other
// codes pass through.
//
// Messages. An error from the worker keeps its code and reads "worker NAME:
// <message>" (an empty message becomes "<Method> failed with <CODE>, the
// worker gave no message"), except
// a status that carries a location mark (exec::HasLocation: the error of a
// computation, "mean.fed:4:7: federated_mean: ..."), whose message is kept
// as it is. Either way the status carries the payload kWorkerPayload whose
// value is the worker's name (see WorkerOf), so that an error is always
// traceable to its worker. (exec::CopyStatus keeps only the location mark:
// code that copies statuses keeps the message, which for unmarked errors
// names the worker.)
//
// Disposal never blocks on the network: Dispose drops the local id, and a
// remote ref is queued for disposal once nothing local needs it any more
// (no handle, no operation in flight that reads it), including refs that
// arrive after their handle was dropped. Queued refs go out batched, one
// Dispose RPC carrying many refs, at most one such RPC in flight. A failed
// disposal is dropped silently (the worker frees everything at
// DisposeExecutor). NumValues counts the live local ids.
//
// Create honours the cancellation of its caller (core/cancellation.h:
// CurrentCancelSignal, set by stacks::Runtime while a call's stack is
// built): its blocking calls stop at once and it returns CANCELLED.
//
// Cancel stops every RPC in flight (ClientContext::TryCancel) and every
// backoff wait; values not resolved yet and every later value and operation
// are CANCELLED. It also disposes of the worker's executor (asynchronously,
// best-effort), so the worker stops computing for it. Permanent.
//
// Destruction waits for every callback in flight (they reference the
// executor), after cancelling them, joins the uploader, and sends
// DisposeExecutor (one attempt, a short deadline, best-effort) unless Cancel
// already did. It must not run on a gRPC callback thread.
//
// Authentication: a non-empty token is sent as metadata
// `authorization: Bearer <token>` on every call.
//
// Foreign workers (RemoteOptions::protocol). A worker that serves only the
// plain protocol (TensorFlow Federated's worker_binary) is known by its
// answer UNIMPLEMENTED to fedexec.v1's GetWorkerInfo, asked once in Create
// (or told by the owner, who asked already). With such a worker nothing of
// fedexec's extension is tried: every operation is its own call, values
// go unary, arrays are written as TFF 0.87's worker reads them (typed
// lists, ir::ArrayEncoding::kTypedLists, except the arrays of federated
// members that are not scalars, which it reads only as Array.content),
// and PartialAggregate answers UNIMPLEMENTED at once (payload
// kNoPartialAggregatePayload) so that the caller reads the members and
// aggregates them itself (exec::ComposingExecutor does, on the same block
// tree). A fedexec worker
// gets Array.content and the metadata entry ir::kArrayContentMetadataKey on
// every call, so that its tensorflow_federated.v0 answers carry content
// too. Compute answers from a foreign worker may leave out a federated
// value's member type and all_equal (TFF's worker sends only the
// placement): they are taken from the type the value was created with
// (tracked for foreign workers only), and an all-equal value that comes
// back as one member per client keeps its first.
//
// Thread-safety: as Executor: every method may be called concurrently from
// any thread; Materialize and PartialAggregate block the calling thread.
#ifndef FEDEXEC_EXECUTORS_REMOTE_EXECUTOR_H_
#define FEDEXEC_EXECUTORS_REMOTE_EXECUTOR_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/mutex.h"
#include "executors/executor.h"

namespace fedexec::v1 {
class BatchOperation;
class ExecuteBatchResponse;
}  // namespace fedexec::v1
namespace tensorflow_federated::v0 {
class GetExecutorResponse;
class Value;
}  // namespace tensorflow_federated::v0
namespace fedexec::ir {
class Type;
struct ValueToProtoOptions;
}  // namespace fedexec::ir

namespace grpc {
class Channel;
class ClientContext;
class Status;
class Alarm;
}  // namespace grpc

namespace fedexec::exec {

// The payload key naming the worker an error came from (its value: the
// worker's name, RemoteOptions::name).
inline constexpr char kWorkerPayload[] = "fedexec.dev/worker";

// The worker a status came from (kWorkerPayload), if any.
std::optional<std::string> WorkerOf(const absl::Status& status);

// The payload key of PartialAggregate's UNIMPLEMENTED when the worker has
// no fedexec extension: the caller aggregates the members itself.
inline constexpr char kNoPartialAggregatePayload[] =
    "fedexec.dev/no-partial-aggregate";

// What the worker speaks.
enum class WorkerProtocol {
  kAsk,      // ask it in Create (fedexec.v1 GetWorkerInfo)
  kFedexec,  // a fedexec worker: batches, streams, PartialAggregate, content
  kPlain,    // only tensorflow_federated.v0 (TensorFlow Federated's worker)
};

struct RemoteOptions {
  // Names the worker in messages ("worker 127.0.0.1:5001: ..."): usually
  // its address. Empty: "remote".
  std::string name;
  // Sent as `authorization: Bearer <token>` when non-empty.
  std::string token;

  // Overall deadline of a unary Create, Dispose and GetExecutor call, all
  // attempts included.
  absl::Duration call_timeout = absl::Seconds(60);
  // Overall deadline of Compute (and its stream), CreateValueStream and
  // PartialAggregate; infinite allowed.
  absl::Duration compute_timeout = absl::InfiniteDuration();
  // Deadline of one attempt of any call (capped by the overall deadline);
  // an attempt that exceeds it is retried. Infinite: only the overall one.
  absl::Duration attempt_timeout = absl::InfiniteDuration();

  // Attempts per call in all (>= 1), and the wait before attempt n + 1:
  // min(max_backoff, initial_backoff * multiplier^(n - 1)) scaled by a
  // random factor in [1 - jitter, 1 + jitter].
  int max_attempts = 5;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  double backoff_multiplier = 2.0;
  double jitter = 0.2;

  // Values whose array bytes (ir::ArrayBytes) exceed this go through
  // CreateValueStream.
  int64_t stream_threshold_bytes = int64_t{4} << 20;
  // The most array bytes per chunk, both ways (>= 1).
  int64_t chunk_bytes = int64_t{1} << 20;

  // Creates (and a PartialAggregate) go in batches (see the file comment).
  bool batch = true;

  // What the worker speaks (see the file comment on foreign workers).
  WorkerProtocol protocol = WorkerProtocol::kAsk;
};

// Counters for tests and monitoring (monotonic).
struct RemoteStats {
  int64_t attempts = 0;            // RPC attempts started
  int64_t retries = 0;             // attempts after a retryable failure
  int64_t released_refs = 0;       // refs queued for disposal
  int64_t dispose_rpcs = 0;        // Dispose RPCs started (batches)
  int64_t disposed_refs = 0;       // refs sent in them
  int64_t streamed_uploads = 0;    // values sent by CreateValueStream
  int64_t streamed_downloads = 0;  // values received by ComputeStream
  int64_t batches = 0;             // ExecuteBatch calls started
  int64_t batched_operations = 0;  // operations sent in them
};

class RemoteExecutor : public Executor {
 public:
  // Asks the worker behind `channel` for an executor for `num_clients`
  // clients (GetExecutor with the CLIENTS cardinality; retried as above).
  // INVALID_ARGUMENT for a null channel, negative num_clients or bad
  // options; the worker's error otherwise (prefixed with its name).
  static absl::StatusOr<std::unique_ptr<RemoteExecutor>> Create(
      std::shared_ptr<grpc::Channel> channel, int64_t num_clients,
      RemoteOptions options = {});

  ~RemoteExecutor() override;
  RemoteExecutor(const RemoteExecutor&) = delete;
  RemoteExecutor& operator=(const RemoteExecutor&) = delete;

  // ------------------------------------------------------------ Executor
  absl::StatusOr<OwnedValue> CreateValue(const Value& value) override;
  absl::StatusOr<OwnedValue> CreateValue(
      const ir::NodePtr& computation) override;
  absl::StatusOr<OwnedValue> CreateCall(
      ValueId function, std::optional<ValueId> argument) override;
  absl::StatusOr<OwnedValue> CreateStruct(
      const std::vector<StructElementId>& elements) override;
  absl::StatusOr<OwnedValue> CreateSelection(ValueId source,
                                             int index) override;
  absl::StatusOr<Value> Materialize(ValueId value) override;
  absl::Status Dispose(ValueId value) override;
  void Cancel() override;
  int64_t NumValues() const override;
  absl::StatusOr<std::vector<PartialNode>> PartialAggregate(
      const PartialAggregateSpec& spec) override;
  using Executor::CreateCall;
  using Executor::CreateSelection;
  using Executor::Materialize;

  // OK while usable; CANCELLED after Cancel; FAILED_PRECONDITION once the
  // worker reported its executor unusable.
  absl::Status health() const;
  const std::string& name() const { return name_; }
  // The worker's id of the executor (GetExecutor's answer).
  const std::string& executor_id() const { return executor_id_; }
  // kFedexec or kPlain (what Create found or was told).
  WorkerProtocol protocol() const { return protocol_; }
  RemoteStats stats() const;

 private:
  struct RemoteValue;
  struct AsyncCall;
  struct Stubs;
  struct Upload;
  struct PendingOp;
  struct AggregateWaiter;
  using ValuePtr = std::shared_ptr<RemoteValue>;
  // Starts one attempt of a unary RPC on `context`; `done` gets its status.
  using AsyncAttempt = std::function<void(
      grpc::ClientContext* context, std::function<void(grpc::Status)> done)>;
  // Runs one attempt of a blocking RPC.
  using BlockingAttempt = std::function<grpc::Status(grpc::ClientContext&)>;
  enum class Idempotency { kRequestId, kNone };

  RemoteExecutor(std::shared_ptr<grpc::Channel> channel, RemoteOptions options);
  // Create's calls: what the worker speaks (when the options ask), then
  // GetExecutor for `num_clients` clients.
  absl::Status AskWorker(
      int64_t num_clients,
      tensorflow_federated::v0::GetExecutorResponse& response);

  // Local ids.
  OwnedValue Register(ValuePtr value);
  absl::StatusOr<ValuePtr> Lookup(ValueId id, std::string_view what) const;

  // Resolution of a value (its ref or its error) and what waits for it.
  void Resolve(const ValuePtr& value, absl::StatusOr<std::string> ref);
  // Runs `fn` once every value of `values` is resolved (inline if they
  // are), on the thread that resolves the last one.
  void WhenResolved(const std::vector<ValuePtr>& values,
                    std::function<void()> fn);
  // Blocks until `value` is resolved; its ref or error.
  absl::StatusOr<std::string> AwaitRef(const ValuePtr& value);
  // The first operand's error, or OK when all have refs.
  absl::Status OperandsStatus(const std::vector<ValuePtr>& values) const;

  // Batches. Submit puts a create into the pending batch once its
  // operands are resolved or pending themselves (`fill` writes the
  // operation given its operands' refs: server refs, or "#k" for the
  // operation k of the batch), or, without batches, runs `alone` (the
  // operation as its own call). Flush sends the pending batch (with the
  // disposals queued and the aggregation riding in it), if there is one.
  using FillOp = std::function<void(fedexec::v1::BatchOperation& op,
                                    const std::vector<std::string>& refs)>;
  void Submit(const ValuePtr& result, std::vector<ValuePtr> operands,
              FillOp fill, std::function<void()> alone);
  void Flush();
  void OnBatchDone(std::vector<std::unique_ptr<PendingOp>> ops,
                   std::shared_ptr<AggregateWaiter> aggregate,
                   const fedexec::v1::ExecuteBatchResponse& response,
                   absl::Status status);
  // After batches turned out unsupported: each op as its own call, in
  // order.
  void SendAlone(std::vector<std::unique_ptr<PendingOp>> ops);
  // Cancel and destruction: the pending batch's values fail (CANCELLED).
  void DropPending();
  // Whether the pending batch should go out now (REQUIRES mu_).
  bool ShouldFlushLocked() const FEDEXEC_REQUIRES(mu_);
  // What an operation names `value` by: its ref once resolved, "#k" while
  // it is in the pending batch; nullopt while its batch is in flight
  // (REQUIRES mu_).
  std::optional<std::string> BatchRefLocked(const RemoteValue& value) const
      FEDEXEC_REQUIRES(mu_);
  // PartialAggregate in the pending batch; UNIMPLEMENTED when the worker
  // has no batches (the caller then sends it alone).
  absl::StatusOr<std::vector<PartialNode>> BatchedPartialAggregate(
      const PartialAggregateSpec& spec, const std::vector<ValuePtr>& values);
  bool Batching() const;

  // Chains a Create sent as its own call: once `operands` are resolved,
  // fills the request from `fill` (given their refs) and `take` (which
  // moves the operation into the request; the executor id is set here),
  // sends it with `send`, and resolves `result` with the answer's value
  // ref; fails `result` instead when an operand failed or the executor is
  // no longer usable.
  template <typename Request, typename Response>
  using SendFn =
      std::function<void(grpc::ClientContext*, const Request*, Response*,
                         std::function<void(grpc::Status)>)>;
  template <typename Request, typename Response>
  void ChainCreate(
      const ValuePtr& result, std::vector<ValuePtr> operands, FillOp fill,
      std::function<void(fedexec::v1::BatchOperation&, Request&)> take,
      SendFn<Request, Response> send);
  void SubmitCreateValue(
      const ValuePtr& result,
      std::shared_ptr<const tensorflow_federated::v0::Value> proto);

  // RPC machinery. Every call counts as in flight until its final
  // callback has run (the destructor waits for that).
  void StartAsync(absl::Time deadline, std::string request_id,
                  std::string_view method, AsyncAttempt attempt,
                  std::function<void(absl::Status)> done);
  void RunAttempt(const std::shared_ptr<AsyncCall>& call);
  void OnAttemptDone(const std::shared_ptr<AsyncCall>& call,
                     const grpc::Status& status);
  void FinishAsync(const std::shared_ptr<AsyncCall>& call, absl::Status status);
  absl::Status RunBlocking(absl::Time deadline, const std::string& request_id,
                           std::string_view method,
                           const BlockingAttempt& attempt);

  // A fresh context for one attempt with deadline min(deadline, now +
  // attempt_timeout) and metadata, registered for Cancel; null once the
  // executor is cancelled.
  std::shared_ptr<grpc::ClientContext> NewContext(
      absl::Time deadline, const std::string& request_id);
  void Unregister(const std::shared_ptr<grpc::ClientContext>& context);
  // Whether to retry after `status` of attempt number `attempt`; sets
  // *wait to the backoff.
  bool ShouldRetry(const grpc::Status& status, int attempt, absl::Time deadline,
                   absl::Duration* wait) const;
  // gRPC status -> absl status, named after the worker (an empty message
  // names `method` and the code); FAILED_PRECONDITION marks the executor
  // unusable.
  absl::Status FromGrpc(const grpc::Status& status, int attempts,
                        std::string_view method);
  absl::Status FromWire(absl::StatusCode code, const std::string& message,
                        bool located, int attempts, std::string_view method);
  absl::Status Named(absl::StatusCode code, std::string_view message) const;
  absl::Status UnusableOrCancelled() const FEDEXEC_REQUIRES(mu_);
  absl::Time DeadlineIn(absl::Duration timeout) const;
  std::string NextRequestId();
  void BeginOp();
  void EndOp();

  // Disposal queue.
  void QueueDispose(std::string ref);
  void SendDisposeBatch(std::vector<std::string> refs);

  // Uploads (the uploader thread).
  void StartUpload(ValuePtr result, Value value);
  void UploaderLoop();
  absl::StatusOr<std::string> UploadValue(const Value& value,
                                          const std::string& request_id);
  absl::StatusOr<std::string> CreateValueUnary(const Value& value,
                                               const std::string& request_id);

  // `type`: what the value was created as, if known (fills what a foreign
  // worker's answer leaves out).
  absl::StatusOr<Value> ComputeValue(const std::string& ref,
                                     const ir::Type* type);
  // Encoding of values for this worker (content or typed lists).
  const ir::ValueToProtoOptions& EncodeOptions() const;
  // `value` encoded for this worker: EncodeOptions, and for a foreign
  // worker the arrays of federated members that are not scalars as
  // content (what TFF 0.87's worker reads there).
  absl::Status Encode(const Value& value,
                      tensorflow_federated::v0::Value* out) const;
  bool Plain() const { return protocol_ == WorkerProtocol::kPlain; }
  void DisposeRemoteExecutor(bool blocking);

  const std::shared_ptr<grpc::Channel> channel_;
  const RemoteOptions options_;
  const std::string name_;
  const std::string client_id_;  // prefix of request ids
  std::unique_ptr<Stubs> stubs_;
  std::string executor_id_;  // set by Create, then constant
  WorkerProtocol protocol_;  // set by Create, then constant

  mutable Mutex mu_;
  CondVar resolved_cv_;  // a value resolved
  CondVar cancel_cv_;    // Cancel (wakes backoff waits)
  CondVar idle_cv_;      // in_flight_ reached 0
  absl::flat_hash_map<ValueId, ValuePtr> values_ FEDEXEC_GUARDED_BY(mu_);
  ValueId next_id_ FEDEXEC_GUARDED_BY(mu_) = 1;
  uint64_t next_request_ FEDEXEC_GUARDED_BY(mu_) = 1;
  bool cancelled_ FEDEXEC_GUARDED_BY(mu_) = false;
  bool shutting_down_ FEDEXEC_GUARDED_BY(mu_) = false;
  // FAILED_PRECONDITION once unusable.
  absl::Status unusable_ FEDEXEC_GUARDED_BY(mu_);
  bool executor_disposed_ FEDEXEC_GUARDED_BY(mu_) = false;
  bool streams_unimplemented_ FEDEXEC_GUARDED_BY(mu_) = false;
  int64_t in_flight_ FEDEXEC_GUARDED_BY(mu_) = 0;
  // Contexts of attempts in flight and backoff alarms, for Cancel.
  absl::flat_hash_set<std::shared_ptr<grpc::ClientContext>> contexts_
      FEDEXEC_GUARDED_BY(mu_);
  absl::flat_hash_set<std::shared_ptr<grpc::Alarm>> alarms_
      FEDEXEC_GUARDED_BY(mu_);
  // Refs waiting for a Dispose RPC, and whether one is in flight.
  std::vector<std::string> dispose_queue_ FEDEXEC_GUARDED_BY(mu_);
  bool dispose_in_flight_ FEDEXEC_GUARDED_BY(mu_) = false;
  // The pending batch: its operations, its serial (RemoteValue::batch), the
  // aggregation riding in it, its encoded size; batches turned out
  // unsupported; threads waiting in AwaitRef.
  std::vector<std::unique_ptr<PendingOp>> pending_ FEDEXEC_GUARDED_BY(mu_);
  uint64_t pending_serial_ FEDEXEC_GUARDED_BY(mu_) = 1;
  std::shared_ptr<AggregateWaiter> pending_aggregate_ FEDEXEC_GUARDED_BY(mu_);
  int64_t pending_bytes_ FEDEXEC_GUARDED_BY(mu_) = 0;
  bool batches_unimplemented_ FEDEXEC_GUARDED_BY(mu_) = false;
  int blocked_ FEDEXEC_GUARDED_BY(mu_) = 0;
  // Uploads waiting for the uploader thread.
  std::deque<std::unique_ptr<Upload>> uploads_ FEDEXEC_GUARDED_BY(mu_);
  CondVar uploads_cv_;
  std::thread uploader_ FEDEXEC_GUARDED_BY(mu_);
  RemoteStats stats_ FEDEXEC_GUARDED_BY(mu_);
};

}  // namespace fedexec::exec

#endif  // FEDEXEC_EXECUTORS_REMOTE_EXECUTOR_H_
