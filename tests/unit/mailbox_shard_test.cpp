// MailboxShard: the per-loop keyed one-shot handoff, driven directly (no loop, no sockets):
// both orders of post and wait, FIFO waiters, one-shot values, conflicts, the two-phase
// handoff (in transit until confirmed; a refused value goes to the next waiter or back into
// storage, and the poster is told the truth), cancel, TTL expiry, bounds, drop, and that no
// empty slot is left behind.
#include "mailbox/mailbox_shard.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using tether::MailboxPost;
using tether::MailboxTake;
using tether::detail::CallRef;
using tether::detail::MailboxLimits;
using tether::detail::MailboxShard;

constexpr CallRef kNobody{};

CallRef waiter(uint64_t token, uint32_t loop = 1) {
  return CallRef{loop, token};
}
CallRef poster(uint64_t token) {
  return CallRef{0, token};
}

TEST(MailboxShard, PostThenWaitTakesAtOnce) {
  MailboxShard shard(MailboxLimits{});
  EXPECT_EQ(shard.post("a", "hello", 0, kNobody).status, MailboxPost::Stored);
  EXPECT_EQ(shard.stored_values(), 1u);
  MailboxShard::WaitResult r = shard.wait("a", /*park=*/true, waiter(7), 0);
  ASSERT_TRUE(r.offer.has_value());
  EXPECT_EQ(r.take, MailboxTake::Value);
  EXPECT_EQ(r.offer->value, "hello");
  EXPECT_EQ(r.offer->to, waiter(7));
  EXPECT_FALSE(r.parked);
  EXPECT_EQ(shard.stored_values(), 0u);
  EXPECT_EQ(shard.in_transit(), 1u);
  EXPECT_EQ(shard.counters().delivered.get(), 0u);  // not until the waiter confirms

  EXPECT_FALSE(shard.confirm(r.offer->transit).has_value());  // a stored value: no poster
  EXPECT_EQ(shard.counters().delivered.get(), 1u);
  EXPECT_EQ(shard.in_transit(), 0u);
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, WaitThenPostOffersToWaiterAndTellsPosterOnConfirm) {
  MailboxShard shard(MailboxLimits{});
  MailboxShard::WaitResult w = shard.wait("a", true, waiter(1), 0);
  EXPECT_TRUE(w.parked);
  EXPECT_FALSE(w.offer.has_value());
  EXPECT_EQ(shard.parked_waiters(), 1u);

  MailboxShard::PostResult p = shard.post("a", "hello", 0, poster(42));
  ASSERT_TRUE(p.offer.has_value());
  EXPECT_EQ(p.offer->to, waiter(1));
  EXPECT_EQ(p.offer->value, "hello");
  EXPECT_EQ(shard.parked_waiters(), 0u);

  auto told = shard.confirm(p.offer->transit);
  ASSERT_TRUE(told.has_value());
  EXPECT_EQ(told->poster, poster(42));
  EXPECT_EQ(told->status, MailboxPost::Delivered);
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, WaitWithoutParkOnNothingIsEmpty) {
  MailboxShard shard(MailboxLimits{});
  MailboxShard::WaitResult r = shard.wait("nobody", /*park=*/false, waiter(1), 0);
  EXPECT_EQ(r.take, MailboxTake::Empty);
  EXPECT_FALSE(r.parked);
  EXPECT_FALSE(r.offer.has_value());
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, WaitersAreOfferedInArrivalOrder) {
  MailboxShard shard(MailboxLimits{});
  for (uint64_t t = 1; t <= 5; ++t) ASSERT_TRUE(shard.wait("q", true, waiter(t), 0).parked);
  for (uint64_t t = 1; t <= 5; ++t) {
    MailboxShard::PostResult p = shard.post("q", "v" + std::to_string(t), 0, poster(t));
    ASSERT_TRUE(p.offer.has_value());
    EXPECT_EQ(p.offer->to, waiter(t));
    EXPECT_EQ(p.offer->value, "v" + std::to_string(t));
    ASSERT_TRUE(shard.confirm(p.offer->transit).has_value());
  }
  EXPECT_EQ(shard.counters().delivered.get(), 5u);
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, TakenValueIsGone) {
  MailboxShard shard(MailboxLimits{});
  ASSERT_EQ(shard.post("a", "once", 0, kNobody).status, MailboxPost::Stored);
  auto first = shard.wait("a", false, waiter(1), 0);
  ASSERT_TRUE(first.offer.has_value());
  shard.confirm(first.offer->transit);
  auto second = shard.wait("a", false, waiter(2), 0);
  EXPECT_EQ(second.take, MailboxTake::Empty);
  EXPECT_FALSE(second.offer.has_value());
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, SecondPostConflictsAndKeepsFirst) {
  MailboxShard shard(MailboxLimits{});
  ASSERT_EQ(shard.post("a", "first", 0, kNobody).status, MailboxPost::Stored);
  EXPECT_EQ(shard.post("a", "second", 0, kNobody).status, MailboxPost::Conflict);
  EXPECT_EQ(shard.counters().refused.get(), 1u);
  auto r = shard.wait("a", false, waiter(1), 0);
  ASSERT_TRUE(r.offer.has_value());
  EXPECT_EQ(r.offer->value, "first");
  shard.confirm(r.offer->transit);
  EXPECT_EQ(shard.post("a", "third", 0, kNobody).status, MailboxPost::Stored);
}

TEST(MailboxShard, PostWhileAValueIsInTransitConflicts) {
  MailboxShard shard(MailboxLimits{});
  ASSERT_TRUE(shard.wait("a", true, waiter(1), 0).parked);
  MailboxShard::PostResult p = shard.post("a", "first", 0, poster(1));
  ASSERT_TRUE(p.offer.has_value());
  // The id is taken until the waiter's loop answers: a second value is refused, not stored.
  EXPECT_EQ(shard.post("a", "second", 0, poster(2)).status, MailboxPost::Conflict);
  EXPECT_EQ(shard.stored_values(), 0u);
  ASSERT_TRUE(shard.confirm(p.offer->transit).has_value());
  EXPECT_EQ(shard.post("a", "second", 0, poster(2)).status, MailboxPost::Stored);
}

TEST(MailboxShard, RefusedValueGoesToTheNextWaiter) {
  MailboxShard shard(MailboxLimits{});
  ASSERT_TRUE(shard.wait("a", true, waiter(1), 0).parked);
  ASSERT_TRUE(shard.wait("a", true, waiter(2), 0).parked);
  MailboxShard::PostResult p = shard.post("a", "v", 0, poster(9));
  ASSERT_TRUE(p.offer.has_value());
  EXPECT_EQ(p.offer->to, waiter(1));

  MailboxShard::Returned back = shard.refuse(p.offer->transit, std::move(p.offer->value), 0);
  ASSERT_TRUE(back.offer.has_value());
  EXPECT_FALSE(back.told.has_value());  // still undecided
  EXPECT_EQ(back.offer->to, waiter(2));
  EXPECT_EQ(back.offer->value, "v");

  auto told = shard.confirm(back.offer->transit);
  ASSERT_TRUE(told.has_value());
  EXPECT_EQ(told->poster, poster(9));
  EXPECT_EQ(told->status, MailboxPost::Delivered);
  EXPECT_EQ(shard.counters().delivered.get(), 1u);
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, RefusedValueWithNoWaiterIsStoredAndThePosterToldStored) {
  // The lost-value case: the only waiter's client left while the value was on its way.
  MailboxShard shard(MailboxLimits{});
  ASSERT_TRUE(shard.wait("a", true, waiter(1), 0).parked);
  MailboxShard::PostResult p = shard.post("a", "first", 0, poster(1));
  ASSERT_TRUE(p.offer.has_value());
  EXPECT_EQ(shard.post("a", "second", 0, poster(2)).status, MailboxPost::Conflict);

  MailboxShard::Returned back = shard.refuse(p.offer->transit, std::move(p.offer->value), 10);
  EXPECT_FALSE(back.offer.has_value());
  ASSERT_TRUE(back.told.has_value());
  EXPECT_EQ(back.told->poster, poster(1));
  EXPECT_EQ(back.told->status, MailboxPost::Stored);
  EXPECT_EQ(shard.stored_values(), 1u);
  EXPECT_EQ(shard.counters().delivered.get(), 0u);

  auto r = shard.wait("a", false, waiter(3), 20);
  ASSERT_TRUE(r.offer.has_value());
  EXPECT_EQ(r.offer->value, "first");
}

TEST(MailboxShard, RefusedTakenValueReturnsWithItsOwnExpiry) {
  MailboxLimits limits;
  limits.ttl_ms = 100;
  MailboxShard shard(limits);
  ASSERT_EQ(shard.post("a", "v", 1000, kNobody).status, MailboxPost::Stored);
  EXPECT_EQ(shard.next_deadline(), 1100u);
  auto r = shard.wait("a", false, waiter(1), 1050);
  ASSERT_TRUE(r.offer.has_value());
  // In transit it cannot expire.
  EXPECT_EQ(shard.next_deadline(), UINT64_MAX);
  shard.expire(2000);
  EXPECT_EQ(shard.counters().expired.get(), 0u);

  MailboxShard::Returned back = shard.refuse(r.offer->transit, std::move(r.offer->value), 1060);
  EXPECT_FALSE(back.told.has_value());  // a taken value has no poster waiting
  EXPECT_EQ(shard.stored_values(), 1u);
  EXPECT_EQ(shard.next_deadline(), 1100u);  // not a fresh TTL
  shard.expire(1100);
  EXPECT_EQ(shard.counters().expired.get(), 1u);
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, UnknownTransitIsIgnored) {
  MailboxShard shard(MailboxLimits{});
  EXPECT_FALSE(shard.confirm(12345).has_value());
  MailboxShard::Returned back = shard.refuse(12345, "x", 0);
  EXPECT_FALSE(back.offer.has_value());
  EXPECT_FALSE(back.told.has_value());
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, CancelRemovesWaiterAtOnce) {
  MailboxShard shard(MailboxLimits{});
  ASSERT_TRUE(shard.wait("a", true, waiter(1), 0).parked);
  EXPECT_EQ(shard.ids(), 1u);
  shard.cancel(waiter(1));
  EXPECT_EQ(shard.parked_waiters(), 0u);
  EXPECT_EQ(shard.ids(), 0u);
  shard.cancel(waiter(1));  // twice: ignored
  EXPECT_EQ(shard.post("a", "later", 0, kNobody).status, MailboxPost::Stored);
}

TEST(MailboxShard, CancelOneOfSeveralKeepsOrder) {
  MailboxShard shard(MailboxLimits{});
  for (uint64_t t = 1; t <= 3; ++t) ASSERT_TRUE(shard.wait("q", true, waiter(t), 0).parked);
  shard.cancel(waiter(2));
  auto p1 = shard.post("q", "1", 0, kNobody);
  ASSERT_TRUE(p1.offer.has_value());
  EXPECT_EQ(p1.offer->to, waiter(1));
  shard.confirm(p1.offer->transit);
  auto p2 = shard.post("q", "2", 0, kNobody);
  ASSERT_TRUE(p2.offer.has_value());
  EXPECT_EQ(p2.offer->to, waiter(3));
  shard.confirm(p2.offer->transit);
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, SameTokenOnTwoLoopsAreTwoWaiters) {
  MailboxShard shard(MailboxLimits{});
  ASSERT_TRUE(shard.wait("q", true, waiter(5, 0), 0).parked);
  ASSERT_TRUE(shard.wait("q", true, waiter(5, 1), 0).parked);
  shard.cancel(waiter(5, 0));
  EXPECT_EQ(shard.parked_waiters(), 1u);
  auto p = shard.post("q", "v", 0, kNobody);
  ASSERT_TRUE(p.offer.has_value());
  EXPECT_EQ(p.offer->to, waiter(5, 1));
}

TEST(MailboxShard, ValuesExpireAfterTtl) {
  MailboxLimits limits;
  limits.ttl_ms = 100;
  MailboxShard shard(limits);
  ASSERT_EQ(shard.post("a", "x", 1000, kNobody).status, MailboxPost::Stored);
  ASSERT_EQ(shard.post("b", "y", 1050, kNobody).status, MailboxPost::Stored);
  EXPECT_EQ(shard.next_deadline(), 1100u);

  shard.expire(1099);
  EXPECT_EQ(shard.stored_values(), 2u);
  shard.expire(1100);  // a's TTL is over, b's is not
  EXPECT_EQ(shard.stored_values(), 1u);
  EXPECT_EQ(shard.ids(), 1u);
  EXPECT_EQ(shard.counters().expired.get(), 1u);
  EXPECT_EQ(shard.next_deadline(), 1150u);
  EXPECT_FALSE(shard.wait("a", false, waiter(1), 1100).offer.has_value());

  shard.expire(1150);
  EXPECT_EQ(shard.counters().expired.get(), 2u);
  EXPECT_EQ(shard.ids(), 0u);
  EXPECT_EQ(shard.next_deadline(), UINT64_MAX);
}

TEST(MailboxShard, ExpiryOfTakenValueDoesNotDropANewerOne) {
  MailboxLimits limits;
  limits.ttl_ms = 100;
  MailboxShard shard(limits);
  ASSERT_EQ(shard.post("a", "old", 0, kNobody).status, MailboxPost::Stored);
  auto r = shard.wait("a", false, waiter(1), 0);
  ASSERT_TRUE(r.offer.has_value());
  shard.confirm(r.offer->transit);
  ASSERT_EQ(shard.post("a", "new", 50, kNobody).status, MailboxPost::Stored);
  shard.expire(100);
  EXPECT_EQ(shard.stored_values(), 1u);
  shard.expire(150);
  EXPECT_EQ(shard.stored_values(), 0u);
  EXPECT_EQ(shard.counters().expired.get(), 1u);
}

TEST(MailboxShard, ValueOverMaxBytesIsTooLarge) {
  MailboxLimits limits;
  limits.max_value_bytes = 8;
  MailboxShard shard(limits);
  EXPECT_EQ(shard.post("a", std::string(8, 'x'), 0, kNobody).status, MailboxPost::Stored);
  EXPECT_EQ(shard.post("b", std::string(9, 'x'), 0, kNobody).status, MailboxPost::TooLarge);
  EXPECT_EQ(shard.counters().refused.get(), 1u);
  // Too large even when a waiter is parked: the waiter keeps waiting.
  ASSERT_TRUE(shard.wait("c", true, waiter(1), 0).parked);
  MailboxShard::PostResult p = shard.post("c", std::string(100, 'x'), 0, kNobody);
  EXPECT_EQ(p.status, MailboxPost::TooLarge);
  EXPECT_FALSE(p.offer.has_value());
  EXPECT_EQ(shard.parked_waiters(), 1u);
}

TEST(MailboxShard, MaxIdsRefusesNewIds) {
  MailboxLimits limits;
  limits.max_ids = 2;
  MailboxShard shard(limits);
  EXPECT_EQ(shard.post("a", "1", 0, kNobody).status, MailboxPost::Stored);
  ASSERT_TRUE(shard.wait("b", true, waiter(1), 0).parked);
  EXPECT_EQ(shard.post("c", "3", 0, kNobody).status, MailboxPost::Full);
  auto refused = shard.wait("d", true, waiter(2), 0);
  EXPECT_EQ(refused.take, MailboxTake::Refused);
  EXPECT_FALSE(refused.parked);
  EXPECT_EQ(shard.counters().refused.get(), 2u);
  // Without parking a wait on a new id is simply empty, not refused.
  EXPECT_EQ(shard.wait("d", false, waiter(3), 0).take, MailboxTake::Empty);

  auto taken = shard.wait("a", true, waiter(4), 0);
  ASSERT_TRUE(taken.offer.has_value());
  EXPECT_EQ(shard.ids(), 2u);  // in transit, "a" still counts
  shard.confirm(taken.offer->transit);
  shard.cancel(waiter(1));
  EXPECT_EQ(shard.ids(), 0u);
  EXPECT_EQ(shard.post("c", "3", 0, kNobody).status, MailboxPost::Stored);  // room again
}

TEST(MailboxShard, MaxWaitersPerIdRefusesMore) {
  MailboxLimits limits;
  limits.max_waiters_per_id = 2;
  MailboxShard shard(limits);
  ASSERT_TRUE(shard.wait("a", true, waiter(1), 0).parked);
  ASSERT_TRUE(shard.wait("a", true, waiter(2), 0).parked);
  EXPECT_EQ(shard.wait("a", true, waiter(3), 0).take, MailboxTake::Refused);
  EXPECT_EQ(shard.parked_waiters(), 2u);
  EXPECT_TRUE(shard.wait("b", true, waiter(4), 0).parked);  // another id is not affected
  for (uint64_t t : {1, 2, 4}) shard.cancel(waiter(t));
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, DropRemovesStoredValueOnly) {
  MailboxShard shard(MailboxLimits{});
  EXPECT_FALSE(shard.drop("a"));
  ASSERT_EQ(shard.post("a", "x", 0, kNobody).status, MailboxPost::Stored);
  EXPECT_TRUE(shard.drop("a"));
  EXPECT_FALSE(shard.drop("a"));
  EXPECT_EQ(shard.ids(), 0u);
  shard.expire(UINT64_MAX - 1);
  EXPECT_EQ(shard.counters().expired.get(), 0u);  // its pending expiry went with it

  // An id with waiters only, or a value in transit: nothing stored to drop.
  ASSERT_TRUE(shard.wait("b", true, waiter(1), 0).parked);
  EXPECT_FALSE(shard.drop("b"));
  auto p = shard.post("b", "y", 0, kNobody);
  ASSERT_TRUE(p.offer.has_value());
  EXPECT_FALSE(shard.drop("b"));
  shard.confirm(p.offer->transit);
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, GaugesFollowTheState) {
  MailboxShard shard(MailboxLimits{});
  ASSERT_EQ(shard.post("a", "x", 0, kNobody).status, MailboxPost::Stored);
  ASSERT_TRUE(shard.wait("b", true, waiter(1), 0).parked);
  EXPECT_EQ(shard.counters().stored.get(), 1u);
  EXPECT_EQ(shard.counters().waiters.get(), 1u);
  shard.cancel(waiter(1));
  ASSERT_TRUE(shard.drop("a"));
  EXPECT_EQ(shard.counters().stored.get(), 0u);
  EXPECT_EQ(shard.counters().waiters.get(), 0u);
}

TEST(MailboxShard, IdsReturnToZeroAfterEverything) {
  MailboxLimits limits;
  limits.ttl_ms = 50;
  MailboxShard shard(limits);
  constexpr int kN = 300;
  for (int i = 0; i < kN; ++i) {
    std::string id = "id-" + std::to_string(i);
    const CallRef w = waiter(static_cast<uint64_t>(i) + 1);
    switch (i % 5) {
      case 0: {  // stored then taken
        ASSERT_EQ(shard.post(id, "v", 0, kNobody).status, MailboxPost::Stored);
        auto r = shard.wait(id, true, w, 0);
        ASSERT_TRUE(r.offer.has_value());
        shard.confirm(r.offer->transit);
        break;
      }
      case 1:  // stored then expired
        ASSERT_EQ(shard.post(id, "v", 0, kNobody).status, MailboxPost::Stored);
        break;
      case 2: {  // parked then delivered
        ASSERT_TRUE(shard.wait(id, true, w, 0).parked);
        auto p = shard.post(id, "v", 0, poster(1));
        ASSERT_TRUE(p.offer.has_value());
        shard.confirm(p.offer->transit);
        break;
      }
      case 3:  // parked then cancelled
        ASSERT_TRUE(shard.wait(id, true, w, 0).parked);
        shard.cancel(w);
        break;
      case 4: {  // parked, offered, refused, stored, then expired
        ASSERT_TRUE(shard.wait(id, true, w, 0).parked);
        auto p = shard.post(id, "v", 0, poster(2));
        ASSERT_TRUE(p.offer.has_value());
        shard.refuse(p.offer->transit, std::move(p.offer->value), 0);
        break;
      }
    }
  }
  EXPECT_GT(shard.ids(), 0u);
  shard.expire(60);
  EXPECT_EQ(shard.ids(), 0u);
  EXPECT_EQ(shard.stored_values(), 0u);
  EXPECT_EQ(shard.parked_waiters(), 0u);
  EXPECT_EQ(shard.in_transit(), 0u);
  EXPECT_EQ(shard.counters().expired.get(), static_cast<uint64_t>(2 * kN / 5));
  EXPECT_EQ(shard.counters().delivered.get(), static_cast<uint64_t>(2 * kN / 5));
  EXPECT_EQ(shard.counters().stored.get(), 0u);
  EXPECT_EQ(shard.counters().waiters.get(), 0u);
}

}  // namespace
