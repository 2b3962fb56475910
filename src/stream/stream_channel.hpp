// StreamChannel: what a worker stream producer and its loop share. The worker sends each
// write to the loop as a value (a ProducerChunk through the loop's inbox) and blocks while
// its credit window is spent; the loop returns credit and says stop. A mutex and a condition
// variable guard the credit: the one who waits on them is the worker, never the loop.
//
// Lifetime: shared by the producer's writers (any thread), its work item and the loop's
// record of the producer. The loop it posts to (`home`) outlives every write: a write posts
// only while the producer runs (a writer kept past it is refused first), and a server
// destroys its loops only once its worker pool is joined.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tether/detail/work.hpp"

namespace tether::detail {

class Loop;

/// One write of a producer on its way to the loop. Data only. Its `index` is 1, the end of
/// the producer (the ProducerItem itself, back from the pool) has 0; both carry job id 0.
struct ProducerChunk final : WorkItem {
  void run(std::stop_token) noexcept override {}
  uint64_t producer = 0;
  std::string bytes;
};
inline constexpr uint32_t kProducerEnd = 0;
inline constexpr uint32_t kProducerChunk = 1;

using Trailers = std::vector<std::pair<std::string, std::string>>;

class StreamChannel {
 public:
  StreamChannel(Loop* home, uint64_t producer, size_t window, std::stop_source stop)
      : home_(home), producer_(producer), window_(window), stop_(std::move(stop)) {}
  StreamChannel(const StreamChannel&) = delete;
  StreamChannel& operator=(const StreamChannel&) = delete;

  // ---- any thread (the producer's writers)
  /// Waits for credit, then posts a copy of `bytes` to the loop. False when stopped or over.
  bool write(std::string_view bytes);
  bool add_trailer(std::string_view name, std::string_view value);
  bool stopped() const;
  size_t window() const { return window_; }

  // ---- the producer's worker
  /// The producer returned: refuse every later write and hand over the trailers.
  Trailers finish();
  /// The producer's token was triggered (whoever triggered it): wake and refuse writes.
  void halt();

  // ---- the loop
  /// `n` bytes have left the producer's account: a blocked write may go on.
  void credit(size_t n);
  /// Triggers the producer's token and halts. Runs the stop callbacks registered on the
  /// token, on the calling thread: call it where user code may run.
  void stop();

 private:
  Loop* home_;
  uint64_t producer_;
  size_t window_;
  std::stop_source stop_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  size_t in_flight_ = 0;   // under mu_
  bool halted_ = false;    // under mu_
  bool finished_ = false;  // under mu_
  Trailers trailers_;      // under mu_
};

}  // namespace tether::detail
