// Plan: what the fuzz target's four control bytes ask for (options, connections, when kept
// responses are answered, whether time passes, how the stream is split into reads).
//
//   byte 0  0x01 two connections fed in turn (the stream is split between them)
//           0x02 tiny head/target/header limits    0x04 tiny body limit
//           0x08 max_pipelined 1                   0x10 tiny write_high_water
//           0x60 when GET /later responses are answered: 0 before each read, 1 the same in
//                reverse order, 2 only at the end, 3 never (the connection closes first)
//           0x80 time passes at the end: the response deadlines of unanswered /later
//                requests (504), then each connection's own timer (408 or idle close)
//   byte 1  0: each stream in one read; else reads of at most 1 << (b1 % 8) bytes, all that
//           size when b1 & 0x80, else random sizes
//   bytes 2-3  seed of those sizes and of the two-connection split point
#pragma once

#include <cstddef>
#include <cstdint>

#include "tether/options.hpp"

namespace fuzz {

enum class AnswerMode { BeforeEachRead, ReversedBeforeEachRead, AtEnd, Never };

struct Plan {
  static constexpr size_t kControlBytes = 4;

  tether::ServerOptions options;
  size_t connections = 1;
  AnswerMode answers = AnswerMode::BeforeEachRead;
  bool time_passes = false;
  uint8_t chunking = 0;
  uint32_t rng = 1;

  explicit Plan(const uint8_t* c) : chunking(c[1]), rng(((uint32_t{c[2]} << 8) | c[3]) + 1) {
    const uint8_t bits = c[0];
    if (bits & 0x01) connections = 2;
    if (bits & 0x02) {
      options.max_head_bytes = 96;
      options.max_target_bytes = 24;
      options.max_headers = 4;
    }
    if (bits & 0x04) options.max_body_bytes = 16;
    if (bits & 0x08) options.max_pipelined = 1;
    if (bits & 0x10) options.write_high_water = 64;
    answers = static_cast<AnswerMode>((bits >> 5) & 3);
    time_passes = bits & 0x80;
  }

  uint32_t next() {  // xorshift32: cheap, and the same sizes for the same control bytes
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
  }

  /// Size of the next read, `left` bytes being still to come.
  size_t chunk(size_t left) {
    if (chunking == 0) return left;
    const size_t max = size_t{1} << (chunking % 8);
    const size_t n = (chunking & 0x80) ? max : 1 + next() % max;
    return n < left ? n : left;
  }
};

}  // namespace fuzz
