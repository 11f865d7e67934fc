// speculative's documented parameters as GenerateRequest.params / the CLI's
// --param carry them: each applies, min_gamma > max_gamma and out-of-range or
// unknown values are INVALID_ARGUMENT naming params.<key>, and an unknown key
// lists the documented ones.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/strategies/speculative/speculative_strategy.h"

namespace tandem::decoding::server {
namespace {

using ::testing::HasSubstr;

absl::Status Apply(const std::map<std::string, std::string>& params, SpeculativeOptions* out) {
  auto prepared = PrepareStrategy("speculative", params);
  if (!prepared.ok()) return prepared.status();
  *out = prepared->options<SpeculativeOptions>();
  return absl::OkStatus();
}

TEST(SpeculativeParams, EachParameterApplies) {
  SpeculativeOptions c;
  ASSERT_TRUE(Apply({{"gamma", "6"}, {"adaptive_gamma", "true"}, {"min_gamma", "2"}, {"max_gamma", "9"},
                     {"drafter", "model"}},
                    &c)
                  .ok());
  EXPECT_EQ(c.gamma.gamma, 6);
  EXPECT_TRUE(c.gamma.adaptive);
  EXPECT_EQ(c.gamma.min_gamma, 2);
  EXPECT_EQ(c.gamma.max_gamma, 9);
  EXPECT_EQ(c.drafter, "model");
  SpeculativeOptions equal;
  EXPECT_TRUE(Apply({{"min_gamma", "5"}, {"max_gamma", "5"}}, &equal).ok());
}

TEST(SpeculativeParams, MinGammaAboveMaxGammaIsRejected) {
  SpeculativeOptions c;
  absl::Status s = Apply({{"min_gamma", "8"}, {"max_gamma", "3"}}, &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("params.min_gamma"));
  EXPECT_THAT(s.message(), HasSubstr("max_gamma (3)"));
  // Against the default max_gamma (12) too.
  SpeculativeOptions d;
  EXPECT_THAT(Apply({{"min_gamma", "13"}}, &d).message(), HasSubstr("params.min_gamma"));
}

TEST(SpeculativeParams, BadValuesNameTheParameter) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{{"gamma", "0"},
                                                                      {"gamma", "33"},
                                                                      {"min_gamma", "x"},
                                                                      {"max_gamma", "-1"},
                                                                      {"adaptive_gamma", "maybe"},
                                                                      {"drafter", "oracle"}}) {
    SpeculativeOptions c;
    absl::Status s = Apply({{key, value}}, &c);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << key << "=" << value;
    EXPECT_THAT(s.message(), HasSubstr("params." + key)) << s.message();
  }
  SpeculativeOptions c;
  absl::Status unknown = Apply({{"gama", "4"}}, &c);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.message(), HasSubstr("gama"));
  EXPECT_THAT(unknown.message(), HasSubstr("documented: gamma, adaptive_gamma, min_gamma, max_gamma, drafter"));
}

}  // namespace
}  // namespace tandem::decoding::server
