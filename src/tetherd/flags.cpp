#include "tetherd/flags.hpp"

#include <charconv>
#include <cstdint>
#include <limits>
#include <string_view>
#include <type_traits>
#include <variant>

#include "tether/version.hpp"

namespace tetherd {
namespace {

// uint32_t and unsigned are one type on the platforms tether supports.
static_assert(std::is_same_v<uint32_t, unsigned>);
using Field = std::variant<std::string tether::ServerOptions::*, uint16_t tether::ServerOptions::*,
                           unsigned tether::ServerOptions::*, size_t tether::ServerOptions::*>;

struct Flag {
  const char* name;
  Field field;
  const char* help;
};

const Flag kFlags[] = {
    {"host", &tether::ServerOptions::host, "address to listen on"},
    {"port", &tether::ServerOptions::port, "TCP port (0 = ephemeral)"},
    {"loops", &tether::ServerOptions::loops, "event-loop threads (SO_REUSEPORT when > 1)"},
    {"workers", &tether::ServerOptions::workers, "worker-pool threads (0 = hardware threads)"},
    {"queue", &tether::ServerOptions::queue, "worker-pool queue length (503 past it)"},
    {"backlog", &tether::ServerOptions::backlog, "listen backlog"},
    {"max-connections", &tether::ServerOptions::max_connections,
     "open connections per loop (503 past it)"},
    {"max-head-bytes", &tether::ServerOptions::max_head_bytes,
     "request line + headers (431 past it)"},
    {"max-target-bytes", &tether::ServerOptions::max_target_bytes, "request target (414 past it)"},
    {"max-headers", &tether::ServerOptions::max_headers, "header fields per request (431 past it)"},
    {"max-body-bytes", &tether::ServerOptions::max_body_bytes, "request body (413 past it)"},
    {"max-pipelined", &tether::ServerOptions::max_pipelined,
     "unanswered requests per connection before it stops reading"},
    {"write-high-water", &tether::ServerOptions::write_high_water,
     "unsent bytes per connection before it stops reading"},
    {"header-timeout-ms", &tether::ServerOptions::header_timeout_ms,
     "first byte to end of head (408 past it)"},
    {"body-timeout-ms", &tether::ServerOptions::body_timeout_ms,
     "gap between body reads (408 past it)"},
    {"idle-timeout-ms", &tether::ServerOptions::idle_timeout_ms,
     "idle keep-alive connection is closed after it"},
    {"write-timeout-ms", &tether::ServerOptions::write_timeout_ms,
     "stalled response write closes after it"},
    {"linger-timeout-ms", &tether::ServerOptions::linger_timeout_ms,
     "draining input after the last response"},
    {"response-timeout-ms", &tether::ServerOptions::response_timeout_ms,
     "unanswered request gets 504 after it (0 = never)"},
    {"drain-timeout-ms", &tether::ServerOptions::drain_timeout_ms, "graceful shutdown limit"},
    {"sse-heartbeat-ms", &tether::ServerOptions::sse_heartbeat_ms,
     "comment line on an idle event stream after it (0 = never)"},
    {"stream-window-bytes", &tether::ServerOptions::stream_window_bytes,
     "bytes a worker stream producer may have in flight (0 = 2 x write-high-water)"},
    {"topic-subscriber-max-bytes", &tether::ServerOptions::topic_subscriber_max_bytes,
     "unsent bytes past which a topic subscriber is closed"},
    {"mailbox-max-ids", &tether::ServerOptions::mailbox_max_ids,
     "mailbox ids held at once (503 past it)"},
    {"mailbox-max-value-bytes", &tether::ServerOptions::mailbox_max_value_bytes,
     "mailbox value size (413 past it)"},
    {"mailbox-max-waiters-per-id", &tether::ServerOptions::mailbox_max_waiters_per_id,
     "parked waiters per id (503 past it)"},
    {"mailbox-ttl-ms", &tether::ServerOptions::mailbox_ttl_ms, "an untaken value expires after it"},
    {"mailbox-max-wait-ms", &tether::ServerOptions::mailbox_max_wait_ms, "cap on a GET's wait_ms"},
    {"mailbox-redis", &tether::ServerOptions::mailbox_redis,
     "the mailbox in Redis, shared by instances: redis://[:PASSWORD@]HOST[:PORT][/DB]\n"
     "                        or unix:///PATH[?db=N]; the password may come from\n"
     "                        TETHER_REDIS_PASSWORD instead, and is never logged"},
    {"mailbox-redis-timeout-ms", &tether::ServerOptions::mailbox_redis_timeout_ms,
     "a Redis command of the mailbox answers within it, or the request gets 503"},
    {"mailbox-redis-transit-ms", &tether::ServerOptions::mailbox_redis_transit_ms,
     "a value handed to a waiter on an instance that died returns to its id after it"},
    {"server-name", &tether::ServerOptions::server_name, "Server header value"},
};

template <class T>
bool parse_number(std::string_view s, T& out) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > std::numeric_limits<T>::max())
    return false;
  out = static_cast<T>(v);
  return true;
}

std::string help_text() {
  std::string s =
      "usage: tetherd [--flag value | --flag=value]...\n"
      "HTTP/1.1 server built on tether.\n\n"
      "demo routes:\n"
      "  GET /plaintext, GET /json, GET /healthz   fixed small answers\n"
      "  any method on /                          echoes the request body\n"
      "  GET /work?ms=N, GET /sleep?ms=N, GET /fanout?n=K&ms=N   work on the pool\n"
      "  POST, GET (?wait_ms=N), DELETE /mailbox/{id}           the mailbox\n"
      "  GET /stream?bytes=N&chunk=K   N bytes ('a' + i % 26), streamed in pieces of K\n"
      "  GET /events?n=K&interval_ms=M K server-sent events 'data: <i>' (n=0: endless)\n"
      "  GET /stream/worker?bytes=N&chunk=K   the same bytes, produced on the worker pool\n"
      "  GET /topic/{name}             follow a topic as server-sent events\n"
      "  POST /topic/{name}            publish the request body as one event (202)\n"
      "  POST /upload                  streams the body in, answers its size and CRC-32\n"
      "  GET /metrics                  Prometheus text\n\nflags:\n";
  tether::ServerOptions defaults;
  for (const Flag& f : kFlags) {
    std::string def = std::visit(
        [&](auto field) -> std::string {
          using T = std::decay_t<decltype(defaults.*field)>;
          if constexpr (std::is_same_v<T, std::string>)
            return defaults.*field;
          else
            return std::to_string(defaults.*field);
        },
        f.field);
    std::string name = std::string("  --") + f.name;
    name.resize(std::max<size_t>(name.size() + 1, 24), ' ');
    s += name + f.help + (def.empty() ? " (default: none)\n" : " (default " + def + ")\n");
  }
  s += "  --max-upload-bytes    POST /upload body (413 past it) (default " +
       std::to_string(DemoSettings{}.max_upload_bytes) + ")\n";
  s += "  --access-log PATH|-    access log in nginx's combined format, appended to PATH or\n"
       "                        written to standard output (default: none)\n";
  s += "  --help                show this help\n  --version             print the version\n";
  return s;
}

}  // namespace

ParsedFlags parse_flags(int argc, char** argv) {
  ParsedFlags r;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      r.outcome = FlagsOutcome::Exit0;
      r.message = help_text();
      return r;
    }
    if (arg == "--version") {
      r.outcome = FlagsOutcome::Exit0;
      r.message = std::string("tetherd ") + tether::version() + "\n";
      return r;
    }
    if (arg.substr(0, 2) != "--") {
      r.outcome = FlagsOutcome::Exit1;
      r.message = "tetherd: unexpected argument '" + std::string(arg) + "' (see --help)";
      return r;
    }
    std::string_view name = arg.substr(2), value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (name == "access-log") {
      if (!has_value) {
        if (i + 1 >= argc) {
          r.outcome = FlagsOutcome::Exit1;
          r.message = "tetherd: flag --access-log needs a value";
          return r;
        }
        value = argv[++i];
      }
      if (value.empty()) {
        r.outcome = FlagsOutcome::Exit1;
        r.message = "tetherd: bad value '' for --access-log";
        return r;
      }
      r.access_log = std::string(value);
      continue;
    }
    const Flag* flag = nullptr;
    for (const Flag& f : kFlags) {
      if (name == f.name) flag = &f;
    }
    const bool upload = name == "max-upload-bytes";
    if (!flag && !upload) {
      r.outcome = FlagsOutcome::Exit1;
      r.message = "tetherd: unknown flag --" + std::string(name) + " (see --help)";
      return r;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        r.outcome = FlagsOutcome::Exit1;
        r.message = "tetherd: flag --" + std::string(name) + " needs a value";
        return r;
      }
      value = argv[++i];
    }
    bool ok = upload ? parse_number(value, r.demo.max_upload_bytes)
                     : std::visit(
                           [&](auto field) -> bool {
                             auto& dst = r.options.*field;
                             using T = std::decay_t<decltype(dst)>;
                             if constexpr (std::is_same_v<T, std::string>) {
                               dst = std::string(value);
                               return true;
                             } else {
                               return parse_number(value, dst);
                             }
                           },
                           flag->field);
    if (!ok) {
      r.outcome = FlagsOutcome::Exit1;
      r.message = "tetherd: bad value '" + std::string(value) + "' for --" + std::string(name);
      return r;
    }
  }
  return r;
}

}  // namespace tetherd
