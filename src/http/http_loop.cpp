#include "http/http_loop.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "http/connection.hpp"

namespace tether::detail {
namespace {
constexpr size_t kReadBufferBytes = 64 * 1024;
constexpr size_t kMaxPooledWrites = 1024;
constexpr size_t kKeepWriteCapacity = 64 * 1024;
}  // namespace

HttpLoop& HttpLoop::attach(Loop& loop, const ServerOptions& options, const Router& router,
                           WorkerPool* pool) {
  HttpLoop& http = loop.attach(std::make_unique<HttpLoop>(loop, options, router, pool));
  loop.set_completion_sink(&http);
  return http;
}

HttpLoop::HttpLoop(Loop& loop, const ServerOptions& options, const Router& router, WorkerPool* pool)
    : core_(loop),
      options_(options),
      router_(router),
      exchanges_(*this, &loop.anchor()),
      jobs_(*this, pool) {
  limits_.max_head_bytes = options.max_head_bytes;
  limits_.max_target_bytes = options.max_target_bytes;
  limits_.max_headers = options.max_headers;
  limits_.max_body_bytes = options.max_body_bytes;
  parser_.set_route_at_head(true);  // a body is read only once its route wants it
  read_buf_.resize(kReadBufferBytes);
  cork_.reserve(kReadBufferBytes);
  server_line_ = "Server: " + options.server_name + "\r\n";
  if (options.on_response) hook_ = &options.on_response;
  init_status_ = loop.init_status();
  if (!init_status_) return;
  if (int rc = uv_timer_init(loop.uv(), &date_timer_); rc != 0) {
    init_status_ =
        Status::error(std::string("cannot set up the event loop: timer: ") + uv_strerror(rc));
    return;
  }
  date_timer_.data = this;
  date_timer_open_ = true;
  loop.deadlines().add_source(this);
}

HttpLoop::~HttpLoop() {
  for (WriteState* w : free_writes_) delete w;
}

Status HttpLoop::listen(uint16_t port, bool reuseport, uint16_t* bound) {
  if (!init_status_) return init_status_;
  return core_.listen(options_.host, port, reuseport, options_.backlog, on_connection, this, bound);
}

uint32_t HttpLoop::timeout_ms(TimeoutKind k) const {
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

void HttpLoop::started() {
  arm_date_timer();
}

// ---------------------------------------------------------------- cork

std::string& HttpLoop::cork(Connection* c) {
  if (corked_ != c) {
    flush_cork();
    corked_ = c;
  }
  return cork_;
}

void HttpLoop::flush_cork() {
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

void HttpLoop::flush_cork_with(Connection* c, std::string&& body) {
  if (corked_ != c) flush_cork();  // another connection's bytes go first, on their own
  corked_ = nullptr;
  if (auto hook = after_user_code_.load(std::memory_order_acquire)) hook();
  std::string out;  // as in flush_cork: a failed write must find an empty cork
  out.swap(cork_);
  c->send_bytes(out.data(), out.size(), std::move(body));
  out.clear();
  if (cork_.empty()) cork_.swap(out);
}

void HttpLoop::settle() {
  // Callbacks first: what they answer joins the output of the event that closed their
  // exchange, and goes out in the same flush. A flush may close another connection whose
  // callbacks are then due: round again until none is left. on_writable callbacks run once
  // per settle: one that asks again at once runs on the next turn of the loop (see
  // next_deadline), so that I/O and timers go on in between.
  if (closed_.empty() && writable_.empty() && bodies_.empty()) [[likely]] {
    flush_cork();  // the request path: nothing but output
    if (closed_.empty()) return;
  }
  bool writable_ran = false;
  for (;;) {
    while (!closed_.empty() || (!writable_.empty() && !writable_ran) || !bodies_.empty()) {
      bodies_running_.swap(bodies_);
      for (Exchange* x : bodies_running_) {
        x->body->due = false;
        if (x->conn) x->conn->continue_body(x);
        exchange_unref(x);
      }
      bodies_running_.clear();
      closed_running_.swap(closed_);
      for (Exchange* x : closed_running_) {
        exchange_closed(x);  // stops its jobs, tells the handler's on_close
        exchange_unref(x);
      }
      closed_running_.clear();
      if (!writable_ran && !writable_.empty()) {
        writable_ran = true;
        writable_running_.swap(writable_);
        for (Exchange* x : writable_running_) {
          run_writable(x);
          exchange_unref(x);
        }
        writable_running_.clear();
      }
    }
    flush_cork();
    if (closed_.empty()) break;
  }
  if (!writable_.empty()) core_.deadlines().schedule(core_.now());
}

void HttpLoop::run_writable(Exchange* x) {
  StreamState& st = *x->stream;
  st.writable_due = false;
  std::function<void()> cb = std::move(st.on_writable);
  st.on_writable = nullptr;
  if (x->state != ExchangeState::Streaming || !x->conn || st.ended || !cb) return;  // cb dies
  run_user_code(x, "on_writable callback", cb);
}

void HttpLoop::stream_timer(Exchange* x, uint64_t delay_ms, std::function<void()> cb) {
  ++x->refs;
  const uint64_t at = core_.now() + delay_ms;
  stream_timers_.emplace(at, StreamTimer{x, std::move(cb)});
  core_.deadlines().schedule(at);
}

void HttpLoop::teardown() {
  jobs_.clear();
  // Callbacks that never came due: destroyed here, on the loop thread, with their references.
  auto timers = std::move(stream_timers_);
  stream_timers_.clear();
  for (auto& [at, t] : timers) {
    t.cb = nullptr;
    exchange_unref(t.x);
  }
}

void HttpLoop::arm_heartbeat(Exchange* x) {
  deadlines_.remove(x);  // never on both lists: they share Exchange::deadline
  if (options_.sse_heartbeat_ms == 0) {
    heartbeats_.push_back(x);  // listed all the same: a stop ends every event stream
    x->deadline = DeadlineTimer::kNever;
    return;
  }
  x->deadline = core_.now() + options_.sse_heartbeat_ms;
  heartbeats_.push_back(x);  // to the back: the list stays in order of due time
  core_.deadlines().schedule(x->deadline);
}

void HttpLoop::drop_cork(Connection* c) {
  if (corked_ != c) return;
  corked_ = nullptr;
  cork_.clear();
}

// ---------------------------------------------------------------- connections and deadlines

void HttpLoop::on_connection(void* self, uv_stream_t* server) {
  auto* l = static_cast<HttpLoop*>(self);
  CorkScope cork(*l);
  auto* c = new Connection(*l);
  if (int rc = c->init(); rc != 0) {
    delete c;
    l->core_.log().write(LogLevel::Error, "loop %u cannot take a connection: %s", l->core_.index(),
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

Connection* HttpLoop::open_in_memory() {
  core_.adopt_if_threadless();
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

void HttpLoop::connection_closed(Connection* c) {
  connections_.remove(c);
  stats_.connections_active.sub();
  if (connections_.empty()) core_.check_drained();
}

void HttpLoop::arm(Connection* c, TimeoutKind kind) {
  if (c->timeout_kind != TimeoutKind::None) timeouts_[static_cast<int>(c->timeout_kind)].remove(c);
  c->timeout_kind = TimeoutKind::None;
  uint32_t ms = timeout_ms(kind);
  if (kind == TimeoutKind::None || ms == 0) return;
  c->timeout_kind = kind;
  c->deadline = core_.now() + ms;
  timeouts_[static_cast<int>(kind)].push_back(c);
  core_.deadlines().schedule(c->deadline);
}

void HttpLoop::arm_deadline(Exchange* x) {
  // A stream has no response deadline, and its `deadline` field times its heartbeats.
  if (options_.response_timeout_ms == 0 || x->stream) return;
  // From now: an exchange already on the list (armed by a continuation that ran inside its
  // handler) moves to the back with its new deadline, which keeps the list in order.
  x->deadline = core_.now() + options_.response_timeout_ms;
  deadlines_.push_back(x);
  core_.deadlines().schedule(x->deadline);
}

uint64_t HttpLoop::next_deadline() const {
  // Each list has one fixed timeout, so appending keeps it sorted: its head is its earliest.
  uint64_t next = DeadlineTimer::kNever;
  for (int k = 1; k < kTimeoutKinds; ++k) {
    if (!timeouts_[k].empty()) next = std::min(next, timeouts_[k].front()->deadline);
  }
  if (!deadlines_.empty()) next = std::min(next, deadlines_.front()->deadline);
  if (!heartbeats_.empty()) next = std::min(next, heartbeats_.front()->deadline);
  if (!stream_timers_.empty()) next = std::min(next, stream_timers_.begin()->first);
  if (!writable_.empty()) next = std::min(next, core_.now());  // due at the next turn
  return next;
}

void HttpLoop::on_deadline(uint64_t now) {
  CorkScope cork(*this);
  DeadlineTimer& timer = core_.deadlines();
  for (int k = 1; k < kTimeoutKinds; ++k) {
    auto& list = timeouts_[k];
    while (!list.empty() && list.front()->deadline <= now) {
      Connection* c = list.front();
      timer.record(c->deadline);
      arm(c, TimeoutKind::None);
      c->on_timeout(static_cast<TimeoutKind>(k));
    }
  }
  while (!deadlines_.empty() && deadlines_.front()->deadline <= now) {
    Exchange* x = deadlines_.front();
    timer.record(x->deadline);
    deadlines_.remove(x);
    stats_.responses_timed_out.add();
    x->conn->expire(x);
  }
  // An idle event stream gets a comment line, which clients ignore and proxies see as life.
  while (!heartbeats_.empty() && heartbeats_.front()->deadline <= now) {
    Exchange* x = heartbeats_.front();
    timer.record(x->deadline);
    x->conn->stream_write(x, ":\n\n");  // re-arms it
  }
  while (!stream_timers_.empty() && stream_timers_.begin()->first <= now) {
    auto node = stream_timers_.extract(stream_timers_.begin());
    StreamTimer& t = node.mapped();
    timer.record(node.key());
    Exchange* x = t.x;
    if (x->state == ExchangeState::Streaming && x->conn && !x->stream->ended) {
      run_user_code(x, "Stream::after callback", t.cb);
    }
    t.cb = nullptr;  // what it captured goes before the exchange may
    exchange_unref(x);
  }
}

void HttpLoop::arm_date_timer() {
  // The Date header changes once a second: refresh it just after each wall-clock second.
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  date_.refresh(ts.tv_sec);
  if (!date_timer_open_) return;
  const uint64_t into_second_ms = static_cast<uint64_t>(ts.tv_nsec) / 1000000;
  uv_timer_start(&date_timer_, on_date, 1000 - std::min<uint64_t>(into_second_ms, 999), 0);
}

void HttpLoop::on_date(uv_timer_t* t) {
  static_cast<HttpLoop*>(t->data)->arm_date_timer();
}

WriteState* HttpLoop::acquire_write_state() {
  if (free_writes_.empty()) return new WriteState();
  WriteState* w = free_writes_.back();
  free_writes_.pop_back();
  return w;
}

void HttpLoop::release_write_state(WriteState* w) {
  w->active = false;
  w->inflight.clear();
  std::string().swap(w->body);
  w->body_off = 0;
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

void HttpLoop::begin_drain() {
  // Event streams never end by themselves: they end now (a browser reconnects, to another
  // server), so the drain does not wait its whole timeout for them.
  while (Exchange* x = heartbeats_.front()) {
    ++x->refs;
    x->conn->stream_end(x);  // takes it off the list
    exchange_unref(x);
  }
  for (Connection* c = connections_.front(); c;) {
    Connection* next = decltype(connections_)::next(c);
    c->begin_drain();
    c = next;
  }
}

void HttpLoop::abort() {
  CorkScope cork(*this);
  while (Connection* c = connections_.front()) c->close();
}

void HttpLoop::close_handles() {
  if (!date_timer_open_) return;
  date_timer_open_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&date_timer_), nullptr);
}

}  // namespace tether::detail
