// Loop: one event-loop thread and everything it owns: listener, connections, timers, the
// cork buffer, pools and counters. Nothing here is touched from another thread except
// request_stop() and the counters.
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "connection.hpp"
#include "date_cache.hpp"
#include "exchange.hpp"
#include "http_parser.hpp"
#include "intrusive_list.hpp"
#include "loop_stats.hpp"
#include "mailbox_shard.hpp"
#include "tether/detail/work.hpp"
#include "tether/mailbox.hpp"
#include "tether/options.hpp"
#include "tether/response.hpp"
#include "tether/router.hpp"
#include "tether/status.hpp"
#include "timeout_kind.hpp"

namespace tether::detail {

class Connection;
class WorkerPool;
struct WriteState;

/// A mailbox wait as its own loop keeps it: the Response and the continuation stay here,
/// whichever loop owns the id's shard; that shard knows only a token and the alive flag.
struct MailWait {
  Response res;
  std::function<void(Response, MailboxTake, std::string)> then;
  std::shared_ptr<std::atomic<bool>> alive;
  uint64_t waiter = 0;  // the shard's waiter id, once known
};

/// An offloaded job as the loop keeps it: the continuation and the Response never leave the
/// loop thread; only WorkItems (data) go to the pool and come back through the inbox.
struct Job {
  Response res;
  std::unique_ptr<Finisher> fin;
  std::vector<std::unique_ptr<WorkItem>> done;
  size_t remaining = 0;
  std::stop_source stop;
};

class Loop {
 public:
  Loop(const ServerOptions& options, const Router& router, WorkerPool* pool, unsigned index);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  /// Binds the listener (before the thread starts). `port` 0 picks one; `bound` gets it.
  Status listen(uint16_t port, bool reuseport, uint16_t* bound);
  /// Makes SIGINT/SIGTERM call `on_signal` (on this loop's thread). Before start().
  void watch_signals(std::function<void()> on_signal);
  /// Runs the loop on its own thread.
  void start();
  void join();
  /// Graceful stop; any thread.
  void request_stop();
  /// A worker finished `item`: queue it for this loop (any thread). Dropped if the loop is gone.
  void post_completion(std::unique_ptr<WorkItem> item);
  /// Runs `task` on this loop's thread (any thread may call). False if the loop is gone.
  bool post_task(std::function<void()> task);
  /// The loop running on the calling thread, or null.
  static Loop* current();
  unsigned index() const { return index_; }
  MailboxShard& mailbox() { return mailbox_; }
  /// The loop's request parser, shared by its connections: a head is parsed within one read
  /// (a partial one is re-parsed once complete), so an idle connection owns no parser.
  /// Null while in use: a handler may make another connection parse inside this one's parse.
  RequestParser* borrow_parser() {
    RequestParser* p = parser_free_ ? &parser_ : nullptr;
    parser_free_ = false;
    return p;
  }
  void return_parser() { parser_free_ = true; }
  uint64_t add_mail_wait(MailWait w) {
    mail_waits_.emplace(++next_mail_wait_, std::move(w));
    return next_mail_wait_;
  }
  MailWait* find_mail_wait(uint64_t token) {
    auto it = mail_waits_.find(token);
    return it == mail_waits_.end() ? nullptr : &it->second;
  }
  std::optional<MailWait> take_mail_wait(uint64_t token) {
    auto it = mail_waits_.find(token);
    if (it == mail_waits_.end()) return std::nullopt;
    MailWait w = std::move(it->second);
    mail_waits_.erase(it);
    return w;
  }
  const MailboxShard& mailbox() const { return mailbox_; }

  // ---- loop thread only ----
  bool on_loop_thread() const { return std::this_thread::get_id() == thread_id_; }
  uv_loop_t* uv() { return &uv_; }
  const ServerOptions& options() const { return options_; }
  const Router& router() const { return router_; }
  const ParseLimits& limits() const { return limits_; }
  DateCache& date() { return date_; }
  std::string_view server_line() const { return server_line_; }
  LoopStats& stats() { return stats_; }
  const LoopStats& stats() const { return stats_; }
  ExchangePool& exchanges() { return exchanges_; }
  bool draining() const { return draining_; }

  /// The output buffer for `c`: every response produced while handling one event goes into
  /// one buffer and out in one write. Switching to another connection flushes the first.
  std::string& cork(Connection* c);
  void flush_cork();
  void flush_cork_if(Connection* c) {
    if (corked_ == c) flush_cork();
  }
  /// Forgets `c`'s corked bytes (it is closing).
  void drop_cork(Connection* c);
  size_t corked_bytes(const Connection* c) const { return corked_ == c ? cork_.size() : 0; }

  /// The shared read buffer: an idle connection owns none.
  uv_buf_t read_buffer() {
    return uv_buf_init(read_buf_.data(), static_cast<unsigned>(read_buf_.size()));
  }

  /// Puts `c` on the deadline list of `kind` (None: on no list), deadline = now + its timeout.
  void arm(Connection* c, TimeoutKind kind);
  void connection_closed(Connection* c);

  /// Queues `items` on the pool for exchange `x` (Open); see Response::offload.
  bool start_job(Exchange* x, std::vector<std::unique_ptr<WorkItem>> items,
                 std::unique_ptr<Finisher> fin);
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
  /// A connection with no socket, fed by Connection::feed() (needs set_output_sink). When the
  /// loop is not running, the calling thread becomes its loop thread.
  Connection* open_in_memory();

  WriteState* acquire_write_state();
  void release_write_state(WriteState* w);

 private:
  static void on_connection(uv_stream_t* server, int status);
  static void on_listener_closed(uv_handle_t* h);
  static void on_accept_retry(uv_timer_t* t);
  void pause_accepting();
  void resume_accepting();
  static void on_tick(uv_timer_t* t);
  static void on_wake(uv_async_t* a);
  static void on_drain_deadline(uv_timer_t* t);
  static void on_signal(uv_signal_t* s, int signum);
  void run();
  void drain_inbox();
  void complete(std::unique_ptr<WorkItem> item);
  void begin_drain();
  void close_handles();
  uint32_t timeout_ms(TimeoutKind k) const;

  const ServerOptions& options_;
  const Router& router_;
  WorkerPool* pool_;
  ParseLimits limits_;
  unsigned index_;
  uv_loop_t uv_{};
  uv_tcp_t listener_{};
  uv_timer_t tick_{};
  uv_timer_t drain_timer_{};
  // Out of fds with libuv's reserve fd gone, libuv would call on_connection(EMFILE) in a
  // tight loop: the listener handle is closed instead, and reopened on a timer from a
  // duplicate of the socket kept for this (pending connections wait in the backlog).
  uv_timer_t accept_retry_{};
  int listen_dup_ = -1;
  uv_async_t wake_{};
  uv_signal_t sigint_{};
  uv_signal_t sigterm_{};
  bool listening_ = false;
  bool signals_ = false;
  bool handles_closed_ = false;
  bool draining_ = false;
  std::function<void()> signal_cb_;
  std::atomic<bool> stop_requested_{false};
  std::mutex wake_mu_;                // guards wake_ against being sent after it is closed
  bool handles_closed_flag_ = false;  // under wake_mu_
  std::vector<std::unique_ptr<WorkItem>> inbox_;          // under wake_mu_
  std::vector<std::unique_ptr<WorkItem>> inbox_drained_;  // loop thread; reused
  std::vector<std::function<void()>> tasks_;              // under wake_mu_
  std::vector<std::function<void()>> tasks_drained_;      // loop thread; reused
  std::thread thread_;
  std::thread::id thread_id_;

  std::vector<char> read_buf_;
  std::string cork_;
  Connection* corked_ = nullptr;
  std::string server_line_;
  DateCache date_;
  LoopStats stats_;
  ExchangePool exchanges_;
  std::vector<WriteState*> free_writes_;
  IntrusiveList<Connection, &Connection::all_hook> connections_;
  IntrusiveList<Exchange, &Exchange::deadline_hook> deadlines_;
  std::unordered_map<uint64_t, Job> jobs_;
  MailboxShard mailbox_;
  RequestParser parser_{limits_};
  OutputSink sink_ = nullptr;
  void* sink_ctx_ = nullptr;
  bool parser_free_ = true;
  std::unordered_map<uint64_t, MailWait> mail_waits_;
  uint64_t next_mail_wait_ = 0;
  uint64_t next_job_id_ = 0;
  IntrusiveList<Connection, &Connection::timeout_hook> timeouts_[kTimeoutKinds];
};

/// Flushes the loop's cork when the libuv callback that created it returns.
class CorkScope {
 public:
  explicit CorkScope(Loop& loop) : loop_(loop) {}
  ~CorkScope() { loop_.flush_cork(); }
  CorkScope(const CorkScope&) = delete;
  CorkScope& operator=(const CorkScope&) = delete;

 private:
  Loop& loop_;
};

}  // namespace tether::detail
