#include "response_reader.hpp"

namespace fuzz {
namespace {

constexpr std::string_view kVersion = "HTTP/1.1 ";
constexpr uint64_t kMaxContentLength = uint64_t{1} << 32;

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// RFC 9110 field-vchar / SP / HTAB, and reason-phrase (same set): no CTL but HTAB.
bool is_text(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

bool bodyless_status(int status) {
  return status < 200 || status == 204 || status == 304;
}

}  // namespace

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

size_t count_of(std::string_view hay, std::string_view needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string_view::npos; at = hay.find(needle, at + 1))
    ++n;
  return n;
}

size_t count_of_ci(std::string_view hay, std::string_view needle) {
  size_t n = 0;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    if (iequal(hay.substr(i, needle.size()), needle)) ++n;
  }
  return n;
}

size_t ResponseHead::count(std::string_view name) const {
  size_t n = 0;
  for (const auto& f : fields) n += iequal(f.first, name);
  return n;
}

std::optional<std::string_view> ResponseHead::get(std::string_view name) const {
  for (const auto& f : fields) {
    if (iequal(f.first, name)) return f.second;
  }
  return std::nullopt;
}

bool ResponseReader::next_is_response_or_end() const {
  return rest_.empty() || rest_.substr(0, kVersion.size()) == kVersion;
}

bool ResponseReader::read_line(std::string_view& line, std::string& error) {
  // A line ends at CRLF; a CR or LF anywhere else is a framing error, not part of the line.
  size_t i = 0;
  while (i < rest_.size() && rest_[i] != '\r' && rest_[i] != '\n') ++i;
  if (i + 1 >= rest_.size() || rest_[i] != '\r' || rest_[i + 1] != '\n') {
    error = i >= rest_.size() ? "response head is truncated" : "line not ended by CRLF";
    return false;
  }
  line = rest_.substr(0, i);
  rest_.remove_prefix(i + 2);
  return true;
}

bool ResponseReader::read_head(ResponseHead& head, std::string& error) {
  head = ResponseHead();
  std::string_view line;
  if (!read_line(line, error)) return false;
  // status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ]
  if (line.substr(0, kVersion.size()) != kVersion || line.size() < kVersion.size() + 4) {
    error = "bad status line";
    return false;
  }
  std::string_view code = line.substr(kVersion.size(), 3);
  for (char c : code) {
    if (c < '0' || c > '9') {
      error = "bad status code";
      return false;
    }
  }
  head.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  if (head.status < 100 || head.status > 599 || line[kVersion.size() + 3] != ' ') {
    error = "bad status code";
    return false;
  }
  for (unsigned char c : line.substr(kVersion.size() + 4)) {
    if (!is_text(c)) {
      error = "bad byte in reason phrase";
      return false;
    }
  }
  for (;;) {
    if (!read_line(line, error)) return false;
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) {
      error = "header line without a name";
      return false;
    }
    std::string_view name = line.substr(0, colon);
    for (unsigned char c : name) {
      if (!is_tchar(c)) {
        error = "bad byte in header name";
        return false;
      }
    }
    std::string_view value = line.substr(colon + 1);
    for (unsigned char c : value) {
      if (!is_text(c)) {
        error = "bad byte in header value";
        return false;
      }
    }
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    head.fields.emplace_back(name, value);
  }
  if (head.count("transfer-encoding") != 0) {
    error = "Transfer-Encoding in a response";
    return false;
  }
  if (head.count("content-length") > 1 || head.count("connection") > 1) {
    error = "repeated Content-Length or Connection";
    return false;
  }
  if (auto cl = head.get("content-length")) {
    if (cl->empty() || cl->size() > 10) {
      error = "bad Content-Length";
      return false;
    }
    uint64_t n = 0;
    for (char c : *cl) {
      if (c < '0' || c > '9') {
        error = "bad Content-Length";
        return false;
      }
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    if (n > kMaxContentLength) {
      error = "absurd Content-Length";
      return false;
    }
    head.content_length = n;
  }
  if (bodyless_status(head.status) && head.content_length) {
    error = "Content-Length on a 1xx/204/304 response";
    return false;
  }
  if (!bodyless_status(head.status) && !head.content_length) {
    error = "final response without Content-Length";
    return false;
  }
  if (auto c = head.get("connection")) {
    for (char ch : *c) head.connection += lower(ch);
    if (head.connection != "close" && head.connection != "keep-alive") {
      error = "unexpected Connection value";
      return false;
    }
  }
  if (head.status >= 200 && (head.count("date") != 1 || head.count("server") != 1)) {
    error = "final response without exactly one Date and one Server";
    return false;
  }
  return true;
}

bool ResponseReader::read_body(uint64_t n, std::string_view& body, std::string& error) {
  if (n > rest_.size()) {
    error = "response body is truncated";
    return false;
  }
  body = rest_.substr(0, static_cast<size_t>(n));
  rest_.remove_prefix(static_cast<size_t>(n));
  return true;
}

}  // namespace fuzz
