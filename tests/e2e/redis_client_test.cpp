// The Redis client layer (src/redis/) against a real redis-server on an ephemeral loopback
// port: commands and pipelining, the handshake (AUTH, SELECT), timeouts against a stopped
// (SIGSTOP) server, reconnects with backoff, pub/sub across a restart, scripts by SHA, and
// the promises at the edges: one callback per command, on the loop thread, never inside
// command(), never after the loop's teardown, and a throwing callback caught and counted.
// Linked with the reactor core and src/redis/ only: nothing of HTTP or the server.
#include <gtest/gtest.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "core/loop.hpp"
#include "redis/redis_connection.hpp"
#include "redis/redis_loop.hpp"
#include "redis/redis_url.hpp"
#include "support/gate.hpp"
#include "support/redis_server.hpp"

namespace {

using namespace std::chrono_literals;
using tether::detail::Loop;
using tether::detail::RedisConnection;
using tether::detail::RedisFailure;
using tether::detail::RedisLoop;
using tether::detail::RedisReply;
using tether::detail::RedisResult;
using tether::detail::RedisUrl;

/// Short timeouts and backoff, so that outages and recoveries fit in a fast test.
RedisConnection::Options fast(RedisConnection::Role role = RedisConnection::Role::command) {
  RedisConnection::Options o;
  o.role = role;
  o.connect_timeout_ms = 300;
  o.backoff_initial_ms = 20;
  o.backoff_max_ms = 200;
  return o;
}

uint64_t now_ms() {
  return uv_hrtime() / 1000000;
}

/// A core loop with the Redis extension and a log that the test can read. The loop stops in
/// its destructor, and the connections' last callbacks (failures, a state change) run then:
/// a test declares what its callbacks touch before its Harness.
class Harness {
 public:
  explicit Harness(uint32_t drain_ms = 2000)
      : loop_(std::make_unique<Loop>(0, drain_ms, tether::detail::Log(logger()))),
        redis_(&RedisLoop::attach(*loop_)) {}
  ~Harness() { stop(); }

  Loop& loop() { return *loop_; }
  RedisLoop& redis() { return *redis_; }

  /// A connection to `url` (before start()).
  RedisConnection& open(const std::string& url, RedisConnection::Options o = fast()) {
    RedisUrl u;
    const tether::Status st = tether::detail::parse_redis_url(url, u);
    EXPECT_TRUE(st.ok()) << st.message();
    return redis_->open(u, o);
  }
  void start() { loop_->start(); }
  void stop() {
    if (loop_ && !stopped_) {
      loop_->request_stop();
      loop_->join();
      stopped_ = true;
    }
  }
  /// Destroys the loop (after stop()).
  void destroy() {
    stop();
    loop_.reset();
    redis_ = nullptr;
  }

  /// Runs `fn` on the loop thread and waits for it (bounded); what it throws is rethrown here.
  template <class F>
  auto on_loop(F fn) -> decltype(fn()) {
    using R = decltype(fn());
    if constexpr (std::is_void_v<R>) {
      run_on_loop(std::function<void()>(std::move(fn)));
    } else {
      std::optional<R> result;
      run_on_loop([&] { result.emplace(fn()); });
      return std::move(*result);
    }
  }

  /// One command from the test thread, waited for (bounded).
  RedisResult call(RedisConnection& c, std::vector<std::string> argv, uint32_t timeout_ms = 2000) {
    auto p = std::make_shared<std::promise<RedisResult>>();
    auto f = p->get_future();
    EXPECT_TRUE(loop_->post_task([&c, p, argv, timeout_ms] {
      c.command(argv, timeout_ms, [p](RedisResult r) { p->set_value(std::move(r)); });
    }));
    if (f.wait_for(std::chrono::milliseconds(timeout_ms) + 3s) != std::future_status::ready) {
      ADD_FAILURE() << "no callback for " << argv[0];
      return RedisResult::failed(RedisFailure::timeout);
    }
    return f.get();
  }

  /// on_loop's one non-template part (this file has dozens of lambdas: a packaged_task and a
  /// future for each would double its compile time under the sanitizers).
  void run_on_loop(const std::function<void()>& fn) {
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    EXPECT_TRUE(loop_->post_task([&fn, done] {
      try {
        fn();
        done->set_value();
      } catch (...) {
        done->set_exception(std::current_exception());
      }
    }));
    if (f.wait_for(5s) != std::future_status::ready) {
      // `fn` refers to the caller's frame: it must not run after this returns.
      ADD_FAILURE() << "the loop did not run the task within 5 s";
      std::abort();
    }
    f.get();
  }

  std::vector<std::string> log_lines() {
    std::lock_guard<std::mutex> lock(*log_mu_);
    return *log_;
  }

 private:
  tether::Logger logger() {
    auto mu = log_mu_;
    auto lines = log_;
    return [mu, lines](tether::LogLevel, std::string_view m) {
      std::lock_guard<std::mutex> lock(*mu);
      lines->emplace_back(m);
    };
  }

  std::shared_ptr<std::mutex> log_mu_ = std::make_shared<std::mutex>();
  std::shared_ptr<std::vector<std::string>> log_ = std::make_shared<std::vector<std::string>>();
  std::unique_ptr<Loop> loop_;
  RedisLoop* redis_;
  bool stopped_ = false;
};

bool wait_up(RedisConnection& c, bool up = true, int timeout_ms = 5000) {
  return tt::eventually([&] { return c.up() == up; }, timeout_ms);
}

class RedisClient : public ::testing::Test {
 protected:
  void SetUp() override { TT_REQUIRE_REDIS(); }

  /// Starts `server` or fails the test.
  static void start(tt::RedisServer& server) {
    ASSERT_TRUE(server.start()) << server.error();
  }
};

// ---------------------------------------------------------------- commands

TEST_F(RedisClient, SetThenGetRoundTripsBinaryValues) {
  tt::RedisServer server;
  start(server);
  Harness h;
  RedisConnection& c = h.open(server.url());
  h.start();
  ASSERT_TRUE(wait_up(c)) << h.on_loop([&] { return c.last_error(); });

  const std::string value("a\0b\r\nc", 6);
  RedisResult set = h.call(c, {"SET", "k", value});
  ASSERT_TRUE(set.ok()) << set.describe();
  EXPECT_TRUE(set.reply.is_status("OK")) << set.describe();
  RedisResult get = h.call(c, {"GET", "k"});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get.reply.type, RedisReply::Type::string);
  EXPECT_EQ(get.reply.str, value);
  EXPECT_TRUE(h.call(c, {"GET", "missing"}).reply.is_nil());
  // An error reply is an answer, not a failure.
  RedisResult wrong = h.call(c, {"INCR", "k"});
  ASSERT_TRUE(wrong.ok());
  EXPECT_TRUE(wrong.reply.is_error()) << wrong.describe();
  RedisResult list = h.call(c, {"RPUSH", "l", "x", "y"});
  EXPECT_EQ(list.reply.integer, 2);
  RedisResult range = h.call(c, {"LRANGE", "l", "0", "-1"});
  ASSERT_EQ(range.reply.type, RedisReply::Type::array);
  ASSERT_EQ(range.reply.elements.size(), 2u);
  EXPECT_EQ(range.reply.elements[1].str, "y");
  EXPECT_EQ(c.counters().commands.get(), 6u);
  EXPECT_EQ(c.counters().error_replies.get(), 1u);
  EXPECT_EQ(c.counters().connects.get(), 1u);
}

TEST_F(RedisClient, TenThousandPipelinedIncrsCompleteInOrderWithTheirValues) {
  tt::RedisServer server;
  start(server);
  constexpr int kCommands = 10000;
  // What the callbacks touch is declared before the loop, which stops (and may still call
  // back) when the harness goes.
  std::vector<int64_t> values;  // loop thread
  std::atomic<int> failures{0};
  tt::Gate done;
  Harness h;
  RedisConnection& c = h.open(server.url());
  h.start();
  ASSERT_TRUE(wait_up(c));
  const size_t in_flight = h.on_loop([&] {
    values.reserve(kCommands);
    for (int i = 0; i < kCommands; ++i) {
      c.command({"INCR", "n"}, 10000, [&](RedisResult r) {
        if (!r.ok() || r.reply.type != RedisReply::Type::integer) failures.fetch_add(1);
        values.push_back(r.reply.integer);
        if (values.size() == kCommands) done.open();
      });
    }
    return c.in_flight();  // nothing can have come back yet: all of them are in flight
  });
  EXPECT_EQ(in_flight, static_cast<size_t>(kCommands));
  ASSERT_TRUE(done.wait(10s));
  EXPECT_EQ(failures.load(), 0);
  h.on_loop([&] {
    ASSERT_EQ(values.size(), static_cast<size_t>(kCommands));
    for (int i = 0; i < kCommands; ++i) ASSERT_EQ(values[i], i + 1) << "out of order at " << i;
    EXPECT_EQ(c.in_flight(), 0u);
  });
}

TEST_F(RedisClient, ACallbackNeverRunsInsideTheCommandThatFailedIt) {
  std::atomic<bool> returned{false};
  std::atomic<int> inside{0};
  std::atomic<int> calls{0};
  RedisFailure seen = RedisFailure::none;
  tt::Gate done;
  Harness h;
  RedisConnection& c = h.open("redis://127.0.0.1:1");  // nothing listens on port 1
  h.start();
  h.on_loop([&] {
    c.command({"PING"}, 1000, [&](RedisResult r) {
      if (!returned.load()) inside.fetch_add(1);
      seen = r.failure;
      calls.fetch_add(1);
      done.open();
    });
    returned = true;
  });
  ASSERT_TRUE(done.wait(2s));
  EXPECT_EQ(inside.load(), 0);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(seen, RedisFailure::not_connected);
  EXPECT_FALSE(c.up());
  EXPECT_EQ(c.counters().not_connected.get(), 1u);
}

// ---------------------------------------------------------------- the handshake

TEST_F(RedisClient, AuthWithThePasswordLogsIn) {
  tt::RedisServer server({.password = "pw-Open-Sesame"});
  start(server);
  Harness h;
  RedisConnection& c = h.open("redis://:pw-Open-Sesame@127.0.0.1:" + std::to_string(server.port()));
  h.start();
  ASSERT_TRUE(wait_up(c)) << h.on_loop([&] { return c.last_error(); });
  EXPECT_TRUE(h.call(c, {"SET", "a", "1"}).reply.is_status("OK"));
  EXPECT_EQ(h.call(c, {"GET", "a"}).reply.str, "1");
}

TEST_F(RedisClient, AWrongOrMissingPasswordIsAClearErrorThatNeverShowsThePassword) {
  tt::RedisServer server({.password = "the-right-one"});
  start(server);
  Harness h;
  const std::string secret = "Wr0ng-S3cret-9";
  RedisConnection& wrong =
      h.open("redis://:" + secret + "@127.0.0.1:" + std::to_string(server.port()));
  RedisConnection& none = h.open(server.url());
  h.start();
  ASSERT_TRUE(tt::eventually(
      [&] { return h.on_loop([&] { return !wrong.last_error().empty() && !none.last_error().empty(); }); }));
  const std::string wrong_error = h.on_loop([&] { return wrong.last_error(); });
  const std::string none_error = h.on_loop([&] { return none.last_error(); });
  EXPECT_NE(wrong_error.find("AUTH refused"), std::string::npos) << wrong_error;
  EXPECT_NE(wrong_error.find("WRONGPASS"), std::string::npos) << wrong_error;
  EXPECT_NE(none_error.find("requires a password"), std::string::npos) << none_error;
  EXPECT_FALSE(wrong.up());
  EXPECT_FALSE(none.up());
  EXPECT_EQ(h.call(wrong, {"PING"}).failure, RedisFailure::not_connected);
  // It keeps trying (the password may be fixed on the server), with backoff.
  ASSERT_TRUE(tt::eventually([&] { return wrong.counters().reconnects.get() >= 2; }));
  h.stop();
  const auto lines = h.log_lines();
  ASSERT_FALSE(lines.empty());
  bool logged_auth = false;
  for (const std::string& l : lines) {
    EXPECT_EQ(l.find(secret), std::string::npos) << "the log shows the password: " << l;
    EXPECT_EQ(l.find("the-right-one"), std::string::npos) << l;
    if (l.find("AUTH refused") != std::string::npos) logged_auth = true;
  }
  EXPECT_TRUE(logged_auth);
  EXPECT_LE(lines.size(), 4u) << "one line per outage, not one per attempt";
  EXPECT_EQ(wrong_error.find(secret), std::string::npos);
}

TEST_F(RedisClient, TheUrlsDatabaseIsSelected) {
  tt::RedisServer server;
  start(server);
  Harness h;
  RedisConnection& db3 = h.open(server.url() + "/3");
  RedisConnection& db0 = h.open(server.url());
  RedisConnection& db3_again = h.open(server.url() + "/3");
  h.start();
  ASSERT_TRUE(wait_up(db3) && wait_up(db0) && wait_up(db3_again));
  EXPECT_TRUE(h.call(db3, {"SET", "where", "three"}).reply.is_status("OK"));
  EXPECT_TRUE(h.call(db0, {"GET", "where"}).reply.is_nil());
  EXPECT_EQ(h.call(db3_again, {"GET", "where"}).reply.str, "three");
  RedisConnection* bad = nullptr;
  h.on_loop([&] {
    RedisUrl u;
    (void)tether::detail::parse_redis_url(server.url() + "/99", u);  // only 16 databases
    bad = &h.redis().open(u, fast());
  });
  ASSERT_TRUE(tt::eventually([&] { return h.on_loop([&] { return !bad->last_error().empty(); }); }));
  EXPECT_NE(h.on_loop([&] { return bad->last_error(); }).find("SELECT 99 refused"), std::string::npos);
  EXPECT_FALSE(bad->up());
}

TEST_F(RedisClient, AnIpv6AddressIsRefusedWithAClearErrorInsteadOfALookupOnTheLoop) {
  Harness h;
  RedisConnection& c = h.open("redis://[::1]:6379");
  h.start();
  ASSERT_TRUE(tt::eventually([&] { return h.on_loop([&] { return !c.last_error().empty(); }); }));
  EXPECT_NE(h.on_loop([&] { return c.last_error(); }).find("IPv6 is not supported"),
            std::string::npos);
  EXPECT_FALSE(c.up());
}

TEST_F(RedisClient, AUnixSocketAndAHostNameWorkToo) {
  tt::RedisServer server({.password = "", .unix_socket = true});
  start(server);
  Harness h;
  RedisConnection& unix_conn = h.open("unix://" + server.socket_path());
  RedisConnection& named = h.open("redis://localhost:" + std::to_string(server.port()) + "/1");
  h.start();
  ASSERT_TRUE(wait_up(unix_conn)) << h.on_loop([&] { return unix_conn.last_error(); });
  ASSERT_TRUE(wait_up(named)) << h.on_loop([&] { return named.last_error(); });
  EXPECT_TRUE(h.call(unix_conn, {"PING"}).reply.is_status("PONG"));
  EXPECT_TRUE(h.call(named, {"SET", "x", "y"}).reply.is_status("OK"));
}

// ---------------------------------------------------------------- outages

TEST_F(RedisClient, AStoppedRedisTimesCommandsOutOnTimeAndTheLoopStaysResponsive) {
  tt::RedisServer server;
  start(server);
  struct Outcome {
    std::atomic<uint64_t> at_ms{0};
    std::atomic<int> calls{0};
    RedisFailure failure = RedisFailure::none;
  };
  Outcome first, behind;
  tt::Gate both;
  Harness h;
  RedisConnection& c = h.open(server.url());
  h.start();
  ASSERT_TRUE(wait_up(c));
  ASSERT_TRUE(h.call(c, {"MSET", "k1", "one", "k2", "two"}).ok());

  server.pause();  // SIGSTOP: the kernel still takes the bytes; nothing answers
  constexpr uint32_t kTimeout = 200;
  const uint64_t t0 = h.on_loop([&] {
    const uint64_t t = now_ms();
    c.command({"GET", "k1"}, kTimeout, [&](RedisResult r) {
      first.failure = r.failure;
      first.at_ms = now_ms();
      first.calls.fetch_add(1);
    });
    // Behind it on the same connection, with a much longer timeout of its own.
    c.command({"GET", "k2"}, 10000, [&](RedisResult r) {
      behind.failure = r.failure;
      behind.at_ms = now_ms();
      behind.calls.fetch_add(1);
      both.open();
    });
    return t;
  });
  // Meanwhile the loop runs other work at once.
  std::this_thread::sleep_for(50ms);
  const uint64_t posted = now_ms();
  const uint64_t ran = h.on_loop([] { return now_ms(); });
  EXPECT_LT(ran - posted, 100u) << "the loop was blocked by the stalled Redis";
  EXPECT_EQ(first.calls.load(), 0) << "answered before its timeout";

  ASSERT_TRUE(both.wait(3s));
  EXPECT_EQ(first.failure, RedisFailure::timeout);
  const uint64_t elapsed = first.at_ms - t0;
  EXPECT_GE(elapsed, kTimeout - 10) << "timed out early";
  EXPECT_LE(elapsed, kTimeout + 300) << "timed out late";
  // The timeout dropped the connection: the command behind it ends too, at the same time,
  // instead of waiting out its own 10 s.
  EXPECT_EQ(behind.failure, RedisFailure::disconnected);
  EXPECT_LE(behind.at_ms - first.at_ms, 50u);
  EXPECT_EQ(first.calls.load(), 1);
  EXPECT_EQ(behind.calls.load(), 1);
  EXPECT_FALSE(c.up());
  EXPECT_EQ(c.counters().timeouts.get(), 1u);
  EXPECT_EQ(c.counters().disconnected.get(), 1u);
  // Down: a command fails at once instead of waiting for its timeout.
  const uint64_t before = now_ms();
  EXPECT_EQ(h.call(c, {"GET", "k1"}, 5000).failure, RedisFailure::not_connected);
  EXPECT_LT(now_ms() - before, 100u);

  server.resume();
  ASSERT_TRUE(wait_up(c)) << h.on_loop([&] { return c.last_error(); });
  EXPECT_GE(c.counters().reconnects.get(), 1u);
  // The late answer to GET k1 went with the dropped connection: the next command gets its own.
  RedisResult next = h.call(c, {"GET", "k2"});
  ASSERT_TRUE(next.ok()) << next.describe();
  EXPECT_EQ(next.reply.str, "two");
}

TEST_F(RedisClient, ARestartedRedisIsReconnectedToByItself) {
  tt::RedisServer server;
  start(server);
  std::mutex mu;
  std::vector<bool> states;  // before the loop: its last state change comes as it stops
  Harness h;
  RedisConnection& c = h.open(server.url());
  c.on_state([&](bool up) {
    std::lock_guard<std::mutex> lock(mu);
    states.push_back(up);
  });
  h.start();
  ASSERT_TRUE(wait_up(c));
  ASSERT_TRUE(h.call(c, {"SET", "k", "v"}).ok());

  server.stop();
  ASSERT_TRUE(wait_up(c, false)) << "up() stays true while Redis is gone";
  EXPECT_EQ(h.call(c, {"GET", "k"}).failure, RedisFailure::not_connected);
  const std::string why = h.on_loop([&] { return c.last_error(); });
  EXPECT_NE(why.find("connection lost"), std::string::npos) << why;
  std::this_thread::sleep_for(300ms);  // a few attempts fail meanwhile, with backoff
  const uint64_t attempts = c.counters().reconnects.get();
  EXPECT_GE(attempts, 2u);
  EXPECT_LE(attempts, 12u) << "backoff: 20, 40, 80, 160, 200 ms ... not a spin";

  ASSERT_TRUE(server.restart()) << server.error();
  ASSERT_TRUE(wait_up(c)) << h.on_loop([&] { return c.last_error(); });
  EXPECT_TRUE(h.call(c, {"SET", "k", "again"}).reply.is_status("OK"));
  EXPECT_EQ(h.call(c, {"GET", "k"}).reply.str, "again");
  EXPECT_EQ(c.counters().connection_losses.get(), 1u);
  EXPECT_EQ(c.counters().connects.get(), 2u);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(states, (std::vector<bool>{true, false, true}));
}

TEST_F(RedisClient, CloseFailsWhatIsInFlightAndEndsTheConnection) {
  tt::RedisServer server;
  start(server);
  std::vector<RedisFailure> seen;  // loop thread
  tt::Gate done;
  Harness h;
  RedisConnection& c = h.open(server.url());
  h.start();
  ASSERT_TRUE(wait_up(c));
  server.pause();
  h.on_loop([&] {
    c.command({"GET", "a"}, 5000, [&](RedisResult r) { seen.push_back(r.failure); });
    c.close();
    c.command({"GET", "b"}, 5000, [&](RedisResult r) {
      seen.push_back(r.failure);
      done.open();
    });
  });
  ASSERT_TRUE(done.wait(2s));
  h.on_loop([&] {
    EXPECT_EQ(seen, (std::vector<RedisFailure>{RedisFailure::disconnected, RedisFailure::not_connected}));
  });
  server.resume();
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(c.up()) << "a closed connection does not come back";
  EXPECT_EQ(c.counters().reconnects.get(), 0u);
}

// ---------------------------------------------------------------- pub/sub

TEST_F(RedisClient, MessagesReachTheSubscriberAndItResubscribesAfterARestart) {
  tt::RedisServer server;
  start(server);
  std::mutex mu;  // before the loop, which outlives what its handlers touch
  std::vector<std::string> got;
  std::atomic<int> off_thread{0};
  Harness h;
  RedisConnection& sub = h.open(server.url(), fast(RedisConnection::Role::subscriber));
  RedisConnection& pub = h.open(server.url());
  sub.subscribe("news", [&](const std::string& channel, const std::string& payload) {
    if (!h.loop().on_loop_thread()) off_thread.fetch_add(1);
    std::lock_guard<std::mutex> lock(mu);
    got.push_back(channel + ":" + payload);
  });
  auto received = [&](size_t n) {
    return tt::eventually([&] {
      std::lock_guard<std::mutex> lock(mu);
      return got.size() >= n;
    });
  };
  h.start();
  ASSERT_TRUE(wait_up(sub) && wait_up(pub));
  ASSERT_TRUE(tt::eventually([&] { return h.on_loop([&] { return sub.subscribed("news"); }); }));
  RedisResult r = h.call(pub, {"PUBLISH", "news", "first"});
  EXPECT_EQ(r.reply.integer, 1) << "one subscriber: " << r.describe();
  ASSERT_TRUE(received(1));
  EXPECT_EQ(h.call(pub, {"PUBLISH", "other", "x"}).reply.integer, 0);

  ASSERT_TRUE(server.restart()) << server.error();
  ASSERT_TRUE(wait_up(sub)) << h.on_loop([&] { return sub.last_error(); });
  ASSERT_TRUE(wait_up(pub));
  ASSERT_TRUE(tt::eventually([&] { return h.on_loop([&] { return sub.subscribed("news"); }); }))
      << "not subscribed again after the restart";
  EXPECT_EQ(h.call(pub, {"PUBLISH", "news", "second"}).reply.integer, 1);
  ASSERT_TRUE(received(2));
  std::this_thread::sleep_for(20ms);  // nothing more arrives
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(got, (std::vector<std::string>{"news:first", "news:second"}));
  EXPECT_EQ(off_thread.load(), 0);
  EXPECT_EQ(sub.counters().messages.get(), 2u);
  EXPECT_THROW(h.on_loop([&] { sub.command({"PING"}, 100, [](RedisResult) {}); }), std::logic_error);
  // Nor may a command connection turn itself into a subscriber behind hiredis' back.
  EXPECT_THROW(h.on_loop([&] { pub.command({"subscribe", "x"}, 100, [](RedisResult) {}); }),
               std::logic_error);
  EXPECT_THROW(h.on_loop([&] { pub.command({"MONITOR"}, 100, [](RedisResult) {}); }),
               std::logic_error);
  EXPECT_EQ(h.call(pub, {"PING"}).reply.describe(), "+PONG");
}

// ---------------------------------------------------------------- scripts

TEST_F(RedisClient, AScriptRunsBySha1WithTheNoscriptFallback) {
  tt::RedisServer server;
  start(server);
  Harness h;
  RedisConnection& c = h.open(server.url());
  h.start();
  ASSERT_TRUE(wait_up(c));
  const std::string script = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
  RedisResult loaded = h.call(c, {"SCRIPT", "LOAD", script});
  ASSERT_EQ(loaded.reply.type, RedisReply::Type::string) << loaded.describe();
  const std::string sha = loaded.reply.str;
  ASSERT_EQ(sha.size(), 40u);
  ASSERT_TRUE(h.call(c, {"SCRIPT", "FLUSH"}).ok());  // as after a Redis restart

  // The pattern the mailbox will use: EVALSHA, and on NOSCRIPT the script itself (which
  // caches it), chained through callbacks on the loop thread.
  auto eval = [&](const std::string& key, const std::string& by) {
    auto p = std::make_shared<std::promise<std::pair<RedisResult, bool>>>();
    auto f = p->get_future();
    h.loop().post_task([&, p, key, by] {
      c.command({"EVALSHA", sha, "1", key, by}, 1000, [&, p, key, by](RedisResult r) {
        if (r.ok() && r.reply.is_error_code("NOSCRIPT")) {
          c.command({"EVAL", script, "1", key, by}, 1000,
                    [p](RedisResult r2) { p->set_value({std::move(r2), true}); });
          return;
        }
        p->set_value({std::move(r), false});
      });
    });
    EXPECT_EQ(f.wait_for(3s), std::future_status::ready);
    return f.get();
  };
  auto [first, fell_back] = eval("counter", "5");
  EXPECT_TRUE(fell_back) << "the flushed script was not found by its SHA";
  EXPECT_EQ(first.reply.integer, 5) << first.describe();
  auto [second, fell_back_again] = eval("counter", "7");
  EXPECT_FALSE(fell_back_again) << "EVAL cached the script: its SHA works now";
  EXPECT_EQ(second.reply.integer, 12) << second.describe();
}

// ---------------------------------------------------------------- the loop's edges

TEST_F(RedisClient, StoppingTheLoopAnswersEveryCommandInFlightOnceAndNothingAfterTeardown) {
  tt::RedisServer server;
  start(server);
  constexpr int kCommands = 200;
  struct Seen {
    std::atomic<int> calls{0};
    std::atomic<int> failure{-1};
  };
  std::vector<Seen> first(kCommands), retry(kCommands);
  std::atomic<int> bad_context{0};
  auto h = std::make_unique<Harness>(/*drain_ms=*/100);
  RedisConnection& c = h->open(server.url());
  h->start();
  ASSERT_TRUE(wait_up(c));
  server.pause();  // what is sent now stays in flight until the drain deadline

  Loop* loop = &h->loop();
  auto check_context = [&] {
    if (!loop->on_loop_thread() || loop->anchor().retired()) bad_context.fetch_add(1);
  };
  h->on_loop([&] {
    for (int i = 0; i < kCommands; ++i) {
      c.command({"GET", "k"}, 10000, [&, i](RedisResult r) {
        check_context();
        first[i].failure = static_cast<int>(r.failure);
        first[i].calls.fetch_add(1);
        // Retrying from the failure: the connection is closing, so this one gets
        // not_connected, still exactly once and still before the teardown ends.
        c.command({"GET", "k"}, 10000, [&, i](RedisResult r2) {
          check_context();
          retry[i].failure = static_cast<int>(r2.failure);
          retry[i].calls.fetch_add(1);
        });
      });
    }
  });
  EXPECT_EQ(h->on_loop([&] { return c.in_flight(); }), static_cast<size_t>(kCommands));
  const uint64_t stop_began = now_ms();
  h->stop();  // drains until the deadline (100 ms), aborts what is left, tears down
  EXPECT_LT(now_ms() - stop_began, 1000u) << "the drain deadline did not end the commands";
  auto total = [&] {
    int n = 0;
    for (int i = 0; i < kCommands; ++i) n += first[i].calls.load() + retry[i].calls.load();
    return n;
  };
  for (int i = 0; i < kCommands; ++i) {
    EXPECT_EQ(first[i].calls.load(), 1) << i;
    EXPECT_EQ(first[i].failure.load(), static_cast<int>(RedisFailure::disconnected)) << i;
    EXPECT_EQ(retry[i].calls.load(), 1) << i;
    EXPECT_EQ(retry[i].failure.load(), static_cast<int>(RedisFailure::not_connected)) << i;
  }
  EXPECT_EQ(bad_context.load(), 0) << "a callback ran off the loop thread or after teardown";
  const int at_join = total();
  h->destroy();  // the loop and its connections go: no callback may run from here on
  EXPECT_EQ(total(), at_join);
  EXPECT_EQ(at_join, 2 * kCommands);
}

TEST_F(RedisClient, CommandsInFlightWhenTheLoopFinishesAreAnsweredBeforeItsTeardownEnds) {
  tt::RedisServer server;
  start(server);
  tt::Gate drained;
  constexpr int kCommands = 100;
  std::vector<std::atomic<int>> first(kCommands), retry(kCommands);
  std::vector<int> first_failure(kCommands, -1), retry_failure(kCommands, -1);  // loop thread
  std::atomic<int> bad_context{0};
  auto h = std::make_unique<Harness>();
  // As in a server: a loop that has drained keeps running (and taking work) until every loop
  // of its server has drained and it is told to finish.
  h->loop().set_on_drained([&] { drained.open(); });
  RedisConnection& c = h->open(server.url());
  h->start();
  ASSERT_TRUE(wait_up(c));
  h->loop().request_stop();
  ASSERT_TRUE(drained.wait(2s)) << "nothing in flight: the loop drains at once";
  server.pause();

  Loop* loop = &h->loop();
  h->on_loop([&] {
    for (int i = 0; i < kCommands; ++i) {
      c.command({"GET", "k"}, 10000, [&, i](RedisResult r) {
        if (!loop->on_loop_thread() || loop->anchor().retired()) bad_context.fetch_add(1);
        first_failure[i] = static_cast<int>(r.failure);
        first[i].fetch_add(1);
        // The loop is closing its handles: this one is answered in its teardown.
        c.command({"GET", "k"}, 10000, [&, i](RedisResult r2) {
          if (!loop->on_loop_thread() || loop->anchor().retired()) bad_context.fetch_add(1);
          retry_failure[i] = static_cast<int>(r2.failure);
          retry[i].fetch_add(1);
        });
      });
    }
  });
  h->loop().request_finish();  // with every command in flight
  h->loop().join();
  for (int i = 0; i < kCommands; ++i) {
    EXPECT_EQ(first[i].load(), 1) << i;
    EXPECT_EQ(first_failure[i], static_cast<int>(RedisFailure::disconnected)) << i;
    EXPECT_EQ(retry[i].load(), 1) << i;
    EXPECT_EQ(retry_failure[i], static_cast<int>(RedisFailure::not_connected)) << i;
  }
  EXPECT_EQ(bad_context.load(), 0);
  h->destroy();
  for (int i = 0; i < kCommands; ++i) EXPECT_EQ(first[i].load() + retry[i].load(), 2) << i;
}

TEST_F(RedisClient, AGracefulStopWaitsForTheAnswersInFlight) {
  tt::RedisServer server;
  start(server);
  constexpr int kCommands = 1000;
  std::atomic<int> ok{0};
  std::atomic<int> calls{0};
  Harness h;
  RedisConnection& c = h.open(server.url());
  h.start();
  ASSERT_TRUE(wait_up(c));
  h.on_loop([&] {
    for (int i = 0; i < kCommands; ++i) {
      c.command({"INCR", "n"}, 5000, [&](RedisResult r) {
        if (r.ok() && r.reply.type == RedisReply::Type::integer) ok.fetch_add(1);
        calls.fetch_add(1);
      });
    }
    h.loop().request_stop();  // with every command in flight
  });
  h.stop();
  EXPECT_EQ(calls.load(), kCommands);
  EXPECT_EQ(ok.load(), kCommands) << "the drain waits for Redis' answers";
}

TEST_F(RedisClient, AThrowingCallbackIsCaughtAndCountedAndTheLoopGoesOn) {
  tt::RedisServer server;
  start(server);
  std::atomic<int> handled{0};
  tt::Gate thrown;
  Harness h;
  RedisConnection& c = h.open(server.url());
  RedisConnection& sub = h.open(server.url(), fast(RedisConnection::Role::subscriber));
  sub.subscribe("ch", [&](const std::string&, const std::string&) {
    handled.fetch_add(1);
    throw std::runtime_error("handler boom");
  });
  h.start();
  ASSERT_TRUE(wait_up(c) && wait_up(sub));
  h.on_loop([&] {
    c.command({"PING"}, 1000, [&](RedisResult) {
      thrown.open();
      throw std::runtime_error("callback boom");
    });
  });
  ASSERT_TRUE(thrown.wait(2s));
  EXPECT_TRUE(h.call(c, {"PING"}).reply.is_status("PONG")) << "the loop and the connection go on";
  EXPECT_EQ(c.counters().callback_exceptions.get(), 1u);
  ASSERT_TRUE(tt::eventually([&] { return h.on_loop([&] { return sub.subscribed("ch"); }); }));
  EXPECT_EQ(h.call(c, {"PUBLISH", "ch", "m"}).reply.integer, 1);
  ASSERT_TRUE(tt::eventually([&] { return handled.load() == 1; }));
  ASSERT_TRUE(tt::eventually([&] { return sub.counters().callback_exceptions.get() == 1; }));
  EXPECT_EQ(h.loop().counters().task_exceptions.get(), 2u);
  EXPECT_TRUE(sub.up());
  bool logged = false;
  for (const std::string& l : h.log_lines()) {
    if (l.find("callback boom") != std::string::npos) logged = true;
  }
  EXPECT_TRUE(logged);
}

}  // namespace
