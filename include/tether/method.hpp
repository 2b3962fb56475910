// Method: the HTTP request methods tether routes on.
#pragma once

#include <cstdint>
#include <string_view>

#include "tether/export.hpp"

namespace tether {

/// Request methods a route can name. Requests with any other method that llhttp accepts
/// (PROPFIND, ...) arrive as `Other` and match only `Server::any` routes.
enum class Method : uint8_t { Get, Head, Post, Put, Delete, Patch, Options, Connect, Trace, Other };

/// Number of `Method` values; handy for per-method tables.
inline constexpr unsigned kMethodCount = 10;

/// Canonical upper-case name ("GET"); "OTHER" for `Method::Other`.
TETHER_EXPORT std::string_view method_name(Method m);

}  // namespace tether
