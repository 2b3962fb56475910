// StreamAccess: the one place that turns a streaming exchange into user-facing handles.
#pragma once

#include <string_view>

#include "http/exchange.hpp"
#include "tether/stream.hpp"

namespace tether::detail {

struct StreamAccess {
  static Stream make(Exchange* x) { return Stream(x); }
  static EventStream make_events(Stream s) { return EventStream(std::move(s)); }
  /// The exchange of a stream that can still be written, called on its loop thread, or
  /// nullptr (counted: a dead handle as dropped, another thread as a misuse).
  static Exchange* open(const Stream& s, const char* operation);
};

/// Answers `x` (Open, on its loop thread) with a stream, or with server-sent events: what
/// Response::stream() and event_stream() do, and a worker producer's first bytes. A dead
/// handle when it cannot (the server answered 500 instead).
Stream start_stream_of(Exchange* x, int status, std::string_view content_type);
EventStream start_events_of(Exchange* x);

}  // namespace tether::detail
