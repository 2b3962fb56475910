// request_syntax: RFC 3986 authorities, Host values and request-target forms, byte by byte
// (the end-to-end rows of conformance_test.cpp cover how the server answers them).
#include "http/request_syntax.hpp"

#include <gtest/gtest.h>

namespace {

using tether::detail::valid_authority;
using tether::detail::valid_host_value;
using tether::detail::valid_request_target;

TEST(RequestSyntax, AuthorityHosts) {
  for (const char* ok : {"example.com", "example.com:8080", "example.com:", "127.0.0.1",
                         "1.2.3.4:80", "[::1]", "[::1]:80", "[2001:db8::7]", "[::ffff:1.2.3.4]",
                         "[v1.x:y]", "ex%41mple.com", "a_b-c~d.e", "a!$&'()*+,;=b"}) {
    EXPECT_TRUE(valid_authority(ok, true, false)) << ok;
  }
  for (const char* bad : {"", ":80", "[::1", "[::1]x", "[::1]:8o", "[::g]", "[1.2.3.4]", "[v.x]",
                          "[vz.x]", "[v1.]", "[fe80::1%25eth0]", "u@host", "a:b:c", "host:8o",
                          "a b", "a/b", "a%4", "a%zz", "exa\"mple"}) {
    EXPECT_FALSE(valid_authority(bad, true, false)) << bad;
  }
  EXPECT_TRUE(valid_authority("", false, false));
}

TEST(RequestSyntax, AuthorityPortRequired) {
  EXPECT_TRUE(valid_authority("example.com:443", true, true));
  EXPECT_TRUE(valid_authority("[::1]:443", true, true));
  EXPECT_FALSE(valid_authority("example.com", true, true));
  EXPECT_FALSE(valid_authority("example.com:", true, true));
  EXPECT_FALSE(valid_authority("[::1]", true, true));
}

TEST(RequestSyntax, HostValue) {
  EXPECT_TRUE(valid_host_value(""));  // RFC 9112 3.2: empty when the target has no authority
  EXPECT_TRUE(valid_host_value("example.com:8080"));
  EXPECT_TRUE(valid_host_value("[::1]:8080"));
  EXPECT_FALSE(valid_host_value("a, b"));
  EXPECT_FALSE(valid_host_value(":80"));
  EXPECT_FALSE(valid_host_value("u@a"));
}

TEST(RequestSyntax, TargetForms) {
  // origin-form: any method but CONNECT
  EXPECT_TRUE(valid_request_target("/a?b", false, false));
  EXPECT_FALSE(valid_request_target("/a", true, false));
  // asterisk-form: OPTIONS only
  EXPECT_TRUE(valid_request_target("*", false, true));
  EXPECT_FALSE(valid_request_target("*", false, false));
  // absolute-form
  EXPECT_TRUE(valid_request_target("http://example.com/a", false, false));
  EXPECT_TRUE(valid_request_target("HTTPS://example.com", false, false));
  EXPECT_TRUE(valid_request_target("http://example.com?q", false, false));
  EXPECT_TRUE(valid_request_target("http://[::1]:80/a", false, false));
  EXPECT_FALSE(valid_request_target("http:///a", false, false));
  EXPECT_FALSE(valid_request_target("http://u@example.com/a", false, false));
  EXPECT_FALSE(valid_request_target("http://[::1/a", false, false));
  EXPECT_FALSE(valid_request_target("1http://example.com/a", false, false));
  EXPECT_FALSE(valid_request_target("example.com:443", false, false));
  EXPECT_FALSE(valid_request_target("", false, false));
  // authority-form: CONNECT only, with a port
  EXPECT_TRUE(valid_request_target("example.com:443", true, false));
  EXPECT_FALSE(valid_request_target("example.com", true, false));
  EXPECT_FALSE(valid_request_target("http://example.com:443/", true, false));
}

}  // namespace
