#!/usr/bin/env bash
# Fuzzes the request path (tests/fuzz/request_path_fuzz: libFuzzer + ASan + UBSan, clang):
# builds build-fuzz/ (RelWithDebInfo), replays every seed of tests/fuzz/corpus once, then
# fuzzes for [seconds] from a scratch copy of the seeds (the repository's corpus is never
# written). Exits non-zero on a crash, leak, sanitizer report or invariant violation, leaving
# the reproducer in build-fuzz/artifacts/.
#   scripts/fuzz.sh [seconds]      default 60
#   build-fuzz/tests/fuzz/request_path_fuzz build-fuzz/artifacts/crash-...   replay one input
#   (TETHER_FUZZ_DUMP=1 prints what went in and came out)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
[[ $seconds =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz.sh [seconds]" >&2; exit 2; }

build_dir=build-fuzz
args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTETHER_FUZZ=ON -DTETHER_TESTS=OFF -DTETHER_BENCH=OFF
  -DTETHER_WERROR=ON)
EXTRA_PACKAGES="clang libclang-rt-dev" BUILD_DIR=$build_dir CMAKE_ARGS="${args[*]}" \
  CC=clang CXX=clang++ scripts/setup.sh
cmake -S . -B "$build_dir" "${args[@]}" >/dev/null
cmake --build "$build_dir" --target request_path_fuzz -j"$(nproc)"
fuzzer=$build_dir/tests/fuzz/request_path_fuzz

artifacts=$build_dir/artifacts
mkdir -p "$artifacts"
work=$(mktemp -d "${TMPDIR:-/tmp}/tether-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
cp tests/fuzz/corpus/* "$work/corpus/"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Handlers of the fuzz routes throw on purpose; their one-line log would drown the report.
show() { grep -v '^tether: handler threw' "$1" | tail -n 120; }

seeds=(tests/fuzz/corpus/*)
if ! "$fuzzer" -artifact_prefix="$artifacts/" "${seeds[@]}" >"$work/replay.log" 2>&1; then
  show "$work/replay.log"
  echo "fuzz: a seed of tests/fuzz/corpus fails (see above)" >&2
  exit 1
fi
echo "fuzz: replayed ${#seeds[@]} seeds"

# -max_len covers a pipelined batch; -timeout flags an input that hangs the loop (one input
# takes about a millisecond); -rss_limit_mb keeps a runaway buffer from eating the machine.
if ! "$fuzzer" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -dict=tests/fuzz/http.dict -print_final_stats=1 -artifact_prefix="$artifacts/" \
  "$work/corpus" >"$work/fuzz.log" 2>&1; then
  show "$work/fuzz.log"
  echo "fuzz: FAILED; reproducer in $artifacts/ (replay: $fuzzer <file>)" >&2
  exit 1
fi
# The last status line holds the coverage reached: "#runs ... cov: edges ft: features ...".
grep -E '^#[0-9]+.* cov: ' "$work/fuzz.log" | tail -n 1 || true
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
  "$work/fuzz.log"
echo "fuzz: no failure in ${seconds}s"
