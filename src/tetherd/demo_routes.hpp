// The demo routes tetherd serves (and benchmarks hit).
#pragma once

#include "tether/server.hpp"

namespace tetherd {

/// GET /plaintext, GET /json, GET /healthz, / under any method (echo), the offload and
/// mailbox routes, the streaming routes (stream_routes.hpp) and GET /metrics.
void add_demo_routes(tether::Server& server);

}  // namespace tetherd
