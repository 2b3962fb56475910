// Connection: one accepted TCP connection, owned by its loop. Parses requests, keeps the
// FIFO of exchanges so responses leave in request order, writes, times out, closes.
//
// Lifetime: created on accept, destroyed only in the uv_close callback (libuv frees nothing
// before that). Exchanges outlive it when Response handles still point at them; they are
// marked dead on close, so nothing is ever written to a closed connection.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/intrusive_list.hpp"
#include "http/exchange.hpp"
#include "http/http_parser.hpp"
#include "http/http_writer.hpp"
#include "http/timeout_kind.hpp"
#include "tether/stream.hpp"

namespace tether::detail {

class HttpLoop;

/// Output that the socket did not take at once. Allocated only while a write is pending.
struct WriteState {
  uv_write_t req{};
  uv_shutdown_t shutdown{};
  std::string inflight;  // bytes handed to uv_write; untouched until its callback
  // A response body moved in by Response::send(std::string&&), written after `inflight` by
  // the same uv_write (from `body_off` on) and freed when it completes.
  std::string body;
  size_t body_off = 0;
  std::string queued;  // bytes produced while a write is pending
  bool active = false;
};

class Connection {
 public:
  /// While a streamed body waits for its reader, input is still read (and kept) up to this
  /// much, so that a client that leaves is seen.
  static constexpr size_t kBodyReadAhead = 64 * 1024;

  explicit Connection(HttpLoop& loop);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Sets up the handle; on failure (a libuv error code) the connection must be deleted
  /// as it is, having no handle to close.
  int init();
  /// After init(): accepts from `server` and starts reading; on failure the connection
  /// closes itself.
  void start(uv_stream_t* server);
  /// After init(), with no socket: bytes come from feed(), responses go to the loop's output
  /// sink.
  void start_in_memory();
  /// Hands bytes to the connection as if read from its socket (in-memory transport).
  void feed(const char* data, size_t len);
  /// Closes now: exchanges die, pending output is dropped. Idempotent.
  void close();
  /// Server is stopping: close if idle, else close after the in-flight responses.
  void begin_drain();
  /// Writes bytes now (uv_try_write) and queues what the socket does not take. The loop's
  /// cork flush is the only caller: everything else writes into the cork.
  void send_bytes(const char* data, size_t len);
  /// Writes `data` then `body` in one write (writev); no write may be pending. The body is
  /// kept in the WriteState until the socket has taken it.
  void send_bytes(const char* data, size_t len, std::string&& body);
  /// Answers `status` with `text` without a request (connection cap) and closes.
  void reject(int status, std::string_view text);
  void on_timeout(TimeoutKind kind);

  /// Serializes the response of `x` (Open, owned by this connection) in request order.
  bool answer(Exchange* x, int status, std::string_view body, std::string_view content_type);
  /// The same with a body the connection may keep: a big one is written from its own buffer
  /// (no copy), waiting in `x` while earlier responses or a pending write go first.
  bool answer_moved(Exchange* x, int status, std::string&& body, std::string_view content_type);
  /// Answers `x` with an error status and a short text body (plus `extra_header`, a whole
  /// "Name: value\r\n" line, if given).
  void answer_error(Exchange* x, int status, std::string_view text,
                    std::string_view extra_header = {});
  /// The response deadline of `x` passed: answer 504 and tell its on_close callbacks.
  void expire(Exchange* x);

  // ---- streamed responses (connection_stream.cpp); `x` is this connection's
  /// Answers `x` (Open) with a streamed body. False (answered 500) for a status without one.
  bool start_stream(Exchange* x, int status, std::string_view content_type);
  /// Queues the next piece of `x`'s body (Streaming, not ended).
  StreamWrite stream_write(Exchange* x, std::string_view bytes);
  /// Ends `x`'s body: the last chunk and trailers, after what is buffered.
  void stream_end(Exchange* x);
  /// Bytes of `x`'s body not yet taken by the socket (or waiting behind earlier responses).
  size_t stream_backlog(const Exchange* x) const;
  /// `cb` runs once the backlog has fallen to half the high-water mark.
  void stream_on_writable(Exchange* x, std::function<void()> cb);
  /// Nobody can end `x` any more: close the connection, so its body ends incomplete.
  void cut_stream(Exchange* x);

  // ---- streamed request bodies (connection_body.cpp); `x` is this connection's, Open
  /// Response::read_body(): false when `x` has no streamed body or already has its reader.
  bool read_body(Exchange* x, std::function<bool(std::string_view)> on_data,
                 std::function<void()> on_end);
  /// Response::resume_body(): false when `x`'s body is not paused.
  bool resume_body(Exchange* x);
  /// At a settle: `x`'s body goes on (resumed, or its reader came): its end, or reading.
  void continue_body(Exchange* x);
  /// A streamed body's callbacks, taken out of it to be destroyed by the caller once nothing
  /// touches the exchange any more (they often hold its Response).
  struct BodyCallbacks {
    std::function<bool(std::string_view)> on_data;
    std::function<void()> on_end;
  };
  /// `x` is answered (or streams its answer) before its body was handed over whole: no more
  /// of it is delivered; if it has not all arrived, the connection closes after the response.
  /// Nothing to do (empty callbacks) for an exchange without a streamed body, or one over.
  BodyCallbacks abandon_body(Exchange* x);

  /// Hooks for the loop's lists (all connections; the current deadline list).
  ListHook<Connection> all_hook;
  ListHook<Connection> timeout_hook;
  uint64_t deadline = 0;
  TimeoutKind timeout_kind = TimeoutKind::None;

 private:
  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_shutdown(uv_shutdown_t* req, int status);
  static void on_closed(uv_handle_t* h);

  void handle_read(const char* data, size_t len);
  void handle_eof(ssize_t status);
  /// Parses [p, end); `from_leftover` when the bytes are leftover_ itself.
  void process(const char* p, const char* end, bool from_leftover);
  void keep_unparsed(const char* p, const char* end, bool from_leftover);
  void parse(RequestParser& parser, const char* p, const char* end, bool from_leftover);
  /// A request is partly received: a head in leftover_, or a body under way.
  bool receiving() const { return body_parser_ || !leftover_.empty(); }
  void dispatch(Exchange* x);
  /// Finds the route of `x` into `m` (splitting its target the first time).
  void route(Exchange* x, RouteMatch& m);
  /// `x` enters the FIFO: it is now the server's to answer. Counted as a request, or (a
  /// request refused for its framing or size) as a bad one.
  void admit(Exchange* x, bool bad = false);
  /// Calls the handler of `m` for `x`, its captures readable meanwhile.
  void call_handler(Exchange* x, const RouteMatch& m);
  void fail(int status, std::string_view text);
  bool can_take_request() const;
  /// Whether the parse may go on: within a body, unless its reader makes it wait; between
  /// requests, can_take_request().
  bool can_read() const;
  // ---- streamed request bodies (connection_body.cpp)
  /// The head of the request being parsed is complete and it has a body: route it, check its
  /// limit, answer at once what will not be taken, start a streamed body.
  void route_head(RequestParser& parser, bool body_started);
  /// Answers `x` (routed at its head) without reading its body; the connection closes.
  void refuse_head(Exchange* x, int status, std::string_view text);
  void start_body(Exchange* x, RequestParser& parser, const RouteMatch& m, bool wants_continue);
  /// Hands the body bytes of the last parse step to the reader of the body being parsed.
  void deliver_body(RequestParser& parser);
  /// The last byte of streamed `x`'s body has been parsed.
  void end_body(Exchange* x);
  void finish_body(Exchange* x);
  BodyCallbacks release_body(Exchange* x);
  /// The body being streamed failed (bad framing, over its limit, timeout): `status`.
  void fail_body(int status, std::string_view text);
  /// The streamed body being parsed waits for its reader.
  bool body_waiting() const;
  /// Sends the 100 Continue owed to `continue_for_` once nothing is ahead of it (and drops
  /// it once its body has started or ended).
  void maybe_continue();
  /// The response deadline runs while `x`'s body waits for its reader, not otherwise.
  void body_wait_changed(Exchange* x);
  void push_fifo(Exchange* x);
  /// Serializes the response of `x` (at the head of the FIFO) into the cork.
  void write_response(Exchange* x, int status, std::string_view body,
                      std::string_view content_type);
  /// The same for a body written from its own buffer after the head (answer_moved).
  void write_moved_response(Exchange* x, int status, std::string&& body,
                            std::string_view content_type);
  /// Callbacks an answer lets go of: destroyed unrun by the caller once nothing touches the
  /// exchange any more (they often hold its Response).
  struct Released {
    std::vector<std::function<void()>> on_close;
    BodyCallbacks body;
  };
  /// What every answer does first: a body still arriving is abandoned, deadline off, state
  /// Answered, counted.
  Released begin_answer(Exchange* x, int status);
  /// Access log: `x` (still in the FIFO) outlives this read: keep its head for its record.
  void keep_for_log(Exchange* x);
  /// Access log: `x` ends without a response sent in full (499, or a cut stream).
  void log_unanswered(Exchange* x);
  /// Every exchange in the FIFO ends unanswered (dead): the connection is closing.
  void abandon_fifo();
  /// The exchanges after `last` end unanswered; `last` becomes the FIFO's tail.
  void abandon_after(Exchange* last);
  void abandon_chain(Exchange* first);
  void pop_fifo_head();
  void flush_answered();
  /// The head fields of `x`'s response (Connection: close on the connection's last one).
  ResponseParts head_parts(const Exchange* x, int status, std::string_view content_type) const;
  /// `x`'s stream is over (end(), a cut, or its connection closing): counted, and off the
  /// heartbeat list.
  void stream_ended(Exchange* x, bool cut);
  /// Writes the head of streamed `x` (now at the FIFO head) and the body it buffered.
  void write_stream_head(Exchange* x);
  /// A stream outlives its handler, maybe by hours: once the handler has returned, its
  /// request keeps only what the stream's end needs.
  void shed_request(Exchange* x);
  /// The last chunk of ended `x` (at the FIFO head), which then leaves the FIFO.
  void finish_stream(Exchange* x);
  /// A stream at the FIFO head waiting for room is told when its backlog is low enough.
  void maybe_writable();
  void after_progress();
  void maybe_resume();
  void pause_reading();
  void start_linger();
  void start_write();
  size_t pending_bytes() const;
  void update_timeout(bool read_activity, bool write_activity);
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
  void remember_peer();

  uv_tcp_t tcp_{};
  HttpLoop& loop_;
  /// Parser state carried across reads, only while a request body is arriving; otherwise
  /// the loop's shared parser serves this connection.
  std::unique_ptr<RequestParser> body_parser_;
  /// Bytes received but not parsed yet: a partial request head, or pipelined requests held
  /// back by backpressure. Empty for an idle connection.
  std::string leftover_;
  Exchange* parsing_ = nullptr;
  /// The request being parsed waits for a 100 Continue that had to wait for the responses
  /// ahead of it (or, on a stream_body route, for read_body()).
  Exchange* continue_for_ = nullptr;
  Exchange* fifo_head_ = nullptr;
  Exchange* fifo_tail_ = nullptr;
  WriteState* write_ = nullptr;
  /// Bytes of moved bodies waiting in answered exchanges of the FIFO (see answer_moved).
  size_t held_bytes_ = 0;
  PeerAddress peer_;
  bool closing_ = false;
  bool in_process_ = false;
  bool read_paused_ = false;
  /// No more requests are taken; the connection closes once the FIFO is answered.
  bool close_requested_ = false;
  bool lingering_ = false;
  bool peer_eof_ = false;
  bool progressed_ = false;  // a request was dispatched during the current read
  bool in_memory_ = false;   // no socket: fed by feed(), writes to the loop's output sink
  uint32_t fifo_count_ = 0;  // beside the flags: no padding (an open stream holds one of these)
};

}  // namespace tether::detail
