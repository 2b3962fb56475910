// The mailbox scenario against real servers over loopback: tetherd's own mailbox (every
// waiter gets its own value, and the server agrees), mailboxes broken on purpose (values
// handed to the wrong waiter, handed to two, dropped, waiters answered 204 or never) that
// the scenario must catch, and a port with nothing listening. Each run is short (< 1 s).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "support/load_helpers.hpp"
#include "support/test_server.hpp"
#include "tether/load/error_kind.hpp"
#include "tether/load/mailbox_scenario.hpp"
#include "tetherd/demo_routes.hpp"

namespace {

using namespace std::chrono_literals;
using tether::load::ErrorKind;
using tether::load::MailboxOptions;
using tether::load::MailboxResult;

MailboxOptions options(uint16_t port, unsigned waiters) {
  MailboxOptions o;
  o.port = port;
  o.waiters = waiters;
  o.posters = 4;
  o.threads = 1;
  o.wait = 2s;
  o.timeout = 1s;
  return o;
}

uint64_t lost_of(const MailboxResult& r, ErrorKind k) {
  return r.lost_errors[static_cast<size_t>(k)];
}

/// Every waiter ends as exactly one verdict.
void expect_accounted(const MailboxResult& r, unsigned waiters) {
  EXPECT_EQ(r.delivered_own + r.misdelivered + r.lost, waiters);
  EXPECT_EQ(r.handoff.count(), r.delivered_own);
}

TEST(LoadMailbox, EveryWaiterGetsItsOwnValueFromTetherdsMailbox) {
  // Two server loops: most values cross from the poster's loop to the waiter's shard.
  tt::TestServer server(tt::loopback_options(2),
                        [](tether::Server& s) { tetherd::add_demo_routes(s); });
  const uint64_t delivered_before = server.stats().mailbox_delivered;
  MailboxOptions o = options(server.port(), 200);
  o.threads = 2;
  o.posters = 8;
  MailboxResult r = tether::load::run_mailbox(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(r.passed()) << format_mailbox_summary(o, r, "test");
  EXPECT_EQ(r.threads, 2u);
  EXPECT_EQ(r.delivered_own, 200u);
  EXPECT_EQ(r.misdelivered, 0u);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.duplicated, 0u);
  EXPECT_EQ(r.handoff.count(), 200u);
  EXPECT_GT(r.handoff.min(), 0u);
  EXPECT_GT(r.handoffs_per_sec(), 0);
  // The waiters were seen parked before the posts, so every post was a handoff, not a store.
  EXPECT_TRUE(r.gauge_available);
  EXPECT_TRUE(r.parked_confirmed);
  EXPECT_EQ(r.parked_written, 200u);
  EXPECT_EQ(r.posts_delivered, 200u);
  EXPECT_EQ(r.posts_stored, 0u);
  EXPECT_EQ(r.post_failures(), 0u);
  EXPECT_EQ(r.posts_unsent, 0u);
  EXPECT_EQ(r.connections_established, 200u + 8u + 1u);  // waiters, posters, /metrics
  EXPECT_EQ(r.nonce.size(), 16u);
  EXPECT_LT(r.elapsed, 2s);
  // The server counts the same handoffs.
  EXPECT_TRUE(server.wait_for(
      [&](const tether::ServerStats& s) { return s.mailbox_delivered - delivered_before >= 200; },
      2000));
  EXPECT_EQ(server.stats().mailbox_delivered - delivered_before, 200u);

  const std::string summary = format_mailbox_summary(o, r, "http://127.0.0.1/");
  EXPECT_NE(summary.find("200 delivered own, 0 misdelivered, 0 lost, 0 duplicated"),
            std::string::npos)
      << summary;
  EXPECT_NE(summary.find("Handoffs/sec: "), std::string::npos) << summary;
  EXPECT_NE(summary.find("  99.9%  "), std::string::npos) << summary;
  EXPECT_NE(summary.find("Mailbox: PASS"), std::string::npos) << summary;
}

TEST(LoadMailbox, ARunsValuesAreItsOwn) {
  // Two runs against one server: ids and values carry each run's nonce, so neither sees the
  // other's (a stored value left over could otherwise pass as correct).
  tt::TestServer server(tt::loopback_options(),
                        [](tether::Server& s) { tetherd::add_demo_routes(s); });
  MailboxOptions o = options(server.port(), 20);
  MailboxResult a = tether::load::run_mailbox(o);
  MailboxResult b = tether::load::run_mailbox(o);
  ASSERT_TRUE(a.ok() && b.ok()) << a.error << b.error;
  EXPECT_NE(a.nonce, b.nonce);
  EXPECT_TRUE(a.passed());
  EXPECT_TRUE(b.passed());
}

/// A broken mailbox on one loop: waiters are parked in arrival order whatever their id, and a
/// POST hands its value to the oldest parked waiter that is not its own (its own only when no
/// other is left). Every value reaches exactly one waiter, almost always the wrong one.
void add_misdelivering_routes(tether::Server& s) {
  auto parked = std::make_shared<std::deque<std::pair<std::string, tether::Response>>>();
  s.get("/mailbox/{id}", [parked](tether::Request& req, tether::Response res) {
    parked->emplace_back(std::string(req.param("id")), std::move(res));
  });
  s.post("/mailbox/{id}", [parked](tether::Request& req, tether::Response res) {
    if (parked->empty()) return void(res.send(202, R"({"delivered":false})"));
    auto it = parked->begin();
    if (it->first == req.param("id") && parked->size() > 1) ++it;
    it->second.send(200, req.body(), "application/octet-stream");
    parked->erase(it);
    res.send(200, R"({"delivered":true})");
  });
}

TEST(LoadMailbox, AValueHandedToAnotherWaiterIsMisdelivered) {
  tt::TestServer server(tt::loopback_options(), add_misdelivering_routes);
  MailboxOptions o = options(server.port(), 50);
  MailboxResult r = tether::load::run_mailbox(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_FALSE(r.passed());
  EXPECT_FALSE(r.gauge_available);  // this server has no /metrics: posting after a settle
  EXPECT_GE(r.misdelivered, 49u) << format_mailbox_summary(o, r, "test");
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.duplicated, 0u);  // each value went to one waiter
  EXPECT_EQ(r.posts_delivered, 50u);
  expect_accounted(r, 50);
  const std::string summary = format_mailbox_summary(o, r, "test");
  EXPECT_NE(summary.find("Mailbox: FAIL"), std::string::npos) << summary;
}

/// A broken mailbox that hands each value to its own waiter and to the oldest other one too.
void add_duplicating_routes(tether::Server& s) {
  auto parked = std::make_shared<std::deque<std::pair<std::string, tether::Response>>>();
  s.get("/mailbox/{id}", [parked](tether::Request& req, tether::Response res) {
    parked->emplace_back(std::string(req.param("id")), std::move(res));
  });
  s.post("/mailbox/{id}", [parked](tether::Request& req, tether::Response res) {
    bool own = false;
    for (auto it = parked->begin(); it != parked->end(); ++it) {
      if (it->first == req.param("id")) {
        it->second.send(200, req.body(), "application/octet-stream");
        parked->erase(it);
        own = true;
        break;
      }
    }
    if (!parked->empty()) {
      parked->front().second.send(200, req.body(), "application/octet-stream");
      parked->pop_front();
    }
    res.send(own ? 200 : 202, own ? R"({"delivered":true})" : R"({"delivered":false})");
  });
}

TEST(LoadMailbox, AValueHandedToTwoWaitersIsDuplicated) {
  tt::TestServer server(tt::loopback_options(), add_duplicating_routes);
  MailboxOptions o = options(server.port(), 50);
  MailboxResult r = tether::load::run_mailbox(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_FALSE(r.passed());
  EXPECT_GT(r.duplicated, 0u) << format_mailbox_summary(o, r, "test");
  EXPECT_GT(r.misdelivered, 0u);  // the second reader of a value is not its owner
  // Each post takes one or two of the parked waiters: none is left waiting.
  EXPECT_EQ(r.lost, 0u);
  expect_accounted(r, 50);
}

TEST(LoadMailbox, WaitersAnswered204AreLost) {
  tt::TestServer server(tt::loopback_options(), [](tether::Server& s) {
    s.get("/mailbox/{id}", [](tether::Request&, tether::Response res) { res.send(204); });
    s.post("/mailbox/{id}",
           [](tether::Request&, tether::Response res) { res.send(202, R"({"delivered":false})"); });
  });
  MailboxOptions o = options(server.port(), 40);
  MailboxResult r = tether::load::run_mailbox(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_FALSE(r.passed());
  EXPECT_EQ(r.lost, 40u);
  EXPECT_EQ(r.lost_status[204], 40u);
  EXPECT_EQ(r.delivered_own, 0u);
  EXPECT_EQ(r.misdelivered, 0u);
  EXPECT_EQ(r.posts_stored, 40u);
  EXPECT_EQ(r.handoff.count(), 0u);
  EXPECT_LT(r.elapsed, 1s);  // nothing waited for its timeout
  const std::string summary = format_mailbox_summary(o, r, "test");
  EXPECT_NE(summary.find("Lost: 204 x40"), std::string::npos) << summary;
}

/// tetherd's mailbox behind GET and POST routes of our own (no /metrics: no gauge), and GETs
/// that park only after `park_after` on the worker pool.
void add_late_parking_routes(tether::Server& s, std::chrono::milliseconds park_after) {
  s.get("/mailbox/{id}", [&s, park_after](tether::Request& req, tether::Response res) {
    const auto wait = std::chrono::milliseconds(std::stoul(std::string(*req.query("wait_ms"))));
    res.offload([park_after](std::stop_token) { std::this_thread::sleep_for(park_after); },
                [&s, wait, id = std::string(req.param("id"))](tether::Response r) {
                  s.mailbox().wait(
                      r, id, wait,
                      [](tether::Response r2, tether::MailboxTake take, std::string value) {
                        if (take == tether::MailboxTake::Value) {
                          return void(r2.send(200, value));
                        }
                        r2.send(take == tether::MailboxTake::TimedOut ? 204 : 503);
                      });
                });
  });
  s.post("/mailbox/{id}", [&s](tether::Request& req, tether::Response res) {
    s.mailbox().post(std::string(req.param("id")), std::string(req.body()),
                     [res](tether::MailboxPost p) mutable {
                       res.send(p == tether::MailboxPost::Delivered ? 200
                                : p == tether::MailboxPost::Stored  ? 202
                                                                    : 503,
                                "{}");
                     });
  });
}

TEST(LoadMailbox, AValuePostedBeforeItsWaiterParkedIsStoredAndStillItsOwn) {
  // The waiters park 150 ms after their requests arrive, long after the 50 ms settle: every
  // post is stored (202), and each waiter then takes its own value. Correct, and reported
  // as stores, not handoffs.
  tt::TestServer server(tt::loopback_options(1, 8),
                        [](tether::Server& s) { add_late_parking_routes(s, 150ms); });
  MailboxOptions o = options(server.port(), 8);
  MailboxResult r = tether::load::run_mailbox(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(r.passed()) << format_mailbox_summary(o, r, "test");
  EXPECT_FALSE(r.gauge_available);
  EXPECT_EQ(r.delivered_own, 8u);
  EXPECT_EQ(r.posts_stored, 8u);
  EXPECT_EQ(r.posts_delivered, 0u);
  EXPECT_EQ(r.handoff.count(), 8u);
}

TEST(LoadMailbox, AValueThePostDropsIsLost) {
  // tetherd's mailbox (and its /metrics), except that a POST for an id ending in 7 answers
  // 200 and drops the value: its waiter's wait ends with 204.
  tt::TestServer server(tt::loopback_options(2), [](tether::Server& s) {
    s.get("/metrics", [&s](tether::Request&, tether::Response res) {
      res.send(200, tether::prometheus_text(s.stats()), "text/plain; version=0.0.4");
    });
    s.get("/mailbox/{id}", [&s](tether::Request& req, tether::Response res) {
      const auto wait = std::chrono::milliseconds(std::stoul(std::string(*req.query("wait_ms"))));
      s.mailbox().wait(res, std::string(req.param("id")), wait,
                       [](tether::Response r, tether::MailboxTake take, std::string value) {
                         if (take == tether::MailboxTake::Value) return void(r.send(200, value));
                         r.send(take == tether::MailboxTake::TimedOut ? 204 : 503);
                       });
    });
    s.post("/mailbox/{id}", [&s](tether::Request& req, tether::Response res) {
      if (req.param("id").back() == '7') return void(res.send(200, R"({"delivered":true})"));
      s.mailbox().post(std::string(req.param("id")), std::string(req.body()),
                       [res](tether::MailboxPost p) mutable {
                         res.send(p == tether::MailboxPost::Delivered ? 200 : 202, "{}");
                       });
    });
  });
  MailboxOptions o = options(server.port(), 100);
  o.wait = 400ms;
  o.threads = 2;
  MailboxResult r = tether::load::run_mailbox(o);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_FALSE(r.passed());
  EXPECT_TRUE(r.parked_confirmed);
  EXPECT_EQ(r.lost, 10u) << format_mailbox_summary(o, r, "test");
  EXPECT_EQ(r.lost_status[204], 10u);
  EXPECT_EQ(r.delivered_own, 90u);
  EXPECT_EQ(r.misdelivered, 0u);
  EXPECT_EQ(r.duplicated, 0u);
  EXPECT_EQ(r.posts_delivered, 100u);  // the server says so; the waiters say otherwise
  expect_accounted(r, 100);
}

TEST(LoadMailbox, AWaiterNeverAnsweredIsLostAtItsWaitPlusTheTimeout) {
  // The server holds every waiter's response and never answers it.
  auto held = std::make_shared<std::deque<tether::Response>>();
  tt::TestServer server(tt::loopback_options(), [held](tether::Server& s) {
    s.get("/mailbox/{id}",
          [held](tether::Request&, tether::Response res) { held->push_back(std::move(res)); });
    s.post("/mailbox/{id}",
           [](tether::Request&, tether::Response res) { res.send(200, R"({"delivered":true})"); });
  });
  MailboxOptions o = options(server.port(), 20);
  o.wait = 200ms;
  o.timeout = 300ms;
  const auto start = std::chrono::steady_clock::now();
  MailboxResult r = tether::load::run_mailbox(o);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.lost, 20u);
  EXPECT_EQ(lost_of(r, ErrorKind::timeout), 20u) << format_mailbox_summary(o, r, "test");
  EXPECT_GE(took, 500ms);
  EXPECT_LT(took, 1500ms);
}

TEST(LoadMailbox, NothingListeningIsARunError) {
  const uint16_t port = tt::closed_port();
  MailboxOptions o = options(port, 50);
  o.threads = 2;
  const auto start = std::chrono::steady_clock::now();
  MailboxResult r = tether::load::run_mailbox(o);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error,
            "cannot connect to 127.0.0.1:" + std::to_string(port) + ": connection refused");
  EXPECT_FALSE(r.passed());
}

TEST(LoadMailbox, BadOptionsAreRunErrors) {
  MailboxOptions o = options(1, 0);
  EXPECT_EQ(tether::load::run_mailbox(o).error, "waiters must be between 1 and 1000000");
  o = options(1, 10);
  o.path_prefix = "mailbox";
  EXPECT_NE(tether::load::run_mailbox(o).error.find("path_prefix"), std::string::npos);
  o = options(1, 10);
  o.host = "no-such-host.invalid";
  EXPECT_NE(tether::load::run_mailbox(o).error.find("cannot resolve host"), std::string::npos);
}

}  // namespace
