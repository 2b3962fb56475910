#!/usr/bin/env bash
# Issue acceptance: p99 of fast /plaintext requests alone, and while 20% of requests are
# /sleep?ms=50 on the worker pool, in one run. tetherd on CPU 0, the load generator on CPU 1.
#   bench/offload_latency.sh [seconds=5] [connections=64] [workers=32]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5} conns=${2:-64} workers=${3:-32}
scripts/setup.sh
cmake --build build -j"$(nproc)" --target tetherd latency_mix >/dev/null
. bench/tetherd_lib.sh
trap stop_tetherd EXIT
start_tetherd --workers "$workers" --queue 4096
echo "tetherd --workers $workers on CPU 0; latency_mix $conns connections x ${secs}s per phase on CPU 1"
taskset -c 1 build/bench/latency_mix "$port" "$conns" "$secs" 20 "/sleep?ms=50" /plaintext
