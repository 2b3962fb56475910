// PreciseTimer: a one-shot timer with the monotonic clock's resolution, on a libuv loop.
//
// libuv's timers count whole milliseconds, and an open-loop run at thousands of requests a
// second must send each one within microseconds of its intended time, or the corrected
// latency measures the timer instead of the server. A timerfd armed at an absolute
// CLOCK_MONOTONIC time (uv_hrtime's clock) and polled by the loop fires on time.
//
// Lifetime: made on the loop's thread, closed there with close(); the owner outlives the
// close callback (the loop runs until every handle is closed).
#pragma once

#include <uv.h>

#include <cstdint>

namespace tether::load::detail {

class PreciseTimer {
 public:
  using Callback = void (*)(void* ctx);
  /// False (with `error` set) when the timerfd or its poll handle cannot be made.
  bool open(uv_loop_t* loop, Callback cb, void* ctx, int& error);
  /// Fires once at `at_ns` (uv_hrtime's clock; at once when past). Re-arming replaces it.
  void arm(uint64_t at_ns);
  void disarm();
  /// Stops and closes the handle (idempotent).
  void close();
  bool is_open() const { return fd_ >= 0; }

 private:
  static void on_poll(uv_poll_t* h, int status, int events);
  uv_poll_t poll_{};
  int fd_ = -1;
  bool polling_ = false;
  uint64_t armed_at_ = 0;
  Callback cb_ = nullptr;
  void* ctx_ = nullptr;
};

}  // namespace tether::load::detail
