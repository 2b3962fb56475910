#include <cstdio>
#include <string>

#include "tether/stats.hpp"

namespace tether {
namespace {

void family(std::string& out, const char* name, const char* type, const char* help) {
  out.append("# HELP ")
      .append(name)
      .append(" ")
      .append(help)
      .append("\n# TYPE ")
      .append(name)
      .append(" ")
      .append(type)
      .append("\n");
}

void sample(std::string& out, const char* name, const char* labels, uint64_t v) {
  out.append(name).append(labels).append(" ").append(std::to_string(v)).append("\n");
}

void metric(std::string& out, const char* name, const char* type, const char* help, uint64_t v) {
  family(out, name, type, help);
  sample(out, name, "", v);
}

}  // namespace

std::string prometheus_text(const ServerStats& s) {
  std::string out;
  out.reserve(4096);
  static const char* kClass[] = {"",
                                 "{class=\"1xx\"}",
                                 "{class=\"2xx\"}",
                                 "{class=\"3xx\"}",
                                 "{class=\"4xx\"}",
                                 "{class=\"5xx\"}"};
  family(out, "tether_responses_total", "counter", "Responses sent, by status class.");
  for (int c = 1; c <= 5; ++c)
    sample(out, "tether_responses_total", kClass[c], s.responses_by_class[c]);
  metric(out, "tether_requests_total", "counter", "Complete requests received.", s.requests);
  metric(out, "tether_bad_requests_total", "counter",
         "Requests rejected as malformed or over a limit.", s.bad_requests);
  metric(out, "tether_connections_accepted_total", "counter", "Connections accepted.",
         s.connections_accepted);
  metric(out, "tether_connections_rejected_total", "counter",
         "Connections refused at max_connections.", s.connections_rejected);
  metric(out, "tether_connections", "gauge", "Open connections.", s.connections_active);
  metric(out, "tether_exchanges_in_flight", "gauge", "Requests received and not yet answered.",
         s.exchanges_in_flight);
  metric(out, "tether_responses_dropped_total", "counter",
         "Responses not written because the client had left (or already answered).",
         s.responses_dropped);
  metric(out, "tether_responses_misused_total", "counter",
         "Response calls refused because they were made off the response's loop thread.",
         s.responses_misused);
  metric(out, "tether_responses_abandoned_total", "counter",
         "Exchanges answered 500 because the handler dropped every Response handle.",
         s.responses_abandoned);
  metric(out, "tether_responses_timed_out_total", "counter",
         "Exchanges answered 504 at the response deadline.", s.responses_timed_out);
  metric(out, "tether_handler_exceptions_total", "counter",
         "Handlers, continuations or offloaded work that threw.", s.handler_exceptions);
  metric(out, "tether_timeouts_total", "counter",
         "Connections timed out (header, body, idle, write).",
         s.header_timeouts + s.body_timeouts + s.idle_timeouts + s.write_timeouts);
  metric(out, "tether_streams_open", "gauge", "Streamed responses open now.", s.streams_open);
  metric(out, "tether_stream_bytes_total", "counter", "Body bytes written to streamed responses.",
         s.stream_bytes);
  metric(out, "tether_streams_cut_total", "counter",
         "Streams that ended without end() (client left, write stalled, server stopped).",
         s.streams_cut);
  metric(out, "tether_stream_producers_stopped_total", "counter",
         "Worker stream producers told to stop (client left, deadline, cut, server stopped).",
         s.stream_producers_stopped);
  metric(out, "tether_topic_subscribers", "gauge", "Event streams following a topic now.",
         s.topic_subscribers);
  metric(out, "tether_topic_events_published_total", "counter", "Events published to topics.",
         s.topic_events_published);
  metric(out, "tether_topic_deliveries_total", "counter", "Topic events written to a subscriber.",
         s.topic_deliveries);
  metric(out, "tether_topic_subscribers_dropped_total", "counter",
         "Topic subscribers closed because their unsent bytes passed the limit.",
         s.topic_subscribers_dropped);
  metric(out, "tether_topic_publishes_refused_total", "counter",
         "Publishes refused (server not running, or an event that cannot be framed).",
         s.topic_publishes_refused);
  metric(out, "tether_pool_workers", "gauge", "Worker pool threads.", s.workers);
  metric(out, "tether_pool_workers_busy", "gauge", "Worker pool threads running a job.",
         s.workers_busy);
  metric(out, "tether_pool_queue_depth", "gauge", "Jobs waiting for a worker.", s.jobs_queued);
  metric(out, "tether_pool_queue_capacity", "gauge", "Most jobs that may wait.", s.queue_capacity);
  metric(out, "tether_jobs_completed_total", "counter", "Offloaded jobs run to completion.",
         s.jobs_completed);
  metric(out, "tether_jobs_cancelled_total", "counter",
         "Jobs that saw stop requested (client left, deadline, shutdown).", s.jobs_cancelled);
  metric(out, "tether_jobs_abandoned_total", "counter",
         "Jobs whose result had no live response to go to.", s.jobs_abandoned);
  metric(out, "tether_jobs_failed_total", "counter", "Jobs whose work threw.", s.jobs_failed);
  metric(out, "tether_jobs_shed_total", "counter", "Jobs refused (503) because the queue was full.",
         s.jobs_shed);
  metric(out, "tether_background_jobs_completed_total", "counter", "Background jobs run.",
         s.background_completed);
  metric(out, "tether_background_jobs_dropped_total", "counter",
         "Background jobs still queued when a stop's drain timeout ended.", s.background_dropped);
  metric(out, "tether_mailbox_ids_stored", "gauge", "Mailbox ids holding an untaken value.",
         s.mailbox_ids_stored);
  metric(out, "tether_mailbox_waiters", "gauge", "Mailbox waiters parked.", s.mailbox_waiters);
  metric(out, "tether_mailbox_delivered_total", "counter",
         "Mailbox values handed to a waiter or taken.", s.mailbox_delivered);
  metric(out, "tether_mailbox_expired_total", "counter",
         "Mailbox values dropped untaken at their TTL.", s.mailbox_expired);
  metric(out, "tether_mailbox_refused_total", "counter",
         "Mailbox posts and waits refused (conflict, too large, full).", s.mailbox_refused);
  metric(out, "tether_mailbox_timed_out_total", "counter",
         "Mailbox waiters whose wait ended with nothing.", s.mailbox_timed_out);
  metric(out, "tether_mailbox_lost_total", "counter",
         "Mailbox values lost because their shard's loop had stopped (only while stopping).",
         s.mailbox_lost);
  metric(out, "tether_mailbox_backend_up", "gauge",
         "1 while the mailbox's backend answers (with Redis: every loop's connections up).",
         s.mailbox_backend_up);
  metric(out, "tether_mailbox_backend_errors_total", "counter",
         "Mailbox calls answered Unavailable because Redis failed or was down.",
         s.mailbox_backend_errors);
  metric(out, "tether_mailbox_recovered_total", "counter",
         "Mailbox values returned to their ids after their transit timed out (Redis).",
         s.mailbox_recovered);
  family(out, "tether_deadline_lateness_seconds", "histogram",
         "How late the loops handled deadlines (timeouts, response deadlines, mailbox waits).");
  uint64_t cumulative = 0;
  for (unsigned b = 0; b < ServerStats::kDeadlineLateBuckets; ++b) {
    cumulative += s.deadline_late[b];
    char le[48];
    if (b + 1 < ServerStats::kDeadlineLateBuckets) {
      std::snprintf(le, sizeof le, "{le=\"%g\"}", ServerStats::kDeadlineLateBoundsUs[b] / 1e6);
    } else {
      std::snprintf(le, sizeof le, "{le=\"+Inf\"}");
    }
    sample(out, "tether_deadline_lateness_seconds_bucket", le, cumulative);
  }
  char sum[32];
  std::snprintf(sum, sizeof sum, "%.6f", static_cast<double>(s.deadline_late_sum_us) / 1e6);
  out.append("tether_deadline_lateness_seconds_sum ").append(sum).append("\n");
  sample(out, "tether_deadline_lateness_seconds_count", "", cumulative);
  return out;
}

}  // namespace tether
