#include "tether/router.hpp"

#include <vector>

namespace tether {

std::string_view method_name(Method m) {
  switch (m) {
    case Method::Get:
      return "GET";
    case Method::Head:
      return "HEAD";
    case Method::Post:
      return "POST";
    case Method::Put:
      return "PUT";
    case Method::Delete:
      return "DELETE";
    case Method::Patch:
      return "PATCH";
    case Method::Options:
      return "OPTIONS";
    case Method::Connect:
      return "CONNECT";
    case Method::Trace:
      return "TRACE";
    case Method::Other:
      return "OTHER";
  }
  return "OTHER";
}

struct Router::Node {
  std::string literal;
  std::vector<std::unique_ptr<Node>> literals;
  std::unique_ptr<Node> param;
  std::string param_name;
  std::unique_ptr<Node> catch_all;

  Handler handlers[kMethodCount];
  RouteOptions options[kMethodCount];
  uint32_t mask = 0;  // methods with a handler here
  Handler any_handler;
  RouteOptions any_options;
  bool has_any = false;

  bool routed() const { return mask != 0 || has_any; }
  bool handles(Method m) const {
    uint32_t bit = 1u << static_cast<unsigned>(m);
    if (mask & bit) return true;
    if (m == Method::Head && (mask & (1u << static_cast<unsigned>(Method::Get)))) return true;
    return has_any;
  }
  /// Sets the handler and options of method `m` in `out` (nulls when it has none).
  void route_for(Method m, RouteMatch& out) const {
    unsigned i = static_cast<unsigned>(m);
    if (!(mask & (1u << i)) && m == Method::Head &&
        (mask & (1u << static_cast<unsigned>(Method::Get)))) {
      i = static_cast<unsigned>(Method::Get);
    }
    if (mask & (1u << i)) {
      out.handler = &handlers[i];
      out.options = &options[i];
    } else if (has_any) {
      out.handler = &any_handler;
      out.options = &any_options;
    } else {
      out.handler = nullptr;
      out.options = nullptr;
    }
  }
};

namespace {

struct Walk {
  Method method;
  bool want_handler;  // pass 1: a node that handles the method; pass 2: any routed node
  RouteMatch& out;
};

bool accept(const Router::Node& n, Walk& w);

}  // namespace

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

Status Router::add(Method method, std::string_view pattern, Handler handler, bool any) {
  return add(method, pattern, RouteOptions{}, std::move(handler), any);
}

Status Router::add(Method method, std::string_view pattern, RouteOptions options, Handler handler,
                   bool any) {
  if (pattern.empty() || pattern.front() != '/')
    return Status::error("route pattern must start with '/': " + std::string(pattern));
  if (!handler) return Status::error("route handler is empty: " + std::string(pattern));
  Node* n = root_.get();
  size_t captures = 0;
  std::string_view rest = pattern.substr(1);
  while (true) {
    size_t slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    bool last = slash == std::string_view::npos;
    if (seg == "*") {
      if (!last) return Status::error("'*' must be the last segment: " + std::string(pattern));
      if (++captures > RouteMatch::kMaxParams)
        return Status::error("too many captures: " + std::string(pattern));
      if (!n->catch_all) n->catch_all = std::make_unique<Node>();
      n = n->catch_all.get();
    } else if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
      std::string_view name = seg.substr(1, seg.size() - 2);
      if (name.empty() || name.find_first_of("{}/") != std::string_view::npos) {
        return Status::error("bad capture name in " + std::string(pattern));
      }
      if (++captures > RouteMatch::kMaxParams)
        return Status::error("too many captures: " + std::string(pattern));
      if (!n->param) {
        n->param = std::make_unique<Node>();
        n->param_name = std::string(name);
      } else if (n->param_name != name) {
        return Status::error("capture {" + std::string(name) + "} conflicts with {" +
                             n->param_name + "} at the same position: " + std::string(pattern));
      }
      n = n->param.get();
    } else {
      if (seg.find_first_of("{}*") != std::string_view::npos) {
        return Status::error("bad segment '" + std::string(seg) + "' in " + std::string(pattern));
      }
      Node* child = nullptr;
      for (auto& c : n->literals) {
        if (c->literal == seg) child = c.get();
      }
      if (!child) {
        n->literals.push_back(std::make_unique<Node>());
        child = n->literals.back().get();
        child->literal = std::string(seg);
      }
      n = child;
    }
    if (last) break;
    rest = rest.substr(slash + 1);
  }
  if (any) {
    if (n->has_any) return Status::error("duplicate route: ANY " + std::string(pattern));
    n->any_handler = std::move(handler);
    n->any_options = options;
    n->has_any = true;
  } else {
    uint32_t bit = 1u << static_cast<unsigned>(method);
    if (n->mask & bit) {
      return Status::error("duplicate route: " + std::string(method_name(method)) + " " +
                           std::string(pattern));
    }
    n->handlers[static_cast<unsigned>(method)] = std::move(handler);
    n->options[static_cast<unsigned>(method)] = options;
    n->mask |= bit;
  }
  return {};
}

namespace {

// `rest` is the path after a '/', i.e. the segments still to match.
bool walk_children(const Router::Node& n, std::string_view rest, Walk& w) {
  size_t slash = rest.find('/');
  std::string_view seg = rest.substr(0, slash);
  bool last = slash == std::string_view::npos;
  std::string_view after = last ? std::string_view() : rest.substr(slash + 1);
  for (const auto& c : n.literals) {
    if (c->literal != seg) continue;
    if (last ? accept(*c, w) : walk_children(*c, after, w)) return true;
  }
  if (n.param && !seg.empty()) {
    size_t mark = w.out.param_count;
    w.out.params[w.out.param_count++] = {n.param_name, seg};
    if (last ? accept(*n.param, w) : walk_children(*n.param, after, w)) return true;
    w.out.param_count = mark;
  }
  if (n.catch_all) {
    size_t mark = w.out.param_count;
    w.out.params[w.out.param_count++] = {"*", rest};
    if (accept(*n.catch_all, w)) return true;
    w.out.param_count = mark;
  }
  return false;
}

bool accept(const Router::Node& n, Walk& w) {
  if (w.want_handler) {
    if (!n.handles(w.method)) return false;
    n.route_for(w.method, w.out);
    return true;
  }
  // Pass 2 (no handler for the method): visit every route matching the path, so that Allow
  // lists each method that would be served, whichever route would serve it.
  if (n.routed()) {
    w.out.path_found = true;
    w.out.allowed |= n.mask;
    w.out.any_method = w.out.any_method || n.has_any;
  }
  return false;
}

}  // namespace

bool Router::match(Method method, std::string_view path, RouteMatch& out) const {
  out.handler = nullptr;
  out.options = nullptr;
  out.path_found = false;
  out.allowed = 0;
  out.any_method = false;
  out.param_count = 0;
  if (path.empty() || path.front() != '/') return false;
  Walk w{method, true, out};
  if (walk_children(*root_, path.substr(1), w)) {
    out.path_found = true;
    return true;
  }
  out.param_count = 0;
  Walk any{method, false, out};
  walk_children(*root_, path.substr(1), any);
  out.param_count = 0;
  return false;
}

std::string Router::allow_header(uint32_t allowed) {
  if (allowed & (1u << static_cast<unsigned>(Method::Get)))
    allowed |= 1u << static_cast<unsigned>(Method::Head);
  std::string s;
  for (unsigned m = 0; m < kMethodCount; ++m) {
    if (!(allowed & (1u << m))) continue;
    if (!s.empty()) s += ", ";
    s += method_name(static_cast<Method>(m));
  }
  return s;
}

}  // namespace tether
