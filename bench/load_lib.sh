# shellcheck shell=bash
# Sourced by the benchmark scripts: Debian packages on demand, free ports, and reading the
# results of tether-load (its --json report) and of wrk (its text summary).

# Installs those of the Debian packages given that are missing; root only (returns 1 for
# anyone else, and when apt-get fails).
ensure_packages() {  # package...
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  [[ $(id -u) == 0 ]] || return 1
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update >/dev/null 2>&1 &&
      apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1
  }
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# A field of a tether-load JSON report (schema tether-load/1), by its dotted path:
#   json_field run.json rps;  json_field run.json latency_us.service.p99
json_field() {  # file path
  python3 - "$1" "$2" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split('.'):
    v = v[k]
print(v)
PY
}

# The same as a latency in milliseconds (the report's latencies are microseconds).
json_ms() {  # file path
  awk -v us="$(json_field "$1" "$2")" 'BEGIN{printf "%.2f", us / 1000}'
}

# Requests/sec of a wrk or tether-load text summary on stdin.
summary_rps() { awk '/^Requests\/sec:/{print $2}'; }

# A latency row of a wrk --latency summary on stdin ("    99%    1.23ms"), in milliseconds.
summary_ms() {  # percentile label, e.g. 99%
  awk -v row="$1" '$1 == row {
    v = $2; n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1; else if (v ~ /m$/) n *= 60000;
    else if (v ~ /s$/) n *= 1000
    printf "%.2f", n; exit }'
}

# a / b with three decimals ("null" when either is missing or b is 0).
ratio() {  # a b
  awk -v a="${1:-}" -v b="${2:-}" 'BEGIN{ if (a == "" || b == "" || b + 0 == 0) print "null"; else printf "%.3f", a / b }'
}
