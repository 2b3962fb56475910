#include "redis/redis_connection.hpp"

#include <arpa/inet.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cassert>
#include <cctype>
#include <stdexcept>

#include "core/loop.hpp"
#include "redis/redis_loop.hpp"

namespace tether::detail {
namespace {

constexpr uint64_t kNever = DeadlineTimer::kNever;

RedisReply convert(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
      return RedisReply::of_string(std::string(r->str, r->len));
    case REDIS_REPLY_STATUS:
      return RedisReply::of_status(std::string(r->str, r->len));
    case REDIS_REPLY_ERROR:
      return RedisReply::of_error(std::string(r->str, r->len));
    case REDIS_REPLY_INTEGER:
      return RedisReply::of_integer(r->integer);
    case REDIS_REPLY_ARRAY: {
      RedisReply a;
      a.type = RedisReply::Type::array;
      a.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) a.elements.push_back(convert(r->element[i]));
      return a;
    }
    default:
      return RedisReply::nil();
  }
}

/// Commands that put a connection in a mode where replies stop pairing with commands
/// (hiredis answers them through its own subscription tables, or not at all).
bool changes_reply_mode(std::string_view name) {
  static constexpr std::string_view kModal[] = {"subscribe",   "psubscribe",   "ssubscribe",
                                                "unsubscribe", "punsubscribe", "sunsubscribe",
                                                "monitor"};
  for (std::string_view m : kModal) {
    if (name.size() != m.size()) continue;
    bool same = true;
    for (size_t i = 0; i < m.size() && same; ++i) {
      same = std::tolower(static_cast<unsigned char>(name[i])) == m[i];
    }
    if (same) return true;
  }
  return false;
}

bool is_ipv4(const std::string& host) {
  in_addr a4{};
  return inet_pton(AF_INET, host.c_str(), &a4) == 1;
}

bool is_ipv6(const std::string& host) {
  in6_addr a6{};
  return inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

// hiredis 0.14 looks every host up with getaddrinfo, IPv4 first: for an IPv6 address that
// first lookup is a name lookup (NSS, DNS) on the loop thread. Until the connection makes
// its own socket, IPv6 is refused rather than allowed to block the loop.
constexpr const char* kNoIpv6 =
    "IPv6 is not supported yet (hiredis 0.14 would look the address up as a name on the loop "
    "thread): use an IPv4 address, a name with one, or unix://";

/// A dead peer (a machine gone, a cable pulled) is noticed in about 30 s even on a
/// connection that sends nothing, such as a subscriber's.
void keep_alive(int fd) {
  int on = 1;
  int idle = 15;
  int interval = 5;
  int count = 3;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

}  // namespace

/// A host name lookup in flight. Freed by its callback; `conn` is cleared when the
/// connection no longer waits for it (a timeout, a close).
struct RedisConnection::Resolve {
  uv_getaddrinfo_t req{};
  RedisConnection* conn = nullptr;
};

/// hiredis' and libuv's C callbacks, with access to the connection's internals.
struct RedisCallbacks {
  static void reply(redisAsyncContext* ac, void* reply, void* privdata) {
    static_cast<RedisConnection*>(ac->data)->on_reply(reply, reinterpret_cast<uintptr_t>(privdata));
  }
  static void sub_reply(redisAsyncContext* ac, void* reply, void*) {
    static_cast<RedisConnection*>(ac->data)->on_sub_reply(reply);
  }
  static void connected(const redisAsyncContext*, int) {
    // Nothing to do: the handshake's replies say when the connection is up, and a failed
    // connect frees the context, which context_gone() hears about.
  }
  static void resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
    auto* r = static_cast<RedisConnection::Resolve*>(req->data);
    RedisConnection* c = r->conn;
    if (c != nullptr) {
      c->resolve_ = nullptr;
      c->resolved(status, res);
    }
    if (res != nullptr) uv_freeaddrinfo(res);
    delete r;
    if (c != nullptr) c->after_poll();
  }
};

RedisConnection::RedisConnection(RedisLoop& owner, const RedisUrl& url, const Options& opts)
    : owner_(owner),
      loop_(owner.loop()),
      url_(url),
      opts_(opts),
      label_(url.describe() + (opts.role == Role::subscriber ? " (subscriber)" : "")) {
  opts_.connect_timeout_ms = std::max<uint32_t>(opts_.connect_timeout_ms, 1);
  opts_.backoff_initial_ms = std::max<uint32_t>(opts_.backoff_initial_ms, 1);
  opts_.backoff_max_ms = std::max(opts_.backoff_max_ms, opts_.backoff_initial_ms);
  rng_ = (reinterpret_cast<uintptr_t>(this) * 0x9E3779B97F4A7C15ULL) | 1;
}

RedisConnection::~RedisConnection() {
  // The loop closed every context (close_handles) before it went; a context left here would
  // point into a loop that no longer runs.
  assert(ctx_ == nullptr);
}

void RedisConnection::check_thread(const char* what) const {
  if (!loop_.on_loop_thread()) {
    throw std::logic_error(std::string("tether: RedisConnection::") + what +
                           " called off its loop's thread");
  }
}

uint32_t RedisConnection::jitter(uint32_t ms) {
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  const uint32_t spread = ms / 5;  // up to 20% earlier
  return ms - (spread == 0 ? 0 : static_cast<uint32_t>(rng_ % (spread + 1)));
}

// ---------------------------------------------------------------- connecting

void RedisConnection::start() {
  if (state_ == State::idle) connect();
}

void RedisConnection::connect() {
  if (state_ == State::closed) return;
  if (attempted_) counters_.reconnects.add();
  attempted_ = true;
  attempt_deadline_ = loop_.now() + opts_.connect_timeout_ms;
  loop_.deadlines().schedule(attempt_deadline_);
  if (url_.kind == RedisUrl::Kind::tcp && is_ipv6(url_.host)) {
    attempt_failed(kNoIpv6);
    return;
  }
  if (url_.kind == RedisUrl::Kind::tcp && !is_ipv4(url_.host)) {
    // hiredis would call getaddrinfo on the loop thread: a name is looked up on libuv's pool.
    auto* r = new Resolve;
    r->conn = this;
    r->req.data = r;
    addrinfo hints{};
    hints.ai_family = AF_INET;  // see kNoIpv6
    hints.ai_socktype = SOCK_STREAM;
    const int rc = uv_getaddrinfo(loop_.uv(), &r->req, RedisCallbacks::resolved, url_.host.c_str(),
                                  nullptr, &hints);
    if (rc != 0) {
      delete r;
      attempt_failed(std::string("cannot resolve the host: ") + uv_strerror(rc));
      return;
    }
    resolve_ = r;
    state_ = State::resolving;
    return;
  }
  open_context(url_.kind == RedisUrl::Kind::tcp ? url_.host : url_.path);
}

void RedisConnection::resolved(int status, const addrinfo* res) {
  if (state_ != State::resolving) return;
  if (status < 0 || res == nullptr) {
    attempt_failed(std::string("cannot resolve the host: ") + uv_strerror(status));
    return;
  }
  // hiredis gets the address, not the name, so that it looks nothing up itself.
  char name[INET_ADDRSTRLEN] = {};
  uv_ip4_name(reinterpret_cast<const sockaddr_in*>(res->ai_addr), name, sizeof name);
  open_context(name);
}

void RedisConnection::open_context(const std::string& address) {
  redisAsyncContext* ac = url_.kind == RedisUrl::Kind::tcp
                              ? redisAsyncConnect(address.c_str(), url_.port)
                              : redisAsyncConnectUnix(url_.path.c_str());
  if (ac == nullptr) {
    attempt_failed("cannot connect: out of memory");
    return;
  }
  if (ac->err != 0) {
    const std::string why = ac->errstr;
    redisAsyncFree(ac);  // no hooks attached yet: frees at once
    attempt_failed("cannot connect: " + why);
    return;
  }
  if (int rc = attach_hiredis_poll(ac, loop_.uv(), this); rc != 0) {
    redisAsyncFree(ac);
    attempt_failed(std::string("cannot poll the socket: ") + uv_strerror(rc));
    return;
  }
  ac->data = this;
  ctx_ = ac;
  state_ = State::connecting;
  if (url_.kind == RedisUrl::Kind::tcp) keep_alive(ac->c.fd);
  redisAsyncSetConnectCallback(ac, RedisCallbacks::connected);
  // The handshake, pipelined: its replies come back in this order.
  Callback none;
  if (!url_.password.empty()) {
    if (url_.username.empty()) {
      const std::string_view argv[] = {"AUTH", url_.password};
      send(argv, attempt_deadline_, Step::auth, none);
    } else {
      const std::string_view argv[] = {"AUTH", url_.username, url_.password};
      send(argv, attempt_deadline_, Step::auth, none);
    }
  }
  if (url_.db != 0) {
    const std::string db = std::to_string(url_.db);
    const std::string_view argv[] = {"SELECT", db};
    send(argv, attempt_deadline_, Step::select, none);
  }
  const std::string_view ping[] = {"PING"};
  send(ping, attempt_deadline_, Step::ping, none);
}

void RedisConnection::attempt_failed(const std::string& why) {
  note_error(why, true);
  attempt_deadline_ = kNever;
  if (state_ != State::closed) schedule_reconnect(false);
}

void RedisConnection::schedule_reconnect(bool was_up) {
  state_ = State::backoff;
  if (was_up || backoff_ms_ == 0) backoff_ms_ = opts_.backoff_initial_ms;
  const uint32_t delay = jitter(backoff_ms_);
  backoff_ms_ = static_cast<uint32_t>(
      std::min<uint64_t>(static_cast<uint64_t>(backoff_ms_) * 2, opts_.backoff_max_ms));
  reconnect_at_ = loop_.now() + delay;
  loop_.deadlines().schedule(reconnect_at_);
}

void RedisConnection::handshake_reply(Step step, const RedisReply& reply) {
  if (reply.is_error()) {
    // The first refusal says why; the replies behind it only echo it (NOAUTH).
    switch (step) {
      case Step::auth:
        request_drop("AUTH refused: " + reply.str);
        break;
      case Step::select:
        request_drop("SELECT " + std::to_string(url_.db) + " refused: " + reply.str);
        break;
      default:
        if (reply.is_error_code("NOAUTH")) {
          request_drop(
              "Redis requires a password (NOAUTH): give it in the URL or in "
              "TETHER_REDIS_PASSWORD");
        } else {
          request_drop("PING refused: " + reply.str);
        }
        break;
    }
    return;
  }
  if (step == Step::ping) became_up();
}

void RedisConnection::became_up() {
  if (drop_requested_ || state_ != State::connecting) return;
  state_ = State::ready;
  attempt_deadline_ = kNever;
  backoff_ms_ = 0;
  up_.store(true, std::memory_order_release);
  counters_.connects.add();
  if (logged_down_) {
    loop_.log().write(LogLevel::Warning, "redis %s: connected again", label_.c_str());
    logged_down_ = false;
  }
  RedisLoop::Event e;
  e.kind = RedisLoop::Event::Kind::state;
  e.conn = this;
  e.up = true;
  owner_.push(std::move(e));
  if (opts_.role == Role::subscriber && !subs_.empty()) {
    std::vector<std::string> channels;
    channels.reserve(subs_.size());
    for (const auto& [name, sub] : subs_) channels.push_back(name);
    send_subscribe(channels);
  }
}

void RedisConnection::note_error(const std::string& why, bool log) {
  last_error_ = why;
  if (!log || logged_down_) return;
  // Once per outage: a Redis that stays down for an hour is one line, not one per attempt.
  logged_down_ = true;
  loop_.log().write(LogLevel::Warning, "redis %s: %s (retrying with backoff)", label_.c_str(),
                    why.c_str());
}

// ---------------------------------------------------------------- losing the connection

void RedisConnection::request_drop(const std::string& why) {
  if (drop_requested_) return;
  drop_requested_ = true;
  drop_reason_ = why;
}

void RedisConnection::drop(const std::string& why) {
  drop_requested_ = false;
  if (ctx_ == nullptr) return;
  if (!why.empty()) note_error(why, state_ != State::closed);
  dropping_ = true;
  // Outside any hiredis callback, so it frees at once: every command in flight is answered
  // with a null reply (on_reply fails it), then the cleanup hook calls context_gone().
  redisAsyncFree(ctx_);
  dropping_ = false;
}

void RedisConnection::context_gone(redisAsyncContext* ac) {
  if (ac != ctx_) return;
  if (!dropping_ && state_ != State::closed) {
    const bool was_connected = state_ == State::ready;
    const std::string why = ac->err != 0 && ac->errstr != nullptr ? ac->errstr : "closed by Redis";
    note_error((was_connected ? "connection lost: " : "cannot connect: ") + why, true);
  }
  ctx_ = nullptr;
  attempt_deadline_ = kNever;
  for (auto& [name, sub] : subs_) sub.confirmed = false;
  pending_confirms_ = 0;
  confirm_deadline_ = kNever;
  // hiredis failed every pending command before its cleanup hook; anything left here would
  // be ours out of step with it, and still gets its one answer.
  while (!in_flight_.empty()) on_reply(nullptr, in_flight_.front().seq);
  deadlines_.clear();
  const bool was_up = up_.exchange(false, std::memory_order_acq_rel);
  if (was_up) {
    if (state_ != State::closed) counters_.connection_losses.add();
    RedisLoop::Event e;
    e.kind = RedisLoop::Event::Kind::state;
    e.conn = this;
    e.up = false;
    owner_.push(std::move(e));
  }
  if (state_ != State::closed) schedule_reconnect(was_up);
}

void RedisConnection::on_poll_error(int status) {
  // libuv reports any POLLERR as EBADF: the socket itself says what went wrong (a refused
  // connect, a reset).
  int err = 0;
  socklen_t len = sizeof err;
  if (ctx_ && getsockopt(ctx_->c.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
    request_drop(std::string("socket error: ") + uv_strerror(-err));
    return;
  }
  request_drop(std::string("socket error: ") + uv_strerror(status));
}

void RedisConnection::after_poll() {
  SettleScope settle(loop_);
  if (drop_requested_) drop(drop_reason_);
  owner_.flush();
}

void RedisConnection::close() {
  check_thread("close");
  shut();
  owner_.schedule_flush();
}

void RedisConnection::shut() {
  if (state_ == State::closed) return;
  state_ = State::closed;
  reconnect_at_ = kNever;
  attempt_deadline_ = kNever;
  if (resolve_ != nullptr) {
    resolve_->conn = nullptr;  // its callback frees it
    uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_->req));
    resolve_ = nullptr;
  }
  drop({});
}

void RedisConnection::abort() {
  shut();
}

void RedisConnection::teardown() {
  // Handlers hold user code: they go here, on the loop thread.
  subs_.clear();
  on_state_ = nullptr;
}

// ---------------------------------------------------------------- deadlines

uint64_t RedisConnection::next_deadline() const {
  uint64_t next = kNever;
  if (state_ == State::backoff) next = reconnect_at_;
  if (state_ == State::resolving || state_ == State::connecting) {
    next = std::min(next, attempt_deadline_);
  }
  if (!deadlines_.empty()) next = std::min(next, deadlines_.front().second);
  if (pending_confirms_ > 0) next = std::min(next, confirm_deadline_);
  return next;
}

void RedisConnection::on_deadline(uint64_t now) {
  if (state_ == State::backoff && now >= reconnect_at_) {
    reconnect_at_ = kNever;
    connect();
    return;
  }
  if ((state_ == State::resolving || state_ == State::connecting) && now >= attempt_deadline_) {
    const std::string why = "no answer within the connect timeout (" +
                            std::to_string(opts_.connect_timeout_ms) + " ms)";
    if (state_ == State::resolving) {
      resolve_->conn = nullptr;
      uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_->req));
      resolve_ = nullptr;
      attempt_failed("cannot resolve the host: " + why);
    } else {
      drop("cannot connect: " + why);
    }
    return;
  }
  if (ctx_ != nullptr && !deadlines_.empty() && deadlines_.front().second <= now) {
    loop_.deadlines().record(deadlines_.front().second);
    // A loop kept busy past a command's deadline runs its timers before it polls: the answer
    // may be waiting in the socket. It is read before the command is called lost, or a call
    // that took effect in Redis would be answered as failed (a post told 503, yet stored).
    redisAsyncHandleRead(ctx_);
    if (ctx_ != nullptr && !deadlines_.empty() && deadlines_.front().second <= now) {
      drop("a command got no answer within its timeout: the connection is dropped");
    }
    after_poll();  // hands out what was read, and any drop the read asked for
    return;
  }
  if (ctx_ != nullptr && pending_confirms_ > 0 && now >= confirm_deadline_) {
    drop("SUBSCRIBE was not confirmed within the connect timeout");
  }
}

// ---------------------------------------------------------------- commands

void RedisConnection::command(const std::vector<std::string>& argv, uint32_t timeout_ms,
                              Callback cb) {
  argv_views_.assign(argv.begin(), argv.end());
  command(std::span<const std::string_view>(argv_views_), timeout_ms, std::move(cb));
}

void RedisConnection::command(std::span<const std::string_view> argv, uint32_t timeout_ms,
                              Callback cb) {
  check_thread("command");
  if (opts_.role == Role::subscriber) {
    throw std::logic_error("tether: a Redis subscriber connection takes no commands");
  }
  if (argv.empty()) throw std::logic_error("tether: a Redis command needs at least its name");
  if (changes_reply_mode(argv[0])) {
    throw std::logic_error(
        "tether: (UN)SUBSCRIBE and MONITOR need a subscriber connection "
        "(subscribe())");
  }
  if (owner_.torn_down()) {
    counters_.dropped.add();
    return;  // `cb` is destroyed uncalled: there is no loop left to call it on
  }
  if (state_ != State::ready || ctx_ == nullptr || drop_requested_) {
    fail_later(std::move(cb), RedisFailure::not_connected);
    return;
  }
  const uint64_t deadline = loop_.now() + std::max<uint32_t>(timeout_ms, 1);
  if (!send(argv, deadline, Step::user, cb)) fail_later(std::move(cb), RedisFailure::not_connected);
}

bool RedisConnection::send(std::span<const std::string_view> argv, uint64_t deadline, Step step,
                           Callback& cb) {
  argv_ptrs_.clear();
  argv_lens_.clear();
  for (std::string_view a : argv) {
    argv_ptrs_.push_back(a.data() != nullptr ? a.data() : "");
    argv_lens_.push_back(a.size());
  }
  const uint64_t seq = next_seq_++;
  if (redisAsyncCommandArgv(ctx_, RedisCallbacks::reply, reinterpret_cast<void*>(seq),
                            static_cast<int>(argv.size()), argv_ptrs_.data(),
                            argv_lens_.data()) != REDIS_OK) {
    return false;
  }
  in_flight_.push_back(InFlight{seq, deadline, step, std::move(cb)});
  // The running minimum: a later command with an earlier (or equal) deadline makes the
  // entries before it irrelevant for as long as it is in flight.
  while (!deadlines_.empty() && deadlines_.back().second >= deadline) deadlines_.pop_back();
  deadlines_.emplace_back(seq, deadline);
  loop_.deadlines().schedule(deadline);
  if (step == Step::user) {
    ++user_in_flight_;
    counters_.commands.add();
  }
  return true;
}

void RedisConnection::fail_later(Callback cb, RedisFailure f) {
  if (f == RedisFailure::not_connected) counters_.not_connected.add();
  RedisLoop::Event e;
  e.kind = RedisLoop::Event::Kind::reply;
  e.conn = this;
  e.cb = std::move(cb);
  e.result = RedisResult::failed(f);
  owner_.push(std::move(e));
  owner_.schedule_flush();
}

void RedisConnection::on_reply(void* reply, uint64_t seq) {
  if (in_flight_.empty() || in_flight_.front().seq != seq) {
    // hiredis answers in the order commands were sent; anything else is a bug that would
    // hand replies to the wrong callers. Stop using this connection.
    loop_.log().write(LogLevel::Error, "redis %s: a reply out of order (dropping the connection)",
                      label_.c_str());
    request_drop("a reply out of order");
    return;
  }
  InFlight f = std::move(in_flight_.front());
  in_flight_.pop_front();
  if (!deadlines_.empty() && deadlines_.front().first == seq) deadlines_.pop_front();
  if (f.step == Step::user) --user_in_flight_;
  if (reply == nullptr) {
    // The context is going (dropped, lost, closed): no answer will come.
    if (f.step != Step::user) return;
    const bool timed_out = f.deadline <= loop_.now();
    (timed_out ? counters_.timeouts : counters_.disconnected).add();
    RedisLoop::Event e;
    e.kind = RedisLoop::Event::Kind::reply;
    e.conn = this;
    e.cb = std::move(f.cb);
    e.result = RedisResult::failed(timed_out ? RedisFailure::timeout : RedisFailure::disconnected);
    owner_.push(std::move(e));
    return;
  }
  RedisReply r = convert(static_cast<const redisReply*>(reply));
  counters_.replies.add();
  if (r.is_error()) counters_.error_replies.add();
  if (f.step != Step::user) {
    handshake_reply(f.step, r);
    return;
  }
  RedisLoop::Event e;
  e.kind = RedisLoop::Event::Kind::reply;
  e.conn = this;
  e.cb = std::move(f.cb);
  e.result.reply = std::move(r);
  owner_.push(std::move(e));
}

// ---------------------------------------------------------------- pub/sub

void RedisConnection::subscribe(const std::string& channel, MessageHandler on_message) {
  if (owner_.started_.load(std::memory_order_acquire)) check_thread("subscribe");
  if (opts_.role != Role::subscriber) {
    throw std::logic_error("tether: subscribe() needs a connection opened with Role::subscriber");
  }
  Subscription& s = subs_[channel];
  s.handler = std::move(on_message);
  if (state_ == State::ready && ctx_ != nullptr && !s.confirmed) send_subscribe({channel});
}

bool RedisConnection::subscribed(const std::string& channel) const {
  auto it = subs_.find(channel);
  return it != subs_.end() && it->second.confirmed;
}

void RedisConnection::on_state(StateHandler handler) {
  if (owner_.started_.load(std::memory_order_acquire)) check_thread("on_state");
  on_state_ = std::move(handler);
}

void RedisConnection::send_subscribe(const std::vector<std::string>& channels) {
  argv_ptrs_.clear();
  argv_lens_.clear();
  argv_ptrs_.push_back("SUBSCRIBE");
  argv_lens_.push_back(9);
  for (const std::string& c : channels) {
    argv_ptrs_.push_back(c.c_str());
    argv_lens_.push_back(c.size());
  }
  // hiredis keeps one callback per channel (no entry in the reply FIFO): it receives the
  // confirmation, then every message.
  if (redisAsyncCommandArgv(ctx_, RedisCallbacks::sub_reply, nullptr,
                            static_cast<int>(argv_ptrs_.size()), argv_ptrs_.data(),
                            argv_lens_.data()) != REDIS_OK) {
    request_drop("SUBSCRIBE could not be sent");
    return;
  }
  pending_confirms_ += channels.size();
  if (confirm_deadline_ == kNever) {
    confirm_deadline_ = loop_.now() + opts_.connect_timeout_ms;
    loop_.deadlines().schedule(confirm_deadline_);
  }
}

void RedisConnection::on_sub_reply(void* reply) {
  if (reply == nullptr) return;  // the context is going
  RedisReply r = convert(static_cast<const redisReply*>(reply));
  if (r.type != RedisReply::Type::array || r.elements.size() < 3 ||
      r.elements[0].type != RedisReply::Type::string ||
      r.elements[1].type != RedisReply::Type::string) {
    return;
  }
  const std::string& kind = r.elements[0].str;
  std::string& channel = r.elements[1].str;
  if (kind == "subscribe") {
    auto it = subs_.find(channel);
    if (it != subs_.end()) it->second.confirmed = true;
    if (pending_confirms_ > 0 && --pending_confirms_ == 0) confirm_deadline_ = kNever;
    return;
  }
  if (kind == "message") {
    counters_.messages.add();
    RedisLoop::Event e;
    e.kind = RedisLoop::Event::Kind::message;
    e.conn = this;
    e.channel = std::move(channel);
    e.result.reply = std::move(r.elements[2]);
    owner_.push(std::move(e));
  }
}

void RedisConnection::deliver_message(const std::string& channel, const std::string& payload) {
  if (state_ == State::closed) return;  // its handler's purpose ended with the connection
  auto it = subs_.find(channel);
  if (it == subs_.end() || !it->second.handler) return;
  // A copy: the handler may replace itself (subscribe() again) while it runs.
  const MessageHandler handler = it->second.handler;
  handler(channel, payload);
}

void RedisConnection::deliver_state(bool is_up) {
  if (!on_state_) return;
  const StateHandler handler = on_state_;
  handler(is_up);
}

}  // namespace tether::detail
