// The access-log hook (ServerOptions::on_response) and the library logger
// (ServerOptions::logger): one record per request taken, answered by the application or by
// the server, or 499 when the client left first; the library's messages reach the logger.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/expectations.hpp"
#include "support/http_client.hpp"
#include "support/test_server.hpp"

namespace {

// A copy of a record: the hook's views die with the call.
struct Line {
  std::string method, target, remote, user_agent;
  int status = 0, major = 0, minor = 0;
  uint64_t head = 0, body = 0;
  uint16_t port = 0;
  bool stream = false, complete = false, has_request = false;
  std::chrono::nanoseconds duration{0};
};

// Filled on the loop thread, read by the test thread.
struct Log {
  std::mutex mu;
  std::vector<Line> lines;
  std::vector<std::pair<tether::LogLevel, std::string>> messages;

  std::vector<Line> snapshot() {
    std::lock_guard<std::mutex> lock(mu);
    return lines;
  }
  // Records may come after the client saw the connection end (499): bounded poll.
  bool wait_lines(size_t n, int timeout_ms = 5000) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < until) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (lines.size() >= n) return true;
      }
      std::this_thread::yield();
    }
    return false;
  }
};

tether::ServerOptions logged(Log& log) {
  tether::ServerOptions o;
  o.on_response = [&log](const tether::ResponseRecord& r) {
    Line l;
    l.method = r.method;
    l.target = r.target;
    l.remote = r.remote_address;
    l.port = r.remote_port;
    l.status = r.status;
    l.major = r.version_major;
    l.minor = r.version_minor;
    l.head = r.head_bytes;
    l.body = r.body_bytes;
    l.stream = r.stream;
    l.complete = r.complete;
    l.duration = r.duration;
    l.has_request = r.request != nullptr;
    if (r.request) l.user_agent = r.request->header("User-Agent").value_or("");
    std::lock_guard<std::mutex> lock(log.mu);
    log.lines.push_back(std::move(l));
  };
  o.logger = [&log](tether::LogLevel level, std::string_view message) {
    std::lock_guard<std::mutex> lock(log.mu);
    log.messages.emplace_back(level, std::string(message));
  };
  return o;
}

void routes(tether::Server& s) {
  s.get("/hello/{name}", [](tether::Request& req, tether::Response res) {
    res.send(200, "hi " + std::string(req.param("name")), "text/plain");
  });
  s.get("/late", [](tether::Request&, tether::Response res) {
    res.offload([](std::stop_token) { return 7; },
                [](tether::Response r, int v) { r.send(200, "late " + std::to_string(v)); });
  });
  s.get("/never", [](tether::Request&, tether::Response res) {
    res.on_close([res] {});  // keeps it open until the client leaves
  });
  s.get("/throw", [](tether::Request&, tether::Response) { throw std::runtime_error("boom"); });
  s.get("/stream", [](tether::Request&, tether::Response res) {
    tether::Stream st = res.stream(200, "text/plain");
    st.write("abc");
    st.write("defg");
    st.end();
  });
  s.get("/big", [](tether::Request& req, tether::Response res) {
    size_t n = std::stoul(std::string(req.query("n").value_or("0")));
    std::string body(n, 'b');
    for (size_t i = 0; i < n; ++i) body[i] = static_cast<char>('a' + i % 26);
    res.send(200, std::move(body), "application/octet-stream");
  });
}

std::string get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n";
}

TEST(AccessLog, OneRecordPerAnsweredRequestWithItsBytesAndClient) {
  Log log;
  tt::TestServer srv(logged(log), routes);
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(get("/hello/x?q=1", "User-Agent: probe/1\r\n")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hi x");
  std::string raw_head = "HTTP/1.1 200 OK\r\n";  // the head's size is checked against the wire
  auto lines = log.snapshot();
  ASSERT_EQ(lines.size(), 1u);
  const Line& l = lines[0];
  EXPECT_EQ(l.method, "GET");
  EXPECT_EQ(l.target, "/hello/x?q=1");
  EXPECT_EQ(l.status, 200);
  EXPECT_EQ(l.major, 1);
  EXPECT_EQ(l.minor, 1);
  EXPECT_EQ(l.body, 4u);
  EXPECT_EQ(l.remote, "127.0.0.1");
  EXPECT_NE(l.port, 0);
  EXPECT_EQ(l.user_agent, "probe/1");
  EXPECT_FALSE(l.stream);
  EXPECT_GT(l.duration.count(), 0);
  // Head bytes are what went on the wire before the body: ask again and count raw bytes.
  ASSERT_TRUE(c.send(get("/hello/y")));
  ASSERT_TRUE(c.read_some(2000) > 0);
  while (c.buffered().size() < log.snapshot().back().head + 4 && c.read_some(2000) > 0) {
  }
  lines = log.snapshot();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(c.buffered().size(), lines[1].head + lines[1].body);
}

TEST(AccessLog, ServerAnswersAreLoggedToo) {
  Log log;
  tt::TestServer srv(logged(log), routes);
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(get("/nowhere") +
                     "POST /hello/x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n" +
                     get("/throw")));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.read_response()) << i;
  tt::Client bad(srv.port());
  ASSERT_TRUE(bad.send("GET /x HTTP/1.1\r\nHost: t\r\nContent-Length: z\r\n\r\n"));
  auto r = bad.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  ASSERT_TRUE(log.wait_lines(4));
  auto lines = log.snapshot();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].status, 404);
  EXPECT_EQ(lines[0].target, "/nowhere");
  EXPECT_EQ(lines[1].status, 405);
  EXPECT_EQ(lines[1].method, "POST");
  EXPECT_EQ(lines[2].status, 500);
  EXPECT_EQ(lines[2].target, "/throw");
  EXPECT_EQ(lines[3].status, 400);
  EXPECT_EQ(lines[3].method, "");
  EXPECT_FALSE(lines[3].has_request);
  EXPECT_EQ(lines[3].remote, "127.0.0.1");
  // The throw reached the logger, not stderr.
  std::lock_guard<std::mutex> lock(log.mu);
  bool seen = false;
  for (auto& [level, text] : log.messages) {
    if (level == tether::LogLevel::Warning && text.find("boom") != std::string::npos) seen = true;
  }
  EXPECT_TRUE(seen);
}

TEST(AccessLog, LateAndPipelinedAnswersKeepTheirRequest) {
  Log log;
  tt::TestServer srv(logged(log), routes);
  tt::Client c(srv.port());
  // The first answers from a worker, after the others were answered and the read buffer was
  // reused: every record still names its own request and headers.
  ASSERT_TRUE(c.send(get("/late?a=1", "User-Agent: first\r\n") +
                     get("/hello/b", "User-Agent: second\r\n") +
                     get("/hello/c", "User-Agent: third\r\n")));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.read_response()) << i;
  auto lines = log.snapshot();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].target, "/late?a=1");
  EXPECT_EQ(lines[0].user_agent, "first");
  EXPECT_EQ(lines[1].target, "/hello/b");
  EXPECT_EQ(lines[1].user_agent, "second");
  EXPECT_EQ(lines[2].target, "/hello/c");
  EXPECT_EQ(lines[2].user_agent, "third");
}

TEST(AccessLog, ClientGoneBeforeTheAnswerIs499) {
  Log log;
  tt::TestServer srv(logged(log), routes);
  {
    tt::Client c(srv.port());
    ASSERT_TRUE(c.send(get("/never")));
    ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.requests >= 1; }));
    c.close(true);
  }
  ASSERT_TRUE(log.wait_lines(1));
  auto lines = log.snapshot();
  EXPECT_EQ(lines[0].status, 499);
  EXPECT_EQ(lines[0].target, "/never");
  EXPECT_EQ(lines[0].body, 0u);
  EXPECT_FALSE(lines[0].complete);
}

TEST(AccessLog, StreamIsLoggedWhenItEndsWithItsPayload) {
  Log log;
  tt::TestServer srv(logged(log), routes);
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(get("/stream")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "abcdefg");
  auto lines = log.snapshot();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].stream);
  EXPECT_TRUE(lines[0].complete);
  EXPECT_EQ(lines[0].body, 7u);
  EXPECT_GT(lines[0].head, 0u);
}

// A stream that ends long after its handler returned is logged with its request whole
// (method, target, headers): an open stream sheds its request only when nothing logs it.
TEST(AccessLog, AStreamEndingAfterItsHandlerIsLoggedWithItsRequest) {
  Log log;
  tt::TestServer srv(logged(log), [](tether::Server& s) {
    s.get("/slow-stream", [](tether::Request&, tether::Response res) {
      tether::Stream st = res.stream(200, "text/plain");
      st.write("first ");
      st.after(std::chrono::milliseconds(20), [st]() mutable {
        st.write("second");
        st.end();
      });
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(get("/slow-stream?x=1", "User-Agent: streamer/2\r\n")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "first second");
  ASSERT_TRUE(log.wait_lines(1));
  auto lines = log.snapshot();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].stream);
  EXPECT_TRUE(lines[0].complete);
  EXPECT_TRUE(lines[0].has_request);
  EXPECT_EQ(lines[0].method, "GET");
  EXPECT_EQ(lines[0].target, "/slow-stream?x=1");
  EXPECT_EQ(lines[0].user_agent, "streamer/2");
  EXPECT_EQ(lines[0].body, 12u);
}

TEST(AccessLog, AThrowingHookIsCountedAndServingGoesOn) {
  Log log;
  tether::ServerOptions o = logged(log);
  o.on_response = [](const tether::ResponseRecord&) { throw std::runtime_error("hook broke"); };
  tt::TestServer srv(o, routes);
  tt::Client c(srv.port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(get("/hello/z")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "hi z");
  }
  EXPECT_EQ(srv.stats().handler_exceptions, 3u);
  std::lock_guard<std::mutex> lock(log.mu);
  ASSERT_FALSE(log.messages.empty());
  EXPECT_NE(log.messages[0].second.find("hook broke"), std::string::npos);
}

TEST(AccessLog, AThrowingLoggerFallsBackAndServingGoesOn) {
  tether::ServerOptions o;
  o.logger = [](tether::LogLevel, std::string_view) { throw std::runtime_error("logger broke"); };
  tt::TestServer srv(o, routes);
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(get("/throw") + get("/hello/q")));
  auto a = c.read_response();
  auto b = c.read_response();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->status, 500);
  EXPECT_EQ(b->body, "hi q");
}

TEST(AccessLog, ALoggerThatCallsTheServerDoesNotDeadlock) {
  // A handle used off its thread is logged under no lock of the library: a logger that then
  // touches the server (stats, and the same handle again) must not hang.
  tether::Server* server = nullptr;
  std::atomic<int> calls{0};
  tether::ServerOptions o;
  tether::Response kept;
  o.logger = [&](tether::LogLevel, std::string_view) {
    calls.fetch_add(1);
    (void)server->stats();
    (void)kept.alive();  // off the loop thread again: refused, counted, not logged twice
  };
  std::mutex mu;
  tt::TestServer srv(o, [&](tether::Server& s) {
    s.get("/keep", [&](tether::Request&, tether::Response res) {
      std::lock_guard<std::mutex> lock(mu);
      kept = res;
      res.send(200, "kept");
    });
  });
  server = &srv.server();
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(get("/keep")));
  ASSERT_TRUE(c.read_response());
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_FALSE(kept.send(200, "from here"));  // off its thread: refused, logged once
  }
  EXPECT_EQ(calls.load(), 1);
  EXPECT_GE(srv.stats().responses_misused, 2u);
  std::lock_guard<std::mutex> lock(mu);
  tether::Response gone = std::move(kept);  // dropped here: forwarded to its loop
}

// ---------------------------------------------------------------- send(std::string&&)

std::string pattern(size_t n) {
  std::string s(n, 'a');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

TEST(SendMoved, BigBodyArrivesByteExactAndIsLogged) {
  Log log;
  tt::TestServer srv(logged(log), routes);
  tt::Client c(srv.port());
  const size_t n = 3 * 1024 * 1024 + 7;
  ASSERT_TRUE(c.send(get("/big?n=" + std::to_string(n)) + get("/big?n=100") + get("/hello/after")));
  auto a = c.read_response(10000);
  auto b = c.read_response();
  auto d = c.read_response();
  ASSERT_TRUE(a && b && d);
  EXPECT_EQ(a->body.size(), n);
  EXPECT_TRUE(a->body == pattern(n));
  EXPECT_EQ(b->body, pattern(100));
  EXPECT_EQ(d->body, "hi after");
  auto lines = log.snapshot();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].body, n);
}

TEST(SendMoved, HeadOfABigMovedBodyAnnouncesItsLength) {
  tt::TestServer srv({}, [](tether::Server& s) {
    s.route(tether::Method::Head, "/big", [](tether::Request&, tether::Response res) {
      res.send(200, std::string(100000, 'x'));
    });
  });
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send("HEAD /big HTTP/1.1\r\nHost: t\r\n\r\n" + get("/big")));
  auto r = c.read_response(5000, true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Content-Length"), "100000");
  EXPECT_TRUE(r->body.empty());
  auto r2 = c.read_response();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 405);
}

TEST(SendMoved, PipelinedBigBodiesAnsweredOutOfOrderLeaveInOrder) {
  // /slot/{i} parks; /go answers them last-first with moved bodies, each bigger than the
  // socket takes at once, so most wait in their exchange and then behind a pending write.
  auto parked = std::make_shared<std::vector<std::pair<int, tether::Response>>>();
  tt::TestServer srv({}, [parked](tether::Server& s) {
    s.get("/slot/{i}", [parked](tether::Request& req, tether::Response res) {
      parked->emplace_back(std::stoi(std::string(req.param("i"))), std::move(res));
    });
    s.get("/go", [parked](tether::Request&, tether::Response res) {
      for (auto it = parked->rbegin(); it != parked->rend(); ++it) {
        std::string body(1024 * 1024 + static_cast<size_t>(it->first),
                         static_cast<char>('0' + it->first));
        EXPECT_TRUE(it->second.send(200, std::move(body)));
      }
      parked->clear();
      res.send(200, std::string(200000, 'g'));
    });
  });
  tt::Client c(srv.port());
  std::string batch;
  for (int i = 0; i < 4; ++i) batch += get("/slot/" + std::to_string(i));
  ASSERT_TRUE(c.send(batch + get("/go")));
  for (int i = 0; i < 4; ++i) {
    auto r = c.read_response(10000);
    ASSERT_TRUE(r) << i;
    ASSERT_EQ(r->body.size(), 1024u * 1024 + static_cast<size_t>(i)) << i;
    EXPECT_EQ(r->body.find_first_not_of(static_cast<char>('0' + i)), std::string::npos) << i;
  }
  auto g = c.read_response(10000);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->body, std::string(200000, 'g'));
}

TEST(SendMoved, ClientLeavingMidBodyIsSafeAndTheServerGoesOn) {
  Log log;
  tt::TestServer srv(logged(log), routes);
  for (int round = 0; round < 5; ++round) {
    tt::Client c(srv.port());
    ASSERT_TRUE(c.send(get("/big?n=" + std::to_string(8 * 1024 * 1024)) + get("/big?n=70000")));
    ASSERT_GT(c.read_some(2000), 0u);
    c.close(true);
  }
  tt::Client c(srv.port());
  ASSERT_TRUE(c.send(get("/hello/ok")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hi ok");
  ASSERT_TRUE(srv.wait_for([](const tether::ServerStats& s) { return s.connections_active == 1; }));
}

}  // namespace
