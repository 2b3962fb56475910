// RedisLoop: the Redis client's state on one reactor loop, attached to it as an extension:
// the loop's Redis connections (redis/redis_connection.hpp), one DeadlineTimer source for
// all their deadlines (command timeouts, connect attempts, reconnects), and the queue of
// callbacks due. hiredis runs on the loop itself: no thread of its own.
//
// The queue: a reply, a failure, a pub/sub message or a state change becomes an event here,
// made inside hiredis' callbacks or inside command(), and user code runs when the queue is
// flushed: at the end of the socket event, timer or lookup that produced it, outside hiredis
// (or, for a failure decided inside command(), on the loop's next turn). What callbacks
// queue while a flush runs waits for the next turn, so a callback that retries a failed
// command at once cannot keep the loop from going round.
//
// Life cycle, on the loop's thread:
//   started        connections made before the loop ran begin to connect
//   begin_drain    nothing stops: commands are still taken (a draining server may need them)
//   drained        no command in flight and no callback due on any connection
//   abort          (drain deadline) every connection is dropped, for good: what was in flight
//                  fails with disconnected, at once
//   close_handles  the same for what is left; every hiredis context and poll handle closes
//   teardown       the callbacks still due run (a command issued from one fails with
//                  not_connected, and that callback runs in the same teardown: up to
//                  kTeardownBudget callbacks in all, so one that retries forever cannot hold
//                  the loop; past it the rest are destroyed uncalled and counted dropped);
//                  then every handler left is destroyed, here, on the loop thread.
// After teardown a command() (there is no loop thread to make one, but the object still
// exists until the loop is destroyed) destroys its callback uncalled and counts it dropped.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "core/loop.hpp"
#include "redis/redis_connection.hpp"

namespace tether::detail {

class RedisLoop final : public Loop::Extension, DeadlineTimer::Source {
 public:
  /// Callbacks run by teardown at most (the ones due and those their own commands add).
  static constexpr size_t kTeardownBudget = 100000;

  /// Makes the Redis state of `loop` and attaches it (before the loop starts).
  static RedisLoop& attach(Loop& loop);
  explicit RedisLoop(Loop& loop);
  ~RedisLoop() override;
  RedisLoop(const RedisLoop&) = delete;
  RedisLoop& operator=(const RedisLoop&) = delete;

  /// A new connection to `url`: before the loop starts (it connects when the loop runs) or
  /// on the loop's thread (it connects at once). It lives as long as the loop.
  RedisConnection& open(const RedisUrl& url, const RedisConnection::Options& options = {});

  Loop& loop() { return loop_; }
  bool torn_down() const { return torn_down_; }

  // Loop::Extension
  void started() override;
  bool drained() const override;
  void abort() override;
  void close_handles() override;
  void teardown() override;

 private:
  friend class RedisConnection;

  /// Something due to user code. Which fields mean something depends on the kind.
  struct Event {
    enum class Kind : uint8_t { reply, message, state };
    Kind kind = Kind::reply;
    RedisConnection* conn = nullptr;
    RedisConnection::Callback cb;  // reply
    RedisResult result;            // reply; a message's payload is result.reply.str
    std::string channel;           // message
    bool up = false;               // state
  };

  // DeadlineTimer::Source
  uint64_t next_deadline() const override;
  void on_deadline(uint64_t now) override;

  /// Queues `e` for the next flush. Inside a socket event, a timer or a hook, that flush
  /// follows; anywhere else, call schedule_flush().
  void push(Event e);
  /// Makes sure what is queued runs: in the flush under way, or on the loop's next turn.
  void schedule_flush();
  /// Runs what is due (at most `limit`), outside hiredis, catching what user code throws;
  /// what the callbacks queue meanwhile runs on the next turn. Not reentrant: a flush
  /// started inside a callback returns 0 at once. Returns how many ran.
  size_t flush(size_t limit = SIZE_MAX);
  void run(Event& e);
  void caught(RedisConnection* conn, const char* what);

  Loop& loop_;
  std::vector<std::unique_ptr<RedisConnection>> conns_;
  std::deque<Event> due_;
  bool flushing_ = false;
  std::atomic<bool> started_{false};
  bool closed_ = false;
  bool torn_down_ = false;
};

}  // namespace tether::detail
