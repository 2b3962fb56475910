#include "tetherd/demo_routes.hpp"

namespace tetherd {

void add_demo_routes(tether::Server& server) {
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
}

}  // namespace tetherd
