#include "mailbox/mailbox_shard.hpp"

#include <limits>
#include <utility>

namespace tether::detail {

void MailboxShard::update_gauges() {
  counters_.stored.set(stored_);
  counters_.waiters.set(waiter_ids_.size());
}

MailboxShard::PostResult MailboxShard::post(std::string_view id, std::string value, uint64_t now_ms,
                                            CallRef poster) {
  if (value.size() > limits_.max_value_bytes) {
    counters_.refused.add();
    return {MailboxPost::TooLarge, std::nullopt};
  }
  auto it = slots_.find(std::string(id));
  if (it != slots_.end()) {
    if (it->second.value || it->second.transit) {
      counters_.refused.add();  // one-shot: a second value never overwrites the first
      return {MailboxPost::Conflict, std::nullopt};
    }
  } else {
    if (slots_.size() >= limits_.max_ids) {
      counters_.refused.add();
      return {MailboxPost::Full, std::nullopt};
    }
    it = slots_.emplace(std::string(id), Slot{}).first;
  }
  return place(it, std::move(value), now_ms + limits_.ttl_ms, poster);
}

MailboxShard::PostResult MailboxShard::place(Slots::iterator it, std::string value,
                                             uint64_t expires_at, CallRef poster) {
  Slot& slot = it->second;
  if (!slot.waiters.empty()) {
    CallRef to = slot.waiters.front();
    slot.waiters.pop_front();
    waiter_ids_.erase(to);
    Offer offer = send_in_transit(it, to, std::move(value), expires_at, poster);
    update_gauges();
    return {MailboxPost::Delivered, std::move(offer)};
  }
  slot.value = std::move(value);
  slot.expires_at = expires_at;
  slot.expiry = expiries_.emplace(expires_at, it->first);
  ++stored_;
  update_gauges();
  return {MailboxPost::Stored, std::nullopt};
}

MailboxShard::Offer MailboxShard::send_in_transit(Slots::iterator it, CallRef to, std::string value,
                                                  uint64_t expires_at, CallRef poster) {
  const uint64_t transit = ++next_transit_;
  it->second.transit = transit;
  transits_.emplace(transit, Transit{it->first, poster, expires_at});
  return Offer{transit, to, std::move(value)};
}

MailboxShard::WaitResult MailboxShard::wait(std::string_view id, bool park, CallRef waiter,
                                            uint64_t /*now_ms*/) {
  WaitResult r;
  auto it = slots_.find(std::string(id));
  if (it != slots_.end() && it->second.value) {
    Slot& slot = it->second;
    std::string value = std::move(*slot.value);
    slot.value.reset();
    expiries_.erase(slot.expiry);
    --stored_;
    r.take = MailboxTake::Value;
    r.offer = send_in_transit(it, waiter, std::move(value), slot.expires_at, CallRef{});
    update_gauges();
    return r;
  }
  if (!park) return r;
  if (it == slots_.end()) {
    if (slots_.size() >= limits_.max_ids) {
      counters_.refused.add();
      r.take = MailboxTake::Refused;
      return r;
    }
    it = slots_.emplace(std::string(id), Slot{}).first;
  }
  if (it->second.waiters.size() >= limits_.max_waiters_per_id) {
    counters_.refused.add();
    r.take = MailboxTake::Refused;
    erase_if_empty(it);  // the slot may have been made for this wait alone
    return r;
  }
  it->second.waiters.push_back(waiter);
  waiter_ids_.emplace(waiter, it->first);
  r.parked = true;
  update_gauges();
  return r;
}

void MailboxShard::cancel(CallRef waiter) {
  auto w = waiter_ids_.find(waiter);
  if (w == waiter_ids_.end()) return;
  auto it = slots_.find(w->second);
  waiter_ids_.erase(w);
  if (it != slots_.end()) {
    auto& q = it->second.waiters;
    for (auto qi = q.begin(); qi != q.end(); ++qi) {
      if (*qi == waiter) {
        q.erase(qi);
        break;
      }
    }
    erase_if_empty(it);
  }
  update_gauges();
}

bool MailboxShard::drop(std::string_view id) {
  auto it = slots_.find(std::string(id));
  if (it == slots_.end() || !it->second.value) return false;
  it->second.value.reset();
  expiries_.erase(it->second.expiry);
  --stored_;
  erase_if_empty(it);
  update_gauges();
  return true;
}

std::optional<MailboxShard::Told> MailboxShard::confirm(uint64_t transit) {
  auto t = transits_.find(transit);
  if (t == transits_.end()) return std::nullopt;
  Transit done = std::move(t->second);
  transits_.erase(t);
  counters_.delivered.add();
  auto it = slots_.find(done.id);
  if (it != slots_.end()) {
    it->second.transit = 0;
    erase_if_empty(it);
  }
  if (done.poster.token == 0) return std::nullopt;
  return Told{done.poster, MailboxPost::Delivered};
}

MailboxShard::Returned MailboxShard::refuse(uint64_t transit, std::string value,
                                            uint64_t /*now_ms*/) {
  Returned r;
  auto t = transits_.find(transit);
  if (t == transits_.end()) return r;
  Transit back = std::move(t->second);
  transits_.erase(t);
  // The slot outlived the transit: a slot with a value in transit is never erased.
  auto it = slots_.find(back.id);
  if (it == slots_.end()) it = slots_.emplace(back.id, Slot{}).first;
  it->second.transit = 0;
  PostResult placed = place(it, std::move(value), back.expires_at, back.poster);
  r.offer = std::move(placed.offer);
  if (!r.offer && back.poster.token != 0) r.told = Told{back.poster, MailboxPost::Stored};
  return r;
}

std::optional<MailboxShard::Told> MailboxShard::give_up(uint64_t transit) {
  auto t = transits_.find(transit);
  if (t == transits_.end()) return std::nullopt;
  Transit back = std::move(t->second);
  transits_.erase(t);
  auto it = slots_.find(back.id);
  if (it != slots_.end()) {
    it->second.transit = 0;
    erase_if_empty(it);
  }
  if (back.poster.token == 0) return std::nullopt;
  return Told{back.poster, MailboxPost::Unavailable};
}

void MailboxShard::expire(uint64_t now_ms) {
  while (!expiries_.empty() && expiries_.begin()->first <= now_ms) {
    auto it = slots_.find(expiries_.begin()->second);
    expiries_.erase(expiries_.begin());
    if (it == slots_.end() || !it->second.value) continue;
    it->second.value.reset();
    --stored_;
    counters_.expired.add();
    erase_if_empty(it);
  }
  update_gauges();
}

uint64_t MailboxShard::next_deadline() const {
  return expiries_.empty() ? std::numeric_limits<uint64_t>::max() : expiries_.begin()->first;
}

void MailboxShard::clear() {
  slots_.clear();
  waiter_ids_.clear();
  transits_.clear();
  expiries_.clear();
  stored_ = 0;
  update_gauges();
}

void MailboxShard::erase_if_empty(Slots::iterator it) {
  const Slot& s = it->second;
  if (!s.value && !s.transit && s.waiters.empty()) slots_.erase(it);
}

}  // namespace tether::detail
