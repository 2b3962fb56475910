// The URL a run targets: `http://host[:port][/path[?query]]`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tether::load {

/// A parsed `http://` URL.
struct Url {
  /// Host name or address, without brackets for IPv6 ("::1").
  std::string host;
  /// The port (80 when the URL names none).
  uint16_t port = 80;
  /// The request target, origin-form: "/" when the URL has no path.
  std::string target = "/";
  /// As written in the URL, for the Host header: "host", "host:8080", "[::1]:8080".
  std::string authority;
};

/// The result of parse_url: the URL, or a one-line error.
struct UrlParse {
  Url url;
  /// Empty when the URL parsed; else what is wrong ("URL must start with http://").
  std::string error;
  bool ok() const noexcept { return error.empty(); }
};

/// Parses `http://host[:port][/path]`; `https://`, userinfo, a fragment, an empty host and a
/// port outside 1..65535 are refused.
UrlParse parse_url(std::string_view text);

}  // namespace tether::load
