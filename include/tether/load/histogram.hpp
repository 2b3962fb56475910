// Histogram: tether-load's latency histogram, log-linear in the style of HdrHistogram.
//
// Range and precision are fixed: values are microseconds from 1 µs to 1 h
// (3,600,000,000 µs), with 3 significant decimal digits. Every value maps to a bucket whose
// width is at most 1/1024 of the bucket's lowest value, so any value reported for a bucket
// is within 0.098% (< 0.1%) of every value recorded into it.
//
// Bucket layout (HdrHistogram's, with 1024 sub-buckets per half):
//   values 0 .. 2047          one bucket per value (width 1): indexes 0 .. 2047
//   values [2^k, 2^(k+1))     for k = 11 .. 31: 1024 buckets of width 2^(k-10) each,
//                             indexes (k - 9) * 1024 .. (k - 8) * 1024 - 1
// Index 0 is never used (values below 1 are recorded as 1), and the top power of two is cut
// off at the bucket of 3,600,000,000, so the table has 23,221 counters.
//
// Memory: 23,221 64-bit counters = 185,768 bytes (~181 KiB), allocated once at
// construction; record() never allocates. This is above the 64 KiB first aimed at, and it
// has to be: a relative error of 0.1% over 1 µs .. 1 h needs at least ln(3.6e9)/ln(1.001)
// ~ 21,900 buckets, which even at 32 bits per counter is ~86 KiB. The counters are 64-bit so
// that a merged histogram of long runs cannot wrap (HdrHistogram's own footprint for this
// configuration is the same ~185 KB). Only the counters a run touches are hot in cache.
//
// Not thread-safe: keep one per thread and merge() them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>

namespace tether::load {

/// A fixed-size log-linear histogram of microsecond values, 1 µs .. 1 h, 3 significant
/// digits. One per thread; merge() combines them (across threads and runs).
class Histogram {
 public:
  /// The smallest value kept apart (values below it are recorded as it), in µs.
  static constexpr uint64_t kLowest = 1;
  /// The largest value kept apart (values above it are recorded as it and counted by
  /// clamped()), in µs: one hour.
  static constexpr uint64_t kHighest = 3'600'000'000;
  /// Significant decimal digits of every bucket (relative width <= 1/1024).
  static constexpr int kSignificantDigits = 3;
  /// Number of counters (buckets) in every histogram.
  static constexpr size_t kBucketCount = 23'221;
  /// Bytes of counters allocated by every histogram.
  static constexpr size_t kMemoryBytes = kBucketCount * sizeof(uint64_t);

  /// An empty histogram; allocates its counters (kMemoryBytes) once.
  Histogram();
  /// A copy of `other` (allocates).
  Histogram(const Histogram& other);
  /// Copies `other`'s counts into this histogram's counters (no allocation).
  Histogram& operator=(const Histogram& other);
  /// Takes `other`'s counters. A moved-from histogram may only be destroyed or assigned to.
  Histogram(Histogram&& other) noexcept;
  /// Takes `other`'s counters. A moved-from histogram may only be destroyed or assigned to.
  Histogram& operator=(Histogram&& other) noexcept;
  ~Histogram();

  /// Records one value in µs: O(1), no allocation. Values below 1 (0, negative clock
  /// differences) are recorded as 1; values above kHighest as kHighest, and counted by
  /// clamped().
  void record(int64_t value_us) noexcept { record_n(value_us, 1); }
  /// Records `count` occurrences of one value (same clamping as record()). A count of 0
  /// changes nothing.
  void record_n(int64_t value_us, uint64_t count) noexcept;

  /// Number of values recorded (clamped ones included).
  uint64_t count() const noexcept { return total_; }
  /// Number of values recorded above kHighest (recorded as kHighest).
  uint64_t clamped() const noexcept { return clamped_; }
  /// The smallest value recorded, exactly (after clamping to 1 .. kHighest); 0 when empty.
  uint64_t min() const noexcept { return total_ == 0 ? 0 : min_; }
  /// The largest value recorded, exactly (after clamping to 1 .. kHighest); 0 when empty.
  uint64_t max() const noexcept { return max_; }
  /// The exact mean of the values recorded (after clamping); 0 when empty.
  double mean() const noexcept;

  /// The value at percentile `p` (clamped to [0, 100]): the highest value equivalent to the
  /// bucket that holds the sample of rank ceil(p/100 * count()) (at least 1), as
  /// HdrHistogram reports it, but never above max(). p = 0 gives min() and p = 100 gives
  /// max(), exactly. 0 when empty.
  uint64_t value_at_percentile(double p) const noexcept;

  /// Adds every count of `other` to this histogram (min, max, mean and clamped() follow).
  /// Merging a histogram into itself doubles its counts.
  void merge(const Histogram& other) noexcept;
  /// Empties the histogram (for per-interval histograms); touches only the counters
  /// between the buckets of min() and max(), and never allocates.
  void reset() noexcept;

  /// The smallest value that falls in the same bucket as `value_us` (after clamping).
  static uint64_t lowest_equivalent(int64_t value_us) noexcept;
  /// The largest value that falls in the same bucket as `value_us` (after clamping).
  static uint64_t highest_equivalent(int64_t value_us) noexcept;

  /// One non-empty bucket, as iterated by buckets().
  struct Bucket {
    /// Lowest and highest value of the bucket (inclusive), in µs.
    uint64_t low = 0;
    uint64_t high = 0;
    /// Values recorded in this bucket.
    uint64_t count = 0;
    /// Values recorded in this bucket and every bucket below it.
    uint64_t cumulative = 0;
  };

  /// A forward iterator over the non-empty buckets, in increasing value order.
  class BucketIterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Bucket;
    using difference_type = std::ptrdiff_t;
    using pointer = const Bucket*;
    using reference = const Bucket&;

    BucketIterator() = default;
    const Bucket& operator*() const noexcept { return bucket_; }
    const Bucket* operator->() const noexcept { return &bucket_; }
    BucketIterator& operator++() noexcept {
      advance();
      return *this;
    }
    BucketIterator operator++(int) noexcept {
      BucketIterator old = *this;
      advance();
      return old;
    }
    friend bool operator==(const BucketIterator& a, const BucketIterator& b) noexcept {
      return a.index_ == b.index_;
    }

   private:
    friend class Histogram;
    BucketIterator(const Histogram* h, size_t index) noexcept : h_(h), index_(index) {}
    void advance() noexcept;
    const Histogram* h_ = nullptr;
    size_t index_ = kBucketCount;  // kBucketCount = end
    Bucket bucket_{};
  };

  /// The non-empty buckets, lowest first: `for (const Histogram::Bucket& b : h.buckets())`.
  /// Invalidated by any change to the histogram.
  class BucketRange {
   public:
    BucketIterator begin() const noexcept;
    BucketIterator end() const noexcept { return BucketIterator(h_, kBucketCount); }

   private:
    friend class Histogram;
    explicit BucketRange(const Histogram* h) noexcept : h_(h) {}
    const Histogram* h_;
  };
  /// The non-empty buckets, lowest first.
  BucketRange buckets() const noexcept { return BucketRange(this); }

 private:
  std::unique_ptr<uint64_t[]> counts_;
  uint64_t total_ = 0;
  uint64_t clamped_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  // The exact sum of the values recorded, as two 64-bit halves (values < 2^32, counts
  // < 2^64: the sum fits 96 bits).
  uint64_t sum_lo_ = 0;
  uint64_t sum_hi_ = 0;
};

}  // namespace tether::load
