// deadline_lateness: how precisely a server answers parked mailbox waits at their deadline.
// Opens N keep-alive connections, then sends on each a `GET /mailbox/<unique id>?wait_ms=W`
// with W uniform in [min_ms, max_ms]. Nobody posts, so every wait must end with 204 at its
// deadline; lateness = (arrival - send) - W.
//
// The sends are spread evenly over `send_ms` in descending order of W, so that every wait is
// parked before the first one ends (all N at once) while the server reads a steady stream,
// not a burst: lateness then measures the deadlines, not how long the server takes to read N
// requests at once. `send_ms` 0 sends them as fast as possible in random order instead (a
// burst: waits that end while the server is still reading it are late by its intake lag).
// Prints the lateness distribution, how many waits were parked at once, and how many
// answers were not 204 or came > 1 ms early.
//
//   deadline_lateness PORT [waits=10000] [min_ms=10] [max_ms=1000] [seed=1] [send_ms=500]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "loopback.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Connections are primed in batches well under the listen backlog (4096), so the accept
// queue never overflows and no SYN waits out a retransmission second.
constexpr size_t kBatch = 256;
// While sending, arrivals are drained every this many sends: the pass takes tens of ms and
// the shortest waits end within it, so an arrival must not sit unread until the pass is over.
constexpr size_t kSendsPerPoll = 32;

struct Conn {
  int fd = -1;
  uint32_t wait_ms = 0;
  Clock::time_point sent;
  std::string buf;
  bool done = false;
  bool answered = false;  // with a 204
  int64_t late_us = 0;
};

// splitmix64: deterministic for a seed on every platform, unlike std:: distributions.
uint64_t next_random(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The server's own view, from its /metrics: the cumulative counts of its deadline timer's
// lateness histogram (tether_deadline_lateness_seconds), by upper bound in ms. Empty when the
// server has none. Read before and after the run: the difference is this run's deadlines.
std::vector<std::pair<double, uint64_t>> server_lateness(uint16_t port) {
  std::vector<std::pair<double, uint64_t>> out;
  int fd = bench::connect_to(port);
  if (fd < 0) return out;
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string text;
  if (bench::send_all(fd, "GET /metrics HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")) {
    char buf[8192];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  const std::string key = "tether_deadline_lateness_seconds_bucket{le=\"";
  for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + 1)) {
    const char* le = text.c_str() + at + key.size();
    const double bound_ms = std::strncmp(le, "+Inf", 4) == 0 ? INFINITY : std::atof(le) * 1000;
    const size_t value = text.find("} ", at);
    if (value == std::string::npos) break;
    out.emplace_back(bound_ms, std::strtoull(text.c_str() + value + 2, nullptr, 10));
  }
  return out;
}

// Pops one Content-Length-framed (or bodiless) response off `buf` and returns its status;
// 0 while incomplete.
int pop_status(std::string& buf) {
  size_t head = buf.find("\r\n\r\n");
  if (head == std::string::npos) return 0;
  size_t cl = buf.find("Content-Length: ");
  size_t n = (cl != std::string::npos && cl < head)
                 ? std::strtoull(buf.c_str() + cl + 16, nullptr, 10)
                 : 0;
  if (buf.size() < head + 4 + n) return 0;
  int status = buf.size() > 12 ? std::atoi(buf.c_str() + 9) : -1;
  buf.erase(0, head + 4 + n);
  return status > 0 ? status : -1;
}

enum class Read { Pending, Status, Closed };

// Reads what `c` has (one recv: a response fits in one segment) and reports a complete
// response (its status in *status), a connection closed before one, or neither yet.
Read read_response(Conn& c, int* status) {
  char tmp[4096];
  ssize_t r = ::recv(c.fd, tmp, sizeof tmp, MSG_DONTWAIT);
  if (r > 0) c.buf.append(tmp, static_cast<size_t>(r));
  // Even on EOF, a response that is already whole counts.
  *status = pop_status(c.buf);
  if (*status != 0) return Read::Status;
  if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    return Read::Closed;
  }
  return Read::Pending;
}

double ms(int64_t us) {
  return static_cast<double>(us) / 1000.0;
}

// Nearest-rank percentile of sorted lateness, in ms.
double pct(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0.0;
  auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return ms(sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1]);
}

// Sorted lateness of the answered waits among conns[first, last).
std::vector<int64_t> lateness(const std::vector<Conn>& conns, size_t first, size_t last) {
  std::vector<int64_t> v;
  for (size_t i = first; i < last; ++i) {
    if (conns[i].answered) v.push_back(conns[i].late_us);
  }
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: deadline_lateness PORT [waits] [min_ms] [max_ms] [seed] [send_ms]\n");
    return 2;
  }
  const uint16_t port = static_cast<uint16_t>(std::atoi(argv[1]));
  const size_t waits = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 10000;
  const uint32_t min_ms = argc > 3 ? static_cast<uint32_t>(std::strtoul(argv[3], nullptr, 10)) : 10;
  const uint32_t max_ms =
      argc > 4 ? static_cast<uint32_t>(std::strtoul(argv[4], nullptr, 10)) : 1000;
  uint64_t seed = argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 1;
  const uint32_t send_ms =
      argc > 6 ? static_cast<uint32_t>(std::strtoul(argv[6], nullptr, 10)) : 500;
  if (port == 0 || waits == 0 || min_ms > max_ms) {
    std::fprintf(stderr, "deadline_lateness: need PORT > 0, waits > 0, min_ms <= max_ms\n");
    return 2;
  }

  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur != RLIM_INFINITY && waits + 16 > rl.rlim_cur) {
    std::fprintf(stderr, "deadline_lateness: %zu waits need more fds than the limit %llu\n", waits,
                 static_cast<unsigned long long>(rl.rlim_cur));
    return 1;
  }

  // Each connection serves one /healthz first: once it is answered, the server has accepted
  // and set up the connection, so the timed pass measures the wait and not the accept.
  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(waits);
  std::vector<epoll_event> events(1024);
  const std::string prime = "GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n";
  const auto setup_deadline = Clock::now() + std::chrono::seconds(60);
  for (size_t first = 0; first < waits; first += kBatch) {
    const size_t last = std::min(waits, first + kBatch);
    for (size_t i = first; i < last; ++i) {
      Conn& c = conns[i];
      c.fd = bench::connect_to(port);
      if (c.fd < 0 || !bench::send_all(c.fd, prime)) {
        std::fprintf(stderr, "deadline_lateness: connection %zu failed\n", i);
        return 1;
      }
      epoll_event ev{EPOLLIN, {.ptr = &c}};
      epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    }
    for (size_t primed = 0; primed < last - first;) {
      if (Clock::now() > setup_deadline) {
        std::fprintf(stderr, "deadline_lateness: connections not served within 60 s\n");
        return 1;
      }
      int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
      for (int e = 0; e < n; ++e) {
        Conn& c = *static_cast<Conn*>(events[static_cast<size_t>(e)].data.ptr);
        int status = 0;
        Read r = read_response(c, &status);
        if (r == Read::Pending) continue;
        if (r == Read::Closed || status != 200) {
          std::fprintf(stderr, "deadline_lateness: priming request got %d\n", status);
          return 1;
        }
        ++primed;
      }
    }
  }

  // Requests are built before the pass, so the pass is only send(2) calls.
  std::vector<std::string> requests(waits);
  const std::string tag = std::to_string(::getpid());  // ids unique across runs, too
  std::vector<uint32_t> ws(waits);
  for (uint32_t& w : ws) {
    w = min_ms + static_cast<uint32_t>(next_random(seed) % (uint64_t{max_ms} - min_ms + 1));
  }
  if (send_ms > 0) std::sort(ws.begin(), ws.end(), std::greater<>());
  for (size_t i = 0; i < waits; ++i) {
    conns[i].wait_ms = ws[i];
    requests[i] = "GET /mailbox/dl-" + tag + "-" + std::to_string(i) +
                  "?wait_ms=" + std::to_string(conns[i].wait_ms) + " HTTP/1.1\r\nHost: b\r\n\r\n";
  }

  size_t not_204 = 0, closed = 0, unsent = 0, finished = 0;
  auto drain = [&](int timeout_ms) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), timeout_ms);
    // One timestamp for the batch, taken as soon as the kernel reports it: the closest bound
    // on when each of these responses arrived.
    const auto now = Clock::now();
    for (int e = 0; e < n; ++e) {
      Conn& c = *static_cast<Conn*>(events[static_cast<size_t>(e)].data.ptr);
      if (c.done) continue;
      int status = 0;
      Read r = read_response(c, &status);
      if (r == Read::Pending) continue;
      if (r == Read::Closed) {
        ++closed;
      } else if (status != 204) {
        ++not_204;
      } else {
        auto took = std::chrono::duration_cast<std::chrono::microseconds>(now - c.sent).count();
        c.answered = true;
        c.late_us = took - int64_t{c.wait_ms} * 1000;
      }
      c.done = true;
      ++finished;
      // Done with it, but kept open until the end: closing now would add the server's close
      // work to the loop whose deadlines are being measured.
      epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
    }
  };

  const auto server_before = server_lateness(port);
  const auto pass_start = Clock::now();
  for (size_t i = 0; i < waits; ++i) {
    Conn& c = conns[i];
    if (send_ms > 0) {
      // Paced: request i leaves at i/N of the window (reading arrivals while it waits).
      const auto due = pass_start + std::chrono::microseconds(uint64_t{send_ms} * 1000 * i / waits);
      while (Clock::now() < due) drain(0);
    }
    // Stamped before the send: the server's W cannot start earlier, so an answer that
    // arrives early is the server's doing, never the client's.
    c.sent = Clock::now();
    if (!bench::send_all(c.fd, requests[i])) {
      ++unsent;
      c.done = true;
      ++finished;
      epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
    }
    if ((i + 1) % kSendsPerPoll == 0) drain(0);
  }
  const auto pass_end = Clock::now();
  const auto deadline = pass_end + std::chrono::milliseconds(max_ms) + std::chrono::seconds(10);
  // Polled without sleeping: on a VM a halted vCPU can take milliseconds to wake, which
  // would be measured as the server's lateness (one core's worth of spinning for ~1 s).
  while (finished < waits && Clock::now() < deadline) drain(0);

  const std::vector<int64_t> late = lateness(conns, 0, waits);
  // The server's timer, free of what loopback delivery and this client's own scheduling add
  // (on a small VM those dominate the tail): the bucket bound its p99 deadline falls under.
  const auto server_after = server_lateness(port);
  double server_p99_le = -1;
  uint64_t handled = 0;
  if (!server_after.empty() && server_after.size() == server_before.size()) {
    handled = server_after.back().second - server_before.back().second;
    for (size_t b = 0; b < server_after.size() && handled > 0; ++b) {
      const uint64_t upto = server_after[b].second - server_before[b].second;
      if (static_cast<double>(upto) >= 0.99 * static_cast<double>(handled)) {
        server_p99_le = server_after[b].first;
        break;
      }
    }
  }
  const size_t answered = late.size();
  const size_t timed_out = waits - finished;
  const size_t errors = waits - answered;
  const size_t early = static_cast<size_t>(
      std::lower_bound(late.begin(), late.end(), int64_t{-1000}) - late.begin());
  std::printf("waits               %zu, W uniform in [%u, %u] ms, seed %s\n", waits, min_ms, max_ms,
              argc > 5 ? argv[5] : "1");
  // Parked at once: the waits due after the last send were all parked at that moment (if the
  // server kept up with the stream, which the first/last tenth line below tells).
  size_t parked_at_once = 0;
  for (const Conn& c : conns) {
    parked_at_once += c.sent + std::chrono::milliseconds(c.wait_ms) > pass_end;
  }
  std::printf("send pass           %.3f ms (%s), %zu waits parked at once at its end\n",
              std::chrono::duration<double, std::milli>(pass_end - pass_start).count(),
              send_ms > 0 ? "paced, longest W first" : "burst", parked_at_once);
  std::printf(
      "answered 204        %zu (other status %zu, closed %zu, send failed %zu, "
      "no answer %zu)\n",
      answered, not_204, closed, unsent, timed_out);
  if (answered > 0) {
    std::printf("lateness ms         min %.3f p50 %.3f p90 %.3f p99 %.3f max %.3f\n",
                ms(late.front()), pct(late, 0.50), pct(late, 0.90), pct(late, 0.99),
                ms(late.back()));
    // Lateness that grows with send order is the server still reading the burst, not its
    // deadline timer: the last requests are parked (and their W starts) later than sent.
    std::printf("p50 lateness ms     first tenth sent %.3f, last tenth sent %.3f\n",
                pct(lateness(conns, 0, waits / 10), 0.50),
                pct(lateness(conns, waits - waits / 10, waits), 0.50));
    // Deadlines that fell while requests were still arriving share the loop with the intake
    // burst; those after it measure the timer alone.
    std::vector<int64_t> during, after;
    for (const Conn& c : conns) {
      if (!c.answered) continue;
      (c.sent + std::chrono::milliseconds(c.wait_ms) < pass_end ? during : after)
          .push_back(c.late_us);
    }
    std::sort(during.begin(), during.end());
    std::sort(after.begin(), after.end());
    std::printf(
        "p99 lateness ms     deadline during the send pass %.3f (%zu), after it %.3f (%zu)\n",
        pct(during, 0.99), during.size(), pct(after, 0.99), after.size());
  }
  std::printf("server              %llu deadlines handled, p99 at most %g ms late\n",
              static_cast<unsigned long long>(handled), server_p99_le);
  std::printf(
      "RESULT waits=%zu parked_at_once=%zu answered=%zu errors=%zu early=%zu p50_late_ms=%.3f "
      "p99_late_ms=%.3f max_late_ms=%.3f server_p99_late_ms_le=%g\n",
      waits, parked_at_once, answered, errors, early, pct(late, 0.50), pct(late, 0.99),
      answered ? ms(late.back()) : 0.0, server_p99_le);
  for (Conn& c : conns) {
    if (c.fd >= 0) ::close(c.fd);
  }
  ::close(ep);
  return errors == 0 && early == 0 ? 0 : 1;
}
