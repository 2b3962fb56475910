#include "support/test_server.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <stdexcept>
#include <string>

#include "support/http_client.hpp"

namespace tt {

void add_test_routes(tether::Server& server) {
  server.get("/plaintext", [](tether::Request&, tether::Response res) {
    res.send(200, "Hello, World!", "text/plain");
  });
  server.get("/hello/{name}", [](tether::Request& req, tether::Response res) {
    res.send(200, "hi " + std::string(req.param("name")), "text/plain");
  });
  server.get("/big", [](tether::Request& req, tether::Response res) {
    size_t n = std::stoul(std::string(req.query("n").value_or("1000")));
    res.send(200, std::string(n, 'x'), "text/plain");
  });
  server.get("/throw",
             [](tether::Request&, tether::Response) { throw std::runtime_error("boom"); });
  server.get("/drop", [](tether::Request&, tether::Response) {});
  server.get("/bad-status", [](tether::Request&, tether::Response res) { res.send(42, "x"); });
  server.any("/", [](tether::Request& req, tether::Response res) {
    res.send(200, req.body(), "application/octet-stream");
  });
}

TestServer::TestServer(tether::ServerOptions options, std::function<void(tether::Server&)> routes) {
  options.host = "127.0.0.1";
  options.port = 0;
  server_ = std::make_unique<tether::Server>(options);
  if (routes) routes(*server_);
  tether::Status s = server_->start();
  EXPECT_TRUE(s.ok()) << s.message();
}

TestServer::~TestServer() {
  server_->stop();
  server_->wait();
}

bool TestServer::wait_for(const std::function<bool(const tether::ServerStats&)>& pred,
                          int timeout_ms) {
  int64_t deadline = now_ms() + timeout_ms;
  while (!pred(server_->stats())) {
    if (now_ms() >= deadline) return false;
    ::poll(nullptr, 0, 2);  // counters have no event to wait on; re-check every 2 ms
  }
  return true;
}

}  // namespace tt
