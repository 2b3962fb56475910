// The mailbox's decisions on Redis, made atomically by one Lua script: which waiter wins a
// value, what is in transit, what comes back. No instance ever reads a key and writes it
// back: a read-then-write from two instances could hand one value to two waiters.
//
// Keys (all under a prefix P, default "tether:mailbox:"; one Redis, not a Cluster):
//   P v:<id>       a stored value (string, expiring with the value's TTL)
//   P t:<id>       a value in transit (hash: value, expires, waiter, poster)
//   P w:<id>       the waiters of <id>, oldest first: "<until>|<channel>|<token>"
//   P ids          the ids holding a value, stored or in transit (zset by expiry): max_ids
//   P transits     ids in transit (zset by transit deadline): recovered when it passes
//   P o:<channel>  offers outstanding to a loop ("<token>|<id>"): a loop's re-check
//   P r:<poster>   the outcome of a post that went in transit ("delivered" or "stored")
// Times are Redis' own clock (TIME), so instances on machines whose clocks differ agree.
//
// Messages, published on a loop's channel (its instance and loop):
//   o|<token>|<id length>|<id><value>    a value offered to the waiter <token>
//   r|<token>|<outcome>                  the outcome of the post <token>
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tether::detail {

/// The script's text (its operations are picked by ARGV[1]).
std::string_view mailbox_script();

/// A message received on a loop's channel.
struct MailboxMessage {
  enum class Kind : uint8_t { offer, outcome };
  Kind kind = Kind::offer;
  uint64_t token = 0;
  std::string id;       // offer
  std::string payload;  // offer: the value; outcome: "delivered" or "stored"
};

/// Parses a message; nullopt when it is not one of ours (it is then ignored and counted).
std::optional<MailboxMessage> parse_mailbox_message(std::string_view text);

}  // namespace tether::detail
