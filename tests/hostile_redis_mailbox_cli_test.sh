#!/usr/bin/env bash
# Hostile checks of tetherd --mailbox-redis as processes: passwords never on stderr, a tetherd
# SIGKILLed with a waiter parked (the value comes back), a tetherd SIGSTOPped with a waiter
# parked (the value must not be delivered twice), Redis SIGSTOPped (503 within bounds, other
# routes serve).
# Usage: hostile_redis_mailbox_cli_test.sh /path/to/tetherd
# Every wait is bounded; everything listens on 127.0.0.1 only.
#
# WAS (fixed: a loop claims an offered value in Redis before delivering it): "SIGSTOPped
#   tetherd: value delivered once" — the waiter on the stopped tetherd gets
#   the value after SIGCONT although Redis recovered it after the transit timeout, the
#   poster got 202 and another instance's GET took it (see
#   tests/e2e/hostile_redis_mailbox_test.cpp, AValueOfferedToAStalledInstanceIsNotDeliveredTwice).
set -u

TETHERD=${1:?usage: hostile_redis_mailbox_cli_test.sh /path/to/tetherd}
[[ -x "$TETHERD" ]] || { echo "not executable: $TETHERD" >&2; exit 2; }
REDIS=$(command -v redis-server) || { echo "SKIP: no redis-server"; exit 0; }

unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy='*' NO_PROXY='*'

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill -CONT "$pid" 2>/dev/null
    kill -KILL "$pid" 2>/dev/null
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1" >&2; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
# status code of a request; body to $TMP/body
code() { curl --silent --noproxy '*' --max-time "${MAXT:-5}" -o "$TMP/body" -w '%{http_code}' "$@"; }
wait_listening() {
  local port=$1 pid=$2 i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    curl --silent --noproxy '*' --max-time 1 -o /dev/null "http://127.0.0.1:$port/healthz" && return 0
    sleep 0.1
  done
  return 1
}
metric() {  # port name
  curl --silent --noproxy '*' --max-time 2 "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'
}
wait_metric() {  # port name value
  local i
  for ((i = 0; i < 100; i++)); do
    [[ "$(metric "$1" "$2")" == "$3" ]] && return 0
    sleep 0.1
  done
  return 1
}

RPW='RightPw-7c1e'
WPW='WrongPw-93ab'
RPORT=$(free_port)
"$REDIS" --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --requirepass "$RPW" \
  --dir "$TMP" --logfile "$TMP/redis.log" &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
for ((i = 0; i < 50; i++)); do
  redis-cli -p "$RPORT" -a "$RPW" --no-auth-warning ping 2>/dev/null | grep -q PONG && break
  sleep 0.1
done

start_tetherd() {  # name url [env...]
  local name=$1 url=$2 port
  shift 2
  port=$(free_port)
  env "$@" "$TETHERD" --host 127.0.0.1 --port "$port" --loops 1 --mailbox-redis "$url" \
    --mailbox-redis-timeout-ms 300 --mailbox-redis-transit-ms 500 2>"$TMP/$name.err" >/dev/null &
  local pid=$!
  PIDS+=("$pid")
  wait_listening "$port" "$pid" || { fail "$name did not start: $(cat "$TMP/$name.err")"; return 1; }
  eval "${name}_PORT=$port ${name}_PID=$pid"
}

# 1. A wrong password: 503, other routes serve, the password is not on stderr.
start_tetherd W "redis://:$WPW@127.0.0.1:$RPORT" || exit 1
c=$(code -X POST --data v "http://127.0.0.1:$W_PORT/mailbox/x")
[[ $c == 503 ]] && pass "wrong password: POST 503" || fail "wrong password: POST $c"
c=$(code "http://127.0.0.1:$W_PORT/healthz")
[[ $c == 200 ]] && pass "wrong password: /healthz 200" || fail "wrong password: /healthz $c"
for ((i = 0; i < 50; i++)); do [[ -s $TMP/W.err ]] && break; sleep 0.1; done
[[ -s $TMP/W.err ]] && pass "wrong password: logged" || fail "wrong password: nothing on stderr"

# 2. Two instances (password in the URL, and in TETHER_REDIS_PASSWORD).
start_tetherd A "redis://127.0.0.1:$RPORT" TETHER_REDIS_PASSWORD="$RPW" || exit 1
start_tetherd B "redis://:$RPW@127.0.0.1:$RPORT" || exit 1
wait_metric "$A_PORT" tether_mailbox_backend_up 1 && wait_metric "$B_PORT" tether_mailbox_backend_up 1 &&
  pass "both instances up" || fail "instances not up"

# 3. A tetherd SIGKILLed with a waiter parked: a post on B comes back stored; B serves it.
MAXT=25 curl --silent --noproxy '*' --max-time 25 -o "$TMP/killed.body" \
  "http://127.0.0.1:$A_PORT/mailbox/killed?wait_ms=20000" &
wait_metric "$A_PORT" tether_mailbox_waiters 1 || fail "waiter not parked on A"
kill -KILL "$A_PID"
start=$(date +%s%N)
c=$(MAXT=10 code -X POST --data 'from B' "http://127.0.0.1:$B_PORT/mailbox/killed")
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[[ $c == 202 ]] && pass "SIGKILLed waiter: post 202 after ${ms} ms" || fail "SIGKILLed waiter: post $c after ${ms} ms"
c=$(code "http://127.0.0.1:$B_PORT/mailbox/killed?wait_ms=0")
[[ $c == 200 && $(cat "$TMP/body") == 'from B' ]] && pass "SIGKILLed waiter: value recovered" ||
  fail "SIGKILLed waiter: GET $c $(cat "$TMP/body")"

# 4. A tetherd SIGSTOPped with a waiter parked: the value must reach one client only.
start_tetherd S "redis://127.0.0.1:$RPORT" TETHER_REDIS_PASSWORD="$RPW" || exit 1
wait_metric "$S_PORT" tether_mailbox_backend_up 1 || fail "S not up"
curl --silent --noproxy '*' --max-time 25 -o "$TMP/stopped.body" -w '%{http_code}' \
  "http://127.0.0.1:$S_PORT/mailbox/stopped?wait_ms=15000" >"$TMP/stopped.code" &
CURL_PID=$!
wait_metric "$S_PORT" tether_mailbox_waiters 1 || fail "waiter not parked on S"
kill -STOP "$S_PID"
c=$(MAXT=10 code -X POST --data 'once' "http://127.0.0.1:$B_PORT/mailbox/stopped")
copies=0
if [[ $c == 202 ]]; then
  g=$(code "http://127.0.0.1:$B_PORT/mailbox/stopped?wait_ms=0")
  [[ $g == 200 && $(cat "$TMP/body") == once ]] && copies=$((copies + 1))
fi
kill -CONT "$S_PID"
for ((i = 0; i < 100; i++)); do kill -0 "$CURL_PID" 2>/dev/null || break; sleep 0.1; done
[[ $(cat "$TMP/stopped.code" 2>/dev/null) == 200 && $(cat "$TMP/stopped.body") == once ]] && copies=$((copies + 1))
[[ $copies == 1 ]] && pass "SIGSTOPped tetherd: value delivered once" ||
  fail "SIGSTOPped tetherd: value delivered $copies times (post $c, waiter $(cat "$TMP/stopped.code" 2>/dev/null))"

# 5. Redis SIGSTOPped: 503 within bounds, other routes serve; SIGCONT: works again.
kill -STOP "$REDIS_PID"
start=$(date +%s%N)
c=$(code -X POST --data v "http://127.0.0.1:$B_PORT/mailbox/paused")
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[[ $c == 503 && $ms -lt 2000 ]] && pass "Redis paused: POST 503 in ${ms} ms" || fail "Redis paused: POST $c in ${ms} ms"
c=$(code "http://127.0.0.1:$B_PORT/healthz")
[[ $c == 200 ]] && pass "Redis paused: /healthz 200" || fail "Redis paused: /healthz $c"
kill -CONT "$REDIS_PID"
wait_metric "$B_PORT" tether_mailbox_backend_up 1 || fail "B not back up"
c=$(code -X POST --data v2 "http://127.0.0.1:$B_PORT/mailbox/after")
[[ $c == 202 ]] && pass "Redis resumed: POST 202" || fail "Redis resumed: POST $c"

# 6. SIGTERM with a waiter parked and Redis SIGSTOPped: exits within bounds, cleanly (under
#    a sanitizer build: no report on stderr).
curl --silent --noproxy '*' --max-time 20 -o /dev/null "http://127.0.0.1:$B_PORT/mailbox/term?wait_ms=15000" &
wait_metric "$B_PORT" tether_mailbox_waiters 1 || fail "waiter not parked on B"
kill -STOP "$REDIS_PID"
curl --silent --noproxy '*' --max-time 5 -o /dev/null -X POST --data v "http://127.0.0.1:$B_PORT/mailbox/term2" &
kill -TERM "$B_PID"
for ((i = 0; i < 150; i++)); do kill -0 "$B_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$B_PID" 2>/dev/null; then
  fail "SIGTERM with Redis paused: tetherd still running after 15 s"
else
  wait "$B_PID"
  rc=$?
  [[ $rc == 0 ]] && pass "SIGTERM with Redis paused: exit 0" || fail "SIGTERM with Redis paused: exit $rc"
fi
kill -CONT "$REDIS_PID"
if grep -q -e 'Sanitizer' -e 'runtime error' "$TMP"/B.err; then
  fail "sanitizer report from B: $(grep -m3 -e ERROR -e 'runtime error' "$TMP/B.err")"
else
  pass "no sanitizer report from B"
fi

# 7. No password on any stderr.
for f in "$TMP"/*.err; do
  if grep -q -e "$RPW" -e "$WPW" "$f"; then fail "password on stderr of $(basename "$f")"; else pass "no password in $(basename "$f")"; fi
done

echo "passed: $passed, failed: $failed"
[[ $failed == 0 ]]
