// RedisUrl: the shapes --mailbox-redis takes, the errors for the shapes it refuses, and the
// password kept out of every error and description.
#include "redis/redis_url.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using tether::detail::apply_redis_password_env;
using tether::detail::parse_redis_url;
using tether::detail::RedisUrl;

RedisUrl parse_ok(const std::string& text) {
  RedisUrl u;
  const tether::Status st = parse_redis_url(text, u);
  EXPECT_TRUE(st.ok()) << text << ": " << st.message();
  return u;
}

std::string parse_error(const std::string& text) {
  RedisUrl u;
  u.host = "untouched";
  const tether::Status st = parse_redis_url(text, u);
  EXPECT_FALSE(st.ok()) << text << " was accepted";
  EXPECT_EQ(u.host, "untouched") << "a failed parse leaves its output alone";
  EXPECT_EQ(st.message().find('\n'), std::string::npos) << "one line";
  EXPECT_EQ(st.message().rfind("redis URL: ", 0), 0u) << st.message();
  return st.message();
}

TEST(RedisUrl, HostPortAndDatabase) {
  RedisUrl u = parse_ok("redis://127.0.0.1:6380/2");
  EXPECT_EQ(u.kind, RedisUrl::Kind::tcp);
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 6380);
  EXPECT_EQ(u.db, 2u);
  EXPECT_TRUE(u.password.empty());
  EXPECT_EQ(u.describe(), "redis://127.0.0.1:6380/2");
}

TEST(RedisUrl, DefaultsArePort6379AndDatabase0) {
  RedisUrl u = parse_ok("redis://cache.internal");
  EXPECT_EQ(u.host, "cache.internal");
  EXPECT_EQ(u.port, 6379);
  EXPECT_EQ(u.db, 0u);
  EXPECT_EQ(parse_ok("redis://h/").db, 0u);
  EXPECT_EQ(parse_ok("REDIS://h:1").port, 1) << "the scheme is case-insensitive";
}

TEST(RedisUrl, PasswordAndUser) {
  RedisUrl u = parse_ok("redis://:s3cret@localhost:7000/1");
  EXPECT_EQ(u.password, "s3cret");
  EXPECT_TRUE(u.username.empty());
  EXPECT_EQ(u.host, "localhost");
  EXPECT_EQ(u.port, 7000);
  EXPECT_EQ(u.db, 1u);
  EXPECT_EQ(u.describe(), "redis://:***@localhost:7000/1");

  u = parse_ok("redis://app:pw@h");
  EXPECT_EQ(u.username, "app");
  EXPECT_EQ(u.password, "pw");
  EXPECT_EQ(u.describe(), "redis://app:***@h:6379/0");
}

TEST(RedisUrl, PasswordsMayBePercentEncodedOrHoldAnAt) {
  EXPECT_EQ(parse_ok("redis://:a%40b%3Ac%2Fd@h").password, "a@b:c/d");
  EXPECT_EQ(parse_ok("redis://:p@ss@h:1").password, "p@ss") << "the last '@' ends the credentials";
  EXPECT_EQ(parse_ok("redis://:pa/ss@h/3").password, "pa/ss");
  EXPECT_EQ(parse_ok("redis://:pa/ss@h/3").db, 3u);
  EXPECT_EQ(parse_ok("redis://:p?w#x@h").password, "p?w#x");
}

TEST(RedisUrl, Ipv6InBrackets) {
  RedisUrl u = parse_ok("redis://[::1]:6390/4");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 6390);
  EXPECT_EQ(u.db, 4u);
  EXPECT_EQ(u.describe(), "redis://[::1]:6390/4");
  EXPECT_EQ(parse_ok("redis://[::1]").port, 6379);
}

TEST(RedisUrl, UnixSocket) {
  RedisUrl u = parse_ok("unix:///run/redis/redis.sock");
  EXPECT_EQ(u.kind, RedisUrl::Kind::unix_socket);
  EXPECT_EQ(u.path, "/run/redis/redis.sock");
  EXPECT_EQ(u.db, 0u);
  EXPECT_EQ(u.describe(), "unix:///run/redis/redis.sock");
  u = parse_ok("unix://:pw@/tmp/r.sock?db=5");
  EXPECT_EQ(u.path, "/tmp/r.sock");
  EXPECT_EQ(u.password, "pw");
  EXPECT_EQ(u.db, 5u);
  EXPECT_EQ(u.describe(), "unix://:***@/tmp/r.sock?db=5");
}

TEST(RedisUrl, RefusedShapesSayWhatIsWrong) {
  EXPECT_NE(parse_error("").find("empty"), std::string::npos);
  EXPECT_NE(parse_error("localhost:6379").find("expected redis://"), std::string::npos);
  EXPECT_NE(parse_error("http://h").find("unsupported scheme 'http'"), std::string::npos);
  EXPECT_NE(parse_error("rediss://h").find("TLS"), std::string::npos);
  EXPECT_NE(parse_error("redis://").find("no host"), std::string::npos);
  EXPECT_NE(parse_error("redis://:6379").find("no host"), std::string::npos);
  EXPECT_NE(parse_error("redis://h:0").find("port"), std::string::npos);
  EXPECT_NE(parse_error("redis://h:65536").find("port"), std::string::npos);
  EXPECT_NE(parse_error("redis://h:12ab").find("port"), std::string::npos);
  EXPECT_NE(parse_error("redis://h:").find("port"), std::string::npos);
  EXPECT_NE(parse_error("redis://h/x").find("database"), std::string::npos);
  EXPECT_NE(parse_error("redis://h/-1").find("database"), std::string::npos);
  EXPECT_NE(parse_error("redis://h/2147483648").find("database"), std::string::npos);
  EXPECT_NE(parse_error("redis://h/1/2").find("path"), std::string::npos);
  EXPECT_NE(parse_error("redis://h?db=1").find("query"), std::string::npos);
  EXPECT_NE(parse_error("redis://h#x").find("fragment"), std::string::npos);
  EXPECT_NE(parse_error("redis://ho st").find("spaces"), std::string::npos);
  EXPECT_NE(parse_error("redis://h_!:1").find("host"), std::string::npos);
  EXPECT_NE(parse_error("redis://[::1").find("']'"), std::string::npos);
  EXPECT_NE(parse_error("redis://[nope]:1").find("IPv6"), std::string::npos);
  EXPECT_NE(parse_error("unix://relative/path").find("absolute"), std::string::npos);
  EXPECT_NE(parse_error("unix:///p?x=1").find("db=N"), std::string::npos);
  EXPECT_NE(parse_error("unix:///p?db=x").find("database"), std::string::npos);
  EXPECT_NE(parse_error("redis://user@h").find("credentials"), std::string::npos);
  EXPECT_NE(parse_error("redis://:@h").find("password"), std::string::npos);
  EXPECT_NE(parse_error("redis://:%zz@h").find("percent"), std::string::npos);
}

TEST(RedisUrl, ThePasswordIsInNoErrorAndNoDescription) {
  const std::string secret = "Sup3rS3cret";
  // Mistyped URLs that carry the password in every part a parser might quote.
  const std::vector<std::string> bad = {
      "redis://:" + secret + "@h:99999",
      "redis://:" + secret + "@h/nodb",
      "redis://:" + secret + "@",
      "redis://:" + secret + "@h?x",
      "redis://" + secret + "@h",
      "redis://:" + secret + "%zz@h",
      "redis://:" + secret,
      "redis://" + secret + ":" + secret,
      "redis:/:" + secret + "@h",
      secret,
      ":" + secret + "@h:1",
      "unix://:" + secret + "@relative",
      "unix://:" + secret + "@/p?db=" + secret,
      "redis://[" + secret + "]:1",
      "redis://:" + secret + " @h",
  };
  for (const std::string& text : bad) {
    const std::string err = parse_error(text);
    EXPECT_EQ(err.find(secret), std::string::npos) << "the error quotes the password: " << err;
  }
  RedisUrl u = parse_ok("redis://:" + secret + "@h:1/2");
  EXPECT_EQ(u.describe().find(secret), std::string::npos) << u.describe();
  u = parse_ok("unix://:" + secret + "@/s");
  EXPECT_EQ(u.describe().find(secret), std::string::npos) << u.describe();
}

TEST(RedisUrl, ThePasswordMayComeFromTheEnvironment) {
  RedisUrl u = parse_ok("redis://h");
  apply_redis_password_env(u, nullptr);
  EXPECT_TRUE(u.password.empty());
  apply_redis_password_env(u, "");
  EXPECT_TRUE(u.password.empty());
  apply_redis_password_env(u, "fromenv");
  EXPECT_EQ(u.password, "fromenv");
  RedisUrl v = parse_ok("redis://:inurl@h");
  apply_redis_password_env(v, "fromenv");
  EXPECT_EQ(v.password, "inurl") << "the URL's own password wins";
}

}  // namespace
