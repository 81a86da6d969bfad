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
