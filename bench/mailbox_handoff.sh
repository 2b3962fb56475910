#!/usr/bin/env bash
# Mailbox handoffs per second with 10,000 parked long-poll waiters, nothing lost.
# tetherd on CPU 0, the client on CPU 1.
#   bench/mailbox_handoff.sh [waiters=10000] [post_connections=8] [depth=16]
set -euo pipefail
cd "$(dirname "$0")/.."
waiters=${1:-10000} posters=${2:-8} depth=${3:-16}
scripts/setup.sh
cmake --build build -j"$(nproc)" --target tetherd mailbox_handoff >/dev/null
ulimit -n "$(ulimit -Hn)"
. bench/tetherd_lib.sh
trap stop_tetherd EXIT
start_tetherd --mailbox-max-waiters-per-id 4
echo "tetherd on CPU 0; $waiters waiters, $posters posting connections x depth $depth on CPU 1"
taskset -c 1 build/bench/mailbox_handoff "$port" "$waiters" "$posters" "$depth"
