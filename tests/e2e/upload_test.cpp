// Request bodies routed at their head and streamed to their handler, over real sockets: the
// upload route's checksum at every split point, early 404/405/413 without reading the body,
// 100 Continue only after routing, per-route limits, a reader that pauses reading (on the loop
// and on the worker pool), clients that leave or stall, handlers that answer early, throw or
// never read.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "support/bodies.hpp"
#include "support/http_client.hpp"
#include "support/test_server.hpp"
#include "tetherd/crc32.hpp"
#include "tetherd/demo_routes.hpp"
#include "tetherd/upload_route.hpp"

namespace {

using tether::Request;
using tether::Response;

std::string upload_head(size_t length) {
  return "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(length) +
         "\r\n\r\n";
}

constexpr const char* kChunkedUpload =
    "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";

tether::ServerOptions opts() {
  return tt::loopback_options(1, 2);
}

void demo(tether::Server& s) {
  tetherd::add_demo_routes(s);
}

// Sends without blocking until the socket takes no more (or `bytes` is all sent); returns the
// bytes sent.
size_t send_until_full(int fd, const std::string& bytes, size_t from) {
  size_t sent = from;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  return sent;
}

// ---------------------------------------------------------------- the checksum, known values

TEST(UploadCrc, MatchesZlibOnKnownVectors) {
  EXPECT_EQ(tetherd::crc32_update(0, ""), 0u);
  EXPECT_EQ(tetherd::crc32_update(0, "123456789"), 0xcbf43926u);
  EXPECT_EQ(tetherd::crc32_update(0, "The quick brown fox jumps over the lazy dog"), 0x414fa339u);
  // Piecewise equals whole, at every split (the eight-byte step and the byte loop agree).
  std::string s = tt::random_bytes(100, 3);
  const uint32_t whole = tetherd::crc32_update(0, s);
  for (size_t i = 0; i <= s.size(); ++i) {
    std::string_view v(s);
    EXPECT_EQ(tetherd::crc32_update(tetherd::crc32_update(0, v.substr(0, i)), v.substr(i)), whole);
  }
}

// ---------------------------------------------------------------- the upload route

TEST(Upload, ContentLengthBodySplitAtEveryPoint) {
  tt::TestServer srv(opts(), demo);
  const std::string body = tt::random_bytes(300, 1);
  const std::string req = upload_head(body.size()) + body;
  for (size_t split = 1; split < req.size(); ++split) {
    tt::Client c(srv.port());
    ASSERT_TRUE(c.send(req.substr(0, split)));
    ASSERT_TRUE(c.send(req.substr(split)));
    auto r = c.read_response();
    ASSERT_TRUE(r) << split;
    EXPECT_EQ(r->status, 200) << split;
    EXPECT_EQ(r->body, tt::upload_answer(body)) << split;
  }
}

TEST(Upload, ChunkedBodySplitAtEveryPoint) {
  tt::TestServer srv(opts(), demo);
  const std::string body = tt::random_bytes(200, 2);
  const std::string req = kChunkedUpload + tt::chunked(body, 37);
  for (size_t split = 1; split < req.size(); ++split) {
    tt::Client c(srv.port());
    ASSERT_TRUE(c.send(req.substr(0, split)));
    ASSERT_TRUE(c.send(req.substr(split)));
    auto r = c.read_response();
    ASSERT_TRUE(r) << split;
    EXPECT_EQ(r->body, tt::upload_answer(body)) << split;
  }
}

TEST(Upload, LargeBodiesAreChecksummedWithoutBeingKept) {
  tether::ServerOptions o = opts();
  o.max_body_bytes = 1024;  // the default limit: the upload route has its own
  tt::TestServer srv(o, demo);
  const std::string body = tt::random_bytes(size_t{24} << 20, 4);
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(upload_head(body.size()) + body));
  auto r = c.read_response(20000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, tt::upload_answer(body));
  ASSERT_TRUE(c.send(kChunkedUpload + tt::chunked(body, 100000)));
  r = c.read_response(20000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, tt::upload_answer(body));
  // The same connection goes on.
  EXPECT_EQ(tt::roundtrip(c, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
}

TEST(Upload, PipelinedRequestsAroundAnUploadAreAnsweredInOrder) {
  tt::TestServer srv(opts(), demo);
  const std::string body = tt::random_bytes(5000, 5);
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n" + upload_head(body.size()) +
                     body + kChunkedUpload + tt::chunked(body, 999) +
                     "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto a = c.read_response();
  auto b = c.read_response();
  auto d = c.read_response();
  auto e = c.read_response();
  ASSERT_TRUE(a && b && d && e);
  EXPECT_EQ(a->body, "Hello, World!");
  EXPECT_EQ(b->body, tt::upload_answer(body));
  EXPECT_EQ(d->body, tt::upload_answer(body));
  EXPECT_EQ(e->status, 200);
  EXPECT_NE(e->body.find("message"), std::string::npos);
}

// ---------------------------------------------------------------- answers before the body

TEST(Upload, DeclaredLengthOverTheRouteLimitIs413BeforeTheBody) {
  tt::TestServer srv(opts(), [](tether::Server& s) { tetherd::add_upload_route(s, 1000); });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(upload_head(1001)));  // and no body at all
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_TRUE(c.wait_closed());
  // At the limit it is taken.
  tt::Client ok(srv.port());
  const std::string body(1000, 'x');
  auto r2 = tt::roundtrip(ok, upload_head(body.size()) + body);
  EXPECT_EQ(r2.body, tt::upload_answer(body));
}

TEST(Upload, ChunkedBodyOverTheRouteLimitIs413) {
  std::atomic<int> closed{0};
  tt::TestServer srv(opts(), [&](tether::Server& s) {
    tether::RouteOptions ro;
    ro.max_body_bytes = 1000;
    ro.stream_body = true;
    s.post("/up", ro, [&](Request&, Response res) {
      res.on_close([&] { ++closed; });
      res.read_body([](std::string_view) { return true; }, [res]() mutable { res.send(200); });
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send("POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                     tt::chunked(std::string(1500, 'y'), 100)));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(closed.load(), 1);  // the handler learns its exchange ended without its answer
}

TEST(Upload, NoRouteWithExpectContinueIsAnsweredWithoutReadingTheBody) {
  tt::TestServer srv(opts(), demo);
  struct Case {
    std::string request;
    int status;
  };
  const Case cases[] = {
      {"POST /nowhere HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n",
       404},
      {"POST /nowhere HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n", 404},
      {"POST /nowhere HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", 404},
      {"POST /plaintext HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
       405},
  };
  for (const Case& k : cases) {
    tt::Client c(srv.port());
    ASSERT_TRUE(c.send(k.request));
    auto r = c.read_response();
    ASSERT_TRUE(r) << k.request;
    EXPECT_EQ(r->status, k.status) << k.request;  // not 100: the body is not wanted
    EXPECT_EQ(r->header("Connection"), "close");
    if (k.status == 405) {
      EXPECT_EQ(r->header("Allow"), "GET, HEAD");
    }
    EXPECT_TRUE(c.wait_closed());
  }
}

TEST(Upload, SmallBodyToNoRouteIsReadAndTheConnectionKept) {
  tt::TestServer srv(opts(), demo);
  tt::Client c(srv.port());
  auto r = tt::roundtrip(c, "POST /nowhere HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(r.status, 404);
  EXPECT_FALSE(r.header("Connection").has_value());
  r = tt::roundtrip(c, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(r.status, 200);
}

TEST(Upload, ContinueGoesOutOnlyOnceTheRouteTakesTheBody) {
  tt::TestServer srv(opts(), demo);
  tt::Client c(srv.port());
  const std::string body = tt::random_bytes(100000, 6);
  ASSERT_TRUE(
      c.send("POST /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n"));
  auto cont = c.read_response();
  ASSERT_TRUE(cont);
  EXPECT_EQ(cont->status, 100);
  ASSERT_TRUE(c.send(body));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, tt::upload_answer(body));
}

TEST(Upload, BufferedRouteWithItsOwnLimit) {
  tether::ServerOptions o = opts();
  o.max_body_bytes = 100;
  tt::TestServer srv(o, [](tether::Server& s) {
    tether::RouteOptions big;
    big.max_body_bytes = 1 << 20;
    s.post("/big", big, [](Request& req, Response res) { res.send(200, req.body()); });
    s.post("/small", [](Request& req, Response res) { res.send(200, req.body()); });
  });
  const std::string body = tt::random_bytes(500000, 7);
  tt::Client c(srv.port());
  auto r = tt::roundtrip(c, "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, body);
  r = tt::roundtrip(c, "POST /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                           tt::chunked(body, 4096));
  EXPECT_EQ(r.body, body);
  r = tt::roundtrip(c, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n");
  EXPECT_EQ(r.status, 413);
}

// ---------------------------------------------------------------- flow control

// A route whose reader stops after every piece until GET /resume (on the same loop) resumes it.
struct Paused {
  std::vector<Response> waiting;  // loop thread only
  std::atomic<size_t> delivered{0};
  std::atomic<int> pieces{0};
  std::atomic<bool> ended{false};
};

void paused_routes(tether::Server& s, Paused& p) {
  tether::RouteOptions ro;
  ro.max_body_bytes = uint64_t{1} << 30;
  ro.stream_body = true;
  s.post("/slow", ro, [&p](Request&, Response res) {
    auto crc = std::make_shared<uint32_t>(0);
    Response keep = res;
    res.read_body(
        [&p, crc, keep](std::string_view piece) mutable {
          *crc = tetherd::crc32_update(*crc, piece);
          p.delivered += piece.size();
          ++p.pieces;
          p.waiting.push_back(keep);
          return false;  // wait for /resume
        },
        [&p, crc, res]() mutable {
          p.ended = true;
          char out[16];
          std::snprintf(out, sizeof out, "%08x", *crc);
          res.send(200, out);
        });
  });
  s.get("/resume", [&p](Request&, Response res) {
    int n = 0;
    for (Response& w : p.waiting) n += w.resume_body() ? 1 : 0;
    p.waiting.clear();
    res.send(200, std::to_string(n));
  });
}

TEST(Upload, AReaderThatPausesHoldsTheClientBack) {
  Paused p;
  tt::TestServer srv(opts(), [&](tether::Server& s) { paused_routes(s, p); });
  const std::string body = tt::random_bytes(size_t{32} << 20, 8);
  const std::string req =
      "POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  tt::Client up(srv.port());
  tt::Client ctl(srv.port());
  size_t sent = send_until_full(up.fd(), req, 0);
  ASSERT_TRUE(srv.wait_for([&](const tether::ServerStats&) { return p.pieces.load() == 1; }));
  // Paused after its first piece: the server reads no more, so the client's sends stop once
  // the socket buffers are full, far short of the body.
  sent = send_until_full(up.fd(), req, sent);
  EXPECT_LT(sent, req.size() / 2);
  EXPECT_LE(p.delivered.load(), size_t{256} << 10);  // one read, not the body
  // Each resume lets one more piece in; the client finishes once enough have gone.
  int rounds = 0;
  while (!p.ended && rounds < 100000) {
    ++rounds;
    sent = send_until_full(up.fd(), req, sent);
    auto r = tt::roundtrip(ctl, "GET /resume HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_EQ(r.status, 200);
  }
  ASSERT_TRUE(p.ended.load());
  EXPECT_EQ(sent, req.size());
  auto r = up.read_response(10000);
  ASSERT_TRUE(r);
  char want[16];
  std::snprintf(want, sizeof want, "%08x", tetherd::crc32_update(0, body));
  EXPECT_EQ(r->body, want);
  EXPECT_EQ(p.delivered.load(), body.size());
}

TEST(Upload, PiecesProcessedOnTheWorkerPoolOneAtATime) {
  std::atomic<int> in_flight{0}, most{0};
  tt::TestServer srv(opts(), [&](tether::Server& s) {
    tether::RouteOptions ro;
    ro.max_body_bytes = uint64_t{1} << 30;
    ro.stream_body = true;
    s.post("/work", ro, [&](Request&, Response res) {
      auto crc = std::make_shared<uint32_t>(0);
      Response keep = res;
      res.read_body(
          [&, crc, keep](std::string_view piece) mutable {
            // The piece is copied: the view dies with this call. Reading waits meanwhile.
            keep.offload(
                [&, crc, data = std::string(piece)](std::stop_token) {
                  int now = ++in_flight;
                  int m = most.load();
                  while (now > m && !most.compare_exchange_weak(m, now)) {
                  }
                  *crc = tetherd::crc32_update(*crc, data);  // one piece at a time: no race
                  --in_flight;
                },
                [](Response r) { r.resume_body(); });
            return false;
          },
          [crc, res]() mutable {
            char out[16];
            std::snprintf(out, sizeof out, "%08x", *crc);
            res.send(200, out);
          });
    });
  });
  const std::string body = tt::random_bytes(size_t{8} << 20, 9);
  tt::Client c(srv.port());
  auto r = tt::roundtrip(c,
                         "POST /work HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                             tt::chunked(body, 65536 + 7),
                         20000);
  ASSERT_EQ(r.status, 200);
  char want[16];
  std::snprintf(want, sizeof want, "%08x", tetherd::crc32_update(0, body));
  EXPECT_EQ(r.body, want);
  EXPECT_EQ(most.load(), 1);
}

// ---------------------------------------------------------------- failures and misuse

TEST(Upload, ClientLeavingMidBodyEndsTheExchange) {
  std::atomic<int> closed{0}, ended{0};
  tt::TestServer srv(opts(), [&](tether::Server& s) {
    tether::RouteOptions ro;
    ro.stream_body = true;
    s.post("/up", ro, [&](Request&, Response res) {
      res.on_close([&] { ++closed; });
      res.read_body([](std::string_view) { return true; },
                    [&, res]() mutable {
                      ++ended;
                      res.send(200);
                    });
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" +
                     std::string(5000, 'z')));
  ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.requests == 1; }));
  c.close(true);
  ASSERT_TRUE(srv.wait_for([&](const tether::ServerStats&) { return closed.load() == 1; }));
  EXPECT_EQ(ended.load(), 0);
  ASSERT_TRUE(
      srv.wait_for([](const tether::ServerStats& s) { return s.exchanges_in_flight == 0; }));
}

TEST(Upload, StalledBodyGets408) {
  tether::ServerOptions o = opts();
  o.body_timeout_ms = 200;
  std::atomic<int> closed{0};
  tt::TestServer srv(o, [&](tether::Server& s) {
    tether::RouteOptions ro;
    ro.stream_body = true;
    s.post("/up", ro, [&](Request&, Response res) {
      res.on_close([&] { ++closed; });
      res.read_body([](std::string_view) { return true; }, [res]() mutable { res.send(200); });
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc"));
  auto r = c.read_response(5000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(closed.load(), 1);
}

TEST(Upload, AReaderThatNeverComesGets504) {
  tether::ServerOptions o = opts();
  o.response_timeout_ms = 200;
  std::vector<Response> kept;  // loop thread only
  tt::TestServer srv(o, [&](tether::Server& s) {
    tether::RouteOptions ro;
    ro.stream_body = true;
    s.post("/up", ro, [&](Request&, Response res) { kept.push_back(res); });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" +
                     std::string(100, 'q')));
  auto r = c.read_response(5000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504);
}

TEST(Upload, DroppedWithoutReadingIsAnswered500AtOnce) {
  tt::TestServer srv(opts(), [&](tether::Server& s) {
    tether::RouteOptions ro;
    ro.stream_body = true;
    s.post("/up", ro, [](Request&, Response) {});
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"));
  auto r = c.read_response(5000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_EQ(srv.stats().responses_abandoned, 1u);
}

TEST(Upload, AnAnswerBeforeTheBodyEndsClosesTheConnectionAfterIt) {
  tt::TestServer srv(opts(), [&](tether::Server& s) {
    tether::RouteOptions ro;
    ro.stream_body = true;
    ro.max_body_bytes = uint64_t{1} << 30;
    s.post("/up", ro, [](Request&, Response res) {
      Response keep = res;
      res.read_body(
          [keep](std::string_view) mutable {
            keep.send(403, "no thanks\n");  // from inside the reader: its callbacks go
            return true;
          },
          [] { ADD_FAILURE() << "on_end after an answer"; });
    });
    s.post("/now", ro, [](Request&, Response res) { res.send(403, "no\n"); });
  });
  for (const char* path : {"/up", "/now"}) {
    tt::Client c(srv.port());
    ASSERT_TRUE(c.send(std::string("POST ") + path +
                       " HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n" +
                       std::string(70000, 'w')));
    auto r = c.read_response();
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 403) << path;
    EXPECT_EQ(r->header("Connection"), "close") << path;
    EXPECT_TRUE(c.wait_closed()) << path;
  }
}

TEST(Upload, ThrowingReaderIsAnswered500) {
  tt::TestServer srv(opts(), [&](tether::Server& s) {
    tether::RouteOptions ro;
    ro.stream_body = true;
    s.post("/data", ro, [](Request&, Response res) {
      res.read_body([](std::string_view) -> bool { throw std::runtime_error("reader"); }, [] {});
    });
    s.post("/end", ro, [](Request&, Response res) {
      res.read_body([](std::string_view) { return true; }, [] { throw std::runtime_error("end"); });
    });
  });
  for (const char* path : {"/data", "/end"}) {
    tt::Client c(srv.port());
    auto r = tt::roundtrip(
        c, std::string("POST ") + path + " HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    EXPECT_EQ(r.status, 500) << path;
  }
  EXPECT_EQ(srv.stats().handler_exceptions, 2u);
}

TEST(Upload, ReadBodyRefusals) {
  std::atomic<int> refused{0};
  tt::TestServer srv(opts(), [&](tether::Server& s) {
    s.post("/buffered", [&](Request&, Response res) {
      refused += res.read_body([](std::string_view) { return true; }, [] {}) ? 0 : 1;
      refused += res.resume_body() ? 0 : 1;
      res.send(200);
    });
    tether::RouteOptions ro;
    ro.stream_body = true;
    s.post("/twice", ro, [&](Request&, Response res) {
      refused += res.read_body(nullptr, [] {}) ? 0 : 1;  // no reader
      Response keep = res;
      EXPECT_TRUE(res.read_body([](std::string_view) { return true; },
                                [keep]() mutable { keep.send(200); }));
      refused += res.read_body([](std::string_view) { return true; }, [] {}) ? 0 : 1;
      refused += res.resume_body() ? 0 : 1;  // not paused
    });
  });
  tt::Client c(srv.port());
  EXPECT_EQ(
      tt::roundtrip(c, "POST /buffered HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx").status,
      200);
  EXPECT_EQ(
      tt::roundtrip(c, "POST /twice HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx").status,
      200);
  EXPECT_EQ(refused.load(), 5);
}

TEST(Upload, ServerStopLetsAnUploadUnderWayFinish) {
  tt::TestServer srv(opts(), demo);
  const std::string body = tt::random_bytes(200000, 10);
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(upload_head(body.size()) + body.substr(0, 1000)));
  ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.requests == 1; }));
  srv.server().stop();
  ASSERT_TRUE(c.send(body.substr(1000)));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, tt::upload_answer(body));
  EXPECT_EQ(r->header("Connection"), "close");
}

}  // namespace
