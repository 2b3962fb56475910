// TimeoutKind: which deadline a connection is waiting on. Each kind has one fixed duration,
// so appending to its list keeps the list sorted by deadline: expiry checks only list heads.
#pragma once

#include <cstdint>

namespace tether::detail {

enum class TimeoutKind : uint8_t { None, Header, Body, Idle, Write, Linger };
inline constexpr int kTimeoutKinds = 6;

}  // namespace tether::detail
