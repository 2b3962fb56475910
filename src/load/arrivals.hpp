// Arrivals: the intended send times of an open-loop run on one loop, constant or Poisson.
//
// Intended times are fixed before the server answers anything: they are what coordinated
// omission correction measures from. They are kept in double nanoseconds so that a constant
// rate does not drift by rounding one gap at a time over a long run.
#pragma once

#include <cmath>
#include <cstdint>

namespace tether::load::detail {

class Arrivals {
 public:
  /// `rate` requests per second from `start_ns` on (uv_hrtime's clock); exponential gaps
  /// when `poisson`, seeded by `seed`.
  Arrivals(double rate, bool poisson, uint64_t seed, uint64_t start_ns)
      : gap_ns_(1e9 / rate),
        poisson_(poisson),
        state_(seed | 1),
        next_(static_cast<double>(start_ns)) {
    if (poisson_) next_ += draw_gap();
  }

  /// The next intended time (ns), not yet taken.
  uint64_t peek() const {
    // A rate so small that the next time is past the clock's range (or infinite): never.
    return next_ < 1.8e19 ? static_cast<uint64_t>(next_) : UINT64_MAX;
  }
  /// Takes the next intended time and moves on to the one after it.
  uint64_t take() {
    const uint64_t t = peek();
    next_ += poisson_ ? draw_gap() : gap_ns_;
    return t;
  }

 private:
  double draw_gap() {
    // xorshift64*: fast, and good enough for exponential gaps; u in (0, 1].
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    const uint64_t r = state_ * 0x2545F4914F6CDD1DULL;
    const double u = (static_cast<double>(r >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    return -std::log(u) * gap_ns_;
  }

  double gap_ns_;
  bool poisson_;
  uint64_t state_;
  double next_;
};

}  // namespace tether::load::detail
