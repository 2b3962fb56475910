// MailboxShard: the per-loop keyed one-shot handoff, driven directly (no loop, no sockets):
// both orders of post and wait, FIFO waiters, one-shot values, conflicts, dead waiters,
// cancel, TTL and deadline expiry, bounds, drop, and that no empty slot is left behind.
#include "mailbox_shard.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using tether::detail::MailboxLimits;
using tether::detail::MailboxShard;
using tether::detail::PostStatus;

/// What a waiter callback saw: the values offered (and taken), and timeouts (nullptr calls).
struct Seen {
  std::vector<std::string> values;
  int timeouts = 0;
  int offers = 0;
};

/// A waiter that records into `seen` and returns `alive` when offered a value.
MailboxShard::Waiter recorder(const std::shared_ptr<Seen>& seen, bool alive = true) {
  return [seen, alive](std::string* v) {
    if (!v) {
      ++seen->timeouts;
      return true;
    }
    ++seen->offers;
    if (!alive) return false;
    seen->values.push_back(std::move(*v));
    return true;
  };
}

MailboxShard::Waiter never_called() {
  return [](std::string*) {
    ADD_FAILURE() << "waiter called unexpectedly";
    return false;
  };
}

constexpr uint64_t kFar = 1'000'000'000;  // a waiter deadline that never passes in a test

TEST(MailboxShard, PostThenWaitTakesAtOnce) {
  MailboxShard shard(MailboxLimits{});
  EXPECT_EQ(shard.post("a", "hello", 0), PostStatus::Stored);
  EXPECT_EQ(shard.ids(), 1u);
  EXPECT_EQ(shard.stored_values(), 1u);

  auto r = shard.wait("a", /*park=*/true, kFar, never_called());
  ASSERT_TRUE(r.value.has_value());
  EXPECT_EQ(*r.value, "hello");
  EXPECT_EQ(r.waiter, 0u);
  EXPECT_FALSE(r.refused);
  EXPECT_EQ(shard.parked_waiters(), 0u);
  EXPECT_EQ(shard.stored_values(), 0u);
  EXPECT_EQ(shard.ids(), 0u);
  EXPECT_EQ(shard.counters().delivered.get(), 1u);
}

TEST(MailboxShard, WaitThenPostDeliversToWaiter) {
  MailboxShard shard(MailboxLimits{});
  auto seen = std::make_shared<Seen>();
  auto r = shard.wait("a", true, kFar, recorder(seen));
  EXPECT_FALSE(r.value.has_value());
  EXPECT_FALSE(r.refused);
  EXPECT_NE(r.waiter, 0u);
  EXPECT_EQ(shard.parked_waiters(), 1u);
  EXPECT_EQ(shard.ids(), 1u);
  EXPECT_EQ(shard.stored_values(), 0u);

  EXPECT_EQ(shard.post("a", "hello", 0), PostStatus::Delivered);
  ASSERT_EQ(seen->values.size(), 1u);
  EXPECT_EQ(seen->values[0], "hello");
  EXPECT_EQ(seen->timeouts, 0);
  EXPECT_EQ(shard.parked_waiters(), 0u);
  EXPECT_EQ(shard.stored_values(), 0u);
  EXPECT_EQ(shard.ids(), 0u);
  EXPECT_EQ(shard.counters().delivered.get(), 1u);
}

TEST(MailboxShard, WaitWithoutParkOnNothingIsEmpty) {
  MailboxShard shard(MailboxLimits{});
  auto r = shard.wait("nobody", /*park=*/false, kFar, never_called());
  EXPECT_FALSE(r.value.has_value());
  EXPECT_EQ(r.waiter, 0u);
  EXPECT_FALSE(r.refused);
  EXPECT_EQ(shard.ids(), 0u);
  EXPECT_EQ(shard.parked_waiters(), 0u);
}

TEST(MailboxShard, WaitersAreServedInArrivalOrder) {
  MailboxShard shard(MailboxLimits{});
  std::vector<std::shared_ptr<Seen>> seen;
  for (int i = 0; i < 3; ++i) {
    seen.push_back(std::make_shared<Seen>());
    auto r = shard.wait("q", true, kFar, recorder(seen.back()));
    ASSERT_NE(r.waiter, 0u);
  }
  EXPECT_EQ(shard.parked_waiters(), 3u);
  EXPECT_EQ(shard.ids(), 1u);

  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(shard.post("q", "v" + std::to_string(i), 0), PostStatus::Delivered);
    EXPECT_EQ(shard.parked_waiters(), static_cast<size_t>(2 - i));
  }
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(seen[i]->values.size(), 1u) << "waiter " << i;
    EXPECT_EQ(seen[i]->values[0], "v" + std::to_string(i)) << "waiter " << i;
  }
  EXPECT_EQ(shard.ids(), 0u);
  EXPECT_EQ(shard.stored_values(), 0u);
  EXPECT_EQ(shard.counters().delivered.get(), 3u);
}

TEST(MailboxShard, TakenValueIsGone) {
  MailboxShard shard(MailboxLimits{});
  ASSERT_EQ(shard.post("a", "once", 0), PostStatus::Stored);
  auto first = shard.wait("a", false, kFar, never_called());
  ASSERT_TRUE(first.value.has_value());
  EXPECT_EQ(*first.value, "once");

  // Without parking: empty.
  auto second = shard.wait("a", false, kFar, never_called());
  EXPECT_FALSE(second.value.has_value());
  EXPECT_EQ(second.waiter, 0u);
  EXPECT_FALSE(second.refused);

  // With parking: parks, since nothing is stored any more.
  auto seen = std::make_shared<Seen>();
  auto third = shard.wait("a", true, kFar, recorder(seen));
  EXPECT_FALSE(third.value.has_value());
  EXPECT_NE(third.waiter, 0u);
  EXPECT_EQ(shard.parked_waiters(), 1u);
  EXPECT_TRUE(seen->values.empty());
  EXPECT_EQ(shard.counters().delivered.get(), 1u);

  shard.cancel(third.waiter);
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, SecondPostConflictsAndKeepsFirst) {
  MailboxShard shard(MailboxLimits{});
  ASSERT_EQ(shard.post("a", "first", 0), PostStatus::Stored);
  EXPECT_EQ(shard.post("a", "second", 0), PostStatus::Conflict);
  EXPECT_EQ(shard.counters().refused.get(), 1u);
  EXPECT_EQ(shard.stored_values(), 1u);
  EXPECT_EQ(shard.ids(), 1u);

  auto r = shard.wait("a", false, kFar, never_called());
  ASSERT_TRUE(r.value.has_value());
  EXPECT_EQ(*r.value, "first");
  // Once taken, a new post is accepted again.
  EXPECT_EQ(shard.post("a", "third", 0), PostStatus::Stored);
  auto r2 = shard.wait("a", false, kFar, never_called());
  ASSERT_TRUE(r2.value.has_value());
  EXPECT_EQ(*r2.value, "third");
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, DeadWaiterIsSkipped) {
  MailboxShard shard(MailboxLimits{});
  auto dead = std::make_shared<Seen>();
  auto live = std::make_shared<Seen>();
  ASSERT_NE(shard.wait("a", true, kFar, recorder(dead, /*alive=*/false)).waiter, 0u);
  ASSERT_NE(shard.wait("a", true, kFar, recorder(live)).waiter, 0u);

  EXPECT_EQ(shard.post("a", "value", 0), PostStatus::Delivered);
  EXPECT_EQ(dead->offers, 1);
  EXPECT_TRUE(dead->values.empty());
  ASSERT_EQ(live->values.size(), 1u);
  EXPECT_EQ(live->values[0], "value");  // the dead waiter left the value untouched
  EXPECT_EQ(shard.parked_waiters(), 0u);
  EXPECT_EQ(shard.ids(), 0u);
  EXPECT_EQ(shard.counters().delivered.get(), 1u);
}

TEST(MailboxShard, AllWaitersDeadStoresValue) {
  MailboxShard shard(MailboxLimits{});
  auto d1 = std::make_shared<Seen>();
  auto d2 = std::make_shared<Seen>();
  ASSERT_NE(shard.wait("a", true, kFar, recorder(d1, false)).waiter, 0u);
  ASSERT_NE(shard.wait("a", true, kFar, recorder(d2, false)).waiter, 0u);

  EXPECT_EQ(shard.post("a", "kept", 0), PostStatus::Stored);
  EXPECT_EQ(d1->offers, 1);
  EXPECT_EQ(d2->offers, 1);
  EXPECT_EQ(shard.parked_waiters(), 0u);
  EXPECT_EQ(shard.stored_values(), 1u);
  EXPECT_EQ(shard.counters().delivered.get(), 0u);

  auto r = shard.wait("a", false, kFar, never_called());
  ASSERT_TRUE(r.value.has_value());
  EXPECT_EQ(*r.value, "kept");
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, CancelRemovesWaiterAtOnce) {
  MailboxShard shard(MailboxLimits{});
  auto r = shard.wait("a", true, kFar, never_called());
  ASSERT_NE(r.waiter, 0u);
  EXPECT_EQ(shard.parked_waiters(), 1u);
  EXPECT_EQ(shard.ids(), 1u);

  shard.cancel(r.waiter);
  EXPECT_EQ(shard.parked_waiters(), 0u);
  EXPECT_EQ(shard.ids(), 0u);

  shard.cancel(r.waiter);  // twice: ignored
  shard.cancel(987654);    // unknown: ignored
  EXPECT_EQ(shard.post("a", "later", 0), PostStatus::Stored);
  EXPECT_EQ(shard.stored_values(), 1u);
  EXPECT_EQ(shard.counters().delivered.get(), 0u);

  // Its deadline does not fire either.
  shard.expire(kFar + 1);
  EXPECT_EQ(shard.counters().timed_out.get(), 0u);
}

TEST(MailboxShard, CancelOneOfSeveralKeepsOrder) {
  MailboxShard shard(MailboxLimits{});
  auto a = std::make_shared<Seen>();
  auto c = std::make_shared<Seen>();
  ASSERT_NE(shard.wait("q", true, kFar, recorder(a)).waiter, 0u);
  auto b = shard.wait("q", true, kFar, never_called());
  ASSERT_NE(shard.wait("q", true, kFar, recorder(c)).waiter, 0u);
  shard.cancel(b.waiter);
  EXPECT_EQ(shard.parked_waiters(), 2u);
  EXPECT_EQ(shard.post("q", "1", 0), PostStatus::Delivered);
  EXPECT_EQ(shard.post("q", "2", 0), PostStatus::Delivered);
  ASSERT_EQ(a->values.size(), 1u);
  ASSERT_EQ(c->values.size(), 1u);
  EXPECT_EQ(a->values[0], "1");
  EXPECT_EQ(c->values[0], "2");
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, ValuesExpireAfterTtl) {
  MailboxLimits limits;
  limits.ttl_ms = 100;
  MailboxShard shard(limits);
  ASSERT_EQ(shard.post("a", "x", 1000), PostStatus::Stored);
  ASSERT_EQ(shard.post("b", "y", 1050), PostStatus::Stored);

  shard.expire(1000);
  shard.expire(1099);
  EXPECT_EQ(shard.stored_values(), 2u);
  EXPECT_EQ(shard.counters().expired.get(), 0u);

  shard.expire(1100);  // a's TTL is over, b's is not
  EXPECT_EQ(shard.stored_values(), 1u);
  EXPECT_EQ(shard.ids(), 1u);
  EXPECT_EQ(shard.counters().expired.get(), 1u);
  EXPECT_FALSE(shard.wait("a", false, kFar, never_called()).value.has_value());

  shard.expire(1149);
  EXPECT_EQ(shard.counters().expired.get(), 1u);
  shard.expire(1150);
  EXPECT_EQ(shard.counters().expired.get(), 2u);
  EXPECT_EQ(shard.stored_values(), 0u);
  EXPECT_EQ(shard.ids(), 0u);
  EXPECT_EQ(shard.counters().delivered.get(), 0u);
}

TEST(MailboxShard, ExpiryOfTakenValueDoesNotDropANewerOne) {
  MailboxLimits limits;
  limits.ttl_ms = 100;
  MailboxShard shard(limits);
  ASSERT_EQ(shard.post("a", "old", 0), PostStatus::Stored);
  ASSERT_TRUE(shard.wait("a", false, kFar, never_called()).value.has_value());
  ASSERT_EQ(shard.post("a", "new", 50), PostStatus::Stored);

  shard.expire(100);  // the old value's expiry entry: the new value stays
  EXPECT_EQ(shard.stored_values(), 1u);
  EXPECT_EQ(shard.counters().expired.get(), 0u);
  shard.expire(150);
  EXPECT_EQ(shard.stored_values(), 0u);
  EXPECT_EQ(shard.counters().expired.get(), 1u);
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, WaiterDeadlineCallsBackWithNull) {
  MailboxShard shard(MailboxLimits{});
  auto early = std::make_shared<Seen>();
  auto late = std::make_shared<Seen>();
  ASSERT_NE(shard.wait("a", true, 500, recorder(early)).waiter, 0u);
  ASSERT_NE(shard.wait("b", true, 800, recorder(late)).waiter, 0u);

  shard.expire(499);
  EXPECT_EQ(early->timeouts, 0);
  EXPECT_EQ(shard.parked_waiters(), 2u);

  shard.expire(500);
  EXPECT_EQ(early->timeouts, 1);
  EXPECT_TRUE(early->values.empty());
  EXPECT_EQ(late->timeouts, 0);
  EXPECT_EQ(shard.parked_waiters(), 1u);
  EXPECT_EQ(shard.ids(), 1u);
  EXPECT_EQ(shard.counters().timed_out.get(), 1u);

  // A post to the timed-out id is stored, not handed to the gone waiter.
  EXPECT_EQ(shard.post("a", "after", 600), PostStatus::Stored);
  EXPECT_EQ(early->offers, 0);

  shard.expire(1000);
  EXPECT_EQ(late->timeouts, 1);
  EXPECT_EQ(shard.counters().timed_out.get(), 2u);
  EXPECT_EQ(shard.parked_waiters(), 0u);
  ASSERT_TRUE(shard.drop("a"));
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, TimeoutCallbackMayUseShardAgain) {
  MailboxShard shard(MailboxLimits{});
  auto next = std::make_shared<Seen>();
  ASSERT_NE(shard
                .wait("a", true, 100,
                      [&shard, next](std::string* v) {
                        EXPECT_EQ(v, nullptr);
                        // Re-park on the same id from inside the callback.
                        EXPECT_NE(shard.wait("a", true, kFar, recorder(next)).waiter, 0u);
                        return true;
                      })
                .waiter,
            0u);
  shard.expire(100);
  EXPECT_EQ(shard.parked_waiters(), 1u);
  EXPECT_EQ(shard.post("a", "v", 200), PostStatus::Delivered);
  ASSERT_EQ(next->values.size(), 1u);
  EXPECT_EQ(next->values[0], "v");
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, ValueOverMaxBytesIsTooLarge) {
  MailboxLimits limits;
  limits.max_value_bytes = 8;
  MailboxShard shard(limits);
  EXPECT_EQ(shard.post("a", std::string(8, 'x'), 0), PostStatus::Stored);
  EXPECT_EQ(shard.post("b", std::string(9, 'x'), 0), PostStatus::TooLarge);
  EXPECT_EQ(shard.counters().refused.get(), 1u);
  EXPECT_EQ(shard.ids(), 1u);

  // Too large even when a waiter is parked: the waiter keeps waiting.
  auto seen = std::make_shared<Seen>();
  ASSERT_NE(shard.wait("c", true, kFar, recorder(seen)).waiter, 0u);
  EXPECT_EQ(shard.post("c", std::string(100, 'x'), 0), PostStatus::TooLarge);
  EXPECT_EQ(seen->offers, 0);
  EXPECT_EQ(shard.parked_waiters(), 1u);
}

TEST(MailboxShard, MaxIdsRefusesNewIds) {
  MailboxLimits limits;
  limits.max_ids = 2;
  MailboxShard shard(limits);
  EXPECT_EQ(shard.post("a", "1", 0), PostStatus::Stored);
  auto w = shard.wait("b", true, kFar, never_called());
  ASSERT_NE(w.waiter, 0u);
  EXPECT_EQ(shard.ids(), 2u);

  EXPECT_EQ(shard.post("c", "3", 0), PostStatus::Full);
  auto refused = shard.wait("d", true, kFar, never_called());
  EXPECT_TRUE(refused.refused);
  EXPECT_EQ(refused.waiter, 0u);
  EXPECT_FALSE(refused.value.has_value());
  EXPECT_EQ(shard.counters().refused.get(), 2u);
  EXPECT_EQ(shard.ids(), 2u);

  // Without parking a wait on a new id is simply empty, not refused.
  auto empty = shard.wait("d", false, kFar, never_called());
  EXPECT_FALSE(empty.refused);

  // Existing ids still work: a wait on a takes its value; then both ids are freed.
  EXPECT_TRUE(shard.wait("a", true, kFar, never_called()).value.has_value());
  shard.cancel(w.waiter);
  EXPECT_EQ(shard.ids(), 0u);
  EXPECT_EQ(shard.post("c", "3", 0), PostStatus::Stored);  // room again
}

TEST(MailboxShard, MaxWaitersPerIdRefusesMore) {
  MailboxLimits limits;
  limits.max_waiters_per_id = 2;
  MailboxShard shard(limits);
  auto w1 = shard.wait("a", true, kFar, never_called());
  auto w2 = shard.wait("a", true, kFar, never_called());
  ASSERT_NE(w1.waiter, 0u);
  ASSERT_NE(w2.waiter, 0u);
  auto w3 = shard.wait("a", true, kFar, never_called());
  EXPECT_TRUE(w3.refused);
  EXPECT_EQ(w3.waiter, 0u);
  EXPECT_EQ(shard.parked_waiters(), 2u);
  EXPECT_EQ(shard.counters().refused.get(), 1u);

  // Another id is not affected.
  auto other = shard.wait("b", true, kFar, never_called());
  EXPECT_FALSE(other.refused);

  shard.cancel(w1.waiter);
  shard.cancel(w2.waiter);
  shard.cancel(other.waiter);
  EXPECT_EQ(shard.ids(), 0u);
}

TEST(MailboxShard, DropRemovesStoredValue) {
  MailboxShard shard(MailboxLimits{});
  EXPECT_FALSE(shard.drop("a"));
  ASSERT_EQ(shard.post("a", "x", 0), PostStatus::Stored);
  EXPECT_TRUE(shard.drop("a"));
  EXPECT_FALSE(shard.drop("a"));
  EXPECT_EQ(shard.stored_values(), 0u);
  EXPECT_EQ(shard.ids(), 0u);
  EXPECT_FALSE(shard.wait("a", false, kFar, never_called()).value.has_value());

  // Dropping an id that only has waiters: false, and the waiter stays.
  auto seen = std::make_shared<Seen>();
  ASSERT_NE(shard.wait("b", true, kFar, recorder(seen)).waiter, 0u);
  EXPECT_FALSE(shard.drop("b"));
  EXPECT_EQ(shard.parked_waiters(), 1u);
  EXPECT_EQ(shard.post("b", "y", 0), PostStatus::Delivered);
  ASSERT_EQ(seen->values.size(), 1u);
  EXPECT_EQ(shard.ids(), 0u);

  // A dropped value's pending expiry does not count as expired.
  EXPECT_EQ(shard.counters().expired.get(), 0u);
  shard.expire(kFar);
  EXPECT_EQ(shard.counters().expired.get(), 0u);
}

TEST(MailboxShard, PublishSetsGauges) {
  MailboxShard shard(MailboxLimits{});
  ASSERT_EQ(shard.post("a", "x", 0), PostStatus::Stored);
  auto w = shard.wait("b", true, kFar, never_called());
  shard.publish();
  EXPECT_EQ(shard.counters().stored.get(), 1u);
  EXPECT_EQ(shard.counters().waiters.get(), 1u);
  shard.cancel(w.waiter);
  ASSERT_TRUE(shard.drop("a"));
  shard.publish();
  EXPECT_EQ(shard.counters().stored.get(), 0u);
  EXPECT_EQ(shard.counters().waiters.get(), 0u);
}

TEST(MailboxShard, IdsReturnToZeroAfterEverything) {
  MailboxLimits limits;
  limits.ttl_ms = 50;
  MailboxShard shard(limits);
  constexpr int kN = 300;
  std::vector<uint64_t> to_cancel;
  auto sink = std::make_shared<Seen>();
  for (int i = 0; i < kN; ++i) {
    std::string id = "id-" + std::to_string(i);
    switch (i % 5) {
      case 0:  // stored then taken
        ASSERT_EQ(shard.post(id, "v", 0), PostStatus::Stored);
        ASSERT_TRUE(shard.wait(id, true, kFar, never_called()).value.has_value());
        break;
      case 1:  // stored then expired
        ASSERT_EQ(shard.post(id, "v", 0), PostStatus::Stored);
        break;
      case 2:  // parked then delivered
        ASSERT_NE(shard.wait(id, true, kFar, recorder(sink)).waiter, 0u);
        ASSERT_EQ(shard.post(id, "v", 0), PostStatus::Delivered);
        break;
      case 3:  // parked then cancelled
        to_cancel.push_back(shard.wait(id, true, kFar, never_called()).waiter);
        break;
      case 4:  // parked then timed out
        ASSERT_NE(shard.wait(id, true, 40, recorder(sink)).waiter, 0u);
        break;
    }
  }
  EXPECT_GT(shard.ids(), 0u);
  for (uint64_t w : to_cancel) shard.cancel(w);
  shard.expire(60);
  EXPECT_EQ(shard.ids(), 0u);
  EXPECT_EQ(shard.stored_values(), 0u);
  EXPECT_EQ(shard.parked_waiters(), 0u);
  EXPECT_EQ(shard.counters().expired.get(), static_cast<uint64_t>(kN / 5));
  EXPECT_EQ(shard.counters().timed_out.get(), static_cast<uint64_t>(kN / 5));
  EXPECT_EQ(shard.counters().delivered.get(), static_cast<uint64_t>(2 * kN / 5));
  EXPECT_EQ(sink->timeouts, kN / 5);
  EXPECT_EQ(sink->values.size(), static_cast<size_t>(kN / 5));
  shard.publish();
  EXPECT_EQ(shard.counters().stored.get(), 0u);
  EXPECT_EQ(shard.counters().waiters.get(), 0u);
}

}  // namespace
