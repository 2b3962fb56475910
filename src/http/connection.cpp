#include "http/connection.hpp"

#include <netinet/in.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <utility>

#include "http/connection_dispatch.hpp"
#include "http/http_loop.hpp"
#include "http/http_writer.hpp"
#include "tether/request.hpp"

namespace tether::detail {
namespace {

// Response::send(std::string&&): a body this big is written from its own buffer instead of
// being copied into the cork.
constexpr size_t kMoveBodyBytes = 64 * 1024;

}  // namespace

Connection::Connection(HttpLoop& loop) : loop_(loop) {
  tcp_.data = this;
}

Connection::~Connection() {
  if (write_) loop_.release_write_state(write_);
}

int Connection::init() {
  // With no address family libuv makes no socket here: it only fails on a bad argument.
  int rc = uv_tcp_init(loop_.uv(), &tcp_);
  tcp_.data = this;
  return rc;
}

void Connection::start(uv_stream_t* server) {
  if (uv_accept(server, stream()) != 0) {
    close();
    return;
  }
  uv_tcp_nodelay(&tcp_, 1);  // responses are corked by hand; Nagle would only add latency
  remember_peer();
  if (uv_read_start(stream(), on_alloc, on_read) != 0) {
    close();
    return;
  }
  update_timeout(true, false);
}

void Connection::remember_peer() {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return;
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    peer_.family = AF_INET;
    peer_.port = ntohs(a->sin_port);
    std::memcpy(peer_.addr, &a->sin_addr, 4);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    peer_.family = AF_INET6;
    peer_.port = ntohs(a->sin6_port);
    std::memcpy(peer_.addr, &a->sin6_addr, 16);
  }
}

void Connection::start_in_memory() {
  in_memory_ = true;
  update_timeout(true, false);
}

void Connection::feed(const char* data, size_t len) {
  CorkScope cork(loop_);
  handle_read(data, len);
}

// ---------------------------------------------------------------- reading and parsing

void Connection::on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  *buf = static_cast<Connection*>(h->data)->loop_.read_buffer();
}

void Connection::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(s->data);
  HttpLoop& loop = c->loop_;
  {
    CorkScope cork(loop);
    if (nread > 0) {
      c->handle_read(buf->base, static_cast<size_t>(nread));
    } else if (nread < 0) {
      c->handle_eof(nread);
    }
  }
  loop.deadlines().after_read();  // may close `c`: nothing of it is touched after this
}

void Connection::handle_read(const char* data, size_t len) {
  if (closing_) return;
  // Only a request (or part of one) counts as activity: blank lines between requests, which
  // llhttp skips, must not hold an idle connection open forever.
  progressed_ = false;
  // After the last request (close requested, or lingering) input is read only to be dropped,
  // so that closing does not reset the connection under the client's feet.
  if (!close_requested_ && !lingering_) {
    if (leftover_.empty()) {
      process(data, data + len, false);
    } else {
      leftover_.append(data, len);
      process(leftover_.data(), leftover_.data() + leftover_.size(), true);
    }
  }
  update_timeout(progressed_ || body_parser_ != nullptr, false);
}

void Connection::handle_eof(ssize_t status) {
  if (closing_) return;
  peer_eof_ = true;
  if (status != UV_EOF || lingering_ || fifo_count_ > 0 || receiving()) {
    // Reset, or the client left with requests unanswered: nothing more can reach it.
    close();
    return;
  }
  close_requested_ = true;
  after_progress();
}

void Connection::process(const char* p, const char* end, bool from_leftover) {
  if (body_parser_) {
    parse(*body_parser_, p, end, from_leftover);
    return;
  }
  // At a message boundary (or re-parsing a partial head from its first byte): fresh state.
  if (RequestParser* shared = loop_.borrow_parser()) {
    struct Return {
      HttpLoop& loop;
      ~Return() { loop.return_parser(); }
    } give_back{loop_};
    shared->restart();
    parse(*shared, p, end, from_leftover);
  } else {
    RequestParser nested(loop_.limits());
    nested.set_route_at_head(true);
    parse(nested, p, end, from_leftover);
  }
}

void Connection::parse(RequestParser& parser, const char* p, const char* end, bool from_leftover) {
  in_process_ = true;
  while (p < end && can_read()) {
    if (!parsing_) parsing_ = loop_.exchanges().acquire();
    // Always: the shared parser served other connections since this one last used it.
    parser.set_target(&parsing_->req);
    ParseStep step = parser.execute(p, end);
    if (continue_for_ && parser.body_bytes() > 0) [[unlikely]]
      continue_for_ = nullptr;  // the client did not wait for it
    if (parser.has_piece()) [[unlikely]]
      deliver_body(parser);
    if (step.event == ParseEvent::Message) {
      p = step.next;
      Exchange* x = parsing_;
      if (!x) continue;  // a streamed body answered early: its connection is closing
      parsing_ = nullptr;
      if (x->body) {
        end_body(x);
      } else {
        dispatch(x);
      }
      if (loop_.corked_bytes(this) >= loop_.options().write_high_water) loop_.flush_cork();
      continue;
    }
    if (step.event == ParseEvent::Head) {
      p = step.next;
      route_head(parser, p < end);
      continue;
    }
    if (step.event == ParseEvent::Error) {
      in_process_ = false;
      fail(parser.error_status(), parser.error_text());
      return;
    }
    p = end;
  }
  in_process_ = false;
  const bool body_under_way = parser.in_message() && parser.headers_done();
  if (closing_ || close_requested_) {
    leftover_.clear();
    body_parser_.reset();  // `parser` may be it: not used past this point
    return;
  }
  if (p < end) {
    // Held back at a message boundary by backpressure, or within a body by its reader: keep
    // the rest, stop reading.
    keep_unparsed(p, end, from_leftover);
    if (!body_waiting() || leftover_.size() >= kBodyReadAhead) pause_reading();
    if (!body_under_way) {
      body_parser_.reset();
      return;
    }
  } else if (!parser.in_message()) {
    leftover_.clear();
    body_parser_.reset();
    return;
  } else if (!body_under_way) {
    // A partial head is kept as bytes and parsed again once complete, so that every view of
    // a request points into one contiguous buffer.
    const char* base = parser.message_base();
    if (parser.head_cannot_fit(static_cast<size_t>(end - base))) {
      fail(431, "request head too large");
      return;
    }
    keep_unparsed(base, end, from_leftover);
    body_parser_.reset();
    return;
  } else {
    leftover_.clear();
  }
  // Head complete, body still coming: the exchange takes its own copy of the head, later body
  // bytes go straight from the read buffer into it, and the parser state stays with us.
  parser.detach();
  if (&parser != body_parser_.get()) body_parser_ = parser.clone();
}

void Connection::keep_unparsed(const char* p, const char* end, bool from_leftover) {
  if (from_leftover) {
    leftover_.erase(0, static_cast<size_t>(p - leftover_.data()));
  } else {
    leftover_.assign(p, static_cast<size_t>(end - p));
  }
}

bool Connection::can_read() const {
  if (parsing_ && parsing_->req.routed) [[unlikely]] {
    // Within a body: only its reader may hold it back (an answer owed by others does not).
    return !closing_ && !close_requested_ && !body_waiting();
  }
  return can_take_request();
}

bool Connection::can_take_request() const {
  const ServerOptions& o = loop_.options();
  return !closing_ && !close_requested_ && fifo_count_ < o.max_pipelined &&
         pending_bytes() < o.write_high_water;
}

void Connection::dispatch(Exchange* x) {
  RouteScope scope(loop_);
  RouteMatch& m = scope.match();
  route(x, m);  // again for one routed at its head: its captures are not kept meanwhile
  admit(x);
  if (x->close) close_requested_ = true;
  if (!m.handler) {
    if (m.path_found) {
      x->headers.append("Allow: ").append(Router::allow_header(m.allowed)).append("\r\n");
      answer_error(x, 405, "method not allowed for this path");
    } else {
      answer_error(x, 404, "no route for this path");
    }
    keep_for_log(x);
    return;
  }
  if (m.options->stream_body && !x->body) [[unlikely]] {
    // No body at all (none announced, or a length of 0): its reader gets just the end.
    x->body = std::make_unique<BodyState>();
    x->body->complete = true;
  }
  call_handler(x, m);
}

void Connection::keep_for_log(Exchange* x) {
  // Still in the FIFO, so not logged yet: its record is made after this read's buffer is
  // reused, and it needs the request's method, target and headers then.
  if (!loop_.logging() || !x->in_fifo || x->logged) [[likely]]
    return;
  x->req.keep_head();
}

void Connection::fail(int status, std::string_view text) {
  if (closing_) return;
  loop_.stats().bad_requests.add();
  if (parsing_ && parsing_->in_fifo) {
    fail_body(status, text);
    return;
  }
  Exchange* x = parsing_ ? parsing_ : loop_.exchanges().acquire();
  parsing_ = nullptr;
  leftover_.clear();
  close_requested_ = true;
  x->req.reset();
  x->req.peer = &peer_;
  if (loop_.logging()) x->arrived_ns = uv_hrtime();
  x->conn = this;
  x->state = ExchangeState::Open;
  x->close = true;
  push_fifo(x);
  loop_.stats().exchanges_in_flight.add();
  answer_error(x, status, text);
}

void Connection::reject(int status, std::string_view text) {
  fail(status, text);
}

// ---------------------------------------------------------------- answering in order

void Connection::push_fifo(Exchange* x) {
  x->in_fifo = true;
  x->next = nullptr;
  if (fifo_tail_)
    fifo_tail_->next = x;
  else
    fifo_head_ = x;
  fifo_tail_ = x;
  ++fifo_count_;
}

void Connection::pop_fifo_head() {
  Exchange* x = fifo_head_;
  fifo_head_ = x->next;
  if (!fifo_head_) fifo_tail_ = nullptr;
  x->next = nullptr;
  x->in_fifo = false;
  --fifo_count_;
  if (x == parsing_) [[unlikely]]
    parsing_ = nullptr;  // answered while its body still arrives (see abandon_body)
  if (x->refs == 0) loop_.exchanges().release(x);
  if (continue_for_) [[unlikely]]
    maybe_continue();  // one response fewer ahead of it
}

void Connection::flush_answered() {
  while (Exchange* x = fifo_head_) {
    if (x->state == ExchangeState::Answered && x->body_moved) {
      // It leaves with its own buffer, after what is pending: on_write comes back here.
      if (write_ && write_->active) return;
      held_bytes_ -= x->out.size();
      write_moved_response(x, x->status, std::move(x->out), x->content_type);
      if (closing_) return;  // the write failed and closed us: the FIFO (and `x`) are gone
      pop_fifo_head();
    } else if (x->state == ExchangeState::Answered) {
      write_response(x, x->status, x->out, x->content_type);
      pop_fifo_head();
    } else if (x->state == ExchangeState::Streaming) {
      // A stream holds the head until it ends: what follows waits behind it.
      if (!x->stream->head_written) write_stream_head(x);
      if (!x->stream->ended) return;
      finish_stream(x);
    } else {
      return;
    }
  }
}

ResponseParts Connection::head_parts(const Exchange* x, int status,
                                     std::string_view content_type) const {
  // The connection's last response says so: once it takes no more requests, that is the
  // one at the tail. An earlier one never does, so every response already answered (send()
  // returned true) still goes out in order before the connection closes.
  const bool last = close_requested_ && x == fifo_tail_;
  ResponseParts parts;
  parts.status = status;
  parts.content_type = content_type;
  parts.extra_headers = x->headers;
  parts.date_line = x->user_date ? std::string_view() : loop_.date().line();
  parts.server_line = x->user_server ? std::string_view() : loop_.server_line();
  parts.head_only = x->head_only;
  parts.connection = last                ? ConnectionHeader::Close
                     : x->req.minor == 0 ? ConnectionHeader::KeepAlive
                                         : ConnectionHeader::None;
  return parts;
}

void Connection::write_response(Exchange* x, int status, std::string_view body,
                                std::string_view content_type) {
  ResponseParts parts = head_parts(x, status, content_type);
  parts.body = body;
  std::string& out = loop_.cork(this);
  if (!loop_.logging()) [[likely]] {
    append_response(out, parts);
    return;
  }
  const size_t before = out.size();
  append_response(out, parts);
  const bool bodyless = x->head_only || status < 200 || status == 204 || status == 304;
  const uint64_t body_bytes = bodyless ? 0 : body.size();
  loop_.log_response(x, status, out.size() - before - body_bytes, body_bytes);
}

void Connection::write_moved_response(Exchange* x, int status, std::string&& body,
                                      std::string_view content_type) {
  // The head announces the body's length and goes into the cork; the body follows it in the
  // same write from its own buffer.
  ResponseParts parts = head_parts(x, status, content_type);
  parts.body = body;
  parts.head_only = true;
  std::string& out = loop_.cork(this);
  const size_t before = out.size();
  append_response(out, parts);
  if (loop_.logging()) [[unlikely]]
    loop_.log_response(x, status, out.size() - before, body.size());
  loop_.flush_cork_with(this, std::move(body));
}

bool Connection::answer_moved(Exchange* x, int status, std::string&& body,
                              std::string_view content_type) {
  // Small bodies are cheaper to copy into the cork than to write from a buffer of their own;
  // HEAD and bodyless statuses send no body at all.
  if (body.size() < kMoveBodyBytes || x->head_only || !valid_final_status(status) ||
      status == 204 || status == 304) {
    return answer(x, status, body, content_type);
  }
  const Released released = begin_answer(x, status);
  x->body_moved = true;
  if (x == fifo_head_ && !(write_ && write_->active)) {
    // Written now, from inside send(): a write that fails closes the connection, which takes
    // the FIFO with it (the caller's reference keeps `x`).
    write_moved_response(x, status, std::move(body), content_type);
    if (closing_) return true;
    pop_fifo_head();  // may return `x` to the pool (the caller holds a reference)
    flush_answered();
  } else {
    // Behind earlier responses or a pending write: the body waits in the exchange, moved.
    x->status = static_cast<uint16_t>(status);
    x->out = std::move(body);
    x->content_type.assign(content_type);
    held_bytes_ += x->out.size();  // unsent output: it counts for backpressure
  }
  after_progress();
  return true;
}

Connection::Released Connection::begin_answer(Exchange* x, int status) {
  Released released;
  released.body = abandon_body(x);  // first: it may make this the connection's last answer
  loop_.disarm_deadline(x);
  if (x->close) close_requested_ = true;  // no more requests; the last response says close
  x->state = ExchangeState::Answered;
  loop_.stats().responses_by_class[status / 100].add();
  loop_.stats().exchanges_in_flight.sub();
  // Answered: its on_close callbacks can never run. They go with the caller's scope, so that
  // one capturing the Response cannot keep the exchange alive.
  if (!x->on_close.empty()) [[unlikely]]
    released.on_close.swap(x->on_close);
  return released;
}

bool Connection::answer(Exchange* x, int status, std::string_view body,
                        std::string_view content_type) {
  if (!valid_final_status(status)) {
    answer_error(x, 500, "the handler sent an invalid status code");
    return false;
  }
  // The released callbacks die at the end of this call, when nothing here touches `x` any
  // more (the caller holds a reference).
  const Released released = begin_answer(x, status);
  if (x == fifo_head_) {
    write_response(x, status, body, content_type);
    pop_fifo_head();  // may return `x` to the pool (fail() holds no reference)
    flush_answered();
  } else {
    // Written once the exchanges before it are: the handler's views die with this call, so
    // the body and type are kept; the head is made then, when it is known whether this is
    // the connection's last response.
    x->status = static_cast<uint16_t>(status);
    x->out.assign(body);
    x->content_type.assign(content_type);
  }
  after_progress();
  return true;
}

void Connection::answer_error(Exchange* x, int status, std::string_view text,
                              std::string_view extra_header) {
  // The server's own answer replaces whatever the handler had prepared.
  x->user_server = x->user_date = false;
  if (status != 405) x->headers.clear();
  x->headers.append(extra_header);
  char body[160];
  int n = std::snprintf(body, sizeof body, "%.*s\n", static_cast<int>(text.size()), text.data());
  size_t len = n < 0 ? 0 : std::min(static_cast<size_t>(n), sizeof body - 1);
  answer(x, status, std::string_view(body, len), "text/plain");
}

void Connection::expire(Exchange* x) {
  ++x->refs;
  // Taken before the 504, which releases the callbacks of an answered exchange; run after it,
  // so that a callback finds the handle dead rather than answering in its place.
  std::vector<std::function<void()>> callbacks;
  callbacks.swap(x->on_close);
  answer_error(x, 504, "the response deadline passed");
  run_close_callbacks(x, callbacks);
  exchange_unref(x);
}

void Connection::after_progress() {
  if (closing_ || lingering_) return;
  if (close_requested_ && fifo_count_ == 0) {
    loop_.flush_cork_if(this);
    if (closing_) return;
    if (write_ && write_->active) return;  // on_write comes back here when drained
    if (peer_eof_) {
      close();
      return;
    }
    start_linger();
    return;
  }
  maybe_resume();
  update_timeout(false, false);
  maybe_writable();
}

// ---------------------------------------------------------------- backpressure

void Connection::pause_reading() {
  if (read_paused_) return;
  read_paused_ = true;
  uv_read_stop(stream());
}

void Connection::maybe_resume() {
  if (!read_paused_ || in_process_ || closing_ || close_requested_ || !can_read()) return;
  read_paused_ = false;
  if (!leftover_.empty()) {
    process(leftover_.data(), leftover_.data() + leftover_.size(), true);
    if (closing_ || read_paused_ || close_requested_) return;
  }
  // In memory there is no socket to read from (starting one fails): feed() brings the bytes.
  if (!in_memory_ && uv_read_start(stream(), on_alloc, on_read) != 0) close();
}

// ---------------------------------------------------------------- closing

void Connection::begin_drain() {
  if (closing_) return;
  // A response still in the cork counts: closing now would drop it.
  bool busy =
      fifo_count_ > 0 || receiving() || (write_ && write_->active) || loop_.corked_bytes(this) > 0;
  if (!busy) {
    close();
    return;
  }
  // A request still arriving is taken (dispatch marks it Connection: close); in-flight ones
  // are answered; then the connection closes. A streamed body already handed to its handler
  // is read to its end, and its response closes the connection.
  if (parsing_ && parsing_->in_fifo) {
    parsing_->close = true;
  } else {
    if (!receiving()) close_requested_ = true;
    if (fifo_count_ > 0) close_requested_ = true;
  }
  after_progress();
}

void Connection::on_timeout(TimeoutKind kind) {
  HttpStats& s = loop_.stats();
  switch (kind) {
    case TimeoutKind::Header:
      s.header_timeouts.add();
      fail(408, "request head not received in time");
      break;
    case TimeoutKind::Body:
      s.body_timeouts.add();
      fail(408, "request body not received in time");
      break;
    case TimeoutKind::Idle:
      s.idle_timeouts.add();
      close();
      break;
    case TimeoutKind::Write:
      s.write_timeouts.add();
      close();
      break;
    case TimeoutKind::Linger:
    case TimeoutKind::None:
      close();
      break;
  }
}

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  loop_.arm(this, TimeoutKind::None);
  loop_.drop_cork(this);
  uv_read_stop(stream());
  if (parsing_ && !parsing_->in_fifo) loop_.exchanges().release(parsing_);
  parsing_ = nullptr;  // else a streamed body's exchange: the FIFO ends it
  continue_for_ = nullptr;
  abandon_fifo();
  loop_.connection_closed(this);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_closed);
}

void Connection::abandon_fifo() {
  Exchange* x = fifo_head_;
  fifo_head_ = fifo_tail_ = nullptr;
  fifo_count_ = 0;
  abandon_chain(x);
}

void Connection::abandon_after(Exchange* last) {
  Exchange* x = last->next;
  last->next = nullptr;
  fifo_tail_ = last;
  for (Exchange* y = x; y; y = y->next) --fifo_count_;
  abandon_chain(x);
}

void Connection::abandon_chain(Exchange* x) {
  while (x) {
    Exchange* next = x->next;
    x->next = nullptr;
    x->in_fifo = false;
    const bool was_open = x->state == ExchangeState::Open;
    const bool was_streaming = x->state == ExchangeState::Streaming && !x->stream->ended;
    if (loop_.logging() && !x->logged) [[unlikely]]
      log_unanswered(x);
    if (x->body_moved && x->state == ExchangeState::Answered) held_bytes_ -= x->out.size();
    if (was_open) loop_.stats().exchanges_in_flight.sub();
    if (was_streaming) stream_ended(x, /*cut=*/true);
    x->state = ExchangeState::Dead;
    x->conn = nullptr;
    // A handle may keep the exchange, and a Request copy with it (misuse): it must not reach
    // this connection's address or leftover bytes once the connection is freed.
    x->req.peer = nullptr;
    if (x != parsing_) x->req.forget_head();  // the parser may still detach its head
    loop_.disarm_deadline(x);
    // Its on_close callbacks (user code, which may answer other exchanges) run when the loop
    // settles, never in here: this may be deep inside a write or another exchange's answer.
    if (was_open || was_streaming) loop_.defer_close_callbacks(x);
    if (x->refs == 0) loop_.exchanges().release(x);  // else a handle still holds it
    x = next;
  }
}

void Connection::log_unanswered(Exchange* x) {
  // Taken but never (fully) sent: nginx's 499, or a stream cut after its head went out.
  if (x->stream && x->stream->head_written) {
    loop_.log_response(x, x->status, x->stream->head_bytes, x->stream->body_bytes, true, false);
  } else {
    loop_.log_response(x, 499, 0, 0, x->stream != nullptr, false);
  }
}

void Connection::on_closed(uv_handle_t* h) {
  delete static_cast<Connection*>(h->data);
}

void Connection::update_timeout(bool read_activity, bool write_activity) {
  if (closing_) return;
  TimeoutKind want;
  if (lingering_) {
    want = TimeoutKind::Linger;
  } else if (write_ && write_->active) {
    want = TimeoutKind::Write;
  } else if (fifo_count_ > 0) {
    // The server owes an answer: the client is not late. Unless it owes the server the body
    // of a streamed request that is ready for it.
    const bool body_due = parsing_ && parsing_->in_fifo && !body_waiting();
    want = body_due ? TimeoutKind::Body : TimeoutKind::None;
  } else if (receiving()) {
    want = body_parser_ ? TimeoutKind::Body : TimeoutKind::Header;
  } else {
    want = TimeoutKind::Idle;
  }
  // Header and linger deadlines run from their start however the client trickles bytes;
  // idle, body and write deadlines measure a gap, so activity restarts them.
  bool restart = ((want == TimeoutKind::Idle || want == TimeoutKind::Body) && read_activity) ||
                 (want == TimeoutKind::Write && write_activity);
  if (want == timeout_kind && !restart) return;
  loop_.arm(this, want);
}

}  // namespace tether::detail
