// CARDS, best_of_n and ARGS against a table verifier and a scripted reward
// (tests/decoding/reward_fakes.h): the reference-sampler equivalence of
// hard CARDS with r* = -inf, segmentation boundaries, the threshold ramp,
// the best-of fallback, rollback to the accepted prefix, calibration, and
// the baselines' choices.
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <set>

#include "gtest/gtest.h"
#include "runtime/sampling/sampler.h"
#include "decoding/local/model_verifier.h"
#include "decoding/strategies/args/args.h"
#include "decoding/strategies/best_of_n/best_of_n.h"
#include "decoding/strategies/cards/cards.h"
#include "decoding/strategies/reward_guided/reward_guided.h"
#include "tests/decoding/fake_lm.h"
#include "tests/decoding/reward_fakes.h"

namespace tandem::decoding {
namespace {

using testing::FakeVocabulary;
using testing::ScriptedReward;
using testing::TableVerifier;

constexpr int32_t kVocab = 32;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
const std::vector<int32_t> kPrompt = {3, 7, 11};

// Low entropy (about 1 nat) everywhere except at the response positions in
// `high`, where the row is flat over the 31 non-EOS tokens (ln 31 = 3.43 nats).
// EOS (0) is never likely.
testing::TableLogitsFn SegmentedLogits(std::set<size_t> high) {
  return [high](std::span<const int32_t> ctx, std::span<float> out) {
    const size_t rel = ctx.size() - kPrompt.size();
    for (size_t v = 0; v < out.size(); ++v) out[v] = high.count(rel) ? 0.0f : -5.0f;
    out[0] = -30.0f;
    if (!high.count(rel)) {
      const int a = 1 + static_cast<int>((ctx.size() * 7 + ctx.back()) % 31);
      out[a] = 2.0f;
      out[1 + a % 31] = 1.5f;
      out[1 + (a + 5) % 31] = 1.0f;
    }
  };
}

GenerationRequest Request(int max_tokens, uint64_t seed = 1) {
  GenerationRequest r;
  r.prompt = kPrompt;
  r.prompt_text = "question";
  r.max_tokens = max_tokens;
  r.sampling.seed = seed;
  return r;
}

// The plain sampler: Sampler{temperature, top_k} on every full row, one draw
// per token from the proposal stream, until EOS or max_tokens.
std::vector<int32_t> ReferenceTopK(const testing::TableLogitsFn& fn, const GenerationRequest& r, float temperature,
                                   int top_k) {
  runtime::SamplingParams p;
  p.temperature = temperature;
  p.top_k = top_k;
  runtime::Sampler sampler(p);
  runtime::Rng rng = runtime::Rng(r.sampling.seed).Split(kProposalRngStream);
  std::vector<int32_t> ctx = r.prompt, out;
  std::vector<float> row;
  runtime::Distribution d;
  while (static_cast<int>(out.size()) < r.max_tokens) {
    row.assign(kVocab, 0.0f);
    fn(ctx, row);
    EXPECT_TRUE(sampler.Process(row, {}, &d).ok());
    const int32_t t = runtime::Sampler::Sample(d, rng);
    if (t == 0) break;
    out.push_back(t);
    ctx.push_back(t);
  }
  return out;
}

// Response lengths (one letter per token) of every scored candidate, in order.
std::vector<size_t> ScoredLengths(const ScriptedReward& reward) {
  std::vector<size_t> lengths;
  for (const auto& call : reward.calls) {
    for (const std::string& r : call) lengths.push_back(r.size());
  }
  return lengths;
}

TEST(CardsTest, HardWithMinusInfinityIsPlainTopKSampling) {
  struct Case {
    testing::TableLogitsFn fn;
    int top_k;
  };
  const Case cases[] = {{testing::TargetLogits, 40}, {testing::TargetLogits, 5},
                        {SegmentedLogits({6, 7, 20, 31}), 3}, {SegmentedLogits({}), 40}};
  FakeVocabulary vocab(kVocab);
  for (const Case& c : cases) {
    for (uint64_t seed : {1, 2, 3, 99}) {
      TableVerifier verifier(kVocab, c.fn);
      ScriptedReward reward([](const std::string&, const std::string& r) { return -static_cast<float>(r.size()); });
      CardsOptions o;
      o.hard = true;
      o.r_star = kNegInf;
      o.top_k = c.top_k;
      GenerationResult result;
      GenerationRequest request = Request(48, seed);
      ASSERT_TRUE(RunCards(request, o, verifier, reward, vocab, {}, &result).ok());
      EXPECT_EQ(result.tokens, ReferenceTopK(c.fn, request, 0.7f, c.top_k)) << "seed " << seed;
      EXPECT_EQ(result.stats.cards.segments_rejected, 0);
      EXPECT_EQ(result.stats.cards.segments_accepted, result.stats.cards.segments_proposed);
      EXPECT_EQ(result.stats.reward.calls, result.stats.cards.segments_proposed);  // no R(x) with r* = -inf
    }
  }
}

TEST(CardsTest, SegmentsEndBeforeTheHighEntropyTokenWithinMinAndMaxLength) {
  FakeVocabulary vocab(kVocab);
  // Response positions 2, 9, 10, 11 are high entropy but inside the minimum
  // length; 30 ends a segment (the token at 30 starts the next one).
  TableVerifier verifier(kVocab, SegmentedLogits({2, 9, 10, 11, 30}));
  ScriptedReward reward([](const std::string&, const std::string&) { return 0.0f; });
  CardsOptions o;
  o.hard = true;
  o.r_star = kNegInf;
  o.min_segment = 4;
  o.max_segment = 8;
  GenerationResult result;
  ASSERT_TRUE(RunCards(Request(40), o, verifier, reward, vocab, {}, &result).ok());
  EXPECT_EQ(ScoredLengths(reward), (std::vector<size_t>{8, 16, 24, 30, 38, 40}));
  EXPECT_EQ(result.tokens.size(), 40u);
  EXPECT_EQ(result.finish_reason, FinishReason::kLength);

  // A high-entropy run right at the start: the first segment has exactly
  // min_segment tokens.
  TableVerifier early(kVocab, SegmentedLogits({1, 2, 3, 4}));
  ScriptedReward reward2([](const std::string&, const std::string&) { return 0.0f; });
  ASSERT_TRUE(RunCards(Request(12), o, early, reward2, vocab, {}, &result).ok());
  EXPECT_EQ(ScoredLengths(reward2), (std::vector<size_t>{4, 12}));
}

TEST(CardsTest, ThresholdRampAndInitialReward) {
  EXPECT_DOUBLE_EQ(CardsThreshold(0, 10, 0, 100), 0);
  EXPECT_DOUBLE_EQ(CardsThreshold(0, 10, 50, 100), 5);
  EXPECT_DOUBLE_EQ(CardsThreshold(2, 10, 25, 100), 4);
  EXPECT_DOUBLE_EQ(CardsThreshold(0, 10, 150, 100), 10);  // capped at r*
  EXPECT_EQ(CardsThreshold(kNegInf, kNegInf, 5, 100), kNegInf);
  EXPECT_DOUBLE_EQ(CardsInitialReward(2, 10, 0.5), 6);
  EXPECT_DOUBLE_EQ(CardsInitialReward(2, 10, 0), 2);
  EXPECT_DOUBLE_EQ(CardsInitialReward(2, kNegInf, 0), 2);  // no 0 * inf
  EXPECT_EQ(CardsInitialReward(2, kNegInf, 0.5), kNegInf);
  EXPECT_DOUBLE_EQ(Quantile({3, 1, 2}, 0.5), 2);
  EXPECT_DOUBLE_EQ(Quantile({1, 2}, 0.25), 1.25);
  EXPECT_DOUBLE_EQ(Quantile({4}, 0.9), 4);
}

TEST(CardsTest, RampAcceptsEarlySegmentsAndFallsBackAfterMaxRejections) {
  FakeVocabulary vocab(kVocab);
  TableVerifier verifier(kVocab, SegmentedLogits({2, 9, 10, 11, 30}));
  // R(x) = 55 (empty response), r = 75 + |y + c|; r* = 105, alpha = 0.5:
  // r0 = 80, tau(L) = 80 + L * 25 / 40 (L_max = 40). Hard acceptance:
  // 75 + L >= 80 + 0.625 L  <=>  L >= 13.3.
  ScriptedReward reward([](const std::string&, const std::string& r) { return 75.0f + r.size() - (r.empty() ? 20 : 0); });
  CardsOptions o;
  o.hard = true;
  o.r_star = 105;
  o.alpha = 0.5;
  o.min_segment = 4;
  o.max_segment = 8;
  GenerationResult result;
  ASSERT_TRUE(RunCards(Request(40), o, verifier, reward, vocab, {}, &result).ok());
  // Segments end at 8, 16, 24, 30, 38, 40: the first (L = 8) is rejected 20
  // times and forced; the others pass at once.
  EXPECT_EQ(result.stats.cards.rejections_per_segment, (std::vector<int64_t>{20, 0, 0, 0, 0, 0}));
  EXPECT_EQ(result.stats.cards.segments_forced, 1);
  EXPECT_EQ(result.stats.cards.segments_rejected, 20);
  EXPECT_EQ(result.stats.cards.segments_proposed, 26);
  EXPECT_EQ(result.stats.reward.calls, 27);  // R(x) + one per candidate
  EXPECT_EQ(result.tokens.size(), 40u);
  EXPECT_DOUBLE_EQ(result.stats.reward.final_reward.value_or(NAN), 115);
}

TEST(CardsTest, FallbackTakesTheBestCandidateAndTheSessionHoldsIt) {
  FakeVocabulary vocab(kVocab);
  TableVerifier verifier(kVocab, SegmentedLogits({}));
  // Nothing reaches r*: every segment is the best of 1 + max_rejections.
  auto score = [](const std::string&, const std::string& r) {
    float h = 0;
    for (char ch : r) h = std::fmod(h * 31 + ch, 997.0f);
    return h;
  };
  ScriptedReward reward(score);
  CardsOptions o;
  o.hard = true;
  o.r_star = 5000;
  o.min_segment = 4;
  o.max_segment = 4;
  o.max_rejections = 5;
  GenerationResult result;
  GenerationRequest request = Request(13);
  ASSERT_TRUE(RunCards(request, o, verifier, reward, vocab, {}, &result).ok());
  ASSERT_EQ(result.stats.cards.rejections_per_segment, (std::vector<int64_t>{5, 5, 5, 5}));
  ASSERT_EQ(reward.calls.size(), 1u + 4 * 6);
  std::string prefix;
  for (int seg = 0; seg < 4; ++seg) {
    std::string best;
    float best_r = -1;
    for (int c = 0; c < 6; ++c) {
      const std::string& cand = reward.calls[1 + seg * 6 + c][0];
      ASSERT_EQ(cand.substr(0, prefix.size()), prefix);
      if (score("", cand) > best_r) {
        best_r = score("", cand);
        best = cand;
      }
    }
    prefix = best;
  }
  EXPECT_EQ(result.text, prefix);
  EXPECT_EQ(result.stats.reward.final_reward.value_or(NAN), score("", prefix));
  // The session ends holding the committed response (its last token, which
  // finished the response, is never fed).
  ASSERT_EQ(verifier.log.closed.size(), 1u);
  std::vector<int32_t> expected = kPrompt;
  expected.insert(expected.end(), result.tokens.begin(), result.tokens.end() - 1);
  EXPECT_EQ(verifier.log.closed[0], expected);
}

TEST(CardsTest, RejectionRollsBackToTheAcceptedPrefixWithoutRecomputingIt) {
  FakeVocabulary vocab(kVocab);
  TableVerifier verifier(kVocab, SegmentedLogits({5, 13, 14, 22}));
  ScriptedReward reward([](const std::string&, const std::string& r) {
    float h = 0;
    for (char ch : r) h = std::fmod(h * 17 + ch, 101.0f);
    return h / 10;
  });
  CardsOptions o;  // soft acceptance, r* comparable to the scores
  o.r_star = 8;
  o.min_segment = 4;
  o.max_segment = 6;
  GenerationResult result;
  ASSERT_TRUE(RunCards(Request(30, 5), o, verifier, reward, vocab, {}, &result).ok());
  ASSERT_GT(result.stats.cards.segments_rejected, 0);
  // Every truncation lands on prompt + an accepted prefix: replay the scored
  // candidates to find where each accepted segment ended.
  std::set<int64_t> boundaries = {static_cast<int64_t>(kPrompt.size())};
  {
    int64_t len = static_cast<int64_t>(kPrompt.size());
    size_t c = 1;
    for (int64_t rejections : result.stats.cards.rejections_per_segment) {
      c += rejections;  // the accepted candidate is the next one (no forced fallback here)
      ASSERT_LE(c, reward.calls.size() - 1);
      len = static_cast<int64_t>(kPrompt.size() + reward.calls[c][0].size());
      boundaries.insert(len);
      ++c;
    }
  }
  ASSERT_EQ(static_cast<int64_t>(verifier.log.truncations.size()), result.stats.cards.segments_rejected);
  for (int64_t t : verifier.log.truncations) EXPECT_TRUE(boundaries.count(t)) << t;
  // No position is computed twice except the rolled-back candidates': the
  // positions computed are the prompt (once) plus one per appended token,
  // plus the pending-token query at the start.
  EXPECT_EQ(verifier.log.computed_positions,
            static_cast<int64_t>(kPrompt.size()) - 1 + 1 + verifier.log.appended_tokens);
}

TEST(CardsTest, SoftAcceptanceProbabilityMatchesExp) {
  FakeVocabulary vocab(kVocab);
  // alpha = 1: tau = r* everywhere; r = r* - beta ln 2 accepts w.p. 1/2.
  const double beta = 0.7;
  const float r = static_cast<float>(10 - beta * std::log(2.0));
  int64_t proposed = 0, accepted = 0, forced = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    TableVerifier verifier(kVocab, SegmentedLogits({}));
    ScriptedReward reward([r](const std::string&, const std::string&) { return r; });
    CardsOptions o;
    o.r_star = 10;
    o.alpha = 1;
    o.beta = beta;
    o.min_segment = 4;
    o.max_segment = 4;
    GenerationResult result;
    ASSERT_TRUE(RunCards(Request(40, seed), o, verifier, reward, vocab, {}, &result).ok());
    proposed += result.stats.cards.segments_proposed;
    accepted += result.stats.cards.segments_accepted;
    forced += result.stats.cards.segments_forced;
  }
  EXPECT_EQ(forced, 0);
  const double rate = static_cast<double>(accepted) / proposed;
  // 200 accepted segments, ~400 draws: sd of the rate ~0.025.
  EXPECT_NEAR(rate, 0.5, 0.1) << accepted << "/" << proposed;
}

TEST(CardsTest, AcceptBetaSetsTheSoftAcceptanceTemperatureOnly) {
  FakeVocabulary vocab(kVocab);
  // tau = r* = 10 (alpha = 1), r = 10 - 0.1 ln 4: with accept_beta = 0.1 a
  // candidate is accepted w.p. 1/4; the proposals keep beta = 0.7.
  const float r = static_cast<float>(10 - 0.1 * std::log(4.0));
  int64_t proposed = 0, accepted = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    TableVerifier verifier(kVocab, SegmentedLogits({}));
    ScriptedReward reward([r](const std::string&, const std::string&) { return r; });
    CardsOptions o;
    o.r_star = 10;
    o.alpha = 1;
    o.accept_beta = 0.1;
    o.min_segment = 4;
    o.max_segment = 4;
    o.max_rejections = 100;
    GenerationResult result;
    ASSERT_TRUE(RunCards(Request(40, seed), o, verifier, reward, vocab, {}, &result).ok());
    proposed += result.stats.cards.segments_proposed;
    accepted += result.stats.cards.segments_accepted - result.stats.cards.segments_forced;
  }
  // 200 accepted of ~800 draws: sd of the rate ~0.015.
  EXPECT_NEAR(static_cast<double>(accepted) / proposed, 0.25, 0.06) << accepted << "/" << proposed;
}

TEST(CardsTest, CalibratedRStarIsTheQuantileOfOwnSamples) {
  FakeVocabulary vocab(kVocab);
  TableVerifier verifier(kVocab, SegmentedLogits({3, 9}));
  ScriptedReward reward([](const std::string&, const std::string& r) {
    float h = 0;
    for (char ch : r) h = std::fmod(h * 13 + ch, 89.0f);
    return h;
  });
  CardsOptions o;
  o.r_star_quantile = 0.5;
  o.calibration_samples = 3;
  GenerationResult result;
  ASSERT_TRUE(RunCards(Request(10), o, verifier, reward, vocab, {}, &result).ok());
  ASSERT_GE(reward.calls.size(), 2u);
  ASSERT_EQ(reward.calls[0].size(), 3u);  // one call for the three samples
  std::vector<float> scores;
  for (const std::string& s : reward.calls[0]) {
    EXPECT_EQ(s.size(), 10u);  // full responses (no EOS in this table)
    float h = 0;
    for (char ch : s) h = std::fmod(h * 13 + ch, 89.0f);
    scores.push_back(h);
  }
  EXPECT_TRUE(result.stats.cards.r_star.has_value());
  EXPECT_DOUBLE_EQ(result.stats.cards.r_star.value_or(NAN), Quantile(scores, 0.5));
  EXPECT_EQ(verifier.log.forks, 3);
  // The prompt was prefilled once: forks share it.
  EXPECT_EQ(verifier.log.computed_positions, static_cast<int64_t>(kPrompt.size()) - 1 + 1 +
                                                 verifier.log.appended_tokens);
}

TEST(CardsTest, StopsAtEosUnlessDisabled) {
  FakeVocabulary vocab(kVocab);
  // EOS is the only likely token after 6 response tokens.
  auto fn = [](std::span<const int32_t> ctx, std::span<float> out) {
    for (size_t v = 0; v < out.size(); ++v) out[v] = static_cast<float>(v % 3);
    out[0] = ctx.size() - kPrompt.size() >= 6 ? 50.0f : -50.0f;
  };
  CardsOptions o;
  o.hard = true;
  o.r_star = kNegInf;
  {
    TableVerifier verifier(kVocab, fn);
    ScriptedReward reward([](const std::string&, const std::string&) { return 0.0f; });
    GenerationResult result;
    ASSERT_TRUE(RunCards(Request(20), o, verifier, reward, vocab, {}, &result).ok());
    EXPECT_EQ(result.finish_reason, FinishReason::kEndOfGeneration);
    EXPECT_EQ(result.tokens.size(), 6u);
  }
  {
    o.stop_at_eos = false;  // the reference: runs to L_max, EOS is a token
    TableVerifier verifier(kVocab, fn);
    ScriptedReward reward([](const std::string&, const std::string&) { return 0.0f; });
    GenerationResult result;
    ASSERT_TRUE(RunCards(Request(20), o, verifier, reward, vocab, {}, &result).ok());
    EXPECT_EQ(result.finish_reason, FinishReason::kLength);
    EXPECT_EQ(result.tokens.size(), 20u);
    EXPECT_EQ(result.tokens[6], 0);
  }
}

TEST(CardsTest, ACompletedResponseMustReachRStarUnlessTheRampIsAsked) {
  FakeVocabulary vocab(kVocab);
  // EOS is certain after 6 tokens: segments [4 tokens], [2 tokens + EOS].
  auto fn = [](std::span<const int32_t> ctx, std::span<float> out) {
    for (size_t v = 0; v < out.size(); ++v) out[v] = static_cast<float>(v % 3);
    out[0] = ctx.size() - kPrompt.size() >= 6 ? 50.0f : -50.0f;
  };
  // r = 0.5 + 0.05 |text|; alpha = 0: r0 = R(x) = 0.5; tau(L) = 0.5 + L * 0.5 / 20.
  // The first segment (r 0.7 >= tau(4) 0.6) passes; the finished response
  // (r 0.8) passes the ramp at L = 7 (0.675) but not r* = 1.
  auto score = [](const std::string&, const std::string& r) { return 0.5f + 0.05f * r.size(); };
  CardsOptions o;
  o.hard = true;
  o.r_star = 1.0;
  o.alpha = 0;
  o.max_rejections = 2;
  for (bool at_r_star : {true, false}) {
    o.eos_threshold_r_star = at_r_star;
    TableVerifier verifier(kVocab, fn);
    ScriptedReward reward(score);
    GenerationResult result;
    ASSERT_TRUE(RunCards(Request(20), o, verifier, reward, vocab, {}, &result).ok());
    EXPECT_EQ(result.finish_reason, FinishReason::kEndOfGeneration);
    EXPECT_EQ(result.tokens.size(), 6u);
    EXPECT_EQ(result.stats.cards.rejections_per_segment,
              (at_r_star ? std::vector<int64_t>{0, 2} : std::vector<int64_t>{0, 0}));
  }
}

TEST(CardsTest, BadOptionsAndBadRewardsAreErrors) {
  FakeVocabulary vocab(kVocab);
  TableVerifier verifier(kVocab, SegmentedLogits({}));
  ScriptedReward reward([](const std::string&, const std::string&) { return 1.0f; });
  GenerationResult result;
  CardsOptions o;
  o.alpha = 1.5;
  absl::Status s = RunCards(Request(8), o, verifier, reward, vocab, {}, &result);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("params.alpha"), std::string::npos) << s;
  o = {};
  o.min_segment = 9;
  o.max_segment = 8;
  s = RunCards(Request(8), o, verifier, reward, vocab, {}, &result);
  EXPECT_NE(s.message().find("params.min_segment"), std::string::npos) << s;

  ScriptedReward nan([](const std::string&, const std::string&) { return std::nanf(""); });
  s = RunCards(Request(8), CardsOptions{}, verifier, nan, vocab, {}, &result);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  reward.drop_one = true;
  s = RunCards(Request(8), CardsOptions{}, verifier, reward, vocab, {}, &result);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;

  FakeVocabulary no_text(kVocab, /*with_text=*/false);
  GenerationRequest tokens_only = Request(8);
  tokens_only.prompt_text.clear();
  s = RunCards(tokens_only, CardsOptions{}, verifier, reward, no_text, {}, &result);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
}

TEST(BestOfNTest, PicksTheHighestRewardAndForksShareThePrompt) {
  FakeVocabulary vocab(kVocab);
  TableVerifier verifier(kVocab, testing::TargetLogits);
  auto score = [](const std::string&, const std::string& r) {
    return static_cast<float>(std::count(r.begin(), r.end(), 'c')) - 0.01f * r.size();
  };
  ScriptedReward reward(score);
  BestOfNOptions o;
  o.n = 6;
  o.reward.backend = "scripted";
  GenerationRequest request = Request(24, 4);
  request.sampling.temperature = 1.0f;
  GenerationResult result;
  std::string streamed;
  ASSERT_TRUE(RunBestOfN(request, o, verifier, reward, vocab,
                         [&](const StreamChunk& c) {
                           streamed += std::string(c.text);
                           return absl::OkStatus();
                         },
                         &result)
                  .ok());
  ASSERT_EQ(reward.calls.size(), 1u);
  ASSERT_EQ(reward.calls[0].size(), 6u);
  EXPECT_EQ(reward.specs[0].backend, "scripted");
  float best = -1e9f;
  std::set<std::string> distinct;
  for (const std::string& r : reward.calls[0]) {
    best = std::max(best, score("", r));
    distinct.insert(r);
  }
  EXPECT_GT(distinct.size(), 1u);  // distinct fork seeds
  EXPECT_EQ(score("", result.text), best);
  EXPECT_FLOAT_EQ(static_cast<float>(result.stats.reward.final_reward.value_or(NAN)), best);
  EXPECT_EQ(streamed, result.text);
  EXPECT_EQ(verifier.log.forks, 6);
  // One prefill (prompt minus its pending last token), then one position per
  // sampled token in each fork: the prompt was never prefilled again.
  EXPECT_EQ(verifier.log.computed_positions,
            static_cast<int64_t>(kPrompt.size()) - 1 + result.stats.target_calls);
  EXPECT_EQ(verifier.log.forwards, 1 + result.stats.target_calls);
}

// Wraps a verifier's forks: counts how many Verify calls are in flight at
// once (the first call waits up to a second for a second caller, so
// concurrent sampling shows as 2+ and sequential sampling as 1), and
// makes the fork numbered `fail_fork` fail at its `fail_at`-th Verify.
class ConcurrencyProbe : public Verifier {
 public:
  explicit ConcurrencyProbe(Verifier& inner) : inner_(inner) {}
  absl::StatusOr<std::unique_ptr<VerifySession>> Open(std::span<const int32_t> prompt,
                                                      const runtime::SamplingParams& params,
                                                      const VerifyOptions& options) override {
    auto opened = inner_.Open(prompt, params, options);
    if (!opened.ok()) return opened.status();
    return std::unique_ptr<VerifySession>(std::make_unique<Session>(*this, std::move(*opened), -1));
  }
  int max_in_flight = 0;
  int fail_fork = -1, fail_at = 0;

 private:
  class Session : public VerifySession {
   public:
    Session(ConcurrencyProbe& probe, std::unique_ptr<VerifySession> inner, int index)
        : probe_(probe), inner_(std::move(inner)), index_(index) {}
    absl::Status Verify(std::span<const int32_t> draft, std::span<const runtime::Distribution> q,
                        VerifyResult* out) override {
      {
        std::unique_lock<std::mutex> lock(probe_.mu_);
        ++probe_.in_flight_;
        probe_.max_in_flight = std::max(probe_.max_in_flight, probe_.in_flight_);
        probe_.cv_.notify_all();
        if (!probe_.waited_) {  // only the first call waits: a sequential run costs one second
          probe_.waited_ = true;
          probe_.cv_.wait_for(lock, std::chrono::seconds(1), [&] { return probe_.max_in_flight >= 2; });
        }
        --probe_.in_flight_;
      }
      if (index_ == probe_.fail_fork && ++calls_ == probe_.fail_at) return absl::UnavailableError("fork lost");
      return inner_->Verify(draft, q, out);
    }
    int64_t committed_length() const override { return inner_->committed_length(); }
    absl::Status Close() override { return inner_->Close(); }
    absl::StatusOr<std::unique_ptr<VerifySession>> Fork(uint64_t seed) override {
      auto fork = inner_->Fork(seed);
      if (!fork.ok()) return fork.status();
      return std::unique_ptr<VerifySession>(std::make_unique<Session>(probe_, std::move(*fork), forks_++));
    }

   private:
    ConcurrencyProbe& probe_;
    std::unique_ptr<VerifySession> inner_;
    const int index_;
    int calls_ = 0, forks_ = 0;
  };
  Verifier& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  int in_flight_ = 0;
  bool waited_ = false;
};

TEST(BestOfNTest, SamplesTheForksConcurrentlyWithTheSameResult) {
  FakeVocabulary vocab(kVocab);
  auto score = [](const std::string&, const std::string& r) { return static_cast<float>(r.size() % 7); };
  GenerationRequest request = Request(20, 9);
  request.sampling.temperature = 1.0f;
  BestOfNOptions o;
  o.n = 4;
  TableVerifier plain(kVocab, testing::TargetLogits);
  ConcurrencyProbe probe(plain);
  ScriptedReward reward(score);
  GenerationResult result;
  ASSERT_TRUE(RunBestOfN(request, o, probe, reward, vocab, {}, &result).ok());
  EXPECT_GE(probe.max_in_flight, 2);
  // Each fork's draws depend only on its seed: the same request gives the
  // same candidates and choice however the threads interleave, and
  // parallel = 1 (one fork after another) gives them too.
  for (int parallel : {4, 2, 1, 16}) {
    BestOfNOptions p = o;
    p.parallel = parallel;
    TableVerifier again(kVocab, testing::TargetLogits);
    ConcurrencyProbe again_probe(again);
    ScriptedReward reward_again(score);
    GenerationResult r;
    ASSERT_TRUE(RunBestOfN(request, p, again_probe, reward_again, vocab, {}, &r).ok());
    EXPECT_EQ(reward_again.calls, reward.calls) << parallel;
    EXPECT_EQ(r.tokens, result.tokens) << parallel;
    EXPECT_EQ(r.stats.target_calls, result.stats.target_calls) << parallel;
    if (parallel == 1) {
      EXPECT_EQ(again_probe.max_in_flight, 1);
    }
  }
}

TEST(BestOfNTest, AForkErrorFailsTheRequestAndClosesEveryFork) {
  FakeVocabulary vocab(kVocab);
  TableVerifier table(kVocab, testing::TargetLogits);
  ConcurrencyProbe probe(table);
  probe.fail_fork = 2;
  probe.fail_at = 3;
  ScriptedReward reward([](const std::string&, const std::string&) { return 0.0f; });
  BestOfNOptions o;
  o.n = 5;
  GenerationRequest request = Request(30, 2);
  request.sampling.temperature = 1.0f;
  GenerationResult result;
  absl::Status s = RunBestOfN(request, o, probe, reward, vocab, {}, &result);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_TRUE(reward.calls.empty());  // nothing scored
  EXPECT_EQ(table.log.closed.size(), 6u);  // five forks and the prompt's session
}

TEST(ArgsTest, GreedyPicksArgmaxOfLogitPlusWeightedReward) {
  FakeVocabulary vocab(kVocab);
  TableVerifier verifier(kVocab, testing::TargetLogits);
  auto score = [](const std::string&, const std::string& r) {
    return r.empty() ? 0.0f : static_cast<float>((r.back() * 7 + r.size()) % 5) * 0.6f;
  };
  ScriptedReward reward(score);
  ArgsOptions o;
  o.top_k = 4;
  o.w = 1.5;
  GenerationResult result;
  ASSERT_TRUE(RunArgs(Request(16), o, verifier, reward, vocab, {}, &result).ok());
  // Independent replay: top-4 raw logits, s = z + 1.5 R, argmax.
  std::vector<int32_t> ctx = kPrompt, expected;
  std::string text;
  std::vector<float> row;
  bool differs_from_greedy = false;
  while (expected.size() < 16) {
    verifier.Row(ctx, &row);
    NextTokenInfo info = testing::InfoFromRow(row, 4);
    int32_t best = -1;
    float best_s = -1e30f;
    for (size_t i = 0; i < 4; ++i) {
      std::string cand = text;
      if (info.top_tokens[i] != 0) cand += static_cast<char>('a' + info.top_tokens[i]);
      const float s = info.top_logits[i] + 1.5f * score("", cand);
      if (s > best_s) {
        best_s = s;
        best = info.top_tokens[i];
      }
    }
    differs_from_greedy |= best != info.top_tokens[0];
    if (best == 0) break;
    expected.push_back(best);
    ctx.push_back(best);
    text += static_cast<char>('a' + best);
  }
  EXPECT_TRUE(differs_from_greedy);  // the reward mattered
  EXPECT_EQ(result.tokens, expected);
  const int64_t steps = static_cast<int64_t>(reward.calls.size());
  EXPECT_EQ(result.stats.reward.calls, steps);
  EXPECT_EQ(result.stats.reward.items, 4 * steps);
  EXPECT_EQ(result.stats.reward.final_reward.value_or(NAN), score("", result.text));
}

TEST(ArgsTest, SampledModeIsSeededAndStaysInTopK) {
  FakeVocabulary vocab(kVocab);
  ArgsOptions o;
  o.top_k = 3;
  o.greedy = false;
  std::vector<int32_t> first;
  for (int run = 0; run < 2; ++run) {
    TableVerifier verifier(kVocab, testing::TargetLogits);
    ScriptedReward reward([](const std::string&, const std::string& r) { return 0.1f * r.size(); });
    GenerationResult result;
    ASSERT_TRUE(RunArgs(Request(12, 8), o, verifier, reward, vocab, {}, &result).ok());
    std::vector<int32_t> ctx = kPrompt;
    std::vector<float> row;
    for (int32_t t : result.tokens) {
      verifier.Row(ctx, &row);
      NextTokenInfo info = testing::InfoFromRow(row, 3);
      EXPECT_NE(std::find(info.top_tokens.begin(), info.top_tokens.end(), t), info.top_tokens.end());
      ctx.push_back(t);
    }
    if (run == 0) first = result.tokens;
    else EXPECT_EQ(result.tokens, first);
  }
}

// Sampled ARGS draws v from softmax((z_v + w R(v)) / tau) over the top-k raw
// logits. Over a fixed set of seeds the first token's counts must pass a
// chi-square test against that exact distribution (df = k - 1, critical value
// at p = 0.001), and must fail it against the distributions a wrong
// implementation would sample (reward ignored; temperature not applied).
TEST(ArgsTest, SampledModeFollowsItsExactDistribution) {
  constexpr int kTopK = 4;
  constexpr int kRuns = 4000;
  constexpr double kW = 1.5, kTau = 0.7;
  auto score = [](const std::string&, const std::string& r) {
    return r.empty() ? 0.0f : static_cast<float>((r.back() * 7 + r.size()) % 5) * 0.6f;
  };
  FakeVocabulary vocab(kVocab);
  ArgsOptions o;
  o.top_k = kTopK;
  o.w = kW;
  o.tau = kTau;
  o.greedy = false;
  std::map<int32_t, int64_t> counts;
  for (int seed = 0; seed < kRuns; ++seed) {
    TableVerifier verifier(kVocab, testing::TargetLogits);
    ScriptedReward reward(score);
    GenerationResult result;
    ASSERT_TRUE(RunArgs(Request(1, static_cast<uint64_t>(seed) + 1), o, verifier, reward, vocab, {}, &result).ok());
    ASSERT_EQ(result.tokens.size(), 1u);
    ++counts[result.tokens[0]];
  }
  // The exact distribution, computed independently in double.
  TableVerifier verifier(kVocab, testing::TargetLogits);
  std::vector<float> row;
  verifier.Row(kPrompt, &row);
  const NextTokenInfo info = testing::InfoFromRow(row, kTopK);
  auto expected = [&](double w, double tau) {
    std::vector<double> p(kTopK);
    double z = 0;
    for (int i = 0; i < kTopK; ++i) {
      const int32_t t = info.top_tokens[i];
      const std::string cand = t == 0 ? "" : std::string(1, static_cast<char>('a' + t));
      p[i] = std::exp((info.top_logits[i] + w * score("", cand)) / tau);
      z += p[i];
    }
    for (double& v : p) v /= z;
    return p;
  };
  auto chi_square = [&](const std::vector<double>& p) {
    double chi = 0;
    int64_t seen = 0;
    for (int i = 0; i < kTopK; ++i) {
      const double e = p[i] * kRuns;
      const double o_i = static_cast<double>(counts[info.top_tokens[i]]);
      seen += counts[info.top_tokens[i]];
      chi += (o_i - e) * (o_i - e) / e;
    }
    EXPECT_EQ(seen, kRuns);  // every draw was one of the top-k
    return chi;
  };
  const std::vector<double> exact = expected(kW, kTau);
  for (double v : exact) ASSERT_GT(v * kRuns, 20.0);  // every cell large enough for the test
  EXPECT_LT(chi_square(exact), 16.27);              // chi2(3), p = 0.001
  EXPECT_GT(chi_square(expected(0.0, kTau)), 16.27);  // the reward ignored
  EXPECT_GT(chi_square(expected(kW, 1.0)), 16.27);    // tau ignored
}

// The same strategies on the real in-process verifier (ModelVerifier over a
// synthetic LanguageModel that counts the positions it computes).
TEST(RewardStrategiesOnModelVerifierTest, HardCardsWithMinusInfinityIsPlainTopKSampling) {
  FakeVocabulary vocab(kVocab);
  for (uint64_t seed : {1, 5, 11}) {
    testing::FakeLm lm(kVocab, testing::TargetLogits);
    ModelVerifier verifier(lm);
    ScriptedReward reward([](const std::string&, const std::string&) { return 0.0f; });
    CardsOptions o;
    o.hard = true;
    o.r_star = kNegInf;
    o.top_k = 6;
    GenerationResult result;
    GenerationRequest request = Request(40, seed);
    ASSERT_TRUE(RunCards(request, o, verifier, reward, vocab, {}, &result).ok());
    EXPECT_EQ(result.tokens, ReferenceTopK(testing::TargetLogits, request, 0.7f, 6)) << "seed " << seed;
  }
}

TEST(RewardStrategiesOnModelVerifierTest, CardsRejectionsNeverRecomputeTheLongPrompt) {
  FakeVocabulary vocab(kVocab);
  testing::FakeLm lm(kVocab, testing::TargetLogits);
  ModelVerifier verifier(lm);
  ScriptedReward reward([](const std::string&, const std::string& r) {
    float h = 0;
    for (char ch : r) h = std::fmod(h * 17 + ch, 101.0f);
    return h / 100;
  });
  CardsOptions o;  // hard, tau = r* = 0.8 throughout, scores in [0, 1]: many rejections
  o.hard = true;
  o.alpha = 1;
  o.max_rejections = 3;
  GenerationRequest request = Request(30, 2);
  request.prompt.clear();
  for (int i = 0; i < 200; ++i) request.prompt.push_back(1 + (i * 7) % (kVocab - 1));
  GenerationResult result;
  ASSERT_TRUE(RunCards(request, o, verifier, reward, vocab, {}, &result).ok());
  const auto& st = result.stats;
  ASSERT_GT(st.cards.segments_rejected, 3);
  // The prompt once, then one position per Append call, one more after each
  // rollback (the verifier re-feeds the last kept token), and a whole
  // segment for each forced fallback to an earlier candidate.
  EXPECT_LE(lm.appended_tokens, 200 + st.target_calls + st.cards.segments_rejected + st.cards.segments_forced * o.max_segment);
  EXPECT_EQ(result.tokens.size(), 30u);
}

TEST(RewardStrategiesOnModelVerifierTest, BestOfNForksDoNotPrefillAgain) {
  FakeVocabulary vocab(kVocab);
  testing::FakeLm lm(kVocab, testing::TargetLogits);
  ModelVerifier verifier(lm);
  ScriptedReward reward([](const std::string&, const std::string& r) { return static_cast<float>(r.size()); });
  BestOfNOptions o;
  o.n = 5;
  GenerationRequest request = Request(12, 3);
  request.prompt.assign(100, 5);
  GenerationResult result;
  ASSERT_TRUE(RunBestOfN(request, o, verifier, reward, vocab, {}, &result).ok());
  EXPECT_EQ(lm.forks, 5);
  EXPECT_EQ(lm.appended_tokens, 99 + result.stats.target_calls);
  EXPECT_EQ(result.stats.reward.calls, 1);
}

}  // namespace
}  // namespace tandem::decoding
