// ResponseReader: a strict HTTP/1.1 response parser for the fuzz target, written apart from the
// server's writer so that a framing bug cannot hide behind shared code. It reads one head at a
// time and leaves the body to the caller, which alone knows whether a response answers HEAD.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fuzz {

struct ResponseHead {
  int status = 0;
  std::vector<std::pair<std::string_view, std::string_view>> fields;
  std::optional<uint64_t> content_length;
  /// Value of the Connection field, lower-cased; empty when absent.
  std::string connection;

  /// Number of fields named `name` (case-insensitive).
  size_t count(std::string_view name) const;
  /// Value of the first field named `name`; nullopt when absent.
  std::optional<std::string_view> get(std::string_view name) const;
};

class ResponseReader {
 public:
  explicit ResponseReader(std::string_view out) : rest_(out) {}

  bool at_end() const { return rest_.empty(); }
  /// True when the remaining output is empty or starts the next response: with an unknown
  /// method, that is how an announced body that never came (HEAD) is told from one that did.
  bool next_is_response_or_end() const;
  std::string_view rest() const { return rest_; }

  /// Parses the next response head; false with `error` set on any deviation from RFC 9112 or
  /// from the framing tether promises (Content-Length on every final response that may carry a
  /// body, no Transfer-Encoding, one Date and one Server).
  bool read_head(ResponseHead& head, std::string& error);
  /// Takes exactly `n` body bytes; false when the output ends first.
  bool read_body(uint64_t n, std::string_view& body, std::string& error);

 private:
  bool read_line(std::string_view& line, std::string& error);
  std::string_view rest_;
};

/// Occurrences of `needle` in `hay`, overlapping ones included.
size_t count_of(std::string_view hay, std::string_view needle);
/// The same, comparing ASCII letters case-insensitively.
size_t count_of_ci(std::string_view hay, std::string_view needle);
bool iequal(std::string_view a, std::string_view b);

}  // namespace fuzz
