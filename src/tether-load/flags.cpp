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
    "       tether-load plot <run.json>... -o <out.svg>\n"
    "  HTTP/1.1 load. Closed loop: each connection keeps --pipeline requests in flight.\n"
    "  Open loop (--rate): requests leave at their intended times whatever the server\n"
    "  does, and latency counts from then (coordinated omission corrected).\n"
    "\n"
    "Options:\n"
    "  -c, --connections <N>    Connections to keep open                 (10)\n"
    "  -t, --threads <N>        Threads (one event loop each)            (1)\n"
    "  -d, --duration <T>       Duration of the test: 10s, 500ms, 2m     (10s)\n"
    "      --timeout <T>        A request without its response after T fails (2s)\n"
    "      --pipeline <N>       Requests in flight per connection        (1)\n"
    "      --rate <R>           Open loop: R requests/s in total\n"
    "      --poisson            With --rate: exponential gaps between requests\n"
    "      --warmup <T>         Send for T first and leave it out of the results\n"
    "      --random             Pick requests (--targets) at random, not round robin\n"
    "      --seed <N>           Seed of --random and --poisson           (1)\n"
    "  -H, --header <H>         Add a header to every request: 'Name: value'\n"
    "  -m, --method <M>         Request method                           (GET)\n"
    "      --body <TEXT|@FILE>  Request body (sent with Content-Length)\n"
    "      --targets <FILE>     Requests from a file: METHOD TARGET [BODY] per line\n"
    "      --expect-status <L>  Statuses that count as success: 200,204,3xx (2xx,3xx)\n"
    "      --expect-body <B>    Every response body must be B (TEXT or @FILE)\n"
    "      --expect-bytes <N>   Every response body must be N bytes long\n"
    "      --fail-if <COND>     Exit 2 when a condition holds: 'p99>5ms,errors>0'\n"
    "      --json <FILE>        Write the results as JSON (schema tether-load/1)\n"
    "      --csv <FILE>         Write the per-second series as CSV\n"
    "      --svg <FILE>         Draw the latency spectrum and throughput/p99 over time\n"
    "      --scenario mailbox   Park --waiters long polls on /mailbox/{id}, post their\n"
    "                           values, check each waiter gets its own; handoff latency\n"
    "      --waiters <N>        Waiters of --scenario mailbox            (1000)\n"
    "      --latency            Accepted for wrk compatibility (always printed)\n"
    "  -h, --help               This help\n"
    "\n"
    "  <url> is http://host[:port][/path]. Time arguments take a unit (us, ms, s, m, h);\n"
    "  a bare number is seconds. Responses with an unexpected status or body are errors,\n"
    "  never successes. A progress line is printed each second on a terminal. Exit\n"
    "  status: 0; 1 on a bad flag, a bad URL or an unreachable host; 2 when a --fail-if\n"
    "  condition holds or the mailbox scenario finds a value lost or misdelivered.\n";

constexpr const char* kPlotHelp =
    "Usage: tether-load plot <run.json>... -o <out.svg>\n"
    "  Overlays runs saved with --json: their latency spectra on a log axis and their\n"
    "  throughput and p99 over time, one colour per run, labelled by file name.\n";

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
  std::string expect_body;
  bool has_expect_body = false;

  if (argc > 1 && std::strcmp(argv[1], "plot") == 0) {
    f.command = Command::Plot;
    for (int i = 2; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "-h" || arg == "--help") {
        f.outcome = FlagsOutcome::Exit0;
        f.message = kPlotHelp;
        return f;
      }
      if (arg == "-o" || arg == "--output") {
        if (i + 1 >= argc) return fail("plot: " + arg + " needs a file");
        f.plot_output = argv[++i];
      } else if (arg.rfind("-o", 0) == 0 && arg.size() > 2) {
        f.plot_output = arg.substr(2);
      } else if (!arg.empty() && arg[0] == '-') {
        return fail("plot: unknown flag '" + arg + "' (see tether-load plot --help)");
      } else {
        f.plot_inputs.push_back(arg);
      }
    }
    if (f.plot_inputs.empty()) return fail("plot: no run given (tether-load plot a.json -o a.svg)");
    if (f.plot_output.empty()) return fail("plot: no output given (-o out.svg)");
    return f;
  }

  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      f.outcome = FlagsOutcome::Exit0;
      f.message = kHelp;
      return f;
    }
    if (arg == "--latency") continue;
    if (arg == "--poisson") {
      f.run.poisson = true;
      continue;
    }
    if (arg == "--random") {
      f.run.random_order = true;
      continue;
    }
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
        "--connections", "--threads",  "--duration",    "--timeout",       "--pipeline", "--header",
        "--method",      "--body",     "--targets",     "--expect-status", "--fail-if",  "--rate",
        "--warmup",      "--seed",     "--expect-body", "--expect-bytes",  "--json",     "--csv",
        "--svg",         "--scenario", "--waiters"};
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
        return fail("--connections: '" + value + "' is not a number of connections in 1..1000000");
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
    } else if (name == "--rate") {
      double r = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), r);
      if (ec != std::errc() || p != value.data() + value.size() || !(r > 0) || r > 1e9)
        return fail("--rate: '" + value + "' is not a rate in requests/s (> 0)");
      o.rate = r;
    } else if (name == "--warmup") {
      if (!parse_duration(value, o.warmup))
        return fail("--warmup: '" + value + "' is not a duration (2s, 500ms)");
    } else if (name == "--seed") {
      unsigned long long v = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc() || p != value.data() + value.size())
        return fail("--seed: '" + value + "' is not a number");
      o.seed = v;
    } else if (name == "--expect-body") {
      expect_body = value;
      has_expect_body = true;
    } else if (name == "--expect-bytes") {
      unsigned long long v = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc() || p != value.data() + value.size() || v > (1ULL << 62))
        return fail("--expect-bytes: '" + value + "' is not a number of bytes");
      o.expect_body_bytes = static_cast<int64_t>(v);
    } else if (name == "--json") {
      f.json_path = value;
    } else if (name == "--csv") {
      f.csv_path = value;
    } else if (name == "--svg") {
      f.svg_path = value;
    } else if (name == "--scenario") {
      if (value != "mailbox")
        return fail("--scenario: '" + value + "' is not a scenario (mailbox)");
      f.command = Command::Mailbox;
    } else if (name == "--waiters") {
      if (!parse_uint(value, 1'000'000, f.waiters) || f.waiters == 0)
        return fail("--waiters: '" + value + "' is not a number of waiters >= 1");
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
  if (has_expect_body) {
    std::string want = expect_body;
    if (!want.empty() && want[0] == '@') {
      tether::load::TargetsParse t =
          tether::load::parse_targets("GET / " + want, "--expect-body", ".");
      if (!t.ok()) return fail(t.error);
      want = std::move(t.targets[0].body);
    }
    f.run.expect_bodies.assign(f.run.requests.size(), want);
  }
  if (f.run.expect_body_bytes >= 0 && has_expect_body &&
      static_cast<uint64_t>(f.run.expect_body_bytes) != f.run.expect_bodies[0].size())
    return fail("--expect-bytes disagrees with the length of --expect-body");
  return f;
}

}  // namespace tether_load
