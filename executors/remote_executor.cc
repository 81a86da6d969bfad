// RemoteExecutor: see remote_executor.h.
//
// Threads and locks. One mutex (mu_) guards all mutable state, including
// the fields of RemoteValues and AsyncCalls. No gRPC function is ever called
// with mu_ held: gRPC may run completion callbacks inline at the end of an
// API call made from an application thread (StartCall, TryCancel), and
// those callbacks take mu_. For the same reason a RemoteValue (whose
// destructor queues its ref for disposal, which may start an RPC) is never
// released with mu_ held. Data handed to a callback is published under mu_
// (or before a lock of mu_ that precedes the RPC's start), so that
// ThreadSanitizer, which cannot see the synchronization inside Debian's
// uninstrumented gRPC, sees the order too.
#include "executors/remote_executor.h"

#include <grpcpp/alarm.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <algorithm>
#include <chrono>
#include <list>
#include <random>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "core/cancellation.h"
#include "core/mutex.h"
#include "core/placement.h"
#include "core/status.h"
#include "executors/function.h"
#include "fedexec/v1/executor_stream.grpc.pb.h"
#include "ir/proto_codec.h"
#include "ir/type.h"
#include "ir/type_checker.h"
#include "ir/value_proto.h"
#include "ir/value_syntax.h"
#include "net/grpc_channel.h"
#include "tensorflow_federated/v0/executor.grpc.pb.h"

namespace fedexec::exec {

namespace v0 = ::tensorflow_federated::v0;
namespace v1 = ::fedexec::v1;

namespace {

// How long the destructor's DisposeExecutor (and Cancel's) may take.
constexpr absl::Duration kDisposeExecutorTimeout = absl::Seconds(2);

// A worker's error that carries a location mark (exec::HasLocation) comes
// with kLocatedErrorDetails (net/grpc_channel.h); the location mark's payload,
// as executors/function.cc sets it.
constexpr char kLocationPayload[] = "fedexec.dev/where";

absl::string_view View(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

std::string RandomClientId() {
  std::random_device device;
  const uint64_t high = device();
  const uint64_t low = device();
  return absl::StrCat(absl::Hex((high << 32) | low, absl::kZeroPad16));
}

// A factor in [1 - jitter, 1 + jitter].
double JitterFactor(double jitter) {
  if (jitter <= 0) return 1.0;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> uniform(-jitter, jitter);
  return 1.0 + uniform(rng);
}

// Functions cross the wire as their closed IR node; arrays as `arrays`.
const ir::ValueToProtoOptions& OptionsFor(ir::ArrayEncoding arrays) {
  static const auto make = [](ir::ArrayEncoding encoding) {
    auto* o = new ir::ValueToProtoOptions;
    o->encode_function =
        [](const FunctionValue& f) -> absl::StatusOr<ir::NodePtr> {
      const auto* function = dynamic_cast<const Function*>(&f);
      if (function == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(f.Describe(), " cannot be sent to a worker"));
      }
      return function->ToNode();
    };
    o->arrays = encoding;
    return o;
  };
  static const ir::ValueToProtoOptions* const content =
      make(ir::ArrayEncoding::kContent);
  static const ir::ValueToProtoOptions* const lists =
      make(ir::ArrayEncoding::kTypedLists);
  return arrays == ir::ArrayEncoding::kContent ? *content : *lists;
}

// What a foreign worker's answer leaves out of its federated values, taken
// from `type`, the type the value was created as: the member type, and
// all_equal (an all-equal value sent as one member per client keeps the
// first). Parts that do not have the expected form are left alone for the
// decoder to judge.
void FillFromType(v0::Value* proto, const ir::Type& type, int depth) {
  if (depth > ir::kMaxValueDepth) return;
  if (proto->has_federated() && type.kind() == ir::TypeKind::kFederated) {
    v0::Value::Federated* f = proto->mutable_federated();
    federated_language::FederatedType* t = f->mutable_type();
    if (!t->has_member()) {
      federated_language::Type wrapper;
      ir::TypeToProto(type, &wrapper);
      if (wrapper.has_federated() && wrapper.federated().has_member()) {
        *t->mutable_member() = wrapper.federated().member();
      }
    }
    if (type.all_equal() && !t->all_equal() && f->value_size() >= 1) {
      f->mutable_value()->DeleteSubrange(1, f->value_size() - 1);
      t->set_all_equal(true);
    }
    for (v0::Value& member : *f->mutable_value()) {
      FillFromType(&member, type.member(), depth + 1);
    }
    return;
  }
  if (proto->has_struct_() && type.kind() == ir::TypeKind::kStruct &&
      static_cast<size_t>(proto->struct_().element_size()) ==
          type.elements().size()) {
    for (int i = 0; i < proto->struct_().element_size(); ++i) {
      FillFromType(
          proto->mutable_struct_()->mutable_element(i)->mutable_value(),
          type.elements()[static_cast<size_t>(i)].type, depth + 1);
    }
  }
}

// TensorFlow Federated 0.87's worker reads the arrays of federated members
// as typed lists when they are scalars and only as `content` otherwise
// ("Expected a content field, found none"); elsewhere typed lists. Moves
// the arrays of `content` (the same value encoded with content) into
// `lists` where that worker needs them.
void UseContentInMembers(v0::Value* lists, const v0::Value& content,
                         bool in_member, int depth) {
  if (depth > ir::kMaxValueDepth ||
      lists->value_case() != content.value_case()) {
    return;
  }
  switch (lists->value_case()) {
    case v0::Value::kArray:
      if (in_member && lists->array().shape().dim_size() > 0 &&
          content.array().has_content()) {
        *lists->mutable_array() = content.array();
      }
      return;
    case v0::Value::kStruct:
      if (lists->struct_().element_size() != content.struct_().element_size()) {
        return;
      }
      for (int i = 0; i < content.struct_().element_size(); ++i) {
        UseContentInMembers(
            lists->mutable_struct_()->mutable_element(i)->mutable_value(),
            content.struct_().element(i).value(), in_member, depth + 1);
      }
      return;
    case v0::Value::kFederated:
      if (lists->federated().value_size() != content.federated().value_size()) {
        return;
      }
      for (int i = 0; i < content.federated().value_size(); ++i) {
        UseContentInMembers(lists->mutable_federated()->mutable_value(i),
                            content.federated().value(i), true, depth + 1);
      }
      return;
    default:
      return;
  }
}

// What the protocol calls the operation of a batch.
std::string_view MethodOf(const v1::BatchOperation& op) {
  switch (op.operation_case()) {
    case v1::BatchOperation::kCreateValue:
      return "CreateValue";
    case v1::BatchOperation::kCreateCall:
      return "CreateCall";
    case v1::BatchOperation::kCreateStruct:
      return "CreateStruct";
    case v1::BatchOperation::kCreateSelection:
      return "CreateSelection";
    default:
      return "ExecuteBatch";
  }
}

// A copy that shares nothing with `status` (see CopyStatus), the worker
// payload kept.
absl::Status CopyRemoteStatus(const absl::Status& status) {
  absl::Status out = CopyStatus(status);
  if (auto worker = status.GetPayload(kWorkerPayload)) {
    out.SetPayload(kWorkerPayload, absl::Cord(std::string(*worker)));
  }
  return out;
}

absl::Status Prefixed(const absl::Status& status, std::string_view prefix) {
  return absl::Status(status.code(),
                      absl::StrCat(View(prefix), status.message()));
}

absl::Status ValidateOptions(const RemoteOptions& o) {
  auto bad = [](std::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("RemoteExecutor options: ", View(what)));
  };
  if (o.call_timeout <= absl::ZeroDuration()) {
    return bad("call_timeout must be positive");
  }
  if (o.compute_timeout <= absl::ZeroDuration()) {
    return bad("compute_timeout must be positive");
  }
  if (o.attempt_timeout <= absl::ZeroDuration()) {
    return bad("attempt_timeout must be positive");
  }
  if (o.max_attempts < 1) return bad("max_attempts must be at least 1");
  if (o.initial_backoff < absl::ZeroDuration() ||
      o.max_backoff < absl::ZeroDuration()) {
    return bad("backoffs must not be negative");
  }
  if (!(o.backoff_multiplier >= 1.0)) {
    return bad("backoff_multiplier must be at least 1");
  }
  if (!(o.jitter >= 0.0 && o.jitter <= 1.0)) {
    return bad("jitter must be in [0, 1]");
  }
  if (o.stream_threshold_bytes < 0) {
    return bad("stream_threshold_bytes must not be negative");
  }
  if (o.chunk_bytes < 1) return bad("chunk_bytes must be at least 1");
  return absl::OkStatus();
}

}  // namespace

std::optional<std::string> WorkerOf(const absl::Status& status) {
  auto worker = status.GetPayload(kWorkerPayload);
  if (!worker.has_value()) return std::nullopt;
  return std::string(*worker);
}

// ------------------------------------------------------------ internals

struct RemoteExecutor::Stubs {
  explicit Stubs(const std::shared_ptr<grpc::Channel>& channel)
      : group(v0::ExecutorGroup::NewStub(channel)),
        stream(v1::ExecutorStream::NewStub(channel)) {}
  std::unique_ptr<v0::ExecutorGroup::Stub> group;
  std::unique_ptr<v1::ExecutorStream::Stub> stream;
};

// A value of the worker, as this process knows it. Holders: the table of
// local ids, operations that read its ref and have not finished. When the
// last one lets go, its ref is queued for remote disposal.
struct RemoteExecutor::RemoteValue {
  explicit RemoteValue(RemoteExecutor* owner) : owner(owner) {}
  ~RemoteValue() {
    if (!ref.empty()) owner->QueueDispose(std::move(ref));
  }
  RemoteExecutor* const owner;
  // Guarded by owner->mu_ until `resolved`; constant afterwards.
  bool resolved = false;
  // While in the pending batch: its serial and the operation's position
  // there (guarded by owner->mu_).
  uint64_t batch = 0;
  size_t slot = 0;
  std::string ref;      // when resolved without error
  absl::Status status;  // when resolved with an error
  std::vector<std::function<void()>> waiters;
  // What it was created as, when known (foreign workers only): set before
  // the value is registered, constant afterwards.
  std::optional<ir::Type> type;
};

// A unary call with its retries. Fields after `done` are guarded by mu_.
struct RemoteExecutor::AsyncCall {
  absl::Time deadline;
  std::string request_id;
  std::string_view method;
  AsyncAttempt attempt;
  std::function<void(absl::Status)> done;
  int attempts = 0;
  std::shared_ptr<grpc::ClientContext> context;  // the attempt in flight
  std::shared_ptr<grpc::Alarm> alarm;            // the backoff in progress
};

struct RemoteExecutor::Upload {
  ValuePtr result;
  Value value;
  std::string request_id;
};

// --------------------------------------------------------- construction

RemoteExecutor::RemoteExecutor(std::shared_ptr<grpc::Channel> channel,
                               RemoteOptions options)
    : channel_(std::move(channel)),
      options_(std::move(options)),
      name_(options_.name.empty() ? "remote" : options_.name),
      client_id_(RandomClientId()),
      stubs_(std::make_unique<Stubs>(channel_)),
      protocol_(options_.protocol) {}

absl::StatusOr<std::unique_ptr<RemoteExecutor>> RemoteExecutor::Create(
    std::shared_ptr<grpc::Channel> channel, int64_t num_clients,
    RemoteOptions options) {
  if (channel == nullptr) {
    return absl::InvalidArgumentError("RemoteExecutor: null channel");
  }
  if (num_clients < 0 || num_clients > INT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("RemoteExecutor: num_clients is ", num_clients,
                     ", must be in [0, ", INT32_MAX, "]"));
  }
  FEDEXEC_RETURN_IF_ERROR(ValidateOptions(options));
  std::unique_ptr<RemoteExecutor> executor(
      new RemoteExecutor(std::move(channel), std::move(options)));

  v0::GetExecutorResponse response;
  {
    // A cancellation of the caller (core/cancellation.h: a call whose stack
    // is being built) stops the blocking calls below at once.
    CancelSubscription cancellation([raw = executor.get()] { raw->Cancel(); });
    FEDEXEC_RETURN_IF_ERROR(executor->AskWorker(num_clients, response));
  }
  if (response.executor().id().empty()) {
    return executor->Named(absl::StatusCode::kInternal,
                           "GetExecutor answered without an executor id");
  }
  executor->executor_id_ = response.executor().id();
  return executor;
}

absl::Status RemoteExecutor::AskWorker(int64_t num_clients,
                                       v0::GetExecutorResponse& response) {
  if (protocol_ == WorkerProtocol::kAsk) {
    // A worker without fedexec's extension answers UNIMPLEMENTED.
    v1::WorkerInfo info;
    const absl::Status asked =
        RunBlocking(DeadlineIn(options_.call_timeout), "", "GetWorkerInfo",
                    [&](grpc::ClientContext& context) {
                      return stubs_->stream->GetWorkerInfo(
                          &context, v1::GetWorkerInfoRequest(), &info);
                    });
    if (asked.ok()) {
      protocol_ = WorkerProtocol::kFedexec;
    } else if (asked.code() == absl::StatusCode::kUnimplemented) {
      protocol_ = WorkerProtocol::kPlain;
    } else {
      return asked;
    }
  }
  if (Plain()) {
    MutexLock lock(mu_);
    batches_unimplemented_ = true;
    streams_unimplemented_ = true;
  }

  v0::GetExecutorRequest request;
  v0::Cardinality* clients = request.add_cardinalities();
  clients->mutable_placement()->set_uri(
      std::string(PlacementUri(Placement::kClients)));
  clients->set_cardinality(static_cast<int32_t>(num_clients));
  return RunBlocking(DeadlineIn(options_.call_timeout), NextRequestId(),
                     "GetExecutor", [&](grpc::ClientContext& context) {
                       return stubs_->group->GetExecutor(&context, request,
                                                         &response);
                     });
}

RemoteExecutor::~RemoteExecutor() {
  std::vector<std::shared_ptr<grpc::ClientContext>> contexts;
  std::vector<std::shared_ptr<grpc::Alarm>> alarms;
  bool dispose_executor = false;
  {
    MutexLock lock(mu_);
    shutting_down_ = true;
    contexts.assign(contexts_.begin(), contexts_.end());
    alarms.assign(alarms_.begin(), alarms_.end());
    dispose_executor = !executor_disposed_ && !executor_id_.empty();
    executor_disposed_ = true;
  }
  DropPending();
  cancel_cv_.SignalAll();
  uploads_cv_.SignalAll();
  for (const auto& context : contexts) context->TryCancel();
  for (const auto& alarm : alarms) alarm->Cancel();
  contexts.clear();
  alarms.clear();
  // No thread is started once shutting_down_ is set.
  if (uploader_.joinable()) uploader_.join();
  {
    MutexLock lock(mu_);
    while (in_flight_ != 0) idle_cv_.Wait(mu_);
  }
  // Every value is resolved now; the worker frees what they hold at
  // DisposeExecutor (their destructors queue nothing while shutting down).
  absl::flat_hash_map<ValueId, ValuePtr> values;
  {
    MutexLock lock(mu_);
    values.swap(values_);
  }
  values.clear();
  if (dispose_executor) DisposeRemoteExecutor(/*blocking=*/true);
}

// ----------------------------------------------------------- local ids

OwnedValue RemoteExecutor::Register(ValuePtr value) {
  MutexLock lock(mu_);
  const ValueId id = next_id_++;
  values_.emplace(id, std::move(value));
  return OwnedValue(this, id);
}

absl::StatusOr<RemoteExecutor::ValuePtr> RemoteExecutor::Lookup(
    ValueId id, std::string_view what) const {
  MutexLock lock(mu_);
  auto it = values_.find(id);
  if (it == values_.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(View(what), ": unknown value id ", id));
  }
  return it->second;
}

int64_t RemoteExecutor::NumValues() const {
  MutexLock lock(mu_);
  return static_cast<int64_t>(values_.size());
}

absl::Status RemoteExecutor::Dispose(ValueId value) {
  ValuePtr released;  // let go of after the lock (see the file comment)
  {
    MutexLock lock(mu_);
    auto it = values_.find(value);
    if (it == values_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Dispose: unknown value id ", value));
    }
    released = std::move(it->second);
    values_.erase(it);
  }
  return absl::OkStatus();
}

// ----------------------------------------------------------- resolution

void RemoteExecutor::Resolve(const ValuePtr& value,
                             absl::StatusOr<std::string> ref) {
  std::vector<std::function<void()>> waiters;
  {
    MutexLock lock(mu_);
    value->resolved = true;
    if (ref.ok()) {
      value->ref = *std::move(ref);
    } else {
      value->status = CopyRemoteStatus(ref.status());
    }
    waiters.swap(value->waiters);
  }
  resolved_cv_.SignalAll();
  for (auto& waiter : waiters) waiter();
}

void RemoteExecutor::WhenResolved(const std::vector<ValuePtr>& values,
                                  std::function<void()> fn) {
  // One count for each pending value, one for this registration.
  auto remaining = std::make_shared<std::atomic<int>>(1);
  auto shared_fn = std::make_shared<std::function<void()>>(std::move(fn));
  {
    MutexLock lock(mu_);
    for (const ValuePtr& value : values) {
      if (value->resolved) continue;
      remaining->fetch_add(1);
      value->waiters.push_back([remaining, shared_fn] {
        if (remaining->fetch_sub(1) == 1) (*shared_fn)();
      });
    }
  }
  if (remaining->fetch_sub(1) == 1) (*shared_fn)();
}

absl::StatusOr<std::string> RemoteExecutor::AwaitRef(const ValuePtr& value) {
  bool flush = false;
  bool counted = false;
  {
    MutexLock lock(mu_);
    if (!value->resolved) {
      // Counted while waiting: what joins the pending batch meanwhile (a
      // create chained on a batch in flight) goes out at once.
      ++blocked_;
      counted = true;
      flush = !pending_.empty() || pending_aggregate_ != nullptr;
    }
  }
  if (flush) Flush();
  MutexLock lock(mu_);
  while (!value->resolved) resolved_cv_.Wait(mu_);
  if (counted) --blocked_;
  if (!value->status.ok()) return CopyRemoteStatus(value->status);
  return value->ref;
}

absl::Status RemoteExecutor::OperandsStatus(
    const std::vector<ValuePtr>& values) const {
  MutexLock lock(mu_);
  for (const ValuePtr& value : values) {
    if (!value->status.ok()) return CopyRemoteStatus(value->status);
  }
  return absl::OkStatus();
}

template <typename Request, typename Response>
void RemoteExecutor::ChainCreate(
    const ValuePtr& result, std::vector<ValuePtr> operands, FillOp fill,
    std::function<void(fedexec::v1::BatchOperation&, Request&)> take,
    SendFn<Request, Response> send) {
  std::string request_id = NextRequestId();
  const std::vector<ValuePtr> waited = operands;
  WhenResolved(
      waited, [this, result, operands = std::move(operands),
               fill = std::move(fill), take = std::move(take),
               send = std::move(send), request_id = std::move(request_id)] {
        absl::Status status = OperandsStatus(operands);
        if (status.ok()) {
          MutexLock lock(mu_);
          status = UnusableOrCancelled();
        }
        if (!status.ok()) {
          Resolve(result, std::move(status));
          return;
        }
        std::vector<std::string> refs;
        refs.reserve(operands.size());
        for (const ValuePtr& operand : operands) refs.push_back(operand->ref);
        auto request = std::make_shared<Request>();
        v1::BatchOperation op;
        fill(op, refs);
        const std::string_view method = MethodOf(op);
        take(op, *request);
        request->mutable_executor()->set_id(executor_id_);
        auto response = std::make_shared<Response>();
        StartAsync(
            DeadlineIn(options_.call_timeout), request_id, method,
            [request, response, send](grpc::ClientContext* context,
                                      std::function<void(grpc::Status)> done) {
              send(context, request.get(), response.get(), std::move(done));
            },
            // The operands stay alive (and so their refs undisposed) until the
            // worker has answered.
            [this, result, operands, response](absl::Status status) {
              if (status.ok() && response->value_ref().id().empty()) {
                status = Named(absl::StatusCode::kInternal,
                               "the worker answered without a value ref");
              }
              if (status.ok()) {
                Resolve(result, std::string(response->value_ref().id()));
              } else {
                Resolve(result, std::move(status));
              }
            });
      });
}

// -------------------------------------------------------------- batches

namespace {

// Operations and encoded bytes that make a pending batch go out without
// waiting for demand; refs that make disposals go out on their own.
constexpr size_t kMaxBatchOperations = 256;
constexpr int64_t kMaxBatchBytes = int64_t{1} << 20;
constexpr size_t kMaxQueuedDisposals = 4096;

// The executor whose batch answer this thread is handling: creates it
// chains into the next batch then wait for the end of the answer, so that
// they go out together.
thread_local const RemoteExecutor* completing_batch = nullptr;

}  // namespace

struct RemoteExecutor::PendingOp {
  ValuePtr result;
  std::vector<ValuePtr> operands;  // held until the batch is answered
  v1::BatchOperation op;
  std::string_view method;      // for messages (MethodOf)
  std::function<void()> alone;  // the operation as its own call
};

// A PartialAggregate riding in a batch, and its answer.
struct RemoteExecutor::AggregateWaiter {
  v1::PartialAggregateRequest request;
  std::vector<ValuePtr> operands;  // held until answered

  void Finish(absl::Status s, v1::PartialAggregateResponse* r = nullptr) {
    {
      MutexLock lock(mu);
      if (done) return;
      status = CopyRemoteStatus(s);
      if (r != nullptr) response.Swap(r);
      done = true;
    }
    cv.SignalAll();
  }
  absl::Status Wait() {
    MutexLock lock(mu);
    while (!done) cv.Wait(mu);
    return CopyRemoteStatus(status);
  }

  Mutex mu;
  CondVar cv;
  bool done FEDEXEC_GUARDED_BY(mu) = false;
  absl::Status status FEDEXEC_GUARDED_BY(mu);
  // Guarded by mu until done, then constant (read without the lock).
  v1::PartialAggregateResponse response;
};

bool RemoteExecutor::Batching() const {
  MutexLock lock(mu_);
  return options_.batch && !batches_unimplemented_;
}

bool RemoteExecutor::ShouldFlushLocked() const {
  if (pending_.size() >= kMaxBatchOperations ||
      pending_bytes_ >= kMaxBatchBytes) {
    return true;
  }
  return blocked_ > 0 && completing_batch != this;
}

std::optional<std::string> RemoteExecutor::BatchRefLocked(
    const RemoteValue& value) const {
  if (value.resolved) return value.ref;
  if (value.batch == pending_serial_) return absl::StrCat("#", value.slot);
  return std::nullopt;
}

void RemoteExecutor::Submit(const ValuePtr& result,
                            std::vector<ValuePtr> operands, FillOp fill,
                            std::function<void()> alone) {
  bool one_call = false;
  bool flush = false;
  absl::Status failed;
  std::vector<ValuePtr> in_flight;
  {
    MutexLock lock(mu_);
    one_call = !options_.batch || batches_unimplemented_;
    if (!one_call) failed = UnusableOrCancelled();
    std::vector<std::string> refs;
    for (const ValuePtr& operand : operands) {
      if (one_call || !failed.ok()) break;
      if (operand->resolved && !operand->status.ok()) {
        failed = CopyRemoteStatus(operand->status);
        break;
      }
      std::optional<std::string> ref = BatchRefLocked(*operand);
      if (ref.has_value()) {
        refs.push_back(*std::move(ref));
      } else {
        in_flight.push_back(operand);
      }
    }
    if (!one_call && failed.ok() && in_flight.empty()) {
      auto op = std::make_unique<PendingOp>();
      fill(op->op, refs);
      op->method = MethodOf(op->op);
      op->result = result;
      op->operands = std::move(operands);
      op->alone = std::move(alone);
      result->batch = pending_serial_;
      result->slot = pending_.size();
      pending_bytes_ += static_cast<int64_t>(op->op.ByteSizeLong());
      pending_.push_back(std::move(op));
      flush = ShouldFlushLocked();
    }
  }
  if (one_call) {
    alone();
  } else if (!failed.ok()) {
    Resolve(result, std::move(failed));
  } else if (!in_flight.empty()) {
    // Joins a later batch once the one in flight has answered.
    WhenResolved(in_flight, [this, result, operands = std::move(operands),
                             fill = std::move(fill),
                             alone = std::move(alone)]() mutable {
      Submit(result, std::move(operands), std::move(fill), std::move(alone));
    });
  } else if (flush) {
    Flush();
  }
}

void RemoteExecutor::Flush() {
  auto ops = std::make_shared<std::vector<std::unique_ptr<PendingOp>>>();
  std::shared_ptr<AggregateWaiter> aggregate;
  auto request = std::make_shared<v1::ExecuteBatchRequest>();
  {
    MutexLock lock(mu_);
    if (pending_.empty() && pending_aggregate_ == nullptr) return;
    ops->swap(pending_);
    aggregate = std::move(pending_aggregate_);
    pending_bytes_ = 0;
    ++pending_serial_;
    for (const auto& op : *ops) op->result->batch = 0;  // in flight now
    // Refs released meanwhile ride along.
    for (std::string& ref : dispose_queue_) {
      request->add_dispose()->set_id(std::move(ref));
    }
    if (!dispose_queue_.empty()) {
      ++stats_.dispose_rpcs;
      stats_.disposed_refs += static_cast<int64_t>(dispose_queue_.size());
    }
    dispose_queue_.clear();
    ++stats_.batches;
    stats_.batched_operations += static_cast<int64_t>(ops->size());
  }
  request->mutable_executor()->set_id(executor_id_);
  for (const auto& op : *ops) request->add_operation()->Swap(&op->op);
  if (aggregate != nullptr) *request->mutable_aggregate() = aggregate->request;
  auto response = std::make_shared<v1::ExecuteBatchResponse>();
  StartAsync(
      DeadlineIn(aggregate != nullptr ? options_.compute_timeout
                                      : options_.call_timeout),
      NextRequestId(), "ExecuteBatch",
      [this, request, response](grpc::ClientContext* context,
                                std::function<void(grpc::Status)> done) {
        response->Clear();
        stubs_->stream->async()->ExecuteBatch(context, request.get(),
                                              response.get(), std::move(done));
      },
      [this, ops, aggregate, response](absl::Status status) {
        OnBatchDone(std::move(*ops), aggregate, *response, std::move(status));
      });
}

void RemoteExecutor::OnBatchDone(std::vector<std::unique_ptr<PendingOp>> ops,
                                 std::shared_ptr<AggregateWaiter> aggregate,
                                 const v1::ExecuteBatchResponse& response,
                                 absl::Status status) {
  const RemoteExecutor* outer = completing_batch;
  completing_batch = this;
  if (status.code() == absl::StatusCode::kUnimplemented) {
    // A server of the plain protocol: every operation alone from now on,
    // the ones gathered meanwhile too (in order).
    std::vector<std::unique_ptr<PendingOp>> later;
    std::shared_ptr<AggregateWaiter> later_aggregate;
    {
      MutexLock lock(mu_);
      batches_unimplemented_ = true;
      later.swap(pending_);
      later_aggregate = std::move(pending_aggregate_);
      pending_bytes_ = 0;
      ++pending_serial_;
    }
    SendAlone(std::move(ops));
    SendAlone(std::move(later));
    for (const auto& a : {aggregate, later_aggregate}) {
      if (a != nullptr) a->Finish(status);  // it falls back to its own call
    }
  } else if (!status.ok()) {
    for (const auto& op : ops) Resolve(op->result, status);
    if (aggregate != nullptr) aggregate->Finish(status);
  } else {
    for (size_t k = 0; k < ops.size(); ++k) {
      PendingOp& op = *ops[k];
      // An operand that failed (earlier in this batch, say) fails its
      // dependents with its own error.
      absl::Status failed = OperandsStatus(op.operands);
      if (!failed.ok()) {
        Resolve(op.result, std::move(failed));
      } else if (static_cast<int>(k) >= response.result_size()) {
        Resolve(
            op.result,
            Named(absl::StatusCode::kInternal,
                  absl::StrCat("ExecuteBatch answered ", response.result_size(),
                               " results for ", ops.size(), " operations")));
      } else if (const v1::BatchResult& r = response.result(k); r.code() != 0) {
        Resolve(op.result, FromWire(static_cast<absl::StatusCode>(r.code()),
                                    r.message(), r.located(), 1, op.method));
      } else if (r.value_ref().id().empty()) {
        Resolve(op.result, Named(absl::StatusCode::kInternal,
                                 "the worker answered without a value ref"));
      } else {
        Resolve(op.result, std::string(r.value_ref().id()));
      }
    }
    if (aggregate != nullptr) {
      if (response.aggregate_error().code() != 0) {
        const v1::BatchResult& e = response.aggregate_error();
        aggregate->Finish(FromWire(static_cast<absl::StatusCode>(e.code()),
                                   e.message(), e.located(), 1,
                                   "PartialAggregate"));
      } else {
        v1::PartialAggregateResponse answer = response.aggregate();
        aggregate->Finish(absl::OkStatus(), &answer);
      }
    }
  }
  ops.clear();  // lets go of operands (their refs may queue for disposal)
  completing_batch = outer;
  bool flush = false;
  {
    MutexLock lock(mu_);
    flush = (!pending_.empty() || pending_aggregate_ != nullptr) &&
            (blocked_ > 0 || pending_.size() >= kMaxBatchOperations ||
             pending_bytes_ >= kMaxBatchBytes);
  }
  if (flush) Flush();
}

void RemoteExecutor::DropPending() {
  std::vector<std::unique_ptr<PendingOp>> ops;
  std::shared_ptr<AggregateWaiter> aggregate;
  absl::Status status;
  {
    MutexLock lock(mu_);
    ops.swap(pending_);
    aggregate = std::move(pending_aggregate_);
    pending_bytes_ = 0;
    ++pending_serial_;
    status = UnusableOrCancelled();
  }
  for (const auto& op : ops) Resolve(op->result, status);
  if (aggregate != nullptr) aggregate->Finish(status);
}

void RemoteExecutor::SendAlone(std::vector<std::unique_ptr<PendingOp>> ops) {
  for (const auto& op : ops) {
    {
      MutexLock lock(mu_);
      op->result->batch = 0;
    }
    op->alone();
  }
}

// -------------------------------------------------------------- creates

namespace {

// Computations encoded for the wire, by tree (which the cache holds, so a
// key never names another tree): a coordinator sends the same functions
// to every worker every round, and encodes each once. The most recently
// used kCachedComputations are kept.
constexpr size_t kCachedComputations = 64;

class EncodedComputations {
 public:
  static EncodedComputations& Get() {
    static EncodedComputations* const cache = new EncodedComputations();
    return *cache;
  }

  absl::StatusOr<std::shared_ptr<const v0::Value>> Encode(
      const ir::NodePtr& node) {
    {
      MutexLock lock(mu_);
      auto it = entries_.find(node.get());
      if (it != entries_.end()) {
        order_.splice(order_.begin(), order_, it->second.position);
        return it->second.value;
      }
    }
    absl::StatusOr<federated_language::Computation> proto =
        ir::ComputationToProto(node);
    if (!proto.ok()) return proto.status();
    auto value = std::make_shared<v0::Value>();
    value->mutable_computation()->Swap(&*proto);
    MutexLock lock(mu_);
    if (!entries_.contains(node.get())) {
      order_.push_front(node);
      entries_.emplace(node.get(), Entry{value, order_.begin()});
      if (order_.size() > kCachedComputations) {
        entries_.erase(order_.back().get());
        order_.pop_back();
      }
    }
    return std::shared_ptr<const v0::Value>(std::move(value));
  }

 private:
  struct Entry {
    std::shared_ptr<const v0::Value> value;
    std::list<ir::NodePtr>::iterator position;
  };
  Mutex mu_;
  absl::flat_hash_map<const ir::Node*, Entry> entries_ FEDEXEC_GUARDED_BY(mu_);
  std::list<ir::NodePtr> order_ FEDEXEC_GUARDED_BY(mu_);  // holds the trees
};

}  // namespace

absl::StatusOr<OwnedValue> RemoteExecutor::CreateValue(const Value& value) {
  if (value.is_function()) {
    // Sent as its tree, through the cache of encoded trees.
    const auto* function =
        dynamic_cast<const Function*>(value.function().get());
    if (function == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("CreateValue: ", value.function()->Describe(),
                       " cannot be sent to a worker"));
    }
    absl::StatusOr<ir::NodePtr> node = function->ToNode();
    if (!node.ok()) return Prefixed(node.status(), "CreateValue: ");
    return CreateValue(*node);
  }
  auto result = std::make_shared<RemoteValue>(this);
  if (Plain()) {
    absl::StatusOr<ir::Type> type = ir::ValueTypeOf(value);
    if (type.ok()) result->type = *std::move(type);
  }
  if (ir::ArrayBytes(value) > options_.stream_threshold_bytes) {
    OwnedValue handle = Register(result);
    StartUpload(std::move(result), value);
    return handle;
  }
  auto proto = std::make_shared<v0::Value>();
  absl::Status encoded = Encode(value, proto.get());
  if (!encoded.ok()) return Prefixed(encoded, "CreateValue: ");
  OwnedValue handle = Register(result);
  SubmitCreateValue(result, std::move(proto));
  return handle;
}

void RemoteExecutor::SubmitCreateValue(const ValuePtr& result,
                                       std::shared_ptr<const v0::Value> proto) {
  // Copied, not moved: a batch that turns out unsupported sends it again.
  FillOp fill = [proto](v1::BatchOperation& op,
                        const std::vector<std::string>&) {
    *op.mutable_create_value()->mutable_value() = *proto;
  };
  Submit(result, {}, fill, [this, result, fill] {
    ChainCreate<v0::CreateValueRequest, v0::CreateValueResponse>(
        result, {}, fill,
        [](v1::BatchOperation& op, v0::CreateValueRequest& request) {
          request.Swap(op.mutable_create_value());
        },
        [this](grpc::ClientContext* context,
               const v0::CreateValueRequest* request,
               v0::CreateValueResponse* response,
               std::function<void(grpc::Status)> done) {
          stubs_->group->async()->CreateValue(context, request, response,
                                              std::move(done));
        });
  });
}

absl::StatusOr<OwnedValue> RemoteExecutor::CreateValue(
    const ir::NodePtr& computation) {
  if (computation == nullptr) {
    return absl::InvalidArgumentError("CreateValue: null computation");
  }
  ir::NodePtr checked = computation;
  if (!computation->type().has_value()) {
    FEDEXEC_ASSIGN_OR_RETURN(checked, ir::CheckComputation(computation));
  }
  absl::StatusOr<std::shared_ptr<const v0::Value>> value =
      EncodedComputations::Get().Encode(checked);
  if (!value.ok()) return Prefixed(value.status(), "CreateValue: ");
  auto result = std::make_shared<RemoteValue>(this);
  if (Plain() && checked->type().has_value()) result->type = *checked->type();
  OwnedValue handle = Register(result);
  SubmitCreateValue(result, *std::move(value));
  return handle;
}

absl::StatusOr<OwnedValue> RemoteExecutor::CreateCall(
    ValueId function, std::optional<ValueId> argument) {
  FEDEXEC_ASSIGN_OR_RETURN(ValuePtr fn, Lookup(function, "CreateCall"));
  std::vector<ValuePtr> operands = {fn};
  if (argument.has_value()) {
    FEDEXEC_ASSIGN_OR_RETURN(ValuePtr arg, Lookup(*argument, "CreateCall"));
    operands.push_back(std::move(arg));
  }
  auto result = std::make_shared<RemoteValue>(this);
  if (fn->type.has_value() && fn->type->kind() == ir::TypeKind::kFunction) {
    result->type = fn->type->result();
  }
  OwnedValue handle = Register(result);
  FillOp fill = [](v1::BatchOperation& op,
                   const std::vector<std::string>& refs) {
    v0::CreateCallRequest* call = op.mutable_create_call();
    call->mutable_function_ref()->set_id(refs[0]);
    if (refs.size() > 1) call->mutable_argument_ref()->set_id(refs[1]);
  };
  Submit(result, operands, fill, [this, result, operands, fill] {
    ChainCreate<v0::CreateCallRequest, v0::CreateCallResponse>(
        result, operands, fill,
        [](v1::BatchOperation& op, v0::CreateCallRequest& request) {
          request.Swap(op.mutable_create_call());
        },
        [this](grpc::ClientContext* context,
               const v0::CreateCallRequest* request,
               v0::CreateCallResponse* response,
               std::function<void(grpc::Status)> done) {
          stubs_->group->async()->CreateCall(context, request, response,
                                             std::move(done));
        });
  });
  return handle;
}

absl::StatusOr<OwnedValue> RemoteExecutor::CreateStruct(
    const std::vector<StructElementId>& elements) {
  std::vector<ValuePtr> operands;
  std::vector<std::string> names;
  operands.reserve(elements.size());
  names.reserve(elements.size());
  std::vector<ir::StructElementType> types;
  bool typed = Plain();
  for (const StructElementId& element : elements) {
    FEDEXEC_ASSIGN_OR_RETURN(ValuePtr value,
                             Lookup(element.value, "CreateStruct"));
    typed = typed && value->type.has_value();
    if (typed)
      types.push_back(ir::StructElementType{element.name, *value->type});
    operands.push_back(std::move(value));
    names.push_back(element.name);
  }
  auto result = std::make_shared<RemoteValue>(this);
  if (typed) result->type = ir::Type::Struct(std::move(types));
  OwnedValue handle = Register(result);
  FillOp fill = [names = std::move(names)](
                    v1::BatchOperation& op,
                    const std::vector<std::string>& refs) {
    v0::CreateStructRequest* request = op.mutable_create_struct();
    for (size_t i = 0; i < refs.size(); ++i) {
      v0::CreateStructRequest::Element* element = request->add_element();
      element->set_name(names[i]);
      element->mutable_value_ref()->set_id(refs[i]);
    }
  };
  Submit(result, operands, fill, [this, result, operands, fill] {
    ChainCreate<v0::CreateStructRequest, v0::CreateStructResponse>(
        result, operands, fill,
        [](v1::BatchOperation& op, v0::CreateStructRequest& request) {
          request.Swap(op.mutable_create_struct());
        },
        [this](grpc::ClientContext* context,
               const v0::CreateStructRequest* request,
               v0::CreateStructResponse* response,
               std::function<void(grpc::Status)> done) {
          stubs_->group->async()->CreateStruct(context, request, response,
                                               std::move(done));
        });
  });
  return handle;
}

absl::StatusOr<OwnedValue> RemoteExecutor::CreateSelection(ValueId source,
                                                           int index) {
  if (index < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("CreateSelection: index ", index, " is negative"));
  }
  FEDEXEC_ASSIGN_OR_RETURN(ValuePtr src, Lookup(source, "CreateSelection"));
  auto result = std::make_shared<RemoteValue>(this);
  if (src->type.has_value() && src->type->kind() == ir::TypeKind::kStruct &&
      static_cast<size_t>(index) < src->type->elements().size()) {
    result->type = src->type->elements()[static_cast<size_t>(index)].type;
  }
  OwnedValue handle = Register(result);
  FillOp fill = [index](v1::BatchOperation& op,
                        const std::vector<std::string>& refs) {
    v0::CreateSelectionRequest* request = op.mutable_create_selection();
    request->mutable_source_ref()->set_id(refs[0]);
    request->set_index(index);
  };
  std::vector<ValuePtr> operands = {src};
  Submit(result, operands, fill, [this, result, operands, fill] {
    ChainCreate<v0::CreateSelectionRequest, v0::CreateSelectionResponse>(
        result, operands, fill,
        [](v1::BatchOperation& op, v0::CreateSelectionRequest& request) {
          request.Swap(op.mutable_create_selection());
        },
        [this](grpc::ClientContext* context,
               const v0::CreateSelectionRequest* request,
               v0::CreateSelectionResponse* response,
               std::function<void(grpc::Status)> done) {
          stubs_->group->async()->CreateSelection(context, request, response,
                                                  std::move(done));
        });
  });
  return handle;
}

// ------------------------------------------------------------- uploads

void RemoteExecutor::StartUpload(ValuePtr result, Value value) {
  auto upload = std::make_unique<Upload>();
  upload->result = result;
  upload->value = std::move(value);
  upload->request_id = NextRequestId();
  {
    MutexLock lock(mu_);
    if (!shutting_down_) {
      ++in_flight_;
      uploads_.push_back(std::move(upload));
      if (!uploader_.joinable()) {
        uploader_ = std::thread([this] { UploaderLoop(); });
      }
    }
  }
  if (upload != nullptr) {  // shutting down: not queued
    Resolve(result, Named(absl::StatusCode::kCancelled,
                          "the computation was cancelled"));
    return;
  }
  uploads_cv_.Signal();
}

void RemoteExecutor::UploaderLoop() {
  while (true) {
    std::unique_ptr<Upload> upload;
    absl::Status status;
    {
      MutexLock lock(mu_);
      while (!shutting_down_ && uploads_.empty()) uploads_cv_.Wait(mu_);
      if (uploads_.empty()) return;
      upload = std::move(uploads_.front());
      uploads_.pop_front();
      status = UnusableOrCancelled();
    }
    Resolve(upload->result,
            status.ok() ? UploadValue(upload->value, upload->request_id)
                        : absl::StatusOr<std::string>(std::move(status)));
    upload.reset();
    EndOp();
  }
}

absl::StatusOr<std::string> RemoteExecutor::UploadValue(
    const Value& value, const std::string& request_id) {
  bool streams = true;
  {
    MutexLock lock(mu_);
    streams = !streams_unimplemented_;
  }
  if (!streams) return CreateValueUnary(value, request_id);
  std::string ref;
  absl::Status encode_error;
  const absl::Status status = RunBlocking(
      DeadlineIn(options_.compute_timeout), request_id, "CreateValueStream",
      [&](grpc::ClientContext& context) -> grpc::Status {
        v0::CreateValueResponse response;
        std::unique_ptr<grpc::ClientWriter<v1::CreateValueStreamRequest>>
            writer = stubs_->stream->CreateValueStream(&context, &response);
        bool first = true;
        bool closed = false;
        const absl::Status encoded = ir::ValueToChunks(
            value, options_.chunk_bytes,
            [&](v1::ValueChunk&& chunk) -> absl::Status {
              v1::CreateValueStreamRequest request;
              if (first) request.mutable_executor()->set_id(executor_id_);
              first = false;
              request.mutable_chunk()->Swap(&chunk);
              if (!writer->Write(request)) {
                closed = true;  // the worker ended the call: see Finish
                return absl::AbortedError("stream closed");
              }
              return absl::OkStatus();
            },
            EncodeOptions());
        if (!encoded.ok() && !closed) {
          encode_error = Prefixed(encoded, "CreateValue: ");
          context.TryCancel();
          (void)writer->Finish();
          return grpc::Status::OK;
        }
        if (!closed) writer->WritesDone();
        const grpc::Status finished = writer->Finish();
        if (finished.ok()) ref = response.value_ref().id();
        return finished;
      });
  if (!encode_error.ok()) return encode_error;
  if (status.code() == absl::StatusCode::kUnimplemented) {
    // A server without the stream extension, or a value the worker cannot
    // take: the unary call tells which.
    absl::StatusOr<std::string> unary = CreateValueUnary(value, request_id);
    if (unary.ok()) {
      MutexLock lock(mu_);
      streams_unimplemented_ = true;
    }
    return unary;
  }
  if (!status.ok()) return status;
  if (ref.empty()) {
    return Named(absl::StatusCode::kInternal,
                 "the worker answered without a value ref");
  }
  MutexLock lock(mu_);
  ++stats_.streamed_uploads;
  return ref;
}

absl::StatusOr<std::string> RemoteExecutor::CreateValueUnary(
    const Value& value, const std::string& request_id) {
  v0::CreateValueRequest request;
  absl::Status encoded = Encode(value, request.mutable_value());
  if (!encoded.ok()) return Prefixed(encoded, "CreateValue: ");
  request.mutable_executor()->set_id(executor_id_);
  v0::CreateValueResponse response;
  FEDEXEC_RETURN_IF_ERROR(RunBlocking(
      DeadlineIn(options_.compute_timeout), request_id, "CreateValue",
      [&](grpc::ClientContext& context) {
        return stubs_->group->CreateValue(&context, request, &response);
      }));
  if (response.value_ref().id().empty()) {
    return Named(absl::StatusCode::kInternal,
                 "the worker answered without a value ref");
  }
  return std::string(response.value_ref().id());
}

// ----------------------------------------------------------- materialize

absl::StatusOr<Value> RemoteExecutor::Materialize(ValueId value) {
  FEDEXEC_ASSIGN_OR_RETURN(ValuePtr remote, Lookup(value, "Materialize"));
  FEDEXEC_ASSIGN_OR_RETURN(std::string ref, AwaitRef(remote));
  {
    MutexLock lock(mu_);
    FEDEXEC_RETURN_IF_ERROR(UnusableOrCancelled());
  }
  // `remote` is held until the answer is in: its ref is not disposed of
  // meanwhile.
  return ComputeValue(ref, remote->type ? &*remote->type : nullptr);
}

absl::StatusOr<Value> RemoteExecutor::ComputeValue(const std::string& ref,
                                                   const ir::Type* type) {
  const absl::Time deadline = DeadlineIn(options_.compute_timeout);
  bool streams = true;
  {
    MutexLock lock(mu_);
    streams = !streams_unimplemented_;
  }
  auto unary = [&]() -> absl::StatusOr<Value> {
    v0::ComputeRequest request;
    request.mutable_value_ref()->set_id(ref);
    request.mutable_executor()->set_id(executor_id_);
    v0::ComputeResponse response;
    FEDEXEC_RETURN_IF_ERROR(
        RunBlocking(deadline, "", "Compute", [&](grpc::ClientContext& context) {
          response.Clear();
          return stubs_->group->Compute(&context, request, &response);
        }));
    if (type != nullptr) FillFromType(response.mutable_value(), *type, 0);
    absl::StatusOr<Value> decoded = ir::ValueFromProto(response.value());
    if (!decoded.ok()) {
      return Named(absl::StatusCode::kInternal,
                   absl::StrCat("malformed Compute answer: ",
                                decoded.status().message()));
    }
    return decoded;
  };
  if (!streams) return unary();

  std::optional<Value> value;
  absl::Status malformed;
  const absl::Status status =
      RunBlocking(deadline, "", "ComputeStream",
                  [&](grpc::ClientContext& context) -> grpc::Status {
                    v1::ComputeStreamRequest request;
                    request.mutable_value_ref()->set_id(ref);
                    request.mutable_executor()->set_id(executor_id_);
                    request.set_chunk_bytes(options_.chunk_bytes);
                    ir::ChunkAssembler assembler;
                    std::unique_ptr<grpc::ClientReader<v1::ValueChunk>> reader =
                        stubs_->stream->ComputeStream(&context, request);
                    v1::ValueChunk chunk;
                    absl::Status added;
                    while (reader->Read(&chunk)) {
                      if (!added.ok()) continue;  // draining after TryCancel
                      added = assembler.Add(chunk);
                      if (!added.ok()) context.TryCancel();
                    }
                    const grpc::Status finished = reader->Finish();
                    if (!added.ok()) {
                      malformed = added;
                      return grpc::Status::OK;
                    }
                    if (!finished.ok()) return finished;
                    absl::StatusOr<Value> assembled = assembler.Finish();
                    if (!assembled.ok()) {
                      malformed = assembled.status();
                      return grpc::Status::OK;
                    }
                    value = *std::move(assembled);
                    return grpc::Status::OK;
                  });
  if (!malformed.ok()) {
    return Named(
        absl::StatusCode::kInternal,
        absl::StrCat("malformed ComputeStream answer: ", malformed.message()));
  }
  if (status.code() == absl::StatusCode::kUnimplemented) {
    // A server without the stream extension, or a value whose computation
    // is unimplemented there: the unary call tells which.
    absl::StatusOr<Value> result = unary();
    if (result.ok()) {
      MutexLock lock(mu_);
      streams_unimplemented_ = true;
    }
    return result;
  }
  FEDEXEC_RETURN_IF_ERROR(status);
  MutexLock lock(mu_);
  ++stats_.streamed_downloads;
  return *std::move(value);
}

namespace {

// The nodes of a PartialAggregate answer.
absl::StatusOr<std::vector<PartialNode>> NodesOf(
    const v1::PartialAggregateResponse& response,
    const std::function<absl::Status(std::string_view)>& malformed) {
  std::vector<PartialNode> nodes;
  nodes.reserve(response.node_size());
  for (int i = 0; i < response.node_size(); ++i) {
    const v1::PartialNode& proto = response.node(i);
    PartialNode& node = nodes.emplace_back();
    node.level = proto.level();
    node.index = proto.index();
    node.count = proto.count();
    node.total_weight = proto.total_weight();
    if (proto.has_value()) {
      absl::StatusOr<Value> value = ir::ValueFromProto(proto.value());
      if (!value.ok()) {
        return malformed(
            absl::StrCat("node ", i, ": ", value.status().message()));
      }
      node.value = *std::move(value);
    }
  }
  return nodes;
}

}  // namespace

absl::StatusOr<std::vector<PartialNode>> RemoteExecutor::PartialAggregate(
    const PartialAggregateSpec& spec) {
  if (Plain()) {
    absl::Status status =
        Named(absl::StatusCode::kUnimplemented,
              "the worker serves only the plain executor protocol: it has no "
              "PartialAggregate");
    status.SetPayload(kNoPartialAggregatePayload, absl::Cord("1"));
    return status;
  }
  if (Batching()) {
    std::vector<ValuePtr> values;
    for (const std::optional<ValueId>& id :
         {std::optional<ValueId>(spec.value), spec.operand, spec.function,
          spec.merge}) {
      if (!id.has_value()) {
        values.push_back(nullptr);
        continue;
      }
      FEDEXEC_ASSIGN_OR_RETURN(ValuePtr v, Lookup(*id, "PartialAggregate"));
      values.push_back(std::move(v));
    }
    absl::StatusOr<std::vector<PartialNode>> nodes =
        BatchedPartialAggregate(spec, values);
    if (nodes.status().code() != absl::StatusCode::kUnimplemented ||
        Batching()) {
      return nodes;
    }
    // The worker has no batches: the call of its own below.
  }
  // Values read by the call, held until it is answered.
  std::vector<ValuePtr> held;
  auto ref_of = [&](ValueId id) -> absl::StatusOr<std::string> {
    FEDEXEC_ASSIGN_OR_RETURN(ValuePtr value, Lookup(id, "PartialAggregate"));
    held.push_back(value);
    return AwaitRef(value);
  };
  v1::PartialAggregateRequest request;
  request.set_op(std::string(PartialAggregateOpName(spec.op)));
  FEDEXEC_ASSIGN_OR_RETURN(*request.mutable_value_ref()->mutable_id(),
                           ref_of(spec.value));
  if (spec.operand.has_value()) {
    FEDEXEC_ASSIGN_OR_RETURN(*request.mutable_operand_ref()->mutable_id(),
                             ref_of(*spec.operand));
  }
  if (spec.function.has_value()) {
    FEDEXEC_ASSIGN_OR_RETURN(*request.mutable_function_ref()->mutable_id(),
                             ref_of(*spec.function));
  }
  if (spec.merge.has_value()) {
    FEDEXEC_ASSIGN_OR_RETURN(*request.mutable_merge_ref()->mutable_id(),
                             ref_of(*spec.merge));
  }
  request.set_first_client(spec.first_client);
  request.set_total_clients(spec.total_clients);
  request.set_block_size(spec.block_size);
  request.mutable_executor()->set_id(executor_id_);
  {
    MutexLock lock(mu_);
    FEDEXEC_RETURN_IF_ERROR(UnusableOrCancelled());
  }
  v1::PartialAggregateResponse response;
  absl::Status answered = RunBlocking(
      DeadlineIn(options_.compute_timeout), "", "PartialAggregate",
      [&](grpc::ClientContext& context) {
        response.Clear();
        return stubs_->stream->PartialAggregate(&context, request, &response);
      });
  if (answered.code() == absl::StatusCode::kUnimplemented &&
      !HasLocation(answered)) {
    // A server without the extension (or without this op): the caller
    // aggregates the members itself.
    answered.SetPayload(kNoPartialAggregatePayload, absl::Cord("1"));
  }
  FEDEXEC_RETURN_IF_ERROR(answered);
  return NodesOf(response, [this](std::string_view why) {
    return Named(
        absl::StatusCode::kInternal,
        absl::StrCat("malformed PartialAggregate answer: ", View(why)));
  });
}

absl::StatusOr<std::vector<PartialNode>>
RemoteExecutor::BatchedPartialAggregate(const PartialAggregateSpec& spec,
                                        const std::vector<ValuePtr>& values) {
  while (true) {
    std::vector<ValuePtr> in_flight;
    bool flush_first = false;
    std::shared_ptr<AggregateWaiter> waiter;
    {
      MutexLock lock(mu_);
      FEDEXEC_RETURN_IF_ERROR(UnusableOrCancelled());
      if (batches_unimplemented_) {
        return absl::UnimplementedError("no batches");
      }
      std::vector<std::string> refs;
      for (const ValuePtr& v : values) {
        if (v == nullptr) {
          refs.emplace_back();
          continue;
        }
        if (v->resolved && !v->status.ok()) return CopyRemoteStatus(v->status);
        std::optional<std::string> ref = BatchRefLocked(*v);
        if (!ref.has_value()) {
          in_flight.push_back(v);
          continue;
        }
        refs.push_back(*std::move(ref));
      }
      if (in_flight.empty()) {
        if (pending_aggregate_ != nullptr) {
          flush_first = true;  // one aggregation per batch
        } else {
          waiter = std::make_shared<AggregateWaiter>();
          v1::PartialAggregateRequest& request = waiter->request;
          request.set_op(std::string(PartialAggregateOpName(spec.op)));
          request.mutable_value_ref()->set_id(refs[0]);
          if (!refs[1].empty()) request.mutable_operand_ref()->set_id(refs[1]);
          if (!refs[2].empty()) request.mutable_function_ref()->set_id(refs[2]);
          if (!refs[3].empty()) request.mutable_merge_ref()->set_id(refs[3]);
          request.set_first_client(spec.first_client);
          request.set_total_clients(spec.total_clients);
          request.set_block_size(spec.block_size);
          for (const ValuePtr& v : values) {
            if (v != nullptr) waiter->operands.push_back(v);
          }
          pending_aggregate_ = waiter;
        }
      }
    }
    if (!in_flight.empty()) {
      // Their batch is in flight: once it answers they have refs.
      for (const ValuePtr& v : in_flight) {
        FEDEXEC_RETURN_IF_ERROR(AwaitRef(v).status());
      }
      continue;
    }
    Flush();
    if (flush_first) continue;
    FEDEXEC_RETURN_IF_ERROR(waiter->Wait());
    return NodesOf(waiter->response, [this](std::string_view why) {
      return Named(
          absl::StatusCode::kInternal,
          absl::StrCat("malformed ExecuteBatch aggregate: ", View(why)));
    });
  }
}

// ---------------------------------------------------------- cancel, state

void RemoteExecutor::Cancel() {
  std::vector<std::shared_ptr<grpc::ClientContext>> contexts;
  std::vector<std::shared_ptr<grpc::Alarm>> alarms;
  bool dispose_executor = false;
  {
    MutexLock lock(mu_);
    if (cancelled_ || shutting_down_) return;
    cancelled_ = true;
    contexts.assign(contexts_.begin(), contexts_.end());
    alarms.assign(alarms_.begin(), alarms_.end());
    dispose_executor = !executor_disposed_ && !executor_id_.empty();
    executor_disposed_ = true;
    dispose_queue_.clear();
  }
  DropPending();
  cancel_cv_.SignalAll();
  for (const auto& context : contexts) context->TryCancel();
  for (const auto& alarm : alarms) alarm->Cancel();
  // The worker's executor is of no further use; disposing of it stops its
  // computations there.
  if (dispose_executor) DisposeRemoteExecutor(/*blocking=*/false);
}

absl::Status RemoteExecutor::Encode(const Value& value, v0::Value* out) const {
  FEDEXEC_RETURN_IF_ERROR(ir::ValueToProto(value, out, EncodeOptions()));
  if (Plain() && (value.is_federated() || value.is_struct())) {
    v0::Value content;
    FEDEXEC_RETURN_IF_ERROR(ir::ValueToProto(
        value, &content, OptionsFor(ir::ArrayEncoding::kContent)));
    UseContentInMembers(out, content, false, 0);
  }
  return absl::OkStatus();
}

const ir::ValueToProtoOptions& RemoteExecutor::EncodeOptions() const {
  return OptionsFor(Plain() ? ir::ArrayEncoding::kTypedLists
                            : ir::ArrayEncoding::kContent);
}

absl::Status RemoteExecutor::health() const {
  MutexLock lock(mu_);
  return UnusableOrCancelled();
}

RemoteStats RemoteExecutor::stats() const {
  MutexLock lock(mu_);
  return stats_;
}

absl::Status RemoteExecutor::UnusableOrCancelled() const {
  if (cancelled_ || shutting_down_) {
    return Named(absl::StatusCode::kCancelled, "the computation was cancelled");
  }
  if (!unusable_.ok()) return CopyRemoteStatus(unusable_);
  return absl::OkStatus();
}

absl::Status RemoteExecutor::Named(absl::StatusCode code,
                                   std::string_view message) const {
  absl::Status status(code,
                      absl::StrCat("worker ", name_, ": ", View(message)));
  status.SetPayload(kWorkerPayload, absl::Cord(name_));
  return status;
}

absl::Status RemoteExecutor::FromGrpc(const grpc::Status& status, int attempts,
                                      std::string_view method) {
  return FromWire(static_cast<absl::StatusCode>(status.error_code()),
                  status.error_message(),
                  status.error_details() == kLocatedErrorDetails, attempts,
                  method);
}

absl::Status RemoteExecutor::FromWire(absl::StatusCode code,
                                      const std::string& wire_message,
                                      bool located_error, int attempts,
                                      std::string_view method) {
  // An empty message says nothing: name the call and the code instead.
  const std::string message_in =
      wire_message.empty() ? absl::StrCat(View(method), " failed with ",
                                          absl::StatusCodeToString(code),
                                          ", the worker gave no message")
                           : wire_message;
  if (code == absl::StatusCode::kCancelled) {
    MutexLock lock(mu_);
    if (cancelled_ || shutting_down_) return UnusableOrCancelled();
  }
  if (located_error) {
    // The error of a computation that says where it arose: kept as it is
    // (even FAILED_PRECONDITION: a function's error, not the executor's).
    absl::Status located(code, message_in);
    located.SetPayload(kLocationPayload, absl::Cord("1"));
    located.SetPayload(kWorkerPayload, absl::Cord(name_));
    return located;
  }
  if (code == absl::StatusCode::kFailedPrecondition) {
    absl::Status unusable = Named(
        code, absl::StrCat("the worker's executor is unusable: ", message_in));
    MutexLock lock(mu_);
    if (unusable_.ok()) unusable_ = CopyRemoteStatus(unusable);
    return unusable;
  }
  std::string message = message_in;
  if (attempts > 1) {
    absl::StrAppend(&message, " (after ", attempts, " attempts)");
  }
  return Named(code, message);
}

// ---------------------------------------------------------- RPC machinery

absl::Time RemoteExecutor::DeadlineIn(absl::Duration timeout) const {
  if (timeout == absl::InfiniteDuration()) return absl::InfiniteFuture();
  return absl::Now() + timeout;
}

std::string RemoteExecutor::NextRequestId() {
  MutexLock lock(mu_);
  return absl::StrCat(client_id_, "-", next_request_++);
}

void RemoteExecutor::BeginOp() {
  MutexLock lock(mu_);
  ++in_flight_;
}

void RemoteExecutor::EndOp() {
  // Notified under the lock: the destructor cannot get past its wait (and
  // destroy the condition variable) before this returns.
  MutexLock lock(mu_);
  if (--in_flight_ == 0) idle_cv_.SignalAll();
}

std::shared_ptr<grpc::ClientContext> RemoteExecutor::NewContext(
    absl::Time deadline, const std::string& request_id) {
  auto context = std::make_shared<grpc::ClientContext>();
  if (options_.attempt_timeout != absl::InfiniteDuration()) {
    deadline = std::min(deadline, absl::Now() + options_.attempt_timeout);
  }
  if (deadline != absl::InfiniteFuture()) {
    context->set_deadline(absl::ToChronoTime(deadline));
  }
  if (!options_.token.empty()) {
    context->AddMetadata(kAuthorizationMetadataKey,
                         absl::StrCat(kBearerPrefix, options_.token));
  }
  if (!request_id.empty()) {
    context->AddMetadata(kRequestIdMetadataKey, request_id);
  }
  if (!Plain()) {
    // A fedexec service then answers with Array.content (a foreign one
    // ignores the entry, but is not sent it).
    context->AddMetadata(ir::kArrayContentMetadataKey,
                         ir::kArrayContentMetadataValue);
  }
  MutexLock lock(mu_);
  if (cancelled_ || shutting_down_) return nullptr;
  contexts_.insert(context);
  ++stats_.attempts;
  return context;
}

void RemoteExecutor::Unregister(
    const std::shared_ptr<grpc::ClientContext>& context) {
  MutexLock lock(mu_);
  contexts_.erase(context);
}

bool RemoteExecutor::ShouldRetry(const grpc::Status& status, int attempt,
                                 absl::Time deadline,
                                 absl::Duration* wait) const {
  if (attempt >= options_.max_attempts) return false;
  const absl::Time now = absl::Now();
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      // Only an attempt's own deadline; the call's is final.
      if (now >= deadline) return false;
      break;
    default:
      return false;
  }
  absl::Duration backoff = options_.initial_backoff;
  for (int i = 1; i < attempt && backoff < options_.max_backoff; ++i) {
    backoff *= options_.backoff_multiplier;
  }
  backoff =
      std::min(backoff, options_.max_backoff) * JitterFactor(options_.jitter);
  if (now + backoff >= deadline) return false;
  *wait = backoff;
  return true;
}

absl::Status RemoteExecutor::RunBlocking(absl::Time deadline,
                                         const std::string& request_id,
                                         std::string_view method,
                                         const BlockingAttempt& attempt) {
  for (int n = 1;; ++n) {
    std::shared_ptr<grpc::ClientContext> context =
        NewContext(deadline, request_id);
    if (context == nullptr) {
      MutexLock lock(mu_);
      return UnusableOrCancelled();
    }
    const grpc::Status status = attempt(*context);
    Unregister(context);
    if (status.ok()) return absl::OkStatus();
    absl::Duration wait;
    if (!ShouldRetry(status, n, deadline, &wait)) {
      return FromGrpc(status, n, method);
    }
    MutexLock lock(mu_);
    ++stats_.retries;
    const absl::Time until = absl::Now() + wait;
    while (!cancelled_ && !shutting_down_ && cancel_cv_.WaitUntil(mu_, until)) {
    }
    if (cancelled_ || shutting_down_) return UnusableOrCancelled();
  }
}

void RemoteExecutor::StartAsync(absl::Time deadline, std::string request_id,
                                std::string_view method, AsyncAttempt attempt,
                                std::function<void(absl::Status)> done) {
  BeginOp();
  auto call = std::make_shared<AsyncCall>();
  call->deadline = deadline;
  call->request_id = std::move(request_id);
  call->method = method;
  call->attempt = std::move(attempt);
  call->done = std::move(done);
  RunAttempt(call);
}

void RemoteExecutor::RunAttempt(const std::shared_ptr<AsyncCall>& call) {
  std::shared_ptr<grpc::ClientContext> context =
      NewContext(call->deadline, call->request_id);
  if (context == nullptr) {
    absl::Status status;
    {
      MutexLock lock(mu_);
      status = UnusableOrCancelled();
    }
    FinishAsync(call, std::move(status));
    return;
  }
  {
    MutexLock lock(mu_);
    ++call->attempts;
    call->context = context;
  }
  call->attempt(context.get(), [this, call](grpc::Status status) {
    OnAttemptDone(call, status);
  });
}

void RemoteExecutor::OnAttemptDone(const std::shared_ptr<AsyncCall>& call,
                                   const grpc::Status& status) {
  int attempts = 0;
  {
    MutexLock lock(mu_);
    contexts_.erase(call->context);
    call->context.reset();
    attempts = call->attempts;
  }
  if (status.ok()) {
    FinishAsync(call, absl::OkStatus());
    return;
  }
  absl::Duration wait;
  if (!ShouldRetry(status, attempts, call->deadline, &wait)) {
    FinishAsync(call, FromGrpc(status, attempts, call->method));
    return;
  }
  auto alarm = std::make_shared<grpc::Alarm>();
  {
    MutexLock lock(mu_);
    if (!cancelled_ && !shutting_down_) {
      alarms_.insert(alarm);
      call->alarm = alarm;
      ++stats_.retries;
    } else {
      alarm.reset();
    }
  }
  if (alarm == nullptr) {
    absl::Status cancelled;
    {
      MutexLock lock(mu_);
      cancelled = UnusableOrCancelled();
    }
    FinishAsync(call, std::move(cancelled));
    return;
  }
  alarm->Set(absl::ToChronoTime(absl::Now() + wait), [this, call](bool fired) {
    std::shared_ptr<grpc::Alarm> self;  // may be the last reference
    {
      MutexLock lock(mu_);
      self = std::move(call->alarm);
      alarms_.erase(self);
    }
    if (fired) {
      RunAttempt(call);  // finds the executor cancelled if it is
    } else {
      absl::Status cancelled;
      {
        MutexLock lock(mu_);
        cancelled = UnusableOrCancelled();
      }
      FinishAsync(call, std::move(cancelled));
    }
  });
}

void RemoteExecutor::FinishAsync(const std::shared_ptr<AsyncCall>& call,
                                 absl::Status status) {
  std::function<void(absl::Status)> done;
  {
    MutexLock lock(mu_);
    done = std::move(call->done);
  }
  done(std::move(status));
  // What `done` holds (values whose release queues disposals) goes before
  // the executor may be destroyed.
  done = nullptr;
  EndOp();
}

// --------------------------------------------------------------- disposal

void RemoteExecutor::QueueDispose(std::string ref) {
  std::vector<std::string> batch;
  {
    MutexLock lock(mu_);
    if (cancelled_ || shutting_down_ || !unusable_.ok()) return;
    ++stats_.released_refs;
    dispose_queue_.push_back(std::move(ref));
    if (dispose_in_flight_) return;
    // With batches the refs ride in the next one, unless many gather.
    if (options_.batch && !batches_unimplemented_ &&
        dispose_queue_.size() < kMaxQueuedDisposals) {
      return;
    }
    dispose_in_flight_ = true;
    batch.swap(dispose_queue_);
  }
  SendDisposeBatch(std::move(batch));
}

void RemoteExecutor::SendDisposeBatch(std::vector<std::string> refs) {
  auto request = std::make_shared<v0::DisposeRequest>();
  for (std::string& ref : refs) {
    request->add_value_ref()->set_id(std::move(ref));
  }
  request->mutable_executor()->set_id(executor_id_);
  auto response = std::make_shared<v0::DisposeResponse>();
  {
    MutexLock lock(mu_);
    ++stats_.dispose_rpcs;
    stats_.disposed_refs += request->value_ref_size();
  }
  StartAsync(
      DeadlineIn(options_.call_timeout), NextRequestId(), "Dispose",
      [this, request, response](grpc::ClientContext* context,
                                std::function<void(grpc::Status)> done) {
        stubs_->group->async()->Dispose(context, request.get(), response.get(),
                                        std::move(done));
      },
      // A failed disposal is dropped: DisposeExecutor frees the rest.
      [this](absl::Status) {
        std::vector<std::string> next;
        {
          MutexLock lock(mu_);
          const bool wait_for_batch =
              options_.batch && !batches_unimplemented_ &&
              dispose_queue_.size() < kMaxQueuedDisposals;
          if (dispose_queue_.empty() || wait_for_batch || cancelled_ ||
              shutting_down_ || !unusable_.ok()) {
            dispose_in_flight_ = false;
            return;
          }
          next.swap(dispose_queue_);
        }
        SendDisposeBatch(std::move(next));
      });
}

void RemoteExecutor::DisposeRemoteExecutor(bool blocking) {
  auto context = std::make_shared<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(
      absl::Now() + std::min(options_.call_timeout, kDisposeExecutorTimeout)));
  if (!options_.token.empty()) {
    context->AddMetadata(kAuthorizationMetadataKey,
                         absl::StrCat(kBearerPrefix, options_.token));
  }
  auto request = std::make_shared<v0::DisposeExecutorRequest>();
  request->mutable_executor()->set_id(executor_id_);
  auto response = std::make_shared<v0::DisposeExecutorResponse>();
  if (blocking) {
    (void)stubs_->group->DisposeExecutor(context.get(), *request,
                                         response.get());
    return;
  }
  BeginOp();
  stubs_->group->async()->DisposeExecutor(
      context.get(), request.get(), response.get(),
      [this, context, request, response](grpc::Status) { EndOp(); });
}

}  // namespace fedexec::exec
