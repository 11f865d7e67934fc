// The penalty window both samplers (CPU and CUDA) walk: which tokens, how
// often, in what order, and that the scratch is left clean.
#include "runtime/sampling/penalty_window.h"

#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace tandem::runtime {
namespace {

using Visits = std::vector<std::pair<int32_t, uint32_t>>;

Visits Walk(const SamplingParams& p, const std::vector<int32_t>& history, int32_t vocab,
            std::vector<uint32_t>& counts, absl::Status* status) {
  Visits v;
  *status = ForEachPenalizedToken(p, history, vocab, counts, [&](int32_t t, uint32_t c) { v.push_back({t, c}); });
  return v;
}

TEST(PenaltyWindow, DistinctTokensInFirstOccurrenceOrderWithCounts) {
  SamplingParams p;
  std::vector<uint32_t> counts;
  absl::Status s;
  EXPECT_EQ(Walk(p, {5, 2, 5, 9, 2, 5}, 10, counts, &s), (Visits{{5, 3}, {2, 2}, {9, 1}}));
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(counts, std::vector<uint32_t>(10, 0));  // left clean for the next call
}

TEST(PenaltyWindow, OnlyTheLastWindowTokens) {
  SamplingParams p;
  p.repetition_window = 3;
  std::vector<uint32_t> counts;
  absl::Status s;
  EXPECT_EQ(Walk(p, {1, 1, 1, 4, 1, 7}, 8, counts, &s), (Visits{{4, 1}, {1, 1}, {7, 1}}));
  p.repetition_window = 100;  // longer than the history: all of it
  EXPECT_EQ(Walk(p, {1, 1, 4}, 8, counts, &s), (Visits{{1, 2}, {4, 1}}));
}

TEST(PenaltyWindow, TokenOutsideTheVocabularyIsRefusedBeforeAnyVisit) {
  SamplingParams p;
  std::vector<uint32_t> counts;
  absl::Status s;
  EXPECT_TRUE(Walk(p, {1, 2, 8}, 8, counts, &s).empty());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("history token 8"), std::string::npos) << s;
  EXPECT_TRUE(Walk(p, {-1}, 8, counts, &s).empty());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  // A bad token outside the window is not looked at.
  p.repetition_window = 1;
  EXPECT_EQ(Walk(p, {99, 3}, 8, counts, &s), (Visits{{3, 1}}));
  EXPECT_TRUE(s.ok()) << s;
}

TEST(PenaltyWindow, AdditivePenaltyIsFrequencyTimesCountPlusPresence) {
  SamplingParams p;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  EXPECT_FLOAT_EQ(AdditivePenalty(p, 1), 0.75f);
  EXPECT_FLOAT_EQ(AdditivePenalty(p, 4), 2.25f);
  p.frequency_penalty = -1.0f;
  EXPECT_FLOAT_EQ(AdditivePenalty(p, 3), -2.75f);
}

}  // namespace
}  // namespace tandem::runtime
