// Aggregation building blocks of the federating executor: the accumulators
// that federated_sum, federated_mean, federated_weighted_mean, federated_min,
// federated_max, federated_secure_sum, federated_secure_sum_bitwidth and
// federated_secure_modular_sum fold client values into, and the zero of a type
// (generic_zero, and the sum over zero clients). Independent of any executor:
// they work on core Values (tensors, or nested structs of tensors) with the
// native runtime's accumulation kernels, and an Accumulator is the Acc type of
// TreeReduce (core/tree_reduce.h):
//
//   TreeReduce(pool, n, options,
//       [] { return Accumulator(); },
//       [&](Accumulator& acc, int64_t c) {
//         return Fold(AggregateOp::kSum, acc, member(c));
//       },
//       [](Accumulator& left, Accumulator&& right) {
//         return Merge(AggregateOp::kSum, left, std::move(right));
//       });
//   then Finish(std::move(root)), FinishMean(...), or, when no client
//   was folded (root.empty()), ZeroOf(member type) for a sum.
//
// Structure. An accumulator starts empty and adopts the structure of the
// first value folded (or merged) in: struct nesting and element names, and
// each leaf's dtype and shape. So a type with unknown dims (float32[?]) is
// no obstacle: the values fix the shapes. Every later value (or merged
// partial) must match it exactly, names included; otherwise the error names
// the first difference in depth-first order and its path, written like the
// kernels' paths ("[i]" for an unnamed element, ".name" for a named one):
//   "at [1].b: expected float32[3], found float32[4]"
//   "at [0]: element 1 is named 'y', expected 'b'"
//
// Arithmetic. Sum, min and max are the kernels' (runtimes/native/kernels.h):
// integer sums wrap (two's complement) like AccumulateAdd; min/max propagate
// NaN; float16/bfloat16 compute in float32 and round back at every step.
// Float results depend on the order of the operations: each one is a pure
// function of the sequence of Fold and Merge calls (values and grouping),
// nothing else, so TreeReduce's canonical tree makes them bit-identical
// across thread counts and shards, while another grouping of the same
// values (say a left-to-right loop) may round differently.
//
// Secure sums are exact: elements are checked against the bound and added
// as 64-bit integers; the result is converted to the leaf dtype at Finish,
// with an error when a sum does not fit it (nothing wraps silently). That
// holds for bit-width sums too (each value in [0, 2^B), the sum exact: its
// width grows with the number of clients, as federated_language documents).
// Only the modular sum wraps, by its definition: values in [0, M), the sum
// modulo M.
//
// Errors are INVALID_ARGUMENT unless noted. Messages of the plain ops
// (kSum, kMin, kMax, kWeightedSum) carry no intrinsic name, since one op
// serves several intrinsics (kSum: federated_sum, federated_mean,
// sequence_sum): the caller prefixes its own context. The secure ops serve
// one intrinsic each and their messages start with its name. After a Fold or
// Merge fails, the accumulator that was written (acc, or left) is unusable:
// every later Fold, Merge or Finish on it returns FAILED_PRECONDITION (an
// aggregation stops at its first error anyway; TreeReduce drops the rest).
//
// Performance. Folding a tensor leaf is one call of an accumulation kernel
// on the raw buffers (memory bandwidth for large tensors); the first value
// is copied (one allocation and memcpy per leaf), later ones allocate
// nothing; FoldBlock folds many values per pass over the accumulator. The
// structure is a flat vector in depth-first order, matched
// without building strings; an empty accumulator allocates nothing; a value
// that is a single tensor needs no structure at all. Messages are built
// only on errors.
//
// Thread-safety: an Accumulator has no internal synchronization; one thread
// uses it at a time (TreeReduce guarantees that). Distinct accumulators may
// be used concurrently. SecureBound is immutable and may be shared between
// threads. The free functions are otherwise stateless.
#ifndef FEDEXEC_EXECUTORS_AGGREGATORS_H_
#define FEDEXEC_EXECUTORS_AGGREGATORS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/mutable_tensor.h"
#include "core/value.h"
#include "ir/type.h"

namespace fedexec::exec {

enum class AggregateOp {
  kSum,                // federated_sum, federated_mean, sequence_sum
  kMin,                // federated_min
  kMax,                // federated_max
  kWeightedSum,        // federated_weighted_mean: sum of weight * x
  kSecureSum,          // federated_secure_sum (FoldSecure)
  kSecureSumBitwidth,  // federated_secure_sum_bitwidth (FoldBitwidth)
  kSecureModularSum,   // federated_secure_modular_sum (FoldModular)
};

// "sum", "min", "max", "weighted sum", "federated_secure_sum",
// "federated_secure_sum_bitwidth", "federated_secure_modular_sum".
std::string_view AggregateOpName(AggregateOp op);

namespace aggregators_internal {
struct Layout;
struct BoundRep;
class Access;
}  // namespace aggregators_internal

// The bound of a secure sum, checked and converted once so that folding a
// client costs no conversion: M of federated_secure_sum (every element of a
// value must lie in [0, M]), B of federated_secure_sum_bitwidth (every
// element in [0, 2^B), the sum exact) or M of federated_secure_modular_sum
// (every element in [0, M), the sum taken modulo M).
//
// Form (the type checker's rule, ir/intrinsics.cc): an integer tensor of
// any integer dtype, or a struct whose leaves are such tensors. A tensor
// applies to every leaf of the value below its position (a single tensor
// at the top is shared by all leaves); a struct must mirror the value's
// struct there (same number of elements; names are not compared). A scalar
// bound covers every element of a leaf; a non-scalar one must have exactly
// the leaf's shape and bounds it element by element.
//
// Immutable; copying shares the checked form.
class SecureBound {
 public:
  // Errors (INVALID_ARGUMENT, starting with "federated_secure_sum: "):
  // a leaf that is not an integer tensor, a negative bound; each names the
  // bound's path and element.
  static absl::StatusOr<SecureBound> ForSecureSum(const Value& bound);
  // Errors (starting with "federated_secure_sum_bitwidth: "): a leaf that
  // is not an integer tensor, a bit width outside [1, 62] ("bit width B at
  // .a is 70, must be in [1, 62]").
  static absl::StatusOr<SecureBound> ForBitwidth(const Value& bits);
  // Errors (starting with "federated_secure_modular_sum: "): a leaf that is
  // not an integer tensor, a modulus outside [1, 2^63 - 1].
  static absl::StatusOr<SecureBound> ForModularSum(const Value& modulus);

  // kSecureSum, kSecureSumBitwidth or kSecureModularSum.
  AggregateOp op() const;

 private:
  friend class aggregators_internal::Access;
  explicit SecureBound(std::shared_ptr<const aggregators_internal::BoundRep> r)
      : rep_(std::move(r)) {}
  std::shared_ptr<const aggregators_internal::BoundRep> rep_;
};

// A partial aggregate: the fold of some clients' values. Move-only; a
// default-constructed accumulator is empty (no value folded) and allocates
// nothing. See the file comment for structure and errors.
class Accumulator {
 public:
  Accumulator() = default;
  Accumulator(Accumulator&&) noexcept = default;
  Accumulator& operator=(Accumulator&&) noexcept = default;
  Accumulator(const Accumulator&) = delete;
  Accumulator& operator=(const Accumulator&) = delete;

  // No value folded yet.
  bool empty() const { return count_ == 0; }
  // Values folded in, directly or through merged partials.
  int64_t count() const { return count_; }
  // kWeightedSum: the sum of the weights folded in (in fold/merge order, in
  // double). Other ops: count(), every value weighing 1.
  double total_weight() const { return total_weight_; }
  // The op of the values folded in; nullopt while empty.
  std::optional<AggregateOp> op() const {
    return empty() ? std::nullopt : std::optional<AggregateOp>(op_);
  }
  // Whether an earlier Fold or Merge into this accumulator failed.
  bool failed() const { return failed_; }

  // Back to empty (and usable again after a failure).
  void Reset() { *this = Accumulator(); }

 private:
  friend class aggregators_internal::Access;

  AggregateOp op_ = AggregateOp::kSum;
  bool failed_ = false;
  int64_t count_ = 0;
  double total_weight_ = 0;
  // The structure; null when the value is a single tensor, whose dtype is
  // then dtype_ (the value's dtype: secure sums accumulate in int64).
  std::shared_ptr<const aggregators_internal::Layout> layout_;
  DType dtype_ = DType::kInvalid;
  // One running result per leaf, depth-first; shapes are the leaves'.
  absl::InlinedVector<MutableTensor, 1> leaves_;
  // Secure ops: the bound last folded with and, per leaf, the index of its
  // bound leaf in it (kSecureModularSum needs them to merge).
  std::shared_ptr<const aggregators_internal::BoundRep> bound_;
  absl::InlinedVector<int32_t, 1> bound_leaf_;
};

// The weight of one client for federated_weighted_mean: a real numeric
// (integer or floating) scalar tensor, as a double. Errors: not a real
// scalar tensor, negative, NaN or infinite ("weight -1 is negative").
absl::StatusOr<double> WeightOf(const Value& weight);

// Folds one client's value into acc with a plain op: kSum and kWeightedSum
// need numeric leaves, kMin and kMax integer or floating-point ones
// ("at .a: min needs integer or floating-point tensors, found complex64").
// kWeightedSum adds weight * x (see AccumulateScaledAdd: integer leaves
// need a whole weight) and weight must be finite and >= 0; the other ops
// ignore weight. The first value is copied, not added to a zero. The op
// must be the one acc was folded with (else FAILED_PRECONDITION); secure
// ops go through FoldSecure / FoldBitwidth.
absl::Status Fold(AggregateOp op, Accumulator& acc, const Value& x,
                  double weight = 1.0);

// The bytes of one leaf's tile in FoldBlock (fits the L2 cache).
inline constexpr int64_t kFoldBlockTileBytes = 256 * 1024;

// Folds several clients' values at once: exactly the outcome of
//   for i in order: Fold(op, acc, *xs[i], weights.empty() ? 1 : weights[i])
// stopping at the first error, i.e. the same result bits, count(),
// total_weight(), error (code and message) and poisoning. *failed_index
// (when given) is set to the index in xs of the value whose fold failed,
// or -1 when all folded, nothing was tried, or the failure is no value's
// (weights not pairing with xs: INVALID_ARGUMENT, acc untouched; weights
// is empty or has one weight per value).
//
// Why: Fold reads and writes the whole accumulator for every value, which
// for large values triples the memory traffic of a sum. FoldBlock checks
// every value first (weights, structure, the kernels' own checks); then,
// for the plain ops, it walks each leaf in tiles of kFoldBlockTileBytes
// and folds all values' tiles into the accumulator's tile while it stays
// in cache, through the many-operand kernels (native::AccumulateAddMany
// and co.: a few operand streams per pass). When acc starts empty its
// tile starts as a copy of xs[0]'s (zeros for kWeightedSum), as Fold
// does. Every element sees the same operations in the same order as with
// Fold, so the bits are the same. When any value would fail, FoldBlock
// falls back to Fold one value after another from the start (the error
// path is not fast); secure ops always do. The values must stay alive and
// unchanged during the call; the same pointer may repeat.
absl::Status FoldBlock(AggregateOp op, Accumulator& acc,
                       absl::Span<const Value* const> xs,
                       absl::Span<const double> weights = {},
                       int64_t* failed_index = nullptr);

// Secure sum: checks that every element of x lies in [0, M] and adds it
// exactly (int64). Errors name the path and element:
//   "federated_secure_sum: value 12 at [0] element 3 is outside [0, 10]"
//   "federated_secure_sum: the sum at .a element 0 overflows int64"
// plus non-integer leaves and a bound that does not fit x's structure (see
// SecureBound). Pass the same SecureBound object to every fold: a different
// one costs a new match of the bound against the structure.
absl::Status FoldSecure(Accumulator& acc, const Value& x,
                        const SecureBound& bound);
// Secure sum with bit widths: every element of x in [0, 2^B)
//   ("federated_secure_sum_bitwidth: value 8 is outside [0, 8) (bit width
//   3)"), added exactly like FoldSecure; the sum is not reduced modulo 2^B
// and must fit the values' dtype at Finish.
absl::Status FoldBitwidth(Accumulator& acc, const Value& x,
                          const SecureBound& bits);
// Modular sum: every element of x in [0, M)
//   ("federated_secure_modular_sum: value 7 at element 1 is outside [0, 7)"),
// the sum kept modulo M. Every fold into one accumulator (and every partial
// merged into it) must use the same moduli.
absl::Status FoldModular(Accumulator& acc, const Value& x,
                         const SecureBound& modulus);
// The fold of bound.op() (FoldSecure, FoldBitwidth or FoldModular).
absl::Status FoldWithBound(Accumulator& acc, const Value& x,
                           const SecureBound& bound);
// The same with the bound as a Value (checked at every call: slower).
absl::Status FoldSecure(Accumulator& acc, const Value& x, const Value& bound);
absl::Status FoldBitwidth(Accumulator& acc, const Value& x, const Value& bits);
absl::Status FoldModular(Accumulator& acc, const Value& x,
                         const Value& modulus);

// left op= right, then right is empty. Either side may be empty: an empty
// right changes nothing; an empty left takes right's contents (no copy).
// Both must have been folded with `op` (else FAILED_PRECONDITION) and have
// the same structure (else INVALID_ARGUMENT naming the path, left's
// structure being the expected one). Secure and bit-width sums check int64
// overflow; modular sums need the same moduli on both sides.
absl::Status Merge(AggregateOp op, Accumulator& left, Accumulator&& right);

// The aggregate: the running leaves become the result's tensors (frozen,
// no copy; secure sums convert from int64 to the leaf dtype) and the
// structure is rebuilt with its names. acc is left empty (a failed one
// stays failed). Errors:
// FAILED_PRECONDITION for an empty or failed accumulator (a sum over zero
// clients is ZeroOf(the member type), built by the caller; a min or max of
// zero clients is the caller's to define); INVALID_ARGUMENT for a secure
// sum that does not fit its dtype ("federated_secure_sum: the sum
// 3000000000 at [1] element 2 does not fit int32").
absl::StatusOr<Value> Finish(Accumulator&& acc);

// The mean: the sum divided by count() (federated_mean, acc folded with
// kSum) or by total_weight() (federated_weighted_mean, kWeightedSum), each
// leaf through native::Divide by the divisor rounded to its dtype (so the
// float32 mean of seven 1.5s is exactly 1.5). Errors (INVALID_ARGUMENT): an
// empty accumulator ("federated_mean over zero clients has no result"), weights
// summing to 0 ("federated_weighted_mean: the weights sum to 0"), an
// integer leaf ("federated_mean: at .a: the mean of int32[3] is not
// defined: only floating-point and complex tensors have one");
// FAILED_PRECONDITION for a failed accumulator or the wrong op. acc is
// left empty, on success and on error (a failed one stays failed).
absl::StatusOr<Value> FinishMean(Accumulator&& acc, bool weighted);

// ------------------------------------------------ partials across processes
//
// A partial aggregate leaves its process (a worker's shard, see
// Executor::PartialAggregate) as a plain Value and comes back as an
// Accumulator that merges exactly as the original would have: the same
// bits, count() and total_weight(). The Value is the running result with
// its structure and names: for sum, min, max and weighted sum the leaves
// as they are (dtype of the values); for secure sums a struct
// <sums=S, dtypes=D> where S has the int64 running sums and D the same
// structure with an empty tensor (shape [0]) of each values' dtype per
// leaf.
struct ExportedPartial {
  AggregateOp op = AggregateOp::kSum;
  int64_t count = 0;
  double total_weight = 0;
  Value value;
};

// Hands acc's contents over (acc is left empty). FAILED_PRECONDITION for an
// empty or failed accumulator.
absl::StatusOr<ExportedPartial> ExportPartial(Accumulator&& acc);

// Rebuilds an accumulator from an exported partial (the tensors are copied
// once, into the accumulator's own buffers). Secure sums need the bound
// the values were folded with (`bound`, ignored otherwise). Errors
// (INVALID_ARGUMENT): a count below 1, a negative or non-finite weight, a
// value that does not have the form above for `op` (naming the path), a
// secure partial that does not fit its bound (a negative running sum, or a
// modular one not below its modulus).
absl::StatusOr<Accumulator> ImportPartial(AggregateOp op, int64_t count,
                                          double total_weight,
                                          const Value& value,
                                          const SecureBound* bound = nullptr);

// The zero of a type: numeric tensors of fully known shape filled with
// zeros, structs recursively (names kept). Errors name the path: an unknown
// dim or rank ("cannot build the zero of float32[?]: its shape is not fully
// known"), a bool or string tensor, any other kind of type (sequence,
// function, federated, ...).
absl::StatusOr<Value> ZeroOf(const ir::Type& type);

}  // namespace fedexec::exec

#endif  // FEDEXEC_EXECUTORS_AGGREGATORS_H_
