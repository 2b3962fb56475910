#include "exchange.hpp"

#include <cstdio>
#include <exception>

#include "connection.hpp"
#include "loop.hpp"

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
  in_fifo = head_only = close = user_server = user_date = deadline_owned = false;
  req.reset();
  headers.clear();
  out.clear();
  on_close.clear();
  deadline = 0;
  trim(req.body_store);
  trim(req.head_store);
  trim(out);
}

ExchangePool::~ExchangePool() {
  for (Exchange* x : free_) delete x;
}

Exchange* ExchangePool::acquire() {
  if (free_.empty()) {
    ++allocated_;
    return new Exchange(loop_);
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
  std::fprintf(stderr, "tether: %s threw: %s\n", where, what);
  if (x->state == ExchangeState::Open && x->conn)
    x->conn->answer_error(x, 500, "internal server error");
}

void exchange_closed(Exchange* x) {
  if (x->on_close.empty()) return;
  std::vector<std::function<void()>> callbacks;
  callbacks.swap(x->on_close);
  ++x->refs;  // a callback may drop the last Response handle
  for (auto& cb : callbacks) {
    try {
      cb();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "tether: on_close callback threw: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "tether: on_close callback threw\n");
    }
  }
  exchange_unref(x);
}

void exchange_unref(Exchange* x) {
  if (--x->refs > 0) return;
  if (x->state == ExchangeState::Open && x->conn) {
    ++x->refs;  // answering may pop it from the FIFO; it must not be recycled under us
    x->loop->stats().responses_abandoned.add();
    x->conn->answer_error(x, 500, "the handler dropped the response without sending it");
    --x->refs;
  }
  if (!x->in_fifo && x->state != ExchangeState::Receiving) x->loop->exchanges().release(x);
}

}  // namespace tether::detail
