// Streaming benchmarks of a server on loopback (scripts/bench.sh): one fast reader of a big
// response, a reader paced at a fixed rate (the server's memory while it waits), and a big
// chunked upload (throughput and the server's memory). Prints one RESULT line.
//   stream_bench read PORT PATH                 GET PATH (Connection: close), read to EOF
//   stream_bench slow PORT PATH PID RATE SECS   read RATE bytes/s for SECS; PID's RSS growth
//   stream_bench upload PORT PID BYTES          POST /upload chunked; PID's RSS growth
#include <poll.h>

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
  const std::string req = std::string("GET ") + path +
                          " HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
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
  std::printf("RESULT bytes=%llu secs=%.3f gbps=%.3f\n", static_cast<unsigned long long>(total),
              s, static_cast<double>(total) / s / 1e9);
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
  if (!bench::send_all(fd, "POST /upload HTTP/1.1\r\nHost: bench\r\nTransfer-Encoding: "
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

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "read" && argc == 4) return read_all(static_cast<uint16_t>(std::atoi(argv[2])), argv[3]);
  if (mode == "slow" && argc == 7) {
    return read_slowly(static_cast<uint16_t>(std::atoi(argv[2])), argv[3], std::atoi(argv[4]),
                       std::atof(argv[5]), std::atof(argv[6]));
  }
  if (mode == "upload" && argc == 5) {
    return upload(static_cast<uint16_t>(std::atoi(argv[2])), std::atoi(argv[3]),
                  std::strtoull(argv[4], nullptr, 10));
  }
  std::fprintf(stderr,
               "usage: stream_bench read PORT PATH | slow PORT PATH PID RATE SECS | "
               "upload PORT PID BYTES\n");
  return 2;
}
