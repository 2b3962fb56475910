// A JSON writer for the reports: it places the commas, the indentation and the escapes, so
// that the report code only says what goes in. Output is UTF-8 whatever the input: bytes
// of a string that are not well-formed UTF-8 are written as U+FFFD. Numbers are written
// without locale, doubles in their shortest exact form; NaN and infinities as 0 (JSON has
// neither).
//
//   JsonWriter w;
//   w.begin_object();
//   w.key("requests"); w.value(uint64_t{12});
//   w.key("point"); w.begin_array(JsonWriter::Layout::one_line); w.value(99.9); w.end_array();
//   w.end_object();
//   std::string text = w.take();
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tether::load::detail {

class JsonWriter {
 public:
  /// Indented: one member or element per line. One line: all on the line of its opening
  /// bracket (and so is everything nested in it).
  enum class Layout { indented, one_line };

  void begin_object(Layout layout = Layout::indented);
  void end_object();
  void begin_array(Layout layout = Layout::indented);
  void end_array();
  /// The key of the next member of the object being written.
  void key(std::string_view name);
  void value(std::string_view text);
  void value(const char* text) { value(std::string_view(text)); }
  void value(uint64_t n);
  void value(double n);
  void value(bool b);

  /// The document written so far, with a final newline; the writer is then empty.
  std::string take();

 private:
  struct Level {
    bool one_line = false;
    bool empty = true;
  };
  void before_value();
  void begin(char bracket, Layout layout);
  void end(char bracket);
  void newline_indent();

  std::string out_;
  std::vector<Level> levels_;
  bool after_key_ = false;
};

/// `text` as a JSON string literal, quotes included.
std::string json_quote(std::string_view text);

/// `n` as JSON: shortest exact decimal form, C locale; 0 for NaN and infinities.
std::string json_number(double n);

}  // namespace tether::load::detail
