// RAPID without real models: the knowledge-transfer acceptance rule, the
// confidence stop of the model drafter, and the rapid strategy end to end on
// synthetic models (tests/decoding/fake_lm.h) with a scripted retriever
// and a one-letter-per-token "tokenizer".
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/sampling/distribution.h"
#include "runtime/sampling/rng.h"
#include "runtime/sampling/sampler.h"
#include "decoding/local/model_drafter.h"
#include "decoding/local/model_verifier.h"
#include "decoding/spec/acceptance.h"
#include "decoding/spec/knowledge_transfer.h"
#include "decoding/strategies/rapid/rapid.h"
#include "decoding/strategies/speculative/speculative.h"
#include "decoding/strategies/target_only/target_only.h"
#include "tests/decoding/fake_lm.h"
#include "tests/runtime/sampling/chi_square.h"

namespace tandem::decoding {
namespace {

using runtime::Distribution;
using runtime::Rng;
using runtime::SamplingParams;
using spec::KnowledgeTransfer;
using testing::FakeLm;
using testing::FakeVocabulary;

Distribution Dense(std::vector<float> p) {
  Distribution d;
  d.AssignDense(p);
  return d;
}
Distribution Sparse(int32_t vocab, std::vector<int32_t> ids, std::vector<float> probs) {
  Distribution d;
  d.AssignSparse(vocab, ids, probs);
  return d;
}

// A random distribution over `vocab` ids; sparse (top `support`) when
// support < vocab.
Distribution RandomDistribution(Rng& rng, int32_t vocab, int32_t support) {
  std::vector<float> w(vocab);
  for (float& x : w) x = static_cast<float>(std::exp(3.0 * rng.Uniform()));
  std::vector<int32_t> order(vocab);
  for (int32_t i = 0; i < vocab; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return w[a] > w[b]; });
  std::vector<int32_t> ids(order.begin(), order.begin() + support);
  std::sort(ids.begin(), ids.end());
  double total = 0;
  for (int32_t id : ids) total += w[id];
  std::vector<float> probs;
  for (int32_t id : ids) probs.push_back(static_cast<float>(w[id] / total));
  if (support == vocab) return Dense(probs);
  return Sparse(vocab, ids, probs);
}

// ---------------------------------------------------------------- the rule

TEST(KnowledgeTransfer, EtaZeroIsBitIdenticalToSpeculativeAccept) {
  Rng gen(11);
  for (int trial = 0; trial < 300; ++trial) {
    const int32_t vocab = 12;
    const int n = 1 + trial % 5;
    std::vector<Distribution> q, p;
    std::vector<int32_t> draft;
    for (int i = 0; i < n; ++i) {
      q.push_back(RandomDistribution(gen, vocab, trial % 2 ? 4 : vocab));
      Rng pick(trial * 31 + i);
      draft.push_back(runtime::Sampler::Sample(q.back(), pick));
    }
    for (int i = 0; i <= n; ++i) p.push_back(RandomDistribution(gen, vocab, trial % 3 ? 6 : vocab));
    Rng a(1000 + trial), b(1000 + trial);
    auto plain = spec::SpeculativeAccept(draft, q, p, a);
    auto kt = spec::KnowledgeTransferAccept(draft, q, p, KnowledgeTransfer{.eta = 0.0f, .alpha_m = 0.1f}, b);
    ASSERT_TRUE(plain.ok() && kt.ok());
    EXPECT_EQ(plain->accepted, kt->accepted);
    EXPECT_EQ(plain->next_token, kt->next_token);
    EXPECT_EQ(a.Uniform(), b.Uniform()) << "different random draws consumed";
  }
}

// p^ = softmax(log p + eta * M * (q - p)) computed independently in double.
std::vector<double> ReferenceHat(const Distribution& p, const Distribution& q, double eta, double alpha_m) {
  double q_max = 0;
  for (int32_t v = 0; v < p.vocab_size(); ++v) q_max = std::max(q_max, static_cast<double>(q.Prob(v)));
  std::vector<double> logit(p.vocab_size(), -INFINITY);
  double m = -INFINITY;
  for (int32_t v = 0; v < p.vocab_size(); ++v) {
    if (p.Prob(v) <= 0) continue;
    const bool mask = q.Prob(v) >= alpha_m * q_max;
    logit[v] = std::log(static_cast<double>(p.Prob(v))) + (mask ? eta * (q.Prob(v) - p.Prob(v)) : 0.0);
    m = std::max(m, logit[v]);
  }
  double z = 0;
  for (double& l : logit) z += (l = std::exp(l - m));
  for (double& l : logit) l /= z;
  return logit;
}

TEST(KnowledgeTransfer, AdjustedDistributionMatchesTheLogitFormula) {
  Rng gen(5);
  for (float alpha_m : {0.0f, 0.1f, 0.5f}) {
    for (float eta : {0.5f, 5.0f, 20.0f, 100.0f}) {
      for (int layout = 0; layout < 4; ++layout) {
        const Distribution p = RandomDistribution(gen, 10, layout & 1 ? 5 : 10);
        const Distribution q = RandomDistribution(gen, 10, layout & 2 ? 3 : 10);
        Distribution hat;
        ASSERT_TRUE(spec::AdjustTowardDraft(p, q, {.eta = eta, .alpha_m = alpha_m}, &hat).ok());
        EXPECT_EQ(hat.dense(), p.dense());
        const std::vector<double> ref = ReferenceHat(p, q, eta, alpha_m);
        for (int32_t v = 0; v < 10; ++v) {
          EXPECT_NEAR(hat.Prob(v), ref[v], 1e-6) << "eta " << eta << " alpha " << alpha_m << " v " << v;
          if (p.Prob(v) == 0) {  // truncated stays truncated
            EXPECT_EQ(hat.Prob(v), 0.0f);
          }
        }
      }
    }
  }
}

TEST(KnowledgeTransfer, MaskLeavesTokensTheDraftDoubtsAlone) {
  // q's max is 0.6; with alpha_m = 0.5 only token 1 (0.6) is in the mask, so
  // the others keep their relative odds.
  const Distribution p = Dense({0.4f, 0.2f, 0.3f, 0.1f});
  const Distribution q = Dense({0.2f, 0.6f, 0.1f, 0.1f});
  Distribution hat;
  ASSERT_TRUE(spec::AdjustTowardDraft(p, q, {.eta = 10.0f, .alpha_m = 0.5f}, &hat).ok());
  EXPECT_NEAR(hat.Prob(0) / hat.Prob(2), 0.4 / 0.3, 1e-5);
  EXPECT_NEAR(hat.Prob(0) / hat.Prob(3), 0.4 / 0.1, 1e-5);
  EXPECT_NEAR(hat.Prob(1) / hat.Prob(0), 0.2 * std::exp(10.0 * 0.4) / 0.4, 1e-3);
}

// One drafted position: x ~ q, accepted with probability min(1, p^/q),
// else the residual. The emitted token must follow the closed form, not p.
void CheckOutputDistribution(const Distribution& p, const Distribution& q, const KnowledgeTransfer& kt,
                             uint64_t seed) {
  const int32_t vocab = p.vocab_size();
  std::vector<Distribution> ps = {p, Dense(std::vector<float>(vocab, 1.0f / vocab))};
  Rng rng(seed), draw(seed + 1);
  std::vector<int64_t> counts(vocab, 0);
  constexpr int kSamples = 40000;
  for (int i = 0; i < kSamples; ++i) {
    const std::vector<int32_t> draft = {runtime::Sampler::Sample(q, draw)};
    auto r = spec::KnowledgeTransferAccept(draft, std::span<const Distribution>(&q, 1), ps, kt, rng);
    ASSERT_TRUE(r.ok()) << r.status();
    ++counts[r->accepted == 1 ? draft[0] : r->next_token];
  }
  const std::vector<double> expected = spec::TransferOutputDistribution(p, q, kt);
  const auto fit = tandem::testing::ChiSquare(counts, expected);
  EXPECT_GT(fit.p_value, 1e-4) << "statistic " << fit.statistic << " dof " << fit.dof;
  std::vector<double> target(vocab);
  for (int32_t v = 0; v < vocab; ++v) target[v] = p.Prob(v);
  EXPECT_LT(tandem::testing::ChiSquare(counts, target).p_value, 1e-6) << "output is still p";
}

TEST(KnowledgeTransfer, OutputMatchesClosedFormNotP) {
  const Distribution p = Dense({0.05f, 0.30f, 0.25f, 0.20f, 0.15f, 0.05f});
  const Distribution q = Dense({0.10f, 0.05f, 0.10f, 0.50f, 0.05f, 0.20f});
  CheckOutputDistribution(p, q, {.eta = 5.0f, .alpha_m = 0.1f}, 7);
  CheckOutputDistribution(p, q, {.eta = 20.0f, .alpha_m = 0.0f}, 8);  // paper form: no mask
}

TEST(KnowledgeTransfer, OutputMatchesClosedFormWithSparseRows) {
  // Top-k style supports that only partly overlap.
  const Distribution p = Sparse(8, {1, 2, 4, 6}, {0.4f, 0.3f, 0.2f, 0.1f});
  const Distribution q = Sparse(8, {2, 3, 6}, {0.3f, 0.2f, 0.5f});
  CheckOutputDistribution(p, q, {.eta = 8.0f, .alpha_m = 0.1f}, 9);
}

TEST(KnowledgeTransfer, TransferResidualReadsPHatInAnyLayout) {
  // AdjustTowardDraft writes p^ in p's layout, which the residual reads in
  // place; the same p^ stored densely (or p's sparse support for a dense p)
  // must draw the same tokens from the same random stream.
  Rng gen(13);
  for (int layout = 0; layout < 4; ++layout) {
    const Distribution p = RandomDistribution(gen, 12, layout & 1 ? 6 : 12);
    const Distribution q = RandomDistribution(gen, 12, layout & 2 ? 4 : 12);
    Distribution hat;
    ASSERT_TRUE(spec::AdjustTowardDraft(p, q, {.eta = 6.0f, .alpha_m = 0.1f}, &hat).ok());
    Distribution other;
    if (hat.dense()) {
      std::vector<int32_t> ids;
      std::vector<float> probs;
      for (int32_t v = 0; v < 12; ++v) {
        if (hat.Prob(v) > 0) ids.push_back(v), probs.push_back(hat.Prob(v));
      }
      other.AssignSparse(12, ids, probs);
    } else {
      std::vector<float> dense(12);
      for (int32_t v = 0; v < 12; ++v) dense[v] = hat.Prob(v);
      other.AssignDense(dense);
    }
    ASSERT_NE(other.dense(), hat.dense());
    Rng a(100 + layout), b(100 + layout);
    std::vector<int64_t> counts(12, 0);
    for (int i = 0; i < 2000; ++i) {
      const int32_t x = spec::SampleTransferResidual(p, q, hat, a);
      ASSERT_EQ(x, spec::SampleTransferResidual(p, q, other, b)) << "layout " << layout << " draw " << i;
      ++counts[x];
    }
    // Only tokens with positive residual mass p - min(q, p^) may come out
    // (unless rounding left none, when the rule falls back to p).
    double residual = 0;
    for (int32_t v = 0; v < 12; ++v) residual += std::max(0.0f, p.Prob(v) - std::min(q.Prob(v), hat.Prob(v)));
    ASSERT_GT(residual, 1e-3) << "layout " << layout;
    for (int32_t v = 0; v < 12; ++v) {
      if (p.Prob(v) - std::min(q.Prob(v), hat.Prob(v)) <= 0) {
        EXPECT_EQ(counts[v], 0) << "v " << v;
      }
    }
  }
}

TEST(KnowledgeTransfer, ClosedFormWithEtaZeroIsP) {
  const Distribution p = Dense({0.1f, 0.6f, 0.3f});
  const Distribution q = Dense({0.5f, 0.25f, 0.25f});
  const std::vector<double> out = spec::TransferOutputDistribution(p, q, {.eta = 0.0f});
  for (int v = 0; v < 3; ++v) EXPECT_NEAR(out[v], p.Prob(v), 1e-6);
}

TEST(KnowledgeTransfer, GreedyVariantWithADeterministicDrafter) {
  // No q rows: the drafter is deterministic (n-gram), its q one-hot on d_i.
  // Temperature-1 rows and the greedy one-hot rows they imply.
  const std::vector<Distribution> soft = {Dense({0.50f, 0.45f, 0.05f}), Dense({0.2f, 0.3f, 0.5f})};
  std::vector<Distribution> hard(2);
  hard[0].AssignOneHot(3, 0);
  hard[1].AssignOneHot(3, 2);
  const std::vector<int32_t> close = {1};     // p 0.45 vs argmax 0.50
  const std::vector<int32_t> far = {2};       // p 0.05
  // eta = 0: exactly GreedyAccept.
  auto plain = spec::GreedyKnowledgeTransferAccept(close, hard, soft, {}, {.eta = 0.0f});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->accepted, 0);
  EXPECT_EQ(plain->next_token, 0);
  // A small pull accepts the close runner-up (0.45 * e^(0.5 * 0.55) > 0.5)...
  auto pulled = spec::GreedyKnowledgeTransferAccept(close, hard, soft, {}, {.eta = 0.5f, .alpha_m = 0.1f});
  ASSERT_TRUE(pulled.ok());
  EXPECT_EQ(pulled->accepted, 1);
  EXPECT_EQ(pulled->next_token, 2);  // bonus: the target's greedy token of the last row
  // ...but not the far one (0.05 * e^(0.5 * 0.95) < 0.5); the correction is
  // the target's own greedy token.
  auto kept = spec::GreedyKnowledgeTransferAccept(far, hard, soft, {}, {.eta = 0.5f, .alpha_m = 0.1f});
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->accepted, 0);
  EXPECT_EQ(kept->next_token, 0);
  // A strong pull accepts it too.
  auto strong = spec::GreedyKnowledgeTransferAccept(far, hard, soft, {}, {.eta = 5.0f, .alpha_m = 0.1f});
  ASSERT_TRUE(strong.ok());
  EXPECT_EQ(strong->accepted, 1);
}

// The greedy transfer reads the drafter's temperature-1 q, as the reference
// does: a drafted token the drafter itself doubts must not beat the target's
// confident argmax. With q one-hot on the drafted token it would (eta = 5: a
// token at p = 0.01 against an argmax at 0.9), making greedy RAPID nearly
// drafter-only; a drafter that is sure of its token still wins.
TEST(KnowledgeTransfer, GreedyVariantUsesTheDraftersTemperatureOneQ) {
  const KnowledgeTransfer kt{.eta = 5.0f, .alpha_m = 0.1f};
  const std::vector<Distribution> soft = {Dense({0.90f, 0.01f, 0.09f}), Dense({0.2f, 0.3f, 0.5f})};
  std::vector<Distribution> hard(2);
  hard[0].AssignOneHot(3, 0);
  hard[1].AssignOneHot(3, 2);
  const std::vector<int32_t> draft = {1};
  // One-hot q (mask: the drafted token only): 0.01 e^(5 * 0.99) = 1.41
  // against 0.9 and 0.09: accepted.
  auto one_hot = spec::GreedyKnowledgeTransferAccept(draft, hard, soft, {}, kt);
  ASSERT_TRUE(one_hot.ok());
  EXPECT_EQ(one_hot->accepted, 1);
  // The drafter's own q: 0.3 on its token, 0.5 on the target's argmax:
  // 0.01 e^(5 * 0.29) = 0.043 against 0.9 e^(5 * (0.5 - 0.9)) = 0.122 and
  // 0.09 e^(5 * 0.11) = 0.156: rejected, the next token is the target's
  // greedy one.
  const std::vector<Distribution> doubtful = {Dense({0.5f, 0.3f, 0.2f})};
  auto read = spec::GreedyKnowledgeTransferAccept(draft, hard, soft, doubtful, kt);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->accepted, 0);
  EXPECT_EQ(read->next_token, 0);
  // A drafter sure of its token (q 0.98; the mask leaves the others alone):
  // 0.01 e^(5 * 0.97) = 1.28 against 0.9: accepted.
  const std::vector<Distribution> sure = {Dense({0.01f, 0.98f, 0.01f})};
  auto kept = spec::GreedyKnowledgeTransferAccept(draft, hard, soft, sure, kt);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->accepted, 1);
  EXPECT_EQ(kept->next_token, 2);
  // q rows must match the draft.
  EXPECT_EQ(spec::GreedyKnowledgeTransferAccept(draft, hard, soft, soft, kt).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KnowledgeTransfer, RejectsBadParameters) {
  const std::vector<Distribution> p = {Dense({0.5f, 0.5f}), Dense({0.5f, 0.5f})};
  const std::vector<Distribution> q = {Dense({0.5f, 0.5f})};
  const std::vector<int32_t> draft = {1};
  Rng rng(1);
  EXPECT_EQ(spec::KnowledgeTransferAccept(draft, q, p, {.eta = 101.0f}, rng).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(spec::KnowledgeTransferAccept(draft, q, p, {.eta = 1.0f, .alpha_m = 1.5f}, rng).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(spec::KnowledgeTransferAccept(draft, q, p, {.eta = NAN}, rng).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::vector<Distribution> zero_q = {Dense({1.0f, 0.0f})};
  EXPECT_EQ(spec::KnowledgeTransferAccept(draft, zero_q, p, {.eta = 1.0f}, rng).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec::ValidateKnowledgeTransfer({.eta = -1.0f}, "params").message()),
              ::testing::HasSubstr("params.eta"));
}

// ------------------------------------------------------ helpers for runs

constexpr int32_t kVocab = 8;
bool IsEos(int32_t t) { return t == 0; }

// One letter per token: 'a' + id (id 0 = 'a' is EOS, so texts use b..h).
std::vector<int32_t> Letters(std::string_view text) {
  std::vector<int32_t> ids;
  for (char c : text) ids.push_back(c >= 'a' && c < 'a' + kVocab ? c - 'a' : 1);  // separators -> 'b'
  return ids;
}

std::shared_ptr<LongContextInput> MakeInput(std::string context, std::string question, int64_t window = 0) {
  auto in = std::make_shared<LongContextInput>();
  in->context = std::move(context);
  in->question = std::move(question);
  in->context_window = window;
  const std::string q = in->question;
  in->render = [q](std::string_view ctx, bool retrieved) -> absl::StatusOr<std::vector<int32_t>> {
    std::vector<int32_t> ids = {retrieved ? 2 : 3};  // the template's wording differs
    for (int32_t t : Letters(ctx)) ids.push_back(t);
    ids.push_back(4);
    for (int32_t t : Letters(q)) ids.push_back(t);
    return ids;
  };
  in->count_tokens = [](std::string_view text) { return static_cast<int64_t>(text.size()); };
  return in;
}

// Chunks of chunk_tokens letters; a chunk scores 0.9 when it contains the
// query's first letter, else 0.1 + 0.01 * position. Remembers the calls.
class ScriptedRetriever : public Retriever {
 public:
  absl::StatusOr<RetrievalResult> SearchText(std::string_view context, const RetrievalQuery& query,
                                             const ChunkingOptions& chunking) override {
    ++text_calls;
    last_query = query;
    last_chunk_tokens = chunking.chunk_tokens;
    RetrievalResult result;
    std::vector<RetrievedChunk> all;
    for (size_t at = 0, i = 0; at < context.size(); at += chunking.chunk_tokens, ++i) {
      RetrievedChunk c;
      c.text = std::string(context.substr(at, chunking.chunk_tokens));
      c.position = static_cast<int64_t>(i);
      c.token_offset = static_cast<int64_t>(at);
      c.token_count = static_cast<int32_t>(c.text.size());
      c.score = c.text.find(query.query[0]) != std::string::npos ? 0.9f : 0.1f + 0.01f * i;
      all.push_back(c);
    }
    std::stable_sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.score > b.score; });
    if (static_cast<int>(all.size()) > query.top_k) all.resize(query.top_k);
    result.chunks = all;
    result.total_chunks = static_cast<int64_t>(all.size());
    result.context_tokens = static_cast<int64_t>(context.size());
    result.elapsed_ms = 1.5;
    return result;
  }
  absl::StatusOr<RetrievalResult> SearchCollection(std::string_view collection,
                                                   const RetrievalQuery& query) override {
    ++collection_calls;
    last_query = query;
    if (collection != "essays") return absl::NotFoundError("collection not found");
    RetrievalResult result;
    result.chunks = {{.text = "ggg", .position = 7, .token_count = 3, .score = 0.8f},
                     {.text = "fff", .position = 2, .token_count = 3, .score = 0.7f}};
    return result;
  }
  int text_calls = 0, collection_calls = 0, last_chunk_tokens = 0;
  RetrievalQuery last_query;
};

// Opens every session on a fixed prompt: the RAPID drafter's, so that plain
// RunSpeculative sees exactly the drafts RAPID sees.
class FixedPromptDrafter : public Drafter {
 public:
  FixedPromptDrafter(Drafter& base, std::vector<int32_t> prompt) : base_(base), prompt_(std::move(prompt)) {}
  std::string_view name() const override { return base_.name(); }
  absl::StatusOr<std::unique_ptr<DraftSession>> Open(std::span<const int32_t>, const SamplingParams& params,
                                                     const DraftOptions& options) override {
    return base_.Open(prompt_, params, options);
  }

 private:
  Drafter& base_;
  std::vector<int32_t> prompt_;
};

// A context of `n` letters from b..h with a pattern that varies.
std::string Haystack(int n, int salt) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>('b' + (i * 7 + i / 5 + salt) % 6);  // b..g
  s[n / 2] = 'h';  // the "needle": the only h
  return s;
}

RapidOptions SmallOptions() {
  RapidOptions o;
  o.chunk_tokens = 16;
  o.l_min = 32;
  o.lambda = 24;
  o.theta = 0.3f;
  o.c_conf = 0.0f;
  return o;
}

struct Rig {
  FakeLm target{kVocab, testing::TargetLogits};
  FakeLm draft_lm{kVocab, testing::TargetLogits};  // self-speculation: the same model
  FakeVocabulary vocab{kVocab};
  ModelVerifier verifier{target};
  ModelDrafter drafter{draft_lm, IsEos};
  ScriptedRetriever retriever;
};

GenerationResult RunOn(Rig& rig, const GenerationRequest& req, const RapidOptions& o, const LongContextInput& in,
                     absl::Status* status = nullptr) {
  GenerationResult result;
  absl::Status s = RunRapid(req, o, in, rig.drafter, rig.verifier, rig.retriever, rig.vocab, nullptr, &result);
  if (status != nullptr) {
    *status = s;
  } else {
    EXPECT_TRUE(s.ok()) << s;
  }
  return result;
}

GenerationRequest Request(float temperature, int max_tokens, uint64_t seed, int top_k = 0) {
  GenerationRequest req;
  req.prompt = {1};  // ignored by rapid
  req.sampling.temperature = temperature;
  req.sampling.top_k = top_k;
  req.sampling.seed = seed;
  req.max_tokens = max_tokens;
  return req;
}

// ------------------------------------------------------------ the strategy

TEST(RapidBudget, FollowsTheReferenceRule) {
  // K = ceil(max(L / (S lambda), min(L_min / S, L / S))).
  EXPECT_EQ(RetrievalBudget(100000, 512, 4096, 24), 9);   // 100000/12288 = 8.14 beats 8
  EXPECT_EQ(RetrievalBudget(8192, 512, 4096, 24), 8);     // L_min/S = 8
  EXPECT_EQ(RetrievalBudget(2000, 512, 4096, 24), 4);     // short context: all of it, 3.9 -> 4
  EXPECT_EQ(RetrievalBudget(1000000, 512, 4096, 32), 62); // 61.04 -> 62
  EXPECT_EQ(RetrievalBudget(0, 512, 4096, 24), 1);
  EXPECT_EQ(RetrievalBudget(300, 16, 32, 24), 2);
}

TEST(RapidChunks, ThetaOrderDedupAndJoin) {
  std::vector<RetrievedChunk> chunks = {{.text = "third", .position = 9, .token_count = 5, .score = 0.9f},
                                        {.text = "first", .position = 1, .token_count = 4, .score = 0.5f},
                                        {.text = "low", .position = 0, .token_count = 2, .score = 0.2f},
                                        {.text = "first", .position = 1, .token_count = 4, .score = 0.5f},
                                        {.text = "second", .position = 4, .token_count = 6, .score = 0.3f}};
  int64_t kept = 0, tokens = 0;
  EXPECT_EQ(JoinRetrievedChunks(chunks, 0.3f, &kept, &tokens), "first\n\nsecond\n\nthird");
  EXPECT_EQ(kept, 3);
  EXPECT_EQ(tokens, 15);
  EXPECT_EQ(JoinRetrievedChunks(chunks, 0.95f, &kept, &tokens), "");
  EXPECT_EQ(kept, 0);
}

TEST(RapidChunks, MiddleTruncationKeepsBothEnds) {
  std::vector<int32_t> ids = {1, 2, 3, 4, 5, 6, 7};
  MiddleTruncate(ids, 4);
  EXPECT_THAT(ids, ::testing::ElementsAre(1, 2, 6, 7));
  std::vector<int32_t> odd = {1, 2, 3, 4, 5, 6, 7};
  MiddleTruncate(odd, 3);
  EXPECT_THAT(odd, ::testing::ElementsAre(1, 6, 7));
  std::vector<int32_t> short_ids = {1, 2};
  MiddleTruncate(short_ids, 4);
  EXPECT_EQ(short_ids.size(), 2u);
}

TEST(Rapid, RetrievesWithTheBudgetAndBuildsTheDrafterPromptInDocumentOrder) {
  Rig rig;
  const std::string context = Haystack(100, 0);
  auto in = MakeInput(context, "hb");
  const RapidOptions o = SmallOptions();
  GenerationResult r = RunOn(rig, Request(0.0f, 8, 1), o, *in);
  EXPECT_EQ(rig.retriever.text_calls, 1);
  EXPECT_EQ(rig.retriever.last_query.query, "hb");
  EXPECT_EQ(rig.retriever.last_query.top_k, RetrievalBudget(100, 16, 32, 24));  // 2
  EXPECT_EQ(rig.retriever.last_chunk_tokens, 16);
  EXPECT_FLOAT_EQ(rig.retriever.last_query.min_score, 0.3f);
  // Kept: the needle chunk (0.9) only; the runner-up scores 0.1 + 0.01 i < theta.
  EXPECT_EQ(r.stats.retrieval.retrieved_chunks, 1);
  EXPECT_EQ(r.stats.retrieval.retrieved_tokens, 16);
  EXPECT_EQ(r.stats.retrieval.context_tokens, 100);
  EXPECT_DOUBLE_EQ(r.stats.retrieval.retrieval_ms, 1.5);
  EXPECT_EQ(r.stats.retrieval.draft_prompt_tokens, 1 + 16 + 1 + 2);
  EXPECT_EQ(r.stats.prompt_tokens, 1 + 100 + 1 + 2);  // the target read everything
  EXPECT_EQ(r.stats.strategy, "rapid");
}

TEST(Rapid, SearchesANamedCollectionInstead) {
  Rig rig;
  auto in = MakeInput(Haystack(60, 1), "gb");
  RapidOptions o = SmallOptions();
  o.collection = "essays";
  GenerationResult r = RunOn(rig, Request(0.0f, 4, 1), o, *in);
  EXPECT_EQ(rig.retriever.collection_calls, 1);
  EXPECT_EQ(rig.retriever.text_calls, 0);
  EXPECT_EQ(r.stats.retrieval.retrieved_chunks, 2);
  EXPECT_EQ(r.stats.retrieval.draft_prompt_tokens, 1 + 8 + 1 + 2);  // "fff\n\nggg" is 8 letters
  o.collection = "missing";
  absl::Status s;
  RunOn(rig, Request(0.0f, 4, 1), o, *in, &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
}

TEST(Rapid, RejectsBadRequests) {
  Rig rig;
  absl::Status s;
  RunOn(rig, Request(0.0f, 4, 1), SmallOptions(), *MakeInput("", "b"), &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("context"));
  RunOn(rig, Request(0.0f, 4, 1), SmallOptions(), *MakeInput("bcd", ""), &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  RapidOptions bad = SmallOptions();
  bad.knowledge_transfer.eta = 500;
  RunOn(rig, Request(0.0f, 4, 1), bad, *MakeInput("bcd", "b"), &s);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("params.eta"));
  bad = SmallOptions();
  bad.c_conf = 2;
  RunOn(rig, Request(0.0f, 4, 1), bad, *MakeInput("bcd", "b"), &s);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("params.c_conf"));
  // The window cannot take max_tokens.
  RunOn(rig, Request(0.0f, 40, 1), SmallOptions(), *MakeInput("bcd", "b", 41), &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

TEST(Rapid, TargetPromptIsMiddleTruncatedToTheWindow) {
  Rig rig;
  auto in = MakeInput(Haystack(200, 2), "hb", /*window=*/120);
  GenerationResult r = RunOn(rig, Request(0.0f, 20, 1), SmallOptions(), *in);
  EXPECT_EQ(r.stats.prompt_tokens, 100);  // 120 - max_tokens
  EXPECT_EQ(r.stats.retrieval.context_tokens, 200);  // retrieval saw the whole context
  EXPECT_FALSE(r.tokens.empty() && r.finish_reason != FinishReason::kEndOfGeneration);
}

TEST(Rapid, GreedyEtaZeroEqualsTargetOnlyOnTheLongContext) {
  for (int salt = 0; salt < 6; ++salt) {
    Rig rig;
    auto in = MakeInput(Haystack(90 + 7 * salt, salt), salt % 2 ? "hc" : "gd");
    RapidOptions o = SmallOptions();
    o.knowledge_transfer.eta = 0;
    o.c_conf = 0.3f;  // the confidence stop only changes how drafts are cut
    GenerationRequest req = Request(0.0f, 40, 3);
    GenerationResult rapid = RunOn(rig, req, o, *in);

    GenerationRequest plain = req;
    plain.prompt = *in->render(in->context, false);
    GenerationResult target;
    ASSERT_TRUE(RunTargetOnly(plain, rig.verifier, rig.vocab, nullptr, &target).ok());
    EXPECT_EQ(rapid.tokens, target.tokens) << "salt " << salt;
    EXPECT_EQ(rapid.finish_reason, target.finish_reason);
    EXPECT_GT(rapid.stats.speculation.drafted_tokens, 0);
  }
}

TEST(Rapid, EtaZeroReproducesStandardSpeculativeSampling) {
  int64_t total_tokens = 0, total_rejected = 0;
  for (int top_k : {0, 3}) {
    for (uint64_t seed = 1; seed <= 20; ++seed) {
      Rig rig;
      auto in = MakeInput(Haystack(80, static_cast<int>(seed)), "hd");
      RapidOptions o = SmallOptions();
      o.knowledge_transfer.eta = 0;
      GenerationRequest req = Request(1.0f, 30, seed, top_k);
      GenerationResult rapid = RunOn(rig, req, o, *in);

      // The same drafts (drafter on C^S) verified by plain speculative
      // sampling with gamma fixed at RAPID's.
      std::string chunks;
      {
        Rig probe;
        RunOn(probe, Request(0.0f, 1, 1), o, *in);
        RetrievalQuery q = probe.retriever.last_query;
        auto found = probe.retriever.SearchText(in->context, q, {.chunk_tokens = o.chunk_tokens});
        chunks = JoinRetrievedChunks(found->chunks, o.theta, nullptr, nullptr);
      }
      FixedPromptDrafter fixed(rig.drafter, *in->render(chunks, true));
      GenerationRequest plain = req;
      plain.prompt = *in->render(in->context, false);
      plain.gamma = {.gamma = o.gamma, .adaptive = false};
      GenerationResult spec_result;
      ASSERT_TRUE(RunSpeculative(plain, fixed, rig.verifier, rig.vocab, nullptr, &spec_result).ok());
      EXPECT_EQ(rapid.tokens, spec_result.tokens) << "seed " << seed << " top_k " << top_k;
      EXPECT_EQ(rapid.stats.speculation.accepted_tokens, spec_result.stats.speculation.accepted_tokens);
      EXPECT_EQ(rapid.stats.speculation.drafted_tokens, spec_result.stats.speculation.drafted_tokens);
      total_tokens += static_cast<int64_t>(rapid.tokens.size());
      total_rejected += rapid.stats.speculation.drafted_tokens - rapid.stats.speculation.accepted_tokens;
    }
  }
  // Enough text and enough rejected drafts that the comparison means something.
  EXPECT_GT(total_tokens, 200);
  EXPECT_GT(total_rejected, 20);
}

// The first emitted token of a RAPID run with eta > 0 follows the closed form
// built from the target's p (full context) and the drafter's q (retrieved
// context), not p.
void CheckFirstTokenDistribution(int top_k, float eta, float alpha_m) {
  auto in = MakeInput(Haystack(70, 4), "hc");
  RapidOptions o = SmallOptions();
  o.knowledge_transfer = {.eta = eta, .alpha_m = alpha_m};
  o.gamma = 4;

  // p and q exactly as the two sides process them.
  SamplingParams params;
  params.temperature = 1.0f;
  params.top_k = top_k;
  std::vector<int32_t> target_prompt = *in->render(in->context, false);
  std::string chunks;
  {
    Rig probe;
    RunOn(probe, Request(0.0f, 1, 1), o, *in);
    auto found = probe.retriever.SearchText(in->context, probe.retriever.last_query, {.chunk_tokens = 16});
    chunks = JoinRetrievedChunks(found->chunks, o.theta, nullptr, nullptr);
  }
  std::vector<int32_t> draft_prompt = *in->render(chunks, true);
  runtime::Sampler sampler(params);
  std::vector<float> logits(kVocab);
  Distribution p, q;
  testing::TargetLogits(target_prompt, logits);
  ASSERT_TRUE(sampler.Process(logits, target_prompt, &p).ok());
  testing::TargetLogits(draft_prompt, logits);
  ASSERT_TRUE(sampler.Process(logits, draft_prompt, &q).ok());
  const std::vector<double> expected = spec::TransferOutputDistribution(p, q, o.knowledge_transfer);

  Rig rig;
  std::vector<int64_t> counts(kVocab, 0);
  constexpr int kRuns = 20000;
  for (int i = 0; i < kRuns; ++i) {
    GenerationRequest req = Request(1.0f, 2, 100 + i, top_k);
    GenerationResult r = RunOn(rig, req, o, *in);
    ++counts[r.tokens.empty() ? 0 : r.tokens[0]];  // empty: EOS came first
  }
  const auto fit = tandem::testing::ChiSquare(counts, expected);
  EXPECT_GT(fit.p_value, 1e-4) << "statistic " << fit.statistic << " dof " << fit.dof;
  std::vector<double> target(kVocab);
  for (int v = 0; v < kVocab; ++v) target[v] = p.Prob(v);
  EXPECT_LT(tandem::testing::ChiSquare(counts, target).p_value, 1e-6) << "RAPID output is still the target's p";
}

TEST(Rapid, EtaPositiveFollowsTheClosedFormDense) { CheckFirstTokenDistribution(0, 8.0f, 0.1f); }
TEST(Rapid, EtaPositiveFollowsTheClosedFormTopK) { CheckFirstTokenDistribution(6, 8.0f, 0.1f); }

TEST(Rapid, GreedyEtaPositiveAcceptsMoreOfTheRetrievalDrafter) {
  Rig rig;
  auto in = MakeInput(Haystack(120, 5), "hb");
  RapidOptions o = SmallOptions();
  o.knowledge_transfer.eta = 0;
  GenerationResult lossless = RunOn(rig, Request(0.0f, 60, 1), o, *in);
  o.knowledge_transfer.eta = 20;
  GenerationResult pulled = RunOn(rig, Request(0.0f, 60, 1), o, *in);
  EXPECT_GT(lossless.stats.speculation.drafted_tokens, 0);
  // Strictly more: a transfer that has no effect (eta ignored, or q equal to
  // p) accepts exactly as often as eta = 0 and must fail here.
  EXPECT_GT(pulled.stats.speculation.acceptance_rate(), lossless.stats.speculation.acceptance_rate());
  EXPECT_NE(pulled.tokens, lossless.tokens);  // eta > 0 is lossy: the output leans toward the drafter
}

// ------------------------------------------------- the drafter's c_conf stop

TEST(ConfidenceStop, ProposalEndsAfterTheFirstDoubtfulToken) {
  FakeLm lm(kVocab, testing::TargetLogits);
  ModelDrafter drafter(lm, IsEos);
  for (bool greedy : {false, true}) {
    SamplingParams params;
    params.temperature = greedy ? 0.0f : 1.0f;
    SamplingParams soft = params;
    soft.temperature = 1.0f;
    int stopped_early = 0, full = 0;
    for (uint64_t seed = 1; seed <= 60; ++seed) {
      params.seed = seed;
      const std::vector<int32_t> prompt = {3, static_cast<int32_t>(1 + seed % 7), 5, static_cast<int32_t>(seed % 8)};
      auto session = drafter.Open(prompt, params, {.return_distributions = true, .stop_below_probability = 0.3f});
      ASSERT_TRUE(session.ok()) << session.status();
      DraftProposal out;
      ASSERT_TRUE((*session)->Propose({}, 8, &out).ok());
      ASSERT_FALSE(out.tokens.empty());
      // Replay each token's confidence: q (sampling) or the T = 1 row (greedy).
      runtime::Sampler sampler(soft);
      std::vector<int32_t> history = prompt;
      std::vector<float> logits(kVocab);
      for (size_t i = 0; i < out.tokens.size(); ++i) {
        Distribution row;
        testing::TargetLogits(history, logits);
        ASSERT_TRUE(sampler.Process(logits, history, &row).ok());
        const float confidence = greedy ? row.Prob(out.tokens[i]) : out.q[i].Prob(out.tokens[i]);
        const bool last = i + 1 == out.tokens.size();
        if (!last) {
          EXPECT_GE(confidence, 0.3f) << "kept drafting after a doubtful token";
        }
        if (last && out.tokens.size() < 8 && !IsEos(out.tokens[i])) {
          EXPECT_LT(confidence, 0.3f) << "stopped without reason";
          ++stopped_early;
        }
        history.push_back(out.tokens[i]);
      }
      if (out.tokens.size() == 8) ++full;
    }
    EXPECT_GT(stopped_early, 0) << "greedy " << greedy;
  }
  // Off: full proposals (the fake model never drafts EOS this early... or
  // stops only there).
  SamplingParams params;
  params.temperature = 1.0f;
  auto session = drafter.Open(std::vector<int32_t>{3, 4, 5}, params, {.return_distributions = true});
  ASSERT_TRUE(session.ok());
  DraftProposal out;
  ASSERT_TRUE((*session)->Propose({}, 8, &out).ok());
  EXPECT_TRUE(out.tokens.size() == 8 || IsEos(out.tokens.back()));
  EXPECT_EQ(drafter.Open(std::vector<int32_t>{3}, params, {.stop_below_probability = 1.5f}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(drafter.Open(std::vector<int32_t>{3}, params, {.staged_ngram = kMaxStagedNgram + 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(drafter.Open(std::vector<int32_t>{3}, params, {.staged_ngram = -1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KnowledgeTransferVerifier, RejectsOutOfRangeOptions) {
  FakeLm lm(kVocab, testing::TargetLogits);
  ModelVerifier verifier(lm);
  SamplingParams params;
  VerifyOptions options;
  options.knowledge_transfer = {.eta = 200.0f};
  EXPECT_EQ(verifier.Open(std::vector<int32_t>{3, 4}, params, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.knowledge_transfer = {.eta = 5.0f, .alpha_m = -0.1f};
  EXPECT_EQ(verifier.Open(std::vector<int32_t>{3, 4}, params, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::decoding
