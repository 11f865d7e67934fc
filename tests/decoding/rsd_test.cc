// RSD and draft_only over synthetic models and a scripted PRM: the test
// oracles of the spec (δ = 0 is exactly draft-only, δ above the reward range
// is exactly target-only), step splitting on text including tokens that carry
// text past the delimiter, the stop rules, the ω variants, lazy and
// never-repeated prefills, and the statistics.
#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "decoding/local/model_drafter.h"
#include "decoding/local/model_verifier.h"
#include "decoding/strategies/draft_only/draft_only.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/strategies/rsd/rsd.h"
#include "decoding/strategies/target_only/target_only.h"
#include "tests/decoding/fake_lm.h"

namespace tandem::decoding {
namespace {

using runtime::SamplingParams;
using testing::FakeLm;
using testing::LogitsFn;
using ::testing::ElementsAre;

// Token texts: 0 is EOS, 1 the delimiter alone, 2 a delimiter with text on
// both sides, 3 half a delimiter, 4.. letters.
constexpr int32_t kVocab = 10;
constexpr int32_t kEos = 0, kDelim = 1, kDotDelimNl = 2, kNl = 3, kX = 4, kY = 5, kZ = 6, kW = 7, kU = 8, kV = 9;
const char* const kTexts[kVocab] = {"", "\n\n", ".\n\n\n", "\n", "x", "y", "z", "w", "u", "v"};

class StepVocabulary : public Vocabulary {
 public:
  explicit StepVocabulary(bool with_text = true) : with_text_(with_text) {}
  int32_t vocab_size() const override { return kVocab; }
  bool IsEndOfGeneration(int32_t t) const override { return t == kEos; }
  std::unique_ptr<TokenDecoder> NewDecoder() const override {
    if (!with_text_) return nullptr;
    struct D : TokenDecoder {
      std::string Push(int32_t t) override { return kTexts[t]; }
      std::string Flush() override { return {}; }
    };
    return std::make_unique<D>();
  }

 private:
  bool with_text_;
};

// Logits that make `script[i]` the clear argmax at response position i
// (EOS after the script).
LogitsFn Scripted(std::vector<int32_t> script, size_t prompt_len) {
  return [script = std::move(script), prompt_len](std::span<const int32_t> ctx, std::span<float> out) {
    const size_t i = ctx.size() - prompt_len;
    const int32_t t = i < script.size() ? script[i] : kEos;
    for (float& x : out) x = -4;
    out[t] = 4;
  };
}

// A PRM with a scripted reward per call (or a function of the steps); records
// every call.
class ScriptedPrm : public RewardScorer {
 public:
  std::function<float(const std::vector<std::string>&)> reward = [](const auto&) { return 0.5f; };
  std::vector<std::vector<std::string>> calls;
  std::vector<std::string> questions;
  std::vector<RewardSpec> specs;
  bool wrong_count = false;
  absl::Status fail;

  absl::StatusOr<std::vector<float>> Score(const RewardSpec&, std::span<const RewardItem>) override {
    return absl::UnimplementedError("RSD must use ScoreSteps");
  }
  absl::StatusOr<std::vector<float>> ScoreSteps(const RewardSpec& spec, std::string_view prompt,
                                                std::span<const std::string> steps) override {
    if (!fail.ok()) return fail;
    calls.emplace_back(steps.begin(), steps.end());
    questions.emplace_back(prompt);
    specs.push_back(spec);
    std::vector<float> out(steps.size(), 0.0f);
    out.back() = reward(calls.back());
    if (wrong_count) out.pop_back();
    return out;
  }
  std::vector<std::string> Backends() const override { return {"scripted"}; }
};

// Counts sessions opened (a re-prefill would be a second Open).
class CountingVerifier : public Verifier {
 public:
  explicit CountingVerifier(Verifier& inner) : inner_(inner) {}
  absl::StatusOr<std::unique_ptr<VerifySession>> Open(std::span<const int32_t> prompt,
                                                      const SamplingParams& params,
                                                      const VerifyOptions& options) override {
    ++opens;
    return inner_.Open(prompt, params, options);
  }
  int opens = 0;

 private:
  Verifier& inner_;
};

SamplingParams Greedy() {
  SamplingParams p;
  p.temperature = 0;
  return p;
}

GenerationRequest Request(std::vector<int32_t> prompt, int max_tokens, SamplingParams sampling = Greedy()) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling = sampling;
  r.prompt_text = "Q?";
  return r;
}

struct Pair {
  Pair(LogitsFn target_fn, LogitsFn draft_fn)
      : target_lm(kVocab, std::move(target_fn)), draft_lm(kVocab, std::move(draft_fn)) {}
  FakeLm target_lm, draft_lm;
  ModelVerifier inner_verifier{target_lm};
  CountingVerifier verifier{inner_verifier};
  ModelDrafter drafter{draft_lm, [](int32_t t) { return t == kEos; }};
  StepVocabulary vocab;
  ScriptedPrm prm;

  GenerationResult Rsd(const GenerationRequest& req, RsdOptions o, absl::Status* status = nullptr) {
    GenerationResult result;
    absl::Status s = RunRsd(req, o, drafter, verifier, prm, vocab, nullptr, &result);
    if (status != nullptr) {
      *status = s;
    } else {
      EXPECT_TRUE(s.ok()) << s;
    }
    return result;
  }
  GenerationResult DraftOnly(const GenerationRequest& req) {
    GenerationResult result;
    absl::Status s = RunDraftOnly(req, {}, drafter, vocab, nullptr, &result);
    EXPECT_TRUE(s.ok()) << s;
    return result;
  }
  GenerationResult TargetOnly(const GenerationRequest& req) {
    GenerationResult result;
    absl::Status s = RunTargetOnly(req, inner_verifier, vocab, nullptr, &result);
    EXPECT_TRUE(s.ok()) << s;
    return result;
  }
};

// Content-dependent synthetic models (their greedy runs hit delimiters, the
// half delimiter, letters and EOS).
// The target's EOS is damped so that its runs last several steps.
void ContentTarget(std::span<const int32_t> ctx, std::span<float> out) {
  testing::TargetLogits(ctx, out);
  out[kEos] -= 1.5f;
}
Pair ContentPair() { return Pair(ContentTarget, testing::DraftLogits); }

const std::vector<std::vector<int32_t>> kPrompts = {{4, 5}, {7, 1, 8}, {9, 9, 2, 6}, {3}, {8, 4, 4, 5, 1}};

TEST(Rsd, DeltaZeroIsExactlyDraftOnly) {
  int64_t multi_step_runs = 0;
  for (const auto& prompt : kPrompts) {
    for (int chunk : {1, 3, 8}) {
      Pair m = ContentPair();
      m.prm.reward = [](const auto&) { return 0.0f; };  // the lowest reward still passes δ = 0
      RsdOptions o;
      o.delta = 0;
      o.draft_chunk = chunk;
      const GenerationRequest req = Request(prompt, 40);
      const GenerationResult rsd = m.Rsd(req, o);
      const GenerationResult ref = m.DraftOnly(req);
      EXPECT_EQ(rsd.tokens, ref.tokens) << "chunk " << chunk;
      EXPECT_EQ(rsd.finish_reason, ref.finish_reason);
      EXPECT_EQ(rsd.text, ref.text);
      EXPECT_EQ(m.verifier.opens, 0);  // the target was never needed
      EXPECT_EQ(m.target_lm.appended_tokens, 0);
      EXPECT_EQ(rsd.stats.rsd.steps_target, 0);
      EXPECT_EQ(rsd.stats.rsd.target_step_fraction, 0.0);
      EXPECT_EQ(rsd.stats.rsd.steps_accepted, rsd.stats.rsd.steps);
      EXPECT_GT(rsd.stats.rsd.steps, 0);
      multi_step_runs += rsd.stats.rsd.steps > 2 ? 1 : 0;
    }
  }
  EXPECT_GE(multi_step_runs, 6);  // the content models really make several steps
}

TEST(Rsd, DeltaAboveTheRewardRangeIsExactlyTargetOnly) {
  int64_t multi_step_runs = 0;
  SamplingParams sampled;
  sampled.temperature = 0.8f;
  sampled.seed = 77;
  for (const SamplingParams& sampling : {Greedy(), sampled}) {
    for (const auto& prompt : kPrompts) {
      Pair m = ContentPair();
      m.prm.reward = [](const auto&) { return 1.0f; };  // the highest reward still fails δ = 1.01
      RsdOptions o;
      o.delta = 1.01;
      const GenerationRequest req = Request(prompt, 40, sampling);
      const GenerationResult rsd = m.Rsd(req, o);
      const GenerationResult ref = m.TargetOnly(req);
      EXPECT_EQ(rsd.tokens, ref.tokens) << "temperature " << sampling.temperature;
      EXPECT_EQ(rsd.finish_reason, ref.finish_reason);
      EXPECT_EQ(m.verifier.opens, 1);
      EXPECT_EQ(rsd.stats.rsd.steps_target, rsd.stats.rsd.steps);
      EXPECT_EQ(rsd.stats.rsd.target_step_fraction, 1.0);
      EXPECT_EQ(rsd.stats.rsd.draft_tokens_accepted, 0);
      EXPECT_EQ(rsd.stats.rsd.target_tokens, static_cast<int64_t>(rsd.tokens.size()) +
                                                 (rsd.finish_reason == FinishReason::kEndOfGeneration ? 1 : 0));
      multi_step_runs += rsd.stats.rsd.steps > 2 ? 1 : 0;
    }
  }
  EXPECT_GE(multi_step_runs, 4);
}

// Draft script: "xy\n\n" | "z.\n\n\n" | "\nw\n" "\n" | "x" EOS.
const std::vector<int32_t> kDraftScript = {kX, kY, kDelim, kZ, kDotDelimNl, kW, kNl, kNl, kX, kEos};

TEST(Rsd, StepsAreSplitOnTextAndEosEndsTheGeneration) {
  const std::vector<int32_t> prompt = {8, 9};
  for (int chunk : {1, 2, 4, 16}) {
    Pair m(Scripted({kW}, 2), Scripted(kDraftScript, 2));
    m.prm.reward = [](const auto&) { return 0.75f; };
    RsdOptions o;
    o.draft_chunk = chunk;
    const GenerationResult r = m.Rsd(Request(prompt, 100), o);
    ASSERT_EQ(m.prm.calls.size(), 4u) << "chunk " << chunk;
    EXPECT_THAT(m.prm.calls[0], ElementsAre("xy"));
    EXPECT_THAT(m.prm.calls[1], ElementsAre("xy", "z."));
    // The "\n" after the delimiter inside ".\n\n\n" starts the next step.
    EXPECT_THAT(m.prm.calls[2], ElementsAre("xy", "z.", "\nw"));
    EXPECT_THAT(m.prm.calls[3], ElementsAre("xy", "z.", "\nw", "x"));
    EXPECT_EQ(m.prm.questions[0], "Q?");
    EXPECT_EQ(m.prm.specs[0].options.at("delimiter"), "\n\n");
    EXPECT_EQ(r.finish_reason, FinishReason::kEndOfGeneration);
    EXPECT_EQ(r.tokens, std::vector<int32_t>(kDraftScript.begin(), kDraftScript.end() - 1));
    EXPECT_EQ(r.stats.rsd.steps, 4);
    EXPECT_EQ(r.stats.rsd.draft_tokens_accepted, 10);
    EXPECT_THAT(r.stats.rsd.step_rewards, ElementsAre(0.75, 0.75, 0.75, 0.75));
    EXPECT_EQ(m.verifier.opens, 0);
  }
}

TEST(Rsd, RejectedStepIsWrittenByTheTargetAndTheDraftContinuesFromIt) {
  // Both scripts are positional. The draft's step 2 "zzz" is rejected; the
  // target writes "ww" there; the draft goes on from position 6 of its own
  // script ("\n\n", then "x\n\n", then EOS), which it can only do if its
  // session holds exactly prompt + "xy\n\n" + "ww\n\n".
  const std::vector<int32_t> prompt = {8, 9};
  for (int chunk : {1, 2, 5}) {
    Pair m(Scripted({kU, kU, kU, kW, kW, kDelim, kU}, 2),
           Scripted({kX, kY, kDelim, kZ, kZ, kZ, kDelim, kX, kDelim, kEos}, 2));
    m.prm.reward = [](const std::vector<std::string>& steps) { return steps.back() == "zzz" ? 0.25f : 0.75f; };
    RsdOptions o;
    o.draft_chunk = chunk;
    const GenerationResult r = m.Rsd(Request(prompt, 100), o);
    EXPECT_EQ(r.tokens, (std::vector<int32_t>{kX, kY, kDelim, kW, kW, kDelim, kDelim, kX, kDelim})) << chunk;
    EXPECT_EQ(r.finish_reason, FinishReason::kEndOfGeneration);
    ASSERT_EQ(m.prm.calls.size(), 5u);
    EXPECT_THAT(m.prm.calls[1], ElementsAre("xy", "zzz"));
    EXPECT_THAT(m.prm.calls[2], ElementsAre("xy", "ww", ""));  // the PRM sees the target's step
    EXPECT_THAT(m.prm.calls[4], ElementsAre("xy", "ww", "", "x", ""));  // the EOS-only step
    EXPECT_EQ(r.stats.rsd.steps, 5);
    EXPECT_EQ(r.stats.rsd.steps_drafted, 5);
    EXPECT_EQ(r.stats.rsd.steps_accepted, 4);
    EXPECT_EQ(r.stats.rsd.steps_target, 1);
    EXPECT_EQ(r.stats.rsd.target_tokens, 3);
    EXPECT_DOUBLE_EQ(r.stats.rsd.target_step_fraction, 0.2);
    EXPECT_EQ(r.stats.rsd.draft_tokens_accepted, 3 + 1 + 2 + 1);
    // Exactly the rejected step "zzz\n\n": tokens drafted past a kept step's
    // end (chunk > 1) are not a rejection.
    EXPECT_EQ(r.stats.rsd.draft_tokens_discarded, 4);
    EXPECT_EQ(r.stats.speculation.drafted_tokens, r.stats.rsd.draft_tokens_accepted + r.stats.rsd.draft_tokens_discarded);
    EXPECT_EQ(m.verifier.opens, 1);
  }
}

TEST(Rsd, MaxTokensCapsTheStep) {
  Pair m(Scripted({kW}, 2), Scripted(kDraftScript, 2));
  m.prm.reward = [](const auto&) { return 0.75f; };
  const GenerationResult r = m.Rsd(Request({8, 9}, 5), {});
  EXPECT_EQ(r.finish_reason, FinishReason::kLength);
  EXPECT_EQ(r.tokens, std::vector<int32_t>(kDraftScript.begin(), kDraftScript.begin() + 5));
  ASSERT_EQ(m.prm.calls.size(), 2u);
  EXPECT_THAT(m.prm.calls[1], ElementsAre("xy", "z."));  // the capped step is scored as it is
}

TEST(Rsd, MaxStepsStopsWithLength) {
  Pair m(Scripted({kW}, 2), Scripted(kDraftScript, 2));
  m.prm.reward = [](const auto&) { return 0.75f; };
  RsdOptions o;
  o.max_steps = 2;
  const GenerationResult r = m.Rsd(Request({8, 9}, 100), o);
  EXPECT_EQ(r.finish_reason, FinishReason::kLength);
  EXPECT_EQ(r.stats.rsd.steps, 2);
  EXPECT_EQ(r.tokens, std::vector<int32_t>(kDraftScript.begin(), kDraftScript.begin() + 5));
}

// A draft step cut by step_max_tokens is unfinished: the PRM (which closes
// every step with the delimiter) never scores it, even at δ = 0 where any
// score keeps it; the target writes that step. A target step cut there has no
// delimiter either, so its text goes on into the next step's text.
TEST(Rsd, AStepCutByStepMaxTokensIsNeverScoredAsComplete) {
  // Positional scripts. Step 1: draft "xyz" cut -> target "www" cut. Step 2:
  // draft (from position 3) "xyz" cut -> target "u\n\n", the step "wwwu".
  // Step 3: draft "zx\n\n" scored and kept. Step 4: draft EOS.
  Pair m(Scripted({kW, kW, kW, kU, kDelim, kV, kV, kV, kV}, 2),
         Scripted({kX, kY, kZ, kX, kY, kZ, kX, kDelim, kEos}, 2));
  RsdOptions o;
  o.step_max_tokens = 3;
  o.delta = 0;
  const GenerationResult r = m.Rsd(Request({8, 9}, 100), o);
  EXPECT_EQ(r.tokens, (std::vector<int32_t>{kW, kW, kW, kU, kDelim, kZ, kX, kDelim}));
  EXPECT_EQ(r.finish_reason, FinishReason::kEndOfGeneration);
  ASSERT_EQ(m.prm.calls.size(), 2u);
  EXPECT_THAT(m.prm.calls[0], ElementsAre("wwwu", "zx"));
  EXPECT_THAT(m.prm.calls[1], ElementsAre("wwwu", "zx", ""));
  EXPECT_EQ(r.stats.rsd.steps_drafted, 2);  // scored draft steps only
  EXPECT_EQ(r.stats.rsd.step_rewards.size(), 2u);
  EXPECT_EQ(r.stats.rsd.steps_target, 2);
  EXPECT_EQ(r.stats.rsd.steps_accepted, 2);
  EXPECT_EQ(r.stats.rsd.draft_tokens_discarded, 6);  // the two cut steps
  EXPECT_EQ(r.stats.rsd.draft_tokens_accepted, 4);   // "zx\n\n" and EOS
}

TEST(Rsd, TargetStepStopsAtEosAndMaxTokens) {
  // Every step is rejected; the target script ends with EOS inside a step.
  Pair m(Scripted({kW, kDelim, kW, kW, kEos}, 2), Scripted({kX, kX, kX, kX, kX, kX, kX, kX}, 2));
  m.prm.reward = [](const auto&) { return 0.0f; };
  const GenerationResult r = m.Rsd(Request({8, 9}, 100), {});
  EXPECT_EQ(r.tokens, (std::vector<int32_t>{kW, kDelim, kW, kW}));
  EXPECT_EQ(r.finish_reason, FinishReason::kEndOfGeneration);
  EXPECT_EQ(r.stats.rsd.steps_target, 2);

  Pair capped(Scripted({kW, kW, kW, kW, kW, kW}, 2), Scripted({kX, kX, kX, kX, kX, kX, kX, kX}, 2));
  capped.prm.reward = [](const auto&) { return 0.0f; };
  const GenerationResult c = capped.Rsd(Request({8, 9}, 4), {});
  EXPECT_EQ(c.tokens, (std::vector<int32_t>{kW, kW, kW, kW}));
  EXPECT_EQ(c.finish_reason, FinishReason::kLength);
}

// Alternating accept/reject on the content models: each model's positions are
// computed once (no re-prefill), the target is opened once, and the FLOPs
// estimate counts exactly the target positions the fake computed.
TEST(Rsd, SessionsAreNeverPrefilledTwice) {
  int64_t target_steps = 0, kept_steps = 0;
  for (const auto& prompt : kPrompts) {
    std::vector<std::vector<int32_t>> target_contexts;
    Pair m([&target_contexts](std::span<const int32_t> ctx, std::span<float> out) {
      target_contexts.emplace_back(ctx.begin(), ctx.end());
      ContentTarget(ctx, out);
    }, testing::DraftLogits);
    int call = 0;
    m.prm.reward = [&call](const auto&) { return (call++ % 3 == 1) ? 0.1f : 0.9f; };
    RsdOptions o;
    o.target_parameters = 1000;
    o.draft_parameters = 100;
    o.prm_parameters = 10;
    o.draft_chunk = 3;
    const GenerationRequest req = Request(prompt, 60);
    const GenerationResult r = m.Rsd(req, o);
    const int64_t response = static_cast<int64_t>(r.tokens.size()) +
                             (r.finish_reason == FinishReason::kEndOfGeneration ? 1 : 0);
    EXPECT_LE(m.verifier.opens, 1);
    // Every context the target computed a row for is a prefix of the final
    // sequence: it saw exactly the committed text, kept draft steps included.
    std::vector<int32_t> full = prompt;
    full.insert(full.end(), r.tokens.begin(), r.tokens.end());
    if (r.finish_reason == FinishReason::kEndOfGeneration) full.push_back(kEos);
    for (const auto& ctx : target_contexts) {
      ASSERT_LE(ctx.size(), full.size());
      EXPECT_TRUE(std::equal(ctx.begin(), ctx.end(), full.begin()));
    }
    target_steps += r.stats.rsd.steps_target;
    kept_steps += r.stats.rsd.steps_accepted;
    // Target: at most prompt + response positions, each once.
    EXPECT_LE(m.target_lm.appended_tokens, static_cast<int64_t>(prompt.size()) + response);
    if (m.verifier.opens == 1) {
      EXPECT_DOUBLE_EQ(r.stats.flops.target, 2.0 * 1000 * (m.target_lm.appended_tokens + 1));
    }
    // Draft: its positions plus what it drafted and threw away (rejected
    // steps and tokens drafted past a step's end), all charged to its FLOPs.
    EXPECT_GE(static_cast<int64_t>(r.stats.flops.draft / (2.0 * 100)),
              static_cast<int64_t>(prompt.size()) + response - r.stats.rsd.target_tokens +
                  r.stats.rsd.draft_tokens_discarded);
    EXPECT_GE(r.stats.flops.draft, 2.0 * 100 * m.draft_lm.appended_tokens);
    EXPECT_GT(r.stats.flops.prm, 0);
    EXPECT_DOUBLE_EQ(r.stats.flops.total(), r.stats.flops.draft + r.stats.flops.target + r.stats.flops.prm);
  }
  // The scenario exercises both kinds of step.
  EXPECT_GT(target_steps, 2);
  EXPECT_GT(kept_steps, 2);
}

TEST(Rsd, PrmFlopsChargeTheFullPrefixPerScoredStep) {
  Pair m(Scripted({kW}, 2), Scripted(kDraftScript, 2));
  m.prm.reward = [](const auto&) { return 0.75f; };
  RsdOptions o;
  o.prm_parameters = 1;
  const GenerationResult r = m.Rsd(Request({8, 9}, 100), o);
  // Steps end at response lengths 3, 5, 8, 10; each charges prompt (2) + that.
  EXPECT_DOUBLE_EQ(r.stats.flops.prm, 2.0 * ((2 + 3) + (2 + 5) + (2 + 8) + (2 + 10)));
  EXPECT_EQ(r.stats.flops.target, 0);
}

TEST(RsdOmega, Weights) {
  RsdOptions o;
  o.delta = 0.6;
  EXPECT_EQ(RsdOmegaWeight(o, 0.6), 1.0);
  EXPECT_EQ(RsdOmegaWeight(o, 0.59), 0.0);
  o.omega = RsdOmega::kConstant;
  o.omega_constant = 0.3;
  EXPECT_EQ(RsdOmegaWeight(o, 0.99), 0.3);
  o.omega = RsdOmega::kClipping;
  EXPECT_EQ(RsdOmegaWeight(o, 1.7), 1.0);
  EXPECT_EQ(RsdOmegaWeight(o, -0.2), 0.0);
  EXPECT_DOUBLE_EQ(RsdOmegaWeight(o, 0.42), 0.42);
  o.omega = RsdOmega::kSigmoidal;
  EXPECT_DOUBLE_EQ(RsdOmegaWeight(o, 1.0), 0.5);
  EXPECT_DOUBLE_EQ(RsdOmegaWeight(o, 3.0), 0.75);
  o.omega = RsdOmega::kLogistic;
  o.logistic_alpha = 4;
  EXPECT_DOUBLE_EQ(RsdOmegaWeight(o, 0.6), 0.5);
  EXPECT_DOUBLE_EQ(RsdOmegaWeight(o, 1.1), 1.0 / (1.0 + std::exp(-2.0)));
  RsdOmega parsed;
  EXPECT_TRUE(ParseRsdOmega("sigmoidal", &parsed).ok());
  EXPECT_EQ(parsed, RsdOmega::kSigmoidal);
  EXPECT_EQ(ParseRsdOmega("step", &parsed).code(), absl::StatusCode::kInvalidArgument);
}

// Stochastic ω keeps a step with probability ω(r): with constant p the kept
// fraction over many steps is near p (seeded, so deterministic), and changes
// with the seed; deterministic ω(r) >= δ keeps all or nothing.
TEST(RsdOmega, StochasticAcceptanceFollowsOmega) {
  std::vector<int32_t> script;
  for (int i = 0; i < 400; ++i) script.insert(script.end(), {kX, kDelim});
  auto kept = [&](std::optional<bool> stochastic, double p, uint64_t seed, RsdOmega omega = RsdOmega::kConstant,
                  float reward = 0.5f) {
    Pair m(Scripted(std::vector<int32_t>(800, kDelim), 1), Scripted(script, 1));
    m.prm.reward = [reward](const auto&) { return reward; };
    RsdOptions o;
    o.omega = omega;
    o.omega_constant = p;
    o.stochastic = stochastic;
    o.delta = 0.5;
    o.max_steps = 400;
    SamplingParams s = Greedy();
    s.seed = seed;
    const GenerationResult r = m.Rsd(Request({9}, 800, s), o);
    EXPECT_EQ(r.stats.rsd.steps_drafted, 400);
    return r.stats.rsd.steps_accepted;
  };
  const int64_t a = kept(true, 0.3, 1);
  EXPECT_NEAR(a, 120, 5 * std::sqrt(400 * 0.3 * 0.7));
  EXPECT_NE(a, kept(true, 0.3, 2));  // a different seed draws differently
  // A non-binary ω is stochastic by default: the same draws as true.
  EXPECT_EQ(kept(std::nullopt, 0.3, 1), a);
  // Sigmoidal ω with rewards in [0, 1] stays <= 0.5, below the default
  // δ = 0.7: thresholded it would never keep a step (silently target-only);
  // by default it keeps about ω(1) = 0.5 of them.
  const int64_t sigmoidal = kept(std::nullopt, 0, 1, RsdOmega::kSigmoidal, 1.0f);
  EXPECT_NEAR(sigmoidal, 200, 5 * std::sqrt(400 * 0.25));
}

// Thresholding a non-binary ω is rejected with a clear error, through the
// strategy's parameters too; binary ω is deterministic unless asked.
TEST(RsdOmega, ThresholdedNonBinaryOmegaIsInvalidArgument) {
  for (RsdOmega omega : {RsdOmega::kConstant, RsdOmega::kClipping, RsdOmega::kSigmoidal, RsdOmega::kLogistic}) {
    RsdOptions o;
    o.omega = omega;
    o.stochastic = false;
    const absl::Status s = ValidateRsdOptions(o);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("stochastic"));
    o.stochastic = std::nullopt;
    EXPECT_TRUE(ValidateRsdOptions(o).ok());
  }
  RsdOptions binary;
  binary.stochastic = false;
  EXPECT_TRUE(ValidateRsdOptions(binary).ok());

  const StrategyDefinition* rsd = FindStrategy("rsd");
  ASSERT_NE(rsd, nullptr);
  auto bad = rsd->Prepare({{"omega", "sigmoidal"}, {"stochastic", "false"}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), ::testing::HasSubstr("stochastic"));
  auto good = rsd->Prepare({{"omega", "sigmoidal"}});
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_FALSE(good->options<RsdOptions>().stochastic.has_value());
  auto forced = rsd->Prepare({{"omega", "binary"}, {"stochastic", "true"}});
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_EQ(forced->options<RsdOptions>().stochastic, true);
}

TEST(Rsd, BadOptionsAndPortsAreReported) {
  Pair m = ContentPair();
  absl::Status s;
  RsdOptions o;
  o.draft_chunk = 0;
  m.Rsd(Request({4}, 10), o, &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("draft_chunk"));
  o = {};
  o.delimiter = "";
  m.Rsd(Request({4}, 10), o, &s);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("delimiter"));
  o = {};
  o.omega_constant = 2;
  m.Rsd(Request({4}, 10), o, &s);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("omega_constant"));

  // No detokenizer: steps cannot be found.
  StepVocabulary no_text(false);
  GenerationResult result;
  s = RunRsd(Request({4}, 10), {}, m.drafter, m.verifier, m.prm, no_text, nullptr, &result);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);

  // PRM errors propagate; a PRM answering the wrong number of rewards is caught.
  m.prm.fail = absl::UnavailableError("reward service down");
  m.Rsd(Request({4}, 10), {}, &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  m.prm.fail = absl::OkStatus();
  m.prm.wrong_count = true;
  m.Rsd(Request({4}, 10), {}, &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
}

TEST(Rsd, ExplicitPrmDelimiterOptionWins) {
  Pair m(Scripted({kW}, 2), Scripted(kDraftScript, 2));
  RsdOptions o;
  o.prm.backend = "judge";
  o.prm.options["delimiter"] = "<sep>";
  o.max_steps = 1;
  m.Rsd(Request({8, 9}, 100), o);
  ASSERT_EQ(m.prm.specs.size(), 1u);
  EXPECT_EQ(m.prm.specs[0].backend, "judge");
  EXPECT_EQ(m.prm.specs[0].options.at("delimiter"), "<sep>");
}

TEST(Rsd, CancellationAbortsBetweenAndInsideSteps) {
  for (float reward : {0.75f, 0.25f}) {  // cancelled before a kept step / inside a target step
    Pair m(Scripted({kW, kW, kW, kW, kW, kW, kW, kW, kW, kDelim}, 2), Scripted(kDraftScript, 2));
    std::atomic<bool> cancelled{false};
    m.prm.reward = [&](const std::vector<std::string>& steps) {
      if (steps.size() == 2) cancelled = true;
      return reward;
    };
    GenerationRequest req = Request({8, 9}, 100);
    req.cancelled = &cancelled;
    const GenerationResult r = m.Rsd(req, {});
    EXPECT_EQ(r.finish_reason, FinishReason::kAborted);
    EXPECT_LE(r.stats.rsd.steps, 2);
  }
}

TEST(DraftOnly, ContextFullEndsWithContextLength) {
  FakeLm draft(kVocab, Scripted(std::vector<int32_t>(100, kX), 2), /*max_context=*/12);
  ModelDrafter drafter(draft);
  StepVocabulary vocab;
  GenerationResult r;
  DraftOnlyOptions o;
  o.chunk = 4;
  o.draft_parameters = 10;
  ASSERT_TRUE(RunDraftOnly(Request({8, 9}, 100), o, drafter, vocab, nullptr, &r).ok());
  EXPECT_EQ(r.finish_reason, FinishReason::kContextLength);
  EXPECT_EQ(r.tokens, std::vector<int32_t>(r.tokens.size(), kX));
  EXPECT_GE(r.tokens.size(), 9u);
  EXPECT_EQ(r.stats.strategy, "draft_only");
  EXPECT_DOUBLE_EQ(r.stats.flops.draft, 2.0 * 10 * (2 + static_cast<double>(r.stats.generated_tokens)));
  o.chunk = 65;
  EXPECT_EQ(RunDraftOnly(Request({8, 9}, 100), o, drafter, vocab, nullptr, &r).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::decoding
