// Built-in tensor kernels of the native external runtime: plain functions
// on Tensors (element-wise arithmetic and comparisons, casts, reductions,
// matmul, reshape, concat, slice, clip_by_norm), their struct-recursive
// forms on Values (generic_plus/multiply/divide and the folds of the
// federated intrinsics), and the accumulation kernels of aggregations.
// RegisterBuiltinKernels (registry.h) also makes each available as a native
// function; the native calling conventions are listed at the end.
//
// Common rules:
// - Every error is INVALID_ARGUMENT and starts with the kernel's name
//   ("add: operands float32[3] and int32[3] have different dtypes"); running
//   out of memory is RESOURCE_EXHAUSTED.
// - Numeric dtypes are the integers, float16, bfloat16, float32, float64,
//   complex64 and complex128. float16/bfloat16 compute in float32 and round
//   back. Integer arithmetic wraps (two's complement), including the
//   negation and division of the most negative value by -1; integer
//   division truncates toward zero and division by zero is an error; float
//   arithmetic follows IEEE (x/0 is inf or NaN).
// - Element-wise binary kernels take two tensors of the same dtype and
//   either the same shape or one of them a scalar (rank 0), which is
//   broadcast. The result has the other operand's shape.
// - Results are new tensors, except where noted (Reshape, and ClipByNorm
//   and Scale by 1 may share the input's buffer).
//
// Thread-safety: stateless; every function may run concurrently with any
// other (an accumulator must not be shared between concurrent calls).
#ifndef FEDEXEC_RUNTIMES_NATIVE_KERNELS_H_
#define FEDEXEC_RUNTIMES_NATIVE_KERNELS_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/mutable_tensor.h"
#include "core/tensor.h"
#include "core/value.h"

namespace fedexec::native {

// ------------------------------------------------------- element-wise ops

// Numeric dtypes.
absl::StatusOr<Tensor> Add(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> Subtract(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> Multiply(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> Divide(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> Negate(const Tensor& t);
// Real (not complex) dtypes; a NaN operand gives NaN.
absl::StatusOr<Tensor> Minimum(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> Maximum(const Tensor& a, const Tensor& b);

// Comparisons give bool tensors. Equal/NotEqual: numeric and bool dtypes
// (NaN != NaN, -0 == 0); the ordering ones: real dtypes.
absl::StatusOr<Tensor> Equal(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> NotEqual(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> Less(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> LessEqual(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> Greater(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> GreaterEqual(const Tensor& a, const Tensor& b);

// t * factor, same dtype. Floating and complex tensors multiply by the
// factor converted to their (real) element type; integer tensors compute
// in float64 and round to nearest (halves away from zero), and a result
// outside the dtype's range (or NaN) is an error naming the element.
absl::StatusOr<Tensor> Scale(const Tensor& t, double factor);

// Converts to dtype `to`. Numeric and bool dtypes, both ways: bool -> 0/1,
// x -> bool is x != 0; float -> integer truncates toward zero and a value
// out of range (or NaN) is an error naming the element; integer -> integer
// wraps; complex -> real is an error (take the real part explicitly).
// Casting to the same dtype returns `t` itself.
absl::StatusOr<Tensor> Cast(const Tensor& t, DType to);

// ------------------------------------------------------------- reductions

// Sum over all axes (a scalar), or over `axes` (each in [-rank, rank), no
// duplicates; the reduced dims are removed). Numeric dtypes; integers wrap;
// the sum of nothing is 0. Float sums over all axes use 16 independent
// partial sums (then combined pairwise), so the rounding differs slightly
// from a left-to-right loop but is deterministic.
absl::StatusOr<Tensor> ReduceSum(const Tensor& t);
absl::StatusOr<Tensor> ReduceSum(const Tensor& t,
                                 absl::Span<const int64_t> axes);
// Mean, same dtype: sum / count. Integers accumulate in 64 bits and
// truncate toward zero; the mean of zero elements is NaN for floating and
// complex dtypes and an error for integers.
absl::StatusOr<Tensor> ReduceMean(const Tensor& t);
absl::StatusOr<Tensor> ReduceMean(const Tensor& t,
                                  absl::Span<const int64_t> axes);

// ------------------------------------------------------------ other ops

// [m,k] x [k,n] -> [m,n], same numeric dtype. float32, float64 and complex
// use Eigen over the buffers (no copies in); float16/bfloat16 go through
// float32; integers use a plain loop (wrapping).
absl::StatusOr<Tensor> MatMul(const Tensor& a, const Tensor& b);

// Same elements, new shape (any dtype, strings too); at most one dim may be
// -1 (inferred). Zero-copy: the result shares t's buffer.
absl::StatusOr<Tensor> Reshape(const Tensor& t,
                               absl::Span<const int64_t> shape);

// Joins tensors along `axis` (in [-rank, rank)): at least one part, same
// dtype (not string), same rank >= 1, equal dims except at `axis`.
absl::StatusOr<Tensor> Concat(absl::Span<const Tensor> parts, int64_t axis);

// The block starting at `begin` of extent `size` (one entry per dim; a size
// of -1 means "to the end"). Any dtype but string.
absl::StatusOr<Tensor> Slice(const Tensor& t, absl::Span<const int64_t> begin,
                             absl::Span<const int64_t> size);

// Scales t so that its L2 norm is <= max_norm: t * max_norm / norm(t) when
// norm(t) > max_norm, else t itself (zero-copy). Floating dtypes; the norm
// is computed in float64. max_norm must be >= 0 (not NaN).
absl::StatusOr<Tensor> ClipByNorm(const Tensor& t, double max_norm);

// ------------------------------------------------ structure-aware helpers

// Element-wise ops on two Values that are tensors or (nested) structs of
// tensors with the same structure; struct names must agree where both
// sides name an element (the result takes the name given). The leaves
// follow the tensor kernels (a scalar leaf broadcasts). Errors name the
// path: "add: at [1].b: operands float32[3] and float32[4] have
// incompatible shapes".
absl::StatusOr<Value> AddValues(const Value& a, const Value& b);
absl::StatusOr<Value> SubtractValues(const Value& a, const Value& b);
absl::StatusOr<Value> MultiplyValues(const Value& a, const Value& b);
absl::StatusOr<Value> DivideValues(const Value& a, const Value& b);
absl::StatusOr<Value> MinimumValues(const Value& a, const Value& b);
absl::StatusOr<Value> MaximumValues(const Value& a, const Value& b);
// Every tensor of `value` times `factor` (see Scale).
absl::StatusOr<Value> ScaleValue(const Value& value, double factor);

// ---------------------------------------------------- accumulation kernels

// In-place folds for aggregations: acc op= x over raw buffers with simple
// vectorizable loops. acc and x must have the same dtype and shape (else an
// error naming both); numeric dtypes (Min/Max: real ones).
absl::Status AccumulateAdd(MutableTensor& acc, const Tensor& x);
// acc += x * weight. Floating: the weight is converted to the element type
// first (float for float32). Complex: a real weight. Integers: the weight
// must be a whole number that fits the dtype (an example count), and the
// arithmetic wraps.
absl::Status AccumulateScaledAdd(MutableTensor& acc, const Tensor& x,
                                 double weight);
// acc = min(acc, x) / max(acc, x) element-wise; NaN propagates.
absl::Status AccumulateMin(MutableTensor& acc, const Tensor& x);
absl::Status AccumulateMax(MutableTensor& acc, const Tensor& x);

// The same folds over the flat element range [begin, end) only, for callers
// that fold many operands into one accumulator tile by tile (so the
// accumulator's tile stays in cache): the loops, and so every element's
// result, are those of the whole-tensor kernels. The checks and their
// messages are the whole-tensor kernels' (dtypes, shapes, the weight) and
// come first, whatever the range, so an empty range checks without
// touching anything; then the range must satisfy
// 0 <= begin <= end <= num_elements ("AccumulateAdd: range [0, 9) is
// outside the 8 elements of float32[8]"). The whole-tensor kernels are the
// range [0, num_elements).
absl::Status AccumulateAddRange(MutableTensor& acc, const Tensor& x,
                                int64_t begin, int64_t end);
absl::Status AccumulateScaledAddRange(MutableTensor& acc, const Tensor& x,
                                      double weight, int64_t begin,
                                      int64_t end);
absl::Status AccumulateMinRange(MutableTensor& acc, const Tensor& x,
                                int64_t begin, int64_t end);
absl::Status AccumulateMaxRange(MutableTensor& acc, const Tensor& x,
                                int64_t begin, int64_t end);

// Many operands over [begin, end): the outcome of calling the range kernel
// for xs[0], xs[1], ... in order (with weights[i] for xs[i]), the same bits
// element by element, but the accumulator is read and written once per
// group of up to 5 operands instead of once per operand, and the operands
// are read as a few concurrent streams. Every operand is checked first,
// in order, like the single kernel (its message; nothing is written when
// one fails); then the range. No operand is null; weights has one entry
// per operand. No operands: nothing to do.
absl::Status AccumulateAddMany(MutableTensor& acc,
                               absl::Span<const Tensor* const> xs,
                               int64_t begin, int64_t end);
absl::Status AccumulateScaledAddMany(MutableTensor& acc,
                                     absl::Span<const Tensor* const> xs,
                                     absl::Span<const double> weights,
                                     int64_t begin, int64_t end);
absl::Status AccumulateMinMany(MutableTensor& acc,
                               absl::Span<const Tensor* const> xs,
                               int64_t begin, int64_t end);
absl::Status AccumulateMaxMany(MutableTensor& acc,
                               absl::Span<const Tensor* const> xs,
                               int64_t begin, int64_t end);

// ------------------------------------------------ as native functions
//
// Registered by RegisterBuiltinKernels (registry.h); each takes one argument
// value (a struct for several) and checks the declared type at Bind:
//   add subtract multiply divide minimum maximum   <a, b> -> tensor
//   equal not_equal less less_equal greater greater_equal   <a, b> -> bool
//   negate                                        t -> t
//   scale           (<T, float32> -> T): T a tensor or struct of tensors
//   cast_<dtype>    (T -> <dtype>[*]): one per numeric dtype and bool,
//                   e.g. cast_float32, cast_int64, cast_bool
//   reduce_sum reduce_mean   t -> scalar, or <t, axes> with axes an int32
//                   or int64 scalar or vector
//   matmul          <a, b> -> c
//   reshape         <t, shape> with shape an int32/int64 vector
//   concat          <<t1, ..., tn>, axis> with axis an int32/int64 scalar
//   slice           <t, begin, size> with int32/int64 vectors
//   clip_by_norm    <t, max_norm> with max_norm a float32/float64 scalar

}  // namespace fedexec::native

#endif  // FEDEXEC_RUNTIMES_NATIVE_KERNELS_H_
