// --fail-if: thresholds on a run's results that make tether-load exit non-zero (for CI).
//
// Grammar (blanks are allowed between any two tokens):
//   expression := condition ("," condition)*      any condition true fails the run
//   condition  := metric op number [unit]
//   metric     := p50 | p90 | p99 | p99.9 | p99.99 | max | mean      latency, in time units
//               | rps | requests | errors | errors.KIND               rates and counts
//   KIND       := connect | timeout | reset | parse | status | body
//   op         := > | >= | < | <= | ==
//   number     := digits ["." digits]                                 no sign, no exponent
//   unit       := us | µs | ms | s
// p999 and p9999 are accepted for p99.9 and p99.99 (the names of the JSON report).
// Latency metrics need a unit: a bare number is refused rather than guessed ("p99>5" could be
// read as 5 µs or 5 ms), and so is a unit on a rate or count. Counts (requests, errors) take
// whole numbers; rps may have decimals.
//
//   parse_fail_if("p99>5ms, errors>0")    two conditions
//   parse_fail_if("p98>5ms")              error "unknown metric 'p98' at 1 (known: ...)"
// Error positions are 1-based byte columns in the expression.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tether/load/error_kind.hpp"

namespace tether::load {

/// What a --fail-if condition looks at.
enum class FailMetric {
  p50,
  p90,
  p99,
  p999,
  p9999,
  max,
  mean,
  rps,
  requests,
  errors,  ///< all kinds together
  errors_connect,
  errors_timeout,
  errors_reset,
  errors_parse,
  errors_status,
  errors_body,
};

/// The comparison of a condition: the run fails when `actual OP threshold` holds.
enum class FailOp { gt, ge, lt, le, eq };

/// The unit a latency threshold was written in (none for rates and counts).
enum class FailUnit { none, us, ms, s };

/// One parsed condition.
struct FailCondition {
  FailMetric metric = FailMetric::p99;
  FailOp op = FailOp::gt;
  /// The threshold: microseconds for latency metrics, requests/s for rps, a count otherwise.
  double threshold = 0;
  /// The unit the threshold was written in (messages print the actual value in it).
  FailUnit unit = FailUnit::none;
  /// The condition as written, without surrounding blanks: "p99 > 5ms".
  std::string text;
  /// 1-based column of the condition's first character in the expression.
  size_t column = 0;
};

/// The result of parse_fail_if: the conditions, or a one-line error.
struct FailIfParse {
  std::vector<FailCondition> conditions;
  /// Empty when the expression parsed; else what is wrong and where, e.g.
  /// "unknown metric 'p98' at 1 (known: ...)".
  std::string error;
  bool ok() const noexcept { return error.empty(); }
};

/// Parses a --fail-if expression (see the grammar at the top of this header).
FailIfParse parse_fail_if(std::string_view expression);

/// The numbers of a finished run that conditions are checked against.
struct FailIfInputs {
  /// Latency percentiles, max and mean, in µs (in open loop: the corrected latency, from
  /// the intended send time).
  uint64_t p50_us = 0;
  uint64_t p90_us = 0;
  uint64_t p99_us = 0;
  uint64_t p999_us = 0;
  uint64_t p9999_us = 0;
  uint64_t max_us = 0;
  double mean_us = 0;
  /// Successful requests per second over the measured duration.
  double rps = 0;
  /// Successful requests (failed ones are counted in errors only).
  uint64_t requests = 0;
  /// Failed requests by kind, indexed by ErrorKind.
  uint64_t errors[kErrorKindCount] = {};

  /// Failed requests of every kind.
  uint64_t errors_total() const noexcept;
};

/// A condition that held: its index in the parsed list and the run's value of its metric.
struct FailTrip {
  size_t index = 0;
  double actual = 0;
};

/// The run's value of a metric (µs for latency).
double fail_metric_value(FailMetric metric, const FailIfInputs& inputs) noexcept;

/// The conditions that hold for this run, in the order they were written. Empty: the run
/// passes.
std::vector<FailTrip> evaluate_fail_if(const std::vector<FailCondition>& conditions,
                                       const FailIfInputs& inputs);

/// A one-line explanation of a tripped condition, the actual value in the condition's unit:
/// "p99 > 5ms (was 7.21ms)", "errors>0 (was 3)".
std::string describe_fail_trip(const FailCondition& condition, double actual);

/// The metric's name as written in --fail-if: "p99.9", "errors.timeout".
std::string_view fail_metric_name(FailMetric metric) noexcept;

/// Whether the metric is a latency (its threshold is in µs and needs a unit).
constexpr bool is_latency_metric(FailMetric metric) noexcept {
  return metric <= FailMetric::mean;
}

}  // namespace tether::load
