// The load generator's engine: a closed-loop run of HTTP/1.1 requests against one server.
//
// run() starts one reactor loop per thread (the same core Loop as the server), shards the
// connections across them, and on each connection keeps `pipeline` requests in flight:
// every complete response sends the next request. Requests are serialized before the run
// (serialize_targets) and sent round robin; responses are parsed with llhttp
// (Content-Length, chunked, close-delimited) and checked. A request counts as a success only
// when its complete response has an expected status (and body, when one is given); every
// other request sent is counted once, by ErrorKind. Latency is from the write of a request
// to the read that completed its response, in microseconds.
//
//   tether::load::RunOptions o;
//   o.port = 8080;
//   o.connections = 64;
//   o.duration = std::chrono::seconds(5);
//   tether::load::RunResult r = tether::load::run(o);
//   if (!r.ok()) { /* r.error: bad host, nothing ran */ }
//   std::printf("%s", tether::load::format_summary(o, r, "http://127.0.0.1:8080/").c_str());
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tether/load/error_kind.hpp"
#include "tether/load/histogram.hpp"

namespace tether::load {

/// What to run.
struct RunOptions {
  /// Server address: a numeric IPv4/IPv6 address or a host name (resolved once).
  std::string host = "127.0.0.1";
  uint16_t port = 80;
  /// Connections kept open, sharded across the threads (at least 1).
  unsigned connections = 10;
  /// Reactor loops, one thread each; more threads than connections are not started.
  unsigned threads = 1;
  /// How long requests are sent. In-flight requests are then waited for (up to `timeout`).
  std::chrono::milliseconds duration{10'000};
  /// A request without its complete response after this long is an errors.timeout, and its
  /// connection is closed and opened again.
  std::chrono::milliseconds timeout{2'000};
  /// Requests in flight per connection (HTTP/1.1 pipelining when above 1).
  unsigned pipeline = 1;
  /// The requests, serialized (serialize_targets), sent round robin on each connection.
  /// Empty: `GET / HTTP/1.1` with `Host: host:port`.
  std::vector<std::string> requests;
  /// Empty: bodies are not checked. Else one per request: the exact body its response must
  /// have (a mismatch is an errors.body).
  std::vector<std::string> expect_bodies;
  /// -1: body lengths are not checked. Else the exact body length (in bytes) every response
  /// must have (a mismatch is an errors.body).
  int64_t expect_body_bytes = -1;
  /// The statuses that count as success. Empty: any 2xx or 3xx.
  std::vector<uint16_t> expect_status;
  /// Open loop when above 0: this many requests per second in total, sent at their intended
  /// times whatever the server does (a request due while every connection is busy waits,
  /// and its wait counts in its latency). 0: closed loop.
  double rate = 0;
  /// With `rate`: the gaps between intended times are exponential (a Poisson process)
  /// instead of constant.
  bool poisson = false;
  /// Requests are sent for this long before `duration`, and left out of every result.
  std::chrono::milliseconds warmup{0};
  /// Each request is picked at random (uniformly, seeded by `seed`) instead of round robin.
  bool random_order = false;
  uint64_t seed = 1;
  /// Counts so far, for a live report.
  struct Progress {
    std::chrono::milliseconds elapsed{0};  ///< of the measured run (after the warmup)
    bool warming_up = false;
    uint64_t requests = 0;  ///< successes so far
    uint64_t errors = 0;    ///< failures so far
    uint64_t last_second_requests = 0;  ///< successes in the last second (warmup too)
    uint64_t last_second_p99_us = 0;  ///< corrected latency over the last whole second
  };
  /// When set: called about once a second on the thread that called run(), never from a loop.
  std::function<void(const Progress&)> on_progress;
};

/// One second of a run: what completed in it (by completion time).
struct Interval {
  /// Seconds since the measured run began: this interval is [second, second + 1).
  uint32_t second = 0;
  uint64_t requests = 0;
  uint64_t errors = 0;
  /// Corrected latency percentiles of the requests that completed in it, in µs.
  uint64_t p50_us = 0;
  uint64_t p90_us = 0;
  uint64_t p99_us = 0;
  uint64_t max_us = 0;
  /// Service-time p99 (from the write), in µs.
  uint64_t service_p99_us = 0;
};

/// What a run did. Every request sent is either a success (`requests`) or one error.
struct RunResult {
  /// Empty when the run took place; else why it could not start (e.g. an unknown host).
  std::string error;
  /// Requests answered completely with an expected status (and body).
  uint64_t requests = 0;
  /// Failed requests by kind, indexed by ErrorKind. Connect errors count failed attempts.
  std::array<uint64_t, kErrorKindCount> errors{};
  /// Bytes read from and written to the server.
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  /// Latency of the successful requests, in µs, merged from every thread: from each
  /// request's intended send time (coordinated-omission corrected). In a closed loop the
  /// intended time is the write, and `latency` equals `service`.
  Histogram latency;
  /// Service time of the successful requests, in µs: from the write of the request to the
  /// read that completed its response.
  Histogram service;
  /// One entry per second of the measured run, in order.
  std::vector<Interval> intervals;
  /// Open loop: the rate asked for (0 in a closed loop), and the requests whose intended
  /// time fell in the measured run.
  double target_rate = 0;
  uint64_t intended = 0;
  /// From the start of the first loop to the end of the last one's drain.
  std::chrono::nanoseconds elapsed{0};
  /// Connections asked for, and how many of them connected at least once.
  unsigned connections_requested = 0;
  unsigned connections_established = 0;
  /// Threads actually run.
  unsigned threads = 0;

  bool ok() const noexcept { return error.empty(); }
  /// Failed requests of every kind.
  uint64_t errors_total() const noexcept;
  uint64_t errors_of(ErrorKind kind) const noexcept { return errors[static_cast<size_t>(kind)]; }
  /// Successful requests per second of elapsed time.
  double rps() const noexcept;
};

/// Runs closed-loop load as `options` says; blocks until done. Errors of the run itself
/// (unresolvable host, bad options) come back in RunResult::error.
RunResult run(const RunOptions& options);

/// A short human summary in the style of wrk, with its `Requests/sec:` and `Transfer/sec:`
/// lines and the latency percentiles 50/90/99/99.9/99.99/max. `url` names the target.
std::string format_summary(const RunOptions& options, const RunResult& result,
                           const std::string& url);

/// "1.23ms", "456us", "2.50s": a latency in µs, as the summary prints it.
std::string format_latency_us(double us);

}  // namespace tether::load
