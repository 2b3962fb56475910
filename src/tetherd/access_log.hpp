// tetherd's access log (--access-log PATH|-): nginx's combined format, written without
// blocking an event loop. Each loop thread formats its lines into a ring of its own (no lock:
// one writer, the loop; one reader, the log's thread); the log's thread writes what the rings
// hold when one is a quarter full, at least once a second, and all of it at close(). A ring
// that is full drops the line and counts it: memory stays bounded when the disk is slow.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tether/response_record.hpp"

namespace tetherd {

class AccessLog {
 public:
  /// Bytes of the ring each loop thread formats into; a line that does not fit is dropped.
  static constexpr size_t kRingBytes = 1 << 20;
  /// At exit, how long the writer waits for a reader that does not read before dropping.
  static constexpr int64_t kCloseWaitMs = 2000;

  AccessLog();
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  /// Opens `path` for appending ("-": standard output) and starts the writer thread. Returns
  /// a one-line error ("" on success).
  std::string open(const std::string& path);
  /// The hook for ServerOptions::on_response; valid until close().
  tether::ResponseHook hook();
  /// Writes everything the rings hold, stops the writer, closes the file. Call once the
  /// server has stopped (no loop calls the hook any more).
  void close();

  /// Lines dropped because a ring was full (the writer fell behind) or the file failed.
  uint64_t dropped() const;

  /// Appends `s` escaped as nginx does in a log line: '"', '\' and bytes outside 0x20..0x7e as
  /// \xHH. Exposed for the unit test.
  static void append_escaped(std::string& out, std::string_view s);
  /// Appends one combined-format line (with its newline) for `r`; `time_local` is
  /// "10/Oct/2000:13:55:36 -0700".
  static void append_line(std::string& out, const tether::ResponseRecord& r,
                          std::string_view time_local);

 private:
  struct Ring;
  void write_line(const tether::ResponseRecord& r);
  Ring* ring_for_this_thread();
  void writer();
  /// Writes what `ring` holds; false once the file has failed.
  bool drain(Ring& ring);

  int fd_ = -1;
  bool own_fd_ = false;
  std::thread thread_;
  std::mutex mu_;  // rings_ and the writer's sleep; never taken per line
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Ring>> rings_;
  bool stopping_ = false;
  std::atomic<bool> wake_{false};
  std::atomic<bool> failed_{false};
  /// Set by close(): past it the writer stops waiting for a reader that does not read (a
  /// pipe, a FIFO) and drops what is left, so that a stuck reader cannot hold the exit.
  std::atomic<int64_t> give_up_at_ms_{INT64_MAX};
  std::atomic<uint64_t> write_failures_{0};
  bool reported_drop_ = false;
};

}  // namespace tetherd
