// The load generator's engine against real servers over loopback: an in-process tether
// server (counts must equal the server's own), pipelining order, failed statuses, chunked and
// close-delimited bodies, a refused port, and the summary. Each run is short (<= 0.5 s).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "e2e/count_allocations.hpp"
#include "support/load_helpers.hpp"
#include "support/test_server.hpp"
#include "tether/load/engine.hpp"
#include "tether/load/histogram.hpp"
#include "tether/load/targets.hpp"

namespace {

using namespace std::chrono_literals;
using tether::load::ErrorKind;
using tether::load::RunOptions;
using tether::load::RunResult;

RunOptions options(uint16_t port, std::vector<std::string> requests) {
  RunOptions o;
  o.port = port;
  o.requests = std::move(requests);
  o.duration = 300ms;
  o.connections = 4;
  o.threads = 1;
  return o;
}

/// Waits until the server has counted `n` more requests than `before` (its counters are
/// written after the response leaves); returns the delta seen.
uint64_t server_delta(tt::TestServer& server, uint64_t before, uint64_t n) {
  server.wait_for([&](const tether::ServerStats& s) { return s.requests - before >= n; }, 2000);
  // Anything beyond n would show up now, not later: the client has closed every connection.
  return server.stats().requests - before;
}

TEST(LoadEngine, ClosedLoopCountsEqualTheServersCounts) {
  tt::TestServer server;
  const uint64_t before = server.stats().requests;
  RunOptions o = options(server.port(), tt::load_gets(server.port(), {"/plaintext"}));
  o.duration = 500ms;
  o.connections = 8;
  o.threads = 2;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.threads, 2u);
  EXPECT_EQ(r.connections_requested, 8u);
  EXPECT_EQ(r.connections_established, 8u);
  EXPECT_GT(r.requests, 100u);
  EXPECT_EQ(r.errors_total(), 0u);
  EXPECT_EQ(r.latency.count(), r.requests);
  EXPECT_GT(r.bytes_read, r.requests * 13);
  EXPECT_GE(r.elapsed, 500ms);
  EXPECT_LT(r.elapsed, 3s);
  EXPECT_EQ(server_delta(server, before, r.requests), r.requests);
}

TEST(LoadEngine, PipeliningKeepsOrderAndCounts) {
  tt::TestServer server;
  std::vector<std::string> paths;
  std::vector<std::string> bodies;
  for (char c = 'a'; c < 'a' + 16; ++c) {
    paths.push_back(std::string("/hello/") + std::string(static_cast<size_t>(c - 'a' + 1), c));
    bodies.push_back("hi " + std::string(static_cast<size_t>(c - 'a' + 1), c));
  }
  const uint64_t before = server.stats().requests;
  RunOptions o = options(server.port(), tt::load_gets(server.port(), paths));
  o.expect_bodies = bodies;  // a response matched to the wrong request is an errors.body
  o.pipeline = 16;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_GT(r.requests, 16u * 4);
  EXPECT_EQ(r.errors_total(), 0u) << r.errors_of(ErrorKind::body) << " body errors";
  EXPECT_EQ(r.latency.count(), r.requests);
  EXPECT_EQ(server_delta(server, before, r.requests), r.requests);
}

TEST(LoadEngine, AWrongBodyIsABodyError) {
  tt::TestServer server;
  RunOptions o = options(server.port(), tt::load_gets(server.port(), {"/hello/x", "/hello/y"}));
  o.expect_bodies = {"hi x", "hi z"};
  o.pipeline = 4;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_GT(r.requests, 0u);
  EXPECT_GT(r.errors_of(ErrorKind::body), 0u);
  // Round robin: as many of one as of the other, give or take one per connection.
  EXPECT_LE(r.requests, r.errors_of(ErrorKind::body) + o.connections);
  EXPECT_LE(r.errors_of(ErrorKind::body), r.requests + o.connections);
}

TEST(LoadEngine, AnUnexpectedStatusIsAnErrorNeverASuccess) {
  tt::TestServer server({}, [](tether::Server& s) {
    tt::add_test_routes(s);
    s.get("/fail", [](tether::Request&, tether::Response res) { res.send(500, "no"); });
  });
  const uint64_t before = server.stats().requests;
  RunOptions o = options(server.port(), tt::load_gets(server.port(), {"/fail"}));
  o.pipeline = 2;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.requests, 0u);
  EXPECT_EQ(r.latency.count(), 0u);
  EXPECT_GT(r.errors_of(ErrorKind::status), 0u);
  EXPECT_EQ(r.errors_total(), r.errors_of(ErrorKind::status));
  EXPECT_EQ(server_delta(server, before, r.errors_total()), r.errors_total());

  // Expected explicitly, 500 is a success; 200 then is not.
  o.requests = tt::load_gets(server.port(), {"/fail", "/plaintext"});
  o.expect_status = {500};
  r = tether::load::run(o);
  EXPECT_GT(r.requests, 0u);
  EXPECT_GT(r.errors_of(ErrorKind::status), 0u);
  EXPECT_EQ(r.errors_total(), r.errors_of(ErrorKind::status));
}

TEST(LoadEngine, ChunkedBodiesAndHeadResponses) {
  tt::TestServer server({}, [](tether::Server& s) {
    s.get("/chunked", [](tether::Request&, tether::Response res) {
      tether::Stream st = res.stream(200, "text/plain");
      st.write("abc");
      st.write("defgh");
      st.end();
    });
    s.head("/head",
           [](tether::Request&, tether::Response res) { res.send(200, std::string(100, 'x')); });
  });
  tether::load::TargetSpec head_spec;
  head_spec.method = "HEAD";
  head_spec.target = "/head";
  tether::load::TargetSpec chunked_spec;
  chunked_spec.target = "/chunked";
  tether::load::RequestHead h;
  h.host = "127.0.0.1";
  auto prepared = tether::load::serialize_targets({chunked_spec, head_spec}, h);
  ASSERT_TRUE(prepared.ok());
  RunOptions o = options(server.port(), prepared.requests);
  o.expect_bodies = {"abcdefgh", ""};
  o.pipeline = 8;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_GT(r.requests, 16u);
  EXPECT_EQ(r.errors_total(), 0u);
}

TEST(LoadEngine, CloseDelimitedAndInterimResponsesAndReconnects) {
  // A server that answers each connection's first request with a body that ends at the
  // connection's end, then closes: every request needs a new connection.
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(lfd, 64), 0);
  socklen_t len = sizeof a;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  std::atomic<int> answered{0};
  std::thread srv([&] {
    for (;;) {
      int fd = accept(lfd, nullptr, nullptr);
      if (fd < 0) return;
      char buf[4096];
      std::string got;
      while (got.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
      }
      if (got.find("\r\n\r\n") != std::string::npos) {
        // An interim 103 first: it answers no request.
        const char resp[] =
            "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end";
        if (write(fd, resp, sizeof resp - 1) > 0) answered.fetch_add(1);
      }
      close(fd);
    }
  });
  RunOptions o = options(ntohs(a.sin_port), {});
  o.expect_bodies = {"until the end"};
  o.connections = 2;
  o.duration = 200ms;
  RunResult r = tether::load::run(o);
  shutdown(lfd, SHUT_RDWR);
  close(lfd);
  srv.join();
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_GT(r.requests, 10u);
  EXPECT_EQ(r.errors_total(), 0u);
  EXPECT_EQ(r.connections_established, 2u);
  EXPECT_EQ(static_cast<uint64_t>(answered.load()), r.requests);
}

/// A keep-alive server on one thread that allocates nothing per request: it answers every
/// request head (each CRLF CRLF) of up to 16 connections with the same 200.
class RawServer {
 public:
  RawServer() {
    lfd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(lfd_, 64), 0);
    socklen_t len = sizeof a;
    getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~RawServer() {
    stop_ = true;
    thread_.join();
    for (int i = 0; i < n_; ++i) close(fds_[i].fd);
    close(lfd_);
  }
  uint16_t port() const { return port_; }

 private:
  static constexpr int kMax = 17;
  void serve() {
    static constexpr char kResp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    constexpr size_t kLen = sizeof kResp - 1;
    char out[64 * kLen];
    for (size_t i = 0; i < 64; ++i) std::memcpy(out + i * kLen, kResp, kLen);
    fds_[0] = {lfd_, POLLIN, 0};
    n_ = 1;
    int match[kMax] = {};  // bytes of CRLF CRLF matched so far, per connection
    char buf[16384];
    while (!stop_) {
      if (poll(fds_, static_cast<nfds_t>(n_), 20) <= 0) continue;
      if ((fds_[0].revents & POLLIN) != 0 && n_ < kMax) {
        int fd = accept(lfd_, nullptr, nullptr);
        if (fd >= 0) fds_[n_++] = {fd, POLLIN, 0};
      }
      for (int i = 1; i < n_; ++i) {
        if (fds_[i].revents == 0 || fds_[i].fd < 0) continue;
        ssize_t r = read(fds_[i].fd, buf, sizeof buf);
        if (r <= 0) {
          close(fds_[i].fd);
          fds_[i].fd = -1;
          continue;
        }
        size_t heads = 0;
        for (ssize_t k = 0; k < r; ++k) {
          const char want = "\r\n\r\n"[match[i]];
          match[i] = buf[k] == want ? match[i] + 1 : (buf[k] == '\r' ? 1 : 0);
          if (match[i] == 4) {
            match[i] = 0;
            ++heads;
          }
        }
        while (heads > 0) {
          const size_t now = heads < 64 ? heads : 64;
          if (write(fds_[i].fd, out, now * kLen) < 0) break;
          heads -= now;
        }
      }
    }
  }
  int lfd_ = -1;
  uint16_t port_ = 0;
  pollfd fds_[kMax] = {};
  int n_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(LoadEngine, NoAllocationPerRequest) {
  // The counter must see the library's allocations, or this test proves nothing (under ASan
  // the sanitizer's operator new takes them).
  const uint64_t probe_before = tt::allocations();
  { tether::load::Histogram probe; }
  if (tt::allocations() != probe_before + 1) {
    GTEST_SKIP() << "allocations of the library are not visible to this binary's operator new";
  }
  RawServer server;
  RunOptions o = options(server.port(), {});
  o.pipeline = 8;
  auto measure = [&](std::chrono::milliseconds d, uint64_t& requests) {
    o.duration = d;
    const uint64_t before = tt::allocations();
    RunResult r = tether::load::run(o);
    const uint64_t allocations = tt::allocations() - before;
    EXPECT_EQ(r.errors_total(), 0u);
    requests = r.requests;
    return allocations;
  };
  uint64_t short_requests = 0;
  uint64_t long_requests = 0;
  const uint64_t short_allocations = measure(100ms, short_requests);
  const uint64_t long_allocations = measure(500ms, long_requests);
  ASSERT_GT(long_requests, short_requests + 1000);
  // The same setup either way (loops, threads, connections, histograms); nothing per request.
  EXPECT_LE(long_allocations, short_allocations + 4)
      << short_requests << " requests: " << short_allocations << " allocations, " << long_requests
      << " requests: " << long_allocations;
}

TEST(LoadEngine, ARequestWithoutAnAnswerIsATimeout) {
  // GET /park keeps every Response unanswered until the server goes.
  auto parked = std::make_shared<std::vector<tether::Response>>();
  auto mu = std::make_shared<std::mutex>();
  tt::TestServer server({}, [parked, mu](tether::Server& s) {
    s.get("/park", [parked, mu](tether::Request&, tether::Response res) {
      std::lock_guard<std::mutex> lock(*mu);
      parked->push_back(std::move(res));
    });
  });
  RunOptions o = options(server.port(), tt::load_gets(server.port(), {"/park"}));
  o.connections = 2;
  o.pipeline = 3;
  o.timeout = 100ms;
  o.duration = 350ms;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.requests, 0u);
  // Every 100 ms each connection's three requests time out and it connects again; the last
  // round is cut by the drain (also counted as timeouts).
  EXPECT_GE(r.errors_of(ErrorKind::timeout), 2u * 3 * 3);
  EXPECT_EQ(r.errors_total(), r.errors_of(ErrorKind::timeout));
  EXPECT_LT(r.elapsed, 350ms + 500ms);
}

TEST(LoadEngine, ARefusedConnectionIsAConnectError) {
  RunOptions o = options(tt::closed_port(), {});
  o.duration = 200ms;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_GT(r.errors_of(ErrorKind::connect), 0u);
  EXPECT_EQ(r.errors_total(), r.errors_of(ErrorKind::connect));
  EXPECT_EQ(r.requests, 0u);
  EXPECT_EQ(r.connections_established, 0u);
}

TEST(LoadEngine, AnUnknownHostIsARunError) {
  RunOptions o;
  o.host = "no-such-host.invalid";
  o.duration = 100ms;
  RunResult r = tether::load::run(o);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("no-such-host.invalid"), std::string::npos) << r.error;
}

TEST(LoadEngine, TheSummaryHasWrksRequestsPerSecondLine) {
  tt::TestServer server;
  RunOptions o = options(server.port(), tt::load_gets(server.port(), {"/plaintext"}));
  o.duration = 200ms;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/plaintext";
  const std::string s = tether::load::format_summary(o, r, url);
  EXPECT_NE(s.find("\nRequests/sec: "), std::string::npos) << s;
  EXPECT_NE(s.find("Transfer/sec:"), std::string::npos) << s;
  EXPECT_NE(s.find("99.99%"), std::string::npos) << s;
  EXPECT_NE(s.find(std::to_string(r.requests) + " requests in "), std::string::npos) << s;
  EXPECT_NE(s.find(url), std::string::npos) << s;
}

}  // namespace
