#include "tetherd/upload_route.hpp"

#include <cstdio>
#include <memory>

#include "tetherd/crc32.hpp"

namespace tetherd {

void add_upload_route(tether::Server& server, uint64_t max_bytes) {
  tether::RouteOptions ro;
  ro.max_body_bytes = max_bytes;
  ro.stream_body = true;
  server.post("/upload", ro, [](tether::Request&, tether::Response res) {
    struct Sum {
      uint64_t bytes = 0;
      uint32_t crc = 0;
    };
    auto sum = std::make_shared<Sum>();
    res.read_body(
        [sum](std::string_view piece) {
          sum->bytes += piece.size();
          sum->crc = crc32_update(sum->crc, piece);
          return true;
        },
        [sum, res]() mutable {
          char out[64];
          int n = std::snprintf(out, sizeof out, "{\"bytes\":%llu,\"crc32\":\"%08x\"}\n",
                                static_cast<unsigned long long>(sum->bytes), sum->crc);
          res.send(200, std::string_view(out, static_cast<size_t>(n)), "application/json");
        });
  });
}

}  // namespace tetherd
