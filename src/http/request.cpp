#include "tether/request.hpp"

#include <arpa/inet.h>

#include <llhttp.h>

#include "http/ascii.hpp"
#include "http/request_data.hpp"

namespace tether {

Method Request::method() const {
  return d_->method;
}

std::string_view Request::method_name() const {
  return llhttp_method_name(static_cast<llhttp_method_t>(d_->llhttp_method));
}

std::string_view Request::target() const {
  return d_->view(d_->target);
}
std::string_view Request::path() const {
  return d_->path;
}
std::string_view Request::query_string() const {
  return d_->query;
}

std::optional<std::string_view> Request::query(std::string_view key) const {
  std::string_view q = d_->query;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) {
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string_view Request::param(std::string_view name) const {
  const RouteMatch& m = d_->route;
  for (size_t i = 0; i < m.param_count; ++i) {
    if (m.params[i].first == name) return m.params[i].second;
  }
  return {};
}

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const detail::HeaderSpan& h : d_->headers) {
    if (detail::iequals(d_->view(h.name), name)) return d_->view(h.value);
  }
  return std::nullopt;
}

size_t Request::header_count() const {
  return d_->headers.size();
}

std::pair<std::string_view, std::string_view> Request::header_at(size_t i) const {
  const detail::HeaderSpan& h = d_->headers.at(i);
  return {d_->view(h.name), d_->view(h.value)};
}

std::string_view Request::body() const {
  return d_->body();
}
int Request::version_major() const {
  return d_->major;
}
int Request::version_minor() const {
  return d_->minor;
}
bool Request::keep_alive() const {
  return d_->keep_alive;
}

std::string Request::remote_address() const {
  const detail::PeerAddress* p = d_->peer;
  if (!p || p->family == 0) return {};
  char text[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(p->family, p->addr, text, sizeof text)) return {};
  return text;
}

uint16_t Request::remote_port() const {
  return d_->peer ? d_->peer->port : 0;
}

std::string url_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace tether
