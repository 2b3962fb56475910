// WorkerPool: K threads and a bounded queue for slow work. It sees data only: a task is a
// WorkItem (completion posted to its home loop's inbox) or a background function.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

#include "core/log.hpp"
#include "tether/detail/work.hpp"

namespace tether::detail {

struct PoolStats {
  std::atomic<uint64_t> completed{0};
  std::atomic<uint64_t> cancelled{0};  // finished (or dropped) after stop was requested
  std::atomic<uint64_t> failed{0};     // work threw
  std::atomic<uint64_t> shed{0};       // refused because the queue was full
  std::atomic<uint64_t> background_completed{0};
  std::atomic<uint64_t> background_dropped{0};  // still queued when the server's drain ended
};

class WorkerPool {
 public:
  /// `threads` 0 means one per hardware thread. `queue_capacity` bounds queued tasks. Throws
  /// std::system_error when a thread cannot be made (the others are joined first).
  WorkerPool(unsigned threads, size_t queue_capacity, Log log = {});
  /// Stops and joins.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Queues all items or none (a fan-out is never half-accepted). False when the queue has
  /// no room for all of them or the pool is stopping.
  bool submit(std::vector<std::unique_ptr<WorkItem>>& items);
  /// Queues a fire-and-forget function; false when full or stopping.
  bool submit_background(std::function<void(std::stop_token)> fn);
  /// The graceful end, once the loops are gone: queued offloaded work is dropped (no loop is
  /// left to take its result) and running work is asked to stop; background jobs keep
  /// running until `deadline`, then those still queued are dropped, counted and logged; then
  /// shutdown(). Idempotent.
  void finish(std::chrono::steady_clock::time_point deadline);
  /// Drops queued tasks, requests stop on running ones, joins the threads. Idempotent.
  void shutdown();
  /// True on one of this pool's worker threads.
  bool on_worker_thread() const;

  size_t queued() const;
  unsigned busy() const { return busy_.load(std::memory_order_relaxed); }
  /// Worker threads running (0 after shutdown).
  unsigned threads() const { return thread_count_.load(std::memory_order_relaxed); }
  size_t capacity() const { return capacity_; }
  const PoolStats& stats() const { return stats_; }

 private:
  struct Task {
    std::unique_ptr<WorkItem> item;           // offloaded work, or
    std::function<void(std::stop_token)> fn;  // background work
    std::stop_source stop;                    // for background work
  };
  void worker();

  size_t capacity_;
  Log log_;
  std::atomic<unsigned> thread_count_{0};  // readable while shutdown() joins threads_
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_;
  std::vector<Task*> running_;       // under mu_, so shutdown can request stop on them
  std::condition_variable idle_cv_;  // a task finished (finish() waits on it)
  bool stopping_ = false;
  bool joined_ = false;  // under mu_: shutdown() joined the threads
  std::atomic<unsigned> busy_{0};
  PoolStats stats_;
  std::vector<std::thread> threads_;
};

}  // namespace tether::detail
