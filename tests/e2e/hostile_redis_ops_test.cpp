// Hostile review of the mailbox on Redis from the operator's side: a Redis that is
// reconfigured, paused, out of memory, or whose connections are killed while tether uses it
// (CONFIG SET, CLIENT PAUSE, CLIENT KILL, SCRIPT FLUSH, FLUSHALL). Real redis-servers, real
// sockets, tetherd's demo routes and the public Mailbox API only.
//
// The promise under test (README, "Several instances behind one Redis"): a value is never
// lost and never delivered twice outside the documented windows, the poster's 200/202 says
// what really happened, and a call answered 503 had no effect.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/gate.hpp"
#include "support/http_client.hpp"
#include "support/mailbox_requests.hpp"
#include "support/redis_mailbox.hpp"
#include "support/redis_server.hpp"
#include "support/resp_client.hpp"
#include "support/test_server.hpp"
#include "tetherd/demo_routes.hpp"

namespace {

using namespace std::chrono_literals;
using tt::Resp;

std::atomic<int> g_blocking{0};
std::atomic<int> g_delivered{0};
std::atomic<int> g_release{0};

// tetherd's routes plus /block?ms=N, which holds the loop thread (a slow handler).
void routes(tether::Server& s) {
  tetherd::add_demo_routes(s);
  tt::add_block_route(s, g_blocking);
}

// routes() plus GET /hold/{id}: a parked wait (10 s) whose continuation, given a value, does
// some work on the loop before answering (it holds until the test releases it, 5 s at most).
void hold_routes(tether::Server& s) {
  routes(s);
  s.get("/hold/{id}", [&s](tether::Request& req, tether::Response res) {
    s.mailbox().wait(res, std::string(req.param("id")), std::chrono::milliseconds(10000),
                     [](tether::Response r, tether::MailboxTake take, std::string value) {
                       if (take != tether::MailboxTake::Value) {
                         return void(r.send(take == tether::MailboxTake::TimedOut ? 204 : 503));
                       }
                       g_delivered.store(1);
                       const int64_t end = tt::now_ms() + 5000;
                       while (g_release.load() == 0 && tt::now_ms() < end) {
                         std::this_thread::sleep_for(1ms);
                       }
                       r.send(200, value, "application/octet-stream");
                     });
  });
}

tether::ServerOptions on_redis(const tt::RedisServer& redis, unsigned loops, uint32_t timeout_ms,
                               uint32_t transit_ms) {
  tether::ServerOptions o = tt::mailbox_redis_options(redis, loops, timeout_ms, transit_ms);
  o.drain_timeout_ms = 3000;
  return o;
}

bool up(tt::TestServer& s, int ms = 10000) {
  return tt::mailbox_backend_up(s, ms);
}

bool waiters(tt::TestServer& s, uint64_t n) {
  return tt::mailbox_waiters_parked(s, n, 10000);
}

std::string get(const std::string& id, uint32_t wait_ms) {
  return tt::mailbox_get(id, wait_ms);
}

// "used_memory:<n>" out of INFO memory.
uint64_t used_memory(Resp& r) {
  const std::string info = r.call({"INFO", "memory"});
  const auto at = info.find("used_memory:");
  if (at == std::string::npos) return 0;
  return std::strtoull(info.c_str() + at + 12, nullptr, 10);
}

// Takes `id` on `port` (GET wait_ms=0) until it answers 200 or `timeout_ms` passes: the body,
// or empty when nothing was there.
std::optional<std::string> take_within(uint16_t port, const std::string& id, int timeout_ms) {
  const int64_t end = tt::now_ms() + timeout_ms;
  do {
    tt::Client c(port);
    auto r = tt::roundtrip(c, get(id, 0), 3000);
    if (r.status == 200) return r.body;
    std::this_thread::sleep_for(50ms);
  } while (tt::now_ms() < end);
  return std::nullopt;
}

class HostileRedisOps : public ::testing::Test {
 protected:
  void SetUp() override {
    if (tt::RedisServer::binary().empty()) GTEST_SKIP() << "redis-server is not on PATH";
    g_blocking = 0;
    g_delivered = 0;
    g_release = 0;
  }
};

// ------------------------------------------------------------------ a stalled instance

// Redis is briefly paused by the operator (CLIENT PAUSE 400, well under the 1 s command
// timeout, as a failover does), so a POST's script runs ~400 ms after it was sent -- in
// time, before its Redis-side deadline (timeout/2) -- and its reply waits in the socket.
// Meanwhile the instance's loop is busy (a slow handler, 1.5 s). When the loop wakes, its
// timers run before it reads the socket: the command "timed out", the POST is answered 503
// "nothing was stored" -- and the value is stored.
TEST_F(HostileRedisOps, APostAnswered503AfterItsInstanceStalledStoredNothing) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis, 1, 1000, 5000), routes);
  ASSERT_TRUE(up(a));
  Resp resp(redis.port());
  ASSERT_EQ(resp.call({"CLIENT", "PAUSE", "400"}), "OK");
  tt::Client poster(a.port());
  ASSERT_TRUE(poster.send(tt::mailbox_post("stall", "v1")));
  std::this_thread::sleep_for(60ms);  // the script is in Redis' socket buffer by now
  tt::Client blocker(a.port());
  ASSERT_TRUE(blocker.send("GET /block?ms=1500 HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto p = poster.read_response(8000);
  ASSERT_TRUE(p) << "the post hung";
  ASSERT_TRUE(blocker.read_response(5000));
  ASSERT_TRUE(up(a));
  EXPECT_TRUE(p->status == 202 || p->status == 503) << p->status;
  tt::Client g(a.port());
  auto r = tt::roundtrip(g, get("stall", 0));
  if (p->status == 503) {
    EXPECT_EQ(r.status, 404) << "the POST was answered 503 (nothing stored) but the id holds '"
                             << r.body << "'";
  } else {
    EXPECT_EQ(r.status, 200);
  }
}

// ------------------------------------------------------------------ a lost acknowledgement

// A value is offered to a waiter on A, claimed, and handed to its continuation; while the
// continuation runs, the operator kills the normal client connections (CLIENT KILL TYPE
// normal; a Redis restart or a network blip does the same). A reconnects within ~50 ms,
// long before the transit timeout (1 s), but the acknowledgement that was to follow the
// continuation is never retried: after the transit timeout the value "returns" to its id,
// the poster is told 202 "stored" (it was delivered), and the next GET takes it again.
TEST_F(HostileRedisOps, AnAckLostWithAKilledConnectionDoesNotDeliverTheValueTwice) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis, 1, 500, 1000), hold_routes);
  tt::TestServer b(on_redis(redis, 1, 500, 1000), routes);
  ASSERT_TRUE(up(a) && up(b));
  tt::Client waiter(a.port());
  ASSERT_TRUE(waiter.send("GET /hold/dup HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(waiters(a, 1));
  tt::Client poster(b.port());
  ASSERT_TRUE(poster.send(tt::mailbox_post("dup", "once")));
  ASSERT_TRUE(tt::eventually([] { return g_delivered.load() == 1; }, 5000));
  Resp resp(redis.port());
  const std::string killed = resp.call({"CLIENT", "KILL", "TYPE", "normal"});
  g_release = 1;
  auto w = waiter.read_response(6000);
  ASSERT_TRUE(w);
  ASSERT_EQ(w->status, 200);
  ASSERT_EQ(w->body, "once");
  auto p = poster.read_response(8000);
  ASSERT_TRUE(p) << "the post hung";
  ASSERT_TRUE(up(a) && up(b));
  // Give the transit timeout (1 s) and a re-check (1 s) time to act, then look for a copy.
  auto again = take_within(b.port(), "dup", 3500);
  EXPECT_FALSE(again) << "delivered twice: the waiter got 'once' and then a GET got '"
                      << again.value_or("") << "' (CLIENT KILL killed " << killed << ")";
  EXPECT_EQ(p->status, 200) << "the value was delivered, the poster was told " << p->status << " "
                            << p->body;
}

// ------------------------------------------------------------------ DELETE while Redis is paused

// A stored value; the operator pauses writes (CLIENT PAUSE 1500 WRITE) and a DELETE times
// out: the route answers 404 "no value for this id" -- but the value is there, and a GET
// after the pause takes it. A call Redis could not answer must be 503 (Retry-After).
TEST_F(HostileRedisOps, ADeleteRedisCouldNotAnswerIsA503NotANoValue) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis, 1, 500, 1000), routes);
  ASSERT_TRUE(up(a));
  tt::Client c(a.port());
  ASSERT_EQ(tt::roundtrip(c, tt::mailbox_post("del", "still here")).status, 202);
  Resp resp(redis.port());
  const int64_t paused_at = tt::now_ms();
  ASSERT_EQ(resp.call({"CLIENT", "PAUSE", "1500", "WRITE"}), "OK");
  auto d = tt::roundtrip(c, tt::mailbox_delete("del"), 5000);
  // After the pause: the value is still there (the DELETE did nothing, as it should).
  ASSERT_TRUE(tt::eventually([&] { return tt::now_ms() > paused_at + 1600; }, 3000));
  ASSERT_TRUE(up(a));
  auto left = take_within(a.port(), "del", 3000);
  EXPECT_EQ(left.value_or("<nothing>"), "still here") << "the DELETE that timed out ran anyway";
  EXPECT_EQ(d.status, 503) << "DELETE answered " << d.status << " '" << d.body
                           << "' while Redis did not answer; the value was still there";
}

// ------------------------------------------------------------------ maxmemory

// Redis reaches maxmemory (noeviction: it refuses writes that grow memory). A waiter parked
// before: a POST offers it the value (the post's first write is an LPOP, which Redis
// allows), but the waiter's 'claim' (first write an HSET) is refused with OOM. The wait "goes
// on" -- yet its entry is gone from Redis' waiter list, so when the value comes back after
// the transit timeout it is stored next to a waiter that will never be offered it, and the
// waiter ends 204 "nothing arrived" at its deadline while its id holds the value.
TEST_F(HostileRedisOps, AtMaxmemoryAParkedWaiterIsNotLeftWaitingBesideItsStoredValue) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis, 1, 500, 1000), routes);
  ASSERT_TRUE(up(a));
  tt::Client waiter(a.port());
  ASSERT_TRUE(waiter.send(get("oom", 5000)));
  ASSERT_TRUE(waiters(a, 1));
  Resp resp(redis.port());
  ASSERT_EQ(resp.call({"CONFIG", "SET", "maxmemory-policy", "noeviction"}), "OK");
  ASSERT_EQ(resp.call({"CONFIG", "SET", "maxmemory", "1"}), "OK");
  ASSERT_EQ(resp.call({"SET", "probe", "x"}).substr(0, 3), "OOM");
  tt::Client poster(a.port());
  const int64_t t0 = tt::now_ms();
  auto p = tt::roundtrip(poster, tt::mailbox_post("oom", "for the waiter"), 8000);
  auto w = waiter.read_response(8000);
  const int64_t waited = tt::now_ms() - t0;
  ASSERT_EQ(resp.call({"CONFIG", "SET", "maxmemory", "0"}), "OK");
  ASSERT_TRUE(w) << "the waiter hung";
  Resp look(redis.port());
  const std::string stored = look.call({"GET", "tether:mailbox:v:oom"});
  // The value went to the waiter (200), or the post was refused (503) and stored nothing,
  // so the waiter's 204 at its deadline is the truth. A live waiter told "nothing arrived"
  // while its value sat stored is the break.
  if (w->status == 204) {
    EXPECT_EQ(p.status, 503) << "the waiter was answered 204 after " << waited
                             << " ms; the post answered " << p.status << "; Redis holds '" << stored
                             << "' for the id";
    EXPECT_EQ(stored, "<nil>") << "a value sat stored beside a live waiter told 204";
  }
  if (w->status == 200) {
    EXPECT_EQ(w->body, "for the waiter");
    EXPECT_EQ(p.status, 200);
  }
  if (p.status == 202) {
    EXPECT_EQ(stored, "for the waiter");
  }
}

// maxmemory with noeviction is how an operator bounds Redis: a plain SET is refused with
// OOM. A mailbox post must be refused too (503) rather than store past the bound: every
// script's first write (ZREMRANGEBYSCORE) is one Redis lets through at maxmemory, and a
// script that has written once may write anything after it.
TEST_F(HostileRedisOps, PostsAreRefusedOnceRedisIsAtMaxmemory) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tether::ServerOptions o = on_redis(redis, 1, 1000, 2000);
  tt::TestServer a(o, routes);
  ASSERT_TRUE(up(a));
  Resp resp(redis.port());
  const uint64_t base = used_memory(resp);
  ASSERT_GT(base, 0u);
  const uint64_t limit = base + 1024 * 1024;
  ASSERT_EQ(resp.call({"CONFIG", "SET", "maxmemory-policy", "noeviction"}), "OK");
  ASSERT_EQ(resp.call({"CONFIG", "SET", "maxmemory", std::to_string(limit)}), "OK");
  tt::Client c(a.port());
  const std::string value(60 * 1024, 'm');
  int stored = 0, refused = 0, over_limit_202 = 0;
  for (int i = 0; i < 80; ++i) {
    const bool over = used_memory(resp) > limit;
    auto r = tt::roundtrip(c, tt::mailbox_post("mm" + std::to_string(i), value), 5000);
    ASSERT_TRUE(r.status == 202 || r.status == 503) << r.status << " " << r.body;
    if (r.status == 202) {
      ++stored;
      if (over) ++over_limit_202;
    } else {
      ++refused;
    }
  }
  const uint64_t used = used_memory(resp);
  const std::string plain = resp.call({"SET", "plain", value});
  ASSERT_EQ(resp.call({"CONFIG", "SET", "maxmemory", "0"}), "OK");
  EXPECT_EQ(plain.substr(0, 3), "OOM") << "the bound was not reached";
  EXPECT_EQ(over_limit_202, 0) << stored << " posts stored, " << refused << " refused; "
                               << over_limit_202 << " stored while Redis was over maxmemory ("
                               << used / 1024 << " KiB used, limit " << limit / 1024 << " KiB)";
  EXPECT_LE(used, limit + 256 * 1024);
}

// ------------------------------------------------------------------ killed connections

// 120 waiters parked on A (two loops); B posts a value to each while the operator kills
// every subscriber connection (CLIENT KILL TYPE pubsub) in the middle. Parked waits may end
// 503 (documented), but every value goes to exactly one place: its waiter, or its id.
TEST_F(HostileRedisOps, SubscribersKilledMidTrafficLoseAndDuplicateNothing) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis, 2, 1000, 1000), routes);
  tt::TestServer b(on_redis(redis, 2, 1000, 1000), routes);
  ASSERT_TRUE(up(a) && up(b));
  constexpr int kN = 120;
  std::vector<std::unique_ptr<tt::Client>> ws, ps;
  for (int i = 0; i < kN; ++i) {
    ws.push_back(std::make_unique<tt::Client>(a.port()));
    ASSERT_TRUE(ws.back()->send(get("k" + std::to_string(i), 15000)));
  }
  ASSERT_TRUE(waiters(a, kN));
  Resp resp(redis.port());
  for (int i = 0; i < kN; ++i) {
    ps.push_back(std::make_unique<tt::Client>(b.port()));
    ASSERT_TRUE(
        ps.back()->send(tt::mailbox_post("k" + std::to_string(i), "v" + std::to_string(i))));
    if (i == kN / 2) resp.call({"CLIENT", "KILL", "TYPE", "pubsub"});
  }
  int lost = 0, twice = 0, lied = 0, delivered = 0, w503 = 0;
  std::string detail;
  for (int i = 0; i < kN; ++i) {
    const std::string id = "k" + std::to_string(i), v = "v" + std::to_string(i);
    auto p = ps[static_cast<size_t>(i)]->read_response(10000);
    auto w = ws[static_cast<size_t>(i)]->read_response(16000);
    ASSERT_TRUE(p) << "post " << i << " hung";
    ASSERT_TRUE(w) << "waiter " << i << " hung";
    int copies = (w->status == 200 && w->body == v) ? 1 : 0;
    delivered += copies;
    if (w->status == 503) ++w503;
    ASSERT_TRUE(up(a) && up(b));
    auto left = take_within(b.port(), id, 0);
    if (left && *left == v) ++copies;
    if (copies > 1) ++twice;
    if (copies == 0 && p->status != 503) ++lost;
    if (p->status == 200 && !(w->status == 200)) ++lied;
    if (p->status == 202 && w->status == 200) ++lied;
    if ((copies != 1 || p->status == 503) && detail.size() < 400) {
      detail += " [" + id + ": post " + std::to_string(p->status) + ", waiter " +
                std::to_string(w->status) + ", left " + (left ? *left : "-") + "]";
    }
  }
  EXPECT_EQ(lost, 0) << detail;
  EXPECT_EQ(twice, 0) << detail;
  EXPECT_EQ(lied, 0) << detail;
  RecordProperty("delivered", delivered);
  RecordProperty("waiters_503", w503);
}

// The operator flushes the script cache (SCRIPT FLUSH) while waiters are parked and posts
// flow: EVALSHA answers NOSCRIPT, the mailbox falls back to EVAL; nothing is lost or refused.
TEST_F(HostileRedisOps, ScriptFlushMidTrafficIsInvisible) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis, 2, 1000, 1000), routes);
  tt::TestServer b(on_redis(redis, 2, 1000, 1000), routes);
  ASSERT_TRUE(up(a) && up(b));
  Resp resp(redis.port());
  for (int round = 0; round < 10; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::string id = "sf" + std::to_string(round);
    tt::Client w(a.port());
    const uint64_t before = a.stats().mailbox_waiters;
    ASSERT_TRUE(w.send(get(id, 5000)));
    ASSERT_TRUE(waiters(a, before + 1));
    ASSERT_EQ(resp.call({"SCRIPT", "FLUSH"}), "OK");
    tt::Client p(b.port());
    EXPECT_EQ(tt::roundtrip(p, tt::mailbox_post(id, "x" + id)).status, 200);
    auto r = w.read_response(5000);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "x" + id);
    ASSERT_EQ(resp.call({"SCRIPT", "FLUSH"}), "OK");
    EXPECT_EQ(tt::roundtrip(p, tt::mailbox_post(id + "s", "s")).status, 202);
    tt::Client g(a.port());
    EXPECT_EQ(tt::roundtrip(g, get(id + "s", 0)).body, "s");
  }
  EXPECT_EQ(a.stats().mailbox_backend_errors + b.stats().mailbox_backend_errors, 0u);
}

// The operator caps subscriber output buffers (client-output-buffer-limit pubsub 1kb 1kb 0):
// an offer carrying an 8 KiB value makes Redis drop the waiter's subscriber. The waiter
// must hear something (503) within bounds, and the value must not be lost or doubled.
TEST_F(HostileRedisOps, APubsubOutputLimitThatDropsTheSubscriberLosesNoValue) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis, 1, 1000, 1000), routes);
  tt::TestServer b(on_redis(redis, 1, 1000, 1000), routes);
  ASSERT_TRUE(up(a) && up(b));
  Resp resp(redis.port());
  ASSERT_EQ(resp.call({"CONFIG", "SET", "client-output-buffer-limit", "pubsub 1kb 1kb 0"}), "OK");
  const std::string big(8 * 1024, 'b');
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::string id = "ob" + std::to_string(round);
    ASSERT_TRUE(up(a) && up(b));
    tt::Client w(a.port());
    const uint64_t before = a.stats().mailbox_waiters;
    ASSERT_TRUE(w.send(get(id, 8000)));
    ASSERT_TRUE(waiters(a, before + 1));
    tt::Client p(b.port());
    auto pr = tt::roundtrip(p, tt::mailbox_post(id, big), 8000);
    auto wr = w.read_response(9000);
    ASSERT_TRUE(wr) << "the waiter hung";
    ASSERT_TRUE(up(a) && up(b));
    int copies = (wr->status == 200 && wr->body == big) ? 1 : 0;
    auto left = take_within(b.port(), id, 0);
    if (left && *left == big) ++copies;
    EXPECT_EQ(copies, 1) << "post " << pr.status << ", waiter " << wr->status;
    if (pr.status == 200) {
      EXPECT_EQ(wr->status, 200);
    }
  }
}

// The operator sets a password while tether runs, and the connections drop: reconnects fail
// AUTH (NOAUTH). Calls answer 503 within the command timeout, other routes serve, and
// everything works again once the password is lifted.
TEST_F(HostileRedisOps, APasswordSetUnderneathGives503sThenRecovers) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis, 2, 500, 1000), routes);
  ASSERT_TRUE(up(a));
  tt::Client w(a.port());
  ASSERT_TRUE(w.send(get("pw", 10000)));
  ASSERT_TRUE(waiters(a, 1));
  Resp resp(redis.port());
  ASSERT_EQ(resp.call({"CONFIG", "SET", "requirepass", "s3cret-new"}), "OK");
  resp.call({"CLIENT", "KILL", "TYPE", "normal"});
  resp.call({"CLIENT", "KILL", "TYPE", "pubsub"});
  auto wr = w.read_response(3000);
  ASSERT_TRUE(wr) << "a parked wait hung after its connections were killed";
  EXPECT_EQ(wr->status, 503);
  ASSERT_TRUE(
      a.wait_for([](const tether::ServerStats& s) { return s.mailbox_backend_up == 0; }, 3000));
  tt::Client c(a.port());
  for (int i = 0; i < 5; ++i) {
    const int64_t t0 = tt::now_ms();
    auto p = tt::roundtrip(c, tt::mailbox_post("pw" + std::to_string(i), "v"), 3000);
    EXPECT_EQ(p.status, 503);
    EXPECT_LT(tt::now_ms() - t0, 1500);
  }
  EXPECT_EQ(tt::roundtrip(c, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
  ASSERT_EQ(resp.call({"CONFIG", "SET", "requirepass", ""}), "OK");
  ASSERT_TRUE(up(a));
  EXPECT_EQ(tt::roundtrip(c, tt::mailbox_post("pw0", "after")).status, 202)
      << "a post answered 503 while AUTH failed was stored anyway";
  tt::Client g(a.port());
  EXPECT_EQ(tt::roundtrip(g, get("pw0", 0)).body, "after");
}

// FLUSHALL with waiters parked: their entries are gone from Redis. Nothing may hang past its
// deadline, and a value posted afterwards is not lost.
TEST_F(HostileRedisOps, FlushallWithParkedWaitersHangsNothingAndLosesNothingAfter) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis, 2, 500, 1000), routes);
  ASSERT_TRUE(up(a));
  std::vector<std::unique_ptr<tt::Client>> ws;
  for (int i = 0; i < 10; ++i) {
    ws.push_back(std::make_unique<tt::Client>(a.port()));
    ASSERT_TRUE(ws.back()->send(get("fa" + std::to_string(i), 1500)));
  }
  ASSERT_TRUE(waiters(a, 10));
  Resp resp(redis.port());
  ASSERT_EQ(resp.call({"FLUSHALL"}), "OK");
  tt::Client c(a.port());
  std::vector<int> post_status;
  for (int i = 0; i < 10; ++i) {
    post_status.push_back(
        tt::roundtrip(c, tt::mailbox_post("fa" + std::to_string(i), "v"), 5000).status);
  }
  for (int i = 0; i < 10; ++i) {
    auto r = ws[static_cast<size_t>(i)]->read_response(4000);
    ASSERT_TRUE(r) << "waiter " << i << " hung past its deadline";
    int copies = r->status == 200 ? 1 : 0;
    auto left = take_within(a.port(), "fa" + std::to_string(i), 0);
    if (left) ++copies;
    if (post_status[static_cast<size_t>(i)] == 200 || post_status[static_cast<size_t>(i)] == 202) {
      EXPECT_EQ(copies, 1) << "fa" << i << ": post " << post_status[static_cast<size_t>(i)]
                           << ", waiter " << r->status;
    }
  }
}

// proto-max-bulk-len lowered by the operator (1 MB) under tether's own value limit (2 MB):
// one POST of 1.5 MB was refused by Redis with a protocol error, and Redis closed the loop's
// command connection, which failed every waiter parked on the loop for other ids. Tether now
// reads the limit when it connects (and at each re-check) and refuses such a value itself
// (413). A limit lowered while running is seen within a re-check (1 s); a post in between
// still costs the loop its connection (README, Limits).
TEST_F(HostileRedisOps, AValueOverProtoMaxBulkLenDoesNotFailOtherWaiters) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  Resp resp(redis.port());
  ASSERT_EQ(resp.call({"CONFIG", "SET", "proto-max-bulk-len", "1mb"}), "OK");
  tether::ServerOptions o = on_redis(redis, 1, 1000, 1000);
  o.mailbox_max_value_bytes = 2 * 1024 * 1024;
  o.max_body_bytes = 4 * 1024 * 1024;
  tt::TestServer a(o, routes);
  ASSERT_TRUE(up(a));
  std::vector<std::unique_ptr<tt::Client>> ws;
  for (int i = 0; i < 5; ++i) {
    ws.push_back(std::make_unique<tt::Client>(a.port()));
    ASSERT_TRUE(ws.back()->send(get("pm" + std::to_string(i), 8000)));
  }
  ASSERT_TRUE(waiters(a, 5));
  tt::Client big(a.port());
  auto p = tt::roundtrip(big, tt::mailbox_post("huge", std::string(1536 * 1024, 'h')), 5000);
  EXPECT_EQ(p.status, 413) << p.body;
  ASSERT_TRUE(up(a));
  tt::Client c(a.port());
  int failed = 0;
  for (int i = 0; i < 5; ++i) {
    auto pr = tt::roundtrip(c, tt::mailbox_post("pm" + std::to_string(i), "v"), 5000);
    auto wr = ws[static_cast<size_t>(i)]->read_response(9000);
    ASSERT_TRUE(wr);
    if (wr->status != 200) ++failed;
    if (wr->status == 200) {
      EXPECT_EQ(pr.status, 200);
    }
  }
  EXPECT_EQ(failed, 0) << failed
                       << " of 5 waiters parked for other ids were failed by one "
                          "oversized post";
  tt::Client g(a.port());
  EXPECT_EQ(tt::roundtrip(g, get("huge", 0)).status, 404);
}

}  // namespace
