// fedexec._fedexec: the extension module under the Python package fedexec
// (python/fedexec). It exposes three classes to the package's pure-Python
// layer, which does every type-directed conversion:
//
//   Computation  a type-checked computation (text, binary or text proto)
//   Value        a fedexec value, built from and read into Python objects;
//                tensors share memory with numpy arrays both ways
//   Runtime      a stacks::Runtime, in-process or over workers
//
// Memory contract. An input tensor made with share=True views the caller's
// buffer (a Py_buffer held until the last fedexec reference goes, released
// under the GIL); share=False copies it into a fedexec buffer. An output
// tensor is exported as a read-only buffer (TensorBuffer) that holds the
// Tensor, so numpy arrays made over it keep the tensor alive.
//
// Errors. A non-OK absl::Status becomes the exception that
// fedexec.errors._from_status makes for it (a fedexec.Error subclass that
// keeps the code; INVALID_ARGUMENT is also a ValueError).
//
// Thread-safety: Runtime.call releases the GIL while the computation runs
// and may be called from several Python threads at once; Value and
// Computation objects are immutable.
#include <Python.h>
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/dtype.h"
#include "core/placement.h"
#include "core/tensor.h"
#include "core/value.h"
#include "ir/ast.h"
#include "ir/computation_file.h"
#include "ir/text_syntax.h"
#include "ir/type.h"
#include "ir/type_checker.h"
#include "ir/value_syntax.h"
#include "net/grpc_channel.h"
#include "runtimes/native/registry.h"
#include "stacks/remote_stack.h"
#include "stacks/runtime.h"
#include "tools/native_functions.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace fedexec::python {
namespace {

// Raises the Python exception for a non-OK status.
[[noreturn]] void Raise(const absl::Status& status) {
  nb::object make = nb::module_::import_("fedexec.errors").attr("_from_status");
  nb::object error = make(static_cast<int>(status.code()),
                          std::string(absl::StatusCodeToString(status.code())),
                          std::string(status.message()));
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())),
                  error.ptr());
  throw nb::python_error();
}

template <typename T>
T Check(absl::StatusOr<T> result) {
  if (!result.ok()) Raise(result.status());
  return *std::move(result);
}

void Check(const absl::Status& status) {
  if (!status.ok()) Raise(status);
}

bool InterpreterAlive() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsInitialized() && !Py_IsFinalizing();
#else
  return Py_IsInitialized() && !_Py_IsFinalizing();
#endif
}

// A Py_buffer held by fedexec tensors; released under the GIL (tensors are
// dropped on any thread). At interpreter exit it is leaked instead.
struct HeldBuffer {
  Py_buffer view{};
  ~HeldBuffer() {
    if (view.obj == nullptr || !InterpreterAlive()) return;
    nb::gil_scoped_acquire gil;
    PyBuffer_Release(&view);
  }
};

DType DTypeFromNameOrRaise(const std::string& name) {
  std::optional<DType> dtype = DTypeFromName(name);
  if (!dtype.has_value() || *dtype == DType::kInvalid) {
    Raise(
        absl::InvalidArgumentError(absl::StrCat("unknown dtype '", name, "'")));
  }
  return *dtype;
}

// The buffer of `object` (C-contiguous), held.
std::shared_ptr<HeldBuffer> GetBuffer(nb::handle object) {
  auto held = std::make_shared<HeldBuffer>();
  if (PyObject_GetBuffer(object.ptr(), &held->view, PyBUF_C_CONTIGUOUS) != 0) {
    held->view.obj = nullptr;
    throw nb::python_error();
  }
  return held;
}

// A tensor over `data`: shared (the tensor holds `held`) or copied.
absl::StatusOr<Tensor> TensorOver(DType dtype, std::vector<int64_t> shape,
                                  const std::shared_ptr<HeldBuffer>& held,
                                  const char* data, size_t bytes, bool share) {
  if (share) {
    return Tensor::FromBuffer(dtype, std::move(shape), held, data, bytes);
  }
  std::shared_ptr<void> copy = AllocateUninitializedBuffer(bytes);
  if (copy == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", bytes, " bytes for a tensor"));
  }
  if (bytes > 0) std::memcpy(copy.get(), data, bytes);
  const void* copied = copy.get();
  return Tensor::FromBuffer(dtype, std::move(shape), std::move(copy), copied,
                            bytes);
}

int64_t ElementCount(const std::vector<int64_t>& shape) {
  return Check(CheckedNumElements(shape));
}

// ---------------------------------------------------------------- Value

struct PyValue {
  Value value;
};

// A read-only buffer over a tensor's elements (the Python buffer protocol).
struct TensorBuffer {
  Tensor tensor;
};

int TensorBufferGet(PyObject* self, Py_buffer* view, int flags) {
  TensorBuffer* buffer = nb::inst_ptr<TensorBuffer>(self);
  const Tensor& tensor = buffer->tensor;
  return PyBuffer_FillInfo(view, self, const_cast<void*>(tensor.raw_data()),
                           static_cast<Py_ssize_t>(tensor.byte_size()),
                           /*readonly=*/1, flags);
}

PyType_Slot tensor_buffer_slots[] = {
    {Py_bf_getbuffer, reinterpret_cast<void*>(TensorBufferGet)}, {0, nullptr}};

PyValue MakeTensor(nb::handle array, const std::string& dtype_name,
                   std::vector<int64_t> shape, bool share) {
  DType dtype = DTypeFromNameOrRaise(dtype_name);
  if (dtype == DType::kString) {
    Raise(absl::InvalidArgumentError(
        "string tensors are made by from_strings()"));
  }
  std::shared_ptr<HeldBuffer> held = GetBuffer(array);
  const size_t bytes = static_cast<size_t>(held->view.len);
  PyValue result{Check(TensorOver(dtype, std::move(shape), held,
                                  static_cast<const char*>(held->view.buf),
                                  bytes, share))};
  return result;
}

PyValue MakeStrings(const std::vector<nb::bytes>& values,
                    std::vector<int64_t> shape) {
  std::vector<std::string> strings;
  strings.reserve(values.size());
  for (const nb::bytes& b : values) {
    strings.emplace_back(b.c_str(), b.size());
  }
  return PyValue{
      Check(Tensor::FromStrings(std::move(strings), std::move(shape)))};
}

// Splits an N x ... buffer into N tensors of shape ..., without a copy when
// shared (each row views the buffer; one hold for all).
std::vector<Value> SplitRows(nb::handle array, const std::string& dtype_name,
                             std::vector<int64_t> shape, bool share) {
  DType dtype = DTypeFromNameOrRaise(dtype_name);
  if (dtype == DType::kString || shape.empty()) {
    Raise(absl::InvalidArgumentError(
        "rows: needs a numeric array of rank 1 or more"));
  }
  std::shared_ptr<HeldBuffer> held = GetBuffer(array);
  const int64_t total = ElementCount(shape);
  const size_t bytes = static_cast<size_t>(held->view.len);
  if (bytes != static_cast<size_t>(total) * DTypeSize(dtype)) {
    Raise(absl::InvalidArgumentError(
        absl::StrCat("rows: the buffer holds ", bytes, " bytes, the shape ",
                     ShapeString(shape), " of ", std::string(DTypeName(dtype)),
                     " needs ", total * DTypeSize(dtype))));
  }
  const int64_t n = shape[0];
  std::vector<int64_t> row_shape(shape.begin() + 1, shape.end());
  const size_t row_bytes = n == 0 ? 0 : bytes / n;
  const char* base = static_cast<const char*>(held->view.buf);
  std::shared_ptr<HeldBuffer> owner = held;
  if (!share) {
    // One copy of the whole array, then rows over it.
    Tensor whole = Check(TensorOver(dtype, shape, held, base, bytes, false));
    auto keep = std::make_shared<Tensor>(whole);
    base = static_cast<const char*>(keep->raw_data());
    std::vector<Value> rows;
    rows.reserve(n);
    {
      nb::gil_scoped_release release;
      for (int64_t i = 0; i < n; ++i) {
        absl::StatusOr<Tensor> row = Tensor::FromBuffer(
            dtype, row_shape, keep, base + i * row_bytes, row_bytes);
        if (!row.ok()) {
          nb::gil_scoped_acquire gil;
          Raise(row.status());
        }
        rows.emplace_back(*std::move(row));
      }
    }
    return rows;
  }
  std::vector<Value> rows;
  rows.reserve(n);
  {
    nb::gil_scoped_release release;
    for (int64_t i = 0; i < n; ++i) {
      absl::StatusOr<Tensor> row = Tensor::FromBuffer(
          dtype, row_shape, owner, base + i * row_bytes, row_bytes);
      if (!row.ok()) {
        nb::gil_scoped_acquire gil;
        Raise(row.status());
      }
      rows.emplace_back(*std::move(row));
    }
  }
  return rows;
}

std::vector<Value> Unwrap(const std::vector<const PyValue*>& values) {
  std::vector<Value> out;
  out.reserve(values.size());
  for (const PyValue* v : values) {
    if (v == nullptr) {
      Raise(absl::InvalidArgumentError("a value is None"));
    }
    out.push_back(v->value);
  }
  return out;
}

Placement PlacementFromName(const std::string& name) {
  if (name == "SERVER" || name == "server") return Placement::kServer;
  if (name == "CLIENTS" || name == "clients") return Placement::kClients;
  Raise(absl::InvalidArgumentError(
      absl::StrCat("unknown placement '", name, "' (SERVER or CLIENTS)")));
}

const char* KindName(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::kTensor:
      return "tensor";
    case Value::Kind::kStruct:
      return "struct";
    case Value::Kind::kSequence:
      return "sequence";
    case Value::Kind::kFederated:
      return "federated";
    case Value::Kind::kFunction:
      return "function";
  }
  return "?";
}

void RequireKind(const PyValue& v, Value::Kind kind) {
  if (v.value.kind() != kind) {
    Raise(absl::InvalidArgumentError(absl::StrCat("the value is a ",
                                                  KindName(v.value.kind()),
                                                  ", not a ", KindName(kind))));
  }
}

// ---------------------------------------------------------------- types

// A type as nested tuples (fedexec/_types.py reads them):
//   ("tensor", dtype, dims or None)    dims: tuple of int, None for `?`
//   ("struct", ((name or None, type), ...))
//   ("sequence", element)
//   ("federated", placement, all_equal, member)
//   ("function", parameter or None, result)
//   ("placement",)  ("abstract", label)
nb::object TypeTuple(const ir::Type& type) {
  switch (type.kind()) {
    case ir::TypeKind::kTensor: {
      nb::object dims = nb::none();
      if (!type.unknown_rank()) {
        nb::list list;
        for (int64_t d : type.dims()) {
          if (d == ir::kUnknownDim) {
            list.append(nb::none());
          } else {
            list.append(nb::int_(d));
          }
        }
        dims = nb::tuple(list);
      }
      return nb::make_tuple("tensor", std::string(DTypeName(type.dtype())),
                            dims);
    }
    case ir::TypeKind::kStruct: {
      nb::list elements;
      for (const ir::StructElementType& e : type.elements()) {
        nb::object name =
            e.name.empty() ? nb::none() : nb::object(nb::str(e.name.c_str()));
        elements.append(nb::make_tuple(name, TypeTuple(e.type)));
      }
      return nb::make_tuple("struct", nb::tuple(elements));
    }
    case ir::TypeKind::kSequence:
      return nb::make_tuple("sequence", TypeTuple(type.element()));
    case ir::TypeKind::kFederated:
      return nb::make_tuple("federated",
                            std::string(PlacementName(type.placement())),
                            type.all_equal(), TypeTuple(type.member()));
    case ir::TypeKind::kFunction:
      return nb::make_tuple("function",
                            type.parameter() == nullptr
                                ? nb::none()
                                : TypeTuple(*type.parameter()),
                            TypeTuple(type.result()));
    case ir::TypeKind::kPlacement:
      return nb::make_tuple("placement");
    case ir::TypeKind::kAbstract:
      return nb::make_tuple("abstract", type.label());
  }
  return nb::none();
}

// ---------------------------------------------------------------- Computation

struct PyComputation {
  ir::NodePtr node;  // type checked
};

PyComputation Checked(absl::StatusOr<ir::NodePtr> parsed) {
  ir::NodePtr node = Check(std::move(parsed));
  return PyComputation{Check(ir::CheckComputation(node))};
}

// ---------------------------------------------------------------- Runtime

// The thread that runs the calls made from Python's main thread, so that
// the main thread can look for signals meanwhile (see Call). One thread,
// started on first use and kept: starting a thread per call costs more
// than a trivial call (about 50 to 250 us on a busy machine).
class CallThread {
 public:
  CallThread() = default;
  CallThread(const CallThread&) = delete;
  CallThread& operator=(const CallThread&) = delete;
  ~CallThread() {
    Stop([] {});
  }

  // Runs `job` on the thread, after the jobs before it.
  void Post(std::function<void()> job) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
    jobs_.push_back(std::move(job));
    wake_.notify_one();
  }

  // Lets the thread finish the jobs posted and end, calling `nudge` every
  // 5 ms until it has (to cancel a job that runs long), and joins it.
  // Without the GIL.
  void Stop(const std::function<void()>& nudge) {
    std::thread thread;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (!thread_.joinable()) return;
      stop_ = true;
      wake_.notify_one();
      while (!done_) {
        lock.unlock();
        nudge();
        lock.lock();
        ended_.wait_for(lock, std::chrono::milliseconds(5));
      }
      thread = std::move(thread_);
    }
    thread.join();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      wake_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) break;  // stopping, nothing left
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      job = nullptr;  // its captures go before the next job
      lock.lock();
    }
    done_ = true;
    ended_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable ended_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  bool done_ = false;
  std::thread thread_;
};

class PyRuntime {
 public:
  explicit PyRuntime(std::unique_ptr<stacks::Runtime> runtime)
      : runtime_(std::move(runtime)) {}
  // Runs with the GIL held (Python frees the object): the runtime's threads
  // may need it to drop the last references to Python buffers.
  ~PyRuntime() {
    nb::gil_scoped_release release;
    CancelAndRelease();
  }

  // The runtime, shared: a call keeps it alive until the call's own thread
  // is done with it, even when another Python thread closes it meanwhile.
  std::shared_ptr<stacks::Runtime> get() {
    std::shared_ptr<stacks::Runtime> runtime = runtime_.load();
    if (runtime == nullptr) {
      Raise(absl::FailedPreconditionError("the runtime is closed"));
    }
    return runtime;
  }

  // Releases the threads and connections. Calls still running are
  // cancelled and waited for first.
  void Close() {
    nb::gil_scoped_release release;
    CancelAndRelease();
  }

  bool closed() const { return runtime_.load() == nullptr; }

  CallThread& call_thread() { return call_thread_; }

 private:
  // Without the GIL.
  void CancelAndRelease() {
    std::shared_ptr<stacks::Runtime> runtime = runtime_.exchange(nullptr);
    if (runtime == nullptr) return;
    call_thread_.Stop([&runtime] { runtime->CancelRunning(); });
    while (runtime->NumRunning() > 0) {
      runtime->CancelRunning();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // Atomic: calls and close may come from several Python threads, the GIL
  // released.
  std::atomic<std::shared_ptr<stacks::Runtime>> runtime_;
  CallThread call_thread_;
};

// The Python thread identifier of the main thread (set at import).
unsigned long main_thread_ident = 0;

// A call from Python's main thread runs on the runtime's CallThread so that
// the main thread can look for signals every 20 ms. On a signal whose
// handler raises (KeyboardInterrupt) the runtime's running calls are
// cancelled, and again at every poll until this call has returned, then the
// exception is re-raised. The repetition matters: a call counts as running
// (and so can be cancelled) only once stacks::Runtime::Call has checked its
// argument, which takes a while for millions of values; a single
// CancelRunning that came before that would be lost and the call would run
// to its end. Other threads receive no signals (Python's rule): their calls
// run on the calling thread, the GIL released.
PyValue Call(PyRuntime& py_runtime, const PyComputation& computation,
             const PyValue* argument, std::optional<int64_t> num_clients) {
  std::shared_ptr<stacks::Runtime> runtime = py_runtime.get();
  std::optional<Value> arg;
  if (argument != nullptr) arg = argument->value;
  stacks::Runtime::CallOptions options;
  options.num_clients = num_clients;
  ir::NodePtr node = computation.node;

  if (PyThread_get_thread_ident() != main_thread_ident) {
    std::optional<absl::StatusOr<Value>> result;
    {
      nb::gil_scoped_release release;
      result.emplace(runtime->Call(node, std::move(arg), options));
      arg.reset();
      runtime.reset();
    }
    return PyValue{Check(*std::move(result))};
  }

  auto promise = std::make_shared<std::promise<absl::StatusOr<Value>>>();
  std::future<absl::StatusOr<Value>> future = promise->get_future();
  bool interrupted = false;
  {
    nb::gil_scoped_release release;
    py_runtime.call_thread().Post(
        [runtime, promise, node, arg = std::move(arg), options]() mutable {
          absl::StatusOr<Value> result =
              runtime->Call(node, std::move(arg), options);
          arg.reset();
          promise->set_value(std::move(result));
        });
    while (future.wait_for(std::chrono::milliseconds(20)) !=
           std::future_status::ready) {
      if (!interrupted) {
        nb::gil_scoped_acquire gil;
        // The pending exception (KeyboardInterrupt, or whatever a signal
        // handler raised) stays set while the call is cancelled.
        interrupted = PyErr_CheckSignals() != 0;
      }
      if (interrupted) runtime->CancelRunning();
    }
    // This thread's reference to the runtime goes without the GIL.
    runtime.reset();
  }
  absl::StatusOr<Value> result = future.get();
  if (interrupted) throw nb::python_error();
  return PyValue{Check(std::move(result))};
}

std::unique_ptr<PyRuntime> MakeLocal(int threads, int64_t default_clients,
                                     int cache_size) {
  stacks::RuntimeOptions options;
  options.threads = threads;
  options.default_clients = default_clients;
  options.cache_size = cache_size;
  return std::make_unique<PyRuntime>(Check(stacks::Runtime::Create(options)));
}

std::unique_ptr<PyRuntime> MakeRemote(
    const std::vector<std::pair<std::string, double>>& workers, int threads,
    int64_t default_clients, const std::string& token_file, bool tls,
    const std::string& tls_root_cert, const std::string& tls_client_cert,
    const std::string& tls_client_key, double timeout_seconds) {
  std::vector<stacks::WorkerSpec> specs;
  for (const auto& [address, capacity] : workers) {
    specs.push_back(stacks::WorkerSpec{address, capacity});
  }
  stacks::RemoteStackOptions options;
  options.threads = threads;
  if (!token_file.empty()) {
    absl::StatusOr<std::string> token = ReadTokenFile(token_file);
    if (!token.ok()) {
      Raise(absl::InvalidArgumentError(
          absl::StrCat("token_file: ", token.status().message())));
    }
    options.remote.token = *std::move(token);
  }
  options.channel.tls = tls || !tls_root_cert.empty() ||
                        !tls_client_cert.empty() || !tls_client_key.empty();
  options.channel.tls_root_cert_file = tls_root_cert;
  options.channel.tls_client_cert_file = tls_client_cert;
  options.channel.tls_client_key_file = tls_client_key;
  options.remote.call_timeout = absl::Seconds(timeout_seconds);
  options.connect_timeout = absl::Seconds(timeout_seconds);
  absl::StatusOr<std::unique_ptr<stacks::ExecutorFactory>> factory;
  {
    nb::gil_scoped_release release;
    factory = stacks::CreateRemoteFactory(std::move(specs), std::move(options));
  }
  return std::make_unique<PyRuntime>(Check(stacks::Runtime::CreateWithFactory(
      Check(std::move(factory)), default_clients)));
}

}  // namespace
}  // namespace fedexec::python

NB_MODULE(_fedexec, m) {
  using namespace fedexec;
  using namespace fedexec::python;
  m.doc() = "fedexec's compiled core (use the fedexec package instead).";
  // The native functions `fedexec run` and `fedexec worker` have (the
  // built-in kernels and the demos' functions), so that a computation runs
  // the same in-process from Python as with the program.
  Check(cli::RegisterNativeFunctions());
  Check(native::NativeRegistry::Default().startup_status());
  m.def(
      "native_signature",
      [](const std::string& name) {
        std::string signature =
            Check(native::NativeRegistry::Default().Signature(name));
        absl::StatusOr<ir::Type> type = ir::ParseType(signature);
        return nb::make_tuple(signature,
                              type.ok() ? TypeTuple(*type) : nb::none());
      },
      "name"_a,
      "The signature a native function is registered with, as text and as "
      "a type tuple (None when it does not parse as a type); NOT_FOUND for "
      "an unknown name.");
  m.def(
      "native_names", [] { return native::NativeRegistry::Default().Names(); },
      "Every registered native function's name, sorted.");
  main_thread_ident = nb::cast<unsigned long>(
      nb::module_::import_("threading").attr("main_thread")().attr("ident"));

  nb::class_<TensorBuffer>(m, "TensorBuffer",
                           nb::type_slots(tensor_buffer_slots),
                           "A read-only buffer over a result tensor's "
                           "elements; keeps the tensor alive.")
      .def_prop_ro("address",
                   [](const TensorBuffer& b) {
                     return reinterpret_cast<uintptr_t>(b.tensor.raw_data());
                   })
      .def_prop_ro("nbytes",
                   [](const TensorBuffer& b) { return b.tensor.byte_size(); });

  nb::class_<PyValue>(m, "Value", "A fedexec value (immutable).")
      .def_static("tensor", &MakeTensor, "buffer"_a, "dtype"_a, "shape"_a,
                  "share"_a,
                  "A tensor over a C-contiguous buffer: viewing it "
                  "(share=True; the value holds the buffer) or a copy.")
      .def_static("from_strings", &MakeStrings, "values"_a, "shape"_a,
                  "A string tensor of the given shape (row-major).")
      .def_static(
          "struct",
          [](const std::vector<std::pair<std::optional<std::string>,
                                         const PyValue*>>& elements) {
            std::vector<std::pair<std::string, Value>> out;
            out.reserve(elements.size());
            for (const auto& [name, v] : elements) {
              if (v == nullptr)
                Raise(absl::InvalidArgumentError("a value is None"));
              out.emplace_back(name.value_or(""), v->value);
            }
            return PyValue{Value::Struct(std::move(out))};
          },
          "elements"_a, "A struct of (name or None, value) pairs.")
      .def_static(
          "sequence",
          [](const std::vector<const PyValue*>& elements) {
            return PyValue{Value::Sequence(Unwrap(elements))};
          },
          "elements"_a, "A sequence of the given elements.")
      .def_static(
          "federated",
          [](const std::string& placement, bool all_equal,
             const std::vector<const PyValue*>& members) {
            return PyValue{Value::Federated(PlacementFromName(placement),
                                            all_equal, Unwrap(members))};
          },
          "placement"_a, "all_equal"_a, "members"_a,
          "A federated value: one member when all-equal, else one per "
          "participant.")
      .def_static(
          "rows",
          [](nb::handle buffer, const std::string& dtype,
             std::vector<int64_t> shape, bool share, const std::string& as) {
            std::vector<Value> rows =
                SplitRows(buffer, dtype, std::move(shape), share);
            if (as == "clients") {
              return PyValue{Value::Federated(Placement::kClients, false,
                                              std::move(rows))};
            }
            if (as == "sequence") {
              return PyValue{Value::Sequence(std::move(rows))};
            }
            Raise(absl::InvalidArgumentError(
                absl::StrCat("rows: unknown target '", as, "'")));
          },
          "buffer"_a, "dtype"_a, "shape"_a, "share"_a, "as_"_a,
          "Splits an N x ... buffer by rows into N clients' values "
          "(as_='clients') or a sequence's elements (as_='sequence').")
      .def_prop_ro("kind",
                   [](const PyValue& v) { return KindName(v.value.kind()); })
      .def_prop_ro("dtype",
                   [](const PyValue& v) {
                     RequireKind(v, Value::Kind::kTensor);
                     return std::string(DTypeName(v.value.tensor().dtype()));
                   })
      .def_prop_ro("shape",
                   [](const PyValue& v) {
                     RequireKind(v, Value::Kind::kTensor);
                     return v.value.tensor().shape();
                   })
      .def(
          "buffer",
          [](const PyValue& v) {
            RequireKind(v, Value::Kind::kTensor);
            if (v.value.tensor().dtype() == DType::kString) {
              Raise(absl::InvalidArgumentError(
                  "a string tensor has no buffer; use strings()"));
            }
            return TensorBuffer{v.value.tensor()};
          },
          "The tensor's elements as a read-only buffer.")
      .def(
          "strings",
          [](const PyValue& v) {
            RequireKind(v, Value::Kind::kTensor);
            if (v.value.tensor().dtype() != DType::kString) {
              Raise(absl::InvalidArgumentError("not a string tensor"));
            }
            nb::list out;
            for (const std::string& s : v.value.tensor().strings()) {
              out.append(nb::bytes(s.data(), s.size()));
            }
            return out;
          },
          "A string tensor's elements (row-major) as bytes.")
      .def(
          "elements",
          [](const PyValue& v) {
            RequireKind(v, Value::Kind::kStruct);
            nb::list out;
            for (const StructValue::Element& e :
                 v.value.struct_value().elements) {
              nb::object name = e.name.empty()
                                    ? nb::none()
                                    : nb::object(nb::str(e.name.c_str()));
              out.append(nb::make_tuple(name, PyValue{*e.value}));
            }
            return out;
          },
          "A struct's (name or None, value) pairs.")
      .def(
          "members",
          [](const PyValue& v) {
            if (v.value.is_sequence()) {
              std::vector<PyValue> out;
              Check(v.value.sequence().ForEach([&](const Value& e) {
                out.push_back(PyValue{e});
                return absl::OkStatus();
              }));
              return out;
            }
            RequireKind(v, Value::Kind::kFederated);
            const FederatedValue& f = v.value.federated();
            std::vector<PyValue> out;
            out.reserve(f.size());
            for (int64_t i = 0; i < f.size(); ++i) {
              out.push_back(PyValue{Check(f.Member(i))});
            }
            return out;
          },
          "A federated value's members, or a sequence's elements.")
      .def_prop_ro(
          "placement",
          [](const PyValue& v) {
            RequireKind(v, Value::Kind::kFederated);
            return std::string(PlacementName(v.value.federated().placement));
          })
      .def_prop_ro("all_equal",
                   [](const PyValue& v) {
                     RequireKind(v, Value::Kind::kFederated);
                     return v.value.federated().all_equal;
                   })
      .def("shares_buffer_with",
           [](const PyValue& a, const PyValue& b) {
             return a.value.is_tensor() && b.value.is_tensor() &&
                    a.value.tensor().SharesBufferWith(b.value.tensor());
           })
      .def_prop_ro(
          "address",
          [](const PyValue& v) {
            RequireKind(v, Value::Kind::kTensor);
            return reinterpret_cast<uintptr_t>(v.value.tensor().raw_data());
          },
          "The address of a tensor's first element.")
      .def("__str__", [](const PyValue& v) { return ir::PrintValue(v.value); })
      .def("type_string", [](const PyValue& v) {
        return ir::ValueTypeOf(v.value).value_or(ir::Type()).ToString();
      });

  nb::class_<PyComputation>(m, "Computation",
                            "A type-checked federated computation.")
      .def_static(
          "from_text",
          [](const std::string& text) {
            return Checked(ir::ParseComputation(text));
          },
          "text"_a, "Parses and checks fedexec's text syntax.")
      .def_static(
          "from_file",
          [](const std::string& path) {
            return Checked(ir::LoadComputation(path));
          },
          "path"_a, "Reads a .fed, .pb or .textproto file.")
      .def_static(
          "from_proto",
          [](nb::bytes bytes) {
            return Checked(ir::ParseComputationAs(
                absl::string_view(bytes.c_str(), bytes.size()),
                ir::ComputationFormat::kBinaryProto));
          },
          "data"_a, "Decodes a serialized federated_language Computation.")
      .def_static(
          "from_textproto",
          [](const std::string& text) {
            return Checked(ir::ParseComputationAs(
                text, ir::ComputationFormat::kTextProto));
          },
          "text"_a, "Decodes a Computation in the protobuf text form.")
      .def_prop_ro("type",
                   [](const PyComputation& c) {
                     return TypeTuple(c.node->type().value());
                   })
      .def_prop_ro("type_signature",
                   [](const PyComputation& c) {
                     return c.node->type().value().ToString();
                   })
      .def("to_text",
           [](const PyComputation& c) { return ir::PrintComputation(c.node); })
      .def("to_proto", [](const PyComputation& c) {
        std::string bytes = Check(ir::SerializeComputation(
            c.node, ir::ComputationFormat::kBinaryProto));
        return nb::bytes(bytes.data(), bytes.size());
      });

  nb::class_<PyRuntime>(m, "Runtime", "A fedexec runtime.")
      .def_static("local", &MakeLocal, "threads"_a, "default_clients"_a,
                  "cache_size"_a)
      .def_static("remote", &MakeRemote, "workers"_a, "threads"_a,
                  "default_clients"_a, "token_file"_a, "tls"_a,
                  "tls_root_cert"_a, "tls_client_cert"_a, "tls_client_key"_a,
                  "timeout_seconds"_a)
      .def("call", &Call, "computation"_a, "argument"_a.none(),
           "num_clients"_a.none())
      .def("cancel_running",
           [](PyRuntime& r) {
             std::shared_ptr<stacks::Runtime> runtime = r.get();
             nb::gil_scoped_release release;
             runtime->CancelRunning();
             runtime.reset();
           })
      .def_prop_ro("num_running",
                   [](PyRuntime& r) { return r.get()->NumRunning(); })
      .def("close", &PyRuntime::Close)
      .def_prop_ro("closed", &PyRuntime::closed);
}
