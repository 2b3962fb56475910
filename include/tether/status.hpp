// Status: the result of a setup call that can fail (binding a port, starting a server).
#pragma once

#include <string>
#include <utility>

namespace tether {

/// Success, or an error with a one-line human-readable message. Used off the hot path.
class [[nodiscard]] Status {
 public:
  /// A success.
  Status() = default;
  /// A failure with `message` (never empty).
  static Status error(std::string message) { return Status(std::move(message)); }

  /// True on success.
  bool ok() const { return message_.empty(); }
  explicit operator bool() const { return ok(); }
  /// The error message; empty on success.
  const std::string& message() const { return message_; }

 private:
  explicit Status(std::string m)
      : message_(m.empty() ? std::string("unknown error") : std::move(m)) {}
  std::string message_;
};

}  // namespace tether
