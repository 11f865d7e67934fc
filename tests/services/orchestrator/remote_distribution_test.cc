// Speculative sampling through the services: the strategy drives a
// orchestrator::RemoteDrafter and a orchestrator::RemoteVerifier over real gRPC on loopback, against real
// Draft and Target services on synthetic models whose distributions differ
// on purpose. The draft ships q with every proposal, the target service runs
// the acceptance math next to p; the emitted sequences must follow exactly
// the target-only distribution, which we enumerate with the same Sampler
// (Pearson chi-square over every possible sequence of length <= max_tokens).
// A drafter that ships the wrong q must be caught by the same check.
#include <cstdio>
#include <functional>
#include <map>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/sampling/sampler.h"
#include "services/draft/draft_server.h"
#include "services/orchestrator/server/ports_factory.h"
#include "decoding/spec/acceptance.h"
#include "decoding/spec/knowledge_transfer.h"
#include "decoding/strategies/speculative/speculative.h"
#include "services/target/target_server.h"
#include "tests/services/orchestrator/service_fixture.h"
#include "tests/runtime/sampling/chi_square.h"

namespace tandem::decoding::testing {
namespace {

using Sequence = std::vector<int32_t>;  // emitted tokens, then 0 if it ended with EOS

tandem::v1::ModelInfo Info(const std::string& name) {
  tandem::v1::ModelInfo info;
  info.set_name(name);
  info.set_arch("fake");
  info.set_vocab_size(kVocab);
  info.set_context_length(4096);
  info.set_eos_token_id(0);
  return info;
}

bool IsEos(int32_t t) { return t == 0; }

// Exact probability of every emitted sequence under target-only sampling.
std::map<Sequence, double> ExactSequences(const runtime::SamplingParams& params, const Sequence& prompt,
                                          int max_tokens) {
  FakeLm lm(kVocab, TargetLogits);
  runtime::Sampler sampler(params);
  std::map<Sequence, double> out;
  std::function<void(Sequence&, Sequence&, double)> walk = [&](Sequence& ctx, Sequence& emitted, double prob) {
    std::vector<float> logits(kVocab);
    lm.Logits(ctx, logits);
    runtime::Distribution d;
    ASSERT_TRUE(sampler.Process(logits, ctx, &d).ok());
    for (int32_t t = 0; t < kVocab; ++t) {
      const double pt = prob * d.Prob(t);
      if (pt == 0) continue;
      ctx.push_back(t);
      emitted.push_back(t);
      if (IsEos(t) || static_cast<int>(emitted.size()) == max_tokens) {
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

// A drafter that samples honestly but ships a uniform q: the target's
// acceptance ratio p/q is then wrong, and so is the emitted distribution.
class LyingQDrafter : public Drafter {
 public:
  explicit LyingQDrafter(Drafter& inner) : inner_(inner) {}
  std::string_view name() const override { return inner_.name(); }
  absl::StatusOr<std::unique_ptr<DraftSession>> Open(std::span<const int32_t> prompt,
                                                     const runtime::SamplingParams& params,
                                                     const DraftOptions& options) override {
    auto s = inner_.Open(prompt, params, options);
    if (!s.ok()) return s.status();
    struct Session : DraftSession {
      explicit Session(std::unique_ptr<DraftSession> i) : inner(std::move(i)) {}
      absl::Status Propose(const DraftDelta& d, int g, DraftProposal* out) override {
        absl::Status st = inner->Propose(d, g, out);
        std::vector<float> uniform(kVocab, 1.0f / kVocab);
        for (runtime::Distribution& q : out->q) q.AssignDense(uniform);
        return st;
      }
      int64_t committed_length() const override { return inner->committed_length(); }
      absl::Status Close() override { return inner->Close(); }
      std::unique_ptr<DraftSession> inner;
    };
    return std::make_unique<Session>(std::move(*s));
  }

 private:
  Drafter& inner_;
};

class RemoteDistributionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    services::TargetServerOptions to;
    to.service.info = Info("fake-target");
    to.service.is_end_of_generation = IsEos;
    auto target = services::TargetServer::Start(target_lm_, to);
    ASSERT_TRUE(target.ok()) << target.status();
    target_ = std::move(*target);
    services::DraftServerOptions dopt;
    dopt.service.info = Info("fake-draft");
    auto draft = services::DraftServer::Start(model_drafter_, dopt);
    ASSERT_TRUE(draft.ok()) << draft.status();
    draft_ = std::move(*draft);
    orchestrator::server::RemotePortsOptions ro;
    ro.target_address = target_->address();
    ro.draft_address = draft_->address();
    ro.default_drafter = "model";
    auto ports = orchestrator::server::BuildRemotePorts(ro);
    ASSERT_TRUE(ports.ok()) << ports.status();
    ports_ = std::move(*ports);
    ASSERT_EQ(ports_->mode, "remote");
    ASSERT_TRUE(ports_->drafters.contains("model"));
  }

  // p-value of `samples` speculative runs (seeds 1..samples) through the
  // remote ports against the exact target-only distribution.
  double SequenceChiSquare(Drafter& drafter, const GenerationRequest& base, int samples, RoundOptions rounds = {}) {
    const auto exact = ExactSequences(base.sampling, base.prompt, base.max_tokens);
    std::map<Sequence, int64_t> counts;
    GenerationRequest req = base;
    int64_t drafted = 0, accepted = 0;
    for (int i = 1; i <= samples; ++i) {
      req.sampling.seed = i;
      GenerationResult r;
      const absl::Status s =
          RunSpeculative(req, drafter, *ports_->verifier, *ports_->vocabulary, nullptr, &r, nullptr, rounds);
      EXPECT_TRUE(s.ok()) << s;
      if (!s.ok()) return 0;
      Sequence key = r.tokens;
      if (r.finish_reason == FinishReason::kEndOfGeneration) key.push_back(0);
      ++counts[key];
      drafted += r.stats.speculation.drafted_tokens;
      accepted += r.stats.speculation.accepted_tokens;
    }
    // The test is only meaningful if drafts are both accepted and rejected.
    EXPECT_GT(accepted, drafted / 10);
    EXPECT_LT(accepted, drafted * 9 / 10);
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
    const auto r = tandem::testing::ChiSquare(observed, expected);
    std::printf("%zu possible sequences, %d dof, chi2 %.2f, p-value %.4g, acceptance %.3f\n", exact.size(), r.dof,
                r.statistic, r.p_value, drafted > 0 ? static_cast<double>(accepted) / drafted : 0.0);
    return r.p_value;
  }

  LockedLm target_lm_{TargetLogits};
  LockedLm draft_lm_{DraftLogits};
  ModelDrafter model_drafter_{draft_lm_, IsEos};
  std::unique_ptr<services::TargetServer> target_;
  std::unique_ptr<services::DraftServer> draft_;
  std::unique_ptr<decoding::GenerationPorts> ports_;
};

// Fixed seeds make every p-value deterministic; 1e-4 leaves a correct
// implementation far from the edge while the mutant below lands many orders
// of magnitude under it.
constexpr double kMinP = 1e-4;
constexpr int kSamples = 5000;

GenerationRequest Request(float temperature, int top_k, int max_tokens, int gamma) {
  GenerationRequest req{.prompt = {3, 5, 3, 5}, .max_tokens = max_tokens, .gamma = {.gamma = gamma}};
  req.sampling.temperature = temperature;
  req.sampling.top_k = top_k;
  return req;
}

TEST_F(RemoteDistributionTest, TopKSparseLengthThreeMatchesTargetOnly) {
  // q and p are sparse (top-5 supports that differ): rejections, residual
  // draws and bonus tokens all occur within three tokens.
  EXPECT_GT(SequenceChiSquare(*ports_->drafters.at("model"), Request(0.9f, 5, 3, 2), kSamples), kMinP);
}

TEST_F(RemoteDistributionTest, DenseLengthTwoMatchesTargetOnly) {
  // Full-vocabulary q and p: q crosses the wire in its dense form.
  EXPECT_GT(SequenceChiSquare(*ports_->drafters.at("model"), Request(1.0f, 0, 2, 3), kSamples), kMinP);
}

TEST_F(RemoteDistributionTest, RowsWithoutTheirTailMatchTargetOnly) {
  // q_tail_mass: the draft service drops each row's tail before sampling
  // (at T = 0.3 the draft's rows have entries below 0.01 / 8), ships the
  // sparse rows, and the target accepts against them: still exactly p.
  EXPECT_GT(SequenceChiSquare(*ports_->drafters.at("model"), Request(0.3f, 0, 3, 3), kSamples,
                              RoundOptions{.q_tail_mass = 0.01f}),
            kMinP);
}

TEST_F(RemoteDistributionTest, WrongShippedQIsDetected) {
  LyingQDrafter liar(*ports_->drafters.at("model"));
  const double p = SequenceChiSquare(liar, Request(0.9f, 5, 3, 2), kSamples);
  EXPECT_LT(p, 1e-6);
}

// RAPID's knowledge transfer through the Target service: the session is
// opened over gRPC with eta > 0 and the service applies the transfer next to
// p. The first emitted token (the drafted one if accepted, else the residual
// draw) must follow the closed form of spec/knowledge_transfer.h built from
// the target's p and the draft's q, and must not follow p (eta would then have
// no effect through the service).
TEST_F(RemoteDistributionTest, RapidTransferWithEtaAboveZeroFollowsItsClosedForm) {
  const spec::KnowledgeTransfer kt{.eta = 8.0f, .alpha_m = 0.1f};
  GenerationRequest req = Request(1.0f, 0, 1, 1);
  // p and q exactly as the two sides process them at the prompt.
  runtime::Sampler sampler(req.sampling);
  std::vector<float> logits(kVocab);
  runtime::Distribution p, q;
  FakeLm target_lm(kVocab, TargetLogits), draft_lm(kVocab, DraftLogits);
  target_lm.Logits(req.prompt, logits);
  ASSERT_TRUE(sampler.Process(logits, req.prompt, &p).ok());
  draft_lm.Logits(req.prompt, logits);
  ASSERT_TRUE(sampler.Process(logits, req.prompt, &q).ok());
  const std::vector<double> expected = spec::TransferOutputDistribution(p, q, kt);

  Drafter& drafter = *ports_->drafters.at("model");
  std::vector<int64_t> counts(kVocab, 0);
  int64_t accepted = 0;
  constexpr int kRuns = 4000;
  for (int i = 1; i <= kRuns; ++i) {
    req.sampling.seed = static_cast<uint64_t>(i);
    auto draft = drafter.Open(req.prompt, req.sampling, DraftOptions{.return_distributions = true});
    ASSERT_TRUE(draft.ok()) << draft.status();
    VerifyOptions vo;
    vo.knowledge_transfer = kt;
    auto target = ports_->verifier->Open(req.prompt, req.sampling, vo);
    ASSERT_TRUE(target.ok()) << target.status();
    DraftProposal proposal;
    ASSERT_TRUE((*draft)->Propose({}, 1, &proposal).ok());
    ASSERT_EQ(proposal.tokens.size(), 1u);
    VerifyResult verdict;
    ASSERT_TRUE((*target)->Verify(proposal.tokens, proposal.q, &verdict).ok());
    accepted += verdict.accepted;
    ++counts[verdict.accepted == 1 ? proposal.tokens[0] : verdict.next_token];
    ASSERT_TRUE((*target)->Close().ok());
    ASSERT_TRUE((*draft)->Close().ok());
  }
  EXPECT_GT(accepted, kRuns / 10);  // both branches occur
  EXPECT_LT(accepted, kRuns * 9 / 10);
  const auto fit = tandem::testing::ChiSquare(counts, expected);
  std::printf("rapid transfer over gRPC: chi2 %.2f, %d dof, p-value %.4g, acceptance %.3f\n", fit.statistic, fit.dof,
              fit.p_value, static_cast<double>(accepted) / kRuns);
  EXPECT_GT(fit.p_value, kMinP);
  std::vector<double> target_only(kVocab);
  for (int32_t v = 0; v < kVocab; ++v) target_only[v] = p.Prob(v);
  EXPECT_LT(tandem::testing::ChiSquare(counts, target_only).p_value, 1e-6) << "eta had no effect: the output is p";
}

// Greedy RAPID through the services: a greedy draft session opened for the
// transfer ships the drafter's temperature-1 rows, the remote verifier sends
// them, and the Target service decides as GreedyKnowledgeTransferAccept does
// on those rows (computed here from the same synthetic models). Some prompts
// must decide differently from a one-hot q, or the check would prove nothing.
TEST_F(RemoteDistributionTest, GreedyRapidTransferReadsTheDraftersTemperatureOneQ) {
  const spec::KnowledgeTransfer kt{.eta = 5.0f, .alpha_m = 0.1f};
  runtime::SamplingParams greedy;
  greedy.temperature = 0.0f;
  runtime::Sampler hard_sampler(greedy), soft_sampler(spec::TemperatureOneParams(greedy));
  FakeLm target_lm(kVocab, TargetLogits), draft_lm(kVocab, DraftLogits);
  auto row = [&](FakeLm& lm, runtime::Sampler& sampler, const Sequence& ctx) {
    std::vector<float> logits(kVocab);
    lm.Logits(ctx, logits);
    runtime::Distribution d;
    EXPECT_TRUE(sampler.Process(logits, ctx, &d).ok());
    return d;
  };
  Drafter& drafter = *ports_->drafters.at("model");
  int differs_from_one_hot = 0, checked = 0;
  for (int32_t a = 1; a < 8; ++a) {
    for (int32_t b = 1; b < 6; ++b) {
      const Sequence prompt = {a, b, a, 3};
      auto draft = drafter.Open(prompt, greedy, DraftOptions{.return_distributions = true});
      ASSERT_TRUE(draft.ok()) << draft.status();
      VerifyOptions vo;
      vo.knowledge_transfer = kt;
      auto target = ports_->verifier->Open(prompt, greedy, vo);
      ASSERT_TRUE(target.ok()) << target.status();
      DraftProposal proposal;
      ASSERT_TRUE((*draft)->Propose({}, 4, &proposal).ok());
      const size_t n = spec::DraftLengthUpToEos(proposal.tokens, IsEos);
      ASSERT_EQ(proposal.q.size(), proposal.tokens.size()) << "the greedy draft session sent no q rows";
      const std::span<const int32_t> x = std::span<const int32_t>(proposal.tokens).first(n);
      const std::span<const runtime::Distribution> q = std::span<const runtime::Distribution>(proposal.q).first(n);
      VerifyResult verdict;
      ASSERT_TRUE((*target)->Verify(x, q, &verdict).ok());
      // The same decision computed here.
      std::vector<runtime::Distribution> p_hard, p_soft, q_soft;
      Sequence ctx = prompt;
      for (size_t i = 0; i <= n; ++i) {
        p_hard.push_back(row(target_lm, hard_sampler, ctx));
        p_soft.push_back(row(target_lm, soft_sampler, ctx));
        if (i < n) {
          q_soft.push_back(row(draft_lm, soft_sampler, ctx));
          EXPECT_NEAR(q_soft.back().Prob(x[i]), q[i].Prob(x[i]), 1e-6);
          ctx.push_back(x[i]);
        }
      }
      auto expected = spec::GreedyKnowledgeTransferAccept(x, p_hard, p_soft, q_soft, kt);
      auto one_hot = spec::GreedyKnowledgeTransferAccept(x, p_hard, p_soft, {}, kt);
      ASSERT_TRUE(expected.ok() && one_hot.ok());
      EXPECT_EQ(verdict.accepted, expected->accepted) << "prompt " << a << "," << b;
      EXPECT_EQ(verdict.next_token, expected->next_token) << "prompt " << a << "," << b;
      differs_from_one_hot += one_hot->accepted != expected->accepted ? 1 : 0;
      ++checked;
      ASSERT_TRUE((*target)->Close().ok());
      ASSERT_TRUE((*draft)->Close().ok());
    }
  }
  std::printf("greedy rapid over gRPC: %d of %d prompts decide differently with the drafter's q\n",
              differs_from_one_hot, checked);
  EXPECT_GT(differs_from_one_hot, 0);
}

// Logprobs through the port: the remote verifier asks the target for them on
// each Verify and hands back what the in-process ModelVerifier over the same
// model computes (same seed, same drafts, same q), k + 1 of them; a session
// opened without the option gets none; the top_logprobs lists likewise.
TEST_F(RemoteDistributionTest, RemoteVerifierReturnsTheTargetsLogprobs) {
  LockedLm local_lm{TargetLogits};
  ModelVerifier local(local_lm);
  Drafter& drafter = *ports_->drafters.at("model");
  int emitted = 0;
  for (int i = 1; i <= 20; ++i) {
    GenerationRequest req = Request(/*temperature=*/0.8f, /*top_k=*/0, /*max_tokens=*/8, /*gamma=*/3);
    req.sampling.seed = static_cast<uint64_t>(i);
    auto draft = drafter.Open(req.prompt, req.sampling, DraftOptions{.return_distributions = true});
    ASSERT_TRUE(draft.ok()) << draft.status();
    const VerifyOptions with{.return_logprobs = true, .top_logprobs = i % 3 == 0 ? 0 : 4};
    auto remote = ports_->verifier->Open(req.prompt, req.sampling, with);
    auto in_process = local.Open(req.prompt, req.sampling, with);
    auto without = ports_->verifier->Open(req.prompt, req.sampling, {});
    ASSERT_TRUE(remote.ok() && in_process.ok() && without.ok());
    DraftProposal proposal;
    ASSERT_TRUE((*draft)->Propose({}, 3, &proposal).ok());
    VerifyResult got, want, none;
    ASSERT_TRUE((*remote)->Verify(proposal.tokens, proposal.q, &got).ok());
    ASSERT_TRUE((*in_process)->Verify(proposal.tokens, proposal.q, &want).ok());
    ASSERT_TRUE((*without)->Verify(proposal.tokens, proposal.q, &none).ok());
    EXPECT_EQ(got.accepted, want.accepted);
    EXPECT_EQ(got.next_token, want.next_token);
    ASSERT_EQ(got.logprobs.size(), static_cast<size_t>(got.accepted + 1));
    EXPECT_EQ(got.logprobs, want.logprobs) << "seed " << i;
    for (float lp : got.logprobs) EXPECT_LT(lp, 0.0f);
    EXPECT_EQ(got.top_logprobs, want.top_logprobs) << "seed " << i;
    EXPECT_EQ(got.top_logprobs.size(), with.top_logprobs > 0 ? got.logprobs.size() : 0u);
    EXPECT_TRUE(none.logprobs.empty());
    EXPECT_TRUE(none.top_logprobs.empty());
    emitted += got.accepted + 1;
    ASSERT_TRUE((*remote)->Close().ok() && (*without)->Close().ok() && (*draft)->Close().ok());
  }
  EXPECT_GT(emitted, 20);  // some drafts were accepted, so more than one logprob per call was checked
}

}  // namespace
}  // namespace tandem::decoding::testing
