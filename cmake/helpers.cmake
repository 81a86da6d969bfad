# fedexec_test(NAME SOURCES a.cc b.cc DEPS lib ...): one gtest binary per
# folder, registered with ctest test by test.
function(fedexec_test name)
  if(NOT FEDEXEC_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "" "" "SOURCES;DEPS" ${ARGN})
  if(NOT T_SOURCES)
    return()
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    PROPERTIES ENVIRONMENT "FEDEXEC_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
    DISCOVERY_TIMEOUT 60)
endfunction()

# fedexec_link_allocator(TARGET): the program allocates through tcmalloc when
# it was found (cmake/dependencies.cmake). Values, messages and chunks come
# and go every round from many threads; with the C library's allocator a
# coordinator of workers spent about a fifth of its CPU in malloc and free,
# and every large value freed went back to the kernel only to be faulted in
# again for the next (README, Performance). The library is linked even though nothing
# names its symbols, so that it replaces malloc for the whole process.
function(fedexec_link_allocator target)
  if(TARGET PkgConfig::TCMALLOC)
    target_link_libraries(${target} PRIVATE PkgConfig::TCMALLOC)
    target_link_options(${target} PRIVATE "LINKER:--no-as-needed")
  endif()
endfunction()
