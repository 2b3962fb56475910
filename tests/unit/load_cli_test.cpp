// tether-load's URL and flags, without networking.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "tether-load/flags.hpp"
#include "tether/load/url.hpp"

namespace {

using namespace std::chrono_literals;
using tether::load::parse_url;
using tether_load::FlagsOutcome;
using tether_load::ParsedFlags;

ParsedFlags parse(std::initializer_list<const char*> args) {
  std::vector<std::string> store{"tether-load"};
  for (const char* a : args) store.emplace_back(a);
  std::vector<char*> argv;
  for (std::string& s : store) argv.push_back(s.data());
  return tether_load::parse_flags(static_cast<int>(argv.size()), argv.data());
}

TEST(LoadUrl, HostPortAndTarget) {
  auto u = parse_url("http://127.0.0.1:8080/plaintext?x=1");
  ASSERT_TRUE(u.ok()) << u.error;
  EXPECT_EQ(u.url.host, "127.0.0.1");
  EXPECT_EQ(u.url.port, 8080);
  EXPECT_EQ(u.url.target, "/plaintext?x=1");
  EXPECT_EQ(u.url.authority, "127.0.0.1:8080");
}

TEST(LoadUrl, DefaultsAndIpv6) {
  auto u = parse_url("http://localhost");
  ASSERT_TRUE(u.ok()) << u.error;
  EXPECT_EQ(u.url.port, 80);
  EXPECT_EQ(u.url.target, "/");
  EXPECT_EQ(u.url.authority, "localhost");
  u = parse_url("http://[::1]:9000?q");
  ASSERT_TRUE(u.ok()) << u.error;
  EXPECT_EQ(u.url.host, "::1");
  EXPECT_EQ(u.url.port, 9000);
  EXPECT_EQ(u.url.target, "/?q");
  EXPECT_EQ(u.url.authority, "[::1]:9000");
}

TEST(LoadUrl, Refused) {
  for (const char* bad :
       {"127.0.0.1:80/", "https://a/", "http://", "http://:80/", "http://a:/", "http://a:0/",
        "http://a:65536/", "http://a:8x/", "http://u@a/", "http://a/#frag", "http://[::1/"}) {
    auto u = parse_url(bad);
    EXPECT_FALSE(u.ok()) << bad;
    EXPECT_EQ(u.error.find("bad URL '" + std::string(bad) + "': "), 0u) << u.error;
  }
}

TEST(LoadFlags, WrksFlags) {
  auto f = parse({"-c", "64", "-t2", "-d", "5s", "--latency", "--timeout=500ms", "--pipeline", "16",
                  "-H", "X-A: b", "http://127.0.0.1:8080/p"});
  ASSERT_EQ(f.outcome, FlagsOutcome::Run) << f.message;
  EXPECT_EQ(f.run.connections, 64u);
  EXPECT_EQ(f.run.threads, 2u);
  EXPECT_EQ(f.run.duration, 5s);
  EXPECT_EQ(f.run.timeout, 500ms);
  EXPECT_EQ(f.run.pipeline, 16u);
  EXPECT_EQ(f.run.host, "127.0.0.1");
  EXPECT_EQ(f.run.port, 8080);
  EXPECT_EQ(f.url, "http://127.0.0.1:8080/p");
  ASSERT_EQ(f.run.requests.size(), 1u);
  EXPECT_EQ(f.run.requests[0], "GET /p HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-A: b\r\n\r\n");
}

TEST(LoadFlags, MethodBodyAndStatuses) {
  auto f = parse({"-m", "POST", "--body", "hello", "--expect-status", "201,3xx", "http://h/x"});
  ASSERT_EQ(f.outcome, FlagsOutcome::Run) << f.message;
  ASSERT_EQ(f.run.requests.size(), 1u);
  EXPECT_EQ(f.run.requests[0], "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_EQ(f.run.expect_status.size(), 101u);
  EXPECT_EQ(f.run.expect_status[0], 201);
  EXPECT_EQ(f.run.expect_status[1], 300);
}

TEST(LoadFlags, Errors) {
  struct Case {
    std::initializer_list<const char*> args;
    const char* message;
  };
  for (const Case& c : {
           Case{{"http://a/", "http://b/"}, "one URL only"},
           Case{{"-c"}, "--connections needs a value"},
           Case{{"-c", "0", "http://a/"}, "--connections: '0'"},
           Case{{"--pipeline", "0", "http://a/"}, "--pipeline: '0'"},
           Case{{"-m", "G T", "http://a/"}, "--method: 'G T'"},
           Case{{"--expect-status", "99", "http://a/"}, "--expect-status: '99'"},
           Case{{"-H", "Content-Length: 3", "http://a/"}, "Content-Length"},
           Case{{"-z", "http://a/"}, "unknown flag '-z'"},
       }) {
    auto f = parse(c.args);
    EXPECT_EQ(f.outcome, FlagsOutcome::Exit1);
    EXPECT_NE(f.message.find(c.message), std::string::npos) << f.message;
    EXPECT_EQ(f.message.find('\n'), std::string::npos) << f.message;
  }
  EXPECT_EQ(parse({"--help"}).outcome, FlagsOutcome::Exit0);
}

TEST(LoadFlags, Durations) {
  std::chrono::milliseconds d{};
  EXPECT_TRUE(tether_load::parse_duration("10", d));
  EXPECT_EQ(d, 10s);
  EXPECT_TRUE(tether_load::parse_duration("1.5s", d));
  EXPECT_EQ(d, 1500ms);
  EXPECT_TRUE(tether_load::parse_duration("2m", d));
  EXPECT_EQ(d, 120s);
  EXPECT_TRUE(tether_load::parse_duration("250ms", d));
  EXPECT_EQ(d, 250ms);
  for (const char* bad : {"", "s", "10x", "0", "-1s", "1e3"}) {
    EXPECT_FALSE(tether_load::parse_duration(bad, d)) << bad;
  }
}

}  // namespace
