// idle_connections: resident memory a server spends per idle keep-alive connection. Reads the
// server's VmRSS, opens N connections that each complete one request (so they have been used,
// then sit idle), reads VmRSS again, and prints the difference per connection.
//
//   idle_connections PORT SERVER_PID [connections=10000]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "loopback.hpp"

namespace {

long rss_kib(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: idle_connections PORT SERVER_PID [connections]\n");
    return 2;
  }
  const uint16_t port = static_cast<uint16_t>(std::atoi(argv[1]));
  const int pid = std::atoi(argv[2]);
  const int n = argc > 3 ? std::atoi(argv[3]) : 10000;
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  const long before = rss_kib(pid);
  const std::string req = "GET /plaintext HTTP/1.1\r\nHost: b\r\n\r\n";
  std::vector<int> fds;
  fds.reserve(static_cast<size_t>(n));
  char buf[4096];
  for (int i = 0; i < n; ++i) {
    int fd = bench::connect_to(port);
    if (fd < 0 ||
        ::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()) ||
        ::recv(fd, buf, sizeof buf, 0) <= 0) {
      std::fprintf(stderr, "idle_connections: connection %d failed\n", i);
      return 1;
    }
    fds.push_back(fd);
  }
  const long after = rss_kib(pid);
  const double per = static_cast<double>(after - before) * 1024.0 / n;
  std::printf("server RSS before %ld KiB, with %d idle connections %ld KiB\n", before, n, after);
  std::printf("RESULT idle_bytes_per_connection=%.0f connections=%d\n", per, n);
  for (int fd : fds) ::close(fd);
  return 0;
}
