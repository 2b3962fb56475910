// Mailbox: hand a value from one request to another by id — long-poll wait, post — owned by
// loop threads (no lock on the request path), bounded, expiring.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "tether/export.hpp"
#include "tether/response.hpp"

namespace tether {

namespace detail {
class ServerImpl;
}

/// Outcome of Mailbox::post.
enum class MailboxPost {
  Delivered,    // a waiter took it (its continuation ran with the value)
  Stored,       // no live waiter: stored until taken or its TTL expires
  Conflict,     // the id already holds a value, stored or on its way to a waiter (never
                // overwritten)
  TooLarge,     // over mailbox_max_value_bytes
  Full,         // mailbox_max_ids reached
  Unavailable,  // the server is stopping (or stopped): nothing was stored
};

/// Outcome of Mailbox::wait.
enum class MailboxTake {
  Value,        // the value (it is removed: one-shot)
  Empty,        // nothing stored and no wait asked for
  TimedOut,     // nothing arrived before the deadline
  Refused,      // too many ids or waiters on this id
  Unavailable,  // the server is stopping
};

/// Outcome of Mailbox::remove.
enum class MailboxRemove {
  Removed,      // the id held a stored value; it is gone
  NotFound,     // no stored value for the id (never posted, taken, expired, or in transit)
  Unavailable,  // the server is stopping, or its Redis could not answer: nothing is known
};

/// The server's mailbox, sharded by `hash(id) % loops`; each shard is owned by one loop
/// thread. Call it from this server's handlers (a loop thread): work on another loop's shard
/// is forwarded through that loop's inbox as ids and values, and the answer comes back to the
/// calling loop, where the callback waited; callbacks always run on the calling loop's thread
/// (at once when it owns the shard). Called from a thread that is none of this server's loops,
/// `post` and `drop` run their callback on the shard's loop thread (so it must not hold a
/// Response), or at once with Unavailable when the server is stopping.
///
/// Once the server is asked to stop, every call answers Unavailable (nothing is stored that
/// the stop would lose), and the waits parked on a loop end with Unavailable when that loop
/// begins to drain, rather than be cut by the drain deadline.
///
/// A value handed to a waiter on another loop is in transit until that loop confirms its
/// continuation took it; if the waiter's client left meanwhile, the value goes to the next
/// waiter or back into storage. `post` reports the outcome once it is known, so Delivered
/// means a continuation received the value. The mailbox lives in memory: stored values are
/// gone when the server stops.
///
/// A callback that throws is caught at the loop's boundary, counted in handler_exceptions and
/// logged; a Response it held and did not answer is then answered 500 by the server.
///
/// Every call throws std::logic_error before Server::start().
class TETHER_EXPORT Mailbox {
 public:
  /// Hands `value` to the oldest live waiter on `id`, or stores it.
  void post(std::string id, std::string value, std::function<void(MailboxPost)> done);
  /// Takes the value for `id` for the exchange behind `res`: at once if stored, else (when
  /// `wait` > 0, capped by mailbox_max_wait_ms) parks until a post or the deadline. A waiter
  /// whose client leaves is removed at once and never handed a value. `then` runs on this
  /// loop thread with the outcome and the value (empty unless Value). Nothing happens, and
  /// `then` is never called, when `res` is dead or used off its loop thread (counted).
  void wait(Response res, std::string id, std::chrono::milliseconds wait,
            std::function<void(Response, MailboxTake, std::string)> then);
  /// Removes a stored value, and says what happened (`done` runs where `post`'s does).
  void remove(std::string id, std::function<void(MailboxRemove)> done);
  /// remove() with a yes/no answer: `done(true)` when a value was removed; false also when
  /// the mailbox could not tell (Unavailable).
  void drop(std::string id, std::function<void(bool)> done);

 private:
  friend class detail::ServerImpl;
  explicit Mailbox(detail::ServerImpl& server) : server_(server) {}
  detail::ServerImpl& server_;
};

}  // namespace tether
