// mailbox_handoff: parks N long-poll waiters on distinct ids (GET /mailbox/h-i?wait_ms=...),
// waits until the servers report them all parked, then posts the N values over a few
// pipelined connections and measures how long until every waiter holds its own value.
// Prints handoffs per second, the handoff latency (a POST written to its waiter's answer
// read: p50, p99) and how many were lost (must be 0).
//
//   mailbox_handoff PORT[,PORT2] [waiters=10000] [post_connections=8] [pipeline_depth=16]
//
// With two ports (two instances sharing a mailbox on Redis), waiter i parks on port i % 2 and
// its value is posted to the other one: every handoff crosses instances. MAILBOX_PIDS=pid[,pid...]
// adds the servers' resident memory per parked waiter (VmRSS before the waiters connect and
// once all are parked).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "loopback.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Pops one Content-Length-framed response off `buf`: status and body. False if incomplete.
bool pop_response(std::string& buf, int* status, std::string* body) {
  size_t head = buf.find("\r\n\r\n");
  if (head == std::string::npos) return false;
  size_t cl = buf.find("Content-Length: ");
  size_t n = (cl != std::string::npos && cl < head)
                 ? std::strtoull(buf.c_str() + cl + 16, nullptr, 10)
                 : 0;
  if (buf.size() < head + 4 + n) return false;
  *status = std::atoi(buf.c_str() + 9);
  *body = buf.substr(head + 4, n);
  buf.erase(0, head + 4 + n);
  return true;
}

long metric(uint16_t port, const char* name) {
  int fd = bench::connect_to(port);
  if (fd < 0) return -1;
  std::string buf;
  bench::send_all(fd, "GET /metrics HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n");
  char tmp[65536];
  ssize_t n;
  while ((n = ::recv(fd, tmp, sizeof tmp, 0)) > 0) buf.append(tmp, static_cast<size_t>(n));
  ::close(fd);
  std::string key = std::string("\n") + name + " ";
  size_t at = buf.find(key);
  return at == std::string::npos ? -1 : std::atol(buf.c_str() + at + key.size());
}

struct Conn {
  int fd = -1;
  bool waiter = false;
  int index = 0;  // waiter: its id; poster: its number
  std::string buf;
  std::vector<size_t> ids;  // poster: the ids it posts, in order
  size_t next = 0;          // poster: index into ids
  size_t in_flight = 0;
};

long rss_kib(const std::vector<int>& pids) {
  long total = 0;
  for (int pid : pids) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind("VmRSS:", 0) == 0) total += std::strtol(line.c_str() + 6, nullptr, 10);
    }
  }
  return total;
}

std::vector<long> split_numbers(const char* s) {
  std::vector<long> out;
  while (s && *s) {
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (end == s) break;
    out.push_back(v);
    s = *end == ',' ? end + 1 : end;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: mailbox_handoff PORT [waiters] [post_connections] [depth]\n");
    return 2;
  }
  std::vector<uint16_t> ports;
  for (long p : split_numbers(argv[1])) ports.push_back(static_cast<uint16_t>(p));
  std::vector<int> pids;
  for (long p : split_numbers(std::getenv("MAILBOX_PIDS"))) pids.push_back(static_cast<int>(p));
  const int waiters = argc > 2 ? std::atoi(argv[2]) : 10000;
  const int posters = argc > 3 ? std::atoi(argv[3]) : 8;
  const size_t depth = argc > 4 ? static_cast<size_t>(std::atoi(argv[4])) : 16;
  if (ports.empty() || ports.size() > 2 || (ports.size() == 2 && posters % 2 != 0)) {
    std::fprintf(stderr, "mailbox_handoff: one or two ports (two: an even number of posters)\n");
    return 2;
  }
  const size_t nports = ports.size();

  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  const long rss_before = rss_kib(pids);
  int ep = epoll_create1(0);
  std::vector<Conn> conns(static_cast<size_t>(waiters + posters));
  for (int i = 0; i < waiters; ++i) {
    Conn& c = conns[static_cast<size_t>(i)];
    c.fd = bench::connect_to(ports[static_cast<size_t>(i) % nports]);
    c.waiter = true;
    c.index = i;
    if (c.fd < 0 || !bench::send_all(c.fd, "GET /mailbox/h-" + std::to_string(i) +
                                               "?wait_ms=60000 HTTP/1.1\r\nHost: b\r\n\r\n")) {
      std::fprintf(stderr, "mailbox_handoff: waiter %d could not connect\n", i);
      return 1;
    }
    epoll_event ev{EPOLLIN, {.ptr = &c}};
    epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
  }
  // Every waiter parked before the clock starts.
  const auto park_deadline = Clock::now() + std::chrono::seconds(30);
  long parked = 0;
  auto parked_now = [&] {
    long sum = 0;
    for (uint16_t p : ports) sum += std::max(0L, metric(p, "tether_mailbox_waiters"));
    return sum;
  };
  while ((parked = parked_now()) < waiters && Clock::now() < park_deadline) {
    ::usleep(20000);  // a bounded poll of the servers' own gauges
  }
  if (parked < waiters) {
    std::fprintf(stderr, "mailbox_handoff: only %ld of %d waiters parked\n", parked, waiters);
    return 1;
  }

  const long rss_parked = rss_kib(pids);

  const auto t0 = Clock::now();
  std::vector<Clock::time_point> posted(static_cast<size_t>(waiters));
  std::vector<double> latency_ms;
  latency_ms.reserve(static_cast<size_t>(waiters));
  auto pump = [&](Conn& p) {  // keep `depth` posts in flight on a poster connection
    std::string batch;
    std::vector<size_t> sent;
    while (p.in_flight < depth && p.next < p.ids.size()) {
      const size_t id = p.ids[p.next];
      std::string v = "v-" + std::to_string(id);
      batch += "POST /mailbox/h-" + std::to_string(id) +
               " HTTP/1.1\r\nHost: b\r\nContent-Length: " + std::to_string(v.size()) + "\r\n\r\n" +
               v;
      sent.push_back(id);
      ++p.next;
      ++p.in_flight;
    }
    const auto now = Clock::now();
    for (size_t id : sent) posted[id] = now;
    return batch.empty() || bench::send_all(p.fd, batch);
  };
  for (int j = 0; j < posters; ++j) {
    Conn& p = conns[static_cast<size_t>(waiters + j)];
    // Poster j posts the ids i with i % posters == j; with two ports their waiters are all on
    // port j % 2 (posters is even), and it posts to the other one.
    p.fd = bench::connect_to(ports[static_cast<size_t>(j + (nports > 1 ? 1 : 0)) % nports]);
    p.index = j;
    for (size_t i = static_cast<size_t>(j); i < static_cast<size_t>(waiters);
         i += static_cast<size_t>(posters)) {
      p.ids.push_back(i);
    }
    epoll_event ev{EPOLLIN, {.ptr = &p}};
    epoll_ctl(ep, EPOLL_CTL_ADD, p.fd, &ev);
    if (!pump(p)) return 1;
  }

  long delivered_posts = 0, other_posts = 0, got = 0, wrong = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  std::vector<epoll_event> events(1024);
  char tmp[65536];
  while ((got + wrong < waiters || delivered_posts + other_posts < waiters) &&
         Clock::now() < deadline) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 1000);
    for (int e = 0; e < n; ++e) {
      Conn& c = *static_cast<Conn*>(events[static_cast<size_t>(e)].data.ptr);
      ssize_t r = ::recv(c.fd, tmp, sizeof tmp, 0);
      if (r <= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        continue;
      }
      c.buf.append(tmp, static_cast<size_t>(r));
      int status;
      std::string body;
      while (pop_response(c.buf, &status, &body)) {
        if (c.waiter) {
          (status == 200 && body == "v-" + std::to_string(c.index)) ? ++got : ++wrong;
          latency_ms.push_back(std::chrono::duration<double, std::milli>(
                                   Clock::now() - posted[static_cast<size_t>(c.index)])
                                   .count());
        } else {
          (status == 200) ? ++delivered_posts : ++other_posts;
          --c.in_flight;
        }
      }
      if (!c.waiter && !pump(c)) return 1;
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const long lost = waiters - got;
  std::printf("waiters parked      %d\n", waiters);
  std::printf("posts delivered     %ld (other answers: %ld)\n", delivered_posts, other_posts);
  std::printf("waiters with value  %ld (wrong: %ld)\n", got, wrong);
  std::printf("elapsed             %.3f s\n", secs);
  std::sort(latency_ms.begin(), latency_ms.end());
  auto pct = [&](double q) {
    if (latency_ms.empty()) return 0.0;
    return latency_ms[std::min(latency_ms.size() - 1,
                               static_cast<size_t>(q * static_cast<double>(latency_ms.size())))];
  };
  const double per_waiter =
      pids.empty() ? 0.0 : static_cast<double>(rss_parked - rss_before) * 1024.0 / waiters;
  std::printf("handoff latency     p50 %.2f ms, p99 %.2f ms\n", pct(0.50), pct(0.99));
  if (!pids.empty()) std::printf("rss per waiter      %.0f bytes\n", per_waiter);
  std::printf("RESULT mailbox_handoffs_per_sec=%.0f waiters=%d lost=%ld p50_ms=%.2f p99_ms=%.2f "
              "rss_per_waiter=%.0f\n",
              static_cast<double>(got) / secs, waiters, lost, pct(0.50), pct(0.99), per_waiter);
  for (Conn& c : conns) {
    if (c.fd >= 0) ::close(c.fd);
  }
  return lost == 0 && wrong == 0 && other_posts == 0 ? 0 : 1;
}
