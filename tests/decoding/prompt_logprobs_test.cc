// Prompt logprobs (GenerationRequest::prompt_logprobs, OpenAI completions'
// echo): each prompt token after the first scored under the target's raw
// row, with its alternatives, in the pass that prefills the prompt
// (generation/open_target.h); the generation itself unchanged by asking;
// speculative and target-only agreeing; the scores on the first streamed
// chunk, even when no token follows; refused without logprobs. Synthetic
// models, no network.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "decoding/generation/output.h"
#include "decoding/request/request_translation.h"
#include "decoding/strategies/speculative/speculative.h"
#include "decoding/strategies/target_only/target_only.h"
#include "tests/decoding/model_pair.h"

namespace tandem::decoding {
namespace {

using testing::ModelPair;

// log p(token | ctx) under the target, in double from the raw row.
double TargetLogProb(std::span<const int32_t> ctx, int32_t token) {
  std::vector<float> row(ModelPair::kVocab);
  testing::TargetLogits(ctx, row);
  double m = -std::numeric_limits<double>::infinity();
  for (float x : row) m = std::max(m, static_cast<double>(x));
  double z = 0;
  for (float x : row) z += std::exp(static_cast<double>(x) - m);
  return row[token] - m - std::log(z);
}

GenerationRequest Request(std::vector<int32_t> prompt, bool prompt_logprobs) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0;
  r.max_tokens = 6;
  r.logprobs = true;
  r.top_logprobs = 3;
  r.prompt_logprobs = prompt_logprobs;
  return r;
}

TEST(PromptLogprobs, EachPromptTokenScoredAfterTheOnesBeforeIt) {
  ModelPair m;
  const std::vector<int32_t> prompt = {3, 5, 7, 2, 6, 1, 4};
  GenerationResult r;
  ASSERT_TRUE(RunTargetOnly(Request(prompt, true), m.verifier, m.vocab, nullptr, &r).ok());
  ASSERT_EQ(r.prompt_logprobs.size(), prompt.size() - 1);
  ASSERT_EQ(r.prompt_top_logprobs.size(), prompt.size() - 1);
  for (size_t i = 1; i < prompt.size(); ++i) {
    const std::span<const int32_t> before(prompt.data(), i);
    EXPECT_NEAR(r.prompt_logprobs[i - 1], TargetLogProb(before, prompt[i]), 1e-5) << i;
    const auto& top = r.prompt_top_logprobs[i - 1];
    ASSERT_EQ(top.size(), 3u) << i;
    for (size_t a = 0; a < top.size(); ++a) {
      EXPECT_NEAR(top[a].logprob, TargetLogProb(before, top[a].token), 1e-5) << i;
      if (a > 0) {
        EXPECT_GE(top[a - 1].logprob, top[a].logprob) << i;
      }
    }
    // The best alternative is the likeliest token: no token beats it.
    for (int32_t t = 0; t < ModelPair::kVocab; ++t) {
      EXPECT_LE(TargetLogProb(before, t), top[0].logprob + 1e-5) << i;
    }
  }
}

TEST(PromptLogprobs, GenerationIsTheSameWithOrWithoutThem) {
  ModelPair m;
  const std::vector<int32_t> prompt = {3, 5, 7, 2};
  GenerationResult plain, scored;
  ASSERT_TRUE(RunTargetOnly(Request(prompt, false), m.verifier, m.vocab, nullptr, &plain).ok());
  ASSERT_TRUE(RunTargetOnly(Request(prompt, true), m.verifier, m.vocab, nullptr, &scored).ok());
  EXPECT_TRUE(plain.prompt_logprobs.empty());
  EXPECT_EQ(scored.tokens, plain.tokens);
  EXPECT_EQ(scored.logprobs, plain.logprobs);
  EXPECT_EQ(scored.top_logprobs, plain.top_logprobs);
  EXPECT_EQ(scored.finish_reason, plain.finish_reason);
  // Teacher forcing the generated tokens back in scores them as generation did.
  std::vector<int32_t> extended = prompt;
  extended.insert(extended.end(), plain.tokens.begin(), plain.tokens.end());
  GenerationResult again;
  ASSERT_TRUE(RunTargetOnly(Request(extended, true), m.verifier, m.vocab, nullptr, &again).ok());
  ASSERT_EQ(again.prompt_logprobs.size(), extended.size() - 1);
  for (size_t i = 0; i < plain.tokens.size(); ++i) {
    EXPECT_EQ(again.prompt_logprobs[prompt.size() - 1 + i], plain.logprobs[i]) << i;
    EXPECT_EQ(again.prompt_top_logprobs[prompt.size() - 1 + i], plain.top_logprobs[i]) << i;
  }
}

TEST(PromptLogprobs, SpeculativeReportsWhatTargetOnlyDoes) {
  ModelPair m;
  const std::vector<int32_t> prompt = {4, 1, 6, 3, 5};
  GenerationResult base, spec;
  GenerationRequest request = Request(prompt, true);
  request.gamma.gamma = 3;
  ASSERT_TRUE(RunTargetOnly(request, m.verifier, m.vocab, nullptr, &base).ok());
  ASSERT_TRUE(RunSpeculative(request, m.drafter, m.verifier, m.vocab, nullptr, &spec).ok());
  EXPECT_EQ(spec.prompt_logprobs, base.prompt_logprobs);
  EXPECT_EQ(spec.prompt_top_logprobs, base.prompt_top_logprobs);
  EXPECT_EQ(spec.tokens, base.tokens);
  EXPECT_EQ(spec.logprobs, base.logprobs);
}

// A prompt whose greedy continuation is the end-of-generation token at once.
std::vector<int32_t> PromptEndingAtOnce() {
  for (int32_t a = 1; a < ModelPair::kVocab; ++a) {
    for (int32_t b = 1; b < ModelPair::kVocab; ++b) {
      const std::vector<int32_t> p = {a, b, a};
      std::vector<float> row(ModelPair::kVocab);
      testing::TargetLogits(p, row);
      if (std::max_element(row.begin(), row.end()) == row.begin()) return p;
    }
  }
  return {};
}

TEST(PromptLogprobs, TheFirstChunkCarriesThemEvenWithoutATokenAfter) {
  ModelPair m;
  for (const std::vector<int32_t>& prompt : {std::vector<int32_t>{3, 5, 7, 2}, PromptEndingAtOnce()}) {
    ASSERT_FALSE(prompt.empty()) << "no prompt of the synthetic target ends at once";
    std::vector<std::vector<float>> chunk_scores;
    std::vector<size_t> chunk_tokens;
    const StreamCallback record = [&](const StreamChunk& c) {
      chunk_scores.emplace_back(c.prompt_logprobs.begin(), c.prompt_logprobs.end());
      chunk_tokens.push_back(c.tokens.size());
      return absl::OkStatus();
    };
    GenerationResult r;
    ASSERT_TRUE(RunTargetOnly(Request(prompt, true), m.verifier, m.vocab, record, &r).ok());
    ASSERT_FALSE(chunk_scores.empty());
    EXPECT_EQ(chunk_scores[0], r.prompt_logprobs);
    EXPECT_EQ(chunk_scores[0].size(), prompt.size() - 1);
    for (size_t i = 1; i < chunk_scores.size(); ++i) EXPECT_TRUE(chunk_scores[i].empty()) << i;
    if (prompt == PromptEndingAtOnce()) {
      EXPECT_TRUE(r.tokens.empty());
      EXPECT_EQ(chunk_tokens, std::vector<size_t>{0});  // one chunk, the scores alone
    }
  }
}

// max_tokens 0 with prompt logprobs: the prompt scored, nothing generated
// (OpenAI's legacy echo with max_tokens 0); without them refused.
TEST(PromptLogprobs, MaxTokensZeroScoresThePromptAlone) {
  ModelPair m;
  const std::vector<int32_t> prompt = {3, 5, 7, 2, 6};
  GenerationResult generating;
  ASSERT_TRUE(RunTargetOnly(Request(prompt, true), m.verifier, m.vocab, nullptr, &generating).ok());
  GenerationRequest request = Request(prompt, true);
  request.max_tokens = 0;
  for (bool speculative : {false, true}) {
    std::vector<size_t> chunk_tokens;
    const StreamCallback record = [&](const StreamChunk& c) {
      chunk_tokens.push_back(c.tokens.size());
      return absl::OkStatus();
    };
    GenerationResult r;
    absl::Status s = speculative ? RunSpeculative(request, m.drafter, m.verifier, m.vocab, record, &r)
                                 : RunTargetOnly(request, m.verifier, m.vocab, record, &r);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_TRUE(r.tokens.empty()) << speculative;
    EXPECT_EQ(r.finish_reason, FinishReason::kLength);
    EXPECT_EQ(r.prompt_logprobs, generating.prompt_logprobs);
    EXPECT_EQ(r.prompt_top_logprobs, generating.prompt_top_logprobs);
    EXPECT_EQ(chunk_tokens, std::vector<size_t>{0});  // the scores' chunk alone
  }
  request.prompt_logprobs = false;
  GenerationResult r;
  EXPECT_EQ(RunTargetOnly(request, m.verifier, m.vocab, nullptr, &r).code(), absl::StatusCode::kInvalidArgument);
}

TEST(PromptLogprobs, AOneTokenPromptHasNothingToScore) {
  ModelPair m;
  GenerationResult r;
  ASSERT_TRUE(RunTargetOnly(Request({5}, true), m.verifier, m.vocab, nullptr, &r).ok());
  EXPECT_TRUE(r.prompt_logprobs.empty());
  EXPECT_FALSE(r.tokens.empty());
}

TEST(PromptLogprobs, NeedLogprobs) {
  ModelPair m;
  GenerationRequest request = Request({3, 5, 7}, true);
  request.logprobs = false;
  request.top_logprobs = 0;
  GenerationResult r;
  EXPECT_EQ(RunTargetOnly(request, m.verifier, m.vocab, nullptr, &r).code(), absl::StatusCode::kInvalidArgument);
  DecodeRequest decode;
  decode.prompt_tokens = std::vector<int32_t>{3, 5, 7};
  decode.prompt_logprobs = true;
  auto resolved = ResolveStrategy(decode, "target_only");
  ASSERT_EQ(resolved.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(resolved.status().message(), "prompt_logprobs:")) << resolved.status();
}

}  // namespace
}  // namespace tandem::decoding
