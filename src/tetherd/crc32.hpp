// CRC-32 (IEEE 802.3, reflected, as zlib's crc32() computes it) for the upload demo route.
#pragma once

#include <cstdint>
#include <string_view>

namespace tetherd {

/// Continues `crc` (0 to start) over `bytes`. Eight bytes per step (slicing-by-8): the route
/// checksums uploads at memory speed rather than a byte at a time.
uint32_t crc32_update(uint32_t crc, std::string_view bytes);

}  // namespace tetherd
