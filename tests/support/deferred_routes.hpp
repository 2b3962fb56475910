// Routes that answer later: GET /defer parks its Response; GET /release answers every parked
// one (200 "released N") and then itself. Both run on the server's single loop thread, which
// is the only thread that touches the parked handles.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tether/tether.hpp"

namespace tt {

inline void add_deferred_routes(tether::Server& server) {
  auto parked = std::make_shared<std::vector<tether::Response>>();
  server.get("/defer", [parked](tether::Request& req, tether::Response res) {
    res.set_header("X-Tag", std::string(req.query("tag").value_or("")));
    parked->push_back(std::move(res));
  });
  server.get("/release", [parked](tether::Request&, tether::Response res) {
    std::vector<tether::Response> now;
    now.swap(*parked);
    for (size_t i = 0; i < now.size(); ++i) now[i].send(200, "deferred " + std::to_string(i));
    res.send(200, "released " + std::to_string(now.size()));
  });
}

}  // namespace tt
