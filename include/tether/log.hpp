// The library's own messages (a handler threw, a background job was dropped, ...): their
// level and the function that receives them.
#pragma once

#include <functional>
#include <string_view>

#include "tether/export.hpp"

namespace tether {

/// How much a library message matters. Warnings: user code misbehaved and the library coped
/// (a handler threw, a handle was used off its thread). Errors: something was lost or could
/// not be done (a value dropped at a stop, a thread that could not start).
enum class LogLevel { Warning, Error };

/// "warning" or "error".
TETHER_EXPORT std::string_view to_string(LogLevel level);

/// Receives one library message: one line, without a trailing newline and without the
/// "tether: " prefix. It may be called from any loop thread, a worker thread or the thread
/// that calls into the Server, several at once, so it must be safe to call concurrently
/// (the library only reads it: it is set before start and never changed). It must not
/// block for long: it may run on an event loop. A throw from it is caught; the message then
/// goes to stderr.
using Logger = std::function<void(LogLevel level, std::string_view message)>;

}  // namespace tether
