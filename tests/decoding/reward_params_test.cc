// Parameters of cards, best_of_n and args as GenerateRequest.params / the
// CLI's --param carry them: defaults, every documented key, the r_star forms
// (number, -inf, auto:<q>), reward options, and INVALID_ARGUMENT naming the
// key for bad values.
#include <cmath>

#include "gtest/gtest.h"
#include "decoding/strategies/reward_guided/reward_params.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/strategies/args/args.h"
#include "decoding/strategies/best_of_n/best_of_n.h"
#include "decoding/strategies/cards/cards.h"

namespace tandem::decoding::server {
namespace {

absl::StatusOr<PreparedStrategy> Apply(const std::string& strategy, const std::map<std::string, std::string>& params) {
  return PrepareStrategy(strategy, params);
}

TEST(RewardParamsTest, CatalogDocumentsEveryParameterWithADefault) {
  for (const char* name : {"cards", "best_of_n", "args"}) {
    const StrategyDefinition* spec = FindStrategy(name);
    ASSERT_NE(spec, nullptr) << name;
    for (const ParamInfo& p : spec->params()) {
      EXPECT_FALSE(p.doc.empty()) << name << "." << p.name;
      if (p.name != "reward_options") {
        EXPECT_FALSE(p.default_value.empty()) << name << "." << p.name;
      }
    }
  }
  // The catalogued defaults are the option structs' defaults.
  const CardsOptions c;
  EXPECT_DOUBLE_EQ(c.r_star, 0.8);
  EXPECT_EQ(c.top_k, 40);
  EXPECT_EQ(c.max_rejections, 20);
  EXPECT_FALSE(c.hard);
  EXPECT_TRUE(c.stop_at_eos);
  EXPECT_TRUE(c.eos_threshold_r_star);
  EXPECT_EQ(BestOfNOptions{}.n, 4);
  EXPECT_EQ(BestOfNOptions{}.parallel, 16);
  EXPECT_EQ(ArgsOptions{}.top_k, 10);
  EXPECT_TRUE(ArgsOptions{}.greedy);
}

TEST(RewardParamsTest, CardsParametersApply) {
  auto c = Apply("cards", {{"reward", "judge"},
                           {"reward_options", "graded=true;question=Is it safe?"},
                           {"r_star", "1.5"},
                           {"alpha", "0.25"},
                           {"beta", "0.5"},
                           {"accept_beta", "0.05"},
                           {"tau_u", "2.5"},
                           {"top_k", "20"},
                           {"min_segment", "2"},
                           {"max_segment", "32"},
                           {"max_rejections", "5"},
                           {"acceptance", "hard"},
                           {"stop_at_eos", "false"},
                           {"eos_threshold", "ramp"},
                           {"calibration_samples", "6"}});
  ASSERT_TRUE(c.ok()) << c.status();
  const CardsOptions& o = c->options<CardsOptions>();
  EXPECT_EQ(o.reward.backend, "judge");
  EXPECT_EQ(o.reward.options, (std::map<std::string, std::string>{{"graded", "true"}, {"question", "Is it safe?"}}));
  EXPECT_DOUBLE_EQ(o.r_star, 1.5);
  EXPECT_FALSE(o.r_star_quantile.has_value());
  EXPECT_DOUBLE_EQ(o.alpha, 0.25);
  EXPECT_DOUBLE_EQ(o.beta, 0.5);
  EXPECT_DOUBLE_EQ(o.acceptance_beta(), 0.05);
  EXPECT_DOUBLE_EQ(CardsOptions{}.acceptance_beta(), 0.7);
  EXPECT_DOUBLE_EQ(o.tau_u, 2.5);
  EXPECT_EQ(o.top_k, 20);
  EXPECT_EQ(o.min_segment, 2);
  EXPECT_EQ(o.max_segment, 32);
  EXPECT_EQ(o.max_rejections, 5);
  EXPECT_TRUE(o.hard);
  EXPECT_FALSE(o.stop_at_eos);
  EXPECT_FALSE(o.eos_threshold_r_star);
  EXPECT_EQ(o.calibration_samples, 6);

  auto inf = Apply("cards", {{"r_star", "-inf"}});
  ASSERT_TRUE(inf.ok());
  EXPECT_TRUE(std::isinf(inf->options<CardsOptions>().r_star) && inf->options<CardsOptions>().r_star < 0);
  auto autoq = Apply("cards", {{"r_star", "auto:0.9"}});
  ASSERT_TRUE(autoq.ok());
  ASSERT_TRUE(autoq->options<CardsOptions>().r_star_quantile.has_value());
  EXPECT_DOUBLE_EQ(*autoq->options<CardsOptions>().r_star_quantile, 0.9);
}

TEST(RewardParamsTest, BaselineParametersApply) {
  auto b = Apply("best_of_n",
                 {{"n", "8"}, {"parallel", "3"}, {"reward", "keyword"}, {"reward_options", "required=a,b"}});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->options<BestOfNOptions>().n, 8);
  EXPECT_EQ(b->options<BestOfNOptions>().parallel, 3);
  EXPECT_EQ(b->options<BestOfNOptions>().reward.options.at("required"), "a,b");
  auto a = Apply("args", {{"top_k", "5"}, {"w", "1.5"}, {"mode", "sample"}, {"tau", "0.9"}});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->options<ArgsOptions>().top_k, 5);
  EXPECT_DOUBLE_EQ(a->options<ArgsOptions>().w, 1.5);
  EXPECT_FALSE(a->options<ArgsOptions>().greedy);
  EXPECT_FLOAT_EQ(static_cast<float>(a->options<ArgsOptions>().tau), 0.9f);
}

TEST(RewardParamsTest, BadValuesNameTheParameter) {
  const std::pair<std::string, std::map<std::string, std::string>> bad[] = {
      {"cards", {{"r_star", "auto:1.5"}}},      {"cards", {{"r_star", "inf"}}},
      {"cards", {{"r_star", "high"}}},          {"cards", {{"alpha", "2"}}},
      {"cards", {{"beta", "0"}}},               {"cards", {{"accept_beta", "0"}}},               {"cards", {{"top_k", "0"}}},
      {"cards", {{"acceptance", "maybe"}}},     {"cards", {{"stop_at_eos", "yes"}}},
      {"cards", {{"eos_threshold", "never"}}},
      {"cards", {{"max_rejections", "-1"}}},    {"cards", {{"reward_options", "novalue"}}},
      {"cards", {{"reward_options", "a=1;a=2"}}}, {"best_of_n", {{"n", "0"}}},
      {"best_of_n", {{"n", "65"}}},             {"best_of_n", {{"parallel", "0"}}},
      {"best_of_n", {{"parallel", "17"}}},      {"args", {{"mode", "beam"}}},
      {"args", {{"tau", "0"}}},                 {"args", {{"w", "nan"}}},
  };
  for (const auto& [strategy, params] : bad) {
    auto c = Apply(strategy, params);
    ASSERT_FALSE(c.ok()) << strategy << " " << params.begin()->first << "=" << params.begin()->second;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(c.status().message().find("params." + params.begin()->first), std::string::npos) << c.status();
  }
  // Another strategy's parameter is unknown here.
  auto c = Apply("best_of_n", {{"r_star", "1"}});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("r_star"), std::string::npos);
}

}  // namespace
}  // namespace tandem::decoding::server
