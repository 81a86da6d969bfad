#!/usr/bin/env bash
# fedexec's one set-up script: installs the Debian 12 packages the build
# needs (skipping what is installed), configures and builds.
#
#   scripts/setup.sh          install, configure and build the fedexec
#                             program (build/fedexec) and nothing else
#   scripts/setup.sh test     install, configure and build everything in
#                             build/ (tests, benchmarks, the Python
#                             extension), then the whole test suite: unit
#                             tests (with the layering check), the
#                             interoperability suites against the real
#                             federated_language and TensorFlow Federated
#                             packages, the Python package's tests, the unit
#                             tests under ASan+UBSan, the concurrency tests
#                             under TSan, bounded runs of the libFuzzer
#                             targets, and the format check
#                             (scripts/check_format.sh)
#   scripts/setup.sh deps     only install the packages
#   scripts/setup.sh venvs    only make the Python virtual environments
#
# Environment: FEDEXEC_JOBS (parallel jobs, default: all cores),
# FEDEXEC_FUZZ_SECONDS (per fuzz target in `test`, default 20),
# FEDEXEC_VENVS (where the virtual environments live, default
# ~/.cache/fedexec/venvs).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-build}
jobs=${FEDEXEC_JOBS:-$(nproc)}

packages=(
  build-essential cmake ninja-build pkg-config git ccache mold
  clang lld libclang-rt-14-dev
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libabsl-dev libeigen3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libgoogle-glog-dev zlib1g-dev
  libgoogle-perftools-dev  # tcmalloc for the fedexec program and benchmarks
  dataset-fashion-mnist
  openssl  # the TLS tests make their certificates with it
)
# Only for the test suite: the Python interpreter the interop suites' virtual
# environments are made from (Debian's 3.11, on purpose: not whatever
# python3 comes first on PATH).
test_packages=(python3 python3-venv python3-dev
  clang-format)  # scripts/check_format.sh

install_packages() {
  local missing=()
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return
  fi
  echo "setup: installing ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
      sudo=(sudo)
    else
      echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# configure DIR [-DNAME=VALUE...]: configures DIR with these options, and
# configures it again on a later run when one of them differs from DIR's
# cache (so an option added to this script reaches existing folders too).
# Pass every option a build folder depends on, explicitly.
configure() {
  local dir=$1
  shift
  local cache="$root/$dir/CMakeCache.txt"
  local stale=""
  if [ ! -f "$root/$dir/build.ninja" ] || [ ! -f "$cache" ]; then
    stale="not configured"
  else
    local arg kv name value current
    for arg in "$@"; do
      case $arg in
        -D*=*)
          kv=${arg#-D}
          name=${kv%%=*}
          name=${name%%:*}
          value=${kv#*=}
          current=$(grep -m1 -E "^${name}(:[A-Za-z]+)?=" "$cache" |
            cut -d= -f2- || true)
          if [ "$current" != "$value" ]; then
            stale="$name is '$current', wanted '$value'"
            break
          fi
          ;;
      esac
    done
  fi
  if [ -n "$stale" ]; then
    echo "setup: configuring $dir ($stale)"
    cmake -S "$root" -B "$root/$dir" -G Ninja "$@"
  fi
}

# build DIR [TARGET...]: builds everything, or the given targets.
build() {
  local dir=$1
  shift
  local targets=()
  [ $# -gt 0 ] && targets=(--target "$@")
  cmake --build "$root/$dir" -j "$jobs" "${targets[@]}"
}

run_tests() {
  local dir=$1
  ctest --test-dir "$root/$dir" -j "$jobs" --output-on-failure
}

# make_venv NAME: the virtual environment of scripts/requirements/NAME.txt
# (exact pins, the whole environment, so installed without resolving). It
# lives outside the checkout, keyed by the pins and the interpreter, so that
# every clone on this machine shares one (TensorFlow's is 2.5 GB); the link
# .venv (fl) or .venv-NAME in the checkout points at it.
make_venv() {
  local name=$1
  local python=/usr/bin/python3.11
  local pins="$root/scripts/requirements/$name.txt"
  local key
  key=$( (cat "$pins"; "$python" --version) | sha256sum | cut -c1-16)
  local base=${FEDEXEC_VENVS:-$HOME/.cache/fedexec/venvs}
  local dir="$base/$name-$key"
  if [ ! -f "$dir/.complete" ]; then
    echo "setup: making the Python environment $name in $dir"
    rm -rf "$dir"
    mkdir -p "$base"
    "$python" -m venv "$dir"
    # One pip cache for every environment and clone.
    PIP_CACHE_DIR=${PIP_CACHE_DIR:-$HOME/.cache/fedexec/pip} \
      "$dir/bin/python" -m pip install -q --no-deps -r "$pins"
    # Every requirement holds, but TFF's own jaxlib pin (see tff.txt).
    local broken
    broken=$("$dir/bin/python" -m pip check 2>&1 |
      grep -v -e '^No broken requirements' \
        -e '^tensorflow-federated 0.87.0 has requirement jaxlib==0.4.14' || true)
    if [ -n "$broken" ]; then
      echo "setup: $pins does not hold together:" >&2
      echo "$broken" >&2
      exit 1
    fi
    touch "$dir/.complete"
  fi
  local link="$root/.venv"
  [ "$name" = fl ] || link="$root/.venv-$name"
  if [ "$(readlink "$link" 2>/dev/null)" != "$dir" ]; then
    rm -rf "$link"
    ln -s "$dir" "$link"
  fi
}

make_venvs() {
  make_venv fl
  make_venv tff
  # The TFF smoke test: TFF's own context runs a computation. That context
  # starts worker_binary processes that outlive Python: run it in a session
  # of its own and stop the whole session afterwards.
  local log rc=0
  log=$(mktemp)
  setsid "$root/.venv-tff/bin/python" -c "
import tensorflow_federated as tff
result = tff.federated_computation(lambda: 'Hello World')()
assert result in ('Hello World', b'Hello World'), result
" >"$log" 2>&1 &
  local pid=$!
  wait "$pid" || rc=$?
  kill -- -"$pid" 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    echo "setup: TensorFlow Federated does not run:" >&2
    tail -n 20 "$log" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
}

# run_interop: the interoperability suites, each from its environment,
# against build/fedexec.
run_interop() {
  export FEDEXEC_BIN="$root/build/fedexec"
  (cd "$root/interop" && "$root/.venv/bin/python" -m pytest -q fl)
  (cd "$root/interop" && "$root/.venv-tff/bin/python" -m pytest -q tff)
  unset FEDEXEC_BIN
}

# run_python: the Python package's tests (python/tests) against the build
# tree's package (build/python). pytest's exit code 5 (no tests collected)
# is a failure too.
run_python() {
  local rc=0
  (cd "$root/python/tests" &&
    PYTHONPATH="$root/build/python" FEDEXEC_BIN="$root/build/fedexec" \
      "$root/.venv/bin/python" -m pytest -q -p no:cacheprovider .) || rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "setup: pytest found no Python tests in python/tests" >&2
    exit 1
  fi
  [ "$rc" -eq 0 ] || exit "$rc"
}

install_packages "${packages[@]}"
[ "$mode" = deps ] && exit 0
if [ "$mode" = test ] || [ "$mode" = venvs ]; then
  install_packages "${test_packages[@]}"
  make_venvs
  [ "$mode" = venvs ] && exit 0
fi

# One compiler cache for the normal, sanitizer and fuzz builds.
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/fedexec-ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
# Paths relative to the checkout, so that clones in other folders hit too.
export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=true

build_options=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DFEDEXEC_SANITIZE=
  -DFEDEXEC_FUZZ=OFF)
if [ "$mode" = test ]; then
  # The test build has the tests, the benchmarks and the Python extension
  # (python/), built with the .venv's interpreter and its pinned nanobind.
  build_options+=(-DFEDEXEC_TESTS=ON -DFEDEXEC_BENCH=ON -DFEDEXEC_PYTHON=ON
    -DPython_EXECUTABLE="$root/.venv/bin/python"
    -Dnanobind_DIR="$("$root/.venv/bin/python" -m nanobind --cmake_dir)")
fi
configure build "${build_options[@]}"
if [ "$mode" = test ]; then
  build build
else
  # The main job needs the program only; `test` builds the rest.
  build build fedexec
fi

case "$mode" in
  build) ;;
  test)
    echo "== unit tests"
    run_tests build
    echo "== interoperability: federated_language and TensorFlow Federated"
    run_interop
    echo "== Python package (python/tests)"
    run_python
    echo "== unit tests under ASan + UBSan"
    configure build-asan -DCMAKE_BUILD_TYPE=Debug \
      -DFEDEXEC_SANITIZE=address,undefined -DFEDEXEC_TESTS=ON \
      -DFEDEXEC_FUZZ=OFF -DFEDEXEC_PYTHON=OFF
    build build-asan
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
      run_tests build-asan
    echo "== concurrency tests under TSan"
    # The code that shares state between threads, built with ThreadSanitizer.
    # It synchronises with std:: primitives, which TSan sees (Debian's Abseil
    # is not instrumented).
    configure build-tsan -DCMAKE_BUILD_TYPE=Debug -DFEDEXEC_SANITIZE=thread \
      -DFEDEXEC_TESTS=ON -DFEDEXEC_FUZZ=OFF -DFEDEXEC_PYTHON=OFF
    build build-tsan core_tests executors_tests stacks_tests demo_tests
    export TSAN_OPTIONS=halt_on_error=1
    "$root/build-tsan/core/core_tests" \
      --gtest_filter='*ThreadPool*:*ParallelFor*:*Cancellation*:*TreeReduce*'
    # Every executor and stack test: they all share state between threads.
    # Not those that run real gRPC (remote_stack_tests, service/): Debian's
    # gRPC and Abseil are not instrumented, and TSan, blind to their
    # synchronization, reports races inside them and in the gRPC header code
    # they call back. Those run in the other builds.
    "$root/build-tsan/executors/executors_tests"
    "$root/build-tsan/stacks/stacks_tests"

    # The FedAvg driver: rounds on the runtime's pool, 1 and 2 threads,
    # cancellation from another thread (the direct-loop comparison, slow
    # under TSan, runs in the other builds).
    "$root/build-tsan/demo/demo_tests" \
      --gtest_filter='FedAvgRunTest.*:-*DirectLoop*:*DifferentSeeds*'
    unset TSAN_OPTIONS
    echo "== fuzz targets (${FEDEXEC_FUZZ_SECONDS:-20} s each)"
    configure build-fuzz -DCMAKE_CXX_COMPILER="$(command -v clang++)" \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFEDEXEC_TESTS=OFF -DFEDEXEC_FUZZ=ON \
      -DFEDEXEC_SANITIZE= -DFEDEXEC_PYTHON=OFF \
      -DFEDEXEC_THREAD_SAFETY_ANALYSIS=ON \
      -DFEDEXEC_FUZZ_SECONDS="${FEDEXEC_FUZZ_SECONDS:-20}"
    # The one clang compile: the fuzz targets, and every library with
    # clang's lock checks (-Wthread-safety as errors).
    build build-fuzz fedexec_fuzzers fedexec_core fedexec_ir fedexec_native \
      fedexec_data fedexec_net fedexec_executors fedexec_service \
      fedexec_stacks fedexec_demo fedexec_cli
    run_tests build-fuzz
    echo "== format (scripts/check_format.sh)"
    bash "$root/scripts/check_format.sh"
    ;;
  *)
    echo "setup: unknown mode '$mode' (build, test or deps)" >&2
    exit 2
    ;;
esac
