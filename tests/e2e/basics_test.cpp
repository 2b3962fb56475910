// Basic exchanges over real sockets: framing, headers, keep-alive, HTTP/1.0, HEAD, routing,
// fragmentation.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.hpp"
#include "support/test_server.hpp"

namespace {

const std::string kGet = "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";

// "Sun, 06 Nov 1994 08:49:37 GMT": letters and digits where RFC 9110's IMF-fixdate has them.
bool looks_like_imf_date(const std::string& d) {
  const std::string shape = "Aaa, 00 Aaa 0000 00:00:00 GMT";
  if (d.size() != shape.size()) return false;
  for (size_t i = 0; i < d.size(); ++i) {
    char s = shape[i], c = d[i];
    if (s == '0' && !std::isdigit(static_cast<unsigned char>(c))) return false;
    if (s == 'A' && !std::isupper(static_cast<unsigned char>(c))) return false;
    if (s == 'a' && !std::islower(static_cast<unsigned char>(c))) return false;
    if (s != '0' && s != 'A' && s != 'a' && s != c) return false;
  }
  return true;
}

TEST(Basics, PlaintextHasFramingDateAndServer) {
  tt::TestServer srv;
  tt::Client c(srv.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send(kGet));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "Hello, World!");
  EXPECT_EQ(r->header("content-length"), "13");
  EXPECT_EQ(r->header("content-type"), "text/plain");
  EXPECT_EQ(r->header("server"), "tether");
  ASSERT_TRUE(r->header("date"));
  EXPECT_TRUE(looks_like_imf_date(*r->header("date"))) << *r->header("date");
  EXPECT_FALSE(r->header("connection"));
  EXPECT_TRUE(c.buffered().empty());
}

TEST(Basics, KeepAliveServesManyRequestsOnOneConnection) {
  tt::TestServer srv;
  tt::Client c(srv.port());
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(c.send("GET /hello/n" + std::to_string(i) + " HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->body, "hi n" + std::to_string(i));
  }
  EXPECT_EQ(srv.stats().connections_accepted, 1u);
  EXPECT_EQ(srv.stats().requests, 200u);
}

TEST(Basics, Http10WithoutKeepAliveClosesAfterResponse) {
  tt::TestServer srv;
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send("GET /plaintext HTTP/1.0\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(c.wait_closed());
}

TEST(Basics, Http10WithKeepAliveStaysOpen) {
  tt::TestServer srv;
  tt::Client c(srv.port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send("GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("connection"), "keep-alive");
  }
}

TEST(Basics, ConnectionCloseIsHonoured) {
  tt::TestServer srv;
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(c.wait_closed());
}

TEST(Basics, HeadAnnouncesLengthWithoutBody) {
  tt::TestServer srv;
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send("HEAD /plaintext HTTP/1.1\r\nHost: t\r\n\r\n" + kGet));
  auto h = c.read_response(5000, /*head=*/true);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->header("content-length"), "13");
  auto g = c.read_response();  // the next bytes must be the GET's response, not a stray body
  ASSERT_TRUE(g);
  EXPECT_EQ(g->body, "Hello, World!");
}

TEST(Basics, PathParamsQueryAndAbsoluteForm) {
  tt::TestServer srv;
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send("GET http://example.com/hello/ann?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hi ann");
  ASSERT_TRUE(c.send("GET /big?n=5 HTTP/1.1\r\nHost: t\r\n\r\n"));
  r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "xxxxx");
}

TEST(Basics, EchoUnderAnyMethodAndEmptyBody) {
  tt::TestServer srv;
  tt::Client c(srv.port());
  for (const char* m : {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"}) {
    ASSERT_TRUE(c.send(std::string(m) + " / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"));
    auto r = c.read_response();
    ASSERT_TRUE(r) << m;
    EXPECT_EQ(r->status, 200) << m;
    EXPECT_EQ(r->body, "abc") << m;
  }
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
  EXPECT_EQ(r->header("content-length"), "0");
}

TEST(Basics, OneByteAtATime) {
  tt::TestServer srv;
  tt::Client c(srv.port());
  const std::string req =
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nabcd" +
      kGet;
  for (char ch : req) ASSERT_TRUE(c.send(std::string(1, ch)));
  auto a = c.read_response();
  auto b = c.read_response();
  auto g = c.read_response();
  ASSERT_TRUE(a && b && g);
  EXPECT_EQ(a->body, "hello, world");
  EXPECT_EQ(b->body, "abcd");
  EXPECT_EQ(g->body, "Hello, World!");
}

TEST(Basics, ManyConcurrentClients) {
  tt::TestServer srv({.loops = 2});
  constexpr int kClients = 32, kRequests = 50;
  std::vector<std::thread> threads;
  std::vector<int> ok(kClients, 0);
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      tt::Client c(srv.port());
      for (int i = 0; i < kRequests; ++i) {
        std::string name = std::to_string(t) + "-" + std::to_string(i);
        if (!c.send("GET /hello/" + name + " HTTP/1.1\r\nHost: t\r\n\r\n")) return;
        auto r = c.read_response();
        if (r && r->body == "hi " + name) ++ok[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kClients; ++t) EXPECT_EQ(ok[t], kRequests) << "client " << t;
  EXPECT_EQ(srv.stats().requests, static_cast<uint64_t>(kClients * kRequests));
}

}  // namespace

namespace {

// Partial heads of several connections interleave on one loop, which parses them all with
// its one shared parser: each request must still land in its own connection's exchange.
TEST(Basics, InterleavedPartialHeadsStayApart) {
  tt::TestServer srv;
  constexpr int kClients = 4;
  std::vector<std::unique_ptr<tt::Client>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(std::make_unique<tt::Client>(srv.port()));
  const std::string heads[2] = {"GET /hello/c", " HTTP/1.1\r\nHost: t\r\nX-Pad: "};
  for (int part = 0; part < 2; ++part) {
    for (int i = 0; i < kClients; ++i) {
      std::string bytes = part == 0 ? heads[0] + std::to_string(i) : heads[1] + std::to_string(i);
      ASSERT_TRUE(clients[i]->send(bytes));
      // The loop must have read this piece before the next client's: wait until it has seen
      // the connection's bytes by making a full round trip on a probe connection.
      tt::Client probe(srv.port());
      ASSERT_TRUE(probe.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"));
      ASSERT_TRUE(probe.read_response());
    }
  }
  for (int i = kClients - 1; i >= 0; --i) ASSERT_TRUE(clients[i]->send("\r\n\r\n"));
  for (int i = 0; i < kClients; ++i) {
    auto r = clients[i]->read_response();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200) << i;
    EXPECT_EQ(r->body, "hi c" + std::to_string(i)) << i;
  }
}

}  // namespace
