// Router: maps (method, path) to a handler; literal segments, {param} captures, catch-all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "tether/export.hpp"
#include "tether/method.hpp"
#include "tether/request.hpp"
#include "tether/response.hpp"
#include "tether/status.hpp"

namespace tether {

/// A request handler. Runs on the loop thread that owns the connection. It may answer through
/// `res` before returning, or keep a copy of `res` and answer later on the same thread.
/// An exception escaping the handler is caught and answered with 500.
using Handler = std::function<void(Request& req, Response res)>;

/// Per-route settings, given with the route (`server.post("/upload", {.max_body_bytes = 1 << 30,
/// .stream_body = true}, handler)`). The route is found as soon as a request's head is
/// complete, before any of its body is read: a request for no route (404), a method the path
/// does not serve (405) or a declared `Content-Length` over the route's limit (413) is answered
/// at once, without reading the body, and `100 Continue` goes out only to a request that its
/// route will take.
struct RouteOptions {
  /// Largest request body this route takes, in bytes (after de-chunking); 0 means
  /// `ServerOptions::max_body_bytes`. May be larger than that default, for uploads.
  uint64_t max_body_bytes = 0;
  /// Deliver the body as it arrives instead of buffering it whole: the handler runs when the
  /// head is complete (`req.body()` is then empty) and reads the body with
  /// `Response::read_body()`. Memory per upload stays bounded by one read, whatever its size.
  bool stream_body = false;
};

/// Result of `Router::match`.
struct RouteMatch {
  /// Most captures a route may have.
  static constexpr size_t kMaxParams = 16;

  /// The handler to call; null when no route matched (see `path_found`).
  const Handler* handler = nullptr;
  /// The matched route's settings (with `handler`).
  const RouteOptions* options = nullptr;
  /// True when some route matches the path: a null `handler` then means 405.
  bool path_found = false;
  /// Bitmask (1 << Method) of the methods routed for this path, for the `Allow` header.
  uint32_t allowed = 0;
  /// True when routes for this path accept any method.
  bool any_method = false;
  /// Captured `{name}` values (and "*" for a catch-all), views into the matched path.
  std::pair<std::string_view, std::string_view> params[kMaxParams];
  size_t param_count = 0;
};

/// Routing table. Patterns are '/'-separated segments: a literal (`users`), a capture
/// (`{id}`, matches one non-empty segment) or, as the last segment only, `*` (matches the
/// rest of the path, possibly empty, captured as param "*"). Literals win over captures,
/// captures over catch-alls, with backtracking. HEAD falls back to GET routes.
/// Not thread-safe to modify; a running server only reads it.
class TETHER_EXPORT Router {
 public:
  Router();
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;

  /// Adds a route for `method` (or for every method when `any` is true). Fails on a
  /// malformed pattern, too many captures, conflicting capture names at one position, or a
  /// duplicate route.
  Status add(Method method, std::string_view pattern, Handler handler, bool any = false);
  Status add(Method method, std::string_view pattern, RouteOptions options, Handler handler,
             bool any = false);

  /// Finds the route for `method` and `path`. Returns true when a handler was found.
  bool match(Method method, std::string_view path, RouteMatch& out) const;

  /// "GET, HEAD, POST" for an `allowed` mask (HEAD is listed whenever GET is).
  static std::string allow_header(uint32_t allowed);

  /// Implementation detail (a trie of path segments).
  struct Node;

 private:
  std::unique_ptr<Node> root_;
};

}  // namespace tether
