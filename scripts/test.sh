#!/usr/bin/env bash
# Set up if needed, build everything, and run every test with ctest.
#   scripts/test.sh                 Release build in build/
#   SANITIZE=address scripts/test.sh   ASan+UBSan build in build-asan/
#   SANITIZE=thread scripts/test.sh    TSan build in build-tsan/
#   TESTS='Offload|Storm' scripts/test.sh   only the ctest tests matching the regex
#   TARGETS='tether_e2e_tests' scripts/test.sh   build only these targets (with TESTS)
# CI=true adds -Werror and leaves LTO out.
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
# CI builds without LTO: every test program re-optimizes the whole library at link time
# (30 s of linking for one of them), and CI's clean clone measures no speed. Local builds
# keep LTO, which scripts/bench.sh measures with.
[[ ${CI:-} == true ]] && args+=(-DTETHER_WERROR=ON -DTETHER_LTO=OFF)
build_dir=build
if [[ -n ${SANITIZE:-} ]]; then
  build_dir=build-${SANITIZE/address/asan}
  build_dir=${build_dir/thread/tsan}
  # The benchmarks and examples are not tests: the Release build compiles them, a sanitizer
  # build skips them (and keeps line tables only: CMakeLists.txt).
  args+=(-DTETHER_SANITIZE="$SANITIZE" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTETHER_BENCH=OFF
    -DTETHER_EXAMPLES=OFF)
fi
BUILD_DIR=$build_dir CMAKE_ARGS="${args[*]:-}" scripts/setup.sh
cmake -S . -B "$build_dir" "${args[@]}" >/dev/null
targets=()
for t in ${TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build_dir" -j"$(nproc)" "${targets[@]}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
filter=()
[[ -n ${TESTS:-} ]] && filter=(-R "$TESTS")
ctest --test-dir "$build_dir" --output-on-failure -j"$(nproc)" --timeout 300 "${filter[@]}"
