#include "tether/response.hpp"

#include "http/ascii.hpp"
#include "http/connection.hpp"
#include "http/exchange.hpp"
#include "http/http_loop.hpp"

namespace tether {
namespace {

using detail::Anchor;
using detail::Exchange;
using detail::iequals;
using detail::is_tchar;

bool is_open(const Exchange* x) {
  return x->state == detail::ExchangeState::Open && x->conn != nullptr;
}

// Off the owner thread a handle may still be copied, moved or queried once its loop is gone
// (it is then dead and inert); while the loop lives every such call is refused and counted.
bool usable_elsewhere(Exchange* x, const char* operation) {
  Anchor::OffThread off(*x->anchor);
  if (off.retired()) return true;
  x->anchor->count_misuse("Response", operation);
  return false;
}

}  // namespace

Response::Response(Exchange* x) : x_(x) {
  if (x_) ++x_->refs;  // made by the loop, on its thread
}

Response::Response(const Response& other) {
  Exchange* x = other.x_;
  if (!x) return;
  if (x->anchor->owned_here()) [[likely]] {
    ++x->refs;
    x_ = x;
    return;
  }
  Anchor::OffThread off(*x->anchor);
  if (!off.retired()) {
    x->anchor->count_misuse("Response", "copied");
    return;  // the copy is an empty, dead handle
  }
  ++x->refs;  // a retired exchange's count is only ever touched under its anchor's lock
  x_ = x;
}

Response::Response(Response&& other) noexcept {
  Exchange* x = other.x_;
  if (!x) return;
  // A move touches no count, so a retired handle moves anywhere; a live one only on its
  // thread (refused, the source keeps it and its destruction is forwarded to the owner).
  if (!x->anchor->owned_here() && !x->anchor->retired() && !usable_elsewhere(x, "moved")) return;
  x_ = x;
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
  if (!x_) return;
  if (x_->anchor->owned_here()) [[likely]] {
    detail::exchange_unref(x_);
    return;
  }
  detail::exchange_unref_elsewhere(x_);
}

bool Response::alive() const {
  Exchange* x = x_;
  if (!x) return false;
  if (x->anchor->owned_here()) [[likely]]
    return is_open(x);
  usable_elsewhere(x, "alive()");
  return false;
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

bool Response::on_close(std::function<void()> cb) {
  Exchange* x = detail::ResponseAccess::open(*this, "on_close()");
  if (!x) return false;
  x->on_close.push_back(std::move(cb));
  return true;
}

namespace detail {

Exchange* ResponseAccess::open(const Response& r, const char* operation) {
  Exchange* x = r.x_;
  if (!x) return nullptr;
  if (!x->anchor->owned_here()) [[unlikely]] {
    Anchor::OffThread off(*x->anchor);
    if (off.retired())
      x->anchor->count_drop();  // the server is gone: like a client that left
    else
      x->anchor->count_misuse("Response", operation);
    return nullptr;
  }
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
  if (!x || name.empty()) return false;
  for (unsigned char c : name) {
    if (!is_tchar(c)) return false;
  }
  if (!detail::is_field_value(value)) return false;
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
