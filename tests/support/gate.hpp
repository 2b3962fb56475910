// Gate: a one-shot event a test waits on, with a bound (tests wait for events, never sleep);
// and wait_for_stop, the same for a job's stop token.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>

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
