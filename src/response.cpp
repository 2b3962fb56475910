#include "tether/response.hpp"

#include <cassert>

#include "ascii.hpp"
#include "connection.hpp"
#include "exchange.hpp"
#include "loop.hpp"

namespace tether {
namespace {

using detail::iequals;
using detail::is_tchar;

void check_thread([[maybe_unused]] const detail::Exchange* x) {
  assert(x->loop->on_loop_thread() && "tether::Response used off its loop thread");
}

bool is_open(const detail::Exchange* x) {
  return x && x->state == detail::ExchangeState::Open && x->conn != nullptr;
}

}  // namespace

Response::Response(detail::Exchange* x) : x_(x) {
  if (x_) ++x_->refs;
}

Response::Response(const Response& other) : x_(other.x_) {
  if (x_) {
    check_thread(x_);
    ++x_->refs;
  }
}

Response::Response(Response&& other) noexcept : x_(other.x_) {
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
    Response old(std::move(*this));
    x_ = other.x_;
    other.x_ = nullptr;
  }
  return *this;
}

Response::~Response() {
  if (x_) {
    check_thread(x_);
    detail::exchange_unref(x_);
  }
}

bool Response::alive() const {
  return is_open(x_);
}

bool Response::send(int status, std::string_view body, std::string_view content_type) {
  detail::Exchange* x = detail::ResponseAccess::open(*this);
  return x && x->conn->answer(x, status, body, content_type);
}

bool Response::on_close(std::function<void()> cb) {
  detail::Exchange* x = detail::ResponseAccess::open(*this);
  if (!x) return false;
  x->on_close.push_back(std::move(cb));
  return true;
}

namespace detail {

Exchange* ResponseAccess::open(const Response& r) {
  Exchange* x = r.x_;
  if (!x) return nullptr;
  check_thread(x);
  if (!is_open(x)) {
    x->loop->stats().responses_dropped.add();
    return nullptr;
  }
  return x;
}

bool start_job(Response& res, std::vector<std::unique_ptr<WorkItem>> items,
               std::unique_ptr<Finisher> fin) {
  Exchange* x = ResponseAccess::open(res);
  return x && x->loop->start_job(x, std::move(items), std::move(fin));
}

}  // namespace detail

bool Response::set_header(std::string_view name, std::string_view value) {
  detail::Exchange* x = detail::ResponseAccess::open(*this);
  if (!x || name.empty()) return false;
  for (unsigned char c : name) {
    if (!is_tchar(c)) return false;
  }
  for (unsigned char c : value) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
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
