#include "core/loop.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>

namespace tether::detail {
namespace {
thread_local Loop* t_current = nullptr;
std::atomic<unsigned> g_next_slot{0};

Status uv_failure(const char* what, int rc) {
  return Status::error(std::string("cannot set up the event loop: ") + what + ": " +
                       uv_strerror(rc));
}
}  // namespace

unsigned Loop::new_slot() {
  const unsigned slot = g_next_slot.fetch_add(1, std::memory_order_relaxed);
  if (slot >= kSlots) {
    // A fixed number of layers exist; more extension types than slots is a build error
    // that escaped review, not something to limp through.
    std::fprintf(stderr, "tether: more than %u loop extension types\n", kSlots);
    std::abort();
  }
  return slot;
}

Loop::Loop(unsigned index, uint32_t drain_timeout_ms, Log log)
    : index_(index),
      log_(std::move(log)),
      drain_timeout_ms_(drain_timeout_ms),
      anchor_(Anchor::make(log_)),
      listener_(&uv_, on_accept, this) {
  if (int rc = uv_loop_init(&uv_); rc != 0) {
    init_status_ = uv_failure("loop", rc);
    return;
  }
  uv_ready_ = true;
  if (int rc = inbox_.init(&uv_, on_wake, this); rc != 0) {
    init_status_ = uv_failure("wake-up handle", rc);
    return;
  }
  if (int rc = timer_.init(&uv_); rc != 0) {
    init_status_ = uv_failure("deadline timer", rc);
    return;
  }
  if (int rc = uv_timer_init(&uv_, &drain_timer_); rc != 0) {
    init_status_ = uv_failure("timer", rc);
    return;
  }
  drain_timer_.data = this;
  timers_open_ = true;
}

Loop::~Loop() {
  join();
  if (uv_ready_ && !torn_down_) {
    // It never ran on a thread of its own (start() failed, or a loop driven in memory): it
    // winds down on the calling thread, which becomes its owner for that.
    anchor_->bind_owner();
    for (auto& e : extensions_) e->abort();
    close_handles();
    uv_run(&uv_, UV_RUN_DEFAULT);
    teardown();
  }
  if (uv_ready_) {
    if (int rc = uv_loop_close(&uv_); rc != 0) {
      log_.write(LogLevel::Error, "loop %u closed with handles still open (%s)", index_,
                 uv_strerror(rc));
    }
  }
  anchor_->release();
}

Status Loop::listen(const std::string& host, uint16_t port, bool reuseport, unsigned backlog,
                    Listener::OnConnection on_connection, void* ctx, uint16_t* bound) {
  if (!init_status_) return init_status_;
  accept_ = on_connection;
  accept_ctx_ = ctx;
  return listener_.open(host, port, reuseport, backlog, bound);
}

void Loop::on_accept(void* self, uv_stream_t* server) {
  auto* l = static_cast<Loop*>(self);
  l->accept_(l->accept_ctx_, server);
}

Status Loop::watch_signals(std::function<void()> on_signal_cb) {
  if (!init_status_) return init_status_;
  signal_cb_ = std::move(on_signal_cb);
  if (int rc = uv_signal_init(&uv_, &sigint_); rc != 0) return uv_failure("signal handle", rc);
  if (int rc = uv_signal_init(&uv_, &sigterm_); rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
    return uv_failure("signal handle", rc);
  }
  signals_ = true;  // from here on both handles are closed with the loop
  sigint_.data = sigterm_.data = this;
  if (int rc = uv_signal_start(&sigint_, on_signal, SIGINT); rc != 0) {
    return uv_failure("SIGINT handler", rc);
  }
  if (int rc = uv_signal_start(&sigterm_, on_signal, SIGTERM); rc != 0) {
    return uv_failure("SIGTERM handler", rc);
  }
  return {};
}

void Loop::start() {
  thread_ = std::thread([this] { run(); });
}

void Loop::join() {
  if (thread_.joinable()) thread_.join();
}

void Loop::request_stop() {
  stop_requested_.store(true, std::memory_order_release);
  inbox_.wake();
}

void Loop::request_finish() {
  finish_requested_.store(true, std::memory_order_release);
  inbox_.wake();
}

bool Loop::post_completion(std::unique_ptr<WorkItem> item) {
  return inbox_.post(item);
}

bool Loop::post_task(std::function<void()> task) {
  return inbox_.post(task);
}

Loop* Loop::current() {
  return t_current;
}

void Loop::run() {
  anchor_->bind_owner();
  t_current = this;
  anchor_->set_waker(wake_for_release, this);
  for (auto& e : extensions_) e->started();
  uv_run(&uv_, UV_RUN_DEFAULT);
  teardown();
  t_current = nullptr;
}

void Loop::settle() {
  for (auto& e : extensions_) e->settle();
}

// ---------------------------------------------------------------- the inbox

void Loop::on_wake(void* self) {
  auto* l = static_cast<Loop*>(self);
  {
    SettleScope settle(*l);
    l->drain_inbox();
    l->run_releases();
  }
  if (l->stop_requested_.load(std::memory_order_acquire)) l->begin_drain();
  if (l->finish_requested_.load(std::memory_order_acquire) && l->drained_) l->close_handles();
}

void Loop::wake_for_release(void* self) {
  static_cast<Loop*>(self)->inbox_.wake();
}

void Loop::drain_inbox() {
  inbox_.take(batch_);
  for (auto& item : batch_.completions) {
    if (sink_) sink_->complete(std::move(item));
  }
  batch_.completions.clear();  // data only: whatever no sink took goes here
  for (auto& task : batch_.tasks) {
    // Tasks are the layers' own messages; user code inside them has its own boundary. This
    // one is the last resort: nothing thrown may cross the loop.
    try {
      task();
    } catch (const std::exception& e) {
      counters_.task_exceptions.add();
      log_.write(LogLevel::Warning, "a task on loop %u threw: %s", index_, e.what());
    } catch (...) {
      counters_.task_exceptions.add();
      log_.write(LogLevel::Warning, "a task on loop %u threw", index_);
    }
  }
  batch_.tasks.clear();  // destroyed here, on the owner thread
}

void Loop::run_releases() {
  anchor_->take_releases(releases_);
  for (const Release& r : releases_) r.fn(r.obj);
  releases_.clear();
}

// ---------------------------------------------------------------- stopping

void Loop::on_signal(uv_signal_t* s, int) {
  auto* l = static_cast<Loop*>(s->data);
  if (l->signal_cb_) l->signal_cb_();
}

void Loop::begin_drain() {
  if (draining_) return;
  draining_ = true;
  listener_.close();
  {
    // In attach order: HTTP's connections start draining before the mailbox ends its parked
    // waits, so each wait's answer is its connection's last response.
    SettleScope settle(*this);
    for (auto& e : extensions_) e->begin_drain();
  }
  if (!extensions_drained() && timers_open_) {
    uv_timer_start(&drain_timer_, on_drain_deadline, drain_timeout_ms_, 0);
  }
  check_drained();
}

bool Loop::extensions_drained() const {
  for (const auto& e : extensions_) {
    if (!e->drained()) return false;
  }
  return true;
}

void Loop::on_drain_deadline(uv_timer_t* t) {
  auto* l = static_cast<Loop*>(t->data);
  {
    SettleScope settle(*l);
    for (auto& e : l->extensions_) e->abort();
  }
  l->check_drained();  // an extension that ended everything at once has drained now
}

void Loop::check_drained() {
  if (!draining_ || drained_ || !extensions_drained()) return;
  drained_ = true;
  if (timers_open_) uv_timer_stop(&drain_timer_);
  // The inbox stays open until every loop of the server has drained: a request still in
  // flight on another loop may need this loop (its mailbox shard, say).
  if (on_drained_)
    on_drained_();
  else
    finish_requested_.store(true, std::memory_order_release);
  if (finish_requested_.load(std::memory_order_acquire)) close_handles();
}

void Loop::close_handles() {
  if (handles_closed_) return;
  handles_closed_ = true;
  // From here on a release forwarded by another thread waits for teardown().
  anchor_->set_waker(nullptr, nullptr);
  inbox_.close();
  timer_.close();
  listener_.close();
  for (auto& e : extensions_) e->close_handles();
  auto close = [](auto* h) { uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr); };
  if (timers_open_) {
    timers_open_ = false;
    close(&drain_timer_);
  }
  if (signals_) {
    signals_ = false;
    close(&sigint_);
    close(&sigterm_);
  }
}

void Loop::teardown() {
  // Every connection is closed and every handle with it. What is left runs or dies here, on
  // the owner thread, while the loop's state still exists: the inbox's last messages (work
  // results find dead exchanges; mailbox messages are answered or handed back), then every
  // record that holds user code or a handle.
  settle();
  drain_inbox();
  run_releases();
  settle();
  for (auto& e : extensions_) e->teardown();
  // Handles that user code still holds stay valid: what they point into is dead and inert,
  // and from now on their anchor says the loop is gone.
  anchor_->retire();
  torn_down_ = true;
}

}  // namespace tether::detail
