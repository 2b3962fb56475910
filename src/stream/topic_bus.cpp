#include "stream/topic_bus.hpp"

#include <thread>

#include "core/loop.hpp"
#include "http/event_frame.hpp"
#include "stream/stream_loop.hpp"
#include "tether/topic.hpp"

namespace tether {
namespace detail {

void TopicBus::open(std::vector<Loop*> loops, size_t loop_backlog) {
  loops_ = std::move(loops);
  backlog_.clear();
  for (size_t i = 0; i < loops_.size(); ++i)
    backlog_.push_back(std::make_shared<std::atomic<uint64_t>>(0));
  loop_backlog_ = loop_backlog;
  open_.store(true);
}

void TopicBus::close() {
  open_.store(false);
  while (users_.load() != 0) std::this_thread::yield();  // a publish takes microseconds
}

bool TopicBus::publish(std::string_view name, std::string_view data, std::string_view event,
                       std::string_view id) {
  if (!event_fields_ok(event, id)) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  users_.fetch_add(1);
  if (!open_.load()) {
    users_.fetch_sub(1);
    refused_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  auto ev = std::make_shared<TopicEvent>();
  ev->name.assign(name);
  append_event(ev->frame, data, event, id);
  const uint64_t size = ev->frame.size() + ev->name.size();
  std::shared_ptr<const TopicEvent> shared = std::move(ev);
  bool all = true;
  for (size_t i = 0; i < loops_.size(); ++i) {
    // A stalled loop would hold every event published meanwhile: past its backlog it misses
    // them instead (its subscribers, like any SSE client, catch up by Last-Event-ID).
    std::shared_ptr<std::atomic<uint64_t>> backlog = backlog_[i];
    const uint64_t held = backlog->fetch_add(size, std::memory_order_relaxed);
    if (held != 0 && held + size > loop_backlog_) {  // one event alone always goes
      backlog->fetch_sub(size, std::memory_order_relaxed);
      all = false;
      continue;
    }
    // The task carries the event (a value); it finds the loop's subscribers where it runs.
    // A loop winding down refuses it: its event streams are ending anyway.
    struct Delivery {
      std::shared_ptr<const TopicEvent> ev;
      std::shared_ptr<std::atomic<uint64_t>> backlog;
      uint64_t size;
      // Run or destroyed unrun, the event leaves the loop's backlog.
      ~Delivery() {
        if (backlog) backlog->fetch_sub(size, std::memory_order_relaxed);
      }
    };
    auto d = std::make_shared<Delivery>();  // made in place: its destructor counts
    d->ev = shared;
    d->backlog = std::move(backlog);
    d->size = size;
    loops_[i]->post_task([d] { StreamLoop::deliver_here(*d->ev); });
  }
  users_.fetch_sub(1);
  if (!all) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  published_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace detail

bool Topic::publish(std::string_view data, std::string_view event, std::string_view id) const {
  return bus_ && bus_->publish(name_, data, event, id);
}

}  // namespace tether
