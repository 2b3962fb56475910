#include "stream/topic_bus.hpp"

#include <thread>

#include "core/loop.hpp"
#include "http/event_frame.hpp"
#include "stream/stream_loop.hpp"
#include "tether/topic.hpp"

namespace tether {
namespace detail {

void TopicBus::open(std::vector<Loop*> loops) {
  loops_ = std::move(loops);
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
  std::shared_ptr<const TopicEvent> shared = std::move(ev);
  for (Loop* l : loops_) {
    // The task carries the event (a value); it finds the loop's subscribers where it runs.
    // A loop winding down refuses it: its event streams are ending anyway.
    l->post_task([shared] { StreamLoop::deliver_here(*shared); });
  }
  users_.fetch_sub(1);
  published_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace detail

bool Topic::publish(std::string_view data, std::string_view event, std::string_view id) const {
  return bus_ && bus_->publish(name_, data, event, id);
}

}  // namespace tether
