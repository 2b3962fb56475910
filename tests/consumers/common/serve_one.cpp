// A downstream program, built the way a user of the installed or vendored library builds it:
// it serves one route on an ephemeral port, asks for it over a real socket, and checks the
// answer. Exit 0 and "consumer ok" when it is right.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "tether/tether.hpp"

namespace {

std::string ask(uint16_t port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return reply;
}

}  // namespace

int main() {
  if (std::strcmp(tether::version(), TETHER_VERSION_STRING) != 0) {
    std::fprintf(stderr, "headers %s, library %s\n", TETHER_VERSION_STRING, tether::version());
    return 1;
  }
  tether::ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;  // ephemeral
  tether::Server server(options);
  server.get("/hello/{name}", [](tether::Request& req, tether::Response res) {
    res.send(200, "hi " + std::string(req.param("name")), "text/plain");
  });
  if (tether::Status s = server.start(); !s) {
    std::fprintf(stderr, "start: %s\n", s.message().c_str());
    return 1;
  }
  const std::string reply =
      ask(server.port(),
          "GET /hello/consumer HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  server.stop();
  server.wait();
  const bool ok = reply.rfind("HTTP/1.1 200 ", 0) == 0 && reply.size() >= 11 &&
                  reply.compare(reply.size() - 11, 11, "hi consumer") == 0;
  if (!ok) {
    std::fprintf(stderr, "unexpected reply:\n%s\n", reply.c_str());
    return 1;
  }
  std::printf("consumer ok: tether %s answered on port %u\n", tether::version(), server.port());
  return 0;
}
