// RedisUrl: where a Redis server is and how to log in to it, from a URL of the form
//
//   redis://[[user]:password@]host[:port][/db]     (port 6379 and db 0 when left out)
//   unix://[[user]:password@]/path/to/socket[?db=N]
//
// The host is a name, an IPv4 address or a bracketed IPv6 one; the credentials may be
// percent-encoded. The password may also come from the environment (TETHER_REDIS_PASSWORD),
// which keeps it out of a command line that `ps` shows.
//
// The password never appears in anything this file produces: errors do not quote the URL
// (a mistyped URL may have the password in any of its parts), and describe() masks it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tether/status.hpp"

namespace tether::detail {

struct RedisUrl {
  enum class Kind : uint8_t { tcp, unix_socket };

  Kind kind = Kind::tcp;
  std::string host;  ///< tcp: a name or an IP address (IPv6 without its brackets)
  uint16_t port = 6379;
  std::string path;      ///< unix_socket: an absolute path
  std::string username;  ///< empty: the default user (AUTH with the password alone)
  std::string password;  ///< empty: no AUTH. Never logged.
  uint32_t db = 0;       ///< SELECTed on connect when not 0

  /// The URL without its credentials (`:***@` when there is a password), for logs and
  /// errors: "redis://127.0.0.1:6379/2", "unix:///run/redis.sock?db=1".
  std::string describe() const;
};

/// The largest database number a URL may name (Redis' own bound is its `databases` setting).
inline constexpr uint32_t kRedisMaxDb = 2147483647;

/// Parses `text` into `out`. On failure the status holds one line that says what is wrong
/// without quoting the URL, and `out` is left as it was.
Status parse_redis_url(std::string_view text, RedisUrl& out);

/// The password from the environment: when the URL gave none and `env_value` (the value of
/// TETHER_REDIS_PASSWORD, or null when unset) is not empty, it becomes the password.
void apply_redis_password_env(RedisUrl& url, const char* env_value);

}  // namespace tether::detail
