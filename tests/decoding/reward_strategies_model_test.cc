// cards, best_of_n and args on SmolLM2-135M through the in-process ports
// (the all-in-one wiring's verifier and services/reward's registry): hard
// CARDS with r* = -inf samples exactly what the top-k sampler alone samples
// from the real model's full logits rows, and the three strategies report the
// reward their returned text gets from the same backend (keyword and judge).
#include <cmath>
#include <limits>

#include "gtest/gtest.h"
#include "runtime/sampling/sampler.h"
#include "services/orchestrator/server/inprocess_ports.h"
#include "decoding/request/prompt_encoding.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/registry/strategy_runner.h"
#include "decoding/strategies/reward_guided/reward_guided.h"
#include "tests/services/draft_target/dt_test_util.h"

namespace tandem::decoding {
namespace {

constexpr char kQuestion[] = "What will happen if I drive my car into the water?";

class RewardStrategiesModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    orchestrator::server::InProcessPortsOptions o;
    o.target_model = dt_test::RealModelPath("smollm2-135m");
    o.reward_judge_model = o.target_model;
    o.threads = 2;
    auto ports = orchestrator::server::BuildInProcessPorts(o);
    ASSERT_TRUE(ports.ok()) << ports.status();
    ports_ = std::move(*ports).release();
  }
  static void TearDownTestSuite() {
    delete ports_;
    ports_ = nullptr;
  }

  GenerationRequest Request(int max_tokens, uint64_t seed) {
    GenerationRequest r;
    auto ids = decoding::EncodeChat(*ports_->tokenizer, {{"user", kQuestion}}, "messages");
    EXPECT_TRUE(ids.ok());
    r.prompt = *ids;
    r.prompt_text = kQuestion;
    r.max_tokens = max_tokens;
    r.sampling.temperature = 0.7f;
    r.sampling.seed = seed;
    return r;
  }

  GenerationResult Run(const std::string& strategy, const std::map<std::string, std::string>& params,
                       const GenerationRequest& request) {
    auto choice = decoding::PrepareStrategy(strategy, params);
    EXPECT_TRUE(choice.ok()) << choice.status();
    GenerationResult result;
    absl::Status s = decoding::RunStrategy(*choice, request, *ports_, false, {}, &result);
    EXPECT_TRUE(s.ok()) << strategy << ": " << s;
    return result;
  }

  float Rescore(const RewardSpec& spec, const GenerationResult& result) {
    RewardItem item{kQuestion, result.text, ""};
    auto r = ports_->reward->Score(spec, {&item, 1});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? (*r)[0] : std::nanf("");
  }

  static decoding::GenerationPorts* ports_;
};

decoding::GenerationPorts* RewardStrategiesModelTest::ports_ = nullptr;

TEST_F(RewardStrategiesModelTest, HardCardsWithMinusInfinityIsTheTopKSamplerOnRealLogits) {
  const GenerationRequest request = Request(40, 3);
  GenerationResult cards = Run("cards", {{"acceptance", "hard"}, {"r_star", "-inf"}, {"reward", "keyword"},
                                         {"reward_options", "required=water"}},
                               request);
  // The reference: full logits rows from the same verifier (top_k = the
  // whole vocabulary), Sampler{0.7, top_k 40}, the proposal stream.
  const int32_t vocab = ports_->vocabulary->vocab_size();
  auto session = ports_->verifier->Open(request.prompt, request.sampling, {});
  ASSERT_TRUE(session.ok());
  runtime::SamplingParams p;
  p.temperature = 0.7f;
  p.top_k = 40;
  runtime::Sampler sampler(p);
  runtime::Rng rng = runtime::Rng(request.sampling.seed).Split(kProposalRngStream);
  std::vector<int32_t> expected, feed;
  std::vector<float> row(vocab);
  runtime::Distribution d;
  while (static_cast<int>(expected.size()) < request.max_tokens) {
    NextTokenInfo info;
    ASSERT_TRUE((*session)->Append(feed, vocab, &info).ok());
    ASSERT_EQ(static_cast<int32_t>(info.top_tokens.size()), vocab);
    for (int32_t i = 0; i < vocab; ++i) row[info.top_tokens[i]] = info.top_logits[i];
    ASSERT_TRUE(sampler.Process(row, {}, &d).ok());
    const int32_t t = runtime::Sampler::Sample(d, rng);
    if (ports_->vocabulary->IsEndOfGeneration(t)) break;
    expected.push_back(t);
    feed = {t};
  }
  EXPECT_EQ(cards.tokens, expected);
  EXPECT_EQ(cards.stats.cards.segments_rejected, 0);
  EXPECT_GT(cards.stats.cards.segments_accepted, 1);
}

TEST_F(RewardStrategiesModelTest, EachStrategyReportsTheRewardOfItsText) {
  const GenerationRequest request = Request(24, 5);
  const std::map<std::string, std::string> keyword = {{"reward", "keyword"},
                                                      {"reward_options", "required=water,car,safe"}};
  RewardSpec spec{"keyword", {{"required", "water,car,safe"}}};
  auto with = [&](std::map<std::string, std::string> extra) {
    extra.insert(keyword.begin(), keyword.end());
    return extra;
  };
  GenerationResult cards = Run("cards", with({{"r_star", "0.9"}, {"max_rejections", "3"}}), request);
  GenerationResult bon = Run("best_of_n", with({{"n", "3"}}), request);
  GenerationResult args = Run("args", with({{"top_k", "4"}}), request);
  for (const GenerationResult* r : {&cards, &bon, &args}) {
    ASSERT_TRUE(r->stats.reward.final_reward.has_value()) << r->stats.strategy;
    EXPECT_FLOAT_EQ(static_cast<float>(r->stats.reward.final_reward.value_or(NAN)), Rescore(spec, *r)) << r->stats.strategy;
    EXPECT_FALSE(r->text.empty()) << r->stats.strategy;
  }
  EXPECT_EQ(cards.stats.cards.segments_accepted, static_cast<int64_t>(cards.stats.cards.rejections_per_segment.size()));
  EXPECT_EQ(cards.stats.cards.segments_proposed, cards.stats.cards.segments_accepted + cards.stats.cards.segments_rejected);
  EXPECT_EQ(bon.stats.reward.calls, 1);
  EXPECT_EQ(bon.stats.reward.items, 3);
  EXPECT_EQ(args.stats.reward.items, 4 * args.stats.reward.calls);
}

TEST_F(RewardStrategiesModelTest, CardsWithTheJudgeBackend) {
  GenerationResult cards = Run("cards", {{"r_star", "0.5"}, {"max_rejections", "2"}}, Request(16, 7));
  ASSERT_TRUE(cards.stats.reward.final_reward.has_value());
  EXPECT_GE(cards.stats.reward.final_reward.value_or(NAN), 0.0);
  EXPECT_LE(cards.stats.reward.final_reward.value_or(NAN), 1.0);
  EXPECT_GE(cards.stats.cards.segments_accepted, 1);
  EXPECT_EQ(cards.stats.reward.calls, 1 + cards.stats.cards.segments_proposed);  // R(x) + one per candidate
  EXPECT_NEAR(cards.stats.reward.final_reward.value_or(NAN), Rescore({}, cards), 1e-4);
}

}  // namespace
}  // namespace tandem::decoding
