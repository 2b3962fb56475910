// MailboxLoop's run-wide side: the messages between loops, and loop 0's lead — the gauge's
// baseline, the park reports, the wait for the gauge (or a settle) and the order to post.
#include <algorithm>
#include <charconv>
#include <string_view>

#include "load/mailbox_loop.hpp"

namespace tether::load::detail {
namespace {

/// How often the gauge is read while the waiters are being confirmed parked.
constexpr uint64_t kPollMs = 2;
/// Without a gauge: how long the server gets to park the waiters whose requests were written.
constexpr uint64_t kSettleMs = 50;
/// With a gauge: the longest wait for it to show every waiter parked (and at most half the
/// long polls' wait, so that the posts still find them there).
constexpr uint64_t kConfirmCapMs = 2000;

/// The value of the first `tether_mailbox_waiters` sample in Prometheus text.
bool parse_gauge(std::string_view text, uint64_t& out) {
  constexpr std::string_view kName = "tether_mailbox_waiters";
  for (size_t at = text.find(kName); at != std::string_view::npos;
       at = text.find(kName, at + kName.size())) {
    size_t p = at + kName.size();
    if ((at != 0 && text[at - 1] != '\n') || p >= text.size()) continue;
    if (text[p] == '{') {
      p = text.find('}', p);
      if (p == std::string_view::npos) return false;
      ++p;
    }
    if (p >= text.size() || text[p] != ' ') continue;
    p = text.find_first_not_of(' ', p);
    if (p == std::string_view::npos) return false;
    double v = 0;
    const auto [end, ec] = std::from_chars(text.data() + p, text.data() + text.size(), v);
    if (ec != std::errc() || !(v >= 0)) return false;
    out = static_cast<uint64_t>(v);
    return true;
  }
  return false;
}

}  // namespace

void MailboxLoop::started() {
  uv_update_time(core_.uv());
  result_.start_ns = uv_hrtime();
  if (lead_) probe_get();  // the gauge's baseline first; then every loop parks
}

void MailboxLoop::broadcast(void (MailboxLoop::*msg)()) {
  // Only counts travel: each loop runs the message on its own thread. A loop never stops
  // before it was told to post or cancel, so its inbox is open for these.
  for (MailboxLoop* to : plan_.loops) {
    to->core_.post_task([to, msg] { (to->*msg)(); });
  }
}

void MailboxLoop::cancel() {
  finish();
}

void MailboxLoop::on_report(const ParkReport& r) {
  if (stopping_ || lead_phase_ != Lead::Reports) return;
  total_.written += r.written;
  total_.parked += r.parked;
  total_.established += r.established;
  if (total_.connect_error == 0) total_.connect_error = r.connect_error;
  total_.last_written_ns = std::max(total_.last_written_ns, r.last_written_ns);
  if (++reports_ < plan_.loops.size()) return;
  park_.written = total_.written;
  if (total_.established == 0) {
    // Not one waiter connected: nothing can be checked, and the run says why.
    park_.error = "cannot connect to " + plan_.authority + ": " +
                  (total_.connect_error != 0 ? uv_strerror(total_.connect_error)
                                             : "no connection was established");
    lead_phase_ = Lead::Over;
    if (probe_) close(*probe_);
    broadcast(&MailboxLoop::cancel);
    return;
  }
  lead_phase_ = Lead::Confirm;
  target_ = baseline_ + total_.parked;
  const uint64_t now = core_.now();
  if (park_.gauge_available && total_.parked > 0) {
    settle_end_ = now + std::min(kConfirmCapMs, plan_.wait_ms / 2);
    probe_get();
  } else {
    settle_end_ = now + (total_.parked > 0 ? kSettleMs : 0);
  }
  arm(settle_end_);
}

void MailboxLoop::probe_get() {
  MailboxConn& c = *probe_;
  if (c.state == MailboxConn::State::Idle) return open(c);  // connected() comes back here
  if (c.state == MailboxConn::State::Closing) {
    poll_at_ = core_.now() + kPollMs;  // the server closed it: open it again after its close
    return arm(poll_at_);
  }
  if (c.state != MailboxConn::State::Open || c.in_flight || c.writing) return;
  metrics_.clear();
  metrics_too_big_ = false;
  c.deadline = core_.now() + plan_.timeout_ms;
  arm(c.deadline);
  send(c);
}

void MailboxLoop::probe_answer(bool ok) {
  uint64_t gauge = 0;
  const bool have = ok && !metrics_too_big_ && parse_gauge(metrics_, gauge);
  if (lead_phase_ == Lead::Baseline) {
    park_.gauge_available = have;
    baseline_ = gauge;
    if (!have) close(*probe_);
    lead_phase_ = Lead::Reports;
    broadcast(&MailboxLoop::park);
  } else if (lead_phase_ == Lead::Confirm) {
    const uint64_t now = core_.now();
    if (!have) {
      // The gauge went away (or its connection): settle as for a server without one.
      settle_end_ = std::min(settle_end_, now + kSettleMs);
      arm(settle_end_);
    } else if (gauge >= target_) {
      park_.confirmed = true;
      go_post();
    } else {
      poll_at_ = now + kPollMs;
      arm(poll_at_);
    }
  }
}

void MailboxLoop::lead_deadline(uint64_t now) {
  if (lead_phase_ != Lead::Confirm) return;
  if (now >= settle_end_) return go_post();
  if (now >= poll_at_) {
    poll_at_ = DeadlineTimer::kNever;
    probe_get();
  }
}

void MailboxLoop::go_post() {
  if (lead_phase_ != Lead::Confirm) return;
  lead_phase_ = Lead::Over;
  settle_end_ = poll_at_ = DeadlineTimer::kNever;
  const uint64_t now_ns = uv_hrtime();
  const uint64_t last = total_.last_written_ns;
  park_.settle_ns = last != 0 && now_ns > last ? now_ns - last : 0;
  close(*probe_);
  broadcast(&MailboxLoop::post);
}

}  // namespace tether::load::detail
