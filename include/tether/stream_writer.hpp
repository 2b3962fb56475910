// StreamWriter and EventWriter: the worker side of a streamed response whose body is produced
// on the worker pool (Response::offload_stream, Response::offload_events).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tether/detail/work.hpp"
#include "tether/export.hpp"

namespace tether {

class Response;

namespace detail {
class StreamChannel;
struct ProducerAccess;
}  // namespace detail

/// Writes the body of a stream from a worker thread. Given to the producer of
/// Response::offload_stream; it never touches the Stream, which stays on its loop: each write
/// is a copy of the bytes sent to the loop through its inbox.
///
/// Credit: at most a window of bytes (`ServerOptions::stream_window_bytes`, by default twice
/// `write_high_water`) may be on their way to the connection. A write that would pass it
/// blocks the calling thread until the loop returns credit, which it does once the bytes
/// are in the connection's output while that is below its write high-water mark (so a slow
/// reader holds at most the window plus the high-water mark plus one write). One write larger
/// than the window goes through alone when nothing else is in flight.
///
/// Lifetime and threads: a cheap, copyable handle that may be kept and used from any thread,
/// at any time. Writes from several threads are each whole, in the order they take the
/// credit. Once the producer has returned, or the stream is stopped (client gone, response
/// deadline, server stopped, stream cut), every call returns false at once, and a blocked
/// write wakes up and returns false. On an event-loop thread (a handler, a loop callback, a
/// stop callback the loop runs) a write never waits, since only a loop gives credit back: it
/// returns false, sending nothing, when the window is spent (use a Stream there).
class TETHER_EXPORT StreamWriter {
 public:
  /// A dead writer: every call returns false.
  StreamWriter() = default;
  /// Sends `bytes` as the next piece of the body, blocking while the window is spent. True
  /// when sent (an empty write sends nothing and says whether the stream still runs); false
  /// when the stream is stopped or over.
  bool write(std::string_view bytes);
  /// Adds a trailer field, sent after the body when the producer returns (chunked framing
  /// only). False when the name is not a token, the value holds CR, LF or NUL, or the stream
  /// is stopped or over.
  bool trailer(std::string_view name, std::string_view value);
  /// True once the stream will take no more bytes (same as the producer's token, plus the
  /// producer having returned).
  bool stopped() const;
  /// The credit window in bytes.
  size_t window() const;

 private:
  friend struct detail::ProducerAccess;
  explicit StreamWriter(std::shared_ptr<detail::StreamChannel> ch) : ch_(std::move(ch)) {}
  std::shared_ptr<detail::StreamChannel> ch_;
};

/// Writes server-sent events from a worker thread (Response::offload_events): the framing of
/// EventStream::send, then StreamWriter::write with its credit.
class TETHER_EXPORT EventWriter {
 public:
  /// A dead writer: every call returns false.
  EventWriter() = default;
  /// Sends one event (see EventStream::send). False when `event` or `id` cannot be framed,
  /// or when the stream is stopped or over.
  bool send(std::string_view data, std::string_view event = {}, std::string_view id = {});
  /// Sends a comment line. False when `text` holds CR or LF, or the stream is over.
  bool comment(std::string_view text);
  bool stopped() const { return out_.stopped(); }
  /// The underlying writer (raw bytes, already framed by the caller).
  StreamWriter& raw() { return out_; }

 private:
  friend struct detail::ProducerAccess;
  explicit EventWriter(StreamWriter out) : out_(std::move(out)) {}
  StreamWriter out_;
};

namespace detail {

/// The WorkItem of a stream producer (Response::offload_stream): runs the producer with a
/// writer bound to its channel and reports its end to the loop. Users do not name it.
struct TETHER_EXPORT ProducerItem : WorkItem {
  /// Runs on the worker: produce(), then the end message. Never throws.
  void run(std::stop_token token) noexcept override;
  /// The user's producer (throws are caught by run()).
  virtual void produce(std::stop_token token, const std::shared_ptr<StreamChannel>& ch) = 0;

  std::shared_ptr<StreamChannel> channel;
  uint64_t producer = 0;  // the loop's key for it
  bool ran = false;       // false: the pool dropped it unrun (stop came first)
  std::vector<std::pair<std::string, std::string>> trailers;  // set by the writer
};

template <class P>
struct TypedProducerItem final : ProducerItem {
  explicit TypedProducerItem(P p) : producer(std::move(p)) {}
  void produce(std::stop_token token, const std::shared_ptr<StreamChannel>& ch) override;
  P producer;
};

struct ProducerAccess {
  static StreamWriter writer(std::shared_ptr<StreamChannel> ch) {
    return StreamWriter(std::move(ch));
  }
  static EventWriter events(std::shared_ptr<StreamChannel> ch) {
    return EventWriter(StreamWriter(std::move(ch)));
  }
};

template <class P>
void TypedProducerItem<P>::produce(std::stop_token token,
                                   const std::shared_ptr<StreamChannel>& ch) {
  if constexpr (std::is_invocable_v<P&, std::stop_token, StreamWriter&>) {
    StreamWriter w = ProducerAccess::writer(ch);
    producer(std::move(token), w);
  } else {
    static_assert(std::is_invocable_v<P&, std::stop_token, EventWriter&>,
                  "a stream producer is called as producer(std::stop_token, StreamWriter&) "
                  "(offload_stream) or producer(std::stop_token, EventWriter&) (offload_events)");
    EventWriter w = ProducerAccess::events(ch);
    producer(std::move(token), w);
  }
}

/// What the loop needs to start the stream of a producer.
struct ProducerHead {
  int status = 200;
  std::string_view content_type;
  bool events = false;  // an event stream (offload_events)
};

/// Queues `item` on the pool for the exchange behind `res`; the stream starts (status and
/// type of `head`) with the first bytes or when the producer returns. See
/// Response::offload_stream for the outcomes.
TETHER_EXPORT bool start_producer(Response& res, std::unique_ptr<ProducerItem> item,
                                  const ProducerHead& head);

}  // namespace detail
}  // namespace tether
