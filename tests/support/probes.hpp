// Measurements of the test process for the hostile-client and overload tests: resident
// memory, CPU time of threads, open fds, the latency a well-behaved client sees, and a
// "FIGURE name=value" line (also a gtest property) for every number worth quoting.
// The server runs inside the test process, so these are the server's figures plus the small
// share of the test's own clients.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tt {

/// Prints `FIGURE name=value` and records it as a gtest property of the running test.
void figure(const std::string& name, const std::string& value);
void figure(const std::string& name, int64_t value);
void figure(const std::string& name, double value);

/// Raises the soft fd limit towards the hard one when fewer than `need` fds are allowed.
/// Returns whether at least `need` are allowed now.
bool ensure_fds(rlim_t need);

/// Number of open fds of the process, and the highest open fd number.
int open_fds();
int highest_fd();

/// Reads /proc files through fds opened up front, so that it keeps working while the
/// process has no fd to spare (fd exhaustion tests).
class ProcReader {
 public:
  ProcReader();
  ~ProcReader();
  ProcReader(const ProcReader&) = delete;
  ProcReader& operator=(const ProcReader&) = delete;

  /// VmRSS of the process, in KiB (0 when unreadable).
  int64_t rss_kb();
  /// Opens /proc/self/task/<tid>/stat of each thread for cpu_ms(); call before fds run out.
  void watch_threads(const std::vector<pid_t>& tids);
  /// User + system CPU time of a watched thread, in ms (-1 when unknown).
  int64_t cpu_ms(pid_t tid);

 private:
  int status_fd_ = -1;
  std::vector<std::pair<pid_t, int>> stat_fds_;
};

/// The local port of a connected socket (0 when unknown).
uint16_t local_port(int fd);

/// Whether the kernel lists a TCP socket with this local and remote port (/proc/net/tcp). The
/// server's end of a connection leaves the table when the client's reset reaches it, whether
/// or not the server has read the socket since: the way to know a reset has arrived without
/// asking the server.
bool tcp_socket_listed(uint16_t local, uint16_t remote);

/// Thread ids of the process now.
std::vector<pid_t> thread_ids();
/// Ids in `after` that are not in `before`.
std::vector<pid_t> new_threads(const std::vector<pid_t>& before, const std::vector<pid_t>& after);

/// Samples RSS every few ms on its own thread and keeps the peak.
class RssSampler {
 public:
  RssSampler();
  ~RssSampler();
  int64_t peak_kb() const { return peak_.load(); }
  void reset_peak(int64_t kb) { peak_.store(kb); }

 private:
  ProcReader proc_;
  std::atomic<int64_t> peak_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

/// Latencies in ms of a well-behaved client.
class Latencies {
 public:
  void add(int64_t ms);
  size_t count() const;
  int64_t max() const;
  /// The q-quantile (0 < q <= 1); 0 when empty.
  int64_t quantile(double q) const;

 private:
  mutable std::mutex mu_;
  std::vector<int64_t> v_;
};

/// A well-behaved client on its own thread: GET /plaintext on one keep-alive connection every
/// `pace_ms`, and with `fresh_every` > 0 also on a new connection every that many requests.
/// Every request must get its 200; `lost()` counts those that did not (no answer within
/// `timeout_ms`, wrong status, or a connection that failed).
class NormalClient {
 public:
  NormalClient(uint16_t port, int pace_ms = 10, int fresh_every = 0, int timeout_ms = 5000);
  ~NormalClient();
  /// Stops and joins; idempotent.
  void stop();
  uint64_t sent() const { return sent_.load(); }
  uint64_t answered() const { return answered_.load(); }
  uint64_t lost() const { return lost_.load(); }
  const Latencies& latencies() const { return lat_; }
  /// Prints the figures under `prefix` (requests, lost, max and p99 latency).
  void report(const std::string& prefix) const;

 private:
  void run(uint16_t port, int pace_ms, int fresh_every, int timeout_ms);
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> sent_{0}, answered_{0}, lost_{0};
  Latencies lat_;
  std::thread thread_;
};

#if defined(__SANITIZE_ADDRESS__)
#define TT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TT_ASAN 1
#endif
#endif
/// True when built with AddressSanitizer (memory figures are larger: shadow and quarantine).
#ifdef TT_ASAN
inline constexpr bool kAsan = true;
#else
inline constexpr bool kAsan = false;
#endif

}  // namespace tt
