// StreamAccess: the one place that turns a streaming exchange into user-facing handles.
#pragma once

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

}  // namespace tether::detail
