// WorkerPool on its own: FIFO order, the bounded queue, all-or-nothing submits, shutdown,
// throwing tasks, and many producers. Every wait is bounded; nothing sleeps hoping.
#include "core/worker_pool.hpp"

#include <gtest/gtest.h>

#include "support/gate.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <vector>

#include "core/loop.hpp"

namespace {

using namespace std::chrono_literals;
using tether::detail::WorkerPool;
using tether::detail::WorkItem;

using tt::Gate;

/// A counter that can be waited on.
class Tally {
 public:
  void add() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++n_;
    }
    cv_.notify_all();
  }
  bool wait_for(int n, std::chrono::milliseconds limit = 5s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return n_ >= n; });
  }
  int get() {
    std::lock_guard<std::mutex> lock(mu_);
    return n_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

/// Polls `pred` (for counters that have no event to wait on) until it holds or `limit` passes.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 5s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

/// Offloaded work as the pool sees it: counts its runs, optionally waits for stop.
struct CountingItem final : WorkItem {
  CountingItem(std::atomic<int>* runs, std::atomic<int>* destroyed, bool wait_stop = false,
               std::atomic<bool>* saw_stop = nullptr, Tally* started = nullptr)
      : runs_(runs),
        destroyed_(destroyed),
        wait_stop_(wait_stop),
        saw_stop_(saw_stop),
        started_(started) {}
  ~CountingItem() override {
    if (destroyed_) destroyed_->fetch_add(1);
  }
  void run(std::stop_token st) noexcept override {
    runs_->fetch_add(1);
    if (started_) started_->add();
    if (wait_stop_ && saw_stop_) saw_stop_->store(tt::wait_for_stop(st));
  }
  std::atomic<int>* runs_;
  std::atomic<int>* destroyed_;
  bool wait_stop_;
  std::atomic<bool>* saw_stop_;
  Tally* started_;
};

TEST(WorkerPool, ZeroThreadsMeansOnePerHardwareThread) {
  WorkerPool pool(0, 4);
  EXPECT_EQ(pool.threads(), std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ(pool.capacity(), 4u);
}

TEST(WorkerPool, OneThreadRunsTasksInSubmissionOrder) {
  Gate gate;
  Tally started;
  std::mutex mu;
  std::vector<int> order;
  Tally done;
  WorkerPool pool(1, 100);  // after the state its tasks use: destroyed (joined) first
  // Hold the only worker so that every task below is queued before any runs.
  ASSERT_TRUE(pool.submit_background([&](std::stop_token) {
    started.add();
    gate.wait();
  }));
  ASSERT_TRUE(started.wait_for(1));
  EXPECT_EQ(pool.busy(), 1u);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(pool.submit_background([&, i](std::stop_token) {
      {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(i);
      }
      done.add();
    }));
  }
  EXPECT_EQ(pool.queued(), 50u);
  gate.open();
  ASSERT_TRUE(done.wait_for(50));
  std::vector<int> expected(50);
  std::iota(expected.begin(), expected.end(), 0);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(order, expected);
}

TEST(WorkerPool, BoundedQueueRefusesPastCapacityAndCountsShed) {
  Gate gate;
  Tally started;
  Tally ran;
  std::atomic<bool> refused_ran{false};
  WorkerPool pool(1, 3);
  ASSERT_TRUE(pool.submit_background([&](std::stop_token) {
    started.add();
    gate.wait();
  }));
  ASSERT_TRUE(started.wait_for(1));  // the blocker left the queue: all 3 slots are free
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(pool.submit_background([&](std::stop_token) { ran.add(); })) << i;
  }
  EXPECT_EQ(pool.queued(), 3u);
  EXPECT_FALSE(pool.submit_background([&](std::stop_token) { refused_ran = true; }));
  EXPECT_EQ(pool.stats().shed.load(), 1u);
  EXPECT_EQ(pool.queued(), 3u);

  gate.open();
  ASSERT_TRUE(ran.wait_for(3));
  // Room again once the queue drained.
  ASSERT_TRUE(eventually([&] { return pool.queued() == 0; }));
  ASSERT_TRUE(pool.submit_background([&](std::stop_token) { ran.add(); }));
  ASSERT_TRUE(ran.wait_for(4));
  EXPECT_EQ(ran.get(), 4);
  EXPECT_FALSE(refused_ran.load());
  EXPECT_EQ(pool.stats().shed.load(), 1u);
  EXPECT_TRUE(eventually([&] { return pool.stats().background_completed.load() == 5; }));
}

TEST(WorkerPool, SubmitIsAllOrNothing) {
  Gate gate;
  Tally started;
  Tally ran;
  std::atomic<int> item_runs{0};
  WorkerPool pool(1, 2);
  ASSERT_TRUE(pool.submit_background([&](std::stop_token) {
    started.add();
    gate.wait();
  }));
  ASSERT_TRUE(started.wait_for(1));

  // Three items never fit a queue of two, even an empty one: none is taken.
  std::vector<std::unique_ptr<WorkItem>> three;
  for (int i = 0; i < 3; ++i) three.push_back(std::make_unique<CountingItem>(&item_runs, nullptr));
  EXPECT_FALSE(pool.submit(three));
  ASSERT_EQ(three.size(), 3u);
  for (auto& it : three) EXPECT_NE(it, nullptr);
  EXPECT_EQ(pool.queued(), 0u);

  // Fill the queue; then even one item is refused and left with the caller.
  ASSERT_TRUE(pool.submit_background([&](std::stop_token) { ran.add(); }));
  ASSERT_TRUE(pool.submit_background([&](std::stop_token) { ran.add(); }));
  std::vector<std::unique_ptr<WorkItem>> one;
  one.push_back(std::make_unique<CountingItem>(&item_runs, nullptr));
  EXPECT_FALSE(pool.submit(one));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_NE(one.front(), nullptr);
  EXPECT_EQ(pool.stats().shed.load(), 2u);

  gate.open();
  ASSERT_TRUE(ran.wait_for(2));
  EXPECT_EQ(item_runs.load(), 0);
}

// Accepted items run on the workers and are handed to their home loop (never destroyed by
// the pool); shutdown asks a running item to stop. The home is a real Loop that is never
// started: post_completion only queues into its inbox.
TEST(WorkerPool, SubmittedItemsRunAndGoHomeAndShutdownStopsARunningItem) {
  std::atomic<int> runs{0};
  std::atomic<int> destroyed{0};
  std::atomic<bool> saw_stop{false};
  Tally started;
  {
    tether::detail::Loop home(0, 1000);
    {
      WorkerPool pool(2, 8);
      std::vector<std::unique_ptr<WorkItem>> items;
      for (int i = 0; i < 3; ++i)
        items.push_back(std::make_unique<CountingItem>(&runs, &destroyed));
      for (auto& it : items) it->home = &home;
      ASSERT_TRUE(pool.submit(items));
      EXPECT_TRUE(items.empty());
      ASSERT_TRUE(eventually([&] { return pool.stats().completed.load() == 3; }));
      EXPECT_EQ(runs.load(), 3);

      std::vector<std::unique_ptr<WorkItem>> waiter;
      waiter.push_back(
          std::make_unique<CountingItem>(&runs, &destroyed, true, &saw_stop, &started));
      waiter.front()->home = &home;
      ASSERT_TRUE(pool.submit(waiter));
      ASSERT_TRUE(started.wait_for(1));
      auto t0 = std::chrono::steady_clock::now();
      pool.shutdown();
      EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s)
          << "shutdown waited for the item's own bound instead of asking it to stop";
      EXPECT_TRUE(saw_stop.load());
      EXPECT_EQ(pool.stats().completed.load(), 4u);
      EXPECT_EQ(pool.stats().cancelled.load(), 1u);
      EXPECT_EQ(destroyed.load(), 0) << "completions belong to the home loop";
    }
  }
  EXPECT_EQ(destroyed.load(), 4);
}

TEST(WorkerPool, ShutdownDropsQueuedTasksAndStopsRunningOnes) {
  Tally started;
  std::atomic<bool> saw_stop{false};
  std::atomic<int> queued_ran{0};
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;
  WorkerPool pool(1, 10);
  ASSERT_TRUE(pool.submit_background([&](std::stop_token st) {
    started.add();
    saw_stop = tt::wait_for_stop(st);
  }));
  ASSERT_TRUE(started.wait_for(1));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(pool.submit_background([&queued_ran, token](std::stop_token) { ++queued_ran; }));
  }
  token.reset();
  EXPECT_EQ(pool.queued(), 5u);

  auto t0 = std::chrono::steady_clock::now();
  pool.shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s)
      << "shutdown waited for the task's own bound instead of asking it to stop";
  EXPECT_TRUE(saw_stop.load());
  EXPECT_EQ(queued_ran.load(), 0);
  EXPECT_TRUE(watch.expired()) << "dropped tasks must be destroyed";
  EXPECT_EQ(pool.queued(), 0u);
  EXPECT_EQ(pool.threads(), 0u);
  EXPECT_EQ(pool.stats().cancelled.load(), 5u);
  EXPECT_EQ(pool.stats().background_completed.load(), 1u);

  EXPECT_FALSE(pool.submit_background([&](std::stop_token) { ++queued_ran; }));
  EXPECT_EQ(pool.stats().shed.load(), 1u);
  pool.shutdown();  // idempotent
  EXPECT_EQ(queued_ran.load(), 0);
}

TEST(WorkerPool, ThrowingTasksAreCountedAndTheWorkerSurvives) {
  Tally ran;
  WorkerPool pool(1, 10);
  ASSERT_TRUE(pool.submit_background([](std::stop_token) { throw std::runtime_error("boom"); }));
  ASSERT_TRUE(pool.submit_background([](std::stop_token) { throw 42; }));
  ASSERT_TRUE(pool.submit_background([&](std::stop_token) { ran.add(); }));
  ASSERT_TRUE(ran.wait_for(1)) << "the worker died with the exception";
  EXPECT_EQ(pool.stats().failed.load(), 2u);
  EXPECT_TRUE(eventually([&] { return pool.stats().background_completed.load() == 3; }));
  EXPECT_EQ(pool.threads(), 1u);
  ASSERT_TRUE(pool.submit_background([&](std::stop_token) { ran.add(); }));
  EXPECT_TRUE(ran.wait_for(2));
}

TEST(WorkerPool, ManyProducersEveryTaskRunsExactlyOnce) {
  constexpr int kProducers = 8;
  constexpr int kEach = 1000;
  constexpr int kTotal = kProducers * kEach;
  std::vector<std::atomic<int>> runs(kTotal);
  std::atomic<int> done{0};
  std::atomic<int> refused{0};
  WorkerPool pool(4, kTotal);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int j = 0; j < kEach; ++j) {
        int idx = p * kEach + j;
        if (!pool.submit_background([&runs, &done, idx](std::stop_token) {
              runs[static_cast<size_t>(idx)].fetch_add(1);
              done.fetch_add(1);
            }))
          ++refused;
      }
    });
  }
  for (auto& t : producers) t.join();
  EXPECT_EQ(refused.load(), 0);
  ASSERT_TRUE(eventually([&] { return done.load() == kTotal; }, 30s)) << done.load();
  int wrong = 0;
  for (auto& r : runs) wrong += r.load() != 1;
  EXPECT_EQ(wrong, 0);
  EXPECT_TRUE(eventually([&] { return pool.stats().background_completed.load() == kTotal; }));
  EXPECT_EQ(pool.stats().shed.load(), 0u);
  EXPECT_EQ(pool.stats().failed.load(), 0u);
}

}  // namespace
