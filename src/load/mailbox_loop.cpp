// MailboxLoop's connections: waiters, posters and the lead's /metrics reader share one
// connect/write/read path; what a completed response means is up to the role.
#include "load/mailbox_loop.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace tether::load::detail {
namespace {

constexpr size_t kReadBufferBytes = 64 * 1024;
/// A poster whose connect failed tries again this much later (a refused port must not spin).
constexpr uint64_t kRetryMs = 10;
/// Failed connects in a row after which a poster gives up (its loop's other posters go on).
constexpr uint8_t kMaxConnectFailures = 3;
/// The /metrics body kept for the gauge; a longer one counts as no gauge.
constexpr size_t kMaxMetricsBytes = 1 << 20;

MailboxConn& conn_of(llhttp_t* p) {
  return *static_cast<MailboxConn*>(p->data);
}

size_t kind(ErrorKind k) {
  return static_cast<size_t>(k);
}

}  // namespace

/// libuv and llhttp callbacks, with access to the loop's internals.
struct MailboxCallbacks {
  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto& rb = static_cast<MailboxConn*>(h->data)->owner->read_buf_;
    *buf = uv_buf_init(rb.data(), static_cast<unsigned>(rb.size()));
  }
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t*) {
    auto& c = *static_cast<MailboxConn*>(s->data);
    c.owner->on_read(c, n);
  }
  static void on_connect(uv_connect_t* req, int status) {
    auto& c = *static_cast<MailboxConn*>(req->data);
    if (status == UV_ECANCELED) return;  // closed while connecting
    MailboxLoop& l = *c.owner;
    if (status < 0) {
      if (l.connect_error_ == 0) l.connect_error_ = status;
      c.failed_connect = true;
      l.failed(c, ErrorKind::connect);
      return;
    }
    l.connected(c);
  }
  static void on_write(uv_write_t* req, int status) {
    auto& c = *static_cast<MailboxConn*>(req->data);
    c.writing = false;
    if (status == UV_ECANCELED || c.state != MailboxConn::State::Open) return;
    if (status < 0) {
      c.owner->failed(c, ErrorKind::reset);
      return;
    }
    c.owner->written(c);
  }
  static void on_close(uv_handle_t* h) {
    static_cast<MailboxConn*>(h->data)->owner->closed(*static_cast<MailboxConn*>(h->data));
  }

  static int on_body(llhttp_t* p, const char* at, size_t len) {
    MailboxConn& c = conn_of(p);
    MailboxLoop& l = *c.owner;
    if (c.role == MailboxConn::Role::Waiter) {
      if (p->status_code == 200) c.check.feed(l.plan_.values, at, len);
    } else if (c.role == MailboxConn::Role::Probe && !l.metrics_too_big_) {
      if (l.metrics_.size() + len > kMaxMetricsBytes) {
        l.metrics_too_big_ = true;
      } else {
        l.metrics_.append(at, len);
      }
    }
    return 0;
  }
  static int on_message_complete(llhttp_t* p) {
    MailboxConn& c = conn_of(p);
    const unsigned status = p->status_code;
    if (status >= 100 && status < 200 && status != 101) {
      // An interim response (100 Continue, 103 Early Hints): the final one is still to come.
      c.check.reset();
      if (c.role == MailboxConn::Role::Probe) c.owner->metrics_.clear();
      return 0;
    }
    if (!c.in_flight || c.complete) return -1;  // a response to no request: out of step
    c.status = static_cast<uint16_t>(status);
    c.keep_alive = llhttp_should_keep_alive(p) != 0;
    c.complete = true;
    // One response per request: what it means is decided after llhttp_execute returns, and
    // anything after it in the same read was not asked for.
    return HPE_PAUSED;
  }
};

namespace {
llhttp_settings_t make_settings() {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_body = MailboxCallbacks::on_body;
  s.on_message_complete = MailboxCallbacks::on_message_complete;
  return s;
}
}  // namespace

MailboxLoop& MailboxLoop::attach(Loop& loop, MailboxPlan& plan, unsigned index, unsigned posters,
                                 size_t first_post, size_t end_post) {
  return loop.attach(
      std::make_unique<MailboxLoop>(loop, plan, index, posters, first_post, end_post));
}

MailboxLoop::MailboxLoop(Loop& loop, MailboxPlan& plan, unsigned index, unsigned posters,
                         size_t first_post, size_t end_post)
    : core_(loop),
      plan_(plan),
      index_(index),
      lead_(index == 0),
      settings_(make_settings()),
      next_post_(first_post),
      end_post_(end_post) {
  read_buf_.resize(kReadBufferBytes);
  auto make = [this](MailboxConn::Role role) {
    auto c = std::make_unique<MailboxConn>();
    c->owner = this;
    c->role = role;
    c->tcp.data = c.get();
    c->connect_req.data = c.get();
    c->write_req.data = c.get();
    return c;
  };
  for (unsigned id = index; id < plan.waiters; id += plan.threads) {
    waiters_.push_back(make(MailboxConn::Role::Waiter));
    waiters_.back()->id = id;
  }
  for (unsigned i = 0; i < posters; ++i) {
    posters_.push_back(make(MailboxConn::Role::Poster));
    // Sized once for the largest POST: posting allocates nothing.
    posters_.back()->out.reserve(plan.prefix.size() + plan.authority.size() +
                                 plan.values.value_len() + 160);
  }
  if (lead_) {
    probe_ = make(MailboxConn::Role::Probe);
    probe_->out = "GET /metrics HTTP/1.1\r\nHost: " + plan.authority + "\r\n\r\n";
  }
  loop.deadlines().add_source(this);
}

MailboxLoop::~MailboxLoop() = default;

void MailboxLoop::arm(uint64_t at) {
  if (at < next_) next_ = at;
  core_.deadlines().schedule(at);
}

// ---------------------------------------------------------------- connections

void MailboxLoop::open(MailboxConn& c) {
  c.failed_connect = false;
  c.in_flight = c.complete = false;
  if (int rc = uv_tcp_init(core_.uv(), &c.tcp); rc != 0) {
    // No handle was made (no descriptor left, say): nothing to close.
    if (connect_error_ == 0) connect_error_ = rc;
    if (c.role == MailboxConn::Role::Waiter) {
      waiter_done(c, 0, MailboxValues::kGarbage, ErrorKind::connect);
    } else if (c.role == MailboxConn::Role::Poster) {
      ++result_.post_errors[kind(ErrorKind::connect)];
      retire(c);
      maybe_finish();
    } else {
      probe_answer(false);
    }
    return;
  }
  ++open_;
  c.state = MailboxConn::State::Connecting;
  uv_tcp_nodelay(&c.tcp, 1);
  c.deadline = core_.now() + plan_.timeout_ms;
  arm(c.deadline);
  const int rc =
      uv_tcp_connect(&c.connect_req, &c.tcp, reinterpret_cast<const sockaddr*>(&plan_.addr),
                     MailboxCallbacks::on_connect);
  if (rc != 0) {
    if (connect_error_ == 0) connect_error_ = rc;
    c.failed_connect = true;
    failed(c, ErrorKind::connect);
  }
}

void MailboxLoop::connected(MailboxConn& c) {
  c.state = MailboxConn::State::Open;
  if (!c.ever_open) {
    c.ever_open = true;
    ++result_.established;
  }
  c.connect_failures = 0;
  llhttp_init(&c.parser, HTTP_RESPONSE, &settings_);
  c.parser.data = &c;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c.tcp), MailboxCallbacks::on_alloc,
                MailboxCallbacks::on_read);
  c.deadline = DeadlineTimer::kNever;
  if (stopping_) return close(c);
  switch (c.role) {
    case MailboxConn::Role::Waiter:
      c.out.clear();
      c.out += "GET ";
      c.out += plan_.prefix;
      plan_.values.append_id(c.id, c.out);
      c.out += "?wait_ms=" + std::to_string(plan_.wait_ms) + " HTTP/1.1\r\nHost: ";
      c.out += plan_.authority;
      c.out += "\r\n\r\n";
      // The connect and the write of the request are bounded by the timeout; once written,
      // the wait is the server's, plus the timeout.
      c.deadline = core_.now() + plan_.timeout_ms;
      arm(c.deadline);
      send(c);
      break;
    case MailboxConn::Role::Poster:
      post_next(c);
      break;
    case MailboxConn::Role::Probe:
      probe_get();
      break;
  }
}

void MailboxLoop::close(MailboxConn& c) {
  using State = MailboxConn::State;
  if (c.state == State::Closing || c.state == State::Idle) return;
  if (c.state == State::Open) uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.tcp));
  c.state = State::Closing;
  c.deadline = DeadlineTimer::kNever;
  uv_close(reinterpret_cast<uv_handle_t*>(&c.tcp), MailboxCallbacks::on_close);
}

void MailboxLoop::closed(MailboxConn& c) {
  --open_;
  c.state = MailboxConn::State::Idle;
  c.writing = false;
  c.in_flight = c.complete = false;
  if (stopping_) {
    if (open_ == 0) {
      result_.end_ns = uv_hrtime();
      core_.check_drained();
    }
    return;
  }
  if (c.role != MailboxConn::Role::Poster) return;
  // A poster closed by the server, after an error or to get back in step: open it again (after
  // a failed connect, a little later), as long as ids are left to post.
  if (!c.finished) {
    if (phase_ != Phase::Posting || next_post_ >= end_post_) {
      retire(c);
    } else if (c.failed_connect) {
      c.deadline = core_.now() + kRetryMs;
      arm(c.deadline);
    } else {
      open(c);
    }
  }
  maybe_finish();
}

void MailboxLoop::send(MailboxConn& c) {
  c.sent_ns = uv_hrtime();
  c.in_flight = true;
  c.complete = false;
  c.check.reset();
  auto* stream = reinterpret_cast<uv_stream_t*>(&c.tcp);
  uv_buf_t b = uv_buf_init(c.out.data(), static_cast<unsigned>(c.out.size()));
  int n = uv_try_write(stream, &b, 1);
  if (n == UV_EAGAIN) n = 0;
  if (n < 0) return failed(c, ErrorKind::reset);
  if (static_cast<size_t>(n) == c.out.size()) return written(c);
  // The rest goes with uv_write; `out` stays untouched until its callback.
  b.base += n;
  b.len -= static_cast<size_t>(n);
  if (uv_write(&c.write_req, stream, &b, 1, MailboxCallbacks::on_write) != 0) {
    return failed(c, ErrorKind::reset);
  }
  c.writing = true;
}

void MailboxLoop::written(MailboxConn& c) {
  if (c.role != MailboxConn::Role::Waiter || c.finished) return;
  ++written_;
  last_written_ns_ = uv_hrtime();
  c.deadline = core_.now() + plan_.wait_ms + plan_.timeout_ms;
  arm(c.deadline);
  std::string().swap(c.out);  // a parked waiter keeps no buffer
  settle_waiter(c);
}

void MailboxLoop::failed(MailboxConn& c, ErrorKind k) {
  switch (c.role) {
    case MailboxConn::Role::Waiter:
      // Not connected within the timeout is a failed connect, like a refused one.
      if (c.state == MailboxConn::State::Connecting) k = ErrorKind::connect;
      waiter_done(c, 0, MailboxValues::kGarbage, k);
      break;
    case MailboxConn::Role::Poster:
      if (c.in_flight) {
        ++result_.post_errors[kind(k)];  // the POST in flight got no response
        c.in_flight = false;
      } else if (c.state == MailboxConn::State::Connecting) {
        ++result_.post_errors[kind(ErrorKind::connect)];  // an attempt to connect failed
        c.failed_connect = true;
        if (++c.connect_failures >= kMaxConnectFailures) retire(c);
      }
      close(c);
      break;
    case MailboxConn::Role::Probe:
      close(c);
      probe_answer(false);
      break;
  }
}

void MailboxLoop::on_read(MailboxConn& c, ssize_t n) {
  if (n == 0) return;
  if (n < 0) {
    if (n == UV_EOF && c.in_flight) {
      c.now_ns = uv_hrtime();
      llhttp_finish(&c.parser);  // a close-delimited body ends here
    }
    if (c.complete) {
      c.keep_alive = false;
      responded(c, false);
      close(c);
    } else if (c.in_flight) {
      failed(c, ErrorKind::reset);
    } else {
      close(c);  // an idle keep-alive connection the server closed
    }
    return;
  }
  c.now_ns = uv_hrtime();
  const char* data = read_buf_.data();
  const llhttp_errno_t err = llhttp_execute(&c.parser, data, static_cast<size_t>(n));
  if (c.complete) {
    const char* stop = llhttp_get_error_pos(&c.parser);
    const bool extra = err == HPE_PAUSED && stop != nullptr && stop < data + n;
    if (err == HPE_PAUSED) llhttp_resume(&c.parser);
    responded(c, extra);
  } else if (err != HPE_OK) {
    failed(c, ErrorKind::parse);
  }
  core_.deadlines().after_read();
}

void MailboxLoop::responded(MailboxConn& c, bool out_of_step) {
  c.complete = false;
  c.in_flight = false;
  c.deadline = DeadlineTimer::kNever;
  switch (c.role) {
    case MailboxConn::Role::Waiter: {
      const int64_t got = c.status == 200 ? c.check.finish(plan_.values) : MailboxValues::kGarbage;
      waiter_done(c, c.status, got, ErrorKind::parse);
      break;
    }
    case MailboxConn::Role::Poster:
      if (c.status == 200) {
        ++result_.posts_delivered;
      } else if (c.status == 202) {
        ++result_.posts_stored;
      } else {
        ++result_.post_status[std::min<size_t>(c.status, result_.post_status.size() - 1)];
      }
      // A write still going (an early answer), bytes nobody asked for, or the server's
      // close: this connection is done; closed() opens it again.
      if (out_of_step || c.writing || !c.keep_alive) {
        close(c);
      } else {
        post_next(c);
      }
      break;
    case MailboxConn::Role::Probe:
      if (out_of_step || c.writing || !c.keep_alive) close(c);
      probe_answer(c.status == 200);
      break;
  }
}

// ---------------------------------------------------------------- waiters and posters

void MailboxLoop::park() {
  if (stopping_ || phase_ != Phase::Waiting) return;
  phase_ = Phase::Parking;
  for (auto& w : waiters_) open(*w);
  if (waiters_.empty()) report();
}

void MailboxLoop::settle_waiter(MailboxConn& c) {
  if (c.settled) return;
  c.settled = true;
  if (++settled_ == waiters_.size()) report();
}

void MailboxLoop::report() {
  if (phase_ != Phase::Parking) return;
  phase_ = Phase::Parked;
  ParkReport r;
  r.written = written_;
  r.parked = written_ - done_after_write_;
  r.connect_error = connect_error_;
  r.last_written_ns = last_written_ns_;
  for (const auto& w : waiters_) r.established += w->ever_open;
  MailboxLoop* lead = plan_.loops[0];
  lead->core_.post_task([lead, r] { lead->on_report(r); });
}

void MailboxLoop::waiter_done(MailboxConn& c, uint16_t status, int64_t got, ErrorKind error) {
  if (c.finished) return;
  c.finished = true;
  ++done_;
  if (c.settled) ++done_after_write_;  // settled before it finished: it had been written
  WaiterOutcome& o = plan_.outcome[c.id];
  o.status = status;
  o.got = got;
  o.error = status == 0 ? static_cast<uint8_t>(kind(error) + 1) : 0;
  o.done_ns = status == 0 ? uv_hrtime() : c.now_ns;
  close(c);
  if (!c.writing) std::string().swap(c.out);  // else its write still points into it
  settle_waiter(c);
  maybe_finish();
}

void MailboxLoop::post() {
  if (stopping_ || phase_ != Phase::Parked) return;
  phase_ = Phase::Posting;
  // The posting phase is bounded like a waiter: a value posted later could not be waited for.
  post_end_ = core_.now() + plan_.wait_ms + plan_.timeout_ms;
  arm(post_end_);
  posters_active_ = static_cast<unsigned>(posters_.size());
  for (auto& p : posters_) {
    if (next_post_ < end_post_) {
      open(*p);
    } else {
      retire(*p);  // this loop's slice is empty (fewer ids than posters)
    }
  }
  maybe_finish();
}

void MailboxLoop::post_next(MailboxConn& c) {
  if (stopping_ || phase_ != Phase::Posting || next_post_ >= end_post_) {
    retire(c);
    close(c);
    maybe_finish();
    return;
  }
  const uint32_t id = plan_.order[next_post_++];
  c.id = id;
  const size_t len = plan_.values.value_len();
  c.out.clear();
  c.out += "POST ";
  c.out += plan_.prefix;
  plan_.values.append_id(id, c.out);
  c.out += " HTTP/1.1\r\nHost: ";
  c.out += plan_.authority;
  c.out += "\r\nContent-Type: application/octet-stream\r\nContent-Length: ";
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, len);
  c.out.append(digits, end);
  c.out += "\r\n\r\n";
  plan_.values.append_value(id, c.out);
  c.deadline = core_.now() + plan_.timeout_ms;
  arm(c.deadline);
  send(c);
  plan_.posted_ns[id] = c.sent_ns;
}

void MailboxLoop::retire(MailboxConn& c) {
  if (c.role != MailboxConn::Role::Poster || c.finished) return;
  c.finished = true;
  c.deadline = DeadlineTimer::kNever;
  --posters_active_;
}

void MailboxLoop::end_posting() {
  post_end_ = DeadlineTimer::kNever;
  for (auto& p : posters_) {
    if (p->in_flight) {
      ++result_.post_errors[kind(ErrorKind::timeout)];
      p->in_flight = false;
    }
    retire(*p);
    close(*p);
  }
  maybe_finish();
}

void MailboxLoop::maybe_finish() {
  if (stopping_ || phase_ != Phase::Posting) return;
  if (done_ < waiters_.size() || posters_active_ > 0) return;
  if (lead_ && lead_phase_ != Lead::Over) return;
  finish();
}

void MailboxLoop::finish() {
  if (stopping_) return;
  stopping_ = true;
  phase_ = Phase::Done;
  result_.posts_unsent += end_post_ > next_post_ ? end_post_ - next_post_ : 0;
  next_post_ = end_post_;
  for (auto& w : waiters_) waiter_done(*w, 0, MailboxValues::kGarbage, ErrorKind::timeout);
  for (auto& p : posters_) {
    if (p->in_flight) {
      ++result_.post_errors[kind(ErrorKind::timeout)];
      p->in_flight = false;
    }
    retire(*p);
    close(*p);
  }
  if (probe_) close(*probe_);
  next_ = DeadlineTimer::kNever;
  if (open_ == 0 && result_.end_ns == 0) result_.end_ns = uv_hrtime();
  core_.request_stop();
}

void MailboxLoop::begin_drain() {
  finish();  // only this loop asks itself to stop, once it has finished
  core_.check_drained();
}

void MailboxLoop::abort() {
  finish();
}

void MailboxLoop::on_deadline(uint64_t now) {
  next_ = DeadlineTimer::kNever;
  if (stopping_) return;
  using State = MailboxConn::State;
  auto live = [](const MailboxConn& c) {
    return c.state == State::Connecting || c.state == State::Open;
  };
  for (auto& w : waiters_) {
    if (!w->finished && live(*w) && w->deadline <= now) failed(*w, ErrorKind::timeout);
  }
  for (auto& p : posters_) {
    if (p->finished) continue;
    if (p->state == State::Idle && p->failed_connect && p->deadline <= now) {
      p->deadline = DeadlineTimer::kNever;
      if (phase_ == Phase::Posting && next_post_ < end_post_) {
        open(*p);
      } else {
        retire(*p);
        maybe_finish();
      }
    } else if (live(*p) && p->deadline <= now) {
      failed(*p, ErrorKind::timeout);
    }
  }
  if (probe_ && live(*probe_) && probe_->deadline <= now) failed(*probe_, ErrorKind::timeout);
  if (lead_) lead_deadline(now);
  if (phase_ == Phase::Posting && post_end_ <= now) end_posting();
  if (stopping_) return;
  // The next one: the earliest deadline left (those already armed are kept by arm()).
  uint64_t next = std::min({post_end_, settle_end_, poll_at_});
  for (const auto* list : {&waiters_, &posters_}) {
    for (const auto& c : *list) {
      if (!c->finished && c->state != State::Closing) next = std::min(next, c->deadline);
    }
  }
  if (probe_ && probe_->state != State::Idle) next = std::min(next, probe_->deadline);
  if (next != DeadlineTimer::kNever) arm(next);
}

}  // namespace tether::load::detail
