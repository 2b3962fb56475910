#include "redis/redis_loop.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>

namespace tether::detail {

RedisLoop& RedisLoop::attach(Loop& loop) {
  return loop.attach(std::make_unique<RedisLoop>(loop));
}

RedisLoop::RedisLoop(Loop& loop) : loop_(loop) {
  loop.deadlines().add_source(this);
}

// The connections go with the loop, after close_handles freed their contexts.
RedisLoop::~RedisLoop() = default;

RedisConnection& RedisLoop::open(const RedisUrl& url, const RedisConnection::Options& options) {
  const bool running = started_.load(std::memory_order_acquire);
  if (running && !loop_.on_loop_thread()) {
    throw std::logic_error("tether: RedisLoop::open called off its loop's thread");
  }
  if (closed_) throw std::logic_error("tether: RedisLoop::open on a loop that has closed");
  conns_.push_back(std::unique_ptr<RedisConnection>(new RedisConnection(*this, url, options)));
  RedisConnection& c = *conns_.back();
  if (running) c.start();
  return c;
}

void RedisLoop::started() {
  uv_update_time(loop_.uv());  // the clock is cached: the first deadlines count from now
  started_.store(true, std::memory_order_release);
  for (size_t i = 0; i < conns_.size(); ++i) conns_[i]->start();
}

bool RedisLoop::drained() const {
  if (!due_.empty()) return false;
  for (const auto& c : conns_) {
    if (c->in_flight() > 0) return false;
  }
  return true;
}

void RedisLoop::abort() {
  for (size_t i = 0; i < conns_.size(); ++i) conns_[i]->abort();
  flush();
}

void RedisLoop::close_handles() {
  closed_ = true;
  for (size_t i = 0; i < conns_.size(); ++i) conns_[i]->shut();
  flush();
}

void RedisLoop::teardown() {
  size_t ran = 0;
  while (!due_.empty() && ran < kTeardownBudget) {
    const size_t n = flush(kTeardownBudget - ran);
    if (n == 0) break;
    ran += n;
  }
  // Past the budget: destroyed uncalled (documented in the header), and counted.
  while (!due_.empty()) {
    Event e = std::move(due_.front());
    due_.pop_front();
    if (e.kind == Event::Kind::reply && e.conn != nullptr) e.conn->counters_.dropped.add();
  }
  for (auto& c : conns_) c->teardown();
  torn_down_ = true;
}

uint64_t RedisLoop::next_deadline() const {
  if (!due_.empty()) return 0;
  uint64_t next = DeadlineTimer::kNever;
  for (const auto& c : conns_) next = std::min(next, c->next_deadline());
  return next;
}

void RedisLoop::on_deadline(uint64_t now) {
  SettleScope settle(loop_);
  for (size_t i = 0; i < conns_.size(); ++i) {
    if (conns_[i]->next_deadline() <= now) conns_[i]->on_deadline(now);
  }
  flush();
}

void RedisLoop::push(Event e) {
  due_.push_back(std::move(e));
}

void RedisLoop::schedule_flush() {
  // On the loop's next turn (the timer fires at once), never inside the call that queued it.
  // A flush under way schedules what is left when it ends.
  if (!flushing_ && !due_.empty()) loop_.deadlines().schedule(loop_.now());
}

size_t RedisLoop::flush(size_t limit) {
  if (flushing_) return 0;
  flushing_ = true;
  // What is due now, not what its callbacks add: a callback that retries a failed command
  // at once gets its answer on the next turn, so even a retry loop lets the loop go round.
  const size_t n = std::min(due_.size(), limit);
  for (size_t i = 0; i < n; ++i) {
    Event e = std::move(due_.front());
    due_.pop_front();
    run(e);
  }
  flushing_ = false;
  schedule_flush();
  if (loop_.draining() && drained()) loop_.check_drained();
  return n;
}

void RedisLoop::run(Event& e) {
  // The loop's boundary for user code: nothing thrown leaves it.
  try {
    switch (e.kind) {
      case Event::Kind::reply:
        if (e.cb) e.cb(std::move(e.result));
        break;
      case Event::Kind::message:
        e.conn->deliver_message(e.channel, e.result.reply.str);
        break;
      case Event::Kind::state:
        e.conn->deliver_state(e.up);
        break;
    }
  } catch (const std::exception& ex) {
    caught(e.conn, ex.what());
  } catch (...) {
    caught(e.conn, "an exception that is not a std::exception");
  }
}

void RedisLoop::caught(RedisConnection* conn, const char* what) {
  if (conn != nullptr) conn->counters_.callback_exceptions.add();
  loop_.counters().task_exceptions.add();
  loop_.log().write(LogLevel::Warning, "a Redis callback on loop %u threw: %s", loop_.index(),
                    what);
}

}  // namespace tether::detail
