// Hostile clients over real loopback sockets, each while a well-behaved client keeps being
// served: slowloris (1,000 connections trickling a head), clients that never read their
// responses, a connection flood past max_connections, and fd exhaustion. Every test prints
// `FIGURE name=value` lines (connections held, memory, CPU, latency, responses lost).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/expectations.hpp"
#include "support/http_client.hpp"
#include "support/probes.hpp"
#include "support/test_server.hpp"

namespace {

using tether::ServerStats;

// Memory bounds are for a Release build; ASan's shadow memory and quarantine of freed blocks
// make every figure several times larger.
constexpr int64_t kMemScale = tt::kAsan ? 4 : 1;

void rss_figures(const std::string& prefix, int64_t before, int64_t peak, int64_t after) {
  tt::figure(prefix + "_rss_before_kb", before);
  tt::figure(prefix + "_rss_peak_kb", peak);
  tt::figure(prefix + "_rss_after_kb", after);
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// ---------------------------------------------------------------- slowloris

/// One connection of the slowloris attack, as the attacker's thread keeps it.
struct SlowConn {
  int fd = -1;
  size_t sent = 0;       // head bytes sent so far
  int64_t first_ms = 0;  // when the first byte went out
  int64_t next_ms = 0;   // when the next byte is due
  int64_t done_ms = 0;   // when the answer (or the close) came
  int status = 0;        // status of the answer; 0 when closed without one
  bool done = false;
  bool closed_by_server = false;
  std::string in;
};

/// N connections, each sending a never-ending head one byte every `every_ms`, all driven by
/// one epoll thread. A connection stops trickling when the server answers or closes it.
class Slowloris {
 public:
  Slowloris(uint16_t port, int n, int every_ms) : every_ms_(every_ms), conns_(n) {
    head_ = "GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Slow: " + std::string(4000, 'z');
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    sockaddr_in a = loopback(port);
    for (int i = 0; i < n; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        if (fd >= 0) ::close(fd);
        continue;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP;
      ev.data.u32 = static_cast<uint32_t>(i);
      ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
      conns_[i].fd = fd;
      ++connected_;
    }
  }
  ~Slowloris() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (SlowConn& c : conns_) {
      if (c.fd >= 0) ::close(c.fd);
    }
    if (ep_ >= 0) ::close(ep_);
  }

  int connected() const { return connected_; }
  /// Starts trickling on the attacker thread; first bytes are spread over one interval.
  void start(int64_t give_up_ms) {
    const int64_t t0 = tt::now_ms();
    open_ = connected_;
    for (size_t i = 0; i < conns_.size(); ++i) {
      conns_[i].next_ms =
          t0 + static_cast<int64_t>(i) * every_ms_ / static_cast<int64_t>(conns_.size());
    }
    thread_ = std::thread([this, deadline = t0 + give_up_ms] { run(deadline); });
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  /// Connections still held open by the attack (read by other threads).
  int open() const { return open_.load(); }
  const std::vector<SlowConn>& conns() const { return conns_; }

 private:
  void finish(SlowConn& c, int status, bool by_server) {
    c.done = true;
    c.status = status;
    c.closed_by_server = by_server;
    c.done_ms = tt::now_ms();
    ::close(c.fd);  // also leaves the epoll set
    c.fd = -1;
    --open_;
  }

  void run(int64_t deadline) {
    std::vector<epoll_event> events(256);
    while (!stop_ && open_ > 0 && tt::now_ms() < deadline) {
      const int64_t now = tt::now_ms();
      for (SlowConn& c : conns_) {
        if (c.fd < 0 || c.done || c.next_ms > now || c.sent >= head_.size()) continue;
        ssize_t n = ::send(c.fd, head_.data() + c.sent, 1, MSG_NOSIGNAL);
        if (n == 1) {
          if (c.sent == 0) c.first_ms = now;
          ++c.sent;
          c.next_ms += every_ms_;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          finish(c, 0, true);
        }
      }
      int k = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 5);
      for (int e = 0; e < k; ++e) {
        SlowConn& c = conns_[events[e].data.u32];
        if (c.fd < 0) continue;
        bool eof = false;
        char buf[4096];
        while (true) {
          ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
          if (n > 0) {
            c.in.append(buf, static_cast<size_t>(n));
            continue;
          }
          if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
          eof = true;
          break;
        }
        if (std::optional<tt::HttpResponse> r = tt::parse_response(c.in, false, eof)) {
          finish(c, r->status, true);
        } else if (eof) {
          finish(c, 0, true);
        }
      }
    }
  }

  int every_ms_;
  std::string head_;
  std::vector<SlowConn> conns_;
  int ep_ = -1;
  int connected_ = 0;
  std::atomic<int> open_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(Hostile, SlowlorisThousandConnectionsDoNotStarveANormalClient) {
  constexpr int kConns = 1000;
  constexpr int kByteEveryMs = 250;
  constexpr uint32_t kHeaderTimeoutMs = 1500;
  ASSERT_TRUE(tt::ensure_fds(2 * kConns + 256));
  tether::ServerOptions o;
  o.header_timeout_ms = kHeaderTimeoutMs;
  o.idle_timeout_ms = 10000;  // not under test: every slow connection sends its first byte
  o.linger_timeout_ms = 1000;
  tt::TestServer s(o);
  tt::RssSampler rss;
  tt::ProcReader proc;
  const int64_t rss_before = proc.rss_kb();
  rss.reset_peak(rss_before);

  Slowloris attack(s.port(), kConns, kByteEveryMs);
  ASSERT_EQ(attack.connected(), kConns);
  const int64_t t0 = tt::now_ms();
  attack.start(kHeaderTimeoutMs + 8000);
  uint64_t held = 0;
  {
    // The normal client: keep-alive requests every 10 ms, a fresh connection every 5th.
    tt::NormalClient normal(s.port(), 10, 5);
    while (attack.open() > 0 && tt::now_ms() - t0 < kHeaderTimeoutMs + 8000) {
      held = std::max(held, s.stats().connections_active);
      ::poll(nullptr, 0, 5);
    }
    attack.join();
    normal.stop();
    normal.report("slowloris_normal_client");
    EXPECT_EQ(normal.lost(), 0u);
    EXPECT_GE(normal.answered(), 50u) << "the normal client was hardly served";
    EXPECT_LT(normal.latencies().max(), 1000) << "a normal request waited behind the attack";
  }
  const int64_t attack_ms = tt::now_ms() - t0;

  // Every slow connection got its 408, a total deadline from its first byte: each kept
  // trickling (a byte every 250 ms, far inside the timeout) and was still cut on time.
  int got408 = 0, closed_without = 0;
  size_t min_sent = SIZE_MAX;
  int64_t min_ms = INT64_MAX, max_ms = 0;
  for (const SlowConn& c : attack.conns()) {
    if (!c.done) continue;
    if (c.status == 408) {
      ++got408;
      min_sent = std::min(min_sent, c.sent);
      min_ms = std::min(min_ms, c.done_ms - c.first_ms);
      max_ms = std::max(max_ms, c.done_ms - c.first_ms);
    } else if (c.status == 0) {
      ++closed_without;
    }
  }
  EXPECT_EQ(got408, kConns) << closed_without << " closed without an answer";
  EXPECT_GE(min_sent, 4u) << "a connection was cut before it trickled for long";
  // The loop's clock is read once per turn, so with 1,000 connections it may trail a little.
  EXPECT_GE(min_ms + 50, static_cast<int64_t>(kHeaderTimeoutMs)) << "408 before the timeout";
  EXPECT_LT(max_ms, static_cast<int64_t>(kHeaderTimeoutMs) + 1000)
      << "the header timeout was extended by trickled bytes";
  EXPECT_GE(held, static_cast<uint64_t>(kConns)) << "the attack never held its connections";

  ASSERT_TRUE(s.wait_for([](const ServerStats& st) { return st.connections_active == 0; }))
      << "connections left: " << s.stats().connections_active;
  const int64_t rss_peak = rss.peak_kb();
  const int64_t rss_after = proc.rss_kb();
  ServerStats st = s.stats();
  EXPECT_EQ(st.header_timeouts, static_cast<uint64_t>(kConns));
  EXPECT_EQ(st.exchanges_in_flight, 0u);
  EXPECT_LT(rss_peak - rss_before, 32 * 1024 * kMemScale) << "KiB";

  tt::figure("slowloris_connections", static_cast<int64_t>(kConns));
  tt::figure("slowloris_connections_held_peak", static_cast<int64_t>(held));
  tt::figure("slowloris_408", static_cast<int64_t>(got408));
  tt::figure("slowloris_min_bytes_trickled", static_cast<int64_t>(min_sent));
  tt::figure("slowloris_408_after_first_byte_min_ms", min_ms);
  tt::figure("slowloris_408_after_first_byte_max_ms", max_ms);
  tt::figure("slowloris_attack_ms", attack_ms);
  rss_figures("slowloris", rss_before, rss_peak, rss_after);

  tt::Client after(s.port());
  tt::expect_plaintext_ok(after);
}

// ---------------------------------------------------------------- clients that never read

TEST(Hostile, ClientsThatNeverReadAreBoundedThenCutByTheWriteTimeout) {
  constexpr int kReaders = 4;
  constexpr int kRequests = 200;        // pipelined per client, never read
  constexpr size_t kBody = 256 * 1024;  // 4 x 200 x 256 KiB = 200 MiB if nothing held back
  constexpr uint32_t kWriteTimeoutMs = 1000;
  tether::ServerOptions o;
  o.write_timeout_ms = kWriteTimeoutMs;
  // GET /counted?n=BYTES: like /big, and counted, so that the normal client's requests do not
  // blur how many of the never-reading clients' requests the server took.
  auto taken = std::make_shared<std::atomic<uint64_t>>(0);
  tt::TestServer s(o, [taken](tether::Server& srv) {
    tt::add_test_routes(srv);
    srv.get("/counted", [taken](tether::Request& req, tether::Response res) {
      ++*taken;
      res.send(200, std::string(std::stoul(std::string(req.query("n").value_or("0"))), 'x'));
    });
  });
  tt::RssSampler rss;
  tt::ProcReader proc;
  const int64_t rss_before = proc.rss_kb();
  rss.reset_peak(rss_before);

  tt::NormalClient normal(s.port(), 10, 5);
  std::string batch;
  for (int i = 0; i < kRequests; ++i)
    batch += tt::get_request("/counted?n=" + std::to_string(kBody));
  std::vector<std::unique_ptr<tt::Client>> readers;
  const int64_t t0 = tt::now_ms();
  for (int i = 0; i < kReaders; ++i) {
    readers.push_back(std::make_unique<tt::Client>(s.port()));
    ASSERT_TRUE(readers.back()->connected());
    ASSERT_TRUE(readers.back()->send(batch));
  }

  // The server takes requests only while their answers fit under the high-water mark and in
  // the socket buffers; then it stops reading. Wait until the count stands still.
  uint64_t seen = 0;
  int64_t still_since = tt::now_ms();
  while (tt::now_ms() - still_since < 200 && tt::now_ms() - t0 < 5000) {
    if (uint64_t now_taken = taken->load(); now_taken != seen) {
      seen = now_taken;
      still_since = tt::now_ms();
    }
    ::poll(nullptr, 0, 5);
  }
  const int64_t stalled_ms = tt::now_ms() - t0;
  const ServerStats mid = s.stats();
  EXPECT_LT(seen, static_cast<uint64_t>(kReaders * kRequests) / 4)
      << "the server kept reading clients that do not read";
  EXPECT_EQ(mid.write_timeouts, 0u) << "cut before the write timeout";
  EXPECT_GE(mid.connections_active, static_cast<uint64_t>(kReaders));

  // Then each is cut by the write timeout: no progress for kWriteTimeoutMs.
  ASSERT_TRUE(s.wait_for(
      [](const ServerStats& st) { return st.write_timeouts == static_cast<uint64_t>(kReaders); },
      kWriteTimeoutMs + 5000))
      << "write timeouts: " << s.stats().write_timeouts;
  const int64_t cut_ms = tt::now_ms() - t0;
  const int64_t rss_peak = rss.peak_kb();  // before the clients read anything at all
  EXPECT_EQ(taken->load(), seen) << "requests were taken after the stall";
  ASSERT_TRUE(s.wait_for([](const ServerStats& st) { return st.connections_active == 1; }))
      << "connections left: " << s.stats().connections_active;
  for (auto& r : readers) r->close(/*reset=*/true);
  normal.stop();
  normal.report("never_read_normal_client");
  EXPECT_EQ(normal.lost(), 0u);
  EXPECT_GE(normal.answered(), 30u);
  EXPECT_LT(normal.latencies().max(), 1000);

  ASSERT_TRUE(s.wait_for([](const ServerStats& st) {
    return st.connections_active == 0 && st.exchanges_in_flight == 0;
  })) << "connections left: "
      << s.stats().connections_active;
  const int64_t rss_after = proc.rss_kb();
  EXPECT_LT(rss_peak - rss_before, 32 * 1024 * kMemScale)
      << "KiB; everything asked for is " << kReaders * kRequests * kBody / 1024 << " KiB";
  EXPECT_EQ(s.stats().write_timeouts, static_cast<uint64_t>(kReaders));

  tt::figure("never_read_clients", static_cast<int64_t>(kReaders));
  tt::figure("never_read_requests_sent", static_cast<int64_t>(kReaders * kRequests));
  tt::figure("never_read_requests_taken", static_cast<int64_t>(seen));
  tt::figure("never_read_response_mib_asked",
             static_cast<int64_t>(kReaders * kRequests * kBody / (1024 * 1024)));
  tt::figure("never_read_stalled_after_ms", stalled_ms);
  tt::figure("never_read_cut_after_ms", cut_ms);
  rss_figures("never_read", rss_before, rss_peak, rss_after);

  tt::Client after(s.port());
  tt::expect_plaintext_ok(after);
}

// ---------------------------------------------------------------- connection flood

TEST(Hostile, ConnectionFloodPastTheCapGets503AndTheCapRecovers) {
  constexpr size_t kCap = 100;
  constexpr int kFlood = 500;
  ASSERT_TRUE(tt::ensure_fds(4 * kFlood));
  tether::ServerOptions o;
  o.max_connections = kCap;
  o.idle_timeout_ms = 20000;
  o.linger_timeout_ms = 2000;
  tt::TestServer s(o);
  tt::RssSampler rss;
  tt::ProcReader proc;
  const int64_t rss_before = proc.rss_kb();
  rss.reset_peak(rss_before);

  // The normal client holds one of the slots from before the flood.
  tt::NormalClient normal(s.port(), 2, 0);
  ASSERT_TRUE(s.wait_for([](const ServerStats& st) { return st.requests >= 1; }));

  std::vector<std::unique_ptr<tt::Client>> flood;
  const int64_t t0 = tt::now_ms();
  for (int i = 0; i < kFlood; ++i) {
    flood.push_back(std::make_unique<tt::Client>(s.port()));
    ASSERT_TRUE(flood.back()->connected()) << i;
    flood.back()->send(tt::kPlaintextRequest);  // the server may have closed it already
  }
  const int64_t open_ms = tt::now_ms() - t0;
  int served = 0, refused = 0, other = 0, lost = 0;
  std::vector<std::unique_ptr<tt::Client>> held;
  for (auto& c : flood) {
    std::optional<tt::HttpResponse> r = c->read_response(5000);
    if (!r) {
      ++lost;
    } else if (r->status == 200) {
      ++served;
      held.push_back(std::move(c));  // keeps its slot until the end of the flood
    } else if (r->status == 503) {
      ++refused;
      EXPECT_EQ(r->header("connection").value_or(""), "close");
      EXPECT_NE(r->body.find("too many connections"), std::string::npos) << r->body;
      EXPECT_TRUE(c->wait_closed(3000)) << "a refused connection was not closed";
    } else {
      ++other;
    }
  }
  const uint64_t held_peak = s.stats().connections_active;
  EXPECT_EQ(lost, 0) << "flood connections without an answer";
  EXPECT_EQ(other, 0);
  EXPECT_EQ(served, static_cast<int>(kCap) - 1) << "the cap counts the normal client's slot";
  EXPECT_EQ(refused, kFlood - served);
  EXPECT_TRUE(s.wait_for([&](const ServerStats& st) {
    return st.connections_rejected == static_cast<uint64_t>(refused);
  }));
  flood.clear();

  // The flood ends: every slot comes back, and a full cap of new connections is served.
  held.clear();
  ASSERT_TRUE(s.wait_for([](const ServerStats& st) { return st.connections_active == 1; }))
      << "connections left: " << s.stats().connections_active;
  std::vector<std::unique_ptr<tt::Client>> again;
  for (size_t i = 0; i + 1 < kCap; ++i) {
    again.push_back(std::make_unique<tt::Client>(s.port()));
    ASSERT_TRUE(again.back()->connected());
    tt::expect_plaintext_ok(*again.back());
    if (::testing::Test::HasFatalFailure()) return;
  }
  again.clear();
  normal.stop();
  normal.report("flood_normal_client");
  EXPECT_EQ(normal.lost(), 0u);
  EXPECT_LT(normal.latencies().max(), 1000);
  ASSERT_TRUE(s.wait_for([](const ServerStats& st) { return st.connections_active == 0; }));
  const int64_t rss_peak = rss.peak_kb();
  const int64_t rss_after = proc.rss_kb();
  ServerStats st = s.stats();
  EXPECT_EQ(st.connections_rejected, static_cast<uint64_t>(refused));
  EXPECT_EQ(st.exchanges_in_flight, 0u);
  EXPECT_LT(rss_peak - rss_before, 32 * 1024 * kMemScale) << "KiB";

  tt::figure("flood_connections", static_cast<int64_t>(kFlood));
  tt::figure("flood_cap", static_cast<int64_t>(kCap));
  tt::figure("flood_open_ms", open_ms);
  tt::figure("flood_served", static_cast<int64_t>(served));
  tt::figure("flood_503", static_cast<int64_t>(refused));
  tt::figure("flood_lost", static_cast<int64_t>(lost));
  tt::figure("flood_connections_held_peak", static_cast<int64_t>(held_peak));
  rss_figures("flood", rss_before, rss_peak, rss_after);
}

// ---------------------------------------------------------------- fd exhaustion

/// Lowers the soft RLIMIT_NOFILE for the scope, then restores it.
class FdLimit {
 public:
  explicit FdLimit(rlim_t soft) {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit l = saved_;
    l.rlim_cur = soft;
    ok_ = ::setrlimit(RLIMIT_NOFILE, &l) == 0;
  }
  ~FdLimit() { restore(); }
  bool ok() const { return ok_; }
  void restore() {
    if (ok_) ::setrlimit(RLIMIT_NOFILE, &saved_);
    ok_ = false;
  }

 private:
  rlimit saved_{};
  bool ok_ = false;
};

/// Holds every fd the limit still allows (dups of one file) until released.
struct FdHogs {
  std::vector<int> fds;
  ~FdHogs() { release(); }
  /// True when it stopped because the limit was reached.
  bool take_all(int source) {
    while (true) {
      int fd = ::dup(source);
      if (fd < 0) return errno == EMFILE;
      fds.push_back(fd);
    }
  }
  void release() {
    for (int fd : fds) ::close(fd);
    fds.clear();
  }
};

/// A connection attempt made while the process has no fd to spare: its socket exists from
/// before, so connecting needs no new fd. Outcome: answered, or closed/reset without one.
struct Attempt {
  int fd = -1;
  bool done = false;
  int status = 0;
  std::string in;
};

/// Reads whatever arrived on the attempts without blocking; marks those that ended.
void poll_attempts(std::vector<Attempt>& attempts, size_t upto) {
  for (size_t i = 0; i < upto; ++i) {
    Attempt& a = attempts[i];
    if (a.done || a.fd < 0) continue;
    char buf[4096];
    bool eof = false;
    while (true) {
      ssize_t n = ::recv(a.fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        a.in.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
      eof = true;
      break;
    }
    if (std::optional<tt::HttpResponse> r = tt::parse_response(a.in, false, eof)) {
      a.done = true;
      a.status = r->status;
    } else if (eof) {
      a.done = true;
    }
  }
}

/// Another thread of the process opening a file while the process is at its limit: it
/// spins until an fd becomes free (such as the one libuv frees to shed connections), takes it,
/// keeps it until released, and spins no more.
class FdThief {
 public:
  /// The thread starts here, while fds are plentiful, and waits for start().
  explicit FdThief(int source) {
    thread_ = std::thread([this, source] {
      ready_ = true;
      while (!go_.load() && !stop_.load()) ::poll(nullptr, 0, 1);
      while (!stop_.load(std::memory_order_relaxed)) {
        int fd = ::dup(source);
        if (fd < 0) continue;
        stolen_.push_back(fd);
        taken_.store(stolen_.size());
        break;
      }
      // The thread ends only after stop(): its end runs library code, so not while fds are out.
      while (!stop_.load()) ::poll(nullptr, 0, 1);
    });
  }
  /// Running (its start-up is done, so nothing of it runs for the first time later).
  bool ready() const { return ready_.load(); }
  void start() { go_ = true; }
  size_t taken() const { return taken_.load(); }
  ~FdThief() {
    stop();
    for (int fd : stolen_) ::close(fd);
  }
  /// Stops taking and joins (call with fds to spare); returns how many it took.
  size_t stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return stolen_.size();
  }

 private:
  std::atomic<bool> ready_{false};
  std::atomic<bool> go_{false};
  std::atomic<bool> stop_{false};
  std::atomic<size_t> taken_{0};
  std::vector<int> stolen_;
  std::thread thread_;
};

/// How the process runs out of fds.
enum class Exhaust {
  /// Every fd below the limit is taken; the fds the server frees can be taken again.
  Plain,
  /// The same, and another thread takes the first fd the server frees.
  Thief,
  /// The limit is lowered below the fds in use (prlimit on a running server): no fd the
  /// server frees can be used again, libuv's reserve fd included.
  BelowOpenFds,
};

void fd_exhaustion(Exhaust how) {
  const bool with_thief = how == Exhaust::Thief;
  constexpr int kAttemptEveryMs = 5;    // connection attempts while the process has no fd...
  constexpr int kBurst = 4;             // ...made in bursts, so each one sheds several
  constexpr int64_t kMeasureMs = 1500;  // the CPU of the server's threads is measured over this
  constexpr int64_t kStealMs = 3000;    // at most this long for the other thread to take an fd
  constexpr size_t kAttempts = (kMeasureMs + kStealMs) / kAttemptEveryMs;
  tether::ServerOptions o;
  o.workers = 1;
  const std::vector<pid_t> before = tt::thread_ids();
  tt::TestServer s(o);
  const std::vector<pid_t> server_threads = tt::new_threads(before, tt::thread_ids());
  ASSERT_GE(server_threads.size(), 2u);  // the loop and the worker
  tt::ProcReader proc;
  proc.watch_threads(server_threads);

  // Made while fds are plentiful: an open keep-alive connection, the sockets of the later
  // connection attempts, and a file to dup.
  tt::Client keep(s.port());
  tt::expect_plaintext_ok(keep);
  std::vector<Attempt> attempts(kAttempts);
  for (Attempt& a : attempts) {
    a.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(a.fd, 0);
  }
  const int source = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(source, 0);
  const int fds_before = tt::open_fds();

  // Nothing below runs code for the first time while fds are out, beyond what it must: UBSan
  // (in the ASan build) checks a polymorphic type seen for the first time through a pipe(2),
  // and without an fd it reports a bogus "invalid vptr". So the other thread starts now, the
  // CPU reader runs once, and every figure and assertion waits until the fds are back.
  std::optional<FdThief> thief;
  if (with_thief) {
    thief.emplace(source);
    while (!thief->ready()) ::poll(nullptr, 0, 1);
  }
  for (pid_t t : server_threads) EXPECT_GE(proc.cpu_ms(t), 0);
  FdHogs hogs;
  size_t started = 0;
  int64_t wall = 0, steal_ms = 0, rss_exhausted = 0, fds_exhausted = 0;
  double cpu_pct = 0;
  size_t stolen = 0;
  int keep_answered = 0, keep_asked = 0, ended_during = 0, answered_during = 0;
  bool exhausted = false;
  {
    FdLimit limit(how == Exhaust::BelowOpenFds ? 3 : static_cast<rlim_t>(tt::highest_fd()) + 8);
    ASSERT_TRUE(limit.ok());
    exhausted = hogs.take_all(source);
    fds_exhausted = fds_before + static_cast<int64_t>(hogs.fds.size());
    if (thief) thief->start();
    const sockaddr_in addr = loopback(s.port());
    int64_t next_attempt = tt::now_ms(), next_keep = next_attempt;
    // One turn: kBurst connection attempts every kBurst * kAttemptEveryMs; the kept
    // connection asks for a page every 50 ms.
    auto turn = [&] {
      for (; started < attempts.size() && next_attempt <= tt::now_ms(); ++started) {
        if (started % kBurst == kBurst - 1) next_attempt += kBurst * kAttemptEveryMs;
        Attempt& a = attempts[started];
        if (::connect(a.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
            ::send(a.fd, tt::kPlaintextRequest.data(), tt::kPlaintextRequest.size(), MSG_NOSIGNAL) <
                0) {
          a.done = true;  // refused or reset at once
        }
      }
      poll_attempts(attempts, started);
      if (next_keep <= tt::now_ms()) {
        next_keep += 50;
        ++keep_asked;
        if (keep.send(tt::kPlaintextRequest)) {
          std::optional<tt::HttpResponse> r = keep.read_response(1000);
          keep_answered += r && r->status == 200;
        }
      }
      ::poll(nullptr, 0, 2);
    };
    // With the other thread: until it took an fd that the server freed.
    const int64_t steal_start = tt::now_ms();
    while (thief && thief->taken() == 0 && tt::now_ms() - steal_start < kStealMs) turn();
    steal_ms = tt::now_ms() - steal_start;

    std::vector<int64_t> cpu0;
    for (pid_t t : server_threads) cpu0.push_back(proc.cpu_ms(t));
    const int64_t t0 = tt::now_ms();
    while (tt::now_ms() - t0 < kMeasureMs) turn();
    wall = tt::now_ms() - t0;
    int64_t busiest = 0;
    for (size_t i = 0; i < server_threads.size(); ++i) {
      busiest = std::max(busiest, proc.cpu_ms(server_threads[i]) - cpu0[i]);
    }
    stolen = thief ? thief->taken() : 0;
    cpu_pct = 100.0 * static_cast<double>(busiest) / static_cast<double>(wall);
    rss_exhausted = proc.rss_kb();
    poll_attempts(attempts, started);
    for (size_t i = 0; i < started; ++i) {
      ended_during += attempts[i].done;
      answered_during += attempts[i].status != 0;
    }
    // Recovery: fds come back.
    hogs.release();
  }
  // The other thread ends only now, with the fd limit restored: the server accepts the
  // waiting connection attempts as soon as fds are freed and can take every one of them
  // below the lowered limit again, and a thread's end needs an fd under UBSan (see above).
  thief.reset();
  ASSERT_TRUE(exhausted) << "could not use up the fds";
  tt::figure("fd_exhaustion_fds_open", fds_exhausted);
  tt::figure("fd_exhaustion_attempts", static_cast<int64_t>(started));
  tt::figure("fd_exhaustion_attempts_ended_during", static_cast<int64_t>(ended_during));
  tt::figure("fd_exhaustion_attempts_answered_during", static_cast<int64_t>(answered_during));
  tt::figure("fd_exhaustion_loop_cpu_pct", cpu_pct);
  tt::figure("fd_exhaustion_window_ms", wall);
  tt::figure("fd_exhaustion_kept_connection_answered",
             std::to_string(keep_answered) + "/" + std::to_string(keep_asked));
  tt::figure("fd_exhaustion_rss_kb", rss_exhausted);
  if (with_thief) {
    tt::figure("fd_exhaustion_fds_taken_by_another_thread", static_cast<int64_t>(stolen));
    tt::figure("fd_exhaustion_ms_until_taken", steal_ms);
    if (stolen == 0) std::cout << "NOTE: no fd was taken by the other thread this run\n";
  }
  EXPECT_LT(cpu_pct, 30.0) << "a server thread spun while the process had no fd";
  EXPECT_EQ(keep_answered, keep_asked) << "an open connection was not served meanwhile";

  ::close(source);
  for (size_t i = started; i < attempts.size(); ++i) ::close(attempts[i].fd);
  attempts.resize(started);

  // Every attempt ends (answered, or closed without an answer) and none hangs.
  int64_t deadline = tt::now_ms() + 5000;
  size_t pending = attempts.size();
  while (tt::now_ms() < deadline) {
    poll_attempts(attempts, attempts.size());
    pending = static_cast<size_t>(
        std::count_if(attempts.begin(), attempts.end(), [](const Attempt& a) { return !a.done; }));
    if (pending == 0) break;
    ::poll(nullptr, 0, 5);
  }
  int answered = 0, closed = 0;
  for (Attempt& a : attempts) {
    if (a.status != 0) {
      ++answered;
      EXPECT_EQ(a.status, 200);
    } else if (a.done) {
      ++closed;
    }
    ::close(a.fd);
    a.fd = -1;
  }
  tt::figure("fd_exhaustion_attempts_answered", static_cast<int64_t>(answered));
  tt::figure("fd_exhaustion_attempts_closed_unanswered", static_cast<int64_t>(closed));
  tt::figure("fd_exhaustion_attempts_hung", static_cast<int64_t>(pending));
  EXPECT_EQ(pending, 0u) << "connection attempts neither answered nor closed";

  // The server serves new connections again, and the kept one still works.
  tt::Client fresh(s.port());
  ASSERT_TRUE(fresh.connected());
  tt::expect_plaintext_ok(fresh);
  tt::expect_plaintext_ok(keep);
  fresh.close();
  keep.close();
  EXPECT_TRUE(s.wait_for([](const ServerStats& st) { return st.connections_active == 0; }));
}

TEST(Hostile, FdExhaustionDoesNotSpinTheLoopAndTheServerRecovers) {
  fd_exhaustion(Exhaust::Plain);
}

TEST(Hostile, FdExhaustionWhileAnotherThreadTakesFreedFds) {
  fd_exhaustion(Exhaust::Thief);
}

TEST(Hostile, FdLimitLoweredBelowTheOpenFdsDoesNotSpinTheLoop) {
  fd_exhaustion(Exhaust::BelowOpenFds);
}

}  // namespace
