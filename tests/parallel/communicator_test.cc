// LocalCommunicator: results, determinism of the reduction order, and abort.
#include <cmath>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/parallel/local_communicator.h"

namespace tandem::runtime::parallel {
namespace {

using ::testing::HasSubstr;

// Runs fn(comm) on world threads, one rank each.
template <typename F>
void OnRanks(int world, F fn) {
  auto group = LocalGroup::Create(world);
  ASSERT_TRUE(group.ok());
  std::vector<std::unique_ptr<Communicator>> comms;
  for (int r = 0; r < world; ++r) {
    auto c = (*group)->Rank(r);
    ASSERT_TRUE(c.ok());
    comms.push_back(std::move(*c));
  }
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) threads.emplace_back([&, r] { fn(*comms[r]); });
  for (auto& t : threads) t.join();
}

TEST(LocalCommunicator, AllReduceSumsInRankOrderOnEveryRank) {
  // Chosen so that the order matters in fp32: (1e8 + 1) - 1e8 loses the 1.
  const float vals[4] = {1e8f, 1.0f, -1e8f, 1.0f};
  float expect = vals[0];
  for (int r = 1; r < 4; ++r) expect += vals[r];
  ASSERT_EQ(expect, 1.0f);  // the rank-order sum, not the exact 2
  std::vector<std::vector<float>> got(4);
  OnRanks(4, [&](Communicator& c) {
    std::vector<float> data = {vals[c.rank()], static_cast<float>(c.rank())};
    ASSERT_TRUE(c.AllReduceSum(data.data(), data.size()).ok());
    got[c.rank()] = data;
  });
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(got[r][0], expect) << "rank " << r;
    EXPECT_EQ(got[r][1], 0.0f + 1.0f + 2.0f + 3.0f) << "rank " << r;
  }
}

TEST(LocalCommunicator, WorldOfOneIsTheIdentity) {
  OnRanks(1, [](Communicator& c) {
    std::vector<float> data = {-0.0f, 3.5f, NAN};
    ASSERT_TRUE(c.AllReduceSum(data.data(), data.size()).ok());
    EXPECT_TRUE(std::signbit(data[0]));
    EXPECT_EQ(data[1], 3.5f);
    EXPECT_TRUE(std::isnan(data[2]));
  });
}

TEST(LocalCommunicator, AllGatherAndBroadcast) {
  std::vector<std::vector<int>> gathered(3);
  std::vector<int> broadcast(3);
  OnRanks(3, [&](Communicator& c) {
    int mine[2] = {c.rank(), 10 * c.rank()};
    std::vector<int> all(6, -1);
    ASSERT_TRUE(c.AllGather(mine, all.data(), sizeof mine).ok());
    gathered[c.rank()] = all;
    int v = c.rank() == 2 ? 42 : -1;
    ASSERT_TRUE(c.Broadcast(&v, sizeof v, 2).ok());
    broadcast[c.rank()] = v;
    EXPECT_FALSE(c.Broadcast(&v, sizeof v, 3).ok());
  });
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(gathered[r], (std::vector<int>{0, 0, 1, 10, 2, 20}));
    EXPECT_EQ(broadcast[r], 42);
  }
}

TEST(LocalCommunicator, AbortReleasesRanksWaitingInACollective) {
  std::vector<absl::Status> status(3);
  OnRanks(3, [&](Communicator& c) {
    float x = 1.0f;
    if (c.rank() == 1) {
      c.Abort(absl::InternalError("rank 1 failed to load"));
      status[1] = c.AllReduceSum(&x, 1);
    } else {
      status[c.rank()] = c.AllReduceSum(&x, 1);  // would wait for rank 1 forever
    }
  });
  for (int r = 0; r < 3; ++r) {
    EXPECT_FALSE(status[r].ok()) << r;
    EXPECT_THAT(status[r].message(), HasSubstr("rank 1 failed to load")) << r;
  }
}

TEST(LocalCommunicator, RejectsBadGroups) {
  EXPECT_FALSE(LocalGroup::Create(0).ok());
  auto g = LocalGroup::Create(2);
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE((*g)->Rank(2).ok());
  EXPECT_FALSE((*g)->Rank(-1).ok());
}

}  // namespace
}  // namespace tandem::runtime::parallel
