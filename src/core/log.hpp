// Log: where the library's own messages go. The user's Logger when one is set, else stderr
// ("tether: <message>\n"). Cheap to copy and shared by every layer of one server, from any
// thread: it holds the logger read-only, so concurrent calls never race inside the library.
#pragma once

#include <memory>

#include "tether/log.hpp"

namespace tether::detail {

class Log {
 public:
  Log() = default;
  explicit Log(Logger logger)
      : sink_(logger ? std::make_shared<const Logger>(std::move(logger)) : nullptr) {}

  /// Formats (printf-style, truncated to one line of at most 1 KiB) and delivers a message.
  /// Never throws; never called with a lock of the library held by the caller's choice.
  void write(LogLevel level, const char* format, ...) const __attribute__((format(printf, 3, 4)));

 private:
  std::shared_ptr<const Logger> sink_;
};

}  // namespace tether::detail
