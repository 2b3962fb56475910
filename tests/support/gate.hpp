// Gate: a one-shot event a test waits on, with a bound (tests wait for events, never sleep);
// wait_for_stop, the same for a job's stop token; eventually, a bounded poll for a condition.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>

namespace tt {

class Gate {
 public:
  void open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  /// Blocks until open() or `limit` passes; false on timeout.
  bool wait(std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, limit, [this] { return open_; });
  }
  bool is_open() {
    std::lock_guard<std::mutex> lock(mu_);
    return open_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

/// Polls `pred` every 2 ms until it holds or `timeout_ms` passes; returns whether it held. For
/// conditions with no event to wait on (a counter another thread updates).
inline bool eventually(const std::function<bool()>& pred, int timeout_ms = 5000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

/// Blocks until `st` is asked to stop (true) or `limit` passes (false).
inline bool wait_for_stop(std::stop_token st,
                          std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock<std::mutex> lock(m);
  cv.wait_for(lock, st, limit, [] { return false; });
  return st.stop_requested();
}

}  // namespace tt
