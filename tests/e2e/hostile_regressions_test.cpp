// Regressions for the breaks a hostile review found (its reproducers: hostile/h*.cpp on the
// `hostile` branch). One test per break, each stating what broke and the correct behaviour.
// Scenarios whose failure ends the process in every build (a crash), or that need the process
// to itself (signals, exit), run in a forked child (tests/support/child_process.hpp); the
// others fail on their assertions, or with a sanitizer report in the ASan/TSan builds.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/child_process.hpp"
#include "support/expectations.hpp"
#include "support/gate.hpp"
#include "support/http_client.hpp"
#include "support/probes.hpp"
#include "support/self_delete.hpp"
#include "support/test_server.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Request;
using tether::Response;
using tether::ServerStats;
using tt::child_fail;
using tt::ChildLog;
using tt::ChildOutcome;
using tt::Gate;
using tt::local_port;
using tt::run_in_child;
using tt::tcp_socket_listed;

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

// ======== 1, 2. h02: an on_close callback run inside the loop's output flush

// A connection B has two unanswered requests (/b1, /hold) and a third one unread: with
// max_pipelined=2 the server stopped reading it. B's client resets; the server cannot see it
// until it writes. Then a handler on another connection answers /b1 (its bytes wait in the
// loop's output cork, for B) and its own request: switching the cork flushes B's bytes, the
// write fails, B is closed right there, and the on_close callback of /hold runs inside that
// flush, answering `target` (loop thread, live handle: legal).
struct CorkReentry {
  Response b1, hold, target;  // loop thread only
  std::atomic<int> dispatched{0};
  std::atomic<int> on_close_sent{-1};  // 1 true, 0 false, -1 the callback did not run
  std::atomic<int> trigger_sent{-1};
};

void add_cork_reentry_routes(tether::Server& s, const std::shared_ptr<CorkReentry>& st,
                             bool target_is_trigger) {
  CorkReentry* p = st.get();  // the on_close callback must not own it (a cycle through `hold`)
  s.get("/b1", [st](Request&, Response res) {
    st->b1 = res;
    ++st->dispatched;
  });
  s.get("/hold", [st, p](Request&, Response res) {
    st->hold = res;
    res.on_close([p] { p->on_close_sent = p->target.send(200, "from on_close") ? 1 : 0; });
    ++st->dispatched;
  });
  s.get("/d", [st](Request&, Response res) {
    st->target = res;
    ++st->dispatched;
  });
  s.get("/x", [](Request&, Response res) { res.send(200, "x"); });
  s.get("/trigger", [st, target_is_trigger](Request&, Response res) {
    if (target_is_trigger) st->target = res;
    st->b1.send(200, "b1");                               // into the cork, for B
    st->trigger_sent = res.send(200, "trigger") ? 1 : 0;  // flushes B: the write fails
  });
}

/// Opens B, pipelines /b1 /hold /x (the third is not read), waits until the first two are
/// dispatched (`want` dispatches in all), then resets B and waits until the server's end of
/// it is gone from the kernel's table. Returns "" or what went wrong.
std::string reset_paused_connection(uint16_t port, CorkReentry& st, int want) {
  tt::Client b(port);
  if (!b.connected()) return "cannot connect B";
  if (!b.send(tt::get_request("/b1") + tt::get_request("/hold") + tt::get_request("/x"))) {
    return "cannot send to B";
  }
  if (!tt::eventually([&] { return st.dispatched.load() == want; })) {
    return "handlers not dispatched: " + std::to_string(st.dispatched.load());
  }
  const uint16_t bport = local_port(b.fd());
  if (!tcp_socket_listed(port, bport)) return "B's server end is not in /proc/net/tcp";
  b.close(/*reset=*/true);
  if (!tt::eventually([&] { return !tcp_socket_listed(port, bport); }, 3000)) {
    return "the reset never reached B's server end";
  }
  return "";
}

// h02 "double": the on_close callback answers the very Response whose send() is on the stack
// (the trigger's own). It was answered twice: the outer answer popped an already popped
// pipeline head (null): SEGV in every build, or exchanges_in_flight underflowing.
// Correct: the trigger's client gets exactly one response (a 200; the next request on its
// connection gets its own answer), nothing crashes, and exchanges_in_flight goes back to 0.
TEST(HostileRegression, OnCloseInsideTheOutputFlushAnsweringTheSendingResponseAnswersOnce) {
  ChildOutcome out = run_in_child(
      [](ChildLog& log) {
        tether::ServerOptions o = local_opts(1, 2);
        o.max_pipelined = 2;
        tether::Server server(o);
        auto st = std::make_shared<CorkReentry>();
        add_cork_reentry_routes(server, st, /*target_is_trigger=*/true);
        if (!server.start().ok()) return child_fail(log, "start failed");
        const uint16_t port = server.port();
        if (std::string e = reset_paused_connection(port, *st, 2); !e.empty()) {
          return child_fail(log, "setup: " + e);
        }
        log.say("B reset; GET /trigger on T");
        tt::Client t(port);
        auto r = tt::roundtrip(t, tt::get_request("/trigger"), 3000);
        log.say("T got status " + std::to_string(r.status) + " body [" + r.body +
                "]; trigger send -> " + std::to_string(st->trigger_sent.load()) +
                ", on_close send -> " + std::to_string(st->on_close_sent.load()));
        if (r.status != 200) return child_fail(log, "the trigger's client must get its 200");
        // Exactly one response: the next request on T gets its own answer, not a second one.
        auto next = tt::roundtrip(t, tt::get_request("/x"), 3000);
        if (next.status != 200 || next.body != "x") {
          return child_fail(log, "after the trigger's response T read status " +
                                     std::to_string(next.status) + " body [" + next.body +
                                     "], want the 200 \"x\" of its next request");
        }
        t.close();
        uint64_t in_flight = 0;
        bool settled = tt::eventually([&] {
          in_flight = server.stats().exchanges_in_flight;
          return in_flight == 0;
        });
        if (!settled) {
          return child_fail(log, "exchanges_in_flight = " + std::to_string(in_flight) + ", want 0");
        }
        server.stop();
        server.wait();
        return 0;
      },
      15000);
  EXPECT_TRUE(out.ok()) << out.describe();
}

// h02 "lost": the on_close callback answers another client D, whose bytes went into the
// cork that the interrupted flush then cleared: send() returned true, a 2xx was counted, and
// D never got a response.
// Correct: D gets the response whose send() returned true (the trigger's client its own).
TEST(HostileRegression, OnCloseInsideTheOutputFlushAnsweringAnotherClientDeliversIt) {
  auto st = std::make_shared<CorkReentry>();
  tether::ServerOptions o = local_opts(1, 2);
  o.max_pipelined = 2;
  tt::TestServer srv(
      o, [st](tether::Server& s) { add_cork_reentry_routes(s, st, /*target_is_trigger=*/false); });
  tt::Client d(srv.port());
  ASSERT_TRUE(d.send(tt::get_request("/d")));
  ASSERT_TRUE(tt::eventually([&] { return st->dispatched.load() == 1; }));
  std::string setup = reset_paused_connection(srv.port(), *st, 3);
  ASSERT_EQ(setup, "");
  tt::Client t(srv.port());
  auto tr = tt::roundtrip(t, tt::get_request("/trigger"), 3000);
  EXPECT_EQ(tr.status, 200);
  EXPECT_EQ(tr.body, "trigger");
  tt::eventually([&] { return st->on_close_sent.load() != -1; }, 3000);
  ASSERT_EQ(st->on_close_sent.load(), 1) << "the on_close callback did not run, or its send "
                                            "to D was refused (-1: not run, 0: refused)";
  auto dr = d.read_response(3000);
  ASSERT_TRUE(dr) << "D's response was sent (send returned true) but never arrived";
  EXPECT_EQ(dr->status, 200);
  EXPECT_EQ(dr->body, "from on_close");
}

// ======== 3. h07: the drain deadline's close runs an on_close that answers on the same
// connection

// At the drain deadline the loop closes connections outside its output scope. The close ran
// the on_close callback of the connection's first open exchange, which answered its second
// pipelined exchange (same loop thread, live handle: legal): the answer went into the loop's
// cork for the closing connection, which was then freed; the loop's next flush wrote through
// the freed connection: heap-use-after-free (ASan, TSan; silent in Release).
// Correct: clean under the sanitizers, and the stop ends within its drain deadline.
TEST(HostileRegression, DrainDeadlineCloseWhoseOnCloseAnswersTheNextPipelinedExchangeIsClean) {
  constexpr int kRounds = 5;
  constexpr int kConnections = 8;
  struct Held {
    std::mutex mu;  // guards the maps; each Response is used on its connection's loop only
    std::map<std::string, Response> first, second;
    std::atomic<int> handled{0};
    std::atomic<int> on_close_ran{0};
    std::atomic<int> answered_from_on_close{0};
  };
  int on_close_ran = 0;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto held = std::make_shared<Held>();
    tether::ServerOptions o = local_opts(2, 1);
    o.drain_timeout_ms = 300;
    tether::Server server(o);
    Held* p = held.get();  // the callbacks must not own it (a cycle through `first`)
    server.get("/hold1/{k}", [held, p](Request& req, Response res) {
      std::string k(req.param("k"));
      res.on_close([p, k] {
        ++p->on_close_ran;
        Response second;
        {
          std::lock_guard<std::mutex> lock(p->mu);
          auto it = p->second.find(k);
          if (it != p->second.end()) second = it->second;
        }
        if (second.send(200, "answered from on_close")) ++p->answered_from_on_close;
      });
      std::lock_guard<std::mutex> lock(held->mu);
      held->first.emplace(k, std::move(res));
      ++held->handled;
    });
    server.get("/hold2/{k}", [held](Request& req, Response res) {
      std::lock_guard<std::mutex> lock(held->mu);
      held->second.emplace(std::string(req.param("k")), std::move(res));
      ++held->handled;
    });
    ASSERT_TRUE(server.start().ok());
    std::vector<std::unique_ptr<tt::Client>> clients;
    for (int c = 0; c < kConnections; ++c) {
      clients.push_back(std::make_unique<tt::Client>(server.port()));
      std::string k = std::to_string(c);
      ASSERT_TRUE(
          clients.back()->send(tt::get_request("/hold1/" + k) + tt::get_request("/hold2/" + k)));
    }
    ASSERT_TRUE(tt::eventually([&] { return held->handled.load() == 2 * kConnections; }));
    const int64_t t0 = tt::now_ms();
    server.stop();  // the drain deadline, 300 ms away, closes the held connections
    server.wait();
    const int64_t took = tt::now_ms() - t0;
    EXPECT_LT(took, 5000) << "stopping took " << took << " ms (drain_timeout_ms = 300)";
    for (auto& c : clients) EXPECT_GE(responses_until_closed(*c), 0) << "a connection stayed open";
    on_close_ran += held->on_close_ran.load();
  }
  EXPECT_GT(on_close_ran, 0) << "no on_close callback ran at a drain deadline: the scenario was "
                                "not exercised";
}

// ======== 4. h12: SIGINT while a run() server deleted from its own handler drains

// run() handles SIGINT/SIGTERM by calling stop() on the Server object. Deleting the Server from
// its own handler is supported (it stops and is freed once drained), but its loop kept the
// signal handler while draining: a SIGINT then (an operator's Ctrl-C) called stop() on the
// freed Server: heap-use-after-free (ASan, TSan; silent in Release). run() installs process
// signal handlers, so the scenario runs in a child.
// Correct: the child exits 0, with no sanitizer report; the draining request is answered (or
// its connection closed), and run() returns.
TEST(HostileRegression, SigintWhileARunServerDeletedFromItsHandlerDrainsIsHarmless) {
  ChildOutcome out = run_in_child(
      [](ChildLog& log) {
        tether::ServerOptions o = local_opts(1, 1);
        o.drain_timeout_ms = 3000;
        auto* server = new tether::Server(o);  // deleted by its own /die handler
        auto job_started = std::make_shared<Gate>();
        auto sigint_sent = std::make_shared<Gate>();
        auto deleted = std::make_shared<Gate>();
        server->get("/slow", [job_started, sigint_sent](Request&, Response res) {
          res.offload(
              [job_started, sigint_sent](std::stop_token st) {
                job_started->open();
                // In flight until the SIGINT is sent, then for the loop to handle it.
                sigint_sent->wait(5s);
                tt::wait_for_stop(st, 500ms);
                return 1;
              },
              [](Response r, int) { r.send(200, "slow"); });
        });
        tt::add_die_route(server, deleted);               // stops; freed once drained
        std::thread runner([server] { server->run(); });  // start + SIGINT/SIGTERM + wait
        uint16_t port = 0;
        if (!tt::eventually([&] { return (port = server->port()) != 0; })) {
          runner.join();
          return child_fail(log, "run() did not start the server");
        }
        tt::Client slow(port);
        if (std::string e = tt::slow_then_die(port, slow, *job_started, *deleted); !e.empty())
          return child_fail(log, e);
        log.say("the server deleted itself and drains /slow; sending SIGINT");
        ::kill(::getpid(), SIGINT);  // an operator's Ctrl-C during the drain
        sigint_sent->open();
        auto s = slow.read_response(5000);
        log.say(s ? "/slow -> " + std::to_string(s->status) : "/slow: no response");
        if (!s && !slow.wait_closed(0)) {
          return child_fail(log, "/slow got neither an answer nor a close");
        }
        runner.join();
        log.say("run() returned");
        return 0;
      },
      15000);
  EXPECT_TRUE(out.ok()) << out.describe();
}

// ======== 5. h15: the program exits while a server deleted from its own handler drains

// A global whose destructor waits for the in-flight client of the h15 scenario, as a logger
// that flushes at exit would: it is constructed before main(), so it is destroyed after the
// library's function-local statics, while the self-deleted server may still be draining.
struct ExitWatch {
  tt::Client* client = nullptr;  // set in the scenario's child only (leaked on purpose)
  int log_fd = -1;
  ~ExitWatch() {
    if (client == nullptr) return;
    ChildLog log(log_fd);
    log.say("exit: static destructors run; waiting for the in-flight client");
    auto r = client->read_response(5000);
    if (r) {
      log.say("at exit the in-flight client got status " + std::to_string(r->status));
      if (r->status != 200) {
        log.say("FAILED: want its 200 (or a close)");
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
ExitWatch g_exit_watch;

// A Server deleted from its own handler is freed by a thread of its own once drained, which
// the program cannot wait for. When main() returned meanwhile, static destructors ran while
// its loop still drained an in-flight request: the loop serialized the response with the
// library's destroyed static status lines: heap-use-after-free (ASan, TSan; silent in
// Release). The child ends with std::exit, as a program whose main() returns.
// Correct: the child exits 0 with no sanitizer report (exit waits, bounded, for such a server
// to finish draining), and the in-flight client gets its 200 or a close.
TEST(HostileRegression, ExitWhileAServerDeletedFromItsHandlerDrainsIsClean) {
  ChildOutcome out = run_in_child(
      [](ChildLog& log) {
        tether::ServerOptions o = local_opts(1, 1);
        o.drain_timeout_ms = 2000;
        auto* server = new tether::Server(o);  // deleted by its own /die handler
        auto job_started = std::make_shared<Gate>();
        auto deleted = std::make_shared<Gate>();
        server->get("/slow", [job_started](Request&, Response res) {
          res.offload(
              [job_started](std::stop_token st) {
                job_started->open();
                tt::wait_for_stop(st, 300ms);  // a 300 ms job
                return 1;
              },
              [](Response r, int) { r.send(200, "slow"); });
        });
        tt::add_die_route(server, deleted);  // stops; freed once drained
        if (!server->start().ok()) return child_fail(log, "start failed");
        const uint16_t port = server->port();
        auto* slow = new tt::Client(port);  // read at exit by g_exit_watch
        if (std::string e = tt::slow_then_die(port, *slow, *job_started, *deleted); !e.empty())
          return child_fail(log, e);
        g_exit_watch.log_fd = log.fd();
        g_exit_watch.client = slow;
        log.say("the server deleted itself and drains /slow; the program exits");
        return 0;
      },
      15000, tt::ChildExit::Normal);
  EXPECT_TRUE(out.ok()) << out.describe();
  EXPECT_NE(out.log.find("at exit the in-flight client"), std::string::npos) << out.log;
}

// ======== 6. h01: the response deadline after a parked mailbox wait

// A parked Mailbox::wait answers by its own deadline, so it turned the exchange's response
// deadline off, for good: once the wait ended and `then` kept the Response (or offloaded more
// work), no 504 ever came, and offloaded work was never asked to stop.
// Correct: the response deadline applies again once the wait has ended: the client gets a 504
// about response_timeout_ms after it (300 ms here), and the offloaded work is asked to stop.
TEST(HostileRegression, ResponseDeadlineAppliesAgainAfterAParkedMailboxWait) {
  struct Kept {
    std::vector<Response> responses;  // loop thread only
    std::atomic<int> work_started{0};
    std::atomic<int> work_stopped{0};
  };
  auto kept = std::make_shared<Kept>();
  tether::ServerOptions o = local_opts(1, 1);
  o.response_timeout_ms = 300;
  o.drain_timeout_ms = 500;
  tt::TestServer srv(o, [kept](tether::Server& s) {
    s.get("/control", [kept](Request&, Response res) { kept->responses.push_back(res); });
    s.get("/wait-then-keep", [&s, kept](Request&, Response res) {
      s.mailbox().wait(res, "nobody-posts", 50ms,
                       [kept](Response r, tether::MailboxTake, std::string) {
                         kept->responses.push_back(std::move(r));  // answer later... or never
                       });
    });
    s.get("/wait-then-offload", [&s, kept](Request&, Response res) {
      s.mailbox().wait(res, "nobody-posts-2", 50ms,
                       [kept](Response r, tether::MailboxTake, std::string) {
                         r.offload(
                             [kept](std::stop_token st) {
                               ++kept->work_started;
                               if (tt::wait_for_stop(st, 3s)) ++kept->work_stopped;
                               return 1;
                             },
                             [](Response r2, int) { r2.send(200, "late"); });
                       });
    });
  });
  for (const char* path : {"/control", "/wait-then-keep", "/wait-then-offload"}) {
    SCOPED_TRACE(path);
    tt::Client c(srv.port());
    const int64_t t0 = tt::now_ms();
    auto r = tt::roundtrip(c, tt::get_request(path), 2500);
    const int64_t took = tt::now_ms() - t0;
    EXPECT_EQ(r.status, 504) << "no 504 within 2.5 s (response_timeout_ms = 300; status 0: no "
                                "answer)";
    if (r.status == 504) {
      EXPECT_GE(took, 290) << "a 504 before the response deadline";
      EXPECT_LT(took, 2000);
    }
  }
  EXPECT_EQ(kept->work_started.load(), 1);
  EXPECT_TRUE(tt::eventually([&] { return kept->work_stopped.load() == 1; }, 3000))
      << "the offloaded work was never asked to stop";
}

// ======== 7. h09: a content type with CR/LF

// set_header refuses CR/LF in a value, but send()'s content_type went into the head unchecked:
// a content type carrying CR LF split the response, and the client of one request read two
// responses (response splitting).
// Correct: send() refuses it (returns false) and the server answers 500 instead; the client
// reads exactly one response, a 500, and nothing after it (its next request gets its own
// answer, or the connection is closed).
TEST(HostileRegression, ContentTypeWithCrLfIsRefusedAndAnswered500) {
  auto send_result = std::make_shared<std::atomic<int>>(-1);  // 1 true, 0 false
  tt::TestServer srv(local_opts(), [send_result](tether::Server& s) {
    tt::add_test_routes(s);
    s.get("/file", [send_result](Request& req, Response res) {
      // e.g. a content type echoed from the request or from a stored upload's metadata
      std::string type = tether::url_decode(req.query("type").value_or("text/plain"));
      *send_result = res.send(200, "hello", type) ? 1 : 0;
    });
  });
  const std::string evil =
      "text/plain%0D%0AContent-Length:%200%0D%0A%0D%0AHTTP/1.1%20200%20OK%0D%0AContent-Length:"
      "%205%0D%0A%0D%0Aevil!%0D%0AX:%20";
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::get_request("/file?type=" + evil)));
  auto r = c.read_response(3000);
  ASSERT_TRUE(r) << "no response";
  EXPECT_EQ(r->status, 500) << r->body;
  EXPECT_EQ(send_result->load(), 0) << "send() must refuse a content type with CR/LF";
  EXPECT_EQ(r->header_count("content-length"), 1u);
  // Nothing after it: the next request's answer is the next thing on the connection.
  if (c.send(tt::kPlaintextRequest)) {
    auto next = c.read_response(3000);
    if (next) {
      EXPECT_EQ(next->status, 200);
      EXPECT_EQ(next->body, "Hello, World!") << "a second response followed the first";
    } else {
      EXPECT_TRUE(c.wait_closed(0)) << "bytes after the response: [" << c.buffered() << "]";
      EXPECT_EQ(c.buffered(), "");
    }
  } else {
    EXPECT_EQ(c.buffered(), "");
  }
}

// ======== 8. h10: background jobs accepted while wait() winds the pool down

// background() returning true means the job was accepted: it runs, or is dropped at the drain
// deadline and counted in background_dropped. Jobs accepted between the drain deadline's drop
// and the pool's shutdown were dropped silently, counted as jobs_cancelled.
// Correct: every accepted background job runs or is counted in background_dropped (accepted ==
// ran + background_dropped, every round); once the pool stops accepting, background() returns
// false.
TEST(HostileRegression, BackgroundJobsAcceptedWhileThePoolWindsDownRunOrAreCountedDropped) {
  // The window is a few microseconds per stop: many short rounds, two threads submitting.
  constexpr int kRounds = 60;
  constexpr int kHammers = 2;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    tether::ServerOptions o = local_opts(1, 1);
    o.drain_timeout_ms = 20;
    tether::Server server(o);
    ASSERT_TRUE(server.start().ok());
    std::atomic<int64_t> accepted{0}, ran{0};
    std::atomic<bool> stop_hammers{false};
    std::vector<std::thread> hammers;
    for (int h = 0; h < kHammers; ++h) {
      hammers.emplace_back([&] {
        while (!stop_hammers.load()) {
          bool ok = server.background([&ran](std::stop_token) {
            ++ran;
            std::this_thread::sleep_for(50us);  // the job's work: the queue stays full
          });
          if (ok) ++accepted;
        }
      });
    }
    EXPECT_TRUE(tt::eventually([&] { return accepted.load() >= 100; }));
    server.stop();
    server.wait();  // runs or drops what is queued, then shuts the pool down
    stop_hammers = true;
    for (auto& t : hammers) t.join();
    EXPECT_FALSE(server.background([](std::stop_token) {})) << "accepted after wait() returned";
    const ServerStats s = server.stats();
    const int64_t missing =
        accepted.load() - ran.load() - static_cast<int64_t>(s.background_dropped);
    ASSERT_EQ(missing, 0) << "accepted background jobs that neither ran nor were counted: accepted "
                          << accepted.load() << ", ran " << ran.load() << ", background_dropped "
                          << s.background_dropped << ", jobs_cancelled " << s.jobs_cancelled;
  }
}

// ======== 9. h13: a late Connection: close on an earlier pipelined exchange

// Three pipelined requests: /first is kept, /second is answered at once (its response waits
// behind /first's), /third is kept. Then /first is answered with `Connection: close`, and
// /third after it. The server wrote /second's response after the `Connection: close` one.
// Correct: `Connection: close` means the connection takes no more requests and closes once
// the responses it owes are out: all three go out in order (each send() that returned true is
// delivered), only the last one says `Connection: close`, nothing follows it, and the
// connection closes.
TEST(HostileRegression, NothingIsWrittenAfterALateConnectionCloseResponse) {
  struct Late {
    Response first, third;  // loop thread only
    std::atomic<int> dispatched{0};
    std::atomic<int> second_sent{-1};  // 1 true, 0 false
    std::atomic<int> third_sent{-1};
  };
  auto st = std::make_shared<Late>();
  tt::TestServer srv(local_opts(), [st](tether::Server& s) {
    s.get("/first", [st](Request&, Response res) {
      st->first = res;
      ++st->dispatched;
    });
    s.get("/second", [st](Request&, Response res) {
      st->second_sent = res.send(200, "second") ? 1 : 0;  // waits behind /first
      ++st->dispatched;
    });
    s.get("/third", [st](Request&, Response res) {
      st->third = res;
      ++st->dispatched;
    });
    s.get("/answer-first", [st](Request&, Response res) {
      bool h = st->first.set_header("Connection", "close");
      bool f = st->first.send(200, "first, and closing");
      st->third_sent = st->third.send(200, "third") ? 1 : 0;
      res.send(200, std::string(h ? "h" : "-") + (f ? "f" : "-"));
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(
      c.send(tt::get_request("/first") + tt::get_request("/second") + tt::get_request("/third")));
  ASSERT_TRUE(tt::eventually([&] { return st->dispatched.load() == 3; }));
  tt::Client t(srv.port());
  auto a = tt::roundtrip(t, tt::get_request("/answer-first"), 3000);
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "hf") << "set_header and send on /first (h, f) must succeed";
  EXPECT_EQ(st->second_sent.load(), 1);
  EXPECT_EQ(st->third_sent.load(), 1) << "/third was received before the close: it is answered";
  const char* want[] = {"first, and closing", "second", "third"};
  for (int i = 0; i < 3; ++i) {
    auto r = c.read_response(3000);
    ASSERT_TRUE(r) << "no response " << i;
    EXPECT_EQ(r->body, want[i]);
    EXPECT_EQ(r->header("connection").value_or(""), i == 2 ? "close" : "")
        << "only the last response says Connection: close";
  }
  EXPECT_EQ(responses_until_closed(c), 0)
      << "responses after the `Connection: close` one (-1: the connection stayed open, or a "
         "partial response followed); unread: ["
      << c.buffered() << "]";
}

}  // namespace
