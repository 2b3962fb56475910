// Hostile tests of tether-load's engine and its public parsers, written from the public
// headers (include/tether/load/*.hpp) only: raw servers that misbehave on purpose (split
// responses, 1xx storms, extra responses, resets, stalls, garbage), options that misuse the
// API, and inputs to the URL, targets and --fail-if parsers. Every request sent must end as
// exactly one success or one typed error; the raw servers count what they received and sent.
//
// A test whose comment says "FAILED before its fix" reproduces a break found by this file;
// until the library is fixed those tests fail (none is DISABLED_: the hangs and runaway
// allocations run in a forked child, killed after a time limit or, by a memory guard, after
// +256 MB, so the rest of the binary still runs). The parent forks with no thread of its
// own running (TSan requires it). Each run is short (<= ~1 s) and on 127.0.0.1 only.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/child_process.hpp"
#include "support/test_server.hpp"
#include "tether/load/engine.hpp"
#include "tether/load/fail_if.hpp"
#include "tether/load/histogram.hpp"
#include "tether/load/targets.hpp"
#include "tether/load/url.hpp"

namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using tether::load::ErrorKind;
using tether::load::RunOptions;
using tether::load::RunResult;

std::string describe(const RunResult& r) {
  std::string s = "error='" + r.error + "' requests=" + std::to_string(r.requests);
  for (size_t k = 0; k < tether::load::kErrorKindCount; ++k)
    s += " " + std::string(tether::load::error_kind_name(static_cast<ErrorKind>(k))) + "=" +
         std::to_string(r.errors[k]);
  s += " intended=" + std::to_string(r.intended) +
       " elapsed_ms=" + std::to_string(r.elapsed.count() / 1'000'000) +
       " established=" + std::to_string(r.connections_established) +
       " threads=" + std::to_string(r.threads);
  return s;
}

uint64_t non_connect_errors(const RunResult& r) {
  return r.errors_total() - r.errors_of(ErrorKind::connect);
}

// ---------------------------------------------------------------------------------------
// RawServer: a listener on 127.0.0.1:0 whose connections each run `handler` on a thread.
// Handlers use Conn to read whole request heads (requests here have no body) and to write.
// It counts the requests it read in full and the responses the handler said it sent.
// ---------------------------------------------------------------------------------------
class RawServer;

class Conn {
 public:
  Conn(int fd, RawServer& server) : fd_(fd), server_(server) {}
  int fd() const { return fd_; }
  /// Reads until one full request head is buffered (and its Content-Length body, if any);
  /// returns false on EOF, error, stop, or after timeout_ms.
  bool read_request(int timeout_ms = 3000, std::string* out = nullptr);
  /// Writes everything (blocking, but gives up when the server stops); false on error.
  bool write_all(std::string_view data);
  /// Writes one byte at a time.
  bool write_bytewise(std::string_view data);
  /// Marks one response as sent (for the counts).
  void sent();
  /// Closes with an RST (SO_LINGER 0).
  void reset();
  /// Does nothing for timeout_ms, or until the server stops.
  void idle(int timeout_ms);

 private:
  int fd_;
  RawServer& server_;
  std::string buf_;
};

class RawServer {
 public:
  using Handler = std::function<void(Conn&)>;
  explicit RawServer(Handler handler, int backlog = 128, bool accept_connections = true)
      : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_fd_, backlog), 0);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    if (accept_connections) accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~RawServer() { stop(); }

  void stop() {
    if (stopping_.exchange(true)) return;
    if (accept_thread_.joinable()) accept_thread_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& t : threads_) t.join();
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : fds_) ::close(fd);
    fds_.clear();
    ::close(listen_fd_);
  }

  uint16_t port() const { return port_; }
  bool stopping() const { return stopping_.load(); }
  std::atomic<uint64_t> requests{0};   // request heads read in full
  std::atomic<uint64_t> responses{0};  // responses the handlers sent
  std::atomic<uint64_t> accepted{0};

 private:
  void accept_loop() {
    while (!stopping_.load()) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      accepted.fetch_add(1);
      std::lock_guard<std::mutex> lock(mu_);
      fds_.push_back(fd);
      threads_.emplace_back([this, fd] {
        Conn c(fd, *this);
        handler_(c);
        // Let the handler's last bytes go; the client sees EOF when the handler returns.
        ::shutdown(fd, SHUT_WR);
      });
    }
  }

  Handler handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
};

bool Conn::read_request(int timeout_ms, std::string* out) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    size_t end = buf_.find("\r\n\r\n");
    if (end != std::string::npos) {
      size_t total = end + 4;
      // A Content-Length body (the requests of these tests are serialized by tether-load).
      size_t cl = buf_.find("Content-Length: ");
      if (cl != std::string::npos && cl < end) total += std::stoul(buf_.substr(cl + 16));
      if (buf_.size() >= total) {
        if (out) *out = buf_.substr(0, total);
        buf_.erase(0, total);
        server_.requests.fetch_add(1);
        return true;
      }
    }
    if (server_.stopping() || std::chrono::steady_clock::now() >= deadline) return false;
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, 20);
    if (rc <= 0) continue;
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
  }
}

bool Conn::write_all(std::string_view data) {
  while (!data.empty()) {
    if (server_.stopping()) return false;
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool Conn::write_bytewise(std::string_view data) {
  for (char c : data)
    if (!write_all(std::string_view(&c, 1))) return false;
  return true;
}

void Conn::idle(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!server_.stopping() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
}

void Conn::sent() {
  server_.responses.fetch_add(1);
}

void Conn::reset() {
  linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::shutdown(fd_, SHUT_RDWR);  // the fd itself is closed by ~RawServer
}

/// Serves every request on the connection with `response` (the same bytes each time).
RawServer::Handler answer_with(std::string response) {
  return [response](Conn& c) {
    while (c.read_request()) {
      if (!c.write_all(response)) return;
      c.sent();
    }
  };
}

const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

RunOptions quick(uint16_t port) {
  RunOptions o;
  o.port = port;
  o.connections = 2;
  o.threads = 1;
  o.duration = 200ms;
  o.timeout = 300ms;
  return o;
}

/// The run must end within duration + warmup + timeout + slack.
void expect_ends_in_time(const RunOptions& o, const RunResult& r,
                         std::chrono::milliseconds slack = 500ms) {
  EXPECT_LT(r.elapsed, o.duration + o.warmup + o.timeout + slack) << describe(r);
}

/// The raw server's counts must match the run's exactly once its handlers have ended.
void expect_exact(RawServer& s, const RunResult& r) {
  s.stop();
  EXPECT_EQ(r.requests, s.responses.load()) << describe(r);
  EXPECT_EQ(r.requests + non_connect_errors(r), s.requests.load()) << describe(r);
}

// =======================================================================================
// Hostile servers
// =======================================================================================

TEST(HostileLoadServer, ResponsesSplitAtEveryByteCountExactly) {
  const std::string chunked =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;ext=\"a b\"\r\no\r\n1\r\nk\r\n"
      "0\r\nTrailer: x\r\n\r\n";
  RawServer s([&](Conn& c) {
    bool odd = false;
    while (c.read_request()) {
      if (!c.write_bytewise((odd = !odd) ? kOk : chunked)) return;
      c.sent();
    }
  });
  RunOptions o = quick(s.port());
  o.expect_bodies = {"ok"};
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_GT(r.requests, 10u);
  EXPECT_EQ(r.errors_total(), 0u) << describe(r);
  expect_exact(s, r);
}

TEST(HostileLoadServer, InterimResponsesAreNotTheResponse) {
  // 100 Continue and 103 Early Hints before every real answer: one request, one response.
  std::string storm;
  for (int i = 0; i < 50; ++i)
    storm += (i % 2 ? "HTTP/1.1 100 Continue\r\n\r\n"
                    : "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
  RawServer s(answer_with(storm + kOk));
  RunOptions o = quick(s.port());
  o.expect_bodies = {"ok"};
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_GT(r.requests, 10u) << describe(r);
  EXPECT_EQ(r.errors_total(), 0u) << describe(r);
  expect_exact(s, r);
}

TEST(HostileLoadServer, SwitchingProtocolsIsAnErrorAndTheRunEnds) {
  // FAILED before its fix: every request was counted twice, as a status error (101) and
  // as a parse error: "requests=0 parse=438 status=438" for 438 requests the server read.
  // message_complete() counts the 101 as a status error and then fill()s the next request
  // into the ring from inside the llhttp callback; llhttp then stops with
  // HPE_PAUSED_UPGRADE and on_read() fails that queued request, never written, as a parse
  // error.
  RawServer s([](Conn& c) {
    while (c.read_request()) {
      c.write_all(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          "Connection: Upgrade\r\n\r\n\x81\x05hello garbage after the upgrade");
      c.sent();
    }
  });
  RunOptions o = quick(s.port());
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.requests, 0u) << describe(r);
  EXPECT_GT(r.errors_total(), 0u) << describe(r);
  expect_ends_in_time(o, r);
  s.stop();
  EXPECT_EQ(non_connect_errors(r), s.requests.load()) << describe(r);
}

TEST(HostileLoadServer, ExtraResponsesNeverBecomeSuccesses) {
  // Two responses for every request: the second one was asked for by nobody.
  // FAILED before its fix: "requests=46550 parse=2" successes for 23621 requests the server
  // read: about two successes per request sent. message_complete() fill()s the next
  // request into the ring from inside the llhttp callback, before it is written; the
  // extra response, parsed from the same read, then completes that unsent request, whose
  // own response later completes the next one, and so on.
  RawServer s(answer_with(kOk + kOk));
  RunOptions o = quick(s.port());
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  s.stop();
  // Never more outcomes than requests sent, never more successes than requests.
  EXPECT_EQ(r.requests + non_connect_errors(r), s.requests.load()) << describe(r);
  EXPECT_LE(r.requests, s.requests.load()) << describe(r);
}

TEST(HostileLoadServer, ResponseBeforeAnyRequestIsNotCountedAsASuccess) {
  // The server speaks first, then answers normally.
  // FAILED before its fix (minor): one more outcome than requests per connection
  // ("requests=14649 parse=2" for 14649 requests read, 2 connections). The early response
  // completes the first request (undetectable), and the last response, arriving with
  // nothing in flight, is counted as a parse error: an error without a request, so that
  // requests + errors is no longer the number of requests sent.
  RawServer s([](Conn& c) {
    c.write_all(kOk);
    while (c.read_request()) {
      if (!c.write_all(kOk)) return;
      c.sent();
    }
  });
  RunOptions o = quick(s.port());
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  s.stop();
  EXPECT_EQ(r.requests + non_connect_errors(r), s.requests.load()) << describe(r);
}

struct BadResponseCase {
  const char* name;
  std::string response;
  ErrorKind kind;
};

TEST(HostileLoadServer, MalformedResponsesAreParseErrors) {
  const std::vector<BadResponseCase> cases = {
      {"garbage", "garbage\r\n\r\n", ErrorKind::parse},
      {"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", ErrorKind::parse},
      {"huge length", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nok",
       ErrorKind::parse},
      {"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
       ErrorKind::parse},
      {"length and chunked",
       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: "
       "chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
       ErrorKind::parse},
      {"bad chunk size",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
       ErrorKind::parse},
      {"chunk size overflow",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nok\r\n",
       ErrorKind::parse},
      {"status 1000", "HTTP/1.1 1000 Huge\r\nContent-Length: 2\r\n\r\nok", ErrorKind::parse},
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ErrorKind::parse},
      {"NUL in header", "HTTP/1.1 200 OK\r\nX: a\0b\r\nContent-Length: 2\r\n\r\nok"s,
       ErrorKind::parse},
  };
  for (const BadResponseCase& c : cases) {
    SCOPED_TRACE(c.name);
    RawServer s(answer_with(c.response));
    RunOptions o = quick(s.port());
    o.connections = 1;
    o.duration = 100ms;
    RunResult r = tether::load::run(o);
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.requests, 0u) << describe(r);
    EXPECT_GT(r.errors_of(c.kind), 0u) << describe(r);
    expect_ends_in_time(o, r);
    s.stop();
    EXPECT_EQ(non_connect_errors(r), s.requests.load()) << describe(r);
  }
}

TEST(HostileLoadServer, CloseDelimitedHttp10BodiesCountOncePerConnection) {
  RawServer s([](Conn& c) {
    if (!c.read_request()) return;
    c.write_all("HTTP/1.0 200 OK\r\n\r\nok");
    c.sent();
  });
  RunOptions o = quick(s.port());
  o.expect_bodies = {"ok"};
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_GT(r.requests, 10u);
  EXPECT_EQ(r.errors_total(), 0u) << describe(r);
  expect_exact(s, r);
}

TEST(HostileLoadServer, ConnectionCloseInTheMiddleOfAPipeline) {
  // Answers the first request of each connection with Connection: close, then closes: the
  // other pipelined requests were sent and are resets (or resent, but never successes).
  RawServer s([](Conn& c) {
    if (!c.read_request()) return;
    c.write_all("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
    c.sent();
    // Read what else arrived so that the counts see it, then close.
    while (c.read_request(30)) {
    }
  });
  RunOptions o = quick(s.port());
  o.pipeline = 8;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_GT(r.requests, 5u) << describe(r);
  s.stop();
  EXPECT_EQ(r.requests, s.responses.load()) << describe(r);
  // Requests the client wrote after the server stopped reading can be lost in the kernel:
  // the outcomes are at least what the server read.
  EXPECT_GE(r.requests + non_connect_errors(r), s.requests.load()) << describe(r);
  EXPECT_EQ(r.errors_total(), r.errors_of(ErrorKind::reset)) << describe(r);
}

TEST(HostileLoadServer, ResetMidResponseIsAReset) {
  RawServer s([](Conn& c) {
    if (!c.read_request()) return;
    c.write_all("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
    std::this_thread::sleep_for(5ms);
    c.reset();
  });
  RunOptions o = quick(s.port());
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.requests, 0u);
  EXPECT_GT(r.errors_of(ErrorKind::reset), 0u) << describe(r);
  EXPECT_EQ(r.errors_total(), r.errors_of(ErrorKind::reset)) << describe(r);
  expect_ends_in_time(o, r);
  s.stop();
  EXPECT_EQ(non_connect_errors(r), s.requests.load()) << describe(r);
}

TEST(HostileLoadServer, ServerThatClosesRightAfterAcceptDoesNotSpinForever) {
  RawServer s([](Conn& c) { c.reset(); });
  RunOptions o = quick(s.port());
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.requests, 0u);
  EXPECT_GT(r.errors_total(), 0u) << describe(r);
  expect_ends_in_time(o, r);
}

TEST(HostileLoadServer, SlowerThanTheTimeoutIsOnlyTimeouts) {
  RawServer s([](Conn& c) {
    while (c.read_request()) {
      std::this_thread::sleep_for(200ms);  // the client's timeout is 50 ms
      if (!c.write_all(kOk)) return;
      c.sent();
    }
  });
  RunOptions o = quick(s.port());
  o.timeout = 50ms;
  o.duration = 300ms;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.requests, 0u) << describe(r);
  EXPECT_GT(r.errors_of(ErrorKind::timeout), 0u) << describe(r);
  EXPECT_EQ(r.errors_total(), r.errors_of(ErrorKind::timeout)) << describe(r);
  expect_ends_in_time(o, r);
  s.stop();
  EXPECT_EQ(r.errors_total(), s.requests.load()) << describe(r);
}

TEST(HostileLoadServer, ATrickleThatOutlastsTheTimeoutIsATimeout) {
  // One byte every 10 ms: the connection is never idle, but no response completes within
  // the 100 ms timeout.
  RawServer s([](Conn& c) {
    while (c.read_request()) {
      for (char ch : kOk) {
        if (!c.write_all(std::string_view(&ch, 1))) return;
        std::this_thread::sleep_for(10ms);
      }
      c.sent();
    }
  });
  RunOptions o = quick(s.port());
  o.connections = 1;
  o.timeout = 100ms;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.requests, 0u) << describe(r);
  EXPECT_GT(r.errors_of(ErrorKind::timeout), 0u) << describe(r);
  EXPECT_EQ(r.errors_total(), r.errors_of(ErrorKind::timeout)) << describe(r);
  expect_ends_in_time(o, r);
}

TEST(HostileLoadServer, NeverEndingHeadersEndAsAnErrorWithBoundedTime) {
  // Header lines as fast as the client reads them, never the empty line.
  RawServer s([](Conn& c) {
    if (!c.read_request()) return;
    c.write_all("HTTP/1.1 200 OK\r\n");
    std::string line = "X-Filler: " + std::string(1000, 'a') + "\r\n";
    for (int i = 0; i < 20000 && c.write_all(line); ++i) {  // up to ~20 MB
    }
  });
  RunOptions o = quick(s.port());
  o.connections = 1;
  o.duration = 100ms;
  o.timeout = 500ms;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.requests, 0u);
  EXPECT_GT(r.errors_total(), 0u) << describe(r);
  expect_ends_in_time(o, r);
}

TEST(HostileLoadServer, HeadResponsesHaveNoBody) {
  // A HEAD response announces Content-Length but carries no body (RFC 9110 9.3.2).
  RawServer s(answer_with("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"));
  RunOptions o = quick(s.port());
  tether::load::TargetSpec head;
  head.method = "HEAD";
  tether::load::RequestHead h;
  h.host = "127.0.0.1";
  o.requests = tether::load::serialize_targets({head}, h).requests;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_GT(r.requests, 10u) << describe(r);
  EXPECT_EQ(r.errors_total(), 0u) << describe(r);
  expect_exact(s, r);
}

TEST(HostileLoadServer, NoContentAndNotModifiedHaveNoBodyWhateverTheirLength) {
  // RFC 9112 6.3: a 1xx, 204 or 304 response ends at the empty line after its head,
  // "regardless of the header fields present". A 304 carries the Content-Length of the
  // representation it stands for.
  // FAILED before its fix: "requests=2 timeout=2" for the 304: every 304 with a
  // Content-Length waits for a body that never comes (and with pipelining would eat the
  // next response as its body). llhttp 8.1 skips the body of 204/304 only when they have
  // no Content-Length; on_headers_complete() returns 1 (no body) for HEAD only.
  struct Case {
    const char* name;
    std::string response;
  };
  for (const Case& c : std::vector<Case>{
           {"204", "HTTP/1.1 204 No Content\r\n\r\n"},
           {"304", "HTTP/1.1 304 Not Modified\r\n\r\n"},
           {"304 with length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"},
           {"204 with length", "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"},
           {"103 with length", "HTTP/1.1 103 Early Hints\r\nContent-Length: 7\r\n\r\n" + kOk}}) {
    SCOPED_TRACE(c.name);
    RawServer s(answer_with(c.response));
    RunOptions o = quick(s.port());
    o.duration = 150ms;
    o.timeout = 200ms;
    o.pipeline = 2;
    RunResult r = tether::load::run(o);
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_GT(r.requests, 10u) << describe(r);
    EXPECT_EQ(r.errors_total(), 0u) << describe(r);
    expect_exact(s, r);
  }
}

TEST(HostileLoadServer, ARequestNeverWrittenIsNeverCounted) {
  // One good response and garbage in the same write: the request was answered, and the
  // garbage breaks the connection. The server reads one request per connection.
  // FAILED before its fix: two outcomes per request read (a success and a parse error):
  // message_complete() queues the next request from inside the llhttp callback, and the
  // parse error that follows in the same read fails it although it was never written.
  RawServer s([](Conn& c) {
    if (!c.read_request()) return;
    c.write_all(kOk + "garbage\r\n\r\n");
    c.sent();
    c.idle(1000);  // read nothing more
  });
  RunOptions o = quick(s.port());
  o.duration = 150ms;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_GT(r.requests, 2u) << describe(r);
  s.stop();
  EXPECT_EQ(r.requests, s.responses.load()) << describe(r);
  EXPECT_EQ(r.requests + non_connect_errors(r), s.requests.load()) << describe(r);
}

TEST(HostileLoadServer, WrongStatusesAndBodiesAreNeverSuccesses) {
  // Cycles 200 "ok", 500 "ok", 200 "no", 200 "ok" (chunked): half the answers are right.
  std::atomic<uint64_t> right{0};
  RawServer s([&](Conn& c) {
    int i = 0;
    while (c.read_request()) {
      std::string resp;
      switch (i++ % 4) {
        case 0:
          resp = kOk;
          right.fetch_add(1);
          break;
        case 1:
          resp = "HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\nok";
          break;
        case 2:
          resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno";
          break;
        default:
          resp =
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\no\r\n1\r\nk\r\n0\r\n\r\n";
          right.fetch_add(1);
      }
      if (!c.write_all(resp)) return;
      c.sent();
    }
  });
  RunOptions o = quick(s.port());
  o.pipeline = 4;
  o.expect_bodies = {"ok"};
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  s.stop();
  EXPECT_EQ(r.requests, right.load()) << describe(r);
  EXPECT_EQ(r.requests + r.errors_total(), s.requests.load()) << describe(r);
  EXPECT_EQ(r.errors_of(ErrorKind::status) + r.errors_of(ErrorKind::body),
            s.responses.load() - right.load())
      << describe(r);
}

TEST(HostileLoadServer, AServerThatNeverReadsDoesNotHangTheRun) {
  // Accepts and never reads: 1 MB requests fill the socket buffers.
  RawServer s([](Conn& c) { c.idle(3000); });
  RunOptions o = quick(s.port());
  tether::load::TargetSpec post;
  post.method = "POST";
  post.has_body = true;
  post.body = std::string(1 << 20, 'x');
  tether::load::RequestHead h;
  h.host = "127.0.0.1";
  o.requests = tether::load::serialize_targets({post}, h).requests;
  o.pipeline = 4;
  o.timeout = 200ms;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.requests, 0u);
  EXPECT_EQ(r.errors_total(), r.errors_of(ErrorKind::timeout)) << describe(r);
  expect_ends_in_time(o, r);
}

TEST(HostileLoadServer, FullBacklogThatNeverAcceptsEndsTheRunInTime) {
  RawServer s(nullptr, /*backlog=*/0, /*accept_connections=*/false);
  RunOptions o = quick(s.port());
  o.connections = 16;
  o.duration = 200ms;
  o.timeout = 200ms;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.requests, 0u);
  expect_ends_in_time(o, r);
}

// =======================================================================================
// The API misused
// =======================================================================================

// Scenarios that may crash, hang or grow run in a forked child. The parent forks with no
// thread of its own running (TSan refuses to start threads after a multi-threaded fork), so
// the servers of these scenarios start in the child.

/// Runs the options `make` returns for a test server's port in a forked child (so that a
/// crash, a sanitizer report or a hang fails only this test) and reports what came back.
tt::ChildOutcome run_isolated(const std::function<RunOptions(uint16_t)>& make,
                              int timeout_ms = 5000) {
  return tt::run_in_child(
      [&](tt::ChildLog& log) {
        tt::TestServer server;
        RunOptions o = make(server.port());
        RunResult r = tether::load::run(o);
        log.say(describe(r));
        return 0;
      },
      timeout_ms);
}

/// Resident memory of this process, in MB, from /proc/self/statm opened as `fd` (opened
/// once: TSan does not see libuv's closes, so a descriptor opened and closed on the
/// guard's thread while the loops reuse numbers would be reported as a race).
long rss_mb(int fd) {
  char buf[128] = {};
  if (::pread(fd, buf, sizeof buf - 1, 0) <= 0) return 0;
  long pages = 0, resident = 0;
  if (std::sscanf(buf, "%ld %ld", &pages, &resident) != 2) return 0;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024) / 1024;
}

/// Runs `body` in a forked child watched by a thread that ends the child (exit 3) as soon
/// as its resident memory grows by more than `rss_growth_mb`: a runaway allocation is
/// reported without taking the machine's memory. The child is killed after `timeout_ms`.
tt::ChildOutcome run_guarded(const std::function<int(tt::ChildLog&)>& body, int timeout_ms,
                             long rss_growth_mb) {
  return tt::run_in_child(
      [&](tt::ChildLog& log) {
        const int statm = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
        const long base = rss_mb(statm);
        std::thread([&log, statm, base, rss_growth_mb] {
          while (true) {
            const long now = rss_mb(statm);
            if (now - base > rss_growth_mb) {
              log.say("memory guard: resident memory grew from " + std::to_string(base) +
                      " MB to " + std::to_string(now) + " MB");
              ::_exit(3);
            }
            std::this_thread::sleep_for(5ms);
          }
        }).detach();
        return body(log);
      },
      timeout_ms);
}

TEST(HostileLoadOptions, DegenerateCountsAreRunErrorsOrRun) {
  struct Case {
    const char* name;
    std::function<void(RunOptions&)> set;
  };
  const std::vector<Case> cases = {
      {"connections 0", [](RunOptions& o) { o.connections = 0; }},
      {"threads 0", [](RunOptions& o) { o.threads = 0; }},
      {"pipeline 0", [](RunOptions& o) { o.pipeline = 0; }},
      {"threads > connections",
       [](RunOptions& o) {
         o.threads = 16;
         o.connections = 2;
       }},
      {"duration 0", [](RunOptions& o) { o.duration = 0ms; }},
      {"duration negative", [](RunOptions& o) { o.duration = -5ms; }},
      {"timeout 0", [](RunOptions& o) { o.timeout = 0ms; }},
      {"timeout 1 ms", [](RunOptions& o) { o.timeout = 1ms; }},
      {"timeout negative", [](RunOptions& o) { o.timeout = -1ms; }},
      {"warmup negative", [](RunOptions& o) { o.warmup = -100ms; }},
      {"warmup longer than duration",
       [](RunOptions& o) {
         o.warmup = 300ms;
         o.duration = 50ms;
       }},
      {"expect_status 0 and 999",
       [](RunOptions& o) {
         o.expect_status = {0, 999};
       }},
      {"rate 0.001", [](RunOptions& o) { o.rate = 0.001; }},
      {"rate NaN", [](RunOptions& o) { o.rate = std::nan(""); }},
      {"rate inf", [](RunOptions& o) { o.rate = std::numeric_limits<double>::infinity(); }},
      {"poisson rate 0.5",
       [](RunOptions& o) {
         o.rate = 0.5;
         o.poisson = true;
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    tt::ChildOutcome out = run_isolated([&](uint16_t port) {
      RunOptions o = quick(port);
      c.set(o);
      return o;
    });
    EXPECT_TRUE(out.ok()) << out.describe();
    std::printf("[case] %s: %s", c.name, out.log.c_str());
  }
}

TEST(HostileLoadOptions, ShortRunsEndEvenWhenALoopThreadStartsLate) {
  // FAILED before its fix: run() never returned. With 16 or 64 threads and 1 ms it hangs
  // every time; with 2 threads about 1 run in 3 under ASan. The CLI too: `tether-load -c 16
  // -t 16 -d 2ms URL` hung 10 times out of 10, `-c 4 -t 2 -d 1ms URL` 9 times out of 25.
  // A loop whose thread starts after the run's end computes its end as
  // core_.now() + (send_end_ns_ - now_ns) / 1e6 in unsigned arithmetic
  // (ClientLoop::started): the difference wraps to ~1.8e19 ns and the loop keeps sending
  // for ~584 years.
  tt::ChildOutcome out = run_guarded(
      [&](tt::ChildLog& log) {
        tt::TestServer server(tt::loopback_options(2));
        for (int i = 0; i < 3; ++i) {
          RunOptions o = quick(server.port());
          o.duration = 1ms;
          o.threads = 64;  // the last threads start well after the run's epoch + 1 ms
          o.connections = 64;
          RunResult r = tether::load::run(o);
          log.say("run " + std::to_string(i) + ": " + describe(r));
          if (!r.ok()) return 1;
        }
        return 0;
      },
      // The hang was for centuries: 10 s is bound enough, and TSan makes 3 x 64 loop
      // threads and their teardown take more than 2 s (CI).
      10000, 512);
  EXPECT_TRUE(out.ok()) << out.describe();
}

TEST(HostileLoadOptions, TinyRateNeitherSpinsNorGrows) {
  // FAILED before its fix: with rate 1e-11 (or any rate whose gap 1e9 / rate is >= 2^64 ns,
  // e.g. 1e-300 or denorm_min) run() spins at 100% CPU and its memory grows by ~400 MB/s
  // until killed; `tether-load --rate 1e-11 -d 200ms URL` too. Arrivals::peek() converts
  // the next intended time (a double >= 2^64, or inf) to uint64_t, which is undefined and
  // gives 0 on x86-64: on_timer's `while (peek() <= now ...)` never ends and pushes every
  // "due" request into due_.
  for (double rate : {1e-11, std::numeric_limits<double>::denorm_min()}) {
    SCOPED_TRACE(rate);
    tt::ChildOutcome out = run_guarded(
        [&](tt::ChildLog& log) {
          tt::TestServer server;
          RunOptions o = quick(server.port());
          o.rate = rate;
          RunResult r = tether::load::run(o);
          log.say(describe(r));
          if (r.ok() && r.requests + r.errors_total() != r.intended) return 1;
          return 0;
        },
        5000, 256);  // the spin grew 400 MB/s: the memory bound catches it first
    EXPECT_TRUE(out.ok()) << out.describe();
  }
}

TEST(HostileLoadOptions, HugeRateDoesNotQueueEveryDueRequest) {
  // FAILED before its fix: at rate 1e9 the open loop stores one 8-byte intended time per
  // due request (ClientLoop::due_) until it is sent or times out, so memory grows with
  // rate x timeout: `tether-load -c 1 -d 2s --rate 1e9 URL` reached 1.6 GB resident in
  // 2.5 s; and the loop cannot even enumerate the due times in time, so `intended` (and
  // the timeouts) came out at ~1.1e7 for a 200 ms run that intended 2e8.
  tt::ChildOutcome out = run_guarded(
      [&](tt::ChildLog& log) {
        tt::TestServer server;
        RunOptions o = quick(server.port());
        o.rate = 1e9;
        o.duration = 300ms;
        o.timeout = 2000ms;
        RunResult r = tether::load::run(o);
        log.say(describe(r));
        if (!r.ok()) return 0;  // refusing such a rate is a fair answer
        if (r.requests + r.errors_total() != r.intended) return 1;
        if (r.intended < 290'000'000 || r.intended > 310'000'000) return 2;
        return 0;
      },
      6000, 256);
  EXPECT_TRUE(out.ok()) << out.describe();
}

TEST(HostileLoadOptions, ExpectBodyBytesBelowMinusOneIsARunError) {
  // FAILED before its fix (minor): expect_body_bytes = -2 is neither "not checked" (-1)
  // nor a length, and was silently taken as "not checked" (other bad options are run
  // errors: negative warmup, status 0, ...).
  tt::TestServer server;
  RunOptions o = quick(server.port());
  o.duration = 50ms;
  o.expect_body_bytes = -2;
  RunResult r = tether::load::run(o);
  EXPECT_FALSE(r.ok()) << describe(r);
}

TEST(HostileLoadOptions, TinyRateEndsOnTime) {
  tt::TestServer server;
  RunOptions o = quick(server.port());
  o.rate = 0.001;  // one request every 1000 s
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_LE(r.intended, 1u) << describe(r);
  EXPECT_EQ(r.requests + r.errors_total(), r.intended) << describe(r);
  expect_ends_in_time(o, r);
}

TEST(HostileLoadOptions, ExpectBodiesOfTheWrongSizeIsARunError) {
  tt::ChildOutcome out = run_isolated([&](uint16_t port) {
    RunOptions o = quick(port);
    tether::load::TargetSpec a, b, c;
    a.target = "/plaintext";
    b.target = "/plaintext";
    c.target = "/plaintext";
    tether::load::RequestHead h;
    h.host = "127.0.0.1";
    o.requests = tether::load::serialize_targets({a, b, c}, h).requests;
    o.expect_bodies = {"Hello, World!"};  // one body for three requests
    return o;
  });
  EXPECT_TRUE(out.ok()) << out.describe();
  EXPECT_NE(out.log.find("error='"), std::string::npos);
  EXPECT_EQ(out.log.find("error=''"), std::string::npos) << out.log;
}

TEST(HostileLoadOptions, EmptyRequestStringIsARunErrorNotATimeout) {
  // A zero-byte "request" is never answered: it should be refused, not sent.
  RawServer s(answer_with(kOk));
  RunOptions o = quick(s.port());
  o.requests = {""};
  RunResult r = tether::load::run(o);
  EXPECT_FALSE(r.ok()) << describe(r);
  expect_ends_in_time(o, r);
}

TEST(HostileLoadOptions, NotHttpRequestsAreCountedOnce) {
  tt::TestServer server;
  RunOptions o = quick(server.port());
  o.requests = {"hello there\r\n\r\n"};
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.requests, 0u) << describe(r);
  EXPECT_GT(r.errors_total(), 0u) << describe(r);
  expect_ends_in_time(o, r);
}

TEST(HostileLoadOptions, ProgressCallbackThatThrowsDoesNotTerminate) {
  tt::ChildOutcome out = tt::run_in_child(
      [&](tt::ChildLog& log) {
        tt::TestServer server;
        RunOptions o = quick(server.port());
        o.duration = 1100ms;
        o.on_progress = [](const RunOptions::Progress&) { throw std::runtime_error("boom"); };
        try {
          RunResult r = tether::load::run(o);
          log.say("returned: " + describe(r));
        } catch (const std::exception& e) {
          log.say(std::string("threw: ") + e.what());
        }
        return 0;
      },
      6000);
  EXPECT_TRUE(out.ok()) << out.describe();
  std::printf("[throwing progress] %s", out.log.c_str());
}

TEST(HostileLoadOptions, SlowProgressCallbackDoesNotStretchTheRun) {
  tt::TestServer server;
  RunOptions o = quick(server.port());
  o.duration = 1100ms;
  int calls = 0;
  o.on_progress = [&](const RunOptions::Progress&) {
    ++calls;
    std::this_thread::sleep_for(500ms);
  };
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_GE(calls, 1);
  EXPECT_EQ(r.errors_total(), 0u) << describe(r);
  // The result's elapsed is the loops' time; the call itself may wait for the callback.
  expect_ends_in_time(o, r);
}

TEST(HostileLoadOptions, RunFromInsideProgress) {
  tt::TestServer server;
  RunOptions inner = quick(server.port());
  inner.duration = 100ms;
  RunResult nested;
  bool ran = false;
  const std::thread::id caller = std::this_thread::get_id();
  bool on_caller = true;
  RunOptions o = quick(server.port());
  o.duration = 1100ms;
  o.on_progress = [&](const RunOptions::Progress&) {
    on_caller = on_caller && std::this_thread::get_id() == caller;
    if (ran) return;
    ran = true;
    nested = tether::load::run(inner);
  };
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_TRUE(ran);
  EXPECT_TRUE(on_caller);
  EXPECT_TRUE(nested.ok()) << nested.error;
  EXPECT_GT(nested.requests, 0u) << describe(nested);
  EXPECT_EQ(nested.errors_total(), 0u) << describe(nested);
  EXPECT_EQ(r.errors_total(), 0u) << describe(r);
}

TEST(HostileLoadOptions, ConcurrentRunsFromTwoThreads) {
  // Both runs end before either thread is joined; neither opens a socket after its start
  // (libuv closes descriptors with syscall(SYS_close), which TSan does not see: a
  // descriptor closed by one run and reused by the other unsynchronized is a false report).
  tt::TestServer server(tt::loopback_options(2));
  RunResult a, b;
  auto go = [&](RunResult& out, unsigned threads) {
    RunOptions p = quick(server.port());
    p.duration = 400ms;
    p.threads = threads;
    p.connections = 4;
    out = tether::load::run(p);
  };
  std::thread ta([&] { go(a, 2); });
  std::thread tb([&] { go(b, 1); });
  ta.join();
  tb.join();
  for (const RunResult* r : {&a, &b}) {
    ASSERT_TRUE(r->ok()) << r->error;
    EXPECT_GT(r->requests, 0u) << describe(*r);
    EXPECT_EQ(r->errors_total(), 0u) << describe(*r);
  }
}

TEST(HostileLoadOptions, DeepPipelineCountsEqualTheServers) {
  tt::TestServer server;
  const uint64_t before = server.stats().requests;
  RunOptions o = quick(server.port());
  tether::load::TargetSpec t;
  t.target = "/plaintext";
  tether::load::RequestHead h;
  h.host = "127.0.0.1";
  o.requests = tether::load::serialize_targets({t}, h).requests;
  o.pipeline = 4096;
  o.connections = 8;
  o.threads = 2;
  o.timeout = 1000ms;
  o.duration = 300ms;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_GT(r.requests, 1000u) << describe(r);
  server.wait_for([&](const tether::ServerStats& st) { return st.requests - before >= r.requests; },
                  2000);
  // Every request the server answered is either a success or, cut off, an error.
  EXPECT_EQ(r.requests + non_connect_errors(r) >= server.stats().requests - before, true)
      << describe(r) << " server " << server.stats().requests - before;
  expect_ends_in_time(o, r, 1500ms);
}

TEST(HostileLoadOptions, MoreConnectionsThanFileDescriptors) {
  // RLIMIT_NOFILE 256 and 1000 connections (in a child, so the limit stays there): the
  // connections that cannot open are connect errors, the others run.
  tt::ChildOutcome out = tt::run_in_child(
      [&](tt::ChildLog& log) {
        RawServer s(answer_with(kOk));
        // UBSan checks a polymorphic type the first time it sees it through a pipe(2), and
        // without an fd it reports a bogus "invalid vptr" (CI, ASan stage): a short run first,
        // while fds are plentiful, so that nothing runs for the first time once they are out.
        RunOptions warm = quick(s.port());
        warm.connections = 2;
        warm.duration = 20ms;
        (void)tether::load::run(warm);
        rlimit rl{256, 256};
        if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) return tt::child_fail(log, "setrlimit");
        RunOptions o = quick(s.port());
        o.connections = 1000;
        o.threads = 2;
        RunResult r = tether::load::run(o);
        log.say(describe(r));
        if (!r.ok()) return 0;  // a run error is a fair answer too
        if (r.requests == 0) return tt::child_fail(log, "no request succeeded");
        if (r.connections_established >= 1000) return tt::child_fail(log, "all 1000 connected?");
        return 0;
      },
      8000);
  EXPECT_TRUE(out.ok()) << out.describe();
  std::printf("[nofile] %s", out.log.c_str());
}

TEST(HostileLoadOptions, OpenLoopCountsEveryIntendedRequestOnceAgainstAStall) {
  // A server that never answers: every intended request is a timeout, once.
  RawServer s([](Conn& c) {
    while (c.read_request()) {
    }
  });
  RunOptions o = quick(s.port());
  o.rate = 500;
  o.duration = 400ms;
  o.timeout = 100ms;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.intended, 200u) << describe(r);
  EXPECT_EQ(r.requests, 0u);
  EXPECT_EQ(r.errors_total(), r.intended) << describe(r);
  EXPECT_EQ(r.errors_total(), r.errors_of(ErrorKind::timeout)) << describe(r);
  expect_ends_in_time(o, r);
}

TEST(HostileLoadOptions, OpenLoopWithWarmupCountsOnlyTheMeasuredIntendedRequests) {
  // Every answer takes 30 ms: requests intended near the end of the warmup complete in
  // the measured run. The run's outcomes must still be those of its intended requests
  // (engine.hpp: warmup requests are "left out of every result").
  // FAILED before its fix: "requests=66 intended=59": the requests still in flight when the
  // warmup ends are counted as measured successes when they complete (begin_measuring()
  // zeroes the counters; message_complete() counts whatever completes afterwards, with a
  // latency from an intended time inside the warmup), so successes + errors exceed the
  // requests intended in the measured run. And `intended` is 59, not 200/s x 0.3 s = 60:
  // the arrival due exactly at the end of the warmup is taken by on_timer() before
  // measuring_ is set, and counted nowhere.
  RawServer s([](Conn& c) {
    while (c.read_request()) {
      std::this_thread::sleep_for(30ms);
      if (!c.write_all(kOk)) return;
      c.sent();
    }
  });
  RunOptions o = quick(s.port());
  o.connections = 8;
  o.rate = 200;
  o.warmup = 200ms;
  o.duration = 300ms;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.intended, 60u) << describe(r);
  EXPECT_EQ(r.requests + r.errors_total(), r.intended) << describe(r);
}

TEST(HostileLoadOptions, IntervalsAddUpToTheTotals) {
  RawServer s([](Conn& c) {
    int i = 0;
    while (c.read_request()) {
      if (!c.write_all(++i % 3 ? kOk : "HTTP/1.1 500 No\r\nContent-Length: 0\r\n\r\n")) return;
      c.sent();
    }
  });
  RunOptions o = quick(s.port());
  o.duration = 1050ms;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  uint64_t req = 0, err = 0;
  for (const tether::load::Interval& iv : r.intervals) {
    req += iv.requests;
    err += iv.errors;
  }
  EXPECT_EQ(req, r.requests) << describe(r);
  EXPECT_EQ(err, r.errors_total()) << describe(r);
  EXPECT_EQ(r.latency.count(), r.requests);
  s.stop();
  EXPECT_EQ(r.requests + r.errors_of(ErrorKind::status), s.responses.load()) << describe(r);
  EXPECT_EQ(r.errors_total(), r.errors_of(ErrorKind::status)) << describe(r);
}

// =======================================================================================
// URL, targets, --fail-if and the histogram: the public parsers and containers
// =======================================================================================

TEST(HostileLoadUrl, RefusesWhatWouldCorruptTheRequestLine) {
  // FAILED before its fix: parse_url accepts a path with a space, CR, LF, HTAB, DEL or
  // non-ASCII bytes, and a host with a space or CRLF, and tether-load sends the target as
  // is: `tether-load $'http://127.0.0.1:PORT/a\r\nX-Injected: yes'` puts
  // "GET /a\r\nX-Injected: yes HTTP/1.1" on the wire (a header injected, the request line
  // broken), `'http://127.0.0.1:PORT/a b'` sends "GET /a b HTTP/1.1". A targets file
  // refuses the same target ("visible ASCII with no '#'"); serialize_targets checks only
  // the head fields.
  // Each of these either is refused, or yields a target that is safe on a request line
  // (visible ASCII, no space) and a port that is the one written.
  for (const char* text : {"http://127.0.0.1/a b",
                           "http://127.0.0.1/a\r\nX-Injected: 1",
                           "http://127.0.0.1/\t",
                           "http://127.0.0.1/\x7f",
                           "http://127.0.0.1/\xc3\xa9",
                           "http://127.0.0.1/a%00b",
                           "http://127.0.0.1:4294967376/",
                           "http://127.0.0.1:65616/",
                           "http://127.0.0.1:0/",
                           "http://127.0.0.1:65536/",
                           "http://127.0.0.1:-1/",
                           "http://127.0.0.1:+80/",
                           "http://127.0.0.1: 80/",
                           "http://127.0.0.1:80a/",
                           "http://127.0.0.1:/",
                           "http://127.0.0.1:00000000000000000080/",
                           "http://[::1/",
                           "http://[::1]x/",
                           "http://::1/",
                           "http://[]/",
                           "http://ho st/",
                           "http://ho\r\nst/",
                           "http://@host/",
                           "http://u:p@host/",
                           "http://host/#frag",
                           "http://host#",
                           "http:/host/",
                           "http://",
                           "http:///x",
                           "http://host?q=1",
                           "http://host:80?q",
                           "HTTP://host/",
                           " http://host/",
                           "http://host/ "}) {
    SCOPED_TRACE(text);
    tether::load::UrlParse u = tether::load::parse_url(text);
    if (!u.ok()) continue;
    for (unsigned char ch : u.url.target)
      EXPECT_TRUE(ch > 0x20 && ch < 0x7f)
          << "target '" << u.url.target << "' has byte " << static_cast<int>(ch);
    EXPECT_EQ(u.url.target[0], '/') << u.url.target;
    for (unsigned char ch : u.url.host) EXPECT_TRUE(ch > 0x20 && ch < 0x7f) << u.url.host;
    for (unsigned char ch : u.url.authority) EXPECT_TRUE(ch > 0x20 && ch < 0x7f) << u.url.authority;
    // The port must be the one written: a wrapped 4294967376 or 65616 is not 80.
    std::string t = text;
    size_t colon = t.find(':', 7);
    if (colon != std::string::npos && t[7] != '[') {
      std::string digits;
      for (size_t i = colon + 1; i < t.size() && isdigit(static_cast<unsigned char>(t[i])); ++i)
        digits += t[i];
      if (!digits.empty() && digits.size() < 19) {
        EXPECT_EQ(static_cast<uint64_t>(u.url.port), std::stoull(digits)) << "port";
      }
    }
  }
}

TEST(HostileLoadUrl, Ipv6AndQueryForms) {
  tether::load::UrlParse a = tether::load::parse_url("http://[::1]:8080/x?y=1");
  ASSERT_TRUE(a.ok()) << a.error;
  EXPECT_EQ(a.url.host, "::1");
  EXPECT_EQ(a.url.port, 8080);
  EXPECT_EQ(a.url.target, "/x?y=1");
  EXPECT_EQ(a.url.authority, "[::1]:8080");
  tether::load::UrlParse q = tether::load::parse_url("http://host?q=1");
  if (q.ok()) {
    EXPECT_EQ(q.url.target, "/?q=1");
    EXPECT_EQ(q.url.host, "host");
  }
}

TEST(HostileLoadTargets, EscapesAndBinary) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path();
  struct Case {
    std::string text;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"GET /\\", true},
      {"POST / a\\", false},
      {"POST / \\x4", false},
      {"POST / \\xZZ", false},
      {"POST / \\q", false},
      {"POST / \\x00\\xff", true},
      {"GET / \x01", true},
      {"G\x01T /", false},
      {"GET /\x01", false},
      {"GET /a#b", false},
      {"GET http://u@h/", false},
      {"GET http:///", false},
      {"GET *", false},
      {"", false},
      {"# only a comment\n\n   \n", false},
      {"GET /\r", true},
      {"GET /\r\r", false},
      {std::string("GET /\0", 6), false},
      {std::string("POST / a\0b", 10), true},
      {"\xef\xbb\xbfGET /", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.text));
    tether::load::TargetsParse t = tether::load::parse_targets(c.text, "t.txt", dir);
    EXPECT_EQ(t.ok(), c.ok) << t.error;
    if (!t.ok()) {
      EXPECT_EQ(t.error.rfind("t.txt:", 0), 0u) << t.error;
      EXPECT_EQ(t.error.find('\n'), std::string::npos) << t.error;
    }
    if (t.ok()) {
      tether::load::RequestHead h;
      h.host = "x";
      tether::load::PreparedRequests p = tether::load::serialize_targets(t.targets, h);
      EXPECT_TRUE(p.ok()) << p.error;
    }
  }
  tether::load::TargetsParse bin = tether::load::parse_targets("POST / \\x00\\xff", "t.txt", dir);
  ASSERT_TRUE(bin.ok());
  EXPECT_EQ(bin.targets[0].body, std::string("\0\xff", 2));
}

TEST(HostileLoadTargets, HugeLineAndManyLines) {
  std::string text = "POST /x " + std::string(8 << 20, 'b') + "\n";
  for (int i = 0; i < 20000; ++i) text += "GET /" + std::to_string(i) + "\n";
  tether::load::TargetsParse t =
      tether::load::parse_targets(text, "t.txt", std::filesystem::temp_directory_path());
  ASSERT_TRUE(t.ok()) << t.error;
  EXPECT_EQ(t.targets.size(), 20001u);
  EXPECT_EQ(t.targets[0].body.size(), size_t{8} << 20);
  EXPECT_EQ(t.targets[20000].line, 20001u);
}

TEST(HostileLoadTargets, BodyFilesThatAreNotRegularFilesAreErrorsNotExceptions) {
  // A missing file, a directory, and /dev/zero (a read that never ends) must come back as
  // one-line errors (or bodies), never as exceptions, crashes or unbounded reads.
  const std::filesystem::path dir = std::filesystem::temp_directory_path();
  for (const char* line : {"POST / @/nonexistent/body.json", "POST / @/", "POST / @.", "POST / @",
                           "POST / @/proc/self/status"}) {
    SCOPED_TRACE(line);
    tether::load::TargetsParse t;
    EXPECT_NO_THROW(t = tether::load::parse_targets(line, "t.txt", dir));
    if (!t.ok()) {
      EXPECT_EQ(t.error.rfind("t.txt:1", 0), 0u) << t.error;
    }
  }
  // FAILED before its fix: `POST / @/dev/zero` (or --body @/dev/zero, or a FIFO) reads
  // until EOF with no limit: the body grows without bound (the memory guard below stops
  // the child at +256 MB within ~0.1 s). read_file() freads to EOF whatever the file is.
  tt::ChildOutcome out = run_guarded(
      [&](tt::ChildLog& log) {
        tether::load::TargetsParse t =
            tether::load::parse_targets("POST / @/dev/zero", "t.txt", dir);
        log.say(t.ok() ? "parsed, body of " + std::to_string(t.targets[0].body.size()) : t.error);
        return 0;
      },
      2000, 256);
  EXPECT_TRUE(out.ok()) << out.describe();
  EXPECT_NO_THROW(tether::load::load_targets("/nonexistent/targets.txt"));
  EXPECT_FALSE(tether::load::load_targets("/nonexistent/targets.txt").ok());
  EXPECT_NO_THROW(tether::load::load_targets("/"));
  EXPECT_FALSE(tether::load::load_targets("/").ok());
}

TEST(HostileLoadTargets, SerializeRefusesHeadFieldsThatCorruptTheRequest) {
  tether::load::TargetSpec t;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"X", "a\r\nInjected: 1"},
      {"X", "a\nb"},
      {"X", std::string("a\0b", 3)},
      {"X", "a\x7f"},
      {"X Y", "1"},
      {"", "1"},
      {"X:", "1"},
      {"content-length", "1"},
      {"TRANSFER-ENCODING", "chunked"},
      {"X", "\x01"},
  };
  for (const auto& [name, value] : bad) {
    SCOPED_TRACE(::testing::PrintToString(name + ": " + value));
    tether::load::RequestHead h;
    h.host = "x";
    h.headers = {{name, value}};
    EXPECT_FALSE(tether::load::serialize_targets({t}, h).ok());
  }
  // FAILED before its fix: RequestHead::host is a head field (the Host header) but is not
  // checked like the -H values: a CR/LF in it is serialized as an injected header line.
  tether::load::RequestHead h;
  h.host = "x\r\nInjected: 1";
  EXPECT_FALSE(tether::load::serialize_targets({t}, h).ok()) << "CRLF in the Host";
}

TEST(HostileLoadFailIf, GrammarEdges) {
  struct Case {
    const char* text;
    bool ok;
  };
  for (const Case& c : std::vector<Case>{{"", false},
                                         {"   ", false},
                                         {",", false},
                                         {"p99>5ms,", false},
                                         {",p99>5ms", false},
                                         {"p99>5", false},
                                         {"p99>5 ms", true},
                                         {"p99 >= 5µs", true},
                                         {"p99>5\xc2", false},
                                         {"p99>5.", false},
                                         {"p99>.5ms", false},
                                         {"p99>-1ms", false},
                                         {"p99>1e3ms", false},
                                         {"errors>0.5", false},
                                         {"rps>0.5", true},
                                         {"errors.>0", false},
                                         {"errors.foo>0", false},
                                         {"p99>>5ms", false},
                                         {"p99=5ms", false},
                                         {"p99==5ms", true},
                                         {"p99!5ms", false},
                                         {"p99.9>1ms", true},
                                         {"p999>1ms", true},
                                         {"P99>1ms", false},
                                         {"p99>1mS", false},
                                         {"errors>0 errors>1", false},
                                         {"p99\t>\t1ms", true},
                                         {"\xff", false}}) {
    SCOPED_TRACE(::testing::PrintToString(std::string(c.text)));
    tether::load::FailIfParse f = tether::load::parse_fail_if(c.text);
    EXPECT_EQ(f.ok(), c.ok) << f.error;
    if (!f.ok()) {
      EXPECT_EQ(f.error.find('\n'), std::string::npos) << f.error;
    }
  }
}

TEST(HostileLoadFailIf, ErrorsAreOneLineWhateverTheInput) {
  // FAILED before its fix (minor): "unexpected '\n' at 8" is printed with the raw newline
  // (and other control bytes raw), so the "one-line error" is two lines; e.g.
  // --fail-if "$(printf 'p99>1ms\n,errors>0')".
  for (const char* text : {"p99>1ms\n", "p99>1ms\r,errors>0", "p\x1b[2J99>1ms"}) {
    SCOPED_TRACE(::testing::PrintToString(std::string(text)));
    tether::load::FailIfParse f = tether::load::parse_fail_if(text);
    ASSERT_FALSE(f.ok());
    for (unsigned char ch : f.error) EXPECT_TRUE(ch >= 0x20 && ch != 0x7f) << f.error;
  }
}

TEST(HostileLoadFailIf, ErrorColumnsPointAtTheFault) {
  tether::load::FailIfParse f = tether::load::parse_fail_if("p99>5ms,  p98>1ms");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error.find("at 11"), std::string::npos) << f.error;
  tether::load::FailIfParse g = tether::load::parse_fail_if("p99>5µs, p98>1ms");  // µ is 2 bytes
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error.find("at 11"), std::string::npos) << g.error;
  tether::load::FailIfParse ok = tether::load::parse_fail_if("  p99 > 5ms ,errors>0");
  ASSERT_TRUE(ok.ok()) << ok.error;
  ASSERT_EQ(ok.conditions.size(), 2u);
  EXPECT_EQ(ok.conditions[0].text, "p99 > 5ms");
  EXPECT_EQ(ok.conditions[0].column, 3u);
  EXPECT_EQ(ok.conditions[1].column, 14u);
  EXPECT_DOUBLE_EQ(ok.conditions[0].threshold, 5000);
}

TEST(HostileLoadFailIf, ExtremeThresholdsAndValuesEvaluateSanely) {
  tether::load::FailIfParse f = tether::load::parse_fail_if(
      "requests>999999999999999, p99>999999999999999s, "
      "requests==999999999999999");
  ASSERT_TRUE(f.ok()) << f.error;
  tether::load::FailIfInputs in;
  in.requests = UINT64_MAX;
  in.p99_us = UINT64_MAX;
  std::vector<tether::load::FailTrip> trips = tether::load::evaluate_fail_if(f.conditions, in);
  for (const tether::load::FailTrip& t : trips) {
    std::string d = tether::load::describe_fail_trip(f.conditions[t.index], t.actual);
    EXPECT_FALSE(d.empty());
  }
  // NaN and infinity from a zero-duration run.
  tether::load::FailIfParse r = tether::load::parse_fail_if("rps<1, mean>1us");
  ASSERT_TRUE(r.ok());
  in = {};
  in.rps = std::nan("");
  in.mean_us = std::numeric_limits<double>::infinity();
  for (const tether::load::FailTrip& t : tether::load::evaluate_fail_if(r.conditions, in))
    EXPECT_FALSE(tether::load::describe_fail_trip(r.conditions[t.index], t.actual).empty());
}

TEST(HostileLoadHistogram, MovedFromCanBeAssignedTo) {
  // "A moved-from histogram may only be destroyed or assigned to": copy-assign into one.
  tt::ChildOutcome out = tt::run_in_child(  // a null counters_ would crash: in a child
      [](tt::ChildLog& log) {
        tether::load::Histogram a;
        a.record(5);
        tether::load::Histogram b(std::move(a));
        tether::load::Histogram c;
        c.record(7);
        a = c;  // copy-assign into the moved-from
        log.say("count " + std::to_string(a.count()) + " max " + std::to_string(a.max()));
        if (a.count() != 1 || a.max() != 7) return 1;
        tether::load::Histogram d(std::move(c));
        c = std::move(b);  // move-assign into the moved-from
        if (c.count() != 1 || c.max() != 5) return 2;
        return 0;
      },
      3000);
  EXPECT_TRUE(out.ok()) << out.describe();
}

TEST(HostileLoadHistogram, SelfAssignmentAndExtremes) {
  tether::load::Histogram h;
  h.record(INT64_MIN);
  h.record(INT64_MAX);
  h.record_n(3, 0);
  h.record_n(static_cast<int64_t>(tether::load::Histogram::kHighest), 2);
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(h.clamped(), 1u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), tether::load::Histogram::kHighest);
  tether::load::Histogram& self = h;
  h = self;
  EXPECT_EQ(h.count(), 4u);
  h.merge(h);
  EXPECT_EQ(h.count(), 8u);
  EXPECT_EQ(h.value_at_percentile(-5), h.min());
  EXPECT_EQ(h.value_at_percentile(1e300), h.max());
  const uint64_t nan_p = h.value_at_percentile(std::nan(""));
  EXPECT_TRUE(nan_p >= h.min() && nan_p <= h.max()) << nan_p;
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.value_at_percentile(50), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  size_t n = 0;
  for (const auto& b : h.buckets()) n += b.count > 0;
  EXPECT_EQ(n, 0u);
}

TEST(HostileLoadSummary, EmptyAndDegenerateResultsPrintNumbers) {
  RunOptions o;
  RunResult empty;  // elapsed 0, nothing recorded
  EXPECT_EQ(empty.rps(), 0.0);
  for (const RunResult* r : {&empty}) {
    const std::string text = tether::load::format_summary(o, *r, "http://127.0.0.1/");
    std::printf("%s", text.c_str());
    EXPECT_EQ(text.find("nan"), std::string::npos) << text;
    EXPECT_EQ(text.find("inf"), std::string::npos) << text;
  }
  for (double us :
       {-1.0, 0.0, 0.4, 999.5, 1e12, std::nan(""), std::numeric_limits<double>::infinity()}) {
    const std::string t = tether::load::format_latency_us(us);
    std::printf("format_latency_us(%g) = %s\n", us, t.c_str());
    EXPECT_FALSE(t.empty());
  }
  o.rate = 1e-3;
  RunResult open;
  open.target_rate = 1e-3;
  const std::string text = tether::load::format_summary(o, open, "http://127.0.0.1/");
  EXPECT_EQ(text.find("nan"), std::string::npos) << text;
}

}  // namespace
