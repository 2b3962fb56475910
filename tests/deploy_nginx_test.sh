#!/usr/bin/env bash
# deploy/ as a user would run it: Debian's nginx with deploy/nginx/tether-mailbox.conf in
# front of two tetherd sharing one redis-server (all on loopback ports). Handoffs through
# nginx meet across the instances; then one instance is stopped mid-run (nginx fails over)
# and no value is lost: each either reached its waiter or, when its waiter was on the
# instance that stopped (answered 503), was stored and can still be taken.
#   tests/deploy_nginx_test.sh path/to/tetherd
set -euo pipefail
tetherd=$1
root=$(cd "$(dirname "$0")/.." && pwd)
for bin in nginx redis-server curl python3; do
  command -v "$bin" >/dev/null || [[ -x /usr/sbin/$bin ]] || { echo "SKIP: $bin not installed (scripts/setup.sh)"; exit 77; }
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port) aport=$(free_port) bport=$(free_port) nport=$(free_port)

redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
  --logfile "$work/redis.log" --daemonize no &
pids+=($!)
"$tetherd" --port "$aport" --loops 1 --workers 1 --mailbox-redis "redis://127.0.0.1:$rport" \
  --mailbox-redis-transit-ms 1000 2>"$work/a.log" &
apid=$!
pids+=($apid)
"$tetherd" --port "$bport" --loops 1 --workers 1 --mailbox-redis "redis://127.0.0.1:$rport" \
  --mailbox-redis-transit-ms 1000 2>"$work/b.log" &
pids+=($!)
# The shipped config, with this run's ports, inside a minimal nginx main configuration.
sed -e "s/127.0.0.1:8081/127.0.0.1:$aport/; s/127.0.0.1:8082/127.0.0.1:$bport/" \
  -e "s/127.0.0.1:8080/127.0.0.1:$nport/" "$root/deploy/nginx/tether-mailbox.conf" >"$work/site.conf"
# One process (no master and worker): nothing outlives the test holding its output.
cat >"$work/nginx.conf" <<NGX
master_process off;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  include $work/site.conf;
}
NGX
"$nginx_bin" -c "$work/nginx.conf" -p "$work" &
pids+=($!)
metric() {  # port name: the value of a /metrics line
  curl -sf "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'
}
up() { [[ $(metric "$1" tether_mailbox_backend_up) == 1 ]]; }
for _ in $(seq 200); do
  up "$aport" 2>/dev/null && up "$bport" 2>/dev/null &&
    curl -sf "http://127.0.0.1:$nport/plaintext" >/dev/null 2>&1 && break
  sleep 0.05
done
up "$aport" && up "$bport" || fail "the instances did not come up on Redis"
parked() { echo $(( $(metric "$aport" tether_mailbox_waiters 2>/dev/null || echo 0) + $(metric "$bport" tether_mailbox_waiters) )); }
wait_parked() {  # n
  for _ in $(seq 200); do (( $(parked) >= $1 )) && return 0; sleep 0.05; done
  fail "only $(parked) of $1 waiters parked"
}

# Round 1: 40 waiters through nginx (spread over both instances), 40 posts through nginx.
n=40
for i in $(seq $n); do
  curl -s -o "$work/w$i" -w '%{http_code}' "http://127.0.0.1:$nport/mailbox/r1-$i?wait_ms=10000" >"$work/s$i" &
done
wait_parked $n
a_parked=$(metric "$aport" tether_mailbox_waiters)
(( a_parked > 0 && a_parked < n )) || fail "nginx did not spread the waiters ($a_parked of $n on A)"
for i in $(seq $n); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "v1-$i" "http://127.0.0.1:$nport/mailbox/r1-$i")
  [[ $code == 200 ]] || fail "post $i answered $code, not 200 (delivered)"
done
wait %% 2>/dev/null || true
for i in $(seq $n); do
  for _ in $(seq 100); do [[ -s $work/s$i ]] && break; sleep 0.05; done
  [[ $(cat "$work/s$i") == 200 && $(cat "$work/w$i") == "v1-$i" ]] ||
    fail "waiter $i got $(cat "$work/s$i") '$(cat "$work/w$i")'"
done
echo "round 1: $n handoffs through nginx, $a_parked waiters on A, $((n - a_parked)) on B"

# Round 2: waiters parked, then instance A stops (SIGTERM: it drains, its parked waits end
# with 503); the posts go through nginx to B. Nothing may be lost.
for i in $(seq $n); do
  curl -s -o "$work/x$i" -w '%{http_code}' "http://127.0.0.1:$nport/mailbox/r2-$i?wait_ms=10000" >"$work/t$i" &
done
wait_parked $n
kill -TERM "$apid"
for _ in $(seq 200); do kill -0 "$apid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$apid" 2>/dev/null && fail "instance A did not stop"
delivered=0 stored=0
for i in $(seq $n); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "v2-$i" "http://127.0.0.1:$nport/mailbox/r2-$i")
  case $code in
    200) delivered=$((delivered + 1)) ;;
    202) stored=$((stored + 1)) ;;
    *) fail "post $i answered $code while A was down" ;;
  esac
done
for i in $(seq $n); do
  for _ in $(seq 100); do [[ -s $work/t$i ]] && break; sleep 0.05; done
  status=$(cat "$work/t$i")
  if [[ $status == 200 ]]; then
    [[ $(cat "$work/x$i") == "v2-$i" ]] || fail "waiter $i got someone else's value: $(cat "$work/x$i")"
  else
    [[ $status == 503 ]] || fail "waiter $i on the stopped instance got $status"
    got=$(curl -s "http://127.0.0.1:$nport/mailbox/r2-$i?wait_ms=0")
    [[ $got == "v2-$i" ]] || fail "value $i was lost (its waiter got 503, the id holds '$got')"
  fi
done
echo "round 2: instance A stopped mid-run; $delivered delivered, $stored stored and taken afterwards; none lost"
echo "deploy_nginx: ok"
