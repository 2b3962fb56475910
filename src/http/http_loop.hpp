// HttpLoop: the HTTP server's state on one reactor loop, attached to it as an extension:
// its connections and their deadline lists, the exchange pool, the shared parser and read
// buffer, the cork (every response produced while handling one event leaves in one write),
// the Date header, the offloaded jobs and the counters.
//
// Lifetime: made and attached before the loop runs (HttpLoop::attach); owned by the core
// loop, which destroys it after tearing down. Touched only on the loop's thread, except
// stats() (read by any thread).
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/intrusive_list.hpp"
#include "core/loop.hpp"
#include "http/connection.hpp"
#include "http/date_cache.hpp"
#include "http/exchange.hpp"
#include "http/http_parser.hpp"
#include "http/http_stats.hpp"
#include "http/job_table.hpp"
#include "http/timeout_kind.hpp"
#include "tether/options.hpp"
#include "tether/router.hpp"

namespace tether::detail {

class WorkerPool;
struct WriteState;

class HttpLoop final : public Loop::Extension, public Loop::CompletionSink, DeadlineTimer::Source {
 public:
  /// Makes the HTTP state of `loop` and attaches it. `options` and `router` outlive the loop;
  /// `pool` (may be null: no offloading) too.
  static HttpLoop& attach(Loop& loop, const ServerOptions& options, const Router& router,
                          WorkerPool* pool);
  HttpLoop(Loop& loop, const ServerOptions& options, const Router& router, WorkerPool* pool);
  ~HttpLoop() override;
  HttpLoop(const HttpLoop&) = delete;
  HttpLoop& operator=(const HttpLoop&) = delete;

  /// Whether its libuv handles could be set up.
  const Status& init_status() const { return init_status_; }
  /// Listens on the options' host and `port` (0 picks one; `bound` gets it).
  Status listen(uint16_t port, bool reuseport, uint16_t* bound);
  /// From now on (any thread), `hook()` runs before each flush of output: the server's way to
  /// learn that user code has run on this loop before anyone can see its result (see
  /// server_reaper.cpp).
  void after_user_code(void (*hook)()) { after_user_code_.store(hook, std::memory_order_release); }

  // ---- loop thread only (stats() from any)
  Loop& core() { return core_; }
  const Loop& core() const { return core_; }
  uv_loop_t* uv() { return core_.uv(); }
  uint64_t now() const { return core_.now(); }
  DeadlineTimer& deadlines() { return core_.deadlines(); }
  bool draining() const { return core_.draining(); }
  const ServerOptions& options() const { return options_; }
  const Router& router() const { return router_; }
  const ParseLimits& limits() const { return limits_; }
  DateCache& date() { return date_; }
  std::string_view server_line() const { return server_line_; }
  HttpStats& stats() { return stats_; }

  /// True when ServerOptions::on_response is set: exchanges then carry what their record
  /// needs. Unset, this test is all the access log costs.
  bool logging() const { return hook_ != nullptr; }
  /// Gives `x`'s record to the access-log hook, once per exchange (access_hook.cpp). Only
  /// while logging(); `x`'s head must be readable (see RequestData::keep_head).
  void log_response(Exchange* x, int status, uint64_t head_bytes, uint64_t body_bytes,
                    bool stream = false, bool complete = true);
  const HttpStats& stats() const { return stats_; }
  ExchangePool& exchanges() { return exchanges_; }
  JobTable& jobs() { return jobs_; }

  /// The loop's request parser, shared by its connections: a head is parsed within one read
  /// (a partial one is re-parsed once complete), so an idle connection owns no parser.
  /// Null while in use: a handler may make another connection parse inside this one's parse.
  RequestParser* borrow_parser() {
    RequestParser* p = parser_free_ ? &parser_ : nullptr;
    parser_free_ = false;
    return p;
  }
  void return_parser() { parser_free_ = true; }

  /// Where routing puts a request's captures while its handler runs: one per nesting level of
  /// handlers (a handler may make another connection dispatch inside it), kept by the loop so
  /// that no pooled request carries one. RouteScope takes and gives back a level.
  RouteMatch& enter_route() {
    if (route_depth_ == routes_.size()) routes_.push_back(std::make_unique<RouteMatch>());
    return *routes_[route_depth_++];
  }
  void leave_route() { --route_depth_; }
  /// The output buffer for `c`: every response produced while handling one event goes into
  /// one buffer and out in one write. Switching to another connection flushes the first.
  std::string& cork(Connection* c);
  void flush_cork();
  /// Flushes the cork, which holds `c`'s output ending with a response head, and `body`
  /// after it, in one write (Response::send(std::string&&)). No write of `c` may be pending.
  void flush_cork_with(Connection* c, std::string&& body);
  void flush_cork_if(Connection* c) {
    if (corked_ == c) flush_cork();
  }
  /// Forgets `c`'s corked bytes (it is closing).
  void drop_cork(Connection* c);
  /// `x` was closed unanswered: its on_close callbacks run when the loop settles (holds a
  /// reference until then).
  void defer_close_callbacks(Exchange* x) {
    ++x->refs;
    closed_.push_back(x);
  }
  /// Takes over one reference to `x`, dropped when the loop settles (with its on_close
  /// callbacks run if any are due): for a holder told deep inside a write or a close that it
  /// must let go.
  void release_at_settle(Exchange* x) { closed_.push_back(x); }
  /// Streamed `x` has room again: its on_writable callback runs when the loop settles (holds
  /// a reference until then).
  void defer_writable(Exchange* x) {
    ++x->refs;
    x->stream->writable_due = true;
    writable_.push_back(x);
  }
  /// `x`'s streamed body may go on (resumed, or its reader came): Connection::continue_body
  /// runs at the next settle (holds a reference until then).
  void defer_body(Exchange* x) {
    if (x->body->due) return;
    ++x->refs;
    x->body->due = true;
    bodies_.push_back(x);
  }
  /// Event stream `x` was just written to (or started): its next heartbeat is due one
  /// interval from now.
  void arm_heartbeat(Exchange* x);
  void disarm_heartbeat(Exchange* x) { heartbeats_.remove(x); }
  /// `cb` runs `delay_ms` from now if streamed `x` can still be written then (Stream::after).
  void stream_timer(Exchange* x, uint64_t delay_ms, std::function<void()> cb);
  /// The end of a libuv callback (CorkScope): runs the on_close callbacks of exchanges closed
  /// meanwhile and the on_writable callbacks of streams with room again (user code runs only
  /// at such points, never inside a write or a close), then flushes the cork, until nothing
  /// is left.
  void settle() override;
  size_t corked_bytes(const Connection* c) const { return corked_ == c ? cork_.size() : 0; }

  /// The shared read buffer: an idle connection owns none.
  uv_buf_t read_buffer() {
    return uv_buf_init(read_buf_.data(), static_cast<unsigned>(read_buf_.size()));
  }

  /// Puts `c` on the deadline list of `kind` (None: on no list), deadline = now + its timeout.
  void arm(Connection* c, TimeoutKind kind);
  void connection_closed(Connection* c);

  /// Response deadline of an exchange left open by its handler.
  void arm_deadline(Exchange* x);
  void disarm_deadline(Exchange* x) { deadlines_.remove(x); }

  /// In-memory transport, for benchmarks and the fuzzer: when set, every flushed response byte
  /// goes to `sink` instead of a socket, with the connection that wrote it (the cork may flush
  /// one connection's bytes while another is being served). Set before any connection writes.
  using OutputSink = void (*)(void* ctx, Connection* from, const char* data, size_t len);
  void set_output_sink(OutputSink sink, void* ctx) {
    sink_ = sink;
    sink_ctx_ = ctx;
  }
  OutputSink output_sink() const { return sink_; }
  void* output_sink_ctx() const { return sink_ctx_; }
  /// A connection with no socket, fed by Connection::feed() (needs set_output_sink); null if
  /// its handle cannot be set up. When the loop is not running, the calling thread becomes
  /// its owner thread.
  Connection* open_in_memory();

  WriteState* acquire_write_state();
  void release_write_state(WriteState* w);

  // Loop::Extension
  void started() override;
  void begin_drain() override;
  bool drained() const override { return connections_.empty(); }
  void abort() override;
  void close_handles() override;
  void teardown() override;
  /// Where work items that are not offload() jobs go: messages of worker stream producers,
  /// which carry job id 0 (the stream layer). Before start().
  void set_producer_sink(Loop::CompletionSink* sink) { producer_sink_ = sink; }
  /// Told once when a stream the stream layer watches (StreamState::watched) is over; one
  /// per loop, not a pointer in every stream. Before start().
  using StreamEndHook = void (*)(Exchange* x);
  void set_stream_end_hook(StreamEndHook hook) { stream_end_hook_ = hook; }
  StreamEndHook stream_end_hook() const { return stream_end_hook_; }
  // Loop::CompletionSink: offloaded work came back.
  void complete(std::unique_ptr<WorkItem> item) override {
    if (item->job_id == 0 && producer_sink_)
      producer_sink_->complete(std::move(item));
    else
      jobs_.complete(std::move(item));
  }

 private:
  // DeadlineTimer::Source: connection timeouts and response deadlines.
  uint64_t next_deadline() const override;
  void on_deadline(uint64_t now) override;

  void run_writable(Exchange* x);
  static void on_connection(void* self, uv_stream_t* server);
  static void on_date(uv_timer_t* t);
  void arm_date_timer();
  uint32_t timeout_ms(TimeoutKind k) const;

  Loop& core_;
  const ServerOptions& options_;
  const Router& router_;
  ParseLimits limits_;
  Status init_status_;
  uv_timer_t date_timer_{};
  bool date_timer_open_ = false;
  std::atomic<void (*)()> after_user_code_{nullptr};
  const ResponseHook* hook_ = nullptr;

  std::vector<char> read_buf_;
  std::string cork_;
  Connection* corked_ = nullptr;
  std::vector<Exchange*> closed_;          // on_close callbacks due at the next settle()
  std::vector<Exchange*> closed_running_;  // reused by settle()
  std::vector<Exchange*> writable_;        // on_writable callbacks due at the next settle()
  std::vector<Exchange*> writable_running_;
  std::vector<Exchange*> bodies_;  // streamed bodies to go on at the next settle()
  std::vector<std::unique_ptr<RouteMatch>> routes_;
  size_t route_depth_ = 0;
  std::vector<Exchange*> bodies_running_;
  std::string server_line_;
  DateCache date_;
  HttpStats stats_;
  ExchangePool exchanges_;
  JobTable jobs_;
  std::vector<WriteState*> free_writes_;
  IntrusiveList<Connection, &Connection::all_hook> connections_;
  IntrusiveList<Exchange, &Exchange::deadline_hook> deadlines_;
  /// Stream::after callbacks by due time; each holds a reference to its exchange.
  struct StreamTimer {
    Exchange* x;
    std::function<void()> cb;
  };
  std::multimap<uint64_t, StreamTimer> stream_timers_;
  /// Event streams, in the order their heartbeats are due (one interval for all: appending
  /// keeps it sorted).
  IntrusiveList<Exchange, &Exchange::heartbeat_hook> heartbeats_;
  RequestParser parser_{limits_};
  OutputSink sink_ = nullptr;
  void* sink_ctx_ = nullptr;
  Loop::CompletionSink* producer_sink_ = nullptr;
  StreamEndHook stream_end_hook_ = nullptr;
  bool parser_free_ = true;
  IntrusiveList<Connection, &Connection::timeout_hook> timeouts_[kTimeoutKinds];
};

/// One level of the loop's routing scratch, for the extent of a dispatch.
class RouteScope {
 public:
  explicit RouteScope(HttpLoop& loop) : loop_(loop), match_(loop.enter_route()) {}
  ~RouteScope() { loop_.leave_route(); }
  RouteScope(const RouteScope&) = delete;
  RouteScope& operator=(const RouteScope&) = delete;
  RouteMatch& match() { return match_; }

 private:
  HttpLoop& loop_;
  RouteMatch& match_;
};

/// Settles the HTTP loop alone (on_close callbacks due, then the cork): the request path's
/// scope, since no other extension has anything to settle after a socket read.
using CorkScope = SettleOnExit<HttpLoop>;

}  // namespace tether::detail
