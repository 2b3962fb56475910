// Graceful shutdown: stop accepting, finish in-flight requests, close idle connections, cut
// the rest at the drain deadline.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "support/http_client.hpp"
#include "support/test_server.hpp"

namespace {

const std::string kGet = "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";

struct Running {
  explicit Running(tether::ServerOptions o = {}) : server(o) {
    tt::add_test_routes(server);
    tether::Status s = server.start();
    EXPECT_TRUE(s.ok()) << s.message();
  }
  tether::Server server;
};

tether::ServerOptions local(uint32_t drain_ms = 5000) {
  tether::ServerOptions o;
  o.port = 0;
  o.drain_timeout_ms = drain_ms;
  return o;
}

TEST(Shutdown, IdleConnectionsCloseAndWaitReturns) {
  Running r(local());
  tt::Client idle(r.server.port());
  ASSERT_TRUE(idle.send(kGet));
  ASSERT_TRUE(idle.read_response());
  int64_t t0 = tt::now_ms();
  r.server.stop();
  EXPECT_TRUE(idle.wait_closed(3000));
  r.server.wait();
  EXPECT_LT(tt::now_ms() - t0, 3000);
  tt::Client late(r.server.port());
  EXPECT_TRUE(!late.connected() || late.wait_closed(1000));
}

TEST(Shutdown, RequestInProgressIsFinishedWithConnectionClose) {
  Running r(local());
  tt::Client c(r.server.port());
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nabc"));
  // One round trip on another connection of the same loop: c's bytes were ready before the
  // probe's, so by the time the probe is answered the loop has read c's partial request.
  tt::Client probe(r.server.port());
  ASSERT_TRUE(probe.send(kGet));
  ASSERT_TRUE(probe.read_response());
  r.server.stop();
  EXPECT_TRUE(probe.wait_closed(3000));  // idle: closed at once
  ASSERT_TRUE(c.send("def"));
  auto resp = c.read_response();
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->body, "abcdef");
  EXPECT_EQ(resp->header("connection"), "close");
  EXPECT_TRUE(c.wait_closed(3000));
  r.server.wait();
}

TEST(Shutdown, DrainDeadlineCutsStragglers) {
  Running r(local(300));
  tt::Client c(r.server.port());
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc"));
  tt::Client probe(r.server.port());
  ASSERT_TRUE(probe.send(kGet));
  ASSERT_TRUE(probe.read_response());
  int64_t t0 = tt::now_ms();
  r.server.stop();
  EXPECT_TRUE(c.wait_closed(3000));
  r.server.wait();
  int64_t took = tt::now_ms() - t0;
  EXPECT_GE(took, 250);
  EXPECT_LT(took, 3000);
}

TEST(Shutdown, StopFromAnotherThreadWhileClientsAreBusy) {
  Running r(local(2000));
  std::atomic<int> answered{0};
  std::thread client([&] {
    tt::Client c(r.server.port());
    for (int i = 0; i < 100000; ++i) {
      if (!c.send(kGet)) break;
      auto resp = c.read_response(3000);
      if (!resp) break;
      ++answered;
      if (resp->header("connection") == std::optional<std::string>("close")) break;
    }
  });
  while (answered < 50) std::this_thread::yield();
  r.server.stop();
  r.server.wait();
  client.join();
  EXPECT_GE(answered.load(), 50);
}

TEST(Shutdown, StopBeforeAnyConnectionAndTwice) {
  Running r(local());
  r.server.stop();
  r.server.stop();
  EXPECT_EQ(r.server.wait(), 0);
}

TEST(Shutdown, StartTwiceFailsAndPortInUseFails) {
  Running r(local());
  tether::Status again = r.server.start();
  EXPECT_FALSE(again.ok());
  tether::ServerOptions o;
  o.port = r.server.port();
  tether::Server second(o);
  tether::Status s = second.start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("in use"), std::string::npos) << s.message();
}

}  // namespace
