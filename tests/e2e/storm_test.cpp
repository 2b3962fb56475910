// Storm: many clients at once mixing offloaded and inline requests, pipelining and early
// disconnects. Every client that stays gets exactly its responses, in order, and nothing
// else; the server keeps serving and its counters add up afterwards.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "support/expectations.hpp"
#include "support/http_client.hpp"
#include "support/test_server.hpp"

namespace {

constexpr int kClients = 8;
constexpr int kIterations = 300;

/// Counted by the routes (loop threads): offloads queued, refused, and continuations run.
struct RouteCounts {
  std::atomic<uint64_t> offloaded{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> thens{0};
};

void storm_routes(tether::Server& s, const std::shared_ptr<RouteCounts>& counts) {
  tt::add_test_routes(s);
  s.get("/echo-offload", [counts](tether::Request& req, tether::Response res) {
    std::string id(req.query("id").value_or(""));
    bool queued = res.offload(
        [id](std::stop_token) {
          // 0-2 ms of simulated work, so that jobs finish in a different order than queued.
          auto ms = std::stoull(id) % 3;
          if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
          return id;
        },
        [counts](tether::Response r, std::string v) {
          ++counts->thens;
          r.send(200, "id=" + v);
        });
    if (queued)
      ++counts->offloaded;
    else
      ++counts->refused;
  });
}

struct ClientTally {
  uint64_t requests_read = 0;  // requests on connections that read their responses
  uint64_t ok = 0;             // correct responses read
  uint64_t early = 0;          // requests sent on connections closed without reading
  uint64_t connections = 0;
  std::vector<std::string> errors;  // the first few
};

struct Req {
  std::string bytes;
  std::string expect;
};

void run_client(uint16_t port, unsigned seed, ClientTally& out) {
  std::mt19937 rng(seed);
  uint64_t next_id = static_cast<uint64_t>(seed) * 1000000u;
  std::unique_ptr<tt::Client> kept;
  auto fail = [&](const std::string& msg) {
    if (out.errors.size() < 5) out.errors.push_back("client " + std::to_string(seed) + ": " + msg);
  };
  auto connect = [&]() -> std::unique_ptr<tt::Client> {
    ++out.connections;
    auto c = std::make_unique<tt::Client>(port);
    if (!c->connected()) {
      fail("connect failed");
      return nullptr;
    }
    return c;
  };
  auto make_req = [&]() -> Req {
    if (rng() % 3 == 0) return {tt::kPlaintextRequest, "Hello, World!"};
    std::string id = std::to_string(next_id++);
    return {tt::get_request("/echo-offload?id=" + id), "id=" + id};
  };
  auto check = [&](tt::Client& c, const Req& r) -> bool {
    auto resp = c.read_response(10000);
    if (!resp) {
      fail("no response for '" + r.expect + "'; buffered: " + c.buffered());
      return false;
    }
    if (resp->status != 200 || resp->body != r.expect || resp->header("connection")) {
      fail("expected '" + r.expect + "', got " + std::to_string(resp->status) + " '" + resp->body +
           "'" + (resp->header("connection") ? " with Connection: close" : ""));
      return false;
    }
    ++out.ok;
    return true;
  };

  for (int i = 0; i < kIterations && out.errors.empty(); ++i) {
    unsigned kind = rng() % 10;
    if (kind < 7) {
      // (a) one request, or (b) three pipelined in one write, on a kept or new connection.
      std::unique_ptr<tt::Client> c = kept ? std::move(kept) : connect();
      if (!c) break;
      int n = kind < 4 ? 1 : 3;
      std::vector<Req> reqs;
      std::string batch;
      for (int j = 0; j < n; ++j) {
        reqs.push_back(make_req());
        batch += reqs.back().bytes;
      }
      if (!c->send(batch)) {
        fail("send failed");
        break;
      }
      out.requests_read += static_cast<uint64_t>(n);
      for (const Req& r : reqs) {
        if (!check(*c, r)) break;
      }
      if (!out.errors.empty()) break;
      if (!c->buffered().empty()) {
        fail("extra bytes after the expected responses: " + c->buffered());
        break;
      }
      if (rng() % 2 == 0) kept = std::move(c);  // otherwise closed here
    } else {
      // (c) an early disconnect: send, then leave without reading (half of them with RST).
      auto c = connect();
      if (!c) break;
      Req r = make_req();
      if (c->send(r.bytes)) ++out.early;
      c->close(rng() % 2 == 0);
    }
  }
  if (kept && out.errors.empty()) {
    // The kept connection still works, and nothing extra ever arrived on it.
    Req r{tt::kPlaintextRequest, "Hello, World!"};
    if (kept->send(r.bytes) && check(*kept, r)) {
      ++out.requests_read;
      if (kept->read_some(20) != 0 || !kept->buffered().empty())
        fail("extra bytes on a kept connection: " + kept->buffered());
    } else if (out.errors.empty()) {
      fail("kept connection failed");
    }
  }
}

void storm(unsigned loops) {
  auto counts = std::make_shared<RouteCounts>();
  tether::ServerOptions o;
  o.loops = loops;
  o.workers = 2;
  tt::TestServer srv(o, [counts](tether::Server& s) { storm_routes(s, counts); });
  int64_t t0 = tt::now_ms();
  std::vector<ClientTally> tallies(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back(run_client, srv.port(), static_cast<unsigned>(i + 1),
                         std::ref(tallies[static_cast<size_t>(i)]));
  }
  for (auto& t : clients) t.join();
  int64_t took = tt::now_ms() - t0;

  ClientTally all;
  for (auto& t : tallies) {
    all.requests_read += t.requests_read;
    all.ok += t.ok;
    all.early += t.early;
    all.connections += t.connections;
    for (auto& e : t.errors) ADD_FAILURE() << e;
  }
  EXPECT_EQ(all.ok, all.requests_read) << "every request of a client that stayed is answered";

  // Settle: every connection gone, every exchange ended, every job accounted for.
  bool settled = srv.wait_for(
      [&](const tether::ServerStats& s) {
        return s.exchanges_in_flight == 0 && s.connections_active == 0 &&
               counts->offloaded.load() == counts->thens.load() + s.jobs_abandoned;
      },
      10000);
  tether::ServerStats s = srv.stats();
  EXPECT_TRUE(settled) << "in flight " << s.exchanges_in_flight << ", connections "
                       << s.connections_active << ", offloaded " << counts->offloaded.load()
                       << ", thens " << counts->thens.load() << ", abandoned " << s.jobs_abandoned;
  EXPECT_EQ(counts->refused.load(), 0u);
  EXPECT_EQ(s.responses_by_class[1], 0u);
  EXPECT_EQ(s.responses_by_class[3], 0u);
  EXPECT_EQ(s.responses_by_class[4], 0u);
  EXPECT_EQ(s.responses_by_class[5], 0u);
  EXPECT_GE(s.responses_by_class[2], all.ok);
  // Each request the server took was answered 2xx, or was an offload whose client left.
  EXPECT_EQ(s.requests, s.responses_by_class[2] + s.jobs_abandoned);
  EXPECT_EQ(s.responses_dropped, s.jobs_abandoned);
  EXPECT_GE(s.requests, all.requests_read);
  EXPECT_LE(s.requests, all.requests_read + all.early);
  EXPECT_LE(s.connections_accepted, all.connections);
  EXPECT_EQ(s.responses_abandoned, 0u);
  EXPECT_EQ(s.handler_exceptions, 0u);
  EXPECT_EQ(s.bad_requests, 0u);
  EXPECT_EQ(s.responses_timed_out, 0u);
  EXPECT_EQ(s.jobs_shed, 0u);
  EXPECT_EQ(s.jobs_failed, 0u);

  tt::Client after(srv.port());
  tt::expect_plaintext_ok(after);

  std::printf(
      "[ storm    ] loops=%u: %llu connections, %llu requests read, %llu early "
      "disconnects, %llu jobs (%llu abandoned) in %lld ms\n",
      loops, static_cast<unsigned long long>(all.connections),
      static_cast<unsigned long long>(all.requests_read),
      static_cast<unsigned long long>(all.early),
      static_cast<unsigned long long>(counts->offloaded.load()),
      static_cast<unsigned long long>(s.jobs_abandoned), static_cast<long long>(took));
}

TEST(Storm, OneLoopTwoWorkers) {
  storm(1);
}

TEST(Storm, TwoLoopsTwoWorkers) {
  storm(2);
}

}  // namespace
