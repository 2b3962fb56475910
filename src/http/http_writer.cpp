#include "http/http_writer.hpp"

#include <charconv>
#include <cstring>
#include <string>
#include <type_traits>

namespace tether::detail {
namespace {

struct StatusLines {
  // "HTTP/1.1 200 OK\r\n" for every code 100..599, built once. Plain arrays: nothing to
  // destroy at exit, when a server's loop may still be writing (one destroyed from its own
  // handler drains on a thread of its own).
  static constexpr size_t kMaxLine = 64;
  char text[600][kMaxLine] = {};
  uint8_t size[600] = {};
  StatusLines() {
    for (int s = 100; s < 600; ++s) {
      std::string line =
          "HTTP/1.1 " + std::to_string(s) + " " + std::string(reason_phrase(s)) + "\r\n";
      std::memcpy(text[s], line.data(), line.size());
      size[s] = static_cast<uint8_t>(line.size());
    }
  }
  std::string_view line(int s) const { return {text[s], size[s]}; }
};
static_assert(std::is_trivially_destructible_v<StatusLines>);

const StatusLines& status_lines() {
  static const StatusLines kLines;
  return kLines;
}

constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kContentType = "Content-Type: ";
constexpr std::string_view kContentLength = "Content-Length: ";
constexpr std::string_view kClose = "Connection: close\r\n";
constexpr std::string_view kKeepAlive = "Connection: keep-alive\r\n";

inline char* put(char* w, std::string_view s) {
  if (!s.empty()) std::memcpy(w, s.data(), s.size());
  return w + s.size();
}

}  // namespace

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

void append_response(std::string& out, const ResponseParts& p) {
  const int status = (p.status >= 100 && p.status <= 599) ? p.status : 500;
  const bool bodyless = status < 200 || status == 204 || status == 304;
  const std::string_view status_line = status_lines().line(status);
  const bool typed = !bodyless && !p.body.empty() && !p.content_type.empty();
  const bool with_body = !bodyless && !p.head_only;
  char digits[24];
  size_t ndigits = 0;
  if (!bodyless) {
    ndigits = static_cast<size_t>(std::to_chars(digits, digits + sizeof digits, p.body.size()).ptr -
                                  digits);
  }
  std::string_view connection;
  if (p.connection == ConnectionHeader::Close) connection = kClose;
  if (p.connection == ConnectionHeader::KeepAlive) connection = kKeepAlive;

  // The head is written into a stack buffer with plain copies and appended at once: this
  // runs once per response, and a dozen appends (each with its own capacity check) or a
  // resize (which zero-fills first) cost more than the whole parse of a small request.
  size_t head_size = status_line.size() + p.server_line.size() + p.date_line.size() +
                     connection.size() + p.extra_headers.size() + kCrlf.size();
  if (typed) head_size += kContentType.size() + p.content_type.size() + kCrlf.size();
  if (!bodyless) head_size += kContentLength.size() + ndigits + kCrlf.size();
  char stack[512];
  std::string spill;
  char* head = stack;
  if (head_size > sizeof stack) {
    spill.resize(head_size);
    head = spill.data();
  }
  char* w = head;
  w = put(w, status_line);
  w = put(w, p.server_line);
  w = put(w, p.date_line);
  if (typed) {
    w = put(w, kContentType);
    w = put(w, p.content_type);
    w = put(w, kCrlf);
  }
  if (!bodyless) {
    w = put(w, kContentLength);
    w = put(w, std::string_view(digits, ndigits));
    w = put(w, kCrlf);
  }
  w = put(w, connection);
  w = put(w, p.extra_headers);
  w = put(w, kCrlf);
  if (!with_body) {
    out.append(head, head_size);
  } else if (head == stack && head_size + p.body.size() <= sizeof stack) {
    // A small response leaves in one append: each costs a capacity check and a call.
    put(w, p.body);  // (an empty body may have no data pointer: put copies nothing then)
    out.append(head, head_size + p.body.size());
  } else {
    out.reserve(out.size() + head_size + p.body.size());
    out.append(head, head_size);
    out.append(p.body.data(), p.body.size());
  }
}

void append_stream_head(std::string& out, const ResponseParts& p, bool chunked) {
  constexpr std::string_view kChunked = "Transfer-Encoding: chunked\r\n";
  out.append(status_lines().line(p.status));
  out.append(p.server_line);
  out.append(p.date_line);
  if (!p.content_type.empty()) out.append(kContentType).append(p.content_type).append(kCrlf);
  if (chunked) out.append(kChunked);
  if (p.connection == ConnectionHeader::Close) out.append(kClose);
  if (p.connection == ConnectionHeader::KeepAlive) out.append(kKeepAlive);
  out.append(p.extra_headers);
  out.append(kCrlf);
}

void append_chunk(std::string& out, std::string_view data) {
  char size[20];
  auto r = std::to_chars(size, size + sizeof size, data.size(), 16);
  out.append(size, static_cast<size_t>(r.ptr - size));
  out.append(kCrlf);
  out.append(data);
  out.append(kCrlf);
}

}  // namespace tether::detail
