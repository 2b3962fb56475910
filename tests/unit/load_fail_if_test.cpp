// --fail-if: every metric, operator and unit, blanks, errors with their positions, and the
// evaluation against a run's results.
#include "tether/load/fail_if.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using tether::load::describe_fail_trip;
using tether::load::ErrorKind;
using tether::load::evaluate_fail_if;
using tether::load::fail_metric_name;
using tether::load::FailCondition;
using tether::load::FailIfInputs;
using tether::load::FailIfParse;
using tether::load::FailMetric;
using tether::load::FailOp;
using tether::load::FailUnit;
using tether::load::parse_fail_if;

FailCondition one(std::string_view expr) {
  FailIfParse p = parse_fail_if(expr);
  EXPECT_TRUE(p.ok()) << expr << ": " << p.error;
  EXPECT_EQ(p.conditions.size(), 1u) << expr;
  return p.conditions.empty() ? FailCondition{} : p.conditions[0];
}

std::string error_of(std::string_view expr) {
  FailIfParse p = parse_fail_if(expr);
  EXPECT_FALSE(p.ok()) << expr;
  EXPECT_TRUE(p.conditions.empty()) << expr;
  return p.error;
}

TEST(LoadFailIf, EveryMetric) {
  struct Row {
    const char* expr;
    FailMetric metric;
    double threshold;
  };
  const Row rows[] = {
      {"p50>1ms", FailMetric::p50, 1000},
      {"p90>1ms", FailMetric::p90, 1000},
      {"p99>1ms", FailMetric::p99, 1000},
      {"p99.9>1ms", FailMetric::p999, 1000},
      {"p999>1ms", FailMetric::p999, 1000},
      {"p99.99>1ms", FailMetric::p9999, 1000},
      {"p9999>1ms", FailMetric::p9999, 1000},
      {"max>1ms", FailMetric::max, 1000},
      {"mean>1ms", FailMetric::mean, 1000},
      {"rps>1", FailMetric::rps, 1},
      {"requests>1", FailMetric::requests, 1},
      {"errors>1", FailMetric::errors, 1},
      {"errors.connect>1", FailMetric::errors_connect, 1},
      {"errors.timeout>1", FailMetric::errors_timeout, 1},
      {"errors.reset>1", FailMetric::errors_reset, 1},
      {"errors.parse>1", FailMetric::errors_parse, 1},
      {"errors.status>1", FailMetric::errors_status, 1},
      {"errors.body>1", FailMetric::errors_body, 1},
  };
  for (const Row& r : rows) {
    FailCondition c = one(r.expr);
    EXPECT_EQ(c.metric, r.metric) << r.expr;
    EXPECT_EQ(c.op, FailOp::gt) << r.expr;
    EXPECT_EQ(c.threshold, r.threshold) << r.expr;
    EXPECT_EQ(c.text, r.expr);
    EXPECT_EQ(c.column, 1u);
  }
  EXPECT_EQ(fail_metric_name(FailMetric::p999), "p99.9");
  EXPECT_EQ(fail_metric_name(FailMetric::p9999), "p99.99");
  EXPECT_EQ(fail_metric_name(FailMetric::errors_timeout), "errors.timeout");
  EXPECT_EQ(fail_metric_name(FailMetric::rps), "rps");
}

TEST(LoadFailIf, EveryOperator) {
  EXPECT_EQ(one("p99>5ms").op, FailOp::gt);
  EXPECT_EQ(one("p99>=5ms").op, FailOp::ge);
  EXPECT_EQ(one("p99<5ms").op, FailOp::lt);
  EXPECT_EQ(one("p99<=5ms").op, FailOp::le);
  EXPECT_EQ(one("p99==5ms").op, FailOp::eq);
}

TEST(LoadFailIf, UnitsAndNumbers) {
  FailCondition c = one("p99.9>=250us");
  EXPECT_EQ(c.threshold, 250);
  EXPECT_EQ(c.unit, FailUnit::us);
  c = one("p99>250\xC2\xB5s");  // µs
  EXPECT_EQ(c.threshold, 250);
  EXPECT_EQ(c.unit, FailUnit::us);
  c = one("p50>1.5ms");
  EXPECT_EQ(c.threshold, 1500);
  EXPECT_EQ(c.unit, FailUnit::ms);
  c = one("max>2s");
  EXPECT_EQ(c.threshold, 2'000'000);
  EXPECT_EQ(c.unit, FailUnit::s);
  EXPECT_EQ(one("max>0.3ms").threshold, 300);  // exact: 3 * 10^2, not 0.3 * 1000
  EXPECT_EQ(one("max>0.001s").threshold, 1000);
  EXPECT_EQ(one("max>1.25us").threshold, 1.25);
  EXPECT_EQ(one("max>0us").threshold, 0);
  EXPECT_EQ(one("max>007ms").threshold, 7000);
  EXPECT_EQ(one("rps<1000").threshold, 1000);
  EXPECT_EQ(one("rps<999.5").threshold, 999.5);
  EXPECT_EQ(one("rps<999.5").unit, FailUnit::none);
  EXPECT_EQ(one("errors.timeout>0").threshold, 0);
  EXPECT_EQ(one("requests<100000000000000000").threshold, 1e17);
}

TEST(LoadFailIf, Lists) {
  FailIfParse p = parse_fail_if("p99>5ms,errors>0");
  ASSERT_TRUE(p.ok()) << p.error;
  ASSERT_EQ(p.conditions.size(), 2u);
  EXPECT_EQ(p.conditions[0].metric, FailMetric::p99);
  EXPECT_EQ(p.conditions[0].text, "p99>5ms");
  EXPECT_EQ(p.conditions[0].column, 1u);
  EXPECT_EQ(p.conditions[1].metric, FailMetric::errors);
  EXPECT_EQ(p.conditions[1].text, "errors>0");
  EXPECT_EQ(p.conditions[1].column, 9u);

  p = parse_fail_if(
      "p50>1ms,p90>2ms,p99>3ms,p99.9>4ms,p99.99>5ms,max>1s,mean>1ms,rps<10,"
      "requests<5,errors>0,errors.body>=1");
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.conditions.size(), 11u);
}

TEST(LoadFailIf, Blanks) {
  FailIfParse p = parse_fail_if("  p99 > 5 ms ,\terrors >= 1  ");
  ASSERT_TRUE(p.ok()) << p.error;
  ASSERT_EQ(p.conditions.size(), 2u);
  EXPECT_EQ(p.conditions[0].threshold, 5000);
  EXPECT_EQ(p.conditions[0].text, "p99 > 5 ms");
  EXPECT_EQ(p.conditions[0].column, 3u);
  EXPECT_EQ(p.conditions[1].op, FailOp::ge);
  EXPECT_EQ(p.conditions[1].text, "errors >= 1");
  EXPECT_EQ(p.conditions[1].column, 16u);
}

TEST(LoadFailIf, ErrorsSayWhatAndWhere) {
  EXPECT_EQ(error_of("p98>5ms"),
            "unknown metric 'p98' at 1 (known: p50 p90 p99 p99.9 p99.99 max mean rps requests "
            "errors errors.TYPE)");
  EXPECT_EQ(error_of("p99>5ms,p98>1ms").substr(0, 25), "unknown metric 'p98' at 9");
  EXPECT_EQ(error_of("P99>5ms").substr(0, 25), "unknown metric 'P99' at 1");
  EXPECT_EQ(error_of("errors.dns>0"),
            "unknown error type 'dns' at 8 (known: connect timeout reset parse status body)");
  EXPECT_EQ(error_of("errors.>0"),
            "unknown error type '' at 8 (known: connect timeout reset parse "
            "status body)");
  EXPECT_EQ(error_of(""), "empty expression (example: p99>5ms,errors>0)");
  EXPECT_EQ(error_of("   "), "empty expression (example: p99>5ms,errors>0)");
  EXPECT_EQ(error_of("p99>5ms,,errors>0"), "empty condition at 9");
  EXPECT_EQ(error_of("p99>5ms,"), "empty condition at 9");
  EXPECT_EQ(error_of("p99>5ms, "), "empty condition at 10");
  EXPECT_EQ(error_of(",p99>5ms"), "empty condition at 1");
  EXPECT_EQ(error_of(">5ms").substr(0, 35), "expected a metric, found '>' at 1 (");
  EXPECT_EQ(error_of("p99 5ms"), "expected an operator (> >= < <= ==) after 'p99', found '5' at 5");
  EXPECT_EQ(error_of("p99"), "expected an operator (> >= < <= ==) after 'p99', found the end at 4");
  EXPECT_EQ(error_of("p99=5ms"), "'=' is not an operator (use ==) at 4");
  EXPECT_EQ(error_of("p99!=5ms"), "'!=' is not an operator at 4");
  EXPECT_EQ(error_of("p99=>5ms"), "'=' is not an operator (use ==) at 4");
  EXPECT_EQ(error_of("p99>"), "expected a number after the operator, found the end at 5");
  EXPECT_EQ(error_of("p99>ms"), "expected a number after the operator, found 'm' at 5");
  EXPECT_EQ(error_of("p99>-5ms"), "expected a number after the operator, found '-' at 5");
  EXPECT_EQ(error_of("p99>>5ms"), "expected a number after the operator, found '>' at 5");
  EXPECT_EQ(error_of("p99>.5ms"), "expected a number after the operator, found '.' at 5");
  EXPECT_EQ(error_of("p99>5.ms"), "expected a digit after '.' at 7");
  EXPECT_EQ(error_of("p99>5"), "missing unit after '5' at 6 (latency takes us, ms or s)");
  EXPECT_EQ(error_of("p99>5,errors>0"), "missing unit after '5' at 6 (latency takes us, ms or s)");
  EXPECT_EQ(error_of("p99>5min"), "unknown unit 'min' at 6 (latency takes us, ms or s)");
  EXPECT_EQ(error_of("p99>5MS"), "unknown unit 'MS' at 6 (latency takes us, ms or s)");
  EXPECT_EQ(error_of("errors>0ms"), "unexpected unit 'ms' at 9 ('errors' is a count: no unit)");
  EXPECT_EQ(error_of("rps<10k"), "unexpected unit 'k' at 7 ('rps' is a rate: no unit)");
  EXPECT_EQ(error_of("errors>0.5"), "'errors' takes a whole number, found '0.5' at 8");
  EXPECT_EQ(error_of("requests>1.0"), "'requests' takes a whole number, found '1.0' at 10");
  EXPECT_EQ(error_of("p99>5ms errors>0"),
            "unexpected 'e' at 9 (conditions are separated by commas)");
  EXPECT_EQ(error_of("p99>5ms;errors>0"),
            "unexpected ';' at 8 (conditions are separated by commas)");
  EXPECT_EQ(error_of("p99>1e3us"), "unknown unit 'e' at 6 (latency takes us, ms or s)");
  EXPECT_EQ(error_of("errors>1234567890123456789"), "number too long at 8");
  // A valid condition before a bad one does not survive: all or nothing.
  FailIfParse p = parse_fail_if("p99>5ms,bogus>1");
  EXPECT_FALSE(p.ok());
  EXPECT_TRUE(p.conditions.empty());
}

FailIfInputs sample_run() {
  FailIfInputs in;
  in.p50_us = 900;
  in.p90_us = 2000;
  in.p99_us = 7210;
  in.p999_us = 250;  // not monotonic on purpose: every metric reads its own field
  in.p9999_us = 40'000;
  in.max_us = 2'500'000;
  in.mean_us = 1234.5;
  in.rps = 812.5;
  in.requests = 8125;
  in.errors[static_cast<size_t>(ErrorKind::connect)] = 1;
  in.errors[static_cast<size_t>(ErrorKind::timeout)] = 2;
  in.errors[static_cast<size_t>(ErrorKind::reset)] = 3;
  in.errors[static_cast<size_t>(ErrorKind::parse)] = 4;
  in.errors[static_cast<size_t>(ErrorKind::status)] = 5;
  in.errors[static_cast<size_t>(ErrorKind::body)] = 6;
  return in;
}

// Whether the single condition `expr` trips on sample_run().
bool trips(std::string_view expr) {
  FailIfParse p = parse_fail_if(expr);
  EXPECT_TRUE(p.ok()) << expr << ": " << p.error;
  return !evaluate_fail_if(p.conditions, sample_run()).empty();
}

TEST(LoadFailIf, EvaluateEveryMetric) {
  EXPECT_EQ(sample_run().errors_total(), 21u);
  // Each metric just at and just past its value.
  EXPECT_TRUE(trips("p50>=900us"));
  EXPECT_FALSE(trips("p50>900us"));
  EXPECT_TRUE(trips("p90==2ms"));
  EXPECT_TRUE(trips("p99>7.2ms"));
  EXPECT_FALSE(trips("p99>7.21ms"));
  EXPECT_TRUE(trips("p99.9<=250us"));
  EXPECT_FALSE(trips("p99.9<250us"));
  EXPECT_TRUE(trips("p99.99>39ms"));
  EXPECT_TRUE(trips("max>2s"));
  EXPECT_FALSE(trips("max>2.5s"));
  EXPECT_TRUE(trips("mean>1234us"));
  EXPECT_FALSE(trips("mean>1234.5us"));
  EXPECT_TRUE(trips("rps<1000"));
  EXPECT_FALSE(trips("rps<812.5"));
  EXPECT_TRUE(trips("rps<=812.5"));
  EXPECT_TRUE(trips("requests<8126"));
  EXPECT_FALSE(trips("requests<8125"));
  EXPECT_TRUE(trips("errors>20"));
  EXPECT_FALSE(trips("errors>21"));
  EXPECT_TRUE(trips("errors.connect==1"));
  EXPECT_TRUE(trips("errors.timeout==2"));
  EXPECT_TRUE(trips("errors.reset==3"));
  EXPECT_TRUE(trips("errors.parse==4"));
  EXPECT_TRUE(trips("errors.status==5"));
  EXPECT_TRUE(trips("errors.body==6"));
  EXPECT_FALSE(trips("errors.body==5"));
}

TEST(LoadFailIf, EvaluateReportsWhichTripped) {
  FailIfParse p = parse_fail_if("p99>5ms, errors>0, rps<100, errors.timeout>=2");
  ASSERT_TRUE(p.ok()) << p.error;
  auto trips_found = evaluate_fail_if(p.conditions, sample_run());
  ASSERT_EQ(trips_found.size(), 3u);
  EXPECT_EQ(trips_found[0].index, 0u);
  EXPECT_EQ(trips_found[0].actual, 7210);
  EXPECT_EQ(trips_found[1].index, 1u);
  EXPECT_EQ(trips_found[1].actual, 21);
  EXPECT_EQ(trips_found[2].index, 3u);
  EXPECT_EQ(describe_fail_trip(p.conditions[0], trips_found[0].actual), "p99>5ms (was 7.21ms)");
  EXPECT_EQ(describe_fail_trip(p.conditions[1], trips_found[1].actual), "errors>0 (was 21)");
  EXPECT_EQ(describe_fail_trip(p.conditions[3], trips_found[2].actual),
            "errors.timeout>=2 (was 2)");

  // A clean run trips nothing.
  FailIfInputs clean;
  clean.p99_us = 800;
  clean.rps = 5000;
  EXPECT_TRUE(evaluate_fail_if(p.conditions, clean).empty());
}

TEST(LoadFailIf, DescribeUsesTheConditionsUnit) {
  EXPECT_EQ(describe_fail_trip(one("max>2s"), 2'500'000), "max>2s (was 2.5s)");
  EXPECT_EQ(describe_fail_trip(one("p99.9 >= 250us"), 250), "p99.9 >= 250us (was 250us)");
  EXPECT_EQ(describe_fail_trip(one("rps<1000"), 812.5), "rps<1000 (was 812.5)");
  EXPECT_EQ(describe_fail_trip(one("requests<1000"), 12), "requests<1000 (was 12)");
}

}  // namespace
