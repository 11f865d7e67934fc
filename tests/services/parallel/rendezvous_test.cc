// The rendezvous' group logic on threads, without gRPC.
#include "services/parallel/rendezvous.h"

#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tandem::services::parallel {
namespace {

const std::string kId(128, '\x5a');

TEST(Rendezvous, EveryRankGetsTheIdOnceAllJoined) {
  constexpr int kWorld = 4;
  Rendezvous r("g", kWorld, kId);
  std::vector<absl::StatusOr<std::string>> got(kWorld, absl::UnknownError("not run"));
  std::vector<std::thread> ranks;
  // Highest rank first: the order of arrival must not matter.
  for (int rank = kWorld - 1; rank >= 0; --rank) {
    ranks.emplace_back([&, rank] { got[rank] = r.Join("g", rank, kWorld, absl::Now() + absl::Seconds(30)); });
  }
  for (auto& t : ranks) t.join();
  for (int rank = 0; rank < kWorld; ++rank) {
    ASSERT_TRUE(got[rank].ok()) << rank << ": " << got[rank].status();
    EXPECT_EQ(*got[rank], kId);
  }
  EXPECT_TRUE(r.complete());
}

TEST(Rendezvous, NobodyGetsTheIdBeforeTheGroupIsComplete) {
  Rendezvous r("g", 3, kId);
  absl::StatusOr<std::string> first = absl::UnknownError("not run");
  std::thread t([&] { first = r.Join("g", 0, 3, absl::Now() + absl::Seconds(30)); });
  ASSERT_TRUE(r.Join("g", 1, 3, absl::Now() + absl::Milliseconds(300)).status().code() ==
              absl::StatusCode::kDeadlineExceeded);
  // Rank 1 gave up and was forgotten: the group needs it again.
  EXPECT_FALSE(r.complete());
  std::thread late([&] { EXPECT_TRUE(r.Join("g", 2, 3, absl::Now() + absl::Seconds(30)).ok()); });
  auto again = r.Join("g", 1, 3, absl::Now() + absl::Seconds(30));
  late.join();
  t.join();
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, kId);
}

TEST(Rendezvous, DuplicateRankIsRefused) {
  Rendezvous r("g", 2, kId);
  std::thread waiting([&] {
    EXPECT_EQ(r.Join("g", 1, 2, absl::Now() + absl::Seconds(2)).status().code(),
              absl::StatusCode::kDeadlineExceeded);
  });
  while (r.joined() == 0) absl::SleepFor(absl::Milliseconds(5));
  auto dup = r.Join("g", 1, 2, absl::Now() + absl::Seconds(1));
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists) << dup.status();
  EXPECT_NE(dup.status().message().find("rank 1 already joined"), std::string::npos) << dup.status();
  waiting.join();
}

TEST(Rendezvous, WrongWorldRankOrGroupIsRefusedWithoutJoining) {
  Rendezvous r("g", 2, kId);
  const absl::Time soon = absl::Now() + absl::Seconds(1);
  EXPECT_EQ(r.Join("g", 1, 3, soon).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Join("g", 2, 2, soon).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Join("g", -1, 2, soon).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Join("other", 1, 2, soon).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.joined(), 0);
}

TEST(Rendezvous, CancelledJoinLeavesTheGroup) {
  Rendezvous r("g", 2, kId);
  auto s = r.Join("g", 0, 2, absl::Now() + absl::Seconds(30), [] { return true; });
  EXPECT_EQ(s.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(r.joined(), 0);
}

}  // namespace
}  // namespace tandem::services::parallel
