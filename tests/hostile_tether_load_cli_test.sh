#!/usr/bin/env bash
# Hostile tests of the tether-load program: what its command line promises against what it
# does, with a raw Python server on 127.0.0.1 that records every request head it reads.
# A case marked "FAILED before its fix" reproduces a break found by these tests.
# Usage: hostile_tether_load_cli_test.sh /path/to/tether-load
# Every run is bounded by `timeout` (<= 3 s); everything listens on 127.0.0.1 only.
set -u

LOAD=${1:?usage: hostile_tether_load_cli_test.sh /path/to/tether-load}
TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1" >&2; }

# A server that answers every request head with a 2-byte 200 and appends the head to
# $TMP/heads; it ends by itself after 60 s at most.
cat >"$TMP/server.py" <<'EOF'
import socket, sys, threading
out = open(sys.argv[1], "ab")
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(128)
print(s.getsockname()[1], flush=True)
s.settimeout(60)
lock = threading.Lock()
def serve(c):
    buf = b""
    c.settimeout(5)
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            buf += d
            while b"\r\n\r\n" in buf:
                head, _, buf = buf.partition(b"\r\n\r\n")
                with lock:
                    out.write(head + b"\r\n\r\n")
                    out.flush()
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    except Exception:
        pass
    c.close()
try:
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
except Exception:
    pass
EOF
python3 "$TMP/server.py" "$TMP/heads" >"$TMP/port" &
SERVER_PID=$!
for _ in $(seq 50); do
  [[ -s "$TMP/port" ]] && break
  sleep 0.1
done
PORT=$(head -n1 "$TMP/port")
URL="http://127.0.0.1:$PORT"
: >"$TMP/heads"

# run NAME SECONDS ARGS...: runs tether-load, leaves rc/out/err in $TMP.
run() {
  local secs=$1
  shift
  timeout "$secs" "$LOAD" "$@" >"$TMP/out" 2>"$TMP/err"
  echo $? >"$TMP/rc"
}
rc() { cat "$TMP/rc"; }

# --- URLs that would corrupt the request line -------------------------------------------
# FAILED before its fix: both were accepted and sent as is: the server read
# "GET /a\r\nX-Injected: yes HTTP/1.1" (a header injected from the URL) and "GET /a b HTTP/1.1".
: >"$TMP/heads"
run 3 -c 1 -d 50ms "$URL/a"$'\r\n'"X-Injected: yes"
if [[ $(rc) -eq 1 ]] && ! grep -aq "X-Injected" "$TMP/heads"; then
  pass "a URL with CRLF is refused"
else
  saw=$(grep -a -m1 -B1 X-Injected "$TMP/heads" | tr '\r\n' '^$')
  fail "a URL with CRLF: rc=$(rc), server saw: $saw"
fi
: >"$TMP/heads"
run 3 -c 1 -d 50ms "$URL/a b"
if [[ $(rc) -eq 1 ]] && ! grep -aq "GET /a b" "$TMP/heads"; then
  pass "a URL with a space is refused"
else
  saw=$(grep -a -m1 "GET /a" "$TMP/heads" | tr '\r' '^')
  fail "a URL with a space: rc=$(rc), server saw: $saw"
fi

# --- Flags the help promises ---------------------------------------------------------------
# FAILED before its fix: --json, --csv and --svg were parsed and then ignored: exit 0,
# nothing written, no word said (even for a directory that does not exist).
for flag in --json --csv --svg; do
  rm -f "$TMP/result"
  run 3 -c 1 -d 100ms "$flag" "$TMP/result" "$URL/"
  if [[ $(rc) -eq 0 && -s "$TMP/result" ]]; then
    pass "$flag writes its file"
  else
    fail "$flag FILE: rc=$(rc), file written: $([[ -e $TMP/result ]] && echo yes || echo no)"
  fi
  run 3 -c 1 -d 100ms "$flag" "$TMP/no/such/dir/result" "$URL/"
  if [[ $(rc) -ne 0 ]] && grep -q "no/such/dir" "$TMP/err"; then
    pass "$flag into a missing directory is an error"
  else
    fail "$flag into a missing directory: rc=$(rc) stderr=$(cat "$TMP/err")"
  fi
done

# FAILED before its fix: `tether-load plot RUN.json -o OUT.svg` ran a default load test
# against 127.0.0.1:80 (10 connections for 10 s, had anything listened there) and said
# "cannot connect to 127.0.0.1:80: Connection refused"; the parsed command was ignored.
run 3 plot "$TMP/missing-run.json" -o "$TMP/plot.svg"
if [[ $(rc) -eq 1 ]] && grep -q "missing-run.json" "$TMP/err" &&
  ! grep -q "cannot connect" "$TMP/err"; then
  pass "plot names its missing input"
else
  fail "plot with a missing input: rc=$(rc) stderr=$(cat "$TMP/err")"
fi

# FAILED before its fix: --scenario mailbox ran the plain closed loop (GET / on every
# connection) instead of parking waiters on /mailbox/{id}.
: >"$TMP/heads"
run 3 --scenario mailbox --waiters 4 -c 1 -d 100ms "$URL/"
if grep -aq "/mailbox/" "$TMP/heads" || [[ $(rc) -eq 1 ]]; then
  pass "--scenario mailbox talks to /mailbox/ (or refuses)"
else
  plain=$(grep -ac '^GET / HTTP' "$TMP/heads")
  fail "--scenario mailbox: rc=$(rc), the server saw $plain plain 'GET /' and no /mailbox/ request"
fi

# --- Error messages ---------------------------------------------------------------------------
# FAILED before its fix (minor): "--connections: '1000001' is not a number of connections
# >= 1": it is one; the limit (1000000) is not said.
run 3 -c 1000001 "$URL/"
if [[ $(rc) -eq 1 ]] && grep -q "1000000\|1,000,000" "$TMP/err"; then
  pass "--connections above its limit names the limit"
else
  fail "--connections 1000001: $(cat "$TMP/err")"
fi

# --- Runs that must end -----------------------------------------------------------------------
# FAILED before its fix: with more threads than can start within the duration, the run never
# ends (a loop started after the end computes its end in wrapped unsigned arithmetic).
run 3 -c 16 -t 16 -d 2ms "$URL/"
# It must end; on a loaded machine 2 ms may pass before any connection is made, which is
# exit 1 with that reason.
if [[ $(rc) -eq 0 ]] || { [[ $(rc) -eq 1 ]] && grep -q "no connection to .* could be established" "$TMP/err"; }; then
  pass "-c 16 -t 16 -d 2ms ends"
else
  fail "-c 16 -t 16 -d 2ms: rc=$(rc) (124: killed after 3 s)"
fi

# --- What held (kept as regressions) ------------------------------------------------------------
expect_rc1() {
  local name=$1 pattern=$2
  shift 2
  run 3 "$@"
  if [[ $(rc) -eq 1 && ! -s "$TMP/out" ]] && grep -q -- "$pattern" "$TMP/err"; then
    pass "$name"
  else
    fail "$name: rc=$(rc) stdout=$(head -c 200 "$TMP/out") stderr=$(cat "$TMP/err")"
  fi
}
expect_rc1 "port 0" "port must be a number in 1..65535" "http://127.0.0.1:0/"
expect_rc1 "port 65536" "port must be a number in 1..65535" "http://127.0.0.1:65536/"
expect_rc1 "port wrapping to 80" "port must be a number in 1..65535" "http://127.0.0.1:4294967376/"
expect_rc1 "userinfo" "userinfo is not supported" "http://u@127.0.0.1:$PORT/"
expect_rc1 "fragment" "fragment" "$URL/#x"
expect_rc1 "two URLs" "one URL only" "$URL/" "$URL/"
expect_rc1 "IPv6 refused port" "cannot connect to \[::1\]:1" "http://[::1]:1/"
expect_rc1 "a host that resolves to nothing" "cannot resolve host" "http://no-such-host.invalid/"
expect_rc1 "rate nan" "--rate: 'nan'" --rate nan "$URL/"
expect_rc1 "duration with garbage" "--duration: '1e3'" -d 1e3 "$URL/"
expect_rc1 "pipeline above 4096" "--pipeline: '4097'" --pipeline 4097 "$URL/"
expect_rc1 "fail-if garbage" "unknown metric 'p98' at 1" --fail-if 'p98>1ms' "$URL/"
printf 'GET /a\nPOST /b @missing.json\n' >"$TMP/t1.txt"
expect_rc1 "targets with a missing @body" "t1.txt:2: cannot read body file 'missing.json'" \
  --targets "$TMP/t1.txt" "$URL/"
printf 'GET /a\x00b\n' >"$TMP/t2.txt"
expect_rc1 "targets with a NUL" "t2.txt:1:7: target has a byte that is not visible ASCII" \
  --targets "$TMP/t2.txt" "$URL/"
expect_rc1 "a header value with a control byte" "control byte" -H $'X: a\x01' "$URL/"
expect_rc1 "a method with a control byte" "is not an HTTP method" -m $'GE\x01T' "$URL/"

echo "passed $passed, failed $failed"
[[ $failed -eq 0 ]]
