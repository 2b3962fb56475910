// Histogram: the log-linear bucket arithmetic (see the layout in the header).
#include "tether/load/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace tether::load {

namespace {

__extension__ typedef unsigned __int128 u128;

// 1024 sub-buckets per half: the width of every bucket is at most 1/1024 of its lowest value.
constexpr int kSubBucketHalfMagnitude = 10;
constexpr uint64_t kSubBucketHalfCount = uint64_t{1} << kSubBucketHalfMagnitude;
constexpr uint64_t kSubBucketMask = 2 * kSubBucketHalfCount - 1;  // values below are exact

constexpr uint64_t clamp_value(int64_t v) noexcept {
  if (v < static_cast<int64_t>(Histogram::kLowest)) return Histogram::kLowest;
  if (static_cast<uint64_t>(v) > Histogram::kHighest) return Histogram::kHighest;
  return static_cast<uint64_t>(v);
}

// The power-of-two bucket of v: 0 for v < 2048, else floor(log2 v) - 10.
constexpr int shift_of(uint64_t v) noexcept {
  return (63 - std::countl_zero(v | kSubBucketMask)) - kSubBucketHalfMagnitude;
}

constexpr size_t index_of(uint64_t v) noexcept {
  const int shift = shift_of(v);
  return (static_cast<size_t>(shift) << kSubBucketHalfMagnitude) + (v >> shift);
}

constexpr uint64_t lowest_of(size_t index) noexcept {
  if (index < 2 * kSubBucketHalfCount) return index;
  const int shift = static_cast<int>(index >> kSubBucketHalfMagnitude) - 1;
  return (index - (static_cast<size_t>(shift) << kSubBucketHalfMagnitude)) << shift;
}

constexpr uint64_t width_of(size_t index) noexcept {
  if (index < 2 * kSubBucketHalfCount) return 1;
  return uint64_t{1} << ((index >> kSubBucketHalfMagnitude) - 1);
}

constexpr uint64_t highest_of(size_t index) noexcept {
  return lowest_of(index) + width_of(index) - 1;
}

static_assert(index_of(Histogram::kHighest) + 1 == Histogram::kBucketCount);
static_assert(index_of(2047) == 2047 && index_of(2048) == 2048 && lowest_of(2048) == 2048);
static_assert(lowest_of(index_of(Histogram::kHighest)) <= Histogram::kHighest);
static_assert(highest_of(index_of(Histogram::kHighest)) >= Histogram::kHighest);

}  // namespace

Histogram::Histogram() : counts_(new uint64_t[kBucketCount]()) {}

Histogram::Histogram(const Histogram& other)
    : counts_(new uint64_t[kBucketCount]),
      total_(other.total_),
      clamped_(other.clamped_),
      min_(other.min_),
      max_(other.max_),
      sum_lo_(other.sum_lo_),
      sum_hi_(other.sum_hi_) {
  std::memcpy(counts_.get(), other.counts_.get(), kMemoryBytes);
}

Histogram& Histogram::operator=(const Histogram& other) {
  if (this == &other) return *this;
  if (!counts_) counts_.reset(new uint64_t[kBucketCount]);
  std::memcpy(counts_.get(), other.counts_.get(), kMemoryBytes);
  total_ = other.total_;
  clamped_ = other.clamped_;
  min_ = other.min_;
  max_ = other.max_;
  sum_lo_ = other.sum_lo_;
  sum_hi_ = other.sum_hi_;
  return *this;
}

Histogram::Histogram(Histogram&& other) noexcept = default;
Histogram& Histogram::operator=(Histogram&& other) noexcept = default;
Histogram::~Histogram() = default;

void Histogram::record_n(int64_t value_us, uint64_t count) noexcept {
  if (count == 0) return;
  if (value_us > static_cast<int64_t>(kHighest)) clamped_ += count;
  const uint64_t v = clamp_value(value_us);
  counts_[index_of(v)] += count;
  total_ += count;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
  const u128 sum = ((u128{sum_hi_} << 64) | sum_lo_) + u128{v} * count;
  sum_lo_ = static_cast<uint64_t>(sum);
  sum_hi_ = static_cast<uint64_t>(sum >> 64);
}

double Histogram::mean() const noexcept {
  if (total_ == 0) return 0.0;
  const u128 sum = (u128{sum_hi_} << 64) | sum_lo_;
  // Whole part exactly, then the remainder: no precision lost to a huge sum.
  const u128 whole = sum / total_;
  const uint64_t rest = static_cast<uint64_t>(sum % total_);
  return static_cast<double>(whole) + static_cast<double>(rest) / static_cast<double>(total_);
}

uint64_t Histogram::value_at_percentile(double p) const noexcept {
  if (total_ == 0) return 0;
  if (!(p > 0.0)) return min_;  // also NaN
  if (p >= 100.0) return max_;
  // Nearest rank, ceil(p/100 * n); the relative slack absorbs the binary rounding of
  // decimal percentiles (99.9 / 100 * 1000 is 999.0000000000001, and means rank 999).
  const double exact = p / 100.0 * static_cast<double>(total_);
  double rank_f = std::ceil(exact - exact * 1e-12);
  uint64_t rank = rank_f < 1.0 ? 1 : static_cast<uint64_t>(rank_f);
  rank = std::min(rank, total_);
  uint64_t seen = 0;
  const size_t last = index_of(max_);
  for (size_t i = index_of(min_); i <= last; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(highest_of(i), max_);
  }
  return max_;  // not reached: the counts sum to total_
}

void Histogram::merge(const Histogram& other) noexcept {
  if (other.total_ == 0) return;
  const size_t last = index_of(other.max_);
  for (size_t i = index_of(other.min_); i <= last; ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  clamped_ += other.clamped_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  const u128 sum =
      ((u128{sum_hi_} << 64) | sum_lo_) + ((u128{other.sum_hi_} << 64) | other.sum_lo_);
  sum_lo_ = static_cast<uint64_t>(sum);
  sum_hi_ = static_cast<uint64_t>(sum >> 64);
}

void Histogram::reset() noexcept {
  if (total_ != 0) {
    const size_t first = index_of(min_);
    std::memset(counts_.get() + first, 0, (index_of(max_) - first + 1) * sizeof(uint64_t));
  }
  total_ = 0;
  clamped_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
  sum_lo_ = 0;
  sum_hi_ = 0;
}

uint64_t Histogram::lowest_equivalent(int64_t value_us) noexcept {
  return lowest_of(index_of(clamp_value(value_us)));
}

uint64_t Histogram::highest_equivalent(int64_t value_us) noexcept {
  return highest_of(index_of(clamp_value(value_us)));
}

Histogram::BucketIterator Histogram::BucketRange::begin() const noexcept {
  if (h_->total_ == 0) return end();
  BucketIterator it(h_, index_of(h_->min_));
  const uint64_t count = h_->counts_[it.index_];
  it.bucket_ = Bucket{lowest_of(it.index_), highest_of(it.index_), count, count};
  return it;
}

void Histogram::BucketIterator::advance() noexcept {
  const size_t last = index_of(h_->max_);
  for (size_t i = index_ + 1; i <= last; ++i) {
    const uint64_t count = h_->counts_[i];
    if (count != 0) {
      index_ = i;
      bucket_ = Bucket{lowest_of(i), highest_of(i), count, bucket_.cumulative + count};
      return;
    }
  }
  index_ = kBucketCount;
  bucket_ = Bucket{};
}

}  // namespace tether::load
