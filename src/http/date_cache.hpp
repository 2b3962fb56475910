// DateCache: the formatted `Date:` header line, reformatted at most once a second.
#pragma once

#include <ctime>
#include <string_view>

namespace tether::detail {

class DateCache {
 public:
  DateCache() { refresh(std::time(nullptr)); }
  /// Reformats when `now` is a new second; cheap otherwise.
  void refresh(std::time_t now);
  /// "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
  std::string_view line() const { return {buf_, len_}; }

 private:
  std::time_t second_ = -1;
  char buf_[64] = {};
  size_t len_ = 0;
};

}  // namespace tether::detail
