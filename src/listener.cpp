#include "listener.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tether::detail {

Status bind_listen_socket(const std::string& host, uint16_t port, bool reuseport, int* fd) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string where = host + ":" + std::to_string(port);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), std::to_string(port).c_str(), &hints,
                       &res);
  if (rc != 0) return Status::error("cannot resolve " + where + ": " + gai_strerror(rc));
  int err = EADDRNOTAVAIL;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int s = ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) {
      err = errno;
      continue;
    }
    int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport) ::setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (::bind(s, ai->ai_addr, ai->ai_addrlen) == 0) {
      freeaddrinfo(res);
      *fd = s;
      return {};
    }
    err = errno;
    ::close(s);
  }
  freeaddrinfo(res);
  return Status::error("cannot listen on " + where + ": " + std::strerror(err));
}

}  // namespace tether::detail
