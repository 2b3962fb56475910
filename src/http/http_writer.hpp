// http_writer: serializes a response head and body into an output buffer.
#pragma once

#include <string>
#include <string_view>

namespace tether::detail {

enum class ConnectionHeader { None, Close, KeepAlive };

struct ResponseParts {
  int status = 200;
  std::string_view body;
  std::string_view content_type;
  /// User headers, already formatted as "Name: value\r\n" lines.
  std::string_view extra_headers;
  /// "Date: ...\r\n"; empty when the user supplied their own.
  std::string_view date_line;
  /// "Server: ...\r\n"; empty when the user supplied their own.
  std::string_view server_line;
  /// HEAD: announce the body's length, send no body.
  bool head_only = false;
  ConnectionHeader connection = ConnectionHeader::None;
};

/// Appends the whole response to `out`. 1xx, 204 and 304 carry no body and no
/// Content-Length; every other status is framed by Content-Length.
void append_response(std::string& out, const ResponseParts& parts);

/// Appends the head of a streamed response (no Content-Length): `Transfer-Encoding: chunked`
/// when `chunked`, else the body is delimited by the connection's end (HTTP/1.0).
void append_stream_head(std::string& out, const ResponseParts& parts, bool chunked);
/// Appends `data` as one chunk (size in hex, CRLF, data, CRLF); `data` must not be empty.
void append_chunk(std::string& out, std::string_view data);

/// "OK" for 200; "Unknown" for codes without a registered phrase.
std::string_view reason_phrase(int status);

/// True for a status a final response may carry (200..599).
inline bool valid_final_status(int status) {
  return status >= 200 && status <= 599;
}

}  // namespace tether::detail
