// RunReport: one run's results as tether-load saves them (--json, --csv, --svg) and reads
// them back (`tether-load plot`).
//
// A report holds numbers only, never histograms: the percentiles, a percentile spectrum for
// plotting and the per-second series. So a saved run can be drawn again, next to others,
// exactly as it was drawn the first time: --svg and `plot` draw RunReports with the same
// function, whether they come from a run or from JSON files.
//
//   RunReport rep = make_report(options, result, url);
//   std::string json = format_report_json(rep);   // schema "tether-load/1"
//   RunReport back;
//   std::string error;
//   if (!parse_report_json(json, back, error)) { /* "byte 17: ..." */ }
//   std::string svg = draw_report_svg({{"run", rep}});
//
// The JSON schema (every field always present; unknown fields are ignored when reading):
//   schema                 "tether-load/1"
//   url, mode              the target as given; "closed" or "open"
//   target_rate, poisson   open loop: requests/s asked for (0 when closed), exponential gaps
//   connections, threads, pipeline, duration_s, warmup_s     what was asked
//   elapsed_s, requests, rps, bytes_read, bytes_written, intended,
//   connections_requested, connections_established           what happened
//   errors                 {total, connect, timeout, reset, parse, status, body}
//   latency_us             {corrected: {p50, p90, p99, p999, p9999, max, mean, min},
//                           service: {the same}}
//   spectrum               {corrected: [[percentile, value_us], ...], service: [...]}
//   series                 [{t, requests, errors, rps, p50, p90, p99, max, service_p99}, ...]
// Latencies are microseconds. Doubles are written in the shortest form that reads back
// exactly, in the C locale; a NaN or infinity is written as 0.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tether/load/engine.hpp"
#include "tether/load/error_kind.hpp"

namespace tether::load {

/// The schema name written to and required in every JSON report.
inline constexpr std::string_view kReportSchema = "tether-load/1";

/// Percentiles of one latency histogram, in µs.
struct LatencySummary {
  uint64_t p50 = 0;
  uint64_t p90 = 0;
  uint64_t p99 = 0;
  uint64_t p999 = 0;
  uint64_t p9999 = 0;
  uint64_t max = 0;
  uint64_t min = 0;
  double mean = 0;
};

/// One point of a percentile spectrum: the latency at `percentile` (0 .. 100), in µs.
struct SpectrumPoint {
  double percentile = 0;
  uint64_t value_us = 0;
};

/// One second of the series (an Interval, with its rate).
struct SeriesPoint {
  uint32_t t = 0;  ///< seconds since the measured run began
  uint64_t requests = 0;
  uint64_t errors = 0;
  /// Successful requests per second over the part of [t, t + 1) the run lasted (the last
  /// second of a run may be cut short).
  double rps = 0;
  uint64_t p50_us = 0;
  uint64_t p90_us = 0;
  uint64_t p99_us = 0;
  uint64_t max_us = 0;
  uint64_t service_p99_us = 0;
};

/// One run's results, as saved.
struct RunReport {
  std::string url;
  bool open_loop = false;
  double target_rate = 0;
  bool poisson = false;
  unsigned connections = 0;
  unsigned threads = 0;
  unsigned pipeline = 0;
  double duration_s = 0;
  double warmup_s = 0;
  double elapsed_s = 0;
  uint64_t requests = 0;
  double rps = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t intended = 0;
  unsigned connections_requested = 0;
  unsigned connections_established = 0;
  /// Failed requests by kind (indexed by ErrorKind), and their sum.
  std::array<uint64_t, kErrorKindCount> errors{};
  uint64_t errors_total = 0;
  /// From the intended send time (coordinated-omission corrected), and from the write.
  LatencySummary corrected;
  LatencySummary service;
  std::vector<SpectrumPoint> corrected_spectrum;
  std::vector<SpectrumPoint> service_spectrum;
  std::vector<SeriesPoint> series;
};

/// The percentiles at which a spectrum is taken, HdrHistogram style: every halving of the
/// distance to 100% gets the same number of points (0, 12.5, 25, 37.5, 50, 56.25, ...),
/// up to 99.9999, then 100.
std::vector<double> spectrum_percentiles();

/// The spectrum of `h` at spectrum_percentiles(); empty when `h` is.
std::vector<SpectrumPoint> make_spectrum(const Histogram& h);

/// The report of a finished run. `url` is the target as the user gave it.
RunReport make_report(const RunOptions& options, const RunResult& result, std::string_view url);

/// The report as JSON (schema tether-load/1), ending with a newline.
std::string format_report_json(const RunReport& report);

/// Reads a JSON report. False, with `error` set to one line that starts with the byte
/// offset ("byte 42: unterminated string"), when `text` is not JSON, is too deeply nested,
/// is not of schema tether-load/1 or lacks a field; `out` is then unspecified.
bool parse_report_json(std::string_view text, RunReport& out, std::string& error);

/// The per-second series as CSV: a header line
/// `second,requests,errors,rps,p50_us,p90_us,p99_us,max_us,service_p99_us`, then one line
/// per second.
std::string format_report_csv(const RunReport& report);

/// One run to draw, and its name in the legend.
struct PlotRun {
  std::string label;
  RunReport report;
};

/// A standalone SVG document: the latency percentile spectrum (log axes, corrected solid,
/// service dashed) above throughput and p99 over time, one colour per run. `--svg` draws
/// one run, `plot` several.
std::string draw_report_svg(const std::vector<PlotRun>& runs);

}  // namespace tether::load
