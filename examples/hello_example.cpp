// The smallest tether program: one route with a capture.
#include <string>

#include "tether/tether.hpp"

int main() {
  tether::Server server({.host = "127.0.0.1", .port = 8080});
  server.get("/hello/{name}", [](tether::Request& req, tether::Response res) {
    res.send(200, "hi " + std::string(req.param("name")), "text/plain");
  });
  return server.run();  // blocks; SIGINT/SIGTERM drain gracefully
}
