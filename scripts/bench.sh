#!/usr/bin/env bash
# Macro benchmarks of tetherd, one table and one JSON file (bench/results/latest.json).
# Release build; tetherd pinned to CPU 0, the load generators to CPU 1; loopback only.
#   scripts/bench.sh [seconds per scenario=5]
# Scenarios: keep-alive /plaintext and /json (wrk, 64 connections), keep-alive /plaintext
# with --access-log to a file (and its ratio to the run without), pipelined /plaintext at
# depth 16, p99 of /plaintext alone and with 20% /sleep?ms=50 on the pool (latency_mix),
# mailbox handoffs with 10,000 parked waiters (mailbox_handoff), lateness of 10,000 mailbox
# waits answered at their deadline (deadline_lateness), resident memory per idle keep-alive
# connection over 10,000 connections (idle_connections).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
scripts/setup.sh
command -v wrk >/dev/null || {
  sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get install -y wrk >/dev/null 2>&1 || { $sudo apt-get update >/dev/null && $sudo apt-get install -y wrk >/dev/null; }
}
cmake --build build -j"$(nproc)" --target tetherd latency_mix mailbox_handoff deadline_lateness idle_connections >/dev/null
ulimit -n "$(ulimit -Hn)"
mkdir -p bench/results
pipeline_lua=$(mktemp --suffix=.lua)
trap 'rm -f "$pipeline_lua"; stop_tetherd' EXIT
cat >"$pipeline_lua" <<'LUA'
init = function(args)
  local r = {}
  for i = 1, tonumber(args[1]) do r[i] = wrk.format(nil, nil) end
  req = table.concat(r)
end
request = function() return req end
LUA

. bench/tetherd_lib.sh
wrk_rps() {  # path [pipeline depth]
  local url="http://127.0.0.1:$port$1" args=()
  [[ -n ${2:-} ]] && args=(-s "$pipeline_lua" "$url" -- "$2") || args=("$url")
  taskset -c 1 wrk -t1 -c64 -d"${secs}s" --latency "${args[@]}" | awk '/^Requests\/sec/{print $2}'
}

declare -A r
start_tetherd
r[keepalive_rps]=$(wrk_rps /plaintext)
r[pipelined16_rps]=$(wrk_rps /plaintext 16)
r[json_rps]=$(wrk_rps /json)
stop_tetherd

# The same keep-alive run with --access-log to a file: the ratio must stay >= 0.9.
access_log=$(mktemp --suffix=.log)
start_tetherd --access-log "$access_log"
r[keepalive_access_log_rps]=$(wrk_rps /plaintext)
stop_tetherd
rm -f "$access_log"
r[access_log_ratio]=$(awk -v a="${r[keepalive_access_log_rps]}" -v b="${r[keepalive_rps]}" 'BEGIN{printf "%.3f", a/b}')

start_tetherd --workers 64 --queue 4096
mix=$(taskset -c 1 build/bench/latency_mix "$port" 64 "$secs" 20 "/sleep?ms=50" /plaintext | grep '^RESULT')
stop_tetherd
r[fast_p99_alone_ms]=$(sed -E 's/.*fast_p99_alone_ms=([0-9.]+).*/\1/' <<<"$mix")
r[fast_p99_mixed_ms]=$(sed -E 's/.*fast_p99_mixed_ms=([0-9.]+).*/\1/' <<<"$mix")

start_tetherd --mailbox-max-waiters-per-id 4
hand=$(taskset -c 1 build/bench/mailbox_handoff "$port" 10000 8 16 | grep '^RESULT')
stop_tetherd
r[mailbox_handoffs_per_sec]=$(sed -E 's/.*per_sec=([0-9.]+).*/\1/' <<<"$hand")
r[mailbox_lost]=$(sed -E 's/.*lost=([0-9-]+).*/\1/' <<<"$hand")

start_tetherd
late=$(taskset -c 1 build/bench/deadline_lateness "$port" 10000 10 1000 | grep '^RESULT')
stop_tetherd
r[deadline_p99_late_ms]=$(sed -E 's/.* p99_late_ms=([0-9.-]+).*/\1/' <<<"$late")
r[deadline_server_p99_late_ms_le]=$(sed -E 's/.*server_p99_late_ms_le=([0-9.inf-]+).*/\1/' <<<"$late")
r[deadline_max_late_ms]=$(sed -E 's/.*max_late_ms=([0-9.-]+).*/\1/' <<<"$late")
r[deadline_errors]=$(sed -E 's/.* errors=([0-9]+).*/\1/' <<<"$late")

start_tetherd
idle=$(taskset -c 1 build/bench/idle_connections "$port" "$pid" 10000 | grep '^RESULT')
stop_tetherd
r[idle_bytes_per_connection]=$(sed -E 's/.*connection=([0-9.]+).*/\1/' <<<"$idle")

printf '%-36s %14s\n' metric value
for k in keepalive_rps keepalive_access_log_rps access_log_ratio pipelined16_rps json_rps fast_p99_alone_ms fast_p99_mixed_ms \
         mailbox_handoffs_per_sec mailbox_lost deadline_p99_late_ms deadline_max_late_ms \
         deadline_server_p99_late_ms_le deadline_errors idle_bytes_per_connection; do
  printf '%-36s %14s\n' "$k" "${r[$k]}"
done
{
  echo "{"
  echo "  \"date\": \"$(date -u +%FT%TZ)\", \"commit\": \"$(git rev-parse --short HEAD 2>/dev/null || echo none)\", \"seconds\": $secs,"
  first=1
  for k in keepalive_rps keepalive_access_log_rps access_log_ratio pipelined16_rps json_rps fast_p99_alone_ms fast_p99_mixed_ms \
           mailbox_handoffs_per_sec mailbox_lost deadline_p99_late_ms deadline_max_late_ms \
           deadline_server_p99_late_ms_le deadline_errors idle_bytes_per_connection; do
    [[ $first == 1 ]] || echo ","
    printf '  "%s": %s' "$k" "${r[$k]:-null}"
    first=0
  done
  echo; echo "}"
} >bench/results/latest.json
echo "wrote bench/results/latest.json"
