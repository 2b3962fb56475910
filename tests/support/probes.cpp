#include "support/probes.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>

#include "support/expectations.hpp"
#include "support/http_client.hpp"

namespace tt {

void figure(const std::string& name, const std::string& value) {
  std::cout << "FIGURE " << name << "=" << value << std::endl;
  ::testing::Test::RecordProperty(name, value);
}

void figure(const std::string& name, int64_t value) {
  figure(name, std::to_string(value));
}

void figure(const std::string& name, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", value);
  figure(name, std::string(buf));
}

bool ensure_fds(rlim_t need) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return false;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < need) {
    lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? need : std::min<rlim_t>(lim.rlim_max, need);
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return false;
  }
  return lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur >= need;
}

namespace {

// Calls `fn(int)` for every numeric entry of a /proc directory (the directory's own fd, for
// /proc/self/fd, is included).
template <typename Fn>
void numeric_entries(const char* dir, Fn fn) {
  DIR* d = ::opendir(dir);
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long v = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0') fn(static_cast<int>(v));
  }
  ::closedir(d);
}

// Reads a whole small /proc file from an fd opened earlier (pread at 0 gives fresh contents).
std::string pread_all(int fd) {
  std::string out;
  char buf[4096];
  off_t off = 0;
  while (true) {
    ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    off += n;
  }
  return out;
}

}  // namespace

int open_fds() {
  int n = 0;
  numeric_entries("/proc/self/fd", [&](int) { ++n; });
  return n - 1;  // the directory stream's own fd
}

int highest_fd() {
  int hi = -1;
  numeric_entries("/proc/self/fd", [&](int fd) { hi = std::max(hi, fd); });
  return hi;
}

std::vector<pid_t> thread_ids() {
  std::vector<pid_t> v;
  numeric_entries("/proc/self/task", [&](int tid) { v.push_back(tid); });
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<pid_t> new_threads(const std::vector<pid_t>& before, const std::vector<pid_t>& after) {
  std::vector<pid_t> v;
  for (pid_t t : after) {
    if (std::find(before.begin(), before.end(), t) == before.end()) v.push_back(t);
  }
  return v;
}

ProcReader::ProcReader() {
  status_fd_ = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
}

ProcReader::~ProcReader() {
  if (status_fd_ >= 0) ::close(status_fd_);
  for (auto& [tid, fd] : stat_fds_) ::close(fd);
}

int64_t ProcReader::rss_kb() {
  if (status_fd_ < 0) return 0;
  std::string s = pread_all(status_fd_);
  size_t p = s.find("VmRSS:");
  if (p == std::string::npos) return 0;
  return std::strtoll(s.c_str() + p + 6, nullptr, 10);
}

void ProcReader::watch_threads(const std::vector<pid_t>& tids) {
  for (pid_t tid : tids) {
    std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) stat_fds_.emplace_back(tid, fd);
  }
}

int64_t ProcReader::cpu_ms(pid_t tid) {
  for (auto& [t, fd] : stat_fds_) {
    if (t != tid) continue;
    std::string s = pread_all(fd);
    // Fields after the parenthesised name: state is field 3; utime and stime are 14 and 15.
    // (Parsed by hand: no stream, so nothing polymorphic runs while fds may be out.)
    size_t p = s.rfind(')');
    if (p == std::string::npos) return -1;
    const char* q = s.c_str() + p + 1;
    uint64_t utime = 0, stime = 0;
    for (int field = 3; field <= 15 && *q; ++field) {
      while (*q == ' ') ++q;
      char* end = nullptr;
      uint64_t v = std::strtoull(q, &end, 10);
      if (field == 14) utime = v;
      if (field == 15) stime = v;
      q = end && end != q ? end : q + 1;
      while (*q && *q != ' ') ++q;
    }
    const long hz = ::sysconf(_SC_CLK_TCK);
    return static_cast<int64_t>((utime + stime) * 1000 / static_cast<uint64_t>(hz > 0 ? hz : 100));
  }
  return -1;
}

RssSampler::RssSampler() {
  peak_ = proc_.rss_kb();
  thread_ = std::thread([this] {
    while (!stop_.load()) {
      int64_t kb = proc_.rss_kb();
      int64_t seen = peak_.load();
      while (kb > seen && !peak_.compare_exchange_weak(seen, kb)) {
      }
      ::poll(nullptr, 0, 5);
    }
  });
}

RssSampler::~RssSampler() {
  stop_ = true;
  thread_.join();
}

void Latencies::add(int64_t ms) {
  std::lock_guard<std::mutex> lock(mu_);
  v_.push_back(ms);
}

size_t Latencies::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return v_.size();
}

int64_t Latencies::max() const {
  std::lock_guard<std::mutex> lock(mu_);
  return v_.empty() ? 0 : *std::max_element(v_.begin(), v_.end());
}

int64_t Latencies::quantile(double q) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (v_.empty()) return 0;
  std::vector<int64_t> s = v_;
  std::sort(s.begin(), s.end());
  size_t i = static_cast<size_t>(q * static_cast<double>(s.size()));
  return s[std::min(i, s.size() - 1)];
}

NormalClient::NormalClient(uint16_t port, int pace_ms, int fresh_every, int timeout_ms) {
  thread_ = std::thread([=, this] { run(port, pace_ms, fresh_every, timeout_ms); });
}

NormalClient::~NormalClient() {
  stop();
}

void NormalClient::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void NormalClient::run(uint16_t port, int pace_ms, int fresh_every, int timeout_ms) {
  auto keep = std::make_unique<Client>(port);
  // One request on `c`: counted as answered (with its latency) or lost.
  auto once = [&](Client& c) {
    int64_t t0 = now_ms();
    ++sent_;
    std::optional<HttpResponse> r;
    if (c.connected() && c.send(kPlaintextRequest)) r = c.read_response(timeout_ms);
    if (r && r->status == 200 && r->body == "Hello, World!") {
      lat_.add(now_ms() - t0);
      ++answered_;
      return true;
    }
    ++lost_;
    return false;
  };
  uint64_t n = 0;
  while (!stop_.load()) {
    if (!once(*keep)) keep = std::make_unique<Client>(port);
    if (fresh_every > 0 && ++n % static_cast<uint64_t>(fresh_every) == 0) {
      Client fresh(port);
      once(fresh);
    }
    ::poll(nullptr, 0, pace_ms);
  }
}

void NormalClient::report(const std::string& prefix) const {
  figure(prefix + "_requests", static_cast<int64_t>(sent()));
  figure(prefix + "_lost", static_cast<int64_t>(lost()));
  figure(prefix + "_p50_ms", lat_.quantile(0.5));
  figure(prefix + "_p99_ms", lat_.quantile(0.99));
  figure(prefix + "_max_ms", lat_.max());
}

uint16_t local_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
  return ntohs(a.sin_port);
}

bool tcp_socket_listed(uint16_t local, uint16_t remote) {
  FILE* f = std::fopen("/proc/net/tcp", "re");
  if (f == nullptr) return false;
  char line[512];
  bool found = false;
  if (std::fgets(line, sizeof line, f) != nullptr) {  // the header line
    while (!found && std::fgets(line, sizeof line, f) != nullptr) {
      unsigned lp = 0, rp = 0, state = 0;
      if (std::sscanf(line, " %*u: %*x:%x %*x:%x %x", &lp, &rp, &state) == 3) {
        found = lp == local && rp == remote;
      }
    }
  }
  std::fclose(f);
  return found;
}

}  // namespace tt
