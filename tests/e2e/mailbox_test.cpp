// Mailbox over real sockets through the demo routes (POST/GET/DELETE /mailbox/{id}): every
// status, 1,000 concurrent long-poll waiters each handed exactly its own value (one loop and
// two loops, where the shard owner is often another loop), waiters that leave are removed
// and never handed a value, and stored values expire back to an empty mailbox.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.hpp"
#include "support/mailbox_requests.hpp"
#include "support/probes.hpp"
#include "support/test_server.hpp"
#include "tetherd/demo_routes.hpp"

namespace {

constexpr const char* kDelivered = R"({"delivered":true})";
constexpr const char* kStored = R"({"delivered":false})";

void demo_routes(tether::Server& s) {
  tetherd::add_demo_routes(s);
}

using tt::ensure_fds;

tether::ServerOptions opts(unsigned loops = 1) {
  tether::ServerOptions o;
  o.loops = loops;
  o.workers = 1;
  return o;
}

// ---- statuses ----------------------------------------------------------------------------

TEST(Mailbox, PostStoredThenConflictThenTakeThenEmpty) {
  tt::TestServer srv(opts(), demo_routes);
  tt::Client c(srv.port());
  ASSERT_TRUE(c.connected());

  auto r = tt::roundtrip(c, tt::mailbox_post("a", "first"));
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.body, kStored);
  EXPECT_EQ(srv.stats().mailbox_ids_stored, 1u);

  r = tt::roundtrip(c, tt::mailbox_post("a", "second"));
  EXPECT_EQ(r.status, 409);

  r = tt::roundtrip(c, tt::mailbox_get("a"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "first");  // the conflicting post did not overwrite it

  r = tt::roundtrip(c, tt::mailbox_get("a"));  // one-shot: gone, and no wait asked for
  EXPECT_EQ(r.status, 404);

  r = tt::roundtrip(c, tt::mailbox_get("never-posted"));
  EXPECT_EQ(r.status, 404);

  auto s = srv.stats();
  EXPECT_EQ(s.mailbox_ids_stored, 0u);
  EXPECT_EQ(s.mailbox_waiters, 0u);
  EXPECT_EQ(s.mailbox_delivered, 1u);
  EXPECT_EQ(s.mailbox_refused, 1u);
}

TEST(Mailbox, PostToParkedWaiterIsDelivered) {
  tt::TestServer srv(opts(), demo_routes);
  tt::Client waiter(srv.port());
  tt::Client poster(srv.port());
  ASSERT_TRUE(waiter.connected() && poster.connected());

  ASSERT_TRUE(waiter.send(tt::mailbox_get("x", 10000)));
  ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.mailbox_waiters == 1; }));
  EXPECT_EQ(waiter.read_some(50), 0u);  // parked: nothing answered yet

  auto r = tt::roundtrip(poster, tt::mailbox_post("x", "hello waiter"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kDelivered);

  auto w = waiter.read_response();
  ASSERT_TRUE(w);
  EXPECT_EQ(w->status, 200);
  EXPECT_EQ(w->body, "hello waiter");

  // The value went to the waiter: nothing stored, and the connection is still usable.
  EXPECT_EQ(tt::roundtrip(waiter, tt::mailbox_get("x")).status, 404);
  auto s = srv.stats();
  EXPECT_EQ(s.mailbox_waiters, 0u);
  EXPECT_EQ(s.mailbox_ids_stored, 0u);
  EXPECT_EQ(s.mailbox_delivered, 1u);
}

TEST(Mailbox, GetWithWaitOnStoredValueAnswersAtOnce) {
  tt::TestServer srv(opts(), demo_routes);
  tt::Client c(srv.port());
  ASSERT_EQ(tt::roundtrip(c, tt::mailbox_post("k", "ready")).status, 202);
  int64_t t0 = tt::now_ms();
  auto r = tt::roundtrip(c, tt::mailbox_get("k", 10000), 3000);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ready");
  EXPECT_LT(tt::now_ms() - t0, 3000);
}

TEST(Mailbox, WaitWithNothingTimesOutWith204) {
  tt::TestServer srv(opts(), demo_routes);
  tt::Client c(srv.port());
  int64_t t0 = tt::now_ms();
  auto r = tt::roundtrip(c, tt::mailbox_get("nothing", 150), 5000);
  int64_t took = tt::now_ms() - t0;
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
  EXPECT_GE(took, 100);  // waited (tick granularity allows a little slack), then answered
  ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) {
    return s.mailbox_timed_out == 1 && s.mailbox_waiters == 0;
  }));
  // A later post is stored: the timed-out waiter is gone.
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_post("nothing", "late")).status, 202);
}

TEST(Mailbox, TooLargeValueIs413) {
  tether::ServerOptions o = opts();
  o.mailbox_max_value_bytes = 16;
  tt::TestServer srv(o, demo_routes);
  tt::Client c(srv.port());
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_post("big", std::string(17, 'x'))).status, 413);
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_get("big")).status, 404);
  auto r = tt::roundtrip(c, tt::mailbox_post("big", std::string(16, 'y')));
  EXPECT_EQ(r.status, 202);
  r = tt::roundtrip(c, tt::mailbox_get("big"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, std::string(16, 'y'));
  EXPECT_EQ(srv.stats().mailbox_refused, 1u);
}

TEST(Mailbox, MaxIdsGives503ForPostsAndWaits) {
  tether::ServerOptions o = opts();
  o.mailbox_max_ids = 1;
  tt::TestServer srv(o, demo_routes);
  tt::Client c(srv.port());
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_post("one", "1")).status, 202);
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_post("two", "2")).status, 503);
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_get("two", 5000), 3000).status,
            503);                                                   // wait refused at once
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_get("two")).status, 404);  // no wait: just empty
  EXPECT_EQ(srv.stats().mailbox_refused, 2u);

  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_get("one")).status, 200);  // frees the only id
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_post("two", "2")).status, 202);
}

TEST(Mailbox, MaxWaitersPerIdGives503) {
  tether::ServerOptions o = opts();
  o.mailbox_max_waiters_per_id = 2;
  tt::TestServer srv(o, demo_routes);
  tt::Client w1(srv.port()), w2(srv.port()), w3(srv.port()), poster(srv.port());
  ASSERT_TRUE(w1.send(tt::mailbox_get("busy", 10000)));
  ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.mailbox_waiters == 1; }));
  ASSERT_TRUE(w2.send(tt::mailbox_get("busy", 10000)));
  ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.mailbox_waiters == 2; }));
  auto r = tt::roundtrip(w3, tt::mailbox_get("busy", 10000), 3000);
  EXPECT_EQ(r.status, 503);

  // The two parked ones are served in arrival order.
  EXPECT_EQ(tt::roundtrip(poster, tt::mailbox_post("busy", "v1")).status, 200);
  EXPECT_EQ(tt::roundtrip(poster, tt::mailbox_post("busy", "v2")).status, 200);
  auto a = w1.read_response();
  auto b = w2.read_response();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->body, "v1");
  EXPECT_EQ(b->body, "v2");
}

TEST(Mailbox, BadWaitMsIs400) {
  tt::TestServer srv(opts(), demo_routes);
  tt::Client c(srv.port());
  EXPECT_EQ(tt::roundtrip(c, "GET /mailbox/a?wait_ms=abc HTTP/1.1\r\nHost: t\r\n\r\n").status, 400);
  EXPECT_EQ(srv.stats().mailbox_waiters, 0u);
}

TEST(Mailbox, DeleteDropsStoredValue) {
  tt::TestServer srv(opts(), demo_routes);
  tt::Client c(srv.port());
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_delete("d")).status, 404);
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_post("d", "v")).status, 202);
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_delete("d")).status, 204);
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_delete("d")).status, 404);
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_get("d")).status, 404);
  EXPECT_EQ(srv.stats().mailbox_ids_stored, 0u);
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_post("d", "again")).status,
            202);  // no conflict after a drop
}

TEST(Mailbox, WaitIsCappedByMaxWaitMs) {
  tether::ServerOptions o = opts();
  o.mailbox_max_wait_ms = 100;
  tt::TestServer srv(o, demo_routes);
  tt::Client c(srv.port());
  int64_t t0 = tt::now_ms();
  auto r = tt::roundtrip(c, tt::mailbox_get("capped", 60000), 3000);
  EXPECT_EQ(r.status, 204);
  EXPECT_LT(tt::now_ms() - t0, 3000);
  EXPECT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.mailbox_timed_out == 1; }));
}

TEST(Mailbox, WaitersTimeOutAcrossTwoLoops) {
  constexpr int kN = 40;
  tt::TestServer srv(opts(2), demo_routes);
  std::vector<std::unique_ptr<tt::Client>> waiters;
  for (int i = 0; i < kN; ++i) {
    waiters.push_back(std::make_unique<tt::Client>(srv.port()));
    ASSERT_TRUE(waiters.back()->send(tt::mailbox_get("t-" + std::to_string(i), 150)));
  }
  for (int i = 0; i < kN; ++i) {
    auto r = waiters[i]->read_response(5000);
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 204) << i;
  }
  EXPECT_TRUE(srv.wait_for([](const tether::ServerStats& s) {
    return s.mailbox_timed_out == kN && s.mailbox_waiters == 0;
  })) << srv.stats().mailbox_timed_out;
  tt::Client c(srv.port());
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_post("t-0", "late")).status, 202);
}

// A parked wait answers by its own deadline: response_timeout_ms does not cut a long poll
// (no 504), the waiter still gets a value posted after that deadline, and a wait longer than
// the response deadline with nothing posted ends in 204.
TEST(Mailbox, LongPollOutlivesResponseDeadline) {
  constexpr int kN = 10;
  tether::ServerOptions o = opts(2);
  o.response_timeout_ms = 100;
  tt::TestServer srv(o, demo_routes);
  std::vector<std::unique_ptr<tt::Client>> waiters;
  for (int i = 0; i < kN; ++i) {
    waiters.push_back(std::make_unique<tt::Client>(srv.port()));
    ASSERT_TRUE(waiters.back()->send(tt::mailbox_get("dl-" + std::to_string(i), 10000)));
  }
  tt::Client short_wait(srv.port());
  ASSERT_TRUE(short_wait.send(tt::mailbox_get("dl-short", 400)));
  ASSERT_TRUE(
      srv.wait_for([](const tether::ServerStats& s) { return s.mailbox_waiters == kN + 1; }));

  // Past the response deadline several times over: the short wait ends with 204, not 504.
  auto r = short_wait.read_response(5000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(srv.stats().responses_timed_out, 0u);

  tt::Client c(srv.port());
  for (int i = 0; i < kN; ++i) {
    auto p =
        tt::roundtrip(c, tt::mailbox_post("dl-" + std::to_string(i), "late-" + std::to_string(i)));
    EXPECT_EQ(p.status, 200) << i;
    EXPECT_EQ(p.body, kDelivered) << i;
  }
  for (int i = 0; i < kN; ++i) {
    auto w = waiters[i]->read_response(5000);
    ASSERT_TRUE(w) << i;
    EXPECT_EQ(w->status, 200) << i;
    EXPECT_EQ(w->body, "late-" + std::to_string(i)) << i;
  }
  EXPECT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.mailbox_waiters == 0; }));
  EXPECT_EQ(srv.stats().responses_timed_out, 0u);
}

// A waiter and the post for it pipelined on one connection: answered in order, the waiter
// with the value (the post is not held back behind the wait it satisfies).
TEST(Mailbox, PipelinedWaitThenPostOnOneConnection) {
  tt::TestServer srv(opts(), demo_routes);
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::mailbox_get("pipe", 3000) + tt::mailbox_post("pipe", "self")));
  auto a = c.read_response(5000);
  auto b = c.read_response(5000);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->body, "self");
  EXPECT_EQ(b->status, 200);
  EXPECT_EQ(b->body, kDelivered);
}

// Stopping the server with parked waiters (on both loops) finishes: every client is answered
// or closed, and nothing touches a loop that is gone.
TEST(Mailbox, ShutdownWithParkedWaiters) {
  constexpr int kN = 100;
  std::vector<std::unique_ptr<tt::Client>> waiters;
  {
    tether::ServerOptions o = opts(2);
    o.drain_timeout_ms = 300;
    tt::TestServer srv(o, demo_routes);
    for (int i = 0; i < kN; ++i) {
      waiters.push_back(std::make_unique<tt::Client>(srv.port()));
      ASSERT_TRUE(waiters.back()->send(tt::mailbox_get("sd-" + std::to_string(i), 10000)));
    }
    ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.mailbox_waiters == kN; }));
    int64_t t0 = tt::now_ms();
    srv.server().stop();
    srv.server().wait();
    EXPECT_LT(tt::now_ms() - t0, 3000);
  }
  for (int i = 0; i < kN; ++i) {
    auto r = waiters[i]->read_response(2000);
    if (r) {
      EXPECT_NE(r->status, 200) << i;  // nobody posted: no value can arrive
      continue;
    }
    EXPECT_TRUE(waiters[i]->wait_closed(2000)) << i;
  }
}

// ---- 1,000 concurrent waiters ------------------------------------------------------------

void thousand_waiters(unsigned loops) {
  constexpr int kWaiters = 1000;
  constexpr int kPosters = 4;
  ASSERT_TRUE(ensure_fds(2 * kWaiters + 200)) << "cannot raise RLIMIT_NOFILE";
  tt::TestServer srv(opts(loops), demo_routes);

  std::vector<std::unique_ptr<tt::Client>> waiters;
  waiters.reserve(kWaiters);
  for (int i = 0; i < kWaiters; ++i) {
    waiters.push_back(std::make_unique<tt::Client>(srv.port()));
    ASSERT_TRUE(waiters.back()->connected()) << "waiter " << i;
    ASSERT_TRUE(waiters.back()->send(tt::mailbox_get("id-" + std::to_string(i), 10000))) << i;
  }
  ASSERT_TRUE(srv.wait_for(
      [](const tether::ServerStats& s) { return s.mailbox_waiters == kWaiters; }, 8000))
      << "parked: " << srv.stats().mailbox_waiters;
  EXPECT_EQ(srv.stats().mailbox_ids_stored, 0u);

  std::vector<int> order(kWaiters);
  for (int i = 0; i < kWaiters; ++i) order[i] = i;
  std::mt19937 rng(20240611);
  std::shuffle(order.begin(), order.end(), rng);

  std::atomic<int> delivered{0};
  std::vector<std::string> failures(kPosters);
  std::vector<std::thread> posters;
  for (int p = 0; p < kPosters; ++p) {
    posters.emplace_back([&, p] {
      tt::Client c(srv.port());
      if (!c.connected()) {
        failures[p] = "poster could not connect";
        return;
      }
      for (int k = p; k < kWaiters; k += kPosters) {
        int i = order[k];
        auto r = tt::roundtrip(
            c, tt::mailbox_post("id-" + std::to_string(i), "value-" + std::to_string(i)));
        if (r.status == 200 && r.body == kDelivered) {
          ++delivered;
        } else if (failures[p].empty()) {
          failures[p] =
              "post id-" + std::to_string(i) + ": " + std::to_string(r.status) + " " + r.body;
        }
      }
    });
  }
  for (auto& t : posters) t.join();
  for (const auto& f : failures) EXPECT_TRUE(f.empty()) << f;
  EXPECT_EQ(delivered.load(), kWaiters);

  int right = 0;
  for (int i = 0; i < kWaiters; ++i) {
    auto r = waiters[i]->read_response(5000);
    if (!r) {
      ADD_FAILURE() << "waiter " << i << " got no response";
      continue;
    }
    if (r->status == 200 && r->body == "value-" + std::to_string(i)) {
      ++right;
    } else {
      ADD_FAILURE() << "waiter " << i << ": " << r->status << " '" << r->body << "'";
    }
    EXPECT_TRUE(waiters[i]->buffered().empty()) << "waiter " << i << " got extra bytes";
  }
  EXPECT_EQ(right, kWaiters);
  EXPECT_TRUE(srv.wait_for([](const tether::ServerStats& s) {
    return s.mailbox_waiters == 0 && s.mailbox_ids_stored == 0 &&
           s.mailbox_delivered == static_cast<uint64_t>(kWaiters);
  })) << "waiters "
      << srv.stats().mailbox_waiters << " stored " << srv.stats().mailbox_ids_stored
      << " delivered " << srv.stats().mailbox_delivered;
  EXPECT_EQ(srv.stats().mailbox_timed_out, 0u);
  EXPECT_EQ(srv.stats().mailbox_refused, 0u);
}

TEST(Mailbox, ThousandConcurrentWaitersEachGetTheirValue) {
  thousand_waiters(1);
}

TEST(Mailbox, ThousandConcurrentWaitersAcrossTwoLoops) {
  thousand_waiters(2);
}

// Several waiters on one id, from connections on either loop: served oldest first.
TEST(Mailbox, WaitersOnOneIdAreServedInArrivalOrderAcrossTwoLoops) {
  constexpr int kN = 8;
  tt::TestServer srv(opts(2), demo_routes);
  std::vector<std::unique_ptr<tt::Client>> waiters;
  for (int i = 0; i < kN; ++i) {
    waiters.push_back(std::make_unique<tt::Client>(srv.port()));
    ASSERT_TRUE(waiters.back()->send(tt::mailbox_get("fifo", 10000)));
    ASSERT_TRUE(srv.wait_for([i](const tether::ServerStats& s) {
      return s.mailbox_waiters == static_cast<uint64_t>(i + 1);
    }));
  }
  tt::Client c(srv.port());
  for (int i = 0; i < kN; ++i) {
    EXPECT_EQ(tt::roundtrip(c, tt::mailbox_post("fifo", "n" + std::to_string(i))).status, 200) << i;
  }
  for (int i = 0; i < kN; ++i) {
    auto r = waiters[i]->read_response(5000);
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200) << i;
    EXPECT_EQ(r->body, "n" + std::to_string(i)) << i;
  }
}

// ---- waiters that leave ------------------------------------------------------------------

void departed_waiters(unsigned loops, int n) {
  ASSERT_TRUE(ensure_fds(2 * n + 200));
  tt::TestServer srv(opts(loops), demo_routes);
  std::vector<std::unique_ptr<tt::Client>> waiters;
  for (int i = 0; i < n; ++i) {
    waiters.push_back(std::make_unique<tt::Client>(srv.port()));
    ASSERT_TRUE(waiters.back()->connected());
    ASSERT_TRUE(waiters.back()->send(tt::mailbox_get("gone-" + std::to_string(i), 10000)));
  }
  ASSERT_TRUE(srv.wait_for([n](const tether::ServerStats& s) {
    return s.mailbox_waiters == static_cast<uint64_t>(n);
  })) << "parked: "
      << srv.stats().mailbox_waiters;

  for (int i = 0; i < n; ++i) waiters[i]->close(/*reset=*/i % 2 == 0);
  ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) {
    return s.mailbox_waiters == 0 && s.connections_active == 0;
  })) << "waiters left: "
      << srv.stats().mailbox_waiters;

  // Posts to those ids are stored, never handed to a departed waiter; the last waiter on each
  // of them then takes the stored value.
  tt::Client c(srv.port());
  for (int i : {0, 1, n / 2, n - 1}) {
    std::string id = "gone-" + std::to_string(i);
    auto r = tt::roundtrip(c, tt::mailbox_post(id, "v" + std::to_string(i)));
    EXPECT_EQ(r.status, 202) << id;
    EXPECT_EQ(r.body, kStored) << id;
    r = tt::roundtrip(c, tt::mailbox_get(id));
    EXPECT_EQ(r.status, 200) << id;
    EXPECT_EQ(r.body, "v" + std::to_string(i)) << id;
  }
  // Only the 4 GETs above. A value taken across loops counts once the taker's loop has
  // confirmed it to the shard's, which may be just after the client has its answer.
  EXPECT_TRUE(srv.wait_for([](const tether::ServerStats& st) { return st.mailbox_delivered == 4; }))
      << srv.stats().mailbox_delivered;
  auto s = srv.stats();
  EXPECT_EQ(s.mailbox_delivered, 4u);
  EXPECT_EQ(s.mailbox_timed_out, 0u);
  EXPECT_EQ(s.mailbox_ids_stored, 0u);
  EXPECT_EQ(s.mailbox_waiters, 0u);
}

TEST(Mailbox, DisconnectedWaitersAreRemoved) {
  departed_waiters(1, 200);
}

TEST(Mailbox, DisconnectedWaitersAreRemovedAcrossTwoLoops) {
  departed_waiters(2, 200);
}

// Clients that leave right after sending, while their wait may still be on its way to
// another loop's shard: none stays parked, and posts to their ids are stored.
TEST(Mailbox, WaitersLeavingWhileEnrollingAreRemoved) {
  constexpr int kN = 200;
  ASSERT_TRUE(ensure_fds(2 * kN + 200));
  tt::TestServer srv(opts(2), demo_routes);
  for (int i = 0; i < kN; ++i) {
    tt::Client c(srv.port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send(tt::mailbox_get("hasty-" + std::to_string(i), 10000)));
    c.close(/*reset=*/i % 2 == 0);
  }
  ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) {
    return s.connections_active == 0 && s.mailbox_waiters == 0;
  })) << "waiters left: "
      << srv.stats().mailbox_waiters << " connections: " << srv.stats().connections_active;
  tt::Client c(srv.port());
  for (int i = 0; i < kN; i += 37) {
    auto r = tt::roundtrip(c, tt::mailbox_post("hasty-" + std::to_string(i), "v"));
    EXPECT_EQ(r.status, 202) << i;
  }
  EXPECT_EQ(srv.stats().mailbox_delivered, 0u);
}

// ---- expiry --------------------------------------------------------------------------------

TEST(Mailbox, StoredValuesExpireBackToEmpty) {
  constexpr int kN = 500;
  tether::ServerOptions o = opts(2);
  o.mailbox_ttl_ms = 200;
  tt::TestServer srv(o, demo_routes);
  tt::Client c(srv.port());
  ASSERT_TRUE(c.connected());
  // Pipelined in batches: all 500 posts go out fast, answers read back in order.
  constexpr int kBatch = 50;
  for (int b = 0; b < kN; b += kBatch) {
    std::string batch;
    for (int i = b; i < b + kBatch; ++i) batch += tt::mailbox_post("exp-" + std::to_string(i), "v");
    ASSERT_TRUE(c.send(batch));
    for (int i = b; i < b + kBatch; ++i) {
      auto r = c.read_response();
      ASSERT_TRUE(r) << i;
      ASSERT_EQ(r->status, 202) << i;
    }
  }
  ASSERT_TRUE(srv.wait_for(
      [](const tether::ServerStats& s) {
        return s.mailbox_ids_stored == 0 && s.mailbox_expired == static_cast<uint64_t>(kN);
      },
      5000))
      << "stored " << srv.stats().mailbox_ids_stored << " expired " << srv.stats().mailbox_expired;
  EXPECT_EQ(srv.stats().mailbox_delivered, 0u);
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_get("exp-0")).status, 404);
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_get("exp-499")).status, 404);
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_post("exp-0", "fresh")).status,
            202);  // no conflict left behind
}

}  // namespace
