// scan_response: the fast path of the load generator's response parsing.
//
// Nearly every response a load test reads has one shape: `HTTP/1.1`, a status that is not
// 1xx, 204 or 304, a few plain header lines, a Content-Length and the whole body in the same
// read. llhttp walks such a response one byte at a time through its state machine and
// callbacks, which costs more instructions than the rest of the generator put together. This
// scan accepts only a strict subset of HTTP/1.1 (each byte checked against a table) and says
// "not mine" for everything else: a partial response, chunked or close-delimited framing,
// HTTP/1.0, interim responses, unusual bytes or headers. Those go to llhttp, which stays the
// judge of what is valid, so the scan must never accept what llhttp would refuse.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tether::load::detail {

struct ScannedResponse {
  bool complete = false;  ///< false: hand these bytes to llhttp
  uint16_t status = 0;
  bool keep_alive = true;  ///< false: `Connection: close`
  size_t size = 0;         ///< bytes of the whole response (head and body)
  const char* body = nullptr;
  size_t body_size = 0;
};

/// Scans one response at [p, end). `head_only`: it answers a HEAD request (no body follows,
/// whatever Content-Length says).
ScannedResponse scan_response(const char* p, const char* end, bool head_only) noexcept;

}  // namespace tether::load::detail
