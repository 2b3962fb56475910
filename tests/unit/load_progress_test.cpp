// tether-load's progress line and the names of plotted runs.
#include "tether-load/progress.hpp"

#include <gtest/gtest.h>

#include "tether-load/report_files.hpp"

namespace {

using namespace std::chrono_literals;
using Progress = tether::load::RunOptions::Progress;

TEST(LoadProgress, OneLineWithCountsRateAndP99) {
  Progress p;
  p.elapsed = 2990ms;  // the callback may come a little early
  p.requests = 123'456;
  p.errors = 7;
  p.last_second_requests = 41'152;
  p.last_second_p99_us = 1234;
  EXPECT_EQ(tether_load::format_progress(p),
            "[  3s] 123,456 req  41,152 req/s  p99 1.23ms  errors 7");
  p.elapsed = 125'000ms;
  p.requests = 5;
  EXPECT_EQ(tether_load::format_progress(p), "[125s] 5 req  41,152 req/s  p99 1.23ms  errors 7");
}

TEST(LoadProgress, WarmupIsShownAsSuch) {
  Progress p;
  p.warming_up = true;
  p.last_second_requests = 999;
  p.last_second_p99_us = 50;
  EXPECT_EQ(tether_load::format_progress(p),
            "[warmup] warming up, not counted  999 req/s  p99 50.00us  errors 0");
}

TEST(LoadProgress, GroupsThousands) {
  EXPECT_EQ(tether_load::group_thousands(0), "0");
  EXPECT_EQ(tether_load::group_thousands(999), "999");
  EXPECT_EQ(tether_load::group_thousands(1000), "1,000");
  EXPECT_EQ(tether_load::group_thousands(18446744073709551615u), "18,446,744,073,709,551,615");
}

TEST(LoadPlotLabel, BaseNameWithoutJson) {
  EXPECT_EQ(tether_load::plot_label("runs/before.json"), "before");
  EXPECT_EQ(tether_load::plot_label("after.json"), "after");
  EXPECT_EQ(tether_load::plot_label("/tmp/x.txt"), "x.txt");
  EXPECT_EQ(tether_load::plot_label(".json"), ".json");
  EXPECT_EQ(tether_load::plot_label("dir/"), "dir/");
}

}  // namespace
