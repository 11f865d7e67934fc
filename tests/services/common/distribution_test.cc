// The compact q distribution must survive serialization bit-exactly: lossless
// rejection sampling divides by q(x), so any rounding would bias the output.
#include "services/common/distribution.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

namespace tandem::services {
namespace {

constexpr int32_t kVocab = 1000;

std::vector<float> RandomDistribution(int support, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> p(kVocab, 0.0f);
  std::uniform_int_distribution<int> pick(0, kVocab - 1);
  std::uniform_real_distribution<float> w(0.01f, 1.0f);
  int placed = 0;
  while (placed < support) {
    const int id = pick(rng);
    if (p[id] != 0.0f) continue;
    p[id] = w(rng);
    ++placed;
  }
  double sum = 0;
  for (float x : p) sum += x;
  for (float& x : p) x = static_cast<float>(x / sum);
  return p;
}

std::vector<float> RoundTrip(const std::vector<float>& probs, tandem::v1::TokenDistribution* sent) {
  EncodeDistribution(probs, sent);
  const std::string wire = sent->SerializeAsString();
  tandem::v1::TokenDistribution received;
  EXPECT_TRUE(received.ParseFromString(wire));
  std::vector<float> dense(kVocab);
  EXPECT_TRUE(DecodeDistribution(received, kVocab, dense, "q").ok());
  return dense;
}

TEST(DistributionTest, TruncatedSupportTravelsSparseAndBitExact) {
  const auto p = RandomDistribution(40, 1);
  tandem::v1::TokenDistribution sent;
  const auto back = RoundTrip(p, &sent);
  ASSERT_TRUE(sent.has_sparse());
  EXPECT_EQ(sent.sparse().token_ids_size(), 40);
  ASSERT_EQ(std::memcmp(p.data(), back.data(), p.size() * sizeof(float)), 0);
  // Sparse is much smaller than dense would be.
  EXPECT_LT(sent.ByteSizeLong(), kVocab * sizeof(float) / 4);
}

TEST(DistributionTest, WideSupportFallsBackToDenseAndBitExact) {
  const auto p = RandomDistribution(900, 2);
  tandem::v1::TokenDistribution sent;
  const auto back = RoundTrip(p, &sent);
  ASSERT_TRUE(sent.has_dense());
  EXPECT_EQ(sent.dense().probs_size(), kVocab);
  ASSERT_EQ(std::memcmp(p.data(), back.data(), p.size() * sizeof(float)), 0);
}

TEST(DistributionTest, EncodeSparseFromSupportAndLookup) {
  const std::vector<int32_t> ids = {7, 3, 999};
  const std::vector<float> probs = {0.5f, 0.25f, 0.25f};
  tandem::v1::TokenDistribution d;
  EncodeSparseDistribution(ids, probs, kVocab, &d);
  ASSERT_TRUE(d.has_sparse());
  EXPECT_TRUE(ValidateDistribution(d, kVocab, "q").ok());
  EXPECT_EQ(DistributionProb(d, 7), 0.5f);
  EXPECT_EQ(DistributionProb(d, 999), 0.25f);
  EXPECT_EQ(DistributionProb(d, 8), 0.0f);
  EXPECT_EQ(DistributionProb(d, -1), 0.0f);
  // A support larger than half the vocabulary is sent dense instead.
  std::vector<int32_t> many(600);
  std::vector<float> flat(600, 1.0f / 600);
  for (int i = 0; i < 600; ++i) many[i] = i;
  EncodeSparseDistribution(many, flat, kVocab, &d);
  ASSERT_TRUE(d.has_dense());
  EXPECT_EQ(DistributionProb(d, 10), 1.0f / 600);
  EXPECT_EQ(DistributionProb(d, 700), 0.0f);
  EXPECT_TRUE(ValidateDistribution(d, kVocab, "q").ok());
}

TEST(DistributionTest, RejectsMalformedInputNamingTheField) {
  tandem::v1::TokenDistribution d;
  auto s = ValidateDistribution(d, kVocab, "draft_distributions[2]");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("draft_distributions[2]"), std::string::npos) << s;

  auto* sp = d.mutable_sparse();
  sp->add_token_ids(5);
  sp->add_probs(0.5f);
  sp->add_token_ids(5);  // repeated id
  sp->add_probs(0.5f);
  s = ValidateDistribution(d, kVocab, "q");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("repeated"), std::string::npos) << s;

  sp->set_token_ids(1, kVocab);  // out of range
  EXPECT_EQ(ValidateDistribution(d, kVocab, "q").code(), absl::StatusCode::kInvalidArgument);
  sp->set_token_ids(1, 6);
  EXPECT_TRUE(ValidateDistribution(d, kVocab, "q").ok());
  sp->set_probs(1, 0.1f);  // sum 0.6
  s = ValidateDistribution(d, kVocab, "q");
  EXPECT_NE(s.message().find("sum"), std::string::npos) << s;
  sp->set_probs(1, std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(ValidateDistribution(d, kVocab, "q").code(), absl::StatusCode::kInvalidArgument);
  sp->add_token_ids(9);  // lengths differ
  EXPECT_EQ(ValidateDistribution(d, kVocab, "q").code(), absl::StatusCode::kInvalidArgument);

  tandem::v1::TokenDistribution dense;
  dense.mutable_dense()->add_probs(1.0f);  // wrong length
  EXPECT_EQ(ValidateDistribution(dense, kVocab, "q").code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::services
