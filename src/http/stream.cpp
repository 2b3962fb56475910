// Stream and EventStream: handles to a streamed response (see tether/stream.hpp). The body's
// framing and pacing live in connection_stream.cpp; these check the thread and the state.
#include "tether/stream.hpp"

#include <algorithm>
#include <charconv>
#include <string>

#include "http/ascii.hpp"
#include "http/connection.hpp"
#include "http/event_frame.hpp"
#include "http/handle_rules.hpp"
#include "http/http_loop.hpp"
#include "http/stream_access.hpp"

namespace tether {
namespace {

using detail::Exchange;
constexpr const char* kType = "Stream";

bool is_writable(const Exchange* x) {
  return x->state == detail::ExchangeState::Streaming && x->conn && !x->stream->ended;
}

bool has_line_break(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

}  // namespace

Stream::Stream(Exchange* x) : x_(x) {
  if (x_) ++x_->refs;  // made by the loop, on its thread
}

Stream::Stream(const Stream& other) : x_(detail::handle::copy(other.x_, kType)) {}

Stream::Stream(Stream&& other) noexcept {
  if (!other.x_ || !detail::handle::may_move(other.x_, kType)) return;
  x_ = other.x_;
  other.x_ = nullptr;
}

Stream& Stream::operator=(const Stream& other) {
  if (this != &other) {
    Stream copy(other);
    std::swap(x_, copy.x_);
  }
  return *this;
}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    Stream moved(std::move(other));
    std::swap(x_, moved.x_);
  }
  return *this;
}

Stream::~Stream() {
  if (x_) detail::handle::drop(x_, kType);
}

StreamWrite Stream::write(std::string_view bytes) {
  Exchange* x = detail::StreamAccess::open(*this, "write()");
  if (!x) return StreamWrite::Closed;
  return x->conn->stream_write(x, bytes);
}

bool Stream::trailer(std::string_view name, std::string_view value) {
  Exchange* x = detail::StreamAccess::open(*this, "trailer()");
  if (!x || !detail::is_token(name) || !detail::is_field_value(value)) return false;
  auto& trailers = x->stream->trailers;
  if (!trailers) trailers = std::make_unique<std::string>();
  trailers->append(name).append(": ").append(value).append("\r\n");
  return true;
}

bool Stream::end() {
  Exchange* x = detail::StreamAccess::open(*this, "end()");
  if (!x) return false;
  ++x->refs;  // ending may pop it from the FIFO; it must not be recycled under us
  x->conn->stream_end(x);
  detail::exchange_unref(x);
  return true;
}

bool Stream::on_writable(std::function<void()> cb) {
  Exchange* x = detail::StreamAccess::open(*this, "on_writable()");
  if (!x) return false;
  x->conn->stream_on_writable(x, std::move(cb));
  return true;
}

bool Stream::on_close(std::function<void()> cb) {
  Exchange* x = detail::StreamAccess::open(*this, "on_close()");
  if (!x) return false;
  x->on_close.push_back(std::move(cb));
  return true;
}

bool Stream::after(std::chrono::milliseconds delay, std::function<void()> cb) {
  Exchange* x = detail::StreamAccess::open(*this, "after()");
  if (!x) return false;
  x->loop->stream_timer(x, static_cast<uint64_t>(std::max<int64_t>(0, delay.count())),
                        std::move(cb));
  return true;
}

bool Stream::alive() const {
  return x_ && detail::handle::owned(x_, kType, "alive()") && is_writable(x_);
}

size_t Stream::buffered() const {
  if (!alive()) return 0;
  return x_->conn->stream_backlog(x_);
}

// ---------------------------------------------------------------- server-sent events

StreamWrite EventStream::send(std::string_view data, std::string_view event, std::string_view id) {
  if (!detail::event_fields_ok(event, id))
    return alive() ? StreamWrite::Invalid : StreamWrite::Closed;
  std::string frame;
  detail::append_event(frame, data, event, id);
  return stream_.write(frame);
}

StreamWrite EventStream::comment(std::string_view text) {
  if (has_line_break(text)) return alive() ? StreamWrite::Invalid : StreamWrite::Closed;
  std::string frame;
  frame.reserve(text.size() + 4);
  frame.append(": ").append(text).append("\n\n");
  return stream_.write(frame);
}

StreamWrite EventStream::retry(uint32_t ms) {
  char digits[16];
  auto r = std::to_chars(digits, digits + sizeof digits, ms);
  std::string frame("retry: ");
  frame.append(digits, static_cast<size_t>(r.ptr - digits)).append("\n\n");
  return stream_.write(frame);
}

namespace detail {

Exchange* StreamAccess::open(const Stream& s, const char* operation) {
  Exchange* x = handle::acting(s.x_, kType, operation);
  if (!x) return nullptr;
  if (!is_writable(x)) {
    x->loop->stats().responses_dropped.add();
    return nullptr;
  }
  return x;
}

}  // namespace detail
}  // namespace tether
