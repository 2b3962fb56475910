// Test servers whose mailbox lives on a real redis-server (ServerOptions::mailbox_redis).
#pragma once

#include <cstdint>

#include "support/redis_server.hpp"
#include "support/test_server.hpp"

namespace tt {

/// Loopback options on `redis`, with short command and transit timeouts so that failures and
/// recoveries show within a test's bounds.
inline tether::ServerOptions mailbox_redis_options(const RedisServer& redis, unsigned loops,
                                                   uint32_t timeout_ms, uint32_t transit_ms) {
  tether::ServerOptions o = loopback_options(loops, 1);
  o.mailbox_redis = redis.url();
  o.mailbox_redis_timeout_ms = timeout_ms;
  o.mailbox_redis_transit_ms = transit_ms;
  return o;
}

/// Every loop of `s` has its Redis connections up (polled, bounded).
inline bool mailbox_backend_up(TestServer& s, int timeout_ms = 10000) {
  return s.wait_for([](const tether::ServerStats& st) { return st.mailbox_backend_up == 1; },
                    timeout_ms);
}

/// At least `n` waiters of `s` are parked in Redis (polled, bounded).
inline bool mailbox_waiters_parked(TestServer& s, uint64_t n, int timeout_ms = 20000) {
  return s.wait_for([n](const tether::ServerStats& st) { return st.mailbox_waiters >= n; },
                    timeout_ms);
}

}  // namespace tt
