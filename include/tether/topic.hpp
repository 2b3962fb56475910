// Topic: server-sent events published once and delivered to every event stream that follows
// a name, on every loop of a server. Made by Server::topic().
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "tether/export.hpp"
#include "tether/stream.hpp"

namespace tether {

namespace detail {
class TopicBus;
}

/// A handle to one topic of a server: a name, and the server's way to reach its loops.
///
/// Lifetime and threads: cheap to copy; publish() works from any thread (handlers of any
/// loop, workers, threads of your own) and at any time. The handle may outlive its server:
/// once the server stops, publish() returns false (counted), and subscribe() has no live
/// stream to take.
///
/// Delivery: a publish frames the event once and sends one message to each loop; each loop
/// keeps its own subscribers and writes the event to each of them, so nothing is done per
/// subscriber on the publishing thread and no lock is taken per subscriber. Events of one
/// publisher reach each subscriber in the order published. A subscriber whose unsent bytes
/// pass `ServerOptions::topic_subscriber_max_bytes` after an event is closed at once (its
/// connection; counted as `topic_subscribers_dropped`): a slow reader never grows memory.
class TETHER_EXPORT Topic {
 public:
  /// A dead handle: publish() and subscribe() return false.
  Topic() = default;

  /// Publishes one event (framed like EventStream::send) to every subscriber of this name on
  /// every loop. Any thread. False, and counted (`topic_publishes_refused`), when the server
  /// is not running (before start, once a stop was requested) or when `event` or `id` cannot
  /// be framed. True means the event went to every loop, not that any stream was following.
  bool publish(std::string_view data, std::string_view event = {}, std::string_view id = {}) const;

  /// Makes `events` follow this topic: each event published from now on is written to it,
  /// until the stream ends (end(), its client leaves, it is cut, or the server stops), when it
  /// is unsubscribed by itself. The topic holds the stream: the handler may drop its handles.
  /// On the stream's loop thread (the handler's). A stream follows one topic: false when it
  /// already does, when `events` is dead or belongs to another server, or off its thread
  /// (counted as a misuse).
  bool subscribe(EventStream& events) const;

  /// The topic's name.
  const std::string& name() const { return name_; }

 private:
  friend class Server;
  Topic(std::shared_ptr<detail::TopicBus> bus, std::string name)
      : bus_(std::move(bus)), name_(std::move(name)) {}
  std::shared_ptr<detail::TopicBus> bus_;
  std::string name_;
};

}  // namespace tether
