// The access-log hook (ServerOptions::on_response): one record per exchange the server took,
// built on the stack from what the exchange kept, given to user code at its own boundary.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <uv.h>

#include <exception>
#include <optional>

#include "http/connection.hpp"
#include "http/http_loop.hpp"
#include "tether/request.hpp"

namespace tether::detail {

void HttpLoop::log_response(Exchange* x, int status, uint64_t head_bytes, uint64_t body_bytes,
                            bool stream, bool complete) {
  if (x->logged) return;
  x->logged = true;
  const RequestData& r = x->req;
  ResponseRecord rec;
  std::optional<Request> request;
  if (r.base) {
    request.emplace(r);
    rec.method = request->method_name();
    rec.target = request->target();
    rec.request = &*request;
  }
  rec.version_major = r.major;
  rec.version_minor = r.minor;
  rec.status = status;
  rec.head_bytes = head_bytes;
  rec.body_bytes = body_bytes;
  const uint64_t now = uv_hrtime();
  rec.duration =
      std::chrono::nanoseconds(x->arrived_ns && now > x->arrived_ns ? now - x->arrived_ns : 0);
  char address[INET6_ADDRSTRLEN] = {};
  if (const PeerAddress* p = r.peer; p && p->family != 0) {
    if (inet_ntop(p->family, p->addr, address, sizeof address)) rec.remote_address = address;
    rec.remote_port = p->port;
  }
  rec.stream = stream;
  rec.complete = complete;
  // User code, possibly deep inside a write or a close: it gets views only, and nothing it
  // throws crosses the loop.
  try {
    (*hook_)(rec);
  } catch (const std::exception& e) {
    stats_.handler_exceptions.add();
    core_.log().write(LogLevel::Warning, "on_response hook threw: %s", e.what());
  } catch (...) {
    stats_.handler_exceptions.add();
    core_.log().write(LogLevel::Warning, "on_response hook threw a non-standard exception");
  }
}

}  // namespace tether::detail
