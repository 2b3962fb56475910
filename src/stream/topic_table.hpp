// TopicTable: one loop's topic subscribers, by topic name. A subscriber is an event stream
// on this loop, linked through its exchange (no allocation per subscriber) and held (one
// reference) until its stream is over, however it ends; then it leaves at once.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/counter.hpp"
#include "core/intrusive_list.hpp"
#include "http/exchange.hpp"
#include "stream/topic_bus.hpp"

namespace tether::detail {

class HttpLoop;

struct TopicCounters {
  Counter subscribers;
  Counter deliveries;
  Counter dropped;
};

class TopicTable {
 public:
  TopicTable(HttpLoop& loop, TopicCounters& counters) : loop_(loop), counters_(counters) {}
  TopicTable(const TopicTable&) = delete;
  TopicTable& operator=(const TopicTable&) = delete;

  /// Event stream `x` (writable, on this loop) follows `name`. False when it already follows
  /// a topic.
  bool subscribe(Exchange* x, std::string_view name);
  /// Writes `ev` to every subscriber of its name; closes those whose unsent bytes pass the
  /// limit.
  void deliver(const TopicEvent& ev);
  /// `x`'s stream is over (deep inside a write or a close): off its list now, its reference
  /// dropped when the loop settles.
  void stream_over(Exchange* x);

 private:
  struct Subscribers {
    std::string name;
    IntrusiveList<Exchange, &Exchange::subscriber_hook> list;
  };

  HttpLoop& loop_;
  TopicCounters& counters_;
  std::unordered_map<std::string, Subscribers> by_name_;
  std::vector<Exchange*> delivering_;  // reused: the subscribers of one delivery
};

}  // namespace tether::detail
