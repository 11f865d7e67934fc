// runtime::Distribution and SamplingParams survive the wire exactly.
#include "services/common/runtime_convert.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

namespace tandem::services {
namespace {

constexpr int32_t kVocab = 512;

runtime::Distribution Cross(const runtime::Distribution& d) {
  tandem::v1::TokenDistribution wire;
  DistributionToProto(d, &wire);
  tandem::v1::TokenDistribution parsed;
  EXPECT_TRUE(parsed.ParseFromString(wire.SerializeAsString()));
  runtime::Distribution back;
  EXPECT_TRUE(DistributionFromProto(parsed, kVocab, &back, "q").ok());
  EXPECT_TRUE(back.Validate().ok());
  return back;
}

void ExpectSameProbs(const runtime::Distribution& a, const runtime::Distribution& b) {
  for (int32_t id = 0; id < kVocab; ++id) ASSERT_EQ(a.Prob(id), b.Prob(id)) << "id " << id;
}

TEST(RuntimeConvertTest, SparseDistributionRoundTrip) {
  runtime::Distribution d;
  const std::vector<int32_t> ids = {3, 17, 200, 511};
  const std::vector<float> probs = {0.4f, 0.3f, 0.2f, 0.1f};
  d.AssignSparse(kVocab, ids, probs);
  const auto back = Cross(d);
  EXPECT_FALSE(back.dense());
  EXPECT_EQ(back.size(), 4u);
  ExpectSameProbs(d, back);
}

TEST(RuntimeConvertTest, DenseDistributionRoundTrip) {
  std::mt19937 rng(7);
  std::vector<float> p(kVocab);
  double sum = 0;
  for (float& x : p) sum += (x = std::uniform_real_distribution<float>(0.1f, 1.0f)(rng));
  for (float& x : p) x = static_cast<float>(x / sum);
  runtime::Distribution d;
  d.AssignDense(p);
  const auto back = Cross(d);
  EXPECT_TRUE(back.dense());
  ExpectSameProbs(d, back);
  // A dense distribution that is mostly zeros travels sparse and still
  // answers the same probabilities.
  runtime::Distribution onehot;
  onehot.AssignOneHot(kVocab, 42);
  ExpectSameProbs(onehot, Cross(onehot));
}

TEST(RuntimeConvertTest, UnsortedSparseFromPeerIsSortedAndBadOnesRejected) {
  tandem::v1::TokenDistribution wire;
  auto* sp = wire.mutable_sparse();
  for (auto [id, p] : std::vector<std::pair<int, float>>{{90, 0.25f}, {5, 0.5f}, {40, 0.25f}}) {
    sp->add_token_ids(id);
    sp->add_probs(p);
  }
  runtime::Distribution d;
  ASSERT_TRUE(DistributionFromProto(wire, kVocab, &d, "q").ok());
  ASSERT_TRUE(d.Validate().ok());  // ascending ids
  EXPECT_EQ(d.Prob(5), 0.5f);
  EXPECT_EQ(d.Prob(90), 0.25f);
  sp->set_token_ids(0, 5);  // now a repeated id
  auto s = DistributionFromProto(wire, kVocab, &d, "draft_distributions[0]");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("draft_distributions[0]"), std::string::npos) << s;
}

TEST(RuntimeConvertTest, SparseRowsFromAPeerAreCheckedEntryByEntry) {
  // Each bad row names its field and the entry; a good one keeps its order.
  struct Case {
    std::vector<int32_t> ids;
    std::vector<float> probs;
    const char* message;  // empty: valid
  };
  const std::vector<Case> cases = {
      {{2, 9, 30}, {0.5f, 0.25f, 0.25f}, ""},
      {{2, 9, 9}, {0.5f, 0.25f, 0.25f}, "sparse.token_ids[2] = 9 is repeated"},
      {{9, 2, 9}, {0.5f, 0.25f, 0.25f}, "sparse.token_ids[2] = 9 is repeated"},
      {{2, 9, kVocab}, {0.5f, 0.25f, 0.25f}, "sparse.token_ids[2] = 512 is outside [0, 512)"},
      {{2, 9, 30}, {0.5f, 0.0f, 0.5f}, "sparse.probs[1] = 0 is outside (0, 1]"},
      {{2, 9, 30}, {0.5f, 0.25f, 0.2f}, "probabilities sum to"},
      {{2, 9}, {0.5f, 0.25f, 0.25f}, "sparse.token_ids has 2 entries but sparse.probs has 3"},
      {{}, {}, "sparse.token_ids is empty"},
  };
  for (const Case& c : cases) {
    tandem::v1::TokenDistribution wire;
    auto* sp = wire.mutable_sparse();
    for (int32_t id : c.ids) sp->add_token_ids(id);
    for (float p : c.probs) sp->add_probs(p);
    runtime::Distribution d;
    const absl::Status s = DistributionFromProto(wire, kVocab, &d, "q[3]");
    if (*c.message == '\0') {
      ASSERT_TRUE(s.ok()) << s;
      EXPECT_FALSE(d.dense());
      ASSERT_EQ(d.size(), 3u);
      EXPECT_EQ(d.ids()[2], 30);
      EXPECT_EQ(d.Prob(9), 0.25f);
      continue;
    }
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_NE(s.message().find("q[3]: "), std::string::npos) << s;
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s;
  }
}

TEST(RuntimeConvertTest, SamplingParams) {
  tandem::v1::SamplingParams wire;  // all defaults: greedy, filters off
  runtime::SamplingParams p;
  ASSERT_TRUE(SamplingFromProto(wire, kVocab, 99, &p).ok());
  EXPECT_TRUE(p.greedy());
  EXPECT_EQ(p.top_p, 1.0f);
  EXPECT_EQ(p.repetition_penalty, 1.0f);
  EXPECT_EQ(p.repetition_window, 64);
  EXPECT_EQ(p.seed, 99u);  // fallback

  runtime::SamplingParams q;
  q.temperature = 0.8f;
  q.top_k = 40;
  q.top_p = 0.95f;
  q.min_p = 0.05f;
  q.repetition_penalty = 1.1f;
  q.repetition_window = 0;
  q.presence_penalty = -0.5f;
  q.frequency_penalty = 1.25f;
  q.logit_bias = {{0, -100.0f}, {7, 2.5f}, {kVocab - 1, 0.0f}};
  q.seed = 1234;
  SamplingToProto(q, &wire);
  runtime::SamplingParams r;
  ASSERT_TRUE(SamplingFromProto(wire, kVocab, 99, &r).ok());
  EXPECT_EQ(r.temperature, q.temperature);
  EXPECT_EQ(r.top_k, q.top_k);
  EXPECT_EQ(r.top_p, q.top_p);
  EXPECT_EQ(r.min_p, q.min_p);
  EXPECT_EQ(r.repetition_penalty, q.repetition_penalty);
  EXPECT_EQ(r.repetition_window, 0);
  EXPECT_EQ(r.presence_penalty, q.presence_penalty);
  EXPECT_EQ(r.frequency_penalty, q.frequency_penalty);
  EXPECT_EQ(r.logit_bias, q.logit_bias);  // ascending again, whatever the map's order
  EXPECT_EQ(r.seed, 1234u);

  struct Bad {
    std::function<void(tandem::v1::SamplingParams&)> edit;
    const char* field;
  };
  const std::vector<Bad> bad = {
      {[](auto& w) { w.set_top_k(kVocab + 1); }, "sampling.top_k"},
      {[](auto& w) { w.set_presence_penalty(2.01f); }, "sampling.presence_penalty"},
      {[](auto& w) { w.set_frequency_penalty(std::nanf("")); }, "sampling.frequency_penalty"},
      {[](auto& w) { (*w.mutable_logit_bias())[kVocab] = 1.0f; }, "sampling.logit_bias[" },
      {[](auto& w) { (*w.mutable_logit_bias())[-1] = 1.0f; }, "sampling.logit_bias[-1]"},
      {[](auto& w) { (*w.mutable_logit_bias())[3] = -100.5f; }, "sampling.logit_bias[3]"},
  };
  for (const Bad& b : bad) {
    tandem::v1::SamplingParams w = wire;
    b.edit(w);
    auto s = SamplingFromProto(w, kVocab, 0, &r);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << b.field;
    EXPECT_NE(s.message().find(b.field), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace tandem::services
