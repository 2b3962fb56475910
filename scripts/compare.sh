#!/usr/bin/env bash
# tetherd side by side with other servers answering the same GET /plaintext ("Hello, World!"):
# nginx (nginx-light, `return 200`), h2o (a static file), Go net/http (bench/peers/go-hello)
# and Node.js (bench/peers/node-hello.js). Each server runs alone, pinned to CPU 0 with one
# worker process or thread; tether-load drives it from CPU 1 over loopback, keep-alive
# (-t1 -c64) and pipelined (--pipeline 16), each run saved with --json.
#   scripts/compare.sh [-d seconds=5] [-c connections=64] [-p "tetherd nginx h2o go node"]
#                      [-o out dir=bench/results/compare]
# Prints a table (server, scenario, req/s, p50, p99, errors, req/s as a ratio of nginx's in the
# same scenario), saves it as OUT/compare.txt, each run as OUT/SERVER-SCENARIO.json (and its
# text summary as .txt), and draws the keep-alive runs over each other in OUT/compare.svg
# (tether-load plot). A missing server is installed from Debian when running as root, and
# skipped with a message otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=5 conns=64 peers="tetherd nginx h2o go node" out=bench/results/compare
usage() { sed -n '7,8s/^#//p' "$0" >&2; exit "${1:-2}"; }
while getopts d:c:p:o:h opt; do
  case $opt in
    d) secs=$OPTARG ;;
    c) conns=$OPTARG ;;
    p) peers=${OPTARG//,/ } ;;
    o) out=$OPTARG ;;
    h) usage 0 ;;
    *) usage ;;
  esac
done
((OPTIND > $#)) || usage
[[ $secs =~ ^[0-9]+$ && $conns =~ ^[0-9]+$ ]] || { echo "compare: -d and -c take whole numbers" >&2; exit 2; }
for p in $peers; do
  [[ $p =~ ^(tetherd|nginx|h2o|go|node)$ ]] || { echo "compare: unknown server '$p' (tetherd nginx h2o go node)" >&2; exit 2; }
done

scripts/setup.sh
cmake --build build -j"$(nproc)" --target tetherd tether-load >/dev/null
. bench/load_lib.sh
ulimit -n "$(ulimit -Hn)"
mkdir -p "$out"
work=$(mktemp -d)
chmod 755 "$work"  # nginx and h2o workers (nobody / www-data when started as root) read it
stop_peer() {
  [[ -n ${peer_pid:-} ]] || return 0
  kill "$peer_pid" 2>/dev/null || true
  wait "$peer_pid" 2>/dev/null || true
  peer_pid=
}
trap 'stop_peer; rm -rf "$work"' EXIT

hello='Hello, World!'
declare -A package=([nginx]=nginx-light [h2o]=h2o [go]=golang-go [node]=nodejs)
declare -A program=([nginx]=nginx [h2o]=h2o [go]=go [node]=node)

# True when the server can run: built here, installed, or installed now (root only).
available() {  # server
  local s=$1
  [[ $s == tetherd ]] && return 0
  command -v "${program[$s]}" >/dev/null && return 0
  if [[ $(id -u) != 0 ]]; then
    echo "compare: skipping $s: ${program[$s]} is not installed (apt-get install ${package[$s]} as root)" >&2
    return 1
  fi
  echo "compare: installing ${package[$s]}" >&2
  ensure_packages "${package[$s]}" && command -v "${program[$s]}" >/dev/null && return 0
  echo "compare: skipping $s: apt-get could not install ${package[$s]}" >&2
  return 1
}

# The server's files (config, document root, binary) in $work/$1, made before it starts.
prepare() {  # server port
  local s=$1 port=$2 dir=$work/$1
  mkdir -p "$dir"
  chmod 755 "$dir"
  case $s in
    nginx)
      cat >"$dir/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000000;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$port;
    location = /plaintext { default_type text/plain; return 200 "$hello"; }
  }
}
NGX
      ;;
    h2o)
      mkdir -p "$dir/www"
      printf '%s' "$hello" >"$dir/www/plaintext"
      chmod -R a+rX "$dir/www"
      {
        # h2o refuses to run as root without a user to drop to.
        [[ $(id -u) == 0 ]] && echo "user: nobody"
        cat <<H2O
num-threads: 1
error-log: $dir/error.log
listen:
  host: 127.0.0.1
  port: $port
hosts:
  default:
    paths:
      /:
        file.dir: $dir/www
        file.mime.setdefaulttype: text/plain
H2O
      } >"$dir/h2o.conf"
      ;;
    go)
      # Offline: the standard library only, nothing fetched.
      (cd bench/peers/go-hello &&
        GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local GOCACHE="$dir/cache" \
          go build -o "$dir/go-hello" .) || return 1
      ;;
  esac
}

# Starts the server on CPU 0 ($peer_pid) and waits until it answers /plaintext.
start_peer() {  # server port
  local s=$1 port=$2 dir=$work/$1
  local log=$dir/output.log
  case $s in
    tetherd) taskset -c 0 build/tetherd --port "$port" --loops 1 --workers 1 >"$log" 2>&1 & ;;
    nginx) taskset -c 0 nginx -c "$dir/nginx.conf" -p "$dir" -e "$dir/error.log" >"$log" 2>&1 & ;;
    h2o) taskset -c 0 h2o -c "$dir/h2o.conf" >"$log" 2>&1 & ;;
    go) GOMAXPROCS=1 taskset -c 0 "$dir/go-hello" "$port" >"$log" 2>&1 & ;;
    node) taskset -c 0 node bench/peers/node-hello.js "$port" >"$log" 2>&1 & ;;
  esac
  peer_pid=$!
  for _ in $(seq 200); do
    [[ $(curl -s "http://127.0.0.1:$port/plaintext" 2>/dev/null) == "$hello" ]] && return 0
    kill -0 "$peer_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "compare: skipping $s: it did not answer $hello on port $port" >&2
  tail -n 3 "$log" "$dir/error.log" 2>/dev/null | sed 's/^/  /' >&2
  stop_peer
  return 1
}

scenarios=(keepalive pipelined16)
declare -A flags=([keepalive]="" [pipelined16]="--pipeline 16")
ran=()
keepalive_runs=()
for s in $peers; do
  available "$s" || continue
  port=$(free_port)
  prepare "$s" "$port" || { echo "compare: skipping $s: could not prepare it" >&2; continue; }
  start_peer "$s" "$port" || continue
  for sc in "${scenarios[@]}"; do
    echo "compare: $s $sc (${secs}s, $conns connections)" >&2
    # shellcheck disable=SC2086  # the scenario's flags are words
    if ! taskset -c 1 build/tether-load -t1 -c"$conns" -d"${secs}s" ${flags[$sc]} \
      --expect-body "$hello" --json "$out/$s-$sc.json" "http://127.0.0.1:$port/plaintext" \
      >"$out/$s-$sc.txt"; then
      echo "compare: tether-load failed against $s ($sc)" >&2
      rm -f "$out/$s-$sc.json"
    fi
  done
  stop_peer
  ran+=("$s")
  [[ -f $out/$s-keepalive.json ]] && keepalive_runs+=("$out/$s-keepalive.json")
done
((${#ran[@]})) || { echo "compare: no server ran" >&2; exit 1; }

{
  printf '%-8s %-12s %12s %10s %10s %8s %9s\n' server scenario req/s p50_ms p99_ms errors vs_nginx
  for sc in "${scenarios[@]}"; do
    base=
    [[ -f $out/nginx-$sc.json ]] && base=$(json_field "$out/nginx-$sc.json" rps)
    for s in "${ran[@]}"; do
      f=$out/$s-$sc.json
      [[ -f $f ]] || { printf '%-8s %-12s %12s\n' "$s" "$sc" failed; continue; }
      rps=$(json_field "$f" rps)
      vs=-
      [[ -n $base ]] && vs=$(ratio "$rps" "$base")
      printf '%-8s %-12s %12.0f %10s %10s %8s %9s\n' "$s" "$sc" "$rps" \
        "$(json_ms "$f" latency_us.corrected.p50)" "$(json_ms "$f" latency_us.corrected.p99)" \
        "$(json_field "$f" errors.total)" "$vs"
    done
  done
} | tee "$out/compare.txt"
if ((${#keepalive_runs[@]})); then
  build/tether-load plot "${keepalive_runs[@]}" -o "$out/compare.svg"
  echo "wrote $out/compare.svg, $out/compare.txt and the runs' JSON in $out"
fi
