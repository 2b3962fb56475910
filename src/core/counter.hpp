// Counter: a statistic written by one loop thread and read by any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace tether::detail {

/// Single-writer counter: the owning loop updates it with a plain load and store (no locked
/// instruction on the hot path); other threads read a possibly slightly stale value.
class Counter {
 public:
  void add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void sub(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  void set(uint64_t n) { v_.store(n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

}  // namespace tether::detail
