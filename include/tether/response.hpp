// Response: a cheap, possibly dead handle to the one response of one request.
#pragma once

#include <concepts>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tether/detail/work.hpp"
#include "tether/export.hpp"
#include "tether/stream.hpp"
#include "tether/stream_writer.hpp"

namespace tether {

namespace detail {
struct Exchange;
struct ResponseAccess;
}  // namespace detail

/// Handle to the response of one request (one *exchange*).
///
/// Lifetime: a `Response` is one pointer with a loop-local reference count, cheap to copy and
/// move. It may be kept as long as you like, past its exchange, its loop and its server:
/// destroying, copying or querying it stays safe (when the server is gone it behaves exactly
/// as when the client has left).
///
/// Threading: it belongs to the event-loop thread that owns the connection (the thread that
/// called your handler). Every operation checks the calling thread, in every build. Off that
/// thread, while the loop runs, the call is refused: send() and the others return false,
/// alive() is false, a copy or a move yields an empty handle (the source keeps its own), and
/// a destruction is forwarded to the owner thread. Each refusal is counted
/// (`ServerStats::responses_misused`, `tether_responses_misused_total`) and the first per loop
/// is logged. To answer after slow work, use offload(): `then` runs on the loop thread.
///
/// A handle may be *dead*: already answered, or the client has left, or the server is gone.
/// Every call on a dead handle is a safe no-op that returns false and is counted
/// (`ServerStats::responses_dropped`). Nothing is ever written to a closed connection.
///
/// If the last copy of an unanswered `Response` is destroyed, the server answers 500 itself
/// and counts it (`ServerStats::responses_abandoned`): a response is never silently lost.
class TETHER_EXPORT Response {
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
  /// or when `status` is invalid or `content_type` holds a control character such as CR or LF
  /// (the server then answers 500 instead).
  bool send(int status, std::string_view body = {}, std::string_view content_type = "text/plain");
  /// The same, taking the body over: a body of 64 KiB or more is written from this string
  /// (no copy), which the connection keeps until the socket has taken it; a smaller one is
  /// copied as above. Chosen for an rvalue `std::string` only (`send(200, std::move(s))`,
  /// `send(200, a + b)`); other arguments take the string_view overload.
  template <class S>
  requires std::same_as<S, std::string>
  bool send(int status, S&& body, std::string_view content_type = "text/plain") {
    return send_owned(status, std::move(body), content_type);
  }

  /// Adds a response header for the coming `send`. Returns false when the handle is dead, the
  /// name is not a token, the value holds CR, LF or NUL, or the header is one the server owns
  /// (Content-Length, Transfer-Encoding). `Connection: close` is accepted: the connection
  /// takes no more requests and closes once the responses it owes are out, the last of them
  /// saying `Connection: close`. `Server` and `Date` replace the server's own.
  bool set_header(std::string_view name, std::string_view value);

  /// Starts a streamed response: the head (`status`, `Content-Type: content_type`, the
  /// headers set so far, chunked framing on HTTP/1.1) goes out now, or once the responses to
  /// earlier pipelined requests have; the body follows through the returned Stream. This
  /// Response is answered by it (dead from now on). Returns a dead Stream when the handle is
  /// dead, or when `status` cannot carry a body (1xx, 204, 304, outside 200..599) or
  /// `content_type` holds a control character; the server then answers 500 instead.
  Stream stream(int status, std::string_view content_type = "application/octet-stream");
  /// Starts server-sent events: a 200 stream of `text/event-stream`, `Cache-Control:
  /// no-cache`. See EventStream.
  EventStream event_stream();
  /// True while the response can still be sent: not yet answered and the client still there.
  bool alive() const;

  /// Calls `cb` (on the loop thread) if the exchange ends without a response from the
  /// handler: the client left, or the response deadline passed (the server answered 504).
  /// Once the response is sent, `cb` is destroyed without being called, so it may capture
  /// this Response without keeping the exchange alive. Returns false (and never calls `cb`)
  /// when the handle is already dead. A throw from `cb` is counted and logged.
  bool on_close(std::function<void()> cb);

  /// Reads the body of a request on a `stream_body` route as it arrives. `on_data(chunk)` runs
  /// on the loop thread for each piece (a view valid during the call) and returns true for
  /// more, or false to pause reading until resume_body(): say while the piece is processed on
  /// a worker. The client is then held back by TCP, and memory stays bounded by one read.
  /// `on_end()` runs once, after the last piece (after resume_body() when that piece paused).
  ///
  /// Until read_body() is called, reading waits, so the handler may first decide (offload an
  /// authorization check, say). While the body waits for its reader (not yet called, or
  /// paused), the response deadline applies to that wait; while it waits for the client, the
  /// body timeout does.
  ///
  /// The response may be sent at any time. Sent before the body has ended, the rest of the
  /// body is not delivered and the connection closes after the response. If the body fails
  /// (the client left, the body timeout, malformed chunking, more than the route's limit),
  /// neither callback runs again: the server answers 400/408/413 if the response is still
  /// owed, and the on_close callbacks run. Both callbacks are destroyed when the body has
  /// ended or failed, so they may capture this Response. A throw from either is answered 500.
  ///
  /// Returns false (and never calls them) when the handle is dead, the route does not stream
  /// its body, or read_body() was already called.
  bool read_body(std::function<bool(std::string_view)> on_data, std::function<void()> on_end);
  /// Resumes a body paused by `on_data` returning false. Its next piece (or `on_end`) comes
  /// at the end of the current callback, never from inside this call. False when the handle
  /// is dead or the body is not paused.
  bool resume_body();
  /// Runs `work(std::stop_token) -> R` on the server's worker pool, then `then(Response, R)`
  /// (or `then(Response)` for void work) on this loop thread with this response.
  ///
  /// Ownership: `work` crosses to a worker thread, so it must own plain data (copy what it
  /// needs out of the Request) and must not capture a Response; `then` and the Response never
  /// leave the loop thread. When the client leaves or the deadline passes, the stop token is
  /// triggered and `then` is not called; nothing is written. An exception thrown by `work` or
  /// `then` is answered with 500.
  ///
  /// Returns true when queued. Returns false when the handle is dead, or when the pool queue
  /// is full: the server has then answered 503 with `Retry-After` (load shedding).
  template <class Work, class Then>
  bool offload(Work work, Then then) {
    using Item = detail::TypedWorkItem<Work>;
    std::vector<std::unique_ptr<detail::WorkItem>> items;
    items.push_back(std::make_unique<Item>(std::move(work)));
    auto fin = [then = std::move(then)](
                   Response& res, std::vector<std::unique_ptr<detail::WorkItem>>& done) mutable {
      auto& item = static_cast<Item&>(*done.front());
      if constexpr (std::is_void_v<typename Item::Result>) {
        then(std::move(res));
      } else {
        then(std::move(res), std::move(*item.result));
      }
    };
    return detail::start_job(
        *this, std::move(items),
        std::make_unique<detail::TypedFinisher<decltype(fin)>>(std::move(fin)));
  }

  /// Streams a body produced on the worker pool: `producer(std::stop_token, StreamWriter&)`
  /// runs on a worker and writes the body with StreamWriter::write, which blocks while the
  /// credit window is spent (see StreamWriter). The head (`status`, `content_type`, the
  /// headers set so far) goes out with the first bytes, or when the producer returns.
  ///
  /// Ownership: the producer crosses to a worker, so it must own plain data, like offload()'s
  /// work; it never sees this Response or the Stream, which stay on the loop.
  /// Outcomes: the producer returns: the stream ends (with the writer's trailers). It throws:
  /// counted and logged like a handler's throw, and answered 500 if nothing was written yet,
  /// else the stream is cut (the connection closes, the body visibly incomplete). The client
  /// leaves, the response deadline passes before the first bytes (504), the stream is cut, or
  /// the server's drain timeout ends it: the token is triggered and every write returns false
  /// at once (counted: `ServerStats::stream_producers_stopped`). A stop of the server lets a
  /// producer finish within `drain_timeout_ms` like any response in flight; a producer that
  /// ignores its token and never returns keeps its worker, and Server::wait() waits for it,
  /// as for offload() work.
  ///
  /// Once queued, the producer answers: this Response is dead from then on, like after
  /// stream() (a send(), stream() or second offload_stream() is refused). For HEAD the
  /// stream is over with its head, and the producer is stopped.
  ///
  /// Returns true when queued. Returns false when the handle is dead, when `status` cannot
  /// carry a body or `content_type` holds a control character (answered 500), or when the
  /// pool queue is full (answered 503 with `Retry-After`, as offload()).
  template <class Producer>
  bool offload_stream(Producer producer, int status = 200,
                      std::string_view content_type = "application/octet-stream") {
    static_assert(std::is_invocable_v<Producer&, std::stop_token, StreamWriter&>,
                  "offload_stream needs producer(std::stop_token, StreamWriter&)");
    return detail::start_producer(
        *this, std::make_unique<detail::TypedProducerItem<Producer>>(std::move(producer)),
        detail::ProducerHead{status, content_type, false});
  }
  /// Server-sent events produced on the worker pool: `producer(std::stop_token,
  /// EventWriter&)`; a 200 `text/event-stream` as event_stream(), otherwise as
  /// offload_stream().
  template <class Producer>
  bool offload_events(Producer producer) {
    static_assert(std::is_invocable_v<Producer&, std::stop_token, EventWriter&>,
                  "offload_events needs producer(std::stop_token, EventWriter&)");
    return detail::start_producer(
        *this, std::make_unique<detail::TypedProducerItem<Producer>>(std::move(producer)),
        detail::ProducerHead{200, "text/event-stream", true});
  }

  /// Fan-out / gather: runs every `works[i](std::stop_token) -> R` in parallel on the pool and
  /// calls `then(Response, std::vector<R>)` once, on this loop thread, with the results in
  /// the order of `works`. All are queued or none (503 when the queue has no room for all).
  /// Same ownership, cancellation and error rules as offload().
  template <class Work, class Then>
  bool offload_all(std::vector<Work> works, Then then) {
    using Item = detail::TypedWorkItem<Work>;
    using R = typename Item::Result;
    static_assert(!std::is_void_v<R>, "offload_all needs work that returns a value");
    std::vector<std::unique_ptr<detail::WorkItem>> items;
    items.reserve(works.size());
    for (auto& w : works) items.push_back(std::make_unique<Item>(std::move(w)));
    auto fin = [then = std::move(then)](
                   Response& res, std::vector<std::unique_ptr<detail::WorkItem>>& done) mutable {
      std::vector<R> results;
      results.reserve(done.size());
      for (auto& d : done) {
        if (d) results.push_back(std::move(*static_cast<Item&>(*d).result));
      }
      then(std::move(res), std::move(results));
    };
    return detail::start_job(
        *this, std::move(items),
        std::make_unique<detail::TypedFinisher<decltype(fin)>>(std::move(fin)));
  }

 private:
  friend struct detail::ResponseAccess;
  explicit Response(detail::Exchange* x);
  bool send_owned(int status, std::string&& body, std::string_view content_type);
  detail::Exchange* x_ = nullptr;
};

}  // namespace tether
