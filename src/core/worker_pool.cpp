#include "core/worker_pool.hpp"

#include <vector>

#include <algorithm>
#include <cstdio>
#include <exception>

#include "core/loop.hpp"

namespace tether::detail {
namespace {
thread_local const WorkerPool* t_pool = nullptr;
}  // namespace

WorkerPool::WorkerPool(unsigned threads, size_t queue_capacity, Log log)
    : capacity_(queue_capacity), log_(std::move(log)) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  thread_count_.store(threads, std::memory_order_relaxed);
  threads_.reserve(threads);
  try {
    for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { worker(); });
  } catch (...) {
    shutdown();  // the threads made so far are joined before the failure goes up
    throw;
  }
}

WorkerPool::~WorkerPool() {
  shutdown();
}

bool WorkerPool::submit(std::vector<std::unique_ptr<WorkItem>>& items) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.size() + items.size() > capacity_) {
      stats_.shed.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    for (auto& it : items) queue_.push_back(Task{std::move(it), {}, {}});
  }
  items.clear();
  cv_.notify_all();
  return true;
}

bool WorkerPool::submit_background(std::function<void(std::stop_token)> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.size() >= capacity_) {
      stats_.shed.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    queue_.push_back(Task{nullptr, std::move(fn), {}});
  }
  cv_.notify_one();
  return true;
}

size_t WorkerPool::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

bool WorkerPool::on_worker_thread() const {
  return t_pool == this;
}

void WorkerPool::worker() {
  t_pool = this;
  while (true) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      task = std::move(queue_.front());
      queue_.pop_front();
      running_.push_back(&task);
      busy_.fetch_add(1, std::memory_order_relaxed);
    }
    if (task.item) {
      WorkItem& w = *task.item;
      if (!w.stop.stop_requested()) w.run(w.stop.get_token());
      if (w.stop.stop_requested()) stats_.cancelled.fetch_add(1, std::memory_order_relaxed);
      if (w.error) stats_.failed.fetch_add(1, std::memory_order_relaxed);
      stats_.completed.fetch_add(1, std::memory_order_relaxed);
    } else {
      try {
        task.fn(task.stop.get_token());
      } catch (const std::exception& e) {
        stats_.failed.fetch_add(1, std::memory_order_relaxed);
        log_.write(LogLevel::Warning, "background job threw: %s", e.what());
      } catch (...) {
        stats_.failed.fetch_add(1, std::memory_order_relaxed);
        log_.write(LogLevel::Warning, "background job threw");
      }
      stats_.background_completed.fetch_add(1, std::memory_order_relaxed);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_.erase(std::find(running_.begin(), running_.end(), &task));
      busy_.fetch_sub(1, std::memory_order_relaxed);
    }
    idle_cv_.notify_all();
    // The completion goes home through the owning loop's inbox; the loop decides what it
    // means (its exchange may be dead by now). A loop winding down refuses it, and the item
    // (data only) is destroyed here.
    if (task.item) {
      Loop* home = task.item->home;
      home->post_completion(std::move(task.item));
    }
  }
}

void WorkerPool::finish(std::chrono::steady_clock::time_point deadline) {
  std::deque<Task> dropped_work, dropped_background;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_) return;
    // Offloaded work: its loops are gone, so nobody waits for its result.
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->item) {
        dropped_work.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    std::vector<std::stop_source> stops;
    for (Task* t : running_) {
      if (t->item) stops.push_back(t->item->stop);
    }
    // Triggered with the lock released: a token's callbacks are user code, and one that calls
    // the server (stats(), background()) takes this lock.
    lock.unlock();
    for (std::stop_source& st : stops) st.request_stop();
    lock.lock();
    auto background_left = [this] {
      if (!queue_.empty()) return true;
      for (Task* t : running_) {
        if (!t->item) return true;
      }
      return false;
    };
    idle_cv_.wait_until(lock, deadline, [&] { return !background_left(); });
    // From here on background() is refused (false, counted as shed): every job it accepted
    // either ran or is counted below.
    stopping_ = true;
    dropped_background.swap(queue_);
  }
  stats_.cancelled.fetch_add(dropped_work.size(), std::memory_order_relaxed);
  if (!dropped_background.empty()) {
    stats_.background_dropped.fetch_add(dropped_background.size(), std::memory_order_relaxed);
    log_.write(LogLevel::Error,
               "%zu background jobs were still queued when the drain timeout ended and were "
               "dropped (counted in tether_background_jobs_dropped_total)",
               dropped_background.size());
  }
  shutdown();
}

void WorkerPool::shutdown() {
  std::deque<Task> dropped;
  std::vector<std::stop_source> stops;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && joined_) return;
    stopping_ = true;
    dropped.swap(queue_);
    for (Task* t : running_) stops.push_back(t->item ? t->item->stop : t->stop);
  }
  for (std::stop_source& st : stops) st.request_stop();  // user callbacks: not under mu_
  stats_.cancelled.fetch_add(dropped.size(), std::memory_order_relaxed);
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  std::lock_guard<std::mutex> lock(mu_);
  threads_.clear();
  joined_ = true;
  thread_count_.store(0, std::memory_order_relaxed);
}

}  // namespace tether::detail
