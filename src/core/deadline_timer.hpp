// DeadlineTimer: one libuv timer per loop, armed for the nearest deadline of all its sources
// (connection timeouts, response deadlines, mailbox waits and values), so each fires within
// a millisecond or so of its time instead of on a periodic tick. Sources keep their own
// ordered structures (a list per fixed timeout, a map for arbitrary ones) and only report
// their earliest deadline.
#pragma once

#include <uv.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "core/counter.hpp"

namespace tether::detail {

class DeadlineTimer {
 public:
  static constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

  /// Something with deadlines on this loop, in the loop's clock (uv_now, ms).
  class Source {
   public:
    virtual ~Source() = default;
    /// The earliest pending deadline, or kNever.
    virtual uint64_t next_deadline() const = 0;
    /// Handles everything due at `now`. May schedule() new deadlines.
    virtual void on_deadline(uint64_t now) = 0;
  };

  DeadlineTimer() = default;
  DeadlineTimer(const DeadlineTimer&) = delete;
  DeadlineTimer& operator=(const DeadlineTimer&) = delete;

  /// How late deadlines were handled, one sample per deadline a source reports with
  /// record(): counts per bucket (upper bounds in kLateBoundsUs, the last bucket for anything
  /// later) and the sum. Written by the owner, read by any thread.
  static constexpr unsigned kLateBuckets = 8;
  static constexpr uint32_t kLateBoundsUs[kLateBuckets - 1] = {500,   1000,  2000,  5000,
                                                               10000, 50000, 250000};
  struct Lateness {
    Counter buckets[kLateBuckets];
    Counter sum_us;
  };
  const Lateness& lateness() const { return lateness_; }
  /// A source handles a deadline that was due at `due_ms` (loop clock), in on_deadline().
  void record(uint64_t due_ms) {
    const uint64_t due_us = due_ms * 1000;
    const uint64_t late_us = fired_us_ > due_us ? fired_us_ - due_us : 0;
    unsigned b = 0;
    while (b < kLateBuckets - 1 && late_us > kLateBoundsUs[b]) ++b;
    lateness_.buckets[b].add();
    lateness_.sum_us.add(late_us);
  }

  int init(uv_loop_t* loop);
  void add_source(Source* s) { sources_.push_back(s); }
  /// A source has a deadline at `at`: make sure the timer fires by then. Cheap when the timer
  /// is already armed earlier (the common case: most new deadlines are later ones).
  void schedule(uint64_t at) {
    if (at < armed_) arm(at);
  }
  /// Called after each read callback: every kReadsPerCheck of them, fires what is due.
  /// libuv runs timers only between poll phases, and one poll phase may handle up to 48 x
  /// 1024 ready sockets (a burst of arrivals): without this a deadline would wait for it.
  void after_read() {
    if (++reads_ < kReadsPerCheck) return;
    reads_ = 0;
    fire_if_due();
  }
  /// Stops for good (owner thread); the handle's memory must stay valid until the loop has
  /// run its close callback.
  void close();

 private:
  static constexpr unsigned kReadsPerCheck = 64;
  static void on_timer(uv_timer_t* t);
  void arm(uint64_t at);
  void fire_if_due();
  void fire();

  uv_timer_t timer_{};
  uv_loop_t* loop_ = nullptr;
  uint64_t armed_ = kNever;
  uint64_t fired_us_ = 0;  // when the current firing began (uv_hrtime, microseconds)
  unsigned reads_ = 0;
  Lateness lateness_;
  bool open_ = false;
  std::vector<Source*> sources_;
};

}  // namespace tether::detail
