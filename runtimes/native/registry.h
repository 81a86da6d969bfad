// The native external runtime's function registry: C++ functions that a
// computation calls through its `native` leaf nodes (ir::NativeNode: a name
// plus the node's declared function type).
//
// A native function is a name, a signature in the type notation of
// ir/type.h (abstract types allowed: "(<T, float32> -> T)"), an optional
// extra check of the declared type, and an implementation
//   absl::StatusOr<Value>(const Value& argument)
// that receives the parameter value (a struct Value for a struct parameter,
// an empty Value() for a function without parameter).
//
// Bind(name, declared_type) checks that the leaf's declared type is an
// instance of the signature and returns a BoundFunction. Calling it checks
// the argument against the declared parameter type and the implementation's
// result against the declared result type, so a buggy native function
// cannot corrupt a computation.
//
// Registration. Built-in kernels (kernels.h) are registered explicitly by
// RegisterBuiltinKernels(), which NativeRegistry::Default() calls on its
// first use: they are always present whatever the linker keeps. For user
// functions, FEDEXEC_NATIVE_FUNCTION registers into Default() from a static
// initializer; that works when the registering object file is linked into
// the program (a source of the executable, an OBJECT library, or a static
// library linked with --whole-archive / WHOLE_ARCHIVE). A function that sits
// in a plain static library whose object nothing else references is silently
// dropped by the linker; register such functions with an explicit call to
// Default().Register(...) from code the program runs instead.
//
// Thread-safety: a NativeRegistry is internally synchronized. Registration
// happens at start-up (static initializers, or before execution begins);
// Bind, Names and Signature may run concurrently from any thread, also
// concurrently with Register. A BoundFunction is immutable, keeps its
// function alive on its own, and may be called from many threads at once
// (the implementation must then be thread-safe, which every built-in kernel
// is).
#ifndef FEDEXEC_RUNTIMES_NATIVE_REGISTRY_H_
#define FEDEXEC_RUNTIMES_NATIVE_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/value.h"
#include "core/value_description.h"
#include "ir/type.h"
#include "ir/value_check.h"

namespace fedexec::native {

// The implementation of a native function.
using NativeImpl = std::function<absl::StatusOr<Value>(const Value& argument)>;

// An optional extra check run by Bind after unification, for rules the type
// notation cannot express (dtype classes, broadcasting, shape relations).
// `declared` is the leaf's function type, `bindings` the abstract types the
// signature bound. Its INVALID_ARGUMENT message is appended to Bind's.
using NativeTypeCheck = std::function<absl::Status(
    const ir::Type& declared, const ir::TypeBindings& bindings)>;

// A native function bound to one declared type: cheap to copy, callable
// from any thread.
class BoundFunction {
 public:
  const std::string& name() const;
  // The declared function type it was bound to.
  const ir::Type& declared_type() const;
  // The registered signature, as written at registration.
  const std::string& signature() const;

  // Runs the implementation. INVALID_ARGUMENT when `argument` does not
  // match the declared parameter type ("native function 'f': argument
  // int32[3] does not match the declared parameter type float32[3]"); a
  // function without parameter takes Value(). An error of the implementation
  // is returned as is. INTERNAL when the result does not match the declared
  // result type ("native function 'f' returned int32[3]; declared result
  // type float32[3]").
  absl::StatusOr<Value> Call(const Value& argument) const;
  absl::StatusOr<Value> Call() const { return Call(Value()); }

 private:
  friend class NativeRegistry;
  struct Entry;
  BoundFunction(std::shared_ptr<const Entry> entry, ir::Type declared)
      : entry_(std::move(entry)), declared_(std::move(declared)) {}
  std::shared_ptr<const Entry> entry_;
  ir::Type declared_;
};

class NativeRegistry {
 public:
  // An empty registry (for tests and embedders). Default() is the global
  // one.
  NativeRegistry() = default;
  NativeRegistry(const NativeRegistry&) = delete;
  NativeRegistry& operator=(const NativeRegistry&) = delete;

  // The process-wide registry, created on first use with the built-in
  // kernels already registered. Never destroyed.
  static NativeRegistry& Default();

  // Adds a function. INVALID_ARGUMENT for an empty name, a signature that
  // does not parse or is not a well-formed function type (the message
  // quotes it), or a null implementation; ALREADY_EXISTS for a name
  // registered before.
  absl::Status Register(std::string name, std::string_view signature,
                        NativeImpl impl, NativeTypeCheck check = nullptr);

  // Binds `name` to a leaf's declared function type. INVALID_ARGUMENT:
  // - "unknown native function 'foo' (registered: a, b, ...)" (at most 20
  //   names listed, then "... and N more");
  // - "native function 'scale' has signature (<T, float32> -> T); declared
  //   (<int32> -> int32) does not match: <reason>" when the declared type
  //   is not an instance of the signature (the parameter may be narrower
  //   than the signature's, e.g. float32[3] for float32[?] or for T; the
  //   result likewise) or fails the extra check;
  // - a declared type that is not a function type or contains abstract
  //   types.
  absl::StatusOr<BoundFunction> Bind(std::string_view name,
                                     const ir::Type& declared) const;

  bool Contains(std::string_view name) const;
  // Every registered name, sorted.
  std::vector<std::string> Names() const;
  // The signature text of `name`; NOT_FOUND for an unknown name.
  absl::StatusOr<std::string> Signature(std::string_view name) const;

  // The first error of a static (FEDEXEC_NATIVE_FUNCTION) registration into
  // this registry, which has no caller to return it to; OK if none. Tools
  // should check it at start-up. Bind of an unknown name mentions it too.
  absl::Status startup_status() const;
  // Records a static registration's error (used by the macro).
  void RecordStartupError(const absl::Status& status);

 private:
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::shared_ptr<const BoundFunction::Entry>,
           std::less<>>
      functions_;
  absl::Status startup_status_;
};

// Registers every built-in kernel of kernels.h (add, subtract, ..., matmul,
// reshape, concat, slice, clip_by_norm, cast_<dtype>) into `registry`.
// Default() already holds them; call this for a local registry. Returns the
// first registration error (ALREADY_EXISTS if called twice).
absl::Status RegisterBuiltinKernels(NativeRegistry& registry);

// Value description and the value-against-type check that every call runs
// live below the runtimes (core/value_description.h, ir/value_check.h);
// these names keep the native runtime's users source-compatible.
using ::fedexec::DescribeValue;
using ::fedexec::ir::CheckValueMatchesType;

namespace internal {
bool RegisterAtStartup(const char* name, const char* signature,
                       NativeImpl impl);
}  // namespace internal

}  // namespace fedexec::native

#define FEDEXEC_NATIVE_CONCAT_INNER_(a, b) a##b
#define FEDEXEC_NATIVE_CONCAT_(a, b) FEDEXEC_NATIVE_CONCAT_INNER_(a, b)

// At namespace scope in a .cc file:
//   FEDEXEC_NATIVE_FUNCTION("client_update",
//       "(<float32[784,10], float32[?,784]> -> float32[784,10])",
//       &ClientUpdate);
// registers into NativeRegistry::Default() during static initialization (see
// the header comment for the linking requirement). Errors are recorded in
// Default().startup_status().
#define FEDEXEC_NATIVE_FUNCTION(name, signature, impl)       \
  [[maybe_unused]] static const bool FEDEXEC_NATIVE_CONCAT_( \
      fedexec_native_registered_, __LINE__) =                \
      ::fedexec::native::internal::RegisterAtStartup(name, signature, impl)

#endif  // FEDEXEC_RUNTIMES_NATIVE_REGISTRY_H_
