// Which draft length a speculative request runs: adaptive gamma unless the
// request pins it. A request that asks for a gamma gets exactly that gamma,
// and a seeded sampled request stays reproducible from its seed (adaptive
// rounds follow measured times, so the uniforms would decide different
// tokens from run to run); an explicit adaptive_gamma always wins.
#include <map>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "decoding/request/request_translation.h"
#include "decoding/strategies/speculative/speculative_strategy.h"

namespace tandem::decoding {
namespace {

struct Case {
  std::optional<bool> adaptive_gamma = {};  // the typed field
  std::map<std::string, std::string> params = {};
  std::optional<int64_t> gamma = {};        // the typed field
  std::optional<uint64_t> seed = {};
  float temperature = 0.0f;
};

// The adaptive flag and gamma the speculative strategy would run with.
std::pair<bool, int> Resolve(const Case& c) {
  DecodeRequest r;
  r.strategy = "speculative";
  r.prompt = "x";
  r.adaptive_gamma = c.adaptive_gamma;
  r.params = c.params;
  r.gamma = c.gamma;
  r.seed = c.seed;
  r.sampling.temperature = c.temperature;
  auto prepared = ResolveStrategy(r, "target_only");
  EXPECT_TRUE(prepared.ok()) << prepared.status();
  if (!prepared.ok()) return {false, -1};
  const auto& o = prepared->options<SpeculativeOptions>();
  return {o.gamma.adaptive, o.gamma.gamma};
}

TEST(GammaTranslation, UnpinnedRequestsAdapt) {
  EXPECT_EQ(Resolve({}), std::make_pair(true, 4));                                    // greedy, no seed
  EXPECT_EQ(Resolve({.temperature = 0.7f}), std::make_pair(true, 4));                 // sampled, no seed
  EXPECT_EQ(Resolve({.seed = 7}), std::make_pair(true, 4));                           // greedy: seed unused
  EXPECT_EQ(Resolve({.params = {{"drafter", "ngram"}}}), std::make_pair(true, 4));  // other params
}

TEST(GammaTranslation, AGammaAskedForIsTheGammaRun) {
  EXPECT_EQ(Resolve({.gamma = 6}), std::make_pair(false, 6));
  EXPECT_EQ(Resolve({.params = {{"gamma", "3"}}}), std::make_pair(false, 3));
}

TEST(GammaTranslation, ASeededSampleKeepsGammaFixed) {
  EXPECT_EQ(Resolve({.seed = 7, .temperature = 0.7f}), std::make_pair(false, 4));
  EXPECT_EQ(Resolve({.seed = 0, .temperature = 1.0f}), std::make_pair(false, 4));  // 0 is a seed too
}

TEST(GammaTranslation, AnExplicitChoiceWins) {
  EXPECT_EQ(Resolve({.adaptive_gamma = true, .gamma = 6, .seed = 7, .temperature = 0.7f}),
            std::make_pair(true, 6));
  EXPECT_EQ(Resolve({.params = {{"adaptive_gamma", "true"}, {"gamma", "6"}}, .seed = 7, .temperature = 0.7f}),
            std::make_pair(true, 6));
  EXPECT_EQ(Resolve({.adaptive_gamma = false}), std::make_pair(false, 4));
  EXPECT_EQ(Resolve({.params = {{"adaptive_gamma", "false"}}}), std::make_pair(false, 4));
  // The typed field wins over params, as for gamma.
  EXPECT_EQ(Resolve({.adaptive_gamma = false, .params = {{"adaptive_gamma", "true"}}}), std::make_pair(false, 4));
}

TEST(GammaTranslation, StrategiesWithoutTheParameterIgnoreIt) {
  DecodeRequest r;
  r.strategy = "target_only";
  r.prompt = "x";
  r.adaptive_gamma = true;
  r.seed = 7;
  r.sampling.temperature = 0.7f;
  EXPECT_TRUE(ResolveStrategy(r, "target_only").ok());
}

}  // namespace
}  // namespace tandem::decoding
