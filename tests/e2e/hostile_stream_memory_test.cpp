// Hostile tests of the commit that shrank an open event stream (1,273 -> 1,001 bytes): list
// hooks with their linked flag in prev's low bit, Exchange::deadline shared by the response
// deadline and the heartbeat, the head's buffers and the request's header index freed once a
// stream no longer needs them, StreamState slimmed (trailers on demand, bit flags, one
// stream-end hook per loop), and 256 KiB output batches. Public headers only, real sockets,
// every wait bounded.
//
// Builds run: ASan+UBSan (Debug), TSan (RelWithDebInfo), Release. No TSan report in any test.
// Breaks found, both fixed since (TopicTable::deliver flushes the batch before judging a
// subscriber slow; shed_request keeps the decoded values), each test kept as its regression:
//
// WAS: FastTopicReaderSurvivesABurstUnderTheSubscriberLimit (ASan, TSan, Release) — a
//   subscriber that reads as fast as it can is dropped as "slow" and gets nothing at all:
//   "received 0 of 3000 events; dropped 1" (topic_subscribers_dropped == 1). With
//   topic_subscriber_max_bytes = 128 KiB (default write_high_water 256 KiB), a burst reaching
//   the loop in one inbox drain is corked up to the 256 KiB flush batch without ever reaching
//   the socket, TopicTable::deliver (src/stream/topic_table.cpp:50) counts those corked bytes
//   as the subscriber's backlog and closes it, dropping them. With the old 64 KiB batch
//   (src/http/connection_stream.cpp:21) the same burst flushes first and the reader keeps up.
//
// WAS: DecodedViewKeptPastHandlerIntoStreamTimer (ASan) — documented misuse (Request views
//   are valid until the handler returns), but one that worked before and now reads freed
//   memory: "ERROR: AddressSanitizer: heap-use-after-free ... READ of size 48 ... freed by
//   thread T3: std::list<std::string>::clear() <- Connection::shed_request
//   (src/http/connection_stream.cpp:75) <- Connection::call_handler
//   (src/http/connection_dispatch.hpp:62)". A percent-decoded param()/query() view captured
//   into Stream::after() is now dangling once the handler returns; before, the decoded list
//   lived as long as the exchange. Release sends the freed heap bytes (allocator pointers
//   included) to the client: "data: \x1@\xE0\xF0\a\0\0\0\x9E\xCF...-leave-sso-xx...".
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/bodies.hpp"
#include "support/expectations.hpp"
#include "support/gate.hpp"
#include "support/http_client.hpp"
#include "support/test_server.hpp"
#include "tether/tether.hpp"
#include "tetherd/demo_routes.hpp"

namespace {

using namespace std::chrono_literals;
using tether::EventStream;
using tether::EventWriter;
using tether::Request;
using tether::Response;
using tether::Stream;
using tether::StreamWrite;
using tether::StreamWriter;

tether::ServerOptions opts(unsigned loops = 1, unsigned workers = 2) {
  return tt::loopback_options(loops, workers);
}

// Reads from `c` until its buffered bytes contain `needle` `count` times, or the time is up.
bool read_until(tt::Client& c, std::string_view needle, int timeout_ms = 5000, size_t count = 1) {
  const int64_t end = tt::now_ms() + timeout_ms;
  auto occurrences = [&] {
    size_t n = 0;
    for (size_t at = c.buffered().find(needle); at != std::string::npos;
         at = c.buffered().find(needle, at + needle.size())) {
      ++n;
    }
    return n;
  };
  while (occurrences() < count) {
    const int64_t left = end - tt::now_ms();
    if (left <= 0) return false;
    if (c.read_some(static_cast<int>(std::min<int64_t>(left, 200))) == 0 && tt::now_ms() >= end)
      return false;
  }
  return true;
}

size_t count_of(std::string_view hay, std::string_view needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string_view::npos;
       at = hay.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// True once the server closes `c` (bytes before the close are kept in its buffer).
bool closed_eventually(tt::Client& c, int timeout_ms = 5000) {
  const int64_t end = tt::now_ms() + timeout_ms;
  while (tt::now_ms() < end) {
    if (c.wait_closed(200)) return true;
  }
  return false;
}

std::string req_with(const std::string& target, const std::string& extra,
                     const char* method = "GET", const char* version = "HTTP/1.1") {
  return std::string(method) + " " + target + " " + version + "\r\nHost: t\r\n" + extra + "\r\n";
}

// ---------------------------------------------------------------- the request's header index

// Inside the handler, after the stream has started (its head already written: nothing before
// it), every accessor still answers: the index is only freed once the handler returned.
TEST(HostileStreamMemory, RequestReadsAfterStreamStartInsideTheHandler) {
  for (bool events : {false, true}) {
    SCOPED_TRACE(events ? "event stream" : "stream");
    tt::TestServer srv(opts(), [events](tether::Server& s) {
      tetherd::add_demo_routes(s);
      s.get("/s/{who}", [events](Request& req, Response res) {
        res.set_header("X-Before", "1");
        Stream st;
        EventStream es;
        if (events)
          es = res.event_stream();
        else
          st = res.stream(200, "text/plain");
        std::string line;
        line += std::string(req.header("X-A").value_or("none")) + "|";
        line += std::string(req.header("x-b").value_or("none")) + "|";
        line += std::to_string(req.header_count()) + "|";
        line += std::string(req.header_at(req.header_count() - 1).first) + "|";
        line += std::string(req.query("q").value_or("none")) + "|";
        line += std::string(req.param("who")) + "|";
        line += std::string(req.param_raw("who")) + "|";
        line += std::string(req.path()) + "|" + std::string(req.method_name());
        if (events) {
          es.send(line);
          es.end();
        } else {
          st.write(line);
          st.end();
        }
      });
    });
    tt::Client c(srv.port());
    auto r = tt::roundtrip(c, req_with("/s/a%20b?q=x%2By", "X-A: one\r\nX-B: two\r\n"));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-before"), "1");
    const std::string want = "one|two|3|X-B|x+y|a b|a%20b|/s/a%20b|GET";
    if (events)
      EXPECT_EQ(r.body, "data: " + want + "\n\n");
    else
      EXPECT_EQ(r.body, want);
    tt::expect_plaintext_ok(c);
  }
}

// Documented misuse (Request views live until the handler returns), probed for "no worse than
// before": a Request reference kept past the handler and read from Stream::after timers. The
// header index is gone once the handler returned: reads must be safe (empty), never a crash.
TEST(HostileStreamMemory, RequestKeptPastHandlerReadsSafelyFromTimers) {
  struct Kept {
    std::optional<Request> req;  // a copy: it points at the exchange's request
    EventStream es;
  };
  auto kept = std::make_shared<Kept>();
  std::atomic<int> reads{0};
  tt::TestServer srv(opts(), [kept, &reads](tether::Server& s) {
      tetherd::add_demo_routes(s);
    s.get("/keep", [kept, &reads](Request& req, Response res) {
      kept->req.emplace(req);
      kept->es = res.event_stream();
      kept->es.after(5ms, [kept, &reads] {
        const Request& r = *kept->req;  // the exchange outlives the handler: it streams
        std::string out = std::string(r.header("X-A").value_or("gone"));
        const size_t n = r.header_count();
        for (size_t i = 0; i < n; ++i) out += std::string(r.header_at(i).first);
        out += std::string(r.query("q").value_or("")) + std::string(r.param("x"));
        out += std::string(r.method_name());
        ++reads;
        kept->es.send("after:" + std::to_string(out.size()));
        kept->es.end();
      });
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(req_with("/keep?q=a%20b", "X-A: one\r\nX-B: two\r\n")));
  auto r = c.read_response(5000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("data: after:"), std::string::npos) << r->body;
  EXPECT_EQ(reads.load(), 1);
  tt::expect_plaintext_ok(c);
  kept->es = {};
}

// Documented misuse again, but one that worked before this commit: a percent-decoded
// query value / capture (handed out as a view into the request's decoded list) used from a
// Stream::after callback. The decoded list is now cleared when the handler returns.
TEST(HostileStreamMemory, DecodedViewKeptPastHandlerIntoStreamTimer) {
  tt::TestServer srv(opts(), [](tether::Server& s) {
      tetherd::add_demo_routes(s);
    s.get("/dec/{who}", [](Request& req, Response res) {
      std::string_view who = req.param("who");            // decoded: "a b c"
      std::string_view q = req.query("q").value_or("");   // decoded: "x y z"
      EventStream es = res.event_stream();
      es.after(2ms, [es, who, q]() mutable {
        es.send(std::string(who) + "/" + std::string(q));
        es.end();
      });
    });
  });
  tt::Client c(srv.port());
  auto r = tt::roundtrip(c, req_with("/dec/a%20b%20c%20padding-to-leave-sso-xxxxxxxxxxxxxxxxxx"
                                     "?q=x+y+z+padding+to+leave+sso+yyyyyyyyyyyyyyyyyyyyy",
                                     ""));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            "data: a b c padding-to-leave-sso-xxxxxxxxxxxxxxxxxx/"
            "x y z padding to leave sso yyyyyyyyyyyyyyyyyyyyy\n\n");
}

// Streams started after the handler returned (from then-continuations, Stream::after timers of
// another stream, a read_body on_end): the header index goes at stream start. Many requests on
// one connection, with different header sets, pipelined behind each stream.
TEST(HostileStreamMemory, StreamsStartedOutsideTheirHandlerWithPipelinedHeaderSets) {
  auto held = std::make_shared<std::vector<Response>>();
  auto held_n = std::make_shared<std::atomic<int>>(0);
  tt::TestServer srv(opts(1, 2), [held, held_n](tether::Server& s) {
      tetherd::add_demo_routes(s);
    s.get("/then", [](Request& req, Response res) {
      res.set_header("X-Set-Before", std::string(req.header("X-Id").value_or("?")));
      res.offload([](std::stop_token) { return 7; }, [](Response later, int v) {
        EventStream es = later.event_stream();
        es.send("then " + std::to_string(v));
        es.end();
      });
    });
    s.get("/hold", [held, held_n](Request&, Response res) {
      held->push_back(std::move(res));
      ++*held_n;
    });
    s.get("/timer", [held](Request& req, Response res) {
      const std::string id(req.header("X-Id").value_or("?"));
      Stream st = res.stream(200, "text/plain");
      st.write("timer-" + id + ";");
      st.after(3ms, [st, held]() mutable {
        // Start the held exchanges' streams from this timer (their handlers returned).
        for (Response& h : *held) {
          Stream other = h.stream(200, "text/plain");
          other.trailer("X-T", "held");
          other.write("started-from-timer");
          other.end();
        }
        held->clear();
        st.end();
      });
    });
    s.get("/echo", [](Request& req, Response res) {
      std::string all;
      for (size_t i = 0; i < req.header_count(); ++i) {
        auto [n, v] = req.header_at(i);
        all += std::string(n) + "=" + std::string(v) + ";";
      }
      res.send(200, all);
    });
  });
  tt::Client c(srv.port());
  std::string batch;
  batch += req_with("/then", "X-Id: t1\r\n");
  batch += req_with("/echo", "A: 1\r\n");
  batch += req_with("/hold", "X-Id: h1\r\nLong: " + std::string(300, 'h') + "\r\n");
  batch += req_with("/echo", "B: 2\r\nC: 3\r\n");
  ASSERT_TRUE(c.send(batch));
  auto a = c.read_response(5000);
  auto b = c.read_response(5000);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->header("x-set-before"), "t1");
  EXPECT_EQ(a->body, "data: then 7\n\n");
  EXPECT_EQ(b->body, "Host=t;A=1;");
  // /hold now blocks the FIFO: a second connection's /timer starts its stream.
  ASSERT_TRUE(tt::eventually([&] { return held_n->load() == 1; }, 3000));
  tt::Client t(srv.port());
  ASSERT_TRUE(t.send(req_with("/timer", "X-Id: z\r\n")));
  auto tr = t.read_response(5000);
  ASSERT_TRUE(tr);
  EXPECT_EQ(tr->body, "timer-z;");
  auto h = c.read_response(5000);
  auto d = c.read_response(5000);
  ASSERT_TRUE(h && d);
  EXPECT_EQ(h->body, "started-from-timer");
  ASSERT_EQ(h->trailers.size(), 1u);
  EXPECT_EQ(h->trailers[0].second, "held");
  EXPECT_EQ(d->body, "Host=t;B=2;C=3;");
  tt::expect_plaintext_ok(c);
}

// ---------------------------------------------------------------- the head's buffers

// Headers set before the stream, the stream behind a pipelined answer that is not out yet (its
// head is written later, from the FIFO), an event stream's Cache-Control, heartbeats due
// while its head waits (1 ms): the head carries everything exactly once, before any body byte.
TEST(HostileStreamMemory, HeadersSetBeforeAStreamThatWaitsBehindAPipelinedAnswer) {
  tether::ServerOptions o = opts();
  o.sse_heartbeat_ms = 1;
  auto held = std::make_shared<std::optional<Response>>();
  tt::TestServer srv(o, [held](tether::Server& s) {
      tetherd::add_demo_routes(s);
    s.get("/hold", [held](Request&, Response res) {
      *held = std::move(res);
    });
    s.get("/release", [held](Request&, Response res) {
      if (*held) (*held)->send(200, "released");
      held->reset();
      res.send(200, "ok");
    });
    s.get("/sse", [](Request&, Response res) {
      res.set_header("X-Custom", std::string(200, 'c'));
      res.set_header("Set-Cookie", "a=b");
      EventStream es = res.event_stream();
      es.send("first");
      es.after(30ms, [es]() mutable {
        es.send("second");
        es.end();
      });
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::get_request("/hold") + tt::get_request("/sse")));
  // Heartbeats accrue in the waiting stream's buffer for a while.
  ASSERT_TRUE(tt::eventually([&] { return srv.stats().streams_open == 1; }, 3000));
  tt::Client r(srv.port());
  auto rel = tt::roundtrip(r, tt::get_request("/release"));
  EXPECT_EQ(rel.status, 200);
  auto a = c.read_response(5000);
  auto b = c.read_response(5000);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->body, "released");
  EXPECT_EQ(b->header("x-custom"), std::string(200, 'c'));
  EXPECT_EQ(b->header("set-cookie"), "a=b");
  EXPECT_EQ(b->header("cache-control"), "no-cache");
  EXPECT_EQ(b->header("content-type"), "text/event-stream");
  EXPECT_EQ(b->header_count("cache-control"), 1u);
  EXPECT_NE(b->body.find("data: first\n\n"), std::string::npos) << b->body.substr(0, 200);
  EXPECT_NE(b->body.find("data: second\n\n"), std::string::npos);
  EXPECT_EQ(b->body.rfind("data: second\n\n"), b->body.size() - 14) << "bytes after the end";
  tt::expect_plaintext_ok(c);
}

// ---------------------------------------------------------------- trailers

TEST(HostileStreamMemory, TrailersBeforeAndAfterTheHeadOnEveryFraming) {
  auto held = std::make_shared<std::optional<Response>>();
  auto held_n = std::make_shared<std::atomic<int>>(0);
  tt::TestServer srv(opts(), [held, held_n](tether::Server& s) {
      tetherd::add_demo_routes(s);
    s.get("/hold", [held, held_n](Request&, Response res) {
      *held = std::move(res);
      ++*held_n;
    });
    s.get("/release", [held](Request&, Response res) {
      if (*held) (*held)->send(200, "released");
      held->reset();
      res.send(200, "ok");
    });
    s.route(tether::Method::Get, "/tr", [](Request&, Response res) {
      Stream st = res.stream(200, "text/plain");
      const bool first = st.trailer("X-One", "1");
      st.write("body");
      const bool second = st.trailer("X-Two", std::string(500, 't'));
      const bool bad = st.trailer("X-Bad", "a\r\nb");
      st.write(std::string(first ? "y" : "n") + (second ? "y" : "n") + (bad ? "y" : "n"));
      st.end();
      EXPECT_FALSE(st.trailer("X-Late", "1"));
    });
    s.route(tether::Method::Head, "/tr", [](Request&, Response res) {
      Stream st = res.stream(200, "text/plain");
      EXPECT_FALSE(st.trailer("X-One", "1"));  // HEAD: over with its head
      EXPECT_FALSE(st.alive());
    });
  });
  {
    tt::Client c(srv.port());
    auto r = tt::roundtrip(c, tt::get_request("/tr"));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "bodyyyn");
    ASSERT_EQ(r.trailers.size(), 2u);
    EXPECT_EQ(r.trailers[0].first, "X-One");
    EXPECT_EQ(r.trailers[1].second, std::string(500, 't'));
  }
  {
    // Behind a held answer: trailers added before the head exists.
    tt::Client c(srv.port());
    ASSERT_TRUE(c.send(tt::get_request("/hold") + tt::get_request("/tr") +
                       tt::get_request("/plaintext")));
    ASSERT_TRUE(tt::eventually([&] { return held_n->load() == 1; }, 3000));
    tt::Client r(srv.port());
    EXPECT_EQ(tt::roundtrip(r, tt::get_request("/release")).status, 200);
    auto a = c.read_response(5000);
    auto b = c.read_response(5000);
    auto p = c.read_response(5000);
    ASSERT_TRUE(a && b && p);
    EXPECT_EQ(b->body, "bodyyyn");
    EXPECT_EQ(b->trailers.size(), 2u);
    EXPECT_EQ(p->body, "Hello, World!");
  }
  {
    tt::Client c(srv.port());
    ASSERT_TRUE(c.send("GET /tr HTTP/1.0\r\n\r\n"));
    auto r = c.read_response(5000);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "bodyyyn") << "trailer bytes leaked into an HTTP/1.0 body";
    EXPECT_TRUE(c.wait_closed(2000));
  }
  {
    tt::Client c(srv.port());
    ASSERT_TRUE(c.send("HEAD /tr HTTP/1.1\r\nHost: t\r\n\r\n" + tt::get_request("/plaintext")));
    auto h = c.read_response(5000, /*head=*/true);
    auto p = c.read_response(5000);
    ASSERT_TRUE(h && p);
    EXPECT_EQ(p->body, "Hello, World!");
  }
}

// Worker-produced stream with trailers, on HTTP/1.1, HTTP/1.0 and HEAD.
TEST(HostileStreamMemory, ProducerTrailersOnEveryFraming) {
  tt::TestServer srv(opts(1, 2), [](tether::Server& s) {
      tetherd::add_demo_routes(s);
    s.any("/p", [](Request&, Response res) {
      res.set_header("X-Pre", "set");
      res.offload_stream([](std::stop_token, StreamWriter& w) {
        w.trailer("X-Early", "e");
        w.write(std::string(300 * 1024, 'p'));  // over one 256 KiB batch
        w.trailer("X-Late", "l");
      }, 200, "text/plain");
    });
  });
  {
    tt::Client c(srv.port());
    auto r = tt::roundtrip(c, tt::get_request("/p"), 10000);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-pre"), "set");
    EXPECT_EQ(r.body, std::string(300 * 1024, 'p'));
    EXPECT_EQ(r.trailers.size(), 2u);
  }
  {
    tt::Client c(srv.port());
    ASSERT_TRUE(c.send("GET /p HTTP/1.0\r\n\r\n"));
    auto r = c.read_response(10000);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, std::string(300 * 1024, 'p'));
  }
  {
    tt::Client c(srv.port());
    ASSERT_TRUE(c.send("HEAD /p HTTP/1.1\r\nHost: t\r\n\r\n" + tt::get_request("/plaintext")));
    auto h = c.read_response(5000, true);
    auto p = c.read_response(5000);
    ASSERT_TRUE(h && p);
    EXPECT_EQ(h->header("x-pre"), "set");
    EXPECT_EQ(p->body, "Hello, World!");
  }
}

// ---------------------------------------------------------------- deadline and heartbeat

// 1 ms heartbeats and a short response deadline together, streams started in the handler,
// from then-continuations and from mailbox waits that end; continuations that resume after
// the stream started must not put it back on the deadline list (a 504 into a stream, or a
// heartbeat list out of order).
TEST(HostileStreamMemory, TinyHeartbeatsAndDeadlinesWithContinuationsAndMailbox) {
  tether::ServerOptions o = opts(1, 2);
  o.sse_heartbeat_ms = 1;
  o.response_timeout_ms = 150;
  auto streams = std::make_shared<std::vector<EventStream>>();
  tt::TestServer srv(o, [streams](tether::Server& s) {
      tetherd::add_demo_routes(s);
    s.get("/inline", [streams](Request&, Response res) {
      streams->push_back(res.event_stream());
    });
    s.get("/then", [streams](Request&, Response res) {
      res.offload([](std::stop_token) { return 1; }, [streams](Response later, int) {
        streams->push_back(later.event_stream());
        // The continuation ends after the stream started: nothing re-arms a deadline.
        later.offload([](std::stop_token) { return 2; }, [](Response r2, int) { EXPECT_FALSE(r2.alive()); });
      });
    });
    s.get("/mb/{id}", [&s, streams](Request& req, Response res) {
      s.mailbox().wait(std::move(res), std::string(req.param("id")), 2000ms,
                       [streams](Response later, tether::MailboxTake t, std::string v) {
                         EventStream es = later.event_stream();
                         es.send(t == tether::MailboxTake::Value ? v : "other");
                         streams->push_back(es);
                       });
    });
    s.get("/post/{id}", [&s](Request& req, Response res) {
      s.mailbox().post(std::string(req.param("id")), "posted",
                       [res](tether::MailboxPost) mutable { res.send(200, "p"); });
    });
    s.get("/end", [streams](Request&, Response res) {
      for (auto& es : *streams) es.end();
      streams->clear();
      res.send(200, "ended");
    });
  });
  std::vector<std::unique_ptr<tt::Client>> clients;
  const char* paths[] = {"/inline", "/then", "/mb/a", "/mb/b", "/inline", "/then"};
  for (const char* p : paths) {
    clients.push_back(std::make_unique<tt::Client>(srv.port()));
    ASSERT_TRUE(clients.back()->send(tt::get_request(p)));
  }
  ASSERT_TRUE(tt::eventually([&] { return srv.stats().mailbox_waiters == 2; }, 3000));
  tt::Client poster(srv.port());
  EXPECT_EQ(tt::roundtrip(poster, tt::get_request("/post/a")).status, 200);
  EXPECT_EQ(tt::roundtrip(poster, tt::get_request("/post/b")).status, 200);
  // Every stream sees heartbeats, well past the response deadline, and no 504.
  for (auto& c : clients) {
    EXPECT_TRUE(read_until(*c, ":\n\n", 3000, 20));
  }
  const int64_t past = tt::now_ms() + 400;  // > 2 response deadlines
  for (auto& c : clients) EXPECT_TRUE(read_until(*c, ":\n\n", 3000, 60));
  while (tt::now_ms() < past) {
    for (auto& c : clients) c->read_some(20);
  }
  for (auto& c : clients) {
    EXPECT_EQ(c->buffered().find("504"), std::string::npos);
    EXPECT_EQ(c->buffered().rfind("HTTP/1.1 ", 0), 0u);
    EXPECT_EQ(count_of(c->buffered(), "HTTP/1.1 "), 1u);
  }
  EXPECT_EQ(srv.stats().responses_timed_out, 0u);
  EXPECT_EQ(srv.stats().streams_open, 6u);
  tt::Client e(srv.port());
  EXPECT_EQ(tt::roundtrip(e, tt::get_request("/end")).body, "ended");
  for (auto& c : clients) {
    EXPECT_TRUE(read_until(*c, "0\r\n\r\n", 3000)) << c->buffered().substr(0, 300);
  }
  EXPECT_TRUE(tt::eventually([&] { return srv.stats().streams_open == 0; }, 3000));
}

// A deadline that fires on held exchanges while heartbeating streams share the loop, in a
// mix: the deadline list and the heartbeat list each keep their own members.
TEST(HostileStreamMemory, DeadlinesExpireBesideHeartbeats) {
  tether::ServerOptions o = opts(1, 2);
  o.sse_heartbeat_ms = 1;
  o.response_timeout_ms = 30;
  auto held = std::make_shared<std::vector<Response>>();
  tt::TestServer srv(o, [held](tether::Server& s) {
      tetherd::add_demo_routes(s);
    s.get("/sse", [](Request&, Response res) {
      EventStream es = res.event_stream();
      es.after(200ms, [es]() mutable { es.end(); });
    });
    s.get("/hold", [held](Request&, Response res) { held->push_back(std::move(res)); });
  });
  std::vector<std::unique_ptr<tt::Client>> sse, hold;
  for (int i = 0; i < 8; ++i) {
    sse.push_back(std::make_unique<tt::Client>(srv.port()));
    ASSERT_TRUE(sse.back()->send(tt::get_request("/sse")));
    hold.push_back(std::make_unique<tt::Client>(srv.port()));
    ASSERT_TRUE(hold.back()->send(tt::get_request("/hold")));
  }
  for (auto& c : hold) {
    auto r = c->read_response(3000);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 504);
  }
  for (auto& c : sse) {
    EXPECT_TRUE(read_until(*c, "0\r\n\r\n", 3000));
    EXPECT_EQ(c->buffered().find("504"), std::string::npos);
  }
  EXPECT_EQ(srv.stats().responses_timed_out, 8u);
  EXPECT_TRUE(tt::eventually([&] { return srv.stats().streams_open == 0; }, 3000));
}

// A kept copy of the Response starts an event stream while a mailbox wait of the same
// exchange is parked; the wait then ends (a post, or its own deadline). The continuation that
// resumes a streaming exchange must not arm a response deadline on it (the field now times
// its heartbeats), nor answer into it.
TEST(HostileStreamMemory, StreamStartedWhileAMailboxWaitIsParked) {
  tether::ServerOptions o = opts(1, 2);
  o.sse_heartbeat_ms = 1;
  o.response_timeout_ms = 40;
  auto thens = std::make_shared<std::atomic<int>>(0);
  tt::TestServer srv(o, [thens](tether::Server& s) {
    tetherd::add_demo_routes(s);
    s.get("/w/{id}", [&s, thens](Request& req, Response res) {
      Response kept = res;
      s.mailbox().wait(std::move(res), std::string(req.param("id")), 60ms,
                       [thens](Response r, tether::MailboxTake, std::string) {
                         ++*thens;
                         EXPECT_FALSE(r.send(200, "late"));
                       });
      EventStream es = kept.event_stream();
      es.send("streaming");
      es.after(300ms, [es]() mutable { es.end(); });
    });
    s.get("/p/{id}", [&s](Request& req, Response res) {
      s.mailbox().post(std::string(req.param("id")), "v",
                       [res](tether::MailboxPost) mutable { res.send(200, "posted"); });
    });
  });
  tt::Client a(srv.port()), b(srv.port());
  ASSERT_TRUE(a.send(tt::get_request("/w/x")));
  ASSERT_TRUE(b.send(tt::get_request("/w/y")));
  ASSERT_TRUE(read_until(a, "data: streaming\n\n", 3000));
  tt::Client p(srv.port());
  tt::roundtrip(p, tt::get_request("/p/x"));  // x: posted; y: times out on its own
  for (tt::Client* c : {&a, &b}) {
    EXPECT_TRUE(read_until(*c, "0\r\n\r\n", 5000)) << c->buffered().substr(0, 200);
    EXPECT_GT(count_of(c->buffered(), ":\n\n"), 10u);
    EXPECT_EQ(count_of(c->buffered(), "HTTP/1.1 "), 1u) << "a second answer (504?) followed";
    EXPECT_EQ(c->buffered().find("late"), std::string::npos);
  }
  EXPECT_EQ(srv.stats().responses_timed_out, 0u);
  EXPECT_TRUE(tt::eventually([&] { return srv.stats().streams_open == 0; }, 3000));
  tt::Client fresh(srv.port());
  tt::expect_plaintext_ok(fresh);
}

// HEAD and HTTP/1.0 streams of every kind behind a held answer (their heads are written
// later, from the FIFO, after their buffers may have been freed), with 1 ms heartbeats.
TEST(HostileStreamMemory, HeadAndHttp10StreamsBehindAHeldAnswer) {
  tether::ServerOptions o = opts(1, 2);
  o.sse_heartbeat_ms = 1;
  auto held = std::make_shared<std::optional<Response>>();
  auto held_n = std::make_shared<std::atomic<int>>(0);
  auto k_n = std::make_shared<std::atomic<int>>(0);
  tt::TestServer srv(o, [held, held_n, k_n](tether::Server& s) {
    tetherd::add_demo_routes(s);
    s.get("/hold", [held, held_n](Request&, Response res) {
      *held = std::move(res);
      ++*held_n;
    });
    s.get("/release", [held](Request&, Response res) {
      if (*held) (*held)->send(200, "released");
      held->reset();
      res.send(200, "ok");
    });
    s.any("/k/{kind}", [k_n](Request& req, Response res) {
      ++*k_n;
      res.set_header("X-Kind", std::string(req.param("kind")));
      const std::string kind(req.param("kind"));
      if (kind == "sse") {
        EventStream es = res.event_stream();
        es.send("e");
        es.after(20ms, [es]() mutable { es.end(); });
      } else if (kind == "plain") {
        Stream st = res.stream(200, "text/plain");
        st.trailer("X-T", "1");
        st.write("p");
        st.end();
      } else {
        res.offload_events([](std::stop_token, EventWriter& w) { w.send("w"); });
      }
    });
  });
  for (const char* method : {"HEAD", "GET"}) {
    for (const char* version : {"HTTP/1.1", "HTTP/1.0"}) {
      for (const char* kind : {"sse", "plain", "worker"}) {
        SCOPED_TRACE(std::string(method) + " " + version + " " + kind);
        held_n->store(0);
        k_n->store(0);
        tt::Client c(srv.port());
        const bool v10 = std::string(version) == "HTTP/1.0";
        ASSERT_TRUE(c.send(std::string("GET /hold ") + version + "\r\nHost: t\r\n" +
                           (v10 ? "Connection: keep-alive\r\n" : "") + "\r\n" + method +
                           " /k/" + kind + " " + version + "\r\nHost: t\r\n" +
                           (v10 ? "Connection: keep-alive\r\n" : "") + "\r\n"));
        ASSERT_TRUE(tt::eventually([&] { return held_n->load() == 1; }, 3000));
        ASSERT_TRUE(tt::eventually([&] { return k_n->load() == 1; }, 3000));
        tt::Client r(srv.port());
        EXPECT_EQ(tt::roundtrip(r, tt::get_request("/release")).status, 200);
        auto a = c.read_response(5000);
        ASSERT_TRUE(a);
        EXPECT_EQ(a->body, "released");
        const bool head = std::string(method) == "HEAD";
        auto b = c.read_response(5000, head);
        ASSERT_TRUE(b);
        EXPECT_EQ(b->status, 200);
        EXPECT_EQ(b->header("x-kind"), kind);
        if (head) {
          EXPECT_TRUE(b->body.empty());
          if (!v10) tt::expect_plaintext_ok(c);
        } else {
          EXPECT_FALSE(b->body.empty());
        }
      }
    }
  }
  EXPECT_TRUE(tt::eventually([&] { return srv.stats().streams_open == 0; }, 3000));
}

// ---------------------------------------------------------------- topics and the end hook

TEST(HostileStreamMemory, OneStreamTwoTopicsAndSubscribeAfterEnd) {
  std::optional<tether::Topic> a, b;
  std::atomic<int> second{-1}, after_end{-1};
  tt::TestServer srv(opts(), [&](tether::Server& s) {
      tetherd::add_demo_routes(s);
    a = s.topic("a");
    b = s.topic("b");
    s.get("/sub", [&](Request&, Response res) {
      EventStream es = res.event_stream();
      EXPECT_TRUE(a->subscribe(es));
      second = b->subscribe(es) ? 1 : 0;
      EXPECT_FALSE(a->subscribe(es));
    });
    s.get("/ended", [&](Request&, Response res) {
      EventStream es = res.event_stream();
      es.end();
      after_end = a->subscribe(es) ? 1 : 0;
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::get_request("/sub")));
  ASSERT_TRUE(tt::eventually([&] { return srv.stats().topic_subscribers == 1; }, 3000));
  EXPECT_EQ(second.load(), 0);
  EXPECT_TRUE(b->publish("from-b"));
  EXPECT_TRUE(a->publish("from-a"));
  ASSERT_TRUE(read_until(c, "data: from-a\n\n", 3000));
  EXPECT_EQ(c.buffered().find("from-b"), std::string::npos);
  tt::Client d(srv.port());
  auto r = tt::roundtrip(d, tt::get_request("/ended"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(after_end.load(), 0);
  c.close(/*reset=*/true);
  EXPECT_TRUE(tt::eventually([&] { return srv.stats().topic_subscribers == 0; }, 3000));
  EXPECT_TRUE(a->publish("nobody"));
  tt::expect_plaintext_ok(d);
}

// A fast reader on a topic, topic_subscriber_max_bytes between the old 64 KiB batch and the
// new 256 KiB one (write_high_water at its default). A burst of events that reaches the loop
// in one callback (published from a handler on that loop: all land in one inbox drain) is
// written to a reader whose socket has plenty of room. Nothing was unsent for lack of room:
// only the loop's own output batching held the bytes back, and the subscriber is dropped.
TEST(HostileStreamMemory, FastTopicReaderSurvivesABurstUnderTheSubscriberLimit) {
  tether::ServerOptions o = opts(1, 2);
  o.topic_subscriber_max_bytes = 128 * 1024;
  std::optional<tether::Topic> t;
  constexpr int kEvents = 3000;
  tt::TestServer srv(o, [&](tether::Server& s) {
      tetherd::add_demo_routes(s);
    t = s.topic("burst");
    s.get("/sub", [&](Request&, Response res) {
      EventStream es = res.event_stream();
      t->subscribe(es);
    });
    s.get("/burst", [&](Request&, Response res) {
      const std::string data(100, 'd');
      int ok = 0;
      for (int i = 0; i < kEvents; ++i) ok += t->publish(data, {}, std::to_string(i));
      res.send(200, std::to_string(ok));
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(tt::get_request("/sub")));
  ASSERT_TRUE(tt::eventually([&] { return srv.stats().topic_subscribers == 1; }, 3000));
  tt::Client p(srv.port());
  EXPECT_EQ(tt::roundtrip(p, tt::get_request("/burst")).body, std::to_string(kEvents));
  const bool all = read_until(c, "id: " + std::to_string(kEvents - 1) + "\n", 10000);
  EXPECT_TRUE(all) << "received " << count_of(c.buffered(), "data: ") << " of " << kEvents
                   << " events; dropped " << srv.stats().topic_subscribers_dropped;
  EXPECT_EQ(srv.stats().topic_subscribers_dropped, 0u);
}

// Publish storms from threads while subscribers leave (FIN and RST), on two loops.
TEST(HostileStreamMemory, PublishStormWhileSubscribersLeave) {
  tether::ServerOptions o = opts(2, 2);
  o.sse_heartbeat_ms = 1;
  std::optional<tether::Topic> t, u;
  tt::TestServer srv(o, [&](tether::Server& s) {
      tetherd::add_demo_routes(s);
    t = s.topic("storm");
    u = s.topic("other");
    s.get("/sub/{n}", [&](Request& req, Response res) {
      EventStream es = res.event_stream();
      (req.param("n") == "0" ? t : u)->subscribe(es);
      if (req.param("n") == "2") es.after(1ms, [es]() mutable { es.end(); });
    });
  });
  std::atomic<bool> stop{false};
  std::vector<std::thread> pubs;
  for (int i = 0; i < 2; ++i) {
    pubs.emplace_back([&, i] {
      const auto end = std::chrono::steady_clock::now() + 3s;
      for (int n = 0; n < 200000 && !stop && std::chrono::steady_clock::now() < end; ++n) {
        (i ? u : t)->publish(std::string(static_cast<size_t>(n % 300), 'x'));
      }
    });
  }
  const auto until = std::chrono::steady_clock::now() + 2s;
  int rounds = 0;
  for (; rounds < 400 && std::chrono::steady_clock::now() < until; ++rounds) {
    std::vector<std::unique_ptr<tt::Client>> cs;
    for (int k = 0; k < 6; ++k) {
      cs.push_back(std::make_unique<tt::Client>(srv.port()));
      cs.back()->send(tt::get_request("/sub/" + std::to_string(k % 3)));
    }
    for (size_t k = 0; k < cs.size(); ++k) {
      if (k % 2) cs[k]->read_some(5);
      cs[k]->close(/*reset=*/k % 3 != 0);
    }
  }
  stop = true;
  for (auto& th : pubs) th.join();
  EXPECT_GT(rounds, 5);
  EXPECT_TRUE(tt::eventually(
      [&] {
        auto s = srv.stats();
        return s.topic_subscribers == 0 && s.streams_open == 0;
      },
      5000))
      << srv.stats().topic_subscribers << " subscribers, " << srv.stats().streams_open
      << " streams";
  tt::Client c(srv.port());
  tt::expect_plaintext_ok(c);
}

// Worker-produced event streams with 1 ms heartbeats, clients leaving at once, and stops.
TEST(HostileStreamMemory, ProducedEventStreamsWithHeartbeatsAndLeavingClients) {
  tether::ServerOptions o = opts(1, 2);
  o.sse_heartbeat_ms = 1;
  o.response_timeout_ms = 100;
  tt::TestServer srv(o, [](tether::Server& s) {
      tetherd::add_demo_routes(s);
    s.get("/pe", [](Request&, Response res) {
      res.offload_events([](std::stop_token st, EventWriter& w) {
        for (int i = 0; i < 200 && !st.stop_requested(); ++i) {
          if (!w.send("e" + std::to_string(i))) return;
          if (i % 50 == 0) std::this_thread::sleep_for(2ms);  // a producer's pace
        }
      });
    });
  });
  for (int round = 0; round < 40; ++round) {
    tt::Client c(srv.port());
    ASSERT_TRUE(c.send(tt::get_request("/pe")));
    if (round % 3 == 0) {
      EXPECT_TRUE(read_until(c, "0\r\n\r\n", 5000));
      EXPECT_NE(c.buffered().find("data: e199\n\n"), std::string::npos);
    } else {
      c.read_some(round % 2 ? 1 : 20);
      c.close(round % 2 == 0);
    }
  }
  EXPECT_TRUE(tt::eventually([&] { return srv.stats().streams_open == 0; }, 5000));
  EXPECT_EQ(srv.stats().responses_timed_out, 0u);
}

// ---------------------------------------------------------------- access log on and off

TEST(HostileStreamMemory, AccessLogReadsTheRequestOfEveryStreamKind) {
  struct Rec {
    std::string target, xid, query;
    int status = 0;
    bool stream = false, complete = false;
  };
  auto mu = std::make_shared<std::mutex>();
  auto recs = std::make_shared<std::vector<Rec>>();
  tether::ServerOptions o = opts(1, 2);
  o.sse_heartbeat_ms = 1;
  o.on_response = [mu, recs](const tether::ResponseRecord& r) {
    Rec x;
    x.target = std::string(r.target);
    if (r.request) {
      x.xid = std::string(r.request->header("X-Id").value_or("missing"));
      x.query = std::string(r.request->query("q").value_or("none"));
      for (size_t i = 0; i < r.request->header_count(); ++i) (void)r.request->header_at(i);
    }
    x.status = r.status;
    x.stream = r.stream;
    x.complete = r.complete;
    std::lock_guard<std::mutex> l(*mu);
    recs->push_back(std::move(x));
  };
  tt::TestServer srv(o, [](tether::Server& s) {
      tetherd::add_demo_routes(s);
    s.get("/in", [](Request&, Response res) {
      Stream st = res.stream(200);
      st.write("x");
      st.end();
    });
    s.get("/later", [](Request&, Response res) {
      res.offload([](std::stop_token) { return 0; }, [](Response later, int) {
        EventStream es = later.event_stream();
        es.after(5ms, [es]() mutable { es.end(); });
      });
    });
    s.get("/prod", [](Request&, Response res) {
      res.offload_stream([](std::stop_token, StreamWriter& w) { w.write("p"); });
    });
    s.get("/cut", [](Request&, Response res) {
      Stream st = res.stream(200);
      st.write("y");
    });  // dropped without end(): cut
  });
  tt::Client c(srv.port());
  const char* paths[] = {"/in?q=a%20b", "/later?q=c", "/prod?q=d"};
  int i = 0;
  for (const char* p : paths) {
    auto r = tt::roundtrip(c, req_with(p, "X-Id: id" + std::to_string(i++) + "\r\n" +
                                              "Pad: " + std::string(2000, 'p') + "\r\n"));
    EXPECT_EQ(r.status, 200) << p;
  }
  tt::Client d(srv.port());
  ASSERT_TRUE(d.send(req_with("/cut?q=e", "X-Id: id3\r\n")));
  EXPECT_TRUE(closed_eventually(d));
  ASSERT_TRUE(tt::eventually(
      [&] {
        std::lock_guard<std::mutex> l(*mu);
        return recs->size() >= 4;
      },
      5000));
  std::lock_guard<std::mutex> l(*mu);
  ASSERT_EQ(recs->size(), 4u);
  for (int k = 0; k < 4; ++k) {
    const Rec& r = (*recs)[static_cast<size_t>(k)];
    EXPECT_EQ(r.xid, "id" + std::to_string(k)) << r.target;
    EXPECT_TRUE(r.stream) << r.target;
    EXPECT_EQ(r.complete, k != 3) << r.target;
  }
  EXPECT_EQ((*recs)[0].query, "a b");
}

// ---------------------------------------------------------------- output batches

struct Pump {
  static constexpr size_t kTotal = size_t{3} << 20;
  static const std::string& body() {
    static const std::string b = tt::pattern(kTotal);
    return b;
  }
  Stream st;
  size_t pos = 0;
  std::atomic<int>* fulls = nullptr;
  static void run(const std::shared_ptr<Pump>& p) {
    for (int guard = 0; guard < 100000 && p->pos < kTotal; ++guard) {
      const size_t n = std::min<size_t>(100 * 1024 + 7, kTotal - p->pos);
      const StreamWrite w = p->st.write(std::string_view(body()).substr(p->pos, n));
      p->pos += n;
      if (w == StreamWrite::Closed) return;
      if (w == StreamWrite::Full) {
        ++*p->fulls;
        p->st.on_writable([p] { run(p); });
        return;
      }
    }
    if (p->pos >= kTotal) p->st.end();  // clears on_writable: no cycle is left
  }
};

// A producer on the loop writing well past 256 KiB in one callback, with a small and a large
// high-water mark: byte-exact bodies, and backpressure reached.
TEST(HostileStreamMemory, BigWritesInOneCallbackAtSeveralHighWaterMarks) {
  for (size_t hw : {size_t{1024}, size_t{64 * 1024}, size_t{4} << 20}) {
    SCOPED_TRACE("write_high_water " + std::to_string(hw));
    tether::ServerOptions o = opts();
    o.write_high_water = hw;
    std::atomic<int> fulls{0};
    tt::TestServer srv(o, [&fulls](tether::Server& s) {
      tetherd::add_demo_routes(s);
      s.get("/big", [&fulls](Request&, Response res) {
        auto p = std::make_shared<Pump>();
        p->st = res.stream(200);
        p->fulls = &fulls;
        Pump::run(p);
      });
    });
    tt::Client c(srv.port());
    auto r = tt::roundtrip(c, tt::get_request("/big"), 20000);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body.size(), size_t{3} << 20);
    EXPECT_TRUE(r.body == tt::pattern(size_t{3} << 20));
    tt::expect_plaintext_ok(c);
  }
}

// ---------------------------------------------------------------- stop and churn

// Stop the server with every kind of stream open (plain, event, subscribed, produced, held
// behind a pipelined answer), clients reading or not; then destroy it.
TEST(HostileStreamMemory, StopMidStreamWithEveryKindOpen) {
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE("variant " + std::to_string(variant));
    tether::ServerOptions o = opts(2, 2);
    o.sse_heartbeat_ms = variant == 0 ? 1 : 0;
    o.drain_timeout_ms = 300;
    if (variant == 2) o.on_response = [](const tether::ResponseRecord&) {};
    auto server = std::make_unique<tt::TestServer>(o, [](tether::Server& s) {
      tetherd::add_demo_routes(s);
      auto t = std::make_shared<tether::Topic>(s.topic("t"));
      s.get("/plain", [](Request&, Response res) {
        Stream st = res.stream(200);
        st.write("x");
        st.on_close([st]() mutable { st.write("never"); });
      });
      s.get("/sse", [t](Request&, Response res) {
        EventStream es = res.event_stream();
        t->subscribe(es);
        es.send("hi");
      });
      s.get("/prod", [](Request&, Response res) {
        res.offload_events([](std::stop_token st, EventWriter& w) {
          for (int i = 0; i < 100000 && !st.stop_requested(); ++i) {
            if (!w.send(std::string(1000, 'w'))) return;
          }
        });
      });
      s.get("/pub", [t](Request&, Response res) {
        for (int i = 0; i < 100; ++i) t->publish("p");
        res.send(200);
      });
    });
    std::vector<std::unique_ptr<tt::Client>> cs;
    for (int i = 0; i < 12; ++i) {
      cs.push_back(std::make_unique<tt::Client>(server->port()));
      const char* p[] = {"/plain", "/sse", "/prod", "/pub"};
      cs.back()->send(tt::get_request(p[i % 4]) + tt::get_request("/sse"));
    }
    for (auto& c : cs) c->read_some(20);
    ASSERT_TRUE(tt::eventually([&] { return server->stats().streams_open >= 6; }, 3000));
    auto t0 = tt::now_ms();
    server->server().stop();
    if (variant == 1) cs[1]->close(true);
    EXPECT_EQ(server->server().wait(), 0);
    EXPECT_LT(tt::now_ms() - t0, 5000);
    server.reset();
  }
}

// Many streams opening and closing on few connections (bounded): event streams that end at
// once, ones that heartbeat, subscribe and end, ones whose client resets, interleaved with
// held answers on the deadline list. Hunts list corruption (a node on two lists, a freed
// node still linked) under the sanitizers.
TEST(HostileStreamMemory, TenThousandStreamsOpenAndClose) {
  tether::ServerOptions o = opts(2, 2);
  o.sse_heartbeat_ms = 1;
  o.response_timeout_ms = 1000;  // /late streams from a continuation: well within it
  std::optional<tether::Topic> t;
  tt::TestServer srv(o, [&](tether::Server& s) {
      tetherd::add_demo_routes(s);
    t = s.topic("churn");
    s.get("/e", [](Request&, Response res) {
      EventStream es = res.event_stream();
      es.send("e");
      es.end();
    });
    s.get("/s", [&](Request&, Response res) {
      EventStream es = res.event_stream();
      t->subscribe(es);
      es.after(1ms, [es]() mutable { es.end(); });
    });
    s.get("/late", [](Request&, Response res) {
      res.offload([](std::stop_token) { return 0; }, [](Response later, int) {
        Stream st = later.stream(200);
        st.trailer("X", "y");
        st.end();
      });
    });
    s.get("/hold", [](Request&, Response res) {
      Response kept = res;
      res.on_close([kept] {});  // 504 by the deadline
    });
  });
  std::atomic<bool> stop{false};
  std::thread pub([&] {
    for (int i = 0; i < 100000 && !stop; ++i) {
      t->publish("c");
      if (i % 64 == 0) std::this_thread::sleep_for(1ms);
    }
  });
  constexpr int kTotal = 10000;
  constexpr int kConns = 4;
  const char* kinds[] = {"/e", "/s", "/late", "/e", "/s"};
  int done = 0, resets = 0;
  const int64_t deadline = tt::now_ms() + 90000;
  std::vector<std::unique_ptr<tt::Client>> cs;
  for (int i = 0; i < kConns; ++i) cs.push_back(std::make_unique<tt::Client>(srv.port()));
  for (int n = 0; done < kTotal && tt::now_ms() < deadline && n < 2 * kTotal; ++n) {
    const int k = n % kConns;
    tt::Client& c = *cs[static_cast<size_t>(k)];
    std::string batch;
    constexpr int kBatch = 25;
    for (int j = 0; j < kBatch; ++j) batch += tt::get_request(kinds[(n + j) % 5]);
    if (!c.send(batch)) {
      cs[static_cast<size_t>(k)] = std::make_unique<tt::Client>(srv.port());
      continue;
    }
    if (n % 37 == 36) {
      // Reset with the batch in flight, streams half done.
      c.read_some(1);
      c.close(true);
      ++resets;
      done += kBatch;
      cs[static_cast<size_t>(k)] = std::make_unique<tt::Client>(srv.port());
      continue;
    }
    int got = 0;
    for (; got < kBatch; ++got) {
      auto r = c.read_response(5000);
      if (!r) break;
      EXPECT_EQ(r->status, 200);
    }
    ASSERT_EQ(got, kBatch) << "after " << done << " streams";
    done += kBatch;
  }
  stop = true;
  pub.join();
  EXPECT_GE(done, kTotal);
  EXPECT_TRUE(tt::eventually(
      [&] {
        auto s = srv.stats();
        return s.streams_open == 0 && s.topic_subscribers == 0;
      },
      5000));
  // Held answers beside it all still get their 504 on time.
  tt::Client h(srv.port());
  auto r = tt::roundtrip(h, tt::get_request("/hold"), 5000);
  EXPECT_EQ(r.status, 504);
  EXPECT_GT(resets, 0);
}

}  // namespace
