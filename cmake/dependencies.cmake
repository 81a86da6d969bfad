# Every dependency comes from Debian 12's packages (scripts/setup.sh installs
# them).
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(glog CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(GRPCPP REQUIRED IMPORTED_TARGET grpc++)
find_program(FEDEXEC_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
if(FEDEXEC_TESTS)
  find_package(GTest CONFIG REQUIRED)
  include(GoogleTest)
endif()
