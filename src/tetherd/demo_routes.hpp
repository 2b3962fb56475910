// The demo routes tetherd serves (and benchmarks hit).
#pragma once

#include "tether/server.hpp"

namespace tetherd {

/// GET /plaintext, GET /json, GET /healthz, and / under any method (echo).
void add_demo_routes(tether::Server& server);

}  // namespace tetherd
