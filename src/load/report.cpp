// make_report: a finished run's numbers, taken once from its histograms and intervals.
#include "tether/load/report.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace tether::load {

namespace {

// Points per halving of the distance to 100%: 4 gives a smooth curve on the plot's log
// axis (about 80 points to 99.9999%) without bloating the JSON.
constexpr int kTicksPerHalf = 4;
constexpr double kLastTick = 99.9999;

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

LatencySummary summarize(const Histogram& h) {
  LatencySummary s;
  s.p50 = h.value_at_percentile(50);
  s.p90 = h.value_at_percentile(90);
  s.p99 = h.value_at_percentile(99);
  s.p999 = h.value_at_percentile(99.9);
  s.p9999 = h.value_at_percentile(99.99);
  s.max = h.max();
  s.min = h.min();
  s.mean = h.mean();
  return s;
}

}  // namespace

std::vector<double> spectrum_percentiles() {
  std::vector<double> out;
  for (int half = 0;; ++half) {
    const double from = 100.0 * (1.0 - std::ldexp(1.0, -half));
    const double to = 100.0 * (1.0 - std::ldexp(1.0, -half - 1));
    for (int i = 0; i < kTicksPerHalf; ++i) {
      const double p = from + (to - from) * i / kTicksPerHalf;
      if (p >= kLastTick) {
        out.push_back(kLastTick);
        out.push_back(100.0);
        return out;
      }
      out.push_back(p);
    }
  }
}

std::vector<SpectrumPoint> make_spectrum(const Histogram& h) {
  std::vector<SpectrumPoint> out;
  if (h.count() == 0) return out;
  for (double p : spectrum_percentiles()) out.push_back({p, h.value_at_percentile(p)});
  return out;
}

RunReport make_report(const RunOptions& o, const RunResult& r, std::string_view url) {
  RunReport rep;
  rep.url = std::string(url);
  rep.open_loop = o.rate > 0;
  rep.target_rate = o.rate > 0 ? o.rate : 0;
  rep.poisson = rep.open_loop && o.poisson;
  rep.connections = o.connections;
  rep.threads = r.threads;
  rep.pipeline = o.pipeline;
  rep.duration_s = std::chrono::duration<double>(o.duration).count();
  rep.warmup_s = std::chrono::duration<double>(o.warmup).count();
  rep.elapsed_s = seconds(r.elapsed);
  rep.requests = r.requests;
  rep.rps = r.rps();
  rep.bytes_read = r.bytes_read;
  rep.bytes_written = r.bytes_written;
  rep.intended = r.intended;
  rep.connections_requested = r.connections_requested;
  rep.connections_established = r.connections_established;
  rep.errors = r.errors;
  rep.errors_total = r.errors_total();
  rep.corrected = summarize(r.latency);
  rep.service = summarize(r.service);
  rep.corrected_spectrum = make_spectrum(r.latency);
  rep.service_spectrum = make_spectrum(r.service);
  rep.series.reserve(r.intervals.size());
  for (const Interval& i : r.intervals) {
    SeriesPoint p;
    p.t = i.second;
    p.requests = i.requests;
    p.errors = i.errors;
    // The last second of a run that is not a whole number of seconds long lasted only in
    // part ([t, elapsed)): its rate is over that part, not over a whole second.
    const double lasted = std::min(1.0, rep.elapsed_s - i.second);
    p.rps = static_cast<double>(i.requests) / (lasted > 0 ? lasted : 1.0);
    p.p50_us = i.p50_us;
    p.p90_us = i.p90_us;
    p.p99_us = i.p99_us;
    p.max_us = i.max_us;
    p.service_p99_us = i.service_p99_us;
    rep.series.push_back(p);
  }
  return rep;
}

}  // namespace tether::load
