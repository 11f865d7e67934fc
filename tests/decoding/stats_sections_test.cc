// Per-strategy statistics: every registry entry declares its sections,
// RunStrategy stamps them on the result, and the JSON shows exactly those
// sections; the decode rate is measured between chunks only.
#include <map>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "decoding/drafters/ngram_drafter.h"
#include "decoding/generation/token_timeline.h"
#include "decoding/local/model_verifier.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/registry/strategy_runner.h"
#include "decoding/spec/request_stats_json.h"
#include "tests/decoding/fake_lm.h"

namespace tandem::decoding {
namespace {

using spec::StatsSections;

constexpr int32_t kVocab = 8;

// The sections docs/statistics.md documents for each strategy.
const std::map<std::string, StatsSections>& DocumentedSections() {
  static const std::map<std::string, StatsSections> sections = {
      {"target_only", 0},
      {"draft_only", 0},
      {"speculative", spec::kStatsSpeculation},
      {"rapid", spec::kStatsSpeculation | spec::kStatsRetrieval},
      {"best_of_n", spec::kStatsReward},
      {"args", spec::kStatsReward},
      {"cards", spec::kStatsReward | spec::kStatsCards},
      {"rsd", spec::kStatsSpeculation | spec::kStatsReward | spec::kStatsRsd},
  };
  return sections;
}

TEST(StatsSections, EveryStrategyDeclaresItsDocumentedSections) {
  std::set<std::string> seen;
  for (const StrategyDefinition* s : Strategies()) {
    const std::string name(s->name());
    seen.insert(name);
    auto it = DocumentedSections().find(name);
    ASSERT_NE(it, DocumentedSections().end()) << name << " is missing from docs/statistics.md's table";
    EXPECT_EQ(s->stats_sections(), it->second) << name;
  }
  EXPECT_EQ(seen.size(), DocumentedSections().size());
}

struct Deployment {
  testing::FakeLm target{kVocab, testing::TargetLogits};
  testing::FakeVocabulary vocab{kVocab};
  ModelVerifier verifier{target};
  NgramDrafter ngram{{.vocab_size = kVocab, .max_ngram = 3, .min_ngram = 1,
                      .is_end_of_generation = [](int32_t t) { return t == 0; }}};
  GenerationPorts ports;
  Deployment() {
    ports.verifier = &verifier;
    ports.vocabulary = &vocab;
    ports.drafters["ngram"] = &ngram;
    ports.default_drafter = "ngram";
  }
};

GenerationResult RunNamed(const std::string& strategy, const std::map<std::string, std::string>& params,
                     int* chunks) {
  Deployment d;
  auto prepared = PrepareStrategy(strategy, params);
  EXPECT_TRUE(prepared.ok()) << prepared.status();
  GenerationRequest request{.prompt = {1, 2, 3, 1, 2, 3}, .max_tokens = 12, .gamma = {.gamma = 3}};
  GenerationResult result;
  StreamCallback count = [&](const StreamChunk& c) {
    if (!c.tokens.empty()) ++*chunks;
    return absl::OkStatus();
  };
  absl::Status s = RunStrategy(*prepared, request, d.ports, /*ignore_eos=*/true, count, &result);
  EXPECT_TRUE(s.ok()) << s;
  return result;
}

TEST(StatsSections, RunStrategyStampsTheDeclaredSections) {
  int chunks = 0;
  GenerationResult target_only = RunNamed("target_only", {}, &chunks);
  EXPECT_EQ(target_only.stats.sections, 0u);
  nlohmann::json j = spec::StatsJson(target_only.stats);
  for (const char* section : {"speculation", "retrieval", "reward", "cards", "rsd"}) {
    EXPECT_FALSE(j.contains(section)) << section;
  }
  EXPECT_EQ(j["strategy"], "target_only");
  EXPECT_EQ(j["generated_tokens"], 12);

  chunks = 0;
  GenerationResult speculative = RunNamed("speculative", {{"drafter", "ngram"}}, &chunks);
  EXPECT_EQ(speculative.stats.sections, spec::kStatsSpeculation);
  j = spec::StatsJson(speculative.stats);
  ASSERT_TRUE(j.contains("speculation"));
  EXPECT_FALSE(j.contains("reward"));
  EXPECT_EQ(j["speculation"]["num_drafts"], speculative.stats.speculation.num_drafts);
  EXPECT_GT(speculative.stats.speculation.num_drafts, 0);
}

TEST(StatsSections, DecodeRateIsSetOnlyWithTwoChunks) {
  int chunks = 0;
  GenerationResult r = RunNamed("target_only", {}, &chunks);
  ASSERT_EQ(chunks, 12);  // target-only streams one token per chunk
  ASSERT_TRUE(r.stats.decode_tokens_per_s.has_value());
  EXPECT_GT(*r.stats.decode_tokens_per_s, 0);
}

TEST(TokenTimeline, RateIsTokensAfterTheFirstChunkOverTheTimeBetweenChunks) {
  TokenTimeline t;
  EXPECT_FALSE(t.DecodeTokensPerS().has_value());
  t.Record(4, 100.0);  // a whole answer in one chunk: no decode interval
  EXPECT_FALSE(t.DecodeTokensPerS().has_value());
  EXPECT_DOUBLE_EQ(t.first_token_ms(), 100.0);
  t.Record(0, 150.0);  // text-only flushes do not count
  EXPECT_FALSE(t.DecodeTokensPerS().has_value());
  t.Record(3, 200.0);
  t.Record(2, 300.0);
  ASSERT_TRUE(t.DecodeTokensPerS().has_value());
  EXPECT_DOUBLE_EQ(*t.DecodeTokensPerS(), 5 / 0.2);  // 5 tokens after the first chunk in 200 ms
  EXPECT_DOUBLE_EQ(t.first_token_ms(), 100.0);
}

TEST(TokenTimeline, ChunksAtTheSameInstantHaveNoRate) {
  TokenTimeline t;
  t.Record(1, 50.0);
  t.Record(1, 50.0);
  EXPECT_FALSE(t.DecodeTokensPerS().has_value());
}

}  // namespace
}  // namespace tandem::decoding
