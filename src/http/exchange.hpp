// Exchange: one request and its one response. Pooled per loop; kept alive by the connection's
// FIFO and by Response handles, so a handle never points at a recycled exchange. An exchange
// still held by a handle when its loop goes is left behind, dead and inert, and freed by its
// last handle on whatever thread (under its anchor's lock): see anchor.hpp.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/anchor.hpp"
#include "core/intrusive_list.hpp"
#include "http/request_data.hpp"

namespace tether::detail {

class HttpLoop;
class Connection;

enum class ExchangeState : uint8_t {
  Receiving,  // being parsed
  Open,       // handed to a handler, not answered yet
  Streaming,  // answered with a stream: its body is being written (Response::stream)
  Answered,   // response serialized (maybe waiting in `out` for earlier ones)
  Dead,       // client left or server gone before an answer; nothing will be written
};

/// A streamed response's state, made when the stream starts (Response::stream). Kept small:
/// an open event stream costs its connection, its exchange and this.
struct StreamState {
  std::function<void()> on_writable;
  std::unique_ptr<std::string> trailers;  // "Name: value\r\n" lines for the last chunk
  /// For the access log: the payload written (no chunk framing), and the head as serialized.
  uint64_t body_bytes = 0;
  /// The stream layer's interest in this stream: the topic subscriber list holding it, or
  /// the id of the worker producer writing it.
  void* subscription = nullptr;
  uint64_t producer = 0;
  uint32_t head_bytes = 0;
  bool chunked : 1 = false;       // HTTP/1.1; HTTP/1.0 bodies end with the connection
  bool head_written : 1 = false;  // reached the FIFO head: head and body go straight to output
  bool ended : 1 = false;         // end() called: the last chunk follows what is buffered
  bool cut : 1 = false;           // ended without end(): no last chunk, the connection closes
  bool events : 1 = false;        // an EventStream: heartbeats, and ended when the server stops
  bool writable_due : 1 = false;  // queued on the loop to run on_writable at the next settle
  /// The stream layer holds it (`subscription` or `producer`): the loop's stream-end hook
  /// (HttpLoop::set_stream_end_hook) is told once when it is over, however it ends, so that
  /// it lets go. That runs deep inside a write or a close: it may only unlink and defer,
  /// never run user code or drop a reference.
  bool watched : 1 = false;
};

/// The body of a request on a `stream_body` route, delivered as it arrives (made when its
/// head is routed, before the handler runs).
struct BodyState {
  std::function<bool(std::string_view)> on_data;
  std::function<void()> on_end;
  bool reader = false;          // read_body() was called
  bool paused = false;          // on_data asked to wait for resume_body()
  bool complete = false;        // its last byte has been parsed
  bool over = false;            // ended (on_end ran), failed or abandoned: no more callbacks
  bool due = false;             // queued on the loop to go on at the next settle
  bool wants_continue = false;  // the client waits for 100 Continue: sent by read_body()
  /// Waits for its reader: reading stops, and the response deadline runs.
  bool waiting() const { return !over && (!reader || paused); }
};

struct Exchange {
  Exchange(HttpLoop& l, Anchor* a) : loop(&l), anchor(a) { anchor->retain(); }
  ~Exchange() { anchor->release(); }
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  /// The owning loop; touch it only where anchor->owned_here() (it is gone once retired).
  HttpLoop* loop;
  /// Outlives the loop: thread checks and the loop-gone state for handles.
  Anchor* anchor;
  /// Owning connection while in its FIFO; null once dead or detached.
  Connection* conn = nullptr;
  /// Next exchange of the same connection, in request order.
  Exchange* next = nullptr;
  /// Live Response handles (plus the dispatcher's guard during the handler call).
  uint32_t refs = 0;
  ExchangeState state = ExchangeState::Receiving;
  bool in_fifo = false;
  bool head_only = false;
  /// The connection takes no request after this one and closes once its responses are out
  /// (the request asked for it, the handler set `Connection: close`, or the server stops).
  bool close = false;
  /// Answered by a worker producer (Response::offload_stream) that has not started its
  /// stream yet: the handler's handles can no longer answer it.
  bool taken = false;
  bool user_server = false;
  bool user_date = false;
  /// Answered with a moved body (Response::send(std::string&&)) that waits in `out`: it is
  /// written from that buffer, not copied into the cork.
  bool body_moved = false;
  /// Its access-log record has been given to the hook (exactly once).
  bool logged = false;
  /// Parked mailbox waits of this exchange: each answers by its own deadline, so while any
  /// is parked the response deadline does not apply; it applies again (from then) once the
  /// last one has ended and the exchange is still owed an answer.
  uint32_t parked_waits = 0;
  /// Status of an answer that waits in `out` (see below).
  uint16_t status = 0;
  /// Access log (only while ServerOptions::on_response is set): when the request arrived
  /// (uv_hrtime; see `logged`).
  uint64_t arrived_ns = 0;
  RequestData req;
  /// User headers for the coming response, as "Name: value\r\n" lines.
  std::string headers;
  /// Answered while an earlier exchange of the connection is not: `status`, body and type,
  /// serialized once it reaches the head of the connection's FIFO.
  std::string out;
  std::string content_type;
  /// Run when the exchange ends unanswered by the handler (client left, or deadline);
  /// released unrun once it is answered, so a callback that captures the Response cannot
  /// keep the exchange alive.
  std::vector<std::function<void()>> on_close;
  /// On the loop's deadline list while Open after its handler returned.
  ListHook<Exchange> deadline_hook;
  /// When the response deadline falls (on the deadline list while Open), or when the next
  /// heartbeat is due (an event stream on the heartbeat list): never both.
  uint64_t deadline = 0;
  /// A streamed response (state Streaming, or Answered once ended); null otherwise. Before
  /// its head is written, its body waits in `out`.
  std::unique_ptr<StreamState> stream;
  /// A streamed request body (a `stream_body` route); null otherwise.
  std::unique_ptr<BodyState> body;
  /// An event stream on the loop's heartbeat list: a comment is due at `deadline`.
  ListHook<Exchange> heartbeat_hook;
  /// An event stream following a topic: on its loop's subscriber list for that topic.
  ListHook<Exchange> subscriber_hook;

  void reset();
};

/// Free exchanges of one loop, reused so that steady-state requests allocate nothing.
class ExchangePool {
 public:
  ExchangePool(HttpLoop& loop, Anchor* anchor) : loop_(loop), anchor_(anchor) {}
  ~ExchangePool();
  ExchangePool(const ExchangePool&) = delete;
  ExchangePool& operator=(const ExchangePool&) = delete;

  Exchange* acquire();
  void release(Exchange* x);
  /// Exchanges alive (in use or in the free list).
  size_t allocated() const { return allocated_; }

 private:
  HttpLoop& loop_;
  Anchor* anchor_;
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
/// Runs `callbacks` (taken from x->on_close before the server answered for the handler) and
/// destroys them. A throw is counted and logged.
void run_close_callbacks(Exchange* x, std::vector<std::function<void()>>& callbacks);

/// Drops one reference (owner thread); at zero, an unanswered exchange is answered 500
/// (abandoned) and an exchange out of its connection's FIFO goes back to the pool.
void exchange_unref(Exchange* x);

}  // namespace tether::detail

#include "tether/response.hpp"

namespace tether::detail {

/// The one place that turns an exchange into a user-facing handle.
struct ResponseAccess {
  static Response make(Exchange* x) { return Response(x); }
  static Exchange* exchange(const Response& r) { return r.x_; }
  /// The exchange of a handle that can still answer, called on its loop thread, or nullptr:
  /// a call on a dead handle does nothing and counts one dropped response; a call off the
  /// loop thread is refused and counted as a misuse (`operation` names it in the log).
  static Exchange* open(const Response& r, const char* operation);
};

}  // namespace tether::detail
