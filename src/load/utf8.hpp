// UTF-8 checks for the reports: JSON and SVG (XML) must be valid UTF-8, and a URL or a file
// name given by the user need not be.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tether::load::detail {

/// Length of the well-formed UTF-8 sequence that starts at `s[i]` (1 .. 4), or 0 when the
/// bytes there are not one (a stray continuation byte, an overlong form, a surrogate, a
/// code point above U+10FFFF, a sequence cut short).
size_t utf8_sequence_length(std::string_view s, size_t i) noexcept;

/// `s` with every byte that is not part of a well-formed sequence replaced by U+FFFD.
std::string to_valid_utf8(std::string_view s);

/// Appends code point `cp` (at most U+10FFFF, not a surrogate) as UTF-8.
void append_utf8(std::string& out, char32_t cp);

}  // namespace tether::load::detail
