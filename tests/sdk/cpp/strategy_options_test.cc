// The generated typed strategy options agree with the registry they were
// generated from, and ToParams() writes text the registry parses back.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "decoding/registry/strategy_registry.h"
#include "tandem/sdk/strategy_options.h"

namespace tandem {
namespace {

template <typename Options>
void ExpectMatchesRegistry() {
  const decoding::StrategyDefinition* s = decoding::FindStrategy(Options::kName);
  ASSERT_NE(s, nullptr) << Options::kName;
  const std::vector<decoding::ParamInfo> params = s->params();
  ASSERT_EQ(params.size(), Options::kParams.size()) << Options::kName;
  for (size_t i = 0; i < params.size(); ++i) EXPECT_EQ(params[i].name, Options::kParams[i]);
}

TEST(StrategyOptions, OneStructPerRegisteredStrategy) {
  const auto& registered = decoding::Strategies();
  ASSERT_EQ(registered.size(), strategy::kStrategyNames.size());
  for (size_t i = 0; i < registered.size(); ++i) EXPECT_EQ(registered[i]->name(), strategy::kStrategyNames[i]);
  ExpectMatchesRegistry<strategy::TargetOnly>();
  ExpectMatchesRegistry<strategy::Speculative>();
  ExpectMatchesRegistry<strategy::Rapid>();
  ExpectMatchesRegistry<strategy::Rsd>();
  ExpectMatchesRegistry<strategy::Cards>();
  ExpectMatchesRegistry<strategy::BestOfN>();
  ExpectMatchesRegistry<strategy::Args>();
  ExpectMatchesRegistry<strategy::DraftOnly>();
}

TEST(StrategyOptions, UnsetFieldsAreLeftToTheServer) {
  EXPECT_TRUE(strategy::Speculative{}.ToParams().empty());
  EXPECT_TRUE(strategy::TargetOnly{}.ToParams().empty());
}

TEST(StrategyOptions, ToParamsParsesBackThroughTheRegistry) {
  strategy::Rapid rapid;
  rapid.gamma = 6;
  rapid.eta = 0.1;  // not exactly representable: must reach the server unrounded
  rapid.retrieval = strategy::Rapid::Retrieval::kHybrid;
  rapid.lambda = 12.5;
  const std::map<std::string, std::string> params = rapid.ToParams();
  EXPECT_EQ(params.at("gamma"), "6");
  EXPECT_EQ(params.at("eta"), "0.1");
  EXPECT_EQ(params.at("retrieval"), "hybrid");
  EXPECT_EQ(params.at("lambda"), "12.5");
  absl::StatusOr<decoding::PreparedStrategy> prepared = decoding::PrepareStrategy("rapid", params);
  EXPECT_TRUE(prepared.ok()) << prepared.status();

  strategy::Speculative spec{.gamma = 5, .adaptive_gamma = true, .drafter = strategy::Speculative::Drafter::kModel};
  EXPECT_TRUE(decoding::PrepareStrategy("speculative", spec.ToParams()).ok());
  // Out of range is the server's to reject, with its message.
  spec.gamma = 99;
  absl::StatusOr<decoding::PreparedStrategy> bad = decoding::PrepareStrategy("speculative", spec.ToParams());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);

  strategy::Rsd rsd;
  rsd.delimiter = "\n";
  rsd.max_steps = 5;
  rsd.delta = -0.5;
  EXPECT_EQ(rsd.ToParams().at("delimiter"), "\n");
  EXPECT_EQ(rsd.ToParams().at("delta"), "-0.5");
  EXPECT_TRUE(decoding::PrepareStrategy("rsd", rsd.ToParams()).ok());
}

}  // namespace
}  // namespace tandem
