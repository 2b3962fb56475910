// Request: a read-only view of one parsed HTTP request, valid during the handler call only.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "tether/export.hpp"
#include "tether/method.hpp"

namespace tether {

namespace detail {
struct RequestData;
}

/// One HTTP request as the handler sees it.
///
/// Lifetime: every `std::string_view` returned here points into the connection's receive
/// buffer and is valid only until the handler returns. A handler that answers later
/// (keeps its `Response`) must copy what it needs first: `std::string(req.param("id"))`.
class TETHER_EXPORT Request {
 public:
  explicit Request(const detail::RequestData& data) : d_(&data) {}

  /// Method as an enum (`Method::Other` for methods without a constant).
  Method method() const;
  /// Method as sent ("GET").
  std::string_view method_name() const;
  /// Request target exactly as sent: origin-form "/a/b?x=1", absolute-form, or "*".
  std::string_view target() const;
  /// Path of the target without the query, exactly as sent (not percent-decoded: routes match
  /// it as sent; param() decodes captures).
  std::string_view path() const;
  /// Raw query string after '?', without the '?'; empty when absent.
  std::string_view query_string() const;
  /// Value of the first `key=value` pair of the query whose key is `key`, both decoded as a
  /// form would be (`%XX` escapes, and '+' for a space); "" for a key given without '=';
  /// nullopt when the key is absent. Invalid escapes are kept as they are.
  std::optional<std::string_view> query(std::string_view key) const;
  /// The same pair's value exactly as sent, and matched on the key exactly as sent.
  std::optional<std::string_view> query_raw(std::string_view key) const;
  /// Value of the route's `{name}` capture (or "*" for a catch-all), percent-decoded ('+'
  /// stays '+', as in a path); "" when no such capture.
  std::string_view param(std::string_view name) const;
  /// The capture exactly as it appears in the path.
  std::string_view param_raw(std::string_view name) const;
  /// Value of the first header with this name, compared case-insensitively; nullopt if absent.
  /// Leading and trailing whitespace is trimmed.
  std::optional<std::string_view> header(std::string_view name) const;
  /// Number of header fields, in the order received.
  size_t header_count() const;
  /// Name and value of header `i` (0 <= i < header_count()).
  std::pair<std::string_view, std::string_view> header_at(size_t i) const;
  /// The whole body, de-chunked; empty when there is none.
  std::string_view body() const;
  /// HTTP version, e.g. 1 and 1 for HTTP/1.1.
  int version_major() const;
  int version_minor() const;
  /// True when the connection stays open after this exchange (HTTP/1.1 default, or HTTP/1.0
  /// with `Connection: keep-alive`), unless the server decides to close it.
  bool keep_alive() const;
  /// The client's IP address as text ("127.0.0.1", "::1"); empty when there is no socket.
  /// The peer of the TCP connection: behind a proxy, the proxy's.
  std::string remote_address() const;
  /// The client's TCP port; 0 when there is no socket.
  uint16_t remote_port() const;

 private:
  const detail::RequestData* d_;
};

/// Percent-decodes `s` ('+' stays '+'); invalid escapes are kept as they are.
TETHER_EXPORT std::string url_decode(std::string_view s);

}  // namespace tether
