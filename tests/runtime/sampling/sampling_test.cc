#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/sampling/distribution.h"
#include "runtime/sampling/rng.h"
#include "runtime/sampling/sampler.h"
#include "runtime/sampling/sampling_params.h"
#include "runtime/sampling/top_k.h"
#include "tests/runtime/sampling/chi_square.h"

namespace tandem::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
constexpr float kInf = std::numeric_limits<float>::infinity();

Distribution ProcessOk(const SamplingParams& p, std::vector<float> logits, std::vector<int32_t> history = {}) {
  Sampler s(p);
  Distribution d;
  absl::Status st = s.Process(logits, history, &d);
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_TRUE(d.Validate().ok()) << d.Validate();
  return d;
}

std::vector<float> Logs(std::vector<float> probs) {
  for (float& p : probs) p = std::log(p);
  return probs;
}

// TopKValues against a full stable sort: best first, equal values by lower
// id, on rows with many ties, -inf entries, and k from 0 past the row size.
TEST(TopKValues, MatchesAStableSortOfTheRow) {
  std::mt19937 rng(7);
  std::vector<int32_t> ids;
  for (int64_t n : {1, 5, 31, 32, 33, 100, 1000, 5000}) {
    for (bool ties : {false, true}) {
      std::vector<float> row(static_cast<size_t>(n));
      std::uniform_int_distribution<int> few(0, 6);
      std::normal_distribution<float> normal(0.0f, 3.0f);
      for (float& v : row) v = ties ? static_cast<float>(few(rng)) : normal(rng);
      if (n > 3) row[2] = -kInf;
      std::vector<int32_t> order(static_cast<size_t>(n));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return row[a] > row[b]; });
      for (size_t k : {size_t{0}, size_t{1}, size_t{5}, size_t{20}, static_cast<size_t>(n) + 3}) {
        TopKValues(row, k, ids);
        const size_t want = std::min(k, static_cast<size_t>(n));
        ASSERT_EQ(ids, std::vector<int32_t>(order.begin(), order.begin() + static_cast<int64_t>(want)))
            << "n=" << n << " k=" << k << " ties=" << ties;
      }
    }
  }
  // Increasing rows replace the heap's last at every id: the worst case.
  std::vector<float> rising(300);
  std::iota(rising.begin(), rising.end(), -150.0f);
  TopKValues(rising, 3, ids);
  EXPECT_THAT(ids, ElementsAre(299, 298, 297));
}

TEST(SamplingParams, ValidateNamesField) {
  struct Case { SamplingParams p; const char* field; };
  std::vector<Case> cases;
  SamplingParams p;
  p.temperature = -1; cases.push_back({p, "temperature"}); p = {};
  p.temperature = std::nanf(""); cases.push_back({p, "temperature"}); p = {};
  p.top_k = -2; cases.push_back({p, "top_k"}); p = {};
  p.top_p = 0; cases.push_back({p, "top_p"}); p = {};
  p.top_p = 1.5; cases.push_back({p, "top_p"}); p = {};
  p.min_p = -0.1f; cases.push_back({p, "min_p"}); p = {};
  p.repetition_penalty = 0; cases.push_back({p, "repetition_penalty"}); p = {};
  p.repetition_window = -1; cases.push_back({p, "repetition_window"}); p = {};
  p.presence_penalty = 2.5f; cases.push_back({p, "presence_penalty"}); p = {};
  p.frequency_penalty = -std::numeric_limits<float>::infinity(); cases.push_back({p, "frequency_penalty"}); p = {};
  p.logit_bias = {{-1, 1.0f}}; cases.push_back({p, "logit_bias"}); p = {};
  p.logit_bias = {{4, 1.0f}, {4, 2.0f}}; cases.push_back({p, "logit_bias"}); p = {};
  p.logit_bias = {{5, 1.0f}, {4, 2.0f}}; cases.push_back({p, "logit_bias"}); p = {};
  p.logit_bias = {{4, 100.5f}}; cases.push_back({p, "logit_bias"}); p = {};
  p.logit_bias = {{4, std::nanf("")}}; cases.push_back({p, "logit_bias"}); p = {};
  for (const Case& c : cases) {
    absl::Status s = c.p.Validate();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.field));
  }
  EXPECT_TRUE(SamplingParams{}.Validate().ok());
}

TEST(Sampler, SoftmaxIsDenseAndExact) {
  Distribution d = ProcessOk({}, {0.0f, std::log(2.0f), std::log(4.0f)});
  ASSERT_TRUE(d.dense());
  EXPECT_NEAR(d.Prob(0), 1.0 / 7, 1e-6);
  EXPECT_NEAR(d.Prob(1), 2.0 / 7, 1e-6);
  EXPECT_NEAR(d.Prob(2), 4.0 / 7, 1e-6);
}

TEST(Sampler, Temperature) {
  SamplingParams p;
  p.temperature = 2;
  Distribution d = ProcessOk(p, {0.0f, std::log(4.0f)});
  EXPECT_NEAR(d.Prob(0), 1.0 / 3, 1e-6);
  EXPECT_NEAR(d.Prob(1), 2.0 / 3, 1e-6);
}

TEST(Sampler, GreedyIsOneHotLowestIdOnTies) {
  SamplingParams p;
  p.temperature = 0;
  Distribution d = ProcessOk(p, {1.0f, 3.0f, 0.0f, 3.0f});
  EXPECT_FALSE(d.dense());
  EXPECT_THAT(d.ids(), ElementsAre(1));
  EXPECT_THAT(d.probs(), ElementsAre(1.0f));
  EXPECT_EQ(d.Argmax(), 1);
  // top-k = 1 through the sampling path picks the same token.
  SamplingParams k1;
  k1.top_k = 1;
  EXPECT_THAT(ProcessOk(k1, {1.0f, 3.0f, 0.0f, 3.0f}).ids(), ElementsAre(1));
}

// A temperature whose inverse overflows float (OpenAI's range lets a client
// send 1e-40) is greedy, its limit: computing it made the maximum's weight
// 0 * inf = NaN (every probability NaN on the scalar exp).
TEST(Sampler, SubnormalTemperatureIsGreedy) {
  for (float t : {1e-40f, std::numeric_limits<float>::denorm_min(), 2.9e-39f}) {
    SamplingParams p;
    p.temperature = t;
    ASSERT_TRUE(p.Validate().ok());
    EXPECT_TRUE(p.greedy()) << t;
    Distribution d = ProcessOk(p, {1.0f, 3.0f, 0.0f, 3.0f});
    EXPECT_FALSE(d.dense()) << t;
    EXPECT_THAT(d.ids(), ElementsAre(1)) << t;
    EXPECT_THAT(d.probs(), ElementsAre(1.0f)) << t;
  }
  // The smallest normal float still samples (1 / 1.2e-38 is finite).
  SamplingParams cold;
  cold.temperature = std::numeric_limits<float>::min();
  EXPECT_FALSE(cold.greedy());
  Distribution c = ProcessOk(cold, {1.0f, 1.5f, 1.4f});
  EXPECT_NEAR(c.Prob(1), 1.0, 1e-6);
}

TEST(Sampler, RepetitionPenaltyOncePerDistinctToken) {
  SamplingParams p;
  p.repetition_penalty = 2;
  // history repeats 0: it is still penalised once. 2 -> 1, -1 -> -2, 1 stays.
  Distribution d = ProcessOk(p, {2.0f, -1.0f, 1.0f}, {0, 1, 0});
  const double z = 2 * std::exp(1.0) + std::exp(-2.0);
  EXPECT_NEAR(d.Prob(0), std::exp(1.0) / z, 1e-6);
  EXPECT_NEAR(d.Prob(1), std::exp(-2.0) / z, 1e-6);
  EXPECT_NEAR(d.Prob(2), std::exp(1.0) / z, 1e-6);
}

TEST(Sampler, RepetitionWindow) {
  SamplingParams p;
  p.repetition_penalty = 100;
  p.repetition_window = 1;
  p.temperature = 0;
  // Only the last token (0) is penalised (5 -> 0.05), so 1 wins.
  EXPECT_THAT(ProcessOk(p, {5.0f, 4.0f}, {1, 0}).ids(), ElementsAre(1));
  p.repetition_window = 0;  // whole history: both penalised, 0.05 > 0.04 -> 0 wins
  EXPECT_THAT(ProcessOk(p, {5.0f, 4.0f}, {1, 0}).ids(), ElementsAre(0));
}

// OpenAI / llama.cpp semantics: minus frequency * count + presence for each
// token in the window, after the CTRL penalty; exact fp32 values checked
// through the greedy argmax and the softmax.
TEST(Sampler, PresenceAndFrequencyPenalties) {
  SamplingParams p;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  // Token 0 twice, 1 once, 2 never: 2 - 0.5 - 0.5 = 1, 1.5 - 0.5 - 0.25 = 0.75, 0.9.
  Distribution d = ProcessOk(p, {2.0f, 1.5f, 0.9f}, {0, 1, 0});
  const double z = std::exp(1.0) + std::exp(0.75) + std::exp(0.9);
  EXPECT_NEAR(d.Prob(0), std::exp(1.0) / z, 1e-6);
  EXPECT_NEAR(d.Prob(1), std::exp(0.75) / z, 1e-6);
  EXPECT_NEAR(d.Prob(2), std::exp(0.9) / z, 1e-6);
  // With CTRL too (counts 2, 1, 2): 2 / 2 - 1 = 0; 1.5 / 2 - 0.75 = 0;
  // negative logits are multiplied: -1 * 2 - 1 = -3; token 3 unseen.
  p.repetition_penalty = 2;
  Distribution c = ProcessOk(p, {2.0f, 1.5f, -1.0f, 0.0f}, {0, 1, 0, 2, 2});
  const double zc = 3.0 + std::exp(-3.0);
  EXPECT_NEAR(c.Prob(0), 1.0 / zc, 1e-6);
  EXPECT_NEAR(c.Prob(1), 1.0 / zc, 1e-6);
  EXPECT_NEAR(c.Prob(2), std::exp(-3.0) / zc, 1e-6);
  EXPECT_NEAR(c.Prob(3), 1.0 / zc, 1e-6);
  // Negative penalties favour seen tokens; greedy follows the edited logits.
  SamplingParams g;
  g.temperature = 0;
  g.presence_penalty = -1.0f;
  EXPECT_THAT(ProcessOk(g, {1.0f, 1.5f}, {0}).ids(), ElementsAre(0));
  g.presence_penalty = 0;
  g.frequency_penalty = 2.0f;
  g.repetition_window = 2;  // only the last two tokens count: 1 once, 0 once
  EXPECT_THAT(ProcessOk(g, {3.0f, 2.5f, 0.4f}, {0, 0, 0, 1, 0}).ids(), ElementsAre(0));
  g.repetition_window = 0;  // all five: 3 - 8 = -5, 2.5 - 2 = 0.5 > 0.4
  EXPECT_THAT(ProcessOk(g, {3.0f, 2.5f, 0.4f}, {0, 0, 0, 1, 0}).ids(), ElementsAre(1));
}

TEST(Sampler, LogitBiasIsAddedBeforeThePenalties) {
  SamplingParams p;
  p.logit_bias = {{1, 1.0f}, {3, -100.0f}};
  Distribution d = ProcessOk(p, {0.0f, 0.0f, 0.0f, 5.0f});
  const double z = std::exp(0.0) * 2 + std::exp(1.0) + std::exp(-95.0);
  EXPECT_NEAR(d.Prob(1), std::exp(1.0) / z, 1e-6);
  EXPECT_NEAR(d.Prob(3), std::exp(-95.0) / z, 1e-12);
  // Bias, then CTRL: (1 + 3) / 2 = 2 < 2.5, where adding the bias after
  // the division would give 0.5 + 3 = 3.5 > 2.5.
  SamplingParams g;
  g.temperature = 0;
  g.repetition_penalty = 2;
  g.logit_bias = {{0, 3.0f}};
  EXPECT_THAT(ProcessOk(g, {1.0f, 2.5f}, {0}).ids(), ElementsAre(1));
  g.logit_bias = {{0, 5.0f}};  // (1 + 5) / 2 = 3 > 2.5
  EXPECT_THAT(ProcessOk(g, {1.0f, 2.5f}, {0}).ids(), ElementsAre(0));
  // Greedy is forced by a large bias; a token outside the vocabulary is an error.
  SamplingParams f;
  f.temperature = 0;
  f.logit_bias = {{2, 100.0f}};
  EXPECT_THAT(ProcessOk(f, {50.0f, 40.0f, -30.0f}).ids(), ElementsAre(2));
  f.logit_bias = {{3, 1.0f}};
  Sampler s(f);
  Distribution out;
  absl::Status st = s.Process(std::vector<float>{1.0f, 2.0f, 3.0f}, {}, &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("logit_bias token 3"));
}

// The counts are scratch: a second call on the same Sampler with another
// history sees only its own tokens.
TEST(Sampler, PenaltyCountsDoNotLeakBetweenCalls) {
  SamplingParams p;
  p.temperature = 0;
  p.frequency_penalty = 2.0f;
  Sampler s(p);
  Distribution d;
  ASSERT_TRUE(s.Process(std::vector<float>{1.0f, 0.5f}, std::vector<int32_t>{0, 0, 1}, &d).ok());
  EXPECT_THAT(d.ids(), ElementsAre(1));  // -3 vs -1.5
  ASSERT_TRUE(s.Process(std::vector<float>{1.0f, 0.5f}, std::vector<int32_t>{1}, &d).ok());
  EXPECT_THAT(d.ids(), ElementsAre(0));  // 1 vs -1.5
  ASSERT_TRUE(s.Process(std::vector<float>{1.0f, 0.5f}, {}, &d).ok());
  EXPECT_THAT(d.ids(), ElementsAre(0));
}

TEST(Sampler, TopK) {
  SamplingParams p;
  p.top_k = 2;
  Distribution d = ProcessOk(p, {1.0f, 3.0f, 2.0f, 0.0f});
  ASSERT_FALSE(d.dense());
  EXPECT_THAT(d.ids(), ElementsAre(1, 2));
  const double z = std::exp(3.0) + std::exp(2.0);
  EXPECT_NEAR(d.Prob(1), std::exp(3.0) / z, 1e-6);
  EXPECT_NEAR(d.Prob(2), std::exp(2.0) / z, 1e-6);
  EXPECT_EQ(d.Prob(0), 0.0f);
  // Ties at the boundary go to the lowest ids.
  EXPECT_THAT(ProcessOk(p, {1.0f, 1.0f, 0.0f, 1.0f, 1.0f, 0.0f}).ids(), ElementsAre(0, 1));
}

TEST(Sampler, TopP) {
  SamplingParams p;
  p.top_p = 0.79f;
  Distribution d = ProcessOk(p, Logs({0.5f, 0.3f, 0.15f, 0.05f}));
  EXPECT_THAT(d.ids(), ElementsAre(0, 1));
  EXPECT_NEAR(d.Prob(0), 0.625, 1e-6);
  EXPECT_NEAR(d.Prob(1), 0.375, 1e-6);
  p.top_p = 0.81f;
  Distribution d3 = ProcessOk(p, Logs({0.15f, 0.5f, 0.05f, 0.3f, 0.0f, 0.0f, 0.0f, 0.0f}));
  EXPECT_THAT(d3.ids(), ElementsAre(0, 1, 3));
  EXPECT_NEAR(d3.Prob(0), 0.15 / 0.95, 1e-6);
  // A tiny top_p keeps exactly the top token.
  p.top_p = 1e-6f;
  EXPECT_THAT(ProcessOk(p, Logs({0.2f, 0.4f, 0.4f})).ids(), ElementsAre(1));
}

TEST(Sampler, TopPLargeVocabularyMatchesFullSort) {
  // 5000 tokens with a slowly decaying distribution: the chunked partial sort
  // must need several rounds and still select the same set as a full sort.
  const int v = 5000;
  std::vector<float> logits(v);
  for (int i = 0; i < v; ++i) logits[i] = -0.001f * ((i * 7919) % v);
  SamplingParams p;
  p.top_p = 0.9f;
  Distribution d = ProcessOk(p, logits);
  std::vector<int> order(v);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  double total = 0, cum = 0;
  for (float l : logits) total += std::exp(l);
  size_t keep = 0;
  while (cum < 0.9 * total) cum += std::exp(logits[order[keep++]]);
  size_t support = 0;
  for (size_t i = 0; i < d.size(); ++i) support += d.probs()[i] > 0;
  EXPECT_EQ(support, keep);
  EXPECT_GT(keep, 256u);
  for (size_t i = 0; i < keep; ++i) EXPECT_GT(d.Prob(order[i]), 0.0f);
  EXPECT_EQ(d.Prob(order[keep]), 0.0f);
}

// Top-p on vocabularies past the size where the nucleus comes straight from
// the row: the kept ids are the most probable ones, and the smallest such set
// whose mass reaches top_p (checked in double up to the vector exponential's
// 2e-7), for flat and peaked rows with masked (-inf) entries.
TEST(Sampler, TopPNucleusFromTheRowIsTheSmallestTopSet) {
  std::mt19937 rng(11);
  for (int v : {1025, 4096, 50000}) {
    for (float spread : {0.3f, 3.0f, 10.0f}) {
      for (float top_p : {0.5f, 0.95f, 0.999999f}) {
        for (float temperature : {0.7f, 1.3f}) {
          std::normal_distribution<float> normal(0.0f, spread);
          std::vector<float> logits(static_cast<size_t>(v));
          for (float& l : logits) l = normal(rng);
          for (int i = 0; i < v; i += 97) logits[static_cast<size_t>(i)] = -kInf;
          SamplingParams p;
          p.temperature = temperature;
          p.top_p = top_p;
          Distribution d = ProcessOk(p, logits);
          const double mx = *std::max_element(logits.begin(), logits.end());
          auto weight = [&](int id) { return std::exp((logits[static_cast<size_t>(id)] - mx) / temperature); };
          double total = 0, kept_mass = 0, lightest = 1e300;
          float lowest_kept = kInf, highest_dropped = -kInf;
          for (int id = 0; id < v; ++id) {
            if (logits[static_cast<size_t>(id)] == -kInf) continue;
            total += weight(id);
            if (d.Prob(id) > 0.0f) {
              kept_mass += weight(id);
              lightest = std::min(lightest, weight(id));
              lowest_kept = std::min(lowest_kept, logits[static_cast<size_t>(id)]);
            } else {
              highest_dropped = std::max(highest_dropped, logits[static_cast<size_t>(id)]);
            }
          }
          const std::string where = absl::StrCat("v=", v, " spread=", spread, " top_p=", top_p, " T=", temperature);
          EXPECT_GE(lowest_kept, highest_dropped) << where;
          EXPECT_GE(kept_mass, top_p * total * (1 - 1e-6)) << where;
          EXPECT_LT(kept_mass - lightest, top_p * total * (1 + 1e-6)) << where;
        }
      }
    }
  }
}

TEST(Sampler, TopKLargeVocabularyMatchesFullSort) {
  // A Qwen-sized vocabulary whose logits repeat ~50 times each: the one-pass
  // heap must keep the k most probable with ties going to the lower id, the
  // set a full stable sort gives.
  const int v = 151936;
  std::vector<float> logits(v);
  for (int i = 0; i < v; ++i) logits[i] = 0.01f * static_cast<float>((i * 7919) % 3001);
  for (int k : {1, 40, 1000}) {
    SamplingParams p;
    p.temperature = 0.8f;
    p.top_k = k;
    Distribution d = ProcessOk(p, logits);
    std::vector<int> order(v);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
    size_t support = 0;
    for (size_t i = 0; i < d.size(); ++i) support += d.probs()[i] > 0;
    EXPECT_EQ(support, static_cast<size_t>(k));
    for (int i = 0; i < k; ++i) EXPECT_GT(d.Prob(order[i]), 0.0f) << "k " << k << " rank " << i;
    EXPECT_EQ(d.Prob(order[k]), 0.0f) << "k " << k;
  }
}

TEST(Sampler, MinP) {
  SamplingParams p;
  p.min_p = 0.25f;  // keep p >= 0.125
  Distribution d = ProcessOk(p, Logs({0.5f, 0.3f, 0.15f, 0.05f, 0.0f, 0.0f, 0.0f}));
  EXPECT_THAT(d.ids(), ElementsAre(0, 1, 2));
  EXPECT_NEAR(d.Prob(2), 0.15 / 0.95, 1e-6);
}

TEST(Sampler, ProcessorsApplyInDocumentedOrder) {
  // top-k 3 then top-p 0.7 of the *renormalised* top-3 mass (0.4,0.3,0.2 -> 0.444, 0.333, ...)
  SamplingParams p;
  p.top_k = 3;
  p.top_p = 0.7f;
  Distribution d = ProcessOk(p, Logs({0.4f, 0.3f, 0.2f, 0.1f, 1e-9f, 1e-9f, 1e-9f, 1e-9f}));
  EXPECT_THAT(d.ids(), ElementsAre(0, 1));
  // 0.75 separates the orders: after top-k the top two hold 0.777 >= 0.75 ->
  // {0,1}; top-p over the full mass would need 0.4+0.3+0.2 -> {0,1,2}.
  p.top_p = 0.75f;
  EXPECT_THAT(ProcessOk(p, Logs({0.4f, 0.3f, 0.2f, 0.1f, 1e-9f, 1e-9f, 1e-9f, 1e-9f})).ids(),
              ElementsAre(0, 1));
}

TEST(Sampler, ExtremeLogits) {
  SamplingParams p;
  Distribution d = ProcessOk(p, {-kInf, 1e30f, -kInf, 1e30f - 1e24f});
  EXPECT_EQ(d.Prob(0), 0.0f);
  EXPECT_EQ(d.Prob(2), 0.0f);
  EXPECT_NEAR(d.Prob(1), 1.0, 1e-6);
  // -inf ids never enter a sparse support.
  p.top_k = 3;
  Distribution s = ProcessOk(p, {-kInf, 0.0f, -kInf, 0.0f, -kInf, -kInf, -kInf, -kInf});
  EXPECT_THAT(s.ids(), ElementsAre(1, 3));
  // Tiny temperature: still a valid (near one-hot) distribution.
  SamplingParams cold;
  cold.temperature = 1e-6f;
  Distribution c = ProcessOk(cold, {1.0f, 1.5f, 1.4f});
  EXPECT_NEAR(c.Prob(1), 1.0, 1e-6);
}

TEST(Sampler, BadLogitsAreErrors) {
  Sampler s({});
  Distribution d;
  std::vector<float> nan = {0.0f, std::nanf(""), 1.0f};
  EXPECT_EQ(s.Process(nan, {}, &d).code(), absl::StatusCode::kInvalidArgument);
  std::vector<float> pinf = {0.0f, kInf};
  EXPECT_EQ(s.Process(pinf, {}, &d).code(), absl::StatusCode::kInvalidArgument);
  std::vector<float> all_neg = {-kInf, -kInf};
  EXPECT_EQ(s.Process(all_neg, {}, &d).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.Process({}, {}, &d).code(), absl::StatusCode::kInvalidArgument);
  SamplingParams rp;
  rp.repetition_penalty = 1.5f;
  Sampler r(rp);
  std::vector<float> ok = {0.0f, 1.0f};
  std::vector<int32_t> bad_history = {5};
  EXPECT_EQ(r.Process(ok, bad_history, &d).code(), absl::StatusCode::kInvalidArgument);
  SamplingParams bad;
  bad.top_p = 2;
  Sampler b(bad);
  EXPECT_EQ(b.Process(ok, {}, &d).code(), absl::StatusCode::kInvalidArgument);
  // In a vocabulary-sized row the bad logit is found wherever it lies (inside
  // a vector step or in the tail) and named by index and kind.
  for (int64_t at : {0, 517, 999}) {
    std::vector<float> big(1000, 0.5f);
    big[at] = std::nanf("");
    absl::Status st = s.Process(big, {}, &d);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find(absl::StrCat("logit ", at, " is NaN")), std::string::npos) << st.message();
    big[at] = kInf;
    st = s.Process(big, {}, &d);
    EXPECT_NE(st.message().find(absl::StrCat("logit ", at, " is +inf")), std::string::npos) << st.message();
  }
}

// A vocabulary-sized row through the vector passes: the first maximum wins
// greedy, masked logits get exactly 0, and the probabilities are the
// softmax's within the exponential's error.
TEST(Sampler, LargeVocabularyMatchesPlainSoftmax) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> logits(151936);
  for (float& l : logits) l = nd(rng);
  logits[100] = logits[90000] = 20.0f;  // tied maxima: the lower id is greedy's
  logits[5] = logits[151935] = -kInf;
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  EXPECT_EQ(ProcessOk(greedy, logits).Argmax(), 100);
  SamplingParams warm;
  warm.temperature = 0.7f;
  const Distribution d = ProcessOk(warm, logits);
  double z = 0.0;
  for (float l : logits) z += std::exp((static_cast<double>(l) - 20.0) / 0.7);
  double total = 0.0;
  for (int32_t i = 0; i < static_cast<int32_t>(logits.size()); ++i) {
    const double want = std::exp((static_cast<double>(logits[i]) - 20.0) / 0.7) / z;
    ASSERT_NEAR(d.Prob(i), want, 2e-6 * want + 1e-12) << i;
    total += d.Prob(i);
  }
  EXPECT_EQ(d.Prob(5), 0.0f);
  EXPECT_EQ(d.Prob(151935), 0.0f);
  EXPECT_NEAR(total, 1.0, 1e-5);
}

TEST(Sampler, ReusesBuffersInSteadyState) {
  SamplingParams p;
  p.top_k = 4;
  Sampler s(p);
  Distribution d;
  std::vector<float> logits(64);
  for (int i = 0; i < 64; ++i) logits[i] = std::sin(i * 1.7f);
  ASSERT_TRUE(s.Process(logits, {}, &d).ok());
  const float* before = d.probs().data();
  for (int step = 0; step < 10; ++step) {
    logits[step] += 3;
    ASSERT_TRUE(s.Process(logits, {}, &d).ok());
    EXPECT_EQ(d.probs().data(), before);
  }
}

TEST(Sampler, SampleMatchesDistributionChiSquare) {
  Distribution dense;
  std::vector<float> probs = {0.05f, 0.1f, 0.0f, 0.2f, 0.15f, 0.3f, 0.1f, 0.1f};
  dense.AssignDense(probs);
  Distribution sparse;
  std::vector<int32_t> ids = {2, 9, 40};
  std::vector<float> sp = {0.6f, 0.3f, 0.1f};
  sparse.AssignSparse(50, ids, sp);
  Rng rng(1234);
  for (const Distribution* d : {&dense, &sparse}) {
    std::vector<int64_t> counts(d->vocab_size(), 0);
    for (int i = 0; i < 100000; ++i) {
      int32_t t = Sampler::Sample(*d, rng);
      ASSERT_GE(t, 0);
      ASSERT_LT(t, d->vocab_size());
      ++counts[t];
    }
    std::vector<double> expected(d->vocab_size());
    for (int i = 0; i < d->vocab_size(); ++i) expected[i] = d->Prob(i);
    auto r = testing::ChiSquare(counts, expected);
    EXPECT_GT(r.p_value, 1e-4) << "chi2=" << r.statistic << " dof=" << r.dof;
    // And a wrong reference is detected: the test can fail.
    std::vector<double> wrong = expected;
    std::swap(wrong[d->id_at(0)], wrong[d->id_at(1)]);
    EXPECT_LT(testing::ChiSquare(counts, wrong).p_value, 1e-6);
  }
}

TEST(Rng, ReproducibleAndSplittable) {
  Rng a(7), b(7), c(8);
  EXPECT_EQ(a.NextU64(), b.NextU64());
  EXPECT_NE(a.NextU64(), c.NextU64());
  Rng s1 = a.Split(1), s1b = a.Split(1), s2 = a.Split(2);
  EXPECT_EQ(s1.NextU64(), s1b.NextU64());
  EXPECT_NE(s1.NextU64(), s2.NextU64());
  for (int i = 0; i < 1000; ++i) {
    double u = a.Uniform(), v = a.UniformOpenClosed();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
    EXPECT_GT(v, 0.0);
    EXPECT_LE(v, 1.0);
  }
}

TEST(Distribution, ValidateAndLookup) {
  Distribution d;
  std::vector<int32_t> ids = {1, 4, 7};
  std::vector<float> probs = {0.2f, 0.5f, 0.3f};
  d.AssignSparse(10, ids, probs);
  EXPECT_TRUE(d.Validate().ok());
  EXPECT_EQ(d.Prob(4), 0.5f);
  EXPECT_EQ(d.Prob(5), 0.0f);
  EXPECT_EQ(d.Prob(-1), 0.0f);
  EXPECT_EQ(d.Prob(99), 0.0f);
  EXPECT_EQ(d.Argmax(), 4);
  std::vector<int32_t> unsorted = {4, 1, 7};
  d.AssignSparse(10, unsorted, probs);
  EXPECT_FALSE(d.Validate().ok());
  std::vector<int32_t> out_of_range = {1, 4, 10};
  d.AssignSparse(10, out_of_range, probs);
  EXPECT_FALSE(d.Validate().ok());
  std::vector<float> not_normalised = {0.2f, 0.2f, 0.2f};
  d.AssignSparse(10, ids, not_normalised);
  EXPECT_FALSE(d.Validate().ok());
}

TEST(Distribution, AnAscendingReaderReadsWhatProbReads) {
  // A sparse row read at the ids of a walk over another row: ids before,
  // between, on and after its support, with repeats and gaps, as a walk
  // over a dense row or a differently truncated one asks for them.
  Distribution sparse, dense;
  std::vector<int32_t> ids = {2, 5, 6, 11};
  std::vector<float> probs = {0.1f, 0.4f, 0.2f, 0.3f};
  sparse.AssignSparse(16, ids, probs);
  std::vector<float> all(16, 0.0f);
  for (size_t i = 0; i < ids.size(); ++i) all[ids[i]] = probs[i];
  dense.AssignDense(all);
  for (const Distribution* row : {&sparse, &dense}) {
    for (const std::vector<int32_t>& walk : std::vector<std::vector<int32_t>>{
             {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {5, 11}, {3, 6, 6, 15}, {12, 13}, {}}) {
      AscendingProbReader reader(*row);
      for (int32_t id : walk) {
        EXPECT_EQ(reader.Prob(id), row->Prob(id)) << "id " << id << (row->dense() ? " dense" : " sparse");
      }
    }
  }
}

TEST(Distribution, DropTailKeepsTheHeadScaledBackToOne) {
  // A vocabulary of 1000: ten heavy entries and a light tail. With
  // max_mass 0.01 the floor is 1e-5: entries under it go (together at most
  // 0.01), the rest is scaled by 1 / (1 - dropped) and becomes sparse.
  std::vector<float> probs(1000, 0.0f);
  double tail = 0;
  for (int i = 0; i < 1000; ++i) {
    if (i % 100 == 7 || i == 500) continue;
    probs[i] = 2e-6f * static_cast<float>(1 + i % 3);  // 2e-6 .. 6e-6
    tail += probs[i];
  }
  probs[500] = 5e-5f;  // light but above the floor: kept
  for (int i = 0; i < 10; ++i) probs[100 * i + 7] = static_cast<float>((1.0 - tail - 5e-5) / 10);
  Distribution d;
  d.AssignDense(probs);
  const float before_500 = d.Prob(500);
  const float dropped = d.DropTail(0.01f);
  EXPECT_FALSE(d.dense());
  EXPECT_EQ(d.size(), 11u);
  EXPECT_NEAR(dropped, tail, 1e-7);
  EXPECT_LE(dropped, 0.01f);
  EXPECT_TRUE(d.Validate(1e-6f).ok()) << d.Validate(1e-6f);
  EXPECT_FLOAT_EQ(d.Prob(500), before_500 / (1.0f - dropped));
  EXPECT_EQ(d.Prob(0), 0.0f);
  for (size_t i = 1; i < d.ids().size(); ++i) EXPECT_LT(d.ids()[i - 1], d.ids()[i]);

  // Most entries kept: stays dense, the dropped ones zero.
  std::vector<float> flat(8, 0.999f / 7);
  flat[3] = 0.001f;
  d.AssignDense(flat);
  EXPECT_NEAR(d.DropTail(0.01f), 0.001f, 1e-7);
  EXPECT_TRUE(d.dense());
  EXPECT_EQ(d.Prob(3), 0.0f);
  EXPECT_TRUE(d.Validate(1e-6f).ok());

  // A sparse row compacts in place; nothing under the floor or max_mass 0:
  // unchanged.
  const std::vector<int32_t> ids = {2, 5, 9};
  const std::vector<float> sp = {0.0005f, 0.4995f, 0.5f};
  d.AssignSparse(10, ids, sp);
  EXPECT_NEAR(d.DropTail(0.003f), 0.0005f, 1e-7);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d.ids()[0], 5);
  EXPECT_EQ(d.ids()[1], 9);
  EXPECT_TRUE(d.Validate(1e-6f).ok());
  EXPECT_EQ(d.DropTail(0.0f), 0.0f);
  EXPECT_EQ(d.DropTail(1e-6f), 0.0f);
  EXPECT_EQ(d.size(), 2u);
}

}  // namespace
}  // namespace tandem::runtime
