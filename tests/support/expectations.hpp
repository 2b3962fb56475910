// Assertions shared by the end-to-end tests.
#pragma once

#include <string>

#include "support/http_client.hpp"

namespace tt {

inline const std::string kPlaintextRequest = "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";

/// "GET <path> HTTP/1.1" with a Host header and nothing else.
inline std::string get_request(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

/// GET /plaintext on `c` is answered 200 "Hello, World!" and the connection stays open.
void expect_plaintext_ok(Client& c, int timeout_ms = 3000);

}  // namespace tt
