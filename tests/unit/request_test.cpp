// Request over a hand-built RequestData: query / param / header lookups, body, url_decode.
#include <gtest/gtest.h>

#include <llhttp.h>

#include <string>
#include <string_view>

#include "http/request_data.hpp"
#include "tether/request.hpp"

namespace {

using tether::Method;
using tether::Request;
using tether::detail::HeaderSpan;
using tether::detail::RequestData;
using tether::detail::Span;

class RequestTest : public ::testing::Test {
 protected:
  RequestTest() {
    d_.base = raw_.data();
    d_.target = span_of("/users/42?a=1&flag&empty=&a=2&enc=%41%20b&ab=x");
    d_.headers.push_back({span_of("Host"), span_of("example.com")});
    d_.headers.push_back({span_of("X-Token"), span_of("first")});
    d_.headers.push_back({span_of("x-token"), span_of("second")});
    d_.method = Method::Get;
    d_.llhttp_method = HTTP_GET;
    d_.major = 1;
    d_.minor = 1;
    std::string_view t = d_.view(d_.target);
    size_t q = t.find('?');
    d_.path = t.substr(0, q);
    d_.query = t.substr(q + 1);
    match_.params[0] = {"id", d_.path.substr(7)};
    match_.params[1] = {"*", "rest/of/it"};
    match_.param_count = 2;
    d_.route = &match_;
  }

  // Span of the first occurrence of `s` in raw_.
  Span span_of(std::string_view s) {
    size_t off = raw_.find(s);
    EXPECT_NE(off, std::string::npos) << s;
    return {static_cast<uint32_t>(off), static_cast<uint32_t>(s.size())};
  }

  const std::string raw_ =
      "GET /users/42?a=1&flag&empty=&a=2&enc=%41%20b&ab=x HTTP/1.1\r\n"
      "Host: example.com\r\n"
      "X-Token: first\r\n"
      "x-token: second\r\n"
      "\r\n";
  RequestData d_;
  tether::RouteMatch match_;
};

// --- request line ---------------------------------------------------------------------------

TEST_F(RequestTest, MethodTargetPathAndQueryString) {
  Request req(d_);
  EXPECT_EQ(req.method(), Method::Get);
  EXPECT_EQ(req.method_name(), "GET");
  EXPECT_EQ(req.target(), "/users/42?a=1&flag&empty=&a=2&enc=%41%20b&ab=x");
  EXPECT_EQ(req.path(), "/users/42");
  EXPECT_EQ(req.query_string(), "a=1&flag&empty=&a=2&enc=%41%20b&ab=x");
}

TEST_F(RequestTest, MethodNameOfAnOtherMethodIsAsSent) {
  d_.method = Method::Other;
  d_.llhttp_method = HTTP_PROPFIND;
  Request req(d_);
  EXPECT_EQ(req.method(), Method::Other);
  EXPECT_EQ(req.method_name(), "PROPFIND");
}

TEST_F(RequestTest, VersionAndKeepAlive) {
  d_.minor = 0;
  d_.keep_alive = false;
  Request req(d_);
  EXPECT_EQ(req.version_major(), 1);
  EXPECT_EQ(req.version_minor(), 0);
  EXPECT_FALSE(req.keep_alive());
}

// --- query() --------------------------------------------------------------------------------

TEST_F(RequestTest, QueryReturnsFirstMatch) {
  Request req(d_);
  ASSERT_TRUE(req.query("a"));
  EXPECT_EQ(*req.query("a"), "1");
}

TEST_F(RequestTest, QueryKeyWithoutEqualsIsEmpty) {
  Request req(d_);
  auto v = req.query("flag");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, "");
}

TEST_F(RequestTest, QueryKeyWithEmptyValueIsEmpty) {
  Request req(d_);
  auto v = req.query("empty");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, "");
}

TEST_F(RequestTest, QueryAbsentKeyIsNullopt) {
  Request req(d_);
  EXPECT_FALSE(req.query("missing").has_value());
}

TEST_F(RequestTest, QueryKeyMustMatchWholeName) {
  Request req(d_);
  EXPECT_FALSE(req.query("fla").has_value());
  EXPECT_FALSE(req.query("flags").has_value());
  EXPECT_EQ(req.query("ab"), "x");
}

TEST_F(RequestTest, QueryValueIsDecodedAndQueryRawIsNot) {
  Request req(d_);
  EXPECT_EQ(req.query("enc"), "A b");
  EXPECT_EQ(req.query_raw("enc"), "%41%20b");
  EXPECT_EQ(req.query_raw("a"), "1");
  EXPECT_FALSE(req.query_raw("missing").has_value());
}

// Form decoding: '+' is a space, keys are decoded too, invalid escapes stay, and every view
// handed out stays valid while others are decoded after it.
TEST(RequestDecoding, QueryDecodesLikeAFormAndEarlierViewsStayValid) {
  std::string raw = "/s?q=a+b%2Bc&na%6De=x%2&bad=%zz&%E2%9C%93=ok&p=%";
  tether::detail::RequestData d;
  d.base = raw.data();
  d.target = {0, static_cast<uint32_t>(raw.size())};
  std::string_view t = d.view(d.target);
  d.path = t.substr(0, 2);
  d.query = t.substr(3);
  Request req(d);
  std::string_view first = *req.query("q");
  EXPECT_EQ(first, "a b+c");
  EXPECT_EQ(req.query("name"), "x%2");
  EXPECT_EQ(req.query("bad"), "%zz");
  EXPECT_EQ(req.query("\xE2\x9C\x93"), "ok");
  EXPECT_EQ(req.query("p"), "%");
  for (int i = 0; i < 100; ++i) (void)req.query("q");  // more decoded views after `first`
  EXPECT_EQ(first, "a b+c") << "an earlier view moved";
  EXPECT_EQ(req.query_raw("q"), "a+b%2Bc");
}

TEST(RequestDecoding, ParamIsPercentDecodedAndPlusStays) {
  std::string raw = "/files/a%20b+c%2Fd";
  tether::detail::RequestData d;
  d.base = raw.data();
  d.target = {0, static_cast<uint32_t>(raw.size())};
  d.path = d.view(d.target);
  tether::RouteMatch m;
  m.params[0] = {"name", d.path.substr(7)};
  m.param_count = 1;
  d.route = &m;
  Request req(d);
  EXPECT_EQ(req.param("name"), "a b+c/d");
  EXPECT_EQ(req.param_raw("name"), "a%20b+c%2Fd");
  EXPECT_EQ(req.param("missing"), "");
}

TEST_F(RequestTest, QueryLastPairWithoutTrailingAmpersand) {
  Request req(d_);
  EXPECT_EQ(req.query("ab"), "x");
}

TEST_F(RequestTest, QueryOnEmptyQueryStringIsNullopt) {
  d_.query = {};
  Request req(d_);
  EXPECT_FALSE(req.query("a").has_value());
  EXPECT_EQ(req.query_string(), "");
}

TEST_F(RequestTest, QueryValueMayContainEquals) {
  std::string q = "k=a=b";
  d_.query = q;
  Request req(d_);
  EXPECT_EQ(req.query("k"), "a=b");
}

TEST_F(RequestTest, QueryKeyIsCaseSensitive) {
  Request req(d_);
  EXPECT_FALSE(req.query("A").has_value());
}

// --- param() --------------------------------------------------------------------------------

TEST_F(RequestTest, ParamReturnsCapture) {
  Request req(d_);
  EXPECT_EQ(req.param("id"), "42");
  EXPECT_EQ(req.param("*"), "rest/of/it");
}

TEST_F(RequestTest, ParamAbsentIsEmpty) {
  Request req(d_);
  EXPECT_EQ(req.param("nope"), "");
}

TEST_F(RequestTest, ParamBeyondParamCountIsIgnored) {
  match_.param_count = 1;
  Request req(d_);
  EXPECT_EQ(req.param("*"), "");
}

// --- headers --------------------------------------------------------------------------------

TEST_F(RequestTest, HeaderLookupIsCaseInsensitive) {
  Request req(d_);
  EXPECT_EQ(req.header("host"), "example.com");
  EXPECT_EQ(req.header("HOST"), "example.com");
  EXPECT_EQ(req.header("hOsT"), "example.com");
}

TEST_F(RequestTest, HeaderReturnsFirstOfRepeatedField) {
  Request req(d_);
  EXPECT_EQ(req.header("x-token"), "first");
}

TEST_F(RequestTest, HeaderAbsentIsNullopt) {
  Request req(d_);
  EXPECT_FALSE(req.header("accept").has_value());
  EXPECT_FALSE(req.header("hos").has_value());
}

TEST_F(RequestTest, HeaderCountAndHeaderAtInOrder) {
  Request req(d_);
  ASSERT_EQ(req.header_count(), 3u);
  EXPECT_EQ(req.header_at(0).first, "Host");
  EXPECT_EQ(req.header_at(0).second, "example.com");
  EXPECT_EQ(req.header_at(1).first, "X-Token");
  EXPECT_EQ(req.header_at(2).first, "x-token");
  EXPECT_EQ(req.header_at(2).second, "second");
}

// --- body -----------------------------------------------------------------------------------

TEST_F(RequestTest, NoBodyIsEmpty) {
  Request req(d_);
  EXPECT_TRUE(req.body().empty());
}

TEST_F(RequestTest, BodyFromViewIntoBase) {
  d_.body_view = span_of("example");
  Request req(d_);
  EXPECT_EQ(req.body(), "example");
  EXPECT_EQ(req.body().data(), raw_.data() + raw_.find("example"));
}

TEST_F(RequestTest, BodyFromOwnStorage) {
  d_.body_view = span_of("example");
  d_.body_store = "copied body";
  d_.body_copied = true;
  Request req(d_);
  EXPECT_EQ(req.body(), "copied body");
}

// --- url_decode -----------------------------------------------------------------------------

TEST(RequestUrlDecode, InvalidEscapeIsKept) {
  EXPECT_EQ(tether::url_decode("%41b%2x"), "Ab%2x");
}

TEST(RequestUrlDecode, PercentAtEndIsKept) {
  EXPECT_EQ(tether::url_decode("abc%"), "abc%");
  EXPECT_EQ(tether::url_decode("abc%4"), "abc%4");
}

TEST(RequestUrlDecode, EscapeAtVeryEndIsDecoded) {
  EXPECT_EQ(tether::url_decode("x%2F"), "x/");
}

TEST(RequestUrlDecode, LowerAndUpperHex) {
  EXPECT_EQ(tether::url_decode("%2f%2F%7e"), "//~");
}

TEST(RequestUrlDecode, PlusStaysPlus) {
  EXPECT_EQ(tether::url_decode("a+b"), "a+b");
}

TEST(RequestUrlDecode, MultiByteUtf8) {
  EXPECT_EQ(tether::url_decode("%E2%82%AC"), "\xE2\x82\xAC");
}

TEST(RequestUrlDecode, NulByteIsDecoded) {
  EXPECT_EQ(tether::url_decode("a%00b"), std::string("a\0b", 3));
}

TEST(RequestUrlDecode, DoublePercentKeepsFirst) {
  EXPECT_EQ(tether::url_decode("%%41"), "%A");
}

TEST(RequestUrlDecode, EmptyAndPlain) {
  EXPECT_EQ(tether::url_decode(""), "");
  EXPECT_EQ(tether::url_decode("plain/text"), "plain/text");
}

}  // namespace
