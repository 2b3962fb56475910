#!/usr/bin/env bash
# Writes the seed corpus of the request-path fuzz target into tests/fuzz/corpus/: one request
# stream per file, after the target's 4 control bytes (see request_path_fuzz.cpp). Valid
# streams teach the fuzzer the grammar; invalid ones start it next to each rejection path and
# replay the bugs it has found (scripts/fuzz.sh runs every seed once before fuzzing).
set -euo pipefail
cd "$(dirname "$0")"
rm -rf corpus
mkdir corpus

# seed NAME CONTROL STREAM: both are printf %b strings (\r \n \xHH).
seed() { printf '%b%b' "$2" "$3" >"corpus/$1"; }
D='\x00\x00\x00\x00'         # one connection, the whole stream in one read, default limits
BYTES='\x00\x80\x00\x00'     # every byte its own read
SPLIT='\x00\x05\x12\x34'     # random reads of 1..32 bytes
H='Host: example.com\r\n'

# ---- valid
seed get-text "$D" "GET /text HTTP/1.1\r\n$H\r\n"
seed get-param "$D" "GET /users/42 HTTP/1.1\r\n$H\r\n"
seed get-catch-all "$D" "GET /files/a/b/c.txt HTTP/1.1\r\n$H\r\n"
seed get-query "$D" "GET /search?q=hello%20world&x=1 HTTP/1.1\r\n$H\r\n"
seed head-text "$D" "HEAD /text HTTP/1.1\r\n$H\r\n"
seed head-404-then-get "$D" "HEAD /missing HTTP/1.1\r\n$H\r\nGET /text HTTP/1.1\r\n$H\r\n"
seed post-content-length "$D" "POST /echo HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello"
seed post-chunked "$SPLIT" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
seed chunk-extensions "$D" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;name=value\r\nabc\r\n2;flag\r\nde\r\n0;q=\"x y\"\r\n\r\n"
seed chunked-trailers "$D" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-Checksum: 1234\r\nX-Other: v\r\n\r\n"
seed put-item "$D" "PUT /items/7 HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc"
seed delete-item "$D" "DELETE /items/7 HTTP/1.1\r\n$H\r\n"
seed expect-continue "$D" "POST /echo HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 4\r\n\r\nbody"
seed expect-continue-split "$BYTES" "POST /echo HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 2\r\n\r\nok"
seed http10-keep-alive "$D" "GET /text HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /users/1 HTTP/1.0\r\n\r\n"
seed http10-close "$D" "GET /text HTTP/1.0\r\n\r\nGET /text HTTP/1.0\r\n\r\n"
seed connection-close "$D" "GET /text HTTP/1.1\r\n${H}Connection: close\r\n\r\nGET /text HTTP/1.1\r\n$H\r\n"
seed pipelined "$D" "GET /text HTTP/1.1\r\n$H\r\nPOST /echo HTTP/1.1\r\n${H}Content-Length: 2\r\n\r\nhiGET /users/7 HTTP/1.1\r\n$H\r\nHEAD /files/x HTTP/1.1\r\n$H\r\nDELETE /items/1 HTTP/1.1\r\n$H\r\n"
seed pipelined-split "$SPLIT" "GET /text HTTP/1.1\r\n$H\r\nGET /search?q=1 HTTP/1.1\r\n$H\r\nPOST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nGET /text HTTP/1.1\r\n$H\r\n"
seed later-in-order '\x08\x00\x00\x00' "GET /later HTTP/1.1\r\n$H\r\nGET /text HTTP/1.1\r\n$H\r\nGET /later HTTP/1.1\r\n$H\r\n"
seed later-reversed '\x20\x03\x00\x07' "GET /later HTTP/1.1\r\n$H\r\nGET /later HTTP/1.1\r\n$H\r\nGET /text HTTP/1.1\r\n$H\r\n"
seed later-at-end '\x48\x00\x00\x00' "GET /later HTTP/1.1\r\n$H\r\nGET /users/2 HTTP/1.1\r\n$H\r\nGET /later HTTP/1.1\r\n$H\r\n"
seed later-never-answered '\x60\x00\x00\x00' "GET /text HTTP/1.1\r\n$H\r\nGET /later HTTP/1.1\r\n$H\r\nGET /text HTTP/1.1\r\n$H\r\n"
seed handler-closes "$D" "GET /bye HTTP/1.1\r\n$H\r\nGET /text HTTP/1.1\r\n$H\r\n"
seed later-deadline-passes '\xe0\x00\x00\x00' "GET /later HTTP/1.1\r\n$H\r\nHEAD /later HTTP/1.1\r\n$H\r\nGET /text HTTP/1.1\r\n$H\r\n"
seed idle-timeout '\x80\x00\x00\x00' "GET /text HTTP/1.1\r\n$H\r\n"
seed header-timeout '\x80\x00\x00\x00' "GET /text HTTP/1.1\r\n$H"
seed body-timeout '\x80\x00\x00\x00' "POST /echo HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 10\r\n\r\nabc"
seed throw-and-drop "$D" "GET /throw HTTP/1.1\r\n$H\r\nGET /drop HTTP/1.1\r\n$H\r\nHEAD /throw HTTP/1.1\r\n$H\r\nGET /text HTTP/1.1\r\n$H\r\n"
seed big-tiny-high-water '\x10\x00\x00\x00' "GET /big HTTP/1.1\r\n$H\r\nGET /text HTTP/1.1\r\n$H\r\nHEAD /big HTTP/1.1\r\n$H\r\n"
seed any-method "$D" "PROPFIND /any HTTP/1.1\r\n$H\r\nOPTIONS /any HTTP/1.1\r\n$H\r\nM-SEARCH /any HTTP/1.1\r\n$H\r\n"
seed method-not-allowed "$D" "POST /text HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\nHEAD /echo HTTP/1.1\r\n$H\r\n"
seed options-star "$D" "OPTIONS * HTTP/1.1\r\n$H\r\n"
seed connect-authority "$D" "CONNECT example.com:443 HTTP/1.1\r\n$H\r\n"
seed absolute-form "$D" "GET http://example.com/text?x=1 HTTP/1.1\r\n$H\r\nGET http://example.com HTTP/1.1\r\n$H\r\n"
seed upgrade "$D" "GET /text HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
seed blank-lines-between "$D" "\r\n\r\nGET /text HTTP/1.1\r\n$H\r\n\r\n\r\nGET /text HTTP/1.1\r\n$H\r\n"
seed upload-streamed "$SPLIT" "POST /upload HTTP/1.1\r\n${H}Content-Length: 11\r\n\r\nhello worldGET /text HTTP/1.1\r\n$H\r\n"
seed upload-chunked "$BYTES" "POST /upload HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET /text HTTP/1.1\r\n$H\r\n"
seed upload-slow '\x08\x05\x12\x34' "POST /upload/slow HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\nPOST /upload/slow HTTP/1.1\r\n${H}Content-Length: 40\r\n\r\n0123456789012345678901234567890123456789GET /text HTTP/1.1\r\n$H\r\n"
seed upload-expect-continue "$BYTES" "POST /upload HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 4\r\n\r\nbody"
seed upload-over-limit "$D" "POST /upload HTTP/1.1\r\n${H}Content-Length: 100001\r\n\r\nxyz"
seed upload-chunk-over-limit "$D" "POST /upload HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n186a1\r\nxyz"
seed upload-bad-chunk "$SPLIT" "POST /upload/slow HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n"
seed upload-stalls '\x80\x00\x00\x00' "POST /upload HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nabc"
seed no-route-expect-continue "$D" "POST /nowhere HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 10\r\n\r\n0123456789GET /text HTTP/1.1\r\n$H\r\n"
seed no-route-chunked "$D" "PUT /nowhere HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
seed two-connections '\x01\x04\x40\x00' "GET /users/1 HTTP/1.1\r\n$H\r\nGET /later HTTP/1.1\r\n$H\r\nPOST /echo HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabcGET /users/2 HTTP/1.1\r\n$H\r\n"
seed every-byte-a-read "$BYTES" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /text HTTP/1.1\r\n$H\r\n"

# ---- invalid: each is answered with one rejection and a close
seed content-length-and-chunked "$D" "POST /echo HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
seed duplicate-content-length "$D" "POST /echo HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
seed negative-content-length "$D" "POST /echo HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n"
seed obs-fold "$D" "GET /text HTTP/1.1\r\n${H}X-Folded: a\r\n b\r\n\r\n"
seed bare-lf-request-line "$D" "GET /text HTTP/1.1\n$H\r\n"
seed bare-lf-ends-head "$D" "GET /text HTTP/1.1\r\n$H\nGET /users/1 HTTP/1.1\r\n$H\r\n"
seed bare-lf-ends-trailers "$D" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\nGET /text HTTP/1.1\r\n$H\r\n"
seed nul-in-header "$D" "GET /text HTTP/1.1\r\n${H}X-A: b\x00c\r\n\r\n"
seed nul-in-target "$D" "GET /te\x00xt HTTP/1.1\r\n$H\r\n"
seed huge-chunk-size "$D" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nx\r\n"
seed bad-chunk-size "$D" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nx\r\n0\r\n\r\n"
seed http20 "$D" "GET /text HTTP/2.0\r\n$H\r\n"
seed http12 "$D" "GET /text HTTP/1.2\r\n$H\r\n"
seed http09 "$D" "GET /text\r\n\r\n"
seed rtsp "$D" "GET /text RTSP/1.0\r\n\r\n"
seed ice "$D" "SOURCE /text ICE/1.0\r\n\r\n"
seed space-before-colon "$D" "GET /text HTTP/1.1\r\nHost : example.com\r\n\r\n"
seed missing-host "$D" "GET /text HTTP/1.1\r\n\r\n"
seed two-hosts "$D" "GET /text HTTP/1.1\r\n${H}${H}\r\n"
seed gzip-transfer-coding "$D" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
seed chunked-in-http10 "$D" "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
seed expect-other "$D" "POST /echo HTTP/1.1\r\n${H}Expect: 200-ok\r\nContent-Length: 1\r\n\r\nx"
seed keep-alive-and-close-http10 "$D" "GET /text HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\nGET /text HTTP/1.0\r\n\r\n"
seed head-too-large '\x02\x00\x00\x00' "GET /text HTTP/1.1\r\n${H}X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"
seed target-too-long '\x02\x00\x00\x00' "GET /files/aaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n$H\r\n"
seed too-many-headers '\x02\x00\x00\x00' "GET /text HTTP/1.1\r\n${H}A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"
seed body-too-large '\x04\x00\x00\x00' "POST /echo HTTP/1.1\r\n${H}Content-Length: 17\r\n\r\n12345678901234567"
seed chunked-too-large '\x04\x02\x00\x09' "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n9\r\n123456789\r\n0\r\n\r\n"
seed lowercase-method "$D" "get /text HTTP/1.1\r\n$H\r\n"
seed response-as-request "$D" "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
seed binary-garbage "$D" '\xff\xfe\x00\x01\x1b[2J\x7f\r\n\r\n'
