// Backpressure: a client that does not read its responses stops the server from reading its
// requests; nothing is lost once it reads again.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <string>

#include "support/http_client.hpp"
#include "support/test_server.hpp"

namespace {

TEST(Backpressure, SlowReaderBoundsServerWorkAndLosesNothing) {
  tt::TestServer srv;
  tt::Client c(srv.port());
  constexpr int kRequests = 2000;
  constexpr size_t kBody = 20000;
  std::string batch;
  for (int i = 0; i < kRequests; ++i)
    batch += "GET /big?n=" + std::to_string(kBody) + " HTTP/1.1\r\nHost: t\r\n\r\n";
  ASSERT_TRUE(c.send(batch));
  ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.requests >= 10; }));
  // While the client reads nothing, the server can only have produced what fits in the
  // socket buffers plus its high-water mark: sample that invariant over a short window.
  const int64_t end = tt::now_ms() + 300;
  uint64_t max_seen = 0;
  while (tt::now_ms() < end) {
    max_seen = std::max(max_seen, srv.stats().requests);
    ::poll(nullptr, 0, 10);
  }
  EXPECT_LT(max_seen, static_cast<uint64_t>(kRequests) / 2)
      << "the server kept reading a client that does not read";
  for (int i = 0; i < kRequests; ++i) {
    auto r = c.read_response(10000);
    ASSERT_TRUE(r) << "response " << i;
    ASSERT_EQ(r->body.size(), kBody) << i;
  }
  EXPECT_EQ(srv.stats().requests, static_cast<uint64_t>(kRequests));
}

TEST(Backpressure, LargeResponseToSlowReaderArrivesWhole) {
  tt::TestServer srv;
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(
      "GET /big?n=8000000 HTTP/1.1\r\nHost: t\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.read_response(20000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.size(), 8000000u);
  auto g = c.read_response();
  ASSERT_TRUE(g);
  EXPECT_EQ(g->body, "Hello, World!");
}

}  // namespace
