#include "tether/server.hpp"

#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "loop.hpp"
#include "server_impl.hpp"
#include "worker_pool.hpp"

namespace tether {
namespace detail {

namespace {

Status validate(const ServerOptions& o) {
  if (o.loops == 0 || o.loops > 256) return Status::error("loops must be between 1 and 256");
  if (o.max_connections == 0) return Status::error("max_connections must be at least 1");
  if (o.max_pipelined == 0) return Status::error("max_pipelined must be at least 1");
  if (o.max_head_bytes < 64) return Status::error("max_head_bytes must be at least 64");
  if (o.max_target_bytes == 0) return Status::error("max_target_bytes must be at least 1");
  if (o.max_headers == 0) return Status::error("max_headers must be at least 1");
  if (o.write_high_water == 0) return Status::error("write_high_water must be at least 1");
  if (o.queue == 0) return Status::error("queue must be at least 1");
  if (o.workers > 1024) return Status::error("workers must be at most 1024");
  if (o.server_name.find_first_of("\r\n") != std::string::npos) {
    return Status::error("server_name must not contain CR or LF");
  }
  return {};
}

void ignore_sigpipe() {
  // A write to a socket the peer has reset must come back as EPIPE, not kill the process.
  struct sigaction old {};
  if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
    std::signal(SIGPIPE, SIG_IGN);
  }
}

}  // namespace

Loop& ServerImpl::shard_owner(std::string_view id) {
  return *loops[std::hash<std::string_view>{}(id) % loops.size()];
}

Status ServerImpl::start(bool handle_signals, Server& server) {
  if (started) return Status::error("server already started");
  if (Status s = validate(options); !s) return s;
  ignore_sigpipe();
  const bool reuseport = options.loops > 1;
  auto made_pool = std::make_unique<WorkerPool>(options.workers, options.queue);
  std::vector<std::unique_ptr<Loop>> made;
  uint16_t bound = 0;
  for (unsigned i = 0; i < options.loops; ++i) {
    made.push_back(std::make_unique<Loop>(options, router, made_pool.get(), i));
    Status s =
        made.back()->listen(i == 0 ? options.port : bound, reuseport, i == 0 ? &bound : nullptr);
    if (!s) return s;
  }
  if (handle_signals) made.front()->watch_signals([&server] { server.stop(); });
  loops = std::move(made);
  pool = std::move(made_pool);
  port = bound;
  started = true;
  for (auto& l : loops) l->start();
  return {};
}

}  // namespace detail

Server::Server(ServerOptions options) : impl_(std::make_unique<detail::ServerImpl>()) {
  impl_->options = std::move(options);
}

Server::~Server() {
  if (impl_->started) {
    stop();
    wait();
  }
}

Server& Server::route(Method method, std::string_view pattern, Handler handler) {
  if (impl_->started) throw std::logic_error("tether: routes cannot change after start()");
  if (Status s = impl_->router.add(method, pattern, std::move(handler)); !s) {
    throw std::invalid_argument("tether: " + s.message());
  }
  return *this;
}

Server& Server::any(std::string_view pattern, Handler handler) {
  if (impl_->started) throw std::logic_error("tether: routes cannot change after start()");
  if (Status s = impl_->router.add(Method::Get, pattern, std::move(handler), true); !s) {
    throw std::invalid_argument("tether: " + s.message());
  }
  return *this;
}

Status Server::start() {
  return impl_->start(false, *this);
}

void Server::stop() {
  for (auto& l : impl_->loops) l->request_stop();
}

int Server::wait() {
  for (auto& l : impl_->loops) l->join();
  // The loops are done (their jobs asked to stop); now the workers can be joined.
  if (impl_->pool) impl_->pool->shutdown();
  return 0;
}

Mailbox& Server::mailbox() {
  return impl_->mailbox;
}

bool Server::background(std::function<void(std::stop_token)> work) {
  if (!impl_->pool || !work) return false;
  return impl_->pool->submit_background(std::move(work));
}

int Server::run() {
  if (Status s = impl_->start(true, *this); !s) {
    std::fprintf(stderr, "tether: %s\n", s.message().c_str());
    return 1;
  }
  return wait();
}

uint16_t Server::port() const {
  return impl_->port;
}

const ServerOptions& Server::options() const {
  return impl_->options;
}

ServerStats Server::stats() const {
  ServerStats s;
  for (const auto& l : impl_->loops) l->stats().add_to(s);
  if (const detail::WorkerPool* p = impl_->pool.get()) {
    const detail::PoolStats& ps = p->stats();
    s.workers = p->threads();
    s.workers_busy = p->busy();
    s.jobs_queued = p->queued();
    s.queue_capacity = p->capacity();
    s.jobs_completed = ps.completed.load(std::memory_order_relaxed);
    s.jobs_cancelled = ps.cancelled.load(std::memory_order_relaxed);
    s.jobs_failed = ps.failed.load(std::memory_order_relaxed);
    s.jobs_shed = ps.shed.load(std::memory_order_relaxed);
    s.background_completed = ps.background_completed.load(std::memory_order_relaxed);
  }
  for (const auto& l : impl_->loops) {
    const detail::MailboxCounters& m = l->mailbox().counters();
    s.mailbox_ids_stored += m.stored.get();
    s.mailbox_waiters += m.waiters.get();
    s.mailbox_delivered += m.delivered.get();
    s.mailbox_expired += m.expired.get();
    s.mailbox_refused += m.refused.get();
    s.mailbox_timed_out += m.timed_out.get();
  }
  return s;
}

}  // namespace tether
