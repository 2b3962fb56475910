#include "tether/server.hpp"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "core/listener.hpp"
#include "core/loop.hpp"
#include "core/worker_pool.hpp"
#include "http/http_loop.hpp"
#include "server/server_impl.hpp"
#include "stream/stream_loop.hpp"
#ifdef TETHER_HAS_REDIS
#include <cstdlib>
#include <random>

#include "mailbox_redis/redis_mailbox.hpp"
#include "redis/redis_loop.hpp"
#endif

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

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Closes the port reservation of a multi-loop server once its loops listen (or failed to).
struct ReservedPort {
  int fd = -1;
  ~ReservedPort() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

ServerImpl::~ServerImpl() {
  // Routes hold user closures, which may hold Responses: they go while the loops they point
  // into still exist (retired: such a handle is dead and inert), before the pool and loops.
  router = Router();
  topics->close();  // no publisher is posting to a loop once this returns
  pool_.reset();
  group_.loops.clear();
  loops_.clear();
}

void ServerImpl::add_route(Method method, std::string_view pattern,
                           const RouteOptions& route_options, Handler handler, bool any) {
  if (begun()) throw std::logic_error("tether: routes cannot change after start()");
  if (Status s = router.add(method, pattern, route_options, std::move(handler), any); !s) {
    throw std::invalid_argument("tether: " + s.message());
  }
}

Status ServerImpl::start(bool handle_signals) {
  if (starting_.exchange(true)) return Status::error("server already started");
  if (Status s = validate(options); !s) {
    starting_ = false;
    return s;
  }
  stop_requested_.store(false);  // a stop() before start() is forgotten
  ignore_sigpipe();
  auto fail = [this](Status s) {
    starting_ = false;
    return s;
  };
#ifdef TETHER_HAS_REDIS
  const bool redis = !options.mailbox_redis.empty();
  RedisMailboxOptions redis_options;
  if (redis) {
    if (Status s = parse_redis_url(options.mailbox_redis, redis_options.url); !s) {
      return fail(Status::error("mailbox_redis: " + s.message()));
    }
    apply_redis_password_env(redis_options.url, std::getenv("TETHER_REDIS_PASSWORD"));
    redis_options.limits =
        MailboxLimits{options.mailbox_max_ids, options.mailbox_max_value_bytes,
                      options.mailbox_max_waiters_per_id, options.mailbox_ttl_ms};
    if (options.mailbox_ttl_ms == 0) {
      return fail(Status::error("mailbox_ttl_ms must be at least 1 with mailbox_redis"));
    }
    redis_options.command_timeout_ms = std::max<uint32_t>(1, options.mailbox_redis_timeout_ms);
    redis_options.transit_ms = std::max<uint32_t>(1, options.mailbox_redis_transit_ms);
    // This instance's name among those sharing the Redis: its loops' channels.
    std::random_device rd;
    char name[33];
    std::snprintf(name, sizeof name, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
    redis_options.instance = name;
  }
#else
  if (!options.mailbox_redis.empty()) {
    return fail(Status::error(
        "mailbox_redis: this build of tether has no Redis support (built with TETHER_REDIS=OFF: "
        "hiredis was not found; Debian: libhiredis-dev)"));
  }
#endif

  // Several loops share the port through SO_REUSEPORT, which would also let them share it
  // with anyone else doing the same: claim it first without SO_REUSEPORT, so a port in use
  // fails here as it does for one loop.
  const bool reuseport = options.loops > 1;
  ReservedPort reserved;
  uint16_t port = options.port;
  if (reuseport) {
    if (Status s = reserve_port(options.host, options.port, &reserved.fd, &port); !s) {
      return fail(s);
    }
  }
  std::unique_ptr<WorkerPool> pool;
  try {
    pool = std::make_unique<WorkerPool>(options.workers, options.queue, log);
  } catch (const std::system_error& e) {
    return fail(Status::error(std::string("cannot start the worker threads: ") + e.what()));
  }
  std::vector<std::unique_ptr<Loop>> made;
  uint16_t bound = 0;
  for (unsigned i = 0; i < options.loops; ++i) {
    made.push_back(std::make_unique<Loop>(i, options.drain_timeout_ms, log));
    Loop& l = *made.back();
    if (!l.init_status()) return fail(l.init_status());
    // The order of attaching is the order of stopping: connections begin to drain before
    // the mailbox ends its parked waits.
    HttpLoop& http = HttpLoop::attach(l, options, router, pool.get());
    if (!http.init_status()) return fail(http.init_status());
    MailboxPeer::attach(l,
                        MailboxLimits{options.mailbox_max_ids, options.mailbox_max_value_bytes,
                                      options.mailbox_max_waiters_per_id, options.mailbox_ttl_ms});
#ifdef TETHER_HAS_REDIS
    if (redis) RedisMailbox::attach(l, RedisLoop::attach(l), redis_options, &group_.stopping);
#endif
    StreamLoop::attach(l, http, pool.get(), topics.get());
    if (Status s = http.listen(port, reuseport, i == 0 ? &bound : nullptr); !s) return fail(s);
  }
  if (handle_signals) {
    // The signal handle belongs to loop 0, which this object owns: `this` outlives it.
    if (Status s = made.front()->watch_signals([this] { request_stop(); }); !s) {
      return fail(s);
    }
  }
  loops_ = std::move(made);
  pool_ = std::move(pool);
  port_ = bound;
  group_.loops.clear();
  group_.stopping.store(false);
  for (auto& l : loops_) group_.loops.push_back(l.get());
  undrained_.store(static_cast<unsigned>(loops_.size()));
  for (auto& l : loops_) {
    l->find<MailboxPeer>()->join_group(&group_);
    l->set_on_drained([this] { loop_drained(); });
  }
  for (size_t i = 0; i < loops_.size(); ++i) {
    try {
      loops_[i]->start();
    } catch (const std::system_error& e) {
      // The loops already running have nothing to drain yet: stop, finish and join them.
      for (size_t k = 0; k < i; ++k) {
        loops_[k]->request_stop();
        loops_[k]->request_finish();
        loops_[k]->join();
      }
      pool_->shutdown();
      loops_.clear();
      group_.loops.clear();
      pool_.reset();
      return fail(Status::error(std::string("cannot start the loop threads: ") + e.what()));
    }
  }
  published_.store(true);
  // A loop may fall this far behind on events before publishes skip it.
  topics->open(group_.loops,
               std::max<size_t>(64 * options.topic_subscriber_max_bytes, size_t{32} << 20));
  // A stop() that raced with start() found nothing published: honour it now.
  if (stop_requested_.load()) request_stop();
  return {};
}

void ServerImpl::request_stop() {
  if (!stop_requested_.exchange(true)) stop_time_ns_.store(steady_ns());
  topics->refuse();
  if (!published_.load()) return;
  group_.stopping.store(true, std::memory_order_release);  // before any loop drains
  for (auto& l : loops_) l->request_stop();
}

void ServerImpl::loop_drained() {
  // Every loop keeps its inbox open until all have drained: a request in flight on one may
  // still need another's mailbox shard.
  if (undrained_.fetch_sub(1) != 1) return;
  for (auto& l : loops_) l->request_finish();
}

bool ServerImpl::on_own_thread() const {
  if (!running()) return false;
  if (Loop* here = Loop::current()) {
    if (const MailboxPeer* peer = here->find<MailboxPeer>(); peer && peer->in_group(&group_))
      return true;
  }
  return pool_ && pool_->on_worker_thread();
}

void ServerImpl::wait() {
  if (!running()) return;
  std::lock_guard<std::mutex> lock(wait_mu_);
  for (auto& l : loops_) l->join();
  // The loops are done; background jobs queued before the stop get what is left of the
  // drain timeout, then whatever is still queued is counted and logged.
  int64_t stopped = stop_time_ns_.load();
  if (stopped == 0) stopped = steady_ns();
  const auto deadline = std::chrono::steady_clock::time_point(
      std::chrono::nanoseconds(stopped) + std::chrono::milliseconds(options.drain_timeout_ms));
  if (pool_) pool_->finish(deadline);
}

}  // namespace detail

Server::Server(ServerOptions options) : impl_(std::make_shared<detail::ServerImpl>()) {
  impl_->options = std::move(options);
  impl_->log = detail::Log(impl_->options.logger);
}

Server::~Server() {
  if (!impl_) return;
  if (impl_->on_own_thread()) {
    // Joining its own thread is impossible: the server stops, and is freed by a thread of its
    // own once its loops and workers are done.
    impl_->log.write(LogLevel::Warning,
                     "a Server was destroyed from one of its own handlers or jobs; it stops and "
                     "is freed in the background (destroy it from the thread that started it)");
    std::shared_ptr<detail::ServerImpl> impl = std::move(impl_);
    impl->request_stop();
    detail::free_in_background(std::move(impl));
    return;
  }
  impl_->request_stop();
  impl_->wait();
}

Server& Server::route(Method method, std::string_view pattern, Handler handler) {
  return route(method, pattern, RouteOptions{}, std::move(handler));
}

Server& Server::route(Method method, std::string_view pattern, RouteOptions options,
                      Handler handler) {
  impl_->add_route(method, pattern, options, std::move(handler), false);
  return *this;
}

Server& Server::any(std::string_view pattern, Handler handler) {
  return any(pattern, RouteOptions{}, std::move(handler));
}

Server& Server::any(std::string_view pattern, RouteOptions options, Handler handler) {
  impl_->add_route(Method::Get, pattern, options, std::move(handler), true);
  return *this;
}

Status Server::start() {
  return impl_->start(false);
}

void Server::stop() {
  impl_->request_stop();
}

int Server::wait() {
  if (impl_->on_own_thread()) {
    throw std::logic_error(
        "tether: Server::wait() called from one of the server's own handlers or jobs: it would "
        "wait for itself. Call stop() there, and wait() from the thread that started it");
  }
  impl_->wait();
  return 0;
}

Topic Server::topic(std::string_view name) {
  return Topic(impl_->topics, std::string(name));
}

Mailbox& Server::mailbox() {
  return impl_->mailbox;
}

bool Server::background(std::function<void(std::stop_token)> work) {
  if (!impl_->running() || !work) return false;
  return impl_->pool()->submit_background(std::move(work));
}

int Server::run() {
  // A handler may destroy this Server while run() blocks: from here on only `impl` is used.
  std::shared_ptr<detail::ServerImpl> impl = impl_;
  if (impl->on_own_thread()) {
    throw std::logic_error("tether: Server::run() called from one of the server's own threads");
  }
  if (Status s = impl->start(true); !s) {
    impl->log.write(LogLevel::Error, "%s", s.message().c_str());
    return 1;
  }
  impl->wait();
  return 0;
}

uint16_t Server::port() const {
  return impl_->port();
}

const ServerOptions& Server::options() const {
  return impl_->options;
}

ServerStats Server::stats() const {
  ServerStats s;
  s.topic_events_published = impl_->topics->published();
  s.topic_publishes_refused = impl_->topics->refused();  // refused before start too
  if (!impl_->running()) return s;
  for (const auto& l : impl_->loops()) {
    l->find<detail::HttpLoop>()->stats().add_to(s);
    s.handler_exceptions += l->counters().task_exceptions.get();
    s.responses_misused += l->anchor().misused();
    s.responses_dropped += l->anchor().dropped();
    const detail::MailboxCounters& m = l->find<detail::MailboxPeer>()->counters();
    s.mailbox_ids_stored += m.stored.get();
    s.mailbox_waiters += m.waiters.get();
    s.mailbox_delivered += m.delivered.get();
    s.mailbox_expired += m.expired.get();
    s.mailbox_refused += m.refused.get();
    s.mailbox_timed_out += m.timed_out.get();
    s.mailbox_lost += m.lost.get();
#ifdef TETHER_HAS_REDIS
    if (const detail::RedisMailbox* r = l->find<detail::RedisMailbox>()) {
      const detail::MailboxCounters& rm = r->counters();
      s.mailbox_waiters += rm.waiters.get();
      s.mailbox_delivered += rm.delivered.get();
      s.mailbox_refused += rm.refused.get();
      s.mailbox_timed_out += rm.timed_out.get();
      s.mailbox_backend_errors += r->redis_counters().errors.get();
      s.mailbox_recovered += r->redis_counters().recovered.get();
      if (!r->up()) s.mailbox_backend_up = 0;
    }
#endif
    if (const detail::StreamLoop* sl = l->find<detail::StreamLoop>()) {
      const detail::StreamCounters& c = sl->counters();
      s.stream_producers_stopped += c.producers_stopped.get();
      s.topic_subscribers += c.topics.subscribers.get();
      s.topic_deliveries += c.topics.deliveries.get();
      s.topic_subscribers_dropped += c.topics.dropped.get();
    }
    const detail::DeadlineTimer::Lateness& late = l->deadlines().lateness();
    for (unsigned b = 0; b < ServerStats::kDeadlineLateBuckets; ++b) {
      s.deadline_late[b] += late.buckets[b].get();
    }
    s.deadline_late_sum_us += late.sum_us.get();
  }
  if (const detail::WorkerPool* p = impl_->pool()) {
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
    s.background_dropped = ps.background_dropped.load(std::memory_order_relaxed);
  }
  return s;
}

}  // namespace tether
