// Limits that every reader of untrusted input enforces the same way.
#ifndef FEDEXEC_CORE_LIMITS_H_
#define FEDEXEC_CORE_LIMITS_H_

namespace fedexec {

// The deepest nesting of computations or of types that fedexec accepts.
// The text parser, the proto decoders (binary and text), the type checker
// and the type parser all reject deeper input with INVALID_ARGUMENT before
// recursing further, so no input can overflow the stack. Destructors of
// trees are iterative and safe at any depth.
inline constexpr int kMaxNestingDepth = 1000;

// Protobuf message nesting allowed while decoding: a computation level costs
// up to two message levels, and a type inside it its own levels; the logical
// limit above is then checked on the decoded tree.
inline constexpr int kMaxProtoRecursion = 8 * kMaxNestingDepth + 64;

// The largest number of elements in one tensor dimension or in one tensor.
inline constexpr long long kMaxTensorElements = 1LL << 40;

}  // namespace fedexec

#endif  // FEDEXEC_CORE_LIMITS_H_
