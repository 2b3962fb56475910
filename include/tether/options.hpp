// ServerOptions: every listen address, limit and timeout of a tether server.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tether/log.hpp"
#include "tether/response_record.hpp"

namespace tether {

/// Configuration of a `Server`. Every field is also a `tetherd` flag of the same name with
/// dashes (`max_body_bytes` -> `--max-body-bytes`). Limits protect the server from clients:
/// whatever a client sends, memory per connection stays bounded by these numbers.
struct ServerOptions {
  /// Numeric IPv4/IPv6 address or host name to listen on.
  std::string host = "127.0.0.1";
  /// TCP port; 0 picks an ephemeral port (read it back with `Server::port()`).
  uint16_t port = 8080;
  /// Event loops (threads) accepting and serving connections; >1 uses SO_REUSEPORT.
  unsigned loops = 1;
  /// Worker pool threads for offloaded work; 0 means one per hardware thread.
  unsigned workers = 0;
  /// Worker pool queue: jobs waiting for a worker; past it offload answers 503 (shedding).
  size_t queue = 1024;
  /// listen(2) backlog.
  unsigned backlog = 4096;

  /// Open connections per loop; past it a new connection gets 503 and is closed.
  size_t max_connections = 20000;
  /// Request line plus headers, in bytes (431 past it).
  size_t max_head_bytes = 16 * 1024;
  /// Request target, in bytes (414 past it).
  size_t max_target_bytes = 8 * 1024;
  /// Header fields per request (431 past it).
  size_t max_headers = 100;
  /// Request body after de-chunking, in bytes (413 past it).
  size_t max_body_bytes = 1024 * 1024;
  /// Requests of one connection received but not yet answered; past it the connection stops
  /// reading (pipelining backpressure) until responses go out.
  size_t max_pipelined = 128;
  /// Unsent response bytes of one connection past which it stops reading (write backpressure).
  size_t write_high_water = 256 * 1024;

  /// From a request's first byte until its head is complete (408 and close past it).
  uint32_t header_timeout_ms = 10000;
  /// Longest pause between two reads of a request body (408 and close past it).
  uint32_t body_timeout_ms = 10000;
  /// Keep-alive connection with nothing in flight is closed after this.
  uint32_t idle_timeout_ms = 60000;
  /// Pending response bytes that make no progress for this long close the connection.
  uint32_t write_timeout_ms = 30000;
  /// After the last response of a closing connection, how long unread input is drained before
  /// the socket closes (so the client sees the response, not a reset).
  uint32_t linger_timeout_ms = 2000;
  /// A request not answered this long after it arrived gets 504 (its handle goes dead and its
  /// jobs are asked to stop). 0 disables the deadline. While a mailbox wait of the request
  /// is parked, the wait's own deadline applies instead; when it ends with the response
  /// still owed, this deadline applies again from then.
  uint32_t response_timeout_ms = 30000;
  /// Graceful shutdown: how long in-flight requests may take before connections are cut.
  uint32_t drain_timeout_ms = 10000;
  /// An idle event stream (EventStream) gets a comment line after this long, so that proxies
  /// and clients keep the connection. 0: never.
  uint32_t sse_heartbeat_ms = 15000;

  /// Credit window of a stream produced on the worker pool (Response::offload_stream): bytes
  /// a producer may have on their way to the connection before its writes block. 0: twice
  /// `write_high_water`.
  size_t stream_window_bytes = 0;
  /// A topic subscriber (Topic::subscribe) whose unsent bytes pass this after an event is
  /// closed and counted, so that a slow reader never grows memory.
  size_t topic_subscriber_max_bytes = 256 * 1024;

  /// Mailbox: ids held at once (stored values plus ids with waiters), bytes per value, parked
  /// waiters per id, how long an untaken value is kept, and the longest wait a GET may ask for
  /// (a parked wait answers by its own deadline, so response_timeout_ms does not cut it).
  size_t mailbox_max_ids = 100000;
  size_t mailbox_max_value_bytes = 64 * 1024;
  size_t mailbox_max_waiters_per_id = 64;
  uint32_t mailbox_ttl_ms = 60000;
  uint32_t mailbox_max_wait_ms = 60000;
  /// The mailbox's values in Redis instead of this process's memory, shared by every server
  /// given the same Redis: a waiter on one instance gets a value posted on another, with the
  /// same guarantees (one value to exactly one live waiter, oldest first; no overwrite; in
  /// transit until the waiter's continuation took it). "redis://[[user]:password@]host[:port]
  /// [/db]" or "unix://[[user]:password@]/path[?db=N]"; the password may also come from the
  /// environment (TETHER_REDIS_PASSWORD), and is never logged. Empty (the default): the local
  /// mailbox. start() fails for a malformed URL, or when the library was built without Redis
  /// (TETHER_REDIS). While Redis is down or slow, calls answer Unavailable within
  /// mailbox_redis_timeout_ms, and parked waits end with Unavailable when a connection is
  /// lost; everything comes back by itself with Redis.
  std::string mailbox_redis = {};
  uint32_t mailbox_redis_timeout_ms = 1000;
  /// A value handed to a waiter whose instance neither takes nor refuses it (it died, or
  /// stalled) returns to its id after this long, for the next waiter.
  uint32_t mailbox_redis_transit_ms = 5000;

  /// Value of the `Server` response header.
  std::string server_name = "tether";

  /// Access log: called on the loop thread once per request taken, answered (by the
  /// application or by the server itself: 404, 405, 408, 413, 500, 503, 504, ...) or not
  /// (499: the client left first). See ResponseRecord. Unset (the default), it costs one
  /// test per response; set, the library allocates nothing for it per request.
  ResponseHook on_response = nullptr;
  /// The library's own messages (a handler threw, a handle was used off its thread, ...).
  /// Unset (the default), they go to stderr as "tether: <message>". See Logger for the
  /// threads it is called on.
  Logger logger = nullptr;
};

}  // namespace tether
