// End-to-end error handling over real loopback sockets: limits are answered with a short
// text/plain error and `Connection: close`, then the server closes; handler failures are
// answered with 500 and keep the connection usable. Malformed requests (RFC 9112 framing,
// request line, fields, Host, versions) are the rows of conformance_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "support/expectations.hpp"
#include "support/http_client.hpp"
#include "support/test_server.hpp"

namespace {

constexpr int kWaitMs = 3000;

const std::string& kPlaintext = tt::kPlaintextRequest;

tether::ServerOptions small_limits() {
  tether::ServerOptions o;
  o.max_head_bytes = 1024;
  o.max_headers = 8;
  o.max_target_bytes = 256;
  o.max_body_bytes = 1000;
  return o;
}

// Reads one response on `c` and checks that it is the server's own error answer: `status`,
// a non-empty text/plain body (containing `text` when given), `Connection: close`; then that
// the server closes the connection without sending anything more.
void expect_error_then_close(tt::Client& c, int status, std::string_view text = {}) {
  std::optional<tt::HttpResponse> r = c.read_response(kWaitMs);
  ASSERT_TRUE(r.has_value()) << "no complete response; buffered: " << c.buffered();
  EXPECT_EQ(r->status, status) << r->body;
  EXPECT_FALSE(r->body.empty());
  EXPECT_NE(r->body.find_first_not_of(" \r\n\t"), std::string::npos) << "body is only whitespace";
  if (!text.empty()) {
    EXPECT_NE(r->body.find(text), std::string::npos) << "body: " << r->body;
  }
  EXPECT_EQ(r->header("content-type").value_or(""), "text/plain");
  EXPECT_EQ(r->header("connection").value_or(""), "close");
  EXPECT_TRUE(c.wait_closed(kWaitMs)) << "connection not closed; extra bytes: " << c.buffered();
}

// Sends `bytes` on a fresh connection and expects the error answer and close.
void send_expect_error(uint16_t port, const std::string& bytes, int status,
                       std::string_view text = {}) {
  tt::Client c(port);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send(bytes));
  expect_error_then_close(c, status, text);
}

void expect_server_alive(uint16_t port) {
  tt::Client c(port);
  ASSERT_TRUE(c.connected());
  tt::expect_plaintext_ok(c);
}

// ---------------------------------------------------------------- limits

TEST(Errors, HeadLargerThanMaxHeadBytesIs431) {
  tt::TestServer s(small_limits());
  // Many small headers (under max_headers) whose total passes max_head_bytes, sent complete.
  std::string req =
      "GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(1100, 'v') + "\r\n\r\n";
  send_expect_error(s.port(), req, 431, "too large");
}

TEST(Errors, IncompleteHeadLargerThanMaxHeadBytesIs431) {
  tt::TestServer s(small_limits());
  // The head never ends: the server must not buffer past max_head_bytes waiting for it.
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n"));
  ASSERT_TRUE(c.send("X-Pad-1: " + std::string(600, 'p') + "\r\n"));
  ASSERT_TRUE(c.send("X-Pad-2: " + std::string(600, 'p')));  // 1200+ bytes, no end in sight
  expect_error_then_close(c, 431, "too large");
}

TEST(Errors, HeadLimitDoesNotDependOnHowTheBytesArrive) {
  // The same head, right at the limit (max_head_bytes + the final CRLFCRLF), must get the
  // same answer whether it arrives in one read or in two.
  tt::TestServer s(small_limits());
  const std::string start = "GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Pad: ";
  const std::string req = start + std::string(1028 - start.size() - 4, 'p') + "\r\n\r\n";
  ASSERT_EQ(req.size(), 1028u);

  tt::Client whole(s.port());
  ASSERT_TRUE(whole.send(req));
  auto r1 = whole.read_response(kWaitMs);
  ASSERT_TRUE(r1.has_value());

  tt::Client split(s.port());
  ASSERT_TRUE(split.send(req.substr(0, req.size() - 1)));
  split.read_some(50);  // let the server read the first part on its own (or answer it)
  split.send(req.substr(req.size() - 1));
  auto r2 = split.read_response(kWaitMs);
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r1->status, r2->status) << "one read: " << r1->status << ", two reads: " << r2->status;
}

TEST(Errors, TooManyHeadersIs431) {
  tt::TestServer s(small_limits());
  std::string req = "GET /plaintext HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < 12; ++i) req += "X-H" + std::to_string(i) + ": v\r\n";
  req += "\r\n";
  send_expect_error(s.port(), req, 431, "header");
}

TEST(Errors, TargetLongerThanMaxTargetBytesIs414) {
  tt::TestServer s(small_limits());
  std::string req = "GET /" + std::string(300, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n";
  send_expect_error(s.port(), req, 414, "target");
}

TEST(Errors, ContentLengthOverMaxBodyIs413BeforeTheBody) {
  tt::TestServer s(small_limits());
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  // Only the head: the 413 must come without waiting for (or reading) the body.
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n"));
  expect_error_then_close(c, 413, "too large");
}

TEST(Errors, ContentLengthOverMaxBodyWithExpectContinueIs413Not100) {
  tt::TestServer s(small_limits());
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(
      c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n"));
  expect_error_then_close(c, 413, "too large");
}

TEST(Errors, ChunkedBodyOverMaxBodyIs413) {
  tt::TestServer s(small_limits());
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  std::string chunk = "258\r\n" + std::string(600, 'c') + "\r\n";  // 0x258 = 600
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk));
  ASSERT_TRUE(c.send(chunk));  // 1200 > 1000; the terminating chunk never comes
  expect_error_then_close(c, 413, "too large");
}

TEST(Errors, ChunkedBodyAtMaxBodyIsAccepted) {
  // Control for the test above: exactly max_body_bytes is fine.
  tt::TestServer s(small_limits());
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  std::string body(1000, 'b');
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n" +
                     body + "\r\n0\r\n\r\n"));
  auto r = c.read_response(kWaitMs);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, body);
}

// ---------------------------------------------------------------- expectations

TEST(Errors, ExpectContinueGets100ThenTheResponse) {
  tt::TestServer s;
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(
      c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  auto interim = c.read_response(kWaitMs);
  ASSERT_TRUE(interim.has_value()) << "no 100 Continue; buffered: " << c.buffered();
  EXPECT_EQ(interim->status, 100);
  EXPECT_EQ(interim->reason, "Continue");
  ASSERT_TRUE(c.send("hello"));
  auto r = c.read_response(kWaitMs);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  EXPECT_FALSE(r->header("connection").has_value());
  tt::expect_plaintext_ok(c);  // still keep-alive, and no stray interim response
}

TEST(Errors, UnknownExpectationIs417) {
  tt::TestServer s;
  send_expect_error(s.port(),
                    "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: foo\r\n\r\nhello",
                    417, "expect");
}

// ---------------------------------------------------------------- handler failures

TEST(Errors, HandlerThrowIs500AndConnectionStaysUsable) {
  tt::TestServer s;
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send("GET /throw HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.read_response(kWaitMs);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 500);
  EXPECT_FALSE(r->body.empty());
  EXPECT_FALSE(r->header("connection").has_value());
  tt::expect_plaintext_ok(c);
  EXPECT_TRUE(s.wait_for([](const tether::ServerStats& st) { return st.handler_exceptions == 1; }));
  EXPECT_EQ(s.stats().handler_exceptions, 1u);
  EXPECT_EQ(s.stats().bad_requests, 0u);
}

TEST(Errors, HandlerDropIs500AndConnectionStaysUsable) {
  tt::TestServer s;
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send("GET /drop HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.read_response(kWaitMs);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 500);
  EXPECT_FALSE(r->body.empty());
  EXPECT_FALSE(r->header("connection").has_value());
  tt::expect_plaintext_ok(c);
  EXPECT_TRUE(
      s.wait_for([](const tether::ServerStats& st) { return st.responses_abandoned == 1; }));
  EXPECT_EQ(s.stats().responses_abandoned, 1u);
  EXPECT_EQ(s.stats().handler_exceptions, 0u);
}

TEST(Errors, InvalidStatusFromHandlerIs500) {
  tt::TestServer s;
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send("GET /bad-status HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.read_response(kWaitMs);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 500);
  EXPECT_FALSE(r->body.empty());
  EXPECT_EQ(r->body.find('x'), std::string::npos) << "the handler's body leaked: " << r->body;
  tt::expect_plaintext_ok(c);
}

TEST(Errors, UnknownRouteIs404AndKeepsAlive) {
  tt::TestServer s;
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send("GET /no/such/route HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.read_response(kWaitMs);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 404);
  EXPECT_FALSE(r->body.empty());
  EXPECT_FALSE(r->header("connection").has_value());
  tt::expect_plaintext_ok(c);
}

TEST(Errors, WrongMethodIs405WithAllow) {
  tt::TestServer s;
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send("DELETE /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.read_response(kWaitMs);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 405);
  EXPECT_FALSE(r->body.empty());
  ASSERT_EQ(r->header_count("allow"), 1u);
  std::string allow = r->header("allow").value_or("");
  EXPECT_NE(allow.find("GET"), std::string::npos) << allow;
  EXPECT_NE(allow.find("HEAD"), std::string::npos) << allow;
  EXPECT_EQ(allow.find("DELETE"), std::string::npos) << allow;
  EXPECT_FALSE(r->header("connection").has_value());
  tt::expect_plaintext_ok(c);
}

// ---------------------------------------------------------------- pipelining and errors

TEST(Errors, GoodRequestBeforeBadOneIsAnsweredFirst) {
  tt::TestServer s;
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send(kPlaintext + "GET /plaintext HTTP/1.1\r\nBad Name: x\r\n\r\n"));
  auto first = c.read_response(kWaitMs);
  ASSERT_TRUE(first.has_value()) << "buffered: " << c.buffered();
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->body, "Hello, World!");
  expect_error_then_close(c, 400);
}

TEST(Errors, NothingAfterABadRequestIsProcessed) {
  tt::TestServer s;
  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send("GET /plaintext HTTP/1.1\r\nBad Name: x\r\n\r\n" + kPlaintext + kPlaintext));
  expect_error_then_close(c, 400);  // wait_closed fails if any further response arrives
  EXPECT_TRUE(s.wait_for([](const tether::ServerStats& st) { return st.connections_active == 0; }));
  tether::ServerStats st = s.stats();
  EXPECT_EQ(st.responses_by_class[2], 0u);
  EXPECT_EQ(st.responses_by_class[4], 1u);
}

// ---------------------------------------------------------------- garbage

std::string random_bytes(uint32_t seed, size_t n) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string s(n, '\0');
  for (char& ch : s) ch = static_cast<char>(byte(rng));
  return s;
}

std::vector<std::pair<std::string, std::string>> garbage_inputs() {
  using namespace std::string_literals;
  std::vector<std::pair<std::string, std::string>> v;
  v.emplace_back("lone CRLFCRLF", "\r\n\r\n");
  v.emplace_back("NULs", std::string(16, '\0'));
  v.emplace_back("NUL before method", "\0GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"s);
  v.emplace_back("NUL in header name", "GET / HTTP/1.1\r\nHo\0st: t\r\n\r\n"s);
  v.emplace_back("NUL in header value", "GET / HTTP/1.1\r\nHost: t\0u\r\n\r\n"s);
  v.emplace_back("NUL in target", "GET /a\0b HTTP/1.1\r\nHost: t\r\n\r\n"s);
  v.emplace_back("control chars", "\x01\x02\x03\x04\x1b[2J\x7f\r\n\r\n");
  v.emplace_back("control char in target", "GET /\x01 HTTP/1.1\r\nHost: t\r\n\r\n");
  v.emplace_back("high bytes", "\xff\xfe\xfd\xfc GET / HTTP/1.1\r\n\r\n");
  v.emplace_back("random 16", random_bytes(1, 16));
  v.emplace_back("random 100", random_bytes(2, 100));
  v.emplace_back("random 1000", random_bytes(3, 1000));
  v.emplace_back("random 8000", random_bytes(4, 8000));
  v.emplace_back("random 65536", random_bytes(5, 65536));
  v.emplace_back("huge method", std::string(20000, 'A') + " / HTTP/1.1\r\nHost: t\r\n\r\n");
  v.emplace_back("huge method after GET",
                 "GET" + std::string(5000, 'X') + " / HTTP/1.1\r\nHost: t\r\n\r\n");
  v.emplace_back("huge target", "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n");
  v.emplace_back("huge header value",
                 "GET / HTTP/1.1\r\nHost: t\r\nX: " + std::string(40000, 'v') + "\r\n\r\n");
  std::string many = "GET / HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < 300; ++i) many += "X: y\r\n";
  v.emplace_back("300 headers", many + "\r\n");
  v.emplace_back("only spaces", std::string(64, ' '));
  v.emplace_back("tabs then request", "\t\t GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  v.emplace_back("header without colon", "GET / HTTP/1.1\r\nHost t\r\n\r\n");
  v.emplace_back("empty header name", "GET / HTTP/1.1\r\n: v\r\nHost: t\r\n\r\n");
  v.emplace_back("obs-fold", "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n  folded\r\n\r\n");
  v.emplace_back("space before colon", "GET / HTTP/1.1\r\nHost : t\r\n\r\n");
  v.emplace_back("negative content-length",
                 "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n");
  v.emplace_back("overflowing content-length",
                 "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n");
  v.emplace_back(
      "negative chunk size",
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nx\r\n0\r\n\r\n");
  v.emplace_back(
      "overflowing chunk size",
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n");
  v.emplace_back("chunked not last",
                 "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n");
  v.emplace_back("response as request", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  v.emplace_back("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  v.emplace_back("version garbage", "GET / HTTP/9.9\r\nHost: t\r\n\r\n");
  v.emplace_back("truncated head", "GET / HTTP/1.1\r\nHost: t\r\n");
  v.emplace_back("truncated chunked body",
                 "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
  v.emplace_back("bare CR line ends", "GET / HTTP/1.1\rHost: t\r\r");
  v.emplace_back("space in version", "GET / HTTP/ 1.1\r\nHost: t\r\n\r\n");
  return v;
}

TEST(Errors, GarbageGetsAnErrorOrACleanCloseNeverAHang) {
  tether::ServerOptions o;
  // Short timeouts so that inputs that merely stop (truncated head/body, blank lines) end too.
  o.header_timeout_ms = 400;
  o.body_timeout_ms = 400;
  o.idle_timeout_ms = 400;
  o.linger_timeout_ms = 500;
  tt::TestServer s(o);
  auto inputs = garbage_inputs();
  ASSERT_GE(inputs.size(), 30u);

  // All connections at once, so the whole table costs one timeout, not thirty.
  std::vector<std::unique_ptr<tt::Client>> clients;
  for (const auto& in : inputs) {
    clients.push_back(std::make_unique<tt::Client>(s.port()));
    ASSERT_TRUE(clients.back()->connected()) << in.first;
    clients.back()->send(in.second);  // the server may close before taking all of it
  }
  int64_t deadline = tt::now_ms() + 4000;
  for (size_t i = 0; i < inputs.size(); ++i) {
    SCOPED_TRACE(inputs[i].first);
    tt::Client& c = *clients[i];
    int left = static_cast<int>(std::max<int64_t>(deadline - tt::now_ms(), 1));
    std::optional<tt::HttpResponse> r = c.read_response(left);
    if (r) {
      EXPECT_GE(r->status, 400);
      EXPECT_LT(r->status, 600);
      EXPECT_FALSE(r->body.empty());
      EXPECT_EQ(r->header("connection").value_or(""), "close");
      left = static_cast<int>(std::max<int64_t>(deadline - tt::now_ms(), 1));
      EXPECT_TRUE(c.wait_closed(left)) << "not closed after the error";
    } else {
      // No response: it must be a clean close (EOF, no partial response), not a hang.
      left = static_cast<int>(std::max<int64_t>(deadline - tt::now_ms(), 1));
      EXPECT_TRUE(c.wait_closed(left)) << "neither a response nor a close";
      EXPECT_TRUE(c.buffered().empty()) << "partial response: " << c.buffered();
    }
  }
  clients.clear();
  expect_server_alive(s.port());
  EXPECT_TRUE(s.wait_for([](const tether::ServerStats& st) { return st.connections_active == 0; }));
}

// ---------------------------------------------------------------- connection cap

TEST(Errors, ConnectionsPastMaxConnectionsGet503) {
  tether::ServerOptions o;
  o.max_connections = 2;
  tt::TestServer s(o);
  tt::Client a(s.port());
  tt::Client b(s.port());
  ASSERT_TRUE(a.connected());
  ASSERT_TRUE(b.connected());
  tt::expect_plaintext_ok(a);  // both accepted and counted before the third arrives
  tt::expect_plaintext_ok(b);

  tt::Client c(s.port());
  ASSERT_TRUE(c.connected());
  expect_error_then_close(c, 503);
  EXPECT_TRUE(
      s.wait_for([](const tether::ServerStats& st) { return st.connections_rejected == 1; }));
  EXPECT_EQ(s.stats().connections_rejected, 1u);

  tt::expect_plaintext_ok(a);
  tt::expect_plaintext_ok(b);
  EXPECT_EQ(s.stats().connections_rejected, 1u);
}

}  // namespace
