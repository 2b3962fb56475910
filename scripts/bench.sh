#!/usr/bin/env bash
# Macro benchmarks of tetherd, one table and one JSON file (bench/results/latest.json).
# Release build; tetherd pinned to CPU 0, the load generators to CPU 1; loopback only.
#   scripts/bench.sh [seconds per scenario=5]
# Scenarios: keep-alive /plaintext and /json (wrk, 64 connections), keep-alive /plaintext
# with --access-log to a file (and its ratio to the run without), pipelined /plaintext at
# depth 16, p99 of /plaintext alone and with 20% /sleep?ms=50 on the pool (latency_mix),
# mailbox handoffs with 10,000 parked waiters (mailbox_handoff), lateness of 10,000 mailbox
# waits answered at their deadline (deadline_lateness), resident memory per idle keep-alive
# connection over 10,000 connections (idle_connections); streaming (stream_bench): 1 GiB from
# /stream to one fast reader next to nginx sending the same bytes as a static file (sendfile
# on), the server's RSS growth while a reader takes 1 MiB/s of a 256 MiB stream (bound: 2x the
# write high-water mark + 1 MiB), a 1 GiB chunked upload to /upload (GB/s, RSS growth), and
# 10,000 subscribers of one topic (RSS per open stream; deliveries per second of 20 publishes).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
scripts/setup.sh
command -v wrk >/dev/null || {
  sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get install -y wrk >/dev/null 2>&1 || { $sudo apt-get update >/dev/null && $sudo apt-get install -y wrk >/dev/null; }
}
command -v nginx >/dev/null || {
  sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get install -y nginx-light >/dev/null 2>&1 || { $sudo apt-get update >/dev/null && $sudo apt-get install -y nginx-light >/dev/null; }
}
cmake --build build -j"$(nproc)" --target tetherd latency_mix mailbox_handoff deadline_lateness idle_connections stream_bench >/dev/null
ulimit -n "$(ulimit -Hn)"
mkdir -p bench/results
pipeline_lua=$(mktemp --suffix=.lua)
static_dir=$(mktemp -d)
chmod 755 "$static_dir"  # nginx workers (www-data when started as root) read the file
stop_nginx() { [[ -n ${ngx_pid:-} ]] && { kill "$ngx_pid" 2>/dev/null; wait "$ngx_pid" 2>/dev/null; ngx_pid=; }; return 0; }
trap 'rm -f "$pipeline_lua"; rm -rf "$static_dir"; stop_nginx; stop_tetherd' EXIT
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

# ---- streaming
gib=$((1 << 30))
start_tetherd
r[stream_1gib_gbps]=$(taskset -c 1 build/bench/stream_bench read "$port" "/stream?bytes=$gib&chunk=65536" | sed -E 's/.*gbps=([0-9.]+).*/\1/')
stop_tetherd
# nginx (one worker, sendfile on) sends the same bytes from a file.
python3 - "$static_dir/big" "$gib" <<'PY'
import sys
pat = bytes(ord('a') + i % 26 for i in range(26 * 65536))
left = int(sys.argv[2])
with open(sys.argv[1], 'wb') as f:
    while left:
        k = min(len(pat), left); f.write(pat[:k]); left -= k
PY
ngx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$static_dir/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $static_dir/nginx.pid;
error_log $static_dir/error.log;
events { worker_connections 1024; }
http { access_log off; sendfile on; server { listen 127.0.0.1:$ngx_port; root $static_dir; } }
NGX
taskset -c 0 nginx -c "$static_dir/nginx.conf" -p "$static_dir" >/dev/null 2>&1 &
ngx_pid=$!
for _ in $(seq 100); do curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$ngx_port/big" && break; sleep 0.05; done
r[nginx_static_1gib_gbps]=$(taskset -c 1 build/bench/stream_bench read "$ngx_port" /big | sed -E 's/.*gbps=([0-9.]+).*/\1/')
stop_nginx
rm -f "$static_dir/big"
r[stream_vs_nginx]=$(awk -v a="${r[stream_1gib_gbps]}" -v b="${r[nginx_static_1gib_gbps]}" 'BEGIN{printf "%.3f", a/b}')

start_tetherd
slow=$(taskset -c 1 build/bench/stream_bench slow "$port" "/stream?bytes=$((256 << 20))&chunk=65536" "$pid" 1048576 "$secs" | grep '^RESULT')
stop_tetherd
r[slow_reader_rss_growth_kib]=$(sed -E 's/.*rss_growth_kib=([0-9-]+).*/\1/' <<<"$slow")
r[slow_reader_bound_kib]=$(( (2 * 256 * 1024 + 1024 * 1024) / 1024 ))

start_tetherd
up=$(taskset -c 1 build/bench/stream_bench upload "$port" "$pid" "$gib" | grep '^RESULT')
stop_tetherd
r[upload_1gib_gbps]=$(sed -E 's/.*gbps=([0-9.]+).*/\1/' <<<"$up")
r[upload_rss_growth_kib]=$(sed -E 's/.* rss_growth_kib=([0-9-]+).*/\1/' <<<"$up")

start_tetherd
sse=$(taskset -c 1 build/bench/stream_bench sse "$port" "$pid" 10000 20 | grep '^RESULT')
stop_tetherd
r[sse_bytes_per_stream]=$(sed -E 's/.*bytes_per_stream=([0-9.]+).*/\1/' <<<"$sse")
r[sse_deliveries_per_sec]=$(sed -E 's/.*deliveries_per_sec=([0-9.]+).*/\1/' <<<"$sse")

keys="keepalive_rps keepalive_access_log_rps access_log_ratio pipelined16_rps json_rps fast_p99_alone_ms fast_p99_mixed_ms
      mailbox_handoffs_per_sec mailbox_lost deadline_p99_late_ms deadline_max_late_ms
      deadline_server_p99_late_ms_le deadline_errors idle_bytes_per_connection
      stream_1gib_gbps nginx_static_1gib_gbps stream_vs_nginx slow_reader_rss_growth_kib slow_reader_bound_kib
      upload_1gib_gbps upload_rss_growth_kib sse_bytes_per_stream sse_deliveries_per_sec"
printf '%-36s %14s\n' metric value
for k in $keys; do
  printf '%-36s %14s\n' "$k" "${r[$k]}"
done
{
  echo "{"
  echo "  \"date\": \"$(date -u +%FT%TZ)\", \"commit\": \"$(git rev-parse --short HEAD 2>/dev/null || echo none)\", \"seconds\": $secs,"
  first=1
  for k in $keys; do
    [[ $first == 1 ]] || echo ","
    printf '  "%s": %s' "$k" "${r[$k]:-null}"
    first=0
  done
  echo; echo "}"
} >bench/results/latest.json
echo "wrote bench/results/latest.json"
