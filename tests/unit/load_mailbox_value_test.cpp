// The mailbox scenario's ids and values, and the check that says whose value a body is: every
// value checks as its own however it is split, and anything else (cut short, too long, one
// byte changed, another run's nonce, an id out of range) is nobody's.
#include <gtest/gtest.h>

#include <string>

#include "load/mailbox_value.hpp"

namespace {

using tether::load::detail::MailboxValues;
using tether::load::detail::ValueCheck;

int64_t check(const MailboxValues& v, const std::string& body, size_t piece = 0) {
  ValueCheck c;
  c.reset();
  if (piece == 0) piece = body.size() + 1;
  for (size_t at = 0; at < body.size(); at += piece) {
    c.feed(v, body.data() + at, std::min(piece, body.size() - at));
  }
  return c.finish(v);
}

std::string value(const MailboxValues& v, uint32_t i) {
  std::string s;
  v.append_value(i, s);
  return s;
}

TEST(LoadMailboxValue, IdsAndValuesNameTheRunAndTheWaiter) {
  MailboxValues v(0x0123456789abcdefULL, 1000, 64);
  std::string id;
  v.append_id(42, id);
  EXPECT_EQ(id, "tl-0123456789abcdef-42");
  const std::string s = value(v, 42);
  EXPECT_EQ(s.size(), 64u);
  EXPECT_EQ(s.substr(0, 22), "v0123456789abcdef-042.");
  EXPECT_EQ(v.head_len(), 22u);
  EXPECT_EQ(value(v, 999).size(), 64u);  // every value has the same length
}

TEST(LoadMailboxValue, EveryValueChecksAsItsOwnHoweverItArrives) {
  MailboxValues v(7, 500, 48);
  for (uint32_t i : {0u, 1u, 9u, 10u, 250u, 499u}) {
    const std::string s = value(v, i);
    for (size_t piece : {0, 1, 3, 22, 47}) EXPECT_EQ(check(v, s, piece), i) << i << " " << piece;
  }
}

TEST(LoadMailboxValue, AnythingElseIsNobodys) {
  MailboxValues v(7, 500, 48);
  const std::string s = value(v, 123);
  EXPECT_EQ(check(v, ""), MailboxValues::kGarbage);
  EXPECT_EQ(check(v, s.substr(0, 47)), MailboxValues::kGarbage);  // cut short
  EXPECT_EQ(check(v, s.substr(0, 10)), MailboxValues::kGarbage);  // inside the head
  EXPECT_EQ(check(v, s + "x"), MailboxValues::kGarbage);          // too long
  std::string changed = s;
  changed[40] = changed[40] == 'a' ? 'b' : 'a';
  EXPECT_EQ(check(v, changed), MailboxValues::kGarbage);
  // Another waiter's head on this waiter's filler.
  std::string swapped = value(v, 124).substr(0, v.head_len()) + s.substr(v.head_len());
  EXPECT_EQ(check(v, swapped), MailboxValues::kGarbage);
  // The same id from another run (a value a previous run left stored).
  MailboxValues other(8, 500, 48);
  EXPECT_EQ(check(v, value(other, 123)), MailboxValues::kGarbage);
  // An id this run does not have.
  MailboxValues bigger(7, 900, 48);
  EXPECT_EQ(check(v, value(bigger, 700)), MailboxValues::kGarbage);
  EXPECT_EQ(check(bigger, value(bigger, 700)), 700);
  EXPECT_EQ(check(v, std::string(48, 'x')), MailboxValues::kGarbage);
}

TEST(LoadMailboxValue, AValueIsNeverShorterThanItsHead) {
  MailboxValues v(1, 1'000'000, 0);
  EXPECT_EQ(v.value_len(), v.head_len());
  EXPECT_EQ(v.head_len(), 1u + 16 + 1 + 6 + 1);
  EXPECT_EQ(check(v, value(v, 999'999)), 999'999);
  MailboxValues one(1, 1, 0);
  EXPECT_EQ(check(one, value(one, 0)), 0);
}

}  // namespace
