// DueQueue: an open loop's requests that fell due and wait for a connection, as their
// intended send times, oldest first.
//
// A ring that grows by doubling up to a fixed bound and never shrinks: steady state
// allocates nothing. At the bound the oldest entry makes room (its owner counts it as a
// timeout): a server that stops answering costs memory bounded by kMaxEntries, not by
// rate x stall.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tether::load::detail {

class DueQueue {
 public:
  /// 8 MiB of intended times per loop.
  static constexpr size_t kMaxEntries = size_t{1} << 20;

  bool empty() const { return count_ == 0; }
  size_t size() const { return count_; }
  uint64_t front() const { return ring_[head_]; }
  void pop_front() {
    head_ = head_ + 1 == ring_.size() ? 0 : head_ + 1;
    --count_;
  }
  /// Adds the newest. False, and nothing added, when the queue is at its bound.
  bool push_back(uint64_t t) {
    if (!room()) return false;
    ring_[(head_ + count_) % ring_.size()] = t;
    ++count_;
    return true;
  }
  /// Puts back the oldest (a request taken but never written). False at the bound.
  bool push_front(uint64_t t) {
    if (!room()) return false;
    head_ = head_ == 0 ? ring_.size() - 1 : head_ - 1;
    ring_[head_] = t;
    ++count_;
    return true;
  }
  void clear() { head_ = count_ = 0; }

 private:
  bool room() {
    if (count_ < ring_.size()) return true;
    if (ring_.size() >= kMaxEntries) return false;
    std::vector<uint64_t> bigger(ring_.empty() ? 64 : ring_.size() * 2);
    for (size_t i = 0; i < count_; ++i) bigger[i] = ring_[(head_ + i) % ring_.size()];
    ring_ = std::move(bigger);
    head_ = 0;
    return true;
  }

  std::vector<uint64_t> ring_;
  size_t head_ = 0;
  size_t count_ = 0;
};

}  // namespace tether::load::detail
