// tetherd::parse_flags: value syntaxes, every option, and the error / exit outcomes.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tether/version.hpp"
#include "tetherd/flags.hpp"

namespace {

using tetherd::FlagsOutcome;
using tetherd::ParsedFlags;

ParsedFlags parse(std::vector<std::string> args) {
  args.insert(args.begin(), "tetherd");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return tetherd::parse_flags(static_cast<int>(args.size()), argv.data());
}

bool one_line(const std::string& s) {
  return !s.empty() && s.find('\n') == std::string::npos;
}

TEST(Flags, NoFlagsRunsWithDefaults) {
  ParsedFlags f = parse({});
  EXPECT_EQ(f.outcome, FlagsOutcome::Run);
  EXPECT_TRUE(f.message.empty());
  tether::ServerOptions d;
  EXPECT_EQ(f.options.port, d.port);
  EXPECT_EQ(f.options.host, d.host);
  EXPECT_EQ(f.options.max_body_bytes, d.max_body_bytes);
}

TEST(Flags, PortAsSeparateValue) {
  ParsedFlags f = parse({"--port", "9"});
  EXPECT_EQ(f.outcome, FlagsOutcome::Run);
  EXPECT_EQ(f.options.port, 9);
}

TEST(Flags, PortWithEquals) {
  ParsedFlags f = parse({"--port=9"});
  EXPECT_EQ(f.outcome, FlagsOutcome::Run);
  EXPECT_EQ(f.options.port, 9);
}

TEST(Flags, PortZeroAndMaximum) {
  EXPECT_EQ(parse({"--port", "0"}).options.port, 0);
  ParsedFlags f = parse({"--port=65535"});
  EXPECT_EQ(f.outcome, FlagsOutcome::Run);
  EXPECT_EQ(f.options.port, 65535);
}

TEST(Flags, LaterFlagWins) {
  EXPECT_EQ(parse({"--port", "1", "--port=2"}).options.port, 2);
}

struct NumericFlag {
  const char* name;
  std::function<uint64_t(const tether::ServerOptions&)> get;
};

const std::vector<NumericFlag>& numeric_flags() {
  static const std::vector<NumericFlag> kFlags = {
      {"port", [](const tether::ServerOptions& o) -> uint64_t { return o.port; }},
      {"loops", [](const tether::ServerOptions& o) -> uint64_t { return o.loops; }},
      {"workers", [](const tether::ServerOptions& o) -> uint64_t { return o.workers; }},
      {"backlog", [](const tether::ServerOptions& o) -> uint64_t { return o.backlog; }},
      {"max-connections",
       [](const tether::ServerOptions& o) -> uint64_t { return o.max_connections; }},
      {"max-head-bytes",
       [](const tether::ServerOptions& o) -> uint64_t { return o.max_head_bytes; }},
      {"max-target-bytes",
       [](const tether::ServerOptions& o) -> uint64_t { return o.max_target_bytes; }},
      {"max-headers", [](const tether::ServerOptions& o) -> uint64_t { return o.max_headers; }},
      {"max-body-bytes",
       [](const tether::ServerOptions& o) -> uint64_t { return o.max_body_bytes; }},
      {"max-pipelined", [](const tether::ServerOptions& o) -> uint64_t { return o.max_pipelined; }},
      {"write-high-water",
       [](const tether::ServerOptions& o) -> uint64_t { return o.write_high_water; }},
      {"header-timeout-ms",
       [](const tether::ServerOptions& o) -> uint64_t { return o.header_timeout_ms; }},
      {"body-timeout-ms",
       [](const tether::ServerOptions& o) -> uint64_t { return o.body_timeout_ms; }},
      {"idle-timeout-ms",
       [](const tether::ServerOptions& o) -> uint64_t { return o.idle_timeout_ms; }},
      {"write-timeout-ms",
       [](const tether::ServerOptions& o) -> uint64_t { return o.write_timeout_ms; }},
      {"linger-timeout-ms",
       [](const tether::ServerOptions& o) -> uint64_t { return o.linger_timeout_ms; }},
      {"drain-timeout-ms",
       [](const tether::ServerOptions& o) -> uint64_t { return o.drain_timeout_ms; }},
  };
  return kFlags;
}

TEST(Flags, EveryNumericFlagParsesWithSeparateValue) {
  for (const NumericFlag& nf : numeric_flags()) {
    ParsedFlags f = parse({std::string("--") + nf.name, "1234"});
    EXPECT_EQ(f.outcome, FlagsOutcome::Run) << nf.name << ": " << f.message;
    EXPECT_EQ(nf.get(f.options), 1234u) << nf.name;
  }
}

TEST(Flags, EveryNumericFlagParsesWithEquals) {
  for (const NumericFlag& nf : numeric_flags()) {
    ParsedFlags f = parse({std::string("--") + nf.name + "=4321"});
    EXPECT_EQ(f.outcome, FlagsOutcome::Run) << nf.name << ": " << f.message;
    EXPECT_EQ(nf.get(f.options), 4321u) << nf.name;
  }
}

TEST(Flags, AllFlagsTogether) {
  ParsedFlags f = parse({"--host", "::1", "--port=8081", "--loops", "2", "--workers=3",
                         "--max-body-bytes", "99", "--idle-timeout-ms=5", "--server-name", "demo"});
  ASSERT_EQ(f.outcome, FlagsOutcome::Run) << f.message;
  EXPECT_EQ(f.options.host, "::1");
  EXPECT_EQ(f.options.port, 8081);
  EXPECT_EQ(f.options.loops, 2u);
  EXPECT_EQ(f.options.workers, 3u);
  EXPECT_EQ(f.options.max_body_bytes, 99u);
  EXPECT_EQ(f.options.idle_timeout_ms, 5u);
  EXPECT_EQ(f.options.server_name, "demo");
}

TEST(Flags, StringFlagsParse) {
  ParsedFlags f = parse({"--host=0.0.0.0", "--server-name=my server"});
  ASSERT_EQ(f.outcome, FlagsOutcome::Run);
  EXPECT_EQ(f.options.host, "0.0.0.0");
  EXPECT_EQ(f.options.server_name, "my server");
}

TEST(Flags, ValueAfterEqualsMayContainEquals) {
  ParsedFlags f = parse({"--server-name=a=b"});
  ASSERT_EQ(f.outcome, FlagsOutcome::Run);
  EXPECT_EQ(f.options.server_name, "a=b");
}

TEST(Flags, SizeFlagTakes64BitValue) {
  ParsedFlags f = parse({"--max-body-bytes", "10000000000"});
  ASSERT_EQ(f.outcome, FlagsOutcome::Run) << f.message;
  EXPECT_EQ(f.options.max_body_bytes, 10000000000u);
}

TEST(Flags, UnknownFlagIsExit1WithOneLine) {
  ParsedFlags f = parse({"--bogus", "1"});
  EXPECT_EQ(f.outcome, FlagsOutcome::Exit1);
  EXPECT_TRUE(one_line(f.message)) << f.message;
  EXPECT_NE(f.message.find("--bogus"), std::string::npos) << f.message;
}

TEST(Flags, UnknownFlagWithEqualsIsExit1) {
  ParsedFlags f = parse({"--bogus=1"});
  EXPECT_EQ(f.outcome, FlagsOutcome::Exit1);
  EXPECT_TRUE(one_line(f.message)) << f.message;
}

TEST(Flags, PositionalArgumentIsExit1) {
  ParsedFlags f = parse({"8080"});
  EXPECT_EQ(f.outcome, FlagsOutcome::Exit1);
  EXPECT_TRUE(one_line(f.message)) << f.message;
}

TEST(Flags, SingleDashFlagIsExit1) {
  EXPECT_EQ(parse({"-port", "9"}).outcome, FlagsOutcome::Exit1);
}

TEST(Flags, MissingValueIsExit1) {
  ParsedFlags f = parse({"--port"});
  EXPECT_EQ(f.outcome, FlagsOutcome::Exit1);
  EXPECT_TRUE(one_line(f.message)) << f.message;
  EXPECT_NE(f.message.find("--port"), std::string::npos) << f.message;
}

TEST(Flags, MissingValueOfStringFlagIsExit1) {
  EXPECT_EQ(parse({"--port", "1", "--host"}).outcome, FlagsOutcome::Exit1);
}

TEST(Flags, NonNumericValueIsExit1) {
  ParsedFlags f = parse({"--port", "abc"});
  EXPECT_EQ(f.outcome, FlagsOutcome::Exit1);
  EXPECT_TRUE(one_line(f.message)) << f.message;
}

TEST(Flags, TrailingGarbageIsExit1) {
  EXPECT_EQ(parse({"--port", "9x"}).outcome, FlagsOutcome::Exit1);
  EXPECT_EQ(parse({"--port", "9 "}).outcome, FlagsOutcome::Exit1);
}

TEST(Flags, EmptyNumericValueIsExit1) {
  EXPECT_EQ(parse({"--port="}).outcome, FlagsOutcome::Exit1);
  EXPECT_EQ(parse({"--port", ""}).outcome, FlagsOutcome::Exit1);
}

TEST(Flags, NegativeValueIsExit1) {
  EXPECT_EQ(parse({"--port", "-1"}).outcome, FlagsOutcome::Exit1);
  EXPECT_EQ(parse({"--loops=-2"}).outcome, FlagsOutcome::Exit1);
}

TEST(Flags, PortOutOfRangeIsExit1) {
  ParsedFlags f = parse({"--port", "70000"});
  EXPECT_EQ(f.outcome, FlagsOutcome::Exit1);
  EXPECT_TRUE(one_line(f.message)) << f.message;
  EXPECT_EQ(parse({"--port=65536"}).outcome, FlagsOutcome::Exit1);
}

TEST(Flags, UnsignedOutOfRangeIsExit1) {
  EXPECT_EQ(parse({"--loops", "4294967296"}).outcome, FlagsOutcome::Exit1);
  EXPECT_EQ(parse({"--idle-timeout-ms", "4294967296"}).outcome, FlagsOutcome::Exit1);
  EXPECT_EQ(parse({"--idle-timeout-ms", "4294967295"}).outcome, FlagsOutcome::Run);
}

TEST(Flags, SixtyFourBitOverflowIsExit1) {
  EXPECT_EQ(parse({"--max-body-bytes", "18446744073709551616"}).outcome, FlagsOutcome::Exit1);
}

TEST(Flags, HelpIsExit0WithText) {
  ParsedFlags f = parse({"--help"});
  EXPECT_EQ(f.outcome, FlagsOutcome::Exit0);
  EXPECT_NE(f.message.find("usage"), std::string::npos);
  EXPECT_NE(f.message.find("--max-body-bytes"), std::string::npos);
  EXPECT_NE(f.message.find("--port"), std::string::npos);
  EXPECT_NE(f.message.find("--version"), std::string::npos);
}

TEST(Flags, HelpListsEveryNumericFlag) {
  ParsedFlags f = parse({"--help"});
  for (const NumericFlag& nf : numeric_flags()) {
    EXPECT_NE(f.message.find(std::string("--") + nf.name), std::string::npos) << nf.name;
  }
  EXPECT_NE(f.message.find("--host"), std::string::npos);
  EXPECT_NE(f.message.find("--server-name"), std::string::npos);
}

TEST(Flags, ShortHelpIsExit0) {
  EXPECT_EQ(parse({"-h"}).outcome, FlagsOutcome::Exit0);
}

TEST(Flags, HelpWinsOverLaterFlags) {
  EXPECT_EQ(parse({"--help", "--bogus"}).outcome, FlagsOutcome::Exit0);
}

TEST(Flags, VersionIsExit0WithText) {
  ParsedFlags f = parse({"--version"});
  EXPECT_EQ(f.outcome, FlagsOutcome::Exit0);
  EXPECT_EQ(f.message, std::string("tetherd ") + TETHER_VERSION_STRING + "\n");
  EXPECT_STREQ(tether::version(), TETHER_VERSION_STRING) << "headers and library disagree";
}

TEST(Flags, AccessLogTakesAPathOrDash) {
  EXPECT_TRUE(parse({}).access_log.empty());
  EXPECT_EQ(parse({"--access-log", "/tmp/a.log"}).access_log, "/tmp/a.log");
  ParsedFlags f = parse({"--access-log=-", "--port", "9"});
  EXPECT_EQ(f.outcome, FlagsOutcome::Run);
  EXPECT_EQ(f.access_log, "-");
  EXPECT_EQ(f.options.port, 9);
}

TEST(Flags, AccessLogWithoutAValueIsAnError) {
  ParsedFlags f = parse({"--access-log"});
  EXPECT_EQ(f.outcome, FlagsOutcome::Exit1);
  EXPECT_TRUE(one_line(f.message));
  EXPECT_EQ(parse({"--access-log="}).outcome, FlagsOutcome::Exit1);
}

TEST(Flags, HelpListsTheAccessLog) {
  EXPECT_NE(parse({"--help"}).message.find("--access-log PATH|-"), std::string::npos);
}

}  // namespace
