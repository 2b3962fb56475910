// HttpStats: one loop's HTTP counters, written by its thread, read by any thread.
#pragma once

#include <cstdint>

#include "core/counter.hpp"
#include "tether/stats.hpp"

namespace tether::detail {

struct HttpStats {
  Counter connections_accepted;
  Counter connections_active;
  Counter connections_rejected;
  Counter requests;
  Counter responses_by_class[6];
  Counter bad_requests;
  Counter header_timeouts;
  Counter body_timeouts;
  Counter idle_timeouts;
  Counter write_timeouts;
  Counter responses_dropped;
  Counter responses_abandoned;
  Counter handler_exceptions;
  Counter exchanges_in_flight;
  Counter responses_timed_out;
  Counter jobs_abandoned;
  Counter streams_open;
  Counter stream_bytes;
  Counter streams_cut;

  void add_to(ServerStats& s) const {
    s.connections_accepted += connections_accepted.get();
    s.connections_active += connections_active.get();
    s.connections_rejected += connections_rejected.get();
    s.requests += requests.get();
    for (int i = 0; i < 6; ++i) s.responses_by_class[i] += responses_by_class[i].get();
    s.bad_requests += bad_requests.get();
    s.header_timeouts += header_timeouts.get();
    s.body_timeouts += body_timeouts.get();
    s.idle_timeouts += idle_timeouts.get();
    s.write_timeouts += write_timeouts.get();
    s.responses_dropped += responses_dropped.get();
    s.responses_abandoned += responses_abandoned.get();
    s.handler_exceptions += handler_exceptions.get();
    s.exchanges_in_flight += exchanges_in_flight.get();
    s.responses_timed_out += responses_timed_out.get();
    s.jobs_abandoned += jobs_abandoned.get();
    s.streams_open += streams_open.get();
    s.stream_bytes += stream_bytes.get();
    s.streams_cut += streams_cut.get();
  }
};

}  // namespace tether::detail
