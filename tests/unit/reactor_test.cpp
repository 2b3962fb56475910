// The reactor alone, linked without any HTTP source (the tether_core target): its inbox, its
// deadline timer, the worker pool's completion path, its listener, extensions and the life
// cycle it drives them through. Everything the load generator and the Redis backend will
// build on, proven to work with no server in sight.
#include "core/loop.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/worker_pool.hpp"
#include "support/gate.hpp"

namespace {

using namespace std::chrono_literals;
using tether::detail::DeadlineTimer;
using tether::detail::Loop;
using tether::detail::WorkerPool;
using tether::detail::WorkItem;

constexpr uint32_t kDrainMs = 2000;

/// Runs `fn` on `loop`'s thread and waits for it (bounded).
template <class F>
auto on_loop(Loop& loop, F fn) -> decltype(fn()) {
  std::packaged_task<decltype(fn())()> task(std::move(fn));
  auto result = task.get_future();
  auto shared = std::make_shared<decltype(task)>(std::move(task));
  EXPECT_TRUE(loop.post_task([shared] { (*shared)(); }));
  EXPECT_EQ(result.wait_for(5s), std::future_status::ready);
  return result.get();
}

/// Stops a running loop and waits for its thread.
void stop_and_join(Loop& loop) {
  loop.request_stop();
  loop.join();
}

// ---------------------------------------------------------------- the inbox

TEST(Reactor, TasksFromManyThreadsRunOnTheLoopThreadInEachSendersOrder) {
  Loop loop(0, kDrainMs);
  ASSERT_TRUE(loop.init_status().ok()) << loop.init_status().message();
  loop.start();
  constexpr int kSenders = 4;
  constexpr int kEach = 2000;
  std::vector<std::vector<int>> seen(kSenders);  // loop thread only
  std::atomic<int> off_thread{0};
  std::atomic<int> ran{0};
  std::vector<std::thread> senders;
  for (int s = 0; s < kSenders; ++s) {
    senders.emplace_back([&, s] {
      for (int i = 0; i < kEach; ++i) {
        ASSERT_TRUE(loop.post_task([&, s, i] {
          if (Loop::current() != &loop || !loop.on_loop_thread()) off_thread.fetch_add(1);
          seen[s].push_back(i);
          ran.fetch_add(1, std::memory_order_release);
        }));
      }
    });
  }
  for (auto& t : senders) t.join();
  ASSERT_TRUE(
      tt::eventually([&] { return ran.load(std::memory_order_acquire) == kSenders * kEach; }));
  EXPECT_EQ(off_thread.load(), 0);
  on_loop(loop, [&] {
    for (int s = 0; s < kSenders; ++s) {
      ASSERT_EQ(seen[s].size(), static_cast<size_t>(kEach));
      for (int i = 0; i < kEach; ++i) ASSERT_EQ(seen[s][i], i) << "sender " << s;
    }
  });
  EXPECT_EQ(Loop::current(), nullptr) << "the test thread is no loop";
  stop_and_join(loop);
}

TEST(Reactor, AFinishedLoopRefusesPostsAndTheSenderKeepsWhatItSent) {
  Loop loop(0, kDrainMs);
  loop.start();
  stop_and_join(loop);  // no extension: drained at once, finishes by itself
  auto token = std::make_shared<int>(7);
  EXPECT_FALSE(loop.post_task([token] {}));
  EXPECT_EQ(token.use_count(), 1) << "a refused task is destroyed by the sender, at once";
  auto item = std::make_unique<tether::detail::TypedWorkItem<std::function<int(std::stop_token)>>>(
      [](std::stop_token) { return 1; });
  EXPECT_FALSE(loop.post_completion(std::move(item)));
}

TEST(Reactor, ATaskThatThrowsIsCountedAndTheLoopGoesOn) {
  Loop loop(0, kDrainMs);
  loop.start();
  ASSERT_TRUE(loop.post_task([] { throw std::runtime_error("boom"); }));
  EXPECT_EQ(on_loop(loop, [] { return 42; }), 42);
  EXPECT_EQ(loop.counters().task_exceptions.get(), 1u);
  stop_and_join(loop);
}

// ---------------------------------------------------------------- deadlines

/// A source with a set of deadlines; records when each was handled, on which thread.
class Deadlines final : public DeadlineTimer::Source {
 public:
  explicit Deadlines(Loop& loop) : loop_(loop) {}
  void add(uint64_t at) {
    due_.insert(at);
    loop_.deadlines().schedule(at);
  }
  uint64_t next_deadline() const override {
    return due_.empty() ? DeadlineTimer::kNever : *due_.begin();
  }
  void on_deadline(uint64_t now) override {
    while (!due_.empty() && *due_.begin() <= now) {
      loop_.deadlines().record(*due_.begin());
      std::lock_guard<std::mutex> lock(mu_);
      fired_.push_back({*due_.begin(), now, loop_.on_loop_thread()});
      due_.erase(due_.begin());
    }
    if (fired_.size() == expected_) done_.open();
  }
  struct Fired {
    uint64_t due;
    uint64_t at;
    bool on_loop_thread;
  };
  std::vector<Fired> fired() {
    std::lock_guard<std::mutex> lock(mu_);
    return fired_;
  }
  size_t expected_ = 0;
  tt::Gate done_;

 private:
  Loop& loop_;
  std::set<uint64_t> due_;  // loop thread
  std::mutex mu_;
  std::vector<Fired> fired_;
};

TEST(Reactor, DeadlinesFireOnTheLoopThreadInOrderAndNeverEarly) {
  Loop loop(0, kDrainMs);
  Deadlines source(loop);
  loop.deadlines().add_source(&source);
  source.expected_ = 3;
  loop.start();
  on_loop(loop, [&] {
    uv_update_time(loop.uv());
    const uint64_t now = loop.now();
    source.add(now + 60);
    source.add(now + 20);
    source.add(now + 40);
  });
  ASSERT_TRUE(source.done_.wait(5s));
  const auto fired = source.fired();
  ASSERT_EQ(fired.size(), 3u);
  for (size_t i = 0; i < fired.size(); ++i) {
    EXPECT_TRUE(fired[i].on_loop_thread);
    EXPECT_GE(fired[i].at, fired[i].due) << "a deadline fired early";
    if (i > 0) {
      EXPECT_LT(fired[i - 1].due, fired[i].due) << "out of order";
    }
  }
  // Each handled deadline is one sample of the lateness histogram.
  uint64_t samples = 0;
  for (const auto& b : loop.deadlines().lateness().buckets) samples += b.get();
  EXPECT_EQ(samples, 3u);
  stop_and_join(loop);
}

// ---------------------------------------------------------------- the pool's completion path

/// Takes the completions of one loop: counts them and checks the thread they arrive on.
class Completions final : public Loop::CompletionSink {
 public:
  explicit Completions(Loop& loop) : loop_(loop) {}
  void complete(std::unique_ptr<WorkItem> item) override {
    if (!loop_.on_loop_thread()) wrong_thread.fetch_add(1);
    auto* typed = static_cast<tether::detail::TypedWorkItem<Work>*>(item.get());
    sum.fetch_add(typed->result.value_or(-1000));
    count.fetch_add(1, std::memory_order_release);
  }
  using Work = std::function<int(std::stop_token)>;
  std::atomic<int> count{0};
  std::atomic<int> sum{0};
  std::atomic<int> wrong_thread{0};

 private:
  Loop& loop_;
};

TEST(Reactor, WorkFromThePoolComesBackToItsHomeLoopThread) {
  Loop a(0, kDrainMs);
  Loop b(1, kDrainMs);
  Completions to_a(a), to_b(b);
  a.set_completion_sink(&to_a);
  b.set_completion_sink(&to_b);
  a.start();
  b.start();
  {
    WorkerPool pool(2, 64);
    std::vector<std::unique_ptr<WorkItem>> items;
    for (int i = 1; i <= 20; ++i) {
      auto item = std::make_unique<tether::detail::TypedWorkItem<Completions::Work>>(
          [i](std::stop_token) { return i; });
      item->home = (i % 2) ? &a : &b;
      items.push_back(std::move(item));
    }
    ASSERT_TRUE(pool.submit(items));
    ASSERT_TRUE(tt::eventually([&] { return to_a.count.load() + to_b.count.load() == 20; }));
    pool.shutdown();
  }
  EXPECT_EQ(to_a.count.load(), 10);
  EXPECT_EQ(to_b.count.load(), 10);
  EXPECT_EQ(to_a.sum.load(), 1 + 3 + 5 + 7 + 9 + 11 + 13 + 15 + 17 + 19);
  EXPECT_EQ(to_b.sum.load(), 2 + 4 + 6 + 8 + 10 + 12 + 14 + 16 + 18 + 20);
  EXPECT_EQ(to_a.wrong_thread.load() + to_b.wrong_thread.load(), 0);
  stop_and_join(a);
  stop_and_join(b);
}

// ---------------------------------------------------------------- extensions and life cycle

/// Records the hooks the loop calls, and on which thread; holds the drain open until told.
class Recorder : public Loop::Extension {
 public:
  explicit Recorder(Loop& loop, std::vector<std::string>* log, std::mutex* mu, std::string name)
      : loop_(loop), log_(log), mu_(mu), name_(std::move(name)) {}
  void started() override { note("started"); }
  void begin_drain() override { note("begin_drain"); }
  bool drained() const override { return !busy; }
  void abort() override {
    note("abort");
    busy = false;
  }
  void settle() override { ++settles; }
  void close_handles() override { note("close_handles"); }
  void teardown() override { note("teardown"); }
  /// Ends the work the drain waits for (loop thread).
  void finish_work() {
    busy = false;
    loop_.check_drained();
  }
  bool busy = true;
  int settles = 0;
  int wrong_thread = 0;

 private:
  void note(const char* hook) {
    if (!loop_.on_loop_thread()) ++wrong_thread;
    std::lock_guard<std::mutex> lock(*mu_);
    log_->push_back(name_ + "." + hook);
  }
  Loop& loop_;
  std::vector<std::string>* log_;
  std::mutex* mu_;
  std::string name_;
};

/// More extension types: slots are per type.
class Other final : public Loop::Extension {};
struct FirstRecorder final : Recorder {
  using Recorder::Recorder;
};
struct SecondRecorder final : Recorder {
  using Recorder::Recorder;
};

TEST(Reactor, ExtensionsAreFoundByTypeAndAttachedOnce) {
  std::vector<std::string> log;  // before the loop: its extensions write here as it goes
  std::mutex mu;
  Loop loop(0, kDrainMs);
  EXPECT_EQ(loop.find<Recorder>(), nullptr);
  Recorder& r = loop.attach(std::make_unique<Recorder>(loop, &log, &mu, "r"));
  EXPECT_EQ(loop.find<Recorder>(), &r);
  EXPECT_EQ(loop.find<Other>(), nullptr);
  EXPECT_THROW(loop.attach(std::make_unique<Recorder>(loop, &log, &mu, "again")), std::logic_error);
  Other& o = loop.attach(std::make_unique<Other>());
  EXPECT_EQ(loop.find<Other>(), &o);
  r.busy = false;
}

TEST(Reactor, AStopWaitsForEveryExtensionThenFinishesAndTearsDownInAttachOrder) {
  std::vector<std::string> log;  // before the loop: its extensions write here as it goes
  std::mutex mu;
  Loop loop(0, kDrainMs);
  Recorder& first = loop.attach(std::make_unique<FirstRecorder>(loop, &log, &mu, "first"));
  Recorder& second = loop.attach(std::make_unique<SecondRecorder>(loop, &log, &mu, "second"));
  second.busy = false;
  tt::Gate drained;
  loop.set_on_drained([&] {
    drained.open();
    loop.request_finish();
  });
  loop.start();
  loop.request_stop();
  // The first extension still has work: the loop keeps running (and taking tasks).
  ASSERT_TRUE(tt::eventually([&] { return on_loop(loop, [&] { return loop.draining(); }); }));
  EXPECT_FALSE(drained.is_open());
  on_loop(loop, [&] { first.finish_work(); });
  ASSERT_TRUE(drained.wait(5s));
  loop.join();
  std::lock_guard<std::mutex> lock(mu);
  const std::vector<std::string> expected = {
      "first.started",       "second.started",       "first.begin_drain", "second.begin_drain",
      "first.close_handles", "second.close_handles", "first.teardown",    "second.teardown"};
  EXPECT_EQ(log, expected);
  EXPECT_EQ(first.wrong_thread + second.wrong_thread, 0);
  EXPECT_GT(first.settles, 0) << "the reactor settles its extensions after its callbacks";
  EXPECT_TRUE(loop.anchor().retired()) << "handles into the loop see it gone";
}

TEST(Reactor, TheDrainDeadlineAbortsWhatIsLeft) {
  std::vector<std::string> log;  // before the loop: its extensions write here as it goes
  std::mutex mu;
  Loop loop(0, /*drain_timeout_ms=*/50);
  Recorder& stuck = loop.attach(std::make_unique<Recorder>(loop, &log, &mu, "stuck"));
  loop.start();
  loop.request_stop();
  loop.join();  // finishes only because the deadline aborted the stuck extension
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_NE(std::find(log.begin(), log.end(), "stuck.abort"), log.end());
  EXPECT_EQ(log.back(), "stuck.teardown");
  EXPECT_FALSE(stuck.busy);
}

TEST(Reactor, ALoopThatNeverRanWindsDownOnTheThreadThatDestroysIt) {
  std::vector<std::string> log;
  std::mutex mu;
  {
    Loop loop(0, kDrainMs);
    loop.attach(std::make_unique<Recorder>(loop, &log, &mu, "idle"));
  }
  const std::vector<std::string> expected = {"idle.abort", "idle.close_handles", "idle.teardown"};
  EXPECT_EQ(log, expected);
}

// ---------------------------------------------------------------- the listener

TEST(Reactor, TheListenerHandsEachConnectionToItsAcceptCallbackOnTheLoopThread) {
  Loop loop(0, kDrainMs);
  struct Accepts {
    Loop* loop;
    std::atomic<int> count{0};
    std::atomic<int> wrong_thread{0};
  } accepts{&loop};
  auto on_connection = [](void* ctx, uv_stream_t* server) {
    auto* a = static_cast<Accepts*>(ctx);
    if (!a->loop->on_loop_thread()) a->wrong_thread.fetch_add(1);
    auto* client = new uv_tcp_t;
    uv_tcp_init(a->loop->uv(), client);
    if (uv_accept(server, reinterpret_cast<uv_stream_t*>(client)) == 0) a->count.fetch_add(1);
    uv_close(reinterpret_cast<uv_handle_t*>(client),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  };
  uint16_t port = 0;
  ASSERT_TRUE(loop.listen("127.0.0.1", 0, false, 16, on_connection, &accepts, &port).ok());
  ASSERT_NE(port, 0);
  loop.start();
  for (int i = 0; i < 3; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    // The server closes it: reading sees the end.
    char c;
    EXPECT_EQ(::read(fd, &c, 1), 0);
    ::close(fd);
  }
  EXPECT_EQ(accepts.count.load(), 3);
  EXPECT_EQ(accepts.wrong_thread.load(), 0);
  stop_and_join(loop);
  // A stopped loop has let go of the port.
  Loop again(1, kDrainMs);
  EXPECT_TRUE(again.listen("127.0.0.1", port, false, 16, on_connection, &accepts, nullptr).ok());
}

}  // namespace
