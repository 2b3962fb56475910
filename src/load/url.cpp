#include "tether/load/url.hpp"

namespace tether::load {

UrlParse parse_url(std::string_view text) {
  UrlParse out;
  auto fail = [&](std::string e) {
    out.error = "bad URL '" + std::string(text) + "': " + std::move(e);
    return out;
  };
  constexpr std::string_view kScheme = "http://";
  if (text.rfind("https://", 0) == 0) return fail("https is not supported");
  if (text.rfind(kScheme, 0) != 0) return fail("it must start with http://");
  std::string_view rest = text.substr(kScheme.size());
  const size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view target = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (target.find('#') != std::string_view::npos) return fail("a fragment is not sent");
  if (authority.find('@') != std::string_view::npos) return fail("userinfo is not supported");
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail("unclosed '[' in the host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("junk after the IPv6 address");
      port = after.substr(1);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return fail("empty port");
  }
  if (host.empty()) return fail("no host");
  // What goes on the request line and into the Host header: nothing that could end it or
  // start another line there.
  for (char ch : host) {
    const auto u = static_cast<unsigned char>(ch);
    const bool ok = (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
                    ch == '-' || ch == '.' || ch == '_' || ch == ':' || ch == '%';
    if (!ok) return fail("the host has a byte that no host name or address has");
  }
  for (char ch : target) {
    const auto u = static_cast<unsigned char>(ch);
    if (u <= 0x20 || u >= 0x7f) {
      return fail("the path must be visible ASCII without spaces (percent-encode other bytes)");
    }
  }
  out.url.host = std::string(host);
  if (!port.empty()) {
    unsigned long v = 0;
    for (char ch : port) {
      if (ch < '0' || ch > '9' || v > 65535) return fail("port must be a number in 1..65535");
      v = v * 10 + static_cast<unsigned>(ch - '0');
    }
    if (v == 0 || v > 65535) return fail("port must be a number in 1..65535");
    out.url.port = static_cast<uint16_t>(v);
  }
  if (target.empty()) {
    out.url.target = "/";
  } else if (target.front() == '?') {
    out.url.target = "/" + std::string(target);
  } else {
    out.url.target = std::string(target);
  }
  out.url.authority = std::string(authority);
  return out;
}

}  // namespace tether::load
