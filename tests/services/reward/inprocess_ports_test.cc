// The all-in-one wiring hands strategies a working RewardScorer: the
// registry with the target model as the judge when no reward model is named.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/orchestrator/server/inprocess_ports.h"
#include "tests/services/reward/reward_test_util.h"

namespace tandem::decoding::server {
namespace {

TEST(InProcessReward, PortsCarryARegistryWithTheTargetAsJudge) {
  orchestrator::server::InProcessPortsOptions o;
  o.target_model = reward_test::RealModelPath("smollm2-135m");
  o.threads = 2;
  auto ports = orchestrator::server::BuildInProcessPorts(o);
  ASSERT_TRUE(ports.ok()) << ports.status();
  RewardScorer* reward = (*ports)->reward;
  ASSERT_NE(reward, nullptr);
  const std::vector<std::string> backends = reward->Backends();
  for (const char* b : {"judge", "math", "keyword"}) {
    EXPECT_NE(std::find(backends.begin(), backends.end(), b), backends.end()) << b;
  }
  std::vector<RewardItem> items = {{"What is 2+2?", "4", "4"}, {"What is 2+2?", "Paris is a fish.", "4"}};
  auto math = reward->Score(RewardSpec{"math", {}}, items);
  ASSERT_TRUE(math.ok()) << math.status();
  EXPECT_EQ(*math, (std::vector<float>{1, 0}));
  auto judge = reward->Score(RewardSpec{"", {}}, items);  // default: judge
  ASSERT_TRUE(judge.ok()) << judge.status();
  EXPECT_GT((*judge)[0], (*judge)[1]);
}

}  // namespace
}  // namespace tandem::decoding::server
