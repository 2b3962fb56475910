// ServerImpl: what a Server owns: options, routes, loops, the worker pool, the mailbox; and
// its life: start, stop, the drain barrier across loops, wait, and the order things go in.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/log.hpp"
#include "core/loop.hpp"
#include "core/worker_pool.hpp"
#include "mailbox/mailbox_peer.hpp"
#include "stream/topic_bus.hpp"
#include "tether/mailbox.hpp"
#include "tether/server.hpp"

namespace tether::detail {

class ServerImpl;

/// A server destroyed from one of its own threads cannot wait for itself: a thread of its own
/// waits and frees it. A process that exits meanwhile waits for that (bounded by the drain
/// timeout and a margin), so nothing is still serving while exit destroys static objects.
void free_in_background(std::shared_ptr<ServerImpl> impl);

class ServerImpl {
 public:
  ServerImpl() = default;
  /// After stop and wait: user closures (routes) go first, while the retired loops still
  /// exist; then the pool and the loops.
  ~ServerImpl();
  ServerImpl(const ServerImpl&) = delete;
  ServerImpl& operator=(const ServerImpl&) = delete;

  ServerOptions options;
  /// The library's messages: options.logger, or stderr. Made with the options.
  Log log;
  Router router;
  Mailbox mailbox{*this};
  /// The topics (Server::topic): shared with every Topic handle, which may outlive us.
  std::shared_ptr<TopicBus> topics = std::make_shared<TopicBus>();

  /// Adds a route before start(); throws std::logic_error once begun, std::invalid_argument
  /// for a malformed or duplicate pattern.
  void add_route(Method method, std::string_view pattern, const RouteOptions& route_options,
                 Handler handler, bool any);
  Status start(bool handle_signals);
  /// Any thread, any time; idempotent. Before start() it does nothing.
  void request_stop();
  /// Joins the loops, then gives background jobs what is left of the drain timeout. Never
  /// from one of this server's own threads (it would wait for itself).
  void wait();
  /// start() was called (and has not failed): routes are fixed.
  bool begun() const { return starting_.load(std::memory_order_acquire); }
  /// True on one of this server's loop or worker threads.
  bool on_own_thread() const;
  /// Loops, pool and port, once start() has published them (any thread); null before.
  bool running() const { return published_.load(std::memory_order_acquire); }
  const std::vector<std::unique_ptr<Loop>>& loops() const { return loops_; }
  const WorkerPool* pool() const { return pool_.get(); }
  WorkerPool* pool() { return pool_.get(); }
  uint16_t port() const { return running() ? port_ : 0; }
  /// The mailbox's loops, once running; null before.
  const MailboxPeer::Group* mailbox_group() const { return running() ? &group_ : nullptr; }

 private:
  void loop_drained();

  std::vector<std::unique_ptr<Loop>> loops_;
  MailboxPeer::Group group_;
  std::unique_ptr<WorkerPool> pool_;
  uint16_t port_ = 0;
  std::atomic<bool> starting_{false};
  std::atomic<bool> published_{false};
  std::atomic<bool> stop_requested_{false};
  std::atomic<int64_t> stop_time_ns_{0};  // steady clock, first stop request
  std::atomic<unsigned> undrained_{0};
  std::mutex wait_mu_;  // wait() from two threads joins each thread once
};

}  // namespace tether::detail
