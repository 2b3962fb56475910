// ResponseRecord: what the access-log hook (ServerOptions::on_response) is told about each
// answered request.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

namespace tether {

class Request;

/// One exchange, as it ends. Every view is valid during the hook call only.
struct ResponseRecord {
  /// Method and target exactly as sent; empty when the request could not be parsed (a 400,
  /// a 408 for a head that never completed, a 503 for a connection over the limit).
  std::string_view method;
  std::string_view target;
  /// HTTP version of the request (1.1 when it could not be parsed).
  int version_major = 1;
  int version_minor = 1;
  /// Status sent. 499 (as nginx logs it) when the client left, or the connection was cut,
  /// before the response was serialized: nothing was sent for it.
  int status = 0;
  /// Bytes of the response as serialized for the connection: `head_bytes` for the status line
  /// and headers, `body_bytes` for the body (0 for HEAD, 204, 304 and 499). For a stream,
  /// `body_bytes` is the payload written (chunk framing and trailers not counted). Counted
  /// when serialized, not when the kernel took them: a client that leaves mid-body does not
  /// lower them.
  uint64_t head_bytes = 0;
  uint64_t body_bytes = 0;
  /// From the request's arrival (when it is handed to its handler or answered by the server:
  /// its head and body parsed, or only its head on a stream_body route; for a request that
  /// could not be parsed, the moment the server answered it) to the moment the
  /// response was serialized into the connection's output, or for a stream to its end.
  std::chrono::nanoseconds duration{0};
  /// The client ("127.0.0.1", "::1"; empty when there is no socket) and its TCP port.
  std::string_view remote_address;
  uint16_t remote_port = 0;
  /// A streamed response (Response::stream, EventStream). `complete` is false when it was
  /// cut (the client left, a write stalled, every handle was dropped) instead of ended.
  bool stream = false;
  bool complete = true;
  /// The request's headers (`header()`, `header_at()`), method and target; null when it could
  /// not be parsed. Its body is not kept for the log: `body()` may be empty.
  const Request* request = nullptr;
};

/// The access-log hook: called once per request the server took, on the loop thread that
/// owns its connection, when the response has been serialized (a stream: when it ends), or
/// with status 499 when the exchange ended without a response. Must not block: it runs on
/// the event loop. A throw is caught, counted (`handler_exceptions`) and logged.
using ResponseHook = std::function<void(const ResponseRecord&)>;

}  // namespace tether
