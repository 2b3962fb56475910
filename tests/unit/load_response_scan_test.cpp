// The load generator's response fast path (src/load/response_scan.*) against llhttp, the
// judge: whatever the scan accepts, llhttp must parse the same bytes as one whole response
// with the same status, body and persistence. Hand-picked shapes, every truncation of them,
// and seeded random mutations.
#include <gtest/gtest.h>
#include <llhttp.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "load/response_scan.hpp"

namespace {

using tether::load::detail::scan_response;
using tether::load::detail::ScannedResponse;

/// What llhttp makes of the first response in `bytes`.
struct Judged {
  bool complete = false;
  unsigned status = 0;
  size_t consumed = 0;
  std::string body;
  bool keep_alive = false;
};

struct JudgeState {
  bool done = false;
  std::string body;
};

Judged judge(const std::string& bytes, bool head_only) {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_body = [](llhttp_t* p, const char* at, size_t n) {
    static_cast<JudgeState*>(p->data)->body.append(at, n);
    return 0;
  };
  s.on_message_complete = [](llhttp_t* p) {
    static_cast<JudgeState*>(p->data)->done = true;
    return static_cast<int>(HPE_PAUSED);
  };
  if (head_only) s.on_headers_complete = [](llhttp_t*) { return 1; };
  llhttp_t parser;
  llhttp_init(&parser, HTTP_RESPONSE, &s);
  JudgeState st;
  parser.data = &st;
  const llhttp_errno_t err = llhttp_execute(&parser, bytes.data(), bytes.size());
  Judged j;
  if (err == HPE_PAUSED && st.done) {
    j.complete = true;
    j.status = parser.status_code;
    j.consumed = static_cast<size_t>(llhttp_get_error_pos(&parser) - bytes.data());
    j.body = st.body;
    j.keep_alive = llhttp_should_keep_alive(&parser) != 0;
  }
  return j;
}

/// The scan may say "not mine" to anything; what it accepts, llhttp must agree with.
void expect_agrees(const std::string& bytes, bool head_only = false) {
  const ScannedResponse r = scan_response(bytes.data(), bytes.data() + bytes.size(), head_only);
  if (!r.complete) return;
  const Judged j = judge(bytes, head_only);
  ASSERT_TRUE(j.complete) << "the scan accepted what llhttp refuses: "
                          << testing::PrintToString(bytes);
  EXPECT_EQ(r.status, j.status) << testing::PrintToString(bytes);
  EXPECT_EQ(r.size, j.consumed) << testing::PrintToString(bytes);
  EXPECT_EQ(std::string(r.body, r.body_size), j.body) << testing::PrintToString(bytes);
  EXPECT_EQ(r.keep_alive, j.keep_alive) << testing::PrintToString(bytes);
}

bool accepted(const std::string& bytes, bool head_only = false) {
  return scan_response(bytes.data(), bytes.data() + bytes.size(), head_only).complete;
}

const std::string kTypical =
    "HTTP/1.1 200 OK\r\nServer: tether\r\nDate: Mon, 30 Nov 2026 16:12:14 GMT\r\n"
    "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

std::vector<std::string> shapes() {
  return {
      kTypical,
      "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
      "HTTP/1.1 404 Not Found\r\nCONTENT-LENGTH: 3\r\nConnection: close\r\n\r\nno\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: Keep-Alive\r\n\r\nhello",
      "HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok",
      "HTTP/1.1 599 Whatever\tReason\r\nX-A:\t v \t\r\nContent-Length:  1 \r\n\r\nx",
      "HTTP/1.1 200 OK\r\nX-Long: " + std::string(100, 'v') + "\r\nContent-Length: 1\r\n\r\nx",
      // Not the common shape: each must go to llhttp.
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\n\r\nclose-delimited",
      "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 204 No Content\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, Upgrade\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\nContent-Length: 1\n\nx",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\nx",
      "HTTP/1.1 200 OK\r\nX : a\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nX: \x7f\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nX: caf\xc3\xa9\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 O\x01K\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 20 OK\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 2000 OK\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",
  };
}

TEST(LoadResponseScan, TheCommonShapeIsTakenAndAgreesWithLlhttp) {
  const ScannedResponse r =
      scan_response(kTypical.data(), kTypical.data() + kTypical.size(), false);
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(std::string(r.body, r.body_size), "Hello, World!");
  EXPECT_EQ(r.size, kTypical.size());
  for (const std::string& s : shapes()) expect_agrees(s);
}

TEST(LoadResponseScan, UnusualShapesGoToLlhttp) {
  const std::vector<std::string> all = shapes();
  // From the chunked one on, none is the common shape (see shapes()).
  for (size_t i = 7; i < all.size(); ++i)
    EXPECT_FALSE(accepted(all[i])) << testing::PrintToString(all[i]);
}

TEST(LoadResponseScan, HeadResponsesHaveNoBody) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n";
  const ScannedResponse r = scan_response(head.data(), head.data() + head.size(), true);
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.body_size, 0u);
  EXPECT_EQ(r.size, head.size());
  expect_agrees(head, true);
  expect_agrees("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", true);
}

TEST(LoadResponseScan, EveryTruncationIsPartialAndTwoInARowTakeOneEach) {
  for (const std::string& s : shapes()) {
    for (size_t n = 0; n < s.size(); ++n) {
      EXPECT_FALSE(accepted(s.substr(0, n))) << n << " of " << testing::PrintToString(s);
    }
  }
  const std::string two = kTypical + kTypical;
  const ScannedResponse r = scan_response(two.data(), two.data() + two.size(), false);
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.size, kTypical.size());
}

TEST(LoadResponseScan, EveryControlByteAtEveryPlaceOfALongValue) {
  // Values longer than 16 bytes take the SSE2 path: a bad byte in any lane is seen.
  for (int bad : {0x00, 0x01, 0x0b, 0x1f, 0x7f, 0x80, 0xff, 0x0a}) {
    for (size_t at = 0; at < 40; ++at) {
      std::string v(40, 'v');
      v[at] = static_cast<char>(bad);
      const std::string s = "HTTP/1.1 200 OK\r\nX-V: " + v + "\r\nContent-Length: 1\r\n\r\nx";
      EXPECT_FALSE(accepted(s)) << bad << " at " << at;
      expect_agrees(s);
    }
  }
  std::string tabs(40, '\t');
  expect_agrees("HTTP/1.1 200 OK\r\nX-V: a" + tabs + "b\r\nContent-Length: 1\r\n\r\nx");
  EXPECT_TRUE(accepted("HTTP/1.1 200 OK\r\nX-V: a" + tabs + "b\r\nContent-Length: 1\r\n\r\nx"));
}

TEST(LoadResponseScan, RandomMutationsNeverMakeItAcceptWhatLlhttpRefuses) {
  std::mt19937_64 rng(20261130);
  const std::vector<std::string> base = shapes();
  const char alphabet[] = "\r\n :\t0123456789-aAcClLHTP/.,\x7f\x80\x00";
  size_t taken = 0;
  for (int i = 0; i < 200'000; ++i) {
    std::string s = base[rng() % base.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const size_t at = rng() % s.size();
      const char c = alphabet[rng() % (sizeof alphabet - 1)];
      switch (rng() % 3) {
        case 0:
          s[at] = c;
          break;
        case 1:
          s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        default:
          s.erase(at, 1);
          break;
      }
    }
    const bool head_only = rng() % 8 == 0;
    taken += accepted(s, head_only);
    expect_agrees(s, head_only);
    if (HasFailure()) return;
  }
  EXPECT_GT(taken, 1000u);  // the mutations left many in the common shape: the test saw them
}

}  // namespace
