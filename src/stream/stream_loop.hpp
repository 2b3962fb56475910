// StreamLoop: the stream layer's state on one reactor loop, attached as an extension beside
// the HTTP server's: the streams produced on the worker pool and the topic subscribers.
// Touched only on the loop's thread, except the counters (read by any thread).
#pragma once

#include <memory>

#include "core/counter.hpp"
#include "core/loop.hpp"
#include "stream/producer_table.hpp"
#include "stream/topic_bus.hpp"
#include "stream/topic_table.hpp"

namespace tether::detail {

class HttpLoop;
class WorkerPool;

struct StreamCounters {
  Counter producers_stopped;
  TopicCounters topics;
};

class StreamLoop final : public Loop::Extension, public Loop::CompletionSink {
 public:
  /// Makes the stream state of `loop` (whose HTTP state is `http`) and attaches it; the
  /// producers' messages come to it from `http`. `pool` and `bus` outlive the loop.
  static StreamLoop& attach(Loop& loop, HttpLoop& http, WorkerPool* pool, const TopicBus* bus);
  StreamLoop(HttpLoop& http, WorkerPool* pool, const TopicBus* bus);

  ProducerTable& producers() { return producers_; }
  TopicTable& topics() { return topics_; }
  const TopicBus* bus() const { return bus_; }
  const StreamCounters& counters() const { return counters_; }

  /// StreamState::on_end of the streams this layer follows (deep inside a write or close).
  static void stream_over(Exchange* x);
  /// Delivers a published event to the subscribers of the loop running the caller.
  static void deliver_here(const TopicEvent& ev);

  // Loop::CompletionSink: a worker producer's chunk or end.
  void complete(std::unique_ptr<WorkItem> item) override { producers_.message(std::move(item)); }
  // Loop::Extension
  void abort() override { producers_.stop_all(); }
  void teardown() override { producers_.clear(); }

 private:
  const TopicBus* bus_;
  StreamCounters counters_;
  ProducerTable producers_;
  TopicTable topics_;
};

}  // namespace tether::detail
