#include "mailbox_redis/redis_mailbox.hpp"

#include <uv.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <utility>

#include "http/continuation.hpp"
#include "mailbox/run_callback.hpp"
#include "mailbox_redis/mailbox_script.hpp"
#include "redis/redis_loop.hpp"

namespace tether::detail {
namespace {

constexpr const char* kRecoverBatch = "100";  // values returned per re-check, at most

RedisConnection::Options role(RedisConnection::Role r) {
  RedisConnection::Options o;
  o.role = r;
  return o;
}

}  // namespace

RedisMailbox& RedisMailbox::attach(Loop& loop, RedisLoop& redis, const RedisMailboxOptions& options,
                                   const std::atomic<bool>* stopping) {
  RedisMailbox& m = loop.attach(std::make_unique<RedisMailbox>(loop, redis, options, stopping));
  loop.deadlines().add_source(&m);
  return m;
}

RedisMailbox::RedisMailbox(Loop& loop, RedisLoop& redis, const RedisMailboxOptions& options,
                           const std::atomic<bool>* stopping)
    : loop_(loop),
      opts_(options),
      stopping_(stopping),
      cmd_(redis.open(options.url, role(RedisConnection::Role::command))),
      sub_(redis.open(options.url, role(RedisConnection::Role::subscriber))),
      channel_(options.prefix + "c:" + options.instance + ":" + std::to_string(loop.index())) {
  sub_.subscribe(channel_,
                 [this](const std::string&, const std::string& payload) { on_message(payload); });
  cmd_.on_state([this](bool up) {
    if (up) {
      // Learn the script's SHA, so that calls send 40 bytes instead of the script. Until it
      // is known (and after a Redis restart forgot it), EVAL sends the text.
      cmd_.command({"SCRIPT", "LOAD", mailbox_script()}, opts_.command_timeout_ms,
                   [this](RedisResult r) {
                     if (r.ok() && r.reply.type == RedisReply::Type::string) sha_ = r.reply.str;
                   });
      sync_clock();
      learn_limits();
    }
    on_state(up);
  });
  sub_.on_state([this](bool up) { on_state(up); });
}

// ------------------------------------------------------------------ calls made on this loop

void RedisMailbox::post(std::string id, std::string value, std::function<void(MailboxPost)> done) {
  auto answer = [&](MailboxPost status) {
    if (done) run_mailbox_callback(loop_, "mailbox post callback", [&] { done(status); });
  };
  if (stopping()) return answer(MailboxPost::Unavailable);
  // Redis' own bound on one argument (proto-max-bulk-len): a bigger one is a protocol error,
  // and Redis closes the connection every call of this loop is riding on.
  if (value.size() > opts_.limits.max_value_bytes || value.size() > redis_bulk_limit_ ||
      id.size() > redis_bulk_limit_) {
    counters_.refused.add();
    return answer(MailboxPost::TooLarge);
  }
  uint64_t token = 0;
  if (done) {
    token = ++next_token_;
    posts_[token].done = std::move(done);
  }
  script(
      {"post", opts_.prefix, std::move(id), std::move(value), std::to_string(opts_.limits.ttl_ms),
       std::to_string(opts_.limits.max_ids), std::to_string(opts_.transit_ms),
       token ? poster_of(token) : std::string()},
      [this, token](RedisResult r) {
        if (!r.ok() || r.reply.type != RedisReply::Type::string || r.reply.str == "late") {
          // A timeout that ran late in Redis did nothing ('late'): Unavailable is true.
          redis_counters_.errors.add();
          if (r.ok())
            loop_.log().write(LogLevel::Warning, "mailbox post: Redis answered %s",
                              r.reply.describe().c_str());
          return finish_post(token, MailboxPost::Unavailable);
        }
        const std::string& s = r.reply.str;
        if (s == "offered") {
          // The outcome comes when the waiter's loop acknowledges (or the value comes
          // back and is stored); if no message says so, the re-check and then this
          // deadline ask Redis.
          auto it = posts_.find(token);
          if (it == posts_.end()) return;
          it->second.in_transit = true;
          const uint64_t at = loop_.now() + 2ull * opts_.transit_ms + opts_.recheck_ms;
          it->second.has_deadline = true;
          it->second.deadline = post_deadlines_.emplace(at, token);
          loop_.deadlines().schedule(at);
          return;
        }
        if (s == "conflict" || s == "full") counters_.refused.add();
        finish_post(token, s == "conflict" ? MailboxPost::Conflict
                           : s == "full"   ? MailboxPost::Full
                                           : MailboxPost::Stored);
      },
      /*bounded=*/true);
}

void RedisMailbox::drop(std::string id, std::function<void(MailboxRemove)> done) {
  if (stopping()) {
    if (done)
      run_mailbox_callback(loop_, "mailbox drop callback",
                           [&] { done(MailboxRemove::Unavailable); });
    return;
  }
  script(
      {"drop", opts_.prefix, std::move(id)},
      [this, done = std::move(done)](RedisResult r) {
        if (!r.ok() || r.reply.is_error()) redis_counters_.errors.add();
        // No answer (or a 'late' one, which did nothing): whether a value is there is unknown.
        MailboxRemove outcome = MailboxRemove::Unavailable;
        if (r.ok() && r.reply.type == RedisReply::Type::integer)
          outcome = r.reply.integer > 0 ? MailboxRemove::Removed : MailboxRemove::NotFound;
        if (done) run_mailbox_callback(loop_, "mailbox drop callback", [&] { done(outcome); });
      },
      /*bounded=*/true);
}

void RedisMailbox::wait(Response res, std::string id, uint64_t wait_ms,
                        std::function<void(Response, MailboxTake, std::string)> then) {
  const uint64_t token = ++next_token_;
  PendingWait& w = waits_[token];
  w.res = std::move(res);
  w.then = std::move(then);
  w.id = id;
  if (stopping()) return finish_wait(token, MailboxTake::Unavailable, {});
  const bool park = wait_ms > 0;
  if (park) {
    // As in the local mailbox: the wait ends by its own deadline, not the response's.
    Continuation::park(w.res);
    w.parked = true;
    uv_update_time(loop_.uv());
    const uint64_t at = loop_.now() + wait_ms;
    w.deadline = wait_deadlines_.emplace(at, token);
    loop_.deadlines().schedule(at);
  }
  // The client leaves: the wait goes, here and in Redis. The callback holds the token only.
  w.res.on_close([this, token] { abandon_wait(token); });
  script(
      {"wait", opts_.prefix, id, park ? "1" : "0", std::to_string(wait_ms), channel_,
       std::to_string(token), std::to_string(opts_.limits.max_waiters_per_id),
       std::to_string(opts_.transit_ms)},
      [this, token, id](RedisResult r) {
        const RedisReply& rep = r.reply;
        if (!r.ok() || rep.type != RedisReply::Type::array || rep.elements.empty()) {
          // A timeout may have run late in Redis: it did nothing then ('late'), or, had it
          // run in time, took the value into transit for this token, which the transit
          // timeout returns.
          redis_counters_.errors.add();
          if (r.ok())
            loop_.log().write(LogLevel::Warning, "mailbox wait: Redis answered %s",
                              rep.describe().c_str());
          return finish_wait(token, MailboxTake::Unavailable, {});
        }
        const std::string& kind = rep.elements[0].str;
        if (kind == "value" && rep.elements.size() == 2) {
          // Taken into transit for this wait: acknowledged once its continuation has it,
          // refused (back to the next waiter, or stored) if its client left meanwhile.
          PendingWait taken;
          if (!take_wait(token, taken)) return refuse(id, token);
          counters_.delivered.add();
          run_then(taken, MailboxTake::Value, rep.elements[1].str);
          return ack(id, token);
        }
        if (kind == "parked" && rep.elements.size() == 2) {
          auto it = waits_.find(token);
          if (it != waits_.end()) {
            it->second.entry = rep.elements[1].str;
            counters_.waiters.add();  // parked in Redis: a post on any instance finds it
            return;
          }
          // It ended (client left, deadline) before Redis answered: its place goes.
          return forget_entry(id, rep.elements[1].str);
        }
        if (kind == "refused") counters_.refused.add();
        finish_wait(token, kind == "refused" ? MailboxTake::Refused : MailboxTake::Empty, {});
      },
      /*bounded=*/true);
}

void RedisMailbox::post_from_outside(Loop& loop, std::string id, std::string value,
                                     std::function<void(MailboxPost)> done) {
  struct Call {
    std::string id, value;
    std::function<void(MailboxPost)> done;
  };
  auto call = std::make_shared<Call>(Call{std::move(id), std::move(value), std::move(done)});
  RedisMailbox* m = loop.find<RedisMailbox>();
  if (!m->stopping() && loop.post_task([m, call] {
        m->post(std::move(call->id), std::move(call->value), std::move(call->done));
      })) {
    return;
  }
  if (call->done) call->done(MailboxPost::Unavailable);
}

void RedisMailbox::drop_from_outside(Loop& loop, std::string id,
                                     std::function<void(MailboxRemove)> done) {
  struct Call {
    std::string id;
    std::function<void(MailboxRemove)> done;
  };
  auto call = std::make_shared<Call>(Call{std::move(id), std::move(done)});
  RedisMailbox* m = loop.find<RedisMailbox>();
  if (!m->stopping() &&
      loop.post_task([m, call] { m->drop(std::move(call->id), std::move(call->done)); })) {
    return;
  }
  if (call->done) call->done(MailboxRemove::Unavailable);
}

// ------------------------------------------------------------------ Redis

void RedisMailbox::script(std::vector<std::string> args, Reply reply, bool bounded) {
  if (bounded && !have_offset_.load(std::memory_order_relaxed)) {
    // Until Redis' clock is known (one round trip after the first connect), a bounded call
    // could not be kept from acting late: it is refused like one made while Redis is down
    // (answered at once, as the local mailbox answers a call during a stop).
    reply(RedisResult::failed(RedisFailure::not_connected));
    return;
  }
  // ARGV[3]: the Redis time past which the call must do nothing (0: none).
  args.insert(args.begin() + 2, std::to_string(bounded ? redis_deadline() : 0));
  auto shared = std::make_shared<std::vector<std::string>>(std::move(args));
  auto send = [this, shared](bool by_sha, Reply done) {
    std::vector<std::string> argv;
    argv.reserve(shared->size() + 3);
    argv.emplace_back(by_sha ? "EVALSHA" : "EVAL");
    argv.emplace_back(by_sha ? sha_ : std::string(mailbox_script()));
    argv.emplace_back("0");
    argv.insert(argv.end(), shared->begin(), shared->end());
    cmd_.command(argv, opts_.command_timeout_ms, std::move(done));
  };
  if (sha_.empty()) return send(false, std::move(reply));
  send(true, [this, send, reply = std::move(reply)](RedisResult r) mutable {
    if (r.ok() && r.reply.is_error_code("NOSCRIPT")) {
      sha_.clear();  // Redis restarted and forgot it: EVAL teaches it again
      return send(false, std::move(reply));
    }
    reply(std::move(r));
  });
}

void RedisMailbox::on_message(const std::string& payload) {
  std::optional<MailboxMessage> m = parse_mailbox_message(payload);
  if (!m) {
    redis_counters_.errors.add();
    return;
  }
  if (m->kind == MailboxMessage::Kind::offer)
    offer(m->token, m->id, std::move(m->payload));
  else
    outcome(m->token, m->payload);
}

void RedisMailbox::offer(uint64_t token, const std::string& id, std::string value) {
  auto it = waits_.find(token);
  if (it == waits_.end() || it->second.id != id || !it->second.res.alive()) {
    // Its client left, or its deadline passed, while the value was on its way: it goes back
    // (Redis ignores a refusal of an offer that was taken or returned meanwhile).
    return refuse(id, token);
  }
  if (it->second.claiming) return;  // the same offer again (message and re-check)
  it->second.claiming = true;
  // Claimed in Redis before the continuation sees it: a loop that stalled past the transit
  // timeout finds it recovered (and given to someone else) and delivers nothing.
  script({"claim", opts_.prefix, id, channel_, std::to_string(token),
          std::to_string(opts_.transit_ms)},
         [this, token, id, value = std::move(value)](RedisResult r) mutable {
           auto w_it = waits_.find(token);
           if (w_it != waits_.end()) w_it->second.claiming = false;
           if (!r.ok() || r.reply.is_error()) redis_counters_.errors.add();
           if (!r.ok() || r.reply.type != RedisReply::Type::integer || r.reply.integer != 1) {
             // Not ours (recovered meanwhile: this loop stalled), refused, or unknown (a claim
             // that timed out is returned by the transit timeout). The offer took the wait's
             // place in the id's waiter list, so no other value can reach it: it is told to
             // come back (503) rather than left to time out beside a value.
             return finish_wait(token, MailboxTake::Unavailable, {});
           }
           PendingWait w;
           if (!take_wait(token, w)) return refuse(id, token);
           counters_.delivered.add();
           run_then(w, MailboxTake::Value, std::move(value));
           ack(id, token);  // acknowledged after its continuation took it
         });
}

void RedisMailbox::ack(const std::string& id, uint64_t token) {
  unsettled_[token] = Unsettled{id, true, ++next_settle_, false};
  settle_offer(token);
}

void RedisMailbox::refuse(const std::string& id, uint64_t token) {
  unsettled_[token] = Unsettled{id, false, ++next_settle_, false};
  settle_offer(token);
}

void RedisMailbox::settle_offer(uint64_t token) {
  auto it = unsettled_.find(token);
  if (it == unsettled_.end() || it->second.sending) return;
  Unsettled& u = it->second;
  u.sending = true;
  std::vector<std::string> args{u.ack ? "ack" : "refuse", opts_.prefix, u.id, channel_,
                                std::to_string(token)};
  if (!u.ack) args.push_back(std::to_string(opts_.transit_ms));
  script(std::move(args), [this, token, seq = u.seq](RedisResult r) {
    if (!r.ok() || r.reply.is_error()) redis_counters_.errors.add();
    auto found = unsettled_.find(token);
    if (found == unsettled_.end() || found->second.seq != seq) return;
    found->second.sending = false;
    // No answer (the connection went, or the command timed out): sent again when the
    // connection is back and at each re-check. Any answer settles it: the script's ack and
    // refuse are idempotent, and one that finds the value moved on does nothing.
    if (r.ok()) unsettled_.erase(found);
  });
}

void RedisMailbox::resettle_offers() {
  if (!cmd_.up()) return;
  std::vector<uint64_t> tokens;
  tokens.reserve(unsettled_.size());
  for (const auto& [token, u] : unsettled_) {
    if (!u.sending) tokens.push_back(token);
  }
  for (uint64_t token : tokens) settle_offer(token);
}

void RedisMailbox::sync_clock() {
  // Redis' clock against the loop's, to the half round trip: bounded calls carry the Redis
  // time past which they must not act.
  const uint64_t sent = loop_.now();
  cmd_.command({"TIME"}, opts_.command_timeout_ms, [this, sent](RedisResult r) {
    if (!r.ok() || r.reply.type != RedisReply::Type::array || r.reply.elements.size() != 2) return;
    const int64_t redis_ms = std::strtoll(r.reply.elements[0].str.c_str(), nullptr, 10) * 1000 +
                             std::strtoll(r.reply.elements[1].str.c_str(), nullptr, 10) / 1000;
    uv_update_time(loop_.uv());
    const int64_t mid = static_cast<int64_t>((sent + loop_.now()) / 2);
    redis_offset_ms_ = redis_ms - mid;
    have_offset_.store(true, std::memory_order_release);
  });
}

void RedisMailbox::learn_limits() {
  cmd_.command(
      {"CONFIG", "GET", "proto-max-bulk-len"}, opts_.command_timeout_ms, [this](RedisResult r) {
        // CONFIG may be disabled (a managed Redis): Redis' default stays assumed.
        if (!r.ok() || r.reply.type != RedisReply::Type::array || r.reply.elements.size() != 2)
          return;
        const uint64_t limit = std::strtoull(r.reply.elements[1].str.c_str(), nullptr, 10);
        if (limit == 0) return;
        if (limit < opts_.limits.max_value_bytes && limit != redis_bulk_limit_) {
          loop_.log().write(LogLevel::Warning,
                            "mailbox: Redis' proto-max-bulk-len (%llu bytes) is below "
                            "mailbox_max_value_bytes: bigger values are refused",
                            static_cast<unsigned long long>(limit));
        }
        redis_bulk_limit_ = limit;
      });
}

uint64_t RedisMailbox::redis_deadline() {
  if (!have_offset_.load(std::memory_order_relaxed)) return 0;
  // Half the command timeout: a call that ran in time has the other half for its answer to
  // come back before the caller gives up.
  const int64_t at = static_cast<int64_t>(loop_.now()) + redis_offset_ms_ +
                     std::max<int64_t>(1, opts_.command_timeout_ms / 2);
  return at > 0 ? static_cast<uint64_t>(at) : 0;
}

void RedisMailbox::outcome(uint64_t token, const std::string& what) {
  auto it = posts_.find(token);
  if (it == posts_.end() || !it->second.in_transit) return;
  finish_post(token, what == "delivered" ? MailboxPost::Delivered : MailboxPost::Stored);
}

void RedisMailbox::recheck() {
  if (!cmd_.up()) return;
  resettle_offers();
  if (rechecking_) return;
  sync_clock();
  learn_limits();
  rechecking_ = true;
  script({"offers", opts_.prefix, channel_}, [this](RedisResult r) {
    rechecking_ = false;
    if (!r.ok() || r.reply.type != RedisReply::Type::array) return;
    const auto& e = r.reply.elements;
    for (size_t i = 0; i + 2 < e.size(); i += 3) {
      uint64_t token = std::strtoull(e[i].str.c_str(), nullptr, 10);
      offer(token, e[i + 1].str, e[i + 2].str);
    }
  });
  for (auto& [token, p] : posts_) {
    if (!p.in_transit) continue;
    cmd_.command({"GET", opts_.prefix + "r:" + poster_of(token)}, opts_.command_timeout_ms,
                 [this, token = token](RedisResult r) {
                   if (r.ok() && r.reply.type == RedisReply::Type::string)
                     outcome(token, r.reply.str);
                 });
  }
  if (loop_.index() == 0) {
    script({"recover", opts_.prefix, std::to_string(opts_.transit_ms), kRecoverBatch},
           [this](RedisResult r) {
             if (r.ok() && r.reply.type == RedisReply::Type::integer && r.reply.integer > 0) {
               redis_counters_.recovered.add(static_cast<uint64_t>(r.reply.integer));
               loop_.log().write(LogLevel::Warning,
                                 "mailbox: %lld values returned to their ids after their "
                                 "transit timed out (an instance died or stalled with them)",
                                 static_cast<long long>(r.reply.integer));
             }
           });
  }
}

void RedisMailbox::on_state(bool up) {
  if (up)
    resettle_offers();  // before the transit timeout hands those values out again
  else
    fail_all_waits();  // a lost connection may have lost their offers: 503 now
}

// ------------------------------------------------------------------ endings

void RedisMailbox::finish_post(uint64_t token, MailboxPost status) {
  auto it = posts_.find(token);
  if (it == posts_.end()) return;
  PendingPost p = std::move(it->second);
  posts_.erase(it);
  if (p.has_deadline) post_deadlines_.erase(p.deadline);
  run_mailbox_callback(loop_, "mailbox post callback", [&] { p.done(status); });
}

void RedisMailbox::finish_wait(uint64_t token, MailboxTake take, std::string value) {
  PendingWait w;
  if (take_wait(token, w)) run_then(w, take, std::move(value));
}

bool RedisMailbox::take_wait(uint64_t token, PendingWait& out) {
  auto it = waits_.find(token);
  if (it == waits_.end()) return false;
  out = std::move(it->second);
  waits_.erase(it);
  if (out.parked) {
    wait_deadlines_.erase(out.deadline);
    out.parked = false;
    Continuation::unpark(out.res);
  }
  if (!out.entry.empty()) counters_.waiters.sub();
  return out.res.alive();
}

void RedisMailbox::abandon_wait(uint64_t token) {
  PendingWait w;
  take_wait(token, w);
  forget_entry(w.id, w.entry);
}  // its Response and continuation go here, on this loop

void RedisMailbox::forget_entry(const std::string& id, const std::string& entry) {
  if (entry.empty()) return;
  cmd_.command({"LREM", opts_.prefix + "w:" + id, "1", entry}, opts_.command_timeout_ms,
               [](RedisResult) {});  // an entry left behind expires, and offers to it come back
}

void RedisMailbox::run_then(PendingWait& w, MailboxTake take, std::string value) {
  const Response& res = w.res;
  auto call = [&] { w.then(std::move(w.res), take, std::move(value)); };
  Continuation::resume(res, "mailbox continuation", call);
}

void RedisMailbox::fail_all_waits() {
  std::vector<uint64_t> tokens;
  tokens.reserve(waits_.size());
  for (const auto& [token, w] : waits_) tokens.push_back(token);
  for (uint64_t token : tokens) {
    PendingWait w;
    const bool alive = take_wait(token, w);
    forget_entry(w.id, w.entry);
    if (alive) run_then(w, MailboxTake::Unavailable, {});
  }
}

void RedisMailbox::begin_drain() {
  fail_all_waits();
}

void RedisMailbox::teardown() {
  wait_deadlines_.clear();
  post_deadlines_.clear();
  // Moved out first: destroying a continuation runs user destructors, which must find the
  // tables in one piece.
  auto waits = std::move(waits_);
  auto posts = std::move(posts_);
  waits_.clear();
  posts_.clear();
}

// ------------------------------------------------------------------ time

void RedisMailbox::started() {
  next_recheck_ = loop_.now() + opts_.recheck_ms;
  loop_.deadlines().schedule(next_recheck_);
}

uint64_t RedisMailbox::next_deadline() const {
  uint64_t next = next_recheck_ ? next_recheck_ : DeadlineTimer::kNever;
  if (!wait_deadlines_.empty()) next = std::min(next, wait_deadlines_.begin()->first);
  if (!post_deadlines_.empty()) next = std::min(next, post_deadlines_.begin()->first);
  return next;
}

void RedisMailbox::on_deadline(uint64_t now) {
  SettleScope settle(loop_);
  while (!wait_deadlines_.empty() && wait_deadlines_.begin()->first <= now) {
    loop_.deadlines().record(wait_deadlines_.begin()->first);
    const uint64_t token = wait_deadlines_.begin()->second;
    PendingWait w;
    const bool alive = take_wait(token, w);
    forget_entry(w.id, w.entry);
    counters_.timed_out.add();
    if (alive) run_then(w, MailboxTake::TimedOut, {});
  }
  while (!post_deadlines_.empty() && post_deadlines_.begin()->first <= now) {
    const uint64_t token = post_deadlines_.begin()->second;
    post_deadlines_.erase(post_deadlines_.begin());
    auto it = posts_.find(token);
    if (it == posts_.end()) continue;
    it->second.has_deadline = false;
    // No outcome came: ask Redis once more; if it has none either, the poster hears
    // Unavailable (the value itself is not lost: it is still in transit or back at its id).
    cmd_.command({"GET", opts_.prefix + "r:" + poster_of(token)}, opts_.command_timeout_ms,
                 [this, token](RedisResult r) {
                   if (r.ok() && r.reply.type == RedisReply::Type::string)
                     return outcome(token, r.reply.str);
                   redis_counters_.errors.add();
                   loop_.log().write(LogLevel::Warning,
                                     "mailbox post: no outcome from Redis within %u ms",
                                     2 * opts_.transit_ms + opts_.recheck_ms);
                   finish_post(token, MailboxPost::Unavailable);
                 });
  }
  if (next_recheck_ != 0 && now >= next_recheck_) {
    recheck();
    next_recheck_ = now + opts_.recheck_ms;
    loop_.deadlines().schedule(next_recheck_);
  }
}

}  // namespace tether::detail
