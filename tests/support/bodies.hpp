// Request and response bodies for end-to-end tests: random bytes, chunked framing, the demo
// routes' byte pattern and the upload route's answer.
#pragma once

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>

#include "tetherd/crc32.hpp"

namespace tt {

/// `n` pseudo-random bytes (all 256 values), the same for the same seed.
inline std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& ch : s) ch = static_cast<char>(rng() & 0xff);
  return s;
}

/// `body` in chunked framing, pieces of `piece` bytes, then the last chunk.
inline std::string chunked(const std::string& body, size_t piece) {
  std::string out;
  char hex[32];
  for (size_t i = 0; i < body.size(); i += piece) {
    size_t n = std::min(piece, body.size() - i);
    std::snprintf(hex, sizeof hex, "%zx", n);
    out += std::string(hex) + "\r\n" + body.substr(i, n) + "\r\n";
  }
  return out + "0\r\n\r\n";
}

/// The bytes of tetherd's /stream and /stream/worker: byte i is 'a' + i % 26.
inline std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

/// tetherd's POST /upload answer for `body`.
inline std::string upload_answer(const std::string& body) {
  char out[64];
  std::snprintf(out, sizeof out, "{\"bytes\":%zu,\"crc32\":\"%08x\"}\n", body.size(),
                tetherd::crc32_update(0, body));
  return out;
}

}  // namespace tt
