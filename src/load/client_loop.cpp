#include "load/client_loop.hpp"

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
      ++l.result_.errors[kind(ErrorKind::connect)];
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
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c.tcp), on_alloc, on_read);
    if (l.stopping_) {
      l.close(c);
      return;
    }
    l.fill(c);
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
    if (c.count == 0) return 0;  // unsolicited: message_complete says so
    // A response to HEAD has no body, whatever its head announces.
    return c.owner->plan_.is_head[c.ring[c.head].request];
  }
  static int on_body(llhttp_t* p, const char* at, size_t len) {
    ClientConnection& c = conn_of(p);
    const auto& bodies = c.owner->plan_.expect_bodies;
    if (bodies.empty() || c.count == 0) return 0;
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
  loop.deadlines().add_source(this);
}

ClientLoop::~ClientLoop() = default;

void ClientLoop::started() {
  uv_update_time(core_.uv());  // the loop's clock is cached: the run starts now
  result_.start_ns = uv_hrtime();
  end_at_ = core_.now() + plan_.duration_ms;
  for (auto& c : conns_) open(*c);
  next_sweep_ = std::min(end_at_, core_.now() + kSweepMs);
  core_.deadlines().schedule(next_sweep_);
}

void ClientLoop::open(ClientConnection& c) {
  c.failed_connect = false;
  if (int rc = uv_tcp_init(core_.uv(), &c.tcp); rc != 0) {
    ++result_.errors[kind(ErrorKind::connect)];
    c.failed_connect = true;  // the handle was not made: try again at the next sweep
    return;
  }
  ++open_;
  c.state = ClientConnection::State::Connecting;
  uv_tcp_nodelay(&c.tcp, 1);
  int rc = uv_tcp_connect(&c.connect_req, &c.tcp, reinterpret_cast<const sockaddr*>(&plan_.addr),
                          Callbacks::on_connect);
  if (rc != 0) {
    ++result_.errors[kind(ErrorKind::connect)];
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
      result_.end_ns = uv_hrtime();
      core_.check_drained();
    }
    return;
  }
  // Closed by the server or after an error: open it again at once; after a failed connect,
  // at the next sweep (a refused port must not spin the loop).
  if (!c.failed_connect) open(c);
}

void ClientLoop::fail_in_flight(ClientConnection& c, ErrorKind first, ErrorKind rest) {
  if (c.count == 0) return;
  ++result_.errors[kind(first)];
  result_.errors[kind(rest)] += c.count - 1;
  c.count = c.head = c.unsent = 0;
}

void ClientLoop::fill(ClientConnection& c) {
  const size_t cap = c.ring.size();
  if (c.count == cap) return;
  const auto n = static_cast<uint32_t>(plan_.requests.size());
  while (c.count < cap) {
    const uint32_t r = c.next_request;
    c.next_request = r + 1 == n ? 0 : r + 1;
    c.ring[(c.head + c.count) % cap] = {r, 0};  // stamped when written (flush)
    ++c.count;
    ++c.unsent;
    const std::string& bytes = plan_.requests[r];
    c.out.push_back(
        uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size())));
  }
}

void ClientLoop::flush(ClientConnection& c) {
  if (c.writing || c.out.empty() || c.state != ClientConnection::State::Open) return;
  // One clock read per write: the requests it carries were sent now.
  const uint64_t now = uv_hrtime();
  const size_t cap = c.ring.size();
  for (size_t i = c.count - c.unsent; i < c.count; ++i) c.ring[(c.head + i) % cap].sent_ns = now;
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
  if (c.count == 0) {
    // A response to no request: the exchange is out of step; stop here.
    ++result_.errors[kind(ErrorKind::parse)];
    return -1;
  }
  const ClientConnection::InFlight f = c.ring[c.head];
  c.head = c.head + 1 == c.ring.size() ? 0 : c.head + 1;
  --c.count;
  bool body_ok = c.body_ok;
  if (!plan_.expect_bodies.empty()) {
    body_ok = body_ok && c.body_at == plan_.expect_bodies[f.request].size();
  }
  c.body_at = 0;
  c.body_ok = true;
  if (status >= plan_.expect_status.size() || !plan_.expect_status[status]) {
    ++result_.errors[kind(ErrorKind::status)];
  } else if (!body_ok) {
    ++result_.errors[kind(ErrorKind::body)];
  } else {
    ++result_.requests;
    const uint64_t ns = c.now_ns > f.sent_ns ? c.now_ns - f.sent_ns : 0;
    result_.latency.record(static_cast<int64_t>(ns / 1000));
  }
  if (!c.keep_alive || !llhttp_should_keep_alive(&c.parser)) {
    c.keep_alive = false;
    return HPE_PAUSED;  // the server closes after this one: nothing more is read
  }
  if (!stopping_) fill(c);
  return 0;
}

void ClientLoop::on_read(ClientConnection& c, ssize_t n) {
  if (n == 0) return;
  if (n < 0) {
    if (n == UV_EOF && c.count > 0) {
      // A close-delimited body ends here (if one was being read); nothing more is sent, and
      // whatever is still in flight was cut off.
      c.keep_alive = false;
      c.now_ns = uv_hrtime();
      llhttp_finish(&c.parser);
    }
    fail_in_flight(c, ErrorKind::reset, ErrorKind::reset);
    close(c);
    return;
  }
  result_.bytes_read += static_cast<uint64_t>(n);
  c.now_ns = uv_hrtime();
  const llhttp_errno_t err = llhttp_execute(&c.parser, read_buf_.data(), static_cast<size_t>(n));
  if (err != HPE_OK) {
    if (err == HPE_PAUSED && !c.keep_alive) {
      fail_in_flight(c, ErrorKind::reset, ErrorKind::reset);
    } else {
      fail_in_flight(c, ErrorKind::parse, ErrorKind::reset);
    }
    close(c);
  } else if (stopping_ && c.count == 0) {
    close(c);
  } else {
    flush(c);
  }
  core_.deadlines().after_read();
}

void ClientLoop::begin_drain() {
  if (!stopping_) {
    stopping_ = true;
    for (auto& c : conns_) {
      // Connections with requests in flight wait for their responses; the others go now.
      if (c->state == ClientConnection::State::Connecting || c->count == 0) close(*c);
    }
  }
  if (open_ == 0 && result_.end_ns == 0) result_.end_ns = uv_hrtime();
}

void ClientLoop::abort() {
  stopping_ = true;
  for (auto& c : conns_) {
    fail_in_flight(*c, ErrorKind::timeout, ErrorKind::timeout);
    close(*c);
  }
  if (open_ == 0 && result_.end_ns == 0) result_.end_ns = uv_hrtime();
}

void ClientLoop::on_deadline(uint64_t now) {
  // The loop's clock counts whole milliseconds: the end is checked on the precise one, so a
  // run sends for its whole duration.
  if (!stopping_ && now >= end_at_) {
    if (uv_hrtime() - result_.start_ns >= plan_.duration_ms * 1'000'000) {
      // The run is over: send nothing more, and let the loop drain (begin_drain).
      begin_drain();
      core_.request_stop();
    } else {
      end_at_ = now + 1;
    }
  }
  const uint64_t now_ns = uv_hrtime();
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
