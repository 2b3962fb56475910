#include "load/mailbox_value.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace tether::load::detail {

MailboxValues::MailboxValues(uint64_t nonce, unsigned waiters, size_t value_bytes)
    : waiters_(waiters) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(nonce));
  nonce_hex_ = hex;
  for (unsigned largest = waiters > 0 ? waiters - 1 : 0; largest >= 10; largest /= 10) ++width_;
  head_len_ = 1 + nonce_hex_.size() + 1 + width_ + 1;
  value_len_ = std::max(value_bytes, head_len_);
}

void MailboxValues::append_id(uint32_t i, std::string& out) const {
  out += "tl-";
  out += nonce_hex_;
  out += '-';
  char digits[16];
  const int n = std::snprintf(digits, sizeof digits, "%u", i);
  out.append(digits, static_cast<size_t>(n));
}

void MailboxValues::append_value(uint32_t i, std::string& out) const {
  const size_t start = out.size();
  out += 'v';
  out += nonce_hex_;
  out += '-';
  char digits[16];
  const int n = std::snprintf(digits, sizeof digits, "%0*u", static_cast<int>(width_), i);
  out.append(digits, static_cast<size_t>(n));
  out += '.';
  for (size_t k = out.size() - start; k < value_len_; ++k) out += filler(i, k);
}

int64_t MailboxValues::parse_head(const char* head) const {
  const size_t n = nonce_hex_.size();
  if (head[0] != 'v' || std::memcmp(head + 1, nonce_hex_.data(), n) != 0 || head[1 + n] != '-' ||
      head[head_len_ - 1] != '.') {
    return kGarbage;
  }
  uint64_t id = 0;
  for (size_t k = 2 + n; k < head_len_ - 1; ++k) {
    if (head[k] < '0' || head[k] > '9') return kGarbage;
    id = id * 10 + static_cast<uint64_t>(head[k] - '0');
  }
  return id < waiters_ ? static_cast<int64_t>(id) : kGarbage;
}

void ValueCheck::feed(const MailboxValues& v, const char* at, size_t len) {
  const size_t head = v.head_len();
  for (size_t k = 0; k < len && !bad_; ++k, ++pos_) {
    if (pos_ < head) {
      head_[pos_] = at[k];
      if (pos_ + 1 == head) {
        id_ = v.parse_head(head_);
        bad_ = id_ == MailboxValues::kGarbage;
      }
    } else if (pos_ >= v.value_len() ||
               at[k] != MailboxValues::filler(static_cast<uint32_t>(id_), pos_)) {
      bad_ = true;
    }
  }
}

}  // namespace tether::load::detail
