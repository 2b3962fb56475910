#include "load/request_tape.hpp"

#include <algorithm>

namespace tether::load::detail {
namespace {

/// Beyond this the tape holds one copy: batches then break at the last request.
constexpr size_t kMaxTapeBytes = size_t{64} << 20;

}  // namespace

void RequestTape::build(const std::vector<std::string>& requests, unsigned pipeline) {
  offset_.clear();
  size_.clear();
  period_ = 0;
  for (const std::string& r : requests) {
    offset_.push_back(period_);
    size_.push_back(r.size());
    period_ += r.size();
  }
  // Enough copies that a batch of `pipeline` requests starting anywhere stays on the tape.
  const size_t n = std::max<size_t>(requests.size(), 1);
  size_t copies = std::max<size_t>(2, (pipeline + n - 1) / n + 1);
  if (period_ * copies > kMaxTapeBytes) copies = 1;
  tape_.clear();
  tape_.reserve(period_ * copies);
  for (size_t c = 0; c < copies; ++c) {
    for (const std::string& r : requests) tape_ += r;
  }
}

void RequestTape::append(uint32_t r, std::vector<uv_buf_t>& out) const {
  const size_t len = size_[r];
  if (!out.empty() && period_ > 0) {
    uv_buf_t& last = out.back();
    const auto base = reinterpret_cast<uintptr_t>(tape_.data());
    const auto end = reinterpret_cast<uintptr_t>(last.base) + last.len;
    if (end >= base && end - base <= tape_.size()) {
      const size_t at = end - base;
      if (at >= offset_[r] && (at - offset_[r]) % period_ == 0 && at + len <= tape_.size()) {
        last.len += len;
        return;
      }
    }
  }
  out.push_back(
      uv_buf_init(const_cast<char*>(tape_.data() + offset_[r]), static_cast<unsigned>(len)));
}

}  // namespace tether::load::detail
