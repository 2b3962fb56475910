// big_body_rss: peak resident memory of a server that answers one request with a big body
// built in the handler and handed to Response::send as an rvalue (`send(200, std::move(b))`:
// moved into the connection's output when the library can take it, copied otherwise).
// Server and client share the process; the client reads with a fixed 64 KiB buffer, so the
// peak is the body plus what the library holds on to while the socket drains.
//
//   big_body_rss [megabytes=50]
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "loopback.hpp"
#include "tether/tether.hpp"

namespace {

long peak_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t mb = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 50;
  const size_t bytes = mb * 1024 * 1024;
  tether::Server server({.host = "127.0.0.1", .port = 0, .loops = 1, .workers = 1});
  server.get("/big", [bytes](tether::Request&, tether::Response res) {
    std::string body(bytes, 'x');
    res.send(200, std::move(body), "application/octet-stream");
  });
  if (!server.start()) return 1;
  const long before = peak_rss_kib();
  size_t got = 0;
  std::thread client([&] {
    int fd = bench::connect_to(server.port());
    if (fd < 0 || !bench::send_all(fd, "GET /big HTTP/1.1\r\nHost: b\r\n\r\n")) return;
    static char buf[64 * 1024];
    // Head plus body: the head is well under 1 KiB.
    while (got < bytes) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    ::close(fd);
  });
  client.join();
  server.stop();
  server.wait();
  const long peak = peak_rss_kib();
  std::printf("RESULT body_mb=%zu received=%zu peak_rss_mb=%.1f start_rss_mb=%.1f\n", mb, got,
              peak / 1024.0, before / 1024.0);
  return got >= bytes ? 0 : 1;
}
