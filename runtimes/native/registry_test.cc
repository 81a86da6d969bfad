// Tests of the native function registry: registration, binding declared
// types to (polymorphic) signatures, and the checks around every call.
#include "runtimes/native/registry.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/types.h"

namespace fedexec::native {
namespace {

using ::testing::HasSubstr;

using ::fedexec::test_util::T;

void ExpectInvalid(const absl::Status& status, const std::string& substr) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(substr));
}

// Returns its argument unchanged.
absl::StatusOr<Value> Identity(const Value& v) { return v; }

absl::StatusOr<Value> FirstOfPair(const Value& v) {
  return *v.struct_value().elements[0].value;
}

TEST(NativeRegistryTest, RegisterAndBindExactSignature) {
  NativeRegistry registry;
  ASSERT_TRUE(
      registry.Register("id", "(float32[3] -> float32[3])", &Identity).ok());
  EXPECT_TRUE(registry.Contains("id"));
  EXPECT_EQ(*registry.Signature("id"), "(float32[3] -> float32[3])");
  absl::StatusOr<BoundFunction> f =
      registry.Bind("id", T("(float32[3] -> float32[3])"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->name(), "id");
  EXPECT_EQ(f->signature(), "(float32[3] -> float32[3])");
  EXPECT_EQ(f->declared_type(), T("(float32[3] -> float32[3])"));
  const Tensor x = Tensor::Vector<float>({1, 2, 3});
  absl::StatusOr<Value> y = f->Call(Value(x));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_TRUE(y->tensor().SharesBufferWith(x));
}

TEST(NativeRegistryTest, DeclaredTypeMayBeNarrowerThanSignature) {
  NativeRegistry registry;
  ASSERT_TRUE(
      registry.Register("id", "(float32[?] -> float32[?])", &Identity).ok());
  EXPECT_TRUE(registry.Bind("id", T("(float32[3] -> float32[3])")).ok());
  EXPECT_TRUE(registry.Bind("id", T("(float32[?] -> float32[?])")).ok());
  // Wider than the signature: not an instance.
  ExpectInvalid(registry.Bind("id", T("(float32[*] -> float32[?])")).status(),
                "native function 'id' has signature (float32[?] -> "
                "float32[?]); declared (float32[*] -> float32[?]) does not "
                "match");
}

TEST(NativeRegistryTest, PolymorphicSignatureBindsAbstractTypes) {
  NativeRegistry registry;
  ASSERT_TRUE(registry.Register("first", "(<T, T> -> T)", &FirstOfPair).ok());
  EXPECT_TRUE(registry.Bind("first", T("(<int32,int32> -> int32)")).ok());
  EXPECT_TRUE(registry
                  .Bind("first", T("(<<a=float32[2],b=int64>,<a=float32[2],"
                                   "b=int64>> -> <a=float32[2],b=int64>)"))
                  .ok());
  ExpectInvalid(
      registry.Bind("first", T("(<int32,float32> -> int32)")).status(),
      "native function 'first' has signature (<T, T> -> T); "
      "declared (<int32,float32> -> int32) does not match");
  ExpectInvalid(
      registry.Bind("first", T("(<int32,int32> -> float32)")).status(),
      "does not match: result");
}

TEST(NativeRegistryTest, MismatchMessageNamesFunctionSignatureAndType) {
  NativeRegistry registry;
  ASSERT_TRUE(
      registry.Register("scale", "(<T, float32> -> T)", &FirstOfPair).ok());
  ExpectInvalid(registry.Bind("scale", T("(<int32> -> int32)")).status(),
                "native function 'scale' has signature (<T, float32> -> T); "
                "declared (<int32> -> int32) does not match");
}

TEST(NativeRegistryTest, BindRejectsNonFunctionAndAbstractDeclaredTypes) {
  NativeRegistry registry;
  ASSERT_TRUE(registry.Register("id", "(T -> T)", &Identity).ok());
  ExpectInvalid(registry.Bind("id", T("int32")).status(),
                "not a function type");
  ExpectInvalid(registry.Bind("id", T("(T -> T)")).status(),
                "must not contain abstract types");
  ExpectInvalid(registry.Bind("id", T("( -> int32)")).status(),
                "the function takes a parameter");
}

TEST(NativeRegistryTest, FunctionWithoutParameter) {
  NativeRegistry registry;
  ASSERT_TRUE(registry
                  .Register("seven", "( -> int32)",
                            [](const Value& v) -> absl::StatusOr<Value> {
                              EXPECT_FALSE(v.tensor().valid());
                              return Value(Tensor::Scalar<int32_t>(7));
                            })
                  .ok());
  absl::StatusOr<BoundFunction> f = registry.Bind("seven", T("( -> int32)"));
  ASSERT_TRUE(f.ok()) << f.status();
  absl::StatusOr<Value> v = f->Call();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->tensor().data<int32_t>()[0], 7);
  ExpectInvalid(f->Call(Value(Tensor::Scalar<int32_t>(1))).status(),
                "native function 'seven' takes no argument, given int32");
  ExpectInvalid(registry.Bind("seven", T("(int32 -> int32)")).status(),
                "the function takes no parameter");
}

TEST(NativeRegistryTest, UnknownNameListsRegisteredNames) {
  NativeRegistry registry;
  ExpectInvalid(registry.Bind("foo", T("(int32 -> int32)")).status(),
                "unknown native function 'foo' (registered: none)");
  ASSERT_TRUE(registry.Register("b", "(T -> T)", &Identity).ok());
  ASSERT_TRUE(registry.Register("a", "(T -> T)", &Identity).ok());
  ExpectInvalid(registry.Bind("foo", T("(int32 -> int32)")).status(),
                "unknown native function 'foo' (registered: a, b)");
}

TEST(NativeRegistryTest, UnknownNameListsAtMostTwentyNames) {
  NativeRegistry registry;
  for (int i = 0; i < 25; ++i) {
    ASSERT_TRUE(
        registry.Register(absl::StrCat("f", 10 + i), "(T -> T)", &Identity)
            .ok());
  }
  absl::Status s = registry.Bind("foo", T("(int32 -> int32)")).status();
  ExpectInvalid(s, "f10, f11");
  ExpectInvalid(s, "f29, ... and 5 more)");
  EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("f30")));
}

TEST(NativeRegistryTest, RegisterErrors) {
  NativeRegistry registry;
  ExpectInvalid(registry.Register("", "(T -> T)", &Identity), "empty name");
  ExpectInvalid(registry.Register("f", "(T -> ", &Identity),
                "native function 'f': signature '(T -> ' does not parse");
  ExpectInvalid(registry.Register("f", "float32", &Identity),
                "signature 'float32' is not a function type");
  ExpectInvalid(registry.Register("f", "(<a=int32,a=int32> -> T)", &Identity),
                "is ill-formed");
  ExpectInvalid(registry.Register("f", "(T -> T)", nullptr),
                "has no implementation");
  ASSERT_TRUE(registry.Register("f", "(T -> T)", &Identity).ok());
  absl::Status again = registry.Register("f", "(T -> T)", &Identity);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(again.message()),
              HasSubstr("native function 'f' is already registered"));
  EXPECT_EQ(registry.Signature("g").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(NativeRegistryTest, ExtraCheckRunsAtBind) {
  NativeRegistry registry;
  ASSERT_TRUE(
      registry
          .Register(
              "floats_only", "(T -> T)", &Identity,
              [](const ir::Type& declared, const ir::TypeBindings& bindings) {
                EXPECT_TRUE(bindings.contains("T"));
                if (declared.parameter()->kind() == ir::TypeKind::kTensor &&
                    IsFloating(declared.parameter()->dtype())) {
                  return absl::OkStatus();
                }
                return absl::InvalidArgumentError("floats_only: needs a float");
              })
          .ok());
  EXPECT_TRUE(registry.Bind("floats_only", T("(float64 -> float64)")).ok());
  ExpectInvalid(
      registry.Bind("floats_only", T("(int32 -> int32)")).status(),
      "declared (int32 -> int32) does not match: floats_only: needs a float");
}

TEST(NativeRegistryTest, CallChecksTheArgument) {
  NativeRegistry registry;
  ASSERT_TRUE(
      registry.Register("id", "(float32[?] -> float32[?])", &Identity).ok());
  absl::StatusOr<BoundFunction> f =
      registry.Bind("id", T("(float32[3] -> float32[3])"));
  ASSERT_TRUE(f.ok());
  ExpectInvalid(f->Call(Value(Tensor::Vector<float>({1, 2}))).status(),
                "native function 'id': argument float32[2] does not match the "
                "declared parameter type float32[3]");
  ExpectInvalid(f->Call(Value(Tensor::Vector<int32_t>({1, 2, 3}))).status(),
                "argument int32[3]");
  ExpectInvalid(f->Call(Value()).status(), "argument <none>");
}

TEST(NativeRegistryTest, CallChecksTheResult) {
  NativeRegistry registry;
  // A buggy function: its result is not what it declares.
  ASSERT_TRUE(registry
                  .Register("buggy", "(float32[?] -> float32[?])",
                            [](const Value&) -> absl::StatusOr<Value> {
                              return Value(Tensor::Vector<int32_t>({1, 2, 3}));
                            })
                  .ok());
  absl::StatusOr<BoundFunction> f =
      registry.Bind("buggy", T("(float32[3] -> float32[3])"));
  ASSERT_TRUE(f.ok());
  absl::Status s = f->Call(Value(Tensor::Vector<float>({1, 2, 3}))).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("native function 'buggy' returned int32[3]; declared "
                        "result type float32[3]"));
}

TEST(NativeRegistryTest, ImplementationErrorsPassThrough) {
  NativeRegistry registry;
  ASSERT_TRUE(registry
                  .Register("fails", "(T -> T)",
                            [](const Value&) -> absl::StatusOr<Value> {
                              return absl::FailedPreconditionError("nope");
                            })
                  .ok());
  absl::StatusOr<BoundFunction> f =
      registry.Bind("fails", T("(int32 -> int32)"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->Call(Value(Tensor::Scalar<int32_t>(1))).status(),
            absl::FailedPreconditionError("nope"));
}

TEST(NativeRegistryTest, BoundFunctionOutlivesItsRegistry) {
  std::optional<BoundFunction> f;
  {
    NativeRegistry registry;
    ASSERT_TRUE(registry.Register("id", "(T -> T)", &Identity).ok());
    f.emplace(*registry.Bind("id", T("(int32 -> int32)")));
  }
  EXPECT_TRUE(f->Call(Value(Tensor::Scalar<int32_t>(4))).ok());
}

TEST(NativeRegistryTest, ConcurrentBindAndRegister) {
  NativeRegistry registry;
  ASSERT_TRUE(registry.Register("id", "(T -> T)", &Identity).ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        if (t == 0) {
          (void)registry.Register(absl::StrCat("g", i), "(T -> T)", &Identity);
        } else {
          absl::StatusOr<BoundFunction> f =
              registry.Bind("id", T("(int32 -> int32)"));
          if (!f.ok() || !f->Call(Value(Tensor::Scalar<int32_t>(i))).ok()) {
            ++failures;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(registry.Names().size(), 201u);
}

// A function registered by the macro at static initialization.
absl::StatusOr<Value> MacroTwice(const Value& v) {
  const float x = v.tensor().data<float>()[0];
  return Value(Tensor::Scalar<float>(2 * x));
}
FEDEXEC_NATIVE_FUNCTION("registry_test_twice", "(float32 -> float32)",
                        &MacroTwice);
// A broken static registration is recorded, not lost.
FEDEXEC_NATIVE_FUNCTION("registry_test_broken", "(float32 ->", &MacroTwice);

TEST(NativeRegistryTest, MacroRegistersIntoDefault) {
  NativeRegistry& registry = NativeRegistry::Default();
  absl::StatusOr<BoundFunction> f =
      registry.Bind("registry_test_twice", T("(float32 -> float32)"));
  ASSERT_TRUE(f.ok()) << f.status();
  absl::StatusOr<Value> v = f->Call(Value(Tensor::Scalar<float>(1.5f)));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->tensor().data<float>()[0], 3.0f);
  ExpectInvalid(registry.startup_status(),
                "native function 'registry_test_broken': signature");
  ExpectInvalid(registry.Bind("nope", T("(int32 -> int32)")).status(),
                "a registration at start-up failed");
}

TEST(NativeRegistryTest, DefaultHoldsTheBuiltinKernels) {
  NativeRegistry& registry = NativeRegistry::Default();
  for (const char* name :
       {"add",       "subtract",   "multiply",     "divide",
        "negate",    "scale",      "equal",        "not_equal",
        "less",      "less_equal", "greater",      "greater_equal",
        "minimum",   "maximum",    "cast_float32", "cast_int64",
        "cast_bool", "reduce_sum", "reduce_mean",  "matmul",
        "reshape",   "concat",     "slice",        "clip_by_norm"}) {
    EXPECT_TRUE(registry.Contains(name)) << name;
  }
  // Twice into one registry: ALREADY_EXISTS.
  EXPECT_EQ(RegisterBuiltinKernels(registry).code(),
            absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace fedexec::native
