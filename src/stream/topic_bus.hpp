// TopicBus: a server's topics as seen from any thread: its loops, and whether it takes
// publishes. A publish frames the event once and posts one message per loop; each loop
// delivers it to its own subscribers (TopicTable). Shared by the server and every Topic
// handle, so a handle outlives its server safely.
//
// Publishers take no lock: each announces itself in `users_` and then checks `open_`
// (both sequentially consistent), so close() either sees it and waits, or it sees the bus
// closed. The loops' memory therefore stays valid under every publisher until close()
// returns, which the server calls before destroying them.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tether::detail {

class Loop;

/// One published event, framed once, shared (read-only) by the loops it goes to.
struct TopicEvent {
  std::string name;
  std::string frame;
};

class TopicBus {
 public:
  /// Takes publishes from now on, to `loops` (the server has started). A loop holding more
  /// than `loop_backlog` bytes of events it has not delivered yet (it is stalled: a slow
  /// handler) is skipped: the publish returns false and is counted.
  void open(std::vector<Loop*> loops, size_t loop_backlog);
  /// Refuses publishes from now on (the server is stopping). Any thread.
  void refuse() { open_.store(false); }
  /// Refuses publishes and waits until none is under way (before the loops go).
  void close();
  /// Any thread. False (counted) when refused, when `event` or `id` cannot be framed, or when
  /// a loop was skipped for its backlog (the others got it).
  bool publish(std::string_view name, std::string_view data, std::string_view event,
               std::string_view id);

  uint64_t published() const { return published_.load(std::memory_order_relaxed); }
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  std::vector<Loop*> loops_;  // written before open_ turns true, then read only
  /// Bytes of events posted to each loop and not delivered yet; shared with the tasks that
  /// carry them, which may outlive the bus.
  std::vector<std::shared_ptr<std::atomic<uint64_t>>> backlog_;
  size_t loop_backlog_ = 0;
  std::atomic<bool> open_{false};
  std::atomic<uint32_t> users_{0};
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> refused_{0};
};

}  // namespace tether::detail
