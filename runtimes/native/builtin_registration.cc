// RegisterBuiltinKernels: the built-in kernels of kernels.h as native
// functions. Each gets a signature in the type notation, a bind-time check
// of the declared type for what the notation cannot say (dtype classes,
// broadcasting, shape relations), and an adapter from the argument Value to
// the kernel. The result is checked against the declared type at every call
// by BoundFunction::Call.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "runtimes/native/kernels.h"
#include "runtimes/native/registry.h"

namespace fedexec::native {
namespace {

using ir::Type;
using ir::TypeKind;

// ------------------------------------------------------- bind-time checks

absl::Status Fail(absl::string_view kernel, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(kernel, ": ", message));
}

absl::Status ExpectTensor(absl::string_view kernel, absl::string_view what,
                          const Type& t) {
  if (t.kind() != TypeKind::kTensor) {
    return Fail(kernel,
                absl::StrCat(what, " must be a tensor, found ", t.ToString()));
  }
  return absl::OkStatus();
}

bool KnownScalar(const Type& t) {
  return !t.unknown_rank() && t.dims().empty();
}

bool ShapesCompatible(const Type& a, const Type& b) {
  if (a.unknown_rank() || b.unknown_rank()) return true;
  if (a.dims().size() != b.dims().size()) return false;
  for (size_t i = 0; i < a.dims().size(); ++i) {
    if (a.dims()[i] != ir::kUnknownDim && b.dims()[i] != ir::kUnknownDim &&
        a.dims()[i] != b.dims()[i]) {
      return false;
    }
  }
  return true;
}

enum class DTypeClass { kNumeric, kReal, kNumericOrBool, kFloating };

bool InClass(DType d, DTypeClass c) {
  switch (c) {
    case DTypeClass::kNumeric:
      return IsNumeric(d);
    case DTypeClass::kReal:
      return IsInteger(d) || IsFloating(d);
    case DTypeClass::kNumericOrBool:
      return IsNumeric(d) || d == DType::kBool;
    case DTypeClass::kFloating:
      return IsFloating(d);
  }
  return false;
}

const char* ClassName(DTypeClass c) {
  switch (c) {
    case DTypeClass::kNumeric:
      return "numeric";
    case DTypeClass::kReal:
      return "integer or floating";
    case DTypeClass::kNumericOrBool:
      return "numeric or bool";
    case DTypeClass::kFloating:
      return "floating";
  }
  return "?";
}

absl::Status ExpectClass(absl::string_view kernel, const Type& t,
                         DTypeClass c) {
  if (!InClass(t.dtype(), c)) {
    return Fail(kernel, absl::StrCat("needs a ", ClassName(c), " dtype, found ",
                                     t.ToString()));
  }
  return absl::OkStatus();
}

absl::Status ExpectResult(absl::string_view kernel, const Type& result,
                          DType dtype, const Type* shape_like) {
  FEDEXEC_RETURN_IF_ERROR(ExpectTensor(kernel, "the result", result));
  if (result.dtype() != dtype) {
    return Fail(kernel, absl::StrCat("the result must be ",
                                     std::string(DTypeName(dtype)),
                                     ", declared ", result.ToString()));
  }
  if (shape_like != nullptr && !ShapesCompatible(result, *shape_like)) {
    return Fail(kernel, absl::StrCat("the result must have the shape of ",
                                     shape_like->ToString(), ", declared ",
                                     result.ToString()));
  }
  return absl::OkStatus();
}

// An int32/int64 tensor of rank <= max_rank (axes, shapes, offsets).
absl::Status ExpectIndexType(absl::string_view kernel, absl::string_view what,
                             const Type& t, int max_rank) {
  if (t.kind() != TypeKind::kTensor ||
      (t.dtype() != DType::kInt32 && t.dtype() != DType::kInt64) ||
      t.unknown_rank() || static_cast<int>(t.dims().size()) > max_rank) {
    return Fail(kernel,
                absl::StrCat(what, " must be an int32 or int64 ",
                             max_rank == 0 ? "scalar" : "scalar or vector",
                             ", found ", t.ToString()));
  }
  return absl::OkStatus();
}

NativeTypeCheck ElementwiseCheck(std::string kernel, DTypeClass c,
                                 bool comparison) {
  return [kernel, c, comparison](const Type& declared,
                                 const ir::TypeBindings&) -> absl::Status {
    const Type& a = declared.parameter()->elements()[0].type;
    const Type& b = declared.parameter()->elements()[1].type;
    FEDEXEC_RETURN_IF_ERROR(ExpectTensor(kernel, "operand 0", a));
    FEDEXEC_RETURN_IF_ERROR(ExpectTensor(kernel, "operand 1", b));
    if (a.dtype() != b.dtype()) {
      return Fail(kernel, absl::StrCat("operands ", a.ToString(), " and ",
                                       b.ToString(), " have different dtypes"));
    }
    FEDEXEC_RETURN_IF_ERROR(ExpectClass(kernel, a, c));
    const Type* shape = &a;
    if (KnownScalar(a)) {
      shape = &b;
    } else if (!KnownScalar(b) && !ShapesCompatible(a, b)) {
      return Fail(kernel,
                  absl::StrCat("operands ", a.ToString(), " and ", b.ToString(),
                               " have incompatible shapes (need "
                               "equal shapes or a scalar)"));
    }
    return ExpectResult(kernel, declared.result(),
                        comparison ? DType::kBool : a.dtype(), shape);
  };
}

absl::Status CheckNumericTensors(const Type& t, const std::string& kernel) {
  if (t.kind() == TypeKind::kStruct) {
    for (const auto& e : t.elements()) {
      FEDEXEC_RETURN_IF_ERROR(CheckNumericTensors(e.type, kernel));
    }
    return absl::OkStatus();
  }
  if (t.kind() != TypeKind::kTensor || !IsNumeric(t.dtype())) {
    return Fail(kernel, absl::StrCat("needs numeric tensors or structs of "
                                     "them, found ",
                                     t.ToString()));
  }
  return absl::OkStatus();
}

// ------------------------------------------------------ call-time adapters

absl::StatusOr<const Value*> Element(absl::string_view kernel,
                                     const Value& argument, size_t i,
                                     size_t count) {
  if (!argument.is_struct() ||
      argument.struct_value().elements.size() != count) {
    return Fail(kernel,
                absl::StrCat("expected a struct of ", count,
                             " elements, found ", DescribeValue(argument)));
  }
  return argument.struct_value().elements[i].value.get();
}

absl::StatusOr<Tensor> TensorOf(absl::string_view kernel, const Value& v) {
  if (!v.is_tensor() || !v.tensor().valid()) {
    return Fail(kernel,
                absl::StrCat("expected a tensor, found ", DescribeValue(v)));
  }
  return v.tensor();
}

absl::StatusOr<Tensor> TensorAt(absl::string_view kernel, const Value& argument,
                                size_t i, size_t count) {
  FEDEXEC_ASSIGN_OR_RETURN(const Value* v, Element(kernel, argument, i, count));
  return TensorOf(kernel, *v);
}

absl::StatusOr<std::vector<int64_t>> IndexList(absl::string_view kernel,
                                               const Tensor& t) {
  std::vector<int64_t> out;
  if (t.dtype() == DType::kInt32 && t.rank() <= 1) {
    for (int32_t v : t.data<int32_t>()) out.push_back(v);
  } else if (t.dtype() == DType::kInt64 && t.rank() <= 1) {
    for (int64_t v : t.data<int64_t>()) out.push_back(v);
  } else {
    return Fail(kernel, absl::StrCat("expected an int32 or int64 scalar or "
                                     "vector, found ",
                                     t.TypeString()));
  }
  return out;
}

absl::StatusOr<double> RealScalar(absl::string_view kernel, const Tensor& t) {
  if (t.rank() == 0 && t.dtype() == DType::kFloat32) {
    return t.data<float>()[0];
  }
  if (t.rank() == 0 && t.dtype() == DType::kFloat64) {
    return t.data<double>()[0];
  }
  return Fail(kernel, absl::StrCat("expected a float32 or float64 scalar, "
                                   "found ",
                                   t.TypeString()));
}

using Binary = absl::StatusOr<Tensor> (*)(const Tensor&, const Tensor&);

NativeImpl BinaryImpl(std::string kernel, Binary op) {
  return [kernel, op](const Value& argument) -> absl::StatusOr<Value> {
    FEDEXEC_ASSIGN_OR_RETURN(Tensor a, TensorAt(kernel, argument, 0, 2));
    FEDEXEC_ASSIGN_OR_RETURN(Tensor b, TensorAt(kernel, argument, 1, 2));
    FEDEXEC_ASSIGN_OR_RETURN(Tensor r, op(a, b));
    return Value(std::move(r));
  };
}

// ------------------------------------------------------------ the table

absl::Status RegisterElementwise(NativeRegistry& r) {
  struct Op {
    const char* name;
    Binary fn;
    DTypeClass dtypes;
    bool comparison;
  };
  const Op ops[] = {
      {"add", &Add, DTypeClass::kNumeric, false},
      {"subtract", &Subtract, DTypeClass::kNumeric, false},
      {"multiply", &Multiply, DTypeClass::kNumeric, false},
      {"divide", &Divide, DTypeClass::kNumeric, false},
      {"minimum", &Minimum, DTypeClass::kReal, false},
      {"maximum", &Maximum, DTypeClass::kReal, false},
      {"equal", &Equal, DTypeClass::kNumericOrBool, true},
      {"not_equal", &NotEqual, DTypeClass::kNumericOrBool, true},
      {"less", &Less, DTypeClass::kReal, true},
      {"less_equal", &LessEqual, DTypeClass::kReal, true},
      {"greater", &Greater, DTypeClass::kReal, true},
      {"greater_equal", &GreaterEqual, DTypeClass::kReal, true},
  };
  for (const Op& op : ops) {
    FEDEXEC_RETURN_IF_ERROR(
        r.Register(op.name, "(<T, U> -> V)", BinaryImpl(op.name, op.fn),
                   ElementwiseCheck(op.name, op.dtypes, op.comparison)));
  }
  return absl::OkStatus();
}

absl::Status RegisterUnary(NativeRegistry& r) {
  FEDEXEC_RETURN_IF_ERROR(r.Register(
      "negate", "(T -> T)",
      [](const Value& argument) -> absl::StatusOr<Value> {
        FEDEXEC_ASSIGN_OR_RETURN(Tensor t, TensorOf("negate", argument));
        FEDEXEC_ASSIGN_OR_RETURN(Tensor out, Negate(t));
        return Value(std::move(out));
      },
      [](const Type& declared, const ir::TypeBindings&) -> absl::Status {
        FEDEXEC_RETURN_IF_ERROR(
            ExpectTensor("negate", "the operand", *declared.parameter()));
        return ExpectClass("negate", *declared.parameter(),
                           DTypeClass::kNumeric);
      }));

  FEDEXEC_RETURN_IF_ERROR(r.Register(
      "scale", "(<T, float32> -> T)",
      [](const Value& argument) -> absl::StatusOr<Value> {
        FEDEXEC_ASSIGN_OR_RETURN(const Value* v,
                                 Element("scale", argument, 0, 2));
        FEDEXEC_ASSIGN_OR_RETURN(Tensor f, TensorAt("scale", argument, 1, 2));
        FEDEXEC_ASSIGN_OR_RETURN(double factor, RealScalar("scale", f));
        return ScaleValue(*v, factor);
      },
      [](const Type& declared, const ir::TypeBindings&) -> absl::Status {
        return CheckNumericTensors(declared.parameter()->elements()[0].type,
                                   "scale");
      }));

  for (DType to :
       {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16,
        DType::kInt8, DType::kInt16, DType::kInt32, DType::kInt64,
        DType::kUInt8, DType::kUInt16, DType::kUInt32, DType::kUInt64,
        DType::kComplex64, DType::kComplex128, DType::kBool}) {
    const std::string dtype(DTypeName(to));
    const std::string name = "cast_" + dtype;
    FEDEXEC_RETURN_IF_ERROR(r.Register(
        name, absl::StrCat("(T -> ", dtype, "[*])"),
        [name, to](const Value& argument) -> absl::StatusOr<Value> {
          FEDEXEC_ASSIGN_OR_RETURN(Tensor t, TensorOf(name, argument));
          FEDEXEC_ASSIGN_OR_RETURN(Tensor out, Cast(t, to));
          return Value(std::move(out));
        },
        [name, to](const Type& declared,
                   const ir::TypeBindings&) -> absl::Status {
          const Type& in = *declared.parameter();
          FEDEXEC_RETURN_IF_ERROR(ExpectTensor(name, "the operand", in));
          FEDEXEC_RETURN_IF_ERROR(
              ExpectClass(name, in, DTypeClass::kNumericOrBool));
          if (IsComplex(in.dtype()) && !IsComplex(to)) {
            return Fail(name,
                        absl::StrCat("cannot cast complex ", in.ToString()));
          }
          return ExpectResult(name, declared.result(), to, &in);
        }));
  }
  return absl::OkStatus();
}

absl::Status RegisterReductions(NativeRegistry& r) {
  for (bool mean : {false, true}) {
    const std::string name = mean ? "reduce_mean" : "reduce_sum";
    FEDEXEC_RETURN_IF_ERROR(r.Register(
        name, "(T -> U)",
        [name, mean](const Value& argument) -> absl::StatusOr<Value> {
          absl::StatusOr<Tensor> out;
          if (argument.is_struct()) {
            FEDEXEC_ASSIGN_OR_RETURN(Tensor t, TensorAt(name, argument, 0, 2));
            FEDEXEC_ASSIGN_OR_RETURN(Tensor a, TensorAt(name, argument, 1, 2));
            FEDEXEC_ASSIGN_OR_RETURN(std::vector<int64_t> axes,
                                     IndexList(name, a));
            out = mean ? ReduceMean(t, axes) : ReduceSum(t, axes);
          } else {
            FEDEXEC_ASSIGN_OR_RETURN(Tensor t, TensorOf(name, argument));
            out = mean ? ReduceMean(t) : ReduceSum(t);
          }
          FEDEXEC_RETURN_IF_ERROR(out.status());
          return Value(*std::move(out));
        },
        [name](const Type& declared, const ir::TypeBindings&) -> absl::Status {
          const Type& p = *declared.parameter();
          const Type* input = &p;
          int64_t removed = -1;  // unknown
          if (p.kind() == TypeKind::kStruct && p.elements().size() == 2) {
            input = &p.elements()[0].type;
            const Type& axes = p.elements()[1].type;
            FEDEXEC_RETURN_IF_ERROR(ExpectIndexType(name, "axes", axes, 1));
            removed = axes.dims().empty() ? 1 : axes.dims()[0];
          } else if (p.kind() != TypeKind::kTensor) {
            return Fail(name, absl::StrCat("expected a tensor or <tensor, "
                                           "axes>, found ",
                                           p.ToString()));
          }
          FEDEXEC_RETURN_IF_ERROR(ExpectTensor(name, "the operand", *input));
          FEDEXEC_RETURN_IF_ERROR(
              ExpectClass(name, *input, DTypeClass::kNumeric));
          FEDEXEC_RETURN_IF_ERROR(
              ExpectResult(name, declared.result(), input->dtype(), nullptr));
          const Type& result = declared.result();
          if (input == &p && !KnownScalar(result) && !result.unknown_rank()) {
            return Fail(name, absl::StrCat("reducing all axes gives a scalar, "
                                           "declared ",
                                           result.ToString()));
          }
          if (removed >= 0 && !input->unknown_rank() &&
              !result.unknown_rank() &&
              static_cast<int64_t>(result.dims().size()) !=
                  static_cast<int64_t>(input->dims().size()) - removed) {
            return Fail(name, absl::StrCat("reducing ", removed, " axes of ",
                                           input->ToString(), " cannot give ",
                                           result.ToString()));
          }
          return absl::OkStatus();
        }));
  }
  return absl::OkStatus();
}

absl::Status RegisterShapeOps(NativeRegistry& r) {
  FEDEXEC_RETURN_IF_ERROR(r.Register(
      "matmul", "(<T, U> -> V)", BinaryImpl("matmul", &MatMul),
      [](const Type& declared, const ir::TypeBindings&) -> absl::Status {
        const Type& a = declared.parameter()->elements()[0].type;
        const Type& b = declared.parameter()->elements()[1].type;
        FEDEXEC_RETURN_IF_ERROR(ExpectTensor("matmul", "operand 0", a));
        FEDEXEC_RETURN_IF_ERROR(ExpectTensor("matmul", "operand 1", b));
        FEDEXEC_RETURN_IF_ERROR(ExpectClass("matmul", a, DTypeClass::kNumeric));
        const bool ranks_ok = (a.unknown_rank() || a.dims().size() == 2) &&
                              (b.unknown_rank() || b.dims().size() == 2);
        const bool inner_ok = a.unknown_rank() || b.unknown_rank() ||
                              a.dims()[1] == -1 || b.dims()[0] == -1 ||
                              a.dims()[1] == b.dims()[0];
        if (a.dtype() != b.dtype() || !ranks_ok || !inner_ok) {
          return Fail("matmul", absl::StrCat("operands ", a.ToString(), " and ",
                                             b.ToString(),
                                             " do not multiply (need the same "
                                             "dtype, [m,k] and [k,n])"));
        }
        const int64_t m = a.unknown_rank() ? -1 : a.dims()[0];
        const int64_t n = b.unknown_rank() ? -1 : b.dims()[1];
        FEDEXEC_RETURN_IF_ERROR(
            ExpectResult("matmul", declared.result(), a.dtype(), nullptr));
        const Type expected = Type::Tensor(a.dtype(), {m, n});
        if (!ShapesCompatible(declared.result(), expected)) {
          return Fail("matmul", absl::StrCat("the result must be ",
                                             expected.ToString(), ", declared ",
                                             declared.result().ToString()));
        }
        return absl::OkStatus();
      }));

  FEDEXEC_RETURN_IF_ERROR(r.Register(
      "reshape", "(<T, U> -> V)",
      [](const Value& argument) -> absl::StatusOr<Value> {
        FEDEXEC_ASSIGN_OR_RETURN(Tensor t, TensorAt("reshape", argument, 0, 2));
        FEDEXEC_ASSIGN_OR_RETURN(Tensor s, TensorAt("reshape", argument, 1, 2));
        if (s.rank() != 1) {
          return Fail("reshape", absl::StrCat("the shape must be a vector, "
                                              "found ",
                                              s.TypeString()));
        }
        FEDEXEC_ASSIGN_OR_RETURN(std::vector<int64_t> shape,
                                 IndexList("reshape", s));
        FEDEXEC_ASSIGN_OR_RETURN(Tensor out, Reshape(t, shape));
        return Value(std::move(out));
      },
      [](const Type& declared, const ir::TypeBindings&) -> absl::Status {
        const Type& t = declared.parameter()->elements()[0].type;
        const Type& s = declared.parameter()->elements()[1].type;
        FEDEXEC_RETURN_IF_ERROR(ExpectTensor("reshape", "the operand", t));
        FEDEXEC_RETURN_IF_ERROR(ExpectIndexType("reshape", "the shape", s, 1));
        if (s.dims().size() != 1) {
          return Fail("reshape", absl::StrCat("the shape must be a vector, "
                                              "found ",
                                              s.ToString()));
        }
        FEDEXEC_RETURN_IF_ERROR(
            ExpectResult("reshape", declared.result(), t.dtype(), nullptr));
        const Type& result = declared.result();
        if (s.dims()[0] != -1 && !result.unknown_rank() &&
            static_cast<int64_t>(result.dims().size()) != s.dims()[0]) {
          return Fail("reshape",
                      absl::StrCat("a shape of ", s.ToString(), " cannot give ",
                                   result.ToString()));
        }
        return absl::OkStatus();
      }));

  FEDEXEC_RETURN_IF_ERROR(r.Register(
      "concat", "(<T, U> -> V)",
      [](const Value& argument) -> absl::StatusOr<Value> {
        FEDEXEC_ASSIGN_OR_RETURN(const Value* parts,
                                 Element("concat", argument, 0, 2));
        FEDEXEC_ASSIGN_OR_RETURN(Tensor a, TensorAt("concat", argument, 1, 2));
        if (!parts->is_struct()) {
          return Fail("concat", absl::StrCat("expected a struct of tensors, "
                                             "found ",
                                             DescribeValue(*parts)));
        }
        std::vector<Tensor> tensors;
        for (const auto& e : parts->struct_value().elements) {
          FEDEXEC_ASSIGN_OR_RETURN(Tensor t, TensorOf("concat", *e.value));
          tensors.push_back(std::move(t));
        }
        FEDEXEC_ASSIGN_OR_RETURN(std::vector<int64_t> axis,
                                 IndexList("concat", a));
        if (axis.size() != 1 || a.rank() != 0) {
          return Fail("concat", "the axis must be a scalar");
        }
        FEDEXEC_ASSIGN_OR_RETURN(Tensor out, Concat(tensors, axis[0]));
        return Value(std::move(out));
      },
      [](const Type& declared, const ir::TypeBindings&) -> absl::Status {
        const Type& parts = declared.parameter()->elements()[0].type;
        const Type& axis = declared.parameter()->elements()[1].type;
        if (parts.kind() != TypeKind::kStruct || parts.elements().empty()) {
          return Fail("concat", absl::StrCat("the parts must be a non-empty "
                                             "struct of tensors, found ",
                                             parts.ToString()));
        }
        const Type& first = parts.elements()[0].type;
        for (const auto& e : parts.elements()) {
          FEDEXEC_RETURN_IF_ERROR(ExpectTensor("concat", "each part", e.type));
          if (e.type.dtype() != first.dtype() ||
              e.type.dtype() == DType::kString) {
            return Fail("concat", absl::StrCat("parts must share one "
                                               "non-string dtype, found ",
                                               parts.ToString()));
          }
        }
        FEDEXEC_RETURN_IF_ERROR(ExpectIndexType("concat", "the axis", axis, 0));
        FEDEXEC_RETURN_IF_ERROR(
            ExpectResult("concat", declared.result(), first.dtype(), nullptr));
        const Type& result = declared.result();
        if (!first.unknown_rank() && !result.unknown_rank() &&
            result.dims().size() != first.dims().size()) {
          return Fail("concat", absl::StrCat("the result must have the rank "
                                             "of the parts, declared ",
                                             result.ToString()));
        }
        return absl::OkStatus();
      }));

  FEDEXEC_RETURN_IF_ERROR(r.Register(
      "slice", "(<T, U, W> -> V)",
      [](const Value& argument) -> absl::StatusOr<Value> {
        FEDEXEC_ASSIGN_OR_RETURN(Tensor t, TensorAt("slice", argument, 0, 3));
        FEDEXEC_ASSIGN_OR_RETURN(Tensor b, TensorAt("slice", argument, 1, 3));
        FEDEXEC_ASSIGN_OR_RETURN(Tensor s, TensorAt("slice", argument, 2, 3));
        FEDEXEC_ASSIGN_OR_RETURN(std::vector<int64_t> begin,
                                 IndexList("slice", b));
        FEDEXEC_ASSIGN_OR_RETURN(std::vector<int64_t> size,
                                 IndexList("slice", s));
        FEDEXEC_ASSIGN_OR_RETURN(Tensor out, Slice(t, begin, size));
        return Value(std::move(out));
      },
      [](const Type& declared, const ir::TypeBindings&) -> absl::Status {
        const auto& e = declared.parameter()->elements();
        FEDEXEC_RETURN_IF_ERROR(
            ExpectTensor("slice", "the operand", e[0].type));
        FEDEXEC_RETURN_IF_ERROR(
            ExpectIndexType("slice", "begin", e[1].type, 1));
        FEDEXEC_RETURN_IF_ERROR(ExpectIndexType("slice", "size", e[2].type, 1));
        FEDEXEC_RETURN_IF_ERROR(ExpectResult("slice", declared.result(),
                                             e[0].type.dtype(), nullptr));
        const Type& result = declared.result();
        if (!e[0].type.unknown_rank() && !result.unknown_rank() &&
            result.dims().size() != e[0].type.dims().size()) {
          return Fail("slice", absl::StrCat("the result must have the rank of ",
                                            e[0].type.ToString(), ", declared ",
                                            result.ToString()));
        }
        return absl::OkStatus();
      }));

  FEDEXEC_RETURN_IF_ERROR(r.Register(
      "clip_by_norm", "(<T, U> -> T)",
      [](const Value& argument) -> absl::StatusOr<Value> {
        FEDEXEC_ASSIGN_OR_RETURN(Tensor t,
                                 TensorAt("clip_by_norm", argument, 0, 2));
        FEDEXEC_ASSIGN_OR_RETURN(Tensor m,
                                 TensorAt("clip_by_norm", argument, 1, 2));
        FEDEXEC_ASSIGN_OR_RETURN(double max_norm,
                                 RealScalar("clip_by_norm", m));
        FEDEXEC_ASSIGN_OR_RETURN(Tensor out, ClipByNorm(t, max_norm));
        return Value(std::move(out));
      },
      [](const Type& declared, const ir::TypeBindings&) -> absl::Status {
        const Type& t = declared.parameter()->elements()[0].type;
        const Type& m = declared.parameter()->elements()[1].type;
        FEDEXEC_RETURN_IF_ERROR(ExpectTensor("clip_by_norm", "the operand", t));
        FEDEXEC_RETURN_IF_ERROR(
            ExpectClass("clip_by_norm", t, DTypeClass::kFloating));
        if (m.kind() != TypeKind::kTensor || !KnownScalar(m) ||
            (m.dtype() != DType::kFloat32 && m.dtype() != DType::kFloat64)) {
          return Fail("clip_by_norm",
                      absl::StrCat("max_norm must be a float32 or float64 "
                                   "scalar, found ",
                                   m.ToString()));
        }
        return absl::OkStatus();
      }));
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterBuiltinKernels(NativeRegistry& registry) {
  FEDEXEC_RETURN_IF_ERROR(RegisterElementwise(registry));
  FEDEXEC_RETURN_IF_ERROR(RegisterUnary(registry));
  FEDEXEC_RETURN_IF_ERROR(RegisterReductions(registry));
  FEDEXEC_RETURN_IF_ERROR(RegisterShapeOps(registry));
  return absl::OkStatus();
}

}  // namespace fedexec::native
