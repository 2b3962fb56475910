#!/usr/bin/env bash
# Hostile checks of tetherd's POST /upload and --access-log. Usage: $0 /path/to/tetherd
# Every wait is bounded; 127.0.0.1 only; ports are picked free by python3.
set -u
TETHERD=${1:?usage: $0 /path/to/tetherd}
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$TMP"; }
trap cleanup EXIT
failed=0
pass() { echo "PASS: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1" >&2; }
free_port() { python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])"; }
wait_listen() {  # port, pid
  for _ in $(seq 1 50); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
raw() {  # port, bytes (printf format): prints the first response line
  python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
out = b""
try:
    while b"\r\n\r\n" not in out or len(out) < 200:
        d = s.recv(65536)
        if not d: break
        out += d
except socket.timeout:
    pass
print(out.decode("latin-1"))
PY
}

# 1. An empty upload (Content-Length: 0, or no body at all) is a valid upload of 0 bytes.
P=$(free_port)
"$TETHERD" --port "$P" >"$TMP/a.out" 2>"$TMP/a.err" &
PID=$!; PIDS+=("$PID")
if wait_listen "$P" "$PID"; then
  out=$(raw "$P" 'POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n')
  if [[ "$out" == *'{"bytes":0,"crc32":"00000000"}'* ]]; then pass "empty upload (CL 0)"; else
    fail "empty upload (CL 0): $(head -1 <<<"$out")"; fi
  out=$(raw "$P" 'POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n\r\n')
  if [[ "$out" == *'{"bytes":0,"crc32":"00000000"}'* ]]; then pass "empty chunked upload with trailer"; else
    fail "empty chunked upload: $(head -1 <<<"$out")"; fi
else
  fail "tetherd did not listen"
fi
kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null

# 2. --access-log to a FIFO whose reader never reads: SIGTERM must still end tetherd within
#    its drain timeout (plus slack).
mkfifo "$TMP/fifo"
P=$(free_port)
"$TETHERD" --port "$P" --drain-timeout-ms 1000 --access-log "$TMP/fifo" >"$TMP/b.out" 2>"$TMP/b.err" &
PID=$!; PIDS+=("$PID")
sleep 1000 <"$TMP/fifo" &   # opens the FIFO for reading and never reads
RPID=$!; PIDS+=("$RPID")
if wait_listen "$P" "$PID"; then
  python3 - "$P" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
req = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
for _ in range(30):
    s.sendall(req * 100)
    got = b""
    while got.count(b"HTTP/1.1 200") < 100:
        got += s.recv(1 << 20)
PY
  sleep 1.5  # the writer thread's once-a-second flush fills the pipe and blocks
  kill -TERM "$PID"
  ok=0
  for _ in $(seq 1 60); do kill -0 "$PID" 2>/dev/null || { ok=1; break; }; sleep 0.1; done
  if [[ $ok == 1 ]]; then pass "SIGTERM with a stuck access-log reader"; else
    fail "tetherd still running 6 s after SIGTERM (drain 1 s): the access-log writer is blocked in write()"; fi
else
  fail "tetherd did not listen with a FIFO access log"
fi
kill -KILL "$RPID" 2>/dev/null; wait "$RPID" 2>/dev/null

# 3. --access-log to a FIFO nobody opens: tetherd must not hang before listening.
rm -f "$TMP/fifo2"; mkfifo "$TMP/fifo2"
P=$(free_port)
"$TETHERD" --port "$P" --access-log "$TMP/fifo2" >"$TMP/c.out" 2>"$TMP/c.err" &
PID=$!; PIDS+=("$PID")
if wait_listen "$P" "$PID"; then pass "FIFO without a reader: listening"; else
  if kill -0 "$PID" 2>/dev/null; then fail "FIFO without a reader: tetherd hangs in open() and never listens";
  else pass "FIFO without a reader: refused at start-up"; fi
fi
kill -KILL "$PID" 2>/dev/null; wait "$PID" 2>/dev/null

exit $(( failed > 0 ? 1 : 0 ))
