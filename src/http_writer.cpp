#include "http_writer.hpp"

#include <array>
#include <charconv>
#include <cstring>

namespace tether::detail {
namespace {

struct StatusLines {
  // "HTTP/1.1 200 OK\r\n" for every code 100..599, built once.
  std::array<std::string, 600> lines;
  StatusLines() {
    for (int s = 100; s < 600; ++s) {
      lines[s] = "HTTP/1.1 " + std::to_string(s) + " " + std::string(reason_phrase(s)) + "\r\n";
    }
  }
};

const StatusLines& status_lines() {
  static const StatusLines kLines;
  return kLines;
}

inline void append(std::string& out, std::string_view s) {
  out.append(s.data(), s.size());
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
  append(out, status_lines().lines[status]);
  append(out, p.server_line);
  append(out, p.date_line);
  if (!bodyless) {
    if (!p.body.empty() && !p.content_type.empty()) {
      append(out, "Content-Type: ");
      append(out, p.content_type);
      append(out, "\r\n");
    }
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, p.body.size());
    (void)ec;
    append(out, "Content-Length: ");
    out.append(digits, static_cast<size_t>(end - digits));
    append(out, "\r\n");
  }
  switch (p.connection) {
    case ConnectionHeader::Close:
      append(out, "Connection: close\r\n");
      break;
    case ConnectionHeader::KeepAlive:
      append(out, "Connection: keep-alive\r\n");
      break;
    case ConnectionHeader::None:
      break;
  }
  append(out, p.extra_headers);
  append(out, "\r\n");
  if (!bodyless && !p.head_only) append(out, p.body);
}

}  // namespace tether::detail
