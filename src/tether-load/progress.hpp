// The live progress line tether-load prints on a terminal, once a second:
//   [  3s] 123,456 req  41,152 req/s  p99 1.23ms  errors 0
#pragma once

#include <string>

#include "tether/load/engine.hpp"

namespace tether_load {

/// The line for `p`, without the carriage return that redraws it.
std::string format_progress(const tether::load::RunOptions::Progress& p);

/// 1234567 as "1,234,567".
std::string group_thousands(uint64_t n);

}  // namespace tether_load
