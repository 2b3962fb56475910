// RequestParser (llhttp glue) driven directly with byte strings: messages, pipelining,
// bodies, partial input (restart / detach) and every error status it produces.
#include <gtest/gtest.h>

#include <llhttp.h>

#include <string>
#include <string_view>

#include "http/http_parser.hpp"
#include "http/request_data.hpp"

namespace {

using tether::Method;
using tether::detail::ParseEvent;
using tether::detail::ParseLimits;
using tether::detail::ParseStep;
using tether::detail::RequestData;
using tether::detail::RequestParser;

class ParserTest : public ::testing::Test {
 protected:
  ParserTest() { parser_.set_target(&data_); }

  ParseStep feed(std::string_view s) { return parser_.execute(s.data(), s.data() + s.size()); }

  // Feeds a whole buffer and expects an error; returns its status (0 when there was none).
  int error_of(std::string_view s) {
    ParseStep st = feed(s);
    EXPECT_EQ(st.event, ParseEvent::Error) << s;
    if (st.event != ParseEvent::Error) return 0;
    EXPECT_STRNE(std::string(parser_.error_text()).c_str(), "");
    return parser_.error_status();
  }

  std::string_view target() const { return data_.view(data_.target); }
  std::string_view hname(size_t i) const { return data_.view(data_.headers.at(i).name); }
  std::string_view hvalue(size_t i) const { return data_.view(data_.headers.at(i).value); }

  ParseLimits limits_;  // declared before parser_: the parser keeps a reference
  RequestParser parser_{limits_};
  RequestData data_;
};

// --- complete messages ----------------------------------------------------------------------

TEST_F(ParserTest, SimpleGet) {
  std::string in = "GET /hello?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
  ParseStep st = feed(in);
  ASSERT_EQ(st.event, ParseEvent::Message);
  EXPECT_EQ(st.next, in.data() + in.size());
  EXPECT_EQ(data_.method, Method::Get);
  EXPECT_EQ(data_.llhttp_method, HTTP_GET);
  EXPECT_EQ(target(), "/hello?x=1");
  EXPECT_EQ(data_.major, 1);
  EXPECT_EQ(data_.minor, 1);
  ASSERT_EQ(data_.headers.size(), 2u);
  EXPECT_EQ(hname(0), "Host");
  EXPECT_EQ(hvalue(0), "example.com");
  EXPECT_EQ(hname(1), "Accept");
  EXPECT_EQ(hvalue(1), "*/*");
  EXPECT_TRUE(data_.keep_alive);
  EXPECT_TRUE(data_.body().empty());
  EXPECT_FALSE(parser_.in_message());
}

TEST_F(ParserTest, ViewsPointIntoTheInputBuffer) {
  std::string in = "GET /p HTTP/1.1\r\nHost: h\r\n\r\n";
  ASSERT_EQ(feed(in).event, ParseEvent::Message);
  EXPECT_EQ(data_.base, in.data());
  EXPECT_EQ(target().data(), in.data() + 4);
}

TEST_F(ParserTest, HeaderValueWhitespaceIsTrimmed) {
  std::string in = "GET / HTTP/1.1\r\nHost:   h  \r\nX-Tab:\tv \t \r\nX-Empty:   \r\n\r\n";
  ASSERT_EQ(feed(in).event, ParseEvent::Message);
  ASSERT_EQ(data_.headers.size(), 3u);
  EXPECT_EQ(hvalue(0), "h");
  EXPECT_EQ(hvalue(1), "v");
  EXPECT_EQ(hvalue(2), "");
}

TEST_F(ParserTest, HeaderValueInnerWhitespaceIsKept) {
  std::string in = "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: a b  c\r\n\r\n";
  ASSERT_EQ(feed(in).event, ParseEvent::Message);
  EXPECT_EQ(hvalue(1), "a b  c");
}

TEST_F(ParserTest, ConnectionCloseClearsKeepAlive) {
  ASSERT_EQ(feed("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").event,
            ParseEvent::Message);
  EXPECT_FALSE(data_.keep_alive);
}

TEST_F(ParserTest, Http10WithoutKeepAliveIsNotKeepAlive) {
  ASSERT_EQ(feed("GET / HTTP/1.0\r\n\r\n").event, ParseEvent::Message);
  EXPECT_EQ(data_.minor, 0);
  EXPECT_FALSE(data_.keep_alive);
}

TEST_F(ParserTest, Http10WithKeepAliveIsKeepAlive) {
  ASSERT_EQ(feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").event, ParseEvent::Message);
  EXPECT_TRUE(data_.keep_alive);
}

TEST_F(ParserTest, CloseWinsOverKeepAliveInHttp10) {
  ASSERT_EQ(feed("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").event,
            ParseEvent::Message);
  EXPECT_FALSE(data_.keep_alive);
  ASSERT_EQ(feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n").event,
            ParseEvent::Message);
  EXPECT_FALSE(data_.keep_alive);
}

TEST_F(ParserTest, CloseOptionFollowedByATabClearsKeepAlive) {
  ASSERT_EQ(feed("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\t\r\n\r\n").event,
            ParseEvent::Message);
  EXPECT_FALSE(data_.keep_alive);
  ASSERT_EQ(feed("GET / HTTP/1.1\r\nHost: h\r\nConnection: te,\tclose\t, x\r\n\r\n").event,
            ParseEvent::Message);
  EXPECT_FALSE(data_.keep_alive);
}

TEST_F(ParserTest, KeepAliveOptionFollowedByATabKeepsHttp10Alive) {
  std::string in = "GET / HTTP/1.0\r\nConnection: keep-alive\t\r\n\r\nGET /2 HTTP/1.0\r\n\r\n";
  ParseStep st = feed(in);
  ASSERT_EQ(st.event, ParseEvent::Message);
  EXPECT_TRUE(data_.keep_alive);
  // The next request in the same read is parsed too, as it would be in a read of its own.
  ASSERT_EQ(parser_.execute(st.next, in.data() + in.size()).event, ParseEvent::Message);
  EXPECT_EQ(target(), "/2");
}

TEST_F(ParserTest, MethodsMapToEnum) {
  ASSERT_EQ(feed("DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n").event, ParseEvent::Message);
  EXPECT_EQ(data_.method, Method::Delete);
  ASSERT_EQ(feed("PROPFIND /x HTTP/1.1\r\nHost: h\r\n\r\n").event, ParseEvent::Message);
  EXPECT_EQ(data_.method, Method::Other);
  EXPECT_EQ(data_.llhttp_method, HTTP_PROPFIND);
}

TEST_F(ParserTest, MessageNextPointsAtPipelinedRequest) {
  std::string first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string in = first + "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  ParseStep st = feed(in);
  ASSERT_EQ(st.event, ParseEvent::Message);
  EXPECT_EQ(st.next, in.data() + first.size());
  EXPECT_EQ(target(), "/a");
}

TEST_F(ParserTest, TwoPipelinedRequestsInTwoSteps) {
  std::string first = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  std::string in = first + "GET /b HTTP/1.1\r\nHost: h2\r\n\r\n";
  const char* end = in.data() + in.size();

  ParseStep st = parser_.execute(in.data(), end);
  ASSERT_EQ(st.event, ParseEvent::Message);
  EXPECT_EQ(data_.method, Method::Post);
  EXPECT_EQ(target(), "/a");
  EXPECT_EQ(data_.body(), "abc");
  ASSERT_EQ(st.next, in.data() + first.size());

  RequestData second;
  parser_.set_target(&second);
  st = parser_.execute(st.next, end);
  ASSERT_EQ(st.event, ParseEvent::Message);
  EXPECT_EQ(st.next, end);
  EXPECT_EQ(second.base, in.data() + first.size());
  EXPECT_EQ(second.method, Method::Get);
  EXPECT_EQ(second.view(second.target), "/b");
  ASSERT_EQ(second.headers.size(), 1u);
  EXPECT_EQ(second.view(second.headers[0].value), "h2");
  // The first request's views are untouched.
  EXPECT_EQ(data_.body(), "abc");
  EXPECT_EQ(target(), "/a");
}

TEST_F(ParserTest, TargetIsResetBetweenMessages) {
  std::string in =
      "GET /a HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\nGET /bb HTTP/1.1\r\nHost: h\r\n\r\n";
  ParseStep st = feed(in);
  ASSERT_EQ(st.event, ParseEvent::Message);
  st = parser_.execute(st.next, in.data() + in.size());
  ASSERT_EQ(st.event, ParseEvent::Message);
  EXPECT_EQ(target(), "/bb");
  EXPECT_EQ(data_.headers.size(), 1u);
}

// --- bodies ---------------------------------------------------------------------------------

TEST_F(ParserTest, ContentLengthBodyIsAViewIntoTheInput) {
  std::string in = "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
  ASSERT_EQ(feed(in).event, ParseEvent::Message);
  EXPECT_EQ(data_.body(), "hello");
  EXPECT_FALSE(data_.body_copied);
  EXPECT_EQ(data_.body().data(), in.data() + in.size() - 5);
}

TEST_F(ParserTest, ContentLengthZeroHasEmptyBody) {
  ASSERT_EQ(feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n").event,
            ParseEvent::Message);
  EXPECT_TRUE(data_.body().empty());
}

TEST_F(ParserTest, ChunkedBodyIsDechunked) {
  std::string in =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  ParseStep st = feed(in);
  ASSERT_EQ(st.event, ParseEvent::Message);
  EXPECT_EQ(st.next, in.data() + in.size());
  EXPECT_EQ(data_.body(), "hello world");
  EXPECT_TRUE(data_.body_copied);
}

TEST_F(ParserTest, ChunkedBodyWithExtensionsAndTrailers) {
  std::string in =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3;name=value\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n";
  ASSERT_EQ(feed(in).event, ParseEvent::Message);
  EXPECT_EQ(data_.body(), "abcde");
  ASSERT_EQ(data_.headers.size(), 2u);  // trailers are not headers
}

TEST_F(ParserTest, ChunkedSingleChunkBody) {
  std::string in =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
      "chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n";
  ASSERT_EQ(feed(in).event, ParseEvent::Message);
  EXPECT_EQ(data_.body(), "0123456789");
}

TEST_F(ParserTest, BodyExactlyAtLimitIsAccepted) {
  limits_.max_body_bytes = 5;
  ASSERT_EQ(feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello").event,
            ParseEvent::Message);
  EXPECT_EQ(data_.body(), "hello");
}

// --- partial input --------------------------------------------------------------------------

TEST_F(ParserTest, PartialHeadNeedsMore) {
  std::string part = "GET /slow HTTP/1.1\r\nHo";
  ParseStep st = feed(part);
  EXPECT_EQ(st.event, ParseEvent::NeedMore);
  EXPECT_EQ(st.next, part.data() + part.size());
  EXPECT_TRUE(parser_.in_message());
  EXPECT_FALSE(parser_.headers_done());
  EXPECT_EQ(parser_.message_base(), part.data());
}

TEST_F(ParserTest, RestartThenReparseAccumulatedBytes) {
  std::string part = "GET /slow HTTP/1.1\r\nHo";
  ASSERT_EQ(feed(part).event, ParseEvent::NeedMore);
  // The caller keeps [message_base(), end), appends the rest, restarts and parses again.
  std::string kept(parser_.message_base(), static_cast<const char*>(part.data() + part.size()));
  std::string whole = kept + "st: h\r\nX-A: 1\r\n\r\n";
  part.assign(part.size(), '#');  // the old buffer is gone
  parser_.restart();
  EXPECT_FALSE(parser_.in_message());
  ParseStep st = feed(whole);
  ASSERT_EQ(st.event, ParseEvent::Message);
  EXPECT_EQ(st.next, whole.data() + whole.size());
  EXPECT_EQ(data_.base, whole.data());
  EXPECT_EQ(target(), "/slow");
  ASSERT_EQ(data_.headers.size(), 2u);
  EXPECT_EQ(hname(0), "Host");
  EXPECT_EQ(hvalue(0), "h");
  EXPECT_EQ(hvalue(1), "1");
}

TEST_F(ParserTest, PartialHeadAfterPipelinedMessageHasBaseAtItsStart) {
  std::string first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string in = first + "GET /b HT";
  ParseStep st = feed(in);
  ASSERT_EQ(st.event, ParseEvent::Message);
  st = parser_.execute(st.next, in.data() + in.size());
  EXPECT_EQ(st.event, ParseEvent::NeedMore);
  EXPECT_TRUE(parser_.in_message());
  EXPECT_EQ(parser_.message_base(), in.data() + first.size());
}

TEST_F(ParserTest, PartialBodyThenDetachThenRestFromAnotherBuffer) {
  std::string buf1 = "POST /up HTTP/1.1\r\nHost: h\r\nX-Id: 42\r\nContent-Length: 10\r\n\r\nhello";
  ParseStep st = feed(buf1);
  ASSERT_EQ(st.event, ParseEvent::NeedMore);
  EXPECT_TRUE(parser_.in_message());
  EXPECT_TRUE(parser_.headers_done());
  parser_.detach();
  buf1.assign(buf1.size(), '#');  // the read buffer is reused for other bytes
  std::string buf2 = "world";
  st = feed(buf2);
  ASSERT_EQ(st.event, ParseEvent::Message);
  EXPECT_EQ(st.next, buf2.data() + buf2.size());
  EXPECT_EQ(data_.body(), "helloworld");
  EXPECT_EQ(data_.base, data_.head_store.data());
  EXPECT_EQ(target(), "/up");
  ASSERT_EQ(data_.headers.size(), 3u);
  EXPECT_EQ(hname(0), "Host");
  EXPECT_EQ(hvalue(0), "h");
  EXPECT_EQ(hname(1), "X-Id");
  EXPECT_EQ(hvalue(1), "42");
  EXPECT_EQ(hvalue(2), "10");
}

TEST_F(ParserTest, HeadOnlyThenDetachThenBodyFromAnotherBuffer) {
  std::string buf1 = "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n";
  ASSERT_EQ(feed(buf1).event, ParseEvent::NeedMore);
  EXPECT_TRUE(parser_.headers_done());
  parser_.detach();
  buf1.assign(buf1.size(), '#');
  ASSERT_EQ(feed("ab").event, ParseEvent::NeedMore);
  ASSERT_EQ(feed("cd").event, ParseEvent::Message);
  EXPECT_EQ(data_.body(), "abcd");
  EXPECT_EQ(target(), "/up");
  EXPECT_EQ(hvalue(0), "h");
}

TEST_F(ParserTest, ChunkedBodyAcrossDetach) {
  std::string buf1 =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\nde";
  ASSERT_EQ(feed(buf1).event, ParseEvent::NeedMore);
  parser_.detach();
  buf1.assign(buf1.size(), '#');
  ASSERT_EQ(feed("fg\r\n0\r\n\r\n").event, ParseEvent::Message);
  EXPECT_EQ(data_.body(), "abcdefg");
  EXPECT_EQ(hvalue(1), "chunked");
}

TEST_F(ParserTest, ParserIsReusableAfterPartialBodyCompletes) {
  ASSERT_EQ(feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\na").event,
            ParseEvent::NeedMore);
  parser_.detach();
  ASSERT_EQ(feed("b").event, ParseEvent::Message);
  std::string next = "GET /again HTTP/1.1\r\nHost: h\r\n\r\n";
  ASSERT_EQ(feed(next).event, ParseEvent::Message);
  EXPECT_EQ(target(), "/again");
  EXPECT_EQ(data_.base, next.data());
  EXPECT_TRUE(data_.body().empty());
}

// --- Host and version -----------------------------------------------------------------------

TEST_F(ParserTest, MissingHostInHttp11Is400) {
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"), 400);
}

TEST_F(ParserTest, MissingHostErrorTextNamesTheProblem) {
  ASSERT_EQ(feed("GET / HTTP/1.1\r\n\r\n").event, ParseEvent::Error);
  EXPECT_NE(parser_.error_text().find("Host"), std::string_view::npos) << parser_.error_text();
}

TEST_F(ParserTest, TwoHostHeadersAre400) {
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), 400);
}

TEST_F(ParserTest, Http10WithoutHostIsAccepted) {
  ParseStep st = feed("GET /old HTTP/1.0\r\n\r\n");
  ASSERT_EQ(st.event, ParseEvent::Message);
  EXPECT_EQ(target(), "/old");
  EXPECT_EQ(data_.major, 1);
  EXPECT_EQ(data_.minor, 0);
}

TEST_F(ParserTest, Http20Is505) {
  EXPECT_EQ(error_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
}

TEST_F(ParserTest, Http12Is505) {
  EXPECT_EQ(error_of("GET / HTTP/1.2\r\nHost: h\r\n\r\n"), 505);
}

// --- limits ---------------------------------------------------------------------------------

TEST_F(ParserTest, ContentLengthOverLimitIs413) {
  limits_.max_body_bytes = 10;
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n"), 413);
}

TEST_F(ParserTest, ChunkedBodyOverLimitIs413) {
  limits_.max_body_bytes = 10;
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n"),
            413);
}

TEST_F(ParserTest, ChunkedBodyOverLimitIs413BeforeTheBodyIsComplete) {
  limits_.max_body_bytes = 10;
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "6\r\nabcdef\r\n6\r\nghijkl"),
            413);
}

TEST_F(ParserTest, TargetOverLimitIs414) {
  limits_.max_target_bytes = 16;
  EXPECT_EQ(error_of("GET /" + std::string(16, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n"), 414);
}

TEST_F(ParserTest, TargetAtLimitIsAccepted) {
  limits_.max_target_bytes = 16;
  ASSERT_EQ(feed("GET /" + std::string(15, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n").event,
            ParseEvent::Message);
  EXPECT_EQ(target().size(), 16u);
}

TEST_F(ParserTest, TooManyHeadersIs431) {
  limits_.max_headers = 3;
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), 431);
}

TEST_F(ParserTest, HeadersAtLimitAreAccepted) {
  limits_.max_headers = 3;
  ASSERT_EQ(feed("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n").event, ParseEvent::Message);
  EXPECT_EQ(data_.headers.size(), 3u);
}

TEST_F(ParserTest, HeadOverLimitIs431) {
  limits_.max_head_bytes = 64;
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(80, 'v') + "\r\n\r\n"),
            431);
}

TEST_F(ParserTest, CompleteHeadOverLimitIs431) {
  limits_.max_head_bytes = 64;
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(80, 'v') + "\r\n\r\n"),
            431);
}

// A partial head is the caller's to bound (it keeps the bytes): the parser says it cannot fit.
TEST_F(ParserTest, PartialHeadOverLimitCannotFit) {
  limits_.max_head_bytes = 64;
  std::string in = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(80, 'v');
  ParseStep st = feed(in);
  EXPECT_EQ(st.event, ParseEvent::NeedMore);
  EXPECT_TRUE(parser_.in_message());
  EXPECT_TRUE(parser_.head_cannot_fit(in.size()));
  EXPECT_FALSE(parser_.head_cannot_fit(64));
}

// --- malformed heads ------------------------------------------------------------------------

TEST_F(ParserTest, ObsFoldIs400) {
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n two\r\n\r\n"), 400);
}

TEST_F(ParserTest, TransferEncodingGzipChunkedIs501) {
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                     "0\r\n\r\n"),
            501);
}

TEST_F(ParserTest, ContentLengthWithTransferEncodingIs400) {
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            400);
}

TEST_F(ParserTest, TransferEncodingInHttp10Is400) {
  EXPECT_EQ(error_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400);
}

TEST_F(ParserTest, BareLfInRequestLineIs400) {
  EXPECT_EQ(error_of("GET / HTTP/1.1\nHost: h\r\n\r\n"), 400);
}

TEST_F(ParserTest, BareLfAfterHeaderIs400) {
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\nX-A: 1\r\n\r\n"), 400);
}

// llhttp 8 ends a header or trailer section at a bare LF too; a CRLF-only proxy in front
// would frame the stream differently (request smuggling).
TEST_F(ParserTest, BareLfEndingTheHeadIs400) {
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\n\nGET /admin HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

TEST_F(ParserTest, BareLfEndingAHeadWithoutFieldsIs400) {
  EXPECT_EQ(error_of("GET / HTTP/1.0\r\n\n"), 400);
}

TEST_F(ParserTest, EmptyLastFieldValueStillEndsWithCrlf) {
  ASSERT_EQ(feed("GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\n\r\n").event, ParseEvent::Message);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\n\n"), 400);
}

TEST_F(ParserTest, BareLfEndingTheTrailerSectionIs400) {
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "1\r\na\r\n0\r\n\nGET /admin HTTP/1.1\r\nHost: h\r\n\r\n"),
            400);
}

TEST_F(ParserTest, BareLfAfterTrailerFieldsIs400) {
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "0\r\nX-Trailer: v\r\n\n"),
            400);
}

TEST_F(ParserTest, BareLfEndingTheTrailerSectionInALaterReadIs400) {
  ASSERT_EQ(feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n").event,
            ParseEvent::NeedMore);
  parser_.detach();
  EXPECT_EQ(error_of("\n"), 400);
}

TEST_F(ParserTest, CrlfEndingTheTrailerSectionSplitAcrossReads) {
  ASSERT_EQ(feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "2\r\nok\r\n0\r\n\r")
                .event,
            ParseEvent::NeedMore);
  parser_.detach();
  ASSERT_EQ(feed("\n").event, ParseEvent::Message);
  EXPECT_EQ(data_.body(), "ok");
}

TEST_F(ParserTest, RtspRequestLineIs400) {
  // llhttp parses it with version 1.0; it must not be served as an HTTP/1.0 request.
  EXPECT_EQ(error_of("GET / RTSP/1.0\r\n\r\n"), 400);
}

TEST_F(ParserTest, IceRequestLineIs400) {
  EXPECT_EQ(error_of("SOURCE / ICE/1.0\r\n\r\n"), 400);
}

TEST_F(ParserTest, SpaceBeforeColonIs400) {
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), 400);
}

TEST_F(ParserTest, InvalidMethodIs400) {
  EXPECT_EQ(error_of("G@T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

TEST_F(ParserTest, InvalidContentLengthIs400) {
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n"), 400);
}

// --- Expect ---------------------------------------------------------------------------------

TEST_F(ParserTest, UnknownExpectationIs417) {
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nExpect: something-else\r\n"
                     "Content-Length: 1\r\n\r\nx"),
            417);
}

TEST_F(ParserTest, ExpectContinueWithBodyWantsContinue) {
  ParseStep st =
      feed("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(st.event, ParseEvent::NeedMore);
  EXPECT_TRUE(parser_.headers_done());
  EXPECT_TRUE(parser_.wants_continue());
}

TEST_F(ParserTest, ExpectContinueIsCaseInsensitive) {
  ASSERT_EQ(
      feed("POST / HTTP/1.1\r\nHost: h\r\nexpect: 100-Continue\r\nContent-Length: 5\r\n\r\n").event,
      ParseEvent::NeedMore);
  EXPECT_TRUE(parser_.wants_continue());
}

TEST_F(ParserTest, ExpectContinueIsClearedWhenMessageCompletes) {
  ASSERT_EQ(
      feed("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n").event,
      ParseEvent::NeedMore);
  parser_.detach();
  ASSERT_EQ(feed("ok").event, ParseEvent::Message);
  EXPECT_FALSE(parser_.wants_continue());
  EXPECT_EQ(data_.body(), "ok");
}

TEST_F(ParserTest, ExpectContinueWithoutBodyDoesNotWantContinue) {
  ASSERT_EQ(feed("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n").event,
            ParseEvent::Message);
  EXPECT_FALSE(parser_.wants_continue());
}

TEST_F(ParserTest, ExpectContinueInHttp10DoesNotWantContinue) {
  ASSERT_EQ(feed("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n").event,
            ParseEvent::NeedMore);
  EXPECT_TRUE(parser_.headers_done());
  EXPECT_FALSE(parser_.wants_continue());
}

}  // namespace
