// A server deleted from its own handler: the scenario of several hostile regressions (a
// Server may be destroyed from one of its handlers; it stops and is freed once drained).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "support/expectations.hpp"
#include "support/gate.hpp"
#include "support/http_client.hpp"
#include "tether/tether.hpp"

namespace tt {

/// Adds GET /die to `server`: answers 200, then deletes the server; `deleted` opens after.
inline void add_die_route(tether::Server* server, std::shared_ptr<Gate> deleted) {
  server->get("/die", [server, deleted](tether::Request&, tether::Response res) {
    res.send(200, "bye");
    std::shared_ptr<Gate> d = deleted;  // the captures go with the server
    delete server;
    d->open();
  });
}

/// Sends GET /slow on `slow`, waits for its job to start, then GET /die on a connection of
/// its own and waits for the delete. Empty on success, else what went wrong.
inline std::string slow_then_die(uint16_t port, Client& slow, Gate& job_started, Gate& deleted) {
  using namespace std::chrono_literals;
  if (!slow.send(get_request("/slow"))) return "cannot send /slow";
  if (!job_started.wait(5s)) return "the /slow job did not start";
  Client die(port);
  auto d = roundtrip(die, get_request("/die"), 3000);
  if (d.status != 200) return "/die -> " + std::to_string(d.status);
  if (!deleted.wait(5s)) return "the handler did not delete the server";
  return {};
}

}  // namespace tt
