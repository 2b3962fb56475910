#include "tetherd/stream_routes.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tether/server.hpp"
#include "tether/stream.hpp"
#include "tether/stream_writer.hpp"
#include "tether/topic.hpp"
#include "tetherd/query_number.hpp"

namespace tetherd {
namespace {

constexpr uint64_t kMaxStreamBytes = uint64_t{1} << 40;
constexpr uint64_t kMaxChunk = 1 << 20;

// Writes the bytes of /stream while the connection takes them; waits for on_writable when
// it does not. Owned by the callbacks that resume it.
struct BytesProducer : std::enable_shared_from_this<BytesProducer> {
  tether::Stream stream;
  uint64_t remaining = 0;
  uint64_t offset = 0;
  size_t chunk = 0;
  std::string pattern;  // 'a'..'z' repeated, chunk + 26 long: any chunk is a view into it

  void pump() {
    while (remaining > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, remaining));
      const tether::StreamWrite w = stream.write(std::string_view(pattern).substr(offset % 26, n));
      if (w == tether::StreamWrite::Closed) return;  // the client left
      remaining -= n;
      offset += n;
      if (w == tether::StreamWrite::Full && remaining > 0) {
        stream.on_writable([self = shared_from_this()] { self->pump(); });
        return;
      }
    }
    stream.end();
  }
};

// Sends the events of /events, one per `interval`, `n` of them (0: until the client leaves).
struct EventProducer : std::enable_shared_from_this<EventProducer> {
  tether::EventStream events;
  uint64_t n = 0;
  uint64_t sent = 0;
  std::chrono::milliseconds interval{0};

  void next() {
    while (n == 0 || sent < n) {
      const tether::StreamWrite w = events.send(std::to_string(sent));
      if (w == tether::StreamWrite::Closed) return;
      ++sent;
      if (interval.count() > 0) {
        if (n == 0 || sent < n)
          events.after(interval, [self = shared_from_this()] { self->next(); });
        else
          events.end();
        return;
      }
      if (w == tether::StreamWrite::Full) {
        events.on_writable([self = shared_from_this()] { self->next(); });
        return;
      }
    }
    events.end();
  }
};

}  // namespace

// The bytes of /stream/worker, written on a worker: each write blocks while the stream's
// credit window is spent, and fails once the client has gone.
void produce_pattern(uint64_t remaining, size_t chunk, tether::StreamWriter& out) {
  std::string pattern(chunk + 26, '\0');
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<char>('a' + i % 26);
  uint64_t offset = 0;
  while (remaining > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, remaining));
    if (!out.write(std::string_view(pattern).substr(offset % 26, n))) return;
    remaining -= n;
    offset += n;
  }
}

void add_stream_routes(tether::Server& server) {
  server.get("/stream", [](tether::Request& req, tether::Response res) {
    auto bytes = query_number<uint64_t>(req, "bytes", 1 << 20, kMaxStreamBytes);
    auto chunk = query_number<uint64_t>(req, "chunk", 16 * 1024, kMaxChunk);
    if (!bytes || !chunk || *chunk == 0) {
      res.send(400, "bytes must be 0..2^40 and chunk 1..1048576\n");
      return;
    }
    auto p = std::make_shared<BytesProducer>();
    p->remaining = *bytes;
    p->chunk = static_cast<size_t>(*chunk);
    p->pattern.resize(p->chunk + 26);
    for (size_t i = 0; i < p->pattern.size(); ++i) p->pattern[i] = static_cast<char>('a' + i % 26);
    p->stream = res.stream(200, "application/octet-stream");
    p->pump();
  });
  server.get("/events", [](tether::Request& req, tether::Response res) {
    auto n = query_number<uint64_t>(req, "n", 10, UINT64_MAX);
    auto interval = query_number<uint64_t>(req, "interval_ms", 0, 3'600'000);
    if (!n || !interval) {
      res.send(400, "n and interval_ms must be numbers (interval_ms at most 3600000)\n");
      return;
    }
    auto p = std::make_shared<EventProducer>();
    p->n = *n;
    p->interval = std::chrono::milliseconds(*interval);
    p->events = res.event_stream();
    p->next();
  });
  server.get("/stream/worker", [](tether::Request& req, tether::Response res) {
    auto bytes = query_number<uint64_t>(req, "bytes", 1 << 20, kMaxStreamBytes);
    auto chunk = query_number<uint64_t>(req, "chunk", 16 * 1024, kMaxChunk);
    if (!bytes || !chunk || *chunk == 0) {
      res.send(400, "bytes must be 0..2^40 and chunk 1..1048576\n");
      return;
    }
    res.offload_stream(
        [n = *bytes, k = static_cast<size_t>(*chunk)](std::stop_token, tether::StreamWriter& out) {
          produce_pattern(n, k, out);
        });
  });
  // The server outlives its routes (tetherd's lives as long as the process).
  server.get("/topic/{name}", [&server](tether::Request& req, tether::Response res) {
    tether::EventStream events = res.event_stream();
    server.topic(req.param("name")).subscribe(events);  // the topic holds the stream
  });
  server.post("/topic/{name}", [&server](tether::Request& req, tether::Response res) {
    if (server.topic(req.param("name")).publish(req.body()))
      res.send(202, "published\n");
    else
      res.send(503, "server stopping\n");
  });
}

}  // namespace tetherd
