// RedisConnection: one hiredis async connection to Redis, on one core Loop, touched only on
// that loop's thread. It connects, logs in, survives Redis going away and coming back, and
// gives every command exactly one answer.
//
// A connection is made by its loop's RedisLoop (redis/redis_loop.hpp), which owns it: it
// lives as long as the loop, and a reference to it stays valid until the loop is destroyed.
//
// Connecting: never a blocking call on the loop. A host name is resolved with
// uv_getaddrinfo (libuv's pool, IPv4 addresses), then hiredis connects to the address
// without blocking. IPv6 is refused for now (last_error() says so): hiredis 0.14 would look
// an IPv6 address up as a name, on the loop thread, before connecting. The handshake is
// AUTH (when the URL has a password), SELECT (when db != 0) and PING, pipelined; the
// connection is up() once PING has answered, so "up" means Redis answers, not merely that
// the kernel accepted the TCP connection. The whole attempt has connect_timeout_ms.
// A failed attempt, or a lost connection, is retried with exponential backoff
// (backoff_initial_ms doubling up to backoff_max_ms, with jitter so that many loops and
// instances do not reconnect in step); a connection lost after being up first retries after
// backoff_initial_ms. A refused AUTH or SELECT is an attempt that failed: last_error() says
// why (never with the password), and the attempts go on with backoff.
//
// Commands: command(argv, timeout_ms, callback). The callback runs exactly once, on the loop
// thread, never inside command() itself, with Redis' reply or a failure (redis_reply.hpp for
// what each failure lets the caller assume). Commands are pipelined: any number may be in
// flight on the connection, answered in order. While the connection is not up, a command
// fails at once with not_connected (on the loop's next turn): a caller that waits for a
// value gets its 503 now, not after a timeout.
//
// Timeouts are our own (hiredis 0.14 has none): each command carries a deadline, and the
// connection keeps the earliest pending one (a running minimum over the FIFO of commands in
// flight, O(1) per command) as its next deadline on the loop's DeadlineTimer. When a command
// times out the connection is dropped and reconnected: the command fails with timeout, the
// ones behind it with disconnected (their own deadlines passed are timeouts too). Dropping is
// the only way to keep a late reply from being taken for the next command's (replies carry
// no id), it sheds the pile-up behind a stalled Redis at once instead of one timeout at a
// time, and the reconnect's handshake is the health check that tells when Redis answers
// again.
//
// Subscriber role: a connection made with Role::subscriber carries SUBSCRIBE only (Redis
// accepts little else on a subscribed connection). subscribe(channel, on_message) delivers
// each message on the loop thread; after a reconnect every channel is subscribed again.
// Messages published while the subscriber was down are lost (pub/sub keeps nothing): a
// state handler (on_state) is told when the connection comes back, so its owner can look
// again for what it may have missed.
//
// User code (command callbacks, message and state handlers) runs outside hiredis, after the
// socket event or timer that produced it; a throw is caught there, logged and counted (here
// and in the loop's task_exceptions), never let out.
//
// Shutdown: see RedisLoop. In short, every command gets its callback before the loop's
// teardown ends (those still in flight when the loop closes fail with disconnected), and none
// after it.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/counter.hpp"
#include "redis/hiredis_poll.hpp"
#include "redis/redis_reply.hpp"
#include "redis/redis_url.hpp"

struct redisAsyncContext;

namespace tether::detail {

class Loop;
class RedisLoop;

class RedisConnection final : HiredisPollSink {
 public:
  enum class Role : uint8_t { command, subscriber };

  struct Options {
    Role role = Role::command;
    /// One attempt: resolving, the TCP (or unix socket) connect and the handshake. Also a
    /// subscriber's bound for a SUBSCRIBE to be confirmed.
    uint32_t connect_timeout_ms = 1000;
    /// The first retry's delay, doubled after each failed attempt up to backoff_max_ms.
    uint32_t backoff_initial_ms = 50;
    uint32_t backoff_max_ms = 2000;
  };

  /// Written by the loop thread, read by any.
  struct Counters {
    Counter commands;        ///< sent to Redis (not_connected ones are not)
    Counter replies;         ///< answers, error replies included
    Counter error_replies;   ///< "-ERR ..." and the like
    Counter timeouts;        ///< commands failed with timeout
    Counter disconnected;    ///< commands failed with disconnected
    Counter not_connected;   ///< commands refused while the connection was not up
    Counter connects;        ///< handshakes completed (the connection became up)
    Counter reconnects;      ///< attempts after the first
    Counter connection_losses;  ///< an up connection went down
    Counter messages;        ///< pub/sub messages received
    Counter callback_exceptions;  ///< a callback or handler threw
    Counter dropped;         ///< callbacks destroyed uncalled (a command after teardown)
  };

  using Callback = std::function<void(RedisResult)>;
  using MessageHandler = std::function<void(const std::string& channel, const std::string& payload)>;
  using StateHandler = std::function<void(bool up)>;

  ~RedisConnection() override;
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // ---- loop thread

  /// Sends `argv` (binary-safe; copied before the call returns) with `timeout_ms` (at least
  /// 1). `cb` runs exactly once, later, on the loop thread. Throws std::logic_error off the
  /// loop thread, on a subscriber, with an empty argv, or for (P|S)(UN)SUBSCRIBE and MONITOR
  /// (after which replies no longer pair with commands).
  void command(std::span<const std::string_view> argv, uint32_t timeout_ms, Callback cb);
  void command(std::initializer_list<std::string_view> argv, uint32_t timeout_ms, Callback cb) {
    command(std::span<const std::string_view>(argv.begin(), argv.size()), timeout_ms,
            std::move(cb));
  }
  void command(const std::vector<std::string>& argv, uint32_t timeout_ms, Callback cb);

  /// Subscriber role: delivers every message on `channel` to `on_message` (replacing an
  /// earlier handler of that channel), now and after every reconnect. Before the loop starts
  /// or on its thread.
  void subscribe(const std::string& channel, MessageHandler on_message);
  /// Whether Redis has confirmed the subscription on the current connection.
  bool subscribed(const std::string& channel) const;
  /// Called with true each time the connection becomes up, false each time an up connection
  /// goes down. Before the loop starts or on its thread.
  void on_state(StateHandler handler);

  /// Ends the connection for good: commands in flight fail with disconnected, later ones
  /// with not_connected; no reconnect.
  void close();

  /// Why the last attempt failed or the connection was lost (empty when it never did).
  const std::string& last_error() const { return last_error_; }
  /// Commands sent and not answered yet.
  size_t in_flight() const { return user_in_flight_; }

  // ---- any thread

  bool up() const { return up_.load(std::memory_order_acquire); }
  const Counters& counters() const { return counters_; }
  const RedisUrl& url() const { return url_; }
  Role role() const { return opts_.role; }

 private:
  friend class RedisLoop;
  friend struct RedisCallbacks;

  enum class State : uint8_t { idle, resolving, connecting, ready, backoff, closed };
  enum class Step : uint8_t { user, auth, select, ping };

  struct InFlight {
    uint64_t seq;
    uint64_t deadline;
    Step step;
    Callback cb;
  };
  struct Subscription {
    MessageHandler handler;
    bool confirmed = false;
  };
  struct Resolve;

  RedisConnection(RedisLoop& owner, const RedisUrl& url, const Options& opts);

  // Driven by RedisLoop.
  void start();
  uint64_t next_deadline() const;
  void on_deadline(uint64_t now);
  void abort();
  void shut();  // close_handles: no context, no resolve, no reconnect
  void teardown();
  void deliver_message(const std::string& channel, const std::string& payload);
  void deliver_state(bool up);

  // HiredisPollSink
  void on_poll_error(int status) override;
  void after_poll() override;
  void context_gone(redisAsyncContext* ac) override;

  void connect();
  void resolved(int status, const struct addrinfo* res);
  void open_context(const std::string& address);
  void attempt_failed(const std::string& why);
  void schedule_reconnect(bool was_up);
  /// Frees the context now (outside hiredis): every command in flight fails.
  void drop(const std::string& why);
  /// Inside a hiredis callback: drop once hiredis has returned.
  void request_drop(const std::string& why);
  void send_subscribe(const std::vector<std::string>& channels);
  /// Hands `argv` to hiredis; on success `cb` is moved into the FIFO of commands in flight.
  bool send(std::span<const std::string_view> argv, uint64_t deadline, Step step, Callback& cb);
  void on_reply(void* reply, uint64_t seq);
  void on_sub_reply(void* reply);
  void handshake_reply(Step step, const RedisReply& reply);
  void became_up();
  void note_error(const std::string& why, bool log);
  void fail_later(Callback cb, RedisFailure f);
  void check_thread(const char* what) const;
  uint32_t jitter(uint32_t ms);

  RedisLoop& owner_;
  Loop& loop_;
  RedisUrl url_;
  Options opts_;
  std::string label_;  // url_.describe() and the role, for log lines
  State state_ = State::idle;
  bool attempted_ = false;
  redisAsyncContext* ctx_ = nullptr;
  Resolve* resolve_ = nullptr;  // in flight; freed by its callback
  uint64_t attempt_deadline_ = UINT64_MAX;
  uint64_t reconnect_at_ = UINT64_MAX;
  uint32_t backoff_ms_ = 0;
  uint64_t rng_ = 0;
  // Commands in flight, in the order Redis answers them; the running minimum of their
  // deadlines: (seq, deadline) with deadlines strictly increasing front to back, so the
  // front is the earliest deadline of all.
  std::deque<InFlight> in_flight_;
  std::deque<std::pair<uint64_t, uint64_t>> deadlines_;
  uint64_t next_seq_ = 1;
  size_t user_in_flight_ = 0;
  bool dropping_ = false;        // inside drop(): hiredis is failing what was in flight
  bool drop_requested_ = false;  // a hiredis callback asked for a drop
  std::string drop_reason_;
  bool logged_down_ = false;     // the current outage has been logged
  // Subscriber.
  std::map<std::string, Subscription> subs_;
  size_t pending_confirms_ = 0;
  uint64_t confirm_deadline_ = UINT64_MAX;
  StateHandler on_state_;
  std::string last_error_;
  std::atomic<bool> up_{false};
  Counters counters_;
  std::vector<const char*> argv_ptrs_;  // reused by send()
  std::vector<size_t> argv_lens_;
  std::vector<std::string_view> argv_views_;
};

}  // namespace tether::detail
