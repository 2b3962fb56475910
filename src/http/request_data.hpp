// RequestData: what the parser extracted from one request, as offsets into the buffer that
// holds the request head (zero-copy while the request is handled inside one read).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tether/method.hpp"
#include "tether/router.hpp"

namespace tether::detail {

/// A byte range relative to `RequestData::base`.
struct Span {
  uint32_t off = 0;
  uint32_t len = 0;
};

struct HeaderSpan {
  Span name;
  Span value;
};

/// The client's address, taken once per connection when it is accepted (family 0: none, as
/// for an in-memory connection).
struct PeerAddress {
  uint8_t family = 0;  // AF_INET or AF_INET6
  uint16_t port = 0;
  uint8_t addr[16] = {};
};

struct RequestData {
  /// Start of the message in the buffer that holds its head: the read buffer, the
  /// connection's leftover bytes, or `head_store` once the request outlived its read. Null
  /// from reset() until a parse starts, so a parse can tell a fresh target from a used one.
  const char* base = nullptr;
  Span target;
  std::vector<HeaderSpan> headers;
  /// Body bytes relative to `base` while `body_copied` is false; else in `body_store`.
  Span body_view;
  std::string body_store;
  std::string head_store;

  Method method = Method::Get;
  uint8_t llhttp_method = 0;
  uint8_t major = 1;
  uint8_t minor = 1;
  bool keep_alive = true;
  bool body_copied = false;  // the body is in `body_store` (see body_view)
  /// Path and query are split (at the head, for a request with a body).
  bool routed = false;

  /// The connection's client (set at dispatch; outlives the handler call).
  const PeerAddress* peer = nullptr;
  /// Filled at dispatch: views into the target, and the router's captures.
  std::string_view path;
  std::string_view query;
  /// The route's captures while its handler runs (they live in the loop's routing scratch,
  /// not in every pooled request); null otherwise.
  const RouteMatch* route = nullptr;
  /// Its route's settings, once routed (at its head for a request with a body).
  const RouteOptions* route_options = nullptr;

  /// Percent-decoded query values and route captures handed out (only those that needed
  /// decoding), each in its own node so that earlier views stay valid, until reset(). Pushed
  /// with a compare-and-swap: a handler that shares its Request with threads it joins before
  /// returning may decode from several at once (the accessors are const).
  struct Decoded {
    std::string value;
    Decoded* next = nullptr;
  };
  mutable std::atomic<Decoded*> decoded{nullptr};
  std::string_view keep_decoded(std::string value) const {
    auto* d = new Decoded{std::move(value), decoded.load(std::memory_order_relaxed)};
    while (!decoded.compare_exchange_weak(d->next, d, std::memory_order_release,
                                          std::memory_order_relaxed)) {
    }
    return d->value;
  }
  void clear_decoded() {
    Decoded* d = decoded.exchange(nullptr, std::memory_order_acquire);
    while (d) delete std::exchange(d, d->next);
  }
  RequestData() = default;
  RequestData(const RequestData&) = delete;
  RequestData& operator=(const RequestData&) = delete;
  ~RequestData() { clear_decoded(); }

  std::string_view view(Span s) const { return {base + s.off, s.len}; }
  /// The head moved from `old_base` to `base` (a request that outlived its read): the views
  /// routing made into it follow.
  void rebase(const char* old_base, size_t head_len) {
    const auto from = reinterpret_cast<uintptr_t>(old_base);
    auto move = [&](std::string_view& v) {
      const auto at = reinterpret_cast<uintptr_t>(v.data());
      if (at >= from && at + v.size() <= from + head_len) v = {base + (at - from), v.size()};
    };
    move(path);
    move(query);
  }
  std::string_view body() const {
    return body_copied ? std::string_view(body_store) : view(body_view);
  }

  /// Copies the head into `head_store` (unless it is there already), so that method, target
  /// and headers stay readable once the buffer it was parsed in is reused. Path and query follow
  /// it; a body not copied yet goes (the access log does not need it).
  void keep_head() {
    if (!base || base == head_store.data()) return;
    uint32_t end = target.off + target.len;
    for (const HeaderSpan& h : headers) {
      end = std::max({end, h.name.off + h.name.len, h.value.off + h.value.len});
    }
    if (!body_copied) body_view = {};
    const char* old = base;
    head_store.assign(base, end);
    base = head_store.data();
    rebase(old, end);
  }

  /// The request outlives its handler while the buffer its head was parsed in is reused (the
  /// loop's read buffer, the connection's leftover bytes): the views into it go, so that a
  /// Request kept past its handler (misuse) reads empty values, never freed or another
  /// request's bytes. A head already in `head_store` stays; scalars (method, version,
  /// keep-alive), decoded values and a copied body stay. Not for a head the parser still
  /// needs (it is detached into `head_store` instead).
  void forget_head() {
    if (!base || base == head_store.data()) return;
    static constexpr char kNothing[1] = {};
    base = kNothing;
    target = {};
    headers.clear();
    if (!body_copied) body_view = {};
    path = query = {};
  }

  /// Back to empty, keeping the capacity of every buffer (no allocation in steady state).
  void reset() {
    base = nullptr;
    peer = nullptr;
    clear_decoded();
    target = {};
    headers.clear();
    body_view = {};
    body_copied = false;
    body_store.clear();
    head_store.clear();
    method = Method::Get;
    llhttp_method = 0;
    major = minor = 1;
    keep_alive = true;
    path = query = {};
    routed = false;
    route = nullptr;
    route_options = nullptr;
  }
};

}  // namespace tether::detail
