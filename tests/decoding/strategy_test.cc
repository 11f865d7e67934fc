// Strategies end to end over synthetic models: the in-process drafter and
// verifier (local/) on FakeLm, plus scripted ports for exact accounting.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/sampling/sampler.h"
#include "decoding/drafters/ngram_drafter.h"
#include "decoding/local/model_drafter.h"
#include "decoding/local/model_verifier.h"
#include "decoding/strategies/speculative/speculative.h"
#include "decoding/strategies/target_only/target_only.h"
#include "tests/decoding/fake_lm.h"
#include "tests/runtime/sampling/chi_square.h"

namespace tandem::decoding {
namespace {

using runtime::Distribution;
using runtime::SamplingParams;
using testing::FakeLm;
using testing::FakeVocabulary;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

constexpr int32_t kVocab = 8;
bool IsEos(int32_t t) { return t == 0; }

struct Models {
  FakeLm target{kVocab, testing::TargetLogits};
  FakeLm twin{kVocab, testing::TargetLogits};  // same function as the target
  FakeLm draft{kVocab, testing::DraftLogits};
  FakeLm contrary{kVocab, [](std::span<const int32_t> c, std::span<float> out) {
                    testing::TargetLogits(c, out);
                    for (float& x : out) x = -x;  // greedy: the target's least likely token
                  }};
  FakeVocabulary vocab{kVocab};
  ModelVerifier verifier{target};
  ModelDrafter draft_drafter{draft, IsEos};
  ModelDrafter twin_drafter{twin, IsEos};
  ModelDrafter contrary_drafter{contrary, IsEos};
  NgramDrafter ngram{{.vocab_size = kVocab, .max_ngram = 3, .min_ngram = 1,
                      .is_end_of_generation = IsEos}};
};

GenerationResult Generate(const GenerationRequest& req, Verifier& verifier, Drafter* drafter,
                          const Vocabulary& vocab, std::string* streamed = nullptr, bool overlap = false,
                          int staged_ngram = 0, float q_tail_mass = 0.0f) {
  GenerationResult result;
  StreamCallback cb = [&](const StreamChunk& c) {
    if (streamed != nullptr) streamed->append(c.text);
    return absl::OkStatus();
  };
  absl::Status s = drafter == nullptr ? RunTargetOnly(req, verifier, vocab, cb, &result)
                                      : RunSpeculative(req, *drafter, verifier, vocab, cb, &result, nullptr,
                                                       RoundOptions{.overlap = overlap,
                                                                    .staged_ngram = staged_ngram,
                                                                    .q_tail_mass = q_tail_mass});
  EXPECT_TRUE(s.ok()) << s;
  return result;
}

std::vector<std::vector<int32_t>> Prompts(int count) {
  runtime::Rng rng(99);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < count; ++i) {
    std::vector<int32_t> p(1 + rng.NextU64() % 8);
    for (int32_t& t : p) t = 1 + static_cast<int32_t>(rng.NextU64() % (kVocab - 1));
    prompts.push_back(p);
  }
  return prompts;
}

// log softmax(logits)[token] in double: the model's own distribution.
double RawLogprob(const std::vector<float>& logits, int32_t token) {
  const double m = *std::max_element(logits.begin(), logits.end());
  double z = 0;
  for (float l : logits) z += std::exp(static_cast<double>(l) - m);
  return static_cast<double>(logits[token]) - m - std::log(z);
}

// Every history-dependent processor at once, with a bias that favours one
// token and disfavours another: the verifier must process each row with the
// history it follows (drafted tokens included) and the drafter likewise.
void PenalizeAndBias(SamplingParams& s) {
  s.repetition_penalty = 1.3f;
  s.presence_penalty = 0.7f;
  s.frequency_penalty = 0.4f;
  s.repetition_window = 5;
  s.logit_bias = {{2, 1.5f}, {5, -2.0f}};
}

TEST(Speculative, GreedyMatchesTargetOnly) {
  Models m;
  int compared = 0, eos_endings = 0;
  for (const auto& prompt : Prompts(25)) {
    GenerationRequest req{.prompt = prompt, .max_tokens = 24};
    req.sampling.temperature = 0;
    GenerationResult base = Generate(req, m.verifier, nullptr, m.vocab);
    eos_endings += base.finish_reason == FinishReason::kEndOfGeneration;
    for (Drafter* d : std::initializer_list<Drafter*>{&m.draft_drafter, &m.twin_drafter, &m.ngram,
                                                      &m.contrary_drafter}) {
      for (int gamma : {1, 2, 3, 5, 8}) {
        for (bool adaptive : {false, true}) {
          for (bool overlap : {false, true}) {
            req.gamma = {.gamma = gamma, .adaptive = adaptive, .max_gamma = 8};
            GenerationResult spec = Generate(req, m.verifier, d, m.vocab, nullptr, overlap);
            ASSERT_EQ(spec.tokens, base.tokens) << d->name() << " gamma " << gamma << " overlap " << overlap;
            ASSERT_EQ(spec.finish_reason, base.finish_reason);
            if (d == &m.twin_drafter) {
              EXPECT_EQ(spec.stats.speculation.accepted_tokens, spec.stats.speculation.drafted_tokens);
            }
            ++compared;
          }
        }
      }
    }
  }
  EXPECT_EQ(compared, 25 * 4 * 5 * 2 * 2);
  EXPECT_GT(eos_endings, 0);  // both stop conditions are exercised
  EXPECT_LT(eos_endings, 25);
}

// Greedy over logits edited by a bias and the history-dependent penalties:
// speculation decides every token on the row target-only decides it on.
TEST(Speculative, GreedyWithPenaltiesAndLogitBiasMatchesTargetOnly) {
  Models m;
  int differs_from_plain = 0;
  for (const auto& prompt : Prompts(10)) {
    GenerationRequest req{.prompt = prompt, .max_tokens = 24};
    req.sampling.temperature = 0;
    const GenerationResult plain = Generate(req, m.verifier, nullptr, m.vocab);
    PenalizeAndBias(req.sampling);
    const GenerationResult base = Generate(req, m.verifier, nullptr, m.vocab);
    differs_from_plain += base.tokens != plain.tokens;
    for (Drafter* d : std::initializer_list<Drafter*>{&m.draft_drafter, &m.twin_drafter, &m.ngram}) {
      for (int gamma : {1, 3, 5}) {
        for (bool overlap : {false, true}) {
          req.gamma = {.gamma = gamma, .adaptive = false, .max_gamma = 8};
          GenerationResult spec = Generate(req, m.verifier, d, m.vocab, nullptr, overlap);
          ASSERT_EQ(spec.tokens, base.tokens) << d->name() << " gamma " << gamma << " overlap " << overlap;
          ASSERT_EQ(spec.finish_reason, base.finish_reason);
          if (d == &m.twin_drafter) {
            // The twin processes its rows exactly as the target does.
            EXPECT_EQ(spec.stats.speculation.accepted_tokens, spec.stats.speculation.drafted_tokens);
          }
        }
      }
    }
  }
  EXPECT_GT(differs_from_plain, 0);  // the edits do change the greedy output
}

// Logprobs come with every emitted token, in the result and in the stream,
// and greedy speculation reports exactly target-only's: the same tokens
// decided on the same rows.
TEST(Speculative, LogprobsOfEveryTokenMatchTargetOnly) {
  Models m;
  for (const auto& prompt : Prompts(6)) {
    for (float temperature : {0.0f, 0.8f}) {
      GenerationRequest req{.prompt = prompt, .max_tokens = 16};
      req.sampling.temperature = temperature;
      req.sampling.seed = 5;
      req.logprobs = true;
      req.top_logprobs = 2;
      req.gamma = {.gamma = 3};
      std::vector<float> streamed;
      size_t streamed_tops = 0;
      StreamCallback cb = [&](const StreamChunk& c) {
        EXPECT_EQ(c.logprobs.size(), c.tokens.size());
        EXPECT_EQ(c.top_logprobs.size(), c.tokens.size());
        streamed.insert(streamed.end(), c.logprobs.begin(), c.logprobs.end());
        streamed_tops += c.top_logprobs.size();
        return absl::OkStatus();
      };
      GenerationResult base, spec;
      ASSERT_TRUE(RunTargetOnly(req, m.verifier, m.vocab, cb, &base).ok());
      EXPECT_EQ(streamed, base.logprobs);
      streamed.clear();
      streamed_tops = 0;
      ASSERT_TRUE(RunSpeculative(req, m.draft_drafter, m.verifier, m.vocab, cb, &spec).ok());
      EXPECT_EQ(streamed, spec.logprobs);
      EXPECT_EQ(streamed_tops, spec.tokens.size());
      for (const GenerationResult* r : {&base, &spec}) {
        ASSERT_EQ(r->logprobs.size(), r->tokens.size());
        ASSERT_EQ(r->top_logprobs.size(), r->tokens.size());
        std::vector<int32_t> context = prompt;
        std::vector<float> logits(kVocab);
        for (size_t i = 0; i < r->tokens.size(); ++i) {
          m.target.Logits(context, logits);
          EXPECT_NEAR(r->logprobs[i], RawLogprob(logits, r->tokens[i]), 1e-5) << i;
          ASSERT_EQ(r->top_logprobs[i].size(), 2u);
          EXPECT_GE(r->top_logprobs[i][0].logprob, r->logprobs[i]);
          context.push_back(r->tokens[i]);
        }
      }
      if (temperature == 0.0f) {
        EXPECT_EQ(spec.tokens, base.tokens);
        EXPECT_EQ(spec.logprobs, base.logprobs);
        EXPECT_EQ(spec.top_logprobs, base.top_logprobs);
      }
    }
  }
}

// Staged speculation (the draft model sped up by prompt lookup) leaves greedy
// output the target's, and a greedy draft model drafts the same tokens with
// and without it (its forwards differ, its choices do not): same acceptance,
// fewer draft forwards where the lookup guessed right.
TEST(Speculative, StagedDraftingKeepsOutputAndDraftsTheSameTokens) {
  Models m;
  int compared = 0;
  int64_t forwards_plain = 0, forwards_staged = 0;
  for (const auto& prompt : Prompts(25)) {
    GenerationRequest req{.prompt = prompt, .max_tokens = 24};
    req.sampling.temperature = 0;
    GenerationResult base = Generate(req, m.verifier, nullptr, m.vocab);
    for (Drafter* d : std::initializer_list<Drafter*>{&m.draft_drafter, &m.twin_drafter}) {
      FakeLm& lm = d == &m.draft_drafter ? m.draft : m.twin;
      for (int gamma : {1, 3, 5, 8}) {
        req.gamma = {.gamma = gamma};
        const int64_t a0 = lm.appends;
        GenerationResult plain = Generate(req, m.verifier, d, m.vocab);
        const int64_t a1 = lm.appends;
        for (int staged : {1, 2, 4}) {
          const int64_t b0 = lm.appends;
          GenerationResult spec = Generate(req, m.verifier, d, m.vocab, nullptr, false, staged);
          if (staged == 4) forwards_staged += lm.appends - b0;
          ASSERT_EQ(spec.tokens, base.tokens) << d->name() << " gamma " << gamma << " staged " << staged;
          ASSERT_EQ(spec.finish_reason, base.finish_reason);
          EXPECT_EQ(spec.stats.speculation.drafted_tokens, plain.stats.speculation.drafted_tokens);
          EXPECT_EQ(spec.stats.speculation.accepted_tokens, plain.stats.speculation.accepted_tokens);
          // With overlap the optimistic next block is drafted staged too.
          GenerationResult both = Generate(req, m.verifier, d, m.vocab, nullptr, true, staged);
          ASSERT_EQ(both.tokens, base.tokens) << d->name() << " gamma " << gamma << " staged " << staged << " overlap";
          ++compared;
        }
        forwards_plain += a1 - a0;
      }
    }
  }
  EXPECT_EQ(compared, 25 * 2 * 4 * 3);
  EXPECT_LT(forwards_staged, forwards_plain);
  std::printf("draft forwards: %lld plain, %lld staged (4 guesses)\n", static_cast<long long>(forwards_plain),
              static_cast<long long>(forwards_staged));
}

// Overlap with a drafter that always agrees with the target (greedy): every
// guess holds, so each proposal after the first comes from the optimistic
// Propose made during the previous verification: about one Propose per
// round. With a drafter that always disagrees, every guess fails and is
// rolled back (truncate_to): two Proposes per round. Output is the target's
// in both.
TEST(Speculative, OverlapReusesOptimisticDraftsAndRollsBackWrongOnes) {
  Models m;
  GenerationRequest req{.prompt = {1, 2, 3}, .max_tokens = 40, .gamma = {.gamma = 3}};
  req.sampling.temperature = 0;
  GenerationResult base = Generate(req, m.verifier, nullptr, m.vocab);
  ASSERT_GE(base.tokens.size(), 10u);
  GenerationResult twin = Generate(req, m.verifier, &m.twin_drafter, m.vocab, nullptr, true);
  ASSERT_EQ(twin.tokens, base.tokens);
  EXPECT_LE(twin.stats.draft_calls, twin.stats.target_calls + 1);
  EXPECT_EQ(twin.stats.speculation.accepted_tokens, twin.stats.speculation.drafted_tokens);
  GenerationResult contrary = Generate(req, m.verifier, &m.contrary_drafter, m.vocab, nullptr, true);
  ASSERT_EQ(contrary.tokens, base.tokens);
  EXPECT_GT(contrary.stats.draft_calls, contrary.stats.target_calls);
  EXPECT_EQ(contrary.stats.speculation.accepted_tokens, 0);
}

TEST(Speculative, TwinDrafterNeedsFewerTargetCalls) {
  Models m;
  GenerationRequest req{.prompt = {1, 2, 3}, .max_tokens = 24, .gamma = {.gamma = 4}};
  req.sampling.temperature = 0;
  GenerationResult base = Generate(req, m.verifier, nullptr, m.vocab);
  GenerationResult spec = Generate(req, m.verifier, &m.twin_drafter, m.vocab);
  ASSERT_EQ(spec.tokens, base.tokens);
  EXPECT_EQ(base.stats.target_calls, static_cast<int64_t>(base.tokens.size()) +
                                         (base.finish_reason == FinishReason::kEndOfGeneration));
  // Every round accepts all 4 drafts and adds a bonus token: 5 tokens per call.
  EXPECT_LE(spec.stats.target_calls, (base.stats.target_calls + 4) / 5 + 1);
}

// --- Distribution tests -----------------------------------------------------

using Sequence = std::vector<int32_t>;  // emitted tokens, then 0 if it ended with EOS

// Exact probabilities of every emitted sequence under target-only sampling,
// by enumeration with the same Sampler the verifier uses.
std::map<Sequence, double> ExactSequences(FakeLm& lm, const SamplingParams& params,
                                          const Sequence& prompt, int max_tokens) {
  std::map<Sequence, double> out;
  runtime::Sampler sampler(params);
  std::function<void(Sequence&, Sequence&, double)> walk = [&](Sequence& ctx, Sequence& emitted,
                                                               double prob) {
    std::vector<float> logits(kVocab);
    lm.Logits(ctx, logits);
    Distribution d;
    ASSERT_TRUE(sampler.Process(logits, ctx, &d).ok());
    for (int32_t t = 0; t < kVocab; ++t) {
      const double pt = prob * d.Prob(t);
      if (pt == 0) continue;
      ctx.push_back(t);
      emitted.push_back(t);
      if (t == 0 || static_cast<int>(emitted.size()) == max_tokens) {
        out[emitted] += pt;
      } else {
        walk(ctx, emitted, pt);
      }
      ctx.pop_back();
      emitted.pop_back();
    }
  };
  Sequence ctx = prompt, emitted;
  walk(ctx, emitted, 1.0);
  return out;
}

// p-value of `samples` runs (seeds 1..samples) against the exact distribution.
double SequenceChiSquare(Verifier& verifier, Drafter* drafter, FakeLm& target,
                         const Vocabulary& vocab, const GenerationRequest& base, int samples,
                         bool overlap = false, int staged_ngram = 0, float q_tail_mass = 0.0f) {
  auto exact = ExactSequences(target, base.sampling, base.prompt, base.max_tokens);
  std::map<Sequence, int64_t> counts;
  GenerationRequest req = base;
  for (int i = 1; i <= samples; ++i) {
    req.sampling.seed = i;
    GenerationResult r = Generate(req, verifier, drafter, vocab, nullptr, overlap, staged_ngram, q_tail_mass);
    Sequence key = r.tokens;
    if (r.finish_reason == FinishReason::kEndOfGeneration) key.push_back(0);
    ++counts[key];
  }
  std::vector<int64_t> observed;
  std::vector<double> expected;
  for (const auto& [seq, p] : exact) {
    observed.push_back(counts[seq]);
    expected.push_back(p);
  }
  int64_t impossible = 0;
  for (const auto& [seq, c] : counts) {
    if (!exact.contains(seq)) impossible += c;
  }
  if (impossible > 0) {
    observed.push_back(impossible);
    expected.push_back(0);
  }
  auto r = tandem::testing::ChiSquare(observed, expected);
  return r.p_value;
}

struct DistCase {
  const char* name;
  float temperature;
  int top_k;
  float top_p;
  int gamma;
  bool ngram;
  bool overlap = false;
  int staged_ngram = 0;
  float q_tail_mass = 0.0f;
  bool penalized = false;  // logit bias and all three penalties (PenalizeAndBias)
};

class SpeculativeDistribution : public ::testing::TestWithParam<DistCase> {};

TEST_P(SpeculativeDistribution, MatchesTargetOnlySampling) {
  const DistCase c = GetParam();
  Models m;
  GenerationRequest req{.prompt = {3, 5, 3, 5}, .max_tokens = 3, .gamma = {.gamma = c.gamma}};
  req.sampling.temperature = c.temperature;
  req.sampling.top_k = c.top_k;
  req.sampling.top_p = c.top_p;
  if (c.penalized) PenalizeAndBias(req.sampling);
  Drafter* drafter = c.ngram ? static_cast<Drafter*>(&m.ngram) : &m.draft_drafter;
  const double p = SequenceChiSquare(m.verifier, drafter, m.target, m.vocab, req, 30000, c.overlap, c.staged_ngram,
                                     c.q_tail_mass);
  std::printf("%s: p-value %.4g\n", c.name, p);
  EXPECT_GT(p, 1e-4) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SpeculativeDistribution,
    ::testing::Values(DistCase{"dense_g1", 1.0f, 0, 1.0f, 1, false},
                      DistCase{"dense_g2", 1.0f, 0, 1.0f, 2, false},
                      DistCase{"topk_sparse_g2", 0.8f, 4, 1.0f, 2, false},
                      DistCase{"topp_g2", 1.3f, 0, 0.8f, 2, false},
                      DistCase{"ngram_onehot_g2", 1.0f, 0, 1.0f, 2, true},
                      // Overlap: the next block drafted after a guessed bonus token.
                      DistCase{"dense_g1_overlap", 1.0f, 0, 1.0f, 1, false, true},
                      DistCase{"topk_sparse_g1_overlap", 0.8f, 4, 1.0f, 1, false, true},
                      // Staged: the draft model's tokens partly from prompt-lookup guesses.
                      DistCase{"dense_g3_staged", 1.0f, 0, 1.0f, 3, false, false, 2},
                      DistCase{"topk_sparse_g3_staged", 0.8f, 4, 1.0f, 3, false, false, 2},
                      // Tail dropped from q (sparse rows): at T = 0.3 the draft's rows have entries
                      // below 0.01 / 8, so the proposals come from a q the drafter truncated.
                      DistCase{"tail_dropped_g2", 0.3f, 0, 1.0f, 2, false, false, 0, 0.01f},
                      DistCase{"tail_dropped_g3_staged", 0.3f, 0, 1.0f, 3, false, false, 2, 0.01f},
                      // Penalties and logit bias on both sides.
                      DistCase{"penalized_g2", 1.0f, 0, 1.0f, 2, false, false, 0, 0.0f, true},
                      DistCase{"penalized_topk_g3_overlap", 0.8f, 4, 1.0f, 3, false, true, 0, 0.0f, true},
                      DistCase{"penalized_ngram_g2", 1.0f, 0, 1.0f, 2, true, false, 0, 0.0f, true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(TargetOnlyDistribution, MatchesExactEnumeration) {
  Models m;
  GenerationRequest req{.prompt = {3, 5, 3, 5}, .max_tokens = 3};
  EXPECT_GT(SequenceChiSquare(m.verifier, nullptr, m.target, m.vocab, req, 30000), 1e-4);
}

// Broken acceptance rules must be caught by the same test: proof that it
// can fail on the classic mistakes of algorithms.md section 0.
absl::StatusOr<spec::AcceptResult> ResidualIsP(std::span<const int32_t> d,
                                               std::span<const Distribution> q,
                                               std::span<const Distribution> p, runtime::Rng& rng) {
  spec::AcceptResult r;
  for (size_t i = 0; i < d.size(); ++i) {
    if (rng.UniformOpenClosed() <= p[i].Prob(d[i]) / q[i].Prob(d[i])) {
      ++r.accepted;
      continue;
    }
    r.next_token = runtime::Sampler::Sample(p[i], rng);  // bug: should be the residual
    return r;
  }
  r.next_token = runtime::Sampler::Sample(p[d.size()], rng);
  return r;
}

absl::StatusOr<spec::AcceptResult> BonusFromWrongRow(std::span<const int32_t> d,
                                                     std::span<const Distribution> q,
                                                     std::span<const Distribution> p,
                                                     runtime::Rng& rng) {
  auto r = spec::SpeculativeAccept(d, q, p, rng);
  if (r.ok() && !d.empty() && r->accepted == static_cast<int>(d.size())) {
    r->next_token = runtime::Sampler::Sample(p[d.size() - 1], rng);  // bug: off by one row
  }
  return r;
}

absl::StatusOr<spec::AcceptResult> AlwaysAccept(std::span<const int32_t> d,
                                                std::span<const Distribution> q,
                                                std::span<const Distribution> p, runtime::Rng& rng) {
  return spec::AcceptResult{static_cast<int>(d.size()), runtime::Sampler::Sample(p[d.size()], rng)};
}

TEST(SpeculativeDistribution, BrokenAcceptanceRulesAreDetected) {
  struct Mutant {
    const char* name;
    spec::AcceptFn fn;
  };
  for (const Mutant& mutant : {Mutant{"residual_is_p", ResidualIsP},
                               Mutant{"bonus_from_wrong_row", BonusFromWrongRow},
                               Mutant{"always_accept", AlwaysAccept}}) {
    Models m;
    ModelVerifier broken(m.target, mutant.fn);
    GenerationRequest req{.prompt = {3, 5, 3, 5}, .max_tokens = 3, .gamma = {.gamma = 2}};
    const double p = SequenceChiSquare(broken, &m.draft_drafter, m.target, m.vocab, req, 30000);
    std::printf("mutant %s: p-value %.4g\n", mutant.name, p);
    EXPECT_LT(p, 1e-6) << mutant.name;
  }
}

// --- Scripted ports: exact accounting --------------------------------------

struct Round {
  std::vector<int32_t> draft;
  int accepted;
  int32_t next;
};

class ScriptedDrafter : public Drafter {
 public:
  explicit ScriptedDrafter(std::deque<std::vector<int32_t>> proposals) : proposals_(proposals) {}
  std::string_view name() const override { return "scripted"; }
  absl::StatusOr<std::unique_ptr<DraftSession>> Open(std::span<const int32_t>, const SamplingParams&,
                                                     const DraftOptions&) override {
    struct S : DraftSession {
      ScriptedDrafter* d;
      absl::Status Propose(const DraftDelta& delta, int gamma, DraftProposal* out) override {
        d->deltas.push_back(delta);
        d->gammas.push_back(gamma);
        out->tokens.clear();
        out->q.clear();
        if (!d->proposals_.empty()) {
          out->tokens = d->proposals_.front();
          d->proposals_.pop_front();
        }
        for (int32_t t : out->tokens) {
          out->q.emplace_back();
          out->q.back().AssignOneHot(kVocab, t);
        }
        return absl::OkStatus();
      }
      int64_t committed_length() const override { return 0; }
      absl::Status Close() override {
        d->closed = true;
        return absl::OkStatus();
      }
    };
    auto s = std::make_unique<S>();
    s->d = this;
    return s;
  }
  std::deque<std::vector<int32_t>> proposals_;
  std::vector<DraftDelta> deltas;
  std::vector<int> gammas;
  bool closed = false;
};

class ScriptedVerifier : public Verifier {
 public:
  // Verdict per round: accepted count (clamped to the draft) and next token.
  explicit ScriptedVerifier(std::deque<std::pair<int, int32_t>> verdicts) : verdicts_(verdicts) {}
  absl::StatusOr<std::unique_ptr<VerifySession>> Open(std::span<const int32_t>, const SamplingParams&,
                                                      const VerifyOptions&) override {
    struct S : VerifySession {
      ScriptedVerifier* v;
      absl::Status Verify(std::span<const int32_t> draft, std::span<const Distribution>,
                          VerifyResult* out) override {
        v->verified.emplace_back(draft.begin(), draft.end());
        auto [k, t] = v->verdicts_.empty() ? std::pair<int, int32_t>{99, 2} : v->verdicts_.front();
        if (!v->verdicts_.empty()) v->verdicts_.pop_front();
        out->accepted = std::min<int>(k, draft.size());
        out->next_token = t;
        return absl::OkStatus();
      }
      int64_t committed_length() const override { return 0; }
      absl::Status Close() override {
        v->closed = true;
        return absl::OkStatus();
      }
    };
    auto s = std::make_unique<S>();
    s->v = this;
    return s;
  }
  std::deque<std::pair<int, int32_t>> verdicts_;
  std::vector<std::vector<int32_t>> verified;
  bool closed = false;
};

TEST(Speculative, AcceptancePerPositionAccounting) {
  ScriptedDrafter drafter({{1, 2, 3}, {4, 5}, {1, 2, 3, 4}, {3}});
  ScriptedVerifier verifier({{2, 7}, {0, 6}, {4, 5}, {1, 0}});
  FakeVocabulary vocab(kVocab);
  GenerationRequest req{.prompt = {1}, .max_tokens = 100, .gamma = {.gamma = 4}};
  GenerationResult r = Generate(req, verifier, &drafter, vocab);
  EXPECT_THAT(r.tokens, ElementsAre(1, 2, 7, 6, 1, 2, 3, 4, 5, 3));
  EXPECT_EQ(r.finish_reason, FinishReason::kEndOfGeneration);
  EXPECT_EQ(r.text, "bchgbcdefd");
  const auto& s = r.stats;
  EXPECT_EQ(s.speculation.num_drafts, 4);
  EXPECT_EQ(s.speculation.drafted_tokens, 10);
  EXPECT_EQ(s.speculation.accepted_tokens, 7);
  EXPECT_THAT(s.speculation.drafted_per_position, ElementsAre(4, 3, 2, 1));
  EXPECT_THAT(s.speculation.accepted_per_position, ElementsAre(3, 2, 1, 1));
  EXPECT_EQ(s.target_calls, 4);
  EXPECT_EQ(s.draft_calls, 4);
  EXPECT_EQ(s.generated_tokens, 10);
  EXPECT_EQ(s.prompt_tokens, 1);
  EXPECT_EQ(s.strategy, "speculative");
  EXPECT_EQ(s.drafter, "scripted");
  // Deltas: nothing, then (accepted, next token) of the previous round.
  ASSERT_EQ(drafter.deltas.size(), 4u);
  EXPECT_EQ(drafter.deltas[0].accepted, 0);
  EXPECT_FALSE(drafter.deltas[0].next_token.has_value());
  EXPECT_EQ(drafter.deltas[1].accepted, 2);
  EXPECT_EQ(drafter.deltas[1].next_token, 7);
  EXPECT_EQ(drafter.deltas[2].accepted, 0);
  EXPECT_EQ(drafter.deltas[2].next_token, 6);
  EXPECT_EQ(drafter.deltas[3].accepted, 4);
  EXPECT_EQ(drafter.deltas[3].next_token, 5);
  EXPECT_TRUE(drafter.closed);
  EXPECT_TRUE(verifier.closed);
}

TEST(Speculative, DraftIsTruncatedAtEos) {
  ScriptedDrafter drafter({{3, 0, 5, 6}});
  ScriptedVerifier verifier({{2, 4}});
  FakeVocabulary vocab(kVocab);
  GenerationRequest req{.prompt = {1}, .max_tokens = 10, .gamma = {.gamma = 4}};
  GenerationResult r = Generate(req, verifier, &drafter, vocab);
  ASSERT_EQ(verifier.verified.size(), 1u);
  EXPECT_THAT(verifier.verified[0], ElementsAre(3, 0));  // nothing after EOS is verified
  EXPECT_THAT(r.tokens, ElementsAre(3));                  // EOS ends it; no bonus token
  EXPECT_EQ(r.finish_reason, FinishReason::kEndOfGeneration);
  EXPECT_EQ(r.stats.speculation.drafted_tokens, 2);
}

TEST(Speculative, GammaIsCappedByRemainingTokens) {
  ScriptedDrafter drafter({{1, 1, 1, 1}, {1}});
  ScriptedVerifier verifier({{4, 2}, {1, 2}});
  FakeVocabulary vocab(kVocab);
  GenerationRequest req{.prompt = {1}, .max_tokens = 7, .gamma = {.gamma = 4}};
  GenerationResult r = Generate(req, verifier, &drafter, vocab);
  EXPECT_THAT(drafter.gammas, ElementsAre(4, 1));
  EXPECT_THAT(r.tokens, ElementsAre(1, 1, 1, 1, 2, 1, 2));
  EXPECT_EQ(r.finish_reason, FinishReason::kLength);
  // A last round with room for one token skips the drafter.
  ScriptedDrafter d2({{1, 1, 1, 1}});
  ScriptedVerifier v2({{4, 2}, {0, 3}});
  req.max_tokens = 6;
  r = Generate(req, v2, &d2, vocab);
  EXPECT_THAT(d2.gammas, ElementsAre(4));
  EXPECT_THAT(r.tokens, ElementsAre(1, 1, 1, 1, 2, 3));
  EXPECT_EQ(r.stats.target_calls, 2);
}

TEST(Speculative, AdaptiveGammaFollowsAcceptance) {
  Models m;
  GenerationRequest req{.prompt = {1, 2}, .max_tokens = 200,
                        .gamma = {.gamma = 3, .adaptive = true, .min_gamma = 1, .max_gamma = 8,
                                  .measure_costs = false}};  // the fake models' times would decide otherwise
  req.sampling.temperature = 0;
  // Use a target that never emits EOS so the run is long.
  FakeLm target(kVocab, [](std::span<const int32_t> c, std::span<float> out) {
    testing::TargetLogits(c, out);
    out[0] = -100;
  });
  FakeLm twin(kVocab, [](std::span<const int32_t> c, std::span<float> out) {
    testing::TargetLogits(c, out);
    out[0] = -100;
  });
  FakeLm contrary(kVocab, [](std::span<const int32_t> c, std::span<float> out) {
    testing::TargetLogits(c, out);
    out[0] = -100;
    for (float& x : out) x = -x;
    out[0] = -100;
  });
  ModelVerifier verifier(target);
  ModelDrafter good(twin), bad(contrary);
  GenerationResult up = Generate(req, verifier, &good, m.vocab);
  EXPECT_EQ(up.stats.speculation.drafted_per_position.size(), 8u);  // reached max_gamma
  GenerationResult down = Generate(req, verifier, &bad, m.vocab);
  EXPECT_EQ(down.stats.speculation.final_gamma, 1);
  EXPECT_EQ(up.tokens, down.tokens);
}

// A verifier that reports a scripted load (VerifyResult.batch_size) per
// Verify call, as a batching target service does.
class LoadReportingVerifier : public Verifier {
 public:
  LoadReportingVerifier(Verifier& inner, std::function<int(int call)> load) : inner_(inner), load_(std::move(load)) {}
  int64_t committed = 0;  // the last session's |S| after its last Verify
  absl::StatusOr<std::unique_ptr<VerifySession>> Open(std::span<const int32_t> prompt, const SamplingParams& params,
                                                      const VerifyOptions& options) override {
    auto session = inner_.Open(prompt, params, options);
    if (!session.ok()) return session.status();
    committed = 0;
    return std::unique_ptr<VerifySession>(new Session(std::move(*session), *this));
  }

 private:
  class Session : public VerifySession {
   public:
    Session(std::unique_ptr<VerifySession> inner, LoadReportingVerifier& owner)
        : inner_(std::move(inner)), owner_(owner) {}
    absl::Status Verify(std::span<const int32_t> draft, std::span<const Distribution> q,
                        VerifyResult* out) override {
      absl::Status s = inner_->Verify(draft, q, out);
      out->batch_size = owner_.load_(calls_++);
      owner_.committed = inner_->committed_length();
      return s;
    }
    int64_t committed_length() const override { return inner_->committed_length(); }
    absl::Status Close() override { return inner_->Close(); }

   private:
    std::unique_ptr<VerifySession> inner_;
    LoadReportingVerifier& owner_;
    int calls_ = 0;
  };
  Verifier& inner_;
  std::function<int(int)> load_;
};

// A drafter that hands each session to `after_propose` after every Propose
// (to check or record where the drafter stands).
class ProposeObservingDrafter : public Drafter {
 public:
  ProposeObservingDrafter(Drafter& inner, std::function<void(const DraftSession&)> after_propose)
      : inner_(inner), after_propose_(std::move(after_propose)) {}
  std::string_view name() const override { return inner_.name(); }
  absl::StatusOr<std::unique_ptr<DraftSession>> Open(std::span<const int32_t> prompt, const SamplingParams& params,
                                                     const DraftOptions& options) override {
    auto session = inner_.Open(prompt, params, options);
    if (!session.ok()) return session.status();
    return std::unique_ptr<DraftSession>(new Session(std::move(*session), after_propose_));
  }

 private:
  class Session : public DraftSession {
   public:
    Session(std::unique_ptr<DraftSession> inner, const std::function<void(const DraftSession&)>& after)
        : inner_(std::move(inner)), after_(after) {}
    absl::Status Propose(const DraftDelta& delta, int gamma, DraftProposal* out) override {
      absl::Status s = inner_->Propose(delta, gamma, out);
      after_(*inner_);
      return s;
    }
    int64_t committed_length() const override { return inner_->committed_length(); }
    absl::Status Close() override { return inner_->Close(); }

   private:
    std::unique_ptr<DraftSession> inner_;
    const std::function<void(const DraftSession&)>& after_;
  };
  Drafter& inner_;
  std::function<void(const DraftSession&)> after_propose_;
};

int64_t RoundsWith(const spec::SpeculationStats& s, std::string_view reason, int gamma) {
  int64_t rounds = 0;
  for (const auto& c : s.gamma_choices) {
    if (c.reason == reason && (gamma < 0 || c.gamma == gamma)) rounds += c.rounds;
  }
  return rounds;
}

TEST(Speculative, LoadStopsDraftingAndOutputStaysTargetOnly) {
  // The target alone, then a full batch (64 sessions) for 70 calls, then
  // alone again: the controller drafts, stops (gamma 0, reason load) and
  // drafts again, from a drafter that caught up on the skipped rounds. (A
  // drafter that is always right would keep drafting under any load: no
  // verified row is wasted; this one is right only part of the time.)
  auto no_eos = [](std::span<const int32_t> c, std::span<float> out) {
    testing::TargetLogits(c, out);
    out[0] = -100;
  };
  // The target's function, reversed after every fourth token: ~75 % accepted.
  auto draft_no_eos = [](std::span<const int32_t> c, std::span<float> out) {
    testing::TargetLogits(c, out);
    out[0] = -100;
    if (c.size() % 4 == 0) {
      for (float& x : out) x = -x;
      out[0] = -100;
    }
  };
  FakeLm target(kVocab, no_eos), draft(kVocab, draft_no_eos);
  FakeVocabulary vocab(kVocab);
  ModelVerifier plain(target);
  LoadReportingVerifier verifier(plain, [](int call) { return call >= 10 && call < 80 ? 64 : 1; });
  ModelDrafter model_drafter(draft, IsEos);
  // After every Propose the drafter's committed sequence must be as long as
  // the target's after the last Verify: a drafter that missed the tokens of
  // rounds it did not draft falls behind.
  int checks = 0, out_of_sync = 0;
  ProposeObservingDrafter drafter(model_drafter, [&](const DraftSession& session) {
    if (verifier.committed > 0) {
      ++checks;
      out_of_sync += session.committed_length() != verifier.committed;
    }
  });
  for (float temperature : {0.0f, 0.8f}) {
    GenerationRequest req{.prompt = {1, 2, 3}, .max_tokens = 200,
                          .gamma = {.gamma = 4, .adaptive = true, .max_gamma = 8, .draft_cost = 0.1,
                                    .verify_cost = 0.1, .measure_costs = false}};
    req.sampling.temperature = temperature;
    req.sampling.seed = 7;
    GenerationResult base = Generate(req, plain, nullptr, vocab);
    GenerationResult spec = Generate(req, verifier, &drafter, vocab);
    const spec::SpeculationStats& s = spec.stats.speculation;
    if (temperature == 0) {
      EXPECT_EQ(spec.tokens, base.tokens);
    }
    EXPECT_EQ(spec.tokens.size(), 200u);
    EXPECT_GE(RoundsWith(s, "load", 0), 40) << "temperature " << temperature;
    EXPECT_GT(RoundsWith(s, "acceptance", -1), 0);
    EXPECT_GT(s.final_gamma, 0);  // drafting again once the target is alone
    EXPECT_GT(s.num_drafts, 0);
    EXPECT_GT(s.accepted_tokens, 0);
  }
  EXPECT_GT(checks, 40);
  EXPECT_EQ(out_of_sync, 0) << "the drafter did not catch up on the rounds it skipped";
}

// A target that never ends its output and a drafter that always proposes
// the target's least likely token: nothing is accepted, so an adaptive
// controller stops drafting and probes now and then.
struct ContraryPair {
  static void NoEos(std::span<const int32_t> c, std::span<float> out) {
    testing::TargetLogits(c, out);
    out[0] = -100;
  }
  static void Contrary(std::span<const int32_t> c, std::span<float> out) {
    NoEos(c, out);
    for (float& x : out) x = -x;
    out[0] = -100;
  }
  // A greedy request with adaptive gamma, prompt {1, 2}.
  static GenerationRequest Request(int max_tokens) {
    GenerationRequest req{.prompt = {1, 2}, .max_tokens = max_tokens,
                          .gamma = {.gamma = 4, .adaptive = true, .max_gamma = 8, .measure_costs = false}};
    req.sampling.temperature = 0;
    return req;
  }
  FakeLm target{kVocab, NoEos};
  FakeLm contrary{kVocab, Contrary};
  FakeVocabulary vocab{kVocab};
  ModelVerifier verifier{target};
  ModelDrafter bad{contrary, IsEos};
};

TEST(Speculative, LowAcceptanceStopsDraftingThenProbes) {
  ContraryPair p;
  auto& [target, contrary, vocab, verifier, bad] = p;
  const GenerationRequest req = ContraryPair::Request(200);
  GenerationResult base = Generate(req, verifier, nullptr, vocab);
  GenerationResult spec = Generate(req, verifier, &bad, vocab);
  EXPECT_EQ(spec.tokens, base.tokens);
  const spec::SpeculationStats& s = spec.stats.speculation;
  EXPECT_GT(RoundsWith(s, "acceptance", 0), 100);  // mostly plain target steps
  EXPECT_GT(RoundsWith(s, "probe", 1), 3);          // re-measured now and then
  EXPECT_EQ(RoundsWith(s, "load", -1), 0);           // nothing reported a load
  EXPECT_EQ(s.accepted_tokens, 0);
}

TEST(Speculative, NoProbeInTheLastProbeEveryTokens) {
  // A probe makes a drafter stopped for low acceptance catch up on every
  // token it skipped; in the request's last probe_every (16) tokens nothing
  // could use the measurement, so the round stays a plain step (reason
  // "prefill"). Over a range of lengths the probes' phase covers every
  // position of the tail.
  ContraryPair p;
  auto& [target, contrary, vocab, verifier, bad] = p;
  int64_t skipped = 0;
  for (int max_tokens = 100; max_tokens < 100 + 18; ++max_tokens) {
    // The drafter's committed length (the target's, once caught up) at every Propose.
    std::vector<int64_t> lengths;
    ProposeObservingDrafter drafter(bad, [&](const DraftSession& session) { lengths.push_back(session.committed_length()); });
    const GenerationRequest req = ContraryPair::Request(max_tokens);
    GenerationResult base = Generate(req, verifier, nullptr, vocab);
    GenerationResult spec = Generate(req, verifier, &drafter, vocab);
    EXPECT_EQ(spec.tokens, base.tokens);
    const spec::SpeculationStats& s = spec.stats.speculation;
    EXPECT_GT(RoundsWith(s, "probe", 1), 2) << max_tokens;  // probes still happen before the tail
    ASSERT_FALSE(lengths.empty());
    for (int64_t length : lengths) {
      const int64_t emitted = length - static_cast<int64_t>(req.prompt.size());
      EXPECT_LT(emitted, max_tokens - 16) << "drafted " << max_tokens - emitted << " tokens before the end";
    }
    EXPECT_LE(RoundsWith(s, "prefill", 0), 1);  // one probe period is 17 rounds
    skipped += RoundsWith(s, "prefill", 0);
  }
  EXPECT_GT(skipped, 0) << "no length put a probe in the last 16 tokens";
}

// --- Output handling ---------------------------------------------------------
TEST(Strategies, ContextLimitEndsLikeTargetOnly) {
  // The target (and the twin drafter) can hold 12 tokens: the prompt is 4.
  auto no_eos = [](std::span<const int32_t> c, std::span<float> out) {
    testing::TargetLogits(c, out);
    out[0] = -100;
  };
  FakeLm target(kVocab, no_eos, 12), twin(kVocab, no_eos, 12);
  FakeVocabulary vocab(kVocab);
  ModelVerifier verifier(target);
  ModelDrafter drafter(twin, IsEos);
  NgramDrafter ngram({.vocab_size = kVocab});
  GenerationRequest req{.prompt = {1, 2, 3, 4}, .max_tokens = 50, .gamma = {.gamma = 3}};
  req.sampling.temperature = 0;
  GenerationResult base = Generate(req, verifier, nullptr, vocab);
  EXPECT_EQ(base.finish_reason, FinishReason::kContextLength);
  EXPECT_EQ(base.tokens.size(), 12u - 4u + 1u);  // the last token needs no cache slot
  for (Drafter* d : std::initializer_list<Drafter*>{&drafter, &ngram}) {
    GenerationResult spec = Generate(req, verifier, d, vocab);
    EXPECT_EQ(spec.tokens, base.tokens) << d->name();
    EXPECT_EQ(spec.finish_reason, FinishReason::kContextLength);
  }
}


TEST(Strategies, StopStringCutsTextAndStreamsConsistently) {
  Models m;
  GenerationRequest req{.prompt = {2, 6}, .max_tokens = 40, .gamma = {.gamma = 3}};
  req.sampling.temperature = 0;
  req.sampling.repetition_penalty = 1.3f;  // longer, less repetitive output
  FakeLm target(kVocab, [](std::span<const int32_t> c, std::span<float> out) {
    testing::TargetLogits(c, out);
    out[0] = -100;
  });
  ModelVerifier verifier(target);
  GenerationResult full = Generate(req, verifier, nullptr, m.vocab);
  ASSERT_GE(full.text.size(), 12u);
  const std::string stop = full.text.substr(8, 3);
  const size_t cut = full.text.find(stop);
  req.stop_strings = {stop};
  for (Drafter* d : std::initializer_list<Drafter*>{nullptr, &m.draft_drafter, &m.ngram}) {
    std::string streamed;
    GenerationResult r = Generate(req, verifier, d, m.vocab, &streamed);
    EXPECT_EQ(r.finish_reason, FinishReason::kStopString);
    EXPECT_EQ(r.text, full.text.substr(0, cut));
    EXPECT_EQ(streamed, r.text);
    EXPECT_EQ(r.tokens.size(), cut + stop.size());  // through the token completing the stop
  }
}

TEST(Strategies, CancellationAndCallbackErrors) {
  Models m;
  std::atomic<bool> cancel{false};
  GenerationRequest req{.prompt = {1, 2}, .max_tokens = 50, .gamma = {.gamma = 2}};
  req.cancelled = &cancel;
  GenerationResult r;
  int chunks = 0;
  StreamCallback cb = [&](const StreamChunk&) {
    ++chunks;
    cancel = true;
    return absl::OkStatus();
  };
  ASSERT_TRUE(RunSpeculative(req, m.draft_drafter, m.verifier, m.vocab, cb, &r).ok());
  EXPECT_EQ(r.finish_reason, FinishReason::kAborted);
  EXPECT_EQ(chunks, 1);
  cancel = false;
  StreamCallback failing = [](const StreamChunk&) { return absl::CancelledError("client gone"); };
  req.cancelled = nullptr;
  EXPECT_EQ(RunTargetOnly(req, m.verifier, m.vocab, failing, &r).code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(RunSpeculative(req, m.ngram, m.verifier, m.vocab, failing, &r).code(),
            absl::StatusCode::kCancelled);
}

TEST(Strategies, InvalidRequestsAreRejected) {
  Models m;
  GenerationResult r;
  auto code = [&](GenerationRequest req, const Vocabulary& vocab) {
    return RunSpeculative(req, m.draft_drafter, m.verifier, vocab, nullptr, &r).code();
  };
  EXPECT_EQ(code({.prompt = {}}, m.vocab), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.prompt = {9}}, m.vocab), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.prompt = {1}, .max_tokens = 0}, m.vocab), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.prompt = {1}, .gamma = {.gamma = 0}}, m.vocab), absl::StatusCode::kInvalidArgument);
  GenerationRequest bad_temp{.prompt = {1}};
  bad_temp.sampling.temperature = -1;
  EXPECT_EQ(code(bad_temp, m.vocab), absl::StatusCode::kInvalidArgument);
  FakeVocabulary no_text(kVocab, /*with_text=*/false);
  EXPECT_EQ(code({.prompt = {1}, .stop_strings = {"x"}}, no_text), absl::StatusCode::kInvalidArgument);
}

TEST(ModelVerifier, RejectsBadDraftsWithoutCommitting) {
  Models m;
  SamplingParams params;
  std::vector<int32_t> prompt = {1, 2, 3};
  auto s = m.verifier.Open(prompt, params, {});
  ASSERT_TRUE(s.ok());
  VerifyResult r;
  std::vector<int32_t> draft = {4};
  EXPECT_FALSE((*s)->Verify(draft, {}, &r).ok());  // q missing at temperature 1
  std::vector<int32_t> bad = {8};
  std::vector<Distribution> q(1);
  q[0].AssignOneHot(kVocab, 4);
  EXPECT_FALSE((*s)->Verify(bad, q, &r).ok());
  EXPECT_EQ((*s)->committed_length(), 3);
  ASSERT_TRUE((*s)->Verify(draft, q, &r).ok());
  EXPECT_LE(r.accepted, 1);
  EXPECT_TRUE(r.logprobs.empty());
  EXPECT_EQ((*s)->committed_length(), 3 + r.accepted + 1);
}

TEST(ModelVerifier, ReturnsLogprobsOfTheEmittedTokensWithoutRows) {
  Models m;
  // Whatever the processing (temperature, truncation, penalty), the logprobs
  // are the model's: raw logits at temperature 1. The greedy session's p is
  // one-hot, its logprobs are not 0.
  SamplingParams sampled;
  sampled.temperature = 0.5f;
  sampled.top_k = 3;
  sampled.repetition_penalty = 1.3f;
  for (const SamplingParams& params : {sampled, SamplingParams{.temperature = 0.0f}}) {
    SCOPED_TRACE(params.temperature);
    std::vector<int32_t> prompt = {1, 2, 3};
    auto s = m.verifier.Open(prompt, params, {.return_logprobs = true, .top_logprobs = 3});
    ASSERT_TRUE(s.ok()) << s.status();
    std::vector<int32_t> draft = {4, 5};
    std::vector<Distribution> q(2);
    q[0].AssignOneHot(kVocab, 4);
    q[1].AssignOneHot(kVocab, 5);
    VerifyResult r;
    ASSERT_TRUE((*s)->Verify(draft, params.greedy() ? std::span<const Distribution>() : q, &r).ok());
    ASSERT_EQ(r.logprobs.size(), static_cast<size_t>(r.accepted + 1));
    ASSERT_EQ(r.top_logprobs.size(), static_cast<size_t>(r.accepted + 1));
    std::vector<int32_t> context = prompt;
    std::vector<float> logits(kVocab);
    for (int i = 0; i <= r.accepted; ++i) {
      const int32_t token = i < r.accepted ? draft[i] : r.next_token;
      m.target.Logits(context, logits);
      EXPECT_NEAR(r.logprobs[i], RawLogprob(logits, token), 1e-5) << i;
      EXPECT_LT(r.logprobs[i], 0.0f);
      // The three most likely ids, best first, with their logprobs.
      std::vector<int32_t> order(kVocab);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
      ASSERT_EQ(r.top_logprobs[i].size(), 3u);
      for (int j = 0; j < 3; ++j) {
        EXPECT_EQ(r.top_logprobs[i][j].token, order[j]) << i << " " << j;
        EXPECT_NEAR(r.top_logprobs[i][j].logprob, RawLogprob(logits, order[j]), 1e-5);
      }
      if (params.greedy()) {
        EXPECT_EQ(r.top_logprobs[i][0].token, token);  // argmax, ties to the lower id
      }
      context.push_back(token);
    }
  }
  // Without the option: nothing, not last call's values.
  SamplingParams params;
  std::vector<int32_t> draft = {4, 5};
  std::vector<Distribution> q(2);
  q[0].AssignOneHot(kVocab, 4);
  q[1].AssignOneHot(kVocab, 5);
  VerifyResult r;
  const std::vector<int32_t> prompt = {1, 2, 3};
  auto plain = m.verifier.Open(prompt, params, {});
  ASSERT_TRUE(plain.ok());
  ASSERT_TRUE((*plain)->Verify(draft, q, &r).ok());
  EXPECT_TRUE(r.logprobs.empty());
  EXPECT_TRUE(r.top_logprobs.empty());
  // top_logprobs needs return_logprobs and at most 20.
  EXPECT_EQ(m.verifier.Open(prompt, params, {.top_logprobs = 2}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m.verifier.Open(prompt, params, {.return_logprobs = true, .top_logprobs = 21}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ModelDrafter, AReusedProposalDraftsWhatAFreshOneDrafts) {
  // A caller that keeps one DraftProposal across rounds (the draft service,
  // the round loop) gets the tokens and q rows a fresh proposal would get,
  // with rows overwritten in place and trimmed when fewer are drafted; plain
  // and staged drafting, sampled and greedy (temperature-1 rows).
  for (const float temperature : {1.0f, 0.0f}) {
    for (const int staged : {0, 2}) {
      Models m;
      SamplingParams params;
      params.temperature = temperature;
      params.seed = 11;
      const std::vector<int32_t> prompt = {1, 2, 3, 1, 2, 3, 1, 2};
      const DraftOptions options{.return_distributions = true, .staged_ngram = staged};
      auto fresh = m.draft_drafter.Open(prompt, params, options);
      auto reused = m.draft_drafter.Open(prompt, params, options);
      ASSERT_TRUE(fresh.ok() && reused.ok());
      DraftProposal kept;
      for (const int gamma : {4, 2, 5, 1, 4}) {
        DraftProposal once;
        DraftDelta delta{.accepted = gamma > 2 ? 1 : 0};
        if (kept.tokens.empty()) delta.accepted = 0;
        delta.next_token = 3;
        ASSERT_TRUE((*fresh)->Propose(delta, gamma, &once).ok());
        ASSERT_TRUE((*reused)->Propose(delta, gamma, &kept).ok());
        ASSERT_EQ(kept.tokens, once.tokens) << temperature << " " << staged << " " << gamma;
        ASSERT_EQ(kept.q.size(), once.q.size());
        ASSERT_EQ(kept.q.size(), kept.tokens.size());
        for (size_t i = 0; i < kept.q.size(); ++i) {
          for (int t = 0; t < kVocab; ++t) ASSERT_EQ(kept.q[i].Prob(t), once.q[i].Prob(t)) << i << " " << t;
        }
      }
    }
  }
}

TEST(ModelDrafter, ADroppedTailLeavesSparseRowsThatTheDraftedTokensComeFrom) {
  // q_tail_mass: every sampled row loses its entries below q_tail_mass /
  // vocabulary and is scaled back to 1; each drafted token lies in its row's
  // support. Plain and staged drafting; greedy sessions keep their rows.
  constexpr float kTail = 0.01f;
  for (const int staged : {0, 2}) {
    Models m;
    SamplingParams params;
    params.temperature = 0.3f;  // the draft's rows then have entries below kTail / 8
    params.seed = 5;
    const std::vector<int32_t> prompt = {1, 2, 3, 1, 2, 3, 1, 2};
    auto exact = m.draft_drafter.Open(prompt, params, {.return_distributions = true, .staged_ngram = staged});
    auto tailless = m.draft_drafter.Open(prompt, params,
                                         {.return_distributions = true, .staged_ngram = staged, .q_tail_mass = kTail});
    ASSERT_TRUE(exact.ok() && tailless.ok());
    int rows = 0, dropped = 0;
    DraftProposal a, b;
    for (int round = 0; round < 20; ++round) {
      const DraftDelta delta{.accepted = 0, .next_token = static_cast<int32_t>(1 + round % 7)};
      ASSERT_TRUE((*exact)->Propose(delta, 4, &a).ok());
      ASSERT_TRUE((*tailless)->Propose(delta, 4, &b).ok());
      ASSERT_EQ(b.q.size(), b.tokens.size());
      for (size_t i = 0; i < b.q.size(); ++i) {
        const Distribution& q = b.q[i];
        ASSERT_TRUE(q.Validate(1e-5f).ok()) << q.Validate(1e-5f);
        EXPECT_GT(q.Prob(b.tokens[i]), 0.0f) << "drafted outside its row's support";
        int support = 0;
        for (int t = 0; t < kVocab; ++t) {
          const float p = q.Prob(t);
          EXPECT_TRUE(p == 0.0f || p >= kTail / kVocab) << t << " " << p;
          support += p > 0.0f ? 1 : 0;
        }
        ++rows;
        dropped += support < kVocab ? 1 : 0;
      }
      for (const Distribution& q : a.q) {
        for (int t = 0; t < kVocab; ++t) ASSERT_GT(q.Prob(t), 0.0f) << "the exact rows keep the whole vocabulary";
      }
    }
    EXPECT_GT(dropped, rows / 2) << "the tail was not dropped: the test proves nothing";
  }
  Models m;
  EXPECT_EQ(m.draft_drafter.Open(std::vector<int32_t>{1}, SamplingParams{}, {.q_tail_mass = 0.5f}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::decoding
