// The reports of a run: the JSON (checked through our reader against the RunResult it was
// made from, and read back whole), hostile strings, the schema checks, the CSV, and the SVG
// (well-formed XML with the expected curves), for one run and for the plot of two.
#include "tether/load/report.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "load/json_reader.hpp"
#include "xml_wellformed.hpp"

namespace {

using namespace std::chrono_literals;
using tether::load::ErrorKind;
using tether::load::Interval;
using tether::load::kErrorKindCount;
using tether::load::RunOptions;
using tether::load::RunReport;
using tether::load::RunResult;
using tether::load::detail::JsonValue;
using tether::load::detail::parse_json;

// A run made by hand: 1000 successes with corrected latencies 1..1000 µs and service times
// 1..500 µs (each twice), every error kind a different count, three seconds of series.
RunResult sample_result() {
  RunResult r;
  r.requests = 1000;
  for (size_t k = 0; k < kErrorKindCount; ++k) r.errors[k] = k + 1;
  r.bytes_read = 123'456;
  r.bytes_written = 65'432;
  for (int v = 1; v <= 1000; ++v) r.latency.record(v);
  for (int v = 1; v <= 500; ++v) r.service.record_n(v, 2);
  for (uint32_t s = 0; s < 3; ++s) {
    Interval i;
    i.second = s;
    i.requests = 300 + s;
    i.errors = s;
    i.p50_us = 500 + s;
    i.p90_us = 900 + s;
    i.p99_us = 990 + s;
    i.max_us = 1000 + s;
    i.service_p99_us = 495 + s;
    r.intervals.push_back(i);
  }
  r.target_rate = 400;
  r.intended = 1200;
  r.elapsed = 2500ms;
  r.connections_requested = 8;
  r.connections_established = 7;
  r.threads = 2;
  return r;
}

RunOptions sample_options() {
  RunOptions o;
  o.connections = 8;
  o.threads = 2;
  o.pipeline = 3;
  o.duration = 2500ms;
  o.warmup = 1s;
  o.rate = 400;
  o.poisson = true;
  return o;
}

const JsonValue& at(const JsonValue& v, std::initializer_list<const char*> path) {
  const JsonValue* cur = &v;
  for (const char* key : path) {
    cur = cur->find(key);
    if (cur == nullptr) {
      ADD_FAILURE() << "no field " << key;
      static const JsonValue kNone;
      return kNone;
    }
  }
  return *cur;
}

uint64_t u64_at(const JsonValue& v, std::initializer_list<const char*> path) {
  const JsonValue& f = at(v, path);
  EXPECT_TRUE(f.is_uint) << "not an unsigned integer at byte " << f.offset;
  return f.uint;
}

double number_at(const JsonValue& v, std::initializer_list<const char*> path) {
  const JsonValue& f = at(v, path);
  EXPECT_EQ(f.type, JsonValue::Type::number);
  return f.number;
}

std::string text_at(const JsonValue& v, std::initializer_list<const char*> path) {
  const JsonValue& f = at(v, path);
  EXPECT_EQ(f.type, JsonValue::Type::string);
  return f.text;
}

TEST(LoadReportJson, FieldsMatchTheRun) {
  const RunResult r = sample_result();
  const RunOptions o = sample_options();
  const std::string json = format_report_json(make_report(o, r, "http://127.0.0.1:8080/x"));
  auto doc = parse_json(json);
  ASSERT_TRUE(doc.ok()) << doc.error << " at " << doc.error_offset << "\n" << json;
  const JsonValue& d = doc.value;

  EXPECT_EQ(text_at(d, {"schema"}), "tether-load/1");
  EXPECT_EQ(text_at(d, {"url"}), "http://127.0.0.1:8080/x");
  EXPECT_EQ(text_at(d, {"mode"}), "open");
  EXPECT_EQ(number_at(d, {"target_rate"}), 400);
  EXPECT_EQ(at(d, {"poisson"}).type, JsonValue::Type::boolean);
  EXPECT_TRUE(at(d, {"poisson"}).boolean);
  EXPECT_EQ(u64_at(d, {"connections"}), 8u);
  EXPECT_EQ(u64_at(d, {"threads"}), 2u);
  EXPECT_EQ(u64_at(d, {"pipeline"}), 3u);
  EXPECT_EQ(number_at(d, {"duration_s"}), 2.5);
  EXPECT_EQ(number_at(d, {"warmup_s"}), 1);
  EXPECT_EQ(number_at(d, {"elapsed_s"}), 2.5);
  EXPECT_EQ(u64_at(d, {"requests"}), 1000u);
  EXPECT_EQ(number_at(d, {"rps"}), 400);
  EXPECT_EQ(u64_at(d, {"bytes_read"}), 123'456u);
  EXPECT_EQ(u64_at(d, {"bytes_written"}), 65'432u);
  EXPECT_EQ(u64_at(d, {"intended"}), 1200u);
  EXPECT_EQ(u64_at(d, {"connections_requested"}), 8u);
  EXPECT_EQ(u64_at(d, {"connections_established"}), 7u);

  // Every kind has its field, under the name --fail-if uses.
  EXPECT_EQ(u64_at(d, {"errors", "total"}), 21u);
  for (size_t k = 0; k < kErrorKindCount; ++k) {
    const std::string name(error_kind_name(static_cast<ErrorKind>(k)));
    EXPECT_EQ(u64_at(d, {"errors", name.c_str()}), k + 1) << name;
  }
  EXPECT_EQ(at(d, {"errors"}).members.size(), kErrorKindCount + 1);

  struct Which {
    const char* name;
    const tether::load::Histogram* h;
  };
  for (const Which& w : {Which{"corrected", &r.latency}, Which{"service", &r.service}}) {
    SCOPED_TRACE(w.name);
    EXPECT_EQ(u64_at(d, {"latency_us", w.name, "p50"}), w.h->value_at_percentile(50));
    EXPECT_EQ(u64_at(d, {"latency_us", w.name, "p90"}), w.h->value_at_percentile(90));
    EXPECT_EQ(u64_at(d, {"latency_us", w.name, "p99"}), w.h->value_at_percentile(99));
    EXPECT_EQ(u64_at(d, {"latency_us", w.name, "p999"}), w.h->value_at_percentile(99.9));
    EXPECT_EQ(u64_at(d, {"latency_us", w.name, "p9999"}), w.h->value_at_percentile(99.99));
    EXPECT_EQ(u64_at(d, {"latency_us", w.name, "max"}), w.h->max());
    EXPECT_EQ(u64_at(d, {"latency_us", w.name, "min"}), 1u);
    EXPECT_DOUBLE_EQ(number_at(d, {"latency_us", w.name, "mean"}), w.h->mean());

    const JsonValue& spectrum = at(d, {"spectrum", w.name});
    ASSERT_EQ(spectrum.type, JsonValue::Type::array);
    const std::vector<double> ps = tether::load::spectrum_percentiles();
    ASSERT_EQ(spectrum.items.size(), ps.size());
    for (size_t i = 0; i < ps.size(); ++i) {
      const JsonValue& pair = spectrum.items[i];
      ASSERT_EQ(pair.items.size(), 2u);
      EXPECT_EQ(pair.items[0].number, ps[i]);
      EXPECT_EQ(pair.items[1].uint, w.h->value_at_percentile(ps[i]));
    }
    EXPECT_EQ(spectrum.items.back().items[1].uint, w.h->max());
  }
  // The p99s differ: the two histograms were not mixed up.
  EXPECT_NE(u64_at(d, {"latency_us", "corrected", "p99"}),
            u64_at(d, {"latency_us", "service", "p99"}));

  const JsonValue& series = at(d, {"series"});
  ASSERT_EQ(series.items.size(), 3u);
  for (uint32_t s = 0; s < 3; ++s) {
    const JsonValue& p = series.items[s];
    EXPECT_EQ(u64_at(p, {"t"}), s);
    EXPECT_EQ(u64_at(p, {"requests"}), 300u + s);
    EXPECT_EQ(u64_at(p, {"errors"}), s);
    EXPECT_EQ(u64_at(p, {"p50"}), 500u + s);
    EXPECT_EQ(u64_at(p, {"p90"}), 900u + s);
    EXPECT_EQ(u64_at(p, {"p99"}), 990u + s);
    EXPECT_EQ(u64_at(p, {"max"}), 1000u + s);
    EXPECT_EQ(u64_at(p, {"service_p99"}), 495u + s);
  }
  // Whole seconds at their count; the last one (2 .. 2.5 s) over the half second it lasted.
  EXPECT_EQ(number_at(series.items[0], {"rps"}), 300);
  EXPECT_EQ(number_at(series.items[2], {"rps"}), 302 / 0.5);
}

TEST(LoadReportJson, ReadsBackWhatItWrote) {
  const RunReport a = make_report(sample_options(), sample_result(), "http://h/");
  RunReport b;
  std::string error;
  ASSERT_TRUE(parse_report_json(format_report_json(a), b, error)) << error;
  EXPECT_EQ(b.url, a.url);
  EXPECT_EQ(b.open_loop, a.open_loop);
  EXPECT_EQ(b.target_rate, a.target_rate);
  EXPECT_EQ(b.poisson, a.poisson);
  EXPECT_EQ(b.connections, a.connections);
  EXPECT_EQ(b.threads, a.threads);
  EXPECT_EQ(b.pipeline, a.pipeline);
  EXPECT_EQ(b.duration_s, a.duration_s);
  EXPECT_EQ(b.warmup_s, a.warmup_s);
  EXPECT_EQ(b.elapsed_s, a.elapsed_s);
  EXPECT_EQ(b.requests, a.requests);
  EXPECT_EQ(b.rps, a.rps);
  EXPECT_EQ(b.bytes_read, a.bytes_read);
  EXPECT_EQ(b.bytes_written, a.bytes_written);
  EXPECT_EQ(b.intended, a.intended);
  EXPECT_EQ(b.connections_requested, a.connections_requested);
  EXPECT_EQ(b.connections_established, a.connections_established);
  EXPECT_EQ(b.errors, a.errors);
  EXPECT_EQ(b.errors_total, a.errors_total);
  for (auto [x, y] : {std::pair{&a.corrected, &b.corrected}, std::pair{&a.service, &b.service}}) {
    EXPECT_EQ(y->p50, x->p50);
    EXPECT_EQ(y->p90, x->p90);
    EXPECT_EQ(y->p99, x->p99);
    EXPECT_EQ(y->p999, x->p999);
    EXPECT_EQ(y->p9999, x->p9999);
    EXPECT_EQ(y->max, x->max);
    EXPECT_EQ(y->min, x->min);
    EXPECT_EQ(y->mean, x->mean);  // shortest exact form: the same double
  }
  ASSERT_EQ(b.corrected_spectrum.size(), a.corrected_spectrum.size());
  for (size_t i = 0; i < a.corrected_spectrum.size(); ++i) {
    EXPECT_EQ(b.corrected_spectrum[i].percentile, a.corrected_spectrum[i].percentile);
    EXPECT_EQ(b.corrected_spectrum[i].value_us, a.corrected_spectrum[i].value_us);
    EXPECT_EQ(b.service_spectrum[i].value_us, a.service_spectrum[i].value_us);
  }
  ASSERT_EQ(b.series.size(), a.series.size());
  for (size_t i = 0; i < a.series.size(); ++i) {
    EXPECT_EQ(b.series[i].t, a.series[i].t);
    EXPECT_EQ(b.series[i].requests, a.series[i].requests);
    EXPECT_EQ(b.series[i].errors, a.series[i].errors);
    EXPECT_EQ(b.series[i].rps, a.series[i].rps);
    EXPECT_EQ(b.series[i].p50_us, a.series[i].p50_us);
    EXPECT_EQ(b.series[i].p90_us, a.series[i].p90_us);
    EXPECT_EQ(b.series[i].p99_us, a.series[i].p99_us);
    EXPECT_EQ(b.series[i].max_us, a.series[i].max_us);
    EXPECT_EQ(b.series[i].service_p99_us, a.series[i].service_p99_us);
  }
}

TEST(LoadReportJson, ClosedLoopAndAnEmptyRun) {
  RunOptions o;
  RunResult r;  // nothing happened: no requests, no intervals, empty histograms
  const std::string json = format_report_json(make_report(o, r, "http://h/"));
  auto doc = parse_json(json);
  ASSERT_TRUE(doc.ok()) << doc.error;
  EXPECT_EQ(text_at(doc.value, {"mode"}), "closed");
  EXPECT_EQ(number_at(doc.value, {"target_rate"}), 0);
  EXPECT_EQ(u64_at(doc.value, {"latency_us", "corrected", "max"}), 0u);
  EXPECT_TRUE(at(doc.value, {"spectrum", "corrected"}).items.empty());
  EXPECT_TRUE(at(doc.value, {"series"}).items.empty());
}

TEST(LoadReportJson, HostileStringsRoundTrip) {
  const std::string hostile[] = {
      "http://h/\"quoted\"",
      "http://h/back\\slash\\\\",
      std::string("http://h/ctl\x01\x02\x1f\x7f") + std::string(1, '\0') + "nul",
      "http://h/new\nline\ttab\rcr\b\f",
      "http://h/\xC3\xA9t\xC3\xA9/\xF0\x9F\x9A\x80",  // é and a 4-byte emoji
      "http://h/</svg><script>&amp;'",
      "http://h/\\u0041 not an escape",
  };
  for (const std::string& url : hostile) {
    RunReport a;
    a.url = url;
    const std::string json = format_report_json(a);
    // Raw control bytes never reach the file.
    for (char c : json) {
      EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != ' ')
          << "raw control byte " << int(c);
    }
    RunReport b;
    std::string error;
    ASSERT_TRUE(parse_report_json(json, b, error)) << error << "\n" << json;
    EXPECT_EQ(b.url, url);
  }
}

TEST(LoadReportJson, InvalidUtf8IsWrittenAsReplacementCharacters) {
  RunReport a;
  a.url = "http://h/\xFF\xC3(\xED\xA0\x80";  // a stray byte, a cut sequence, a surrogate
  const std::string json = format_report_json(a);
  RunReport b;
  std::string error;
  ASSERT_TRUE(parse_report_json(json, b, error)) << error;
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(b.url, "http://h/" + fffd + fffd + "(" + fffd + fffd + fffd);
}

TEST(LoadReportJson, NonFiniteNumbersAreWrittenAsZero) {
  RunReport a;
  a.rps = std::numeric_limits<double>::quiet_NaN();
  a.target_rate = std::numeric_limits<double>::infinity();
  a.elapsed_s = -std::numeric_limits<double>::infinity();
  const std::string json = format_report_json(a);
  EXPECT_EQ(json.find("nan"), std::string::npos);
  EXPECT_EQ(json.find("inf"), std::string::npos);
  RunReport b;
  std::string error;
  ASSERT_TRUE(parse_report_json(json, b, error)) << error;
  EXPECT_EQ(b.rps, 0);
  EXPECT_EQ(b.target_rate, 0);
  EXPECT_EQ(b.elapsed_s, 0);
}

std::string with(std::string json, const std::string& from, const std::string& to) {
  const size_t at = json.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) json.replace(at, from.size(), to);
  return json;
}

TEST(LoadReportJson, RefusesWhatIsNotAReportOfThisSchema) {
  const std::string good =
      format_report_json(make_report(sample_options(), sample_result(), "http://h/"));
  struct Case {
    std::string doc;
    std::string error;  // the expected message, after "byte N: "
  };
  const Case cases[] = {
      {"[]", "not a tether-load report (not an object)"},
      {"{}", "not a tether-load report (schema must be \"tether-load/1\")"},
      {with(good, "tether-load/1", "tether-load/2"), "schema must be"},
      {with(good, "\"schema\": \"tether-load/1\"", "\"schema\": 1"), "schema must be"},
      {with(good, "\"requests\": 1000", "\"requestz\": 1000"), "'requests' is missing"},
      {with(good, "\"requests\": 1000", "\"requests\": -1000"),
       "requests must be an unsigned integer"},
      {with(good, "\"requests\": 1000", "\"requests\": 1.5"),
       "requests must be an unsigned integer"},
      {with(good, "\"requests\": 1000", "\"requests\": 18446744073709551616"),
       "requests must be an unsigned integer"},
      {with(good, "\"requests\": 1000", "\"requests\": \"1000\""), "'requests' must be a number"},
      {with(good, "\"connections\": 8", "\"connections\": 4294967296"), "connections is too large"},
      {with(good, "\"mode\": \"open\"", "\"mode\": \"half-open\""), "mode must be"},
      {with(good, "\"timeout\": 2", "\"timeoutx\": 2"), "'errors.timeout' is missing"},
      {with(good, "\"p999\": ", "\"p99.9\": "), "'latency_us.corrected.p999' is missing"},
      {with(good, "[0, 1]", "[0]"), "spectrum.corrected must hold [percentile, value_us] pairs"},
      {with(good, "\"series\": [", "\"series\": [7, "), "series[0] must be an object"},
      {with(good, "\"service_p99\": 496", "\"service_p98\": 496"),
       "'series[1].service_p99' is missing"},
      {with(good, "\"series\": [", "\"series\": {\"a\": ["), "byte"},  // not JSON any more
  };
  for (const Case& c : cases) {
    RunReport out;
    std::string error;
    EXPECT_FALSE(parse_report_json(c.doc, out, error)) << c.error;
    EXPECT_EQ(error.rfind("byte ", 0), 0u) << error;
    EXPECT_NE(error.find(c.error), std::string::npos) << "got: " << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
}

TEST(LoadReportJson, ErrorOffsetsPointAtTheFault) {
  std::string doc = format_report_json(RunReport{});
  const std::string from = "\"requests\": 0";
  const size_t at_field = doc.find(from);
  ASSERT_NE(at_field, std::string::npos);
  doc.replace(at_field, from.size(), "\"requests\": true");
  RunReport out;
  std::string error;
  ASSERT_FALSE(parse_report_json(doc, out, error));
  EXPECT_EQ(error, "byte " + std::to_string(at_field + 12) + ": 'requests' must be a number");
}

TEST(LoadReportJson, IgnoresUnknownFields) {
  std::string doc = format_report_json(RunReport{});
  doc.insert(doc.find('{') + 1, "\"from_the_future\": {\"x\": [1, 2, null]},");
  RunReport out;
  std::string error;
  EXPECT_TRUE(parse_report_json(doc, out, error)) << error;
}

TEST(LoadReportSpectrum, HdrHistogramTicks) {
  const std::vector<double> ps = tether::load::spectrum_percentiles();
  ASSERT_GE(ps.size(), 60u);  // a smooth curve
  EXPECT_EQ(ps.front(), 0);
  EXPECT_EQ(ps[ps.size() - 2], 99.9999);
  EXPECT_EQ(ps.back(), 100);
  for (size_t i = 1; i < ps.size(); ++i) EXPECT_LT(ps[i - 1], ps[i]) << i;
  for (double p : {50.0, 75.0, 87.5, 93.75, 96.875}) {
    EXPECT_NE(std::find(ps.begin(), ps.end(), p), ps.end()) << p;
  }
  // As many points in every halving of the distance to 100%: evenly spread on the log axis.
  auto between = [&](double lo, double hi) {
    return std::count_if(ps.begin(), ps.end(), [&](double p) { return p >= lo && p < hi; });
  };
  EXPECT_EQ(between(0, 50), between(50, 75));
  EXPECT_EQ(between(99, 99.5), between(99.5, 99.75));
}

TEST(LoadReportCsv, HeaderAndOneLinePerSecond) {
  const std::string csv =
      format_report_csv(make_report(sample_options(), sample_result(), "http://h/"));
  EXPECT_EQ(csv,
            "second,requests,errors,rps,p50_us,p90_us,p99_us,max_us,service_p99_us\n"
            "0,300,0,300.00,500,900,990,1000,495\n"
            "1,301,1,301.00,501,901,991,1001,496\n"
            "2,302,2,604.00,502,902,992,1002,497\n");
  EXPECT_EQ(format_report_csv(RunReport{}),
            "second,requests,errors,rps,p50_us,p90_us,p99_us,max_us,service_p99_us\n");
}

// The XML checker must refuse what is not well-formed, or the SVG tests prove nothing.
TEST(XmlChecker, RefusesMalformedDocuments) {
  const char* bad[] = {
      "",
      "<svg>",
      "<svg></g>",
      "<svg><g></svg></g>",
      "<svg x=1/>",
      "<svg x=\"1/>",
      "<svg x=\"<\"/>",
      "<svg x=\"1\" x=\"2\"/>",
      "<svg>a < b</svg>",
      "<svg>a & b</svg>",
      "<svg>&nbsp;</svg>",
      "<svg/><svg/>",
      "text<svg/>",
      "<svg>\x01</svg>",
      "<svg>\xFF</svg>",
      "<svg x=\"1\"y=\"2\"/>",
      "<svg>]]></svg>",
  };
  for (const char* doc : bad) EXPECT_FALSE(tether_test::check_xml(doc).ok()) << doc;
  const auto good = tether_test::check_xml(
      "<?xml version=\"1.0\"?>\n<svg a='1' b=\"&amp;&#60;&#x3C;\"><g><text>a &lt; b</text></g>"
      "<path/></svg>\n");
  EXPECT_TRUE(good.ok()) << good.error;
  EXPECT_EQ(good.elements.size(), 4u);
  EXPECT_EQ(good.count("text"), 1u);
}

void expect_valid_svg(const std::string& svg, const tether_test::XmlCheck& x) {
  ASSERT_TRUE(x.ok()) << x.error << "\n" << svg;
  ASSERT_FALSE(x.elements.empty());
  EXPECT_EQ(x.elements[0].name, "svg");
  EXPECT_EQ(x.elements[0].attributes.at("xmlns"), "http://www.w3.org/2000/svg");
  EXPECT_TRUE(x.elements[0].attributes.count("viewBox"));
  // Every coordinate is a plain number (no nan, inf, or locale commas).
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

bool has_text(const tether_test::XmlCheck& x, const std::string& needle) {
  for (const auto& e : x.elements) {
    if (e.name == "text" && e.text.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST(LoadReportSvg, OneRunIsWellFormedWithItsCurvesAndAxes) {
  RunReport rep = make_report(sample_options(), sample_result(), "http://h/<&>\"'\x01");
  const std::string svg = tether::load::draw_report_svg({{"run", rep}});
  const auto x = tether_test::check_xml(svg);
  expect_valid_svg(svg, x);
  // Spectrum corrected and service, throughput, p99: four curves.
  EXPECT_EQ(x.count("path", "class", "curve"), 4u);
  EXPECT_EQ(x.count("path", "class", "curve corrected"), 1u);
  EXPECT_EQ(x.count("path", "class", "curve service"), 1u);
  EXPECT_EQ(x.count("path", "class", "curve rps"), 1u);
  EXPECT_EQ(x.count("path", "class", "curve p99"), 1u);
  // The service curve is dashed, the corrected one is not.
  for (const auto& e : x.elements) {
    if (e.name != "path") continue;
    EXPECT_EQ(e.attributes.count("stroke-dasharray"), e.attributes.at("class") == "curve service")
        << e.attributes.at("class");
  }
  // The title names the URL (escaped) and the mode.
  EXPECT_TRUE(has_text(x, "http://h/&lt;&amp;&gt;&quot;&apos;")) << svg;
  EXPECT_TRUE(has_text(x, "open loop at 400 req/s (poisson)"));
  // The log axes: HdrHistogram's percentile labels and latency decades.
  for (const char* label : {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"}) {
    EXPECT_TRUE(has_text(x, label)) << label;
  }
  EXPECT_TRUE(has_text(x, "1\xC2\xB5s"));
  EXPECT_TRUE(has_text(x, "1ms"));
  EXPECT_TRUE(has_text(x, "corrected"));
  EXPECT_TRUE(has_text(x, "service"));
}

TEST(LoadReportSvg, AnEmptyRunDrawsAxesAndNoCurve) {
  const std::string svg = tether::load::draw_report_svg({{"nothing", RunReport{}}});
  const auto x = tether_test::check_xml(svg);
  expect_valid_svg(svg, x);
  EXPECT_EQ(x.count("path", "class", "curve"), 0u);
  EXPECT_GT(x.count("text"), 10u);
}

TEST(LoadReportSvg, HostileNumbersStayFinite) {
  RunReport rep;
  rep.corrected_spectrum = {{-5, 0}, {50, UINT64_MAX}, {100, UINT64_MAX}, {250, 3}};
  rep.series = {{0, 1, 0, 1e300, 0, 0, UINT64_MAX, 0, 0},
                {UINT32_MAX, 1, 0, -5, 0, 0, 1, 0, 0},
                {7, 1, 0, std::numeric_limits<double>::quiet_NaN(), 0, 0, 5, 0, 0}};
  const std::string svg = tether::load::draw_report_svg({{"x", rep}});
  expect_valid_svg(svg, tether_test::check_xml(svg));
}

TEST(LoadReportSvg, PlotOfTwoRunsHasBothLabelsAndColours) {
  RunReport a = make_report(sample_options(), sample_result(), "http://a/");
  RunOptions closed = sample_options();
  closed.rate = 0;
  RunReport b = make_report(closed, sample_result(), "http://b/");
  const std::string svg = tether::load::draw_report_svg({{"before", a}, {"after", b}});
  const auto x = tether_test::check_xml(svg);
  expect_valid_svg(svg, x);
  EXPECT_EQ(x.count("path", "class", "curve"), 8u);
  EXPECT_TRUE(has_text(x, "before"));
  EXPECT_TRUE(has_text(x, "after"));
  EXPECT_TRUE(has_text(x, "2 runs compared"));
  EXPECT_TRUE(has_text(x, "closed loop"));
  EXPECT_TRUE(has_text(x, "open loop"));
  // Each run's four curves in its own colour, and the colours differ.
  std::map<std::string, int> strokes;
  for (const auto& e : x.elements) {
    if (e.name == "path" && e.attributes.at("class").rfind("curve", 0) == 0) {
      ++strokes[e.attributes.at("stroke")];
    }
  }
  ASSERT_EQ(strokes.size(), 2u);
  for (const auto& [colour, n] : strokes) EXPECT_EQ(n, 4) << colour;
}

}  // namespace
