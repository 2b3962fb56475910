// --targets FILE: the requests of a run, one per line, serialized once before it starts.
//
// A line is `METHOD TARGET [BODY]`:
//   GET /
//   GET /search?q=tether
//   POST /api/items {"name":"x"}\n          inline body: the rest of the line
//   PUT /api/items/7 @item7.json            body read from a file
//   GET http://example.com:8080/status      absolute-form: sent as is, Host = its authority
//   # a comment                             (lines whose first non-blank is '#'; and blank
//                                           lines, are skipped)
// METHOD is an HTTP token (RFC 9110 tchars, case kept). TARGET starts with '/' (origin-form)
// or with `http://` (absolute-form, with an authority and no userinfo); it is visible ASCII
// with no '#'. Fields are separated by spaces or tabs; leading blanks and a trailing CR are
// ignored.
// BODY starts at the first non-blank after TARGET and runs to the end of the line (trailing
// blanks included). Inline bodies understand the escapes \n \t \r \\ and \xHH (any byte:
// \x20 for a leading space, \x40 for a leading '@'); no other backslash sequence is allowed.
// `@path` reads the body from a file, byte for byte, relative to the targets file's
// directory unless absolute (trailing blanks after the path are ignored). A line with a
// body, even an empty one (@empty.txt), is sent with Content-Length.
//
// Errors name the file, the line and, for a token, the column:
//   "targets.txt:3:5: target must start with '/' or 'http://', found 'index.html'"
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tether::load {

/// One request of a targets file (or of the -m/--body flags), before serialization.
struct TargetSpec {
  std::string method = "GET";
  /// As written: origin-form ("/a?b") or absolute-form ("http://host:8080/a").
  std::string target = "/";
  /// For an absolute-form target, its authority ("host:8080"), sent as Host; else empty.
  std::string authority;
  /// Whether the request has a body (then it is sent with Content-Length, even if empty).
  bool has_body = false;
  std::string body;
  /// Line of the targets file it came from (1-based; 0 when not from a file).
  size_t line = 0;
};

/// The result of parsing a targets file: the requests in file order, or a one-line error.
struct TargetsParse {
  std::vector<TargetSpec> targets;
  /// Empty when the file parsed; else "FILE:LINE[:COLUMN]: what is wrong".
  std::string error;
  bool ok() const noexcept { return error.empty(); }
};

/// Parses the text of a targets file. `file_name` names it in errors; `@path` bodies are
/// read relative to `base_dir`. A file with no request is an error.
TargetsParse parse_targets(std::string_view text, std::string_view file_name,
                           const std::filesystem::path& base_dir);

/// Reads and parses a targets file; `@path` bodies are relative to the file's directory.
TargetsParse load_targets(const std::filesystem::path& file);

/// The head fields every request of a run carries.
struct RequestHead {
  /// The Host header of origin-form targets ("localhost:8080"). A "Host" entry in
  /// `headers` replaces it; absolute-form targets send their own authority instead.
  std::string host;
  /// Extra header fields (-H), sent in this order after Host. Content-Length and
  /// Transfer-Encoding are refused: tether-load frames the body itself.
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Requests serialized to the bytes sent on the wire (head and body), one per target in
/// the same order, or a one-line error about the head fields.
struct PreparedRequests {
  std::vector<std::string> requests;
  std::string error;
  bool ok() const noexcept { return error.empty(); }
};

/// Serializes every target as an HTTP/1.1 request: `METHOD TARGET HTTP/1.1`, Host, the
/// extra headers, Content-Length when there is a body, the empty line, the body. Fails
/// (with nothing serialized) on a header name that is not a token, a value with CR, LF, NUL
/// or another control byte but HTAB, a Content-Length or Transfer-Encoding header, or no
/// Host for an origin-form target.
PreparedRequests serialize_targets(const std::vector<TargetSpec>& targets, const RequestHead& head);

}  // namespace tether::load
