// ServerStats: counters of a running server.
#pragma once

#include <cstdint>
#include <string>

#include "tether/export.hpp"

namespace tether {

/// A snapshot of a server's counters, summed over its loops.
struct ServerStats {
  uint64_t connections_accepted = 0;
  /// Connections open now.
  uint64_t connections_active = 0;
  /// Refused because `max_connections` was reached (answered 503).
  uint64_t connections_rejected = 0;
  /// Complete requests received (including those answered with an error).
  uint64_t requests = 0;
  /// Responses sent, by status class: [1] 1xx ... [5] 5xx.
  uint64_t responses_by_class[6] = {};
  /// Requests rejected as malformed or over a limit (4xx/5xx from the parser).
  uint64_t bad_requests = 0;
  uint64_t header_timeouts = 0;
  uint64_t body_timeouts = 0;
  uint64_t idle_timeouts = 0;
  uint64_t write_timeouts = 0;
  /// Calls on dead `Response` handles (client gone, already answered, or server gone).
  uint64_t responses_dropped = 0;
  /// Calls on a `Response` off its loop thread, refused (see Response: send, copy, move,
  /// destroy, alive ... from another thread while its loop runs).
  uint64_t responses_misused = 0;
  /// Exchanges whose last `Response` handle was destroyed unanswered (answered 500).
  uint64_t responses_abandoned = 0;
  /// Handlers that threw (answered 500 when still unanswered).
  uint64_t handler_exceptions = 0;
  /// Exchanges still open (received, not yet answered).
  uint64_t exchanges_in_flight = 0;
  /// Exchanges answered 504 because the response deadline passed.
  uint64_t responses_timed_out = 0;
  /// Offloaded jobs whose client left (or whose deadline passed) before they finished.
  uint64_t jobs_abandoned = 0;
  /// Streamed responses (Response::stream, event streams) open now, the body bytes written
  /// to them, and those that ended without end(): the client left, a write stalled past the
  /// write timeout, the server stopped, or the last handle was dropped.
  uint64_t streams_open = 0;
  uint64_t stream_bytes = 0;
  uint64_t streams_cut = 0;
  /// Streams produced on the worker pool (Response::offload_stream) whose producer was told
  /// to stop (client gone, deadline, stream cut, server stopped).
  uint64_t stream_producers_stopped = 0;
  /// Topics: event streams following a topic now, events published, events written to a
  /// subscriber, subscribers closed because their unsent bytes passed
  /// `topic_subscriber_max_bytes`, and publishes refused (server not running, or an event
  /// that cannot be framed).
  uint64_t topic_subscribers = 0;
  uint64_t topic_events_published = 0;
  uint64_t topic_deliveries = 0;
  uint64_t topic_subscribers_dropped = 0;
  uint64_t topic_publishes_refused = 0;

  /// Worker pool: threads, busy threads, queued jobs and the queue's capacity.
  uint64_t workers = 0;
  uint64_t workers_busy = 0;
  uint64_t jobs_queued = 0;
  uint64_t queue_capacity = 0;
  /// Offloaded work items run (each item of a fan-out counts), those that saw stop
  /// requested, and those (offloaded or background) whose work threw. `jobs_shed`: offloads
  /// answered 503 and background jobs refused, because the queue was full or the pool stopped.
  uint64_t jobs_completed = 0;
  uint64_t jobs_cancelled = 0;
  uint64_t jobs_failed = 0;
  uint64_t jobs_shed = 0;
  uint64_t background_completed = 0;
  /// Background jobs still queued when the drain timeout of a stop ended (dropped, logged).
  uint64_t background_dropped = 0;

  /// Mailbox: ids with a stored value, parked waiters, values handed over, values expired
  /// untaken, posts and waits refused, waiters timed out, and values lost because the loop
  /// of their shard had stopped when they came back to it (only while stopping).
  uint64_t mailbox_ids_stored = 0;
  uint64_t mailbox_waiters = 0;
  uint64_t mailbox_delivered = 0;
  uint64_t mailbox_expired = 0;
  uint64_t mailbox_refused = 0;
  uint64_t mailbox_timed_out = 0;
  uint64_t mailbox_lost = 0;
  /// The mailbox's backend answers: 1 for the local mailbox; with mailbox_redis, 1 while
  /// every loop's Redis connections are up.
  uint64_t mailbox_backend_up = 1;
  /// Mailbox calls answered Unavailable because Redis failed or was down, and values that
  /// returned to their ids after their transit timed out (mailbox_redis).
  uint64_t mailbox_backend_errors = 0;
  uint64_t mailbox_recovered = 0;

  /// How late the loops handled their deadlines (connection timeouts, response deadlines,
  /// mailbox waits), one sample per deadline: the number handled at most
  /// kDeadlineLateBoundsUs[i] microseconds after they were due, the last element for later
  /// ones; and the sum. A loop kept busy by its handlers is late.
  static constexpr unsigned kDeadlineLateBuckets = 8;
  static constexpr uint32_t kDeadlineLateBoundsUs[kDeadlineLateBuckets - 1] = {
      500, 1000, 2000, 5000, 10000, 50000, 250000};
  uint64_t deadline_late[kDeadlineLateBuckets] = {};
  uint64_t deadline_late_sum_us = 0;
};

/// The counters in the Prometheus text exposition format (for a /metrics route).
TETHER_EXPORT std::string prometheus_text(const ServerStats& stats);

}  // namespace tether
