#include "core/log.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <exception>

namespace tether {

std::string_view to_string(LogLevel level) {
  return level == LogLevel::Error ? "error" : "warning";
}

namespace detail {

void Log::write(LogLevel level, const char* format, ...) const {
  // On the stack: a message is written where something already went wrong (out of memory
  // included), and this may run on a loop's request path.
  char text[1024];
  va_list args;
  va_start(args, format);
  int n = std::vsnprintf(text, sizeof text, format, args);
  va_end(args);
  size_t len = n < 0 ? 0 : std::min(static_cast<size_t>(n), sizeof text - 1);
  if (sink_) {
    try {
      (*sink_)(level, std::string_view(text, len));
      return;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "tether: the logger threw (%s); its message was: %.*s\n", e.what(),
                   static_cast<int>(len), text);
      return;
    } catch (...) {
      std::fprintf(stderr, "tether: the logger threw; its message was: %.*s\n",
                   static_cast<int>(len), text);
      return;
    }
  }
  std::fprintf(stderr, "tether: %.*s\n", static_cast<int>(len), text);
}

}  // namespace detail
}  // namespace tether
