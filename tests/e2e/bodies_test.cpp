// Request bodies: Content-Length and chunked, small and large, split across reads.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "support/bodies.hpp"
#include "support/http_client.hpp"
#include "support/test_server.hpp"

namespace {

TEST(Bodies, ContentLengthEcho) {
  tt::TestServer srv;
  tt::Client c(srv.port());
  std::string body = tt::random_bytes(1000, 1);
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + body));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, body);
}

TEST(Bodies, ChunkedWithExtensionsAndTrailers) {
  tt::TestServer srv;
  tt::Client c(srv.port());
  ASSERT_TRUE(
      c.send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "4;name=value\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: "
             "1\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "Wikipedia in\r\n\r\nchunks.");
  ASSERT_TRUE(c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto g = c.read_response();
  ASSERT_TRUE(g);
  EXPECT_EQ(g->body, "Hello, World!");
}

TEST(Bodies, LargeBodySpanningManyReads) {
  tt::TestServer srv;
  tt::Client c(srv.port());
  std::string body = tt::random_bytes(900 * 1024, 2);
  ASSERT_TRUE(c.send("PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\n\r\n" + body));
  auto r = c.read_response(10000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.size(), body.size());
  EXPECT_TRUE(r->body == body);
}

TEST(Bodies, LargeChunkedBodyInSmallPieces) {
  tt::TestServer srv;
  tt::Client c(srv.port());
  std::string body = tt::random_bytes(300 * 1024, 3);
  std::string wire = tt::chunked(body, 777);
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
  for (size_t i = 0; i < wire.size(); i += 4096) ASSERT_TRUE(c.send(wire.substr(i, 4096)));
  auto r = c.read_response(10000);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->body == body);
}

TEST(Bodies, HeadAndBodyInSeparateWritesThenPipelinedRequest) {
  tt::TestServer srv;
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nX-Long: " + std::string(3000, 'h') +
                     "\r\nContent-Length: 10\r\n\r\n01234"));
  ASSERT_EQ(c.read_some(50), 0u);  // nothing is answered before the body is complete
  ASSERT_TRUE(c.send("56789GET /hello/after HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.read_response();
  auto g = c.read_response();
  ASSERT_TRUE(r && g);
  EXPECT_EQ(r->body, "0123456789");
  EXPECT_EQ(g->body, "hi after");
}

TEST(Bodies, BodyAtExactlyTheLimitIsAccepted) {
  tether::ServerOptions o;
  o.max_body_bytes = 4096;
  tt::TestServer srv(o);
  tt::Client c(srv.port());
  std::string body(4096, 'b');
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                     tt::chunked(body, 1000)));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.size(), 4096u);
}

}  // namespace
