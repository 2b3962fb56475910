// TestServer: a tether::Server on 127.0.0.1, ephemeral port, started in the test process.
#pragma once

#include <functional>
#include <memory>

#include "tether/tether.hpp"

namespace tt {

/// The demo routes plus a few test routes: GET /hello/{name}, GET /big?n=BYTES,
/// GET /throw, GET /drop (returns without answering), GET /bad-status.
void add_test_routes(tether::Server& server);

/// Options for a test server on 127.0.0.1, ephemeral port, with `loops` and `workers`.
inline tether::ServerOptions loopback_options(unsigned loops = 1, unsigned workers = 2) {
  tether::ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.loops = loops;
  o.workers = workers;
  return o;
}

class TestServer {
 public:
  /// Starts with `options` (host and port forced to 127.0.0.1:0) and the routes that
  /// `routes` adds (default: add_test_routes). Fails the test if it cannot start.
  explicit TestServer(tether::ServerOptions options = {},
                      std::function<void(tether::Server&)> routes = add_test_routes);
  /// Stops gracefully and joins.
  ~TestServer();

  uint16_t port() const { return server_->port(); }
  tether::Server& server() { return *server_; }
  tether::ServerStats stats() const { return server_->stats(); }
  /// Polls stats() until `pred` holds or timeout_ms passes; returns whether it held. For
  /// counters that the loop thread updates after the client already saw its bytes.
  bool wait_for(const std::function<bool(const tether::ServerStats&)>& pred, int timeout_ms = 5000);

 private:
  std::unique_ptr<tether::Server> server_;
};

}  // namespace tt
