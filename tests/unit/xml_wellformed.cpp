#include "xml_wellformed.hpp"

#include "load/utf8.hpp"

namespace tether_test {

size_t XmlCheck::count(std::string_view name, std::string_view attr,
                       std::string_view prefix) const {
  size_t n = 0;
  for (const XmlElement& e : elements) {
    if (e.name != name) continue;
    if (!attr.empty()) {
      auto it = e.attributes.find(std::string(attr));
      if (it == e.attributes.end() || it->second.rfind(prefix, 0) != 0) continue;
    }
    ++n;
  }
  return n;
}

namespace {

bool name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool name_char(char c) {
  return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}
bool blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

class Checker {
 public:
  explicit Checker(std::string_view d) : d_(d) {}

  XmlCheck run() {
    if (!encoding()) return done();
    if (d_.substr(0, 5) == "<?xml") {
      const size_t end = d_.find("?>");
      if (end == std::string_view::npos) return failed("unterminated XML declaration");
      pos_ = end + 2;
    }
    skip_blanks();
    std::vector<std::string> open;
    bool had_root = false;
    while (pos_ < d_.size()) {
      if (d_[pos_] != '<') {
        const size_t start = pos_;
        while (pos_ < d_.size() && d_[pos_] != '<') ++pos_;
        std::string_view text = d_.substr(start, pos_ - start);
        if (open.empty() && text.find_first_not_of(" \t\r\n") != std::string_view::npos) {
          return failed_at(start, "text outside the root element");
        }
        if (!references(text, start) || !no_gt_sequence(text, start)) return done();
        if (!open.empty()) out_.elements[current_.back()].text += std::string(text);
        continue;
      }
      if (d_.substr(pos_, 4) == "<!--") {
        const size_t end = d_.find("-->", pos_ + 4);
        if (end == std::string_view::npos) return failed("unterminated comment");
        pos_ = end + 3;
        continue;
      }
      if (d_.substr(pos_, 2) == "</") {
        pos_ += 2;
        std::string name;
        if (!read_name(name)) return done();
        skip_blanks();
        if (pos_ >= d_.size() || d_[pos_] != '>') return failed("expected '>'");
        ++pos_;
        if (open.empty() || open.back() != name) {
          return failed("closing tag </" + name + "> does not match");
        }
        open.pop_back();
        current_.pop_back();
        continue;
      }
      ++pos_;
      if (open.empty() && had_root) return failed("a second root element");
      had_root = true;
      XmlElement e;
      if (!read_name(e.name)) return done();
      bool self_closing = false;
      for (;;) {
        const bool had_blank = pos_ < d_.size() && blank(d_[pos_]);
        skip_blanks();
        if (pos_ >= d_.size()) return failed("unterminated tag");
        if (d_[pos_] == '>') {
          ++pos_;
          break;
        }
        if (d_.substr(pos_, 2) == "/>") {
          pos_ += 2;
          self_closing = true;
          break;
        }
        if (!had_blank) return failed("expected a blank before an attribute");
        std::string attr;
        if (!read_name(attr)) return done();
        skip_blanks();
        if (pos_ >= d_.size() || d_[pos_] != '=') return failed("attribute without '='");
        ++pos_;
        skip_blanks();
        if (pos_ >= d_.size() || (d_[pos_] != '"' && d_[pos_] != '\'')) {
          return failed("unquoted attribute value");
        }
        const char quote = d_[pos_++];
        const size_t start = pos_;
        const size_t end = d_.find(quote, pos_);
        if (end == std::string_view::npos) return failed("unterminated attribute value");
        std::string_view value = d_.substr(start, end - start);
        if (value.find('<') != std::string_view::npos) {
          return failed_at(start, "'<' in an attribute value");
        }
        if (!references(value, start)) return done();
        if (!e.attributes.emplace(attr, std::string(value)).second) {
          return failed("duplicate attribute " + attr);
        }
        pos_ = end + 1;
      }
      out_.elements.push_back(std::move(e));
      if (!self_closing) {
        open.push_back(out_.elements.back().name);
        current_.push_back(out_.elements.size() - 1);
      }
    }
    if (!had_root) return failed("no root element");
    if (!open.empty()) return failed("<" + open.back() + "> is not closed");
    return done();
  }

 private:
  XmlCheck done() { return std::move(out_); }
  XmlCheck failed(const std::string& what) { return failed_at(pos_, what); }
  XmlCheck failed_at(size_t at, const std::string& what) {
    fail_at(at, what);
    return done();
  }
  bool fail(const std::string& what) { return fail_at(pos_, what); }
  bool fail_at(size_t at, const std::string& what) {
    if (out_.error.empty()) out_.error = "byte " + std::to_string(at) + ": " + what;
    return false;
  }
  void skip_blanks() {
    while (pos_ < d_.size() && blank(d_[pos_])) ++pos_;
  }
  bool read_name(std::string& name) {
    if (pos_ >= d_.size() || !name_start(d_[pos_])) return fail("expected a name");
    const size_t start = pos_;
    while (pos_ < d_.size() && name_char(d_[pos_])) ++pos_;
    name = std::string(d_.substr(start, pos_ - start));
    return true;
  }
  // Valid UTF-8 throughout, and no control character but tab, newline, carriage return.
  bool encoding() {
    for (size_t i = 0; i < d_.size();) {
      const size_t n = tether::load::detail::utf8_sequence_length(d_, i);
      if (n == 0) return fail_at(i, "invalid UTF-8");
      const auto c = static_cast<unsigned char>(d_[i]);
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
        return fail_at(i, "control character");
      }
      i += n;
    }
    return true;
  }
  // Every '&' starts &amp; &lt; &gt; &quot; &apos; &#digits; or &#xhex;.
  bool references(std::string_view s, size_t base) {
    for (size_t i = s.find('&'); i != std::string_view::npos; i = s.find('&', i + 1)) {
      const size_t semi = s.find(';', i);
      if (semi == std::string_view::npos) return fail_at(base + i, "bare '&'");
      std::string_view ref = s.substr(i + 1, semi - i - 1);
      bool ok = ref == "amp" || ref == "lt" || ref == "gt" || ref == "quot" || ref == "apos";
      if (!ok && ref.size() > 1 && ref[0] == '#') {
        const bool hex = ref[1] == 'x';
        std::string_view digits = ref.substr(hex ? 2 : 1);
        ok = !digits.empty() &&
             digits.find_first_not_of(hex ? "0123456789abcdefABCDEF" : "0123456789") ==
                 std::string_view::npos;
      }
      if (!ok) return fail_at(base + i, "bad reference '&" + std::string(ref) + ";'");
    }
    return true;
  }
  // "]]>" may not appear in character data.
  bool no_gt_sequence(std::string_view s, size_t base) {
    if (const size_t at = s.find("]]>"); at != std::string_view::npos) {
      return fail_at(base + at, "']]>' in text");
    }
    return true;
  }

  std::string_view d_;
  size_t pos_ = 0;
  XmlCheck out_;
  std::vector<size_t> current_;
};

}  // namespace

XmlCheck check_xml(std::string_view doc) {
  return Checker(doc).run();
}

}  // namespace tether_test
