#include "tether/mailbox.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>

#include "connection.hpp"
#include "loop.hpp"
#include "server_impl.hpp"

namespace tether {
namespace {

using detail::Loop;
using detail::MailWait;

MailboxPost to_public(detail::PostStatus s) {
  switch (s) {
    case detail::PostStatus::Delivered:
      return MailboxPost::Delivered;
    case detail::PostStatus::Stored:
      return MailboxPost::Stored;
    case detail::PostStatus::Conflict:
      return MailboxPost::Conflict;
    case detail::PostStatus::TooLarge:
      return MailboxPost::TooLarge;
    case detail::PostStatus::Full:
      return MailboxPost::Full;
  }
  return MailboxPost::Full;
}

detail::PostStatus shard_post(Loop& owner, const std::string& id, std::string value) {
  detail::PostStatus st = owner.mailbox().post(id, std::move(value), uv_now(owner.uv()));
  owner.mailbox().publish();
  return st;
}

// On the waiter's own loop: hands the outcome to the wait's record. Returns false (leaving
// *value untouched) when the client has left, so that the value can go elsewhere.
bool finish_wait(Loop& origin, uint64_t token, MailboxTake take, std::string* value) {
  std::optional<MailWait> rec = origin.take_mail_wait(token);
  if (!rec) return false;
  rec->alive->store(false, std::memory_order_relaxed);
  if (!rec->res.alive()) return false;
  std::string v = value ? std::move(*value) : std::string();
  detail::Exchange* x = detail::ResponseAccess::exchange(rec->res);
  ++x->refs;
  detail::run_user_code(x, "mailbox continuation",
                        [&] { rec->then(std::move(rec->res), take, std::move(v)); });
  detail::exchange_unref(x);
  return true;
}

// A value taken for a waiter on another loop: carry it there; if that client has gone by
// the time it arrives, the value goes back to its shard (next waiter, or stored).
void deliver_remote(Loop& origin, Loop& owner, uint64_t token, const std::string& id,
                    std::string value) {
  origin.post_task([&origin, &owner, token, id, value]() mutable {
    if (finish_wait(origin, token, MailboxTake::Value, &value)) return;
    owner.post_task([&owner, id, value]() mutable { shard_post(owner, id, std::move(value)); });
  });
}

void finish_remote(Loop& origin, uint64_t token, MailboxTake take) {
  origin.post_task([&origin, token, take] { finish_wait(origin, token, take, nullptr); });
}

}  // namespace

void Mailbox::post(std::string id, std::string value, std::function<void(MailboxPost)> done) {
  Loop* here = Loop::current();
  Loop& owner = server_.shard_owner(id);
  if (here == &owner) {
    MailboxPost st = to_public(shard_post(owner, id, std::move(value)));
    if (done) done(st);
    return;
  }
  owner.post_task([&owner, here, id = std::move(id), value = std::move(value),
                   done = std::move(done)]() mutable {
    MailboxPost st = to_public(shard_post(owner, id, std::move(value)));
    if (!done) return;
    if (here) {
      here->post_task([done = std::move(done), st] { done(st); });
    } else {
      done(st);  // called from no loop: report on the owner's thread
    }
  });
}

void Mailbox::drop(std::string id, std::function<void(bool)> done) {
  Loop* here = Loop::current();
  Loop& owner = server_.shard_owner(id);
  auto run = [&owner](const std::string& key) {
    bool dropped = owner.mailbox().drop(key);
    owner.mailbox().publish();
    return dropped;
  };
  if (here == &owner) {
    bool dropped = run(id);
    if (done) done(dropped);
    return;
  }
  owner.post_task([run, here, id = std::move(id), done = std::move(done)]() mutable {
    bool dropped = run(id);
    if (!done) return;
    if (here) {
      here->post_task([done = std::move(done), dropped] { done(dropped); });
    } else {
      done(dropped);
    }
  });
}

void Mailbox::wait(Response res, std::string id, std::chrono::milliseconds wait,
                   std::function<void(Response, MailboxTake, std::string)> then) {
  detail::Exchange* x = detail::ResponseAccess::open(res);
  if (!x) return;
  Loop& origin = *x->loop;
  Loop& owner = server_.shard_owner(id);
  const bool local = &origin == &owner;
  const uint64_t wait_ms = static_cast<uint64_t>(std::clamp<int64_t>(
      wait.count(), 0, static_cast<int64_t>(server_.options.mailbox_max_wait_ms)));
  const bool park = wait_ms > 0;
  if (park) {
    // The wait ends in an answer by its own deadline (204), however long it was allowed to be.
    x->deadline_owned = true;
    origin.disarm_deadline(x);
  }
  auto alive = std::make_shared<std::atomic<bool>>(true);
  const uint64_t token = origin.add_mail_wait(MailWait{res, std::move(then), alive, 0});

  // The client leaves (or the response deadline passes): the waiter is removed at once.
  res.on_close([&origin, &owner, token] {
    std::optional<MailWait> rec = origin.take_mail_wait(token);
    if (!rec) return;
    rec->alive->store(false, std::memory_order_relaxed);
    if (rec->waiter == 0) return;  // not parked yet (remote): the shard will skip it
    uint64_t w = rec->waiter;
    if (&owner == &origin) {
      owner.mailbox().cancel(w);
      owner.mailbox().publish();
    } else {
      owner.post_task([&owner, w] {
        owner.mailbox().cancel(w);
        owner.mailbox().publish();
      });
    }
  });

  // Runs on the owner's thread whenever a value is offered to this waiter, or its deadline
  // passes (value == nullptr).
  detail::MailboxShard::Waiter fn = [&origin, &owner, token, alive, id, local](std::string* value) {
    if (!value) {
      if (local)
        finish_wait(origin, token, MailboxTake::TimedOut, nullptr);
      else
        finish_remote(origin, token, MailboxTake::TimedOut);
      return true;
    }
    if (!alive->load(std::memory_order_relaxed)) return false;
    if (local) return finish_wait(origin, token, MailboxTake::Value, value);
    deliver_remote(origin, owner, token, id, std::move(*value));
    return true;
  };

  auto enroll = [&origin, &owner, token, id, park, wait_ms, local, fn = std::move(fn)]() mutable {
    detail::MailboxShard::WaitResult r =
        owner.mailbox().wait(id, park, uv_now(owner.uv()) + wait_ms, std::move(fn));
    owner.mailbox().publish();
    MailboxTake take = r.value     ? MailboxTake::Value
                       : r.refused ? MailboxTake::Refused
                                   : MailboxTake::Empty;
    if (r.value) {
      if (local) {
        if (!finish_wait(origin, token, take, &*r.value))
          shard_post(owner, id, std::move(*r.value));
      } else {
        deliver_remote(origin, owner, token, id, std::move(*r.value));
      }
      return;
    }
    if (r.refused || !park) {
      if (local)
        finish_wait(origin, token, take, nullptr);
      else
        finish_remote(origin, token, take);
      return;
    }
    if (local) {
      if (MailWait* rec = origin.find_mail_wait(token)) rec->waiter = r.waiter;
      return;
    }
    const uint64_t w = r.waiter;
    origin.post_task([&origin, &owner, token, w] {
      if (MailWait* rec = origin.find_mail_wait(token)) {
        rec->waiter = w;
      } else {
        owner.post_task([&owner, w] {  // the client left while the wait was being enrolled
          owner.mailbox().cancel(w);
          owner.mailbox().publish();
        });
      }
    });
  };
  if (local)
    enroll();
  else
    owner.post_task(std::move(enroll));
}

}  // namespace tether
