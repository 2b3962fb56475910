#include "load/response_scan.hpp"

#include <array>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tether::load::detail {
namespace {

/// tchar (RFC 9110): the bytes of a header name.
constexpr std::array<bool, 256> make_tokens() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : {'!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~'})
    t[static_cast<uint8_t>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> kToken = make_tokens();

/// Case-insensitive equality of [p, p + n) with the lower-case `lower`.
bool iequals(const char* p, size_t n, const char* lower, size_t lower_n) {
  if (n != lower_n) return false;
  for (size_t i = 0; i < n; ++i) {
    char c = p[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (c != lower[i]) return false;
  }
  return true;
}

template <size_t N>
bool iequals(const char* p, size_t n, const char (&lower)[N]) {
  return iequals(p, n, lower, N - 1);
}

/// The CR of the CRLF that ends the line at p, when every byte before it is HTAB, SP or
/// VCHAR (obs-text is left to llhttp); null when the line is not whole here or has another
/// byte. Most of a response's bytes are in its header values: 16 at a time where SSE2 is.
const char* plain_line(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(0x20);
  const __m128i del = _mm_set1_epi8(0x7f);
  const __m128i tab = _mm_set1_epi8('\t');
  const __m128i cr = _mm_set1_epi8('\r');
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Signed: below 0x20 is a control byte or one of 0x80..0xff.
    const __m128i bad = _mm_andnot_si128(
        _mm_cmpeq_epi8(v, tab), _mm_or_si128(_mm_cmplt_epi8(v, space), _mm_cmpeq_epi8(v, del)));
    const unsigned crs = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, cr)));
    const unsigned bads = static_cast<unsigned>(_mm_movemask_epi8(bad)) & ~crs;
    if (crs != 0) {
      const unsigned at = static_cast<unsigned>(__builtin_ctz(crs));
      if ((bads & ((1u << at) - 1)) != 0) return nullptr;
      p += at;
      return end - p >= 2 && p[1] == '\n' ? p : nullptr;
    }
    if (bads != 0) return nullptr;
    p += 16;
  }
#endif
  for (; p < end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '\r') return end - p >= 2 && p[1] == '\n' ? p : nullptr;
    if ((c < 0x20 && c != '\t') || c >= 0x7f) return nullptr;
  }
  return nullptr;
}

}  // namespace

ScannedResponse scan_response(const char* p, const char* end, bool head_only) noexcept {
  ScannedResponse r;
  const char* const start = p;
  // Status line: "HTTP/1.1 DDD reason\r\n".
  if (end - p < 14 || std::memcmp(p, "HTTP/1.1 ", 9) != 0) return r;
  p += 9;
  if (p[0] < '1' || p[0] > '9' || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9' ||
      p[3] != ' ')
    return r;
  const int status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
  // Interim responses, and statuses whose body rules differ, go to llhttp.
  if (status < 200 || status == 204 || status == 304) return r;
  p += 4;
  const char* cr = plain_line(p, end);
  if (cr == nullptr) return r;
  p = cr + 2;
  // Header lines, up to the empty line.
  bool have_length = false;
  uint64_t length = 0;
  bool keep_alive = true;
  for (;;) {
    if (p >= end) return r;
    if (*p == '\r') {
      if (end - p < 2 || p[1] != '\n') return r;
      p += 2;
      break;
    }
    const char* name = p;
    while (p < end && kToken[static_cast<uint8_t>(*p)]) ++p;
    if (p >= end || *p != ':' || p == name) return r;
    const size_t name_n = static_cast<size_t>(p - name);
    ++p;
    while (p < end && (*p == ' ' || *p == '\t')) ++p;
    const char* value = p;
    cr = plain_line(p, end);
    if (cr == nullptr) return r;
    p = cr;
    const char* value_end = p;
    while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t')) --value_end;
    const size_t value_n = static_cast<size_t>(value_end - value);
    p += 2;
    if (name_n == 14 &&
        (std::memcmp(name, "Content-Length", 14) == 0 || iequals(name, name_n, "content-length"))) {
      // Digits between spaces only: llhttp refuses a tab around them.
      const char* raw = name + name_n + 1;
      if (have_length || value_n == 0 || value_n > 18 ||
          std::memchr(raw, '\t', static_cast<size_t>(cr - raw)) != nullptr)
        return r;
      for (size_t i = 0; i < value_n; ++i) {
        if (value[i] < '0' || value[i] > '9') return r;
        length = length * 10 + static_cast<uint64_t>(value[i] - '0');
      }
      have_length = true;
    } else if (name_n == 17 && iequals(name, name_n, "transfer-encoding")) {
      return r;
    } else if (name_n == 10 && iequals(name, name_n, "connection")) {
      // llhttp matches these values without trimming tabs: such a value is its to judge.
      const char* raw = name + name_n + 1;
      if (std::memchr(raw, '\t', static_cast<size_t>(cr - raw)) != nullptr) return r;
      if (iequals(value, value_n, "close")) {
        keep_alive = false;
      } else if (!iequals(value, value_n, "keep-alive")) {
        return r;  // a list, upgrade, ...: llhttp's rules
      }
    }
  }
  if (!have_length && !head_only) return r;
  const size_t head = static_cast<size_t>(p - start);
  const uint64_t body = head_only ? 0 : length;
  if (body > static_cast<uint64_t>(end - p)) return r;  // the rest is in a later read
  r.complete = true;
  r.status = static_cast<uint16_t>(status);
  r.keep_alive = keep_alive;
  r.body = p;
  r.body_size = static_cast<size_t>(body);
  r.size = head + r.body_size;
  return r;
}

}  // namespace tether::load::detail
