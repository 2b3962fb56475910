#!/usr/bin/env bash
# tether-load as a process: one-line errors and exit 1 for a bad URL, a bad flag and an
# unreachable host; a short run against tetherd prints wrk's Requests/sec line; --json,
# --csv and --svg are written (or fail with one line) and `plot` reads them back.
# Usage: tether_load_cli_test.sh /path/to/tether-load /path/to/tetherd
# Every wait is bounded; everything listens on 127.0.0.1 only.
set -u

LOAD=${1:?usage: tether_load_cli_test.sh /path/to/tether-load /path/to/tetherd}
TETHERD=${2:?usage: tether_load_cli_test.sh /path/to/tether-load /path/to/tetherd}
TMP=$(mktemp -d)
PID=
cleanup() {
  if [[ -n "$PID" ]]; then
    kill -TERM "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
  fi
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

# expect_error NAME PATTERN ARGS...: exit 1, nothing on stdout, one stderr line matching.
expect_error() {
  local name=$1 pattern=$2
  shift 2
  timeout 10 "$LOAD" "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  if [[ $rc -eq 1 && ! -s "$TMP/out" && $(awk 'END { print NR }' "$TMP/err") -eq 1 ]] &&
    grep -q -- "$pattern" "$TMP/err"; then
    pass "$name"
  else
    fail "$name: rc=$rc stdout=$(cat "$TMP/out") stderr=$(cat "$TMP/err")"
  fi
}

expect_error "bad scheme" "bad URL 'ftp://x/': it must start with http://" ftp://x/
expect_error "https refused" "https is not supported" https://127.0.0.1/
expect_error "bad port" "port must be a number" http://127.0.0.1:99999/
expect_error "no URL" "no URL given" -c 4
expect_error "unknown flag" "unknown flag '--bogus'" --bogus 1 http://127.0.0.1/
expect_error "bad duration" "--duration: '10x' is not a duration" -d 10x http://127.0.0.1/
expect_error "bad connections" "--connections: 'many'" -c many http://127.0.0.1/
expect_error "threads above connections" "must be at least --threads" -c 2 -t 4 http://127.0.0.1/
expect_error "bad header" "--header: 'nocolon' is not 'Name: value'" -H nocolon http://127.0.0.1/
refused=$(free_port)
expect_error "unreachable host" "cannot connect to 127.0.0.1:$refused: Connection refused" \
  -d 1s "http://127.0.0.1:$refused/"
expect_error "unknown host" "cannot resolve host 'no-such-host.invalid'" http://no-such-host.invalid/

if timeout 10 "$LOAD" --help >"$TMP/out" 2>&1 && grep -q -- "--pipeline" "$TMP/out"; then
  pass "--help"
else
  fail "--help"
fi

port=$(free_port)
"$TETHERD" --host 127.0.0.1 --port "$port" >"$TMP/tetherd.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
  timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null && break
  sleep 0.1
done
if timeout 20 "$LOAD" -c 4 -t 2 -d 300ms --latency --pipeline 4 -H 'X-Test: 1' \
  "http://127.0.0.1:$port/plaintext" >"$TMP/out" 2>"$TMP/err" &&
  grep -q '^Requests/sec: [0-9]' "$TMP/out" && grep -q ' 99.99% ' "$TMP/out" &&
  grep -q '4 connections (4 established), pipeline 4' "$TMP/out" && ! grep -q Errors "$TMP/out"; then
  pass "run against tetherd"
else
  fail "run against tetherd: $(cat "$TMP/out" "$TMP/err")"
fi
if timeout 20 "$LOAD" -c 2 -d 200ms "http://127.0.0.1:$port/nope" >"$TMP/out" 2>"$TMP/err" &&
  grep -q '^  0 requests in' "$TMP/out" && grep -q 'status [1-9]' "$TMP/out"; then
  pass "404s are errors"
else
  fail "404s are errors: $(cat "$TMP/out" "$TMP/err")"
fi
if timeout 20 "$LOAD" -c 2 -d 200ms --expect-status 404 "http://127.0.0.1:$port/nope" >"$TMP/out" 2>&1 &&
  ! grep -q '^  0 requests in' "$TMP/out" && ! grep -q Errors "$TMP/out"; then
  pass "--expect-status 404"
else
  fail "--expect-status 404: $(cat "$TMP/out")"
fi

timeout 20 "$LOAD" -c 2 -d 200ms --fail-if 'errors>0' "http://127.0.0.1:$port/nope" >"$TMP/out" 2>"$TMP/err"
rc=$?
if [[ $rc -eq 2 ]] && grep -q '^tether-load: --fail-if: errors>0 (was [1-9]' "$TMP/err"; then
  pass "--fail-if trips: exit 2"
else
  fail "--fail-if trips: rc=$rc $(cat "$TMP/err")"
fi
if timeout 20 "$LOAD" -c 2 -d 200ms --fail-if 'errors>0, p50 > 10s' "http://127.0.0.1:$port/plaintext" \
  >"$TMP/out" 2>"$TMP/err" && [[ ! -s "$TMP/err" ]]; then
  pass "--fail-if holds: exit 0"
else
  fail "--fail-if holds: $(cat "$TMP/err")"
fi
expect_error "bad --fail-if" "--fail-if: unknown metric 'p98'" --fail-if 'p98>5ms' http://127.0.0.1/

# Reports: --json, --csv and --svg after a run, and `plot` of the saved runs.
well_formed() {  # a second opinion beside the unit tests' own XML checker, where Python is
  command -v python3 >/dev/null || return 0
  python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$1" 2>/dev/null
}
if timeout 20 "$LOAD" -c 2 -d 300ms --json "$TMP/a.json" --csv "$TMP/a.csv" --svg "$TMP/a.svg" \
  "http://127.0.0.1:$port/plaintext" >"$TMP/out" 2>"$TMP/err" &&
  [[ -s "$TMP/a.json" && -s "$TMP/a.csv" && -s "$TMP/a.svg" && ! -s "$TMP/err" ]] &&
  grep -q '^  "schema": "tether-load/1",$' "$TMP/a.json" &&
  grep -q "^  \"requests\": $(awk '/ requests in /{print $1}' "$TMP/out"),\$" "$TMP/a.json" &&
  [[ $(head -1 "$TMP/a.csv") == second,requests,errors,rps,p50_us,p90_us,p99_us,max_us,service_p99_us ]] &&
  grep -q '<svg xmlns="http://www.w3.org/2000/svg"' "$TMP/a.svg" && well_formed "$TMP/a.svg"; then
  pass "--json --csv --svg (and no progress line off a terminal)"
else
  fail "--json --csv --svg: $(cat "$TMP/out" "$TMP/err"; head -c 300 "$TMP/a.json")"
fi
timeout 20 "$LOAD" -c 4 --pipeline 2 -d 200ms --json "$TMP/b.json" "http://127.0.0.1:$port/plaintext" \
  >/dev/null 2>&1
if timeout 10 "$LOAD" plot "$TMP/a.json" "$TMP/b.json" -o "$TMP/c.svg" >"$TMP/out" 2>"$TMP/err" &&
  [[ ! -s "$TMP/out" && ! -s "$TMP/err" ]] && well_formed "$TMP/c.svg" &&
  grep -q '>a: http://127.0.0.1' "$TMP/c.svg" && grep -q '>b: http://127.0.0.1' "$TMP/c.svg"; then
  pass "plot a.json b.json -o c.svg"
else
  fail "plot a.json b.json: $(cat "$TMP/out" "$TMP/err")"
fi
echo 'garbage' >"$TMP/garbage.json"
expect_error "plot of a garbage file" "^tether-load: plot: $TMP/garbage.json: byte 0: unexpected 'g'\$" \
  plot "$TMP/a.json" "$TMP/garbage.json" -o "$TMP/g.svg"
[[ -e "$TMP/g.svg" ]] && fail "plot of a garbage file wrote its output"
head -c -2 "$TMP/a.json" >"$TMP/cut.json"  # without its closing brace
expect_error "plot of a truncated run" "cut.json: byte $(($(wc -c <"$TMP/a.json") - 2)): unterminated object" \
  plot "$TMP/cut.json" -o "$TMP/g.svg"
echo '{"schema": "tether-load/9"}' >"$TMP/future.json"
expect_error "plot of another schema" "future.json: byte 11: not a tether-load report" \
  plot "$TMP/future.json" -o "$TMP/g.svg"
expect_error "plot of a missing file" "plot: cannot read '$TMP/none.json': No such file" \
  plot "$TMP/none.json" -o "$TMP/g.svg"
expect_error "plot to an unwritable file" "plot -o: cannot write '$TMP/no/dir.svg'" \
  plot "$TMP/a.json" -o "$TMP/no/dir.svg"

# On a terminal the progress line is drawn over itself and cleared before the summary (off a
# terminal, as in every test above, stderr stays empty). `script` gives the run a terminal.
if command -v script >/dev/null; then
  timeout 20 script -qec "'$LOAD' -c 2 -d 1300ms http://127.0.0.1:$port/plaintext" /dev/null \
    >"$TMP/tty" 2>&1
  if grep -qF $'\r\e[KRunning 1300ms test' "$TMP/tty" && grep -qE $'\r\\[  1s\\] [0-9,]+ req  [0-9,]+ req/s  p99 ' "$TMP/tty"; then
    pass "progress line cleared on a terminal"
  else
    fail "progress line on a terminal: $(od -c "$TMP/tty" | head -5)"
  fi
fi

# A file that cannot be written: one line, exit 1, the summary printed and the others written.
timeout 20 "$LOAD" -c 2 -d 200ms --json "$TMP/no/such/dir.json" --csv "$TMP/d.csv" \
  "http://127.0.0.1:$port/plaintext" >"$TMP/out" 2>"$TMP/err"
rc=$?
if [[ $rc -eq 1 && -s "$TMP/d.csv" && $(awk 'END { print NR }' "$TMP/err") -eq 1 ]] &&
  grep -q "^tether-load: --json: cannot write '$TMP/no/such/dir.json': No such file or directory\$" \
    "$TMP/err" && grep -q '^Requests/sec:' "$TMP/out"; then
  pass "unwritable --json: exit 1"
else
  fail "unwritable --json: rc=$rc $(cat "$TMP/out" "$TMP/err")"
fi

# --scenario mailbox: every waiter gets its own value from tetherd's mailbox (exit 0); a path
# with no mailbox behind it loses every value (exit 2); nothing listening is one line (exit 1).
if timeout 30 "$LOAD" --scenario mailbox --waiters 100 "http://127.0.0.1:$port" >"$TMP/out" 2>"$TMP/err" &&
  grep -q '^  Waiters: 100 delivered own, 0 misdelivered, 0 lost, 0 duplicated$' "$TMP/out" &&
  grep -q '^  Posts: 100 delivered (200), 0 stored (202), 0 failed$' "$TMP/out" &&
  grep -q '^Handoffs/sec: [0-9]' "$TMP/out" && grep -q '^Mailbox: PASS$' "$TMP/out" &&
  [[ ! -s "$TMP/err" ]]; then
  pass "--scenario mailbox against tetherd"
else
  fail "--scenario mailbox against tetherd: $(cat "$TMP/out" "$TMP/err")"
fi
timeout 30 "$LOAD" --scenario mailbox --waiters 5 "http://127.0.0.1:$port/nomailbox/" >"$TMP/out" 2>"$TMP/err"
rc=$?
if [[ $rc -eq 2 ]] && grep -q '^Mailbox: FAIL$' "$TMP/out" &&
  grep -q '^tether-load: mailbox: 0 misdelivered, 5 lost, 0 duplicated$' "$TMP/err"; then
  pass "--scenario mailbox with values lost: exit 2"
else
  fail "--scenario mailbox with values lost: rc=$rc $(cat "$TMP/out" "$TMP/err")"
fi
expect_error "--scenario mailbox, unreachable" "cannot connect to 127.0.0.1:$refused: Connection refused" \
  --scenario mailbox --waiters 5 "http://127.0.0.1:$refused/"

# The open loop against tetherd: the rate asked for, reached, and every request and status
# counted exactly as tetherd counts it on /metrics. A scrape's numbers count every scrape
# before it, not itself: the three before the run and the first after are 3 requests (2xx).
metric() {  # NAME: its value on tetherd's /metrics
  python3 -c 'import sys, urllib.request
for line in urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode().splitlines():
    if line.startswith(sys.argv[2] + " "): print(line.split()[1])' "$port" "$1"
}
# Earlier tests' last requests may still be on their way to the counters: start from a
# count that only the scrapes move.
for _ in $(seq 50); do
  a=$(metric tether_requests_total)
  b=$(metric tether_requests_total)
  [[ $((b - a)) == 1 ]] && break
done
req0=$(metric tether_requests_total)
ok0=$(metric 'tether_responses_total{class="2xx"}')
nf0=$(metric 'tether_responses_total{class="4xx"}')
printf 'GET /plaintext\nGET /no-such-page\n' >"$TMP/targets"
# Only 200 is a success: the 404s are the status errors, each counted on both sides. Each
# loop goes round the targets in turn: 1000 of each.
timeout 20 "$LOAD" --rate 2000 -c 8 -t 2 -d 1s --targets "$TMP/targets" --expect-status 200 \
  --json "$TMP/open.json" "http://127.0.0.1:$port" >"$TMP/out" 2>"$TMP/err"
rc=$?
req1=$(metric tether_requests_total)
ok1=$(metric 'tether_responses_total{class="2xx"}')
nf1=$(metric 'tether_responses_total{class="4xx"}')
ok=$(awk '/ requests in /{print $1}' "$TMP/out")
bad=$(grep -A6 '^  "errors": {$' "$TMP/open.json" | awk -F'[:,]' '/"status"/{print $2 + 0}')
total=$(grep -A1 '^  "errors": {$' "$TMP/open.json" | awk -F'[:,]' '/"total"/{print $2 + 0}')
if [[ $rc -eq 0 && $((ok + total)) == 2000 && $total == "$bad" && $((req1 - req0 - 3)) == 2000 &&
  $((ok1 - ok0 - 3)) == "$ok" && $((nf1 - nf0)) == "$bad" && $ok == 1000 ]] &&
  grep -q '^  "mode": "open",$' "$TMP/open.json" &&
  grep -q '^  "intended": 2000,$' "$TMP/open.json" &&
  grep -q 'Open loop at 2000.00 requests/s: 2000 intended' "$TMP/out"; then
  pass "--rate 2000 for 1 s: 2000 requests; tetherd counted as many, its 2xx and 4xx as ours"
else
  fail "--rate: rc=$rc ok=$ok status=$bad total=$total server: requests=$((req1 - req0 - 3)) 2xx=$((ok1 - ok0 - 3)) 4xx=$((nf1 - nf0)) $(cat "$TMP/out" "$TMP/err")"
fi
expect_error "--rate 0" "^tether-load: --rate: '0' is not a rate" --rate 0 "http://127.0.0.1:$port/"
expect_error "--poisson without --rate" "poisson needs a rate" --poisson -d 100ms "http://127.0.0.1:$port/"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
