// The ids and values of one mailbox run, and the check of a value as it streams by.
//
// Waiter i's id is `tl-{nonce}-{i}` and its value is exactly value_len() bytes:
//   v{nonce}-{i, zero-padded to the width of the largest id}.{filler}
// where the filler byte at offset k is 'a' + (7 i + k) % 26. The nonce (16 hex digits) is
// drawn per run, so a value left on the server by an earlier run names another nonce and is
// never taken for this run's. Every value has the same length, and the head says whose it
// is: a body can be checked byte by byte without keeping it (ValueCheck).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tether::load::detail {

class MailboxValues {
 public:
  /// Not a waiter: the body was nobody's value (garbage, truncated, another run's).
  static constexpr int64_t kGarbage = -1;

  MailboxValues() = default;
  MailboxValues(uint64_t nonce, unsigned waiters, size_t value_bytes);

  const std::string& nonce_hex() const { return nonce_hex_; }
  unsigned waiters() const { return waiters_; }
  /// Bytes of every value: value_bytes, or the head's length when that is longer.
  size_t value_len() const { return value_len_; }
  size_t head_len() const { return head_len_; }

  /// Appends waiter i's id ("tl-{nonce}-{i}").
  void append_id(uint32_t i, std::string& out) const;
  /// Appends waiter i's value (value_len() bytes).
  void append_value(uint32_t i, std::string& out) const;
  /// The byte of waiter i's value at offset k (k >= head_len()).
  static char filler(uint32_t i, size_t k) {
    return static_cast<char>('a' + (7 * static_cast<uint64_t>(i) + k) % 26);
  }
  /// Whose value `head` (head_len() bytes) begins, or kGarbage.
  int64_t parse_head(const char* head) const;

 private:
  std::string nonce_hex_;
  unsigned waiters_ = 0;
  unsigned width_ = 1;  // digits of the largest id
  size_t head_len_ = 0;
  size_t value_len_ = 0;
};

/// Whose value a body is, fed as it arrives; nothing allocated.
class ValueCheck {
 public:
  /// The largest head a run can have (waiters <= 10^9).
  static constexpr size_t kMaxHead = 32;

  void reset() {
    pos_ = 0;
    id_ = MailboxValues::kGarbage;
    bad_ = false;
  }
  void feed(const MailboxValues& v, const char* at, size_t len);
  /// After the whole body: the waiter whose value it was, or kGarbage.
  int64_t finish(const MailboxValues& v) const {
    return bad_ || pos_ != v.value_len() ? MailboxValues::kGarbage : id_;
  }

 private:
  size_t pos_ = 0;
  int64_t id_ = MailboxValues::kGarbage;
  bool bad_ = false;
  char head_[kMaxHead] = {};
};

}  // namespace tether::load::detail
