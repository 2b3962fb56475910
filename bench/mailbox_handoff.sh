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
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 0 build/tetherd --port "$port" --mailbox-max-waiters-per-id 4 >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.05
done
echo "tetherd on CPU 0; $waiters waiters, $posters posting connections x depth $depth on CPU 1"
taskset -c 1 build/bench/mailbox_handoff "$port" "$waiters" "$posters" "$depth"
