// A query parameter of a demo route as a bounded number.
#pragma once

#include <charconv>
#include <optional>
#include <string_view>

#include "tether/request.hpp"

namespace tetherd {

/// `fallback` when `key` is absent; nullopt when present but not a number in [0, max].
template <class T>
std::optional<T> query_number(tether::Request& req, std::string_view key, T fallback, T max) {
  auto v = req.query(key);
  if (!v) return fallback;
  T n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || end != v->data() + v->size() || n > max) return std::nullopt;
  return n;
}

}  // namespace tetherd
