// The per-second series as CSV: numbers only (no quoting needed), without locale.
#include <charconv>
#include <cmath>
#include <string>

#include "tether/load/report.hpp"

namespace tether::load {

namespace {

// Two decimals, like the summary's Requests/sec; to_chars ignores LC_NUMERIC.
std::string fixed2(double v) {
  if (!std::isfinite(v)) return "0.00";
  char buf[400];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 2);
  return ec == std::errc() ? std::string(buf, end) : "0.00";
}

}  // namespace

std::string format_report_csv(const RunReport& rep) {
  std::string out = "second,requests,errors,rps,p50_us,p90_us,p99_us,max_us,service_p99_us\n";
  for (const SeriesPoint& p : rep.series) {
    out += std::to_string(p.t) + ',' + std::to_string(p.requests) + ',' + std::to_string(p.errors) +
           ',' + fixed2(p.rps) + ',' + std::to_string(p.p50_us) + ',' + std::to_string(p.p90_us) +
           ',' + std::to_string(p.p99_us) + ',' + std::to_string(p.max_us) + ',' +
           std::to_string(p.service_p99_us) + '\n';
  }
  return out;
}

}  // namespace tether::load
