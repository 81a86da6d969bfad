# Python and nanobind for the extension module (FEDEXEC_PYTHON=ON).
#
# Python: Python_EXECUTABLE when given (scripts/setup.sh passes the .venv's,
# scikit-build-core its own), else the first python3 found. nanobind: the
# pinned PyPI package (scripts/requirements/fl.txt) of that interpreter,
# found through `python -m nanobind --cmake_dir` unless nanobind_DIR is set.
find_package(Python 3.11 REQUIRED
  COMPONENTS Interpreter Development.Module
  OPTIONAL_COMPONENTS Development.SABIModule)
if(NOT nanobind_DIR)
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -m nanobind --cmake_dir
    OUTPUT_VARIABLE fedexec_nanobind_dir
    OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE fedexec_nanobind_rc)
  if(NOT fedexec_nanobind_rc EQUAL 0)
    message(FATAL_ERROR
      "FEDEXEC_PYTHON: nanobind is not installed for ${Python_EXECUTABLE} "
      "(pip install -r scripts/requirements/fl.txt, or set nanobind_DIR)")
  endif()
  set(nanobind_DIR "${fedexec_nanobind_dir}")
endif()
find_package(nanobind CONFIG REQUIRED)
