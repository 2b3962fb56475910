#include "core/loop.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <exception>

#include "core/worker_pool.hpp"
#include "http/connection.hpp"

namespace tether::detail {
namespace {
thread_local Loop* t_current = nullptr;
constexpr size_t kReadBufferBytes = 64 * 1024;
constexpr size_t kMaxPooledWrites = 1024;
constexpr size_t kKeepWriteCapacity = 64 * 1024;

Status uv_failure(const char* what, int rc) {
  return Status::error(std::string("cannot set up the event loop: ") + what + ": " +
                       uv_strerror(rc));
}
}  // namespace

Loop::Loop(const ServerOptions& options, const Router& router, WorkerPool* pool, unsigned index)
    : options_(options),
      router_(router),
      index_(index),
      anchor_(Anchor::make()),
      listener_(&uv_, on_connection, this),
      exchanges_(*this, anchor_),
      jobs_(*this, pool),
      mailbox_(*this, MailboxLimits{options.mailbox_max_ids, options.mailbox_max_value_bytes,
                                    options.mailbox_max_waiters_per_id, options.mailbox_ttl_ms}) {
  limits_.max_head_bytes = options.max_head_bytes;
  limits_.max_target_bytes = options.max_target_bytes;
  limits_.max_headers = options.max_headers;
  limits_.max_body_bytes = options.max_body_bytes;
  read_buf_.resize(kReadBufferBytes);
  cork_.reserve(kReadBufferBytes);
  server_line_ = "Server: " + options.server_name + "\r\n";

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
  timer_.add_source(this);
  timer_.add_source(&mailbox_);
  int rc = uv_timer_init(&uv_, &date_timer_);
  if (rc == 0) {
    rc = uv_timer_init(&uv_, &drain_timer_);
    if (rc != 0) uv_close(reinterpret_cast<uv_handle_t*>(&date_timer_), nullptr);
  }
  if (rc != 0) {
    init_status_ = uv_failure("timer", rc);
    return;
  }
  date_timer_.data = drain_timer_.data = this;
  timers_open_ = true;
}

Loop::~Loop() {
  join();
  if (uv_ready_ && !torn_down_) {
    // It never ran on a thread of its own (start() failed, or a loop driven in memory): it
    // winds down on the calling thread, which becomes its owner for that.
    anchor_->bind_owner();
    while (Connection* c = connections_.front()) c->close();
    close_handles();
    uv_run(&uv_, UV_RUN_DEFAULT);
    teardown();
  }
  if (uv_ready_) {
    if (int rc = uv_loop_close(&uv_); rc != 0) {
      std::fprintf(stderr, "tether: loop %u closed with handles still open (%s)\n", index_,
                   uv_strerror(rc));
    }
  }
  for (WriteState* w : free_writes_) delete w;
  anchor_->release();
}

Status Loop::listen(uint16_t port, bool reuseport, uint16_t* bound) {
  if (!init_status_) return init_status_;
  return listener_.open(options_.host, port, reuseport, options_.backlog, bound);
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

uint32_t Loop::timeout_ms(TimeoutKind k) const {
  switch (k) {
    case TimeoutKind::Header:
      return options_.header_timeout_ms;
    case TimeoutKind::Body:
      return options_.body_timeout_ms;
    case TimeoutKind::Idle:
      return options_.idle_timeout_ms;
    case TimeoutKind::Write:
      return options_.write_timeout_ms;
    case TimeoutKind::Linger:
      return options_.linger_timeout_ms;
    case TimeoutKind::None:
      return 0;
  }
  return 0;
}

void Loop::run() {
  anchor_->bind_owner();
  t_current = this;
  anchor_->set_waker(wake_for_release, this);
  arm_date_timer();
  uv_run(&uv_, UV_RUN_DEFAULT);
  teardown();
  t_current = nullptr;
}

// ---------------------------------------------------------------- cork

std::string& Loop::cork(Connection* c) {
  if (corked_ != c) {
    flush_cork();
    corked_ = c;
  }
  return cork_;
}

void Loop::flush_cork() {
  while (Connection* c = corked_) {
    corked_ = nullptr;
    if (cork_.empty()) continue;
    // Before any output leaves: no client sees what user code produced before the hook has
    // seen that code run (a response can leave in the middle of a handler's send()).
    if (auto hook = after_user_code_.load(std::memory_order_acquire)) hook();
    // Sent from a buffer of its own: a failed write closes `c`, and whatever that close
    // sets off must find an empty cork, not bytes about to be cleared.
    std::string out;
    out.swap(cork_);
    c->send_bytes(out.data(), out.size());
    out.clear();
    if (cork_.empty()) cork_.swap(out);  // keep the capacity: no allocation in steady state
  }
}

void Loop::settle() {
  // Callbacks first: what they answer joins the output of the event that closed their
  // exchange, and goes out in the same flush. A flush may close another connection whose
  // callbacks are then due: round again until both are done.
  for (;;) {
    while (!closed_.empty()) {
      closed_running_.swap(closed_);
      for (Exchange* x : closed_running_) {
        exchange_closed(x);  // stops its jobs, tells the handler's on_close
        exchange_unref(x);
      }
      closed_running_.clear();
    }
    flush_cork();
    if (closed_.empty()) return;
  }
}

void Loop::drop_cork(Connection* c) {
  if (corked_ != c) return;
  corked_ = nullptr;
  cork_.clear();
}

// ---------------------------------------------------------------- connections and deadlines

void Loop::on_connection(void* self, uv_stream_t* server) {
  auto* l = static_cast<Loop*>(self);
  CorkScope cork(*l);
  auto* c = new Connection(*l);
  if (int rc = c->init(); rc != 0) {
    delete c;
    std::fprintf(stderr, "tether: loop %u cannot take a connection: %s\n", l->index_,
                 uv_strerror(rc));
    return;
  }
  l->connections_.push_back(c);
  l->stats_.connections_accepted.add();
  l->stats_.connections_active.add();
  c->start(server);
  if (l->connections_.size() > l->options_.max_connections) {
    l->stats_.connections_rejected.add();
    c->reject(503, "too many connections");
  }
}

Connection* Loop::open_in_memory() {
  // A loop with no thread of its own is driven by whoever feeds it: that thread owns it.
  if (!thread_.joinable()) anchor_->bind_owner();
  auto* c = new Connection(*this);
  if (c->init() != 0) {
    delete c;
    return nullptr;
  }
  connections_.push_back(c);
  stats_.connections_accepted.add();
  stats_.connections_active.add();
  c->start_in_memory();
  return c;
}

void Loop::connection_closed(Connection* c) {
  connections_.remove(c);
  stats_.connections_active.sub();
  if (draining_ && connections_.empty()) maybe_drained();
}

void Loop::arm(Connection* c, TimeoutKind kind) {
  if (c->timeout_kind != TimeoutKind::None) timeouts_[static_cast<int>(c->timeout_kind)].remove(c);
  c->timeout_kind = TimeoutKind::None;
  uint32_t ms = timeout_ms(kind);
  if (kind == TimeoutKind::None || ms == 0) return;
  c->timeout_kind = kind;
  c->deadline = uv_now(&uv_) + ms;
  timeouts_[static_cast<int>(kind)].push_back(c);
  timer_.schedule(c->deadline);
}

void Loop::arm_deadline(Exchange* x) {
  if (options_.response_timeout_ms == 0) return;
  // From now: an exchange already on the list (armed by a continuation that ran inside its
  // handler) moves to the back with its new deadline, which keeps the list in order.
  x->deadline = uv_now(&uv_) + options_.response_timeout_ms;
  deadlines_.push_back(x);
  timer_.schedule(x->deadline);
}

uint64_t Loop::next_deadline() const {
  // Each list has one fixed timeout, so appending keeps it sorted: its head is its earliest.
  uint64_t next = DeadlineTimer::kNever;
  for (int k = 1; k < kTimeoutKinds; ++k) {
    if (!timeouts_[k].empty()) next = std::min(next, timeouts_[k].front()->deadline);
  }
  if (!deadlines_.empty()) next = std::min(next, deadlines_.front()->deadline);
  return next;
}

void Loop::on_deadline(uint64_t now) {
  CorkScope cork(*this);
  for (int k = 1; k < kTimeoutKinds; ++k) {
    auto& list = timeouts_[k];
    while (!list.empty() && list.front()->deadline <= now) {
      Connection* c = list.front();
      timer_.record(c->deadline);
      arm(c, TimeoutKind::None);
      c->on_timeout(static_cast<TimeoutKind>(k));
    }
  }
  while (!deadlines_.empty() && deadlines_.front()->deadline <= now) {
    Exchange* x = deadlines_.front();
    timer_.record(x->deadline);
    deadlines_.remove(x);
    stats_.responses_timed_out.add();
    x->conn->expire(x);
  }
}

void Loop::arm_date_timer() {
  // The Date header changes once a second: refresh it just after each wall-clock second.
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  date_.refresh(ts.tv_sec);
  const uint64_t into_second_ms = static_cast<uint64_t>(ts.tv_nsec) / 1000000;
  uv_timer_start(&date_timer_, on_date, 1000 - std::min<uint64_t>(into_second_ms, 999), 0);
}

void Loop::on_date(uv_timer_t* t) {
  static_cast<Loop*>(t->data)->arm_date_timer();
}

// ---------------------------------------------------------------- the inbox

void Loop::on_wake(void* self) {
  auto* l = static_cast<Loop*>(self);
  {
    CorkScope cork(*l);
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
  for (auto& item : batch_.completions) jobs_.complete(std::move(item));
  batch_.completions.clear();
  for (auto& task : batch_.tasks) {
    // Tasks are the server's own messages; user code inside them has its own boundary. This
    // one is the last resort: nothing thrown may cross the loop.
    try {
      task();
    } catch (const std::exception& e) {
      stats_.handler_exceptions.add();
      std::fprintf(stderr, "tether: a task on loop %u threw: %s\n", index_, e.what());
    } catch (...) {
      stats_.handler_exceptions.add();
      std::fprintf(stderr, "tether: a task on loop %u threw\n", index_);
    }
  }
  batch_.tasks.clear();  // destroyed here, on the owner thread
}

void Loop::run_releases() {
  anchor_->take_releases(releases_);
  for (const Release& r : releases_) r.fn(r.obj);
  releases_.clear();
}

WriteState* Loop::acquire_write_state() {
  if (free_writes_.empty()) return new WriteState();
  WriteState* w = free_writes_.back();
  free_writes_.pop_back();
  return w;
}

void Loop::release_write_state(WriteState* w) {
  w->active = false;
  w->inflight.clear();
  w->queued.clear();
  if (w->inflight.capacity() > kKeepWriteCapacity) std::string().swap(w->inflight);
  if (w->queued.capacity() > kKeepWriteCapacity) std::string().swap(w->queued);
  if (free_writes_.size() >= kMaxPooledWrites) {
    delete w;
    return;
  }
  free_writes_.push_back(w);
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
    CorkScope cork(*this);
    for (Connection* c = connections_.front(); c;) {
      Connection* next = decltype(connections_)::next(c);
      c->begin_drain();
      c = next;
    }
    // Then parked waits end, answered (the last response of their connection, so it says
    // Connection: close), instead of holding their connections until the drain deadline.
    mailbox_.begin_drain();
  }
  if (!connections_.empty() && timers_open_) {
    uv_timer_start(&drain_timer_, on_drain_deadline, options_.drain_timeout_ms, 0);
  }
  maybe_drained();
}

void Loop::on_drain_deadline(uv_timer_t* t) {
  auto* l = static_cast<Loop*>(t->data);
  CorkScope cork(*l);
  while (Connection* c = l->connections_.front()) c->close();
}

void Loop::maybe_drained() {
  if (!draining_ || drained_ || !connections_.empty()) return;
  drained_ = true;
  if (timers_open_) uv_timer_stop(&drain_timer_);
  // The inbox stays open until every loop of the server has drained: a request still in
  // flight on another loop may need this loop's mailbox shard.
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
  auto close = [](auto* h) { uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr); };
  if (timers_open_) {
    timers_open_ = false;
    close(&date_timer_);
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
  // record that holds user code or a Response.
  settle();
  drain_inbox();
  run_releases();
  settle();
  jobs_.clear();
  mailbox_.clear();
  // Handles that user code still holds stay valid: their exchanges are dead and inert, and
  // from now on their anchor says the loop is gone.
  anchor_->retire();
  torn_down_ = true;
}

}  // namespace tether::detail
