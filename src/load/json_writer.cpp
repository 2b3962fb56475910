#include "load/json_writer.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <utility>

#include "load/utf8.hpp"

namespace tether::load::detail {

std::string json_quote(std::string_view text) {
  const std::string valid = to_valid_utf8(text);
  std::string out;
  out.reserve(valid.size() + 2);
  out += '"';
  for (char c : valid) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char esc[8];
          std::snprintf(esc, sizeof esc, "\\u%04X", static_cast<unsigned>(c));
          out += esc;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string json_number(double n) {
  if (!std::isfinite(n)) return "0";
  char buf[32];
  // to_chars with no format: the shortest text that reads back as the same double, and it
  // ignores the locale (printf's %g would write "0,5" under a German LC_NUMERIC).
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  if (ec != std::errc()) return "0";
  return std::string(buf, end);
}

void JsonWriter::newline_indent() {
  out_ += '\n';
  out_.append(levels_.size() * 2, ' ');
}

void JsonWriter::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (levels_.empty()) return;
  Level& l = levels_.back();
  if (!l.empty) out_ += l.one_line ? ", " : ",";
  if (!l.one_line) newline_indent();
  l.empty = false;
}

void JsonWriter::begin(char bracket, Layout layout) {
  before_value();
  out_ += bracket;
  const bool inherited = !levels_.empty() && levels_.back().one_line;
  levels_.push_back(Level{layout == Layout::one_line || inherited, true});
}

void JsonWriter::end(char bracket) {
  const Level l = levels_.back();
  levels_.pop_back();
  if (!l.one_line && !l.empty) newline_indent();
  out_ += bracket;
}

void JsonWriter::begin_object(Layout layout) {
  begin('{', layout);
}
void JsonWriter::end_object() {
  end('}');
}
void JsonWriter::begin_array(Layout layout) {
  begin('[', layout);
}
void JsonWriter::end_array() {
  end(']');
}

void JsonWriter::key(std::string_view name) {
  before_value();
  out_ += json_quote(name);
  out_ += ": ";
  after_key_ = true;
}

void JsonWriter::value(std::string_view text) {
  before_value();
  out_ += json_quote(text);
}

void JsonWriter::value(uint64_t n) {
  before_value();
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out_.append(buf, end);
}

void JsonWriter::value(double n) {
  before_value();
  out_ += json_number(n);
}

void JsonWriter::value(bool b) {
  before_value();
  out_ += b ? "true" : "false";
}

std::string JsonWriter::take() {
  out_ += '\n';
  levels_.clear();
  after_key_ = false;
  std::string text = std::move(out_);
  out_.clear();
  return text;
}

}  // namespace tether::load::detail
