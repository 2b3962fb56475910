// Resp: a blocking RESP client for a test's own look at a redis-server (one command, one
// reply: a status, an integer or a bulk string as its text, nil as "<nil>", an array as its
// elements joined by '\n'). Every read is bounded (5 s).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tt {

class Resp {
 public:
  explicit Resp(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Resp() {
    if (fd_ >= 0) ::close(fd_);
  }
  /// Calls `args` until Redis answers `expected` or `timeout_ms` passes; returns the last
  /// answer. For state a loop settles right after its client saw the response (an
  /// acknowledgement travels after the answer it acknowledges).
  std::string settled(const std::vector<std::string>& args, const std::string& expected,
                      int timeout_ms = 5000) {
    std::string got = call(args);
    for (int waited = 0; got != expected && waited < timeout_ms; waited += 5) {
      ::usleep(5000);
      got = call(args);
    }
    return got;
  }

  std::string call(const std::vector<std::string>& args) {
    std::string req = "*" + std::to_string(args.size()) + "\r\n";
    for (const std::string& a : args) req += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
      return "<send failed>";
    return reply();
  }

 private:
  std::string line() {
    std::string out;
    char c;
    while (::recv(fd_, &c, 1, 0) == 1) {
      if (c == '\n') break;
      if (c != '\r') out += c;
    }
    return out;
  }
  std::string reply() {
    std::string l = line();
    if (l.empty()) return "<no reply>";
    if (l[0] == '$') {
      const long n = std::stol(l.substr(1));
      if (n < 0) return "<nil>";
      std::string body(static_cast<size_t>(n) + 2, '\0');
      size_t got = 0;
      while (got < body.size()) {
        ssize_t k = ::recv(fd_, body.data() + got, body.size() - got, 0);
        if (k <= 0) return "<short>";
        got += static_cast<size_t>(k);
      }
      return body.substr(0, static_cast<size_t>(n));
    }
    if (l[0] == '*') {
      const long n = std::stol(l.substr(1));
      std::string out;
      for (long i = 0; i < n; ++i) out += (i ? "\n" : "") + reply();
      return out;
    }
    return l.substr(1);
  }
  int fd_ = -1;
};

}  // namespace tt
