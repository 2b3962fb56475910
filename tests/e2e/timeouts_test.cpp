// End-to-end timeouts over real loopback sockets, with short ServerOptions timeouts: header
// (from the first byte, never reset by trickling), body (a gap between reads), idle, write.
// Each test also checks that another, well-behaved client is served meanwhile.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

#include "support/expectations.hpp"
#include "support/http_client.hpp"
#include "support/test_server.hpp"

namespace {

constexpr uint32_t kShortMs = 300;  // the timeout under test
constexpr uint32_t kLongMs = 5000;  // the timeouts not under test
// The server's loop clock (uv_now) may be a coarse monotonic clock and is kept in whole
// milliseconds, so it can trail the test's clock by a millisecond or two.
constexpr int64_t kClockSlackMs = 3;
// A timeout must fire well before this (it is checked by a tick of 1/8 of the shortest one).
constexpr int64_t kLateMs = 1500;
constexpr int kWaitMs = 3000;

const std::string& kPlaintext = tt::kPlaintextRequest;

tether::ServerOptions options_with(uint32_t tether::ServerOptions::*field) {
  tether::ServerOptions o;
  o.header_timeout_ms = kLongMs;
  o.body_timeout_ms = kLongMs;
  o.idle_timeout_ms = kLongMs;
  o.write_timeout_ms = kLongMs;
  o.linger_timeout_ms = 1000;
  o.*field = kShortMs;
  return o;
}

// A second, well-behaved client on a fresh connection is served.
void expect_other_client_served(uint16_t port) {
  tt::Client other(port);
  ASSERT_TRUE(other.connected());
  tt::expect_plaintext_ok(other);
  tt::expect_plaintext_ok(other);
}

// Reads a 408 with `Connection: close` and a body naming `what`, then the close.
void expect_408_then_close(tt::Client& c, std::string_view what) {
  std::optional<tt::HttpResponse> r = c.read_response(kWaitMs);
  ASSERT_TRUE(r.has_value()) << "no 408; buffered: " << c.buffered();
  EXPECT_EQ(r->status, 408);
  EXPECT_NE(r->body.find(what), std::string::npos) << r->body;
  EXPECT_EQ(r->header("connection").value_or(""), "close");
  EXPECT_TRUE(c.wait_closed(kWaitMs));
}

void expect_elapsed_about(int64_t elapsed, uint32_t timeout) {
  EXPECT_GE(elapsed + kClockSlackMs, static_cast<int64_t>(timeout)) << "fired early";
  EXPECT_LT(elapsed, kLateMs) << "fired late";
}

// ---------------------------------------------------------------- header timeout

TEST(Timeouts, PartialHeadGets408AfterHeaderTimeout) {
  tt::TestServer s(options_with(&tether::ServerOptions::header_timeout_ms));
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  int64_t t0 = tt::now_ms();
  ASSERT_TRUE(c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n"));
  expect_other_client_served(s.port());
  std::optional<tt::HttpResponse> r = c.read_response(kWaitMs);
  int64_t elapsed = tt::now_ms() - t0;
  ASSERT_TRUE(r.has_value()) << "no 408; buffered: " << c.buffered();
  EXPECT_EQ(r->status, 408);
  EXPECT_NE(r->body.find("time"), std::string::npos) << r->body;
  EXPECT_EQ(r->header("connection").value_or(""), "close");
  expect_elapsed_about(elapsed, kShortMs);
  EXPECT_TRUE(c.wait_closed(kWaitMs));
  EXPECT_TRUE(s.wait_for([](const tether::ServerStats& st) { return st.header_timeouts == 1; }));
  EXPECT_EQ(s.stats().idle_timeouts, 0u);
}

TEST(Timeouts, SlowlorisHeaderTimeoutRunsFromTheFirstByte) {
  tt::TestServer s(options_with(&tether::ServerOptions::header_timeout_ms));
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  const std::string head =
      "GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Slow: " + std::string(1000, 'z');
  int64_t t0 = tt::now_ms();
  size_t sent = 0;
  bool served_other = false;
  // One byte every ~50 ms, each far inside the timeout; stop when the server answers.
  while (c.buffered().empty() && sent < head.size() && tt::now_ms() - t0 < kWaitMs) {
    if (!c.send(std::string_view(head).substr(sent, 1))) break;
    ++sent;
    if (!served_other && sent == 3) {
      expect_other_client_served(s.port());
      served_other = true;
    }
    c.read_some(50);  // the pacing wait; returns early when the 408 arrives
  }
  std::optional<tt::HttpResponse> r = c.read_response(kWaitMs);
  int64_t elapsed = tt::now_ms() - t0;
  ASSERT_TRUE(r.has_value()) << "no 408 after " << sent << " bytes; buffered: " << c.buffered();
  EXPECT_EQ(r->status, 408);
  EXPECT_EQ(r->header("connection").value_or(""), "close");
  EXPECT_GE(elapsed + kClockSlackMs, static_cast<int64_t>(kShortMs));
  // Reset by each byte, it would never fire; from the first byte it fires at ~300 ms.
  EXPECT_LT(elapsed, static_cast<int64_t>(kShortMs) + 250)
      << "timeout was extended by trickled bytes";
  EXPECT_GT(sent, 2u);
  EXPECT_TRUE(c.wait_closed(kWaitMs));
  EXPECT_TRUE(s.wait_for([](const tether::ServerStats& st) { return st.header_timeouts == 1; }));
}

// ---------------------------------------------------------------- idle timeout

TEST(Timeouts, IdleKeepAliveConnectionIsClosed) {
  tt::TestServer s(options_with(&tether::ServerOptions::idle_timeout_ms));
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  int64_t t0 = tt::now_ms();
  tt::expect_plaintext_ok(c);
  expect_other_client_served(s.port());
  EXPECT_TRUE(c.wait_closed(kWaitMs)) << "idle connection not closed; got: " << c.buffered();
  int64_t elapsed = tt::now_ms() - t0;
  expect_elapsed_about(elapsed, kShortMs);
  // Closed silently: no response bytes at all.
  EXPECT_TRUE(c.buffered().empty());
  EXPECT_TRUE(s.wait_for([](const tether::ServerStats& st) { return st.idle_timeouts >= 1; }));
  EXPECT_TRUE(s.wait_for([](const tether::ServerStats& st) { return st.connections_active == 0; }));
  EXPECT_EQ(s.stats().header_timeouts, 0u);
}

TEST(Timeouts, SilentConnectionIsClosedByIdleTimeout) {
  tt::TestServer s(options_with(&tether::ServerOptions::idle_timeout_ms));
  int64_t t0 = tt::now_ms();
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  expect_other_client_served(s.port());
  EXPECT_TRUE(c.wait_closed(kWaitMs)) << "silent connection not closed; got: " << c.buffered();
  int64_t elapsed = tt::now_ms() - t0;
  expect_elapsed_about(elapsed, kShortMs);
  EXPECT_TRUE(c.buffered().empty());
  EXPECT_TRUE(s.wait_for([](const tether::ServerStats& st) { return st.idle_timeouts >= 1; }));
  EXPECT_EQ(s.stats().header_timeouts, 0u);
}

TEST(Timeouts, BlankLinesDoNotKeepAnIdleConnectionOpen) {
  tt::TestServer s(options_with(&tether::ServerOptions::idle_timeout_ms));
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  tt::expect_plaintext_ok(c);
  int64_t t0 = tt::now_ms();
  // llhttp skips empty lines between requests; sent every idle/3 they must not count as
  // activity, or one client could hold a connection slot forever without a request.
  bool closed = false;
  while (!closed && tt::now_ms() - t0 < kLateMs) {
    if (!c.send("\r\n")) break;
    closed = c.wait_closed(kShortMs / 3);
  }
  EXPECT_TRUE(closed || c.wait_closed(kWaitMs)) << "got: " << c.buffered();
  EXPECT_LT(tt::now_ms() - t0, kLateMs);
  EXPECT_TRUE(s.wait_for([](const tether::ServerStats& st) { return st.idle_timeouts >= 1; }));
}

TEST(Timeouts, ActivityKeepsAKeepAliveConnectionOpen) {
  tt::TestServer s(options_with(&tether::ServerOptions::idle_timeout_ms));
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  int64_t t0 = tt::now_ms();
  int answered = 0;
  // A request every ~idle/3 for more than twice the idle timeout.
  while (tt::now_ms() - t0 < 2 * static_cast<int64_t>(kShortMs) + 150) {
    tt::expect_plaintext_ok(c);
    if (::testing::Test::HasFatalFailure()) return;
    ++answered;
    EXPECT_EQ(c.read_some(kShortMs / 3), 0u) << "unexpected bytes or close: " << c.buffered();
  }
  // The loop spans more than twice the idle timeout with gaps of a third of it; a loaded
  // machine makes fewer turns (each is slower), never a longer gap between requests.
  EXPECT_GE(answered, 3);
  tt::expect_plaintext_ok(c);
  EXPECT_EQ(s.stats().idle_timeouts, 0u);
}

// ---------------------------------------------------------------- body timeout

TEST(Timeouts, StalledBodyGets408AfterBodyTimeout) {
  tt::TestServer s(options_with(&tether::ServerOptions::body_timeout_ms));
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  int64_t t0 = tt::now_ms();
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"));
  expect_other_client_served(s.port());
  expect_408_then_close(c, "body");
  int64_t elapsed = tt::now_ms() - t0;
  EXPECT_GE(elapsed + kClockSlackMs, static_cast<int64_t>(kShortMs));
  EXPECT_LT(elapsed, kLateMs);
  EXPECT_TRUE(s.wait_for([](const tether::ServerStats& st) { return st.body_timeouts == 1; }));
  EXPECT_EQ(s.stats().body_timeouts, 1u);
  EXPECT_EQ(s.stats().header_timeouts, 0u);
}

TEST(Timeouts, SlowButSteadyBodyIsNotCutOff) {
  // The body timeout measures a pause between reads, not the whole body.
  tt::TestServer s(options_with(&tether::ServerOptions::body_timeout_ms));
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  const std::string body = "0123456789";
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n"));
  int64_t t0 = tt::now_ms();
  for (char ch : body) {
    EXPECT_EQ(c.read_some(kShortMs / 3), 0u) << "unexpected bytes: " << c.buffered();
    ASSERT_TRUE(c.send(std::string(1, ch)));
  }
  EXPECT_GT(tt::now_ms() - t0, 2 * static_cast<int64_t>(kShortMs));
  std::optional<tt::HttpResponse> r = c.read_response(kWaitMs);
  ASSERT_TRUE(r.has_value()) << "buffered: " << c.buffered();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, body);
  EXPECT_EQ(s.stats().body_timeouts, 0u);
}

// ---------------------------------------------------------------- write timeout

TEST(Timeouts, ClientThatNeverReadsIsClosedAfterWriteTimeout) {
  tt::TestServer s(options_with(&tether::ServerOptions::write_timeout_ms));
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  int64_t t0 = tt::now_ms();
  // 20 MB is far more than both socket buffers hold: the write stalls for good.
  ASSERT_TRUE(c.send("GET /big?n=20000000 HTTP/1.1\r\nHost: t\r\n\r\n"));
  expect_other_client_served(s.port());
  ASSERT_TRUE(
      s.wait_for([](const tether::ServerStats& st) { return st.write_timeouts == 1; }, kWaitMs))
      << "no write timeout";
  int64_t elapsed = tt::now_ms() - t0;
  expect_elapsed_about(elapsed, kShortMs);
  EXPECT_TRUE(s.wait_for([](const tether::ServerStats& st) { return st.connections_active == 0; }))
      << "stalled connection still open";
  EXPECT_EQ(s.stats().write_timeouts, 1u);
  EXPECT_EQ(s.stats().idle_timeouts, 0u);
  c.close(/*reset=*/true);
  expect_other_client_served(s.port());
}

}  // namespace
