#include "tetherd/access_log.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "tether/request.hpp"

namespace tetherd {

// One loop thread's lines: a byte ring with one producer (the loop) and one consumer (the
// writer). `head` and `tail` only grow; their difference is what is held.
struct AccessLog::Ring {
  std::unique_ptr<char[]> bytes{new char[kRingBytes]};
  std::atomic<uint64_t> head{0};  // written by the loop thread
  std::atomic<uint64_t> tail{0};  // written by the writer thread
  std::atomic<uint64_t> dropped{0};
  // Loop thread only: the line being formatted, and the current second's time text.
  std::string scratch;
  int64_t second = -1;
  char time_text[32] = {};
  size_t time_len = 0;
};

namespace {

// The log belongs to one AccessLog at a time per thread (tetherd has one; tests make several
// in turn on fresh server threads).
thread_local const AccessLog* t_owner = nullptr;
thread_local void* t_ring = nullptr;

constexpr char kHex[] = "0123456789ABCDEF";

void append_or_dash(std::string& out, std::string_view s) {
  if (s.empty())
    out.push_back('-');
  else
    AccessLog::append_escaped(out, s);
}

}  // namespace

AccessLog::AccessLog() = default;

AccessLog::~AccessLog() {
  close();
}

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string AccessLog::open(const std::string& path) {
  // Non-blocking, so that neither opening a FIFO nobody reads nor writing to a reader that
  // stopped can hang tetherd: the writer waits with poll() instead, and can give up.
  if (path == "-") {
    struct stat st {};
    if (::fstat(STDOUT_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
      // A pipe reopened through /proc is a description of our own: O_NONBLOCK on it leaves
      // the shell's (and other writers') stdout as it is.
      fd_ = ::open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      own_fd_ = fd_ >= 0;
    }
    if (fd_ < 0) fd_ = STDOUT_FILENO;
  } else {
    // A FIFO is opened for reading too (Linux allows it, and it never blocks), so that the
    // log's reader may come later; meanwhile lines wait in the pipe, then are dropped.
    struct stat st {};
    const bool fifo = ::stat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
    fd_ = ::open(path.c_str(),
                 (fifo ? O_RDWR : O_WRONLY | O_CREAT | O_APPEND) | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd_ < 0) return "tetherd: cannot open access log " + path + ": " + std::strerror(errno);
    own_fd_ = true;
  }
  thread_ = std::thread([this] { writer(); });
  return {};
}

tether::ResponseHook AccessLog::hook() {
  return [this](const tether::ResponseRecord& r) { write_line(r); };
}

void AccessLog::append_escaped(std::string& out, std::string_view s) {
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\' || ch < 0x20 || ch > 0x7e) {
      const char esc[4] = {'\\', 'x', kHex[ch >> 4], kHex[ch & 15]};
      out.append(esc, 4);
    } else {
      out.push_back(static_cast<char>(ch));
    }
  }
}

void AccessLog::append_line(std::string& out, const tether::ResponseRecord& r,
                            std::string_view time_local) {
  char num[24];
  append_or_dash(out, r.remote_address);
  out.append(" - - [").append(time_local).append("] \"");
  if (r.method.empty()) {
    out.push_back('-');
  } else {
    append_escaped(out, r.method);
    out.push_back(' ');
    append_escaped(out, r.target);
    out.append(" HTTP/");
    out.push_back(static_cast<char>('0' + r.version_major % 10));
    out.push_back('.');
    out.push_back(static_cast<char>('0' + r.version_minor % 10));
  }
  out.append("\" ");
  out.append(num, static_cast<size_t>(std::to_chars(num, num + sizeof num, r.status).ptr - num));
  out.push_back(' ');
  out.append(num,
             static_cast<size_t>(std::to_chars(num, num + sizeof num, r.body_bytes).ptr - num));
  std::string_view referer, agent;
  if (r.request) {
    referer = r.request->header("Referer").value_or("");
    agent = r.request->header("User-Agent").value_or("");
  }
  out.append(" \"");
  append_or_dash(out, referer);
  out.append("\" \"");
  append_or_dash(out, agent);
  out.append("\"\n");
}

AccessLog::Ring* AccessLog::ring_for_this_thread() {
  if (t_owner == this) return static_cast<Ring*>(t_ring);
  // Once per loop thread: the only lock a loop takes for the log.
  auto ring = std::make_unique<Ring>();
  ring->scratch.reserve(4096);
  Ring* r = ring.get();
  {
    std::lock_guard<std::mutex> lock(mu_);
    rings_.push_back(std::move(ring));
  }
  t_owner = this;
  t_ring = r;
  return r;
}

void AccessLog::write_line(const tether::ResponseRecord& rec) {
  Ring& ring = *ring_for_this_thread();
  const auto now = std::chrono::system_clock::now();
  const int64_t second =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (second != ring.second) {
    ring.second = second;
    time_t t = static_cast<time_t>(second);
    tm local{};
    localtime_r(&t, &local);
    ring.time_len =
        std::strftime(ring.time_text, sizeof ring.time_text, "%d/%b/%Y:%H:%M:%S %z", &local);
  }
  std::string& line = ring.scratch;
  line.clear();  // keeps its capacity: no allocation per line once it has grown
  append_line(line, rec, std::string_view(ring.time_text, ring.time_len));

  const uint64_t head = ring.head.load(std::memory_order_relaxed);
  const uint64_t tail = ring.tail.load(std::memory_order_acquire);
  const uint64_t held = head - tail;
  if (line.size() > kRingBytes - held || failed_.load(std::memory_order_relaxed)) {
    ring.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const size_t at = static_cast<size_t>(head % kRingBytes);
  const size_t first = std::min(line.size(), kRingBytes - at);
  std::memcpy(ring.bytes.get() + at, line.data(), first);
  std::memcpy(ring.bytes.get(), line.data() + first, line.size() - first);
  ring.head.store(head + line.size(), std::memory_order_release);
  // A quarter full: wake the writer now rather than at its next second. One wake-up per
  // crossing, not per line.
  if (held + line.size() >= kRingBytes / 4 && !wake_.exchange(true, std::memory_order_acq_rel)) {
    { std::lock_guard<std::mutex> lock(mu_); }
    cv_.notify_one();
  }
}

bool AccessLog::drain(Ring& ring) {
  const uint64_t head = ring.head.load(std::memory_order_acquire);
  uint64_t tail = ring.tail.load(std::memory_order_relaxed);
  while (tail < head) {
    const size_t at = static_cast<size_t>(tail % kRingBytes);
    const size_t len = static_cast<size_t>(head - tail);
    const size_t first = std::min(len, kRingBytes - at);
    iovec iov[2] = {{ring.bytes.get() + at, first}, {ring.bytes.get(), len - first}};
    ssize_t n = ::writev(fd_, iov, len > first ? 2 : 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN && now_ms() < give_up_at_ms_.load(std::memory_order_acquire)) {
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, 100);  // a reader that does not read: the rings fill and drop meanwhile
      continue;
    }
    if (n <= 0) {
      // A full disk or a closed pipe: say so once, and drop from now on (counted).
      if (!failed_.exchange(true)) {
        std::fprintf(stderr, "tetherd: access log write failed (%s); dropping lines from now on\n",
                     std::strerror(n < 0 ? errno : EIO));
      }
      write_failures_.fetch_add(1, std::memory_order_relaxed);
      ring.tail.store(head, std::memory_order_release);
      return false;
    }
    tail += static_cast<uint64_t>(n);
    ring.tail.store(tail, std::memory_order_release);
  }
  return true;
}

void AccessLog::writer() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait_for(lock, std::chrono::seconds(1),
                 [this] { return stopping_ || wake_.load(std::memory_order_acquire); });
    wake_.store(false, std::memory_order_release);
    const bool last = stopping_;
    std::vector<Ring*> rings;
    rings.reserve(rings_.size());
    for (auto& r : rings_) rings.push_back(r.get());
    lock.unlock();  // the file write happens with no lock a loop could want
    for (Ring* r : rings) drain(*r);
    const uint64_t lost = dropped();
    if (lost > 0 && !reported_drop_) {
      reported_drop_ = true;
      std::fprintf(stderr,
                   "tetherd: the access log writer fell behind; lines are being dropped "
                   "(logged once; the total is printed at exit)\n");
    }
    lock.lock();
    if (last) return;
  }
}

uint64_t AccessLog::dropped() const {
  uint64_t n = write_failures_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(const_cast<std::mutex&>(mu_));
  for (auto& r : rings_) n += r->dropped.load(std::memory_order_relaxed);
  return n;
}

void AccessLog::close() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  give_up_at_ms_.store(now_ms() + kCloseWaitMs, std::memory_order_release);
  cv_.notify_one();
  thread_.join();
  if (uint64_t lost = dropped(); lost > 0) {
    std::fprintf(stderr, "tetherd: %llu access log lines were dropped\n",
                 static_cast<unsigned long long>(lost));
  }
  if (own_fd_) ::close(fd_);
  fd_ = -1;
}

}  // namespace tetherd
