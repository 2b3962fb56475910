// The load generator's open loop and what it measures, against in-process tether servers
// over loopback: the rate reached and counted exactly, coordinated omission corrected when
// the server stalls (and not in a closed loop, which is the point), warmup left out,
// per-second intervals, random target order and body length checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.hpp"
#include "support/load_helpers.hpp"
#include "support/test_server.hpp"
#include "tether/load/engine.hpp"
#include "tether/load/targets.hpp"

namespace {

using namespace std::chrono_literals;
using tether::load::ErrorKind;
using tether::load::RunOptions;
using tether::load::RunResult;

RunOptions options(uint16_t port, const std::string& path) {
  RunOptions o;
  o.port = port;
  o.requests = tt::load_gets(port, {path});
  o.connections = 8;
  o.threads = 2;
  return o;
}

uint64_t server_delta(tt::TestServer& server, uint64_t before, uint64_t n) {
  server.wait_for([&](const tether::ServerStats& s) { return s.requests - before >= n; }, 2000);
  return server.stats().requests - before;
}

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

TEST(LoadOpenLoop, ReachesItsRateAndEveryRequestIsCountedOnce) {
  tt::TestServer server;
  const uint64_t before = server.stats().requests;
  RunOptions o = options(server.port(), "/plaintext");
  o.rate = 2000;
  o.duration = 2s;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.errors_total(), 0u);
  // The intended times are fixed in advance: 2 loops x 1000/s x 2 s.
  EXPECT_EQ(r.intended, 4000u);
  EXPECT_EQ(r.requests, r.intended);
  EXPECT_NEAR(r.rps(), 2000, 20) << r.requests << " in " << seconds(r.elapsed) << " s";
  EXPECT_EQ(r.latency.count(), r.requests);
  EXPECT_EQ(r.service.count(), r.requests);
  EXPECT_EQ(r.target_rate, 2000);
  EXPECT_EQ(server_delta(server, before, r.requests), r.requests);
  // Sent on time: with a healthy server the corrected latency stays near the service time.
  EXPECT_LT(r.latency.value_at_percentile(50), r.service.value_at_percentile(50) + 1000);
}

TEST(LoadOpenLoop, PoissonArrivalsKeepTheMeanRate) {
  tt::TestServer server;
  RunOptions o = options(server.port(), "/plaintext");
  o.rate = 2000;
  o.poisson = true;
  o.seed = 7;
  o.duration = 1s;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.errors_total(), 0u);
  EXPECT_EQ(r.requests, r.intended);
  // 2000 expected; a Poisson count has a standard deviation of ~45 here.
  EXPECT_NEAR(static_cast<double>(r.intended), 2000, 200);
}

// The server's only loop stops for a second in the middle of the run. An open loop keeps
// its schedule, so the requests due during the stall wait and their corrected latency says
// so; their service time does not. A closed loop (wrk's model) stops sending while it waits
// and hides the stall from its percentiles.
TEST(LoadOpenLoop, CoordinatedOmissionIsCorrected) {
  tt::TestServer server(tt::loopback_options(1), [](tether::Server& s) {
    tt::add_test_routes(s);
    s.get("/stall", [](tether::Request&, tether::Response res) {
      std::this_thread::sleep_for(1s);  // on the loop thread: the whole server stops
      res.send(200, "stalled\n");
    });
  });
  auto stall_after = [&](std::chrono::milliseconds delay) {
    return std::thread([port = server.port(), delay] {
      std::this_thread::sleep_for(delay);
      tt::Client c(port);
      c.send("GET /stall HTTP/1.1\r\nHost: t\r\n\r\n");
      c.read_response(5000);
    });
  };
  RunOptions o = options(server.port(), "/plaintext");
  o.rate = 1000;
  o.duration = 3s;
  std::thread stall = stall_after(1s);
  RunResult open = tether::load::run(o);
  stall.join();
  ASSERT_TRUE(open.ok()) << open.error;
  EXPECT_EQ(open.errors_total(), 0u);
  EXPECT_EQ(open.requests, 3000u);
  // A third of the requests fell due in the stall, waiting up to a second.
  EXPECT_GE(open.latency.value_at_percentile(99), 500'000u);
  EXPECT_GE(open.latency.max(), 900'000u);
  // Only the requests already written when it began (one per connection) were served slowly.
  EXPECT_LT(open.service.value_at_percentile(99), 200'000u);
  // The stall shows in its second: p99 of the interval it ended in.
  uint64_t worst = 0;
  for (const auto& i : open.intervals) worst = std::max(worst, i.p99_us);
  EXPECT_GE(worst, 500'000u);

  o.rate = 0;  // the same stall under a closed loop
  stall = stall_after(1s);
  RunResult closed = tether::load::run(o);
  stall.join();
  ASSERT_TRUE(closed.ok()) << closed.error;
  EXPECT_GE(closed.latency.max(), 900'000u);                    // it did wait...
  EXPECT_LT(closed.latency.value_at_percentile(99), 500'000u);  // ...and the p99 hides it
  EXPECT_EQ(closed.latency.value_at_percentile(99), closed.service.value_at_percentile(99));
}

TEST(LoadOpenLoop, AServerThatCannotKeepUpTurnsDueRequestsIntoTimeouts) {
  // Every answer takes 50 ms and there is one connection: 20 requests/s at most, 200 due.
  tt::TestServer server(tt::loopback_options(1), [](tether::Server& s) {
    s.get("/slow", [](tether::Request&, tether::Response res) {
      res.offload([](std::stop_token) { std::this_thread::sleep_for(50ms); },
                  [](tether::Response r) { r.send(200, "slow\n"); });
    });
  });
  RunOptions o = options(server.port(), "/slow");
  o.connections = 1;
  o.threads = 1;
  o.rate = 200;
  o.duration = 1s;
  o.timeout = 300ms;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.intended, 200u);
  EXPECT_GT(r.requests, 5u);
  EXPECT_LT(r.requests, 30u);
  // Every intended request ends once: served, or timed out waiting for a connection.
  EXPECT_EQ(r.requests + r.errors_total(), r.intended);
  EXPECT_EQ(r.errors_total(), r.errors_of(ErrorKind::timeout))
      << r.errors_of(ErrorKind::status) << " status, " << r.errors_of(ErrorKind::reset)
      << " reset, " << r.errors_of(ErrorKind::connect) << " connect";
}

TEST(LoadOpenLoop, WarmupIsLeftOutAndIntervalsAddUp) {
  tt::TestServer server;
  const uint64_t before = server.stats().requests;
  RunOptions o = options(server.port(), "/plaintext");
  o.warmup = 400ms;
  o.duration = 2500ms;
  std::mutex mu;
  std::vector<RunOptions::Progress> seen;
  o.on_progress = [&](const RunOptions::Progress& p) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(p);
  };
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.errors_total(), 0u);
  EXPECT_GT(r.requests, 100u);
  // The warmup's requests reached the server and are in no result.
  const uint64_t served = server_delta(server, before, r.requests + 1);
  EXPECT_GT(served, r.requests);
  EXPECT_GE(r.elapsed, 2500ms);
  EXPECT_LT(r.elapsed, 2900ms);
  // Seconds 0, 1 and the last half second (with the drain).
  ASSERT_EQ(r.intervals.size(), 3u);
  uint64_t requests = 0;
  for (size_t i = 0; i < r.intervals.size(); ++i) {
    EXPECT_EQ(r.intervals[i].second, i);
    EXPECT_GT(r.intervals[i].requests, 0u);
    EXPECT_GE(r.intervals[i].max_us, r.intervals[i].p99_us);
    requests += r.intervals[i].requests;
  }
  EXPECT_EQ(requests, r.requests);
  // About once a second: the first one during the warmup (400 ms of it), then measuring.
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_GE(seen.size(), 2u);
  EXPECT_FALSE(seen[0].warming_up == false && seen[0].elapsed > 1s);
  EXPECT_FALSE(seen.back().warming_up);
  EXPECT_GT(seen.back().requests, 0u);
  EXPECT_LE(seen.back().requests, r.requests);
}

TEST(LoadOpenLoop, RandomOrderIsNotRoundRobin) {
  // One connection, one request at a time: the server sees the order the client chose.
  std::mutex mu;
  std::string order;
  tt::TestServer server(tt::loopback_options(1), [&](tether::Server& s) {
    s.get("/r/{c}", [&](tether::Request& req, tether::Response res) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (order.size() < 4096) order += req.param("c");
      }
      res.send(200, std::string(req.param("c")));
    });
  });
  RunOptions o = options(server.port(), "/");
  o.requests = tt::load_gets(server.port(), {"/r/a", "/r/b", "/r/c"});
  o.expect_bodies = {"a", "b", "c"};
  o.connections = 1;
  o.threads = 1;
  o.duration = 300ms;
  o.random_order = true;
  RunResult r = tether::load::run(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.errors_total(), 0u);  // each response matched to its own request
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_GT(order.size(), 50u);
  size_t repeats = 0;
  for (size_t i = 1; i < order.size(); ++i) repeats += order[i] == order[i - 1];
  EXPECT_GT(repeats, 0u) << order.substr(0, 60);  // round robin never repeats
  for (char c : {'a', 'b', 'c'}) EXPECT_NE(order.find(c), std::string::npos);
}

TEST(LoadOpenLoop, ExpectBytesChecksEveryBodyLength) {
  tt::TestServer server;
  RunOptions o = options(server.port(), "/plaintext");  // "Hello, World!": 13 bytes
  o.duration = 200ms;
  o.expect_body_bytes = 13;
  RunResult good = tether::load::run(o);
  ASSERT_TRUE(good.ok()) << good.error;
  EXPECT_GT(good.requests, 0u);
  EXPECT_EQ(good.errors_total(), 0u);
  o.expect_body_bytes = 12;
  RunResult bad = tether::load::run(o);
  EXPECT_EQ(bad.requests, 0u);
  EXPECT_GT(bad.errors_of(ErrorKind::body), 0u);
  EXPECT_EQ(bad.errors_total(), bad.errors_of(ErrorKind::body));
}

TEST(LoadOpenLoop, BadOptionsAreRunErrors) {
  RunOptions o;
  o.port = 1;
  o.rate = -1;
  EXPECT_FALSE(tether::load::run(o).ok());
  o.rate = 0;
  o.poisson = true;
  EXPECT_FALSE(tether::load::run(o).ok());
}

}  // namespace
