// A small strict JSON reader (RFC 8259) for the saved reports that `tether-load plot` reads.
//
// The input is untrusted (any file named on the command line), so the reader is bounded in
// every direction: it never reads past the end of its input, containers nest at most
// kJsonMaxDepth deep (the parser recurses once per level), a document holds at most
// kJsonMaxValues values, numbers are at most kJsonMaxNumberLength characters and must fit a
// double, and strings must be valid UTF-8 with valid escapes (no lone surrogates). Errors
// are values: a one-line message and the byte offset where the input went wrong.
//
//   JsonParse p = parse_json(R"({"a": [1, 2.5, "x"]})");
//   if (!p.ok()) { /* p.error_offset, p.error: "unterminated string" */ }
//   const JsonValue* a = p.value.find("a");
//
// Duplicate keys are kept in order and find() returns the first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tether::load::detail {

inline constexpr size_t kJsonMaxDepth = 64;
inline constexpr size_t kJsonMaxValues = 2'000'000;
inline constexpr size_t kJsonMaxNumberLength = 64;

struct JsonMember;

/// One value of a parsed document.
struct JsonValue {
  enum class Type { null, boolean, number, string, array, object };
  Type type = Type::null;
  /// Byte offset of the value's first character in the input (for error messages).
  size_t offset = 0;
  bool boolean = false;
  /// A number, as a double; `is_uint` when it is also an integer in 0 .. 2^64 - 1 written
  /// without fraction or exponent, then exactly `uint`.
  double number = 0;
  bool is_uint = false;
  uint64_t uint = 0;
  /// A string, decoded (escapes resolved), UTF-8.
  std::string text;
  std::vector<JsonValue> items;     ///< an array's elements
  std::vector<JsonMember> members;  ///< an object's members, in input order

  /// The first member named `key` of an object; nullptr when absent or not an object.
  const JsonValue* find(std::string_view key) const noexcept;
};

struct JsonMember {
  std::string key;
  JsonValue value;
};

/// The result of parse_json: the document, or an error at a byte offset.
struct JsonParse {
  JsonValue value;
  std::string error;
  size_t error_offset = 0;
  bool ok() const noexcept { return error.empty(); }
};

/// Parses one JSON document: a value, with optional whitespace around it and nothing else.
JsonParse parse_json(std::string_view text);

}  // namespace tether::load::detail
