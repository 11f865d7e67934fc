#include "services/common/session_registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

namespace tandem::services {
namespace {

struct FakeSession {
  explicit FakeSession(int v, std::atomic<int>* destroyed = nullptr) : value(v), destroyed(destroyed) {}
  ~FakeSession() {
    if (destroyed) ++*destroyed;
  }
  int value;
  std::atomic<int>* destroyed;
};

// A clock the test moves by hand, so expiry is checked without sleeping.
struct FakeClock {
  std::mutex mu;
  absl::Time now = absl::UnixEpoch();
  absl::Time Now() {
    std::lock_guard<std::mutex> l(mu);
    return now;
  }
  void Advance(absl::Duration d) {
    std::lock_guard<std::mutex> l(mu);
    now += d;
  }
};

SessionRegistryOptions ManualOptions(FakeClock* clock, size_t max_sessions = 16) {
  SessionRegistryOptions o;
  o.idle_timeout = absl::Seconds(10);
  o.reap_interval = absl::ZeroDuration();  // no thread: the test calls ReapExpired()
  o.max_sessions = max_sessions;
  o.clock = [clock] { return clock->Now(); };
  return o;
}

TEST(SessionRegistryTest, InsertAcquireRemove) {
  FakeClock clock;
  SessionRegistry<FakeSession> reg(ManualOptions(&clock));
  ASSERT_TRUE(reg.Insert("a", std::make_shared<FakeSession>(1)).ok());
  EXPECT_EQ(reg.Insert("a", std::make_shared<FakeSession>(2)).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(reg.Insert("b", nullptr).code(), absl::StatusCode::kInvalidArgument);
  {
    auto lease = reg.Acquire("a");
    ASSERT_TRUE(lease.ok());
    EXPECT_EQ((*lease)->value, 1);
  }
  EXPECT_EQ(reg.Acquire("zzz").status().code(), absl::StatusCode::kNotFound);
  auto removed = reg.Remove("a");
  ASSERT_NE(removed, nullptr);
  EXPECT_EQ(removed->value, 1);
  EXPECT_EQ(reg.Remove("a"), nullptr);
  EXPECT_EQ(reg.Acquire("a").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(reg.size(), 0u);
}

TEST(SessionRegistryTest, MaxSessions) {
  FakeClock clock;
  SessionRegistry<FakeSession> reg(ManualOptions(&clock, 2));
  ASSERT_TRUE(reg.Insert(reg.NewId(), std::make_shared<FakeSession>(1)).ok());
  ASSERT_TRUE(reg.Insert(reg.NewId(), std::make_shared<FakeSession>(2)).ok());
  EXPECT_EQ(reg.Insert(reg.NewId(), std::make_shared<FakeSession>(3)).code(),
            absl::StatusCode::kResourceExhausted);
}

// A restarted service (a new registry) does not reuse its previous life's
// ids: a client still holding one must get NOT_FOUND, not another request's
// session.
TEST(SessionRegistryTest, NewIdsDifferAcrossRegistries) {
  FakeClock clock;
  SessionRegistry<FakeSession> before(ManualOptions(&clock, 8));
  SessionRegistry<FakeSession> after(ManualOptions(&clock, 8));
  const std::string a = before.NewId("t-"), b = before.NewId("t-");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind("t-", 0), 0u);
  ASSERT_TRUE(before.Insert(a, std::make_shared<FakeSession>(1)).ok());
  EXPECT_NE(after.NewId("t-"), a);
  EXPECT_EQ(after.Acquire(a).status().code(), absl::StatusCode::kNotFound);
}

TEST(SessionRegistryTest, IdleSessionsExpireWithCallback) {
  FakeClock clock;
  std::atomic<int> destroyed{0};
  std::vector<std::string> expired;
  SessionRegistry<FakeSession> reg(ManualOptions(&clock), [&](const std::string& id, std::shared_ptr<FakeSession> s) {
    expired.push_back(id);
    EXPECT_NE(s, nullptr);
  });
  ASSERT_TRUE(reg.Insert("old", std::make_shared<FakeSession>(1, &destroyed)).ok());
  clock.Advance(absl::Seconds(6));
  ASSERT_TRUE(reg.Insert("young", std::make_shared<FakeSession>(2, &destroyed)).ok());
  EXPECT_EQ(reg.ReapExpired(), 0u);
  clock.Advance(absl::Seconds(5));  // old idle 11 s, young 5 s
  EXPECT_EQ(reg.ReapExpired(), 1u);
  EXPECT_EQ(expired, std::vector<std::string>{"old"});
  EXPECT_EQ(destroyed.load(), 1);  // freed once the callback dropped it
  EXPECT_EQ(reg.Acquire("old").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(reg.Acquire("young").ok());  // use refreshes last-used
  clock.Advance(absl::Seconds(9));
  EXPECT_EQ(reg.ReapExpired(), 0u);
  clock.Advance(absl::Seconds(2));
  EXPECT_EQ(reg.ReapExpired(), 1u);
  EXPECT_EQ(reg.size(), 0u);
}

TEST(SessionRegistryTest, LeasedSessionNeverExpires) {
  FakeClock clock;
  SessionRegistry<FakeSession> reg(ManualOptions(&clock));
  ASSERT_TRUE(reg.Insert("busy", std::make_shared<FakeSession>(1)).ok());
  {
    auto lease = reg.Acquire("busy");
    ASSERT_TRUE(lease.ok());
    clock.Advance(absl::Minutes(10));  // a very long call
    EXPECT_EQ(reg.ReapExpired(), 0u);
    EXPECT_EQ((*lease)->value, 1);
  }
  // Releasing the lease counts as use: the timeout restarts from now.
  EXPECT_EQ(reg.ReapExpired(), 0u);
  clock.Advance(absl::Seconds(11));
  EXPECT_EQ(reg.ReapExpired(), 1u);
}

TEST(SessionRegistryTest, RemovedWhileLeasedStaysAliveUntilReleased) {
  FakeClock clock;
  std::atomic<int> destroyed{0};
  SessionRegistry<FakeSession> reg(ManualOptions(&clock));
  ASSERT_TRUE(reg.Insert("s", std::make_shared<FakeSession>(1, &destroyed)).ok());
  auto lease = reg.Acquire("s");
  ASSERT_TRUE(lease.ok());
  reg.Remove("s");
  EXPECT_EQ(destroyed.load(), 0);
  EXPECT_EQ((*lease)->value, 1);
  *lease = {};  // release
  EXPECT_EQ(destroyed.load(), 1);
}

TEST(SessionRegistryTest, ReaperThreadExpiresOnItsOwn) {
  SessionRegistryOptions o;
  o.idle_timeout = absl::Milliseconds(20);
  o.reap_interval = absl::Milliseconds(10);
  std::mutex mu;
  std::condition_variable cv;
  bool expired = false;
  SessionRegistry<FakeSession> reg(o, [&](const std::string& id, std::shared_ptr<FakeSession>) {
    std::lock_guard<std::mutex> l(mu);
    expired = (id == "x");
    cv.notify_all();
  });
  ASSERT_TRUE(reg.Insert("x", std::make_shared<FakeSession>(1)).ok());
  std::unique_lock<std::mutex> l(mu);
  // Generous bound: this checks that the reaper runs at all, not how fast.
  ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(30), [&] { return expired; }));
  EXPECT_EQ(reg.size(), 0u);
}


struct BusySession {
  std::atomic<bool> busy{false};
};

// One exclusive call at a time: a second AcquireExclusive fails with
// FAILED_PRECONDITION without clearing the holder's flag or keeping a lease
// (the session still expires once the holder is done); after release the
// next one succeeds.
TEST(SessionRegistryTest, AcquireExclusiveRefusesOverlappingCalls) {
  FakeClock clock;
  SessionRegistry<BusySession> reg(ManualOptions(&clock));
  ASSERT_TRUE(reg.Insert("a", std::make_shared<BusySession>()).ok());
  {
    auto first = reg.AcquireExclusive("a");
    ASSERT_TRUE(first.ok());
    auto second = reg.AcquireExclusive("a");
    EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(second.status().message().find("another call in progress"), std::string::npos);
    EXPECT_TRUE((**first).busy.load());  // the refused caller did not clear it
    EXPECT_TRUE(reg.Acquire("a").ok());  // plain leases are not exclusive
    clock.Advance(absl::Seconds(60));
    EXPECT_EQ(reg.ReapExpired(), 0u);  // leased: never reaped under a call
  }
  auto again = reg.AcquireExclusive("a");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(reg.AcquireExclusive("zzz").status().code(), absl::StatusCode::kNotFound);
}

TEST(SessionRegistryTest, RefusedExclusiveCallKeepsNoLease) {
  FakeClock clock;
  SessionRegistry<BusySession> reg(ManualOptions(&clock));
  ASSERT_TRUE(reg.Insert("a", std::make_shared<BusySession>()).ok());
  {
    auto first = reg.AcquireExclusive("a");
    ASSERT_TRUE(first.ok());
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(reg.AcquireExclusive("a").ok());
  }
  clock.Advance(absl::Seconds(60));
  EXPECT_EQ(reg.ReapExpired(), 1u);
}

}  // namespace
}  // namespace tandem::services
