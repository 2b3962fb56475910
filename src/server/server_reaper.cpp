// Freeing a server destroyed from one of its own threads (a handler, a job): that thread cannot
// wait for the server's threads, itself among them, so a thread of its own does, then frees
// it. Exit waits for such threads, for a bounded time: otherwise exit would destroy static
// objects (the program's and ours) while the server still serves with them. Exit runs atexit
// functions and static destructors in reverse order of registration, so while the server
// drains the wait is registered again before each flush of its output: it then comes before
// the destructor of any static object its code built before the program could see a result
// of that code (and so before main could return because of it).
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <thread>

#include "http/http_loop.hpp"
#include "server/server_impl.hpp"

namespace tether::detail {
namespace {

// Nothing here has a destructor: exit may run while a reaper works.
std::atomic<int> g_reaping{0};
std::atomic<int64_t> g_reaped_by_ns{0};  // steady clock: when the last one must be done

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void wait_for_reapers() {
  // Bounded: a server that cannot finish (exit called from its own loop thread, which the
  // reaper then waits for) does not hang the exit.
  while (g_reaping.load() > 0 && steady_ns() < g_reaped_by_ns.load()) {
    timespec pause{0, 5'000'000};
    nanosleep(&pause, nullptr);
  }
}

void register_wait_at_exit() {
  std::atexit(wait_for_reapers);
}

}  // namespace

void free_in_background(std::shared_ptr<ServerImpl> impl) {
  // Its drain, then the pool's, each bounded by the drain timeout; and a margin.
  const int64_t by = steady_ns() + (2 * int64_t{impl->options.drain_timeout_ms} + 2000) * 1000000;
  int64_t prev = g_reaped_by_ns.load();
  while (prev < by && !g_reaped_by_ns.compare_exchange_weak(prev, by)) {
  }
  std::atexit(wait_for_reapers);
  for (const auto& l : impl->loops()) l->find<HttpLoop>()->after_user_code(register_wait_at_exit);
  g_reaping.fetch_add(1);
  std::shared_ptr<ServerImpl> kept = impl;  // if no thread can be made, it must not die here
  try {
    std::thread([impl = std::move(impl)]() mutable {
      impl->wait();
      impl.reset();  // frees it, unless a run() that is still returning holds it too
      g_reaping.fetch_sub(1);
    }).detach();
  } catch (const std::system_error& e) {
    g_reaping.fetch_sub(1);
    // Freeing it here would free the loop this code runs on: it is left to the process.
    kept->log.write(LogLevel::Error, "cannot start the thread that frees a stopped server (%s)",
                    e.what());
    new std::shared_ptr<ServerImpl>(std::move(kept));
  }
}

}  // namespace tether::detail
