// Response: a cheap, possibly dead handle to the one response of one request.
#pragma once

#include <string_view>

namespace tether {

namespace detail {
struct Exchange;
struct ResponseAccess;
}  // namespace detail

/// Handle to the response of one request (one *exchange*).
///
/// Lifetime and threading: a `Response` is one pointer with a loop-local reference count, so
/// it is cheap to copy and move, but it belongs to the event-loop thread that owns the
/// connection: use it only on that thread (debug builds assert it). A handler may keep a copy
/// and answer later; the exchange stays open until it is answered.
///
/// A handle may be *dead*: already answered, or the client has left, or the server is gone.
/// Every call on a dead handle is a safe no-op that returns false and is counted
/// (`ServerStats::responses_dropped`). Nothing is ever written to a closed connection.
///
/// If the last copy of an unanswered `Response` is destroyed, the server answers 500 itself
/// and counts it (`ServerStats::responses_abandoned`): a response is never silently lost.
class Response {
 public:
  /// An empty, dead handle.
  Response() = default;
  Response(const Response& other);
  Response(Response&& other) noexcept;
  Response& operator=(const Response& other);
  Response& operator=(Response&& other) noexcept;
  ~Response();

  /// Sends the complete response: `status` (200..599), `body`, and `Content-Type:
  /// content_type` when the body is not empty. Adds Date, Server, Content-Length and, when
  /// the connection will close, `Connection: close`. For HEAD requests the body is left out
  /// but its length is announced. Returns false (and writes nothing) when the handle is dead,
  /// or when `status` is invalid (the server then answers 500 instead).
  bool send(int status, std::string_view body = {}, std::string_view content_type = "text/plain");

  /// Adds a response header for the coming `send`. Returns false when the handle is dead, the
  /// name is not a token, the value holds CR, LF or NUL, or the header is one the server owns
  /// (Content-Length, Transfer-Encoding). `Connection: close` is accepted and closes the
  /// connection after this response; `Server` and `Date` replace the server's own.
  bool set_header(std::string_view name, std::string_view value);

  /// True while the response can still be sent: not yet answered and the client still there.
  bool alive() const;

 private:
  friend struct detail::ResponseAccess;
  explicit Response(detail::Exchange* x);
  detail::Exchange* x_ = nullptr;
};

}  // namespace tether
