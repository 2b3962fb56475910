// Stream and EventStream: a response whose body is written piece by piece, and server-sent
// events over it. Made by Response::stream() and Response::event_stream().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>

#include "tether/export.hpp"

namespace tether {

namespace detail {
struct Exchange;
struct StreamAccess;
}  // namespace detail

/// What a write to a stream did.
enum class StreamWrite : uint8_t {
  Ok,       // queued; keep writing
  Full,     // queued, and the connection is above its write high-water mark: stop writing
            // until on_writable() calls back
  Closed,   // nothing queued: the stream is dead (ended, client gone, or server gone)
  Invalid,  // nothing queued: the call's arguments cannot be framed (see the call)
};

/// Handle to a streamed response body.
///
/// Lifetime and threads: like `Response`, a `Stream` is one pointer with a loop-local
/// reference count, cheap to copy and move, and may be kept past its client, loop and
/// server (it is then dead: every call returns Closed or false and is counted). It belongs to
/// the loop thread that called the handler; off that thread every call is refused and
/// counted (`responses_misused`).
///
/// Framing: chunked on HTTP/1.1, the connection's end on HTTP/1.0 (the connection closes
/// after the stream), no body for HEAD (the stream is over once its head is out: writes
/// return Closed). Responses to
/// requests pipelined behind a stream wait, in order, until it ends.
///
/// Deadlines: the response deadline does not apply once a stream has started; a stream whose
/// client stops reading is cut by the write timeout.
///
/// If the last handle of a stream that was not ended is destroyed, the connection is closed
/// (a chunked body then ends without its last chunk, which a client sees as incomplete), and
/// it is counted (`streams_cut`).
class TETHER_EXPORT Stream {
 public:
  /// An empty, dead handle.
  Stream() = default;
  Stream(const Stream& other);
  Stream(Stream&& other) noexcept;
  Stream& operator=(const Stream& other);
  Stream& operator=(Stream&& other) noexcept;
  ~Stream();

  /// Queues `bytes` as the next piece of the body (an empty write does nothing and returns
  /// Ok). Bytes leave in order, batched with the rest of the loop's output.
  StreamWrite write(std::string_view bytes);
  /// Adds a trailer field for end() (chunked framing only; dropped otherwise). False when
  /// dead, or when the name is not a token or the value holds CR, LF or NUL.
  bool trailer(std::string_view name, std::string_view value);
  /// Finishes the body (the last chunk and the trailers). False when already dead.
  bool end();
  /// Calls `cb` once, on the loop thread, when the connection's unsent output has fallen to
  /// half its high-water mark (at once, at the end of the current callback, if it already
  /// has). Replaces an earlier callback. False (and `cb` is never called) when dead.
  bool on_writable(std::function<void()> cb);
  /// Calls `cb` once, on the loop thread, if the stream ends without end(): the client left,
  /// a write stalled past the write timeout, or the server stopped it. Destroyed uncalled
  /// after end(). False (never called) when dead.
  bool on_close(std::function<void()> cb);
  /// Calls `cb` once, on the loop thread, `delay` from now, if the stream can still be
  /// written then (a producer's pace: the next event of a feed). Destroyed uncalled
  /// otherwise. False (never called) when dead.
  bool after(std::chrono::milliseconds delay, std::function<void()> cb);
  /// True while the stream can be written.
  bool alive() const;
  /// Bytes of this connection's output not yet taken by the socket (0 when dead).
  size_t buffered() const;

 private:
  friend struct detail::StreamAccess;
  explicit Stream(detail::Exchange* x);
  detail::Exchange* x_ = nullptr;
};

/// Server-sent events (`text/event-stream`) over a Stream.
///
/// send() frames one event: an optional `event:` and `id:` line, then one `data:` line per
/// line of `data` (LF, CRLF or CR end a line), then a blank line. While the stream is idle
/// the server sends a comment line every `ServerOptions::sse_heartbeat_ms` (15 s by default)
/// so that proxies and clients keep the connection. A reconnecting client's last id is the
/// request's `Last-Event-ID` header. When the server stops, event streams are ended (the
/// browser reconnects elsewhere) rather than held until the drain timeout.
class TETHER_EXPORT EventStream {
 public:
  /// An empty, dead handle.
  EventStream() = default;
  /// Sends one event. Invalid (nothing sent) when `event` or `id` holds CR or LF, or `id`
  /// holds NUL.
  StreamWrite send(std::string_view data, std::string_view event = {}, std::string_view id = {});
  /// Sends a comment line (`: text`), which clients ignore. Invalid when `text` holds CR or LF.
  StreamWrite comment(std::string_view text);
  /// Tells the client how long to wait before reconnecting (`retry:`).
  StreamWrite retry(uint32_t ms);
  bool end() { return stream_.end(); }
  bool on_writable(std::function<void()> cb) { return stream_.on_writable(std::move(cb)); }
  bool on_close(std::function<void()> cb) { return stream_.on_close(std::move(cb)); }
  bool after(std::chrono::milliseconds delay, std::function<void()> cb) {
    return stream_.after(delay, std::move(cb));
  }
  bool alive() const { return stream_.alive(); }
  size_t buffered() const { return stream_.buffered(); }
  /// The underlying stream.
  Stream& stream() { return stream_; }

 private:
  friend struct detail::StreamAccess;
  explicit EventStream(Stream s) : stream_(std::move(s)) {}
  Stream stream_;
};

}  // namespace tether
