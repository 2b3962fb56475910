// Loop: the reactor. One event-loop thread owning a uv_loop_t, its inbox (the only way in
// from another thread), its deadline timer, a listening socket, the signal handles, and the
// life cycle every protocol on it shares: run, stop (drain), finish, tear down. It knows no
// protocol: the HTTP server, the mailbox (and later streams, the load generator's client
// connections and the Redis backend) attach their per-loop state to it as extensions, the
// way uSockets knows nothing of uWebSockets' HTTP.
//
// Life of a loop: constructed (and listening) on the server's thread; run on its own thread;
// asked to stop (close the listener; each extension ends what it can and reports when it has
// nothing left); once every loop of its server has drained, asked to finish (close the inbox
// and the handles); then, on its own thread, it runs what is left in its inbox, lets each
// extension destroy its records that hold user code or a handle, and retires its anchor.
// Its memory goes in the destructor, after the thread is joined; extensions go last.
#pragma once

#include <uv.h>

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/anchor.hpp"
#include "core/counter.hpp"
#include "core/deadline_timer.hpp"
#include "core/inbox.hpp"
#include "core/listener.hpp"
#include "core/log.hpp"
#include "tether/detail/work.hpp"
#include "tether/status.hpp"

namespace tether::detail {

class Loop {
 public:
  /// Per-loop state of a layer above the reactor. Every hook runs on the loop's thread.
  class Extension {
   public:
    virtual ~Extension() = default;
    /// The loop thread is about to run (its clock is set, its owner bound).
    virtual void started() {}
    /// A stop was requested: stop taking new work and end what can end now. Extensions are
    /// asked in the order they were attached.
    virtual void begin_drain() {}
    /// Nothing is left that the drain waits for (call Loop::check_drained() when that
    /// becomes true).
    virtual bool drained() const { return true; }
    /// The drain deadline passed, or a loop that never ran is going: end everything now.
    virtual void abort() {}
    /// The end of a callback the reactor ran (inbox, timers, a stop): deliver what user code
    /// produced meanwhile (for HTTP: on_close callbacks due, then the corked output).
    virtual void settle() {}
    /// Close this extension's own libuv handles (the loop is finishing).
    virtual void close_handles() {}
    /// Last, on the owner thread, with the inbox drained: destroy every record that holds
    /// user code or a handle while the loop's state still exists.
    virtual void teardown() {}
  };

  /// Where work items finished by the worker pool go on this loop (the layer that offloads).
  class CompletionSink {
   public:
    virtual ~CompletionSink() = default;
    virtual void complete(std::unique_ptr<WorkItem> item) = 0;
  };

  /// Counters of the reactor itself, written by the loop thread, read by any.
  struct Counters {
    Counter task_exceptions;  // a task (or a callback an extension ran as one) threw
  };

  Loop(unsigned index, uint32_t drain_timeout_ms, Log log = {});
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  /// Whether the libuv loop and its handles could be set up; nothing else works otherwise.
  const Status& init_status() const { return init_status_; }

  /// Adds `ext` (before start()). One of each type; the loop owns it and destroys it last.
  template <class T>
  T& attach(std::unique_ptr<T> ext) {
    const unsigned slot = slot_of<T>();
    if (slots_[slot]) throw std::logic_error("tether: a loop extension was attached twice");
    T& ref = *ext;
    slots_[slot] = &ref;
    extensions_.push_back(std::move(ext));
    return ref;
  }
  /// The attached extension of type T, or null. Any thread may ask; use it on the loop's.
  template <class T>
  T* find() const {
    return static_cast<T*>(slots_[slot_of<T>()]);
  }

  /// Binds the listener (before the thread starts); `on_connection(ctx, server)` accepts.
  /// `port` 0 picks one; `bound` gets it.
  Status listen(const std::string& host, uint16_t port, bool reuseport, unsigned backlog,
                Listener::OnConnection on_connection, void* ctx, uint16_t* bound);
  /// Makes SIGINT/SIGTERM call `on_signal` (on this loop's thread). Before start().
  Status watch_signals(std::function<void()> on_signal);
  /// Called once, on this loop's thread, when a stop was requested and every extension has
  /// drained; the server then asks every loop to finish. Without it the loop finishes by
  /// itself. Before start().
  void set_on_drained(std::function<void()> cb) { on_drained_ = std::move(cb); }
  /// Receives the work items that come back from the pool. Before start().
  void set_completion_sink(CompletionSink* sink) { sink_ = sink; }
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
  /// Where the library's messages from this loop go (any thread).
  const Log& log() const { return log_; }
  Anchor& anchor() const { return *anchor_; }
  /// The thread the loop runs on (joinable until joined).
  std::thread::id thread_id() const { return thread_.get_id(); }
  const Counters& counters() const { return counters_; }

  // ---- loop thread only
  bool on_loop_thread() const { return anchor_->owned_here(); }
  /// A loop with no thread of its own (driven in memory by benchmarks and the fuzzer) is
  /// owned by the thread that drives it.
  void adopt_if_threadless() {
    if (!thread_.joinable()) anchor_->bind_owner();
  }
  uv_loop_t* uv() { return &uv_; }
  uint64_t now() const { return uv_now(&uv_); }
  DeadlineTimer& deadlines() { return timer_; }
  Counters& counters() { return counters_; }
  bool draining() const { return draining_; }
  /// Settles every extension (the end of a callback the reactor ran).
  void settle();
  /// An extension may have nothing left to drain: if every one has, the loop has drained.
  void check_drained();

 private:
  static constexpr unsigned kSlots = 8;
  static unsigned new_slot();
  template <class T>
  static unsigned slot_of() {
    static const unsigned slot = new_slot();
    return slot;
  }

  static void on_accept(void* self, uv_stream_t* server);
  static void on_wake(void* self);
  static void wake_for_release(void* self);
  static void on_drain_deadline(uv_timer_t* t);
  static void on_signal(uv_signal_t* s, int signum);
  void run();
  void drain_inbox();
  void run_releases();
  void begin_drain();
  bool extensions_drained() const;
  void close_handles();
  void teardown();

  unsigned index_;
  Log log_;
  uint32_t drain_timeout_ms_;
  Anchor* anchor_;
  Status init_status_;
  uv_loop_t uv_{};
  bool uv_ready_ = false;
  Inbox inbox_;
  DeadlineTimer timer_;
  Listener listener_;
  Listener::OnConnection accept_ = nullptr;
  void* accept_ctx_ = nullptr;
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
  CompletionSink* sink_ = nullptr;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> finish_requested_{false};
  Inbox::Batch batch_;             // loop thread; reused by every drain
  std::vector<Release> releases_;  // loop thread; reused
  Counters counters_;
  std::thread thread_;
  // Declared last: extensions are destroyed first, while the members above still exist.
  std::array<Extension*, kSlots> slots_{};
  std::vector<std::unique_ptr<Extension>> extensions_;
};

/// Settles `T` (a loop, or one extension of it) when the callback that made the scope
/// returns: user code ran inside the callback, and what it produced goes out at its end.
template <class T>
class SettleOnExit {
 public:
  explicit SettleOnExit(T& t) : t_(t) {}
  ~SettleOnExit() { t_.settle(); }
  SettleOnExit(const SettleOnExit&) = delete;
  SettleOnExit& operator=(const SettleOnExit&) = delete;

 private:
  T& t_;
};
/// Every extension of the loop settles (callbacks the reactor itself runs).
using SettleScope = SettleOnExit<Loop>;

}  // namespace tether::detail
