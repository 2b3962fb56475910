// The mailbox scenario: does every long-poll waiter get exactly its own value, and how long
// does a handoff take?
//
// run_mailbox() parks `waiters` long polls (`GET {prefix}{id}?wait_ms=W`, one connection
// each, spread over the threads), confirms that they are parked, then posts each waiter's own
// value (`POST {prefix}{id}`, ids in a random order, over `posters` keep-alive connections)
// and checks what every waiter received. Ids and values carry a nonce drawn for the run, so
// a value stored by an earlier run on the same server can never pass as correct.
//
// Parked means: every waiter's request was written, and the server's `/metrics` gauge
// `tether_mailbox_waiters` (tetherd and servers that serve prometheus_text) rose by that
// many from before the run. A server without the gauge gets a short settle instead, and a
// post that still finds no waiter is stored (202) and counted apart from the handoffs (200).
//
// Every waiter ends as exactly one of: delivered own (a 200 with its own value), misdelivered
// (a 200 with another waiter's value or anything else), lost (204, 404, another status, a
// transport error, or nothing before its wait plus the timeout). A value read by more than
// one waiter is duplicated. Handoff latency is from the write of a value's POST to the read
// that completed its waiter's response, in µs.
//
//   tether::load::MailboxOptions o;
//   o.port = 8080;
//   o.waiters = 1000;
//   tether::load::MailboxResult r = tether::load::run_mailbox(o);
//   if (!r.ok()) { /* r.error: nothing could run (unreachable server, bad options) */ }
//   std::printf("%s", tether::load::format_mailbox_summary(o, r, "http://127.0.0.1:8080").c_str());
//   return r.passed() ? 0 : 2;
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "tether/load/error_kind.hpp"
#include "tether/load/histogram.hpp"

namespace tether::load {

/// What to run.
struct MailboxOptions {
  /// Server address: a numeric IPv4/IPv6 address or a host name (resolved once).
  std::string host = "127.0.0.1";
  uint16_t port = 80;
  /// Long-poll waiters to park, one connection each (1 .. 1,000,000).
  unsigned waiters = 1000;
  /// Keep-alive connections that post the values, one POST in flight each (at least 1).
  unsigned posters = 10;
  /// Reactor loops, one thread each; waiters and posters are spread over them. More threads
  /// than waiters are not started.
  unsigned threads = 1;
  /// The wait each long poll asks for (`wait_ms`).
  std::chrono::milliseconds wait{10'000};
  /// A connect, a POST's response, or a waiter's response after its wait, that takes longer
  /// than this fails. Bounds the run too: at most about 3 x timeout + wait + the settle.
  std::chrono::milliseconds timeout{2'000};
  /// Bytes of each value (at least the id it names and the run's nonce: ~30 bytes).
  size_t value_bytes = 64;
  /// Ids are `{path_prefix}tl-{nonce}-{i}`; must start and end with '/'.
  std::string path_prefix = "/mailbox/";
  /// Seeds the post order. 0: seeded from the run's nonce.
  uint64_t seed = 0;
};

/// What a scenario run found. `delivered_own + misdelivered + lost == waiters`.
struct MailboxResult {
  /// Empty when the scenario ran; else why it could not (no connection at all, bad options).
  std::string error;
  /// The run's nonce (in every id and value), as 16 hex digits.
  std::string nonce;
  /// Waiters asked for.
  unsigned waiters = 0;
  /// Waiters whose request was written before the posts began.
  unsigned parked_written = 0;
  /// Whether the server's tether_mailbox_waiters gauge was read, and whether it showed every
  /// written waiter parked before the first post (false: posting began after a settle).
  bool gauge_available = false;
  bool parked_confirmed = false;
  /// From the last waiter's request written to the first post: the settle.
  std::chrono::nanoseconds settle{0};

  /// Waiters that got their own value.
  uint64_t delivered_own = 0;
  /// Waiters that got a 200 with another waiter's value, a stale value or garbage.
  uint64_t misdelivered = 0;
  /// Waiters that got no value: lost_status by status (204 timed out, 404, 503, ...) plus
  /// lost_errors by kind (connect, timeout: nothing within wait + timeout, reset, parse).
  uint64_t lost = 0;
  std::map<uint16_t, uint64_t> lost_status;
  std::array<uint64_t, kErrorKindCount> lost_errors{};
  /// Values that more than one waiter got.
  uint64_t duplicated = 0;

  /// POSTs answered 200 (handed to a waiter) and 202 (stored for a later waiter).
  uint64_t posts_delivered = 0;
  uint64_t posts_stored = 0;
  /// POSTs answered with any other status (409, 413, 503, ...), by status.
  std::map<uint16_t, uint64_t> post_status;
  /// POSTs that got no response, by kind (connect, timeout, reset, parse).
  std::array<uint64_t, kErrorKindCount> post_errors{};
  /// Values never posted: their posters could not connect, or the run's time was up.
  uint64_t posts_unsent = 0;

  /// Handoff latency of the waiters that got their own value, in µs: from the write of the
  /// POST to the read that completed the waiter's response.
  Histogram handoff;
  /// From the first POST written to the last own value read.
  std::chrono::nanoseconds handoff_window{0};
  /// The whole run: connects, parking, settle, posts and waits.
  std::chrono::nanoseconds elapsed{0};
  /// Threads actually run; connections that connected at least once.
  unsigned threads = 0;
  unsigned connections_established = 0;

  bool ok() const noexcept { return error.empty(); }
  /// Ran, and every waiter got its own value and nothing else.
  bool passed() const noexcept {
    return ok() && misdelivered == 0 && lost == 0 && duplicated == 0 && delivered_own == waiters;
  }
  uint64_t post_failures() const noexcept;
  /// Own values delivered per second of handoff_window.
  double handoffs_per_sec() const noexcept;
};

/// Runs the mailbox scenario as `options` says; blocks until done (bounded by the options'
/// timeout and wait). Errors of the run itself come back in MailboxResult::error.
MailboxResult run_mailbox(const MailboxOptions& options);

/// A short human summary: the verdict counts, post outcomes, the handoff latency
/// percentiles 50/90/99/99.9/max and a `Handoffs/sec:` line. `url` names the server.
std::string format_mailbox_summary(const MailboxOptions& options, const MailboxResult& result,
                                   const std::string& url);

}  // namespace tether::load
