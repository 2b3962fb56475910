// Request syntax that llhttp (8.1, strict mode) leaves to the server: the request target's
// form and authority (RFC 9112 3.2) and the Host field value (RFC 9110 7.2). Pure functions
// over the head's bytes, called from validate_head.
#pragma once

#include <string_view>

namespace tether::detail {

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
