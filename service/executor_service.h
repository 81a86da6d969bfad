// ExecutorService: serves any Executor over gRPC, as the executor protocol
// of docs/wire-format.md (tensorflow_federated.v0.ExecutorGroup, which a
// foreign client of that protocol can drive) and fedexec's streaming
// extension (fedexec.v1.ExecutorStream: values in chunks, partial
// aggregation).
//
// Executors. GetExecutor(cardinalities) asks the ExecutorSource for an
// executor of that many clients and answers an executor id; every other
// call names that id. The CLIENTS cardinality (placement uri "clients")
// gives the number of clients; without one the executor has 0 clients.
// A SERVER cardinality must be 1; any other placement, a repeated one or a
// negative cardinality is INVALID_ARGUMENT naming it. Each id has its own
// table of values: a value ref is a string naming an entry of its
// executor's table (values held through OwnedValue handles, disposed of by
// Dispose, DisposeExecutor, or when the service is destroyed).
// DisposeExecutor drops the table and the service's reference to the
// executor; it does not cancel it (a source may hand one executor to
// several ids).
//
// CreateValue accepts a computation as the whole value (decoded, type
// checked, then Executor::CreateValue(node)), or a struct whose elements
// are computations or values (each created, then CreateStruct, to any
// depth); a computation anywhere else (inside a federated value) is
// INVALID_ARGUMENT naming its path. Other values are decoded by
// ir::ValueFromProto.
//
// Batches. ExecuteBatch (fedexec.v1.ExecutorStream) runs creates in order
// on one executor id, each as its own Create would, where a ref "#k"
// names the value of operation k of the same batch; then disposes of the
// refs listed (skipping those it does not hold); then, when asked, runs a
// partial aggregation (on a waiter, counted against
// max_concurrent_computations) whose refs may be "#k" too. Each
// operation's error is its result (an operation naming a failed one fails
// with "operation k failed: ..."), so one bad operation spoils only what
// depends on it; the call itself fails only for the executor id, the
// token or shutdown. With a request id, operation k is answered as
// "<id>#k" would be: a retried batch creates nothing twice.
//
// Errors. Unknown, disposed or unusable executor id: FAILED_PRECONDITION
// naming the id (the protocol's "drop this executor and ask for a new one";
// an executor is unusable once it was cancelled: a computation of it ended
// CANCELLED). Unknown value ref: INVALID_ARGUMENT naming it. Malformed
// messages: INVALID_ARGUMENT naming the field ("CreateValueRequest.value:
// at [1].w: Array: ..."). The errors of a value's computation pass through
// with their code and message. After shutdown began (CancelAll), calls
// are UNAVAILABLE.
//
// Blocking. Handlers run on gRPC's callback threads and never block there:
// Compute, ComputeStream and PartialAggregate wait for their value on a
// small waiter pool owned by the service, whose threads are started on
// demand up to max_concurrent_computations and reused; every such call
// counts against that limit from its start until its answer is sent (a
// ComputeStream until its last chunk is written), so no call ever queues
// for a waiter. ComputeStream writes one chunk at a time (the next when
// gRPC has sent the previous one), so memory is the value plus one chunk.
//
// Idempotent retries. A Create call (CreateValue, CreateCall,
// CreateStruct, CreateSelection, CreateValueStream), Dispose, GetExecutor
// or DisposeExecutor that carries the metadata `fedexec-request-id: <key>`
// and that the service has already answered successfully gets that answer
// again (the same value ref, the same executor id) without doing anything.
// Value calls remember the last request_id_window keys per executor id,
// GetExecutor and DisposeExecutor as many for the whole service (so keys
// must be unique per request, not per client: random, or a client id and
// a counter). Errors are not remembered: a failed request may be retried
// and may succeed. A retry that arrives while the first is still being
// handled waits for it (value calls) or races it harmlessly: the loser's
// work is dropped and both get the winner's answer (GetExecutor).
//
// GetWorkerInfo (fedexec.v1.ExecutorStream) answers the options
// capacity and has_data_root and fedexec's version; it is checked for the
// token like every other call, so a coordinator learns of a wrong token
// before it sends anything.
//
// Answers. Compute writes tensors as the typed lists of Array (all that
// TensorFlow Federated's client reads) unless the request carries the
// metadata `fedexec-array-content: 1` (ir::kArrayContentMetadataKey), which
// fedexec's clients send to get raw `content`; the v1 extension always
// carries raw bytes. Every value ref keeps the type it was declared with
// (a computation's type; a call's result type; structs and selections
// follow), and a value whose type is per-client ({T}@CLIENTS) but which
// the executor holds as one all-equal member leaves (Compute,
// ComputeStream) with one member per client of its executor id
// (ir::ExpandAllEqual). Values sent as data keep their own form.
//
// Logs. Every error answer is a LOG(WARNING) line "refused METHOD from
// PEER: CODE: message" (a failed ExecuteBatch operation too); every other
// answer is a VLOG(1) line "METHOD from PEER: OK".
//
// Authentication. With a non-empty `token`, every call must carry the
// metadata `authorization: Bearer <token>`; otherwise UNAUTHENTICATED
// ("missing or invalid token", logged as every refusal, never the token).
// An empty token checks nothing: the plain protocol a foreign client
// speaks.
//
// Limits (each exceeded: RESOURCE_EXHAUSTED naming the limit; the service
// keeps serving every other call): see ServiceOptions.
//
// Thread-safety: all methods may be called from any thread. Destroy the
// service only after the server that used it has shut down (Worker does).
#ifndef FEDEXEC_SERVICE_EXECUTOR_SERVICE_H_
#define FEDEXEC_SERVICE_EXECUTOR_SERVICE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "executors/executor.h"
#include "net/grpc_channel.h"

namespace grpc {
class Service;
}

namespace fedexec::service {

// Gives an executor for `num_clients` clients (>= 0), new or shared; its
// errors are GetExecutor's answer.
using ExecutorSource = std::function<absl::StatusOr<std::shared_ptr<Executor>>(
    int64_t num_clients)>;

struct ServiceOptions {
  // Bearer token every call must carry; empty: no check.
  std::string token;
  // The most bytes of one message either way (the worker's server applies
  // it to every message too). A Compute answer larger than this is
  // RESOURCE_EXHAUSTED naming ComputeStream. 1 to 2^31 - 1.
  int64_t max_message_bytes = kDefaultMaxMessageBytes;  // 64 MiB
  // Values held per executor id (what GetExecutor handed one client).
  int64_t max_values_per_executor = int64_t{1} << 20;
  // Compute, ComputeStream and PartialAggregate calls in flight; also the
  // most waiter threads.
  int max_concurrent_computations = 64;
  // Executor ids held at once.
  int64_t max_executors = 1024;
  // The most bytes one CreateValueStream may announce.
  int64_t max_stream_bytes = int64_t{8} << 30;
  // ComputeStream's chunk size when the request asks for none (0). Either
  // is capped at max_message_bytes less room for framing (64 KiB, or half
  // of a smaller limit).
  int64_t default_chunk_bytes = int64_t{1} << 20;
  // Request ids remembered per executor id (and service-wide) for retries.
  int request_id_window = 4096;

  // What GetWorkerInfo declares: the share of clients this service asks
  // for, relative to other workers (> 0), and whether its executors
  // resolve `data` URIs (a data root was given).
  double capacity = 1;
  bool has_data_root = false;
};

class ExecutorService {
 public:
  // INVALID_ARGUMENT for a null source or a limit below 1 (a chunk size
  // below 1, max_message_bytes above 2^31 - 1).
  static absl::StatusOr<std::unique_ptr<ExecutorService>> Create(
      ExecutorSource source, ServiceOptions options = {});
  ~ExecutorService();

  ExecutorService(const ExecutorService&) = delete;
  ExecutorService& operator=(const ExecutorService&) = delete;

  // The two gRPC services, to register with a grpc::ServerBuilder. Owned
  // by this object.
  grpc::Service* executor_group_service();
  grpc::Service* executor_stream_service();

  // Begins shutdown: every later call is UNAVAILABLE, and every executor is
  // cancelled (Executor::Cancel) so that the computations being waited
  // for end (their calls answer UNAVAILABLE). Idempotent.
  void CancelAll();

  // For monitoring and tests.
  int64_t num_executors() const;
  int64_t num_values() const;  // over all executor ids
  int computations_in_flight() const;
  const ServiceOptions& options() const;

 private:
  class Impl;
  explicit ExecutorService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fedexec::service

#endif  // FEDEXEC_SERVICE_EXECUTOR_SERVICE_H_
