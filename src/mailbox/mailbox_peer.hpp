// MailboxPeer: one loop's part of the Mailbox. It owns the shard of the ids hashed to this
// loop, and the calls made on this loop that wait for an answer (a post's callback, a wait's
// Response and continuation), keyed by token. Loops talk by messages that carry ids, tokens
// and values only: a continuation and its Response never leave the loop they were made on.
//
// The handoff of a value to a waiter on another loop is two-phase (see mailbox_shard.hpp):
// the shard's loop sends the value; the waiter's loop confirms it took it or sends it back.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/deadline_timer.hpp"
#include "core/loop.hpp"
#include "mailbox/mailbox_shard.hpp"
#include "tether/mailbox.hpp"
#include "tether/response.hpp"

namespace tether::detail {

class MailboxPeer final : public Loop::Extension, public DeadlineTimer::Source {
 public:
  /// The loops of one server, by index (ids are sharded by hash over them), and whether the
  /// server is stopping: from then on the mailbox answers Unavailable, so that nothing is
  /// stored or parked that the stop would lose or cut.
  struct Group {
    std::vector<Loop*> loops;
    std::atomic<bool> stopping{false};
  };

  /// Makes the mailbox's part of `loop` and attaches it (after the HTTP layer, so that at a
  /// stop connections begin to drain before parked waits end).
  static MailboxPeer& attach(Loop& loop, const MailboxLimits& limits);
  MailboxPeer(Loop& loop, const MailboxLimits& limits) : loop_(loop), shard_(limits) {}
  MailboxPeer(const MailboxPeer&) = delete;
  MailboxPeer& operator=(const MailboxPeer&) = delete;

  /// The server's loops (before they run). A loop on its own is a group of one.
  void join_group(const Group* group) { group_ = group; }
  bool in_group(const Group* group) const { return group_ == group; }
  /// The loop that owns the shard of `id`.
  static Loop& owner_of(const Group& group, std::string_view id);

  // ---- calls, on this loop's thread (the caller's loop)
  void post(std::string id, std::string value, std::function<void(MailboxPost)> done);
  void drop(std::string id, std::function<void(MailboxRemove)> done);
  /// `res` is open, on this loop.
  void wait(Response res, std::string id, uint64_t wait_ms,
            std::function<void(Response, MailboxTake, std::string)> then);
  // ---- calls from a thread that is no loop of this group: `done` runs on the shard's loop,
  // or at once on the calling thread with Unavailable when that loop has stopped.
  static void post_from_outside(Loop& owner, std::string id, std::string value,
                                std::function<void(MailboxPost)> done);
  static void drop_from_outside(Loop& owner, std::string id,
                                std::function<void(MailboxRemove)> done);

  /// The loop begins to drain: every wait made on it ends now, with Unavailable, rather than
  /// be cut by the drain deadline.
  void begin_drain() override;
  /// The loop is going: forget stored values, and destroy (on its thread) every pending call.
  void clear();
  void teardown() override { clear(); }
  MailboxShard& shard() { return shard_; }
  const MailboxShard& shard() const { return shard_; }
  const MailboxCounters& counters() const { return shard_.counters(); }
  size_t pending_calls() const { return posts_.size() + drops_.size() + waits_.size(); }

  // DeadlineTimer::Source: stored values expiring, and waits made here timing out.
  uint64_t next_deadline() const override;
  void on_deadline(uint64_t now) override;

 private:
  struct PendingWait {
    Response res;
    std::function<void(Response, MailboxTake, std::string)> then;
    uint32_t owner = 0;  // the loop of the id's shard, told when the wait ends early
    bool has_deadline = false;
    std::multimap<uint64_t, uint64_t>::iterator deadline;
  };

  // The shard's side (this loop owns the id).
  void on_post(std::string id, std::string value, CallRef poster);
  void on_drop(std::string id, CallRef caller);
  void on_wait(std::string id, bool park, CallRef waiter);
  void on_confirm(uint64_t transit);
  void on_refuse(uint64_t transit, std::string value);
  void hand_over(MailboxShard::Offer offer);
  void tell_poster(const MailboxShard::Told& told);
  void reply_wait(CallRef waiter, MailboxTake take);
  // The caller's side (the call was made on this loop).
  void on_offer(uint32_t from, uint64_t token, uint64_t transit, std::string value);
  void finish_post(uint64_t token, MailboxPost status);
  void finish_drop(uint64_t token, MailboxRemove outcome);
  void finish_wait(uint64_t token, MailboxTake take, std::string value);
  /// Takes the wait `token` if its Response can still answer; else forgets it.
  bool take_wait(uint64_t token, PendingWait& out);
  /// The wait leaves the table: its deadline goes, and its exchange has one parked wait less.
  void unpark(PendingWait& w);
  /// The wait ends before its answer (client left, or its deadline): forget it here and at
  /// the shard. False when it is not pending.
  bool detach_wait(uint64_t token, PendingWait& out);
  void abandon_wait(uint64_t token);
  void run_then(PendingWait& w, MailboxTake take, std::string value);
  Loop& loop_at(uint32_t index) const;
  bool stopping() const { return group_ && group_->stopping.load(std::memory_order_acquire); }
  uint32_t index() const;
  void count_lost(const char* where);

  Loop& loop_;
  const Group* group_ = nullptr;
  MailboxShard shard_;
  uint64_t next_token_ = 0;
  std::unordered_map<uint64_t, std::function<void(MailboxPost)>> posts_;
  std::unordered_map<uint64_t, std::function<void(MailboxRemove)>> drops_;
  std::unordered_map<uint64_t, PendingWait> waits_;
  std::multimap<uint64_t, uint64_t> wait_deadlines_;  // deadline -> token
};

}  // namespace tether::detail
