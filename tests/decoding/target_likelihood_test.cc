// The target-likelihood process reward (reward_guided/target_likelihood.h):
// VerifySession::AppendScored of the in-process verifier against the
// log-softmax of the target's logits computed here, the score's mapping
// (geometric-mean token probability), likely steps scoring above unlikely
// ones, and RSD (prm=target_likelihood) and CARDS (reward=target_likelihood)
// scoring through it with no reward scorer, their rewards recomputed here from
// the target's logits, and the FLOPs they count.
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "decoding/local/model_drafter.h"
#include "decoding/local/model_verifier.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/strategies/cards/cards.h"
#include "decoding/strategies/reward_guided/target_likelihood.h"
#include "decoding/strategies/rsd/rsd.h"
#include "tests/decoding/fake_lm.h"

namespace tandem::decoding {
namespace {

using runtime::SamplingParams;
using testing::FakeLm;
using testing::LogitsFn;

// log p(token | ctx) under fn, computed in double from the raw row.
double LogProb(const LogitsFn& fn, int32_t vocab, std::span<const int32_t> ctx, int32_t token) {
  std::vector<float> row(vocab);
  fn(ctx, row);
  double m = -std::numeric_limits<double>::infinity();
  for (float x : row) m = std::max(m, static_cast<double>(x));
  double z = 0;
  for (float x : row) z += std::exp(static_cast<double>(x) - m);
  return row[token] - m - std::log(z);
}

// exp(mean log p(tokens[i] | prefix + tokens[0..i))) under fn.
double ExpectedScore(const LogitsFn& fn, int32_t vocab, std::vector<int32_t> prefix,
                     const std::vector<int32_t>& tokens) {
  double sum = 0;
  for (int32_t t : tokens) {
    sum += LogProb(fn, vocab, prefix, t);
    prefix.push_back(t);
  }
  return std::exp(sum / static_cast<double>(tokens.size()));
}

SamplingParams Greedy() {
  SamplingParams p;
  p.temperature = 0;
  return p;
}

constexpr int32_t kVocab12 = 12;

// Spans longer than one forward's rows are scored chunk by chunk with the
// same values, one forward per kScoredRowsPerForward tokens; a chunk that
// fails (the context fills mid-span) leaves the session as it was.
TEST(AppendScored, LongSpansGoInBoundedChunksAndFailWhole) {
  const size_t chunk = kScoredRowsPerForward;
  const std::vector<int32_t> prompt = {3, 5, 7};
  std::vector<int32_t> span(2 * chunk + 5);
  for (size_t i = 0; i < span.size(); ++i) span[i] = static_cast<int32_t>((i * 7 + 1) % kVocab12);
  for (bool cached_first : {false, true}) {
    FakeLm lm(kVocab12, testing::TargetLogits);
    ModelVerifier verifier(lm);
    auto session = verifier.Open(prompt, Greedy(), {});
    ASSERT_TRUE(session.ok()) << session.status();
    std::vector<int32_t> ctx = prompt;
    std::vector<float> lp;
    if (cached_first) {  // S's last row then comes from this call
      ASSERT_TRUE((*session)->AppendScored(std::vector<int32_t>{2}, &lp).ok());
      ctx.push_back(2);
    }
    const int64_t forwards_before = lm.appends;
    ASSERT_TRUE((*session)->AppendScored(span, &lp).ok());
    EXPECT_EQ(lm.appends - forwards_before, 3) << "2 full chunks and a tail";
    ASSERT_EQ(lp.size(), span.size());
    for (size_t i = 0; i < span.size(); ++i) {
      ASSERT_NEAR(lp[i], LogProb(testing::TargetLogits, kVocab12, ctx, span[i]), 1e-5) << "token " << i;
      ctx.push_back(span[i]);
    }
    EXPECT_EQ((*session)->committed_length(), static_cast<int64_t>(ctx.size()));
  }
  // Room for the prompt and one and a half chunks: the second chunk fails.
  FakeLm small(kVocab12, testing::TargetLogits, static_cast<int64_t>(prompt.size() + chunk + chunk / 2));
  ModelVerifier verifier(small);
  auto session = verifier.Open(prompt, Greedy(), {});
  ASSERT_TRUE(session.ok()) << session.status();
  std::vector<float> lp;
  EXPECT_EQ((*session)->AppendScored(span, &lp).code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(lp.empty());
  EXPECT_EQ((*session)->committed_length(), static_cast<int64_t>(prompt.size()));
  // The session goes on from S as if nothing happened.
  ASSERT_TRUE((*session)->AppendScored(std::vector<int32_t>{4, 9}, &lp).ok());
  std::vector<int32_t> ctx = prompt;
  EXPECT_NEAR(lp[0], LogProb(testing::TargetLogits, kVocab12, ctx, 4), 1e-5);
  ctx.push_back(4);
  EXPECT_NEAR(lp[1], LogProb(testing::TargetLogits, kVocab12, ctx, 9), 1e-5);
}

// With alternatives: at each position the top_n ids by the target's row,
// best first, each with its own log-probability; the scored values unchanged
// by asking; a bad top_n refused with S unchanged.
TEST(AppendScored, AlternativesAreTheRowsMostLikelyTokens) {
  FakeLm lm(kVocab12, testing::TargetLogits);
  ModelVerifier verifier(lm);
  const std::vector<int32_t> prompt = {3, 5, 7};
  auto session = verifier.Open(prompt, Greedy(), {});
  ASSERT_TRUE(session.ok()) << session.status();
  std::vector<int32_t> span(kScoredRowsPerForward + 9);
  for (size_t i = 0; i < span.size(); ++i) span[i] = static_cast<int32_t>((i * 5 + 2) % kVocab12);
  std::vector<float> lp;
  std::vector<std::vector<runtime::TokenLogprob>> top;
  ASSERT_TRUE((*session)->AppendScoredWithAlternatives(span, 3, &lp, &top).ok());
  ASSERT_EQ(lp.size(), span.size());
  ASSERT_EQ(top.size(), span.size());
  std::vector<int32_t> ctx = prompt;
  for (size_t i = 0; i < span.size(); ++i) {
    ASSERT_EQ(top[i].size(), 3u) << i;
    std::vector<float> row(kVocab12);
    testing::TargetLogits(ctx, row);
    for (size_t a = 0; a < 3; ++a) {
      const runtime::TokenLogprob& alt = top[i][a];
      EXPECT_NEAR(alt.logprob, LogProb(testing::TargetLogits, kVocab12, ctx, alt.token), 1e-5) << i;
      if (a > 0) {
        EXPECT_GE(top[i][a - 1].logprob, alt.logprob) << i;
      }
    }
    const float best = *std::max_element(row.begin(), row.end());
    EXPECT_EQ(row[static_cast<size_t>(top[i][0].token)], best) << i;
    EXPECT_GE(top[i][0].logprob, lp[i]) << i;
    ctx.push_back(span[i]);
  }
  const int64_t length = (*session)->committed_length();
  EXPECT_EQ((*session)->AppendScoredWithAlternatives(span, runtime::kMaxTopLogprobs + 1, &lp, &top).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*session)->AppendScoredWithAlternatives(span, 2, &lp, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*session)->committed_length(), length);
}

TEST(AppendScored, EqualsLogSoftmaxOfTheTargetRowsWhateverTheCacheState) {
  FakeLm lm(kVocab12, testing::TargetLogits);
  ModelVerifier verifier(lm);
  SamplingParams sharp;  // the session's sampling settings must not change the scores
  sharp.temperature = 0.3f;
  sharp.top_k = 2;
  const std::vector<int32_t> prompt = {3, 5, 7};
  auto session = verifier.Open(prompt, sharp, {});
  ASSERT_TRUE(session.ok()) << session.status();
  std::vector<int32_t> s = prompt;
  auto check = [&](const std::vector<int32_t>& tokens) {
    std::vector<float> lp;
    ASSERT_TRUE((*session)->AppendScored(tokens, &lp).ok());
    ASSERT_EQ(lp.size(), tokens.size());
    std::vector<int32_t> ctx = s;
    for (size_t i = 0; i < tokens.size(); ++i) {
      EXPECT_NEAR(lp[i], LogProb(testing::TargetLogits, kVocab12, ctx, tokens[i]), 1e-5) << "token " << i;
      ctx.push_back(tokens[i]);
    }
    s = ctx;
    EXPECT_EQ((*session)->committed_length(), static_cast<int64_t>(s.size()));
  };
  check({4, 9, 1, 2});  // last token of S pending (after Open)
  check({6, 6});        // S fully cached with its last row (after AppendScored)
  NextTokenInfo next;
  ASSERT_TRUE((*session)->Append(std::vector<int32_t>{8}, 1, &next).ok());
  s.push_back(8);
  check({0, 11, 5});  // after an Append that reported next-token info
  ASSERT_TRUE((*session)->Truncate(5).ok());
  s.resize(5);
  check({10});  // after a rollback
  std::vector<float> lp = {1.0f};
  ASSERT_TRUE((*session)->AppendScored({}, &lp).ok());
  EXPECT_TRUE(lp.empty());
  EXPECT_EQ((*session)->committed_length(), static_cast<int64_t>(s.size()));
  // Out-of-vocabulary token: rejected, S unchanged.
  EXPECT_EQ((*session)->AppendScored(std::vector<int32_t>{kVocab12}, &lp).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*session)->committed_length(), static_cast<int64_t>(s.size()));

  // The session goes on from S: a greedy target step after AppendScored is the
  // argmax of the row after S.
  auto greedy = verifier.Open(prompt, Greedy(), {});
  ASSERT_TRUE(greedy.ok());
  ASSERT_TRUE((*greedy)->AppendScored(std::vector<int32_t>{4, 9}, &lp).ok());
  VerifyResult vr;
  ASSERT_TRUE((*greedy)->Verify({}, {}, &vr).ok());
  std::vector<float> row(kVocab12);
  const std::vector<int32_t> ctx = {3, 5, 7, 4, 9};
  testing::TargetLogits(ctx, row);
  EXPECT_EQ(vr.next_token, std::max_element(row.begin(), row.end()) - row.begin());
}

TEST(TargetLikelihood, ScoreIsTheGeometricMeanTokenProbability) {
  EXPECT_DOUBLE_EQ(TargetLikelihoodScore({}), 1.0);
  const std::vector<float> lp = {std::log(0.5f), std::log(0.125f)};
  EXPECT_NEAR(TargetLikelihoodScore(lp), 0.25, 1e-7);  // sqrt(0.5 * 0.125)

  FakeLm lm(kVocab12, testing::TargetLogits);
  ModelVerifier verifier(lm);
  const std::vector<int32_t> prompt = {2, 9};
  // The target's most and least likely continuations, token by token.
  std::vector<int32_t> likely, unlikely, ctx_l = prompt, ctx_u = prompt;
  std::vector<float> row(kVocab12);
  for (int i = 0; i < 6; ++i) {
    testing::TargetLogits(ctx_l, row);
    likely.push_back(static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin()));
    ctx_l.push_back(likely.back());
    testing::TargetLogits(ctx_u, row);
    unlikely.push_back(static_cast<int32_t>(std::min_element(row.begin(), row.end()) - row.begin()));
    ctx_u.push_back(unlikely.back());
  }
  auto session = verifier.Open(prompt, Greedy(), {});
  ASSERT_TRUE(session.ok());
  spec::RequestStats stats;
  auto hi = AppendTargetLikelihood(**session, likely, &stats);
  ASSERT_TRUE(hi.ok()) << hi.status();
  ASSERT_TRUE((*session)->Truncate(static_cast<int64_t>(prompt.size())).ok());
  auto lo = AppendTargetLikelihood(**session, unlikely, &stats);
  ASSERT_TRUE(lo.ok()) << lo.status();
  EXPECT_NEAR(*hi, ExpectedScore(testing::TargetLogits, kVocab12, prompt, likely), 1e-6);
  EXPECT_NEAR(*lo, ExpectedScore(testing::TargetLogits, kVocab12, prompt, unlikely), 1e-6);
  EXPECT_GT(*hi, *lo);
  EXPECT_GT(*lo, 0.0);
  EXPECT_LE(*hi, 1.0);
  EXPECT_EQ(stats.reward.calls, 2);
  EXPECT_EQ(stats.reward.items, 2);
}

// --- RSD --------------------------------------------------------------------

// Token texts: 0 EOS, 1 the delimiter, 2.. letters.
constexpr int32_t kVocab = 8;
constexpr int32_t kEos = 0, kDelim = 1, kX = 2, kY = 3, kZ = 4;
const char* const kTexts[kVocab] = {"", "\n\n", "x", "y", "z", "w", "u", "v"};

class StepVocabulary : public Vocabulary {
 public:
  int32_t vocab_size() const override { return kVocab; }
  bool IsEndOfGeneration(int32_t t) const override { return t == kEos; }
  std::unique_ptr<TokenDecoder> NewDecoder() const override {
    struct D : TokenDecoder {
      std::string Push(int32_t t) override { return kTexts[t]; }
      std::string Flush() override { return {}; }
    };
    return std::make_unique<D>();
  }
};

// A Markov target: after x the delimiter is likely, after anything else x.
void MarkovTarget(std::span<const int32_t> ctx, std::span<float> out) {
  const int32_t last = ctx.empty() ? kEos : ctx.back();
  for (float& v : out) v = -3;
  out[last == kX ? kDelim : kX] = 2;
}

// The draft writes `script` by response position (EOS after it).
LogitsFn ScriptedDraft(std::vector<int32_t> script, size_t prompt_len) {
  return [script = std::move(script), prompt_len](std::span<const int32_t> ctx, std::span<float> out) {
    const size_t i = ctx.size() - prompt_len;
    for (float& v : out) v = -4;
    out[i < script.size() ? script[i] : kEos] = 4;
  };
}

class CountingVerifier : public Verifier {
 public:
  explicit CountingVerifier(Verifier& inner) : inner_(inner) {}
  absl::StatusOr<std::unique_ptr<VerifySession>> Open(std::span<const int32_t> prompt, const SamplingParams& params,
                                                      const VerifyOptions& options) override {
    ++opens;
    return inner_.Open(prompt, params, options);
  }
  int opens = 0;

 private:
  Verifier& inner_;
};

GenerationRequest Request(std::vector<int32_t> prompt, int max_tokens) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling = Greedy();
  r.prompt_text = "Q?";
  return r;
}

TEST(RsdTargetLikelihood, ScoresEachDraftStepOnTheTargetAndKeepsTheLikelyOne) {
  const std::vector<int32_t> prompt = {kY, kZ};
  // Step 1 "x\n\n" is what the target would write; step 2 "yy\n\n" is not.
  FakeLm target_lm(kVocab, MarkovTarget);
  FakeLm draft_lm(kVocab, ScriptedDraft({kX, kDelim, kY, kY, kDelim}, prompt.size()));
  ModelVerifier inner(target_lm);
  CountingVerifier verifier(inner);
  ModelDrafter drafter(draft_lm, [](int32_t t) { return t == kEos; });
  StepVocabulary vocab;
  RsdOptions o;
  o.prm.backend = kTargetLikelihoodBackend;
  o.delta = 0.5;
  o.max_steps = 2;
  o.target_parameters = 1000;
  o.prm_parameters = 7;  // ignored: the target PRM costs the target's weights
  GenerationResult result;
  absl::Status s = RunRsd(Request(prompt, 64), o, drafter, verifier, /*prm=*/nullptr, vocab, nullptr, &result);
  ASSERT_TRUE(s.ok()) << s;

  const double r1 = ExpectedScore(MarkovTarget, kVocab, prompt, {kX, kDelim});
  const double r2 = ExpectedScore(MarkovTarget, kVocab, {kY, kZ, kX, kDelim}, {kY, kY, kDelim});
  ASSERT_EQ(result.stats.rsd.step_rewards.size(), 2u);
  EXPECT_NEAR(result.stats.rsd.step_rewards[0], r1, 1e-6);
  EXPECT_NEAR(result.stats.rsd.step_rewards[1], r2, 1e-6);
  EXPECT_GT(r1, 0.9);   // the oracle agrees the scripted steps are likely / unlikely
  EXPECT_LT(r2, 0.05);
  EXPECT_EQ(result.stats.rsd.steps_accepted, 1);
  EXPECT_EQ(result.stats.rsd.steps_target, 1);
  // The rejected step was rolled back and the target wrote its own.
  EXPECT_EQ(result.tokens, (std::vector<int32_t>{kX, kDelim, kX, kDelim}));
  EXPECT_EQ(result.stats.reward.calls, 2);
  // One target session; no position forwarded twice: prefill (prompt - 1),
  // scoring step 1 (its pending last prompt token + 2), step 2 (3, the
  // prefix cached), the target's step (2), nothing re-prefilled.
  EXPECT_EQ(verifier.opens, 1);
  EXPECT_EQ(target_lm.appended_tokens.load(), 1 + 3 + 3 + 2);
  EXPECT_DOUBLE_EQ(result.stats.flops.prm, 2.0 * 1000 * (2 + 3));
}

TEST(RsdTargetLikelihood, DeltaAboveOneIsTargetOnlyAndZeroIsDraftOnly) {
  const std::vector<int32_t> prompt = {kY, kZ};
  const std::vector<int32_t> script = {kX, kDelim, kY, kY, kDelim, kZ, kDelim};
  for (double delta : {0.0, 1.01}) {
    FakeLm target_lm(kVocab, MarkovTarget);
    FakeLm draft_lm(kVocab, ScriptedDraft(script, prompt.size()));
    ModelVerifier verifier(target_lm);
    ModelDrafter drafter(draft_lm, [](int32_t t) { return t == kEos; });
    StepVocabulary vocab;
    RsdOptions o;
    o.prm.backend = kTargetLikelihoodBackend;
    o.delta = delta;
    o.max_steps = 3;
    GenerationResult result;
    ASSERT_TRUE(RunRsd(Request(prompt, 64), o, drafter, verifier, nullptr, vocab, nullptr, &result).ok());
    if (delta == 0.0) {
      EXPECT_EQ(result.tokens, script);
      EXPECT_EQ(result.stats.rsd.steps_target, 0);
    } else {
      EXPECT_EQ(result.tokens, (std::vector<int32_t>{kX, kDelim, kX, kDelim, kX, kDelim}));
      EXPECT_EQ(result.stats.rsd.steps_accepted, 0);
    }
    EXPECT_EQ(result.stats.rsd.step_rewards.size(), 3u);
  }
}

TEST(RsdTargetLikelihood, OtherBackendsStillNeedAScorer) {
  FakeLm target_lm(kVocab, MarkovTarget);
  FakeLm draft_lm(kVocab, ScriptedDraft({kX, kDelim}, 2));
  ModelVerifier verifier(target_lm);
  ModelDrafter drafter(draft_lm, [](int32_t t) { return t == kEos; });
  StepVocabulary vocab;
  GenerationResult result;
  EXPECT_EQ(RunRsd(Request({kY, kZ}, 8), {}, drafter, verifier, nullptr, vocab, nullptr, &result).code(),
            absl::StatusCode::kFailedPrecondition);
}

// --- CARDS ------------------------------------------------------------------

TEST(CardsTargetLikelihood, EverySegmentIsScoredOnTheTargetSession) {
  FakeLm lm(kVocab12, testing::TargetLogits);
  ModelVerifier verifier(lm);
  testing::FakeVocabulary vocab(kVocab12);
  CardsOptions o;
  o.reward.backend = kTargetLikelihoodBackend;
  o.r_star = -std::numeric_limits<double>::infinity();  // hard: accept every segment
  o.hard = true;
  o.min_segment = 3;
  o.max_segment = 3;
  o.tau_u = 1e6;
  o.stop_at_eos = false;
  o.target_parameters = 500;
  GenerationRequest req = Request({4, 7, 2}, 9);
  req.sampling.seed = 11;
  GenerationResult result;
  absl::Status s = RunCards(req, o, verifier, /*reward=*/nullptr, vocab, nullptr, &result);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(result.tokens.size(), 9u);
  EXPECT_EQ(result.stats.cards.segments_accepted, 3);
  EXPECT_EQ(result.stats.reward.calls, 3);
  // The last segment's score given the prompt and the two segments before it.
  std::vector<int32_t> prefix = req.prompt;
  prefix.insert(prefix.end(), result.tokens.begin(), result.tokens.begin() + 6);
  ASSERT_TRUE(result.stats.reward.final_reward.has_value());
  EXPECT_NEAR(*result.stats.reward.final_reward,
              ExpectedScore(testing::TargetLogits, kVocab12, prefix,
                            std::vector<int32_t>(result.tokens.begin() + 6, result.tokens.end())),
              1e-6);
  EXPECT_DOUBLE_EQ(result.stats.flops.prm, 2.0 * 500 * 9);
}

TEST(CardsTargetLikelihood, UnlikelySegmentsAreRejectedAgainstRStar) {
  // r* = 1.01 is above every score: each segment is rejected max_rejections
  // times and then the best is forced; with r* = 0 (hard) nothing is.
  for (double r_star : {0.0, 1.01}) {
    FakeLm lm(kVocab12, testing::TargetLogits);
    ModelVerifier verifier(lm);
    testing::FakeVocabulary vocab(kVocab12);
    CardsOptions o;
    o.reward.backend = kTargetLikelihoodBackend;
    o.r_star = r_star;
    o.hard = true;
    o.min_segment = 2;
    o.max_segment = 2;
    o.tau_u = 1e6;
    o.max_rejections = 2;
    o.stop_at_eos = false;
    GenerationResult result;
    ASSERT_TRUE(RunCards(Request({4, 7, 2}, 6), o, verifier, nullptr, vocab, nullptr, &result).ok());
    EXPECT_EQ(result.stats.cards.segments_accepted, 3);
    EXPECT_EQ(result.stats.cards.segments_forced, r_star > 1 ? 3 : 0);
    EXPECT_EQ(result.stats.cards.segments_rejected, r_star > 1 ? 3 * 2 : 0);
  }
}

TEST(CardsTargetLikelihood, CalibratedRStarIsAQuantileOfTargetScores) {
  FakeLm lm(kVocab12, testing::TargetLogits);
  ModelVerifier verifier(lm);
  testing::FakeVocabulary vocab(kVocab12);
  CardsOptions o;
  o.reward.backend = kTargetLikelihoodBackend;
  o.r_star_quantile = 0.5;
  o.calibration_samples = 3;
  o.stop_at_eos = false;
  GenerationResult result;
  ASSERT_TRUE(RunCards(Request({4, 7, 2}, 5), o, verifier, nullptr, vocab, nullptr, &result).ok());
  ASSERT_TRUE(result.stats.cards.r_star.has_value());
  EXPECT_GT(*result.stats.cards.r_star, 0.0);
  EXPECT_LE(*result.stats.cards.r_star, 1.0);
}

// --- Registry: selectable per request, no reward scorer needed ----------------

TEST(TargetLikelihoodParams, SelectableForRsdAndCardsWithoutARewardPort) {
  auto rsd = PrepareStrategy("rsd", {{"prm", "target_likelihood"}});
  ASSERT_TRUE(rsd.ok()) << rsd.status();
  EXPECT_FALSE(rsd->needs().reward);
  EXPECT_TRUE(rsd->needs().draft_model);
  auto rsd_judge = PrepareStrategy("rsd", {{"prm", "judge"}});
  ASSERT_TRUE(rsd_judge.ok());
  EXPECT_TRUE(rsd_judge->needs().reward);
  auto cards = PrepareStrategy("cards", {{"reward", "target_likelihood"}, {"r_star", "0.3"}});
  ASSERT_TRUE(cards.ok()) << cards.status();
  EXPECT_FALSE(cards->needs().reward);
  auto bad = PrepareStrategy("cards", {{"reward", "target_likelihood"}, {"reward_options", "model=x"}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("reward_options"), std::string::npos) << bad.status();
  auto bad_rsd = PrepareStrategy("rsd", {{"prm", "target_likelihood"}, {"prm_options", "x=1"}});
  EXPECT_EQ(bad_rsd.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::decoding
