#include "support/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>

#include "http/ascii.hpp"

namespace tt {

using tether::detail::iequals;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return std::nullopt;
}

size_t HttpResponse::header_count(std::string_view name) const {
  size_t n = 0;
  for (const auto& h : headers) n += iequals(h.first, name);
  return n;
}

std::optional<HttpResponse> parse_response(std::string& buf, bool head, bool eof) {
  size_t head_end = buf.find("\r\n\r\n");
  if (head_end == std::string::npos) return std::nullopt;
  HttpResponse r;
  std::string_view h(buf.data(), head_end);
  size_t line_end = h.find("\r\n");
  std::string_view status_line = h.substr(0, line_end);
  if (status_line.substr(0, 9) != "HTTP/1.1 " || status_line.size() < 12) return std::nullopt;
  r.status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
  r.reason = std::string(status_line.size() > 13 ? status_line.substr(13) : std::string_view());
  size_t pos = line_end == std::string_view::npos ? h.size() : line_end + 2;
  while (pos < h.size()) {
    size_t e = h.find("\r\n", pos);
    std::string_view line =
        h.substr(pos, e == std::string_view::npos ? std::string_view::npos : e - pos);
    size_t colon = line.find(':');
    std::string_view v =
        colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(v));
    if (e == std::string_view::npos) break;
    pos = e + 2;
  }
  size_t body_start = head_end + 4;
  bool bodyless = head || r.status < 200 || r.status == 204 || r.status == 304;
  if (bodyless) {
    buf.erase(0, body_start);
    return r;
  }
  if (auto cl = r.header("content-length")) {
    size_t n = std::strtoull(cl->c_str(), nullptr, 10);
    if (buf.size() - body_start < n) return std::nullopt;
    r.body = buf.substr(body_start, n);
    buf.erase(0, body_start + n);
    return r;
  }
  if (auto te = r.header("transfer-encoding"); te && iequals(*te, "chunked")) {
    size_t p = body_start;
    std::string body;
    while (true) {
      size_t e = buf.find("\r\n", p);
      if (e == std::string::npos) return std::nullopt;
      const std::string size_text = buf.substr(p, e - p);
      if (size_text.empty() ||
          size_text.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
        r.status = -1;  // malformed framing: the test sees it rather than a hang
        return r;
      }
      size_t n = std::strtoull(size_text.c_str(), nullptr, 16);
      if (n == 0) {
        // Trailer fields, then the empty line.
        size_t q = e + 2;
        std::vector<std::pair<std::string, std::string>> trailers;
        for (;;) {
          size_t le = buf.find("\r\n", q);
          if (le == std::string::npos) return std::nullopt;
          if (le == q) break;
          std::string line = buf.substr(q, le - q);
          size_t colon = line.find(':');
          std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
          while (!value.empty() && value.front() == ' ') value.erase(0, 1);
          trailers.emplace_back(line.substr(0, colon), value);
          q = le + 2;
        }
        buf.erase(0, q + 2);
        r.body = std::move(body);
        r.trailers = std::move(trailers);
        return r;
      }
      if (buf.size() < e + 2 + n + 2) return std::nullopt;
      if (buf.compare(e + 2 + n, 2, "\r\n") != 0) {
        r.status = -1;
        return r;
      }
      body.append(buf, e + 2, n);
      p = e + 2 + n + 2;
    }
  }
  if (!eof) return std::nullopt;  // close-delimited
  r.body = buf.substr(body_start);
  buf.clear();
  return r;
}

Client::Client(uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

Client::~Client() {
  close();
}

bool Client::send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

Client::Fill Client::fill(int64_t deadline) {
  if (eof_) return Fill::Eof;
  while (true) {
    int64_t left = deadline - now_ms();
    if (left < 0) left = 0;
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return Fill::Timeout;
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof_ = true;
      return Fill::Eof;
    }
    buf_.append(tmp, static_cast<size_t>(n));
    return Fill::Data;
  }
}

std::optional<HttpResponse> Client::read_response(int timeout_ms, bool head) {
  int64_t deadline = now_ms() + timeout_ms;
  while (true) {
    if (auto r = parse_response(buf_, head, eof_)) return r;
    if (eof_) return std::nullopt;
    if (fill(deadline) == Fill::Timeout) return std::nullopt;
  }
}

size_t Client::read_some(int timeout_ms) {
  size_t before = buf_.size();
  fill(now_ms() + timeout_ms);
  return buf_.size() - before;
}

bool Client::wait_closed(int timeout_ms) {
  int64_t deadline = now_ms() + timeout_ms;
  size_t before = buf_.size();
  while (true) {
    Fill f = fill(deadline);
    if (f == Fill::Eof) return buf_.size() == before;
    if (f == Fill::Timeout) return false;
  }
}

void Client::shutdown_write() {
  ::shutdown(fd_, SHUT_WR);
}

void Client::close(bool reset) {
  if (fd_ < 0) return;
  if (reset) {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  ::close(fd_);
  fd_ = -1;
}

HttpResponse roundtrip(Client& c, const std::string& req, int timeout_ms) {
  if (!c.send(req)) return {};
  auto r = c.read_response(timeout_ms);
  return r ? *r : HttpResponse{};
}

}  // namespace tt
