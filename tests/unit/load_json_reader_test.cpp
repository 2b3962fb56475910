// The JSON reader that `tether-load plot` runs on files given on the command line: every
// kind of value, and a table of malformed documents, each refused with its message and byte
// offset. The hostile inputs are parsed from buffers of their exact size, so that a read
// past the end is caught by ASan.
#include "load/json_reader.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tether/load/report.hpp"

namespace {

using tether::load::detail::JsonParse;
using tether::load::detail::JsonValue;
using tether::load::detail::kJsonMaxDepth;
using Type = JsonValue::Type;

// Parses a copy of `text` in a heap buffer of exactly its size (no terminating NUL).
JsonParse parse_exact(std::string_view text) {
  auto buf = std::make_unique<char[]>(text.size() + (text.empty() ? 1 : 0));
  std::copy(text.begin(), text.end(), buf.get());
  return tether::load::detail::parse_json(std::string_view(buf.get(), text.size()));
}

TEST(LoadJsonReader, EveryKindOfValue) {
  const auto p = parse_exact(
      " {\"n\": null, \"t\": true, \"f\": false, \"i\": 18446744073709551615,"
      " \"big\": 18446744073709551616, \"neg\": -0.5e-3, \"z\": 0, \"e\": 1E+2,"
      " \"s\": \"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20AC\\ud83d\\ude80\xC3\xA9\","
      " \"a\": [[], {}, [1, [2]]], \"dup\": 1, \"dup\": 2}\r\n\t");
  ASSERT_TRUE(p.ok()) << p.error << " at " << p.error_offset;
  const JsonValue& v = p.value;
  ASSERT_EQ(v.type, Type::object);
  EXPECT_EQ(v.offset, 1u);
  EXPECT_EQ(v.find("n")->type, Type::null);
  EXPECT_TRUE(v.find("t")->boolean);
  EXPECT_EQ(v.find("f")->type, Type::boolean);
  EXPECT_FALSE(v.find("f")->boolean);
  EXPECT_TRUE(v.find("i")->is_uint);
  EXPECT_EQ(v.find("i")->uint, UINT64_MAX);
  EXPECT_FALSE(v.find("big")->is_uint);  // still a number, not an exact count
  EXPECT_EQ(v.find("big")->number, 18446744073709551616.0);
  EXPECT_FALSE(v.find("neg")->is_uint);
  EXPECT_EQ(v.find("neg")->number, -0.0005);
  EXPECT_TRUE(v.find("z")->is_uint);
  EXPECT_FALSE(v.find("e")->is_uint);
  EXPECT_EQ(v.find("e")->number, 100);
  EXPECT_EQ(v.find("s")->text, "a\"\\/\b\f\n\r\t\xC3\xA9\xE2\x82\xAC\xF0\x9F\x9A\x80\xC3\xA9");
  const JsonValue& a = *v.find("a");
  ASSERT_EQ(a.items.size(), 3u);
  EXPECT_EQ(a.items[0].type, Type::array);
  EXPECT_EQ(a.items[1].type, Type::object);
  EXPECT_EQ(a.items[2].items[1].items[0].uint, 2u);
  EXPECT_EQ(v.find("dup")->uint, 1u);  // the first wins
  EXPECT_EQ(v.find("missing"), nullptr);
  EXPECT_EQ(a.find("x"), nullptr);  // not an object
}

TEST(LoadJsonReader, NestingUpToTheLimit) {
  const std::string ok = std::string(kJsonMaxDepth, '[') + std::string(kJsonMaxDepth, ']');
  EXPECT_TRUE(parse_exact(ok).ok());
  const std::string deep = "[" + ok + "]";
  const auto p = parse_exact(deep);
  EXPECT_FALSE(p.ok());
  EXPECT_EQ(p.error, "nested deeper than 64 levels");
  EXPECT_EQ(p.error_offset, kJsonMaxDepth);
  // A million open brackets: refused at the limit, not a stack overflow.
  const auto q = parse_exact(std::string(1'000'000, '['));
  EXPECT_EQ(q.error, "nested deeper than 64 levels");
  std::string objects;
  for (size_t i = 0; i < 100'000; ++i) objects += "{\"a\":";
  EXPECT_EQ(parse_exact(objects).error, "nested deeper than 64 levels");
}

TEST(LoadJsonReader, MalformedDocumentsAreRefused) {
  struct Case {
    std::string doc;
    const char* error;
    size_t offset;
  };
  const std::string huge_digits = "1" + std::string(400, '0');
  const Case cases[] = {
      {"", "unexpected end of input", 0},
      {"   ", "unexpected end of input", 3},
      {"{", "unterminated object", 1},
      {"{\"a\"", "expected ':' after a key", 4},
      {"{\"a\":", "unexpected end of input", 5},
      {"{\"a\":1", "unterminated object", 6},
      {"{\"a\":1,}", "expected a string key in an object", 7},
      {"{\"a\" 1}", "expected ':' after a key", 5},
      {"{a:1}", "expected a string key in an object", 1},
      {"{\"a\":1 \"b\":2}", "expected ',' or '}' in an object", 7},
      {"[1,2", "unterminated array", 4},
      {"[1,]", "unexpected ']'", 3},
      {"[1 2]", "expected ',' or ']' in an array", 3},
      {"[,1]", "unexpected ','", 1},
      {"\"abc", "unterminated string", 0},
      {"[\"abc\\", "unterminated string", 1},
      {"\"a\\qb\"", "bad escape in a string", 2},
      {"\"\\x41\"", "bad escape in a string", 1},
      {"\"\\u12\"", "bad hex digit in a \\u escape", 5},
      {"\"\\u12", "truncated \\u escape", 3},
      {"\"\\uZZZZ\"", "bad hex digit in a \\u escape", 3},
      {"\"\\uD800\"", "lone high surrogate in a \\u escape", 1},
      {"\"\\uDC00\"", "lone low surrogate in a \\u escape", 1},
      {"\"\\uD800\\u0041\"", "high surrogate not followed by a low one", 1},
      {"\"\\uD800\\u", "truncated \\u escape", 9},
      {"\"a\nb\"", "control character in a string (it must be escaped)", 2},
      {std::string("\"a\0b\"", 5), "control character in a string (it must be escaped)", 2},
      {"\"\xFF\"", "invalid UTF-8 in a string", 1},
      {"\"\xC0\xAF\"", "invalid UTF-8 in a string", 1},          // overlong '/'
      {"\"\xED\xA0\x80\"", "invalid UTF-8 in a string", 1},      // an encoded surrogate
      {"\"\xF4\x90\x80\x80\"", "invalid UTF-8 in a string", 1},  // above U+10FFFF
      {"\"\xE2\x82\"", "invalid UTF-8 in a string", 1},          // cut short
      {"\"\xE2\x82", "invalid UTF-8 in a string", 1},            // cut by the end
      {"01", "bad number (leading zero)", 0},
      {"-", "bad number", 1},
      {"-a", "bad number", 1},
      {"+1", "unexpected '+'", 0},
      {".5", "unexpected '.'", 0},
      {"1.", "bad number (no digit after '.')", 2},
      {"1.e5", "bad number (no digit after '.')", 2},
      {"1e", "bad number (no digit in the exponent)", 2},
      {"1e+", "bad number (no digit in the exponent)", 3},
      {"1e999", "number out of range", 0},
      {"[-1e999]", "number out of range", 1},
      {huge_digits, "number longer than 64 characters", 0},
      {"NaN", "unexpected 'N'", 0},
      {"Infinity", "unexpected 'I'", 0},
      {"-Infinity", "bad number", 1},
      {"tru", "bad literal (expected true)", 0},
      {"nul", "bad literal (expected null)", 0},
      {"falsey", "unexpected data after the document", 5},
      {"1 2", "unexpected data after the document", 2},
      {"{} x", "unexpected data after the document", 3},
      {std::string("[1]\0", 4), "unexpected data after the document", 3},
      {std::string("\0", 1), "unexpected byte 0x00", 0},
      {"\xEF\xBB\xBF{}", "unexpected byte 0xEF", 0},  // a BOM is not JSON
      {"[1]]", "unexpected data after the document", 3},
      {"'a'", "unexpected '''", 0},
  };
  for (const Case& c : cases) {
    const auto p = parse_exact(c.doc);
    EXPECT_FALSE(p.ok()) << c.doc;
    EXPECT_EQ(p.error, c.error) << c.doc;
    EXPECT_EQ(p.error_offset, c.offset) << c.doc << " (" << p.error << ")";
    EXPECT_EQ(p.value.type, Type::null) << c.doc;
  }
}

std::string sample_report() {
  tether::load::RunReport r;
  r.url = "http://h/\"x\"\\\x01";
  r.corrected_spectrum = {{0, 1}, {50, 2}, {100, 3}};
  r.service_spectrum = r.corrected_spectrum;
  r.series = {{0, 1, 0, 1.5, 1, 2, 3, 4, 5}, {1, 1, 0, 2.5, 1, 2, 3, 4, 5}};
  return tether::load::format_report_json(r);
}

// Every proper prefix of a report (an object) is refused, and none is read past its end.
TEST(LoadJsonReader, EveryTruncationIsRefused) {
  const std::string doc = sample_report();
  ASSERT_TRUE(parse_exact(doc).ok());
  const size_t end = doc.find_last_of('}');
  for (size_t n = 0; n <= end; ++n) {
    const auto p = parse_exact(std::string_view(doc).substr(0, n));
    EXPECT_FALSE(p.ok()) << "prefix of " << n << " bytes";
    EXPECT_LE(p.error_offset, n);
  }
}

// Any byte changed anywhere: the report is read or refused with a one-line error at an
// offset inside the document, never a crash.
TEST(LoadJsonReader, CorruptedReportsAreReadOrRefused) {
  const std::string doc = sample_report();
  const char replacements[] = {'"', '\\', ']', '\x80'};
  size_t refused = 0;
  for (size_t i = 0; i < doc.size(); ++i) {
    for (char c : replacements) {
      std::string bad = doc;
      bad[i] = c;
      auto buf = std::make_unique<char[]>(bad.size());
      std::copy(bad.begin(), bad.end(), buf.get());
      tether::load::RunReport out;
      std::string error;
      if (!tether::load::parse_report_json(std::string_view(buf.get(), bad.size()), out, error)) {
        ++refused;
        ASSERT_EQ(error.rfind("byte ", 0), 0u) << error;
        ASSERT_EQ(error.find('\n'), std::string::npos) << error;
        ASSERT_LE(std::stoul(error.substr(5)), bad.size()) << error;
      }
    }
  }
  EXPECT_GT(refused, doc.size());  // most changes break it
}

}  // namespace
