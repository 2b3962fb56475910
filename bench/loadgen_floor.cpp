// loadgen_floor: the least CPU a keep-alive load generator can spend per request on this
// machine. One thread, level-triggered epoll, N connections each keeping one GET in flight:
// per request exactly one write(2) of a pre-built request and one read(2), no parsing, no
// timing, no bookkeeping beyond a byte count. It learns the response's length from the first
// response of each connection (status 200 and Content-Length checked there) and then counts
// bytes, so it is only valid against a route whose responses all have the same length
// (/plaintext: a fixed body and a fixed-width Date).
//
// scripts/bench.sh runs it under /usr/bin/time beside tether-load and wrk: its requests per
// CPU second are the ceiling for any generator built on epoll and loopback TCP, which is what
// the generator-efficiency ratios are read against.
//
//   loadgen_floor PORT PATH [connections=64] [seconds=5]
// prints "  N requests in S.SSs" and "Requests/sec: R" like wrk; exit 1 on any error.
#include <fcntl.h>
#include <sys/epoll.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "loopback.hpp"

namespace {

/// Reads one whole response (blocking) and returns its length in bytes; 0 when it is not a
/// 200 with a Content-Length.
size_t first_response_length(int fd) {
  std::string in;
  char buf[4096];
  for (;;) {
    const size_t head_end = in.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      if (in.compare(0, 13, "HTTP/1.1 200 ") != 0) return 0;
      const size_t cl = in.find("\r\nContent-Length: ");
      if (cl == std::string::npos || cl > head_end) return 0;
      const size_t total = head_end + 4 + std::strtoul(in.c_str() + cl + 18, nullptr, 10);
      if (in.size() >= total) return in.size() == total ? total : 0;
    }
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return 0;
    in.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: loadgen_floor PORT PATH [connections=64] [seconds=5]\n");
    return 2;
  }
  const auto port = static_cast<uint16_t>(std::atoi(argv[1]));
  const std::string request =
      std::string("GET ") + argv[2] + " HTTP/1.1\r\nHost: 127.0.0.1:" + argv[1] + "\r\n\r\n";
  const int connections = argc > 3 ? std::atoi(argv[3]) : 64;
  const int seconds = argc > 4 ? std::atoi(argv[4]) : 5;
  if (connections <= 0 || seconds <= 0) {
    std::fprintf(stderr, "loadgen_floor: connections and seconds must be positive\n");
    return 2;
  }

  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<int> fds;
  std::vector<size_t> pending;  // bytes of a response not yet complete, per connection
  size_t response_length = 0;
  for (int i = 0; i < connections; ++i) {
    const int fd = bench::connect_to(port);
    if (fd < 0 || !bench::send_all(fd, request)) {
      std::fprintf(stderr, "loadgen_floor: cannot connect to 127.0.0.1:%u\n", port);
      return 1;
    }
    const size_t length = first_response_length(fd);
    if (length == 0 || (response_length != 0 && length != response_length)) {
      std::fprintf(stderr, "loadgen_floor: %s does not answer 200 with a fixed length\n", argv[2]);
      return 1;
    }
    response_length = length;
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    fds.push_back(fd);
    pending.push_back(0);
  }

  for (int fd : fds) bench::send_all(fd, request);  // one in flight on each
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  long long done = 0;
  static char buf[1 << 16];
  epoll_event events[256];
  for (;;) {
    const int n = ::epoll_wait(ep, events, 256, 100);
    if (n < 0 && errno != EINTR) return 1;
    for (int k = 0; k < n; ++k) {
      const uint32_t i = events[k].data.u32;
      const ssize_t got = ::read(fds[i], buf, sizeof buf);
      if (got <= 0) {
        if (got < 0 && errno == EAGAIN) continue;
        std::fprintf(stderr, "loadgen_floor: the server closed a connection\n");
        return 1;
      }
      pending[i] += static_cast<size_t>(got);
      // A request goes out only once its response is whole; a short write would desync the
      // byte count, so it is an error rather than something to retry.
      for (; pending[i] >= response_length; pending[i] -= response_length) {
        ++done;
        if (::write(fds[i], request.data(), request.size()) !=
            static_cast<ssize_t>(request.size())) {
          std::fprintf(stderr, "loadgen_floor: short write\n");
          return 1;
        }
      }
    }
    if (std::chrono::steady_clock::now() >= end) break;
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("  %lld requests in %.2fs\nRequests/sec: %.2f\n", done, elapsed,
              static_cast<double>(done) / elapsed);
  for (int fd : fds) ::close(fd);
  return 0;
}
