// RSD on the real SmolLM2-135M-Instruct through the in-process wiring (the
// batching model, the model drafter sharing the target's weights, the real
// LLM-judge PRM of services/reward). With the draft and the target the same
// model, greedy RSD must return the target-only text whatever the PRM
// decides: every kept draft step, every step the target rewrote, and the
// session surgery between them (lazy target open, Append of kept steps, the
// draft's truncate_to + append) must leave both sessions exactly on the
// committed text. δ = 0 must also be exactly draft_only, and δ = 1.01 must
// have the target write every step.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <vector>
#include <string>

#include "gtest/gtest.h"
#include "services/orchestrator/server/inprocess_ports.h"
#include "decoding/request/prompt_encoding.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/registry/strategy_runner.h"
#include "tests/common/test_paths.h"

namespace tandem::decoding {
namespace {

std::string ModelPath(const std::string& file) { return test_paths::ModelDir() + "/" + file; }

class RsdModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    orchestrator::server::InProcessPortsOptions o;
    o.target_model = ModelPath("smollm2-135m.gguf");
    o.draft_model = o.target_model;  // shares the target's weights and batcher
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

  GenerationResult Run(const std::string& strategy, std::map<std::string, std::string> params) {
    auto choice = decoding::PrepareStrategy(strategy, params);
    EXPECT_TRUE(choice.ok()) << choice.status();
    absl::Status s;
    const std::string question =
        "Tom has 3 apples and buys 5 more. Then he gives 2 to Ann. How many apples does he have?";
    GenerationRequest request;
    auto ids = decoding::EncodeChat(*ports_->tokenizer,
                                  {{"user", "Solve step by step, one step per paragraph.\n\n" + question}}, "q");
    EXPECT_TRUE(ids.ok()) << ids.status();
    request.prompt = *ids;
    request.prompt_text = question;
    request.max_tokens = 64;
    request.sampling.temperature = 0;
    GenerationResult result;
    s = decoding::RunStrategy(*choice, request, *ports_, /*ignore_eos=*/false, {}, &result);
    EXPECT_TRUE(s.ok()) << strategy << ": " << s;
    return result;
  }

  static decoding::GenerationPorts* ports_;
};

decoding::GenerationPorts* RsdModelTest::ports_ = nullptr;

TEST_F(RsdModelTest, SameModelRsdEqualsTargetOnlyAndDeltaEndsAreExact) {
  ASSERT_NE(ports_, nullptr);
  const GenerationResult target = Run("target_only", {});
  ASSERT_GT(target.tokens.size(), 10u);
  // SmolLM2 writes one step per line here; "\n" (given escaped, as on a
  // command line) is the delimiter so that 64 tokens make several steps.
  const GenerationResult draft = Run("draft_only", {});
  EXPECT_EQ(draft.tokens, target.tokens);  // same model

  const GenerationResult all_kept = Run("rsd", {{"delta", "0"}, {"delimiter", "\\n"}});
  EXPECT_EQ(all_kept.tokens, draft.tokens);
  EXPECT_EQ(all_kept.stats.rsd.steps_target, 0);
  EXPECT_GT(all_kept.stats.rsd.steps, 1);  // the answer has several paragraphs
  EXPECT_GT(all_kept.stats.flops.draft, 0);
  EXPECT_EQ(all_kept.stats.flops.target, 0);  // the target was never opened

  const GenerationResult all_target = Run("rsd", {{"delta", "1.01"}, {"delimiter", "\\n"}});
  EXPECT_EQ(all_target.tokens, target.tokens);
  EXPECT_EQ(all_target.stats.rsd.steps_target, all_target.stats.rsd.steps);
  EXPECT_DOUBLE_EQ(all_target.stats.rsd.target_step_fraction, 1.0);

  // A threshold inside the judge's range mixes kept and rewritten steps.
  // The same steps get the same rewards in every run (same model, same text),
  // so a threshold between two of them keeps some steps and rewrites others.
  std::vector<double> rewards = all_kept.stats.rsd.step_rewards;
  std::sort(rewards.begin(), rewards.end());
  double delta = -1;
  for (size_t i = rewards.size() / 2; i < rewards.size() && delta < 0; ++i) {
    if (i > 0 && rewards[i] - rewards[i - 1] > 1e-4) delta = (rewards[i] + rewards[i - 1]) / 2;
  }
  ASSERT_GE(delta, 0) << "the judge gave all steps the same reward";
  const GenerationResult mixed = Run("rsd", {{"delta", std::to_string(delta)}, {"delimiter", "\\n"}});
  EXPECT_EQ(mixed.tokens, target.tokens);
  EXPECT_EQ(mixed.text, target.text);
  EXPECT_GT(mixed.stats.rsd.steps_accepted, 0);
  EXPECT_GT(mixed.stats.rsd.steps_target, 0);
  for (double r : mixed.stats.rsd.step_rewards) {
    EXPECT_GE(r, 0.0);
    EXPECT_LE(r, 1.0);
  }
}

}  // namespace
}  // namespace tandem::decoding
