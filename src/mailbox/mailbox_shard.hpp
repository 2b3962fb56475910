// MailboxShard: the ids one loop owns. A keyed one-shot handoff: a posted value goes to the
// oldest waiter on its id, or is stored until taken or expired. Owned by one loop thread, so
// it needs no lock; bounded in ids, value size and waiters. It calls no user code and knows
// no loop: it says what to do (hand a value to a waiter, tell a poster), and its caller does.
//
// Two-phase handoff: a value handed to a waiter is "in transit" until the waiter's loop
// confirms it took it (its client was still there) or refuses it. Meanwhile the id counts as
// taken, so a second post is a conflict; a refused value goes to the next waiter or back into
// storage, never lost and never overwritten. The poster is told the outcome once it is known.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/counter.hpp"
#include "tether/mailbox.hpp"

namespace tether::detail {

struct MailboxLimits {
  size_t max_ids = 100000;
  size_t max_value_bytes = 64 * 1024;
  size_t max_waiters_per_id = 64;
  uint32_t ttl_ms = 60000;
};

/// A mailbox call waiting for its answer on some loop: the loop's index and the call's token
/// there. Token 0: nobody waits for the answer.
struct CallRef {
  uint32_t loop = 0;
  uint64_t token = 0;
  bool operator==(const CallRef&) const = default;
};

struct CallRefHash {
  size_t operator()(const CallRef& r) const {
    return std::hash<uint64_t>{}(r.token * 0x9e3779b97f4a7c15ull ^ r.loop);
  }
};

/// Written by the owning loop, readable from any thread (Server::stats).
struct MailboxCounters {
  Counter delivered;  // values taken by a waiter (confirmed)
  Counter expired;    // stored values dropped at their TTL
  Counter refused;    // posts refused (conflict, too large, full) and waits refused (full)
  Counter timed_out;  // waits (made on this loop) whose deadline passed
  Counter lost;       // values whose shard's loop had stopped when they came back to it
  Counter stored;     // gauge: ids holding a value
  Counter waiters;    // gauge: parked waiters
};

class MailboxShard {
 public:
  /// A value on its way to a waiter; in transit until confirm() or refuse().
  struct Offer {
    uint64_t transit = 0;
    CallRef to;
    std::string value;
  };
  /// A poster to tell how its post ended.
  struct Told {
    CallRef poster;
    MailboxPost status;
  };

  explicit MailboxShard(const MailboxLimits& limits) : limits_(limits) {}

  struct PostResult {
    MailboxPost status = MailboxPost::Stored;  // final unless `offer` is set
    std::optional<Offer> offer;                // handed to a waiter: the poster is told later
  };
  PostResult post(std::string_view id, std::string value, uint64_t now_ms, CallRef poster);

  struct WaitResult {
    MailboxTake take = MailboxTake::Empty;  // Empty or Refused when neither parked nor offered
    bool parked = false;
    std::optional<Offer> offer;  // a stored value, taken for this waiter
  };
  /// Takes the stored value of `id` for `waiter`, else parks it until a post (when `park`).
  WaitResult wait(std::string_view id, bool park, CallRef waiter, uint64_t now_ms);
  /// Removes a parked waiter (its client left, or its deadline passed). Unknown ones are
  /// ignored: it may have been offered a value already, which it will refuse.
  void cancel(CallRef waiter);
  /// Drops a stored value; false when none (a value in transit is not stored).
  bool drop(std::string_view id);

  /// The waiter took the value: the poster, if any, is to be told Delivered.
  std::optional<Told> confirm(uint64_t transit);
  /// The waiter could not take `value` (its client left): it goes to the next waiter (a new
  /// offer) or back into storage (the poster is told Stored).
  struct Returned {
    std::optional<Offer> offer;
    std::optional<Told> told;
  };
  Returned refuse(uint64_t transit, std::string value, uint64_t now_ms);
  /// The server is stopping and the waiter could not take the value: it is not placed again
  /// (it would be lost with the server); the poster, if any, is to be told Unavailable.
  std::optional<Told> give_up(uint64_t transit);

  /// Expires stored values past their TTL.
  void expire(uint64_t now_ms);
  /// When the next stored value expires (max when none).
  uint64_t next_deadline() const;
  /// Forgets everything (the loop is going).
  void clear();

  size_t ids() const { return slots_.size(); }
  size_t stored_values() const { return stored_; }
  size_t parked_waiters() const { return waiter_ids_.size(); }
  size_t in_transit() const { return transits_.size(); }
  MailboxCounters& counters() { return counters_; }
  const MailboxCounters& counters() const { return counters_; }

 private:
  using Expiries = std::multimap<uint64_t, std::string>;
  struct Slot {
    std::optional<std::string> value;
    Expiries::iterator expiry;  // valid while `value` is stored
    uint64_t expires_at = 0;
    uint64_t transit = 0;  // nonzero while a value of this id is in transit
    std::deque<CallRef> waiters;
  };
  using Slots = std::unordered_map<std::string, Slot>;
  struct Transit {
    std::string id;
    CallRef poster;
    uint64_t expires_at = 0;  // when the value expires if it comes back to storage
  };

  /// Gives `value` to the oldest waiter of the slot (an offer), or stores it.
  PostResult place(Slots::iterator it, std::string value, uint64_t expires_at, CallRef poster);
  Offer send_in_transit(Slots::iterator it, CallRef to, std::string value, uint64_t expires_at,
                        CallRef poster);
  void erase_if_empty(Slots::iterator it);
  void update_gauges();

  MailboxLimits limits_;
  Slots slots_;
  std::unordered_map<CallRef, std::string, CallRefHash> waiter_ids_;  // parked waiter -> id
  std::unordered_map<uint64_t, Transit> transits_;
  Expiries expiries_;
  uint64_t next_transit_ = 0;
  size_t stored_ = 0;
  MailboxCounters counters_;
};

}  // namespace tether::detail
