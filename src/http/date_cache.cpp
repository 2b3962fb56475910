#include "http/date_cache.hpp"

#include <cstdio>

namespace tether::detail {

void DateCache::refresh(std::time_t now) {
  if (now == second_) return;
  second_ = now;
  std::tm tm{};
  gmtime_r(&now, &tm);
  // strftime's %a/%b follow the locale; HTTP dates need the fixed English names.
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int n = std::snprintf(buf_, sizeof buf_, "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n",
                        kDays[tm.tm_wday], tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900,
                        tm.tm_hour, tm.tm_min, tm.tm_sec);
  len_ = n > 0 ? static_cast<size_t>(n) : 0;
}

}  // namespace tether::detail
