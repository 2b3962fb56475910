#include "tether/response.hpp"

#include "http/ascii.hpp"
#include "http/connection.hpp"
#include "http/exchange.hpp"
#include "http/handle_rules.hpp"
#include "http/http_loop.hpp"
#include "http/stream_access.hpp"

namespace tether {
namespace {

using detail::Exchange;
constexpr const char* kType = "Response";

bool is_open(const Exchange* x) {
  return x->state == detail::ExchangeState::Open && x->conn != nullptr && !x->taken;
}

}  // namespace

Response::Response(Exchange* x) : x_(x) {
  if (x_) ++x_->refs;  // made by the loop, on its thread
}

Response::Response(const Response& other) : x_(detail::handle::copy(other.x_, kType)) {}

Response::Response(Response&& other) noexcept {
  if (!other.x_ || !detail::handle::may_move(other.x_, kType)) return;
  x_ = other.x_;  // a refused move leaves the source its handle (destroyed, it is forwarded)
  other.x_ = nullptr;
}

Response& Response::operator=(const Response& other) {
  if (this != &other) {
    Response copy(other);
    std::swap(x_, copy.x_);
  }
  return *this;
}

Response& Response::operator=(Response&& other) noexcept {
  if (this != &other) {
    Response moved(std::move(other));
    std::swap(x_, moved.x_);  // our old exchange leaves with `moved`
  }
  return *this;
}

Response::~Response() {
  if (x_) detail::handle::drop(x_, kType);
}

bool Response::alive() const {
  return x_ && detail::handle::owned(x_, kType, "alive()") && is_open(x_);
}

bool Response::send(int status, std::string_view body, std::string_view content_type) {
  Exchange* x = detail::ResponseAccess::open(*this, "send()");
  if (!x) return false;
  if (!detail::is_field_value(content_type)) [[unlikely]] {
    // Written into the head as it is: a CR LF in it would end the head early and let the
    // rest pass for more headers or a second response.
    x->conn->answer_error(x, 500, "the handler sent an invalid content type");
    return false;
  }
  return x->conn->answer(x, status, body, content_type);
}

bool Response::send_owned(int status, std::string&& body, std::string_view content_type) {
  Exchange* x = detail::ResponseAccess::open(*this, "send()");
  if (!x) return false;
  if (!detail::is_field_value(content_type)) [[unlikely]] {
    x->conn->answer_error(x, 500, "the handler sent an invalid content type");
    return false;
  }
  return x->conn->answer_moved(x, status, std::move(body), content_type);
}

Stream Response::stream(int status, std::string_view content_type) {
  Exchange* x = detail::ResponseAccess::open(*this, "stream()");
  return x ? detail::start_stream_of(x, status, content_type) : Stream();
}

EventStream Response::event_stream() {
  Exchange* x = detail::ResponseAccess::open(*this, "event_stream()");
  return x ? detail::start_events_of(x) : EventStream();
}

bool Response::read_body(std::function<bool(std::string_view)> on_data,
                         std::function<void()> on_end) {
  Exchange* x = detail::ResponseAccess::open(*this, "read_body()");
  return x && x->conn->read_body(x, std::move(on_data), std::move(on_end));
}

bool Response::resume_body() {
  Exchange* x = detail::ResponseAccess::open(*this, "resume_body()");
  return x && x->conn->resume_body(x);
}

bool Response::on_close(std::function<void()> cb) {
  Exchange* x = detail::ResponseAccess::open(*this, "on_close()");
  if (!x) return false;
  x->on_close.push_back(std::move(cb));
  return true;
}

namespace detail {

Stream start_stream_of(Exchange* x, int status, std::string_view content_type) {
  if (!is_field_value(content_type)) [[unlikely]] {
    x->conn->answer_error(x, 500, "the handler sent an invalid content type");
    return {};
  }
  if (!x->conn->start_stream(x, status, content_type)) return {};
  return StreamAccess::make(x);
}

EventStream start_events_of(Exchange* x) {
  x->headers.append("Cache-Control: no-cache\r\n");
  if (!x->conn->start_stream(x, 200, "text/event-stream")) return {};
  x->stream->events = true;
  if (!x->stream->ended) x->loop->arm_heartbeat(x);  // HEAD: over already
  return StreamAccess::make_events(StreamAccess::make(x));
}

Exchange* ResponseAccess::open(const Response& r, const char* operation) {
  Exchange* x = handle::acting(r.x_, kType, operation);
  if (!x) return nullptr;
  if (!is_open(x)) {
    x->loop->stats().responses_dropped.add();
    return nullptr;
  }
  return x;
}

bool start_job(Response& res, std::vector<std::unique_ptr<WorkItem>> items,
               std::unique_ptr<Finisher> fin) {
  Exchange* x = ResponseAccess::open(res, "offload()");
  return x && x->loop->jobs().start(x, std::move(items), std::move(fin));
}

}  // namespace detail

bool Response::set_header(std::string_view name, std::string_view value) {
  Exchange* x = detail::ResponseAccess::open(*this, "set_header()");
  if (!x || !detail::is_token(name) || !detail::is_field_value(value)) return false;
  using detail::iequals;
  if (iequals(name, "content-length") || iequals(name, "transfer-encoding")) return false;
  if (iequals(name, "connection")) {
    if (!iequals(value, "close")) return false;
    x->close = true;
    return true;
  }
  if (iequals(name, "server")) x->user_server = true;
  if (iequals(name, "date")) x->user_date = true;
  x->headers.append(name).append(": ").append(value).append("\r\n");
  return true;
}

}  // namespace tether
