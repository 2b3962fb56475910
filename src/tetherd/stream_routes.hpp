// tetherd's streaming demo routes (tests and benchmarks use them).
#pragma once

#include "tether/server.hpp"

namespace tetherd {

/// GET /stream?bytes=N&chunk=K: N bytes (byte i is 'a' + i % 26) written in pieces of K on
/// the loop, paced by the connection's backpressure.
/// GET /events?n=K&interval_ms=M: K server-sent events `data: <i>` (i from 0), M ms apart,
/// then the end; n=0 runs until the client leaves.
void add_stream_routes(tether::Server& server);

}  // namespace tetherd
