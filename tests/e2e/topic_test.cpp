// Topics over real sockets: one publish reaches the subscribers of every loop, from any
// thread; multi-line data framed once; a subscriber that does not read is dropped and counted
// while the others keep receiving; publishes refused before start and after stop; a stream
// follows one topic and leaves it when it ends.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/expectations.hpp"
#include "support/gate.hpp"
#include "support/http_client.hpp"
#include "support/probes.hpp"
#include "support/test_server.hpp"
#include "tetherd/demo_routes.hpp"

namespace {

using tether::EventStream;
using tether::Request;
using tether::Response;

// GET /sub/{name}: a first event naming the loop's thread, then the topic.
void sub_routes(tether::Server& s) {
  tetherd::add_demo_routes(s);  // POST /topic/{name}
  s.get("/sub/{name}", [&s](Request& req, Response res) {
    EventStream es = res.event_stream();
    es.send("loop " + std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id())));
    s.topic(req.param("name")).subscribe(es);
  });
}

// Reads until `needle` is in what `c` has received (bounded).
bool receives(tt::Client& c, const std::string& needle, int timeout_ms = 5000) {
  const int64_t t0 = tt::now_ms();
  while (c.buffered().find(needle) == std::string::npos) {
    if (tt::now_ms() - t0 > timeout_ms) return false;
    c.read_some(100);
  }
  return true;
}

std::string loop_of(tt::Client& c) {
  if (!receives(c, "data: loop ")) return {};
  const std::string& b = c.buffered();
  const size_t at = b.find("data: loop ") + 11;
  return b.substr(at, b.find('\n', at) - at);
}

TEST(Topic, OnePublishReachesSubscribersOnEveryLoopFromAnyThread) {
  tether::ServerOptions o;
  o.loops = 2;
  o.workers = 2;
  tt::TestServer srv(o, sub_routes);
  std::vector<std::unique_ptr<tt::Client>> subs;
  std::set<std::string> loops;
  // SO_REUSEPORT spreads connections by hash: open until both loops have subscribers.
  for (int i = 0; i < 64 && (loops.size() < 2 || subs.size() < 8); ++i) {
    auto c = std::make_unique<tt::Client>(srv.port());
    ASSERT_TRUE(c->send(tt::get_request("/sub/news")));
    const std::string loop = loop_of(*c);
    ASSERT_FALSE(loop.empty());
    loops.insert(loop);
    subs.push_back(std::move(c));
  }
  ASSERT_EQ(loops.size(), 2u) << "every connection landed on one loop";
  const uint64_t n = subs.size();
  ASSERT_TRUE(srv.wait_for([&](const tether::ServerStats& s) { return s.topic_subscribers == n; }));
  // From this (non-loop) thread, and from a thread of our own.
  EXPECT_TRUE(srv.server().topic("news").publish("one"));
  std::thread t([&] { EXPECT_TRUE(srv.server().topic("news").publish("two")); });
  t.join();
  for (auto& c : subs) {
    EXPECT_TRUE(receives(*c, "data: one\n\n"));
    EXPECT_TRUE(receives(*c, "data: two\n\n"));
  }
  // And from a handler (POST /topic/{name} of tetherd's routes).
  tt::Client poster(srv.port());
  auto r = tt::roundtrip(poster,
                         "POST /topic/news HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nthree");
  EXPECT_EQ(r.status, 202);
  for (auto& c : subs) EXPECT_TRUE(receives(*c, "data: three\n\n"));
  EXPECT_TRUE(srv.wait_for([&](const tether::ServerStats& s) {
    return s.topic_events_published == 3 && s.topic_deliveries == 3 * n;
  }));
  // Another topic's subscribers get nothing of it.
  tt::Client other(srv.port());
  ASSERT_TRUE(other.send(tt::get_request("/sub/sport")));
  ASSERT_FALSE(loop_of(other).empty());
  EXPECT_TRUE(srv.server().topic("news").publish("four"));
  for (auto& c : subs) EXPECT_TRUE(receives(*c, "data: four\n\n"));
  EXPECT_EQ(other.buffered().find("four"), std::string::npos);
  // Subscribers that leave are unsubscribed.
  subs.clear();
  other.close(true);
  EXPECT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.topic_subscribers == 0; }));
}

TEST(Topic, MultiLineDataEventAndIdAreFramedOnce) {
  tt::TestServer srv({}, sub_routes);
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::get_request("/sub/t")));
  ASSERT_FALSE(loop_of(c).empty());
  ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.topic_subscribers == 1; }));
  tether::Topic t = srv.server().topic("t");
  EXPECT_TRUE(t.publish("a\nb\r\nc\rd", "update", "7"));
  EXPECT_FALSE(t.publish("x", "bad\nevent"));
  EXPECT_FALSE(t.publish("x", "", "bad\rid"));
  EXPECT_TRUE(receives(c, "event: update\nid: 7\ndata: a\ndata: b\ndata: c\ndata: d\n\n"));
  EXPECT_EQ(srv.stats().topic_publishes_refused, 2u);
}

TEST(Topic, ASlowSubscriberIsDroppedWhileFastOnesKeepReceiving) {
  tether::ServerOptions o;
  o.topic_subscriber_max_bytes = 128 << 10;
  o.write_high_water = 64 << 10;
  tt::TestServer srv(o, sub_routes);
  tt::Client slow(srv.port()), fast(srv.port());
  ASSERT_TRUE(slow.send(tt::get_request("/sub/feed")));
  ASSERT_TRUE(fast.send(tt::get_request("/sub/feed")));
  ASSERT_FALSE(loop_of(slow).empty());
  ASSERT_FALSE(loop_of(fast).empty());
  ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.topic_subscribers == 2; }));
  const std::string payload(32 << 10, 'p');
  tether::Topic t = srv.server().topic("feed");
  int i = 0;
  // The slow one never reads: the kernel's buffers fill, then its unsent bytes pass the limit.
  for (; i < 4000 && srv.stats().topic_subscribers_dropped == 0; ++i) {
    ASSERT_TRUE(t.publish(payload, "", std::to_string(i)));
    ASSERT_TRUE(receives(fast, "id: " + std::to_string(i) + "\n")) << "event " << i;
  }
  ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) {
    return s.topic_subscribers_dropped == 1 && s.topic_subscribers == 1;
  }));
  tt::figure("topic_events_before_slow_dropped", static_cast<int64_t>(i));
  // Its connection is closed (what it has not read of it is lost), and the fast one goes on.
  EXPECT_TRUE(tt::eventually(
      [&] {
        slow.read_some(50);
        return slow.wait_closed(10);
      },
      20000));
  ASSERT_TRUE(t.publish("after", "", "last"));
  EXPECT_TRUE(receives(fast, "id: last\ndata: after\n\n"));
}

TEST(Topic, PublishBeforeStartAndAfterStopIsRefusedAndCounted) {
  tether::ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  auto server = std::make_unique<tether::Server>(o);
  tether::Topic early = server->topic("x");
  EXPECT_FALSE(early.publish("too early"));
  EXPECT_EQ(server->stats().topic_publishes_refused, 1u);
  ASSERT_TRUE(server->start());
  EXPECT_TRUE(early.publish("now"));
  server->stop();
  EXPECT_FALSE(early.publish("too late"));
  server->wait();
  EXPECT_EQ(server->stats().topic_publishes_refused, 2u);
  server.reset();
  EXPECT_FALSE(early.publish("server gone"));  // the handle outlives its server
  EXPECT_EQ(early.name(), "x");
  EXPECT_FALSE(tether::Topic().publish("dead handle"));
}

TEST(Topic, AStreamFollowsOneTopicAndLeavesWhenItEnds) {
  auto kept = std::make_shared<std::vector<EventStream>>();  // loop thread only
  tt::TestServer srv({}, [kept](tether::Server& s) {
    tt::add_test_routes(s);
    s.get("/twice", [&s, kept](Request&, Response res) {
      EventStream es = res.event_stream();
      EXPECT_TRUE(s.topic("a").subscribe(es));
      EXPECT_FALSE(s.topic("a").subscribe(es)) << "subscribed twice";
      EXPECT_FALSE(s.topic("b").subscribe(es)) << "a stream follows one topic";
      kept->push_back(es);
    });
    s.get("/end", [kept](Request&, Response res) {
      res.send(200, kept->front().end() ? "ended" : "dead");
    });
    s.get("/dead", [&s](Request&, Response res) {
      EventStream es = res.event_stream();
      es.end();
      EXPECT_FALSE(s.topic("a").subscribe(es)) << "subscribed a dead stream";
      EventStream none;
      EXPECT_FALSE(s.topic("a").subscribe(none));
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::get_request("/twice")));
  ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.topic_subscribers == 1; }));
  tt::Client d(srv.port());
  EXPECT_EQ(tt::roundtrip(d, tt::get_request("/dead")).status, 200);
  EXPECT_EQ(tt::roundtrip(d, tt::get_request("/end")).body, "ended");
  EXPECT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.topic_subscribers == 0; }));
  auto r = c.read_response(5000);
  ASSERT_TRUE(r) << "the ended stream did not end cleanly";
}

TEST(Topic, SubscribingFromAnotherThreadIsRefused) {
  auto kept = std::make_shared<std::vector<EventStream>>();
  auto gate = std::make_shared<tt::Gate>();
  tt::TestServer srv({}, [kept, gate](tether::Server& s) {
    s.get("/keep", [kept, gate](Request&, Response res) {
      kept->push_back(res.event_stream());
      gate->open();
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::get_request("/keep")));
  ASSERT_TRUE(gate->wait());
  EXPECT_FALSE(srv.server().topic("x").subscribe(kept->front()));  // the test thread
  EXPECT_GE(srv.stats().responses_misused, 1u);
}

}  // namespace
