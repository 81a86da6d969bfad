// Tests of the built-in kernels as native functions: what each accepts at
// Bind (signature plus extra check), and calls through BoundFunction.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtimes/native/kernels.h"
#include "runtimes/native/registry.h"

namespace fedexec::native {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class BuiltinTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(RegisterBuiltinKernels(registry_).ok()); }

  absl::StatusOr<BoundFunction> Bind(const std::string& name,
                                     const std::string& type) {
    absl::StatusOr<ir::Type> t = ir::ParseType(type);
    EXPECT_TRUE(t.ok()) << type;
    return registry_.Bind(name, *t);
  }
  // Binds and calls; the argument's elements form a struct when several.
  absl::StatusOr<Value> Run(const std::string& name, const std::string& type,
                            std::vector<Value> args) {
    absl::StatusOr<BoundFunction> f = Bind(name, type);
    if (!f.ok()) return f.status();
    if (args.size() == 1) return f->Call(args[0]);
    std::vector<std::pair<std::string, Value>> elements;
    for (Value& v : args) elements.emplace_back("", std::move(v));
    return f->Call(Value::Struct(std::move(elements)));
  }
  void ExpectBindError(const std::string& name, const std::string& type,
                       const std::string& substr) {
    absl::Status s = Bind(name, type).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name << type;
    EXPECT_THAT(std::string(s.message()), HasSubstr(substr));
  }

  NativeRegistry registry_;
};

Value F(std::vector<float> v) { return Value(Tensor::Vector<float>(v)); }
Value I(std::vector<int32_t> v) { return Value(Tensor::Vector<int32_t>(v)); }
template <typename T>
Value Scalar(T v) {
  return Value(Tensor::Scalar<T>(v));
}
template <typename T>
std::vector<T> Data(const absl::StatusOr<Value>& v) {
  EXPECT_TRUE(v.ok()) << v.status();
  if (!v.ok()) return {};
  auto span = v->tensor().data<T>();
  return std::vector<T>(span.begin(), span.end());
}

TEST_F(BuiltinTest, ElementwiseBindAndCall) {
  EXPECT_THAT(Data<float>(Run("add", "(<float32[2],float32[2]> -> float32[2])",
                              {F({1, 2}), F({3, 4})})),
              ElementsAre(4, 6));
  EXPECT_THAT(
      Data<float>(Run("multiply", "(<float32,float32[?]> -> float32[?])",
                      {Scalar<float>(2), F({3, 4})})),
      ElementsAre(6, 8));
  EXPECT_THAT(Data<int32_t>(Run("maximum", "(<int32[3],int32> -> int32[3])",
                                {I({1, 5, 2}), Scalar<int32_t>(2)})),
              ElementsAre(2, 5, 2));
  absl::StatusOr<Value> less =
      Run("less", "(<int32[2],int32[2]> -> bool[2])", {I({1, 5}), I({2, 2})});
  ASSERT_TRUE(less.ok()) << less.status();
  EXPECT_EQ(less->tensor().dtype(), DType::kBool);
  EXPECT_TRUE(Bind("equal", "(<bool[2],bool[2]> -> bool[2])").ok());
  EXPECT_TRUE(Bind("add", "(<float32[*],float32[3]> -> float32[*])").ok());
}

TEST_F(BuiltinTest, ElementwiseBindErrors) {
  ExpectBindError("add", "(<float32[3],int32[3]> -> float32[3])",
                  "native function 'add' has signature (<T, U> -> V); "
                  "declared (<float32[3],int32[3]> -> float32[3]) does not "
                  "match: add: operands float32[3] and int32[3] have "
                  "different dtypes");
  ExpectBindError("add", "(<float32[3],float32[2]> -> float32[3])",
                  "incompatible shapes");
  ExpectBindError("add", "(<float32[3],float32[3]> -> float32[4])",
                  "add: the result must have the shape of float32[3]");
  ExpectBindError("add", "(<float32,float32[3]> -> float32)",
                  "the result must have the shape of float32[3]");
  ExpectBindError("less", "(<int32,int32> -> int32)",
                  "less: the result must be bool, declared int32");
  ExpectBindError("less", "(<complex64,complex64> -> bool)",
                  "less: needs a integer or floating dtype");
  ExpectBindError("add", "(<bool,bool> -> bool)", "needs a numeric dtype");
  ExpectBindError("add", "(<<float32>,float32> -> float32)",
                  "add: operand 0 must be a tensor, found <float32>");
  ExpectBindError("add", "(float32 -> float32)", "does not match: parameter");
}

TEST_F(BuiltinTest, ResultIsCheckedAtCallTime) {
  // A declared shape that the kernel's result does not have.
  absl::StatusOr<Value> r = Run(
      "add", "(<float32[?],float32[?]> -> float32[3])", {F({1, 2}), F({3, 4})});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("native function 'add' returned float32[2]; declared "
                        "result type float32[3]"));
  // Kernel errors come through.
  absl::StatusOr<Value> d =
      Run("divide", "(<int32[1],int32[1]> -> int32[1])", {I({1}), I({0})});
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("divide: integer division by zero"));
}

TEST_F(BuiltinTest, NegateScaleCast) {
  EXPECT_THAT(
      Data<int32_t>(Run("negate", "(int32[2] -> int32[2])", {I({1, -2})})),
      ElementsAre(-1, 2));
  ExpectBindError("negate", "(<int32> -> <int32>)",
                  "negate: the operand must be a tensor");
  ExpectBindError("negate", "(bool -> bool)", "needs a numeric dtype");

  absl::StatusOr<Value> scaled = Run(
      "scale", "(<<a=float32[2],b=int32>,float32> -> <a=float32[2],b=int32>)",
      {Value::Struct({{"a", F({1, 2})}, {"b", Scalar<int32_t>(3)}}),
       Scalar<float>(2)});
  ASSERT_TRUE(scaled.ok()) << scaled.status();
  EXPECT_THAT(
      scaled->struct_value().elements[1].value->tensor().data<int32_t>(),
      ElementsAre(6));
  ExpectBindError("scale", "(<int32> -> int32)",
                  "native function 'scale' has signature (<T, float32> -> T); "
                  "declared (<int32> -> int32) does not match");
  ExpectBindError("scale", "(<<string>,float32> -> <string>)",
                  "scale: needs numeric tensors or structs of them, found "
                  "string");

  EXPECT_THAT(
      Data<float>(Run("cast_float32", "(int32[2] -> float32[2])", {I({1, 2})})),
      ElementsAre(1.0f, 2.0f));
  EXPECT_TRUE(Bind("cast_bool", "(float64[?,3] -> bool[?,3])").ok());
  ExpectBindError("cast_float32", "(int32[2] -> float64[2])", "does not match");
  ExpectBindError("cast_float32", "(int32[2] -> float32[3])",
                  "cast_float32: the result must have the shape of int32[2]");
  ExpectBindError("cast_int32", "(complex64 -> int32)", "cannot cast complex");
  ExpectBindError("cast_int32", "(string -> int32)",
                  "needs a numeric or bool dtype");
}

TEST_F(BuiltinTest, Reductions) {
  EXPECT_THAT(
      Data<float>(Run("reduce_sum", "(float32[3] -> float32)", {F({1, 2, 3})})),
      ElementsAre(6));
  const Value m(*Tensor::FromSpan<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  EXPECT_THAT(
      Data<float>(Run("reduce_mean", "(<float32[2,3],int32> -> float32[3])",
                      {m, Scalar<int32_t>(0)})),
      ElementsAre(2.5f, 3.5f, 4.5f));
  EXPECT_THAT(
      Data<float>(Run("reduce_sum", "(<float32[2,3],int64[1]> -> float32[2])",
                      {m, Value(Tensor::Vector<int64_t>({1}))})),
      ElementsAre(6, 15));
  ExpectBindError("reduce_sum", "(float32[3] -> float32[3])",
                  "reducing all axes gives a scalar");
  ExpectBindError("reduce_sum", "(float32[3] -> int32)",
                  "reduce_sum: the result must be float32");
  ExpectBindError("reduce_sum", "(<float32[2,3],int32> -> float32)",
                  "reducing 1 axes of float32[2,3] cannot give float32");
  ExpectBindError("reduce_sum", "(<float32[2,3],float32> -> float32)",
                  "axes must be an int32 or int64 scalar or vector");
  ExpectBindError("reduce_mean", "(<float32,float32,float32> -> float32)",
                  "expected a tensor or <tensor, axes>");
  absl::StatusOr<Value> bad =
      Run("reduce_sum", "(<float32[2,3],int32> -> float32[*])",
          {m, Scalar<int32_t>(5)});
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("reduce_sum: axis 5 is out of range"));
}

TEST_F(BuiltinTest, MatmulReshapeConcatSliceClip) {
  const Value a(*Tensor::FromSpan<float>({1, 2, 3, 4}, {2, 2}));
  EXPECT_THAT(
      Data<float>(Run("matmul", "(<float32[2,2],float32[2,2]> -> float32[2,2])",
                      {a, a})),
      ElementsAre(7, 10, 15, 22));
  EXPECT_TRUE(Bind("matmul",
                   "(<float32[?,784],float32[784,10]> -> "
                   "float32[?,10])")
                  .ok());
  ExpectBindError("matmul", "(<float32[2,3],float32[2,2]> -> float32[2,2])",
                  "do not multiply");
  ExpectBindError("matmul", "(<float32[2,2],float32[2,5]> -> float32[2,2])",
                  "matmul: the result must be float32[2,5]");

  EXPECT_THAT(
      Data<float>(Run("reshape", "(<float32[2,2],int64[1]> -> float32[4])",
                      {a, Value(Tensor::Vector<int64_t>({-1}))})),
      ElementsAre(1, 2, 3, 4));
  ExpectBindError("reshape", "(<float32[2,2],int64[2]> -> float32[4])",
                  "reshape: a shape of int64[2] cannot give float32[4]");
  ExpectBindError("reshape", "(<float32[2,2],float32[1]> -> float32[4])",
                  "reshape: the shape must be an int32 or int64");

  EXPECT_THAT(Data<float>(Run("concat",
                              "(<<float32[2],float32[1]>,int32> -> float32[3])",
                              {Value::Struct({{"", F({1, 2})}, {"", F({3})}}),
                               Scalar<int32_t>(0)})),
              ElementsAre(1, 2, 3));
  ExpectBindError("concat", "(<<float32[2],int32[1]>,int32> -> float32[3])",
                  "concat: parts must share one non-string dtype");
  ExpectBindError("concat", "(<<>,int32> -> float32[3])",
                  "non-empty struct of tensors");
  ExpectBindError("concat", "(<<float32[2]>,int32> -> float32[1,2])",
                  "the result must have the rank of the parts");

  EXPECT_THAT(
      Data<float>(Run("slice", "(<float32[4],int32[1],int32[1]> -> float32[2])",
                      {F({1, 2, 3, 4}), I({1}), I({2})})),
      ElementsAre(2, 3));
  ExpectBindError("slice", "(<float32[4],int32[1],int32[1]> -> float32[2,1])",
                  "slice: the result must have the rank of float32[4]");

  EXPECT_THAT(
      Data<float>(Run("clip_by_norm", "(<float32[2],float32> -> float32[2])",
                      {F({3, 4}), Scalar<float>(1)})),
      ElementsAre(0.6f, 0.8f));
  ExpectBindError("clip_by_norm", "(<int32[2],float32> -> int32[2])",
                  "clip_by_norm: needs a floating dtype");
  ExpectBindError("clip_by_norm", "(<float32[2],float32[1]> -> float32[2])",
                  "max_norm must be a float32 or float64 scalar");
}

}  // namespace
}  // namespace fedexec::native
