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
    o.registry.similarity_embedder = "";
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
  std::vector<decoding::RewardItem> items = {{"q", "The answer is 18.", "#### 18"}, {"q", "\\boxed{3}", "4"}};
  auto s = (*scorer)->Score(decoding::RewardSpec{"", {}}, items);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, (std::vector<float>{1, 0}));
  s = (*scorer)->Score(decoding::RewardSpec{"keyword", {{"required", "answer"}}}, items);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, (std::vector<float>{1, 0}));
  const std::string metrics = server_->metrics().Serialize();
  EXPECT_NE(metrics.find("tandem:reward_service_calls_total{backend=\"math\",code=\"OK\",method=\"Score\"} 1"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("tandem:reward_service_items_total{backend=\"keyword\",method=\"Score\"} 2"), std::string::npos);
  EXPECT_NE(metrics.find("tandem:reward_service_latency_seconds_count"), std::string::npos);
}

TEST_F(RewardServiceTest, BadRequestsAreInvalidArgumentOverTheWire) {
  auto scorer = orchestrator::RemoteRewardScorer::Connect(server_->address());
  ASSERT_TRUE(scorer.ok()) << scorer.status();
  std::vector<decoding::RewardItem> none;
  auto s = (*scorer)->Score(decoding::RewardSpec{"math", {}}, none);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
  std::vector<decoding::RewardItem> items = {{"q", "a", "1"}};
  s = (*scorer)->Score(decoding::RewardSpec{"judge", {}}, items);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("known: keyword, length, math, regex"), std::string::npos) << s.status();
  s = (*scorer)->Score(decoding::RewardSpec{"length", {{"max", "-3"}}}, items);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<decoding::RewardItem> bad_utf8 = {{"q", "\xed\xa0\x80", "1"}};  // a surrogate
  s = (*scorer)->Score(decoding::RewardSpec{"math", {}}, bad_utf8);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> steps = {"a", "b"};
  s = (*scorer)->ScoreSteps(decoding::RewardSpec{"math", {}}, "q", steps);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(server_->metrics().Serialize().find("code=\"INVALID_ARGUMENT\""), std::string::npos);
}

TEST_F(RewardServiceTest, CancelledScopeFailsFast) {
  auto scorer = orchestrator::RemoteRewardScorer::Connect(server_->address());
  ASSERT_TRUE(scorer.ok());
  auto scope = std::make_shared<orchestrator::CallScope>();
  auto scoped = (*scorer)->WithScope(scope);
  scope->Cancel();
  std::vector<decoding::RewardItem> items = {{"q", "1", "1"}};
  EXPECT_EQ(scoped->Score(decoding::RewardSpec{"math", {}}, items).status().code(), absl::StatusCode::kCancelled);
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

TEST(RewardDeployConfig, RewardEntriesAndReferences) {
  constexpr char kYaml[] = R"(name: r
services:
  - {name: t, role: target, model_path: /m/t.gguf, grpc_port: 7001}
  - {name: rw, role: reward, model_path: /m/judge.gguf, reward_model: /m/rm.gguf, grpc_port: 7005, threads: 3, kv_budget_mb: 64}
  - {name: o, role: orchestrator, grpc_port: 7000, target: t, reward: rw}
)";
  auto c = ParseDeploymentConfig(kYaml, "r.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  const ServiceConfig* o = c->Find("o");
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(*c->ResolveAddress(o->reward), "127.0.0.1:7005");
  auto ro = RewardOptionsFromConfig(*c->Find("rw"), *c);
  ASSERT_TRUE(ro.ok()) << ro.status();
  EXPECT_EQ(ro->judge_model, "/m/judge.gguf");
  EXPECT_EQ(ro->reward_model, "/m/rm.gguf");
  EXPECT_EQ(ro->threads, 3);
  EXPECT_EQ(ro->kv_budget_bytes, size_t{64} << 20);

  // reward_model only on reward entries; `reward` must name a reward service.
  for (const char* bad : {"  - {name: x, role: target, model: m, grpc_port: 7009, reward_model: /a.gguf}\n",
                          "  - {name: x, role: orchestrator, grpc_port: 7009, target: t, reward: t}\n",
                          "  - {name: x, role: target, model: m, grpc_port: 7009, reward: rw}\n"}) {
    auto b = ParseDeploymentConfig(std::string(kYaml) + bad, "r.yaml");
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(b.status().message().find("reward"), std::string::npos) << b.status();
  }
}

}  // namespace
}  // namespace tandem::services
