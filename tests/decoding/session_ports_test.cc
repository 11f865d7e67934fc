#include <limits>
// The session extensions of the ports, in process over synthetic models:
// VerifySession::Append (teacher forcing + next-token info), Truncate
// (rollback) and Fork (copy-on-write), and DraftDelta::append, checked
// against fresh sessions on the equivalent prompt and against the exact
// number of positions the model computed.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "decoding/drafters/ngram_drafter.h"
#include "decoding/local/model_drafter.h"
#include "decoding/local/model_verifier.h"
#include "tests/decoding/fake_lm.h"
#include "tests/decoding/session_steps.h"

namespace tandem::decoding {
namespace {

using runtime::SamplingParams;
using testing::Continue;
using testing::FakeLm;
using testing::Greedy;
using testing::Open;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

constexpr int32_t kVocab = 9;
using V = std::vector<int32_t>;

// Remembers the sequences it hands out, so a test can look at the KV cache.
class TrackingLm : public LanguageModel {
 public:
  explicit TrackingLm(FakeLm& inner) : inner_(inner) {}
  int32_t vocab_size() const override { return inner_.vocab_size(); }
  absl::StatusOr<std::unique_ptr<LmSequence>> NewSequence() override {
    auto seq = inner_.NewSequence();
    if (seq.ok()) last = seq->get();
    return seq;
  }
  LmSequence* last = nullptr;

 private:
  FakeLm& inner_;
};

SamplingParams Sampled(uint64_t seed) {
  SamplingParams p;
  p.temperature = 0.9f;
  p.seed = seed;
  return p;
}

const std::vector<int32_t> kPrompt = {3, 1, 4, 1, 5};
const std::vector<int32_t> kMore = {2, 6, 5, 3};

TEST(NextTokenFromLogits, EntropyAndTopK) {
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f};
  NextTokenInfo info = NextTokenFromLogits(logits, 3);
  double z = 0;
  for (float l : logits) z += std::exp(l);
  double h = 0;
  for (float l : logits) h -= std::exp(l) / z * (l - std::log(z));
  EXPECT_NEAR(info.entropy, h, 1e-5);
  EXPECT_THAT(info.top_tokens, ElementsAre(1, 3, 4));  // tie 1/3 broken by id
  EXPECT_THAT(info.top_logits, ElementsAre(2.0f, 2.0f, 1.0f));
  // top_k beyond the vocabulary is clamped; a uniform row has entropy log V.
  NextTokenInfo uniform = NextTokenFromLogits(std::vector<float>(7, 0.25f), 50);
  EXPECT_EQ(uniform.top_tokens.size(), 7u);
  EXPECT_NEAR(uniform.entropy, std::log(7.0), 1e-5);
}

// On Qwen-sized rows the vector entropy stays within 1e-4 nats of the double
// computation, for flat, peaked and masked (-inf) rows.
TEST(NextTokenFromLogits, EntropyOfALargeRowMatchesDoublePrecision) {
  std::mt19937 rng(3);
  for (float spread : {0.5f, 3.0f, 12.0f}) {
    std::normal_distribution<float> normal(2.0f, spread);
    std::vector<float> logits(151936);
    for (float& l : logits) l = normal(rng);
    logits[17] = -std::numeric_limits<float>::infinity();
    const double m = *std::max_element(logits.begin(), logits.end());
    double z = 0, weighted = 0;
    for (float l : logits) {
      const double e = std::exp(static_cast<double>(l) - m);
      z += e;
      weighted += l == -std::numeric_limits<float>::infinity() ? 0.0 : e * (static_cast<double>(l) - m);
    }
    const double want = std::log(z) - weighted / z;
    EXPECT_NEAR(NextTokenFromLogits(logits, 0).entropy, want, 1e-4) << "spread " << spread;
  }
}

// The top-k selection equals a full stable sort (logit descending, id
// ascending) on rows with many ties, for k from 0 to past the row length.
TEST(NextTokenFromLogits, TopKEqualsFullSortWithTies) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> level(0, 12);  // few distinct values: many ties
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> logits(1 + trial * 7);
    for (float& l : logits) l = 0.5f * static_cast<float>(level(rng)) - 3.0f;
    std::vector<int32_t> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
    for (int k : {0, 1, 2, 5, 40, 400}) {
      NextTokenInfo info = NextTokenFromLogits(logits, k);
      const size_t want = std::min(static_cast<size_t>(k), logits.size());
      ASSERT_THAT(info.top_tokens, ElementsAreArray(order.begin(), order.begin() + want)) << trial << " " << k;
      ASSERT_EQ(info.top_logits.size(), want);
      for (size_t i = 0; i < want; ++i) EXPECT_EQ(info.top_logits[i], logits[order[i]]);
    }
  }
}

TEST(VerifySessionAppend, ThenVerifyEqualsVerifyOnTheLongerPrompt) {
  for (const SamplingParams& params : {Greedy(), Sampled(11)}) {
    FakeLm lm(kVocab, testing::TargetLogits);
    ModelVerifier v(lm);
    auto a = Open(v, kPrompt, params);
    ASSERT_TRUE(a->Append(kMore, 0, nullptr).ok());
    EXPECT_EQ(a->committed_length(), static_cast<int64_t>(kPrompt.size() + kMore.size()));
    std::vector<int32_t> longer = kPrompt;
    longer.insert(longer.end(), kMore.begin(), kMore.end());
    auto b = Open(v, longer, params);
    EXPECT_EQ(Continue(*a, 12), Continue(*b, 12)) << "temperature " << params.temperature;
  }
}

TEST(VerifySessionAppend, NextTokenInfoMatchesTheModelAndIsNotRecomputed) {
  FakeLm lm(kVocab, testing::TargetLogits);
  TrackingLm tracking(lm);
  ModelVerifier v(tracking);
  auto s = Open(v, kPrompt, Greedy());
  LmSequence* kv = tracking.last;
  EXPECT_EQ(kv->tokens().size(), kPrompt.size() - 1);  // last token pending

  const int64_t computed_before = lm.appended_tokens;
  NextTokenInfo info;
  ASSERT_TRUE(s->Append(kMore, 4, &info).ok());
  // One forward over [pending last prompt token, kMore...].
  EXPECT_EQ(lm.appended_tokens - computed_before, static_cast<int64_t>(kMore.size() + 1));
  EXPECT_EQ(kv->tokens().size(), kPrompt.size() + kMore.size());  // all of S cached

  std::vector<int32_t> context = kPrompt;
  context.insert(context.end(), kMore.begin(), kMore.end());
  std::vector<float> expect(kVocab);
  testing::TargetLogits(context, expect);
  NextTokenInfo want = NextTokenFromLogits(expect, 4);
  EXPECT_FLOAT_EQ(info.entropy, want.entropy);
  EXPECT_EQ(info.top_tokens, want.top_tokens);
  EXPECT_EQ(info.top_logits, want.top_logits);

  // An empty Append with info answers from the kept row: no forward.
  const int64_t appends = lm.appends;
  NextTokenInfo again;
  ASSERT_TRUE(s->Append({}, 2, &again).ok());
  EXPECT_EQ(lm.appends, appends);
  EXPECT_THAT(again.top_tokens, ElementsAre(want.top_tokens[0], want.top_tokens[1]));

  // The next greedy step is the top token, and costs no forward either.
  VerifyResult r;
  ASSERT_TRUE(s->Verify({}, {}, &r).ok());
  EXPECT_EQ(r.next_token, want.top_tokens[0]);
  EXPECT_EQ(lm.appends, appends);
  EXPECT_EQ(kv->tokens().size(), context.size());  // S = context + next; next pending

  // A draft after an info Append feeds only the drafted tokens.
  ASSERT_TRUE(s->Append(V{7}, 1, &info).ok());
  const int64_t computed = lm.appended_tokens;
  ASSERT_TRUE(s->Verify(V{1, 2}, {}, &r).ok());
  EXPECT_EQ(lm.appended_tokens - computed, 2);
}

TEST(VerifySessionAppend, DraftVerificationAfterInfoAppendEqualsFreshSession) {
  FakeLm lm(kVocab, testing::TargetLogits);
  ModelVerifier v(lm);
  for (const SamplingParams& params : {Greedy(), Sampled(5)}) {
    auto a = Open(v, kPrompt, params);
    NextTokenInfo info;
    ASSERT_TRUE(a->Append(kMore, 3, &info).ok());
    std::vector<int32_t> longer = kPrompt;
    longer.insert(longer.end(), kMore.begin(), kMore.end());
    auto b = Open(v, longer, params);
    // Same drafts with one-hot q against both: the verdicts must agree.
    const std::vector<int32_t> draft = {info.top_tokens[0], 4, 4};
    std::vector<runtime::Distribution> q(draft.size());
    for (size_t i = 0; i < draft.size(); ++i) q[i].AssignOneHot(kVocab, draft[i]);
    VerifyResult ra, rb;
    ASSERT_TRUE(a->Verify(draft, q, &ra).ok());
    ASSERT_TRUE(b->Verify(draft, q, &rb).ok());
    EXPECT_EQ(ra.accepted, rb.accepted);
    EXPECT_EQ(ra.next_token, rb.next_token);
    EXPECT_EQ(ra.committed_length, rb.committed_length);
    EXPECT_EQ(Continue(*a, 6), Continue(*b, 6));
  }
}

TEST(VerifySessionAppend, RejectsBadInputAndLeavesTheSessionUnchanged) {
  FakeLm lm(kVocab, testing::TargetLogits, /*max_context=*/12);
  ModelVerifier v(lm);
  auto s = Open(v, kPrompt, Greedy());
  NextTokenInfo info;
  EXPECT_EQ(s->Append(V{kVocab}, 0, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->Append(V{1}, 0, &info).code(), absl::StatusCode::kInvalidArgument);  // top_k 0 with info
  EXPECT_EQ(s->Append(std::vector<int32_t>(20, 1), 1, &info).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(s->committed_length(), static_cast<int64_t>(kPrompt.size()));
  auto fresh = Open(v, kPrompt, Greedy());
  EXPECT_EQ(Continue(*s, 5), Continue(*fresh, 5));
}

TEST(VerifySessionTruncate, ContinuationEqualsFreshSessionOnThePrefix) {
  FakeLm lm(kVocab, testing::TargetLogits);
  TrackingLm tracking(lm);
  ModelVerifier v(tracking);
  for (bool info_append : {false, true}) {
    auto s = Open(v, kPrompt, Greedy());
    LmSequence* kv = tracking.last;
    NextTokenInfo info;
    ASSERT_TRUE(s->Append(kMore, 2, info_append ? &info : nullptr).ok());
    std::vector<int32_t> generated = Continue(*s, 5);
    ASSERT_EQ(generated.size(), 5u);
    // Truncate into the appended tokens: the pending token is a kept one.
    const int64_t n = static_cast<int64_t>(kPrompt.size() + 2);
    const int64_t computed = lm.appended_tokens;
    ASSERT_TRUE(s->Truncate(n).ok());
    EXPECT_EQ(lm.appended_tokens, computed);  // cropped, not recomputed
    EXPECT_EQ(s->committed_length(), n);
    EXPECT_EQ(kv->tokens().size(), static_cast<size_t>(n - 1));
    std::vector<int32_t> prefix = kPrompt;
    prefix.insert(prefix.end(), kMore.begin(), kMore.begin() + 2);
    auto fresh = Open(v, prefix, Greedy());
    EXPECT_EQ(Continue(*s, 8), Continue(*fresh, 8)) << "info_append " << info_append;
    // Truncate to the current length is a no-op; out of range is rejected.
    EXPECT_TRUE(s->Truncate(s->committed_length()).ok());
    EXPECT_EQ(s->Truncate(0).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s->Truncate(s->committed_length() + 1).code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(VerifySessionFork, SharesThePrefixAndDivergesIndependently) {
  FakeLm lm(kVocab, testing::TargetLogits);
  ModelVerifier v(lm);
  for (bool info_append : {false, true}) {
    auto parent = Open(v, kPrompt, Greedy());
    NextTokenInfo info;
    ASSERT_TRUE(parent->Append(kMore, 3, info_append ? &info : nullptr).ok());
    const int64_t forks = lm.forks;
    const int64_t computed = lm.appended_tokens;
    auto child = parent->Fork(99);
    ASSERT_TRUE(child.ok()) << child.status();
    EXPECT_EQ(lm.forks, forks + 1);
    EXPECT_EQ(lm.appended_tokens, computed);  // nothing recomputed
    EXPECT_EQ((*child)->committed_length(), parent->committed_length());

    // Diverge: different teacher-forced tokens, then greedy steps.
    ASSERT_TRUE(parent->Append(V{1, 1}, 0, nullptr).ok());
    ASSERT_TRUE((*child)->Append(V{2}, 0, nullptr).ok());
    std::vector<int32_t> p_prompt = kPrompt, c_prompt = kPrompt;
    p_prompt.insert(p_prompt.end(), kMore.begin(), kMore.end());
    c_prompt = p_prompt;
    p_prompt.insert(p_prompt.end(), {1, 1});
    c_prompt.push_back(2);
    auto fresh_p = Open(v, p_prompt, Greedy());
    auto fresh_c = Open(v, c_prompt, Greedy());
    // Interleave the steps: a shared cache would corrupt one of them.
    for (int i = 0; i < 6; ++i) {
      EXPECT_EQ(Continue(*parent, 1), Continue(*fresh_p, 1));
      EXPECT_EQ(Continue(**child, 1), Continue(*fresh_c, 1));
    }
  }
}

TEST(VerifySessionFork, SampledForkDrawsFromItsOwnSeed) {
  FakeLm lm(kVocab, testing::TargetLogits);
  ModelVerifier v(lm);
  auto parent = Open(v, kPrompt, Sampled(1));
  auto c1 = parent->Fork(1234);
  auto c2 = parent->Fork(1234);
  auto c3 = parent->Fork(77);
  ASSERT_TRUE(c1.ok() && c2.ok() && c3.ok());
  SamplingParams seeded = Sampled(1234);
  auto fresh = Open(v, kPrompt, seeded);
  const std::vector<int32_t> a = Continue(**c1, 20);
  EXPECT_EQ(a, Continue(**c2, 20));
  EXPECT_EQ(a, Continue(*fresh, 20));  // a fork seeded s samples like a session opened with seed s
  EXPECT_NE(a, Continue(**c3, 20));
}

TEST(VerifySessionFork, ClosedSessionCannotFork) {
  FakeLm lm(kVocab, testing::TargetLogits);
  ModelVerifier v(lm);
  auto s = Open(v, kPrompt, Greedy());
  ASSERT_TRUE(s->Close().ok());
  EXPECT_EQ(s->Fork(1).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->Truncate(1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->Append(V{1}, 0, nullptr).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(DraftDeltaAppend, ModelDrafterEqualsFreshSessionOnTheExtendedPrompt) {
  FakeLm lm(kVocab, testing::DraftLogits);
  ModelDrafter drafter(lm);
  DraftOptions options;
  options.return_distributions = false;
  auto a = drafter.Open(kPrompt, Greedy(), options);
  ASSERT_TRUE(a.ok());
  DraftProposal first;
  ASSERT_TRUE((*a)->Propose({}, 4, &first).ok());
  // Keep 2 drafted tokens, then the target's next token, then text the
  // draft did not write.
  DraftDelta delta;
  delta.accepted = 2;
  delta.next_token = 7;
  delta.append = {1, 8, 2};
  DraftProposal second;
  ASSERT_TRUE((*a)->Propose(delta, 5, &second).ok());
  std::vector<int32_t> extended = kPrompt;
  extended.insert(extended.end(), first.tokens.begin(), first.tokens.begin() + 2);
  extended.push_back(7);
  extended.insert(extended.end(), {1, 8, 2});
  EXPECT_EQ((*a)->committed_length(), static_cast<int64_t>(extended.size()));
  auto b = drafter.Open(extended, Greedy(), options);
  ASSERT_TRUE(b.ok());
  DraftProposal fresh;
  ASSERT_TRUE((*b)->Propose({}, 5, &fresh).ok());
  EXPECT_EQ(second.tokens, fresh.tokens);

  // append alone (no next_token) works too, and bad ids are rejected.
  DraftDelta only_append;
  only_append.accepted = 0;
  only_append.append = {kVocab};
  EXPECT_EQ((*a)->Propose(only_append, 1, &second).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*a)->committed_length(), static_cast<int64_t>(extended.size()));
}

TEST(DraftDeltaAppend, NgramDrafterSeesTheAppendedTokens) {
  NgramDrafter drafter({.vocab_size = kVocab, .max_ngram = 3, .min_ngram = 1});
  auto s = drafter.Open(std::vector<int32_t>{5, 6, 7, 8, 1}, Greedy(), {});
  ASSERT_TRUE(s.ok());
  DraftProposal p;
  ASSERT_TRUE((*s)->Propose({}, 0, &p).ok());
  DraftDelta delta;
  delta.append = {2, 5, 6};  // "5 6" occurred before, followed by "7 8"
  ASSERT_TRUE((*s)->Propose(delta, 2, &p).ok());
  EXPECT_EQ((*s)->committed_length(), 8);
  EXPECT_THAT(p.tokens, ElementsAreArray({7, 8}));
  delta.append = {-1};
  EXPECT_EQ((*s)->Propose(delta, 2, &p).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::decoding
