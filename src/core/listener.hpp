// Listening sockets: resolve and bind (SO_REUSEPORT when several loops share a port), and one
// loop's Listener: accept callbacks, and the pause when the process runs out of fds.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>

#include "tether/status.hpp"

namespace tether::detail {

/// Creates a bound, non-blocking TCP socket for host:port; `fd` receives it.
Status bind_listen_socket(const std::string& host, uint16_t port, bool reuseport, int* fd);

/// Claims host:port for one server of several loops before they bind it with SO_REUSEPORT: a
/// socket bound without SO_REUSEPORT fails when anyone (another process's SO_REUSEPORT
/// listeners included) listens there, and, kept bound until the loops listen, it keeps the
/// port for them. `fd` receives it (close it once the loops listen); `bound` the port.
Status reserve_port(const std::string& host, uint16_t port, int* fd, uint16_t* bound);

/// One loop's listening socket. Out of fds with libuv's reserve fd gone, libuv would call
/// back with EMFILE in a tight loop: the listener handle is closed instead and reopened on a
/// timer from a duplicate of the socket kept for this, while new connections wait in the
/// backlog and open ones keep being served.
///
/// Lifetime: owned by its loop, used on its thread; close() before the loop closes.
class Listener {
 public:
  /// `on_connection(ctx, server)` runs for each connection to accept from `server`.
  using OnConnection = void (*)(void* ctx, uv_stream_t* server);

  Listener(uv_loop_t* loop, OnConnection on_connection, void* ctx)
      : loop_(loop), on_connection_(on_connection), ctx_(ctx) {}
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener();

  /// Binds host:port and listens. `bound` (optional) receives the port.
  Status open(const std::string& host, uint16_t port, bool reuseport, unsigned backlog,
              uint16_t* bound);
  /// Stops listening for good and lets go of the socket (the port is free once every loop's
  /// listener is closed). Idempotent.
  void close();

 private:
  static void on_accept(uv_stream_t* server, int status);
  static void on_tcp_closed(uv_handle_t* h);
  static void on_retry(uv_timer_t* t);
  void pause();
  void resume();

  uv_loop_t* loop_;
  OnConnection on_connection_;
  void* ctx_;
  uv_tcp_t tcp_{};
  uv_timer_t retry_{};
  std::string where_;
  int dup_ = -1;  // keeps the socket while the handle is closed for want of fds
  unsigned backlog_ = 0;
  bool listening_ = false;  // tcp_ is an open handle
  bool retry_open_ = false;
  bool closed_ = false;
};

}  // namespace tether::detail
