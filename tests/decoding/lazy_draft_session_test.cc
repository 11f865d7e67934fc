// The speculative strategy opens the drafter's session with the first round
// that drafts (spec/lazy_draft_session.h): a request kept at gamma 0 by the
// target's load never prefills the draft model, and one that starts drafting
// later opens it on everything committed so far. Synthetic models, no network.
#include <memory>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "decoding/local/model_drafter.h"
#include "decoding/local/model_verifier.h"
#include "decoding/spec/lazy_draft_session.h"
#include "decoding/strategies/speculative/speculative.h"
#include "decoding/strategies/target_only/target_only.h"
#include "tests/decoding/model_pair.h"

namespace tandem::decoding {
namespace {

// Records every Open's prompt; `fail` (if not OK) answers the next Open.
class CountingDrafter : public Drafter {
 public:
  explicit CountingDrafter(Drafter& inner) : inner_(inner) {}
  std::string_view name() const override { return "model"; }
  absl::StatusOr<std::unique_ptr<DraftSession>> Open(std::span<const int32_t> prompt,
                                                     const runtime::SamplingParams& params,
                                                     const DraftOptions& options) override {
    opened.emplace_back(prompt.begin(), prompt.end());
    if (!fail.ok()) return std::exchange(fail, absl::OkStatus());
    return inner_.Open(prompt, params, options);
  }
  std::vector<std::vector<int32_t>> opened;
  absl::Status fail;

 private:
  Drafter& inner_;
};

// The target of a busy deployment: 16 sessions open (its Open and every
// Verify say so, VerifyResponse.active_sessions), each Verify served by a
// pass shared by 16 (VerifyResponse.batch_size), as the target service
// reports them.
class BusyVerifier : public Verifier {
 public:
  explicit BusyVerifier(Verifier& inner) : inner_(inner) {}
  absl::StatusOr<std::unique_ptr<VerifySession>> Open(std::span<const int32_t> prompt,
                                                      const runtime::SamplingParams& params,
                                                      const VerifyOptions& options) override {
    auto session = inner_.Open(prompt, params, options);
    if (!session.ok()) return session.status();
    return std::make_unique<Session>(std::move(*session));
  }

 private:
  class Session : public VerifySession {
   public:
    explicit Session(std::unique_ptr<VerifySession> inner) : inner_(std::move(inner)) {}
    absl::Status Verify(std::span<const int32_t> draft, std::span<const runtime::Distribution> q,
                        VerifyResult* out) override {
      absl::Status status = inner_->Verify(draft, q, out);
      out->batch_size = 16;
      return status;
    }
    int64_t committed_length() const override { return inner_->committed_length(); }
    absl::Status Close() override { return inner_->Close(); }
    int active_sessions() const override { return 16; }

   private:
    std::unique_ptr<VerifySession> inner_;
  };
  Verifier& inner_;
};

struct Models : testing::ModelPair {
  CountingDrafter counting{drafter};
};

GenerationRequest AdaptiveGreedy(std::vector<int32_t> prompt, int max_tokens) {
  // Prior costs only (no wall times), so the choices are reproducible.
  GenerationRequest req{.prompt = std::move(prompt), .max_tokens = max_tokens,
                        .gamma = {.gamma = 3, .adaptive = true, .max_gamma = 6, .measure_costs = false}};
  req.sampling.temperature = 0;
  return req;
}

TEST(LazyDraft, ARequestKeptAtGammaZeroByLoadNeverOpensTheDrafter) {
  Models m;
  BusyVerifier busy(m.verifier);
  GenerationRequest req = AdaptiveGreedy({1, 2, 3}, 24);
  // Measured costs, shared by the deployment, which has measured nothing
  // yet: the load comes from the target's Open. Whatever the wall times,
  // passes of 16 rows with a prior row cost make every drafted token cost 16
  // rows, so gamma stays 0 (for load: alone it would draft).
  req.gamma.measure_costs = true;
  spec::SpeculationCosts costs;
  GenerationResult base, r;
  ASSERT_TRUE(RunTargetOnly(req, m.verifier, m.vocab, nullptr, &base).ok());
  ASSERT_TRUE(RunSpeculative(req, m.counting, busy, m.vocab, nullptr, &r, &costs).ok());
  EXPECT_EQ(r.tokens, base.tokens);
  EXPECT_TRUE(m.counting.opened.empty());
  EXPECT_EQ(m.draft.appends, 0);  // no prefill, no draft step
  EXPECT_EQ(r.stats.draft_calls, 0);
  ASSERT_EQ(r.stats.speculation.gamma_choices.size(), 1u);
  EXPECT_EQ(r.stats.speculation.gamma_choices[0].gamma, 0);
  EXPECT_EQ(r.stats.speculation.gamma_choices[0].reason, "load");
  EXPECT_EQ(r.stats.speculation.gamma_choices[0].rounds, r.stats.target_calls);
}

TEST(LazyDraft, RequestsRunningInTheDeploymentAreTheLoadAtStart) {
  // 15 other speculative requests are running; the target (in process)
  // reports no load at all. The request starts at gamma 0 and stays there.
  Models m;
  GenerationRequest req = AdaptiveGreedy({1, 2, 3}, 24);
  req.gamma.measure_costs = true;
  spec::SpeculationCosts costs;
  std::vector<std::unique_ptr<spec::SpeculationCosts::Running>> others;
  for (int i = 0; i < 15; ++i) others.push_back(std::make_unique<spec::SpeculationCosts::Running>(&costs));
  EXPECT_EQ(costs.running(), 15);
  GenerationResult base, r;
  ASSERT_TRUE(RunTargetOnly(req, m.verifier, m.vocab, nullptr, &base).ok());
  ASSERT_TRUE(RunSpeculative(req, m.counting, m.verifier, m.vocab, nullptr, &r, &costs).ok());
  EXPECT_EQ(r.tokens, base.tokens);
  EXPECT_TRUE(m.counting.opened.empty());
  EXPECT_EQ(r.stats.draft_calls, 0);
  EXPECT_EQ(costs.running(), 15);  // this request counted itself only while it ran
  others.clear();
  EXPECT_EQ(costs.running(), 0);
}

TEST(LazyDraft, ARequestThatDraftsFromTheFirstRoundOpensOnItsPrompt) {
  Models m;
  const GenerationRequest req = AdaptiveGreedy({1, 2, 3}, 24);
  GenerationResult base, r;
  ASSERT_TRUE(RunTargetOnly(req, m.verifier, m.vocab, nullptr, &base).ok());
  ASSERT_TRUE(RunSpeculative(req, m.counting, m.verifier, m.vocab, nullptr, &r).ok());
  EXPECT_EQ(r.tokens, base.tokens);  // greedy speculation is lossless
  ASSERT_EQ(m.counting.opened.size(), 1u);
  EXPECT_EQ(m.counting.opened[0], (std::vector<int32_t>{1, 2, 3}));
  EXPECT_GT(r.stats.draft_calls, 0);
}

// Deltas before the first drafting Propose only extend the sequence; the
// session then opened on it drafts exactly what an eagerly opened session
// fed the same deltas drafts.
TEST(LazyDraft, OpensOnThePromptAndTheCommittedTokensAndDraftsLikeAnEagerSession) {
  Models m;
  runtime::SamplingParams greedy;
  greedy.temperature = 0;
  const std::vector<int32_t> prompt = {4, 5};
  spec::LazyDraftSession lazy(m.counting, prompt, greedy, {.return_distributions = false});
  auto eager = m.drafter.Open(prompt, greedy, {.return_distributions = false});
  ASSERT_TRUE(eager.ok());

  const std::vector<DraftDelta> deltas = {{.next_token = 6}, {.next_token = 2, .append = {3, 1}}};
  DraftProposal lazy_out, eager_out;
  for (const DraftDelta& d : deltas) {
    ASSERT_TRUE(lazy.Propose(d, 0, &lazy_out).ok());
    ASSERT_TRUE((*eager)->Propose(d, 0, &eager_out).ok());
    EXPECT_TRUE(lazy_out.tokens.empty());
    EXPECT_TRUE(lazy.prefill_pending());
    EXPECT_EQ(lazy.committed_length(), (*eager)->committed_length());
  }
  EXPECT_TRUE(m.counting.opened.empty());
  const DraftDelta last{.next_token = 7};
  ASSERT_TRUE(lazy.Propose(last, 4, &lazy_out).ok());
  ASSERT_TRUE((*eager)->Propose(last, 4, &eager_out).ok());
  ASSERT_EQ(m.counting.opened.size(), 1u);
  EXPECT_EQ(m.counting.opened[0], (std::vector<int32_t>{4, 5, 6, 2, 3, 1, 7}));
  EXPECT_FALSE(lazy.prefill_pending());
  EXPECT_EQ(lazy_out.tokens, eager_out.tokens);
  EXPECT_EQ(lazy.committed_length(), (*eager)->committed_length());

  // From here on it is the drafter's session: accept two, correct one.
  const DraftDelta next{.accepted = 2, .next_token = 3};
  ASSERT_TRUE(lazy.Propose(next, 3, &lazy_out).ok());
  ASSERT_TRUE((*eager)->Propose(next, 3, &eager_out).ok());
  EXPECT_EQ(lazy_out.tokens, eager_out.tokens);
  EXPECT_EQ(lazy.committed_length(), (*eager)->committed_length());
  EXPECT_TRUE(lazy.Close().ok());
  EXPECT_TRUE((*eager)->Close().ok());
}

TEST(LazyDraft, AFailedOpenAppliesNothingAndCanBeRetried) {
  Models m;
  runtime::SamplingParams greedy;
  greedy.temperature = 0;
  spec::LazyDraftSession lazy(m.counting, std::vector<int32_t>{1}, greedy, {.return_distributions = false});
  m.counting.fail = absl::UnavailableError("draft service Open: connection refused");
  DraftProposal out;
  const DraftDelta d{.next_token = 5, .append = {6}};
  EXPECT_EQ(lazy.Propose(d, 2, &out).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(lazy.committed_length(), 1);
  EXPECT_TRUE(lazy.prefill_pending());
  ASSERT_TRUE(lazy.Propose(d, 2, &out).ok());
  ASSERT_EQ(m.counting.opened.size(), 2u);
  EXPECT_EQ(m.counting.opened[1], (std::vector<int32_t>{1, 5, 6}));
  EXPECT_FALSE(out.tokens.empty());
}

TEST(LazyDraft, BadDeltasAndUseAfterCloseAreErrors) {
  Models m;
  spec::LazyDraftSession lazy(m.counting, std::vector<int32_t>{1}, {}, {});
  DraftProposal out;
  EXPECT_EQ(lazy.Propose({.accepted = 1, .next_token = 2}, 2, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(lazy.Propose({.truncate_to = 1}, 2, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(m.counting.opened.empty());
  EXPECT_TRUE(lazy.Close().ok());  // never opened: nothing to close
  EXPECT_EQ(lazy.Propose({}, 2, &out).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(m.counting.opened.empty());
}

}  // namespace
}  // namespace tandem::decoding
