// The Reward gRPC service end to end over loopback: Score / ScoreSteps /
// ListBackends through RemoteRewardScorer and the raw stub, INVALID_ARGUMENT
// codes for bad requests, metrics, and cancellation through a CallScope.
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/orchestrator/remote/remote_reward_scorer.h"
#include "services/reward/reward_server.h"

namespace tandem::services {
namespace {

class RewardServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    RewardServerOptions o;
    o.metrics_address = "";  // Serialize() only
    o.registry.judge_model = "";
    o.registry.default_backend = "math";
    auto s = RewardServer::Start(std::move(o));
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = s->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static RewardServer* server_;
};
RewardServer* RewardServiceTest::server_ = nullptr;

TEST_F(RewardServiceTest, ScoresThroughTheRemotePort) {
  auto scorer = orchestrator::RemoteRewardScorer::Connect(server_->address());
  ASSERT_TRUE(scorer.ok()) << scorer.status();
  EXPECT_EQ((*scorer)->Backends(), (std::vector<std::string>{"keyword", "length", "math", "regex"}));
  std::vector<orchestrator::RewardItem> items = {{"q", "The answer is 18.", "#### 18"}, {"q", "\\boxed{3}", "4"}};
  auto s = (*scorer)->Score(orchestrator::RewardSpec{"", {}}, items);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, (std::vector<float>{1, 0}));
  s = (*scorer)->Score(orchestrator::RewardSpec{"keyword", {{"required", "answer"}}}, items);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, (std::vector<float>{1, 0}));
  const std::string metrics = server_->metrics().Serialize();
  EXPECT_NE(metrics.find("tandem:reward_calls_total{backend=\"math\",code=\"OK\",method=\"Score\"} 1"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("tandem:reward_items_total{backend=\"keyword\",method=\"Score\"} 2"), std::string::npos);
  EXPECT_NE(metrics.find("tandem:reward_latency_seconds_count"), std::string::npos);
}

TEST_F(RewardServiceTest, BadRequestsAreInvalidArgumentOverTheWire) {
  auto scorer = orchestrator::RemoteRewardScorer::Connect(server_->address());
  ASSERT_TRUE(scorer.ok()) << scorer.status();
  std::vector<orchestrator::RewardItem> none;
  auto s = (*scorer)->Score(orchestrator::RewardSpec{"math", {}}, none);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
  std::vector<orchestrator::RewardItem> items = {{"q", "a", "1"}};
  s = (*scorer)->Score(orchestrator::RewardSpec{"judge", {}}, items);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("known: keyword, length, math, regex"), std::string::npos) << s.status();
  s = (*scorer)->Score(orchestrator::RewardSpec{"length", {{"max", "-3"}}}, items);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<orchestrator::RewardItem> bad_utf8 = {{"q", "\xed\xa0\x80", "1"}};  // a surrogate
  s = (*scorer)->Score(orchestrator::RewardSpec{"math", {}}, bad_utf8);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> steps = {"a", "b"};
  s = (*scorer)->ScoreSteps(orchestrator::RewardSpec{"math", {}}, "q", steps);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(server_->metrics().Serialize().find("code=\"INVALID_ARGUMENT\""), std::string::npos);
}

TEST_F(RewardServiceTest, CancelledScopeFailsFast) {
  auto scorer = orchestrator::RemoteRewardScorer::Connect(server_->address());
  ASSERT_TRUE(scorer.ok());
  auto scope = std::make_shared<orchestrator::CallScope>();
  auto scoped = (*scorer)->WithScope(scope);
  scope->Cancel();
  std::vector<orchestrator::RewardItem> items = {{"q", "1", "1"}};
  EXPECT_EQ(scoped->Score(orchestrator::RewardSpec{"math", {}}, items).status().code(), absl::StatusCode::kCancelled);
}

TEST_F(RewardServiceTest, ListBackendsNamesTheDefault) {
  auto channel = orchestrator::MakeServiceChannel(server_->address());
  auto stub = tandem::v1::Reward::NewStub(channel);
  grpc::ClientContext ctx;
  tandem::v1::ListBackendsResponse resp;
  ASSERT_TRUE(stub->ListBackends(&ctx, tandem::v1::ListBackendsRequest(), &resp).ok());
  EXPECT_EQ(resp.default_backend(), "math");
  bool saw_default = false;
  for (const auto& b : resp.backends()) {
    saw_default = saw_default || (b.name() == "math" && b.is_default());
    EXPECT_FALSE(b.supports_steps()) << b.name();
  }
  EXPECT_TRUE(saw_default);
}

}  // namespace
}  // namespace tandem::services
