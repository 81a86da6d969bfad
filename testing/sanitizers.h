// Whether this build runs under a sanitizer (ASan, TSan): tests that are
// slow there do less work, or skip what sanitizers cannot judge (resident
// memory sizes). Tests only.
#ifndef FEDEXEC_TESTING_SANITIZERS_H_
#define FEDEXEC_TESTING_SANITIZERS_H_

namespace fedexec::test_util {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

}  // namespace fedexec::test_util

#endif  // FEDEXEC_TESTING_SANITIZERS_H_
