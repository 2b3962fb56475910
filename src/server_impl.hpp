// ServerImpl: what a Server owns: options, routes, loops, the worker pool, the mailbox.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "loop.hpp"
#include "tether/mailbox.hpp"
#include "tether/server.hpp"
#include "worker_pool.hpp"

namespace tether::detail {

class ServerImpl {
 public:
  ServerOptions options;
  Router router;
  std::vector<std::unique_ptr<Loop>> loops;
  // Declared after the loops so it is destroyed first: workers post completions to loops.
  std::unique_ptr<WorkerPool> pool;
  bool started = false;
  uint16_t port = 0;

  /// Mailbox of this server; routes ids to shard_owner().
  Mailbox mailbox{*this};

  Status start(bool handle_signals, Server& server);
  /// The loop that owns the mailbox shard of `id`.
  Loop& shard_owner(std::string_view id);
};

}  // namespace tether::detail
