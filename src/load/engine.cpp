// run(): one core Loop per thread, a ClientLoop attached to each, connections sharded, the
// per-loop results merged once every thread is joined.
#include "tether/load/engine.hpp"

#include <netdb.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/loop.hpp"
#include "load/client_loop.hpp"

namespace tether::load {
namespace {

using tether::detail::Loop;

constexpr unsigned kMaxPipeline = 4096;

std::string host_header(const std::string& host, uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

/// Resolves `host` once, before the run; the first address wins.
std::string resolve(const std::string& host, uint16_t port, sockaddr_storage& out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    return "cannot resolve host '" + host + "': " + gai_strerror(rc);
  }
  std::memcpy(&out, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return {};
}

std::string make_plan(const RunOptions& o, detail::Plan& plan) {
  if (o.connections == 0) return "connections must be at least 1";
  if (o.threads == 0) return "threads must be at least 1";
  if (o.pipeline == 0 || o.pipeline > kMaxPipeline) {
    return "pipeline must be between 1 and " + std::to_string(kMaxPipeline);
  }
  if (o.duration.count() <= 0) return "duration must be positive";
  if (o.timeout.count() <= 0) return "timeout must be positive";
  plan.requests = o.requests;
  if (plan.requests.empty()) {
    plan.requests.push_back("GET / HTTP/1.1\r\nHost: " + host_header(o.host, o.port) + "\r\n\r\n");
  }
  for (const std::string& r : plan.requests) {
    if (r.empty()) return "a request is empty";
    plan.is_head.push_back(r.rfind("HEAD ", 0) == 0);
  }
  if (!o.expect_bodies.empty() && o.expect_bodies.size() != plan.requests.size()) {
    return "expect_bodies must have one body per request";
  }
  plan.expect_bodies = o.expect_bodies;
  if (o.expect_status.empty()) {
    for (unsigned s = 200; s < 400; ++s) plan.expect_status.set(s);
  } else {
    for (uint16_t s : o.expect_status) {
      if (s < 100 || s > 999) return "expected status " + std::to_string(s) + " is not a status";
      plan.expect_status.set(s);
    }
  }
  plan.pipeline = o.pipeline;
  plan.duration_ms = static_cast<uint64_t>(o.duration.count());
  plan.timeout_ms = static_cast<uint64_t>(o.timeout.count());
  return resolve(o.host, o.port, plan.addr);
}

std::string printf_string(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string format_bytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  size_t u = 0;
  while (b >= 1024 && u + 1 < std::size(units)) {
    b /= 1024;
    ++u;
  }
  return printf_string("%.2f", b) + units[u];
}

std::string format_duration_ms(int64_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace

uint64_t RunResult::errors_total() const noexcept {
  uint64_t n = 0;
  for (uint64_t e : errors) n += e;
  return n;
}

double RunResult::rps() const noexcept {
  const double s = std::chrono::duration<double>(elapsed).count();
  return s > 0 ? static_cast<double>(requests) / s : 0;
}

RunResult run(const RunOptions& options) {
  RunResult result;
  result.connections_requested = options.connections;
  detail::Plan plan;
  if (std::string e = make_plan(options, plan); !e.empty()) {
    result.error = std::move(e);
    return result;
  }
  const unsigned threads = std::min(options.threads, options.connections);
  // The drain waits for the responses still in flight for as long as one request may take.
  const auto drain_ms = static_cast<uint32_t>(plan.timeout_ms);
  std::vector<std::unique_ptr<Loop>> loops;
  std::vector<detail::ClientLoop*> clients;
  for (unsigned i = 0; i < threads; ++i) {
    auto loop = std::make_unique<Loop>(i, drain_ms);
    if (!loop->init_status()) {
      result.error = loop->init_status().message();
      return result;
    }
    const unsigned share = options.connections / threads + (i < options.connections % threads);
    clients.push_back(&detail::ClientLoop::attach(*loop, plan, share));
    loops.push_back(std::move(loop));
  }
  for (auto& l : loops) l->start();
  for (auto& l : loops) l->join();
  result.threads = threads;
  uint64_t start = UINT64_MAX;
  uint64_t end = 0;
  for (detail::ClientLoop* c : clients) {
    detail::LoopResult& r = c->result();
    result.requests += r.requests;
    for (size_t k = 0; k < kErrorKindCount; ++k) result.errors[k] += r.errors[k];
    result.bytes_read += r.bytes_read;
    result.bytes_written += r.bytes_written;
    result.connections_established += r.established;
    result.latency.merge(r.latency);
    start = std::min(start, r.start_ns);
    end = std::max(end, r.end_ns);
  }
  if (end > start) result.elapsed = std::chrono::nanoseconds(end - start);
  return result;
}

std::string format_latency_us(double us) {
  if (us < 1000) return printf_string("%.2fus", us);
  if (us < 1'000'000) return printf_string("%.2fms", us / 1000);
  return printf_string("%.2fs", us / 1'000'000);
}

std::string format_summary(const RunOptions& o, const RunResult& r, const std::string& url) {
  std::string s;
  s += "Running " + format_duration_ms(o.duration.count()) + " test @ " + url + "\n";
  s += "  " + std::to_string(r.threads) + " threads and " +
       std::to_string(r.connections_requested) + " connections (" +
       std::to_string(r.connections_established) + " established)";
  if (o.pipeline > 1) s += ", pipeline " + std::to_string(o.pipeline);
  s += "\n";
  const Histogram& h = r.latency;
  s += "  Latency     avg " + format_latency_us(h.mean()) + "   max " +
       format_latency_us(static_cast<double>(h.max())) + "\n";
  s += "  Latency Distribution\n";
  struct Row {
    const char* label;
    double p;
  };
  for (const Row& row : {Row{"    50%", 50}, Row{"    90%", 90}, Row{"    99%", 99},
                         Row{"  99.9%", 99.9}, Row{" 99.99%", 99.99}, Row{"    max", 100}}) {
    s += "   ";
    s += row.label;
    s += "  " + format_latency_us(static_cast<double>(h.value_at_percentile(row.p))) + "\n";
  }
  const double secs = std::chrono::duration<double>(r.elapsed).count();
  s += "  " + std::to_string(r.requests) + " requests in " + printf_string("%.2fs", secs) + ", " +
       format_bytes(static_cast<double>(r.bytes_read)) + " read\n";
  if (r.errors_total() > 0) {
    s += "  Errors:";
    for (size_t k = 0; k < kErrorKindCount; ++k) {
      s += std::string(k == 0 ? " " : ", ") +
           std::string(error_kind_name(static_cast<ErrorKind>(k))) + " " +
           std::to_string(r.errors[k]);
    }
    s += "\n";
  }
  s += "Requests/sec: " + printf_string("%.2f", r.rps()) + "\n";
  s += "Transfer/sec: " + format_bytes(secs > 0 ? static_cast<double>(r.bytes_read) / secs : 0) +
       "\n";
  return s;
}

}  // namespace tether::load
