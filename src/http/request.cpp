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

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool needs_decoding(std::string_view s, bool plus_is_space) {
  return s.find_first_of(plus_is_space ? std::string_view("%+") : std::string_view("%")) !=
         std::string_view::npos;
}

// `%XX` escapes (invalid ones kept as they are), and '+' as a space for a form's query.
std::string decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

// A view of `raw` decoded, kept in the request's store while it needs one.
std::string_view decoded_view(const detail::RequestData& d, std::string_view raw,
                              bool plus_is_space) {
  if (!needs_decoding(raw, plus_is_space)) return raw;
  return d.keep_decoded(decode(raw, plus_is_space));
}

// Calls `f(key, value)` for each pair of the query until it returns true.
template <class F>
void for_each_pair(std::string_view q, F&& f) {
  while (!q.empty()) {
    const size_t amp = q.find('&');
    const std::string_view pair = q.substr(0, amp);
    const size_t eq = pair.find('=');
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (f(pair.substr(0, eq), value)) return;
    if (amp == std::string_view::npos) return;
    q.remove_prefix(amp + 1);
  }
}

}  // namespace

std::optional<std::string_view> Request::query_raw(std::string_view key) const {
  std::optional<std::string_view> found;
  for_each_pair(d_->query, [&](std::string_view k, std::string_view v) {
    if (k != key) return false;
    found = v;
    return true;
  });
  return found;
}

std::optional<std::string_view> Request::query(std::string_view key) const {
  std::optional<std::string_view> found;
  for_each_pair(d_->query, [&](std::string_view k, std::string_view v) {
    if (needs_decoding(k, true) ? decode(k, true) != key : k != key) return false;
    found = decoded_view(*d_, v, true);
    return true;
  });
  return found;
}

std::string_view Request::param_raw(std::string_view name) const {
  if (!d_->route) return {};
  const RouteMatch& m = *d_->route;
  for (size_t i = 0; i < m.param_count; ++i) {
    if (m.params[i].first == name) return m.params[i].second;
  }
  return {};
}

std::string_view Request::param(std::string_view name) const {
  return decoded_view(*d_, param_raw(name), false);
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
  return decode(s, false);
}

}  // namespace tether
