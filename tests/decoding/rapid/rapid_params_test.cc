// The rapid strategy's documented parameters: each applies, defaults in the
// catalog equal RapidOptions' defaults, bad values name params.<key>.
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "decoding/strategies/rapid/rapid_strategy.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/strategies/rapid/rapid.h"

namespace tandem::decoding::server {
namespace {

using ::testing::HasSubstr;

absl::Status Apply(std::map<std::string, std::string> params, RapidOptions* out) {
  auto prepared = PrepareStrategy("rapid", params);
  if (!prepared.ok()) return prepared.status();
  *out = prepared->options<RapidOptions>();
  return absl::OkStatus();
}

TEST(RapidParams, CatalogListsEveryParameterWithTheOptionDefaults) {
  const StrategyDefinition* spec = FindStrategy("rapid");
  ASSERT_NE(spec, nullptr);
  std::map<std::string, std::string> defaults;
  for (const ParamInfo& p : spec->params()) defaults[p.name] = p.default_value;
  // Applying every documented default leaves the options at their defaults.
  std::map<std::string, std::string> documented;
  for (const auto& [k, v] : defaults) {
    if (!v.empty()) documented[k] = v;
  }
  RapidOptions choice;
  ASSERT_TRUE(Apply(documented, &choice).ok());
  const RapidOptions d;
  EXPECT_EQ(choice.gamma, d.gamma);
  EXPECT_FLOAT_EQ(choice.knowledge_transfer.eta, d.knowledge_transfer.eta);
  EXPECT_FLOAT_EQ(choice.knowledge_transfer.alpha_m, d.knowledge_transfer.alpha_m);
  EXPECT_FLOAT_EQ(choice.c_conf, d.c_conf);
  EXPECT_EQ(choice.chunk_tokens, d.chunk_tokens);
  EXPECT_FLOAT_EQ(choice.theta, d.theta);
  EXPECT_EQ(choice.l_min, d.l_min);
  EXPECT_DOUBLE_EQ(choice.lambda, d.lambda);
  EXPECT_EQ(choice.mode, RetrievalMode::kDense);
  EXPECT_THAT(defaults, ::testing::Contains(::testing::Key("collection")));
  EXPECT_EQ(defaults.size(), 10u);
}

TEST(RapidParams, EachParameterApplies) {
  RapidOptions c;
  ASSERT_TRUE(Apply({{"gamma", "7"}, {"eta", "12.5"}, {"alpha_m", "0"}, {"c_conf", "0.4"}, {"chunk_tokens", "256"},
                     {"theta", "-0.2"}, {"l_min", "1024"}, {"lambda", "32"}, {"retrieval", "hybrid"},
                     {"collection", "essays"}},
                    &c)
                  .ok());
  EXPECT_EQ(c.gamma, 7);
  EXPECT_FLOAT_EQ(c.knowledge_transfer.eta, 12.5f);
  EXPECT_FLOAT_EQ(c.knowledge_transfer.alpha_m, 0.0f);
  EXPECT_FLOAT_EQ(c.c_conf, 0.4f);
  EXPECT_EQ(c.chunk_tokens, 256);
  EXPECT_FLOAT_EQ(c.theta, -0.2f);
  EXPECT_EQ(c.l_min, 1024);
  EXPECT_DOUBLE_EQ(c.lambda, 32.0);
  EXPECT_EQ(c.mode, RetrievalMode::kHybrid);
  EXPECT_EQ(c.collection, "essays");
  ASSERT_TRUE(Apply({{"retrieval", "lexical"}}, &c).ok());
  EXPECT_EQ(c.mode, RetrievalMode::kLexical);
}

TEST(RapidParams, BadValuesNameTheParameter) {
  const std::map<std::string, std::string> bad[] = {
      {{"gamma", "0"}},      {{"gamma", "33"}},        {{"eta", "101"}},      {{"eta", "nan"}},
      {{"eta", "x"}},        {{"alpha_m", "1.5"}},     {{"c_conf", "-0.1"}},  {{"chunk_tokens", "8"}},
      {{"theta", "2"}},      {{"l_min", "-1"}},        {{"lambda", "0.5"}},   {{"retrieval", "fuzzy"}},
      {{"chunk_tokens", "12x"}}};
  for (const auto& params : bad) {
    RapidOptions c;
    absl::Status s = Apply(params, &c);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << params.begin()->first << "=" << params.begin()->second;
    EXPECT_THAT(std::string(s.message()), HasSubstr("params." + params.begin()->first));
  }
  RapidOptions c;
  absl::Status s = Apply({{"drafter", "ngram"}}, &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("drafter"));
}

TEST(RapidParams, TemplateNamesTheRetrievedChunksForTheDrafter) {
  EXPECT_EQ(RenderRapidTemplate("CTX", "Q?", false),
            "Please read the following text and answer the question below.\n\n<text>\nCTX\n</text>\n\nQ?");
  EXPECT_EQ(RenderRapidTemplate("CTX", "Q?", true),
            "Please read the following retrieved text chunks and answer the question below.\n\n<text>\nCTX\n"
            "</text>\n\nQ?");
}

}  // namespace
}  // namespace tandem::decoding::server
