// Lifetime torture: 100 cycles of start a 2-loop server, hammer it from a few client threads
// with everything that keeps a Response alive past its handler (mailbox posts, parked waits,
// offloads, fan-outs) plus connection resets, then stop and destroy it while that load is in
// flight. Nothing may crash or touch freed memory (run it under ASan and TSan), and every
// cycle's server must have answered requests.
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/expectations.hpp"
#include "support/http_client.hpp"
#include "support/mailbox_requests.hpp"
#include "tether/tether.hpp"
#include "tetherd/demo_routes.hpp"

namespace {

constexpr int kCycles = 100;
constexpr int kClients = 2;  // mixing clients, plus one that parks waits
// Answers a cycle waits for before it stops the server: about 20-50 ms of load.
constexpr uint64_t kAnswersBeforeStop = 30;

/// A mixing client thread of a cycle: pipelined batches of mailbox posts, offloads, fan-outs
/// and plain requests on a connection, which it sometimes resets mid-batch (every answer still
/// owed), until `done`. Bounded in rounds.
void hammer(uint16_t port, unsigned seed, std::atomic<uint64_t>& answered,
            const std::atomic<bool>& done) {
  std::mt19937 rng(seed);
  for (int round = 0; round < 2000 && !done.load(); ++round) {
    tt::Client c(port);
    if (!c.connected()) continue;  // the server stopped: refused until the cycle is done
    bool alive = true;
    for (int batch = 0; batch < 20 && alive && !done.load(); ++batch) {
      std::string reqs;
      int n = 0;
      for (int k = 0; k < 8; ++k) {
        switch (rng() % 6) {
          case 0:
          case 1:
          case 2:  // half are posts: on a 2-loop server about half of them cross loops
            reqs += tt::mailbox_post("t" + std::to_string(rng() % 16), "v" + std::to_string(k));
            break;
          case 3:
            reqs += tt::get_request("/work?ms=1");
            break;
          case 4:
            reqs += tt::get_request("/fanout?n=4&ms=1");
            break;
          default:
            reqs += tt::kPlaintextRequest;
            break;
        }
        ++n;
      }
      if (!c.send(reqs)) break;
      if (rng() % 6 == 0) {
        c.close(/*reset=*/true);  // leave with every answer of the batch owed
        break;
      }
      for (int got = 0; got < n; ++got) {
        if (!c.read_response(2000)) {
          alive = false;
          break;
        }
        ++answered;
      }
    }
  }
}

/// The waiting client thread of a cycle: keeps parked waits (GET /mailbox/tK?wait_ms=5..35,
/// on the ids the posts use) on a few connections, re-parks each one answered, and sometimes
/// resets a connection with its wait parked, until `done`. Bounded in rounds.
void park_waits(uint16_t port, unsigned seed, std::atomic<uint64_t>& answered,
                const std::atomic<bool>& done) {
  constexpr size_t kWaiters = 4;
  std::mt19937 rng(seed);
  std::vector<std::unique_ptr<tt::Client>> waiters(kWaiters);
  auto park = [&](std::unique_ptr<tt::Client>& w) {
    w = std::make_unique<tt::Client>(port);
    if (!w->connected()) return;
    w->send(tt::get_request("/mailbox/t" + std::to_string(rng() % 16) +
                            "?wait_ms=" + std::to_string(5 + rng() % 30)));
  };
  for (int round = 0; round < 5000 && !done.load(); ++round) {
    for (auto& w : waiters) {
      if (!w || !w->connected()) {
        park(w);
        continue;
      }
      if (rng() % 8 == 0) {
        w->close(/*reset=*/true);  // leave while parked
        continue;
      }
      if (w->read_response(2)) {
        ++answered;
        park(w);
      }
    }
  }
}

TEST(Lifetime, StartHammerStopDestroyTwoLoopServer) {
  int64_t t0 = tt::now_ms();
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    std::atomic<uint64_t> answered{0};
    std::atomic<bool> done{false};
    uint64_t requests = 0;
    {
      tether::ServerOptions o;
      o.host = "127.0.0.1";
      o.port = 0;
      o.loops = 2;
      o.workers = 2;
      o.drain_timeout_ms = 50;
      tether::Server server(o);
      tetherd::add_demo_routes(server);
      ASSERT_TRUE(server.start().ok());
      const uint16_t port = server.port();
      std::vector<std::thread> clients;
      for (int t = 0; t < kClients; ++t) {
        clients.emplace_back(
            [&, t] { hammer(port, static_cast<unsigned>(cycle * kClients + t), answered, done); });
      }
      // Every other cycle also parks waits, so that the stop finds them parked on both loops;
      // the cycles without them let a loop with nothing left to drain stop at once, while the
      // other loop is still at work.
      std::atomic<uint64_t> waits_answered{0};
      if (cycle % 2 == 0) {
        clients.emplace_back(
            [&] { park_waits(port, static_cast<unsigned>(cycle), waits_answered, done); });
      }
      // Stop once the load is on: answers are coming back, more are in flight, waits are parked.
      int64_t deadline = tt::now_ms() + 5000;
      while (answered.load() < kAnswersBeforeStop && tt::now_ms() < deadline) {
        ::poll(nullptr, 0, 1);  // a counter has no event to wait on: re-check every ms
      }
      // A last burst of posts (about half to the other loop's shard) on fresh connections (on
      // either loop), and the stop right behind it.
      std::string posts;
      for (int k = 0; k < 128; ++k) posts += tt::mailbox_post("b" + std::to_string(k), "v");
      std::vector<std::unique_ptr<tt::Client>> burst;
      for (int k = 0; k < 4; ++k) burst.push_back(std::make_unique<tt::Client>(port));
      for (auto& b : burst) b->send(posts);
      server.stop();
      server.wait();
      done = true;
      for (auto& t : clients) t.join();
      requests = server.stats().requests;
    }  // ~Server, with whatever the load left behind
    EXPECT_GT(answered.load(), 0u) << "the server answered nothing";
    EXPECT_GT(requests, 0u);
  }
  EXPECT_LT(tt::now_ms() - t0, 60000) << "the torture test must stay well under a minute";
}

}  // namespace
