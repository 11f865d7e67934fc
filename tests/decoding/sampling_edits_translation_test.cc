// A request's logit bias and penalties are never dropped silently: the
// strategies whose tokens go through the request's sampler accept them,
// ARGS and CARDS (tokens picked from raw logits by their own rule) refuse
// them with an INVALID_ARGUMENT naming the field, and a bias on a token
// outside the target's vocabulary is refused before any model work.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/request/request_translation.h"

namespace tandem::decoding {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

DecodeRequest Request(const std::string& strategy, void (*edit)(runtime::SamplingParams&)) {
  DecodeRequest r;
  r.strategy = strategy;
  r.prompt_tokens = std::vector<int32_t>{1, 2, 3};
  edit(r.sampling);
  return r;
}

struct Edit {
  const char* field;
  void (*apply)(runtime::SamplingParams&);
};

const Edit kEdits[] = {
    {"logit_bias", [](runtime::SamplingParams& s) { s.logit_bias = {{5, -100.0f}}; }},
    {"presence_penalty", [](runtime::SamplingParams& s) { s.presence_penalty = 0.5f; }},
    {"frequency_penalty", [](runtime::SamplingParams& s) { s.frequency_penalty = -0.5f; }},
    {"repetition_penalty", [](runtime::SamplingParams& s) { s.repetition_penalty = 1.2f; }},
};

TEST(SamplingEditsTranslation, StrategiesWithTheirOwnTokenRuleRefuseThem) {
  for (const char* strategy : {"args", "cards"}) {
    for (const Edit& e : kEdits) {
      auto r = ResolveStrategy(Request(strategy, e.apply), "target_only");
      ASSERT_FALSE(r.ok()) << strategy << " " << e.field;
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(r.status().message()), StartsWith(std::string(e.field) + ": "));
      EXPECT_THAT(std::string(r.status().message()), HasSubstr(strategy));
    }
    EXPECT_TRUE(ResolveStrategy(Request(strategy, [](runtime::SamplingParams&) {}), "target_only").ok());
  }
}

TEST(SamplingEditsTranslation, SamplerStrategiesAcceptThem) {
  for (const char* strategy : {"target_only", "speculative", "draft_only", "best_of_n", "rsd", "rapid"}) {
    for (const Edit& e : kEdits) {
      auto r = ResolveStrategy(Request(strategy, e.apply), "target_only");
      EXPECT_TRUE(r.ok()) << strategy << " " << e.field << ": " << r.status();
    }
  }
}

TEST(SamplingEditsTranslation, ABiasOutsideTheVocabularyIsRefused) {
  GenerationPorts ports;
  ports.target.name = "tiny";
  ports.target.vocab_size = 32;
  ports.target.context_length = 64;
  auto bias = [](int32_t token) {
    DecodeRequest r = Request("target_only", [](runtime::SamplingParams&) {});
    r.sampling.logit_bias = {{0, 1.0f}, {token, -100.0f}};
    return r;
  };
  EXPECT_TRUE(PrepareRequest(bias(31), ports, TranslationDefaults{}).ok());
  auto out = PrepareRequest(bias(32), ports, TranslationDefaults{});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(out.status().message()), StartsWith("logit_bias: token 32"));
  // Malformed lists are the sampling parameters' errors.
  DecodeRequest unsorted = bias(31);
  std::swap(unsorted.sampling.logit_bias[0], unsorted.sampling.logit_bias[1]);
  auto u = PrepareRequest(unsorted, ports, TranslationDefaults{});
  ASSERT_FALSE(u.ok());
  EXPECT_THAT(std::string(u.status().message()), HasSubstr("ascending"));
}

}  // namespace
}  // namespace tandem::decoding
