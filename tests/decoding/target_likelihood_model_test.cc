// The target-likelihood process reward on a real model engine: a tiny random
// llama GGUF (tests/tools/make_tiny_model.py). The score the verifier session
// gives a step (one forward over the step, the prompt's KV reused) equals
// exp(mean log p) computed here from the logits of one fresh forward over
// prompt + step, and the tokens the model finds most likely score above the
// ones it finds least likely.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/model/model.h"
#include "decoding/local/model_verifier.h"
#include "decoding/local/runtime_language_model.h"
#include "decoding/strategies/reward_guided/target_likelihood.h"
#include "tests/common/scratch.h"
#include "tests/common/test_paths.h"

namespace tandem::decoding {
namespace {

const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new test_scratch::ScratchCleanup);

class TinyModel : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = test_scratch::ScratchDir() + "/tiny_llama_tl.gguf";
    const std::string cmd = test_paths::PythonPath() + " " + test_paths::ToolPath("make_tiny_model.py") +
                            " --arch llama --out " + path + " > /dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    auto model = runtime::Model::Load(path, {.n_threads = 1, .kv_budget_bytes = 64u << 20});
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::move(*model);
    vocab_ = model_->config().vocab_size;
  }

  // All logits of prompt + tokens from one fresh forward.
  std::vector<float> Logits(const std::vector<int32_t>& sequence) {
    auto session = model_->NewSession();
    EXPECT_TRUE(session.ok());
    std::vector<float> logits;
    runtime::ForwardItem item{session->get(), sequence, true, &logits};
    EXPECT_TRUE(model_->Forward(std::span<runtime::ForwardItem>(&item, 1)).ok());
    EXPECT_EQ(logits.size(), sequence.size() * static_cast<size_t>(vocab_));
    return logits;
  }

  // exp(mean over the step of log softmax(row)[token]) from direct logits.
  double Expected(const std::vector<int32_t>& prompt, const std::vector<int32_t>& step) {
    std::vector<int32_t> seq = prompt;
    seq.insert(seq.end(), step.begin(), step.end());
    const std::vector<float> logits = Logits(seq);
    double sum = 0;
    for (size_t i = 0; i < step.size(); ++i) {
      const float* row = logits.data() + (prompt.size() - 1 + i) * vocab_;
      const double m = *std::max_element(row, row + vocab_);
      double z = 0;
      for (int v = 0; v < vocab_; ++v) z += std::exp(row[v] - m);
      sum += row[step[i]] - m - std::log(z);
    }
    return std::exp(sum / static_cast<double>(step.size()));
  }

  // The step the model finds most (or least) likely, greedily token by token.
  std::vector<int32_t> Extreme(const std::vector<int32_t>& prompt, int n, bool most) {
    std::vector<int32_t> seq = prompt, step;
    for (int i = 0; i < n; ++i) {
      const std::vector<float> logits = Logits(seq);
      const float* row = logits.data() + (seq.size() - 1) * vocab_;
      const int32_t t = static_cast<int32_t>((most ? std::max_element(row, row + vocab_)
                                                   : std::min_element(row, row + vocab_)) - row);
      step.push_back(t);
      seq.push_back(t);
    }
    return step;
  }

  std::unique_ptr<runtime::Model> model_;
  int vocab_ = 0;
};

TEST_F(TinyModel, ScoreEqualsExpMeanLogProbFromTheTargetsLogits) {
  RuntimeLanguageModel lm(*model_);
  ModelVerifier verifier(lm);
  const std::vector<int32_t> prompt = {1, 17, 42, 5, 99};
  const std::vector<int32_t> step1 = {7, 3, 64, 12}, step2 = {88, 2, 31};
  runtime::SamplingParams params;  // the request's sampling does not enter the score
  params.temperature = 0.5f;
  auto session = verifier.Open(prompt, params, {});
  ASSERT_TRUE(session.ok()) << session.status();
  spec::RequestStats stats;
  auto r1 = AppendTargetLikelihood(**session, step1, &stats);
  ASSERT_TRUE(r1.ok()) << r1.status();
  // Step 2 given prompt + step 1, from the session's cached prefix.
  auto r2 = AppendTargetLikelihood(**session, step2, &stats);
  ASSERT_TRUE(r2.ok()) << r2.status();
  std::vector<int32_t> prefix = prompt;
  prefix.insert(prefix.end(), step1.begin(), step1.end());
  const double e1 = Expected(prompt, step1), e2 = Expected(prefix, step2);
  EXPECT_NEAR(*r1, e1, 1e-4 * e1);
  EXPECT_NEAR(*r2, e2, 1e-4 * e2);
  EXPECT_EQ((*session)->committed_length(), static_cast<int64_t>(prompt.size() + step1.size() + step2.size()));
}

TEST_F(TinyModel, LikelyStepsScoreAboveUnlikelyOnes) {
  RuntimeLanguageModel lm(*model_);
  ModelVerifier verifier(lm);
  const std::vector<int32_t> prompt = {1, 250, 13, 77};
  const std::vector<int32_t> likely = Extreme(prompt, 5, true), unlikely = Extreme(prompt, 5, false);
  auto session = verifier.Open(prompt, {}, {});
  ASSERT_TRUE(session.ok());
  spec::RequestStats stats;
  auto hi = AppendTargetLikelihood(**session, likely, &stats);
  ASSERT_TRUE(hi.ok());
  ASSERT_TRUE((*session)->Truncate(static_cast<int64_t>(prompt.size())).ok());
  auto lo = AppendTargetLikelihood(**session, unlikely, &stats);
  ASSERT_TRUE(lo.ok());
  EXPECT_GT(*hi, *lo);
  EXPECT_NEAR(*lo, Expected(prompt, unlikely), 1e-4 * Expected(prompt, unlikely));
}

}  // namespace
}  // namespace tandem::decoding
