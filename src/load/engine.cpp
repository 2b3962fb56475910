// run(): one core Loop per thread, a ClientLoop attached to each, connections sharded, the
// per-loop results merged once every thread is joined.
#include "tether/load/engine.hpp"

#include <uv.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>

#include "core/loop.hpp"
#include "load/address.hpp"
#include "load/client_loop.hpp"

namespace tether::load {
namespace {

using tether::detail::Loop;

constexpr unsigned kMaxPipeline = 4096;
constexpr double kMaxRatePerLoop = 5'000'000;

std::string make_plan(const RunOptions& o, detail::Plan& plan) {
  if (o.connections == 0) return "connections must be at least 1";
  if (o.threads == 0) return "threads must be at least 1";
  if (o.pipeline == 0 || o.pipeline > kMaxPipeline) {
    return "pipeline must be between 1 and " + std::to_string(kMaxPipeline);
  }
  if (o.duration.count() <= 0) return "duration must be positive";
  if (o.timeout.count() <= 0) return "timeout must be positive";
  if (o.warmup.count() < 0) return "warmup must not be negative";
  if (!(o.rate >= 0) || std::isinf(o.rate)) return "rate must be a positive number";
  if (o.poisson && o.rate == 0) return "poisson needs a rate";
  // One loop writes a few million requests a second at most: a schedule far beyond that
  // measures only the generator (and its queue of due requests).
  const unsigned loops = std::min(o.threads, o.connections);
  if (o.rate > kMaxRatePerLoop * loops) {
    return "rate " + std::to_string(static_cast<uint64_t>(o.rate)) + " is more than " +
           std::to_string(loops) + " thread(s) can send (at most " +
           std::to_string(static_cast<uint64_t>(kMaxRatePerLoop)) + " requests/s each)";
  }
  if (o.expect_body_bytes < -1) return "expect_body_bytes must be -1 (not checked) or a length";
  plan.requests = o.requests;
  if (plan.requests.empty()) {
    plan.requests.push_back("GET / HTTP/1.1\r\nHost: " + detail::authority_of(o.host, o.port) +
                            "\r\n\r\n");
  }
  for (const std::string& r : plan.requests) {
    if (r.empty()) return "a request is empty";
    plan.is_head.push_back(r.rfind("HEAD ", 0) == 0);
  }
  if (!o.expect_bodies.empty() && o.expect_bodies.size() != plan.requests.size()) {
    return "expect_bodies must have one body per request";
  }
  plan.expect_bodies = o.expect_bodies;
  plan.expect_body_bytes = o.expect_body_bytes;
  if (o.expect_status.empty()) {
    for (unsigned s = 200; s < 400; ++s) plan.expect_status.set(s);
  } else {
    for (uint16_t s : o.expect_status) {
      if (s < 100 || s > 999) return "expected status " + std::to_string(s) + " is not a status";
      plan.expect_status.set(s);
    }
  }
  plan.pipeline = o.pipeline;
  plan.tape.build(plan.requests, o.pipeline);
  plan.duration_ms = static_cast<uint64_t>(o.duration.count());
  plan.warmup_ms = static_cast<uint64_t>(o.warmup.count());
  plan.timeout_ms = static_cast<uint64_t>(o.timeout.count());
  plan.rate = o.rate;
  plan.poisson = o.poisson;
  plan.random_order = o.random_order;
  plan.seed = o.seed;
  plan.connections = o.connections;
  return detail::resolve(o.host, o.port, plan.addr);
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

/// The seconds of every loop, merged second by second (their histograms exactly).
std::vector<Interval> merge_intervals(const std::vector<detail::ClientLoop*>& clients) {
  size_t seconds = 0;
  for (detail::ClientLoop* c : clients) {
    for (const detail::IntervalPart& p : c->result().intervals)
      seconds = std::max<size_t>(seconds, p.second + 1);
  }
  std::vector<Interval> out(seconds);
  Histogram latency;
  Histogram service;
  for (size_t s = 0; s < seconds; ++s) {
    latency.reset();
    service.reset();
    Interval& i = out[s];
    i.second = static_cast<uint32_t>(s);
    for (detail::ClientLoop* c : clients) {
      for (const detail::IntervalPart& p : c->result().intervals) {
        if (p.second != s) continue;
        i.requests += p.requests;
        i.errors += p.errors;
        for (const auto& [v, n] : p.latency) latency.record_n(static_cast<int64_t>(v), n);
        // A closed loop keeps no service times apart: they are the latencies.
        const auto& times = p.service.empty() ? p.latency : p.service;
        for (const auto& [v, n] : times) service.record_n(static_cast<int64_t>(v), n);
      }
    }
    i.p50_us = latency.value_at_percentile(50);
    i.p90_us = latency.value_at_percentile(90);
    i.p99_us = latency.value_at_percentile(99);
    i.max_us = latency.max();
    i.service_p99_us = service.value_at_percentile(99);
  }
  return out;
}

/// Calls on_progress about once a second until the run's time is up (the loops then drain
/// by themselves; join waits for that).
void report_progress(const RunOptions& o, const std::vector<detail::ClientLoop*>& clients) {
  using namespace std::chrono;
  const auto begin = steady_clock::now();
  const auto total = o.warmup + o.duration;
  uint64_t completed_before = 0;
  for (auto next = begin + seconds(1); next < begin + total; next += seconds(1)) {
    std::this_thread::sleep_until(next);
    RunOptions::Progress p;
    bool measuring = true;
    for (detail::ClientLoop* c : clients) {
      const detail::LiveCounters& l = c->live();
      measuring = measuring && l.measuring.load(std::memory_order_relaxed);
      p.requests += l.requests.load(std::memory_order_relaxed);
      p.errors += l.errors.load(std::memory_order_relaxed);
      p.last_second_requests += l.completed.load(std::memory_order_relaxed);
      p.last_second_p99_us =
          std::max(p.last_second_p99_us, l.last_second_p99_us.load(std::memory_order_relaxed));
    }
    // Successes over the last second, the warmup's included (sampled every 10 ms).
    const uint64_t completed = p.last_second_requests;
    p.last_second_requests = completed - completed_before;
    completed_before = completed;
    p.warming_up = !measuring;
    const auto since = duration_cast<milliseconds>(steady_clock::now() - begin);
    p.elapsed = measuring ? std::max(milliseconds(0), since - o.warmup) : since;
    o.on_progress(p);
  }
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
  plan.epoch_ns = uv_hrtime();
  for (auto& l : loops) l->start();
  if (options.on_progress) report_progress(options, clients);
  for (auto& l : loops) l->join();
  result.threads = threads;
  result.target_rate = options.rate;
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
    result.service.merge(r.service);
    result.intended += r.intended;
    if (result.error.empty()) result.error = r.error;
    start = std::min(start, r.start_ns);
    end = std::max(end, r.end_ns);
  }
  if (end > start) result.elapsed = std::chrono::nanoseconds(end - start);
  result.intervals = merge_intervals(clients);
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
  const bool open = o.rate > 0;
  if (open) {
    s += "  Open loop at " + printf_string("%.2f", o.rate) + " requests/s" +
         (o.poisson ? " (Poisson)" : "") + ": " + std::to_string(r.intended) +
         " intended; latency from the intended send time, service time from the write\n";
  }
  s += "  Latency     avg " + format_latency_us(h.mean()) + "   max " +
       format_latency_us(static_cast<double>(h.max())) + "\n";
  s += open ? "  Latency Distribution (corrected / service)\n" : "  Latency Distribution\n";
  struct Row {
    const char* label;
    double p;
  };
  for (const Row& row : {Row{"    50%", 50}, Row{"    90%", 90}, Row{"    99%", 99},
                         Row{"  99.9%", 99.9}, Row{" 99.99%", 99.99}, Row{"    max", 100}}) {
    s += "   ";
    s += row.label;
    std::string v = format_latency_us(static_cast<double>(h.value_at_percentile(row.p)));
    s += "  " + v;
    if (open) {
      s += std::string(v.size() < 10 ? 10 - v.size() : 1, ' ') +
           format_latency_us(static_cast<double>(r.service.value_at_percentile(row.p)));
    }
    s += "\n";
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
