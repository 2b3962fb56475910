#include "http/exchange.hpp"

#include <cstdio>
#include <exception>

#include "http/connection.hpp"
#include "http/http_loop.hpp"

namespace tether::detail {
namespace {
// Buffers that grew past this (a large body or response) are given back when the exchange
// returns to the pool, so one big request does not pin memory for the life of the loop.
constexpr size_t kKeepCapacity = 64 * 1024;
constexpr size_t kMaxPooled = 4096;

void trim(std::string& s) {
  if (s.capacity() > kKeepCapacity) std::string().swap(s);
}
}  // namespace

void Exchange::reset() {
  conn = nullptr;
  next = nullptr;
  refs = 0;
  state = ExchangeState::Receiving;
  in_fifo = head_only = close = user_server = user_date = body_moved = false;
  parked_waits = 0;
  logged = false;
  arrived_ns = 0;
  req.reset();
  headers.clear();
  status = 0;
  out.clear();
  content_type.clear();
  on_close.clear();
  deadline = 0;
  stream.reset();
  body.reset();
  taken = false;
  trim(req.body_store);
  trim(req.head_store);
  trim(out);
  trim(content_type);
}

ExchangePool::~ExchangePool() {
  for (Exchange* x : free_) delete x;
}

Exchange* ExchangePool::acquire() {
  if (free_.empty()) {
    ++allocated_;
    return new Exchange(loop_, anchor_);
  }
  Exchange* x = free_.back();
  free_.pop_back();
  return x;
}

void ExchangePool::release(Exchange* x) {
  x->reset();
  if (free_.size() >= kMaxPooled) {
    --allocated_;
    delete x;
    return;
  }
  free_.push_back(x);
}

void user_code_failed(Exchange* x, const char* where, const char* what) {
  x->loop->stats().handler_exceptions.add();
  x->loop->core().log().write(LogLevel::Warning, "%s threw: %s", where, what);
  if (x->state == ExchangeState::Open && x->conn)
    x->conn->answer_error(x, 500, "internal server error");
}

void exchange_closed(Exchange* x) {
  std::vector<std::function<void()>> callbacks;
  callbacks.swap(x->on_close);
  // A stream's pacing callback can never run now. It goes too, here at the settle: it often
  // holds the Stream, which would keep the exchange (and itself) alive forever.
  std::function<void()> writable;
  if (x->stream) writable.swap(x->stream->on_writable);
  // So can a streamed body's callbacks, which often hold the Response.
  std::function<bool(std::string_view)> body_data;
  std::function<void()> body_end;
  if (x->body) {
    x->body->over = true;
    body_data.swap(x->body->on_data);
    body_end.swap(x->body->on_end);
  }
  run_close_callbacks(x, callbacks);
}

void run_close_callbacks(Exchange* x, std::vector<std::function<void()>>& callbacks) {
  if (callbacks.empty()) return;
  ++x->refs;  // a callback may drop the last Response handle
  for (auto& cb : callbacks) {
    try {
      cb();
    } catch (const std::exception& e) {
      x->loop->stats().handler_exceptions.add();
      x->loop->core().log().write(LogLevel::Warning, "on_close callback threw: %s", e.what());
    } catch (...) {
      x->loop->stats().handler_exceptions.add();
      x->loop->core().log().write(LogLevel::Warning, "on_close callback threw");
    }
  }
  callbacks.clear();  // what they captured goes before our reference does
  exchange_unref(x);
}

void exchange_unref(Exchange* x) {
  if (--x->refs > 0) return;
  if (x->conn && x->state == ExchangeState::Open) {
    ++x->refs;  // answering may pop it from the FIFO; it must not be recycled under us
    x->loop->stats().responses_abandoned.add();
    x->conn->answer_error(x, 500, "the handler dropped the response without sending it");
    --x->refs;
  } else if (x->conn && x->state == ExchangeState::Streaming && !x->stream->ended) {
    // Nobody can end it any more: its body stays incomplete, which only closing the
    // connection tells the client.
    ++x->refs;
    x->conn->cut_stream(x);
    if (--x->refs > 0) return;  // its on_close callbacks, due at the next settle, hold it
  }
  if (!x->in_fifo && x->state != ExchangeState::Receiving) x->loop->exchanges().release(x);
}

}  // namespace tether::detail
