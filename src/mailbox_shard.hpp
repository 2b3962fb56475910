// MailboxShard: one loop's part of the Mailbox. A keyed one-shot handoff: a posted value goes
// to the oldest live waiter on its id, or is stored until taken or expired. Owned by one loop
// thread, so it needs no lock; bounded in ids, value size and waiters; expiry by the loop's
// timer, never by scanning on a call.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "loop_stats.hpp"

namespace tether::detail {

struct MailboxLimits {
  size_t max_ids = 100000;
  size_t max_value_bytes = 64 * 1024;
  size_t max_waiters_per_id = 64;
  uint32_t ttl_ms = 60000;
};

enum class PostStatus { Delivered, Stored, Conflict, TooLarge, Full };

/// Written by the owning loop, readable from any thread (Server::stats).
struct MailboxCounters {
  Counter delivered;  // values handed to a waiter (at post, or taken when stored)
  Counter expired;    // stored values dropped at their TTL
  Counter refused;    // posts refused (conflict, too large, full) and waits refused (full)
  Counter timed_out;  // waiters whose deadline passed
  Counter stored;     // gauge: ids holding a value
  Counter waiters;    // gauge: parked waiters
};

class MailboxShard {
 public:
  /// Offered a value: returns true when it took it (its client is still there), false when
  /// the waiter is dead, so that the value goes to the next waiter or is stored instead.
  /// Called with nullptr when the waiter's deadline passed (the return value is ignored).
  using Waiter = std::function<bool(std::string* value)>;

  explicit MailboxShard(const MailboxLimits& limits) : limits_(limits) {}

  PostStatus post(std::string_view id, std::string value, uint64_t now_ms);

  struct WaitResult {
    std::optional<std::string> value;  // taken at once
    uint64_t waiter = 0;               // parked: cancel() with this
    bool refused = false;              // too many ids or waiters
  };
  /// Takes the stored value for `id`, else parks `waiter` until a post or `deadline_ms`
  /// (when `park` is false, returns empty instead of parking).
  WaitResult wait(std::string_view id, bool park, uint64_t deadline_ms, Waiter waiter);
  /// Removes a parked waiter at once (its client left). Unknown ids are ignored.
  void cancel(uint64_t waiter);
  /// Drops a stored value; false when none.
  bool drop(std::string_view id);
  /// Expires values past their TTL and waiters past their deadline.
  void expire(uint64_t now_ms);

  size_t ids() const { return slots_.size(); }
  size_t stored_values() const { return stored_; }
  /// Publishes the gauges to `counters()`; the owning loop calls it after each operation.
  void publish() {
    counters_.stored.set(stored_);
    counters_.waiters.set(waiters_.size());
  }
  size_t parked_waiters() const { return waiters_.size(); }
  const MailboxCounters& counters() const { return counters_; }

 private:
  struct Slot {
    std::optional<std::string> value;
    uint64_t value_gen = 0;  // tells the expiry list which stored value it refers to
    std::deque<uint64_t> waiters;
  };
  struct Parked {
    std::string id;
    Waiter fn;
    std::multimap<uint64_t, uint64_t>::iterator deadline;
  };
  void erase_if_empty(std::unordered_map<std::string, Slot>::iterator it);
  void remove_waiter_from_slot(const std::string& id, uint64_t waiter);

  MailboxLimits limits_;
  std::unordered_map<std::string, Slot> slots_;
  std::unordered_map<uint64_t, Parked> waiters_;
  std::multimap<uint64_t, uint64_t> deadlines_;  // deadline -> waiter
  struct Expiry {
    uint64_t at;
    std::string id;
    uint64_t gen;
  };
  std::deque<Expiry> expiries_;  // fixed TTL: appended in expiry order
  uint64_t next_waiter_ = 0;
  uint64_t next_gen_ = 0;
  size_t stored_ = 0;
  MailboxCounters counters_;
};

}  // namespace tether::detail
