// Loop: one event-loop thread and everything it owns: listener, connections, timers, the
// cork buffer, pools and counters. Another thread reaches a loop only through its inbox
// (post_task, post_completion, request_stop, request_finish) and its counters; handles into
// it go through its anchor, which outlives it.
//
// Life of a loop: constructed and listening on the server's thread; run on its own thread;
// asked to stop (close the listener, answer what is in flight, close idle connections);
// once every loop of its server has drained, asked to finish (close the inbox and the
// timers); then, on its own thread, it runs what is left in its inbox, destroys every
// record that holds user code or a handle, and retires its anchor. Its memory goes in the
// destructor, after the thread is joined.
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/anchor.hpp"
#include "core/deadline_timer.hpp"
#include "core/inbox.hpp"
#include "core/intrusive_list.hpp"
#include "core/listener.hpp"
#include "http/connection.hpp"
#include "http/date_cache.hpp"
#include "http/exchange.hpp"
#include "http/http_parser.hpp"
#include "http/job_table.hpp"
#include "http/loop_stats.hpp"
#include "http/timeout_kind.hpp"
#include "mailbox/mailbox_peer.hpp"
#include "tether/detail/work.hpp"
#include "tether/options.hpp"
#include "tether/router.hpp"
#include "tether/status.hpp"

namespace tether::detail {

class Connection;
class WorkerPool;
struct WriteState;

class Loop final : DeadlineTimer::Source {
 public:
  Loop(const ServerOptions& options, const Router& router, WorkerPool* pool, unsigned index);
  ~Loop() override;
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  /// Whether the libuv loop and its handles could be set up; nothing else works otherwise.
  const Status& init_status() const { return init_status_; }
  /// Binds the listener (before the thread starts). `port` 0 picks one; `bound` gets it.
  Status listen(uint16_t port, bool reuseport, uint16_t* bound);
  /// Makes SIGINT/SIGTERM call `on_signal` (on this loop's thread). Before start().
  Status watch_signals(std::function<void()> on_signal);
  /// Called once, on this loop's thread, when a stop was requested and the loop has no
  /// connection left; the server then asks every loop to finish. Without it the loop
  /// finishes by itself. Before start().
  void set_on_drained(std::function<void()> cb) { on_drained_ = std::move(cb); }
  /// Runs the loop on its own thread.
  void start();
  void join();
  /// Graceful stop; any thread.
  void request_stop();
  /// Close down once drained (every loop of the server has drained); any thread.
  void request_finish();
  /// A worker finished `item`: queue it for this loop (any thread). False when the loop is
  /// winding down (the caller keeps the item and destroys it: it is data only).
  bool post_completion(std::unique_ptr<WorkItem> item);
  /// Runs `task` on this loop's thread (any thread may call). False when the loop is winding
  /// down. A task carries ids and values: never a closure that owns a handle.
  bool post_task(std::function<void()> task);
  /// The loop running on the calling thread, or null.
  static Loop* current();
  unsigned index() const { return index_; }
  Anchor& anchor() const { return *anchor_; }
  MailboxPeer& mailbox() { return mailbox_; }
  const MailboxPeer& mailbox() const { return mailbox_; }
  /// The thread the loop runs on (joinable until joined).
  std::thread::id thread_id() const { return thread_.get_id(); }

  // ---- loop thread only
  bool on_loop_thread() const { return anchor_->owned_here(); }
  uv_loop_t* uv() { return &uv_; }
  uint64_t now() const { return uv_now(&uv_); }
  DeadlineTimer& deadlines() { return timer_; }
  const ServerOptions& options() const { return options_; }
  const Router& router() const { return router_; }
  const ParseLimits& limits() const { return limits_; }
  DateCache& date() { return date_; }
  std::string_view server_line() const { return server_line_; }
  LoopStats& stats() { return stats_; }
  const LoopStats& stats() const { return stats_; }
  ExchangePool& exchanges() { return exchanges_; }
  JobTable& jobs() { return jobs_; }
  bool draining() const { return draining_; }

  /// The loop's request parser, shared by its connections: a head is parsed within one read
  /// (a partial one is re-parsed once complete), so an idle connection owns no parser.
  /// Null while in use: a handler may make another connection parse inside this one's parse.
  RequestParser* borrow_parser() {
    RequestParser* p = parser_free_ ? &parser_ : nullptr;
    parser_free_ = false;
    return p;
  }
  void return_parser() { parser_free_ = true; }

  /// The output buffer for `c`: every response produced while handling one event goes into
  /// one buffer and out in one write. Switching to another connection flushes the first.
  std::string& cork(Connection* c);
  void flush_cork();
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
  /// The end of a libuv callback (CorkScope): runs the on_close callbacks of exchanges closed
  /// meanwhile (user code runs only at such points, never inside a write or a close) and
  /// flushes the cork, until neither has anything left.
  void settle();
  /// From now on (any thread), `hook()` runs before each flush of output: the server's way to
  /// learn that user code has run on this loop before anyone can see its result (see
  /// server_reaper.cpp).
  void after_user_code(void (*hook)()) { after_user_code_.store(hook, std::memory_order_release); }
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

 private:
  // DeadlineTimer::Source: connection timeouts and response deadlines.
  uint64_t next_deadline() const override;
  void on_deadline(uint64_t now) override;

  static void on_connection(void* self, uv_stream_t* server);
  static void on_wake(void* self);
  static void wake_for_release(void* self);
  static void on_date(uv_timer_t* t);
  static void on_drain_deadline(uv_timer_t* t);
  static void on_signal(uv_signal_t* s, int signum);
  void run();
  void drain_inbox();
  void run_releases();
  void begin_drain();
  void maybe_drained();
  void close_handles();
  void teardown();
  void arm_date_timer();
  uint32_t timeout_ms(TimeoutKind k) const;

  const ServerOptions& options_;
  const Router& router_;
  ParseLimits limits_;
  unsigned index_;
  Anchor* anchor_;
  Status init_status_;
  uv_loop_t uv_{};
  bool uv_ready_ = false;
  Inbox inbox_;
  DeadlineTimer timer_;
  Listener listener_;
  uv_timer_t date_timer_{};
  uv_timer_t drain_timer_{};
  uv_signal_t sigint_{};
  uv_signal_t sigterm_{};
  bool timers_open_ = false;
  bool signals_ = false;
  bool handles_closed_ = false;
  bool draining_ = false;
  bool drained_ = false;
  bool torn_down_ = false;
  std::function<void()> signal_cb_;
  std::function<void()> on_drained_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<void (*)()> after_user_code_{nullptr};
  std::atomic<bool> finish_requested_{false};
  Inbox::Batch batch_;             // loop thread; reused by every drain
  std::vector<Release> releases_;  // loop thread; reused
  std::thread thread_;

  std::vector<char> read_buf_;
  std::string cork_;
  Connection* corked_ = nullptr;
  std::vector<Exchange*> closed_;          // on_close callbacks due at the next settle()
  std::vector<Exchange*> closed_running_;  // reused by settle()
  std::string server_line_;
  DateCache date_;
  LoopStats stats_;
  ExchangePool exchanges_;
  JobTable jobs_;
  std::vector<WriteState*> free_writes_;
  IntrusiveList<Connection, &Connection::all_hook> connections_;
  IntrusiveList<Exchange, &Exchange::deadline_hook> deadlines_;
  MailboxPeer mailbox_;
  RequestParser parser_{limits_};
  OutputSink sink_ = nullptr;
  void* sink_ctx_ = nullptr;
  bool parser_free_ = true;
  IntrusiveList<Connection, &Connection::timeout_hook> timeouts_[kTimeoutKinds];
};

/// Settles the loop (on_close callbacks due, then the cork) when the libuv callback that
/// created it returns.
class CorkScope {
 public:
  explicit CorkScope(Loop& loop) : loop_(loop) {}
  ~CorkScope() { loop_.settle(); }
  CorkScope(const CorkScope&) = delete;
  CorkScope& operator=(const CorkScope&) = delete;

 private:
  Loop& loop_;
};

}  // namespace tether::detail
