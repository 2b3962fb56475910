// The demo routes' mailbox requests (POST/GET/DELETE /mailbox/{id}) as raw HTTP/1.1 bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tt {

/// POST /mailbox/{id} with `value` as the body.
inline std::string mailbox_post(const std::string& id, const std::string& value) {
  return "POST /mailbox/" + id +
         " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(value.size()) + "\r\n\r\n" +
         value;
}

/// GET /mailbox/{id}, with ?wait_ms=N when given (a parked wait).
inline std::string mailbox_get(const std::string& id,
                               std::optional<uint32_t> wait_ms = std::nullopt) {
  std::string target = "/mailbox/" + id;
  if (wait_ms) target += "?wait_ms=" + std::to_string(*wait_ms);
  return "GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

/// DELETE /mailbox/{id}.
inline std::string mailbox_delete(const std::string& id) {
  return "DELETE /mailbox/" + id + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

}  // namespace tt
