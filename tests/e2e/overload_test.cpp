// Overload: the worker pool's queue full, the mailbox at its limits, max_connections reached.
// Each is answered with its documented status at once (503 with Retry-After: 1 / 503 / 413 /
// 503 and close), memory stays bounded while it lasts, and the server recovers afterwards.
// Every request sent gets exactly one response: the clients count what they sent and what
// came back, and the server's counters must agree ("responses lost = 0").
#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "support/deferred_routes.hpp"
#include "support/expectations.hpp"
#include "support/gate.hpp"
#include "support/http_client.hpp"
#include "support/probes.hpp"
#include "support/test_server.hpp"
#include "tetherd/demo_routes.hpp"

namespace {

using namespace std::chrono_literals;
using tether::ServerStats;

constexpr int64_t kMemScale = tt::kAsan ? 4 : 1;

std::string post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

std::string del(const std::string& path) {
  return "DELETE " + path + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

/// Requests sent and responses received, by status, over all the clients of a test.
struct Tally {
  uint64_t sent = 0;
  uint64_t received = 0;
  std::map<int, uint64_t> by_status;
  uint64_t count(int status) const {
    auto it = by_status.find(status);
    return it == by_status.end() ? 0 : it->second;
  }
  uint64_t lost() const { return sent - received; }
};

/// A client whose every request and response is counted in a Tally.
class Counted {
 public:
  Counted(uint16_t port, Tally& tally) : c_(port), tally_(tally) {}
  bool connected() const { return c_.connected(); }
  bool send(const std::string& req) {
    ++tally_.sent;
    return c_.send(req);
  }
  std::optional<tt::HttpResponse> read(int timeout_ms = 5000) {
    std::optional<tt::HttpResponse> r = c_.read_response(timeout_ms);
    if (r) {
      ++tally_.received;
      ++tally_.by_status[r->status];
    }
    return r;
  }
  /// One request, one response; status 0 when none came.
  int roundtrip(const std::string& req, int timeout_ms = 5000) {
    if (!send(req)) return 0;
    std::optional<tt::HttpResponse> r = read(timeout_ms);
    return r ? r->status : 0;
  }
  tt::Client& raw() { return c_; }

 private:
  tt::Client c_;
  Tally& tally_;
};

/// The server's side of "responses lost = 0": every request it received was answered.
void expect_server_answered_everything(tt::TestServer& s) {
  ASSERT_TRUE(s.wait_for([](const ServerStats& st) { return st.exchanges_in_flight == 0; }))
      << "exchanges still open: " << s.stats().exchanges_in_flight;
  ServerStats st = s.stats();
  uint64_t responses = 0;
  for (uint64_t n : st.responses_by_class) responses += n;
  // Connections refused at the cap are answered without a request.
  EXPECT_EQ(responses, st.requests + st.connections_rejected);
  EXPECT_EQ(st.responses_dropped, 0u);
  EXPECT_EQ(st.responses_abandoned, 0u);
}

void rss_figures(const std::string& prefix, int64_t before, int64_t peak, int64_t after) {
  tt::figure(prefix + "_rss_before_kb", before);
  tt::figure(prefix + "_rss_peak_kb", peak);
  tt::figure(prefix + "_rss_after_kb", after);
}

// ---------------------------------------------------------------- offload queue full

TEST(Overload, FullOffloadQueueSheds503ThenRecoversWithNoLostResponse) {
  constexpr unsigned kWorkers = 2;
  constexpr size_t kQueue = 4;
  constexpr int kClients = 50;
  constexpr int kRetries = 20;  // per shed client, while the queue is still full
  constexpr int kAfter = 4;     // requests per client once the work flows again
  tether::ServerOptions o;
  o.workers = kWorkers;
  o.queue = kQueue;
  // GET /park: work that blocks its worker until the gate opens (at most 10 s).
  auto gate = std::make_shared<tt::Gate>();
  auto runs = std::make_shared<std::atomic<int>>(0);
  tt::TestServer s(o, [gate, runs](tether::Server& srv) {
    tt::add_test_routes(srv);
    srv.get("/park", [gate, runs](tether::Request&, tether::Response res) {
      res.offload(
          [gate, runs](std::stop_token) {
            ++*runs;
            gate->wait(10s);
            return 1;
          },
          [](tether::Response r, int) { r.send(200, "done"); });
    });
  });
  tt::RssSampler rss;
  tt::ProcReader proc;
  const int64_t rss_before = proc.rss_kb();
  rss.reset_peak(rss_before);

  Tally tally;
  std::vector<std::unique_ptr<Counted>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<Counted>(s.port(), tally));
    ASSERT_TRUE(clients.back()->connected());
  }
  // One wave: each of `senders` asks for /park. The pool takes what it has room for (the
  // workers, then the queue), which stays parked until the gate opens; the rest is shed with
  // a 503 at once. Returns the shed ones; the taken ones join `parked`.
  std::vector<Counted*> parked;
  uint64_t asked = 0;
  std::vector<int64_t> wave_ms;
  auto wave = [&](const std::vector<Counted*>& senders) {
    std::vector<Counted*> shed;
    const uint64_t shed_before = s.stats().jobs_shed;
    const int64_t t0 = tt::now_ms();
    for (Counted* c : senders) EXPECT_TRUE(c->send(tt::get_request("/park")));
    asked += senders.size();
    // Settled: every request is either with the pool (running or queued) or shed.
    EXPECT_TRUE(s.wait_for([&](const ServerStats& st) {
      return st.jobs_shed + st.workers_busy + st.jobs_queued == asked &&
             st.workers_busy == std::min<uint64_t>(kWorkers, asked - st.jobs_shed);
    })) << "shed "
        << s.stats().jobs_shed << " busy " << s.stats().workers_busy;
    const size_t expect_shed = s.stats().jobs_shed - shed_before;
    // The 503s are on their way; the parked stay silent. Non-blocking passes until all are in.
    std::vector<bool> answered(senders.size(), false);
    while (shed.size() < expect_shed && tt::now_ms() - t0 < 5000) {
      for (size_t i = 0; i < senders.size(); ++i) {
        if (answered[i]) continue;
        std::optional<tt::HttpResponse> r = senders[i]->read(0);
        if (!r) continue;
        answered[i] = true;
        EXPECT_EQ(r->status, 503);
        EXPECT_EQ(r->header("retry-after").value_or(""), "1");
        EXPECT_FALSE(r->header("connection").has_value()) << "shedding closed the connection";
        shed.push_back(senders[i]);
      }
      if (shed.size() < expect_shed) ::poll(nullptr, 0, 1);
    }
    wave_ms.push_back(tt::now_ms() - t0);
    EXPECT_EQ(shed.size(), expect_shed);
    for (size_t i = 0; i < senders.size(); ++i) {
      if (!answered[i]) parked.push_back(senders[i]);
    }
    return shed;
  };

  // Everyone asks at once, then the shed ones retry while the pool is still blocked: each
  // retry is refused at once too, unless the pool had room left.
  std::vector<Counted*> all;
  for (auto& c : clients) all.push_back(c.get());
  std::vector<Counted*> shed = wave(all);
  EXPECT_GE(shed.size(), kClients - (kWorkers + kQueue));
  for (int round = 0; round < kRetries && !::testing::Test::HasFailure(); ++round)
    shed = wave(shed);
  EXPECT_EQ(parked.size(), kWorkers + kQueue) << "the pool took more or less than it holds";
  EXPECT_EQ(parked.size() + shed.size(), static_cast<size_t>(kClients));
  const int64_t rss_overloaded = rss.peak_kb();
  const uint64_t shed_total = tally.count(503);
  EXPECT_EQ(s.stats().jobs_shed, shed_total);
  EXPECT_EQ(s.stats().jobs_queued, kQueue);
  EXPECT_EQ(runs->load(), static_cast<int>(kWorkers)) << "work of a shed request ran";

  // The gate opens: the parked requests finish, and then the work flows again. Requests go
  // out kQueue at a time, so that they always fit in the queue: each must be answered 200.
  gate->open();
  for (Counted* c : parked) {
    std::optional<tt::HttpResponse> r = c->read(5000);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "done");
  }
  const uint64_t ok_before = tally.count(200);
  for (int round = 0; round < kAfter; ++round) {
    for (size_t i = 0; i < clients.size(); i += kQueue) {
      const size_t end = std::min(clients.size(), i + kQueue);
      for (size_t k = i; k < end; ++k) ASSERT_TRUE(clients[k]->send(tt::get_request("/park")));
      for (size_t k = i; k < end; ++k) {
        std::optional<tt::HttpResponse> r = clients[k]->read(5000);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << "refused after the overload ended";
      }
    }
  }
  EXPECT_EQ(tally.count(200) - ok_before, static_cast<uint64_t>(kClients * kAfter));
  EXPECT_EQ(tally.lost(), 0u);
  EXPECT_EQ(tally.count(503), shed_total) << "503 after the overload ended";
  expect_server_answered_everything(s);
  ServerStats st = s.stats();
  EXPECT_EQ(st.requests, tally.sent);
  EXPECT_EQ(st.jobs_shed, tally.count(503));
  EXPECT_EQ(st.responses_by_class[5], tally.count(503));
  EXPECT_EQ(st.responses_by_class[2], tally.count(200));
  EXPECT_TRUE(
      s.wait_for([](const ServerStats& x) { return x.workers_busy == 0 && x.jobs_queued == 0; }));
  const int64_t rss_after = proc.rss_kb();
  EXPECT_LT(rss_overloaded - rss_before, 16 * 1024 * kMemScale) << "KiB";

  tt::figure("queue_full_requests", static_cast<int64_t>(tally.sent));
  tt::figure("queue_full_parked", static_cast<int64_t>(parked.size()));
  tt::figure("queue_full_503", static_cast<int64_t>(tally.count(503)));
  tt::figure("queue_full_200", static_cast<int64_t>(tally.count(200)));
  tt::figure("queue_full_lost", static_cast<int64_t>(tally.lost()));
  tt::figure("queue_full_wave_max_ms", *std::max_element(wave_ms.begin(), wave_ms.end()));
  rss_figures("queue_full", rss_before, rss_overloaded, rss_after);
}

// ---------------------------------------------------------------- mailbox at its limits

TEST(Overload, MailboxAtItsLimitsAnswersDocumentedStatusesAndRecovers) {
  constexpr size_t kMaxIds = 32;
  constexpr size_t kMaxValue = 1024;
  constexpr size_t kMaxWaiters = 4;
  constexpr int kFlood = 2000;  // posts to distinct ids while the mailbox is full
  tether::ServerOptions o;
  o.workers = 1;
  o.mailbox_max_ids = kMaxIds;
  o.mailbox_max_value_bytes = kMaxValue;
  o.mailbox_max_waiters_per_id = kMaxWaiters;
  o.mailbox_ttl_ms = 2000;  // long enough for the phases before the expiry one
  tt::TestServer s(o, [](tether::Server& srv) { tetherd::add_demo_routes(srv); });
  tt::RssSampler rss;
  tt::ProcReader proc;
  const int64_t rss_before = proc.rss_kb();
  rss.reset_peak(rss_before);
  const std::string value(kMaxValue, 'v');
  Tally tally;
  Counted c(s.port(), tally);
  ASSERT_TRUE(c.connected());

  // Pipelined posts to distinct ids: the first kMaxIds are stored, the rest refused (503).
  auto post_many = [&](const std::string& prefix, int n) {
    std::map<int, int> statuses;
    constexpr int kBatch = 100;
    for (int b = 0; b < n; b += kBatch) {
      std::string batch;
      const int end = std::min(n, b + kBatch);
      for (int i = b; i < end; ++i) batch += post("/mailbox/" + prefix + std::to_string(i), value);
      tally.sent += static_cast<uint64_t>(end - b);
      EXPECT_TRUE(c.raw().send(batch));
      for (int i = b; i < end; ++i) {
        std::optional<tt::HttpResponse> r = c.raw().read_response(5000);
        if (!r) return statuses;
        ++tally.received;
        ++tally.by_status[r->status];
        ++statuses[r->status];
      }
    }
    return statuses;
  };
  std::map<int, int> first = post_many("a-", kFlood);
  EXPECT_EQ(first[202], static_cast<int>(kMaxIds));
  EXPECT_EQ(first[503], kFlood - static_cast<int>(kMaxIds));
  EXPECT_EQ(s.stats().mailbox_ids_stored, kMaxIds);
  // Full: a wait on a new id is refused at once, a read without wait is just empty, a value
  // over the size limit is 413 whatever the fill.
  const int64_t w0 = tt::now_ms();
  EXPECT_EQ(c.roundtrip(tt::get_request("/mailbox/new?wait_ms=5000"), 3000), 503);
  EXPECT_LT(tt::now_ms() - w0, 2000) << "a refused wait was parked";
  EXPECT_EQ(c.roundtrip(tt::get_request("/mailbox/new")), 404);
  EXPECT_EQ(c.roundtrip(post("/mailbox/big", value + "x")), 413);
  const int64_t rss_full = rss.peak_kb();

  // Recovery by drop: deleting half the ids makes room for exactly as many.
  for (size_t i = 0; i < kMaxIds / 2; ++i) {
    EXPECT_EQ(c.roundtrip(del("/mailbox/a-" + std::to_string(i))), 204);
  }
  std::map<int, int> second = post_many("b-", static_cast<int>(kMaxIds));
  EXPECT_EQ(second[202], static_cast<int>(kMaxIds / 2));
  EXPECT_EQ(second[503], static_cast<int>(kMaxIds / 2));

  // Recovery by expiry: untaken values expire, and the whole mailbox is free again.
  ASSERT_TRUE(s.wait_for([](const ServerStats& st) { return st.mailbox_ids_stored == 0; }, 5000))
      << "stored: " << s.stats().mailbox_ids_stored;
  // Waiters per id: kMaxWaiters park, one more is refused; each post serves the oldest, and
  // a freed place can be taken again.
  std::vector<std::unique_ptr<Counted>> waiters;
  for (size_t i = 0; i <= kMaxWaiters; ++i) {
    waiters.push_back(std::make_unique<Counted>(s.port(), tally));
    ASSERT_TRUE(waiters.back()->send(tt::get_request("/mailbox/w?wait_ms=10000")));
    if (i < kMaxWaiters) {
      ASSERT_TRUE(s.wait_for([&](const ServerStats& st) { return st.mailbox_waiters == i + 1; }));
    }
  }
  std::optional<tt::HttpResponse> refused = waiters.back()->read(3000);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(c.roundtrip(post("/mailbox/w", "v0")), 200);
  std::optional<tt::HttpResponse> w0r = waiters[0]->read(3000);
  ASSERT_TRUE(w0r);
  EXPECT_EQ(w0r->body, "v0");
  ASSERT_TRUE(
      waiters.back()->send(tt::get_request("/mailbox/w?wait_ms=10000")));  // the freed place
  ASSERT_TRUE(s.wait_for([](const ServerStats& st) { return st.mailbox_waiters == kMaxWaiters; }));
  for (size_t i = 1; i <= kMaxWaiters; ++i) {
    EXPECT_EQ(c.roundtrip(post("/mailbox/w", "v" + std::to_string(i))), 200);
    std::optional<tt::HttpResponse> r = waiters[i]->read(3000);
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "v" + std::to_string(i)) << "served out of arrival order";
  }
  // And the ids: all of them can be filled again.
  std::map<int, int> third = post_many("c-", static_cast<int>(kMaxIds));
  EXPECT_EQ(third[202], static_cast<int>(kMaxIds));

  EXPECT_EQ(tally.lost(), 0u);
  expect_server_answered_everything(s);
  ServerStats st = s.stats();
  EXPECT_EQ(st.requests, tally.sent);
  EXPECT_EQ(st.mailbox_refused, tally.count(503) + tally.count(413));
  EXPECT_EQ(st.mailbox_waiters, 0u);
  EXPECT_EQ(st.mailbox_ids_stored, kMaxIds);
  const int64_t rss_after = proc.rss_kb();
  EXPECT_LT(rss_full - rss_before, 16 * 1024 * kMemScale) << "KiB";

  tt::figure("mailbox_requests", static_cast<int64_t>(tally.sent));
  tt::figure("mailbox_503", static_cast<int64_t>(tally.count(503)));
  tt::figure("mailbox_413", static_cast<int64_t>(tally.count(413)));
  tt::figure("mailbox_lost", static_cast<int64_t>(tally.lost()));
  tt::figure("mailbox_value_kb_offered", static_cast<int64_t>(kFlood * kMaxValue / 1024));
  rss_figures("mailbox", rss_before, rss_full, rss_after);
}

// ---------------------------------------------------------------- max connections

TEST(Overload, MaxConnectionsSheds503AndEveryClientIsServedOnRetry) {
  constexpr size_t kCap = 64;
  constexpr int kLate = 200;   // clients arriving while the cap is taken
  constexpr int kRounds = 10;  // retry rounds allowed once slots free up
  ASSERT_TRUE(tt::ensure_fds(4 * (kCap + kLate)));
  tether::ServerOptions o;
  o.max_connections = kCap;
  tt::TestServer s(o, [](tether::Server& srv) {
    tt::add_test_routes(srv);
    tt::add_deferred_routes(srv);
  });
  tt::RssSampler rss;
  tt::ProcReader proc;
  const int64_t rss_before = proc.rss_kb();
  rss.reset_peak(rss_before);
  Tally tally;

  // The cap is taken: one control connection and kCap - 1 requests parked unanswered.
  Counted control(s.port(), tally);
  ASSERT_EQ(control.roundtrip(tt::kPlaintextRequest), 200);
  std::vector<std::unique_ptr<Counted>> parked;
  for (size_t i = 0; i + 1 < kCap; ++i) {
    parked.push_back(std::make_unique<Counted>(s.port(), tally));
    ASSERT_TRUE(parked.back()->send(tt::get_request("/defer")));
  }
  ASSERT_TRUE(s.wait_for([](const ServerStats& st) {
    return st.exchanges_in_flight == kCap - 1 && st.connections_active == kCap;
  }));

  // Late clients: each gets one 503 and the connection closes.
  auto attempt_all = [&](std::vector<int>& who, std::vector<int>& refused_again) {
    std::vector<std::unique_ptr<Counted>> conns;
    for (size_t k = 0; k < who.size(); ++k) {
      conns.push_back(std::make_unique<Counted>(s.port(), tally));
      EXPECT_TRUE(conns.back()->connected());
      conns.back()->send(tt::kPlaintextRequest);  // the server may have closed it already
    }
    for (size_t k = 0; k < who.size(); ++k) {
      std::optional<tt::HttpResponse> r = conns[k]->read(5000);
      if (r && r->status == 503) {
        EXPECT_EQ(r->header("connection").value_or(""), "close");
        EXPECT_TRUE(conns[k]->raw().wait_closed(3000));
        refused_again.push_back(who[k]);
      } else {
        EXPECT_TRUE(r && r->status == 200) << "client " << who[k];
      }
    }
  };
  std::vector<int> waiting(kLate);
  for (int i = 0; i < kLate; ++i) waiting[i] = i;
  std::vector<int> refused;
  const int64_t t0 = tt::now_ms();
  attempt_all(waiting, refused);
  const int64_t refuse_ms = tt::now_ms() - t0;
  EXPECT_EQ(refused.size(), static_cast<size_t>(kLate)) << "a client got past a full cap";
  const int64_t rss_full = rss.peak_kb();
  EXPECT_TRUE(s.wait_for([](const ServerStats& st) { return st.connections_active == kCap; }));

  // The parked requests are answered and their clients leave.
  ASSERT_EQ(control.roundtrip(tt::get_request("/release")), 200);
  for (auto& p : parked) {
    std::optional<tt::HttpResponse> r = p->read(5000);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  parked.clear();
  ASSERT_TRUE(s.wait_for([](const ServerStats& st) { return st.connections_active == 1; }));

  // Every refused client retries (all at once, the way a crowd does) until it is served.
  int rounds = 0;
  while (!refused.empty() && rounds < kRounds) {
    std::vector<int> again;
    attempt_all(refused, again);
    refused.swap(again);
    ++rounds;
    ASSERT_TRUE(s.wait_for([](const ServerStats& st) { return st.connections_active == 1; }));
  }
  EXPECT_TRUE(refused.empty()) << refused.size() << " clients never served";
  EXPECT_EQ(control.roundtrip(tt::kPlaintextRequest), 200);

  EXPECT_EQ(tally.lost(), 0u);
  expect_server_answered_everything(s);
  ServerStats st = s.stats();
  EXPECT_EQ(st.connections_rejected, tally.count(503));
  EXPECT_EQ(tally.count(200), static_cast<uint64_t>(kLate + kCap - 1 + 3));
  const int64_t rss_after = proc.rss_kb();
  EXPECT_LT(rss_full - rss_before, 16 * 1024 * kMemScale) << "KiB";

  tt::figure("max_conn_cap", static_cast<int64_t>(kCap));
  tt::figure("max_conn_late_clients", static_cast<int64_t>(kLate));
  tt::figure("max_conn_503", static_cast<int64_t>(tally.count(503)));
  tt::figure("max_conn_first_refusals_ms", refuse_ms);
  tt::figure("max_conn_retry_rounds", static_cast<int64_t>(rounds));
  tt::figure("max_conn_lost", static_cast<int64_t>(tally.lost()));
  rss_figures("max_conn", rss_before, rss_full, rss_after);
}

}  // namespace
