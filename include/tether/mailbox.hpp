// Mailbox: hand a value from one request to another by id — long-poll wait, post — owned by
// loop threads (no lock on the request path), bounded, expiring.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "tether/response.hpp"

namespace tether {

namespace detail {
class ServerImpl;
}

/// Outcome of Mailbox::post.
enum class MailboxPost {
  Delivered,  // handed to the oldest live waiter on the id
  Stored,     // no live waiter: stored until taken or its TTL expires
  Conflict,   // a value is already waiting for this id (never overwritten)
  TooLarge,   // over mailbox_max_value_bytes
  Full,       // mailbox_max_ids reached
};

/// Outcome of Mailbox::wait.
enum class MailboxTake {
  Value,     // the value (it is removed: one-shot)
  Empty,     // nothing stored and no wait asked for
  TimedOut,  // nothing arrived before the deadline
  Refused,   // too many ids or waiters on this id
};

/// The server's mailbox, sharded by `hash(id) % loops`; each shard is owned by one loop
/// thread. Call it from handlers (a loop thread). Work on another loop's shard is forwarded
/// through that loop's inbox and the answer comes back to the calling loop; callbacks always
/// run on the calling loop's thread (at once when the calling loop owns the shard).
class Mailbox {
 public:
  /// Hands `value` to the oldest live waiter on `id`, or stores it.
  void post(std::string id, std::string value, std::function<void(MailboxPost)> done);
  /// Takes the value for `id` for the exchange behind `res`: at once if stored, else (when
  /// `wait` > 0, capped by mailbox_max_wait_ms) parks until a post or the deadline. A waiter
  /// whose client leaves is removed at once and never handed a value. `then` runs on this
  /// loop thread with the outcome and the value (empty unless Value).
  void wait(Response res, std::string id, std::chrono::milliseconds wait,
            std::function<void(Response, MailboxTake, std::string)> then);
  /// Drops a stored value; `done(true)` when there was one.
  void drop(std::string id, std::function<void(bool)> done);

 private:
  friend class detail::ServerImpl;
  explicit Mailbox(detail::ServerImpl& server) : server_(server) {}
  detail::ServerImpl& server_;
};

}  // namespace tether
