// A mailbox user callback with no exchange of its own (a post's or a drop's `done`), run at
// the loop's boundary: a throw is counted and logged here; the closure is destroyed right
// after, so a Response it held and did not answer is answered 500 by the server
// (abandoned), as for a throwing handler.
#pragma once

#include <exception>

#include "core/loop.hpp"

namespace tether::detail {

template <class F>
void run_mailbox_callback(Loop& loop, const char* where, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    loop.counters().task_exceptions.add();
    loop.log().write(LogLevel::Warning, "%s threw: %s", where, e.what());
  } catch (...) {
    loop.counters().task_exceptions.add();
    loop.log().write(LogLevel::Warning, "%s threw a non-standard exception", where);
  }
}

}  // namespace tether::detail
