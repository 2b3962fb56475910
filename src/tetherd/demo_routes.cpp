#include "tetherd/demo_routes.hpp"

#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tetherd/query_number.hpp"
#include "tetherd/stream_routes.hpp"
#include "tetherd/upload_route.hpp"

namespace tetherd {
namespace {

using Clock = std::chrono::steady_clock;

// About `ms` of CPU on the calling (worker) thread; returns early when stop is requested.
uint64_t burn_cpu(uint32_t ms, std::stop_token st) {
  const auto until = Clock::now() + std::chrono::milliseconds(ms);
  uint64_t x = 0x9e3779b97f4a7c15ull, rounds = 0;
  while (Clock::now() < until && !st.stop_requested()) {
    for (int i = 0; i < 1000; ++i) x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    ++rounds;
  }
  return rounds ^ (x & 1);
}

}  // namespace

void add_demo_routes(tether::Server& server, const DemoSettings& settings) {
  server.get("/plaintext", [](tether::Request&, tether::Response res) {
    res.send(200, "Hello, World!", "text/plain");
  });
  server.get("/json", [](tether::Request&, tether::Response res) {
    res.send(200, R"({"message":"Hello, World!"})", "application/json");
  });
  server.get("/healthz",
             [](tether::Request&, tether::Response res) { res.send(200, "ok\n", "text/plain"); });
  server.any("/", [](tether::Request& req, tether::Response res) {
    std::string_view type = req.header("content-type").value_or("application/octet-stream");
    res.send(200, req.body(), type);
  });

  // CPU work of about ms milliseconds on the worker pool; stops early if the client leaves.
  server.get("/work", [](tether::Request& req, tether::Response res) {
    auto ms = query_number<uint32_t>(req, "ms", 10, 60000);
    if (!ms) return void(res.send(400, "ms must be an integer 0..60000\n"));
    res.offload([ms = *ms](std::stop_token st) { return burn_cpu(ms, st); },
                [](tether::Response r, uint64_t rounds) {
                  r.send(200, "{\"rounds\":" + std::to_string(rounds) + "}", "application/json");
                });
  });
  // A blocking call of ms milliseconds on the worker pool (a slow database or file read).
  server.get("/sleep", [](tether::Request& req, tether::Response res) {
    auto ms = query_number<uint32_t>(req, "ms", 10, 60000);
    if (!ms) return void(res.send(400, "ms must be an integer 0..60000\n"));
    res.offload(
        [ms = *ms](std::stop_token) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); },
        [ms = *ms](tether::Response r) { r.send(200, "slept " + std::to_string(ms) + " ms\n"); });
  });
  // K parallel CPU work items of ms milliseconds, gathered into one JSON answer.
  server.get("/fanout", [](tether::Request& req, tether::Response res) {
    auto n = query_number<uint32_t>(req, "n", 4, 64);
    auto ms = query_number<uint32_t>(req, "ms", 10, 10000);
    if (!n || !ms) return void(res.send(400, "n must be 0..64 and ms 0..10000\n"));
    auto start = Clock::now();
    std::vector<std::function<uint64_t(std::stop_token)>> works;
    for (uint32_t i = 0; i < *n; ++i) {
      works.push_back([ms = *ms](std::stop_token st) { return burn_cpu(ms, st); });
    }
    res.offload_all(std::move(works), [start](tether::Response r, std::vector<uint64_t> results) {
      auto took =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
      std::string body = "{\"n\":" + std::to_string(results.size()) +
                         ",\"ms\":" + std::to_string(took) + ",\"results\":[";
      for (size_t i = 0; i < results.size(); ++i) {
        if (i) body += ',';
        body += std::to_string(results[i]);
      }
      r.send(200, body + "]}", "application/json");
    });
  });
  // Mailbox: hand a value from one request to another by id.
  server.post("/mailbox/{id}", [&server](tether::Request& req, tether::Response res) {
    server.mailbox().post(
        std::string(req.param("id")), std::string(req.body()),
        [res](tether::MailboxPost outcome) mutable {
          switch (outcome) {
            case tether::MailboxPost::Delivered:
              return void(res.send(200, R"({"delivered":true})", "application/json"));
            case tether::MailboxPost::Stored:
              return void(res.send(202, R"({"delivered":false})", "application/json"));
            case tether::MailboxPost::Conflict:
              return void(res.send(409, "a value is already waiting for this id\n"));
            case tether::MailboxPost::TooLarge:
              return void(res.send(413, "mailbox value too large\n"));
            case tether::MailboxPost::Full:
              res.set_header("Retry-After", "1");
              return void(res.send(503, "mailbox full\n"));
            case tether::MailboxPost::Unavailable:
              res.set_header("Retry-After", "1");
              return void(res.send(503, "mailbox unavailable (server stopping, or Redis down)\n"));
          }
        });
  });
  server.get("/mailbox/{id}", [&server](tether::Request& req, tether::Response res) {
    auto wait_ms = query_number<uint32_t>(req, "wait_ms", 0, 0xffffffffu);
    if (!wait_ms) return void(res.send(400, "wait_ms must be a non-negative integer\n"));
    server.mailbox().wait(res, std::string(req.param("id")), std::chrono::milliseconds(*wait_ms),
                          [](tether::Response r, tether::MailboxTake take, std::string value) {
                            switch (take) {
                              case tether::MailboxTake::Value:
                                return void(r.send(200, value, "application/octet-stream"));
                              case tether::MailboxTake::Empty:
                                return void(r.send(404, "no value for this id\n"));
                              case tether::MailboxTake::TimedOut:
                                return void(r.send(204));
                              case tether::MailboxTake::Refused:
                                r.set_header("Retry-After", "1");
                                return void(r.send(503, "too many waiters\n"));
                              case tether::MailboxTake::Unavailable:
                                r.set_header("Retry-After", "1");
                                return void(r.send(503,
                                                   "mailbox unavailable (server stopping, or "
                                                   "Redis down)\n"));
                            }
                          });
  });
  server.del("/mailbox/{id}", [&server](tether::Request& req, tether::Response res) {
    server.mailbox().remove(std::string(req.param("id")), [res](tether::MailboxRemove r) mutable {
      if (r == tether::MailboxRemove::Removed) return void(res.send(204));
      if (r == tether::MailboxRemove::NotFound)
        return void(res.send(404, "no value for this id\n"));
      res.set_header("Retry-After", "1");
      res.send(503, "mailbox unavailable (server stopping, or Redis down)\n");
    });
  });
  add_stream_routes(server);
  add_upload_route(server, settings.max_upload_bytes);
  server.get("/metrics", [&server](tether::Request&, tether::Response res) {
    res.send(200, tether::prometheus_text(server.stats()), "text/plain; version=0.0.4");
  });
}

}  // namespace tetherd
