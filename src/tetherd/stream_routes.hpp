// tetherd's streaming demo routes (tests and benchmarks use them).
#pragma once

#include "tether/server.hpp"

namespace tetherd {

/// GET /stream?bytes=N&chunk=K: N bytes (byte i is 'a' + i % 26) written in pieces of K on
/// the loop, paced by the connection's backpressure.
/// GET /stream/worker?bytes=N&chunk=K: the same bytes, produced on the worker pool
/// (Response::offload_stream), paced by the stream's credit.
/// GET /topic/{name}: follow the topic as server-sent events. POST /topic/{name}: publish the
/// request body as one event to every follower on every loop (202).
/// GET /events?n=K&interval_ms=M: K server-sent events `data: <i>` (i from 0), M ms apart,
/// then the end; n=0 runs until the client leaves.
void add_stream_routes(tether::Server& server);

}  // namespace tetherd
