// ErrorKind: the kinds of failed requests tether-load counts apart.
#pragma once

#include <cstddef>
#include <string_view>

namespace tether::load {

/// Why a request failed. Failed requests never count as successes.
enum class ErrorKind {
  connect,  ///< the connection could not be established
  timeout,  ///< no complete response within the request timeout
  reset,    ///< the server closed or reset the connection with the request in flight
  parse,    ///< the response was not valid HTTP/1.1
  status,   ///< the status was not the expected one (--expect-status)
  body,     ///< the body was not the expected one (--expect-body, --expect-bytes)
};

/// Number of ErrorKind values (for arrays indexed by kind).
inline constexpr size_t kErrorKindCount = 6;

/// The kind's name as it appears in reports and --fail-if: "connect", "timeout", ...
constexpr std::string_view error_kind_name(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::connect:
      return "connect";
    case ErrorKind::timeout:
      return "timeout";
    case ErrorKind::reset:
      return "reset";
    case ErrorKind::parse:
      return "parse";
    case ErrorKind::status:
      return "status";
    case ErrorKind::body:
      return "body";
  }
  return "?";
}

}  // namespace tether::load
