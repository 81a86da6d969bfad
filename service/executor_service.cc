// The executor service: a core that holds executor ids and their value
// tables and does each call's work (Core), the waiter pool that blocking
// waits run on, and thin gRPC callback handlers and stream reactors that
// hand requests to the core.
#include "service/executor_service.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <climits>
#include <cmath>
#include <deque>
#include <list>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "core/mutex.h"
#include "core/status.h"
#include "executors/function.h"
#include "fedexec/v1/executor_stream.grpc.pb.h"
#include "glog/logging.h"
#include "ir/proto_codec.h"
#include "ir/type_checker.h"
#include "ir/value_proto.h"
#include "ir/value_syntax.h"
#include "net/grpc_channel.h"
#include "service/answer_cache.h"
#include "service/waiter_pool.h"
#include "tensorflow_federated/v0/executor.grpc.pb.h"

namespace fedexec::service {
namespace {

namespace v0 = ::tensorflow_federated::v0;
namespace v1 = ::fedexec::v1;

// Room for a chunk's framing next to its data.
constexpr int64_t kChunkOverhead = int64_t{64} << 10;

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  // An error that says where in the computation it arose keeps saying so.
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()),
                      exec::HasLocation(s) ? kLocatedErrorDetails : "");
}

absl::Status WithPrefix(absl::string_view prefix, const absl::Status& s) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

std::optional<std::string> Metadata(const grpc::CallbackServerContext* ctx,
                                    std::string_view key) {
  const auto& md = ctx->client_metadata();
  const auto it = md.find(grpc::string_ref(key.data(), key.size()));
  if (it == md.end()) return std::nullopt;
  return std::string(it->second.data(), it->second.size());
}

std::optional<std::string> RequestId(const grpc::CallbackServerContext* ctx) {
  return Metadata(ctx, kRequestIdMetadataKey);
}

// How a Compute answer writes its tensors: raw `content` for a client that
// says it reads it (fedexec's), else the typed lists every reader of the
// protocol accepts (TensorFlow Federated's client reads nothing else).
ir::ArrayEncoding ArraysFor(const grpc::CallbackServerContext* ctx) {
  const std::optional<std::string> v =
      Metadata(ctx, ir::kArrayContentMetadataKey);
  return v.has_value() && *v == ir::kArrayContentMetadataValue
             ? ir::ArrayEncoding::kContent
             : ir::ArrayEncoding::kTypedLists;
}

// Logs a call's answer, so that an operator sees why a client fails:
// every error at warning level (method, peer, code, message), every other
// answer at debug level (VLOG 1: `fedexec --log-level debug`).
void LogAnswer(absl::string_view method, const std::string& peer,
               const absl::Status& status) {
  if (!status.ok()) {
    LOG(WARNING) << "refused " << method << " from " << peer << ": "
                 << absl::StatusCodeToString(status.code()) << ": "
                 << status.message();
    return;
  }
  VLOG(1) << method << " from " << peer << ": OK";
}

// The type the service records for a value it cannot type (values sent as
// data, which carry their own all_equal flags): nothing is expanded there.
const ir::Type& UnknownType() {
  static const ir::Type* const unknown = new ir::Type(ir::Type::Abstract("?"));
  return *unknown;
}

// Compares without an early exit, so the time taken does not tell how much
// of a guessed token was right.
bool SecretEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

// A value held for a client and its declared type: what the computation it
// came from says (a per-client result is {T}@CLIENTS even when the
// executor holds it as one all-equal member), UnknownType() for data.
// Answers expand the value to that type (ir::ExpandAllEqual).
struct Held {
  OwnedValue value;
  ir::Type type;
};

// One executor id: the executor and the values held for its client.
struct Entry {
  Entry(std::string id_in, std::shared_ptr<Executor> executor_in,
        int64_t num_clients_in, size_t window)
      : id(std::move(id_in)),
        num_clients(num_clients_in),
        executor(std::move(executor_in)),
        answers(window) {}

  const std::string id;
  const int64_t num_clients;
  // Declared before `values`, so the values are disposed of first.
  const std::shared_ptr<Executor> executor;
  Mutex mu;
  absl::flat_hash_map<std::string, Held> values FEDEXEC_GUARDED_BY(mu);
  uint64_t next_ref FEDEXEC_GUARDED_BY(mu) = 1;
  AnswerCache answers FEDEXEC_GUARDED_BY(mu);
  // Set once the executor turned out cancelled.
  absl::Status unusable FEDEXEC_GUARDED_BY(mu);
};

// The operations of a batch done so far (ExecuteBatch): "#k" names the ref
// operation k made, or its error.
struct BatchScope {
  const std::vector<absl::StatusOr<std::string>>* made = nullptr;

  absl::StatusOr<const std::string*> Find(const std::string& ref,
                                          absl::string_view field) const {
    size_t k = 0;
    if (ref.size() < 2 ||
        !absl::SimpleAtoi(absl::string_view(ref).substr(1), &k) ||
        ref.find_first_not_of("0123456789", 1) != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": '", ref, "' is not a batch ref ('#' and an operation)"));
    }
    if (k >= made->size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": '", ref, "' names operation ", k,
                       ", which does not come before this one"));
    }
    const absl::StatusOr<std::string>& r = (*made)[k];
    if (!r.ok()) {
      return absl::Status(r.status().code(),
                          absl::StrCat(field, ": operation ", k,
                                       " failed: ", r.status().message()));
    }
    return &*r;
  }
};

// A value to create: a computation, a value, or a struct of these.
struct Prepared {
  ir::NodePtr computation;
  std::optional<Value> value;
  // A struct: its elements and their names (a vector of the type being
  // defined is allowed; a pair of it is not, for every compiler).
  std::vector<Prepared> elements;
  std::vector<std::string> names;
};

std::string PathStep(const std::string& path, int index,
                     const std::string& name) {
  if (!name.empty()) return path.empty() ? name : absl::StrCat(path, ".", name);
  return absl::StrCat(path, "[", index, "]");
}

std::string At(const std::string& path) {
  return path.empty() ? "" : absl::StrCat("at ", path, ": ");
}

// The status of decoding the part at `path`, whose message may name a path
// inside the part ("at member 0: ..."): one joined path ("at [1] member 0:
// ...").
absl::Status AtPath(const std::string& path, const absl::Status& status) {
  if (path.empty() || status.ok()) return status;
  absl::string_view message = status.message();
  if (!absl::ConsumePrefix(&message, "at ")) {
    return WithPrefix(At(path), status);
  }
  const bool step = absl::StartsWith(message, "member ") ||
                    absl::StartsWith(message, "element ") ||
                    absl::StartsWith(message, "flat_value ");
  const char* separator = step                             ? " "
                          : absl::StartsWith(message, "[") ? ""
                                                           : ".";
  return absl::Status(status.code(),
                      absl::StrCat("at ", path, separator, message));
}

// ------------------------------------------------------------------ core

// Decoded computations kept (ComputationCache).
constexpr size_t kCachedComputations = 256;

class Core {
 public:
  Core(ExecutorSource source, ServiceOptions options)
      : source_(std::move(source)),
        options_(std::move(options)),
        service_answers_(static_cast<size_t>(options_.request_id_window)),
        pool_(options_.max_concurrent_computations) {
    std::random_device rd;
    instance_ = absl::StrFormat("%08x%08x", rd(), rd());
  }

  const ServiceOptions& options() const { return options_; }

  // Refuses calls once shutdown began, and calls without the token.
  absl::Status Admit(const grpc::CallbackServerContext* ctx) {
    if (shutting_down_.load(std::memory_order_acquire)) {
      return absl::UnavailableError("the worker is shutting down");
    }
    if (options_.token.empty()) return absl::OkStatus();
    const std::optional<std::string> auth =
        Metadata(ctx, kAuthorizationMetadataKey);
    const std::string expected = absl::StrCat(kBearerPrefix, options_.token);
    if (!auth.has_value() || !SecretEquals(*auth, expected)) {
      // The answer is logged like every refusal (LogAnswer), never the
      // token.
      return absl::UnauthenticatedError("missing or invalid token");
    }
    return absl::OkStatus();
  }

  absl::Status GetWorkerInfo(const grpc::CallbackServerContext* ctx,
                             v1::WorkerInfo* response) {
    FEDEXEC_RETURN_IF_ERROR(Admit(ctx));
    response->set_capacity(options_.capacity);
    response->set_version(FEDEXEC_VERSION);
    response->set_has_data_root(options_.has_data_root);
    return absl::OkStatus();
  }

  // ------------------------------------------------------------ executors

  absl::Status GetExecutor(const grpc::CallbackServerContext* ctx,
                           const v0::GetExecutorRequest& request,
                           v0::GetExecutorResponse* response) {
    FEDEXEC_RETURN_IF_ERROR(Admit(ctx));
    const std::optional<std::string> request_id = RequestId(ctx);
    if (request_id.has_value()) {
      MutexLock lock(mu_);
      if (const std::string* id =
              service_answers_.Find("GetExecutor:" + *request_id)) {
        response->mutable_executor()->set_id(*id);
        return absl::OkStatus();
      }
    }
    FEDEXEC_ASSIGN_OR_RETURN(const int64_t num_clients, NumClients(request));
    {
      MutexLock lock(mu_);
      if (static_cast<int64_t>(entries_.size()) + reserved_ >=
          options_.max_executors) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "max_executors (", options_.max_executors,
            ") executors are held; dispose of one (DisposeExecutor) first"));
      }
      ++reserved_;
    }
    absl::StatusOr<std::shared_ptr<Executor>> executor = source_(num_clients);
    MutexLock lock(mu_);
    --reserved_;
    if (!executor.ok()) return executor.status();
    if (*executor == nullptr) {
      return absl::InternalError(
          absl::StrCat("the executor source gave no executor for ", num_clients,
                       " clients"));
    }
    if (request_id.has_value()) {
      // A retry that raced this one may have answered meanwhile.
      if (const std::string* id =
              service_answers_.Find("GetExecutor:" + *request_id)) {
        response->mutable_executor()->set_id(*id);
        return absl::OkStatus();
      }
    }
    const std::string id = absl::StrCat("clients=", num_clients, "/",
                                        ++executor_serial_, "-", instance_);
    entries_.emplace(id, std::make_shared<Entry>(
                             id, *std::move(executor), num_clients,
                             static_cast<size_t>(options_.request_id_window)));
    if (request_id.has_value()) {
      service_answers_.Insert("GetExecutor:" + *request_id, id);
    }
    response->mutable_executor()->set_id(id);
    return absl::OkStatus();
  }

  absl::Status DisposeExecutor(const grpc::CallbackServerContext* ctx,
                               const v0::DisposeExecutorRequest& request) {
    FEDEXEC_RETURN_IF_ERROR(Admit(ctx));
    const std::optional<std::string> request_id = RequestId(ctx);
    std::shared_ptr<Entry> entry;
    {
      MutexLock lock(mu_);
      if (request_id.has_value() &&
          service_answers_.Find("DisposeExecutor:" + *request_id) != nullptr) {
        return absl::OkStatus();
      }
      const std::string& id = request.executor().id();
      if (id.empty()) {
        return absl::InvalidArgumentError(
            "DisposeExecutorRequest.executor: no executor id given");
      }
      const auto it = entries_.find(id);
      if (it == entries_.end()) return UnknownExecutor(id);
      entry = std::move(it->second);
      entries_.erase(it);
      if (request_id.has_value()) {
        service_answers_.Insert("DisposeExecutor:" + *request_id, "");
      }
    }
    // Values are disposed of here, or when the last call using the entry
    // ends.
    entry.reset();
    return absl::OkStatus();
  }

  // --------------------------------------------------------------- values

  absl::Status CreateValue(const grpc::CallbackServerContext* ctx,
                           const v0::CreateValueRequest& request,
                           v0::CreateValueResponse* response) {
    FEDEXEC_RETURN_IF_ERROR(Admit(ctx));
    FEDEXEC_ASSIGN_OR_RETURN(
        std::shared_ptr<Entry> entry,
        Lookup(request.executor(), "CreateValueRequest.executor"));
    FEDEXEC_ASSIGN_OR_RETURN(
        std::string ref,
        DoCreateValue(*entry, request, RequestId(ctx), nullptr));
    response->mutable_value_ref()->set_id(ref);
    return absl::OkStatus();
  }

  // The creates, once admitted and the entry found; `batch` (null outside
  // ExecuteBatch) lets refs name earlier operations of a batch.
  absl::StatusOr<std::string> DoCreateValue(
      Entry& entry, const v0::CreateValueRequest& request,
      const std::optional<std::string>& request_id, const BatchScope* batch) {
    (void)batch;  // a value has no operands
    if (std::optional<std::string> ref = Answered(entry, request_id)) {
      return *ref;
    }
    if (!request.has_value()) {
      return absl::InvalidArgumentError(
          "CreateValueRequest.value: no value given");
    }
    // Early, so that a value that cannot be kept is not decoded.
    FEDEXEC_RETURN_IF_ERROR(CheckRoom(entry));
    std::string path;
    absl::StatusOr<Prepared> prepared = Prepare(request.value(), path, 1);
    if (!prepared.ok()) {
      return WithPrefix("CreateValueRequest.value: ", prepared.status());
    }
    return CreateLocked(entry, request_id,
                        [&]() { return Realize(*entry.executor, *prepared); });
  }

  // Stores an assembled value (CreateValueStream).
  absl::StatusOr<std::string> CreateAssembled(
      Entry& entry, const std::optional<std::string>& request_id,
      const Value& value) {
    return CreateLocked(entry, request_id, [&]() -> absl::StatusOr<Held> {
      entry.mu.AssertHeld();  // CreateLocked runs it under the lock
      FEDEXEC_ASSIGN_OR_RETURN(OwnedValue v,
                               entry.executor->CreateValue(value));
      return Held{std::move(v), UnknownType()};
    });
  }

  absl::Status CreateCall(const grpc::CallbackServerContext* ctx,
                          const v0::CreateCallRequest& request,
                          v0::CreateCallResponse* response) {
    FEDEXEC_RETURN_IF_ERROR(Admit(ctx));
    FEDEXEC_ASSIGN_OR_RETURN(
        std::shared_ptr<Entry> entry,
        Lookup(request.executor(), "CreateCallRequest.executor"));
    FEDEXEC_ASSIGN_OR_RETURN(
        std::string ref,
        DoCreateCall(*entry, request, RequestId(ctx), nullptr));
    response->mutable_value_ref()->set_id(ref);
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> DoCreateCall(
      Entry& entry, const v0::CreateCallRequest& request,
      const std::optional<std::string>& request_id, const BatchScope* batch) {
    return CreateLocked(entry, request_id, [&]() -> absl::StatusOr<Held> {
      entry.mu.AssertHeld();  // CreateLocked runs it under the lock
      FEDEXEC_ASSIGN_OR_RETURN(
          const Held* function,
          ResolveHeld(entry, request.function_ref(),
                      "CreateCallRequest.function_ref", batch));
      std::optional<ValueId> argument;
      if (!request.argument_ref().id().empty()) {
        FEDEXEC_ASSIGN_OR_RETURN(
            argument, Resolve(entry, request.argument_ref(),
                              "CreateCallRequest.argument_ref", batch));
      }
      FEDEXEC_ASSIGN_OR_RETURN(
          OwnedValue v,
          entry.executor->CreateCall(function->value.id(), argument));
      const ir::Type& type = function->type;
      return Held{std::move(v), type.kind() == ir::TypeKind::kFunction
                                    ? type.result()
                                    : UnknownType()};
    });
  }

  absl::Status CreateStruct(const grpc::CallbackServerContext* ctx,
                            const v0::CreateStructRequest& request,
                            v0::CreateStructResponse* response) {
    FEDEXEC_RETURN_IF_ERROR(Admit(ctx));
    FEDEXEC_ASSIGN_OR_RETURN(
        std::shared_ptr<Entry> entry,
        Lookup(request.executor(), "CreateStructRequest.executor"));
    FEDEXEC_ASSIGN_OR_RETURN(
        std::string ref,
        DoCreateStruct(*entry, request, RequestId(ctx), nullptr));
    response->mutable_value_ref()->set_id(ref);
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> DoCreateStruct(
      Entry& entry, const v0::CreateStructRequest& request,
      const std::optional<std::string>& request_id, const BatchScope* batch) {
    for (int i = 0; i < request.element_size(); ++i) {
      const std::string& name = request.element(i).name();
      if (name.empty()) continue;
      for (int j = 0; j < i; ++j) {
        if (request.element(j).name() == name) {
          return absl::InvalidArgumentError(
              absl::StrCat("CreateStructRequest.element[", i, "]: the name '",
                           name, "' is also element ", j, "'s"));
        }
      }
    }
    return CreateLocked(entry, request_id, [&]() -> absl::StatusOr<Held> {
      entry.mu.AssertHeld();  // CreateLocked runs it under the lock
      std::vector<StructElementId> elements;
      std::vector<ir::StructElementType> types;
      elements.reserve(request.element_size());
      types.reserve(request.element_size());
      for (int i = 0; i < request.element_size(); ++i) {
        const auto& e = request.element(i);
        FEDEXEC_ASSIGN_OR_RETURN(
            const Held* held,
            ResolveHeld(
                entry, e.value_ref(),
                absl::StrCat("CreateStructRequest.element[", i, "].value_ref"),
                batch));
        elements.push_back({e.name(), held->value.id()});
        types.push_back({e.name(), held->type});
      }
      FEDEXEC_ASSIGN_OR_RETURN(OwnedValue v,
                               entry.executor->CreateStruct(elements));
      return Held{std::move(v), ir::Type::Struct(std::move(types))};
    });
  }

  absl::Status CreateSelection(const grpc::CallbackServerContext* ctx,
                               const v0::CreateSelectionRequest& request,
                               v0::CreateSelectionResponse* response) {
    FEDEXEC_RETURN_IF_ERROR(Admit(ctx));
    FEDEXEC_ASSIGN_OR_RETURN(
        std::shared_ptr<Entry> entry,
        Lookup(request.executor(), "CreateSelectionRequest.executor"));
    FEDEXEC_ASSIGN_OR_RETURN(
        std::string ref,
        DoCreateSelection(*entry, request, RequestId(ctx), nullptr));
    response->mutable_value_ref()->set_id(ref);
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> DoCreateSelection(
      Entry& entry, const v0::CreateSelectionRequest& request,
      const std::optional<std::string>& request_id, const BatchScope* batch) {
    if (request.index() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("CreateSelectionRequest.index is ", request.index(),
                       ", must be >= 0"));
    }
    return CreateLocked(entry, request_id, [&]() -> absl::StatusOr<Held> {
      entry.mu.AssertHeld();  // CreateLocked runs it under the lock
      FEDEXEC_ASSIGN_OR_RETURN(
          const Held* source,
          ResolveHeld(entry, request.source_ref(),
                      "CreateSelectionRequest.source_ref", batch));
      FEDEXEC_ASSIGN_OR_RETURN(
          OwnedValue v,
          entry.executor->CreateSelection(source->value.id(), request.index()));
      const ir::Type& type = source->type;
      const size_t index = static_cast<size_t>(request.index());
      return Held{std::move(v), type.kind() == ir::TypeKind::kStruct &&
                                        index < type.elements().size()
                                    ? type.elements()[index].type
                                    : UnknownType()};
    });
  }

  absl::Status Dispose(const grpc::CallbackServerContext* ctx,
                       const v0::DisposeRequest& request) {
    FEDEXEC_RETURN_IF_ERROR(Admit(ctx));
    FEDEXEC_ASSIGN_OR_RETURN(
        std::shared_ptr<Entry> entry,
        Lookup(request.executor(), "DisposeRequest.executor"));
    const std::optional<std::string> request_id = RequestId(ctx);
    std::vector<Held> disposed;  // disposed of outside the lock
    {
      MutexLock lock(entry->mu);
      if (request_id.has_value() &&
          entry->answers.Find("Dispose:" + *request_id) != nullptr) {
        return absl::OkStatus();
      }
      // All or nothing: check every ref first.
      for (int i = 0; i < request.value_ref_size(); ++i) {
        const std::string& ref = request.value_ref(i).id();
        const std::string field =
            absl::StrCat("DisposeRequest.value_ref[", i, "]");
        if (ref.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat(field, ": no value ref given"));
        }
        if (!entry->values.contains(ref)) {
          return UnknownRef(*entry, field, ref);
        }
        for (int j = 0; j < i; ++j) {
          if (request.value_ref(j).id() == ref) {
            return absl::InvalidArgumentError(absl::StrCat(
                field, ": value ref '", ref, "' is also value_ref[", j, "]"));
          }
        }
      }
      for (const v0::ValueRef& ref : request.value_ref()) {
        auto node = entry->values.extract(ref.id());
        disposed.push_back(std::move(node.mapped()));
      }
      if (request_id.has_value()) {
        entry->answers.Insert("Dispose:" + *request_id, "");
      }
    }
    return absl::OkStatus();
  }

  // ----------------------------------------------------------- waiting calls

  using Done = absl::AnyInvocable<void(absl::Status) &&>;

  void Compute(const grpc::CallbackServerContext* ctx,
               const v0::ComputeRequest& request, v0::ComputeResponse* response,
               Done done) {
    absl::Status admitted = Admit(ctx);
    absl::StatusOr<std::shared_ptr<Entry>> entry =
        admitted.ok() ? Lookup(request.executor(), "ComputeRequest.executor")
                      : admitted;
    if (!entry.ok()) {
      std::move(done)(entry.status());
      return;
    }
    absl::StatusOr<Resolved> resolved =
        ResolveLocked(**entry, request.value_ref(), "ComputeRequest.value_ref");
    if (!resolved.ok()) {
      std::move(done)(resolved.status());
      return;
    }
    if (absl::Status s = AcquireSlot(); !s.ok()) {
      std::move(done)(s);
      return;
    }
    ir::ValueToProtoOptions encoding;
    encoding.arrays = ArraysFor(ctx);
    pool_.Schedule([this, entry = *std::move(entry),
                    resolved = *std::move(resolved), encoding, response,
                    done = std::move(done)]() mutable {
      absl::Status s = [&]() -> absl::Status {
        FEDEXEC_ASSIGN_OR_RETURN(Value value,
                                 MaterializeAsDeclared(*entry, resolved));
        const int64_t bytes = ir::ArrayBytes(value);
        if (bytes > options_.max_message_bytes) return TooBig(bytes);
        FEDEXEC_RETURN_IF_ERROR(
            ir::ValueToProto(value, response->mutable_value(), encoding));
        const size_t size = response->ByteSizeLong();
        if (size > static_cast<size_t>(options_.max_message_bytes)) {
          response->Clear();
          return TooBig(static_cast<int64_t>(size));
        }
        return absl::OkStatus();
      }();
      ReleaseSlot();
      std::move(done)(s);
    });
  }

  void PartialAggregate(const grpc::CallbackServerContext* ctx,
                        const v1::PartialAggregateRequest& request,
                        v1::PartialAggregateResponse* response, Done done) {
    absl::Status admitted = Admit(ctx);
    absl::StatusOr<std::shared_ptr<Entry>> entry =
        admitted.ok()
            ? Lookup(request.executor(), "PartialAggregateRequest.executor")
            : admitted;
    if (!entry.ok()) {
      std::move(done)(entry.status());
      return;
    }
    absl::StatusOr<PartialAggregateSpec> spec = MakeSpec(**entry, request);
    if (!spec.ok()) {
      std::move(done)(spec.status());
      return;
    }
    if (absl::Status s = AcquireSlot(); !s.ok()) {
      std::move(done)(s);
      return;
    }
    pool_.Schedule([this, entry = *std::move(entry), spec = *std::move(spec),
                    response, done = std::move(done)]() mutable {
      absl::Status s = RunPartialAggregate(*entry, spec, response);
      ReleaseSlot();
      std::move(done)(s);
    });
  }

  // On a waiter: the executor's partial aggregate, into `response`.
  absl::Status RunPartialAggregate(Entry& entry,
                                   const PartialAggregateSpec& spec,
                                   v1::PartialAggregateResponse* response) {
    absl::StatusOr<std::vector<PartialNode>> nodes =
        entry.executor->PartialAggregate(spec);
    if (!nodes.ok()) return ExecutorError(entry, nodes.status());
    int64_t bytes = 0;
    for (const PartialNode& n : *nodes) {
      if (n.value.has_value()) bytes += ir::ArrayBytes(*n.value);
    }
    if (bytes > options_.max_message_bytes) return TooBig(bytes);
    for (const PartialNode& n : *nodes) {
      v1::PartialNode* out = response->add_node();
      out->set_level(n.level);
      out->set_index(n.index);
      out->set_count(n.count);
      out->set_total_weight(n.total_weight);
      if (n.value.has_value()) {
        FEDEXEC_RETURN_IF_ERROR(
            ir::ValueToProto(*n.value, out->mutable_value()));
      }
    }
    const size_t size = response->ByteSizeLong();
    if (size > static_cast<size_t>(options_.max_message_bytes)) {
      response->Clear();
      return TooBig(static_cast<int64_t>(size));
    }
    return absl::OkStatus();
  }

  // Creates in order, then disposals, then (on a waiter) the aggregation.
  // Operation k of a retried batch (same request id) gets the answer it
  // got the first time: each carries the key "<request id>#k".
  void ExecuteBatch(const grpc::CallbackServerContext* ctx,
                    const v1::ExecuteBatchRequest& request,
                    v1::ExecuteBatchResponse* response, Done done) {
    absl::Status admitted = Admit(ctx);
    absl::StatusOr<std::shared_ptr<Entry>> entry =
        admitted.ok()
            ? Lookup(request.executor(), "ExecuteBatchRequest.executor")
            : admitted;
    if (!entry.ok()) {
      std::move(done)(entry.status());
      return;
    }
    const std::optional<std::string> request_id = RequestId(ctx);
    std::vector<absl::StatusOr<std::string>> made;
    made.reserve(request.operation_size());
    const BatchScope batch{&made};
    for (int k = 0; k < request.operation_size(); ++k) {
      const v1::BatchOperation& op = request.operation(k);
      std::optional<std::string> op_id;
      if (request_id.has_value()) op_id = absl::StrCat(*request_id, "#", k);
      absl::StatusOr<std::string> ref;
      switch (op.operation_case()) {
        case v1::BatchOperation::kCreateValue:
          ref = DoCreateValue(**entry, op.create_value(), op_id, &batch);
          break;
        case v1::BatchOperation::kCreateCall:
          ref = DoCreateCall(**entry, op.create_call(), op_id, &batch);
          break;
        case v1::BatchOperation::kCreateStruct:
          ref = DoCreateStruct(**entry, op.create_struct(), op_id, &batch);
          break;
        case v1::BatchOperation::kCreateSelection:
          ref =
              DoCreateSelection(**entry, op.create_selection(), op_id, &batch);
          break;
        case v1::BatchOperation::OPERATION_NOT_SET:
          ref = absl::InvalidArgumentError("no operation given");
          break;
      }
      if (!ref.ok()) {
        ref =
            WithPrefix(absl::StrCat("ExecuteBatchRequest.operation[", k, "]: "),
                       ref.status());
        LogAnswer("ExecuteBatch (an operation)", ctx->peer(), ref.status());
      }
      SetResult(ref, response->add_result());
      made.push_back(std::move(ref));
    }
    {
      std::vector<Held> disposed;  // disposed of outside the lock
      MutexLock lock((*entry)->mu);
      for (const v0::ValueRef& ref : request.dispose()) {
        auto node = (*entry)->values.extract(ref.id());
        if (!node.empty()) disposed.push_back(std::move(node.mapped()));
      }
    }
    if (!request.has_aggregate()) {
      std::move(done)(absl::OkStatus());
      return;
    }
    absl::StatusOr<PartialAggregateSpec> spec =
        MakeSpec(**entry, request.aggregate(), &batch);
    absl::Status slot = spec.ok() ? AcquireSlot() : spec.status();
    if (!slot.ok()) {
      slot = WithPrefix("ExecuteBatchRequest.aggregate: ", slot);
      LogAnswer("ExecuteBatch (its aggregate)", ctx->peer(), slot);
      SetResult(slot, response->mutable_aggregate_error());
      std::move(done)(absl::OkStatus());
      return;
    }
    pool_.Schedule([this, entry = *std::move(entry), spec = *std::move(spec),
                    response, peer = ctx->peer(),
                    done = std::move(done)]() mutable {
      absl::Status s =
          RunPartialAggregate(*entry, spec, response->mutable_aggregate());
      if (!s.ok()) {
        LogAnswer("ExecuteBatch (its aggregate)", peer, s);
        SetResult(s, response->mutable_aggregate_error());
      }
      ReleaseSlot();
      std::move(done)(absl::OkStatus());
    });
  }

  static void SetResult(const absl::StatusOr<std::string>& ref,
                        v1::BatchResult* out) {
    if (ref.ok()) {
      out->mutable_value_ref()->set_id(*ref);
      return;
    }
    out->set_code(static_cast<int32_t>(ref.status().code()));
    out->set_message(std::string(ref.status().message()));
    out->set_located(exec::HasLocation(ref.status()));
  }

  // ComputeStream: checks the request and takes a slot; then `start` runs
  // on a waiter with the value's chunker or the error. The caller releases
  // the slot (ReleaseSlot) when its stream ends.
  absl::Status StartComputeStream(
      const grpc::CallbackServerContext* ctx,
      const v1::ComputeStreamRequest& request,
      absl::AnyInvocable<void(absl::StatusOr<ir::ValueChunker>) &&> start) {
    FEDEXEC_RETURN_IF_ERROR(Admit(ctx));
    FEDEXEC_ASSIGN_OR_RETURN(
        std::shared_ptr<Entry> entry,
        Lookup(request.executor(), "ComputeStreamRequest.executor"));
    FEDEXEC_ASSIGN_OR_RETURN(Resolved resolved,
                             ResolveLocked(*entry, request.value_ref(),
                                           "ComputeStreamRequest.value_ref"));
    if (request.chunk_bytes() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("ComputeStreamRequest.chunk_bytes is ",
                       request.chunk_bytes(), ", must be >= 0"));
    }
    int64_t chunk_bytes = request.chunk_bytes() == 0
                              ? options_.default_chunk_bytes
                              : request.chunk_bytes();
    const int64_t overhead =
        std::min(kChunkOverhead, options_.max_message_bytes / 2);
    chunk_bytes = std::max<int64_t>(
        1, std::min(chunk_bytes, options_.max_message_bytes - overhead));
    FEDEXEC_RETURN_IF_ERROR(AcquireSlot());
    pool_.Schedule([this, entry = std::move(entry),
                    resolved = std::move(resolved), chunk_bytes,
                    start = std::move(start)]() mutable {
      absl::StatusOr<ir::ValueChunker> chunker =
          [&]() -> absl::StatusOr<ir::ValueChunker> {
        FEDEXEC_ASSIGN_OR_RETURN(Value value,
                                 MaterializeAsDeclared(*entry, resolved));
        return ir::ValueChunker::Create(value, chunk_bytes);
      }();
      std::move(start)(std::move(chunker));
    });
    return absl::OkStatus();
  }

  void ReleaseSlot() { in_flight_.fetch_sub(1, std::memory_order_acq_rel); }

  // ----------------------------------------------------------- lookups

  absl::StatusOr<std::shared_ptr<Entry>> Lookup(const v0::ExecutorId& id,
                                                absl::string_view field) {
    if (id.id().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": no executor id given"));
    }
    std::shared_ptr<Entry> entry;
    {
      MutexLock lock(mu_);
      const auto it = entries_.find(id.id());
      if (it == entries_.end()) return UnknownExecutor(id.id());
      entry = it->second;
    }
    MutexLock lock(entry->mu);
    if (!entry->unusable.ok()) return Unusable(*entry);
    return entry;
  }

  // ----------------------------------------------------------- shutdown

  void CancelAll() {
    shutting_down_.store(true, std::memory_order_release);
    std::vector<std::shared_ptr<Entry>> entries;
    {
      MutexLock lock(mu_);
      for (auto& [id, entry] : entries_) entries.push_back(entry);
    }
    for (const auto& entry : entries) entry->executor->Cancel();
  }

  int64_t num_executors() const {
    MutexLock lock(mu_);
    return static_cast<int64_t>(entries_.size());
  }

  int64_t num_values() const {
    std::vector<std::shared_ptr<Entry>> entries;
    {
      MutexLock lock(mu_);
      for (const auto& [id, entry] : entries_) entries.push_back(entry);
    }
    int64_t n = 0;
    for (const auto& entry : entries) {
      MutexLock lock(entry->mu);
      n += static_cast<int64_t>(entry->values.size());
    }
    return n;
  }

  int computations_in_flight() const {
    return in_flight_.load(std::memory_order_acquire);
  }

  // RESOURCE_EXHAUSTED when the entry holds max_values_per_executor
  // values (checked again when the value is stored).
  absl::Status CheckRoom(Entry& entry) {
    MutexLock lock(entry.mu);
    return CheckRoomLocked(entry);
  }

  // The answer a retry of `request_id` gets, if it was answered.
  std::optional<std::string> Answered(
      Entry& entry, const std::optional<std::string>& request_id) {
    if (!request_id.has_value()) return std::nullopt;
    MutexLock lock(entry.mu);
    const std::string* ref = entry.answers.Find("Create:" + *request_id);
    if (ref == nullptr) return std::nullopt;
    return *ref;
  }

 private:
  absl::StatusOr<int64_t> NumClients(const v0::GetExecutorRequest& request) {
    std::optional<int64_t> clients;
    bool server = false;
    for (int i = 0; i < request.cardinalities_size(); ++i) {
      const v0::Cardinality& c = request.cardinalities(i);
      const std::string field =
          absl::StrCat("GetExecutorRequest.cardinalities[", i, "]");
      const std::string& uri = c.placement().uri();
      if (uri == "clients") {
        if (clients.has_value()) {
          return absl::InvalidArgumentError(
              absl::StrCat(field, ": a second CLIENTS cardinality"));
        }
        if (c.cardinality() < 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(field, ": CLIENTS cardinality is ", c.cardinality(),
                           ", must be >= 0"));
        }
        clients = c.cardinality();
      } else if (uri == "server") {
        if (server) {
          return absl::InvalidArgumentError(
              absl::StrCat(field, ": a second SERVER cardinality"));
        }
        if (c.cardinality() != 1) {
          return absl::InvalidArgumentError(
              absl::StrCat(field, ": SERVER cardinality is ", c.cardinality(),
                           ", must be 1"));
        }
        server = true;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ": unknown placement '", uri,
                         "' (expected 'clients' or 'server')"));
      }
    }
    return clients.value_or(0);
  }

  // Decodes what CreateValue creates; `path` names the part in messages.
  absl::StatusOr<Prepared> Prepare(const v0::Value& proto, std::string& path,
                                   int depth) {
    if (depth > ir::kMaxValueDepth) {
      return absl::InvalidArgumentError(absl::StrCat(
          At(path), "nesting deeper than ", ir::kMaxValueDepth, " levels"));
    }
    Prepared out;
    if (proto.has_computation()) {
      const std::string bytes = proto.computation().SerializeAsString();
      out.computation = computations_.Find(bytes);
      if (out.computation != nullptr) return out;
      absl::StatusOr<ir::NodePtr> node =
          ir::ComputationFromProto(proto.computation());
      if (node.ok()) node = ir::CheckComputation(*node);
      if (!node.ok()) {
        return WithPrefix(absl::StrCat(At(path), "computation: "),
                          node.status());
      }
      out.computation = *std::move(node);
      computations_.Insert(bytes, out.computation);
      return out;
    }
    if (proto.has_struct_() && ir::ContainsComputation(proto)) {
      const auto& elements = proto.struct_().element();
      for (int i = 0; i < elements.size(); ++i) {
        const std::string& name = elements.Get(i).name();
        for (int j = 0; j < i && !name.empty(); ++j) {
          if (elements.Get(j).name() == name) {
            return absl::InvalidArgumentError(
                absl::StrCat(At(path), "struct elements ", j, " and ", i,
                             " are both named '", name, "'"));
          }
        }
      }
      for (int i = 0; i < elements.size(); ++i) {
        const auto& e = elements.Get(i);
        std::string sub = PathStep(path, i, e.name());
        if (!e.has_value()) {
          return absl::InvalidArgumentError(
              absl::StrCat(At(sub), "struct element has no value"));
        }
        FEDEXEC_ASSIGN_OR_RETURN(Prepared p,
                                 Prepare(e.value(), sub, depth + 1));
        out.elements.push_back(std::move(p));
        out.names.push_back(e.name());
      }
      return out;
    }
    absl::StatusOr<Value> value = ir::ValueFromProto(proto);
    if (!value.ok()) return AtPath(path, value.status());
    out.value = *std::move(value);
    return out;
  }

  // Creates a prepared value, with its type. Element handles are let go
  // once their struct is created (it keeps what it needs).
  absl::StatusOr<Held> Realize(Executor& executor, const Prepared& prepared) {
    if (prepared.computation != nullptr) {
      FEDEXEC_ASSIGN_OR_RETURN(OwnedValue v,
                               executor.CreateValue(prepared.computation));
      return Held{std::move(v),
                  prepared.computation->type().value_or(UnknownType())};
    }
    if (prepared.value.has_value()) {
      FEDEXEC_ASSIGN_OR_RETURN(OwnedValue v,
                               executor.CreateValue(*prepared.value));
      return Held{std::move(v), UnknownType()};
    }
    std::vector<Held> handles;
    std::vector<StructElementId> elements;
    std::vector<ir::StructElementType> types;
    for (size_t i = 0; i < prepared.elements.size(); ++i) {
      FEDEXEC_ASSIGN_OR_RETURN(Held v, Realize(executor, prepared.elements[i]));
      elements.push_back({prepared.names[i], v.value.id()});
      types.push_back({prepared.names[i], v.type});
      handles.push_back(std::move(v));
    }
    FEDEXEC_ASSIGN_OR_RETURN(OwnedValue v, executor.CreateStruct(elements));
    return Held{std::move(v), ir::Type::Struct(std::move(types))};
  }

  // Runs `create` under the entry's lock and stores its value: the
  // request-id check, the value limit and the table update are atomic.
  template <typename F>
  absl::StatusOr<std::string> CreateLocked(
      Entry& entry, const std::optional<std::string>& request_id, F create) {
    MutexLock lock(entry.mu);
    if (request_id.has_value()) {
      if (const std::string* ref =
              entry.answers.Find("Create:" + *request_id)) {
        return *ref;
      }
    }
    if (!entry.unusable.ok()) return Unusable(entry);
    FEDEXEC_RETURN_IF_ERROR(CheckRoomLocked(entry));
    absl::StatusOr<Held> value = create();
    if (!value.ok()) return ExecutorErrorLocked(entry, value.status());
    std::string ref = absl::StrCat(entry.next_ref++);
    entry.values.emplace(ref, *std::move(value));
    if (request_id.has_value()) {
      entry.answers.Insert("Create:" + *request_id, ref);
    }
    return ref;
  }

  // REQUIRES: entry.mu held.
  absl::Status CheckRoomLocked(const Entry& entry) const
      FEDEXEC_REQUIRES(entry.mu) {
    if (static_cast<int64_t>(entry.values.size()) <
        options_.max_values_per_executor) {
      return absl::OkStatus();
    }
    return absl::ResourceExhaustedError(absl::StrCat(
        "max_values_per_executor (", options_.max_values_per_executor,
        ") values are held on executor '", entry.id,
        "'; dispose of some first"));
  }

  // REQUIRES: entry.mu held. Inside a batch, "#k" names the value of
  // operation k.
  absl::StatusOr<ValueId> Resolve(Entry& entry, const v0::ValueRef& ref,
                                  absl::string_view field,
                                  const BatchScope* batch = nullptr)
      FEDEXEC_REQUIRES(entry.mu) {
    FEDEXEC_ASSIGN_OR_RETURN(const Held* held,
                             ResolveHeld(entry, ref, field, batch));
    return held->value.id();
  }

  // The same, the held value itself (valid while entry.mu is held).
  absl::StatusOr<const Held*> ResolveHeld(Entry& entry, const v0::ValueRef& ref,
                                          absl::string_view field,
                                          const BatchScope* batch = nullptr)
      FEDEXEC_REQUIRES(entry.mu) {
    if (ref.id().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": no value ref given"));
    }
    const std::string* id = &ref.id();
    if (batch != nullptr && id->front() == '#') {
      FEDEXEC_ASSIGN_OR_RETURN(id, batch->Find(*id, field));
    }
    const auto it = entry.values.find(*id);
    if (it == entry.values.end()) return UnknownRef(entry, field, *id);
    return &it->second;
  }

  // A value to answer: its id and declared type.
  struct Resolved {
    ValueId id = 0;
    ir::Type type;
  };

  absl::StatusOr<Resolved> ResolveLocked(Entry& entry, const v0::ValueRef& ref,
                                         absl::string_view field) {
    MutexLock lock(entry.mu);
    FEDEXEC_ASSIGN_OR_RETURN(const Held* held, ResolveHeld(entry, ref, field));
    return Resolved{held->value.id(), held->type};
  }

  // On a waiter: the value, with one member per client wherever its
  // declared type is per-client (the executor may hold one all-equal
  // member there).
  absl::StatusOr<Value> MaterializeAsDeclared(Entry& entry,
                                              const Resolved& resolved) {
    absl::StatusOr<Value> value = entry.executor->Materialize(resolved.id);
    if (!value.ok()) return ExecutorError(entry, value.status());
    return ir::ExpandAllEqual(*value, resolved.type, entry.num_clients);
  }

  absl::StatusOr<PartialAggregateSpec> MakeSpec(
      Entry& entry, const v1::PartialAggregateRequest& request,
      const BatchScope* batch = nullptr) {
    if (request.op().empty()) {
      return absl::InvalidArgumentError(
          "PartialAggregateRequest.op: no operation given");
    }
    const std::optional<PartialAggregateOp> op =
        ParsePartialAggregateOp(request.op());
    if (!op.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("PartialAggregateRequest.op: unknown operation '",
                       request.op(), "'"));
    }
    PartialAggregateSpec spec;
    spec.op = *op;
    spec.first_client = request.first_client();
    spec.total_clients = request.total_clients();
    spec.block_size = request.block_size();
    MutexLock lock(entry.mu);
    FEDEXEC_ASSIGN_OR_RETURN(
        spec.value, Resolve(entry, request.value_ref(),
                            "PartialAggregateRequest.value_ref", batch));
    if (!request.operand_ref().id().empty()) {
      FEDEXEC_ASSIGN_OR_RETURN(
          spec.operand, Resolve(entry, request.operand_ref(),
                                "PartialAggregateRequest.operand_ref", batch));
    }
    if (!request.function_ref().id().empty()) {
      FEDEXEC_ASSIGN_OR_RETURN(
          spec.function,
          Resolve(entry, request.function_ref(),
                  "PartialAggregateRequest.function_ref", batch));
    }
    if (!request.merge_ref().id().empty()) {
      FEDEXEC_ASSIGN_OR_RETURN(
          spec.merge, Resolve(entry, request.merge_ref(),
                              "PartialAggregateRequest.merge_ref", batch));
    }
    return spec;
  }

  absl::Status AcquireSlot() {
    const int limit = options_.max_concurrent_computations;
    int current = in_flight_.load(std::memory_order_acquire);
    while (true) {
      if (current >= limit) {
        return absl::ResourceExhaustedError(
            absl::StrCat("max_concurrent_computations (", limit,
                         ") computations are running; retry later"));
      }
      if (in_flight_.compare_exchange_weak(current, current + 1,
                                           std::memory_order_acq_rel)) {
        return absl::OkStatus();
      }
    }
  }

  // An error of the executor: CANCELLED means the executor as a whole was
  // cancelled, so the id is unusable from now on.
  absl::Status ExecutorError(Entry& entry, const absl::Status& status) {
    if (status.code() != absl::StatusCode::kCancelled) return status;
    MutexLock lock(entry.mu);
    return ExecutorErrorLocked(entry, status);
  }

  absl::Status ExecutorErrorLocked(Entry& entry, const absl::Status& status)
      FEDEXEC_REQUIRES(entry.mu) {
    if (status.code() != absl::StatusCode::kCancelled) return status;
    if (entry.unusable.ok()) {
      entry.unusable = absl::CancelledError(
          absl::StrCat("it was cancelled: ", status.message()));
    }
    return Unusable(entry);
  }

  absl::Status Unusable(const Entry& entry) const FEDEXEC_REQUIRES(entry.mu) {
    if (shutting_down_.load(std::memory_order_acquire)) {
      return absl::UnavailableError(
          absl::StrCat("the worker is shutting down; executor '", entry.id,
                       "' was cancelled"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "executor '", entry.id, "' is unusable (", entry.unusable.message(),
        "); ask GetExecutor for a new one"));
  }

  static absl::Status UnknownExecutor(const std::string& id) {
    return absl::FailedPreconditionError(
        absl::StrCat("executor '", id,
                     "' is unknown or was disposed; ask GetExecutor for a "
                     "new one"));
  }

  static absl::Status UnknownRef(const Entry& entry, absl::string_view field,
                                 const std::string& ref) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": unknown value ref '", ref, "' on executor '", entry.id, "'"));
  }

  absl::Status TooBig(int64_t bytes) const {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the value takes ", bytes, " bytes, more than max_message_bytes (",
        options_.max_message_bytes, "); fetch it with ComputeStream"));
  }

  const ExecutorSource source_;
  const ServiceOptions options_;
  std::string instance_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<int> in_flight_{0};

  mutable Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Entry>> entries_
      FEDEXEC_GUARDED_BY(mu_);
  // GetExecutor calls under way.
  int64_t reserved_ FEDEXEC_GUARDED_BY(mu_) = 0;
  uint64_t executor_serial_ FEDEXEC_GUARDED_BY(mu_) = 0;
  AnswerCache service_answers_ FEDEXEC_GUARDED_BY(mu_);
  ComputationCache computations_{kCachedComputations};

  // Last: destroyed (joined) first, while everything above still exists.
  WaiterPool pool_;
};

// -------------------------------------------------------------- handlers

grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* ctx,
                                 absl::string_view method,
                                 const absl::Status& status) {
  LogAnswer(method, ctx->peer(), status);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpc(status));
  return reactor;
}

// The answer of a call that waits: logged and sent when `done` is called.
absl::AnyInvocable<void(absl::Status) &&> Finisher(
    grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* reactor,
    absl::string_view method) {
  return [reactor, method = std::string(method),
          peer = ctx->peer()](absl::Status s) {
    LogAnswer(method, peer, s);
    reactor->Finish(ToGrpc(s));
  };
}

class GroupService final : public v0::ExecutorGroup::CallbackService {
 public:
  explicit GroupService(Core* core) : core_(core) {}

  grpc::ServerUnaryReactor* GetExecutor(
      grpc::CallbackServerContext* ctx, const v0::GetExecutorRequest* request,
      v0::GetExecutorResponse* response) override {
    return Answer(ctx, "GetExecutor",
                  core_->GetExecutor(ctx, *request, response));
  }
  grpc::ServerUnaryReactor* CreateValue(
      grpc::CallbackServerContext* ctx, const v0::CreateValueRequest* request,
      v0::CreateValueResponse* response) override {
    return Answer(ctx, "CreateValue",
                  core_->CreateValue(ctx, *request, response));
  }
  grpc::ServerUnaryReactor* CreateCall(
      grpc::CallbackServerContext* ctx, const v0::CreateCallRequest* request,
      v0::CreateCallResponse* response) override {
    return Answer(ctx, "CreateCall",
                  core_->CreateCall(ctx, *request, response));
  }
  grpc::ServerUnaryReactor* CreateStruct(
      grpc::CallbackServerContext* ctx, const v0::CreateStructRequest* request,
      v0::CreateStructResponse* response) override {
    return Answer(ctx, "CreateStruct",
                  core_->CreateStruct(ctx, *request, response));
  }
  grpc::ServerUnaryReactor* CreateSelection(
      grpc::CallbackServerContext* ctx,
      const v0::CreateSelectionRequest* request,
      v0::CreateSelectionResponse* response) override {
    return Answer(ctx, "CreateSelection",
                  core_->CreateSelection(ctx, *request, response));
  }
  grpc::ServerUnaryReactor* Compute(grpc::CallbackServerContext* ctx,
                                    const v0::ComputeRequest* request,
                                    v0::ComputeResponse* response) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    core_->Compute(ctx, *request, response, Finisher(ctx, reactor, "Compute"));
    return reactor;
  }
  grpc::ServerUnaryReactor* Dispose(grpc::CallbackServerContext* ctx,
                                    const v0::DisposeRequest* request,
                                    v0::DisposeResponse*) override {
    return Answer(ctx, "Dispose", core_->Dispose(ctx, *request));
  }
  grpc::ServerUnaryReactor* DisposeExecutor(
      grpc::CallbackServerContext* ctx,
      const v0::DisposeExecutorRequest* request,
      v0::DisposeExecutorResponse*) override {
    return Answer(ctx, "DisposeExecutor",
                  core_->DisposeExecutor(ctx, *request));
  }

 private:
  Core* const core_;
};

// CreateValueStream: reads chunks into an assembler as they arrive (one
// message buffered at a time), then creates the value.
class CreateValueStreamReactor final
    : public grpc::ServerReadReactor<v1::CreateValueStreamRequest> {
 public:
  CreateValueStreamReactor(Core* core, grpc::CallbackServerContext* ctx,
                           v0::CreateValueResponse* response)
      : core_(core),
        ctx_(ctx),
        response_(response),
        assembler_(core->options().max_stream_bytes),
        request_id_(RequestId(ctx)),
        peer_(ctx->peer()) {
    if (absl::Status s = core_->Admit(ctx); !s.ok()) {
      End(s);
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      End(Complete());
      return;
    }
    bool answered = false;
    absl::Status s = Take(answered);
    if (!s.ok() || answered) {
      End(s);
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  void End(const absl::Status& status) {
    LogAnswer("CreateValueStream", peer_, status);
    Finish(ToGrpc(status));
  }

  absl::Status Take(bool& answered) {
    ++messages_;
    if (entry_ == nullptr) {
      FEDEXEC_ASSIGN_OR_RETURN(
          entry_, core_->Lookup(request_.executor(),
                                "CreateValueStreamRequest.executor"));
      if (std::optional<std::string> ref =
              core_->Answered(*entry_, request_id_)) {
        // A retry of a stream already stored: no need for its bytes.
        response_->mutable_value_ref()->set_id(*ref);
        answered = true;
        return absl::OkStatus();
      }
      // Early, so that a value that cannot be kept is not received.
      FEDEXEC_RETURN_IF_ERROR(core_->CheckRoom(*entry_));
    } else if (!request_.executor().id().empty() &&
               request_.executor().id() != entry_->id) {
      return absl::InvalidArgumentError(
          absl::StrCat("CreateValueStreamRequest.executor: '",
                       request_.executor().id(), "' in message ", messages_,
                       " differs from the first message's '", entry_->id, "'"));
    }
    if (!request_.has_chunk()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "CreateValueStreamRequest.chunk: missing in message ", messages_));
    }
    return WithPrefix("CreateValueStreamRequest.chunk: ",
                      assembler_.Add(request_.chunk()));
  }

  absl::Status Complete() {
    if (ctx_->IsCancelled()) {
      return absl::CancelledError("the client cancelled the stream");
    }
    if (entry_ == nullptr) {
      return absl::InvalidArgumentError(
          "CreateValueStream: no message (the first names the executor and "
          "carries the value header)");
    }
    absl::StatusOr<Value> value = assembler_.Finish();
    if (!value.ok()) {
      return WithPrefix("CreateValueStreamRequest.chunk: ", value.status());
    }
    FEDEXEC_ASSIGN_OR_RETURN(
        std::string ref, core_->CreateAssembled(*entry_, request_id_, *value));
    response_->mutable_value_ref()->set_id(ref);
    return absl::OkStatus();
  }

  Core* const core_;
  grpc::CallbackServerContext* const ctx_;
  v0::CreateValueResponse* const response_;
  ir::ChunkAssembler assembler_;
  const std::optional<std::string> request_id_;
  const std::string peer_;
  std::shared_ptr<Entry> entry_;
  v1::CreateValueStreamRequest request_;
  int64_t messages_ = 0;
};

// ComputeStream: once a waiter has the value, writes its chunks one at a
// time, each when gRPC has sent the previous one.
class ComputeStreamReactor final
    : public grpc::ServerWriteReactor<v1::ValueChunk> {
 public:
  ComputeStreamReactor(Core* core, grpc::CallbackServerContext* ctx,
                       const v1::ComputeStreamRequest* request)
      : core_(core), peer_(ctx->peer()) {
    absl::Status s = core_->StartComputeStream(
        ctx, *request, [this](absl::StatusOr<ir::ValueChunker> chunker) {
          Begin(std::move(chunker));
        });
    if (!s.ok()) {
      LogAnswer("ComputeStream", peer_, s);
      Finish(ToGrpc(s));
    }
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      End(absl::CancelledError("the client stopped reading the stream"));
      return;
    }
    WriteNext();
  }

  void OnDone() override { delete this; }

 private:
  // On a waiter thread.
  void Begin(absl::StatusOr<ir::ValueChunker> chunker) {
    if (!chunker.ok()) {
      End(chunker.status());
      return;
    }
    chunker_.emplace(*std::move(chunker));
    WriteNext();
  }

  void WriteNext() {
    if (!chunker_->Next(&chunk_)) {
      End(absl::OkStatus());
      return;
    }
    if (chunk_.has_header() &&
        chunk_.ByteSizeLong() >
            static_cast<size_t>(core_->options().max_message_bytes)) {
      End(absl::ResourceExhaustedError(absl::StrCat(
          "the value's header (its structure and string arrays) takes ",
          chunk_.ByteSizeLong(), " bytes, more than max_message_bytes (",
          core_->options().max_message_bytes, ")")));
      return;
    }
    StartWrite(&chunk_);
  }

  void End(const absl::Status& status) {
    chunker_.reset();
    core_->ReleaseSlot();
    LogAnswer("ComputeStream", peer_, status);
    Finish(ToGrpc(status));
  }

  Core* const core_;
  const std::string peer_;
  std::optional<ir::ValueChunker> chunker_;
  v1::ValueChunk chunk_;
};

class StreamService final : public v1::ExecutorStream::CallbackService {
 public:
  explicit StreamService(Core* core) : core_(core) {}

  grpc::ServerUnaryReactor* GetWorkerInfo(grpc::CallbackServerContext* ctx,
                                          const v1::GetWorkerInfoRequest*,
                                          v1::WorkerInfo* response) override {
    return Answer(ctx, "GetWorkerInfo", core_->GetWorkerInfo(ctx, response));
  }
  grpc::ServerReadReactor<v1::CreateValueStreamRequest>* CreateValueStream(
      grpc::CallbackServerContext* ctx,
      v0::CreateValueResponse* response) override {
    return new CreateValueStreamReactor(core_, ctx, response);
  }
  grpc::ServerWriteReactor<v1::ValueChunk>* ComputeStream(
      grpc::CallbackServerContext* ctx,
      const v1::ComputeStreamRequest* request) override {
    return new ComputeStreamReactor(core_, ctx, request);
  }
  grpc::ServerUnaryReactor* ExecuteBatch(
      grpc::CallbackServerContext* ctx, const v1::ExecuteBatchRequest* request,
      v1::ExecuteBatchResponse* response) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    core_->ExecuteBatch(ctx, *request, response,
                        Finisher(ctx, reactor, "ExecuteBatch"));
    return reactor;
  }
  grpc::ServerUnaryReactor* PartialAggregate(
      grpc::CallbackServerContext* ctx,
      const v1::PartialAggregateRequest* request,
      v1::PartialAggregateResponse* response) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    core_->PartialAggregate(ctx, *request, response,
                            Finisher(ctx, reactor, "PartialAggregate"));
    return reactor;
  }

 private:
  Core* const core_;
};

}  // namespace

// ------------------------------------------------------------ the service

class ExecutorService::Impl {
 public:
  Impl(ExecutorSource source, ServiceOptions options)
      : core(std::move(source), std::move(options)),
        group(&core),
        stream(&core) {}

  Core core;
  GroupService group;
  StreamService stream;
};

absl::StatusOr<std::unique_ptr<ExecutorService>> ExecutorService::Create(
    ExecutorSource source, ServiceOptions options) {
  if (!source) {
    return absl::InvalidArgumentError("ExecutorService: no executor source");
  }
  auto at_least_1 = [](absl::string_view name, int64_t v) -> absl::Status {
    if (v >= 1) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("ExecutorService: ", name, " is ", v, ", must be >= 1"));
  };
  FEDEXEC_RETURN_IF_ERROR(
      at_least_1("max_message_bytes", options.max_message_bytes));
  if (options.max_message_bytes > INT_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("ExecutorService: max_message_bytes is ",
                     options.max_message_bytes, ", must be at most ", INT_MAX));
  }
  FEDEXEC_RETURN_IF_ERROR(
      at_least_1("max_values_per_executor", options.max_values_per_executor));
  FEDEXEC_RETURN_IF_ERROR(at_least_1("max_concurrent_computations",
                                     options.max_concurrent_computations));
  FEDEXEC_RETURN_IF_ERROR(at_least_1("max_executors", options.max_executors));
  FEDEXEC_RETURN_IF_ERROR(
      at_least_1("max_stream_bytes", options.max_stream_bytes));
  FEDEXEC_RETURN_IF_ERROR(
      at_least_1("default_chunk_bytes", options.default_chunk_bytes));
  if (!(options.capacity > 0) || !std::isfinite(options.capacity)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ExecutorService: capacity is ", options.capacity,
                     ", must be a positive number"));
  }
  if (options.request_id_window < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("ExecutorService: request_id_window is ",
                     options.request_id_window, ", must be >= 0"));
  }
  return std::unique_ptr<ExecutorService>(new ExecutorService(
      std::make_unique<Impl>(std::move(source), std::move(options))));
}

ExecutorService::ExecutorService(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

ExecutorService::~ExecutorService() = default;

grpc::Service* ExecutorService::executor_group_service() {
  return &impl_->group;
}
grpc::Service* ExecutorService::executor_stream_service() {
  return &impl_->stream;
}
void ExecutorService::CancelAll() { impl_->core.CancelAll(); }
int64_t ExecutorService::num_executors() const {
  return impl_->core.num_executors();
}
int64_t ExecutorService::num_values() const { return impl_->core.num_values(); }
int ExecutorService::computations_in_flight() const {
  return impl_->core.computations_in_flight();
}
const ServiceOptions& ExecutorService::options() const {
  return impl_->core.options();
}

}  // namespace fedexec::service
