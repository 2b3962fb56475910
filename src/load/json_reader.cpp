// A recursive-descent parser: one function per production of RFC 8259's grammar. The
// recursion is bounded by kJsonMaxDepth; every read checks the end of the input first.
#include "load/json_reader.hpp"

#include <charconv>
#include <cstdio>
#include <system_error>
#include <utility>

#include "load/utf8.hpp"

namespace tether::load::detail {

const JsonValue* JsonValue::find(std::string_view key) const noexcept {
  if (type != Type::object) return nullptr;
  for (const JsonMember& m : members) {
    if (m.key == key) return &m.value;
  }
  return nullptr;
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view in) : in_(in) {}

  JsonParse run() {
    JsonParse out;
    skip_blanks();
    if (parse_value(out.value, 0)) {
      skip_blanks();
      if (pos_ < in_.size()) fail("unexpected data after the document");
    }
    if (!error_.empty()) {
      out.error = std::move(error_);
      out.error_offset = error_offset_;
      out.value = JsonValue{};
    }
    return out;
  }

 private:
  bool at_end() const noexcept { return pos_ >= in_.size(); }
  char peek() const noexcept { return in_[pos_]; }

  bool fail(std::string what) { return fail_at(pos_, std::move(what)); }
  bool fail_at(size_t offset, std::string what) {
    if (error_.empty()) {
      error_ = std::move(what);
      error_offset_ = offset;
    }
    return false;
  }
  bool fail_unexpected() {
    if (at_end()) return fail("unexpected end of input");
    const auto c = static_cast<unsigned char>(peek());
    if (c >= 0x21 && c < 0x7F) return fail(std::string("unexpected '") + peek() + "'");
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", c);
    return fail(std::string("unexpected byte ") + hex);
  }

  void skip_blanks() noexcept {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) {
      ++pos_;
    }
  }

  bool parse_value(JsonValue& v, size_t depth) {
    if (++values_ > kJsonMaxValues) {
      return fail("more than " + std::to_string(kJsonMaxValues) + " values");
    }
    v.offset = pos_;
    if (at_end()) return fail_unexpected();
    switch (peek()) {
      case '{':
        return parse_object(v, depth + 1);
      case '[':
        return parse_array(v, depth + 1);
      case '"':
        v.type = JsonValue::Type::string;
        return parse_string(v.text);
      case 't':
        v.type = JsonValue::Type::boolean;
        v.boolean = true;
        return parse_literal("true");
      case 'f':
        v.type = JsonValue::Type::boolean;
        return parse_literal("false");
      case 'n':
        return parse_literal("null");
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return parse_number(v);
        return fail_unexpected();
    }
  }

  bool parse_literal(std::string_view word) {
    if (in_.substr(pos_, word.size()) != word) {
      return fail("bad literal (expected " + std::string(word) + ")");
    }
    pos_ += word.size();
    return true;
  }

  bool enter(size_t depth) {
    if (depth > kJsonMaxDepth) {
      return fail("nested deeper than " + std::to_string(kJsonMaxDepth) + " levels");
    }
    ++pos_;  // the opening bracket
    skip_blanks();
    return true;
  }

  bool parse_array(JsonValue& v, size_t depth) {
    v.type = JsonValue::Type::array;
    if (!enter(depth)) return false;
    if (!at_end() && peek() == ']') {
      ++pos_;
      return true;
    }
    for (;;) {
      v.items.emplace_back();
      if (!parse_value(v.items.back(), depth)) return false;
      skip_blanks();
      if (at_end()) return fail("unterminated array");
      if (peek() == ']') {
        ++pos_;
        return true;
      }
      if (peek() != ',') return fail("expected ',' or ']' in an array");
      ++pos_;
      skip_blanks();
    }
  }

  bool parse_object(JsonValue& v, size_t depth) {
    v.type = JsonValue::Type::object;
    if (!enter(depth)) return false;
    if (!at_end() && peek() == '}') {
      ++pos_;
      return true;
    }
    for (;;) {
      if (at_end()) return fail("unterminated object");
      if (peek() != '"') return fail("expected a string key in an object");
      v.members.emplace_back();
      JsonMember& m = v.members.back();
      if (!parse_string(m.key)) return false;
      skip_blanks();
      if (at_end() || peek() != ':') return fail("expected ':' after a key");
      ++pos_;
      skip_blanks();
      if (!parse_value(m.value, depth)) return false;
      skip_blanks();
      if (at_end()) return fail("unterminated object");
      if (peek() == '}') {
        ++pos_;
        return true;
      }
      if (peek() != ',') return fail("expected ',' or '}' in an object");
      ++pos_;
      skip_blanks();
    }
  }

  bool parse_hex4(char32_t& out) {
    out = 0;
    for (size_t i = 0; i < 4; ++i) {
      if (pos_ + i >= in_.size()) return fail("truncated \\u escape");
      const char c = in_[pos_ + i];
      unsigned d = 0;
      if (c >= '0' && c <= '9') {
        d = static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        d = static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        d = static_cast<unsigned>(c - 'A' + 10);
      } else {
        return fail_at(pos_ + i, "bad hex digit in a \\u escape");
      }
      out = out * 16 + d;
    }
    pos_ += 4;
    return true;
  }

  // After the backslash and 'u': one code point, a surrogate pair joined.
  bool parse_unicode_escape(std::string& out) {
    const size_t start = pos_ - 2;
    char32_t cp = 0;
    if (!parse_hex4(cp)) return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail_at(start, "lone low surrogate in a \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (in_.substr(pos_, 2) != "\\u")
        return fail_at(start, "lone high surrogate in a \\u escape");
      pos_ += 2;
      char32_t low = 0;
      if (!parse_hex4(low)) return false;
      if (low < 0xDC00 || low > 0xDFFF) {
        return fail_at(start, "high surrogate not followed by a low one");
      }
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, cp);
    return true;
  }

  bool parse_string(std::string& out) {
    const size_t start = pos_;
    ++pos_;  // the opening quote
    for (;;) {
      if (at_end()) return fail_at(start, "unterminated string");
      const auto c = static_cast<unsigned char>(peek());
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return fail("control character in a string (it must be escaped)");
      if (c == '\\') {
        ++pos_;
        if (at_end()) return fail_at(start, "unterminated string");
        const char e = peek();
        ++pos_;
        switch (e) {
          case '"':
          case '\\':
          case '/':
            out += e;
            break;
          case 'b':
            out += '\b';
            break;
          case 'f':
            out += '\f';
            break;
          case 'n':
            out += '\n';
            break;
          case 'r':
            out += '\r';
            break;
          case 't':
            out += '\t';
            break;
          case 'u':
            if (!parse_unicode_escape(out)) return false;
            break;
          default:
            return fail_at(pos_ - 2, "bad escape in a string");
        }
        continue;
      }
      const size_t n = utf8_sequence_length(in_, pos_);
      if (n == 0) return fail("invalid UTF-8 in a string");
      out.append(in_.substr(pos_, n));
      pos_ += n;
    }
  }

  bool parse_number(JsonValue& v) {
    v.type = JsonValue::Type::number;
    const size_t start = pos_;
    auto digits = [&] {
      const size_t from = pos_;
      while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
      return pos_ - from;
    };
    bool integer = true;
    if (peek() == '-') {
      ++pos_;
      integer = false;
    }
    if (at_end() || !(peek() >= '0' && peek() <= '9')) return fail("bad number");
    if (peek() == '0') {
      ++pos_;
      if (!at_end() && peek() >= '0' && peek() <= '9') {
        return fail_at(start, "bad number (leading zero)");
      }
    } else {
      digits();
    }
    if (!at_end() && peek() == '.') {
      ++pos_;
      integer = false;
      if (digits() == 0) return fail("bad number (no digit after '.')");
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      ++pos_;
      integer = false;
      if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
      if (digits() == 0) return fail("bad number (no digit in the exponent)");
    }
    const std::string_view text = in_.substr(start, pos_ - start);
    if (text.size() > kJsonMaxNumberLength) {
      return fail_at(start,
                     "number longer than " + std::to_string(kJsonMaxNumberLength) + " characters");
    }
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v.number);
    if (ec != std::errc() || end != text.data() + text.size()) {
      return fail_at(start, "number out of range");
    }
    if (integer) {
      auto [uend, uec] = std::from_chars(text.data(), text.data() + text.size(), v.uint);
      v.is_uint = uec == std::errc() && uend == text.data() + text.size();
    }
    return true;
  }

  std::string_view in_;
  size_t pos_ = 0;
  size_t values_ = 0;
  std::string error_;
  size_t error_offset_ = 0;
};

}  // namespace

JsonParse parse_json(std::string_view text) {
  return Parser(text).run();
}

}  // namespace tether::load::detail
