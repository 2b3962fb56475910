#include "load/address.hpp"

#include <netdb.h>

#include <cstring>

namespace tether::load::detail {

std::string authority_of(const std::string& host, uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string resolve(const std::string& host, uint16_t port, sockaddr_storage& out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    return "cannot resolve host '" + host + "': " + gai_strerror(rc);
  }
  std::memcpy(&out, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return {};
}

}  // namespace tether::load::detail
