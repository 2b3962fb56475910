// The invariants one connection's output must satisfy, checked against the bytes that were fed
// to it and the handler calls recorded while they were processed. A violation aborts.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_routes.hpp"

namespace fuzz {

struct Tally {
  size_t finals = 0;     // final (non-1xx) responses
  size_t errors = 0;     // answers to unparseable input (400, 413, ...): at most one, last
  size_t continues = 0;  // 100 Continue interim responses
  bool closed = false;   // the last response said Connection: close
};

Tally check_connection(std::string_view input, std::string_view output,
                       const std::vector<Call>& calls);

/// `s` with CR, LF and non-printable bytes spelled out, for messages.
std::string escape(std::string_view s);

/// Prints what went wrong (and the output around `at` when given) and aborts, so that
/// libFuzzer saves the input as a crash.
[[noreturn]] void violation(std::string_view what, std::string_view output = {}, size_t at = 0);

}  // namespace fuzz
