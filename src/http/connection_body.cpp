// Requests with a body are routed as soon as their head is complete, before any of the body is
// read: what the server will not take is answered at once, `100 Continue` goes only to a
// request its route takes, and a `stream_body` route gets its body piece by piece, reading
// paused while its reader is behind.
#include "http/connection.hpp"
#include "http/connection_dispatch.hpp"
#include "http/http_loop.hpp"

namespace tether::detail {
namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace

void Connection::route_head(RequestParser& parser, bool body_started) {
  Exchange* x = parsing_;
  RouteScope scope(loop_);
  const RouteMatch& m = scope.match();
  route(x, scope.match());
  const uint64_t default_limit = loop_.options().max_body_bytes;
  if (!m.handler) {
    // A small body already on its way is read and dropped, and the answer waits for it, so
    // that the connection stays usable. A client waiting for 100 Continue, a chunked body or
    // one over the default limit gets the answer now, and the connection closes.
    if (parser.wants_continue() || !parser.has_length() ||
        parser.content_length() > default_limit) {
      if (m.path_found) {
        x->headers.append("Allow: ").append(Router::allow_header(m.allowed)).append("\r\n");
        refuse_head(x, 405, "method not allowed for this path");
      } else {
        refuse_head(x, 404, "no route for this path");
      }
    }
    return;
  }
  const RouteOptions& ro = *m.options;
  const uint64_t limit = ro.max_body_bytes != 0 ? ro.max_body_bytes : default_limit;
  if (parser.has_length() && parser.content_length() > limit) {
    refuse_head(x, 413, "request body too large");
    return;
  }
  parser.set_body_limit(limit);
  // A client that has started sending its body is not waiting for leave to (RFC 9110 10.1.1).
  const bool wants_continue = parser.wants_continue() && !body_started;
  if (ro.stream_body) {
    start_body(x, parser, m, wants_continue);
    return;
  }
  // Only with nothing owed before it: a 100 must not overtake earlier responses.
  if (wants_continue) {
    continue_for_ = x;
    maybe_continue();
  }
}

void Connection::maybe_continue() {
  Exchange* x = continue_for_;
  if (x != parsing_ || (x->body && (x->body->over || x->body->complete))) {
    continue_for_ = nullptr;  // its body is over, or it never came
    return;
  }
  // A streamed body's request is in the FIFO: it must be at its head, with its reader there.
  const bool ahead = x->in_fifo ? x != fifo_head_ || !x->body->reader : fifo_count_ > 0;
  if (ahead) return;
  continue_for_ = nullptr;
  loop_.cork(this).append(kContinue);
}

void Connection::refuse_head(Exchange* x, int status, std::string_view text) {
  parsing_ = nullptr;
  admit(x, /*bad=*/status == 413);
  // Its body is never read: the connection cannot find the next request's start.
  x->close = true;
  close_requested_ = true;
  answer_error(x, status, text);
  keep_for_log(x);
}

void Connection::start_body(Exchange* x, RequestParser& parser, const RouteMatch& m,
                            bool wants_continue) {
  x->body = std::make_unique<BodyState>();
  x->body->wants_continue = wants_continue;
  parser.stream_body();
  // In the FIFO from now, and still the parser's target (`parsing_`) until its last byte. No
  // more requests after it is decided at that byte, not now: its body must still be read.
  admit(x);
  call_handler(x, m);
}

void Connection::deliver_body(RequestParser& parser) {
  Exchange* x = parsing_;
  if (!x || !x->body || x->body->over) {
    parser.clear_piece();
    return;
  }
  BodyState& b = *x->body;
  ++x->refs;
  // Out of the state while it runs: an answer from inside it releases the body's callbacks,
  // and this one must not be destroyed under its own feet.
  std::function<bool(std::string_view)> on_data = std::move(b.on_data);
  b.on_data = nullptr;
  bool more = true;
  run_user_code(x, "read_body callback", [&] { more = on_data(parser.piece()); });
  parser.clear_piece();
  if (!b.over) {
    b.on_data = std::move(on_data);
    if (!more) {
      b.paused = true;
      body_wait_changed(x);
    }
  }
  on_data = nullptr;  // before our reference goes
  exchange_unref(x);
}

void Connection::end_body(Exchange* x) {
  BodyState& b = *x->body;
  b.complete = true;
  if (!x->req.keep_alive) x->close = true;
  if (x->close) close_requested_ = true;  // no more requests after this one
  if (b.over || b.waiting()) return;      // on_end once its reader is back
  finish_body(x);
}

void Connection::finish_body(Exchange* x) {
  BodyState& b = *x->body;
  b.over = true;
  std::function<void()> on_end = std::move(b.on_end);
  std::function<bool(std::string_view)> on_data = std::move(b.on_data);
  ++x->refs;
  if (on_end) run_user_code(x, "read_body callback", on_end);
  // The handler has had the whole body: its time to answer runs from now.
  if (x->state == ExchangeState::Open && x->conn && x->parked_waits == 0) loop_.arm_deadline(x);
  on_end = nullptr;
  on_data = nullptr;
  exchange_unref(x);
}

void Connection::fail_body(int status, std::string_view text) {
  Exchange* x = parsing_;
  parsing_ = nullptr;
  leftover_.clear();
  close_requested_ = true;
  x->close = true;
  ++x->refs;
  BodyCallbacks dropped = release_body(x);
  if (x->state == ExchangeState::Open) {
    // As for an expired deadline: taken before the answer releases them, run after it.
    std::vector<std::function<void()>> callbacks;
    callbacks.swap(x->on_close);
    answer_error(x, status, text);
    run_close_callbacks(x, callbacks);
  } else {
    after_progress();
  }
  dropped = {};
  exchange_unref(x);
}

Connection::BodyCallbacks Connection::release_body(Exchange* x) {
  BodyState& b = *x->body;
  b.over = true;
  return {std::move(b.on_data), std::move(b.on_end)};
}

Connection::BodyCallbacks Connection::abandon_body(Exchange* x) {
  if (!x->body || x->body->over) [[likely]]
    return {};
  if (!x->body->complete) {
    // The rest of the body is never read: no request can follow it.
    x->close = true;
    if (x == parsing_) parsing_ = nullptr;
    leftover_.clear();
    if (!in_process_) body_parser_.reset();
  }
  return release_body(x);
}

bool Connection::body_waiting() const {
  return parsing_ && parsing_->body && parsing_->body->waiting();
}

void Connection::body_wait_changed(Exchange* x) {
  if (x->body->waiting()) {
    // Reading goes on into leftover_ up to one buffer, so that a client that leaves is still
    // seen (a stopped socket reports neither FIN nor RST); past that, TCP holds it back.
    if (leftover_.size() >= kBodyReadAhead) pause_reading();
    if (x->state == ExchangeState::Open && x->conn && x->parked_waits == 0) {
      loop_.arm_deadline(x);
    }
  } else {
    loop_.disarm_deadline(x);
  }
  update_timeout(false, false);
}

bool Connection::read_body(Exchange* x, std::function<bool(std::string_view)> on_data,
                           std::function<void()> on_end) {
  if (!x->body || x->body->reader || x->body->over || !on_data) return false;
  BodyState& b = *x->body;
  b.reader = true;
  b.on_data = std::move(on_data);
  b.on_end = std::move(on_end);
  if (b.wants_continue) {
    b.wants_continue = false;
    continue_for_ = x;
    maybe_continue();
  }
  loop_.defer_body(x);
  return true;
}

bool Connection::resume_body(Exchange* x) {
  if (!x->body || x->body->over || !x->body->paused) return false;
  x->body->paused = false;
  loop_.defer_body(x);
  return true;
}

void Connection::continue_body(Exchange* x) {
  if (x->state != ExchangeState::Open || x->conn != this || x->body->over) return;
  if (x->body->waiting()) return;  // paused again meanwhile
  if (x->body->complete) {
    finish_body(x);
    return;
  }
  body_wait_changed(x);
  if (!read_paused_ && !leftover_.empty() && !in_process_) {
    process(leftover_.data(), leftover_.data() + leftover_.size(), true);  // read ahead
    return;
  }
  maybe_resume();
}

}  // namespace tether::detail
