// cards, best_of_n and args through the remote ports: the strategies drive a
// orchestrator::RemoteVerifier (Append / Truncate / Fork RPCs) against a real Target
// service on a synthetic model, with a scripted reward. Each must return
// exactly what it returns on the in-process ModelVerifier over the same
// model and seed (same tokens, same number of segments, rejections and
// reward calls): the code path is the same, only the ports differ.
#include <cmath>
#include <string>

#include "gtest/gtest.h"
#include "decoding/local/model_verifier.h"
#include "services/orchestrator/server/ports_factory.h"
#include "decoding/strategies/args/args.h"
#include "decoding/strategies/best_of_n/best_of_n.h"
#include "decoding/strategies/cards/cards.h"
#include "services/target/target_server.h"
#include "tests/decoding/reward_fakes.h"
#include "tests/services/orchestrator/service_fixture.h"

namespace tandem::decoding::testing {
namespace {

float Score(const std::string&, const std::string& r) {
  float h = 0;
  for (char ch : r) h = std::fmod(h * 17 + static_cast<unsigned char>(ch), 101.0f);
  return h / 100;
}

class RemoteRewardStrategiesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    services::TargetServerOptions to;
    to.service.info.set_name("fake-target");
    to.service.info.set_arch("fake");
    to.service.info.set_vocab_size(kVocab);
    to.service.info.set_context_length(4096);
    to.service.info.set_eos_token_id(0);
    to.service.is_end_of_generation = [](int32_t t) { return t == 0; };
    auto target = services::TargetServer::Start(remote_lm_, to);
    ASSERT_TRUE(target.ok()) << target.status();
    target_ = std::move(*target);
    orchestrator::server::RemotePortsOptions ro;
    ro.target_address = target_->address();
    auto ports = orchestrator::server::BuildRemotePorts(ro);
    ASSERT_TRUE(ports.ok()) << ports.status();
    ports_ = std::move(*ports);
  }

  GenerationRequest Request(uint64_t seed) {
    GenerationRequest r;
    r.prompt = {3, 5, 7, 9, 11};
    r.prompt_text = "question";
    r.max_tokens = 30;
    r.sampling.temperature = 0.8f;
    r.sampling.seed = seed;
    return r;
  }

  LockedLm remote_lm_{TargetLogits};
  std::unique_ptr<services::TargetServer> target_;
  std::unique_ptr<decoding::GenerationPorts> ports_;
};

TEST_F(RemoteRewardStrategiesTest, SameResultsAsInProcess) {
  FakeVocabulary vocab(kVocab);
  FakeLm local_lm(kVocab, TargetLogits);
  ModelVerifier local(local_lm);
  using Runner = std::function<absl::Status(Verifier&, RewardScorer&, GenerationResult*, uint64_t)>;
  CardsOptions soft;  // tau = r* = 0.6 throughout: rejections and forced fallbacks happen
  soft.r_star = 0.6;
  soft.alpha = 1;
  soft.beta = 0.2;
  soft.max_rejections = 2;
  CardsOptions hard = soft;
  hard.hard = true;
  BestOfNOptions bon;
  bon.n = 3;
  ArgsOptions args;
  args.top_k = 4;
  const std::vector<std::pair<std::string, Runner>> runs = {
      {"cards soft", [&](Verifier& v, RewardScorer& r, GenerationResult* out, uint64_t seed) {
         return RunCards(Request(seed), soft, v, r, vocab, {}, out);
       }},
      {"cards hard", [&](Verifier& v, RewardScorer& r, GenerationResult* out, uint64_t seed) {
         return RunCards(Request(seed), hard, v, r, vocab, {}, out);
       }},
      {"best_of_n", [&](Verifier& v, RewardScorer& r, GenerationResult* out, uint64_t seed) {
         return RunBestOfN(Request(seed), bon, v, r, vocab, {}, out);
       }},
      {"args", [&](Verifier& v, RewardScorer& r, GenerationResult* out, uint64_t seed) {
         return RunArgs(Request(seed), args, v, r, vocab, {}, out);
       }}};
  int64_t rejected = 0, forced = 0;
  for (const auto& [name, run] : runs) {
    for (uint64_t seed : {1, 2, 3}) {
      ScriptedReward local_reward(Score), remote_reward(Score);
      GenerationResult a, b;
      ASSERT_TRUE(run(local, local_reward, &a, seed).ok()) << name;
      absl::Status s = run(*ports_->verifier, remote_reward, &b, seed);
      ASSERT_TRUE(s.ok()) << name << ": " << s;
      EXPECT_EQ(a.tokens, b.tokens) << name << " seed " << seed;
      EXPECT_EQ(a.stats.target_calls, b.stats.target_calls) << name;
      EXPECT_EQ(a.stats.cards.rejections_per_segment, b.stats.cards.rejections_per_segment) << name;
      EXPECT_EQ(local_reward.calls, remote_reward.calls) << name;
      EXPECT_EQ(a.stats.reward.final_reward.value_or(NAN), b.stats.reward.final_reward) << name;
      rejected += b.stats.cards.segments_rejected;
      forced += b.stats.cards.segments_forced;
    }
  }
  EXPECT_GT(rejected, 0);  // Truncate crossed the wire
  EXPECT_GT(forced, 0);    // and so did a fallback's re-append
}

}  // namespace
}  // namespace tandem::decoding::testing
