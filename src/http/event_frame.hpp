// Server-sent event framing (the `text/event-stream` format), shared by EventStream on the
// loop and the writers that frame events elsewhere (a worker producer, a topic's publisher).
#pragma once

#include <string>
#include <string_view>

namespace tether::detail {

/// Whether `event` and `id` can be framed: no line break in either, no NUL in the id.
inline bool event_fields_ok(std::string_view event, std::string_view id) {
  return event.find_first_of("\r\n") == std::string_view::npos &&
         id.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

/// Appends one event to `out`: an optional `event:` and `id:` line, one `data:` line per line
/// of `data` (LF, CRLF and CR each end one), then a blank line. Check event_fields_ok first.
inline void append_event(std::string& out, std::string_view data, std::string_view event,
                         std::string_view id) {
  out.reserve(out.size() + data.size() + event.size() + id.size() + 32);
  if (!event.empty()) out.append("event: ").append(event).append("\n");
  if (!id.empty()) out.append("id: ").append(id).append("\n");
  size_t start = 0;
  for (;;) {
    const size_t end = data.find_first_of("\r\n", start);
    out.append("data: ").append(data.substr(start, end - start)).append("\n");
    if (end == std::string_view::npos) break;
    start = end + ((data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n') ? 2 : 1);
  }
  out.append("\n");
}

}  // namespace tether::detail
