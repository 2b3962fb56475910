// Test servers whose mailbox lives on a real redis-server (ServerOptions::mailbox_redis).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>

#include "support/redis_server.hpp"
#include "support/test_server.hpp"
#include "tether/tether.hpp"

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

/// GET /block?ms=N (at most 5000) on `s`: holds its loop thread, a stalled instance without
/// stopping the process. `blocking` counts the handlers holding one now.
inline void add_block_route(tether::Server& s, std::atomic<int>& blocking) {
  s.get("/block", [&blocking](tether::Request& req, tether::Response res) {
    int ms = 0;
    if (auto q = req.query("ms")) ms = std::atoi(std::string(*q).c_str());
    ms = std::clamp(ms, 0, 5000);
    blocking.fetch_add(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    blocking.fetch_sub(1);
    res.send(200, "unblocked\n");
  });
}

}  // namespace tt
