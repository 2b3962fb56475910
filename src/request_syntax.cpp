#include "request_syntax.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace tether::detail {
namespace {

bool is_alpha(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}
bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_unreserved(unsigned char c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
bool is_sub_delim(unsigned char c) {
  return std::string_view("!$&'()*+,;=").find(static_cast<char>(c)) != std::string_view::npos;
}

bool all_digits(std::string_view s) {
  for (unsigned char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

// reg-name = *( unreserved / pct-encoded / sub-delims ); IPv4address is a subset of it.
bool valid_reg_name(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (is_unreserved(c) || is_sub_delim(c)) continue;
    if (c == '%' && i + 2 < s.size() && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
      i += 2;
      continue;
    }
    return false;
  }
  return true;
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
    size_t colon = s.rfind(':');
    if (colon != std::string_view::npos) {
      host = s.substr(0, colon);
      port = s.substr(colon + 1);
      has_port = true;
    }
    // ':' is not a reg-name character, so a second one (or an '@' of userinfo) fails here.
    if (!valid_reg_name(host)) return false;
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
