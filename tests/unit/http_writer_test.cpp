// http_writer: the exact bytes of a serialized response, and reason phrases.
#include <gtest/gtest.h>

#include <string>

#include "http/http_writer.hpp"

namespace {

using tether::detail::append_response;
using tether::detail::ConnectionHeader;
using tether::detail::reason_phrase;
using tether::detail::ResponseParts;

constexpr std::string_view kDate = "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";
constexpr std::string_view kServer = "Server: tether\r\n";

ResponseParts parts(int status, std::string_view body = {}, std::string_view type = {}) {
  ResponseParts p;
  p.status = status;
  p.body = body;
  p.content_type = type;
  p.date_line = kDate;
  p.server_line = kServer;
  return p;
}

std::string write(const ResponseParts& p) {
  std::string out;
  append_response(out, p);
  return out;
}

bool has_line(const std::string& out, std::string_view line) {
  return out.find(std::string(line) + "\r\n") != std::string::npos;
}

TEST(HttpWriter, Status200WithBodyExactBytes) {
  EXPECT_EQ(write(parts(200, "Hello, World!", "text/plain")),
            "HTTP/1.1 200 OK\r\n"
            "Server: tether\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 13\r\n"
            "\r\n"
            "Hello, World!");
}

TEST(HttpWriter, AppendsToExistingOutput) {
  std::string out = "previous";
  append_response(out, parts(200, "x", "text/plain"));
  EXPECT_EQ(out.substr(0, 8 + 17), "previousHTTP/1.1 200 OK\r\n");
  EXPECT_EQ(out.back(), 'x');
}

TEST(HttpWriter, EmptyBodyHasZeroLengthAndNoContentType) {
  EXPECT_EQ(write(parts(200, "", "text/plain")),
            "HTTP/1.1 200 OK\r\n"
            "Server: tether\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Length: 0\r\n"
            "\r\n");
}

TEST(HttpWriter, BodyWithoutContentTypeOmitsTheHeader) {
  std::string out = write(parts(200, "abc", ""));
  EXPECT_EQ(out.find("Content-Type"), std::string::npos);
  EXPECT_TRUE(has_line(out, "Content-Length: 3"));
  EXPECT_EQ(out.substr(out.size() - 7), "\r\n\r\nabc");
}

TEST(HttpWriter, HeadOnlyKeepsContentLengthButOmitsBody) {
  ResponseParts p = parts(200, "Hello, World!", "text/plain");
  p.head_only = true;
  EXPECT_EQ(write(p),
            "HTTP/1.1 200 OK\r\n"
            "Server: tether\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 13\r\n"
            "\r\n");
}

TEST(HttpWriter, Status204HasNoContentLengthAndNoBody) {
  EXPECT_EQ(write(parts(204, "ignored", "text/plain")),
            "HTTP/1.1 204 No Content\r\n"
            "Server: tether\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "\r\n");
}

TEST(HttpWriter, Status304HasNoContentLengthAndNoBody) {
  EXPECT_EQ(write(parts(304, "ignored", "text/plain")),
            "HTTP/1.1 304 Not Modified\r\n"
            "Server: tether\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "\r\n");
}

TEST(HttpWriter, Status100HasNoContentLengthAndNoBody) {
  ResponseParts p;
  p.status = 100;
  EXPECT_EQ(write(p), "HTTP/1.1 100 Continue\r\n\r\n");
}

TEST(HttpWriter, ConnectionCloseLine) {
  ResponseParts p = parts(200, "x", "text/plain");
  p.connection = ConnectionHeader::Close;
  std::string out = write(p);
  EXPECT_TRUE(has_line(out, "Connection: close"));
  EXPECT_EQ(out.find("keep-alive"), std::string::npos);
}

TEST(HttpWriter, ConnectionKeepAliveLine) {
  ResponseParts p = parts(200, "x", "text/plain");
  p.connection = ConnectionHeader::KeepAlive;
  std::string out = write(p);
  EXPECT_TRUE(has_line(out, "Connection: keep-alive"));
  EXPECT_EQ(out.find("close"), std::string::npos);
}

TEST(HttpWriter, NoConnectionLineByDefault) {
  EXPECT_EQ(write(parts(200, "x", "text/plain")).find("Connection"), std::string::npos);
}

TEST(HttpWriter, ConnectionCloseOnBodylessStatus) {
  ResponseParts p = parts(204);
  p.connection = ConnectionHeader::Close;
  EXPECT_EQ(write(p),
            "HTTP/1.1 204 No Content\r\n"
            "Server: tether\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Connection: close\r\n"
            "\r\n");
}

TEST(HttpWriter, ExtraHeadersAreIncludedBeforeBlankLine) {
  ResponseParts p = parts(201, "ok", "text/plain");
  p.extra_headers = "X-One: 1\r\nLocation: /items/7\r\n";
  p.connection = ConnectionHeader::Close;
  EXPECT_EQ(write(p),
            "HTTP/1.1 201 Created\r\n"
            "Server: tether\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 2\r\n"
            "Connection: close\r\n"
            "X-One: 1\r\n"
            "Location: /items/7\r\n"
            "\r\n"
            "ok");
}

TEST(HttpWriter, EmptyDateAndServerLinesAreOmitted) {
  ResponseParts p;
  p.status = 404;
  p.body = "nope";
  p.content_type = "text/plain";
  EXPECT_EQ(write(p),
            "HTTP/1.1 404 Not Found\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 4\r\n"
            "\r\n"
            "nope");
}

TEST(HttpWriter, StatusAbove599IsWrittenAs500) {
  std::string out = write(parts(600, "x", "text/plain"));
  EXPECT_EQ(out.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u) << out;
}

TEST(HttpWriter, StatusBelow100IsWrittenAs500) {
  EXPECT_EQ(write(parts(99)).rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u);
  EXPECT_EQ(write(parts(0)).rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u);
  EXPECT_EQ(write(parts(-200)).rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u);
}

TEST(HttpWriter, InvalidStatusStillFramesTheBody) {
  std::string out = write(parts(1000, "abc", "text/plain"));
  EXPECT_TRUE(has_line(out, "Content-Length: 3"));
  EXPECT_EQ(out.substr(out.size() - 3), "abc");
}

TEST(HttpWriter, UnknownCodeGetsReasonUnknown) {
  EXPECT_EQ(write(parts(299)).rfind("HTTP/1.1 299 Unknown\r\n", 0), 0u);
}

TEST(HttpWriter, LargeContentLengthDigits) {
  std::string body(123456, 'z');
  std::string out = write(parts(200, body, "application/octet-stream"));
  EXPECT_TRUE(has_line(out, "Content-Length: 123456"));
  EXPECT_EQ(out.size(), out.find("\r\n\r\n") + 4 + body.size());
}

TEST(HttpWriterReasonPhrase, KnownCodes) {
  EXPECT_EQ(reason_phrase(100), "Continue");
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(405), "Method Not Allowed");
  EXPECT_EQ(reason_phrase(413), "Content Too Large");
  EXPECT_EQ(reason_phrase(417), "Expectation Failed");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
}

TEST(HttpWriterReasonPhrase, UnknownCodes) {
  EXPECT_EQ(reason_phrase(299), "Unknown");
  EXPECT_EQ(reason_phrase(599), "Unknown");
  EXPECT_EQ(reason_phrase(0), "Unknown");
  EXPECT_EQ(reason_phrase(1000), "Unknown");
}

}  // namespace
