// Hostile tests of the request path after the memory-shedding commit: the header index freed
// when the handler returns, the head's buffers freed once written, decoded values kept until
// the exchange is reused. What a handler reads from its Request — inside the call (documented
// safe) and, as the project's own HostileStreamMemory tests do, from a Request copy or a view
// kept while the exchange still lives (documented misuse, held to "must not read freed
// memory" by src/http/connection_stream.cpp's shed_request). Public headers and
// tests/support only, real sockets on 127.0.0.1, every wait bounded.
//
// Breaks this file found (ASan+UBSan and Release), each fixed and kept here as a regression
// test:
// - RequestCopyKeptInStreamReadsLeftoverThatGrew: a kept Request read its head from the
//   connection's leftover buffer after it had grown (heap-use-after-free; Release sent the
//   allocator's pointers to the client). The server now forgets the head's views when the
//   exchange outlives its handler (RequestData::forget_head).
// - RequestCopyKeptPastItsClientReadsTheFreedConnection: RequestData::peer pointed at the freed
//   Connection. It is cleared, with the head's views, when the connection lets go of the
//   exchange.
// - ConcurrentQueryDecodingFromThreadsJoinedInsideTheHandler: query() from several threads
//   corrupted the decoded list (LeakSanitizer); decoded values are now pushed with a CAS.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/gate.hpp"
#include "support/http_client.hpp"
#include "support/test_server.hpp"
#include "tether/tether.hpp"

namespace {

using namespace std::chrono_literals;
using tether::EventStream;
using tether::Request;
using tether::Response;
using tether::Stream;

tether::ServerOptions opts(unsigned loops = 1, unsigned workers = 2) {
  return tt::loopback_options(loops, workers);
}

std::string req_with(const std::string& target, const std::string& extra,
                     const char* method = "GET") {
  return std::string(method) + " " + target + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n";
}

// Reads from `c` until its buffered bytes contain `needle`, or the time is up.
bool read_until(tt::Client& c, std::string_view needle, int timeout_ms = 5000) {
  const int64_t end = tt::now_ms() + timeout_ms;
  while (c.buffered().find(needle) == std::string::npos) {
    const int64_t left = end - tt::now_ms();
    if (left <= 0) return false;
    c.read_some(static_cast<int>(std::min<int64_t>(left, 200)));
  }
  return true;
}

// ---------------------------------------------------------------- kept past the handler

// The project's own HostileStreamMemory.RequestKeptPastHandlerReadsSafelyFromTimers holds a
// Request copy kept while its exchange streams to "reads safely". Here the request's head was
// parsed out of the connection's leftover bytes (it waited behind a pipelined request, held
// back by max_pipelined), and the same client then pipelines a bigger batch, which the
// connection keeps in that same leftover buffer: it grows, and the kept copy's target() and
// path() now point at freed heap. ASan: heap-use-after-free; Release: the timer writes
// whatever the allocator left there.
TEST(HostileRequestLifetime, RequestCopyKeptInStreamReadsLeftoverThatGrew) {
  struct Kept {
    std::optional<Request> req;
    Stream st;
  };
  auto kept = std::make_shared<Kept>();
  tether::ServerOptions o = opts();
  o.max_pipelined = 1;
  tt::TestServer srv(o, [kept](tether::Server& s) {
    // Held for a moment, then ended: the request behind it is parsed from leftover bytes.
    s.get("/first", [](Request&, Response res) {
      Stream st = res.stream(200, "text/plain");
      st.write("first");
      st.after(50ms, [st]() mutable { st.end(); });
    });
    s.get("/keep/{name}", [kept](Request& req, Response res) {
      kept->req.emplace(req);
      kept->st = res.stream(200, "text/plain");
      kept->st.write("started;");
      kept->st.after(800ms, [kept] {
        const Request& r = *kept->req;
        kept->st.write(std::string(r.target()) + "|" + std::string(r.path()));
        kept->st.end();
        kept->req.reset();
      });
    });
    s.get("/other", [](Request&, Response res) { res.send(200, "other"); });
  });
  tt::Client c(srv.port());
  const std::string target = "/keep/secret-name-long-enough-to-matter?token=abcdefghijklmnop";
  ASSERT_TRUE(c.send(req_with("/first", "") + req_with(target, "X-Pad: 1\r\n")));
  // Both heads are out once /keep is dispatched (it is the FIFO head after /first ends).
  ASSERT_TRUE(read_until(c, "started;")) << c.buffered();
  // Now a batch bigger than the leftover buffer ever was: held back behind the stream.
  std::string batch;
  for (int i = 0; i < 4; ++i)
    batch += req_with("/other", "X-Big: " + std::string(4000, 'z') + "\r\n");
  ASSERT_TRUE(c.send(batch));
  // The /other answers leave only once the kept stream has ended.
  ASSERT_TRUE(read_until(c, "\r\n\r\nother", 5000)) << c.buffered();
  // Safe answers: its own target and path, or nothing (the server forgets a head once its
  // handler has returned); never freed memory or another request's bytes.
  const std::string own = target + "|" + target.substr(0, target.find('?'));
  const bool read_own = c.buffered().find(own) != std::string::npos;
  const bool read_nothing = c.buffered().find("started;\r\n1\r\n|\r\n") != std::string::npos;
  EXPECT_TRUE(read_own || read_nothing)
      << "the kept Request read something else than its own target: " << c.buffered();
}

// A Request copy kept with its parked Response: the client leaves, its Connection is freed,
// and the exchange (held by the handle) still points at the connection's peer address.
// remote_address()/remote_port() then read the freed Connection.
TEST(HostileRequestLifetime, RequestCopyKeptPastItsClientReadsTheFreedConnection) {
  struct Kept {
    std::optional<Request> req;
    Response res;
  };
  auto kept = std::make_shared<Kept>();
  tt::TestServer srv(opts(), [kept](tether::Server& s) {
    s.get("/park", [kept](Request& req, Response res) {
      kept->req.emplace(req);
      kept->res = std::move(res);
    });
    s.get("/read", [kept](Request&, Response res) {
      std::string out = "none";
      if (kept->req) {
        out = kept->req->remote_address() + ":" + std::to_string(kept->req->remote_port()) + "/" +
              std::string(kept->req->header("X-Who").value_or("gone"));
      }
      kept->req.reset();
      kept->res = {};
      res.send(200, out);
    });
  });
  uint16_t parked_port = 0;
  {
    tt::Client c(srv.port());
    ASSERT_TRUE(c.send(req_with("/park", "X-Who: parked-client\r\n")));
    ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& st) { return st.requests >= 1; }));
    // Our own port, as the server saw it.
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ASSERT_EQ(getsockname(c.fd(), reinterpret_cast<sockaddr*>(&ss), &len), 0);
    parked_port = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    c.close(/*reset=*/true);
  }
  ASSERT_TRUE(
      srv.wait_for([](const tether::ServerStats& st) { return st.connections_active == 0; }));
  tt::Client d(srv.port());
  auto r = tt::roundtrip(d, req_with("/read", ""));
  ASSERT_EQ(r.status, 200);
  // Safe answers: the address and header it had, or nothing; never another connection's
  // bytes. (The server forgets the head and the peer of a request whose connection is gone.)
  const std::string was = "127.0.0.1:" + std::to_string(parked_port) + "/parked-client";
  const std::string gone_peer = ":0/parked-client";
  const std::string gone = ":0/gone";
  EXPECT_TRUE(r.body == was || r.body == gone_peer || r.body == gone) << r.body;
}

// ---------------------------------------------------------------- inside the handler

// Request's accessors are const, and nothing says a handler may not share its Request with
// helper threads that it joins before returning (a fan-out over the query keys, say). But
// query() and param() append to the request's decoded list: const calls that write, with no
// lock. Several threads decoding at once race on that std::list (TSan: data race; ASan/
// Release: a corrupt list, nodes lost or linked twice, freed wrongly at reuse).
TEST(HostileRequestLifetime, ConcurrentQueryDecodingFromThreadsJoinedInsideTheHandler) {
  constexpr int kThreads = 4;
  constexpr int kCalls = 300;
  std::atomic<int> bad{0};
  tt::TestServer srv(opts(), [&bad](tether::Server& s) {
    s.get("/fan", [&bad](Request& req, Response res) {
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&req, &bad, t] {
          const std::string key = "k" + std::to_string(t);
          const std::string want = "value " + std::to_string(t) + " decoded past the sso";
          for (int i = 0; i < kCalls; ++i) {
            auto v = req.query(key);
            if (!v || *v != want) bad.fetch_add(1);
          }
        });
      }
      for (auto& th : threads) th.join();
      res.send(200, "joined");
    });
  });
  std::string target = "/fan?";
  for (int t = 0; t < kThreads; ++t)
    target += "k" + std::to_string(t) + "=value+" + std::to_string(t) + "+decoded+past+the+sso&";
  tt::Client c(srv.port());
  for (int round = 0; round < 6; ++round) {
    auto r = tt::roundtrip(c, req_with(target, ""), 10000);
    ASSERT_EQ(r.status, 200) << "round " << round;
  }
  EXPECT_EQ(bad.load(), 0);
}

// A handler answers a Response parked by another connection. That connection had requests
// held back (max_pipelined = 1), so it parses and dispatches them right there, inside this
// handler (a nested dispatch). Afterwards this handler's own Request must still read its own
// request: path, decoded query, captures, headers.
TEST(HostileRequestLifetime, NestedDispatchInsideAHandlerLeavesItsRequestIntact) {
  struct Parked {
    std::vector<Response> res;
  };
  auto parked = std::make_shared<Parked>();
  tether::ServerOptions o = opts();
  o.max_pipelined = 1;
  tt::TestServer srv(o, [parked](tether::Server& s) {
    s.get("/park", [parked](Request&, Response res) { parked->res.push_back(std::move(res)); });
    s.get("/echo/{who}", [](Request& req, Response res) {
      res.send(200, "echo:" + std::string(req.param("who")) + ":" +
                        std::string(req.header("X-Inner").value_or("none")));
    });
    s.get("/outer/{name}", [parked](Request& req, Response res) {
      const std::string before = std::string(req.path()) + "|" +
                                 std::string(req.query("q").value_or("")) + "|" +
                                 std::string(req.param("name")) + "|" +
                                 std::string(req.header("X-Outer").value_or("none"));
      std::vector<Response> now;
      now.swap(parked->res);
      for (auto& p : now) p.send(200, "parked");  // the other connection dispatches in here
      now.clear();
      const std::string after = std::string(req.path()) + "|" +
                                std::string(req.query("q").value_or("")) + "|" +
                                std::string(req.param("name")) + "|" +
                                std::string(req.header("X-Outer").value_or("none"));
      res.send(200, before == after ? "same:" + after : "changed:" + before + " -> " + after);
    });
  });
  tt::Client b(srv.port());
  std::string pipelined = req_with("/park", "");
  for (int i = 0; i < 3; ++i)
    pipelined +=
        req_with("/echo/inner%20" + std::to_string(i) + "-xxxxxxxxxxxxxxxxxxxxxx",
                 "X-Inner: inner-" + std::to_string(i) + "-" + std::string(60, 'i') + "\r\n");
  // The echoes park again behind nothing; only the first /park waits.
  ASSERT_TRUE(b.send(pipelined));
  ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& st) { return st.requests >= 1; }));
  tt::Client a(srv.port());
  auto r = tt::roundtrip(
      a, req_with("/outer/o%20n%20e-yyyyyyyyyyyyyyyyyyyyyyy?q=a+b+c+dddddddddddddddddddddd",
                  "X-Outer: outer-value-" + std::string(50, 'o') + "\r\n"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            "same:/outer/o%20n%20e-yyyyyyyyyyyyyyyyyyyyyyy|a b c dddddddddddddddddddddd|"
            "o n e-yyyyyyyyyyyyyyyyyyyyyyy|outer-value-" +
                std::string(50, 'o'));
  auto p = b.read_response(5000);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->body, "parked");
  for (int i = 0; i < 3; ++i) {
    auto e = b.read_response(5000);
    ASSERT_TRUE(e) << i;
    EXPECT_EQ(e->body, "echo:inner " + std::to_string(i) + "-xxxxxxxxxxxxxxxxxxxxxx:inner-" +
                           std::to_string(i) + "-" + std::string(60, 'i'));
  }
}

// Every byte of the request in its own write: the head is re-parsed out of the connection's
// leftover bytes as they grow. Inside the handler, after send() and after stream(), every
// accessor still reads this request.
TEST(HostileRequestLifetime, OneByteWritesThenReadsAfterSendAndAfterStreamInsideTheHandler) {
  auto line = [](Request& req) {
    std::string out = std::string(req.method_name()) + "|" + std::string(req.target()) + "|" +
                      std::string(req.query("q").value_or("")) + "|" + std::string(req.param("x")) +
                      "|";
    for (size_t i = 0; i < req.header_count(); ++i) {
      auto [n, v] = req.header_at(i);
      out += std::string(n) + "=" + std::string(v) + ";";
    }
    return out + "|" + std::string(req.body());
  };
  tt::TestServer srv(opts(), [line](tether::Server& s) {
    s.post("/sent/{x}", [line](Request& req, Response res) {
      const std::string before = line(req);
      res.send(200, before);
      if (line(req) != before) throw std::runtime_error("changed after send");
    });
    s.post("/streamed/{x}", [line](Request& req, Response res) {
      const std::string before = line(req);
      Stream st = res.stream(200, "text/plain");
      st.write(line(req) == before ? "same:" + before : "changed");
      st.end();
    });
  });
  for (const char* route : {"/sent/", "/streamed/"}) {
    SCOPED_TRACE(route);
    tt::Client c(srv.port());
    const std::string body = "body-bytes-0123456789";
    std::string hdrs;
    for (int i = 0; i < 24; ++i)
      hdrs += "X-H" + std::to_string(i) + ": v" + std::to_string(i) + "\r\n";
    hdrs += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    const std::string req = req_with(std::string(route) + "c%61p?q=one+two", hdrs, "POST") + body;
    for (char ch : req) ASSERT_TRUE(c.send(std::string_view(&ch, 1)));
    auto r = c.read_response(10000);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    std::string want = "POST|" + std::string(route) + "c%61p?q=one+two|one two|cap|Host=t;";
    for (int i = 0; i < 24; ++i) want += "X-H" + std::to_string(i) + "=v" + std::to_string(i) + ";";
    want += "Content-Length=" + std::to_string(body.size()) + ";|" + body;
    if (std::string(route) == "/streamed/") want = "same:" + want;
    EXPECT_EQ(r->body, want);
  }
  EXPECT_EQ(srv.stats().handler_exceptions, 0u);
}

// ---------------------------------------------------------------- pipelined, parked, reset

// Request N parks in a mailbox wait; N+1..N+16 arrive in the same write, each with a header
// set big enough to grow the header index, and are answered at once (held behind N). Then
// the client resets. With the access log on, every record still reads its own request's
// headers (the heads were kept for it); without it, nothing is read at all. The server
// serves on either way.
TEST(HostileRequestLifetime, ParkedHeadThenSixteenPipelinedHeaderSetsThenReset) {
  for (bool logging : {false, true}) {
    SCOPED_TRACE(logging ? "access log" : "no access log");
    struct Log {
      std::mutex mu;
      std::vector<std::string> lines;
    };
    auto log = std::make_shared<Log>();
    tether::ServerOptions o = opts();
    if (logging) {
      o.on_response = [log](const tether::ResponseRecord& rec) {
        std::string l = std::to_string(rec.status) + " " + std::string(rec.target);
        if (rec.request) {
          l += " idx=" + std::string(rec.request->header("X-Idx").value_or("?"));
          l += " n=" + std::to_string(rec.request->header_count());
          l += " last=" +
               std::string(rec.request->header_at(rec.request->header_count() - 1).second);
        }
        std::lock_guard<std::mutex> lock(log->mu);
        log->lines.push_back(l);
      };
    }
    tether::Server* server = nullptr;
    tt::TestServer srv(o, [&server](tether::Server& s) {
      server = &s;
      s.get("/wait/{id}", [&server](Request& req, Response res) {
        server->mailbox().wait(std::move(res), std::string(req.param("id")), 3000ms,
                               [](Response r, tether::MailboxTake t, std::string v) {
                                 r.send(t == tether::MailboxTake::Value ? 200 : 204, v);
                               });
      });
      s.get("/h/{i}", [](Request& req, Response res) {
        res.send(200, std::string(req.param("i")) + ":" + std::to_string(req.header_count()));
      });
      s.get("/ok", [](Request&, Response res) { res.send(200, "ok"); });
    });
    {
      tt::Client c(srv.port());
      std::string batch = req_with("/wait/w1", "");
      for (int i = 1; i <= 16; ++i) {
        std::string h = "X-Idx: " + std::to_string(i) + "\r\n";
        for (int k = 0; k < 20 + i * 3; ++k)
          h += "X-F" + std::to_string(k) + ": " + std::string(10 + k, 'a' + (k % 26)) + "\r\n";
        h += "X-Last: last-" + std::to_string(i) + "\r\n";
        batch += req_with("/h/" + std::to_string(i), h);
      }
      ASSERT_TRUE(c.send(batch));
      ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& st) { return st.requests >= 17; }));
      c.close(/*reset=*/true);
    }
    ASSERT_TRUE(
        srv.wait_for([](const tether::ServerStats& st) { return st.connections_active == 0; }));
    tt::Client d(srv.port());
    auto r = tt::roundtrip(d, req_with("/ok", ""));
    EXPECT_EQ(r.status, 200);
    if (logging) {
      ASSERT_TRUE(tt::eventually([&] {
        std::lock_guard<std::mutex> lock(log->mu);
        return log->lines.size() >= 18;
      }));
      std::lock_guard<std::mutex> lock(log->mu);
      for (int i = 1; i <= 16; ++i) {
        const std::string want = "/h/" + std::to_string(i) + " idx=" + std::to_string(i) +
                                 " n=" + std::to_string(20 + i * 3 + 3) + " last=last-" +
                                 std::to_string(i);
        bool found = false;
        for (const auto& l : log->lines) found = found || l.find(want) != std::string::npos;
        EXPECT_TRUE(found) << want;
      }
    }
  }
}

}  // namespace
