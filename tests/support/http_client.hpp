// A raw-bytes HTTP/1.1 client over a real loopback socket, for end-to-end tests. Every wait
// is bounded by a timeout and driven by poll(2): tests wait for events, they never sleep.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tt {

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  /// Trailer fields of a chunked body. `status` is -1 when the chunked framing was malformed.
  std::vector<std::pair<std::string, std::string>> trailers;
  /// First header with this name (case-insensitive).
  std::optional<std::string> header(std::string_view name) const;
  /// Number of headers with this name.
  size_t header_count(std::string_view name) const;
};

class Client {
 public:
  /// Connects to 127.0.0.1:port; check connected().
  explicit Client(uint16_t port);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  /// Sends all bytes; false when the socket fails (e.g. the server closed it).
  bool send(std::string_view bytes);
  /// Reads one complete response (framed by Content-Length, chunked, or close). `head`: the
  /// request was HEAD, so no body follows. nullopt on timeout or when the connection ends
  /// before a complete response.
  std::optional<HttpResponse> read_response(int timeout_ms = 5000, bool head = false);
  /// True when the server closes the connection (EOF or reset) within the timeout, with no
  /// further bytes; bytes that arrive instead are kept and make it return false.
  bool wait_closed(int timeout_ms = 5000);
  /// Bytes received and not consumed by read_response.
  const std::string& buffered() const { return buf_; }
  /// Waits up to timeout_ms for any bytes; returns how many arrived (0 on timeout or EOF).
  size_t read_some(int timeout_ms);
  /// Half-close: no more bytes from us.
  void shutdown_write();
  /// Closes the socket now; with `reset`, sends RST instead of FIN (SO_LINGER 0).
  void close(bool reset = false);

 private:
  enum class Fill { Data, Eof, Timeout };
  Fill fill(int64_t deadline_ms);
  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

/// Sends `req` on `c` and reads one response (status 0 when none came within the timeout).
HttpResponse roundtrip(Client& c, const std::string& req, int timeout_ms = 5000);

/// Parses one response from the front of `buf`; on success erases it from `buf`. Returns
/// nullopt when `buf` does not hold a complete response yet (`eof`: no more bytes will come).
std::optional<HttpResponse> parse_response(std::string& buf, bool head, bool eof);

/// Milliseconds on a monotonic clock.
int64_t now_ms();

}  // namespace tt
