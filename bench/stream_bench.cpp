// Streaming benchmarks of a server on loopback (scripts/bench.sh): one fast reader of a big
// response, a reader paced at a fixed rate (the server's memory while it waits), and a big
// chunked upload (throughput and the server's memory). Prints one RESULT line.
//   stream_bench read PORT PATH                 GET PATH (Connection: close), read to EOF
//   stream_bench slow PORT PATH PID RATE SECS   read RATE bytes/s for SECS; PID's RSS growth
//   stream_bench upload PORT PID BYTES          POST /upload chunked; PID's RSS growth
//   stream_bench sse PORT PID N EVENTS           N subscribers of GET /topic/bench: PID's RSS per
//                                               open stream; then EVENTS publishes (POST), and
//                                               deliveries per second until all have them all
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "loopback.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

long status_kib(int pid, const char* field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::string key = std::string(field) + ":";
  while (std::getline(f, line)) {
    if (line.rfind(key, 0) == 0) return std::strtol(line.c_str() + key.size(), nullptr, 10);
  }
  return -1;
}

int read_all(uint16_t port, const char* path) {
  int fd = bench::connect_to(port);
  if (fd < 0) return std::fprintf(stderr, "stream_bench: cannot connect\n"), 1;
  const std::string req =
      std::string("GET ") + path + " HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
  const auto t0 = Clock::now();
  if (!bench::send_all(fd, req)) return 1;
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n <= 0) break;
    total += static_cast<uint64_t>(n);
  }
  const double s = seconds_since(t0);
  ::close(fd);
  std::printf("RESULT bytes=%llu secs=%.3f gbps=%.3f\n", static_cast<unsigned long long>(total), s,
              static_cast<double>(total) / s / 1e9);
  return 0;
}

int read_slowly(uint16_t port, const char* path, int pid, double rate, double secs) {
  int fd = bench::connect_to(port);
  if (fd < 0) return std::fprintf(stderr, "stream_bench: cannot connect\n"), 1;
  const long before = status_kib(pid, "VmRSS");
  const std::string req = std::string("GET ") + path + " HTTP/1.1\r\nHost: bench\r\n\r\n";
  if (!bench::send_all(fd, req)) return 1;
  // Ten reads a second, each of a tenth of the rate; the server's RSS sampled after each.
  const size_t step = static_cast<size_t>(rate / 10);
  std::vector<char> buf(step);
  uint64_t total = 0;
  long most = before;
  const auto t0 = Clock::now();
  for (int tick = 1; seconds_since(t0) < secs; ++tick) {
    size_t want = step;
    while (want > 0) {
      ssize_t n = ::read(fd, buf.data(), want);
      if (n <= 0) break;
      want -= static_cast<size_t>(n);
      total += static_cast<uint64_t>(n);
    }
    most = std::max(most, status_kib(pid, "VmRSS"));
    std::this_thread::sleep_until(t0 + std::chrono::milliseconds(100 * tick));
  }
  ::close(fd);
  std::printf("RESULT read_bytes=%llu rss_before_kib=%ld rss_growth_kib=%ld\n",
              static_cast<unsigned long long>(total), before, most - before);
  return 0;
}

int upload(uint16_t port, int pid, uint64_t bytes) {
  int fd = bench::connect_to(port);
  if (fd < 0) return std::fprintf(stderr, "stream_bench: cannot connect\n"), 1;
  const long before = status_kib(pid, "VmRSS");
  const long hwm_before = status_kib(pid, "VmHWM");
  constexpr size_t kChunk = 64 * 1024;
  std::string chunk;
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", kChunk);
  chunk = size_line;
  for (size_t i = 0; i < kChunk; ++i) chunk.push_back(static_cast<char>('a' + i % 26));
  chunk += "\r\n";
  const auto t0 = Clock::now();
  if (!bench::send_all(fd,
                       "POST /upload HTTP/1.1\r\nHost: bench\r\nTransfer-Encoding: "
                       "chunked\r\nConnection: close\r\n\r\n"))
    return 1;
  uint64_t sent = 0;
  long most = before;
  while (sent + kChunk <= bytes) {
    if (!bench::send_all(fd, chunk)) return std::fprintf(stderr, "stream_bench: send\n"), 1;
    sent += kChunk;
    if ((sent & ((64u << 20) - 1)) == 0) most = std::max(most, status_kib(pid, "VmRSS"));
  }
  if (!bench::send_all(fd, "0\r\n\r\n")) return 1;
  std::string answer;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  const double s = seconds_since(t0);
  ::close(fd);
  most = std::max(most, status_kib(pid, "VmRSS"));
  const long hwm = status_kib(pid, "VmHWM");
  const bool ok = answer.find("\"bytes\":" + std::to_string(sent)) != std::string::npos;
  std::printf("RESULT bytes=%llu secs=%.3f gbps=%.3f rss_growth_kib=%ld hwm_growth_kib=%ld ok=%d\n",
              static_cast<unsigned long long>(sent), s, static_cast<double>(sent) / s / 1e9,
              most - before, hwm - hwm_before, ok ? 1 : 0);
  return ok ? 0 : 1;
}

// Reads one response head from blocking `fd`; false when the connection ends first.
bool read_head(int fd, std::string& out) {
  char c;
  while (out.size() < 4 || out.compare(out.size() - 4, 4, "\r\n\r\n") != 0) {
    if (::read(fd, &c, 1) != 1) return false;
    out.push_back(c);
  }
  return true;
}

int sse(uint16_t port, int pid, int n, int events) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  struct Sub {
    int fd = -1;
    bool head = false;
    int events = 0;
    std::string head_bytes;
    char last = 0;  // an event's blank line may be split across two reads
  };
  std::vector<Sub> subs(static_cast<size_t>(n));
  const long before = status_kib(pid, "VmRSS");
  const std::string get = "GET /topic/bench HTTP/1.1\r\nHost: bench\r\n\r\n";
  int ep = epoll_create1(EPOLL_CLOEXEC);
  for (int i = 0; i < n; ++i) {
    subs[i].fd = bench::connect_to(port);
    if (subs[i].fd < 0 || !bench::send_all(subs[i].fd, get))
      return std::fprintf(stderr, "stream_bench: subscriber %d cannot connect\n", i), 1;
    ::fcntl(subs[i].fd, F_SETFL, O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, subs[i].fd, &ev);
  }
  std::vector<char> buf(1 << 16);
  std::vector<epoll_event> ready(1024);
  int heads = 0;
  long delivered = 0;
  const long want = static_cast<long>(n) * events;
  // Reads what is ready for up to `ms`; returns false on a subscriber's error.
  auto pump = [&](int ms) {
    int k = epoll_wait(ep, ready.data(), static_cast<int>(ready.size()), ms);
    for (int j = 0; j < k; ++j) {
      Sub& s = subs[ready[j].data.u32];
      for (;;) {
        ssize_t r = ::read(s.fd, buf.data(), buf.size());
        if (r == 0) return false;
        if (r < 0) break;
        size_t at = 0;
        while (!s.head && at < static_cast<size_t>(r)) {
          s.head_bytes.push_back(buf[at++]);
          if (s.head_bytes.size() >= 4 &&
              s.head_bytes.compare(s.head_bytes.size() - 4, 4, "\r\n\r\n") == 0) {
            s.head = true;
            ++heads;
          }
        }
        for (; at < static_cast<size_t>(r); ++at) {
          if (buf[at] == '\n' && s.last == '\n') {
            ++s.events;
            ++delivered;
          }
          s.last = buf[at];
        }
      }
    }
    return true;
  };
  const auto t_heads = Clock::now();
  while (heads < n && seconds_since(t_heads) < 60) {
    if (!pump(100)) return std::fprintf(stderr, "stream_bench: a subscriber was closed\n"), 1;
  }
  if (heads < n) return std::fprintf(stderr, "stream_bench: %d of %d heads\n", heads, n), 1;
  const long subscribed = status_kib(pid, "VmRSS");
  int ctl = bench::connect_to(port);
  const auto t0 = Clock::now();
  for (int e = 0; e < events; ++e) {
    const std::string body = "event " + std::to_string(e);
    if (!bench::send_all(ctl, "POST /topic/bench HTTP/1.1\r\nHost: bench\r\nContent-Length: " +
                                  std::to_string(body.size()) + "\r\n\r\n" + body))
      return 1;
    std::string head;
    if (!read_head(ctl, head) || head.compare(9, 3, "202") != 0)
      return std::fprintf(stderr, "stream_bench: publish refused: %s\n", head.c_str()), 1;
    const size_t cl = head.find("Content-Length: ");
    std::string rest(
        cl == std::string::npos ? 0 : std::strtoul(head.c_str() + cl + 16, nullptr, 10), '\0');
    for (size_t got = 0; got < rest.size();) {
      ssize_t k = ::read(ctl, rest.data() + got, rest.size() - got);
      if (k <= 0) return 1;
      got += static_cast<size_t>(k);
    }
    pump(0);
  }
  while (delivered < want && seconds_since(t0) < 60) {
    if (!pump(100)) return std::fprintf(stderr, "stream_bench: a subscriber was closed\n"), 1;
  }
  const double secs = seconds_since(t0);
  std::printf(
      "RESULT streams=%d bytes_per_stream=%.0f events=%d deliveries=%ld secs=%.3f "
      "deliveries_per_sec=%.0f\n",
      n, static_cast<double>(subscribed - before) * 1024 / n, events, delivered, secs,
      static_cast<double>(delivered) / secs);
  for (Sub& s : subs) ::close(s.fd);
  ::close(ctl);
  ::close(ep);
  return delivered == want ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "read" && argc == 4)
    return read_all(static_cast<uint16_t>(std::atoi(argv[2])), argv[3]);
  if (mode == "slow" && argc == 7) {
    return read_slowly(static_cast<uint16_t>(std::atoi(argv[2])), argv[3], std::atoi(argv[4]),
                       std::atof(argv[5]), std::atof(argv[6]));
  }
  if (mode == "upload" && argc == 5) {
    return upload(static_cast<uint16_t>(std::atoi(argv[2])), std::atoi(argv[3]),
                  std::strtoull(argv[4], nullptr, 10));
  }
  if (mode == "sse" && argc == 6) {
    return sse(static_cast<uint16_t>(std::atoi(argv[2])), std::atoi(argv[3]), std::atoi(argv[4]),
               std::atoi(argv[5]));
  }
  std::fprintf(stderr,
               "usage: stream_bench read PORT PATH | slow PORT PATH PID RATE SECS | "
               "upload PORT PID BYTES | sse PORT PID N EVENTS\n");
  return 2;
}
