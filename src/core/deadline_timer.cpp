#include "core/deadline_timer.hpp"

#include <algorithm>

namespace tether::detail {

int DeadlineTimer::init(uv_loop_t* loop) {
  loop_ = loop;
  int rc = uv_timer_init(loop, &timer_);
  if (rc != 0) return rc;
  timer_.data = this;
  open_ = true;
  return 0;
}

void DeadlineTimer::arm(uint64_t at) {
  if (!open_) return;
  armed_ = at;
  const uint64_t now = uv_now(loop_);
  uv_timer_start(&timer_, on_timer, at > now ? at - now : 0, 0);
}

void DeadlineTimer::close() {
  if (!open_) return;
  open_ = false;
  armed_ = kNever;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

void DeadlineTimer::on_timer(uv_timer_t* t) {
  static_cast<DeadlineTimer*>(t->data)->fire();
}

void DeadlineTimer::fire_if_due() {
  if (!open_ || armed_ == kNever) return;
  uv_update_time(loop_);
  if (uv_now(loop_) < armed_) return;
  uv_timer_stop(&timer_);
  fire();
}

void DeadlineTimer::fire() {
  // The loop's clock counts whole milliseconds (uv_hrtime floored): a deadline at `ms` was due
  // at the start of that millisecond, which record() compares with this.
  fired_us_ = uv_hrtime() / 1000;
  armed_ = kNever;
  // libuv's clock is cached per loop iteration: a timer due "now" may see a time a little
  // short of it, so refresh it before deciding what is due.
  uv_update_time(loop_);
  const uint64_t now = uv_now(loop_);
  for (Source* s : sources_) {
    if (s->next_deadline() <= now) s->on_deadline(now);
  }
  uint64_t next = kNever;
  for (const Source* s : sources_) next = std::min(next, s->next_deadline());
  if (next != kNever) schedule(next);
}

}  // namespace tether::detail
