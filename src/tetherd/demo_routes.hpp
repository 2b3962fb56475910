// The demo routes tetherd serves (and benchmarks hit).
#pragma once

#include <cstdint>

#include "tether/server.hpp"

namespace tetherd {

/// Settings of the demo routes that ServerOptions does not hold (tetherd flags too).
struct DemoSettings {
  /// Largest body POST /upload takes (`--max-upload-bytes`).
  uint64_t max_upload_bytes = uint64_t{8} << 30;
};

/// GET /plaintext, GET /json, GET /healthz, / under any method (echo), the offload and
/// mailbox routes, the streaming routes (stream_routes.hpp), POST /upload (upload_route.hpp)
/// and GET /metrics.
void add_demo_routes(tether::Server& server, const DemoSettings& settings = {});

}  // namespace tetherd
