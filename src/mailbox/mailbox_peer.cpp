#include "mailbox/mailbox_peer.hpp"

#include <cstdio>
#include <utility>

#include "core/loop.hpp"
#include "http/continuation.hpp"
#include "mailbox/run_callback.hpp"

namespace tether::detail {

MailboxPeer& MailboxPeer::attach(Loop& loop, const MailboxLimits& limits) {
  MailboxPeer& peer = loop.attach(std::make_unique<MailboxPeer>(loop, limits));
  loop.deadlines().add_source(&peer);
  return peer;
}

Loop& MailboxPeer::owner_of(const Group& group, std::string_view id) {
  return *group.loops[std::hash<std::string_view>{}(id) % group.loops.size()];
}

uint32_t MailboxPeer::index() const {
  return loop_.index();
}

Loop& MailboxPeer::loop_at(uint32_t index) const {
  return group_ ? *group_->loops[index] : loop_;
}

void MailboxPeer::count_lost(const char* where) {
  shard_.counters().lost.add();
  loop_.log().write(LogLevel::Error, "a mailbox value was dropped: %s (only while stopping)",
                    where);
}

// ------------------------------------------------------------------ calls made on this loop

void MailboxPeer::post(std::string id, std::string value, std::function<void(MailboxPost)> done) {
  if (stopping()) {
    if (done)
      run_mailbox_callback(loop_, "mailbox post callback", [&] { done(MailboxPost::Unavailable); });
    return;
  }
  Loop& owner = group_ ? owner_of(*group_, id) : loop_;
  uint64_t token = 0;
  if (done) {
    token = ++next_token_;
    posts_.emplace(token, std::move(done));
  }
  const CallRef poster{index(), token};
  if (&owner == &loop_) {
    on_post(std::move(id), std::move(value), poster);
    return;
  }
  MailboxPeer* shard = owner.find<MailboxPeer>();
  if (!owner.post_task([shard, id = std::move(id), value = std::move(value), poster]() mutable {
        shard->on_post(std::move(id), std::move(value), poster);
      })) {
    finish_post(token, MailboxPost::Unavailable);  // nothing was stored, and the poster knows
  }
}

void MailboxPeer::drop(std::string id, std::function<void(MailboxRemove)> done) {
  if (stopping()) {
    if (done)
      run_mailbox_callback(loop_, "mailbox drop callback",
                           [&] { done(MailboxRemove::Unavailable); });
    return;
  }
  Loop& owner = group_ ? owner_of(*group_, id) : loop_;
  uint64_t token = 0;
  if (done) {
    token = ++next_token_;
    drops_.emplace(token, std::move(done));
  }
  const CallRef caller{index(), token};
  if (&owner == &loop_) {
    on_drop(std::move(id), caller);
    return;
  }
  MailboxPeer* shard = owner.find<MailboxPeer>();
  if (!owner.post_task([shard, id = std::move(id), caller]() mutable {
        shard->on_drop(std::move(id), caller);
      })) {
    finish_drop(token, MailboxRemove::Unavailable);
  }
}

void MailboxPeer::wait(Response res, std::string id, uint64_t wait_ms,
                       std::function<void(Response, MailboxTake, std::string)> then) {
  Loop& owner = group_ ? owner_of(*group_, id) : loop_;
  const bool park = wait_ms > 0 && !stopping();
  const uint64_t token = ++next_token_;
  PendingWait& w = waits_[token];
  w.res = std::move(res);
  w.then = std::move(then);
  w.owner = owner.index();
  if (stopping()) {
    finish_wait(token, MailboxTake::Unavailable, {});
    return;
  }
  if (park) {
    // The wait ends by its own deadline (204), however long it was allowed to be, so the
    // response deadline does not cut it. Timed from now, not from the loop's cached clock.
    Continuation::park(w.res);
    uv_update_time(loop_.uv());
    const uint64_t at = loop_.now() + wait_ms;
    w.has_deadline = true;
    w.deadline = wait_deadlines_.emplace(at, token);
    loop_.deadlines().schedule(at);
  }
  // The client leaves: the wait is forgotten here and at the shard at once. The callback
  // holds the token, never the Response.
  w.res.on_close([this, token] { abandon_wait(token); });
  const CallRef waiter{index(), token};
  if (&owner == &loop_) {
    on_wait(std::move(id), park, waiter);
    return;
  }
  MailboxPeer* shard = owner.find<MailboxPeer>();
  if (!owner.post_task([shard, id = std::move(id), park, waiter]() mutable {
        shard->on_wait(std::move(id), park, waiter);
      })) {
    finish_wait(token, MailboxTake::Unavailable, {});
  }
}

void MailboxPeer::post_from_outside(Loop& owner, std::string id, std::string value,
                                    std::function<void(MailboxPost)> done) {
  // The call rides in a parcel the caller keeps a share of: if the loop has stopped, the
  // callback is still here to be told so.
  struct Call {
    std::string id, value;
    std::function<void(MailboxPost)> done;
  };
  auto call = std::make_shared<Call>(Call{std::move(id), std::move(value), std::move(done)});
  MailboxPeer* shard = owner.find<MailboxPeer>();
  if (!shard->stopping() && owner.post_task([shard, call] {
        uint64_t token = 0;
        if (call->done) {
          token = ++shard->next_token_;
          shard->posts_.emplace(token, std::move(call->done));
        }
        shard->on_post(std::move(call->id), std::move(call->value), CallRef{shard->index(), token});
      })) {
    return;
  }
  if (call->done) call->done(MailboxPost::Unavailable);
}

void MailboxPeer::drop_from_outside(Loop& owner, std::string id,
                                    std::function<void(MailboxRemove)> done) {
  struct Call {
    std::string id;
    std::function<void(MailboxRemove)> done;
  };
  auto call = std::make_shared<Call>(Call{std::move(id), std::move(done)});
  MailboxPeer* shard = owner.find<MailboxPeer>();
  if (!shard->stopping() && owner.post_task([shard, call] {
        uint64_t token = 0;
        if (call->done) {
          token = ++shard->next_token_;
          shard->drops_.emplace(token, std::move(call->done));
        }
        shard->on_drop(std::move(call->id), CallRef{shard->index(), token});
      })) {
    return;
  }
  if (call->done) call->done(MailboxRemove::Unavailable);
}

// ------------------------------------------------------------------ the shard's side

void MailboxPeer::on_post(std::string id, std::string value, CallRef poster) {
  if (stopping()) {
    tell_poster({poster, MailboxPost::Unavailable});  // stored now, it would be lost
    return;
  }
  MailboxShard::PostResult r = shard_.post(id, std::move(value), loop_.now(), poster);
  loop_.deadlines().schedule(shard_.next_deadline());
  if (r.offer) {
    hand_over(std::move(*r.offer));
    return;
  }
  tell_poster({poster, r.status});
}

void MailboxPeer::on_drop(std::string id, CallRef caller) {
  const MailboxRemove outcome = shard_.drop(id) ? MailboxRemove::Removed : MailboxRemove::NotFound;
  if (caller.token == 0) return;
  if (caller.loop == index()) {
    finish_drop(caller.token, outcome);
    return;
  }
  MailboxPeer* origin = loop_at(caller.loop).find<MailboxPeer>();
  // Refused: that loop has stopped, and its callback with it.
  loop_at(caller.loop).post_task([origin, token = caller.token, outcome] {
    origin->finish_drop(token, outcome);
  });
}

void MailboxPeer::on_wait(std::string id, bool park, CallRef waiter) {
  if (stopping()) {
    reply_wait(waiter, MailboxTake::Unavailable);
    return;
  }
  MailboxShard::WaitResult r = shard_.wait(id, park, waiter, loop_.now());
  if (r.offer) {
    hand_over(std::move(*r.offer));
    return;
  }
  if (!r.parked) reply_wait(waiter, r.take);
}

void MailboxPeer::on_confirm(uint64_t transit) {
  if (auto told = shard_.confirm(transit)) tell_poster(*told);
}

void MailboxPeer::on_refuse(uint64_t transit, std::string value) {
  if (stopping()) {
    // Placed again, it would be stored only to be lost with the server: its poster is told.
    if (auto told = shard_.give_up(transit)) tell_poster(*told);
    return;
  }
  MailboxShard::Returned back = shard_.refuse(transit, std::move(value), loop_.now());
  loop_.deadlines().schedule(shard_.next_deadline());
  if (back.told) tell_poster(*back.told);
  if (back.offer) hand_over(std::move(*back.offer));
}

void MailboxPeer::hand_over(MailboxShard::Offer offer) {
  if (offer.to.loop == index()) {
    PendingWait w;
    if (take_wait(offer.to.token, w)) {
      // Confirmed before the continuation runs: the shard is consistent if it posts again.
      if (auto told = shard_.confirm(offer.transit)) tell_poster(*told);
      run_then(w, MailboxTake::Value, std::move(offer.value));
      return;
    }
    on_refuse(offer.transit, std::move(offer.value));
    return;
  }
  // The value rides in a parcel we keep a share of: if the waiter's loop has stopped, the
  // value is still ours to give to the next waiter or to store.
  auto parcel = std::make_shared<std::string>(std::move(offer.value));
  Loop& to = loop_at(offer.to.loop);
  MailboxPeer* waiter = to.find<MailboxPeer>();
  if (to.post_task([waiter, from = index(), token = offer.to.token, transit = offer.transit,
                    parcel] { waiter->on_offer(from, token, transit, std::move(*parcel)); })) {
    return;
  }
  on_refuse(offer.transit, std::move(*parcel));
}

void MailboxPeer::tell_poster(const MailboxShard::Told& told) {
  if (told.poster.token == 0) return;
  if (told.poster.loop == index()) {
    finish_post(told.poster.token, told.status);
    return;
  }
  MailboxPeer* origin = loop_at(told.poster.loop).find<MailboxPeer>();
  // Refused: the poster's loop has stopped, and its callback with it.
  loop_at(told.poster.loop).post_task([origin, token = told.poster.token, status = told.status] {
    origin->finish_post(token, status);
  });
}

void MailboxPeer::reply_wait(CallRef waiter, MailboxTake take) {
  if (waiter.loop == index()) {
    finish_wait(waiter.token, take, {});
    return;
  }
  MailboxPeer* origin = loop_at(waiter.loop).find<MailboxPeer>();
  loop_at(waiter.loop).post_task([origin, token = waiter.token, take] {
    origin->finish_wait(token, take, {});
  });
}

// ------------------------------------------------------------------ the caller's side

void MailboxPeer::on_offer(uint32_t from, uint64_t token, uint64_t transit, std::string value) {
  Loop& shard_loop = loop_at(from);
  MailboxPeer* shard = shard_loop.find<MailboxPeer>();
  PendingWait w;
  if (take_wait(token, w)) {
    shard_loop.post_task([shard, transit] { shard->on_confirm(transit); });
    run_then(w, MailboxTake::Value, std::move(value));
    return;
  }
  // Its client left (or its deadline passed) while the value was on its way: it goes back.
  if (!shard_loop.post_task([shard, transit, value = std::move(value)]() mutable {
        shard->on_refuse(transit, std::move(value));
      })) {
    count_lost("it came back to a loop that had stopped");
  }
}

void MailboxPeer::finish_post(uint64_t token, MailboxPost status) {
  auto it = posts_.find(token);
  if (it == posts_.end()) return;
  std::function<void(MailboxPost)> done = std::move(it->second);
  posts_.erase(it);
  run_mailbox_callback(loop_, "mailbox post callback", [&] { done(status); });
}

void MailboxPeer::finish_drop(uint64_t token, MailboxRemove outcome) {
  auto it = drops_.find(token);
  if (it == drops_.end()) return;
  std::function<void(MailboxRemove)> done = std::move(it->second);
  drops_.erase(it);
  run_mailbox_callback(loop_, "mailbox drop callback", [&] { done(outcome); });
}

void MailboxPeer::finish_wait(uint64_t token, MailboxTake take, std::string value) {
  PendingWait w;
  if (take_wait(token, w)) run_then(w, take, std::move(value));
}

bool MailboxPeer::take_wait(uint64_t token, PendingWait& out) {
  auto it = waits_.find(token);
  if (it == waits_.end()) return false;
  PendingWait w = std::move(it->second);
  waits_.erase(it);
  unpark(w);
  if (!w.res.alive()) return false;  // answered some other way: nothing to hand it
  out = std::move(w);
  return true;
}

void MailboxPeer::unpark(PendingWait& w) {
  if (!w.has_deadline) return;
  wait_deadlines_.erase(w.deadline);
  w.has_deadline = false;
  Continuation::unpark(w.res);
}

bool MailboxPeer::detach_wait(uint64_t token, PendingWait& out) {
  auto it = waits_.find(token);
  if (it == waits_.end()) return false;
  out = std::move(it->second);
  waits_.erase(it);
  unpark(out);
  // The shard may still hold it as a parked waiter (or be offering it a value, which it will
  // refuse: the token is gone).
  const CallRef waiter{index(), token};
  if (out.owner == index()) {
    shard_.cancel(waiter);
  } else {
    MailboxPeer* shard = loop_at(out.owner).find<MailboxPeer>();
    loop_at(out.owner).post_task([shard, waiter] { shard->shard_.cancel(waiter); });
  }
  return true;
}

void MailboxPeer::abandon_wait(uint64_t token) {
  PendingWait w;
  detach_wait(token, w);
}  // its Response and continuation go here, on this loop

void MailboxPeer::run_then(PendingWait& w, MailboxTake take, std::string value) {
  const Response& res = w.res;
  auto call = [&] { w.then(std::move(w.res), take, std::move(value)); };
  Continuation::resume(res, "mailbox continuation", call);
}

uint64_t MailboxPeer::next_deadline() const {
  uint64_t next = shard_.next_deadline();
  if (!wait_deadlines_.empty()) next = std::min(next, wait_deadlines_.begin()->first);
  return next;
}

void MailboxPeer::on_deadline(uint64_t now) {
  SettleScope settle(loop_);
  shard_.expire(now);
  while (!wait_deadlines_.empty() && wait_deadlines_.begin()->first <= now) {
    loop_.deadlines().record(wait_deadlines_.begin()->first);
    PendingWait w;
    if (!detach_wait(wait_deadlines_.begin()->second, w)) {
      wait_deadlines_.erase(wait_deadlines_.begin());
      continue;
    }
    shard_.counters().timed_out.add();
    if (w.res.alive()) run_then(w, MailboxTake::TimedOut, {});
  }
}

void MailboxPeer::begin_drain() {
  std::vector<uint64_t> tokens;
  tokens.reserve(waits_.size());
  for (const auto& [token, w] : waits_) tokens.push_back(token);
  for (uint64_t token : tokens) {
    PendingWait w;
    if (detach_wait(token, w) && w.res.alive()) run_then(w, MailboxTake::Unavailable, {});
  }
}

void MailboxPeer::clear() {
  shard_.clear();
  wait_deadlines_.clear();
  // Moved out first: destroying a continuation runs user destructors, which must find the
  // tables in one piece.
  auto waits = std::move(waits_);
  auto posts = std::move(posts_);
  auto drops = std::move(drops_);
  waits_.clear();
  posts_.clear();
  drops_.clear();
}

}  // namespace tether::detail
