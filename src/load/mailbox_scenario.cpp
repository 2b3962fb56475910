// run_mailbox(): the plan (nonce, ids, post order, slices), one core Loop per thread with a
// MailboxLoop attached, and, once every thread is joined, the verdict on every waiter.
#include "tether/load/mailbox_scenario.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>

#include "core/loop.hpp"
#include "load/address.hpp"
#include "load/mailbox_loop.hpp"
#include "tether/load/engine.hpp"

namespace tether::load {
namespace {

using tether::detail::Loop;

constexpr unsigned kMaxWaiters = 1'000'000;
constexpr size_t kMaxValueBytes = 1 << 20;
/// Descriptors a run needs beyond its connections: stdio, and each loop's epoll and wake-up.
constexpr unsigned kSpareFds = 16;
constexpr unsigned kFdsPerLoop = 4;

std::string check_options(const MailboxOptions& o, unsigned threads) {
  if (o.waiters == 0 || o.waiters > kMaxWaiters) {
    return "waiters must be between 1 and " + std::to_string(kMaxWaiters);
  }
  if (o.posters == 0) return "posters must be at least 1";
  if (o.threads == 0) return "threads must be at least 1";
  if (o.wait.count() <= 0) return "wait must be positive";
  if (o.timeout.count() <= 0) return "timeout must be positive";
  if (o.value_bytes > kMaxValueBytes) {
    return "value_bytes must be at most " + std::to_string(kMaxValueBytes);
  }
  const std::string& p = o.path_prefix;
  if (p.empty() || p.front() != '/' || p.back() != '/' ||
      p.find_first_of(" ?#\r\n\t") != std::string::npos) {
    return "path_prefix must start and end with '/' (\"/mailbox/\")";
  }
  // One descriptor per connection, all open at once: refuse a run the process cannot hold
  // rather than count its waiters lost.
  const uint64_t needed =
      uint64_t{o.waiters} + o.posters + 1 + kSpareFds + uint64_t{kFdsPerLoop} * threads;
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
      needed > lim.rlim_cur) {
    return "the run needs about " + std::to_string(needed) +
           " file descriptors (a connection per waiter and poster), and the limit is " +
           std::to_string(lim.rlim_cur) + " (ulimit -n)";
  }
  return {};
}

uint64_t draw_nonce() {
  std::random_device rd;
  return (uint64_t{rd()} << 32 | rd()) ^ static_cast<uint64_t>(uv_hrtime());
}

/// The verdict on every waiter, from what the loops wrote in the plan.
void judge(const detail::MailboxPlan& plan, MailboxResult& r) {
  std::vector<uint8_t> seen(plan.waiters, 0);  // readers of each value, saturating at 2
  uint64_t first_post = UINT64_MAX;
  for (uint64_t t : plan.posted_ns) {
    if (t != 0) first_post = std::min(first_post, t);
  }
  uint64_t last_own = 0;
  for (uint32_t i = 0; i < plan.waiters; ++i) {
    const detail::WaiterOutcome& o = plan.outcome[i];
    if (o.status == 200) {
      if (o.got >= 0 && seen[static_cast<size_t>(o.got)] < 2) ++seen[static_cast<size_t>(o.got)];
      // Its own value, and one that was posted: a value nobody posted is not a handoff.
      if (o.got == i && plan.posted_ns[i] != 0) {
        ++r.delivered_own;
        const uint64_t posted = plan.posted_ns[i];
        r.handoff.record(
            static_cast<int64_t>(o.done_ns > posted ? (o.done_ns - posted) / 1000 : 0));
        last_own = std::max(last_own, o.done_ns);
      } else {
        ++r.misdelivered;
      }
    } else if (o.status != 0) {
      ++r.lost;
      ++r.lost_status[o.status];
    } else {
      ++r.lost;
      const size_t k = o.error > 0 ? o.error - 1u : static_cast<size_t>(ErrorKind::timeout);
      ++r.lost_errors[std::min(k, kErrorKindCount - 1)];
    }
  }
  for (uint8_t n : seen) r.duplicated += n > 1;
  if (last_own > first_post && first_post != UINT64_MAX) {
    r.handoff_window = std::chrono::nanoseconds(last_own - first_post);
  }
}

std::string printf_string(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string format_ms(int64_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace

uint64_t MailboxResult::post_failures() const noexcept {
  uint64_t n = 0;
  for (const auto& [status, count] : post_status) n += count;
  for (uint64_t e : post_errors) n += e;
  return n;
}

double MailboxResult::handoffs_per_sec() const noexcept {
  const double s = std::chrono::duration<double>(handoff_window).count();
  return s > 0 ? static_cast<double>(delivered_own) / s : 0;
}

MailboxResult run_mailbox(const MailboxOptions& options) {
  MailboxResult result;
  result.waiters = options.waiters;
  const unsigned threads = std::min(options.threads, std::max(options.waiters, 1u));
  if (std::string e = check_options(options, threads); !e.empty()) {
    result.error = std::move(e);
    return result;
  }
  detail::MailboxPlan plan;
  if (std::string e = detail::resolve(options.host, options.port, plan.addr); !e.empty()) {
    result.error = std::move(e);
    return result;
  }
  const uint64_t nonce = draw_nonce();
  plan.authority = detail::authority_of(options.host, options.port);
  plan.prefix = options.path_prefix;
  plan.values = detail::MailboxValues(nonce, options.waiters, options.value_bytes);
  plan.waiters = options.waiters;
  plan.threads = threads;
  plan.wait_ms = static_cast<uint64_t>(options.wait.count());
  plan.timeout_ms = static_cast<uint64_t>(options.timeout.count());
  plan.order.resize(options.waiters);
  std::iota(plan.order.begin(), plan.order.end(), 0u);
  std::mt19937_64 rng(options.seed != 0 ? options.seed : nonce);
  std::shuffle(plan.order.begin(), plan.order.end(), rng);
  plan.outcome.assign(options.waiters, {});
  plan.posted_ns.assign(options.waiters, 0);
  result.nonce = plan.values.nonce_hex();

  // Posters are spread over the loops like the waiters; each loop posts a slice of the order
  // in proportion to its posters.
  const uint64_t n = options.waiters;
  const unsigned posters = options.posters;
  std::vector<std::unique_ptr<Loop>> loops;
  unsigned posters_before = 0;
  for (unsigned i = 0; i < threads; ++i) {
    auto loop = std::make_unique<Loop>(i, static_cast<uint32_t>(plan.timeout_ms));
    if (!loop->init_status()) {
      result.error = loop->init_status().message();
      return result;
    }
    const unsigned share = posters / threads + (i < posters % threads);
    const size_t first = static_cast<size_t>(n * posters_before / posters);
    posters_before += share;
    const size_t end = static_cast<size_t>(n * posters_before / posters);
    plan.loops.push_back(&detail::MailboxLoop::attach(*loop, plan, i, share, first, end));
    loops.push_back(std::move(loop));
  }
  for (auto& l : loops) l->start();
  for (auto& l : loops) l->join();

  const detail::ParkResult& park = plan.loops[0]->park_result();
  result.threads = threads;
  uint64_t start = UINT64_MAX;
  uint64_t end = 0;
  for (const detail::MailboxLoop* l : plan.loops) {
    const detail::MailboxLoopResult& lr = l->result();
    result.connections_established += lr.established;
    result.posts_delivered += lr.posts_delivered;
    result.posts_stored += lr.posts_stored;
    result.posts_unsent += lr.posts_unsent;
    for (size_t k = 0; k < kErrorKindCount; ++k) result.post_errors[k] += lr.post_errors[k];
    for (size_t s = 0; s < lr.post_status.size(); ++s) {
      if (lr.post_status[s] != 0) result.post_status[static_cast<uint16_t>(s)] += lr.post_status[s];
    }
    start = std::min(start, lr.start_ns);
    end = std::max(end, lr.end_ns);
  }
  if (end > start) result.elapsed = std::chrono::nanoseconds(end - start);
  if (!park.error.empty()) {
    result.error = park.error;
    return result;
  }
  result.parked_written = park.written;
  result.gauge_available = park.gauge_available;
  result.parked_confirmed = park.confirmed;
  result.settle = std::chrono::nanoseconds(park.settle_ns);
  judge(plan, result);
  return result;
}

std::string format_mailbox_summary(const MailboxOptions& o, const MailboxResult& r,
                                   const std::string& url) {
  std::string s;
  s += "Mailbox scenario @ " + url + " (run " + r.nonce + ")\n";
  s += "  " + std::to_string(r.waiters) + " waiters and " + std::to_string(o.posters) +
       " poster connections on " + std::to_string(r.threads) + " threads, wait " +
       format_ms(o.wait.count()) + ", " + std::to_string(o.value_bytes) + "-byte values\n";
  s += "  Parked: " + std::to_string(r.parked_written) + " of " + std::to_string(r.waiters) +
       " requests written; ";
  if (r.parked_confirmed) {
    s += "tether_mailbox_waiters showed them all";
  } else if (r.gauge_available) {
    s += "tether_mailbox_waiters did not show them all";
  } else {
    s += "no tether_mailbox_waiters gauge";
  }
  s += ", posting after " + format_latency_us(static_cast<double>(r.settle.count()) / 1000) + "\n";
  s += "  Waiters: " + std::to_string(r.delivered_own) + " delivered own, " +
       std::to_string(r.misdelivered) + " misdelivered, " + std::to_string(r.lost) + " lost, " +
       std::to_string(r.duplicated) + " duplicated\n";
  if (r.lost > 0) {
    s += "  Lost:";
    const char* sep = " ";
    for (const auto& [status, count] : r.lost_status) {
      s += sep + std::to_string(status) + " x" + std::to_string(count);
      sep = ", ";
    }
    for (size_t k = 0; k < kErrorKindCount; ++k) {
      if (r.lost_errors[k] == 0) continue;
      s += sep + std::string(error_kind_name(static_cast<ErrorKind>(k))) + " x" +
           std::to_string(r.lost_errors[k]);
      sep = ", ";
    }
    s += "\n";
  }
  s += "  Posts: " + std::to_string(r.posts_delivered) + " delivered (200), " +
       std::to_string(r.posts_stored) + " stored (202), " + std::to_string(r.post_failures()) +
       " failed";
  if (r.posts_unsent > 0) s += ", " + std::to_string(r.posts_unsent) + " not sent";
  s += "\n";
  if (r.post_failures() > 0) {
    s += "  Post failures:";
    const char* sep = " ";
    for (const auto& [status, count] : r.post_status) {
      s += sep + std::to_string(status) + " x" + std::to_string(count);
      sep = ", ";
    }
    for (size_t k = 0; k < kErrorKindCount; ++k) {
      if (r.post_errors[k] == 0) continue;
      s += sep + std::string(error_kind_name(static_cast<ErrorKind>(k))) + " x" +
           std::to_string(r.post_errors[k]);
      sep = ", ";
    }
    s += "\n";
  }
  const Histogram& h = r.handoff;
  s += "  Handoff (POST written -> waiter's response read)   avg " + format_latency_us(h.mean()) +
       "\n";
  struct Row {
    const char* label;
    double p;
  };
  for (const Row& row : {Row{"    50%", 50}, Row{"    90%", 90}, Row{"    99%", 99},
                         Row{"  99.9%", 99.9}, Row{"    max", 100}}) {
    s += "   ";
    s += row.label;
    s += "  " + format_latency_us(static_cast<double>(h.value_at_percentile(row.p))) + "\n";
  }
  s += "  " + std::to_string(r.delivered_own) + " handoffs in " +
       printf_string("%.3fs", std::chrono::duration<double>(r.handoff_window).count()) + ", run " +
       printf_string("%.2fs", std::chrono::duration<double>(r.elapsed).count()) + "\n";
  s += "Handoffs/sec: " + printf_string("%.2f", r.handoffs_per_sec()) + "\n";
  s += r.passed() ? "Mailbox: PASS\n" : "Mailbox: FAIL\n";
  return s;
}

}  // namespace tether::load
