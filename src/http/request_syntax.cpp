#include "http/request_syntax.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "http/ascii.hpp"

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

bool HostCache::valid(std::string_view host) {
  if (host == last_) return true;
  if (!valid_host_value(host)) return false;
  if (host.size() <= kRememberedBytes) last_.assign(host.data(), host.size());
  return true;
}

HeadCheck check_head(const RequestData& r, HostCache& hosts, HeadFields& fields) {
  if (r.major != 1) return {505, "unsupported HTTP version"};
  // RFC 9112 3: one SP on each side of the target. llhttp skips runs of them; a request line
  // that would need correcting is refused, not corrected.
  const char* target = r.base + r.target.off;
  if (target[-2] == ' ' || target[r.target.len + 1] == ' ') {
    return {400, "malformed request line"};
  }
  const bool connect = r.method == Method::Connect;
  if (!valid_request_target(r.view(r.target), connect, r.method == Method::Options)) {
    return {400, "invalid request target"};
  }
  // RFC 9110 9.3.6: CONNECT asks for a tunnel, which tether does not make; and a 2xx from a
  // handler would tell a proxy in front of us to start tunnelling. No handler sees it.
  if (connect) return {501, "CONNECT is not supported"};
  int host_count = 0;
  bool has_te = false;
  for (const HeaderSpan& h : r.headers) {
    // Most fields are none of these; the length rules them out without comparing bytes.
    const size_t n = h.name.len;
    if (n != 4 && n != 6 && n != 10 && n != 17) continue;
    std::string_view name = r.view(h.name);
    if (iequals(name, "host")) {
      ++host_count;
      // RFC 9112 3.2: a Host with an invalid value is a 400, as a missing or repeated one.
      if (!hosts.valid(r.view(h.value))) return {400, "invalid Host header"};
    } else if (iequals(name, "transfer-encoding")) {
      has_te = true;
      // llhttp already rejects `chunked` that is not last; any other coding (gzip, ...)
      // cannot be decoded here, and passing it through would mis-frame the body.
      if (!iequals(trim_ows(r.view(h.value)), "chunked")) {
        return {501, "unsupported transfer coding"};
      }
    } else if (iequals(name, "connection")) {
      // A list element may carry OWS (RFC 9110 5.6.1), a tab included.
      std::string_view list = r.view(h.value);
      while (!list.empty()) {
        const size_t comma = list.find(',');
        const std::string_view option = trim_ows(list.substr(0, comma));
        fields.close |= iequals(option, "close");
        fields.keep_alive |= iequals(option, "keep-alive");
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      }
    } else if (iequals(name, "expect")) {
      if (!iequals(trim_ows(r.view(h.value)), "100-continue")) {
        return {417, "unsupported expectation"};
      }
      fields.expect_continue = r.minor >= 1;
    }
  }
  if (r.minor >= 1 && host_count == 0) return {400, "missing Host header"};
  if (host_count > 1) return {400, "more than one Host header"};
  if (has_te && r.minor == 0) return {400, "Transfer-Encoding in an HTTP/1.0 request"};
  return {};
}

}  // namespace tether::detail
