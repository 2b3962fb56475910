#include "mailbox_shard.hpp"

#include <utility>
#include <vector>

namespace tether::detail {

PostStatus MailboxShard::post(std::string_view id, std::string value, uint64_t now_ms) {
  if (value.size() > limits_.max_value_bytes) {
    counters_.refused.add();
    return PostStatus::TooLarge;
  }
  auto it = slots_.find(std::string(id));
  if (it != slots_.end()) {
    Slot& slot = it->second;
    if (slot.value) {
      counters_.refused.add();  // one-shot: a second value never overwrites the first
      return PostStatus::Conflict;
    }
    // Oldest live waiter first; a dead one is skipped (and dropped), never handed the value.
    while (!slot.waiters.empty()) {
      uint64_t w = slot.waiters.front();
      slot.waiters.pop_front();
      auto pw = waiters_.find(w);
      if (pw == waiters_.end()) continue;
      Waiter fn = std::move(pw->second.fn);
      deadlines_.erase(pw->second.deadline);
      waiters_.erase(pw);
      if (fn(&value)) {
        counters_.delivered.add();
        // The waiter's code may have used the mailbox again: look the slot up afresh.
        auto again = slots_.find(std::string(id));
        if (again != slots_.end()) erase_if_empty(again);
        return PostStatus::Delivered;
      }
    }
  } else {
    if (slots_.size() >= limits_.max_ids) {
      counters_.refused.add();
      return PostStatus::Full;
    }
    it = slots_.emplace(std::string(id), Slot{}).first;
  }
  Slot& slot = it->second;
  slot.value = std::move(value);
  slot.value_gen = ++next_gen_;
  ++stored_;
  expiries_.push_back({now_ms + limits_.ttl_ms, it->first, slot.value_gen});
  return PostStatus::Stored;
}

MailboxShard::WaitResult MailboxShard::wait(std::string_view id, bool park, uint64_t deadline_ms,
                                            Waiter waiter) {
  WaitResult r;
  auto it = slots_.find(std::string(id));
  if (it != slots_.end() && it->second.value) {
    r.value = std::move(*it->second.value);
    it->second.value.reset();
    --stored_;
    counters_.delivered.add();
    erase_if_empty(it);
    return r;
  }
  if (!park) return r;
  if (it == slots_.end()) {
    if (slots_.size() >= limits_.max_ids) {
      counters_.refused.add();
      r.refused = true;
      return r;
    }
    it = slots_.emplace(std::string(id), Slot{}).first;
  }
  if (it->second.waiters.size() >= limits_.max_waiters_per_id) {
    counters_.refused.add();
    r.refused = true;
    erase_if_empty(it);  // the slot may have been made for this wait alone
    return r;
  }
  uint64_t w = ++next_waiter_;
  it->second.waiters.push_back(w);
  auto d = deadlines_.emplace(deadline_ms, w);
  waiters_.emplace(w, Parked{it->first, std::move(waiter), d});
  r.waiter = w;
  return r;
}

void MailboxShard::remove_waiter_from_slot(const std::string& id, uint64_t waiter) {
  auto it = slots_.find(id);
  if (it == slots_.end()) return;
  auto& q = it->second.waiters;
  for (auto qi = q.begin(); qi != q.end(); ++qi) {
    if (*qi == waiter) {
      q.erase(qi);
      break;
    }
  }
  erase_if_empty(it);
}

void MailboxShard::cancel(uint64_t waiter) {
  auto pw = waiters_.find(waiter);
  if (pw == waiters_.end()) return;
  std::string id = std::move(pw->second.id);
  deadlines_.erase(pw->second.deadline);
  waiters_.erase(pw);
  remove_waiter_from_slot(id, waiter);
}

bool MailboxShard::drop(std::string_view id) {
  auto it = slots_.find(std::string(id));
  if (it == slots_.end() || !it->second.value) return false;
  it->second.value.reset();
  --stored_;
  erase_if_empty(it);
  return true;
}

void MailboxShard::expire(uint64_t now_ms) {
  while (!expiries_.empty() && expiries_.front().at <= now_ms) {
    Expiry e = std::move(expiries_.front());
    expiries_.pop_front();
    auto it = slots_.find(e.id);
    if (it == slots_.end() || !it->second.value || it->second.value_gen != e.gen) continue;
    it->second.value.reset();
    --stored_;
    counters_.expired.add();
    erase_if_empty(it);
  }
  // Waiters whose deadline passed are told so (outside the shard's bookkeeping: a callback may
  // post or wait again).
  std::vector<Waiter> timed_out;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now_ms) {
    uint64_t w = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    auto pw = waiters_.find(w);
    if (pw == waiters_.end()) continue;
    std::string id = std::move(pw->second.id);
    timed_out.push_back(std::move(pw->second.fn));
    waiters_.erase(pw);
    remove_waiter_from_slot(id, w);
    counters_.timed_out.add();
  }
  for (Waiter& fn : timed_out) fn(nullptr);
}

void MailboxShard::erase_if_empty(std::unordered_map<std::string, Slot>::iterator it) {
  if (!it->second.value && it->second.waiters.empty()) slots_.erase(it);
}

}  // namespace tether::detail
