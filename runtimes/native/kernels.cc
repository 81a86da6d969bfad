// Built-in tensor kernels: element-wise ops, casts, reductions, matmul,
// shape ops, their struct-recursive forms and the accumulation kernels.
// The hot loops are written over raw pointers so that GCC vectorizes them
// at -O3 (checked with -fopt-info-vec).
#include "runtimes/native/kernels.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "Eigen/Core"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"

namespace fedexec::native {
namespace {

// ------------------------------------------------------------ type traits

template <typename T>
inline constexpr bool kIsInt =
    std::is_integral_v<T> && !std::is_same_v<T, bool>;
template <typename T>
inline constexpr bool kIsComplex = std::is_same_v<T, std::complex<float>> ||
                                   std::is_same_v<T, std::complex<double>>;
template <typename T>
inline constexpr bool kIsFloat =
    std::is_same_v<T, float> || std::is_same_v<T, double> ||
    std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;
template <typename T>
inline constexpr bool kIsReal = kIsInt<T> || kIsFloat<T>;
template <typename T>
inline constexpr bool kIsNumeric = kIsReal<T> || kIsComplex<T>;

// Num<T>::C is the type arithmetic on T happens in; Load/Store convert.
template <typename T>
struct Num {
  using C = T;
  static C Load(T x) { return x; }
  static T Store(C c) { return c; }
};
template <>
struct Num<Float16> {
  using C = float;
  static float Load(Float16 x) {
    return static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(x.bits));
  }
  static Float16 Store(float c) {
    return Float16{Eigen::numext::bit_cast<uint16_t>(Eigen::half(c))};
  }
};
template <>
struct Num<BFloat16> {
  using C = float;
  static float Load(BFloat16 x) {
    return static_cast<float>(Eigen::numext::bit_cast<Eigen::bfloat16>(x.bits));
  }
  static BFloat16 Store(float c) {
    return BFloat16{Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(c))};
  }
};

// Integer arithmetic in an unsigned type at least as wide as unsigned int,
// so that it wraps instead of overflowing (small types would otherwise be
// promoted to a signed int).
template <typename C>
using Wide = std::conditional_t<(sizeof(C) < sizeof(unsigned)), unsigned,
                                std::make_unsigned_t<C>>;

template <typename C>
inline C WAdd(C a, C b) {
  if constexpr (kIsInt<C>) {
    return static_cast<C>(static_cast<Wide<C>>(a) + static_cast<Wide<C>>(b));
  } else {
    return a + b;
  }
}
template <typename C>
inline C WSub(C a, C b) {
  if constexpr (kIsInt<C>) {
    return static_cast<C>(static_cast<Wide<C>>(a) - static_cast<Wide<C>>(b));
  } else {
    return a - b;
  }
}
template <typename C>
inline C WMul(C a, C b) {
  if constexpr (kIsInt<C>) {
    return static_cast<C>(static_cast<Wide<C>>(a) * static_cast<Wide<C>>(b));
  } else {
    return a * b;
  }
}
// NaN-propagating min and max.
template <typename C>
inline C Min(C a, C b) {
  return (a < b || a != a) ? a : b;
}
template <typename C>
inline C Max(C a, C b) {
  return (a > b || a != a) ? a : b;
}

std::string Name(DType d) { return std::string(DTypeName(d)); }

std::string Operands(const Tensor& a, const Tensor& b) {
  return absl::StrCat("operands ", a.TypeString(), " and ", b.TypeString());
}

std::string DTypeText(DType d) {
  return d == DType::kInvalid ? "no tensor" : std::string(DTypeName(d));
}

absl::Status Unsupported(absl::string_view kernel, DType dtype) {
  return absl::InvalidArgumentError(
      absl::StrCat(kernel, ": not defined for ", DTypeText(dtype)));
}

absl::StatusOr<MutableTensor> NewOutput(DType dtype,
                                        std::vector<int64_t> shape) {
  return MutableTensor::Uninitialized(dtype, std::move(shape));
}

// ------------------------------------------------------ element-wise ops

enum class BinOp {
  kAdd,
  kSubtract,
  kMultiply,
  kDivide,
  kMinimum,
  kMaximum,
  kEqual,
  kNotEqual,
  kLess,
  kLessEqual,
  kGreater,
  kGreaterEqual
};

const char* BinOpName(BinOp op) {
  switch (op) {
    case BinOp::kAdd:
      return "add";
    case BinOp::kSubtract:
      return "subtract";
    case BinOp::kMultiply:
      return "multiply";
    case BinOp::kDivide:
      return "divide";
    case BinOp::kMinimum:
      return "minimum";
    case BinOp::kMaximum:
      return "maximum";
    case BinOp::kEqual:
      return "equal";
    case BinOp::kNotEqual:
      return "not_equal";
    case BinOp::kLess:
      return "less";
    case BinOp::kLessEqual:
      return "less_equal";
    case BinOp::kGreater:
      return "greater";
    case BinOp::kGreaterEqual:
      return "greater_equal";
  }
  return "?";
}

bool NeedsOrder(BinOp op) {
  return op == BinOp::kMinimum || op == BinOp::kMaximum || op >= BinOp::kLess;
}

// out[i] = f(a[i], b[i]) with a scalar side broadcast.
template <typename T, typename R, typename F>
absl::StatusOr<Tensor> RunBinary(const Tensor& a, const Tensor& b, F f) {
  const bool a_scalar = a.rank() == 0 && b.rank() != 0;
  const bool b_scalar = b.rank() == 0 && a.rank() != 0;
  FEDEXEC_ASSIGN_OR_RETURN(
      MutableTensor out,
      NewOutput(DTypeOf<R>::value, a_scalar ? b.shape() : a.shape()));
  const int64_t n = out.num_elements();
  R* __restrict o = out.mutable_data<R>().data();
  const T* __restrict x = a.data<T>().data();
  const T* __restrict y = b.data<T>().data();
  if (a_scalar) {
    const T s = x[0];
    for (int64_t i = 0; i < n; ++i) o[i] = f(s, y[i]);
  } else if (b_scalar) {
    const T s = y[0];
    for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], s);
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
  }
  return std::move(out).Freeze();
}

absl::Status CheckBinaryOperands(absl::string_view kernel, const Tensor& a,
                                 const Tensor& b) {
  if (!a.valid() || !b.valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kernel, ": an operand is not a tensor (",
                     DTypeText(a.dtype()), ", ", DTypeText(b.dtype()), ")"));
  }
  if (a.dtype() != b.dtype()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kernel, ": ", Operands(a, b), " have different dtypes"));
  }
  if (a.shape() != b.shape() && a.rank() != 0 && b.rank() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        kernel, ": ", Operands(a, b),
        " have incompatible shapes (need equal shapes or a scalar)"));
  }
  return absl::OkStatus();
}

template <typename T>
absl::StatusOr<Tensor> BinaryTyped(BinOp op, const Tensor& a, const Tensor& b) {
  using N = Num<T>;
  using C = typename N::C;
  const char* kernel = BinOpName(op);
  if constexpr (std::is_same_v<T, bool>) {
    if (op == BinOp::kEqual) {
      return RunBinary<T, bool>(a, b, [](T x, T y) { return x == y; });
    }
    if (op == BinOp::kNotEqual) {
      return RunBinary<T, bool>(a, b, [](T x, T y) { return x != y; });
    }
    return Unsupported(kernel, a.dtype());
  } else if constexpr (!kIsNumeric<T>) {
    return Unsupported(kernel, a.dtype());
  } else {
    if constexpr (kIsComplex<T>) {
      if (NeedsOrder(op)) return Unsupported(kernel, a.dtype());
    }
    switch (op) {
      case BinOp::kAdd:
        return RunBinary<T, T>(a, b, [](T x, T y) {
          return N::Store(WAdd<C>(N::Load(x), N::Load(y)));
        });
      case BinOp::kSubtract:
        return RunBinary<T, T>(a, b, [](T x, T y) {
          return N::Store(WSub<C>(N::Load(x), N::Load(y)));
        });
      case BinOp::kMultiply:
        return RunBinary<T, T>(a, b, [](T x, T y) {
          return N::Store(WMul<C>(N::Load(x), N::Load(y)));
        });
      case BinOp::kDivide:
        if constexpr (kIsInt<T>) {
          for (T y : b.data<T>()) {
            if (y == 0) {
              return absl::InvalidArgumentError(absl::StrCat(
                  kernel, ": integer division by zero (", Operands(a, b), ")"));
            }
          }
          return RunBinary<T, T>(a, b, [](T x, T y) -> T {
            if constexpr (std::is_signed_v<T>) {
              // The most negative value / -1 overflows: wrap like negation.
              if (y == -1) return WSub<T>(0, x);
            }
            return static_cast<T>(x / y);
          });
        } else {
          return RunBinary<T, T>(
              a, b, [](T x, T y) { return N::Store(N::Load(x) / N::Load(y)); });
        }
      case BinOp::kEqual:
        return RunBinary<T, bool>(
            a, b, [](T x, T y) { return N::Load(x) == N::Load(y); });
      case BinOp::kNotEqual:
        return RunBinary<T, bool>(
            a, b, [](T x, T y) { return N::Load(x) != N::Load(y); });
      default:
        break;
    }
    if constexpr (kIsReal<T>) {
      switch (op) {
        case BinOp::kMinimum:
          return RunBinary<T, T>(a, b, [](T x, T y) {
            return N::Store(Min<C>(N::Load(x), N::Load(y)));
          });
        case BinOp::kMaximum:
          return RunBinary<T, T>(a, b, [](T x, T y) {
            return N::Store(Max<C>(N::Load(x), N::Load(y)));
          });
        case BinOp::kLess:
          return RunBinary<T, bool>(
              a, b, [](T x, T y) { return N::Load(x) < N::Load(y); });
        case BinOp::kLessEqual:
          return RunBinary<T, bool>(
              a, b, [](T x, T y) { return N::Load(x) <= N::Load(y); });
        case BinOp::kGreater:
          return RunBinary<T, bool>(
              a, b, [](T x, T y) { return N::Load(x) > N::Load(y); });
        case BinOp::kGreaterEqual:
          return RunBinary<T, bool>(
              a, b, [](T x, T y) { return N::Load(x) >= N::Load(y); });
        default:
          break;
      }
    }
    return Unsupported(kernel, a.dtype());
  }
}

absl::StatusOr<Tensor> Binary(BinOp op, const Tensor& a, const Tensor& b) {
  FEDEXEC_RETURN_IF_ERROR(CheckBinaryOperands(BinOpName(op), a, b));
  return VisitDType(a.dtype(), [&](auto tag) -> absl::StatusOr<Tensor> {
    return BinaryTyped<decltype(tag)>(op, a, b);
  });
}

// ------------------------------------------------------------- conversions

// Converts one element; false when the value does not fit `To`.
template <typename From, typename To>
bool ConvertElement(From x, To* out) {
  using NF = Num<From>;
  if constexpr (std::is_same_v<From, To>) {
    *out = x;
    return true;
  } else if constexpr (std::is_same_v<To, bool>) {
    *out = NF::Load(x) != typename NF::C{};
    return true;
  } else if constexpr (kIsComplex<From> && !kIsComplex<To>) {
    return false;  // rejected before the loop
  } else if constexpr (kIsComplex<To>) {
    using P = typename To::value_type;
    if constexpr (kIsComplex<From>) {
      *out = To(static_cast<P>(x.real()), static_cast<P>(x.imag()));
    } else if constexpr (std::is_same_v<From, bool>) {
      *out = To(x ? P{1} : P{0}, P{0});
    } else {
      *out = To(static_cast<P>(NF::Load(x)), P{0});
    }
    return true;
  } else if constexpr (kIsInt<To> && (kIsFloat<From>)) {
    const double v = std::trunc(static_cast<double>(NF::Load(x)));
    const double lo = static_cast<double>(std::numeric_limits<To>::min());
    const double hi = std::ldexp(1.0, std::numeric_limits<To>::digits);
    if (!(v >= lo && v < hi)) return false;
    *out = static_cast<To>(v);
    return true;
  } else if constexpr (std::is_same_v<From, bool>) {
    *out = Num<To>::Store(static_cast<typename Num<To>::C>(x ? 1 : 0));
    return true;
  } else {
    // integer -> integer wraps (defined in C++20); anything -> floating.
    *out = Num<To>::Store(static_cast<typename Num<To>::C>(NF::Load(x)));
    return true;
  }
}

std::string ElementString(const Tensor& t, int64_t i) {
  return VisitDType(t.dtype(), [&](auto tag) -> std::string {
    using T = decltype(tag);
    if constexpr (kIsReal<T>) {
      return absl::StrCat(static_cast<double>(Num<T>::Load(t.data<T>()[i])));
    } else {
      return "?";
    }
  });
}

bool IsCastable(DType d) { return IsNumeric(d) || d == DType::kBool; }

// ------------------------------------------------------------- reductions

template <typename T>
using SumC = typename Num<T>::C;

// The sum of n elements with 16 independent partial sums, so that the loop
// vectorizes and is not bound by the latency of one add chain.
template <typename T>
SumC<T> SumAll(const T* __restrict x, int64_t n) {
  using C = SumC<T>;
  if constexpr (std::is_same_v<T, C> && !kIsComplex<T>) {
    constexpr int kLanes = 16;
    C lanes[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
      for (int j = 0; j < kLanes; ++j) lanes[j] = WAdd<C>(lanes[j], x[i + j]);
    }
    for (int j = 0; i < n; ++i, ++j) lanes[j] = WAdd<C>(lanes[j], x[i]);
    for (int width = kLanes / 2; width > 0; width /= 2) {
      for (int j = 0; j < width; ++j) {
        lanes[j] = WAdd<C>(lanes[j], lanes[j + width]);
      }
    }
    return lanes[0];
  } else {
    C sum{};
    for (int64_t i = 0; i < n; ++i) sum = WAdd<C>(sum, Num<T>::Load(x[i]));
    return sum;
  }
}

template <typename T>
struct RealPartOf {
  using type = T;
};
template <typename P>
struct RealPartOf<std::complex<P>> {
  using type = P;
};
template <typename T>
using RealPart = typename RealPartOf<T>::type;

// The accumulator of a mean: 64 bits for integers.
template <typename T>
using MeanC = std::conditional_t<
    kIsInt<T>, std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>,
    SumC<T>>;

absl::StatusOr<std::vector<bool>> ReducedAxes(absl::string_view kernel,
                                              const Tensor& t,
                                              absl::Span<const int64_t> axes) {
  std::vector<bool> reduced(t.rank(), false);
  for (int64_t axis : axes) {
    const int64_t a = axis < 0 ? axis + t.rank() : axis;
    if (a < 0 || a >= t.rank()) {
      return absl::InvalidArgumentError(
          absl::StrCat(kernel, ": axis ", axis, " is out of range for ",
                       t.TypeString(), " (rank ", t.rank(), ")"));
    }
    if (reduced[a]) {
      return absl::InvalidArgumentError(
          absl::StrCat(kernel, ": axis ", axis, " is given twice"));
    }
    reduced[a] = true;
  }
  return reduced;
}

// Reduces t over the axes marked in `reduced` (empty: all axes) into A
// accumulators, then finish(acc, count) gives each output element.
template <typename T, typename A, typename Finish>
absl::StatusOr<Tensor> Reduce(const Tensor& t, std::vector<bool> reduced,
                              Finish finish) {
  const int rank = t.rank();
  bool all = true;
  for (bool r : reduced) all = all && r;
  std::vector<int64_t> out_shape;
  int64_t count = 1;
  for (int d = 0; d < rank; ++d) {
    if (all || reduced[d]) {
      count *= t.shape()[d];
    } else {
      out_shape.push_back(t.shape()[d]);
    }
  }
  FEDEXEC_ASSIGN_OR_RETURN(MutableTensor out, NewOutput(t.dtype(), out_shape));
  T* o = out.mutable_data<T>().data();
  const T* x = t.data<T>().data();
  if (all) {
    A sum;
    if constexpr (std::is_same_v<A, SumC<T>>) {
      sum = SumAll<T>(x, t.num_elements());
    } else {
      sum = A{};
      for (int64_t i = 0; i < t.num_elements(); ++i) {
        sum = WAdd<A>(sum, static_cast<A>(x[i]));
      }
    }
    o[0] = finish(sum, count);
    return std::move(out).Freeze();
  }
  // General case: walk the input in order with an odometer that tracks the
  // output offset (output strides are 0 along reduced axes).
  std::vector<int64_t> out_stride(rank, 0);
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    if (!reduced[d]) {
      out_stride[d] = stride;
      stride *= t.shape()[d];
    }
  }
  std::vector<A> acc(out.num_elements(), A{});
  std::vector<int64_t> index(rank, 0);
  int64_t offset = 0;
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    if constexpr (std::is_same_v<A, SumC<T>>) {
      acc[offset] = WAdd<A>(acc[offset], Num<T>::Load(x[i]));
    } else {
      acc[offset] = WAdd<A>(acc[offset], static_cast<A>(x[i]));
    }
    for (int d = rank - 1; d >= 0; --d) {
      offset += out_stride[d];
      if (++index[d] < t.shape()[d]) break;
      offset -= out_stride[d] * t.shape()[d];
      index[d] = 0;
    }
  }
  for (int64_t j = 0; j < out.num_elements(); ++j) o[j] = finish(acc[j], count);
  return std::move(out).Freeze();
}

absl::StatusOr<Tensor> ReduceImpl(bool mean, const Tensor& t,
                                  std::vector<bool> reduced) {
  const char* kernel = mean ? "reduce_mean" : "reduce_sum";
  return VisitDType(t.dtype(), [&](auto tag) -> absl::StatusOr<Tensor> {
    using T = decltype(tag);
    if constexpr (!kIsNumeric<T>) {
      return Unsupported(kernel, t.dtype());
    } else {
      using N = Num<T>;
      if (!mean) {
        return Reduce<T, SumC<T>>(
            t, std::move(reduced),
            [](SumC<T> s, int64_t) { return N::Store(s); });
      }
      using A = MeanC<T>;
      if constexpr (kIsInt<T>) {
        bool any_empty = t.num_elements() == 0;
        if (any_empty) {
          // Only an error when some output averages zero elements.
          bool all = true;
          for (bool r : reduced) all = all && r;
          bool reduces_zero = all;
          for (int d = 0; d < t.rank(); ++d) {
            if (reduced[d] && t.shape()[d] == 0) reduces_zero = true;
          }
          int64_t kept = 1;
          for (int d = 0; d < t.rank(); ++d) {
            if (!all && !reduced[d]) kept *= t.shape()[d];
          }
          if (reduces_zero && kept > 0) {
            return absl::InvalidArgumentError(
                absl::StrCat(kernel, ": mean of zero elements of ",
                             t.TypeString(), " (integer dtype has no NaN)"));
          }
        }
        return Reduce<T, A>(t, std::move(reduced), [](A s, int64_t count) {
          return static_cast<T>(s / static_cast<A>(count));
        });
      } else {
        return Reduce<T, A>(t, std::move(reduced), [](A s, int64_t count) {
          return N::Store(s / static_cast<RealPart<A>>(count));
        });
      }
    }
  });
}

// ----------------------------------------------------------------- matmul

template <typename S>
void EigenMatMul(const S* a, const S* b, S* c, int64_t m, int64_t k,
                 int64_t n) {
  using Matrix =
      Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const Matrix> ma(a, m, k);
  Eigen::Map<const Matrix> mb(b, k, n);
  Eigen::Map<Matrix> mc(c, m, n);
  mc.noalias() = ma * mb;
}

// ------------------------------------------------------------ accumulate

absl::Status CheckAccumulate(absl::string_view kernel, const MutableTensor& acc,
                             const Tensor& x) {
  if (acc.dtype() != x.dtype() || acc.shape() != x.shape() || !acc.valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kernel, ": accumulator ", acc.TypeString(),
                     " and operand ", x.TypeString(), " differ"));
  }
  return absl::OkStatus();
}

// Applies f(acc + begin, x + begin, end - begin) after the checks common to
// every accumulation kernel; [begin, end) must lie within the elements.
template <typename F>
absl::Status AccumulateWith(absl::string_view kernel, bool real_only,
                            MutableTensor& acc, const Tensor& x, int64_t begin,
                            int64_t end, F f) {
  FEDEXEC_RETURN_IF_ERROR(CheckAccumulate(kernel, acc, x));
  return VisitDType(x.dtype(), [&](auto tag) -> absl::Status {
    using T = decltype(tag);
    if constexpr (!kIsNumeric<T>) {
      return Unsupported(kernel, x.dtype());
    } else {
      if (real_only && !kIsReal<T>) return Unsupported(kernel, x.dtype());
      if (begin < 0 || end < begin || end > x.num_elements()) [[unlikely]] {
        return absl::InvalidArgumentError(absl::StrCat(
            kernel, ": range [", begin, ", ", end, ") is outside the ",
            x.num_elements(), " elements of ", x.TypeString()));
      }
      T* __restrict a = acc.mutable_data<T>().data() + begin;
      const T* __restrict b = x.data<T>().data() + begin;
      f(a, b, end - begin);
      return absl::OkStatus();
    }
  });
}

// ---------------------------------------------------------- struct values

using TensorBinary = absl::StatusOr<Tensor> (*)(const Tensor&, const Tensor&);

std::string PathPrefix(const std::string& path) {
  return path.empty() ? "" : absl::StrCat("at ", path, ": ");
}

std::string StructShape(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kTensor:
      return v.tensor().valid() ? v.tensor().TypeString() : "<none>";
    case Value::Kind::kStruct:
      return absl::StrCat("a struct of ", v.struct_value().elements.size(),
                          " elements");
    case Value::Kind::kSequence:
      return "a sequence";
    case Value::Kind::kFederated:
      return "a federated value";
    case Value::Kind::kFunction:
      return "a function";
  }
  return "?";
}

absl::StatusOr<Value> ZipValues(const char* kernel, TensorBinary op,
                                const Value& a, const Value& b,
                                const std::string& path) {
  if (a.is_tensor() && b.is_tensor()) {
    absl::StatusOr<Tensor> r = op(a.tensor(), b.tensor());
    if (!r.ok()) {
      if (path.empty()) return r.status();
      // Insert the path after the kernel name.
      std::string message(r.status().message());
      const std::string head = absl::StrCat(kernel, ": ");
      if (message.rfind(head, 0) == 0) message = message.substr(head.size());
      return absl::Status(r.status().code(),
                          absl::StrCat(head, PathPrefix(path), message));
    }
    return Value(*std::move(r));
  }
  if (a.is_struct() && b.is_struct() &&
      a.struct_value().elements.size() == b.struct_value().elements.size()) {
    const auto& ea = a.struct_value().elements;
    const auto& eb = b.struct_value().elements;
    std::vector<std::pair<std::string, Value>> out;
    out.reserve(ea.size());
    for (size_t i = 0; i < ea.size(); ++i) {
      if (!ea[i].name.empty() && !eb[i].name.empty() &&
          ea[i].name != eb[i].name) {
        return absl::InvalidArgumentError(
            absl::StrCat(kernel, ": ", PathPrefix(path), "element ", i,
                         " is named '", ea[i].name, "' in one operand and '",
                         eb[i].name, "' in the other"));
      }
      const std::string& name = ea[i].name.empty() ? eb[i].name : ea[i].name;
      const std::string sub = name.empty() ? absl::StrCat(path, "[", i, "]")
                                           : absl::StrCat(path, ".", name);
      FEDEXEC_ASSIGN_OR_RETURN(
          Value v, ZipValues(kernel, op, *ea[i].value, *eb[i].value, sub));
      out.emplace_back(name, std::move(v));
    }
    return Value::Struct(std::move(out));
  }
  return absl::InvalidArgumentError(absl::StrCat(kernel, ": ", PathPrefix(path),
                                                 "operands have different "
                                                 "structures: ",
                                                 StructShape(a), " and ",
                                                 StructShape(b)));
}

absl::StatusOr<Value> ScaleValueAt(const Value& value, double factor,
                                   const std::string& path) {
  if (value.is_tensor()) {
    absl::StatusOr<Tensor> r = Scale(value.tensor(), factor);
    if (!r.ok()) {
      if (path.empty()) return r.status();
      std::string message(r.status().message());
      if (message.rfind("scale: ", 0) == 0) message = message.substr(7);
      return absl::Status(r.status().code(),
                          absl::StrCat("scale: ", PathPrefix(path), message));
    }
    return Value(*std::move(r));
  }
  if (value.is_struct()) {
    std::vector<std::pair<std::string, Value>> out;
    const auto& elements = value.struct_value().elements;
    for (size_t i = 0; i < elements.size(); ++i) {
      const std::string sub = elements[i].name.empty()
                                  ? absl::StrCat(path, "[", i, "]")
                                  : absl::StrCat(path, ".", elements[i].name);
      FEDEXEC_ASSIGN_OR_RETURN(Value v,
                               ScaleValueAt(*elements[i].value, factor, sub));
      out.emplace_back(elements[i].name, std::move(v));
    }
    return Value::Struct(std::move(out));
  }
  return absl::InvalidArgumentError(absl::StrCat("scale: ", PathPrefix(path),
                                                 "expected a tensor or a "
                                                 "struct of tensors, found ",
                                                 StructShape(value)));
}

}  // namespace

// ------------------------------------------------------- element-wise API

absl::StatusOr<Tensor> Add(const Tensor& a, const Tensor& b) {
  return Binary(BinOp::kAdd, a, b);
}
absl::StatusOr<Tensor> Subtract(const Tensor& a, const Tensor& b) {
  return Binary(BinOp::kSubtract, a, b);
}
absl::StatusOr<Tensor> Multiply(const Tensor& a, const Tensor& b) {
  return Binary(BinOp::kMultiply, a, b);
}
absl::StatusOr<Tensor> Divide(const Tensor& a, const Tensor& b) {
  return Binary(BinOp::kDivide, a, b);
}
absl::StatusOr<Tensor> Minimum(const Tensor& a, const Tensor& b) {
  return Binary(BinOp::kMinimum, a, b);
}
absl::StatusOr<Tensor> Maximum(const Tensor& a, const Tensor& b) {
  return Binary(BinOp::kMaximum, a, b);
}
absl::StatusOr<Tensor> Equal(const Tensor& a, const Tensor& b) {
  return Binary(BinOp::kEqual, a, b);
}
absl::StatusOr<Tensor> NotEqual(const Tensor& a, const Tensor& b) {
  return Binary(BinOp::kNotEqual, a, b);
}
absl::StatusOr<Tensor> Less(const Tensor& a, const Tensor& b) {
  return Binary(BinOp::kLess, a, b);
}
absl::StatusOr<Tensor> LessEqual(const Tensor& a, const Tensor& b) {
  return Binary(BinOp::kLessEqual, a, b);
}
absl::StatusOr<Tensor> Greater(const Tensor& a, const Tensor& b) {
  return Binary(BinOp::kGreater, a, b);
}
absl::StatusOr<Tensor> GreaterEqual(const Tensor& a, const Tensor& b) {
  return Binary(BinOp::kGreaterEqual, a, b);
}

absl::StatusOr<Tensor> Negate(const Tensor& t) {
  return VisitDType(t.dtype(), [&](auto tag) -> absl::StatusOr<Tensor> {
    using T = decltype(tag);
    if constexpr (!kIsNumeric<T>) {
      return Unsupported("negate", t.dtype());
    } else {
      using N = Num<T>;
      FEDEXEC_ASSIGN_OR_RETURN(MutableTensor out,
                               NewOutput(t.dtype(), t.shape()));
      T* __restrict o = out.mutable_data<T>().data();
      const T* __restrict x = t.data<T>().data();
      for (int64_t i = 0; i < t.num_elements(); ++i) {
        if constexpr (kIsInt<T>) {
          o[i] = WSub<T>(0, x[i]);
        } else {
          o[i] = N::Store(-N::Load(x[i]));
        }
      }
      return std::move(out).Freeze();
    }
  });
}

absl::StatusOr<Tensor> Scale(const Tensor& t, double factor) {
  return VisitDType(t.dtype(), [&](auto tag) -> absl::StatusOr<Tensor> {
    using T = decltype(tag);
    if constexpr (!kIsNumeric<T>) {
      return Unsupported("scale", t.dtype());
    } else {
      using N = Num<T>;
      using C = typename N::C;
      FEDEXEC_ASSIGN_OR_RETURN(MutableTensor out,
                               NewOutput(t.dtype(), t.shape()));
      T* __restrict o = out.mutable_data<T>().data();
      const T* __restrict x = t.data<T>().data();
      const int64_t n = t.num_elements();
      if constexpr (kIsInt<T>) {
        const double lo = static_cast<double>(std::numeric_limits<T>::min());
        const double hi = std::ldexp(1.0, std::numeric_limits<T>::digits);
        for (int64_t i = 0; i < n; ++i) {
          const double v = std::round(static_cast<double>(x[i]) * factor);
          if (!(v >= lo && v < hi)) {
            return absl::InvalidArgumentError(absl::StrCat(
                "scale: element ", i, " of ", t.TypeString(), " (", x[i],
                ") times ", factor, " is out of range of ", Name(t.dtype())));
          }
          o[i] = static_cast<T>(v);
        }
      } else if constexpr (kIsComplex<T>) {
        const auto f = static_cast<typename T::value_type>(factor);
        for (int64_t i = 0; i < n; ++i) o[i] = x[i] * f;
      } else {
        const C f = static_cast<C>(factor);
        for (int64_t i = 0; i < n; ++i) o[i] = N::Store(N::Load(x[i]) * f);
      }
      return std::move(out).Freeze();
    }
  });
}

absl::StatusOr<Tensor> Cast(const Tensor& t, DType to) {
  const std::string kernel = absl::StrCat("cast_", DTypeText(to));
  if (!IsCastable(t.dtype()) || !IsCastable(to)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kernel, ": cannot cast ", DTypeText(t.dtype()), " to ",
                     DTypeText(to), " (numeric and bool dtypes only)"));
  }
  if (t.dtype() == to) return t;
  if (IsComplex(t.dtype()) && !IsComplex(to)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kernel, ": cannot cast complex ", t.TypeString(), " to ",
                     Name(to), " (take the real part explicitly)"));
  }
  FEDEXEC_ASSIGN_OR_RETURN(MutableTensor out, NewOutput(to, t.shape()));
  int64_t bad = -1;
  VisitDType(t.dtype(), [&](auto from_tag) {
    using From = decltype(from_tag);
    VisitDType(to, [&](auto to_tag) {
      using To = decltype(to_tag);
      if constexpr ((kIsNumeric<From> || std::is_same_v<From, bool>)&&(
                        kIsNumeric<To> || std::is_same_v<To, bool>)) {
        const From* x = t.data<From>().data();
        To* o = out.mutable_data<To>().data();
        for (int64_t i = 0; i < t.num_elements(); ++i) {
          if (!ConvertElement<From, To>(x[i], &o[i])) {
            bad = i;
            return;
          }
        }
      }
    });
  });
  if (bad >= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(kernel, ": element ", bad, " of ", t.TypeString(), " (",
                     ElementString(t, bad), ") is out of range of ", Name(to)));
  }
  return std::move(out).Freeze();
}

// ---------------------------------------------------------- reduction API

absl::StatusOr<Tensor> ReduceSum(const Tensor& t) {
  return ReduceImpl(false, t, std::vector<bool>(t.rank(), true));
}
absl::StatusOr<Tensor> ReduceSum(const Tensor& t,
                                 absl::Span<const int64_t> axes) {
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<bool> reduced,
                           ReducedAxes("reduce_sum", t, axes));
  return ReduceImpl(false, t, std::move(reduced));
}
absl::StatusOr<Tensor> ReduceMean(const Tensor& t) {
  return ReduceImpl(true, t, std::vector<bool>(t.rank(), true));
}
absl::StatusOr<Tensor> ReduceMean(const Tensor& t,
                                  absl::Span<const int64_t> axes) {
  FEDEXEC_ASSIGN_OR_RETURN(std::vector<bool> reduced,
                           ReducedAxes("reduce_mean", t, axes));
  return ReduceImpl(true, t, std::move(reduced));
}

// ------------------------------------------------------------- other ops

absl::StatusOr<Tensor> MatMul(const Tensor& a, const Tensor& b) {
  if (!a.valid() || !b.valid() || a.dtype() != b.dtype()) {
    return absl::InvalidArgumentError(
        absl::StrCat("matmul: ", Operands(a, b), " have different dtypes"));
  }
  if (a.rank() != 2 || b.rank() != 2 || a.shape()[1] != b.shape()[0]) {
    return absl::InvalidArgumentError(absl::StrCat(
        "matmul: ", Operands(a, b), " do not multiply (need [m,k] and [k,n])"));
  }
  const int64_t m = a.shape()[0], k = a.shape()[1], n = b.shape()[1];
  return VisitDType(a.dtype(), [&](auto tag) -> absl::StatusOr<Tensor> {
    using T = decltype(tag);
    if constexpr (!kIsNumeric<T>) {
      return Unsupported("matmul", a.dtype());
    } else {
      FEDEXEC_ASSIGN_OR_RETURN(MutableTensor out,
                               MutableTensor::Zeros(a.dtype(), {m, n}));
      if (m == 0 || n == 0 || k == 0) return std::move(out).Freeze();
      T* o = out.mutable_data<T>().data();
      const T* x = a.data<T>().data();
      const T* y = b.data<T>().data();
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> ||
                    kIsComplex<T>) {
        EigenMatMul<T>(x, y, o, m, k, n);
      } else if constexpr (kIsFloat<T>) {
        // float16/bfloat16: widen to float32, multiply, round back.
        std::vector<float> fa(m * k), fb(k * n), fc(m * n);
        for (int64_t i = 0; i < m * k; ++i) fa[i] = Num<T>::Load(x[i]);
        for (int64_t i = 0; i < k * n; ++i) fb[i] = Num<T>::Load(y[i]);
        EigenMatMul<float>(fa.data(), fb.data(), fc.data(), m, k, n);
        for (int64_t i = 0; i < m * n; ++i) o[i] = Num<T>::Store(fc[i]);
      } else {
        // Integers: i-k-j order so the inner loop streams rows.
        for (int64_t i = 0; i < m; ++i) {
          T* row = o + i * n;
          for (int64_t p = 0; p < k; ++p) {
            const T s = x[i * k + p];
            const T* brow = y + p * n;
            for (int64_t j = 0; j < n; ++j) {
              row[j] = WAdd<T>(row[j], WMul<T>(s, brow[j]));
            }
          }
        }
      }
      return std::move(out).Freeze();
    }
  });
}

absl::StatusOr<Tensor> Reshape(const Tensor& t,
                               absl::Span<const int64_t> shape) {
  std::vector<int64_t> dims(shape.begin(), shape.end());
  int inferred = -1;
  int64_t known = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      if (inferred >= 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "reshape: shape ", ShapeString(shape), " has more than one -1"));
      }
      inferred = static_cast<int>(i);
    } else if (dims[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("reshape: shape ", ShapeString(shape), ": dim ", i,
                       " is ", dims[i], ", must be >= 0 or -1"));
    } else if (dims[i] > 0 &&
               known > std::numeric_limits<int64_t>::max() / dims[i]) {
      known = std::numeric_limits<int64_t>::max();  // overflows: mismatch
    } else {
      known *= dims[i];
    }
  }
  if (inferred >= 0) {
    if (known == 0 || t.num_elements() % known != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("reshape: cannot infer the -1 of ", ShapeString(shape),
                       " for ", t.TypeString()));
    }
    dims[inferred] = t.num_elements() / known;
    known = t.num_elements();
  }
  if (known != t.num_elements()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reshape: ", t.TypeString(), " has ", t.num_elements(),
        " elements, shape ", ShapeString(shape), " needs ", known));
  }
  if (!t.valid()) return Unsupported("reshape", t.dtype());
  if (t.dtype() == DType::kString) {
    std::vector<std::string> values(t.strings().begin(), t.strings().end());
    return Tensor::FromStrings(std::move(values), std::move(dims));
  }
  // Zero-copy: the new tensor's owner keeps the old one (and so its buffer)
  // alive.
  auto owner = std::make_shared<const Tensor>(t);
  return Tensor::FromBuffer(t.dtype(), std::move(dims), std::move(owner),
                            t.raw_data(), t.byte_size());
}

absl::StatusOr<Tensor> Concat(absl::Span<const Tensor> parts, int64_t axis) {
  if (parts.empty()) {
    return absl::InvalidArgumentError("concat: no tensors to join");
  }
  const Tensor& first = parts[0];
  if (!first.valid() || first.dtype() == DType::kString) {
    return Unsupported("concat", first.dtype());
  }
  if (first.rank() == 0) {
    return absl::InvalidArgumentError(
        "concat: cannot join scalars (rank 0); reshape them to [1] first");
  }
  const int rank = first.rank();
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        "concat: axis ", axis, " is out of range for rank ", rank));
  }
  std::vector<int64_t> out_shape = first.shape();
  out_shape[a] = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& p = parts[i];
    bool ok = p.dtype() == first.dtype() && p.rank() == rank;
    for (int d = 0; ok && d < rank; ++d) {
      ok = d == a || p.shape()[d] == first.shape()[d];
    }
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("concat: part ", i, " is ", p.TypeString(),
                       ", part 0 is ", first.TypeString(),
                       " (need the same dtype and dims except axis ", a, ")"));
    }
    out_shape[a] += p.shape()[a];
  }
  FEDEXEC_ASSIGN_OR_RETURN(MutableTensor out,
                           NewOutput(first.dtype(), out_shape));
  int64_t outer = 1;
  for (int d = 0; d < a; ++d) outer *= first.shape()[d];
  const size_t element = DTypeSize(first.dtype());
  size_t inner_bytes = element;
  for (int d = a + 1; d < rank; ++d) inner_bytes *= first.shape()[d];
  auto* o = static_cast<char*>(out.raw_mutable_data());
  for (int64_t i = 0; i < outer; ++i) {
    for (const Tensor& p : parts) {
      const size_t bytes = inner_bytes * p.shape()[a];
      if (bytes == 0) continue;
      std::memcpy(o, static_cast<const char*>(p.raw_data()) + i * bytes, bytes);
      o += bytes;
    }
  }
  return std::move(out).Freeze();
}

absl::StatusOr<Tensor> Slice(const Tensor& t, absl::Span<const int64_t> begin,
                             absl::Span<const int64_t> size) {
  if (!t.valid() || t.dtype() == DType::kString) {
    return Unsupported("slice", t.dtype());
  }
  const int rank = t.rank();
  if (static_cast<int>(begin.size()) != rank ||
      static_cast<int>(size.size()) != rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        "slice: ", t.TypeString(), " has rank ", rank, ", given begin ",
        ShapeString(begin), " and size ", ShapeString(size)));
  }
  std::vector<int64_t> out_shape(rank);
  for (int d = 0; d < rank; ++d) {
    const int64_t dim = t.shape()[d];
    const int64_t b = begin[d];
    const int64_t s = size[d] == -1 ? dim - b : size[d];
    if (b < 0 || b > dim || s < 0 || s > dim - b) {
      return absl::InvalidArgumentError(absl::StrCat(
          "slice: begin ", ShapeString(begin), " size ", ShapeString(size),
          " is out of bounds of ", t.TypeString(), " at dim ", d));
    }
    out_shape[d] = s;
  }
  FEDEXEC_ASSIGN_OR_RETURN(MutableTensor out, NewOutput(t.dtype(), out_shape));
  if (out.num_elements() == 0) return std::move(out).Freeze();
  if (rank == 0) {
    std::memcpy(out.raw_mutable_data(), t.raw_data(), t.byte_size());
    return std::move(out).Freeze();
  }
  // Copy rows of the last dim; an odometer walks the outer dims.
  const size_t element = DTypeSize(t.dtype());
  std::vector<int64_t> in_stride(rank, 1);
  for (int d = rank - 2; d >= 0; --d) {
    in_stride[d] = in_stride[d + 1] * t.shape()[d + 1];
  }
  const size_t row_bytes = out_shape[rank - 1] * element;
  const int64_t rows = out.num_elements() / out_shape[rank - 1];
  std::vector<int64_t> index(rank, 0);
  auto* o = static_cast<char*>(out.raw_mutable_data());
  const auto* x = static_cast<const char*>(t.raw_data());
  for (int64_t r = 0; r < rows; ++r) {
    int64_t offset = 0;
    for (int d = 0; d < rank; ++d)
      offset += (begin[d] + index[d]) * in_stride[d];
    std::memcpy(o, x + offset * element, row_bytes);
    o += row_bytes;
    for (int d = rank - 2; d >= 0; --d) {
      if (++index[d] < out_shape[d]) break;
      index[d] = 0;
    }
  }
  return std::move(out).Freeze();
}

absl::StatusOr<Tensor> ClipByNorm(const Tensor& t, double max_norm) {
  if (!IsFloating(t.dtype())) {
    return absl::InvalidArgumentError(
        absl::StrCat("clip_by_norm: needs a floating tensor, found ",
                     t.valid() ? t.TypeString() : "no tensor"));
  }
  if (!(max_norm >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("clip_by_norm: max_norm is ", max_norm, ", must be >= 0"));
  }
  return VisitDType(t.dtype(), [&](auto tag) -> absl::StatusOr<Tensor> {
    using T = decltype(tag);
    if constexpr (!kIsFloat<T>) {
      return Unsupported("clip_by_norm", t.dtype());
    } else {
      using N = Num<T>;
      const T* x = t.data<T>().data();
      double squares = 0;
      for (int64_t i = 0; i < t.num_elements(); ++i) {
        const double v = N::Load(x[i]);
        squares += v * v;
      }
      const double norm = std::sqrt(squares);
      if (!(norm > max_norm)) return t;
      const double factor = max_norm / norm;
      FEDEXEC_ASSIGN_OR_RETURN(MutableTensor out,
                               NewOutput(t.dtype(), t.shape()));
      T* o = out.mutable_data<T>().data();
      for (int64_t i = 0; i < t.num_elements(); ++i) {
        o[i] = N::Store(static_cast<typename N::C>(N::Load(x[i]) * factor));
      }
      return std::move(out).Freeze();
    }
  });
}

// ------------------------------------------------------ struct-aware API

absl::StatusOr<Value> AddValues(const Value& a, const Value& b) {
  return ZipValues("add", &Add, a, b, "");
}
absl::StatusOr<Value> SubtractValues(const Value& a, const Value& b) {
  return ZipValues("subtract", &Subtract, a, b, "");
}
absl::StatusOr<Value> MultiplyValues(const Value& a, const Value& b) {
  return ZipValues("multiply", &Multiply, a, b, "");
}
absl::StatusOr<Value> DivideValues(const Value& a, const Value& b) {
  return ZipValues("divide", &Divide, a, b, "");
}
absl::StatusOr<Value> MinimumValues(const Value& a, const Value& b) {
  return ZipValues("minimum", &Minimum, a, b, "");
}
absl::StatusOr<Value> MaximumValues(const Value& a, const Value& b) {
  return ZipValues("maximum", &Maximum, a, b, "");
}
absl::StatusOr<Value> ScaleValue(const Value& value, double factor) {
  return ScaleValueAt(value, factor, "");
}

// ----------------------------------------------------- accumulation API

absl::Status AccumulateAddRange(MutableTensor& acc, const Tensor& x,
                                int64_t begin, int64_t end) {
  return AccumulateWith(
      "AccumulateAdd", false, acc, x, begin, end,
      [](auto* __restrict a, const auto* __restrict b, int64_t n) {
        using T = std::remove_reference_t<decltype(*a)>;
        using N = Num<T>;
        for (int64_t i = 0; i < n; ++i) {
          if constexpr (std::is_same_v<T, typename N::C>) {
            a[i] = WAdd<T>(a[i], b[i]);
          } else {
            a[i] = N::Store(N::Load(a[i]) + N::Load(b[i]));
          }
        }
      });
}

absl::Status AccumulateScaledAddRange(MutableTensor& acc, const Tensor& x,
                                      double weight, int64_t begin,
                                      int64_t end) {
  if (IsInteger(x.dtype())) {
    const bool whole = std::trunc(weight) == weight;
    const bool fits = VisitDType(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (kIsInt<T>) {
        const double lo = static_cast<double>(std::numeric_limits<T>::min());
        const double hi = std::ldexp(1.0, std::numeric_limits<T>::digits);
        return weight >= lo && weight < hi;
      } else {
        return false;
      }
    });
    if (!whole || !fits) {
      return absl::InvalidArgumentError(absl::StrCat(
          "AccumulateScaledAdd: weight ", weight, " for ", x.TypeString(),
          " must be a whole number within ", Name(x.dtype())));
    }
  }
  return AccumulateWith(
      "AccumulateScaledAdd", false, acc, x, begin, end,
      [weight](auto* __restrict a, const auto* __restrict b, int64_t n) {
        using T = std::remove_reference_t<decltype(*a)>;
        using N = Num<T>;
        using C = typename N::C;
        if constexpr (kIsInt<T>) {
          const T w = static_cast<T>(weight);
          for (int64_t i = 0; i < n; ++i)
            a[i] = WAdd<T>(a[i], WMul<T>(b[i], w));
        } else if constexpr (kIsComplex<T>) {
          const auto w = static_cast<typename T::value_type>(weight);
          for (int64_t i = 0; i < n; ++i) a[i] += b[i] * w;
        } else if constexpr (std::is_same_v<T, C>) {
          const T w = static_cast<T>(weight);
          for (int64_t i = 0; i < n; ++i) a[i] += b[i] * w;
        } else {
          const C w = static_cast<C>(weight);
          for (int64_t i = 0; i < n; ++i) {
            a[i] = N::Store(N::Load(a[i]) + N::Load(b[i]) * w);
          }
        }
      });
}

absl::Status AccumulateMinRange(MutableTensor& acc, const Tensor& x,
                                int64_t begin, int64_t end) {
  return AccumulateWith(
      "AccumulateMin", true, acc, x, begin, end,
      [](auto* __restrict a, const auto* __restrict b, int64_t n) {
        using T = std::remove_reference_t<decltype(*a)>;
        using N = Num<T>;
        if constexpr (kIsReal<T>) {
          for (int64_t i = 0; i < n; ++i) {
            a[i] = N::Store(Min(N::Load(a[i]), N::Load(b[i])));
          }
        }
      });
}

absl::Status AccumulateMaxRange(MutableTensor& acc, const Tensor& x,
                                int64_t begin, int64_t end) {
  return AccumulateWith(
      "AccumulateMax", true, acc, x, begin, end,
      [](auto* __restrict a, const auto* __restrict b, int64_t n) {
        using T = std::remove_reference_t<decltype(*a)>;
        using N = Num<T>;
        if constexpr (kIsReal<T>) {
          for (int64_t i = 0; i < n; ++i) {
            a[i] = N::Store(Max(N::Load(a[i]), N::Load(b[i])));
          }
        }
      });
}

// ------------------------------------------ many operands in one pass

namespace {

// Operands folded per pass over the accumulator: each pass reads the
// accumulator once and this many operand streams at once (a few concurrent
// streams use the memory system best; many short ones do not).
constexpr size_t kOperandsPerPass = 5;

// a[i] = step(...step(step(a[i], p[0][i], base), p[1][i], base + 1)...)
// for K operands: per element, the operations of K single-kernel calls in
// their order, the running value kept in T (so rounded like a store).
template <int K, typename T, typename Step>
void ManyLoop(T* __restrict a, const T* const* xs, int64_t n, size_t base,
              const Step& step) {
  const T* __restrict p[K];
  for (int k = 0; k < K; ++k) p[k] = xs[k];
  for (int64_t i = 0; i < n; ++i) {
    T v = a[i];
    for (int k = 0; k < K; ++k) v = step(v, p[k][i], base + k);
    a[i] = v;
  }
}

template <typename T, typename Step>
void ManyPasses(T* a, const T* const* xs, size_t count, int64_t n,
                const Step& step) {
  for (size_t i = 0; i < count;) {
    const size_t k = std::min(kOperandsPerPass, count - i);
    switch (k) {
      case 1:
        ManyLoop<1>(a, xs + i, n, i, step);
        break;
      case 2:
        ManyLoop<2>(a, xs + i, n, i, step);
        break;
      case 3:
        ManyLoop<3>(a, xs + i, n, i, step);
        break;
      case 4:
        ManyLoop<4>(a, xs + i, n, i, step);
        break;
      default:
        ManyLoop<5>(a, xs + i, n, i, step);
        break;
    }
    i += k;
  }
}

// Checks every operand as the single kernel `check(x)` would (the first
// failure wins), then the range, then calls run(T* a, const T* const* xs)
// with the operands' data offset by begin.
template <typename Check, typename Run>
absl::Status AccumulateManyWith(absl::string_view kernel, MutableTensor& acc,
                                absl::Span<const Tensor* const> xs,
                                int64_t begin, int64_t end, Check check,
                                Run run) {
  if (xs.empty()) return absl::OkStatus();
  for (size_t i = 0; i < xs.size(); ++i) {
    if (xs[i] == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(kernel, ": operand ", i, " is null"));
    }
    FEDEXEC_RETURN_IF_ERROR(check(*xs[i], i));
  }
  const Tensor& x0 = *xs[0];
  if (begin < 0 || end < begin || end > x0.num_elements()) [[unlikely]] {
    return absl::InvalidArgumentError(
        absl::StrCat(kernel, ": range [", begin, ", ", end, ") is outside the ",
                     x0.num_elements(), " elements of ", x0.TypeString()));
  }
  return VisitDType(x0.dtype(), [&](auto tag) -> absl::Status {
    using T = decltype(tag);
    if constexpr (kIsNumeric<T>) {
      absl::InlinedVector<const T*, 16> data(xs.size());
      for (size_t i = 0; i < xs.size(); ++i) {
        data[i] = xs[i]->data<T>().data() + begin;
      }
      run(acc.mutable_data<T>().data() + begin, data.data(), end - begin);
    }
    return absl::OkStatus();  // other dtypes failed the checks
  });
}

}  // namespace

absl::Status AccumulateAddMany(MutableTensor& acc,
                               absl::Span<const Tensor* const> xs,
                               int64_t begin, int64_t end) {
  return AccumulateManyWith(
      "AccumulateAdd", acc, xs, begin, end,
      [&](const Tensor& x, size_t) { return AccumulateAddRange(acc, x, 0, 0); },
      [&](auto* a, const auto* const* p, int64_t n) {
        using T = std::remove_reference_t<decltype(*a)>;
        using N = Num<T>;
        ManyPasses(a, p, xs.size(), n, [](T v, T b, size_t) {
          if constexpr (std::is_same_v<T, typename N::C>) {
            return WAdd<T>(v, b);
          } else {
            return N::Store(N::Load(v) + N::Load(b));
          }
        });
      });
}

absl::Status AccumulateScaledAddMany(MutableTensor& acc,
                                     absl::Span<const Tensor* const> xs,
                                     absl::Span<const double> weights,
                                     int64_t begin, int64_t end) {
  if (weights.size() != xs.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("AccumulateScaledAdd: ", weights.size(), " weights for ",
                     xs.size(), " operands"));
  }
  return AccumulateManyWith(
      "AccumulateScaledAdd", acc, xs, begin, end,
      [&](const Tensor& x, size_t i) {
        return AccumulateScaledAddRange(acc, x, weights[i], 0, 0);
      },
      [&](auto* a, const auto* const* p, int64_t n) {
        using T = std::remove_reference_t<decltype(*a)>;
        using N = Num<T>;
        using C = typename N::C;
        // The weights converted as the single kernel converts them.
        if constexpr (kIsInt<T>) {
          absl::InlinedVector<T, 16> w(weights.size());
          for (size_t i = 0; i < w.size(); ++i)
            w[i] = static_cast<T>(weights[i]);
          ManyPasses(a, p, xs.size(), n, [&w](T v, T b, size_t k) {
            return WAdd<T>(v, WMul<T>(b, w[k]));
          });
        } else if constexpr (kIsComplex<T>) {
          using R = typename T::value_type;
          absl::InlinedVector<R, 16> w(weights.size());
          for (size_t i = 0; i < w.size(); ++i)
            w[i] = static_cast<R>(weights[i]);
          ManyPasses(a, p, xs.size(), n,
                     [&w](T v, T b, size_t k) { return v + b * w[k]; });
        } else if constexpr (std::is_same_v<T, C>) {
          absl::InlinedVector<T, 16> w(weights.size());
          for (size_t i = 0; i < w.size(); ++i)
            w[i] = static_cast<T>(weights[i]);
          ManyPasses(a, p, xs.size(), n,
                     [&w](T v, T b, size_t k) { return v + b * w[k]; });
        } else {
          absl::InlinedVector<C, 16> w(weights.size());
          for (size_t i = 0; i < w.size(); ++i)
            w[i] = static_cast<C>(weights[i]);
          ManyPasses(a, p, xs.size(), n, [&w](T v, T b, size_t k) {
            return N::Store(N::Load(v) + N::Load(b) * w[k]);
          });
        }
      });
}

absl::Status AccumulateMinMany(MutableTensor& acc,
                               absl::Span<const Tensor* const> xs,
                               int64_t begin, int64_t end) {
  return AccumulateManyWith(
      "AccumulateMin", acc, xs, begin, end,
      [&](const Tensor& x, size_t) { return AccumulateMinRange(acc, x, 0, 0); },
      [&](auto* a, const auto* const* p, int64_t n) {
        using T = std::remove_reference_t<decltype(*a)>;
        using N = Num<T>;
        if constexpr (kIsReal<T>) {
          ManyPasses(a, p, xs.size(), n, [](T v, T b, size_t) {
            return N::Store(Min(N::Load(v), N::Load(b)));
          });
        }
      });
}

absl::Status AccumulateMaxMany(MutableTensor& acc,
                               absl::Span<const Tensor* const> xs,
                               int64_t begin, int64_t end) {
  return AccumulateManyWith(
      "AccumulateMax", acc, xs, begin, end,
      [&](const Tensor& x, size_t) { return AccumulateMaxRange(acc, x, 0, 0); },
      [&](auto* a, const auto* const* p, int64_t n) {
        using T = std::remove_reference_t<decltype(*a)>;
        using N = Num<T>;
        if constexpr (kIsReal<T>) {
          ManyPasses(a, p, xs.size(), n, [](T v, T b, size_t) {
            return N::Store(Max(N::Load(v), N::Load(b)));
          });
        }
      });
}

absl::Status AccumulateAdd(MutableTensor& acc, const Tensor& x) {
  return AccumulateAddRange(acc, x, 0, x.num_elements());
}

absl::Status AccumulateScaledAdd(MutableTensor& acc, const Tensor& x,
                                 double weight) {
  return AccumulateScaledAddRange(acc, x, weight, 0, x.num_elements());
}

absl::Status AccumulateMin(MutableTensor& acc, const Tensor& x) {
  return AccumulateMinRange(acc, x, 0, x.num_elements());
}

absl::Status AccumulateMax(MutableTensor& acc, const Tensor& x) {
  return AccumulateMaxRange(acc, x, 0, x.num_elements());
}

}  // namespace fedexec::native
