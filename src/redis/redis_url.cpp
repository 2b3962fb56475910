#include "redis/redis_url.hpp"

#include <arpa/inet.h>

#include <cctype>

namespace tether::detail {
namespace {

constexpr std::string_view kShape =
    "expected redis://[:password@]host[:port][/db] or unix:///path[?db=N]";

Status fail(std::string_view what) {
  return Status::error("redis URL: " + std::string(what));
}

bool lower_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  }
  return true;
}

bool is_scheme_token(std::string_view s) {
  if (s.empty() || s.size() > 16 || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.')
      return false;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex_value(in[i + 1]);
    const int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

/// Digits only, at most `max`.
bool parse_number(std::string_view s, uint64_t max, uint64_t& out) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > max) return false;
  out = v;
  return true;
}

/// "user:password" or ":password" (the user is optional, the colon is not).
Status parse_credentials(std::string_view userinfo, RedisUrl& url) {
  const size_t colon = userinfo.find(':');
  if (colon == std::string_view::npos) {
    return fail("credentials must be ':password@' or 'user:password@' (percent-encode ':', '@' "
                "and '/' inside them)");
  }
  if (!percent_decode(userinfo.substr(0, colon), url.username) ||
      !percent_decode(userinfo.substr(colon + 1), url.password)) {
    return fail("bad percent-encoding in the credentials");
  }
  if (url.password.empty()) return fail("the password after ':' is empty");
  return {};
}

bool valid_host_name(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_')
      return false;
  }
  return true;
}

Status parse_host_port(std::string_view hp, RedisUrl& url) {
  std::string_view host;
  std::string_view port;
  if (!hp.empty() && hp[0] == '[') {
    const size_t close = hp.find(']');
    if (close == std::string_view::npos) return fail("an IPv6 address misses its closing ']'");
    host = hp.substr(1, close - 1);
    const std::string_view rest = hp.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return fail("expected ':port' after the IPv6 address");
      port = rest.substr(1);
      if (port.empty()) return fail("the port after ':' is empty");
    }
    in6_addr a6{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &a6) != 1) {
      return fail("the address in brackets is not an IPv6 address");
    }
  } else {
    const size_t colon = hp.rfind(':');
    if (colon != std::string_view::npos) {
      host = hp.substr(0, colon);
      port = hp.substr(colon + 1);
      if (port.empty()) return fail("the port after ':' is empty");
    } else {
      host = hp;
    }
    if (host.empty()) return fail("no host");
    if (!valid_host_name(host)) {
      return fail("the host must be a name, an IPv4 address or an IPv6 address in brackets");
    }
  }
  if (host.empty()) return fail("no host");
  url.host = std::string(host);
  url.port = 6379;
  if (!port.empty()) {
    uint64_t p = 0;
    if (!parse_number(port, 65535, p) || p == 0) {
      return fail("the port must be a number from 1 to 65535");
    }
    url.port = static_cast<uint16_t>(p);
  }
  return {};
}

Status parse_db(std::string_view s, RedisUrl& url) {
  uint64_t db = 0;
  if (!parse_number(s, kRedisMaxDb, db)) {
    return fail("the database must be a number from 0 to " + std::to_string(kRedisMaxDb));
  }
  url.db = static_cast<uint32_t>(db);
  return {};
}

/// Takes "userinfo@" off the front of `rest`: the credentials end at the last '@' (an
/// unencoded '@', '/' or '?' in a password is taken as part of it); no '@', no credentials.
Status take_credentials(std::string_view& rest, RedisUrl& url) {
  const size_t at = rest.rfind('@');
  if (at == std::string_view::npos) return {};
  Status st = parse_credentials(rest.substr(0, at), url);
  rest = rest.substr(at + 1);
  return st;
}

Status parse_tcp(std::string_view rest, RedisUrl& url) {
  url.kind = RedisUrl::Kind::tcp;
  if (Status st = take_credentials(rest, url); !st) return st;
  if (rest.find('#') != std::string_view::npos) return fail("a '#fragment' is not supported");
  if (rest.find('?') != std::string_view::npos) {
    return fail("query parameters are not supported in redis:// (the database is the path: /N)");
  }
  std::string_view authority = rest;
  std::string_view path;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  if (Status st = parse_host_port(authority, url); !st) return st;
  url.db = 0;
  if (!path.empty()) {
    if (path.find('/') != std::string_view::npos) return fail("the path must be /<database number>");
    if (Status st = parse_db(path, url); !st) return st;
  }
  return {};
}

Status parse_unix(std::string_view rest, RedisUrl& url) {
  url.kind = RedisUrl::Kind::unix_socket;
  if (Status st = take_credentials(rest, url); !st) return st;
  if (rest.find('#') != std::string_view::npos) return fail("a '#fragment' is not supported");
  std::string_view query;
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (rest.empty() || rest[0] != '/') {
    return fail("a unix:// URL names no host and an absolute path: unix:///path");
  }
  if (rest.size() < 2) return fail("the socket path is empty");
  if (rest.size() >= 108) return fail("the socket path is longer than a unix socket allows");
  url.path = std::string(rest);
  url.db = 0;
  if (!query.empty()) {
    if (query.substr(0, 3) != "db=") return fail("the only query parameter is ?db=N");
    if (Status st = parse_db(query.substr(3), url); !st) return st;
  }
  return {};
}

}  // namespace

Status parse_redis_url(std::string_view text, RedisUrl& out) {
  if (text.empty()) return fail("empty (" + std::string(kShape) + ")");
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return fail("spaces and control characters are not allowed (percent-encode them)");
    }
  }
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos) return fail(kShape);
  const std::string_view scheme = text.substr(0, sep);
  const std::string_view rest = text.substr(sep + 3);
  RedisUrl url;
  Status st;
  if (lower_equals(scheme, "redis")) {
    st = parse_tcp(rest, url);
  } else if (lower_equals(scheme, "unix")) {
    st = parse_unix(rest, url);
  } else if (lower_equals(scheme, "rediss")) {
    return fail("TLS (rediss://) is not supported");
  } else if (is_scheme_token(scheme)) {
    return fail("unsupported scheme '" + std::string(scheme) + "' (" + std::string(kShape) + ")");
  } else {
    return fail(kShape);
  }
  if (!st) return st;
  out = std::move(url);
  return {};
}

void apply_redis_password_env(RedisUrl& url, const char* env_value) {
  if (url.password.empty() && env_value != nullptr && *env_value != '\0') url.password = env_value;
}

std::string RedisUrl::describe() const {
  const std::string creds = password.empty() ? "" : (username.empty() ? ":***@" : username + ":***@");
  if (kind == Kind::unix_socket) {
    return "unix://" + creds + path + (db != 0 ? "?db=" + std::to_string(db) : "");
  }
  const bool v6 = host.find(':') != std::string::npos;
  return "redis://" + creds + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" +
         std::to_string(db);
}

}  // namespace tether::detail
