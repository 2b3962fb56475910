// The public Mailbox: routes each call to the loop that owns the id (through the server
// that made it), or to the calling loop when the call waits there for its answer.
#include "tether/mailbox.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "core/loop.hpp"
#include "http/continuation.hpp"
#include "mailbox/mailbox_peer.hpp"
#include "server/server_impl.hpp"
#ifdef TETHER_HAS_REDIS
#include "mailbox_redis/redis_mailbox.hpp"
#endif

namespace tether {
namespace {

using detail::Loop;
using detail::MailboxPeer;

const MailboxPeer::Group& group_of(const detail::ServerImpl& server, const char* call) {
  const MailboxPeer::Group* group = server.mailbox_group();
  if (!group) {
    throw std::logic_error(std::string("tether: Mailbox::") + call +
                           " called before Server::start(): the mailbox lives on the server's "
                           "loops, which exist once it has started");
  }
  return *group;
}

// With mailbox_redis, the Redis mailbox's part of `loop` (every loop has one); else null.
#ifdef TETHER_HAS_REDIS
using detail::RedisMailbox;
RedisMailbox* redis_of(Loop& loop) {
  return loop.find<RedisMailbox>();
}
#else
// Built without Redis: never called (redis_of is always null); here so that the calls compile.
struct RedisMailbox {
  template <class... A>
  void post(A&&...) {}
  template <class... A>
  void drop(A&&...) {}
  template <class... A>
  void wait(A&&...) {}
  template <class... A>
  static void post_from_outside(A&&...) {}
  template <class... A>
  static void drop_from_outside(A&&...) {}
};
RedisMailbox* redis_of(Loop&) {
  return nullptr;
}
#endif

// The calling thread's loop, when it is one of this server's: the call's callback waits
// there. Null from any other thread.
MailboxPeer* caller(const MailboxPeer::Group& group) {
  Loop* here = Loop::current();
  MailboxPeer* peer = here ? here->find<MailboxPeer>() : nullptr;
  return peer && peer->in_group(&group) ? peer : nullptr;
}

}  // namespace

void Mailbox::post(std::string id, std::string value, std::function<void(MailboxPost)> done) {
  const MailboxPeer::Group& group = group_of(server_, "post");
  if (MailboxPeer* here = caller(group)) {
    if (RedisMailbox* r = redis_of(*Loop::current()))
      return r->post(std::move(id), std::move(value), std::move(done));
    here->post(std::move(id), std::move(value), std::move(done));
    return;
  }
  Loop& owner = MailboxPeer::owner_of(group, id);
  if (redis_of(owner))
    return RedisMailbox::post_from_outside(owner, std::move(id), std::move(value), std::move(done));
  MailboxPeer::post_from_outside(owner, std::move(id), std::move(value), std::move(done));
}

void Mailbox::drop(std::string id, std::function<void(bool)> done) {
  group_of(server_, "drop");
  std::function<void(MailboxRemove)> told;
  if (done) told = [done = std::move(done)](MailboxRemove r) { done(r == MailboxRemove::Removed); };
  remove(std::move(id), std::move(told));
}

void Mailbox::remove(std::string id, std::function<void(MailboxRemove)> done) {
  const MailboxPeer::Group& group = group_of(server_, "remove");
  if (MailboxPeer* here = caller(group)) {
    if (RedisMailbox* r = redis_of(*Loop::current()))
      return r->drop(std::move(id), std::move(done));
    here->drop(std::move(id), std::move(done));
    return;
  }
  Loop& owner = MailboxPeer::owner_of(group, id);
  if (redis_of(owner))
    return RedisMailbox::drop_from_outside(owner, std::move(id), std::move(done));
  MailboxPeer::drop_from_outside(owner, std::move(id), std::move(done));
}

void Mailbox::wait(Response res, std::string id, std::chrono::milliseconds wait,
                   std::function<void(Response, MailboxTake, std::string)> then) {
  const MailboxPeer::Group& group = group_of(server_, "wait");
  Loop* loop = detail::Continuation::open(res, "Mailbox::wait()");
  if (!loop) return;
  MailboxPeer* here = loop->find<MailboxPeer>();
  if (!here || !here->in_group(&group)) {
    throw std::logic_error(
        "tether: Mailbox::wait with a Response of another server: a server's mailbox waits "
        "only for its own requests");
  }
  const uint64_t wait_ms = static_cast<uint64_t>(std::clamp<int64_t>(
      wait.count(), 0, static_cast<int64_t>(server_.options.mailbox_max_wait_ms)));
  if (RedisMailbox* r = redis_of(*loop))
    return r->wait(std::move(res), std::move(id), wait_ms, std::move(then));
  here->wait(std::move(res), std::move(id), wait_ms, std::move(then));
}

}  // namespace tether
