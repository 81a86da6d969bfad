# Compiler launcher and linker: ccache and mold (or lld) when present, so that
# rebuilds and the sanitizer and fuzz builds stay cheap on small machines.
find_program(FEDEXEC_CCACHE ccache)
if(FEDEXEC_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${FEDEXEC_CCACHE})
endif()

find_program(FEDEXEC_MOLD mold)
find_program(FEDEXEC_LLD ld.lld)
if(FEDEXEC_MOLD)
  add_link_options(-fuse-ld=mold)
elseif(FEDEXEC_LLD)
  add_link_options(-fuse-ld=lld)
endif()

add_compile_options(-Wall -Wextra -Wno-unused-parameter -Wno-sign-compare)

# Debug info: functions and line tables (-g1) are what backtraces, profilers
# and sanitizer reports use, and they compile about a third faster than
# full -g (which also describes local variables, for a debugger):
# -DFEDEXEC_FULL_DEBUG_INFO=ON for that.
option(FEDEXEC_FULL_DEBUG_INFO "Full debug info (-g) instead of -g1" OFF)
if(NOT FEDEXEC_FULL_DEBUG_INFO)
  set(CMAKE_CXX_FLAGS_RELWITHDEBINFO "-O2 -g1 -DNDEBUG")
  set(CMAKE_CXX_FLAGS_DEBUG "-g1")
endif()

if(FEDEXEC_SANITIZE)
  add_compile_options(-fsanitize=${FEDEXEC_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=${FEDEXEC_SANITIZE})
endif()

if(FEDEXEC_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "FEDEXEC_FUZZ needs clang (CXX=clang++)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# Clang's thread-safety analysis (core/mutex.h): fields marked
# FEDEXEC_GUARDED_BY and functions marked FEDEXEC_REQUIRES are checked at
# compile time, and a violation is an error. On by default with clang (the
# project's clang build, build-fuzz, compiles every library with it); GCC
# has no such analysis.
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  option(FEDEXEC_THREAD_SAFETY_ANALYSIS
    "Check the lock annotations (clang -Wthread-safety, as errors)" ON)
else()
  option(FEDEXEC_THREAD_SAFETY_ANALYSIS
    "Check the lock annotations (clang -Wthread-safety, as errors)" OFF)
endif()
if(FEDEXEC_THREAD_SAFETY_ANALYSIS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "FEDEXEC_THREAD_SAFETY_ANALYSIS needs clang (CXX=clang++)")
  endif()
  add_compile_options(-Wthread-safety -Werror=thread-safety)
endif()
