// latency_mix: closed-loop load against a running tetherd, recording the latency of each
// request by class. Phase 1 sends only the fast path; phase 2 sends the same fast path with a
// share of slow requests mixed in. Prints p50/p99/max of the fast requests in both phases so
// that the effect of slow work on fast requests is read off one run.
//
//   latency_mix PORT [connections=64] [seconds=5] [slow_percent=20] [slow_path=/sleep?ms=50]
//               [fast_path=/plaintext]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "loopback.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Sample {
  std::vector<double> fast_us, slow_us;
  uint64_t errors = 0;
};

// Reads one Content-Length-framed response; false on error. `buf` keeps extra bytes.
bool read_response(int fd, std::string& buf, int* status) {
  char tmp[16384];
  while (true) {
    size_t head = buf.find("\r\n\r\n");
    if (head != std::string::npos) {
      size_t cl = buf.find("Content-Length: ");
      if (cl == std::string::npos || cl > head) return false;
      size_t n = std::strtoull(buf.c_str() + cl + 16, nullptr, 10);
      if (buf.size() >= head + 4 + n) {
        *status = std::atoi(buf.c_str() + 9);
        buf.erase(0, head + 4 + n);
        return true;
      }
    }
    ssize_t r = ::recv(fd, tmp, sizeof tmp, 0);
    if (r <= 0) return false;
    buf.append(tmp, static_cast<size_t>(r));
  }
}

Sample run_phase(uint16_t port, int conns, double seconds, int slow_percent,
                 const std::string& slow, const std::string& fast) {
  Sample total;
  std::mutex mu;
  std::vector<std::thread> threads;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  for (int c = 0; c < conns; ++c) {
    threads.emplace_back([&, c] {
      Sample mine;
      std::mt19937 rng(1234 + c);
      int fd = bench::connect_to(port);
      std::string buf;
      const std::string fast_req = "GET " + fast + " HTTP/1.1\r\nHost: bench\r\n\r\n";
      const std::string slow_req = "GET " + slow + " HTTP/1.1\r\nHost: bench\r\n\r\n";
      while (fd >= 0 && Clock::now() < end) {
        bool is_slow = static_cast<int>(rng() % 100) < slow_percent;
        const std::string& req = is_slow ? slow_req : fast_req;
        auto t0 = Clock::now();
        int status = 0;
        if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()) ||
            !read_response(fd, buf, &status)) {
          ++mine.errors;
          break;
        }
        double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
        if (status != 200) ++mine.errors;
        (is_slow ? mine.slow_us : mine.fast_us).push_back(us);
      }
      if (fd >= 0) ::close(fd);
      std::lock_guard<std::mutex> lock(mu);
      total.fast_us.insert(total.fast_us.end(), mine.fast_us.begin(), mine.fast_us.end());
      total.slow_us.insert(total.slow_us.end(), mine.slow_us.begin(), mine.slow_us.end());
      total.errors += mine.errors;
    });
  }
  for (auto& t : threads) t.join();
  return total;
}

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: latency_mix PORT [conns] [seconds] [slow%%] [slow_path] [fast_path]\n");
    return 2;
  }
  uint16_t port = static_cast<uint16_t>(std::atoi(argv[1]));
  int conns = argc > 2 ? std::atoi(argv[2]) : 64;
  double secs = argc > 3 ? std::atof(argv[3]) : 5;
  int slow_pct = argc > 4 ? std::atoi(argv[4]) : 20;
  std::string slow = argc > 5 ? argv[5] : "/sleep?ms=50";
  std::string fast = argc > 6 ? argv[6] : "/plaintext";

  Sample alone = run_phase(port, conns, secs, 0, slow, fast);
  Sample mixed = run_phase(port, conns, secs, slow_pct, slow, fast);
  double a99 = pct(alone.fast_us, 99), m99 = pct(mixed.fast_us, 99);
  std::printf("%-28s %10s %10s %10s %10s %10s\n", "phase", "requests", "p50_ms", "p99_ms", "max_ms",
              "errors");
  auto row = [](const char* name, std::vector<double>& v, uint64_t errors) {
    std::printf("%-28s %10zu %10.3f %10.3f %10.3f %10llu\n", name, v.size(), pct(v, 50) / 1000,
                pct(v, 99) / 1000, v.empty() ? 0 : *std::max_element(v.begin(), v.end()) / 1000,
                static_cast<unsigned long long>(errors));
  };
  row(("fast alone " + fast).c_str(), alone.fast_us, alone.errors);
  row(("fast in mix " + fast).c_str(), mixed.fast_us, mixed.errors);
  row(("slow in mix " + slow).c_str(), mixed.slow_us, 0);
  double ratio = a99 > 0 ? m99 / a99 : 0;
  std::printf(
      "RESULT fast_p99_alone_ms=%.3f fast_p99_mixed_ms=%.3f ratio=%.2f slow_share=%d%% "
      "errors=%llu\n",
      a99 / 1000, m99 / 1000, ratio, slow_pct,
      static_cast<unsigned long long>(alone.errors + mixed.errors));
  return (alone.errors + mixed.errors) == 0 ? 0 : 1;
}
