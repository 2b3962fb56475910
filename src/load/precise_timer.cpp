#include "load/precise_timer.hpp"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>

namespace tether::load::detail {

bool PreciseTimer::open(uv_loop_t* loop, Callback cb, void* ctx, int& error) {
  fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd_ < 0) {
    error = errno;
    return false;
  }
  if (int rc = uv_poll_init(loop, &poll_, fd_); rc != 0) {
    ::close(fd_);
    fd_ = -1;
    error = -rc;
    return false;
  }
  poll_.data = this;
  cb_ = cb;
  ctx_ = ctx;
  uv_poll_start(&poll_, UV_READABLE, on_poll);
  polling_ = true;
  return true;
}

void PreciseTimer::arm(uint64_t at_ns) {
  if (fd_ < 0) return;
  // An it_value of zero disarms: a time already past is armed one nanosecond in.
  if (at_ns == 0) at_ns = 1;
  if (at_ns == armed_at_) return;  // one syscall saved per batch that ends on the same time
  armed_at_ = at_ns;
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(at_ns / 1'000'000'000);
  spec.it_value.tv_nsec = static_cast<long>(at_ns % 1'000'000'000);
  timerfd_settime(fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void PreciseTimer::disarm() {
  if (fd_ < 0 || armed_at_ == 0) return;
  armed_at_ = 0;
  itimerspec spec{};
  timerfd_settime(fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void PreciseTimer::close() {
  if (fd_ < 0 || uv_is_closing(reinterpret_cast<uv_handle_t*>(&poll_))) return;
  polling_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), [](uv_handle_t* h) {
    auto* t = static_cast<PreciseTimer*>(h->data);
    ::close(t->fd_);
    t->fd_ = -1;
  });
}

void PreciseTimer::on_poll(uv_poll_t* h, int status, int) {
  auto* t = static_cast<PreciseTimer*>(h->data);
  uint64_t expirations = 0;
  // Reading clears the readiness; EAGAIN means a re-arm raced the poll and nothing is due.
  if (read(t->fd_, &expirations, sizeof expirations) != sizeof expirations && status == 0) return;
  t->armed_at_ = 0;
  t->cb_(t->ctx_);
}

}  // namespace tether::load::detail
