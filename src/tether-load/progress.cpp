#include "tether-load/progress.hpp"

#include <cstdio>

namespace tether_load {

std::string group_thousands(uint64_t n) {
  const std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string format_progress(const tether::load::RunOptions::Progress& p) {
  const std::string rate =
      group_thousands(p.last_second_requests) + " req/s  p99 " +
      tether::load::format_latency_us(static_cast<double>(p.last_second_p99_us)) + "  errors " +
      group_thousands(p.errors);
  if (p.warming_up) return "[warmup] warming up, not counted  " + rate;
  // Rounded: the callback comes about once a second, a little before or after it.
  const long long s = (p.elapsed.count() + 500) / 1000;
  char head[32];
  std::snprintf(head, sizeof head, "[%3llds] ", s);
  return head + group_thousands(p.requests) + " req  " + rate;
}

}  // namespace tether_load
