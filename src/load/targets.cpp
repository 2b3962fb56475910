// --targets FILE: line parsing, body files and escapes, and the serialization of requests.
#include "tether/load/targets.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tether::load {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

// RFC 9110 5.6.2 tchar.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// A byte for a message: printable as itself, else as \xHH.
std::string show_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u <= 0x7E) return std::string(1, c);
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02X", u);
  return buf;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Bodies and targets files are read whole into memory, once: a regular file of a bounded
/// size, never a device or a FIFO whose read may not end.
constexpr uint64_t kMaxFileBytes = uint64_t{256} << 20;

bool read_file(const std::filesystem::path& path, std::string& out, std::string& error) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    error = std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    std::fclose(f);
    error = S_ISDIR(st.st_mode) ? std::strerror(EISDIR) : "not a regular file";
    return false;
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes) {
    std::fclose(f);
    error = "larger than 256 MiB";
    return false;
  }
  out.clear();
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    if (out.size() + n > kMaxFileBytes) {  // it grew while being read
      std::fclose(f);
      error = "larger than 256 MiB";
      return false;
    }
    out.append(buf, n);
  }
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed) {
    error = std::strerror(err);
    return false;
  }
  return true;
}

class LineParser {
 public:
  LineParser(std::string_view file_name, const std::filesystem::path& base_dir)
      : file_name_(file_name), base_dir_(base_dir) {}

  // Parses one line (without its '\n'). Returns false with error() set on a bad line;
  // sets `skip` for a blank or comment line.
  bool parse(std::string_view line, size_t line_no, TargetSpec& out, bool& skip) {
    line_no_ = line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    line_ = line;
    size_t pos = 0;
    skip_blanks(pos);
    skip = pos == line.size() || line[pos] == '#';
    if (skip) return true;

    out = TargetSpec{};
    out.line = line_no;

    // METHOD
    const size_t method_at = pos;
    while (pos < line.size() && !is_blank(line[pos])) {
      if (!is_tchar(line[pos])) {
        return fail_at(pos, "method has a character that is not allowed in a token: '" +
                                show_byte(line[pos]) + "'");
      }
      ++pos;
    }
    out.method = std::string(line.substr(method_at, pos - method_at));
    skip_blanks(pos);
    if (pos == line.size()) return fail_at(pos, "missing target after '" + out.method + "'");

    // TARGET
    const size_t target_at = pos;
    while (pos < line.size() && !is_blank(line[pos])) ++pos;
    out.target = std::string(line.substr(target_at, pos - target_at));
    if (!check_target(out, target_at)) return false;

    // [BODY]
    skip_blanks(pos);
    if (pos == line.size()) return true;
    out.has_body = true;
    if (line[pos] == '@') return body_file(line.substr(pos + 1), pos, out);
    return unescape(pos, out.body);
  }

  const std::string& error() const { return error_; }

 private:
  void skip_blanks(size_t& pos) const {
    while (pos < line_.size() && is_blank(line_[pos])) ++pos;
  }

  bool fail_at(size_t pos, const std::string& message) {
    error_ = std::string(file_name_) + ":" + std::to_string(line_no_) + ":" +
             std::to_string(pos + 1) + ": " + message;
    return false;
  }

  bool fail(const std::string& message) {
    error_ = std::string(file_name_) + ":" + std::to_string(line_no_) + ": " + message;
    return false;
  }

  bool check_target(TargetSpec& t, size_t at) {
    const std::string_view s = t.target;
    for (size_t i = 0; i < s.size(); ++i) {
      const auto u = static_cast<unsigned char>(s[i]);
      if (u < 0x21 || u > 0x7E) {
        return fail_at(at + i,
                       "target has a byte that is not visible ASCII: '" + show_byte(s[i]) + "'");
      }
      if (s[i] == '#') return fail_at(at + i, "target has a fragment ('#'), which is never sent");
    }
    if (s.front() == '/') return true;
    if (s.starts_with("https://")) {
      return fail_at(at, "https targets are not supported (only http://): '" + t.target + "'");
    }
    if (!s.starts_with("http://")) {
      return fail_at(at, "target must start with '/' or 'http://', found '" + t.target + "'");
    }
    const size_t authority_at = 7;
    size_t end = s.find_first_of("/?", authority_at);
    if (end == std::string_view::npos) end = s.size();
    const std::string_view authority = s.substr(authority_at, end - authority_at);
    if (authority.empty()) return fail_at(at + authority_at, "target 'http://' has no host");
    if (authority.find('@') != std::string_view::npos) {
      return fail_at(at + authority_at, "target has userinfo ('@') in its authority");
    }
    t.authority = std::string(authority);
    return true;
  }

  bool body_file(std::string_view name, size_t at, TargetSpec& t) {
    while (!name.empty() && is_blank(name.back())) name.remove_suffix(1);
    if (name.empty()) return fail_at(at, "missing file name after '@'");
    std::filesystem::path path(name);
    if (path.is_relative()) path = base_dir_ / path;
    std::string why;
    if (!read_file(path, t.body, why)) {
      return fail("cannot read body file '" + std::string(name) + "' (" + path.string() +
                  "): " + why);
    }
    return true;
  }

  bool unescape(size_t pos, std::string& out) {
    out.clear();
    out.reserve(line_.size() - pos);
    for (; pos < line_.size(); ++pos) {
      const char c = line_[pos];
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos + 1 == line_.size()) {
        return fail_at(pos, "'\\' at the end of the line (write \\\\ for a backslash)");
      }
      const char e = line_[pos + 1];
      switch (e) {
        case 'n':
          out.push_back('\n');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case 'x': {
          const int hi = pos + 2 < line_.size() ? hex_value(line_[pos + 2]) : -1;
          const int lo = pos + 3 < line_.size() ? hex_value(line_[pos + 3]) : -1;
          if (hi < 0 || lo < 0) return fail_at(pos, "'\\x' needs two hex digits");
          out.push_back(static_cast<char>(hi * 16 + lo));
          pos += 2;
          break;
        }
        default:
          return fail_at(pos,
                         "unknown escape '\\" + show_byte(e) + "' (known: \\n \\t \\r \\\\ \\xHH)");
      }
      ++pos;
    }
    return true;
  }

  std::string_view file_name_;
  const std::filesystem::path& base_dir_;
  std::string_view line_;
  size_t line_no_ = 0;
  std::string error_;
};

}  // namespace

TargetsParse parse_targets(std::string_view text, std::string_view file_name,
                           const std::filesystem::path& base_dir) {
  TargetsParse out;
  LineParser parser(file_name, base_dir);
  size_t line_no = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    ++line_no;
    TargetSpec spec;
    bool skip = false;
    if (!parser.parse(text.substr(start, end - start), line_no, spec, skip)) {
      out.targets.clear();
      out.error = parser.error();
      return out;
    }
    if (!skip) out.targets.push_back(std::move(spec));
    start = end + 1;
  }
  if (out.targets.empty()) {
    out.error = std::string(file_name) + ": no requests (every line is blank or a comment)";
  }
  return out;
}

TargetsParse load_targets(const std::filesystem::path& file) {
  std::string text;
  std::string why;
  if (!read_file(file, text, why)) {
    TargetsParse out;
    out.error = file.string() + ": cannot read: " + why;
    return out;
  }
  std::filesystem::path base = file.parent_path();
  if (base.empty()) base = ".";
  return parse_targets(text, file.string(), base);
}

PreparedRequests serialize_targets(const std::vector<TargetSpec>& targets,
                                   const RequestHead& head) {
  PreparedRequests out;
  const std::string* host = &head.host;
  for (char c : head.host) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) {
      out.error = "the host has a control byte or a space: '" + show_byte(c) + "'";
      return out;
    }
  }
  for (const auto& [name, value] : head.headers) {
    if (!is_token(name)) {
      out.error = "header name '" + name + "' is not a token";
      return out;
    }
    for (char c : value) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7F) {
        out.error = "header '" + name + "' has a control byte in its value: '" + show_byte(c) + "'";
        return out;
      }
    }
    if (iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding")) {
      out.error = "header '" + name + "' is set by tether-load from the body";
      return out;
    }
    if (iequals(name, "Host")) host = &value;
  }

  out.requests.reserve(targets.size());
  for (const TargetSpec& t : targets) {
    const bool absolute = !t.authority.empty();
    if (!absolute && host->empty()) {
      out.requests.clear();
      out.error = "no Host for target '" + t.target + "' (give a host or a Host header)";
      return out;
    }
    std::string r;
    r.reserve(64 + t.method.size() + t.target.size() + t.body.size());
    r.append(t.method).append(" ").append(t.target).append(" HTTP/1.1\r\n");
    r.append("Host: ").append(absolute ? t.authority : *host).append("\r\n");
    for (const auto& [name, value] : head.headers) {
      if (iequals(name, "Host")) continue;
      r.append(name).append(": ").append(value).append("\r\n");
    }
    if (t.has_body)
      r.append("Content-Length: ").append(std::to_string(t.body.size())).append("\r\n");
    r.append("\r\n");
    r.append(t.body);
    out.requests.push_back(std::move(r));
  }
  return out;
}

}  // namespace tether::load
