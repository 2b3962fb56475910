// Regressions for the breaks the second hostile review found (its reproducers: hostile/h17-h23
// on the `hostile2` branch). One test per break, each stating what broke and the correct
// behaviour. Scenarios whose failure crashes or wedges the server (h17), or that need the
// process to itself (exit, h21), run in a forked child (tests/support/child_process.hpp); the
// others fail on their assertions.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "support/child_process.hpp"
#include "support/expectations.hpp"
#include "support/gate.hpp"
#include "support/http_client.hpp"
#include "support/mailbox_requests.hpp"
#include "support/self_delete.hpp"
#include "support/test_server.hpp"
#include "tetherd/demo_routes.hpp"

namespace {

using namespace std::chrono_literals;
using tether::MailboxPost;
using tether::MailboxTake;
using tether::Request;
using tether::Response;
using tt::child_fail;
using tt::ChildLog;
using tt::ChildOutcome;
using tt::Gate;
using tt::run_in_child;

// ======== helpers

tether::ServerOptions local_opts(unsigned loops = 1, unsigned workers = 1) {
  tether::ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.loops = loops;
  o.workers = workers;
  return o;
}

/// Reads what the server sends on `c` until it closes the connection (responses are
/// consumed and counted). Returns the number of complete responses, or -1 when the
/// connection is still open after `timeout_ms` or ends in the middle of a response.
int responses_until_closed(tt::Client& c, int timeout_ms = 3000) {
  int64_t deadline = tt::now_ms() + timeout_ms;
  int n = 0;
  while (c.read_response(static_cast<int>(std::max<int64_t>(0, deadline - tt::now_ms())))) ++n;
  return c.wait_closed(0) ? n : -1;
}

/// Whether the response says `Connection: close`.
bool says_close(const tt::HttpResponse& r) {
  return r.header("connection").value_or("") == "close";
}

/// True once no loop of the server on `port` accepts connections any more: each loop closes
/// its listener when it begins to drain, so from then on every loop knows it is stopping.
bool every_loop_draining(uint16_t port, int timeout_ms = 3000) {
  return tt::eventually([port] { return !tt::Client(port).connected(); }, timeout_ms);
}

// ======== 1. h17: a mailbox wait whose `then` runs inside the handler and leaves the
// response open

// On a shard of the handler's own loop, a wait that does not park (0 ms with no value stored,
// or a value already stored) runs its `then` at once, inside the handler. When that `then`
// left the response open (it offloaded, or a copy of the Response was kept), `then` armed the
// response deadline and, once the handler returned, dispatch armed it again: the exchange was
// pushed twice on the loop's intrusive deadline list. At the deadline the loop called expire()
// on a recycled exchange (null connection: SEGV) or on one whose connection was freed
// (heap-use-after-free), or spun in on_deadline forever appending 504s (a wedged server).
// Modes (those of the reproducer):
//   offload: 0 ms wait, no value; `then` offloads, whose `then` answers 200 "7";
//   stored:  a value is already stored, 1 s wait; the same offload;
//   uaf:     like offload, and the handler keeps a copy of the Response; the client leaves
//            once answered;
//   keep:    0 ms wait; `then` does nothing and the handler's kept copy never answers: 504.
// Correct: the response gets exactly one answer (the offload's 200, or the 504 at
// response_timeout_ms for the kept copy), nothing else is written for it once its response
// deadline has passed, the server keeps serving (and expiring other requests),
// exchanges_in_flight returns to 0, and the server stops cleanly.
int zero_wait_scenario(ChildLog& log, const std::string& mode) {
  struct State {
    std::vector<Response> kept;        // loop thread only
    bool in_handler = false;           // loop thread only
    std::atomic<int> then_inside{-1};  // 1: `then` ran inside the handler, 0: later
    std::atomic<int> take{-1};
  };
  auto st = std::make_shared<State>();
  tether::ServerOptions o = local_opts(1, 2);
  o.response_timeout_ms = 300;
  o.drain_timeout_ms = 1000;
  // Leaked when a check fails: a wedged loop would hang its destructor (the child _exits).
  auto* server = new tether::Server(o);
  server->get("/ping", [](Request&, Response res) { res.send(200, "pong"); });
  server->get("/hold", [st](Request&, Response res) { st->kept.push_back(res); });
  server->get("/post", [server](Request&, Response res) {
    server->mailbox().post("ready", "v", [res](MailboxPost p) mutable {
      res.send(200, std::to_string(static_cast<int>(p)));
    });
  });
  server->get("/x", [server, st, mode](Request&, Response res) {
    Response copy = res;
    const bool stored = mode == "stored";
    st->in_handler = true;
    server->mailbox().wait(res, stored ? "ready" : "nothing-here", stored ? 1000ms : 0ms,
                           [st, mode](Response r, MailboxTake t, std::string) {
                             st->then_inside = st->in_handler ? 1 : 0;
                             st->take = static_cast<int>(t);
                             if (mode == "keep") return;  // the handler's copy answers later
                             r.offload([](std::stop_token) { return 7; },
                                       [](Response r2, int v) { r2.send(200, std::to_string(v)); });
                           });
    st->in_handler = false;
    if (mode == "keep" || mode == "uaf") st->kept.push_back(copy);
  });
  if (!server->start().ok()) return child_fail(log, "start failed");
  const uint16_t port = server->port();

  if (mode == "stored") {
    tt::Client p(port);
    auto r = tt::roundtrip(p, tt::get_request("/post"), 2000);
    if (r.status != 200 || r.body != std::to_string(static_cast<int>(MailboxPost::Stored))) {
      return child_fail(log, "/post -> " + std::to_string(r.status) + " [" + r.body + "]");
    }
  }
  tt::Client c(port);
  const int64_t t0 = tt::now_ms();
  auto x = tt::roundtrip(c, tt::get_request("/x"), 2000);
  const int64_t took = tt::now_ms() - t0;
  log.say("/x -> " + std::to_string(x.status) + " [" + x.body + "] after " + std::to_string(took) +
          " ms; then inside the handler: " + std::to_string(st->then_inside.load()) + ", take " +
          std::to_string(st->take.load()));
  if (st->then_inside.load() != 1) {
    return child_fail(log, "`then` did not run inside the handler: scenario not exercised");
  }
  if (mode == "keep") {
    if (x.status != 504) return child_fail(log, "/x: want the 504 of the response deadline");
    if (took < 280) return child_fail(log, "/x: a 504 before response_timeout_ms (300)");
  } else if (x.status != 200 || x.body != "7") {
    return child_fail(log, "/x: want the offload's 200 \"7\" (status 0: no answer)");
  }
  // Past /x's response deadline: /hold, never answered by its handler, gets its own 504 at
  // response_timeout_ms after /x's deadline (where a doubly armed one fires). On /x's
  // connection (the uaf client leaves instead), it is the next response: /x had one answer.
  tt::Client fresh(port);
  if (mode == "uaf") c.close();  // the client leaves; the handler's copy keeps the exchange
  tt::Client& h = mode == "uaf" ? fresh : c;
  const int64_t t1 = tt::now_ms();
  auto hold = tt::roundtrip(h, tt::get_request("/hold"), 2000);
  const int64_t held = tt::now_ms() - t1;
  if (hold.status != 504 || held < 280) {
    return child_fail(log, "/hold -> " + std::to_string(hold.status) + " after " +
                               std::to_string(held) + " ms, want its 504 at 300 ms (0: none)");
  }
  if (mode != "uaf") {
    auto next = tt::roundtrip(c, tt::get_request("/ping"), 2000);
    if (next.status != 200 || next.body != "pong") {
      return child_fail(log, "the next request on /x's connection got " +
                                 std::to_string(next.status) + " [" + next.body +
                                 "], want 200 pong");
    }
  }
  for (int i = 0; i < 3; ++i) {
    tt::Client p(port);
    auto r = tt::roundtrip(p, tt::get_request("/ping"), 2000);
    if (r.status != 200) {
      return child_fail(log, "the server must keep serving: /ping -> " + std::to_string(r.status) +
                                 " (0: no answer in 2 s)");
    }
  }
  uint64_t in_flight = 0;
  if (!tt::eventually(
          [&] {
            in_flight = server->stats().exchanges_in_flight;
            return in_flight == 0;
          },
          2000)) {
    return child_fail(log, "exchanges_in_flight = " + std::to_string(in_flight) + ", want 0");
  }
  const uint64_t timed_out = server->stats().responses_timed_out;
  if (timed_out != (mode == "keep" ? 2u : 1u)) {  // /hold's, and the kept copy's
    return child_fail(log, "responses_timed_out = " + std::to_string(timed_out));
  }
  delete server;  // stops and waits: the loop must not be wedged
  return 0;
}

TEST(HostileRound2, MailboxWaitWhoseThenRunsInsideTheHandlerAndLeavesTheResponseOpenAnswersOnce) {
  for (const char* mode : {"offload", "stored", "uaf", "keep"}) {
    SCOPED_TRACE(mode);
    ChildOutcome out =
        run_in_child([mode](ChildLog& log) { return zero_wait_scenario(log, mode); }, 10000);
    EXPECT_TRUE(out.ok()) << "mode " << mode << ": " << out.describe();
  }
}

// ======== 2. h18: mailbox calls while the server stops

// "While the server stops, mailbox calls answer Unavailable (503 in tetherd)": only a closed
// inbox (after every loop had drained) gave Unavailable. A wait parked when the stop began
// stayed parked until the drain timeout cut its connection (no response at all); a wait made
// during the drain (a `then` of work in flight at the stop) parked likewise; a post made during
// the drain said Stored, and the value went with the server.
// Correct: a wait parked at the stop is answered Unavailable (503) promptly, well before
// drain_timeout_ms; a wait made during the drain gets Unavailable at once; a post made during
// the drain gets Unavailable (nothing is stored); the drain then ends without cutting anyone.
void mailbox_while_stopping(unsigned loops) {
  constexpr int kParked = 4;  // distinct ids: with two loops, local and remote shards
  constexpr int kDuring = 3;  // per operation
  constexpr int kDrainMs = 3000;
  struct State {
    Gate release;
    std::atomic<int> jobs_started{0};
  };
  auto st = std::make_shared<State>();
  tether::ServerOptions o = local_opts(loops, 2 * kDuring);
  o.drain_timeout_ms = kDrainMs;
  o.linger_timeout_ms = 200;  // a closed connection's client need not close its end first
  tether::Server server(o);
  // On the way out (an assertion failed), the offloaded work must not hold the stop up.
  struct OpenOnExit {
    Gate& gate;
    ~OpenOnExit() { gate.open(); }
  } open_on_exit{st->release};
  tetherd::add_demo_routes(server);
  // In flight when stop() comes: the offloaded work waits for the test, then `then` (during
  // the drain) makes its mailbox call and answers with the outcome: 503 for Unavailable, and
  // the outcome's number as the body.
  server.get("/during/{op}/{id}", [&server, st](Request& req, Response res) {
    std::string op(req.param("op"));
    std::string id(req.param("id"));
    res.offload(
        [st](std::stop_token) {
          ++st->jobs_started;
          return st->release.wait(5s);
        },
        [&server, op, id](Response r, bool) {
          if (op == "post") {
            server.mailbox().post(id, "v", [r](MailboxPost p) mutable {
              r.send(p == MailboxPost::Unavailable ? 503 : 200,
                     std::to_string(static_cast<int>(p)));
            });
          } else {
            server.mailbox().wait(r, id, 5000ms, [](Response r2, MailboxTake t, std::string) {
              r2.send(t == MailboxTake::Unavailable ? 503 : 200,
                      std::to_string(static_cast<int>(t)));
            });
          }
        });
  });
  ASSERT_TRUE(server.start().ok());
  const uint16_t port = server.port();

  std::vector<std::unique_ptr<tt::Client>> parked, posts, waits;
  for (int i = 0; i < kParked; ++i) {
    parked.push_back(std::make_unique<tt::Client>(port));
    ASSERT_TRUE(parked.back()->send(tt::mailbox_get("parked-" + std::to_string(i), 5000)));
  }
  ASSERT_TRUE(tt::eventually([&] { return server.stats().mailbox_waiters == uint64_t{kParked}; }))
      << "waiters parked: " << server.stats().mailbox_waiters;
  for (int i = 0; i < kDuring; ++i) {
    posts.push_back(std::make_unique<tt::Client>(port));
    ASSERT_TRUE(posts.back()->send(tt::get_request("/during/post/posted-" + std::to_string(i))));
    waits.push_back(std::make_unique<tt::Client>(port));
    ASSERT_TRUE(waits.back()->send(tt::get_request("/during/wait/waited-" + std::to_string(i))));
  }
  ASSERT_TRUE(tt::eventually([&] { return st->jobs_started.load() == 2 * kDuring; }));

  const int64_t t0 = tt::now_ms();
  server.stop();
  // Every loop has begun to drain: the calls the offloads' `then` make now are made during
  // the drain.
  ASSERT_TRUE(every_loop_draining(port));
  const int64_t t1 = tt::now_ms();
  st->release.open();
  for (int i = 0; i < kDuring; ++i) {
    SCOPED_TRACE("post during the drain " + std::to_string(i));
    auto r = posts[i]->read_response(kDrainMs + 1000);
    if (!r) {
      ADD_FAILURE() << "no response: cut by the drain";
      continue;
    }
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->body, std::to_string(static_cast<int>(MailboxPost::Unavailable)))
        << "the post's outcome (1 = Stored: the value goes with the server)";
  }
  for (int i = 0; i < kDuring; ++i) {
    SCOPED_TRACE("wait during the drain " + std::to_string(i));
    auto r = waits[i]->read_response(kDrainMs + 1000);
    const int64_t after = tt::now_ms() - t1;
    if (!r) {
      ADD_FAILURE() << "no response after " << after
                    << " ms: the wait parked and was cut by the drain";
      continue;
    }
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->body, std::to_string(static_cast<int>(MailboxTake::Unavailable)));
    EXPECT_LT(after, 1000) << "a wait made during the drain must get Unavailable at once";
  }
  for (int i = 0; i < kParked; ++i) {
    SCOPED_TRACE("parked waiter " + std::to_string(i));
    auto r = parked[i]->read_response(kDrainMs + 1000);
    const int64_t after = tt::now_ms() - t0;
    if (!r) {
      ADD_FAILURE() << "no response after " << after
                    << " ms: the parked wait was cut by the drain (drain_timeout_ms = " << kDrainMs
                    << ")";
      continue;
    }
    EXPECT_EQ(r->status, 503) << r->body;
    EXPECT_EQ(r->body, "mailbox unavailable (server stopping, or Redis down)\n");
    EXPECT_EQ(r->header("retry-after"), "1");
    EXPECT_LT(after, 1500) << "a parked wait must be answered Unavailable promptly at the stop";
  }
  server.wait();
  const int64_t stopped = tt::now_ms() - t0;
  EXPECT_LT(stopped, kDrainMs) << "the drain had to be cut: someone was still owed an answer";
  EXPECT_EQ(server.stats().exchanges_in_flight, 0u);
}

TEST(HostileRound2, MailboxCallsWhileTheServerStopsAnswerUnavailable) {
  for (unsigned loops : {1u, 2u}) {
    SCOPED_TRACE("loops = " + std::to_string(loops));
    mailbox_while_stopping(loops);
  }
}

// ======== 3. h19: an answered pipelined response cut by an earlier Connection: close

// Pipelined A, B, C on one connection, all held by their handlers. C is answered first (its
// send() returns true; the response waits behind A and B), then B with
// `Connection: close`, then A. The flush wrote A and B and ended the pipeline there: C,
// answered, counted as a 2xx, was thrown away and never written.
// Correct: every response whose send() returned true is delivered, in order (A, B, C); the
// last one written (C) carries `Connection: close` and none before it does; nothing follows
// it, and the connection closes.
TEST(HostileRound2, AnAnsweredPipelinedResponseIsDeliveredWhenAnEarlierOneAsksToClose) {
  struct Held {
    std::map<std::string, Response> held;  // loop thread only
    std::atomic<int> c_sent{-1}, b_header{-1}, b_sent{-1}, a_sent{-1};
  };
  auto st = std::make_shared<Held>();
  tt::TestServer srv(local_opts(), [st](tether::Server& s) {
    s.get("/p/{n}", [st](Request& req, Response res) {
      st->held[std::string(req.param("n"))] = res;
      if (st->held.size() < 3) return;
      st->c_sent = st->held["C"].send(200, "C") ? 1 : 0;
      st->b_header = st->held["B"].set_header("Connection", "close") ? 1 : 0;
      st->b_sent = st->held["B"].send(200, "B") ? 1 : 0;
      st->a_sent = st->held["A"].send(200, "A") ? 1 : 0;
      st->held.clear();
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::get_request("/p/A") + tt::get_request("/p/B") + tt::get_request("/p/C")));
  std::vector<tt::HttpResponse> got;
  while (got.size() < 3) {
    auto r = c.read_response(3000);
    if (!r) break;
    got.push_back(std::move(*r));
  }
  // A's send() may put the bytes on the wire (the connection closes after them) before it
  // returns and the handler stores what it returned.
  ASSERT_TRUE(tt::eventually([&] { return st->a_sent.load() != -1; }));
  ASSERT_EQ(st->c_sent.load(), 1) << "C's send() must succeed";
  ASSERT_EQ(st->b_header.load(), 1);
  ASSERT_EQ(st->b_sent.load(), 1);
  ASSERT_EQ(st->a_sent.load(), 1);
  ASSERT_EQ(got.size(), 3u) << "responses whose send() returned true were not delivered; got "
                            << got.size() << " (A, B, C expected)";
  EXPECT_EQ(got[0].body, "A");
  EXPECT_EQ(got[1].body, "B");
  EXPECT_EQ(got[2].body, "C");
  EXPECT_FALSE(says_close(got[0])) << "a response follows A";
  EXPECT_FALSE(says_close(got[1])) << "a response follows B";
  EXPECT_TRUE(says_close(got[2])) << "the last response written must say Connection: close";
  EXPECT_EQ(responses_until_closed(c), 0)
      << "after the last response the connection must close (-1: it stayed open, or a partial "
         "response followed); unread: ["
      << c.buffered() << "]";
}

// ======== 4. h20: the stop's Connection: close when the last response went out first

// Pipelined A and B: B is answered before stop() (its response waits behind A), A after it.
// A stop marks `Connection: close` only on the exchange at the pipeline's tail when it is
// answered; B was serialized before the stop and A is not the tail: no response said
// `Connection: close`, and the connection was closed after them.
// Correct: both responses arrive in order (A, B); the last one (B) carries `Connection:
// close` and A does not; then the connection closes.
TEST(HostileRound2, AStopMarksTheLastResponseConnectionCloseEvenWhenItWasAnsweredBefore) {
  struct State {
    Gate release;
    std::atomic<int> a_started{0};
    std::atomic<int> b_sent{-1};
  };
  auto st = std::make_shared<State>();
  tether::ServerOptions o = local_opts(1, 1);
  o.drain_timeout_ms = 3000;
  o.linger_timeout_ms = 200;
  tether::Server server(o);
  struct OpenOnExit {  // on the way out, the offloaded work must not hold the stop up
    Gate& gate;
    ~OpenOnExit() { gate.open(); }
  } open_on_exit{st->release};
  server.get("/A", [st](Request&, Response res) {
    res.offload(
        [st](std::stop_token) {
          ++st->a_started;
          return st->release.wait(5s);
        },
        [](Response r, bool) { r.send(200, "A"); });
  });
  server.get("/B", [st](Request&, Response res) { st->b_sent = res.send(200, "B") ? 1 : 0; });
  ASSERT_TRUE(server.start().ok());
  tt::Client c(server.port());
  ASSERT_TRUE(c.send(tt::get_request("/A") + tt::get_request("/B")));
  ASSERT_TRUE(tt::eventually([&] { return st->a_started.load() == 1 && st->b_sent.load() != -1; }));
  ASSERT_EQ(st->b_sent.load(), 1);
  server.stop();
  ASSERT_TRUE(every_loop_draining(server.port()));
  st->release.open();  // A is answered during the drain
  auto a = c.read_response(3000);
  auto b = c.read_response(3000);
  ASSERT_TRUE(a) << "no response to A";
  ASSERT_TRUE(b) << "no response to B";
  EXPECT_EQ(a->body, "A");
  EXPECT_EQ(b->body, "B");
  EXPECT_FALSE(says_close(*a)) << "a response follows A";
  EXPECT_TRUE(says_close(*b))
      << "the stop closes the connection after B: B must say Connection: close";
  EXPECT_EQ(responses_until_closed(c), 0)
      << "after B the connection must close; unread: [" << c.buffered() << "]";
  server.wait();
}

// ======== 5. h21: exit while a server deleted from its own handler drains, with a program
// static the server still uses

// Exit waited for a self-deleted server through an atexit handler registered at the FIRST
// self-delete of the process. A program static constructed after that registration (here:
// after an earlier server of the program deleted itself) but before this server was deleted
// was destroyed at exit BEFORE the wait, while the server still drained a request whose
// continuation uses it (heap-use-after-free in ASan/TSan, garbage in Release). The child ends
// with std::exit, as a program whose main() returns.
// Correct: exit waits (bounded) for the draining server before destroying the statics that
// existed when it was deleted: the continuation finds the static alive, the in-flight client
// gets its 200 (or a close), and the child exits 0 with no sanitizer report.
std::atomic<bool> g_reply_destroyed{false};  // trivially destructible: safe at any point of exit

struct ReplyTemplate {
  std::string text = std::string(4096, 'r');
  ~ReplyTemplate() { g_reply_destroyed = true; }
};

/// A program's lazily made static (a reply template, a logger...): constructed at first use.
const ReplyTemplate& reply_template() {
  static const ReplyTemplate t;
  return t;
}

// Reads the in-flight client's answer at the very end of exit (a global constructed before
// main() is destroyed after every later static and atexit handler).
struct LateStaticExitWatch {
  tt::Client* client = nullptr;  // set in the scenario's child only (leaked on purpose)
  int log_fd = -1;
  ~LateStaticExitWatch() {
    if (client == nullptr) return;
    ChildLog log(log_fd);
    auto r = client->read_response(5000);
    if (r) {
      log.say("at exit the in-flight client got status " + std::to_string(r->status) + ", " +
              std::to_string(r->body.size()) + " bytes");
      if (r->status != 200 || r->body != std::string(4096, 'r')) {
        log.say("FAILED: want its 200 with the template (or a close)");
        ::_exit(3);
      }
    } else if (client->wait_closed(0)) {
      log.say("at exit the in-flight client's connection was closed");
    } else {
      log.say("FAILED: the in-flight client got neither an answer nor a close");
      ::_exit(4);
    }
  }
};
LateStaticExitWatch g_late_static_watch;

TEST(HostileRound2, ExitWaitsForASelfDeletedServerBeforeDestroyingTheStaticsItUses) {
  ChildOutcome out = run_in_child(
      [](ChildLog& log) {
        // An earlier server of the program deletes itself from its handler (and is freed).
        {
          auto* first = new tether::Server(local_opts(1, 1));
          auto gone = std::make_shared<Gate>();
          first->get("/die", [first, gone](Request&, Response res) {
            res.send(200, "bye");
            std::shared_ptr<Gate> g = gone;  // the captures go with the server
            delete first;
            g->open();
          });
          if (!first->start().ok()) return child_fail(log, "first: start failed");
          tt::Client c(first->port());
          auto d = tt::roundtrip(c, tt::get_request("/die"), 3000);
          if (d.status != 200) return child_fail(log, "first /die -> " + std::to_string(d.status));
          if (!gone->wait(5s)) return child_fail(log, "the first server did not delete itself");
        }
        tether::ServerOptions o = local_opts(1, 1);
        o.drain_timeout_ms = 2000;
        o.linger_timeout_ms = 200;  // the in-flight client reads (and closes) only at exit
        auto* server = new tether::Server(o);  // deleted by its own /die handler
        auto job_started = std::make_shared<Gate>();
        auto deleted = std::make_shared<Gate>();
        server->get("/slow", [job_started](Request&, Response res) {
          (void)reply_template();  // first use: the static is made now, before the delete
          res.offload(
              [job_started](std::stop_token) {
                job_started->open();
                // In flight until exit has destroyed the static (it must not before this
                // server is done), or for 800 ms.
                return tt::eventually([] { return g_reply_destroyed.load(); }, 800);
              },
              [](Response r, bool) {
                if (g_reply_destroyed.load()) {
                  r.send(500, "the program's static was destroyed by exit while in use");
                  return;
                }
                r.send(200, reply_template().text);
              });
        });
        tt::add_die_route(server, deleted);  // stops; freed once drained
        if (!server->start().ok()) return child_fail(log, "start failed");
        const uint16_t port = server->port();
        auto* slow = new tt::Client(port);  // read at exit by g_late_static_watch
        if (std::string e = tt::slow_then_die(port, *slow, *job_started, *deleted); !e.empty())
          return child_fail(log, e);
        g_late_static_watch.log_fd = log.fd();
        g_late_static_watch.client = slow;
        log.say("the server deleted itself and drains /slow; the program exits");
        return 0;
      },
      15000, tt::ChildExit::Normal);
  EXPECT_TRUE(out.ok()) << out.describe();
  EXPECT_NE(out.log.find("at exit the in-flight client"), std::string::npos) << out.log;
}

// ======== 6. h23: 65,536 parked waits on one Response

// The count of a response's parked mailbox waits was 16 bits wide: 65,536 parked waits
// wrapped it to 0, so dispatch armed the response deadline although every wait was parked,
// and the request got a 504 at response_timeout_ms (300 ms) instead of its waits' answer.
// Correct: while any wait of the response is parked, its own deadline applies, not the
// response deadline: the answer is the waits' 204 (sent by `then` when they time out, at
// 1500 ms), not a 504 before it.
TEST(HostileRound2, SixtyFiveThousandParkedWaitsOnOneResponseKeepTheResponseDeadlineOff) {
  constexpr int kWaits = 65536;
  struct State {
    std::atomic<int> refused{0};
    std::atomic<int64_t> parking_ms{-1};
  };
  auto st = std::make_shared<State>();
  tether::ServerOptions o = local_opts(1, 1);
  o.response_timeout_ms = 300;
  o.mailbox_max_ids = 2 * kWaits;  // one id per wait
  o.mailbox_max_waiters_per_id = 1;
  tt::TestServer srv(o, [st](tether::Server& s) {
    s.get("/many", [&s, st](Request&, Response res) {
      const int64_t t = tt::now_ms();
      for (int i = 0; i < kWaits; ++i) {
        s.mailbox().wait(res, "w" + std::to_string(i), 1500ms,
                         [st](Response r, MailboxTake take, std::string) {
                           if (take == MailboxTake::Refused) ++st->refused;
                           if (take == MailboxTake::TimedOut) r.send(204);
                         });
      }
      st->parking_ms = tt::now_ms() - t;
    });
  });
  tt::Client c(srv.port());
  const int64_t t0 = tt::now_ms();
  auto r = tt::roundtrip(c, tt::get_request("/many"), 6000);
  const int64_t took = tt::now_ms() - t0;
  ASSERT_EQ(st->refused.load(), 0) << "waits refused: the scenario was not exercised";
  EXPECT_EQ(r.status, 204) << "after " << took << " ms (parking the waits took "
                           << st->parking_ms.load()
                           << " ms); 504: the response deadline cut the parked waits";
  EXPECT_GE(took, 1450) << "answered before the waits' deadline";
}

}  // namespace
