// tetherd's upload demo route: a streamed request body of any size, checksummed as it arrives.
#pragma once

#include <cstdint>

#include "tether/server.hpp"

namespace tetherd {

/// POST /upload: reads the body as it arrives (chunked or with a Content-Length, up to
/// `max_bytes`; 413 past it, before reading when the length is declared) and answers
/// `{"bytes":N,"crc32":"xxxxxxxx"}`, the IEEE CRC-32 of the body as zlib computes it.
void add_upload_route(tether::Server& server, uint64_t max_bytes);

}  // namespace tetherd
