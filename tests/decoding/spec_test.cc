// Pure parts of the orchestrator: acceptance math, gamma controller, stop
// strings, the n-gram lookup and drafter session.
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/sampling/distribution.h"
#include "runtime/sampling/rng.h"
#include "runtime/sampling/sampler.h"
#include "decoding/drafters/ngram_drafter.h"
#include "decoding/spec/acceptance.h"
#include "decoding/spec/gamma_controller.h"
#include "decoding/spec/request_stats.h"
#include "decoding/generation/stop_matcher.h"
#include "tests/runtime/sampling/chi_square.h"

namespace tandem::decoding {
namespace {

using runtime::Distribution;
using runtime::Rng;
using ::testing::ElementsAre;

Distribution Dense(std::vector<float> p) {
  Distribution d;
  d.AssignDense(p);
  return d;
}
Distribution OneHot(int32_t vocab, int32_t id) {
  Distribution d;
  d.AssignOneHot(vocab, id);
  return d;
}

TEST(Acceptance, EqualDistributionsAcceptEverythingAndSampleBonusFromLastRow) {
  std::vector<Distribution> q = {Dense({0.2f, 0.3f, 0.5f}), Dense({0.6f, 0.2f, 0.2f})};
  std::vector<Distribution> p = {q[0], q[1], OneHot(3, 2)};
  std::vector<int32_t> draft = {1, 0};
  Rng rng(1);
  for (int i = 0; i < 100; ++i) {
    auto r = spec::SpeculativeAccept(draft, q, p, rng);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->accepted, 2);
    EXPECT_EQ(r->next_token, 2);  // the bonus row p_3, not p_2
  }
}

TEST(Acceptance, ZeroTargetProbabilityAlwaysRejectsAndResidualExcludesDraft) {
  std::vector<Distribution> q = {OneHot(4, 1)};
  std::vector<Distribution> p = {Dense({0.5f, 0.0f, 0.5f, 0.0f}), OneHot(4, 3)};
  std::vector<int32_t> draft = {1};
  Rng rng(2);
  for (int i = 0; i < 200; ++i) {
    auto r = spec::SpeculativeAccept(draft, q, p, rng);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->accepted, 0);
    EXPECT_TRUE(r->next_token == 0 || r->next_token == 2);
  }
}

TEST(Acceptance, ResidualDistributionChiSquare) {
  // max(0, p - q) = [0.25, 0.05, 0, 0] -> [5/6, 1/6, 0, 0].
  Distribution p = Dense({0.5f, 0.3f, 0.2f, 0.0f});
  Distribution q = Dense({0.25f, 0.25f, 0.25f, 0.25f});
  Rng rng(3);
  std::vector<int64_t> counts(4, 0);
  for (int i = 0; i < 60000; ++i) ++counts[spec::SampleResidual(p, q, rng)];
  EXPECT_EQ(counts[2] + counts[3], 0);
  auto r = testing::ChiSquare(counts, {5.0 / 6, 1.0 / 6, 0, 0});
  EXPECT_GT(r.p_value, 1e-4) << r.statistic;
  // Sparse p against dense q gives the same residual support.
  Distribution sp;
  std::vector<int32_t> ids = {0, 1, 2};
  std::vector<float> probs = {0.5f, 0.3f, 0.2f};
  sp.AssignSparse(4, ids, probs);
  for (int i = 0; i < 1000; ++i) EXPECT_LT(spec::SampleResidual(sp, q, rng), 2);
}

// The residual draw's uniform and sums in double: a uniform just below 1
// (seed 40088167's first, 1 - 2.4e-8) picks the big weight, not the 1e-9
// one after it. In float the uniform rounded to 1.0 and the 1e-9 vanished
// from the total, so the walk fell through to the last id: ~3e-8 of extra
// probability for it, 30x its weight.
TEST(Acceptance, PositivePartDrawHasNoMassAtTheTop) {
  Rng probe(40088167);
  const double u = probe.Uniform();
  ASSERT_GT(u, 1.0 - 0x1.0p-25);  // rounds to 1.0f
  ASSERT_LT(u, 1.0 - 1e-8);
  const Distribution p = Dense({0.5f, 0.5f});
  const std::vector<float> w = {1.0f, 1e-9f};
  Rng rng(40088167);
  EXPECT_EQ(spec::SamplePositivePart(p, p, [&](size_t i, float) { return w[i]; }, rng), 0);
  // The smallest weight still gets its share: a uniform past 1 - 1e-9 of the
  // total lands on it (the last id, reached through the walk itself).
  const std::vector<float> w_last = {1.0f, 0.25f};
  Rng again(40088167);
  EXPECT_EQ(spec::SamplePositivePart(p, p, [&](size_t i, float) { return w_last[i]; }, again), 1);
}

TEST(Acceptance, ASparseQGivesTheResidualItsDenseFormGives) {
  // The residual walks a sparse q with a cursor instead of looking each id
  // up: the same weights, so the same token for the same uniform, for dense
  // and sparse p, and for a q whose support starts before, inside and past p's.
  constexpr int32_t kV = 300;
  Rng gen(17);
  int differs_from_p = 0;
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<float> pv(kV), qv(kV, 0.0f);
    double ps = 0, qs = 0;
    for (float& x : pv) ps += (x = static_cast<float>(gen.Uniform()));
    for (float& x : pv) x = static_cast<float>(x / ps);
    std::vector<int32_t> q_ids;
    for (int32_t id = 0; id < kV; ++id) {
      if (gen.Uniform() < 0.1 || id == kV - 1 || (trial % 2 == 0 && id == 0)) q_ids.push_back(id);
    }
    std::vector<float> q_probs;
    for (size_t k = 0; k < q_ids.size(); ++k) q_probs.push_back(static_cast<float>(gen.Uniform()) + 0.01f);
    for (float x : q_probs) qs += x;
    for (size_t k = 0; k < q_ids.size(); ++k) qv[q_ids[k]] = q_probs[k] = static_cast<float>(q_probs[k] / qs);
    Distribution q_sparse, q_dense = Dense(qv);
    q_sparse.AssignSparse(kV, q_ids, q_probs);
    Distribution p_dense = Dense(pv), p_sparse;
    std::vector<int32_t> p_ids;
    std::vector<float> p_probs;
    for (int32_t id = 0; id < kV; id += 2) {
      p_ids.push_back(id);
      p_probs.push_back(pv[id]);
    }
    p_sparse.AssignSparse(kV, p_ids, p_probs);
    for (const Distribution* p : {&p_dense, &p_sparse}) {
      Rng a(trial), b(trial), c(trial);
      const int32_t sparse = spec::SampleResidual(*p, q_sparse, a);
      EXPECT_EQ(sparse, spec::SampleResidual(*p, q_dense, b)) << trial;
      differs_from_p += sparse != runtime::Sampler::Sample(*p, c) ? 1 : 0;
    }
  }
  EXPECT_GT(differs_from_p, 20);  // the residual is not p: q was really subtracted
}

TEST(Acceptance, FirstTokenIsDistributedAsP) {
  // One drafted token from q, verified against p: the emitted first token
  // (accepted draft or residual sample) must follow p exactly.
  Distribution p = Dense({0.1f, 0.4f, 0.2f, 0.3f});
  Distribution q = Dense({0.4f, 0.1f, 0.4f, 0.1f});
  Distribution bonus = OneHot(4, 0);
  Rng rng(4);
  std::vector<int64_t> counts(4, 0);
  for (int i = 0; i < 80000; ++i) {
    const int32_t x = runtime::Sampler::Sample(q, rng);
    std::vector<int32_t> draft = {x};
    std::vector<Distribution> qs = {q}, ps = {p, bonus};
    auto r = spec::SpeculativeAccept(draft, qs, ps, rng);
    ASSERT_TRUE(r.ok());
    ++counts[r->accepted == 1 ? x : r->next_token];
  }
  EXPECT_GT(testing::ChiSquare(counts, {0.1, 0.4, 0.2, 0.3}).p_value, 1e-4);
  // The draft alone would be far off: the test can tell.
  EXPECT_LT(testing::ChiSquare(counts, {0.4, 0.1, 0.4, 0.1}).p_value, 1e-9);
}

TEST(Acceptance, GreedyAcceptsWhileArgmaxMatches) {
  std::vector<Distribution> p = {OneHot(5, 3), OneHot(5, 1), OneHot(5, 4), OneHot(5, 2)};
  std::vector<int32_t> all = {3, 1, 4};
  auto r = spec::GreedyAccept(all, p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->accepted, 3);
  EXPECT_EQ(r->next_token, 2);
  std::vector<int32_t> mismatch = {3, 2, 4};
  r = spec::GreedyAccept(mismatch, p);
  EXPECT_EQ(r->accepted, 1);
  EXPECT_EQ(r->next_token, 1);
  // Dense rows: argmax with ties to the lowest id.
  std::vector<Distribution> dense = {Dense({0.1f, 0.45f, 0.45f})};
  r = spec::GreedyAccept({}, dense);
  EXPECT_EQ(r->next_token, 1);
}

TEST(Acceptance, BadInputIsAnError) {
  std::vector<Distribution> p = {OneHot(4, 1), OneHot(4, 2)};
  std::vector<Distribution> q = {OneHot(4, 3)};
  std::vector<int32_t> draft = {1};
  Rng rng(5);
  // q(x) = 0: x cannot have been drafted from q.
  EXPECT_EQ(spec::SpeculativeAccept(draft, q, p, rng).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Row count.
  std::vector<Distribution> one = {OneHot(4, 1)};
  EXPECT_FALSE(spec::SpeculativeAccept(draft, q, one, rng).ok());
  EXPECT_FALSE(spec::GreedyAccept(draft, one).ok());
  // Token out of range, q missing, vocabulary mismatch.
  std::vector<int32_t> bad = {7};
  EXPECT_FALSE(spec::GreedyAccept(bad, p).ok());
  EXPECT_FALSE(spec::SpeculativeAccept(draft, {}, p, rng).ok());
  std::vector<Distribution> q8 = {OneHot(8, 1)};
  EXPECT_FALSE(spec::SpeculativeAccept(draft, q8, p, rng).ok());
}

TEST(Acceptance, DraftLengthUpToEos) {
  auto is_eos = [](int32_t t) { return t == 0; };
  std::vector<int32_t> d = {3, 4, 0, 5};
  EXPECT_EQ(spec::DraftLengthUpToEos(d, is_eos), 3u);
  std::vector<int32_t> none = {3, 4};
  EXPECT_EQ(spec::DraftLengthUpToEos(none, is_eos), 2u);
  EXPECT_EQ(spec::DraftLengthUpToEos(d, nullptr), 4u);
}

TEST(GammaController, FixedNeverMoves) {
  spec::GammaController g({.gamma = 5});
  for (int i = 0; i < 10; ++i) g.Observe(5, 0);
  EXPECT_EQ(g.gamma(), 5);
}

TEST(GammaController, AdaptiveFollowsAcceptance) {
  spec::GammaOptions o{.gamma = 4, .adaptive = true, .min_gamma = 1, .max_gamma = 10};
  spec::GammaController up(o);
  int last = up.gamma();
  for (int i = 0; i < 30; ++i) {
    up.Observe(up.gamma(), up.gamma());
    EXPECT_GE(up.gamma(), last);  // monotone while everything is accepted
    last = up.gamma();
  }
  EXPECT_EQ(up.gamma(), 10);
  EXPECT_GT(up.alpha(), 0.95);
  spec::GammaController down(o);
  for (int i = 0; i < 30; ++i) down.Observe(down.gamma(), 0);
  EXPECT_EQ(down.gamma(), 1);
  EXPECT_LT(down.alpha(), 0.05);
  // A middling rate settles strictly inside the bounds.
  spec::GammaController mid(o);
  for (int i = 0; i < 60; ++i) mid.Observe(4, i % 2 == 0 ? 4 : 1);  // ~5 of 7 trials accepted
  EXPECT_GT(mid.gamma(), 1);
  EXPECT_LT(mid.gamma(), 10);
  // Bounds are respected.
  spec::GammaController clamp({.gamma = 50, .adaptive = true, .min_gamma = 2, .max_gamma = 6});
  EXPECT_EQ(clamp.gamma(), 6);
}

// A deployment as the cost model sees it: a target pass over R rows takes
// W + c * R ms, a draft step t_d ms, each drafted token is accepted with
// probability alpha, and `batch` sessions share the target's pass, all
// drafting what this one drafts. The numbers are a CPU's: one row costs 40 %
// of the fixed part (a 16-session pass ~5x a one-session one).
struct SimulatedDeployment {
  double w = 40, c = 12, t_d = 6, alpha = 0.6;
  runtime::Rng rng{5};

  // Runs `rounds` rounds with `batch` sessions in the target's pass and
  // returns the tokens per ms they produced over the target-only rate at the
  // same load, 1 / (W + c * batch): the speed-up of the deployment (every
  // session does the same).
  double Run(spec::GammaController& g, int batch, int rounds) {
    double tokens = 0, ms = 0;
    for (int i = 0; i < rounds; ++i) {
      const int n = g.gamma();
      int k = 0;
      while (k < n && rng.Uniform() < alpha) ++k;
      const double verify_ms = w + c * batch * (n + 1);
      g.Observe(spec::GammaRound{.drafted = n, .proposed = n, .accepted = k,
                                 .draft_ms = n > 0 ? n * t_d : -1, .verify_ms = verify_ms, .batch = batch});
      tokens += k + 1;
      ms += n * t_d + verify_ms;
    }
    return tokens / ms * (w + c * batch);
  }
};

TEST(GammaController, MeasuredCostsAndLoadStopAndRestartDrafting) {
  // Alone, gamma 1-2 is ~1.19x target-only; with 16 sessions every gamma > 0
  // is slower than plain steps (gamma 1: 0.86x). Fixed gamma 4 would give
  // 1.06x alone and 0.47x loaded.
  spec::GammaController g({.gamma = 4, .adaptive = true, .max_gamma = 8});
  SimulatedDeployment d;
  EXPECT_GT(d.Run(g, 1, 200), 1.08);  // alone: drafting pays
  EXPECT_NEAR(g.draft_ms_per_token(), d.t_d, 1e-6);
  d.Run(g, 16, 20);  // the load ramps up (its estimate is smoothed)
  EXPECT_GE(d.Run(g, 16, 200), 0.99);  // a full batch: plain target steps
  EXPECT_EQ(g.gamma(), 0);
  EXPECT_EQ(g.reason(), spec::GammaReason::kLoad);
  // The fit recovered the pass model from the rows that varied.
  EXPECT_NEAR(g.row_ms(), d.c, 0.2 * d.c);
  EXPECT_NEAR(g.pass_fixed_ms(), d.w, 0.3 * d.w);
  d.Run(g, 1, 20);
  EXPECT_GT(d.Run(g, 1, 200), 1.08);  // alone again: back to drafting
  // A fixed gamma 4 in the same deployment, for contrast.
  spec::GammaController fixed({.gamma = 4});
  SimulatedDeployment f;
  EXPECT_LT(f.Run(fixed, 16, 200), 0.6);
}

// One of 4 sessions on a target whose processors the drafter shares: a
// drafting round's pass holds this session alone (the others are drafting)
// and also waits `hidden` ms for the processors their drafts hold, which no
// pass model W + c * R sees (it lands in W, which plain steps seem to pay
// too); plain rounds share one pass of all 4. Returns the tokens per ms
// over target-only's, 1 / (w + 4 c).
double RunContendedSession(spec::GammaController& g, int rounds, runtime::Rng& rng) {
  const double w = 40, c = 12, t_d = 6, alpha = 0.8, hidden = 400;
  double tokens = 0, ms = 0;
  for (int i = 0; i < rounds; ++i) {
    const int n = g.gamma();
    int k = 0;
    while (k < n && rng.Uniform() < alpha) ++k;
    const double draft_ms = n * t_d;
    const double verify_ms = n > 0 ? w + c * (n + 1) + hidden : w + 4 * c;
    g.Observe(spec::GammaRound{.drafted = n, .proposed = n, .accepted = k, .draft_ms = n > 0 ? draft_ms : -1,
                               .verify_ms = verify_ms, .batch = n > 0 ? 1 : 4, .sessions = 4});
    tokens += k + 1;
    ms += draft_ms + verify_ms;
  }
  return tokens / ms * (w + 4 * c);
}

TEST(GammaController, PlainStepsAreMeasuredUnderLoadAndTakenWhereFaster) {
  // The model alone keeps drafting into the contention above; comparing
  // realized rates probes plain steps, finds them faster and takes them.
  spec::GammaOptions o{.gamma = 4, .adaptive = true, .max_gamma = 8, .ema_decay = 0.95};
  spec::GammaOptions model_alone = o;
  model_alone.compare_with_plain = false;
  spec::GammaController compared(o), model_only(model_alone);
  runtime::Rng rc{7}, rm{7};
  RunContendedSession(compared, 60, rc);
  RunContendedSession(model_only, 60, rm);
  const double loaded_model = RunContendedSession(model_only, 320, rm);
  const double loaded_compared = RunContendedSession(compared, 320, rc);
  EXPECT_GE(model_only.gamma(), 1);
  EXPECT_LT(loaded_model, 0.8);
  EXPECT_GT(loaded_compared, 0.85);
  EXPECT_GT(loaded_compared, loaded_model + 0.15);
  EXPECT_GT(compared.plain_rate_at_load(), compared.drafting_rate_at_load());
  EXPECT_GT(compared.drafting_rate_at_load(), 0);
  // Alone nothing is compared: the same choices, the same rounds.
  spec::GammaController alone_compared(o), alone_model(model_alone);
  SimulatedDeployment da, db;
  da.alpha = db.alpha = 0.8;
  EXPECT_DOUBLE_EQ(da.Run(alone_compared, 1, 100), db.Run(alone_model, 1, 100));
  EXPECT_GE(alone_compared.gamma(), 1);
}

TEST(GammaController, ARoundsCatchUpPrefillCountsInItsRealizedRate) {
  // Drafting rounds after plain ones make the Propose prefill what the
  // drafter missed: not a drafting cost for the fit (draft_ms < 0), but what
  // resuming drafting took. Counted, plain steps are the faster ones here;
  // left out, drafting would have looked 8x faster than it was.
  spec::GammaController g({.gamma = 4, .adaptive = true, .max_gamma = 8});
  for (int i = 0; i < 5; ++i) {
    g.Observe(spec::GammaRound{.verify_ms = 50, .batch = 4, .sessions = 4});
    g.Observe(spec::GammaRound{.drafted = 4, .proposed = 4, .accepted = 4, .propose_ms = 400, .verify_ms = 60,
                               .batch = 1, .sessions = 4});
  }
  EXPECT_NEAR(g.plain_rate_at_load(), 1.0 / 50, 1e-9);
  EXPECT_NEAR(g.drafting_rate_at_load(), 5.0 / 460, 1e-9);
  EXPECT_EQ(g.gamma(), 0);
}

TEST(GammaController, DraftingIsReprobedOncePerProbeEveryRoundsOfEachSession) {
  // Plain steps measured faster at load 4: the deployment drafts again once
  // it took probe_every * 4 plain rounds at that load since its last
  // drafting round, whichever sessions took them.
  spec::SpeculationCosts shared;
  spec::GammaOptions o{.gamma = 4, .adaptive = true, .max_gamma = 8, .probe_every = 4};
  spec::GammaController a(o, &shared, "model");
  for (int i = 0; i < 4; ++i) {
    a.Observe(spec::GammaRound{.verify_ms = 50, .batch = 4, .sessions = 4});
    a.Observe(spec::GammaRound{.drafted = 2, .proposed = 2, .accepted = 1, .draft_ms = 30, .propose_ms = 30,
                               .verify_ms = 200, .batch = 1, .sessions = 4});
  }
  EXPECT_EQ(a.gamma(), 0);
  EXPECT_EQ(a.reason(), spec::GammaReason::kLoad);
  spec::GammaController b(o, &shared, "model");
  int plain_rounds = 1;
  for (; plain_rounds <= 100; ++plain_rounds) {
    spec::GammaController& g = plain_rounds % 2 == 1 ? b : a;
    g.Observe(spec::GammaRound{.verify_ms = 50, .batch = 4, .sessions = 4});
    if (g.gamma() > 0) break;
  }
  EXPECT_EQ(plain_rounds, 16);
}

TEST(GammaController, OpenSessionsAreTheLoadNotThoseInThePass) {
  // Sessions that draft miss the pass: a target with 4 open sessions whose
  // passes each hold one of them is loaded by 4 (VerifyResult.active_sessions).
  spec::GammaOptions o{.gamma = 4, .adaptive = true, .max_gamma = 8, .measure_costs = false,
                       .draft_shares_compute = true};
  spec::GammaController by_pass(o), by_sessions(o);
  for (int i = 0; i < 20; ++i) {
    by_pass.Observe(spec::GammaRound{.drafted = 4, .accepted = 3, .batch = 1});
    by_sessions.Observe(spec::GammaRound{.drafted = 4, .accepted = 3, .batch = 1, .sessions = 4});
  }
  EXPECT_NEAR(by_pass.load(), 1, 1e-9);
  EXPECT_NEAR(by_sessions.load(), 4, 1e-9);
  EXPECT_EQ(by_pass.reason(), spec::GammaReason::kAcceptance);
  EXPECT_EQ(by_sessions.reason(), spec::GammaReason::kLoad);
  EXPECT_LT(by_sessions.gamma(), by_pass.gamma());
}

TEST(GammaController, TheFirstRoundIsChosenForTheLoadAtOpen) {
  // A request opening into a full target (16 sessions, its Open says)
  // starts with plain steps instead of the request's gamma; alone it drafts.
  spec::GammaOptions o{.gamma = 4, .adaptive = true, .max_gamma = 8, .measure_costs = false,
                       .draft_shares_compute = true};
  spec::GammaController busy(o), alone(o), unreported(o);
  busy.ObserveLoad(16);
  EXPECT_EQ(busy.gamma(), 0);
  EXPECT_EQ(busy.reason(), spec::GammaReason::kLoad);
  alone.ObserveLoad(1);
  EXPECT_GT(alone.gamma(), 0);
  EXPECT_EQ(alone.reason(), spec::GammaReason::kAcceptance);
  unreported.ObserveLoad(0);  // in process: nothing reported, the request's gamma
  EXPECT_EQ(unreported.gamma(), 4);
  spec::GammaController fixed({.gamma = 4});
  fixed.ObserveLoad(16);
  EXPECT_EQ(fixed.gamma(), 4);
}

TEST(GammaController, SharedCostsCarryOverToTheNextRequest) {
  // Costs and load are the deployment's: a request that starts while the
  // target is busy starts at gamma 0, without re-learning them; another
  // drafter's costs are its own.
  spec::SpeculationCosts shared;
  spec::GammaOptions o{.gamma = 4, .adaptive = true, .max_gamma = 8};
  spec::GammaController first(o, &shared, "model");
  SimulatedDeployment d;
  d.Run(first, 1, 30);
  d.Run(first, 16, 60);
  ASSERT_EQ(first.gamma(), 0);
  spec::GammaController next(o, &shared, "model");
  EXPECT_EQ(next.gamma(), 0);
  EXPECT_EQ(next.reason(), spec::GammaReason::kLoad);
  EXPECT_NEAR(next.row_ms(), d.c, 0.2 * d.c);
  EXPECT_NEAR(next.load(), 16, 0.5);
  spec::GammaController other(o, &shared, "ngram");
  EXPECT_EQ(other.gamma(), 4);  // nothing measured for it yet
  // Without sharing a request starts from the priors.
  spec::GammaController alone(o);
  EXPECT_EQ(alone.gamma(), 4);
}

TEST(GammaController, DraftingOnTheTargetsProcessorsCountsForTheWholeBatch) {
  // Cheap extra rows (c = 1): with the drafter on other processors one
  // drafted token still pays at 16 sessions; on the target's processors its
  // 6 ms hold up all 16 sessions' pass, so plain steps win. Alone both agree
  // (same choices, same simulated draws). The prior row cost is a GPU's, as
  // c is here; a long acceptance memory keeps a noisy estimate from deciding.
  spec::GammaOptions o{.gamma = 4, .adaptive = true, .max_gamma = 8, .ema_decay = 0.95, .verify_cost = 0.02};
  spec::GammaController apart(o);
  o.draft_shares_compute = true;
  spec::GammaController shared(o);
  SimulatedDeployment da, ds;
  da.c = ds.c = 1;
  da.alpha = ds.alpha = 0.8;
  da.Run(apart, 1, 100);
  ds.Run(shared, 1, 100);
  EXPECT_GE(apart.gamma(), 1);
  EXPECT_EQ(shared.gamma(), apart.gamma());
  da.Run(apart, 16, 100);
  ds.Run(shared, 16, 100);
  EXPECT_GE(apart.gamma(), 1) << "t_d " << apart.draft_ms_per_token() << " D0 " << apart.draft_fixed_ms() << " W "
                              << apart.pass_fixed_ms() << " c " << apart.row_ms() << " B " << apart.load() << " alpha " << apart.alpha() << " reason " << spec::GammaReasonName(apart.reason());
  EXPECT_EQ(shared.gamma(), 0);
  EXPECT_EQ(shared.reason(), spec::GammaReason::kLoad);
}

TEST(GammaController, TheDeploymentsAcceptanceIsTheNextRequestsPrior) {
  spec::SpeculationCosts shared;
  spec::GammaOptions o{.gamma = 4, .adaptive = true, .max_gamma = 8};
  spec::GammaController first(o, &shared, "model");
  SimulatedDeployment d;
  d.alpha = 0.9;
  d.Run(first, 1, 60);
  spec::GammaController next(o, &shared, "model");
  EXPECT_NEAR(next.alpha(), 0.9, 0.1);
  EXPECT_GE(next.gamma(), 2);
  spec::GammaController other(o, &shared, "ngram");
  EXPECT_DOUBLE_EQ(other.alpha(), 0.6);  // the prior: nothing measured for it
}

TEST(GammaController, ARequestDraftsAtMostItsGammaUntilItHasDrafted) {
  // The deployment's acceptance came from rounds that accepted everything:
  // the model wants max_gamma. A new request starts at its own gamma and
  // grows once its own first round confirmed the acceptance.
  spec::SpeculationCosts shared;
  spec::GammaOptions o{.gamma = 4, .adaptive = true, .max_gamma = 12};
  spec::GammaController warm(o, &shared, "model");
  SimulatedDeployment d;
  d.alpha = 1.0;
  d.t_d = 1;
  d.Run(warm, 1, 30);
  ASSERT_EQ(warm.gamma(), 12);
  spec::GammaController next(o, &shared, "model");
  EXPECT_EQ(next.gamma(), 4);
  next.ObserveLoad(1);
  EXPECT_EQ(next.gamma(), 4);
  d.Run(next, 1, 1);
  EXPECT_EQ(next.gamma(), 12);
}

TEST(GammaController, ACatchUpPrefillMustBeRepaidByTheTokensLeft) {
  // Drafting pays alone (alpha 0.9, cheap drafts): a drafter that must first
  // prefill 80 tokens is worth it for a long answer, not for its last few
  // tokens; measured catch-ups replace the prior, and on the target's
  // processors under load the same prefill holds up every session.
  spec::GammaOptions o{.gamma = 4, .adaptive = true, .max_gamma = 8};
  spec::GammaController g(o);
  SimulatedDeployment d;
  d.alpha = 0.9;
  d.Run(g, 1, 100);
  ASSERT_GE(g.gamma(), 2);
  EXPECT_TRUE(g.CatchUpPays(80, 400));
  EXPECT_FALSE(g.CatchUpPays(80, 2));
  EXPECT_TRUE(g.CatchUpPays(0, 2));  // nothing to catch up
  // A measured catch-up: 80 tokens prefilled in 400 ms beyond the drafting.
  const int n = g.gamma();
  g.Observe(spec::GammaRound{.drafted = n, .proposed = n, .accepted = n, .draft_ms = -1,
                             .propose_ms = n * d.t_d + 400, .catch_up_tokens = 80, .verify_ms = d.w + d.c * (n + 1),
                             .batch = 1});
  ASSERT_GE(g.gamma(), 2);
  const double saved_per_token = 1.0 / g.ExpectedRate(0, 1) - 1.0 / g.ExpectedRate(g.gamma(), 1);
  const int repaid_after = static_cast<int>(400 / saved_per_token) + 1;
  EXPECT_FALSE(g.CatchUpPays(80, repaid_after - 2));
  EXPECT_TRUE(g.CatchUpPays(80, repaid_after + 2));
  // Fixed gamma never asks.
  spec::GammaController fixed({.gamma = 4});
  EXPECT_TRUE(fixed.CatchUpPays(80, 1));
}

TEST(GammaController, ProposeTimesUnderLoadAreNotTheDraftersCost) {
  // Under load a Propose also waits behind the other sessions' work; the
  // drafter's cost is what it measured alone.
  spec::GammaController g({.gamma = 4, .adaptive = true, .max_gamma = 8});
  SimulatedDeployment d;
  d.Run(g, 1, 50);
  ASSERT_NEAR(g.draft_ms_per_token(), d.t_d, 1e-6);
  for (int i = 0; i < 50; ++i) {
    g.Observe(spec::GammaRound{.drafted = 2, .proposed = 2, .accepted = 1, .draft_ms = 2 * 60.0,
                               .verify_ms = d.w + d.c * 16 * 3, .batch = 16});
  }
  EXPECT_NEAR(g.draft_ms_per_token(), d.t_d, 1e-6);
  EXPECT_NEAR(g.load(), 16, 0.5);
}

TEST(GammaController, DraftingUnderLoadCostsWhatItTookUnderLoad) {
  // A pass of 16 rows costs 40 + 2 * 16 ms and drafting alone 6 ms a token:
  // with those costs one drafted token pays at 16 sessions. Under that load
  // a Propose took 60 ms a token (waiting for, and slowing, the shared
  // processors): charged that, drafting stops; the alone estimate stays.
  spec::GammaOptions o{.gamma = 4, .adaptive = true, .max_gamma = 8, .ema_decay = 0.95};
  spec::GammaController g(o);
  SimulatedDeployment d{.w = 40, .c = 2, .t_d = 6, .alpha = 0.8};
  d.Run(g, 1, 50);
  for (int i = 0; i < 30; ++i) {
    g.Observe(spec::GammaRound{.drafted = 1, .proposed = 1, .accepted = 1, .verify_ms = 40 + 2 * 16 * 2.0,
                               .batch = 16});
  }
  ASSERT_GT(g.gamma(), 0) << "no loaded Propose measured: the alone cost says drafting pays";
  for (int i = 0; i < 30; ++i) {
    g.Observe(spec::GammaRound{.drafted = 1, .proposed = 1, .accepted = 1, .draft_ms = 60,
                               .verify_ms = 40 + 2 * 16 * 2.0, .batch = 16});
  }
  EXPECT_EQ(g.gamma(), 0);
  EXPECT_EQ(g.reason(), spec::GammaReason::kLoad);
  EXPECT_NEAR(g.draft_ms_per_token(), d.t_d, 1e-6);
  d.Run(g, 1, 100);  // the load estimate decays by 0.95 a round
  EXPECT_GT(g.gamma(), 0);  // alone again: the alone costs
}

TEST(GammaController, ExpensiveDraftingStopsEvenAlone) {
  // A drafter as slow as the target's fixed pass cost never pays at this
  // acceptance: gamma 0 for its cost, not for load; then probes.
  spec::GammaController g({.gamma = 4, .adaptive = true, .max_gamma = 8});
  SimulatedDeployment d{.t_d = 60, .alpha = 0.5};
  d.Run(g, 1, 10);
  EXPECT_EQ(g.gamma(), 0);
  EXPECT_EQ(g.reason(), spec::GammaReason::kAcceptance);
  // A cheap drafter with a good acceptance is drafting.
  spec::GammaController cheap({.gamma = 4, .adaptive = true, .max_gamma = 8});
  SimulatedDeployment fast{.t_d = 2, .alpha = 0.95};
  fast.Run(cheap, 1, 30);
  EXPECT_GE(cheap.gamma(), 3);
}

TEST(GammaController, LowAcceptanceStopsThenProbesAndGrowsBack) {
  spec::GammaController g({.gamma = 4, .adaptive = true, .max_gamma = 8, .measure_costs = false});
  for (int i = 0; i < 30 && g.gamma() > 0; ++i) g.Observe(g.gamma(), 0);
  ASSERT_EQ(g.gamma(), 0);
  EXPECT_EQ(g.reason(), spec::GammaReason::kAcceptance);
  int zero_rounds = 0;
  while (g.gamma() == 0 && zero_rounds < 100) {
    g.Observe(0, 0);
    ++zero_rounds;
  }
  EXPECT_EQ(zero_rounds, 16);  // probe_every
  EXPECT_EQ(g.gamma(), 1);
  EXPECT_EQ(g.reason(), spec::GammaReason::kProbe);
  // The drafter is good now: probes succeed and gamma grows back.
  for (int i = 0; i < 200 && g.gamma() < 8; ++i) g.Observe(g.gamma(), g.gamma());
  EXPECT_EQ(g.gamma(), 8);
  EXPECT_EQ(g.reason(), spec::GammaReason::kAcceptance);
}

TEST(GammaController, NoAcceptanceProbeWhereEvenFullAcceptanceCannotPay) {
  // Prior costs (W = 0.9, c = 0.1, t_d = 0.3 of a step): with every drafted
  // token accepted, drafting pays while W > t_d * (B if the drafter shares
  // the target's processors, else 1). A drafter that accepts nothing stops
  // alone (gamma 0 for acceptance); at 4 sessions on shared processors it
  // could not pay whatever it accepted, so gamma 0 is the load's and no
  // probe is sent. On its own processors full acceptance would pay, so it
  // is still probed every probe_every rounds.
  for (const bool shared : {true, false}) {
    SCOPED_TRACE(shared ? "shared processors" : "own processors");
    spec::GammaController g({.gamma = 4, .adaptive = true, .max_gamma = 8, .draft_cost = 0.3, .verify_cost = 0.1,
                             .measure_costs = false, .draft_shares_compute = shared});
    for (int i = 0; i < 50 && g.gamma() > 0; ++i) g.Observe({.drafted = g.gamma(), .accepted = 0, .batch = 1});
    ASSERT_EQ(g.gamma(), 0);
    ASSERT_EQ(g.reason(), spec::GammaReason::kAcceptance);
    int probes = 0;
    for (int i = 0; i < 60; ++i) {
      g.Observe({.drafted = g.gamma(), .accepted = 0, .batch = 4});
      if (g.gamma() > 0) {
        ++probes;
        EXPECT_EQ(g.reason(), spec::GammaReason::kProbe);
      }
    }
    if (shared) {
      EXPECT_EQ(probes, 0);
      EXPECT_EQ(g.gamma(), 0);
      EXPECT_EQ(g.reason(), spec::GammaReason::kLoad);
    } else {
      EXPECT_GE(probes, 3);  // one every probe_every + 1 rounds
    }
  }
}

TEST(GammaController, AProbeMustBeAbleToRepayItsCatchUp) {
  // Prior costs (W = 0.75, c = 0.25, t_d = 0.3 of a step, so a caught-up
  // token is a quarter of a drafted one, 0.075): even with every drafted
  // token accepted, the best gamma (8) saves 1 - (8 * 0.3 + 0.75 + 2.25) / 9
  // = 0.4 of a step per token; a probe's catch-up is repaid only by that
  // times the tokens left.
  spec::GammaController g({.gamma = 4, .adaptive = true, .max_gamma = 8, .draft_cost = 0.3, .measure_costs = false});
  EXPECT_TRUE(g.ProbeCouldPay(100, 20));   // 7.5 vs 8
  EXPECT_FALSE(g.ProbeCouldPay(100, 18));  // vs 7.2
  EXPECT_TRUE(g.ProbeCouldPay(0, 1));      // nothing to catch up
  // A drafter as slow as the target's whole step never pays, whatever it accepts.
  spec::GammaController slow({.gamma = 4, .adaptive = true, .max_gamma = 8, .draft_cost = 1.0, .measure_costs = false});
  EXPECT_FALSE(slow.ProbeCouldPay(1, 1000));
}

TEST(GammaController, ADeploymentsMeasuredAcceptanceJudgesProbesUntilItIsStale) {
  // Drafting pays only above an acceptance of ~0.35 (W = 40, c = 12,
  // t_d = 6 ms); this drafter accepts 0.2. Every request of the deployment
  // would probe after 16 plain rounds if a probe were judged at an
  // acceptance of 1 (a catch-up of 30 tokens repaid by 200 tokens left at
  // ~30 ms saved per token); judged at the deployment's measured acceptance
  // it is not, until the deployment took explore_every plain rounds since
  // its last drafting round; one drafting round makes it current again.
  spec::SpeculationCosts shared;
  spec::GammaOptions o{.gamma = 4, .adaptive = true, .max_gamma = 8};
  o.explore_every = 64;
  SimulatedDeployment d;
  d.alpha = 0.2;
  spec::GammaController first(o, &shared, "model");
  d.Run(first, 1, 40);
  ASSERT_EQ(first.gamma(), 0);
  spec::GammaController next(o, &shared, "model");
  EXPECT_LT(next.ProbeAcceptance(), 0.35);
  EXPECT_FALSE(next.ProbeCouldPay(30, 200));
  EXPECT_TRUE(next.ProbeCouldPay(0, 200));  // nothing to catch up: a probe costs one drafted token
  const spec::GammaRound drafting{.drafted = 1, .proposed = 1, .accepted = 0, .draft_ms = d.t_d,
                                  .verify_ms = d.w + 2 * d.c, .batch = 1};
  next.Observe(drafting);  // the deployment's last drafting round
  const spec::GammaRound plain{.drafted = 0, .verify_ms = d.w + d.c, .batch = 1};
  for (int i = 0; i < 64; ++i) {
    EXPECT_FALSE(next.ProbeCouldPay(30, 200)) << i;
    next.Observe(plain);  // what a probe that could not pay leaves: a plain round
  }
  EXPECT_DOUBLE_EQ(next.ProbeAcceptance(), 1.0);  // stale: explore
  EXPECT_TRUE(next.ProbeCouldPay(30, 200));
  EXPECT_FALSE(next.ProbeCouldPay(30, 1));  // but never where even 1 cannot repay it
  next.Observe(drafting);
  EXPECT_FALSE(next.ProbeCouldPay(30, 200));  // re-measured, and still low
  // A load reported at Open is not a round.
  for (int i = 0; i < 100; ++i) next.ObserveLoad(1);
  EXPECT_FALSE(next.ProbeCouldPay(30, 200));
  // Without a deployment (one `tandem generate` process) a probe is judged
  // at 1: nothing else would re-measure the drafter.
  spec::GammaController alone(o);
  d.Run(alone, 1, 40);
  ASSERT_EQ(alone.gamma(), 0);
  EXPECT_DOUBLE_EQ(alone.ProbeAcceptance(), 1.0);
  EXPECT_TRUE(alone.ProbeCouldPay(30, 200));
}

TEST(GammaController, AFreshRequestExploresBeforeLowAcceptanceStopsIt) {
  // Prior costs (W = 0.75, c = 0.25, t_d = 0.3 of a step): gamma 1 pays above
  // an acceptance of 0.55. With nothing measured, one rejected first round
  // puts the estimate (prior 0.6 at two trials' weight) at 0.37.
  const spec::GammaOptions o{.gamma = 4, .adaptive = true, .max_gamma = 8, .draft_cost = 0.3, .measure_costs = false};
  spec::GammaOptions no_exploring = o;
  no_exploring.min_acceptance_trials = 0;
  spec::GammaController greedy_stop(no_exploring);
  greedy_stop.Observe(greedy_stop.gamma(), 0);
  EXPECT_EQ(greedy_stop.gamma(), 0);  // what the estimate alone says
  // Exploring: the request's gamma until 8 drafted tokens were judged.
  spec::GammaController good(o);
  good.Observe(good.gamma(), 0);
  EXPECT_EQ(good.gamma(), 4);
  EXPECT_EQ(good.reason(), spec::GammaReason::kProbe);
  good.Observe(4, 4);
  good.Observe(4, 4);  // 9 trials: the estimate decides, and it says draft
  EXPECT_GE(good.gamma(), 1);
  EXPECT_EQ(good.reason(), spec::GammaReason::kAcceptance);
  // A drafter that is always wrong is stopped after 8 trials (one per round).
  spec::GammaController bad(o);
  int drafting_rounds = 0;
  for (int i = 0; i < 30 && bad.gamma() > 0; ++i, ++drafting_rounds) bad.Observe(bad.gamma(), 0);
  EXPECT_EQ(drafting_rounds, 8);
  EXPECT_EQ(bad.gamma(), 0);
  EXPECT_EQ(bad.reason(), spec::GammaReason::kAcceptance);
  // A request seeded with the deployment's measured acceptance does not explore.
  spec::SpeculationCosts shared;
  spec::GammaOptions measured = o;
  measured.measure_costs = true;
  spec::GammaController first(measured, &shared, "model");
  for (int i = 0; i < 20; ++i) {
    first.Observe(spec::GammaRound{.drafted = 4, .proposed = 4, .accepted = 0, .draft_ms = 12, .verify_ms = 50, .batch = 1});
  }
  spec::GammaController next(measured, &shared, "model");
  next.Observe(spec::GammaRound{.drafted = next.gamma(), .proposed = next.gamma(), .accepted = 0, .draft_ms = 12,
                                .verify_ms = 50, .batch = 1});
  EXPECT_NE(next.reason(), spec::GammaReason::kProbe);
  EXPECT_EQ(next.gamma(), 0);
}

TEST(GammaController, ReportedLoadAloneShrinksGamma) {
  // Prior costs only (no timings): the load still counts.
  spec::GammaOptions o{.gamma = 4, .adaptive = true, .max_gamma = 8, .draft_cost = 0.1, .verify_cost = 0.1,
                       .measure_costs = false};
  spec::GammaController g(o);
  // Every other round accepts everything: alpha ~ 0.5.
  for (int i = 0; i < 20; ++i) g.Observe({.drafted = g.gamma(), .accepted = i % 2 == 0 ? g.gamma() : 0, .batch = 1});
  EXPECT_GT(g.gamma(), 0);
  for (int i = 0; i < 30; ++i) g.Observe({.drafted = g.gamma(), .accepted = i % 2 == 0 ? g.gamma() : 0, .batch = 64});
  EXPECT_EQ(g.gamma(), 0);
  EXPECT_EQ(g.reason(), spec::GammaReason::kLoad);
  // A fixed gamma ignores all of it.
  spec::GammaController fixed({.gamma = 5});
  for (int i = 0; i < 30; ++i) fixed.Observe({.drafted = 5, .accepted = 0, .verify_ms = 500, .batch = 64});
  EXPECT_EQ(fixed.gamma(), 5);
  EXPECT_EQ(fixed.reason(), spec::GammaReason::kFixed);
  EXPECT_EQ(spec::GammaReasonName(spec::GammaReason::kLoad), "load");
}

TEST(SpeculationStats, GammaChoicesCountRoundsPerGammaAndReason) {
  spec::SpeculationStats s;
  s.RecordGamma(4, "acceptance");
  s.RecordGamma(0, "load");
  s.RecordGamma(4, "acceptance");
  s.RecordGamma(0, "acceptance");
  ASSERT_EQ(s.gamma_choices.size(), 3u);
  EXPECT_EQ(s.gamma_choices[0], (spec::SpeculationStats::GammaChoice{4, "acceptance", 2}));
  EXPECT_EQ(s.gamma_choices[1], (spec::SpeculationStats::GammaChoice{0, "load", 1}));
  EXPECT_EQ(s.gamma_choices[2], (spec::SpeculationStats::GammaChoice{0, "acceptance", 1}));
}

TEST(SpeculationStats, PerPositionAccounting) {
  spec::SpeculationStats s;
  s.RecordRound(3, 2);
  s.RecordRound(5, 5);
  s.RecordRound(1, 0);
  s.RecordRound(0, 0);  // not a draft round
  EXPECT_EQ(s.num_drafts, 3);
  EXPECT_EQ(s.drafted_tokens, 9);
  EXPECT_EQ(s.accepted_tokens, 7);
  EXPECT_THAT(s.drafted_per_position, ElementsAre(3, 2, 2, 1, 1));
  EXPECT_THAT(s.accepted_per_position, ElementsAre(2, 2, 1, 1, 1));
  EXPECT_DOUBLE_EQ(s.acceptance_rate(), 7.0 / 9);
  EXPECT_DOUBLE_EQ(s.mean_acceptance_length(), 1 + 7.0 / 3);
}

TEST(StopMatcher, HoldsBackPrefixesAndCutsAtStop) {
  StopMatcher m({"END", "xy"});
  EXPECT_EQ(m.Push("hello E"), "hello ");
  EXPECT_EQ(m.Push("N"), "");
  EXPECT_EQ(m.Push("X"), "ENX");  // not a stop after all
  EXPECT_EQ(m.Push("abx"), "ab");
  EXPECT_EQ(m.Push("yzzz"), "");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.Push("more"), "");
  StopMatcher tail({"END"});
  EXPECT_EQ(tail.Push("abcEN"), "abc");
  EXPECT_EQ(tail.Flush(), "EN");
  StopMatcher inside({"END"});
  EXPECT_EQ(inside.Push("aENDb"), "a");
  StopMatcher none({});
  EXPECT_EQ(none.Push("anything"), "anything");
}

TEST(NgramLookup, LongestMostRecentMatch) {
  // Suffix [1,2,3] occurs at 0 (continuation 9,...); the shorter [2,3] occurs
  // more recently at 4 (continuation 5): the longest n-gram wins.
  std::vector<int32_t> seq = {1, 2, 3, 9, 2, 3, 5, 1, 2, 3};
  EXPECT_THAT(NgramDrafter::Lookup(seq, 3, 3, 1, 0), ElementsAre(9, 2, 3));
  EXPECT_THAT(NgramDrafter::Lookup(seq, 3, 2, 1, 0), ElementsAre(5, 1, 2));
  // Most recent occurrence among equals.
  std::vector<int32_t> rec = {7, 1, 4, 7, 2, 7};
  EXPECT_THAT(NgramDrafter::Lookup(rec, 2, 1, 1, 0), ElementsAre(2, 7));
  // Continuation is cut at the end of the sequence.
  std::vector<int32_t> end = {4, 5, 4};
  EXPECT_THAT(NgramDrafter::Lookup(end, 5, 2, 1, 0), ElementsAre(5, 4));
  // No match, below min_ngram, empty.
  std::vector<int32_t> none = {1, 2, 3, 4};
  EXPECT_TRUE(NgramDrafter::Lookup(none, 3, 3, 1, 0).empty());
  EXPECT_TRUE(NgramDrafter::Lookup(end, 3, 3, 2, 0).empty());
  EXPECT_TRUE(NgramDrafter::Lookup({}, 3, 3, 1, 0).empty());
  // The search window excludes old matches.
  std::vector<int32_t> far = {6, 8, 1, 2, 3, 4, 5, 6};
  EXPECT_THAT(NgramDrafter::Lookup(far, 1, 1, 1, 0), ElementsAre(8));
  EXPECT_TRUE(NgramDrafter::Lookup(far, 1, 1, 1, 6).empty());
}

TEST(NgramDrafter, SessionAppliesDeltasAndStopsAtEos) {
  NgramDrafter drafter({.vocab_size = 10, .max_ngram = 2, .min_ngram = 1,
                        .is_end_of_generation = [](int32_t t) { return t == 0; }});
  std::vector<int32_t> prompt = {5, 6, 7, 0, 8, 5, 6};
  auto s = drafter.Open(prompt, {}, {});
  ASSERT_TRUE(s.ok());
  DraftProposal out;
  ASSERT_TRUE((*s)->Propose({}, 4, &out).ok());
  EXPECT_THAT(out.tokens, ElementsAre(7, 0));  // [5,6] -> 7, 0 and stop at EOS
  ASSERT_EQ(out.q.size(), 2u);
  EXPECT_EQ(out.q[0].Prob(7), 1.0f);
  EXPECT_EQ(out.q[0].vocab_size(), 10);
  // Target accepted 7, rejected 0 and appended 9: S = prompt + [7, 9].
  ASSERT_TRUE((*s)->Propose({.accepted = 1, .next_token = 9}, 3, &out).ok());
  EXPECT_EQ((*s)->committed_length(), 9);
  EXPECT_TRUE(out.tokens.empty());  // [7,9] and [9] never seen
  ASSERT_TRUE((*s)->Propose({.accepted = 0, .next_token = 5}, 3, &out).ok());
  EXPECT_THAT(out.tokens, ElementsAre(6, 7, 9));  // [9,5] unseen; [5] most recently at 5
  // Bad deltas.
  EXPECT_FALSE((*s)->Propose({.accepted = 4}, 1, &out).ok());
  EXPECT_FALSE((*s)->Propose({.accepted = 0, .next_token = 10}, 1, &out).ok());
  // Greedy sessions skip q.
  auto g = drafter.Open(prompt, {}, {.return_distributions = false});
  ASSERT_TRUE((*g)->Propose({}, 2, &out).ok());
  EXPECT_EQ(out.tokens.size(), 2u);
  EXPECT_TRUE(out.q.empty());
}

}  // namespace
}  // namespace tandem::decoding
