// Request syntax that llhttp (8.1, strict mode) leaves to the server: the request line's
// spacing and version, the request target's form and authority (RFC 9112 3.2), the Host
// field (RFC 9110 7.2), Transfer-Encoding, Connection and Expect. Pure functions over the
// head's bytes; the parser calls check_head once a head is complete.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "http/request_data.hpp"

namespace tether::detail {

/// The last Host value that passed, compared instead of parsed again: clients send the same
/// Host on every request. Short values only, so keeping one never allocates in steady state.
class HostCache {
 public:
  bool valid(std::string_view host);

 private:
  static constexpr size_t kRememberedBytes = 64;
  std::string last_;
};

/// What check_head read from the fields for the parser.
struct HeadFields {
  bool close = false;            // a Connection option "close"
  bool keep_alive = false;       // a Connection option "keep-alive"
  bool expect_continue = false;  // Expect: 100-continue in HTTP/1.1
};

/// The verdict of check_head: status 0 when the head is acceptable, else the answer.
struct HeadCheck {
  int status = 0;
  const char* text = "";
};

/// The rules of a complete request head that llhttp leaves to the server: HTTP/1.x only
/// (505), one SP on each side of the target, the target's form for its method, no CONNECT
/// (501: no tunnels), exactly one valid Host in HTTP/1.1, Transfer-Encoding only `chunked`
/// (501) and never in HTTP/1.0, Expect only `100-continue` (417). `r` is the parsed head (its
/// views point into one contiguous buffer); `fields` receives the Connection options and
/// Expect, read here rather than taken from llhttp, which misses an option followed by HTAB
/// and lets keep-alive beat close in HTTP/1.0.
HeadCheck check_head(const RequestData& r, HostCache& hosts, HeadFields& fields);

/// RFC 3986 authority without userinfo: host [ ":" port ], where host is an IP-literal
/// ("[" IPv6address / IPvFuture "]"), an IPv4address or a reg-name, and port is *DIGIT.
/// `host_required`: the host may not be empty (an http(s) URI); `port_required`: the ":" port
/// part must be present with at least one digit (authority-form, RFC 9112 3.2.3).
bool valid_authority(std::string_view s, bool host_required, bool port_required);

/// A Host field value (RFC 9110 7.2): empty (RFC 9112 3.2 lets a client send an empty Host
/// when the target has no authority) or uri-host [ ":" port ].
bool valid_host_value(std::string_view v);

/// The request target of a method, by form (RFC 9112 3.2): origin-form for any method but
/// CONNECT; absolute-form ("scheme://authority[/path][?query]") with a non-empty host and no
/// userinfo; authority-form ("host:port") for CONNECT only; "*" for OPTIONS only.
bool valid_request_target(std::string_view target, bool is_connect, bool is_options);

}  // namespace tether::detail
