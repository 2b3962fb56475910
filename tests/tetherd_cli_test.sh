#!/usr/bin/env bash
# tetherd as a process: flags, exit codes, port in use, serving, SIGTERM.
# Usage: tetherd_cli_test.sh /path/to/tetherd
# Every wait is bounded; everything listens on 127.0.0.1 only.
set -u

TETHERD=${1:?usage: tetherd_cli_test.sh /path/to/tetherd}
if [[ ! -x "$TETHERD" ]]; then
  echo "not executable: $TETHERD" >&2
  exit 2
fi

# Never route the test's requests through a proxy from the environment.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy='*' NO_PROXY='*'

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1" >&2; }

# Number of lines in a file (a last line without '\n' counts).
line_count() { awk 'END { print NR }' "$1"; }

# A TCP port that is free on 127.0.0.1 right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# GET http://127.0.0.1:$1$2, body on stdout; fails when the server does not answer.
http_get() {
  curl --silent --show-error --fail --noproxy '*' --max-time 3 "http://127.0.0.1:$1$2"
}

# Polls until tetherd on port $1 answers /healthz; at most ~10 s. Fails early if $2 exits.
wait_listening() {
  local port=$1 pid=$2 i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if curl --silent --noproxy '*' --max-time 1 -o /dev/null "http://127.0.0.1:$port/healthz"; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# Polls until process $1 is gone; at most $2 tenths of a second.
wait_gone() {
  local pid=$1 tenths=$2 i
  for ((i = 0; i < tenths; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

# --- --access-log ---------------------------------------------------------------------------
# An unwritable path: one line, exit 1, before anything listens.
timeout 10 "$TETHERD" --port 0 --access-log "$TMP/no/such/dir/access.log" >"$TMP/al_out" 2>"$TMP/al_err"; rc=$?
if [[ $rc -eq 1 && $(line_count "$TMP/al_err") -eq 1 ]] && grep -q "cannot open access log" "$TMP/al_err"; then
  pass "--access-log to an unwritable path exits 1 with one line"
else
  fail "--access-log unwritable: rc=$rc stderr='$(cat "$TMP/al_err")'"
fi
# Lines in nginx's combined format, all of them written by a graceful stop.
al_port=$(free_port)
"$TETHERD" --host 127.0.0.1 --port "$al_port" --workers 1 --access-log "$TMP/access.log" \
  >"$TMP/al_srv_out" 2>"$TMP/al_srv_err" &
al_srv=$!
if wait_listening "$al_port" "$al_srv"; then
  for i in 1 2 3; do http_get "$al_port" "/plaintext?i=$i" >/dev/null; done
  curl --silent --noproxy '*' --max-time 3 -o /dev/null -A 'agent "quoted"' -e 'http://ref/' \
    "http://127.0.0.1:$al_port/nowhere"
  kill -TERM "$al_srv"
  wait_gone "$al_srv" 100 || kill -KILL "$al_srv"
  wait "$al_srv"; rc=$?
  lines=$(grep -c . "$TMP/access.log" 2>/dev/null || echo 0)
  re='^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [-+][0-9]{4}\] "GET /plaintext\?i=1 HTTP/1\.1" 200 [0-9]+ "-" "curl/'
  # (the first line is wait_listening's /healthz)
  if [[ $rc -eq 0 && $lines -eq 5 ]] && sed -n 2p "$TMP/access.log" | grep -Eq "$re" &&
     tail -1 "$TMP/access.log" | grep -Fq '"GET /nowhere HTTP/1.1" 404 23 "http://ref/" "agent \x22quoted\x22"'; then
    pass "--access-log writes combined-format lines, escaped, flushed at the stop"
  else
    fail "--access-log: rc=$rc lines=$lines log='$(cat "$TMP/access.log")' stderr='$(cat "$TMP/al_srv_err")'"
  fi
else
  fail "tetherd with --access-log did not start (stderr: '$(cat "$TMP/al_srv_err")')"
  kill -KILL "$al_srv" 2>/dev/null
  wait "$al_srv" 2>/dev/null
fi

# --- --version ------------------------------------------------------------------------------
out=$("$TETHERD" --version 2>"$TMP/err"); rc=$?
if [[ $rc -eq 0 && "$out" == tetherd\ * ]]; then
  pass "--version exits 0 and prints the version"
else
  fail "--version: rc=$rc out='$out' err='$(cat "$TMP/err")'"
fi

# --- --help ---------------------------------------------------------------------------------
out=$("$TETHERD" --help 2>"$TMP/err"); rc=$?
if [[ $rc -eq 0 && "$out" == *--max-body-bytes* ]]; then
  pass "--help exits 0 and lists --max-body-bytes"
else
  fail "--help: rc=$rc out='$out'"
fi

# --- bad flag -------------------------------------------------------------------------------
"$TETHERD" --no-such-flag >"$TMP/out" 2>"$TMP/err"; rc=$?
if [[ $rc -eq 1 && $(line_count "$TMP/err") -eq 1 && -s "$TMP/err" && ! -s "$TMP/out" ]]; then
  pass "unknown flag exits 1 with one line on stderr"
else
  fail "unknown flag: rc=$rc stderr='$(cat "$TMP/err")' stdout='$(cat "$TMP/out")'"
fi

"$TETHERD" --port 70000 >"$TMP/out" 2>"$TMP/err"; rc=$?
if [[ $rc -eq 1 && $(line_count "$TMP/err") -eq 1 ]]; then
  pass "out-of-range --port exits 1 with one line on stderr"
else
  fail "--port 70000: rc=$rc stderr='$(cat "$TMP/err")'"
fi

"$TETHERD" --port >"$TMP/out" 2>"$TMP/err"; rc=$?
if [[ $rc -eq 1 && $(line_count "$TMP/err") -eq 1 ]]; then
  pass "missing flag value exits 1 with one line on stderr"
else
  fail "--port without value: rc=$rc stderr='$(cat "$TMP/err")'"
fi

# --- port already in use (held by another process) ------------------------------------------
python3 -c '
import signal, socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
signal.alarm(30)  # hold the port until killed, 30 s at most
signal.pause()
' >"$TMP/holder_port" &
holder=$!
PIDS+=("$holder")
busy=""
for ((i = 0; i < 100; i++)); do
  busy=$(head -n1 "$TMP/holder_port" 2>/dev/null)
  [[ -n "$busy" ]] && break
  sleep 0.1
done
if [[ -z "$busy" ]]; then
  fail "port-in-use: helper did not report its port"
else
  timeout 10 "$TETHERD" --host 127.0.0.1 --port "$busy" --workers 1 >"$TMP/out" 2>"$TMP/err"; rc=$?
  if [[ $rc -eq 1 && $(line_count "$TMP/err") -eq 1 && -s "$TMP/err" ]]; then
    pass "port in use exits 1 with one line on stderr"
  else
    fail "port in use: rc=$rc stderr='$(cat "$TMP/err")'"
  fi
fi
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

# --- two tetherd --loops 2 on one port ------------------------------------------------------
# Each listens with SO_REUSEPORT, which alone would let the second share the port (and take
# half the connections): it must fail like any other port in use.
port=$(free_port)
"$TETHERD" --host 127.0.0.1 --port "$port" --loops 2 --workers 1 >"$TMP/rp_out" 2>"$TMP/rp_err" &
rp=$!
PIDS+=("$rp")
if wait_listening "$port" "$rp"; then
  timeout 10 "$TETHERD" --host 127.0.0.1 --port "$port" --loops 2 --workers 1 \
    >"$TMP/rp_out2" 2>"$TMP/rp_err2"; rc=$?
  if [[ $rc -eq 1 && $(line_count "$TMP/rp_err2") -eq 1 ]] && grep -q "in use" "$TMP/rp_err2"; then
    pass "a second tetherd --loops 2 on a --loops 2 port exits 1 (address in use)"
  else
    fail "second tetherd --loops 2: rc=$rc stderr='$(cat "$TMP/rp_err2")'"
  fi
else
  fail "tetherd --loops 2 did not start listening on port $port (stderr: '$(cat "$TMP/rp_err")')"
fi
kill -TERM "$rp" 2>/dev/null
wait "$rp" 2>/dev/null

# --- serving and SIGTERM --------------------------------------------------------------------
port=$(free_port)
"$TETHERD" --host 127.0.0.1 --port "$port" --workers 1 >"$TMP/srv_out" 2>"$TMP/srv_err" &
srv=$!
PIDS+=("$srv")
if wait_listening "$port" "$srv"; then
  pass "tetherd starts listening on 127.0.0.1:$port"

  body=$(http_get "$port" /plaintext); rc=$?
  if [[ $rc -eq 0 && "$body" == "Hello, World!" ]]; then
    pass "GET /plaintext answers Hello, World!"
  else
    fail "GET /plaintext: rc=$rc body='$body'"
  fi

  # A second tetherd on the same port must fail cleanly.
  timeout 10 "$TETHERD" --host 127.0.0.1 --port "$port" --workers 1 >"$TMP/out2" 2>"$TMP/err2"; rc=$?
  if [[ $rc -eq 1 && $(line_count "$TMP/err2") -eq 1 ]]; then
    pass "second tetherd on the same port exits 1 with one line on stderr"
  else
    fail "second tetherd on the same port: rc=$rc stderr='$(cat "$TMP/err2")'"
  fi

  kill -TERM "$srv"
  if wait_gone "$srv" 50; then
    wait "$srv"; rc=$?
    if [[ $rc -eq 0 ]]; then
      pass "SIGTERM: tetherd exits 0 within 5 s"
    else
      fail "SIGTERM: exit status $rc, stderr='$(cat "$TMP/srv_err")'"
    fi
  else
    fail "SIGTERM: tetherd still running after 5 s"
    kill -KILL "$srv" 2>/dev/null
    wait "$srv" 2>/dev/null
  fi
else
  fail "tetherd did not start listening on port $port (stderr: '$(cat "$TMP/srv_err")')"
  kill -KILL "$srv" 2>/dev/null
  wait "$srv" 2>/dev/null
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
