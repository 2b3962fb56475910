// --fail-if: a hand-written scanner over the expression, one condition at a time.
#include "tether/load/fail_if.hpp"

#include <cstdio>

namespace tether::load {

namespace {

struct MetricName {
  std::string_view name;
  FailMetric metric;
};

constexpr MetricName kMetrics[] = {
    {"p50", FailMetric::p50},
    {"p90", FailMetric::p90},
    {"p99", FailMetric::p99},
    {"p99.9", FailMetric::p999},
    {"p999", FailMetric::p999},
    {"p99.99", FailMetric::p9999},
    {"p9999", FailMetric::p9999},
    {"max", FailMetric::max},
    {"mean", FailMetric::mean},
    {"rps", FailMetric::rps},
    {"requests", FailMetric::requests},
    {"errors", FailMetric::errors},
    {"errors.connect", FailMetric::errors_connect},
    {"errors.timeout", FailMetric::errors_timeout},
    {"errors.reset", FailMetric::errors_reset},
    {"errors.parse", FailMetric::errors_parse},
    {"errors.status", FailMetric::errors_status},
    {"errors.body", FailMetric::errors_body},
};

constexpr std::string_view kKnownMetrics =
    "known: p50 p90 p99 p99.9 p99.99 max mean rps requests errors errors.TYPE";
constexpr std::string_view kKnownKinds = "known: connect timeout reset parse status body";
constexpr std::string_view kLatencyUnits = "latency takes us, ms or s";

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_metric_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' || c == '_';
}
bool is_unit_char(char c) {
  // Letters, and the bytes of the UTF-8 micro sign (C2 B5).
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '\xC2' || c == '\xB5';
}

std::string at(std::string_view what, size_t pos) {
  return std::string(what) + " at " + std::to_string(pos + 1);
}

/// A piece of the expression in an error message: control bytes written as \xNN, so that
/// the message stays one line and cannot drive a terminal.
std::string quoted(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "'";
}

// One pass over the expression; `pos` is a 0-based byte offset.
class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  FailIfParse run() {
    FailIfParse out;
    skip_blanks();
    if (pos_ == s_.size()) {
      out.error = "empty expression (example: p99>5ms,errors>0)";
      return out;
    }
    for (;;) {
      FailCondition c;
      if (!condition(c)) {
        out.conditions.clear();
        out.error = std::move(error_);
        return out;
      }
      out.conditions.push_back(std::move(c));
      if (pos_ == s_.size()) return out;
      ++pos_;  // the comma (condition() stops only at a comma or the end)
    }
  }

 private:
  bool fail(std::string message) {
    error_ = std::move(message);
    return false;
  }

  void skip_blanks() {
    while (pos_ < s_.size() && is_blank(s_[pos_])) ++pos_;
  }

  bool condition(FailCondition& c) {
    skip_blanks();
    const size_t start = pos_;
    if (pos_ == s_.size() || s_[pos_] == ',') return fail(at("empty condition", pos_));
    c.column = start + 1;

    // Metric.
    while (pos_ < s_.size() && is_metric_char(s_[pos_])) ++pos_;
    const std::string_view name = s_.substr(start, pos_ - start);
    if (name.empty()) {
      return fail(at("expected a metric, found " + quoted(s_.substr(pos_, 1)), pos_) + " (" +
                  std::string(kKnownMetrics) + ")");
    }
    if (!lookup(name, c.metric)) {
      if (name.starts_with("errors.")) {
        return fail(at("unknown error type " + quoted(name.substr(7)), start + 7) + " (" +
                    std::string(kKnownKinds) + ")");
      }
      return fail(at("unknown metric " + quoted(name), start) + " (" + std::string(kKnownMetrics) +
                  ")");
    }

    // Operator.
    skip_blanks();
    if (!op(name, c.op)) return false;

    // Number.
    skip_blanks();
    const size_t number_at = pos_;
    uint64_t mantissa = 0;
    int decimals = 0;
    int digits = 0;
    while (pos_ < s_.size() && is_digit(s_[pos_])) {
      if (++digits > 18) return fail(at("number too long", number_at));
      mantissa = mantissa * 10 + static_cast<uint64_t>(s_[pos_++] - '0');
    }
    if (digits == 0) {
      const std::string found = pos_ == s_.size() ? "the end" : quoted(s_.substr(pos_, 1));
      return fail(at("expected a number after the operator, found " + found, pos_));
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (pos_ == s_.size() || !is_digit(s_[pos_])) {
        return fail(at("expected a digit after '.'", pos_));
      }
      while (pos_ < s_.size() && is_digit(s_[pos_])) {
        if (++digits > 18) return fail(at("number too long", number_at));
        mantissa = mantissa * 10 + static_cast<uint64_t>(s_[pos_++] - '0');
        ++decimals;
      }
    }
    const std::string_view number = s_.substr(number_at, pos_ - number_at);

    // Unit.
    skip_blanks();
    const size_t unit_at = pos_;
    while (pos_ < s_.size() && is_unit_char(s_[pos_])) ++pos_;
    const std::string_view unit = s_.substr(unit_at, pos_ - unit_at);
    int exponent = -decimals;
    if (is_latency_metric(c.metric)) {
      if (unit.empty()) {
        return fail(at("missing unit after " + quoted(number), unit_at) + " (" +
                    std::string(kLatencyUnits) + ")");
      }
      if (unit == "us" || unit == "\xC2\xB5s") {
        c.unit = FailUnit::us;
      } else if (unit == "ms") {
        c.unit = FailUnit::ms;
        exponent += 3;
      } else if (unit == "s") {
        c.unit = FailUnit::s;
        exponent += 6;
      } else {
        return fail(at("unknown unit " + quoted(unit), unit_at) + " (" +
                    std::string(kLatencyUnits) + ")");
      }
    } else {
      if (!unit.empty()) {
        return fail(at("unexpected unit " + quoted(unit), unit_at) + " (" + quoted(name) +
                    " is a " + (c.metric == FailMetric::rps ? "rate" : "count") + ": no unit)");
      }
      if (c.metric != FailMetric::rps && decimals > 0) {
        return fail(at(quoted(name) + " takes a whole number, found " + quoted(number), number_at));
      }
    }
    // mantissa * 10^exponent, with one rounding at most.
    double scale = 1;
    for (int i = 0; i < (exponent < 0 ? -exponent : exponent); ++i) scale *= 10;
    c.threshold = exponent < 0 ? static_cast<double>(mantissa) / scale
                               : static_cast<double>(mantissa) * scale;

    // End of the condition.
    skip_blanks();
    if (pos_ < s_.size() && s_[pos_] != ',') {
      return fail(at("unexpected " + quoted(s_.substr(pos_, 1)), pos_) +
                  " (conditions are separated by commas)");
    }
    size_t end = pos_;
    while (end > start && is_blank(s_[end - 1])) --end;
    c.text = std::string(s_.substr(start, end - start));
    return true;
  }

  static bool lookup(std::string_view name, FailMetric& metric) {
    for (const MetricName& m : kMetrics) {
      if (m.name == name) {
        metric = m.metric;
        return true;
      }
    }
    return false;
  }

  bool op(std::string_view metric, FailOp& o) {
    const size_t op_at = pos_;
    const char c0 = pos_ < s_.size() ? s_[pos_] : '\0';
    const char c1 = pos_ + 1 < s_.size() ? s_[pos_ + 1] : '\0';
    if (c0 == '>' || c0 == '<') {
      const bool eq = c1 == '=';
      o = c0 == '>' ? (eq ? FailOp::ge : FailOp::gt) : (eq ? FailOp::le : FailOp::lt);
      pos_ += eq ? 2 : 1;
      return true;
    }
    if (c0 == '=' && c1 == '=') {
      o = FailOp::eq;
      pos_ += 2;
      return true;
    }
    if (c0 == '=') return fail(at("'=' is not an operator (use ==)", op_at));
    if (c0 == '!' && c1 == '=') return fail(at("'!=' is not an operator", op_at));
    const std::string found = c0 == '\0' ? "the end" : quoted(s_.substr(pos_, 1));
    return fail(at(
        "expected an operator (> >= < <= ==) after " + quoted(metric) + ", found " + found, op_at));
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

std::string format_number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

FailIfParse parse_fail_if(std::string_view expression) {
  return Parser(expression).run();
}

uint64_t FailIfInputs::errors_total() const noexcept {
  uint64_t total = 0;
  for (uint64_t e : errors) total += e;
  return total;
}

double fail_metric_value(FailMetric metric, const FailIfInputs& in) noexcept {
  auto errors_of = [&](ErrorKind k) {
    return static_cast<double>(in.errors[static_cast<size_t>(k)]);
  };
  switch (metric) {
    case FailMetric::p50:
      return static_cast<double>(in.p50_us);
    case FailMetric::p90:
      return static_cast<double>(in.p90_us);
    case FailMetric::p99:
      return static_cast<double>(in.p99_us);
    case FailMetric::p999:
      return static_cast<double>(in.p999_us);
    case FailMetric::p9999:
      return static_cast<double>(in.p9999_us);
    case FailMetric::max:
      return static_cast<double>(in.max_us);
    case FailMetric::mean:
      return in.mean_us;
    case FailMetric::rps:
      return in.rps;
    case FailMetric::requests:
      return static_cast<double>(in.requests);
    case FailMetric::errors:
      return static_cast<double>(in.errors_total());
    case FailMetric::errors_connect:
      return errors_of(ErrorKind::connect);
    case FailMetric::errors_timeout:
      return errors_of(ErrorKind::timeout);
    case FailMetric::errors_reset:
      return errors_of(ErrorKind::reset);
    case FailMetric::errors_parse:
      return errors_of(ErrorKind::parse);
    case FailMetric::errors_status:
      return errors_of(ErrorKind::status);
    case FailMetric::errors_body:
      return errors_of(ErrorKind::body);
  }
  return 0;
}

std::vector<FailTrip> evaluate_fail_if(const std::vector<FailCondition>& conditions,
                                       const FailIfInputs& inputs) {
  std::vector<FailTrip> trips;
  for (size_t i = 0; i < conditions.size(); ++i) {
    const FailCondition& c = conditions[i];
    const double actual = fail_metric_value(c.metric, inputs);
    bool holds = false;
    switch (c.op) {
      case FailOp::gt:
        holds = actual > c.threshold;
        break;
      case FailOp::ge:
        holds = actual >= c.threshold;
        break;
      case FailOp::lt:
        holds = actual < c.threshold;
        break;
      case FailOp::le:
        holds = actual <= c.threshold;
        break;
      case FailOp::eq:
        holds = actual == c.threshold;
        break;
    }
    if (holds) trips.push_back(FailTrip{i, actual});
  }
  return trips;
}

std::string describe_fail_trip(const FailCondition& condition, double actual) {
  std::string value;
  switch (condition.unit) {
    case FailUnit::none:
      value = format_number(actual);
      break;
    case FailUnit::us:
      value = format_number(actual) + "us";
      break;
    case FailUnit::ms:
      value = format_number(actual / 1e3) + "ms";
      break;
    case FailUnit::s:
      value = format_number(actual / 1e6) + "s";
      break;
  }
  return condition.text + " (was " + value + ")";
}

std::string_view fail_metric_name(FailMetric metric) noexcept {
  for (const MetricName& m : kMetrics) {
    if (m.metric == metric) return m.name;  // the first spelling: p99.9, not p999
  }
  return "?";
}

}  // namespace tether::load
