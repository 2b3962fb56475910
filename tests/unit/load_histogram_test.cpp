// Histogram: exact percentiles on known data, the precision bound over the whole range,
// clamping, merge, reset and the bucket iteration.
#include "tether/load/histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <new>
#include <random>
#include <vector>

// Every allocation of this test binary is counted, to check that recording never allocates.
namespace {
std::atomic<uint64_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

using tether::load::Histogram;

constexpr uint64_t kHour = 3'600'000'000;

// Every bucket is at most 1/1024 of its lowest value wide: a value and whatever the
// histogram reports for its bucket differ by less than 0.1% of the value.
void expect_within_precision(uint64_t reported, uint64_t value) {
  EXPECT_GE(reported, value);
  EXPECT_LE(static_cast<double>(reported - value), static_cast<double>(value) * 0.001)
      << "value " << value << " reported " << reported;
}

// The nearest-rank percentile of sorted data: the smallest value with at least p% of the
// samples at or below it.
uint64_t nearest_rank(const std::vector<uint64_t>& sorted, double p) {
  double exact = p / 100.0 * static_cast<double>(sorted.size());
  auto rank = static_cast<size_t>(std::ceil(exact - exact * 1e-12));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

TEST(LoadHistogram, Layout) {
  EXPECT_EQ(Histogram::kBucketCount, 23'221u);
  EXPECT_EQ(Histogram::kMemoryBytes, 23'221u * 8);
  EXPECT_EQ(Histogram::kHighest, kHour);
  // Unit buckets up to 2047, then 1024 buckets per power of two.
  for (int64_t v : {1, 2, 1000, 2047}) {
    EXPECT_EQ(Histogram::lowest_equivalent(v), static_cast<uint64_t>(v));
    EXPECT_EQ(Histogram::highest_equivalent(v), static_cast<uint64_t>(v));
  }
  EXPECT_EQ(Histogram::lowest_equivalent(2049), 2048u);
  EXPECT_EQ(Histogram::highest_equivalent(2048), 2049u);
  EXPECT_EQ(Histogram::lowest_equivalent(5001), 5000u);
  EXPECT_EQ(Histogram::highest_equivalent(5000), 5003u);
  EXPECT_EQ(Histogram::lowest_equivalent(1 << 20), uint64_t{1} << 20);
  EXPECT_EQ(Histogram::highest_equivalent(1 << 20), (uint64_t{1} << 20) + 1023);
  // Clamped inputs.
  EXPECT_EQ(Histogram::lowest_equivalent(0), 1u);
  EXPECT_EQ(Histogram::lowest_equivalent(-5), 1u);
  EXPECT_EQ(Histogram::lowest_equivalent(INT64_MAX), Histogram::lowest_equivalent(kHour));
}

TEST(LoadHistogram, Empty) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.clamped(), 0u);
  for (double p : {0.0, 50.0, 99.9, 100.0}) EXPECT_EQ(h.value_at_percentile(p), 0u);
  EXPECT_TRUE(h.buckets().begin() == h.buckets().end());
}

TEST(LoadHistogram, UniformOneToTenThousand) {
  Histogram h;
  for (int64_t v = 1; v <= 10'000; ++v) h.record(v);
  EXPECT_EQ(h.count(), 10'000u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 10'000u);
  EXPECT_DOUBLE_EQ(h.mean(), 5000.5);
  // Rank 5000 is the value 5000, in bucket [5000, 5003] (width 4 between 4096 and 8191).
  EXPECT_EQ(h.value_at_percentile(50), 5003u);
  expect_within_precision(h.value_at_percentile(50), 5000);
  // Rank 9000 (9000, width 8 above 8192: bucket [8992, 8999]... 9000 starts [9000, 9007]).
  EXPECT_EQ(h.value_at_percentile(90), 9007u);
  EXPECT_EQ(h.value_at_percentile(99), 9903u);     // 9900 in [9896, 9903]
  EXPECT_EQ(h.value_at_percentile(99.9), 9991u);   // 9990 in [9984, 9991]
  EXPECT_EQ(h.value_at_percentile(99.99), 9999u);  // 9999 in [9992, 9999]
  EXPECT_EQ(h.value_at_percentile(100), 10'000u);
  EXPECT_EQ(h.value_at_percentile(0), 1u);
  EXPECT_EQ(h.value_at_percentile(1), 100u);  // unit buckets below 2048: exact
  EXPECT_EQ(h.value_at_percentile(20.47), 2047u);
  EXPECT_EQ(h.value_at_percentile(-3), 1u);
  EXPECT_EQ(h.value_at_percentile(250), 10'000u);
}

TEST(LoadHistogram, PercentilesMatchNearestRankOnRandomData) {
  std::mt19937_64 rng(14);
  std::lognormal_distribution<double> dist(7.0, 1.5);  // median ~1.1 ms, long tail
  Histogram h;
  std::vector<uint64_t> values;
  for (int i = 0; i < 100'000; ++i) {
    auto v = static_cast<uint64_t>(dist(rng)) + 1;
    values.push_back(v);
    h.record(static_cast<int64_t>(v));
  }
  std::sort(values.begin(), values.end());
  for (double p : {0.0, 0.1, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const uint64_t exact = nearest_rank(values, p);
    const uint64_t got = h.value_at_percentile(p);
    if (p == 0.0) {
      EXPECT_EQ(got, values.front());
    }
    if (p == 100.0) {
      EXPECT_EQ(got, values.back());
    }
    // The highest value of the exact sample's bucket (or the max, in the max's bucket).
    EXPECT_EQ(got,
              std::min(Histogram::highest_equivalent(static_cast<int64_t>(exact)), values.back()))
        << "p" << p;
    expect_within_precision(got, exact);
  }
}

TEST(LoadHistogram, SingleValue) {
  Histogram h;
  h.record(123'456);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.min(), 123'456u);
  EXPECT_EQ(h.max(), 123'456u);
  EXPECT_DOUBLE_EQ(h.mean(), 123'456.0);
  // The bucket is [123392, 123519]: no percentile reports above the exact max.
  for (double p : {0.0, 0.001, 50.0, 99.0, 99.999, 100.0}) {
    EXPECT_EQ(h.value_at_percentile(p), 123'456u) << p;
  }
}

TEST(LoadHistogram, AllEqual) {
  Histogram h;
  for (int i = 0; i < 1000; ++i) h.record(777);
  h.record_n(777, 9000);
  EXPECT_EQ(h.count(), 10'000u);
  EXPECT_EQ(h.min(), 777u);
  EXPECT_EQ(h.max(), 777u);
  EXPECT_DOUBLE_EQ(h.mean(), 777.0);
  for (double p : {0.0, 50.0, 99.99, 100.0}) EXPECT_EQ(h.value_at_percentile(p), 777u);
}

TEST(LoadHistogram, TwoValuesSplitAtTheRank) {
  Histogram h;
  h.record_n(100, 99);
  h.record(50'000);
  EXPECT_EQ(h.value_at_percentile(99), 100u);  // rank 99 of 100
  EXPECT_EQ(h.value_at_percentile(99.01), 50'000u);
  EXPECT_EQ(h.value_at_percentile(99.9), 50'000u);
  EXPECT_DOUBLE_EQ(h.mean(), (99.0 * 100 + 50'000) / 100);
}

TEST(LoadHistogram, ExtremesOneMicrosecondAndOneHour) {
  Histogram h;
  h.record(1);
  h.record(static_cast<int64_t>(kHour));
  EXPECT_EQ(h.clamped(), 0u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), kHour);
  EXPECT_EQ(h.value_at_percentile(50), 1u);
  EXPECT_EQ(h.value_at_percentile(50.1), kHour);
  EXPECT_EQ(h.value_at_percentile(100), kHour);
  EXPECT_DOUBLE_EQ(h.mean(), (1.0 + static_cast<double>(kHour)) / 2);
}

TEST(LoadHistogram, Clamping) {
  Histogram h;
  h.record(0);
  h.record(-42);
  h.record(static_cast<int64_t>(kHour) + 1);
  h.record(INT64_MAX);
  h.record_n(static_cast<int64_t>(kHour) * 10, 3);
  EXPECT_EQ(h.count(), 7u);
  EXPECT_EQ(h.clamped(), 5u);  // only values above the hour count as clamped
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), kHour);
  EXPECT_EQ(h.value_at_percentile(0), 1u);
  EXPECT_EQ(h.value_at_percentile(28), 1u);  // ranks 1 and 2 are the two values below 1
  EXPECT_EQ(h.value_at_percentile(29), kHour);
  EXPECT_EQ(h.value_at_percentile(100), kHour);
  EXPECT_DOUBLE_EQ(h.mean(), (2.0 + 5.0 * static_cast<double>(kHour)) / 7);
}

TEST(LoadHistogram, PrecisionBoundOverTheRange) {
  // Every value 1 .. 100000, then a geometric sweep with odd offsets up to the hour: the
  // bucket of every value is within 0.1% of it, and a histogram holding the value and a
  // larger one reports the value within 0.1% at the value's rank.
  std::vector<uint64_t> sweep;
  for (uint64_t v = 1; v <= 100'000; ++v) sweep.push_back(v);
  for (double v = 100'001; v <= static_cast<double>(kHour); v *= 1.0003) {
    sweep.push_back(static_cast<uint64_t>(v));
  }
  sweep.push_back(kHour - 1);
  sweep.push_back(kHour);
  Histogram h;
  uint64_t failures = 0;
  for (uint64_t v : sweep) {
    const auto sv = static_cast<int64_t>(v);
    const uint64_t lo = Histogram::lowest_equivalent(sv);
    const uint64_t hi = Histogram::highest_equivalent(sv);
    if (!(lo <= v && v <= hi)) ++failures;
    if (static_cast<double>(hi - lo) > static_cast<double>(lo) * 0.001) ++failures;
    if (v % 97 == 0 || v > 100'000) {
      h.reset();
      h.record(sv);
      h.record(static_cast<int64_t>(kHour));
      const uint64_t got = h.value_at_percentile(50);
      if (got < v || static_cast<double>(got - v) > static_cast<double>(v) * 0.001) ++failures;
    }
  }
  EXPECT_EQ(failures, 0u);
  EXPECT_GT(sweep.size(), 130'000u);  // steps of 0.03%: every bucket above 100 ms is hit
}

TEST(LoadHistogram, MergeEqualsRecordingIntoOne) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> small(1, 5000);
  std::uniform_int_distribution<int64_t> large(5000, 60'000'000);
  Histogram all;
  Histogram a;
  Histogram b;
  Histogram c;  // stays empty
  for (int i = 0; i < 50'000; ++i) {
    const int64_t v = small(rng);
    a.record(v);
    all.record(v);
  }
  for (int i = 0; i < 20'000; ++i) {
    const int64_t v = large(rng);
    b.record(v);
    all.record(v);
  }
  b.record(static_cast<int64_t>(kHour) * 2);
  all.record(static_cast<int64_t>(kHour) * 2);

  Histogram merged;
  merged.merge(a);
  merged.merge(c);
  merged.merge(b);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.clamped(), 1u);
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_DOUBLE_EQ(merged.mean(), all.mean());
  for (double p = 0; p <= 100; p += 0.5) {
    EXPECT_EQ(merged.value_at_percentile(p), all.value_at_percentile(p)) << p;
  }
  std::vector<Histogram::Bucket> x(merged.buckets().begin(), merged.buckets().end());
  std::vector<Histogram::Bucket> y(all.buckets().begin(), all.buckets().end());
  ASSERT_EQ(x.size(), y.size());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(x[i].low, y[i].low);
    EXPECT_EQ(x[i].count, y[i].count);
    EXPECT_EQ(x[i].cumulative, y[i].cumulative);
  }

  // Merging into a non-empty histogram, in the other order, gives the same.
  Histogram other = b;
  other.merge(a);
  EXPECT_EQ(other.value_at_percentile(99.9), all.value_at_percentile(99.9));
  EXPECT_EQ(other.min(), all.min());
}

TEST(LoadHistogram, MergeIntoItselfDoubles) {
  Histogram h;
  h.record(10);
  h.record(3000);
  h.merge(h);
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(h.value_at_percentile(50), 10u);
  EXPECT_EQ(h.value_at_percentile(51), 3000u);
  EXPECT_DOUBLE_EQ(h.mean(), 1505.0);
}

TEST(LoadHistogram, ResetEmpties) {
  Histogram h;
  for (int64_t v = 1; v <= 100'000; v += 3) h.record(v);
  h.record(static_cast<int64_t>(kHour) + 5);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.clamped(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.value_at_percentile(50), 0u);
  EXPECT_TRUE(h.buckets().begin() == h.buckets().end());
  // Reused as the next interval's histogram: nothing of the last interval remains.
  h.record(42);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.value_at_percentile(0), 42u);
  EXPECT_EQ(h.value_at_percentile(100), 42u);
  std::vector<Histogram::Bucket> b(h.buckets().begin(), h.buckets().end());
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].low, 42u);
  EXPECT_EQ(b[0].count, 1u);
  // A wider interval after a narrower one.
  h.reset();
  h.record(5);
  h.record(static_cast<int64_t>(kHour));
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(std::distance(h.buckets().begin(), h.buckets().end()), 2);
}

TEST(LoadHistogram, BucketIteration) {
  Histogram h;
  h.record_n(3, 2);
  h.record(5000);
  h.record(5002);  // same bucket as 5000
  h.record(1'000'000);
  std::vector<Histogram::Bucket> b;
  for (const Histogram::Bucket& bucket : h.buckets()) b.push_back(bucket);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].low, 3u);
  EXPECT_EQ(b[0].high, 3u);
  EXPECT_EQ(b[0].count, 2u);
  EXPECT_EQ(b[0].cumulative, 2u);
  EXPECT_EQ(b[1].low, 5000u);
  EXPECT_EQ(b[1].high, 5003u);
  EXPECT_EQ(b[1].count, 2u);
  EXPECT_EQ(b[1].cumulative, 4u);
  EXPECT_EQ(b[2].low, Histogram::lowest_equivalent(1'000'000));
  EXPECT_EQ(b[2].high, Histogram::highest_equivalent(1'000'000));
  EXPECT_LE(b[2].low, 1'000'000u);
  EXPECT_GE(b[2].high, 1'000'000u);
  EXPECT_EQ(b[2].cumulative, h.count());
  // Post-increment and arrow.
  auto it = h.buckets().begin();
  auto old = it++;
  EXPECT_EQ(old->low, 3u);
  EXPECT_EQ(it->low, 5000u);
}

TEST(LoadHistogram, CopyAndMove) {
  Histogram h;
  h.record(10);
  h.record(20'000);
  Histogram copy(h);
  h.record(30);
  EXPECT_EQ(copy.count(), 2u);
  EXPECT_EQ(h.count(), 3u);
  Histogram assigned;
  assigned.record(99);
  assigned = copy;
  EXPECT_EQ(assigned.count(), 2u);
  EXPECT_EQ(assigned.min(), 10u);
  Histogram moved(std::move(copy));
  EXPECT_EQ(moved.value_at_percentile(100), 20'000u);
  copy = h;  // a moved-from histogram may be assigned to
  EXPECT_EQ(copy.count(), 3u);
  copy.record(1);
  EXPECT_EQ(copy.min(), 1u);
}

TEST(LoadHistogram, NoAllocationAfterConstruction) {
  // The counter must see a histogram's one allocation, or this test proves nothing (under
  // ASan, the sanitizer's operator new takes the library's calls).
  const uint64_t probe_before = g_allocations.load();
  { Histogram probe; }
  if (g_allocations.load() != probe_before + 1) {
    GTEST_SKIP() << "allocations of the library are not visible to this binary's operator new";
  }
  Histogram h;
  Histogram other;
  other.record(5);
  const uint64_t before = g_allocations.load();
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int64_t> dist(-10, static_cast<int64_t>(kHour) * 2);
  for (int i = 0; i < 1'000'000; ++i) h.record(dist(rng));
  h.record_n(77, 1000);
  h.merge(other);
  uint64_t sum = h.value_at_percentile(99.9) + h.min() + h.max();
  for (const Histogram::Bucket& b : h.buckets()) sum += b.count;
  h.reset();
  h.record(1);
  other = h;  // copy-assignment reuses the counters
  EXPECT_EQ(g_allocations.load(), before);
  EXPECT_GT(sum, 0u);
}

TEST(LoadHistogram, HugeCountsKeepTheMeanExact) {
  Histogram h;
  h.record_n(static_cast<int64_t>(kHour), UINT64_MAX / 2);  // the sum needs more than 64 bits
  h.record_n(1, 1);
  EXPECT_EQ(h.count(), UINT64_MAX / 2 + 1);
  EXPECT_NEAR(h.mean(), static_cast<double>(kHour), 1.0);
  EXPECT_EQ(h.value_at_percentile(50), kHour);
  EXPECT_EQ(h.value_at_percentile(0), 1u);
  h.record_n(5, 0);  // nothing
  EXPECT_EQ(h.count(), UINT64_MAX / 2 + 1);
}

}  // namespace
