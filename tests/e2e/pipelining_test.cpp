// Pipelining: responses leave in request order, even when an early request answers late.
#include <gtest/gtest.h>

#include <string>

#include "support/deferred_routes.hpp"
#include "support/expectations.hpp"
#include "support/http_client.hpp"
#include "support/test_server.hpp"

namespace {

void routes(tether::Server& s) {
  tt::add_test_routes(s);
  tt::add_deferred_routes(s);
}

TEST(Pipelining, SixteenRequestsInOneWriteAnswerInOrder) {
  tt::TestServer srv;
  tt::Client c(srv.port());
  std::string batch;
  for (int i = 0; i < 16; ++i) batch += tt::get_request("/hello/" + std::to_string(i));
  ASSERT_TRUE(c.send(batch));
  for (int i = 0; i < 16; ++i) {
    auto r = c.read_response();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->body, "hi " + std::to_string(i));
  }
}

TEST(Pipelining, MixedBodiesAndMethods) {
  tt::TestServer srv;
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\none" + tt::get_request("/plaintext") +
      "PUT / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n" +
      "HEAD /plaintext HTTP/1.1\r\nHost: t\r\n\r\n" + tt::get_request("/nowhere")));
  auto a = c.read_response();
  auto b = c.read_response();
  auto d = c.read_response();
  auto h = c.read_response(5000, true);
  auto n = c.read_response();
  ASSERT_TRUE(a && b && d && h && n);
  EXPECT_EQ(a->body, "one");
  EXPECT_EQ(b->body, "Hello, World!");
  EXPECT_EQ(d->body, "two");
  EXPECT_EQ(h->header("content-length"), "13");
  EXPECT_EQ(n->status, 404);
}

TEST(Pipelining, SlowFirstRequestHoldsBackLaterResponses) {
  tt::TestServer srv({}, routes);
  tt::Client a(srv.port());
  ASSERT_TRUE(a.send(tt::get_request("/defer?tag=first") + tt::get_request("/plaintext") +
                     tt::get_request("/hello/third")));
  // The two fast requests are answered at once, but must wait behind the deferred one.
  ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.requests == 3; }));
  EXPECT_EQ(a.read_some(100), 0u) << a.buffered();
  tt::Client b(srv.port());
  ASSERT_TRUE(b.send(tt::get_request("/release")));
  auto rel = b.read_response();
  ASSERT_TRUE(rel);
  EXPECT_EQ(rel->body, "released 1");
  auto r1 = a.read_response();
  auto r2 = a.read_response();
  auto r3 = a.read_response();
  ASSERT_TRUE(r1 && r2 && r3);
  EXPECT_EQ(r1->body, "deferred 0");
  EXPECT_EQ(r1->header("x-tag"), "first");
  EXPECT_EQ(r2->body, "Hello, World!");
  EXPECT_EQ(r3->body, "hi third");
}

TEST(Pipelining, InFlightCapStopsReadingUntilAnswered) {
  tether::ServerOptions o;
  o.max_pipelined = 4;
  tt::TestServer srv(o, routes);
  tt::Client a(srv.port());
  std::string batch = tt::get_request("/defer");
  for (int i = 0; i < 10; ++i) batch += tt::get_request("/hello/" + std::to_string(i));
  ASSERT_TRUE(a.send(batch));
  ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.requests >= 4; }));
  EXPECT_EQ(srv.stats().requests, 4u);  // the cap: /defer plus three answered-but-held ones
  tt::Client b(srv.port());
  ASSERT_TRUE(b.send(tt::get_request("/release")));
  ASSERT_TRUE(b.read_response());
  auto d = a.read_response();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->body, "deferred 0");
  for (int i = 0; i < 10; ++i) {
    auto r = a.read_response();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->body, "hi " + std::to_string(i));
  }
  EXPECT_EQ(srv.stats().requests, 12u);
}

TEST(Pipelining, DeferredResponseToGoneClientIsDroppedAndCounted) {
  tt::TestServer srv({}, routes);
  {
    tt::Client a(srv.port());
    ASSERT_TRUE(a.send(tt::get_request("/defer")));
    ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.requests == 1; }));
  }  // the client leaves before its answer
  ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.connections_active == 0; }));
  tt::Client b(srv.port());
  ASSERT_TRUE(b.send(tt::get_request("/release")));
  auto r = b.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "released 1");
  EXPECT_EQ(srv.stats().responses_dropped, 1u);
}

}  // namespace
