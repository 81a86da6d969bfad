# Every dependency comes from Debian 12's packages (scripts/setup.sh installs
# them).
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(glog CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(Eigen3 3.4 CONFIG REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(GRPCPP REQUIRED IMPORTED_TARGET grpc++)
find_program(FEDEXEC_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
# Optional: tcmalloc for the programs (see fedexec_link_allocator).
if(FEDEXEC_TCMALLOC AND NOT FEDEXEC_SANITIZE AND NOT FEDEXEC_FUZZ)
  pkg_check_modules(TCMALLOC IMPORTED_TARGET libtcmalloc_minimal)
  if(NOT TCMALLOC_FOUND)
    message(STATUS "tcmalloc not found (libgoogle-perftools-dev): the "
                   "programs use the C library's allocator")
  endif()
endif()
if(FEDEXEC_TESTS)
  find_package(GTest CONFIG REQUIRED)
  include(GoogleTest)
endif()
