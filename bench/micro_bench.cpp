// Micro benchmarks of the request path with no socket: bytes in -> llhttp -> route -> handler
// -> serialized bytes out (the real Connection, fed through the loop's in-memory transport),
// plus its parts: parsing, serialization, routing, the inbox hop, a mailbox handoff. Each
// reports ns per item and heap allocations per item (counted by a replaced operator new).
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>

#include "core/loop.hpp"
#include "http/connection.hpp"
#include "http/http_loop.hpp"
#include "http/http_parser.hpp"
#include "http/http_writer.hpp"
#include "http/request_data.hpp"
#include "mailbox/mailbox_shard.hpp"
#include "tether/router.hpp"

namespace {
std::atomic<uint64_t> g_allocs{0};
}  // namespace

void* operator new(size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}

namespace {

const std::string kRequest =
    "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n";

// Reports allocations per item over the timed loop.
class AllocCounter {
 public:
  explicit AllocCounter(benchmark::State& s) : s_(s), start_(g_allocs.load()) {}
  void finish(int64_t items) {
    s_.counters["allocs_per_item"] =
        static_cast<double>(g_allocs.load() - start_) / static_cast<double>(items ? items : 1);
    s_.SetItemsProcessed(items);
  }

 private:
  benchmark::State& s_;
  uint64_t start_;
};

struct Sink {
  size_t bytes = 0;
  static void write(void* ctx, tether::detail::Connection*, const char*, size_t len) {
    static_cast<Sink*>(ctx)->bytes += len;
  }
};

// One loop (not running: everything happens on the benchmark thread) with one route and an
// in-memory connection.
struct InMemoryServer {
  tether::ServerOptions options;
  tether::Router router;
  std::unique_ptr<tether::detail::Loop> loop;
  tether::detail::Connection* conn = nullptr;
  Sink sink;

  InMemoryServer() {
    (void)router.add(tether::Method::Get, "/plaintext", [](tether::Request&, tether::Response res) {
      res.send(200, "Hello, World!", "text/plain");
    });
    loop = std::make_unique<tether::detail::Loop>(0, options.drain_timeout_ms);
    auto& http = tether::detail::HttpLoop::attach(*loop, options, router, nullptr);
    http.set_output_sink(&Sink::write, &sink);
    conn = http.open_in_memory();
  }
  ~InMemoryServer() { conn->close(); }
};

void request_path(benchmark::State& state, int depth) {
  InMemoryServer srv;
  std::string batch;
  for (int i = 0; i < depth; ++i) batch += kRequest;
  for (int i = 0; i < 100; ++i) srv.conn->feed(batch.data(), batch.size());  // warm the pools
  const size_t before = srv.sink.bytes;
  AllocCounter allocs(state);
  for (auto _ : state) srv.conn->feed(batch.data(), batch.size());
  allocs.finish(static_cast<int64_t>(state.iterations()) * depth);
  if (srv.sink.bytes == before) state.SkipWithError("no response bytes");
}

void BM_RequestPath_Single(benchmark::State& state) {
  request_path(state, 1);
}
BENCHMARK(BM_RequestPath_Single);

void BM_RequestPath_Pipelined16(benchmark::State& state) {
  request_path(state, 16);
}
BENCHMARK(BM_RequestPath_Pipelined16);

void BM_ParsePipelined16(benchmark::State& state) {
  std::string batch;
  for (int i = 0; i < 16; ++i) batch += kRequest;
  tether::detail::ParseLimits limits;
  tether::detail::RequestParser parser(limits);
  tether::detail::RequestData data;
  parser.set_target(&data);
  int64_t messages = 0;
  AllocCounter allocs(state);
  for (auto _ : state) {
    const char* p = batch.data();
    const char* end = p + batch.size();
    while (p < end) {
      auto step = parser.execute(p, end);
      if (step.event != tether::detail::ParseEvent::Message) state.SkipWithError("parse failed");
      p = step.next;
      ++messages;
    }
  }
  allocs.finish(messages);
}
BENCHMARK(BM_ParsePipelined16);

void BM_SerializeResponse(benchmark::State& state) {
  std::string out;
  out.reserve(4096);
  tether::detail::ResponseParts parts;
  parts.body = "Hello, World!";
  parts.content_type = "text/plain";
  parts.date_line = "Date: Mon, 23 Nov 2026 10:00:00 GMT\r\n";
  parts.server_line = "Server: tether\r\n";
  AllocCounter allocs(state);
  for (auto _ : state) {
    out.clear();
    tether::detail::append_response(out, parts);
    benchmark::DoNotOptimize(out.data());
  }
  allocs.finish(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_SerializeResponse);

void BM_RouterLookup50(benchmark::State& state) {
  tether::Router router;
  std::vector<std::string> paths;
  for (int i = 0; i < 25; ++i) {
    std::string base = "/api/v1/resource" + std::to_string(i);
    (void)router.add(tether::Method::Get, base, [](tether::Request&, tether::Response) {});
    (void)router.add(tether::Method::Get, base + "/{id}/items/{item}",
                     [](tether::Request&, tether::Response) {});
    paths.push_back(base);
    paths.push_back(base + "/42/items/7");
  }
  tether::RouteMatch m;
  size_t i = 0;
  AllocCounter allocs(state);
  for (auto _ : state) {
    bool found = router.match(tether::Method::Get, paths[i++ % paths.size()], m);
    benchmark::DoNotOptimize(found);
  }
  allocs.finish(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_RouterLookup50);

// A message from another thread to a running loop and back: what every offload completion
// pays (inbox push + uv_async wake-up + drain).
void BM_InboxRoundTrip(benchmark::State& state) {
  tether::detail::Loop loop(0, 1000);
  loop.start();
  std::atomic<uint64_t> done{0};
  uint64_t sent = 0;
  AllocCounter allocs(state);
  for (auto _ : state) {
    ++sent;
    loop.post_task([&done] { done.fetch_add(1, std::memory_order_release); });
    while (done.load(std::memory_order_acquire) != sent) {
    }
  }
  allocs.finish(static_cast<int64_t>(state.iterations()));
  loop.request_stop();
  loop.join();
}
BENCHMARK(BM_InboxRoundTrip)->UseRealTime();

void BM_MailboxWaitThenPost(benchmark::State& state) {
  tether::detail::MailboxShard shard(tether::detail::MailboxLimits{});
  std::string value(32, 'v');
  uint64_t taken = 0, token = 0;
  AllocCounter allocs(state);
  for (auto _ : state) {
    const tether::detail::CallRef waiter{0, ++token};
    shard.wait("order-42", true, waiter, 0);
    auto posted = shard.post("order-42", value, 0, tether::detail::CallRef{0, token});
    if (posted.offer && shard.confirm(posted.offer->transit)) ++taken;
  }
  allocs.finish(static_cast<int64_t>(state.iterations()));
  if (taken != static_cast<uint64_t>(state.iterations())) state.SkipWithError("handoff lost");
}
BENCHMARK(BM_MailboxWaitThenPost);

}  // namespace

BENCHMARK_MAIN();
