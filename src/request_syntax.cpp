#include "request_syntax.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace tether::detail {
namespace {

constexpr bool is_alpha(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}
bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
constexpr bool is_unreserved(unsigned char c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
constexpr bool is_sub_delim(unsigned char c) {
  switch (c) {
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
      return true;
    default:
      return false;
  }
}

bool all_digits(std::string_view s) {
  for (unsigned char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

// Every request's Host goes through here, so the byte classes are one table lookup.
struct RegNameChars {
  bool ok[256] = {};
  constexpr RegNameChars() {
    for (int c = 0; c < 256; ++c) {
      ok[c] = is_unreserved(static_cast<unsigned char>(c)) ||
              is_sub_delim(static_cast<unsigned char>(c));
    }
  }
};
constexpr RegNameChars kRegName;

// The length of the reg-name = *( unreserved / pct-encoded / sub-delims ) that starts `s`
// (an IPv4address is a reg-name too).
size_t reg_name_length(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (kRegName.ok[c]) {
      ++i;
    } else if (c == '%' && i + 2 < s.size() && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
      i += 3;
    } else {
      break;
    }
  }
  return i;
}

// The inside of an IP-literal: IPv6address / IPvFuture.
bool valid_ip_literal(std::string_view s) {
  if (!s.empty() && (s[0] == 'v' || s[0] == 'V')) {
    // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
    size_t i = 1;
    while (i < s.size() && is_hex(s[i])) ++i;
    if (i == 1 || i >= s.size() || s[i] != '.' || i + 1 == s.size()) return false;
    for (++i; i < s.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (!is_unreserved(c) && !is_sub_delim(c) && c != ':') return false;
    }
    return true;
  }
  char buf[64];
  if (s.empty() || s.size() >= sizeof buf) return false;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  unsigned char addr[16];
  return inet_pton(AF_INET6, buf, addr) == 1;  // RFC 4291 text forms, no zone id
}

}  // namespace

bool valid_authority(std::string_view s, bool host_required, bool port_required) {
  std::string_view host = s;
  std::string_view port;
  bool has_port = false;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || !valid_ip_literal(s.substr(1, close - 1))) return false;
    host = s.substr(0, close + 1);
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      has_port = true;
      port = rest.substr(1);
    }
  } else {
    // One pass: the reg-name ends at the first byte it cannot hold, which must be the ':'
    // before the port (a second ':' or an '@' of userinfo then fails as a non-digit port).
    const size_t n = reg_name_length(s);
    host = s.substr(0, n);
    if (n < s.size()) {
      if (s[n] != ':') return false;
      has_port = true;
      port = s.substr(n + 1);
    }
  }
  if (host_required && host.empty()) return false;
  if (has_port && !all_digits(port)) return false;
  if (port_required && port.empty()) return false;
  return true;
}

bool valid_host_value(std::string_view v) {
  return v.empty() || valid_authority(v, true, false);
}

bool valid_request_target(std::string_view target, bool is_connect, bool is_options) {
  if (is_connect) return valid_authority(target, true, true);
  if (target.empty()) return false;
  if (target.front() == '/') return true;  // origin-form: llhttp checked its characters
  if (target == "*") return is_options;
  // absolute-form: scheme "://" authority path-abempty [ "?" query ]
  size_t i = 0;
  if (!is_alpha(static_cast<unsigned char>(target[0]))) return false;
  while (i < target.size() && (is_alpha(target[i]) || is_digit(target[i]) || target[i] == '+' ||
                               target[i] == '-' || target[i] == '.')) {
    ++i;
  }
  if (target.substr(i, 3) != "://") return false;
  std::string_view rest = target.substr(i + 3);
  return valid_authority(rest.substr(0, rest.find_first_of("/?#")), true, false);
}

}  // namespace tether::detail
