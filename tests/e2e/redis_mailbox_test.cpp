// The mailbox on Redis (ServerOptions::mailbox_redis): two servers sharing one real
// redis-server hand values to each other's waiters through tetherd's HTTP routes, with the
// local mailbox's guarantees: one value to exactly one waiter, oldest first, nothing lost or
// duplicated, no overwrite, limits and TTL; values offered to a waiter that is gone, or to
// an instance that died, come back; Redis going away gives 503s, never a hang, and
// everything works again when it returns.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "support/http_client.hpp"
#include "support/mailbox_requests.hpp"
#include "support/redis_mailbox.hpp"
#include "support/redis_server.hpp"
#include "support/resp_client.hpp"
#include "support/test_server.hpp"
#include "tetherd/demo_routes.hpp"

namespace {

using tt::Resp;

tether::ServerOptions on_redis(const tt::RedisServer& redis, unsigned loops = 2) {
  return tt::mailbox_redis_options(redis, loops, 500, 500);
}

void demo(tether::Server& s) {
  tetherd::add_demo_routes(s);
}

std::string post_request(const std::string& id, const std::string& value) {
  return tt::mailbox_post(id, value);
}

std::string wait_request(const std::string& id, int wait_ms) {
  return tt::mailbox_get(id, static_cast<uint32_t>(wait_ms));
}

bool up(tt::TestServer& s) {
  return tt::mailbox_backend_up(s);
}

bool waiters(tt::TestServer& s, uint64_t n) {
  return tt::mailbox_waiters_parked(s, n);
}

class RedisMailbox : public ::testing::Test {
 protected:
  void SetUp() override {
    if (tt::RedisServer::binary().empty()) GTEST_SKIP() << "redis-server is not on PATH";
  }
};

TEST_F(RedisMailbox, AWaiterOnOneInstanceGetsAValuePostedOnTheOtherInBothOrders) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis), demo), b(on_redis(redis), demo);
  ASSERT_TRUE(up(a) && up(b));

  // Waiter first, on A; the post on B is delivered (200), and the waiter has the value.
  tt::Client waiter(a.port());
  ASSERT_TRUE(waiter.send(wait_request("first", 10000)));
  ASSERT_TRUE(waiters(a, 1));
  tt::Client poster(b.port());
  auto p = tt::roundtrip(poster, post_request("first", "from B"));
  EXPECT_EQ(p.status, 200) << p.body;
  auto w = waiter.read_response(5000);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->status, 200);
  EXPECT_EQ(w->body, "from B");

  // Post first, on B (stored: 202); a wait on A takes it, once.
  p = tt::roundtrip(poster, post_request("second", "stored on B"));
  EXPECT_EQ(p.status, 202) << p.body;
  auto t = tt::roundtrip(waiter, wait_request("second", 0));
  EXPECT_EQ(t.status, 200);
  EXPECT_EQ(t.body, "stored on B");
  EXPECT_EQ(tt::roundtrip(waiter, wait_request("second", 0)).status, 404);
  EXPECT_EQ(a.stats().mailbox_backend_errors + b.stats().mailbox_backend_errors, 0u);
}

TEST_F(RedisMailbox, AThousandWaitersOverTwoInstancesGetExactlyTheirOwnValues) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis), demo), b(on_redis(redis), demo);
  ASSERT_TRUE(up(a) && up(b));
  constexpr int kWaiters = 1000;
  std::vector<std::unique_ptr<tt::Client>> clients;
  for (int i = 0; i < kWaiters; ++i) {
    clients.push_back(std::make_unique<tt::Client>(i % 2 ? b.port() : a.port()));
    ASSERT_TRUE(clients.back()->send(wait_request("w" + std::to_string(i), 30000)));
  }
  ASSERT_TRUE(a.wait_for(
      [&](const tether::ServerStats& s) {
        return s.mailbox_waiters + b.stats().mailbox_waiters >= kWaiters;
      },
      30000))
      << "parked: " << a.stats().mailbox_waiters + b.stats().mailbox_waiters;
  std::vector<int> order(kWaiters);
  for (int i = 0; i < kWaiters; ++i) order[static_cast<size_t>(i)] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(42));
  tt::Client to_a(a.port()), to_b(b.port());
  int delivered = 0;
  for (int i : order) {
    tt::Client& c = (i * 7) % 3 ? to_a : to_b;  // either instance, not the waiter's own
    auto r = tt::roundtrip(c, post_request("w" + std::to_string(i), "value-" + std::to_string(i)));
    if (r.status == 200) ++delivered;
  }
  EXPECT_EQ(delivered, kWaiters);
  int own = 0;
  for (int i = 0; i < kWaiters; ++i) {
    auto r = clients[static_cast<size_t>(i)]->read_response(10000);
    if (r && r->status == 200 && r->body == "value-" + std::to_string(i)) ++own;
  }
  EXPECT_EQ(own, kWaiters);
  const tether::ServerStats sa = a.stats(), sb = b.stats();
  EXPECT_EQ(sa.mailbox_delivered + sb.mailbox_delivered, static_cast<uint64_t>(kWaiters));
  Resp resp(redis.port());
  EXPECT_EQ(resp.settled({"ZCARD", "tether:mailbox:ids"}, "0"), "0") << "values left in Redis";
  EXPECT_EQ(resp.settled({"ZCARD", "tether:mailbox:transits"}, "0"), "0")
      << "values left in transit";
}

// The channel Redis knows for a loop of `s`: "tether:mailbox:c:<instance>:<loop>".
std::string a_channel_of(Resp& resp, const std::string& not_this = "") {
  std::string all = resp.call({"PUBSUB", "CHANNELS", "tether:mailbox:c:*"});
  size_t start = 0;
  while (start < all.size()) {
    size_t end = all.find('\n', start);
    std::string ch = all.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!ch.empty() && ch != not_this) return ch;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return {};
}

// A waiter that won a value (Redis chose it) but whose client had gone by the time the offer
// reached its loop: the loop refuses it, and the next waiter gets it at once.
TEST_F(RedisMailbox, AValueWonByAWaiterThatIsGoneGoesToTheNextWaiter) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis, 1), demo);
  ASSERT_TRUE(up(a));
  tt::Client next(a.port());
  ASSERT_TRUE(next.send(wait_request("won", 10000)));
  ASSERT_TRUE(waiters(a, 1));
  Resp resp(redis.port());
  const std::string channel = a_channel_of(resp);
  ASSERT_FALSE(channel.empty());
  // The gone waiter: first in line, on A's loop, with a token A no longer has.
  ASSERT_EQ(resp.call({"LPUSH", "tether:mailbox:w:won", "99999999999999|" + channel + "|987654"}),
            "2");
  tt::Client poster(a.port());
  auto p = tt::roundtrip(poster, post_request("won", "second in line"));
  EXPECT_EQ(p.status, 200) << p.body;
  auto r = next.read_response(5000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "second in line");
}

// An instance that dies with a value in transit (here: a waiter entry on a loop channel
// nobody serves, which never acknowledges nor refuses): after the transit timeout the value
// returns to its id, and the next waiter gets it; its poster hears Delivered.
TEST_F(RedisMailbox, AValueInTransitToADeadInstanceIsRecoveredForTheNextWaiter) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis), demo), b(on_redis(redis), demo);
  ASSERT_TRUE(up(a) && up(b));
  tt::Client next(a.port());
  ASSERT_TRUE(next.send(wait_request("orphan", 20000)));
  ASSERT_TRUE(waiters(a, 1));
  Resp resp(redis.port());
  ASSERT_EQ(resp.call({"LPUSH", "tether:mailbox:w:orphan",
                       "99999999999999|tether:mailbox:c:dead-instance:0|1"}),
            "2");
  tt::Client poster(b.port());
  const int64_t t0 = tt::now_ms();
  ASSERT_TRUE(poster.send(post_request("orphan", "recovered")));
  auto r = next.read_response(15000);
  ASSERT_TRUE(r) << "the value did not come back within 15 s";
  EXPECT_EQ(r->body, "recovered");
  EXPECT_GE(tt::now_ms() - t0, 400) << "recovered before its transit timed out";
  auto p = poster.read_response(15000);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->status, 200) << p->body;
  EXPECT_TRUE(a.wait_for([&](const tether::ServerStats& s) {
    return s.mailbox_recovered + b.stats().mailbox_recovered >= 1;
  })) << "the recovery was not counted";
}

TEST_F(RedisMailbox, RedisGoingAwayGives503sAndEverythingWorksAgainWhenItReturns) {
  tt::RedisServer::Options ro;
  ro.persist = true;
  tt::RedisServer redis(ro);
  ASSERT_TRUE(redis.start()) << redis.error();
  tt::TestServer a(on_redis(redis), demo), b(on_redis(redis), demo);
  ASSERT_TRUE(up(a) && up(b));
  tt::Client ca(a.port()), cb(b.port());
  ASSERT_EQ(tt::roundtrip(ca, post_request("kept", "before the outage")).status, 202);
  tt::Client parked(b.port());
  ASSERT_TRUE(parked.send(wait_request("parked", 20000)));
  ASSERT_TRUE(waiters(b, 1));

  redis.stop();
  // The parked wait is answered 503 when the connection goes, not at its deadline.
  auto w = parked.read_response(5000);
  ASSERT_TRUE(w) << "a parked wait hung while Redis was down";
  EXPECT_EQ(w->status, 503);
  ASSERT_TRUE(a.wait_for([](const tether::ServerStats& s) { return s.mailbox_backend_up == 0; }));
  const int64_t t0 = tt::now_ms();
  auto p = tt::roundtrip(ca, post_request("during", "x"));
  EXPECT_EQ(p.status, 503);
  EXPECT_EQ(p.header("retry-after"), "1");
  auto g = tt::roundtrip(cb, wait_request("kept", 1000));
  EXPECT_EQ(g.status, 503);
  EXPECT_LT(tt::now_ms() - t0, 3000) << "503s must come within the command timeout";
  EXPECT_EQ(tt::roundtrip(ca, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n").status, 200)
      << "other routes keep serving";

  ASSERT_TRUE(redis.restart()) << redis.error();
  ASSERT_TRUE(up(a) && up(b)) << "the backend did not come back by itself";
  auto k = tt::roundtrip(cb, wait_request("kept", 0));
  EXPECT_EQ(k.status, 200) << "a value stored before the outage was lost";
  EXPECT_EQ(k.body, "before the outage");
  tt::Client again(a.port());
  ASSERT_TRUE(again.send(wait_request("after", 10000)));
  ASSERT_TRUE(waiters(a, 1));
  EXPECT_EQ(tt::roundtrip(cb, post_request("after", "works again")).status, 200);
  auto r = again.read_response(5000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "works again");
  EXPECT_GT(a.stats().mailbox_backend_errors + b.stats().mailbox_backend_errors, 0u);
}

TEST_F(RedisMailbox, TtlConflictsAndLimitsHoldAcrossInstances) {
  tt::RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  tether::ServerOptions o = on_redis(redis);
  o.mailbox_ttl_ms = 300;
  o.mailbox_max_ids = 3;
  o.mailbox_max_waiters_per_id = 2;
  o.mailbox_max_value_bytes = 16;
  tt::TestServer a(o, demo), b(o, demo);
  ASSERT_TRUE(up(a) && up(b));
  tt::Client ca(a.port()), cb(b.port());
  // No overwrite: a second post for the id, on the other instance, is refused.
  EXPECT_EQ(tt::roundtrip(ca, post_request("x", "one")).status, 202);
  EXPECT_EQ(tt::roundtrip(cb, post_request("x", "two")).status, 409);
  EXPECT_EQ(tt::roundtrip(cb, post_request("big", std::string(17, 'b'))).status, 413);
  // max_ids counts ids across instances.
  EXPECT_EQ(tt::roundtrip(cb, post_request("y", "v")).status, 202);
  EXPECT_EQ(tt::roundtrip(ca, post_request("z", "v")).status, 202);
  EXPECT_EQ(tt::roundtrip(cb, post_request("w", "v")).status, 503);
  // The TTL: Redis lets the value go (polled there, bounded: a GET would take it), and
  // neither instance has it any more.
  Resp resp(redis.port());
  const int64_t t0 = tt::now_ms();
  while (resp.call({"EXISTS", "tether:mailbox:v:x"}) != "0" && tt::now_ms() - t0 < 5000) {
    ::usleep(10000);
  }
  EXPECT_EQ(resp.call({"EXISTS", "tether:mailbox:v:x"}), "0");
  EXPECT_EQ(tt::roundtrip(ca, wait_request("x", 0)).status, 404);
  EXPECT_EQ(tt::roundtrip(cb, post_request("x", "three")).status, 202) << "the id is free again";
  // Waiters per id, across instances.
  tt::Client w1(a.port()), w2(b.port()), w3(a.port());
  ASSERT_TRUE(w1.send(wait_request("q", 5000)));
  ASSERT_TRUE(w2.send(wait_request("q", 5000)));
  ASSERT_TRUE(a.wait_for([&](const tether::ServerStats& s) {
    return s.mailbox_waiters + b.stats().mailbox_waiters >= 2;
  }));
  auto third = tt::roundtrip(w3, wait_request("q", 5000));
  EXPECT_EQ(third.status, 503) << third.body;
}

}  // namespace
