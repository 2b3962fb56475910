#include "loop.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>

#include "connection.hpp"
#include "listener.hpp"
#include "worker_pool.hpp"

namespace tether::detail {
namespace {
thread_local Loop* t_current = nullptr;
constexpr size_t kReadBufferBytes = 64 * 1024;
constexpr size_t kMaxPooledWrites = 1024;
constexpr size_t kKeepWriteCapacity = 64 * 1024;
// How often a listener paused for want of fds tries to listen again.
constexpr uint64_t kAcceptRetryMs = 100;
}  // namespace

Loop::Loop(const ServerOptions& options, const Router& router, WorkerPool* pool, unsigned index)
    : options_(options),
      router_(router),
      pool_(pool),
      index_(index),
      exchanges_(*this),
      mailbox_(MailboxLimits{options.mailbox_max_ids, options.mailbox_max_value_bytes,
                             options.mailbox_max_waiters_per_id, options.mailbox_ttl_ms}) {
  limits_.max_head_bytes = options.max_head_bytes;
  limits_.max_target_bytes = options.max_target_bytes;
  limits_.max_headers = options.max_headers;
  limits_.max_body_bytes = options.max_body_bytes;
  uv_loop_init(&uv_);
  uv_timer_init(&uv_, &tick_);
  tick_.data = this;
  uv_timer_init(&uv_, &drain_timer_);
  drain_timer_.data = this;
  uv_timer_init(&uv_, &accept_retry_);
  accept_retry_.data = this;
  uv_async_init(&uv_, &wake_, on_wake);
  wake_.data = this;
  listener_.data = this;
  read_buf_.resize(kReadBufferBytes);
  cork_.reserve(kReadBufferBytes);
  server_line_ = "Server: " + options.server_name + "\r\n";
}

Loop::~Loop() {
  join();
  if (!handles_closed_) {
    close_handles();
    uv_run(&uv_, UV_RUN_DEFAULT);
  }
  uv_loop_close(&uv_);
  if (listen_dup_ >= 0) ::close(listen_dup_);
  for (WriteState* w : free_writes_) delete w;
}

Status Loop::listen(uint16_t port, bool reuseport, uint16_t* bound) {
  int fd = -1;
  if (Status s = bind_listen_socket(options_.host, port, reuseport, &fd); !s) return s;
  std::string where = options_.host + ":" + std::to_string(port);
  listen_dup_ = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (listen_dup_ < 0) {
    int err = errno;
    ::close(fd);
    return Status::error("cannot listen on " + where + ": " + std::strerror(err));
  }
  uv_tcp_init(&uv_, &listener_);
  listener_.data = this;
  listening_ = true;  // from here on the handle must be closed
  if (int rc = uv_tcp_open(&listener_, fd); rc != 0) {
    ::close(fd);
    return Status::error("cannot listen on " + where + ": " + uv_strerror(rc));
  }
  int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), static_cast<int>(options_.backlog),
                     on_connection);
  if (rc != 0) return Status::error("cannot listen on " + where + ": " + uv_strerror(rc));
  if (bound) {
    sockaddr_storage addr{};
    int len = sizeof addr;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    *bound = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  }
  return {};
}

void Loop::watch_signals(std::function<void()> on_signal_cb) {
  signal_cb_ = std::move(on_signal_cb);
  uv_signal_init(&uv_, &sigint_);
  uv_signal_init(&uv_, &sigterm_);
  sigint_.data = sigterm_.data = this;
  uv_signal_start(&sigint_, on_signal, SIGINT);
  uv_signal_start(&sigterm_, on_signal, SIGTERM);
  signals_ = true;
}

void Loop::start() {
  thread_ = std::thread([this] { run(); });
}

void Loop::join() {
  if (thread_.joinable()) thread_.join();
}

void Loop::request_stop() {
  std::lock_guard<std::mutex> lock(wake_mu_);
  if (handles_closed_flag_) return;
  stop_requested_.store(true, std::memory_order_release);
  uv_async_send(&wake_);
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

Loop* Loop::current() {
  return t_current;
}

void Loop::run() {
  thread_id_ = std::this_thread::get_id();
  t_current = this;
  // Deadlines are checked by one periodic tick: an eighth of the shortest timeout keeps
  // expiry within ~12% of its value, and at most 250 ms keeps the Date header current.
  uint32_t shortest = 250 * 8;
  for (TimeoutKind k : {TimeoutKind::Header, TimeoutKind::Body, TimeoutKind::Idle,
                        TimeoutKind::Write, TimeoutKind::Linger}) {
    if (uint32_t t = timeout_ms(k); t > 0) shortest = std::min(shortest, t);
  }
  if (options_.response_timeout_ms > 0) shortest = std::min(shortest, options_.response_timeout_ms);
  uint64_t period = std::clamp<uint64_t>(shortest / 8, 1, 250);
  uv_timer_start(&tick_, on_tick, period, period);
  uv_run(&uv_, UV_RUN_DEFAULT);
  // Jobs still out when the loop ends (drain deadline): ask them to stop, and drop their
  // records here, on the loop thread that owns their Responses. Late completions are dropped
  // by post_completion.
  for (auto& [id, job] : jobs_) job.stop.request_stop();
  jobs_.clear();
  for (auto& [token, w] : mail_waits_) w.alive->store(false);
  mail_waits_.clear();
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
  Connection* c = corked_;
  if (!c) return;
  corked_ = nullptr;
  if (!cork_.empty()) c->send_bytes(cork_.data(), cork_.size());
  cork_.clear();
}

void Loop::drop_cork(Connection* c) {
  if (corked_ != c) return;
  corked_ = nullptr;
  cork_.clear();
}

// ---------------------------------------------------------------- connections and deadlines

void Loop::on_connection(uv_stream_t* server, int status) {
  auto* l = static_cast<Loop*>(server->data);
  if (status == UV_EMFILE || status == UV_ENFILE) {
    // No fd, and libuv's reserve fd (closed to accept and shed pending connections) is gone
    // too, taken by another thread: libuv would call back at once, forever.
    l->pause_accepting();
    return;
  }
  if (status < 0) return;  // a connection that failed while being accepted
  CorkScope cork(*l);
  auto* c = new Connection(*l);
  l->connections_.push_back(c);
  l->stats_.connections_accepted.add();
  l->stats_.connections_active.add();
  c->start(server);
  if (l->connections_.size() > l->options_.max_connections) {
    l->stats_.connections_rejected.add();
    c->reject(503, "too many connections");
  }
}

void Loop::pause_accepting() {
  if (!listening_ || draining_) return;
  // Closing the handle ends libuv's accept loop; the socket stays open (listen_dup_), so new
  // connections wait in its backlog until an fd is free again.
  listening_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), on_listener_closed);
}

void Loop::on_listener_closed(uv_handle_t* h) {
  auto* l = static_cast<Loop*>(h->data);
  // Only a pause (or a failed resume) closes the listener with this callback; draining closes
  // it for good without one.
  if (!l->draining_ && !l->handles_closed_) {
    uv_timer_start(&l->accept_retry_, on_accept_retry, kAcceptRetryMs, 0);
  }
}

void Loop::on_accept_retry(uv_timer_t* t) {
  auto* l = static_cast<Loop*>(t->data);
  if (!l->draining_) l->resume_accepting();
}

void Loop::resume_accepting() {
  int fd = ::fcntl(listen_dup_, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {  // still no fd to spare
    uv_timer_start(&accept_retry_, on_accept_retry, kAcceptRetryMs, 0);
    return;
  }
  uv_tcp_init(&uv_, &listener_);  // also lets libuv take its reserve fd again, if one is free
  listener_.data = this;
  bool ok = uv_tcp_open(&listener_, fd) == 0;
  if (!ok) ::close(fd);
  ok = ok && uv_listen(reinterpret_cast<uv_stream_t*>(&listener_),
                       static_cast<int>(options_.backlog), on_connection) == 0;
  if (!ok) {
    // on_listener_closed tries again later.
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), on_listener_closed);
    return;
  }
  listening_ = true;
}

Connection* Loop::open_in_memory() {
  // A loop with no thread of its own is driven by whoever feeds it: that thread is the one
  // Response's loop-thread assertions must accept.
  if (!thread_.joinable()) thread_id_ = std::this_thread::get_id();
  auto* c = new Connection(*this);
  connections_.push_back(c);
  stats_.connections_accepted.add();
  stats_.connections_active.add();
  c->start_in_memory();
  return c;
}

void Loop::connection_closed(Connection* c) {
  connections_.remove(c);
  stats_.connections_active.sub();
  if (draining_ && connections_.empty()) close_handles();
}

void Loop::arm(Connection* c, TimeoutKind kind) {
  if (c->timeout_kind != TimeoutKind::None) timeouts_[static_cast<int>(c->timeout_kind)].remove(c);
  c->timeout_kind = TimeoutKind::None;
  uint32_t ms = timeout_ms(kind);
  if (kind == TimeoutKind::None || ms == 0) return;
  c->timeout_kind = kind;
  c->deadline = uv_now(&uv_) + ms;
  timeouts_[static_cast<int>(kind)].push_back(c);
}

void Loop::on_tick(uv_timer_t* t) {
  auto* l = static_cast<Loop*>(t->data);
  l->date_.refresh(std::time(nullptr));
  uint64_t now = uv_now(&l->uv_);
  CorkScope cork(*l);
  for (int k = 1; k < kTimeoutKinds; ++k) {
    auto& list = l->timeouts_[k];
    while (!list.empty() && list.front()->deadline <= now) {
      Connection* c = list.front();
      l->arm(c, TimeoutKind::None);
      c->on_timeout(static_cast<TimeoutKind>(k));
    }
  }
  l->mailbox_.expire(now);
  l->mailbox_.publish();
  while (!l->deadlines_.empty() && l->deadlines_.front()->deadline <= now) {
    Exchange* x = l->deadlines_.front();
    l->deadlines_.remove(x);
    l->stats_.responses_timed_out.add();
    x->conn->expire(x);
  }
}

void Loop::arm_deadline(Exchange* x) {
  if (options_.response_timeout_ms == 0) return;
  x->deadline = uv_now(&uv_) + options_.response_timeout_ms;
  deadlines_.push_back(x);
}

// ---------------------------------------------------------------- offloaded jobs

namespace {
// Stands in for the work of an empty fan-out, so that its continuation still runs on a later
// turn of the loop rather than inside the call that started it.
struct NoWork final : WorkItem {
  void run(std::stop_token) noexcept override {}
};
}  // namespace

bool Loop::start_job(Exchange* x, std::vector<std::unique_ptr<WorkItem>> items,
                     std::unique_ptr<Finisher> fin) {
  const uint64_t id = ++next_job_id_;
  std::stop_source stop;
  const size_t n = items.size();
  for (size_t i = 0; i < n; ++i) {
    items[i]->home = this;
    items[i]->job_id = id;
    items[i]->index = static_cast<uint32_t>(i);
    items[i]->stop = stop;
  }
  if (n == 0) {
    auto none = std::make_unique<NoWork>();
    none->home = this;
    none->job_id = id;
    post_completion(std::move(none));
  } else if (!pool_ || !pool_->submit(items)) {
    x->conn->answer_error(x, 503, "server busy: the work queue is full", "Retry-After: 1\r\n");
    return false;
  }
  Job& job = jobs_[id];
  job.res = ResponseAccess::make(x);
  job.fin = std::move(fin);
  job.done.resize(n);
  job.remaining = std::max<size_t>(n, 1);
  job.stop = stop;
  x->on_close.push_back([stop]() mutable { stop.request_stop(); });
  return true;
}

void Loop::post_completion(std::unique_ptr<WorkItem> item) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    if (!handles_closed_flag_) {
      wake = inbox_.empty() && tasks_.empty();  // one wake-up per batch
      inbox_.push_back(std::move(item));
      if (wake) uv_async_send(&wake_);
    }
  }
  // A loop already gone: `item` (data only) is destroyed here, on the worker thread.
}

bool Loop::post_task(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(wake_mu_);
  if (handles_closed_flag_) return false;
  bool wake = inbox_.empty() && tasks_.empty();
  tasks_.push_back(std::move(task));
  if (wake) uv_async_send(&wake_);
  return true;
}

void Loop::drain_inbox() {
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    inbox_drained_.swap(inbox_);
    tasks_drained_.swap(tasks_);
  }
  for (auto& item : inbox_drained_) complete(std::move(item));
  inbox_drained_.clear();
  for (auto& task : tasks_drained_) task();
  tasks_drained_.clear();
  mailbox_.publish();
}

void Loop::complete(std::unique_ptr<WorkItem> item) {
  auto it = jobs_.find(item->job_id);
  if (it == jobs_.end()) return;
  Job& j = it->second;
  if (item->index < j.done.size()) j.done[item->index] = std::move(item);
  if (--j.remaining > 0) return;
  Job job = std::move(j);
  jobs_.erase(it);
  Exchange* x = ResponseAccess::exchange(job.res);
  if (!job.res.alive()) {
    // The client left (or the deadline answered 504): the result has nowhere to go.
    stats_.jobs_abandoned.add();
    if (x->state == ExchangeState::Dead) stats_.responses_dropped.add();
    return;
  }
  for (auto& d : job.done) {
    if (d && d->error) {
      run_user_code(x, "offloaded work", [&] { std::rethrow_exception(d->error); });
      return;
    }
  }
  // `then` receives the Response by value: if it throws, unwinding drops that handle, so the
  // exchange needs a reference of our own until we have looked at it.
  ++x->refs;
  run_user_code(x, "offload continuation", [&] { job.fin->finish(job.res, job.done); });
  exchange_unref(x);
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

void Loop::on_wake(uv_async_t* a) {
  auto* l = static_cast<Loop*>(a->data);
  {
    CorkScope cork(*l);
    l->drain_inbox();
  }
  if (l->stop_requested_.load(std::memory_order_acquire)) l->begin_drain();
}

void Loop::on_signal(uv_signal_t* s, int) {
  auto* l = static_cast<Loop*>(s->data);
  if (l->signal_cb_) l->signal_cb_();
}

void Loop::begin_drain() {
  if (draining_) return;
  draining_ = true;
  if (listening_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    listening_ = false;
  }
  uv_timer_stop(&accept_retry_);
  if (listen_dup_ >= 0) {
    ::close(listen_dup_);  // the last fd of the socket: the port is free from here on
    listen_dup_ = -1;
  }
  {
    CorkScope cork(*this);
    for (Connection* c = connections_.front(); c;) {
      Connection* next = decltype(connections_)::next(c);
      c->begin_drain();
      c = next;
    }
  }
  if (connections_.empty()) {
    close_handles();
  } else if (!handles_closed_) {
    uv_timer_start(&drain_timer_, on_drain_deadline, options_.drain_timeout_ms, 0);
  }
}

void Loop::on_drain_deadline(uv_timer_t* t) {
  auto* l = static_cast<Loop*>(t->data);
  while (Connection* c = l->connections_.front()) c->close();
}

void Loop::close_handles() {
  if (handles_closed_) return;
  handles_closed_ = true;
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    handles_closed_flag_ = true;
  }
  auto close = [](auto* h) { uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr); };
  close(&tick_);
  close(&drain_timer_);
  close(&accept_retry_);
  close(&wake_);
  if (signals_) {
    close(&sigint_);
    close(&sigterm_);
  }
  if (listening_) {
    close(&listener_);
    listening_ = false;
  }
}

}  // namespace tether::detail
