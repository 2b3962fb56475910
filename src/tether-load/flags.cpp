#include "tether-load/flags.hpp"

#include <charconv>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "tether/load/targets.hpp"
#include "tether/load/url.hpp"

namespace tether_load {
namespace {

constexpr const char* kHelp =
    "Usage: tether-load <options> <url>\n"
    "  Closed-loop HTTP/1.1 load: each connection keeps --pipeline requests in flight.\n"
    "\n"
    "Options:\n"
    "  -c, --connections <N>    Connections to keep open                 (10)\n"
    "  -t, --threads <N>        Threads (one event loop each)            (1)\n"
    "  -d, --duration <T>       Duration of the test: 10s, 500ms, 2m     (10s)\n"
    "      --timeout <T>        A request without its response after T fails (2s)\n"
    "      --pipeline <N>       Requests in flight per connection        (1)\n"
    "  -H, --header <H>         Add a header to every request: 'Name: value'\n"
    "  -m, --method <M>         Request method                           (GET)\n"
    "      --body <TEXT|@FILE>  Request body (sent with Content-Length)\n"
    "      --targets <FILE>     Requests from a file: METHOD TARGET [BODY] per line\n"
    "      --expect-status <L>  Statuses that count as success: 200,204,3xx (2xx,3xx)\n"
    "      --fail-if <COND>     Exit 2 when a condition holds: 'p99>5ms,errors>0'\n"
    "      --latency            Accepted for wrk compatibility (always printed)\n"
    "  -h, --help               This help\n"
    "\n"
    "  <url> is http://host[:port][/path]. Time arguments take a unit (us, ms, s, m, h);\n"
    "  a bare number is seconds. Responses with an unexpected status are errors, never\n"
    "  successes. Exit status: 0; 1 on a bad flag, a bad URL or an unreachable host; 2\n"
    "  when a --fail-if condition holds.\n";

bool parse_uint(std::string_view s, unsigned long max, unsigned& out) {
  unsigned long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > max) return false;
  out = static_cast<unsigned>(v);
  return true;
}

bool parse_status_list(std::string_view s, std::vector<uint16_t>& out) {
  while (!s.empty()) {
    const size_t comma = s.find(',');
    std::string_view item = s.substr(0, comma);
    s = comma == std::string_view::npos ? std::string_view() : s.substr(comma + 1);
    if (item.size() == 3 && (item[1] == 'x' || item[1] == 'X') &&
        (item[2] == 'x' || item[2] == 'X') && item[0] >= '1' && item[0] <= '9') {
      const auto base = static_cast<uint16_t>((item[0] - '0') * 100);
      for (uint16_t v = base; v < base + 100; ++v) out.push_back(v);
      continue;
    }
    unsigned v = 0;
    if (!parse_uint(item, 999, v) || v < 100) return false;
    out.push_back(static_cast<uint16_t>(v));
  }
  return !out.empty();
}

}  // namespace

bool parse_duration(const std::string& text, std::chrono::milliseconds& out) {
  std::string_view s = text;
  size_t digits = 0;
  while (digits < s.size() && ((s[digits] >= '0' && s[digits] <= '9') || s[digits] == '.')) {
    ++digits;
  }
  if (digits == 0) return false;
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + digits, v);
  if (ec != std::errc() || p != s.data() + digits) return false;
  std::string_view unit = s.substr(digits);
  double ms = 0;
  if (unit.empty() || unit == "s")
    ms = v * 1000;
  else if (unit == "ms")
    ms = v;
  else if (unit == "us")
    ms = v / 1000;
  else if (unit == "m")
    ms = v * 60'000;
  else if (unit == "h")
    ms = v * 3'600'000;
  else
    return false;
  if (ms < 1 || ms > 1e12) return false;
  out = std::chrono::milliseconds(static_cast<int64_t>(ms));
  return true;
}

ParsedFlags parse_flags(int argc, char** argv) {
  ParsedFlags f;
  auto fail = [&](std::string msg) {
    f.outcome = FlagsOutcome::Exit1;
    f.message = std::move(msg);
    return f;
  };
  std::string method = "GET";
  std::string body;
  bool has_body = false;
  std::string targets_file;
  tether::load::RequestHead head;
  std::vector<std::string> positional;

  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      f.outcome = FlagsOutcome::Exit0;
      f.message = kHelp;
      return f;
    }
    if (arg == "--latency") continue;
    if (arg.empty() || arg[0] != '-' || arg == "-") {
      positional.push_back(arg);
      continue;
    }
    // The flag's name and its value: "--name=value", "--name value", "-c64", "-c 64".
    std::string name = arg;
    std::string value;
    bool have_value = false;
    if (arg.rfind("--", 0) == 0) {
      if (size_t eq = arg.find('='); eq != std::string::npos) {
        name = arg.substr(0, eq);
        value = arg.substr(eq + 1);
        have_value = true;
      }
    } else if (arg.size() > 2) {
      name = arg.substr(0, 2);
      value = arg.substr(2);
      have_value = true;
    }
    static const std::pair<const char*, const char*> kShort[] = {{"-c", "--connections"},
                                                                 {"-t", "--threads"},
                                                                 {"-d", "--duration"},
                                                                 {"-H", "--header"},
                                                                 {"-m", "--method"}};
    for (const auto& [s, l] : kShort) {
      if (name == s) name = l;
    }
    static const char* const kKnown[] = {
        "--connections", "--threads", "--duration", "--timeout",       "--pipeline", "--header",
        "--method",      "--body",    "--targets",  "--expect-status", "--fail-if"};
    bool known = false;
    for (const char* k : kKnown) known = known || name == k;
    if (!known) return fail("unknown flag '" + arg + "' (see --help)");
    if (!have_value) {
      if (i + 1 >= argc) return fail(name + " needs a value");
      value = argv[++i];
    }
    auto& o = f.run;
    if (name == "--connections") {
      if (!parse_uint(value, 1'000'000, o.connections) || o.connections == 0)
        return fail("--connections: '" + value + "' is not a number of connections >= 1");
    } else if (name == "--threads") {
      if (!parse_uint(value, 1024, o.threads) || o.threads == 0)
        return fail("--threads: '" + value + "' is not a number of threads in 1..1024");
    } else if (name == "--pipeline") {
      if (!parse_uint(value, 4096, o.pipeline) || o.pipeline == 0)
        return fail("--pipeline: '" + value + "' is not a depth in 1..4096");
    } else if (name == "--duration") {
      if (!parse_duration(value, o.duration))
        return fail("--duration: '" + value + "' is not a duration (10s, 500ms, 2m)");
    } else if (name == "--timeout") {
      if (!parse_duration(value, o.timeout))
        return fail("--timeout: '" + value + "' is not a duration (2s, 500ms)");
    } else if (name == "--header") {
      const size_t colon = value.find(':');
      if (colon == std::string::npos || colon == 0)
        return fail("--header: '" + value + "' is not 'Name: value'");
      std::string v = value.substr(colon + 1);
      const size_t start = v.find_first_not_of(" \t");
      v = start == std::string::npos ? "" : v.substr(start);
      head.headers.emplace_back(value.substr(0, colon), v);
    } else if (name == "--method") {
      if (value.empty() ||
          value.find_first_not_of("!#$%&'*+-.^_`|~0123456789"
                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "abcdefghijklmnopqrstuvwxyz") != std::string::npos)
        return fail("--method: '" + value + "' is not an HTTP method");
      method = value;
    } else if (name == "--body") {
      body = value;
      has_body = true;
    } else if (name == "--targets") {
      targets_file = value;
    } else if (name == "--fail-if") {
      tether::load::FailIfParse p = tether::load::parse_fail_if(value);
      if (!p.ok()) return fail("--fail-if: " + p.error);
      for (auto& c : p.conditions) f.fail_if.push_back(std::move(c));
    } else if (name == "--expect-status") {
      o.expect_status.clear();
      if (!parse_status_list(value, o.expect_status))
        return fail("--expect-status: '" + value + "' is not a list of statuses (200,204,3xx)");
    }
  }
  if (positional.empty())
    return fail("no URL given (usage: tether-load [options] http://host:port/path)");
  if (positional.size() > 1) return fail("one URL only, found '" + positional[1] + "' as well");
  f.url = positional[0];
  tether::load::UrlParse u = tether::load::parse_url(f.url);
  if (!u.ok()) return fail(u.error);
  f.run.host = u.url.host;
  f.run.port = u.url.port;
  if (f.run.threads > f.run.connections)
    return fail("--connections (" + std::to_string(f.run.connections) +
                ") must be at least --threads (" + std::to_string(f.run.threads) + ")");

  std::vector<tether::load::TargetSpec> specs;
  if (!targets_file.empty()) {
    tether::load::TargetsParse t = tether::load::load_targets(targets_file);
    if (!t.ok()) return fail(t.error);
    specs = std::move(t.targets);
  } else {
    tether::load::TargetSpec spec;
    spec.method = method;
    spec.target = u.url.target;
    if (has_body) {
      spec.has_body = true;
      if (!body.empty() && body[0] == '@') {
        tether::load::TargetsParse t =
            tether::load::parse_targets(method + " " + u.url.target + " " + body, "--body", ".");
        if (!t.ok()) return fail(t.error);
        spec.body = std::move(t.targets[0].body);
      } else {
        spec.body = body;
      }
    }
    specs.push_back(std::move(spec));
  }
  head.host = u.url.authority;
  tether::load::PreparedRequests p = tether::load::serialize_targets(specs, head);
  if (!p.ok()) return fail(p.error);
  f.run.requests = std::move(p.requests);
  return f;
}

}  // namespace tether_load
