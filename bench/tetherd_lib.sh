# Sourced by the benchmark scripts: start and stop a tetherd pinned to CPU 0 on a free
# loopback port. After start_tetherd, $port and $pid name it; stop_tetherd ends it.

start_tetherd() {  # extra tetherd flags...
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  taskset -c 0 build/tetherd --port "$port" "$@" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0
    sleep 0.05
  done
  echo "bench: tetherd did not answer on port $port" >&2
  return 1
}

stop_tetherd() {
  [[ -n ${pid:-} ]] || return 0
  kill "$pid" 2>/dev/null || true
  kill -CONT "$pid" 2>/dev/null || true  # a tetherd stopped by a benchmark takes the TERM now
  wait "$pid" 2>/dev/null || true
  pid=
}
