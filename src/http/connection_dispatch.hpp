// The steps of handing a request to its handler (routing, entering the FIFO, the call), shared
// by a request dispatched whole (connection.cpp) and one routed at its head
// (connection_body.cpp). Inline: they are the request path, and a call per step costs more
// than the steps themselves.
#pragma once

#include "http/connection.hpp"
#include "http/http_loop.hpp"
#include "tether/request.hpp"

namespace tether::detail {

// Splits the target into path and query. Absolute-form ("http://host/p?q") routes on its
// path; "*" (OPTIONS *) and authority-form (CONNECT) keep the whole target as the path.
[[gnu::always_inline]] inline void split_target(RequestData& r) {
  std::string_view t = r.view(r.target);
  std::string_view pq = t;
  if (!t.empty() && t.front() != '/' && t != "*") {
    size_t scheme = t.find("://");
    if (scheme != std::string_view::npos) {
      size_t start = t.find_first_of("/?", scheme + 3);
      pq = start == std::string_view::npos ? std::string_view() : t.substr(start);
    }
  }
  size_t q = pq.find('?');
  r.path = pq.substr(0, q);
  r.query = q == std::string_view::npos ? std::string_view() : pq.substr(q + 1);
  if (r.path.empty()) r.path = "/";
}

[[gnu::always_inline]] inline void Connection::route(Exchange* x, RouteMatch& m) {
  RequestData& r = x->req;
  if (!r.routed) split_target(r);
  loop_.router().match(r.method, r.path, m);
  r.route_options = m.options;
  r.routed = true;
}

[[gnu::always_inline]] inline void Connection::admit(Exchange* x, bool bad) {
  if (loop_.logging()) [[unlikely]]
    x->arrived_ns = uv_hrtime();
  x->req.peer = &peer_;
  x->conn = this;
  x->state = ExchangeState::Open;
  push_fifo(x);
  progressed_ = true;
  (bad ? loop_.stats().bad_requests : loop_.stats().requests).add();
  loop_.stats().exchanges_in_flight.add();
  x->head_only = x->req.method == Method::Head;
  if (!x->req.keep_alive || loop_.draining()) x->close = true;
}

[[gnu::always_inline]] inline void Connection::call_handler(Exchange* x, const RouteMatch& m) {
  ++x->refs;  // the handler's Response may be destroyed inside the call; x must outlive it
  x->req.route = &m;
  run_user_code(x, "handler", [&] {
    Request req(x->req);
    (*m.handler)(req, ResponseAccess::make(x));
  });
  x->req.route = nullptr;
  if (x->stream) [[unlikely]]
    shed_request(x);
  if (x->state == ExchangeState::Open && x->conn && x->parked_waits == 0) {
    if (!x->body) {
      loop_.arm_deadline(x);
    } else {
      body_wait_changed(x);
    }
  }
  keep_for_log(x);
  // Answered later (parked, streaming) or held by a handle: a Request kept with it must not
  // read the buffers the next reads reuse. An exchange answered in the call and let go (the
  // common case) is not touched.
  if ((x->refs > 1 || x->state == ExchangeState::Open || x->state == ExchangeState::Streaming) &&
      x != parsing_ && !loop_.logging()) [[unlikely]]
    x->req.forget_head();
  exchange_unref(x);
}

}  // namespace tether::detail
