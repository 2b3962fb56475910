// Server: routes plus one or more event loops serving HTTP/1.1.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string_view>

#include "tether/export.hpp"
#include "tether/mailbox.hpp"
#include "tether/options.hpp"
#include "tether/router.hpp"
#include "tether/stats.hpp"
#include "tether/status.hpp"
#include "tether/topic.hpp"

namespace tether {

namespace detail {
class ServerImpl;
}

/// An HTTP/1.1 server. Register routes, then `run()` (blocking, handles SIGINT/SIGTERM) or
/// `start()` / `stop()` / `wait()` (embedding, tests). Routes cannot change once started.
/// Several servers may live in one process; they share nothing.
class TETHER_EXPORT Server {
 public:
  explicit Server(ServerOptions options = {});
  /// Stops (gracefully) and waits, if running. From one of the server's own handlers or
  /// jobs, where waiting for itself is impossible, it logs that, asks for the stop and
  /// leaves the server to be freed by a thread of its own once its loops and workers end.
  /// The object itself is gone at once, like any deleted object: handlers still running on
  /// the server's other loops must not call it (nothing orders them with the delete). A
  /// `Mailbox&` taken from it before stays valid in those handlers until the loops end.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Adds a route; throws std::invalid_argument for a malformed or duplicate pattern or when
  /// the server is already started (a programming error, found at start-up).
  Server& route(Method method, std::string_view pattern, Handler handler);
  /// The same, with per-route settings: a body limit of its own, a streamed body.
  Server& route(Method method, std::string_view pattern, RouteOptions options, Handler handler);
  Server& get(std::string_view pattern, Handler h) {
    return route(Method::Get, pattern, std::move(h));
  }
  Server& head(std::string_view pattern, Handler h) {
    return route(Method::Head, pattern, std::move(h));
  }
  Server& post(std::string_view pattern, Handler h) {
    return route(Method::Post, pattern, std::move(h));
  }
  Server& post(std::string_view pattern, RouteOptions o, Handler h) {
    return route(Method::Post, pattern, o, std::move(h));
  }
  Server& put(std::string_view pattern, Handler h) {
    return route(Method::Put, pattern, std::move(h));
  }
  Server& put(std::string_view pattern, RouteOptions o, Handler h) {
    return route(Method::Put, pattern, o, std::move(h));
  }
  Server& del(std::string_view pattern, Handler h) {
    return route(Method::Delete, pattern, std::move(h));
  }
  Server& patch(std::string_view pattern, Handler h) {
    return route(Method::Patch, pattern, std::move(h));
  }
  Server& options(std::string_view pattern, Handler h) {
    return route(Method::Options, pattern, std::move(h));
  }
  /// A route that accepts every method.
  Server& any(std::string_view pattern, Handler h);
  Server& any(std::string_view pattern, RouteOptions o, Handler h);

  /// Binds and starts the loop threads; returns once they accept connections. Fails (with a
  /// one-line message) when the options are invalid, the address cannot be bound (a port in
  /// use by anyone, SO_REUSEPORT listeners of another process included), an event loop cannot
  /// be set up, or the server was started before.
  Status start();
  /// Asks for a graceful stop: stop accepting, finish in-flight requests, close idle
  /// connections, cut the rest after `drain_timeout_ms`. Any thread; idempotent; nothing
  /// before start().
  void stop();
  /// Blocks until every loop has stopped, then lets background jobs run for what is left of
  /// the drain timeout (those still queued are dropped, counted and logged); returns 0.
  /// Throws std::logic_error from one of the server's own handlers or jobs (it would wait for
  /// itself): call stop() there.
  int wait();
  /// start(), then serve until SIGINT or SIGTERM, then drain. Returns 0, or 1 after printing
  /// a one-line error to stderr when start() fails.
  int run();

  /// Fire-and-forget work on the worker pool, e.g. an audit log after responding. It gets a
  /// stop token and no access to any Response. Any thread. A stop lets queued and running
  /// background jobs finish within `drain_timeout_ms`; then the token is triggered and jobs
  /// still queued are dropped and counted (`background_dropped`). Returns false, and counts
  /// it as shed, when the queue is full or the server is not running.
  bool background(std::function<void(std::stop_token)> work);

  /// The mailbox (cross-request handoff by id); usable once started (its calls throw
  /// std::logic_error before).
  Mailbox& mailbox();

  /// The topic `name` of this server (server-sent events published to every stream that
  /// follows it, on every loop). Cheap; any thread, any time; see Topic.
  Topic topic(std::string_view name);

  /// The bound port (useful with port 0); 0 before start(). Any thread.
  uint16_t port() const;
  /// The options in force.
  const ServerOptions& options() const;
  /// Counters summed over all loops; any thread at any time (all zero before start(), kept
  /// after stop). Values are eventually consistent.
  ServerStats stats() const;

 private:
  // Shared with run() while it blocks and with the thread that frees a server destroyed
  // from its own handler: either may outlive this object.
  std::shared_ptr<detail::ServerImpl> impl_;
};

}  // namespace tether
