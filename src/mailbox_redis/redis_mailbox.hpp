// RedisMailbox: one loop's part of a Mailbox whose values live in Redis, so that a waiter on
// one server instance and a poster on another meet (mailbox_script.hpp has the keys and the
// rules). The same guarantees as the local mailbox: a value goes to exactly one live waiter,
// oldest first, or is stored with its TTL; a post for an id that holds a value is refused;
// a value handed to a waiter stays in transit (in Redis) until the waiter's loop has given
// it to its continuation and acknowledged it, and comes back to its id when that client has
// left, or after the transit timeout when the waiter's instance died with it.
//
// Per loop, not per waiter: two Redis connections (commands, and a subscriber on the loop's
// own channel, where offers for its waiters and outcomes for its posters arrive), driven by
// the loop (redis/redis_loop.hpp). Pub/sub may lose a message, so every recheck_ms the loop
// also asks Redis for the offers outstanding to it and the outcomes of its posts; loop 0 of
// each instance returns the values whose transit timed out.
//
// Redis down or slow: a call answers Unavailable within the command timeout (the HTTP
// routes turn that into 503 with Retry-After); when a connection is lost, parked waits end
// with Unavailable (their entries in Redis expire, and an offer to them comes back); the
// loop never blocks, and the connections come back by themselves.
//
// On the loop's thread, like MailboxPeer; only ids and values cross loops.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>

#include "core/deadline_timer.hpp"
#include "core/loop.hpp"
#include "mailbox/mailbox_shard.hpp"
#include "redis/redis_connection.hpp"
#include "tether/mailbox.hpp"
#include "tether/response.hpp"

namespace tether::detail {

class RedisLoop;

struct RedisMailboxOptions {
  RedisUrl url;
  MailboxLimits limits;
  uint32_t command_timeout_ms = 1000;
  /// A value offered to a waiter and not acknowledged for this long returns to its id.
  uint32_t transit_ms = 5000;
  /// How often a loop looks for offers and outcomes pub/sub may have lost.
  uint32_t recheck_ms = 1000;
  std::string prefix = "tether:mailbox:";
  /// This server instance, unique among those sharing the Redis (its loops' channels).
  std::string instance;
};

/// Written by the loop thread, read by any (Server::stats).
struct RedisMailboxCounters {
  Counter errors;     // calls answered Unavailable because Redis failed or was down
  Counter recovered;  // values returned to their ids after a transit timeout
};

class RedisMailbox final : public Loop::Extension, public DeadlineTimer::Source {
 public:
  /// Makes the mailbox's part of `loop` on `redis` (attached to `loop` before it) and
  /// attaches it. `stopping` is the server's flag: from then on calls answer Unavailable.
  static RedisMailbox& attach(Loop& loop, RedisLoop& redis, const RedisMailboxOptions& options,
                              const std::atomic<bool>* stopping);
  RedisMailbox(Loop& loop, RedisLoop& redis, const RedisMailboxOptions& options,
               const std::atomic<bool>* stopping);
  RedisMailbox(const RedisMailbox&) = delete;
  RedisMailbox& operator=(const RedisMailbox&) = delete;

  // ---- on this loop's thread
  void post(std::string id, std::string value, std::function<void(MailboxPost)> done);
  void drop(std::string id, std::function<void(MailboxRemove)> done);
  void wait(Response res, std::string id, uint64_t wait_ms,
            std::function<void(Response, MailboxTake, std::string)> then);
  /// From a thread that is none of the server's loops: the call runs on `loop`, and its
  /// callback there (or at once, with Unavailable or false, when `loop` has stopped).
  static void post_from_outside(Loop& loop, std::string id, std::string value,
                                std::function<void(MailboxPost)> done);
  static void drop_from_outside(Loop& loop, std::string id,
                                std::function<void(MailboxRemove)> done);

  // ---- any thread
  /// Both connections are up, and Redis' clock is known (bounded calls need it).
  bool up() const { return cmd_.up() && sub_.up() && have_offset_.load(std::memory_order_acquire); }
  const MailboxCounters& counters() const { return counters_; }
  const RedisMailboxCounters& redis_counters() const { return redis_counters_; }

  // Loop::Extension
  void started() override;
  void begin_drain() override;
  void teardown() override;
  // DeadlineTimer::Source: waits and posts timing out, and the re-check.
  uint64_t next_deadline() const override;
  void on_deadline(uint64_t now) override;

 private:
  struct PendingWait {
    Response res;
    std::function<void(Response, MailboxTake, std::string)> then;
    std::string id;
    std::string entry;      // its place in the id's waiter list, once Redis has it (counted)
    bool parked = false;    // waiting with a deadline
    bool claiming = false;  // a value offered to it is being claimed in Redis
    std::multimap<uint64_t, uint64_t>::iterator deadline;
  };
  struct PendingPost {
    std::function<void(MailboxPost)> done;
    bool in_transit = false;  // the value went to a waiter: the outcome comes later
    bool has_deadline = false;
    std::multimap<uint64_t, uint64_t>::iterator deadline;
  };
  struct Unsettled {
    std::string id;
    bool ack = true;       // false: a refusal
    uint64_t seq = 0;      // which sending of the token's latest ack or refusal
    bool sending = false;  // in flight now
  };
  using Reply = std::function<void(RedisResult)>;

  /// Runs an operation of the script (EVALSHA, EVAL when Redis does not know it yet);
  /// `bounded`: it must do nothing in Redis once its caller has given up (post, wait, drop).
  void script(std::vector<std::string> args, Reply reply, bool bounded = false);
  /// Tells Redis the wait `token` took the value offered to it (ack) or cannot (refuse),
  /// until Redis answers: a lost ack would let the transit timeout hand the value out again.
  void ack(const std::string& id, uint64_t token);
  void refuse(const std::string& id, uint64_t token);
  void settle_offer(uint64_t token);
  /// Sends again every ack and refusal Redis has not answered (connection back, re-check).
  void resettle_offers();
  void sync_clock();
  /// Reads Redis' proto-max-bulk-len (at connect and at each re-check).
  void learn_limits();
  /// The Redis time past which a bounded call must not act; 0 before the clocks are known.
  uint64_t redis_deadline();
  void on_message(const std::string& payload);
  void on_state(bool up);
  void offer(uint64_t token, const std::string& id, std::string value);
  void outcome(uint64_t token, const std::string& what);
  void recheck();
  void finish_post(uint64_t token, MailboxPost status);
  void finish_wait(uint64_t token, MailboxTake take, std::string value);
  /// The wait leaves the table; false when it is not there or its Response cannot answer.
  bool take_wait(uint64_t token, PendingWait& out);
  /// The wait ends before an answer from Redis: its place in the waiter list goes too.
  void abandon_wait(uint64_t token);
  /// Takes a wait's place (`entry`) out of `id`'s waiter list in Redis; none when empty.
  void forget_entry(const std::string& id, const std::string& entry);
  void run_then(PendingWait& w, MailboxTake take, std::string value);
  void fail_all_waits();
  bool stopping() const { return stopping_ && stopping_->load(std::memory_order_acquire); }
  std::string poster_of(uint64_t token) const { return channel_ + "|" + std::to_string(token); }

  Loop& loop_;
  RedisMailboxOptions opts_;
  const std::atomic<bool>* stopping_;
  RedisConnection& cmd_;
  RedisConnection& sub_;
  std::string channel_;
  std::string sha_;                       // the script's SHA1, once Redis told it
  int64_t redis_offset_ms_ = 0;           // Redis' clock (ms since the epoch) minus the loop's
  std::atomic<bool> have_offset_{false};  // written by the loop, read by stats() too
  MailboxCounters counters_;
  RedisMailboxCounters redis_counters_;
  uint64_t next_token_ = 0;
  uint64_t next_recheck_ = 0;
  uint64_t redis_bulk_limit_ = uint64_t{512} << 20;  // Redis' default until CONFIG GET says
  bool rechecking_ = false;
  std::unordered_map<uint64_t, PendingWait> waits_;
  std::unordered_map<uint64_t, PendingPost> posts_;
  std::multimap<uint64_t, uint64_t> wait_deadlines_;   // deadline -> wait token
  std::multimap<uint64_t, uint64_t> post_deadlines_;   // deadline -> post token
  std::unordered_map<uint64_t, Unsettled> unsettled_;  // wait token -> ack or refusal
  uint64_t next_settle_ = 0;
};

}  // namespace tether::detail
