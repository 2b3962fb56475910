#include "load/client_loop.hpp"

#include "load/response_scan.hpp"

#include <algorithm>
#include <cstring>

namespace tether::load::detail {
namespace {

constexpr size_t kReadBufferBytes = 64 * 1024;
/// How often timeouts and reconnects after a failed connect are looked at (loop clock, ms).
constexpr uint64_t kSweepMs = 10;

ClientConnection& conn_of(llhttp_t* p) {
  return *static_cast<ClientConnection*>(p->data);
}

size_t kind(ErrorKind k) {
  return static_cast<size_t>(k);
}

}  // namespace

/// libuv and llhttp callbacks, with access to the loop's internals.
struct Callbacks {
  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto& c = *static_cast<ClientConnection*>(h->data);
    auto& rb = c.owner->read_buf_;
    *buf = uv_buf_init(rb.data(), static_cast<unsigned>(rb.size()));
  }
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t*) {
    auto& c = *static_cast<ClientConnection*>(s->data);
    c.owner->on_read(c, n);
  }
  static void on_connect(uv_connect_t* req, int status) {
    auto& c = *static_cast<ClientConnection*>(req->data);
    if (status == UV_ECANCELED) return;  // closed while connecting
    ClientLoop& l = *c.owner;
    if (status < 0) {
      l.count_error(ErrorKind::connect);
      c.failed_connect = true;
      l.close(c);
      return;
    }
    c.state = ClientConnection::State::Open;
    if (!c.ever_open) {
      c.ever_open = true;
      ++l.result_.established;
    }
    c.keep_alive = true;
    c.head = c.count = c.unsent = 0;
    c.body_at = 0;
    c.body_ok = true;
    llhttp_init(&c.parser, HTTP_RESPONSE, &l.settings_);
    c.parser.data = &c;
    c.in_message = false;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c.tcp), on_alloc, on_read);
    if (l.stopping_) {
      l.close(c);
      return;
    }
    if (l.arrivals_) {
      l.take_due(c);
    } else {
      l.fill(c);
    }
    l.flush(c);
  }
  static void on_write(uv_write_t* req, int status) {
    auto& c = *static_cast<ClientConnection*>(req->data);
    c.writing = false;
    if (status == UV_ECANCELED || c.state != ClientConnection::State::Open) return;
    ClientLoop& l = *c.owner;
    if (status < 0) {
      l.fail_in_flight(c, ErrorKind::reset, ErrorKind::reset);
      l.close(c);
      return;
    }
    l.flush(c);
  }
  static void on_close(uv_handle_t* h) {
    auto& c = *static_cast<ClientConnection*>(h->data);
    c.state = ClientConnection::State::Idle;
    c.writing = false;
    c.owner->closed(c);
  }

  static int on_headers_complete(llhttp_t* p) {
    ClientConnection& c = conn_of(p);
    if (c.count == c.unsent) return 0;  // unsolicited: message_complete says so
    // No body, whatever the head announces: a response to HEAD, an interim response, 204
    // and 304 (llhttp leaves the last three to the caller).
    const unsigned status = p->status_code;
    if ((status >= 100 && status < 200 && status != 101) || status == 204 || status == 304) {
      return 1;
    }
    return c.owner->plan_.is_head[c.ring[c.head].request];
  }
  static int on_body(llhttp_t* p, const char* at, size_t len) {
    ClientConnection& c = conn_of(p);
    const auto& bodies = c.owner->plan_.expect_bodies;
    if (bodies.empty()) {
      c.body_at += len;  // --expect-bytes
      return 0;
    }
    if (c.count == c.unsent) return 0;
    const std::string& want = bodies[c.ring[c.head].request];
    if (c.body_ok &&
        (c.body_at + len > want.size() || std::memcmp(want.data() + c.body_at, at, len) != 0)) {
      c.body_ok = false;
    }
    c.body_at += len;
    return 0;
  }
  static int on_message_complete(llhttp_t* p) {
    return conn_of(p).owner->message_complete(conn_of(p));
  }
};

namespace {
llhttp_settings_t make_settings() {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_headers_complete = Callbacks::on_headers_complete;
  s.on_body = Callbacks::on_body;
  s.on_message_complete = Callbacks::on_message_complete;
  return s;
}
}  // namespace

ClientLoop& ClientLoop::attach(Loop& loop, const Plan& plan, unsigned connections) {
  return loop.attach(std::make_unique<ClientLoop>(loop, plan, connections));
}

ClientLoop::ClientLoop(Loop& loop, const Plan& plan, unsigned connections)
    : core_(loop), plan_(plan), settings_(make_settings()) {
  read_buf_.resize(kReadBufferBytes);
  conns_.reserve(connections);
  for (unsigned i = 0; i < connections; ++i) {
    auto c = std::make_unique<ClientConnection>();
    c->owner = this;
    c->id = i;
    c->tcp.data = c.get();
    c->connect_req.data = c.get();
    c->write_req.data = c.get();
    c->ring.resize(plan.pipeline);
    c->out.reserve(plan.pipeline + 1);
    // Connections start at different requests, so that a short run still sends them all.
    c->next_request = static_cast<uint32_t>(i % plan.requests.size());
    conns_.push_back(std::move(c));
  }
  if (plan.rate > 0) rate_ = plan.rate * connections / plan.connections;
  // Each loop draws its own sequence from the run's seed.
  rng_ = (plan.seed + 0x9E3779B97F4A7C15ULL * (loop.index() + 1)) | 1;
  loop.deadlines().add_source(this);
}

ClientLoop::~ClientLoop() = default;

void ClientLoop::started() {
  uv_update_time(core_.uv());  // the loop's clock is cached: the run starts now
  // Every loop runs from the same epoch, so that a loop whose thread started late still
  // sends its share of the run (and the rate over the run is the rate asked for).
  const uint64_t now_ns = uv_hrtime();
  run_start_ns_ = plan_.epoch_ns != 0 && plan_.epoch_ns <= now_ns ? plan_.epoch_ns : now_ns;
  const uint64_t total_ms = plan_.warmup_ms + plan_.duration_ms;
  send_end_ns_ = run_start_ns_ + total_ms * 1'000'000;
  // A loop whose thread started after the run's end ends at once.
  end_at_ = core_.now() + (send_end_ns_ > now_ns ? (send_end_ns_ - now_ns) / 1'000'000 : 0);
  measure_start_ns_ = run_start_ns_ + plan_.warmup_ms * 1'000'000;
  if (plan_.warmup_ms == 0) begin_measuring(run_start_ns_);
  if (rate_ > 0) {
    int err = 0;
    if (timer_.open(core_.uv(), on_timer, this, err)) {
      arrivals_.emplace(rate_, plan_.poisson, rng_, run_start_ns_);
      timer_.arm(arrivals_->peek());
    } else {
      // No timer, no open loop: the run ends at once and says why.
      result_.error = "cannot make a timer for the open loop: " + std::string(uv_strerror(-err));
      stopping_ = true;
      mark_end();
      core_.request_stop();
      return;
    }
  }
  for (auto& c : conns_) open(*c);
  next_sweep_ = std::min(end_at_, core_.now() + kSweepMs);
  if (plan_.warmup_ms > 0) next_sweep_ = std::min(next_sweep_, core_.now() + plan_.warmup_ms);
  core_.deadlines().schedule(next_sweep_);
}

void ClientLoop::begin_measuring(uint64_t now_ns) {
  // Requests and their errors count by their intended time (counts()), so none of the
  // warmup's is in a result; what counts by the clock starts from zero here.
  measuring_ = true;
  result_.bytes_read = result_.bytes_written = 0;
  result_.start_ns = now_ns;
  const uint64_t seconds = (plan_.duration_ms + 999) / 1000;
  last_second_ = static_cast<uint32_t>(seconds > 0 ? seconds - 1 : 0);
  result_.intervals.reserve(seconds);
  current_ = IntervalPart{};
  next_roll_ns_ = last_second_ == 0 ? UINT64_MAX : now_ns + 1'000'000'000;
  live_.measuring.store(true, std::memory_order_relaxed);
}

void ClientLoop::count_error(ErrorKind k, uint64_t n) {
  if (!measuring_ || n == 0) return;
  result_.errors[kind(k)] += n;
  current_.errors += n;
}

void ClientLoop::roll_intervals(uint64_t now_ns) {
  while (now_ns >= next_roll_ns_) {
    // The second that ends here: its counts and non-empty buckets, then a fresh one.
    close_interval();
    live_.last_second_p99_us.store(interval_latency_.value_at_percentile(99),
                                   std::memory_order_relaxed);
    const uint32_t next = current_.second + 1;
    result_.intervals.push_back(std::move(current_));
    current_ = IntervalPart{};
    current_.second = next;
    interval_latency_.reset();
    interval_service_.reset();
    next_roll_ns_ = next >= last_second_ ? UINT64_MAX : next_roll_ns_ + 1'000'000'000;
  }
}

uint32_t ClientLoop::pick_request(ClientConnection& c) {
  const auto n = static_cast<uint32_t>(plan_.requests.size());
  if (plan_.random_order && n > 1) {
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return static_cast<uint32_t>(((rng_ * 0x2545F4914F6CDD1DULL) >> 32) % n);
  }
  // Round robin per connection keeps a pipelined batch contiguous on the tape; an open loop
  // hands requests to whichever connection is free, so it goes round the loop's own way,
  // and every target gets its share.
  uint32_t& next = arrivals_ ? next_request_ : c.next_request;
  const uint32_t r = next;
  next = r + 1 == n ? 0 : r + 1;
  return r;
}

void ClientLoop::enqueue(ClientConnection& c, uint64_t intended_ns) {
  const size_t cap = c.ring.size();
  const uint32_t r = pick_request(c);
  c.ring[(c.head + c.count) % cap] = {r, intended_ns, 0};  // sent: stamped when written
  ++c.count;
  ++c.unsent;
  plan_.tape.append(r, c.out);
}

void ClientLoop::on_timer(void* self) {
  auto& l = *static_cast<ClientLoop*>(self);
  if (l.stopping_ || !l.arrivals_) return;
  const uint64_t now = uv_hrtime();
  // Every request whose intended time has come joins the queue, stamped with that time.
  while (l.arrivals_->peek() <= now && l.arrivals_->peek() < l.send_end_ns_) {
    const uint64_t t = l.arrivals_->take();
    if (t >= l.measure_start_ns_) ++l.result_.intended;
    if (!l.due_.push_back(t)) {
      // At its bound: the oldest due request has waited longest and will not be sent.
      l.count_due_timeout(l.due_.front());
      l.due_.pop_front();
      l.due_.push_back(t);
    }
  }
  l.assign_due();
  if (l.arrivals_->peek() < l.send_end_ns_) l.timer_.arm(l.arrivals_->peek());
}

void ClientLoop::take_due(ClientConnection& c) {
  const size_t cap = c.ring.size();
  while (!due_.empty() && c.count < cap) {
    enqueue(c, due_.front());
    due_.pop_front();
  }
}

void ClientLoop::assign_due() {
  // Connections with a free slot take the oldest due requests, round robin from where the
  // last search stopped; one full turn without a free slot ends the search.
  const size_t n = conns_.size();
  for (size_t tried = 0; !due_.empty() && tried < n; ++tried) {
    ClientConnection& c = *conns_[cursor_];
    cursor_ = cursor_ + 1 == n ? 0 : cursor_ + 1;
    if (c.state != ClientConnection::State::Open || c.count == c.ring.size() || !c.keep_alive)
      continue;
    take_due(c);
    flush(c);
    tried = 0;
  }
}

void ClientLoop::count_due_timeout(uint64_t intended_ns) {
  ClientConnection::InFlight f;
  f.intended_ns = intended_ns;
  if (counts(f)) count_error(ErrorKind::timeout);
}

void ClientLoop::expire_due(uint64_t now_ns) {
  const uint64_t timeout_ns = plan_.timeout_ms * 1'000'000;
  while (!due_.empty() && now_ns - due_.front() > timeout_ns) {
    count_due_timeout(due_.front());
    due_.pop_front();
  }
}

void ClientLoop::drop_due() {
  // Due and never sent when the run ended: every connection stayed busy until then.
  while (!due_.empty()) {
    count_due_timeout(due_.front());
    due_.pop_front();
  }
}

bool ClientLoop::counts(const ClientConnection::InFlight& f) {
  if (f.intended_ns < measure_start_ns_) return false;  // sent during the warmup
  if (!measuring_) begin_measuring(measure_start_ns_);
  return true;
}

void ClientLoop::mark_end() {
  if (result_.end_ns != 0) return;
  // The run ends with its last answer (or its send window), not when the last connection
  // has finished closing: the rate is over the time answers were coming in.
  const uint64_t now = uv_hrtime();
  result_.end_ns = now > send_end_ns_ ? std::max(send_end_ns_, last_answer_ns_) : now;
  if (!measuring_) return;
  // The last second: what completed after the run's end counts in it.
  close_interval();
  result_.intervals.push_back(std::move(current_));
  current_ = IntervalPart{};
}

void ClientLoop::close_interval() {
  for (const Histogram::Bucket& b : interval_latency_.buckets())
    current_.latency.emplace_back(b.high, b.count);
  for (const Histogram::Bucket& b : interval_service_.buckets())
    current_.service.emplace_back(b.high, b.count);
  result_.latency.merge(interval_latency_);
  result_.service.merge(arrivals_ ? interval_service_ : interval_latency_);
}

void ClientLoop::close_handles() {
  timer_.close();
}

void ClientLoop::open(ClientConnection& c) {
  c.failed_connect = false;
  if (int rc = uv_tcp_init(core_.uv(), &c.tcp); rc != 0) {
    count_error(ErrorKind::connect);
    c.failed_connect = true;  // the handle was not made: try again at the next sweep
    return;
  }
  ++open_;
  c.state = ClientConnection::State::Connecting;
  uv_tcp_nodelay(&c.tcp, 1);
  int rc = uv_tcp_connect(&c.connect_req, &c.tcp, reinterpret_cast<const sockaddr*>(&plan_.addr),
                          Callbacks::on_connect);
  if (rc != 0) {
    count_error(ErrorKind::connect);
    c.failed_connect = true;
    close(c);
  }
}

void ClientLoop::close(ClientConnection& c) {
  using State = ClientConnection::State;
  if (c.state == State::Closing || c.state == State::Idle) return;
  if (c.state == State::Open) uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.tcp));
  c.state = State::Closing;
  c.out.clear();
  c.unsent = 0;
  uv_close(reinterpret_cast<uv_handle_t*>(&c.tcp), Callbacks::on_close);
}

void ClientLoop::closed(ClientConnection& c) {
  --open_;
  c.count = c.head = c.unsent = 0;
  if (stopping_) {
    if (open_ == 0) {
      mark_end();
      core_.check_drained();
    }
    return;
  }
  // Closed by the server or after an error: open it again at once; after a failed connect,
  // at the next sweep (a refused port must not spin the loop).
  if (!c.failed_connect) open(c);
}

void ClientLoop::fail_in_flight(ClientConnection& c, ErrorKind first, ErrorKind rest) {
  // Only the requests written fail; one queued and never written was not sent. In an open
  // loop it goes back to the front of the due queue, oldest first, for another connection.
  const size_t cap = c.ring.size();
  const size_t written = c.count - c.unsent;
  for (size_t i = 0; i < written; ++i) {
    if (counts(c.ring[(c.head + i) % cap])) count_error(i == 0 ? first : rest);
  }
  if (arrivals_) {
    for (size_t i = c.count; i > written; --i) {
      const uint64_t t = c.ring[(c.head + i - 1) % cap].intended_ns;
      if (!due_.push_front(t)) count_due_timeout(t);
    }
  }
  c.count = c.head = c.unsent = 0;
  c.out.clear();
}

void ClientLoop::fill(ClientConnection& c) {
  while (c.count < c.ring.size()) enqueue(c, 0);
}

void ClientLoop::flush(ClientConnection& c) {
  if (c.writing || c.out.empty() || c.state != ClientConnection::State::Open) return;
  // One clock read per write: the requests it carries were sent now.
  const uint64_t now = uv_hrtime();
  const size_t cap = c.ring.size();
  for (size_t i = c.count - c.unsent; i < c.count; ++i) {
    ClientConnection::InFlight& f = c.ring[(c.head + i) % cap];
    f.sent_ns = now;
    if (f.intended_ns == 0) f.intended_ns = now;
  }
  c.unsent = 0;
  auto* stream = reinterpret_cast<uv_stream_t*>(&c.tcp);
  size_t total = 0;
  for (const uv_buf_t& b : c.out) total += b.len;
  int n = uv_try_write(stream, c.out.data(), static_cast<unsigned>(c.out.size()));
  if (n == UV_EAGAIN) n = 0;
  if (n < 0) {
    fail_in_flight(c, ErrorKind::reset, ErrorKind::reset);
    close(c);
    return;
  }
  result_.bytes_written += static_cast<size_t>(n);
  if (static_cast<size_t>(n) == total) {
    c.out.clear();
    return;
  }
  // The rest goes with uv_write, which copies the buffer list (the bytes are the plan's).
  size_t skip = static_cast<size_t>(n);
  size_t first = 0;
  while (skip >= c.out[first].len) skip -= c.out[first++].len;
  c.out[first].base += skip;
  c.out[first].len -= skip;
  const unsigned left = static_cast<unsigned>(c.out.size() - first);
  int rc = uv_write(&c.write_req, stream, c.out.data() + first, left, Callbacks::on_write);
  c.out.clear();
  if (rc != 0) {
    fail_in_flight(c, ErrorKind::reset, ErrorKind::reset);
    close(c);
    return;
  }
  c.writing = true;
  result_.bytes_written += total - static_cast<size_t>(n);
}

int ClientLoop::message_complete(ClientConnection& c) {
  const unsigned status = c.parser.status_code;
  if (status >= 100 && status < 200 && status != 101) {
    // An interim response (100 Continue, 103 Early Hints): the final one is still to come.
    c.body_at = 0;
    c.body_ok = true;
    return 0;
  }
  if (c.count == c.unsent) {
    // A response to no request written: the exchange is out of step. The connection ends
    // here; what it had in flight is failed, and nothing is counted for a request that was
    // never sent.
    return -1;
  }
  const bool keep_alive = c.keep_alive && llhttp_should_keep_alive(&c.parser);
  answered(c, status, c.body_ok, c.body_at, keep_alive);
  c.body_at = 0;
  c.body_ok = true;
  // Paused either way: at a message boundary, so that the next response may take the fast
  // path (on_read), or because the server closes after this one and nothing more is read.
  return HPE_PAUSED;
}

bool ClientLoop::answered(ClientConnection& c, unsigned status, bool body_matches,
                          uint64_t body_size, bool keep_alive) {
  const ClientConnection::InFlight f = c.ring[c.head];
  c.head = c.head + 1 == c.ring.size() ? 0 : c.head + 1;
  --c.count;
  bool body_ok = body_matches;
  if (!plan_.expect_bodies.empty()) {
    body_ok = body_ok && body_size == plan_.expect_bodies[f.request].size();
  }
  if (plan_.expect_body_bytes >= 0) {
    body_ok = body_ok && body_size == static_cast<uint64_t>(plan_.expect_body_bytes);
  }
  const bool counted = counts(f);
  last_answer_ns_ = c.now_ns;
  if (c.now_ns >= next_roll_ns_) roll_intervals(c.now_ns);
  if (status >= plan_.expect_status.size() || !plan_.expect_status[status]) {
    if (counted) count_error(ErrorKind::status);
  } else if (!body_ok) {
    if (counted) count_error(ErrorKind::body);
  } else {
    ++completed_;
    if (counted) {
      ++result_.requests;
      ++current_.requests;
      const uint64_t corrected = c.now_ns > f.intended_ns ? (c.now_ns - f.intended_ns) / 1000 : 0;
      const uint64_t service = c.now_ns > f.sent_ns ? (c.now_ns - f.sent_ns) / 1000 : 0;
      // Into this second's histograms only: they fold into the totals once a second. In a
      // closed loop the service time is the latency, recorded once.
      interval_latency_.record(static_cast<int64_t>(corrected));
      if (arrivals_) interval_service_.record(static_cast<int64_t>(service));
    }
  }
  if (!keep_alive) {
    c.keep_alive = false;
    return false;
  }
  if (!stopping_) {
    if (arrivals_) {
      take_due(c);
    } else {
      fill(c);
    }
  }
  return true;
}

void ClientLoop::on_read(ClientConnection& c, ssize_t n) {
  if (n == 0) return;
  if (n < 0) {
    if (n == UV_EOF && c.count > c.unsent) {
      // A close-delimited body ends here (if one was being read); nothing more is sent, and
      // whatever is still in flight was cut off.
      c.keep_alive = false;
      c.now_ns = uv_hrtime();
      if (c.in_message) llhttp_finish(&c.parser);
    }
    fail_in_flight(c, ErrorKind::reset, ErrorKind::reset);
    close(c);
    return;
  }
  c.now_ns = uv_hrtime();
  // The warmup ends on time, not at the next sweep: what completes after it counts.
  if (!measuring_ && c.now_ns >= measure_start_ns_) begin_measuring(measure_start_ns_);
  result_.bytes_read += static_cast<uint64_t>(n);
  const char* p = read_buf_.data();
  const char* const end = p + n;
  while (p < end) {
    if (!c.in_message && c.count > c.unsent) {
      // The common shape, whole in this read: no llhttp (response_scan.hpp).
      const ScannedResponse r = scan_response(p, end, plan_.is_head[c.ring[c.head].request]);
      if (r.complete) {
        bool matches = true;
        if (!plan_.expect_bodies.empty()) {
          const std::string& want = plan_.expect_bodies[c.ring[c.head].request];
          matches =
              r.body_size == want.size() && std::memcmp(want.data(), r.body, r.body_size) == 0;
        }
        p += r.size;
        if (!answered(c, r.status, matches, r.body_size, r.keep_alive)) {
          fail_in_flight(c, ErrorKind::reset, ErrorKind::reset);
          close(c);
          core_.deadlines().after_read();
          return;
        }
        continue;
      }
    }
    c.in_message = true;
    const llhttp_errno_t err = llhttp_execute(&c.parser, p, static_cast<size_t>(end - p));
    if (err == HPE_OK) break;  // the rest of this response is in a later read
    if (err == HPE_PAUSED && c.keep_alive) {
      // A response ended: the next one starts from a fresh state, and may take the fast path.
      p = llhttp_get_error_pos(&c.parser);
      llhttp_reset(&c.parser);
      c.in_message = false;
      continue;
    }
    if (err == HPE_PAUSED) {
      fail_in_flight(c, ErrorKind::reset, ErrorKind::reset);  // the server closes
    } else {
      fail_in_flight(c, ErrorKind::parse, ErrorKind::reset);
    }
    close(c);
    core_.deadlines().after_read();
    return;
  }
  if (stopping_ && c.count == c.unsent) {
    close(c);
  } else {
    flush(c);
  }
  core_.deadlines().after_read();
}

void ClientLoop::begin_drain() {
  if (!stopping_) {
    stopping_ = true;
    timer_.disarm();
    drop_due();
    for (auto& c : conns_) {
      // Connections with requests in flight wait for their responses; the others go now.
      if (c->state == ClientConnection::State::Connecting || c->count == c->unsent) close(*c);
    }
  }
  if (open_ == 0) mark_end();
}

void ClientLoop::abort() {
  stopping_ = true;
  timer_.disarm();
  drop_due();
  for (auto& c : conns_) {
    fail_in_flight(*c, ErrorKind::timeout, ErrorKind::timeout);
    close(*c);
  }
  if (open_ == 0) mark_end();
}

void ClientLoop::on_deadline(uint64_t now) {
  // The loop's clock counts whole milliseconds: the end is checked on the precise one, so a
  // run sends for its whole duration.
  const uint64_t now_ns = uv_hrtime();
  if (!measuring_ && now_ns >= measure_start_ns_) begin_measuring(measure_start_ns_);
  // For a live report: what the sweep sees, every 10 ms.
  uint64_t errors = 0;
  for (uint64_t e : result_.errors) errors += e;
  live_.requests.store(result_.requests, std::memory_order_relaxed);
  live_.errors.store(errors, std::memory_order_relaxed);
  live_.completed.store(completed_, std::memory_order_relaxed);
  if (now_ns >= next_roll_ns_) roll_intervals(now_ns);
  expire_due(now_ns);
  if (!stopping_ && now >= end_at_) {
    if (now_ns >= send_end_ns_) {
      // The run is over: send nothing more, and let the loop drain (begin_drain).
      begin_drain();
      core_.request_stop();
    } else {
      end_at_ = now + 1;
    }
  }
  const uint64_t timeout_ns = plan_.timeout_ms * 1'000'000;
  for (auto& cp : conns_) {
    ClientConnection& c = *cp;
    const uint64_t sent = c.count > 0 ? c.ring[c.head].sent_ns : 0;  // 0: not written yet
    if (c.state == ClientConnection::State::Open && sent != 0 && now_ns - sent > timeout_ns) {
      fail_in_flight(c, ErrorKind::timeout, ErrorKind::timeout);
      close(c);
    } else if (c.state == ClientConnection::State::Idle && c.failed_connect && !stopping_) {
      open(c);
    }
  }
  if (stopping_ && open_ == 0) {
    next_sweep_ = DeadlineTimer::kNever;
  } else {
    next_sweep_ = now + kSweepMs;
    if (!stopping_) next_sweep_ = std::min(next_sweep_, end_at_);
  }
}

}  // namespace tether::load::detail
