// Streamed responses on a connection: the head when the stream reaches the FIFO head, the
// body piece by piece (chunked on HTTP/1.1, raw and closed by the connection's end on
// HTTP/1.0), the last chunk at end(), and the writable signal that paces a producer.
//
// A stream not yet at the FIFO head (behind earlier pipelined responses) buffers its body in
// its exchange, bounded by the same high-water mark; once at the head it holds it until it
// ends, and what was pipelined behind it waits, in order.
#include <algorithm>
#include <utility>

#include "http/connection.hpp"
#include "http/http_loop.hpp"
#include "http/http_writer.hpp"

namespace tether::detail {
namespace {
// A stream's output leaves in batches of this much even within one callback, so that a
// producer writing in a loop meets the socket (and its backpressure) early. Big enough that
// the kernel builds full-sized segments: 64 KiB batches of 64 KiB chunks (each a few bytes
// over with its framing) ran a 1 GiB stream at 0.72x nginx's sendfile, 256 KiB at 1.1x.
constexpr size_t kStreamFlushBytes = 256 * 1024;
constexpr std::string_view kLastChunk = "0\r\n";
constexpr std::string_view kCrlf = "\r\n";
}  // namespace

bool Connection::start_stream(Exchange* x, int status, std::string_view content_type) {
  if (!valid_final_status(status) || status == 204 || status == 304) {
    answer_error(x, 500, "the handler streamed a status that has no body");
    return false;
  }
  loop_.disarm_deadline(x);
  const BodyCallbacks unread = abandon_body(x);
  auto st = std::make_unique<StreamState>();
  st->chunked = x->req.major == 1 && x->req.minor >= 1;
  if (!st->chunked) x->close = true;  // HTTP/1.0: the body ends with the connection
  if (x->close) close_requested_ = true;
  x->stream = std::move(st);
  x->status = static_cast<uint16_t>(status);
  x->content_type.assign(content_type);
  x->state = ExchangeState::Streaming;
  if (!x->req.route) shed_request(x);  // started after its handler returned
  HttpStats& s = loop_.stats();
  s.responses_by_class[status / 100].add();
  s.exchanges_in_flight.sub();
  s.streams_open.add();
  if (x == fifo_head_) write_stream_head(x);
  // A HEAD response has no body: the stream is over once its head is out, so that a producer
  // (on the loop or a worker) finds it closed instead of writing into nothing forever.
  if (x->head_only) {
    ++x->refs;
    stream_end(x);
    exchange_unref(x);
  }
  after_progress();
  return true;
}

void Connection::write_stream_head(Exchange* x) {
  StreamState& st = *x->stream;
  std::string& out = loop_.cork(this);
  const size_t before = out.size();
  append_stream_head(out, head_parts(x, x->status, x->content_type), st.chunked);
  st.head_bytes = static_cast<uint32_t>(out.size() - before);  // a head is far below 4 GiB
  out.append(x->out);
  st.head_written = true;
  // The head is out: its buffers are not needed again (`out` held the body so far).
  std::string().swap(x->out);
  std::string().swap(x->headers);
  std::string().swap(x->content_type);
}

void Connection::shed_request(Exchange* x) {
  if (loop_.logging()) return;  // the access-log record reads the request at the end
  // Only the header index: decoded query values and captures stay until the exchange is
  // reused, as they always did (a view kept past the handler is misuse, but must not read
  // freed memory).
  std::vector<HeaderSpan>().swap(x->req.headers);
}

void Connection::stream_ended(Exchange* x, bool cut) {
  x->stream->ended = true;
  x->stream->cut = cut;
  HttpStats& s = loop_.stats();
  s.streams_open.sub();
  if (cut) s.streams_cut.add();
  loop_.disarm_heartbeat(x);
  if (x->stream->watched) {
    x->stream->watched = false;
    if (HttpLoop::StreamEndHook hook = loop_.stream_end_hook()) hook(x);
  }
}

StreamWrite Connection::stream_write(Exchange* x, std::string_view bytes) {
  if (bytes.empty()) return StreamWrite::Ok;
  StreamState& st = *x->stream;
  loop_.stats().stream_bytes.add(bytes.size());
  if (!x->head_only) {
    st.body_bytes += bytes.size();
    std::string& out = st.head_written ? loop_.cork(this) : x->out;
    if (st.chunked)
      append_chunk(out, bytes);
    else
      out.append(bytes);
    const size_t flush_at =
        std::max<size_t>(1, std::min(kStreamFlushBytes, loop_.options().write_high_water));
    if (st.head_written && loop_.corked_bytes(this) >= flush_at) {
      loop_.flush_cork_if(this);
      if (closing_) return StreamWrite::Closed;  // the write failed: the client is gone
    }
  }
  if (x->stream->events) loop_.arm_heartbeat(x);
  return stream_backlog(x) >= loop_.options().write_high_water ? StreamWrite::Full
                                                               : StreamWrite::Ok;
}

size_t Connection::stream_backlog(const Exchange* x) const {
  if (!x->stream || !x->stream->head_written) return x->out.size();
  return pending_bytes() + loop_.corked_bytes(this);
}

void Connection::stream_end(Exchange* x) {
  StreamState& st = *x->stream;
  stream_ended(x, /*cut=*/false);
  st.on_writable = nullptr;
  // Ended: its on_close callbacks can never run; they go at the end of this call (the caller
  // holds a reference), so that one capturing the Stream does not keep the exchange alive.
  std::vector<std::function<void()>> released;
  released.swap(x->on_close);
  if (st.head_written) {
    finish_stream(x);  // may return `x` to the pool once the caller lets go
    flush_answered();
  }
  after_progress();
}

void Connection::finish_stream(Exchange* x) {
  StreamState& st = *x->stream;
  if (st.chunked && !x->head_only && !st.cut) {
    std::string& out = loop_.cork(this);
    out.append(kLastChunk);
    if (st.trailers) out.append(*st.trailers);
    out.append(kCrlf);
  }
  if (loop_.logging()) [[unlikely]]
    loop_.log_response(x, x->status, st.head_bytes, st.body_bytes, true, !st.cut);
  x->state = ExchangeState::Answered;
  pop_fifo_head();
}

void Connection::stream_on_writable(Exchange* x, std::function<void()> cb) {
  x->stream->on_writable = std::move(cb);
  if (x == fifo_head_) maybe_writable();
  // Behind earlier responses: flush_answered brings it to the head, and after_progress asks.
}

void Connection::maybe_writable() {
  Exchange* x = fifo_head_;
  if (!x || x->state != ExchangeState::Streaming || closing_) return;
  StreamState& st = *x->stream;
  if (!st.on_writable || st.writable_due || st.ended) return;
  if (stream_backlog(x) > loop_.options().write_high_water / 2) return;
  loop_.defer_writable(x);
}

void Connection::cut_stream(Exchange* x) {
  // Nobody can end it: what it wrote goes out, after what was answered before it, and then
  // the connection closes without the last chunk, so the client sees the body incomplete.
  // Nothing may follow a broken body: requests behind it end unanswered.
  StreamState& st = *x->stream;
  stream_ended(x, /*cut=*/true);
  std::function<void()> writable;
  writable.swap(st.on_writable);
  abandon_after(x);
  x->close = true;
  close_requested_ = true;
  if (!x->on_close.empty()) loop_.defer_close_callbacks(x);  // it ended without end()
  if (st.head_written) {
    finish_stream(x);
    flush_answered();
  }
  after_progress();
}

}  // namespace tether::detail
