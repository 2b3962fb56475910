// Offloaded work: Response::offload / offload_all, cancellation when the client leaves,
// load shedding (503), the response deadline (504), Server::background, and shutdown with
// jobs in flight. Responses are touched only on the loop thread (handlers, `then`,
// on_close); the work closures share nothing with the test but gates and atomics.
#include <gtest/gtest.h>

#include "support/gate.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "support/expectations.hpp"
#include "support/http_client.hpp"
#include "support/test_server.hpp"

namespace {

using namespace std::chrono_literals;
using tether::ServerStats;

using tt::Gate;

/// Shared by the routes (loop thread), the work (worker threads) and the test thread: gates
/// and atomics only.
struct Shared {
  Gate started;    // a work closure began
  Gate release;    // the test lets blocked work finish
  Gate stop_seen;  // a work closure returned from waiting for stop
  Gate closed;     // an on_close callback ran
  std::atomic<bool> saw_stop{false};
  std::atomic<bool> then_called{false};
  std::atomic<int> runs{0};
  std::atomic<int> refused{0};
};

/// GET /wait-stop: work that returns only when asked to stop (bounded by 5 s); its `then`
/// must never run. GET /block?tag=T: work that waits for `release` and answers "done T".
void add_job_routes(tether::Server& s, const std::shared_ptr<Shared>& sh) {
  s.get("/wait-stop", [sh](tether::Request&, tether::Response res) {
    res.on_close([sh] { sh->closed.open(); });
    bool queued = res.offload(
        [sh](std::stop_token st) {
          ++sh->runs;
          sh->started.open();
          bool stopped = tt::wait_for_stop(st);
          sh->saw_stop = stopped;
          sh->stop_seen.open();
          return stopped;
        },
        [sh](tether::Response r, bool) {
          sh->then_called = true;
          r.send(200, "then ran");
        });
    if (!queued) ++sh->refused;
  });
  s.get("/block", [sh](tether::Request& req, tether::Response res) {
    std::string tag(req.query("tag").value_or(""));
    bool queued = res.offload(
        [sh, tag](std::stop_token) {
          ++sh->runs;
          sh->started.open();
          sh->release.wait();
          return tag;
        },
        [](tether::Response r, std::string t) { r.send(200, "done " + t); });
    if (!queued) ++sh->refused;
  });
}

std::function<void(tether::Server&)> job_routes(const std::shared_ptr<Shared>& sh) {
  return [sh](tether::Server& s) {
    tt::add_test_routes(s);
    add_job_routes(s, sh);
  };
}

// ---------------------------------------------------------------- results

struct Threads {
  std::mutex mu;
  std::thread::id handler, work, then;
};

TEST(Offload, ResultArrivesAndThenRunsOnTheLoopThread) {
  auto ids = std::make_shared<Threads>();
  tt::TestServer srv({}, [ids](tether::Server& s) {
    tt::add_test_routes(s);
    s.get("/square", [ids](tether::Request& req, tether::Response res) {
      long n = std::stol(std::string(req.query("n").value_or("0")));
      {
        std::lock_guard<std::mutex> lock(ids->mu);
        ids->handler = std::this_thread::get_id();
      }
      res.offload(
          [ids, n](std::stop_token) {
            std::lock_guard<std::mutex> lock(ids->mu);
            ids->work = std::this_thread::get_id();
            return n * n;
          },
          [ids](tether::Response r, long v) {
            {
              std::lock_guard<std::mutex> lock(ids->mu);
              ids->then = std::this_thread::get_id();
            }
            r.send(200, std::to_string(v));
          });
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::get_request("/square?n=7")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "49");
  EXPECT_FALSE(r->header("connection").has_value());
  ASSERT_TRUE(c.send(tt::get_request("/square?n=12")));
  r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "144");
  EXPECT_TRUE(c.buffered().empty());
  EXPECT_TRUE(srv.wait_for(
      [](const ServerStats& s) { return s.jobs_completed == 2 && s.exchanges_in_flight == 0; }));
  {
    std::lock_guard<std::mutex> lock(ids->mu);
    EXPECT_EQ(ids->then, ids->handler) << "`then` must run on the handler's loop thread";
    EXPECT_NE(ids->work, ids->handler) << "work must run on a worker thread";
    EXPECT_NE(ids->work, std::this_thread::get_id());
  }
  EXPECT_EQ(srv.stats().jobs_abandoned, 0u);
  EXPECT_EQ(srv.stats().handler_exceptions, 0u);
}

TEST(Offload, VoidWorkCallsThenWithTheResponseOnly) {
  auto touched = std::make_shared<std::atomic<bool>>(false);
  tt::TestServer srv({}, [touched](tether::Server& s) {
    s.get("/touch", [touched](tether::Request&, tether::Response res) {
      res.offload([touched](std::stop_token) { *touched = true; },
                  [touched](tether::Response r) { r.send(200, *touched ? "touched" : "not yet"); });
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::get_request("/touch")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "touched");
}

TEST(Offload, ThenMayOffloadAgain) {
  tt::TestServer srv({}, [](tether::Server& s) {
    s.get("/twice", [](tether::Request&, tether::Response res) {
      res.offload([](std::stop_token) { return 20; },
                  [](tether::Response r, int a) {
                    r.offload([a](std::stop_token) { return a + 22; },
                              [](tether::Response r2, int b) { r2.send(200, std::to_string(b)); });
                  });
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::get_request("/twice")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "42");
  EXPECT_TRUE(srv.wait_for([](const ServerStats& s) { return s.jobs_completed == 2; }));
  EXPECT_EQ(srv.stats().responses_abandoned, 0u);
}

TEST(Offload, WorkThatThrowsIs500AndTheConnectionKeepsWorking) {
  auto then_called = std::make_shared<std::atomic<bool>>(false);
  tt::TestServer srv({}, [then_called](tether::Server& s) {
    tt::add_test_routes(s);
    s.get("/fail", [then_called](tether::Request&, tether::Response res) {
      res.offload([](std::stop_token) -> int { throw std::runtime_error("work failed"); },
                  [then_called](tether::Response r, int) {
                    *then_called = true;
                    r.send(200, "no");
                  });
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::get_request("/fail")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_FALSE(r->header("connection").has_value());
  tt::expect_plaintext_ok(c);
  EXPECT_FALSE(*then_called);
  EXPECT_TRUE(srv.wait_for([](const ServerStats& s) {
    return s.handler_exceptions == 1 && s.jobs_failed == 1 && s.exchanges_in_flight == 0;
  }));
  EXPECT_EQ(srv.stats().responses_by_class[5], 1u);
}

TEST(Offload, ThenThatThrowsIs500AndTheConnectionKeepsWorking) {
  tt::TestServer srv({}, [](tether::Server& s) {
    tt::add_test_routes(s);
    s.get("/then-throws", [](tether::Request&, tether::Response res) {
      res.offload([](std::stop_token) { return 1; },
                  [](tether::Response, int) -> void { throw std::runtime_error("then failed"); });
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::get_request("/then-throws")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  tt::expect_plaintext_ok(c);
  EXPECT_TRUE(srv.wait_for([](const ServerStats& s) {
    return s.handler_exceptions == 1 && s.exchanges_in_flight == 0;
  }));
  // Like a handler that throws: the exception is what is answered (and counted), not an
  // abandoned response.
  EXPECT_EQ(r->body, "internal server error\n");
  EXPECT_EQ(srv.stats().responses_abandoned, 0u);
  EXPECT_EQ(srv.stats().responses_by_class[5], 1u);
}

// A `then` that throws after taking its Response by value, at a moment when the loop's pool
// of free exchanges is full (4096), so that the exchange it answered is freed rather than
// pooled: the server must still answer 500 and keep serving (and touch no freed memory;
// run under ASan to see that part).
TEST(Offload, ThenThatThrowsWhileTheExchangePoolIsFull) {
  constexpr int kParked = 4097;  // one more than the loop keeps pooled
  auto sh = std::make_shared<Shared>();
  auto parked = std::make_shared<std::vector<tether::Response>>();  // loop thread only
  tether::ServerOptions o;
  o.max_pipelined = kParked + 10;
  tt::TestServer srv(o, [sh, parked](tether::Server& s) {
    tt::add_test_routes(s);
    s.get("/defer",
          [parked](tether::Request&, tether::Response res) { parked->push_back(std::move(res)); });
    s.get("/release", [parked](tether::Request&, tether::Response res) {
      std::vector<tether::Response> now;
      now.swap(*parked);
      for (auto& p : now) p.send(200, "deferred");
      res.send(200, "released " + std::to_string(now.size()));
    });
    s.get("/then-throws", [sh](tether::Request&, tether::Response res) {
      res.offload(
          [sh](std::stop_token) {
            sh->started.open();
            sh->release.wait();
            return 1;
          },
          [](tether::Response, int) -> void { throw std::runtime_error("then failed"); });
    });
  });
  // Many exchanges in use at once, then the one whose `then` will throw.
  tt::Client a(srv.port());
  std::string batch;
  for (int i = 0; i < kParked; ++i) batch += tt::get_request("/defer");
  ASSERT_TRUE(a.send(batch));
  ASSERT_TRUE(srv.wait_for([](const ServerStats& s) { return s.requests == kParked; }));
  tt::Client b(srv.port());
  ASSERT_TRUE(b.send(tt::get_request("/then-throws")));
  ASSERT_TRUE(sh->started.wait());
  // Answer and free the parked ones: the loop's free list fills up.
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::get_request("/release")));
  auto rc = c.read_response();
  ASSERT_TRUE(rc);
  EXPECT_EQ(rc->body, "released " + std::to_string(kParked));
  for (int i = 0; i < kParked; ++i) {
    auto r = a.read_response();
    ASSERT_TRUE(r) << i;
    ASSERT_EQ(r->body, "deferred") << i;
  }
  sh->release.open();
  auto rb = b.read_response();
  ASSERT_TRUE(rb);
  EXPECT_EQ(rb->status, 500);
  tt::expect_plaintext_ok(b);
  tt::expect_plaintext_ok(c);
  EXPECT_TRUE(srv.wait_for([](const ServerStats& s) {
    return s.handler_exceptions == 1 && s.exchanges_in_flight == 0;
  }));
}

// ---------------------------------------------------------------- fan-out

struct Chain {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> finished;  // indices in the order their work finished
  bool done(int i) {
    for (int f : finished)
      if (f == i) return true;
    return false;
  }
};

TEST(Offload, OffloadAllGathersResultsInInputOrder) {
  constexpr int kN = 4;
  auto chain = std::make_shared<Chain>();
  tether::ServerOptions o;
  o.workers = kN;  // all run at once; each waits for the next one, so they finish in reverse
  tt::TestServer srv(o, [chain](tether::Server& s) {
    s.get("/fan", [chain](tether::Request&, tether::Response res) {
      auto make = [chain](int i) {
        return [chain, i](std::stop_token) {
          std::unique_lock<std::mutex> lock(chain->mu);
          if (i + 1 < kN) chain->cv.wait_for(lock, 5s, [&] { return chain->done(i + 1); });
          chain->finished.push_back(i);
          chain->cv.notify_all();
          return 100 + i;
        };
      };
      std::vector<decltype(make(0))> works;
      for (int i = 0; i < kN; ++i) works.push_back(make(i));
      res.offload_all(std::move(works), [](tether::Response r, std::vector<int> v) {
        std::string body;
        for (int x : v) {
          if (!body.empty()) body += ',';
          body += std::to_string(x);
        }
        r.send(200, body);
      });
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::get_request("/fan")));
  auto r = c.read_response(8000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "100,101,102,103");
  std::lock_guard<std::mutex> lock(chain->mu);
  EXPECT_EQ(chain->finished, (std::vector<int>{3, 2, 1, 0}))
      << "the works did not finish out of order";
}

TEST(Offload, EmptyOffloadAllCallsThenLaterWithNoResults) {
  tt::TestServer srv({}, [](tether::Server& s) {
    s.get("/empty", [](tether::Request&, tether::Response res) {
      auto returned = std::make_shared<bool>(false);  // loop thread only
      res.offload_all(
          std::vector<std::function<int(std::stop_token)>>{},
          [returned](tether::Response r, std::vector<int> v) {
            r.send(200, "n=" + std::to_string(v.size()) + (*returned ? " later" : " inline"));
          });
      *returned = true;
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::get_request("/empty")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "n=0 later");
}

TEST(Offload, OffloadAllIsQueuedWhollyOrRefusedWith503) {
  auto sh = std::make_shared<Shared>();
  auto fan_runs = std::make_shared<std::atomic<int>>(0);
  tether::ServerOptions o;
  o.workers = 1;
  o.queue = 2;
  tt::TestServer srv(o, [sh, fan_runs](tether::Server& s) {
    tt::add_test_routes(s);
    add_job_routes(s, sh);
    s.get("/fan", [fan_runs](tether::Request& req, tether::Response res) {
      int k = std::stoi(std::string(req.query("k").value_or("1")));
      std::vector<std::function<int(std::stop_token)>> works;
      for (int i = 0; i < k; ++i) {
        works.emplace_back([fan_runs, i](std::stop_token) {
          ++*fan_runs;
          return i;
        });
      }
      res.offload_all(std::move(works), [](tether::Response r, std::vector<int> v) {
        r.send(200, "got " + std::to_string(v.size()));
      });
    });
  });
  tt::Client a(srv.port());
  ASSERT_TRUE(a.send(tt::get_request("/block?tag=a")));
  ASSERT_TRUE(sh->started.wait());  // the only worker is busy; the queue (2) is empty
  tt::Client b(srv.port());
  ASSERT_TRUE(b.send(tt::get_request("/fan?k=3")));
  auto r = b.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_TRUE(r->header("retry-after").has_value());
  EXPECT_EQ(srv.stats().jobs_queued, 0u) << "a refused fan-out must not be half queued";
  ASSERT_TRUE(b.send(tt::get_request("/fan?k=2")));
  ASSERT_TRUE(srv.wait_for([](const ServerStats& s) { return s.jobs_queued == 2; }));
  sh->release.open();
  auto ra = a.read_response();
  auto rb = b.read_response();
  ASSERT_TRUE(ra && rb);
  EXPECT_EQ(ra->body, "done a");
  EXPECT_EQ(rb->status, 200);
  EXPECT_EQ(rb->body, "got 2");
  EXPECT_EQ(fan_runs->load(), 2) << "work of the refused fan-out ran";
  EXPECT_EQ(srv.stats().jobs_shed, 1u);
}

// ---------------------------------------------------------------- ordering

TEST(Offload, PipelinedSlowJobThenFastRequestAnswerInRequestOrder) {
  auto sh = std::make_shared<Shared>();
  tt::TestServer srv({}, job_routes(sh));
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::get_request("/block?tag=slow") + tt::kPlaintextRequest));
  ASSERT_TRUE(sh->started.wait());
  // The fast one is answered at once but must wait behind the job.
  ASSERT_TRUE(srv.wait_for(
      [](const ServerStats& s) { return s.requests == 2 && s.responses_by_class[2] == 1; }));
  EXPECT_EQ(c.read_some(50), 0u) << c.buffered();
  sh->release.open();
  auto r1 = c.read_response();
  auto r2 = c.read_response();
  ASSERT_TRUE(r1 && r2);
  EXPECT_EQ(r1->body, "done slow");
  EXPECT_EQ(r2->body, "Hello, World!");
  EXPECT_TRUE(c.buffered().empty());
}

// ---------------------------------------------------------------- the client leaves

void client_leaves_while_job_runs(bool reset) {
  auto sh = std::make_shared<Shared>();
  tt::TestServer srv({}, job_routes(sh));
  {
    tt::Client c(srv.port());
    ASSERT_TRUE(c.send(tt::get_request("/wait-stop")));
    ASSERT_TRUE(sh->started.wait());
    c.close(reset);
  }
  ASSERT_TRUE(sh->stop_seen.wait(8s));
  EXPECT_TRUE(sh->saw_stop) << "the job was not asked to stop when its client left";
  EXPECT_TRUE(sh->closed.wait()) << "on_close did not run when the client left";
  EXPECT_TRUE(srv.wait_for([](const ServerStats& s) {
    return s.jobs_abandoned >= 1 && s.responses_dropped >= 1 && s.jobs_cancelled >= 1 &&
           s.exchanges_in_flight == 0 && s.connections_active == 0;
  })) << "abandoned "
      << srv.stats().jobs_abandoned << " dropped " << srv.stats().responses_dropped;
  EXPECT_FALSE(sh->then_called) << "`then` ran for a client that had left";
  tt::Client next(srv.port());
  tt::expect_plaintext_ok(next);
  EXPECT_FALSE(sh->then_called);
  ServerStats s = srv.stats();
  EXPECT_EQ(s.responses_by_class[2], 1u);  // the plaintext only
  EXPECT_EQ(s.responses_by_class[5], 0u);
  EXPECT_EQ(s.responses_abandoned, 0u);
}

TEST(Offload, ClientClosingStopsItsJobAndThenIsNotCalled) {
  client_leaves_while_job_runs(false);
}

TEST(Offload, ClientResettingStopsItsJobAndThenIsNotCalled) {
  client_leaves_while_job_runs(true);
}

// GET /park keeps its Response unanswered; when the exchange ends without an answer (client
// left, or deadline) its on_close records whether a late send was refused, then opens `closed`.
void add_park_route(tether::Server& s, std::shared_ptr<Gate> closed,
                    std::shared_ptr<std::vector<tether::Response>> parked,
                    std::shared_ptr<std::atomic<int>> late_send) {
  s.get("/park", [closed, parked, late_send](tether::Request&, tether::Response res) {
    res.on_close([closed, parked, late_send] {
      // The handle is dead now: a send is a counted no-op.
      *late_send = parked->front().send(200, "late") ? 1 : 0;
      parked->clear();
      closed->open();
    });
    parked->push_back(std::move(res));
  });
}

TEST(Offload, OnCloseRunsForADeferredResponseWhenTheClientLeaves) {
  auto closed = std::make_shared<Gate>();
  auto parked = std::make_shared<std::vector<tether::Response>>();  // loop thread only
  auto late_send = std::make_shared<std::atomic<int>>(-1);
  tt::TestServer srv({}, [closed, parked, late_send](tether::Server& s) {
    tt::add_test_routes(s);
    add_park_route(s, closed, parked, late_send);
  });
  {
    tt::Client c(srv.port());
    ASSERT_TRUE(c.send(tt::get_request("/park")));
    ASSERT_TRUE(srv.wait_for([](const ServerStats& s) { return s.requests == 1; }));
  }
  ASSERT_TRUE(closed->wait());
  EXPECT_EQ(late_send->load(), 0);
  EXPECT_TRUE(parked->empty());
  EXPECT_TRUE(srv.wait_for(
      [](const ServerStats& s) { return s.responses_dropped == 1 && s.exchanges_in_flight == 0; }));
  EXPECT_EQ(srv.stats().responses_abandoned, 0u);
  tt::Client next(srv.port());
  tt::expect_plaintext_ok(next);
}

// ---------------------------------------------------------------- shedding

TEST(Offload, FullQueueAnswers503WithRetryAfter) {
  auto sh = std::make_shared<Shared>();
  tether::ServerOptions o;
  o.workers = 1;
  o.queue = 1;
  tt::TestServer srv(o, job_routes(sh));
  tt::Client a(srv.port());
  tt::Client b(srv.port());
  tt::Client c(srv.port());
  ASSERT_TRUE(a.send(tt::get_request("/block?tag=a")));
  ASSERT_TRUE(sh->started.wait());  // a's work holds the only worker
  ASSERT_TRUE(b.send(tt::get_request("/block?tag=b")));
  ASSERT_TRUE(srv.wait_for([](const ServerStats& s) { return s.jobs_queued == 1; }));
  int64_t t0 = tt::now_ms();
  ASSERT_TRUE(c.send(tt::get_request("/block?tag=c")));
  auto rc = c.read_response(3000);
  ASSERT_TRUE(rc);
  EXPECT_LT(tt::now_ms() - t0, 2000) << "shedding must not wait for the queue";
  EXPECT_EQ(rc->status, 503);
  EXPECT_EQ(rc->header("retry-after"), "1");
  EXPECT_TRUE(tt::eventually([&] { return sh->refused.load() == 1; }));
  EXPECT_EQ(srv.stats().jobs_shed, 1u);
  tt::expect_plaintext_ok(c);  // a 503 for load does not close the connection

  sh->release.open();
  auto ra = a.read_response();
  auto rb = b.read_response();
  ASSERT_TRUE(ra && rb);
  EXPECT_EQ(ra->status, 200);
  EXPECT_EQ(ra->body, "done a");
  EXPECT_EQ(rb->status, 200);
  EXPECT_EQ(rb->body, "done b");
  EXPECT_EQ(sh->runs.load(), 2) << "the shed job's work ran";
  EXPECT_TRUE(srv.wait_for(
      [](const ServerStats& s) { return s.jobs_completed == 2 && s.exchanges_in_flight == 0; }));
  ServerStats s = srv.stats();
  EXPECT_EQ(s.jobs_shed, 1u);
  EXPECT_EQ(s.responses_by_class[5], 1u);
  EXPECT_EQ(s.responses_by_class[2], 3u);
}

// ---------------------------------------------------------------- the response deadline

TEST(Offload, DeadlineAnswers504AndStopsTheJob) {
  auto sh = std::make_shared<Shared>();
  tether::ServerOptions o;
  o.response_timeout_ms = 200;
  tt::TestServer srv(o, job_routes(sh));
  tt::Client c(srv.port());
  int64_t t0 = tt::now_ms();
  ASSERT_TRUE(c.send(tt::get_request("/wait-stop")));
  auto r = c.read_response(4000);
  int64_t took = tt::now_ms() - t0;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504);
  EXPECT_GE(took, 150);
  EXPECT_LT(took, 3000);
  ASSERT_TRUE(sh->stop_seen.wait(8s));
  EXPECT_TRUE(sh->saw_stop) << "the job was not asked to stop at the deadline";
  EXPECT_TRUE(sh->closed.wait()) << "on_close did not run at the deadline";
  EXPECT_TRUE(srv.wait_for([](const ServerStats& s) {
    return s.responses_timed_out == 1 && s.jobs_abandoned == 1 && s.exchanges_in_flight == 0;
  }));
  EXPECT_FALSE(sh->then_called);
  if (!r->header("connection")) tt::expect_plaintext_ok(c);
  EXPECT_TRUE(c.buffered().empty()) << "bytes after the 504: " << c.buffered();
  ServerStats s = srv.stats();
  EXPECT_EQ(s.responses_timed_out, 1u);
  EXPECT_EQ(s.responses_by_class[5], 1u);
  EXPECT_EQ(s.responses_abandoned, 0u);
}

TEST(Offload, DeferredResponseNeverAnsweredGets504AtTheDeadline) {
  auto closed = std::make_shared<Gate>();
  auto parked = std::make_shared<std::vector<tether::Response>>();  // loop thread only
  auto late_send = std::make_shared<std::atomic<int>>(-1);
  tether::ServerOptions o;
  o.response_timeout_ms = 200;
  tt::TestServer srv(o, [closed, parked, late_send](tether::Server& s) {
    tt::add_test_routes(s);
    add_park_route(s, closed, parked, late_send);
  });
  tt::Client c(srv.port());
  int64_t t0 = tt::now_ms();
  ASSERT_TRUE(c.send(tt::get_request("/park")));
  auto r = c.read_response(4000);
  int64_t took = tt::now_ms() - t0;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504);
  EXPECT_GE(took, 150);
  EXPECT_LT(took, 3000);
  ASSERT_TRUE(closed->wait());
  EXPECT_EQ(late_send->load(), 0) << "a send after the 504 must fail";
  if (!r->header("connection")) tt::expect_plaintext_ok(c);
  EXPECT_TRUE(c.buffered().empty()) << "bytes after the 504: " << c.buffered();
  EXPECT_TRUE(srv.wait_for([](const ServerStats& s) {
    return s.responses_timed_out == 1 && s.exchanges_in_flight == 0;
  }));
  EXPECT_EQ(srv.stats().responses_dropped, 1u);
  EXPECT_EQ(srv.stats().responses_abandoned, 0u);
}

// ---------------------------------------------------------------- background work

TEST(Offload, BackgroundRunsFromAnyThreadWithoutAResponse) {
  auto from_handler = std::make_shared<Gate>();
  tt::TestServer srv({}, [from_handler](tether::Server& s) {
    tt::add_test_routes(s);
    s.get("/audit", [from_handler, &s](tether::Request&, tether::Response res) {
      bool ok = s.background([from_handler](std::stop_token) { from_handler->open(); });
      res.send(200, ok ? "queued" : "refused");  // answered before the work ran, or not
    });
  });
  Gate from_test;
  EXPECT_TRUE(srv.server().background([&from_test](std::stop_token) { from_test.open(); }));
  EXPECT_TRUE(from_test.wait());
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::get_request("/audit")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "queued");
  EXPECT_TRUE(from_handler->wait());
  EXPECT_TRUE(srv.wait_for([](const ServerStats& s) { return s.background_completed == 2; }));
  EXPECT_FALSE(srv.server().background({})) << "an empty function is refused";
}

// A running background job gets the drain timeout to finish (an audit log write is not cut
// short by a stop), then is asked to stop.
TEST(Offload, BackgroundIsAskedToStopAtTheDrainDeadlineAndRefusedAfter) {
  Gate started;
  Gate done;
  std::atomic<bool> saw_stop{false};
  tether::ServerOptions o;
  o.drain_timeout_ms = 300;
  tt::TestServer srv(o);
  ASSERT_TRUE(srv.server().background([&](std::stop_token st) {
    started.open();
    saw_stop = tt::wait_for_stop(st);
    done.open();
  }));
  ASSERT_TRUE(started.wait());
  int64_t t0 = tt::now_ms();
  srv.server().stop();
  srv.server().wait();
  EXPECT_GE(tt::now_ms() - t0, 250) << "the job was asked to stop before the drain deadline";
  EXPECT_LT(tt::now_ms() - t0, 3000) << "wait() did not ask the background job to stop";
  EXPECT_TRUE(done.wait(1s));
  EXPECT_TRUE(saw_stop.load());
  EXPECT_FALSE(srv.server().background([](std::stop_token) {}));
}

// ---------------------------------------------------------------- shutdown

TEST(Offload, GracefulStopWaitsForAJobInFlight) {
  auto sh = std::make_shared<Shared>();
  tt::TestServer srv({}, job_routes(sh));
  tt::Client a(srv.port());
  ASSERT_TRUE(a.send(tt::get_request("/block?tag=a")));
  ASSERT_TRUE(sh->started.wait());
  tt::Client idle(srv.port());
  tt::expect_plaintext_ok(idle);
  srv.server().stop();
  // The idle connection goes at once: the loop is draining, with a's job still in flight.
  EXPECT_TRUE(idle.wait_closed(3000));
  EXPECT_EQ(a.read_some(20), 0u) << a.buffered();
  sh->release.open();
  auto r = a.read_response(3000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "done a");
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(a.wait_closed(3000));
  a.close();
  int64_t t0 = tt::now_ms();
  srv.server().wait();
  EXPECT_LT(tt::now_ms() - t0, 2000);
  EXPECT_EQ(srv.stats().jobs_abandoned, 0u);
  EXPECT_EQ(srv.stats().exchanges_in_flight, 0u);
}

// stats() is "any thread": a metrics scraper may read it while the server stops and joins
// its workers (run under TSan for the data-race part).
TEST(Offload, StatsCanBeReadWhileTheServerStops) {
  auto sh = std::make_shared<Shared>();
  tt::TestServer srv({}, job_routes(sh));
  tt::Client a(srv.port());
  ASSERT_TRUE(a.send(tt::get_request("/block?tag=a")));
  ASSERT_TRUE(sh->started.wait());
  std::atomic<bool> done{false};
  std::atomic<uint64_t> reads{0};
  std::thread scraper([&] {
    while (!done.load()) {
      tether::ServerStats s = srv.stats();
      if (s.queue_capacity > 0) ++reads;
    }
  });
  ASSERT_TRUE(tt::eventually([&] { return reads.load() > 0; }));
  srv.server().stop();
  sh->release.open();
  auto r = a.read_response(3000);
  a.close();
  srv.server().wait();
  done = true;
  scraper.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "done a");
  EXPECT_GT(reads.load(), 0u);
}

TEST(Offload, DrainDeadlineCutsAJobThatDoesNotFinish) {
  auto sh = std::make_shared<Shared>();
  tether::ServerOptions o;
  o.drain_timeout_ms = 200;
  tt::TestServer srv(o, job_routes(sh));
  tt::Client a(srv.port());
  ASSERT_TRUE(a.send(tt::get_request("/wait-stop")));
  ASSERT_TRUE(sh->started.wait());
  int64_t t0 = tt::now_ms();
  srv.server().stop();
  EXPECT_TRUE(a.wait_closed(3000));
  EXPECT_TRUE(a.buffered().empty()) << "a response was written: " << a.buffered();
  ASSERT_TRUE(sh->stop_seen.wait(8s));
  EXPECT_TRUE(sh->saw_stop) << "the job was not asked to stop at the drain deadline";
  EXPECT_TRUE(sh->closed.is_open());
  srv.server().wait();
  int64_t took = tt::now_ms() - t0;
  EXPECT_GE(took, 150);
  EXPECT_LT(took, 3000);
  EXPECT_FALSE(sh->then_called);
}

}  // namespace

namespace {

// Eight workers complete items at once and all post into the one loop's inbox: every
// fan-out must come back whole and in order, however the completions interleave.
TEST(Offload, InboxUnderManyProducersLosesNothing) {
  tether::ServerOptions o;
  o.workers = 8;
  o.queue = 4096;
  tt::TestServer srv(o, [](tether::Server& s) {
    s.get("/wide", [](tether::Request&, tether::Response res) {
      std::vector<std::function<int(std::stop_token)>> works;
      for (int i = 0; i < 64; ++i) works.push_back([i](std::stop_token) { return i * i; });
      res.offload_all(std::move(works), [](tether::Response r, std::vector<int> v) {
        bool ok = v.size() == 64;
        for (int i = 0; ok && i < 64; ++i) ok = v[static_cast<size_t>(i)] == i * i;
        r.send(ok ? 200 : 500, ok ? "ok" : "mismatch");
      });
    });
  });
  constexpr int kClients = 4, kRequests = 50;
  std::vector<std::thread> clients;
  std::atomic<int> good{0};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      tt::Client cl(srv.port());
      for (int i = 0; i < kRequests; ++i) {
        if (!cl.send("GET /wide HTTP/1.1\r\nHost: t\r\n\r\n")) return;
        auto r = cl.read_response(10000);
        if (r && r->status == 200 && r->body == "ok") ++good;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(good.load(), kClients * kRequests);
  EXPECT_EQ(srv.stats().jobs_completed, static_cast<uint64_t>(kClients * kRequests * 64));
}

}  // namespace
