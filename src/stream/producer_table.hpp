// ProducerTable: one loop's streams produced on the worker pool (Response::offload_stream).
// The Response, the Stream and the pacing stay here, on the loop thread, keyed by producer
// id; only the producer (data) goes to a worker, and only its chunks (values) come back,
// through the loop's inbox, in the order written, followed by the producer's own end.
//
// Credit: a chunk's bytes are credited back to the worker once they are in the connection's
// output and it is below its write high-water mark; above it, they are held until
// on_writable says the output has drained to half the mark.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "core/counter.hpp"
#include "stream/stream_channel.hpp"
#include "tether/response.hpp"
#include "tether/stream.hpp"
#include "tether/stream_writer.hpp"

namespace tether::detail {

class HttpLoop;
class WorkerPool;
struct Exchange;

class ProducerTable {
 public:
  ProducerTable(HttpLoop& loop, WorkerPool* pool, Counter& stopped)
      : loop_(loop), pool_(pool), stopped_(stopped) {}
  ProducerTable(const ProducerTable&) = delete;
  ProducerTable& operator=(const ProducerTable&) = delete;

  /// Queues `item` for exchange `x` (Open, checked). False when the pool refused it (the
  /// exchange has then been answered 503).
  bool start(Exchange* x, std::unique_ptr<ProducerItem> item, const ProducerHead& head);
  /// A chunk, or the producer's end, came back (from the inbox).
  void message(std::unique_ptr<WorkItem> item);
  /// The stream of producer `id` is over (called deep inside a write or a close: the stop
  /// waits for the next turn of the loop, where user code may run).
  void stream_over(uint64_t id);
  /// Every producer is told to stop (the drain deadline passed).
  void stop_all();
  /// The loop is winding down: stops every producer and destroys the records (handles) here.
  void clear();
  size_t size() const { return producers_.size(); }

 private:
  struct Producer {
    Response res;   // until the stream starts; then dead, it still holds the exchange
    Stream stream;  // from the first chunk (or the end) on
    std::shared_ptr<StreamChannel> ch;
    int status = 200;
    std::string content_type;
    bool events = false;
    bool started = false;
    bool stopped = false;  // told to stop (counted once)
    bool waiting = false;  // on_writable asked for: `held` waits for it
    size_t held = 0;       // bytes written to the stream, not yet credited
  };

  void chunk(ProducerChunk& c);
  void end(ProducerItem& item);
  bool begin(uint64_t id, Producer& p);
  void stop(Producer& p);
  void writable(uint64_t id);

  HttpLoop& loop_;
  WorkerPool* pool_;
  Counter& stopped_;
  std::unordered_map<uint64_t, Producer> producers_;
  uint64_t next_id_ = 0;
};

}  // namespace tether::detail
