// Inbox: the one way into a loop from another thread. A mutex-guarded queue plus one
// uv_async_t: wake-ups coalesce, so each drain takes everything queued (libuv's threadpool
// and uWebSockets' Loop::defer do the same). What crosses is data: work items coming back
// from the pool, and tasks that carry ids and values, never a closure that owns a handle.
//
// Lifetime: open from init() until close(), which the owner calls on its own thread when the
// loop winds down; after it every post is refused (returns false) and the sender keeps what
// it meant to send. What was queued before close() stays queued for the owner to take.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "tether/detail/work.hpp"

namespace tether::detail {

class Inbox {
 public:
  using Task = std::function<void()>;

  /// What one drain takes.
  struct Batch {
    std::vector<std::unique_ptr<WorkItem>> completions;
    std::vector<Task> tasks;
    bool empty() const { return completions.empty() && tasks.empty(); }
  };

  Inbox() = default;
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  /// Sets up the async handle on `loop` (owner thread); `on_wake(ctx)` runs there after posts.
  int init(uv_loop_t* loop, void (*on_wake)(void*), void* ctx);

  /// Any thread. False when closed: the caller still owns what it meant to post.
  bool post(std::unique_ptr<WorkItem>& item);
  bool post(Task& task);
  /// Any thread: runs on_wake soon, with nothing queued (a stop request, a forwarded
  /// release). False when closed.
  bool wake();

  /// Owner thread: moves everything queued into `out` (which should be empty).
  void take(Batch& out);
  /// Owner thread: refuse every later post and close the async handle (its memory must stay
  /// valid until the loop has run its close callback). Idempotent.
  void close();
  bool closed() const;

 private:
  static void on_async(uv_async_t* a);

  uv_async_t async_{};
  void (*on_wake_)(void*) = nullptr;
  void* ctx_ = nullptr;
  bool initialized_ = false;
  mutable std::mutex mu_;
  bool closed_ = false;  // under mu_
  Batch queued_;         // under mu_
};

}  // namespace tether::detail
