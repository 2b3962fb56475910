// Exchange: one request and its one response. Pooled per loop; kept alive by the connection's
// FIFO and by Response handles, so a handle never points at a recycled exchange.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "intrusive_list.hpp"

#include "request_data.hpp"

namespace tether::detail {

class Loop;
class Connection;

enum class ExchangeState : uint8_t {
  Receiving,  // being parsed
  Open,       // handed to a handler, not answered yet
  Answered,   // response serialized (maybe waiting in `out` for earlier ones)
  Dead,       // client left or server gone before an answer; nothing will be written
};

struct Exchange {
  explicit Exchange(Loop& l) : loop(&l) {}

  Loop* loop;
  /// Owning connection while in its FIFO; null once dead or detached.
  Connection* conn = nullptr;
  /// Next exchange of the same connection, in request order.
  Exchange* next = nullptr;
  /// Live Response handles (plus the dispatcher's guard during the handler call).
  uint32_t refs = 0;
  ExchangeState state = ExchangeState::Receiving;
  bool in_fifo = false;
  bool head_only = false;
  /// This response carries `Connection: close` and the connection closes after it.
  bool close = false;
  bool user_server = false;
  bool user_date = false;
  /// Something else guarantees the answer by its own deadline (a parked mailbox wait), so
  /// the response deadline does not apply.
  bool deadline_owned = false;
  RequestData req;
  /// User headers for the coming response, as "Name: value\r\n" lines.
  std::string headers;
  /// The serialized response while an earlier exchange of the connection is unanswered.
  std::string out;
  /// Run when the exchange ends unanswered by the handler (client left, or deadline).
  std::vector<std::function<void()>> on_close;
  /// On the loop's deadline list while Open after its handler returned.
  ListHook<Exchange> deadline_hook;
  uint64_t deadline = 0;

  void reset();
};

/// Free exchanges of one loop, reused so that steady-state requests allocate nothing.
class ExchangePool {
 public:
  explicit ExchangePool(Loop& loop) : loop_(loop) {}
  ~ExchangePool();
  ExchangePool(const ExchangePool&) = delete;
  ExchangePool& operator=(const ExchangePool&) = delete;

  Exchange* acquire();
  void release(Exchange* x);
  /// Exchanges alive (in use or in the free list).
  size_t allocated() const { return allocated_; }

 private:
  Loop& loop_;
  std::vector<Exchange*> free_;
  size_t allocated_ = 0;
};

/// User code for `x` threw: count it, log it, and answer 500 if `x` is still unanswered.
void user_code_failed(Exchange* x, const char* where, const char* what);

/// Runs user code for `x` (a handler, a continuation) at the boundary where its exceptions
/// stop: they never cross the loop.
template <class F>
void run_user_code(Exchange* x, const char* where, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    user_code_failed(x, where, e.what());
  } catch (...) {
    user_code_failed(x, where, "a non-standard exception");
  }
}

/// Runs (once) the exchange's on_close callbacks: it ended without the handler's answer.
void exchange_closed(Exchange* x);

/// Drops one reference; at zero, an unanswered exchange is answered 500 (abandoned) and an
/// exchange out of its connection's FIFO goes back to the pool.
void exchange_unref(Exchange* x);

}  // namespace tether::detail

#include "tether/response.hpp"

namespace tether::detail {

/// The one place that turns an exchange into a user-facing handle.
struct ResponseAccess {
  static Response make(Exchange* x) { return Response(x); }
  static Exchange* exchange(const Response& r) { return r.x_; }
  /// The exchange of a handle that can still answer (on its loop thread), or nullptr: every
  /// call on a dead handle does nothing and counts one dropped response.
  static Exchange* open(const Response& r);
};

}  // namespace tether::detail
