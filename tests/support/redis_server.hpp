// RedisServer: a real redis-server (from PATH) for one test, on an ephemeral loopback port
// and in a temp dir of its own, with nothing saved to disk. It can be stopped, paused
// (SIGSTOP: the port still accepts connections, nothing answers), resumed and restarted on
// the same port; the destructor kills it and removes the dir. The child also dies with the
// test process (PR_SET_PDEATHSIG), so a crashed test leaves no server behind.
//
// Without redis-server on PATH, tests skip: TT_REQUIRE_REDIS() (scripts/setup.sh installs it,
// so CI runs them).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace tt {

class RedisServer {
 public:
  struct Options {
    std::string password;      ///< --requirepass when not empty
    bool unix_socket = false;  ///< also listen on <dir>/redis.sock
    bool persist = false;      ///< an append-only file, fsynced per write: a restart keeps data
  };

  /// The path of redis-server, or empty when it is not on PATH.
  static std::string binary();

  explicit RedisServer(Options options);
  RedisServer() : RedisServer(Options{}) {}
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  /// Starts it on a free port and waits (at most 5 s) until it answers PING. False with
  /// `error()` set when it cannot.
  bool start();
  /// SIGTERM, then SIGKILL past 2 s; waits for the process. The port is free afterwards.
  void stop();
  /// SIGSTOP / SIGCONT.
  void pause();
  void resume();
  /// stop() then start again on the same port (and socket path), waiting for PING.
  bool restart();

  bool running() const { return pid_ > 0; }
  uint16_t port() const { return port_; }
  /// "redis://127.0.0.1:<port>" (no credentials: tests add them where they mean to).
  std::string url() const;
  /// The unix socket's path (Options::unix_socket).
  std::string socket_path() const { return dir_ + "/redis.sock"; }
  const std::string& error() const { return error_; }
  /// The end of redis-server's log, for a failing test's message.
  std::string log_tail() const;

 private:
  bool launch();
  bool wait_until_answering(int timeout_ms);

  Options opts_;
  std::string bin_;
  std::string dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
  std::string error_;
};

}  // namespace tt

/// Skips the running test when redis-server is not installed.
#define TT_REQUIRE_REDIS()                                                          \
  do {                                                                              \
    if (tt::RedisServer::binary().empty()) {                                        \
      GTEST_SKIP() << "redis-server is not on PATH (scripts/setup.sh installs it)"; \
    }                                                                               \
  } while (0)
