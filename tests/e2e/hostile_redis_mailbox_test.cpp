// Hostile review of the mailbox on Redis (ServerOptions::mailbox_redis): real redis-servers,
// real sockets, tetherd's demo routes and the public Mailbox API. Its five breaks are fixed:
// bounded calls carry the Redis time past which they do nothing (a call answered 503 never
// acts later), a wait takes a stored value into transit (acknowledged or refused, never
// lost), a loop claims an offered value before its continuation sees it (a stalled loop finds
// it recovered and delivers nothing), and mailbox_ttl_ms = 0 is refused with mailbox_redis.
//
// WAS (fixed): AGetAnswered503WhileRedisStalledDoesNotEatTheStoredValue — a stored value; Redis
//   SIGSTOPped; GET /mailbox/id?wait_ms=0 is answered 503 at the command timeout; after
//   SIGCONT the value is gone (GET 404): the 'wait' script that timed out was still in
//   Redis' socket buffer (the dropped connection is closed with FIN, not RST) and ran on
//   resume, taking the value for nobody. Lost. Cause: redis_mailbox.cpp:148 treats a
//   RedisFailure::timeout/disconnected ("may or may not have run", redis_reply.hpp:7) like
//   not_connected; nothing reconciles a take that may have run (redis_connection.cpp:447
//   drops the connection but cannot un-send the command).
// WAS (fixed): APostAnswered503WhileRedisStalledIsNotStoredBehindTheClientsBack — POST answered
//   503 + Retry-After: 1 while Redis is stalled, yet the post runs on resume and stores the
//   value; the client's retry gets 409 for its own value (same cause, redis_mailbox.cpp:85;
//   a post that timed out may have stored, been offered, or been delivered).
// WAS (fixed): AValueOfferedToAStalledInstanceIsNotDeliveredTwice — waiter parked on A; A's loop
//   stalls (a slow handler, 3 s > transit 500 ms) while B posts: Redis offers to A, recovers
//   the value after the transit timeout, tells the poster "stored" (202) and B's GET takes
//   it (200); then A wakes, reads the offer from its subscriber socket and hands the same
//   value to its waiter (200). Delivered twice. Cause: RedisMailbox::offer
//   (redis_mailbox.cpp:261) runs the continuation before the 'ack' (line 263) and ignores
//   the ack's 0 ("no longer yours"); the recover op (mailbox_script.cpp:137) re-places a
//   value its waiter's loop may already be delivering. The same happens to a SIGSTOPped
//   tetherd process or any loop stall longer than mailbox_redis_transit_ms.
// WAS (fixed): ATakeForAClientThatLeftIsPutBackEvenWhenANewPostRaces — a value stored; a GET whose
//   client resets before Redis answers, and a POST of a new value for the id, queue up
//   (Redis stalled ~ms, under the timeout): the take runs, the post finds the id empty and
//   stores, the 'restore' of the first value answers conflict: the first value is lost
//   (mailbox_lost 1, logged). Cause: redis_mailbox.cpp:159-165 — the take removes the value
//   from Redis before the loop knows its client is still there; the restore can lose to any
//   post in between.
// WAS (fixed): AZeroTtlNeverClaimsAValueWasStored — with mailbox_ttl_ms = 0 (accepted by start())
//   a POST answers 202 "stored" but nothing is stored (GET 404), and a parked waiter is never
//   offered the value (the local mailbox hands it to the waiter). Cause: mailbox_script.cpp
//   place() returns 'expired' before looking at waiters (expires = now + 0 <= now), and
//   redis_mailbox.cpp:100 maps every answer other than conflict/full to Stored.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

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

// tetherd's routes plus /block?ms=N, which holds the loop thread (a slow handler: a stalled
// instance without stopping the process).
void routes(tether::Server& s) {
  tetherd::add_demo_routes(s);
  tt::add_block_route(s, g_blocking);
}

tether::ServerOptions on_redis(const tt::RedisServer& redis, unsigned loops = 1) {
  tether::ServerOptions o = tt::mailbox_redis_options(redis, loops, 300, 500);
  o.drain_timeout_ms = 3000;
  return o;
}

std::string pct(const std::string& id) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : id) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string post_request(const std::string& id, const std::string& value) {
  return tt::mailbox_post(pct(id), value);
}

std::string wait_request(const std::string& id, int wait_ms) {
  return tt::mailbox_get(pct(id), static_cast<uint32_t>(wait_ms));
}

bool up(tt::TestServer& s, int ms = 10000) {
  return tt::mailbox_backend_up(s, ms);
}

bool waiters(tt::TestServer& s, uint64_t n) {
  return tt::mailbox_waiters_parked(s, n, 10000);
}

bool poll_until(const std::function<bool()>& pred, int timeout_ms) {
  const int64_t end = tt::now_ms() + timeout_ms;
  while (tt::now_ms() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

class HostileRedisMailbox : public ::testing::Test {
 protected:
  void SetUp() override {
    if (tt::RedisServer::binary().empty()) GTEST_SKIP() << "redis-server is not on PATH";
    g_blocking = 0;
  }
};

// ------------------------------------------------------------------ odd ids and values

TEST_F(HostileRedisMailbox, OddIdsAndValuesRoundTripExactlyAcrossInstances) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis, 2), routes), b(on_redis(redis, 2), routes);
  ASSERT_TRUE(up(a) && up(b));
  std::string binary;
  for (int i = 0; i < 256; ++i) binary += static_cast<char>(i);
  const std::vector<std::string> ids = {"a|b",
                                        "|",
                                        "1|2|3",
                                        "x\ny",
                                        std::string("\0\xff\x01", 3),
                                        std::string(2000, '|'),
                                        "o|1|3|abc",
                                        "r|1|delivered",
                                        "tether:mailbox:v:foo",
                                        "%d%s",
                                        "\r\n\r\n",
                                        " ",
                                        std::string(6000, 'L')};
  const std::vector<std::string> values = {
      "", "|", binary, std::string(64 * 1024, '|'), "o|9|1|x", "\n", std::string(1, '\0')};
  tt::Client ca(a.port()), cb(b.port());
  int n = 0;
  for (const std::string& id : ids) {
    const std::string& v = values[static_cast<size_t>(n++) % values.size()];
    SCOPED_TRACE("id #" + std::to_string(n));
    // A waiter on B, the post on A: delivered, byte for byte.
    tt::Client w(b.port());
    const uint64_t before = b.stats().mailbox_waiters;
    ASSERT_TRUE(w.send(wait_request(id, 5000)));
    ASSERT_TRUE(waiters(b, before + 1));
    auto p = tt::roundtrip(ca, post_request(id, v));
    EXPECT_EQ(p.status, 200) << p.body;
    auto r = w.read_response(5000);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->body == v) << "body of " << r->body.size() << " bytes";
    // Stored, then taken once on the other instance, then gone.
    const std::string v2 = v.size() > 1000 ? v.substr(1) + "s" : v + "s";
    EXPECT_EQ(tt::roundtrip(ca, post_request(id, v2)).status, 202);
    EXPECT_EQ(tt::roundtrip(ca, post_request(id, "other")).status, 409);
    auto t = tt::roundtrip(cb, wait_request(id, 0));
    EXPECT_EQ(t.status, 200);
    EXPECT_TRUE(t.body == v2) << "body of " << t.body.size() << " bytes";
    EXPECT_EQ(tt::roundtrip(cb, wait_request(id, 0)).status, 404);
  }
  // At the limit and one over.
  EXPECT_EQ(tt::roundtrip(ca, post_request("big", std::string(64 * 1024, 'x'))).status, 202);
  EXPECT_EQ(tt::roundtrip(ca, post_request("big2", std::string(64 * 1024 + 1, 'x'))).status, 413);
  EXPECT_EQ(tt::roundtrip(cb, wait_request("big", 0)).body.size(), 64u * 1024);
  EXPECT_EQ(a.stats().mailbox_backend_errors + b.stats().mailbox_backend_errors, 0u);
  Resp resp(redis.port());
  EXPECT_EQ(resp.settled({"ZCARD", "tether:mailbox:ids"}, "0"), "0");
  EXPECT_EQ(resp.settled({"ZCARD", "tether:mailbox:transits"}, "0"), "0");
}

TEST_F(HostileRedisMailbox, EmptyAndHugeIdsThroughThePublicApi) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis, 2), routes);
  ASSERT_TRUE(up(a));
  for (const std::string& id : {std::string(), std::string(1 << 20, '|')}) {
    std::promise<tether::MailboxPost> p1, p2;
    a.server().mailbox().post(id, "v", [&](tether::MailboxPost s) { p1.set_value(s); });
    auto f1 = p1.get_future();
    ASSERT_EQ(f1.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(f1.get(), tether::MailboxPost::Stored);
    a.server().mailbox().post(id, "w", [&](tether::MailboxPost s) { p2.set_value(s); });
    auto f2 = p2.get_future();
    ASSERT_EQ(f2.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(f2.get(), tether::MailboxPost::Conflict);
    std::promise<bool> d;
    a.server().mailbox().drop(id, [&](bool x) { d.set_value(x); });
    auto fd = d.get_future();
    ASSERT_EQ(fd.wait_for(5s), std::future_status::ready);
    EXPECT_TRUE(fd.get());
  }
}

// ------------------------------------------------------------------ Redis stalled

// A stored value; Redis stalls; a GET is answered 503 (nobody took the value). When Redis
// resumes, the value must still be there.
TEST_F(HostileRedisMailbox, AGetAnswered503WhileRedisStalledDoesNotEatTheStoredValue) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis), routes);
  ASSERT_TRUE(up(a));
  tt::Client c(a.port());
  ASSERT_EQ(tt::roundtrip(c, post_request("kept", "precious")).status, 202);
  redis.pause();
  const int64_t t0 = tt::now_ms();
  auto g = tt::roundtrip(c, wait_request("kept", 0), 5000);
  EXPECT_EQ(g.status, 503);
  EXPECT_LT(tt::now_ms() - t0, 2000);
  redis.resume();
  ASSERT_TRUE(up(a));
  auto k = tt::roundtrip(c, wait_request("kept", 0));
  EXPECT_EQ(k.status, 200) << "the value was taken by a GET that was answered 503";
  EXPECT_EQ(k.body, "precious");
}

// A POST answered 503 (Retry-After: 1) while Redis stalled: the client retries and must not
// be told 409 about its own value that the 503 said was not taken.
TEST_F(HostileRedisMailbox, APostAnswered503WhileRedisStalledIsNotStoredBehindTheClientsBack) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis), routes);
  ASSERT_TRUE(up(a));
  tt::Client c(a.port());
  redis.pause();
  auto p = tt::roundtrip(c, post_request("retry", "v1"), 5000);
  EXPECT_EQ(p.status, 503);
  EXPECT_EQ(p.header("retry-after"), "1");
  redis.resume();
  ASSERT_TRUE(up(a));
  auto again = tt::roundtrip(c, post_request("retry", "v1"));
  EXPECT_EQ(again.status, 202) << "a post answered 503 was stored anyway (the retry got "
                               << again.status << ")";
}

// Redis stalls with waiters parked on two instances and posts in flight: every call answers
// within bounds, other routes serve, and everything works when it resumes.
TEST_F(HostileRedisMailbox, PauseMidTrafficThenResume) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis, 2), routes), b(on_redis(redis, 2), routes);
  ASSERT_TRUE(up(a) && up(b));
  std::vector<std::unique_ptr<tt::Client>> ws;
  for (int i = 0; i < 20; ++i) {
    ws.push_back(std::make_unique<tt::Client>(i % 2 ? a.port() : b.port()));
    ASSERT_TRUE(ws.back()->send(wait_request("p" + std::to_string(i), 20000)));
  }
  ASSERT_TRUE(a.wait_for([&](const tether::ServerStats& s) {
    return s.mailbox_waiters + b.stats().mailbox_waiters >= 20;
  }));
  redis.pause();
  std::vector<std::unique_ptr<tt::Client>> ps;
  for (int i = 0; i < 20; ++i) {
    ps.push_back(std::make_unique<tt::Client>(i % 2 ? b.port() : a.port()));
    ASSERT_TRUE(ps.back()->send(post_request("p" + std::to_string(i), "v" + std::to_string(i))));
  }
  const int64_t t0 = tt::now_ms();
  for (auto& w : ws) {
    auto r = w->read_response(5000);
    ASSERT_TRUE(r) << "a parked wait hung while Redis was stalled";
    EXPECT_EQ(r->status, 503);
  }
  for (auto& p : ps) {
    auto r = p->read_response(5000);
    ASSERT_TRUE(r) << "a post hung while Redis was stalled";
    EXPECT_EQ(r->status, 503);
  }
  EXPECT_LT(tt::now_ms() - t0, 5000);
  tt::Client other(a.port());
  EXPECT_EQ(tt::roundtrip(other, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
  redis.resume();
  ASSERT_TRUE(up(a) && up(b));
  tt::Client w(a.port());
  const uint64_t before = a.stats().mailbox_waiters;
  ASSERT_TRUE(w.send(wait_request("fresh", 10000)));
  ASSERT_TRUE(waiters(a, before + 1));
  tt::Client pb(b.port());
  EXPECT_EQ(tt::roundtrip(pb, post_request("fresh", "after")).status, 200);
  auto r = w.read_response(5000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "after");
}

// ------------------------------------------------------------------ a stalled instance

// A waiter parked on A; A's loop stalls (a slow handler) longer than the transit timeout
// while a post on B offers it the value. Redis gives the value back after the transit
// timeout (stored: the poster hears 202), and B serves it; then A wakes up and hands the
// same value to its waiter too: delivered twice.
TEST_F(HostileRedisMailbox, AValueOfferedToAStalledInstanceIsNotDeliveredTwice) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis, 1), routes), b(on_redis(redis, 1), routes);
  ASSERT_TRUE(up(a) && up(b));
  tt::Client waiter(a.port());
  // Its wait outlasts A's stall (3 s); A finds the value recovered and given to someone else,
  // delivers nothing, and the wait ends by its deadline (204).
  ASSERT_TRUE(waiter.send(wait_request("twice", 6000)));
  ASSERT_TRUE(waiters(a, 1));
  tt::Client blocker(a.port());
  ASSERT_TRUE(blocker.send("GET /block?ms=3000 HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(poll_until([] { return g_blocking.load() == 1; }, 5000));
  tt::Client poster(b.port());
  auto p = tt::roundtrip(poster, post_request("twice", "only once"), 8000);
  int copies = 0;
  if (p.status == 202) {
    // Stored: B can take it.
    tt::Client taker(b.port());
    auto t = tt::roundtrip(taker, wait_request("twice", 0));
    if (t.status == 200 && t.body == "only once") ++copies;
  } else {
    EXPECT_EQ(p.status, 200) << p.body;
  }
  auto w = waiter.read_response(10000);
  ASSERT_TRUE(w);
  if (w->status == 200 && w->body == "only once") ++copies;
  EXPECT_TRUE(blocker.read_response(5000));
  EXPECT_EQ(copies, 1) << "post answered " << p.status << ", waiter on A answered " << w->status;
}

// ------------------------------------------------------------------ clients that leave

TEST_F(HostileRedisMailbox, WaitersThatResetWhileTheValueIsOfferedLoseNothing) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis, 2), routes), b(on_redis(redis, 2), routes);
  ASSERT_TRUE(up(a) && up(b));
  int lost = 0, ok = 0;
  for (int i = 0; i < 30; ++i) {
    const std::string id = "rst" + std::to_string(i);
    const std::string v = "value" + std::to_string(i);
    tt::Client w(a.port());
    const uint64_t before = a.stats().mailbox_waiters;
    ASSERT_TRUE(w.send(wait_request(id, 10000)));
    ASSERT_TRUE(waiters(a, before + 1));
    tt::Client p(b.port());
    ASSERT_TRUE(p.send(post_request(id, v)));
    if (i % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200 * (i % 7)));
    w.close(/*reset=*/true);
    auto pr = p.read_response(8000);
    ASSERT_TRUE(pr) << "post hung";
    if (pr->status == 200) {
      ++ok;  // a continuation took it just before the reset: gone, as promised
      continue;
    }
    EXPECT_EQ(pr->status, 202);
    tt::Client g(b.port());
    auto r = tt::roundtrip(g, wait_request(id, 0));
    if (r.status != 200 || r.body != v) ++lost;
  }
  EXPECT_EQ(lost, 0);
  Resp resp(redis.port());
  EXPECT_EQ(resp.settled({"ZCARD", "tether:mailbox:transits"}, "0"), "0");
}

// A GET (no wait) whose client resets at once, while another client posts a new value for
// the same id: the first value, taken for a client that left, must not be lost.
TEST_F(HostileRedisMailbox, ATakeForAClientThatLeftIsPutBackEvenWhenANewPostRaces) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis, 1), routes);
  ASSERT_TRUE(up(a));
  tt::Client c(a.port());
  ASSERT_EQ(tt::roundtrip(c, post_request("race", "first")).status, 202);
  // Redis stalls (shorter than the command timeout) so that the take and a new post queue
  // up behind each other; the taker's client leaves before Redis answers.
  redis.pause();
  tt::Client taker(a.port());
  ASSERT_TRUE(taker.send(wait_request("race", 0)));
  ASSERT_TRUE(a.wait_for([](const tether::ServerStats& s) { return s.requests >= 2; }, 3000));
  tt::Client poster(a.port());
  ASSERT_TRUE(poster.send(post_request("race", "second")));
  ASSERT_TRUE(a.wait_for([](const tether::ServerStats& s) { return s.requests >= 3; }, 3000));
  taker.close(true);
  ASSERT_TRUE(
      a.wait_for([](const tether::ServerStats& s) { return s.connections_active <= 2; }, 3000));
  redis.resume();
  auto p = poster.read_response(5000);
  ASSERT_TRUE(p);
  std::set<std::string> seen;
  for (int i = 0; i < 2; ++i) {
    auto g = tt::roundtrip(c, wait_request("race", 0));
    if (g.status == 200) seen.insert(g.body);
  }
  // Nothing is lost: "first" is still there to take (and the post was refused), or the
  // post answered 503 and "first" is back.
  EXPECT_TRUE(seen.count("first"))
      << "post answered " << p->status << "; lost counted: " << a.stats().mailbox_lost;
}

// ------------------------------------------------------------------ stop and destroy

TEST_F(HostileRedisMailbox, StopWithParkedWaitersAndAPostInTransitAnswersEveryone) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  // A transit timeout longer than B's stall: the value is only in transit, never recovered.
  tether::ServerOptions o = on_redis(redis, 1);
  o.mailbox_redis_transit_ms = 4000;
  auto a = std::make_unique<tt::TestServer>(o, routes);
  tt::TestServer b(o, routes);
  ASSERT_TRUE(up(*a) && up(b));
  tt::Client parked_a(a->port());
  ASSERT_TRUE(parked_a.send(wait_request("stay", 15000)));
  ASSERT_TRUE(waiters(*a, 1));
  // B's waiter is offered A's post while B's loop is stalled: A's post is in transit.
  tt::Client waiter_b(b.port());
  ASSERT_TRUE(waiter_b.send(wait_request("transit", 15000)));
  ASSERT_TRUE(waiters(b, 1));
  tt::Client blocker(b.port());
  ASSERT_TRUE(blocker.send("GET /block?ms=1500 HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(poll_until([] { return g_blocking.load() == 1; }, 5000));
  tt::Client poster(a->port());
  ASSERT_TRUE(poster.send(post_request("transit", "in flight")));
  Resp resp(redis.port());
  ASSERT_TRUE(poll_until(
      [&] {
        return resp.call({"ZCARD", "tether:mailbox:transits"}) == "1";
      },
      3000));
  const int64_t t0 = tt::now_ms();
  a.reset();  // stop() and join
  EXPECT_LT(tt::now_ms() - t0, 5000) << "stop() hung";
  auto w = parked_a.read_response(3000);
  ASSERT_TRUE(w) << "a parked wait got no answer at stop";
  EXPECT_EQ(w->status, 503);
  auto p = poster.read_response(3000);
  ASSERT_TRUE(p) << "a post in transit got no answer at stop";
  EXPECT_TRUE(p->status == 503 || p->status == 200 || p->status == 202)
      << p->status << " " << p->body;
  // The value itself went to B's waiter or back to its id: not lost.
  auto wb = waiter_b.read_response(10000);
  ASSERT_TRUE(wb);
  int copies = (wb->status == 200 && wb->body == "in flight") ? 1 : 0;
  tt::Client g(b.port());
  auto left = tt::roundtrip(g, wait_request("transit", 0));
  if (left.status == 200 && left.body == "in flight") ++copies;
  EXPECT_EQ(copies, 1);
}

TEST_F(HostileRedisMailbox, DestroyingServersWhileRedisIsPausedIsBounded) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  auto a = std::make_unique<tt::TestServer>(on_redis(redis, 2), routes);
  auto b = std::make_unique<tt::TestServer>(on_redis(redis, 2), routes);
  ASSERT_TRUE(up(*a) && up(*b));
  std::vector<std::unique_ptr<tt::Client>> cs;
  for (int i = 0; i < 10; ++i) {
    cs.push_back(std::make_unique<tt::Client>(i % 2 ? a->port() : b->port()));
    ASSERT_TRUE(cs.back()->send(wait_request("d" + std::to_string(i), 20000)));
  }
  ASSERT_TRUE(a->wait_for([&](const tether::ServerStats& s) {
    return s.mailbox_waiters + b->stats().mailbox_waiters >= 10;
  }));
  redis.pause();
  for (int i = 0; i < 10; ++i) {
    cs.push_back(std::make_unique<tt::Client>(i % 2 ? b->port() : a->port()));
    ASSERT_TRUE(cs.back()->send(post_request("d" + std::to_string(i), "x")));
  }
  // Threads off the loops post while the servers go.
  std::atomic<int> called{0}, issued{0};
  std::thread t([&] {
    for (int i = 0; i < 50; ++i) {
      a->server().mailbox().post("o" + std::to_string(i), "v",
                                 [&](tether::MailboxPost) { called++; });
      issued++;
    }
  });
  t.join();
  const int64_t t0 = tt::now_ms();
  a.reset();
  b.reset();
  EXPECT_LT(tt::now_ms() - t0, 8000) << "destroying servers with Redis paused took too long";
  EXPECT_EQ(called.load(), issued.load()) << "post callbacks from another thread never ran";
  for (auto& c : cs) {
    auto r = c->read_response(1000);
    if (r) {
      EXPECT_EQ(r->status, 503) << r->body;
    }
  }
  redis.resume();
}

// ------------------------------------------------------------------ other threads

TEST_F(HostileRedisMailbox, PostsFromAPlainThreadWithRedisUpAndDownAnswerExactlyOnce) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis, 2), routes);
  ASSERT_TRUE(up(a));
  std::mutex m;
  std::map<int, std::vector<tether::MailboxPost>> got;
  auto run = [&](int base, int n) {
    std::thread t([&] {
      for (int i = base; i < base + n; ++i) {
        a.server().mailbox().post("t" + std::to_string(i), "v" + std::to_string(i),
                                  [&, i](tether::MailboxPost s) {
                                    std::lock_guard<std::mutex> lk(m);
                                    got[i].push_back(s);
                                  });
      }
    });
    t.join();
  };
  auto count = [&] {
    std::lock_guard<std::mutex> lk(m);
    return got.size();
  };
  run(0, 100);
  ASSERT_TRUE(poll_until([&] { return count() == 100; }, 5000));
  redis.stop();
  ASSERT_TRUE(a.wait_for([](const tether::ServerStats& s) { return s.mailbox_backend_up == 0; }));
  run(100, 100);
  ASSERT_TRUE(poll_until([&] { return count() == 200; }, 5000)) << count();
  ASSERT_TRUE(redis.restart());
  ASSERT_TRUE(up(a));
  run(200, 100);
  ASSERT_TRUE(poll_until([&] { return count() == 300; }, 5000)) << count();
  std::lock_guard<std::mutex> lk(m);
  for (auto& [i, v] : got) {
    ASSERT_EQ(v.size(), 1u) << i;
    if (i < 100 || i >= 200)
      EXPECT_EQ(v[0], tether::MailboxPost::Stored) << i;
    else
      EXPECT_EQ(v[0], tether::MailboxPost::Unavailable) << i;
  }
}

// ------------------------------------------------------------------ throwing callbacks

TEST_F(HostileRedisMailbox, CallbacksThatThrowLeaveTheServerAndTheValuesWhole) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  auto add = [](tether::Server& s) {
    routes(s);
    s.post("/throwing-post/{id}", [&s](tether::Request& req, tether::Response res) {
      s.mailbox().post(std::string(req.param("id")), std::string(req.body()),
                       [res](tether::MailboxPost) mutable { throw std::runtime_error("post cb"); });
    });
    s.get("/throwing-wait/{id}", [&s](tether::Request& req, tether::Response res) {
      s.mailbox().wait(res, std::string(req.param("id")), 5000ms,
                       [](tether::Response, tether::MailboxTake, std::string) {
                         throw std::runtime_error("wait cb");
                       });
    });
  };
  tt::TestServer a(on_redis(redis, 2), add), b(on_redis(redis, 2), add);
  ASSERT_TRUE(up(a) && up(b));
  tt::Client c(a.port());
  auto p =
      tt::roundtrip(c, "POST /throwing-post/tp HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx");
  EXPECT_EQ(p.status, 500);
  tt::Client g(b.port());
  auto t = tt::roundtrip(g, wait_request("tp", 0));
  EXPECT_EQ(t.status, 200) << "a throwing post callback lost the stored value";
  tt::Client w(b.port());
  ASSERT_TRUE(w.send("GET /throwing-wait/tw HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(waiters(b, 1));
  auto pp = tt::roundtrip(c, post_request("tw", "y"));
  EXPECT_EQ(pp.status, 200);
  auto wr = w.read_response(5000);
  ASSERT_TRUE(wr);
  EXPECT_EQ(wr->status, 500);
  EXPECT_EQ(tt::roundtrip(c, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
  Resp resp(redis.port());
  EXPECT_TRUE(poll_until(
      [&] {
        return resp.call({"ZCARD", "tether:mailbox:transits"}) == "0";
      },
      3000));
}

// ------------------------------------------------------------------ start-up and secrets

TEST_F(HostileRedisMailbox, BadUrlsFailStartWithoutTheirPassword) {
  const std::vector<std::string> bad = {"redis://:Hunter2Secret@127.0.0.1:99999",
                                        "redis://:Hunter2Secret@[::1",
                                        "redis://:Hunter2Secret@127.0.0.1:6379/notadb",
                                        "http://:Hunter2Secret@127.0.0.1:1",
                                        "unix://:Hunter2Secret@",
                                        "redis://user:Hunter2Secret@127.0.0.1:6379?x=1",
                                        "redis://:Hunter2Secret@127.0.0.1:6379#frag",
                                        "redis://:Hunter2%ZZSecret@127.0.0.1:1"};
  for (const std::string& url : bad) {
    tether::ServerOptions o = tt::loopback_options(1, 1);
    o.mailbox_redis = url;
    std::string logs;
    std::mutex m;
    o.logger = [&](tether::LogLevel, std::string_view msg) {
      std::lock_guard<std::mutex> lk(m);
      logs += std::string(msg) + "\n";
    };
    tether::Server s(o);
    tether::Status st = s.start();
    EXPECT_FALSE(st) << url;
    EXPECT_EQ(st.message().find("Hunter2"), std::string::npos) << st.message();
    std::lock_guard<std::mutex> lk(m);
    EXPECT_EQ(logs.find("Hunter2"), std::string::npos) << logs;
  }
}

TEST_F(HostileRedisMailbox, AWrongPasswordOrDeadPortServesOtherRoutesAndNeverLogsThePassword) {
  tt::RedisServer::Options ro;
  ro.password = "RightOne";
  tt::RedisServer redis(ro);
  ASSERT_TRUE(redis.start()) << redis.error();
  std::mutex m;
  std::string logs;
  auto capture = [&](tether::ServerOptions& o) {
    o.logger = [&](tether::LogLevel, std::string_view msg) {
      std::lock_guard<std::mutex> lk(m);
      logs += std::string(msg) + "\n";
    };
  };
  tether::ServerOptions wrong = on_redis(redis, 2);
  wrong.mailbox_redis = "redis://:WrongPwXyz@127.0.0.1:" + std::to_string(redis.port());
  capture(wrong);
  tether::ServerOptions user = on_redis(redis, 1);
  user.mailbox_redis = "redis://default:WrongPwUser@127.0.0.1:" + std::to_string(redis.port());
  capture(user);
  tether::ServerOptions dead = on_redis(redis, 1);
  dead.mailbox_redis = "redis://:DeadPortPw@127.0.0.1:1";
  capture(dead);
  tether::ServerOptions right = on_redis(redis, 1);
  right.mailbox_redis = "redis://:RightOne@127.0.0.1:" + std::to_string(redis.port());
  capture(right);
  {
    tt::TestServer a(wrong, routes), u(user, routes), d(dead, routes), r(right, routes);
    ASSERT_TRUE(up(r));
    tt::Client ca(a.port()), cd(d.port());
    const int64_t t0 = tt::now_ms();
    EXPECT_EQ(tt::roundtrip(ca, post_request("x", "y")).status, 503);
    EXPECT_EQ(tt::roundtrip(cd, wait_request("x", 5000)).status, 503);
    EXPECT_LT(tt::now_ms() - t0, 3000);
    EXPECT_EQ(tt::roundtrip(ca, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
    EXPECT_EQ(a.stats().mailbox_backend_up, 0u);
    // Bounded: wait until the failing ones have logged something.
    ASSERT_TRUE(poll_until(
        [&] {
          std::lock_guard<std::mutex> lk(m);
          return logs.find("uth") != std::string::npos ||
                 logs.find("WRONGPASS") != std::string::npos || logs.size() > 200;
        },
        5000));
    // Redis restarts under the right one: its reconnect logs too.
    redis.stop();
    ASSERT_TRUE(r.wait_for([](const tether::ServerStats& s) { return s.mailbox_backend_up == 0; }));
    ASSERT_TRUE(redis.restart());
    ASSERT_TRUE(up(r));
  }
  std::lock_guard<std::mutex> lk(m);
  for (const char* secret : {"WrongPwXyz", "WrongPwUser", "DeadPortPw", "RightOne"})
    EXPECT_EQ(logs.find(secret), std::string::npos) << secret << " in:\n" << logs;
}

// ------------------------------------------------------------------ many instances

TEST_F(HostileRedisMailbox, ThreeInstancesRacingPostsAndWaitsOnTheSameIdsNeitherLoseNorDuplicate) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  std::vector<std::unique_ptr<tt::TestServer>> s;
  for (int i = 0; i < 3; ++i)
    s.push_back(std::make_unique<tt::TestServer>(on_redis(redis, 2), routes));
  for (auto& x : s) ASSERT_TRUE(up(*x));
  constexpr int kIds = 120;
  std::mt19937 rng(7);
  struct Op {
    int id;
    bool post;
    int inst;
  };
  std::vector<Op> ops;
  for (int i = 0; i < kIds; ++i) {
    ops.push_back({i, true, static_cast<int>(rng() % 3)});
    ops.push_back({i, false, static_cast<int>(rng() % 3)});
    ops.push_back({i, false, static_cast<int>(rng() % 3)});
  }
  std::shuffle(ops.begin(), ops.end(), rng);
  std::vector<std::unique_ptr<tt::Client>> cs;
  for (const Op& op : ops) {
    cs.push_back(std::make_unique<tt::Client>(s[static_cast<size_t>(op.inst)]->port()));
    const std::string id = "race|" + std::to_string(op.id);
    ASSERT_TRUE(cs.back()->send(op.post ? post_request(id, "val|" + std::to_string(op.id))
                                        : wait_request(id, 2000)));
  }
  std::vector<int> copies(kIds, 0), post_status(kIds, 0);
  for (size_t k = 0; k < ops.size(); ++k) {
    auto r = cs[k]->read_response(10000);
    ASSERT_TRUE(r) << "hung";
    const Op& op = ops[k];
    if (op.post) {
      post_status[static_cast<size_t>(op.id)] = r->status;
      EXPECT_TRUE(r->status == 200 || r->status == 202) << r->status;
    } else {
      EXPECT_TRUE(r->status == 200 || r->status == 204 || r->status == 404) << r->status;
      if (r->status == 200) {
        EXPECT_EQ(r->body, "val|" + std::to_string(op.id));
        copies[static_cast<size_t>(op.id)]++;
      }
    }
  }
  tt::Client g(s[0]->port());
  int bad = 0;
  for (int i = 0; i < kIds; ++i) {
    auto r = tt::roundtrip(g, wait_request("race|" + std::to_string(i), 0));
    int n = copies[static_cast<size_t>(i)] + (r.status == 200 ? 1 : 0);
    if (n != 1) {
      ++bad;
      ADD_FAILURE() << "id " << i << ": " << n << " copies (post "
                    << post_status[static_cast<size_t>(i)] << ")";
    }
    if (post_status[static_cast<size_t>(i)] == 200) {
      EXPECT_EQ(r.status, 404) << i;
    }
  }
  EXPECT_EQ(bad, 0);
  Resp resp(redis.port());
  EXPECT_EQ(resp.settled({"ZCARD", "tether:mailbox:transits"}, "0"), "0");
}

// ------------------------------------------------------------------ Redis killed repeatedly

TEST_F(HostileRedisMailbox, RedisKilledAndRestartedRepeatedlyUnderTraffic) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis, 2), routes), b(on_redis(redis, 2), routes);
  ASSERT_TRUE(up(a) && up(b));
  std::atomic<bool> done{false};
  std::atomic<int> bad_status{0}, hung{0}, requests{0};
  std::thread traffic([&] {
    std::mt19937 rng(3);
    for (int i = 0; i < 400 && !done.load(); ++i) {
      tt::Client c(i % 2 ? a.port() : b.port());
      const std::string id = "k" + std::to_string(rng() % 20);
      auto r = (i % 3) ? tt::roundtrip(c, post_request(id, "x"), 4000)
                       : tt::roundtrip(c, wait_request(id, 200), 4000);
      requests++;
      if (r.status == 0)
        hung++;
      else if (r.status != 200 && r.status != 202 && r.status != 204 && r.status != 404 &&
               r.status != 409 && r.status != 503)
        bad_status++;
    }
  });
  for (int round = 0; round < 4; ++round) {
    redis.stop();
    ASSERT_TRUE(a.wait_for([](const tether::ServerStats& s) { return s.mailbox_backend_up == 0; }));
    ASSERT_TRUE(redis.restart()) << redis.error();
    ASSERT_TRUE(up(a) && up(b));
    const int seen = requests.load();
    poll_until([&] { return requests.load() >= seen + 5; }, 3000);
  }
  done = true;
  traffic.join();
  EXPECT_EQ(hung.load(), 0);
  EXPECT_EQ(bad_status.load(), 0);
  tt::Client w(a.port());
  const uint64_t before = a.stats().mailbox_waiters;
  ASSERT_TRUE(w.send(wait_request("end", 10000)));
  ASSERT_TRUE(waiters(a, before + 1));
  tt::Client p(b.port());
  EXPECT_EQ(tt::roundtrip(p, post_request("end", "ok")).status, 200);
}

}  // namespace

namespace {

// ------------------------------------------------------------------ odd options, unix socket

// mailbox_ttl_ms = 0: whatever a post answers, it must not claim "stored" (202) for a value
// that no wait can take.
TEST_F(HostileRedisMailbox, AZeroTtlNeverClaimsAValueWasStored) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tether::ServerOptions o = on_redis(redis, 1);
  o.mailbox_ttl_ms = 0;
  tether::Server probe(o);
  if (!probe.start()) GTEST_SKIP() << "mailbox_ttl_ms = 0 is refused at start";
  probe.stop();
  probe.wait();
  tt::TestServer a(o, routes);
  ASSERT_TRUE(up(a));
  tt::Client c(a.port());
  auto p = tt::roundtrip(c, post_request("zero", "v"));
  auto g = tt::roundtrip(c, wait_request("zero", 0));
  EXPECT_FALSE(p.status == 202 && g.status == 404)
      << "the post answered 202 (stored) but the value was never there";
}

TEST_F(HostileRedisMailbox, AUnixSocketUrlWithPasswordWorksAndSurvivesARestart) {
  tt::RedisServer::Options ro;
  ro.unix_socket = true;
  ro.password = "UnixPw-1";
  tt::RedisServer redis(ro);
  ASSERT_TRUE(redis.start()) << redis.error();
  tether::ServerOptions o = on_redis(redis, 2);
  o.mailbox_redis = "unix://:UnixPw-1@" + redis.socket_path();
  std::mutex m;
  std::string logs;
  o.logger = [&](tether::LogLevel, std::string_view msg) {
    std::lock_guard<std::mutex> lk(m);
    logs += std::string(msg) + "\n";
  };
  {
    tt::TestServer a(o, routes);
    ASSERT_TRUE(up(a)) << logs;
    tt::Client c(a.port());
    EXPECT_EQ(tt::roundtrip(c, post_request("u", "v")).status, 202);
    ASSERT_TRUE(redis.restart());
    ASSERT_TRUE(
        a.wait_for([](const tether::ServerStats& s) { return s.mailbox_backend_up == 1; }, 10000));
    // The restart (no persistence) forgot the value and the script; both work again.
    tt::Client c2(a.port());
    auto p = tt::roundtrip(c2, post_request("u2", "w"));
    EXPECT_EQ(p.status, 202) << p.body;
    EXPECT_EQ(tt::roundtrip(c2, wait_request("u2", 0)).body, "w");
  }
  std::lock_guard<std::mutex> lk(m);
  EXPECT_EQ(logs.find("UnixPw-1"), std::string::npos) << logs;
}

}  // namespace
