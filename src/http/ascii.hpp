// ASCII helpers for HTTP tokens: case-insensitive compare, whitespace trim, token chars.
#pragma once

#include <string_view>

namespace tether::detail {

inline unsigned char ascii_lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(static_cast<unsigned char>(a[i])) !=
        ascii_lower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

/// Strips optional whitespace (SP / HTAB) from both ends.
inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// RFC 9110 tchar.
inline bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

/// A field value we may write: no control character but HTAB (no CR, LF or NUL that could
/// end the field, the head or the response early).
inline bool is_field_value(std::string_view v) {
  for (unsigned char c : v) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

/// A header field name: one or more token characters.
inline bool is_token(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

}  // namespace tether::detail
