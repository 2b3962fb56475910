// draw_report_svg: the one drawing of --svg (one run) and `plot` (several).
//
// Layout, top to bottom: title and legend; the latency percentile spectrum (HdrHistogram's
// plot: x = 1/(1 - p) on a log axis, so 90%, 99%, 99.9% ... are evenly spaced, y = latency
// on a log axis; corrected solid, service dashed); requests per second over time; p99 over
// time (log axis). One colour per run throughout.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "load/svg_canvas.hpp"
#include "load/utf8.hpp"
#include "tether/load/report.hpp"

namespace tether::load {

namespace {

using detail::SvgCanvas;
using detail::SvgPoint;
using detail::SvgTextStyle;
using Curve = std::vector<std::vector<SvgPoint>>;

constexpr double kWidth = 960;
constexpr double kLeft = 80;
constexpr double kRight = 30;
constexpr double kPlotWidth = kWidth - kLeft - kRight;
constexpr double kSpectrumHeight = 340;
constexpr double kTimeHeight = 170;
constexpr double kPanelGap = 64;  // room for a panel's axis labels and the next one's title
// The spectrum's x axis ends at 99.9999% (1/(1-p) = 10^6).
constexpr double kSpectrumDecades = 6;
constexpr const char* kGrid = "#e4e4e4";
constexpr const char* kAxis = "#666";
constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
constexpr size_t kPaletteSize = sizeof kPalette / sizeof kPalette[0];

const char* colour_of(size_t run) {
  return kPalette[run % kPaletteSize];
}

struct Panel {
  double left = kLeft;
  double top = 0;
  double width = kPlotWidth;
  double height = 0;
};

// A log axis over whole decades of µs: [10^lo, 10^hi].
struct LogAxis {
  int lo = 0;
  int hi = 3;
  double y(const Panel& p, double v) const {
    const double d = std::log10(std::max(v, 1.0));
    return p.top + p.height * (1 - (d - lo) / (hi - lo));
  }
};

LogAxis log_axis(double min_v, double max_v) {
  LogAxis a;
  if (!(max_v >= 1)) return a;  // no data: 1 µs .. 1 ms
  a.lo = static_cast<int>(std::floor(std::log10(std::max(min_v, 1.0))));
  a.hi = static_cast<int>(std::ceil(std::log10(max_v)));
  if (a.hi <= a.lo) a.hi = a.lo + 1;
  return a;
}

// A linear axis from 0 with a round step: [0, hi], ticks every `step`.
struct LinearAxis {
  double hi = 1;
  double step = 0.2;
};

LinearAxis linear_axis(double max_v, int ticks) {
  LinearAxis a;
  if (!(max_v > 0) || !std::isfinite(max_v)) max_v = 1;
  // A hand-edited report may hold any double; past this an axis means nothing, and the
  // tick arithmetic stays far from overflow.
  max_v = std::min(max_v, 1e15);
  const double raw = max_v / ticks;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  a.step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  a.hi = std::ceil(max_v / a.step - 1e-9) * a.step;
  return a;
}

// 10^k µs as the axis says it: 1µs, 100µs, 1ms, 10s, 1000s.
std::string decade_label(int k) {
  static const char* const kUnits[] = {"\xC2\xB5s", "ms", "s"};
  const int unit = std::clamp(k / 3, 0, 2);
  std::string digits = "1" + std::string(static_cast<size_t>(k - unit * 3), '0');
  return digits + kUnits[unit];
}

std::string group_thousands(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// A linear tick value without trailing noise: 0.5, 2, 1500, 20k, 1.5M.
std::string tick_label(double v, double step) {
  if (v >= 1e6 && step >= 1e5) return detail::svg_number(v / 1e6, step >= 1e6 ? 0 : 1) + "M";
  if (v >= 1e4 && step >= 1e3) return detail::svg_number(v / 1e3, step >= 1e3 ? 0 : 1) + "k";
  const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  return detail::svg_number(v, std::clamp(decimals, 0, 6));
}

std::string latency_text(uint64_t us) {
  return format_latency_us(static_cast<double>(us));
}

// Text drawn from untrusted input (a URL, a file name) is cut to a length that fits.
std::string clip_text(const std::string& s, size_t max_chars) {
  const std::string valid = detail::to_valid_utf8(s);
  size_t chars = 0;
  for (size_t i = 0; i < valid.size();) {
    if (chars == max_chars) return valid.substr(0, i) + "\xE2\x80\xA6";  // …
    i += std::max<size_t>(1, detail::utf8_sequence_length(valid, i));
    ++chars;
  }
  return valid;
}

std::string describe_mode(const RunReport& r) {
  std::string s;
  if (r.open_loop) {
    s = "open loop at " + group_thousands(static_cast<uint64_t>(std::max(0.0, r.target_rate))) +
        " req/s";
    if (r.poisson) s += " (poisson)";
  } else {
    s = "closed loop";
  }
  s += ", " + std::to_string(r.connections) + " connections";
  if (r.pipeline > 1) s += ", pipeline " + std::to_string(r.pipeline);
  return s;
}

std::string describe_results(const RunReport& r) {
  return group_thousands(r.requests) + " requests, " +
         group_thousands(static_cast<uint64_t>(std::max(0.0, r.rps))) + " req/s, p99 " +
         latency_text(r.corrected.p99) + ", " + group_thousands(r.errors_total) + " errors";
}

double spectrum_x(const Panel& p, double percentile) {
  const double decades = std::log10(1.0 / (1.0 - percentile / 100.0));
  return p.left + p.width * std::clamp(decades, 0.0, kSpectrumDecades) / kSpectrumDecades;
}

// The points of a spectrum worth drawing: percentiles below 100 (1/(1-p) is infinite at
// 100), up to the first that reaches the maximum and one more, so that the curve ends in
// a short flat step at the max rather than a long line of repeated values.
std::vector<SpectrumPoint> drawn_points(const std::vector<SpectrumPoint>& spectrum) {
  std::vector<SpectrumPoint> out;
  uint64_t max = 0;
  for (const SpectrumPoint& s : spectrum) max = std::max(max, s.value_us);
  bool reached = false;
  for (const SpectrumPoint& s : spectrum) {
    if (!(s.percentile >= 0 && s.percentile < 100)) continue;
    out.push_back(s);
    if (reached) break;
    reached = s.value_us >= max;
  }
  return out;
}

void frame(SvgCanvas& c, const Panel& p, const std::string& title) {
  c.rect(p.left, p.top, p.width, p.height, "none", kAxis);
  c.text(p.left, p.top - 8, title, SvgTextStyle{.size = 13, .bold = true});
}

void log_y_ticks(SvgCanvas& c, const Panel& p, const LogAxis& a) {
  for (int k = a.lo; k <= a.hi; ++k) {
    const double y = a.y(p, std::pow(10.0, k));
    if (k > a.lo && k < a.hi) c.line(p.left, y, p.left + p.width, y, kGrid, 1);
    c.line(p.left - 4, y, p.left, y, kAxis, 1);
    c.text(p.left - 7, y + 4, decade_label(k), SvgTextStyle{.anchor = "end", .size = 11});
    // Minor ticks at 2..9 times the decade.
    for (int m = 2; m < 10 && k < a.hi; ++m) {
      const double ym = a.y(p, m * std::pow(10.0, k));
      c.line(p.left - 2, ym, p.left, ym, kAxis, 1);
    }
  }
}

void y_title(SvgCanvas& c, const Panel& p, const std::string& title) {
  c.text(p.left - 58, p.top + p.height / 2, title,
         SvgTextStyle{.anchor = "middle", .size = 12, .rotate = -90});
}

void draw_spectrum(SvgCanvas& c, const Panel& p, const std::vector<PlotRun>& runs) {
  double lo = 0, hi = 0;
  for (const PlotRun& run : runs) {
    for (const auto* s : {&run.report.corrected_spectrum, &run.report.service_spectrum}) {
      for (const SpectrumPoint& pt : drawn_points(*s)) {
        const auto v = static_cast<double>(pt.value_us);
        lo = lo == 0 ? v : std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
  }
  const LogAxis a = log_axis(lo, hi);
  frame(c, p, "Latency by percentile");
  static const char* const kLabels[] = {"0%",     "90%",     "99%",     "99.9%",
                                        "99.99%", "99.999%", "99.9999%"};
  for (int d = 0; d <= kSpectrumDecades; ++d) {
    const double x = p.left + p.width * d / kSpectrumDecades;
    if (d > 0 && d < kSpectrumDecades) c.line(x, p.top, x, p.top + p.height, kGrid, 1);
    c.line(x, p.top + p.height, x, p.top + p.height + 4, kAxis, 1);
    c.text(x, p.top + p.height + 17, kLabels[d], SvgTextStyle{.anchor = "middle", .size = 11});
  }
  c.text(p.left + p.width / 2, p.top + p.height + 36, "percentile",
         SvgTextStyle{.anchor = "middle"});
  log_y_ticks(c, p, a);
  y_title(c, p, "latency");
  c.begin_clip(p.left, p.top - 2, p.width, p.height + 4);
  for (size_t i = 0; i < runs.size(); ++i) {
    struct Which {
      const std::vector<SpectrumPoint>* points;
      const char* dash;
      const char* css;
    };
    for (const Which& w : {Which{&runs[i].report.corrected_spectrum, nullptr, "curve corrected"},
                           Which{&runs[i].report.service_spectrum, "6 4", "curve service"}}) {
      Curve curve(1);
      for (const SpectrumPoint& pt : drawn_points(*w.points)) {
        curve[0].push_back(
            {spectrum_x(p, pt.percentile), a.y(p, static_cast<double>(pt.value_us))});
      }
      c.curve(curve, colour_of(i), 2, w.dash, w.css);
    }
  }
  c.end_clip();
}

double series_x(const Panel& p, const LinearAxis& t, double second) {
  // A second's value is drawn at its middle: [t, t + 1) at t + 0.5.
  return p.left + p.width * std::clamp((second + 0.5) / t.hi, 0.0, 1.0);
}

void time_ticks(SvgCanvas& c, const Panel& p, const LinearAxis& t, bool label_axis) {
  for (double s = 0; s <= t.hi + 1e-9; s += t.step) {
    const double x = p.left + p.width * s / t.hi;
    if (s > 0 && s < t.hi - 1e-9) c.line(x, p.top, x, p.top + p.height, kGrid, 1);
    c.line(x, p.top + p.height, x, p.top + p.height + 4, kAxis, 1);
    c.text(x, p.top + p.height + 17, tick_label(s, t.step) + "s",
           SvgTextStyle{.anchor = "middle", .size = 11});
  }
  if (label_axis) {
    c.text(p.left + p.width / 2, p.top + p.height + 36, "time since the start of the run",
           SvgTextStyle{.anchor = "middle"});
  }
}

void markers(SvgCanvas& c, const Curve& curve, const char* colour) {
  size_t n = 0;
  for (const auto& run : curve) n += run.size();
  // Dots mark the seconds of a short run (a run of one second is one dot, not an invisible
  // line); a long run's line speaks for itself.
  if (n > 60) return;
  for (const auto& run : curve) {
    for (const SvgPoint& pt : run) c.circle(pt.x, pt.y, 2.5, colour);
  }
}

void draw_throughput(SvgCanvas& c, const Panel& p, const LinearAxis& t,
                     const std::vector<PlotRun>& runs) {
  double hi = 0;
  for (const PlotRun& run : runs) {
    for (const SeriesPoint& s : run.report.series) {
      if (std::isfinite(s.rps)) hi = std::max(hi, s.rps);
    }
  }
  const LinearAxis a = linear_axis(hi, 4);
  frame(c, p, "Throughput (successful requests per second)");
  for (double v = 0; v <= a.hi + a.step / 2; v += a.step) {
    const double y = p.top + p.height * (1 - v / a.hi);
    if (v > 0 && v < a.hi - a.step / 2) c.line(p.left, y, p.left + p.width, y, kGrid, 1);
    c.line(p.left - 4, y, p.left, y, kAxis, 1);
    c.text(p.left - 7, y + 4, tick_label(v, a.step), SvgTextStyle{.anchor = "end", .size = 11});
  }
  y_title(c, p, "req/s");
  time_ticks(c, p, t, false);
  c.begin_clip(p.left - 3, p.top - 3, p.width + 6, p.height + 6);
  for (size_t i = 0; i < runs.size(); ++i) {
    Curve curve(1);
    for (const SeriesPoint& s : runs[i].report.series) {
      const double v = std::isfinite(s.rps) ? std::clamp(s.rps, 0.0, a.hi) : 0;
      curve[0].push_back({series_x(p, t, s.t), p.top + p.height * (1 - v / a.hi)});
    }
    c.curve(curve, colour_of(i), 2, nullptr, "curve rps");
    markers(c, curve, colour_of(i));
  }
  c.end_clip();
}

void draw_p99(SvgCanvas& c, const Panel& p, const LinearAxis& t, const std::vector<PlotRun>& runs) {
  double lo = 0, hi = 0;
  for (const PlotRun& run : runs) {
    for (const SeriesPoint& s : run.report.series) {
      if (s.p99_us == 0) continue;
      const auto v = static_cast<double>(s.p99_us);
      lo = lo == 0 ? v : std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  const LogAxis a = log_axis(lo, hi);
  frame(c, p, "p99 latency (corrected) per second");
  log_y_ticks(c, p, a);
  y_title(c, p, "p99");
  time_ticks(c, p, t, true);
  c.begin_clip(p.left - 3, p.top - 3, p.width + 6, p.height + 6);
  for (size_t i = 0; i < runs.size(); ++i) {
    // A second without a completed request has no p99: the line breaks there.
    Curve curve(1);
    for (const SeriesPoint& s : runs[i].report.series) {
      if (s.p99_us == 0) {
        if (!curve.back().empty()) curve.emplace_back();
        continue;
      }
      curve.back().push_back({series_x(p, t, s.t), a.y(p, static_cast<double>(s.p99_us))});
    }
    c.curve(curve, colour_of(i), 2, nullptr, "curve p99");
    markers(c, curve, colour_of(i));
  }
  c.end_clip();
}

}  // namespace

std::string draw_report_svg(const std::vector<PlotRun>& runs) {
  const bool one = runs.size() == 1;
  // Header: title, one legend row per run, the line-style key.
  const double legend_top = one ? 76 : 56;
  const double row = 18;
  const double spectrum_top = legend_top + row * static_cast<double>(runs.size() + 1) + 34;
  const Panel spectrum{kLeft, spectrum_top, kPlotWidth, kSpectrumHeight};
  const Panel rps{kLeft, spectrum.top + spectrum.height + kPanelGap, kPlotWidth, kTimeHeight};
  const Panel p99{kLeft, rps.top + rps.height + kPanelGap, kPlotWidth, kTimeHeight};
  const double height = p99.top + p99.height + 52;

  SvgCanvas c(kWidth, height);
  const std::string title = one ? "tether-load " + clip_text(runs[0].report.url, 90)
                                : "tether-load: " + std::to_string(runs.size()) + " runs compared";
  c.title(title);
  c.text(kLeft, 30, title, SvgTextStyle{.size = 17, .bold = true});
  if (one) {
    c.text(kLeft, 52,
           describe_mode(runs[0].report) + " \xE2\x80\x94 " + describe_results(runs[0].report),
           SvgTextStyle{.size = 13, .fill = "#444"});
  }
  for (size_t i = 0; i < runs.size(); ++i) {
    const double y = legend_top + row * static_cast<double>(i);
    c.line(kLeft, y - 4, kLeft + 28, y - 4, colour_of(i), 3);
    std::string text = clip_text(runs[i].label, 40);
    if (!one) {
      text += ": " + clip_text(runs[i].report.url, 40) + " \xE2\x80\x94 " +
              describe_mode(runs[i].report) + " \xE2\x80\x94 " + describe_results(runs[i].report);
    }
    c.text(kLeft + 36, y, text, SvgTextStyle{.size = one ? 12.0 : 11.0});
  }
  const double key_y = legend_top + row * static_cast<double>(runs.size());
  c.line(kLeft, key_y - 4, kLeft + 28, key_y - 4, "#444", 2);
  c.text(kLeft + 36, key_y, "corrected (from the intended send time)",
         SvgTextStyle{.size = 12, .fill = "#444"});
  c.line(kLeft + 300, key_y - 4, kLeft + 328, key_y - 4, "#444", 2, "6 4");
  c.text(kLeft + 336, key_y, "service time (from the write)",
         SvgTextStyle{.size = 12, .fill = "#444"});

  draw_spectrum(c, spectrum, runs);
  double seconds = 1;
  for (const PlotRun& run : runs) {
    for (const SeriesPoint& s : run.report.series) seconds = std::max(seconds, s.t + 1.0);
  }
  const LinearAxis t = linear_axis(seconds, 8);
  draw_throughput(c, rps, t, runs);
  draw_p99(c, p99, t, runs);
  return c.finish();
}

}  // namespace tether::load
