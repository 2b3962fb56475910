// RequestTape: the run's serialized requests laid end to end, several times over, so that
// the requests one write carries are one contiguous buffer.
//
// A connection sends its requests in order (round robin from where it is), so a batch of
// pipelined requests is a run of consecutive requests. Written as one iovec per request,
// the kernel copies each piece apart: with --pipeline 16 that cost more system time per
// request than the whole of wrk's single buffer. On the tape, a request that follows the
// last buffer's end extends it instead (the copies let a batch wrap past the last
// request); anything else (random order, a new batch) starts a new buffer. The bytes sent
// are the same either way.
//
// Built once before the run, read-only while it runs (shared by every loop).
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tether::load::detail {

class RequestTape {
 public:
  /// Lays out `requests` for batches of up to `pipeline` requests.
  void build(const std::vector<std::string>& requests, unsigned pipeline);
  /// Appends request `r` to `out`: extends the last buffer when r's bytes follow it on the
  /// tape, else adds a buffer.
  void append(uint32_t r, std::vector<uv_buf_t>& out) const;

 private:
  std::string tape_;
  std::vector<size_t> offset_;  // of each request in the first copy
  std::vector<size_t> size_;
  size_t period_ = 0;  // bytes of one copy
};

}  // namespace tether::load::detail
